/*
 * GCBench.java - Boehm's GCBench (Ellis, Kovac, Boehm) as defined in waltz's
 * WORKLOADS.md, for the JVM.
 *
 * usage: java GCBench
 * Prints "checksum N" where N = Node allocations in the whole run + node count of
 * the long-lived tree at the end (15464933).
 */
public final class GCBench {
    static final int STRETCH_TREE_DEPTH = 18;
    static final int LONG_LIVED_TREE_DEPTH = 16;
    static final int ARRAY_SIZE = 500000;
    static final int MIN_TREE_DEPTH = 4;
    static final int MAX_TREE_DEPTH = 16;

    static long nodeAllocations = 0;

    static final class Node {
        Node left, right;
        int i, j;

        Node(Node left, Node right) {
            this.left = left;
            this.right = right;
            nodeAllocations++;
        }

        Node() {
            this(null, null);
        }
    }

    /* Nodes in a complete binary tree of depth i. */
    static long treeSize(int i) {
        return (1L << (i + 1)) - 1;
    }

    static long numIters(int d) {
        return 2 * treeSize(STRETCH_TREE_DEPTH) / treeSize(d);
    }

    /* Top-down: allocate the children and store them into the (possibly older) parent. */
    static void populate(int depth, Node node) {
        if (depth <= 0) {
            return;
        }
        depth--;
        node.left = new Node();
        node.right = new Node();
        populate(depth, node.left);
        populate(depth, node.right);
    }

    /* Bottom-up. */
    static Node makeTree(int depth) {
        if (depth <= 0) {
            return new Node();
        }
        Node left = makeTree(depth - 1);
        Node right = makeTree(depth - 1);
        return new Node(left, right);
    }

    static long countNodes(Node node) {
        if (node == null) {
            return 0;
        }
        return 1 + countNodes(node.left) + countNodes(node.right);
    }

    static void timeConstruction(int depth) {
        long iters = numIters(depth);
        System.out.println("Creating " + iters + " trees of depth " + depth);
        for (long k = 0; k < iters; k++) {
            Node temp = new Node();
            populate(depth, temp);
        }
        for (long k = 0; k < iters; k++) {
            Node temp = makeTree(depth);
        }
    }

    public static void main(String[] args) {
        if (args.length != 0) {
            System.err.println("usage: java GCBench");
            System.exit(2);
        }
        System.out.println("Stretching memory with a binary tree of depth " + STRETCH_TREE_DEPTH);
        Node stretch = makeTree(STRETCH_TREE_DEPTH);
        stretch = null;

        System.out.println("Creating a long-lived binary tree of depth " + LONG_LIVED_TREE_DEPTH);
        Node longLived = new Node();
        populate(LONG_LIVED_TREE_DEPTH, longLived);

        System.out.println("Creating a long-lived array of " + ARRAY_SIZE + " doubles");
        double[] array = new double[ARRAY_SIZE];
        for (int k = 0; k < ARRAY_SIZE; k++) {
            array[k] = 0.5;
        }
        for (int k = 0; k < ARRAY_SIZE / 2; k++) {
            array[k] = 1.0 / k; // k == 0 gives Infinity, as in the original
        }

        for (int d = MIN_TREE_DEPTH; d <= MAX_TREE_DEPTH; d += 2) {
            timeConstruction(d);
        }

        if (longLived == null || array[1000] != 1.0 / 1000) {
            System.out.println("Failed: long-lived data did not survive");
            System.exit(1);
        }
        long checksum = nodeAllocations + countNodes(longLived);
        System.out.println("checksum " + checksum);
    }
}
