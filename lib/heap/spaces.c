/*
 * Pages and spaces. New space is two semispaces of fixed capacity; LABs are carved from
 * to-space pages in address order. Old and code space are lists of pages whose free
 * memory is kept on segregated free lists (one list per power of two: any entry of a
 * class above ceil(log2 n) fits n bytes at once). Every byte of an allocated page
 * belongs to an object or a filler, so pages can be walked object by object.
 * Large objects get a chunk each.
 */
#include <stdatomic.h>
#include <string.h>

#include "heap/spaces.h"
#include "platform/placement.h"
#include "waltz_config.h"

/* --- Pages ---------------------------------------------------------------------------- */

bool heap_can_grow(struct heap *heap, size_t bytes)
{
    return heap_committed_bytes(heap) + bytes <= heap->config.heap_size_bytes;
}

struct page *page_allocate(struct heap *heap, struct space *owner, size_t chunk_bytes,
                           uintptr_t flags)
{
    struct page *p = platform_aligned_alloc(PAGE_SIZE_BYTES, chunk_bytes);
    if (!p)
        return NULL;
    placement_bind_chunk(p, chunk_bytes); /* --pin numa: to the allocating thread's node */
    memset(p, 0, sizeof *p);
    p->flags = flags;
    p->owner = owner;
    p->chunk_bytes = chunk_bytes;
    p->area_start = (uintptr_t)p + PAGE_HEADER_BYTES;
    p->area_end = (uintptr_t)p + chunk_bytes;
    p->alloc_top = p->area_start;
#ifdef WALTZ_REMEMBERED_SET_CARD_TABLE
    if (flags & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING)
        p->cards = platform_calloc(chunk_bytes >> CARD_SHIFT, 1);
#endif
    atomic_fetch_add(&heap->committed_bytes, chunk_bytes);
    atomic_fetch_add(&heap->pages_allocated, 1);
    return p;
}

void page_release(struct heap *heap, struct page *p)
{
    atomic_fetch_sub(&heap->committed_bytes, p->chunk_bytes);
    platform_free(p->cards);
    platform_free(p);
}

void space_add_page(struct space *s, struct page *p)
{
    p->owner = s;
    p->prev = NULL;
    p->next = s->first_page;
    if (s->first_page)
        s->first_page->prev = p;
    s->first_page = p;
    s->page_count++;
    s->committed_bytes += p->chunk_bytes;
}

void space_remove_page(struct space *s, struct page *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        s->first_page = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    s->page_count--;
    s->committed_bytes -= p->chunk_bytes;
}

static void release_all(struct heap *heap, struct space *s)
{
    while (s->first_page) {
        struct page *p = s->first_page;
        space_remove_page(s, p);
        page_release(heap, p);
    }
}

/* --- New space --------------------------------------------------------------------------- */

static const uintptr_t YOUNG_FLAGS = PAGE_IN_YOUNG | PAGE_POINTERS_TO_HERE_ARE_INTERESTING;

/* Appends at the tail so that LABs are carved in list order. */
static void semispace_append(struct space *s, struct page *p)
{
    p->owner = s;
    p->next = NULL;
    p->prev = NULL;
    if (!s->first_page) {
        s->first_page = p;
    } else {
        struct page *last = s->first_page;
        while (last->next)
            last = last->next;
        last->next = p;
        p->prev = last;
    }
    s->page_count++;
    s->committed_bytes += p->chunk_bytes;
}

void new_space_init(struct heap *heap, struct new_space *ns, size_t semispace_bytes)
{
    memset(ns, 0, sizeof *ns);
    pthread_mutex_init(&ns->lock, NULL);
    ns->to = (struct space){.id = SPACE_NEW, .name = "new (to)", .heap = heap};
    ns->from = (struct space){.id = SPACE_NEW, .name = "new (from)", .heap = heap};
    size_t pages = semispace_bytes / PAGE_SIZE_BYTES;
    ns->semispace_pages = pages < 2 ? 2 : pages;
    for (size_t i = 0; i < ns->semispace_pages; i++) {
        struct page *to = page_allocate(heap, &ns->to, PAGE_SIZE_BYTES, YOUNG_FLAGS | PAGE_IN_TO);
        struct page *from =
            page_allocate(heap, &ns->from, PAGE_SIZE_BYTES, YOUNG_FLAGS | PAGE_IN_FROM);
        if (!to || !from)
            platform_fatal("cannot reserve the new space (%zu pages)", ns->semispace_pages);
        semispace_append(&ns->to, to);
        semispace_append(&ns->from, from);
    }
    ns->alloc_page = ns->to.first_page;
}

void new_space_destroy(struct heap *heap, struct new_space *ns)
{
    release_all(heap, &ns->to);
    release_all(heap, &ns->from);
    pthread_mutex_destroy(&ns->lock);
}

size_t new_space_capacity_bytes(const struct new_space *ns)
{
    return ns->semispace_pages * PAGE_AREA_BYTES;
}

bool new_space_take(struct new_space *ns, size_t min_bytes, size_t preferred_bytes,
                    uintptr_t *start, uintptr_t *end)
{
    struct heap *heap = ns->to.heap;
    pthread_mutex_lock(&ns->lock);
    struct page *p = ns->alloc_page;
    while (p) {
        size_t available = p->area_end - p->alloc_top;
        if (available >= min_bytes) {
            size_t take = preferred_bytes < available ? preferred_bytes : available;
            if (take < min_bytes)
                take = min_bytes;
            *start = p->alloc_top;
            p->alloc_top += take;
            *end = p->alloc_top;
            ns->alloc_page = p;
            pthread_mutex_unlock(&ns->lock);
            return true;
        }
        heap_write_filler(heap, p->alloc_top, available);
        p->alloc_top = p->area_end;
        p = p->next;
    }
    ns->alloc_page = NULL;
    pthread_mutex_unlock(&ns->lock);
    return false;
}

void new_space_flip(struct new_space *ns)
{
    struct space old_to = ns->to;
    ns->to = ns->from;
    ns->from = old_to;
    ns->to.name = "new (to)";
    ns->from.name = "new (from)";
    space_for_each_page(&ns->from, p)
    {
        p->owner = &ns->from;
        page_clear_flags(p, PAGE_IN_TO);
        page_set_flags(p, PAGE_IN_FROM);
    }
    space_for_each_page(&ns->to, p)
    {
        p->owner = &ns->to;
        page_clear_flags(p, PAGE_IN_FROM | PAGE_BELOW_AGE_MARK);
        page_set_flags(p, PAGE_IN_TO);
        p->alloc_top = p->area_start;
    }
    ns->alloc_page = ns->to.first_page;
}

void new_space_set_age_mark(struct new_space *ns)
{
    space_for_each_page(&ns->from, p) page_clear_flags(p, PAGE_BELOW_AGE_MARK);
    struct page *last = ns->alloc_page ? ns->alloc_page : NULL;
    ns->age_mark_page = last;
    ns->age_mark = last ? last->alloc_top : 0;
    space_for_each_page(&ns->to, p)
    {
        if (p->alloc_top > p->area_start)
            page_set_flags(p, PAGE_BELOW_AGE_MARK);
        if (p == last)
            break;
    }
}

/* --- Paged spaces ---------------------------------------------------------------------------- */

static unsigned floor_log2(size_t n) { return 63u - (unsigned)__builtin_clzl(n); }
static unsigned ceil_log2(size_t n) { return n <= 1 ? 0 : 64u - (unsigned)__builtin_clzl(n - 1); }

/* Free-list entries: FREE_SPACE objects of at least this size carry a next pointer. */
#define FREE_LIST_MIN_BYTES (3 * WORD_BYTES)

static struct object **free_entry_next(struct object *o)
{
    return (struct object **)&object_slots(o)[2];
}

void paged_space_init(struct heap *heap, struct paged_space *ps, enum space_id id, const char *name,
                      uint32_t page_flags)
{
    memset(ps, 0, sizeof *ps);
    ps->base = (struct space){.id = id, .name = name, .heap = heap};
    ps->page_flags = page_flags;
    pthread_mutex_init(&ps->lock, NULL);
}

void paged_space_destroy(struct heap *heap, struct paged_space *ps)
{
    release_all(heap, &ps->base);
    pthread_mutex_destroy(&ps->lock);
}

/* Lock held. */
static void free_list_add(struct paged_space *ps, uintptr_t start, size_t size)
{
    heap_write_filler(ps->base.heap, start, size);
    if (size < FREE_LIST_MIN_BYTES)
        return; /* too small to list: stays a filler until the page is swept again */
    struct object *o = (struct object *)start;
    unsigned c = floor_log2(size);
    if (c >= FREE_LIST_CLASSES)
        c = FREE_LIST_CLASSES - 1;
    *free_entry_next(o) = ps->free_lists[c];
    ps->free_lists[c] = o;
    ps->free_bytes += size;
}

/* Lock held. Removes an entry of at least min_bytes; returns its start and size. */
static bool free_list_remove(struct paged_space *ps, size_t min_bytes, uintptr_t *start,
                             size_t *size)
{
    unsigned exact = floor_log2(min_bytes);
    if (exact < FREE_LIST_CLASSES) {
        /* First fit among the entries of min_bytes' own class. */
        struct object **link = &ps->free_lists[exact];
        for (int budget = 8; *link && budget > 0; budget--, link = free_entry_next(*link)) {
            size_t s = object_size(*link);
            if (s >= min_bytes) {
                struct object *o = *link;
                *link = *free_entry_next(o);
                ps->free_bytes -= s;
                *start = (uintptr_t)o;
                *size = s;
                return true;
            }
        }
    }
    for (unsigned c = ceil_log2(min_bytes); c < FREE_LIST_CLASSES; c++) {
        struct object *o = ps->free_lists[c];
        if (!o)
            continue;
        size_t s = object_size(o);
        if (s < min_bytes)
            continue; /* the last class holds everything larger; sizes vary */
        ps->free_lists[c] = *free_entry_next(o);
        ps->free_bytes -= s;
        *start = (uintptr_t)o;
        *size = s;
        return true;
    }
    return false;
}

/* Lock held. */
static bool add_page(struct paged_space *ps, bool may_grow_past_limit)
{
    struct heap *heap = ps->base.heap;
    if (!may_grow_past_limit && !heap_can_grow(heap, PAGE_SIZE_BYTES))
        return false;
    struct page *p = page_allocate(heap, &ps->base, PAGE_SIZE_BYTES, ps->page_flags);
    if (!p)
        return false;
    space_add_page(&ps->base, p);
    p->alloc_top = p->area_end;
    free_list_add(ps, p->area_start, p->area_end - p->area_start);
    return true;
}

static bool take_locked(struct paged_space *ps, size_t min_bytes, size_t preferred_bytes,
                        bool may_grow, uintptr_t *start, uintptr_t *end)
{
    uintptr_t s;
    size_t size;
    /* A LAB wants a large block: try the preferred size, then an eighth of it, then a
     * fresh page, and only then whatever fits. A fragmented free list (after a sweep of
     * objects that died at random) would otherwise hand out LABs of one object each, and
     * promoting GC tasks would take this lock per object. The holes skipped stay listed
     * for exact-size allocations, and the next sweep merges them with their dead
     * neighbours. */
    bool lab = preferred_bytes > min_bytes;
    bool found = lab && free_list_remove(ps, preferred_bytes, &s, &size);
    if (!found && preferred_bytes / 8 > min_bytes)
        found = free_list_remove(ps, preferred_bytes / 8, &s, &size);
    if (!found && lab && may_grow && add_page(ps, true))
        found = free_list_remove(ps, preferred_bytes, &s, &size);
    if (!found && !free_list_remove(ps, min_bytes, &s, &size)) {
        if (!add_page(ps, may_grow) || !free_list_remove(ps, min_bytes, &s, &size))
            return false;
    }
    size_t take = size;
    if (size - min_bytes >= FREE_LIST_MIN_BYTES && size > preferred_bytes) {
        take = preferred_bytes > min_bytes ? preferred_bytes : min_bytes;
        free_list_add(ps, s + take, size - take);
    }
    *start = s;
    *end = s + take;
    return true;
}

struct object *paged_space_allocate(struct paged_space *ps, size_t size_bytes,
                                    bool may_grow_past_limit)
{
    uintptr_t start, end;
    pthread_mutex_lock(&ps->lock);
    bool ok = take_locked(ps, size_bytes, size_bytes, may_grow_past_limit, &start, &end);
    if (ok && end - start > size_bytes)
        heap_write_filler(ps->base.heap, start + size_bytes, end - start - size_bytes);
    pthread_mutex_unlock(&ps->lock);
    return ok ? (struct object *)start : NULL;
}

bool paged_space_take(struct paged_space *ps, size_t min_bytes, size_t preferred_bytes,
                      uintptr_t *start, uintptr_t *end)
{
    pthread_mutex_lock(&ps->lock);
    bool ok = take_locked(ps, min_bytes, preferred_bytes, true, start, end);
    pthread_mutex_unlock(&ps->lock);
    return ok;
}

void paged_space_free(struct paged_space *ps, uintptr_t start, size_t size_bytes)
{
    pthread_mutex_lock(&ps->lock);
    free_list_add(ps, start, size_bytes);
    pthread_mutex_unlock(&ps->lock);
}

void paged_space_reset_free_lists(struct paged_space *ps)
{
    pthread_mutex_lock(&ps->lock);
    memset(ps->free_lists, 0, sizeof ps->free_lists);
    ps->free_bytes = 0;
    pthread_mutex_unlock(&ps->lock);
}

size_t paged_space_used_bytes(struct paged_space *ps)
{
    pthread_mutex_lock(&ps->lock);
    size_t used = ps->base.page_count * PAGE_AREA_BYTES - ps->free_bytes;
    pthread_mutex_unlock(&ps->lock);
    return used;
}

/* --- Large object space -------------------------------------------------------------------- */

void large_space_init(struct heap *heap, struct large_space *ls)
{
    memset(ls, 0, sizeof *ls);
    ls->base = (struct space){.id = SPACE_LARGE, .name = "large", .heap = heap};
    pthread_mutex_init(&ls->lock, NULL);
}

void large_space_destroy(struct heap *heap, struct large_space *ls)
{
    release_all(heap, &ls->base);
    pthread_mutex_destroy(&ls->lock);
}

struct object *large_space_allocate(struct large_space *ls, size_t size_bytes)
{
    struct heap *heap = ls->base.heap;
    size_t chunk = align_up(PAGE_HEADER_BYTES + size_bytes, PAGE_SIZE_BYTES);
    pthread_mutex_lock(&ls->lock);
    struct page *p = NULL;
    if (heap_can_grow(heap, chunk))
        p = page_allocate(heap, &ls->base, chunk,
                          PAGE_LARGE | PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    if (p) {
        p->alloc_top = p->area_start + size_bytes;
        p->allocated_bytes = size_bytes;
        space_add_page(&ls->base, p);
        ls->objects_bytes += size_bytes;
    }
    pthread_mutex_unlock(&ls->lock);
    return p ? (struct object *)p->area_start : NULL;
}

void large_space_free_page(struct large_space *ls, struct page *p)
{
    pthread_mutex_lock(&ls->lock);
    space_remove_page(&ls->base, p);
    ls->objects_bytes -= p->allocated_bytes;
    pthread_mutex_unlock(&ls->lock);
    page_release(ls->base.heap, p);
}
