/*
 * remset_stress.c - old-to-young stores, as defined in waltz's WORKLOADS.md, for the
 * Boehm collector and for plain malloc/free (see peer.h). In the malloc builds the
 * object that drops out of the chain (the old object's former successor) is freed.
 *
 * usage: remset_stress [--pause-log FILE] [ITERATIONS [SLOTS]]
 *        (defaults 50000000 and 1000000)
 * Prints "checksum N" (1298501147878094 with the defaults). The sum is kept modulo
 * 2^64, like the other peers.
 */
#include "peer.h"

typedef struct Obj {
    int64_t val;
    struct Obj *next;
} Obj;

static Obj *new_obj(int64_t val, Obj *next)
{
    Obj *o = PEER_ALLOC(sizeof *o);
    o->val = val;
    o->next = next;
    return o;
}

int main(int argc, char **argv)
{
    int npos;
    peer_init(argc, argv, &npos);
    int64_t iterations = peer_arg(npos, argv, 1, 50000000, "iterations");
    int64_t slots = peer_arg(npos, argv, 2, 1000000, "slots");
    if (npos > 2 || slots < 1) {
        fprintf(stderr, "usage: %s [--pause-log FILE] [ITERATIONS [SLOTS>=1]]\n", argv[0]);
        return 2;
    }

    /* The long-lived array. Under Boehm it holds pointers, so it is not atomic. */
    Obj **arr = PEER_ALLOC((size_t)slots * sizeof *arr);
    for (int64_t k = 0; k < slots; k++)
        arr[k] = new_obj(k, NULL);

    uint64_t sum = 0;
    uint32_t x = 2463534242u;
    for (int64_t it = 0; it < iterations; it++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int64_t i = (int64_t)(x % (uint64_t)slots);
        Obj *old = arr[i];
        sum += (uint64_t)old->val;
#if !PEER_HAS_GC
        if (old->next != NULL)
            PEER_FREE(old->next); /* unreachable once old->next is cleared */
#endif
        old->next = NULL;
        arr[i] = new_obj(it, old);
    }

    for (int64_t k = 0; k < slots; k++) {
        Obj *o = arr[k];
        sum += (uint64_t)o->val + (o->next != NULL ? (uint64_t)o->next->val : 0);
    }
    for (int64_t k = 0; k < slots; k++) {
        if (arr[k]->next != NULL)
            PEER_FREE(arr[k]->next);
        PEER_FREE(arr[k]);
    }
    PEER_FREE(arr);

    printf("checksum %llu\n", (unsigned long long)sum);
    fflush(stdout);
    peer_finish();
    return 0;
}
