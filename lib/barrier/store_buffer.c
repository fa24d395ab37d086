/*
 * remembered_set=store-buffer: V8's thread-local store buffer (as of 2016-2018). The
 * barrier's slow path appends the slot address to the mutator's buffer; when the buffer
 * is full, the mutator itself moves its entries into the page slot sets; at the start
 * of every collection the collector flushes every mutator's buffer (the threads are
 * stopped). A slot inside a large object may lie beyond its chunk's first 256 KiB, where
 * page_of(slot) does not find the header, so such a slot is buffered as two entries:
 * the chunk address with bit 0 set, then the slot.
 */
#include <stdatomic.h>

#include "barrier/barrier.h"
#include "barrier/slot_set.h"
#include "barrier/store_buffer.h"

const char *remset_strategy_name(void) { return "store-buffer"; }

void remset_mutator_init(struct mutator *m)
{
    struct store_buffer *sb = platform_alloc(sizeof *sb);
    sb->top = sb->entries;
    sb->limit = sb->entries + STORE_BUFFER_ENTRIES;
    m->store_buffer = sb;
}

static size_t flush(struct store_buffer *sb)
{
    size_t n = (size_t)(sb->top - sb->entries);
    for (uintptr_t *e = sb->entries; e < sb->top; e++) {
        if (*e & 1) {
            struct page *chunk = (struct page *)(*e & ~(uintptr_t)1);
            e++;
            slot_set_insert(chunk, (value_t *)*e);
        } else {
            slot_set_insert(page_of((void *)*e), (value_t *)*e);
        }
    }
    sb->top = sb->entries;
    return n;
}

void remset_mutator_teardown(struct mutator *m)
{
    /* Running: no collection is under way, and slot-set insertion is thread-safe. */
    flush(m->store_buffer);
    platform_free(m->store_buffer);
    m->store_buffer = NULL;
}

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot)
{
    struct store_buffer *sb = m->store_buffer;
    if (UNLIKELY(sb->limit - sb->top < 2))
        flush(sb);
    struct page *chunk = page_of(host);
    if (UNLIKELY(page_flags(chunk) & PAGE_LARGE))
        *sb->top++ = (uintptr_t)chunk | 1;
    *sb->top++ = (uintptr_t)slot;
}

static void flush_mutator(struct mutator *m, void *arg)
{
    size_t *total = arg;
    if (m->store_buffer)
        *total += flush(m->store_buffer);
}

size_t remset_flush_all(struct heap *heap)
{
    size_t total = 0;
    heap_for_each_mutator(heap, flush_mutator, &total);
    return total;
}
