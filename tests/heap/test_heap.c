/*
 * Tests of lib/heap, part one: tagged values, object sizes and tagged ranges of every
 * instance type, pages and their flags, LABs, large objects and handles. Part two
 * (test_heap_collect.c) covers what collections do to the heap and the verifier.
 */
#include "heap_test.h"

#include <stdio.h>
#include <string.h>

/* --- Helpers ------------------------------------------------------------------------ */

void env_open(struct env *e, size_t young_bytes, size_t heap_bytes)
{
    struct heap_config config = {.young_size_bytes = young_bytes, .heap_size_bytes = heap_bytes};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
}

void env_close(struct env *e)
{
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

struct object *new_old_array(struct mutator *m, size_t length)
{
    struct object *a =
        heap_allocate_old(m, m->heap->fixed_array_map, fixed_array_size_bytes(length));
    object_set_raw(a, 1, value_from_smi((int64_t)length));
    for (size_t i = 0; i < length; i++)
        object_set_raw(a, 2 + i, VALUE_NULL);
    return a;
}

struct object *new_tagged_box(struct mutator *m, int64_t tag)
{
    struct object *o = heap_new_fixed_array(m, 1);
    object_set_raw(o, 2, value_from_smi(tag));
    return o;
}

size_t verify_stopped(struct env *e, char *report, size_t report_size)
{
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    heap_retire_lab(e->heap, &e->m.lab);
    remset_flush_all(e->heap);
    size_t problems = heap_verify(e->heap, report, report_size);
    safepoint_end(&e->heap->safepoint, &e->m.safepoint);
    return problems;
}

void assert_heap_clean(struct env *e)
{
    char report[2048];
    size_t problems = verify_stopped(e, report, sizeof report);
    if (problems)
        print_error("heap_verify: %zu problem(s): %s\n", problems, report);
    assert_int_equal(problems, 0);
}

/* --- Tagging ------------------------------------------------------------------------- */

static void test_smi_round_trip(void **state)
{
    const int64_t samples[] = {0,
                               1,
                               -1,
                               42,
                               -42,
                               INT32_MAX,
                               INT32_MIN,
                               (int64_t)1 << 40,
                               -((int64_t)1 << 40),
                               VALUE_SMI_MAX,
                               VALUE_SMI_MIN,
                               VALUE_SMI_MAX - 1,
                               VALUE_SMI_MIN + 1};
    for (size_t i = 0; i < ARRAY_LENGTH(samples); i++) {
        value_t v = value_from_smi(samples[i]);
        assert_true(value_is_smi(v));
        assert_false(value_is_strong(v));
        assert_false(value_is_weak(v));
        assert_false(value_is_ref(v));
        assert_int_equal(v & 1, 0);
        assert_true(value_to_smi(v) == samples[i]);
    }
    assert_true(VALUE_SMI_MAX == ((int64_t)1 << 62) - 1);
    assert_true(VALUE_SMI_MIN == -((int64_t)1 << 62));
    /* Order survives tagging for the extremes: the payload is the upper 63 bits. */
    assert_true((int64_t)value_from_smi(VALUE_SMI_MIN) < (int64_t)value_from_smi(-1));
    assert_true((int64_t)value_from_smi(VALUE_SMI_MAX) > (int64_t)value_from_smi(0));
    assert_true(value_from_smi(0) == VALUE_NULL);
}

static void test_pointer_tags(void **state)
{
    static uint64_t words[4] __attribute__((aligned(16)));
    struct object *o = (struct object *)&words[2];
    value_t strong = value_from_object(o), weak = value_weak_from_object(o);

    assert_true(value_is_strong(strong));
    assert_false(value_is_weak(strong));
    assert_true(value_is_ref(strong));
    assert_false(value_is_smi(strong));
    assert_ptr_equal(value_to_object(strong), o);
    assert_true(value_address(strong) == (uintptr_t)o);

    assert_true(value_is_weak(weak));
    assert_false(value_is_strong(weak));
    assert_true(value_is_ref(weak));
    assert_false(value_is_smi(weak));
    assert_ptr_equal(value_to_object(weak), o);
    assert_true(value_address(weak) == (uintptr_t)o);
    assert_true(weak != strong);

    assert_false(value_is_weak(VALUE_CLEARED));
    assert_false(value_is_strong(VALUE_CLEARED));
    assert_false(value_is_ref(VALUE_CLEARED));
    assert_false(value_is_smi(VALUE_CLEARED));
    assert_true(value_is_smi(VALUE_NULL));
    assert_false(value_is_ref(VALUE_NULL));
}

/* --- Objects ---------------------------------------------------------------------------- */

static void assert_range(struct object *o, size_t start, size_t end)
{
    size_t s = 99, e = 99;
    object_tagged_range(o, object_map(o), &s, &e);
    assert_int_equal(s, start);
    assert_int_equal(e, end);
}

static void test_object_sizes_and_ranges(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;

    struct object *map = heap_create_struct_map(heap, 3, 2);
    assert_int_equal(object_type(map), TYPE_MAP);
    assert_int_equal(object_size(map), MAP_SIZE_BYTES);
    assert_range(map, 1, MAP_TAGGED_END);
    assert_int_equal(map_raw(map, MAP_INSTANCE_SIZE), 6 * WORD_BYTES);
    assert_int_equal(map_raw(map, MAP_TAGGED_COUNT), 3);
    assert_ptr_equal(heap->maps[map_raw(map, MAP_ID)], map);
    assert_ptr_equal(object_map(map), heap->meta_map);
    assert_ptr_equal(object_map(heap->meta_map), heap->meta_map);

    struct object *s = heap_new_struct(m, map);
    assert_int_equal(object_type(s), TYPE_STRUCT);
    assert_int_equal(object_size(s), 6 * WORD_BYTES);
    assert_range(s, 1, 4);
    for (size_t i = 1; i < 6; i++)
        assert_true(object_get(s, i) == VALUE_NULL);

    struct object *empty_map = heap_create_struct_map(heap, 0, 0);
    struct object *empty = heap_new_struct(m, empty_map);
    assert_int_equal(object_size(empty), WORD_BYTES);
    assert_range(empty, 1, 1);

    struct object *fa = heap_new_fixed_array(m, 5);
    assert_int_equal(object_type(fa), TYPE_FIXED_ARRAY);
    assert_int_equal(object_length(fa), 5);
    assert_int_equal(object_size(fa), 2 * WORD_BYTES + 5 * WORD_BYTES);
    assert_range(fa, 2, 7);
    struct object *fa0 = heap_new_fixed_array(m, 0);
    assert_int_equal(object_size(fa0), ARRAY_HEADER_BYTES);
    assert_range(fa0, 2, 2);

    struct object *wa = heap_new_weak_array(m, 3);
    assert_int_equal(object_type(wa), TYPE_WEAK_ARRAY);
    assert_int_equal(object_size(wa), 5 * WORD_BYTES);
    assert_range(wa, 2, 5);

    struct object *ba = heap_new_byte_array(m, 13);
    assert_int_equal(object_type(ba), TYPE_BYTE_ARRAY);
    assert_int_equal(object_length(ba), 13);
    assert_int_equal(object_size(ba), ARRAY_HEADER_BYTES + 16);
    assert_range(ba, 0, 0);
    assert_int_equal(object_size(heap_new_byte_array(m, 16)), ARRAY_HEADER_BYTES + 16);
    assert_int_equal(object_size(heap_new_byte_array(m, 0)), ARRAY_HEADER_BYTES);
    byte_array_data(ba)[12] = 0xab;
    assert_int_equal(byte_array_data(ba)[12], 0xab);

    struct object *da = heap_new_double_array(m, 4);
    assert_int_equal(object_type(da), TYPE_DOUBLE_ARRAY);
    assert_int_equal(object_size(da), ARRAY_HEADER_BYTES + 4 * sizeof(double));
    assert_range(da, 0, 0);
    double_array_data(da)[3] = -2.25;
    assert_true(double_array_data(da)[3] == -2.25);

    struct object *hn = heap_new_heap_number(m, 3.5);
    assert_int_equal(object_type(hn), TYPE_HEAP_NUMBER);
    assert_int_equal(object_size(hn), 2 * WORD_BYTES);
    assert_true(heap_number_value(hn) == 3.5);
    assert_range(hn, 0, 0);

    struct object *code = heap_allocate_code(m, 2, 20);
    assert_int_equal(object_type(code), TYPE_CODE);
    assert_int_equal(object_size(code), (3 + 2) * WORD_BYTES + 24);
    assert_range(code, 3, 5);
    assert_true(page_flags(page_of(code)) & PAGE_CODE);

    /* Fillers: over a dead byte array, so the page stays walkable. */
    struct object *scratch = heap_new_byte_array(m, 64);
    uintptr_t at = (uintptr_t)scratch;
    size_t scratch_size = object_size(scratch);
    heap_write_filler(heap, at, scratch_size);
    assert_int_equal(object_type(scratch), TYPE_FREE_SPACE);
    assert_int_equal(object_size(scratch), scratch_size);
    assert_range(scratch, 0, 0);
    heap_write_filler(heap, at, WORD_BYTES);
    heap_write_filler(heap, at + WORD_BYTES, scratch_size - WORD_BYTES);
    assert_int_equal(object_type(scratch), TYPE_FILLER);
    assert_int_equal(object_size(scratch), WORD_BYTES);
    struct object *rest = (struct object *)(at + WORD_BYTES);
    assert_int_equal(object_type(rest), TYPE_FREE_SPACE);
    assert_int_equal(object_size(rest), scratch_size - WORD_BYTES);
    assert_true(object_is_filler_type(TYPE_FILLER) && object_is_filler_type(TYPE_FREE_SPACE));
    assert_false(object_is_filler_type(TYPE_STRUCT));

    /* Consecutive young allocations abut: sizes are exact. */
    struct object *a = heap_new_fixed_array(m, 1);
    struct object *b = heap_new_heap_number(m, 1.0);
    assert_true((uintptr_t)b == (uintptr_t)a + object_size(a));
    assert_heap_clean(&e);
    env_close(&e);
}

/* --- Pages -------------------------------------------------------------------------------- */

static void assert_in_page(struct object *o, struct page *p)
{
    assert_true((uintptr_t)p % PAGE_SIZE_BYTES == 0);
    assert_true(p->area_start == (uintptr_t)p + PAGE_HEADER_BYTES);
    assert_true((uintptr_t)o >= p->area_start);
    assert_true((uintptr_t)o + object_size(o) <= p->area_end);
}

static void test_pages_of_every_space(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    assert_true(sizeof(struct page) <= PAGE_HEADER_BYTES);
    assert_true(PAGE_HEADER_BYTES < PAGE_SIZE_BYTES);
    assert_true(PAGE_HEADER_BYTES % 64 == 0);
    assert_true(PAGE_AREA_BYTES >= HEAP_MAX_REGULAR_OBJECT_BYTES);

    struct object *young = heap_new_fixed_array(&e.m, 3);
    struct page *yp = page_of(young);
    assert_in_page(young, yp);
    assert_ptr_equal(page_of_value(value_from_object(young)), yp);
    assert_ptr_equal(page_of_value(value_weak_from_object(young)), yp);
    assert_ptr_equal(page_of((char *)young + object_size(young) - 1), yp);
    uintptr_t f = page_flags(yp);
    assert_true(f & PAGE_IN_YOUNG);
    assert_true(f & PAGE_IN_TO);
    assert_true(f & PAGE_POINTERS_TO_HERE_ARE_INTERESTING);
    assert_false(f &
                 (PAGE_IN_FROM | PAGE_POINTERS_FROM_HERE_ARE_INTERESTING | PAGE_LARGE | PAGE_CODE));
    assert_ptr_equal(yp->owner, &heap->new_space.to);
    assert_true(object_in_young(young));
    assert_false(object_in_from_space(young));
    assert_int_equal(heap->new_space.to.page_count, TEST_YOUNG_BYTES / PAGE_SIZE_BYTES);
    space_for_each_page(&heap->new_space.from, p)
    {
        assert_true(page_flags(p) & PAGE_IN_FROM);
        assert_true(page_flags(p) & PAGE_IN_YOUNG);
        assert_false(page_flags(p) & PAGE_IN_TO);
    }

    struct object *old = new_old_array(&e.m, 3);
    struct page *op = page_of(old);
    assert_in_page(old, op);
    f = page_flags(op);
    assert_true(f & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    assert_false(f & (PAGE_IN_YOUNG | PAGE_IN_TO | PAGE_IN_FROM |
                      PAGE_POINTERS_TO_HERE_ARE_INTERESTING | PAGE_LARGE | PAGE_CODE));
    assert_ptr_equal(op->owner, &heap->old_space.base);
    assert_false(object_in_young(old));
    /* Maps live in old space too. */
    assert_ptr_equal(page_of(heap->meta_map)->owner, &heap->old_space.base);

    struct object *code = heap_allocate_code(&e.m, 1, 64);
    struct page *cp = page_of(code);
    assert_in_page(code, cp);
    f = page_flags(cp);
    assert_true(f & PAGE_CODE);
    assert_true(f & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    assert_false(f & (PAGE_IN_YOUNG | PAGE_POINTERS_TO_HERE_ARE_INTERESTING | PAGE_LARGE));
    assert_ptr_equal(cp->owner, &heap->code_space.base);

    struct object *large = heap_new_fixed_array(&e.m, HEAP_MAX_REGULAR_OBJECT_BYTES / WORD_BYTES);
    struct page *lp = page_of(large);
    assert_true((uintptr_t)lp % PAGE_SIZE_BYTES == 0);
    assert_true((uintptr_t)large == lp->area_start);
    f = page_flags(lp);
    assert_true(f & PAGE_LARGE);
    assert_true(f & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    assert_false(f & (PAGE_IN_YOUNG | PAGE_POINTERS_TO_HERE_ARE_INTERESTING | PAGE_CODE));
    assert_ptr_equal(lp->owner, &heap->large_space.base);
    assert_true(lp->chunk_bytes % PAGE_SIZE_BYTES == 0);
    assert_true(lp->area_end - lp->area_start >= object_size(large));
    assert_heap_clean(&e);
    env_close(&e);
}

/* --- LABs ---------------------------------------------------------------------------------- */

static void test_lab_bump_and_refill(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    const size_t size = fixed_array_size_bytes(4); /* 48: 32 KiB is not a multiple */
    assert_true(HEAP_LAB_BYTES % size != 0);

    struct object *first = heap_new_fixed_array(m, 4);
    struct page *p = heap->new_space.to.first_page;
    assert_true((uintptr_t)first == p->area_start);
    assert_true(m->lab_start == (uintptr_t)first);
    assert_true(m->lab.limit - m->lab_start == HEAP_LAB_BYTES);
    assert_true(m->lab.top == (uintptr_t)first + size);
    assert_true(p->alloc_top == m->lab.limit);

    uintptr_t prev = (uintptr_t)first, lab1_limit = m->lab.limit;
    size_t in_first = 1;
    for (;;) {
        uintptr_t top_before = m->lab.top;
        struct object *o = heap_new_fixed_array(m, 4);
        if (m->lab_start != (uintptr_t)first) {
            /* Refilled: the new LAB starts where the old one ended, and the old one's
             * unused tail became a filler. */
            assert_true(m->lab_start == lab1_limit);
            assert_true((uintptr_t)o == lab1_limit);
            assert_true(m->lab.limit - m->lab_start == HEAP_LAB_BYTES);
            struct object *tail = (struct object *)top_before;
            size_t tail_bytes = lab1_limit - top_before;
            assert_int_equal(tail_bytes, HEAP_LAB_BYTES % size);
            assert_int_equal(object_type(tail),
                             tail_bytes == WORD_BYTES ? TYPE_FILLER : TYPE_FREE_SPACE);
            assert_int_equal(object_size(tail), tail_bytes);
            break;
        }
        assert_true((uintptr_t)o == prev + size);
        prev = (uintptr_t)o;
        in_first++;
        assert_true(in_first <= HEAP_LAB_BYTES / size);
    }
    assert_int_equal(in_first, HEAP_LAB_BYTES / size);
    assert_int_equal(m->allocated_bytes, 2 * HEAP_LAB_BYTES);
    assert_true(p->alloc_top == lab1_limit + HEAP_LAB_BYTES);

    /* Retiring the LAB writes a filler over the rest: the page parses to alloc_top. */
    struct object *last = heap_new_fixed_array(m, 4);
    heap_retire_lab(heap, &m->lab);
    assert_true(m->lab.top == 0 && m->lab.limit == 0);
    size_t arrays = 0, fillers = 0, bytes = 0;
    for_each_object_in(p->area_start, p->alloc_top, o)
    {
        struct object *map = object_map(o);
        assert_true(map == heap->fixed_array_map || map == heap->free_space_map ||
                    map == heap->filler_map);
        if (map == heap->fixed_array_map)
            arrays++;
        else
            fillers++;
        bytes += object_size(o);
        assert_true((uintptr_t)o + object_size(o) <= p->alloc_top);
    }
    assert_int_equal(bytes, p->alloc_top - p->area_start);
    assert_int_equal(arrays, in_first + 2);
    assert_int_equal(fillers, 2);
    struct object *after_last = (struct object *)((uintptr_t)last + size);
    assert_ptr_equal(object_map(after_last), heap->free_space_map);
    assert_heap_clean(&e);
    env_close(&e);
}

/* --- Large objects -------------------------------------------------------------------------- */

static void test_large_objects(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);

    size_t regular_len = (HEAP_MAX_REGULAR_OBJECT_BYTES - ARRAY_HEADER_BYTES) / WORD_BYTES;
    struct object *regular = heap_new_fixed_array(m, regular_len);
    assert_int_equal(object_size(regular), HEAP_MAX_REGULAR_OBJECT_BYTES);
    assert_true(object_in_young(regular));

    size_t pages_before = heap->large_space.base.page_count;
    struct object *just = heap_new_fixed_array(m, regular_len + 1);
    assert_false(object_in_young(just));
    assert_true(page_flags(page_of(just)) & PAGE_LARGE);
    assert_int_equal(heap->large_space.base.page_count, pages_before + 1);
    assert_int_equal(heap->large_space.objects_bytes, object_size(just));
    value_t *h_just = handle_of(m, just);

    size_t big_len = (1 * MiB) / WORD_BYTES;
    struct object *big = heap_new_fixed_array(m, big_len);
    struct page *bp = page_of(big);
    assert_true((uintptr_t)bp % PAGE_SIZE_BYTES == 0);
    assert_true((uintptr_t)big == bp->area_start);
    assert_true(bp->chunk_bytes >= PAGE_HEADER_BYTES + object_size(big));
    assert_true(bp->chunk_bytes % PAGE_SIZE_BYTES == 0);
    assert_true(bp->chunk_bytes < PAGE_HEADER_BYTES + object_size(big) + PAGE_SIZE_BYTES);
    /* A slot far inside the object is not on the header's first 256 KiB. */
    value_t *far = &object_slots(big)[2 + big_len - 1];
    assert_ptr_not_equal(page_of(far), bp);
    object_set_raw(big, 2 + big_len - 1, value_from_smi(77));
    value_t *h_big = handle_of(m, big);

    struct object *pretenured = heap_allocate_old(m, heap->byte_array_map, 200 * KiB);
    object_set_raw(pretenured, 1, value_from_smi(200 * KiB - ARRAY_HEADER_BYTES));
    assert_true(page_flags(page_of(pretenured)) & PAGE_LARGE);
    assert_int_equal(heap->large_space.base.page_count, pages_before + 3);

    /* Large objects never move. */
    gc_collect(heap, m, COLLECT_SCAVENGE);
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_ptr_equal(handle_object(h_big), big);
    assert_ptr_equal(handle_object(h_just), just);
    assert_true(object_get(big, 2 + big_len - 1) == value_from_smi(77));
    assert_heap_clean(&e);

    /* The unreferenced one is released by a full GC, the others stay. */
    size_t bytes_before = heap->large_space.objects_bytes;
    gc_collect(heap, m, COLLECT_FULL);
    assert_int_equal(heap->large_space.base.page_count, pages_before + 2);
    assert_int_equal(heap->large_space.objects_bytes, bytes_before - 200 * KiB);
    assert_ptr_equal(handle_object(h_big), big);
    assert_int_equal(object_length(big), big_len);
    *h_just = VALUE_NULL;
    gc_collect(heap, m, COLLECT_FULL);
    assert_int_equal(heap->large_space.base.page_count, pages_before + 1);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* --- Handles ---------------------------------------------------------------------------------- */

static void test_handle_scopes_nest(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    value_t *base = m->handles.top;
    struct handle_scope outer, inner;
    handle_scope_open(m, &outer);
    value_t *h1 = handle_new(m, value_from_smi(1));
    assert_ptr_equal(h1, base);
    handle_scope_open(m, &inner);
    value_t *h2 = handle_new(m, value_from_smi(2));
    value_t *h3 = handle_new(m, value_from_smi(3));
    assert_ptr_equal(h2, h1 + 1);
    assert_ptr_equal(h3, h2 + 1);
    assert_ptr_equal(m->handles.top, h3 + 1);
    handle_scope_close(m, &inner);
    assert_ptr_equal(m->handles.top, h2);
    assert_true(*h1 == value_from_smi(1));
    value_t *h4 = handle_new(m, value_from_smi(4));
    assert_ptr_equal(h4, h2); /* the closed scope's slot is reused */
    handle_scope_close(m, &outer);
    assert_ptr_equal(m->handles.top, base);
    env_close(&e);
}

struct smi_count {
    int64_t lo, hi;
    size_t count;
};

static void count_smi_roots(value_t *slot, void *ctx)
{
    struct smi_count *c = ctx;
    if (value_is_smi(*slot) && value_to_smi(*slot) >= c->lo && value_to_smi(*slot) < c->hi)
        c->count++;
}

static size_t count_roots(struct env *e, int64_t lo, int64_t hi)
{
    struct smi_count c = {lo, hi, 0};
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    heap_visit_strong_roots(e->heap, count_smi_roots, &c);
    safepoint_end(&e->heap->safepoint, &e->m.safepoint);
    return c.count;
}

static void test_handles_across_blocks(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    const size_t n = 2 * HANDLE_BLOCK_SLOTS + 10;
    value_t *base = m->handles.top;
    struct handle_scope outer, inner;
    handle_scope_open(m, &outer);
    value_t **hs = test_malloc(n * sizeof *hs);
    for (size_t i = 0; i < n; i++)
        hs[i] = handle_new(m, value_from_smi(1000 + (int64_t)i));
    assert_int_equal(m->handles.current, 2);
    assert_int_equal(m->handles.block_count, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(*hs[i] == value_from_smi(1000 + (int64_t)i));
    assert_int_equal(count_roots(&e, 1000, 1000 + (int64_t)n), n);

    /* A nested scope that itself crosses a block boundary. */
    handle_scope_open(m, &inner);
    for (size_t i = 0; i < HANDLE_BLOCK_SLOTS; i++)
        handle_new(m, value_from_smi(5000));
    assert_int_equal(m->handles.current, 3);
    assert_int_equal(count_roots(&e, 5000, 5001), HANDLE_BLOCK_SLOTS);
    handle_scope_close(m, &inner);
    assert_int_equal(m->handles.current, 2);
    assert_ptr_equal(m->handles.top, hs[n - 1] + 1);
    assert_int_equal(count_roots(&e, 5000, 5001), 0);
    assert_int_equal(count_roots(&e, 1000, 1000 + (int64_t)n), n);

    handle_scope_close(m, &outer);
    assert_int_equal(m->handles.current, 0);
    assert_ptr_equal(m->handles.top, base);
    assert_ptr_equal(m->handles.limit, m->handles.blocks[0] + HANDLE_BLOCK_SLOTS);
    assert_int_equal(count_roots(&e, 1000, 1000 + (int64_t)n), 0);

    /* Growing again reuses the blocks instead of allocating new ones. */
    handle_scope_open(m, &outer);
    for (size_t i = 0; i < n; i++)
        hs[i] = handle_new(m, value_from_smi(7000));
    assert_int_equal(m->handles.block_count, 4);
    assert_int_equal(m->handles.current, 2);
    assert_int_equal(count_roots(&e, 7000, 7001), n);
    handle_scope_close(m, &outer);
    test_free(hs);
    env_close(&e);
}

static void test_handles_follow_scavenge(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    const size_t n = 3 * HANDLE_BLOCK_SLOTS / 2;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t **hs = test_malloc(n * sizeof *hs);
    uintptr_t *before = test_malloc(n * sizeof *before);
    for (size_t i = 0; i < n; i++) {
        struct object *o = new_tagged_box(m, (int64_t)i);
        hs[i] = handle_of(m, o);
        before[i] = (uintptr_t)o;
        if (i % 3 == 0)
            new_tagged_box(m, -1); /* garbage in between */
    }
    assert_true(m->handles.current >= 1);
    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    for (size_t i = 0; i < n; i++) {
        struct object *o = handle_object(hs[i]);
        assert_true(value_is_strong(*hs[i]));
        assert_true((uintptr_t)o != before[i]);
        assert_true(object_in_young(o));
        assert_true(page_flags(page_of(o)) & PAGE_IN_TO);
        assert_ptr_equal(object_map(o), e.heap->fixed_array_map);
        assert_int_equal(object_length(o), 1);
        assert_true(object_get(o, 2) == value_from_smi((int64_t)i));
    }
    /* Survivors are packed: garbage was not copied. */
    assert_true(heap_young_used_bytes(e.heap) < 2 * n * fixed_array_size_bytes(1));
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    test_free(hs);
    test_free(before);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest model_tests[] = {
        cmocka_unit_test(test_smi_round_trip),
        cmocka_unit_test(test_pointer_tags),
        cmocka_unit_test(test_object_sizes_and_ranges),
        cmocka_unit_test(test_pages_of_every_space),
        cmocka_unit_test(test_lab_bump_and_refill),
        cmocka_unit_test(test_large_objects),
        cmocka_unit_test(test_handle_scopes_nest),
        cmocka_unit_test(test_handles_across_blocks),
        cmocka_unit_test(test_handles_follow_scavenge),
    };
    int failed = cmocka_run_group_tests_name("heap model", model_tests, NULL, NULL);
    failed += _cmocka_run_group_tests("heap collections", heap_collect_tests,
                                      heap_collect_test_count, NULL, NULL);
    return failed;
}
