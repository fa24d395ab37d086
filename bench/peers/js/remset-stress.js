// remset-stress.js - old-to-young stores, as defined in waltz's WORKLOADS.md, for V8
// (node). The long-lived array is a plain Array of objects; once it is in the old
// generation, every store of a new Obj into it is an old-to-young pointer.
//
// usage: node remset-stress.js [ITERATIONS [SLOTS]]   (defaults 50000000 and 1000000)
// Prints "checksum N" (1298501147878094 with the defaults).
//
// Exactness: the running sum is kept in a double only while it is below 2^52 (every
// term is an integer below 2^52 too, so each addition is exact); whenever it reaches
// 2^52 it is moved into a BigInt. The result is reduced modulo 2^64, like the C and
// Java peers. With the defaults the sum never leaves the double.
'use strict';

const FLUSH_AT = 2 ** 52;

class Obj {
  constructor(val, next) {
    this.val = val;
    this.next = next;
  }
}

function main() {
  const args = process.argv.slice(2);
  if (args.length > 2 || !args.every((a) => /^\d+$/.test(a))) {
    console.error('usage: node remset-stress.js [ITERATIONS [SLOTS]]');
    process.exit(2);
  }
  const iterations = args.length >= 1 ? Number(args[0]) : 50000000;
  const slots = args.length >= 2 ? Number(args[1]) : 1000000;
  if (!Number.isSafeInteger(iterations) || !(slots >= 1 && slots <= 2 ** 32)) {
    console.error('remset-stress.js: ITERATIONS or SLOTS out of range');
    process.exit(2);
  }

  const arr = new Array(slots);
  for (let k = 0; k < slots; k++) {
    arr[k] = new Obj(k, null);
  }

  let sum = 0;
  let big = 0n;
  let x = 2463534242 | 0; // xorshift32 state as int32; read as unsigned with >>> 0
  for (let it = 0; it < iterations; it++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const i = (x >>> 0) % slots;
    const old = arr[i];
    sum += old.val;
    if (sum >= FLUSH_AT) {
      big += BigInt(sum);
      sum = 0;
    }
    old.next = null;
    arr[i] = new Obj(it, old);
  }

  for (let k = 0; k < slots; k++) {
    const o = arr[k];
    sum += o.val + (o.next !== null ? o.next.val : 0);
    if (sum >= FLUSH_AT) {
      big += BigInt(sum);
      sum = 0;
    }
  }
  const total = BigInt.asUintN(64, big + BigInt(sum));
  console.log(`checksum ${total}`);
}

main();
