/*
 * libFuzzer harness of the toy VM: the input is assembly text (docs/vm.md), at most
 * FUZZ_MAX_INPUT bytes. A text that assembles is loaded into a fresh small heap with
 * one mutator and its main function run under a step limit and a frame cap, then
 * everything is torn down. Assembler and run-time errors are fine; crashes, sanitizer
 * reports, leaks and hangs are bugs. Built by -Dfuzz=true (clang only), run by
 * scripts/fuzz.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/vm.h"

#define FUZZ_MAX_INPUT ((size_t)16 << 10)
#define FUZZ_STEP_LIMIT 100000
#define FUZZ_MAX_FRAMES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return -1; /* not added to the corpus */
    char error[512];
    struct vm_module *module =
        vm_assemble("fuzz.vm", (const char *)data, size, error, sizeof error);
    if (!module)
        return 0;
    struct heap_config config = {.young_size_bytes = (size_t)256 << 10,
                                 .heap_size_bytes = (size_t)16 << 20};
    struct heap *heap = heap_create(&config, NULL);
    struct gc *gc = gc_create(heap, NULL);
    struct mutator m;
    gc_mutator_attach(gc, &m, "fuzz");
    struct vm_runtime *rt = vm_runtime_create(heap, &m);
    struct vm *vm = vm_create(rt, &m, module, error, sizeof error);
    if (vm) {
        vm->step_limit = FUZZ_STEP_LIMIT;
        vm->max_frames = FUZZ_MAX_FRAMES;
        value_t result;
        if (vm_run_main(vm, &result) == 0) {
            char out[128];
            vm_value_format(vm, result, out, sizeof out);
        }
        vm_destroy(vm);
    }
    vm_runtime_destroy(rt);
    gc_mutator_detach(&m);
    gc_destroy(gc);
    heap_destroy(heap);
    vm_module_destroy(module);
    return 0;
}
