/*
 * What the serial and the parallel scavenger share: the list of weak slots met during
 * evacuation and their processing once every survivor has been copied, the remembered
 * set turned into work items, and the poisoning of from-space for --verify-heap.
 */
#ifndef WALTZ_SCAVENGE_COMMON_H
#define WALTZ_SCAVENGE_COMMON_H

#include "barrier/remset.h"
#include "heap/spaces.h"

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

#endif
