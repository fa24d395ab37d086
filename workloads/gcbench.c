/*
 * GCBench (John Ellis and Pete Kovac; C version by Hans Boehm): a stretch tree, a
 * long-lived tree and a long-lived array of doubles, then, for each depth, many trees
 * built top-down (populate: children allocated and stored into a parent that may be
 * older, the old-to-young case) and as many bottom-up (make_tree). The checksum is
 * the number of Node allocations plus the node count of the long-lived tree.
 */
#include <math.h>

#include "workload.h"

#include "barrier/barrier.h"

/* Node = { left, right (tagged); i, j (raw) } */
enum { NODE_LEFT = 1, NODE_RIGHT = 2, NODE_I = 3, NODE_J = 4, NODE_BYTES = 5 * WORD_BYTES };

struct gcbench {
    struct workload_run *run;
    struct object *node_map;
    int stretch_depth, long_lived_depth, min_depth, max_depth;
    int64_t array_size;
    uint64_t *allocations; /* per mutator */
    uint64_t *long_lived_nodes;
    int *failed;
};

struct gcbench_thread {
    struct gcbench *b;
    struct mutator *m;
    uint64_t allocations;
};

static int64_t tree_size(int depth) { return ((int64_t)1 << (depth + 1)) - 1; }
static int64_t num_iters(const struct gcbench *b, int depth)
{
    return 2 * tree_size(b->stretch_depth) / tree_size(depth);
}

static struct object *new_node(struct gcbench_thread *t)
{
    t->allocations++;
    return heap_new_struct(t->m, t->b->node_map);
}

/* Top-down: children are allocated after their parent and stored into it. */
static void populate(struct gcbench_thread *t, int depth, value_t *node)
{
    if (depth <= 0)
        return;
    depth--;
    struct mutator *m = t->m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *left = handle_of(m, new_node(t));
    object_store(m, handle_object(node), NODE_LEFT, *left);
    value_t *right = handle_of(m, new_node(t));
    object_store(m, handle_object(node), NODE_RIGHT, *right);
    populate(t, depth, left);
    populate(t, depth, right);
    handle_scope_close(m, &scope);
}

/* Bottom-up: children first, then the parent that holds them. */
static struct object *make_tree(struct gcbench_thread *t, int depth)
{
    if (depth <= 0)
        return new_node(t);
    struct mutator *m = t->m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *left = handle_of(m, make_tree(t, depth - 1));
    value_t *right = handle_of(m, make_tree(t, depth - 1));
    struct object *node = new_node(t);
    object_store(m, node, NODE_LEFT, *left);
    object_store(m, node, NODE_RIGHT, *right);
    handle_scope_close(m, &scope);
    return node;
}

static uint64_t count_nodes(struct object *node)
{
    uint64_t n = 0;
    while (node) {
        n++;
        value_t left = object_get(node, NODE_LEFT);
        if (left != VALUE_NULL)
            n += count_nodes(value_to_object(left));
        value_t right = object_get(node, NODE_RIGHT);
        node = right != VALUE_NULL ? value_to_object(right) : NULL;
    }
    return n;
}

static void time_construction(struct gcbench_thread *t, int depth)
{
    struct mutator *m = t->m;
    int64_t iters = num_iters(t->b, depth);
    for (int64_t i = 0; i < iters; i++) {
        struct handle_scope scope;
        handle_scope_open(m, &scope);
        value_t *temp = handle_of(m, new_node(t));
        populate(t, depth, temp);
        handle_scope_close(m, &scope);
    }
    for (int64_t i = 0; i < iters; i++) {
        make_tree(t, depth);
        mutator_poll(m);
    }
}

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct gcbench *b = ctx;
    struct gcbench_thread t = {.b = b, .m = m};
    struct handle_scope scope;
    handle_scope_open(m, &scope);

    make_tree(&t, b->stretch_depth); /* the stretch tree, dropped at once */

    value_t *long_lived = handle_of(m, new_node(&t));
    populate(&t, b->long_lived_depth, long_lived);

    value_t *array = handle_of(m, heap_new_double_array(m, (size_t)b->array_size));
    double *d = double_array_data(handle_object(array));
    for (int64_t i = 0; i < b->array_size; i++)
        d[i] = 0.5;
    for (int64_t i = 0; i < b->array_size / 2; i++)
        d[i] = 1.0 / (double)i;

    for (int depth = b->min_depth; depth <= b->max_depth; depth += 2)
        time_construction(&t, depth);

    d = double_array_data(handle_object(array)); /* reload: objects may have moved */
    int64_t probe = b->array_size > 1000 ? 1000 : b->array_size / 2;
    if (*long_lived == VALUE_NULL || (probe > 0 && d[probe] != 1.0 / (double)probe))
        b->failed[index] = 1;
    b->long_lived_nodes[index] = count_nodes(handle_object(long_lived));
    b->allocations[index] = t.allocations;
    handle_scope_close(m, &scope);
}

static void setup(struct gcbench *b, struct workload_run *run)
{
    b->run = run;
    b->stretch_depth = (int)workload_param(run, "stretch-depth");
    b->long_lived_depth = (int)workload_param(run, "long-lived-depth");
    b->max_depth = (int)workload_param(run, "max-depth");
    b->min_depth = 4;
    b->array_size = workload_param(run, "array-size");
}

static int run(struct workload_run *run)
{
    struct gcbench b;
    setup(&b, run);
    b.node_map = heap_create_struct_map(run->heap, 2, 2);
    b.allocations = platform_calloc(run->mutators, sizeof(uint64_t));
    b.long_lived_nodes = platform_calloc(run->mutators, sizeof(uint64_t));
    b.failed = platform_calloc(run->mutators, sizeof(int));
    workload_run_mutators(run, mutator, &b);
    uint64_t checksum = 0;
    int failed = 0;
    for (uint32_t i = 0; i < run->mutators; i++) {
        checksum += b.allocations[i] + b.long_lived_nodes[i];
        failed |= b.failed[i];
    }
    if (run->out)
        fprintf(run->out, "gcbench: %u mutator(s), stretch %d, long-lived %d, depths %d..%d\n",
                run->mutators, b.stretch_depth, b.long_lived_depth, b.min_depth, b.max_depth);
    run->checksum = checksum;
    platform_free(b.allocations);
    platform_free(b.long_lived_nodes);
    platform_free(b.failed);
    if (failed) {
        snprintf(run->error, sizeof run->error,
                 "gcbench: the long-lived tree or array did not survive intact");
        return 1;
    }
    return 0;
}

static uint64_t expected(const struct workload_run *run)
{
    struct gcbench b;
    setup(&b, (struct workload_run *)run);
    int64_t nodes = tree_size(b.stretch_depth) + tree_size(b.long_lived_depth);
    for (int depth = b.min_depth; depth <= b.max_depth; depth += 2)
        nodes += 2 * num_iters(&b, depth) * tree_size(depth);
    nodes += tree_size(b.long_lived_depth);
    return (uint64_t)nodes * run->mutators;
}

const struct workload workload_gcbench = {
    .name = "gcbench",
    .summary = "Boehm's GCBench: top-down and bottom-up trees beside long-lived data",
    .flags = {{"stretch-depth", "depth of the stretch tree (sets the iteration counts)", 18, 4, 24},
              {"long-lived-depth", "depth of the long-lived tree", 16, 1, 24},
              {"max-depth", "deepest short-lived trees (depths 4, 6, ... up to this)", 16, 4, 24},
              {"array-size", "doubles in the long-lived array", 500000, 0, 100000000}},
    .run = run,
    .expected_checksum = expected,
};
