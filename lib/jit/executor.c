/*
 * lib/jit executor: the dispatcher loop that runs a code object's instruction stream
 * (docs/jit.md, "Instruction set of the dispatcher"), and the failed-guard path into
 * deopt_eager.
 *
 * Invariant: the executor keeps every tagged value of an activation in its window of the
 * tagged register file (jit->file), which jit_visit_file visits precisely as a root;
 * across anything that may collect (an allocation, a call, a safepoint poll at entry and
 * at every back-edge, a deopt) it holds no other heap pointer but the code object's,
 * which lives in code space and never moves.
 *
 * Deopt (Hölzle, Chambers and Ungar, PLDI 1992): a failed guard marks the code, unlinks it
 * from the running closure, clears the tier-up request and counters so that the function
 * collects new feedback in the interpreter before it is compiled again, and calls
 * deopt_eager, which writes the interpreter frames and runs them to their return.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "barrier/barrier.h"
#include "jit/code.h"

void jit_visit_file(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
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

/* Unboxed doubles live as raw bits in the activation's spill slots. */
static inline double spill_get(const uint64_t *s, size_t k)
{
    double d;
    memcpy(&d, &s[k], sizeof d);
    return d;
}
static inline void spill_set(uint64_t *s, size_t k, double d) { memcpy(&s[k], &d, sizeof d); }

/* The largest magnitude up to which every integer is a double: past it, integer and
 * double arithmetic part ways. */
#define EXACT_LIMIT 0x1p53

/* An operand of a double instruction, from its spill slot or unboxed from its tagged slot:
 * DEOPT_REASON_NONE, or why it cannot be used (not a number; a Smi a double cannot hold
 * exactly, which the interpreter would compute with as an integer). */
static inline enum deopt_reason f64_operand(const value_t *w, const uint64_t *s, size_t k,
                                            bool unboxed, double *out)
{
    if (unboxed) {
        *out = spill_get(s, k);
        return DEOPT_REASON_NONE;
    }
    value_t v = w[k];
    if (value_is_smi(v)) {
        int64_t i = value_to_smi(v);
        *out = (double)i;
        return i >= -(int64_t)EXACT_LIMIT && i <= (int64_t)EXACT_LIMIT
                   ? DEOPT_REASON_NONE
                   : DEOPT_REASON_LOST_PRECISION;
    }
    if (value_is_strong(v) && object_type(value_to_object(v)) == TYPE_HEAP_NUMBER) {
        *out = heap_number_value(value_to_object(v));
        return DEOPT_REASON_NONE;
    }
    return DEOPT_REASON_NOT_NUMBER;
}

/* Whether the interpreter would hold x as a Smi (canonical numbers), and so compute with
 * it as an integer. */
static inline bool smi_valued(double x)
{
    int64_t unused;
    return vm_double_is_smi(x, &unused);
}

/* vm_value_truthy with the booleans (what comparisons leave) decided inline. */
static inline bool truthy(struct vm_runtime *rt, value_t v)
{
    if (v == rt->oddballs[VM_TRUE])
        return true;
    if (v == rt->oddballs[VM_FALSE])
        return false;
    return vm_value_truthy(rt, v);
}

static const char *name_of(struct vm *vm, value_t function)
{
    return vm->module->functions[shared_smi(shared_of(function), VM_SHARED_INDEX)].name;
}

/* True, with vm->error set as the interpreter sets it, once back-edges plus calls have
 * passed vm->step_limit or the mutator's allocation vm->allocation_limit (0: none). */
static bool past_step_limit(struct vm *vm, value_t function, uint32_t pc)
{
    if (vm->allocation_limit && vm->m->allocated_bytes > vm->allocation_limit) {
        snprintf(vm->error, sizeof vm->error,
                 "%s@%" PRIu32 ": allocation limit reached (%" PRIu64 " bytes)",
                 name_of(vm, function), pc, vm->allocation_limit);
        return true;
    }
    if (!vm->step_limit || vm->stats.backedges + vm->stats.calls <= vm->step_limit)
        return false;
    snprintf(vm->error, sizeof vm->error,
             "%s@%" PRIu32 ": step limit reached (%" PRIu64 " back-edges and calls)",
             name_of(vm, function), pc, vm->step_limit);
    return true;
}

/* The code cache's part of a deopt, run by deopt_eager right after its entry poll (so
 * after a pending collection): the code goes to the deoptimized list, no closure takes it
 * from the shared info any more, and under code_unlinking=eager every closure still
 * linked to it is reset now (lazy: each at its next call, in the tier's entry check). */
struct code_deopt {
    struct jit *j;
    struct object *code;     /* code space: it does not move */
    const value_t *function; /* the outermost function's window slot (a root) */
    const char *kind;        /* "eager", "soft" or "lazy" */
};

/* The deopt's event, once its frames are written and before they resume (which may
 * optimize the function again, even into OSR code, before deopt_eager returns). */
static void deopt_recorded(void *ctx, const struct deopt_stats *ds)
{
    struct code_deopt *cd = ctx;
    struct jit *j = cd->j;
    if (j->options.events && j->options.events->deopt)
        j->options.events->deopt(j->options.events_ctx, j->vm, ds, cd->kind,
                                 WALTZ_OPT_CODE_UNLINKING);
}

static void code_deoptimized(void *ctx)
{
    struct code_deopt *cd = ctx;
    struct jit *j = cd->j;
    struct mutator *m = j->vm->m;
    struct object *shared = shared_of(*cd->function);
    value_t cached = object_get(shared, VM_SHARED_OPTIMIZED_CODE);
    if (value_is_weak(cached) && value_to_object(cached) == cd->code)
        object_store(m, shared, VM_SHARED_OPTIMIZED_CODE, value_from_smi(0));
    codecache_deoptimize(j->cache, cd->code);
    if (code_is_osr(cd->code))
        codecache_osr_evict(j->cache, cd->code); /* the next hot back-edge compiles anew */
    if (CODECACHE_EAGER)
        j->stats.eager_unlinks += codecache_reset_closures(
            j->cache, m, cd->code, JIT_CODE_CLOSURES, VM_FUNCTION_CODE, vm_undefined(j->vm->rt));
}

/* jit_execute and jit_execute_osr: an activation of code for the function in
 * *function_slot, from the start with args (osr false), or from its OSR entry in place of
 * the interpreter's top frame (osr true: function_slot is that frame's). */
static int execute(struct jit *j, struct object *code, const value_t *function_slot,
                   const value_t *args, size_t argc, bool osr, value_t *result)
{
    struct vm *vm = j->vm;
    struct vm_runtime *rt = vm->rt;
    value_t *tagged = code_tagged(code);
    const struct jit_insn *insns = code_body(code);
    size_t window = (size_t)value_to_smi(tagged[JIT_CODE_WINDOW]);
    size_t nregs = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_REGISTERS),
           params = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_PARAMS);
    /* Optimized activations count as frames (and recurse in C, so they must be bounded). */
    if (j->top + window > JIT_FILE_SLOTS || vm->frame_count + j->depth >= vm->max_frames) {
        if (osr)
            return 1; /* the interpreter goes on with its frame */
        snprintf(vm->error, sizeof vm->error,
                 "stack overflow: more than %zu frames (or %zu optimized register slots) deep, "
                 "calling %s",
                 vm->max_frames, JIT_FILE_SLOTS, name_of(vm, *function_slot));
        return -1;
    }
    size_t base = j->top;
    value_t *w = j->file + base;
    uint64_t *sp = j->spill + base;
    value_t undefined = vm_undefined(rt);
    for (size_t r = nregs; r < window; r++)
        w[r] = undefined;
    if (osr) {
        /* The frame's values move into the window (no allocation in between), then the
         * frame goes: the activation replaces it. */
        const struct vm_frame *frame = &vm->frames[vm->frame_count - 1];
        const value_t *regs = vm->stack + frame->base;
        for (size_t r = 0; r < nregs; r++)
            w[r] = regs[r];
        w[nregs] = frame->acc;
        w[nregs + 1] = frame->context;
        w[nregs + 2] = frame->function;
        vm->stack_top = frame->base;
        vm->frame_count--;
    } else {
        for (size_t r = 0; r < nregs; r++)
            w[r] = r < argc && r < params ? args[r] : undefined;
        w[nregs] = undefined;
        w[nregs + 1] = object_get(value_to_object(*function_slot), VM_FUNCTION_CONTEXT);
        w[nregs + 2] = *function_slot;
    }
    w[nregs + 3] = value_from_object(code);
    j->top += window;
    struct jit_activation activation = {code, j->activations, false};
    j->activations = &activation;
    const size_t FN = nregs + 2;
    vm->stats.polls++;
    mutator_poll(vm->m);

    const struct jit_insn *i;
    enum deopt_reason reason;
    uint32_t deopt_id;
    size_t ip = osr ? (size_t)value_to_smi(tagged[JIT_CODE_OSR_ENTRY]) : 0;
    /* Counted here, added to j->stats at every exit (a store per guard costs). */
    uint64_t guards = 0;
    const uint64_t stress = j->options.deopt_stress;
#define GUARD(cond, why)                                                                           \
    do {                                                                                           \
        guards++;                                                                                  \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            reason = why;                                                                          \
            deopt_id = i->deopt;                                                                   \
            goto deopt;                                                                            \
        }                                                                                          \
        if (stress && ++j->stress_count >= stress) {                                               \
            j->stress_count = 0;                                                                   \
            reason = DEOPT_REASON_STRESS;                                                          \
            deopt_id = i->deopt;                                                                   \
            goto deopt;                                                                            \
        }                                                                                          \
    } while (0)
    /* Threaded dispatch (a GNU C extension): every instruction ends with its own jump to
     * the next one's handler, which branch predictors follow far better than the one
     * indirect jump of a switch (Ertl and Gregg, "The structure and performance of
     * efficient interpreters", JILP 2003). */
    static const void *const handlers[] = {
        [J_LOAD_SMI] = &&op_J_LOAD_SMI,
        [J_LOAD_CONST] = &&op_J_LOAD_CONST,
        [J_LOAD_ODDBALL] = &&op_J_LOAD_ODDBALL,
        [J_MOV] = &&op_J_MOV,
        [J_ARITH_SMI] = &&op_J_ARITH_SMI,
        [J_ARITH] = &&op_J_ARITH,
        [J_UNARY] = &&op_J_UNARY,
        [J_UNARY_SMI] = &&op_J_UNARY_SMI,
        [J_CMP_SMI] = &&op_J_CMP_SMI,
        [J_CMP] = &&op_J_CMP,
        [J_NOT] = &&op_J_NOT,
        [J_JUMP] = &&op_J_JUMP,
        [J_JUMP_IF] = &&op_J_JUMP_IF,
        [J_LOOP] = &&op_J_LOOP,
        [J_LDA_GLOBAL] = &&op_J_LDA_GLOBAL,
        [J_STA_GLOBAL] = &&op_J_STA_GLOBAL,
        [J_CALL] = &&op_J_CALL,
        [J_INLINE_ENTER] = &&op_J_INLINE_ENTER,
        [J_EA_CREATE] = &&op_J_EA_CREATE,
        [J_INLINE_RETURN] = &&op_J_INLINE_RETURN,
        [J_RETURN] = &&op_J_RETURN,
        [J_LOAD_FIELD] = &&op_J_LOAD_FIELD,
        [J_STORE_FIELD] = &&op_J_STORE_FIELD,
        [J_STORE_TRANSITION] = &&op_J_STORE_TRANSITION,
        [J_CREATE_OBJECT] = &&op_J_CREATE_OBJECT,
        [J_CREATE_ARRAY] = &&op_J_CREATE_ARRAY,
        [J_LOAD_ELEMENT] = &&op_J_LOAD_ELEMENT,
        [J_STORE_ELEMENT] = &&op_J_STORE_ELEMENT,
        [J_INTRINSIC] = &&op_J_INTRINSIC,
        [J_ARITH_F64] = &&op_J_ARITH_F64,
        [J_UNARY_F64] = &&op_J_UNARY_F64,
        [J_CMP_F64] = &&op_J_CMP_F64,
        [J_SQRT_F64] = &&op_J_SQRT_F64,
        [J_MOV_F64] = &&op_J_MOV_F64,
        [J_BOX] = &&op_J_BOX,
        [J_SOFT_DEOPT] = &&op_J_SOFT_DEOPT,
        [J_LOAD_NAMED_GENERIC] = &&op_J_LOAD_NAMED_GENERIC,
        [J_ARITH_SMI_ACC] = &&op_J_ARITH_SMI_ACC,
    };
#define NEXT                                                                                       \
    do {                                                                                           \
        if (i->fuse == JIT_FUSE_STAR) {                                                            \
            w[i->fuse_reg] = w[i->acc];                                                            \
            ip++;                                                                                  \
        } else if (i->fuse == JIT_FUSE_BRANCH) {                                                   \
            const struct jit_insn *branch = &insns[ip];                                            \
            ip = truthy(rt, w[i->acc]) == (bool)branch->sub ? (size_t)branch->x : ip + 1;          \
        }                                                                                          \
        i = &insns[ip++];                                                                          \
        goto *handlers[i->op];                                                                     \
    } while (0)
    i = &insns[ip++];
    goto *handlers[i->op];
    {
    op_J_LOAD_SMI:
        w[i->acc] = value_from_smi(i->x);
        NEXT;
    op_J_LOAD_CONST:
        w[i->acc] =
            object_get(value_to_object(object_get(shared_of(w[i->fn]), VM_SHARED_CONSTANTS)),
                       2 + (size_t)i->x);
        NEXT;
    op_J_LOAD_ODDBALL:
        w[i->acc] = rt->oddballs[i->sub];
        NEXT;
    op_J_MOV:
        w[i->a] = w[i->b];
        NEXT;
    op_J_ARITH_SMI:
    op_J_ARITH_SMI_ACC : {
        value_t lhs = w[i->b], rhs = w[i->acc];
        /* ARITH_SMI_ACC: the accumulator is a Smi by the field representation it came from
         * (the code is invalidated before that can change). */
        GUARD(value_is_smi(lhs) && (i->op == J_ARITH_SMI_ACC || value_is_smi(rhs)),
              DEOPT_REASON_NOT_SMI);
        int64_t a = value_to_smi(lhs), b = value_to_smi(rhs), r;
        bool overflow = i->sub == VM_OP_Add   ? __builtin_add_overflow(a, b, &r)
                        : i->sub == VM_OP_Sub ? __builtin_sub_overflow(a, b, &r)
                                              : __builtin_mul_overflow(a, b, &r);
        if (i->sub == VM_OP_Mul && !overflow && r == 0 && (a < 0 || b < 0))
            overflow = true;
        GUARD(!overflow && fits_smi(r), DEOPT_REASON_SMI_OVERFLOW);
        w[i->acc] = value_from_smi(r);
        NEXT;
    }
    op_J_ARITH:
    op_J_UNARY : {
        value_t lhs = i->op == J_ARITH ? w[i->b] : w[i->acc];
        value_t rhs =
            i->op == J_ARITH ? w[i->acc] : value_from_smi(i->sub == VM_OP_Negate ? -1 : 1);
        enum vm_opcode op = i->op == J_ARITH      ? (enum vm_opcode)i->sub
                            : i->sub == VM_OP_Inc ? VM_OP_Add
                            : i->sub == VM_OP_Dec ? VM_OP_Sub
                                                  : VM_OP_Mul;
        /* Smi % and / whose result is a Smi as vm_arith would give it: a non-negative
         * dividend with a positive divisor, or an exact division (not giving -0). */
        if (value_is_smi(lhs) && value_is_smi(rhs) && i->op == J_ARITH) {
            int64_t a = value_to_smi(lhs), b = value_to_smi(rhs);
            if (op == VM_OP_Mod && a >= 0 && b > 0) {
                guards++;
                w[i->acc] = value_from_smi(a % b);
                NEXT;
            }
            if (op == VM_OP_Div && b > 0 && a % b == 0) {
                guards++;
                w[i->acc] = value_from_smi(a / b);
                NEXT;
            }
        }
        double x, y, d = 0;
        GUARD(to_number(lhs, &x) && to_number(rhs, &y), DEOPT_REASON_NOT_NUMBER);
        if (value_is_smi(lhs) && value_is_smi(rhs)) {
            int64_t smi = 0;
            if (vm_arith(op, lhs, rhs, &smi, &d) == VM_ARITH_SMI) {
                w[i->acc] = value_from_smi(smi);
                NEXT;
            }
        } else {
            d = op == VM_OP_Add   ? x + y
                : op == VM_OP_Sub ? x - y
                : op == VM_OP_Mul ? x * y
                : op == VM_OP_Div ? x / y
                                  : fmod(x, y);
        }
        w[i->acc] = vm_number_from_double(vm, d);
        NEXT;
    }
    /* Double instructions. The interpreter computes with two Smi-valued operands as
     * integers: where the double result could differ from that (its magnitude reaches
     * 2^53), the guard hands the operation back to it. */
    op_J_ARITH_F64 : {
        double x, y, r;
        enum deopt_reason why = f64_operand(w, sp, i->b, i->unboxed & JIT_UNBOXED_B, &x);
        if (why == DEOPT_REASON_NONE)
            why = f64_operand(w, sp, i->acc, i->unboxed & JIT_UNBOXED_ACC, &y);
        GUARD(why == DEOPT_REASON_NONE, why);
        r = i->sub == VM_OP_Add   ? x + y
            : i->sub == VM_OP_Sub ? x - y
            : i->sub == VM_OP_Mul ? x * y
            : i->sub == VM_OP_Div ? x / y
                                  : fmod(x, y);
        GUARD(!(fabs(r) >= EXACT_LIMIT) || !smi_valued(x) || !smi_valued(y),
              DEOPT_REASON_LOST_PRECISION);
        spill_set(sp, i->acc, r);
        NEXT;
    }
    op_J_UNARY_F64 : {
        double x, r;
        enum deopt_reason why = f64_operand(w, sp, i->acc, i->unboxed & JIT_UNBOXED_ACC, &x);
        GUARD(why == DEOPT_REASON_NONE, why);
        r = i->sub == VM_OP_Inc ? x + 1 : i->sub == VM_OP_Dec ? x - 1 : -x;
        GUARD(!(fabs(r) >= EXACT_LIMIT) || !smi_valued(x), DEOPT_REASON_LOST_PRECISION);
        spill_set(sp, i->acc, r);
        NEXT;
    }
    op_J_CMP_F64 : {
        double x, y;
        enum deopt_reason why = f64_operand(w, sp, i->b, i->unboxed & JIT_UNBOXED_B, &x);
        if (why == DEOPT_REASON_NONE)
            why = f64_operand(w, sp, i->acc, i->unboxed & JIT_UNBOXED_ACC, &y);
        GUARD(why == DEOPT_REASON_NONE, why);
        w[i->acc] = vm_boolean(rt, vm_compare_doubles((enum vm_opcode)i->sub, x, y));
        NEXT;
    }
    op_J_SQRT_F64 : {
        double x;
        enum deopt_reason why = f64_operand(w, sp, i->b, i->unboxed & JIT_UNBOXED_B, &x);
        GUARD(why == DEOPT_REASON_NONE, why);
        spill_set(sp, i->acc, sqrt(x));
        NEXT;
    }
    op_J_MOV_F64:
        sp[i->a] = sp[i->b];
        NEXT;
    op_J_LOAD_NAMED_GENERIC : {
        value_t receiver = w[i->a];
        const struct vm_shape *s = vm_shape_of(rt, receiver);
        GUARD(s && s->kind == VM_SHAPE_OBJECT, DEOPT_REASON_WRONG_MAP);
        struct object *constants =
            value_to_object(object_get(shared_of(w[i->fn]), VM_SHARED_CONSTANTS));
        uint32_t symbol = (uint32_t)value_to_smi(object_get(constants, 2 + (size_t)i->x));
        int index = vm_shape_find(s, symbol);
        w[i->acc] = index < 0 ? undefined
                              : vm_object_get_field(value_to_object(receiver), s, (uint32_t)index);
        NEXT;
    }
    op_J_SOFT_DEOPT:
        j->stats.soft_deopts++;
        reason = DEOPT_REASON_INSUFFICIENT_FEEDBACK;
        deopt_id = i->deopt;
        goto deopt;
    op_J_BOX:
        w[i->a] = vm_number_from_double(vm, spill_get(sp, i->a));
        NEXT;
    op_J_UNARY_SMI : {
        value_t v = w[i->acc];
        GUARD(value_is_smi(v), DEOPT_REASON_NOT_SMI);
        int64_t a = value_to_smi(v);
        int64_t r = i->sub == VM_OP_Inc ? a + 1 : i->sub == VM_OP_Dec ? a - 1 : -a;
        GUARD(fits_smi(r) && !(i->sub == VM_OP_Negate && a == 0), DEOPT_REASON_SMI_OVERFLOW);
        w[i->acc] = value_from_smi(r);
        NEXT;
    }
    op_J_CMP_SMI:
    op_J_CMP : {
        value_t lhs = w[i->b], rhs = w[i->acc];
        bool r, smis = value_is_smi(lhs) && value_is_smi(rhs);
        enum vm_opcode op = (enum vm_opcode)i->sub;
        if (i->op == J_CMP_SMI)
            GUARD(smis, DEOPT_REASON_NOT_SMI);
        if (smis) {
            int64_t a = value_to_smi(lhs), b = value_to_smi(rhs);
            r = vm_compare_ints(op, a, b);
        } else if (vm_value_is_number(lhs) && vm_value_is_number(rhs)) {
            double a, b;
            vm_value_to_number(lhs, &a);
            vm_value_to_number(rhs, &b);
            r = vm_compare_doubles(op, a, b);
        } else {
            GUARD(op == VM_OP_TestEqual, DEOPT_REASON_NOT_NUMBER);
            r = lhs == rhs;
        }
        w[i->acc] = vm_boolean(rt, r);
        NEXT;
    }
    op_J_NOT:
        w[i->acc] = vm_boolean(rt, !truthy(rt, w[i->acc]));
        NEXT;
    op_J_JUMP:
        ip = (size_t)i->x;
        NEXT;
    op_J_JUMP_IF:
        if (truthy(rt, w[i->acc]) == (bool)i->sub)
            ip = (size_t)i->x;
        NEXT;
    op_J_LOOP:
        vm->stats.backedges++;
        if (past_step_limit(vm, w[FN], i->pc))
            goto fail;
        vm->stats.polls++;
        mutator_poll(vm->m);
        ip = (size_t)i->x;
        NEXT;
    op_J_LDA_GLOBAL : {
        value_t v = object_get(value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + (size_t)i->x);
        GUARD(v != rt->oddballs[VM_HOLE], DEOPT_REASON_DEPENDENCY_CHANGED);
        w[i->acc] = v;
        NEXT;
    }
    op_J_STA_GLOBAL:
        object_store(vm->m, value_to_object(vm->roots[VM_ROOT_GLOBALS]), 2 + (size_t)i->x,
                     w[i->acc]);
        NEXT;
    op_J_CALL : {
        const struct vm_shape *s = vm_shape_of(rt, w[i->a]);
        GUARD(s && s->kind == VM_SHAPE_FUNCTION, DEOPT_REASON_WRONG_MAP);
        if (vm->allocation_limit && vm->m->allocated_bytes > vm->allocation_limit) {
            past_step_limit(vm, w[FN], i->pc); /* the allocation limit's message */
            goto fail;
        }
        if (vm->step_limit && vm->stats.backedges + vm->stats.calls + 1 > vm->step_limit) {
            vm->stats.calls++;
            past_step_limit(vm, w[FN], i->pc);
            goto fail;
        }
        value_t r, callee_code = object_get(value_to_object(w[i->a]), VM_FUNCTION_CODE);
        int rc;
        if (is_code(callee_code) && !code_is_marked(value_to_object(callee_code))) {
            /* Optimized callee: straight into the executor (vm_call would get here
             * through the tier after counting an invocation it no longer needs). */
            vm->stats.calls++;
            j->stats.optimized_calls++;
            j->depth++;
            rc = jit_execute(j, &w[i->a], &w[i->b], (size_t)i->x, &r);
            j->depth--;
        } else {
            rc = vm_call(vm, &w[i->a], &w[i->b], (size_t)i->x, &r);
        }
        if (rc != 0)
            goto fail;
        w[i->acc] = r;
        /* A dependency of this code changed while the callee ran (on this thread or
         * another): leave it, resuming the interpreter after the call. */
        if (__builtin_expect(codecache_is_invalidated(code), 0)) {
            j->stats.lazy_deopts++;
            reason = DEOPT_REASON_DEPENDENCY_CHANGED;
            deopt_id = i->deopt + 1;
            goto deopt;
        }
        NEXT;
    }
    op_J_INLINE_ENTER : {
        value_t callee = w[i->a];
        const struct vm_shape *s = vm_shape_of(rt, callee);
        GUARD(s && s->kind == VM_SHAPE_FUNCTION &&
                  shared_smi(shared_of(callee), VM_SHARED_INDEX) == i->map_id,
              DEOPT_REASON_WRONG_MAP);
        vm->stats.calls++;
        if (past_step_limit(vm, w[FN], i->pc))
            goto fail;
        size_t cbase = i->fuse_reg, cregs = (size_t)i->fn - 2 - cbase;
        for (size_t r = 0; r < cregs; r++)
            w[cbase + r] = r < (size_t)i->x && r < i->sub ? w[i->b + r] : undefined;
        w[cbase + cregs] = undefined;
        w[cbase + cregs + 1] = object_get(value_to_object(callee), VM_FUNCTION_CONTEXT);
        w[i->fn] = callee;
        NEXT;
    }
    op_J_EA_CREATE: /* an elided CreateObject: its fields start undefined */
        for (int32_t k = 0; k < i->x; k++)
            w[i->a + k] = undefined;
        NEXT;
    op_J_INLINE_RETURN:
        w[i->b] = w[i->acc];
        ip = (size_t)i->x;
        NEXT;
    op_J_RETURN:
        *result = w[i->acc];
        j->top = base;
        j->activations = activation.prev;
        j->stats.guards_executed += guards;
        return 0;
    op_J_LOAD_FIELD:
    op_J_STORE_FIELD:
    op_J_STORE_TRANSITION : {
        value_t receiver = w[i->a];
        GUARD(value_is_strong(receiver) &&
                  map_raw(object_map(value_to_object(receiver)), MAP_ID) == i->map_id,
              DEOPT_REASON_WRONG_MAP);
        struct object *o = value_to_object(receiver);
        if (i->op != J_LOAD_FIELD && i->b) /* a Smi-represented property: no generalizing */
            GUARD(value_is_smi(w[i->acc]), DEOPT_REASON_NOT_SMI);
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
        NEXT;
    }
    op_J_CREATE_OBJECT : {
        value_t o = vm_new_object(vm, (uint32_t)i->x);
        GUARD(o != VALUE_NULL, DEOPT_REASON_DEPENDENCY_CHANGED);
        w[i->acc] = o;
        NEXT;
    }
    op_J_CREATE_ARRAY : {
        value_t n = w[i->acc];
        GUARD(value_is_smi(n) && value_to_smi(n) >= 0 && value_to_smi(n) <= JIT_MAX_ARRAY_LENGTH,
              DEOPT_REASON_NOT_SMI);
        if (vm_array_past_allocation_limit(vm, value_to_smi(n))) {
            snprintf(vm->error, sizeof vm->error,
                     "%s@%" PRIu32 ": allocation limit reached (%" PRIu64 " bytes)",
                     name_of(vm, w[i->fn]), i->pc, vm->allocation_limit);
            goto fail;
        }
        w[i->acc] = vm_new_array(vm, value_to_smi(n));
        NEXT;
    }
    op_J_LOAD_ELEMENT:
    op_J_STORE_ELEMENT : {
        value_t receiver = w[i->a], key = w[i->b];
        const struct vm_shape *s = vm_shape_of(rt, receiver);
        GUARD(s && s->kind == VM_SHAPE_ARRAY, DEOPT_REASON_WRONG_MAP);
        GUARD(value_is_smi(key), DEOPT_REASON_NOT_SMI);
        struct object *a = value_to_object(receiver);
        int64_t index = value_to_smi(key), length = value_to_smi(object_get(a, VM_ARRAY_LENGTH));
        if (i->op == J_STORE_ELEMENT && i->sub && index == length) {
            GUARD(length < JIT_MAX_ARRAY_LENGTH, DEOPT_REASON_OUT_OF_BOUNDS);
            vm_array_push(vm, &w[i->a], &w[i->acc]);
            NEXT;
        }
        GUARD(index >= 0 && index < length, DEOPT_REASON_OUT_OF_BOUNDS);
        struct object *elements = value_to_object(object_get(a, VM_ARRAY_ELEMENTS));
        if (i->op == J_LOAD_ELEMENT)
            w[i->acc] = object_get(elements, 2 + (size_t)index);
        else
            object_store(vm->m, elements, 2 + (size_t)index, w[i->acc]);
        NEXT;
    }
    op_J_INTRINSIC : {
        value_t arg = w[i->b];
        if (i->sub == VM_INTRINSIC_await_collection_request) {
            char why[160];
            if (vm_await_collection_request(vm, arg, why, sizeof why) != 0) {
                snprintf(vm->error, sizeof vm->error, "%s@%" PRIu32 ": %s", name_of(vm, w[i->fn]),
                         i->pc, why);
                goto fail;
            }
            w[i->acc] = undefined;
            NEXT;
        }
        if (i->sub == VM_INTRINSIC_length) {
            const struct vm_shape *s = vm_shape_of(rt, arg);
            GUARD(s && s->kind == VM_SHAPE_ARRAY, DEOPT_REASON_WRONG_MAP);
            w[i->acc] = object_get(value_to_object(arg), VM_ARRAY_LENGTH);
            NEXT;
        }
        GUARD(vm_value_is_number(arg), DEOPT_REASON_NOT_NUMBER);
        if (value_is_smi(arg) && i->sub != VM_INTRINSIC_sqrt) {
            int64_t n = value_to_smi(arg);
            w[i->acc] = i->sub == VM_INTRINSIC_floor || n >= 0 ? arg : vm_number_from_int(vm, -n);
            NEXT;
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
        NEXT;
    }
    }
#undef NEXT
#undef GUARD

fail:
    j->top = base;
    j->activations = activation.prev;
    j->stats.guards_executed += guards;
    return -1;

deopt : {
    struct mutator *m = vm->m;
    j->activations = activation.prev; /* interpreter frames replace it */
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
    /* Doubles cannot compute this site as the interpreter does: the next compile uses the
     * generic instruction there (feedback "any"), not the double one again. */
    if (reason == DEOPT_REASON_LOST_PRECISION && i->op != J_SQRT_F64) { /* sqrt has no slot */
        struct object *fb = value_to_object(object_get(shared_of(w[i->fn]), VM_SHARED_FEEDBACK));
        object_store(m, fb, 2 + i->map_id, value_from_smi(VM_TYPE_ANY));
    }
    /* A speculation failed at this site: after JIT_SITE_MAX_DEOPTS of them the compiler
     * stops speculating there (compiler.c). Soft and lazy deopts do not count. An inlined
     * call's target guard belongs to the caller's Call. */
    if (reason != DEOPT_REASON_INSUFFICIENT_FEEDBACK && deopt_id == i->deopt) {
        struct object *site = shared_of(i->op == J_INLINE_ENTER ? w[FN] : w[i->fn]);
        uint8_t *counts = jit_site_deopts(
            j, (uint32_t)shared_smi(site, VM_SHARED_INDEX),
            object_length(value_to_object(object_get(site, VM_SHARED_BYTECODE))), true);
        if (counts && counts[i->pc] < UINT8_MAX)
            counts[i->pc]++;
    }
    j->stats.deopts[reason]++;
    struct code_deopt cd = {j, code, &w[FN],
                            reason == DEOPT_REASON_INSUFFICIENT_FEEDBACK ? "soft"
                            : deopt_id != i->deopt                       ? "lazy"
                                                                         : "eager"};
    struct deopt_machine_state state = {.registers = (const uint64_t *)w,
                                        .register_count = window,
                                        .stack_slots = sp,
                                        .stack_slot_count = window,
                                        .after_entry_poll = code_deoptimized,
                                        .after_entry_poll_ctx = &cd,
                                        .before_resume = deopt_recorded,
                                        .before_resume_ctx = &cd,
                                        .outermost_function = &w[FN]};
    struct deopt_stats ds;
    int rc = deopt_eager(vm, &tagged[JIT_CODE_BYTES], &tagged[JIT_CODE_LITERALS], deopt_id, reason,
                         &state, &ds, result);
    j->top = base;
    j->stats.guards_executed += guards;
    return rc;
}
}

int jit_execute(struct jit *j, const value_t *function_slot, const value_t *args, size_t argc,
                value_t *result)
{
    struct object *code =
        value_to_object(object_get(value_to_object(*function_slot), VM_FUNCTION_CODE));
    return execute(j, code, function_slot, args, argc, false, result);
}

int jit_execute_osr(struct jit *j, struct object *code, value_t *result)
{
    struct vm *vm = j->vm;
    return execute(j, code, &vm->frames[vm->frame_count - 1].function, NULL, 0, true, result);
}
