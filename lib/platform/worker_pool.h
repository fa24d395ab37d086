/*
 * lib/platform: the GC worker pool. Persistent threads that sleep between jobs and run
 * one job at a time. A fork-join job (worker_pool_run) runs fn(worker, arg) on workers
 * 0 .. tasks-1, worker 0 being the thread that calls it, and returns when all have
 * returned. A background job (worker_pool_start) runs fn on workers first .. (never 0)
 * beside the caller, which goes on and later waits for it with worker_pool_join, e.g.
 * the concurrent marker or sweeper while the mutators run, joined before a pause uses
 * the pool for a fork-join job. The protocol and its invariant are described at the top
 * of worker_pool.c.
 *
 * Offers:  worker_pool_create/destroy, worker_pool_run (a fork-join job on the first
 *          `tasks` workers), worker_pool_start/join/background_active (a background job
 *          on workers 1..), per-worker statistics, and the thread id of each worker for
 *          trace tracks.
 * Needs:   pthreads (mutexes and condition variables), platform threads and clocks, the
 *          active placement (platform/placement.h) for the workers' binding.
 */
#ifndef WALTZ_PLATFORM_WORKER_POOL_H
#define WALTZ_PLATFORM_WORKER_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct worker_pool;

/* Per-worker counters, fork-join and background jobs alike. For workers 1.., idle_wait_ns
 * is the time spent blocked waiting for a job (accounted when the wait ends) and
 * wake_latency_ns the time from the job being posted to the worker starting it. For
 * worker 0 (the caller), idle_wait_ns is the time spent waiting for the other workers to
 * finish, at the end of a fork-join job or in worker_pool_join, and wake_latency_ns stays
 * 0; worker 0 runs no task of a background job. */
struct worker_pool_stats {
    uint64_t jobs_count;      /* jobs this worker ran a task of */
    uint64_t busy_ns;         /* time inside fn */
    uint64_t idle_wait_ns;    /* time blocked in the pool (see above) */
    uint64_t wake_latency_ns; /* sum over jobs of post-to-start delay */
    uint64_t withdrawn_count; /* elastic jobs withdrawn before this worker took them */
};

/* The default size for --gc-threads: the cores this process may run on. */
uint32_t worker_pool_default_threads(void);

/* threads >= 1. The calling thread counts as worker 0, so threads-1 OS threads are
 * started, named name_prefix followed by the worker index ("gc-worker-3", cut to the 15
 * characters the OS keeps). Each worker w >= 1 takes the slot of GC worker w in the
 * active placement (platform/placement.h: bound to its cpus when the placement is
 * applied) before it reports for duty. Returns once every thread is running. */
struct worker_pool *worker_pool_create(uint32_t threads, const char *name_prefix);

/* Wakes every worker, joins its thread and frees the pool. Not while a job runs: destroy
 * during a fork-join job or before a background job is joined is a fatal error. */
void worker_pool_destroy(struct worker_pool *pool);

uint32_t worker_pool_size(const struct worker_pool *pool);

/* Runs fn(worker, arg) on `tasks` workers (1 <= tasks <= size), worker 0 being the caller,
 * and returns when all of them have returned. Workers tasks .. size-1 are not woken.
 * Not reentrant; one job at a time (the caller serializes, e.g. it is only called inside
 * a GC pause); a nested or concurrent call, or a call while a background job has not
 * been joined, is a fatal error. Writes made by the caller before the call are visible to
 * every task, and writes made by the tasks are visible to the caller when the call
 * returns. */
void worker_pool_run(struct worker_pool *pool, uint32_t tasks,
                     void (*fn)(uint32_t worker, void *arg), void *arg);

/* worker_pool_run for a job whose tasks share its work dynamically, so that a task that
 * starts late may find none left (e.g. a work-stealing phase whose termination counts the
 * tasks not yet started as idle), and for which waking the other workers may cost more
 * than it brings:
 *   - no worker is woken at first: fn(0, arg) runs alone until it calls worker_pool_grow,
 *     when it has found enough work to share, or never;
 *   - when fn(0, arg) returns, the job is withdrawn from the workers that have not started
 *     their task yet: those never run it, and the call does not wait for them to wake.
 * Returns how many tasks ran (1 .. tasks); which ones is for the job to record. The rest
 * is as for worker_pool_run. */
uint32_t worker_pool_run_elastic(struct worker_pool *pool, uint32_t tasks,
                                 void (*fn)(uint32_t worker, void *arg), void *arg);

/* From worker 0's task of an elastic job only: posts the job on workers 1 .. tasks-1 (once;
 * later calls do nothing). */
void worker_pool_grow(struct worker_pool *pool);

/* Starts fn(worker, arg) on workers first .. first+count-1 (1 <= first, count >= 1,
 * first+count <= size) and returns at once: a background job that runs beside the
 * caller. At most one background job at a time; worker_pool_run is refused (a fatal
 * error, as for a nested run) while one has not been joined. Writes made by the
 * caller before the call are visible to every task. A bad range, a second background
 * job, or a call during a fork-join job is a fatal error. */
void worker_pool_start(struct worker_pool *pool, uint32_t first, uint32_t count,
                       void (*fn)(uint32_t worker, void *arg), void *arg);

/* Waits until every task of the background job has returned (the job itself decides when
 * to return, e.g. by polling a flag the caller set). Writes made by the tasks are visible
 * to the caller afterwards. A no-op when no background job is running. */
void worker_pool_join(struct worker_pool *pool);

/* Whether a background job was started and not yet joined (the caller's view). */
bool worker_pool_background_active(const struct worker_pool *pool);

/* platform_thread_id() of that worker's thread. Worker 0 is the thread that last called
 * worker_pool_run (the creating thread before the first job). */
int worker_pool_thread_id(const struct worker_pool *pool, uint32_t worker);

/* A copy of one worker's counters. Read between jobs (for a background job: after
 * worker_pool_join), by the thread that runs them. */
void worker_pool_get_stats(const struct worker_pool *pool, uint32_t worker,
                           struct worker_pool_stats *out);

#endif
