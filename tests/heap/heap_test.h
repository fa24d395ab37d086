/*
 * Shared helpers of the lib/heap tests: a heap with a collector and one mutator attached
 * on the test's thread, old-space arrays, and verification inside a safepoint.
 */
#ifndef WALTZ_TESTS_HEAP_TEST_H
#define WALTZ_TESTS_HEAP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "barrier/barrier.h"
#include "gc/gc.h"
#include "heap/heap.h"
#include "heap/spaces.h"
#include "heap/verify.h"

#define TEST_YOUNG_BYTES (1 * MiB)
#define TEST_HEAP_BYTES (64 * MiB)

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
};

void env_open(struct env *e, size_t young_bytes, size_t heap_bytes);
void env_close(struct env *e);

/* A FIXED_ARRAY of length Smi-0 elements allocated straight in old space. */
struct object *new_old_array(struct mutator *m, size_t length);
/* A young FIXED_ARRAY of length 1 holding Smi tag. */
struct object *new_tagged_box(struct mutator *m, int64_t tag);
/* Stops the (single) mutator, retires its LAB, flushes the remembered set and verifies. */
size_t verify_stopped(struct env *e, char *report, size_t report_size);
/* verify_stopped must find nothing; prints the report otherwise. */
void assert_heap_clean(struct env *e);

extern const struct CMUnitTest heap_collect_tests[];
extern const size_t heap_collect_test_count;

#endif
