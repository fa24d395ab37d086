/*
 * The rendezvous intrinsics (vm.h): how a choreographed run (workloads/choreography.c)
 * makes one thread's deopt meet another thread's collection request at a known point,
 * the case the seed articles narrate. A VM in await_collection_request waits without
 * polling, so the request cannot be served before it returns; its next poll (the
 * deopt's entry poll, when a guard fails right after) is the one that joins the
 * safepoint. The other side polls while it waits, as every well-behaved mutator must.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "gc/gc.h"
#include "safepoint/safepoint.h"
#include "vm/vm.h"

static void pause_briefly(void)
{
    struct timespec ts = {0, 20 * 1000}; /* 20 us */
    nanosleep(&ts, NULL);
}

int vm_await_collection_request(struct vm *vm, value_t flag, char *why, size_t why_size)
{
    if (!vm_value_truthy(vm->rt, flag))
        return 0;
    atomic_fetch_add(&vm->rt->awaits_begun, 1);
    uint64_t deadline = platform_now_ns() + VM_RENDEZVOUS_TIMEOUT_NS;
    int rc = 0;
    for (;;) {
        uint32_t state = atomic_load_explicit(&vm->m->safepoint.state, memory_order_acquire);
        if (state & SAFEPOINT_REQUESTED)
            break;
        if (state & SAFEPOINT_HANDSHAKE) /* not the request awaited: run it, go on waiting */
            safepoint_run_pending_handshake(&vm->m->safepoint);
        if (platform_now_ns() > deadline) {
            snprintf(why, why_size,
                     "await_collection_request: no other thread requested a collection within "
                     "%llu s",
                     (unsigned long long)(VM_RENDEZVOUS_TIMEOUT_NS / 1000000000u));
            rc = -1;
            break;
        }
        pause_briefly();
    }
    return rc;
}

int vm_collect_when_awaited(struct vm *vm, char *why, size_t why_size)
{
    uint64_t deadline = platform_now_ns() + VM_RENDEZVOUS_TIMEOUT_NS;
    while (atomic_load(&vm->rt->awaits_begun) == 0) {
        if (platform_now_ns() > deadline) {
            snprintf(why, why_size,
                     "collect_when_awaited: no VM awaited a collection within %llu s",
                     (unsigned long long)(VM_RENDEZVOUS_TIMEOUT_NS / 1000000000u));
            return -1;
        }
        mutator_poll(vm->m);
        pause_briefly();
    }
    gc_collect(vm->m->heap, vm->m, COLLECT_SCAVENGE);
    return 0;
}
