/*
 * Marking cycles that span pauses (old_gc=incremental|concurrent): tri-colour marking
 * of the old generation beside running mutators, kept correct by a write barrier,
 * Dijkstra's insertion barrier (Dijkstra, Lamport, Martin, Scholten, Steffens, "On-the-fly
 * garbage collection: an exercise in cooperation", CACM 1978) or Yuasa's snapshot
 * barrier (Yuasa, "Real-time garbage collection on general-purpose machines", JSS 1990).
 *
 * The young generation is not marked: it is treated as a root of the old generation,
 * scanned whole (every object in to-space, live or not) when a cycle starts and again at
 * finalization, as in the mostly-concurrent collector of Printezis and Detlefs ("A
 * generational mostly-concurrent garbage collector", ISMM 2000). So the grey set only
 * ever holds old, code and large objects, which scavenges do not move: a scavenge that
 * runs during marking leaves the worklists valid, with nothing to forward and no young
 * entry to drop. What a scavenge must do is keep promoted objects consistent: an object
 * promoted during marking is black, and its fields, written while it was young and
 * unbarriered, are covered by the scavenger itself, which greys the old objects they
 * point to (all under dijkstra, the weak targets under satb; lib/scavenge/common.h
 * says why). The markers never scan a promoted object.
 *
 * Colours: white = mark bit clear; grey = mark bit set and on a worklist (a thread's
 * mark_local or the shared pool); black = mark bit set and scanned. Objects allocated
 * outside new space during a cycle (pretenured, large, code, maps, promoted) are black
 * from birth.
 *
 * Why each barrier suffices (with mutators' stores into young hosts unbarriered):
 *   dijkstra  a black object never points to a white old one, since every old-host store
 *             greys its value; an old object reachable only through young objects or
 *             roots is found by the finalization pause, which rescans the roots and the
 *             whole young generation and then finishes the trace.
 *   satb      every old object reachable at the start is marked: the start pause greys
 *             what roots and young objects point to; every old-to-old path of the
 *             snapshot is protected by greying overwritten values; objects created since
 *             are black (old) or not marked at all (young). No rescan of roots at the
 *             end, only of the young generation's weak slots.
 * Weak slots of old hosts are recorded when their host is scanned and decided at
 * finalization; a weak value stored into an old host during the cycle is greyed (its
 * host may already be black), and so is a weak reference a mutator turns into a strong
 * one (barrier_weak_read).
 */
#include "marking/marker.h"

#include <string.h>

#include "barrier/barrier.h"
#include "heap/spaces.h"
#include "heap/verify.h"
#include "platform/worker_pool.h"

struct marking *marking_of(struct heap *heap) { return heap->marking; }

void marking_record_work(struct marking *mk, const char *phase, const char *category,
                         uint32_t worker, int thread_id, uint64_t start_ns, uint64_t duration_ns,
                         uint64_t items)
{
    struct telemetry *t = mk->heap->telemetry;
    if (!t)
        return;
    struct phase_record rec = {
        .pause_id = TELEMETRY_NO_PAUSE,
        .cycle_id = mk->cycle_id,
        .phase = phase,
        .worker = worker,
        .start_ns = start_ns,
        .duration_ns = duration_ns,
        .items = items,
        .thread_id = thread_id,
    };
    telemetry_add_phase(t, &rec);
    telemetry_trace_span(t, thread_id, phase, category, start_ns, duration_ns);
}

void marker_init(struct marker *w, struct marking *mk, struct mark_local *local)
{
    w->marking = mk;
    w->local = local;
    w->weak_count = 0;
    w->bytes = w->objects = 0;
}

static void flush_weak(struct marker *w)
{
    struct marking *mk = w->marking;
    if (w->weak_count == 0)
        return;
    pthread_mutex_lock(&mk->weak_lock);
    if (mk->weak_count + w->weak_count > mk->weak_capacity) {
        size_t capacity = mk->weak_capacity ? mk->weak_capacity * 2 : 1024;
        while (capacity < mk->weak_count + w->weak_count)
            capacity *= 2;
        mk->weak = platform_realloc(mk->weak, capacity * sizeof *mk->weak);
        mk->weak_capacity = capacity;
    }
    memcpy(mk->weak + mk->weak_count, w->weak, w->weak_count * sizeof *w->weak);
    mk->weak_count += w->weak_count;
    pthread_mutex_unlock(&mk->weak_lock);
    w->weak_count = 0;
}

static inline void record_weak(struct marker *w, value_t *slot)
{
    if (w->weak_count == MARKER_WEAK_BUFFER)
        flush_weak(w);
    w->weak[w->weak_count++] = slot;
}

void marker_finish(struct marker *w)
{
    flush_weak(w);
    atomic_fetch_add_explicit(&w->marking->objects_count, w->objects, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->marking->marked_bytes, w->bytes, memory_order_relaxed);
    w->objects = 0;
    w->bytes = 0;
}

/* Greys v (a strong reference) if it is an unmarked old object. */
static inline void grey(struct marker *w, value_t v)
{
    struct object *target = value_to_object(v);
    struct page *p = page_of(target);
    if (page_flags(p) & PAGE_IN_YOUNG)
        return;
    if (page_mark_atomic(p, target))
        mark_local_push(w->local, target);
}

static void scan(struct marker *w, struct object *o)
{
    struct object *map = object_map(o);
    if (UNLIKELY(page_flags(page_of(o)) & PAGE_IN_YOUNG))
        platform_fatal("marking: a young object (%p) on the marking worklist", (void *)o);
    size_t start, end;
    object_tagged_range(o, map, &start, &end);
    value_t *slots = object_slots(o);
    for (size_t i = start; i < end; i++) {
        value_t v = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE); /* pairs with barrier_write */
        if (!value_is_ref(v))
            continue;
        if (value_is_weak(v))
            record_weak(w, &slots[i]);
        else
            grey(w, v);
    }
    w->bytes += object_size_with_map(o, map);
    w->objects++;
}

bool marker_drain(struct marker *w, uint64_t budget_bytes, _Atomic bool *interrupt)
{
    uint64_t limit = w->bytes + budget_bytes < w->bytes ? UINT64_MAX : w->bytes + budget_bytes;
    uint32_t until_check = 64;
    for (;;) {
        if (w->bytes >= limit)
            return false;
        if (interrupt && --until_check == 0) {
            until_check = 64;
            if (atomic_load_explicit(interrupt, memory_order_relaxed))
                return false;
        }
        struct object *o = mark_local_pop(w->local);
        if (!o)
            return true;
        scan(w, o);
    }
}

/* --- Pauses: roots, the young generation, finalization ------------------------------------- */

struct root_scan {
    struct marker *w;
    bool grey_strong, record_weak;
};

static void visit_root(value_t *slot, void *ctx)
{
    struct root_scan *rs = ctx;
    value_t v = *slot;
    if (!value_is_ref(v))
        return;
    if (value_is_weak(v)) {
        if (rs->record_weak)
            record_weak(rs->w, slot);
    } else if (rs->grey_strong) {
        grey(rs->w, v);
    }
}

/* Every object of to-space (the LABs are retired: pages parse to their allocation top).
 * Strong slots grey their old targets when grey_strong; weak slots are recorded when
 * record_weak_slots (only at finalization: a scavenge would move them). */
static uint64_t scan_young(struct marker *w, bool grey_strong, bool record_weak_slots)
{
    uint64_t objects = 0;
    space_for_each_page(&w->marking->heap->new_space.to, p)
    {
        for_each_object_in(p->area_start, p->alloc_top, o)
        {
            size_t start, end;
            object_tagged_range(o, object_map(o), &start, &end);
            value_t *slots = object_slots(o);
            for (size_t i = start; i < end; i++) {
                value_t v = slots[i];
                if (!value_is_ref(v))
                    continue;
                if (value_is_weak(v)) {
                    if (record_weak_slots)
                        record_weak(w, &slots[i]);
                } else if (grey_strong) {
                    grey(w, v);
                }
            }
            objects++;
        }
    }
    return objects;
}

static void set_barrier(struct mutator *m, void *arg) { m->marking_barrier = *(bool *)arg; }

/* A mutator that has registered but not yet set up its buffer (gc_mutator_attach) has
 * greyed nothing. */
static void publish_mutator(struct mutator *m, void *arg)
{
    if (m->marking_local)
        mark_local_publish(m->marking_local);
}

static void set_marking(struct heap *heap, bool on)
{
    atomic_store(&heap->marking_active, on);
    atomic_store(&heap->marking_complete, false);
    heap_for_each_mutator(heap, set_barrier, &on);
}

static void sweep_task(uint32_t worker, void *arg)
{
    (void)worker;
    marking_sweep_complete(arg);
}

/* The pages still queued for sweeping when a cycle starts (the next cycle's marks would
 * mix with theirs), swept inside the pause by the GC threads together. */
static void sweep_rest_in_pause(struct heap *heap, struct marking *mk)
{
    uint32_t tasks = heap->config.gc_threads ? heap->config.gc_threads : 1;
    if (!mk->options.pool || tasks < 2) {
        marking_sweep_complete(&mk->sweeper);
        return;
    }
    if (tasks > worker_pool_size(mk->options.pool))
        tasks = worker_pool_size(mk->options.pool);
    worker_pool_run(mk->options.pool, tasks, sweep_task, &mk->sweeper);
}

void marking_start(struct heap *heap, struct gc_tracer *tracer, uint64_t cycle_id)
{
    struct marking *mk = marking_of(heap);
    mk->cycle_id = cycle_id;
    mk->weak_count = 0;
    atomic_store(&mk->marked_bytes, 0);
    atomic_store(&heap->marking_black_bytes, 0);
    atomic_store(&mk->concurrent_ns, 0);
    atomic_store(&mk->steps_count, 0);
    atomic_store(&mk->objects_count, 0);
    struct mark_local local;
    mark_local_init(&local, &mk->pool);
    struct marker w;
    marker_init(&w, mk, &local);
    struct root_scan rs = {&w, true, false}; /* root slots move: weak ones wait for the end */
    if (atomic_load(&heap->sweeping)) {
        TRACE_PHASE(tracer, "sweep", sweep_ns, mk->sweeper.count)
        sweep_rest_in_pause(heap, mk);
    }
    uint64_t greyed = 0;
    TRACE_PHASE(tracer, "mark_roots", mark_ns, greyed)
    {
        set_marking(heap, true);
        for (size_t i = 0; i < heap->map_count; i++)
            grey(&w, value_from_object(heap->maps[i]));
        heap_visit_strong_roots(heap, visit_root, &rs);
        greyed = scan_young(&w, true, false);
    }
    mark_local_destroy(&local); /* publishes the grey objects */
    marker_finish(&w);
}

/* Weak slots whose target is an unmarked old object are cleared; young targets are the
 * scavenger's business. Returns how many were cleared. */
static size_t clear_dead_weak(struct marking *mk)
{
    size_t cleared = 0;
    for (size_t i = 0; i < mk->weak_count; i++) {
        value_t *slot = mk->weak[i];
        value_t v = *slot;
        if (!value_is_ref(v) || !value_is_weak(v))
            continue;
        struct object *o = value_to_object(v);
        if (!object_in_young(o) && !page_is_marked(page_of(o), o)) {
            *slot = VALUE_CLEARED;
            cleared++;
        }
    }
    return cleared;
}

static void clear_weak_root(value_t *slot, void *ctx)
{
    value_t v = *slot;
    if (!value_is_ref(v))
        return;
    struct object *o = value_to_object(v);
    if (!object_in_young(o) && !page_is_marked(page_of(o), o)) {
        *slot = VALUE_CLEARED;
        (*(size_t *)ctx)++;
    }
}

static void verify_marking(struct heap *heap, struct gc_tracer *tracer)
{
    if (!heap->config.verify_heap)
        return;
    char report[2048];
    uint64_t verify_ns = 0, start_ns = platform_now_ns();
    size_t problems = heap_verify_marking(heap, report, sizeof report);
    tracer_phase_end(tracer, "verify", &verify_ns, start_ns, problems);
    if (problems)
        platform_fatal("marking verification failed at finalization (pause %llu): %zu "
                       "problem(s): %s",
                       (unsigned long long)tracer->pause->pause_id, problems, report);
}

static void finalize(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle,
                     bool sweep_concurrently)
{
    struct marking *mk = marking_of(heap);
    struct mark_local local;
    mark_local_init(&local, &mk->pool);
    struct marker w;
    marker_init(&w, mk, &local);
    bool dijkstra = MARKING_DIJKSTRA;
    struct root_scan rs = {&w, dijkstra, true};
    uint64_t objects = 0;
    TRACE_PHASE(tracer, "mark", mark_ns, objects)
    {
        heap_for_each_mutator(heap, publish_mutator, NULL);
        heap_visit_strong_roots(heap, visit_root, &rs);
        scan_young(&w, dijkstra, true);
        marker_drain(&w, UINT64_MAX, NULL);
        objects = w.objects;
    }
    verify_marking(heap, tracer);
    marker_finish(&w);
    mark_local_destroy(&local);
    size_t cleared = 0;
    TRACE_PHASE(tracer, "weak", weak_ns, cleared)
    {
        cleared = clear_dead_weak(mk);
        heap_visit_weak_roots(heap, clear_weak_root, &cleared);
        heap_process_weak(heap);
    }
    set_marking(heap, false);
    uint64_t swept = 0;
    TRACE_PHASE(tracer, "sweep", sweep_ns, swept)
    {
        if (sweep_concurrently)
            swept = marking_sweep_start(heap, &mk->sweeper);
        else
            swept = marking_sweep(heap);
    }
    mk->swept_in_pause_bytes = sweep_concurrently ? swept : 0;
    cycle->marked_bytes = atomic_load(&mk->marked_bytes);
    cycle->swept_bytes = swept;
    cycle->code_unlinked_count = heap->weak_code_unlinked;
    if (tracer->pause)
        tracer->pause->code_unlinked = heap->weak_code_unlinked;
    cycle->osr_entries_cleared_count = heap->weak_osr_entries_cleared;
    heap->weak_code_unlinked = heap->weak_osr_entries_cleared = 0;
    cycle->concurrent_ns = atomic_load(&mk->concurrent_ns);
    mk->weak_count = 0;
}

void marking_finalize(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle)
{
    finalize(heap, tracer, cycle, MARKING_CONCURRENT);
}

/* A whole cycle in one pause sweeps in it too: the caller wants the memory back now. */
void marking_full_gc(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle)
{
    marking_start(heap, tracer, cycle->cycle_id);
    finalize(heap, tracer, cycle, false);
}

bool marking_swept_bytes(struct heap *heap, uint64_t *swept_bytes)
{
    struct marking *mk = marking_of(heap);
    if (atomic_load(&heap->sweeping))
        return false;
    *swept_bytes = mk->swept_in_pause_bytes + atomic_load(&mk->sweeper.freed_bytes);
    return true;
}

void marking_finish_sweeping(struct heap *heap)
{
    struct marking *mk = marking_of(heap);
    marking_schedule_pause(mk);
    if (atomic_load(&heap->sweeping))
        marking_sweep_complete(&mk->sweeper);
}

static void sweep_on_demand(struct heap *heap)
{
    marking_sweep_pages(&marking_of(heap)->sweeper, 1);
}

void marking_init(struct heap *heap, const struct marking_options *options)
{
    struct marking *mk = platform_calloc(1, sizeof *mk);
    mk->heap = heap;
    mk->options = *options;
    mark_pool_init(&mk->pool);
    pthread_mutex_init(&mk->weak_lock, NULL);
    heap->marking = mk;
    heap->mark_pool = &mk->pool;
    heap->sweep_step = sweep_on_demand;
    marking_schedule_init(mk);
}

void marking_teardown(struct heap *heap)
{
    struct marking *mk = marking_of(heap);
    marking_schedule_pause(mk);
    marking_sweeper_free(&mk->sweeper);
    atomic_store(&heap->sweeping, false);
    heap->sweep_step = NULL;
    mark_pool_clear(&mk->pool);
    mark_pool_destroy(&mk->pool);
    pthread_mutex_destroy(&mk->weak_lock);
    platform_free(mk->weak);
    heap->marking = NULL;
    heap->mark_pool = NULL;
    heap->marking_step = NULL;
    platform_free(mk);
}

void marking_pause(struct heap *heap) { marking_schedule_pause(marking_of(heap)); }

void marking_resume(struct heap *heap) { marking_schedule_resume(marking_of(heap)); }
