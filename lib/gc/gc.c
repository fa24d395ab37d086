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
/* Marking cycles start when the old generation reaches this fraction of its limit. */
#define MARKING_START_FRACTION 0.7

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

/* A finished marking cycle's record waits for its sweeping to end (swept_bytes). */
static void publish_pending_cycle(struct gc *gc)
{
    uint64_t swept;
    if (!MARKING_CYCLES || !gc->cycle_pending || !marking_swept_bytes(gc->heap, &swept))
        return;
    gc->pending_cycle.swept_bytes = swept;
    if (gc->telemetry)
        telemetry_add_cycle(gc->telemetry, &gc->pending_cycle);
    gc->cycle_pending = false;
}

/* A marking cycle's record is kept from its start pause and published with its
 * finalization pause, or once the sweeping that follows has finished. */
static void publish(struct gc *gc, struct pause_record *pause, struct cycle_record *cycle)
{
    if (pause->kind == PAUSE_MARK_START) {
        gc->marking_cycle.pauses = 1;
        gc->marking_cycle.pause_total_ns = pause->duration_ns;
        if (gc->telemetry)
            telemetry_add_pause(gc->telemetry, pause);
        return;
    }
    if (pause->kind == PAUSE_MARK_FINALIZE) {
        uint64_t concurrent_ns = cycle->concurrent_ns,
                 barrier = __atomic_load_n(&gc->barrier_count, __ATOMIC_RELAXED);
        struct cycle_record c = gc->marking_cycle;
        c.pauses++;
        c.pause_total_ns += pause->duration_ns;
        c.end_ns = pause->start_ns + pause->duration_ns;
        c.concurrent_ns = concurrent_ns;
        c.marked_bytes = cycle->marked_bytes;
        c.swept_bytes = cycle->swept_bytes;
        c.barrier_slow_count = barrier;
        if (gc->telemetry)
            telemetry_add_pause(gc->telemetry, pause);
        gc->pending_cycle = c;
        gc->cycle_pending = true;
        publish_pending_cycle(gc);
        return;
    }
    cycle->pause_total_ns = pause->duration_ns;
    cycle->end_ns = pause->start_ns + pause->duration_ns;
    if (gc->telemetry) {
        telemetry_add_pause(gc->telemetry, pause);
        telemetry_add_cycle(gc->telemetry, cycle);
    }
}

/* live_bytes: what survived the collection (old + code + large). */
static void update_old_limit(struct heap *heap, size_t live_bytes)
{
    size_t limit = live_bytes * OLD_LIMIT_GROWTH;
    if (limit < OLD_LIMIT_MIN_BYTES)
        limit = OLD_LIMIT_MIN_BYTES;
    heap->old_limit_bytes = limit;
    if (MARKING_CYCLES)
        heap->marking_start_bytes = (size_t)((double)limit * MARKING_START_FRACTION);
}

/* Both collections run with the world stopped, LABs retired and buffers flushed. */
static void run_scavenge(struct gc *gc, struct gc_tracer *tracer)
{
    struct scavenge_options options = {
        .pool = gc->pool,
        .tasks = gc->scavenge_tasks,
        .steal = !gc->heap->config.static_partitioning,
        .last_child_first = gc->heap->config.last_child_first,
    };
    scavenge_collect(gc->heap, tracer, &options);
    gc->scavenges++;
}

/* What an old-generation request becomes. stw: a full collection. With marking cycles:
 * the end of the cycle under way, or a new one, or (forced, or the hard limit with no
 * cycle under way) a whole cycle in one pause. */
static enum pause_kind old_generation_pause(struct heap *heap, enum collect_request what,
                                            enum gc_reason reason)
{
    if (!MARKING_CYCLES)
        return PAUSE_FULL;
    bool marking = atomic_load(&heap->marking_active);
    switch (what) {
    case COLLECT_MARK_START:
        return PAUSE_MARK_START;
    case COLLECT_MARK_FINALIZE:
        return PAUSE_MARK_FINALIZE;
    default:
        if (marking)
            return PAUSE_MARK_FINALIZE;
        return reason == REASON_STRESS ? PAUSE_MARK_START : PAUSE_FULL;
    }
}

static void take_barrier_count(struct mutator *m, void *arg)
{
    struct gc *gc = arg;
    __atomic_fetch_add(&gc->barrier_count, m->marking_barrier_count, __ATOMIC_RELAXED);
    m->marking_barrier_count = 0;
}

static void run_old_generation(struct gc *gc, struct gc_tracer *tracer, struct cycle_record *cycle)
{
    struct heap *heap = gc->heap;
    gc->old_pauses++;
    switch (tracer->pause->kind) {
    case PAUSE_MARK_START:
        marking_start(heap, tracer, tracer->pause->cycle_id);
        gc->marking_cycle = (struct cycle_record){
            .cycle_id = tracer->pause->cycle_id,
            .kind = CYCLE_MARKING,
            .start_ns = tracer->pause->start_ns,
        };
        __atomic_store_n(&gc->barrier_count, 0, __ATOMIC_RELAXED);
        gc->mark_cycles++;
        return;
    case PAUSE_MARK_FINALIZE:
        heap_for_each_mutator(heap, take_barrier_count, gc);
        marking_finalize(heap, tracer, cycle);
        /* Sweeping may still be under way, so old space's size says nothing yet: what
         * survived is what the markers scanned and what was allocated black. */
        if (atomic_load(&heap->sweeping)) {
            size_t live = cycle->marked_bytes + atomic_load(&heap->marking_black_bytes),
                   used = heap_old_used_bytes(heap);
            atomic_store(&heap->sweep_garbage_left, used > live ? (int64_t)(used - live) : 0);
            update_old_limit(heap, live);
        } else {
            update_old_limit(heap, heap_old_used_bytes(heap));
        }
        return;
    default:
        marking_full_gc(heap, tracer, cycle);
        gc->full_gcs++;
        break;
    }
    update_old_limit(heap, heap_old_used_bytes(heap));
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

/* A pause of an old-generation kind, its cycle id being the marking cycle's when it
 * ends one. */
static void begin_old_pause(struct gc *gc, struct pause_record *pause, enum pause_kind kind,
                            enum gc_reason reason, uint64_t start_ns, uint32_t mutators)
{
    begin_pause(gc, pause, kind, reason, start_ns, mutators);
    if (kind == PAUSE_MARK_FINALIZE) {
        gc->next_cycle_id--;
        pause->cycle_id = gc->marking_cycle.cycle_id;
    }
}

/* Whether the request still makes sense once the world is stopped: another thread may
 * have collected, started or finished the cycle while this one waited. */
static bool still_wanted(struct heap *heap, enum collect_request what, enum gc_reason reason,
                         uint64_t seen_epoch)
{
    bool marking = atomic_load(&heap->marking_active);
    if (what == COLLECT_MARK_START)
        return !marking;
    if (what == COLLECT_MARK_FINALIZE)
        return marking;
    if (reason == REASON_FORCED || reason == REASON_STRESS)
        return true;
    return atomic_load(&heap->gc_epoch) == seen_epoch;
}

static void collect(struct heap *heap, struct mutator *m, enum collect_request what,
                    enum gc_reason reason, uint64_t seen_epoch)
{
    struct gc *gc = heap->gc;
    struct safepoint_thread *self = m ? &m->safepoint : NULL;
    struct safepoint_stats stats;
    safepoint_begin(&heap->safepoint, self, &stats);
    if (!still_wanted(heap, what, reason, seen_epoch)) {
        safepoint_end(&heap->safepoint, self);
        return;
    }
    /* Background tasks (markers, sweepers) stop for every pause and start again once
     * the mutators are released, so that a woken marker taking the initiator's core is
     * not counted as pause time. background_lock keeps the next pause's stop after
     * this start. */
    pthread_mutex_lock(&gc->background_lock);
    if (MARKING_CYCLES) {
        marking_pause(heap);
        publish_pending_cycle(gc);
    }
    heap_for_each_mutator(heap, retire_lab, NULL);

    /* One stop runs one collection, or a scavenge and then an old-generation pause when
     * the scavenge pushed the old generation past a limit: two pauses back to back. */
    struct pause_record pauses[2];
    struct cycle_record cycles[2] = {{0}};
    size_t count = 1;
    struct pause_record *pause = &pauses[0];
    if (what == COLLECT_SCAVENGE)
        begin_pause(gc, pause, PAUSE_SCAVENGE, reason, stats.requested_ns, stats.threads);
    else
        begin_old_pause(gc, pause, old_generation_pause(heap, what, reason), reason,
                        stats.requested_ns, stats.threads);
    pause->ttsp_ns = stats.ttsp_ns;
    struct gc_tracer tracer = {gc->telemetry, pause, pause->thread_id};
    record_ttsp(gc, pause, &stats);
    size_t flushed = 0;
    TRACE_PHASE(&tracer, "remset", remset_ns, flushed) flushed = remset_flush_all(heap);
    verify(gc, &tracer, "before the collection");

    if (what == COLLECT_SCAVENGE) {
        run_scavenge(gc, &tracer);
        /* What a scavenge promotes during a cycle is black: it survives the cycle. */
        if (MARKING_CYCLES && atomic_load(&heap->marking_active))
            atomic_fetch_add(&heap->marking_black_bytes, pause->promoted_bytes);
        end_collection(gc, pause, CYCLE_SCAVENGE, &cycles[0]);
        /* While pages wait to be swept, the old limit is not looked at, and the start of
         * marking is compared with what the generation holds less what sweeping is
         * estimated to free still (the mark_start pause sweeps the rest). Past the start
         * of marking, a cycle starts, even past the old limit itself as long as the
         * overshoot leaves it room; beyond that, the old generation is collected now. */
        bool sweeping = atomic_load(&heap->sweeping);
        size_t used = heap_old_used_bytes(heap);
        size_t live = heap_old_live_estimate_bytes(heap);
        bool start_marking = MARKING_CYCLES && !atomic_load(&heap->marking_active) &&
                             live > heap->marking_start_bytes &&
                             live <= heap_old_overshoot_bytes(heap);
        bool over_limit = (!sweeping && !start_marking && used > heap_old_collect_bytes(heap)) ||
                          heap_committed_bytes(heap) > heap->config.heap_size_bytes;
        if (over_limit || start_marking) {
            verify(gc, &tracer, "after the scavenge");
            pause = &pauses[count++];
            enum pause_kind kind = over_limit
                                       ? old_generation_pause(heap, COLLECT_FULL, REASON_HEAP_LIMIT)
                                       : PAUSE_MARK_START;
            begin_old_pause(gc, pause, kind, REASON_HEAP_LIMIT, platform_now_ns(), stats.threads);
            tracer.pause = pause;
            run_old_generation(gc, &tracer, &cycles[1]);
            end_collection(gc, pause, kind == PAUSE_FULL ? CYCLE_FULL : CYCLE_MARKING, &cycles[1]);
        }
    } else {
        run_old_generation(gc, &tracer, &cycles[0]);
        end_collection(gc, pause, pause->kind == PAUSE_FULL ? CYCLE_FULL : CYCLE_MARKING,
                       &cycles[0]);
    }
    verify(gc, &tracer, "after the collection");
    if (heap_committed_bytes(heap) > heap->config.heap_size_bytes &&
        !atomic_load(&heap->marking_active) && !atomic_load(&heap->sweeping))
        heap_fatal_oom(heap, "promotion into the old generation", 0);
    atomic_fetch_add(&heap->gc_epoch, 1);
    uint64_t resume_start_ns = platform_now_ns();
    safepoint_end(&heap->safepoint, self);
    uint64_t resume_end_ns = platform_now_ns();
    if (MARKING_CYCLES)
        marking_resume(heap);
    pthread_mutex_unlock(&gc->background_lock);
    pause->resume_ns = resume_end_ns - resume_start_ns;
    pause->duration_ns = resume_end_ns - pause->start_ns;
    for (size_t i = 0; i < count; i++)
        publish(gc, &pauses[i], &cycles[i]);
}

uint32_t gc_marker_tasks(uint32_t gc_threads)
{
    if (!MARKING_CONCURRENT)
        return 0;
    return gc_threads > 1 ? gc_threads - 1 : 1;
}

uint32_t gc_pool_workers(uint32_t gc_threads)
{
    uint32_t workers = gc_threads ? gc_threads : 1;
    uint32_t markers = gc_marker_tasks(gc_threads);
    return markers + 1 > workers ? markers + 1 : workers;
}

struct gc *gc_create(struct heap *heap, struct telemetry *telemetry)
{
    struct gc *gc = platform_calloc(1, sizeof *gc);
    pthread_mutex_init(&gc->background_lock, NULL);
    gc->heap = heap;
    gc->telemetry = telemetry;
    gc->scavenge_tasks = heap->config.gc_threads ? heap->config.gc_threads : 1;
    gc->marker_tasks = gc_marker_tasks(heap->config.gc_threads);
    gc->pool = worker_pool_create(gc_pool_workers(heap->config.gc_threads), "gc-worker");
    heap->gc = gc;
    heap->collect = collect;
    if (MARKING_CYCLES) {
        struct marking_options options = {
            .pool = gc->pool, .first_worker = 1, .markers = gc->marker_tasks};
        marking_init(heap, &options);
        update_old_limit(heap, heap_old_used_bytes(heap));
    }
    return gc;
}

void gc_destroy(struct gc *gc)
{
    /* Remembered sets belong to lib/barrier: release them before the heap frees pages. */
    struct space *old_spaces[] = {&gc->heap->old_space.base, &gc->heap->code_space.base,
                                  &gc->heap->large_space.base};
    if (MARKING_CYCLES) {
        marking_finish_sweeping(gc->heap);
        publish_pending_cycle(gc);
        marking_teardown(gc->heap);
    }
    for (size_t i = 0; i < ARRAY_LENGTH(old_spaces); i++)
        space_for_each_page(old_spaces[i], p) remset_release(p);
    worker_pool_destroy(gc->pool);
    gc->heap->collect = NULL;
    gc->heap->gc = NULL;
    pthread_mutex_destroy(&gc->background_lock);
    platform_free(gc);
}

void gc_mutator_attach(struct gc *gc, struct mutator *m, const char *name)
{
    heap_mutator_attach(gc->heap, m, name);
    remset_mutator_init(m);
    marking_mutator_init(m);
}

void gc_mutator_detach(struct mutator *m)
{
    struct gc *gc = m->heap->gc;
    __atomic_fetch_add(&gc->barrier_count, m->marking_barrier_count, __ATOMIC_RELAXED);
    /* Publish the marking buffer while still registered (a pause may yet see this
     * mutator while it unregisters); free it only once no pause can. */
    marking_mutator_flush(m);
    remset_mutator_teardown(m);
    heap_mutator_detach(m);
    marking_mutator_teardown(m);
}

void gc_collect(struct heap *heap, struct mutator *m, enum collect_request what)
{
    heap->collect(heap, m, what, REASON_FORCED, atomic_load(&heap->gc_epoch));
}
