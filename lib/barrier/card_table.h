/*
 * remembered_set=card-table, the part the barrier inlines: dirty the card of the slot
 * (one byte store; card_table.c has the rest). The generational filter of barrier.h
 * runs first, as for the other strategies, so the three differ only in how the
 * remembered set is kept (a card-marking barrier without the filter, as in HotSpot,
 * would dirty more cards and cost fewer branches).
 */
#ifndef WALTZ_BARRIER_CARD_TABLE_H
#define WALTZ_BARRIER_CARD_TABLE_H

#include "heap/heap.h"

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot);

/* Dirties the card of slot, a field of an object on chunk (a large object's slot may
 * lie past the chunk's first 256 KiB: the offset is taken from the chunk header). */
static inline void card_table_mark(struct page *chunk, const value_t *slot)
{
    uint8_t *card = &chunk->cards[((uintptr_t)slot - (uintptr_t)chunk) >> CARD_SHIFT];
    if (__atomic_load_n(card, __ATOMIC_RELAXED) != CARD_DIRTY)
        __atomic_store_n(card, CARD_DIRTY, __ATOMIC_RELAXED);
}

static inline void remset_record(struct mutator *m, uintptr_t host_flags, struct object *host,
                                 value_t *slot)
{
    card_table_mark(page_of(host), slot);
}

#endif
