/*
 * The collectors' remembered set (remset.h) over page slot sets, for
 * remembered_set=store-buffer and remembered_set=slot-set (whose store buffers, if any,
 * are flushed into the slot sets when the pause starts).
 */
#include "barrier/remset.h"

/* A large chunk is split into items of this many buckets (512 KiB of slots), so that
 * one big array's remembered slots are spread over the tasks. */
#define BUCKETS_PER_ITEM 64

void remset_record_gc(struct page *chunk, value_t *slot) { slot_set_insert(chunk, slot); }

bool remset_contains(const struct page *chunk, const value_t *slot)
{
    return slot_set_contains(chunk, slot);
}

void remset_remove_range(struct page *chunk, uintptr_t start, uintptr_t end)
{
    slot_set_remove_range(chunk, start, end);
}

void remset_release(struct page *chunk) { slot_set_free(chunk); }

void remset_collect_items(struct page *chunk, struct remset_items *out)
{
    if (!chunk->old_to_new)
        return;
    const size_t step = BUCKETS_PER_ITEM * SLOT_SET_BUCKET_BYTES;
    for (size_t offset = 0; offset < chunk->chunk_bytes; offset += step) {
        size_t end = offset + step < chunk->chunk_bytes ? offset + step : chunk->chunk_bytes;
        remset_items_push(out, chunk, (uintptr_t)chunk + offset, (uintptr_t)chunk + end);
    }
}

size_t remset_visit_item(const struct remset_item *item,
                         enum slot_callback_result (*fn)(value_t *slot, void *ctx), void *ctx)
{
    size_t first = (item->start - (uintptr_t)item->chunk) / SLOT_SET_BUCKET_BYTES;
    size_t last =
        (item->end - (uintptr_t)item->chunk + SLOT_SET_BUCKET_BYTES - 1) / SLOT_SET_BUCKET_BYTES;
    return slot_set_iterate_buckets(item->chunk, first, last, fn, ctx);
}

void remset_finish_chunk(struct page *chunk) { slot_set_trim(chunk); }
