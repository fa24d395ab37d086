/*
 * lib/marking: the old-generation collector. One interface; the build compiles the
 * schedule selected by old_gc: stw.c, or marker.c with incremental.c or concurrent.c.
 *
 * Offers:  marking_full_gc, run inside a safepoint after the store buffers have been
 *          flushed and every LAB retired: a whole collection in one pause. It marks
 *          everything reachable, clears weak references to dead old objects, sweeps old,
 *          code and large space, and fills the pause's mark_ns, weak_ns, sweep_ns and the
 *          cycle's marked/swept bytes.
 *          With old_gc=incremental|concurrent (MARKING_CYCLES), a marking cycle spans
 *          pauses: marking_start (pause kind mark_start) greys the roots and turns the
 *          marking barrier on; between pauses the old generation is traced by mutator
 *          steps or marker tasks while the mutators run; marking_finalize (mark_finalize)
 *          finishes it, processes weak references and sweeps. Scavenges may run in
 *          between: lib/gc calls marking_pause/marking_resume around every pause.
 * Needs:   lib/heap, lib/barrier (slot sets, marking worklist), lib/telemetry (tracer),
 *          lib/platform (the GC worker pool, for concurrent marker tasks).
 */
#ifndef WALTZ_MARKING_H
#define WALTZ_MARKING_H

#include "heap/heap.h"
#include "telemetry/tracer.h"
#include "waltz_config.h"

#if WALTZ_OLD_GC_STW
#define MARKING_CYCLES 0
#else
#define MARKING_CYCLES 1
#endif
#if WALTZ_OLD_GC_CONCURRENT
#define MARKING_CONCURRENT 1
#else
#define MARKING_CONCURRENT 0
#endif
#if WALTZ_MARKING_BARRIER_DIJKSTRA
#define MARKING_DIJKSTRA 1
#else
#define MARKING_DIJKSTRA 0
#endif

struct worker_pool;

void marking_full_gc(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle);
const char *marking_strategy_name(void);

/* Sweeping (sweep.c): returns free memory of unmarked objects to the free lists,
 * releases empty pages and dead large objects, clears every mark bit. */
uint64_t marking_sweep(struct heap *heap);

/* Concurrent sweeping (old_gc=concurrent): start in a pause (sweeps large space, queues
 * the old and code pages, sets heap->sweeping; returns the bytes freed so far), then
 * any thread claims queued pages (marking_sweep_pages: true while pages remain
 * unclaimed); complete sweeps all that is left, in a pause with no sweeper running. */
struct sweeper {
    struct heap *heap;
    struct page **pages;
    struct paged_space **spaces;
    size_t count, capacity;
    _Atomic size_t next, done;
    _Atomic uint64_t freed_bytes;
};
uint64_t marking_sweep_start(struct heap *heap, struct sweeper *sw);
bool marking_sweep_pages(struct sweeper *sw, size_t max_pages);
void marking_sweep_complete(struct sweeper *sw);
void marking_sweeper_free(struct sweeper *sw);

/* --- Marking cycles (MARKING_CYCLES) ------------------------------------------------------ */
struct marking_options {
    struct worker_pool *pool; /* concurrent: marker tasks run on workers first .. */
    uint32_t first_worker, markers;
};

#if !MARKING_CYCLES
/* old_gc=stw has no cycles: nothing to set up, pause or resume; lib/gc never starts one. */
static inline void marking_init(struct heap *heap, const struct marking_options *options) {}
static inline void marking_teardown(struct heap *heap) {}
static inline void marking_pause(struct heap *heap) {}
static inline void marking_resume(struct heap *heap) {}
static inline void marking_finish_sweeping(struct heap *heap) {}
static inline bool marking_swept_bytes(struct heap *heap, uint64_t *swept_bytes) { return false; }
static inline void marking_start(struct heap *heap, struct gc_tracer *tracer, uint64_t cycle_id)
{
    platform_fatal("old_gc=stw has no marking cycles");
}
static inline void marking_finalize(struct heap *heap, struct gc_tracer *tracer,
                                    struct cycle_record *cycle)
{
    platform_fatal("old_gc=stw has no marking cycles");
}
#else

void marking_init(struct heap *heap, const struct marking_options *options);
void marking_teardown(struct heap *heap);
/* Inside a pause. */
void marking_start(struct heap *heap, struct gc_tracer *tracer, uint64_t cycle_id);
void marking_finalize(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle);
/* At the start of every pause (stops the marker and sweeper tasks; grey objects go to
 * the pool) and at its end (restarts them if the cycle or sweeping still has work). */
void marking_pause(struct heap *heap);
void marking_resume(struct heap *heap);
/* Stops the background tasks and sweeps what is left (no mutator may be allocating). */
void marking_finish_sweeping(struct heap *heap);
/* The bytes the last cycle's sweeping freed, once it is complete (false before). */
bool marking_swept_bytes(struct heap *heap, uint64_t *swept_bytes);
#endif

#endif
