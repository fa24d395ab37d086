/*
 * unbalanced: a deliberately unbalanced young generation, for work-stealing ablations.
 *
 * Each round, every mutator builds one long singly linked list and, beside it, many
 * small complete binary trees, each held by a handle of its own; then it allocates
 * short-lived garbage while both stay alive, so the scavenges of that round copy them
 * (to to-space, then into old space). The list's transitive closure is a chain that one
 * GC task can only follow node by node, while the trees are independent roots that any
 * task can take: with static partitioning (--steal off) the task that gets the list head
 * does the whole chain plus its share of the trees; with stealing, the other tasks take
 * the trees meanwhile. Then the mutator walks what it built and drops it.
 *
 * Checksum (closed form in expected()): list node p from the head holds L - p + r
 * (round r), summed weighted by p + 1; tree node values are the tree's global id
 * (mutator * T + t + 1) plus r, summed over every node; plus one per garbage array.
 */
#include "workload.h"

#include "barrier/barrier.h"

/* ListNode = { next (tagged); val (raw) }, TreeNode = { left, right (tagged); val (raw) } */
enum { LIST_NEXT = 1, LIST_VAL = 2, LIST_NODE_BYTES = 3 * WORD_BYTES };
enum { TREE_LEFT = 1, TREE_RIGHT = 2, TREE_VAL = 3, TREE_NODE_BYTES = 4 * WORD_BYTES };
/* Each garbage object is a byte array of 1 KiB in all. */
#define GARBAGE_LENGTH (1024 - ARRAY_HEADER_BYTES)

struct unbalanced {
    struct workload_run *run;
    struct object *list_map, *tree_map;
    int64_t list_length, trees, tree_depth, garbage, rounds;
    uint64_t *sums; /* per mutator */
    int *failed;
};

/* Prepends the values 1, 2, ..., length (plus round): the head holds length + round. */
static void build_list(struct mutator *m, struct unbalanced *u, value_t *head, uint64_t round)
{
    for (int64_t k = 1; k <= u->list_length; k++) {
        /* The allocation may move the current head: read it through the handle after. */
        struct object *o = heap_allocate(m, u->list_map, LIST_NODE_BYTES);
        object_set_raw(o, LIST_NEXT, *head);
        object_set_raw(o, LIST_VAL, (value_t)((uint64_t)k + round));
        *head = value_from_object(o);
    }
}

/* Bottom-up: children first, then the parent (young, so its stores need no barrier). */
static struct object *build_tree(struct mutator *m, struct object *map, int64_t depth, uint64_t val)
{
    if (depth == 0) {
        struct object *leaf = heap_allocate(m, map, TREE_NODE_BYTES);
        object_set_raw(leaf, TREE_LEFT, VALUE_NULL);
        object_set_raw(leaf, TREE_RIGHT, VALUE_NULL);
        object_set_raw(leaf, TREE_VAL, (value_t)val);
        return leaf;
    }
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *left = handle_of(m, build_tree(m, map, depth - 1, val));
    value_t *right = handle_of(m, build_tree(m, map, depth - 1, val));
    struct object *node = heap_allocate(m, map, TREE_NODE_BYTES);
    object_set_raw(node, TREE_LEFT, *left);
    object_set_raw(node, TREE_RIGHT, *right);
    object_set_raw(node, TREE_VAL, (value_t)val);
    handle_scope_close(m, &scope);
    return node;
}

/* No allocation below this point of a round, so raw pointers are safe during walks. */
static uint64_t walk_list(struct object *node, int64_t *count)
{
    uint64_t sum = 0, position = 1;
    *count = 0;
    while (node) {
        sum += position++ * (uint64_t)object_get(node, LIST_VAL);
        (*count)++;
        value_t next = object_get(node, LIST_NEXT);
        node = next != VALUE_NULL ? value_to_object(next) : NULL;
    }
    return sum;
}

static uint64_t walk_tree(struct object *node, int64_t *count)
{
    uint64_t sum = 0;
    while (node) {
        sum += (uint64_t)object_get(node, TREE_VAL);
        (*count)++;
        value_t left = object_get(node, TREE_LEFT);
        if (left != VALUE_NULL)
            sum += walk_tree(value_to_object(left), count);
        value_t right = object_get(node, TREE_RIGHT);
        node = right != VALUE_NULL ? value_to_object(right) : NULL;
    }
    return sum;
}

static int64_t tree_nodes(int64_t depth) { return ((int64_t)1 << (depth + 1)) - 1; }

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct unbalanced *u = ctx;
    size_t trees = (size_t)u->trees;
    value_t **tree_handles = platform_calloc(trees ? trees : 1, sizeof *tree_handles);
    uint64_t sum = 0;
    for (int64_t r = 0; r < u->rounds; r++) {
        uint64_t round = (uint64_t)r;
        struct handle_scope scope;
        handle_scope_open(m, &scope);
        value_t *head = handle_new(m, VALUE_NULL);
        build_list(m, u, head, round);
        for (size_t t = 0; t < trees; t++) {
            uint64_t id = (uint64_t)index * trees + t + 1;
            tree_handles[t] = handle_of(m, build_tree(m, u->tree_map, u->tree_depth, id + round));
        }
        for (int64_t g = 0; g < u->garbage; g++) {
            struct object *a = heap_new_byte_array(m, GARBAGE_LENGTH);
            byte_array_data(a)[0] = 1;
            sum += byte_array_data(a)[0];
        }
        int64_t count = 0;
        sum += walk_list(*head != VALUE_NULL ? handle_object(head) : NULL, &count);
        if (count != u->list_length)
            u->failed[index] = 1;
        for (size_t t = 0; t < trees; t++) {
            count = 0;
            sum += walk_tree(handle_object(tree_handles[t]), &count);
            if (count != tree_nodes(u->tree_depth))
                u->failed[index] = 1;
        }
        handle_scope_close(m, &scope);
        mutator_poll(m);
    }
    u->sums[index] = sum;
    platform_free(tree_handles);
}

static void setup(struct unbalanced *u, const struct workload_run *run)
{
    u->list_length = workload_param(run, "list-length");
    u->trees = workload_param(run, "trees");
    u->tree_depth = workload_param(run, "tree-depth");
    u->garbage = workload_param(run, "garbage");
    u->rounds = workload_param(run, "rounds");
}

static int run(struct workload_run *run)
{
    struct unbalanced u = {.run = run};
    setup(&u, run);
    u.list_map = heap_create_struct_map(run->heap, 1, 1);
    u.tree_map = heap_create_struct_map(run->heap, 2, 1);
    u.sums = platform_calloc(run->mutators, sizeof(uint64_t));
    u.failed = platform_calloc(run->mutators, sizeof(int));
    workload_run_mutators(run, mutator, &u);
    uint64_t checksum = 0;
    int failed = 0;
    for (uint32_t i = 0; i < run->mutators; i++) {
        checksum += u.sums[i];
        failed |= u.failed[i];
    }
    if (run->out)
        fprintf(run->out,
                "unbalanced: %u mutator(s), %lld rounds of a %lld-node list beside %lld trees "
                "of depth %lld, %lld KiB of garbage per round\n",
                run->mutators, (long long)u.rounds, (long long)u.list_length, (long long)u.trees,
                (long long)u.tree_depth, (long long)u.garbage);
    run->checksum = checksum;
    platform_free(u.sums);
    platform_free(u.failed);
    if (failed) {
        snprintf(run->error, sizeof run->error,
                 "unbalanced: a list or a tree did not have its node count when walked");
        return 1;
    }
    return 0;
}

/* n(n+1)/2 and n(n+1)(n+2)/6 modulo 2^64: the divisions are exact on the factors. */
static uint64_t triangle(uint64_t n)
{
    uint64_t a = n, b = n + 1;
    if (a % 2 == 0)
        a /= 2;
    else
        b /= 2;
    return a * b;
}

static uint64_t tetrahedral(uint64_t n)
{
    uint64_t f[3] = {n, n + 1, n + 2};
    for (int i = 0; i < 3; i++)
        if (f[i] % 3 == 0) {
            f[i] /= 3;
            break;
        }
    for (int i = 0; i < 3; i++)
        if (f[i] % 2 == 0) {
            f[i] /= 2;
            break;
        }
    return f[0] * f[1] * f[2];
}

/*
 * Over rounds r = 0..R-1 and mutators i = 0..N-1 (all sums modulo 2^64):
 *   list:    sum_p (p + 1)(L - p + r)                 = L(L+1)(L+2)/6 + r L(L+1)/2
 *   trees:   sum_t (i T + t + 1 + r) * (2^(D+1) - 1)  summed over i = nodes (NT(NT+1)/2 + NT r)
 *   garbage: G per round and mutator.
 */
static uint64_t expected(const struct workload_run *run)
{
    struct unbalanced u;
    setup(&u, run);
    uint64_t n = run->mutators ? run->mutators : 1, rounds = (uint64_t)u.rounds;
    uint64_t length = (uint64_t)u.list_length, all_trees = n * (uint64_t)u.trees;
    uint64_t nodes = (uint64_t)tree_nodes(u.tree_depth);
    uint64_t round_sum = rounds ? triangle(rounds - 1) : 0; /* 0 + 1 + ... + (R - 1) */
    uint64_t list = n * (rounds * tetrahedral(length) + round_sum * triangle(length));
    uint64_t trees = nodes * (rounds * triangle(all_trees) + all_trees * round_sum);
    uint64_t garbage = n * rounds * (uint64_t)u.garbage;
    return list + trees + garbage;
}

const struct workload workload_unbalanced = {
    .name = "unbalanced",
    .summary = "one long linked list beside many small trees: a closure one GC task follows alone",
    .flags = {{"list-length", "nodes in the long linked list (24 bytes each)", 200000, 0, 50000000},
              {"trees", "small trees, each held by its own handle", 1000, 0, 1000000},
              {"tree-depth", "depth of each tree (2^(d+1)-1 nodes of 32 bytes)", 6, 0, 16},
              {"garbage", "KiB of short-lived 1 KiB arrays allocated per round meanwhile", 16384, 0,
               100000000},
              {"rounds", "rounds: build, allocate garbage, walk, drop", 20, 1, 1000000}},
    .run = run,
    .expected_checksum = expected,
};
