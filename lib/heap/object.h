/*
 * The object model. Every heap object starts with its map word: a strong tagged pointer
 * to its Map (hidden class), or, during a scavenge, the untagged address of its copy
 * (a forwarding pointer, installed with one compare-and-swap). A map says the instance
 * type, the size (fixed, or from a length field) and where the tagged fields are.
 *
 * Each object kind has at most one contiguous run of tagged slots, so visiting an
 * object is one range:
 *   STRUCT       [map][tagged x k][raw ...]            size and k from the map
 *   MAP          [map][prototype][dependent_code][raw info ...]
 *   FIXED_ARRAY  [map][length Smi][tagged x length]
 *   WEAK_ARRAY   [map][length Smi][tagged-or-weak x length]
 *   CODE         [map][size Smi][k Smi][tagged x k][raw body]
 *   BYTE_ARRAY   [map][length Smi][bytes, padded to 8]
 *   DOUBLE_ARRAY [map][length Smi][double x length]
 *   HEAP_NUMBER  [map][double]
 *   FREE_SPACE   [map][size Smi][next free, raw]       (size >= 16)
 *   FILLER       [map]                                  (8 bytes)
 * Maps live in old space and never move (nothing compacts old space).
 */
#ifndef WALTZ_HEAP_OBJECT_H
#define WALTZ_HEAP_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "heap/value.h"

enum instance_type {
    TYPE_MAP = 1,
    TYPE_FREE_SPACE,
    TYPE_FILLER,
    TYPE_STRUCT,
    TYPE_FIXED_ARRAY,
    TYPE_WEAK_ARRAY,
    TYPE_CODE,
    TYPE_BYTE_ARRAY,
    TYPE_DOUBLE_ARRAY,
    TYPE_HEAP_NUMBER,
};

#define WORD_BYTES ((size_t)8)
#define OBJECT_ALIGNMENT WORD_BYTES

struct object {
    value_t map_word;
};

/* Map fields (word indices). */
enum {
    MAP_PROTOTYPE = 1,
    MAP_DEPENDENT_CODE = 2,
    MAP_TAGGED_END = 3, /* words [1, 3) are tagged */
    MAP_INSTANCE_TYPE = 3,
    MAP_INSTANCE_SIZE = 4, /* bytes; 0 for variable-sized kinds */
    MAP_TAGGED_COUNT = 5,  /* STRUCT: tagged fields after the map word */
    MAP_ID = 6,
    MAP_WORDS = 7,
};
#define MAP_SIZE_BYTES (MAP_WORDS * WORD_BYTES)
#define ARRAY_HEADER_BYTES (2 * WORD_BYTES)
#define FREE_SPACE_MIN_BYTES (2 * WORD_BYTES)

static inline value_t *object_slots(struct object *o) { return (value_t *)o; }
static inline value_t object_get(struct object *o, size_t word) { return object_slots(o)[word]; }
static inline void object_set_raw(struct object *o, size_t word, value_t v)
{
    object_slots(o)[word] = v;
}

/* Acquire: a mutator may change a live object's map (a property transition) while a
 * marker or the sweeper reads it, and the barrier stores the new map with release, so
 * the reader sees the new map's fields initialized. A plain mov on x86. */
static inline value_t object_map_word(struct object *o)
{
    return __atomic_load_n(&o->map_word, __ATOMIC_ACQUIRE);
}
static inline struct object *object_map(struct object *o)
{
    return value_to_object(object_map_word(o));
}

/* Forwarding: an untagged map word is the address of the object's copy. */
static inline int object_is_forwarded_word(value_t map_word) { return (map_word & 1) == 0; }
static inline struct object *object_forwardee_of(value_t map_word)
{
    return (struct object *)map_word;
}

static inline uintptr_t map_raw(struct object *map, size_t word) { return object_get(map, word); }
static inline enum instance_type map_instance_type(struct object *map)
{
    return (enum instance_type)map_raw(map, MAP_INSTANCE_TYPE);
}
static inline enum instance_type object_type(struct object *o)
{
    return map_instance_type(object_map(o));
}

static inline size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

static inline size_t object_length(struct object *o)
{
    return (size_t)value_to_smi(object_get(o, 1));
}

static inline size_t fixed_array_size_bytes(size_t length)
{
    return ARRAY_HEADER_BYTES + length * WORD_BYTES;
}
static inline size_t byte_array_size_bytes(size_t length)
{
    return ARRAY_HEADER_BYTES + align_up(length, WORD_BYTES);
}

/* Size of an object given its map (the map word itself may hold a forwarding address). */
static inline size_t object_size_with_map(struct object *o, struct object *map)
{
    switch (map_instance_type(map)) {
    case TYPE_MAP:
    case TYPE_STRUCT:
    case TYPE_HEAP_NUMBER:
        return map_raw(map, MAP_INSTANCE_SIZE);
    case TYPE_FILLER:
        return WORD_BYTES;
    case TYPE_FREE_SPACE:
    case TYPE_CODE:
        return (size_t)value_to_smi(object_get(o, 1));
    case TYPE_FIXED_ARRAY:
    case TYPE_WEAK_ARRAY:
    case TYPE_DOUBLE_ARRAY:
        return fixed_array_size_bytes(object_length(o));
    case TYPE_BYTE_ARRAY:
        return byte_array_size_bytes(object_length(o));
    }
    return 0;
}
static inline size_t object_size(struct object *o)
{
    return object_size_with_map(o, object_map(o));
}

/* The tagged slots of an object: [*start, *end) as word indices. Empty for raw kinds. */
static inline void object_tagged_range(struct object *o, struct object *map, size_t *start,
                                       size_t *end)
{
    switch (map_instance_type(map)) {
    case TYPE_STRUCT:
        *start = 1;
        *end = 1 + map_raw(map, MAP_TAGGED_COUNT);
        return;
    case TYPE_MAP:
        *start = 1;
        *end = MAP_TAGGED_END;
        return;
    case TYPE_FIXED_ARRAY:
    case TYPE_WEAK_ARRAY:
        *start = 2;
        *end = 2 + object_length(o);
        return;
    case TYPE_CODE:
        *start = 3;
        *end = 3 + (size_t)value_to_smi(object_get(o, 2));
        return;
    default:
        *start = *end = 0;
        return;
    }
}

static inline int object_is_filler_type(enum instance_type t)
{
    return t == TYPE_FREE_SPACE || t == TYPE_FILLER;
}

static inline double heap_number_value(struct object *o)
{
    double d;
    memcpy(&d, &object_slots(o)[1], sizeof d);
    return d;
}
static inline double *double_array_data(struct object *o) { return (double *)&object_slots(o)[2]; }
static inline uint8_t *byte_array_data(struct object *o) { return (uint8_t *)&object_slots(o)[2]; }

#endif
