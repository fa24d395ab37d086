/*
 * The heap verifier (see verify.h). It keeps its own tables so that it reads nothing
 * the collectors write: a sorted array of every live chunk with two bitmaps (object
 * starts, reached), built by walking the pages, then a depth-first walk from the roots.
 */
#include "heap/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/remset.h"
#include "heap/spaces.h"

struct chunk_entry {
    uintptr_t start, end;
    struct page *page;
    uint64_t *starts, *reached;
};

struct verifier {
    struct heap *heap;
    struct chunk_entry *chunks;
    size_t chunk_count, chunk_capacity;
    struct object **stack;
    size_t stack_count, stack_capacity;
    size_t problems;
    bool check_marks; /* heap_verify_marking */
    char *report;
    size_t report_size, report_used;
};

static void problem(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct verifier *v, const char *fmt, ...)
{
    v->problems++;
    if (v->problems > 4 || v->report_used + 1 >= v->report_size)
        return;
    if (v->report_used) {
        v->report_used +=
            (size_t)snprintf(v->report + v->report_used, v->report_size - v->report_used, "; ");
        if (v->report_used >= v->report_size)
            v->report_used = v->report_size - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->report + v->report_used, v->report_size - v->report_used, fmt, ap);
    va_end(ap);
    if (n > 0)
        v->report_used += (size_t)n;
    if (v->report_used >= v->report_size)
        v->report_used = v->report_size - 1;
}

static void add_chunk(struct verifier *v, struct page *p)
{
    if (v->chunk_count == v->chunk_capacity) {
        v->chunk_capacity = v->chunk_capacity ? v->chunk_capacity * 2 : 128;
        v->chunks = platform_realloc(v->chunks, v->chunk_capacity * sizeof *v->chunks);
    }
    size_t words = p->chunk_bytes / WORD_BYTES / 64 + 1;
    v->chunks[v->chunk_count++] = (struct chunk_entry){
        .start = (uintptr_t)p,
        .end = (uintptr_t)p + p->chunk_bytes,
        .page = p,
        .starts = platform_calloc(words, sizeof(uint64_t)),
        .reached = platform_calloc(words, sizeof(uint64_t)),
    };
}

static int compare_chunks(const void *a, const void *b)
{
    uintptr_t x = ((const struct chunk_entry *)a)->start,
              y = ((const struct chunk_entry *)b)->start;
    return x < y ? -1 : x > y;
}

static struct chunk_entry *find_chunk(struct verifier *v, uintptr_t addr)
{
    size_t lo = 0, hi = v->chunk_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct chunk_entry *c = &v->chunks[mid];
        if (addr < c->start)
            hi = mid;
        else if (addr >= c->end)
            lo = mid + 1;
        else
            return c;
    }
    return NULL;
}

static bool test_bit(const uint64_t *bits, size_t i) { return (bits[i / 64] >> (i % 64)) & 1; }
static void set_bit(uint64_t *bits, size_t i) { bits[i / 64] |= (uint64_t)1 << (i % 64); }
static size_t word_index(const struct chunk_entry *c, uintptr_t addr)
{
    return (addr - c->start) / WORD_BYTES;
}

static bool is_map(struct verifier *v, value_t map_word)
{
    if (!value_is_strong(map_word))
        return false;
    if (!find_chunk(v, value_address(map_word)))
        return false;
    struct object *map = value_to_object(map_word);
    if (object_map_word(map) != value_from_object(v->heap->meta_map))
        return false;
    size_t id = map_raw(map, MAP_ID);
    return id < v->heap->map_count && v->heap->maps[id] == map;
}

static void walk_range(struct verifier *v, struct chunk_entry *c, uintptr_t start, uintptr_t limit,
                       const char *space)
{
    uintptr_t addr = start;
    while (addr < limit) {
        struct object *o = (struct object *)addr;
        if (!is_map(v, o->map_word)) {
            problem(v, "%s page %p: object at %p has no valid map (map word 0x%lx)", space,
                    (void *)c->page, (void *)o, (unsigned long)o->map_word);
            return;
        }
        size_t size = object_size(o);
        if (size == 0 || size % WORD_BYTES || addr + size > limit) {
            problem(v, "%s page %p: object at %p has a bad size %zu (words 0x%lx 0x%lx 0x%lx)",
                    space, (void *)c->page, (void *)o, size, (unsigned long)o->map_word,
                    (unsigned long)object_get(o, 1), (unsigned long)object_get(o, 2));
            return;
        }
        /* Free-list entries and fillers are not objects: nothing may point to them. */
        if (!object_is_filler_type(object_type(o)))
            set_bit(c->starts, word_index(c, addr));
        addr += size;
    }
}

static void walk_pages(struct verifier *v)
{
    struct heap *heap = v->heap;
    struct space *spaces[] = {&heap->new_space.to, &heap->old_space.base, &heap->code_space.base,
                              &heap->large_space.base};
    for (size_t s = 0; s < ARRAY_LENGTH(spaces); s++)
        space_for_each_page(spaces[s], p) add_chunk(v, p);
    qsort(v->chunks, v->chunk_count, sizeof *v->chunks, compare_chunks);
    for (size_t i = 0; i < v->chunk_count; i++) {
        struct chunk_entry *c = &v->chunks[i];
        struct page *p = c->page;
        uintptr_t flags = page_flags(p);
        if (flags & PAGE_IN_FROM)
            problem(v, "page %p of %s is flagged as from-space", (void *)p, p->owner->name);
        uintptr_t limit = (flags & (PAGE_IN_YOUNG | PAGE_LARGE)) ? p->alloc_top : p->area_end;
        walk_range(v, c, p->area_start, limit, p->owner->name);
    }
}

/* Is v a valid reference? Returns the chunk of its target, or NULL after a report. */
static struct chunk_entry *check_ref(struct verifier *v, value_t val, const char *where,
                                     const void *holder, size_t index)
{
    uintptr_t addr = value_address(val);
    struct chunk_entry *c = find_chunk(v, addr);
    if (!c || !test_bit(c->starts, word_index(c, addr))) {
        const char *what = "not an object start in a live space";
        space_for_each_page(&v->heap->new_space.from,
                            p) if (addr >= (uintptr_t)p && addr < (uintptr_t)p + p->chunk_bytes)
            what = "into from-space";
        problem(v, "dangling pointer: %s %p slot %zu holds %p, %s", where, holder, index,
                (void *)addr, what);
        return NULL;
    }
    return c;
}

static void reach(struct verifier *v, struct chunk_entry *c, struct object *o)
{
    size_t i = word_index(c, (uintptr_t)o);
    if (test_bit(c->reached, i))
        return;
    set_bit(c->reached, i);
    if (v->check_marks && !(page_flags(c->page) & PAGE_IN_YOUNG) && !page_is_marked(c->page, o))
        problem(v, "reachable %s object %p (type %d) is not marked", c->page->owner->name,
                (void *)o, (int)object_type(o));
    if (v->stack_count == v->stack_capacity) {
        v->stack_capacity = v->stack_capacity ? v->stack_capacity * 2 : 4096;
        v->stack = platform_realloc(v->stack, v->stack_capacity * sizeof *v->stack);
    }
    v->stack[v->stack_count++] = o;
}

static void visit_root(value_t *slot, void *ctx)
{
    struct verifier *v = ctx;
    value_t val = *slot;
    if (!value_is_ref(val))
        return;
    struct chunk_entry *c = check_ref(v, val, "root", slot, 0);
    if (c && value_is_strong(val))
        reach(v, c, value_to_object(val));
}

static void check_object(struct verifier *v, struct object *o)
{
    size_t start, end;
    object_tagged_range(o, object_map(o), &start, &end);
    struct page *host_page = page_of(o);
    bool host_old = page_flags(host_page) & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING;
    value_t *slots = object_slots(o);
    for (size_t i = start; i < end; i++) {
        value_t val = slots[i];
        if (!value_is_ref(val))
            continue;
        struct chunk_entry *c = check_ref(v, val, "object", o, i);
        if (!c)
            continue;
        if (host_old && (page_flags(c->page) & PAGE_IN_YOUNG) &&
            !remset_contains(host_page, &slots[i]))
            problem(v, "missed remembered-set entry: old object %p slot %zu points to young %p",
                    (void *)o, i, (void *)value_address(val));
        if (value_is_strong(val))
            reach(v, c, value_to_object(val));
    }
}

/* Every marked old object's strong slots point to marked old objects or young ones. */
static void check_black_to_white(struct verifier *v)
{
    for (size_t i = 0; i < v->chunk_count; i++) {
        struct chunk_entry *c = &v->chunks[i];
        struct page *p = c->page;
        if (page_flags(p) & PAGE_IN_YOUNG)
            continue;
        uintptr_t limit = (page_flags(p) & PAGE_LARGE) ? p->alloc_top : p->area_end;
        for_each_object_in(p->area_start, limit, o)
        {
            if (!page_is_marked(p, o))
                continue;
            size_t start, end;
            object_tagged_range(o, object_map(o), &start, &end);
            value_t *slots = object_slots(o);
            for (size_t k = start; k < end; k++) {
                value_t val = slots[k];
                if (!value_is_strong(val))
                    continue;
                struct object *t = value_to_object(val);
                struct page *tp = page_of(t);
                if (!(page_flags(tp) & PAGE_IN_YOUNG) && !page_is_marked(tp, t))
                    problem(v, "black object %p slot %zu points to white %p", (void *)o, k,
                            (void *)t);
            }
        }
    }
}

static size_t verify(struct heap *heap, char *report, size_t report_size, bool check_marks);

size_t heap_verify(struct heap *heap, char *report, size_t report_size)
{
    return verify(heap, report, report_size, false);
}

size_t heap_verify_marking(struct heap *heap, char *report, size_t report_size)
{
    return verify(heap, report, report_size, true);
}

static size_t verify(struct heap *heap, char *report, size_t report_size, bool check_marks)
{
    struct verifier v = {
        .heap = heap, .report = report, .report_size = report_size, .check_marks = check_marks};
    if (report_size)
        report[0] = '\0';
    walk_pages(&v);
    if (v.problems == 0) {
        for (size_t i = 0; i < heap->map_count; i++)
            visit_root((value_t[]){value_from_object(heap->maps[i])}, &v);
        heap_visit_strong_roots(heap, visit_root, &v);
        if (!check_marks)
            heap_visit_weak_roots(heap, visit_root, &v);
        while (v.stack_count > 0)
            check_object(&v, v.stack[--v.stack_count]);
        if (check_marks)
            check_black_to_white(&v);
    }
    for (size_t i = 0; i < v.chunk_count; i++) {
        platform_free(v.chunks[i].starts);
        platform_free(v.chunks[i].reached);
    }
    platform_free(v.chunks);
    platform_free(v.stack);
    return v.problems;
}
