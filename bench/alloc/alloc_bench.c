/*
 * Bump-allocation fast path against jemalloc's malloc, in one process, side by side.
 *
 * waltz:    N allocations of a 24-byte struct (map + two tagged fields) through
 *           heap_allocate on one mutator; nothing is retained, so scavenges copy
 *           almost nothing and the time is the LAB fast path plus LAB refills.
 * malloc:   N malloc(24) immediately freed (jemalloc's thread cache fast path), and
 *           N malloc(24) kept in batches of 4096 then freed (allocation without reuse).
 * Each measurement is repeated --reps times; the median is reported, with ratios.
 * Usage: alloc_bench [--count N] [--reps R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "heap/heap.h"

static volatile uintptr_t sink;

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_u64);
    return v[n / 2];
}

static uint64_t time_waltz(struct heap *heap, struct gc *gc, struct object *map, uint64_t count)
{
    struct mutator m;
    gc_mutator_attach(gc, &m, "alloc-bench");
    uint64_t start = platform_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        struct object *o = heap_allocate(&m, map, 3 * WORD_BYTES);
        object_set_raw(o, 1, VALUE_NULL);
        object_set_raw(o, 2, VALUE_NULL);
        sink = (uintptr_t)o;
    }
    uint64_t elapsed = platform_now_ns() - start;
    gc_mutator_detach(&m);
    (void)heap;
    return elapsed;
}

static uint64_t time_malloc_free(uint64_t count)
{
    uint64_t start = platform_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        void *p = malloc(24);
        sink = (uintptr_t)p;
        free(p);
    }
    return platform_now_ns() - start;
}

static uint64_t time_malloc_batch(uint64_t count)
{
    enum { BATCH = 4096 };
    static void *batch[BATCH];
    uint64_t start = platform_now_ns();
    for (uint64_t i = 0; i < count; i += BATCH) {
        for (int k = 0; k < BATCH; k++) {
            batch[k] = malloc(24);
            ((uintptr_t *)batch[k])[0] = 0;
        }
        for (int k = 0; k < BATCH; k++)
            free(batch[k]);
    }
    return platform_now_ns() - start;
}

int main(int argc, char **argv)
{
    uint64_t count = 100000000;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "alloc_bench: error: usage: alloc_bench [--count N] [--reps R]\n");
            return 2;
        }
    }
    if (count == 0 || reps < 1 || reps > 99) {
        fprintf(stderr, "alloc_bench: error: --count must be > 0 and --reps 1..99\n");
        return 2;
    }
    struct heap_config config = {.young_size_bytes = 16 * MiB, .heap_size_bytes = 256 * MiB};
    struct heap *heap = heap_create(&config, NULL);
    struct gc *gc = gc_create(heap, NULL);
    struct object *map = heap_create_struct_map(heap, 2, 0);
    uint64_t w[99], mf[99], mb[99];
    for (int r = 0; r < reps; r++) {
        w[r] = time_waltz(heap, gc, map, count);
        mf[r] = time_malloc_free(count);
        mb[r] = time_malloc_batch(count);
    }
    double waltz_rate = count / (median(w, reps) / 1e9);
    double free_rate = count / (median(mf, reps) / 1e9);
    double batch_rate = count / (median(mb, reps) / 1e9);
    printf("allocator,allocations_per_s,ns_per_allocation,waltz_ratio\n");
    printf("waltz-bump-24B,%.0f,%.2f,1.00\n", waltz_rate, 1e9 / waltz_rate);
    printf("jemalloc-malloc-free-24B,%.0f,%.2f,%.2f\n", free_rate, 1e9 / free_rate,
           waltz_rate / free_rate);
    printf("jemalloc-malloc-batch-24B,%.0f,%.2f,%.2f\n", batch_rate, 1e9 / batch_rate,
           waltz_rate / batch_rate);
    printf("# %llu allocations x %d reps (median); scavenges included in waltz's time: %llu\n",
           (unsigned long long)count, reps, (unsigned long long)gc->scavenges);
    gc_destroy(gc);
    heap_destroy(heap);
    return 0;
}
