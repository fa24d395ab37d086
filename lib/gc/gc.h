/*
 * lib/gc: the collection policy and the orchestration of a pause.
 *
 * Policy: a scavenge when new space cannot hand out a LAB; a full GC when the old
 * generation (old + code + large) passes its growing limit (twice what survived the last
 * full GC, at least 32 MiB), checked after every scavenge and on old-space allocation;
 * a forced GC on request; with --gc-stress N a GC every N allocations of each mutator
 * (every fourth of them full). With marking cycles (old_gc=incremental|concurrent), a
 * cycle starts when the old generation passes 70% of its limit (mark_start), and ends
 * (mark_finalize) when the markers run out of work, or at once if the limit itself is
 * reached; a forced collection with no cycle under way is a whole cycle in one pause
 * (full). Under --gc-stress the fourth collections alternate between starting and
 * finishing a cycle, so that scavenges run during marking. The hard limit (--heap-size) bounds
 * every page held; a full GC that cannot get under it ends the run with a heap-exhaustion error.
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
    uint64_t scavenges, full_gcs, mark_cycles;
    uint64_t old_pauses; /* full, mark_start and mark_finalize pauses */
    uint64_t verified_count;
    /* GC workers: task 0 is the caller. Scavenges use scavenge_tasks of them
     * (--gc-threads); under old_gc=concurrent the marker tasks run on workers 1.. beside
     * the mutators, so the pool has at least two. */
    struct worker_pool *pool;
    uint32_t scavenge_tasks, marker_tasks;
    /* The marking cycle under way (old_gc=incremental|concurrent), from its start pause. */
    struct cycle_record marking_cycle;
    uint64_t barrier_count;            /* objects greyed by mutators' barriers in that cycle */
    struct cycle_record pending_cycle; /* finished, waiting for its sweeping to end */
    pthread_mutex_t background_lock;   /* from a pause's start to its background tasks' restart */
    bool cycle_pending;
};

struct gc *gc_create(struct heap *heap, struct telemetry *telemetry);

/* For --gc-threads N: the concurrent marker tasks (old_gc=concurrent: N-1, at least 1;
 * otherwise 0) and the size of the worker pool (N, or markers + 1 if that is more). */
uint32_t gc_marker_tasks(uint32_t gc_threads);
uint32_t gc_pool_workers(uint32_t gc_threads);
void gc_destroy(struct gc *gc);

void gc_mutator_attach(struct gc *gc, struct mutator *m, const char *name);
void gc_mutator_detach(struct mutator *m);

/* A collection requested by the program (reason "forced"). m may be NULL when the
 * caller is not a mutator. */
void gc_collect(struct heap *heap, struct mutator *m, enum collect_request what);

#endif
