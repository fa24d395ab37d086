/*
 * deopt_latency: the latency of one eager deopt (lib/deopt, deopt_eager) with and without
 * a scavenge pending when it starts, measured side by side in one process (bench/jit/run
 * takes the percentiles). The deopt is the seed articles' case: a failed guard in
 * optimized code whose activation holds a non-escaping object (a captured {f} with an
 * unboxed double field) and a young value; it materializes both in the young generation,
 * writes one interpreter frame and runs it to its return.
 *
 *   none     the deopt starts with no collection requested: its entry poll passes.
 *   pending  another mutator has requested a scavenge and waits for this thread: the
 *            entry poll joins the safepoint, the scavenge runs (the young live data below
 *            is copied), and only then is the frame translated.
 * The two alternate, so both see the same machine state. Each sample is duration_us of
 * deopt_stats (entry to the frames written), and waited_for_gc_us (the entry poll).
 *
 * Usage: deopt_latency [SAMPLES [LIVE_KIB]]  (default 2000 samples of each, 1024 KiB of
 * young live data). Output: CSV "mode,sample,duration_us,waited_for_gc_us" on stdout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/barrier.h"
#include "deopt/deoptimizer.h"
#include "gc/gc.h"
#include "vm/vm.h"

static const char program[] = "function mk1 registers 1\n"
                              "  CreateObject 1\n  Star r0\n  LdaSmi 0\n"
                              "  StaNamedProperty r0, f\n  Ldar r0\n  Return\nend\n"
                              "function addf params 2 registers 3\n" /* r0.f + r1 */
                              "  LdaSmi 1\n  Star r2\n  LdaNamedProperty r0, f\n  Add r1\n"
                              "  Return\nend\n"
                              "function main\n  LdaSmi 0\n  Return\nend\n";

struct bench {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    uint64_t registers[4], slots[8];
    atomic_int phase; /* collector: 0 idle, 1 go, 2 requested-and-done; 3 quit */
};

static void visit_state(struct heap *heap, root_visit_fn visit, void *visit_ctx, void *ctx)
{
    struct bench *b = ctx;
    visit((value_t *)&b->registers[2], visit_ctx);
}

static void *collector(void *arg)
{
    struct bench *b = arg;
    struct mutator m;
    gc_mutator_attach(b->gc, &m, "collector");
    for (;;) {
        int p;
        while ((p = atomic_load(&b->phase)) == 0 || p == 2)
            mutator_poll(&m);
        if (p == 3)
            break;
        gc_collect(b->heap, &m, COLLECT_SCAVENGE);
        atomic_store(&b->phase, 2);
    }
    gc_mutator_detach(&m);
    return NULL;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int main(int argc, char **argv)
{
    long samples = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    long live_kib = argc > 2 ? strtol(argv[2], NULL, 10) : 1024;
    if (samples < 1 || samples > 10000000 || live_kib < 0 || live_kib > 1 << 20) {
        fprintf(stderr, "deopt_latency: error: usage: deopt_latency [SAMPLES [LIVE_KIB]]\n");
        return 2;
    }
    static struct bench b;
    struct heap_config config = {.young_size_bytes = (size_t)16 << 20,
                                 .heap_size_bytes = (size_t)1 << 30};
    b.heap = heap_create(&config, NULL);
    b.gc = gc_create(b.heap, NULL);
    gc_mutator_attach(b.gc, &b.m, "deopt");
    struct vm_runtime *rt = vm_runtime_create(b.heap, &b.m);
    char error[512];
    struct vm_module *module =
        vm_assemble("deopt_latency", program, strlen(program), error, sizeof error);
    struct vm *vm = module ? vm_create(rt, &b.m, module, error, sizeof error) : NULL;
    if (!vm) {
        fprintf(stderr, "deopt_latency: error: %s\n", error);
        return 1;
    }
    heap_add_root_provider(b.heap, visit_state, &b);
    struct handle_scope scope;
    handle_scope_open(&b.m, &scope);

    /* Young live data for the pending scavenge to copy: a list of 4 KiB arrays, built
     * afresh before every sample (a scavenge promotes what it copies twice). */
    value_t *live = handle_new(&b.m, VALUE_NULL);

    value_t addf_v, mk1_v, obj;
    vm_get_global(vm, "addf", &addf_v);
    value_t *addf = handle_new(&b.m, addf_v);
    vm_get_global(vm, "mk1", &mk1_v);
    value_t *mk1 = handle_new(&b.m, mk1_v);
    if (vm_call(vm, mk1, NULL, 0, &obj) != 0) {
        fprintf(stderr, "deopt_latency: error: %s\n", vm->error);
        return 1;
    }
    struct translation_builder *tb = translation_builder_create(&b.m);
    uint32_t fn = translation_builder_literal(tb, *addf);
    uint32_t ctx =
        translation_builder_literal(tb, object_get(handle_object(addf), VM_FUNCTION_CONTEXT));
    uint32_t map =
        translation_builder_literal(tb, value_from_object(object_map(value_to_object(obj))));
    uint32_t undef = translation_builder_literal(tb, vm_undefined(rt));
    translation_begin_point(tb);
    uint32_t pc = 0;
    for (int i = 0; i < 2; i++) /* the third instruction: the load of r0.f */
        pc += vm_opcode_info((enum vm_opcode)module->functions[1].code[pc])->size_bytes;
    translation_begin_frame(tb, fn, pc, 3);
    translation_add(tb, deopt_loc(DEOPT_LOC_LITERAL, ctx));
    translation_add(tb, deopt_loc(DEOPT_LOC_LITERAL, undef));
    translation_add(tb, deopt_loc_captured(map, 2));
    translation_add(tb, deopt_loc_smi(0));
    translation_add(tb, deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, 5));
    translation_add(tb, deopt_loc(DEOPT_LOC_REGISTER, 2));
    translation_add(tb, deopt_loc_smi(1));
    value_t *bytes = handle_new(&b.m, VALUE_NULL), *pool = handle_new(&b.m, VALUE_NULL);
    translation_builder_finish(tb, bytes, pool);
    translation_builder_destroy(tb);

    pthread_t t;
    pthread_create(&t, NULL, collector, &b);
    printf("mode,sample,duration_us,waited_for_gc_us\n");
    size_t arrays = (size_t)live_kib / 4;
    for (long s = 0; s < samples; s++) {
        for (int pending = 0; pending < 2; pending++) {
            /* Fresh young live data (the previous list was promoted or is garbage). */
            *live = VALUE_NULL;
            for (size_t i = 0; i < arrays; i++) {
                struct object *a = heap_new_fixed_array(&b.m, 511);
                object_store(&b.m, a, 2, *live); /* element 0: the next array */
                *live = value_from_object(a);
            }
            b.registers[2] = value_from_smi(41);
            b.slots[5] = bits_of(2.5);
            if (pending) {
                atomic_store(&b.phase, 1);
                while (!(atomic_load(&b.m.safepoint.state) & SAFEPOINT_REQUESTED))
                    ; /* no poll: the request waits for this thread */
            }
            struct deopt_machine_state state = {.registers = b.registers,
                                                .register_count = 4,
                                                .stack_slots = b.slots,
                                                .stack_slot_count = 8};
            struct deopt_stats st;
            value_t result;
            if (deopt_eager(vm, bytes, pool, 0, DEOPT_REASON_WRONG_MAP, &state, &st, &result)) {
                fprintf(stderr, "deopt_latency: error: %s\n", vm->error);
                return 1;
            }
            if (pending) {
                while (atomic_load(&b.phase) != 2)
                    mutator_poll(&b.m);
                atomic_store(&b.phase, 0);
            }
            printf("%s,%ld,%.3f,%.3f\n", pending ? "pending" : "none", s, st.duration_us,
                   st.waited_for_gc_us);
        }
    }
    atomic_store(&b.phase, 3);
    pthread_join(t, NULL);
    handle_scope_close(&b.m, &scope);
    heap_remove_root_provider(b.heap, visit_state, &b);
    vm_destroy(vm);
    vm_module_destroy(module);
    vm_runtime_destroy(rt);
    gc_mutator_detach(&b.m);
    gc_destroy(b.gc);
    heap_destroy(b.heap);
    return 0;
}
