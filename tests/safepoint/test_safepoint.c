/*
 * Tests of lib/safepoint: the registry, global safepoints (every running thread stops at
 * a poll, none moves until the end), park and unpark, handshakes on running and parked
 * threads, and a stress run of back-to-back safepoints and handshakes started by
 * several mutators and a non-mutator thread at once.
 *
 * Worker threads never call cmocka: they count violations in atomics that the test's
 * thread asserts on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safepoint/safepoint.h"

#define RUNNERS 4

struct runner {
    struct safepoint *sp;
    struct safepoint_thread thread;
    pthread_t handle;
    _Atomic uint64_t counter; /* incremented between polls */
    _Atomic bool ready, stop, park_now, parked, go, unparked;
    _Atomic uint64_t unparked_ns;
    int platform_id;
};

static void wait_flag(_Atomic bool *flag)
{
    while (!atomic_load(flag))
        usleep(50);
}

/* Waits until the counter moves past value; false after about five seconds. */
static bool wait_progress(_Atomic uint64_t *counter, uint64_t value)
{
    for (int i = 0; i < 100000; i++) {
        if (atomic_load(counter) > value)
            return true;
        usleep(50);
    }
    return false;
}

static void *spin_main(void *arg)
{
    struct runner *r = arg;
    safepoint_register(r->sp, &r->thread);
    r->platform_id = platform_thread_id();
    atomic_store(&r->ready, true);
    while (!atomic_load(&r->stop)) {
        safepoint_poll(&r->thread);
        atomic_fetch_add(&r->counter, 1);
        if (atomic_load(&r->park_now)) {
            /* Park, block outside the heap until told to go, unpark. */
            safepoint_park(&r->thread);
            atomic_store(&r->parked, true);
            wait_flag(&r->go);
            safepoint_unpark(&r->thread);
            atomic_store(&r->unparked_ns, platform_now_ns());
            atomic_store(&r->unparked, true);
            atomic_store(&r->park_now, false);
        }
    }
    safepoint_unregister(r->sp, &r->thread);
    return NULL;
}

static void start_runners(struct safepoint *sp, struct runner *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rs[i] = (struct runner){.sp = sp};
        assert_int_equal(pthread_create(&rs[i].handle, NULL, spin_main, &rs[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        wait_flag(&rs[i].ready);
}

static void stop_runners(struct runner *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store(&rs[i].stop, true);
    for (size_t i = 0; i < n; i++)
        pthread_join(rs[i].handle, NULL);
}

/* --- Registry -------------------------------------------------------------------------- */

static void test_register_unregister(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct safepoint_thread a, b;
    safepoint_register(&sp, &a);
    assert_int_equal(sp.thread_count, 1);
    assert_ptr_equal(sp.threads, &a);
    assert_ptr_equal(a.safepoint, &sp);
    assert_int_equal(a.thread_id, platform_thread_id());
    assert_false(safepoint_is_parked(&a));
    assert_int_equal(atomic_load(&a.state), 0);
    safepoint_register(&sp, &b);
    assert_int_equal(sp.thread_count, 2);
    safepoint_poll(&a); /* nothing requested: returns at once */
    assert_int_equal(a.stopped_count, 0);

    safepoint_park(&a);
    assert_true(safepoint_is_parked(&a));
    safepoint_unpark(&a);
    assert_false(safepoint_is_parked(&a));

    safepoint_unregister(&sp, &a);
    assert_int_equal(sp.thread_count, 1);
    assert_ptr_equal(sp.threads, &b);
    assert_null(b.prev);
    safepoint_unregister(&sp, &b);
    assert_int_equal(sp.thread_count, 0);
    assert_null(sp.threads);

    /* A safepoint with nobody registered returns at once. */
    struct safepoint_stats stats;
    safepoint_begin(&sp, NULL, &stats);
    assert_int_equal(stats.threads_stopped, 0);
    assert_int_equal(stats.threads_parked, 0);
    safepoint_end(&sp, NULL);
    assert_int_equal(sp.safepoints_count, 1);
    safepoint_destroy(&sp);
}

/* --- Global safepoints ----------------------------------------------------------------- */

static void test_global_safepoint_stops_everyone(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct runner rs[RUNNERS];
    start_runners(&sp, rs, RUNNERS);
    const int rounds = 20;
    for (int round = 0; round < rounds; round++) {
        struct safepoint_stats stats;
        safepoint_begin(&sp, NULL, &stats);
        assert_true(sp.active);
        assert_int_equal(stats.threads_stopped, RUNNERS);
        assert_int_equal(stats.threads_parked, 0);
        assert_true(stats.all_stopped_ns >= stats.requested_ns);
        assert_true(stats.ttsp_ns == stats.all_stopped_ns - stats.requested_ns);
        assert_true(stats.ttsp_ns > 0);
        assert_true(stats.ttsp_ns < 5000000000ull);
        uint64_t frozen[RUNNERS];
        for (int i = 0; i < RUNNERS; i++)
            frozen[i] = atomic_load(&rs[i].counter);
        usleep(round % 4 == 0 ? 5000 : 200);
        for (int i = 0; i < RUNNERS; i++) {
            assert_true(atomic_load(&rs[i].counter) == frozen[i]);
            assert_true(atomic_load(&rs[i].thread.state) & SAFEPOINT_REQUESTED);
        }
        safepoint_end(&sp, NULL);
        for (int i = 0; i < RUNNERS; i++)
            assert_true(wait_progress(&rs[i].counter, frozen[i]));
    }
    assert_int_equal(sp.safepoints_count, rounds);
    stop_runners(rs, RUNNERS);
    for (int i = 0; i < RUNNERS; i++) {
        assert_int_equal(rs[i].thread.stopped_count, rounds);
        assert_true(rs[i].thread.stopped_ns > 0);
    }
    safepoint_destroy(&sp);
}

/* A registered thread starts a safepoint: everyone but itself stops. */
static void test_mutator_initiated_safepoint(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct safepoint_thread self;
    safepoint_register(&sp, &self);
    struct runner rs[2];
    start_runners(&sp, rs, 2);
    struct safepoint_stats stats;
    safepoint_begin(&sp, &self, &stats);
    assert_int_equal(stats.threads_stopped, 2);
    assert_false(atomic_load(&self.state) & SAFEPOINT_REQUESTED);
    uint64_t c0 = atomic_load(&rs[0].counter), c1 = atomic_load(&rs[1].counter);
    usleep(2000);
    assert_true(atomic_load(&rs[0].counter) == c0 && atomic_load(&rs[1].counter) == c1);
    safepoint_poll(&self); /* the initiator's own poll does not stop it */
    safepoint_end(&sp, &self);
    assert_true(wait_progress(&rs[0].counter, c0));
    assert_int_equal(self.stopped_count, 0);
    stop_runners(rs, 2);
    safepoint_unregister(&sp, &self);
    safepoint_destroy(&sp);
}

/* --- Park and unpark ---------------------------------------------------------------------- */

static void test_parked_thread_counts_as_stopped(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct runner rs[2]; /* rs[0] parks, rs[1] keeps running */
    start_runners(&sp, rs, 2);
    atomic_store(&rs[0].park_now, true);
    wait_flag(&rs[0].parked);
    assert_true(safepoint_is_parked(&rs[0].thread));

    struct safepoint_stats stats;
    uint64_t t0 = platform_now_ns();
    safepoint_begin(&sp, NULL, &stats); /* must not wait for the parked thread */
    assert_true(platform_now_ns() - t0 < 2000000000ull);
    assert_int_equal(stats.threads_parked, 1);
    assert_int_equal(stats.threads_stopped, 1);
    uint64_t running = atomic_load(&rs[1].counter);

    /* Unpark during the safepoint blocks until the end. */
    atomic_store(&rs[0].go, true);
    usleep(50000);
    assert_false(atomic_load(&rs[0].unparked));
    assert_true(safepoint_is_parked(&rs[0].thread));
    assert_true(atomic_load(&rs[1].counter) == running);
    uint64_t end_ns = platform_now_ns();
    safepoint_end(&sp, NULL);
    wait_flag(&rs[0].unparked);
    assert_true(atomic_load(&rs[0].unparked_ns) >= end_ns);
    assert_false(safepoint_is_parked(&rs[0].thread));
    assert_true(wait_progress(&rs[1].counter, running));

    /* Once unparked it is an ordinary running thread again. */
    safepoint_begin(&sp, NULL, &stats);
    assert_int_equal(stats.threads_parked, 0);
    assert_int_equal(stats.threads_stopped, 2);
    safepoint_end(&sp, NULL);
    stop_runners(rs, 2);
    safepoint_destroy(&sp);
}

/* A thread registering while a safepoint holds cannot run before it ends. */
struct late_thread {
    struct safepoint *sp;
    struct safepoint_thread thread;
    _Atomic bool registered;
};

static void *late_main(void *arg)
{
    struct late_thread *l = arg;
    safepoint_register(l->sp, &l->thread);
    atomic_store(&l->registered, true);
    safepoint_unregister(l->sp, &l->thread);
    return NULL;
}

static void test_register_during_safepoint_waits(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    safepoint_begin(&sp, NULL, NULL);
    struct late_thread l = {.sp = &sp};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, late_main, &l), 0);
    usleep(30000);
    assert_false(atomic_load(&l.registered));
    safepoint_end(&sp, NULL);
    pthread_join(t, NULL);
    assert_true(atomic_load(&l.registered));
    assert_int_equal(sp.thread_count, 0);
    safepoint_destroy(&sp);
}

/* --- Handshakes ------------------------------------------------------------------------------ */

struct handshake_record {
    _Atomic int runs;
    int ran_on; /* platform_thread_id() of the thread that ran the operation */
    struct safepoint_thread *thread;
};

static void record_handshake(struct safepoint_thread *thread, void *arg)
{
    struct handshake_record *rec = arg;
    rec->ran_on = platform_thread_id();
    rec->thread = thread;
    atomic_fetch_add(&rec->runs, 1);
}

static void test_handshake_running_target(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct runner rs[2];
    start_runners(&sp, rs, 2);
    for (int i = 0; i < 100; i++) {
        struct handshake_record rec = {0};
        struct runner *target = &rs[i % 2];
        safepoint_handshake(&sp, NULL, &target->thread, record_handshake, &rec);
        assert_int_equal(atomic_load(&rec.runs), 1); /* done before the call returns */
        assert_ptr_equal(rec.thread, &target->thread);
        assert_int_equal(rec.ran_on, target->thread.thread_id);
        assert_int_equal(rec.ran_on, target->platform_id);
        assert_int_not_equal(rec.ran_on, platform_thread_id());
        assert_false(atomic_load(&target->thread.state) & SAFEPOINT_HANDSHAKE);
    }
    /* A handshake stops nobody else. */
    assert_int_equal(sp.safepoints_count, 0);
    stop_runners(rs, 2);
    assert_int_equal(rs[0].thread.stopped_count, 0);
    safepoint_destroy(&sp);
}

static void test_handshake_parked_target(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct runner rs[1];
    start_runners(&sp, rs, 1);
    atomic_store(&rs[0].park_now, true);
    wait_flag(&rs[0].parked);
    struct handshake_record rec = {0};
    safepoint_handshake(&sp, NULL, &rs[0].thread, record_handshake, &rec);
    assert_int_equal(atomic_load(&rec.runs), 1);
    assert_ptr_equal(rec.thread, &rs[0].thread);
    assert_int_equal(rec.ran_on, platform_thread_id()); /* run by the requester */
    assert_int_not_equal(rec.ran_on, rs[0].platform_id);
    assert_true(atomic_load(&rs[0].thread.state) == SAFEPOINT_PARKED);
    atomic_store(&rs[0].go, true);
    wait_flag(&rs[0].unparked);

    /* A handshake with oneself runs at once, on oneself. */
    struct safepoint_thread self;
    safepoint_register(&sp, &self);
    struct handshake_record own = {0};
    safepoint_handshake(&sp, &self, &self, record_handshake, &own);
    assert_int_equal(atomic_load(&own.runs), 1);
    assert_int_equal(own.ran_on, platform_thread_id());
    stop_runners(rs, 1);
    safepoint_unregister(&sp, &self);
    safepoint_destroy(&sp);
}

/* A handshake with everyone: each running thread runs the operation itself, the parked
 * one's part runs on the initiator, the initiator's own part first; nobody is stopped. */
struct all_record {
    _Atomic int runs;
    struct safepoint_thread *threads[8];
    int ran_on[8];
};

static void record_all(struct safepoint_thread *thread, void *arg)
{
    struct all_record *rec = arg;
    int k = atomic_fetch_add(&rec->runs, 1);
    rec->threads[k] = thread;
    rec->ran_on[k] = platform_thread_id();
}

static int ran_on_for(const struct all_record *rec, const struct safepoint_thread *thread)
{
    for (int k = 0; k < atomic_load(&rec->runs); k++)
        if (rec->threads[k] == thread)
            return rec->ran_on[k];
    return -1;
}

static void test_handshake_all(void **state)
{
    struct safepoint sp;
    safepoint_init(&sp, NULL);
    struct runner rs[3];
    start_runners(&sp, rs, 3);
    atomic_store(&rs[2].park_now, true);
    wait_flag(&rs[2].parked);
    struct safepoint_thread self;
    safepoint_register(&sp, &self);
    for (int i = 0; i < 50; i++) {
        struct all_record rec = {0};
        safepoint_handshake_all(&sp, &self, record_all, &rec);
        assert_int_equal(atomic_load(&rec.runs), 4); /* all done before the call returns */
        assert_ptr_equal(rec.threads[0], &self);     /* the initiator's part first */
        assert_int_equal(ran_on_for(&rec, &self), platform_thread_id());
        assert_int_equal(ran_on_for(&rec, &rs[0].thread), rs[0].platform_id);
        assert_int_equal(ran_on_for(&rec, &rs[1].thread), rs[1].platform_id);
        assert_int_equal(ran_on_for(&rec, &rs[2].thread), platform_thread_id()); /* parked */
        for (int r = 0; r < 3; r++)
            assert_false(atomic_load(&rs[r].thread.state) & SAFEPOINT_HANDSHAKE);
    }
    assert_int_equal(sp.safepoints_count, 0);
    atomic_store(&rs[2].go, true);
    wait_flag(&rs[2].unparked);
    stop_runners(rs, 3);
    safepoint_unregister(&sp, &self);
    safepoint_destroy(&sp);
}

/* --- Stress: several initiators ------------------------------------------------------------- */

#define STRESS_THREADS 4
#define STRESS_ITERATIONS 40000

struct stress {
    struct safepoint sp;
    struct stress_thread {
        struct stress *st;
        struct safepoint_thread thread;
        pthread_t handle;
        _Atomic uint64_t counter;
        unsigned seed;
        uint64_t safepoints, handshakes;
    } threads[STRESS_THREADS];
    _Atomic int registered, done;
    _Atomic uint64_t violations, miscounts, handshake_runs;
};

/* Inside a safepoint: no other thread's counter may move. */
static void check_frozen(struct stress *st, struct stress_thread *self)
{
    uint64_t snap[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++)
        snap[i] = atomic_load(&st->threads[i].counter);
    for (int y = 0; y < 3; y++)
        sched_yield();
    for (int i = 0; i < STRESS_THREADS; i++)
        if (&st->threads[i] != self && atomic_load(&st->threads[i].counter) != snap[i])
            atomic_fetch_add(&st->violations, 1);
}

static void stress_handshake_op(struct safepoint_thread *thread, void *arg)
{
    struct stress *st = arg;
    atomic_fetch_add(&st->handshake_runs, 1);
    /* Running target: it runs here, on itself. Parked target: on the requester, which is
     * not the target; so either way the op is never run by a third thread concurrently
     * with the target. */
    (void)thread;
}

static void *stress_main(void *arg)
{
    struct stress_thread *me = arg;
    struct stress *st = me->st;
    safepoint_register(&st->sp, &me->thread);
    atomic_fetch_add(&st->registered, 1);
    while (atomic_load(&st->registered) < STRESS_THREADS)
        safepoint_poll(&me->thread);
    for (int i = 0; i < STRESS_ITERATIONS; i++) {
        safepoint_poll(&me->thread);
        atomic_fetch_add(&me->counter, 1);
        unsigned r = (unsigned)rand_r(&me->seed);
        if (i % 32 == 0)
            sched_yield(); /* 4 spinners on 2 cores: let a descheduled one reach its poll */
        if (r % 16 != 0)
            continue;
        if (r % 3 == 0) {
            struct stress_thread *target = &st->threads[(r / 3) % STRESS_THREADS];
            safepoint_handshake(&st->sp, &me->thread, &target->thread, stress_handshake_op, st);
            me->handshakes++;
        } else {
            safepoint_begin(&st->sp, &me->thread, NULL);
            check_frozen(st, me);
            safepoint_end(&st->sp, &me->thread);
            me->safepoints++;
        }
    }
    atomic_fetch_add(&st->done, 1);
    /* Stay registered (and polling) until every thread is done, so handshakes never
     * target a thread that has gone. */
    while (atomic_load(&st->done) < STRESS_THREADS) {
        safepoint_poll(&me->thread);
        atomic_fetch_add(&me->counter, 1);
        sched_yield();
    }
    safepoint_unregister(&st->sp, &me->thread);
    return NULL;
}

static void test_back_to_back_safepoints(void **state)
{
    static struct stress st;
    memset(&st, 0, sizeof st);
    safepoint_init(&st.sp, NULL);
    uint64_t t0 = platform_now_ns();
    for (int i = 0; i < STRESS_THREADS; i++) {
        st.threads[i].st = &st;
        st.threads[i].seed = 17u * (unsigned)i + 1;
        assert_int_equal(pthread_create(&st.threads[i].handle, NULL, stress_main, &st.threads[i]),
                         0);
    }
    /* The test's thread, not a mutator, initiates too. */
    uint64_t main_safepoints = 0;
    while (atomic_load(&st.done) < STRESS_THREADS) {
        struct safepoint_stats stats;
        bool all_registered = atomic_load(&st.registered) == STRESS_THREADS;
        safepoint_begin(&st.sp, NULL, &stats);
        check_frozen(&st, NULL);
        /* Threads may register during a safepoint, never unregister: once all are in,
         * every one of them is either stopped or parked. */
        if (all_registered && atomic_load(&st.done) < STRESS_THREADS &&
            stats.threads_stopped + stats.threads_parked != STRESS_THREADS)
            atomic_fetch_add(&st.miscounts, 1);
        safepoint_end(&st.sp, NULL);
        main_safepoints++;
        usleep(200);
    }
    uint64_t safepoints = main_safepoints, handshakes = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(st.threads[i].handle, NULL);
        safepoints += st.threads[i].safepoints;
        handshakes += st.threads[i].handshakes;
    }
    uint64_t elapsed_ms = (platform_now_ns() - t0) / 1000000;
    print_message("stress: %llu safepoints, %llu handshakes in %llu ms\n",
                  (unsigned long long)safepoints, (unsigned long long)handshakes,
                  (unsigned long long)elapsed_ms);
    assert_int_equal(atomic_load(&st.violations), 0);
    assert_int_equal(atomic_load(&st.miscounts), 0);
    assert_int_equal(st.sp.safepoints_count, safepoints);
    assert_int_equal(atomic_load(&st.handshake_runs), handshakes);
    assert_true(safepoints > 4000);
    assert_true(handshakes > 2000);
    assert_int_equal(st.sp.thread_count, 0);
    assert_false(st.sp.active);
    safepoint_destroy(&st.sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_unregister),
        cmocka_unit_test(test_global_safepoint_stops_everyone),
        cmocka_unit_test(test_mutator_initiated_safepoint),
        cmocka_unit_test(test_parked_thread_counts_as_stopped),
        cmocka_unit_test(test_register_during_safepoint_waits),
        cmocka_unit_test(test_handshake_running_target),
        cmocka_unit_test(test_handshake_parked_target),
        cmocka_unit_test(test_handshake_all),
        cmocka_unit_test(test_back_to_back_safepoints),
    };
    return cmocka_run_group_tests_name("safepoint", tests, NULL, NULL);
}
