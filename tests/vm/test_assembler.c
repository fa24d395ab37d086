/*
 * Tests of the lib/vm assembler and builder: good programs assemble into the bytecode
 * the table says; every class of malformed program gives one "FILE:LINE:COL: error:"
 * line at the right place; mutated and random input never crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/module.h"

static struct vm_module *assemble(const char *text, char *error, size_t size)
{
    return vm_assemble("t.vm", text, strlen(text), error, size);
}

static const char good_program[] = "; a comment line\n"
                                   "# another\n"
                                   ".expect 75025\n"
                                   "\n"
                                   "function fib params 1 registers 4   ; trailing comment\n"
                                   "    LdaSmi 2\n"
                                   "    TestLessThan r0\n"
                                   "    JumpIfFalse recurse\n"
                                   "    Ldar r0\n"
                                   "    Return\n"
                                   "recurse: LdaGlobal fib\n"
                                   "    Star r1\n"
                                   "    Ldar r0\n"
                                   "    Dec\n"
                                   "    Star r2\n"
                                   "    Call r1, r2, 1\n"
                                   "    Star r3\n"
                                   "    LdaConstant 0x10\n"
                                   "    LdaConstant -2.5e-3\n"
                                   "    Return\n"
                                   "end\n"
                                   "function main registers 2\n"
                                   "    LdaSmi -7\n"
                                   "    Return\n"
                                   "end\n";

static void test_good_program(void **state)
{
    char error[512];
    struct vm_module *mod = assemble(good_program, error, sizeof error);
    if (!mod)
        print_error("%s\n", error);
    assert_non_null(mod);
    assert_int_equal(mod->function_count, 2);
    assert_string_equal(mod->functions[0].name, "fib");
    assert_int_equal(mod->functions[0].params, 1);
    assert_int_equal(mod->functions[0].registers, 4);
    assert_int_equal(mod->main_function, 1);
    assert_true(mod->has_expect);
    assert_false(mod->expect.is_double);
    assert_int_equal(mod->expect.int_value, 75025);
    /* Byte 0 is LdaSmi with its 32-bit immediate. */
    const struct vm_function_code *fib = &mod->functions[0];
    assert_int_equal(fib->code[0], VM_OP_LdaSmi);
    assert_int_equal(vm_operand(fib->code, VM_OP_LdaSmi, 0), 2);
    /* TestLessThan, Dec and Call got feedback slots of their kinds' sizes, in order. */
    size_t expected_words = vm_feedback_words(VM_FEEDBACK_COMPARE) +
                            vm_feedback_words(VM_FEEDBACK_BINARY_OP) +
                            vm_feedback_words(VM_FEEDBACK_CALL);
    assert_int_equal(fib->feedback_words, expected_words);
    /* The forward jump was patched to the label's offset: the LdaGlobal after Return. */
    size_t jump_at =
        vm_opcode_info(VM_OP_LdaSmi)->size_bytes + vm_opcode_info(VM_OP_TestLessThan)->size_bytes;
    assert_int_equal(fib->code[jump_at], VM_OP_JumpIfFalse);
    int64_t target = vm_operand(fib->code + jump_at, VM_OP_JumpIfFalse, 0);
    assert_int_equal(fib->code[target], VM_OP_LdaGlobal);
    /* Constants: 0x10 is a Smi, -2.5e-3 a double. */
    assert_int_equal(fib->constant_count, 2);
    assert_int_equal(fib->constants[0].kind, VM_CONSTANT_INT);
    assert_int_equal(fib->constants[0].int_value, 16);
    assert_int_equal(fib->constants[1].kind, VM_CONSTANT_DOUBLE);
    assert_true(fib->constants[1].double_value == -2.5e-3);
    /* The disassembly reads back every instruction. */
    char *dis = NULL;
    size_t dis_size = 0;
    FILE *out = open_memstream(&dis, &dis_size);
    assert_int_equal(vm_disassemble(out, fib->code, fib->length), 0);
    fclose(out);
    assert_non_null(strstr(dis, "Call r1, r2, 1, [f"));
    assert_non_null(strstr(dis, "TestLessThan r0, [f0]"));
    free(dis);
    vm_module_destroy(mod);
}

static void test_builder_api(void **state)
{
    struct vm_builder *b = vm_builder_create();
    assert_int_equal(vm_builder_begin_function(b, "main", 4, 0, 2), 0);
    int loop = vm_builder_new_label(b);
    int done = vm_builder_new_label(b);
    int64_t zero[] = {0}, r0[] = {0}, r1[] = {1}, ten[] = {10};
    assert_int_equal(vm_builder_emit(b, VM_OP_LdaSmi, zero, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Star, r0, 1), 0);
    assert_int_equal(vm_builder_bind_label(b, loop), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_LdaSmi, ten, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_TestLessThan, r0, 1), 0);
    int64_t to_done[] = {done}, to_loop[] = {loop};
    assert_int_equal(vm_builder_emit(b, VM_OP_JumpIfFalse, to_done, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Ldar, r0, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Inc, NULL, 0), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Star, r0, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_JumpLoop, to_loop, 1), 0);
    assert_int_equal(vm_builder_bind_label(b, done), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Ldar, r0, 1), 0);
    /* Wrong operand count and a register out of range fail but leave the builder usable. */
    assert_int_equal(vm_builder_emit(b, VM_OP_Ldar, NULL, 0), -1);
    assert_non_null(strstr(vm_builder_error(b), "takes 1 operand"));
    assert_int_equal(vm_builder_emit(b, VM_OP_Ldar, (int64_t[]){2}, 1), -1);
    assert_non_null(strstr(vm_builder_error(b), "out of range"));
    assert_int_equal(vm_builder_emit(b, VM_OP_Return, NULL, 0), 0);
    assert_int_equal(vm_builder_end_function(b), 0);
    /* A builder that failed once refuses to finish. */
    assert_null(vm_builder_finish(b));
    vm_builder_destroy(b);
    (void)r1;

    b = vm_builder_create();
    assert_int_equal(vm_builder_begin_function(b, "main", 4, 0, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_LdaSmi, (int64_t[]){7}, 1), 0);
    assert_int_equal(vm_builder_emit(b, VM_OP_Return, NULL, 0), 0);
    assert_int_equal(vm_builder_end_function(b), 0);
    struct vm_module *mod = vm_builder_finish(b);
    assert_non_null(mod);
    assert_int_equal(mod->function_count, 1);
    vm_builder_destroy(b);
    vm_module_destroy(mod);
}

struct bad_case {
    const char *what, *text, *error;
};

/* Each expected error is the whole first line: file, line, column and message. */
static const struct bad_case bad_cases[] = {
    {"empty file", "", "t.vm:1:1: error: the program has no functions (it needs a 'main')"},
    {"only comments", "; nothing\n# here\n",
     "t.vm:1:1: error: the program has no functions (it needs a 'main')"},
    {"unknown opcode", "function main\n    Frob r0\n    Return\nend\n",
     "t.vm:2:5: error: unknown opcode 'Frob'"},
    {"missing operand", "function main registers 1\n    Star\n    Return\nend\n",
     "t.vm:2:9: error: Star needs a register operand here"},
    {"extra operand", "function main registers 1\n    Return r0\nend\n",
     "t.vm:2:12: error: Return takes 0 operands: unexpected 'r0'"},
    {"missing comma", "function main registers 2\n    Mov r0 r1\n    Return\nend\n",
     "t.vm:2:12: error: expected ',' before the next operand of Mov"},
    {"wrong operand kind", "function main registers 1\n    Ldar 5\n    Return\nend\n",
     "t.vm:2:10: error: expected a register (r0, r1, ...), got '5'"},
    {"name where a number goes", "function main\n    LdaSmi x\n    Return\nend\n",
     "t.vm:2:12: error: expected a number, got 'x'"},
    {"undefined label", "function main\n    Jump nowhere\nend\n",
     "t.vm:2:10: error: undefined label in function 'main'"},
    {"duplicate label", "function main\nhere:\n    LdaSmi 1\nhere: Return\nend\n",
     "t.vm:4:1: error: duplicate label 'here' (first at 2:1)"},
    {"label at the end", "function main\n    Jump out\nout:\nend\n",
     "t.vm:3:1: error: label at the end of function 'main': no instruction follows it"},
    {"duplicate function", "function main\n    Return\nend\nfunction main\n    Return\nend\n",
     "t.vm:4:10: error: duplicate function 'main'"},
    {"register out of range", "function main registers 2\n    Ldar r2\n    Return\nend\n",
     "t.vm:2:10: error: register r2 is out of range: function 'main' has 2 registers"},
    {"huge register", "function main registers 2\n    Ldar r99999999999\n    Return\nend\n",
     "t.vm:2:10: error: register 'r99999999999' is out of range"},
    {"call registers out of range",
     "function main registers 2\n    Call r0, r1, 2\n    Return\nend\n",
     "t.vm:2:5: error: Call: registers r1..r2 are out of range: function 'main' has 2"},
    {"immediate out of range", "function main\n    LdaSmi 3000000000\n    Return\nend\n",
     "t.vm:2:12: error: LdaSmi takes a 32-bit integer: '3000000000' is out of range (use "
     "LdaConstant)"},
    {"integer out of range",
     "function main\n    LdaConstant 99999999999999999999\n    Return\nend\n",
     "t.vm:2:17: error: integer '99999999999999999999' is out of range"},
    {"integer past the Smi range",
     "function main\n    LdaConstant 4611686018427387904\n    Return\nend\n",
     "t.vm:2:17: error: integer '4611686018427387904' is out of the small-integer range (write "
     "it as a double)"},
    {"double out of range", "function main\n    LdaConstant 1e999\n    Return\nend\n",
     "t.vm:2:17: error: number '1e999' is out of range"},
    {"malformed number", "function main\n    LdaConstant 12abc\n    Return\nend\n",
     "t.vm:2:17: error: malformed number '12abc'"},
    {"too many registers", "function main registers 300\n    Return\nend\n",
     "t.vm:1:25: error: register count '300' is out of range 0..255"},
    {"params past registers", "function f params 3 registers 2\n    Return\nend\n",
     "t.vm:1:10: error: 3 parameters need at least as many registers (got 2)"},
    {"count out of range", "function main\n    CreateObject 256\n    Return\nend\n",
     "t.vm:2:18: error: count '256' is out of range 0..255"},
    {"missing end", "function main\n    Return\n",
     "t.vm:3:1: error: missing 'end' of the last function"},
    {"function inside function", "function main\n    Return\nfunction g\n",
     "t.vm:3:1: error: 'function' inside a function: the previous one has no 'end'"},
    {"end outside", "end\n", "t.vm:1:1: error: 'end' outside a function"},
    {"instruction outside", "    Return\n",
     "t.vm:1:5: error: instruction Return outside a function"},
    {"falls off the end", "function main\n    LdaSmi 1\nend\n",
     "t.vm:3:1: error: function 'main' can run off its end: its last instruction must be Return, "
     "Jump or JumpLoop"},
    {"no instructions", "function main\nend\n",
     "t.vm:2:1: error: function 'main' has no instructions"},
    {"JumpLoop forwards", "function main\n    JumpLoop ahead\nahead: Return\nend\n",
     "t.vm:2:14: error: JumpLoop must jump backwards (it is the loop's back-edge); use Jump"},
    /* Found by tests/fuzz: a backward conditional jump looped without a back-edge, so
     * vm->step_limit (and tier-up) never saw the loop. */
    {"JumpIfTrue backwards", "function main\ntop: LdaTrue\n    JumpIfTrue top\n    Return\nend\n",
     "t.vm:3:16: error: JumpIfTrue must jump forwards: a backward jump is a loop's back-edge, "
     "which only JumpLoop is (the step limit and tier-up count it)"},
    {"Jump to itself", "function main\nself: Jump self\nend\n",
     "t.vm:2:12: error: Jump must jump forwards: a backward jump is a loop's back-edge, which "
     "only JumpLoop is (the step limit and tier-up count it)"},
    {"undefined function", "function main\n    CreateClosure ghost\n    Return\nend\n",
     "t.vm:2:19: error: undefined function 'ghost'"},
    {"unknown intrinsic",
     "function main registers 1\n    CallIntrinsic cbrt, r0, 1\n    Return\nend\n",
     "t.vm:2:19: error: unknown intrinsic 'cbrt'"},
    {"intrinsic arity",
     "function main registers 2\n    CallIntrinsic sqrt, r0, 2\n    Return\nend\n",
     "t.vm:2:5: error: intrinsic sqrt takes 1 argument, got 2"},
    {"no main", "function f\n    Return\nend\n",
     "t.vm:1:1: error: the program has no function 'main'"},
    {"main with parameters", ".main f\nfunction f params 1\n    Return\nend\n",
     "t.vm:1:7: error: the main function 'f' must take no parameters"},
    {"unknown directive", ".frobnicate 3\n",
     "t.vm:1:1: error: unknown directive '.frobnicate' (known: .expect, .main)"},
    {"expect without number", ".expect\n", "t.vm:1:8: error: .expect needs a number"},
    {"binary garbage",
     "\x7f"
     "ELF\x02\x01\x01",
     "t.vm:1:1: error: unexpected byte 0x7f (not printable ASCII)"},
    {"unexpected character", "function main\n    Ldar @r0\nend\n",
     "t.vm:2:10: error: unexpected character '@'"},
    {"label outside a function", "top:\n", "t.vm:1:1: error: label 'top' outside a function"},
};

static void test_bad_programs(void **state)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        char error[512];
        struct vm_module *mod = assemble(c->text, error, sizeof error);
        if (mod) {
            print_error("%s: assembled, expected: %s\n", c->what, c->error);
            vm_module_destroy(mod);
            failures++;
        } else if (strcmp(error, c->error) != 0) {
            print_error("%s:\n  got      %s\n  expected %s\n", c->what, error, c->error);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* A NUL byte in the middle of the text (the text is not NUL-terminated there). */
static void test_nul_byte(void **state)
{
    const char text[] = "function main\n    \0Return\nend\n";
    char error[512];
    struct vm_module *mod = vm_assemble("t.vm", text, sizeof text - 1, error, sizeof error);
    assert_null(mod);
    assert_string_equal(error, "t.vm:2:5: error: unexpected byte 0x00 (not printable ASCII)");
}

/* Very long lines: a comment of 1 MiB is fine; a name of 100000 bytes is an error. */
static void test_long_lines(void **state)
{
    size_t n = (size_t)1 << 20;
    char *text = malloc(n + 64);
    strcpy(text, "function main\n;");
    size_t at = strlen(text);
    memset(text + at, 'x', n);
    strcpy(text + at + n, "\n    Return\nend\n");
    char error[512];
    struct vm_module *mod = assemble(text, error, sizeof error);
    if (!mod)
        print_error("%s\n", error);
    assert_non_null(mod);
    vm_module_destroy(mod);

    strcpy(text, "function main registers 1\n    LdaGlobal ");
    at = strlen(text);
    memset(text + at, 'g', 100000);
    strcpy(text + at + 100000, "\n    Return\nend\n");
    mod = assemble(text, error, sizeof error);
    assert_null(mod);
    assert_string_equal(error, "t.vm:2:15: error: a global name is longer than 255 bytes");
    free(text);
}

/* Mutations of a good program and random bytes: every one assembles or gives one
 * error line that names t.vm, and nothing crashes (ASan checks the reads). */
static void test_mutations(void **state)
{
    size_t length = strlen(good_program);
    char *text = malloc(length);
    uint64_t x = 88172645463325252ull;
    int assembled = 0;
    for (int round = 0; round < 4000; round++) {
        memcpy(text, good_program, length);
        int edits = 1 + (int)(round % 4);
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t at = (size_t)(x % length);
            text[at] = (char)(x >> 32);
        }
        size_t cut = round % 5 == 0 ? (size_t)(x >> 40) % length : length;
        char error[512];
        struct vm_module *mod = vm_assemble("t.vm", text, cut, error, sizeof error);
        if (mod) {
            assembled++;
            vm_module_destroy(mod);
        } else {
            assert_int_equal(strncmp(error, "t.vm:", 5), 0);
            assert_non_null(strstr(error, ": error: "));
        }
    }
    assert_true(assembled > 0);
    free(text);
}

static void test_missing_file(void **state)
{
    char error[512];
    assert_null(vm_assemble_file("/nonexistent/prog.vm", error, sizeof error));
    assert_string_equal(error,
                        "/nonexistent/prog.vm: error: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_program), cmocka_unit_test(test_builder_api),
        cmocka_unit_test(test_bad_programs), cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_long_lines),   cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
