/*
 * The GC worker pool: persistent threads, blocked on a condition variable between jobs,
 * woken one by one for the tasks a job needs (a fork-join pool in the style of
 * HotSpot's WorkGang, without spinning). The same threads also run background jobs
 * beside the caller (the concurrent marker or sweeper while the mutators run), joined
 * before a pause uses the pool for a fork-join job.
 *
 * States. The pool is IDLE, inside a FORK_JOIN job (worker_pool_run) or holds a
 * BACKGROUND job (from worker_pool_start to worker_pool_join). Only the caller moves it:
 * out of IDLE by a compare-and-swap (run, start; any other state found is the fatal error
 * of a nested or concurrent call, or of a run or start before the background job is
 * joined), back to IDLE by a store once every task of the job has finished (the end of
 * run, join). So at most one job, of either kind, is posted at a time.
 *
 * Protocol. Each worker w >= 1 owns a mutex, a condition variable and posted_job, the
 * number of jobs posted to it; it remembers taken_job, the number it has taken. Posting a
 * job on workers first .. first+count-1 writes it (fn, arg, remaining = count) into the
 * pool, then for each of those w increments w's posted_job under w's mutex and signals
 * w. A worker sleeps while posted_job == taken_job; when they differ it takes the job
 * (taken_job = posted_job), runs fn(w, arg), and decrements remaining under done_mutex,
 * signalling done_cond when it reaches 0. Waiting for a job is waiting on done_cond until
 * remaining == 0. worker_pool_run posts on workers 1 .. tasks-1, runs fn(0, arg) itself
 * and waits; worker_pool_start posts on workers first .. first+count-1 and returns, and
 * worker_pool_join waits. Workers outside the job are never signalled and sleep on.
 *
 * Invariant: in IDLE every worker w >= 1 has posted_job == taken_job and remaining is 0;
 * in FORK_JOIN or BACKGROUND, posted_job == taken_job + 1 exactly for the workers of the
 * job that have not yet taken it, and remaining counts those that have not finished it.
 * The state goes back to IDLE only after remaining == 0 was seen under done_mutex, and a
 * job is posted only from IDLE, so posted_job never runs two ahead of taken_job (a worker
 * never folds two posts into one task) and the job in the pool is never overwritten
 * while a worker may read it (a worker reads it only between taking it and its
 * decrement). No wake-up is lost: posted_job only changes under the worker's mutex and
 * the worker tests it under that mutex before waiting, so a signal sent before the
 * worker waits finds the predicate already true; in the same way remaining only changes
 * under done_mutex and the caller tests it under done_mutex before waiting, so a join
 * after the tasks have all returned finds remaining == 0 and does not wait, and one
 * that waits is woken by the last decrement.
 *
 * Elastic jobs (worker_pool_run_elastic) are posted late or never: the caller writes fn
 * and arg, and posts the job only when fn(0) calls worker_pool_grow. Once fn(0) returns, the caller
 * withdraws the job from every worker that has not taken it yet: under that worker's mutex, it
 * finds posted_job == taken_job + 1, decrements posted_job, and then subtracts those workers from
 * remaining under done_mutex, as if their tasks had run and returned. The invariant holds as
 * before; a worker that wakes later (the signal was sent) finds posted_job == taken_job and sleeps
 * on. A worker that took the job first is waited for as usual.
 *
 * Ordering comes from the locks. Start (and run): the caller's writes, the job
 * included, happen before its unlock of w's mutex, which happens before w locks it and
 * reads the job, hence before fn(w). Join (and the end of run): a worker's writes, fn's
 * and its statistics, happen before its unlock of done_mutex, which happens before the
 * caller's lock that sees remaining == 0, hence before join returns. Between start and
 * join the pool gives no edge: a caller's write after start reaches the tasks only
 * through the job's own synchronization (an atomic stop flag, say). The state's
 * compare-and-swap (acquire) and store (release) order the end of one job before the
 * posting of the next even when another thread is the caller next time. Shutdown sets a
 * flag under each worker's mutex and signals it the same way; destroy needs IDLE, so no
 * worker is inside a task.
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
    uint64_t taken_job;  /* under mutex */
    bool shutdown;       /* under mutex */
    struct worker_pool *pool;
    uint32_t index;
    int thread_id;
    struct worker_pool_stats stats; /* written by the worker while it holds a job, but
                                       withdrawn_count, by the caller under mutex */
    struct platform_thread thread;
};

enum worker_pool_state {
    WORKER_POOL_IDLE,
    WORKER_POOL_FORK_JOIN,  /* inside worker_pool_run */
    WORKER_POOL_BACKGROUND, /* from worker_pool_start to worker_pool_join */
};

struct worker_pool {
    uint32_t size;
    atomic_uint state; /* enum worker_pool_state; catches nested or concurrent calls */

    /* The current job: written by the caller before posting, read by workers after. */
    void (*fn)(uint32_t worker, void *arg);
    void *arg;
    uint64_t posted_ns;
    /* The task count of an elastic job that fn(0) has not grown yet, or 0: written and read
     * by the caller only (worker 0). */
    uint32_t deferred_tasks;

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

/* The caller writes the job, then posts it on workers first .. first+count-1. */
static void worker_pool_post_job(struct worker_pool *pool, uint32_t first, uint32_t count,
                                 void (*fn)(uint32_t worker, void *arg), void *arg, uint64_t now_ns)
{
    pool->fn = fn;
    pool->arg = arg;
    pool->posted_ns = now_ns;
    pool->remaining = count;
    for (uint32_t i = first; i < first + count; i++)
        worker_pool_post(&pool->workers[i], false);
}

/* IDLE -> to, or a fatal error that names the call and the job in its way. */
static void worker_pool_enter(struct worker_pool *pool, enum worker_pool_state to, const char *call)
{
    unsigned found = WORKER_POOL_IDLE;
    if (atomic_compare_exchange_strong(&pool->state, &found, (unsigned)to))
        return;
    if (found == WORKER_POOL_BACKGROUND)
        platform_fatal("worker pool: %s while a background job runs (join it first)", call);
    platform_fatal("worker pool: %s during worker_pool_run (not reentrant)", call);
}

static void *worker_pool_main(void *arg)
{
    struct worker_pool_worker *w = arg;
    struct worker_pool *pool = w->pool;
    w->thread_id = platform_thread_id();
    /* Before the start-up handshake: once worker_pool_create returns, every worker runs
     * where the active placement put it (or the run has failed). */
    placement_bind_current_thread(PLACEMENT_GC, w->index);
    worker_pool_finished(pool); /* start-up: the creator waits for every thread */

    for (;;) {
        uint64_t wait_start_ns = platform_now_ns();
        worker_pool_lock(&w->mutex);
        while (w->posted_job == w->taken_job && !w->shutdown)
            pthread_cond_wait(&w->wake, &w->mutex);
        bool stop = w->shutdown;
        w->taken_job = w->posted_job;
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
    atomic_init(&pool->state, WORKER_POOL_IDLE);
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
    unsigned state = atomic_load(&pool->state);
    if (state == WORKER_POOL_BACKGROUND)
        platform_fatal("worker pool: destroyed while a background job runs (join it first)");
    if (state != WORKER_POOL_IDLE)
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

/* Takes the job back from every worker of 1 .. tasks-1 that has not taken it yet, as if
 * its task had run and returned at once; returns how many. Under each worker's mutex,
 * where the worker takes a job, so a worker either took it (and will be waited for) or
 * never will: its posted_job is back to its taken_job, and the signal it may still get
 * finds nothing to take. */
static uint32_t worker_pool_withdraw(struct worker_pool *pool, uint32_t tasks)
{
    uint32_t withdrawn = 0;
    for (uint32_t i = 1; i < tasks; i++) {
        struct worker_pool_worker *w = &pool->workers[i];
        worker_pool_lock(&w->mutex);
        if (w->posted_job != w->taken_job) {
            w->posted_job--;
            w->stats.withdrawn_count++;
            withdrawn++;
        }
        worker_pool_unlock(&w->mutex);
    }
    if (withdrawn) {
        worker_pool_lock(&pool->done_mutex);
        pool->remaining -= withdrawn;
        worker_pool_unlock(&pool->done_mutex);
    }
    return withdrawn;
}

static uint32_t worker_pool_fork_join(struct worker_pool *pool, uint32_t tasks,
                                      void (*fn)(uint32_t worker, void *arg), void *arg,
                                      bool elastic)
{
    if (tasks == 0 || tasks > pool->size)
        platform_fatal("worker pool: %u tasks on a pool of %u workers", tasks, pool->size);
    worker_pool_enter(pool, WORKER_POOL_FORK_JOIN, "worker_pool_run");
    pool->workers[0].thread_id = platform_thread_id();

    if (tasks > 1 && !elastic) {
        worker_pool_post_job(pool, 1, tasks - 1, fn, arg, platform_now_ns());
    } else if (tasks > 1) {
        pool->fn = fn;
        pool->arg = arg;
        pool->remaining = 0;
        pool->deferred_tasks = tasks;
    }

    struct worker_pool_stats *own = &pool->workers[0].stats;
    uint64_t fn_start_ns = platform_now_ns();
    fn(0, arg);
    uint64_t fn_end_ns = platform_now_ns();
    own->busy_ns += fn_end_ns - fn_start_ns;
    own->jobs_count++;

    /* Posted: a plain job always, an elastic one if fn(0) grew it. */
    bool posted = tasks > 1 && pool->deferred_tasks == 0;
    pool->deferred_tasks = 0;
    uint32_t ran = 1;
    if (posted) {
        ran = tasks;
        if (elastic)
            ran -= worker_pool_withdraw(pool, tasks);
        worker_pool_wait_done(pool);
        own->idle_wait_ns += platform_now_ns() - fn_end_ns;
    }
    atomic_store(&pool->state, WORKER_POOL_IDLE);
    return ran;
}

void worker_pool_run(struct worker_pool *pool, uint32_t tasks,
                     void (*fn)(uint32_t worker, void *arg), void *arg)
{
    worker_pool_fork_join(pool, tasks, fn, arg, false);
}

void worker_pool_grow(struct worker_pool *pool)
{
    uint32_t tasks = pool->deferred_tasks;
    if (tasks == 0)
        return;
    pool->deferred_tasks = 0;
    worker_pool_post_job(pool, 1, tasks - 1, pool->fn, pool->arg, platform_now_ns());
}

uint32_t worker_pool_run_elastic(struct worker_pool *pool, uint32_t tasks,
                                 void (*fn)(uint32_t worker, void *arg), void *arg)
{
    return worker_pool_fork_join(pool, tasks, fn, arg, true);
}

void worker_pool_start(struct worker_pool *pool, uint32_t first, uint32_t count,
                       void (*fn)(uint32_t worker, void *arg), void *arg)
{
    if (pool->size < 2)
        platform_fatal("worker pool: a background job runs on workers 1.., and a pool of 1 "
                       "worker has only the caller (worker 0)");
    if (first == 0 || count == 0 || (uint64_t)first + count > pool->size)
        platform_fatal("worker pool: a background job of %u tasks from worker %u on a pool of "
                       "%u workers (needs first >= 1, count >= 1, first+count <= %u)",
                       count, first, pool->size, pool->size);
    worker_pool_enter(pool, WORKER_POOL_BACKGROUND, "worker_pool_start");
    worker_pool_post_job(pool, first, count, fn, arg, platform_now_ns());
}

void worker_pool_join(struct worker_pool *pool)
{
    if (atomic_load(&pool->state) != WORKER_POOL_BACKGROUND)
        return;
    uint64_t wait_start_ns = platform_now_ns();
    worker_pool_wait_done(pool);
    pool->workers[0].stats.idle_wait_ns += platform_now_ns() - wait_start_ns;
    atomic_store(&pool->state, WORKER_POOL_IDLE);
}

bool worker_pool_background_active(const struct worker_pool *pool)
{
    return atomic_load(&pool->state) == WORKER_POOL_BACKGROUND;
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
