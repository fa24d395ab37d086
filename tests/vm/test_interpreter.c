/*
 * Tests of the lib/vm interpreter, one group of opcodes at a time: loads and moves,
 * arithmetic (Smi, overflow to heap numbers, doubles) with its type feedback,
 * comparisons and jumps, named properties and their map feedback (monomorphic,
 * polymorphic, megamorphic), keyed access with bounds checks, closures and contexts,
 * globals, calls and their feedback, intrinsics, tier-up counters, run-time errors
 * (one clear message, never a crash), the frame-level entry point (vm_push_frame +
 * vm_resume), and collections in the middle of a call sequence that move the objects
 * the frames hold.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/barrier.h"
#include "gc/gc.h"
#include "heap/verify.h"
#include "vm/vm.h"

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    struct vm_runtime *rt;
    struct vm_module *module;
    struct vm *vm;
};

static void env_open_config(struct env *e, uint64_t gc_stress, bool verify)
{
    memset(e, 0, sizeof *e);
    struct heap_config config = {.young_size_bytes = (size_t)512 << 10,
                                 .heap_size_bytes = (size_t)64 << 20,
                                 .gc_stress = gc_stress,
                                 .verify_heap = verify};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
    e->rt = vm_runtime_create(e->heap, &e->m);
}

static void env_close(struct env *e)
{
    vm_destroy(e->vm);
    vm_module_destroy(e->module);
    vm_runtime_destroy(e->rt);
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

static void load(struct env *e, const char *text)
{
    char error[512];
    e->module = vm_assemble("t.vm", text, strlen(text), error, sizeof error);
    if (!e->module)
        print_error("%s\n", error);
    assert_non_null(e->module);
    e->vm = vm_create(e->rt, &e->m, e->module, error, sizeof error);
    assert_non_null(e->vm);
}

/* Runs main; returns 0 with its result formatted in out, or -1 with the error there. */
static int run(struct env *e, char *out, size_t size)
{
    value_t result;
    if (vm_run_main(e->vm, &result) != 0) {
        size_t n = strlen(e->vm->error);
        n = n < size - 1 ? n : size - 1;
        memcpy(out, e->vm->error, n);
        out[n] = '\0';
        return -1;
    }
    vm_value_format(e->vm, result, out, size);
    return 0;
}

/* Assembles text, runs main on a fresh heap and checks its result (or error). */
static void check_program(const char *text, int want_rc, const char *want)
{
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, text);
    char out[512];
    int rc = run(&e, out, sizeof out);
    if (rc != want_rc || strcmp(out, want) != 0)
        print_error("got %d '%s', expected %d '%s'\n", rc, out, want_rc, want);
    assert_int_equal(rc, want_rc);
    assert_string_equal(out, want);
    assert_int_equal(e.vm->frame_count, 0);
    env_close(&e);
}

/* Word `word` of the feedback vector of function `name`. */
static int64_t feedback_word(struct env *e, const char *name, size_t word)
{
    int f = vm_module_find_function(e->module, name);
    assert_true(f >= 0);
    struct object *shared =
        value_to_object(object_get(value_to_object(e->vm->roots[VM_ROOT_SHARED]), 2 + (size_t)f));
    struct object *fb = value_to_object(object_get(shared, VM_SHARED_FEEDBACK));
    value_t v = object_get(fb, 2 + word);
    return value_is_smi(v) ? value_to_smi(v) : -1000; /* -1000: a heap value */
}

static void test_loads_and_moves(void **state)
{
    check_program("function main registers 3\n LdaSmi -5\n Star r0\n Mov r0, r2\n LdaTrue\n"
                  " Ldar r2\n Return\nend\n",
                  0, "-5");
    check_program("function main\n LdaConstant 2.5\n Return\nend\n", 0, "2.5");
    check_program("function main\n LdaNull\n Return\nend\n", 0, "null");
    check_program("function main\n LdaUndefined\n Return\nend\n", 0, "undefined");
    check_program("function main\n LdaFalse\n LogicalNot\n Return\nend\n", 0, "true");
    check_program("function main registers 1\n Ldar r0\n Return\nend\n", 0, "undefined");
}

static void test_arithmetic(void **state)
{
    /* acc = r OP acc */
    check_program("function main registers 1\n LdaSmi 7\n Star r0\n LdaSmi 3\n Sub r0\n Return\n"
                  "end\n",
                  0, "4");
    check_program("function main registers 1\n LdaSmi 7\n Star r0\n LdaSmi 2\n Div r0\n Return\n"
                  "end\n",
                  0, "3.5");
    check_program("function main registers 1\n LdaSmi 8\n Star r0\n LdaSmi 2\n Div r0\n Return\n"
                  "end\n",
                  0, "4");
    check_program("function main registers 1\n LdaSmi -7\n Star r0\n LdaSmi 3\n Mod r0\n Return\n"
                  "end\n",
                  0, "-1");
    check_program("function main registers 1\n LdaSmi 7\n Star r0\n LdaSmi 0\n Mod r0\n Return\n"
                  "end\n",
                  0, "nan");
    /* A negative multiple: -0, a double, as for Mul. */
    check_program("function main registers 1\n LdaSmi -4\n Star r0\n LdaSmi 2\n Mod r0\n Return\n"
                  "end\n",
                  0, "-0");
    check_program("function main registers 1\n LdaConstant 1.5\n Star r0\n LdaSmi 2\n Mul r0\n"
                  " Return\nend\n",
                  0, "3");
    /* The largest Smi plus one is a heap number. */
    check_program("function main\n LdaConstant 4611686018427387903\n Inc\n Return\nend\n", 0,
                  "4.6116860184273879e+18");
    check_program("function main registers 1\n LdaConstant 3037000500\n Star r0\n Mul r0\n"
                  " Return\nend\n",
                  0, "9.2233720370002493e+18");
    check_program("function main\n LdaSmi 0\n Negate\n Return\nend\n", 0, "-0");
    /* Canonical numbers: 0.5 x 4 is the Smi 2, so it is an array index (a heap number is
     * not), and 0.5 x 0 is the Smi 0 but -0.5 x 0 the double -0. */
    check_program("function main registers 2\n LdaSmi 4\n CreateArray\n Star r0\n"
                  " LdaConstant 0.5\n Star r1\n LdaSmi 4\n Mul r1\n LdaKeyedProperty r0\n"
                  " Return\nend\n",
                  0, "undefined");
    check_program("function main registers 1\n LdaConstant -0.5\n Star r0\n LdaSmi 0\n Mul r0\n"
                  " Return\nend\n",
                  0, "-0");
    check_program("function main registers 1\n LdaTrue\n Star r0\n LdaSmi 1\n Add r0\n Return\n"
                  "end\n",
                  -1, "main@8: Add needs numbers, got true and 1");

    /* Feedback: none < smi < number < any, per site. */
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, "function add params 2 registers 2\n Ldar r1\n Add r0\n Return\nend\n"
             "function main registers 3\n LdaGlobal add\n Star r0\n LdaSmi 1\n Star r1\n"
             " Star r2\n Call r0, r1, 2\n Return\nend\n");
    char out[64];
    assert_int_equal(run(&e, out, sizeof out), 0);
    assert_string_equal(out, "2");
    assert_int_equal(feedback_word(&e, "add", 0), VM_TYPE_SMI);
    value_t add;
    assert_true(vm_get_global(e.vm, "add", &add));
    value_t *f = handle_new(&e.m, add);
    value_t *args = handle_new(&e.m, vm_number_from_double(e.vm, 0.25));
    handle_new(&e.m, value_from_smi(1));
    value_t result;
    assert_int_equal(vm_call(e.vm, f, args, 2, &result), 0);
    vm_value_format(e.vm, result, out, sizeof out);
    assert_string_equal(out, "1.25");
    assert_int_equal(feedback_word(&e, "add", 0), VM_TYPE_NUMBER);
    args[0] = e.rt->oddballs[VM_NULL];
    assert_int_equal(vm_call(e.vm, f, args, 2, &result), -1);
    assert_int_equal(feedback_word(&e, "add", 0), VM_TYPE_ANY);
    env_close(&e);
}

static void test_compare_and_jump(void **state)
{
    /* sum of 0..99 by a loop with a back-edge */
    const char *loop = "function main registers 2\n"
                       " LdaSmi 0\n Star r0\n Star r1\n"
                       "top: LdaSmi 100\n TestLessThan r0\n JumpIfFalse out\n"
                       " Ldar r0\n Add r1\n Star r1\n Ldar r0\n Inc\n Star r0\n JumpLoop top\n"
                       "out: Ldar r1\n Return\nend\n";
    check_program(loop, 0, "4950");
    check_program("function main registers 1\n LdaConstant 2.0\n Star r0\n LdaSmi 2\n"
                  " TestEqual r0\n Return\nend\n",
                  0, "true");
    check_program("function main registers 1\n LdaSmi 3\n Star r0\n LdaConstant 2.5\n"
                  " TestGreaterThanOrEqual r0\n Return\nend\n",
                  0, "true");
    check_program("function main registers 1\n LdaSmi 3\n Star r0\n LdaSmi 3\n"
                  " TestLessThanOrEqual r0\n JumpIfTrue yes\n LdaSmi 0\n Return\n"
                  "yes: LdaSmi 1\n Return\nend\n",
                  0, "1");
    check_program("function main registers 1\n LdaNull\n Star r0\n LdaSmi 3\n TestLessThan r0\n"
                  " Return\nend\n",
                  -1, "main@8: TestLessThan needs numbers, got null and 3");
    /* Truthiness: 0, 0.0, null, undefined and false are false. */
    check_program("function main\n LdaConstant 0.0\n JumpIfTrue bad\n LdaNull\n JumpIfTrue bad\n"
                  " LdaSmi 0\n JumpIfTrue bad\n LdaSmi 9\n Return\nbad: LdaSmi -1\n Return\nend\n",
                  0, "9");
}

static const char property_program[] =
    "function getx params 1 registers 1\n LdaNamedProperty r0, x\n Return\nend\n"
    "function make params 1 registers 2\n"
    " CreateObject 2\n Star r1\n"
    " LdaSmi 0\n TestEqual r0\n JumpIfTrue set_x\n"
    " LdaSmi 1\n StaNamedProperty r1, y\n"
    " LdaSmi 1\n TestEqual r0\n JumpIfTrue set_x\n"
    " LdaSmi 2\n StaNamedProperty r1, z\n"
    " LdaSmi 2\n TestEqual r0\n JumpIfTrue set_x\n"
    " LdaSmi 3\n StaNamedProperty r1, w\n"
    " LdaSmi 3\n TestEqual r0\n JumpIfTrue set_x\n"
    " LdaSmi 4\n StaNamedProperty r1, v\n"
    "set_x: Ldar r0\n StaNamedProperty r1, x\n Ldar r1\n Return\nend\n"
    /* main calls getx on objects of `kinds` hidden classes (global kinds) */
    "function main registers 5\n"
    " LdaSmi 0\n Star r0\n Star r1\n"
    "top: LdaGlobal kinds\n TestLessThan r0\n JumpIfFalse out\n"
    " LdaGlobal make\n Star r2\n Call r2, r0, 1\n Star r3\n"
    " LdaGlobal getx\n Star r2\n Call r2, r3, 1\n Add r1\n Star r1\n"
    " Ldar r0\n Inc\n Star r0\n JumpLoop top\n"
    "out: Ldar r1\n Return\nend\n"
    "function set_kinds params 1\n Ldar r0\n StaGlobal kinds\n Return\nend\n";

static void property_state_after(int kinds, int64_t want_state, const char *want_sum)
{
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, property_program);
    value_t set;
    assert_true(vm_get_global(e.vm, "set_kinds", &set));
    value_t *f = handle_new(&e.m, set);
    value_t *arg = handle_new(&e.m, value_from_smi(kinds));
    value_t result;
    assert_int_equal(vm_call(e.vm, f, arg, 1, &result), 0);
    char out[64];
    assert_int_equal(run(&e, out, sizeof out), 0);
    assert_string_equal(out, want_sum);
    assert_int_equal(feedback_word(&e, "getx", 0), want_state);
    env_close(&e);
}

static void test_named_properties(void **state)
{
    property_state_after(1, VM_IC_MONOMORPHIC, "0");
    property_state_after(3, VM_IC_POLYMORPHIC, "3");
    property_state_after(4, VM_IC_POLYMORPHIC, "6");
    property_state_after(5, VM_IC_MEGAMORPHIC, "10");
    /* A missing property reads undefined; a non-object receiver is an error. */
    check_program("function main registers 1\n CreateObject 1\n Star r0\n"
                  " LdaNamedProperty r0, nope\n Return\nend\n",
                  0, "undefined");
    check_program("function main registers 1\n LdaSmi 3\n Star r0\n LdaNamedProperty r0, x\n"
                  " Return\nend\n",
                  -1, "main@7: cannot read property 'x' of 3");
    check_program("function main registers 1\n LdaUndefined\n Star r0\n"
                  " StaNamedProperty r0, x\n Return\nend\n",
                  -1, "main@3: cannot set property 'x' of undefined");
    /* Twenty properties on an object with two in-object slots: the backing store grows. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "function main registers 2\n CreateObject 2\n"
                                " Star r0\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " LdaSmi %d\n StaNamedProperty r0, p%d\n",
                              i + 1, i);
    n += (size_t)snprintf(text + n, sizeof text - n, " LdaSmi 0\n Star r1\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              " LdaNamedProperty r0, p%d\n Add r1\n Star r1\n", i);
    snprintf(text + n, sizeof text - n, " Return\nend\n");
    check_program(text, 0, "210");
}

static void test_keyed(void **state)
{
    const char *prefix = "function main registers 3\n LdaSmi 3\n CreateArray\n Star r0\n";
    char text[512];
    snprintf(text, sizeof text,
             "%s LdaSmi 2\n Star r1\n LdaSmi 9\n StaKeyedProperty r0, r1\n"
             " Ldar r1\n LdaKeyedProperty r0\n Return\nend\n",
             prefix);
    check_program(text, 0, "9");
    snprintf(text, sizeof text, "%s LdaSmi 3\n LdaKeyedProperty r0\n Return\nend\n", prefix);
    check_program(text, -1, "main@13: index 3 is out of bounds for an array of length 3");
    snprintf(text, sizeof text, "%s LdaSmi -1\n LdaKeyedProperty r0\n Return\nend\n", prefix);
    check_program(text, -1, "main@13: index -1 is out of bounds for an array of length 3");
    /* A store at length appends; one past it is an error. */
    snprintf(text, sizeof text,
             "%s LdaSmi 3\n Star r1\n StaKeyedProperty r0, r1\n"
             " CallIntrinsic length, r0, 1\n Return\nend\n",
             prefix);
    check_program(text, 0, "4");
    snprintf(text, sizeof text, "%s LdaSmi 4\n Star r1\n StaKeyedProperty r0, r1\n Return\nend\n",
             prefix);
    check_program(text, -1, "main@15: index 4 is out of bounds for an array of length 3");
    snprintf(text, sizeof text, "%s LdaConstant 1.5\n LdaKeyedProperty r0\n Return\nend\n", prefix);
    check_program(text, -1, "main@11: an array index must be a small integer, got 1.5");
    check_program("function main registers 1\n CreateObject 0\n Star r0\n LdaSmi 0\n"
                  " LdaKeyedProperty r0\n Return\nend\n",
                  -1, "main@9: cannot index [object with 0 properties]: not an array");
    check_program("function main\n LdaSmi -1\n CreateArray\n Return\nend\n", -1,
                  "main@5: CreateArray needs a length 0..16777216, got -1");
}

static void test_closures_and_contexts(void **state)
{
    check_program("function mk params 1 registers 1\n PushContext 2\n Ldar r0\n"
                  " StaContextSlot 0, 1\n CreateClosure get\n Return\nend\n"
                  "function get\n LdaContextSlot 0, 1\n Return\nend\n"
                  "function main registers 2\n LdaGlobal mk\n Star r0\n LdaSmi 42\n Star r1\n"
                  " Call r0, r1, 1\n Star r0\n Call r0, r0, 0\n Return\nend\n",
                  0, "42");
    check_program("function main\n PushContext 1\n LdaContextSlot 0, 1\n Return\nend\n", -1,
                  "main@2: no context slot 1 at depth 0");
    check_program("function main\n LdaContextSlot 3, 0\n Return\nend\n", -1,
                  "main@0: no context slot 0 at depth 3");
    check_program("function main\n PopContext\n Return\nend\n", -1,
                  "main@0: PopContext without a context to return to");
    check_program("function main\n PushContext 1\n LdaSmi 5\n StaContextSlot 0, 0\n"
                  " PushContext 0\n LdaContextSlot 1, 0\n PopContext\n Return\nend\n",
                  0, "5");
}

static void test_globals_and_calls(void **state)
{
    check_program("function main\n LdaSmi 4\n StaGlobal g\n LdaUndefined\n LdaGlobal g\n"
                  " Return\nend\n",
                  0, "4");
    check_program("function main\n LdaGlobal nothing\n Return\nend\n", -1,
                  "main@0: global 'nothing' is not defined");
    check_program("function main registers 1\n LdaSmi 1\n Star r0\n Call r0, r0, 0\n Return\n"
                  "end\n",
                  -1, "main@7: calling a non-function: 1");
    /* Missing arguments are undefined. */
    check_program("function two params 2\n Ldar r1\n Return\nend\n"
                  "function main registers 2\n LdaGlobal two\n Star r0\n LdaSmi 1\n Star r1\n"
                  " Call r0, r1, 1\n Return\nend\n",
                  0, "undefined");
    /* Unbounded recursion: a stack overflow error, and the frame stack is unwound. */
    check_program(
        "function down registers 1\n LdaGlobal down\n Star r0\n Call r0, r0, 0\n"
        " Return\nend\n"
        "function main registers 1\n LdaGlobal down\n Star r0\n Call r0, r0, 0\n Return\nend\n",
        -1,
        "down@5: stack overflow: more than 2048 frames (or 131072 register slots) deep, "
        "calling down");

    /* Call feedback: a count and the one target (monomorphic), then megamorphic. */
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, "function a\n LdaSmi 1\n Return\nend\nfunction b\n LdaSmi 2\n Return\nend\n"
             "function callit params 1 registers 1\n Call r0, r0, 0\n Return\nend\n"
             "function main\n LdaSmi 0\n Return\nend\n");
    value_t fn, target;
    assert_true(vm_get_global(e.vm, "callit", &fn));
    value_t *callit = handle_new(&e.m, fn);
    assert_true(vm_get_global(e.vm, "a", &target));
    value_t *arg = handle_new(&e.m, target);
    value_t result;
    for (int i = 0; i < 3; i++)
        assert_int_equal(vm_call(e.vm, callit, arg, 1, &result), 0);
    assert_int_equal(feedback_word(&e, "callit", 0), 3);
    assert_int_equal(feedback_word(&e, "callit", 1), -1000); /* the function a */
    assert_true(vm_get_global(e.vm, "b", &target));
    *arg = target;
    assert_int_equal(vm_call(e.vm, callit, arg, 1, &result), 0);
    assert_int_equal(value_to_smi(result), 2);
    assert_int_equal(feedback_word(&e, "callit", 0), 4);
    struct object *shared =
        value_to_object(object_get(value_to_object(e.vm->roots[VM_ROOT_SHARED]),
                                   2 + (size_t)vm_module_find_function(e.module, "callit")));
    value_t megamorphic = object_get(value_to_object(object_get(shared, VM_SHARED_FEEDBACK)), 3);
    assert_true(megamorphic == e.rt->oddballs[VM_HOLE]);
    env_close(&e);
}

static void test_intrinsics(void **state)
{
    check_program("function main registers 1\n LdaSmi 2\n Star r0\n CallIntrinsic sqrt, r0, 1\n"
                  " Return\nend\n",
                  0, "1.4142135623730951");
    check_program("function main registers 1\n LdaConstant -2.5\n Star r0\n"
                  " CallIntrinsic floor, r0, 1\n Return\nend\n",
                  0, "-3");
    check_program("function main registers 1\n LdaConstant -2.5\n Star r0\n"
                  " CallIntrinsic abs, r0, 1\n Return\nend\n",
                  0, "2.5");
    check_program("function main registers 1\n LdaSmi -4\n Star r0\n CallIntrinsic abs, r0, 1\n"
                  " Return\nend\n",
                  0, "4");
    check_program("function main registers 1\n CreateObject 0\n Star r0\n"
                  " CallIntrinsic length, r0, 1\n Return\nend\n",
                  -1, "main@4: length needs an array, got [object with 0 properties]");
    check_program("function main registers 1\n LdaNull\n Star r0\n CallIntrinsic sqrt, r0, 1\n"
                  " Return\nend\n",
                  -1, "main@3: sqrt needs a number, got null");
}

static void test_tierup_counters(void **state)
{
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, "function leaf\n LdaSmi 1\n Return\nend\n"
             "function main registers 3\n LdaSmi 0\n Star r0\n"
             "top: LdaConstant 20000\n TestLessThan r0\n JumpIfFalse out\n"
             " LdaSmi 1500\n TestLessThan r0\n JumpIfFalse skip\n"
             " LdaGlobal leaf\n Star r1\n Call r1, r1, 0\n"
             "skip: Ldar r0\n Inc\n Star r0\n JumpLoop top\nout: Ldar r0\n Return\nend\n");
    char out[64];
    assert_int_equal(run(&e, out, sizeof out), 0);
    assert_string_equal(out, "20000");
    /* main passed the back-edge threshold, leaf the invocation threshold: once each. */
    assert_int_equal(e.vm->stats.tierup_requests, 2);
    assert_int_equal(e.vm->stats.backedges, 20000);
    assert_int_equal(e.vm->stats.calls, 1 + 1500);
    assert_int_equal(run(&e, out, sizeof out), 0);
    assert_int_equal(e.vm->stats.tierup_requests, 2);
    env_close(&e);
}

/* The deoptimizer's entry: a frame written by hand, resumed at an instruction in the
 * middle of a function with its accumulator and registers. */
static void test_enter_at_offset(void **state)
{
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, "function f registers 2\n LdaSmi 100\n Star r0\n Ldar r1\n Add r0\n Return\nend\n"
             "function main\n LdaSmi 0\n Return\nend\n");
    value_t f;
    assert_true(vm_get_global(e.vm, "f", &f));
    uint32_t add_at = vm_opcode_info(VM_OP_LdaSmi)->size_bytes +
                      vm_opcode_info(VM_OP_Star)->size_bytes +
                      vm_opcode_info(VM_OP_Ldar)->size_bytes;
    value_t regs[2] = {value_from_smi(10), value_from_smi(99)};
    struct object *fo = value_to_object(f);
    assert_int_equal(vm_push_frame(e.vm, f, object_get(fo, VM_FUNCTION_CONTEXT), add_at,
                                   value_from_smi(5), regs, 2),
                     0);
    value_t result;
    assert_int_equal(vm_resume(e.vm, 0, &result), 0);
    assert_int_equal(value_to_smi(result), 15); /* r0 + acc, not 100 + 99 */
    assert_int_equal(e.vm->frame_count, 0);
    /* An offset inside an instruction is refused. */
    assert_int_equal(vm_push_frame(e.vm, f, object_get(value_to_object(f), VM_FUNCTION_CONTEXT), 1,
                                   value_from_smi(0), regs, 2),
                     -1);
    assert_non_null(strstr(e.vm->error, "is not an instruction of f"));
    env_close(&e);
}

/* Collections in the middle of a call sequence: objects move while frames deep in the
 * stack hold them in registers, the accumulator and contexts. With the verifier on,
 * from-space is overwritten after every scavenge, so a frame slot left stale would read
 * garbage. The program's value depends on every object it built. */
static const char gc_program[] =
    "function deep params 2 registers 4\n"
    "  ; n, o: recursion with a live object per frame and a collection at the bottom\n"
    " LdaSmi 0\n TestEqual r0\n JumpIfFalse more\n"
    " CallIntrinsic collect_garbage, r0, 0\n"
    " LdaNamedProperty r1, v\n Return\n"
    "more: CreateObject 2\n Star r2\n Ldar r0\n StaNamedProperty r2, v\n"
    " Ldar r1\n StaNamedProperty r2, up\n"
    " PushContext 1\n Ldar r2\n StaContextSlot 0, 0\n"
    " LdaGlobal deep\n Star r3\n Ldar r0\n Dec\n Star r0\n"
    " Mov r2, r1\n Ldar r3\n Call r3, r0, 2\n"
    " Star r3\n LdaContextSlot 0, 0\n Star r2\n LdaNamedProperty r2, v\n Add r3\n"
    " Return\nend\n"
    "function main registers 4\n"
    " CreateObject 1\n Star r1\n LdaSmi 1000\n StaNamedProperty r1, v\n"
    " LdaConstant 0.5\n Star r3\n"
    " LdaSmi 40\n Star r0\n LdaGlobal deep\n Star r2\n Call r2, r0, 2\n"
    " Add r3\n Return\nend\n";

static void test_gc_during_calls(void **state)
{
    /* sum of 1..40 (each frame's object) + 1 (the bottom's object has v = 1) + 0.5 */
    for (uint64_t stress = 0; stress <= 50; stress += stress < 5 ? 1 : 15) {
        struct env e;
        env_open_config(&e, stress, true);
        load(&e, gc_program);
        uint64_t epoch_before = atomic_load(&e.heap->gc_epoch);
        char out[64];
        assert_int_equal(run(&e, out, sizeof out), 0);
        assert_string_equal(out, "821.5");
        assert_true(atomic_load(&e.heap->gc_epoch) > epoch_before);
        assert_true(e.vm->stats.reloads_after_gc > 0);
        env_close(&e);
    }
}

/* An object held by a frame register moves, and the register is updated. */
static void test_frame_register_moves(void **state)
{
    struct env e;
    env_open_config(&e, 0, true);
    load(&e, "function make registers 1\n CreateObject 1\n Star r0\n LdaSmi 41\n StaNamedProperty "
             "r0, v\n"
             " Ldar r0\n Return\nend\n"
             "function use params 1 registers 1\n CallIntrinsic collect_garbage, r0, 0\n"
             " LdaNamedProperty r0, v\n Inc\n Return\nend\n"
             "function main registers 1\n LdaSmi 0\n Return\nend\n"
             ".main main\n");
    value_t fn;
    assert_true(vm_get_global(e.vm, "make", &fn));
    value_t *make = handle_new(&e.m, fn);
    value_t result;
    assert_int_equal(vm_call(e.vm, make, NULL, 0, &result), 0);
    value_t *object = handle_new(&e.m, result);
    uintptr_t before = value_address(*object);
    assert_true(object_in_young(value_to_object(*object)));
    assert_true(vm_get_global(e.vm, "use", &fn));
    value_t *use = handle_new(&e.m, fn);
    assert_int_equal(vm_call(e.vm, use, object, 1, &result), 0);
    assert_int_equal(value_to_smi(result), 42);
    assert_true(value_address(*object) != before); /* it moved during the call */
    env_close(&e);
}

/* Runs text with vm->step_limit set; returns run's status, its result or error in out. */
static int run_limited(const char *text, uint64_t limit, char *out, size_t size)
{
    struct env e;
    env_open_config(&e, 0, false);
    load(&e, text);
    e.vm->step_limit = limit;
    int rc = run(&e, out, size);
    assert_int_equal(e.vm->frame_count, 0);
    env_close(&e);
    return rc;
}

/* vm->step_limit: a loop that never ends and a recursion that never ends (deeper than
 * the limit, shallower than the frame cap) stop with the step-limit error; a program
 * that needs fewer back-edges plus calls than the limit runs to its result. */
static void test_step_limit(void **state)
{
    const char *forever = "function main\ntop: JumpLoop top\nend\n";
    const char *recurse = "function main registers 1\n LdaGlobal main\n Star r0\n"
                          " Call r0, r0, 0\n Return\nend\n";
    /* 100 back-edges plus one call of f per iteration: 200 steps */
    const char *bounded = "function f\n LdaSmi 1\n Return\nend\n"
                          "function main registers 3\n LdaSmi 0\n Star r0\n"
                          "top: LdaSmi 100\n TestLessThan r0\n JumpIfFalse out\n"
                          " LdaGlobal f\n Star r1\n Call r1, r1, 0\n"
                          " Ldar r0\n Inc\n Star r0\n JumpLoop top\n"
                          "out: Ldar r0\n Return\nend\n";
    char out[512];
    assert_int_equal(run_limited(forever, 1000, out, sizeof out), -1);
    assert_non_null(strstr(out, "step limit reached"));
    assert_int_equal(run_limited(recurse, 1000, out, sizeof out), -1);
    assert_non_null(strstr(out, "step limit reached"));
    assert_int_equal(run_limited(bounded, 1000, out, sizeof out), 0);
    assert_string_equal(out, "100");
    assert_int_equal(run_limited(bounded, 0, out, sizeof out), 0); /* 0: no limit */
    assert_string_equal(out, "100");
    assert_int_equal(run_limited(bounded, 150, out, sizeof out), -1);
    assert_non_null(strstr(out, "step limit reached"));
}

/* vm->allocation_limit: a loop that keeps every object it makes (a list of contexts of
 * 200 slots) stops with the allocation-limit error instead of exhausting the heap; the
 * same loop, bounded, runs to its result under a limit it stays below. */
static void test_allocation_limit(void **state)
{
    const char *text = "function main registers 2\n LdaSmi 0\n Star r0\n"
                       "top: LdaSmi %d\n TestLessThan r0\n JumpIfFalse out\n PushContext 200\n"
                       " Ldar r0\n Inc\n Star r0\n JumpLoop top\nout: Ldar r0\n Return\nend\n";
    char program[512], out[512];
    for (int bounded = 0; bounded < 2; bounded++) {
        snprintf(program, sizeof program, text, bounded ? 100 : 1000000000);
        struct env e;
        env_open_config(&e, 0, false);
        load(&e, program);
        e.vm->allocation_limit = e.m.allocated_bytes + ((uint64_t)4 << 20);
        int rc = run(&e, out, sizeof out);
        assert_int_equal(e.vm->frame_count, 0);
        env_close(&e);
        if (bounded) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, "100");
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(out, "allocation limit reached"));
        }
    }
    /* One CreateArray that would pass the limit fails before it allocates; a small one
     * under the same limit runs. */
    for (int big = 0; big < 2; big++) {
        snprintf(program, sizeof program,
                 "function main\n LdaSmi %d\n CreateArray\n LdaSmi 7\n Return\nend\n",
                 big ? 16000000 : 1000);
        struct env e;
        env_open_config(&e, 0, false);
        load(&e, program);
        e.vm->allocation_limit = e.m.allocated_bytes + ((uint64_t)4 << 20);
        uint64_t before = e.m.allocated_bytes;
        int rc = run(&e, out, sizeof out);
        uint64_t allocated = e.m.allocated_bytes - before;
        env_close(&e);
        if (big) {
            assert_int_equal(rc, -1);
            assert_ptr_equal(strstr(out, "main@5: allocation limit reached ("), out);
            assert_true(allocated < ((uint64_t)1 << 20));
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(out, "7");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocation_limit),
        cmocka_unit_test(test_loads_and_moves),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_compare_and_jump),
        cmocka_unit_test(test_named_properties),
        cmocka_unit_test(test_keyed),
        cmocka_unit_test(test_closures_and_contexts),
        cmocka_unit_test(test_globals_and_calls),
        cmocka_unit_test(test_intrinsics),
        cmocka_unit_test(test_tierup_counters),
        cmocka_unit_test(test_enter_at_offset),
        cmocka_unit_test(test_gc_during_calls),
        cmocka_unit_test(test_frame_register_moves),
        cmocka_unit_test(test_step_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
