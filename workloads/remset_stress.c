/*
 * remset-stress: old-to-young stores. A long-lived array (a large object, so old from
 * birth) whose slots are replaced, at random, by freshly allocated young objects: every
 * such store is an old-to-young pointer the write barrier must record, and every
 * scavenge must find them through the remembered set. Each new object also points to
 * the one it replaced, whose own link is cut first.
 */
#include "workload.h"

#include "barrier/barrier.h"

/* Obj = { next (tagged); val (raw) } */
enum { OBJ_NEXT = 1, OBJ_VAL = 2, OBJ_BYTES = 3 * WORD_BYTES };

struct remset_stress {
    struct object *obj_map;
    int64_t slots, iterations;
    uint64_t *sums;
};

static int64_t obj_val(struct object *o) { return (int64_t)object_get(o, OBJ_VAL); }

static struct object *new_obj(struct mutator *m, struct object *map, int64_t val)
{
    struct object *o = heap_allocate(m, map, OBJ_BYTES);
    object_set_raw(o, OBJ_NEXT, VALUE_NULL);
    object_set_raw(o, OBJ_VAL, (value_t)val);
    return o;
}

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct remset_stress *rs = ctx;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    size_t n = (size_t)rs->slots;
    value_t *array = handle_of(m, heap_new_fixed_array(m, n));
    for (size_t k = 0; k < n; k++) {
        struct object *o = new_obj(m, rs->obj_map, (int64_t)k);
        object_store(m, handle_object(array), 2 + k, value_from_object(o));
    }
    uint32_t x = 2463534242u;
    uint64_t sum = 0;
    for (int64_t it = 0; it < rs->iterations; it++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t i = x % (uint32_t)n;
        struct object *old = value_to_object(object_get(handle_object(array), 2 + i));
        sum += (uint64_t)obj_val(old);
        object_store(m, old, OBJ_NEXT, VALUE_NULL);
        struct object *fresh = new_obj(m, rs->obj_map, it); /* may move `old` */
        struct object *arr = handle_object(array);
        object_set_raw(fresh, OBJ_NEXT, object_get(arr, 2 + i));
        object_store(m, arr, 2 + i, value_from_object(fresh));
    }
    struct object *arr = handle_object(array);
    for (size_t k = 0; k < n; k++) {
        struct object *o = value_to_object(object_get(arr, 2 + k));
        value_t next = object_get(o, OBJ_NEXT);
        sum += (uint64_t)obj_val(o) +
               (next != VALUE_NULL ? (uint64_t)obj_val(value_to_object(next)) : 0);
    }
    rs->sums[index] = sum;
    handle_scope_close(m, &scope);
}

static int run(struct workload_run *run)
{
    struct remset_stress rs = {
        .slots = workload_param(run, "slots"),
        .iterations = workload_param(run, "iterations"),
    };
    rs.obj_map = heap_create_struct_map(run->heap, 1, 1);
    rs.sums = platform_calloc(run->mutators, sizeof(uint64_t));
    workload_run_mutators(run, mutator, &rs);
    uint64_t checksum = 0;
    for (uint32_t i = 0; i < run->mutators; i++)
        checksum += rs.sums[i];
    if (run->out)
        fprintf(run->out, "remset-stress: %u mutator(s), %lld slots, %lld iterations\n",
                run->mutators, (long long)rs.slots, (long long)rs.iterations);
    run->checksum = checksum;
    platform_free(rs.sums);
    return 0;
}

/* The same program on plain arrays, with no heap at all: an independent oracle. */
static uint64_t expected(const struct workload_run *run)
{
    size_t n = (size_t)workload_param(run, "slots");
    int64_t iterations = workload_param(run, "iterations");
    int64_t *val = platform_alloc(n * sizeof *val),
            *next_val = platform_alloc(n * sizeof *next_val);
    for (size_t k = 0; k < n; k++) {
        val[k] = (int64_t)k;
        next_val[k] = -1;
    }
    uint32_t x = 2463534242u;
    uint64_t sum = 0;
    for (int64_t it = 0; it < iterations; it++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t i = x % (uint32_t)n;
        sum += (uint64_t)val[i];
        next_val[i] = val[i];
        val[i] = it;
    }
    for (size_t k = 0; k < n; k++)
        sum += (uint64_t)val[k] + (next_val[k] >= 0 ? (uint64_t)next_val[k] : 0);
    platform_free(val);
    platform_free(next_val);
    return sum * run->mutators;
}

const struct workload workload_remset_stress = {
    .name = "remset-stress",
    .summary = "old-to-young stores into a long-lived array: exercises the remembered set",
    .flags = {{"slots", "slots in the long-lived array", 1000000, 1, 100000000},
              {"iterations", "random replacements", 50000000, 0, INT64_MAX / 2}},
    .run = run,
    .expected_checksum = expected,
};
