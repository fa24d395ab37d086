/*
 * choreography: the seed articles in one run (docs/workloads.md, README "The
 * choreography"). Mutator 0 runs an optimized function whose guard fails while mutator 1
 * has a scavenge pending:
 *   1. step(holder, x, wait) stores a fresh object {v: holder} into holder, an old object: the
 * write barrier records the old-to-young slot (under store-buffer, in the thread's store buffer);
 *   2. the same activation holds t = {a: 7}, which escape analysis elides;
 *   3. await_collection_request: mutator 0 waits, without polling, until mutator 1
 *      (collect_when_awaited) requests a scavenge and waits in turn for mutator 0;
 *   4. x + 1 fails its Smi guard (x = 0.5): the deopt's entry poll joins the safepoint;
 *      the scavenge (parallel or serial, as built) flushes the store buffers into the
 *      remembered set (pauses.csv remset_us) and evacuates;
 *   5. the deopt materializes t in the young generation, writes the interpreter frame,
 *      and the code goes on the deoptimized list (code_lists=weak-lists);
 *   6. main's full_gc: nothing holds the deoptimized code any more, and the collection's
 *      weak processing unlinks it (cycles.csv code_unlinked_count) before the sweeper
 *      frees it.
 * trace.json shows the sequence on a timeline: the deopt (with waited_for_gc_us) on
 * mutator 0's track, the scavenge pause with its phases, the "code deoptimized" span,
 * and the full pause (args code_unlinked). With --opt off there is no deopt; the rest
 * runs the same, with the same checksum.
 *
 * Result: mutator 0 returns the warm-up's sum of i + 8 over i < W, plus step's 8.5 for
 * x = 0.5, plus 0.5: W(W - 1)/2 + 8W + 9; every other mutator returns 0.
 */
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>

#include "jit_runner.h"
#include "platform/platform.h"

static int64_t choreography_result(int64_t warmup)
{
    return warmup * (warmup - 1) / 2 + 8 * warmup + 9;
}

static const char program[] =
    "function step params 3 registers 5\n"
    "    CreateObject 1\n"
    "    Star r4\n" /* t = {}: never escapes */
    "    LdaSmi 7\n"
    "    StaNamedProperty r4, a\n"
    "    CreateObject 1\n"
    "    Star r3\n"
    "    Ldar r0\n"
    "    StaNamedProperty r3, v\n" /* v: tagged (x would be a double at the end: that
                                    store would deopt first, its field being a Smi one) */
    "    Ldar r3\n"
    "    StaNamedProperty r0, last\n" /* holder.last = {v: holder}: old-to-young */
    "    CallIntrinsic await_collection_request, r2, 1\n"
    "    LdaSmi 1\n"
    "    Add r1\n" /* x + 1: the Smi guard fails for x = 0.5 */
    "    Star r3\n"
    "    LdaNamedProperty r4, a\n"
    "    Add r3\n"
    "    Return\n"
    "end\n"
    "function main registers 9\n"
    "    LdaGlobal mutator\n"
    "    Star r5\n"
    "    LdaSmi 0\n"
    "    TestEqual r5\n"
    "    JumpIfTrue deopter\n"
    "    CallIntrinsic collect_when_awaited, r0, 0\n"
    "    LdaSmi 0\n"
    "    Return\n"
    "deopter:\n"
    "    CreateObject 1\n"
    "    Star r0\n"
    "    LdaSmi 0\n"
    "    StaNamedProperty r0, last\n"
    "    CallIntrinsic collect_garbage, r0, 0\n"
    "    CallIntrinsic collect_garbage, r0, 0\n" /* holder has survived two: it is old */
    "    LdaGlobal step\n"
    "    Star r1\n"
    "    LdaSmi 0\n"
    "    Star r4\n" /* sum */
    "    Star r2\n" /* i */
    "    Ldar r0\n"
    "    Star r6\n"
    "    LdaFalse\n"
    "    Star r8\n"
    "warm:\n"
    "    LdaSmi %" PRId64 "\n"
    "    TestLessThan r2\n"
    "    JumpIfFalse warm_done\n"
    "    Ldar r2\n"
    "    Star r7\n"
    "    Call r1, r6, 3\n"
    "    Add r4\n"
    "    Star r4\n"
    "    Ldar r2\n"
    "    Inc\n"
    "    Star r2\n"
    "    JumpLoop warm\n"
    "warm_done:\n"
    "    LdaConstant 0.5\n"
    "    Star r7\n"
    "    LdaTrue\n"
    "    Star r8\n"
    "    Call r1, r6, 3\n" /* the choreographed call */
    "    Add r4\n"
    "    Star r4\n"
    "    LdaConstant 0.5\n"
    "    Add r4\n"
    "    Star r4\n"
    "    CallIntrinsic full_gc, r0, 0\n" /* frees the deoptimized code */
    "    Ldar r4\n"
    "    Return\n"
    "end\n";

static int run(struct workload_run *run)
{
    char text[sizeof program + 32];
    int64_t warmup = workload_param(run, "warmup");
    int n = snprintf(text, sizeof text, program, warmup);
    struct vm_module *module =
        vm_assemble("choreography", text, (size_t)n, run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, 1);
}

static uint64_t expected_checksum(const struct workload_run *run)
{
    return (uint64_t)choreography_result(workload_param(run, "warmup"));
}

const struct workload workload_choreography = {
    .name = "choreography",
    .summary = "the seed articles in one run: a deopt meets a pending scavenge, joins its "
               "safepoint, the store buffer is flushed, the scavenge runs, the code goes on the "
               "deoptimized list and the next full GC frees it (2+ mutators; see trace.json)",
    .flags = {{"warmup",
               "Smi calls of the function before the one that deopts (it must reach "
               "--tierup-calls to be optimized)",
               2000, 1, 100000},
              JIT_RUNNER_FLAGS},
    .run = run,
    .expected_checksum = expected_checksum,
    .min_mutators = 2,
};
