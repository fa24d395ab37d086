/*
 * lib/codecache: code objects and the per-VM lists of optimized and deoptimized code
 * (docs/codecache.md). A VM is this testbed's native context: each has one code cache.
 *
 * A code object (lib/heap TYPE_CODE, in code space, which no collector moves) is laid out
 *   [map][size][k][tagged x k][link][tier's body]
 * where link is the raw header this module owns: the next code object on the list this
 * one is on, and which list that is. The lists are linked through the code objects
 * (as V8's OPTIMIZED_CODE_LIST and DEOPTIMIZED_CODE_LIST of a native context were, after
 * 2010): a newly optimized code object goes on the optimized list; a deopt marks it and
 * moves it to the deoptimized list. The links are raw words, so they keep nothing alive:
 * a scavenge never frees code (code space is not the young generation's), and every
 * old-generation collection runs this module's weak processor after marking, which
 * unlinks each unmarked code object (nothing held it: no closure, no frame, no shared
 * info) before the sweeper frees it, and counts it (cycles.csv code_unlinked_count).
 * With code_lists=none nothing is linked; the counts are kept.
 *
 * Every code object also has a weak array of the closures that were linked to it
 * (codecache_note_closure), so that code_unlinking=eager can reset them all at deopt.
 *
 * The OSR code cache (after V8's OSROptimizedCodeCache of a native context): the code a
 * hot loop tiered up into at its back-edge (on-stack replacement), keyed by (function,
 * loop offset: the JumpLoop's bytecode offset). Its entries are weak: raw pointers into
 * code space, which keep nothing alive. An entry is evicted when its code is marked for
 * deoptimization (codecache_osr_evict, and at lookup), and every old-generation
 * collection's weak processor clears the entries whose code it did not mark and compacts
 * the table (cycles.csv osr_entries_cleared_count). The cache exists under every
 * code_lists strategy: it is the tier's way to find OSR code again, not a list of it.
 *
 * Offers:  codecache_create/destroy, codecache_allocate (a code object with the header),
 *          codecache_body, codecache_add_optimized, codecache_deoptimize, the OSR cache
 *          (codecache_osr_*), the counts.
 * Needs:   lib/heap (code space, weak arrays, weak processors), lib/barrier.
 */
#ifndef WALTZ_CODECACHE_H
#define WALTZ_CODECACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "heap/heap.h"
#include "waltz_config.h"

#if WALTZ_CODE_LISTS_WEAK_LISTS
#define CODECACHE_LISTS 1
#else
#define CODECACHE_LISTS 0
#endif
#if WALTZ_CODE_UNLINKING_EAGER
#define CODECACHE_EAGER 1
#else
#define CODECACHE_EAGER 0
#endif

enum codecache_list { CODECACHE_NONE, CODECACHE_OPTIMIZED, CODECACHE_DEOPTIMIZED };

/* The raw header at the start of a code object's body. */
struct codecache_link {
    struct object *next;
    uint64_t list; /* enum codecache_list */
    /* Set (by any thread) when an assumption of the code no longer holds (a dependency
     * changed, lib/vm fields.c): every activation of it must leave it. */
    _Atomic uint64_t invalidated;
};

struct codecache_stats {
    uint64_t optimized, deoptimized;  /* on each list now (0 with code_lists=none) */
    uint64_t unlinked_by_gc;          /* dead code objects the weak processor unlinked */
    uint64_t eager_resets;            /* closures reset at deopt (code_unlinking=eager) */
    uint64_t optimized_total, deopts; /* ever added; ever moved (or marked) */
    uint64_t osr_entries;             /* in the OSR cache now */
    uint64_t osr_inserted, osr_evicted, osr_cleared_by_gc; /* ever */
};

struct codecache;

/* A cache for the VM whose heap is heap; registers its weak processor. */
struct codecache *codecache_create(struct heap *heap);
void codecache_destroy(struct codecache *cc);

/* A code object with tagged_count tagged fields (which start as Smi 0) and a body of
 * body_bytes after the header; on no list yet. May collect. */
struct object *codecache_allocate(struct mutator *m, size_t tagged_count, size_t body_bytes);
static inline value_t *codecache_tagged(struct object *code) { return object_slots(code) + 3; }
static inline struct codecache_link *codecache_link_of(struct object *code)
{
    return (struct codecache_link *)(object_slots(code) + 3 + value_to_smi(object_get(code, 2)));
}
static inline void *codecache_body(struct object *code) { return codecache_link_of(code) + 1; }

static inline void codecache_invalidate(struct object *code)
{
    atomic_store_explicit(&codecache_link_of(code)->invalidated, 1, memory_order_release);
}
static inline bool codecache_is_invalidated(struct object *code)
{
    return atomic_load_explicit(&codecache_link_of(code)->invalidated, memory_order_acquire);
}

/* Puts freshly compiled code on the optimized list. */
void codecache_add_optimized(struct codecache *cc, struct object *code);
/* A deopt of code: moves it from the optimized to the deoptimized list. */
void codecache_deoptimize(struct codecache *cc, struct object *code);

/* Remembers that closure now runs code (in the weak array in *closures_slot, a tagged
 * field of the code object: it is replaced when it grows). May collect: both arguments
 * are slots. */
void codecache_note_closure(struct mutator *m, const value_t *code_slot, size_t closures_field,
                            const value_t *closure_slot);
/* Moves every invalidated code object of the optimized list to the deoptimized list
 * (code_lists=none: nothing to walk) and calls fn on each; returns how many. */
uint64_t codecache_deoptimize_invalidated(struct codecache *cc,
                                          void (*fn)(struct object *code, void *arg), void *arg);
/* code_unlinking=eager: stores undefined into the code field (code_field) of every
 * closure noted for code that still points at it; returns how many. */
uint64_t codecache_reset_closures(struct codecache *cc, struct mutator *m, struct object *code,
                                  size_t closures_field, size_t code_field, value_t undefined);

/* The OSR code cache. lookup: the entry's code, or NULL (an entry whose code is marked,
 * by the is_marked the tier passes, is evicted and NULL returned); the weak entry becomes
 * m's strong reference, through barrier_weak_read (a marking cycle under way keeps the
 * code). insert: adds or replaces the entry. evict: removes every entry of code (its
 * deopt); returns how many. */
struct object *codecache_osr_lookup(struct codecache *cc, struct mutator *m, uint32_t function,
                                    uint32_t loop_pc, bool (*is_marked)(struct object *code));
void codecache_osr_insert(struct codecache *cc, uint32_t function, uint32_t loop_pc,
                          struct object *code);
uint64_t codecache_osr_evict(struct codecache *cc, struct object *code);
const struct codecache_stats *codecache_stats(const struct codecache *cc);
/* Calls fn on every code object on the lists (the verifier's and the tests' walk). */
void codecache_for_each(const struct codecache *cc, void (*fn)(struct object *code, void *arg),
                        void *arg);

#endif
