/*
 * Global safepoints, handshakes, park and unpark. The protocol is a small state machine
 * on each thread's poll word (PARKED, REQUESTED, HANDSHAKE bits), changed with atomic
 * read-modify-writes by the thread and the requester; every wait is on one condition
 * variable under sp->mutex, and the predicate of every wait is a poll-word bit, so no
 * wake-up can be lost. A requester sets REQUESTED under sp->mutex, which is also held
 * when threads register, so a thread cannot slip into the heap during a safepoint.
 */
#include "safepoint/safepoint.h"

#include "telemetry/telemetry.h"

static const uint32_t STOP_BITS = SAFEPOINT_REQUESTED | SAFEPOINT_HANDSHAKE;

void safepoint_init(struct safepoint *sp, struct telemetry *telemetry)
{
    pthread_mutex_init(&sp->operation_lock, NULL);
    pthread_mutex_init(&sp->mutex, NULL);
    pthread_cond_init(&sp->cond, NULL);
    sp->threads = NULL;
    sp->thread_count = 0;
    sp->stopped = 0;
    sp->active = false;
    sp->telemetry = telemetry;
    sp->safepoints_count = 0;
    sp->handshakes_pending = 0;
    sp->generation = 0;
}

void safepoint_destroy(struct safepoint *sp)
{
    pthread_cond_destroy(&sp->cond);
    pthread_mutex_destroy(&sp->mutex);
    pthread_mutex_destroy(&sp->operation_lock);
}

void safepoint_register(struct safepoint *sp, struct safepoint_thread *thread)
{
    thread->safepoint = sp;
    thread->thread_id = platform_thread_id();
    thread->handshake_op = NULL;
    thread->handshake_arg = NULL;
    thread->handshake_done = false;
    thread->stopped_count = 0;
    thread->stopped_ns = 0;
    pthread_mutex_lock(&sp->mutex);
    atomic_store(&thread->state, SAFEPOINT_PARKED | (sp->active ? SAFEPOINT_REQUESTED : 0u));
    thread->prev = NULL;
    thread->next = sp->threads;
    if (sp->threads)
        sp->threads->prev = thread;
    sp->threads = thread;
    sp->thread_count++;
    pthread_mutex_unlock(&sp->mutex);
    safepoint_unpark(thread);
}

void safepoint_unregister(struct safepoint *sp, struct safepoint_thread *thread)
{
    for (;;) {
        pthread_mutex_lock(&sp->mutex);
        if (atomic_load(&thread->state) & STOP_BITS) {
            pthread_mutex_unlock(&sp->mutex);
            safepoint_poll_slow(thread);
            continue;
        }
        if (thread->prev)
            thread->prev->next = thread->next;
        else
            sp->threads = thread->next;
        if (thread->next)
            thread->next->prev = thread->prev;
        sp->thread_count--;
        pthread_mutex_unlock(&sp->mutex);
        return;
    }
}

static void run_handshake(struct safepoint *sp, struct safepoint_thread *thread)
{
    thread->handshake_op(thread, thread->handshake_arg);
    pthread_mutex_lock(&sp->mutex);
    thread->handshake_done = true;
    if (sp->handshakes_pending)
        sp->handshakes_pending--;
    atomic_fetch_and(&thread->state, ~(uint32_t)SAFEPOINT_HANDSHAKE);
    pthread_cond_broadcast(&sp->cond);
    pthread_mutex_unlock(&sp->mutex);
}

void safepoint_run_pending_handshake(struct safepoint_thread *thread)
{
    if (atomic_load(&thread->state) & SAFEPOINT_HANDSHAKE)
        run_handshake(thread->safepoint, thread);
}

void safepoint_poll_slow(struct safepoint_thread *thread)
{
    struct safepoint *sp = thread->safepoint;
    uint32_t state = atomic_load(&thread->state);
    if (state & SAFEPOINT_HANDSHAKE)
        run_handshake(sp, thread);
    if (!(atomic_load(&thread->state) & SAFEPOINT_REQUESTED))
        return;
    uint64_t start_ns = platform_now_ns();
    pthread_mutex_lock(&sp->mutex);
    /* Counted once per safepoint: if the next one is requested before this thread
     * wakes up, the generation tells the two apart. */
    while (atomic_load(&thread->state) & SAFEPOINT_REQUESTED) {
        uint64_t generation = sp->generation;
        sp->stopped++;
        pthread_cond_broadcast(&sp->cond);
        while (sp->generation == generation)
            pthread_cond_wait(&sp->cond, &sp->mutex);
    }
    pthread_mutex_unlock(&sp->mutex);
    uint64_t end_ns = platform_now_ns();
    thread->stopped_count++;
    thread->stopped_ns += end_ns - start_ns;
    if (sp->telemetry)
        telemetry_trace_span(sp->telemetry, thread->thread_id, "stopped", "safepoint", start_ns,
                             end_ns - start_ns);
}

void safepoint_park(struct safepoint_thread *thread)
{
    for (;;) {
        uint32_t state = atomic_load(&thread->state);
        if (state & STOP_BITS) {
            safepoint_poll_slow(thread);
            continue;
        }
        if (atomic_compare_exchange_weak(&thread->state, &state, state | SAFEPOINT_PARKED))
            return;
    }
}

void safepoint_unpark(struct safepoint_thread *thread)
{
    struct safepoint *sp = thread->safepoint;
    for (;;) {
        uint32_t state = atomic_load(&thread->state);
        if (state & STOP_BITS) {
            pthread_mutex_lock(&sp->mutex);
            while (atomic_load(&thread->state) & STOP_BITS)
                pthread_cond_wait(&sp->cond, &sp->mutex);
            pthread_mutex_unlock(&sp->mutex);
            continue;
        }
        if (atomic_compare_exchange_weak(&thread->state, &state,
                                         state & ~(uint32_t)SAFEPOINT_PARKED))
            return;
    }
}

/* Serializes safepoint operations. A mutator parks while it waits for its turn, so that
 * an operation already under way never waits for it. */
static void acquire_operation(struct safepoint *sp, struct safepoint_thread *initiator)
{
    if (initiator) {
        safepoint_park(initiator);
        pthread_mutex_lock(&sp->operation_lock);
        safepoint_unpark(initiator);
    } else {
        pthread_mutex_lock(&sp->operation_lock);
    }
}

void safepoint_begin(struct safepoint *sp, struct safepoint_thread *initiator,
                     struct safepoint_stats *stats)
{
    acquire_operation(sp, initiator);
    uint64_t requested_ns = platform_now_ns();
    uint32_t expected = 0, parked = 0;
    pthread_mutex_lock(&sp->mutex);
    sp->active = true;
    sp->stopped = 0;
    for (struct safepoint_thread *t = sp->threads; t; t = t->next) {
        if (t == initiator)
            continue;
        uint32_t old = atomic_fetch_or(&t->state, SAFEPOINT_REQUESTED);
        if (old & SAFEPOINT_PARKED)
            parked++;
        else
            expected++;
    }
    while (sp->stopped < expected)
        pthread_cond_wait(&sp->cond, &sp->mutex);
    uint32_t threads = sp->thread_count;
    pthread_mutex_unlock(&sp->mutex);
    uint64_t now = platform_now_ns();
    sp->safepoints_count++;
    if (stats) {
        stats->requested_ns = requested_ns;
        stats->all_stopped_ns = now;
        stats->ttsp_ns = now - requested_ns;
        stats->threads_stopped = expected;
        stats->threads_parked = parked;
        stats->threads = threads;
    }
}

void safepoint_end(struct safepoint *sp, struct safepoint_thread *initiator)
{
    pthread_mutex_lock(&sp->mutex);
    for (struct safepoint_thread *t = sp->threads; t; t = t->next)
        atomic_fetch_and(&t->state, ~(uint32_t)SAFEPOINT_REQUESTED);
    sp->active = false;
    sp->stopped = 0;
    sp->generation++;
    pthread_cond_broadcast(&sp->cond);
    pthread_mutex_unlock(&sp->mutex);
    pthread_mutex_unlock(&sp->operation_lock);
}

void safepoint_handshake(struct safepoint *sp, struct safepoint_thread *initiator,
                         struct safepoint_thread *target, safepoint_operation op, void *arg)
{
    if (target == initiator) {
        op(target, arg);
        return;
    }
    acquire_operation(sp, initiator);
    pthread_mutex_lock(&sp->mutex);
    target->handshake_op = op;
    target->handshake_arg = arg;
    target->handshake_done = false;
    uint32_t old = atomic_fetch_or(&target->state, SAFEPOINT_HANDSHAKE);
    if (old & SAFEPOINT_PARKED) {
        /* It cannot unpark while HANDSHAKE is set: run the operation on its behalf. */
        pthread_mutex_unlock(&sp->mutex);
        run_handshake(sp, target);
    } else {
        while (!target->handshake_done)
            pthread_cond_wait(&sp->cond, &sp->mutex);
        pthread_mutex_unlock(&sp->mutex);
    }
    pthread_mutex_unlock(&sp->operation_lock);
}

void safepoint_handshake_all(struct safepoint *sp, struct safepoint_thread *initiator,
                             safepoint_operation op, void *arg)
{
    if (initiator)
        op(initiator, arg);
    acquire_operation(sp, initiator);
    pthread_mutex_lock(&sp->mutex);
    uint32_t count = 0;
    for (struct safepoint_thread *t = sp->threads; t; t = t->next)
        count += t != initiator;
    struct safepoint_thread **parked = platform_calloc(count ? count : 1, sizeof *parked);
    uint32_t np = 0;
    sp->handshakes_pending = count;
    for (struct safepoint_thread *t = sp->threads; t; t = t->next) {
        if (t == initiator)
            continue;
        t->handshake_op = op;
        t->handshake_arg = arg;
        t->handshake_done = false;
        /* A parked thread cannot unpark while HANDSHAKE is set, nor unregister. */
        if (atomic_fetch_or(&t->state, SAFEPOINT_HANDSHAKE) & SAFEPOINT_PARKED)
            parked[np++] = t;
    }
    pthread_mutex_unlock(&sp->mutex);
    for (uint32_t k = 0; k < np; k++)
        run_handshake(sp, parked[k]);
    /* Counted, not read from the threads: one that has run it may unregister and free
     * its record before this thread wakes up. */
    pthread_mutex_lock(&sp->mutex);
    while (sp->handshakes_pending)
        pthread_cond_wait(&sp->cond, &sp->mutex);
    pthread_mutex_unlock(&sp->mutex);
    pthread_mutex_unlock(&sp->operation_lock);
    platform_free(parked);
}

void safepoint_for_each_thread(struct safepoint *sp,
                               void (*fn)(struct safepoint_thread *thread, void *arg), void *arg)
{
    pthread_mutex_lock(&sp->mutex);
    for (struct safepoint_thread *t = sp->threads; t; t = t->next)
        fn(t, arg);
    pthread_mutex_unlock(&sp->mutex);
}
