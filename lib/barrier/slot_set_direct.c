/*
 * remembered_set=slot-set: modern V8 (store buffer removed in 2019). The barrier's slow
 * path inserts the slot straight into its host page's slot set with one atomic OR;
 * there is nothing to flush at a safepoint.
 */
#include "barrier/barrier.h"
#include "barrier/slot_set.h"

const char *remset_strategy_name(void) { return "slot-set"; }

void remset_mutator_init(struct mutator *m) { m->store_buffer = NULL; }
void remset_mutator_teardown(struct mutator *m) {}

void remset_record_slow(struct mutator *m, struct object *host, value_t *slot)
{
    slot_set_insert(page_of(host), slot);
}

size_t remset_flush_all(struct heap *heap) { return 0; }
