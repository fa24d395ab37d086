/*
 * The heap verifier (--verify-heap), run inside a safepoint before and after every
 * collection. It checks:
 *   - every page of to-space, old, code and large space parses into objects whose map
 *     words point to maps, ending exactly at the allocated limit;
 *   - every reachable object's tagged slots hold a Smi, a cleared weak reference, or a
 *     (strong or weak) pointer to an object start in a live space: never into
 *     from-space, freed memory or the middle of an object;
 *   - every old-to-young slot of a reachable old object is in its page's slot set
 *     (the store buffers are flushed before verification);
 *   - weak global handles hold a valid object or VALUE_CLEARED.
 * Reachability is from the strong roots and every map.
 */
#ifndef WALTZ_HEAP_VERIFY_H
#define WALTZ_HEAP_VERIFY_H

#include <stddef.h>

#include "heap/heap.h"

/* Returns the number of problems found; the first few are described in report. */
size_t heap_verify(struct heap *heap, char *report, size_t report_size);

/* The marking invariant, at the end of a marking cycle (before weak processing and
 * sweeping): every old object reachable from the strong roots (through young objects
 * too) is marked, and no marked old object has a strong slot pointing to an unmarked
 * old one. The checks of heap_verify come with it. */
size_t heap_verify_marking(struct heap *heap, char *report, size_t report_size);

#endif
