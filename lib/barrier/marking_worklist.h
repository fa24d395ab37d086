/*
 * The marking worklist: grey old-generation objects, in segments (after V8's
 * MarkingWorklist, a segmented worklist with a global pool). Every thread that marks, a
 * marker task, a mutator in its barrier or its incremental step, a scavenger task that
 * promotes during marking, owns a mark_local: a push segment and a pop segment that only
 * it touches. Full segments are published to the shared mark_pool, from which any
 * thread takes a whole segment when its own are empty. Only the pool is shared; it is a
 * list of segments under one mutex, taken once per MARK_SEGMENT_CAPACITY objects.
 *
 * It lives in lib/barrier because the marking barrier, below lib/marking, pushes to it.
 * The pool holds only old-generation objects (old, code, large space): young objects
 * are never marked (lib/marking/marker.c says why), so a scavenge never has to update it.
 *
 * Offers:  mark_pool_init/destroy, mark_local_init/destroy, push, pop, publish, emptiness.
 * Needs:   lib/heap (objects), lib/platform (allocation).
 */
#ifndef WALTZ_BARRIER_MARKING_WORKLIST_H
#define WALTZ_BARRIER_MARKING_WORKLIST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "heap/object.h"
#include "platform/platform.h"

#define MARK_SEGMENT_CAPACITY 254

struct mark_segment {
    struct mark_segment *next;
    size_t count;
    struct object *objects[MARK_SEGMENT_CAPACITY];
};

struct mark_pool {
    pthread_mutex_t lock;
    struct mark_segment *full;      /* published segments, under lock */
    struct mark_segment *free_list; /* empty segments kept for reuse, under lock */
    _Atomic size_t full_count;      /* read without the lock to test for work */
};

struct mark_local {
    struct mark_pool *pool;
    struct mark_segment *push, *pop; /* NULL until first used */
};

void mark_pool_init(struct mark_pool *pool);
/* Frees every segment; the pool must hold no work. */
void mark_pool_destroy(struct mark_pool *pool);
static inline bool mark_pool_is_empty(struct mark_pool *pool)
{
    return atomic_load_explicit(&pool->full_count, memory_order_acquire) == 0;
}
/* Forgets every published object (an aborted cycle, tests). */
void mark_pool_clear(struct mark_pool *pool);

void mark_local_init(struct mark_local *local, struct mark_pool *pool);
/* Publishes what is left, then gives the segments back to the pool. */
void mark_local_destroy(struct mark_local *local);

void mark_local_push_slow(struct mark_local *local, struct object *o);
struct object *mark_local_pop_slow(struct mark_local *local);

static inline void mark_local_push(struct mark_local *local, struct object *o)
{
    struct mark_segment *s = local->push;
    if (UNLIKELY(!s || s->count == MARK_SEGMENT_CAPACITY)) {
        mark_local_push_slow(local, o);
        return;
    }
    s->objects[s->count++] = o;
}

/* The next grey object: from this thread's segments, else a segment from the pool.
 * NULL when both are empty. */
static inline struct object *mark_local_pop(struct mark_local *local)
{
    struct mark_segment *s = local->push;
    if (LIKELY(s && s->count > 0))
        return s->objects[--s->count];
    return mark_local_pop_slow(local);
}

/* Makes this thread's grey objects visible to the others (before it stops marking). */
void mark_local_publish(struct mark_local *local);
bool mark_local_is_empty(const struct mark_local *local);

#endif
