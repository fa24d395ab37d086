/*
 * The marking barrier's slow path (barrier.h) and each mutator's marking buffer: a
 * mark_local whose full segments go to the heap's mark_pool, where the markers find
 * them; what is left is published at the finalization pause.
 */
#include "barrier/barrier.h"
#include "barrier/marking_worklist.h"

void marking_barrier_slow(struct mutator *m, struct object *host, value_t v)
{
    if (page_flags(page_of(host)) & PAGE_IN_YOUNG)
        return;
    struct object *target = value_to_object(v);
    struct page *p = page_of(target);
    if (page_flags(p) & PAGE_IN_YOUNG)
        return;
    if (page_mark_atomic(p, target)) {
        mark_local_push(m->marking_local, target);
        m->marking_barrier_count++;
    }
}

void marking_mutator_init(struct mutator *m)
{
    struct heap *heap = m->heap;
    if (!heap->mark_pool) {
        m->marking_local = NULL;
        return;
    }
    m->marking_local = platform_alloc(sizeof *m->marking_local);
    mark_local_init(m->marking_local, heap->mark_pool);
    /* After registration: from here on every pause sees this mutator and sets the flag. */
    m->marking_barrier = atomic_load(&heap->marking_active);
}

void marking_mutator_flush(struct mutator *m)
{
    if (m->marking_local)
        mark_local_publish(m->marking_local);
}

void marking_mutator_teardown(struct mutator *m)
{
    if (!m->marking_local)
        return;
    mark_local_destroy(m->marking_local); /* empty since marking_mutator_flush */
    platform_free(m->marking_local);
    m->marking_local = NULL;
}
