/*
 * Sweeping: walks every page of old and code space object by object; runs of unmarked
 * objects and fillers become one free-list entry each, and their remembered slots are
 * removed (the memory will hold other objects). A page with nothing marked is released;
 * so is an unmarked large object. Mark bits are cleared as they are read.
 *
 * Sweeping in a pause (marking_sweep: old_gc=stw and incremental, and whole cycles in
 * one pause) or concurrently (old_gc=concurrent): marking_sweep_start, in the
 * finalization pause, sweeps large space, forgets the free lists and queues every old
 * and code page; then sweeper tasks beside the mutators, and mutators allocating outside
 * new space (one page per allocation, "on demand"), claim queued pages one at a time.
 * Allocation only ever sees swept memory: the free lists are rebuilt from swept pages,
 * and a space that needs more grows by a fresh page. A scavenge stops the sweeper tasks
 * like the markers; unswept pages still parse (their dead objects keep their maps), and
 * the remembered slots of dead objects stay valid because every scavenge updates them
 * until their range is freed. A queued page is flagged PAGE_UNSWEPT until swept: a card
 * table scan skips its unmarked objects, whose other slots may point into pages already
 * released. The next cycle starts only once every page is swept.
 */
#include "barrier/remset.h"
#include "heap/spaces.h"
#include "marking/marking.h"

/* Sweeps p, which no allocator can touch (its free memory is not listed yet). */
static uint64_t sweep_page(struct heap *heap, struct paged_space *ps, struct page *p)
{
    size_t live = 0;
    for_each_object_in(p->area_start, p->area_end, o) if (page_is_marked(p, o)) live +=
        object_size(o);
    if (live == 0) {
        uint64_t freed = p->area_end - p->area_start;
        pthread_mutex_lock(&ps->lock);
        space_remove_page(&ps->base, p);
        pthread_mutex_unlock(&ps->lock);
        remset_release(p);
        page_release(heap, p);
        return freed;
    }
    uint64_t freed = 0;
    uintptr_t free_start = 0;
    uintptr_t addr = p->area_start;
    while (addr < p->area_end) {
        struct object *o = (struct object *)addr;
        size_t size = object_size(o);
        if (page_is_marked(p, o)) {
            if (free_start) {
                remset_remove_range(p, free_start, addr);
                paged_space_free(ps, free_start, addr - free_start);
                freed += addr - free_start;
                free_start = 0;
            }
        } else if (!free_start) {
            free_start = addr;
        }
        addr += size;
    }
    if (free_start) {
        remset_remove_range(p, free_start, p->area_end);
        paged_space_free(ps, free_start, p->area_end - free_start);
        freed += p->area_end - free_start;
    }
    page_clear_marks(p);
    page_clear_flags(p, PAGE_UNSWEPT);
    p->live_bytes = live;
    return freed;
}

static uint64_t sweep_paged_space(struct heap *heap, struct paged_space *ps)
{
    uint64_t freed = 0;
    paged_space_reset_free_lists(ps);
    struct page *p = ps->base.first_page;
    while (p) {
        struct page *next = p->next;
        freed += sweep_page(heap, ps, p);
        p = next;
    }
    return freed;
}

static uint64_t sweep_large_space(struct heap *heap)
{
    uint64_t freed = 0;
    struct large_space *ls = &heap->large_space;
    struct page *p = ls->base.first_page;
    while (p) {
        struct page *next = p->next;
        struct object *o = (struct object *)p->area_start;
        if (page_is_marked(p, o)) {
            page_clear_marks(p);
        } else {
            freed += p->allocated_bytes;
            remset_release(p);
            large_space_free_page(ls, p);
        }
        p = next;
    }
    return freed;
}

uint64_t marking_sweep(struct heap *heap)
{
    uint64_t freed = sweep_paged_space(heap, &heap->old_space);
    freed += sweep_paged_space(heap, &heap->code_space);
    freed += sweep_large_space(heap);
    return freed;
}

/* --- Concurrent sweeping ---------------------------------------------------------------- */

static void queue_space(struct sweeper *sw, struct paged_space *ps)
{
    paged_space_reset_free_lists(ps);
    space_for_each_page(&ps->base, p)
    {
        if (sw->count == sw->capacity) {
            sw->capacity = sw->capacity ? sw->capacity * 2 : 256;
            sw->pages = platform_realloc(sw->pages, sw->capacity * sizeof *sw->pages);
            sw->spaces = platform_realloc(sw->spaces, sw->capacity * sizeof *sw->spaces);
        }
        page_set_flags(p, PAGE_UNSWEPT);
        sw->pages[sw->count] = p;
        sw->spaces[sw->count] = ps;
        sw->count++;
    }
}

uint64_t marking_sweep_start(struct heap *heap, struct sweeper *sw)
{
    sw->heap = heap;
    sw->count = 0;
    atomic_store(&sw->next, 0);
    atomic_store(&sw->done, 0);
    atomic_store(&sw->freed_bytes, 0);
    queue_space(sw, &heap->old_space);
    queue_space(sw, &heap->code_space);
    if (sw->count > 0)
        atomic_store(&heap->sweeping, true);
    return sweep_large_space(heap);
}

bool marking_sweep_pages(struct sweeper *sw, size_t max_pages)
{
    for (size_t n = 0; n < max_pages; n++) {
        size_t i = atomic_fetch_add(&sw->next, 1);
        if (i >= sw->count)
            return false;
        uint64_t freed = sweep_page(sw->heap, sw->spaces[i], sw->pages[i]);
        atomic_fetch_add(&sw->freed_bytes, freed);
        atomic_fetch_sub(&sw->heap->sweep_garbage_left, (int64_t)freed);
        if (atomic_fetch_add(&sw->done, 1) + 1 == sw->count)
            atomic_store(&sw->heap->sweeping, false);
    }
    return atomic_load(&sw->next) < sw->count;
}

void marking_sweep_complete(struct sweeper *sw)
{
    while (marking_sweep_pages(sw, 64))
        ;
}

void marking_sweeper_free(struct sweeper *sw)
{
    platform_free(sw->pages);
    platform_free(sw->spaces);
    sw->pages = NULL;
    sw->spaces = NULL;
    sw->count = sw->capacity = 0;
}
