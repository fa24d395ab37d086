/*
 * Slot sets (see slot_set.h). Buckets are installed with one compare-and-swap, so two
 * threads inserting into an empty bucket at once agree on one bitmap.
 */
#include "barrier/slot_set.h"

#include <stdint.h>
#include <string.h>

#include "platform/platform.h"

static struct slot_set *slot_set_of(struct page *chunk)
{
    struct slot_set *set = __atomic_load_n(&chunk->old_to_new, __ATOMIC_ACQUIRE);
    if (LIKELY(set != NULL))
        return set;
    size_t buckets = (chunk->chunk_bytes + SLOT_SET_BUCKET_BYTES - 1) / SLOT_SET_BUCKET_BYTES;
    struct slot_set *fresh = platform_calloc(1, sizeof *fresh + buckets * sizeof(uint32_t *));
    fresh->bucket_count = buckets;
    struct slot_set *expected = NULL;
    if (__atomic_compare_exchange_n(&chunk->old_to_new, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    platform_free(fresh);
    return expected;
}

static uint32_t *bucket_of(struct slot_set *set, size_t index)
{
    uint32_t *bucket = __atomic_load_n(&set->buckets[index], __ATOMIC_ACQUIRE);
    if (LIKELY(bucket != NULL))
        return bucket;
    uint32_t *fresh = platform_calloc(SLOT_SET_BUCKET_WORDS, sizeof(uint32_t));
    uint32_t *expected = NULL;
    if (__atomic_compare_exchange_n(&set->buckets[index], &expected, fresh, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    platform_free(fresh);
    return expected;
}

void slot_set_insert(struct page *chunk, value_t *slot)
{
    size_t offset_slots = ((uintptr_t)slot - (uintptr_t)chunk) / WORD_BYTES;
    struct slot_set *set = slot_set_of(chunk);
    uint32_t *bucket = bucket_of(set, offset_slots / SLOT_SET_BUCKET_SLOTS);
    size_t bit = offset_slots % SLOT_SET_BUCKET_SLOTS;
    uint32_t mask = (uint32_t)1 << (bit % 32);
    uint32_t *word = &bucket[bit / 32];
    if (!(__atomic_load_n(word, __ATOMIC_RELAXED) & mask))
        __atomic_fetch_or(word, mask, __ATOMIC_RELEASE);
}

bool slot_set_contains(const struct page *chunk, const value_t *slot)
{
    const struct slot_set *set = chunk->old_to_new;
    if (!set)
        return false;
    size_t offset_slots = ((uintptr_t)slot - (uintptr_t)chunk) / WORD_BYTES;
    const uint32_t *bucket = set->buckets[offset_slots / SLOT_SET_BUCKET_SLOTS];
    if (!bucket)
        return false;
    size_t bit = offset_slots % SLOT_SET_BUCKET_SLOTS;
    return (bucket[bit / 32] >> (bit % 32)) & 1;
}

void slot_set_remove_range(struct page *chunk, uintptr_t start, uintptr_t end)
{
    struct slot_set *set = chunk->old_to_new;
    if (!set || end <= start)
        return;
    size_t first = (start - (uintptr_t)chunk) / WORD_BYTES;
    size_t last = (end - (uintptr_t)chunk) / WORD_BYTES; /* exclusive */
    size_t i = first;
    while (i < last) {
        size_t b = i / SLOT_SET_BUCKET_SLOTS;
        size_t bucket_end = (b + 1) * SLOT_SET_BUCKET_SLOTS;
        size_t stop = last < bucket_end ? last : bucket_end;
        /* The concurrent sweeper removes dead ranges while mutators insert slots of live
         * objects, possibly into the same bucket words: clear with atomic ANDs. A bucket
         * wholly inside the range holds no live slot, so nobody inserts into it. */
        uint32_t *bucket = __atomic_load_n(&set->buckets[b], __ATOMIC_ACQUIRE);
        if (!bucket) {
            i = stop;
            continue;
        }
        if (i % SLOT_SET_BUCKET_SLOTS == 0 && stop == bucket_end) {
            __atomic_store_n(&set->buckets[b], NULL, __ATOMIC_RELEASE);
            platform_free(bucket);
            i = stop;
            continue;
        }
        for (; i < stop; i++) {
            size_t bit = i % SLOT_SET_BUCKET_SLOTS;
            __atomic_fetch_and(&bucket[bit / 32], ~((uint32_t)1 << (bit % 32)), __ATOMIC_RELAXED);
        }
    }
}

void slot_set_clear(struct page *chunk)
{
    struct slot_set *set = chunk->old_to_new;
    if (!set)
        return;
    for (size_t b = 0; b < set->bucket_count; b++) {
        platform_free(set->buckets[b]);
        set->buckets[b] = NULL;
    }
}

void slot_set_free(struct page *chunk)
{
    slot_set_clear(chunk);
    platform_free(chunk->old_to_new);
    chunk->old_to_new = NULL;
}

size_t slot_set_iterate(struct page *chunk,
                        enum slot_callback_result (*fn)(value_t *slot, void *ctx), void *ctx)
{
    return slot_set_iterate_buckets(chunk, 0, SIZE_MAX, fn, ctx);
}

size_t slot_set_iterate_buckets(struct page *chunk, size_t first, size_t last,
                                enum slot_callback_result (*fn)(value_t *slot, void *ctx),
                                void *ctx)
{
    /* Other collector threads may install the set or a bucket meanwhile. */
    struct slot_set *set = __atomic_load_n(&chunk->old_to_new, __ATOMIC_ACQUIRE);
    if (!set)
        return 0;
    if (last > set->bucket_count)
        last = set->bucket_count;
    size_t visited = 0;
    for (size_t b = first; b < last; b++) {
        uint32_t *bucket = __atomic_load_n(&set->buckets[b], __ATOMIC_ACQUIRE);
        if (!bucket)
            continue;
        for (size_t w = 0; w < SLOT_SET_BUCKET_WORDS; w++) {
            uint32_t bits = __atomic_load_n(&bucket[w], __ATOMIC_ACQUIRE);
            if (!bits)
                continue;
            uint32_t removed = 0;
            /* The referents are usually scattered: start fetching all of them first. */
            for (uint32_t pending = bits; pending; pending &= pending - 1) {
                size_t offset_slots =
                    b * SLOT_SET_BUCKET_SLOTS + w * 32 + (unsigned)__builtin_ctz(pending);
                value_t v = *(value_t *)((uintptr_t)chunk + offset_slots * WORD_BYTES);
                if (v & 1)
                    __builtin_prefetch((void *)value_address(v));
            }
            while (bits) {
                unsigned bit = (unsigned)__builtin_ctz(bits);
                bits &= bits - 1;
                size_t offset_slots = b * SLOT_SET_BUCKET_SLOTS + w * 32 + bit;
                value_t *slot = (value_t *)((uintptr_t)chunk + offset_slots * WORD_BYTES);
                visited++;
                if (fn(slot, ctx) == SLOT_REMOVE)
                    removed |= (uint32_t)1 << bit;
            }
            /* Another collector thread may insert into this word meanwhile (a promoted
             * object on this page): clear only what was removed. */
            if (removed)
                __atomic_fetch_and(&bucket[w], ~removed, __ATOMIC_RELAXED);
        }
    }
    return visited;
}

void slot_set_trim(struct page *chunk)
{
    struct slot_set *set = chunk->old_to_new;
    if (!set)
        return;
    for (size_t b = 0; b < set->bucket_count; b++) {
        uint32_t *bucket = set->buckets[b];
        if (!bucket)
            continue;
        bool any = false;
        for (size_t w = 0; w < SLOT_SET_BUCKET_WORDS && !any; w++)
            any = bucket[w] != 0;
        if (!any) {
            set->buckets[b] = NULL;
            platform_free(bucket);
        }
    }
}

size_t slot_set_count(const struct page *chunk)
{
    const struct slot_set *set = chunk->old_to_new;
    size_t n = 0;
    if (!set)
        return 0;
    for (size_t b = 0; b < set->bucket_count; b++)
        if (set->buckets[b])
            for (size_t w = 0; w < SLOT_SET_BUCKET_WORDS; w++)
                n += (size_t)__builtin_popcount(set->buckets[b][w]);
    return n;
}
