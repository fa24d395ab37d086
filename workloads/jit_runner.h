/*
 * The toy-VM runner that the jit and deopt-storm workloads share (workloads/jit.c): a
 * module run on every mutator by a VM of its own, with lib/jit attached, its results
 * checked against the module's .expect, its JIT statistics printed and its deopts
 * recorded in telemetry (deopts.csv, trace.json).
 *
 * Offers:  jit_runner_run; JIT_RUNNER_FLAGS, the flags it reads (--opt, --unbox-doubles,
 *          --osr, --deopt-stress, --tierup-calls, --tierup-loops), for a workload's flag list.
 * Needs:   lib/vm, lib/jit, lib/telemetry.
 */
#ifndef WALTZ_JIT_RUNNER_H
#define WALTZ_JIT_RUNNER_H

#include "vm/vm.h"
#include "workload.h"

extern const char *const jit_runner_opt_choices[];

#define JIT_RUNNER_FLAGS                                                                           \
    {"opt", "the optimizing tier (lib/jit)", 1, 0, 1, jit_runner_opt_choices},                     \
        {"unbox-doubles",                                                                          \
         "number arithmetic of optimized code on unboxed doubles (off: every result boxed)",       \
         1,                                                                                        \
         0,                                                                                        \
         1,                                                                                        \
         jit_runner_opt_choices},                                                                  \
        {"osr", "on-stack replacement: a hot loop's interpreter frame tiers up at its back-edge",  \
         1,     0,                                                                                 \
         1,     jit_runner_opt_choices},                                                           \
        {"deopt-stress", "fail every N-th guard of optimized code on purpose (0: off)", 0, 0,      \
         1000000000},                                                                              \
        {"tierup-calls", "invocations after which a function is optimized", VM_TIERUP_INVOCATIONS, \
         1, 1000000000},                                                                           \
    {                                                                                              \
        "tierup-loops",                                                                            \
            "loop back-edges after which a function is optimized (the running frame too, "         \
            "by on-stack replacement, with --osr on)",                                             \
            VM_TIERUP_BACKEDGES, 1, 1000000000                                                     \
    }

/* Runs module (taken: destroyed here) repeat times on each mutator; sets run->checksum
 * to the sum of the results (a double counts as its floor). Returns 0, or 1 with
 * run->error set. */
int jit_runner_run(struct workload_run *run, struct vm_module *module, int64_t repeat);

#endif
