/*
 * gcbench.c - Boehm's GCBench (Ellis, Kovac, Boehm) as defined in waltz's
 * WORKLOADS.md, for the Boehm collector and for plain malloc/free (see peer.h).
 *
 * usage: gcbench [--pause-log FILE]
 * Prints "checksum N" where N = Node allocations in the whole run + node count of
 * the long-lived tree at the end (15464933).
 */
#include "peer.h"

enum {
    STRETCH_TREE_DEPTH = 18,
    LONG_LIVED_TREE_DEPTH = 16,
    ARRAY_SIZE = 500000,
    MIN_TREE_DEPTH = 4,
    MAX_TREE_DEPTH = 16,
};

typedef struct Node {
    struct Node *left, *right;
    int i, j;
} Node;

static uint64_t node_allocations;

static Node *new_node(Node *left, Node *right)
{
    Node *n = PEER_ALLOC(sizeof *n);
    n->left = left;
    n->right = right;
    n->i = 0;
    n->j = 0;
    node_allocations++;
    return n;
}

/* Nodes in a complete binary tree of depth i. */
static long tree_size(int i) { return (1L << (i + 1)) - 1; }

/* Number of trees of depth d to build so that each depth allocates about as much. */
static long num_iters(int d) { return 2 * tree_size(STRETCH_TREE_DEPTH) / tree_size(d); }

/* Top-down construction: allocate the children and store them into the (possibly
 * older) parent. */
static void populate(int depth, Node *node)
{
    if (depth <= 0)
        return;
    depth--;
    node->left = new_node(NULL, NULL);
    node->right = new_node(NULL, NULL);
    populate(depth, node->left);
    populate(depth, node->right);
}

/* Bottom-up construction. */
static Node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node(NULL, NULL);
    Node *left = make_tree(depth - 1);
    Node *right = make_tree(depth - 1);
    return new_node(left, right);
}

/* Explicit deallocation for the malloc builds; nothing to do under the collector. */
static void free_tree(Node *node)
{
#if !PEER_HAS_GC
    if (node == NULL)
        return;
    free_tree(node->left);
    free_tree(node->right);
    PEER_FREE(node);
#else
    (void)node;
#endif
}

static long count_nodes(const Node *node)
{
    if (node == NULL)
        return 0;
    return 1 + count_nodes(node->left) + count_nodes(node->right);
}

static void time_construction(int depth)
{
    long iters = num_iters(depth);
    printf("Creating %ld trees of depth %d\n", iters, depth);
    for (long k = 0; k < iters; k++) {
        Node *temp = new_node(NULL, NULL);
        populate(depth, temp);
        free_tree(temp);
    }
    for (long k = 0; k < iters; k++) {
        Node *temp = make_tree(depth);
        free_tree(temp);
    }
}

int main(int argc, char **argv)
{
    int npos;
    peer_init(argc, argv, &npos);
    if (npos != 0) {
        fprintf(stderr, "usage: %s [--pause-log FILE]\n", argv[0]);
        return 2;
    }

    printf("Stretching memory with a binary tree of depth %d\n", STRETCH_TREE_DEPTH);
    free_tree(make_tree(STRETCH_TREE_DEPTH));

    printf("Creating a long-lived binary tree of depth %d\n", LONG_LIVED_TREE_DEPTH);
    Node *long_lived = new_node(NULL, NULL);
    populate(LONG_LIVED_TREE_DEPTH, long_lived);

    printf("Creating a long-lived array of %d doubles\n", ARRAY_SIZE);
    double *array = PEER_ALLOC_ATOMIC(ARRAY_SIZE * sizeof *array);
    for (int k = 0; k < ARRAY_SIZE; k++)
        array[k] = 0.5;
    for (int k = 0; k < ARRAY_SIZE / 2; k++)
        array[k] = 1.0 / k; /* k == 0 gives +inf, as in the original */

    for (int d = MIN_TREE_DEPTH; d <= MAX_TREE_DEPTH; d += 2)
        time_construction(d);

    if (long_lived == NULL || array[1000] != 1.0 / 1000) {
        printf("Failed: long-lived data did not survive\n");
        return 1;
    }
    uint64_t checksum = node_allocations + (uint64_t)count_nodes(long_lived);
    free_tree(long_lived);
    PEER_FREE(array);

    printf("checksum %llu\n", (unsigned long long)checksum);
    fflush(stdout);
    peer_finish();
    return 0;
}
