/*
 * lib/codecache: the per-VM lists of optimized and deoptimized code, linked through the
 * code objects, and the weak processor that unlinks dead code objects before the
 * old-generation sweeper frees them (codecache.h, docs/codecache.md). After V8's native
 * context code lists (OPTIMIZED_CODE_LIST, DEOPTIMIZED_CODE_LIST, processed as weak lists
 * by its mark-compact collector) as the seed articles describe them.
 */
#include "codecache/codecache.h"

#include "barrier/barrier.h"
#include "platform/platform.h"

struct osr_entry {
    uint32_t function, loop_pc;
    struct object *code; /* weak: code space never moves, and the weak processor clears it */
};

struct codecache {
    struct heap *heap;
    struct object *heads[3]; /* by enum codecache_list; [CODECACHE_NONE] unused */
    struct osr_entry *osr;   /* the OSR code cache: stats.osr_entries of osr_capacity */
    size_t osr_capacity;
    struct codecache_stats stats;
};

/* Unlinks every code object of list that the collection did not mark. */
static void prune(struct codecache *cc, enum codecache_list list)
{
    struct object **at = &cc->heads[list];
    while (*at) {
        struct object *code = *at;
        struct codecache_link *link = codecache_link_of(code);
        if (heap_object_survives(code)) {
            at = &link->next;
            continue;
        }
        *at = link->next; /* the sweeper frees it next */
        link->next = NULL;
        link->list = CODECACHE_NONE;
        cc->stats.unlinked_by_gc++;
        cc->heap->weak_code_unlinked++;
        if (list == CODECACHE_OPTIMIZED)
            cc->stats.optimized--;
        else
            cc->stats.deoptimized--;
    }
}

/* The verifier's part (--verify-heap): after pruning, every entry is a live code object
 * that says it is on the list it is on, and the counts match. */
static void verify_lists(struct codecache *cc)
{
    for (int list = CODECACHE_OPTIMIZED; list <= CODECACHE_DEOPTIMIZED; list++) {
        uint64_t count = 0;
        for (struct object *code = cc->heads[list]; code; code = codecache_link_of(code)->next) {
            if (object_type(code) != TYPE_CODE || !heap_object_survives(code) ||
                codecache_link_of(code)->list != (uint64_t)list)
                platform_fatal("codecache: the %s list holds a dangling or misfiled entry %p",
                               list == CODECACHE_OPTIMIZED ? "optimized" : "deoptimized",
                               (void *)code);
            count++;
        }
        if (count != (list == CODECACHE_OPTIMIZED ? cc->stats.optimized : cc->stats.deoptimized))
            platform_fatal("codecache: the %s list has %llu entries, its count says %llu",
                           list == CODECACHE_OPTIMIZED ? "optimized" : "deoptimized",
                           (unsigned long long)count,
                           (unsigned long long)(list == CODECACHE_OPTIMIZED
                                                    ? cc->stats.optimized
                                                    : cc->stats.deoptimized));
    }
}

/* Clears the OSR entries whose code the collection did not mark (nothing else held it:
 * no frame runs it) and compacts the table. */
static void prune_osr(struct codecache *cc)
{
    size_t kept = 0;
    for (size_t k = 0; k < cc->stats.osr_entries; k++) {
        if (heap_object_survives(cc->osr[k].code)) {
            cc->osr[kept++] = cc->osr[k];
            continue;
        }
        cc->stats.osr_cleared_by_gc++;
        cc->heap->weak_osr_entries_cleared++;
    }
    cc->stats.osr_entries = kept;
}

/* The verifier's part for the OSR cache: every entry a live code object, keys unique. */
static void verify_osr(struct codecache *cc)
{
    for (size_t k = 0; k < cc->stats.osr_entries; k++) {
        const struct osr_entry *e = &cc->osr[k];
        if (object_type(e->code) != TYPE_CODE || !heap_object_survives(e->code))
            platform_fatal("codecache: the OSR cache entry (function %u, loop %u) holds a "
                           "dangling code object %p",
                           e->function, e->loop_pc, (void *)e->code);
        for (size_t other = 0; other < k; other++)
            if (cc->osr[other].function == e->function && cc->osr[other].loop_pc == e->loop_pc)
                platform_fatal("codecache: the OSR cache has two entries for (function %u, "
                               "loop %u)",
                               e->function, e->loop_pc);
    }
}

static void process_weak(struct heap *heap, void *ctx)
{
    struct codecache *cc = ctx;
    if (CODECACHE_LISTS) {
        prune(cc, CODECACHE_OPTIMIZED);
        prune(cc, CODECACHE_DEOPTIMIZED);
    }
    prune_osr(cc);
    if (heap->config.verify_heap) {
        if (CODECACHE_LISTS)
            verify_lists(cc);
        verify_osr(cc);
    }
}

struct codecache *codecache_create(struct heap *heap)
{
    struct codecache *cc = platform_calloc(1, sizeof *cc);
    cc->heap = heap;
    heap_add_weak_processor(heap, process_weak, cc);
    return cc;
}

void codecache_destroy(struct codecache *cc)
{
    heap_remove_weak_processor(cc->heap, process_weak, cc);
    platform_free(cc->osr);
    /* The code objects outlive the lists (closures may still hold them): unlink them. */
    for (int list = CODECACHE_OPTIMIZED; list <= CODECACHE_DEOPTIMIZED; list++) {
        for (struct object *code = cc->heads[list], *next; code; code = next) {
            struct codecache_link *link = codecache_link_of(code);
            next = link->next;
            link->next = NULL;
            link->list = CODECACHE_NONE;
        }
    }
    platform_free(cc);
}

struct object *codecache_allocate(struct mutator *m, size_t tagged_count, size_t body_bytes)
{
    struct object *code =
        heap_allocate_code(m, tagged_count, sizeof(struct codecache_link) + body_bytes);
    for (size_t i = 0; i < tagged_count; i++)
        object_set_raw(code, 3 + i, value_from_smi(0));
    struct codecache_link *link = codecache_link_of(code);
    link->next = NULL;
    link->list = CODECACHE_NONE;
    atomic_init(&link->invalidated, 0);
    return code;
}

static void push(struct codecache *cc, enum codecache_list list, struct object *code)
{
    struct codecache_link *link = codecache_link_of(code);
    link->next = cc->heads[list];
    link->list = list;
    cc->heads[list] = code;
}

void codecache_add_optimized(struct codecache *cc, struct object *code)
{
    cc->stats.optimized_total++;
    if (!CODECACHE_LISTS)
        return;
    push(cc, CODECACHE_OPTIMIZED, code);
    cc->stats.optimized++;
}

void codecache_deoptimize(struct codecache *cc, struct object *code)
{
    cc->stats.deopts++;
    struct codecache_link *link = codecache_link_of(code);
    if (!CODECACHE_LISTS || link->list != CODECACHE_OPTIMIZED)
        return; /* already moved: a second deopt of the same code (another activation) */
    struct object **at = &cc->heads[CODECACHE_OPTIMIZED];
    while (*at && *at != code)
        at = &codecache_link_of(*at)->next;
    if (!*at)
        platform_fatal("codecache: code %p says it is on the optimized list but is not",
                       (void *)code);
    *at = link->next;
    cc->stats.optimized--;
    push(cc, CODECACHE_DEOPTIMIZED, code);
    cc->stats.deoptimized++;
}

uint64_t codecache_deoptimize_invalidated(struct codecache *cc,
                                          void (*fn)(struct object *code, void *arg), void *arg)
{
    uint64_t moved = 0;
    struct object **at = &cc->heads[CODECACHE_OPTIMIZED];
    while (*at) {
        struct object *code = *at;
        struct codecache_link *link = codecache_link_of(code);
        if (!codecache_is_invalidated(code)) {
            at = &link->next;
            continue;
        }
        *at = link->next;
        cc->stats.optimized--;
        push(cc, CODECACHE_DEOPTIMIZED, code);
        cc->stats.deoptimized++;
        moved++;
        if (fn)
            fn(code, arg);
    }
    return moved;
}

void codecache_note_closure(struct mutator *m, const value_t *code_slot, size_t closures_field,
                            const value_t *closure_slot)
{
    struct object *code = value_to_object(*code_slot);
    value_t closures = codecache_tagged(code)[closures_field];
    size_t used = 0, length = 0;
    if (value_is_strong(closures)) {
        struct object *a = value_to_object(closures);
        length = object_length(a);
        used = (size_t)value_to_smi(object_get(a, 2)); /* element 0: how many follow */
        if (used + 1 < length) {
            object_store(m, a, 2 + 1 + used,
                         value_weak_from_object(value_to_object(*closure_slot)));
            object_store(m, a, 2, value_from_smi((int64_t)used + 1));
            return;
        }
    }
    /* Grow: a new array twice the size (the old one's live entries copied). */
    size_t new_length = length ? 2 * length : 4;
    struct object *grown = heap_new_weak_array(m, new_length);
    code = value_to_object(*code_slot); /* code does not move, but read it again anyway */
    closures = codecache_tagged(code)[closures_field];
    size_t kept = 0;
    if (value_is_strong(closures)) {
        struct object *a = value_to_object(closures);
        for (size_t i = 0; i < used; i++) {
            value_t v = object_get(a, 2 + 1 + i);
            if (value_is_weak(v))
                object_store(m, grown, 2 + 1 + kept++, v);
        }
    }
    object_store(m, grown, 2 + 1 + kept++, value_weak_from_object(value_to_object(*closure_slot)));
    object_store(m, grown, 2, value_from_smi((int64_t)kept));
    object_store(m, code, 3 + closures_field, value_from_object(grown));
}

uint64_t codecache_reset_closures(struct codecache *cc, struct mutator *m, struct object *code,
                                  size_t closures_field, size_t code_field, value_t undefined)
{
    value_t closures = codecache_tagged(code)[closures_field];
    if (!value_is_strong(closures))
        return 0;
    struct object *a = value_to_object(closures);
    size_t used = (size_t)value_to_smi(object_get(a, 2));
    uint64_t reset = 0;
    for (size_t i = 0; i < used; i++) {
        value_t v = object_get(a, 2 + 1 + i);
        if (!value_is_weak(v))
            continue; /* cleared: that closure died */
        struct object *closure = value_to_object(v);
        if (object_get(closure, code_field) != value_from_object(code))
            continue;
        object_store(m, closure, code_field, undefined);
        reset++;
    }
    cc->stats.eager_resets += reset;
    return reset;
}

/* --- The OSR code cache --------------------------------------------------------------------- */

static struct osr_entry *osr_find(struct codecache *cc, uint32_t function, uint32_t loop_pc)
{
    for (size_t k = 0; k < cc->stats.osr_entries; k++)
        if (cc->osr[k].function == function && cc->osr[k].loop_pc == loop_pc)
            return &cc->osr[k];
    return NULL;
}

static void osr_remove(struct codecache *cc, struct osr_entry *e)
{
    *e = cc->osr[--cc->stats.osr_entries];
    cc->stats.osr_evicted++;
}

struct object *codecache_osr_lookup(struct codecache *cc, struct mutator *m, uint32_t function,
                                    uint32_t loop_pc, bool (*is_marked)(struct object *code))
{
    struct osr_entry *e = osr_find(cc, function, loop_pc);
    if (!e)
        return NULL;
    if (is_marked && is_marked(e->code)) {
        osr_remove(cc, e);
        return NULL;
    }
    /* Under satb the finalization does not rescan the frames that will hold it. */
    barrier_weak_read(m, e->code, value_from_object(e->code));
    return e->code;
}

void codecache_osr_insert(struct codecache *cc, uint32_t function, uint32_t loop_pc,
                          struct object *code)
{
    struct osr_entry *e = osr_find(cc, function, loop_pc);
    if (!e) {
        if (cc->stats.osr_entries == cc->osr_capacity) {
            cc->osr_capacity = cc->osr_capacity ? 2 * cc->osr_capacity : 8;
            cc->osr = platform_realloc(cc->osr, cc->osr_capacity * sizeof *cc->osr);
        }
        e = &cc->osr[cc->stats.osr_entries++];
    }
    *e = (struct osr_entry){function, loop_pc, code};
    cc->stats.osr_inserted++;
}

uint64_t codecache_osr_evict(struct codecache *cc, struct object *code)
{
    uint64_t evicted = 0;
    for (size_t k = 0; k < cc->stats.osr_entries;) {
        if (cc->osr[k].code != code) {
            k++;
            continue;
        }
        osr_remove(cc, &cc->osr[k]);
        evicted++;
    }
    return evicted;
}

const struct codecache_stats *codecache_stats(const struct codecache *cc) { return &cc->stats; }

void codecache_for_each(const struct codecache *cc, void (*fn)(struct object *code, void *arg),
                        void *arg)
{
    for (int list = CODECACHE_OPTIMIZED; list <= CODECACHE_DEOPTIMIZED; list++)
        for (struct object *code = cc->heads[list]; code; code = codecache_link_of(code)->next)
            fn(code, arg);
}
