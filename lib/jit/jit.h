/*
 * lib/jit: the speculative optimizing tier of the toy VM (docs/jit.md). A function whose
 * shared info asks for tier-up is compiled, per VM, from its bytecode and feedback into
 * a code object in code space whose raw body is a compact instruction stream that a
 * dispatcher loop in C runs (no machine code). Guards (Smi checks, Smi-overflow checks,
 * number checks, defined-global checks, callable checks) each have a deopt point built
 * with lib/deopt's translation builder; a failed guard calls deopt_eager, which resumes
 * the interpreter. After Hölzle, Chambers and Ungar, "Debugging optimized code with
 * dynamic deoptimization" (PLDI 1992), and V8's TurboFan/Maglev as background.
 *
 * Offers:  jit_attach / jit_detach (install the tier in a VM through vm->tier), the
 *          options (--opt, --deopt-stress), the events telemetry hooks into, and per-VM
 *          statistics.
 * Needs:   lib/vm (bytecode, feedback, vm_call, vm_arith), lib/deopt (translations,
 *          deopt_eager), lib/heap (code space, root providers, handles), lib/barrier.
 */
#ifndef WALTZ_JIT_JIT_H
#define WALTZ_JIT_JIT_H

#include <stdbool.h>
#include <stdint.h>

#include "deopt/deoptimizer.h"
#include "vm/vm.h"

struct jit_events {
    void (*deopt)(void *ctx, struct vm *vm, const struct deopt_stats *s,
                  const char *kind /* "eager", "soft" or "lazy" */,
                  const char *code_unlinking /* the build's: "lazy" or "eager" */);
    void (*optimized)(void *ctx, struct vm *vm, uint32_t function /* VM_SHARED_INDEX */,
                      uint64_t now_ns);
};

/* Why a function was not optimized. */
#define JIT_REJECT_LIST(X)                                                                         \
    X(UNSUPPORTED_BYTECODE, unsupported_bytecode)                                                  \
    X(DEOPT_CAP, deopt_cap)                                                                        \
    X(TOO_BIG, too_big)

enum jit_reject {
#define JIT_REJECT_ENUM(upper, lower) JIT_REJECT_##upper,
    JIT_REJECT_LIST(JIT_REJECT_ENUM)
#undef JIT_REJECT_ENUM
        JIT_REJECT_COUNT
};
const char *jit_reject_name(enum jit_reject reason);

/* Inlining: callees of at most this many bytecode bytes. */
#define JIT_INLINE_MAX_BYTES 64

/* Deopts of one function after which it is no longer optimized (M). */
#define JIT_MAX_DEOPTS 5
/* Eager deopts at one site (a function's bytecode offset) after which the compiler stops
 * speculating there, whatever its feedback says (K): arithmetic and comparisons compile
 * to their generic instructions, a monomorphic property load to the generic lookup, a
 * call is not inlined. Soft and lazy deopts do not count. */
#define JIT_SITE_MAX_DEOPTS 2

struct jit_options {
    bool optimize;         /* --opt on|off */
    uint64_t deopt_stress; /* --deopt-stress N: every N-th guard fails; 0 = off */
    bool inline_calls;     /* inline small monomorphic callees (depth 1) */
    bool escape_analysis;  /* elide a non-escaping CreateObject (compiler.c) */
    bool unbox_doubles;    /* number arithmetic on unboxed doubles in spill slots */
    bool osr;              /* on-stack replacement at hot loops' back-edges (--osr) */
    const struct jit_events *events;
    void *events_ctx;
};

struct jit_stats {
    uint64_t functions_optimized;
    uint64_t not_optimizable[JIT_REJECT_COUNT];
    uint64_t deopts[DEOPT_REASON_COUNT];
    uint64_t optimized_calls, inlined_call_sites, objects_elided, guards_executed;
    uint64_t constants_folded;   /* Smi operations and comparisons of known operands */
    uint64_t double_ops;         /* instructions compiled to compute on unboxed doubles */
    uint64_t boxes;              /* box instructions: unboxed doubles written back tagged */
    uint64_t lazy_unlinks;       /* closures reset at entry because their code was marked */
    uint64_t eager_unlinks;      /* closures reset at deopt (code_unlinking=eager) */
    uint64_t shared_code_links;  /* closures given the code another closure got optimized */
    uint64_t soft_deopts;        /* of the deopts, at sites that had no feedback */
    uint64_t lazy_deopts;        /* activations deoptimized on return: their code was invalidated */
    uint64_t dependencies;       /* field representations compiled code relied on */
    uint64_t invalidated_code;   /* code objects found invalidated by the handshakes */
    uint64_t invalidated_frames; /* activations of invalidated code the handshakes found */
    uint64_t unspeculated_sites; /* sites compiled without speculation: K deopts there */
    uint64_t osr_compiles;       /* OSR code compiled (a hot loop's back-edge missed the cache) */
    uint64_t osr_entries;        /* interpreter frames replaced by OSR code */
    uint64_t osr_cache_hits;     /* of the entries, those whose code the OSR cache held */
    int last_unsupported_opcode; /* -1 if none */
};

struct jit;

/* Installs the tier in vm (which must have no tier yet); NULL options = defaults (on,
 * inlining, no stress). Registers the executor's tagged register file as a root of the heap. */
struct jit *jit_attach(struct vm *vm, const struct jit_options *options);
/* Removes it (vm->tier back to NULL). Optimized code stays on the functions but is no
 * longer run. */
void jit_detach(struct jit *jit);
const struct jit_stats *jit_stats(const struct jit *jit);
struct codecache;
/* The VM's code cache (lib/codecache): its lists and counts. */
const struct codecache *jit_codecache(const struct jit *jit);
void jit_stats_add(struct jit_stats *total, const struct jit_stats *s);

#endif
