/*
 * Collection policy and pause orchestration (see gc.h).
 */
#include "gc/gc.h"

#include <stdio.h>

#include "barrier/barrier.h"
#include "barrier/remset.h"
#include "heap/spaces.h"
#include "heap/verify.h"
#include "marking/marking.h"
#include "platform/worker_pool.h"
#include "scavenge/scavenge.h"
#include "telemetry/tracer.h"

#define OLD_LIMIT_MIN_BYTES (32 * MiB)
#define OLD_LIMIT_GROWTH 2

static void retire_lab(struct mutator *m, void *arg) { heap_retire_lab(m->heap, &m->lab); }

/* --verify-heap: inside the pause, timed as its own phase ("verify", phases.csv only). */
static void verify(struct gc *gc, struct gc_tracer *tracer, const char *when)
{
    if (!gc->heap->config.verify_heap)
        return;
    char report[2048];
    size_t problems = 0;
    uint64_t verify_ns = 0, start_ns = platform_now_ns();
    problems = heap_verify(gc->heap, report, sizeof report);
    tracer_phase_end(tracer, "verify", &verify_ns, start_ns, problems);
    gc->verified_count++;
    if (problems)
        platform_fatal("heap verification failed %s (pause %llu): %zu problem(s): %s", when,
                       (unsigned long long)tracer->pause->pause_id, problems, report);
}

static void begin_pause(struct gc *gc, struct pause_record *pause, enum pause_kind kind,
                        enum gc_reason reason, uint64_t start_ns, uint32_t mutators)
{
    struct heap *heap = gc->heap;
    *pause = (struct pause_record){
        .pause_id = gc->next_pause_id++,
        .cycle_id = gc->next_cycle_id++,
        .kind = kind,
        .reason = reason,
        .start_ns = start_ns,
        .gc_threads = 1,
        .mutators = mutators,
        .thread_id = platform_thread_id(),
        .young_before_bytes = heap_young_used_bytes(heap),
        .old_before_bytes = heap_old_used_bytes(heap),
    };
}

/* Fills in what a pause knows when its collection is done. It is handed to telemetry
 * after the world resumes, so that the resume time belongs to it. */
static void end_collection(struct gc *gc, struct pause_record *pause, enum cycle_kind cycle_kind,
                           struct cycle_record *cycle)
{
    struct heap *heap = gc->heap;
    uint64_t end_ns = platform_now_ns();
    pause->duration_ns = end_ns - pause->start_ns;
    if (pause->kind != PAUSE_SCAVENGE)
        pause->young_after_bytes = heap_young_used_bytes(heap);
    pause->old_after_bytes = heap_old_used_bytes(heap);
    cycle->cycle_id = pause->cycle_id;
    cycle->kind = cycle_kind;
    cycle->start_ns = pause->start_ns;
    cycle->end_ns = end_ns;
    cycle->pauses = 1;
}

static void publish(struct gc *gc, struct pause_record *pause, struct cycle_record *cycle)
{
    cycle->pause_total_ns = pause->duration_ns;
    cycle->end_ns = pause->start_ns + pause->duration_ns;
    if (gc->telemetry) {
        telemetry_add_pause(gc->telemetry, pause);
        telemetry_add_cycle(gc->telemetry, cycle);
    }
}

static void update_old_limit(struct heap *heap)
{
    size_t limit = heap_old_used_bytes(heap) * OLD_LIMIT_GROWTH;
    if (limit < OLD_LIMIT_MIN_BYTES)
        limit = OLD_LIMIT_MIN_BYTES;
    heap->old_limit_bytes = limit;
}

/* Both collections run with the world stopped, LABs retired and buffers flushed. */
static void run_scavenge(struct gc *gc, struct gc_tracer *tracer)
{
    struct scavenge_options options = {
        .pool = gc->pool,
        .tasks = worker_pool_size(gc->pool),
        .steal = !gc->heap->config.static_partitioning,
    };
    scavenge_collect(gc->heap, tracer, &options);
    gc->scavenges++;
}

static void run_full(struct gc *gc, struct gc_tracer *tracer, struct cycle_record *cycle)
{
    marking_full_gc(gc->heap, tracer, cycle);
    update_old_limit(gc->heap);
    gc->full_gcs++;
}

static void record_ttsp(struct gc *gc, const struct pause_record *pause,
                        const struct safepoint_stats *stats)
{
    if (!gc->telemetry)
        return;
    struct phase_record rec = {
        .pause_id = pause->pause_id,
        .cycle_id = pause->cycle_id,
        .phase = "ttsp",
        .start_ns = stats->requested_ns,
        .duration_ns = stats->ttsp_ns,
        .items = stats->threads_stopped,
        .thread_id = pause->thread_id,
    };
    telemetry_add_phase(gc->telemetry, &rec);
}

static void collect(struct heap *heap, struct mutator *m, enum collect_request what,
                    enum gc_reason reason, uint64_t seen_epoch)
{
    struct gc *gc = heap->gc;
    struct safepoint_thread *self = m ? &m->safepoint : NULL;
    struct safepoint_stats stats;
    safepoint_begin(&heap->safepoint, self, &stats);
    bool demanded = reason == REASON_FORCED || reason == REASON_STRESS;
    if (!demanded && atomic_load(&heap->gc_epoch) != seen_epoch) {
        /* Another thread collected while this one waited: just retry the allocation. */
        safepoint_end(&heap->safepoint, self);
        return;
    }
    heap_for_each_mutator(heap, retire_lab, NULL);

    /* One stop runs one collection, or a scavenge and then a full GC when the scavenge
     * pushed the old generation past its limit: two pauses back to back. */
    struct pause_record pauses[2];
    struct cycle_record cycles[2] = {{0}};
    size_t count = 1;
    struct pause_record *pause = &pauses[0];
    begin_pause(gc, pause, what == COLLECT_SCAVENGE ? PAUSE_SCAVENGE : PAUSE_FULL, reason,
                stats.requested_ns, stats.threads);
    pause->ttsp_ns = stats.ttsp_ns;
    struct gc_tracer tracer = {gc->telemetry, pause, pause->thread_id};
    record_ttsp(gc, pause, &stats);
    size_t flushed = 0;
    TRACE_PHASE(&tracer, "remset", remset_ns, flushed) flushed = remset_flush_all(heap);
    verify(gc, &tracer, "before the collection");

    if (what == COLLECT_SCAVENGE) {
        run_scavenge(gc, &tracer);
        end_collection(gc, pause, CYCLE_SCAVENGE, &cycles[0]);
        if (heap_old_used_bytes(heap) > heap->old_limit_bytes ||
            heap_committed_bytes(heap) > heap->config.heap_size_bytes) {
            verify(gc, &tracer, "after the scavenge");
            pause = &pauses[count++];
            begin_pause(gc, pause, PAUSE_FULL, REASON_HEAP_LIMIT, platform_now_ns(), stats.threads);
            tracer.pause = pause;
            run_full(gc, &tracer, &cycles[1]);
            end_collection(gc, pause, CYCLE_FULL, &cycles[1]);
        }
    } else {
        run_full(gc, &tracer, &cycles[0]);
        end_collection(gc, pause, CYCLE_FULL, &cycles[0]);
    }
    verify(gc, &tracer, "after the collection");
    if (heap_committed_bytes(heap) > heap->config.heap_size_bytes)
        heap_fatal_oom(heap, "promotion into the old generation", 0);
    atomic_fetch_add(&heap->gc_epoch, 1);
    uint64_t resume_start_ns = platform_now_ns();
    safepoint_end(&heap->safepoint, self);
    uint64_t resume_end_ns = platform_now_ns();
    pause->resume_ns = resume_end_ns - resume_start_ns;
    pause->duration_ns = resume_end_ns - pause->start_ns;
    for (size_t i = 0; i < count; i++)
        publish(gc, &pauses[i], &cycles[i]);
}

struct gc *gc_create(struct heap *heap, struct telemetry *telemetry)
{
    struct gc *gc = platform_calloc(1, sizeof *gc);
    gc->heap = heap;
    gc->telemetry = telemetry;
    gc->pool =
        worker_pool_create(heap->config.gc_threads ? heap->config.gc_threads : 1, "gc-worker");
    heap->gc = gc;
    heap->collect = collect;
    return gc;
}

void gc_destroy(struct gc *gc)
{
    /* Remembered sets belong to lib/barrier: release them before the heap frees pages. */
    struct space *old_spaces[] = {&gc->heap->old_space.base, &gc->heap->code_space.base,
                                  &gc->heap->large_space.base};
    for (size_t i = 0; i < ARRAY_LENGTH(old_spaces); i++)
        space_for_each_page(old_spaces[i], p) remset_release(p);
    worker_pool_destroy(gc->pool);
    gc->heap->collect = NULL;
    gc->heap->gc = NULL;
    platform_free(gc);
}

void gc_mutator_attach(struct gc *gc, struct mutator *m, const char *name)
{
    heap_mutator_attach(gc->heap, m, name);
    remset_mutator_init(m);
}

void gc_mutator_detach(struct mutator *m)
{
    remset_mutator_teardown(m);
    heap_mutator_detach(m);
}

void gc_collect(struct heap *heap, struct mutator *m, enum collect_request what)
{
    heap->collect(heap, m, what, REASON_FORCED, atomic_load(&heap->gc_epoch));
}
