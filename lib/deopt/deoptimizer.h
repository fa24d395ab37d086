/*
 * lib/deopt deoptimizer: the back half of an eager deopt, after V8's Deoptimizer and
 * TranslatedState (src/deoptimizer/deoptimizer.cc, translated-state.cc): from a failed
 * guard's deopt id and the optimized activation's register file and spill slots to
 * interpreter frames, and the interpreter running them.
 *
 * Offers:  deopt_eager; the reasons; per-deopt statistics (the deopts.csv columns of
 *          OUTPUTS.md that this layer knows; telemetry writes them later).
 * Needs:   lib/deopt/translation.h, lib/vm (vm_push_frame + vm_resume, the shared info's
 *          deopt count), lib/heap (young allocation, handles), lib/barrier (object_store).
 *
 * The machine state's contract: the tagged words of registers and stack_slots must be
 * visible to the collector (the optimized frame's root provider; a test's own) until
 * deopt_eager has passed its first poll: from then on it copies what it needs into
 * handles before it allocates anything.
 */
#ifndef WALTZ_DEOPT_DEOPTIMIZER_H
#define WALTZ_DEOPT_DEOPTIMIZER_H

#include <stdint.h>

#include "deopt/translation.h"
#include "vm/vm.h"

/* The deopts.csv reason column. 0 is "none" (VM_SHARED_LAST_DEOPT_REASON before any). */
#define DEOPT_REASON_LIST(X)                                                                       \
    X(NONE, none)                                                                                  \
    X(NOT_SMI, not_smi)                                                                            \
    X(NOT_NUMBER, not_number)                                                                      \
    X(WRONG_MAP, wrong_map)                                                                        \
    X(OUT_OF_BOUNDS, out_of_bounds)                                                                \
    X(SMI_OVERFLOW, smi_overflow)                                                                  \
    X(DEPENDENCY_CHANGED, dependency_changed)                                                      \
    X(LOST_PRECISION, lost_precision)                                                              \
    X(INSUFFICIENT_FEEDBACK, insufficient_feedback)                                                \
    X(STRESS, stress)

enum deopt_reason {
#define DEOPT_REASON_ENUM(upper, lower) DEOPT_REASON_##upper,
    DEOPT_REASON_LIST(DEOPT_REASON_ENUM)
#undef DEOPT_REASON_ENUM
        DEOPT_REASON_COUNT
};

const char *deopt_reason_name(enum deopt_reason reason);

/* The optimized activation: each word is a tagged value or raw double bits, as the
 * translation says. */
struct deopt_stats;
struct deopt_machine_state {
    const uint64_t *registers;
    size_t register_count;
    const uint64_t *stack_slots;
    size_t stack_slot_count;
    /* Optional: called right after the entry poll (a pending collection has run by then),
     * before anything is translated; it must not collect. The tier moves the code to its
     * deoptimized list there, which is the seed articles' order. */
    void (*after_entry_poll)(void *ctx);
    void *after_entry_poll_ctx;
    /* Optional: called once the frames are written and *stats is complete, before the
     * interpreter resumes them (which may optimize the function again: the telemetry's
     * deopt record must exist by then); it may collect. */
    void (*before_resume)(void *ctx, const struct deopt_stats *stats);
    void *before_resume_ctx;
    /* Optional: the slot of the closure the outermost frame runs (a root), used instead
     * of the translation's function literal, which is the closure the code was compiled
     * for: code shared by closures of one function (and OSR code) runs for others too. */
    const value_t *outermost_function;
};

/* One deopt (kind eager): the deopts.csv columns this layer fills. */
struct deopt_stats {
    uint32_t deopt_id;
    uint32_t function;        /* shared index (VM_SHARED_INDEX) of the outermost frame's function */
    uint32_t bytecode_offset; /* where the innermost frame resumes */
    enum deopt_reason reason;
    uint32_t frames;
    uint32_t materialized_objects; /* captured objects and boxed doubles allocated */
    uint32_t boxed_doubles;        /* of which heap numbers */
    uint64_t materialized_bytes;
    uint64_t barrier_records; /* stores that the generational barrier recorded */
    uint64_t start_ns;        /* platform_now_ns at entry */
    double duration_us;       /* entry to the frames written (before the interpreter runs) */
    double waited_for_gc_us;  /* in the entry poll, if a collection ran there; else 0 */
    uint64_t after_poll_ns;   /* platform_now_ns when the entry poll returned */
    uint64_t gcs_during_materialization; /* collections between the first and last allocation */
};

/* An eager deopt of deopt point deopt_id of the data in *bytes_slot (BYTE_ARRAY) and
 * *literals_slot (FIXED_ARRAY literal pool), both rooted slots: polls, translates,
 * materializes, writes the frames, records the deopt on the outermost function's shared
 * info, and runs the interpreter until those frames have returned; the value in *result.
 * Returns 0, or -1 with vm->error set (the frame stack back where it was). stats may be
 * NULL. Malformed data, or data that does not fit the machine state, is fatal. */
int deopt_eager(struct vm *vm, const value_t *bytes_slot, const value_t *literals_slot,
                uint32_t deopt_id, enum deopt_reason reason,
                const struct deopt_machine_state *state, struct deopt_stats *stats,
                value_t *result);

#endif
