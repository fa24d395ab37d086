/*
 * Translations: writing and reading the deoptimization data of a code object. After
 * V8's Translation byte stream (src/deoptimizer/translation-array.cc): opcodes with
 * variable-length operands, one stream per code object, a literal array beside it. Here
 * each deopt point is found through a table of fixed-width offsets, so decoding one
 * point never reads another.
 *
 * The invariant both sides keep: a frame holds exactly 2 + register_count top-level
 * locations, a captured object exactly field_count field locations, nesting stays under
 * DEOPT_MAX_DEPTH, and a duplicate names an object already started in the same point
 * (which may be one still being filled: that is how a cycle is written). The decoder
 * checks every byte against the buffer's end and every index against its range.
 */
#include "deopt/translation.h"

#include <inttypes.h>
#include <string.h>

#include "barrier/barrier.h"
#include "platform/platform.h"

#define DEOPT_MAGIC "WDT1"
#define DEOPT_HEADER_BYTES 8

const char *deopt_location_kind_name(enum deopt_location_kind kind)
{
    switch (kind) {
    case DEOPT_LOC_REGISTER:
        return "register";
    case DEOPT_LOC_STACK_SLOT:
        return "stack_slot";
    case DEOPT_LOC_LITERAL:
        return "literal";
    case DEOPT_LOC_SMI:
        return "smi";
    case DEOPT_LOC_DOUBLE_REGISTER:
        return "double_register";
    case DEOPT_LOC_DOUBLE_STACK_SLOT:
        return "double_stack_slot";
    case DEOPT_LOC_CAPTURED_OBJECT:
        return "captured_object";
    case DEOPT_LOC_DUPLICATE:
        return "duplicate";
    case DEOPT_LOC_KIND_END:
        break;
    }
    return "invalid";
}

/* --- Bytes ------------------------------------------------------------------------------- */

struct bytes {
    uint8_t *data;
    size_t length, capacity;
};

static void bytes_put(struct bytes *b, uint8_t byte)
{
    if (b->length == b->capacity) {
        b->capacity = b->capacity ? 2 * b->capacity : 64;
        b->data = platform_realloc(b->data, b->capacity);
    }
    b->data[b->length++] = byte;
}

static void bytes_uleb(struct bytes *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        bytes_put(b, byte | (v ? 0x80 : 0));
    } while (v);
}

static void bytes_sleb(struct bytes *b, int64_t v)
{
    for (;;) {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7; /* arithmetic: gcc and clang */
        bool done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
        bytes_put(b, byte | (done ? 0 : 0x80));
        if (done)
            return;
    }
}

static void bytes_u32(struct bytes *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        bytes_put(b, (uint8_t)(v >> (8 * i)));
}

/* --- The builder ------------------------------------------------------------------------- */

struct translation_builder {
    struct mutator *m;
    value_t **literals; /* handles */
    size_t literal_count, literal_capacity;
    struct bytes body;  /* every finished point */
    struct bytes point; /* the current point's frames */
    uint32_t *offsets;  /* of each point in body */
    size_t point_count, offset_capacity;
    bool in_point;
    uint32_t frames, objects; /* of the current point */
    uint32_t left[DEOPT_MAX_DEPTH + 1];
    int depth; /* -1: no frame open */
};

struct translation_builder *translation_builder_create(struct mutator *m)
{
    struct translation_builder *b = platform_calloc(1, sizeof *b);
    b->m = m;
    b->depth = -1;
    return b;
}

void translation_builder_destroy(struct translation_builder *b)
{
    if (!b)
        return;
    platform_free(b->literals);
    platform_free(b->body.data);
    platform_free(b->point.data);
    platform_free(b->offsets);
    platform_free(b);
}

uint32_t translation_builder_literal(struct translation_builder *b, value_t v)
{
    for (size_t i = 0; i < b->literal_count; i++)
        if (*b->literals[i] == v)
            return (uint32_t)i;
    if (b->literal_count == b->literal_capacity) {
        b->literal_capacity = b->literal_capacity ? 2 * b->literal_capacity : 16;
        b->literals = platform_realloc(b->literals, b->literal_capacity * sizeof *b->literals);
    }
    b->literals[b->literal_count] = handle_new(b->m, v);
    return (uint32_t)b->literal_count++;
}

static bool frame_complete(const struct translation_builder *b)
{
    return b->depth < 0 || (b->depth == 0 && b->left[0] == 0);
}

static void end_point(struct translation_builder *b)
{
    if (!b->in_point)
        return;
    if (!frame_complete(b))
        platform_fatal("deopt translation builder: point %zu ends inside a frame",
                       b->point_count - 1);
    if (b->frames == 0)
        platform_fatal("deopt translation builder: point %zu has no frame", b->point_count - 1);
    bytes_uleb(&b->body, b->frames);
    bytes_uleb(&b->body, b->objects);
    for (size_t i = 0; i < b->point.length; i++)
        bytes_put(&b->body, b->point.data[i]);
    b->point.length = 0;
    b->in_point = false;
}

uint32_t translation_begin_point(struct translation_builder *b)
{
    end_point(b);
    if (b->point_count == b->offset_capacity) {
        b->offset_capacity = b->offset_capacity ? 2 * b->offset_capacity : 16;
        b->offsets = platform_realloc(b->offsets, b->offset_capacity * sizeof *b->offsets);
    }
    if (b->body.length > UINT32_MAX)
        platform_fatal("deopt translation builder: more than 4 GiB of data");
    b->offsets[b->point_count] = (uint32_t)b->body.length;
    b->in_point = true;
    b->frames = b->objects = 0;
    b->depth = -1;
    return (uint32_t)b->point_count++;
}

void translation_begin_frame(struct translation_builder *b, uint32_t function_literal, uint32_t pc,
                             uint32_t register_count)
{
    if (!b->in_point || !frame_complete(b))
        platform_fatal("deopt translation builder: frame begun %s",
                       b->in_point ? "inside another frame" : "outside a point");
    if (function_literal >= b->literal_count)
        platform_fatal("deopt translation builder: function literal %" PRIu32 " of %zu",
                       function_literal, b->literal_count);
    if (++b->frames > DEOPT_MAX_FRAMES)
        platform_fatal("deopt translation builder: more than %d frames", DEOPT_MAX_FRAMES);
    bytes_uleb(&b->point, function_literal);
    bytes_uleb(&b->point, pc);
    bytes_uleb(&b->point, register_count);
    b->depth = 0;
    b->left[0] = 2 + register_count;
}

void translation_add(struct translation_builder *b, struct deopt_location loc)
{
    if (!b->in_point || b->depth < 0 || (b->depth == 0 && b->left[0] == 0))
        platform_fatal("deopt translation builder: a %s location outside a frame's slots",
                       deopt_location_kind_name(loc.kind));
    bytes_put(&b->point, (uint8_t)loc.kind);
    switch (loc.kind) {
    case DEOPT_LOC_REGISTER:
    case DEOPT_LOC_STACK_SLOT:
    case DEOPT_LOC_DOUBLE_REGISTER:
    case DEOPT_LOC_DOUBLE_STACK_SLOT:
        bytes_uleb(&b->point, loc.index);
        break;
    case DEOPT_LOC_LITERAL:
        if (loc.index >= b->literal_count)
            platform_fatal("deopt translation builder: literal %" PRIu32 " of %zu", loc.index,
                           b->literal_count);
        bytes_uleb(&b->point, loc.index);
        break;
    case DEOPT_LOC_SMI:
        if (loc.smi > VALUE_SMI_MAX || loc.smi < VALUE_SMI_MIN)
            platform_fatal("deopt translation builder: %" PRId64 " is not a Smi", loc.smi);
        bytes_sleb(&b->point, loc.smi);
        break;
    case DEOPT_LOC_CAPTURED_OBJECT:
        if (loc.index >= b->literal_count || loc.field_count > DEOPT_MAX_FIELDS)
            platform_fatal("deopt translation builder: captured object with map literal %" PRIu32
                           " of %zu, %" PRIu32 " fields",
                           loc.index, b->literal_count, loc.field_count);
        bytes_uleb(&b->point, loc.index);
        bytes_uleb(&b->point, loc.field_count);
        b->objects++;
        break;
    case DEOPT_LOC_DUPLICATE:
        if (loc.index >= b->objects)
            platform_fatal("deopt translation builder: duplicate of object %" PRIu32
                           ", only %" PRIu32 " so far",
                           loc.index, b->objects);
        bytes_uleb(&b->point, loc.index);
        break;
    default:
        platform_fatal("deopt translation builder: location kind %d", (int)loc.kind);
    }
    b->left[b->depth]--;
    if (loc.kind == DEOPT_LOC_CAPTURED_OBJECT && loc.field_count > 0) {
        if (b->depth == DEOPT_MAX_DEPTH)
            platform_fatal("deopt translation builder: objects nested deeper than %d",
                           DEOPT_MAX_DEPTH);
        b->left[++b->depth] = loc.field_count;
    }
    while (b->depth > 0 && b->left[b->depth] == 0)
        b->depth--;
}

void translation_builder_finish(struct translation_builder *b, value_t *bytes_slot,
                                value_t *literals_slot)
{
    end_point(b);
    struct bytes out = {0};
    for (size_t i = 0; i < 4; i++)
        bytes_put(&out, (uint8_t)DEOPT_MAGIC[i]);
    bytes_u32(&out, (uint32_t)b->point_count);
    size_t table = DEOPT_HEADER_BYTES + 4 * b->point_count;
    for (size_t i = 0; i < b->point_count; i++)
        bytes_u32(&out, (uint32_t)(table + b->offsets[i]));
    for (size_t i = 0; i < b->body.length; i++)
        bytes_put(&out, b->body.data[i]);

    struct mutator *m = b->m;
    struct object *bytes = heap_new_byte_array(m, out.length);
    memcpy(byte_array_data(bytes), out.data, out.length);
    *bytes_slot = value_from_object(bytes);
    platform_free(out.data);
    struct object *pool = heap_new_fixed_array(m, b->literal_count);
    for (size_t i = 0; i < b->literal_count; i++)
        object_store(m, pool, 2 + i, *b->literals[i]);
    *literals_slot = value_from_object(pool);
}

/* --- The decoder ------------------------------------------------------------------------- */

static _Noreturn void malformed(const struct translation_iterator *it, const char *what)
{
    platform_fatal("deopt data malformed at byte %zu of %zu: %s", it->pos, it->length, what);
}

static uint8_t read_byte(struct translation_iterator *it)
{
    if (it->pos >= it->length)
        malformed(it, "truncated");
    return it->data[it->pos++];
}

static uint64_t read_uleb(struct translation_iterator *it)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (shift > 63)
            malformed(it, "uleb longer than 64 bits");
        uint8_t byte = read_byte(it);
        if (shift == 63 && (byte & 0x7e))
            malformed(it, "uleb longer than 64 bits");
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
}

static uint32_t read_u32_operand(struct translation_iterator *it, const char *what)
{
    uint64_t v = read_uleb(it);
    if (v > UINT32_MAX)
        malformed(it, what);
    return (uint32_t)v;
}

static int64_t read_sleb(struct translation_iterator *it)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
        if (shift > 63)
            malformed(it, "sleb longer than 64 bits");
        byte = read_byte(it);
        v |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
    } while (byte & 0x80);
    if (shift < 64 && (byte & 0x40))
        v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static uint32_t read_u32_fixed(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_header(struct object *bytes)
{
    if (object_type(bytes) != TYPE_BYTE_ARRAY)
        platform_fatal("deopt data malformed: not a byte array");
    size_t length = object_length(bytes);
    const uint8_t *data = byte_array_data(bytes);
    if (length < DEOPT_HEADER_BYTES || memcmp(data, DEOPT_MAGIC, 4) != 0)
        platform_fatal("deopt data malformed: no header (%zu bytes)", length);
    uint64_t count = read_u32_fixed(data + 4);
    if (DEOPT_HEADER_BYTES + 4 * count > length)
        platform_fatal("deopt data malformed: %" PRIu64 " points in %zu bytes", count, length);
}

uint32_t translation_point_count(struct object *bytes)
{
    check_header(bytes);
    return read_u32_fixed(byte_array_data(bytes) + 4);
}

void translation_iterator_init(struct translation_iterator *it, struct object *bytes,
                               size_t literal_count, uint32_t deopt_id)
{
    uint32_t count = translation_point_count(bytes);
    memset(it, 0, sizeof *it);
    it->data = byte_array_data(bytes);
    it->length = object_length(bytes);
    it->literal_count = literal_count;
    if (deopt_id >= count)
        platform_fatal("deopt data: deopt id %" PRIu32 " of %" PRIu32, deopt_id, count);
    it->pos = read_u32_fixed(it->data + DEOPT_HEADER_BYTES + 4 * (size_t)deopt_id);
    if (it->pos < DEOPT_HEADER_BYTES + 4 * (size_t)count)
        malformed(it, "point offset inside the header");
    it->frame_count = read_u32_operand(it, "frame count");
    it->object_count = read_u32_operand(it, "object count");
    if (it->frame_count == 0 || it->frame_count > DEOPT_MAX_FRAMES)
        malformed(it, "frame count out of range");
    it->locations_left = 0;
}

bool translation_next_frame(struct translation_iterator *it, struct translation_frame *frame)
{
    if (it->locations_left != 0)
        malformed(it, "next frame asked before the last one's locations were read");
    if (it->frames_read == it->frame_count) {
        if (it->objects_read != it->object_count)
            malformed(it, "captured object count does not match the objects read");
        return false;
    }
    frame->function_literal = read_u32_operand(it, "function literal");
    frame->pc = read_u32_operand(it, "pc");
    frame->register_count = read_u32_operand(it, "register count");
    if (frame->function_literal >= it->literal_count)
        malformed(it, "function literal out of range");
    it->frames_read++;
    it->locations_left = 2 + (uint64_t)frame->register_count;
    return true;
}

struct deopt_location translation_next_location(struct translation_iterator *it)
{
    if (it->locations_left == 0)
        malformed(it, "location past the end of the frame");
    struct deopt_location loc = {.kind = (enum deopt_location_kind)read_byte(it)};
    switch (loc.kind) {
    case DEOPT_LOC_REGISTER:
    case DEOPT_LOC_STACK_SLOT:
    case DEOPT_LOC_DOUBLE_REGISTER:
    case DEOPT_LOC_DOUBLE_STACK_SLOT:
        loc.index = read_u32_operand(it, "register or slot index");
        break;
    case DEOPT_LOC_LITERAL:
        loc.index = read_u32_operand(it, "literal index");
        if (loc.index >= it->literal_count)
            malformed(it, "literal index out of range");
        break;
    case DEOPT_LOC_SMI:
        loc.smi = read_sleb(it);
        if (loc.smi > VALUE_SMI_MAX || loc.smi < VALUE_SMI_MIN)
            malformed(it, "Smi out of range");
        break;
    case DEOPT_LOC_CAPTURED_OBJECT:
        loc.index = read_u32_operand(it, "map literal");
        loc.field_count = read_u32_operand(it, "field count");
        if (loc.index >= it->literal_count)
            malformed(it, "map literal out of range");
        if (loc.field_count > DEOPT_MAX_FIELDS)
            malformed(it, "too many fields");
        if (it->objects_read++ >= it->object_count)
            malformed(it, "more captured objects than the point declares");
        it->locations_left += loc.field_count;
        break;
    case DEOPT_LOC_DUPLICATE:
        loc.index = read_u32_operand(it, "duplicate index");
        if (loc.index >= it->objects_read)
            malformed(it, "duplicate of an object not yet seen");
        break;
    default:
        malformed(it, "bad location kind");
    }
    it->locations_left--;
    return loc;
}
