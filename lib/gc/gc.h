/*
 * lib/gc: the collection policy and the orchestration of a pause.
 *
 * Policy: a scavenge when new space cannot hand out a LAB; a full GC when the old
 * generation (old + code + large) passes its growing limit (twice what survived the last
 * full GC, at least 32 MiB), checked after every scavenge and on old-space allocation;
 * a forced GC on request; with --gc-stress N a GC every N allocations of each mutator
 * (every fourth of them full). The hard limit (--heap-size) bounds every page held;
 * a full GC that cannot get under it ends the run with a heap-exhaustion error.
 *
 * A pause: stop the world (time to safepoint), retire every LAB, flush the store
 * buffers (remset), verify if asked, collect, verify again, resume. Each step is a
 * phase in pauses.csv and phases.csv.
 *
 * Offers:  gc_create/destroy (installs heap->collect), mutator attach/detach that also
 *          set up the remembered-set state, forced collections.
 * Needs:   every lower module.
 */
#ifndef WALTZ_GC_H
#define WALTZ_GC_H

#include "heap/heap.h"
#include "telemetry/telemetry.h"

struct gc {
    struct heap *heap;
    struct telemetry *telemetry;
    uint64_t next_pause_id, next_cycle_id;
    uint64_t scavenges, full_gcs;
    uint64_t verified_count;
    struct worker_pool *pool; /* GC workers: heap->config.gc_threads, task 0 is the caller */
};

struct gc *gc_create(struct heap *heap, struct telemetry *telemetry);
void gc_destroy(struct gc *gc);

void gc_mutator_attach(struct gc *gc, struct mutator *m, const char *name);
void gc_mutator_detach(struct mutator *m);

/* A collection requested by the program (reason "forced"). m may be NULL when the
 * caller is not a mutator. */
void gc_collect(struct heap *heap, struct mutator *m, enum collect_request what);

#endif
