/*
 * The opcode table and the operand codec shared by the builder, the assembler, the
 * disassembler and the interpreter (bytecode.h).
 */
#include "vm/bytecode.h"

#include <pthread.h>
#include <string.h>

#define VM_KIND(k) VM_OPERAND_##k

static const struct vm_opcode_info opcode_table[VM_OPCODE_COUNT] = {
#define VM_OPCODE_INFO(name, a, b, c, d, fb)                                                       \
    {#name, {VM_KIND(a), VM_KIND(b), VM_KIND(c), VM_KIND(d)}, 0, VM_FEEDBACK_##fb, 0},
    VM_BYTECODE_LIST(VM_OPCODE_INFO)
#undef VM_OPCODE_INFO
};

static const struct {
    const char *name;
    int arity;
} intrinsic_table[VM_INTRINSIC_COUNT] = {
#define VM_INTRINSIC_INFO(name, argc) {#name, argc},
    VM_INTRINSIC_LIST(VM_INTRINSIC_INFO)
#undef VM_INTRINSIC_INFO
};

size_t vm_operand_size_bytes(enum vm_operand_kind kind)
{
    switch (kind) {
    case VM_OPERAND_NONE:
        return 0;
    case VM_OPERAND_REG:
    case VM_OPERAND_COUNT:
    case VM_OPERAND_INTRINSIC:
        return 1;
    case VM_OPERAND_CONST:
    case VM_OPERAND_NAME:
    case VM_OPERAND_FUNC:
    case VM_OPERAND_GLOBAL:
    case VM_OPERAND_FEEDBACK:
        return 2;
    case VM_OPERAND_IMM:
    case VM_OPERAND_LABEL:
        return 4;
    }
    return 0;
}

const char *vm_operand_kind_name(enum vm_operand_kind kind)
{
    static const char *const names[] = {"none",     "register",  "count",        "immediate",
                                        "constant", "name",      "function",     "global",
                                        "label",    "intrinsic", "feedback slot"};
    return kind <= VM_OPERAND_FEEDBACK ? names[kind] : "?";
}

size_t vm_feedback_words(enum vm_feedback_kind kind)
{
    switch (kind) {
    case VM_FEEDBACK_NONE:
        return 0;
    case VM_FEEDBACK_BINARY_OP:
    case VM_FEEDBACK_COMPARE:
    case VM_FEEDBACK_KEYED:
        return 1;
    case VM_FEEDBACK_CALL:
        return 2;
    case VM_FEEDBACK_PROPERTY:
        return 1 + 2 * VM_POLYMORPHIC_MAPS;
    }
    return 0;
}

/* The table's derived fields (operand count and instruction size), filled once. */
static struct vm_opcode_info derived[VM_OPCODE_COUNT];
static pthread_once_t derived_once = PTHREAD_ONCE_INIT;

static void derive(void)
{
    for (int op = 0; op < VM_OPCODE_COUNT; op++) {
        struct vm_opcode_info info = opcode_table[op];
        size_t size = 1;
        info.operand_count = 0;
        for (int i = 0; i < VM_MAX_OPERANDS && info.operands[i] != VM_OPERAND_NONE; i++) {
            size += vm_operand_size_bytes(info.operands[i]);
            info.operand_count++;
        }
        info.size_bytes = (uint8_t)size;
        derived[op] = info;
    }
}

const struct vm_opcode_info *vm_opcode_info(enum vm_opcode op)
{
    pthread_once(&derived_once, derive);
    return (unsigned)op < VM_OPCODE_COUNT ? &derived[op] : NULL;
}

const struct vm_opcode_info *vm_opcode_table(void)
{
    pthread_once(&derived_once, derive);
    return derived;
}

int vm_opcode_find(const char *name, size_t length)
{
    for (int op = 0; op < VM_OPCODE_COUNT; op++)
        if (strlen(opcode_table[op].name) == length &&
            memcmp(opcode_table[op].name, name, length) == 0)
            return op;
    return -1;
}

int vm_intrinsic_find(const char *name, size_t length)
{
    for (int id = 0; id < VM_INTRINSIC_COUNT; id++)
        if (strlen(intrinsic_table[id].name) == length &&
            memcmp(intrinsic_table[id].name, name, length) == 0)
            return id;
    return -1;
}

const char *vm_intrinsic_name(enum vm_intrinsic id)
{
    return (unsigned)id < VM_INTRINSIC_COUNT ? intrinsic_table[id].name : "?";
}

int vm_intrinsic_arity(enum vm_intrinsic id)
{
    return (unsigned)id < VM_INTRINSIC_COUNT ? intrinsic_table[id].arity : -1;
}

int64_t vm_operand(const uint8_t *code, enum vm_opcode op, int i)
{
    const struct vm_opcode_info *info = vm_opcode_info(op);
    const uint8_t *p = code + 1;
    for (int k = 0; k < i; k++)
        p += vm_operand_size_bytes(info->operands[k]);
    switch (vm_operand_size_bytes(info->operands[i])) {
    case 1:
        return p[0];
    case 2:
        return (int64_t)(p[0] | (uint32_t)p[1] << 8);
    case 4: {
        uint32_t u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        return info->operands[i] == VM_OPERAND_IMM ? (int64_t)(int32_t)u : (int64_t)u;
    }
    }
    return 0;
}

int vm_disassemble(FILE *out, const uint8_t *code, size_t length)
{
    size_t pc = 0;
    while (pc < length) {
        if (code[pc] >= VM_OPCODE_COUNT)
            return -1;
        enum vm_opcode op = code[pc];
        const struct vm_opcode_info *info = vm_opcode_info(op);
        if (pc + info->size_bytes > length)
            return -1;
        fprintf(out, "%6zu: %s", pc, info->name);
        for (int i = 0; i < info->operand_count; i++) {
            int64_t v = vm_operand(code + pc, op, i);
            fprintf(out, i ? ", " : " ");
            switch (info->operands[i]) {
            case VM_OPERAND_REG:
                fprintf(out, "r%lld", (long long)v);
                break;
            case VM_OPERAND_CONST:
            case VM_OPERAND_NAME:
            case VM_OPERAND_FUNC:
                fprintf(out, "[c%lld]", (long long)v);
                break;
            case VM_OPERAND_GLOBAL:
                fprintf(out, "[g%lld]", (long long)v);
                break;
            case VM_OPERAND_LABEL:
                fprintf(out, "@%lld", (long long)v);
                break;
            case VM_OPERAND_INTRINSIC:
                fprintf(out, "%s", vm_intrinsic_name((enum vm_intrinsic)v));
                break;
            case VM_OPERAND_FEEDBACK:
                fprintf(out, "[f%lld]", (long long)v);
                break;
            default:
                fprintf(out, "%lld", (long long)v);
                break;
            }
        }
        fprintf(out, "\n");
        pc += info->size_bytes;
    }
    return 0;
}
