/*
 * The C builder of lib/vm modules (module.h): functions, labels, constant pools,
 * globals and instructions, checked as they come so that a finished module is one the
 * interpreter can run without checking operands. The assembler is built on it.
 *
 * Labels are patched when their function ends: a reference records the operand's
 * offset and the site (line, column) that wrote it, so an undefined label is reported
 * where it was used. Function references in constant pools are resolved the same way
 * when the module is finished.
 */
#include "vm/module.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "platform/platform.h"

struct site {
    uint32_t line, column;
};

struct label {
    int64_t offset; /* -1 until bound */
    struct site bound_at;
};

struct label_use {
    int label;
    size_t operand_offset;
    struct site site;
};

struct function_use {
    uint32_t function, constant;
    char *name;
    struct site site;
};

struct vm_builder {
    struct vm_module *module;
    size_t function_capacity, name_capacity, global_capacity;
    bool in_function, failed, finished, has_main;
    /* The current function. */
    size_t code_capacity, constant_capacity;
    struct label *labels;
    size_t label_count, label_capacity;
    struct label_use *label_uses;
    size_t label_use_count, label_use_capacity;
    size_t last_instruction; /* offset of the last instruction emitted */
    bool any_instruction;
    /* Whole module. */
    struct function_use *function_uses;
    size_t function_use_count, function_use_capacity;
    char *main_name;
    struct site main_site;
    struct site site, error_site;
    struct site operand_sites[VM_MAX_OPERANDS]; /* for the next emit; line 0: none */
    char error[256];
};

static void *grow(void *array, size_t *capacity, size_t count, size_t element_bytes)
{
    if (count < *capacity)
        return array;
    *capacity = *capacity ? *capacity * 2 : 8;
    return platform_realloc(array, *capacity * element_bytes);
}

static int fail_at(struct vm_builder *b, struct site site, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct vm_builder *b, struct site site, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->error, sizeof b->error, fmt, ap);
    va_end(ap);
    b->error_site = site;
    b->failed = true;
    return -1;
}
#define fail(b, ...) fail_at(b, (b)->site, __VA_ARGS__)

static char *copy_name(const char *name, size_t length)
{
    char *s = platform_alloc(length + 1);
    memcpy(s, name, length);
    s[length] = '\0';
    return s;
}

struct vm_builder *vm_builder_create(void)
{
    struct vm_builder *b = platform_calloc(1, sizeof *b);
    b->module = platform_calloc(1, sizeof *b->module);
    return b;
}

static void free_function_state(struct vm_builder *b)
{
    platform_free(b->labels);
    platform_free(b->label_uses);
    b->labels = NULL;
    b->label_uses = NULL;
    b->label_count = b->label_capacity = 0;
    b->label_use_count = b->label_use_capacity = 0;
}

void vm_builder_destroy(struct vm_builder *b)
{
    if (!b)
        return;
    free_function_state(b);
    for (size_t i = 0; i < b->function_use_count; i++)
        platform_free(b->function_uses[i].name);
    platform_free(b->function_uses);
    platform_free(b->main_name);
    vm_module_destroy(b->module);
    platform_free(b);
}

void vm_module_destroy(struct vm_module *module)
{
    if (!module)
        return;
    for (size_t i = 0; i < module->function_count; i++) {
        platform_free(module->functions[i].name);
        platform_free(module->functions[i].code);
        platform_free(module->functions[i].constants);
    }
    platform_free(module->functions);
    for (size_t i = 0; i < module->name_count; i++)
        platform_free(module->names[i]);
    platform_free(module->names);
    for (size_t i = 0; i < module->global_count; i++)
        platform_free(module->globals[i]);
    platform_free(module->globals);
    platform_free(module);
}

const char *vm_builder_error(const struct vm_builder *b) { return b->error; }

void vm_builder_set_site(struct vm_builder *b, uint32_t line, uint32_t column)
{
    b->site = (struct site){line, column};
}

void vm_builder_set_operand_site(struct vm_builder *b, size_t operand, uint32_t line,
                                 uint32_t column)
{
    if (operand < VM_MAX_OPERANDS)
        b->operand_sites[operand] = (struct site){line, column};
}

void vm_builder_error_site(const struct vm_builder *b, uint32_t *line, uint32_t *column)
{
    *line = b->error_site.line;
    *column = b->error_site.column;
}

bool vm_builder_in_function(const struct vm_builder *b) { return b->in_function; }

static bool names_equal(const char *s, const char *name, size_t length)
{
    return strlen(s) == length && memcmp(s, name, length) == 0;
}

static int check_name(struct vm_builder *b, const char *what, const char *name, size_t length)
{
    if (length == 0)
        return fail(b, "%s needs a name", what);
    if (length > VM_MAX_NAME_BYTES)
        return fail(b, "%s name is longer than %d bytes", what, VM_MAX_NAME_BYTES);
    return 0;
}

int vm_module_find_function(const struct vm_module *module, const char *name)
{
    for (size_t i = 0; i < module->function_count; i++)
        if (strcmp(module->functions[i].name, name) == 0)
            return (int)i;
    return -1;
}

int vm_builder_global(struct vm_builder *b, const char *name, size_t length)
{
    if (check_name(b, "a global", name, length) != 0)
        return -1;
    struct vm_module *mod = b->module;
    for (size_t i = 0; i < mod->global_count; i++)
        if (names_equal(mod->globals[i], name, length))
            return (int)i;
    if (mod->global_count >= VM_MAX_GLOBALS)
        return fail(b, "more than %d globals", VM_MAX_GLOBALS);
    mod->globals = grow(mod->globals, &b->global_capacity, mod->global_count, sizeof(char *));
    mod->globals[mod->global_count] = copy_name(name, length);
    return (int)mod->global_count++;
}

int vm_builder_begin_function(struct vm_builder *b, const char *name, size_t name_length,
                              uint32_t params, uint32_t registers)
{
    if (b->finished)
        return fail(b, "the module is already finished");
    if (b->in_function)
        return fail(b, "function '%s' is not ended before the next one begins",
                    b->module->functions[b->module->function_count - 1].name);
    if (check_name(b, "a function", name, name_length) != 0)
        return -1;
    struct vm_module *mod = b->module;
    for (size_t i = 0; i < mod->function_count; i++)
        if (names_equal(mod->functions[i].name, name, name_length))
            return fail(b, "duplicate function '%.*s'", (int)name_length, name);
    if (mod->function_count >= VM_MAX_FUNCTIONS)
        return fail(b, "more than %d functions", VM_MAX_FUNCTIONS);
    if (registers > VM_MAX_REGISTERS)
        return fail(b, "%u registers is out of range: at most %d", registers, VM_MAX_REGISTERS);
    if (params > registers)
        return fail(b, "%u parameters need at least as many registers (got %u)", params, registers);
    int global = vm_builder_global(b, name, name_length);
    if (global < 0)
        return -1;
    mod->functions =
        grow(mod->functions, &b->function_capacity, mod->function_count, sizeof *mod->functions);
    struct vm_function_code *f = &mod->functions[mod->function_count];
    memset(f, 0, sizeof *f);
    f->name = copy_name(name, name_length);
    f->params = params;
    f->registers = registers;
    f->global = (uint32_t)global;
    b->code_capacity = b->constant_capacity = 0;
    b->any_instruction = false;
    b->in_function = true;
    return (int)mod->function_count++;
}

static struct vm_function_code *current(struct vm_builder *b)
{
    return &b->module->functions[b->module->function_count - 1];
}

static int need_function(struct vm_builder *b, const char *what)
{
    if (!b->in_function)
        return fail(b, "%s outside a function", what);
    return 0;
}

int vm_builder_new_label(struct vm_builder *b)
{
    if (need_function(b, "a label") != 0)
        return -1;
    b->labels = grow(b->labels, &b->label_capacity, b->label_count, sizeof *b->labels);
    b->labels[b->label_count] = (struct label){.offset = -1};
    return (int)b->label_count++;
}

int vm_builder_bind_label(struct vm_builder *b, int label)
{
    if (need_function(b, "a label") != 0)
        return -1;
    if (label < 0 || (size_t)label >= b->label_count)
        return fail(b, "no such label (%d)", label);
    if (b->labels[label].offset >= 0)
        return fail(b, "label bound twice (first at %u:%u)", b->labels[label].bound_at.line,
                    b->labels[label].bound_at.column);
    b->labels[label].offset = (int64_t)current(b)->length;
    b->labels[label].bound_at = b->site;
    return 0;
}

static int add_constant(struct vm_builder *b, struct vm_constant c)
{
    if (need_function(b, "a constant") != 0)
        return -1;
    struct vm_function_code *f = current(b);
    for (size_t i = 0; i < f->constant_count; i++) {
        struct vm_constant *k = &f->constants[i];
        if (k->kind != c.kind)
            continue;
        if ((c.kind == VM_CONSTANT_INT && k->int_value == c.int_value) ||
            (c.kind == VM_CONSTANT_DOUBLE &&
             memcmp(&k->double_value, &c.double_value, sizeof c.double_value) == 0) ||
            (c.kind == VM_CONSTANT_NAME && k->index == c.index))
            return (int)i;
    }
    if (f->constant_count >= VM_MAX_CONSTANTS)
        return fail(b, "function '%s' has more than %d constants", f->name, VM_MAX_CONSTANTS);
    f->constants = grow(f->constants, &b->constant_capacity, f->constant_count, sizeof c);
    f->constants[f->constant_count] = c;
    return (int)f->constant_count++;
}

int vm_builder_constant_int(struct vm_builder *b, int64_t value)
{
    if (value > VM_SMI_MAX_VALUE || value < VM_SMI_MIN_VALUE)
        return fail(b, "integer %lld is out of the small-integer range", (long long)value);
    return add_constant(b, (struct vm_constant){.kind = VM_CONSTANT_INT, .int_value = value});
}

int vm_builder_constant_double(struct vm_builder *b, double value)
{
    return add_constant(b, (struct vm_constant){.kind = VM_CONSTANT_DOUBLE, .double_value = value});
}

int vm_builder_constant_name(struct vm_builder *b, const char *name, size_t length)
{
    if (need_function(b, "a name") != 0 || check_name(b, "a property", name, length) != 0)
        return -1;
    struct vm_module *mod = b->module;
    size_t index = mod->name_count;
    for (size_t i = 0; i < mod->name_count; i++)
        if (names_equal(mod->names[i], name, length))
            index = i;
    if (index == mod->name_count) {
        mod->names = grow(mod->names, &b->name_capacity, mod->name_count, sizeof(char *));
        mod->names[mod->name_count++] = copy_name(name, length);
    }
    return add_constant(b,
                        (struct vm_constant){.kind = VM_CONSTANT_NAME, .index = (uint32_t)index});
}

int vm_builder_constant_function(struct vm_builder *b, const char *name, size_t length)
{
    if (need_function(b, "a function reference") != 0 ||
        check_name(b, "a function", name, length) != 0)
        return -1;
    int k = add_constant(b, (struct vm_constant){.kind = VM_CONSTANT_FUNCTION});
    if (k < 0)
        return -1;
    b->function_uses = grow(b->function_uses, &b->function_use_capacity, b->function_use_count,
                            sizeof *b->function_uses);
    b->function_uses[b->function_use_count++] = (struct function_use){
        .function = (uint32_t)(b->module->function_count - 1),
        .constant = (uint32_t)k,
        .name = copy_name(name, length),
        .site = b->site,
    };
    return k;
}

static void put_bytes(struct vm_builder *b, uint64_t v, size_t size)
{
    struct vm_function_code *f = current(b);
    if (f->length + size > b->code_capacity) {
        b->code_capacity = b->code_capacity ? b->code_capacity * 2 : 64;
        f->code = platform_realloc(f->code, b->code_capacity);
    }
    for (size_t i = 0; i < size; i++)
        f->code[f->length++] = (uint8_t)(v >> (8 * i));
}

static int check_operand(struct vm_builder *b, const struct vm_opcode_info *info, int i, int64_t v)
{
    struct vm_function_code *f = current(b);
    switch (info->operands[i]) {
    case VM_OPERAND_REG:
        if (v < 0 || v >= (int64_t)f->registers)
            return fail(b, "register r%lld is out of range: function '%s' has %u register%s",
                        (long long)v, f->name, f->registers, f->registers == 1 ? "" : "s");
        return 0;
    case VM_OPERAND_COUNT:
        if (v < 0 || v > 255)
            return fail(b, "%s: %lld is out of range 0..255", info->name, (long long)v);
        return 0;
    case VM_OPERAND_IMM:
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(b, "%s: %lld does not fit in 32 bits (use LdaConstant)", info->name,
                        (long long)v);
        return 0;
    case VM_OPERAND_CONST:
    case VM_OPERAND_NAME:
    case VM_OPERAND_FUNC: {
        enum vm_constant_kind want = info->operands[i] == VM_OPERAND_NAME   ? VM_CONSTANT_NAME
                                     : info->operands[i] == VM_OPERAND_FUNC ? VM_CONSTANT_FUNCTION
                                                                            : VM_CONSTANT_INT;
        if (v < 0 || (size_t)v >= f->constant_count)
            return fail(b, "%s: no constant %lld", info->name, (long long)v);
        enum vm_constant_kind got = f->constants[v].kind;
        if (got == VM_CONSTANT_DOUBLE && want == VM_CONSTANT_INT)
            got = VM_CONSTANT_INT;
        if (got != want)
            return fail(b, "%s: constant %lld is not a %s", info->name, (long long)v,
                        vm_operand_kind_name(info->operands[i]));
        return 0;
    }
    case VM_OPERAND_GLOBAL:
        if (v < 0 || (size_t)v >= b->module->global_count)
            return fail(b, "%s: no global %lld", info->name, (long long)v);
        return 0;
    case VM_OPERAND_LABEL:
        if (v < 0 || (size_t)v >= b->label_count)
            return fail(b, "%s: no label %lld", info->name, (long long)v);
        return 0;
    case VM_OPERAND_INTRINSIC:
        if (v < 0 || v >= VM_INTRINSIC_COUNT)
            return fail(b, "%s: no intrinsic %lld", info->name, (long long)v);
        return 0;
    default:
        return 0;
    }
}

int vm_builder_emit(struct vm_builder *b, enum vm_opcode op, const int64_t *operands,
                    size_t operand_count)
{
    /* The operand sites are for this instruction only, whatever happens to it. */
    struct site instruction_site = b->site, sites[VM_MAX_OPERANDS];
    for (size_t k = 0; k < VM_MAX_OPERANDS; k++) {
        sites[k] = b->operand_sites[k].line ? b->operand_sites[k] : instruction_site;
        b->operand_sites[k] = (struct site){0, 0};
    }
    if (need_function(b, "an instruction") != 0)
        return -1;
    const struct vm_opcode_info *info = vm_opcode_info(op);
    if (!info)
        return fail(b, "no opcode %d", (int)op);
    size_t wanted = info->operand_count - (info->feedback != VM_FEEDBACK_NONE);
    if (operand_count != wanted)
        return fail(b, "%s takes %zu operand%s, got %zu", info->name, wanted,
                    wanted == 1 ? "" : "s", operand_count);
    struct vm_function_code *f = current(b);
    if (f->length + info->size_bytes > VM_MAX_FUNCTION_BYTES)
        return fail(b, "function '%s' is longer than %zu bytes", f->name, VM_MAX_FUNCTION_BYTES);
    for (size_t i = 0, k = 0; i < info->operand_count; i++) {
        if (info->operands[i] == VM_OPERAND_FEEDBACK)
            continue;
        b->site = sites[k];
        int rc = check_operand(b, info, (int)i, operands[k]);
        b->site = instruction_site;
        k++;
        if (rc != 0)
            return -1;
    }
    /* A register list (Call, CallIntrinsic): first register and count must fit. */
    if (op == VM_OP_Call || op == VM_OP_CallIntrinsic) {
        int64_t first = operands[1], count = operands[2];
        if (count > 0 && first + count > (int64_t)f->registers)
            return fail(b, "%s: registers r%lld..r%lld are out of range: function '%s' has %u",
                        info->name, (long long)first, (long long)(first + count - 1), f->name,
                        f->registers);
        if (op == VM_OP_CallIntrinsic &&
            count != vm_intrinsic_arity((enum vm_intrinsic)operands[0]))
            return fail(b, "intrinsic %s takes %d argument%s, got %lld",
                        vm_intrinsic_name((enum vm_intrinsic)operands[0]),
                        vm_intrinsic_arity((enum vm_intrinsic)operands[0]),
                        vm_intrinsic_arity((enum vm_intrinsic)operands[0]) == 1 ? "" : "s",
                        (long long)count);
    }
    size_t feedback_words = vm_feedback_words(info->feedback);
    if (f->feedback_words + feedback_words > VM_MAX_FEEDBACK_WORDS)
        return fail(b, "function '%s' needs more than %d feedback words", f->name,
                    VM_MAX_FEEDBACK_WORDS);
    b->last_instruction = f->length;
    b->any_instruction = true;
    put_bytes(b, (uint64_t)op, 1);
    for (size_t i = 0, k = 0; i < info->operand_count; i++) {
        enum vm_operand_kind kind = info->operands[i];
        size_t size = vm_operand_size_bytes(kind);
        if (kind == VM_OPERAND_FEEDBACK) {
            put_bytes(b, f->feedback_words, size);
            f->feedback_words += (uint32_t)feedback_words;
            continue;
        }
        int64_t v = operands[k++];
        if (kind == VM_OPERAND_LABEL) {
            b->label_uses = grow(b->label_uses, &b->label_use_capacity, b->label_use_count,
                                 sizeof *b->label_uses);
            b->label_uses[b->label_use_count++] = (struct label_use){
                .label = (int)v, .operand_offset = f->length, .site = sites[k - 1]};
            v = 0;
        }
        put_bytes(b, (uint64_t)v, size);
    }
    return 0;
}

static bool ends_control(enum vm_opcode op)
{
    return op == VM_OP_Return || op == VM_OP_Jump || op == VM_OP_JumpLoop;
}

int vm_builder_end_function(struct vm_builder *b)
{
    if (need_function(b, "'end'") != 0)
        return -1;
    struct vm_function_code *f = current(b);
    b->in_function = false;
    int rc = 0;
    for (size_t i = 0; i < b->label_use_count && rc == 0; i++) {
        struct label_use *u = &b->label_uses[i];
        struct label *l = &b->labels[u->label];
        if (l->offset < 0) {
            rc = fail_at(b, u->site, "undefined label in function '%s'", f->name);
        } else if ((size_t)l->offset >= f->length) {
            rc = fail_at(b, l->bound_at,
                         "label at the end of function '%s': no instruction "
                         "follows it",
                         f->name);
        } else {
            enum vm_opcode op = f->code[u->operand_offset - 1];
            if (op == VM_OP_JumpLoop && (size_t)l->offset >= u->operand_offset)
                rc = fail_at(b, u->site,
                             "JumpLoop must jump backwards (it is the loop's "
                             "back-edge); use Jump");
            else if (op != VM_OP_JumpLoop && (size_t)l->offset < u->operand_offset)
                rc = fail_at(b, u->site,
                             "%s must jump forwards: a backward jump is a loop's back-edge, "
                             "which only JumpLoop is (the step limit and tier-up count it)",
                             vm_opcode_info(op)->name);
            for (size_t k = 0; k < 4; k++)
                f->code[u->operand_offset + k] = (uint8_t)((uint64_t)l->offset >> (8 * k));
        }
    }
    if (rc == 0 && !b->any_instruction)
        rc = fail(b, "function '%s' has no instructions", f->name);
    if (rc == 0 && !ends_control(f->code[b->last_instruction]))
        rc = fail(b,
                  "function '%s' can run off its end: its last instruction must be Return, "
                  "Jump or JumpLoop",
                  f->name);
    free_function_state(b);
    return rc;
}

int vm_builder_set_main(struct vm_builder *b, const char *name, size_t length)
{
    if (check_name(b, "main", name, length) != 0)
        return -1;
    platform_free(b->main_name);
    b->main_name = copy_name(name, length);
    b->main_site = b->site;
    return 0;
}

void vm_builder_set_expect(struct vm_builder *b, struct vm_number expect)
{
    b->module->has_expect = true;
    b->module->expect = expect;
}

struct vm_module *vm_builder_finish(struct vm_builder *b)
{
    if (b->finished) {
        fail(b, "the module is already finished");
        return NULL;
    }
    b->finished = true;
    if (b->failed)
        return NULL;
    struct vm_module *mod = b->module;
    if (b->in_function) {
        fail(b, "function '%s' has no 'end'", current(b)->name);
        return NULL;
    }
    if (mod->function_count == 0) {
        fail(b, "the program has no functions (it needs a 'main')");
        return NULL;
    }
    for (size_t i = 0; i < b->function_use_count; i++) {
        struct function_use *u = &b->function_uses[i];
        int target = vm_module_find_function(mod, u->name);
        if (target < 0) {
            fail_at(b, u->site, "undefined function '%s'", u->name);
            return NULL;
        }
        mod->functions[u->function].constants[u->constant].index = (uint32_t)target;
    }
    const char *main_name = b->main_name ? b->main_name : "main";
    int main_index = vm_module_find_function(mod, main_name);
    if (main_index < 0) {
        fail_at(b, b->main_name ? b->main_site : b->site, "the program has no function '%s'",
                main_name);
        return NULL;
    }
    if (mod->functions[main_index].params != 0) {
        fail_at(b, b->main_site, "the main function '%s' must take no parameters", main_name);
        return NULL;
    }
    mod->main_function = (uint32_t)main_index;
    b->module = NULL;
    return mod;
}

void vm_module_disassemble(const struct vm_module *module, FILE *out)
{
    for (size_t i = 0; i < module->function_count; i++) {
        const struct vm_function_code *f = &module->functions[i];
        fprintf(out, "function %s params %u registers %u (%zu bytes, %u feedback words)\n", f->name,
                f->params, f->registers, f->length, f->feedback_words);
        vm_disassemble(out, f->code, f->length);
        for (size_t k = 0; k < f->constant_count; k++) {
            const struct vm_constant *c = &f->constants[k];
            if (c->kind == VM_CONSTANT_INT)
                fprintf(out, "  c%zu = %lld\n", k, (long long)c->int_value);
            else if (c->kind == VM_CONSTANT_DOUBLE)
                fprintf(out, "  c%zu = %.17g\n", k, c->double_value);
            else if (c->kind == VM_CONSTANT_NAME)
                fprintf(out, "  c%zu = name %s\n", k, module->names[c->index]);
            else
                fprintf(out, "  c%zu = function %s\n", k, module->functions[c->index].name);
        }
    }
}
