/*
 * Tests of the GC worker pool (lib/platform/worker_pool.c): every task index runs exactly
 * once per job on the worker it names, for pool sizes 1, 2, 4, 8 and every task count;
 * back-to-back jobs sharing a counter; the caller's writes reach the tasks and the tasks'
 * writes reach the caller (plain, non-atomic data, so ThreadSanitizer checks the
 * ordering); idle workers use no CPU; destroy joins every thread; thread ids and names.
 *
 * Tasks never call cmocka: they record what they saw in per-worker slots or atomics that
 * the test's thread asserts on after worker_pool_run returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "platform/platform.h"
#include "platform/worker_pool.h"

#define MAX_WORKERS 8

struct once_job {
    uint32_t runs[MAX_WORKERS];  /* each slot written only by its task */
    int thread_ids[MAX_WORKERS]; /* platform_thread_id() seen by each task */
    char names[MAX_WORKERS][16]; /* thread name seen by each task */
};

static void once_task(uint32_t worker, void *arg)
{
    struct once_job *job = arg;
    job->runs[worker]++;
    job->thread_ids[worker] = platform_thread_id();
    pthread_getname_np(pthread_self(), job->names[worker], sizeof job->names[worker]);
}

static void test_every_task_once(void **state)
{
    static const uint32_t sizes[] = {1, 2, 4, 8};
    for (size_t s = 0; s < ARRAY_LENGTH(sizes); s++) {
        uint32_t size = sizes[s];
        struct worker_pool *pool = worker_pool_create(size, "tpool-");
        assert_int_equal(worker_pool_size(pool), size);
        for (int round = 0; round < 20; round++) {
            for (uint32_t tasks = 1; tasks <= size; tasks++) {
                struct once_job job;
                memset(&job, 0, sizeof job);
                worker_pool_run(pool, tasks, once_task, &job);
                for (uint32_t w = 0; w < MAX_WORKERS; w++)
                    assert_int_equal(job.runs[w], w < tasks ? 1 : 0);
                assert_int_equal(job.thread_ids[0], platform_thread_id());
                for (uint32_t w = 1; w < tasks; w++) {
                    assert_int_equal(job.thread_ids[w], worker_pool_thread_id(pool, w));
                    char expected[32];
                    snprintf(expected, sizeof expected, "tpool-%u", w);
                    assert_string_equal(job.names[w], expected);
                }
            }
        }
        worker_pool_destroy(pool);
    }
}

struct counter_job {
    atomic_uint_fast64_t total;
};

static void counter_task(uint32_t worker, void *arg)
{
    struct counter_job *job = arg;
    atomic_fetch_add_explicit(&job->total, worker + 1, memory_order_relaxed);
}

static void test_back_to_back_jobs(void **state)
{
    enum { JOBS = 20000, SIZE = 4 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    struct counter_job job;
    atomic_init(&job.total, 0);
    uint64_t expected = 0;
    uint64_t start_ns = platform_now_ns();
    for (uint32_t j = 0; j < JOBS; j++) {
        uint32_t tasks = j % SIZE + 1;
        worker_pool_run(pool, tasks, counter_task, &job);
        expected += (uint64_t)tasks * (tasks + 1) / 2;
        /* Relaxed increments, yet exact after each return: run orders them before. */
        assert_int_equal(atomic_load_explicit(&job.total, memory_order_relaxed), expected);
    }
    uint64_t elapsed_ns = platform_now_ns() - start_ns;
    print_message("%d jobs in %.1f ms (%.1f us per job)\n", JOBS, elapsed_ns / 1e6,
                  elapsed_ns / 1e3 / JOBS);

    uint64_t jobs_total = 0;
    for (uint32_t w = 0; w < SIZE; w++) {
        struct worker_pool_stats stats;
        worker_pool_get_stats(pool, w, &stats);
        /* Worker w runs in the jobs with tasks > w: (SIZE - w) of every SIZE jobs. */
        assert_int_equal(stats.jobs_count, (uint64_t)JOBS / SIZE * (SIZE - w));
        if (w > 0)
            assert_true(stats.idle_wait_ns > 0);
        jobs_total += stats.jobs_count;
    }
    assert_int_equal(jobs_total, (uint64_t)JOBS / SIZE * (SIZE * (SIZE + 1) / 2));
    worker_pool_destroy(pool);
}

enum { STRIPE_WORDS = 1024 };

struct visibility_job {
    uint64_t generation;                         /* written by the caller */
    uint64_t input[MAX_WORKERS * STRIPE_WORDS];  /* written by the caller */
    uint64_t output[MAX_WORKERS * STRIPE_WORDS]; /* stripe w written by task w */
    uint64_t seen_generation[MAX_WORKERS];
};

static void visibility_task(uint32_t worker, void *arg)
{
    struct visibility_job *job = arg;
    job->seen_generation[worker] = job->generation;
    for (uint32_t i = worker * STRIPE_WORDS; i < (worker + 1) * STRIPE_WORDS; i++)
        job->output[i] = job->input[i] * 3 + job->generation;
}

static void test_writes_visible(void **state)
{
    enum { SIZE = 4, ROUNDS = 200 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    struct visibility_job *job = platform_calloc(1, sizeof *job);
    for (uint64_t g = 1; g <= ROUNDS; g++) {
        uint32_t tasks = (uint32_t)(g % SIZE) + 1;
        job->generation = g;
        for (uint32_t i = 0; i < tasks * STRIPE_WORDS; i++)
            job->input[i] = i ^ (g << 20);
        worker_pool_run(pool, tasks, visibility_task, job);
        for (uint32_t w = 0; w < tasks; w++)
            assert_int_equal(job->seen_generation[w], g);
        for (uint32_t i = 0; i < tasks * STRIPE_WORDS; i++)
            assert_int_equal(job->output[i], (i ^ (g << 20)) * 3 + g);
    }
    platform_free(job);
    worker_pool_destroy(pool);
}

static void nop_task(uint32_t worker, void *arg) {}

static uint64_t process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_idle_workers_sleep(void **state)
{
    struct worker_pool *pool = worker_pool_create(4, "tpool-");
    worker_pool_run(pool, 4, nop_task, NULL);
    worker_pool_run(pool, 2, nop_task, NULL); /* workers 2 and 3 idle since the last job */
    uint64_t cpu_start_ns = process_cpu_ns();
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
    while (nanosleep(&pause, &pause) != 0)
        ;
    uint64_t cpu_ns = process_cpu_ns() - cpu_start_ns;
    print_message("process CPU time over a 200 ms sleep: %.3f ms\n", cpu_ns / 1e6);
    assert_true(cpu_ns < 20 * 1000 * 1000);
    worker_pool_destroy(pool);
}

static int count_threads(void)
{
    DIR *dir = opendir("/proc/self/task");
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

/* A joined thread can stay listed in /proc for a moment after pthread_join returns (the
 * kernel reaps it asynchronously): wait up to two seconds for the expected count. */
static int settled_thread_count(int expected)
{
    int n = count_threads();
    for (int i = 0; i < 2000 && n != expected; i++) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
        nanosleep(&pause, NULL);
        n = count_threads();
    }
    return n;
}

static void test_destroy_joins(void **state)
{
    int before = count_threads();
    for (uint32_t size = 1; size <= MAX_WORKERS; size++) {
        struct worker_pool *pool = worker_pool_create(size, "tpool-");
        assert_int_equal(settled_thread_count(before + (int)size - 1), before + (int)size - 1);
        worker_pool_destroy(pool); /* right after create: workers may not be waiting yet */
        assert_int_equal(settled_thread_count(before), before);

        pool = worker_pool_create(size, "tpool-");
        for (uint32_t tasks = 1; tasks <= size; tasks++)
            worker_pool_run(pool, tasks, nop_task, NULL);
        worker_pool_run(pool, 1, nop_task, NULL); /* the others idle at destroy */
        worker_pool_destroy(pool);
        assert_int_equal(settled_thread_count(before), before);
    }
    worker_pool_destroy(NULL);
}

static void test_thread_ids_distinct(void **state)
{
    struct worker_pool *pool = worker_pool_create(MAX_WORKERS, "tpool-");
    assert_int_equal(worker_pool_thread_id(pool, 0), platform_thread_id());
    for (uint32_t a = 0; a < MAX_WORKERS; a++) {
        assert_true(worker_pool_thread_id(pool, a) > 0);
        for (uint32_t b = a + 1; b < MAX_WORKERS; b++)
            assert_int_not_equal(worker_pool_thread_id(pool, a), worker_pool_thread_id(pool, b));
    }
    worker_pool_destroy(pool);
}

static void test_default_threads(void **state)
{
    assert_int_equal(worker_pool_default_threads(), (uint32_t)platform_available_cores());
    assert_true(worker_pool_default_threads() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_once), cmocka_unit_test(test_back_to_back_jobs),
        cmocka_unit_test(test_writes_visible),  cmocka_unit_test(test_idle_workers_sleep),
        cmocka_unit_test(test_destroy_joins),   cmocka_unit_test(test_thread_ids_distinct),
        cmocka_unit_test(test_default_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
