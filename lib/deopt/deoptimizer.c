/*
 * The eager deoptimizer, after V8's Deoptimizer and TranslatedState
 * (src/deoptimizer/deoptimizer.cc and translated-state.cc): the failed guard's deopt
 * point is decoded into a C-side translated state, captured objects and unboxed doubles
 * are materialized, and the interpreter frames are written and resumed.
 *
 * Steps, in order: (1) poll the safepoint, so that a pending collection finishes before
 * any frame is touched; (2) translate: decode the point into C arrays, copying every
 * tagged value of the machine state and the literal pool into a handle, allocating
 * nothing on the heap; (3) materialize: allocate every captured object and box every
 * double in the young generation, each result going into its handle at once (a
 * collection at any of these allocations moves what is already made; nothing is held in
 * a raw pointer across one); (4) fill the objects' fields through object_store only
 * after all exist, so cycles and sharing (duplicates) need no order, and a field of an
 * object promoted meanwhile reaches the remembered set; (5) write the interpreter
 * frames, outermost first (vm_push_frame); (6) count the deopt on the outermost
 * function's shared info; (7) resume the interpreter (vm_resume).
 */
#include "deopt/deoptimizer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "platform/platform.h"

const char *deopt_reason_name(enum deopt_reason reason)
{
    static const char *const names[] = {
#define DEOPT_REASON_NAME(upper, lower) #lower,
        DEOPT_REASON_LIST(DEOPT_REASON_NAME)
#undef DEOPT_REASON_NAME
    };
    return (unsigned)reason < DEOPT_REASON_COUNT ? names[reason] : "invalid";
}

/* --- The translated state (C memory) ---------------------------------------------------- */

enum translated_kind { TRANSLATED_TAGGED, TRANSLATED_DOUBLE, TRANSLATED_OBJECT };

struct translated_value {
    enum translated_kind kind;
    uint32_t object; /* OBJECT: index in objects */
    uint64_t bits;   /* DOUBLE: raw bits */
    value_t *handle; /* TAGGED (and DOUBLE once boxed) */
};

struct translated_object {
    struct object *map;                /* maps never move or die (lib/heap) */
    bool is_array;                     /* a FIXED_ARRAY of field_count elements; else a STRUCT */
    uint32_t field_count, first_field; /* fields: values[first_field, + field_count) */
    value_t *handle;
};

struct translated_frame {
    value_t *function;
    uint32_t pc, register_count;
    uint32_t first_value; /* context, accumulator, registers */
};

struct translated_state {
    struct translated_value *values;
    size_t value_count, value_capacity;
    struct translated_object *objects;
    size_t object_count;
    struct translated_frame frames[DEOPT_MAX_FRAMES];
    uint32_t frame_count;
};

static uint32_t reserve_values(struct translated_state *ts, size_t n)
{
    if (ts->value_count + n > ts->value_capacity) {
        size_t cap = ts->value_capacity ? ts->value_capacity : 64;
        while (cap < ts->value_count + n)
            cap *= 2;
        ts->values = platform_realloc(ts->values, cap * sizeof *ts->values);
        ts->value_capacity = cap;
    }
    uint32_t first = (uint32_t)ts->value_count;
    ts->value_count += n;
    return first;
}

static uint64_t machine_word(const struct deopt_machine_state *state, struct deopt_location loc)
{
    bool in_register = loc.kind == DEOPT_LOC_REGISTER || loc.kind == DEOPT_LOC_DOUBLE_REGISTER;
    size_t count = in_register ? state->register_count : state->stack_slot_count;
    if (loc.index >= count)
        platform_fatal("deopt: %s %" PRIu32 " past the machine state's %zu",
                       deopt_location_kind_name(loc.kind), loc.index, count);
    return in_register ? state->registers[loc.index] : state->stack_slots[loc.index];
}

static void check_map(struct translated_object *o, struct heap *heap, value_t map_value)
{
    if (!value_is_strong(map_value) || object_type(value_to_object(map_value)) != TYPE_MAP)
        platform_fatal("deopt: a captured object's map literal is not a map");
    struct object *map = value_to_object(map_value);
    o->map = map;
    o->is_array = map == heap->fixed_array_map;
    if (o->is_array)
        return;
    if (map_instance_type(map) != TYPE_STRUCT)
        platform_fatal("deopt: captured object of instance type %d (STRUCT or FIXED_ARRAY only)",
                       (int)map_instance_type(map));
    if (map_raw(map, MAP_TAGGED_COUNT) != o->field_count)
        platform_fatal("deopt: captured object with %" PRIu32 " fields for a map of %" PRIuPTR,
                       o->field_count, map_raw(map, MAP_TAGGED_COUNT));
}

/* Step 2: no heap allocation (handles live in C memory). */
static void translate(struct vm *vm, struct object *bytes, struct object *literals,
                      uint32_t deopt_id, const struct deopt_machine_state *state,
                      struct translated_state *ts)
{
    struct mutator *m = vm->m;
    struct translation_iterator it;
    translation_iterator_init(&it, bytes, object_length(literals), deopt_id);
    ts->objects = platform_calloc(it.object_count ? it.object_count : 1, sizeof *ts->objects);
    struct translation_frame tf;
    while (translation_next_frame(&it, &tf)) {
        bool outermost = ts->frame_count == 0;
        struct translated_frame *f = &ts->frames[ts->frame_count++];
        f->function = handle_new(m, outermost && state->outermost_function
                                        ? *state->outermost_function
                                        : object_get(literals, 2 + tf.function_literal));
        f->pc = tf.pc;
        f->register_count = tf.register_count;
        f->first_value = reserve_values(ts, 2 + (size_t)tf.register_count);
        /* Where each location goes: a stack of (next slot, slots left) per open object. */
        uint32_t next[DEOPT_MAX_DEPTH + 1], left[DEOPT_MAX_DEPTH + 1];
        int depth = 0;
        next[0] = f->first_value;
        left[0] = 2 + tf.register_count;
        while (depth > 0 || left[0] > 0) {
            struct deopt_location loc = translation_next_location(&it);
            uint32_t at = next[depth]++;
            left[depth]--;
            struct translated_value v = {.kind = TRANSLATED_TAGGED};
            switch (loc.kind) {
            case DEOPT_LOC_REGISTER:
            case DEOPT_LOC_STACK_SLOT:
                v.handle = handle_new(m, (value_t)machine_word(state, loc));
                break;
            case DEOPT_LOC_LITERAL:
                v.handle = handle_new(m, object_get(literals, 2 + loc.index));
                break;
            case DEOPT_LOC_SMI:
                v.handle = handle_new(m, value_from_smi(loc.smi));
                break;
            case DEOPT_LOC_DOUBLE_REGISTER:
            case DEOPT_LOC_DOUBLE_STACK_SLOT:
                v.kind = TRANSLATED_DOUBLE;
                v.bits = machine_word(state, loc);
                v.handle = handle_new(m, VALUE_NULL);
                break;
            case DEOPT_LOC_CAPTURED_OBJECT: {
                v.kind = TRANSLATED_OBJECT;
                v.object = (uint32_t)ts->object_count++;
                struct translated_object *o = &ts->objects[v.object];
                o->field_count = loc.field_count;
                check_map(o, m->heap, object_get(literals, 2 + loc.index));
                o->handle = handle_new(m, VALUE_NULL);
                o->first_field = reserve_values(ts, loc.field_count);
                if (loc.field_count > 0) {
                    if (depth == DEOPT_MAX_DEPTH)
                        platform_fatal("deopt: captured objects nested deeper than %d",
                                       DEOPT_MAX_DEPTH);
                    depth++;
                    next[depth] = o->first_field;
                    left[depth] = loc.field_count;
                }
                break;
            }
            case DEOPT_LOC_DUPLICATE:
                v.kind = TRANSLATED_OBJECT;
                v.object = loc.index;
                break;
            default:
                platform_fatal("deopt: location kind %d", (int)loc.kind);
            }
            ts->values[at] = v;
            while (depth > 0 && left[depth] == 0)
                depth--;
        }
    }
}

static value_t resolve(const struct translated_state *ts, const struct translated_value *v)
{
    if (v->kind == TRANSLATED_OBJECT)
        return *ts->objects[v->object].handle;
    return *v->handle;
}

/* The generational barrier's own test (barrier_generational): will this store be
 * recorded in the remembered set? */
static bool store_is_recorded(struct object *host, value_t v)
{
    return value_is_ref(v) &&
           (page_flags(page_of_value(v)) & PAGE_POINTERS_TO_HERE_ARE_INTERESTING) &&
           (page_flags(page_of(host)) & PAGE_POINTERS_FROM_HERE_ARE_INTERESTING);
}

/* Steps 3 and 4. */
static void materialize(struct vm *vm, struct translated_state *ts, struct deopt_stats *st)
{
    struct mutator *m = vm->m;
    struct heap *heap = m->heap;
    uint64_t epoch = atomic_load_explicit(&heap->gc_epoch, memory_order_relaxed);
    for (size_t i = 0; i < ts->object_count; i++) {
        struct translated_object *t = &ts->objects[i];
        struct object *o =
            t->is_array ? heap_new_fixed_array(m, t->field_count) : heap_new_struct(m, t->map);
        *t->handle = value_from_object(o);
        st->materialized_objects++;
        st->materialized_bytes += object_size(o);
    }
    for (size_t i = 0; i < ts->value_count; i++) {
        struct translated_value *v = &ts->values[i];
        if (v->kind != TRANSLATED_DOUBLE)
            continue;
        double d;
        memcpy(&d, &v->bits, sizeof d);
        int64_t smi;
        v->kind = TRANSLATED_TAGGED;
        if (vm_double_is_smi(d, &smi)) { /* canonical numbers (lib/vm): no box */
            *v->handle = value_from_smi(smi);
            continue;
        }
        struct object *box = heap_new_heap_number(m, d);
        *v->handle = value_from_object(box);
        st->materialized_objects++;
        st->boxed_doubles++;
        st->materialized_bytes += object_size(box);
    }
    st->gcs_during_materialization =
        atomic_load_explicit(&heap->gc_epoch, memory_order_relaxed) - epoch;
    /* No allocation from here on: raw pointers are safe. */
    for (size_t i = 0; i < ts->object_count; i++) {
        struct translated_object *t = &ts->objects[i];
        struct object *o = handle_object(t->handle);
        size_t first_word = t->is_array ? 2 : 1;
        for (uint32_t j = 0; j < t->field_count; j++) {
            value_t v = resolve(ts, &ts->values[t->first_field + j]);
            if (store_is_recorded(o, v))
                st->barrier_records++;
            object_store(m, o, first_word + j, v);
        }
        /* A captured object's fields were never stored through the VM: a value that does
         * not fit its class's field representation generalizes it now (no allocation). */
        if (!t->is_array)
            vm_object_check_fields(vm, o);
    }
}

/* Step 5: no allocation. Returns the depth below the new frames, or -1. */
static int write_frames(struct vm *vm, const struct translated_state *ts, size_t *base_depth)
{
    size_t depth = vm->frame_count, top = vm->stack_top;
    *base_depth = depth;
    for (uint32_t i = 0; i < ts->frame_count; i++) {
        const struct translated_frame *f = &ts->frames[i];
        value_t regs[VM_MAX_REGISTERS];
        if (f->register_count > VM_MAX_REGISTERS)
            platform_fatal("deopt: frame with %" PRIu32 " registers", f->register_count);
        for (uint32_t r = 0; r < f->register_count; r++)
            regs[r] = resolve(ts, &ts->values[f->first_value + 2 + r]);
        value_t context = resolve(ts, &ts->values[f->first_value]);
        value_t acc = resolve(ts, &ts->values[f->first_value + 1]);
        if (vm_push_frame(vm, *f->function, context, f->pc, acc, regs, f->register_count) != 0) {
            vm->frame_count = depth;
            vm->stack_top = top;
            return -1;
        }
    }
    return 0;
}

/* Step 6: the deopt count and last reason on the shared info (Smis: no barrier record,
 * but object_store all the same). */
static void record_deopt(struct vm *vm, value_t function, enum deopt_reason reason,
                         struct deopt_stats *st)
{
    struct object *shared =
        value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
    /* A soft deopt (a site that had no feedback when the code was compiled) does not count
     * against re-optimization: the interpreter now collects the feedback it lacked. Nor
     * does a lazy one (a dependency changed): no guard of the code failed, and one
     * generalization deoptimizes every activation of the code on the stack. */
    int64_t n = value_to_smi(object_get(shared, VM_SHARED_DEOPT_COUNT));
    if (reason != DEOPT_REASON_INSUFFICIENT_FEEDBACK && reason != DEOPT_REASON_DEPENDENCY_CHANGED)
        object_store(vm->m, shared, VM_SHARED_DEOPT_COUNT, value_from_smi(n + 1));
    object_store(vm->m, shared, VM_SHARED_LAST_DEOPT_REASON, value_from_smi((int64_t)reason));
    st->function = (uint32_t)value_to_smi(object_get(shared, VM_SHARED_INDEX));
}

int deopt_eager(struct vm *vm, const value_t *bytes_slot, const value_t *literals_slot,
                uint32_t deopt_id, enum deopt_reason reason,
                const struct deopt_machine_state *state, struct deopt_stats *stats, value_t *result)
{
    struct deopt_stats local;
    struct deopt_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    st->deopt_id = deopt_id;
    st->reason = reason;
    struct mutator *m = vm->m;
    uint64_t start = platform_now_ns();
    st->start_ns = start;

    /* waited_for_gc_us: the time in the entry poll when a collection ran in it (it was
     * pending when the guard failed), else 0: the poll's own check is not a wait. */
    uint64_t epoch_before = atomic_load_explicit(&m->heap->gc_epoch, memory_order_relaxed);
    mutator_poll(m);
    uint64_t polled = platform_now_ns();
    st->after_poll_ns = polled;
    if (atomic_load_explicit(&m->heap->gc_epoch, memory_order_relaxed) != epoch_before)
        st->waited_for_gc_us = (double)(polled - start) / 1e3;
    if (state->after_entry_poll)
        state->after_entry_poll(state->after_entry_poll_ctx);

    struct handle_scope scope;
    handle_scope_open(m, &scope);
    struct translated_state ts = {0};
    struct object *literals = value_to_object(*literals_slot);
    if (object_type(literals) != TYPE_FIXED_ARRAY)
        platform_fatal("deopt: the literal pool is not a fixed array");
    translate(vm, value_to_object(*bytes_slot), literals, deopt_id, state, &ts);
    st->frames = ts.frame_count;
    st->bytecode_offset = ts.frames[ts.frame_count - 1].pc;

    materialize(vm, &ts, st);
    size_t base_depth;
    int rc = write_frames(vm, &ts, &base_depth);
    if (rc == 0)
        record_deopt(vm, *ts.frames[0].function, reason, st);
    platform_free(ts.values);
    platform_free(ts.objects);
    handle_scope_close(m, &scope);
    st->duration_us = (double)(platform_now_ns() - start) / 1e3;
    if (rc != 0) {
        char prefix[32];
        int n = snprintf(prefix, sizeof prefix, "deopt %" PRIu32 ": ", deopt_id);
        size_t len = strnlen(vm->error, sizeof vm->error - 1 - (size_t)n);
        memmove(vm->error + n, vm->error, len);
        memcpy(vm->error, prefix, (size_t)n);
        vm->error[(size_t)n + len] = '\0';
        vm_process_invalidations(vm);
        return -1;
    }
    /* The frames are written: a collection may run (the handshakes of a generalization
     * that materialization made). */
    vm_process_invalidations(vm);
    if (state->before_resume)
        state->before_resume(state->before_resume_ctx, st);
    return vm_resume(vm, base_depth, result);
}
