/*
 * jit: runs a program of the toy VM (lib/vm; the assembly format is in docs/vm.md) on
 * every mutator thread. Each mutator loads the program into a VM of its own over the
 * shared heap and calls its main function --repeat times; every result must equal the
 * program's .expect value when it has one. checksum = the sum over mutators and
 * repetitions of the result (a double counts as its floor). With --opt on (the
 * default) each VM has the optimizing tier of lib/jit attached: hot functions are
 * compiled and run by its executor, and deopt back into the interpreter on a failed
 * guard (--deopt-stress N fails every N-th guard on purpose).
 */
#include "workload.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <math.h>
#include <string.h>

#include "platform/platform.h"
#include "jit/jit.h"
#include "jit_runner.h"
#include "vm/vm.h"
#include "waltz_config.h"

struct jit {
    struct workload_run *run;
    struct vm_module *module;
    struct vm_runtime *rt;
    int64_t repeat;
    int64_t *sums; /* per mutator */
    char (*errors)[640];
    char first_result[96];
    struct vm_stats *stats;
    struct jit_stats *jit_stats;
    struct jit_options jit_options;
    struct telemetry *telemetry;
};

/* One mutator's view, the context of its JIT's events: the deopt last recorded per
 * function (deopts.csv reoptimized_after_us is filled when that function is optimized
 * again). */
struct jit_mutator {
    struct jit *j;
    uint32_t index;
    uint64_t *last_deopt; /* per module function; NO_DEOPT if none is pending */
};
#define NO_DEOPT UINT64_MAX

static void on_deopt(void *ctx, struct vm *vm, const struct deopt_stats *s, const char *kind,
                     const char *code_unlinking)
{
    struct jit_mutator *jm = ctx;
    const struct vm_module *module = vm->module;
    struct telemetry_deopt d = {
        .thread = jm->index,
        .function =
            s->function < module->function_count ? module->functions[s->function].name : "?",
        .bytecode_offset = s->bytecode_offset,
        .kind = kind,
        .reason = deopt_reason_name(s->reason),
        .frames = s->frames,
        .materialized_objects = s->materialized_objects,
        .materialized_bytes = s->materialized_bytes,
        .barrier_records = s->barrier_records,
        .start_ns = s->start_ns,
        .duration_us = s->duration_us,
        .waited_for_gc_us = s->waited_for_gc_us,
        .code_unlinking = code_unlinking,
    };
    uint64_t id = telemetry_record_deopt(jm->j->telemetry, &d);
    /* The code cache's step, right after the deopt's entry poll (lib/jit). */
    if (jm->j->telemetry && s->after_poll_ns)
        telemetry_trace_span(jm->j->telemetry, platform_thread_id(),
                             strcmp(WALTZ_OPT_CODE_LISTS, "none") == 0
                                 ? "code marked for deoptimization (no code lists)"
                                 : "code to the deoptimized list",
                             "codecache", s->after_poll_ns, 1000);
    if (s->function < module->function_count)
        jm->last_deopt[s->function] = id;
}

static void on_optimized(void *ctx, struct vm *vm, uint32_t function, uint64_t now_ns)
{
    struct jit_mutator *jm = ctx;
    if (function >= vm->module->function_count || jm->last_deopt[function] == NO_DEOPT)
        return;
    telemetry_deopt_reoptimized(jm->j->telemetry, jm->last_deopt[function], now_ns);
    jm->last_deopt[function] = NO_DEOPT;
}

static const struct jit_events events = {.deopt = on_deopt, .optimized = on_optimized};

static int checksum_of(struct vm *vm, value_t v, int64_t *out)
{
    double d;
    if (value_is_smi(v)) {
        *out = value_to_smi(v);
        return 0;
    }
    if (!vm_value_to_number(v, &d) || !(d > -9.2e18 && d < 9.2e18))
        return -1;
    *out = (int64_t)floor(d);
    return 0;
}

static void expect_text(const struct vm_number *n, char *buf, size_t size)
{
    if (n->is_double)
        snprintf(buf, size, "%.17g", n->double_value);
    else
        snprintf(buf, size, "%" PRId64, n->int_value);
}

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct jit *j = ctx;
    char *error = j->errors[index];
    struct vm *vm = vm_create(j->rt, m, j->module, error, sizeof j->errors[index]);
    if (!vm)
        return;
    struct jit_mutator jm = {.j = j, .index = index};
    jm.last_deopt = platform_calloc(j->module->function_count + 1, sizeof *jm.last_deopt);
    for (size_t f = 0; f < j->module->function_count; f++)
        jm.last_deopt[f] = NO_DEOPT;
    struct jit_options options = j->jit_options;
    options.events = &events;
    options.events_ctx = &jm;
    struct jit *jit = jit_attach(vm, &options);
    /* A program that reads the global `mutator` learns which mutator runs it (0, 1, ...). */
    vm_set_global(vm, "mutator", value_from_smi(index));
    int64_t sum = 0;
    for (int64_t r = 0; r < j->repeat; r++) {
        value_t result;
        if (vm_run_main(vm, &result) != 0) {
            snprintf(error, sizeof j->errors[index], "mutator %u: run-time error: %s", index,
                     vm->error);
            break;
        }
        char text[96];
        vm_value_format(vm, result, text, sizeof text);
        if (index == 0 && r == 0)
            snprintf(j->first_result, sizeof j->first_result, "%s", text);
        if (j->module->has_expect && !vm_value_equals_number(result, j->module->expect)) {
            char want[64];
            expect_text(&j->module->expect, want, sizeof want);
            snprintf(error, sizeof j->errors[index],
                     "mutator %u: main returned %s, the program expects %s", index, text, want);
            break;
        }
        int64_t c;
        if (checksum_of(vm, result, &c) != 0) {
            snprintf(error, sizeof j->errors[index],
                     "mutator %u: main returned %s, which is not a number in the int64 range",
                     index, text);
            break;
        }
        sum += c;
    }
    j->sums[index] = sum;
    j->stats[index] = vm->stats;
    j->jit_stats[index] = *jit_stats(jit);
    jit_detach(jit);
    vm_destroy(vm);
    platform_free(jm.last_deopt);
}

static int check_input(const char *input, char *error, size_t error_size)
{
    struct vm_module *module = vm_assemble_file(input, error, error_size);
    if (!module)
        return -1;
    vm_module_destroy(module);
    return 0;
}

int jit_runner_run(struct workload_run *run, struct vm_module *module, int64_t repeat)
{
    struct jit j = {.run = run, .repeat = repeat, .module = module};
    j.telemetry = run->gc->telemetry;
    j.jit_options.optimize = workload_param(run, "opt") != 0;
    j.jit_options.inline_calls = true;
    j.jit_options.escape_analysis = true;
    j.jit_options.unbox_doubles = workload_param(run, "unbox-doubles") != 0;
    j.jit_options.osr = workload_param(run, "osr") != 0;
    j.jit_options.deopt_stress = (uint64_t)workload_param(run, "deopt-stress");
    vm_tierup_invocations = workload_param(run, "tierup-calls");
    vm_tierup_backedges = workload_param(run, "tierup-loops");
    /* The runtime's oddballs are allocated through a mutator of this thread. */
    struct mutator setup;
    gc_mutator_attach(run->gc, &setup, "vm-setup");
    j.rt = vm_runtime_create(run->heap, &setup);
    gc_mutator_detach(&setup);

    uint32_t n = run->mutators ? run->mutators : 1;
    j.sums = platform_calloc(n, sizeof *j.sums);
    j.errors = platform_calloc(n, sizeof *j.errors);
    j.stats = platform_calloc(n, sizeof *j.stats);
    j.jit_stats = platform_calloc(n, sizeof *j.jit_stats);
    workload_run_mutators(run, mutator, &j);

    int rc = 0;
    uint64_t checksum = 0;
    struct vm_stats total = {0};
    struct jit_stats jt = {0};
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (j.errors[i][0]) {
            snprintf(run->error, sizeof run->error, "%s", j.errors[i]);
            rc = 1;
        }
        checksum += (uint64_t)j.sums[i];
        total.calls += j.stats[i].calls;
        total.backedges += j.stats[i].backedges;
        total.tierup_requests += j.stats[i].tierup_requests;
        total.reloads_after_gc += j.stats[i].reloads_after_gc;
        jit_stats_add(&jt, &j.jit_stats[i]);
    }
    if (rc == 0 && run->out) {
        fprintf(run->out, "main returned %s (%" PRId64 " time%s on each of %u mutator%s)\n",
                j.first_result, j.repeat, j.repeat == 1 ? "" : "s", n, n == 1 ? "" : "s");
        fprintf(run->out,
                "calls %" PRIu64 ", loop back-edges %" PRIu64 ", tier-up requests %" PRIu64
                ", frames reloaded after a GC %" PRIu64 "\n",
                total.calls, total.backedges, total.tierup_requests, total.reloads_after_gc);
        uint64_t deopts = 0;
        char reasons[256] = "";
        for (int r = 1; r < DEOPT_REASON_COUNT; r++) {
            deopts += jt.deopts[r];
            if (jt.deopts[r])
                snprintf(reasons + strlen(reasons), sizeof reasons - strlen(reasons),
                         " %s %" PRIu64, deopt_reason_name((enum deopt_reason)r), jt.deopts[r]);
        }
        uint64_t rejected = 0;
        char why[192] = "";
        for (int r = 0; r < JIT_REJECT_COUNT; r++) {
            rejected += jt.not_optimizable[r];
            if (jt.not_optimizable[r])
                snprintf(why + strlen(why), sizeof why - strlen(why), " %s %" PRIu64,
                         jit_reject_name((enum jit_reject)r), jt.not_optimizable[r]);
        }
        fprintf(run->out,
                "jit (--opt %s): functions optimized %" PRIu64 ", not optimizable %" PRIu64
                "%s%s%s, optimized calls %" PRIu64 ", guards executed %" PRIu64 ", deopts %" PRIu64
                "%s%s%s, soft deopts %" PRIu64 ", unspeculated sites %" PRIu64
                ", shared code links %" PRIu64 ", lazy unlinks %" PRIu64 ", eager unlinks %" PRIu64
                ", inlined call sites %" PRIu64 ", objects elided %" PRIu64
                ", constants folded %" PRIu64 ", double ops %" PRIu64 " (boxes %" PRIu64
                "), field dependencies %" PRIu64 ", lazy deopts %" PRIu64
                ", invalidated code %" PRIu64 " (frames %" PRIu64 "; generalizations %" PRIu64
                "), OSR entries %" PRIu64 " (compiles %" PRIu64 ", cache hits %" PRIu64 ")\n",
                j.jit_options.optimize ? "on" : "off", jt.functions_optimized, rejected,
                rejected ? " (" : "", why + (rejected ? 1 : 0), rejected ? ")" : "",
                jt.optimized_calls, jt.guards_executed, deopts, deopts ? " (" : "",
                reasons + (deopts ? 1 : 0), deopts ? ")" : "", jt.soft_deopts,
                jt.unspeculated_sites, jt.shared_code_links, jt.lazy_unlinks, jt.eager_unlinks,
                jt.inlined_call_sites, jt.objects_elided, jt.constants_folded, jt.double_ops,
                jt.boxes, jt.dependencies, jt.lazy_deopts, jt.invalidated_code,
                jt.invalidated_frames, (uint64_t)atomic_load(&j.rt->field_generalizations),
                jt.osr_entries, jt.osr_compiles, jt.osr_cache_hits);
    }
    run->checksum = checksum;
    vm_runtime_destroy(j.rt);
    vm_module_destroy(j.module);
    platform_free(j.sums);
    platform_free(j.errors);
    platform_free(j.stats);
    platform_free(j.jit_stats);
    return rc;
}

static int run(struct workload_run *run)
{
    struct vm_module *module = vm_assemble_file(run->input, run->error, sizeof run->error);
    if (!module)
        return 1;
    return jit_runner_run(run, module, workload_param(run, "repeat"));
}

const char *const jit_runner_opt_choices[] = {"off", "on"};

const struct workload workload_jit = {
    .name = "jit",
    .summary = "a toy-VM program (assembly FILE, docs/vm.md) run by the interpreter on each "
               "mutator, hot functions optimized by lib/jit; its result must match the program's "
               ".expect",
    .flags = {{"repeat", "times each mutator calls the program's main function", 1, 1, 1000000},
              JIT_RUNNER_FLAGS},
    .run = run,
    .input_name = "FILE",
    .check_input = check_input,
};
