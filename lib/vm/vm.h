/*
 * lib/vm: the toy VM's runtime, its heap objects and the interpreter.
 *
 * Offers:  vm_runtime (one per heap, shared by every mutator's VM: the VM's maps, hidden
 *          classes and their transitions, interned property names, the oddballs);
 *          struct vm (one per mutator: a loaded module, its globals, the interpreter's
 *          frame stack, counters); vm_call and the frame-level entry point
 *          vm_push_frame + vm_resume, where the deoptimizer will resume the interpreter;
 *          value helpers for tests and the jit workload.
 * Needs:   lib/gc (forced collections for the collect_garbage intrinsic), lib/heap,
 *          lib/barrier (object_store for every store into a heap object).
 *
 * Heap objects (all STRUCT kinds with maps of their own, made by the runtime, unless said):
 *   function   [map][shared][context][code]                 a closure; code: undefined
 *                                                            until an optimizing tier
 *   shared     [map][bytecode BYTE_ARRAY][constants FIXED_ARRAY][feedback FIXED_ARRAY]
 *              [name Smi][params Smi][registers Smi][invocations Smi][backedges Smi]
 *              [index Smi][flags Smi][deopt count Smi][last deopt reason Smi]
 *                                                            one per function and VM
 *   context    [map][previous][slot x n]                    one map per slot count
 *   object     [map][properties FIXED_ARRAY or Smi 0][in-object x capacity]
 *              a hidden class per (capacity, property names in order)
 *   array      [map][length Smi][elements FIXED_ARRAY]
 *   oddball    [map][kind Smi]      undefined, null, true, false, the hole
 *   numbers    Smis, or HEAP_NUMBER for doubles and results past the Smi range.
 * Everything but the oddballs (old space, never moving: nothing compacts old space, and
 * global handles keep them alive) is allocated young and moves and dies like any other
 * object. Maps never move or die (lib/heap), so hidden classes are described off the
 * heap, in struct vm_shape, found from the map's id.
 *
 * Frames: each VM has a frame stack in C memory (not the heap): per frame the function,
 * the context, the accumulator, the bytecode offset and a window of the register stack.
 * The VM registers a root provider that visits every tagged slot of every live frame,
 * so a collection updates them in place when objects move (precise roots).
 */
#ifndef WALTZ_VM_VM_H
#define WALTZ_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "heap/heap.h"
#include "vm/module.h"

/* --- The runtime (one per heap) --------------------------------------------------------- */

enum vm_shape_kind {
    VM_SHAPE_ODDBALL,
    VM_SHAPE_OBJECT,
    VM_SHAPE_ARRAY,
    VM_SHAPE_FUNCTION,
    VM_SHAPE_SHARED,
    VM_SHAPE_CONTEXT,
};

struct vm_shape;
struct vm_transition { /* a property addition from one hidden class to the next */
    uint32_t symbol;
    const struct vm_shape *target;
    struct vm_transition *next;
};

/* Field representations (fields.c), a lattice none < smi < tagged per property of a
 * hidden class: what every instance's value of that property has been. */
enum vm_field_rep { VM_REP_NONE, VM_REP_SMI, VM_REP_TAGGED };

/* A hidden class: immutable once published but for its transitions, its field
 * representations (which only generalize) and its dependent code (under the lock). */
struct vm_shape {
    enum vm_shape_kind kind;
    struct object *map;
    uint32_t capacity;       /* OBJECT: in-object slots; CONTEXT: slot count */
    uint32_t property_count; /* OBJECT: properties, in the order they were added */
    uint32_t *names;         /* property_count symbol ids */
    const struct vm_shape *parent;
    struct vm_transition *transitions; /* under vm_runtime.lock */
    _Atomic uint8_t *reps;             /* OBJECT: property_count enum vm_field_rep */
    /* Optimized code (lib/codecache code objects, of any VM) that assumed a property of
     * this class stays a Smi: held weakly (the old-generation collections' weak
     * processing drops dead entries); invalidated when that property generalizes. */
    struct object **dependents;
    uint32_t *dependent_fields;
    uint32_t dependent_count, dependent_capacity;
};

#define VM_MAX_MAPS 65536
#define VM_MAX_INOBJECT 255

enum vm_oddball { VM_UNDEFINED, VM_NULL, VM_TRUE, VM_FALSE, VM_HOLE, VM_ODDBALL_COUNT };

struct vm_runtime {
    struct heap *heap;
    pthread_mutex_t lock; /* shapes, transitions, symbols, the lazily made maps */
    /* Indexed by map id (MAP_ID); written once under the lock, read with acquire. */
    const struct vm_shape **shapes;
    struct object *oddball_map, *function_map, *shared_map, *array_map;
    struct object *context_maps[256];                         /* by slot count, made on demand */
    const struct vm_shape *object_roots[VM_MAX_INOBJECT + 1]; /* by capacity, on demand */
    value_t oddballs[VM_ODDBALL_COUNT];
    value_t *oddball_handles[VM_ODDBALL_COUNT]; /* strong global handles */
    char **symbols;
    size_t symbol_count, symbol_capacity;
    struct vm_shape **all_shapes; /* for destruction */
    size_t shape_count, shape_capacity;
    /* await_collection_request calls begun (the choreography's rendezvous). */
    _Atomic uint32_t awaits_begun;
    /* Field generalizations from smi to tagged; code objects they invalidated; dead
     * dependent-code entries the collections dropped. */
    _Atomic uint64_t field_generalizations, code_invalidations, dependents_cleared;
};

/* m: an attached mutator of heap (the oddballs are allocated through it). */
struct vm_runtime *vm_runtime_create(struct heap *heap, struct mutator *m);
void vm_runtime_destroy(struct vm_runtime *rt);
uint32_t vm_runtime_intern(struct vm_runtime *rt, const char *name);
const char *vm_runtime_symbol_name(struct vm_runtime *rt, uint32_t symbol);

static inline const struct vm_shape *vm_shape_of_map(struct vm_runtime *rt, struct object *map)
{
    uintptr_t id = map_raw(map, MAP_ID);
    if (id >= VM_MAX_MAPS)
        return NULL;
    return __atomic_load_n(&rt->shapes[id], __ATOMIC_ACQUIRE);
}
/* The VM shape of a value, or NULL (Smis, heap numbers, arrays of the heap). */
static inline const struct vm_shape *vm_shape_of(struct vm_runtime *rt, value_t v)
{
    if (!value_is_strong(v))
        return NULL;
    return vm_shape_of_map(rt, object_map(value_to_object(v)));
}

/* --- Frames and the VM (one per mutator) -------------------------------------------------- */

struct vm_frame {
    value_t function, context, acc;
    uint32_t pc;   /* bytecode offset of the next instruction to run */
    uint32_t base; /* first register in vm->stack */
    uint32_t register_count;
};

#define VM_DEFAULT_MAX_FRAMES 2048
#define VM_STACK_SLOTS ((size_t)1 << 17)

/* Tier-up thresholds: the hook (a no-op until an optimizing tier exists) runs once per
 * function when either counter reaches its threshold. */
#define VM_TIERUP_INVOCATIONS 1000
#define VM_TIERUP_BACKEDGES 10000
/* The thresholds in force (the jit workload's --tierup-calls changes them). */
extern int64_t vm_tierup_invocations, vm_tierup_backedges;

struct vm_stats {
    uint64_t calls, backedges, polls, tierup_requests, reloads_after_gc;
};

enum vm_root {
    VM_ROOT_GLOBALS,        /* FIXED_ARRAY, one slot per module global */
    VM_ROOT_SHARED,         /* FIXED_ARRAY of every function's shared info */
    VM_ROOT_SCRIPT_CONTEXT, /* the context of module-level closures */
    VM_ROOT_SCRATCH,        /* values a runtime function keeps across an allocation */
    VM_ROOT_SCRATCH2,
    VM_ROOT_COUNT,
};

/* An optimizing tier (lib/jit), reached only through these pointers so that lib/vm
 * never depends on it. wants: a call of function goes to the tier (it has optimized
 * code, or asks to be compiled). call: runs it like vm_call (the invocation is already
 * counted), the result in *result; 0, or -1 with vm->error set. */
struct vm;
struct vm_tier {
    bool (*wants)(void *ctx, struct vm *vm, value_t function);
    int (*call)(void *ctx, struct vm *vm, const value_t *function_slot, const value_t *args,
                size_t argc, value_t *result);
    /* At a back-edge (JumpLoop at loop_pc) of the top frame, whose function asks for
     * tier-up (and does not say NO_OPT), after its poll: 1 if the tier replaced the frame
     * (popped) by optimized code that ran to the frame's return, *result its value; 0 if
     * the interpreter goes on with the frame; -1 on an error (vm->error). NULL: never. */
    int (*osr)(void *ctx, struct vm *vm, uint32_t loop_pc, value_t *result);
    /* Run on this VM's thread in a handshake (or on its behalf while it is parked) after
     * a field generalization invalidated code: finds this VM's invalidated code (lists,
     * stack) and deoptimizes it. Must not allocate. */
    void (*code_invalidated)(void *ctx, struct vm *vm);
};

struct vm {
    struct vm_runtime *rt;
    const struct vm_tier *tier; /* NULL: the interpreter only */
    void *tier_ctx;
    struct mutator *m;
    const struct vm_module *module;
    uint32_t *symbols; /* module name index -> runtime symbol */
    value_t roots[VM_ROOT_COUNT];
    struct vm_frame *frames;
    size_t frame_count, max_frames;
    value_t *stack; /* registers of every frame; VM_STACK_SLOTS, never reallocated */
    size_t stack_top;
    struct vm_stats stats;
    /* When not 0: a run-time error once back-edges plus calls pass it (fuzzing and tests
     * bound programs that would not stop). */
    uint64_t step_limit;
    /* When not 0: a run-time error, checked where the step limit is, once the mutator's
     * allocated_bytes (lib/heap, LAB granularity) has passed it, and by CreateArray before
     * an array would pass it (fuzzing bounds the heap a program can fill, so that heap
     * exhaustion, which ends the process, stays out of reach). */
    uint64_t allocation_limit;
    /* A store of this thread invalidated code: the handshakes are still to be done
     * (vm_process_invalidations, at the next point that may collect). */
    bool invalidation_pending;
    char error[512];
};

/* Loads module into the heap for mutator m (the calling thread's) and registers the
 * VM's roots. Returns NULL with error set if the module cannot be loaded. */
struct vm *vm_create(struct vm_runtime *rt, struct mutator *m, const struct vm_module *module,
                     char *error, size_t error_size);
void vm_destroy(struct vm *vm);

/* Runs the module's main function; on success stores its result in *result (a root
 * only until the next allocation: copy it into a handle to keep it). Returns 0, or -1
 * with vm->error set (the frame stack is unwound to where it was). */
int vm_run_main(struct vm *vm, value_t *result);
/* Calls the function in *function_slot (a rooted slot) with argc arguments read from
 * args (rooted slots). */
int vm_call(struct vm *vm, const value_t *function_slot, const value_t *args, size_t argc,
            value_t *result);

/* The interpreter's frame-level entry: push a frame that will resume at bytecode offset
 * pc with the given accumulator and registers (register_count of them, the function's
 * own count; missing ones are undefined), then run until the frame stack is back to
 * base_depth frames, the returned value in *result. This is what a deoptimizer calls
 * after writing the frames of an optimized activation. */
int vm_push_frame(struct vm *vm, value_t function, value_t context, uint32_t pc, value_t acc,
                  const value_t *registers, size_t register_count);
int vm_resume(struct vm *vm, size_t base_depth, value_t *result);

/* The global of this name's value (VALUE of the hole if unset), or false. */
bool vm_get_global(struct vm *vm, const char *name, value_t *out);
/* Sets the global name if the module has one of that name (false if not). */
bool vm_set_global(struct vm *vm, const char *name, value_t v);

/* The rendezvous intrinsics of a choreographed run (workloads/choreography.c), shared by
 * the interpreter and lib/jit; 0, or -1 with the reason in why.
 *   await_collection_request(flag): if flag is truthy, counts this VM as awaiting and
 *     waits, without polling, until another thread has requested a safepoint of this
 *     thread, so that its next poll is the one that joins it (10 s at most).
 *   collect_when_awaited(): polls until a VM of the runtime has begun to await (10 s at
 *     most), then requests a scavenge (with several such callers, the first request
 *     releases the awaiting VM and the others are joined at its later polls). */
#define VM_RENDEZVOUS_TIMEOUT_NS ((uint64_t)10 * 1000 * 1000 * 1000)
int vm_await_collection_request(struct vm *vm, value_t flag, char *why, size_t why_size);
int vm_collect_when_awaited(struct vm *vm, char *why, size_t why_size);

/* Values. */
static inline value_t vm_undefined(struct vm_runtime *rt) { return rt->oddballs[VM_UNDEFINED]; }
static inline value_t vm_boolean(struct vm_runtime *rt, bool b)
{
    return rt->oddballs[b ? VM_TRUE : VM_FALSE];
}
bool vm_value_to_number(value_t v, double *out);
bool vm_value_is_number(value_t v);
bool vm_value_truthy(struct vm_runtime *rt, value_t v);
/* Numbers are canonical: a number whose value is an integer in the Smi range, other than
 * -0, is always a Smi; every other number is a heap number. So which of the two a number
 * is follows from its value, and code that keeps doubles unboxed (lib/jit) may box them
 * at any point, as the interpreter would have (V8's Factory::NewNumber does the same). */
static inline bool vm_double_is_smi(double d, int64_t *smi)
{
    /* [-2^62, 2^62): the Smi range, whose bounds are exact doubles. */
    if (!(d >= -0x1p62 && d < 0x1p62))
        return false;
    int64_t i = (int64_t)d;
    if ((double)i != d || (i == 0 && __builtin_signbit(d)))
        return false;
    *smi = i;
    return true;
}
/* Whether an array of length elements would take the mutator past vm->allocation_limit
 * (the one allocation that can be large: CreateArray checks it before allocating). */
static inline bool vm_array_past_allocation_limit(const struct vm *vm, int64_t length)
{
    return vm->allocation_limit &&
           vm->m->allocated_bytes + (uint64_t)(length + 4) * 8 > vm->allocation_limit;
}
/* A number as a value: a Smi when it is an integer in range, else a heap number. */
value_t vm_number_from_int(struct vm *vm, int64_t i);
value_t vm_number_from_double(struct vm *vm, double d);
/* "832040", "0.5", "undefined", "[object 2 properties]", "[array 3]", "[function fib]". */
void vm_value_format(struct vm *vm, value_t v, char *buf, size_t size);
/* True when v is the number n (integers compare exactly, doubles by value). */
bool vm_value_equals_number(value_t v, struct vm_number n);

/* The comparisons TestEqual ... TestGreaterThanOrEqual of two Smis or two numbers (the
 * interpreter, the optimizing tier and its constant folding share them). */
static inline bool vm_compare_ints(enum vm_opcode op, int64_t a, int64_t b)
{
    return op == VM_OP_TestEqual             ? a == b
           : op == VM_OP_TestLessThan        ? a < b
           : op == VM_OP_TestLessThanOrEqual ? a <= b
           : op == VM_OP_TestGreaterThan     ? a > b
                                             : a >= b;
}
static inline bool vm_compare_doubles(enum vm_opcode op, double a, double b)
{
    return op == VM_OP_TestEqual             ? a == b
           : op == VM_OP_TestLessThan        ? a < b
           : op == VM_OP_TestLessThanOrEqual ? a <= b
           : op == VM_OP_TestGreaterThan     ? a > b
                                             : a >= b;
}

/* Objects (objects.c), used by the interpreter. Each may allocate: their value_t
 * arguments are slots that stay rooted (frame registers or VM roots). */
value_t vm_new_object(struct vm *vm, uint32_t capacity);
value_t vm_new_array(struct vm *vm, int64_t length);
value_t vm_new_context(struct vm *vm, uint32_t slots, const value_t *previous);
value_t vm_new_closure(struct vm *vm, const value_t *shared, const value_t *context);
/* The hidden class after adding symbol to from, made on first use. NULL when the
 * runtime has no room for more maps. */
const struct vm_shape *vm_shape_transition(struct vm_runtime *rt, const struct vm_shape *from,
                                           uint32_t symbol);
/* Index of symbol in the shape's properties, or -1. */
int vm_shape_find(const struct vm_shape *shape, uint32_t symbol);
/* Property i of a JS object (no allocation). */
value_t vm_object_get_field(struct object *o, const struct vm_shape *shape, uint32_t index);
/* Stores *value into property i of the object in *receiver; when index is past the
 * in-object capacity, the backing store may have to grow (allocation). new_shape, if
 * not NULL, is installed first (a transition). May collect, whatever the index: a store
 * that generalizes the field's representation makes handshakes (fields.c). */
void vm_object_set_field(struct vm *vm, const value_t *receiver, const struct vm_shape *new_shape,
                         uint32_t index, const value_t *value);
/* Field representations and dependent code (fields.c). */
static inline enum vm_field_rep vm_field_rep(const struct vm_shape *s, uint32_t index)
{
    return (enum vm_field_rep)atomic_load_explicit(&s->reps[index], memory_order_acquire);
}
/* Before value is stored into property index of an object of class s: generalizes the
 * property's representation (in the class that added it and every class after it) if
 * value does not fit, and invalidates the code that depended on it (then
 * vm->invalidation_pending). No allocation. */
void vm_field_store_check(struct vm *vm, const struct vm_shape *s, uint32_t index, value_t value);
/* The same for every in-object property of the object o (the deoptimizer's materialized
 * objects). */
void vm_object_check_fields(struct vm *vm, struct object *o);
/* Records that code assumes property index of s stays a Smi; false (nothing recorded)
 * if it is no longer one. */
bool vm_shape_add_dependent(struct vm_runtime *rt, const struct vm_shape *s, uint32_t index,
                            struct object *code);
/* If vm->invalidation_pending: a handshake with every mutator thread, each running its
 * VM's tier's code_invalidated. May collect (it waits for its turn at the safepoint). */
void vm_process_invalidations(struct vm *vm);
void vm_fields_init(struct vm_runtime *rt);
void vm_fields_fini(struct vm_runtime *rt);

/* Appends *value to the array in *array (elements grow when full). */
void vm_array_push(struct vm *vm, const value_t *array, const value_t *value);

/* Shared-info fields (word indices). */
enum {
    VM_SHARED_BYTECODE = 1,
    VM_SHARED_CONSTANTS,
    VM_SHARED_FEEDBACK,
    VM_SHARED_NAME,
    VM_SHARED_PARAMS,
    VM_SHARED_REGISTERS,
    VM_SHARED_INVOCATIONS,
    VM_SHARED_BACKEDGES,
    VM_SHARED_INDEX,
    VM_SHARED_FLAGS,
    VM_SHARED_DEOPT_COUNT,       /* Smi: eager deopts of this function's optimized code */
    VM_SHARED_LAST_DEOPT_REASON, /* Smi: the last one's reason (lib/deopt), 0 if none */
    /* The tier's current code for every closure of the function: a weak reference to a
     * code object (lib/codecache), or Smi 0. A closure without code takes it at its next
     * call; the full GC clears it once nothing else holds the code. */
    VM_SHARED_OPTIMIZED_CODE,
    VM_SHARED_FIELDS = VM_SHARED_OPTIMIZED_CODE, /* tagged fields after the map word */
};
enum { VM_SHARED_FLAG_TIERUP_REQUESTED = 1, VM_SHARED_FLAG_NO_OPT = 2 };

/* Counts one invocation or back-edge (word) of a shared info toward tier-up; returns the
 * shared info's flags (VM_SHARED_FLAG_*) after it. */
int64_t vm_count_shared(struct vm *vm, struct object *shared, size_t word, int64_t threshold);

/* The interpreter's arithmetic (Add..Mod) on two values: a Smi in *smi or a double in
 * *d, or a type error (not numbers). The optimizing tier uses the same semantics. */
enum vm_arith_result { VM_ARITH_SMI, VM_ARITH_DOUBLE, VM_ARITH_TYPE_ERROR };
enum vm_arith_result vm_arith(enum vm_opcode op, value_t lhs, value_t rhs, int64_t *smi, double *d);
enum { VM_FUNCTION_SHARED = 1, VM_FUNCTION_CONTEXT, VM_FUNCTION_CODE, VM_FUNCTION_FIELDS = 3 };
enum { VM_CONTEXT_PREVIOUS = 1, VM_CONTEXT_SLOTS = 2 };
enum { VM_OBJECT_PROPERTIES = 1, VM_OBJECT_INOBJECT = 2 };
enum { VM_ARRAY_LENGTH = 1, VM_ARRAY_ELEMENTS = 2, VM_ARRAY_FIELDS = 2 };

/* Feedback lattice of binary operations and comparisons: none < smi < number < any. */
enum vm_type_feedback { VM_TYPE_NONE, VM_TYPE_SMI, VM_TYPE_NUMBER, VM_TYPE_ANY };
/* Property feedback state (word 0 of the slot). */
enum vm_property_state {
    VM_IC_UNINITIALIZED,
    VM_IC_MONOMORPHIC,
    VM_IC_POLYMORPHIC,
    VM_IC_MEGAMORPHIC
};
/* Keyed feedback bits. */
enum { VM_KEYED_IN_BOUNDS = 1, VM_KEYED_APPEND = 2 };

#endif
