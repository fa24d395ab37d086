/*
 * young_gc=serial: Cheney's copying collector (C. J. Cheney, "A nonrecursive list
 * compacting algorithm", CACM 1970) over a paged semispace, with promotion by age.
 *
 * From-space holds the objects allocated since the last scavenge. Every live object is
 * copied once: into to-space if it has not survived a scavenge yet, otherwise (it lies
 * below the age mark) into old space, where it is "promoted". The copy's address is
 * left in the original's map word (an untagged forwarding pointer). To-space is both
 * the destination and the queue: a scan pointer follows the allocation pointer through
 * to-space pages until it catches up; promoted objects go on a separate worklist,
 * because old-space LABs are not contiguous. When to-space is full, survivors are
 * promoted instead.
 *
 * Invariant at the end: no root, remembered slot, live object or weak reference points
 * into from-space; every old-to-young slot of a promoted object is in its page's remembered
 * set; weak slots whose target died read VALUE_CLEARED.
 */
#include <string.h>

#include "scavenge/common.h"
#include "scavenge/scavenge.h"

struct scavenger {
    struct heap *heap;
    struct new_space *ns;
    struct lab old_lab;
    struct object **promoted; /* promoted objects still to scan */
    size_t promoted_count, promoted_capacity;
    struct weak_slots weak;
    uint64_t copied_bytes, promoted_bytes, objects;
    bool marking; /* a marking cycle is under way: promoted objects are greyed */
    struct mark_local mark_local;
};

const char *scavenge_strategy_name(void) { return "serial"; }

static void push_promoted(struct scavenger *s, struct object *o)
{
    if (s->promoted_count == s->promoted_capacity) {
        s->promoted_capacity = s->promoted_capacity ? s->promoted_capacity * 2 : 1024;
        s->promoted = platform_realloc(s->promoted, s->promoted_capacity * sizeof *s->promoted);
    }
    s->promoted[s->promoted_count++] = o;
}

/* Bump allocation in to-space; the scavenger is the only allocator during the pause. */
static struct object *allocate_in_to_space(struct scavenger *s, size_t size)
{
    struct page *p = s->ns->alloc_page;
    while (p) {
        if (p->area_end - p->alloc_top >= size) {
            struct object *o = (struct object *)p->alloc_top;
            p->alloc_top += size;
            return o;
        }
        heap_write_filler(s->heap, p->alloc_top, p->area_end - p->alloc_top);
        p->alloc_top = p->area_end;
        p = p->next;
        s->ns->alloc_page = p;
    }
    return NULL;
}

static struct object *allocate_in_old_space(struct scavenger *s, size_t size)
{
    if (s->old_lab.limit - s->old_lab.top < size) {
        if (s->old_lab.limit > s->old_lab.top)
            paged_space_free(&s->heap->old_space, s->old_lab.top,
                             s->old_lab.limit - s->old_lab.top);
        uintptr_t start, end;
        if (!paged_space_take(&s->heap->old_space, size, HEAP_LAB_BYTES, &start, &end))
            platform_fatal("promotion failed: cannot grow old space by %zu bytes (system memory)",
                           size);
        s->old_lab.top = start;
        s->old_lab.limit = end;
    }
    struct object *o = (struct object *)s->old_lab.top;
    s->old_lab.top += size;
    return o;
}

static inline void copy_object(struct object *to, const struct object *from, size_t size)
{
    if (size <= 8 * WORD_BYTES) {
        const value_t *src = (const value_t *)from;
        value_t *dst = (value_t *)to;
        for (size_t i = 0; i < size / WORD_BYTES; i++)
            dst[i] = src[i];
    } else {
        memcpy(to, from, size);
    }
}

static struct object *evacuate(struct scavenger *s, struct object *o)
{
    value_t map_word = o->map_word;
    if (object_is_forwarded_word(map_word))
        return object_forwardee_of(map_word);
    struct object *map = value_to_object(map_word);
    size_t size = object_size_with_map(o, map);
    struct object *copy = NULL;
    bool promote = heap_below_age_mark(s->heap, o);
    if (!promote)
        copy = allocate_in_to_space(s, size);
    if (!copy) {
        copy = allocate_in_old_space(s, size);
        promote = true;
    }
    copy_object(copy, o, size);
    o->map_word = (value_t)copy;
    s->objects++;
    if (promote) {
        s->promoted_bytes += size;
        push_promoted(s, copy);
        if (UNLIKELY(s->marking))
            scavenge_promoted_during_marking(copy);
    } else {
        s->copied_bytes += size;
    }
    return copy;
}

SCAVENGE_DEFINE_VISITORS(struct scavenger, evacuate, SCAN_FORWARD)

static void visit_root(value_t *slot, void *ctx) { scavenge_slot(ctx, NULL, slot); }

/* Cheney's loop: scan to-space behind the allocation pointer, and the promoted
 * objects, until neither has work. */
static void process(struct scavenger *s)
{
    struct page *scan_page = s->ns->to.first_page;
    uintptr_t scan = scan_page->area_start;
    for (;;) {
        bool progress = false;
        while (scan_page) {
            if (scan < scan_page->alloc_top) {
                struct object *o = (struct object *)scan;
                scan += object_size(o);
                scan_object(s, o);
                progress = true;
                continue;
            }
            if (scan_page == s->ns->alloc_page || !scan_page->next)
                break;
            scan_page = scan_page->next;
            scan = scan_page->area_start;
        }
        while (s->promoted_count > 0) {
            scan_object(s, s->promoted[--s->promoted_count]);
            progress = true;
        }
        if (!progress)
            return;
    }
}

void scavenge_collect(struct heap *heap, struct gc_tracer *tracer,
                      const struct scavenge_options *options)
{
    struct pause_record *pause = tracer->pause;
    struct scavenger s = {.heap = heap, .ns = &heap->new_space};
    s.marking = atomic_load(&heap->marking_active);
    if (s.marking)
        mark_local_init(&s.mark_local, heap->mark_pool);
    pause->young_before_bytes = heap_young_used_bytes(heap);
    new_space_flip(s.ns);

    struct remset_work work = {0};
    TRACE_PHASE(tracer, "remset", remset_ns, work.items.count) remset_work_collect(heap, &work);
    TRACE_PHASE(tracer, "roots", roots_ns, s.objects) heap_visit_strong_roots(heap, visit_root, &s);
    size_t remembered = 0;
    TRACE_PHASE(tracer, "evacuate", evacuate_ns, s.objects)
    {
        for (size_t i = 0; i < work.items.count; i++)
            remembered += remset_visit_item(&work.items.items[i], visit_remembered, &s);
        process(&s);
    }
    remset_work_finish(&work);
    TRACE_PHASE(tracer, "weak", weak_ns, s.weak.count)
    {
        scavenge_collect_weak_roots(heap, &s.weak);
        weak_slots_process(&s.weak);
    }
    if (s.old_lab.limit > s.old_lab.top)
        paged_space_free(&heap->old_space, s.old_lab.top, s.old_lab.limit - s.old_lab.top);
    new_space_set_age_mark(s.ns);
    if (heap->config.verify_heap)
        scavenge_poison_from_space(s.ns);

    pause->young_after_bytes = heap_young_used_bytes(heap);
    pause->copied_bytes = s.copied_bytes;
    pause->promoted_bytes = s.promoted_bytes;
    pause->remset_slots = remembered;
    pause->gc_threads = 1;
    if (s.marking)
        mark_local_destroy(&s.mark_local);
    platform_free(s.promoted);
    weak_slots_free(&s.weak);
}
