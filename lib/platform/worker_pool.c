/*
 * The GC worker pool: persistent threads, blocked on a condition variable between jobs,
 * woken one by one for the tasks a job needs (a fork-join pool in the style of
 * HotSpot's WorkGang, without spinning).
 *
 * Protocol. Each worker w >= 1 owns a mutex, a condition variable and posted_job, the
 * number of jobs posted to it; it remembers taken_job, the number it has taken. The caller
 * of worker_pool_run writes the job (fn, arg, remaining = tasks-1) into the pool, then for
 * w in 1 .. tasks-1 increments w's posted_job under w's mutex and signals w. A worker
 * sleeps while posted_job == taken_job; when they differ it takes the job (taken_job =
 * posted_job), runs fn(w, arg), and decrements remaining under done_mutex, signalling
 * done_cond when it reaches 0. The caller runs fn(0, arg) itself, then waits on done_cond
 * until remaining == 0. Workers tasks .. size-1 are never signalled and sleep on.
 *
 * Invariant: between jobs, every worker w >= 1 has posted_job == taken_job and remaining
 * is 0; during a job, posted_job == taken_job + 1 exactly for the workers 1 .. tasks-1 that
 * have not yet taken it, and remaining counts those that have not finished it. Because
 * posted_job only changes under the worker's mutex and the worker tests it under that
 * mutex before waiting, no wake-up is lost (a signal sent before the worker waits finds
 * the predicate already true). Ordering comes from the locks: the caller's writes, the
 * job included, happen before its unlock of w's mutex, which happens before w reads the
 * job; a worker's writes happen before its unlock of done_mutex, which happens before the
 * caller sees remaining == 0. A worker reads the job only between taking it and its
 * decrement, so the caller may overwrite it for the next job once remaining == 0.
 * Shutdown sets a flag under each worker's mutex and signals it the same way.
 *
 * Placement: each worker w >= 1 takes the slot "GC worker w" of the active placement
 * (platform/placement.h) as it starts, before it reports for duty, so a pool created
 * under a placement is bound before worker_pool_create returns. Worker 0, the caller,
 * keeps the binding of whichever thread calls worker_pool_run.
 */
#include "platform/worker_pool.h"

#include "platform/placement.h"
#include "platform/platform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define WORKER_POOL_CACHE_LINE_BYTES 64

struct worker_pool_worker {
    _Alignas(WORKER_POOL_CACHE_LINE_BYTES) pthread_mutex_t mutex;
    pthread_cond_t wake;
    uint64_t posted_job; /* under mutex */
    bool shutdown;       /* under mutex */
    struct worker_pool *pool;
    uint32_t index;
    int thread_id;
    struct worker_pool_stats stats; /* written by the worker while it holds a job */
    struct platform_thread thread;
};

struct worker_pool {
    uint32_t size;
    atomic_bool running; /* catches nested or concurrent worker_pool_run calls */

    /* The current job: written by the caller before posting, read by workers after. */
    void (*fn)(uint32_t worker, void *arg);
    void *arg;
    uint64_t posted_ns;

    pthread_mutex_t done_mutex;
    pthread_cond_t done_cond;
    uint32_t remaining; /* under done_mutex once posted */

    struct worker_pool_worker *workers; /* size entries; [0] holds the caller's stats */
};

static void worker_pool_lock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_lock(m);
    if (rc != 0)
        platform_fatal("worker pool: pthread_mutex_lock failed: %s", strerror(rc));
}

static void worker_pool_unlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

static void worker_pool_finished(struct worker_pool *pool)
{
    worker_pool_lock(&pool->done_mutex);
    if (--pool->remaining == 0)
        pthread_cond_signal(&pool->done_cond);
    worker_pool_unlock(&pool->done_mutex);
}

static void worker_pool_wait_done(struct worker_pool *pool)
{
    worker_pool_lock(&pool->done_mutex);
    while (pool->remaining != 0)
        pthread_cond_wait(&pool->done_cond, &pool->done_mutex);
    worker_pool_unlock(&pool->done_mutex);
}

static void worker_pool_post(struct worker_pool_worker *w, bool shutdown)
{
    worker_pool_lock(&w->mutex);
    if (shutdown)
        w->shutdown = true;
    else
        w->posted_job++;
    worker_pool_unlock(&w->mutex);
    pthread_cond_signal(&w->wake);
}

static void *worker_pool_main(void *arg)
{
    struct worker_pool_worker *w = arg;
    struct worker_pool *pool = w->pool;
    uint64_t taken_job = 0;

    w->thread_id = platform_thread_id();
    /* Before the start-up handshake: once worker_pool_create returns, every worker runs
     * where the active placement put it (or the run has failed). */
    placement_bind_current_thread(PLACEMENT_GC, w->index);
    worker_pool_finished(pool); /* start-up: the creator waits for every thread */

    for (;;) {
        uint64_t wait_start_ns = platform_now_ns();
        worker_pool_lock(&w->mutex);
        while (w->posted_job == taken_job && !w->shutdown)
            pthread_cond_wait(&w->wake, &w->mutex);
        bool stop = w->shutdown;
        taken_job = w->posted_job;
        worker_pool_unlock(&w->mutex);
        if (stop)
            break;

        uint64_t start_ns = platform_now_ns();
        w->stats.idle_wait_ns += start_ns - wait_start_ns;
        w->stats.wake_latency_ns += start_ns > pool->posted_ns ? start_ns - pool->posted_ns : 0;
        pool->fn(w->index, pool->arg);
        w->stats.busy_ns += platform_now_ns() - start_ns;
        w->stats.jobs_count++;
        worker_pool_finished(pool);
    }
    return NULL;
}

uint32_t worker_pool_default_threads(void) { return (uint32_t)platform_available_cores(); }

struct worker_pool *worker_pool_create(uint32_t threads, const char *name_prefix)
{
    if (threads == 0)
        platform_fatal("worker pool: needs at least one thread");
    struct worker_pool *pool = platform_calloc(1, sizeof *pool);
    pool->size = threads;
    atomic_init(&pool->running, false);
    pthread_mutex_init(&pool->done_mutex, NULL);
    pthread_cond_init(&pool->done_cond, NULL);

    size_t workers_bytes = (size_t)threads * sizeof(struct worker_pool_worker);
    pool->workers = platform_aligned_alloc(WORKER_POOL_CACHE_LINE_BYTES, workers_bytes);
    if (!pool->workers)
        platform_fatal("out of memory: worker pool of %u threads", threads);
    memset(pool->workers, 0, workers_bytes);

    pool->remaining = threads - 1;
    for (uint32_t i = 0; i < threads; i++) {
        struct worker_pool_worker *w = &pool->workers[i];
        pthread_mutex_init(&w->mutex, NULL);
        pthread_cond_init(&w->wake, NULL);
        w->pool = pool;
        w->index = i;
        if (i == 0) {
            w->thread_id = platform_thread_id();
            continue;
        }
        char name[64]; /* platform_thread_start keeps the first 15 characters */
        snprintf(name, sizeof name, "%s%u", name_prefix ? name_prefix : "worker-", i);
        platform_thread_start(&w->thread, name, worker_pool_main, w);
    }
    worker_pool_wait_done(pool);
    return pool;
}

void worker_pool_destroy(struct worker_pool *pool)
{
    if (!pool)
        return;
    if (atomic_load(&pool->running))
        platform_fatal("worker pool: destroyed while a job runs");
    for (uint32_t i = 1; i < pool->size; i++)
        worker_pool_post(&pool->workers[i], true);
    for (uint32_t i = 1; i < pool->size; i++)
        platform_thread_join(&pool->workers[i].thread);
    for (uint32_t i = 0; i < pool->size; i++) {
        pthread_mutex_destroy(&pool->workers[i].mutex);
        pthread_cond_destroy(&pool->workers[i].wake);
    }
    pthread_mutex_destroy(&pool->done_mutex);
    pthread_cond_destroy(&pool->done_cond);
    platform_free(pool->workers);
    platform_free(pool);
}

uint32_t worker_pool_size(const struct worker_pool *pool) { return pool->size; }

void worker_pool_run(struct worker_pool *pool, uint32_t tasks,
                     void (*fn)(uint32_t worker, void *arg), void *arg)
{
    if (tasks == 0 || tasks > pool->size)
        platform_fatal("worker pool: %u tasks on a pool of %u workers", tasks, pool->size);
    if (atomic_exchange(&pool->running, true))
        platform_fatal("worker pool: worker_pool_run is not reentrant");
    pool->workers[0].thread_id = platform_thread_id();

    uint64_t start_ns = platform_now_ns();
    if (tasks > 1) {
        pool->fn = fn;
        pool->arg = arg;
        pool->posted_ns = start_ns;
        pool->remaining = tasks - 1;
        for (uint32_t i = 1; i < tasks; i++)
            worker_pool_post(&pool->workers[i], false);
    }

    struct worker_pool_stats *own = &pool->workers[0].stats;
    uint64_t fn_start_ns = platform_now_ns();
    fn(0, arg);
    uint64_t fn_end_ns = platform_now_ns();
    own->busy_ns += fn_end_ns - fn_start_ns;
    own->jobs_count++;

    if (tasks > 1) {
        worker_pool_wait_done(pool);
        own->idle_wait_ns += platform_now_ns() - fn_end_ns;
    }
    atomic_store(&pool->running, false);
}

int worker_pool_thread_id(const struct worker_pool *pool, uint32_t worker)
{
    if (worker >= pool->size)
        platform_fatal("worker pool: no worker %u in a pool of %u", worker, pool->size);
    return pool->workers[worker].thread_id;
}

void worker_pool_get_stats(const struct worker_pool *pool, uint32_t worker,
                           struct worker_pool_stats *out)
{
    if (worker >= pool->size)
        platform_fatal("worker pool: no worker %u in a pool of %u", worker, pool->size);
    *out = pool->workers[worker].stats;
}
