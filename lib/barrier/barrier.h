/*
 * lib/barrier: the generational write barrier and the remembered set.
 *
 * The barrier's fast path is two page-flag tests (after V8): a store is recorded only
 * when the value's page has POINTERS_TO_HERE_ARE_INTERESTING (young) and the host's
 * page has POINTERS_FROM_HERE_ARE_INTERESTING (old, code, large). The slow path is the
 * strategy the build selected (remembered_set option):
 *   store-buffer  append the slot to the mutator's thread-local store buffer; the
 *                 buffer is flushed into the page slot sets when it overflows and at the
 *                 start of every collection pause;
 *   slot-set      insert the slot straight into its page's slot set (one atomic OR);
 *   card-table    dirty the slot's 512-byte card in its chunk's card table (one byte).
 * While a marking cycle runs, the marking barrier (below) greys objects as well.
 * Invariant (checked by the verifier after each GC): every old-to-young slot is in its
 * page's remembered set (remset.h), or in some mutator's store buffer before the flush.
 *
 * Offers:  barrier_write (every store of a tagged value into a heap object), the
 *          per-mutator remembered-set state, remset_flush_all for the collectors.
 * Needs:   lib/heap (pages, mutators), slot_set.h or card_table.h, marking_worklist.h.
 */
#ifndef WALTZ_BARRIER_H
#define WALTZ_BARRIER_H

#include "heap/heap.h"
#include "waltz_config.h"

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot);

/* The selected strategy's inline part, remset_record(m, host_flags, host, slot)
 * (store_buffer.h or slot_set_direct.h, chosen by the build). */
#include WALTZ_REMSET_HEADER

static inline void barrier_generational(struct mutator *m, struct object *host, value_t *slot,
                                        value_t v)
{
    if (!(page_flags(page_of_value(v)) & PAGE_POINTERS_TO_HERE_ARE_INTERESTING))
        return;
    uintptr_t host_flags = page_flags(page_of(host));
    if (host_flags & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING)
        remset_record(m, host_flags, host, slot);
}

/* The marking barrier (old_gc=incremental|concurrent; marking_barrier option), off but
 * for one flag test while no marking cycle runs. Only old hosts are barriered: the
 * young generation is scanned whole when a cycle starts and when it ends (see
 * lib/marking/marker.c), so what young objects hold needs no record.
 *   dijkstra  after the store, grey the stored value if it is an unmarked old object
 *             (Dijkstra et al. 1978: no black object ever points to a white one);
 *   satb      before the store, grey the value being overwritten (Yuasa 1990: everything
 *             reachable when marking started gets marked); a weak value stored is greyed
 *             too, since a black host's weak slots are no longer looked at. */
void marking_barrier_slow(struct mutator *m, struct object *host, value_t v);

#if WALTZ_OLD_GC_STW
#define MARKING_BARRIER_COMPILED 0
#else
#define MARKING_BARRIER_COMPILED 1
#endif

/* Stores v into slot, a field of host, and tells the collector. While markers may read
 * the slot, the store is an atomic release (a plain mov on x86): a marker that loads v
 * with acquire also sees the initialized object v points to and the header of its page,
 * which may have been allocated a moment ago. */
static inline void barrier_write(struct mutator *m, struct object *host, value_t *slot, value_t v)
{
#if MARKING_BARRIER_COMPILED && WALTZ_MARKING_BARRIER_SATB
    if (UNLIKELY(m->marking_barrier)) {
        value_t old = *slot;
        if (value_is_ref(old) && !value_is_weak(old))
            marking_barrier_slow(m, host, old);
        if (value_is_ref(v) && value_is_weak(v))
            marking_barrier_slow(m, host, v);
    }
#endif
#if MARKING_BARRIER_COMPILED
    __atomic_store_n(slot, v, __ATOMIC_RELEASE);
#else
    *slot = v;
#endif
    if (value_is_ref(v)) {
#if MARKING_BARRIER_COMPILED && WALTZ_MARKING_BARRIER_DIJKSTRA
        if (UNLIKELY(m->marking_barrier))
            marking_barrier_slow(m, host, v);
#endif
        barrier_generational(m, host, slot, v);
    }
}

/* Stores v into word index of host (a tagged field). */
static inline void object_store(struct mutator *m, struct object *host, size_t index, value_t v)
{
    barrier_write(m, host, &object_slots(host)[index], v);
}

/* A weak reference the mutator is about to use as a strong one (a weak cell read, an
 * OSR cache hit): while marking runs, its target must not stay white (under satb it may
 * not be reachable from the snapshot). Returns v. */
static inline value_t barrier_weak_read(struct mutator *m, struct object *host, value_t v)
{
#if MARKING_BARRIER_COMPILED
    if (UNLIKELY(m->marking_barrier) && value_is_ref(v))
        marking_barrier_slow(m, host, v);
#endif
    return v;
}

/* Per-mutator state: called when a mutator attaches and before it detaches. */
void remset_mutator_init(struct mutator *m);
void remset_mutator_teardown(struct mutator *m);
/* The marking buffer (a mark_local of heap->mark_pool, when the heap has one): init
 * after the mutator has registered; flush (publish what it holds) while it is still
 * registered and running; teardown once it has unregistered. */
void marking_mutator_init(struct mutator *m);
void marking_mutator_flush(struct mutator *m);
void marking_mutator_teardown(struct mutator *m);

/* Inside a safepoint: moves every buffered slot into the slot sets. Returns the number
 * of buffered entries flushed (0 for slot-set). */
size_t remset_flush_all(struct heap *heap);

/* The name of the strategy compiled in. */
const char *remset_strategy_name(void);

#endif
