/*
 * The out-of-line half of the work-stealing deque (Chase and Lev, SPAA 2005, with the
 * C11 orderings of Lê et al., PPoPP 2013; the fast paths are in worklist.h) and the
 * termination protocol of a group of workers that steal from each other.
 *
 * Growth keeps the deque's invariant: the owner copies the live range top..bottom-1
 * into an array twice as large, at the same logical indices, and publishes it with a
 * release store, so a thief that reads the new array also reads the copied slots. A
 * thief that still reads the old array finds there the same item at the same index
 * (the owner never writes a retired array again), and its CAS on top decides whether it
 * may keep it. Retired arrays are kept on a list until worklist_deque_destroy.
 *
 * Termination follows the idle-count protocol described in worklist.h (the same as
 * Flood, Detlefs, Shavit and Zhang, "Parallel Garbage Collection for Shared Memory
 * Multiprocessors", JVM 2001): a worker counts itself busy before it takes an item, so
 * "every worker idle" implies "no item anywhere". A victim order (per worker, set with
 * worklist_termination_set_victim_orders) only reorders the deques a thief visits; each
 * round still visits all of them, as the random order does.
 */
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include "scavenge/worklist.h"

#define WORKLIST_MAX_CAPACITY_LOG2 40
#define WORKLIST_SPIN_LIMIT_COUNT 64

static struct worklist_array *array_new(int64_t slot_count)
{
    struct worklist_array *a =
        platform_alloc(sizeof(*a) + (size_t)slot_count * sizeof(_Atomic(void *)));
    a->slot_count = slot_count;
    a->mask = slot_count - 1;
    a->retired_next = NULL;
    return a;
}

void worklist_deque_init(struct worklist_deque *d, size_t initial_capacity_log2)
{
    if (initial_capacity_log2 > WORKLIST_MAX_CAPACITY_LOG2)
        platform_fatal("worklist: initial capacity 2^%zu is over the limit 2^%d",
                       initial_capacity_log2, WORKLIST_MAX_CAPACITY_LOG2);
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, array_new((int64_t)1 << initial_capacity_log2));
    d->retired = NULL;
}

void worklist_deque_destroy(struct worklist_deque *d)
{
    platform_free(atomic_load_explicit(&d->array, memory_order_relaxed));
    for (struct worklist_array *a = d->retired, *next; a; a = next) {
        next = a->retired_next;
        platform_free(a);
    }
    atomic_store_explicit(&d->array, NULL, memory_order_relaxed);
    d->retired = NULL;
}

void worklist_push_slow(struct worklist_deque *d, void *item)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct worklist_array *old = atomic_load_explicit(&d->array, memory_order_relaxed);
    if (old->slot_count >= ((int64_t)1 << WORKLIST_MAX_CAPACITY_LOG2))
        platform_fatal("worklist: deque of %" PRId64 " items cannot grow", b - t);
    struct worklist_array *a = array_new(old->slot_count * 2);
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(
            &a->slots[i & a->mask],
            atomic_load_explicit(&old->slots[i & old->mask], memory_order_relaxed),
            memory_order_relaxed);
    atomic_store_explicit(&d->array, a, memory_order_release);
    old->retired_next = d->retired;
    d->retired = old;
    worklist_push(d, item);
}

/* --- Termination -------------------------------------------------------------------- */

static _Thread_local uint64_t victim_rng_state;

static size_t random_below(size_t n)
{
    uint64_t x = victim_rng_state;
    if (x == 0)
        x = (uint64_t)(uintptr_t)&victim_rng_state | 1; /* a different seed per thread */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    victim_rng_state = x;
    return (size_t)(x % n);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void worklist_termination_init(struct worklist_termination *t, struct worklist_deque *const *deques,
                               size_t worker_count)
{
    atomic_init(&t->idle_count, 0);
    atomic_init(&t->absent_count, 0);
    t->worker_count = worker_count;
    t->deques = deques;
    t->victim_orders = NULL;
}

void worklist_termination_expect_late(struct worklist_termination *t)
{
    atomic_store_explicit(&t->idle_count, t->worker_count, memory_order_seq_cst);
    atomic_store_explicit(&t->absent_count, t->worker_count, memory_order_relaxed);
}

void worklist_termination_arrive(struct worklist_termination *t)
{
    atomic_fetch_sub_explicit(&t->idle_count, 1, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&t->absent_count, 1, memory_order_relaxed);
}

void worklist_termination_set_victim_orders(struct worklist_termination *t, const uint32_t *orders)
{
    size_t n = t->worker_count;
    if (orders && n >= 2) {
        uint64_t *seen = platform_calloc((n + 63) / 64, sizeof *seen);
        for (size_t i = 0; i < n; i++) {
            memset(seen, 0, (n + 63) / 64 * sizeof *seen);
            for (size_t k = 0; k < n - 1; k++) {
                uint32_t v = orders[i * (n - 1) + k];
                if (v >= n || v == i || (seen[v / 64] >> (v % 64) & 1))
                    platform_fatal("worklist: the victim order of worker %zu is not a "
                                   "permutation of the other %zu workers (entry %zu is %u)",
                                   i, n - 1, k, v);
                seen[v / 64] |= (uint64_t)1 << (v % 64);
            }
        }
        platform_free(seen);
    }
    t->victim_orders = orders;
}

static void *steal_from(struct worklist_termination *t, size_t victim)
{
    bool retry;
    do {
        void *item = worklist_steal(t->deques[victim], &retry);
        if (item)
            return item;
    } while (retry);
    return NULL;
}

void *worklist_steal_any(struct worklist_termination *t, size_t self)
{
    size_t n = t->worker_count;
    if (n < 2)
        return NULL;
    if (t->victim_orders) {
        const uint32_t *row = t->victim_orders + self * (n - 1);
        for (size_t k = 0; k < n - 1; k++) {
            void *item = steal_from(t, row[k]);
            if (item)
                return item;
        }
        return NULL;
    }
    size_t start = random_below(n);
    for (size_t k = 0; k < n; k++) {
        size_t victim = (start + k) % n;
        if (victim == self)
            continue;
        void *item = steal_from(t, victim);
        if (item)
            return item;
    }
    return NULL;
}

static bool any_work_visible(const struct worklist_termination *t, size_t self)
{
    for (size_t i = 0; i < t->worker_count; i++)
        if (i != self && worklist_size_estimate(t->deques[i]) > 0)
            return true;
    return false;
}

void *worklist_termination_offer(struct worklist_termination *t, size_t self)
{
    unsigned spin_count = 1;
    atomic_fetch_add_explicit(&t->idle_count, 1, memory_order_seq_cst);
    for (;;) {
        if (atomic_load_explicit(&t->idle_count, memory_order_seq_cst) == t->worker_count)
            return NULL;
        if (any_work_visible(t, self)) {
            /* Busy before taking: see the invariant in worklist.h. */
            atomic_fetch_sub_explicit(&t->idle_count, 1, memory_order_seq_cst);
            void *item = worklist_steal_any(t, self);
            if (item)
                return item;
            atomic_fetch_add_explicit(&t->idle_count, 1, memory_order_seq_cst);
        }
        if (spin_count < WORKLIST_SPIN_LIMIT_COUNT) {
            for (unsigned i = 0; i < spin_count; i++)
                cpu_relax();
            spin_count *= 2;
        } else {
            sched_yield();
        }
    }
}
