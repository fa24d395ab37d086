/*
 * jit: runs a program of the toy VM (lib/vm; the assembly format is in docs/vm.md) on
 * every mutator thread. Each mutator loads the program into a VM of its own over the
 * shared heap and calls its main function --repeat times; every result must equal the
 * program's .expect value when it has one. checksum = the sum over mutators and
 * repetitions of the result (a double counts as its floor). The optimizing tier and
 * the deoptimizer come later (issue 5); this runs the interpreter only.
 */
#include "workload.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "platform/platform.h"
#include "vm/vm.h"

struct jit {
    struct workload_run *run;
    struct vm_module *module;
    struct vm_runtime *rt;
    int64_t repeat;
    int64_t *sums; /* per mutator */
    char (*errors)[640];
    char first_result[96];
    struct vm_stats *stats;
};

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
    vm_destroy(vm);
}

static int check_input(const char *input, char *error, size_t error_size)
{
    struct vm_module *module = vm_assemble_file(input, error, error_size);
    if (!module)
        return -1;
    vm_module_destroy(module);
    return 0;
}

static int run(struct workload_run *run)
{
    struct jit j = {.run = run, .repeat = workload_param(run, "repeat")};
    j.module = vm_assemble_file(run->input, run->error, sizeof run->error);
    if (!j.module)
        return 1;
    /* The runtime's oddballs are allocated through a mutator of this thread. */
    struct mutator setup;
    gc_mutator_attach(run->gc, &setup, "vm-setup");
    j.rt = vm_runtime_create(run->heap, &setup);
    gc_mutator_detach(&setup);

    uint32_t n = run->mutators ? run->mutators : 1;
    j.sums = platform_calloc(n, sizeof *j.sums);
    j.errors = platform_calloc(n, sizeof *j.errors);
    j.stats = platform_calloc(n, sizeof *j.stats);
    workload_run_mutators(run, mutator, &j);

    int rc = 0;
    uint64_t checksum = 0;
    struct vm_stats total = {0};
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
    }
    if (rc == 0 && run->out) {
        fprintf(run->out, "main returned %s (%" PRId64 " time%s on each of %u mutator%s)\n",
                j.first_result, j.repeat, j.repeat == 1 ? "" : "s", n, n == 1 ? "" : "s");
        fprintf(run->out,
                "calls %" PRIu64 ", loop back-edges %" PRIu64 ", tier-up requests %" PRIu64
                " (no optimizing tier yet), frames reloaded after a GC %" PRIu64 "\n",
                total.calls, total.backedges, total.tierup_requests, total.reloads_after_gc);
    }
    run->checksum = checksum;
    vm_runtime_destroy(j.rt);
    vm_module_destroy(j.module);
    platform_free(j.sums);
    platform_free(j.errors);
    platform_free(j.stats);
    return rc;
}

const struct workload workload_jit = {
    .name = "jit",
    .summary = "a toy-VM program (assembly FILE, docs/vm.md) run by the interpreter on each "
               "mutator; its result must match the program's .expect",
    .flags = {{"repeat", "times each mutator calls the program's main function", 1, 1, 1000000}},
    .run = run,
    .input_name = "FILE",
    .check_input = check_input,
};
