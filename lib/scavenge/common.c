/*
 * Shared by serial.c and parallel.c (common.h).
 */
#include "scavenge/common.h"

#include <string.h>

void weak_slots_push(struct weak_slots *w, struct page *host_page, value_t *slot)
{
    if (w->count == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 256;
        w->entries = platform_realloc(w->entries, w->capacity * sizeof *w->entries);
    }
    w->entries[w->count++] = (struct weak_slot){host_page, slot};
}

void weak_slots_process(struct weak_slots *w)
{
    for (size_t i = 0; i < w->count; i++) {
        value_t *slot = w->entries[i].slot;
        value_t v = *slot;
        if (!value_is_ref(v) || !object_in_from_space(value_to_object(v)))
            continue;
        value_t map_word = value_to_object(v)->map_word;
        if (!object_is_forwarded_word(map_word)) {
            *slot = VALUE_CLEARED;
            continue;
        }
        struct object *copy = object_forwardee_of(map_word);
        *slot = (value_t)copy | (v & VALUE_TAG_MASK); /* a weak root may hold either tag */
        struct page *host_page = w->entries[i].host_page;
        if (host_page && !(page_flags(host_page) & PAGE_IN_YOUNG) && object_in_young(copy))
            remset_record_gc(host_page, slot);
    }
}

void weak_slots_free(struct weak_slots *w)
{
    platform_free(w->entries);
    *w = (struct weak_slots){0};
}

static void weak_root(value_t *slot, void *ctx)
{
    value_t v = *slot;
    if (value_is_ref(v) && object_in_from_space(value_to_object(v)))
        weak_slots_push(ctx, NULL, slot);
}

void scavenge_collect_weak_roots(struct heap *heap, struct weak_slots *w)
{
    heap_visit_weak_roots(heap, weak_root, w);
}

static void collect_space(struct remset_work *work, struct space *space)
{
    space_for_each_page(space, p)
    {
        size_t before = work->items.count;
        remset_collect_items(p, &work->items);
        if (work->items.count == before && !p->old_to_new)
            continue;
        if (work->chunk_count == work->chunk_capacity) {
            work->chunk_capacity = work->chunk_capacity ? work->chunk_capacity * 2 : 64;
            work->chunks =
                platform_realloc(work->chunks, work->chunk_capacity * sizeof *work->chunks);
        }
        work->chunks[work->chunk_count++] = p;
    }
}

void remset_work_collect(struct heap *heap, struct remset_work *work)
{
    collect_space(work, &heap->old_space.base);
    collect_space(work, &heap->code_space.base);
    collect_space(work, &heap->large_space.base);
}

void remset_work_finish(struct remset_work *work)
{
    for (size_t i = 0; i < work->chunk_count; i++)
        remset_finish_chunk(work->chunks[i]);
    remset_items_free(&work->items);
    platform_free(work->chunks);
    work->chunks = NULL;
    work->chunk_count = work->chunk_capacity = 0;
}

void scavenge_poison_from_space(struct new_space *ns)
{
    space_for_each_page(&ns->from, p)
        memset((void *)p->area_start, 0xfd, p->area_end - p->area_start);
}
