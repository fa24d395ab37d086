/*
 * lib/vm arithmetic: the semantics of Add, Sub, Mul, Div and Mod that the interpreter,
 * the optimizing tier and its constant folding share (vm_arith in vm.h). Smis stay Smis
 * while the result is an integer in the Smi range other than -0; everything else is a
 * double (numbers are canonical, vm.h).
 */
#include <math.h>
#include <stdbool.h>

#include "vm/vm.h"

/* lhs op rhs for Add..Mod: a Smi in *smi or a double in *d. */
enum vm_arith_result vm_arith(enum vm_opcode op, value_t lhs, value_t rhs, int64_t *smi, double *d)
{
    if (value_is_smi(lhs) && value_is_smi(rhs)) {
        int64_t a = value_to_smi(lhs), b = value_to_smi(rhs), r;
        bool overflow = false;
        switch (op) {
        case VM_OP_Add:
            overflow = __builtin_add_overflow(a, b, &r);
            break;
        case VM_OP_Sub:
            overflow = __builtin_sub_overflow(a, b, &r);
            break;
        case VM_OP_Mul:
            overflow = __builtin_mul_overflow(a, b, &r);
            if (!overflow && r == 0 && (a < 0 || b < 0))
                overflow = true; /* -0 is a double */
            break;
        case VM_OP_Div:
            if (b != 0 && a % b == 0 && !(a == 0 && b < 0)) {
                r = a / b;
            } else {
                *d = (double)a / (double)b;
                return VM_ARITH_DOUBLE;
            }
            break;
        default: /* Mod */
            if (b == 0) {
                *d = NAN;
                return VM_ARITH_DOUBLE;
            }
            r = a % b;
            if (r == 0 && a < 0)
                overflow = true; /* -0 is a double */
            break;
        }
        if (!overflow && (r >= VALUE_SMI_MIN && r <= VALUE_SMI_MAX)) {
            *smi = r;
            return VM_ARITH_SMI;
        }
        /* Past the Smi range, or -0: Add, Sub, Mul, Div (only SMI_MIN / -1 gets here) and
         * Mod (a negative multiple of b) as doubles. */
        *d = op == VM_OP_Add   ? (double)a + (double)b
             : op == VM_OP_Sub ? (double)a - (double)b
             : op == VM_OP_Mul ? (double)a * (double)b
             : op == VM_OP_Div ? (double)a / (double)b
                               : fmod((double)a, (double)b);
        return VM_ARITH_DOUBLE;
    }
    double a, b;
    if (!vm_value_to_number(lhs, &a) || !vm_value_to_number(rhs, &b))
        return VM_ARITH_TYPE_ERROR;
    switch (op) {
    case VM_OP_Add:
        *d = a + b;
        break;
    case VM_OP_Sub:
        *d = a - b;
        break;
    case VM_OP_Mul:
        *d = a * b;
        break;
    case VM_OP_Div:
        *d = a / b;
        break;
    default:
        *d = fmod(a, b);
        break;
    }
    return VM_ARITH_DOUBLE;
}
