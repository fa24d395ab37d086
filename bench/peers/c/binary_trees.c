/*
 * binary_trees.c - the Benchmarks Game binary-trees program (single-threaded), as
 * defined in waltz's WORKLOADS.md, for the Boehm collector and for plain
 * malloc/free (see peer.h). Trees are freed explicitly right after they are checked
 * in the malloc builds.
 *
 * usage: binary_trees [--pause-log FILE] [DEPTH]     (DEPTH defaults to 21)
 * Prints "checksum N" where N = sum of every check printed
 * (306883246 at depth 20, 613766494 at depth 21).
 */
#include "peer.h"

typedef struct Node {
    struct Node *left, *right;
} Node;

static Node *bottom_up_tree(int depth)
{
    Node *n = PEER_ALLOC(sizeof *n);
    if (depth > 0) {
        n->left = bottom_up_tree(depth - 1);
        n->right = bottom_up_tree(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

/* itemCheck: the number of nodes in the tree. */
static long item_check(const Node *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + item_check(n->left) + item_check(n->right);
}

static void free_tree(Node *n)
{
#if !PEER_HAS_GC
    if (n->left != NULL) {
        free_tree(n->left);
        free_tree(n->right);
    }
    PEER_FREE(n);
#else
    (void)n;
#endif
}

int main(int argc, char **argv)
{
    int npos;
    peer_init(argc, argv, &npos);
    int n = (int)peer_arg(npos, argv, 1, 21, "depth");
    if (npos > 1 || n > 40) {
        fprintf(stderr, "usage: %s [--pause-log FILE] [DEPTH<=40]\n", argv[0]);
        return 2;
    }

    const int min_depth = 4;
    const int max_depth = n > min_depth + 2 ? n : min_depth + 2;
    const int stretch_depth = max_depth + 1;
    uint64_t checksum = 0;

    Node *stretch = bottom_up_tree(stretch_depth);
    long check = item_check(stretch);
    free_tree(stretch);
    printf("stretch tree of depth %d\t check: %ld\n", stretch_depth, check);
    checksum += (uint64_t)check;

    Node *long_lived = bottom_up_tree(max_depth);

    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iterations = 1L << (max_depth - depth + min_depth);
        check = 0;
        for (long k = 0; k < iterations; k++) {
            Node *t = bottom_up_tree(depth);
            check += item_check(t);
            free_tree(t);
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
        checksum += (uint64_t)check;
    }

    check = item_check(long_lived);
    free_tree(long_lived);
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, check);
    checksum += (uint64_t)check;

    printf("checksum %llu\n", (unsigned long long)checksum);
    fflush(stdout);
    peer_finish();
    return 0;
}
