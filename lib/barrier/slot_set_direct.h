/*
 * remembered_set=slot-set, the part the barrier inlines: nothing but the call that
 * inserts the slot into its host page's slot set (slot_set_direct.c).
 */
#ifndef WALTZ_BARRIER_SLOT_SET_DIRECT_H
#define WALTZ_BARRIER_SLOT_SET_DIRECT_H

#include "heap/heap.h"

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot);

static inline void remset_record(struct mutator *m, uintptr_t host_flags, struct object *host,
                                 value_t *slot)
{
    remset_record_slow(m, host, slot);
}

#endif
