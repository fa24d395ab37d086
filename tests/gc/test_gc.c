/*
 * Integration tests of lib/gc at library level: a linked list spread over the young and
 * old generations that must survive many forced scavenges and full GCs with its
 * contents intact and a clean heap verification after each; and gc_stress with
 * verify_heap on while four mutator threads build and check binary trees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "gc/gc.h"
#include "heap/spaces.h"
#include "heap/verify.h"

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
};

static void env_open(struct env *e, const struct heap_config *config)
{
    e->heap = heap_create(config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
}

static void env_close(struct env *e)
{
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

static size_t verify_stopped(struct env *e, char *report, size_t size)
{
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    heap_retire_lab(e->heap, &e->m.lab);
    remset_flush_all(e->heap);
    size_t problems = heap_verify(e->heap, report, size);
    safepoint_end(&e->heap->safepoint, &e->m.safepoint);
    return problems;
}

static void assert_clean(struct env *e, const char *when, int round)
{
    char report[2048];
    size_t problems = verify_stopped(e, report, sizeof report);
    if (problems)
        print_error("heap_verify after %s %d: %zu problem(s): %s\n", when, round, problems, report);
    assert_int_equal(problems, 0);
}

/* --- A linked list over both generations -------------------------------------------------- */

/* node: [map][next][payload: a young HeapNumber][id raw] */
enum { NODE_NEXT = 1, NODE_PAYLOAD = 2, NODE_ID = 3 };
#define LIST_LENGTH 300

static struct object *new_node(struct mutator *m, struct object *map, bool old, int64_t id)
{
    struct object *n;
    if (old) {
        n = heap_allocate_old(m, map, map_raw(map, MAP_INSTANCE_SIZE));
        object_set_raw(n, NODE_NEXT, VALUE_NULL);
        object_set_raw(n, NODE_PAYLOAD, VALUE_NULL);
    } else {
        n = heap_new_struct(m, map);
    }
    object_set_raw(n, NODE_ID, (value_t)id);
    return n;
}

/* Walks the list (no allocation, so raw pointers are fine) and checks every node. */
static void check_list(struct env *e, value_t head, struct object *map, size_t *young_count)
{
    size_t n = 0, young = 0;
    int64_t expected = LIST_LENGTH - 1;
    for (value_t v = head; v != VALUE_NULL; v = object_get(value_to_object(v), NODE_NEXT)) {
        assert_true(value_is_strong(v));
        struct object *node = value_to_object(v);
        assert_ptr_equal(object_map(node), map);
        assert_int_equal((int64_t)object_get(node, NODE_ID), expected);
        value_t payload = object_get(node, NODE_PAYLOAD);
        assert_true(value_is_strong(payload));
        assert_ptr_equal(object_map(value_to_object(payload)), e->heap->heap_number_map);
        assert_true(heap_number_value(value_to_object(payload)) == (double)expected * 0.5);
        young += object_in_young(node);
        expected--;
        n++;
        assert_true(n <= LIST_LENGTH);
    }
    assert_int_equal(n, LIST_LENGTH);
    if (young_count)
        *young_count = young;
}

static void test_list_survives_collections(void **state)
{
    struct heap_config config = {.young_size_bytes = 1 * MiB, .heap_size_bytes = 64 * MiB};
    struct env e;
    env_open(&e, &config);
    struct mutator *m = &e.m;
    struct object *map = heap_create_struct_map(e.heap, 2, 1);
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *head = handle_new(m, VALUE_NULL);
    for (int64_t i = 0; i < LIST_LENGTH; i++) {
        struct handle_scope inner;
        handle_scope_open(m, &inner);
        value_t *node = handle_of(m, new_node(m, map, i % 3 == 1, i));
        struct object *payload = heap_new_heap_number(m, (double)i * 0.5);
        object_store(m, handle_object(node), NODE_PAYLOAD, value_from_object(payload));
        object_store(m, handle_object(node), NODE_NEXT, *head);
        *head = *node;
        /* Garbage between the nodes, so survivors must be found, not just kept. */
        heap_new_fixed_array(m, (size_t)(i % 7) * 4);
        handle_scope_close(m, &inner);
    }
    size_t young = 0;
    check_list(&e, *head, map, &young);
    assert_int_equal(young, LIST_LENGTH - LIST_LENGTH / 3);
    assert_clean(&e, "building", 0);

    for (int round = 0; round < 50; round++) {
        gc_collect(e.heap, m, COLLECT_SCAVENGE);
        check_list(&e, *head, map, &young);
        if (round >= 1)
            assert_int_equal(young, 0); /* everything promoted after two scavenges */
        assert_clean(&e, "scavenge", round);
        /* Fresh young payloads in (by now) old nodes keep old-to-young edges alive. */
        if (round % 5 == 0) {
            struct handle_scope inner;
            handle_scope_open(m, &inner);
            size_t k = 0;
            for (value_t v = *head; v != VALUE_NULL; k++) {
                value_t *node = handle_new(m, v);
                if (k % 4 == 0) {
                    int64_t id = (int64_t)object_get(handle_object(node), NODE_ID);
                    struct object *payload = heap_new_heap_number(m, (double)id * 0.5);
                    object_store(m, handle_object(node), NODE_PAYLOAD, value_from_object(payload));
                }
                v = object_get(handle_object(node), NODE_NEXT);
            }
            handle_scope_close(m, &inner);
            check_list(&e, *head, map, NULL);
            assert_clean(&e, "payload refresh", round);
        }
    }
    for (int round = 0; round < 10; round++) {
        gc_collect(e.heap, m, COLLECT_FULL);
        check_list(&e, *head, map, NULL);
        assert_clean(&e, "full GC", round);
        gc_collect(e.heap, m, COLLECT_SCAVENGE);
        check_list(&e, *head, map, NULL);
        assert_clean(&e, "scavenge after full GC", round);
    }
    assert_int_equal(e.gc->scavenges, 60);
    assert_int_equal(e.gc->full_gcs, 10);

    /* Cut the list in half: a full GC frees the tail. */
    size_t used = heap_old_used_bytes(e.heap);
    value_t v = *head;
    for (int i = 0; i < LIST_LENGTH / 2 - 1; i++)
        v = object_get(value_to_object(v), NODE_NEXT);
    object_store(m, value_to_object(v), NODE_NEXT, VALUE_NULL);
    gc_collect(e.heap, m, COLLECT_FULL);
    assert_true(heap_old_used_bytes(e.heap) + (LIST_LENGTH / 2) * 4 * WORD_BYTES / 2 <= used);
    size_t n = 0;
    for (v = *head; v != VALUE_NULL; v = object_get(value_to_object(v), NODE_NEXT))
        n++;
    assert_int_equal(n, LIST_LENGTH / 2);
    assert_clean(&e, "cut", 0);
    handle_scope_close(m, &scope);
    env_close(&e);
}

/* --- gc_stress with verify_heap, four mutators building trees ------------------------------- */

#define TREE_THREADS 4
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WALTZ_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(WALTZ_TEST_SANITIZED)
/* Sanitized builds verify ten times slower: fewer, smaller trees (still ~700 GCs). */
#define TREE_DEPTH 7
#define TREE_ROUNDS 4
#else
#define TREE_DEPTH 8
#define TREE_ROUNDS 8
#endif

/* tree node: [map][left][right][id raw] */
enum { TREE_LEFT = 1, TREE_RIGHT = 2, TREE_ID = 3 };

struct tree_thread {
    struct gc *gc;
    struct object *map;
    pthread_t handle;
    int index;
    uint64_t next_id;
    /* Results, checked on the test's thread. */
    uint64_t bad_counts, bad_sums, bad_shapes, trees;
};

/* Builds a tree bottom-up through handles; ids in post-order; returns the sum of ids. */
static uint64_t build_tree(struct mutator *m, struct tree_thread *t, value_t *result, int depth)
{
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *left = handle_new(m, VALUE_NULL), *right = handle_new(m, VALUE_NULL);
    uint64_t sum = 0;
    if (depth > 0) {
        sum += build_tree(m, t, left, depth - 1);
        sum += build_tree(m, t, right, depth - 1);
    }
    struct object *node = heap_allocate(m, t->map, map_raw(t->map, MAP_INSTANCE_SIZE));
    object_set_raw(node, TREE_LEFT, VALUE_NULL);
    object_set_raw(node, TREE_RIGHT, VALUE_NULL);
    uint64_t id = t->next_id++;
    object_set_raw(node, TREE_ID, (value_t)id);
    object_store(m, node, TREE_LEFT, *left);
    object_store(m, node, TREE_RIGHT, *right);
    *result = value_from_object(node);
    handle_scope_close(m, &scope);
    return sum + id;
}

/* Counts nodes, sums ids and checks that every leaf is at the expected depth. */
static uint64_t walk_tree(value_t v, struct object *map, int depth, uint64_t *sum, bool *shape_ok)
{
    if (v == VALUE_NULL) {
        if (depth != -1)
            *shape_ok = false;
        return 0;
    }
    struct object *node = value_to_object(v);
    if (!value_is_strong(v) || object_map(node) != map) {
        *shape_ok = false;
        return 0;
    }
    *sum += (uint64_t)object_get(node, TREE_ID);
    return 1 + walk_tree(object_get(node, TREE_LEFT), map, depth - 1, sum, shape_ok) +
           walk_tree(object_get(node, TREE_RIGHT), map, depth - 1, sum, shape_ok);
}

static void check_tree(struct tree_thread *t, value_t root, uint64_t expected_sum)
{
    uint64_t sum = 0;
    bool shape_ok = true;
    uint64_t n = walk_tree(root, t->map, TREE_DEPTH, &sum, &shape_ok);
    t->trees++;
    if (n != ((uint64_t)1 << (TREE_DEPTH + 1)) - 1)
        t->bad_counts++;
    if (sum != expected_sum)
        t->bad_sums++;
    if (!shape_ok)
        t->bad_shapes++;
}

static void *tree_main(void *arg)
{
    struct tree_thread *t = arg;
    struct mutator m;
    char name[16];
    snprintf(name, sizeof name, "tree-%d", t->index);
    gc_mutator_attach(t->gc, &m, name);
    struct handle_scope scope;
    handle_scope_open(&m, &scope);
    value_t *long_lived = handle_new(&m, VALUE_NULL);
    uint64_t long_sum = build_tree(&m, t, long_lived, TREE_DEPTH);
    for (int round = 0; round < TREE_ROUNDS; round++) {
        value_t *tree = handle_new(&m, VALUE_NULL);
        uint64_t sum = build_tree(&m, t, tree, TREE_DEPTH);
        check_tree(t, *tree, sum);
        check_tree(t, *long_lived, long_sum);
        *tree = VALUE_NULL;
    }
    check_tree(t, *long_lived, long_sum);
    handle_scope_close(&m, &scope);
    gc_mutator_detach(&m);
    return NULL;
}

static void test_stress_trees_on_four_mutators(void **state)
{
    struct heap_config config = {.young_size_bytes = 1 * MiB,
                                 .heap_size_bytes = 64 * MiB,
                                 .gc_stress = 7,
                                 .verify_heap = true};
    struct heap *heap = heap_create(&config, NULL);
    struct gc *gc = gc_create(heap, NULL);
    struct object *map = heap_create_struct_map(heap, 2, 1);
    struct tree_thread threads[TREE_THREADS];
    for (int i = 0; i < TREE_THREADS; i++) {
        threads[i] = (struct tree_thread){.gc = gc, .map = map, .index = i};
        assert_int_equal(pthread_create(&threads[i].handle, NULL, tree_main, &threads[i]), 0);
    }
    for (int i = 0; i < TREE_THREADS; i++)
        pthread_join(threads[i].handle, NULL);
    uint64_t nodes = (((uint64_t)1 << (TREE_DEPTH + 1)) - 1) * (TREE_ROUNDS + 1);
    for (int i = 0; i < TREE_THREADS; i++) {
        assert_int_equal(threads[i].trees, 2 * TREE_ROUNDS + 1);
        assert_int_equal(threads[i].bad_counts, 0);
        assert_int_equal(threads[i].bad_sums, 0);
        assert_int_equal(threads[i].bad_shapes, 0);
        assert_int_equal(threads[i].next_id, nodes);
    }
    /* Stress really collected: a GC every 7 allocations of each mutator, every fourth
     * of them full, each verified before and after. */
    uint64_t expected = TREE_THREADS * (nodes / 7);
    /* With marking cycles the full ones alternate between starting and finishing one. */
    print_message("stress: %llu scavenges, %llu full GCs, %llu verifications\n",
                  (unsigned long long)gc->scavenges, (unsigned long long)gc->full_gcs,
                  (unsigned long long)gc->verified_count);
    assert_true(gc->scavenges + gc->old_pauses >= expected);
    assert_true(gc->old_pauses >= TREE_THREADS * (nodes / 7 / 4));
    assert_true(gc->verified_count >= 2 * expected);
    assert_int_equal(heap->safepoint.thread_count, 0);
    gc_destroy(gc);
    heap_destroy(heap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_survives_collections),
        cmocka_unit_test(test_stress_trees_on_four_mutators),
    };
    return cmocka_run_group_tests_name("gc", tests, NULL, NULL);
}
