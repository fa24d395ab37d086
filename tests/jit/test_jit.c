/*
 * Tests of lib/jit on assembled programs: a hot function really is optimized (the
 * stats say so and its closure points at a code object), each guard kind (not_smi,
 * smi_overflow, not_number, wrong_map, out_of_bounds, the --deopt-stress guard) deopts and the
 * interpreter finishes with the interpreter's result, a deopted function unlinks its code and is
 * compiled again with the new feedback, and the cap on deopts (under --deopt-stress)
 * leaves it interpreted. The optimized and deopt events report what happened.
 * Every test runs without stress and under --gc-stress 1 with the verifier on (it
 * overwrites from-space after each scavenge, so a raw pointer kept across an
 * allocation in the executor or the deopt reads garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gc/gc.h"
#include "jit/code.h"
#include "jit/jit.h"
#include "vm/vm.h"
#include "waltz_config.h"

static const char program[] =
    "function add params 2 registers 2\n" /* a + b */
    "  Ldar r1\n  Add r0\n  Return\nend\n"
    "function sum params 1 registers 3\n" /* 0 + 1 + ... + (n - 1) */
    "  LdaSmi 0\n  Star r1\n  Star r2\n"
    "loop:\n  Ldar r0\n  TestLessThan r2\n  JumpIfFalse done\n"
    "  Ldar r2\n  Add r1\n  Star r1\n  Ldar r2\n  Inc\n  Star r2\n  JumpLoop loop\n"
    "done:\n  Ldar r1\n  Return\nend\n"
    "function getx params 1 registers 1\n  LdaNamedProperty r0, x\n  Return\nend\n"
    "function mkp params 1 registers 2\n" /* {x: n} */
    "  CreateObject 2\n  Star r1\n  Ldar r0\n  StaNamedProperty r1, x\n  Ldar r1\n  Return\nend\n"
    "function mkq params 1 registers 2\n" /* {y: 7, x: n}: another map, x second */
    "  CreateObject 2\n  Star r1\n  LdaSmi 7\n  StaNamedProperty r1, y\n  Ldar r0\n"
    "  StaNamedProperty r1, x\n  Ldar r1\n  Return\nend\n"
    "function at params 2 registers 2\n  Ldar r1\n  LdaKeyedProperty r0\n  Return\nend\n"
    "function mka registers 2\n" /* [10, 20, 30] */
    "  LdaSmi 0\n  CreateArray\n  Star r0\n  LdaSmi 0\n  Star r1\n  LdaSmi 10\n"
    "  StaKeyedProperty r0, r1\n  LdaSmi 1\n  Star r1\n  LdaSmi 20\n  StaKeyedProperty r0, r1\n"
    "  LdaSmi 2\n  Star r1\n  LdaSmi 30\n  StaKeyedProperty r0, r1\n  Ldar r0\n  Return\nend\n"
    "function sq params 1 registers 1\n  Ldar r0\n  Mul r0\n  Return\nend\n"
    "function usesq params 1 registers 4\n" /* sq(n) + 3, sq inlined */
    "  LdaSmi 3\n  Star r1\n  LdaGlobal sq\n  Star r2\n  Mov r0, r3\n  Call r2, r3, 1\n"
    "  Add r1\n  Return\nend\n"
    "function ea params 1 registers 3\n" /* p = {x: n, y: n + 1}; p.y + p.x, p elided */
    "  CreateObject 2\n  Star r1\n  Ldar r0\n  StaNamedProperty r1, x\n  Inc\n"
    "  StaNamedProperty r1, y\n  LdaNamedProperty r1, y\n  Star r2\n  LdaNamedProperty r1, x\n"
    "  Add r2\n  Return\nend\n"
    "function fold params 1 registers 2\n" /* n + 6 * 7 if 3 < 4, else -1 */
    "  LdaSmi 6\n  Star r1\n  LdaSmi 7\n  Mul r1\n  Star r1\n  LdaSmi 4\n  Star r0\n"
    "  Ldar r1\n  LdaSmi 3\n  Star r1\n  LdaSmi 4\n  TestLessThan r1\n  JumpIfFalse no\n"
    "  LdaSmi 42\n  Star r1\n  Ldar r0\n  Add r1\n  Return\nno:\n  LdaSmi -1\n  Return\nend\n"
    "function halve params 2 registers 4\n" /* n times x = x * 0.5 + 1.5; x */
    "  LdaSmi 0\n  Star r2\n"
    "loop:\n  Ldar r1\n  TestLessThan r2\n  JumpIfFalse done\n"
    "  LdaConstant 0.5\n  Mul r0\n  Star r3\n  LdaConstant 1.5\n  Add r3\n  Star r0\n"
    "  Ldar r2\n  Inc\n  Star r2\n  JumpLoop loop\n"
    "done:\n  Ldar r0\n  Return\nend\n"
    "function softp params 2 registers 2\n" /* flag ? o.x : 1 */
    "  Ldar r1\n  JumpIfFalse no\n  LdaNamedProperty r0, x\n  Return\nno:\n  LdaSmi 1\n"
    "  Return\nend\n"
    "function main\n  LdaSmi 0\n  Return\nend\n";

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    struct vm_runtime *rt;
    struct vm_module *module;
    struct vm *vm;
    struct jit *jit;
    value_t args[4]; /* call arguments: a root of their own (handles need not be contiguous) */
    int optimized_events, deopt_events;
    int add_ops[8];      /* per optimized event of add: the op its Add compiled to */
    uint32_t most_boxed; /* the most doubles one deopt boxed */
    char last_kind[8];
    struct deopt_stats last_deopt;
    bool kinds_ok;
    struct handle_scope scope;
};

static void visit_args(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
{
    struct env *e = ctx;
    for (int i = 0; i < 4; i++)
        visit(&e->args[i], visit_ctx);
}

static void on_optimized(void *ctx, struct vm *vm, uint32_t function, uint64_t now_ns)
{
    struct env *e = ctx;
    value_t f;
    if (e->optimized_events < 8 && vm_get_global(vm, "add", &f) &&
        (uint32_t)value_to_smi(
            object_get(value_to_object(object_get(value_to_object(f), VM_FUNCTION_SHARED)),
                       VM_SHARED_INDEX)) == function) {
        struct object *code = value_to_object(object_get(value_to_object(f), VM_FUNCTION_CODE));
        const struct jit_insn *insns = code_body(code);
        e->add_ops[e->optimized_events] = -1;
        for (size_t k = 0; insns[k].op != J_RETURN; k++) /* add: Ldar, Add, Return */
            if (insns[k].pc == 2)                        /* the Add */
                e->add_ops[e->optimized_events] = insns[k].op;
    }
    e->optimized_events++;
}

static void on_deopt(void *ctx, struct vm *vm, const struct deopt_stats *s, const char *kind,
                     const char *code_unlinking)
{
    struct env *e = ctx;
    e->deopt_events++;
    e->last_deopt = *s;
    if (s->boxed_doubles > e->most_boxed)
        e->most_boxed = s->boxed_doubles;
    e->kinds_ok =
        strcmp(kind, "eager") == 0 && strcmp(code_unlinking, WALTZ_OPT_CODE_UNLINKING) == 0;
    snprintf(e->last_kind, sizeof e->last_kind, "%s", kind);
}

static const struct jit_events events = {.deopt = on_deopt, .optimized = on_optimized};

static void env_open(struct env *e, uint64_t gc_stress, uint64_t deopt_stress)
{
    memset(e, 0, sizeof *e);
    struct heap_config config = {.young_size_bytes = (size_t)512 << 10,
                                 .heap_size_bytes = (size_t)64 << 20,
                                 .gc_stress = gc_stress,
                                 .verify_heap = true};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
    e->rt = vm_runtime_create(e->heap, &e->m);
    char error[512];
    e->module = vm_assemble("jit.vm", program, strlen(program), error, sizeof error);
    if (!e->module)
        print_error("%s\n", error);
    assert_non_null(e->module);
    e->vm = vm_create(e->rt, &e->m, e->module, error, sizeof error);
    assert_non_null(e->vm);
    vm_tierup_invocations = 5;
    struct jit_options o = {.optimize = true,
                            .deopt_stress = deopt_stress,
                            .inline_calls = true,
                            .escape_analysis = true,
                            .unbox_doubles = true,
                            .events = &events,
                            .events_ctx = e};
    e->jit = jit_attach(e->vm, &o);
    heap_add_root_provider(e->heap, visit_args, e);
    handle_scope_open(&e->m, &e->scope);
}

static void env_close(struct env *e)
{
    handle_scope_close(&e->m, &e->scope);
    heap_remove_root_provider(e->heap, visit_args, e);
    jit_detach(e->jit);
    vm_destroy(e->vm);
    vm_module_destroy(e->module);
    vm_runtime_destroy(e->rt);
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
    vm_tierup_invocations = VM_TIERUP_INVOCATIONS;
}

static value_t *global(struct env *e, const char *name)
{
    value_t v;
    assert_true(vm_get_global(e->vm, name, &v));
    return handle_new(&e->m, v);
}

static const struct jit_stats *stats(struct env *e) { return jit_stats(e->jit); }

static bool has_code(value_t *function)
{
    value_t c = object_get(handle_object(function), VM_FUNCTION_CODE);
    return value_is_strong(c) && object_type(value_to_object(c)) == TYPE_CODE;
}

static int64_t function_smi(value_t *function, size_t field)
{
    struct object *shared =
        value_to_object(object_get(handle_object(function), VM_FUNCTION_SHARED));
    return value_to_smi(object_get(shared, field));
}

/* add(a, b) with a and b in handles; returns 0 or -1 and the result as a double. */
static int add(struct env *e, value_t *f, value_t a, value_t b, double *out)
{
    e->args[0] = a;
    e->args[1] = b;
    value_t result;
    int rc = vm_call(e->vm, f, e->args, 2, &result);
    if (rc == 0)
        assert_true(vm_value_to_number(result, out));
    return rc;
}

static void warm_smi(struct env *e, value_t *f, int times)
{
    for (int i = 0; i < times; i++) {
        double d;
        assert_int_equal(add(e, f, value_from_smi(i), value_from_smi(2 * i), &d), 0);
        assert_true(d == 3.0 * i);
    }
}

static void run_optimized_loop(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "sum");
    for (int i = 0; i < 12; i++) {
        value_t *arg = handle_new(&e.m, value_from_smi(100 + i)), result;
        assert_int_equal(vm_call(e.vm, f, arg, 1, &result), 0);
        assert_true(value_is_smi(result));
        assert_int_equal(value_to_smi(result), (100 + i) * (99 + i) / 2);
    }
    assert_int_equal(stats(&e)->functions_optimized, 1);
    assert_true(stats(&e)->optimized_calls >= 6);
    assert_true(stats(&e)->guards_executed > 1000);
    assert_true(has_code(f));
    env_close(&e);
}
static void test_optimized_loop(void **state) { run_optimized_loop(0); }
static void test_optimized_loop_stress(void **state) { run_optimized_loop(1); }

static void run_not_smi(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "add");
    warm_smi(&e, f, 8);
    assert_true(has_code(f));
    value_t *half = handle_new(&e.m, vm_number_from_double(e.vm, 0.5));
    double d;
    assert_int_equal(add(&e, f, *half, value_from_smi(2), &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_NOT_SMI], 1);
    assert_int_equal(function_smi(f, VM_SHARED_DEOPT_COUNT), 1);
    assert_int_equal(function_smi(f, VM_SHARED_LAST_DEOPT_REASON), DEOPT_REASON_NOT_SMI);
    assert_int_equal(e.optimized_events, 1);
    assert_int_equal(e.deopt_events, 1);
    assert_true(e.kinds_ok);
    assert_int_equal(e.last_deopt.reason, DEOPT_REASON_NOT_SMI);
    assert_int_equal(e.last_deopt.frames, 1);
    assert_int_equal(e.last_deopt.function, function_smi(f, VM_SHARED_INDEX));
    assert_int_equal(e.last_deopt.bytecode_offset, 2); /* the Add */
    assert_false(has_code(f));                         /* unlinked: the next calls interpret */
    /* New feedback (number): compiled again after 5 more calls, then no deopt for doubles. */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(add(&e, f, *half, value_from_smi(i), &d), 0);
        assert_true(d == 0.5 + i);
    }
    assert_int_equal(stats(&e)->functions_optimized, 2);
    assert_int_equal(e.optimized_events, 2);
    assert_true(has_code(f));
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_NOT_SMI], 1);
    env_close(&e);
}
static void test_not_smi(void **state) { run_not_smi(0); }
static void test_not_smi_stress(void **state) { run_not_smi(1); }

static void run_smi_overflow(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "add");
    warm_smi(&e, f, 8);
    double d;
    assert_int_equal(add(&e, f, value_from_smi(VALUE_SMI_MAX), value_from_smi(1), &d), 0);
    assert_true(d == (double)VALUE_SMI_MAX + 1.0);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_SMI_OVERFLOW], 1);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_NOT_SMI], 0);
    env_close(&e);
}
static void test_smi_overflow(void **state) { run_smi_overflow(0); }
static void test_smi_overflow_stress(void **state) { run_smi_overflow(1); }

/* Number feedback compiles the number-checked generic Add; undefined fails the check and
 * the interpreter reports the type error it would have reported anyway. */
static void run_not_number(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "add");
    value_t *half = handle_new(&e.m, vm_number_from_double(e.vm, 0.5));
    double d;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(add(&e, f, *half, value_from_smi(i), &d), 0);
        assert_true(d == 0.5 + i);
    }
    assert_true(has_code(f));
    assert_int_equal(add(&e, f, vm_undefined(e.rt), value_from_smi(1), &d), -1);
    if (!strstr(e.vm->error, "add@2: Add needs numbers, got undefined and 1"))
        print_error("error: %s\n", e.vm->error);
    assert_non_null(strstr(e.vm->error, "add@2: Add needs numbers, got undefined and 1"));
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_NOT_NUMBER], 1);
    assert_int_equal(e.vm->frame_count, 0);
    env_close(&e);
}
static void test_not_number(void **state) { run_not_number(0); }
static void test_not_number_stress(void **state) { run_not_number(1); }

/* The overflow deopt leaves number feedback behind: the code compiled next uses the double
 * Add, whose operand SMI_MAX a double cannot hold exactly; that lost_precision deopt widens
 * the site's feedback to "any", and the code compiled after it uses the generic Add, which
 * deopts no more. */
static void run_reopt(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "add");
    value_t *big = handle_new(&e.m, value_from_smi(VALUE_SMI_MAX));
    for (int round = 0; round < 4; round++) {
        warm_smi(&e, f, 8);
        double d;
        assert_int_equal(add(&e, f, *big, value_from_smi(1), &d), 0);
        assert_true(d == (double)VALUE_SMI_MAX + 1.0);
    }
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_SMI_OVERFLOW], 1);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_LOST_PRECISION], 1);
    assert_int_equal(stats(&e)->functions_optimized, 3);
    assert_int_equal(function_smi(f, VM_SHARED_DEOPT_COUNT), 2);
    assert_true(has_code(f));
    env_close(&e);
}
static void test_reopt(void **state) { run_reopt(0); }

/* The per-site limit K (JIT_SITE_MAX_DEOPTS): under --deopt-stress 1 every optimized run
 * of add deopts at its Add, and the site's feedback stays smi. The first K compiles
 * speculate there (the Smi Add); the later ones use the generic Add, whatever the
 * feedback says, until the cap M (JIT_MAX_DEOPTS) leaves add interpreted. */
static void run_site_limit(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 1);
    value_t *f = global(&e, "add");
    for (int i = 0; i < 100; i++) {
        double d;
        assert_int_equal(add(&e, f, value_from_smi(i), value_from_smi(1), &d), 0);
        assert_true(d == i + 1);
    }
    assert_int_equal(stats(&e)->functions_optimized, JIT_MAX_DEOPTS);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_STRESS], JIT_MAX_DEOPTS);
    assert_int_equal(stats(&e)->unspeculated_sites, JIT_MAX_DEOPTS - JIT_SITE_MAX_DEOPTS);
    for (int c = 0; c < JIT_MAX_DEOPTS; c++)
        assert_int_equal(e.add_ops[c], c < JIT_SITE_MAX_DEOPTS ? J_ARITH_SMI : J_ARITH);
    struct object *shared = value_to_object(object_get(handle_object(f), VM_FUNCTION_SHARED));
    struct object *feedback = value_to_object(object_get(shared, VM_SHARED_FEEDBACK));
    assert_int_equal(value_to_smi(object_get(feedback, 2)), VM_TYPE_SMI); /* the Add's slot */
    env_close(&e);
}
static void test_site_limit(void **state) { run_site_limit(0); }
static void test_site_limit_stress(void **state) { run_site_limit(1); }
static void test_reopt_stress(void **state) { run_reopt(1); }

/* Calls function name with argc arguments; returns vm_call's status, the result in a
 * handle. */
static int callv(struct env *e, const char *name, value_t **out, size_t argc, ...)
{
    value_t *f = global(e, name);
    va_list ap;
    va_start(ap, argc);
    for (size_t k = 0; k < argc; k++)
        e->args[k] = va_arg(ap, value_t);
    va_end(ap);
    value_t result = VALUE_NULL;
    int rc = vm_call(e->vm, f, e->args, argc, &result);
    *out = handle_new(&e->m, rc == 0 ? result : VALUE_NULL);
    return rc;
}

/* getx optimized on {x} objects (a map guard, monomorphic feedback), then given {y, x}:
 * wrong_map, and the interpreter reads x from the other field. */
static void run_wrong_map(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *p, *q, *r;
    assert_int_equal(callv(&e, "mkp", &p, 1, value_from_smi(5)), 0);
    assert_int_equal(callv(&e, "mkq", &q, 1, value_from_smi(9)), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(callv(&e, "getx", &r, 1, *p), 0);
        assert_int_equal(value_to_smi(*r), 5);
    }
    assert_true(has_code(global(&e, "getx")));
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_WRONG_MAP], 0);
    assert_int_equal(callv(&e, "getx", &r, 1, *q), 0);
    assert_int_equal(value_to_smi(*r), 9);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_WRONG_MAP], 1);
    env_close(&e);
}
static void test_wrong_map(void **state) { run_wrong_map(0); }
static void test_wrong_map_stress(void **state) { run_wrong_map(1); }

/* at(a, i) optimized on in-bounds indices, then past the end: out_of_bounds, and the
 * interpreter reports its error. */
static void run_out_of_bounds(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *a, *r;
    assert_int_equal(callv(&e, "mka", &a, 0), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(callv(&e, "at", &r, 2, *a, value_from_smi(i % 3)), 0);
        assert_int_equal(value_to_smi(*r), 10 * (i % 3 + 1));
    }
    assert_true(has_code(global(&e, "at")));
    assert_int_equal(callv(&e, "at", &r, 2, *a, value_from_smi(3)), -1);
    assert_non_null(strstr(e.vm->error, "index 3 is out of bounds for an array of length 3"));
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_OUT_OF_BOUNDS], 1);
    env_close(&e);
}
static void test_out_of_bounds(void **state) { run_out_of_bounds(0); }
static void test_out_of_bounds_stress(void **state) { run_out_of_bounds(1); }

/* usesq inlines sq; an overflow inside the inlined Mul deopts into two interpreter
 * frames (usesq resuming after its Call, sq at its Mul) and the result is the double. */
static void run_inlined(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *r;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(callv(&e, "usesq", &r, 1, value_from_smi(i)), 0);
        assert_int_equal(value_to_smi(*r), i * i + 3);
    }
    assert_true(has_code(global(&e, "usesq")));
    assert_int_equal(stats(&e)->inlined_call_sites, 1);
    int64_t big = (int64_t)1 << 40;
    assert_int_equal(callv(&e, "usesq", &r, 1, value_from_smi(big)), 0);
    double d;
    assert_true(vm_value_to_number(*r, &d));
    assert_true(d == (double)big * (double)big + 3.0);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_SMI_OVERFLOW], 1);
    assert_int_equal(e.deopt_events, 1);
    assert_int_equal(e.last_deopt.frames, 2);
    assert_int_equal(e.last_deopt.bytecode_offset, 2); /* sq's Mul */
    assert_int_equal(e.last_deopt.function, function_smi(global(&e, "usesq"), VM_SHARED_INDEX));
    env_close(&e);
}
static void test_inlined(void **state) { run_inlined(0); }
static void test_inlined_stress(void **state) { run_inlined(1); }

/* ea's object is never allocated by the optimized code; the Inc overflowing between the
 * two stores deopts with it captured ({x} so far), the deoptimizer materializes it (under
 * --gc-stress 1 with a collection at that allocation) and the interpreter finishes. */
static void run_escape(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *r;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(callv(&e, "ea", &r, 1, value_from_smi(i)), 0);
        assert_int_equal(value_to_smi(*r), 2 * i + 1);
    }
    assert_true(has_code(global(&e, "ea")));
    assert_int_equal(stats(&e)->objects_elided, 1);
    assert_int_equal(callv(&e, "ea", &r, 1, value_from_smi(VALUE_SMI_MAX)), 0);
    double d;
    assert_true(vm_value_to_number(*r, &d));
    assert_true(d == (double)(VALUE_SMI_MAX + 1) + (double)VALUE_SMI_MAX);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_SMI_OVERFLOW], 1);
    assert_int_equal(e.deopt_events, 1);
    assert_int_equal(e.last_deopt.materialized_objects, 1);
    env_close(&e);
}
static void test_escape(void **state) { run_escape(0); }
static void test_escape_stress(void **state) { run_escape(1); }

/* --deopt-stress 3 inside the loop: each deopt resumes mid-loop, the sum is still right. */
static void run_deopt_stress(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 3);
    value_t *f = global(&e, "sum");
    for (int i = 0; i < 40; i++) {
        value_t *arg = handle_new(&e.m, value_from_smi(50)), result;
        assert_int_equal(vm_call(e.vm, f, arg, 1, &result), 0);
        assert_int_equal(value_to_smi(result), 50 * 49 / 2);
    }
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_STRESS], JIT_MAX_DEOPTS);
    assert_int_equal(stats(&e)->not_optimizable[JIT_REJECT_DEOPT_CAP], 1);
    env_close(&e);
}
static void test_deopt_stress(void **state) { run_deopt_stress(0); }
static void test_deopt_stress_gc(void **state) { run_deopt_stress(1); }

/* Constant folding: fold's Mul (6 * 7), its comparison (3 < 4) and its Add (4 + 42)
 * have known operands and become loads, so an optimized call executes no guard at all;
 * sum's loop (run_optimized_loop) starts with known zeros that must not be folded into
 * the loop body, whose header is a jump target. */
static void run_fold(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "fold");
    for (int i = 0; i < 8; i++) {
        value_t *arg = handle_new(&e.m, value_from_smi(i)), result;
        assert_int_equal(vm_call(e.vm, f, arg, 1, &result), 0);
        assert_true(value_is_smi(result));
        assert_int_equal(value_to_smi(result), 46);
    }
    assert_int_equal(stats(&e)->functions_optimized, 1);
    assert_int_equal(stats(&e)->constants_folded, 3);
    uint64_t guards = stats(&e)->guards_executed, calls = stats(&e)->optimized_calls;
    value_t *arg = handle_new(&e.m, value_from_smi(1)), result;
    assert_int_equal(vm_call(e.vm, f, arg, 1, &result), 0);
    assert_int_equal(value_to_smi(result), 46);
    assert_int_equal(stats(&e)->optimized_calls, calls + 1);
    assert_int_equal(stats(&e)->guards_executed, guards);
    value_t *sum = global(&e, "sum");
    for (int i = 0; i < 8; i++) {
        value_t *n = handle_new(&e.m, value_from_smi(10)), r;
        assert_int_equal(vm_call(e.vm, sum, n, 1, &r), 0);
        assert_int_equal(value_to_smi(r), 45);
    }
    env_close(&e);
}
/* Unboxed doubles: halve's Mul and Add compute on doubles in spill slots; x (r0) is boxed
 * once per iteration, at the back-edge, because the loop header reads it, and the
 * temporary r3 never (it is dead there). The results are exact. Under --deopt-stress 6
 * the guard of Inc fails while x is only in its spill slot (and never integral, when x
 * starts at 0.25 + i), and the deoptimizer boxes it. */
static double halve_expected(double x, int n)
{
    for (int k = 0; k < n; k++)
        x = x * 0.5 + 1.5;
    return x;
}

static void run_unboxed(uint64_t gc_stress, uint64_t deopt_stress)
{
    struct env e;
    env_open(&e, gc_stress, deopt_stress);
    value_t *f = global(&e, "halve");
    for (int i = 0; i < 12; i++) {
        e.args[0] = i % 2 ? value_from_smi(i) : vm_number_from_double(e.vm, 0.25 + i);
        e.args[1] = value_from_smi(20 + i);
        value_t result;
        double d;
        assert_int_equal(vm_call(e.vm, f, e.args, 2, &result), 0);
        assert_true(vm_value_to_number(result, &d));
        assert_true(d == halve_expected(i % 2 ? i : 0.25 + i, 20 + i));
    }
    assert_true(stats(&e)->functions_optimized >= 1);
    if (deopt_stress == 0) {
        assert_int_equal(stats(&e)->functions_optimized, 1);
        assert_int_equal(stats(&e)->double_ops, 2);
        assert_int_equal(stats(&e)->boxes, 1);
        assert_true(has_code(f));
    } else {
        assert_true(e.deopt_events > 0);
        assert_true(e.most_boxed >= 1);
    }
    env_close(&e);
}
static void test_unboxed(void **state) { run_unboxed(0, 0); }
static void test_unboxed_stress(void **state) { run_unboxed(1, 0); }
static void test_unboxed_deopts(void **state) { run_unboxed(1, 6); }

/* Soft deopts: softp's property load never ran before it was compiled, so it became a
 * soft deopt point instead of refusing the function; taking that branch deopts (kind
 * soft, reason insufficient_feedback) without counting against re-optimization, and the
 * code compiled next, with the feedback the interpreter collected, loads the field. */
static void run_soft(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "softp"), *mkp = global(&e, "mkp");
    e.args[0] = value_from_smi(5);
    value_t obj;
    assert_int_equal(vm_call(e.vm, mkp, e.args, 1, &obj), 0);
    value_t *o = handle_new(&e.m, obj), result;
    for (int i = 0; i < 8; i++) {
        e.args[0] = *o;
        e.args[1] = e.rt->oddballs[VM_FALSE];
        assert_int_equal(vm_call(e.vm, f, e.args, 2, &result), 0);
        assert_true(result == value_from_smi(1));
    }
    assert_int_equal(stats(&e)->functions_optimized, 1);
    assert_true(has_code(f));
    e.args[0] = *o;
    e.args[1] = e.rt->oddballs[VM_TRUE];
    assert_int_equal(vm_call(e.vm, f, e.args, 2, &result), 0);
    assert_true(result == value_from_smi(5));
    assert_int_equal(stats(&e)->soft_deopts, 1);
    assert_int_equal(stats(&e)->deopts[DEOPT_REASON_INSUFFICIENT_FEEDBACK], 1);
    assert_string_equal(e.last_kind, "soft");
    assert_int_equal(function_smi(f, VM_SHARED_DEOPT_COUNT), 0); /* not counted */
    assert_int_equal(function_smi(f, VM_SHARED_LAST_DEOPT_REASON),
                     DEOPT_REASON_INSUFFICIENT_FEEDBACK);
    for (int i = 0; i < 8; i++) {
        e.args[0] = *o;
        e.args[1] = e.rt->oddballs[VM_TRUE];
        assert_int_equal(vm_call(e.vm, f, e.args, 2, &result), 0);
        assert_true(result == value_from_smi(5));
    }
    assert_int_equal(stats(&e)->functions_optimized, 2);
    assert_int_equal(stats(&e)->soft_deopts, 1);
    env_close(&e);
}
static void test_soft(void **state) { run_soft(0); }
static void test_soft_stress(void **state) { run_soft(1); }

/* A polymorphic load: getx sees {x} and {y, x} (two maps) before it is compiled, so its
 * load is a generic lookup by name, not refused and not speculating: both kinds of
 * object, and a third map, give their x without a deopt. */
static void run_polymorphic(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress, 0);
    value_t *f = global(&e, "getx"), *mkp = global(&e, "mkp"), *mkq = global(&e, "mkq");
    value_t obj, result;
    e.args[0] = value_from_smi(3);
    assert_int_equal(vm_call(e.vm, mkp, e.args, 1, &obj), 0);
    value_t *p = handle_new(&e.m, obj);
    e.args[0] = value_from_smi(4);
    assert_int_equal(vm_call(e.vm, mkq, e.args, 1, &obj), 0);
    value_t *q = handle_new(&e.m, obj);
    for (int i = 0; i < 12; i++) {
        e.args[0] = i % 2 ? *p : *q;
        assert_int_equal(vm_call(e.vm, f, e.args, 1, &result), 0);
        assert_true(result == value_from_smi(i % 2 ? 3 : 4));
    }
    assert_int_equal(stats(&e)->functions_optimized, 1);
    assert_true(has_code(f));
    e.args[0] = value_from_smi(9);
    assert_int_equal(vm_call(e.vm, global(&e, "ea"), e.args, 1, &result), 0); /* another map */
    e.args[0] = *p;
    assert_int_equal(vm_call(e.vm, f, e.args, 1, &result), 0);
    assert_true(result == value_from_smi(3));
    assert_int_equal(e.deopt_events, 0);
    env_close(&e);
}
static void test_polymorphic(void **state) { run_polymorphic(0); }
static void test_polymorphic_stress(void **state) { run_polymorphic(1); }

static void test_fold(void **state) { run_fold(0); }
static void test_fold_stress(void **state) { run_fold(1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimized_loop),
        cmocka_unit_test(test_optimized_loop_stress),
        cmocka_unit_test(test_not_smi),
        cmocka_unit_test(test_not_smi_stress),
        cmocka_unit_test(test_smi_overflow),
        cmocka_unit_test(test_smi_overflow_stress),
        cmocka_unit_test(test_not_number),
        cmocka_unit_test(test_not_number_stress),
        cmocka_unit_test(test_reopt),
        cmocka_unit_test(test_reopt_stress),
        cmocka_unit_test(test_site_limit),
        cmocka_unit_test(test_site_limit_stress),
        cmocka_unit_test(test_deopt_stress),
        cmocka_unit_test(test_deopt_stress_gc),
        cmocka_unit_test(test_wrong_map),
        cmocka_unit_test(test_wrong_map_stress),
        cmocka_unit_test(test_inlined),
        cmocka_unit_test(test_inlined_stress),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_stress),
        cmocka_unit_test(test_out_of_bounds),
        cmocka_unit_test(test_out_of_bounds_stress),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_fold_stress),
        cmocka_unit_test(test_unboxed),
        cmocka_unit_test(test_unboxed_stress),
        cmocka_unit_test(test_unboxed_deopts),
        cmocka_unit_test(test_soft),
        cmocka_unit_test(test_soft_stress),
        cmocka_unit_test(test_polymorphic),
        cmocka_unit_test(test_polymorphic_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
