/*
 * The heap: creation, the maps every heap has, mutator attachment, the allocation
 * slow paths (LAB refill, which is the one place where an allocation can start a
 * collection), object constructors, handles, global handles and root visiting.
 */
#include "heap/heap.h"

#include <stdio.h>
#include <string.h>

#include "heap/spaces.h"

static void init_map(struct heap *heap, struct object *map, struct object *meta,
                     enum instance_type type, size_t instance_size, size_t tagged_count)
{
    map->map_word = value_from_object(meta ? meta : map);
    object_set_raw(map, MAP_PROTOTYPE, VALUE_NULL);
    object_set_raw(map, MAP_DEPENDENT_CODE, VALUE_NULL);
    object_set_raw(map, MAP_INSTANCE_TYPE, (value_t)type);
    object_set_raw(map, MAP_INSTANCE_SIZE, (value_t)instance_size);
    object_set_raw(map, MAP_TAGGED_COUNT, (value_t)tagged_count);
    pthread_mutex_lock(&heap->roots_lock);
    if (heap->map_count == heap->map_capacity) {
        heap->map_capacity = heap->map_capacity ? heap->map_capacity * 2 : 32;
        heap->maps = platform_realloc(heap->maps, heap->map_capacity * sizeof *heap->maps);
    }
    object_set_raw(map, MAP_ID, (value_t)heap->map_count);
    heap->maps[heap->map_count++] = map;
    pthread_mutex_unlock(&heap->roots_lock);
}

static struct object *create_map(struct heap *heap, struct object *meta, enum instance_type type,
                                 size_t instance_size, size_t tagged_count)
{
    struct object *map = paged_space_allocate(&heap->old_space, MAP_SIZE_BYTES, true);
    if (!map)
        heap_fatal_oom(heap, "map allocation", MAP_SIZE_BYTES);
    heap_allocated_outside_young(heap, map, MAP_SIZE_BYTES);
    init_map(heap, map, meta, type, instance_size, tagged_count);
    return map;
}

/* The first page of old space holds the maps that free-list entries and fillers need,
 * so they are placed by hand before the free list can be used. */
static void bootstrap_maps(struct heap *heap)
{
    struct page *p =
        page_allocate(heap, &heap->old_space.base, PAGE_SIZE_BYTES, heap->old_space.page_flags);
    if (!p)
        platform_fatal("cannot allocate the first old-space page");
    space_add_page(&heap->old_space.base, p);
    p->alloc_top = p->area_end;
    struct object *meta = (struct object *)p->area_start;
    struct object *free_space = (struct object *)(p->area_start + MAP_SIZE_BYTES);
    struct object *filler = (struct object *)(p->area_start + 2 * MAP_SIZE_BYTES);
    init_map(heap, meta, NULL, TYPE_MAP, MAP_SIZE_BYTES, 0);
    init_map(heap, free_space, meta, TYPE_FREE_SPACE, 0, 0);
    init_map(heap, filler, meta, TYPE_FILLER, WORD_BYTES, 0);
    heap->meta_map = meta;
    heap->free_space_map = free_space;
    heap->filler_map = filler;
    uintptr_t rest = p->area_start + 3 * MAP_SIZE_BYTES;
    paged_space_free(&heap->old_space, rest, p->area_end - rest);
}

struct heap *heap_create(const struct heap_config *config, struct telemetry *telemetry)
{
    struct heap *heap = platform_calloc(1, sizeof *heap);
    heap->config = *config;
    heap->telemetry = telemetry;
    safepoint_init(&heap->safepoint, telemetry);
    pthread_mutex_init(&heap->roots_lock, NULL);
    new_space_init(heap, &heap->new_space, config->young_size_bytes);
    paged_space_init(heap, &heap->old_space, SPACE_OLD, "old",
                     PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
    paged_space_init(heap, &heap->code_space, SPACE_CODE, "code",
                     PAGE_POINTERS_FROM_HERE_ARE_INTERESTING | PAGE_CODE);
    large_space_init(heap, &heap->large_space);
    size_t initial_old_limit = 32 * MiB;
    heap->old_limit_bytes = initial_old_limit;

    bootstrap_maps(heap);
    struct object *meta = heap->meta_map;
    heap->fixed_array_map = create_map(heap, meta, TYPE_FIXED_ARRAY, 0, 0);
    heap->weak_array_map = create_map(heap, meta, TYPE_WEAK_ARRAY, 0, 0);
    heap->byte_array_map = create_map(heap, meta, TYPE_BYTE_ARRAY, 0, 0);
    heap->double_array_map = create_map(heap, meta, TYPE_DOUBLE_ARRAY, 0, 0);
    heap->heap_number_map = create_map(heap, meta, TYPE_HEAP_NUMBER, 2 * WORD_BYTES, 0);
    heap->code_map = create_map(heap, meta, TYPE_CODE, 0, 0);
    return heap;
}

void heap_destroy(struct heap *heap)
{
    large_space_destroy(heap, &heap->large_space);
    paged_space_destroy(heap, &heap->code_space);
    paged_space_destroy(heap, &heap->old_space);
    new_space_destroy(heap, &heap->new_space);
    struct global_handle **chunks = (struct global_handle **)heap->global_handles;
    for (size_t i = 0; chunks && i < heap->global_handle_capacity; i++)
        platform_free(chunks[i]);
    platform_free(chunks);
    platform_free(heap->root_providers);
    platform_free(heap->weak_processors);
    platform_free(heap->maps);
    pthread_mutex_destroy(&heap->roots_lock);
    safepoint_destroy(&heap->safepoint);
    platform_free(heap);
}

struct object *heap_create_struct_map(struct heap *heap, size_t tagged_fields, size_t raw_words)
{
    size_t size = (1 + tagged_fields + raw_words) * WORD_BYTES;
    return create_map(heap, heap->meta_map, TYPE_STRUCT, size, tagged_fields);
}

/* --- Mutators -------------------------------------------------------------------------- */

void heap_mutator_attach(struct heap *heap, struct mutator *m, const char *name)
{
    memset(m, 0, sizeof *m);
    m->heap = heap;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->handles.block_capacity = 8;
    m->handles.blocks = platform_alloc(m->handles.block_capacity * sizeof(value_t *));
    m->handles.blocks[0] = platform_alloc(HANDLE_BLOCK_SLOTS * sizeof(value_t));
    m->handles.block_count = 1;
    m->handles.current = 0;
    m->handles.top = m->handles.blocks[0];
    m->handles.limit = m->handles.blocks[0] + HANDLE_BLOCK_SLOTS;
    safepoint_register(&heap->safepoint, &m->safepoint);
    if (heap->telemetry)
        telemetry_name_thread(heap->telemetry, m->safepoint.thread_id, m->name);
}

void heap_mutator_detach(struct mutator *m)
{
    struct heap *heap = m->heap;
    /* Running, so no collection is under way: the LAB is still this thread's alone. */
    heap_retire_lab(heap, &m->lab);
    safepoint_unregister(&heap->safepoint, &m->safepoint);
    for (size_t i = 0; i < m->handles.block_count; i++)
        platform_free(m->handles.blocks[i]);
    platform_free(m->handles.blocks);
    m->handles.blocks = NULL;
}

/* --- Allocation --------------------------------------------------------------------------- */

void heap_write_filler(struct heap *heap, uintptr_t start, size_t size_bytes)
{
    if (size_bytes == 0)
        return;
    struct object *o = (struct object *)start;
    if (size_bytes == WORD_BYTES) {
        o->map_word = value_from_object(heap->filler_map);
        return;
    }
    o->map_word = value_from_object(heap->free_space_map);
    object_set_raw(o, 1, value_from_smi((int64_t)size_bytes));
}

void heap_retire_lab(struct heap *heap, struct lab *lab)
{
    if (lab->limit > lab->top)
        heap_write_filler(heap, lab->top, lab->limit - lab->top);
    lab->top = lab->limit = 0;
}

_Noreturn void heap_fatal_oom(struct heap *heap, const char *what, size_t request_bytes)
{
    char request[64] = "";
    if (request_bytes)
        snprintf(request, sizeof request, " of %zu bytes", request_bytes);
    platform_fatal("heap exhausted: %s%s does not fit in --heap-size %zu MiB (old generation: "
                   "%zu MiB in use after a full GC); raise --heap-size",
                   what, request, heap->config.heap_size_bytes / MiB,
                   heap_old_used_bytes(heap) / MiB);
}

static void count_allocation(struct mutator *m, size_t bytes)
{
    m->allocated_bytes += bytes;
    atomic_fetch_add_explicit(&m->heap->allocated_bytes, bytes, memory_order_relaxed);
}

static void collect(struct mutator *m, enum collect_request what, enum gc_reason reason)
{
    struct heap *heap = m->heap;
    heap->collect(heap, m, what, reason, atomic_load(&heap->gc_epoch));
}

/* While pages wait to be swept, old space counts their dead objects as used: the soft
 * limits are not looked at until sweeping is done (the hard limit still is). */
static bool sweeping(struct heap *heap)
{
    return atomic_load_explicit(&heap->sweeping, memory_order_relaxed);
}

static bool old_generation_over_limit(struct heap *heap)
{
    return !sweeping(heap) && heap_old_used_bytes(heap) > heap_old_collect_bytes(heap);
}

/* While a marking cycle runs (old_gc=incremental|concurrent): the incremental step, and
 * the request for the finalization pause once the markers have run out of work. Called
 * at a poll, where objects may move. With check_start (allocation outside new space; the
 * scavenges check after promoting), starts a cycle when the old generation has grown
 * past marking_start_bytes. */
static void marking_poll(struct mutator *m, size_t bytes, bool check_start)
{
    struct heap *heap = m->heap;
    if (!atomic_load_explicit(&heap->marking_active, memory_order_relaxed)) {
        if (check_start && heap->marking_start_bytes &&
            heap_old_live_estimate_bytes(heap) > heap->marking_start_bytes)
            collect(m, COLLECT_MARK_START, REASON_HEAP_LIMIT);
        return;
    }
    if (heap->marking_step)
        heap->marking_step(m, bytes);
    if (atomic_load_explicit(&heap->marking_complete, memory_order_relaxed))
        collect(m, COLLECT_MARK_FINALIZE, REASON_MARKING_COMPLETE);
}

/* Allocation outside the young generation: old, code or large space. Collects when the
 * old generation passes its growing limit; fails only when a full GC could not make
 * room within the hard limit. */
static struct object *allocate_outside_young(struct mutator *m, enum space_id space,
                                             size_t size_bytes)
{
    struct heap *heap = m->heap;
    mutator_poll(m);
    if (sweeping(heap) && heap->sweep_step)
        heap->sweep_step(heap);
    marking_poll(m, size_bytes, true);
    if (old_generation_over_limit(heap))
        collect(m, COLLECT_FULL, REASON_HEAP_LIMIT);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct object *o;
        if (space == SPACE_LARGE)
            o = large_space_allocate(&heap->large_space, size_bytes);
        else
            o = paged_space_allocate(space == SPACE_CODE ? &heap->code_space : &heap->old_space,
                                     size_bytes, false);
        if (o) {
            count_allocation(m, size_bytes);
            heap_allocated_outside_young(heap, o, size_bytes);
            return o;
        }
        if (attempt == 0)
            collect(m, COLLECT_FULL, REASON_HEAP_LIMIT);
    }
    heap_fatal_oom(heap, space == SPACE_LARGE ? "large object allocation" : "old-space allocation",
                   size_bytes);
}

struct object *heap_allocate_young_slow(struct mutator *m, size_t size_bytes)
{
    struct heap *heap = m->heap;
    mutator_poll(m);
    if (size_bytes > HEAP_MAX_REGULAR_OBJECT_BYTES)
        return allocate_outside_young(m, SPACE_LARGE, size_bytes);
    marking_poll(m, size_bytes > HEAP_LAB_BYTES ? size_bytes : HEAP_LAB_BYTES, false);
    bool stress = heap->config.gc_stress != 0;
    if (stress && ++m->stress_allocations % heap->config.gc_stress == 0) {
        uint64_t nth = m->stress_allocations / heap->config.gc_stress;
        collect(m, nth % 4 == 0 ? COLLECT_FULL : COLLECT_SCAVENGE, REASON_STRESS);
    }
    size_t preferred = stress || size_bytes > HEAP_LAB_BYTES / 2 ? size_bytes : HEAP_LAB_BYTES;
    for (int attempt = 0; attempt < 64; attempt++) {
        uint64_t epoch = atomic_load(&heap->gc_epoch);
        heap_retire_lab(heap, &m->lab);
        uintptr_t start, end;
        if (new_space_take(&heap->new_space, size_bytes, preferred, &start, &end)) {
            count_allocation(m, end - start);
            m->lab_start = start;
            m->lab.top = start + size_bytes;
            m->lab.limit = end;
            if (stress) {
                heap_write_filler(heap, m->lab.top, end - m->lab.top);
                m->lab.limit = m->lab.top;
            }
            return (struct object *)start;
        }
        heap->collect(heap, m, COLLECT_SCAVENGE, REASON_ALLOCATION_FAILURE, epoch);
    }
    heap_fatal_oom(heap, "young allocation (new space stays full after repeated scavenges)",
                   size_bytes);
}

struct object *heap_allocate_old(struct mutator *m, struct object *map, size_t size_bytes)
{
    enum space_id space = size_bytes > HEAP_MAX_REGULAR_OBJECT_BYTES ? SPACE_LARGE : SPACE_OLD;
    struct object *o = allocate_outside_young(m, space, size_bytes);
    o->map_word = value_from_object(map);
    return o;
}

/* --- Constructors ------------------------------------------------------------------------- */

static void clear_words(struct object *o, size_t from_word, size_t to_word)
{
    value_t *slots = object_slots(o);
    for (size_t i = from_word; i < to_word; i++)
        slots[i] = 0;
}

static struct object *new_array(struct mutator *m, struct object *map, size_t length, size_t size)
{
    struct object *o = heap_allocate(m, map, size);
    object_set_raw(o, 1, value_from_smi((int64_t)length));
    clear_words(o, 2, size / WORD_BYTES);
    return o;
}

struct object *heap_new_fixed_array(struct mutator *m, size_t length)
{
    return new_array(m, m->heap->fixed_array_map, length, fixed_array_size_bytes(length));
}

struct object *heap_new_weak_array(struct mutator *m, size_t length)
{
    return new_array(m, m->heap->weak_array_map, length, fixed_array_size_bytes(length));
}

struct object *heap_new_byte_array(struct mutator *m, size_t length)
{
    return new_array(m, m->heap->byte_array_map, length, byte_array_size_bytes(length));
}

struct object *heap_new_double_array(struct mutator *m, size_t length)
{
    return new_array(m, m->heap->double_array_map, length, fixed_array_size_bytes(length));
}

struct object *heap_new_heap_number(struct mutator *m, double value)
{
    struct object *o = heap_allocate(m, m->heap->heap_number_map, 2 * WORD_BYTES);
    memcpy(&object_slots(o)[1], &value, sizeof value);
    return o;
}

struct object *heap_allocate_code(struct mutator *m, size_t tagged_count, size_t body_bytes)
{
    struct heap *heap = m->heap;
    size_t size = (3 + tagged_count) * WORD_BYTES + align_up(body_bytes, WORD_BYTES);
    struct object *o = allocate_outside_young(m, SPACE_CODE, size);
    o->map_word = value_from_object(heap->code_map);
    object_set_raw(o, 1, value_from_smi((int64_t)size));
    object_set_raw(o, 2, value_from_smi((int64_t)tagged_count));
    clear_words(o, 3, size / WORD_BYTES);
    return o;
}

/* --- Handles -------------------------------------------------------------------------------- */

value_t *handles_grow(struct mutator *m)
{
    struct handles *hs = &m->handles;
    hs->current++;
    if (hs->current == hs->block_count) {
        if (hs->block_count == hs->block_capacity) {
            hs->block_capacity *= 2;
            hs->blocks = platform_realloc(hs->blocks, hs->block_capacity * sizeof(value_t *));
        }
        /* Published only after it is filled in: a collector reads blocks[] at a safepoint. */
        hs->blocks[hs->block_count] = platform_alloc(HANDLE_BLOCK_SLOTS * sizeof(value_t));
        hs->block_count++;
    }
    hs->top = hs->blocks[hs->current];
    hs->limit = hs->top + HANDLE_BLOCK_SLOTS;
    return hs->top;
}

void handles_restore(struct mutator *m, const struct handle_scope *s)
{
    m->handles.current = s->current;
    m->handles.top = s->top;
    m->handles.limit = m->handles.blocks[s->current] + HANDLE_BLOCK_SLOTS;
}

/* Global handles live in fixed chunks so their addresses never change. */
#define GLOBAL_CHUNK_HANDLES 256

value_t *heap_global_handle_create(struct heap *heap, value_t v, bool weak)
{
    pthread_mutex_lock(&heap->roots_lock);
    if (!heap->global_free) {
        struct global_handle **chunks = (struct global_handle **)heap->global_handles;
        size_t n = heap->global_handle_capacity;
        chunks = platform_realloc(chunks, (n + 1) * sizeof *chunks);
        chunks[n] = platform_calloc(GLOBAL_CHUNK_HANDLES, sizeof(struct global_handle));
        for (size_t i = GLOBAL_CHUNK_HANDLES; i-- > 0;) {
            chunks[n][i].next_free = heap->global_free;
            heap->global_free = &chunks[n][i];
        }
        heap->global_handles = (struct global_handle *)chunks;
        heap->global_handle_capacity = n + 1;
    }
    struct global_handle *g = heap->global_free;
    heap->global_free = g->next_free;
    g->next_free = NULL;
    g->value = v;
    g->weak = weak;
    g->in_use = 1;
    heap->global_handle_count++;
    pthread_mutex_unlock(&heap->roots_lock);
    return &g->value;
}

void heap_global_handle_destroy(struct heap *heap, value_t *handle)
{
    struct global_handle *g = (struct global_handle *)handle;
    pthread_mutex_lock(&heap->roots_lock);
    g->in_use = 0;
    g->value = VALUE_NULL;
    g->next_free = heap->global_free;
    heap->global_free = g;
    heap->global_handle_count--;
    pthread_mutex_unlock(&heap->roots_lock);
}

static void visit_global_handles(struct heap *heap, bool weak, root_visit_fn visit, void *ctx)
{
    struct global_handle **chunks = (struct global_handle **)heap->global_handles;
    for (size_t c = 0; c < heap->global_handle_capacity; c++)
        for (size_t i = 0; i < GLOBAL_CHUNK_HANDLES; i++) {
            struct global_handle *g = &chunks[c][i];
            if (g->in_use && g->weak == weak)
                visit(&g->value, ctx);
        }
}

/* --- Roots ------------------------------------------------------------------------------------ */

void heap_add_root_provider(struct heap *heap, root_provider_fn fn, void *ctx)
{
    pthread_mutex_lock(&heap->roots_lock);
    heap->root_providers = platform_realloc(heap->root_providers, (heap->root_provider_count + 1) *
                                                                      sizeof *heap->root_providers);
    heap->root_providers[heap->root_provider_count++] = (struct root_provider){fn, ctx};
    pthread_mutex_unlock(&heap->roots_lock);
}

void heap_remove_root_provider(struct heap *heap, root_provider_fn fn, void *ctx)
{
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->root_provider_count; i++) {
        if (heap->root_providers[i].fn == fn && heap->root_providers[i].ctx == ctx) {
            heap->root_providers[i] = heap->root_providers[--heap->root_provider_count];
            break;
        }
    }
    pthread_mutex_unlock(&heap->roots_lock);
}

void heap_add_weak_processor(struct heap *heap, weak_processor_fn fn, void *ctx)
{
    pthread_mutex_lock(&heap->roots_lock);
    heap->weak_processors = platform_realloc(
        heap->weak_processors, (heap->weak_processor_count + 1) * sizeof *heap->weak_processors);
    heap->weak_processors[heap->weak_processor_count++] = (struct weak_processor){fn, ctx};
    pthread_mutex_unlock(&heap->roots_lock);
}

void heap_remove_weak_processor(struct heap *heap, weak_processor_fn fn, void *ctx)
{
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->weak_processor_count; i++) {
        if (heap->weak_processors[i].fn == fn && heap->weak_processors[i].ctx == ctx) {
            heap->weak_processors[i] = heap->weak_processors[--heap->weak_processor_count];
            break;
        }
    }
    pthread_mutex_unlock(&heap->roots_lock);
}

void heap_process_weak(struct heap *heap)
{
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->weak_processor_count; i++)
        heap->weak_processors[i].fn(heap, heap->weak_processors[i].ctx);
    pthread_mutex_unlock(&heap->roots_lock);
}

struct mutator_visit {
    void (*fn)(struct mutator *m, void *arg);
    void *arg;
};

static void mutator_trampoline(struct safepoint_thread *t, void *arg)
{
    struct mutator_visit *v = arg;
    struct mutator *m = (struct mutator *)((char *)t - offsetof(struct mutator, safepoint));
    v->fn(m, v->arg);
}

void heap_for_each_mutator(struct heap *heap, void (*fn)(struct mutator *m, void *arg), void *arg)
{
    struct mutator_visit v = {fn, arg};
    safepoint_for_each_thread(&heap->safepoint, mutator_trampoline, &v);
}

struct root_visit {
    root_visit_fn visit;
    void *ctx;
};

static void visit_mutator_handles(struct mutator *m, void *arg)
{
    struct root_visit *rv = arg;
    struct handles *hs = &m->handles;
    for (size_t b = 0; b <= hs->current; b++) {
        value_t *start = hs->blocks[b];
        value_t *end = b == hs->current ? hs->top : start + HANDLE_BLOCK_SLOTS;
        for (value_t *h = start; h < end; h++)
            rv->visit(h, rv->ctx);
    }
}

void heap_visit_strong_roots(struct heap *heap, root_visit_fn visit, void *ctx)
{
    struct root_visit rv = {visit, ctx};
    pthread_mutex_lock(&heap->roots_lock);
    visit_global_handles(heap, false, visit, ctx);
    for (size_t i = 0; i < heap->root_provider_count; i++)
        heap->root_providers[i].fn(heap, visit, ctx, heap->root_providers[i].ctx);
    pthread_mutex_unlock(&heap->roots_lock);
    heap_for_each_mutator(heap, visit_mutator_handles, &rv);
}

void heap_visit_weak_roots(struct heap *heap, root_visit_fn visit, void *ctx)
{
    pthread_mutex_lock(&heap->roots_lock);
    visit_global_handles(heap, true, visit, ctx);
    pthread_mutex_unlock(&heap->roots_lock);
}

/* --- Sizes
 * ---------------------------------------------------------------------------------------- */

size_t heap_young_used_bytes(struct heap *heap)
{
    size_t used = 0;
    space_for_each_page(&heap->new_space.to, p) used += p->alloc_top - p->area_start;
    return used;
}

size_t heap_old_used_bytes(struct heap *heap)
{
    return paged_space_used_bytes(&heap->old_space) + paged_space_used_bytes(&heap->code_space) +
           atomic_load_explicit(&heap->large_space.objects_bytes, memory_order_relaxed);
}

size_t heap_old_live_estimate_bytes(struct heap *heap)
{
    size_t used = heap_old_used_bytes(heap);
    if (!sweeping(heap))
        return used;
    int64_t left = atomic_load_explicit(&heap->sweep_garbage_left, memory_order_relaxed);
    if (left <= 0)
        return used;
    return (size_t)left < used ? used - (size_t)left : 0;
}

size_t heap_old_overshoot_bytes(struct heap *heap)
{
    size_t limit = heap->old_limit_bytes, hard = heap->config.heap_size_bytes;
    size_t margin = limit / 2;
    if (hard <= limit)
        margin = 0;
    else if ((hard - limit) / 2 < margin)
        margin = (hard - limit) / 2;
    return limit + margin;
}

size_t heap_old_collect_bytes(struct heap *heap)
{
    return atomic_load_explicit(&heap->marking_active, memory_order_relaxed)
               ? heap_old_overshoot_bytes(heap)
               : heap->old_limit_bytes;
}

size_t heap_committed_bytes(struct heap *heap)
{
    return atomic_load_explicit(&heap->committed_bytes, memory_order_relaxed);
}
