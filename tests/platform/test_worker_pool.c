/*
 * Tests of the GC worker pool (lib/platform/worker_pool.c): every task index runs exactly
 * once per job on the worker it names, for pool sizes 1, 2, 4, 8 and every task count;
 * back-to-back jobs sharing a counter; the caller's writes reach the tasks and the tasks'
 * writes reach the caller (plain, non-atomic data, so ThreadSanitizer checks the
 * ordering); idle workers use no CPU; destroy joins every thread; thread ids and names.
 * Background jobs (worker_pool_start/join): tasks run beside a caller that keeps working,
 * see its writes, and their writes reach it after join; a job that loops until a flag is
 * set, its time counted in busy_ns; thousands of start/join cycles alternating with
 * fork-join jobs on one pool, every task once per job; join with nothing running is a
 * no-op; and the misuses that are fatal errors (a pool of 1, a bad range, a second
 * background job, a run or a destroy before join), each in a child process. Elastic jobs
 * (worker_pool_run_elastic): without worker_pool_grow only the caller's task runs; with
 * it, each other task runs at most once and never after the call returned, the count
 * returned is the count that ran, every post is taken or withdrawn, and plain jobs in
 * between find no post left over.
 *
 * Tasks never call cmocka: they record what they saw in per-worker slots or atomics that
 * the test's thread asserts on after worker_pool_run or worker_pool_join returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* The count once threads joined by an earlier test have left /proc: the same for 20 ms. */
static int quiet_thread_count(void)
{
    int n = count_threads();
    for (int i = 0, same = 0; i < 2000 && same < 20; i++) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
        nanosleep(&pause, NULL);
        int now = count_threads();
        same = now == n ? same + 1 : 0;
        n = now;
    }
    return n;
}

static void test_destroy_joins(void **state)
{
    int before = quiet_thread_count();
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

static void sleep_us(long us)
{
    struct timespec pause = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};
    while (nanosleep(&pause, &pause) != 0)
        ;
}

struct beside_job {
    uint64_t generation;                         /* written by the caller before start */
    uint64_t input[MAX_WORKERS * STRIPE_WORDS];  /* written by the caller before start */
    uint64_t output[MAX_WORKERS * STRIPE_WORDS]; /* stripe w by task w, stripe 0 by caller */
    uint32_t runs[MAX_WORKERS];                  /* each slot written only by its task */
    atomic_uint finished;
};

static void beside_stripe(struct beside_job *job, uint32_t stripe)
{
    for (uint32_t i = stripe * STRIPE_WORDS; i < (stripe + 1) * STRIPE_WORDS; i++)
        job->output[i] = job->input[i] * 5 + job->generation;
}

static void beside_task(uint32_t worker, void *arg)
{
    struct beside_job *job = arg;
    job->runs[worker]++;
    beside_stripe(job, worker);
    atomic_fetch_add_explicit(&job->finished, 1, memory_order_relaxed);
}

/* The caller writes the input, starts tasks on workers 1..3, computes stripe 0 itself
 * while they run, waits (outside the pool) until they have all returned, then joins. */
static void test_background_beside_caller(void **state)
{
    enum { SIZE = 4, ROUNDS = 100 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    struct beside_job *job = platform_calloc(1, sizeof *job);
    for (uint64_t g = 1; g <= ROUNDS; g++) {
        job->generation = g;
        memset(job->runs, 0, sizeof job->runs);
        atomic_store_explicit(&job->finished, 0, memory_order_relaxed);
        for (uint32_t i = 0; i < SIZE * STRIPE_WORDS; i++)
            job->input[i] = i ^ (g << 24);
        assert_false(worker_pool_background_active(pool));
        worker_pool_start(pool, 1, SIZE - 1, beside_task, job);
        assert_true(worker_pool_background_active(pool));
        beside_stripe(job, 0);
        if (g % 2 == 0) /* half the rounds, join only after every task has returned */
            while (atomic_load_explicit(&job->finished, memory_order_relaxed) != SIZE - 1)
                sleep_us(50);
        worker_pool_join(pool);
        assert_false(worker_pool_background_active(pool));
        assert_int_equal(job->runs[0], 0);
        for (uint32_t w = 1; w < SIZE; w++)
            assert_int_equal(job->runs[w], 1);
        for (uint32_t i = 0; i < SIZE * STRIPE_WORDS; i++)
            assert_int_equal(job->output[i], (i ^ (g << 24)) * 5 + g);
    }
    platform_free(job);
    worker_pool_destroy(pool);
}

struct until_flag_job {
    atomic_bool stop; /* set by the caller */
    atomic_uint started;
    uint64_t iterations[MAX_WORKERS]; /* each slot written only by its task */
};

static void until_flag_task(uint32_t worker, void *arg)
{
    struct until_flag_job *job = arg;
    atomic_fetch_add(&job->started, 1);
    while (!atomic_load_explicit(&job->stop, memory_order_acquire)) {
        job->iterations[worker]++;
        sleep_us(100);
    }
}

/* Tasks that return only when the caller says so: start returns while they run, and
 * their time counts in busy_ns and their job in jobs_count. */
static void test_background_until_flag(void **state)
{
    enum { SIZE = 3, ROUNDS = 5, HOLD_US = 20000 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    for (int round = 0; round < ROUNDS; round++) {
        struct worker_pool_stats before[SIZE], after[SIZE];
        for (uint32_t w = 0; w < SIZE; w++)
            worker_pool_get_stats(pool, w, &before[w]);
        struct until_flag_job job;
        memset(&job, 0, sizeof job);
        atomic_init(&job.stop, false);
        atomic_init(&job.started, 0);

        worker_pool_start(pool, 1, SIZE - 1, until_flag_task, &job);
        for (int i = 0; i < 100000 && atomic_load(&job.started) != SIZE - 1; i++)
            sleep_us(100);
        assert_int_equal(atomic_load(&job.started), SIZE - 1);
        assert_true(worker_pool_background_active(pool));
        sleep_us(HOLD_US);
        atomic_store_explicit(&job.stop, true, memory_order_release);
        worker_pool_join(pool);
        assert_false(worker_pool_background_active(pool));

        assert_int_equal(job.iterations[0], 0);
        for (uint32_t w = 0; w < SIZE; w++) {
            worker_pool_get_stats(pool, w, &after[w]);
            if (w == 0) {
                assert_int_equal(after[w].jobs_count, before[w].jobs_count);
                assert_int_equal(after[w].busy_ns, before[w].busy_ns);
                continue;
            }
            assert_true(job.iterations[w] >= 1);
            assert_int_equal(after[w].jobs_count, before[w].jobs_count + 1);
            assert_true(after[w].busy_ns - before[w].busy_ns >= (uint64_t)HOLD_US * 1000);
        }
    }
    worker_pool_destroy(pool);
}

static void assert_ran_once_on(const struct worker_pool *pool, const struct once_job *job,
                               uint32_t first, uint32_t end)
{
    for (uint32_t w = 0; w < MAX_WORKERS; w++)
        assert_int_equal(job->runs[w], w >= first && w < end ? 1 : 0);
    for (uint32_t w = first; w < end; w++)
        assert_int_equal(job->thread_ids[w], worker_pool_thread_id(pool, w));
}

/* Background jobs over every range of workers, each followed by a fork-join job of every
 * size, on one pool: every task runs exactly once per job, and jobs_count adds up. */
static void test_background_alternating_with_run(void **state)
{
    enum { SIZE = 4, CYCLES = 2000 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    uint64_t expected_jobs[SIZE] = {0};
    uint64_t start_ns = platform_now_ns();
    for (uint32_t c = 0; c < CYCLES; c++) {
        uint32_t first = 1 + c % (SIZE - 1);
        uint32_t count = 1 + c / (SIZE - 1) % (SIZE - first);
        struct once_job background, fork_join;
        memset(&background, 0, sizeof background);
        memset(&fork_join, 0, sizeof fork_join);

        worker_pool_start(pool, first, count, once_task, &background);
        if (c % 3 == 0)
            assert_true(worker_pool_background_active(pool));
        worker_pool_join(pool);
        assert_false(worker_pool_background_active(pool));
        assert_ran_once_on(pool, &background, first, first + count);
        for (uint32_t w = first; w < first + count; w++)
            expected_jobs[w]++;

        uint32_t tasks = c % SIZE + 1;
        worker_pool_run(pool, tasks, once_task, &fork_join);
        assert_ran_once_on(pool, &fork_join, 0, tasks);
        for (uint32_t w = 0; w < tasks; w++)
            expected_jobs[w]++;
    }
    uint64_t elapsed_ns = platform_now_ns() - start_ns;
    print_message("%d start/join + run cycles in %.1f ms (%.1f us per cycle)\n", CYCLES,
                  elapsed_ns / 1e6, elapsed_ns / 1e3 / CYCLES);
    for (uint32_t w = 0; w < SIZE; w++) {
        struct worker_pool_stats stats;
        worker_pool_get_stats(pool, w, &stats);
        assert_int_equal(stats.jobs_count, expected_jobs[w]);
    }
    worker_pool_destroy(pool);
}

static void test_join_without_job(void **state)
{
    struct worker_pool *one = worker_pool_create(1, "tpool-");
    worker_pool_join(one);
    assert_false(worker_pool_background_active(one));
    worker_pool_run(one, 1, nop_task, NULL);
    worker_pool_join(one);
    worker_pool_destroy(one);

    struct worker_pool *pool = worker_pool_create(4, "tpool-");
    struct worker_pool_stats before, after;
    worker_pool_get_stats(pool, 0, &before);
    worker_pool_join(pool); /* fresh pool */
    worker_pool_get_stats(pool, 0, &after);
    assert_memory_equal(&before, &after, sizeof before);
    assert_false(worker_pool_background_active(pool));

    worker_pool_run(pool, 4, nop_task, NULL);
    worker_pool_join(pool); /* after a fork-join job */
    assert_false(worker_pool_background_active(pool));

    worker_pool_start(pool, 1, 3, nop_task, NULL);
    worker_pool_join(pool);
    worker_pool_get_stats(pool, 0, &before);
    worker_pool_join(pool); /* a second join */
    worker_pool_get_stats(pool, 0, &after);
    assert_memory_equal(&before, &after, sizeof before);
    assert_false(worker_pool_background_active(pool));

    struct once_job job;
    memset(&job, 0, sizeof job);
    worker_pool_run(pool, 4, once_task, &job); /* the pool still works */
    assert_ran_once_on(pool, &job, 0, 4);
    worker_pool_destroy(pool);
}

/* Fatal errors, each run in a child (the test process has no other thread when it forks):
 * the child must exit with status 1 and a message on stderr that contains `message`. */
static void expect_fatal(void (*body)(void), const char *message)
{
    FILE *err = tmpfile();
    assert_non_null(err);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(99);
        body();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char text[1024] = {0};
    rewind(err);
    size_t n = fread(text, 1, sizeof text - 1, err);
    text[n] = '\0';
    fclose(err);
    print_message("fatal as expected: %s", text);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(text, message));
}

static atomic_bool never_set;

static void wait_forever_task(uint32_t worker, void *arg)
{
    while (!atomic_load(&never_set))
        sleep_us(1000);
}

static void start_on_pool_of_one(void)
{
    worker_pool_start(worker_pool_create(1, "tpool-"), 1, 1, nop_task, NULL);
}

static void start_past_the_end(void)
{
    worker_pool_start(worker_pool_create(4, "tpool-"), 2, 3, nop_task, NULL);
}

static void start_on_worker_0(void)
{
    worker_pool_start(worker_pool_create(4, "tpool-"), 0, 2, nop_task, NULL);
}

static void start_twice(void)
{
    struct worker_pool *pool = worker_pool_create(3, "tpool-");
    worker_pool_start(pool, 1, 1, wait_forever_task, NULL);
    worker_pool_start(pool, 2, 1, nop_task, NULL);
}

static void run_before_join(void)
{
    struct worker_pool *pool = worker_pool_create(3, "tpool-");
    worker_pool_start(pool, 1, 2, wait_forever_task, NULL);
    worker_pool_run(pool, 1, nop_task, NULL);
}

static void destroy_before_join(void)
{
    struct worker_pool *pool = worker_pool_create(2, "tpool-");
    worker_pool_start(pool, 1, 1, wait_forever_task, NULL);
    worker_pool_destroy(pool);
}

static void test_background_misuse_fatal(void **state)
{
    expect_fatal(start_on_pool_of_one, "a pool of 1 worker has only the caller");
    expect_fatal(start_past_the_end, "first+count <= 4");
    expect_fatal(start_on_worker_0, "first >= 1");
    expect_fatal(start_twice, "worker_pool_start while a background job runs");
    expect_fatal(run_before_join, "worker_pool_run while a background job runs");
    expect_fatal(destroy_before_join, "destroyed while a background job runs");
}

/* Elastic jobs: task 0 grows the job (or not), and the job is withdrawn from the workers
 * that have not started when task 0 returns. Each job has an id; a task that ran after its
 * job's call had returned would see a newer current_job and count a late run. */
static atomic_uint_fast64_t current_job;
static atomic_uint late_runs;

struct elastic_job {
    struct worker_pool *pool;
    uint64_t id;
    uint32_t tasks;
    bool grow, wait_for_all;
    uint32_t runs[MAX_WORKERS]; /* each slot written only by its task */
    atomic_uint started;
};

static void elastic_task(uint32_t worker, void *arg)
{
    struct elastic_job *job = arg;
    if (atomic_load(&current_job) != job->id)
        atomic_fetch_add(&late_runs, 1);
    job->runs[worker]++;
    atomic_fetch_add(&job->started, 1);
    if (worker != 0 || !job->grow)
        return;
    worker_pool_grow(job->pool);
    worker_pool_grow(job->pool); /* a second call does nothing */
    while (job->wait_for_all && atomic_load(&job->started) < job->tasks)
        sched_yield();
}

static void test_elastic_jobs(void **state)
{
    enum { SIZE = 4, JOBS = 6000 };
    struct worker_pool *pool = worker_pool_create(SIZE, "tpool-");
    uint64_t grown[SIZE] = {0};
    uint32_t all_ran = 0, withdrawn_jobs = 0;
    /* One record per job, so that a task running late reads its own job's id. */
    struct elastic_job *jobs = calloc(JOBS, sizeof *jobs);
    assert_non_null(jobs);
    for (uint32_t j = 0; j < JOBS; j++) {
        struct elastic_job *job = &jobs[j];
        job->pool = pool;
        job->id = j + 1;
        job->tasks = j % SIZE + 1;
        job->grow = j % 3 != 0;
        job->wait_for_all = j % 3 == 2;
        atomic_init(&job->started, 0);
        atomic_store(&current_job, job->id);
        uint32_t ran = worker_pool_run_elastic(pool, job->tasks, elastic_task, job);
        atomic_store(&current_job, 0);
        uint32_t counted = 0;
        for (uint32_t w = 0; w < MAX_WORKERS; w++) {
            assert_true(job->runs[w] <= (w < job->tasks ? 1u : 0u));
            counted += job->runs[w];
        }
        assert_int_equal(job->runs[0], 1);
        assert_int_equal(ran, counted);
        if (!job->grow)
            assert_int_equal(ran, 1);
        if (job->wait_for_all)
            assert_int_equal(ran, job->tasks);
        if (job->grow)
            for (uint32_t w = 1; w < job->tasks; w++)
                grown[w]++;
        all_ran += ran == job->tasks;
        withdrawn_jobs += ran < job->tasks;
        /* A plain job in between: no post left over from the elastic one. */
        if (j % 5 == 0) {
            struct once_job once;
            memset(&once, 0, sizeof once);
            worker_pool_run(pool, SIZE, once_task, &once);
            for (uint32_t w = 0; w < SIZE; w++)
                assert_int_equal(once.runs[w], 1);
        }
    }
    /* Destroy first: a task that ran late would have run by the time the workers are
     * joined, and counted itself. */
    uint64_t plain_jobs = (JOBS + 4) / 5;
    struct worker_pool_stats stats[SIZE];
    for (uint32_t w = 1; w < SIZE; w++)
        worker_pool_get_stats(pool, w, &stats[w]);
    worker_pool_destroy(pool);
    assert_int_equal(atomic_load(&late_runs), 0);
    for (uint32_t j = 0; j < JOBS; j++)
        for (uint32_t w = 0; w < MAX_WORKERS; w++)
            assert_true(jobs[j].runs[w] <= 1);
    for (uint32_t w = 1; w < SIZE; w++)
        /* Every post of an elastic job was either taken or withdrawn. */
        assert_int_equal(stats[w].jobs_count + stats[w].withdrawn_count, grown[w] + plain_jobs);
    /* Tasks 0 that return right after growing (a third of the jobs) leave workers that
     * take tens of microseconds to wake: the withdrawal path must have run. */
    assert_true(withdrawn_jobs > 0);
    print_message("%d elastic jobs: %u with every task run, %u withdrawn from a worker\n", JOBS,
                  all_ran, withdrawn_jobs);
    free(jobs);
}

static void test_default_threads(void **state)
{
    assert_int_equal(worker_pool_default_threads(), (uint32_t)platform_available_cores());
    assert_true(worker_pool_default_threads() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_back_to_back_jobs),
        cmocka_unit_test(test_writes_visible),
        cmocka_unit_test(test_idle_workers_sleep),
        cmocka_unit_test(test_destroy_joins),
        cmocka_unit_test(test_thread_ids_distinct),
        cmocka_unit_test(test_default_threads),
        cmocka_unit_test(test_background_beside_caller),
        cmocka_unit_test(test_background_until_flag),
        cmocka_unit_test(test_background_alternating_with_run),
        cmocka_unit_test(test_join_without_job),
        cmocka_unit_test(test_background_misuse_fatal),
        cmocka_unit_test(test_elastic_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
