/*
 * The text assembler of lib/vm (the format is in docs/vm.md): one statement per line,
 * read by a hand-written scanner over the whole buffer, fed to the C builder
 * (builder.c) with the line and column of every token, so that each error, found now
 * or when a label or function is resolved later, reads "FILE:LINE:COL: error: ...".
 *
 * The scanner takes any bytes: a NUL, a byte outside printable ASCII (outside comments)
 * or an over-long token is an error at its position, never a crash; nothing is copied
 * into a fixed buffer without a length check.
 */
#include "vm/module.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"

struct token {
    const char *start;
    size_t length;
    uint32_t line, column;
};

struct label_name {
    const char *start;
    size_t length;
    int id;
    bool bound;
    uint32_t line, column;
};

struct assembler {
    const char *file;
    const char *text, *end;
    const char *p; /* scanning position */
    uint32_t line;
    const char *line_start;
    struct vm_builder *b;
    struct label_name *labels;
    size_t label_count, label_capacity;
    char *error;
    size_t error_size;
    bool failed;
};

static int error_at(struct assembler *a, uint32_t line, uint32_t column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int error_at(struct assembler *a, uint32_t line, uint32_t column, const char *fmt, ...)
{
    if (a->failed)
        return -1;
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    snprintf(a->error, a->error_size, "%s:%u:%u: error: %s", a->file, line, column, message);
    a->failed = true;
    return -1;
}

static uint32_t column_of(struct assembler *a, const char *p)
{
    return (uint32_t)(p - a->line_start) + 1;
}

/* A builder failure: the builder's site if it has one, else the current token's. */
static int builder_failed(struct assembler *a, const struct token *t)
{
    uint32_t line, column;
    vm_builder_error_site(a->b, &line, &column);
    if (line == 0 && t)
        line = t->line, column = t->column;
    if (line == 0)
        line = a->line, column = column_of(a, a->p);
    return error_at(a, line, column, "%s", vm_builder_error(a->b));
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' ||
           c == 'x' || c == 'X' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool at_line_end(struct assembler *a)
{
    return a->p >= a->end || *a->p == '\n' || *a->p == ';' || *a->p == '#';
}

static void skip_blanks(struct assembler *a)
{
    while (a->p < a->end && (*a->p == ' ' || *a->p == '\t' || *a->p == '\r'))
        a->p++;
}

/* The next token on this line: an identifier, a number, or one punctuation character
 * (',' or ':'). Returns 0, or -1 (error) for a character that starts no token. */
static int next_token(struct assembler *a, struct token *t)
{
    skip_blanks(a);
    t->start = a->p;
    t->line = a->line;
    t->column = column_of(a, a->p);
    t->length = 0;
    if (at_line_end(a))
        return 0;
    char c = *a->p;
    const char *q = a->p;
    if (is_ident_start(c) || (c == '.' && q + 1 < a->end && is_ident_start(q[1]))) {
        q++;
        while (q < a->end && is_ident_char(*q))
            q++;
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
        q++;
        while (q < a->end && is_number_char(*q))
            q++;
    } else if (c == ',' || c == ':') {
        q++;
    } else {
        unsigned char u = (unsigned char)c;
        if (u >= 0x20 && u < 0x7f)
            return error_at(a, t->line, t->column, "unexpected character '%c'", c);
        return error_at(a, t->line, t->column, "unexpected byte 0x%02x (not printable ASCII)", u);
    }
    t->length = (size_t)(q - a->p);
    a->p = q;
    return 0;
}

static bool token_is(const struct token *t, const char *s)
{
    return t->length == strlen(s) && memcmp(t->start, s, t->length) == 0;
}

static bool token_is_ident(const struct token *t)
{
    return t->length > 0 && is_ident_start(t->start[0]);
}

/* Moves to the start of the next line, checking that the rest of this one is blank or a
 * comment (a comment may hold any bytes). */
static int finish_line(struct assembler *a)
{
    skip_blanks(a);
    if (a->p < a->end && *a->p != '\n' && *a->p != ';' && *a->p != '#') {
        struct token t;
        if (next_token(a, &t) != 0)
            return -1;
        return error_at(a, t.line, t.column, "unexpected '%.*s' at the end of the statement",
                        (int)(t.length > 40 ? 40 : t.length), t.start);
    }
    while (a->p < a->end && *a->p != '\n')
        a->p++;
    if (a->p < a->end) {
        a->p++;
        a->line++;
        a->line_start = a->p;
    }
    return 0;
}

/* Parses a number token: an integer (decimal or 0x hex) or a double. */
static int parse_number(struct assembler *a, const struct token *t, struct vm_number *n)
{
    char buf[64];
    if (t->length == 0 || token_is_ident(t))
        return error_at(a, t->line, t->column, "expected a number, got '%.*s'",
                        (int)(t->length > 40 ? 40 : t->length), t->start);
    if (t->length >= sizeof buf)
        return error_at(a, t->line, t->column, "number is longer than %zu characters",
                        sizeof buf - 1);
    memcpy(buf, t->start, t->length);
    buf[t->length] = '\0';
    bool is_double =
        strpbrk(buf, ".eE") != NULL && strstr(buf, "0x") == NULL && strstr(buf, "0X") == NULL;
    char *end;
    errno = 0;
    if (is_double) {
        double d = strtod(buf, &end);
        if (*end != '\0' || end == buf)
            return error_at(a, t->line, t->column, "malformed number '%s'", buf);
        if (errno == ERANGE && isinf(d))
            return error_at(a, t->line, t->column, "number '%s' is out of range", buf);
        *n = (struct vm_number){.is_double = true, .double_value = d};
        return 0;
    }
    long long v = strtoll(buf, &end, 0);
    if (*end != '\0' || end == buf)
        return error_at(a, t->line, t->column, "malformed number '%s'", buf);
    if (errno == ERANGE)
        return error_at(a, t->line, t->column, "integer '%s' is out of range", buf);
    *n = (struct vm_number){.int_value = v};
    return 0;
}

static int parse_uint_token(struct assembler *a, const struct token *t, const char *what,
                            uint32_t max, uint32_t *out)
{
    struct vm_number n;
    if (parse_number(a, t, &n) != 0)
        return -1;
    if (n.is_double || n.int_value < 0 || n.int_value > (int64_t)max)
        return error_at(a, t->line, t->column, "%s '%.*s' is out of range 0..%u", what,
                        (int)(t->length > 40 ? 40 : t->length), t->start, max);
    *out = (uint32_t)n.int_value;
    return 0;
}

static int expect_ident(struct assembler *a, struct token *t, const char *what)
{
    if (next_token(a, t) != 0)
        return -1;
    if (!token_is_ident(t)) {
        if (t->length == 0)
            return error_at(a, t->line, t->column, "expected %s", what);
        return error_at(a, t->line, t->column, "expected %s, got '%.*s'", what,
                        (int)(t->length > 40 ? 40 : t->length), t->start);
    }
    return 0;
}

static struct label_name *find_label(struct assembler *a, const struct token *t)
{
    for (size_t i = 0; i < a->label_count; i++)
        if (a->labels[i].length == t->length &&
            memcmp(a->labels[i].start, t->start, t->length) == 0)
            return &a->labels[i];
    return NULL;
}

static int label_id(struct assembler *a, const struct token *t, struct label_name **out)
{
    struct label_name *l = find_label(a, t);
    if (!l) {
        if (t->length > VM_MAX_NAME_BYTES)
            return error_at(a, t->line, t->column, "label name is longer than %d bytes",
                            VM_MAX_NAME_BYTES);
        vm_builder_set_site(a->b, t->line, t->column);
        int id = vm_builder_new_label(a->b);
        if (id < 0)
            return builder_failed(a, t);
        if (a->label_count == a->label_capacity) {
            a->label_capacity = a->label_capacity ? a->label_capacity * 2 : 16;
            a->labels = platform_realloc(a->labels, a->label_capacity * sizeof *a->labels);
        }
        l = &a->labels[a->label_count++];
        *l = (struct label_name){.start = t->start, .length = t->length, .id = id};
    }
    *out = l;
    return 0;
}

static int parse_operand(struct assembler *a, const struct vm_opcode_info *info,
                         enum vm_operand_kind kind, size_t index, int64_t *out)
{
    struct token t;
    if (next_token(a, &t) != 0)
        return -1;
    if (t.length == 0)
        return error_at(a, t.line, t.column, "%s needs a %s operand here", info->name,
                        vm_operand_kind_name(kind));
    vm_builder_set_site(a->b, t.line, t.column);
    vm_builder_set_operand_site(a->b, index, t.line, t.column);
    int k;
    switch (kind) {
    case VM_OPERAND_REG: {
        uint32_t r = 0;
        if (t.length < 2 || t.start[0] != 'r' || t.start[1] < '0' || t.start[1] > '9')
            return error_at(a, t.line, t.column, "expected a register (r0, r1, ...), got '%.*s'",
                            (int)(t.length > 40 ? 40 : t.length), t.start);
        struct token digits = t;
        digits.start++;
        digits.length--;
        digits.column++;
        for (size_t i = 0; i < digits.length; i++)
            if (digits.start[i] < '0' || digits.start[i] > '9')
                return error_at(a, t.line, t.column, "malformed register '%.*s'",
                                (int)(t.length > 40 ? 40 : t.length), t.start);
        if (digits.length > 6)
            return error_at(a, t.line, t.column, "register '%.*s' is out of range",
                            (int)(t.length > 40 ? 40 : t.length), t.start);
        if (parse_uint_token(a, &digits, "register", 999999, &r) != 0)
            return -1;
        *out = r;
        return 0;
    }
    case VM_OPERAND_COUNT: {
        uint32_t v = 0;
        if (parse_uint_token(a, &t, "count", 255, &v) != 0)
            return -1;
        *out = v;
        return 0;
    }
    case VM_OPERAND_IMM: {
        struct vm_number n;
        if (parse_number(a, &t, &n) != 0)
            return -1;
        if (n.is_double || n.int_value < INT32_MIN || n.int_value > INT32_MAX)
            return error_at(a, t.line, t.column,
                            "%s takes a 32-bit integer: '%.*s' is out of "
                            "range (use LdaConstant)",
                            info->name, (int)(t.length > 40 ? 40 : t.length), t.start);
        *out = n.int_value;
        return 0;
    }
    case VM_OPERAND_CONST: {
        struct vm_number n;
        if (parse_number(a, &t, &n) != 0)
            return -1;
        if (!n.is_double && (n.int_value > VM_SMI_MAX_VALUE || n.int_value < VM_SMI_MIN_VALUE))
            return error_at(a, t.line, t.column,
                            "integer '%.*s' is out of the small-integer "
                            "range (write it as a double)",
                            (int)(t.length > 40 ? 40 : t.length), t.start);
        k = n.is_double ? vm_builder_constant_double(a->b, n.double_value)
                        : vm_builder_constant_int(a->b, n.int_value);
        break;
    }
    case VM_OPERAND_NAME:
    case VM_OPERAND_FUNC:
    case VM_OPERAND_GLOBAL:
    case VM_OPERAND_LABEL:
    case VM_OPERAND_INTRINSIC:
        if (!token_is_ident(&t))
            return error_at(a, t.line, t.column, "expected a %s name, got '%.*s'",
                            vm_operand_kind_name(kind), (int)(t.length > 40 ? 40 : t.length),
                            t.start);
        if (kind == VM_OPERAND_LABEL) {
            struct label_name *l;
            if (label_id(a, &t, &l) != 0)
                return -1;
            *out = l->id;
            return 0;
        }
        if (kind == VM_OPERAND_INTRINSIC) {
            int id = vm_intrinsic_find(t.start, t.length);
            if (id < 0)
                return error_at(a, t.line, t.column, "unknown intrinsic '%.*s'",
                                (int)(t.length > 40 ? 40 : t.length), t.start);
            *out = id;
            return 0;
        }
        k = kind == VM_OPERAND_NAME   ? vm_builder_constant_name(a->b, t.start, t.length)
            : kind == VM_OPERAND_FUNC ? vm_builder_constant_function(a->b, t.start, t.length)
                                      : vm_builder_global(a->b, t.start, t.length);
        break;
    default:
        return error_at(a, t.line, t.column, "internal error: operand kind %d", (int)kind);
    }
    if (k < 0)
        return builder_failed(a, &t);
    *out = k;
    return 0;
}

static int parse_instruction(struct assembler *a, const struct token *name)
{
    int op = vm_opcode_find(name->start, name->length);
    if (op < 0)
        return error_at(a, name->line, name->column, "unknown opcode '%.*s'",
                        (int)(name->length > 40 ? 40 : name->length), name->start);
    if (!vm_builder_in_function(a->b))
        return error_at(a, name->line, name->column, "instruction %s outside a function",
                        vm_opcode_info(op)->name);
    const struct vm_opcode_info *info = vm_opcode_info(op);
    int64_t operands[VM_MAX_OPERANDS];
    size_t count = 0;
    for (int i = 0; i < info->operand_count; i++) {
        if (info->operands[i] == VM_OPERAND_FEEDBACK)
            continue;
        if (count > 0) {
            struct token comma;
            if (next_token(a, &comma) != 0)
                return -1;
            if (!token_is(&comma, ","))
                return error_at(a, comma.line, comma.column,
                                comma.length ? "expected ',' before the next operand of %s"
                                             : "%s needs more operands",
                                info->name);
        }
        if (parse_operand(a, info, info->operands[i], count, &operands[count]) != 0)
            return -1;
        count++;
    }
    skip_blanks(a);
    if (!at_line_end(a)) {
        struct token extra;
        if (next_token(a, &extra) != 0)
            return -1;
        return error_at(a, extra.line, extra.column, "%s takes %zu operand%s: unexpected '%.*s'",
                        info->name, count, count == 1 ? "" : "s",
                        (int)(extra.length > 40 ? 40 : extra.length), extra.start);
    }
    vm_builder_set_site(a->b, name->line, name->column);
    if (vm_builder_emit(a->b, (enum vm_opcode)op, operands, count) != 0)
        return builder_failed(a, name);
    return 0;
}

static int parse_function(struct assembler *a, const struct token *keyword)
{
    if (vm_builder_in_function(a->b))
        return error_at(a, keyword->line, keyword->column,
                        "'function' inside a function: the previous one has no 'end'");
    struct token name;
    if (expect_ident(a, &name, "a function name") != 0)
        return -1;
    uint32_t params = 0, registers = 0;
    bool have_params = false, have_registers = false;
    for (;;) {
        struct token key, value;
        if (next_token(a, &key) != 0)
            return -1;
        if (key.length == 0)
            break;
        bool is_params = token_is(&key, "params"), is_registers = token_is(&key, "registers");
        if (!is_params && !is_registers)
            return error_at(a, key.line, key.column,
                            "expected 'params N' or 'registers N', "
                            "got '%.*s'",
                            (int)(key.length > 40 ? 40 : key.length), key.start);
        if ((is_params && have_params) || (is_registers && have_registers))
            return error_at(a, key.line, key.column, "'%.*s' given twice", (int)key.length,
                            key.start);
        if (next_token(a, &value) != 0)
            return -1;
        if (value.length == 0)
            return error_at(a, value.line, value.column, "'%.*s' needs a number", (int)key.length,
                            key.start);
        if (parse_uint_token(a, &value, is_params ? "parameter count" : "register count",
                             VM_MAX_REGISTERS, is_params ? &params : &registers) != 0)
            return -1;
        have_params |= is_params;
        have_registers |= is_registers;
    }
    if (!have_registers)
        registers = params;
    vm_builder_set_site(a->b, name.line, name.column);
    if (vm_builder_begin_function(a->b, name.start, name.length, params, registers) < 0)
        return builder_failed(a, &name);
    a->label_count = 0;
    return 0;
}

static int parse_directive(struct assembler *a, const struct token *t)
{
    struct token arg;
    if (token_is(t, ".expect")) {
        struct vm_number n;
        if (next_token(a, &arg) != 0)
            return -1;
        if (arg.length == 0)
            return error_at(a, arg.line, arg.column, ".expect needs a number");
        if (parse_number(a, &arg, &n) != 0)
            return -1;
        vm_builder_set_expect(a->b, n);
        return 0;
    }
    if (token_is(t, ".main")) {
        if (expect_ident(a, &arg, "a function name after .main") != 0)
            return -1;
        vm_builder_set_site(a->b, arg.line, arg.column);
        if (vm_builder_set_main(a->b, arg.start, arg.length) != 0)
            return builder_failed(a, &arg);
        return 0;
    }
    return error_at(a, t->line, t->column, "unknown directive '%.*s' (known: .expect, .main)",
                    (int)(t->length > 40 ? 40 : t->length), t->start);
}

static int parse_line(struct assembler *a)
{
    struct token t;
    if (next_token(a, &t) != 0)
        return -1;
    if (t.length == 0)
        return finish_line(a);
    if (t.start[0] == '.' && t.length > 1 && is_ident_start(t.start[1])) {
        if (parse_directive(a, &t) != 0)
            return -1;
        return finish_line(a);
    }
    if (!token_is_ident(&t))
        return error_at(a, t.line, t.column, "expected a statement, got '%.*s'",
                        (int)(t.length > 40 ? 40 : t.length), t.start);
    skip_blanks(a);
    if (a->p < a->end && *a->p == ':') { /* a label */
        a->p++;
        if (!vm_builder_in_function(a->b))
            return error_at(a, t.line, t.column, "label '%.*s' outside a function",
                            (int)(t.length > 40 ? 40 : t.length), t.start);
        struct label_name *l;
        if (label_id(a, &t, &l) != 0)
            return -1;
        if (l->bound)
            return error_at(a, t.line, t.column, "duplicate label '%.*s' (first at %u:%u)",
                            (int)(t.length > 40 ? 40 : t.length), t.start, l->line, l->column);
        vm_builder_set_site(a->b, t.line, t.column);
        if (vm_builder_bind_label(a->b, l->id) != 0)
            return builder_failed(a, &t);
        l->bound = true;
        l->line = t.line;
        l->column = t.column;
        if (next_token(a, &t) != 0)
            return -1;
        if (t.length == 0)
            return finish_line(a);
        if (!token_is_ident(&t))
            return error_at(a, t.line, t.column,
                            "expected an instruction after the label, "
                            "got '%.*s'",
                            (int)(t.length > 40 ? 40 : t.length), t.start);
    }
    int rc;
    if (token_is(&t, "function")) {
        rc = parse_function(a, &t);
    } else if (token_is(&t, "end")) {
        if (!vm_builder_in_function(a->b))
            return error_at(a, t.line, t.column, "'end' outside a function");
        vm_builder_set_site(a->b, t.line, t.column);
        rc = vm_builder_end_function(a->b) != 0 ? builder_failed(a, &t) : 0;
    } else {
        rc = parse_instruction(a, &t);
    }
    return rc != 0 ? -1 : finish_line(a);
}

struct vm_module *vm_assemble(const char *file_name, const char *text, size_t length, char *error,
                              size_t error_size)
{
    struct assembler a = {
        .file = file_name,
        .text = text,
        .end = text + length,
        .p = text,
        .line = 1,
        .line_start = text,
        .b = vm_builder_create(),
        .error = error,
        .error_size = error_size,
    };
    if (error_size)
        error[0] = '\0';
    while (a.p < a.end && !a.failed)
        if (parse_line(&a) != 0)
            break;
    struct vm_module *mod = NULL;
    if (!a.failed) {
        if (vm_builder_in_function(a.b)) {
            error_at(&a, a.line, column_of(&a, a.p), "missing 'end' of the last function");
        } else {
            vm_builder_set_site(a.b, 1, 1);
            mod = vm_builder_finish(a.b);
            if (!mod)
                builder_failed(&a, NULL);
        }
    }
    vm_builder_destroy(a.b);
    platform_free(a.labels);
    return mod;
}

struct vm_module *vm_assemble_file(const char *path, char *error, size_t error_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(error, error_size, "%s: error: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t capacity = 4096, length = 0;
    char *text = platform_alloc(capacity);
    for (;;) {
        if (length == capacity) {
            if (capacity >= ((size_t)64 << 20)) {
                snprintf(error, error_size, "%s: error: the file is larger than 64 MiB", path);
                fclose(f);
                platform_free(text);
                return NULL;
            }
            capacity *= 2;
            text = platform_realloc(text, capacity);
        }
        size_t n = fread(text + length, 1, capacity - length, f);
        length += n;
        if (n == 0)
            break;
    }
    bool read_error = ferror(f);
    fclose(f);
    struct vm_module *mod = NULL;
    if (read_error)
        snprintf(error, error_size, "%s: error: cannot read: %s", path, strerror(errno));
    else
        mod = vm_assemble(path, text, length, error, error_size);
    platform_free(text);
    return mod;
}
