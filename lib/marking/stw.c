/*
 * old_gc=stw: stop-the-world tri-colour mark-sweep (McCarthy 1960; colours after
 * Dijkstra et al. 1978). White objects have a clear mark bit, grey ones are set and on
 * the worklist, black ones are set and scanned. Marking starts from the strong roots and
 * every map, and traces through young objects too (they may be the only holders of old
 * ones); only old, code and large space are swept.
 *
 * Weak references: a weak slot does not mark its target; slots that hold one are
 * collected while marking and, once marking is complete, cleared when the target is an
 * unmarked old object (young targets are the scavenger's business). Weak global handles
 * follow the same rule.
 */
#include <string.h>

#include "heap/spaces.h"
#include "marking/marking.h"

struct marker {
    struct heap *heap;
    struct object **stack;
    size_t count, capacity;
    value_t **weak;
    size_t weak_count, weak_capacity;
    uint64_t marked_bytes, marked_objects;
};

const char *marking_strategy_name(void) { return "stw"; }

static void push(struct marker *mk, struct object *o)
{
    if (mk->count == mk->capacity) {
        mk->capacity = mk->capacity ? mk->capacity * 2 : 4096;
        mk->stack = platform_realloc(mk->stack, mk->capacity * sizeof *mk->stack);
    }
    mk->stack[mk->count++] = o;
}

static void push_weak(struct marker *mk, value_t *slot)
{
    if (mk->weak_count == mk->weak_capacity) {
        mk->weak_capacity = mk->weak_capacity ? mk->weak_capacity * 2 : 256;
        mk->weak = platform_realloc(mk->weak, mk->weak_capacity * sizeof *mk->weak);
    }
    mk->weak[mk->weak_count++] = slot;
}

static inline void mark_grey(struct marker *mk, struct object *o)
{
    if (page_mark(page_of(o), o))
        push(mk, o);
}

static inline void mark_slot(struct marker *mk, value_t *slot)
{
    value_t v = *slot;
    if (!value_is_ref(v))
        return;
    if (value_is_weak(v)) {
        push_weak(mk, slot);
        return;
    }
    mark_grey(mk, value_to_object(v));
}

static void visit_root(value_t *slot, void *ctx) { mark_slot(ctx, slot); }

static void drain(struct marker *mk)
{
    while (mk->count > 0) {
        struct object *o = mk->stack[--mk->count];
        struct object *map = object_map(o);
        size_t start, end;
        object_tagged_range(o, map, &start, &end);
        value_t *slots = object_slots(o);
        for (size_t i = start; i < end; i++)
            mark_slot(mk, &slots[i]);
        mk->marked_objects++;
        if (!object_in_young(o))
            mk->marked_bytes += object_size_with_map(o, map);
    }
}

static bool is_dead_old(value_t v)
{
    struct object *o = value_to_object(v);
    return !object_in_young(o) && !page_is_marked(page_of(o), o);
}

static void clear_weak_root(value_t *slot, void *ctx)
{
    if (value_is_ref(*slot) && is_dead_old(*slot))
        *slot = VALUE_CLEARED;
}

static void clear_young_marks(struct heap *heap)
{
    space_for_each_page(&heap->new_space.to, p) page_clear_marks(p);
}

void marking_full_gc(struct heap *heap, struct gc_tracer *tracer, struct cycle_record *cycle)
{
    struct marker mk = {.heap = heap};
    TRACE_PHASE(tracer, "mark", mark_ns, mk.marked_objects)
    {
        for (size_t i = 0; i < heap->map_count; i++)
            mark_grey(&mk, heap->maps[i]);
        heap_visit_strong_roots(heap, visit_root, &mk);
        drain(&mk);
    }
    size_t cleared = 0;
    TRACE_PHASE(tracer, "weak", weak_ns, cleared)
    {
        for (size_t i = 0; i < mk.weak_count; i++) {
            value_t *slot = mk.weak[i];
            if (value_is_weak(*slot) && is_dead_old(*slot)) {
                *slot = VALUE_CLEARED;
                cleared++;
            }
        }
        heap_visit_weak_roots(heap, clear_weak_root, NULL);
        heap_process_weak(heap);
    }
    uint64_t swept = 0;
    TRACE_PHASE(tracer, "sweep", sweep_ns, swept)
    {
        swept = marking_sweep(heap);
        clear_young_marks(heap);
    }
    cycle->marked_bytes = mk.marked_bytes;
    cycle->swept_bytes = swept;
    cycle->code_unlinked_count = heap->weak_code_unlinked;
    if (tracer->pause)
        tracer->pause->code_unlinked = heap->weak_code_unlinked;
    cycle->osr_entries_cleared_count = heap->weak_osr_entries_cleared;
    heap->weak_code_unlinked = heap->weak_osr_entries_cleared = 0;
    platform_free(mk.stack);
    platform_free(mk.weak);
}
