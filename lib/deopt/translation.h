/*
 * lib/deopt translations: the deoptimization data of one optimized code object, after
 * V8's deoptimizer (src/deoptimizer: DeoptimizationData, the Translation byte stream
 * and TranslatedState): for every deopt point (a deopt id), one translation per inlined
 * frame, outermost first, saying where the function's interpreter state lives in the
 * optimized activation.
 *
 * Offers:  the location kinds; a builder (translation_builder_*) that writes the data
 *          into a BYTE_ARRAY plus a FIXED_ARRAY literal pool; an iterator that decodes
 *          one deopt point and refuses malformed data (platform_fatal: the data is
 *          internal, written by the JIT, so a bad byte is a bug, not an input error).
 * Needs:   lib/heap (the two arrays, handles for literals while the builder runs).
 *
 * Format (docs/deopt.md): [magic "WDT1"][point count u32][offset u32 x count] then the
 * points. A point: [frame count uleb][captured object count uleb] then its frames. A
 * frame: [function literal uleb][pc uleb][register count uleb] then 2 + register count
 * locations: context, accumulator, r0.... A location: a kind byte and its operands
 * (uleb, or sleb for a Smi); a captured object is followed by its field locations
 * (recursively); a duplicate names an earlier captured object of the same point by its
 * index in the order the objects appear.
 */
#ifndef WALTZ_DEOPT_TRANSLATION_H
#define WALTZ_DEOPT_TRANSLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap/heap.h"

enum deopt_location_kind {
    DEOPT_LOC_REGISTER = 1,      /* a tagged value in optimized register index */
    DEOPT_LOC_STACK_SLOT,        /* a tagged value in spill slot index */
    DEOPT_LOC_LITERAL,           /* literal pool entry index */
    DEOPT_LOC_SMI,               /* an immediate Smi (smi) */
    DEOPT_LOC_DOUBLE_REGISTER,   /* raw double bits in optimized register index, to box */
    DEOPT_LOC_DOUBLE_STACK_SLOT, /* raw double bits in spill slot index, to box */
    DEOPT_LOC_CAPTURED_OBJECT,   /* map: literal index; field_count field locations follow */
    DEOPT_LOC_DUPLICATE,         /* the captured object numbered index in this point */
    DEOPT_LOC_KIND_END,
};

struct deopt_location {
    enum deopt_location_kind kind;
    uint32_t index;       /* register, slot, literal, map literal or object number */
    uint32_t field_count; /* CAPTURED_OBJECT */
    int64_t smi;          /* SMI */
};

static inline struct deopt_location deopt_loc(enum deopt_location_kind kind, uint32_t index)
{
    return (struct deopt_location){.kind = kind, .index = index};
}
static inline struct deopt_location deopt_loc_smi(int64_t smi)
{
    return (struct deopt_location){.kind = DEOPT_LOC_SMI, .smi = smi};
}
static inline struct deopt_location deopt_loc_captured(uint32_t map_literal, uint32_t field_count)
{
    return (struct deopt_location){
        .kind = DEOPT_LOC_CAPTURED_OBJECT, .index = map_literal, .field_count = field_count};
}

const char *deopt_location_kind_name(enum deopt_location_kind kind);

/* Limits the decoder enforces (the builder refuses to go past them). */
#define DEOPT_MAX_FRAMES 64
#define DEOPT_MAX_FIELDS 4096
#define DEOPT_MAX_DEPTH 64 /* captured objects nested inside each other */

/* --- The builder ------------------------------------------------------------------------ */
struct translation_builder;

/* Literals are kept in handles of m: the caller keeps a handle scope open around the
 * builder's whole life. */
struct translation_builder *translation_builder_create(struct mutator *m);
void translation_builder_destroy(struct translation_builder *b);
/* A literal pool entry for v (the same value twice gives the same index). */
uint32_t translation_builder_literal(struct translation_builder *b, value_t v);
/* Starts a deopt point; returns its deopt id (0, 1, ... in order). */
uint32_t translation_begin_point(struct translation_builder *b);
/* Starts a frame of the current point (outermost first): pc is where it resumes. Its
 * context, accumulator and register_count registers follow, in that order. */
void translation_begin_frame(struct translation_builder *b, uint32_t function_literal, uint32_t pc,
                             uint32_t register_count);
/* The next location of the current frame (or field of the current captured object). */
void translation_add(struct translation_builder *b, struct deopt_location loc);
/* Writes the data: the byte array into *bytes_slot, the literal pool into
 * *literals_slot (both rooted slots; may allocate). Every point must be complete. */
void translation_builder_finish(struct translation_builder *b, value_t *bytes_slot,
                                value_t *literals_slot);

/* --- The decoder ------------------------------------------------------------------------ */
struct translation_iterator {
    const uint8_t *data; /* into the byte array: valid until the next allocation */
    size_t length, pos;
    size_t literal_count;
    uint32_t frame_count, object_count; /* of the point */
    uint32_t frames_read, objects_read;
    uint64_t locations_left; /* of the current frame, fields of open objects included */
};

struct translation_frame {
    uint32_t function_literal, pc, register_count;
};

/* Number of deopt points in the data. */
uint32_t translation_point_count(struct object *bytes);
/* Positions it at deopt point id of bytes (literal_count: the pool's length, for range
 * checks). Fatal on malformed data. */
void translation_iterator_init(struct translation_iterator *it, struct object *bytes,
                               size_t literal_count, uint32_t deopt_id);
/* The next frame header; false after the last frame. The previous frame's locations
 * must all have been read. */
bool translation_next_frame(struct translation_iterator *it, struct translation_frame *frame);
/* The next location of the current frame, in the order they were added. */
struct deopt_location translation_next_location(struct translation_iterator *it);

#endif
