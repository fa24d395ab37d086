/*
 * lib/jit internals shared by the compiler (compiler.c), the executor (executor.c) and
 * the tier hooks (jit.c): the dispatcher's instruction format, the code object's layout
 * and the per-VM state. Not part of the module's interface (jit.h).
 */
#ifndef WALTZ_JIT_CODE_H
#define WALTZ_JIT_CODE_H

#include "codecache/codecache.h"
#include "jit/jit.h"

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
    J_EA_CREATE,
    /* Unboxed doubles (compiler.c, "Representation selection"): the value lives as raw
     * double bits in the activation's spill slot of the same index, which the GC does not
     * visit; the tagged slot is stale until a J_BOX writes the boxed number back. */
    J_ARITH_F64,  /* spill[acc] = b OP acc, operands read as the unboxed flags say */
    J_UNARY_F64,  /* spill[acc] = Inc/Dec/Negate acc */
    J_CMP_F64,    /* acc (tagged boolean) = b CMP acc */
    J_SQRT_F64,   /* spill[acc] = sqrt(b) */
    J_MOV_F64,    /* spill[a] = spill[b] */
    J_BOX,        /* w[a] = the number in spill[a] (a Smi when integral: canonical numbers) */
    J_SOFT_DEOPT, /* a site without feedback: deopt (insufficient_feedback, kind soft) */
    J_LOAD_NAMED_GENERIC, /* acc = w[a].name (constant x) looked up in its shape: polymorphic */
    /* J_ARITH_SMI whose accumulator was just loaded from a property whose representation
     * is smi (lib/vm fields.c): only b is checked; the code depends on the representation. */
    J_ARITH_SMI_ACC,
};

/* One instruction: op, sub (the bytecode opcode, oddball kind or jump sense), registers
 * a and b (window indices), x (immediate, constant, global, target or argc), the
 * bytecode offset it came from, its deopt id (guards only) and, for property accesses,
 * the id of the map it guards against (maps never move or die, lib/heap). */
struct jit_insn {
    uint8_t op, sub, a, b;
    int32_t x;
    uint32_t pc, deopt;
    uint32_t map_id; /* LOAD_FIELD, STORE_*: the map the receiver is guarded against;
                        arithmetic and comparisons: the site's feedback slot */
    /* (b of STORE_FIELD and STORE_TRANSITION: 1 when the property's representation is not
     * tagged, so the stored value must be a Smi: optimized code never generalizes one.)
     * CALL has two deopt points: deopt (before the call) and deopt + 1 (after it, the
     * result in the accumulator: a lazy deopt when the code was invalidated meanwhile). */
    uint8_t fuse;
    union {
        uint8_t fuse_reg; /* the Star's register (JIT_FUSE_STAR); INLINE_ENTER: the callee base */
        uint8_t unboxed;  /* *_F64 (never fused): which operands come from spill slots */
    };
    uint8_t acc, fn; /* the window slots of this instruction's frame's accumulator and function */
};
enum { JIT_UNBOXED_B = 1, JIT_UNBOXED_ACC = 2 };

/* Superinstructions: an instruction followed by a Star or a JumpIfTrue/JumpIfFalse does
 * that one's work too and skips it (the skipped instruction stays in the stream, so a
 * jump to it still lands on a whole instruction). */
enum { JIT_FUSE_NONE, JIT_FUSE_STAR, JIT_FUSE_BRANCH };

/* Tagged fields of a code object (lib/codecache lays it out; the body is instructions). */
enum {
    JIT_CODE_BYTES,
    JIT_CODE_LITERALS,
    JIT_CODE_SHARED,
    JIT_CODE_FLAGS,
    JIT_CODE_WINDOW,
    JIT_CODE_CLOSURES,  /* weak array of the closures linked to it (codecache_note_closure) */
    JIT_CODE_OSR_PC,    /* OSR code: the JumpLoop offset it was compiled for; else -1 */
    JIT_CODE_OSR_ENTRY, /* OSR code: the instruction it starts at (that loop's header) */
    JIT_CODE_TAGGED_COUNT
};
enum { JIT_CODE_MARKED = 1 };

/* An optimized activation, on the VM's list while its code runs (the handshake's stack
 * walk). */
struct jit_activation {
    struct object *code;
    struct jit_activation *prev;
    bool found; /* counted by a handshake's walk (jit_stats.invalidated_frames) */
};

struct jit {
    struct vm *vm;
    struct jit_activation *activations;
    struct jit_options options;
    struct jit_stats stats;
    struct codecache *cache;
    value_t *file;
    uint64_t *spill; /* raw double bits, indexed as file (not a root) */
    size_t top;
    size_t depth; /* optimized activations running */
    uint64_t stress_count;
    /* Eager deopts per site, by function (VM_SHARED_INDEX) then bytecode offset; NULL
     * until the function's first one (jit_site_deopts). Saturates at 255. */
    uint8_t **site_deopts;
};

/* The site deopt counts of function (bytecode_length bytes), or NULL if it has had none
 * and create is false. */
uint8_t *jit_site_deopts(struct jit *j, uint32_t function, size_t bytecode_length, bool create);

static inline value_t *code_tagged(struct object *code) { return codecache_tagged(code); }
static inline const struct jit_insn *code_body(struct object *code)
{
    return (const struct jit_insn *)codecache_body(code);
}
/* Code a closure must not run (again): a deopt marked it, or a dependency changed. */
static inline bool code_is_marked(struct object *code)
{
    return (value_to_smi(code_tagged(code)[JIT_CODE_FLAGS]) & JIT_CODE_MARKED) ||
           codecache_is_invalidated(code);
}
/* Code compiled for one loop's OSR entry (it is in the OSR cache, not in a closure). */
static inline bool code_is_osr(struct object *code)
{
    return value_to_smi(code_tagged(code)[JIT_CODE_OSR_PC]) >= 0;
}
static inline bool is_code(value_t v)
{
    return value_is_strong(v) && object_type(value_to_object(v)) == TYPE_CODE;
}
static inline struct object *shared_of(value_t function)
{
    return value_to_object(object_get(value_to_object(function), VM_FUNCTION_SHARED));
}
static inline int64_t shared_smi(struct object *shared, size_t word)
{
    return value_to_smi(object_get(shared, word));
}

static inline uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t u32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A set of window slots (a window has at most 255). */
struct jit_slot_set {
    uint64_t bits[4];
};
static inline bool jit_slot_set_has(const struct jit_slot_set *s, unsigned k)
{
    return (s->bits[k >> 6] >> (k & 63)) & 1;
}

/* Representation selection (representation.c): rewrites the n instructions of *insns (and
 * their *inlined_from entries) with boxes and double moves where needed, remaps the jumps,
 * and returns the new count; *unboxed_before[k] is the set of slots whose value is only
 * in a spill slot when instruction k starts (for its deopt point). */
size_t jit_select_representations(struct jit_insn **insns, uint32_t **inlined_from, size_t n,
                                  struct jit_slot_set **unboxed_before, struct jit_stats *stats);

/* Escape analysis (escape.c), restricted (after Kotzmann and Mössenböck, VEE 2005): one
 * CreateObject n; Star r per function whose object never escapes: r is written by that
 * Star only and read only as the receiver of named loads and stores with monomorphic
 * feedback that match the statically known shape, all in a straight line (no jump and no
 * jump target) up to the last use, and the instruction after the Star overwrites the
 * accumulator without reading it. Its fields then live in window registers; deopt points
 * in the region describe r as a captured object of the shape at that point. */
struct jit_ea {
    size_t create_at, last_at;
    uint8_t reg, capacity;
    const struct vm_shape **shape_before; /* by bytecode offset, in (create_at, last_at] */
};
/* Finds such an object in the function (code, length bytes, feedback vector feedback);
 * true with *ea filled (ea->shape_before allocated), false if there is none. No
 * allocation on the heap. */
bool jit_ea_find(struct jit *j, struct object *feedback, const uint8_t *code, size_t length,
                 struct jit_ea *ea);

/* Compiles the function in *function_slot and links the code into it (compiler.c). 0, or
 * -1 when the function cannot be optimized (its shared info then says NO_OPT). May
 * collect. */
int jit_compile(struct jit *j, const value_t *function_slot);
/* Compiles OSR code for the loop whose JumpLoop is at loop_pc in the function in
 * *function_slot: the same instructions, without escape analysis (the interpreter's frame
 * holds real objects), entered at the loop's header. The code goes into the OSR cache
 * and on the optimized list, not into any closure. 0 with *code set, or -1 (NO_OPT as
 * for jit_compile). May collect. */
int jit_compile_osr(struct jit *j, const value_t *function_slot, uint32_t loop_pc,
                    struct object **code);
/* Runs the optimized code of the function in *function_slot (executor.c); as vm_call. */
int jit_execute(struct jit *j, const value_t *function_slot, const value_t *args, size_t argc,
                value_t *result);
/* Runs OSR code from its loop header in place of the interpreter's top frame (a frame
 * of the function it was compiled for, stopped at that loop's back-edge): the frame's
 * registers, accumulator and context move into a new activation and the frame is popped.
 * 1 if it could not start (too deep: the frame is left as it was), else as jit_execute
 * (the result is the frame's return value). */
int jit_execute_osr(struct jit *j, struct object *code, value_t *result);
/* The executor's root provider: the tagged register file below its top. */
void jit_visit_file(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx);

#endif
