/*
 * libFuzzer harness of the toy VM: the input is assembly text (docs/vm.md), at most
 * FUZZ_MAX_INPUT bytes. A text that assembles is loaded into a fresh small heap with
 * one mutator and its main function run under a step limit and a frame cap, three
 * times in a VM without the optimizing tier and three times in one with lib/jit attached
 * (tier-up after 2 calls or 20 back-edges; deopt stress for a seventh of the inputs):
 * wherever both runs succeed, their results must agree. Then everything is torn down. Assembler and
 * run-time errors are fine; crashes, sanitizer reports, leaks and hangs are bugs. Built by
 * -Dfuzz=true (clang only), run by scripts/fuzz.sh.
 *
 * An input whose first byte is 0x01 is a builder program instead: the bytes after it
 * choose calls of the C builder API (functions, labels, constants, opcodes and their
 * operands, valid or not). The builder must refuse every invalid program, so whatever
 * module it returns is run like an assembled one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_RUNS 3

#include "gc/gc.h"
#include "jit/jit.h"
#include "vm/bytecode.h"
#include "vm/vm.h"

#define FUZZ_MAX_INPUT ((size_t)16 << 10)
#define FUZZ_STEP_LIMIT 100000
/* Bytes a VM may allocate: checked at back-edges and calls, and by CreateArray before it
 * allocates, so a program can pass it by at most what one stretch of straight-line code
 * allocates (a function is at most FUZZ_MAX_INPUT bytes: some thousands of instructions
 * of at most ~2 KiB each, or an array append that doubles a backing store smaller than
 * the limit), which the heap below leaves room for: heap exhaustion ends the process (a
 * clean error for waltz, but an exit libFuzzer reports). */
#define FUZZ_ALLOCATION_LIMIT ((uint64_t)8 << 20)
#define FUZZ_MAX_FRAMES 256

#define FUZZ_FUNCTIONS 4
#define FUZZ_LABELS 4

struct input {
    const uint8_t *data;
    size_t size, at;
};

static uint8_t next_byte(struct input *in) { return in->at < in->size ? in->data[in->at++] : 0; }

static int64_t next_int(struct input *in, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | next_byte(in);
    return (int64_t)v;
}

static const char *const fuzz_names[] = {"f0", "f1", "f2", "f3", "x", "y"};

/* One operand of kind: usually a plausible value, sometimes a raw one. */
static int64_t next_operand(struct vm_builder *b, struct input *in, enum vm_operand_kind kind)
{
    uint8_t how = next_byte(in);
    if (how >= 0xf0)
        return next_int(in, 8);
    const char *name = fuzz_names[how % 6];
    switch (kind) {
    case VM_OPERAND_REG:
    case VM_OPERAND_COUNT:
        return how % 12;
    case VM_OPERAND_IMM:
        return (int32_t)next_int(in, 4);
    case VM_OPERAND_CONST:
        return how & 1 ? vm_builder_constant_double(b, (double)(int32_t)next_int(in, 4) / 8)
                       : vm_builder_constant_int(b, next_int(in, 8));
    case VM_OPERAND_NAME:
        return vm_builder_constant_name(b, name, strlen(name));
    case VM_OPERAND_FUNC:
        return vm_builder_constant_function(b, name, strlen(name));
    case VM_OPERAND_GLOBAL:
        return vm_builder_global(b, name, strlen(name));
    case VM_OPERAND_LABEL:
        return how % (FUZZ_LABELS + 1);
    case VM_OPERAND_INTRINSIC:
        return how % (VM_INTRINSIC_COUNT + 1);
    default:
        return how;
    }
}

/* Functions f0 (main) .. f3, each a run of instructions and label bindings. */
static struct vm_module *build(const uint8_t *data, size_t size)
{
    struct input in = {data, size, 0};
    struct vm_builder *b = vm_builder_create();
    int rc = vm_builder_set_main(b, "f0", 2);
    size_t functions = 1 + next_byte(&in) % FUZZ_FUNCTIONS;
    for (size_t f = 0; f < functions && rc >= 0; f++) {
        uint8_t params = next_byte(&in), registers = next_byte(&in);
        rc =
            vm_builder_begin_function(b, fuzz_names[f], 2, f == 0 ? 0 : params % 4, registers % 16);
        int labels[FUZZ_LABELS + 1];
        for (int l = 0; l < FUZZ_LABELS && rc >= 0; l++)
            rc = labels[l] = vm_builder_new_label(b);
        labels[FUZZ_LABELS] = 1000; /* never made */
        while (rc >= 0 && in.at < in.size) {
            uint8_t cmd = next_byte(&in);
            if (cmd == 0xff)
                break;
            if (cmd >= 0xf0) {
                rc = vm_builder_bind_label(b, labels[cmd % (FUZZ_LABELS + 1)]);
                continue;
            }
            enum vm_opcode op = (enum vm_opcode)(cmd % (VM_OPCODE_COUNT + 1));
            const struct vm_opcode_info *info = vm_opcode_info(op);
            int64_t operands[VM_MAX_OPERANDS] = {0};
            size_t count = 0;
            for (size_t i = 0; info && i < info->operand_count; i++) {
                if (info->operands[i] == VM_OPERAND_FEEDBACK)
                    continue;
                operands[count] = next_operand(b, &in, info->operands[i]);
                if (info->operands[i] == VM_OPERAND_LABEL && operands[count] >= 0 &&
                    operands[count] <= FUZZ_LABELS)
                    operands[count] = labels[operands[count]];
                count++;
            }
            rc = vm_builder_emit(b, op, operands, cmd & 0x80 ? (count + 1) % 4 : count);
        }
        if (rc >= 0)
            rc = vm_builder_end_function(b);
    }
    struct vm_module *module = rc >= 0 ? vm_builder_finish(b) : NULL;
    if (!module && getenv("WALTZ_FUZZ_VERBOSE"))
        fprintf(stderr, "builder: %s\n", vm_builder_error(b));
    vm_builder_destroy(b);
    return module;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return -1; /* not added to the corpus */
    char error[512];
    struct vm_module *module =
        size > 0 && data[0] == 0x01
            ? build(data + 1, size - 1)
            : vm_assemble("fuzz.vm", (const char *)data, size, error, sizeof error);
    if (!module) {
        if (getenv("WALTZ_FUZZ_VERBOSE") && !(size > 0 && data[0] == 0x01))
            fprintf(stderr, "assembler: %s\n", error);
        return 0;
    }
    if (getenv("WALTZ_FUZZ_VERBOSE"))
        vm_module_disassemble(module, stderr);
    struct heap_config config = {.young_size_bytes = (size_t)256 << 10,
                                 .heap_size_bytes = (size_t)128 << 20};
    struct heap *heap = heap_create(&config, NULL);
    struct gc *gc = gc_create(heap, NULL);
    struct mutator m;
    gc_mutator_attach(gc, &m, "fuzz");
    struct vm_runtime *rt = vm_runtime_create(heap, &m);
    /* Differential: the module runs in a VM without the optimizing tier and in one with
     * it (thresholds of a few calls and back-edges, so nearly every function that runs
     * is compiled), main three times each; wherever both runs succeed, their results
     * must be the same. */
    vm_tierup_invocations = 2;
    vm_tierup_backedges = 20;
    char results[2][FUZZ_RUNS][128];
    bool ok[2][FUZZ_RUNS] = {{false}};
    for (int tier = 0; tier < 2; tier++) {
        struct vm *vm = vm_create(rt, &m, module, error, sizeof error);
        if (!vm) {
            if (getenv("WALTZ_FUZZ_VERBOSE"))
                fprintf(stderr, "vm_create: %s\n", error);
            break;
        }
        vm->step_limit = FUZZ_STEP_LIMIT;
        vm->allocation_limit = m.allocated_bytes + FUZZ_ALLOCATION_LIMIT;
        vm->max_frames = FUZZ_MAX_FRAMES;
        struct jit_options options = {.optimize = tier == 1,
                                      .inline_calls = true,
                                      .escape_analysis = true,
                                      .unbox_doubles = true,
                                      .osr = size % 3 != 0,
                                      .deopt_stress = size % 7 == 0 ? 3 : 0};
        struct jit *jit = jit_attach(vm, &options);
        for (int r = 0; r < FUZZ_RUNS; r++) {
            value_t result;
            if (vm_run_main(vm, &result) != 0) {
                if (getenv("WALTZ_FUZZ_VERBOSE"))
                    fprintf(stderr, "run %d (tier %d): %s\n", r, tier, vm->error);
                break;
            }
            vm_value_format(vm, result, results[tier][r], sizeof results[tier][r]);
            ok[tier][r] = true;
            if (getenv("WALTZ_FUZZ_VERBOSE"))
                fprintf(stderr, "result %d (tier %d): %s\n", r, tier, results[tier][r]);
        }
        jit_detach(jit);
        vm_destroy(vm);
    }
    for (int r = 0; r < FUZZ_RUNS; r++)
        if (ok[0][r] && ok[1][r] && strcmp(results[0][r], results[1][r]) != 0) {
            fprintf(stderr,
                    "fuzz_vm: run %d: the interpreter returned %s, the optimizing tier %s\n", r,
                    results[0][r], results[1][r]);
            abort();
        }
    vm_runtime_destroy(rt);
    gc_mutator_detach(&m);
    gc_destroy(gc);
    heap_destroy(heap);
    vm_module_destroy(module);
    return 0;
}
