/*
 * The interpreter of lib/vm: a loop over the bytecode of the top frame, after V8's
 * Ignition (an accumulator machine whose registers live in a frame). Frames live in C
 * memory (struct vm_frame and vm->stack), visited precisely as roots by the collector
 * (objects.c, visit_roots), so the only heap pointers the loop caches are the current
 * function's bytecode, constant pool and feedback vector.
 *
 * Invariant: across anything that may collect (an allocation, a call, a safepoint poll:
 * every function entry and every loop back-edge) the loop holds no raw heap pointer and
 * no tagged value outside a frame slot; after it, RELOAD re-derives the cached pointers
 * from the frame's function. The accumulator is always the frame's own slot (fp->acc).
 *
 * Feedback (for an optimizing tier to come): each arithmetic and compare site keeps a
 * type lattice (none < smi < number < any), each named-property site up to four
 * (map, handler) pairs (monomorphic, polymorphic, then megamorphic), each keyed site the
 * kinds of access it saw, each call site a count and its target (or megamorphic).
 * Functions count invocations and back-edges; when a count passes its threshold the
 * shared info asks for tier-up (VM_SHARED_FLAG_TIERUP_REQUESTED).
 *
 * The optimizing tier (lib/jit) is reached through vm->tier only: at a Call and in
 * vm_call, a callee the tier wants (it has optimized code or asks for it) is run by
 * tier->call instead of a pushed frame. The caller's frame keeps its pc past the Call
 * and its registers (the arguments) stay rooted there; after the call RELOAD runs, as
 * after any call. An error from the tier unwinds the frames like fail() but keeps the
 * tier's message.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "gc/gc.h"
#include "vm/vm.h"

#define VM_MAX_ARRAY_LENGTH ((int64_t)1 << 24)

struct interp {
    struct vm *vm;
    struct vm_frame *fp;
    value_t *regs;
    const uint8_t *code;
    struct object *shared, *constants, *feedback;
    uint64_t epoch;
};

static void reload(struct interp *in)
{
    struct vm *vm = in->vm;
    struct vm_frame *fp = in->fp;
    uint64_t epoch = atomic_load_explicit(&vm->m->heap->gc_epoch, memory_order_relaxed);
    if (epoch != in->epoch) {
        vm->stats.reloads_after_gc++;
        in->epoch = epoch;
    }
    in->shared = value_to_object(object_get(value_to_object(fp->function), VM_FUNCTION_SHARED));
    in->code = byte_array_data(value_to_object(object_get(in->shared, VM_SHARED_BYTECODE)));
    in->constants = value_to_object(object_get(in->shared, VM_SHARED_CONSTANTS));
    in->feedback = value_to_object(object_get(in->shared, VM_SHARED_FEEDBACK));
    in->regs = vm->stack + fp->base;
}

static const char *function_name_of(struct vm *vm, value_t function)
{
    struct object *shared =
        value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
    return vm->module->functions[value_to_smi(object_get(shared, VM_SHARED_INDEX))].name;
}

/* Unwinds to base_depth and leaves "function@offset: message" in vm->error. */
static int fail(struct interp *in, size_t base_depth, uint32_t pc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct interp *in, size_t base_depth, uint32_t pc, const char *fmt, ...)
{
    struct vm *vm = in->vm;
    char message[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    snprintf(vm->error, sizeof vm->error, "%s@%" PRIu32 ": %s",
             function_name_of(vm, in->fp->function), pc, message);
    vm->stack_top = vm->frames[base_depth].base;
    vm->frame_count = base_depth;
    return -1;
}

static void describe(struct vm *vm, value_t v, char *buf, size_t size)
{
    vm_value_format(vm, v, buf, size);
}

static int64_t smi_field(struct object *o, size_t word)
{
    return value_to_smi(object_get(o, word));
}

/* Counts toward tier-up (word: invocations or back-edges of shared); the tier (vm->tier)
 * acts on the request at the next call, or at a back-edge by on-stack replacement. */
int64_t vm_tierup_invocations = VM_TIERUP_INVOCATIONS, vm_tierup_backedges = VM_TIERUP_BACKEDGES;

int64_t vm_count_shared(struct vm *vm, struct object *shared, size_t word, int64_t threshold)
{
    int64_t n = smi_field(shared, word);
    if (n < VALUE_SMI_MAX)
        object_store(vm->m, shared, word, value_from_smi(n + 1));
    int64_t flags = smi_field(shared, VM_SHARED_FLAGS);
    if (n + 1 >= threshold && !(flags & VM_SHARED_FLAG_TIERUP_REQUESTED)) {
        flags |= VM_SHARED_FLAG_TIERUP_REQUESTED;
        object_store(vm->m, shared, VM_SHARED_FLAGS, value_from_smi(flags));
        vm->stats.tierup_requests++;
    }
    return flags;
}

static int64_t count(struct interp *in, size_t word, int64_t threshold)
{
    return vm_count_shared(in->vm, in->shared, word, threshold);
}

static void feedback_join(struct interp *in, uint32_t slot, enum vm_type_feedback seen)
{
    int64_t old = value_to_smi(object_get(in->feedback, 2 + slot));
    if (seen > old)
        object_store(in->vm->m, in->feedback, 2 + slot, value_from_smi(seen));
}

static void keyed_feedback(struct interp *in, uint32_t slot, int64_t bit)
{
    int64_t old = value_to_smi(object_get(in->feedback, 2 + slot));
    if (!(old & bit))
        object_store(in->vm->m, in->feedback, 2 + slot, value_from_smi(old | bit));
}

static void property_feedback(struct interp *in, uint32_t slot, struct object *map, value_t handler)
{
    struct object *fb = in->feedback;
    size_t base = 2 + slot;
    int64_t state = value_to_smi(object_get(fb, base));
    if (state == VM_IC_MEGAMORPHIC)
        return;
    value_t map_value = value_from_object(map);
    int used = 0;
    for (int i = 0; i < VM_POLYMORPHIC_MAPS; i++) {
        value_t entry = object_get(fb, base + 1 + 2 * (size_t)i);
        if (entry == map_value) {
            object_store(in->vm->m, fb, base + 2 + 2 * (size_t)i, handler);
            return;
        }
        if (entry != VALUE_NULL)
            used++;
    }
    if (used == VM_POLYMORPHIC_MAPS) {
        object_store(in->vm->m, fb, base, value_from_smi(VM_IC_MEGAMORPHIC));
        return;
    }
    object_store(in->vm->m, fb, base + 1 + 2 * (size_t)used, map_value);
    object_store(in->vm->m, fb, base + 2 + 2 * (size_t)used, handler);
    object_store(in->vm->m, fb, base,
                 value_from_smi(used == 0 ? VM_IC_MONOMORPHIC : VM_IC_POLYMORPHIC));
}

/* The handler recorded for map at a property site, or VALUE_CLEARED if none. */
static value_t property_lookup(struct interp *in, uint32_t slot, struct object *map)
{
    struct object *fb = in->feedback;
    size_t base = 2 + slot;
    value_t map_value = value_from_object(map);
    for (int i = 0; i < VM_POLYMORPHIC_MAPS; i++)
        if (object_get(fb, base + 1 + 2 * (size_t)i) == map_value)
            return object_get(fb, base + 2 + 2 * (size_t)i);
    return VALUE_CLEARED;
}

#define arith_result vm_arith_result
#define ARITH_SMI VM_ARITH_SMI
#define ARITH_DOUBLE VM_ARITH_DOUBLE
#define ARITH_TYPE_ERROR VM_ARITH_TYPE_ERROR

static bool smi_fits(int64_t v) { return v >= VALUE_SMI_MIN && v <= VALUE_SMI_MAX; }

static enum vm_type_feedback type_of(value_t a, value_t b)
{
    if (value_is_smi(a) && value_is_smi(b))
        return VM_TYPE_SMI;
    if (vm_value_is_number(a) && vm_value_is_number(b))
        return VM_TYPE_NUMBER;
    return VM_TYPE_ANY;
}

static bool is_kind(struct vm *vm, value_t v, enum vm_shape_kind kind)
{
    const struct vm_shape *s = vm_shape_of(vm->rt, v);
    return s && s->kind == kind;
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Pushes a frame for function (which must be a VM function) with its registers set
 * from registers[0, count) and the rest undefined. No allocation. */
static int push_frame(struct vm *vm, value_t function, value_t context, uint32_t pc, value_t acc,
                      const value_t *registers, size_t count, size_t params, char *why,
                      size_t why_size)
{
    struct object *shared =
        value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
    size_t register_count = (size_t)value_to_smi(object_get(shared, VM_SHARED_REGISTERS));
    if (vm->frame_count >= vm->max_frames || vm->stack_top + register_count > VM_STACK_SLOTS) {
        snprintf(why, why_size,
                 "stack overflow: more than %zu frames (or %zu register slots) "
                 "deep, calling %s",
                 vm->max_frames, VM_STACK_SLOTS, function_name_of(vm, function));
        return -1;
    }
    struct vm_frame *f = &vm->frames[vm->frame_count];
    f->function = function;
    f->context = context;
    f->acc = acc;
    f->pc = pc;
    f->base = (uint32_t)vm->stack_top;
    f->register_count = (uint32_t)register_count;
    value_t undefined = vm_undefined(vm->rt);
    value_t *regs = vm->stack + f->base;
    for (size_t i = 0; i < register_count; i++)
        regs[i] = i < count && i < params ? registers[i] : undefined;
    vm->stack_top += register_count;
    vm->frame_count++;
    return 0;
}

#define OPERAND(k) (code + pc + (k))
#define REG(k) (in.regs[code[pc + (k)]])
#define ACC (in.fp->acc)
#define RELOAD() (reload(&in), code = in.code)
#define FAIL(...) return fail(&in, base_depth, pc, __VA_ARGS__)
#define NEXT() (pc += sizes[op].size_bytes)

int vm_resume(struct vm *vm, size_t base_depth, value_t *result)
{
    if (vm->frame_count <= base_depth) {
        snprintf(vm->error, sizeof vm->error, "vm_resume: no frame above depth %zu", base_depth);
        return -1;
    }
    struct vm_runtime *rt = vm->rt;
    struct mutator *m = vm->m;
    const struct vm_opcode_info *sizes = vm_opcode_table();
    struct interp in = {.vm = vm, .fp = &vm->frames[vm->frame_count - 1]};
    in.epoch = atomic_load_explicit(&m->heap->gc_epoch, memory_order_relaxed);
    /* The entry polls (a deoptimizer's frames resume here too). */
    vm->stats.polls++;
    mutator_poll(m);
    const uint8_t *code;
    RELOAD();
    uint32_t pc = in.fp->pc;
    char text[2][96];
    value_t returned; /* the value a popped frame hands its caller (Return, OSR) */

    for (;;) {
        enum vm_opcode op = (enum vm_opcode)code[pc];
        switch (op) {
        case VM_OP_LdaSmi:
            ACC = value_from_smi((int32_t)u32(OPERAND(1)));
            break;
        case VM_OP_LdaConstant:
            ACC = object_get(in.constants, 2 + u16(OPERAND(1)));
            break;
        case VM_OP_LdaUndefined:
            ACC = rt->oddballs[VM_UNDEFINED];
            break;
        case VM_OP_LdaNull:
            ACC = rt->oddballs[VM_NULL];
            break;
        case VM_OP_LdaTrue:
            ACC = rt->oddballs[VM_TRUE];
            break;
        case VM_OP_LdaFalse:
            ACC = rt->oddballs[VM_FALSE];
            break;
        case VM_OP_Ldar:
            ACC = REG(1);
            break;
        case VM_OP_Star:
            REG(1) = ACC;
            break;
        case VM_OP_Mov:
            REG(2) = REG(1);
            break;
        case VM_OP_Add:
        case VM_OP_Sub:
        case VM_OP_Mul:
        case VM_OP_Div:
        case VM_OP_Mod: {
            value_t lhs = REG(1), rhs = ACC;
            int64_t smi = 0;
            double d = 0;
            enum vm_type_feedback seen = type_of(lhs, rhs);
            enum arith_result r = vm_arith(op, lhs, rhs, &smi, &d);
            if (seen == VM_TYPE_SMI && r == ARITH_DOUBLE)
                seen = VM_TYPE_NUMBER;
            feedback_join(&in, u16(OPERAND(2)), seen);
            if (r == ARITH_TYPE_ERROR) {
                describe(vm, lhs, text[0], sizeof text[0]);
                describe(vm, rhs, text[1], sizeof text[1]);
                FAIL("%s needs numbers, got %s and %s", sizes[op].name, text[0], text[1]);
            }
            if (r == ARITH_SMI) {
                ACC = value_from_smi(smi);
            } else {
                in.fp->pc = pc;
                ACC = vm_number_from_double(vm, d);
                RELOAD();
            }
            break;
        }
        case VM_OP_Inc:
        case VM_OP_Dec:
        case VM_OP_Negate: {
            value_t v = ACC;
            double d = 0;
            if (value_is_smi(v)) {
                int64_t a = value_to_smi(v);
                int64_t r = op == VM_OP_Inc ? a + 1 : op == VM_OP_Dec ? a - 1 : -a;
                if (smi_fits(r) && !(op == VM_OP_Negate && a == 0)) {
                    feedback_join(&in, u16(OPERAND(1)), VM_TYPE_SMI);
                    ACC = value_from_smi(r);
                    break;
                }
                d = (double)r;
                if (op == VM_OP_Negate && a == 0)
                    d = -0.0;
            } else if (vm_value_to_number(v, &d)) {
                d = op == VM_OP_Inc ? d + 1 : op == VM_OP_Dec ? d - 1 : -d;
            } else {
                feedback_join(&in, u16(OPERAND(1)), VM_TYPE_ANY);
                describe(vm, v, text[0], sizeof text[0]);
                FAIL("%s needs a number, got %s", sizes[op].name, text[0]);
            }
            feedback_join(&in, u16(OPERAND(1)), VM_TYPE_NUMBER);
            in.fp->pc = pc;
            ACC = vm_number_from_double(vm, d);
            RELOAD();
            break;
        }
        case VM_OP_TestEqual:
        case VM_OP_TestLessThan:
        case VM_OP_TestLessThanOrEqual:
        case VM_OP_TestGreaterThan:
        case VM_OP_TestGreaterThanOrEqual: {
            value_t lhs = REG(1), rhs = ACC;
            enum vm_type_feedback seen = type_of(lhs, rhs);
            feedback_join(&in, u16(OPERAND(2)), seen);
            bool r;
            if (seen == VM_TYPE_SMI) {
                int64_t a = value_to_smi(lhs), b = value_to_smi(rhs);
                r = vm_compare_ints(op, a, b);
            } else if (seen == VM_TYPE_NUMBER) {
                double a, b;
                vm_value_to_number(lhs, &a);
                vm_value_to_number(rhs, &b);
                r = vm_compare_doubles(op, a, b);
            } else if (op == VM_OP_TestEqual) {
                r = lhs == rhs;
            } else {
                describe(vm, lhs, text[0], sizeof text[0]);
                describe(vm, rhs, text[1], sizeof text[1]);
                FAIL("%s needs numbers, got %s and %s", sizes[op].name, text[0], text[1]);
            }
            ACC = vm_boolean(rt, r);
            break;
        }
        case VM_OP_LogicalNot:
            ACC = vm_boolean(rt, !vm_value_truthy(rt, ACC));
            break;
        case VM_OP_Jump:
            pc = u32(OPERAND(1));
            continue;
        case VM_OP_JumpIfTrue:
        case VM_OP_JumpIfFalse:
            if (vm_value_truthy(rt, ACC) == (op == VM_OP_JumpIfTrue)) {
                pc = u32(OPERAND(1));
                continue;
            }
            break;
        case VM_OP_JumpLoop: {
            uint32_t target = u32(OPERAND(1));
            vm->stats.backedges++;
            if (vm->step_limit && vm->stats.backedges + vm->stats.calls > vm->step_limit)
                FAIL("step limit reached (%" PRIu64 " back-edges and calls)", vm->step_limit);
            if (vm->allocation_limit && vm->m->allocated_bytes > vm->allocation_limit)
                FAIL("allocation limit reached (%" PRIu64 " bytes)", vm->allocation_limit);
            int64_t flags = count(&in, VM_SHARED_BACKEDGES, vm_tierup_backedges);
            in.fp->pc = target;
            vm->stats.polls++;
            mutator_poll(m);
            RELOAD();
            /* (The poll may collect, but only this thread changes the flags.) */
            if (vm->tier && vm->tier->osr &&
                (flags & (VM_SHARED_FLAG_TIERUP_REQUESTED | VM_SHARED_FLAG_NO_OPT)) ==
                    VM_SHARED_FLAG_TIERUP_REQUESTED) {
                /* On-stack replacement: the tier's code takes this frame over from the
                 * loop's header and returns what the frame would have. */
                value_t r;
                int rc = vm->tier->osr(vm->tier_ctx, vm, pc, &r);
                if (rc < 0) {
                    vm->stack_top = vm->frames[base_depth].base;
                    vm->frame_count = base_depth;
                    return -1;
                }
                if (rc > 0) { /* the tier popped the frame: as its Return would go on */
                    returned = r;
                    goto frame_popped;
                }
                RELOAD();
            }
            pc = target;
            continue;
        }
        case VM_OP_CreateObject: {
            in.fp->pc = pc;
            value_t o = vm_new_object(vm, code[pc + 1]);
            if (o == VALUE_NULL)
                FAIL("too many hidden classes (the runtime holds %d maps)", VM_MAX_MAPS);
            ACC = o;
            RELOAD();
            break;
        }
        case VM_OP_LdaNamedProperty:
        case VM_OP_StaNamedProperty: {
            value_t receiver = REG(1);
            uint32_t symbol = (uint32_t)value_to_smi(object_get(in.constants, 2 + u16(OPERAND(2))));
            uint32_t slot = u16(OPERAND(4));
            const struct vm_shape *shape = vm_shape_of(rt, receiver);
            if (!shape || shape->kind != VM_SHAPE_OBJECT) {
                describe(vm, receiver, text[0], sizeof text[0]);
                FAIL("cannot %s property '%s' of %s", op == VM_OP_LdaNamedProperty ? "read" : "set",
                     vm_runtime_symbol_name(rt, symbol), text[0]);
            }
            struct object *o = value_to_object(receiver);
            value_t handler = property_lookup(&in, slot, shape->map);
            if (op == VM_OP_LdaNamedProperty) {
                if (handler == VALUE_CLEARED) {
                    handler = value_from_smi(vm_shape_find(shape, symbol));
                    property_feedback(&in, slot, shape->map, handler);
                }
                int64_t index = value_to_smi(handler);
                ACC = index < 0 ? rt->oddballs[VM_UNDEFINED]
                                : vm_object_get_field(o, shape, (uint32_t)index);
                break;
            }
            if (handler == VALUE_CLEARED) {
                int index = vm_shape_find(shape, symbol);
                if (index >= 0) {
                    handler = value_from_smi(index);
                } else {
                    const struct vm_shape *next = vm_shape_transition(rt, shape, symbol);
                    if (!next)
                        FAIL("too many hidden classes (the runtime holds %d maps)", VM_MAX_MAPS);
                    handler = value_from_object(next->map);
                }
                property_feedback(&in, slot, shape->map, handler);
            }
            in.fp->pc = pc;
            /* Either may collect: a transition may grow the backing store, and a store that
             * generalizes a field makes handshakes, during which another thread may run
             * a collection (lib/vm fields.c). */
            if (value_is_smi(handler)) {
                vm_object_set_field(vm, &REG(1), NULL, (uint32_t)value_to_smi(handler), &ACC);
            } else {
                const struct vm_shape *next = vm_shape_of_map(rt, value_to_object(handler));
                vm_object_set_field(vm, &REG(1), next, next->property_count - 1, &ACC);
            }
            RELOAD();
            break;
        }
        case VM_OP_CreateArray: {
            value_t length = ACC;
            if (!value_is_smi(length) || value_to_smi(length) < 0 ||
                value_to_smi(length) > VM_MAX_ARRAY_LENGTH) {
                describe(vm, length, text[0], sizeof text[0]);
                FAIL("CreateArray needs a length 0..%" PRId64 ", got %s", VM_MAX_ARRAY_LENGTH,
                     text[0]);
            }
            if (vm_array_past_allocation_limit(vm, value_to_smi(length)))
                FAIL("allocation limit reached (%" PRIu64 " bytes)", vm->allocation_limit);
            in.fp->pc = pc;
            ACC = vm_new_array(vm, value_to_smi(length));
            RELOAD();
            break;
        }
        case VM_OP_LdaKeyedProperty:
        case VM_OP_StaKeyedProperty: {
            bool load = op == VM_OP_LdaKeyedProperty;
            value_t receiver = REG(1);
            value_t key = load ? ACC : REG(2);
            uint32_t slot = u16(OPERAND(load ? 2 : 3));
            if (!is_kind(vm, receiver, VM_SHAPE_ARRAY)) {
                describe(vm, receiver, text[0], sizeof text[0]);
                FAIL("cannot index %s: not an array", text[0]);
            }
            if (!value_is_smi(key)) {
                describe(vm, key, text[0], sizeof text[0]);
                FAIL("an array index must be a small integer, got %s", text[0]);
            }
            struct object *a = value_to_object(receiver);
            int64_t index = value_to_smi(key), length = smi_field(a, VM_ARRAY_LENGTH);
            if (index >= 0 && index < length) {
                keyed_feedback(&in, slot, VM_KEYED_IN_BOUNDS);
                struct object *elements = value_to_object(object_get(a, VM_ARRAY_ELEMENTS));
                if (load)
                    ACC = object_get(elements, 2 + (size_t)index);
                else
                    object_store(m, elements, 2 + (size_t)index, ACC);
                break;
            }
            if (!load && index == length && length < VM_MAX_ARRAY_LENGTH) {
                keyed_feedback(&in, slot, VM_KEYED_APPEND);
                in.fp->pc = pc;
                vm_array_push(vm, &REG(1), &ACC);
                RELOAD();
                break;
            }
            FAIL("index %" PRId64 " is out of bounds for an array of length %" PRId64, index,
                 length);
        }
        case VM_OP_CreateClosure: {
            vm->roots[VM_ROOT_SCRATCH2] = object_get(in.constants, 2 + u16(OPERAND(1)));
            in.fp->pc = pc;
            ACC = vm_new_closure(vm, &vm->roots[VM_ROOT_SCRATCH2], &in.fp->context);
            vm->roots[VM_ROOT_SCRATCH2] = VALUE_NULL;
            RELOAD();
            break;
        }
        case VM_OP_PushContext: {
            in.fp->pc = pc;
            value_t c = vm_new_context(vm, code[pc + 1], &in.fp->context);
            if (c == VALUE_NULL)
                FAIL("too many hidden classes (the runtime holds %d maps)", VM_MAX_MAPS);
            in.fp->context = c;
            RELOAD();
            break;
        }
        case VM_OP_PopContext: {
            value_t previous = object_get(value_to_object(in.fp->context), VM_CONTEXT_PREVIOUS);
            if (!is_kind(vm, previous, VM_SHAPE_CONTEXT))
                FAIL("PopContext without a context to return to");
            in.fp->context = previous;
            break;
        }
        case VM_OP_LdaContextSlot:
        case VM_OP_StaContextSlot: {
            uint32_t depth = code[pc + 1], index = code[pc + 2];
            value_t c = in.fp->context;
            for (uint32_t d = 0; d < depth && is_kind(vm, c, VM_SHAPE_CONTEXT); d++)
                c = object_get(value_to_object(c), VM_CONTEXT_PREVIOUS);
            const struct vm_shape *s = vm_shape_of(rt, c);
            if (!s || s->kind != VM_SHAPE_CONTEXT || index >= s->capacity)
                FAIL("no context slot %u at depth %u", index, depth);
            if (op == VM_OP_LdaContextSlot)
                ACC = object_get(value_to_object(c), VM_CONTEXT_SLOTS + index);
            else
                object_store(m, value_to_object(c), VM_CONTEXT_SLOTS + index, ACC);
            break;
        }
        case VM_OP_LdaGlobal: {
            uint16_t g = u16(OPERAND(1));
            value_t v = object_get(value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + g);
            if (v == rt->oddballs[VM_HOLE])
                FAIL("global '%s' is not defined", vm->module->globals[g]);
            ACC = v;
            break;
        }
        case VM_OP_StaGlobal:
            object_store(m, value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + u16(OPERAND(1)), ACC);
            break;
        case VM_OP_Call: {
            value_t callee = REG(1);
            uint32_t first = code[pc + 2], argc = code[pc + 3], slot = u16(OPERAND(4));
            int64_t calls = smi_field(in.feedback, 2 + slot);
            if (calls < VALUE_SMI_MAX)
                object_store(m, in.feedback, 2 + slot, value_from_smi(calls + 1));
            value_t target = object_get(in.feedback, 3 + slot);
            if (target == VALUE_NULL)
                object_store(m, in.feedback, 3 + slot, callee);
            else if (target != callee && target != rt->oddballs[VM_HOLE])
                object_store(m, in.feedback, 3 + slot, rt->oddballs[VM_HOLE]);
            if (!is_kind(vm, callee, VM_SHAPE_FUNCTION)) {
                describe(vm, callee, text[0], sizeof text[0]);
                FAIL("calling a non-function: %s", text[0]);
            }
            struct object *f = value_to_object(callee);
            struct object *shared = value_to_object(object_get(f, VM_FUNCTION_SHARED));
            in.fp->pc = pc + sizes[op].size_bytes; /* where the callee returns */
            if (vm->tier && vm->tier->wants(vm->tier_ctx, vm, callee)) {
                vm->stats.calls++;
                if (vm->step_limit && vm->stats.backedges + vm->stats.calls > vm->step_limit)
                    FAIL("step limit reached (%" PRIu64 " back-edges and calls)", vm->step_limit);
                if (vm->allocation_limit && vm->m->allocated_bytes > vm->allocation_limit)
                    FAIL("allocation limit reached (%" PRIu64 " bytes)", vm->allocation_limit);
                vm_count_shared(vm, shared, VM_SHARED_INVOCATIONS, vm_tierup_invocations);
                value_t r;
                if (vm->tier->call(vm->tier_ctx, vm, &REG(1), in.regs + first, argc, &r) != 0) {
                    vm->stack_top = vm->frames[base_depth].base;
                    vm->frame_count = base_depth;
                    return -1;
                }
                ACC = r;
                RELOAD();
                break;
            }
            char why[192];
            if (push_frame(vm, callee, object_get(f, VM_FUNCTION_CONTEXT), 0,
                           rt->oddballs[VM_UNDEFINED], in.regs + first, argc,
                           (size_t)smi_field(shared, VM_SHARED_PARAMS), why, sizeof why) != 0)
                FAIL("%s", why);
            vm->stats.calls++;
            if (vm->step_limit && vm->stats.backedges + vm->stats.calls > vm->step_limit)
                FAIL("step limit reached (%" PRIu64 " back-edges and calls)", vm->step_limit);
            if (vm->allocation_limit && vm->m->allocated_bytes > vm->allocation_limit)
                FAIL("allocation limit reached (%" PRIu64 " bytes)", vm->allocation_limit);
            in.fp = &vm->frames[vm->frame_count - 1];
            RELOAD();
            count(&in, VM_SHARED_INVOCATIONS, vm_tierup_invocations);
            vm->stats.polls++;
            mutator_poll(m);
            RELOAD();
            pc = 0;
            continue;
        }
        case VM_OP_CallIntrinsic: {
            enum vm_intrinsic id = code[pc + 1];
            value_t arg = code[pc + 3] ? REG(2) : VALUE_NULL;
            double d = 0;
            in.fp->pc = pc;
            if (id == VM_INTRINSIC_collect_garbage || id == VM_INTRINSIC_full_gc) {
                gc_collect(m->heap, m,
                           id == VM_INTRINSIC_full_gc ? COLLECT_FULL : COLLECT_SCAVENGE);
                ACC = rt->oddballs[VM_UNDEFINED];
                RELOAD();
                break;
            }
            if (id == VM_INTRINSIC_await_collection_request ||
                id == VM_INTRINSIC_collect_when_awaited) {
                char why[160];
                int rc = id == VM_INTRINSIC_collect_when_awaited
                             ? vm_collect_when_awaited(vm, why, sizeof why)
                             : vm_await_collection_request(vm, arg, why, sizeof why);
                if (rc != 0)
                    FAIL("%s", why);
                ACC = rt->oddballs[VM_UNDEFINED];
                RELOAD();
                break;
            }
            if (id == VM_INTRINSIC_length) {
                if (!is_kind(vm, arg, VM_SHAPE_ARRAY)) {
                    describe(vm, arg, text[0], sizeof text[0]);
                    FAIL("length needs an array, got %s", text[0]);
                }
                ACC = object_get(value_to_object(arg), VM_ARRAY_LENGTH);
                break;
            }
            if (!vm_value_to_number(arg, &d)) {
                describe(vm, arg, text[0], sizeof text[0]);
                FAIL("%s needs a number, got %s", vm_intrinsic_name(id), text[0]);
            }
            if (value_is_smi(arg) && id != VM_INTRINSIC_sqrt) {
                int64_t i = value_to_smi(arg);
                if (id == VM_INTRINSIC_floor || i >= 0) {
                    ACC = arg;
                    break;
                }
                ACC = vm_number_from_int(vm, -i);
                RELOAD();
                break;
            }
            d = id == VM_INTRINSIC_sqrt ? sqrt(d) : id == VM_INTRINSIC_floor ? floor(d) : fabs(d);
            if (id == VM_INTRINSIC_floor && d >= -9.0e15 && d <= 9.0e15)
                ACC = value_from_smi((int64_t)d);
            else
                ACC = vm_number_from_double(vm, d);
            RELOAD();
            break;
        }
        case VM_OP_Return:
            returned = ACC;
            vm->stack_top = in.fp->base;
            vm->frame_count--;
        frame_popped:
            if (vm->frame_count == base_depth) {
                *result = returned;
                return 0;
            }
            in.fp = &vm->frames[vm->frame_count - 1];
            in.fp->acc = returned;
            RELOAD();
            pc = in.fp->pc;
            continue;
        default:
            FAIL("bad opcode %d", (int)op);
        }
        NEXT();
    }
}

int vm_push_frame(struct vm *vm, value_t function, value_t context, uint32_t pc, value_t acc,
                  const value_t *registers, size_t register_count)
{
    if (!is_kind(vm, function, VM_SHAPE_FUNCTION)) {
        snprintf(vm->error, sizeof vm->error, "vm_push_frame: not a function");
        return -1;
    }
    struct object *shared =
        value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
    struct object *bytecode = value_to_object(object_get(shared, VM_SHARED_BYTECODE));
    const uint8_t *code = byte_array_data(bytecode);
    size_t length = object_length(bytecode);
    const struct vm_opcode_info *table = vm_opcode_table();
    size_t at = 0;
    while (at < pc && at < length)
        at += table[code[at]].size_bytes;
    if (at != pc || pc >= length) {
        snprintf(vm->error, sizeof vm->error,
                 "vm_push_frame: offset %" PRIu32 " is not an instruction of %s", pc,
                 function_name_of(vm, function));
        return -1;
    }
    size_t own = (size_t)value_to_smi(object_get(shared, VM_SHARED_REGISTERS));
    if (register_count > own) {
        snprintf(vm->error, sizeof vm->error, "vm_push_frame: %zu registers for %s, which has %zu",
                 register_count, function_name_of(vm, function), own);
        return -1;
    }
    return push_frame(vm, function, context, pc, acc, registers, register_count, own, vm->error,
                      sizeof vm->error);
}

int vm_call(struct vm *vm, const value_t *function_slot, const value_t *args, size_t argc,
            value_t *result)
{
    value_t function = *function_slot;
    if (!is_kind(vm, function, VM_SHAPE_FUNCTION)) {
        char text[96];
        vm_value_format(vm, function, text, sizeof text);
        snprintf(vm->error, sizeof vm->error, "calling a non-function: %s", text);
        return -1;
    }
    struct object *f = value_to_object(function);
    struct object *shared = value_to_object(object_get(f, VM_FUNCTION_SHARED));
    size_t base_depth = vm->frame_count;
    if (vm->tier && vm->tier->wants(vm->tier_ctx, vm, function)) {
        vm->stats.calls++;
        vm_count_shared(vm, shared, VM_SHARED_INVOCATIONS, vm_tierup_invocations);
        return vm->tier->call(vm->tier_ctx, vm, function_slot, args, argc, result);
    }
    if (push_frame(vm, function, object_get(f, VM_FUNCTION_CONTEXT), 0, vm_undefined(vm->rt), args,
                   argc, (size_t)value_to_smi(object_get(shared, VM_SHARED_PARAMS)), vm->error,
                   sizeof vm->error) != 0)
        return -1;
    vm->stats.calls++;
    vm_count_shared(vm, shared, VM_SHARED_INVOCATIONS, vm_tierup_invocations);
    return vm_resume(vm, base_depth, result);
}

int vm_run_main(struct vm *vm, value_t *result)
{
    value_t main_function;
    const struct vm_module *mod = vm->module;
    vm_get_global(vm, mod->functions[mod->main_function].name, &main_function);
    vm->roots[VM_ROOT_SCRATCH] = main_function;
    int rc = vm_call(vm, &vm->roots[VM_ROOT_SCRATCH], NULL, 0, result);
    vm->roots[VM_ROOT_SCRATCH] = VALUE_NULL;
    return rc;
}
