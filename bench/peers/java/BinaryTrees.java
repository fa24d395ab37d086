/*
 * BinaryTrees.java - the Benchmarks Game binary-trees program (single-threaded), as
 * defined in waltz's WORKLOADS.md, for the JVM.
 *
 * usage: java BinaryTrees [DEPTH]     (DEPTH defaults to 21)
 * Prints "checksum N" where N = sum of every check printed
 * (306883246 at depth 20, 613766494 at depth 21).
 */
public final class BinaryTrees {
    static final class Node {
        final Node left, right;

        Node(Node left, Node right) {
            this.left = left;
            this.right = right;
        }

        /* itemCheck: the number of nodes in the tree. */
        long itemCheck() {
            if (left == null) {
                return 1;
            }
            return 1 + left.itemCheck() + right.itemCheck();
        }
    }

    static Node bottomUpTree(int depth) {
        if (depth > 0) {
            return new Node(bottomUpTree(depth - 1), bottomUpTree(depth - 1));
        }
        return new Node(null, null);
    }

    public static void main(String[] args) {
        int n = 21;
        if (args.length > 1) {
            System.err.println("usage: java BinaryTrees [DEPTH]");
            System.exit(2);
        }
        if (args.length == 1) {
            n = Integer.parseInt(args[0]);
        }
        final int minDepth = 4;
        final int maxDepth = Math.max(minDepth + 2, n);
        final int stretchDepth = maxDepth + 1;
        long checksum = 0;

        long check = bottomUpTree(stretchDepth).itemCheck();
        System.out.println("stretch tree of depth " + stretchDepth + "\t check: " + check);
        checksum += check;

        Node longLived = bottomUpTree(maxDepth);

        for (int depth = minDepth; depth <= maxDepth; depth += 2) {
            long iterations = 1L << (maxDepth - depth + minDepth);
            check = 0;
            for (long k = 0; k < iterations; k++) {
                check += bottomUpTree(depth).itemCheck();
            }
            System.out.println(iterations + "\t trees of depth " + depth + "\t check: " + check);
            checksum += check;
        }

        check = longLived.itemCheck();
        System.out.println("long lived tree of depth " + maxDepth + "\t check: " + check);
        checksum += check;

        System.out.println("checksum " + checksum);
    }
}
