// gcbench.js - Boehm's GCBench (Ellis, Kovac, Boehm) as defined in waltz's
// WORKLOADS.md, for V8 (node).
//
// usage: node gcbench.js
// Prints "checksum N" where N = Node allocations in the whole run + node count of
// the long-lived tree at the end (15464933).
'use strict';

const STRETCH_TREE_DEPTH = 18;
const LONG_LIVED_TREE_DEPTH = 16;
const ARRAY_SIZE = 500000;
const MIN_TREE_DEPTH = 4;
const MAX_TREE_DEPTH = 16;

let nodeAllocations = 0;

class Node {
  constructor(left, right) {
    this.left = left;
    this.right = right;
    this.i = 0;
    this.j = 0;
    nodeAllocations++;
  }
}

// Nodes in a complete binary tree of depth i.
function treeSize(i) {
  return 2 ** (i + 1) - 1;
}

function numIters(d) {
  return Math.floor((2 * treeSize(STRETCH_TREE_DEPTH)) / treeSize(d));
}

// Top-down: allocate the children and store them into the (possibly older) parent.
function populate(depth, node) {
  if (depth <= 0) return;
  depth--;
  node.left = new Node(null, null);
  node.right = new Node(null, null);
  populate(depth, node.left);
  populate(depth, node.right);
}

// Bottom-up.
function makeTree(depth) {
  if (depth <= 0) return new Node(null, null);
  const left = makeTree(depth - 1);
  const right = makeTree(depth - 1);
  return new Node(left, right);
}

function countNodes(node) {
  if (node === null) return 0;
  return 1 + countNodes(node.left) + countNodes(node.right);
}

function timeConstruction(depth) {
  const iters = numIters(depth);
  console.log(`Creating ${iters} trees of depth ${depth}`);
  for (let k = 0; k < iters; k++) {
    const temp = new Node(null, null);
    populate(depth, temp);
  }
  for (let k = 0; k < iters; k++) {
    makeTree(depth);
  }
}

function main() {
  if (process.argv.length > 2) {
    console.error('usage: node gcbench.js');
    process.exit(2);
  }
  console.log(`Stretching memory with a binary tree of depth ${STRETCH_TREE_DEPTH}`);
  makeTree(STRETCH_TREE_DEPTH);

  console.log(`Creating a long-lived binary tree of depth ${LONG_LIVED_TREE_DEPTH}`);
  const longLived = new Node(null, null);
  populate(LONG_LIVED_TREE_DEPTH, longLived);

  console.log(`Creating a long-lived array of ${ARRAY_SIZE} doubles`);
  const array = new Float64Array(ARRAY_SIZE);
  array.fill(0.5);
  for (let k = 0; k < ARRAY_SIZE / 2; k++) {
    array[k] = 1.0 / k; // k == 0 gives Infinity, as in the original
  }

  for (let d = MIN_TREE_DEPTH; d <= MAX_TREE_DEPTH; d += 2) {
    timeConstruction(d);
  }

  if (longLived === null || array[1000] !== 1.0 / 1000) {
    console.log('Failed: long-lived data did not survive');
    process.exit(1);
  }
  console.log(`checksum ${nodeAllocations + countNodes(longLived)}`);
}

main();
