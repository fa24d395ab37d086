/*
 * map-churn (WORKLOADS.md): objects change hidden class under optimized code, and the
 * code on the stack deoptimizes lazily through its dependencies (docs/codecache.md).
 *
 *   mkK(v)         = {pK: K, x: v}: a hidden class of its own per round (the first
 *                    property's name differs), whose x has only ever held Smis
 *   touchK(o, i, t) = if i == t: o.x = 0.5 (a loop, so it is never inlined)
 *   sumK(a, n, t)  = for i < n: s += a[i].x; touchK(a[i], i, t); returns s
 *   main: for each round K: an array of `objects` objects mkK(i); `passes` calls of
 *         sumK(a, n, -1), in which sumK gets optimized with a[i].x known to be a Smi by
 *         x's field representation (the addition checks only s; the code depends on the
 *         representation); then sumK(a, n, t) with t = n / 2: touchK's store of 0.5
 *         generalizes x to tagged, which invalidates sumK's code while its activation
 *         waits for touchK to return, and it deoptimizes when touchK does (kind lazy,
 *         reason dependency_changed); then two more calls sumK(a, n, -1), which read the
 *         0.5. With several mutators the classes are shared: whichever thread generalizes
 *         first invalidates every thread's code, and the others learn of it in a
 *         handshake.
 *
 * Result, per round, with S = n(n - 1) / 2: passes x S + S (the object at t is read
 * before it is touched) + 2 (S - t + 0.5); main returns the sum over the rounds.
 */
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>

#include "jit_runner.h"
#include "platform/platform.h"

static int64_t map_churn_result(int64_t objects, int64_t passes, int64_t rounds)
{
    int64_t s = objects * (objects - 1) / 2, t = objects / 2;
    return rounds * ((passes + 3) * s - 2 * t + 1);
}

static const char round_functions[] = "function mk%1$d params 1 registers 2\n"
                                      "    CreateObject 2\n"
                                      "    Star r1\n"
                                      "    LdaSmi %1$d\n"
                                      "    StaNamedProperty r1, p%1$d\n"
                                      "    Ldar r0\n"
                                      "    StaNamedProperty r1, x\n"
                                      "    Ldar r1\n"
                                      "    Return\n"
                                      "end\n"
                                      "function touch%1$d params 3 registers 3\n"
                                      "again:\n"
                                      "    Ldar r2\n"
                                      "    TestEqual r1\n"
                                      "    JumpIfFalse out\n"
                                      "    LdaConstant 0.5\n"
                                      "    StaNamedProperty r0, x\n"
                                      "    LdaSmi -1\n"
                                      "    Star r2\n"
                                      "    JumpLoop again\n"
                                      "out:\n"
                                      "    LdaSmi 0\n"
                                      "    Return\n"
                                      "end\n"
                                      /* r3 sum, r4 i, r5..r7 touch's arguments, r8 callee */
                                      "function sum%1$d params 3 registers 9\n"
                                      "    LdaSmi 0\n"
                                      "    Star r3\n"
                                      "    LdaSmi 0\n"
                                      "    Star r4\n"
                                      "loop:\n"
                                      "    Ldar r1\n"
                                      "    TestLessThan r4\n"
                                      "    JumpIfFalse done\n"
                                      "    Ldar r4\n"
                                      "    LdaKeyedProperty r0\n"
                                      "    Star r5\n"
                                      "    LdaNamedProperty r5, x\n"
                                      "    Add r3\n"
                                      "    Star r3\n"
                                      "    Ldar r4\n"
                                      "    Star r6\n"
                                      "    Ldar r2\n"
                                      "    Star r7\n"
                                      "    LdaGlobal touch%1$d\n"
                                      "    Star r8\n"
                                      "    Call r8, r5, 3\n"
                                      "    Ldar r4\n"
                                      "    Inc\n"
                                      "    Star r4\n"
                                      "    JumpLoop loop\n"
                                      "done:\n"
                                      "    Ldar r3\n"
                                      "    Return\n"
                                      "end\n";

/* One call sum_K(r0, objects, t) added to r3 (r6..r8 arguments, r9 callee). */
#define CALL_SUM(t)                                                                                \
    "    Ldar r0\n"                                                                                \
    "    Star r6\n"                                                                                \
    "    LdaSmi %2$" PRId64 "\n"                                                                   \
    "    Star r7\n"                                                                                \
    "    LdaSmi " t "\n"                                                                           \
    "    Star r8\n"                                                                                \
    "    LdaGlobal sum%1$d\n"                                                                      \
    "    Star r9\n"                                                                                \
    "    Call r9, r6, 3\n"                                                                         \
    "    Add r3\n"                                                                                 \
    "    Star r3\n"

/* Round K of main: r0 the array, r1 i, r2 the pass, r3 the sum, r4 callee, r5 argument. */
static const char main_round[] =
    "    LdaSmi %2$" PRId64 "\n"
    "    CreateArray\n"
    "    Star r0\n"
    "    LdaSmi 0\n"
    "    Star r1\n"
    "make%1$d:\n"
    "    LdaSmi %2$" PRId64 "\n"
    "    TestLessThan r1\n"
    "    JumpIfFalse made%1$d\n"
    "    Ldar r1\n"
    "    Star r5\n"
    "    LdaGlobal mk%1$d\n"
    "    Star r4\n"
    "    Call r4, r5, 1\n"
    "    StaKeyedProperty r0, r1\n"
    "    Ldar r1\n"
    "    Inc\n"
    "    Star r1\n"
    "    JumpLoop make%1$d\n"
    "made%1$d:\n"
    "    LdaSmi 0\n"
    "    Star r2\n"
    "pass%1$d:\n"
    "    LdaSmi %3$" PRId64 "\n"
    "    TestLessThan r2\n"
    "    JumpIfFalse churn%1$d\n" CALL_SUM("-1") "    Ldar r2\n"
                                                 "    Inc\n"
                                                 "    Star r2\n"
                                                 "    JumpLoop pass%1$d\n"
                                                 "churn%1$d:\n" CALL_SUM("%4$" PRId64)
                                                     CALL_SUM("-1") CALL_SUM("-1");

static struct vm_module *map_churn_module(int64_t objects, int64_t passes, int64_t rounds,
                                          char *error, size_t error_size)
{
    size_t size = 256 + (size_t)rounds * (sizeof round_functions + sizeof main_round + 256);
    char *text = platform_alloc(size);
    size_t n = (size_t)snprintf(text, size, ".expect %" PRId64 "\n",
                                map_churn_result(objects, passes, rounds));
    for (int k = 0; k < rounds; k++)
        n += (size_t)snprintf(text + n, size - n, round_functions, k);
    n += (size_t)snprintf(text + n, size - n,
                          "function main registers 10\n"
                          "    LdaSmi 0\n"
                          "    Star r3\n");
    for (int k = 0; k < rounds; k++)
        n += (size_t)snprintf(text + n, size - n, main_round, k, objects, passes, objects / 2);
    n += (size_t)snprintf(text + n, size - n, "    Ldar r3\n    Return\nend\n");
    if (n >= size)
        platform_fatal("map-churn: the program text does not fit");
    struct vm_module *module = vm_assemble("map-churn", text, n, error, error_size);
    platform_free(text);
    return module;
}

static int run(struct workload_run *run)
{
    struct vm_module *module =
        map_churn_module(workload_param(run, "objects"), workload_param(run, "passes"),
                         workload_param(run, "rounds"), run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, 1);
}

static uint64_t expected_checksum(const struct workload_run *run)
{
    uint32_t n = run->mutators ? run->mutators : 1;
    return (uint64_t)n * (uint64_t)map_churn_result(workload_param(run, "objects"),
                                                    workload_param(run, "passes"),
                                                    workload_param(run, "rounds"));
}

const struct workload workload_map_churn = {
    .name = "map-churn",
    .summary = "objects change hidden class (a Smi field generalizes) under optimized code "
               "that depends on it: lazy deopts of code on the stack, handshakes",
    .flags = {{"objects", "objects per round, all of the round's hidden class", 1000, 2, 100000},
              {"passes", "calls of the round's sum before its churn", 20, 1, 1000},
              {"rounds", "rounds, each with hidden classes and functions of its own", 10, 1, 100},
              JIT_RUNNER_FLAGS},
    .run = run,
    .expected_checksum = expected_checksum,
};
