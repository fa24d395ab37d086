/*
 * shared-code (WORKLOADS.md): many closures share one optimized code object; a deopt
 * invalidates it; compares code_unlinking=eager against lazy (build options: run the
 * same flags in both builds, bench/codecache/run).
 *
 *   fK(x) = x + 1          one function per round, so every round optimizes afresh
 *   mkK() = a closure of fK
 *   main:  for each round K: `closures` closures of fK in an array; `calls` passes over
 *          them with Smi arguments (fK optimizes on the first closure that gets hot, and
 *          every other closure takes that code from the shared info at its next call);
 *          then fK(0.5) twice through the first closure: a not_smi deopt that
 *          invalidates the code every closure shares (eager: all of them are reset now;
 *          lazy: each at its next call), then its interpreted call; then one more pass
 *          over every closure (under lazy, each one's entry check resets it here);
 *          with --full-gc on, an old-generation collection ends the round (the full_gc
 *          intrinsic): nothing holds the round's deoptimized code any more, and the code
 *          lists' weak processing unlinks it.
 *
 * Result: per round, the passes give closures x (1 + 2 + ... + calls), the two calls
 * 1.5 + 1.5, the last pass closures x (calls + 1); main returns the sum over the rounds,
 * an integer (it is a double only between the two calls with 0.5).
 */
#include "workload.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "jit_runner.h"
#include "platform/platform.h"

static int64_t shared_code_result(int64_t closures, int64_t calls, int64_t rounds)
{
    return rounds * (closures * calls * (calls + 1) / 2 + 3 + closures * (calls + 1));
}

static const char round_functions[] = "function f%d params 1 registers 1\n"
                                      "    LdaSmi 1\n"
                                      "    Add r0\n"
                                      "    Return\n"
                                      "end\n"
                                      "function mk%d\n"
                                      "    CreateClosure f%d\n"
                                      "    Return\n"
                                      "end\n";

/* r0 closures, r1 i, r2 round, r3 sum, r4 k, r5 callee, r6 argument, r7 mk functions,
 * r8 scratch. */
static const char main_function[] = "function main registers 9\n"
                                    "    LdaSmi %" PRId64 "\n"
                                    "    CreateArray\n"
                                    "    Star r7\n"
                                    "%s"
                                    "    LdaSmi 0\n"
                                    "    Star r3\n"
                                    "    LdaSmi 0\n"
                                    "    Star r2\n"
                                    "round:\n"
                                    "    LdaSmi %" PRId64 "\n"
                                    "    TestLessThan r2\n"
                                    "    JumpIfFalse done\n"
                                    "    LdaSmi %" PRId64 "\n"
                                    "    CreateArray\n"
                                    "    Star r0\n"
                                    "    Ldar r2\n"
                                    "    LdaKeyedProperty r7\n"
                                    "    Star r5\n"
                                    "    LdaSmi 0\n"
                                    "    Star r1\n"
                                    "make:\n" /* r0[i] = mkK() */
                                    "    LdaSmi %" PRId64 "\n"
                                    "    TestLessThan r1\n"
                                    "    JumpIfFalse made\n"
                                    "    Call r5, r6, 0\n"
                                    "    StaKeyedProperty r0, r1\n"
                                    "    Ldar r1\n"
                                    "    Inc\n"
                                    "    Star r1\n"
                                    "    JumpLoop make\n"
                                    "made:\n"
                                    "    LdaSmi 0\n"
                                    "    Star r4\n"
                                    "pass:\n" /* for k < calls: for i: sum += r0[i](k) */
                                    "    LdaSmi %" PRId64 "\n"
                                    "    TestLessThan r4\n"
                                    "    JumpIfFalse passes_done\n"
                                    "    LdaSmi 0\n"
                                    "    Star r1\n"
                                    "each:\n"
                                    "    LdaSmi %" PRId64 "\n"
                                    "    TestLessThan r1\n"
                                    "    JumpIfFalse each_done\n"
                                    "    Ldar r1\n"
                                    "    LdaKeyedProperty r0\n"
                                    "    Star r5\n"
                                    "    Ldar r4\n"
                                    "    Star r6\n"
                                    "    Call r5, r6, 1\n"
                                    "    Add r3\n"
                                    "    Star r3\n"
                                    "    Ldar r1\n"
                                    "    Inc\n"
                                    "    Star r1\n"
                                    "    JumpLoop each\n"
                                    "each_done:\n"
                                    "    Ldar r4\n"
                                    "    Inc\n"
                                    "    Star r4\n"
                                    "    JumpLoop pass\n"
                                    "passes_done:\n" /* the deopt: r0[0](0.5), twice */
                                    "    LdaSmi 0\n"
                                    "    LdaKeyedProperty r0\n"
                                    "    Star r5\n"
                                    "    LdaConstant 0.5\n"
                                    "    Star r6\n"
                                    "    Call r5, r6, 1\n"
                                    "    Add r3\n"
                                    "    Star r3\n"
                                    "    Call r5, r6, 1\n"
                                    "    Add r3\n"
                                    "    Star r3\n"
                                    "    LdaSmi 0\n"
                                    "    Star r1\n"
                                    "last:\n" /* for i: sum += r0[i](calls) */
                                    "    LdaSmi %" PRId64 "\n"
                                    "    TestLessThan r1\n"
                                    "    JumpIfFalse last_done\n"
                                    "    Ldar r1\n"
                                    "    LdaKeyedProperty r0\n"
                                    "    Star r5\n"
                                    "    LdaSmi %" PRId64 "\n"
                                    "    Star r6\n"
                                    "    Call r5, r6, 1\n"
                                    "    Add r3\n"
                                    "    Star r3\n"
                                    "    Ldar r1\n"
                                    "    Inc\n"
                                    "    Star r1\n"
                                    "    JumpLoop last\n"
                                    "last_done:\n"
                                    "%s" /* the optional full_gc */
                                    "    Ldar r2\n"
                                    "    Inc\n"
                                    "    Star r2\n"
                                    "    JumpLoop round\n"
                                    "done:\n"
                                    "    Ldar r3\n"
                                    "    Return\n"
                                    "end\n";

/* Stores mkK into slot K of r7. */
static const char main_fill[] = "    LdaSmi %d\n"
                                "    Star r8\n"
                                "    LdaGlobal mk%d\n"
                                "    StaKeyedProperty r7, r8\n";

static struct vm_module *shared_code_module(int64_t closures, int64_t calls, int64_t rounds,
                                            bool full_gc, char *error, size_t error_size)
{
    size_t fill_size = (size_t)rounds * (sizeof main_fill + 24) + 1;
    char *fill = platform_alloc(fill_size);
    size_t used = 0;
    for (int k = 0; k < rounds; k++)
        used += (size_t)snprintf(fill + used, fill_size - used, main_fill, k, k);
    size_t size =
        64 + (size_t)rounds * (sizeof round_functions + 32) + sizeof main_function + used + 256;
    char *text = platform_alloc(size);
    size_t n = (size_t)snprintf(text, size, ".expect %" PRId64 "\n",
                                shared_code_result(closures, calls, rounds));
    for (int k = 0; k < rounds; k++)
        n += (size_t)snprintf(text + n, size - n, round_functions, k, k, k);
    n += (size_t)snprintf(text + n, size - n, main_function, rounds, fill, rounds, closures,
                          closures, calls, closures, closures, calls,
                          full_gc ? "    CallIntrinsic full_gc, r0, 0\n" : "");
    if (n >= size)
        platform_fatal("shared-code: the program text does not fit");
    struct vm_module *module = vm_assemble("shared-code", text, n, error, error_size);
    platform_free(text);
    platform_free(fill);
    return module;
}

static int run(struct workload_run *run)
{
    struct vm_module *module =
        shared_code_module(workload_param(run, "closures"), workload_param(run, "calls"),
                           workload_param(run, "rounds"), workload_param(run, "full-gc") != 0,
                           run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, 1);
}

static uint64_t expected_checksum(const struct workload_run *run)
{
    uint32_t n = run->mutators ? run->mutators : 1;
    return (uint64_t)n * (uint64_t)shared_code_result(workload_param(run, "closures"),
                                                      workload_param(run, "calls"),
                                                      workload_param(run, "rounds"));
}

const struct workload workload_shared_code = {
    .name = "shared-code",
    .summary = "many closures of one toy-VM function share its optimized code; a deopt "
               "invalidates it every round (compare builds with code_unlinking=eager and lazy)",
    .flags = {{"closures", "closures of the round's function, all sharing its code", 1000, 1,
               100000},
              {"calls", "passes over the closures with Smi arguments before the deopt", 20, 1,
               1000},
              {"rounds", "rounds, each with a function of its own", 10, 1, 100},
              {"full-gc",
               "an old-generation collection at the end of every round (it frees "
               "the round's code)",
               0, 0, 1, jit_runner_opt_choices},
              JIT_RUNNER_FLAGS},
    .run = run,
    .expected_checksum = expected_checksum,
};
