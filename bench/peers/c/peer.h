/*
 * peer.h - allocation and GC-pause plumbing shared by the C peer programs.
 *
 * Each C peer (gcbench.c, binary_trees.c, remset_stress.c) is compiled in one of
 * three configurations:
 *
 *   -DPEER_BOEHM      Boehm-Demers-Weiser collector: objects come from GC_MALLOC,
 *                     nothing is freed explicitly; every collection is timed from
 *                     GC_EVENT_START to GC_EVENT_END.
 *   (nothing)         plain malloc/free from glibc; dead objects are freed
 *                     explicitly by the program.
 *   -DPEER_JEMALLOC   the same source as plain malloc/free, linked with -ljemalloc
 *                     (Debian's jemalloc has no symbol prefix, so it replaces malloc).
 *
 * Common command line:  PROGRAM [--pause-log FILE] [numeric workload arguments...]
 * With --pause-log, the Boehm build writes one line per collection (its pause in
 * microseconds) to FILE at exit; the malloc builds write an empty log (no GC).
 */
#ifndef WALTZ_PEER_H
#define WALTZ_PEER_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(PEER_BOEHM)
#include <gc.h>
#define PEER_HAS_GC 1
#define PEER_ALLOC(n) peer_check_alloc(GC_MALLOC(n))
#define PEER_ALLOC_ATOMIC(n) peer_check_alloc(GC_MALLOC_ATOMIC(n))
#define PEER_FREE(p) ((void)(p)) /* the collector reclaims it */
#else
#define PEER_HAS_GC 0
#define PEER_ALLOC(n) peer_check_alloc(malloc(n))
#define PEER_ALLOC_ATOMIC(n) peer_check_alloc(malloc(n))
#define PEER_FREE(p) free(p)
#endif

#if defined(PEER_JEMALLOC)
/* Declared here rather than via <jemalloc/jemalloc.h> to avoid clashing with stdlib.h. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#elif !defined(PEER_BOEHM)
#include <gnu/libc-version.h>
#endif

static inline void *peer_check_alloc(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "peer: out of memory\n");
        exit(3);
    }
    return p;
}

static const char *peer_pause_log_path;

#if defined(PEER_BOEHM)
/* Pause durations, kept in a buffer grown with the system allocator (Boehm does
 * not redirect malloc in the Debian build) and written out once at exit, so the
 * callback does no I/O while the collector holds its lock. */
static double *peer_pauses_us;
static size_t peer_npauses, peer_pauses_cap;
static struct timespec peer_gc_start;

static void peer_on_gc_event(GC_EventType ev)
{
    if (ev == GC_EVENT_START) {
        clock_gettime(CLOCK_MONOTONIC, &peer_gc_start);
    } else if (ev == GC_EVENT_END) {
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        double us = (double)(end.tv_sec - peer_gc_start.tv_sec) * 1e6 +
                    (double)(end.tv_nsec - peer_gc_start.tv_nsec) / 1e3;
        if (peer_npauses == peer_pauses_cap) {
            size_t cap = peer_pauses_cap ? 2 * peer_pauses_cap : 1024;
            double *grown = realloc(peer_pauses_us, cap * sizeof *grown);
            if (grown == NULL) {
                fprintf(stderr, "peer: cannot grow the pause buffer\n");
                exit(3);
            }
            peer_pauses_us = grown;
            peer_pauses_cap = cap;
        }
        peer_pauses_us[peer_npauses++] = us;
    }
}
#endif

/* Parse the common flags. Returns the index of the first positional argument in argv
 * after moving the positionals to the front (argv[1..]); *npos receives their count. */
static int peer_init(int argc, char **argv, int *npos)
{
    int n = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--pause-log") == 0 && a + 1 < argc) {
            peer_pause_log_path = argv[++a];
        } else if (argv[a][0] == '-' && argv[a][1] == '-') {
            fprintf(stderr, "%s: unknown flag %s\n", argv[0], argv[a]);
            exit(2);
        } else {
            argv[1 + n++] = argv[a];
        }
    }
    *npos = n;

#if defined(PEER_BOEHM)
    GC_INIT();
    GC_set_on_collection_event(peer_on_gc_event);
    unsigned v = GC_get_version();
    fprintf(stderr, "peer: allocator boehm-gc %u.%u.%u\n", v >> 16, (v >> 8) & 0xff, v & 0xff);
#elif defined(PEER_JEMALLOC)
    const char *version = "?";
    size_t len = sizeof version;
    if (mallctl("version", &version, &len, NULL, 0) != 0)
        version = "? (mallctl failed)";
    fprintf(stderr, "peer: allocator jemalloc %s\n", version);
#else
    fprintf(stderr, "peer: allocator glibc malloc %s\n", gnu_get_libc_version());
#endif
    return 1;
}

/* Parse a non-negative decimal argument, or exit with a message. */
static inline long long peer_arg(int argc_pos, char **argv, int index, long long dflt, const char *name)
{
    if (index > argc_pos)
        return dflt;
    char *end;
    long long v = strtoll(argv[index], &end, 10);
    if (*argv[index] == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "%s: bad %s: %s\n", argv[0], name, argv[index]);
        exit(2);
    }
    return v;
}

/* Write the pause log (if asked) and report the collection count on stderr. */
static void peer_finish(void)
{
    FILE *f = NULL;
    if (peer_pause_log_path != NULL) {
        f = fopen(peer_pause_log_path, "w");
        if (f == NULL) {
            perror(peer_pause_log_path);
            exit(3);
        }
    }
#if defined(PEER_BOEHM)
    if (f != NULL)
        for (size_t k = 0; k < peer_npauses; k++)
            fprintf(f, "%.3f\n", peer_pauses_us[k]);
    fprintf(stderr, "peer: boehm collections %lu (events %zu), heap %zu bytes\n",
            (unsigned long)GC_get_gc_no(), peer_npauses, GC_get_heap_size());
#endif
    if (f != NULL && fclose(f) != 0) {
        perror(peer_pause_log_path);
        exit(3);
    }
}

#endif
