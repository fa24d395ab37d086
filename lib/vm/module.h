/*
 * lib/vm modules: a program as the assembler or the C builder produced it, before any
 * VM has loaded it. A module lives outside the heap and never changes once built, so
 * every mutator's VM loads the same one (vm.h, vm_create) into heap objects of its own.
 *
 * Offers:  the C builder API (vm_builder_*), the text assembler (vm_assemble), and the
 *          finished module they produce.
 * Needs:   bytecode.h; nothing of the heap.
 *
 * A builder call that fails returns -1 and leaves a message (vm_builder_error); the
 * builder stays usable for more calls, but vm_builder_finish will refuse. The builder
 * checks everything the interpreter relies on: registers within the function's count,
 * jump targets that are instruction starts inside the function, constant and global
 * indices in range, functions referred to by CreateClosure defined, and a last
 * instruction that cannot fall off the end. So the interpreter never checks an operand.
 */
#ifndef WALTZ_VM_MODULE_H
#define WALTZ_VM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/bytecode.h"

#define VM_MAX_REGISTERS 255
#define VM_MAX_CONSTANTS 65535
#define VM_MAX_FEEDBACK_WORDS 65535
#define VM_MAX_GLOBALS 65535
#define VM_MAX_FUNCTIONS 65535
#define VM_MAX_FUNCTION_BYTES ((size_t)1 << 24)
#define VM_MAX_NAME_BYTES 255
/* The small-integer range of lib/heap/value.h (63-bit). */
#define VM_SMI_MAX_VALUE (INT64_MAX >> 1)
#define VM_SMI_MIN_VALUE (INT64_MIN >> 1)

enum vm_constant_kind {
    VM_CONSTANT_INT,      /* a Smi */
    VM_CONSTANT_DOUBLE,   /* a heap number */
    VM_CONSTANT_NAME,     /* a property name: index into module->names */
    VM_CONSTANT_FUNCTION, /* a function of the module: index into module->functions */
};

struct vm_constant {
    enum vm_constant_kind kind;
    int64_t int_value;
    double double_value;
    uint32_t index;
};

/* A number as written in the program (.expect). */
struct vm_number {
    bool is_double;
    int64_t int_value;
    double double_value;
};

struct vm_function_code {
    char *name;
    uint32_t params, registers; /* parameters are r0..r(params-1) */
    uint8_t *code;
    size_t length;
    struct vm_constant *constants;
    size_t constant_count;
    uint32_t feedback_words;
    uint32_t global; /* the global variable that holds this function */
};

struct vm_module {
    struct vm_function_code *functions;
    size_t function_count;
    char **names; /* property names */
    size_t name_count;
    char **globals; /* global variables; every function has one of its name */
    size_t global_count;
    uint32_t main_function;
    bool has_expect;
    struct vm_number expect;
};

void vm_module_destroy(struct vm_module *module);
/* The function of this name, or -1. */
int vm_module_find_function(const struct vm_module *module, const char *name);
/* Every function's disassembly, for `waltz` users and tests. */
void vm_module_disassemble(const struct vm_module *module, FILE *out);

/* --- The C builder ------------------------------------------------------------------ */
struct vm_builder;

struct vm_builder *vm_builder_create(void);
void vm_builder_destroy(struct vm_builder *b);
const char *vm_builder_error(const struct vm_builder *b);
/* Where the next calls come from (the assembler passes line and column): an error that
 * is found later (an undefined label or function) names the site that referred to it. */
void vm_builder_set_site(struct vm_builder *b, uint32_t line, uint32_t column);
/* The site of operand i (not counting FEEDBACK) of the next instruction emitted; an
 * operand without one is reported at the instruction's site. */
void vm_builder_set_operand_site(struct vm_builder *b, size_t operand, uint32_t line,
                                 uint32_t column);
/* The site of the last error (0, 0 if it has none). */
void vm_builder_error_site(const struct vm_builder *b, uint32_t *line, uint32_t *column);

/* Starts a function (one at a time); returns its index. */
int vm_builder_begin_function(struct vm_builder *b, const char *name, size_t name_length,
                              uint32_t params, uint32_t registers);
/* Ends it: resolves its labels and checks its last instruction. */
int vm_builder_end_function(struct vm_builder *b);
bool vm_builder_in_function(const struct vm_builder *b);

/* Labels of the current function. */
int vm_builder_new_label(struct vm_builder *b);
int vm_builder_bind_label(struct vm_builder *b, int label);

/* Constant-pool entries of the current function; each returns the index. */
int vm_builder_constant_int(struct vm_builder *b, int64_t value);
int vm_builder_constant_double(struct vm_builder *b, double value);
int vm_builder_constant_name(struct vm_builder *b, const char *name, size_t length);
/* A function of the module, perhaps defined later (resolved by vm_builder_finish). */
int vm_builder_constant_function(struct vm_builder *b, const char *name, size_t length);
/* A global variable of the module. */
int vm_builder_global(struct vm_builder *b, const char *name, size_t length);

/* Appends one instruction. operands[] holds every operand but the FEEDBACK one, which
 * the builder assigns: registers, counts, immediates, constant/global indices (from the
 * calls above), label ids (from vm_builder_new_label), intrinsic ids. */
int vm_builder_emit(struct vm_builder *b, enum vm_opcode op, const int64_t *operands,
                    size_t operand_count);

int vm_builder_set_main(struct vm_builder *b, const char *name, size_t length);
void vm_builder_set_expect(struct vm_builder *b, struct vm_number expect);

/* The module, or NULL (vm_builder_error says why). The builder is spent either way but
 * must still be destroyed. */
struct vm_module *vm_builder_finish(struct vm_builder *b);

/* --- The assembler (assembler.c; the format is in docs/vm.md) ------------------------- */
/* Assembles text[0, length) (need not be NUL-terminated). On error returns NULL and
 * writes "FILE:LINE:COL: error: message" into error. */
struct vm_module *vm_assemble(const char *file_name, const char *text, size_t length, char *error,
                              size_t error_size);
/* Reads and assembles a file; a file that cannot be read is an error too. */
struct vm_module *vm_assemble_file(const char *path, char *error, size_t error_size);

#endif
