/*
 * lib/scavenge: the young-generation collector. One interface; the build compiles the
 * strategy selected by the young_gc option (serial.c now; parallel.c with issue 3).
 *
 * Offers:  scavenge_collect, run inside a safepoint after the store buffers have been
 *          flushed and every LAB retired. It evacuates every live young object into
 *          to-space or (if it survived one scavenge already) into old space, updates
 *          every root, remembered slot and weak reference, and fills the pause record's
 *          roots_ns, evacuate_ns, weak_ns, young/copied/promoted bytes and remset_slots.
 * Needs:   lib/heap (spaces, roots), lib/barrier (slot sets), lib/telemetry (tracer).
 */
#ifndef WALTZ_SCAVENGE_H
#define WALTZ_SCAVENGE_H

#include "heap/heap.h"
#include "telemetry/tracer.h"

struct worker_pool;

struct scavenge_options {
    struct worker_pool *pool; /* parallel: the GC worker pool */
    uint32_t tasks;           /* parallel: how many of its workers take part (>= 1) */
    bool steal;               /* parallel: work stealing (false: static partitioning) */
    bool last_child_first;    /* parallel: scan an object's last slot's child first */
};

void scavenge_collect(struct heap *heap, struct gc_tracer *tracer,
                      const struct scavenge_options *options);
const char *scavenge_strategy_name(void);

#endif
