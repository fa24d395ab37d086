/*
 * osr-loop (WORKLOADS.md): long loops that tier up at their back-edges by on-stack
 * replacement, fill the OSR code cache, hit it, deoptimize out of it, and leave entries
 * that the next full GC clears (docs/codecache.md, "The OSR code cache").
 *
 *   loopK(n, d, t) = s = 0; for i < n: { if i == 1 and d != 0: s += loopK(n, d - 1, -2);
 *                                        s += (i == t or i == t + 1) ? 0.5 : K }; return s
 *   main: for each round K: total += loopK(n, 1, n / 2), then (--full-gc on) a full GC.
 *
 * With the tier on, in round K's outer call (d = 1), at i = 1:
 *   - the inner call (d = 0) runs its loop in the interpreter until the function's
 *     back-edges reach the tier-up threshold (--tierup-loops), and the frame tiers up there
 *     into OSR code compiled for (loopK, its JumpLoop), which goes into the OSR cache;
 *   - back in the outer frame, still interpreted, the next back-edge finds that code in
 *     the cache (an OSR cache hit) and the outer loop runs in it;
 *   - at i = t the Smi addition meets 0.5: the OSR code deoptimizes (not_smi), which
 *     evicts its entry, and the interpreter finishes the loop, or tiers up again once the
 *     back-edges since the deopt reach the threshold (n - t past it: a second compile);
 *   - the full GC that ends the round clears that second entry: nothing runs its code.
 *
 * Result per round: n K (the inner call) + n K - 2 K + 1 (the outer, whose two halves make
 * a whole); main returns the sum over the rounds K = 1..R: (n - 1) R (R + 1) + R.
 */
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>

#include "jit_runner.h"
#include "platform/platform.h"

static int64_t osr_loop_result(int64_t iterations, int64_t rounds)
{
    return (iterations - 1) * rounds * (rounds + 1) + rounds;
}

/* r0 n, r1 d, r2 t, r3 s, r4 i, r5 the addend, r6..r8 the inner call's arguments, r9 callee */
static const char round_function[] = "function loop%1$d params 3 registers 10\n"
                                     "    LdaSmi 0\n"
                                     "    Star r3\n"
                                     "    LdaSmi 0\n"
                                     "    Star r4\n"
                                     "head:\n"
                                     "    Ldar r0\n"
                                     "    TestLessThan r4\n"
                                     "    JumpIfFalse done\n"
                                     "    LdaSmi 1\n"
                                     "    TestEqual r4\n"
                                     "    JumpIfFalse body\n"
                                     "    LdaSmi 0\n"
                                     "    TestEqual r1\n"
                                     "    JumpIfTrue body\n"
                                     "    Ldar r0\n"
                                     "    Star r6\n"
                                     "    Ldar r1\n"
                                     "    Dec\n"
                                     "    Star r7\n"
                                     "    LdaSmi -2\n"
                                     "    Star r8\n"
                                     "    LdaGlobal loop%1$d\n"
                                     "    Star r9\n"
                                     "    Call r9, r6, 3\n"
                                     "    Add r3\n"
                                     "    Star r3\n"
                                     "body:\n"
                                     "    LdaSmi %1$d\n"
                                     "    Star r5\n"
                                     "    Ldar r2\n"
                                     "    TestEqual r4\n"
                                     "    JumpIfTrue half\n"
                                     "    Ldar r2\n"
                                     "    Inc\n"
                                     "    TestEqual r4\n"
                                     "    JumpIfFalse add\n"
                                     "half:\n"
                                     "    LdaConstant 0.5\n"
                                     "    Star r5\n"
                                     "add:\n"
                                     "    Ldar r5\n"
                                     "    Add r3\n"
                                     "    Star r3\n"
                                     "    Ldar r4\n"
                                     "    Inc\n"
                                     "    Star r4\n"
                                     "    JumpLoop head\n"
                                     "done:\n"
                                     "    Ldar r3\n"
                                     "    Return\n"
                                     "end\n";

/* Round K of main: r0 the total, r1..r3 the arguments, r4 the callee. */
static const char main_round[] = "    LdaSmi %2$" PRId64 "\n"
                                 "    Star r1\n"
                                 "    LdaSmi 1\n"
                                 "    Star r2\n"
                                 "    LdaSmi %3$" PRId64 "\n"
                                 "    Star r3\n"
                                 "    LdaGlobal loop%1$d\n"
                                 "    Star r4\n"
                                 "    Call r4, r1, 3\n"
                                 "    Add r0\n"
                                 "    Star r0\n"
                                 "%4$s";

static struct vm_module *osr_loop_module(int64_t iterations, int64_t rounds, bool full_gc,
                                         char *error, size_t error_size)
{
    size_t size = 256 + (size_t)rounds * (sizeof round_function + sizeof main_round + 256);
    char *text = platform_alloc(size);
    size_t n =
        (size_t)snprintf(text, size, ".expect %" PRId64 "\n", osr_loop_result(iterations, rounds));
    for (int k = 1; k <= rounds; k++)
        n += (size_t)snprintf(text + n, size - n, round_function, k);
    n += (size_t)snprintf(text + n, size - n,
                          "function main registers 5\n"
                          "    LdaSmi 0\n"
                          "    Star r0\n");
    for (int k = 1; k <= rounds; k++)
        n += (size_t)snprintf(text + n, size - n, main_round, k, iterations, iterations / 2,
                              full_gc ? "    CallIntrinsic full_gc, r0, 0\n" : "");
    n += (size_t)snprintf(text + n, size - n, "    Ldar r0\n    Return\nend\n");
    if (n >= size)
        platform_fatal("osr-loop: the program text does not fit");
    struct vm_module *module = vm_assemble("osr-loop", text, n, error, error_size);
    platform_free(text);
    return module;
}

static int run(struct workload_run *run)
{
    struct vm_module *module =
        osr_loop_module(workload_param(run, "iterations"), workload_param(run, "rounds"),
                        workload_param(run, "full-gc") != 0, run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, 1);
}

static uint64_t expected_checksum(const struct workload_run *run)
{
    uint32_t n = run->mutators ? run->mutators : 1;
    return (uint64_t)n * (uint64_t)osr_loop_result(workload_param(run, "iterations"),
                                                   workload_param(run, "rounds"));
}

const struct workload workload_osr_loop = {
    .name = "osr-loop",
    .summary = "long loops tier up at their back-edges (on-stack replacement), hit the OSR "
               "code cache, deoptimize out of it; full GCs clear its weak entries",
    .flags = {{"iterations", "iterations of each loop (tier-up at --tierup-loops back-edges)",
               30000, 4, 100000000},
              {"rounds", "rounds, each with a loop function of its own", 8, 1, 100},
              {"full-gc", "an old-generation collection after each round (clears OSR entries)", 1,
               0, 1, jit_runner_opt_choices},
              JIT_RUNNER_FLAGS},
    .run = run,
    .expected_checksum = expected_checksum,
};
