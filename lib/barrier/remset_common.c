/*
 * The parts of the collectors' remembered-set interface (remset.h) that do not depend
 * on the strategy: the work-item array.
 */
#include "barrier/remset.h"

#include "platform/platform.h"

void remset_items_push(struct remset_items *out, struct page *chunk, uintptr_t start, uintptr_t end)
{
    if (out->count == out->capacity) {
        out->capacity = out->capacity ? out->capacity * 2 : 256;
        out->items = platform_realloc(out->items, out->capacity * sizeof *out->items);
    }
    out->items[out->count++] = (struct remset_item){chunk, start, end};
}

void remset_items_free(struct remset_items *items)
{
    platform_free(items->items);
    *items = (struct remset_items){0};
}
