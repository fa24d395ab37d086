/*
 * Slot sets: the per-page OLD_TO_NEW remembered set (after V8's SlotSet). A page's
 * slots are grouped in buckets of 1024 slots (8 KiB of the page); a bucket is a bitmap
 * of 1024 bits allocated on first insertion. Insertion is one atomic OR (after a plain
 * test), so any thread may insert at any time; iteration and removal run inside a
 * safepoint. A large-object chunk has as many buckets as its size needs; slot offsets
 * are always taken from the chunk header, never from page_of(slot).
 */
#ifndef WALTZ_BARRIER_SLOT_SET_H
#define WALTZ_BARRIER_SLOT_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap/page.h"

#define SLOT_SET_BUCKET_SLOTS 1024
#define SLOT_SET_BUCKET_WORDS (SLOT_SET_BUCKET_SLOTS / 32)
#define SLOT_SET_BUCKET_BYTES (SLOT_SET_BUCKET_SLOTS * WORD_BYTES)

struct slot_set {
    size_t bucket_count;
    uint32_t *buckets[]; /* NULL until a slot of that bucket is inserted */
};

/* Inserts slot (inside chunk) into chunk's slot set. Thread-safe. */
void slot_set_insert(struct page *chunk, value_t *slot);
bool slot_set_contains(const struct page *chunk, const value_t *slot);
/* Removes the slots in [start, end) (sweeping freed that memory). Safepoint only. */
void slot_set_remove_range(struct page *chunk, uintptr_t start, uintptr_t end);
void slot_set_clear(struct page *chunk);
void slot_set_free(struct page *chunk);

enum slot_callback_result { SLOT_KEEP, SLOT_REMOVE };
/* Calls fn on every recorded slot of chunk; slots for which it returns SLOT_REMOVE are
 * removed. Other threads may insert into the same set meanwhile (they are not visited,
 * or visited once). Returns the number of slots visited. */
size_t slot_set_iterate(struct page *chunk,
                        enum slot_callback_result (*fn)(value_t *slot, void *ctx), void *ctx);
/* The same, for buckets [first, last) only (last may exceed the bucket count). Tasks may
 * iterate disjoint bucket ranges of one set at once. */
size_t slot_set_iterate_buckets(struct page *chunk, size_t first, size_t last,
                                enum slot_callback_result (*fn)(value_t *slot, void *ctx),
                                void *ctx);
size_t slot_set_count(const struct page *chunk);
/* Releases the buckets that hold no slot. Single-threaded (inside a safepoint, after
 * the parallel part of a collection). */
void slot_set_trim(struct page *chunk);

#endif
