/*
 * old_gc=concurrent: the marking of marker.c done by marker tasks on the GC worker pool,
 * beside the mutators (after V8's concurrent marking, Orinoco 2018). The tasks run as a
 * background job of the pool (worker_pool_start) on workers first_worker ..; each takes
 * grey objects from its own segments and the shared pool, and publishes its segments
 * when it stops. Every pause stops them first (they would race with a scavenge over
 * the remembered set and with the verifier), and the end of the pause starts them again
 * while the cycle has work. The last task to run out of work marks the cycle complete;
 * the next mutator to reach its allocation slow path then asks for the finalization
 * pause, which drains what the barriers greyed meanwhile.
 */
#include "marking/marker.h"

#include "platform/worker_pool.h"

const char *marking_strategy_name(void) { return "concurrent"; }

static void marker_task(uint32_t worker, void *arg)
{
    struct marking *mk = arg;
    struct heap *heap = mk->heap;
    uint64_t start_ns = platform_now_ns();
    struct mark_local local;
    mark_local_init(&local, &mk->pool);
    struct marker w;
    marker_init(&w, mk, &local);
    bool done = marker_drain(&w, UINT64_MAX, &mk->interrupt);
    uint64_t objects = w.objects;
    marker_finish(&w);
    mark_local_destroy(&local);
    if (atomic_fetch_sub(&mk->markers_working, 1) == 1 && done && mark_pool_is_empty(&mk->pool))
        atomic_store(&heap->marking_complete, true);
    uint64_t duration_ns = platform_now_ns() - start_ns;
    atomic_fetch_add(&mk->concurrent_ns, duration_ns);
    marking_record_work(mk, "mark_concurrent", "marking", worker, platform_thread_id(), start_ns,
                        duration_ns, objects);
}

/* After the finalization pause, the same tasks sweep the queued pages (sweep.c). */
static void sweeper_task(uint32_t worker, void *arg)
{
    struct marking *mk = arg;
    uint64_t start_ns = platform_now_ns(), pages = 0;
    while (!atomic_load_explicit(&mk->interrupt, memory_order_relaxed) &&
           marking_sweep_pages(&mk->sweeper, 1))
        pages++;
    uint64_t duration_ns = platform_now_ns() - start_ns;
    marking_record_work(mk, "sweep_concurrent", "sweeping", worker, platform_thread_id(), start_ns,
                        duration_ns, pages);
}

void marking_schedule_init(struct marking *mk) { mk->heap->marking_step = NULL; }

/* Marker tasks while the cycle has work, sweeper tasks while pages wait, else none. */
void marking_schedule_resume(struct marking *mk)
{
    struct heap *heap = mk->heap;
    if (mk->background_running || mk->options.markers == 0)
        return;
    void (*task)(uint32_t, void *);
    if (atomic_load(&heap->marking_active) && !atomic_load(&heap->marking_complete)) {
        task = marker_task;
        atomic_store(&mk->markers_working, mk->options.markers);
    } else if (atomic_load(&heap->sweeping)) {
        task = sweeper_task;
    } else {
        return;
    }
    atomic_store(&mk->interrupt, false);
    mk->background_running = true;
    worker_pool_start(mk->options.pool, mk->options.first_worker, mk->options.markers, task, mk);
}

void marking_schedule_pause(struct marking *mk)
{
    if (!mk->background_running)
        return;
    atomic_store(&mk->interrupt, true);
    worker_pool_join(mk->options.pool);
    mk->background_running = false;
}
