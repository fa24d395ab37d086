/*
 * lib/jit: compiler and executor of the optimizing tier (docs/jit.md). The compiler turns
 * each bytecode of a hot function into one instruction of a compact stream (so a jump
 * target is the instruction of the target offset), choosing a speculative form from the
 * site's feedback: Smi arithmetic and comparisons guarded by Smi checks and a
 * Smi-overflow check where the lattice says smi, a number check before the generic
 * arithmetic otherwise. Every guard has a deopt point: the bytecode offset of its own
 * instruction (which the interpreter re-executes) and where the context, the accumulator
 * and every interpreter register live (optimized registers, one for one). The stream,
 * the deopt data (translation bytes and literal pool), the shared info and a flags Smi
 * ("marked for deoptimization") live in a code object in code space, which never moves,
 * so the executor may keep a pointer to its body across a collection.
 *
 * Invariant: the executor keeps every tagged value of an activation in its window of the
 * tagged register file (jit->file), which the VM's root provider here visits precisely;
 * across anything that may collect (an allocation, a call, a safepoint poll at entry and
 * at every back-edge, a deopt) it holds no other heap pointer but the code object's.
 *
 * Deopt (Hölzle, Chambers and Ungar, PLDI 1992): a failed guard marks the code, unlinks it
 * from the running closure, clears the tier-up request and counters so that the function
 * collects new feedback in the interpreter before it is compiled again, and calls
 * deopt_eager, which writes the interpreter frame and runs it to its return. Other
 * closures still pointing at the marked code are reset at their next call (lazy
 * unlinking, the entry check in tier_wants). After JIT_MAX_DEOPTS the function stays
 * interpreted.
 */
#include "jit/jit.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "platform/platform.h"

#define JIT_FILE_SLOTS ((size_t)1 << 17)
#define JIT_MAX_ARRAY_LENGTH ((int64_t)1 << 24) /* the interpreter's limit */

enum jit_op {
    J_LOAD_SMI,
    J_LOAD_CONST,
    J_LOAD_ODDBALL,
    J_MOV,
    J_ARITH_SMI,
    J_ARITH,
    J_UNARY_SMI,
    J_UNARY,
    J_CMP_SMI,
    J_CMP,
    J_NOT,
    J_JUMP,
    J_JUMP_IF,
    J_LOOP,
    J_LDA_GLOBAL,
    J_STA_GLOBAL,
    J_CALL,
    J_RETURN,
    J_LOAD_FIELD,
    J_STORE_FIELD,
    J_STORE_TRANSITION,
    J_CREATE_OBJECT,
    J_CREATE_ARRAY,
    J_LOAD_ELEMENT,
    J_STORE_ELEMENT,
    J_INTRINSIC,
    J_INLINE_ENTER,
    J_INLINE_RETURN,
};

/* One instruction: op, sub (the bytecode opcode, oddball kind or jump sense), registers
 * a and b (window indices), x (immediate, constant, global, target or argc), the
 * bytecode offset it came from, its deopt id (guards only) and, for property accesses,
 * the id of the map it guards against (maps never move or die, lib/heap). */
struct jit_insn {
    uint8_t op, sub, a, b;
    int32_t x;
    uint32_t pc, deopt;
    uint32_t map_id; /* LOAD_FIELD, STORE_*: the map the receiver is guarded against */
    uint8_t fuse, fuse_reg;
    uint8_t acc, fn; /* the window slots of this instruction's frame's accumulator and function */
};

/* Superinstructions: an instruction followed by a Star or a JumpIfTrue/JumpIfFalse does
 * that one's work too and skips it (the skipped instruction stays in the stream, so a
 * jump to it still lands on a whole instruction). */
enum { JIT_FUSE_NONE, JIT_FUSE_STAR, JIT_FUSE_BRANCH };

/* Tagged fields of a code object. */
enum {
    JIT_CODE_BYTES,
    JIT_CODE_LITERALS,
    JIT_CODE_SHARED,
    JIT_CODE_FLAGS,
    JIT_CODE_WINDOW,
    JIT_CODE_TAGGED_COUNT
};
enum { JIT_CODE_MARKED = 1 };

struct jit {
    struct vm *vm;
    struct jit_options options;
    struct jit_stats stats;
    value_t *file;
    size_t top;
    size_t depth; /* optimized activations running */
    uint64_t stress_count;
};

const char *jit_reject_name(enum jit_reject reason)
{
    static const char *names[] = {
#define JIT_REJECT_NAME(upper, lower) #lower,
        JIT_REJECT_LIST(JIT_REJECT_NAME)
#undef JIT_REJECT_NAME
    };
    return reason < JIT_REJECT_COUNT ? names[reason] : "?";
}

static value_t *code_tagged(struct object *code) { return object_slots(code) + 3; }
static const struct jit_insn *code_body(struct object *code)
{
    return (const struct jit_insn *)(object_slots(code) + 3 + JIT_CODE_TAGGED_COUNT);
}
static bool is_code(value_t v)
{
    return value_is_strong(v) && object_type(value_to_object(v)) == TYPE_CODE;
}
static struct object *shared_of(value_t function)
{
    return value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
}
static int64_t shared_smi(struct object *shared, size_t word)
{
    return value_to_smi(object_get(shared, word));
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- The compiler ------------------------------------------------------------------------ */

static bool is_guard(uint8_t op)
{
    return op == J_ARITH_SMI || op == J_ARITH || op == J_UNARY_SMI || op == J_UNARY ||
           op == J_CMP_SMI || op == J_CMP || op == J_LDA_GLOBAL || op == J_CALL ||
           op == J_LOAD_FIELD || op == J_STORE_FIELD || op == J_STORE_TRANSITION ||
           op == J_CREATE_ARRAY || op == J_LOAD_ELEMENT || op == J_STORE_ELEMENT ||
           op == J_INTRINSIC || op == J_CREATE_OBJECT || op == J_INLINE_ENTER;
}

static int reject(struct jit *j, struct object *shared, enum jit_reject why)
{
    j->stats.not_optimizable[why]++;
    object_store(j->vm->m, shared, VM_SHARED_FLAGS,
                 value_from_smi(shared_smi(shared, VM_SHARED_FLAGS) | VM_SHARED_FLAG_NO_OPT));
    return -1;
}

/* Compiles the function in *function_slot and links the code into it. 0, or -1 when the
 * function cannot be optimized (its shared info then says NO_OPT). May collect. */
/* Translates the bytecode at code + at of a frame whose registers start at window slot
 * base (its accumulator at acc) into *i; jump targets are index_base + index_of[offset].
 * False if the bytecode has no translation. No allocation. */
#define R(k) ((uint8_t)(base + code[at + (k)]))
static bool translate(struct jit *j, struct object *feedback, const uint8_t *code, size_t at,
                      struct jit_insn *i, uint8_t base, uint8_t acc, const uint32_t *index_of,
                      uint32_t index_base)
{
    struct vm *vm = j->vm;
    const struct vm_opcode_info *table = vm_opcode_table();
    enum vm_opcode op = (enum vm_opcode)code[at];
    i->pc = (uint32_t)at;
    i->sub = (uint8_t)op;
    i->a = acc;
    i->acc = acc;
    i->fn = (uint8_t)(acc + 2);
    int64_t lattice = 0;
    if (table[op].feedback == VM_FEEDBACK_BINARY_OP || table[op].feedback == VM_FEEDBACK_COMPARE) {
        int k = table[op].operands[0] == VM_OPERAND_FEEDBACK ? 1 : 2;
        lattice = value_to_smi(object_get(feedback, 2 + u16(code + at + k)));
    }
    switch (op) {
    case VM_OP_LdaSmi:
        i->op = J_LOAD_SMI;
        i->x = (int32_t)u32(code + at + 1);
        break;
    case VM_OP_LdaConstant:
        i->op = J_LOAD_CONST;
        i->x = u16(code + at + 1);
        break;
    case VM_OP_LdaUndefined:
    case VM_OP_LdaNull:
    case VM_OP_LdaTrue:
    case VM_OP_LdaFalse:
        i->op = J_LOAD_ODDBALL;
        i->sub = op == VM_OP_LdaUndefined ? VM_UNDEFINED
                 : op == VM_OP_LdaNull    ? VM_NULL
                 : op == VM_OP_LdaTrue    ? VM_TRUE
                                          : VM_FALSE;
        break;
    case VM_OP_Ldar:
        i->op = J_MOV;
        i->b = R(1);
        break;
    case VM_OP_Star:
        i->op = J_MOV;
        i->a = R(1);
        i->b = acc;
        break;
    case VM_OP_Mov:
        i->op = J_MOV;
        i->a = R(2);
        i->b = R(1);
        break;
    case VM_OP_Add:
    case VM_OP_Sub:
    case VM_OP_Mul:
    case VM_OP_Div:
    case VM_OP_Mod:
        i->op =
            lattice == VM_TYPE_SMI && op != VM_OP_Div && op != VM_OP_Mod ? J_ARITH_SMI : J_ARITH;
        i->b = R(1);
        break;
    case VM_OP_Inc:
    case VM_OP_Dec:
    case VM_OP_Negate:
        i->op = lattice == VM_TYPE_SMI ? J_UNARY_SMI : J_UNARY;
        break;
    case VM_OP_TestEqual:
    case VM_OP_TestLessThan:
    case VM_OP_TestLessThanOrEqual:
    case VM_OP_TestGreaterThan:
    case VM_OP_TestGreaterThanOrEqual:
        i->op = lattice == VM_TYPE_SMI ? J_CMP_SMI : J_CMP;
        i->b = R(1);
        break;
    case VM_OP_LogicalNot:
        i->op = J_NOT;
        break;
    case VM_OP_Jump:
    case VM_OP_JumpIfTrue:
    case VM_OP_JumpIfFalse:
    case VM_OP_JumpLoop:
        i->op = op == VM_OP_Jump ? J_JUMP : op == VM_OP_JumpLoop ? J_LOOP : J_JUMP_IF;
        i->sub = op == VM_OP_JumpIfTrue;
        i->x = (int32_t)(index_base + index_of[u32(code + at + 1)]);
        break;
    case VM_OP_LdaGlobal:
    case VM_OP_StaGlobal:
        i->op = op == VM_OP_LdaGlobal ? J_LDA_GLOBAL : J_STA_GLOBAL;
        i->x = u16(code + at + 1);
        break;
    case VM_OP_Call:
        i->op = J_CALL;
        i->a = R(1);
        i->b = R(2);
        i->x = code[at + 3];
        break;
    case VM_OP_Return:
        i->op = J_RETURN;
        break;
    case VM_OP_LdaNamedProperty:
    case VM_OP_StaNamedProperty: {
        size_t fb = 2 + u16(code + at + 4);
        value_t map = object_get(feedback, fb + 1), handler = object_get(feedback, fb + 2);
        if (value_to_smi(object_get(feedback, fb)) != VM_IC_MONOMORPHIC)
            goto unsupported;
        const struct vm_shape *shape = vm_shape_of_map(vm->rt, value_to_object(map));
        if (!shape || shape->kind != VM_SHAPE_OBJECT)
            goto unsupported;
        i->a = R(1);
        i->map_id = (uint32_t)map_raw(value_to_object(map), MAP_ID);
        i->sub = (uint8_t)shape->capacity;
        if (value_is_smi(handler)) {
            i->op = op == VM_OP_LdaNamedProperty ? J_LOAD_FIELD : J_STORE_FIELD;
            i->x = (int32_t)value_to_smi(handler);
        } else if (op == VM_OP_StaNamedProperty) {
            i->op = J_STORE_TRANSITION;
            i->x = (int32_t)map_raw(value_to_object(handler), MAP_ID);
        } else {
            goto unsupported;
        }
        break;
    }
    case VM_OP_CreateObject:
        i->op = J_CREATE_OBJECT;
        i->x = code[at + 1];
        break;
    case VM_OP_CreateArray:
        i->op = J_CREATE_ARRAY;
        break;
    case VM_OP_LdaKeyedProperty:
    case VM_OP_StaKeyedProperty: {
        bool load = op == VM_OP_LdaKeyedProperty;
        int64_t bits = value_to_smi(object_get(feedback, 2 + u16(code + at + (load ? 2 : 3))));
        if (!bits)
            goto unsupported;
        i->op = load ? J_LOAD_ELEMENT : J_STORE_ELEMENT;
        i->a = R(1);
        i->b = load ? acc : R(2);
        i->sub = (bits & VM_KEYED_APPEND) != 0;
        break;
    }
    case VM_OP_CallIntrinsic:
        if (code[at + 1] == VM_INTRINSIC_collect_garbage || code[at + 3] != 1)
            goto unsupported;
        i->op = J_INTRINSIC;
        i->sub = code[at + 1];
        i->b = R(2);
        break;
    unsupported:
    default:
        j->stats.last_unsupported_opcode = op;
        return false;
    }
    return true;
}
#undef R

static int compile(struct jit *j, const value_t *function_slot)
{
    struct vm *vm = j->vm;
    struct mutator *m = vm->m;
    struct object *shared = shared_of(*function_slot);
    if (shared_smi(shared, VM_SHARED_DEOPT_COUNT) >= JIT_MAX_DEOPTS)
        return reject(j, shared, JIT_REJECT_DEOPT_CAP);
    struct object *bytecode = value_to_object(object_get(shared, VM_SHARED_BYTECODE));
    struct object *feedback = value_to_object(object_get(shared, VM_SHARED_FEEDBACK));
    size_t length = object_length(bytecode);
    uint32_t nregs = (uint32_t)shared_smi(shared, VM_SHARED_REGISTERS);
    if (nregs + 4 > 255)
        return reject(j, shared, JIT_REJECT_TOO_BIG);
    const uint8_t acc = (uint8_t)nregs;
    const uint8_t *code = byte_array_data(bytecode);
    const struct vm_opcode_info *table = vm_opcode_table();

    /* Which call sites are inlined: a monomorphic target (call feedback) whose bytecode is
     * at most JIT_INLINE_MAX_BYTES, translates whole and has no calls or loops (depth 1).
     * Its frame's registers follow the caller's in the window; every inlined site uses
     * the same region. */
    const uint8_t cbase = (uint8_t)(nregs + 4);
    uint32_t *index_of = platform_calloc(length + 1, sizeof *index_of);
    struct object **inline_shared = platform_calloc(length + 1, sizeof *inline_shared);
    value_t *inline_target = platform_calloc(length + 1, sizeof *inline_target);
    size_t count = 0, window = nregs + 4;
    struct jit_insn probe;
    uint32_t *scratch = platform_calloc(JIT_INLINE_MAX_BYTES + 1, sizeof *scratch);
    for (size_t at = 0; at < length; at += table[code[at]].size_bytes) {
        index_of[at] = (uint32_t)count++;
        if (code[at] != VM_OP_Call || !j->options.inline_calls)
            continue;
        value_t target = object_get(feedback, 3 + u16(code + at + 4));
        const struct vm_shape *ts = vm_shape_of(vm->rt, target);
        if (!ts || ts->kind != VM_SHAPE_FUNCTION)
            continue;
        struct object *cs = shared_of(target);
        struct object *cb = value_to_object(object_get(cs, VM_SHARED_BYTECODE));
        size_t clen = object_length(cb);
        uint32_t cregs = (uint32_t)shared_smi(cs, VM_SHARED_REGISTERS);
        if (clen > JIT_INLINE_MAX_BYTES || cbase + cregs + 4 > 255 ||
            shared_smi(cs, VM_SHARED_DEOPT_COUNT) >= JIT_MAX_DEOPTS)
            continue;
        const uint8_t *cc = byte_array_data(cb);
        struct object *cf = value_to_object(object_get(cs, VM_SHARED_FEEDBACK));
        bool ok = true;
        size_t ccount = 0;
        for (size_t c = 0; c < clen && ok; c += table[cc[c]].size_bytes) {
            scratch[c] = (uint32_t)ccount++;
            ok = cc[c] != VM_OP_Call && cc[c] != VM_OP_JumpLoop &&
                 translate(j, cf, cc, c, &probe, cbase, (uint8_t)(cbase + cregs), scratch, 0);
        }
        if (!ok)
            continue;
        inline_shared[at] = cs;
        inline_target[at] = target;
        count += ccount;
        if (cbase + cregs + 4 > window)
            window = cbase + cregs + 4;
    }
    struct jit_insn *insns = platform_calloc(count ? count : 1, sizeof *insns);
    /* Per instruction: the call site offset it was inlined from, or UINT32_MAX. */
    uint32_t *inlined_from = platform_calloc(count ? count : 1, sizeof *inlined_from);
    size_t n = 0;
    for (size_t at = 0; at < length; at += table[code[at]].size_bytes) {
        struct jit_insn *i = &insns[n];
        inlined_from[n] = UINT32_MAX;
        if (!translate(j, feedback, code, at, i, 0, acc, index_of, 0)) {
            platform_free(index_of);
            platform_free(inline_shared);
            platform_free(inline_target);
            platform_free(scratch);
            platform_free(insns);
            platform_free(inlined_from);
            return reject(j, shared, JIT_REJECT_UNSUPPORTED_BYTECODE);
        }
        n++;
        if (!inline_shared[at])
            continue;
        struct object *cs = inline_shared[at];
        struct object *cb = value_to_object(object_get(cs, VM_SHARED_BYTECODE));
        struct object *cf = value_to_object(object_get(cs, VM_SHARED_FEEDBACK));
        const uint8_t *cc = byte_array_data(cb);
        size_t clen = object_length(cb);
        uint32_t cregs = (uint32_t)shared_smi(cs, VM_SHARED_REGISTERS);
        uint8_t cacc = (uint8_t)(cbase + cregs);
        i->op = J_INLINE_ENTER;
        i->map_id = (uint32_t)shared_smi(cs, VM_SHARED_INDEX);
        i->sub = (uint8_t)shared_smi(cs, VM_SHARED_PARAMS);
        i->fuse_reg = cbase;
        i->fn = (uint8_t)(cacc + 2);
        uint32_t body = (uint32_t)n, after = index_of[at] + 1;
        size_t ccount = 0;
        for (size_t c = 0; c < clen; c += table[cc[c]].size_bytes)
            scratch[c] = (uint32_t)ccount++;
        after += (uint32_t)ccount;
        for (size_t c = 0; c < clen; c += table[cc[c]].size_bytes, n++) {
            translate(j, cf, cc, c, &insns[n], cbase, cacc, scratch, body);
            inlined_from[n] = (uint32_t)at;
            if (insns[n].op == J_RETURN) {
                insns[n].op = J_INLINE_RETURN;
                insns[n].b = acc;
                insns[n].x = (int32_t)after;
            }
        }
        j->stats.inlined_call_sites++;
    }
    platform_free(index_of);
    platform_free(scratch);
    for (size_t k = 0; k + 1 < n; k++) {
        uint8_t op = insns[k].op, next = insns[k + 1].op;
        if (op == J_JUMP || op == J_JUMP_IF || op == J_LOOP || op == J_RETURN ||
            op == J_INLINE_ENTER || op == J_INLINE_RETURN)
            continue;
        if (next == J_MOV && insns[k + 1].sub == VM_OP_Star) {
            insns[k].fuse = JIT_FUSE_STAR;
            insns[k].fuse_reg = insns[k + 1].a;
        } else if (next == J_JUMP_IF) {
            insns[k].fuse = JIT_FUSE_BRANCH;
        }
    }

    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *fn = handle_new(m, *function_slot);
    struct translation_builder *b = translation_builder_create(m);
    uint32_t fn_literal = translation_builder_literal(b, *fn);
    for (size_t k = 0; k < n; k++) {
        if (!is_guard(insns[k].op))
            continue;
        insns[k].deopt = translation_begin_point(b);
        uint32_t site = inlined_from[k];
        uint32_t outer_pc = site == UINT32_MAX ? insns[k].pc : site + table[VM_OP_Call].size_bytes;
        translation_begin_frame(b, fn_literal, outer_pc, nregs);
        translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, nregs + 1));
        translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, nregs));
        for (uint32_t r = 0; r < nregs; r++)
            translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, r));
        if (site == UINT32_MAX)
            continue;
        uint32_t cregs = insns[k].acc - cbase;
        translation_begin_frame(b, translation_builder_literal(b, inline_target[site]), insns[k].pc,
                                cregs);
        translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, insns[k].acc + 1u));
        translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, insns[k].acc));
        for (uint32_t r = 0; r < cregs; r++)
            translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, cbase + r));
    }
    platform_free(inline_shared);
    platform_free(inline_target);
    platform_free(inlined_from);
    value_t *bytes = handle_new(m, VALUE_NULL), *literals = handle_new(m, VALUE_NULL);
    translation_builder_finish(b, bytes, literals);
    translation_builder_destroy(b);
    struct object *code_object =
        heap_allocate_code(m, JIT_CODE_TAGGED_COUNT, n * sizeof(struct jit_insn));
    memcpy((void *)code_body(code_object), insns, n * sizeof(struct jit_insn));
    platform_free(insns);
    shared = shared_of(*fn);
    object_store(m, code_object, 3 + JIT_CODE_BYTES, *bytes);
    object_store(m, code_object, 3 + JIT_CODE_LITERALS, *literals);
    object_store(m, code_object, 3 + JIT_CODE_SHARED, value_from_object(shared));
    object_store(m, code_object, 3 + JIT_CODE_FLAGS, value_from_smi(0));
    object_store(m, code_object, 3 + JIT_CODE_WINDOW, value_from_smi((int64_t)window));
    object_store(m, value_to_object(*fn), VM_FUNCTION_CODE, value_from_object(code_object));
    j->stats.functions_optimized++;
    if (j->options.events && j->options.events->optimized)
        j->options.events->optimized(j->options.events_ctx, vm,
                                     (uint32_t)shared_smi(shared, VM_SHARED_INDEX),
                                     platform_now_ns());
    handle_scope_close(m, &scope);
    return 0;
}

/* --- The executor ------------------------------------------------------------------------ */

static void visit_file(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
{
    (void)heap;
    struct jit *j = ctx;
    for (size_t i = 0; i < j->top; i++)
        visit(&j->file[i], visit_ctx);
}

/* vm_value_to_number, inline: the executor's number check and unboxing. */
static inline bool to_number(value_t v, double *out)
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

static bool fits_smi(int64_t v) { return v >= VALUE_SMI_MIN && v <= VALUE_SMI_MAX; }

static const char *name_of(struct vm *vm, value_t function)
{
    return vm->module->functions[shared_smi(shared_of(function), VM_SHARED_INDEX)].name;
}

static int execute(struct jit *j, const value_t *function_slot, const value_t *args, size_t argc,
                   value_t *result)
{
    struct vm *vm = j->vm;
    struct vm_runtime *rt = vm->rt;
    struct object *f = value_to_object(*function_slot);
    struct object *code = value_to_object(object_get(f, VM_FUNCTION_CODE));
    value_t *tagged = code_tagged(code);
    const struct jit_insn *insns = code_body(code);
    size_t window = (size_t)value_to_smi(tagged[JIT_CODE_WINDOW]);
    size_t nregs = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_REGISTERS),
           params = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_PARAMS);
    /* Optimized activations count as frames (and recurse in C, so they must be bounded). */
    if (j->top + window > JIT_FILE_SLOTS || vm->frame_count + j->depth >= vm->max_frames) {
        snprintf(vm->error, sizeof vm->error,
                 "stack overflow: more than %zu frames (or %zu optimized register slots) deep, "
                 "calling %s",
                 vm->max_frames, JIT_FILE_SLOTS, name_of(vm, *function_slot));
        return -1;
    }
    size_t base = j->top;
    value_t *w = j->file + base;
    value_t undefined = vm_undefined(rt);
    for (size_t r = nregs; r < window; r++)
        w[r] = undefined;
    for (size_t r = 0; r < nregs; r++)
        w[r] = r < argc && r < params ? args[r] : undefined;
    w[nregs] = undefined;
    w[nregs + 1] = object_get(f, VM_FUNCTION_CONTEXT);
    w[nregs + 2] = *function_slot;
    w[nregs + 3] = value_from_object(code);
    j->top += window;
    const size_t FN = nregs + 2;
    vm->stats.polls++;
    mutator_poll(vm->m);

    const struct jit_insn *i;
    enum deopt_reason reason;
    size_t ip = 0;
#define GUARD(cond, why)                                                                           \
    do {                                                                                           \
        j->stats.guards_executed++;                                                                \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            reason = why;                                                                          \
            goto deopt;                                                                            \
        }                                                                                          \
        if (j->options.deopt_stress && ++j->stress_count >= j->options.deopt_stress) {             \
            j->stress_count = 0;                                                                   \
            reason = DEOPT_REASON_STRESS;                                                          \
            goto deopt;                                                                            \
        }                                                                                          \
    } while (0)
    for (;;) {
        i = &insns[ip++];
        switch ((enum jit_op)i->op) {
        case J_LOAD_SMI:
            w[i->acc] = value_from_smi(i->x);
            break;
        case J_LOAD_CONST:
            w[i->acc] =
                object_get(value_to_object(object_get(shared_of(w[i->fn]), VM_SHARED_CONSTANTS)),
                           2 + (size_t)i->x);
            break;
        case J_LOAD_ODDBALL:
            w[i->acc] = rt->oddballs[i->sub];
            break;
        case J_MOV:
            w[i->a] = w[i->b];
            break;
        case J_ARITH_SMI: {
            value_t lhs = w[i->b], rhs = w[i->acc];
            GUARD(value_is_smi(lhs) && value_is_smi(rhs), DEOPT_REASON_NOT_SMI);
            int64_t a = value_to_smi(lhs), b = value_to_smi(rhs), r;
            bool overflow = i->sub == VM_OP_Add   ? __builtin_add_overflow(a, b, &r)
                            : i->sub == VM_OP_Sub ? __builtin_sub_overflow(a, b, &r)
                                                  : __builtin_mul_overflow(a, b, &r);
            if (i->sub == VM_OP_Mul && !overflow && r == 0 && (a < 0 || b < 0))
                overflow = true;
            GUARD(!overflow && fits_smi(r), DEOPT_REASON_SMI_OVERFLOW);
            w[i->acc] = value_from_smi(r);
            break;
        }
        case J_ARITH:
        case J_UNARY: {
            value_t lhs = i->op == J_ARITH ? w[i->b] : w[i->acc];
            value_t rhs =
                i->op == J_ARITH ? w[i->acc] : value_from_smi(i->sub == VM_OP_Negate ? -1 : 1);
            enum vm_opcode op = i->op == J_ARITH      ? (enum vm_opcode)i->sub
                                : i->sub == VM_OP_Inc ? VM_OP_Add
                                : i->sub == VM_OP_Dec ? VM_OP_Sub
                                                      : VM_OP_Mul;
            double x, y, d = 0;
            GUARD(to_number(lhs, &x) && to_number(rhs, &y), DEOPT_REASON_NOT_NUMBER);
            if (value_is_smi(lhs) && value_is_smi(rhs)) {
                int64_t smi = 0;
                if (vm_arith(op, lhs, rhs, &smi, &d) == VM_ARITH_SMI) {
                    w[i->acc] = value_from_smi(smi);
                    break;
                }
            } else {
                d = op == VM_OP_Add   ? x + y
                    : op == VM_OP_Sub ? x - y
                    : op == VM_OP_Mul ? x * y
                    : op == VM_OP_Div ? x / y
                                      : fmod(x, y);
            }
            w[i->acc] = vm_number_from_double(vm, d);
            break;
        }
        case J_UNARY_SMI: {
            value_t v = w[i->acc];
            GUARD(value_is_smi(v), DEOPT_REASON_NOT_SMI);
            int64_t a = value_to_smi(v);
            int64_t r = i->sub == VM_OP_Inc ? a + 1 : i->sub == VM_OP_Dec ? a - 1 : -a;
            GUARD(fits_smi(r) && !(i->sub == VM_OP_Negate && a == 0), DEOPT_REASON_SMI_OVERFLOW);
            w[i->acc] = value_from_smi(r);
            break;
        }
        case J_CMP_SMI:
        case J_CMP: {
            value_t lhs = w[i->b], rhs = w[i->acc];
            bool r, smis = value_is_smi(lhs) && value_is_smi(rhs);
            enum vm_opcode op = (enum vm_opcode)i->sub;
            if (i->op == J_CMP_SMI)
                GUARD(smis, DEOPT_REASON_NOT_SMI);
            if (smis) {
                int64_t a = value_to_smi(lhs), b = value_to_smi(rhs);
                r = op == VM_OP_TestEqual             ? a == b
                    : op == VM_OP_TestLessThan        ? a < b
                    : op == VM_OP_TestLessThanOrEqual ? a <= b
                    : op == VM_OP_TestGreaterThan     ? a > b
                                                      : a >= b;
            } else if (vm_value_is_number(lhs) && vm_value_is_number(rhs)) {
                double a, b;
                vm_value_to_number(lhs, &a);
                vm_value_to_number(rhs, &b);
                r = op == VM_OP_TestEqual             ? a == b
                    : op == VM_OP_TestLessThan        ? a < b
                    : op == VM_OP_TestLessThanOrEqual ? a <= b
                    : op == VM_OP_TestGreaterThan     ? a > b
                                                      : a >= b;
            } else {
                GUARD(op == VM_OP_TestEqual, DEOPT_REASON_NOT_NUMBER);
                r = lhs == rhs;
            }
            w[i->acc] = vm_boolean(rt, r);
            break;
        }
        case J_NOT:
            w[i->acc] = vm_boolean(rt, !vm_value_truthy(rt, w[i->acc]));
            break;
        case J_JUMP:
            ip = (size_t)i->x;
            break;
        case J_JUMP_IF:
            if (vm_value_truthy(rt, w[i->acc]) == (bool)i->sub)
                ip = (size_t)i->x;
            break;
        case J_LOOP:
            vm->stats.backedges++;
            if (vm->step_limit && vm->stats.backedges + vm->stats.calls > vm->step_limit) {
                snprintf(vm->error, sizeof vm->error,
                         "%s@%" PRIu32 ": step limit reached (%" PRIu64 " back-edges and calls)",
                         name_of(vm, w[FN]), i->pc, vm->step_limit);
                j->top = base;
                return -1;
            }
            vm->stats.polls++;
            mutator_poll(vm->m);
            ip = (size_t)i->x;
            break;
        case J_LDA_GLOBAL: {
            value_t v = object_get(value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + (size_t)i->x);
            GUARD(v != rt->oddballs[VM_HOLE], DEOPT_REASON_DEPENDENCY_CHANGED);
            w[i->acc] = v;
            break;
        }
        case J_STA_GLOBAL:
            object_store(vm->m, value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + (size_t)i->x,
                         w[i->acc]);
            break;
        case J_CALL: {
            const struct vm_shape *s = vm_shape_of(rt, w[i->a]);
            GUARD(s && s->kind == VM_SHAPE_FUNCTION, DEOPT_REASON_WRONG_MAP);
            if (vm->step_limit && vm->stats.backedges + vm->stats.calls + 1 > vm->step_limit) {
                vm->stats.calls++;
                snprintf(vm->error, sizeof vm->error,
                         "%s@%" PRIu32 ": step limit reached (%" PRIu64 " back-edges and calls)",
                         name_of(vm, w[FN]), i->pc, vm->step_limit);
                j->top = base;
                return -1;
            }
            value_t r, callee_code = object_get(value_to_object(w[i->a]), VM_FUNCTION_CODE);
            int rc;
            if (is_code(callee_code) &&
                !(value_to_smi(code_tagged(value_to_object(callee_code))[JIT_CODE_FLAGS]) &
                  JIT_CODE_MARKED)) {
                /* Optimized callee: straight into the executor (vm_call would get here
                 * through the tier after counting an invocation it no longer needs). */
                vm->stats.calls++;
                j->stats.optimized_calls++;
                j->depth++;
                rc = execute(j, &w[i->a], &w[i->b], (size_t)i->x, &r);
                j->depth--;
            } else {
                rc = vm_call(vm, &w[i->a], &w[i->b], (size_t)i->x, &r);
            }
            if (rc != 0) {
                j->top = base;
                return -1;
            }
            w[i->acc] = r;
            break;
        }
        case J_INLINE_ENTER: {
            value_t callee = w[i->a];
            const struct vm_shape *s = vm_shape_of(rt, callee);
            GUARD(s && s->kind == VM_SHAPE_FUNCTION &&
                      shared_smi(shared_of(callee), VM_SHARED_INDEX) == i->map_id,
                  DEOPT_REASON_WRONG_MAP);
            vm->stats.calls++;
            if (vm->step_limit && vm->stats.backedges + vm->stats.calls > vm->step_limit) {
                snprintf(vm->error, sizeof vm->error,
                         "%s@%" PRIu32 ": step limit reached (%" PRIu64 " back-edges and calls)",
                         name_of(vm, w[FN]), i->pc, vm->step_limit);
                j->top = base;
                return -1;
            }
            size_t cbase = i->fuse_reg, cregs = (size_t)i->fn - 2 - cbase;
            for (size_t r = 0; r < cregs; r++)
                w[cbase + r] = r < (size_t)i->x && r < i->sub ? w[i->b + r] : undefined;
            w[cbase + cregs] = undefined;
            w[cbase + cregs + 1] = object_get(value_to_object(callee), VM_FUNCTION_CONTEXT);
            w[i->fn] = callee;
            break;
        }
        case J_INLINE_RETURN:
            w[i->b] = w[i->acc];
            ip = (size_t)i->x;
            break;
        case J_RETURN:
            *result = w[i->acc];
            j->top = base;
            return 0;
        case J_LOAD_FIELD:
        case J_STORE_FIELD:
        case J_STORE_TRANSITION: {
            value_t receiver = w[i->a];
            GUARD(value_is_strong(receiver) &&
                      map_raw(object_map(value_to_object(receiver)), MAP_ID) == i->map_id,
                  DEOPT_REASON_WRONG_MAP);
            struct object *o = value_to_object(receiver);
            if (i->op == J_STORE_TRANSITION) {
                const struct vm_shape *next = __atomic_load_n(&rt->shapes[i->x], __ATOMIC_ACQUIRE);
                vm_object_set_field(vm, &w[i->a], next, next->property_count - 1, &w[i->acc]);
            } else if (i->x < 0) {
                w[i->acc] = undefined; /* a load of a property the map does not have */
            } else if (i->op == J_STORE_FIELD && (uint32_t)i->x < i->sub) {
                object_store(vm->m, o, VM_OBJECT_INOBJECT + (size_t)i->x, w[i->acc]);
            } else if (i->op == J_STORE_FIELD) {
                vm_object_set_field(vm, &w[i->a], NULL, (uint32_t)i->x, &w[i->acc]);
            } else if ((uint32_t)i->x < i->sub) {
                w[i->acc] = object_get(o, VM_OBJECT_INOBJECT + (size_t)i->x);
            } else {
                struct object *props = value_to_object(object_get(o, VM_OBJECT_PROPERTIES));
                w[i->acc] = object_get(props, 2 + (size_t)i->x - i->sub);
            }
            break;
        }
        case J_CREATE_OBJECT: {
            value_t o = vm_new_object(vm, (uint32_t)i->x);
            GUARD(o != VALUE_NULL, DEOPT_REASON_DEPENDENCY_CHANGED);
            w[i->acc] = o;
            break;
        }
        case J_CREATE_ARRAY: {
            value_t n = w[i->acc];
            GUARD(value_is_smi(n) && value_to_smi(n) >= 0 &&
                      value_to_smi(n) <= JIT_MAX_ARRAY_LENGTH,
                  DEOPT_REASON_NOT_SMI);
            w[i->acc] = vm_new_array(vm, value_to_smi(n));
            break;
        }
        case J_LOAD_ELEMENT:
        case J_STORE_ELEMENT: {
            value_t receiver = w[i->a], key = w[i->b];
            const struct vm_shape *s = vm_shape_of(rt, receiver);
            GUARD(s && s->kind == VM_SHAPE_ARRAY, DEOPT_REASON_WRONG_MAP);
            GUARD(value_is_smi(key), DEOPT_REASON_NOT_SMI);
            struct object *a = value_to_object(receiver);
            int64_t index = value_to_smi(key),
                    length = value_to_smi(object_get(a, VM_ARRAY_LENGTH));
            if (i->op == J_STORE_ELEMENT && i->sub && index == length) {
                GUARD(length < JIT_MAX_ARRAY_LENGTH, DEOPT_REASON_OUT_OF_BOUNDS);
                vm_array_push(vm, &w[i->a], &w[i->acc]);
                break;
            }
            GUARD(index >= 0 && index < length, DEOPT_REASON_OUT_OF_BOUNDS);
            struct object *elements = value_to_object(object_get(a, VM_ARRAY_ELEMENTS));
            if (i->op == J_LOAD_ELEMENT)
                w[i->acc] = object_get(elements, 2 + (size_t)index);
            else
                object_store(vm->m, elements, 2 + (size_t)index, w[i->acc]);
            break;
        }
        case J_INTRINSIC: {
            value_t arg = w[i->b];
            if (i->sub == VM_INTRINSIC_length) {
                const struct vm_shape *s = vm_shape_of(rt, arg);
                GUARD(s && s->kind == VM_SHAPE_ARRAY, DEOPT_REASON_WRONG_MAP);
                w[i->acc] = object_get(value_to_object(arg), VM_ARRAY_LENGTH);
                break;
            }
            GUARD(vm_value_is_number(arg), DEOPT_REASON_NOT_NUMBER);
            if (value_is_smi(arg) && i->sub != VM_INTRINSIC_sqrt) {
                int64_t n = value_to_smi(arg);
                w[i->acc] =
                    i->sub == VM_INTRINSIC_floor || n >= 0 ? arg : vm_number_from_int(vm, -n);
                break;
            }
            double d;
            vm_value_to_number(arg, &d);
            d = i->sub == VM_INTRINSIC_sqrt    ? sqrt(d)
                : i->sub == VM_INTRINSIC_floor ? floor(d)
                                               : fabs(d);
            if (i->sub == VM_INTRINSIC_floor && d >= -9.0e15 && d <= 9.0e15)
                w[i->acc] = value_from_smi((int64_t)d);
            else
                w[i->acc] = vm_number_from_double(vm, d);
            break;
        }
        }
        if (i->fuse == JIT_FUSE_STAR) {
            w[i->fuse_reg] = w[i->acc];
            ip++;
        } else if (i->fuse == JIT_FUSE_BRANCH) {
            const struct jit_insn *branch = &insns[ip];
            ip = vm_value_truthy(rt, w[i->acc]) == (bool)branch->sub ? (size_t)branch->x : ip + 1;
        }
    }
#undef GUARD

deopt : {
    struct mutator *m = vm->m;
    object_store(m, code, 3 + JIT_CODE_FLAGS,
                 value_from_smi(value_to_smi(tagged[JIT_CODE_FLAGS]) | JIT_CODE_MARKED));
    struct object *fo = value_to_object(w[FN]);
    if (object_get(fo, VM_FUNCTION_CODE) == value_from_object(code))
        object_store(m, fo, VM_FUNCTION_CODE, undefined);
    struct object *shared = shared_of(w[FN]);
    object_store(m, shared, VM_SHARED_FLAGS,
                 value_from_smi(shared_smi(shared, VM_SHARED_FLAGS) &
                                ~(int64_t)VM_SHARED_FLAG_TIERUP_REQUESTED));
    object_store(m, shared, VM_SHARED_INVOCATIONS, value_from_smi(0));
    object_store(m, shared, VM_SHARED_BACKEDGES, value_from_smi(0));
    j->stats.deopts[reason]++;
    struct deopt_machine_state state = {(const uint64_t *)w, window, NULL, 0};
    struct deopt_stats ds;
    int rc = deopt_eager(vm, &tagged[JIT_CODE_BYTES], &tagged[JIT_CODE_LITERALS], i->deopt, reason,
                         &state, &ds, result);
    if (rc == 0 && j->options.events && j->options.events->deopt)
        j->options.events->deopt(j->options.events_ctx, vm, &ds, "eager", "lazy");
    j->top = base;
    return rc;
}
}

/* --- The tier ------------------------------------------------------------------------------ */

static bool tier_wants(void *ctx, struct vm *vm, value_t function)
{
    struct jit *j = ctx;
    if (!j->options.optimize)
        return false;
    struct object *f = value_to_object(function);
    value_t code = object_get(f, VM_FUNCTION_CODE);
    if (is_code(code)) {
        if (!(value_to_smi(code_tagged(value_to_object(code))[JIT_CODE_FLAGS]) & JIT_CODE_MARKED))
            return true;
        object_store(vm->m, f, VM_FUNCTION_CODE, vm_undefined(vm->rt));
        j->stats.lazy_unlinks++;
    }
    int64_t flags = shared_smi(shared_of(function), VM_SHARED_FLAGS);
    return (flags & VM_SHARED_FLAG_TIERUP_REQUESTED) && !(flags & VM_SHARED_FLAG_NO_OPT);
}

static int tier_call(void *ctx, struct vm *vm, const value_t *function_slot, const value_t *args,
                     size_t argc, value_t *result)
{
    struct jit *j = ctx;
    if (!is_code(object_get(value_to_object(*function_slot), VM_FUNCTION_CODE)) &&
        compile(j, function_slot) != 0) {
        struct object *f = value_to_object(*function_slot);
        size_t params = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_PARAMS);
        size_t depth = vm->frame_count;
        if (vm_push_frame(vm, *function_slot, object_get(f, VM_FUNCTION_CONTEXT), 0,
                          vm_undefined(vm->rt), args, argc < params ? argc : params) != 0)
            return -1;
        return vm_resume(vm, depth, result);
    }
    j->stats.optimized_calls++;
    j->depth++;
    int rc = execute(j, function_slot, args, argc, result);
    j->depth--;
    return rc;
}

static const struct vm_tier jit_tier = {.wants = tier_wants, .call = tier_call};

struct jit *jit_attach(struct vm *vm, const struct jit_options *options)
{
    struct jit *j = platform_calloc(1, sizeof *j);
    j->vm = vm;
    j->options = options ? *options : (struct jit_options){.optimize = true, .inline_calls = true};
    j->stats.last_unsupported_opcode = -1;
    j->file = platform_calloc(JIT_FILE_SLOTS, sizeof *j->file);
    heap_add_root_provider(vm->m->heap, visit_file, j);
    vm->tier = &jit_tier;
    vm->tier_ctx = j;
    return j;
}

void jit_detach(struct jit *j)
{
    if (j->vm->tier_ctx == j) {
        j->vm->tier = NULL;
        j->vm->tier_ctx = NULL;
    }
    heap_remove_root_provider(j->vm->m->heap, visit_file, j);
    platform_free(j->file);
    platform_free(j);
}

const struct jit_stats *jit_stats(const struct jit *j) { return &j->stats; }

void jit_stats_add(struct jit_stats *t, const struct jit_stats *s)
{
    t->functions_optimized += s->functions_optimized;
    for (int k = 0; k < JIT_REJECT_COUNT; k++)
        t->not_optimizable[k] += s->not_optimizable[k];
    for (int k = 0; k < DEOPT_REASON_COUNT; k++)
        t->deopts[k] += s->deopts[k];
    t->optimized_calls += s->optimized_calls;
    t->inlined_call_sites += s->inlined_call_sites;
    t->objects_elided += s->objects_elided;
    t->guards_executed += s->guards_executed;
    t->lazy_unlinks += s->lazy_unlinks;
}
