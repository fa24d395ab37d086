/*
 * workloads: synthetic mutator programs written against the heap API (handles, field
 * stores through the write barrier, allocation through LABs). Each one is described by
 * a struct workload: its name, its own flags with defaults and ranges, and a run
 * function that computes a checksum depending on every object it built
 * (shared/design/WORKLOADS.md).
 *
 * Offers:  the workload registry (workload_find, workload_list), parameter access, and
 *          workload_run_mutators, which runs a function on N mutator threads.
 * Needs:   lib/gc (mutator attach/detach), lib/heap, lib/barrier.
 */
#ifndef WALTZ_WORKLOAD_H
#define WALTZ_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gc/gc.h"
#include "heap/heap.h"

#define WORKLOAD_MAX_FLAGS 12

struct workload_flag {
    const char *name; /* without the dashes: "depth" */
    const char *help;
    int64_t default_value, min, max;
    /* When not NULL: the flag takes one of these words instead of a number, and its value
     * is the word's index (min must be 0 and max the last index). */
    const char *const *choices;
};

struct workload_run {
    const struct workload *workload;
    struct gc *gc;
    struct heap *heap;
    uint32_t mutators;
    uint64_t seed;
    int64_t values[WORKLOAD_MAX_FLAGS]; /* in the order of workload->flags */
    FILE *out;                          /* the program's own output lines; may be NULL */
    const char *input; /* the positional argument of a workload that takes one, or NULL */
    uint64_t checksum;
    char error[256]; /* set by run() when it returns nonzero */
};

struct workload {
    const char *name;
    const char *summary;
    struct workload_flag flags[WORKLOAD_MAX_FLAGS]; /* ends at the first name == NULL */
    /* Runs the program on run->mutators threads; sets run->checksum. Returns 0, or
     * nonzero with run->error set. */
    int (*run)(struct workload_run *run);
    /* The checksum WORKLOADS.md promises for these parameters, or 0 if none is known. */
    uint64_t (*expected_checksum)(const struct workload_run *run);
    /* A workload that runs a program names its one positional argument here ("FILE"),
     * and checks it before the run starts: 0, or -1 with one line in error. */
    const char *input_name;
    int (*check_input)(const char *input, char *error, size_t error_size);
    /* The fewest mutators it runs with (0: one); fewer is a usage error. */
    uint32_t min_mutators;
};

const struct workload *workload_find(const char *name);
/* NULL-terminated list of every workload. */
const struct workload *const *workload_list(void);
size_t workload_flag_count(const struct workload *w);
/* Value of a flag by name (aborts on an unknown name: a programming error). */
int64_t workload_param(const struct workload_run *run, const char *name);
/* Fills run->values with each flag's default. */
void workload_set_defaults(struct workload_run *run, const struct workload *w);

/* Runs fn(m, index, ctx) on n mutator threads, each attached to the heap, and waits
 * for all of them. */
void workload_run_mutators(struct workload_run *run,
                           void (*fn)(struct mutator *m, uint32_t index, void *ctx), void *ctx);

/* A deterministic per-thread PRNG (xorshift64*) for workloads that need one. */
static inline uint64_t workload_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif
