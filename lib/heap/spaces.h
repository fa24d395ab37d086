/*
 * Space operations for the collectors (lib/scavenge, lib/marking, lib/gc). Mutators use
 * heap.h; these run inside a safepoint or under the space's lock.
 */
#ifndef WALTZ_HEAP_SPACES_H
#define WALTZ_HEAP_SPACES_H

#include "heap/heap.h"

/* Pages */
struct page *page_allocate(struct heap *heap, struct space *owner, size_t chunk_bytes,
                           uintptr_t flags);
void page_release(struct heap *heap, struct page *p);
void space_add_page(struct space *s, struct page *p);
void space_remove_page(struct space *s, struct page *p);
#define space_for_each_page(s, p) for (struct page *p = (s)->first_page; p; p = p->next)

/* Walks the objects of [start, end) (fillers included). */
#define for_each_object_in(start, end, o)                                                          \
    for (struct object *o = (struct object *)(start); (uintptr_t)o < (end);                        \
         o = (struct object *)((uintptr_t)o + object_size(o)))

/* New space */
void new_space_init(struct heap *heap, struct new_space *ns, size_t semispace_bytes);
void new_space_destroy(struct heap *heap, struct new_space *ns);
/* Carves [start, end) of at least min_bytes (up to preferred) from to-space; false when
 * to-space is full. */
bool new_space_take(struct new_space *ns, size_t min_bytes, size_t preferred_bytes,
                    uintptr_t *start, uintptr_t *end);
/* Start of a scavenge: from-space becomes to-space and vice versa; to-space is empty. */
void new_space_flip(struct new_space *ns);
/* End of a scavenge: everything now in to-space survived once. */
void new_space_set_age_mark(struct new_space *ns);
/* Empties to-space (after a collection that evacuated everything). */
size_t new_space_capacity_bytes(const struct new_space *ns);

/* Paged spaces (old, code) */
void paged_space_init(struct heap *heap, struct paged_space *ps, enum space_id id, const char *name,
                      uint32_t page_flags);
void paged_space_destroy(struct heap *heap, struct paged_space *ps);
/* One object of size_bytes; NULL if the space would have to grow past the heap limit
 * (the caller decides whether to collect or fail). */
struct object *paged_space_allocate(struct paged_space *ps, size_t size_bytes,
                                    bool may_grow_past_limit);
/* A region for a LAB (promotion): at least min_bytes; grows the space if needed (a
 * scavenge must not fail halfway, so promotion may pass the soft limit). */
bool paged_space_take(struct paged_space *ps, size_t min_bytes, size_t preferred_bytes,
                      uintptr_t *start, uintptr_t *end);
/* Returns [start, start + size) to the free list (written as a filler). */
void paged_space_free(struct paged_space *ps, uintptr_t start, size_t size_bytes);
/* Forgets every free-list entry (the sweeper rebuilds them). */
void paged_space_reset_free_lists(struct paged_space *ps);
size_t paged_space_used_bytes(struct paged_space *ps);

/* Large object space */
void large_space_init(struct heap *heap, struct large_space *ls);
void large_space_destroy(struct heap *heap, struct large_space *ls);
struct object *large_space_allocate(struct large_space *ls, size_t size_bytes);
void large_space_free_page(struct large_space *ls, struct page *p);

/* Bytes over the hard limit if a space grew by size_bytes now (0: fits). */
bool heap_can_grow(struct heap *heap, size_t bytes);

#endif
