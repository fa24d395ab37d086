/*
 * tools/waltz: the waltz command. main.c dispatches (run, list, info, help), args.c
 * parses the flags of `waltz run` and prints the help of runs and workloads, run.c runs
 * one workload and writes its result directory, info.c reports the build and the
 * machine, units.c parses numbers and sizes.
 *
 * Every bad input ends in cli_usage_error: one line "waltz: error: ..." on stderr and
 * exit status 2, before anything is written. A run that starts and then fails exits
 * with status 1 and leaves run.json with "status": "failed".
 */
#ifndef WALTZ_TOOLS_CLI_H
#define WALTZ_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "platform/placement.h"
#include "workload.h"

#define CLI_EXIT_USAGE 2
#define CLI_EXIT_FAILED 1

#define CLI_DEFAULT_MUTATORS 1
#define CLI_MAX_MUTATORS 256
#define CLI_DEFAULT_GC_THREADS 1
#define CLI_MAX_GC_THREADS 256
#define CLI_DEFAULT_YOUNG_SIZE_BYTES ((uint64_t)16 << 20)
#define CLI_MIN_YOUNG_SIZE_BYTES ((uint64_t)512 << 10)
#define CLI_DEFAULT_HEAP_SIZE_BYTES ((uint64_t)1 << 30)
/* --heap-size must hold both semispaces and this much more. */
#define CLI_HEAP_HEADROOM_BYTES ((uint64_t)8 << 20)
#define CLI_DEFAULT_SEED 42

/* Everything `waltz run` was asked to do, validated. */
struct run_options {
    const struct workload *workload;
    const char *out_dir; /* NULL: results/runs/<timestamp>-<workload>-<config>/ */
    bool verify_heap, quiet;
    uint64_t gc_stress;
    uint32_t mutators, gc_threads;
    bool mutators_given;       /* --mutators was on the command line */
    bool static_partitioning;  /* --steal off */
    bool last_child_first;     /* --child-order last */
    enum placement_policy pin; /* --pin (default none) */
    const char *topology_spec; /* --topology: plan the placement for it; NULL: this machine */
    uint64_t young_size_bytes, heap_size_bytes;
    uint64_t seed;
    int64_t values[WORKLOAD_MAX_FLAGS]; /* in the order of workload->flags */
    const char *input;                  /* the workload's positional argument (jit: FILE) */
};

/* One line "waltz: error: <message>" on stderr, then exit(2). */
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when this build's scavenger runs on exactly one GC thread. */
bool cli_young_gc_is_serial(void);
/* 1 for the serial scavenger, the cores available for the parallel one. */
uint32_t cli_default_gc_threads(void);
/* True when this build was configured with -Dnuma=disabled: --pin takes only none. */
bool cli_numa_disabled(void);

/* args.c. argv[0] is "run"; prints help and exits 0 when asked for it. */
void args_parse_run(int argc, char **argv, struct run_options *opts);
void args_print_run_help(FILE *out);
void args_print_workload_help(FILE *out, const struct workload *w);
/* The flags of one workload, one line each, indented by indent spaces. */
void args_print_workload_flags(FILE *out, const struct workload *w, int indent);

/* run.c. argc/argv: the whole command line, recorded in run.json. Returns the exit
 * status (0 or CLI_EXIT_FAILED). */
int run_workload(const struct run_options *opts, int argc, char **argv);

/* info.c. argv[0] is "info". Returns the exit status. */
int info_main(int argc, char **argv);
void info_print_help(FILE *out);
/* "young_gc=serial old_gc=stw ..." on one line. */
void info_print_build_line(FILE *out);

#endif
