/*
 * Tests of the lib/deopt deoptimizer on real VM functions: deopt data written by hand for
 * an assembled program says where each interpreter register lives in a fake register
 * file and spill slots; deopt_eager must write the frames (one, or two for an inlined
 * call) and the interpreter must finish with the right result. Captured objects with
 * cycles (A.f = B, B.f = A), a self-cycle and sharing are checked through the
 * interpreter and by direct reads. Every test runs without stress and under --gc-stress
 * 1 and 3 with the verifier on (it overwrites from-space after each scavenge, so a raw
 * pointer kept across an allocation reads garbage); under stress 1 a collection happens
 * between materialization's allocations, which the test checks did happen.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/barrier.h"
#include "deopt/deoptimizer.h"
#include "gc/gc.h"
#include "vm/vm.h"

static const char program[] =
    "function mk1 registers 1\n" /* {f: 0} */
    "  CreateObject 1\n  Star r0\n  LdaSmi 0\n  StaNamedProperty r0, f\n  Ldar r0\n  Return\n"
    "end\n"
    "function mk2 registers 1\n" /* {f: 0, g: 0} */
    "  CreateObject 2\n  Star r0\n  LdaSmi 0\n  StaNamedProperty r0, f\n"
    "  StaNamedProperty r0, g\n  Ldar r0\n  Return\nend\n"
    "function walk params 1 registers 2\n" /* r0.f.f.g */
    "  LdaNamedProperty r0, f\n  Star r1\n  LdaNamedProperty r1, f\n  Star r1\n"
    "  LdaNamedProperty r1, g\n  Return\nend\n"
    "function addf params 2 registers 3\n" /* r0.f + r1 */
    "  LdaSmi 1\n  Star r2\n  LdaNamedProperty r0, f\n  Add r1\n  Return\nend\n"
    "function inner params 1 registers 2\n" /* n * n */
    "  Ldar r0\n  Mul r0\n  Return\nend\n"
    "function outer params 1 registers 4\n" /* inner(n) + 3 */
    "  LdaSmi 3\n  Star r1\n  LdaGlobal inner\n  Star r2\n  Mov r0, r3\n  Call r2, r3, 1\n"
    "  Add r1\n  Return\nend\n"
    "function mkarr\n  LdaSmi 2\n  CreateArray\n  Return\nend\n"
    "function sum2 params 1 registers 2\n" /* r0[0] + r0[1] */
    "  LdaSmi 0\n  LdaKeyedProperty r0\n  Star r1\n  LdaSmi 1\n  LdaKeyedProperty r0\n"
    "  Add r1\n  Return\nend\n"
    "function main\n  LdaSmi 0\n  Return\nend\n";

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    struct vm_runtime *rt;
    struct vm_module *module;
    struct vm *vm;
    uint64_t gc_stress;
    /* The fake optimized activation; tagged[i] says which words the GC must visit. */
    uint64_t registers[16], slots[16];
    bool registers_tagged[16], slots_tagged[16];
    struct handle_scope scope;
};

static void visit_machine_state(struct heap *heap, root_visit_fn visit, void *visit_ctx,
                                void *provider_ctx)
{
    struct env *e = provider_ctx;
    for (int i = 0; i < 16; i++) {
        if (e->registers_tagged[i])
            visit((value_t *)&e->registers[i], visit_ctx);
        if (e->slots_tagged[i])
            visit((value_t *)&e->slots[i], visit_ctx);
    }
}

static void env_open(struct env *e, uint64_t gc_stress)
{
    memset(e, 0, sizeof *e);
    struct heap_config config = {.young_size_bytes = (size_t)512 << 10,
                                 .heap_size_bytes = (size_t)64 << 20,
                                 .gc_stress = gc_stress,
                                 .verify_heap = true};
    e->gc_stress = gc_stress;
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
    e->rt = vm_runtime_create(e->heap, &e->m);
    char error[512];
    e->module = vm_assemble("deopt.vm", program, strlen(program), error, sizeof error);
    if (!e->module)
        print_error("%s\n", error);
    assert_non_null(e->module);
    e->vm = vm_create(e->rt, &e->m, e->module, error, sizeof error);
    assert_non_null(e->vm);
    heap_add_root_provider(e->heap, visit_machine_state, e);
    handle_scope_open(&e->m, &e->scope);
}

static void env_close(struct env *e)
{
    handle_scope_close(&e->m, &e->scope);
    heap_remove_root_provider(e->heap, visit_machine_state, e);
    vm_destroy(e->vm);
    vm_module_destroy(e->module);
    vm_runtime_destroy(e->rt);
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

static value_t *global(struct env *e, const char *name)
{
    value_t v;
    assert_true(vm_get_global(e->vm, name, &v));
    return handle_new(&e->m, v);
}

/* Calls a no-argument function and returns its result in a handle. */
static value_t *call0(struct env *e, const char *name)
{
    value_t *f = global(e, name), result;
    assert_int_equal(vm_call(e->vm, f, NULL, 0, &result), 0);
    return handle_new(&e->m, result);
}

/* The bytecode offset of instruction `index` of function `name`. */
static uint32_t offset_of(struct env *e, const char *name, int index)
{
    int f = vm_module_find_function(e->module, name);
    assert_true(f >= 0);
    const uint8_t *code = e->module->functions[f].code;
    uint32_t at = 0;
    for (int i = 0; i < index; i++)
        at += vm_opcode_info((enum vm_opcode)code[at])->size_bytes;
    return at;
}

static uint64_t double_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

static struct object *map_of(value_t *h) { return object_map(handle_object(h)); }

static value_t context_of(value_t *function)
{
    return object_get(handle_object(function), VM_FUNCTION_CONTEXT);
}

static int64_t shared_smi(value_t *function, size_t field)
{
    struct object *shared =
        value_to_object(object_get(handle_object(function), VM_FUNCTION_SHARED));
    return value_to_smi(object_get(shared, field));
}

static int deopt(struct env *e, value_t *bytes, value_t *pool, uint32_t id,
                 struct deopt_stats *stats, value_t *result)
{
    struct deopt_machine_state state = {.registers = e->registers,
                                        .register_count = 16,
                                        .stack_slots = e->slots,
                                        .stack_slot_count = 16};
    return deopt_eager(e->vm, bytes, pool, id, DEOPT_REASON_WRONG_MAP, &state, stats, result);
}

/* addf(o, n) deopts at its property load: o is a captured {f: 2.5} whose field is an
 * unboxed double in a spill slot, n is in an optimized register, r2 a Smi, acc junk. */
static void run_single_frame(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *addf = global(&e, "addf");
    value_t *obj1 = call0(&e, "mk1");
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fn = translation_builder_literal(b, *addf);
    uint32_t ctx = translation_builder_literal(b, context_of(addf));
    uint32_t map = translation_builder_literal(b, value_from_object(map_of(obj1)));
    uint32_t undef = translation_builder_literal(b, vm_undefined(e.rt));
    assert_int_equal(translation_begin_point(b), 0);
    translation_begin_frame(b, fn, offset_of(&e, "addf", 2), 3);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, ctx));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_captured(map, 2)); /* [properties][f] */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, 5));
    translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, 2));
    translation_add(b, deopt_loc_smi(1));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);

    e.registers[2] = value_from_smi(41);
    e.registers_tagged[2] = true;
    e.slots[5] = double_bits(2.5);
    struct deopt_stats st;
    value_t result;
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    double d;
    assert_true(vm_value_to_number(result, &d));
    assert_true(d == 43.5);
    assert_int_equal(e.vm->frame_count, 0);
    assert_int_equal(st.frames, 1);
    assert_int_equal(st.bytecode_offset, offset_of(&e, "addf", 2));
    assert_int_equal(st.materialized_objects, 2);
    assert_int_equal(st.boxed_doubles, 1);
    assert_int_equal(st.materialized_bytes, 3 * 8 + 2 * 8); /* {f} and a heap number */
    assert_int_equal(st.reason, DEOPT_REASON_WRONG_MAP);
    assert_string_equal(deopt_reason_name(st.reason), "wrong_map");
    assert_true(st.duration_us >= st.waited_for_gc_us);
    assert_int_equal(st.function, vm_module_find_function(e.module, "addf"));
    if (gc_stress == 1)
        assert_true(st.gcs_during_materialization >= 1);
    assert_int_equal(shared_smi(addf, VM_SHARED_DEOPT_COUNT), 1);
    assert_int_equal(shared_smi(addf, VM_SHARED_LAST_DEOPT_REASON), DEOPT_REASON_WRONG_MAP);
    /* The same data again: the data and the literal pool have moved meanwhile. */
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    e.slots[5] = double_bits(-0.5);
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    assert_true(vm_value_to_number(result, &d));
    assert_true(d == 40.5);
    assert_int_equal(shared_smi(addf, VM_SHARED_DEOPT_COUNT), 2);
    /* An integral double is a Smi when boxed (canonical numbers, lib/vm): no heap number,
     * and the field holds the Smi 1, so 41 + 1 is the Smi 42. */
    e.slots[5] = double_bits(1.0);
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    assert_true(result == value_from_smi(42));
    assert_int_equal(st.boxed_doubles, 0);
    assert_int_equal(st.materialized_objects, 1);
    env_close(&e);
}

static void test_single_frame(void **state) { run_single_frame(0); }
static void test_single_frame_stress(void **state)
{
    run_single_frame(1);
    run_single_frame(3);
}

/* outer(n) = inner(n) + 3 with inner inlined, deopting at inner's Mul: inner's acc is an
 * unboxed double (1.5) in a register and its r0 a Smi in a spill slot (4); its r1 a dead
 * captured object with a self-cycle. outer resumes after its Call: r1 is 3 in a register,
 * r2 the function inner (a literal), r0 and r3 Smis. 1.5 * 4 + 3 = 9. */
static void run_two_frames(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *outer = global(&e, "outer"), *inner = global(&e, "inner");
    value_t *obj1 = call0(&e, "mk1");
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fo = translation_builder_literal(b, *outer);
    uint32_t fi = translation_builder_literal(b, *inner);
    uint32_t co = translation_builder_literal(b, context_of(outer));
    uint32_t ci = translation_builder_literal(b, context_of(inner));
    uint32_t map = translation_builder_literal(b, value_from_object(map_of(obj1)));
    uint32_t undef = translation_builder_literal(b, vm_undefined(e.rt));
    translation_begin_point(b); /* point 0: unused, so that the id matters */
    translation_begin_frame(b, fi, 0, 0);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, ci));
    translation_add(b, deopt_loc_smi(-1));
    assert_int_equal(translation_begin_point(b), 1);
    translation_begin_frame(b, fo, offset_of(&e, "outer", 6), 4);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, co));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_smi(4));
    translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, 0));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, fi));
    translation_add(b, deopt_loc_smi(4));
    translation_begin_frame(b, fi, offset_of(&e, "inner", 1), 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, ci));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_REGISTER, 1));
    translation_add(b, deopt_loc(DEOPT_LOC_STACK_SLOT, 0));
    translation_add(b, deopt_loc_captured(map, 2));
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);

    e.registers[0] = value_from_smi(3);
    e.registers_tagged[0] = true;
    e.registers[1] = double_bits(1.5);
    e.slots[0] = value_from_smi(4);
    e.slots_tagged[0] = true;
    struct deopt_stats st;
    value_t result;
    assert_int_equal(deopt(&e, bytes, pool, 1, &st, &result), 0);
    double d;
    assert_true(vm_value_to_number(result, &d));
    if (d != 9.0)
        print_error("got %g\n", d);
    assert_true(d == 9.0);
    assert_int_equal(e.vm->frame_count, 0);
    assert_int_equal(st.deopt_id, 1);
    assert_int_equal(st.frames, 2);
    assert_int_equal(st.bytecode_offset, offset_of(&e, "inner", 1));
    assert_int_equal(st.materialized_objects, 2);
    assert_int_equal(shared_smi(outer, VM_SHARED_DEOPT_COUNT), 1);
    assert_int_equal(shared_smi(inner, VM_SHARED_DEOPT_COUNT), 0);
    env_close(&e);
}

static void test_two_frames(void **state) { run_two_frames(0); }
static void test_two_frames_stress(void **state)
{
    run_two_frames(1);
    run_two_frames(3);
}

/* walk(o) = o.f.f.g, entered at its first instruction with captured objects:
 *   point 0: A = {f: B, g: 7}, B = {f: A, g: <a real object in a register>}  -> 7
 *   point 1: C = {f: C, g: 0.25} (a self-cycle)                              -> 0.25
 *   point 2: D = {f: E, g: E}, E = {f: D, g: 5}, walk's r1 = E (sharing)     -> E
 *   point 3: X = {f: Y, g: 0.5}, Y = {f: Z, g: 1}, Z = {f: X, g: 2.0}       -> 2.0
 * The results and the heap graphs are read back. */
static void run_cycles(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *walk = global(&e, "walk");
    value_t *obj2 = call0(&e, "mk2");
    value_t *real = call0(&e, "mk1");
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fw = translation_builder_literal(b, *walk);
    uint32_t cw = translation_builder_literal(b, context_of(walk));
    uint32_t map = translation_builder_literal(b, value_from_object(map_of(obj2)));
    uint32_t undef = translation_builder_literal(b, vm_undefined(e.rt));
    const uint32_t fields = 3; /* [properties][f][g] */

    translation_begin_point(b);
    translation_begin_frame(b, fw, 0, 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, cw));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_captured(map, fields)); /* A = object 0 */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_captured(map, fields)); /* B = object 1 */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, 3));
    translation_add(b, deopt_loc_smi(7));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));

    translation_begin_point(b);
    translation_begin_frame(b, fw, 0, 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, cw));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_captured(map, fields)); /* C */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_REGISTER, 4));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));

    translation_begin_point(b);
    translation_begin_frame(b, fw, 0, 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, cw));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_captured(map, fields)); /* D */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_captured(map, fields)); /* E */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    translation_add(b, deopt_loc_smi(5));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 1));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 1));

    translation_begin_point(b);
    translation_begin_frame(b, fw, 0, 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, cw));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(b, deopt_loc_captured(map, fields)); /* X */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_captured(map, fields)); /* Y */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_captured(map, fields)); /* Z */
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, 2));
    translation_add(b, deopt_loc_smi(1));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, 1));
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, undef));

    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);

    e.registers[3] = *real;
    e.registers_tagged[3] = true;
    e.registers[4] = double_bits(0.25);
    e.slots[1] = double_bits(0.5);
    e.slots[2] = double_bits(2.5);
    struct deopt_stats st;
    value_t result;
    double d;

    /* Point 0: A -> B -> A; the result is A.g. */
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    assert_true(result == value_from_smi(7));
    assert_int_equal(st.materialized_objects, 2);
    if (gc_stress == 1)
        assert_true(st.gcs_during_materialization >= 1);

    /* Point 1: the self-cycle. */
    assert_int_equal(deopt(&e, bytes, pool, 1, &st, &result), 0);
    assert_true(vm_value_to_number(result, &d) && d == 0.25);
    assert_int_equal(st.materialized_objects, 2);
    assert_int_equal(st.boxed_doubles, 1);

    /* Point 2: the result is E; D.f == D.g == E and E.f == D. */
    assert_int_equal(deopt(&e, bytes, pool, 2, &st, &result), 0);
    value_t *ev = handle_new(&e.m, result);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE); /* the graph moves; its shape must not */
    struct object *eo = handle_object(ev);
    assert_true(value_is_strong(*ev));
    assert_true(object_map(eo) == map_of(obj2));
    value_t dv = object_get(eo, VM_OBJECT_INOBJECT);
    assert_true(value_is_strong(dv));
    struct object *dobj = value_to_object(dv);
    assert_true(object_get(dobj, VM_OBJECT_INOBJECT) == *ev);
    assert_true(object_get(dobj, VM_OBJECT_INOBJECT + 1) == *ev);
    assert_true(object_get(eo, VM_OBJECT_INOBJECT + 1) == value_from_smi(5));

    /* Point 3: a three-cycle whose first objects are promoted under stress, so that
     * filling them records young values (Y, Z, the boxes) in the remembered set. */
    assert_int_equal(deopt(&e, bytes, pool, 3, &st, &result), 0);
    assert_true(vm_value_to_number(result, &d) && d == 2.5);
    assert_int_equal(st.materialized_objects, 5);
    assert_int_equal(st.boxed_doubles, 2);
    if (gc_stress == 1)
        assert_true(st.barrier_records >= 1);
    if (gc_stress == 0)
        assert_int_equal(st.barrier_records, 0); /* all young: nothing to record */
    /* The verifier checks the remembered-set invariant in these collections. */
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(shared_smi(walk, VM_SHARED_DEOPT_COUNT), 4);
    env_close(&e);
}

static void test_cycles(void **state) { run_cycles(0); }
static void test_cycles_stress(void **state)
{
    run_cycles(1);
    run_cycles(3);
}

/* sum2(a) with a captured array whose elements are a captured FIXED_ARRAY holding an
 * unboxed double, a Smi and the array itself (a cycle through the elements):
 * 1.25 + 2 = 3.25. */
static void run_array(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *sum2 = global(&e, "sum2");
    value_t *arr = call0(&e, "mkarr");
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fn = translation_builder_literal(b, *sum2);
    uint32_t ctx = translation_builder_literal(b, context_of(sum2));
    uint32_t array_map = translation_builder_literal(b, value_from_object(map_of(arr)));
    uint32_t elements_map =
        translation_builder_literal(b, value_from_object(e.heap->fixed_array_map));
    translation_begin_point(b);
    translation_begin_frame(b, fn, 0, 2);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, ctx));
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_captured(array_map, VM_ARRAY_FIELDS));
    translation_add(b, deopt_loc_smi(3));
    translation_add(b, deopt_loc_captured(elements_map, 3));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_REGISTER, 5));
    translation_add(b, deopt_loc_smi(2));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    translation_add(b, deopt_loc_smi(0));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);
    e.registers[5] = double_bits(1.25);
    struct deopt_stats st;
    value_t result;
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    double d;
    assert_true(vm_value_to_number(result, &d) && d == 3.25);
    assert_int_equal(st.materialized_objects, 3);
    assert_int_equal(st.materialized_bytes, 3 * 8 + (2 + 3) * 8 + 2 * 8);
    if (gc_stress == 1)
        assert_true(st.gcs_during_materialization >= 1);
    env_close(&e);
}

static void test_array(void **state)
{
    run_array(0);
    run_array(1);
}

/* A collection pending when the deopt starts: another mutator has requested the
 * safepoint and waits for this thread, so deopt_eager's first poll stops until the
 * scavenge is over, before anything is translated. The young object in register 3 moves
 * in that scavenge (the register file's root provider updates it) and the deopt reads
 * the new address. */
struct collector_thread {
    struct env *e;
    atomic_int phase; /* 1: attached, 2: go, 3: collected */
};

static void *collect_when_told(void *arg)
{
    struct collector_thread *c = arg;
    struct mutator m;
    gc_mutator_attach(c->e->gc, &m, "collector");
    atomic_store(&c->phase, 1);
    while (atomic_load(&c->phase) != 2)
        mutator_poll(&m);
    gc_collect(c->e->heap, &m, COLLECT_SCAVENGE);
    atomic_store(&c->phase, 3);
    gc_mutator_detach(&m);
    return NULL;
}

static void test_pending_gc(void **state)
{
    struct env e;
    env_open(&e, 0);
    value_t *addf = global(&e, "addf");
    value_t *obj1 = call0(&e, "mk1"); /* {f: 0} */
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fn = translation_builder_literal(b, *addf);
    uint32_t ctx = translation_builder_literal(b, context_of(addf));
    translation_begin_point(b);
    translation_begin_frame(b, fn, offset_of(&e, "addf", 2), 3);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, ctx));
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc(DEOPT_LOC_REGISTER, 3));
    translation_add(b, deopt_loc(DEOPT_LOC_DOUBLE_REGISTER, 4));
    translation_add(b, deopt_loc_smi(1));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);
    e.registers[3] = *obj1;
    e.registers_tagged[3] = true;
    e.registers[4] = double_bits(0.75);
    uint64_t before = e.registers[3];
    uint64_t epoch = atomic_load(&e.heap->gc_epoch);

    struct collector_thread c = {.e = &e};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, collect_when_told, &c), 0);
    while (atomic_load(&c.phase) != 1)
        mutator_poll(&e.m);
    atomic_store(&c.phase, 2);
    /* No poll here: wait until the collector's request reaches this thread. */
    while (!(atomic_load(&e.m.safepoint.state) & SAFEPOINT_REQUESTED))
        ;
    struct deopt_stats st;
    value_t result;
    assert_int_equal(deopt(&e, bytes, pool, 0, &st, &result), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&c.phase), 3);
    assert_true(atomic_load(&e.heap->gc_epoch) > epoch);
    assert_true(e.registers[3] != before); /* moved during the entry poll */
    assert_true(e.registers[3] == *obj1);
    assert_true(st.waited_for_gc_us > 0);
    assert_int_equal(st.gcs_during_materialization, 0); /* the GC was over by then */
    double d;
    assert_true(vm_value_to_number(result, &d) && d == 0.75);
    env_close(&e);
}

/* A frame the interpreter refuses (an offset inside an instruction): an error, and the
 * frame stack as it was. */
static void test_bad_frame(void **state)
{
    struct env e;
    env_open(&e, 0);
    value_t *addf = global(&e, "addf");
    struct translation_builder *b = translation_builder_create(&e.m);
    uint32_t fn = translation_builder_literal(b, *addf);
    translation_begin_point(b);
    translation_begin_frame(b, fn, 1, 0);
    translation_add(b, deopt_loc_smi(0));
    translation_add(b, deopt_loc_smi(0));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);
    value_t result;
    size_t top = e.vm->stack_top;
    assert_int_equal(deopt(&e, bytes, pool, 0, NULL, &result), -1);
    assert_non_null(strstr(e.vm->error, "deopt 0: vm_push_frame: offset 1 is not an instruction"));
    assert_int_equal(e.vm->frame_count, 0);
    assert_int_equal(e.vm->stack_top, top);
    assert_int_equal(shared_smi(addf, VM_SHARED_DEOPT_COUNT), 0);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_frame), cmocka_unit_test(test_single_frame_stress),
        cmocka_unit_test(test_two_frames),   cmocka_unit_test(test_two_frames_stress),
        cmocka_unit_test(test_cycles),       cmocka_unit_test(test_cycles_stress),
        cmocka_unit_test(test_array),        cmocka_unit_test(test_pending_gc),
        cmocka_unit_test(test_bad_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
