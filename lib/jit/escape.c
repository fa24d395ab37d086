/*
 * lib/jit escape analysis, restricted (after Kotzmann and Mössenböck, "Escape analysis in
 * the context of dynamic compilation and deoptimization", VEE 2005): see jit_ea_find in
 * code.h. The compiler (compiler.c) keeps the fields of the object it finds in window
 * registers, and its deopt points describe the object as captured.
 */
#include "jit/code.h"
#include "platform/platform.h"

static bool reads_reg(const uint8_t *code, size_t p, uint8_t r)
{
    enum vm_opcode op = (enum vm_opcode)code[p];
    switch (op) {
    case VM_OP_Ldar:
    case VM_OP_Mov:
    case VM_OP_Add:
    case VM_OP_Sub:
    case VM_OP_Mul:
    case VM_OP_Div:
    case VM_OP_Mod:
    case VM_OP_TestEqual:
    case VM_OP_TestLessThan:
    case VM_OP_TestLessThanOrEqual:
    case VM_OP_TestGreaterThan:
    case VM_OP_TestGreaterThanOrEqual:
    case VM_OP_LdaKeyedProperty:
        return code[p + 1] == r;
    case VM_OP_StaKeyedProperty:
        return code[p + 1] == r || code[p + 2] == r;
    case VM_OP_Call:
        return code[p + 1] == r || (r >= code[p + 2] && r < code[p + 2] + code[p + 3]);
    case VM_OP_CallIntrinsic:
        return r >= code[p + 2] && r < code[p + 2] + code[p + 3];
    default:
        return false;
    }
}

bool jit_ea_find(struct jit *j, struct object *feedback, const uint8_t *code, size_t length,
                 struct jit_ea *ea)
{
    const struct vm_opcode_info *table = vm_opcode_table();
    bool *target = platform_calloc(length + 1, sizeof *target);
    for (size_t p = 0; p < length; p += table[code[p]].size_bytes)
        if (table[code[p]].operands[0] == VM_OPERAND_LABEL)
            target[u32(code + p + 1)] = true;
    bool found = false;
    for (size_t at = 0; at < length && !found; at += table[code[at]].size_bytes) {
        size_t nx = at + table[VM_OP_CreateObject].size_bytes;
        if (code[at] != VM_OP_CreateObject || nx >= length || code[nx] != VM_OP_Star)
            continue;
        uint8_t r = code[nx + 1], cap = code[at + 1];
        const struct vm_shape *shape =
            __atomic_load_n(&j->vm->rt->object_roots[cap], __ATOMIC_ACQUIRE);
        size_t after = nx + table[VM_OP_Star].size_bytes;
        if (!shape || after >= length)
            continue;
        enum vm_opcode first = (enum vm_opcode)code[after];
        if (first != VM_OP_LdaSmi && first != VM_OP_LdaConstant && first != VM_OP_LdaUndefined &&
            first != VM_OP_LdaNull && first != VM_OP_LdaTrue && first != VM_OP_LdaFalse &&
            first != VM_OP_Ldar && first != VM_OP_LdaGlobal && first != VM_OP_LdaNamedProperty)
            continue;
        bool ok = true;
        size_t last = 0;
        for (size_t p = 0; p < length && ok; p += table[code[p]].size_bytes) {
            if (p == nx)
                continue;
            enum vm_opcode op = (enum vm_opcode)code[p];
            if ((op == VM_OP_Star && code[p + 1] == r) || (op == VM_OP_Mov && code[p + 2] == r) ||
                reads_reg(code, p, r))
                ok = false;
            else if ((op == VM_OP_LdaNamedProperty || op == VM_OP_StaNamedProperty) &&
                     code[p + 1] == r)
                ok = p > nx, last = p;
        }
        if (!ok || !last)
            continue;
        const struct vm_shape **before = platform_calloc(length + 1, sizeof *before);
        before[nx] = shape;
        for (size_t p = after; p <= last && ok; p += table[code[p]].size_bytes) {
            before[p] = shape;
            enum vm_opcode op = (enum vm_opcode)code[p];
            if (target[p] || table[op].operands[0] == VM_OPERAND_LABEL || op == VM_OP_Return) {
                ok = false;
                break;
            }
            if ((op != VM_OP_LdaNamedProperty && op != VM_OP_StaNamedProperty) || code[p + 1] != r)
                continue;
            size_t fb = 2 + u16(code + p + 4);
            value_t map = object_get(feedback, fb + 1), handler = object_get(feedback, fb + 2);
            if (value_to_smi(object_get(feedback, fb)) != VM_IC_MONOMORPHIC ||
                map != value_from_object(shape->map)) {
                ok = false;
            } else if (value_is_smi(handler)) {
                ok = value_to_smi(handler) < cap &&
                     (op == VM_OP_LdaNamedProperty || value_to_smi(handler) >= 0);
            } else if (op == VM_OP_StaNamedProperty) {
                shape = vm_shape_of_map(j->vm->rt, value_to_object(handler));
                ok = shape && shape->property_count >= 1 && shape->property_count - 1 < cap;
            } else {
                ok = false;
            }
        }
        if (!ok) {
            platform_free(before);
            continue;
        }
        *ea = (struct jit_ea){
            .create_at = at, .last_at = last, .reg = r, .capacity = cap, .shape_before = before};
        found = true;
    }
    platform_free(target);
    return found;
}
