/*
 * What the serial and the parallel scavenger share: the list of weak slots met during
 * evacuation and their processing once every survivor has been copied, the remembered
 * set turned into work items, and the poisoning of from-space for --verify-heap.
 */
#ifndef WALTZ_SCAVENGE_COMMON_H
#define WALTZ_SCAVENGE_COMMON_H

#include "barrier/marking_worklist.h"
#include "barrier/remset.h"
#include "heap/spaces.h"
#include "waltz_config.h"

/* A scavenge during a marking cycle (old_gc=incremental|concurrent): each promoted
 * object is black from birth like every object allocated outside new space, and the
 * markers never scan it. Its fields were written while it was young, where the marking
 * barrier does not look; the scavenger's own scan of the object covers them instead,
 * greying the old objects it points to (scavenge_grey_old_referent):
 *   dijkstra  every one: such an object may be reachable from nothing the markers see;
 *   satb      the weak targets only: every old object it points to strongly was reachable
 *             when the cycle started (the young generation was scanned whole then, and a
 *             reference deleted from an old object is greyed) or was allocated black
 *             since. A weak target is kept for this cycle, as one stored into an old host
 *             is, since the markers will not see the slot to clear it.
 * Its young referents are evacuated by the same scan (and marked if promoted); those
 * left young are the young generation's, rescanned at finalization. So what a scavenge
 * promotes while a cycle runs costs the markers only the old objects it points to.
 * Young objects are never marked, so the marking worklists hold nothing a scavenge
 * moves. */
static inline void scavenge_promoted_during_marking(struct object *copy)
{
    page_mark_atomic(page_of(copy), copy);
}

static inline void scavenge_grey_old_referent(struct mark_local *local, value_t v)
{
    struct object *target = value_to_object(v);
    struct page *p = page_of(target);
    if (!(page_flags(p) & PAGE_IN_YOUNG) && page_mark_atomic(p, target))
        mark_local_push(local, target);
}

#if WALTZ_OLD_GC_STW
#define SCAVENGE_GREYS_REFERENT(v) 0
#elif WALTZ_MARKING_BARRIER_SATB
#define SCAVENGE_GREYS_REFERENT(v) value_is_weak(v)
#else
#define SCAVENGE_GREYS_REFERENT(v) 1
#endif

/* A weak slot seen during evacuation: decided after every strong path was followed. */
struct weak_slot {
    struct page *host_page; /* NULL: a weak root or a remembered slot, already recorded */
    value_t *slot;
};

struct weak_slots {
    struct weak_slot *entries;
    size_t count, capacity;
};

void weak_slots_push(struct weak_slots *w, struct page *host_page, value_t *slot);
/* Each slot whose target was copied now points to the copy (keeping its tag; an
 * old-to-young result is recorded for host pages that are old); the others read
 * VALUE_CLEARED. Several lists may be processed by different threads at once. */
void weak_slots_process(struct weak_slots *w);
void weak_slots_free(struct weak_slots *w);
/* The weak roots (weak global handles) that point into from-space go on w. */
void scavenge_collect_weak_roots(struct heap *heap, struct weak_slots *w);

/* The remembered set of every old, code and large chunk as work items (remset.h),
 * and the chunks that had any (for remset_finish_chunk afterwards). */
struct remset_work {
    struct remset_items items;
    struct page **chunks;
    size_t chunk_count, chunk_capacity;
};
void remset_work_collect(struct heap *heap, struct remset_work *work);
void remset_work_finish(struct remset_work *work);

void scavenge_poison_from_space(struct new_space *ns);

/*
 * The slot visitors of a scavenger, defined once for both strategies and instantiated
 * by each with its own context type (which has a `struct weak_slots weak` member), its
 * own evacuate(ctx, object) -> copy, so that they inline into the copying loop, and the
 * order in which scan_object visits an object's slots:
 *   SCAN_FORWARD   first slot first: Cheney's queue then copies an object's children in
 *                  slot order, breadth first;
 *   SCAN_BACKWARD  last slot first, for a scavenger whose grey objects are a stack (LIFO):
 *                  the first slot's child, pushed last, is scanned first, so the closure is
 *                  a depth-first preorder in slot order. That is the order in which a
 *                  recursively built structure was allocated (a tree: a node, then its
 *                  first subtree, then the next), so from-space is read, and to-space
 *                  written, in address order: hierarchical copying (Wilson, Lam and Moher,
 *                  "Effective static-graph reorganization to improve locality in
 *                  garbage-collected systems", PLDI 1991; Siegwart and Hirzel, "Improving
 *                  locality with parallel hierarchical copying GC", ISMM 2006).
 *   scavenge_slot(ctx, host_page, slot)  updates a root (host_page NULL) or a field of a
 *       live object; an old host whose field now points young records it;
 *   scan_object(ctx, object)             scavenge_slot on every tagged field;
 *   visit_remembered(slot, ctx)          a remembered-set slot (remset_visit_item):
 *       SLOT_KEEP while it points into the young generation.
 */
enum scan_order { SCAN_FORWARD, SCAN_BACKWARD };

#define SCAVENGE_DEFINE_VISITORS(ctx_type, evacuate_fn, scan_order)                                \
    static inline void scavenge_slot(ctx_type *c, struct page *host_page, value_t *slot)           \
    {                                                                                              \
        value_t v = *slot;                                                                         \
        if (!value_is_ref(v))                                                                      \
            return;                                                                                \
        struct object *target = value_to_object(v);                                                \
        if (!(page_flags(page_of(target)) & PAGE_IN_FROM)) {                                       \
            if (UNLIKELY(c->marking) && SCAVENGE_GREYS_REFERENT(v) && host_page &&                 \
                !(page_flags(host_page) & PAGE_IN_YOUNG))                                          \
                scavenge_grey_old_referent(&c->mark_local, v);                                     \
            return;                                                                                \
        }                                                                                          \
        if (value_is_weak(v)) {                                                                    \
            weak_slots_push(&c->weak, host_page, slot);                                            \
            return;                                                                                \
        }                                                                                          \
        struct object *copy = evacuate_fn(c, target);                                              \
        *slot = value_from_object(copy);                                                           \
        if (host_page && !(page_flags(host_page) & PAGE_IN_YOUNG) && object_in_young(copy))        \
            remset_record_gc(host_page, slot);                                                     \
    }                                                                                              \
                                                                                                   \
    static void scan_object(ctx_type *c, struct object *o)                                         \
    {                                                                                              \
        size_t start, end;                                                                         \
        object_tagged_range(o, object_map(o), &start, &end);                                       \
        struct page *host_page = page_of(o);                                                       \
        value_t *slots = object_slots(o);                                                          \
        /* Start fetching the first few referents visited before copying any: they are rarely      \
         * adjacent. */                                                                            \
        size_t ahead_lo = start, ahead_hi = end;                                                   \
        if (end - start > 8) {                                                                     \
            if (scan_order == SCAN_FORWARD)                                                        \
                ahead_hi = start + 8;                                                              \
            else                                                                                   \
                ahead_lo = end - 8;                                                                \
        }                                                                                          \
        for (size_t i = ahead_lo; i < ahead_hi; i++)                                               \
            if (slots[i] & 1)                                                                      \
                __builtin_prefetch((void *)value_address(slots[i]));                               \
        /* Eight slots at a time, skipped at once when none is tagged as a reference (runs of      \
         * Smis: a test the compiler vectorizes); then the rest one by one. */                     \
        if (scan_order == SCAN_FORWARD) {                                                          \
            size_t i = start;                                                                      \
            for (; i + 8 <= end; i += 8) {                                                         \
                value_t tags = 0;                                                                  \
                for (size_t k = 0; k < 8; k++)                                                     \
                    tags |= slots[i + k];                                                          \
                if (tags & 1)                                                                      \
                    for (size_t k = 0; k < 8; k++)                                                 \
                        scavenge_slot(c, host_page, &slots[i + k]);                                \
            }                                                                                      \
            for (; i < end; i++)                                                                   \
                scavenge_slot(c, host_page, &slots[i]);                                            \
        } else {                                                                                   \
            size_t i = end;                                                                        \
            for (; i >= start + 8; i -= 8) {                                                       \
                value_t tags = 0;                                                                  \
                for (size_t k = 1; k <= 8; k++)                                                    \
                    tags |= slots[i - k];                                                          \
                if (tags & 1)                                                                      \
                    for (size_t k = 1; k <= 8; k++)                                                \
                        scavenge_slot(c, host_page, &slots[i - k]);                                \
            }                                                                                      \
            while (i > start) {                                                                    \
                i--;                                                                               \
                scavenge_slot(c, host_page, &slots[i]);                                            \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static enum slot_callback_result visit_remembered(value_t *slot, void *ctx)                    \
    {                                                                                              \
        ctx_type *c = ctx;                                                                         \
        value_t v = *slot;                                                                         \
        if (!value_is_ref(v))                                                                      \
            return SLOT_REMOVE;                                                                    \
        struct object *target = value_to_object(v);                                                \
        if (!object_in_from_space(target))                                                         \
            return object_in_young(target) ? SLOT_KEEP : SLOT_REMOVE;                              \
        if (value_is_weak(v)) {                                                                    \
            weak_slots_push(&c->weak, NULL, slot); /* stays recorded: it may still point young */  \
            return SLOT_KEEP;                                                                      \
        }                                                                                          \
        struct object *copy = evacuate_fn(c, target);                                              \
        *slot = value_from_object(copy);                                                           \
        return object_in_young(copy) ? SLOT_KEEP : SLOT_REMOVE;                                    \
    }

#endif
