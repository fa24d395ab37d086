/*
 * deopt-storm (WORKLOADS.md): a hot function whose argument types change in
 * phases while every call allocates garbage, so that with the optimizing tier on its
 * code deoptimizes again and again between scavenges, materializing in the young
 * generation. With several mutators a deopt can find a scavenge pending (its entry poll
 * then waits: deopts.csv waited_for_gc_us), but that window is short and such deopts
 * are rare here; bench/jit/deopt_latency provokes that case on purpose.
 *
 *   hot(x, box): t = {}; t.a = x + 1; return x + (box.v + t.a). t never escapes:
 *                escape analysis removes it, and the two guards that fail while it is
 *                live (x + 1, box.v) materialize it
 *   main:        rounds x three phases of `iterations` calls each; round k calls its own
 *                copy hotK, so every round optimizes and deoptimizes afresh:
 *                  phase 0  x = i (a Smi),       box = {v: 1}       hot speculates Smis
 *                  phase 1  x = i + 0.5,         box = {v: 1}       not_smi
 *                  phase 2  x = i,               box = {w: 0, v: 2} wrong_map (a new map)
 *                every call also allocates an array of `garbage` elements, and stores its
 *                box into slot i % 1024 of a ring (an old array, once promoted: the
 *                store is old-to-young and reaches the remembered set); main returns the
 *                sum of hot's results plus the sum of v over the ring.
 *
 * Result, computed by hand: phase 0 sums 2i + 2 over i < N, N^2 + N; phase 1 sums
 * 2i + 3, N^2 + 2N; phase 2 the same, N^2 + 2N; so rounds * (3N^2 + 5N), plus 2 x 1024
 * for the ring (its slots all hold boxes of the last phase: N >= 1024). The sum becomes
 * a double in phase 1 and stays exact: it is an integer below 2^53 for the parameter
 * ranges the workload allows.
 */
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jit_runner.h"
#include "platform/platform.h"

#define RING 1024

static int64_t deopt_storm_result(int64_t iterations, int64_t rounds)
{
    return rounds * (3 * iterations * iterations + 5 * iterations) + 2 * RING;
}

static const char header[] = ".expect %" PRId64 "\n";

/* One per round (hot0, hot1, ...): each round's function starts with fresh feedback. */
static const char hot_function[] =
    "function hot%d params 2 registers 4\n"
    "    CreateObject 1\n"
    "    Star r2\n"
    "    LdaSmi 1\n"
    "    Add r0\n" /* not_smi in phase 1: t is live, materialized */
    "    StaNamedProperty r2, a\n"
    "    LdaNamedProperty r1, v\n" /* wrong_map in phase 2: t is live */
    "    Star r3\n"
    "    LdaNamedProperty r2, a\n"
    "    Add r3\n"
    "    Add r0\n"
    "    Return\n"
    "end\n";

static const char main_function[] =
    "function main registers 13\n"
    "    LdaSmi %d\n"
    "    CreateArray\n"
    "    StaGlobal keep\n"
    "    LdaSmi %" PRId64 "\n"
    "    CreateArray\n"
    "    Star r12\n" /* the round's functions, filled by main_fill */
    "%s"
    "    LdaSmi 0\n"
    "    Star r8\n" /* sum */
    "    LdaSmi 0\n"
    "    Star r9\n" /* round */
    "round:\n"
    "    LdaSmi %" PRId64 "\n"
    "    TestLessThan r9\n"
    "    JumpIfFalse done\n"
    "    LdaSmi 0\n"
    "    Star r10\n" /* phase */
    "phase:\n"
    "    LdaSmi 3\n"
    "    TestLessThan r10\n"
    "    JumpIfFalse phase_done\n"
    "    LdaSmi 0\n"
    "    Star r0\n" /* i */
    "loop:\n"
    "    LdaSmi %" PRId64 "\n"
    "    TestLessThan r0\n"
    "    JumpIfFalse loop_done\n"
    "    LdaSmi 2\n"
    "    TestEqual r10\n"
    "    JumpIfTrue newmap\n"
    "    CreateObject 1\n"
    "    Star r5\n"
    "    LdaSmi 1\n"
    "    StaNamedProperty r5, v\n"
    "    Jump boxed\n"
    "newmap:\n"
    "    CreateObject 2\n"
    "    Star r5\n"
    "    LdaSmi 0\n"
    "    StaNamedProperty r5, w\n"
    "    LdaSmi 2\n"
    "    StaNamedProperty r5, v\n"
    "boxed:\n"
    "    Ldar r0\n"
    "    Star r4\n"
    "    LdaSmi 1\n"
    "    TestEqual r10\n"
    "    JumpIfFalse call\n"
    "    LdaConstant 0.5\n"
    "    Add r0\n"
    "    Star r4\n"
    "call:\n"
    "    Ldar r9\n"
    "    LdaKeyedProperty r12\n"
    "    Star r6\n"
    "    Call r6, r4, 2\n"
    "    Add r8\n"
    "    Star r8\n"
    "    LdaSmi %" PRId64 "\n"
    "    CreateArray\n"
    "    LdaSmi %d\n"
    "    Mod r0\n"
    "    Star r7\n"
    "    LdaGlobal keep\n"
    "    Star r11\n"
    "    Ldar r5\n"
    "    StaKeyedProperty r11, r7\n"
    "    Ldar r0\n"
    "    Inc\n"
    "    Star r0\n"
    "    JumpLoop loop\n"
    "loop_done:\n"
    "    Ldar r10\n"
    "    Inc\n"
    "    Star r10\n"
    "    JumpLoop phase\n"
    "phase_done:\n"
    "    Ldar r9\n"
    "    Inc\n"
    "    Star r9\n"
    "    JumpLoop round\n"
    "done:\n"
    "    LdaGlobal keep\n"
    "    Star r11\n"
    "    LdaSmi 0\n"
    "    Star r0\n"
    "ring:\n"
    "    LdaSmi %d\n"
    "    TestLessThan r0\n"
    "    JumpIfFalse ring_done\n"
    "    Ldar r0\n"
    "    LdaKeyedProperty r11\n"
    "    Star r5\n"
    "    LdaNamedProperty r5, v\n"
    "    Add r8\n"
    "    Star r8\n"
    "    Ldar r0\n"
    "    Inc\n"
    "    Star r0\n"
    "    JumpLoop ring\n"
    "ring_done:\n"
    "    Ldar r8\n"
    "    Return\n"
    "end\n";

/* Stores hotK into slot K of r12. */
static const char main_fill[] = "    LdaSmi %d\n"
                                "    Star r7\n"
                                "    LdaGlobal hot%d\n"
                                "    StaKeyedProperty r12, r7\n";

static struct vm_module *deopt_storm_module(int64_t iterations, int64_t rounds, int64_t garbage,
                                            char *error, size_t error_size)
{
    size_t fill_size = (size_t)rounds * (sizeof main_fill + 24) + 1;
    char *fill = platform_alloc(fill_size);
    size_t used = 0;
    for (int k = 0; k < rounds; k++)
        used += (size_t)snprintf(fill + used, fill_size - used, main_fill, k, k);
    size_t size = sizeof header + 32 + (size_t)rounds * (sizeof hot_function + 16) +
                  sizeof main_function + used + 128;
    char *text = platform_alloc(size);
    size_t n = (size_t)snprintf(text, size, header, deopt_storm_result(iterations, rounds));
    for (int k = 0; k < rounds; k++)
        n += (size_t)snprintf(text + n, size - n, hot_function, k);
    n += (size_t)snprintf(text + n, size - n, main_function, RING, rounds, fill, rounds, iterations,
                          garbage, RING, RING);
    if (n >= size)
        platform_fatal("deopt-storm: the program text does not fit");
    struct vm_module *module = vm_assemble("deopt-storm", text, n, error, error_size);
    platform_free(text);
    platform_free(fill);
    return module;
}

static int run(struct workload_run *run)
{
    struct vm_module *module =
        deopt_storm_module(workload_param(run, "iterations"), workload_param(run, "rounds"),
                           workload_param(run, "garbage"), run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, 1);
}

static uint64_t expected_checksum(const struct workload_run *run)
{
    uint32_t n = run->mutators ? run->mutators : 1;
    return (uint64_t)n * (uint64_t)deopt_storm_result(workload_param(run, "iterations"),
                                                      workload_param(run, "rounds"));
}

const struct workload workload_deopt_storm = {
    .name = "deopt-storm",
    .summary =
        "a hot toy-VM function whose argument types change in phases (Smi, double, "
        "a new map) under allocation pressure, so that its optimized code deoptimizes between "
        "and around scavenges",
    .flags = {{"iterations", "calls of the hot function per phase (three phases per round)", 20000,
               RING, 1000000},
              {"rounds", "rounds of the three phases", 3, 1, 100},
              {"garbage", "elements of the garbage array each call allocates", 16, 0, 4096},
              JIT_RUNNER_FLAGS},
    .run = run,
    .expected_checksum = expected_checksum,
};
