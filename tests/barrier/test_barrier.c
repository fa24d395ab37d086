/*
 * Tests of lib/barrier: slot sets (insert, contains, range removal across buckets,
 * iteration that keeps or removes, counts, release of empty buckets, concurrent
 * insertion, large chunks), and the generational write barrier of the strategy this
 * build compiled: store-buffer (recorded at the flush, or when the buffer overflows),
 * slot-set (recorded at once) or card-table (the card dirtied at once). Only old-to-young
 * stores are recorded. The collectors' view (remset.h): work items from slot sets and
 * from dirty cards, which must cover exactly the tagged fields under dirty cards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "barrier/barrier.h"
#include "barrier/remset.h"
#include "barrier/slot_set.h"
#include "gc/gc.h"
#include "heap/spaces.h"
#include "heap/verify.h"
#include "waltz_config.h"

#if !defined(WALTZ_REMEMBERED_SET_STORE_BUFFER) && !defined(WALTZ_REMEMBERED_SET_SLOT_SET) &&      \
    !defined(WALTZ_REMEMBERED_SET_CARD_TABLE)
#error "test_barrier knows the store-buffer, slot-set and card-table strategies only"
#endif

/* --- Fake chunks: a page header and nothing else set ------------------------------------- */

static struct page *chunk_new(size_t bytes)
{
    struct page *p = platform_aligned_alloc(PAGE_SIZE_BYTES, bytes);
    assert_non_null(p);
    memset(p, 0, sizeof *p);
    p->chunk_bytes = bytes;
    p->area_start = (uintptr_t)p + PAGE_HEADER_BYTES;
    p->area_end = (uintptr_t)p + bytes;
    return p;
}

static void chunk_delete(struct page *p)
{
    slot_set_free(p);
    platform_free(p);
}

/* The slot index-th word of the chunk (0 is the chunk's first word). */
static value_t *slot_at(struct page *p, size_t index)
{
    return (value_t *)((uintptr_t)p + index * WORD_BYTES);
}

static const uint32_t *bucket(const struct page *p, size_t b) { return p->old_to_new->buckets[b]; }

#define FIRST_SLOT (PAGE_HEADER_BYTES / WORD_BYTES)

/* --- Slot sets --------------------------------------------------------------------------- */

static void test_slot_set_insert_contains(void **state)
{
    struct page *p = chunk_new(PAGE_SIZE_BYTES);
    assert_null(p->old_to_new);
    assert_false(slot_set_contains(p, slot_at(p, FIRST_SLOT)));
    assert_int_equal(slot_set_count(p), 0);

    const size_t picks[] = {FIRST_SLOT, FIRST_SLOT + 1, 1023, 1024, 1025, 4095, 20000, 32767};
    for (size_t i = 0; i < ARRAY_LENGTH(picks); i++)
        slot_set_insert(p, slot_at(p, picks[i]));
    assert_non_null(p->old_to_new);
    assert_int_equal(p->old_to_new->bucket_count, PAGE_SIZE_BYTES / SLOT_SET_BUCKET_BYTES);
    for (size_t i = 0; i < ARRAY_LENGTH(picks); i++)
        assert_true(slot_set_contains(p, slot_at(p, picks[i])));
    assert_false(slot_set_contains(p, slot_at(p, FIRST_SLOT + 2)));
    assert_false(slot_set_contains(p, slot_at(p, 1022)));
    assert_false(slot_set_contains(p, slot_at(p, 1026)));
    assert_false(slot_set_contains(p, slot_at(p, 32766)));
    assert_int_equal(slot_set_count(p), ARRAY_LENGTH(picks));
    /* Inserting twice records once. */
    slot_set_insert(p, slot_at(p, 1024));
    assert_int_equal(slot_set_count(p), ARRAY_LENGTH(picks));
    /* Only touched buckets exist. */
    assert_non_null(bucket(p, 0));
    assert_non_null(bucket(p, 1));
    assert_null(bucket(p, 2));
    assert_non_null(bucket(p, 3));
    assert_null(bucket(p, 4));

    slot_set_clear(p);
    assert_int_equal(slot_set_count(p), 0);
    for (size_t b = 0; b < p->old_to_new->bucket_count; b++)
        assert_null(bucket(p, b));
    assert_false(slot_set_contains(p, slot_at(p, 1024)));
    slot_set_free(p);
    assert_null(p->old_to_new);
    assert_false(slot_set_contains(p, slot_at(p, 1024)));
    chunk_delete(p);
}

static void test_slot_set_remove_range(void **state)
{
    struct page *p = chunk_new(PAGE_SIZE_BYTES);
    for (size_t i = 1000; i < 3100; i++)
        slot_set_insert(p, slot_at(p, i));
    assert_int_equal(slot_set_count(p), 2100);

    slot_set_remove_range(p, (uintptr_t)slot_at(p, 1010), (uintptr_t)slot_at(p, 3090));
    for (size_t i = 990; i < 3110; i++) {
        bool expected = (i >= 1000 && i < 1010) || (i >= 3090 && i < 3100);
        assert_int_equal(slot_set_contains(p, slot_at(p, i)), expected);
    }
    assert_int_equal(slot_set_count(p), 20);
    /* Buckets 1 and 2 were covered whole: released. 0 and 3 keep their survivors. */
    assert_non_null(bucket(p, 0));
    assert_null(bucket(p, 1));
    assert_null(bucket(p, 2));
    assert_non_null(bucket(p, 3));

    /* Empty and absent ranges change nothing. */
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 1005), (uintptr_t)slot_at(p, 1005));
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 1009), (uintptr_t)slot_at(p, 1001));
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 5000), (uintptr_t)slot_at(p, 9000));
    assert_int_equal(slot_set_count(p), 20);
    /* End is exclusive, start inclusive. */
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 1003), (uintptr_t)slot_at(p, 1004));
    assert_false(slot_set_contains(p, slot_at(p, 1003)));
    assert_true(slot_set_contains(p, slot_at(p, 1002)));
    assert_true(slot_set_contains(p, slot_at(p, 1004)));
    assert_int_equal(slot_set_count(p), 19);
    /* To the end of the page. */
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 3095), p->area_end);
    assert_int_equal(slot_set_count(p), 14);
    assert_true(slot_set_contains(p, slot_at(p, 3094)));
    chunk_delete(p);
}

struct iterate_ctx {
    struct page *p;
    size_t visited;
    uintptr_t last;
    bool ascending;
};

static enum slot_callback_result remove_even(value_t *slot, void *arg)
{
    struct iterate_ctx *c = arg;
    if ((uintptr_t)slot <= c->last)
        c->ascending = false;
    c->last = (uintptr_t)slot;
    c->visited++;
    size_t k = (size_t)(slot - slot_at(c->p, 600)) / 3;
    return k % 2 == 0 ? SLOT_REMOVE : SLOT_KEEP;
}

static enum slot_callback_result keep_all(value_t *slot, void *arg)
{
    ((struct iterate_ctx *)arg)->visited++;
    return SLOT_KEEP;
}

static enum slot_callback_result remove_all(value_t *slot, void *arg)
{
    ((struct iterate_ctx *)arg)->visited++;
    return SLOT_REMOVE;
}

static void test_slot_set_iterate(void **state)
{
    struct page *p = chunk_new(PAGE_SIZE_BYTES);
    struct iterate_ctx c = {.p = p, .ascending = true};
    assert_int_equal(slot_set_iterate(p, keep_all, &c), 0); /* no set yet */
    const size_t n = 3000;
    for (size_t k = 0; k < n; k++)
        slot_set_insert(p, slot_at(p, 600 + 3 * k));
    assert_int_equal(slot_set_iterate(p, keep_all, &c), n);
    assert_int_equal(c.visited, n);
    assert_int_equal(slot_set_count(p), n);

    c = (struct iterate_ctx){.p = p, .ascending = true};
    assert_int_equal(slot_set_iterate(p, remove_even, &c), n);
    assert_true(c.ascending);
    assert_int_equal(slot_set_count(p), n / 2);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(slot_set_contains(p, slot_at(p, 600 + 3 * k)), k % 2 == 1);

    c = (struct iterate_ctx){.p = p};
    assert_int_equal(slot_set_iterate(p, remove_all, &c), n / 2);
    assert_int_equal(slot_set_count(p), 0);
    slot_set_trim(p); /* iteration may run beside insertions: only trim frees buckets */
    for (size_t b = 0; b < p->old_to_new->bucket_count; b++)
        assert_null(bucket(p, b));

    /* A bucket emptied by iteration is released by trim, the others stay. */
    slot_set_insert(p, slot_at(p, 1024 + 5));
    slot_set_insert(p, slot_at(p, 3 * 1024 + 5));
    c = (struct iterate_ctx){.p = p};
    slot_set_iterate(p, keep_all, &c);
    assert_non_null(bucket(p, 1));
    slot_set_remove_range(p, (uintptr_t)slot_at(p, 3 * 1024 + 5),
                          (uintptr_t)slot_at(p, 3 * 1024 + 6));
    assert_non_null(bucket(p, 3)); /* partial removal keeps the bucket */
    c = (struct iterate_ctx){.p = p};
    assert_int_equal(slot_set_iterate(p, keep_all, &c), 1);
    assert_non_null(bucket(p, 3)); /* empty, but iteration never frees */
    slot_set_trim(p);
    assert_null(bucket(p, 3)); /* empty now: released by trim */
    assert_non_null(bucket(p, 1));
    chunk_delete(p);
}

#define INSERT_THREADS 4
#define INSERT_SLOTS (PAGE_SIZE_BYTES / WORD_BYTES)

struct insert_ctx {
    struct page *p;
    pthread_barrier_t *start;
    unsigned thread;
};

/* Thread t inserts slot i when bit t of a hash of i is set: overlapping sets. */
static unsigned slot_hash(size_t i) { return (unsigned)((i * 2654435761u) >> 7); }

static void *insert_main(void *arg)
{
    struct insert_ctx *c = arg;
    pthread_barrier_wait(c->start);
    for (size_t i = FIRST_SLOT; i < INSERT_SLOTS; i++)
        if (slot_hash(i) & (1u << c->thread))
            slot_set_insert(c->p, slot_at(c->p, i));
    return NULL;
}

static void test_slot_set_concurrent_insertion(void **state)
{
    size_t expected = 0;
    for (size_t i = FIRST_SLOT; i < INSERT_SLOTS; i++)
        expected += (slot_hash(i) & ((1u << INSERT_THREADS) - 1)) != 0;
    for (int round = 0; round < 20; round++) {
        struct page *p = chunk_new(PAGE_SIZE_BYTES);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, INSERT_THREADS);
        pthread_t threads[INSERT_THREADS];
        struct insert_ctx ctx[INSERT_THREADS];
        for (unsigned t = 0; t < INSERT_THREADS; t++) {
            ctx[t] = (struct insert_ctx){p, &start, t};
            assert_int_equal(pthread_create(&threads[t], NULL, insert_main, &ctx[t]), 0);
        }
        for (unsigned t = 0; t < INSERT_THREADS; t++)
            pthread_join(threads[t], NULL);
        pthread_barrier_destroy(&start);
        assert_int_equal(slot_set_count(p), expected);
        for (size_t i = FIRST_SLOT; i < INSERT_SLOTS; i++)
            assert_int_equal(slot_set_contains(p, slot_at(p, i)),
                             (slot_hash(i) & ((1u << INSERT_THREADS) - 1)) != 0);
        chunk_delete(p);
    }
}

static void test_slot_set_large_chunk(void **state)
{
    const size_t bytes = 3 * PAGE_SIZE_BYTES;
    struct page *p = chunk_new(bytes);
    const size_t far = 40000, farther = 90000; /* 312 KiB and 703 KiB into the chunk */
    slot_set_insert(p, slot_at(p, far));
    slot_set_insert(p, slot_at(p, farther));
    slot_set_insert(p, slot_at(p, FIRST_SLOT));
    assert_int_equal(p->old_to_new->bucket_count, bytes / SLOT_SET_BUCKET_BYTES);
    assert_ptr_not_equal(page_of(slot_at(p, far)), p);
    assert_true(slot_set_contains(p, slot_at(p, far)));
    assert_true(slot_set_contains(p, slot_at(p, farther)));
    assert_false(slot_set_contains(p, slot_at(p, far + 1)));
    assert_int_equal(slot_set_count(p), 3);
    struct iterate_ctx c = {.p = p};
    assert_int_equal(slot_set_iterate(p, keep_all, &c), 3);
    slot_set_remove_range(p, (uintptr_t)slot_at(p, far), p->area_end);
    assert_int_equal(slot_set_count(p), 1);
    assert_true(slot_set_contains(p, slot_at(p, FIRST_SLOT)));
    chunk_delete(p);
}

/* --- The write barrier ------------------------------------------------------------------- */

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
};

static void env_open(struct env *e)
{
    struct heap_config config = {.young_size_bytes = 1 * MiB, .heap_size_bytes = 64 * MiB};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
}

static void env_close(struct env *e)
{
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

static struct object *new_old_array(struct mutator *m, size_t length)
{
    struct object *a =
        heap_allocate_old(m, m->heap->fixed_array_map, fixed_array_size_bytes(length));
    object_set_raw(a, 1, value_from_smi((int64_t)length));
    for (size_t i = 0; i < length; i++)
        object_set_raw(a, 2 + i, VALUE_NULL);
    return a;
}

/* remset_flush_all inside a safepoint (the only mutator initiates it). */
static size_t flush(struct env *e)
{
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    size_t n = remset_flush_all(e->heap);
    safepoint_end(&e->heap->safepoint, &e->m.safepoint);
    return n;
}

/* Slots recorded in p's slot set, or dirty cards in p's card table. */
static size_t recorded_count(const struct page *p)
{
#ifdef WALTZ_REMEMBERED_SET_CARD_TABLE
    size_t n = 0;
    for (size_t c = 0; p->cards && c < p->chunk_bytes >> CARD_SHIFT; c++)
        n += p->cards[c] == CARD_DIRTY;
    return n;
#else
    return slot_set_count(p);
#endif
}

static size_t verify(struct env *e)
{
    char report[1024];
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    heap_retire_lab(e->heap, &e->m.lab);
    remset_flush_all(e->heap);
    size_t problems = heap_verify(e->heap, report, sizeof report);
    safepoint_end(&e->heap->safepoint, &e->m.safepoint);
    if (problems)
        print_error("heap_verify: %s\n", report);
    return problems;
}

static void test_strategy_name(void **state)
{
#if defined(WALTZ_REMEMBERED_SET_STORE_BUFFER)
    assert_string_equal(remset_strategy_name(), "store-buffer");
    assert_string_equal(WALTZ_OPT_REMEMBERED_SET, "store-buffer");
#elif defined(WALTZ_REMEMBERED_SET_CARD_TABLE)
    assert_string_equal(remset_strategy_name(), "card-table");
    assert_string_equal(WALTZ_OPT_REMEMBERED_SET, "card-table");
#else
    assert_string_equal(remset_strategy_name(), "slot-set");
    assert_string_equal(WALTZ_OPT_REMEMBERED_SET, "slot-set");
#endif
}

static void test_old_to_young_is_recorded(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    struct object *old = new_old_array(m, 4);
    struct object *young = heap_new_fixed_array(m, 1);
    struct page *p = page_of(old);
    value_t *slot = &object_slots(old)[3];
    assert_false(remset_contains(p, slot));
    object_store(m, old, 3, value_from_object(young));
    assert_true(object_get(old, 3) == value_from_object(young));
#ifdef WALTZ_REMEMBERED_SET_STORE_BUFFER
    assert_non_null(m->store_buffer);
    assert_false(remset_contains(p, slot)); /* buffered, not yet in the set */
    assert_int_equal(flush(&e), 1);
    assert_true(remset_contains(p, slot));
    assert_int_equal(flush(&e), 0); /* the buffer is empty after a flush */
#else
    assert_null(m->store_buffer);
    assert_true(remset_contains(p, slot)); /* at once */
    assert_int_equal(flush(&e), 0);
    assert_true(remset_contains(p, slot));
#endif
    assert_int_equal(recorded_count(p), 1);

    /* A weak reference is recorded the same way; so are code and large hosts. */
    struct object *code = heap_allocate_code(m, 2, 0);
    object_store(m, code, 4, value_weak_from_object(young));
    object_store(m, old, 2, value_weak_from_object(young));
    struct object *large = heap_new_fixed_array(m, 20000);
    assert_true(page_flags(page_of(large)) & PAGE_LARGE);
    object_store(m, large, 2, value_from_object(young));
#ifdef WALTZ_REMEMBERED_SET_STORE_BUFFER
    assert_false(remset_contains(page_of(code), &object_slots(code)[4]));
    assert_int_equal(flush(&e), 4); /* the large host's entry takes two words */
#endif
    assert_true(remset_contains(page_of(code), &object_slots(code)[4]));
    assert_true(remset_contains(p, &object_slots(old)[2]));
    assert_true(remset_contains(page_of(large), &object_slots(large)[2]));
    handle_of(m, old);
    handle_of(m, code);
    handle_of(m, large);
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}

static void test_other_stores_are_not_recorded(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    struct object *old = new_old_array(m, 4);
    struct object *old2 = new_old_array(m, 4);
    struct object *young = heap_new_fixed_array(m, 4);
    struct object *young2 = heap_new_fixed_array(m, 1);
    struct object *large = heap_new_fixed_array(m, 20000);
    flush(&e);
    size_t old_count = recorded_count(page_of(old)), large_count = recorded_count(page_of(large));

    object_store(m, young, 2, value_from_object(young2)); /* young -> young */
    object_store(m, young, 3, value_from_object(old));    /* young -> old */
    object_store(m, old, 2, value_from_object(old2));     /* old -> old */
    object_store(m, old, 3, value_from_object(large));    /* old -> large */
    object_store(m, large, 2, value_from_object(old));    /* large -> old */
    object_store(m, old, 4, value_from_smi(-5));          /* Smi */
    object_store(m, old, 5, VALUE_CLEARED);               /* cleared weak */
    object_store(m, old, 5, value_weak_from_object(old2));
    assert_int_equal(flush(&e), 0);
    assert_int_equal(recorded_count(page_of(old)), old_count);
    assert_int_equal(recorded_count(page_of(large)), large_count);
    assert_int_equal(recorded_count(page_of(young)), 0);
    assert_null(page_of(young)->old_to_new);
    assert_null(page_of(young)->cards);
    assert_true(object_get(young, 2) == value_from_object(young2));
    assert_true(object_get(old, 4) == value_from_smi(-5));
    handle_of(m, old);
    handle_of(m, young);
    handle_of(m, large);
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}

/* Slots past the first 256 KiB of a large object are recorded in the chunk's set and
 * updated by the scavenger; once the target is promoted the slot is dropped. */
static void test_large_object_far_slots(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    const size_t len = 40000, far = 35000; /* slot 2 + far lies ~273 KiB into the object */
    value_t *h_large = handle_of(m, heap_new_fixed_array(m, len));
    struct object *large = handle_object(h_large);
    struct page *chunk = page_of(large);
    value_t *slot = &object_slots(large)[2 + far];
    assert_true((uintptr_t)slot - (uintptr_t)chunk > PAGE_SIZE_BYTES);
    assert_ptr_not_equal(page_of(slot), chunk);

    struct object *young = heap_new_fixed_array(m, 1);
    object_set_raw(young, 2, value_from_smi(99));
    object_store(m, large, 2 + far, value_from_object(young));
#ifdef WALTZ_REMEMBERED_SET_STORE_BUFFER
    assert_false(remset_contains(chunk, slot));
    assert_int_equal(flush(&e), 2);
#endif
    assert_true(remset_contains(chunk, slot));
    assert_int_equal(recorded_count(chunk), 1);
    assert_int_equal(verify(&e), 0);

    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    struct object *moved = value_to_object(object_get(large, 2 + far));
    assert_ptr_not_equal(moved, young);
    assert_true(object_in_young(moved));
    assert_true(object_get(moved, 2) == value_from_smi(99));
    assert_true(remset_contains(chunk, slot));
    assert_int_equal(verify(&e), 0);

    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    moved = value_to_object(object_get(large, 2 + far));
    assert_false(object_in_young(moved));
    assert_true(object_get(moved, 2) == value_from_smi(99));
    assert_false(remset_contains(chunk, slot));
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}

#ifdef WALTZ_REMEMBERED_SET_STORE_BUFFER
/* 8192 entries: more distinct recorded slots than that flush the buffer by themselves. */
static void test_store_buffer_overflow_flushes(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    const size_t n = 8200;
    struct object *old = new_old_array(m, n);
    struct object *young = heap_new_fixed_array(m, 1);
    struct page *p = page_of(old);
    for (size_t i = 0; i < 4096; i++)
        object_store(m, old, 2 + i, value_from_object(young));
    assert_int_equal(recorded_count(p), 0); /* all still buffered */
    for (size_t i = 4096; i < n; i++)
        object_store(m, old, 2 + i, value_from_object(young));
    size_t in_set = recorded_count(p);
    assert_true(in_set >= 4096); /* the overflow moved a buffer-full into the set */
    assert_true(in_set < n);     /* and the rest waits for the collector */
    assert_true(remset_contains(p, &object_slots(old)[2]));
    assert_int_equal(flush(&e), n - in_set);
    assert_int_equal(recorded_count(p), n);
    for (size_t i = 0; i < n; i++)
        assert_true(remset_contains(p, &object_slots(old)[2 + i]));
    handle_of(m, old);
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}
#else
static void test_store_buffer_overflow_flushes(void **state)
{
    skip(); /* remembered_set=slot-set has no store buffer */
}
#endif

#ifdef WALTZ_REMEMBERED_SET_SLOT_SET
static void test_slot_set_strategy_records_at_once(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    const size_t n = 9000;
    struct object *old = new_old_array(m, n);
    struct object *young = heap_new_fixed_array(m, 1);
    for (size_t i = 0; i < n; i++) {
        object_store(m, old, 2 + i, value_from_object(young));
        assert_int_equal(recorded_count(page_of(old)), i + 1);
    }
    assert_int_equal(flush(&e), 0);
    handle_of(m, old);
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}
#else
static void test_slot_set_strategy_records_at_once(void **state)
{
    skip(); /* only remembered_set=slot-set inserts into the set at once */
}
#endif

/* --- The collectors' view: work items ----------------------------------------------------- */

struct visit_log {
    value_t **slots;
    size_t count, capacity;
};

static void log_push(struct visit_log *log, value_t *slot)
{
    if (log->count == log->capacity) {
        log->capacity = log->capacity ? log->capacity * 2 : 1024;
        log->slots = realloc(log->slots, log->capacity * sizeof *log->slots);
    }
    log->slots[log->count++] = slot;
}

static enum slot_callback_result log_slot(value_t *slot, void *ctx)
{
    log_push(ctx, slot);
    /* Keep what points into the young generation, as a scavenger would. */
    value_t v = *slot;
    return value_is_ref(v) && object_in_young(value_to_object(v)) ? SLOT_KEEP : SLOT_REMOVE;
}

static int compare_slots(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (value_t *const *)a, y = (uintptr_t) * (value_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Visits every item of chunk; returns the sorted visited slots. */
static void visit_all(struct page *chunk, struct visit_log *log)
{
    struct remset_items items = {0};
    remset_collect_items(chunk, &items);
    for (size_t i = 0; i < items.count; i++) {
        assert_ptr_equal(items.items[i].chunk, chunk);
        assert_true(items.items[i].start < items.items[i].end);
        remset_visit_item(&items.items[i], log_slot, log);
    }
    remset_items_free(&items);
    remset_finish_chunk(chunk);
    qsort(log->slots, log->count, sizeof *log->slots, compare_slots);
}

#ifdef WALTZ_REMEMBERED_SET_CARD_TABLE
static bool card_is_dirty(const struct page *p, const void *address)
{
    return p->cards[((uintptr_t)address - (uintptr_t)p) >> CARD_SHIFT] == CARD_DIRTY;
}

/* Dirty cards over a byte array (whose raw words look like tagged pointers), over the
 * boundary between objects and inside a fixed array: the items must hold exactly the
 * tagged fields under dirty cards (an oracle computed by walking the page), each once;
 * collecting cleans the cards, and visiting dirties again those that keep a young
 * pointer. */
static void test_card_items_are_the_tagged_fields_under_dirty_cards(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    struct object *bytes =
        heap_allocate_old(m, e.heap->byte_array_map, byte_array_size_bytes(3000));
    object_set_raw(bytes, 1, value_from_smi(3000));
    memset(byte_array_data(bytes), 0xff, 3000);
    struct object *a = new_old_array(m, 300);
    struct object *b = new_old_array(m, 3);
    struct object *young = heap_new_fixed_array(m, 1);
    handle_of(m, bytes);
    handle_of(m, a);
    handle_of(m, b);
    struct page *p = page_of(a);
    assert_ptr_equal(page_of(bytes), p);
    assert_ptr_equal(page_of(b), p);
    assert_int_equal(recorded_count(p), 0);

    object_store(m, a, 2 + 0, value_from_object(young));
    object_store(m, a, 2 + 150, value_from_object(young));
    object_store(m, b, 4, value_from_object(young));
    card_table_mark(p, (value_t *)(byte_array_data(bytes) + 1000)); /* raw data only */
    card_table_mark(p, &object_slots(a)[2 + 299]);                  /* a's end, b's start */
    card_table_mark(p, &object_slots(a)[2 + 100]);                  /* no young pointer */

    /* The oracle: every tagged field of every object of the page whose card is dirty. */
    struct visit_log expected = {0};
    for_each_object_in(p->area_start, p->area_end, o)
    {
        size_t first, last;
        object_tagged_range(o, object_map(o), &first, &last);
        for (size_t i = first; i < last; i++)
            if (card_is_dirty(p, &object_slots(o)[i]))
                log_push(&expected, &object_slots(o)[i]);
    }
    assert_true(expected.count >= 64 * 2); /* at least a's cards */

    struct visit_log log = {0};
    visit_all(p, &log);
    assert_int_equal(log.count, expected.count);
    for (size_t i = 0; i < log.count; i++)
        assert_ptr_equal(log.slots[i], expected.slots[i]); /* sorted both: same, each once */
    /* Kept: exactly the cards of the three young pointers; the others were cleaned. */
    value_t *kept[] = {&object_slots(a)[2 + 0], &object_slots(a)[2 + 150], &object_slots(b)[4]};
    size_t kept_cards = 0;
    for (size_t c = 0; c < p->chunk_bytes >> CARD_SHIFT; c++) {
        bool holds_kept = false;
        for (size_t k = 0; k < ARRAY_LENGTH(kept); k++)
            holds_kept |= (((uintptr_t)kept[k] - (uintptr_t)p) >> CARD_SHIFT) == c;
        assert_int_equal(p->cards[c] == CARD_DIRTY, holds_kept);
        kept_cards += holds_kept;
    }
    assert_int_equal(recorded_count(p), kept_cards);
    assert_false(card_is_dirty(p, byte_array_data(bytes) + 1000));
    assert_int_equal(verify(&e), 0);
    free(expected.slots);
    free(log.slots);
    env_close(&e);
}

/* A large chunk: a dirty card far into the object gives items of at most 16 cards, and
 * only the object's own slots. */
static void test_card_items_of_a_large_chunk(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    const size_t len = 40000, far = 35000;
    struct object *large = heap_new_fixed_array(m, len);
    handle_of(m, large);
    struct page *chunk = page_of(large);
    struct object *young = heap_new_fixed_array(m, 1);
    for (size_t i = 0; i < len; i += 7)
        object_store(m, large, 2 + i, value_from_object(young));
    size_t dirty = recorded_count(chunk);
    assert_true(dirty >= len * WORD_BYTES / CARD_BYTES);

    struct remset_items items = {0};
    remset_collect_items(chunk, &items);
    assert_int_equal(recorded_count(chunk), 0);
    size_t slots = 0;
    for (size_t i = 0; i < items.count; i++) {
        const struct remset_item *it = &items.items[i];
        assert_true(it->end - it->start <= 16 * CARD_BYTES);
        assert_true(it->start >= (uintptr_t)&object_slots(large)[2]);
        assert_true(it->end <= (uintptr_t)&object_slots(large)[2 + len]);
        slots += (it->end - it->start) / WORD_BYTES;
    }
    assert_int_equal(slots, len);
    assert_true(items.count >= len * WORD_BYTES / (16 * CARD_BYTES));
    remset_items_free(&items);
    object_store(m, large, 2 + far, value_from_object(young)); /* dirty again for verify */
    for (size_t i = 0; i < len; i += 7)
        object_store(m, large, 2 + i, value_from_object(young));
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}
#else
/* Slot sets: every recorded slot is visited once, through items of at most 64 buckets. */
static void test_card_items_are_the_tagged_fields_under_dirty_cards(void **state)
{
    struct env e;
    env_open(&e);
    struct mutator *m = &e.m;
    const size_t len = 200000;
    struct object *large = heap_new_fixed_array(m, len);
    handle_of(m, large);
    struct page *chunk = page_of(large);
    struct object *young = heap_new_fixed_array(m, 1);
    handle_of(m, young);
    for (size_t i = 0; i < len; i += 1000)
        object_store(m, large, 2 + i, value_from_object(young));
    flush(&e);
    struct remset_items items = {0};
    remset_collect_items(chunk, &items);
    assert_int_equal(items.count, (chunk->chunk_bytes + 64 * SLOT_SET_BUCKET_BYTES - 1) /
                                      (64 * SLOT_SET_BUCKET_BYTES));
    remset_items_free(&items);
    struct visit_log log = {0};
    visit_all(chunk, &log);
    assert_int_equal(log.count, len / 1000);
    for (size_t i = 0; i < log.count; i++)
        assert_ptr_equal(log.slots[i], &object_slots(large)[2 + i * 1000]);
    assert_int_equal(recorded_count(chunk), len / 1000); /* all kept: they point young */
    free(log.slots);
    assert_int_equal(verify(&e), 0);
    env_close(&e);
}

static void test_card_items_of_a_large_chunk(void **state)
{
    skip(); /* remembered_set=card-table only */
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_set_insert_contains),
        cmocka_unit_test(test_slot_set_remove_range),
        cmocka_unit_test(test_slot_set_iterate),
        cmocka_unit_test(test_slot_set_concurrent_insertion),
        cmocka_unit_test(test_slot_set_large_chunk),
        cmocka_unit_test(test_strategy_name),
        cmocka_unit_test(test_old_to_young_is_recorded),
        cmocka_unit_test(test_other_stores_are_not_recorded),
        cmocka_unit_test(test_large_object_far_slots),
        cmocka_unit_test(test_store_buffer_overflow_flushes),
        cmocka_unit_test(test_slot_set_strategy_records_at_once),
        cmocka_unit_test(test_card_items_are_the_tagged_fields_under_dirty_cards),
        cmocka_unit_test(test_card_items_of_a_large_chunk),
    };
    return cmocka_run_group_tests_name("barrier", tests, NULL, NULL);
}
