/*
 * The collectors' side of the remembered set, the same for every strategy: what a
 * scavenger visits, what a collector records, what the verifier and the sweeper ask.
 *
 * The remembered set of a chunk (a page, or a large object's chunk) is either its slot
 * set (remembered_set=store-buffer and slot-set: a bit per recorded slot; the store
 * buffers have been flushed into the sets when a pause starts) or its card table
 * (remembered_set=card-table: a byte per 512-byte card; a dirty card means "some slot
 * in this card may point into the young generation").
 *
 * A scavenge visits it in two steps:
 *   1. remset_collect_items, inside the pause, before anything is evacuated: turns a
 *      chunk's remembered set into work items, each a range of the chunk whose recorded
 *      slots one task visits. Slot sets give one item per page, and one per 64 buckets
 *      (512 KiB) of a large chunk. Card tables are turned into exact slot ranges here:
 *      the dirty cards are cleaned, and the page is walked object by object (it is
 *      iterable: no LAB is open) to intersect each dirty card with the tagged fields of
 *      the objects that overlap it. Doing this before evacuation matters: promotion
 *      writes into old pages, and a walk during evacuation could meet a half-filled LAB.
 *   2. remset_visit_item, any number of tasks at once on distinct items: calls fn on
 *      each recorded slot of the item; SLOT_KEEP means the slot still points into the
 *      young generation and stays recorded (its card is dirtied again), SLOT_REMOVE
 *      forgets it (a card has nothing to forget: it stays clean unless a slot of it is
 *      kept).
 * After the parallel part, remset_finish_chunk releases what became empty.
 *
 * Offers:  remset_record_gc (a collector found an old-to-young slot), remset_contains
 *          (verifier), remset_remove_range and remset_release (sweeper), the two steps
 *          above.
 * Needs:   lib/heap (pages, object layout), slot_set.h.
 */
#ifndef WALTZ_BARRIER_REMSET_H
#define WALTZ_BARRIER_REMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier/slot_set.h"
#include "heap/page.h"

/* A range [start, end) of chunk whose recorded slots one task visits. */
struct remset_item {
    struct page *chunk;
    uintptr_t start, end;
};

struct remset_items {
    struct remset_item *items;
    size_t count, capacity;
};

/* Records that slot (a field of an object on chunk) points into the young generation.
 * Any collector thread, at any time of a pause. */
void remset_record_gc(struct page *chunk, value_t *slot);
/* Whether slot is recorded (the verifier: after a flush, inside a safepoint). */
bool remset_contains(const struct page *chunk, const value_t *slot);
/* The memory [start, end) of chunk no longer holds objects (sweeping). */
void remset_remove_range(struct page *chunk, uintptr_t start, uintptr_t end);
/* Forgets everything recorded for chunk (it is being released). */
void remset_release(struct page *chunk);

/* Step 1: appends chunk's work items to out. Single-threaded per chunk, before any
 * evacuation of the pause. */
void remset_collect_items(struct page *chunk, struct remset_items *out);
/* Step 2: visits the recorded slots of item; returns how many were visited. */
size_t remset_visit_item(const struct remset_item *item,
                         enum slot_callback_result (*fn)(value_t *slot, void *ctx), void *ctx);
/* After every item of chunk has been visited (single-threaded). */
void remset_finish_chunk(struct page *chunk);

void remset_items_push(struct remset_items *out, struct page *chunk, uintptr_t start,
                       uintptr_t end);
void remset_items_free(struct remset_items *items);

#endif
