/*
 * Tests of lib/deopt translations: round trips through the builder and the decoder
 * (every location kind, nested captured objects, duplicates and cycles, several frames,
 * values at the edges of their ranges, many registers), the literal pool surviving a
 * collection that moves it, and malformed data refused with a clear fatal message (in a
 * child process: platform_fatal ends the process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "deopt/translation.h"
#include "gc/gc.h"
#include "platform/platform.h"

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
};

static void env_open(struct env *e, uint64_t gc_stress)
{
    memset(e, 0, sizeof *e);
    struct heap_config config = {.young_size_bytes = (size_t)512 << 10,
                                 .heap_size_bytes = (size_t)64 << 20,
                                 .gc_stress = gc_stress,
                                 .verify_heap = true};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
}

static void env_close(struct env *e)
{
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

/* What was written, in order, to compare with what is read. */
struct event {
    bool frame;
    struct translation_frame f;
    struct deopt_location loc;
};

struct script {
    struct event *events;
    size_t count, capacity;
};

static void push(struct script *s, struct event ev)
{
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? 2 * s->capacity : 256;
        s->events = realloc(s->events, s->capacity * sizeof *s->events);
    }
    s->events[s->count++] = ev;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define LITERALS 40

/* One location (and, for a captured object, its fields), written and remembered. */
static void gen_location(struct translation_builder *b, struct script *s, int depth,
                         uint32_t *objects)
{
    struct deopt_location loc;
    uint64_t r = next_random();
    switch (r % 9) {
    case 0:
        loc = deopt_loc(DEOPT_LOC_REGISTER,
                        (uint32_t)(next_random() % 3 ? next_random() % 64 : UINT32_MAX));
        break;
    case 1:
        loc = deopt_loc(DEOPT_LOC_STACK_SLOT, (uint32_t)next_random());
        break;
    case 2:
        loc = deopt_loc(DEOPT_LOC_LITERAL, (uint32_t)(next_random() % LITERALS));
        break;
    case 3: {
        int64_t edge[] = {0, -1, 1, 63, 64, -64, -65, VALUE_SMI_MAX, VALUE_SMI_MIN};
        uint64_t k = next_random() % 12;
        loc = deopt_loc_smi(k < 9 ? edge[k] : (int64_t)(next_random() >> 2) - (INT64_C(1) << 60));
        break;
    }
    case 4:
        loc = deopt_loc(DEOPT_LOC_DOUBLE_REGISTER, (uint32_t)(next_random() % 16));
        break;
    case 5:
        loc = deopt_loc(DEOPT_LOC_DOUBLE_STACK_SLOT, (uint32_t)(next_random() % 1000));
        break;
    case 6:
        if (*objects > 0) {
            loc = deopt_loc(DEOPT_LOC_DUPLICATE, (uint32_t)(next_random() % *objects));
            break;
        }
        /* fall through */
    default:
        if (depth >= 4) {
            loc = deopt_loc_smi(depth);
            break;
        }
        loc =
            deopt_loc_captured((uint32_t)(next_random() % LITERALS), (uint32_t)(next_random() % 5));
        break;
    }
    translation_add(b, loc);
    push(s, (struct event){.loc = loc});
    if (loc.kind == DEOPT_LOC_CAPTURED_OBJECT) {
        (*objects)++;
        for (uint32_t i = 0; i < loc.field_count; i++)
            gen_location(b, s, depth + 1, objects);
    }
}

static void check_location(const struct deopt_location *want, const struct deopt_location *got)
{
    assert_int_equal(got->kind, want->kind);
    switch (want->kind) {
    case DEOPT_LOC_SMI:
        assert_true(got->smi == want->smi);
        break;
    case DEOPT_LOC_CAPTURED_OBJECT:
        assert_int_equal(got->field_count, want->field_count);
        /* fall through */
    default:
        assert_int_equal(got->index, want->index);
    }
}

static void test_round_trip(void **state)
{
    struct env e;
    env_open(&e, 0);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    struct translation_builder *b = translation_builder_create(&e.m);
    /* Literals: Smis and young arrays (they move). */
    value_t *young[LITERALS];
    for (uint32_t i = 0; i < LITERALS; i++) {
        value_t v = i % 2 ? value_from_smi(i) : value_from_object(heap_new_fixed_array(&e.m, i));
        young[i] = handle_new(&e.m, v);
        assert_int_equal(translation_builder_literal(b, *young[i]), i);
    }
    assert_int_equal(translation_builder_literal(b, *young[3]), 3); /* deduplicated */

    enum { POINTS = 60 };
    struct script scripts[POINTS] = {{0}};
    for (uint32_t p = 0; p < POINTS; p++) {
        assert_int_equal(translation_begin_point(b), p);
        uint32_t frames = 1 + (uint32_t)(next_random() % 4);
        uint32_t objects = 0;
        for (uint32_t f = 0; f < frames; f++) {
            /* Point 7 has a frame of 255 registers; pcs run up to the 24-bit range. */
            uint32_t regs = p == 7 && f == 0 ? 255 : (uint32_t)(next_random() % 12);
            struct translation_frame tf = {.function_literal = (uint32_t)(next_random() % LITERALS),
                                           .pc = (uint32_t)(next_random() % (1u << 24)),
                                           .register_count = regs};
            translation_begin_frame(b, tf.function_literal, tf.pc, tf.register_count);
            push(&scripts[p], (struct event){.frame = true, .f = tf});
            for (uint32_t i = 0; i < 2 + regs; i++)
                gen_location(b, &scripts[p], 0, &objects);
        }
    }
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);

    /* Both arrays and the young literals move; the pool follows them. */
    struct object *before = handle_object(bytes);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_ptr_not_equal(handle_object(bytes), before);
    assert_int_equal(object_length(handle_object(pool)), LITERALS);
    for (uint32_t i = 0; i < LITERALS; i++)
        assert_true(object_get(handle_object(pool), 2 + i) == *young[i]);

    assert_int_equal(translation_point_count(handle_object(bytes)), POINTS);
    size_t kinds_seen[DEOPT_LOC_KIND_END] = {0};
    /* Decoded out of order: each point stands alone. */
    for (uint32_t q = 0; q < POINTS; q++) {
        uint32_t p = (q * 37) % POINTS;
        struct translation_iterator it;
        translation_iterator_init(&it, handle_object(bytes), LITERALS, p);
        size_t k = 0;
        struct translation_frame tf;
        while (translation_next_frame(&it, &tf)) {
            assert_true(k < scripts[p].count);
            assert_true(scripts[p].events[k].frame);
            assert_int_equal(tf.function_literal, scripts[p].events[k].f.function_literal);
            assert_int_equal(tf.pc, scripts[p].events[k].f.pc);
            assert_int_equal(tf.register_count, scripts[p].events[k].f.register_count);
            k++;
            while (k < scripts[p].count && !scripts[p].events[k].frame) {
                struct deopt_location got = translation_next_location(&it);
                check_location(&scripts[p].events[k].loc, &got);
                kinds_seen[got.kind]++;
                k++;
            }
        }
        assert_int_equal(k, scripts[p].count);
        free(scripts[p].events);
    }
    for (int kind = DEOPT_LOC_REGISTER; kind < DEOPT_LOC_KIND_END; kind++)
        assert_true(kinds_seen[kind] > 0);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}

/* A hand-written point whose bytes are known: the encoding is what docs/deopt.md says. */
static void test_encoding_bytes(void **state)
{
    struct env e;
    env_open(&e, 0);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    struct translation_builder *b = translation_builder_create(&e.m);
    translation_builder_literal(b, value_from_smi(9));
    translation_begin_point(b);
    translation_begin_frame(b, 0, 300, 1);
    translation_add(b, deopt_loc(DEOPT_LOC_LITERAL, 0));
    translation_add(b, deopt_loc_smi(-65));
    translation_add(b, deopt_loc_captured(0, 1));
    translation_add(b, deopt_loc(DEOPT_LOC_DUPLICATE, 0));
    value_t *bytes = handle_new(&e.m, VALUE_NULL), *pool = handle_new(&e.m, VALUE_NULL);
    translation_builder_finish(b, bytes, pool);
    translation_builder_destroy(b);
    const uint8_t want[] = {'W',
                            'D',
                            'T',
                            '1',
                            1,
                            0,
                            0,
                            0,
                            12,
                            0,
                            0,
                            0,
                            1,
                            1, /* 1 frame, 1 object */
                            0,
                            0xac,
                            0x02,
                            1, /* literal 0, pc 300, 1 register */
                            DEOPT_LOC_LITERAL,
                            0, /* context */
                            DEOPT_LOC_SMI,
                            0xbf,
                            0x7f, /* acc: -65 */
                            DEOPT_LOC_CAPTURED_OBJECT,
                            0,
                            1,
                            DEOPT_LOC_DUPLICATE,
                            0};
    assert_int_equal(object_length(handle_object(bytes)), sizeof want);
    assert_memory_equal(byte_array_data(handle_object(bytes)), want, sizeof want);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}

/* --- Malformed data ----------------------------------------------------------------------- */

static int fatal_pipe = -1;
static void write_fatal(const char *message)
{
    ssize_t n = write(fatal_pipe, message, strlen(message));
    (void)n;
    _exit(3);
}

/* Decodes every location of point 0 of data in a child; returns what platform_fatal said
 * there ("" if the child decoded it all and exited 0). */
static void decode_in_child(const uint8_t *data, size_t length, size_t literals, char *out,
                            size_t size)
{
    struct env e;
    env_open(&e, 0);
    struct object *bytes = heap_new_byte_array(&e.m, length);
    memcpy(byte_array_data(bytes), data, length);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        fatal_pipe = fds[1];
        platform_set_fatal_handler(write_fatal);
        struct translation_iterator it;
        translation_iterator_init(&it, bytes, literals, 0);
        struct translation_frame tf;
        while (translation_next_frame(&it, &tf))
            while (it.locations_left > 0)
                translation_next_location(&it);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fds[0], out + n, size - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), n ? 3 : 0);
    env_close(&e);
}

static void expect_malformed(const uint8_t *data, size_t length, const char *want)
{
    char out[1024];
    decode_in_child(data, length, 2, out, sizeof out);
    if (!strstr(out, want))
        print_error("got '%s', expected '%s'\n", out, want);
    assert_non_null(strstr(out, want));
}

#define HEADER 'W', 'D', 'T', '1', 1, 0, 0, 0, 12, 0, 0, 0

static void test_malformed(void **state)
{
    char out[1024];
    const uint8_t good[] = {HEADER, 1, 0, 0, 5, 0, DEOPT_LOC_SMI, 3, DEOPT_LOC_LITERAL, 1};
    decode_in_child(good, sizeof good, 2, out, sizeof out);
    assert_string_equal(out, "");

    const uint8_t bad_magic[] = {'W', 'D', 'T', '2', 1, 0, 0, 0, 12, 0, 0, 0, 1, 0};
    expect_malformed(bad_magic, sizeof bad_magic, "no header");
    const uint8_t truncated[] = {HEADER, 1, 0, 0, 5, 0, DEOPT_LOC_SMI};
    expect_malformed(truncated, sizeof truncated, "truncated");
    const uint8_t bad_kind[] = {HEADER, 1, 0, 0, 5, 0, 0x42, 3, DEOPT_LOC_LITERAL, 1};
    expect_malformed(bad_kind, sizeof bad_kind, "bad location kind");
    const uint8_t bad_literal[] = {HEADER, 1, 0, 0, 5, 0, DEOPT_LOC_SMI, 3, DEOPT_LOC_LITERAL, 2};
    expect_malformed(bad_literal, sizeof bad_literal, "literal index out of range");
    const uint8_t bad_function[] = {HEADER, 1, 0, 7, 5, 0};
    expect_malformed(bad_function, sizeof bad_function, "function literal out of range");
    const uint8_t early_dup[] = {
        HEADER, 1, 1, 0, 5, 0, DEOPT_LOC_DUPLICATE, 0, DEOPT_LOC_CAPTURED_OBJECT, 0, 0};
    expect_malformed(early_dup, sizeof early_dup, "duplicate of an object not yet seen");
    const uint8_t undeclared[] = {
        HEADER, 1, 0, 0, 5, 0, DEOPT_LOC_SMI, 3, DEOPT_LOC_CAPTURED_OBJECT, 0, 0};
    expect_malformed(undeclared, sizeof undeclared, "more captured objects than the point");
    const uint8_t missing[] = {HEADER, 1, 2, 0, 5, 0, DEOPT_LOC_SMI, 3, DEOPT_LOC_CAPTURED_OBJECT,
                               0,      0};
    expect_malformed(missing, sizeof missing, "captured object count does not match");
    const uint8_t long_uleb[] = {
        HEADER, 1, 0, 0, 5, 0, DEOPT_LOC_REGISTER, 0xff, 0xff, 0xff, 0xff, 0x7f, DEOPT_LOC_SMI, 0};
    expect_malformed(long_uleb, sizeof long_uleb, "register or slot index");
    const uint8_t huge_uleb[] = {
        HEADER, 1,    0,    0,    5,    0,    DEOPT_LOC_REGISTER, 0xff, 0xff, 0xff, 0xff,
        0xff,   0xff, 0xff, 0xff, 0xff, 0x7f, DEOPT_LOC_SMI,      0};
    expect_malformed(huge_uleb, sizeof huge_uleb, "uleb longer than 64 bits");
    const uint8_t no_frames[] = {HEADER, 0, 0};
    expect_malformed(no_frames, sizeof no_frames, "frame count out of range");
    const uint8_t bad_offset[] = {'W', 'D', 'T', '1', 1, 0, 0, 0, 200, 0, 0, 0, 1, 0};
    expect_malformed(bad_offset, sizeof bad_offset, "truncated");
    const uint8_t big_count[] = {'W', 'D', 'T', '1', 0xff, 0xff, 0, 0, 12, 0, 0, 0, 1, 0};
    expect_malformed(big_count, sizeof big_count, "points in");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encoding_bytes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
