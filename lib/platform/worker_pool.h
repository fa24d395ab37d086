/*
 * lib/platform: the GC worker pool. Persistent threads that sleep between jobs and run
 * one job at a time: fn(worker, arg) on workers 0 .. tasks-1, worker 0 being the thread
 * that calls worker_pool_run. The protocol and its invariant are described at the top of
 * worker_pool.c.
 *
 * Offers:  worker_pool_create/destroy, worker_pool_run (a fork-join job on the first
 *          `tasks` workers), per-worker statistics, and the thread id of each worker for
 *          trace tracks.
 * Needs:   pthreads (mutexes and condition variables), platform threads and clocks, the
 *          active placement (platform/placement.h) for the workers' binding.
 */
#ifndef WALTZ_PLATFORM_WORKER_POOL_H
#define WALTZ_PLATFORM_WORKER_POOL_H

#include <stdint.h>

struct worker_pool;

/* Per-worker counters. For workers 1.., idle_wait_ns is the time spent blocked waiting for
 * a job (accounted when the wait ends) and wake_latency_ns the time from the job being
 * posted to the worker starting it. For worker 0 (the caller), idle_wait_ns is the time
 * spent waiting at the end of a job for the other workers to finish, and wake_latency_ns
 * stays 0. */
struct worker_pool_stats {
    uint64_t jobs_count;      /* jobs this worker ran a task of */
    uint64_t busy_ns;         /* time inside fn */
    uint64_t idle_wait_ns;    /* time blocked in the pool (see above) */
    uint64_t wake_latency_ns; /* sum over jobs of post-to-start delay */
};

/* The default size for --gc-threads: the cores this process may run on. */
uint32_t worker_pool_default_threads(void);

/* threads >= 1. The calling thread counts as worker 0, so threads-1 OS threads are
 * started, named name_prefix followed by the worker index ("gc-worker-3", cut to the 15
 * characters the OS keeps). Each worker w >= 1 takes the slot of GC worker w in the
 * active placement (platform/placement.h: bound to its cpus when the placement is
 * applied) before it reports for duty. Returns once every thread is running. */
struct worker_pool *worker_pool_create(uint32_t threads, const char *name_prefix);

/* Wakes every worker, joins its thread and frees the pool. Not while a job runs. */
void worker_pool_destroy(struct worker_pool *pool);

uint32_t worker_pool_size(const struct worker_pool *pool);

/* Runs fn(worker, arg) on `tasks` workers (1 <= tasks <= size), worker 0 being the caller,
 * and returns when all of them have returned. Workers tasks .. size-1 are not woken.
 * Not reentrant; one job at a time (the caller serializes, e.g. it is only called inside
 * a GC pause); a nested or concurrent call is a fatal error. Writes made by the caller
 * before the call are visible to every task, and writes made by the tasks are visible to
 * the caller when the call returns. */
void worker_pool_run(struct worker_pool *pool, uint32_t tasks,
                     void (*fn)(uint32_t worker, void *arg), void *arg);

/* platform_thread_id() of that worker's thread. Worker 0 is the thread that last called
 * worker_pool_run (the creating thread before the first job). */
int worker_pool_thread_id(const struct worker_pool *pool, uint32_t worker);

/* A copy of one worker's counters. Read between jobs, by the thread that runs them. */
void worker_pool_get_stats(const struct worker_pool *pool, uint32_t worker,
                           struct worker_pool_stats *out);

#endif
