/*
 * old_gc=incremental: the marking of marker.c done in bounded steps on the mutators'
 * allocation slow path (after V8's incremental marking, driven by allocation). Every
 * MARKING_STEP_BYTES that a mutator allocates, it scans MARKING_STEP_FACTOR times as
 * many bytes of grey objects, taken from its own marking buffer and the shared pool.
 * A step that finds no work left marks the cycle complete, and the mutator asks for the
 * finalization pause. Several mutators may step at once: the worklist is shared as it
 * is for concurrent markers.
 */
#include "marking/marker.h"

#define MARKING_STEP_BYTES ((size_t)128 * 1024)
#define MARKING_STEP_FACTOR 2

const char *marking_strategy_name(void) { return "incremental"; }

static void step(struct mutator *m, size_t allocated_bytes)
{
    struct heap *heap = m->heap;
    struct marking *mk = marking_of(heap);
    m->marking_step_debt_bytes += allocated_bytes;
    if (m->marking_step_debt_bytes < MARKING_STEP_BYTES ||
        atomic_load_explicit(&heap->marking_complete, memory_order_relaxed))
        return;
    uint64_t budget = (uint64_t)m->marking_step_debt_bytes * MARKING_STEP_FACTOR;
    m->marking_step_debt_bytes = 0;
    uint64_t start_ns = platform_now_ns();
    struct marker w;
    marker_init(&w, mk, m->marking_local);
    bool done = marker_drain(&w, budget, NULL);
    uint64_t objects = w.objects;
    marker_finish(&w);
    if (done)
        atomic_store(&heap->marking_complete, true);
    uint64_t duration_ns = platform_now_ns() - start_ns;
    atomic_fetch_add(&mk->concurrent_ns, duration_ns);
    atomic_fetch_add(&mk->steps_count, 1);
    marking_record_work(mk, "mark_step", "marking", 0, m->safepoint.thread_id, start_ns,
                        duration_ns, objects);
}

void marking_schedule_init(struct marking *mk) { mk->heap->marking_step = step; }
/* Sweeping is done in the finalization pause: there is nothing to resume. */
void marking_schedule_resume(struct marking *mk) {}
void marking_schedule_pause(struct marking *mk) {}
