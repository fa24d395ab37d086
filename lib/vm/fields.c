/*
 * lib/vm field representations and dependent code: the map changes that deoptimize code
 * lazily (docs/codecache.md, "Lazy deopts through dependencies").
 *
 * Every property of a hidden class has a representation, none < smi < tagged: what its
 * values on every instance have been so far. Optimized code may rely on a property
 * being a Smi (lib/jit drops the Smi check of arithmetic on a value it loaded from such
 * a property); it then registers itself, weakly, as dependent code of the class. A store
 * that does not fit generalizes the representation in place, in the class that added the
 * property and in every class that transitions from it (their instances may have been
 * made from instances of the first), as V8's field generalization does (Verwaest et al.,
 * V8 "Field representation tracking"; src/objects/map-updater.cc, DependentCode
 * kFieldRepresentationGroup), and invalidates the dependent code of each class it
 * changed. Code objects are per VM (per thread) but classes are shared, so the thread
 * that generalized then handshakes every mutator (vm_process_invalidations): each finds
 * the invalidated code on its own lists and stack (the tier's code_invalidated), the way
 * V8's Deoptimizer::DeoptimizeMarkedCode walks its own isolate. A frame of invalidated
 * code deoptimizes when control returns to it; its closures take no code from it again.
 *
 * Locking: representations change and dependents are added under the runtime's lock, so
 * a compile either registers before a generalization (and is invalidated by it) or sees
 * the generalized representation and does not register. Nothing here allocates.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "codecache/codecache.h"
#include "platform/platform.h"
#include "safepoint/safepoint.h"
#include "vm/vm.h"

static void drop_dead_dependents(struct heap *heap, void *ctx);

void vm_fields_init(struct vm_runtime *rt)
{
    heap_add_weak_processor(rt->heap, drop_dead_dependents, rt);
}

void vm_fields_fini(struct vm_runtime *rt)
{
    heap_remove_weak_processor(rt->heap, drop_dead_dependents, rt);
}

/* Invalidates the code of s that depends on property index; under the lock. */
static uint64_t invalidate_locked(struct vm_shape *s, uint32_t index)
{
    uint64_t invalidated = 0;
    uint32_t kept = 0;
    for (uint32_t k = 0; k < s->dependent_count; k++) {
        if (s->dependent_fields[k] != index) {
            s->dependents[kept] = s->dependents[k];
            s->dependent_fields[kept++] = s->dependent_fields[k];
            continue;
        }
        codecache_invalidate(s->dependents[k]);
        invalidated++;
    }
    s->dependent_count = kept;
    return invalidated;
}

/* Generalizes property index to at least want in s and every class after it. */
static uint64_t generalize_locked(struct vm_shape *s, uint32_t index, enum vm_field_rep want)
{
    uint64_t invalidated = 0;
    enum vm_field_rep old = (enum vm_field_rep)atomic_load(&s->reps[index]);
    if (old < want) {
        atomic_store_explicit(&s->reps[index], (uint8_t)want, memory_order_release);
        if (old == VM_REP_SMI)
            invalidated += invalidate_locked(s, index);
    }
    for (struct vm_transition *t = s->transitions; t; t = t->next)
        invalidated += generalize_locked((struct vm_shape *)t->target, index, want);
    return invalidated;
}

void vm_field_store_check(struct vm *vm, const struct vm_shape *s, uint32_t index, value_t value)
{
    if (!s || s->kind != VM_SHAPE_OBJECT || index >= s->property_count)
        return;
    enum vm_field_rep want = value_is_smi(value) ? VM_REP_SMI : VM_REP_TAGGED;
    if (vm_field_rep(s, index) >= want)
        return;
    struct vm_runtime *rt = vm->rt;
    pthread_mutex_lock(&rt->lock);
    /* The class that added the property: its first index + 1 properties are its own. */
    const struct vm_shape *owner = s;
    while (owner->parent && owner->parent->property_count > index)
        owner = owner->parent;
    bool was_smi = vm_field_rep(owner, index) == VM_REP_SMI;
    uint64_t invalidated = generalize_locked((struct vm_shape *)owner, index, want);
    pthread_mutex_unlock(&rt->lock);
    if (was_smi && want == VM_REP_TAGGED)
        atomic_fetch_add(&rt->field_generalizations, 1);
    if (invalidated) {
        atomic_fetch_add(&rt->code_invalidations, invalidated);
        vm->invalidation_pending = true;
    }
}

void vm_object_check_fields(struct vm *vm, struct object *o)
{
    const struct vm_shape *s = vm_shape_of_map(vm->rt, object_map(o));
    if (!s || s->kind != VM_SHAPE_OBJECT)
        return;
    for (uint32_t i = 0; i < s->property_count && i < s->capacity; i++)
        vm_field_store_check(vm, s, i, object_get(o, VM_OBJECT_INOBJECT + i));
}

bool vm_shape_add_dependent(struct vm_runtime *rt, const struct vm_shape *shape, uint32_t index,
                            struct object *code)
{
    struct vm_shape *s = (struct vm_shape *)shape;
    pthread_mutex_lock(&rt->lock);
    bool still = index < s->property_count && vm_field_rep(s, index) == VM_REP_SMI;
    if (still) {
        if (s->dependent_count == s->dependent_capacity) {
            s->dependent_capacity = s->dependent_capacity ? 2 * s->dependent_capacity : 4;
            s->dependents =
                platform_realloc(s->dependents, s->dependent_capacity * sizeof *s->dependents);
            s->dependent_fields = platform_realloc(
                s->dependent_fields, s->dependent_capacity * sizeof *s->dependent_fields);
        }
        s->dependents[s->dependent_count] = code;
        s->dependent_fields[s->dependent_count++] = index;
    }
    pthread_mutex_unlock(&rt->lock);
    return still;
}

/* The weak processor: inside an old-generation pause, after marking. Under
 * --verify-heap, every entry kept is then a live code object. */
static void drop_dead_dependents(struct heap *heap, void *ctx)
{
    struct vm_runtime *rt = ctx;
    uint64_t dropped = 0;
    for (size_t i = 0; i < rt->shape_count; i++) {
        struct vm_shape *s = rt->all_shapes[i];
        uint32_t kept = 0;
        for (uint32_t k = 0; k < s->dependent_count; k++) {
            if (!heap_object_survives(s->dependents[k])) {
                dropped++;
                continue;
            }
            s->dependents[kept] = s->dependents[k];
            s->dependent_fields[kept++] = s->dependent_fields[k];
        }
        s->dependent_count = kept;
        for (uint32_t k = 0; heap->config.verify_heap && k < kept; k++)
            if (object_type(s->dependents[k]) != TYPE_CODE ||
                !heap_object_survives(s->dependents[k]))
                platform_fatal("vm: map %u holds a dangling dependent code object %p",
                               (unsigned)map_raw(s->map, MAP_ID), (void *)s->dependents[k]);
    }
    atomic_fetch_add(&rt->dependents_cleared, dropped);
}

static void run_code_invalidated(struct safepoint_thread *thread, void *arg)
{
    (void)arg;
    struct mutator *m = (struct mutator *)((char *)thread - offsetof(struct mutator, safepoint));
    struct vm *vm = m->vm;
    if (vm && vm->tier && vm->tier->code_invalidated)
        vm->tier->code_invalidated(vm->tier_ctx, vm);
}

void vm_process_invalidations(struct vm *vm)
{
    if (!vm->invalidation_pending)
        return;
    vm->invalidation_pending = false;
    safepoint_handshake_all(vm->m->safepoint.safepoint, &vm->m->safepoint, run_code_invalidated,
                            NULL);
}
