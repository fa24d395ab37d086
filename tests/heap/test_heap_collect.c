/*
 * Tests of lib/heap, part two: what collections do to the heap's objects and roots
 * (survival, promotion, global and weak handles, weak arrays, freeing), heap exhaustion,
 * and the verifier, which must pass on a healthy heap and catch planted bugs.
 */
#include "heap_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void assert_box(struct object *o, int64_t tag)
{
    assert_int_equal(object_type(o), TYPE_FIXED_ARRAY);
    assert_int_equal(object_length(o), 1);
    assert_true(object_get(o, 2) == value_from_smi(tag));
}

/* --- Survival and promotion ------------------------------------------------------------ */

static void test_promotion_after_two_scavenges(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    struct object *parent = heap_new_fixed_array(m, 2);
    value_t *h = handle_of(m, parent);
    struct object *child = new_tagged_box(m, 11);
    object_store(m, handle_object(h), 2, value_from_object(child));
    object_store(m, handle_object(h), 3, value_from_smi(22));

    gc_collect(heap, m, COLLECT_SCAVENGE);
    parent = handle_object(h);
    child = value_to_object(object_get(parent, 2));
    assert_true(object_in_young(parent));
    assert_true(object_in_young(child));
    assert_true(heap_below_age_mark(heap, parent));
    assert_true(heap_below_age_mark(heap, child));
    struct object *fresh = new_tagged_box(m, 33);
    value_t *h_fresh = handle_of(m, fresh);
    assert_false(heap_below_age_mark(heap, fresh));
    assert_heap_clean(&e);

    gc_collect(heap, m, COLLECT_SCAVENGE);
    parent = handle_object(h);
    child = value_to_object(object_get(parent, 2));
    assert_false(object_in_young(parent));
    assert_false(object_in_young(child));
    assert_ptr_equal(page_of(parent)->owner, &heap->old_space.base);
    assert_true(page_flags(page_of(parent)) & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    assert_ptr_equal(page_of(child)->owner, &heap->old_space.base);
    assert_box(child, 11);
    assert_true(object_get(parent, 3) == value_from_smi(22));
    /* Allocated after the first scavenge: survived once, still young. */
    assert_true(object_in_young(handle_object(h_fresh)));
    assert_box(handle_object(h_fresh), 33);
    assert_heap_clean(&e);

    /* Promoted objects stay put across further collections. */
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_ptr_equal(handle_object(h), parent);
    assert_false(object_in_young(handle_object(h_fresh)));
    gc_collect(heap, m, COLLECT_FULL);
    assert_ptr_equal(handle_object(h), parent);
    assert_box(value_to_object(object_get(parent, 2)), 11);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

static void test_full_gc_frees_unreachable_old(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    const size_t len = 2000, garbage_count = 64; /* 16 KiB each, 1 MiB in all */
    value_t *keep = NULL;
    for (size_t i = 0; i < garbage_count; i++) {
        struct object *a = new_old_array(m, len);
        object_set_raw(a, 2, value_from_smi((int64_t)i));
        if (i == garbage_count / 2) {
            keep = handle_of(m, a);
            for (size_t j = 0; j < len; j++)
                object_set_raw(a, 2 + j, value_from_smi((int64_t)j * 3));
        }
    }
    struct object *kept = handle_object(keep);
    size_t used_before = heap_old_used_bytes(heap);
    size_t pages_before = heap->old_space.base.page_count;
    gc_collect(heap, m, COLLECT_FULL);
    size_t used_after = heap_old_used_bytes(heap);
    size_t freed_at_least = (garbage_count - 1) * fixed_array_size_bytes(len);
    assert_true(used_after + freed_at_least <= used_before);
    assert_true(heap->old_space.base.page_count < pages_before);
    assert_ptr_equal(handle_object(keep), kept);
    assert_int_equal(object_length(kept), len);
    for (size_t j = 0; j < len; j++)
        assert_true(object_get(kept, 2 + j) == value_from_smi((int64_t)j * 3));
    assert_heap_clean(&e);

    /* Freed memory is reused: allocating the same amount again grows nothing. */
    for (size_t i = 0; i < garbage_count / 2; i++)
        new_old_array(m, len);
    assert_true(heap->old_space.base.page_count < pages_before);
    /* Once the last reference goes, the survivor is freed as well. */
    used_before = heap_old_used_bytes(heap);
    *keep = VALUE_NULL;
    gc_collect(heap, m, COLLECT_FULL);
    assert_true(heap_old_used_bytes(heap) + (garbage_count / 2 + 1) * fixed_array_size_bytes(len) <=
                used_before);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* --- Global handles ---------------------------------------------------------------------- */

static void test_strong_global_handles(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    const size_t len = 4000; /* 32 KiB: big enough to see it freed */
    struct object *o = heap_new_fixed_array(m, len);
    object_set_raw(o, 2, value_from_smi(5));
    uintptr_t first = (uintptr_t)o;
    value_t *g = heap_global_handle_create(heap, value_from_object(o), false);
    assert_int_equal(heap->global_handle_count, 1);

    gc_collect(heap, m, COLLECT_SCAVENGE);
    o = value_to_object(*g);
    assert_true(value_is_strong(*g));
    assert_true((uintptr_t)o != first);
    assert_true(object_in_young(o));
    assert_int_equal(object_length(o), len);
    assert_true(object_get(o, 2) == value_from_smi(5));

    gc_collect(heap, m, COLLECT_SCAVENGE);
    o = value_to_object(*g);
    assert_false(object_in_young(o));
    gc_collect(heap, m, COLLECT_FULL);
    gc_collect(heap, m, COLLECT_FULL);
    assert_ptr_equal(value_to_object(*g), o);
    assert_int_equal(object_length(o), len);
    assert_true(object_get(o, 2) == value_from_smi(5));
    assert_heap_clean(&e);

    size_t used = heap_old_used_bytes(heap);
    heap_global_handle_destroy(heap, g);
    assert_int_equal(heap->global_handle_count, 0);
    gc_collect(heap, m, COLLECT_FULL);
    assert_true(heap_old_used_bytes(heap) + fixed_array_size_bytes(len) <= used);

    /* Handles live in fixed chunks: many of them, then reuse of a freed one. */
    value_t *many[600];
    for (size_t i = 0; i < ARRAY_LENGTH(many); i++)
        many[i] = heap_global_handle_create(heap, value_from_smi((int64_t)i), false);
    for (size_t i = 0; i < ARRAY_LENGTH(many); i++)
        assert_true(*many[i] == value_from_smi((int64_t)i));
    heap_global_handle_destroy(heap, many[10]);
    value_t *again = heap_global_handle_create(heap, value_from_smi(-3), false);
    assert_ptr_equal(again, many[10]);
    assert_true(*many[11] == value_from_smi(11));
    assert_heap_clean(&e);
    env_close(&e);
}

static void test_weak_global_handles_scavenge(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    struct object *dead = new_tagged_box(m, 1);
    struct object *live = new_tagged_box(m, 2);
    value_t *h_live = handle_of(m, live);
    value_t *w_dead = heap_global_handle_create(heap, value_weak_from_object(dead), true);
    value_t *w_live = heap_global_handle_create(heap, value_weak_from_object(live), true);
    /* A weak handle alone does not keep an object alive. */
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_true(*w_dead == VALUE_CLEARED);
    assert_true(value_is_weak(*w_live));
    assert_ptr_equal(value_to_object(*w_live), handle_object(h_live));
    assert_ptr_not_equal(value_to_object(*w_live), live);
    assert_box(value_to_object(*w_live), 2);
    assert_heap_clean(&e);

    /* Second scavenge promotes it: the handle follows. */
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_false(object_in_young(handle_object(h_live)));
    assert_ptr_equal(value_to_object(*w_live), handle_object(h_live));
    assert_true(value_is_weak(*w_live));
    /* An old target is left alone by later scavenges even when unreachable. */
    *h_live = VALUE_NULL;
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_true(value_is_weak(*w_live));
    assert_box(value_to_object(*w_live), 2);
    heap_global_handle_destroy(heap, w_dead);
    heap_global_handle_destroy(heap, w_live);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* heap.h does not say which tag a weak global handle's value carries; the full GC
 * accepts both. A weak handle created with a strong-tagged value must not be left
 * pointing into from-space by a scavenge. */
static void test_weak_global_handle_with_strong_tag(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *h_live = handle_of(m, new_tagged_box(m, 1));
    value_t *w_live = heap_global_handle_create(e.heap, *h_live, true);
    value_t *w_dead =
        heap_global_handle_create(e.heap, value_from_object(new_tagged_box(m, 2)), true);
    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    bool live_followed = value_to_object(*w_live) == handle_object(h_live);
    bool dead_cleared = *w_dead == VALUE_CLEARED;
    bool live_in_from = value_is_ref(*w_live) && object_in_from_space(value_to_object(*w_live));
    char report[1024];
    size_t problems = verify_stopped(&e, report, sizeof report);
    heap_global_handle_destroy(e.heap, w_live);
    heap_global_handle_destroy(e.heap, w_dead);
    handle_scope_close(m, &scope);
    env_close(&e);
    if (problems)
        print_error("heap_verify: %s\n", report);
    assert_false(live_in_from);
    assert_true(live_followed);
    assert_true(dead_cleared);
    assert_int_equal(problems, 0);
}

static void test_weak_global_handles_full_gc(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *h_dies = handle_of(m, new_tagged_box(m, 1));
    value_t *h_lives = handle_of(m, new_tagged_box(m, 2));
    value_t *w_dies =
        heap_global_handle_create(heap, value_weak_from_object(handle_object(h_dies)), true);
    value_t *w_lives =
        heap_global_handle_create(heap, value_weak_from_object(handle_object(h_lives)), true);
    gc_collect(heap, m, COLLECT_SCAVENGE);
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_false(object_in_young(handle_object(h_dies)));
    assert_false(object_in_young(handle_object(h_lives)));
    assert_ptr_equal(value_to_object(*w_dies), handle_object(h_dies));

    struct object *survivor = handle_object(h_lives);
    *h_dies = VALUE_NULL;
    gc_collect(heap, m, COLLECT_FULL);
    assert_true(*w_dies == VALUE_CLEARED);
    assert_true(*w_lives == value_weak_from_object(survivor));
    assert_box(survivor, 2);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* --- Weak arrays ------------------------------------------------------------------------------ */

static void test_weak_arrays(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct heap *heap = e.heap;
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *h_wa = handle_of(m, heap_new_weak_array(m, 4));
    value_t *h_live = handle_of(m, new_tagged_box(m, 2));
    object_store(m, handle_object(h_wa), 2, value_weak_from_object(new_tagged_box(m, 1)));
    object_store(m, handle_object(h_wa), 3, value_weak_from_object(handle_object(h_live)));
    object_store(m, handle_object(h_wa), 4, value_from_smi(7));
    /* Slot 5: a strong reference inside a weak array is an ordinary strong edge. */
    value_t *h_strong_only = handle_of(m, new_tagged_box(m, 3));
    object_store(m, handle_object(h_wa), 5, *h_strong_only);
    *h_strong_only = VALUE_NULL;

    gc_collect(heap, m, COLLECT_SCAVENGE);
    struct object *wa = handle_object(h_wa);
    assert_true(object_get(wa, 2) == VALUE_CLEARED);
    assert_true(object_get(wa, 3) == value_weak_from_object(handle_object(h_live)));
    assert_true(object_get(wa, 4) == value_from_smi(7));
    assert_true(value_is_strong(object_get(wa, 5)));
    assert_box(value_to_object(object_get(wa, 5)), 3);
    assert_heap_clean(&e);

    /* Promote both the array and the target; the weak slot follows. */
    gc_collect(heap, m, COLLECT_SCAVENGE);
    wa = handle_object(h_wa);
    assert_false(object_in_young(wa));
    assert_false(object_in_young(handle_object(h_live)));
    assert_true(object_get(wa, 3) == value_weak_from_object(handle_object(h_live)));
    assert_heap_clean(&e);

    /* Old array, young target: the weak slot goes through the remembered set. */
    object_store(m, wa, 2, value_weak_from_object(new_tagged_box(m, 4)));
    value_t *h_young = handle_of(m, new_tagged_box(m, 5));
    object_store(m, wa, 4, value_weak_from_object(handle_object(h_young)));
    assert_heap_clean(&e);
    gc_collect(heap, m, COLLECT_SCAVENGE);
    assert_true(object_get(wa, 2) == VALUE_CLEARED);
    assert_true(object_get(wa, 4) == value_weak_from_object(handle_object(h_young)));
    assert_true(object_in_young(handle_object(h_young)));
    assert_box(handle_object(h_young), 5);
    assert_heap_clean(&e);
    gc_collect(heap, m, COLLECT_SCAVENGE); /* promotes h_young's target */
    assert_false(object_in_young(handle_object(h_young)));
    assert_true(object_get(wa, 4) == value_weak_from_object(handle_object(h_young)));

    /* Full GC: dead old targets are cleared, live ones kept. */
    struct object *live = handle_object(h_live);
    *h_young = VALUE_NULL;
    gc_collect(heap, m, COLLECT_FULL);
    assert_ptr_equal(handle_object(h_wa), wa);
    assert_true(object_get(wa, 4) == VALUE_CLEARED);
    assert_true(object_get(wa, 3) == value_weak_from_object(live));
    assert_box(live, 2);
    *h_live = VALUE_NULL;
    gc_collect(heap, m, COLLECT_FULL);
    assert_true(object_get(wa, 3) == VALUE_CLEARED);
    assert_box(value_to_object(object_get(wa, 5)), 3);
    assert_heap_clean(&e);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* --- Heap exhaustion ------------------------------------------------------------------------- */

enum exhaust_kind { EXHAUST_OLD, EXHAUST_PROMOTION };

static _Noreturn void exhaust(enum exhaust_kind kind)
{
    struct env e;
    /* 2 x 2 semispace pages and the first old page: 1.25 MiB; allow a little more. */
    env_open(&e, 512 * KiB, 2 * MiB);
    struct mutator *m = &e.m;
    value_t *holder = handle_of(m, new_old_array(m, 20000));
    for (size_t i = 0; i < 20000; i++) {
        struct object *a =
            kind == EXHAUST_OLD ? new_old_array(m, 2000) : heap_new_fixed_array(m, 500);
        object_store(m, handle_object(holder), 2 + i, value_from_object(a));
    }
    _exit(0); /* ran 160 MiB of live data through a 2 MiB heap: the test fails */
}

static void expect_fatal(enum exhaust_kind kind)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        exhaust(kind);
    }
    close(fds[1]);
    char text[4096];
    size_t used = 0;
    ssize_t n;
    while ((n = read(fds[0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t)n;
    text[used] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
        print_error("child status 0x%x, stderr: %s\n", status, text);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(text, "waltz: error: heap exhausted"));
    assert_non_null(strstr(text, "--heap-size 2 MiB"));
}

static void test_heap_exhaustion_old_allocation(void **state) { expect_fatal(EXHAUST_OLD); }
static void test_heap_exhaustion_promotion(void **state) { expect_fatal(EXHAUST_PROMOTION); }

/* --- The verifier ------------------------------------------------------------------------------
 */

static void test_verify_healthy_heap(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    char report[512] = "untouched";
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    assert_string_equal(report, "");
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *old = handle_of(m, new_old_array(m, 8));
    for (int i = 0; i < 8; i++)
        object_store(m, handle_object(old), 2 + (size_t)i, value_from_object(new_tagged_box(m, i)));
    value_t *wa = handle_of(m, heap_new_weak_array(m, 2));
    object_store(m, handle_object(wa), 2, value_weak_from_object(handle_object(old)));
    handle_of(m, heap_allocate_code(m, 1, 16));
    handle_of(m, heap_new_fixed_array(m, 20000)); /* large */
    heap_global_handle_create(e.heap, value_weak_from_object(new_tagged_box(m, 9)), true);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    assert_string_equal(report, "");
    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    gc_collect(e.heap, m, COLLECT_FULL);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    handle_scope_close(m, &scope);
    env_close(&e);
}

static void test_verify_catches_missed_remembered_set(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *old = handle_of(m, new_old_array(m, 4));
    value_t *young = handle_of(m, new_tagged_box(m, 1));
    object_set_raw(handle_object(old), 3, *young); /* no barrier */
    char report[1024];
    size_t problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "remembered-set"));

    /* The same store through the barrier satisfies it. */
    object_store(m, handle_object(old), 3, *young);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    /* And so does the scavenge that then moves the target. */
    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    assert_true(object_get(handle_object(old), 3) == *young);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    handle_scope_close(m, &scope);
    env_close(&e);
}

static void test_verify_catches_dangling_pointers(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *holder = handle_of(m, heap_new_fixed_array(m, 2));
    struct object *unrooted = new_tagged_box(m, 1); /* raw pointer: dies in the scavenge */
    gc_collect(e.heap, m, COLLECT_SCAVENGE);
    assert_true(object_in_from_space(unrooted));
    char report[1024];

    object_set_raw(handle_object(holder), 2, value_from_object(unrooted));
    size_t problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "dangling"));
    assert_non_null(strstr(report, "from-space"));
    object_set_raw(handle_object(holder), 2, VALUE_NULL);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);

    /* The start of a from-space page, from a root this time. */
    struct object *from_start = (struct object *)e.heap->new_space.from.first_page->area_start;
    value_t *bad_root = handle_of(m, from_start);
    problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "dangling"));
    *bad_root = VALUE_NULL;

    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    handle_scope_close(m, &scope);
    env_close(&e);
}

static void test_verify_catches_interior_pointers(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *holder = handle_of(m, heap_new_fixed_array(m, 2));
    value_t *young = handle_of(m, heap_new_fixed_array(m, 4));
    value_t *old = handle_of(m, new_old_array(m, 4));
    char report[1024];

    struct object *middle = (struct object *)((uintptr_t)handle_object(young) + 2 * WORD_BYTES);
    object_set_raw(handle_object(holder), 2, value_from_object(middle));
    size_t problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "not an object start"));
    object_set_raw(handle_object(holder), 2, VALUE_NULL);
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);

    /* Weak, into the middle of an old object. */
    middle = (struct object *)((uintptr_t)handle_object(old) + WORD_BYTES);
    object_store(m, handle_object(holder), 3, value_weak_from_object(middle));
    problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "not an object start"));
    object_set_raw(handle_object(holder), 3, VALUE_NULL);

    /* A broken map word makes the page walk fail. */
    struct object *garbage = new_tagged_box(m, 1);
    value_t saved = garbage->map_word;
    garbage->map_word = value_from_smi(12345);
    problems = verify_stopped(&e, report, sizeof report);
    assert_true(problems > 0);
    assert_non_null(strstr(report, "no valid map"));
    garbage->map_word = saved;
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* verify.h: "never into from-space, freed memory or the middle of an object". A pointer
 * to an old object that the full GC freed, planted after the sweep. */
static void test_verify_catches_pointer_to_freed_memory(void **state)
{
    struct env e;
    env_open(&e, TEST_YOUNG_BYTES, TEST_HEAP_BYTES);
    struct mutator *m = &e.m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *keep = handle_of(m, new_old_array(m, 4));
    struct object *victim = new_old_array(m, 4);
    value_t *keep_after = handle_of(m, new_old_array(m, 4));
    /* Precondition: the victim sits right after a live object. */
    assert_true((uintptr_t)victim == (uintptr_t)handle_object(keep) + fixed_array_size_bytes(4));
    gc_collect(e.heap, m, COLLECT_FULL);
    assert_ptr_not_equal(object_map(victim), e.heap->fixed_array_map); /* swept */
    char report[1024];
    assert_int_equal(verify_stopped(&e, report, sizeof report), 0);

    object_set_raw(handle_object(keep), 2, value_from_object(victim));
    size_t problems = verify_stopped(&e, report, sizeof report);
    int victim_type = (int)object_type(victim);
    object_set_raw(handle_object(keep), 2, VALUE_NULL);
    (void)keep_after;
    handle_scope_close(m, &scope);
    env_close(&e);
    if (problems == 0)
        print_error("a pointer to the freed object at %p (now a free-list entry, instance type "
                    "%d) passes heap_verify\n",
                    (void *)victim, victim_type);
    assert_true(problems > 0);
}

const struct CMUnitTest heap_collect_tests[] = {
    cmocka_unit_test(test_promotion_after_two_scavenges),
    cmocka_unit_test(test_full_gc_frees_unreachable_old),
    cmocka_unit_test(test_strong_global_handles),
    cmocka_unit_test(test_weak_global_handles_scavenge),
    cmocka_unit_test(test_weak_global_handle_with_strong_tag),
    cmocka_unit_test(test_weak_global_handles_full_gc),
    cmocka_unit_test(test_weak_arrays),
    cmocka_unit_test(test_heap_exhaustion_old_allocation),
    cmocka_unit_test(test_heap_exhaustion_promotion),
    cmocka_unit_test(test_verify_healthy_heap),
    cmocka_unit_test(test_verify_catches_missed_remembered_set),
    cmocka_unit_test(test_verify_catches_dangling_pointers),
    cmocka_unit_test(test_verify_catches_interior_pointers),
    cmocka_unit_test(test_verify_catches_pointer_to_freed_memory),
};
const size_t heap_collect_test_count = ARRAY_LENGTH(heap_collect_tests);
