/*
 * lib/heap: spaces, mutators, allocation, handles and roots.
 *
 * Offers:  heap_create/destroy; mutators (per-thread LAB, handles, poll word);
 *          allocation fast paths (heap_allocate_young and friends) with slow paths
 *          that refill the LAB and may collect; handle scopes and global handles;
 *          root visiting; object constructors; heap statistics; the verifier
 *          (heap/verify.h).
 * Needs:   lib/safepoint (the mutator registry), lib/telemetry (through safepoint),
 *          lib/platform. Collection itself is a layer above: lib/gc installs
 *          heap->collect, which the allocation slow path calls.
 *
 * Invariant: objects move only inside a safepoint. Between two polls (allocation slow
 * paths are polls) a mutator may hold raw object pointers; across one it holds handles.
 */
#ifndef WALTZ_HEAP_H
#define WALTZ_HEAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap/object.h"
#include "heap/page.h"
#include "heap/value.h"
#include "safepoint/safepoint.h"
#include "telemetry/telemetry.h"

enum space_id { SPACE_NEW, SPACE_OLD, SPACE_CODE, SPACE_LARGE, SPACE_COUNT };

struct heap;

/* A doubly linked list of pages with a lock for whoever grows or shrinks it. */
struct space {
    enum space_id id;
    const char *name;
    struct heap *heap;
    struct page *first_page;
    size_t page_count;
    size_t committed_bytes;
};

/* Two semispaces of equal capacity. Mutators allocate in to-space through LABs. */
struct new_space {
    struct space to, from;
    size_t semispace_pages;
    pthread_mutex_t lock;
    struct page *alloc_page; /* to-space page that LABs are carved from */
    struct page *age_mark_page;
    uintptr_t age_mark; /* objects below this address on pages BELOW_AGE_MARK survived once */
};

#define FREE_LIST_CLASSES 24

/* Old and code space: pages, a segregated free list, sweeping. */
struct paged_space {
    struct space base;
    pthread_mutex_t lock;
    struct object *free_lists[FREE_LIST_CLASSES]; /* FREE_SPACE objects, by log2 size */
    size_t free_bytes;
    uint32_t page_flags; /* flags every page of this space carries */
};

struct large_space {
    struct space base;
    pthread_mutex_t lock;
    _Atomic size_t objects_bytes; /* read without the lock by the allocation policy */
};

/* A linear allocation buffer: bump top up to limit. */
struct lab {
    uintptr_t top, limit;
};

#define HANDLE_BLOCK_SLOTS 1024

struct handles {
    value_t *top, *limit; /* in blocks[current] */
    value_t **blocks;
    size_t block_count, block_capacity, current;
};

struct handle_scope {
    value_t *top;
    size_t current;
};

struct store_buffer; /* lib/barrier */
struct mark_local;   /* lib/barrier/marking_worklist.h */
struct mark_pool;

struct mutator {
    struct lab lab; /* young LAB; first for the fast path */
    struct heap *heap;
    struct safepoint_thread safepoint;
    struct handles handles;
    struct store_buffer *store_buffer; /* owned by lib/barrier; NULL under slot-set */
    /* Marking barrier (old_gc=incremental|concurrent): on while a marking cycle runs, set
     * and cleared only inside pauses; grey objects go to marking_local. */
    bool marking_barrier;
    struct mark_local *marking_local;
    uint64_t marking_barrier_count; /* objects greyed by this mutator's barrier */
    size_t marking_step_debt_bytes; /* old_gc=incremental: allocated since its last step */
    uint64_t stress_allocations;    /* --gc-stress: allocations counted on the slow path */
    uint64_t allocated_bytes;       /* bytes in LABs handed to this mutator */
    uintptr_t lab_start;
    void
        *vm; /* the toy VM of this thread (lib/vm sets it; one VM per mutator at a time), or NULL */
    char name[32];
};

/* Global handles: strong or weak roots owned by no thread. */
struct global_handle {
    value_t value;
    struct global_handle *next_free;
    uint8_t in_use, weak;
};

typedef void (*root_visit_fn)(value_t *slot, void *ctx);
/* A registered root provider: calls visit on every root slot it owns. Called inside a
 * safepoint only. */
typedef void (*root_provider_fn)(struct heap *heap, root_visit_fn visit, void *visit_ctx,
                                 void *provider_ctx);

struct root_provider {
    root_provider_fn fn;
    void *ctx;
};

/* A weak processor: called by every old-generation collection once marking is complete
 * and before sweeping, inside the pause, to clear what it holds weakly (the JIT's lists
 * of optimized and deoptimized code, the OSR code cache). heap_object_survives tells
 * whether an object is alive then. */
typedef void (*weak_processor_fn)(struct heap *heap, void *ctx);

struct weak_processor {
    weak_processor_fn fn;
    void *ctx;
};

/* The collector installed by lib/gc. It is called by a mutator's allocation slow path
 * (a safepoint poll) and returns after the requested collection, or at once if another
 * thread collected meanwhile (epoch changed). */
enum collect_request {
    COLLECT_SCAVENGE,
    COLLECT_FULL,          /* a whole old-generation collection (or the end of the cycle) */
    COLLECT_MARK_START,    /* incremental/concurrent: start a marking cycle */
    COLLECT_MARK_FINALIZE, /* incremental/concurrent: finish the cycle under way */
};
typedef void (*heap_collect_fn)(struct heap *heap, struct mutator *m, enum collect_request what,
                                enum gc_reason reason, uint64_t seen_epoch);

struct heap_config {
    size_t young_size_bytes; /* one semispace */
    size_t heap_size_bytes;  /* hard limit on young + old + code + large */
    uint64_t gc_stress;      /* a GC every N allocations per mutator; 0: off */
    bool verify_heap;
    uint32_t gc_threads;      /* GC worker pool size (young_gc=parallel); 0 counts as 1 */
    bool static_partitioning; /* parallel scavenger without work stealing (--steal=off) */
    bool last_child_first;    /* parallel scavenger: --child-order last */
};

struct heap {
    struct heap_config config;
    struct new_space new_space;
    struct paged_space old_space, code_space;
    struct large_space large_space;
    struct safepoint safepoint;
    struct telemetry *telemetry;

    /* Old-generation growing limit: a full GC is due when old + code + large passes it. */
    size_t old_limit_bytes;
    _Atomic uint64_t gc_epoch; /* incremented by every collection */
    _Atomic bool gc_in_progress;
    heap_collect_fn collect;
    void *gc;      /* lib/gc's state */
    void *marking; /* lib/marking's state (incremental, concurrent) */

    /* Marking (old_gc=incremental|concurrent; lib/marking). Set and cleared in pauses. */
    _Atomic bool marking_active;        /* objects allocated outside new space are black */
    _Atomic bool marking_complete;      /* the markers ran out of work: finalization is due */
    struct mark_pool *mark_pool;        /* grey objects (lib/barrier/marking_worklist.h) */
    size_t marking_start_bytes;         /* old generation size that starts a cycle; 0: never */
    _Atomic size_t marking_black_bytes; /* allocated black since the cycle started */
    /* old_gc=incremental: a bounded marking step on the mutator's allocation slow path. */
    void (*marking_step)(struct mutator *m, size_t allocated_bytes);
    /* old_gc=concurrent: old and code pages wait to be swept (lib/marking/sweep.c); an
     * allocation outside new space sweeps one of them first (sweep_step). */
    _Atomic bool sweeping;
    void (*sweep_step)(struct heap *heap);
    /* While sweeping: what the finalization estimated dead in the queued pages, less
     * what sweeping has freed since (heap_old_live_estimate_bytes). */
    _Atomic int64_t sweep_garbage_left;

    pthread_mutex_t roots_lock;
    struct root_provider *root_providers;
    size_t root_provider_count;
    struct weak_processor *weak_processors;
    size_t weak_processor_count;
    /* What the weak processors of the current old-generation collection cleared (they run
     * inside its pause; lib/marking moves the counts into the cycle record). */
    uint64_t weak_code_unlinked, weak_osr_entries_cleared;
    struct global_handle *global_handles;
    size_t global_handle_count, global_handle_capacity;
    struct global_handle *global_free;

    /* Maps with fixed roles, created at heap_create. */
    struct object *meta_map, *free_space_map, *filler_map, *fixed_array_map, *weak_array_map,
        *byte_array_map, *double_array_map, *heap_number_map, *code_map;
    struct object **maps; /* every map, a strong root */
    size_t map_count, map_capacity;

    _Atomic uint64_t allocated_bytes; /* all spaces, LAB granularity */
    _Atomic uint64_t pages_allocated;
    _Atomic size_t committed_bytes; /* every chunk held, all spaces */
};

struct heap *heap_create(const struct heap_config *config, struct telemetry *telemetry);
void heap_destroy(struct heap *heap);

/* Mutators: attach on the thread that will run as the mutator; detach before it ends. */
void heap_mutator_attach(struct heap *heap, struct mutator *m, const char *name);
void heap_mutator_detach(struct mutator *m);
static inline void mutator_poll(struct mutator *m) { safepoint_poll(&m->safepoint); }

/* --- Maps ------------------------------------------------------------------------------ */
/* A STRUCT map: tagged_fields tagged words, then raw_words raw words. */
struct object *heap_create_struct_map(struct heap *heap, size_t tagged_fields, size_t raw_words);

/* --- Allocation ------------------------------------------------------------------------- */
/* Objects up to this size go through young LABs; larger ones go to large object space. */
#define HEAP_MAX_REGULAR_OBJECT_BYTES ((size_t)128 * 1024)
#define HEAP_LAB_BYTES ((size_t)32 * 1024)

struct object *heap_allocate_young_slow(struct mutator *m, size_t size_bytes);

/* Allocates size_bytes (a multiple of 8) in the young generation (or, for a large size,
 * in large object space) and installs map. The fields are NOT initialized: the caller
 * fills every tagged field before its next poll. May collect. */
static inline struct object *heap_allocate(struct mutator *m, struct object *map, size_t size_bytes)
{
    uintptr_t top = m->lab.top;
    struct object *o;
    if (LIKELY(size_bytes <= m->lab.limit - top)) {
        m->lab.top = top + size_bytes;
        o = (struct object *)top;
    } else {
        o = heap_allocate_young_slow(m, size_bytes);
    }
    o->map_word = value_from_object(map);
    return o;
}

/* An object just allocated in old, code or large space: black while a marking cycle
 * runs (the markers will not scan it; the barrier covers what is stored into it). */
static inline void heap_allocated_outside_young(struct heap *heap, struct object *o,
                                                size_t size_bytes)
{
    if (UNLIKELY(atomic_load_explicit(&heap->marking_active, memory_order_relaxed))) {
        page_mark_atomic(page_of(o), o);
        atomic_fetch_add_explicit(&heap->marking_black_bytes, size_bytes, memory_order_relaxed);
    }
}

/* Old space directly (pretenured); may collect; fatal on heap exhaustion. */
struct object *heap_allocate_old(struct mutator *m, struct object *map, size_t size_bytes);
/* Code space; for code objects. */
struct object *heap_allocate_code(struct mutator *m, size_t tagged_count, size_t body_bytes);

/* Constructors. Tagged fields start as VALUE_NULL, raw ones zero. */
static inline struct object *heap_new_struct(struct mutator *m, struct object *map)
{
    size_t size = map_raw(map, MAP_INSTANCE_SIZE);
    struct object *o = heap_allocate(m, map, size);
    value_t *slots = object_slots(o);
    for (size_t i = 1; i < size / WORD_BYTES; i++)
        slots[i] = VALUE_NULL;
    return o;
}
struct object *heap_new_fixed_array(struct mutator *m, size_t length);
struct object *heap_new_weak_array(struct mutator *m, size_t length);
struct object *heap_new_byte_array(struct mutator *m, size_t length);
struct object *heap_new_double_array(struct mutator *m, size_t length);
struct object *heap_new_heap_number(struct mutator *m, double value);

/* Retires a mutator's LAB: its unused tail becomes a filler (safepoint only). */
void heap_retire_lab(struct heap *heap, struct lab *lab);
/* Writes a filler object over [start, start + size). */
void heap_write_filler(struct heap *heap, uintptr_t start, size_t size_bytes);

/* Reports heap exhaustion and ends the process (platform_fatal): never returns. */
_Noreturn void heap_fatal_oom(struct heap *heap, const char *what, size_t request_bytes);

/* --- Handles ------------------------------------------------------------------------------- */
value_t *handles_grow(struct mutator *m);
static inline value_t *handle_new(struct mutator *m, value_t v)
{
    value_t *h = m->handles.top;
    if (UNLIKELY(h == m->handles.limit))
        h = handles_grow(m);
    m->handles.top = h + 1;
    *h = v;
    return h;
}
static inline value_t *handle_of(struct mutator *m, struct object *o)
{
    return handle_new(m, value_from_object(o));
}
static inline struct object *handle_object(const value_t *h) { return value_to_object(*h); }
static inline void handle_scope_open(struct mutator *m, struct handle_scope *s)
{
    s->top = m->handles.top;
    s->current = m->handles.current;
}
void handles_restore(struct mutator *m, const struct handle_scope *s);
static inline void handle_scope_close(struct mutator *m, const struct handle_scope *s)
{
    if (LIKELY(s->current == m->handles.current))
        m->handles.top = s->top;
    else
        handles_restore(m, s);
}

/* Global handles: a strong or weak root not owned by a thread. A weak one may hold a
 * strong- or weak-tagged value (the tag is kept) and reads VALUE_CLEARED once its object
 * has died. */
value_t *heap_global_handle_create(struct heap *heap, value_t v, bool weak);
void heap_global_handle_destroy(struct heap *heap, value_t *handle);

/* --- Roots ------------------------------------------------------------------------------ */
void heap_add_root_provider(struct heap *heap, root_provider_fn fn, void *ctx);
void heap_add_weak_processor(struct heap *heap, weak_processor_fn fn, void *ctx);
void heap_remove_weak_processor(struct heap *heap, weak_processor_fn fn, void *ctx);
/* Inside an old-generation collection, after marking: runs every weak processor. */
void heap_process_weak(struct heap *heap);
/* While weak processors run: young objects are not the old collection's to judge (they
 * survive it); an old, code or large object survives if it is marked. */
static inline bool heap_object_survives(const struct object *o)
{
    return object_in_young(o) || page_is_marked(page_of(o), o);
}
void heap_remove_root_provider(struct heap *heap, root_provider_fn fn, void *ctx);
/* Strong roots: maps, strong global handles, every mutator's handles, providers. */
void heap_visit_strong_roots(struct heap *heap, root_visit_fn visit, void *ctx);
/* Weak global handles. */
void heap_visit_weak_roots(struct heap *heap, root_visit_fn visit, void *ctx);
void heap_for_each_mutator(struct heap *heap, void (*fn)(struct mutator *m, void *arg), void *arg);

/* --- Sizes ---------------------------------------------------------------------------------- */
size_t heap_young_used_bytes(struct heap *heap); /* to-space, allocated part */
size_t heap_old_used_bytes(struct heap *heap);   /* old + code + large, in objects */
/* The old-generation size past which a collection is due now: old_limit_bytes, or while
 * a marking cycle runs, the overshoot bytes: that limit overshot by half of itself (at
 * most half the way to the hard limit), so that the markers get the time to finish
 * before the cycle is finalized however far they have got (after V8's
 * AllocationLimitOvershotByLargeMargin). A cycle may still start below them. */
size_t heap_old_collect_bytes(struct heap *heap);
size_t heap_old_overshoot_bytes(struct heap *heap);
/* heap_old_used_bytes, less (while pages wait to be swept) the dead bytes they are
 * estimated to hold still: what starts a marking cycle looks at. */
size_t heap_old_live_estimate_bytes(struct heap *heap);
size_t heap_committed_bytes(struct heap *heap); /* every page held */

/* Objects in young generation that have survived one scavenge (promoted at the next). */
static inline bool heap_below_age_mark(struct heap *heap, struct object *o)
{
    struct page *p = page_of(o);
    if (!(page_flags(p) & PAGE_BELOW_AGE_MARK))
        return false;
    return p != heap->new_space.age_mark_page || (uintptr_t)o < heap->new_space.age_mark;
}

#endif
