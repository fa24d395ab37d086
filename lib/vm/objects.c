/*
 * The VM's runtime and heap objects (vm.h): maps and hidden classes with transitions
 * (after the hidden classes of Self and V8: Chambers, Ungar and Lee, OOPSLA 1989), the
 * oddballs, interned property names, object, array, context and closure constructors,
 * loading a module into a VM's heap objects, and the VM's precise roots.
 *
 * Every constructor follows one rule: allocate first, then read the values it stores
 * from rooted slots (frame registers, the frame's accumulator or context, or the VM's
 * roots), because an allocation may collect and move everything. A fresh regular-size
 * object is young, so its initializing stores need no barrier; every other store of a
 * tagged value goes through object_store. All objects of one capacity have the same
 * layout, whatever their hidden class, so changing an object's map never changes its
 * size or its tagged range (a concurrent marker may be reading it).
 */
#include "vm/vm.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "platform/platform.h"

/* Under rt->lock. NULL when there is no room for another map id. */
static struct vm_shape *new_shape_locked(struct vm_runtime *rt, enum vm_shape_kind kind,
                                         struct object *map)
{
    uintptr_t id = map_raw(map, MAP_ID);
    if (id >= VM_MAX_MAPS)
        return NULL;
    struct vm_shape *s = platform_calloc(1, sizeof *s);
    s->kind = kind;
    s->map = map;
    if (rt->shape_count == rt->shape_capacity) {
        rt->shape_capacity = rt->shape_capacity ? rt->shape_capacity * 2 : 64;
        rt->all_shapes = platform_realloc(rt->all_shapes, rt->shape_capacity * sizeof(void *));
    }
    rt->all_shapes[rt->shape_count++] = s;
    return s;
}

static void publish_shape_locked(struct vm_runtime *rt, struct vm_shape *s)
{
    __atomic_store_n(&rt->shapes[map_raw(s->map, MAP_ID)], s, __ATOMIC_RELEASE);
}

static struct object *fixed_shape_map(struct vm_runtime *rt, enum vm_shape_kind kind,
                                      size_t tagged_fields)
{
    struct object *map = heap_create_struct_map(rt->heap, tagged_fields, 0);
    struct vm_shape *s = new_shape_locked(rt, kind, map);
    if (!s)
        platform_fatal("vm: map ids past %d before the VM's own maps exist", VM_MAX_MAPS);
    publish_shape_locked(rt, s);
    return map;
}

struct vm_runtime *vm_runtime_create(struct heap *heap, struct mutator *m)
{
    struct vm_runtime *rt = platform_calloc(1, sizeof *rt);
    rt->heap = heap;
    pthread_mutex_init(&rt->lock, NULL);
    rt->shapes = platform_calloc(VM_MAX_MAPS, sizeof *rt->shapes);
    pthread_mutex_lock(&rt->lock);
    rt->oddball_map = fixed_shape_map(rt, VM_SHAPE_ODDBALL, 1);
    rt->function_map = fixed_shape_map(rt, VM_SHAPE_FUNCTION, VM_FUNCTION_FIELDS);
    rt->shared_map = fixed_shape_map(rt, VM_SHAPE_SHARED, VM_SHARED_FIELDS);
    rt->array_map = fixed_shape_map(rt, VM_SHAPE_ARRAY, VM_ARRAY_FIELDS);
    pthread_mutex_unlock(&rt->lock);
    vm_fields_init(rt);
    /* Oddballs are old (pretenured) and never move; global handles keep them alive. */
    for (int k = 0; k < VM_ODDBALL_COUNT; k++) {
        struct object *o = heap_allocate_old(m, rt->oddball_map, 2 * WORD_BYTES);
        object_set_raw(o, 1, value_from_smi(k));
        rt->oddballs[k] = value_from_object(o);
        rt->oddball_handles[k] = heap_global_handle_create(heap, rt->oddballs[k], false);
    }
    return rt;
}

void vm_runtime_destroy(struct vm_runtime *rt)
{
    if (!rt)
        return;
    vm_fields_fini(rt);
    for (int k = 0; k < VM_ODDBALL_COUNT; k++)
        heap_global_handle_destroy(rt->heap, rt->oddball_handles[k]);
    for (size_t i = 0; i < rt->shape_count; i++) {
        struct vm_transition *t = rt->all_shapes[i]->transitions;
        while (t) {
            struct vm_transition *next = t->next;
            platform_free(t);
            t = next;
        }
        platform_free(rt->all_shapes[i]->names);
        platform_free((void *)rt->all_shapes[i]->reps);
        platform_free(rt->all_shapes[i]->dependents);
        platform_free(rt->all_shapes[i]->dependent_fields);
        platform_free(rt->all_shapes[i]);
    }
    platform_free(rt->all_shapes);
    for (size_t i = 0; i < rt->symbol_count; i++)
        platform_free(rt->symbols[i]);
    platform_free(rt->symbols);
    platform_free(rt->shapes);
    pthread_mutex_destroy(&rt->lock);
    platform_free(rt);
}

uint32_t vm_runtime_intern(struct vm_runtime *rt, const char *name)
{
    pthread_mutex_lock(&rt->lock);
    uint32_t id = (uint32_t)rt->symbol_count;
    for (size_t i = 0; i < rt->symbol_count; i++)
        if (strcmp(rt->symbols[i], name) == 0)
            id = (uint32_t)i;
    if (id == rt->symbol_count) {
        if (rt->symbol_count == rt->symbol_capacity) {
            rt->symbol_capacity = rt->symbol_capacity ? rt->symbol_capacity * 2 : 64;
            rt->symbols = platform_realloc(rt->symbols, rt->symbol_capacity * sizeof(char *));
        }
        rt->symbols[rt->symbol_count++] = platform_strdup(name);
    }
    pthread_mutex_unlock(&rt->lock);
    return id;
}

const char *vm_runtime_symbol_name(struct vm_runtime *rt, uint32_t symbol)
{
    pthread_mutex_lock(&rt->lock);
    const char *name = symbol < rt->symbol_count ? rt->symbols[symbol] : "?";
    pthread_mutex_unlock(&rt->lock);
    return name; /* symbol strings are never freed while the runtime lives */
}

/* --- Hidden classes -------------------------------------------------------------------- */

static const struct vm_shape *object_root_shape(struct vm_runtime *rt, uint32_t capacity)
{
    const struct vm_shape *s = __atomic_load_n(&rt->object_roots[capacity], __ATOMIC_ACQUIRE);
    if (s)
        return s;
    pthread_mutex_lock(&rt->lock);
    s = rt->object_roots[capacity];
    if (!s) {
        struct object *map = heap_create_struct_map(rt->heap, 1 + capacity, 0);
        struct vm_shape *fresh = new_shape_locked(rt, VM_SHAPE_OBJECT, map);
        if (fresh) {
            fresh->capacity = capacity;
            publish_shape_locked(rt, fresh);
            __atomic_store_n(&rt->object_roots[capacity], fresh, __ATOMIC_RELEASE);
        }
        s = fresh;
    }
    pthread_mutex_unlock(&rt->lock);
    return s;
}

static struct object *context_map(struct vm_runtime *rt, uint32_t slots)
{
    struct object *map = __atomic_load_n(&rt->context_maps[slots], __ATOMIC_ACQUIRE);
    if (map)
        return map;
    pthread_mutex_lock(&rt->lock);
    map = rt->context_maps[slots];
    if (!map) {
        map = heap_create_struct_map(rt->heap, 1 + slots, 0);
        struct vm_shape *s = new_shape_locked(rt, VM_SHAPE_CONTEXT, map);
        if (s) {
            s->capacity = slots;
            publish_shape_locked(rt, s);
            __atomic_store_n(&rt->context_maps[slots], map, __ATOMIC_RELEASE);
        } else {
            map = NULL;
        }
    }
    pthread_mutex_unlock(&rt->lock);
    return map;
}

int vm_shape_find(const struct vm_shape *shape, uint32_t symbol)
{
    for (uint32_t i = shape->property_count; i-- > 0;)
        if (shape->names[i] == symbol)
            return (int)i;
    return -1;
}

const struct vm_shape *vm_shape_transition(struct vm_runtime *rt, const struct vm_shape *from,
                                           uint32_t symbol)
{
    pthread_mutex_lock(&rt->lock);
    const struct vm_shape *target = NULL;
    for (struct vm_transition *t = from->transitions; t; t = t->next)
        if (t->symbol == symbol)
            target = t->target;
    if (!target) {
        struct object *map = heap_create_struct_map(rt->heap, 1 + from->capacity, 0);
        struct vm_shape *s = new_shape_locked(rt, VM_SHAPE_OBJECT, map);
        if (s) {
            s->capacity = from->capacity;
            s->property_count = from->property_count + 1;
            s->names = platform_alloc(s->property_count * sizeof *s->names);
            if (from->property_count)
                memcpy(s->names, from->names, from->property_count * sizeof *s->names);
            s->names[from->property_count] = symbol;
            s->reps = platform_calloc(s->property_count, sizeof *s->reps);
            for (uint32_t i = 0; i < from->property_count; i++)
                atomic_init(&s->reps[i], atomic_load(&from->reps[i]));
            s->parent = from;
            publish_shape_locked(rt, s);
            struct vm_transition *t = platform_alloc(sizeof *t);
            *t = (struct vm_transition){symbol, s, from->transitions};
            ((struct vm_shape *)from)->transitions = t;
        }
        target = s;
    }
    pthread_mutex_unlock(&rt->lock);
    return target;
}

/* --- Constructors ----------------------------------------------------------------------- */

value_t vm_number_from_double(struct vm *vm, double d)
{
    int64_t smi;
    if (vm_double_is_smi(d, &smi))
        return value_from_smi(smi);
    return value_from_object(heap_new_heap_number(vm->m, d));
}

value_t vm_number_from_int(struct vm *vm, int64_t i)
{
    if (i >= VALUE_SMI_MIN && i <= VALUE_SMI_MAX)
        return value_from_smi(i);
    return vm_number_from_double(vm, (double)i);
}

value_t vm_new_object(struct vm *vm, uint32_t capacity)
{
    const struct vm_shape *root = object_root_shape(vm->rt, capacity);
    if (!root)
        return VALUE_NULL;
    size_t size = (2 + (size_t)capacity) * WORD_BYTES;
    struct object *o = heap_allocate(vm->m, root->map, size);
    object_set_raw(o, VM_OBJECT_PROPERTIES, VALUE_NULL);
    value_t undefined = vm_undefined(vm->rt);
    for (uint32_t i = 0; i < capacity; i++)
        object_set_raw(o, VM_OBJECT_INOBJECT + i, undefined);
    return value_from_object(o);
}

value_t vm_new_array(struct vm *vm, int64_t length)
{
    struct object *elements = heap_new_fixed_array(vm->m, (size_t)length);
    value_t undefined = vm_undefined(vm->rt);
    for (int64_t i = 0; i < length; i++)
        object_store(vm->m, elements, 2 + (size_t)i, undefined);
    vm->roots[VM_ROOT_SCRATCH] = value_from_object(elements);
    struct object *a = heap_allocate(vm->m, vm->rt->array_map, (1 + VM_ARRAY_FIELDS) * WORD_BYTES);
    object_set_raw(a, VM_ARRAY_LENGTH, value_from_smi(length));
    object_set_raw(a, VM_ARRAY_ELEMENTS, vm->roots[VM_ROOT_SCRATCH]);
    vm->roots[VM_ROOT_SCRATCH] = VALUE_NULL;
    return value_from_object(a);
}

value_t vm_new_context(struct vm *vm, uint32_t slots, const value_t *previous)
{
    struct object *map = context_map(vm->rt, slots);
    if (!map)
        return VALUE_NULL;
    struct object *c = heap_allocate(vm->m, map, (2 + (size_t)slots) * WORD_BYTES);
    object_set_raw(c, VM_CONTEXT_PREVIOUS, *previous);
    value_t undefined = vm_undefined(vm->rt);
    for (uint32_t i = 0; i < slots; i++)
        object_set_raw(c, VM_CONTEXT_SLOTS + i, undefined);
    return value_from_object(c);
}

value_t vm_new_closure(struct vm *vm, const value_t *shared, const value_t *context)
{
    struct object *f =
        heap_allocate(vm->m, vm->rt->function_map, (1 + VM_FUNCTION_FIELDS) * WORD_BYTES);
    object_set_raw(f, VM_FUNCTION_SHARED, *shared);
    object_set_raw(f, VM_FUNCTION_CONTEXT, *context);
    object_set_raw(f, VM_FUNCTION_CODE, vm_undefined(vm->rt));
    return value_from_object(f);
}

value_t vm_object_get_field(struct object *o, const struct vm_shape *shape, uint32_t index)
{
    if (index < shape->capacity)
        return object_get(o, VM_OBJECT_INOBJECT + index);
    struct object *properties = value_to_object(object_get(o, VM_OBJECT_PROPERTIES));
    return object_get(properties, 2 + (index - shape->capacity));
}

void vm_object_set_field(struct vm *vm, const value_t *receiver, const struct vm_shape *new_shape,
                         uint32_t index, const value_t *value)
{
    const struct vm_shape *shape = new_shape ? new_shape : vm_shape_of(vm->rt, *receiver);
    vm_field_store_check(vm, shape, index, *value);
    struct object *o = value_to_object(*receiver);
    uint32_t capacity = shape->capacity;
    if (index >= capacity) {
        size_t slot = index - capacity;
        value_t props = object_get(o, VM_OBJECT_PROPERTIES);
        size_t have = value_is_smi(props) ? 0 : object_length(value_to_object(props));
        if (slot >= have) {
            size_t length = have ? 2 * have : 4;
            struct object *grown = heap_new_fixed_array(vm->m, length);
            o = value_to_object(*receiver);
            props = object_get(o, VM_OBJECT_PROPERTIES);
            value_t undefined = vm_undefined(vm->rt);
            for (size_t i = 0; i < length; i++)
                object_set_raw(grown, 2 + i,
                               i < have ? object_get(value_to_object(props), 2 + i) : undefined);
            object_store(vm->m, o, VM_OBJECT_PROPERTIES, value_from_object(grown));
        }
        struct object *backing = value_to_object(object_get(o, VM_OBJECT_PROPERTIES));
        object_store(vm->m, backing, 2 + slot, *value);
    } else {
        object_store(vm->m, o, VM_OBJECT_INOBJECT + index, *value);
    }
    if (new_shape)
        object_store(vm->m, o, 0, value_from_object(new_shape->map));
    vm_process_invalidations(vm);
}

void vm_array_push(struct vm *vm, const value_t *array, const value_t *value)
{
    struct object *a = value_to_object(*array);
    int64_t length = value_to_smi(object_get(a, VM_ARRAY_LENGTH));
    struct object *elements = value_to_object(object_get(a, VM_ARRAY_ELEMENTS));
    size_t capacity = object_length(elements);
    if ((size_t)length == capacity) {
        size_t grown_capacity = capacity ? 2 * capacity : 4;
        struct object *grown = heap_new_fixed_array(vm->m, grown_capacity);
        a = value_to_object(*array);
        elements = value_to_object(object_get(a, VM_ARRAY_ELEMENTS));
        value_t undefined = vm_undefined(vm->rt);
        for (size_t i = 0; i < grown_capacity; i++)
            object_store(vm->m, grown, 2 + i,
                         i < (size_t)length ? object_get(elements, 2 + i) : undefined);
        object_store(vm->m, a, VM_ARRAY_ELEMENTS, value_from_object(grown));
        elements = grown;
    }
    object_store(vm->m, elements, 2 + (size_t)length, *value);
    object_store(vm->m, a, VM_ARRAY_LENGTH, value_from_smi(length + 1));
}

/* --- Values -------------------------------------------------------------------------------- */

bool vm_value_is_number(value_t v)
{
    return value_is_smi(v) ||
           (value_is_strong(v) && object_type(value_to_object(v)) == TYPE_HEAP_NUMBER);
}

bool vm_value_to_number(value_t v, double *out)
{
    if (value_is_smi(v)) {
        *out = (double)value_to_smi(v);
        return true;
    }
    if (value_is_strong(v) && object_type(value_to_object(v)) == TYPE_HEAP_NUMBER) {
        *out = heap_number_value(value_to_object(v));
        return true;
    }
    return false;
}

bool vm_value_truthy(struct vm_runtime *rt, value_t v)
{
    if (value_is_smi(v))
        return v != value_from_smi(0);
    double d;
    if (vm_value_to_number(v, &d))
        return d == d && d != 0.0;
    return v != rt->oddballs[VM_FALSE] && v != rt->oddballs[VM_UNDEFINED] &&
           v != rt->oddballs[VM_NULL] && v != rt->oddballs[VM_HOLE];
}

bool vm_value_equals_number(value_t v, struct vm_number n)
{
    if (!n.is_double && value_is_smi(v))
        return value_to_smi(v) == n.int_value;
    double d;
    if (!vm_value_to_number(v, &d))
        return false;
    return n.is_double ? d == n.double_value : d == (double)n.int_value;
}

void vm_value_format(struct vm *vm, value_t v, char *buf, size_t size)
{
    struct vm_runtime *rt = vm->rt;
    double d;
    if (value_is_smi(v)) {
        snprintf(buf, size, "%" PRId64, value_to_smi(v));
        return;
    }
    if (vm_value_to_number(v, &d)) {
        snprintf(buf, size, "%.17g", d);
        return;
    }
    static const char *const oddball_names[] = {"undefined", "null", "true", "false", "hole"};
    for (int k = 0; k < VM_ODDBALL_COUNT; k++)
        if (v == rt->oddballs[k]) {
            snprintf(buf, size, "%s", oddball_names[k]);
            return;
        }
    const struct vm_shape *s = vm_shape_of(rt, v);
    if (!s) {
        snprintf(buf, size, "[heap object]");
        return;
    }
    struct object *o = value_to_object(v);
    switch (s->kind) {
    case VM_SHAPE_OBJECT:
        snprintf(buf, size, "[object with %u propert%s]", s->property_count,
                 s->property_count == 1 ? "y" : "ies");
        return;
    case VM_SHAPE_ARRAY:
        snprintf(buf, size, "[array of length %" PRId64 "]",
                 value_to_smi(object_get(o, VM_ARRAY_LENGTH)));
        return;
    case VM_SHAPE_FUNCTION: {
        struct object *shared = value_to_object(object_get(o, VM_FUNCTION_SHARED));
        int64_t index = value_to_smi(object_get(shared, VM_SHARED_INDEX));
        snprintf(buf, size, "[function %s]", vm->module->functions[index].name);
        return;
    }
    case VM_SHAPE_CONTEXT:
        snprintf(buf, size, "[context]");
        return;
    default:
        snprintf(buf, size, "[internal]");
        return;
    }
}

/* --- Loading a module -------------------------------------------------------------------- */

static void visit_roots(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
{
    struct vm *vm = ctx;
    for (size_t i = 0; i < VM_ROOT_COUNT; i++)
        visit(&vm->roots[i], visit_ctx);
    for (size_t f = 0; f < vm->frame_count; f++) {
        struct vm_frame *fr = &vm->frames[f];
        visit(&fr->function, visit_ctx);
        visit(&fr->context, visit_ctx);
        visit(&fr->acc, visit_ctx);
        for (uint32_t r = 0; r < fr->register_count; r++)
            visit(&vm->stack[fr->base + r], visit_ctx);
    }
}

static struct object *root_object(struct vm *vm, enum vm_root r)
{
    return value_to_object(vm->roots[r]);
}

static struct object *shared_of(struct vm *vm, size_t index)
{
    return value_to_object(object_get(root_object(vm, VM_ROOT_SHARED), 2 + index));
}

static void load_function(struct vm *vm, size_t index)
{
    struct mutator *m = vm->m;
    const struct vm_function_code *fc = &vm->module->functions[index];
    struct object *shared = heap_new_struct(m, vm->rt->shared_map);
    object_set_raw(shared, VM_SHARED_NAME, value_from_smi(vm_runtime_intern(vm->rt, fc->name)));
    object_set_raw(shared, VM_SHARED_PARAMS, value_from_smi(fc->params));
    object_set_raw(shared, VM_SHARED_REGISTERS, value_from_smi(fc->registers));
    object_set_raw(shared, VM_SHARED_INDEX, value_from_smi((int64_t)index));
    object_set_raw(shared, VM_SHARED_DEOPT_COUNT, value_from_smi(0));
    object_set_raw(shared, VM_SHARED_LAST_DEOPT_REASON, value_from_smi(0));
    object_set_raw(shared, VM_SHARED_OPTIMIZED_CODE, value_from_smi(0));
    object_store(m, root_object(vm, VM_ROOT_SHARED), 2 + index, value_from_object(shared));

    struct object *bytecode = heap_new_byte_array(m, fc->length);
    memcpy(byte_array_data(bytecode), fc->code, fc->length);
    object_store(m, shared_of(vm, index), VM_SHARED_BYTECODE, value_from_object(bytecode));

    struct object *feedback = heap_new_fixed_array(m, fc->feedback_words);
    object_store(m, shared_of(vm, index), VM_SHARED_FEEDBACK, value_from_object(feedback));

    struct object *constants = heap_new_fixed_array(m, fc->constant_count);
    object_store(m, shared_of(vm, index), VM_SHARED_CONSTANTS, value_from_object(constants));
    for (size_t k = 0; k < fc->constant_count; k++) {
        const struct vm_constant *c = &fc->constants[k];
        value_t v = VALUE_NULL;
        if (c->kind == VM_CONSTANT_INT)
            v = value_from_smi(c->int_value);
        else if (c->kind == VM_CONSTANT_DOUBLE)
            v = vm_number_from_double(vm, c->double_value);
        else if (c->kind == VM_CONSTANT_NAME)
            v = value_from_smi(vm->symbols[c->index]);
        else
            continue; /* functions: once every shared info exists */
        constants = value_to_object(object_get(shared_of(vm, index), VM_SHARED_CONSTANTS));
        object_store(m, constants, 2 + k, v);
    }
}

struct vm *vm_create(struct vm_runtime *rt, struct mutator *m, const struct vm_module *module,
                     char *error, size_t error_size)
{
    const struct vm_module *mod = module;
    for (size_t i = 0; i < mod->function_count; i++) {
        for (size_t k = 0; k < mod->functions[i].constant_count; k++) {
            const struct vm_constant *c = &mod->functions[i].constants[k];
            if (c->kind == VM_CONSTANT_FUNCTION && c->index >= mod->function_count) {
                snprintf(error, error_size, "function %s: constant %zu names no function",
                         mod->functions[i].name, k);
                return NULL;
            }
        }
    }
    struct vm *vm = platform_calloc(1, sizeof *vm);
    vm->rt = rt;
    vm->m = m;
    vm->module = module;
    vm->max_frames = VM_DEFAULT_MAX_FRAMES;
    vm->frames = platform_calloc(vm->max_frames, sizeof *vm->frames);
    vm->stack = platform_calloc(VM_STACK_SLOTS, sizeof *vm->stack);
    vm->symbols = platform_calloc(mod->name_count + 1, sizeof *vm->symbols);
    for (size_t i = 0; i < mod->name_count; i++)
        vm->symbols[i] = vm_runtime_intern(rt, mod->names[i]);
    heap_add_root_provider(rt->heap, visit_roots, vm);

    struct object *globals = heap_new_fixed_array(m, mod->global_count);
    for (size_t i = 0; i < mod->global_count; i++)
        object_store(m, globals, 2 + i, rt->oddballs[VM_HOLE]);
    vm->roots[VM_ROOT_GLOBALS] = value_from_object(globals);
    vm->roots[VM_ROOT_SHARED] = value_from_object(heap_new_fixed_array(m, mod->function_count));
    vm->roots[VM_ROOT_SCRIPT_CONTEXT] = vm_new_context(vm, 0, &rt->oddballs[VM_UNDEFINED]);
    for (size_t i = 0; i < mod->function_count; i++)
        load_function(vm, i);
    for (size_t i = 0; i < mod->function_count; i++) {
        const struct vm_function_code *fc = &mod->functions[i];
        for (size_t k = 0; k < fc->constant_count; k++) {
            if (fc->constants[k].kind != VM_CONSTANT_FUNCTION)
                continue;
            struct object *constants =
                value_to_object(object_get(shared_of(vm, i), VM_SHARED_CONSTANTS));
            object_store(m, constants, 2 + k,
                         value_from_object(shared_of(vm, fc->constants[k].index)));
        }
    }
    for (size_t i = 0; i < mod->function_count; i++) {
        vm->roots[VM_ROOT_SCRATCH2] = value_from_object(shared_of(vm, i));
        value_t closure =
            vm_new_closure(vm, &vm->roots[VM_ROOT_SCRATCH2], &vm->roots[VM_ROOT_SCRIPT_CONTEXT]);
        object_store(m, root_object(vm, VM_ROOT_GLOBALS), 2 + mod->functions[i].global, closure);
    }
    vm->roots[VM_ROOT_SCRATCH2] = VALUE_NULL;
    m->vm = vm;
    return vm;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->m->vm == vm)
        vm->m->vm = NULL;
    heap_remove_root_provider(vm->rt->heap, visit_roots, vm);
    platform_free(vm->symbols);
    platform_free(vm->frames);
    platform_free(vm->stack);
    platform_free(vm);
}

bool vm_set_global(struct vm *vm, const char *name, value_t v)
{
    for (size_t i = 0; i < vm->module->global_count; i++) {
        if (strcmp(vm->module->globals[i], name) == 0) {
            object_store(vm->m, root_object(vm, VM_ROOT_GLOBALS), 2 + i, v);
            return true;
        }
    }
    return false;
}

bool vm_get_global(struct vm *vm, const char *name, value_t *out)
{
    for (size_t i = 0; i < vm->module->global_count; i++) {
        if (strcmp(vm->module->globals[i], name) == 0) {
            *out = object_get(root_object(vm, VM_ROOT_GLOBALS), 2 + i);
            return true;
        }
    }
    return false;
}
