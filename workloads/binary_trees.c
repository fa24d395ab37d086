/*
 * binary-trees, the Computer Language Benchmarks Game program (after Hans Boehm's
 * GCBench): build many short-lived complete binary trees bottom-up beside one
 * long-lived tree, and count their nodes. With N mutators the iterations of each depth
 * are split across the threads; the checksum does not change.
 */
#include "workload.h"

#include "barrier/barrier.h"

struct bt {
    struct workload_run *run;
    struct object *node_map;
    int min_depth, max_depth;
    int64_t stretch_check, long_lived_check;
    int64_t *depth_checks; /* [depth index][mutator] */
};

/* Node = { left, right }; a leaf has both null. */
static struct object *bottom_up(struct mutator *m, struct object *map, int depth)
{
    if (depth == 0)
        return heap_new_struct(m, map);
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *left = handle_of(m, bottom_up(m, map, depth - 1));
    value_t *right = handle_of(m, bottom_up(m, map, depth - 1));
    /* A regular-size allocation is young: its initializing stores need no barrier. */
    struct object *node = heap_allocate(m, map, 3 * WORD_BYTES);
    object_set_raw(node, 1, *left);
    object_set_raw(node, 2, *right);
    handle_scope_close(m, &scope);
    return node;
}

/* No allocation, so no poll and no object moves during the walk. */
static int64_t item_check(struct object *node)
{
    int64_t count = 1;
    while (object_get(node, 1) != VALUE_NULL) {
        count += item_check(value_to_object(object_get(node, 1)));
        node = value_to_object(object_get(node, 2));
        count++;
    }
    return count;
}

static int64_t tree_nodes(int depth) { return ((int64_t)1 << (depth + 1)) - 1; }

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct bt *bt = ctx;
    uint32_t n = bt->run->mutators;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *long_lived = NULL;
    if (index == 0) {
        bt->stretch_check = item_check(bottom_up(m, bt->node_map, bt->max_depth + 1));
        long_lived = handle_of(m, bottom_up(m, bt->node_map, bt->max_depth));
    }
    for (int depth = bt->min_depth, d = 0; depth <= bt->max_depth; depth += 2, d++) {
        int64_t iterations = (int64_t)1 << (bt->max_depth - depth + bt->min_depth);
        int64_t first = iterations * index / n, last = iterations * (index + 1) / n;
        int64_t check = 0;
        for (int64_t i = first; i < last; i++) {
            check += item_check(bottom_up(m, bt->node_map, depth));
            mutator_poll(m);
        }
        bt->depth_checks[(size_t)d * n + index] = check;
    }
    if (index == 0)
        bt->long_lived_check = item_check(handle_object(long_lived));
    handle_scope_close(m, &scope);
}

static int run(struct workload_run *run)
{
    struct bt bt = {.run = run, .min_depth = 4};
    int n = (int)workload_param(run, "depth");
    bt.max_depth = n > bt.min_depth + 2 ? n : bt.min_depth + 2;
    bt.node_map = heap_create_struct_map(run->heap, 2, 0);
    int depths = (bt.max_depth - bt.min_depth) / 2 + 1;
    bt.depth_checks = platform_calloc((size_t)depths * run->mutators, sizeof(int64_t));
    workload_run_mutators(run, mutator, &bt);

    uint64_t checksum = (uint64_t)bt.stretch_check;
    if (run->out)
        fprintf(run->out, "stretch tree of depth %d\t check: %lld\n", bt.max_depth + 1,
                (long long)bt.stretch_check);
    for (int depth = bt.min_depth, d = 0; depth <= bt.max_depth; depth += 2, d++) {
        int64_t check = 0;
        for (uint32_t i = 0; i < run->mutators; i++)
            check += bt.depth_checks[(size_t)d * run->mutators + i];
        if (run->out)
            fprintf(run->out, "%lld\t trees of depth %d\t check: %lld\n",
                    (long long)((int64_t)1 << (bt.max_depth - depth + bt.min_depth)), depth,
                    (long long)check);
        checksum += (uint64_t)check;
    }
    if (run->out)
        fprintf(run->out, "long lived tree of depth %d\t check: %lld\n", bt.max_depth,
                (long long)bt.long_lived_check);
    checksum += (uint64_t)bt.long_lived_check;
    run->checksum = checksum;
    platform_free(bt.depth_checks);
    return 0;
}

static uint64_t expected(const struct workload_run *run)
{
    int min_depth = 4, n = (int)workload_param(run, "depth");
    int max_depth = n > min_depth + 2 ? n : min_depth + 2;
    int64_t sum = tree_nodes(max_depth + 1) + tree_nodes(max_depth);
    for (int depth = min_depth; depth <= max_depth; depth += 2)
        sum += ((int64_t)1 << (max_depth - depth + min_depth)) * tree_nodes(depth);
    return (uint64_t)sum;
}

const struct workload workload_binary_trees = {
    .name = "binary-trees",
    .summary = "Benchmarks Game binary-trees: short-lived trees beside a long-lived one",
    .flags = {{"depth", "maximum tree depth (the stretch tree is one deeper)", 21, 4, 30}},
    .run = run,
    .expected_checksum = expected,
};
