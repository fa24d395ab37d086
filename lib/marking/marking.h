/*
 * lib/marking: the old-generation collector. One interface; the build compiles the
 * schedule selected by old_gc (stw.c now; incremental and concurrent with issue 4).
 *
 * Offers:  marking_full_gc, run inside a safepoint after the store buffers have been
 *          flushed and every LAB retired: marks everything reachable (young objects
 *          are traced but not moved), clears weak references to dead old objects,
 *          sweeps old, code and large space, and fills the pause's mark_ns, weak_ns,
 *          sweep_ns and the cycle's marked/swept bytes.
 * Needs:   lib/heap, lib/barrier (slot sets), lib/telemetry (tracer).
 */
#ifndef WALTZ_MARKING_H
#define WALTZ_MARKING_H

#include "heap/heap.h"
#include "telemetry/tracer.h"

void marking_full_gc(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle);
const char *marking_strategy_name(void);

/* Sweeping (sweep.c): returns free memory of unmarked objects to the free lists,
 * releases empty pages and dead large objects, clears every mark bit. */
uint64_t marking_sweep(struct heap *heap);

#endif
