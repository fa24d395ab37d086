/*
 * lib/vm bytecode: an accumulator-and-register bytecode after V8's Ignition (Hölttä and
 * others, "Ignition: an interpreter for V8", BlinkOn 2016). Most instructions read one
 * operand from a register and the other from the accumulator, and leave their result in
 * the accumulator; Star and Ldar move values between the two.
 *
 * One table (VM_BYTECODE_LIST) gives every opcode its operand kinds. The assembler, the
 * C builder, the disassembler and the interpreter all read it, so an opcode's encoding
 * is written down once. Operands have fixed widths per kind and are little-endian;
 * jump targets are absolute bytecode offsets. Instructions that collect type feedback
 * carry a FEEDBACK operand: the index of their first word in the function's feedback
 * vector (the builder assigns it; assembly text never writes it).
 */
#ifndef WALTZ_VM_BYTECODE_H
#define WALTZ_VM_BYTECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum vm_operand_kind {
    VM_OPERAND_NONE,
    VM_OPERAND_REG,       /* a register r0..r254 (1 byte) */
    VM_OPERAND_COUNT,     /* a small count, 0..255 (1 byte) */
    VM_OPERAND_IMM,       /* a signed 32-bit immediate (4 bytes) */
    VM_OPERAND_CONST,     /* a number in the constant pool (2 bytes) */
    VM_OPERAND_NAME,      /* a property name in the constant pool (2 bytes) */
    VM_OPERAND_FUNC,      /* a function of the module, in the constant pool (2 bytes) */
    VM_OPERAND_GLOBAL,    /* a global variable of the module (2 bytes) */
    VM_OPERAND_LABEL,     /* a jump target: absolute bytecode offset (4 bytes) */
    VM_OPERAND_INTRINSIC, /* an intrinsic id (1 byte) */
    VM_OPERAND_FEEDBACK,  /* first word of a feedback slot (2 bytes; implicit in text) */
};

/* Feedback slot kinds, and how many feedback-vector words each takes. */
enum vm_feedback_kind {
    VM_FEEDBACK_NONE,
    VM_FEEDBACK_BINARY_OP, /* [lattice Smi] */
    VM_FEEDBACK_COMPARE,   /* [lattice Smi] */
    VM_FEEDBACK_PROPERTY,  /* [state Smi][map, handler] x VM_POLYMORPHIC_MAPS */
    VM_FEEDBACK_KEYED,     /* [state bits Smi] */
    VM_FEEDBACK_CALL,      /* [call count Smi][target: function, undefined or megamorphic] */
};
#define VM_POLYMORPHIC_MAPS 4

/* name, operand kinds (up to four), feedback kind. */
#define VM_BYTECODE_LIST(X)                                                                        \
    X(LdaSmi, IMM, NONE, NONE, NONE, NONE)                                                         \
    X(LdaConstant, CONST, NONE, NONE, NONE, NONE)                                                  \
    X(LdaUndefined, NONE, NONE, NONE, NONE, NONE)                                                  \
    X(LdaNull, NONE, NONE, NONE, NONE, NONE)                                                       \
    X(LdaTrue, NONE, NONE, NONE, NONE, NONE)                                                       \
    X(LdaFalse, NONE, NONE, NONE, NONE, NONE)                                                      \
    X(Ldar, REG, NONE, NONE, NONE, NONE)                                                           \
    X(Star, REG, NONE, NONE, NONE, NONE)                                                           \
    X(Mov, REG, REG, NONE, NONE, NONE)                                                             \
    X(Add, REG, FEEDBACK, NONE, NONE, BINARY_OP)                                                   \
    X(Sub, REG, FEEDBACK, NONE, NONE, BINARY_OP)                                                   \
    X(Mul, REG, FEEDBACK, NONE, NONE, BINARY_OP)                                                   \
    X(Div, REG, FEEDBACK, NONE, NONE, BINARY_OP)                                                   \
    X(Mod, REG, FEEDBACK, NONE, NONE, BINARY_OP)                                                   \
    X(Inc, FEEDBACK, NONE, NONE, NONE, BINARY_OP)                                                  \
    X(Dec, FEEDBACK, NONE, NONE, NONE, BINARY_OP)                                                  \
    X(Negate, FEEDBACK, NONE, NONE, NONE, BINARY_OP)                                               \
    X(TestEqual, REG, FEEDBACK, NONE, NONE, COMPARE)                                               \
    X(TestLessThan, REG, FEEDBACK, NONE, NONE, COMPARE)                                            \
    X(TestLessThanOrEqual, REG, FEEDBACK, NONE, NONE, COMPARE)                                     \
    X(TestGreaterThan, REG, FEEDBACK, NONE, NONE, COMPARE)                                         \
    X(TestGreaterThanOrEqual, REG, FEEDBACK, NONE, NONE, COMPARE)                                  \
    X(LogicalNot, NONE, NONE, NONE, NONE, NONE)                                                    \
    X(Jump, LABEL, NONE, NONE, NONE, NONE)                                                         \
    X(JumpIfTrue, LABEL, NONE, NONE, NONE, NONE)                                                   \
    X(JumpIfFalse, LABEL, NONE, NONE, NONE, NONE)                                                  \
    X(JumpLoop, LABEL, NONE, NONE, NONE, NONE)                                                     \
    X(CreateObject, COUNT, NONE, NONE, NONE, NONE)                                                 \
    X(LdaNamedProperty, REG, NAME, FEEDBACK, NONE, PROPERTY)                                       \
    X(StaNamedProperty, REG, NAME, FEEDBACK, NONE, PROPERTY)                                       \
    X(CreateArray, NONE, NONE, NONE, NONE, NONE)                                                   \
    X(LdaKeyedProperty, REG, FEEDBACK, NONE, NONE, KEYED)                                          \
    X(StaKeyedProperty, REG, REG, FEEDBACK, NONE, KEYED)                                           \
    X(CreateClosure, FUNC, NONE, NONE, NONE, NONE)                                                 \
    X(PushContext, COUNT, NONE, NONE, NONE, NONE)                                                  \
    X(PopContext, NONE, NONE, NONE, NONE, NONE)                                                    \
    X(LdaContextSlot, COUNT, COUNT, NONE, NONE, NONE)                                              \
    X(StaContextSlot, COUNT, COUNT, NONE, NONE, NONE)                                              \
    X(LdaGlobal, GLOBAL, NONE, NONE, NONE, NONE)                                                   \
    X(StaGlobal, GLOBAL, NONE, NONE, NONE, NONE)                                                   \
    X(Call, REG, REG, COUNT, FEEDBACK, CALL)                                                       \
    X(CallIntrinsic, INTRINSIC, REG, COUNT, NONE, NONE)                                            \
    X(Return, NONE, NONE, NONE, NONE, NONE)

enum vm_opcode {
#define VM_OPCODE_ENUM(name, a, b, c, d, fb) VM_OP_##name,
    VM_BYTECODE_LIST(VM_OPCODE_ENUM)
#undef VM_OPCODE_ENUM
        VM_OPCODE_COUNT
};

#define VM_MAX_OPERANDS 4

struct vm_opcode_info {
    const char *name;
    enum vm_operand_kind operands[VM_MAX_OPERANDS];
    uint8_t operand_count;
    enum vm_feedback_kind feedback;
    uint8_t size_bytes; /* the whole instruction, opcode byte included */
};

/* Intrinsics: CallIntrinsic id, first register, argument count. */
#define VM_INTRINSIC_LIST(X)                                                                       \
    X(sqrt, 1)                                                                                     \
    X(floor, 1)                                                                                    \
    X(abs, 1)                                                                                      \
    X(length, 1)                                                                                   \
    X(collect_garbage, 0)          /* a scavenge */                                                \
    X(full_gc, 0)                  /* an old-generation collection (the end of a marking cycle) */ \
    X(await_collection_request, 1) /* if the argument is truthy: wait, without polling, until      \
                                      another thread requests a safepoint */                       \
    X(collect_when_awaited, 0)     /* poll until a VM of the runtime awaits, then scavenge */

enum vm_intrinsic {
#define VM_INTRINSIC_ENUM(name, argc) VM_INTRINSIC_##name,
    VM_INTRINSIC_LIST(VM_INTRINSIC_ENUM)
#undef VM_INTRINSIC_ENUM
        VM_INTRINSIC_COUNT
};

const struct vm_opcode_info *vm_opcode_info(enum vm_opcode op);
/* The whole table, indexed by opcode (VM_OPCODE_COUNT entries). */
const struct vm_opcode_info *vm_opcode_table(void);
/* The opcode or intrinsic of this name (case-sensitive), or -1. */
int vm_opcode_find(const char *name, size_t length);
int vm_intrinsic_find(const char *name, size_t length);
const char *vm_intrinsic_name(enum vm_intrinsic id);
int vm_intrinsic_arity(enum vm_intrinsic id);
size_t vm_operand_size_bytes(enum vm_operand_kind kind);
const char *vm_operand_kind_name(enum vm_operand_kind kind);
size_t vm_feedback_words(enum vm_feedback_kind kind);

/* Operand i of the instruction at code (raw, sign-extended for IMM). */
int64_t vm_operand(const uint8_t *code, enum vm_opcode op, int i);

/* Writes one instruction per line ("  12: Add r1, [f3]") for [0, length). Returns 0, or
 * -1 if the bytes are not a whole sequence of instructions. */
int vm_disassemble(FILE *out, const uint8_t *code, size_t length);

#endif
