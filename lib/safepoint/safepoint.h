/*
 * lib/safepoint: the mutator registry, per-thread poll words, global safepoints,
 * handshakes, park and unpark (after V8's LocalHeap/IsolateSafepoint design).
 *
 * Every mutator thread owns a record whose state word is its poll word. Running code
 * polls it at function entry, loop back-edges and allocation slow paths: one relaxed
 * load and a branch. A global safepoint sets SAFEPOINT_REQUESTED in every record and
 * waits until each running thread has reached a poll; parked threads (blocked in I/O, a
 * lock, a join) count as stopped at once and cannot unpark until the safepoint ends. A
 * handshake runs an operation on one thread at its next poll, or, if that thread is
 * parked, on the requester's thread on its behalf.
 *
 * Invariant: while a safepoint (or handshake) holds, every registered thread other than
 * the initiator is either inside safepoint_poll_slow waiting, or parked; none touches
 * the heap. Only one safepoint operation runs at a time (sp->operation_lock).
 *
 * Offers:  safepoint_register/unregister, safepoint_poll, park/unpark, begin/end of a
 *          global safepoint with time-to-safepoint, handshakes, iteration while stopped.
 * Needs:   lib/platform, lib/telemetry (spans of each thread's stopped time).
 */
#ifndef WALTZ_SAFEPOINT_H
#define WALTZ_SAFEPOINT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"

struct telemetry;

enum safepoint_state_bits {
    SAFEPOINT_PARKED = 1u << 0,
    SAFEPOINT_REQUESTED = 1u << 1, /* stop at your next poll */
    SAFEPOINT_HANDSHAKE = 1u << 2, /* ... and run the pending handshake operation */
};

struct safepoint_thread;
typedef void (*safepoint_operation)(struct safepoint_thread *thread, void *arg);

struct safepoint_thread {
    _Atomic uint32_t state; /* the poll word */
    struct safepoint_thread *next, *prev;
    struct safepoint *safepoint;
    int thread_id;
    /* Pending handshake, written by the requester under operation_lock. */
    safepoint_operation handshake_op;
    void *handshake_arg;
    bool handshake_done;
    /* Statistics, written by the thread itself. */
    uint64_t stopped_count;
    uint64_t stopped_ns;
};

struct safepoint {
    pthread_mutex_t operation_lock; /* one safepoint operation at a time */
    pthread_mutex_t mutex;          /* guards the registry, counters and waits */
    pthread_cond_t cond;
    struct safepoint_thread *threads;
    uint32_t thread_count;
    uint32_t stopped; /* threads that arrived at the current safepoint */
    bool active;
    uint64_t generation;         /* incremented when a safepoint ends */
    struct telemetry *telemetry; /* optional: stopped spans go to trace.json */
    uint64_t safepoints_count;
    uint32_t handshakes_pending; /* safepoint_handshake_all: threads still to run its op */
};

struct safepoint_stats {
    uint64_t requested_ns;   /* when the stop was requested */
    uint64_t all_stopped_ns; /* when the last thread arrived */
    uint64_t ttsp_ns;
    uint32_t threads_stopped; /* running threads that had to reach a poll */
    uint32_t threads_parked;  /* threads that were parked and counted at once */
    uint32_t threads;         /* every registered thread, the initiator included */
};

void safepoint_init(struct safepoint *sp, struct telemetry *telemetry);
void safepoint_destroy(struct safepoint *sp);

/* Called on the thread itself; the thread is running (unparked) afterwards. */
void safepoint_register(struct safepoint *sp, struct safepoint_thread *thread);
/* Called on the thread itself while it is running. */
void safepoint_unregister(struct safepoint *sp, struct safepoint_thread *thread);

void safepoint_poll_slow(struct safepoint_thread *thread);
static inline void safepoint_poll(struct safepoint_thread *thread)
{
    if (UNLIKELY(atomic_load_explicit(&thread->state, memory_order_acquire) &
                 (SAFEPOINT_REQUESTED | SAFEPOINT_HANDSHAKE)))
        safepoint_poll_slow(thread);
}

/* Runs a pending handshake operation, if any, and never joins a safepoint (for a thread
 * that waits for a safepoint request without polling: lib/vm's rendezvous). */
void safepoint_run_pending_handshake(struct safepoint_thread *thread);

/* Before blocking outside the heap: park; after: unpark (which waits out a safepoint). */
void safepoint_park(struct safepoint_thread *thread);
void safepoint_unpark(struct safepoint_thread *thread);
static inline bool safepoint_is_parked(struct safepoint_thread *thread)
{
    return atomic_load_explicit(&thread->state, memory_order_relaxed) & SAFEPOINT_PARKED;
}

/* Stops every registered thread other than the initiator (a running registered thread,
 * or NULL for a thread that is not a mutator). Returns with the world stopped. */
void safepoint_begin(struct safepoint *sp, struct safepoint_thread *initiator,
                     struct safepoint_stats *stats);
void safepoint_end(struct safepoint *sp, struct safepoint_thread *initiator);

/* Runs op on target at target's next poll (or on this thread if target is parked) and
 * returns when it has run. initiator as for safepoint_begin. */
void safepoint_handshake(struct safepoint *sp, struct safepoint_thread *initiator,
                         struct safepoint_thread *target, safepoint_operation op, void *arg);

/* Runs op on every registered thread: on the initiator (a running registered thread, or
 * NULL for a thread that is not a mutator) first, then on each other one at its next poll, or on
 * this thread on behalf of the parked ones; returns when every one has run it. Threads that
 * register meanwhile are not included. */
void safepoint_handshake_all(struct safepoint *sp, struct safepoint_thread *initiator,
                             safepoint_operation op, void *arg);

/* While stopped (between begin and end): visit every registered thread. */
void safepoint_for_each_thread(struct safepoint *sp,
                               void (*fn)(struct safepoint_thread *thread, void *arg), void *arg);

#endif
