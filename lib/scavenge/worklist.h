/*
 * lib/scavenge: the work-stealing deque of the parallel scavenger, and the termination
 * protocol of a group of workers that steal from each other.
 *
 * The deque is the dynamic circular work-stealing deque of D. Chase and Y. Lev (SPAA
 * 2005) with the C11 memory orderings of N. M. Lê, A. Pop, A. Cohen and F. Zappa
 * Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013).
 * One owner thread pushes and pops at the bottom (LIFO); any thread steals at the top
 * (FIFO). Items are non-NULL pointers. Invariant: the items in the deque are those with
 * logical index i, top <= i < bottom, stored at slots[i & mask] of the current array;
 * top only grows, by a compare-and-swap that decides every race for the last item
 * (owner against thieves) and between thieves. When the array is full the owner copies
 * the live range into one twice as large; the old array is retired, not freed, because
 * a thief may still read it, and every array is freed by worklist_deque_destroy.
 *
 * Offers:  worklist_deque_init/destroy, worklist_push/pop (owner), worklist_steal (any
 *          thread), worklist_size_estimate; struct worklist_termination with
 *          worklist_steal_any and worklist_termination_offer (see below), optionally
 *          with a victim order per worker (worklist_termination_set_victim_orders).
 * Needs:   lib/platform (memory, fatal errors).
 */
#ifndef WALTZ_SCAVENGE_WORKLIST_H
#define WALTZ_SCAVENGE_WORKLIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

/* ThreadSanitizer does not model atomic_thread_fence: it would miss the synchronization
 * a push publishes and report false races on the objects a thief reads. A TSan build
 * therefore folds each fence into the accesses next to it, which become seq_cst. That
 * program is strictly stronger than the one of Lê et al.; it is the one the TSan tests
 * check. This is the only build difference. */
#if defined(__SANITIZE_THREAD__)
#define WORKLIST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WORKLIST_TSAN 1
#endif
#endif
#ifdef WORKLIST_TSAN
#define WORKLIST_FENCE(order) ((void)0)
#define WORKLIST_FENCED(order) memory_order_seq_cst
#else
#define WORKLIST_FENCE(order) atomic_thread_fence(order)
#define WORKLIST_FENCED(order) (order)
#endif

#define WORKLIST_CACHE_LINE_BYTES 64

struct worklist_array {
    int64_t slot_count; /* a power of two */
    int64_t mask;       /* slot_count - 1 */
    struct worklist_array *retired_next;
    _Atomic(void *) slots[];
};

/* top and bottom live on separate cache lines: thieves write top, the owner bottom. */
struct worklist_deque {
    _Atomic int64_t top; /* next index to steal; only grows, by CAS */
    char top_pad[WORKLIST_CACHE_LINE_BYTES - sizeof(int64_t)];
    _Atomic int64_t bottom; /* next index to push; written by the owner only */
    _Atomic(struct worklist_array *) array;
    struct worklist_array *retired; /* owner only: arrays replaced by growth */
    char bottom_pad[WORKLIST_CACHE_LINE_BYTES - sizeof(int64_t) - 2 * sizeof(void *)];
};

/* The array starts with 2^initial_capacity_log2 slots (at most 2^40). */
void worklist_deque_init(struct worklist_deque *d, size_t initial_capacity_log2);
/* Frees the current array and every retired one. No thread may use d any more. */
void worklist_deque_destroy(struct worklist_deque *d);
/* Out of line: grows the array, then pushes. */
void worklist_push_slow(struct worklist_deque *d, void *item);

/* Owner only. item must not be NULL. */
static inline void worklist_push(struct worklist_deque *d, void *item)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct worklist_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    if (UNLIKELY(b - t > a->mask)) {
        worklist_push_slow(d, item);
        return;
    }
    atomic_store_explicit(&a->slots[b & a->mask], item, memory_order_relaxed);
    WORKLIST_FENCE(memory_order_release);
    atomic_store_explicit(&d->bottom, b + 1, WORKLIST_FENCED(memory_order_relaxed));
}

/* Owner only. The most recently pushed item, or NULL if the deque is empty. */
static inline void *worklist_pop(struct worklist_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct worklist_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, WORKLIST_FENCED(memory_order_relaxed));
    WORKLIST_FENCE(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, WORKLIST_FENCED(memory_order_relaxed));
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    void *item = atomic_load_explicit(&a->slots[b & a->mask], memory_order_relaxed);
    if (t == b) { /* the last item: race the thieves for it */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            item = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return item;
}

/* Any thread. The oldest item, or NULL. On NULL, *retry (if retry is not NULL) says why:
 * false, the deque looked empty; true, another thread took the item this one was about
 * to take (the deque may still hold items, so a caller looking for work should try
 * again). *retry is false whenever an item is returned. */
static inline void *worklist_steal(struct worklist_deque *d, bool *retry)
{
    int64_t t = atomic_load_explicit(&d->top, WORKLIST_FENCED(memory_order_acquire));
    WORKLIST_FENCE(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, WORKLIST_FENCED(memory_order_acquire));
    if (retry)
        *retry = false;
    if (t >= b)
        return NULL;
    /* memory_order_consume in the paper; compilers promote it to acquire anyway. */
    struct worklist_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    void *item = atomic_load_explicit(&a->slots[t & a->mask], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        if (retry)
            *retry = true;
        return NULL;
    }
    return item;
}

/* Any thread. Exact when no other thread is using the deque; a hint otherwise (it may
 * count an item that was just taken, or miss one just pushed). */
static inline size_t worklist_size_estimate(const struct worklist_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

/*
 * Termination of a group of worker_count workers, worker i owning deques[i]. A worker
 * loops: pop its own deque; if empty, worklist_steal_any; if that finds nothing,
 * worklist_termination_offer, which returns either an item (continue) or NULL (every
 * worker is idle: the phase is over, leave the loop).
 *
 *     for (;;) {
 *         void *item = worklist_pop(deques[self]);
 *         if (!item)
 *             item = worklist_steal_any(t, self);
 *         if (!item)
 *             item = worklist_termination_offer(t, self);
 *         if (!item)
 *             break;
 *         process(item); // may worklist_push(deques[self], ...)
 *     }
 *
 * A worker is busy or idle; idle_count counts the idle ones. Invariant: an item exists
 * (in a deque or in a worker's hands) only while some worker that can reach it is busy:
 * items are created only by busy workers processing an item; a worker goes idle only
 * when its own deque is empty (its pop found nothing, and only the owner pushes), and an
 * idle worker takes an item only after it has counted itself busy again. Hence when
 * idle_count reaches worker_count there is no item anywhere, none can appear, and the
 * count stays there: every worker that sees it may leave. The order "busy, then steal"
 * is what makes this safe: a thief that stole first and counted itself busy afterwards
 * would hold an item while counted idle, and the others could see every worker idle and
 * end the phase with that item (and everything it leads to) still to do. The cost of the
 * order is only a steal that fails after the worker counted itself busy; it then counts
 * itself idle again.
 *
 * Late workers. A group whose workers may start late, or never (they run in an elastic
 * job, platform/worker_pool.h), calls worklist_termination_expect_late after init: every
 * worker then starts counted idle, and each calls worklist_termination_arrive, which
 * counts it busy, before it takes any work, from a deque or from any other source the
 * group shares (a cursor over roots, say). A worker that has not arrived is idle and
 * holds nothing, so the invariant holds as stated. Every shared source must be one that
 * a worker exhausts before it offers termination (a worker reaches the loop above only
 * once the cursors say there is nothing left to claim): then when every worker is idle,
 * every source is exhausted too, and one that arrives afterwards finds nothing, offers
 * and leaves at once.
 *
 * The deques must outlive every worker's loop (destroy them after joining the workers).
 * Reuse for another phase with worklist_termination_init, while no worker is in the loop.
 *
 * Victims. By default a thief tries every other deque once, starting at a random one.
 * worklist_termination_set_victim_orders gives each worker a fixed order instead (e.g.
 * the workers of its own NUMA node first: platform/placement.h,
 * placement_gc_victim_orders). The order only changes where a thief looks first, never
 * whether it looks everywhere, so the termination argument above is unchanged.
 */
struct worklist_termination {
    _Atomic size_t idle_count;
    _Atomic size_t absent_count; /* late workers that have not arrived (counted idle) */
    size_t worker_count;
    struct worklist_deque *const *deques; /* deques[i] is owned by worker i */
    const uint32_t *victim_orders;        /* NULL, or worker_count rows of worker_count-1 */
};

/* Also clears the victim orders (random victims). */
void worklist_termination_init(struct worklist_termination *t, struct worklist_deque *const *deques,
                               size_t worker_count);
/* After init: every worker starts idle and arrives (see "Late workers" above). */
void worklist_termination_expect_late(struct worklist_termination *t);
/* Worker: counts itself busy; before it takes any work, once, after expect_late. */
void worklist_termination_arrive(struct worklist_termination *t);

/* Any thread: how many workers that have arrived are idle now, i.e. looking for work
 * (a hint, for deciding to share work; never part of the termination decision). */
static inline size_t worklist_termination_waiting_estimate(struct worklist_termination *t)
{
    size_t idle = atomic_load_explicit(&t->idle_count, memory_order_relaxed);
    size_t absent = atomic_load_explicit(&t->absent_count, memory_order_relaxed);
    return idle > absent ? idle - absent : 0;
}
/* orders: NULL (random victims), or worker_count rows of worker_count-1 entries, row i
 * (at i*(worker_count-1)) listing every worker but i exactly once, in the order worker i
 * tries them. Checked here (a malformed order is a fatal error); not copied: it must stay
 * valid until the phase ends. Call it while no worker is in the loop. */
void worklist_termination_set_victim_orders(struct worklist_termination *t, const uint32_t *orders);
/* One round of steal attempts on every deque but deques[self], in self's victim order or
 * starting at a random one; NULL if they all looked empty. For a busy worker. */
void *worklist_steal_any(struct worklist_termination *t, size_t self);
/* For a worker whose own deque is empty and whose worklist_steal_any found nothing:
 * counts it idle and waits (steal attempts with backoff, then sched_yield) until it gets
 * an item, returned with the worker counted busy again, or every worker is idle (NULL). */
void *worklist_termination_offer(struct worklist_termination *t, size_t self);

#endif
