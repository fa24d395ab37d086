/*
 * lib/platform: the bottom layer. Threads, monotonic clocks, memory from jemalloc,
 * error reporting, and the hwloc view of the machine. Nothing here knows about the heap.
 *
 * Offers:  clocks (platform_now_ns), checked allocation (platform_alloc and friends),
 *          fatal errors routed through one replaceable handler, thread start/join with
 *          names, and the machine topology (platform_topology_*). Thread placement and
 *          NUMA binding are in platform/placement.h, the GC worker pool in
 *          platform/worker_pool.h.
 * Needs:   jemalloc, hwloc, pthreads.
 */
#ifndef WALTZ_PLATFORM_H
#define WALTZ_PLATFORM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ARRAY_LENGTH(a) (sizeof(a) / sizeof((a)[0]))

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

const char *platform_version(void);

/* --- Clocks ---------------------------------------------------------------------- */
static inline uint64_t platform_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- Memory (jemalloc) -------------------------------------------------------------- */
void *platform_alloc(size_t size_bytes); /* never NULL: fatal on failure */
void *platform_calloc(size_t count, size_t size_bytes);
void *platform_realloc(void *p, size_t size_bytes);
void *platform_aligned_alloc(size_t alignment, size_t size_bytes); /* may return NULL */
void platform_free(void *p);
char *platform_strdup(const char *s);

/* --- Errors ------------------------------------------------------------------------- */
/* A fatal error prints one line "waltz: error: ..." on stderr (through the handler, which
 * the CLI replaces to also record the failure in run.json) and exits with status 1. */
typedef void (*platform_fatal_handler)(const char *message);
void platform_set_fatal_handler(platform_fatal_handler handler);
_Noreturn void platform_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- Threads ------------------------------------------------------------------------ */
struct platform_thread {
    pthread_t handle;
    void *(*fn)(void *);
    void *arg;
    char name[16];
};
void platform_thread_start(struct platform_thread *t, const char *name, void *(*fn)(void *),
                           void *arg);
void *platform_thread_join(struct platform_thread *t);
/* Small integer id of the calling thread, stable for its lifetime (trace tracks). */
int platform_thread_id(void);

/* --- Topology (hwloc) ----------------------------------------------------------------- */
struct platform_topology {
    char cpu_model[128];
    int packages;
    int numa_nodes;
    int cores;
    int pus;          /* hardware threads */
    bool synthetic;   /* built from --topology, not read from this machine */
    char source[256]; /* "this machine", a synthetic description or an XML path */
};
/* spec: NULL for this machine, a synthetic description ("pack:2 numa:2 core:16 pu:1"),
 * or the path of an hwloc XML file. Returns 0, or -1 with *error set to a static text. */
int platform_topology_load(struct platform_topology *out, const char *spec, const char **error);
/* The same, keeping the hwloc topology loaded for placement decisions and binding
 * (platform/placement.h): *topology (hwloc's hwloc_topology_t) stays valid until
 * platform_topology_close. out->synthetic tells a given topology from this machine's. */
struct hwloc_topology;
int platform_topology_open(struct platform_topology *out, struct hwloc_topology **topology,
                           const char *spec, const char **error);
void platform_topology_close(struct hwloc_topology *topology);
/* Number of cores this process may run on (sched affinity), at least 1. */
int platform_available_cores(void);

#endif
