/*
 * What old_gc=incremental and old_gc=concurrent share (marker.c): the marking cycle's
 * state, the tracing loop that any thread may run beside the others, and the start and
 * finalization pauses. incremental.c and concurrent.c differ only in who runs the loop
 * between the two pauses: mutators in bounded steps, or marker tasks on the GC worker
 * pool. Internal to lib/marking.
 */
#ifndef WALTZ_MARKING_MARKER_H
#define WALTZ_MARKING_MARKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "barrier/marking_worklist.h"
#include "marking/marking.h"

#define MARKER_WEAK_BUFFER 64

struct marking {
    struct heap *heap;
    struct mark_pool pool;
    struct marking_options options;
    /* Weak slots met while tracing (old hosts: they do not move), under weak_lock. */
    pthread_mutex_t weak_lock;
    value_t **weak;
    size_t weak_count, weak_capacity;
    /* Work done outside pauses, by marker tasks or mutator steps. */
    _Atomic uint64_t marked_bytes, concurrent_ns, steps_count, objects_count;
    uint64_t cycle_id;
    /* Concurrent sweeping (concurrent.c) after the finalization pause. */
    struct sweeper sweeper;
    uint64_t swept_in_pause_bytes;
    /* concurrent.c */
    _Atomic bool interrupt;
    bool background_running;
    _Atomic uint32_t markers_working;
};

/* One thread's view while it marks: its worklist segments and its weak-slot buffer. */
struct marker {
    struct marking *marking;
    struct mark_local *local;
    value_t *weak[MARKER_WEAK_BUFFER];
    size_t weak_count;
    uint64_t bytes, objects;
};

struct marking *marking_of(struct heap *heap);
void marker_init(struct marker *w, struct marking *mk, struct mark_local *local);
/* Hands the buffered weak slots and the counts to the cycle (the local is the caller's). */
void marker_finish(struct marker *w);
/* Traces until the worklist (this thread's segments and the pool) is empty, budget_bytes
 * of objects have been scanned, or *interrupt (may be NULL) is set. Returns true when it
 * stopped because there was no work left. */
bool marker_drain(struct marker *w, uint64_t budget_bytes, _Atomic bool *interrupt);

/* Work done outside a pause: a phases.csv row (empty pause_id) and a trace span. */
void marking_record_work(struct marking *mk, const char *phase, const char *category,
                         uint32_t worker, int thread_id, uint64_t start_ns, uint64_t duration_ns,
                         uint64_t items);

/* Installed by the schedule: called by marking_init and at the end of every pause. */
void marking_schedule_init(struct marking *mk);
void marking_schedule_resume(struct marking *mk);
void marking_schedule_pause(struct marking *mk);

#endif
