/*
 * Sweeping: walks every page of old and code space object by object; runs of unmarked
 * objects and fillers become one free-list entry each, and their remembered slots are
 * removed (the memory will hold other objects). A page with nothing marked is released;
 * so is an unmarked large object. Mark bits are cleared as they are read.
 */
#include "barrier/remset.h"
#include "heap/spaces.h"
#include "marking/marking.h"

static uint64_t sweep_paged_space(struct heap *heap, struct paged_space *ps)
{
    uint64_t freed = 0;
    paged_space_reset_free_lists(ps);
    struct page *p = ps->base.first_page;
    while (p) {
        struct page *next = p->next;
        size_t live = 0;
        uintptr_t free_start = 0;
        uintptr_t addr = p->area_start;
        while (addr < p->area_end) {
            struct object *o = (struct object *)addr;
            size_t size = object_size(o);
            if (page_is_marked(p, o)) {
                live += size;
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
        page_clear_marks(p);
        p->live_bytes = live;
        if (live == 0) {
            /* The whole page was free: undo its free-list entries and release it. */
            freed += free_start ? p->area_end - free_start : 0;
            space_remove_page(&ps->base, p);
            if (free_start && free_start != p->area_start)
                platform_fatal("sweeper: inconsistent page walk");
            remset_release(p);
            page_release(heap, p);
        } else if (free_start) {
            remset_remove_range(p, free_start, p->area_end);
            paged_space_free(ps, free_start, p->area_end - free_start);
            freed += p->area_end - free_start;
        }
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
