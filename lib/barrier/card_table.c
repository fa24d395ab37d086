/*
 * remembered_set=card-table: card marking (Wilson and Moher, "Design of the
 * opportunistic garbage collector", OOPSLA 1989; Hölzle, "A fast write barrier for
 * generational garbage collectors", OOPSLA'93 GC workshop; HotSpot's card table with
 * conditional card marking). Every old, code and large chunk has a byte per 512-byte
 * card; the barrier dirties the card of a slot that received a young pointer. There is
 * nothing to flush at a safepoint.
 *
 * A scavenge cleans every dirty card while it turns the card table into work items
 * (remset_collect_items, see remset.h): the chunk is walked object by object, and each
 * dirty card contributes the tagged fields of the objects that overlap it, in pieces of
 * at most ITEM_CARDS cards so that one big array's cards spread over the tasks. A slot
 * that still points into the young generation after the visit dirties its card again,
 * as does every old-to-young slot a collector creates (promotion). Cards are cleaned
 * only in that first, single-threaded step: afterwards tasks only dirty them, so no
 * dirtying is lost to a concurrent cleaning.
 *
 * Invariant (checked by the verifier): the card of every old-to-young slot is dirty.
 * A dirty card may hold no such slot (imprecision costs scanning, not correctness).
 */
#include <string.h>

#include "barrier/barrier.h"
#include "barrier/remset.h"

#define ITEM_CARDS 16

const char *remset_strategy_name(void) { return "card-table"; }

void remset_mutator_init(struct mutator *m) { m->store_buffer = NULL; }
void remset_mutator_teardown(struct mutator *m) {}

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot)
{
    card_table_mark(page_of(host), slot);
}

size_t remset_flush_all(struct heap *heap) { return 0; }

/* --- The collectors' side ---------------------------------------------------------------- */

static size_t card_index(const struct page *chunk, uintptr_t address)
{
    return (address - (uintptr_t)chunk) >> CARD_SHIFT;
}

void remset_record_gc(struct page *chunk, value_t *slot) { card_table_mark(chunk, slot); }

bool remset_contains(const struct page *chunk, const value_t *slot)
{
    return chunk->cards && chunk->cards[card_index(chunk, (uintptr_t)slot)] == CARD_DIRTY;
}

void remset_remove_range(struct page *chunk, uintptr_t start, uintptr_t end)
{
    /* Only the cards wholly inside the freed range: the others hold live fields too. */
    if (!chunk->cards || end <= start)
        return;
    size_t first = card_index(chunk, start + CARD_BYTES - 1);
    size_t last = card_index(chunk, end); /* exclusive */
    if (first < last)
        memset(&chunk->cards[first], CARD_CLEAN, last - first);
}

void remset_release(struct page *chunk) {} /* the cards go with the chunk (page_release) */

/* Pushes the part [lo, hi) of a dirty run, cut at ITEM_CARDS-card boundaries. */
static void push_pieces(struct remset_items *out, struct page *chunk, uintptr_t lo, uintptr_t hi)
{
    const uintptr_t piece = ITEM_CARDS * CARD_BYTES;
    while (lo < hi) {
        uintptr_t boundary = (uintptr_t)chunk + align_up(lo - (uintptr_t)chunk + 1, piece);
        uintptr_t end = boundary < hi ? boundary : hi;
        remset_items_push(out, chunk, lo, end);
        lo = end;
    }
}

/* The first dirty card at or after c, or count. */
static size_t next_dirty(const uint8_t *cards, size_t c, size_t count)
{
    while (c + 8 <= count) {
        uint64_t eight;
        memcpy(&eight, &cards[c], sizeof eight);
        if (eight)
            break;
        c += 8;
    }
    while (c < count && cards[c] == CARD_CLEAN)
        c++;
    return c;
}

void remset_collect_items(struct page *chunk, struct remset_items *out)
{
    uint8_t *cards = chunk->cards;
    if (!cards)
        return;
    size_t count = chunk->chunk_bytes >> CARD_SHIFT;
    uintptr_t base = (uintptr_t)chunk;
    /* Objects end at area_end on a page, at alloc_top on a large chunk. */
    uintptr_t limit = page_flags(chunk) & PAGE_LARGE ? chunk->alloc_top : chunk->area_end;
    uintptr_t walk = chunk->area_start; /* the start of the next object not yet passed */
    /* A page that waits for concurrent sweeping (lib/marking/sweep.c) still holds the dead
     * objects of the last cycle, unmarked; their slots may point into released pages. */
    bool unswept = (page_flags(chunk) & PAGE_UNSWEPT) != 0;
    size_t c = next_dirty(cards, card_index(chunk, chunk->area_start), count);
    while (c < count) {
        size_t r = c;
        while (r < count && cards[r] != CARD_CLEAN)
            cards[r++] = CARD_CLEAN;
        uintptr_t run_start = base + (c << CARD_SHIFT), run_end = base + (r << CARD_SHIFT);
        if (run_end > limit)
            run_end = limit;
        while (walk < run_end) {
            struct object *o = (struct object *)walk;
            uintptr_t o_end = walk + object_size(o);
            if (unswept && !page_is_marked(chunk, o)) {
                walk = o_end; /* dead: the sweeper will free it */
                continue;
            }
            if (o_end > run_start) {
                size_t first, last;
                object_tagged_range(o, object_map(o), &first, &last);
                uintptr_t lo = (uintptr_t)&object_slots(o)[first];
                uintptr_t hi = (uintptr_t)&object_slots(o)[last];
                if (lo < run_start)
                    lo = run_start;
                if (hi > run_end)
                    hi = run_end;
                if (lo < hi)
                    push_pieces(out, chunk, lo, hi);
                if (o_end > run_end)
                    break; /* it continues into the next run, maybe */
            }
            walk = o_end;
        }
        c = next_dirty(cards, r, count);
    }
}

size_t remset_visit_item(const struct remset_item *item,
                         enum slot_callback_result (*fn)(value_t *slot, void *ctx), void *ctx)
{
    value_t *slot = (value_t *)item->start, *end = (value_t *)item->end;
    size_t dirtied = SIZE_MAX;
    /* Fetch referents a few slots ahead: a dirty card's referents are rarely adjacent. */
    for (value_t *p = slot; p < end && p < slot + 8; p++)
        if (*p & 1)
            __builtin_prefetch((void *)value_address(*p));
    for (; slot < end; slot++) {
        if (slot + 8 < end && (slot[8] & 1))
            __builtin_prefetch((void *)value_address(slot[8]));
        if (fn(slot, ctx) == SLOT_REMOVE)
            continue;
        size_t card = card_index(item->chunk, (uintptr_t)slot);
        if (card != dirtied) {
            card_table_mark(item->chunk, slot);
            dirtied = card;
        }
    }
    return (size_t)(end - (value_t *)item->start);
}

void remset_finish_chunk(struct page *chunk) {}
