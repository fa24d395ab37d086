/*
 * lib/jit compiler: bytecode plus feedback to the dispatcher's instruction stream, deopt
 * data and a code object (docs/jit.md, "Compiler pipeline"). Each bytecode becomes one
 * instruction, chosen speculatively from the site's feedback; an inlined call site
 * becomes an entry instruction plus the callee's instructions in a register region of
 * its own. Every guard gets a deopt point (one frame, or two inside an inlined callee,
 * outermost first) built with lib/deopt's translation builder. The whole translation
 * runs before anything is allocated, so the raw bytecode and feedback pointers it reads
 * stay valid; the builder and the code object come after. After Hölzle, Chambers and
 * Ungar (PLDI 1992) for the deopt points, V8's TurboFan/Maglev for feedback-driven
 * speculation and inlining.
 */
#include <inttypes.h>
#include <string.h>

#include "barrier/barrier.h"
#include "jit/code.h"
#include "platform/platform.h"

/* --- The compiler ------------------------------------------------------------------------ */

static bool is_guard(uint8_t op)
{
    return op == J_ARITH_SMI || op == J_ARITH || op == J_UNARY_SMI || op == J_UNARY ||
           op == J_CMP_SMI || op == J_CMP || op == J_LDA_GLOBAL || op == J_CALL ||
           op == J_LOAD_FIELD || op == J_STORE_FIELD || op == J_STORE_TRANSITION ||
           op == J_CREATE_ARRAY || op == J_LOAD_ELEMENT || op == J_STORE_ELEMENT ||
           op == J_INTRINSIC || op == J_CREATE_OBJECT || op == J_INLINE_ENTER ||
           op == J_ARITH_F64 || op == J_UNARY_F64 || op == J_CMP_F64 || op == J_SQRT_F64 ||
           op == J_SOFT_DEOPT || op == J_LOAD_NAMED_GENERIC || op == J_ARITH_SMI_ACC;
}

/* A field representation the code relies on (lib/vm fields.c). */
struct jit_dependency {
    const struct vm_shape *shape;
    uint32_t field;
};

/* Speculation on field representations, on the final instruction stream: an addition,
 * subtraction or multiplication of Smis right after a load of a property whose
 * representation is smi (nothing jumps between them) checks only its other operand, and
 * the code depends on that representation. Returns the dependencies (*count of them). */
static struct jit_dependency *speculate_on_fields(struct jit *j, struct jit_insn *insns, size_t n,
                                                  size_t *count)
{
    bool *target = platform_calloc(n + 1, sizeof *target);
    for (size_t k = 0; k < n; k++) {
        uint8_t op = insns[k].op;
        if (op == J_JUMP || op == J_JUMP_IF || op == J_LOOP || op == J_INLINE_RETURN)
            target[insns[k].x] = true;
    }
    struct jit_dependency *deps = platform_calloc(n + 1, sizeof *deps);
    size_t used = 0;
    for (size_t k = 0; k + 1 < n; k++) {
        struct jit_insn *load = &insns[k], *arith = &insns[k + 1];
        if (load->op != J_LOAD_FIELD || load->fuse != JIT_FUSE_NONE || load->x < 0 ||
            arith->op != J_ARITH_SMI || arith->acc != load->acc || arith->b == load->acc ||
            target[k + 1])
            continue;
        const struct vm_shape *s =
            __atomic_load_n(&j->vm->rt->shapes[load->map_id], __ATOMIC_ACQUIRE);
        if (!s || vm_field_rep(s, (uint32_t)load->x) != VM_REP_SMI)
            continue;
        arith->op = J_ARITH_SMI_ACC;
        bool seen = false;
        for (size_t d = 0; d < used; d++)
            seen |= deps[d].shape == s && deps[d].field == (uint32_t)load->x;
        if (!seen)
            deps[used++] = (struct jit_dependency){s, (uint32_t)load->x};
    }
    platform_free(target);
    *count = used;
    return deps;
}

static int reject(struct jit *j, struct object *shared, enum jit_reject why)
{
    j->stats.not_optimizable[why]++;
    object_store(j->vm->m, shared, VM_SHARED_FLAGS,
                 value_from_smi(shared_smi(shared, VM_SHARED_FLAGS) | VM_SHARED_FLAG_NO_OPT));
    return -1;
}

/* Whether the site at offset at has had JIT_SITE_MAX_DEOPTS eager deopts (deopts: the
 * function's counts, or NULL if it has had none). */
static bool unspeculated(const uint8_t *deopts, size_t at)
{
    return deopts && deopts[at] >= JIT_SITE_MAX_DEOPTS;
}

/* Whether translate speculates at an opcode (from type or property feedback). */
static bool speculating_opcode(enum vm_opcode op)
{
    const struct vm_opcode_info *info = &vm_opcode_table()[op];
    return info->feedback == VM_FEEDBACK_BINARY_OP || info->feedback == VM_FEEDBACK_COMPARE ||
           op == VM_OP_LdaNamedProperty || op == VM_OP_Call;
}

/* The sites of one function's bytecode compiled without speculation (the stats). */
static uint64_t count_unspeculated(const uint8_t *deopts, const uint8_t *code, size_t length)
{
    const struct vm_opcode_info *table = vm_opcode_table();
    uint64_t n = 0;
    for (size_t at = 0; deopts && at < length; at += table[code[at]].size_bytes)
        n += unspeculated(deopts, at) && speculating_opcode((enum vm_opcode)code[at]);
    return n;
}

/* Translates the bytecode at code + at of a frame whose registers start at window slot
 * base (its accumulator at acc) into *i; jump targets are index_base + index_of[offset].
 * False if the bytecode has no translation. No allocation. */
#define R(k) ((uint8_t)(base + code[at + (k)]))
static bool translate(struct jit *j, struct object *feedback, const uint8_t *deopts,
                      const uint8_t *code, size_t at, struct jit_insn *i, uint8_t base, uint8_t acc,
                      const uint32_t *index_of, uint32_t index_base)
{
    struct vm *vm = j->vm;
    const struct vm_opcode_info *table = vm_opcode_table();
    enum vm_opcode op = (enum vm_opcode)code[at];
    /* K deopts here (JIT_SITE_MAX_DEOPTS): no speculation, whatever the feedback says. */
    bool speculate = !unspeculated(deopts, at);
    i->pc = (uint32_t)at;
    i->sub = (uint8_t)op;
    i->a = acc;
    i->acc = acc;
    i->fn = (uint8_t)(acc + 2);
    int64_t lattice = 0;
    if (table[op].feedback == VM_FEEDBACK_BINARY_OP || table[op].feedback == VM_FEEDBACK_COMPARE) {
        int k = table[op].operands[0] == VM_OPERAND_FEEDBACK ? 1 : 2;
        i->map_id = u16(code + at + k); /* the site's slot: a lost_precision deopt widens it */
        lattice = speculate ? value_to_smi(object_get(feedback, 2 + i->map_id)) : VM_TYPE_ANY;
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
        i->op = lattice == VM_TYPE_SMI && op != VM_OP_Div && op != VM_OP_Mod ? J_ARITH_SMI
                : lattice == VM_TYPE_NUMBER                                  ? J_ARITH_F64
                                                                             : J_ARITH;
        i->b = R(1);
        break;
    case VM_OP_Inc:
    case VM_OP_Dec:
    case VM_OP_Negate:
        i->op = lattice == VM_TYPE_SMI      ? J_UNARY_SMI
                : lattice == VM_TYPE_NUMBER ? J_UNARY_F64
                                            : J_UNARY;
        break;
    case VM_OP_TestEqual:
    case VM_OP_TestLessThan:
    case VM_OP_TestLessThanOrEqual:
    case VM_OP_TestGreaterThan:
    case VM_OP_TestGreaterThanOrEqual:
        i->op = lattice == VM_TYPE_SMI ? J_CMP_SMI : lattice == VM_TYPE_NUMBER ? J_CMP_F64 : J_CMP;
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
        if (value_to_smi(object_get(feedback, fb)) == VM_IC_UNINITIALIZED)
            goto soft; /* never ran: no map to speculate on */
        if (value_to_smi(object_get(feedback, fb)) != VM_IC_MONOMORPHIC ||
            (!speculate && op == VM_OP_LdaNamedProperty)) {
            if (op != VM_OP_LdaNamedProperty)
                goto unsupported;
            /* Polymorphic or megamorphic: no map to speculate on, so a generic lookup by
             * name (the receiver must still be an object). */
            i->op = J_LOAD_NAMED_GENERIC;
            i->a = R(1);
            i->x = u16(code + at + 2); /* the name's constant */
            break;
        }
        const struct vm_shape *shape = vm_shape_of_map(vm->rt, value_to_object(map));
        if (!shape || shape->kind != VM_SHAPE_OBJECT)
            goto unsupported;
        i->a = R(1);
        i->map_id = (uint32_t)map_raw(value_to_object(map), MAP_ID);
        i->sub = (uint8_t)shape->capacity;
        if (value_is_smi(handler)) {
            i->op = op == VM_OP_LdaNamedProperty ? J_LOAD_FIELD : J_STORE_FIELD;
            i->x = (int32_t)value_to_smi(handler);
            if (i->op == J_STORE_FIELD && i->x >= 0)
                i->b = vm_field_rep(shape, (uint32_t)i->x) != VM_REP_TAGGED;
        } else if (op == VM_OP_StaNamedProperty) {
            i->op = J_STORE_TRANSITION;
            i->x = (int32_t)map_raw(value_to_object(handler), MAP_ID);
            const struct vm_shape *next = vm_shape_of_map(vm->rt, value_to_object(handler));
            i->b = vm_field_rep(next, next->property_count - 1) != VM_REP_TAGGED;
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
            goto soft;
        i->op = load ? J_LOAD_ELEMENT : J_STORE_ELEMENT;
        i->a = R(1);
        i->b = load ? acc : R(2);
        i->sub = (bits & VM_KEYED_APPEND) != 0;
        break;
    }
    case VM_OP_CallIntrinsic:
        if (code[at + 1] == VM_INTRINSIC_collect_garbage || code[at + 1] == VM_INTRINSIC_full_gc ||
            code[at + 3] != 1)
            goto unsupported;
        i->op = code[at + 1] == VM_INTRINSIC_sqrt ? J_SQRT_F64 : J_INTRINSIC;
        i->sub = code[at + 1];
        i->b = R(2);
        break;
    soft:
        /* A soft deopt point (V8's "insufficient type feedback"): if control gets here the
         * interpreter takes over and collects the feedback; it does not count against
         * re-optimization (lib/deopt). */
        *i = (struct jit_insn){.op = J_SOFT_DEOPT,
                               .sub = (uint8_t)op,
                               .pc = (uint32_t)at,
                               .a = acc,
                               .acc = acc,
                               .fn = (uint8_t)(acc + 2)};
        break;
    unsupported:
    default:
        j->stats.last_unsupported_opcode = op;
        return false;
    }
    return true;
}
#undef R

/* Constant folding: a forward pass over each straight-line run of the function's own
 * instructions (knowledge is dropped at every jump target and at anything but the
 * instructions below) that knows which window slots hold which Smi. A Smi operation
 * whose operands are both known, and whose result is a Smi that fits an immediate, becomes
 * a load of that result (its guards could not fail); a Smi comparison of known operands
 * becomes a load of true or false. Returns how many instructions it folded. */
static size_t fold_constants(struct jit_insn *insns, size_t n, const uint32_t *inlined_from,
                             size_t window)
{
    bool *target = platform_calloc(n + 1, sizeof *target);
    for (size_t k = 0; k < n; k++) {
        uint8_t op = insns[k].op;
        if ((op == J_JUMP || op == J_JUMP_IF || op == J_LOOP || op == J_INLINE_RETURN) &&
            insns[k].x >= 0 && (size_t)insns[k].x <= n)
            target[insns[k].x] = true;
    }
    bool *known = platform_calloc(window + 1, sizeof *known);
    int64_t *value = platform_calloc(window + 1, sizeof *value);
    size_t folded = 0;
    for (size_t k = 0; k < n; k++) {
        struct jit_insn *i = &insns[k];
        if (target[k] || inlined_from[k] != UINT32_MAX)
            memset(known, 0, (window + 1) * sizeof *known);
        if (inlined_from[k] != UINT32_MAX)
            continue;
        int64_t a = 0, b = 0, r = 0;
        bool both = false;
        switch ((enum jit_op)i->op) {
        case J_LOAD_SMI:
            known[i->acc] = true;
            value[i->acc] = i->x;
            continue;
        case J_MOV:
            known[i->a] = known[i->b];
            value[i->a] = value[i->b];
            continue;
        case J_ARITH_SMI:
        case J_CMP_SMI:
            both = known[i->b] && known[i->acc];
            a = value[i->b];
            b = value[i->acc];
            break;
        case J_UNARY_SMI:
            both = known[i->acc];
            a = value[i->acc];
            break;
        case J_LOAD_ODDBALL:
        case J_LOAD_CONST:
        case J_NOT:
            known[i->acc] = false;
            continue;
        case J_JUMP_IF: /* writes nothing; what follows is reached from here only */
            continue;
        default:
            memset(known, 0, (window + 1) * sizeof *known);
            continue;
        }
        bool ok = both, smi_result = i->op != J_CMP_SMI;
        if (ok && i->op == J_ARITH_SMI) {
            ok = !(i->sub == VM_OP_Add   ? __builtin_add_overflow(a, b, &r)
                   : i->sub == VM_OP_Sub ? __builtin_sub_overflow(a, b, &r)
                                         : __builtin_mul_overflow(a, b, &r));
            if (i->sub == VM_OP_Mul && r == 0 && (a < 0 || b < 0))
                ok = false; /* -0: a double */
        } else if (ok && i->op == J_UNARY_SMI) {
            r = i->sub == VM_OP_Inc ? a + 1 : i->sub == VM_OP_Dec ? a - 1 : -a;
            ok = !(i->sub == VM_OP_Negate && a == 0);
        } else if (ok) {
            enum vm_opcode op = (enum vm_opcode)i->sub;
            r = vm_compare_ints(op, a, b);
        }
        if (ok && smi_result && (r < INT32_MIN || r > INT32_MAX))
            ok = false;
        if (!ok) {
            known[i->acc] = false;
            continue;
        }
        if (smi_result) {
            i->op = J_LOAD_SMI;
            i->x = (int32_t)r;
            known[i->acc] = true;
            value[i->acc] = r;
        } else {
            i->op = J_LOAD_ODDBALL;
            i->sub = r ? VM_TRUE : VM_FALSE;
            known[i->acc] = false;
        }
        folded++;
    }
    platform_free(target);
    platform_free(known);
    platform_free(value);
    return folded;
}

/* The compiler behind jit_compile and jit_compile_osr: osr_pc is the OSR loop's JumpLoop
 * offset, or -1 for code that closures run from the start. */
static int compile(struct jit *j, const value_t *function_slot, int64_t osr_pc, struct object **out)
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
    const uint8_t *deopts =
        jit_site_deopts(j, (uint32_t)shared_smi(shared, VM_SHARED_INDEX), length, false);
    uint64_t unspeculated_sites = count_unspeculated(deopts, code, length);

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
        if (code[at] != VM_OP_Call || !j->options.inline_calls || unspeculated(deopts, at))
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
        const uint8_t *cd =
            jit_site_deopts(j, (uint32_t)shared_smi(cs, VM_SHARED_INDEX), clen, false);
        bool ok = true;
        size_t ccount = 0;
        for (size_t c = 0; c < clen && ok; c += table[cc[c]].size_bytes) {
            scratch[c] = (uint32_t)ccount++;
            ok = cc[c] != VM_OP_Call && cc[c] != VM_OP_JumpLoop &&
                 translate(j, cf, cd, cc, c, &probe, cbase, (uint8_t)(cbase + cregs), scratch, 0);
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
        if (!translate(j, feedback, deopts, code, at, i, 0, acc, index_of, 0)) {
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
        const uint8_t *cd =
            jit_site_deopts(j, (uint32_t)shared_smi(cs, VM_SHARED_INDEX), clen, false);
        unspeculated_sites += count_unspeculated(cd, cc, clen);
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
            translate(j, cf, cd, cc, c, &insns[n], cbase, cacc, scratch, body);
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
    struct jit_ea ea = {0};
    /* Not for OSR code: an object the code would elide is already real in the frame. */
    bool elide = osr_pc < 0 && j->options.escape_analysis && window < 255 &&
                 jit_ea_find(j, feedback, code, length, &ea) && window + ea.capacity <= 255;
    uint8_t fbase = (uint8_t)window;
    if (elide) {
        window += ea.capacity;
        for (size_t k = 0; k < n; k++) {
            struct jit_insn *i = &insns[k];
            if (inlined_from[k] != UINT32_MAX)
                continue;
            const struct vm_shape *sh = ea.shape_before[i->pc];
            if (i->pc == ea.create_at) {
                *i = (struct jit_insn){.op = J_EA_CREATE,
                                       .sub = VM_OP_CreateObject,
                                       .a = fbase,
                                       .x = ea.capacity,
                                       .pc = i->pc,
                                       .acc = acc,
                                       .fn = acc + 2};
            } else if (sh &&
                       (code[i->pc] == VM_OP_LdaNamedProperty ||
                        code[i->pc] == VM_OP_StaNamedProperty) &&
                       code[i->pc + 1] == ea.reg) {
                value_t handler = object_get(feedback, 2 + u16(code + i->pc + 4) + 2);
                int64_t index = value_is_smi(handler)
                                    ? value_to_smi(handler)
                                    : (int64_t)vm_shape_of_map(vm->rt, value_to_object(handler))
                                              ->property_count -
                                          1;
                uint8_t op = code[i->pc];
                uint32_t pc = i->pc;
                if (op == VM_OP_LdaNamedProperty && index < 0)
                    *i = (struct jit_insn){.op = J_LOAD_ODDBALL, .sub = VM_UNDEFINED};
                else if (op == VM_OP_LdaNamedProperty)
                    *i = (struct jit_insn){
                        .op = J_MOV, .sub = op, .a = acc, .b = (uint8_t)(fbase + index)};
                else
                    *i = (struct jit_insn){
                        .op = J_MOV, .sub = op, .a = (uint8_t)(fbase + index), .b = acc};
                i->pc = pc;
                i->acc = acc;
                i->fn = (uint8_t)(acc + 2);
            }
        }
        j->stats.objects_elided++;
    }
    j->stats.constants_folded += fold_constants(insns, n, inlined_from, window);
    struct jit_slot_set *unboxed = NULL;
    if (j->options.unbox_doubles) {
        n = jit_select_representations(&insns, &inlined_from, n, &unboxed, &j->stats);
    } else {
        for (size_t k = 0; k < n; k++) {
            uint8_t *op = &insns[k].op;
            *op = *op == J_ARITH_F64   ? J_ARITH
                  : *op == J_UNARY_F64 ? J_UNARY
                  : *op == J_CMP_F64   ? J_CMP
                  : *op == J_SQRT_F64  ? J_INTRINSIC
                                       : *op;
        }
        unboxed = platform_calloc(n ? n : 1, sizeof *unboxed);
    }
    for (size_t k = 0; k + 1 < n; k++) {
        uint8_t op = insns[k].op, next = insns[k + 1].op;
        /* Not fused: control transfers, and what leaves its result in a spill slot. */
        if (op == J_JUMP || op == J_JUMP_IF || op == J_LOOP || op == J_RETURN ||
            op == J_INLINE_ENTER || op == J_INLINE_RETURN || op == J_ARITH_F64 ||
            op == J_UNARY_F64 || op == J_SQRT_F64 || op == J_MOV_F64 || op == J_BOX ||
            op == J_CMP_F64)
            continue;
        if (next == J_MOV && insns[k + 1].sub == VM_OP_Star) {
            insns[k].fuse = JIT_FUSE_STAR;
            insns[k].fuse_reg = insns[k + 1].a;
        } else if (next == J_JUMP_IF) {
            insns[k].fuse = JIT_FUSE_BRANCH;
        }
    }

    /* OSR code starts at the loop's header, the back-edge's target: a block start, where
     * every slot is tagged (representation.c) and no constant is known (fold_constants). */
    int64_t osr_entry = -1;
    for (size_t k = 0; osr_pc >= 0 && k < n && osr_entry < 0; k++)
        if (insns[k].op == J_LOOP && insns[k].pc == (uint32_t)osr_pc)
            osr_entry = insns[k].x;
    if (osr_pc >= 0 && osr_entry < 0) /* every JumpLoop translates to a J_LOOP */
        platform_fatal("jit: OSR at offset %" PRId64 ", which is no loop back-edge", osr_pc);

    size_t dep_count = 0;
    struct jit_dependency *deps = speculate_on_fields(j, insns, n, &dep_count);

    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *fn = handle_new(m, *function_slot);
    struct translation_builder *b = translation_builder_create(m);
    uint32_t fn_literal = translation_builder_literal(b, *fn);
    for (size_t point = 0; point < 2 * n; point++) {
        /* Each guard's point; a call's second one: after it returned, its result (tagged)
         * in the accumulator, resuming at the next bytecode. */
        size_t k = point / 2;
        bool after_call = point % 2;
        if (!is_guard(insns[k].op) || (after_call && insns[k].op != J_CALL))
            continue;
        uint32_t id = translation_begin_point(b);
        struct jit_slot_set at = unboxed[k];
        uint32_t resume = insns[k].pc;
        if (after_call) {
            at.bits[insns[k].acc >> 6] &= ~((uint64_t)1 << (insns[k].acc & 63));
            resume += table[VM_OP_Call].size_bytes;
        } else {
            insns[k].deopt = id;
        }
        uint32_t site = inlined_from[k];
        uint32_t outer_pc = site == UINT32_MAX ? resume : site + table[VM_OP_Call].size_bytes;
/* Where window slot s is at this deopt point: a tagged register or an unboxed double. */
#define LOC(s)                                                                                     \
    (jit_slot_set_has(&at, (s)) ? deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, (s))                      \
                                : deopt_loc(DEOPT_LOC_REGISTER, (s)))
        translation_begin_frame(b, fn_literal, outer_pc, nregs);
        translation_add(b, LOC(nregs + 1));
        translation_add(b, LOC(nregs));
        const struct vm_shape *sh =
            elide ? ea.shape_before[site == UINT32_MAX ? insns[k].pc : site] : NULL;
        for (uint32_t r = 0; r < nregs; r++) {
            if (!sh || r != ea.reg) {
                translation_add(b, LOC(r));
                continue;
            }
            translation_add(
                b, deopt_loc_captured(translation_builder_literal(b, value_from_object(sh->map)),
                                      1u + ea.capacity));
            translation_add(b, deopt_loc_smi(0));
            for (uint32_t f = 0; f < ea.capacity; f++)
                translation_add(b, LOC(fbase + f));
        }
        if (site == UINT32_MAX)
            continue;
        uint32_t cregs = insns[k].acc - cbase;
        translation_begin_frame(b, translation_builder_literal(b, inline_target[site]), resume,
                                cregs);
        translation_add(b, LOC(insns[k].acc + 1u));
        translation_add(b, LOC(insns[k].acc));
        for (uint32_t r = 0; r < cregs; r++)
            translation_add(b, LOC(cbase + r));
#undef LOC
    }
    platform_free(unboxed);
    platform_free(inline_shared);
    platform_free(inline_target);
    platform_free(inlined_from);
    if (elide)
        platform_free(ea.shape_before);
    value_t *bytes = handle_new(m, VALUE_NULL), *literals = handle_new(m, VALUE_NULL);
    translation_builder_finish(b, bytes, literals);
    translation_builder_destroy(b);
    struct object *code_object =
        codecache_allocate(m, JIT_CODE_TAGGED_COUNT, n * sizeof(struct jit_insn));
    memcpy((void *)code_body(code_object), insns, n * sizeof(struct jit_insn));
    platform_free(insns);
    shared = shared_of(*fn);
    object_store(m, code_object, 3 + JIT_CODE_BYTES, *bytes);
    object_store(m, code_object, 3 + JIT_CODE_LITERALS, *literals);
    object_store(m, code_object, 3 + JIT_CODE_SHARED, value_from_object(shared));
    object_store(m, code_object, 3 + JIT_CODE_FLAGS, value_from_smi(0));
    object_store(m, code_object, 3 + JIT_CODE_WINDOW, value_from_smi((int64_t)window));
    object_store(m, code_object, 3 + JIT_CODE_OSR_PC, value_from_smi(osr_pc));
    object_store(m, code_object, 3 + JIT_CODE_OSR_ENTRY, value_from_smi(osr_entry));
    if (osr_pc < 0) {
        object_store(m, value_to_object(*fn), VM_FUNCTION_CODE, value_from_object(code_object));
        object_store(m, shared, VM_SHARED_OPTIMIZED_CODE, value_weak_from_object(code_object));
    } else {
        codecache_osr_insert(j->cache, (uint32_t)shared_smi(shared, VM_SHARED_INDEX),
                             (uint32_t)osr_pc, code_object);
    }
    codecache_add_optimized(j->cache, code_object);
    /* Registered before it first runs: a property that generalized since the compile
     * began invalidates it now (tier_call then interprets instead, jit.c). */
    for (size_t d = 0; d < dep_count; d++)
        if (!vm_shape_add_dependent(vm->rt, deps[d].shape, deps[d].field, code_object))
            codecache_invalidate(code_object);
    j->stats.dependencies += dep_count;
    platform_free(deps);
    if (osr_pc < 0) {
        value_t *code_handle = handle_new(m, value_from_object(code_object));
        codecache_note_closure(m, code_handle, JIT_CODE_CLOSURES, fn);
        j->stats.functions_optimized++;
    } else {
        j->stats.osr_compiles++;
    }
    j->stats.unspeculated_sites += unspeculated_sites;
    *out = code_object; /* code space: it does not move */
    shared = shared_of(*fn);
    if (j->options.events && j->options.events->optimized)
        j->options.events->optimized(j->options.events_ctx, vm,
                                     (uint32_t)shared_smi(shared, VM_SHARED_INDEX),
                                     platform_now_ns());
    handle_scope_close(m, &scope);
    return 0;
}

int jit_compile(struct jit *j, const value_t *function_slot)
{
    struct object *code;
    return compile(j, function_slot, -1, &code);
}

int jit_compile_osr(struct jit *j, const value_t *function_slot, uint32_t loop_pc,
                    struct object **code)
{
    return compile(j, function_slot, loop_pc, code);
}
