// binary-trees.js - the Benchmarks Game binary-trees program (single-threaded), as
// defined in waltz's WORKLOADS.md, for V8 (node).
//
// usage: node binary-trees.js [DEPTH]     (DEPTH defaults to 21)
// Prints "checksum N" where N = sum of every check printed
// (306883246 at depth 20, 613766494 at depth 21).
'use strict';

class Node {
  constructor(left, right) {
    this.left = left;
    this.right = right;
  }
}

// itemCheck: the number of nodes in the tree.
function itemCheck(node) {
  if (node.left === null) return 1;
  return 1 + itemCheck(node.left) + itemCheck(node.right);
}

function bottomUpTree(depth) {
  return depth > 0
    ? new Node(bottomUpTree(depth - 1), bottomUpTree(depth - 1))
    : new Node(null, null);
}

function main() {
  const args = process.argv.slice(2);
  if (args.length > 1 || (args.length === 1 && !/^\d+$/.test(args[0]))) {
    console.error('usage: node binary-trees.js [DEPTH]');
    process.exit(2);
  }
  const n = args.length === 1 ? Number(args[0]) : 21;
  const minDepth = 4;
  const maxDepth = Math.max(minDepth + 2, n);
  const stretchDepth = maxDepth + 1;
  let checksum = 0;

  let check = itemCheck(bottomUpTree(stretchDepth));
  console.log(`stretch tree of depth ${stretchDepth}\t check: ${check}`);
  checksum += check;

  const longLived = bottomUpTree(maxDepth);

  for (let depth = minDepth; depth <= maxDepth; depth += 2) {
    const iterations = 2 ** (maxDepth - depth + minDepth);
    check = 0;
    for (let k = 0; k < iterations; k++) {
      check += itemCheck(bottomUpTree(depth));
    }
    console.log(`${iterations}\t trees of depth ${depth}\t check: ${check}`);
    checksum += check;
  }

  check = itemCheck(longLived);
  console.log(`long lived tree of depth ${maxDepth}\t check: ${check}`);
  checksum += check;

  console.log(`checksum ${checksum}`);
}

main();
