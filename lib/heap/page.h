/*
 * Pages: 256 KiB, aligned to 256 KiB, each with a header holding its flags, owning
 * space, marking bitmap (one bit per word), live bytes and OLD_TO_NEW remembered set
 * (a slot set, or under remembered_set=card-table a card table allocated beside it).
 * A large object gets a chunk of its own (a multiple of 256 KiB, same alignment, same
 * header), with the object at the chunk's area start, so page_of(object) is one mask
 * for every object. Slot addresses inside a large object may lie past the first 256
 * KiB: always find a slot's page from its host object, never from the slot.
 */
#ifndef WALTZ_HEAP_PAGE_H
#define WALTZ_HEAP_PAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "heap/object.h"
#include "platform/platform.h"

#define PAGE_SIZE_BYTES ((size_t)256 * 1024)
#define PAGE_MARK_WORDS (PAGE_SIZE_BYTES / WORD_BYTES / 64)

/* remembered_set=card-table: one byte per 512-byte card of the chunk (64 slots). */
#define CARD_SHIFT 9
#define CARD_BYTES ((size_t)1 << CARD_SHIFT)
enum { CARD_CLEAN = 0, CARD_DIRTY = 1 };

enum page_flags {
    PAGE_IN_YOUNG = 1u << 0,
    PAGE_IN_FROM = 1u << 1, /* from-space during a scavenge */
    PAGE_IN_TO = 1u << 2,
    PAGE_POINTERS_TO_HERE_ARE_INTERESTING = 1u << 3,   /* young: stores of it are recorded */
    PAGE_POINTERS_FROM_HERE_ARE_INTERESTING = 1u << 4, /* old: its stores are recorded */
    PAGE_BELOW_AGE_MARK = 1u << 5,                     /* young objects here survived a scavenge */
    PAGE_LARGE = 1u << 6,
    PAGE_CODE = 1u << 7,
    /* old/code: queued for concurrent sweeping, not swept yet: its unmarked objects are
     * dead, and their slots may point into pages already released */
    PAGE_UNSWEPT = 1u << 8,
};

struct space;
struct slot_set; /* lib/barrier */

struct page {
    uintptr_t flags;
    struct space *owner;
    uintptr_t area_start, area_end;
    size_t chunk_bytes;
    uintptr_t alloc_top;    /* new space: end of the allocated part of the page */
    size_t live_bytes;      /* marking */
    size_t allocated_bytes; /* paged spaces: bytes in objects (not free-list) */
    struct slot_set *old_to_new;
    uint8_t
        *cards; /* remembered_set=card-table, old/code/large chunks: chunk_bytes >> CARD_SHIFT */
    struct page *next, *prev;
    uint64_t mark_bits[PAGE_MARK_WORDS];
};

#define PAGE_HEADER_BYTES (align_up(sizeof(struct page), 64))
#define PAGE_AREA_BYTES (PAGE_SIZE_BYTES - PAGE_HEADER_BYTES)

static inline struct page *page_of(const void *address)
{
    return (struct page *)((uintptr_t)address & ~(PAGE_SIZE_BYTES - 1));
}
static inline struct page *page_of_value(value_t v) { return page_of((void *)value_address(v)); }

static inline uintptr_t page_flags(const struct page *p)
{
    return __atomic_load_n(&p->flags, __ATOMIC_RELAXED);
}
static inline void page_set_flags(struct page *p, uintptr_t f)
{
    __atomic_or_fetch(&p->flags, f, __ATOMIC_RELAXED);
}
static inline void page_clear_flags(struct page *p, uintptr_t f)
{
    __atomic_and_fetch(&p->flags, ~f, __ATOMIC_RELAXED);
}

static inline int object_in_young(const struct object *o)
{
    return (page_flags(page_of(o)) & PAGE_IN_YOUNG) != 0;
}
static inline int object_in_from_space(const struct object *o)
{
    return (page_flags(page_of(o)) & PAGE_IN_FROM) != 0;
}

/* Marking bitmap: one bit per word of the chunk's first 256 KiB. */
static inline size_t page_mark_index(const struct page *p, const struct object *o)
{
    return ((uintptr_t)o - (uintptr_t)p) / WORD_BYTES;
}
static inline int page_is_marked(const struct page *p, const struct object *o)
{
    size_t i = page_mark_index(p, o);
    return (p->mark_bits[i / 64] >> (i % 64)) & 1;
}
/* Returns 1 if this call set the bit. */
static inline int page_mark(struct page *p, const struct object *o)
{
    size_t i = page_mark_index(p, o);
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (p->mark_bits[i / 64] & bit)
        return 0;
    p->mark_bits[i / 64] |= bit;
    return 1;
}
/* The same, for markers that run beside each other and beside the mutators. */
static inline int page_mark_atomic(struct page *p, const struct object *o)
{
    size_t i = page_mark_index(p, o);
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (__atomic_load_n(&p->mark_bits[i / 64], __ATOMIC_RELAXED) & bit)
        return 0;
    return !(__atomic_fetch_or(&p->mark_bits[i / 64], bit, __ATOMIC_RELAXED) & bit);
}
static inline int page_is_marked_atomic(const struct page *p, const struct object *o)
{
    size_t i = page_mark_index(p, o);
    return (__atomic_load_n(&p->mark_bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}
static inline void page_clear_marks(struct page *p)
{
    memset(p->mark_bits, 0, sizeof p->mark_bits);
}

#endif
