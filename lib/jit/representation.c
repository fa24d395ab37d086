/*
 * lib/jit representation selection: which values of an optimized activation live as
 * unboxed doubles (docs/jit.md, "Unboxed doubles"). The compiler has already chosen the
 * double instructions (J_ARITH_F64, J_UNARY_F64, J_CMP_F64, J_SQRT_F64) from number
 * feedback; this pass decides, per instruction, where each window slot's value is:
 *   tagged  in the tagged register file only (the GC's root);
 *   double  as raw bits in the activation's spill slot of the same index only (the
 *           tagged slot still holds an older, valid value that nothing reads);
 *   both    after a box.
 * A double instruction leaves its result in a spill slot; a move of a double copies the
 * spill slot; anything else that reads a double-only slot gets a J_BOX before it. At a
 * jump, and where control falls into a jump target, a double-only slot is boxed only if
 * it is live there (backward liveness over the instruction stream), since every block
 * begins with all slots tagged. Deopt points record double-only slots as double spill
 * slots, which the deoptimizer boxes. Because numbers are canonical (lib/vm), a box is
 * the number the interpreter would have made: a Smi when the double is integral.
 *
 * After the representation selection of V8's TurboFan (Float64 values, ChangeFloat64-
 * ToTagged where a tagged value is needed) and the classic liveness dataflow (Kildall,
 * POPL 1973), on a far smaller scale.
 */
#include <string.h>

#include "jit/code.h"
#include "platform/platform.h"

enum { TAGGED, DOUBLE, BOTH };

static inline void set_add(struct jit_slot_set *s, unsigned k)
{
    s->bits[k >> 6] |= (uint64_t)1 << (k & 63);
}

/* Slots an instruction reads, in any representation (use), slots it surely writes (kill:
 * for liveness) and slots it may write (def: for the representation state). */
static void effects(const struct jit_insn *i, struct jit_slot_set *use, struct jit_slot_set *kill,
                    struct jit_slot_set *def)
{
    memset(use, 0, sizeof *use);
    memset(kill, 0, sizeof *kill);
    switch ((enum jit_op)i->op) {
    case J_LOAD_CONST:
        set_add(use, i->fn);
        set_add(kill, i->acc);
        break;
    case J_LOAD_SMI:
    case J_LOAD_ODDBALL:
    case J_LDA_GLOBAL:
    case J_CREATE_OBJECT:
        set_add(kill, i->acc);
        break;
    case J_MOV:
    case J_MOV_F64:
        set_add(use, i->b);
        set_add(kill, i->a);
        break;
    case J_ARITH_SMI:
    case J_ARITH_SMI_ACC: /* made after this pass (compiler.c), listed for completeness */
    case J_ARITH:
    case J_ARITH_F64:
    case J_CMP_SMI:
    case J_CMP:
    case J_CMP_F64:
        set_add(use, i->b);
        set_add(use, i->acc);
        set_add(kill, i->acc);
        break;
    case J_UNARY_SMI:
    case J_UNARY:
    case J_UNARY_F64:
    case J_NOT:
    case J_CREATE_ARRAY:
        set_add(use, i->acc);
        set_add(kill, i->acc);
        break;
    case J_JUMP_IF:
    case J_RETURN:
    case J_STA_GLOBAL:
        set_add(use, i->acc);
        break;
    case J_INLINE_RETURN:
        set_add(use, i->acc);
        set_add(kill, i->b);
        break;
    case J_CALL:
    case J_INLINE_ENTER:
        set_add(use, i->a);
        for (int32_t r = 0; r < i->x; r++)
            set_add(use, (unsigned)(i->b + r));
        if (i->op == J_CALL)
            set_add(kill, i->acc);
        else
            for (unsigned r = i->fuse_reg; r <= i->fn; r++)
                set_add(kill, r);
        break;
    case J_LOAD_FIELD:
    case J_LOAD_NAMED_GENERIC:
        set_add(use, i->a);
        set_add(use, i->fn);
        set_add(kill, i->acc);
        break;
    case J_STORE_FIELD:
    case J_STORE_TRANSITION:
        set_add(use, i->a);
        set_add(use, i->acc);
        break;
    case J_LOAD_ELEMENT:
        set_add(use, i->a);
        set_add(use, i->b);
        set_add(kill, i->acc);
        break;
    case J_STORE_ELEMENT:
        set_add(use, i->a);
        set_add(use, i->b);
        set_add(use, i->acc);
        break;
    case J_INTRINSIC:
    case J_SQRT_F64:
        set_add(use, i->b);
        set_add(kill, i->acc);
        break;
    case J_EA_CREATE:
        for (int32_t k = 0; k < i->x; k++)
            set_add(kill, (unsigned)(i->a + k));
        break;
    case J_BOX:
        set_add(use, i->a);
        break;
    case J_JUMP:
    case J_LOOP:
    case J_SOFT_DEOPT:
        break;
    }
    *def = *kill;
    /* A store whose handler is negative writes undefined to the accumulator (executor.c);
     * a store through vm_object_set_field or vm_array_push may rewrite its receiver's slot. */
    if (i->op == J_STORE_FIELD || i->op == J_STORE_TRANSITION || i->op == J_STORE_ELEMENT) {
        set_add(def, i->acc);
        set_add(def, i->a);
    }
}

static bool is_jump(uint8_t op)
{
    return op == J_JUMP || op == J_JUMP_IF || op == J_LOOP || op == J_INLINE_RETURN;
}
static bool falls_through(uint8_t op)
{
    return op != J_JUMP && op != J_LOOP && op != J_RETURN && op != J_INLINE_RETURN;
}
static bool is_f64(uint8_t op)
{
    return op == J_ARITH_F64 || op == J_UNARY_F64 || op == J_CMP_F64 || op == J_SQRT_F64;
}

struct out {
    struct jit_insn *insns;
    uint32_t *from;
    struct jit_slot_set *unboxed;
    size_t count, capacity;
};

static void emit(struct out *o, const struct jit_insn *i, uint32_t from, const uint8_t *state)
{
    if (o->count == o->capacity) {
        o->capacity *= 2;
        o->insns = platform_realloc(o->insns, o->capacity * sizeof *o->insns);
        o->from = platform_realloc(o->from, o->capacity * sizeof *o->from);
        o->unboxed = platform_realloc(o->unboxed, o->capacity * sizeof *o->unboxed);
    }
    struct jit_slot_set *u = &o->unboxed[o->count];
    memset(u, 0, sizeof *u);
    for (unsigned s = 0; s < 256; s++)
        if (state[s] == DOUBLE)
            set_add(u, s);
    o->insns[o->count] = *i;
    o->from[o->count] = from;
    o->count++;
}

/* Boxes every double-only slot of need (all of them if need is NULL) before the
 * instruction like. */
static void box_slots(struct out *o, const struct jit_slot_set *need, const struct jit_insn *like,
                      uint32_t from, uint8_t *state, struct jit_stats *stats)
{
    for (unsigned s = 0; s < 256; s++) {
        if (state[s] != DOUBLE || !jit_slot_set_has(need, s))
            continue;
        struct jit_insn box = {
            .op = J_BOX, .a = (uint8_t)s, .pc = like->pc, .acc = like->acc, .fn = like->fn};
        emit(o, &box, from, state);
        state[s] = BOTH;
        stats->boxes++;
    }
}

size_t jit_select_representations(struct jit_insn **insns, uint32_t **inlined_from, size_t n,
                                  struct jit_slot_set **unboxed_before, struct jit_stats *stats)
{
    const struct jit_insn *in = *insns;
    bool *target = platform_calloc(n + 1, sizeof *target);
    for (size_t k = 0; k < n; k++)
        if (is_jump(in[k].op) && in[k].x >= 0 && (size_t)in[k].x <= n)
            target[in[k].x] = true;
    struct jit_slot_set *use = platform_calloc(n, sizeof *use),
                        *kill = platform_calloc(n, sizeof *kill),
                        *def = platform_calloc(n, sizeof *def),
                        *live_in = platform_calloc(n + 1, sizeof *live_in);
    for (size_t k = 0; k < n; k++)
        effects(&in[k], &use[k], &kill[k], &def[k]);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t k = n; k-- > 0;) {
            struct jit_slot_set out = {{0}};
            uint8_t op = in[k].op;
            for (int w = 0; w < 4; w++) {
                uint64_t b = 0;
                if (is_jump(op))
                    b |= live_in[in[k].x].bits[w];
                if (falls_through(op) && k + 1 < n)
                    b |= live_in[k + 1].bits[w];
                out.bits[w] = b;
            }
            for (int w = 0; w < 4; w++) {
                uint64_t b = use[k].bits[w] | (out.bits[w] & ~kill[k].bits[w]);
                if (b != live_in[k].bits[w]) {
                    live_in[k].bits[w] = b;
                    changed = true;
                }
            }
        }
    }

    struct out o = {.capacity = n + 16};
    o.insns = platform_calloc(o.capacity, sizeof *o.insns);
    o.from = platform_calloc(o.capacity, sizeof *o.from);
    o.unboxed = platform_calloc(o.capacity, sizeof *o.unboxed);
    size_t *remap = platform_calloc(n + 1, sizeof *remap);
    uint8_t state[256];
    memset(state, TAGGED, sizeof state);
    for (size_t k = 0; k < n; k++) {
        const struct jit_insn *i = &in[k];
        uint32_t from = (*inlined_from)[k];
        if (target[k] || (k > 0 && !falls_through(in[k - 1].op)))
            memset(state, TAGGED, sizeof state);
        remap[k] = o.count;
        struct jit_insn c = *i;
        if (is_f64(i->op)) {
            bool reads_b = i->op != J_UNARY_F64, reads_acc = i->op != J_SQRT_F64;
            c.unboxed = (uint8_t)((reads_b && state[i->b] != TAGGED ? JIT_UNBOXED_B : 0) |
                                  (reads_acc && state[i->acc] != TAGGED ? JIT_UNBOXED_ACC : 0));
            stats->double_ops++;
        } else if (i->op == J_MOV && state[i->b] == DOUBLE) {
            c.op = J_MOV_F64;
        } else {
            box_slots(&o, &use[k], i, from, state, stats);
        }
        if (is_jump(i->op)) {
            struct jit_slot_set need = live_in[i->x];
            if (i->op == J_JUMP_IF && k + 1 < n && target[k + 1])
                for (int w = 0; w < 4; w++)
                    need.bits[w] |= live_in[k + 1].bits[w];
            box_slots(&o, &need, i, from, state, stats);
        }
        emit(&o, &c, from, state);
        for (unsigned s = 0; s < 256; s++)
            if (jit_slot_set_has(&def[k], s))
                state[s] = TAGGED;
        if (c.op == J_ARITH_F64 || c.op == J_UNARY_F64 || c.op == J_SQRT_F64)
            state[c.acc] = DOUBLE;
        else if (c.op == J_MOV_F64)
            state[c.a] = DOUBLE;
        if (k + 1 < n && target[k + 1] && falls_through(i->op) && i->op != J_JUMP_IF)
            box_slots(&o, &live_in[k + 1], i, from, state, stats);
    }
    remap[n] = o.count;
    for (size_t k = 0; k < o.count; k++)
        if (is_jump(o.insns[k].op))
            o.insns[k].x = (int32_t)remap[o.insns[k].x];
    platform_free(target);
    platform_free(use);
    platform_free(kill);
    platform_free(def);
    platform_free(live_in);
    platform_free(remap);
    platform_free(*insns);
    platform_free(*inlined_from);
    *insns = o.insns;
    *inlined_from = o.from;
    *unboxed_before = o.unboxed;
    return o.count;
}
