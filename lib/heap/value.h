/*
 * Tagged values. A value is one machine word:
 *   ...xxx0  a small integer (Smi), the 63-bit payload in the upper bits;
 *   ...xx01  a strong pointer to a heap object (address | 1);
 *   ...xx11  a weak pointer to a heap object (address | 3).
 * Heap objects are 8-byte aligned, so the two low bits are free for the tag. The
 * cleared weak reference (VALUE_CLEARED) is the weak tag on address 0. VALUE_NULL is the
 * Smi 0: this layer has no oddballs; the VM adds its own.
 */
#ifndef WALTZ_HEAP_VALUE_H
#define WALTZ_HEAP_VALUE_H

#include <stdbool.h>
#include <stdint.h>

typedef uintptr_t value_t;

struct object; /* a heap object; its first word is the map word */

#define VALUE_TAG_MASK ((value_t)3)
#define VALUE_STRONG_TAG ((value_t)1)
#define VALUE_WEAK_TAG ((value_t)3)
#define VALUE_NULL ((value_t)0)
#define VALUE_CLEARED ((value_t)3)
#define VALUE_SMI_MAX (INT64_MAX >> 1)
#define VALUE_SMI_MIN (INT64_MIN >> 1)

static inline bool value_is_smi(value_t v) { return (v & 1) == 0; }
static inline bool value_is_strong(value_t v) { return (v & VALUE_TAG_MASK) == VALUE_STRONG_TAG; }
static inline bool value_is_weak(value_t v)
{
    return (v & VALUE_TAG_MASK) == VALUE_WEAK_TAG && v != VALUE_CLEARED;
}
/* Strong or weak, but not cleared: the value refers to an object. */
static inline bool value_is_ref(value_t v) { return (v & 1) != 0 && v != VALUE_CLEARED; }

static inline value_t value_from_smi(int64_t i) { return (value_t)((uint64_t)i << 1); }
static inline int64_t value_to_smi(value_t v) { return (int64_t)v >> 1; }

static inline value_t value_from_object(struct object *o) { return (value_t)o | VALUE_STRONG_TAG; }
static inline value_t value_weak_from_object(struct object *o)
{
    return (value_t)o | VALUE_WEAK_TAG;
}
/* The object a strong or weak value refers to. */
static inline struct object *value_to_object(value_t v)
{
    return (struct object *)(v & ~VALUE_TAG_MASK);
}
static inline uintptr_t value_address(value_t v) { return v & ~VALUE_TAG_MASK; }

#endif
