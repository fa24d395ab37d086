/*
 * Tests of lib/codecache with lib/jit: closures of one function share one optimized code
 * object (the second closure takes it from the shared info); a deopt moves it from the
 * optimized to the deoptimized list; under code_unlinking=eager every closure linked to
 * it is reset at once, under lazy each at its next call; the code stays alive (on the
 * deoptimized list) while a closure or an optimized frame still holds it, and the next
 * old-generation collection unlinks it (and the sweeper frees it) once nothing does,
 * which the cycle record counts. OSR: a hot loop's frame tiers up into OSR code kept in
 * the OSR cache, which a running frame keeps alive, a deopt evicts, a nested interpreted
 * frame finds again, and a collection clears once nothing runs it. Every test also runs
 * under --gc-stress 1 with the verifier. With code_lists=none the lists stay empty and
 * only the counts move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codecache/codecache.h"
#include "gc/gc.h"
#include "jit/jit.h"
#include "vm/vm.h"
#include "waltz_config.h"

static const char program[] =
    "function inc params 1 registers 1\n  LdaSmi 1\n  Add r0\n  Return\nend\n"
    "function mk\n  CreateClosure inc\n  Return\nend\n"
    "function gc registers 1\n  CallIntrinsic full_gc, r0, 0\n  Return\nend\n"
    /* rec(n, x): n == 0: x + 1, then gc(); else rec(n - 1, x) + 1 */
    "function rec params 2 registers 4\n"
    "  LdaSmi 0\n  TestEqual r0\n  JumpIfFalse more\n"
    "  LdaSmi 1\n  Add r1\n  Star r3\n  LdaGlobal gc\n  Star r2\n  Call r2, r0, 0\n"
    "  Ldar r3\n  Return\n"
    "more:\n  LdaGlobal rec\n  Star r2\n  Ldar r0\n  Dec\n  Star r0\n  Call r2, r0, 2\n"
    "  Star r3\n  LdaSmi 1\n  Add r3\n  Return\nend\n"
    /* osr(n, g, t): for i < n: s += (i == t ? 0.5 : 1), and gc() when i == g */
    "function osr params 3 registers 7\n"
    "  LdaSmi 0\n  Star r3\n  LdaSmi 0\n  Star r4\n"
    "head:\n  Ldar r0\n  TestLessThan r4\n  JumpIfFalse done\n"
    "  Ldar r1\n  TestEqual r4\n  JumpIfFalse nogc\n"
    "  LdaGlobal gc\n  Star r6\n  Call r6, r0, 0\n"
    "nogc:\n  LdaSmi 1\n  Star r5\n  Ldar r2\n  TestEqual r4\n  JumpIfFalse add\n"
    "  LdaConstant 0.5\n  Star r5\n"
    "add:\n  Ldar r5\n  Add r3\n  Star r3\n  Ldar r4\n  Inc\n  Star r4\n  JumpLoop head\n"
    "done:\n  Ldar r3\n  Return\nend\n"
    /* nest(n, d): for i < n: s += 1, and at i == 1, if d != 0: s += nest(n, 0) */
    "function nest params 2 registers 6\n"
    "  LdaSmi 0\n  Star r2\n  LdaSmi 0\n  Star r3\n"
    "head:\n  Ldar r0\n  TestLessThan r3\n  JumpIfFalse done\n"
    "  LdaSmi 1\n  TestEqual r3\n  JumpIfFalse body\n  LdaSmi 0\n  TestEqual r1\n"
    "  JumpIfTrue body\n  Ldar r0\n  Star r4\n  LdaSmi 0\n  Star r5\n"
    "  LdaGlobal nest\n  Star r1\n  Call r1, r4, 2\n  Add r2\n  Star r2\n"
    "body:\n  LdaSmi 1\n  Add r2\n  Star r2\n  Ldar r3\n  Inc\n  Star r3\n  JumpLoop head\n"
    "done:\n  Ldar r2\n  Return\nend\n"
    "function main\n  LdaSmi 0\n  Return\nend\n";

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    struct vm_runtime *rt;
    struct vm_module *module;
    struct vm *vm;
    struct jit *jit;
    value_t args[4];
    struct handle_scope scope;
};

static void visit_args(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
{
    struct env *e = ctx;
    for (int i = 0; i < 4; i++)
        visit(&e->args[i], visit_ctx);
}

static void env_open(struct env *e, uint64_t gc_stress)
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
    e->module = vm_assemble("cc.vm", program, strlen(program), error, sizeof error);
    if (!e->module)
        print_error("%s\n", error);
    assert_non_null(e->module);
    e->vm = vm_create(e->rt, &e->m, e->module, error, sizeof error);
    assert_non_null(e->vm);
    vm_tierup_invocations = 5;
    vm_tierup_backedges = 10;
    struct jit_options o = {.optimize = true,
                            .inline_calls = true,
                            .escape_analysis = true,
                            .unbox_doubles = true,
                            .osr = true};
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
    vm_tierup_backedges = VM_TIERUP_BACKEDGES;
}

static const struct codecache_stats *cstats(struct env *e)
{
    return codecache_stats(jit_codecache(e->jit));
}

static value_t *call(struct env *e, value_t *f, size_t argc)
{
    value_t result = VALUE_NULL;
    int rc = vm_call(e->vm, f, e->args, argc, &result);
    if (rc != 0)
        print_error("%s\n", e->vm->error);
    assert_int_equal(rc, 0);
    return handle_new(&e->m, result);
}

static value_t *global(struct env *e, const char *name)
{
    value_t v;
    assert_true(vm_get_global(e->vm, name, &v));
    return handle_new(&e->m, v);
}

static value_t code_of(value_t *f) { return object_get(handle_object(f), VM_FUNCTION_CODE); }
static bool is_code_value(value_t v)
{
    return value_is_strong(v) && object_type(value_to_object(v)) == TYPE_CODE;
}

static double inc(struct env *e, value_t *f, value_t arg)
{
    e->args[0] = arg;
    double d;
    assert_true(vm_value_to_number(*call(e, f, 1), &d));
    return d;
}

/* Two closures of inc: one optimizes, the other takes its code; a deopt through the first
 * moves the code to the deoptimized list and resets the second now (eager) or at its next
 * call (lazy); the code lives while the second holds it and is unlinked by the first
 * old-generation collection after that. */
static void run_shared_code(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *mk = global(&e, "mk");
    value_t *a = call(&e, mk, 0), *b = call(&e, mk, 0);
    for (int i = 0; i < 8; i++)
        assert_true(inc(&e, a, value_from_smi(i)) == i + 1);
    assert_true(is_code_value(code_of(a)));
    assert_int_equal(cstats(&e)->optimized_total, 1);
    assert_int_equal(cstats(&e)->optimized, CODECACHE_LISTS ? 1 : 0);
    assert_true(inc(&e, b, value_from_smi(41)) == 42);
    assert_true(code_of(b) == code_of(a)); /* shared, not compiled again */
    assert_int_equal(jit_stats(e.jit)->shared_code_links, 1);
    assert_int_equal(cstats(&e)->optimized_total, 1);

    value_t *half = handle_new(&e.m, vm_number_from_double(e.vm, 0.5));
    assert_true(inc(&e, a, *half) == 1.5); /* not_smi: a deopt through a */
    assert_int_equal(cstats(&e)->deopts, 1);
    assert_int_equal(cstats(&e)->optimized, 0);
    assert_int_equal(cstats(&e)->deoptimized, CODECACHE_LISTS ? 1 : 0);
    assert_false(is_code_value(code_of(a)));
    if (CODECACHE_EAGER) {
        assert_false(is_code_value(code_of(b)));
        assert_int_equal(jit_stats(e.jit)->eager_unlinks, 1);
    } else {
        assert_true(is_code_value(code_of(b))); /* still linked to the marked code */
        /* Held by b: the collection keeps it (on the deoptimized list). */
        gc_collect(e.heap, &e.m, COLLECT_FULL);
        assert_int_equal(cstats(&e)->unlinked_by_gc, 0);
        assert_int_equal(cstats(&e)->deoptimized, CODECACHE_LISTS ? 1 : 0);
        assert_true(inc(&e, b, value_from_smi(1)) == 2); /* the entry check resets b */
        assert_false(is_code_value(code_of(b)));
        assert_int_equal(jit_stats(e.jit)->lazy_unlinks, 1);
    }
    /* Nothing holds it now. */
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(cstats(&e)->deoptimized, 0);
    assert_int_equal(cstats(&e)->unlinked_by_gc, CODECACHE_LISTS ? 1 : 0);
    /* Both closures still work, and optimize again with the new feedback. */
    for (int i = 0; i < 8; i++) {
        assert_true(inc(&e, a, *half) == 1.5);
        assert_true(inc(&e, b, value_from_smi(i)) == i + 1);
    }
    env_close(&e);
}
static void test_shared_code(void **state) { run_shared_code(0); }
static void test_shared_code_stress(void **state) { run_shared_code(1); }

/* An optimized activation keeps its code alive: rec(2, 0.5) deopts in its innermost
 * activation (x + 1 on a double), whose interpreter frame then calls gc (interpreted: the
 * compiler refuses full_gc), an old-generation collection, while the two outer
 * activations still run the marked code. The code stays
 * on the deoptimized list through it; after the call returns, the next collection
 * unlinks it. */
static void run_frame_holds_code(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    value_t *rec = global(&e, "rec");
    for (int i = 0; i < 8; i++) {
        e.args[0] = value_from_smi(2);
        e.args[1] = value_from_smi(i);
        double d;
        assert_true(vm_value_to_number(*call(&e, rec, 2), &d) && d == i + 3);
    }
    assert_true(is_code_value(code_of(rec)));
    uint64_t unlinked = cstats(&e)->unlinked_by_gc;
    e.args[0] = value_from_smi(2);
    e.args[1] = vm_number_from_double(e.vm, 0.5);
    double d;
    assert_true(vm_value_to_number(*call(&e, rec, 2), &d) && d == 3.5);
    assert_true(cstats(&e)->deopts >= 1);
    assert_int_equal(cstats(&e)->unlinked_by_gc, unlinked); /* the frames held it */
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(cstats(&e)->deoptimized, 0);
    assert_int_equal(cstats(&e)->unlinked_by_gc, unlinked + (CODECACHE_LISTS ? 1 : 0));
    env_close(&e);
}
static void test_frame_holds_code(void **state) { run_frame_holds_code(0); }
static void test_frame_holds_code_stress(void **state) { run_frame_holds_code(1); }

static double osr(struct env *e, int64_t n, int64_t g, int64_t t)
{
    value_t *f = global(e, "osr");
    e->args[0] = value_from_smi(n);
    e->args[1] = value_from_smi(g);
    e->args[2] = value_from_smi(t);
    double d;
    assert_true(vm_value_to_number(*call(e, f, 3), &d));
    return d;
}

/* OSR: osr(100, 50, -1) tiers up at its 10th back-edge into OSR code, which goes into the
 * OSR cache; at i = 50 it calls gc (interpreted: the compiler refuses full_gc), an
 * old-generation collection that keeps the entry, since the activation holds the code.
 * Once the call has returned, the next collection clears it. */
static void run_osr_cache(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    assert_true(osr(&e, 100, 50, -1) == 100);
    const struct jit_stats *js = jit_stats(e.jit);
    assert_int_equal(js->osr_compiles, 1);
    assert_int_equal(js->osr_entries, 1);
    assert_int_equal(js->functions_optimized, 0); /* OSR code is no closure's code */
    assert_int_equal(cstats(&e)->osr_entries, 1);
    assert_int_equal(cstats(&e)->osr_cleared_by_gc, 0); /* its frame held it through gc() */
    assert_int_equal(cstats(&e)->optimized, CODECACHE_LISTS ? 1 : 0);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(cstats(&e)->osr_entries, 0);
    assert_int_equal(cstats(&e)->osr_cleared_by_gc, 1);
    assert_int_equal(cstats(&e)->optimized, 0);
    env_close(&e);
}
static void test_osr_cache(void **state) { run_osr_cache(0); }
static void test_osr_cache_stress(void **state) { run_osr_cache(1); }

/* A deopt out of OSR code evicts its entry: osr(100, -1, 50) tiers up at its 10th
 * back-edge, meets 0.5 at i = 50 (not_smi), finishes in the interpreter until 10 more
 * back-edges tier it up again, into newly compiled OSR code. */
static void run_osr_deopt(uint64_t gc_stress)
{
    struct env e;
    env_open(&e, gc_stress);
    assert_true(osr(&e, 100, -1, 50) == 99.5);
    const struct jit_stats *js = jit_stats(e.jit);
    assert_int_equal(js->deopts[DEOPT_REASON_NOT_SMI], 1);
    assert_int_equal(js->osr_compiles, 2);
    assert_int_equal(js->osr_entries, 2);
    assert_int_equal(cstats(&e)->osr_evicted, 1);
    assert_int_equal(cstats(&e)->osr_entries, 1);
    assert_int_equal(cstats(&e)->deoptimized, CODECACHE_LISTS ? 1 : 0);
    env_close(&e);
}
static void test_osr_deopt(void **state) { run_osr_deopt(0); }
static void test_osr_deopt_stress(void **state) { run_osr_deopt(1); }

/* A cache hit: nest(100, 1) calls nest(100, 0) at i = 1, whose loop tiers up into OSR
 * code; back in the outer frame (interpreted), the next back-edge finds that code. */
static void test_osr_hit(void **state)
{
    struct env e;
    env_open(&e, 0);
    value_t *f = global(&e, "nest");
    e.args[0] = value_from_smi(100);
    e.args[1] = value_from_smi(1);
    assert_true(value_to_smi(*call(&e, f, 2)) == 200);
    const struct jit_stats *js = jit_stats(e.jit);
    assert_int_equal(js->osr_compiles, 1);
    assert_int_equal(js->osr_cache_hits, 1);
    assert_int_equal(js->osr_entries, 2);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_code),      cmocka_unit_test(test_shared_code_stress),
        cmocka_unit_test(test_frame_holds_code), cmocka_unit_test(test_frame_holds_code_stress),
        cmocka_unit_test(test_osr_cache),        cmocka_unit_test(test_osr_cache_stress),
        cmocka_unit_test(test_osr_deopt),        cmocka_unit_test(test_osr_deopt_stress),
        cmocka_unit_test(test_osr_hit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
