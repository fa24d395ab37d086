/*
 * The marking worklist's segments and pool (marking_worklist.h). A segment is owned by
 * one thread while it is a push or pop segment, by the pool while it is listed there;
 * the pool's mutex orders every hand-over, so a segment's entries written by one thread
 * are visible to the thread that takes it.
 */
#include "barrier/marking_worklist.h"

#include <string.h>

void mark_pool_init(struct mark_pool *pool)
{
    memset(pool, 0, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
}

static void free_chain(struct mark_segment *s)
{
    while (s) {
        struct mark_segment *next = s->next;
        platform_free(s);
        s = next;
    }
}

void mark_pool_destroy(struct mark_pool *pool)
{
    free_chain(pool->full);
    free_chain(pool->free_list);
    pthread_mutex_destroy(&pool->lock);
}

void mark_pool_clear(struct mark_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    struct mark_segment *s = pool->full;
    while (s) {
        struct mark_segment *next = s->next;
        s->count = 0;
        s->next = pool->free_list;
        pool->free_list = s;
        s = next;
    }
    pool->full = NULL;
    atomic_store_explicit(&pool->full_count, 0, memory_order_release);
    pthread_mutex_unlock(&pool->lock);
}

/* Hands s (non-empty) to the pool and returns an empty segment in exchange. */
static struct mark_segment *exchange(struct mark_pool *pool, struct mark_segment *s)
{
    pthread_mutex_lock(&pool->lock);
    struct mark_segment *fresh = NULL;
    if (s) {
        s->next = pool->full;
        pool->full = s;
        atomic_fetch_add_explicit(&pool->full_count, 1, memory_order_release);
    }
    if (pool->free_list) {
        fresh = pool->free_list;
        pool->free_list = fresh->next;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!fresh)
        fresh = platform_alloc(sizeof *fresh);
    fresh->next = NULL;
    fresh->count = 0;
    return fresh;
}

static void give_back(struct mark_pool *pool, struct mark_segment *s)
{
    pthread_mutex_lock(&pool->lock);
    s->count = 0;
    s->next = pool->free_list;
    pool->free_list = s;
    pthread_mutex_unlock(&pool->lock);
}

void mark_local_init(struct mark_local *local, struct mark_pool *pool)
{
    local->pool = pool;
    local->push = local->pop = NULL;
}

void mark_local_destroy(struct mark_local *local)
{
    mark_local_publish(local);
    if (local->push)
        give_back(local->pool, local->push);
    if (local->pop)
        give_back(local->pool, local->pop);
    local->push = local->pop = NULL;
}

void mark_local_push_slow(struct mark_local *local, struct object *o)
{
    struct mark_segment *s = local->push;
    if (!s) {
        local->push = exchange(local->pool, NULL);
    } else if (local->pop && local->pop->count == 0) {
        /* Keep the full segment as the pop segment and push into the empty one. */
        local->push = local->pop;
        local->pop = s;
    } else {
        local->push = exchange(local->pool, s);
    }
    local->push->objects[local->push->count++] = o;
}

struct object *mark_local_pop_slow(struct mark_local *local)
{
    if (local->pop && local->pop->count > 0)
        return local->pop->objects[--local->pop->count];
    if (mark_pool_is_empty(local->pool))
        return NULL;
    struct mark_pool *pool = local->pool;
    pthread_mutex_lock(&pool->lock);
    struct mark_segment *s = pool->full;
    if (s) {
        pool->full = s->next;
        atomic_fetch_sub_explicit(&pool->full_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&pool->lock);
    if (!s)
        return NULL;
    if (local->pop)
        give_back(pool, local->pop);
    local->pop = s;
    return s->objects[--s->count];
}

void mark_local_publish(struct mark_local *local)
{
    struct mark_pool *pool = local->pool;
    struct mark_segment *segments[2] = {local->push, local->pop};
    for (int i = 0; i < 2; i++) {
        struct mark_segment *s = segments[i];
        if (!s || s->count == 0)
            continue;
        pthread_mutex_lock(&pool->lock);
        s->next = pool->full;
        pool->full = s;
        atomic_fetch_add_explicit(&pool->full_count, 1, memory_order_release);
        pthread_mutex_unlock(&pool->lock);
        if (i == 0)
            local->push = NULL;
        else
            local->pop = NULL;
    }
}

bool mark_local_is_empty(const struct mark_local *local)
{
    return (!local->push || local->push->count == 0) && (!local->pop || local->pop->count == 0);
}
