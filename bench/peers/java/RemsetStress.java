/*
 * RemsetStress.java - old-to-young stores, as defined in waltz's WORKLOADS.md, for
 * the JVM. Every store of a new Obj into the long-lived array is an old-to-young
 * pointer once the array has been promoted.
 *
 * usage: java RemsetStress [ITERATIONS [SLOTS]]     (defaults 50000000 and 1000000)
 * Prints "checksum N" (1298501147878094 with the defaults); the sum is a 64-bit
 * long, printed unsigned (arithmetic modulo 2^64, like the C peers).
 */
public final class RemsetStress {
    static final class Obj {
        final long val;
        Obj next;

        Obj(long val, Obj next) {
            this.val = val;
            this.next = next;
        }
    }

    public static void main(String[] args) {
        if (args.length > 2) {
            System.err.println("usage: java RemsetStress [ITERATIONS [SLOTS]]");
            System.exit(2);
        }
        long iterations = args.length >= 1 ? Long.parseLong(args[0]) : 50_000_000L;
        int slots = args.length >= 2 ? Integer.parseInt(args[1]) : 1_000_000;

        Obj[] arr = new Obj[slots];
        for (int k = 0; k < slots; k++) {
            arr[k] = new Obj(k, null);
        }

        long sum = 0;
        int x = (int) 2463534242L; // xorshift32 state, read as unsigned 32 bits
        for (long it = 0; it < iterations; it++) {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            int i = (int) (Integer.toUnsignedLong(x) % slots);
            Obj old = arr[i];
            sum += old.val;
            old.next = null;
            arr[i] = new Obj(it, old);
        }

        for (int k = 0; k < slots; k++) {
            Obj o = arr[k];
            sum += o.val + (o.next != null ? o.next.val : 0);
        }
        System.out.println("checksum " + Long.toUnsignedString(sum));
    }
}
