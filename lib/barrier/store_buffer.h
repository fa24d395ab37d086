/*
 * remembered_set=store-buffer, the part the barrier inlines: append the slot to the
 * mutator's thread-local buffer (store_buffer.c has the rest).
 */
#ifndef WALTZ_BARRIER_STORE_BUFFER_H
#define WALTZ_BARRIER_STORE_BUFFER_H

#include "heap/heap.h"

#define STORE_BUFFER_ENTRIES 8192

struct store_buffer {
    uintptr_t *top, *limit;
    uintptr_t entries[STORE_BUFFER_ENTRIES];
};

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot);

/* A slot inside a large object takes the slow path: it is buffered with its chunk. */
static inline void remset_record(struct mutator *m, uintptr_t host_flags, struct object *host,
                                 value_t *slot)
{
    struct store_buffer *sb = m->store_buffer;
    if (LIKELY(!(host_flags & PAGE_LARGE) && sb->top < sb->limit)) {
        *sb->top++ = (uintptr_t)slot;
        return;
    }
    remset_record_slow(m, host, slot);
}

#endif
