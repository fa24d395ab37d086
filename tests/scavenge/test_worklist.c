/*
 * Tests of lib/scavenge/worklist: the Chase–Lev work-stealing deque and the termination
 * protocol of a group of stealing workers.
 *
 * Single-threaded: LIFO pop, FIFO steal, empty behaviour, and a random mix of pushes,
 * pops and steals checked against a model deque, from every initial capacity 2^0..2^10
 * so that the array grows many times with items wrapped around its end.
 * Concurrent: one owner pushing and popping, 3 or 7 thieves stealing, over rounds that
 * each start from a 2-slot array (so it grows while thieves steal); every item is taken
 * exactly once (a counter per item). Termination: N workers process a synthetic tree of
 * tasks (each task pushes its children), stealing from each other; every worker leaves
 * its loop, and when it does every task has been processed exactly once; the same with
 * the node-first victim orders of a numa placement (platform/placement.h), and with late
 * workers, of which only some ever run. Victim
 * orders: a thief visits the deques in its row's order, and a malformed order is fatal.
 *
 * Items are pointers into an array of per-item counters, so an item's address is its
 * number. Worker threads never call cmocka: they count violations in atomics that the
 * test's thread asserts on. Sizes shrink under ThreadSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/placement.h"
#include "scavenge/worklist.h"

#ifdef WORKLIST_TSAN
#define TEST_SCALE_DIVISOR 2
#else
#define TEST_SCALE_DIVISOR 1
#endif

static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static size_t retired_count(const struct worklist_deque *d)
{
    size_t n = 0;
    for (const struct worklist_array *a = d->retired; a; a = a->retired_next)
        n++;
    return n;
}

static int64_t capacity_count(struct worklist_deque *d)
{
    return atomic_load_explicit(&d->array, memory_order_relaxed)->slot_count;
}

/* --- Single-threaded ---------------------------------------------------------------- */

static void test_order_and_empty(void **state)
{
    int items[8];
    struct worklist_deque d;
    worklist_deque_init(&d, 3);
    bool retry = true;

    assert_null(worklist_pop(&d));
    assert_null(worklist_steal(&d, &retry));
    assert_false(retry);
    assert_null(worklist_steal(&d, NULL));
    assert_int_equal(worklist_size_estimate(&d), 0);
    assert_null(worklist_pop(&d)); /* popping an empty deque twice leaves it consistent */

    for (int i = 0; i < 5; i++)
        worklist_push(&d, &items[i]);
    assert_int_equal(worklist_size_estimate(&d), 5);
    assert_ptr_equal(worklist_pop(&d), &items[4]); /* owner end: LIFO */
    assert_ptr_equal(worklist_pop(&d), &items[3]);
    retry = true;
    assert_ptr_equal(worklist_steal(&d, &retry), &items[0]); /* thief end: FIFO */
    assert_false(retry);
    assert_ptr_equal(worklist_steal(&d, &retry), &items[1]);
    assert_int_equal(worklist_size_estimate(&d), 1);
    assert_ptr_equal(worklist_pop(&d), &items[2]); /* the last item, through the CAS */
    assert_null(worklist_pop(&d));
    assert_null(worklist_steal(&d, &retry));
    assert_false(retry);
    assert_int_equal(worklist_size_estimate(&d), 0);

    /* The last item taken by a steal, then pops and pushes go on at the same indices. */
    worklist_push(&d, &items[6]);
    assert_ptr_equal(worklist_steal(&d, &retry), &items[6]);
    assert_null(worklist_pop(&d));
    worklist_push(&d, &items[7]);
    assert_ptr_equal(worklist_pop(&d), &items[7]);
    assert_null(worklist_steal(&d, &retry));
    assert_int_equal(retired_count(&d), 0);
    worklist_deque_destroy(&d);
}

static void test_growth_keeps_order(void **state)
{
    enum { N = 1000 };
    static int items[N];
    struct worklist_deque d;
    worklist_deque_init(&d, 0); /* one slot: grows at the second push */
    for (int i = 0; i < N; i++)
        worklist_push(&d, &items[i]);
    assert_int_equal(capacity_count(&d), 1024);
    assert_int_equal(retired_count(&d), 10);
    assert_int_equal(worklist_size_estimate(&d), N);
    for (int i = 0; i < N / 2; i++)
        assert_ptr_equal(worklist_steal(&d, NULL), &items[i]);
    for (int i = N - 1; i >= N / 2; i--)
        assert_ptr_equal(worklist_pop(&d), &items[i]);
    assert_null(worklist_pop(&d));
    worklist_deque_destroy(&d);
}

/* A random mix of operations against a model (a plain array, items in index order). */
static void test_random_against_model(void **state)
{
    enum { OPS = 200000, ITEMS = 1 << 18 };
    static int items[ITEMS];
    static int *model[ITEMS];
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (size_t log2 = 0; log2 <= 10; log2++) {
        struct worklist_deque d;
        worklist_deque_init(&d, log2);
        size_t head = 0, tail = 0, next = 0; /* model holds model[head..tail-1] */
        for (int op = 0; op < OPS && next < ITEMS; op++) {
            uint64_t r = rng_next(&rng) % 100;
            /* Phases that mostly push and phases that mostly take, so the occupancy
             * rises and falls and the ring wraps around at every capacity. */
            bool filling = (op / 5000) % 2 == 0;
            if (r < (filling ? 70u : 30u)) {
                worklist_push(&d, &items[next]);
                model[tail++] = &items[next++];
            } else if (r < (filling ? 85u : 65u)) {
                void *got = worklist_pop(&d);
                assert_ptr_equal(got, head == tail ? NULL : model[--tail]);
            } else {
                bool retry = true;
                void *got = worklist_steal(&d, &retry);
                assert_false(retry);
                assert_ptr_equal(got, head == tail ? NULL : model[head++]);
            }
            assert_int_equal(worklist_size_estimate(&d), tail - head);
            if (head == tail)
                head = tail = 0;
        }
        assert_true(capacity_count(&d) > ((int64_t)1 << log2)); /* it grew */
        while (head != tail)
            assert_ptr_equal(worklist_pop(&d), model[--tail]);
        assert_null(worklist_pop(&d));
        worklist_deque_destroy(&d);
    }
}

/* --- One owner, many thieves ---------------------------------------------------------- */

struct stress {
    struct worklist_deque deque;
    _Atomic uint32_t *taken; /* taken[i]: how many times item i came out of the deque */
    size_t item_count, round_count;
    pthread_barrier_t barrier;
    _Atomic bool owner_done; /* this round: the owner pushes no more and found it empty */
    _Atomic uint64_t bad_items, steals, lost_races, empty_steals;
    uint64_t pushes, pops, growths;
    int64_t max_capacity;
};

static bool valid_item(struct stress *s, void *item)
{
    uintptr_t p = (uintptr_t)item, base = (uintptr_t)s->taken;
    return p >= base && p < base + s->item_count * sizeof(s->taken[0]) &&
           (p - base) % sizeof(s->taken[0]) == 0;
}

static void take(struct stress *s, void *item)
{
    if (!valid_item(s, item)) {
        atomic_fetch_add(&s->bad_items, 1);
        return;
    }
    atomic_fetch_add_explicit((_Atomic uint32_t *)item, 1, memory_order_relaxed);
}

static void *thief_main(void *arg)
{
    struct stress *s = arg;
    uint64_t steals = 0, lost = 0, empty = 0;
    for (size_t round = 0; round < s->round_count; round++) {
        pthread_barrier_wait(&s->barrier);
        for (;;) {
            bool retry;
            void *item = worklist_steal(&s->deque, &retry);
            if (item) {
                take(s, item);
                steals++;
            } else if (retry) {
                lost++;
            } else if (atomic_load_explicit(&s->owner_done, memory_order_acquire)) {
                break;
            } else {
                empty++;
                sched_yield();
            }
        }
        pthread_barrier_wait(&s->barrier);
    }
    atomic_fetch_add(&s->steals, steals);
    atomic_fetch_add(&s->lost_races, lost);
    atomic_fetch_add(&s->empty_steals, empty);
    return NULL;
}

/* The owner's round: bursts of pushes of random length (some long, to make the array
 * grow while thieves steal). After half of the bursts the owner pops a random number of
 * items at once; after the others it first waits for the thieves to bring the deque down
 * to a few items, so that its pops race them for the last one. Then pops until empty. */
static void owner_round(struct stress *s, size_t first, size_t end, uint64_t *rng)
{
    size_t next = first;
    while (next < end) {
        uint64_t r = rng_next(rng);
        size_t burst = 1 + (size_t)(r % ((size_t)1 << (r >> 60) % 13));
        for (size_t i = 0; i < burst && next < end; i++, s->pushes++)
            worklist_push(&s->deque, (void *)&s->taken[next++]);
        size_t pops = (size_t)(rng_next(rng) % (burst + 1));
        if (r & 1) {
            size_t low = (r >> 1) % 3;
            for (int spin = 0; spin < 20000 && worklist_size_estimate(&s->deque) > low; spin++)
                if (spin % 64 == 63)
                    sched_yield();
            pops = low + 1;
        }
        for (size_t i = 0; i < pops; i++) {
            void *item = worklist_pop(&s->deque);
            if (!item)
                break;
            take(s, item);
            s->pops++;
        }
    }
    for (void *item; (item = worklist_pop(&s->deque));) {
        take(s, item);
        s->pops++;
    }
}

static void run_stress(size_t thief_count)
{
    struct stress *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->round_count = 100;
    s->item_count = (size_t)10000000 / TEST_SCALE_DIVISOR;
    s->taken = calloc(s->item_count, sizeof(s->taken[0]));
    assert_non_null(s->taken);
    pthread_barrier_init(&s->barrier, NULL, (unsigned)thief_count + 1);
    pthread_t thieves[8];
    for (size_t i = 0; i < thief_count; i++)
        assert_int_equal(pthread_create(&thieves[i], NULL, thief_main, s), 0);

    uint64_t rng = 0x2545f4914f6cdd1du ^ thief_count;
    uint64_t start_ns = platform_now_ns();
    size_t per_round = s->item_count / s->round_count;
    for (size_t round = 0; round < s->round_count; round++) {
        size_t first = round * per_round;
        size_t end = round + 1 == s->round_count ? s->item_count : first + per_round;
        worklist_deque_init(&s->deque, 1);
        atomic_store(&s->owner_done, false);
        pthread_barrier_wait(&s->barrier);
        owner_round(s, first, end, &rng);
        atomic_store_explicit(&s->owner_done, true, memory_order_release);
        pthread_barrier_wait(&s->barrier);
        s->growths += retired_count(&s->deque);
        if (capacity_count(&s->deque) > s->max_capacity)
            s->max_capacity = capacity_count(&s->deque);
        worklist_deque_destroy(&s->deque);
    }
    for (size_t i = 0; i < thief_count; i++)
        pthread_join(thieves[i], NULL);
    uint64_t elapsed_ns = platform_now_ns() - start_ns;

    size_t missing = 0, duplicated = 0;
    for (size_t i = 0; i < s->item_count; i++) {
        uint32_t n = atomic_load(&s->taken[i]);
        missing += n == 0;
        duplicated += n > 1;
    }
    uint64_t steals = atomic_load(&s->steals);
    print_message("  1 owner, %zu thieves: %zu items in %zu rounds, %" PRIu64 " pushes, %" PRIu64
                  " pops, %" PRIu64 " steals, %" PRIu64 " lost races, %" PRIu64
                  " empty steals, %" PRIu64 " growths (up to %" PRId64 " slots), %.2f s\n",
                  thief_count, s->item_count, s->round_count, s->pushes, s->pops, steals,
                  atomic_load(&s->lost_races), atomic_load(&s->empty_steals), s->growths,
                  s->max_capacity, (double)elapsed_ns / 1e9);
    assert_int_equal(atomic_load(&s->bad_items), 0);
    assert_int_equal(missing, 0);
    assert_int_equal(duplicated, 0);
    assert_int_equal(s->pushes, s->item_count);
    assert_int_equal(s->pops + steals, s->item_count);
    assert_true(steals > 0);
    assert_true(s->growths >= s->round_count); /* every round grew while thieves stole */
    pthread_barrier_destroy(&s->barrier);
    free(s->taken);
    free(s);
}

static void test_three_thieves(void **state) { run_stress(3); }
static void test_seven_thieves(void **state) { run_stress(7); }

/* --- Termination ---------------------------------------------------------------------- */

/* A complete tree of tasks: task i has children fanout*i+1 .. fanout*i+fanout. */
struct tree_run {
    size_t fanout, task_count;
    _Atomic uint8_t *visits;
    struct worklist_deque deques[8];
    struct worklist_deque *deque_ptrs[8];
    struct worklist_termination term;
    _Atomic uint64_t processed, early_exits, bad_items;
    _Atomic uint64_t steal_any_hits, offer_hits;
    bool yield_sometimes; /* small trees: widen the windows between steps */
    /* Late workers (worklist_termination_expect_late): each arrives, after a delay for
     * some, then tries to claim the root from a shared flag, as a scavenger task claims
     * roots from a cursor. Only started_count of the worker_count workers ever run. */
    bool late;
    size_t started_count;
    _Atomic bool root_claimed;
};

struct tree_worker {
    struct tree_run *run;
    size_t self;
    pthread_t handle;
};

static void process_task(struct tree_run *r, size_t self, void *item)
{
    uintptr_t p = (uintptr_t)item, base = (uintptr_t)r->visits;
    if (p < base || p >= base + r->task_count) {
        atomic_fetch_add(&r->bad_items, 1);
        return;
    }
    size_t i = p - base;
    atomic_fetch_add_explicit(&r->visits[i], 1, memory_order_relaxed);
    size_t first_child = r->fanout * i + 1;
    if (first_child + r->fanout <= r->task_count)
        for (size_t c = 0; c < r->fanout; c++)
            worklist_push(&r->deques[self], (void *)&r->visits[first_child + c]);
    if (r->yield_sometimes && i % 3 == 0)
        sched_yield(); /* let a thief take the children */
    atomic_fetch_add_explicit(&r->processed, 1, memory_order_relaxed);
}

static void *tree_worker_main(void *arg)
{
    struct tree_worker *w = arg;
    struct tree_run *r = w->run;
    uint64_t steal_any_hits = 0, offer_hits = 0;
    if (r->late) {
        if (w->self % 2 == 1)
            usleep(50 * (unsigned)w->self); /* start late: others may be done already */
        worklist_termination_arrive(&r->term);
        if (!atomic_exchange(&r->root_claimed, true))
            process_task(r, w->self, (void *)&r->visits[0]);
    }
    for (;;) {
        void *item = worklist_pop(&r->deques[w->self]);
        if (!item && (item = worklist_steal_any(&r->term, w->self)))
            steal_any_hits++;
        if (!item && (item = worklist_termination_offer(&r->term, w->self)))
            offer_hits++;
        if (!item)
            break;
        process_task(r, w->self, item);
    }
    /* Every worker is idle: every task must have been processed already. */
    if (atomic_load_explicit(&r->processed, memory_order_relaxed) != r->task_count)
        atomic_fetch_add(&r->early_exits, 1);
    atomic_fetch_add(&r->steal_any_hits, steal_any_hits);
    atomic_fetch_add(&r->offer_hits, offer_hits);
    return NULL;
}

static size_t tree_size(size_t fanout, size_t depth)
{
    size_t n = 0, level = 1;
    for (size_t d = 0; d <= depth; d++, level *= fanout)
        n += level;
    return n;
}

/* Returns the number of tasks handed over by stealing (for the report). victim_orders:
 * NULL (random victims) or as for worklist_termination_set_victim_orders. started_count:
 * 0 for the usual group (all start busy, the root at worker 0), or how many of the
 * worker_count late workers run (see struct tree_run). */
static uint64_t run_tree_group(size_t worker_count, size_t started_count, size_t fanout,
                               size_t depth, bool yield_sometimes, const uint32_t *victim_orders)
{
    struct tree_run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fanout = fanout;
    r->task_count = tree_size(fanout, depth);
    r->yield_sometimes = yield_sometimes;
    r->visits = calloc(r->task_count, 1);
    assert_non_null(r->visits);
    for (size_t i = 0; i < worker_count; i++) {
        worklist_deque_init(&r->deques[i], 4);
        r->deque_ptrs[i] = &r->deques[i];
    }
    worklist_termination_init(&r->term, r->deque_ptrs, worker_count);
    worklist_termination_set_victim_orders(&r->term, victim_orders);
    r->late = started_count > 0;
    r->started_count = r->late ? started_count : worker_count;
    if (r->late)
        worklist_termination_expect_late(&r->term);
    else
        worklist_push(&r->deques[0], (void *)&r->visits[0]); /* the root, at worker 0 */

    struct tree_worker workers[8];
    for (size_t i = 0; i < r->started_count; i++) {
        workers[i] = (struct tree_worker){.run = r, .self = i};
        assert_int_equal(pthread_create(&workers[i].handle, NULL, tree_worker_main, &workers[i]),
                         0);
    }
    for (size_t i = 0; i < r->started_count; i++)
        pthread_join(workers[i].handle, NULL);

    size_t unvisited = 0, revisited = 0;
    for (size_t i = 0; i < r->task_count; i++) {
        unvisited += r->visits[i] == 0;
        revisited += r->visits[i] > 1;
    }
    assert_int_equal(atomic_load(&r->bad_items), 0);
    assert_int_equal(atomic_load(&r->early_exits), 0);
    assert_int_equal(atomic_load(&r->processed), r->task_count);
    assert_int_equal(unvisited, 0);
    assert_int_equal(revisited, 0);
    assert_int_equal(atomic_load(&r->term.idle_count), worker_count);
    for (size_t i = 0; i < worker_count; i++) {
        assert_int_equal(worklist_size_estimate(&r->deques[i]), 0);
        worklist_deque_destroy(&r->deques[i]);
    }
    uint64_t stolen = atomic_load(&r->steal_any_hits) + atomic_load(&r->offer_hits);
    free(r->visits);
    free(r);
    return stolen;
}

static uint64_t run_tree_ordered(size_t worker_count, size_t fanout, size_t depth,
                                 bool yield_sometimes, const uint32_t *victim_orders)
{
    return run_tree_group(worker_count, 0, fanout, depth, yield_sometimes, victim_orders);
}

static uint64_t run_tree(size_t worker_count, size_t fanout, size_t depth, bool yield_sometimes)
{
    return run_tree_ordered(worker_count, fanout, depth, yield_sometimes, NULL);
}

static void test_termination_large_tree(void **state)
{
    size_t depth = TEST_SCALE_DIVISOR > 1 ? 8 : 10; /* 4-ary: 87381 or 1398101 tasks */
    for (size_t workers = 2; workers <= 8; workers *= 2) {
        uint64_t start_ns = platform_now_ns();
        uint64_t stolen = run_tree(workers, 4, depth, false);
        print_message("  %zu workers: %zu tasks, %" PRIu64 " stolen, %.2f s\n", workers,
                      tree_size(4, depth), stolen, (double)(platform_now_ns() - start_ns) / 1e9);
    }
}

static void test_termination_small_trees(void **state)
{
    size_t reps = 600 / TEST_SCALE_DIVISOR;
    uint64_t start_ns = platform_now_ns(), stolen = 0;
    for (size_t rep = 0; rep < reps; rep++) {
        stolen += run_tree(2 + rep % 7, 2, 1 + rep % 6, true); /* 3 to 127 tasks */
        stolen += run_tree(1 + rep % 8, 3, 0, false);          /* the root alone */
    }
    print_message("  %zu runs of 1 to 8 workers on trees of 1 to 127 tasks, %" PRIu64
                  " stolen, %.2f s\n",
                  2 * reps, stolen, (double)(platform_now_ns() - start_ns) / 1e9);
}

/* Late workers: groups of 2 to 8 in which only some workers ever run, the odd ones
 * starting late, on small and large trees and a chain. Every run must end with every
 * task processed once, whichever workers came: the absent ones count as idle. */
static void test_termination_late_workers(void **state)
{
    /* The waiting estimate counts the idle workers that have arrived, not the absent. */
    struct worklist_deque deques[2];
    struct worklist_deque *ptrs[2] = {&deques[0], &deques[1]};
    for (size_t i = 0; i < 2; i++)
        worklist_deque_init(&deques[i], 2);
    struct worklist_termination term;
    worklist_termination_init(&term, ptrs, 2);
    worklist_termination_expect_late(&term);
    assert_int_equal(worklist_termination_waiting_estimate(&term), 0);
    worklist_termination_arrive(&term);
    assert_int_equal(worklist_termination_waiting_estimate(&term), 0);
    assert_null(worklist_termination_offer(&term, 0)); /* worker 1 never came: done */
    assert_int_equal(worklist_termination_waiting_estimate(&term), 1);
    for (size_t i = 0; i < 2; i++)
        worklist_deque_destroy(&deques[i]);

    size_t reps = 200 / TEST_SCALE_DIVISOR;
    uint64_t start_ns = platform_now_ns(), stolen = 0;
    for (size_t rep = 0; rep < reps; rep++) {
        size_t workers = 2 + rep % 7, started = 1 + rep % workers;
        stolen += run_tree_group(workers, started, 2, 1 + rep % 8, rep % 2 == 0, NULL);
        stolen += run_tree_group(workers, started, 1, 300, true, NULL);
    }
    stolen += run_tree_group(8, 5, 4, TEST_SCALE_DIVISOR > 1 ? 7 : 9, false, NULL);
    print_message("  %zu runs of 2 to 8 workers of which 1 to 8 run, %" PRIu64 " stolen, %.2f s\n",
                  2 * reps + 1, stolen, (double)(platform_now_ns() - start_ns) / 1e9);
}

/* A chain: each task has one child, so there is one item at a time and every steal
 * takes the only work there is while its victim goes idle. This is where a worker that
 * took an item before counting itself busy would let the others end the phase early. */
static void test_termination_chain(void **state)
{
    size_t length = 200000 / TEST_SCALE_DIVISOR;
    for (size_t workers = 2; workers <= 8; workers *= 2) {
        uint64_t start_ns = platform_now_ns();
        uint64_t stolen = run_tree(workers, 1, length - 1, true);
        print_message("  %zu workers: chain of %zu tasks, %" PRIu64 " stolen, %.2f s\n", workers,
                      length, stolen, (double)(platform_now_ns() - start_ns) / 1e9);
    }
}

/* The order "count busy, then take" seen from the victim. Worker 1 waits in
 * worklist_termination_offer; worker 0 (this thread) pushes one item at a time and
 * watches its deque's top. Once the item is gone, worker 1 must already be counted busy:
 * reading idle_count == 1 while worker 1 has not yet finished with the item (taken is
 * still the old value, and worker 1 counts itself idle again only after taken moves)
 * means worker 1 held the item while counted idle. */
struct handoff {
    struct worklist_deque deques[2];
    struct worklist_deque *deque_ptrs[2];
    struct worklist_termination term;
    _Atomic uint64_t taken;
    int item;
};

static void *handoff_thief_main(void *arg)
{
    struct handoff *h = arg;
    while (worklist_termination_offer(&h->term, 1))
        atomic_fetch_add(&h->taken, 1);
    return NULL;
}

static void test_termination_busy_before_take(void **state)
{
    size_t trials = 20000 / TEST_SCALE_DIVISOR, held_while_idle = 0;
    struct handoff *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    for (size_t i = 0; i < 2; i++) {
        worklist_deque_init(&h->deques[i], 2);
        h->deque_ptrs[i] = &h->deques[i];
    }
    worklist_termination_init(&h->term, h->deque_ptrs, 2);
    pthread_t thief;
    assert_int_equal(pthread_create(&thief, NULL, handoff_thief_main, h), 0);
    uint64_t start_ns = platform_now_ns();
    for (size_t trial = 0; trial < trials; trial++) {
        while (atomic_load(&h->term.idle_count) != 1)
            ;
        int64_t top = atomic_load(&h->deques[0].top);
        worklist_push(&h->deques[0], &h->item);
        while (atomic_load(&h->deques[0].top) == top)
            ;
        size_t idle = atomic_load(&h->term.idle_count);
        if (idle == 1 && atomic_load(&h->taken) == trial)
            held_while_idle++;
        while (atomic_load(&h->taken) != trial + 1)
            ;
    }
    assert_null(worklist_termination_offer(&h->term, 0)); /* both idle: the end */
    pthread_join(thief, NULL);
    print_message("  %zu hand-overs, %zu taken while counted idle, %.2f s\n", trials,
                  held_while_idle, (double)(platform_now_ns() - start_ns) / 1e9);
    assert_int_equal(held_while_idle, 0);
    assert_int_equal(atomic_load(&h->taken), trials);
    for (size_t i = 0; i < 2; i++)
        worklist_deque_destroy(&h->deques[i]);
    free(h);
}

/* --- Victim orders ----------------------------------------------------------------------- */

static void test_victim_order(void **state)
{
    int items[5];
    struct worklist_deque deques[4];
    struct worklist_deque *ptrs[4];
    for (size_t i = 0; i < 4; i++) {
        worklist_deque_init(&deques[i], 2);
        ptrs[i] = &deques[i];
    }
    struct worklist_termination t;
    worklist_termination_init(&t, ptrs, 4);
    assert_null(t.victim_orders);
    static const uint32_t orders[] = {
        2, 3, 1, /* worker 0 */
        0, 2, 3, /* worker 1 */
        3, 0, 1, /* worker 2 */
        1, 0, 2, /* worker 3 */
    };
    worklist_termination_set_victim_orders(&t, orders);
    worklist_push(&deques[1], &items[0]);
    worklist_push(&deques[2], &items[1]);
    worklist_push(&deques[2], &items[2]);
    worklist_push(&deques[3], &items[3]);
    /* Worker 0 empties deque 2 (oldest first), then 3, then 1. */
    assert_ptr_equal(worklist_steal_any(&t, 0), &items[1]);
    assert_ptr_equal(worklist_steal_any(&t, 0), &items[2]);
    assert_ptr_equal(worklist_steal_any(&t, 0), &items[3]);
    assert_ptr_equal(worklist_steal_any(&t, 0), &items[0]);
    assert_null(worklist_steal_any(&t, 0));
    /* Worker 3 tries 1 before 0 and 2; worker 2 tries 3, then 0. */
    worklist_push(&deques[0], &items[0]);
    worklist_push(&deques[1], &items[1]);
    worklist_push(&deques[2], &items[2]);
    assert_ptr_equal(worklist_steal_any(&t, 3), &items[1]);
    assert_ptr_equal(worklist_steal_any(&t, 3), &items[0]);
    assert_ptr_equal(worklist_steal_any(&t, 3), &items[2]);
    worklist_push(&deques[3], &items[3]);
    worklist_push(&deques[0], &items[4]);
    assert_ptr_equal(worklist_steal_any(&t, 2), &items[3]);
    assert_ptr_equal(worklist_steal_any(&t, 2), &items[4]);
    assert_null(worklist_steal_any(&t, 2));
    /* A new phase starts with random victims again. */
    worklist_termination_init(&t, ptrs, 4);
    assert_null(t.victim_orders);
    for (size_t i = 0; i < 4; i++)
        worklist_deque_destroy(&deques[i]);
}

/* worklist_termination_set_victim_orders in a child: its exit status. */
static int set_orders_in_child(const uint32_t *orders, size_t worker_count)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(99);
        struct worklist_deque deques[4];
        struct worklist_deque *ptrs[4];
        for (size_t i = 0; i < worker_count; i++) {
            worklist_deque_init(&deques[i], 1);
            ptrs[i] = &deques[i];
        }
        struct worklist_termination t;
        worklist_termination_init(&t, ptrs, worker_count);
        worklist_termination_set_victim_orders(&t, orders);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_victim_order_malformed(void **state)
{
    static const uint32_t good[] = {1, 2, 2, 0, 0, 1};
    static const uint32_t self[] = {1, 2, 2, 0, 1, 2};      /* worker 2 lists itself */
    static const uint32_t twice[] = {1, 1, 2, 0, 0, 1};     /* worker 0 lists 1 twice */
    static const uint32_t too_large[] = {1, 3, 2, 0, 0, 1}; /* no worker 3 */
    assert_int_equal(set_orders_in_child(good, 3), 0);
    assert_int_equal(set_orders_in_child(NULL, 3), 0);
    assert_int_equal(set_orders_in_child(self, 3), 1);
    assert_int_equal(set_orders_in_child(twice, 3), 1);
    assert_int_equal(set_orders_in_child(too_large, 3), 1);
}

/* Termination with the node-first orders of a numa placement planned for two packages
 * of two NUMA nodes: the order changes where thieves look first, never the outcome. */
static void test_termination_node_orders(void **state)
{
    struct platform_topology summary;
    struct hwloc_topology *topology;
    const char *error = NULL;
    assert_int_equal(
        platform_topology_open(&summary, &topology, "pack:2 numa:2 core:16 pu:1", &error), 0);
    size_t depth = TEST_SCALE_DIVISOR > 1 ? 7 : 9;
    for (uint32_t workers = 2; workers <= 8; workers *= 2) {
        struct placement_request request = {
            .policy = PLACEMENT_NUMA, .mutators = 4, .gc_threads = workers, .source = "test"};
        char message[256];
        struct placement *p = placement_compute(topology, &request, message, sizeof message);
        assert_non_null(p);
        uint32_t *orders = placement_gc_victim_orders(p, workers, 0);
        assert_non_null(orders);
        uint64_t start_ns = platform_now_ns();
        uint64_t stolen = run_tree_ordered(workers, 4, depth, false, orders);
        stolen += run_tree_ordered(workers, 1, 20000 / TEST_SCALE_DIVISOR, true, orders);
        print_message("  %u workers, node-first victims: %" PRIu64 " stolen, %.2f s\n", workers,
                      stolen, (double)(platform_now_ns() - start_ns) / 1e9);
        platform_free(orders);
        placement_destroy(p);
    }
    platform_topology_close(topology);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_empty),
        cmocka_unit_test(test_growth_keeps_order),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_three_thieves),
        cmocka_unit_test(test_seven_thieves),
        cmocka_unit_test(test_termination_large_tree),
        cmocka_unit_test(test_termination_small_trees),
        cmocka_unit_test(test_termination_chain),
        cmocka_unit_test(test_termination_late_workers),
        cmocka_unit_test(test_termination_busy_before_take),
        cmocka_unit_test(test_victim_order),
        cmocka_unit_test(test_victim_order_malformed),
        cmocka_unit_test(test_termination_node_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
