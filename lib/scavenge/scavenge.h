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

void scavenge_collect(struct heap *heap, struct gc_tracer *tracer);
const char *scavenge_strategy_name(void);

#endif
