/*
 * lib/marking's cycles (old_gc=incremental|concurrent; in an stw build these tests are
 * skipped) and the marking worklist of lib/barrier:
 *   - the lost-object race: a black object is given the only reference to a white one
 *     while a grey one drops it. With the build's barrier on, the marking invariant
 *     holds at the end; with the barrier turned off for this mutator, the verifier
 *     reports the reachable white object: the test can catch a missing barrier;
 *   - what an object promoted by a scavenge during marking held while it was young
 *     (unbarriered) survives the cycle, strong references (fails if the scavenger does
 *     not grey them under dijkstra) and weak ones (their old targets are kept: the
 *     markers never scan a promoted object, so nothing would clear the slot);
 *   - weak slots of old objects are cleared when their target dies in a cycle, and weak
 *     processors (hooks for the JIT's code lists) run after every old collection's marking;
 *   - an OSR cache hit during a cycle greys the code the weak entry held;
 *   - concurrent sweeping (old_gc=concurrent): queued pages are swept on demand by the
 *     allocating mutator, the rest when sweeping finishes, and every dead byte is freed;
 *   - the worklist: objects pushed by several threads and taken by several others
 *     through the shared pool are each taken exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/barrier.h"
#include "barrier/marking_worklist.h"
#include "codecache/codecache.h"
#include "gc/gc.h"
#include "heap/spaces.h"
#include "heap/verify.h"
#include "marking/marking.h"
#if MARKING_CYCLES
#include "marking/marker.h"
#endif

struct env {
    struct heap *heap;
    struct gc *gc;
    struct mutator m;
    struct object *map; /* a struct with one tagged field */
};

static void env_open(struct env *e, bool verify)
{
    struct heap_config config = {.young_size_bytes = 1 * MiB,
                                 .heap_size_bytes = 64 * MiB,
                                 .gc_threads = 2,
                                 .verify_heap = verify};
    e->heap = heap_create(&config, NULL);
    e->gc = gc_create(e->heap, NULL);
    gc_mutator_attach(e->gc, &e->m, "test");
    e->map = heap_create_struct_map(e->heap, 1, 1);
}

static void env_close(struct env *e)
{
    gc_mutator_detach(&e->m);
    gc_destroy(e->gc);
    heap_destroy(e->heap);
}

static struct object *new_old(struct env *e, int64_t id)
{
    struct object *o = heap_allocate_old(&e->m, e->map, 3 * WORD_BYTES);
    object_set_raw(o, 1, VALUE_NULL);
    object_set_raw(o, 2, (value_t)id);
    return o;
}

#if MARKING_CYCLES
/* The pauses are run by hand here (no marker tasks are started), so that the order in
 * which objects turn black is the test's to choose. */
static void begin(struct env *e, struct pause_record *pause, struct gc_tracer *tracer)
{
    safepoint_begin(&e->heap->safepoint, &e->m.safepoint, NULL);
    marking_pause(e->heap); /* concurrent: stop marker tasks a scavenge started */
    heap_retire_lab(e->heap, &e->m.lab);
    remset_flush_all(e->heap);
    *pause = (struct pause_record){0};
    *tracer = (struct gc_tracer){NULL, pause, 0};
}

static void end(struct env *e) { safepoint_end(&e->heap->safepoint, &e->m.safepoint); }

static void publish_buffer(struct mutator *m, void *arg) { mark_local_publish(m->marking_local); }

static size_t lost_object_problems(bool barrier_on)
{
    struct env e;
    env_open(&e, false);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    value_t *c = handle_of(&e.m, new_old(&e, 3));
    value_t *a = handle_of(&e.m, new_old(&e, 1)); /* the last root: it is scanned first */
    struct object *b = new_old(&e, 2);
    object_store(&e.m, handle_object(c), 1, value_from_object(b));

    struct pause_record pause;
    struct gc_tracer tracer;
    begin(&e, &pause, &tracer);
    marking_start(e.heap, &tracer, 1);
    end(&e);
    assert_true(e.m.marking_barrier);

    /* One object's worth of marking: A turns black; C (holding B) stays grey. */
    struct marking *mk = marking_of(e.heap);
    struct mark_local local;
    mark_local_init(&local, &mk->pool);
    struct marker w;
    marker_init(&w, mk, &local);
    assert_false(marker_drain(&w, 1, NULL));
    assert_true(page_is_marked(page_of(handle_object(a)), handle_object(a)));
    assert_false(page_is_marked(page_of(b), b));

    e.m.marking_barrier = barrier_on;
    object_store(&e.m, handle_object(a), 1, value_from_object(b)); /* black -> white */
    object_store(&e.m, handle_object(c), 1, VALUE_NULL);           /* the grey path goes */
    e.m.marking_barrier = true;

    begin(&e, &pause, &tracer);
    mark_local_publish(e.m.marking_local);
    assert_true(marker_drain(&w, UINT64_MAX, NULL));
    marker_finish(&w);
    mark_local_destroy(&local);
    char report[2048];
    size_t problems = heap_verify_marking(e.heap, report, sizeof report);
    if (problems)
        print_message("barrier %s: %s\n", barrier_on ? "on" : "off", report);
    /* Leave a heap the cycle's sweep cannot break, then finish the cycle. */
    object_store(&e.m, handle_object(a), 1, VALUE_NULL);
    struct cycle_record cycle = {0};
    marking_finalize(e.heap, &tracer, &cycle);
    end(&e);
    assert_false(atomic_load(&e.heap->marking_active));
    handle_scope_close(&e.m, &scope);
    env_close(&e);
    return problems;
}

static void test_barrier_keeps_the_invariant(void **state)
{
    assert_int_equal(lost_object_problems(true), 0);
}

static void test_missing_barrier_is_caught(void **state)
{
    assert_true(lost_object_problems(false) > 0);
}

/* A is black and C grey when a young Y, born after the start, takes C's only
 * reference to D (unbarriered: Y is young) and A takes Y (not greyed: Y is young). Two
 * scavenges promote Y, black. Under dijkstra, unless the scavenger greys the old
 * objects what it promotes points to, D is lost (under satb the store into C greys D). */
static void test_promoted_during_marking_is_traced(void **state)
{
    struct env e;
    env_open(&e, false);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    value_t *c = handle_of(&e.m, new_old(&e, 3));
    value_t *a = handle_of(&e.m, new_old(&e, 1));
    struct object *d = new_old(&e, 4);
    object_store(&e.m, handle_object(c), 1, value_from_object(d));

    struct pause_record pause;
    struct gc_tracer tracer;
    begin(&e, &pause, &tracer);
    marking_start(e.heap, &tracer, 1);
    end(&e);
    struct marking *mk = marking_of(e.heap);
    struct mark_local local;
    mark_local_init(&local, &mk->pool);
    struct marker w;
    marker_init(&w, mk, &local);
    assert_false(marker_drain(&w, 1, NULL)); /* A */

    struct object *y = heap_new_struct(&e.m, e.map);
    object_set_raw(y, 1, object_get(handle_object(c), 1));
    object_store(&e.m, handle_object(a), 1, value_from_object(y));
    object_store(&e.m, handle_object(c), 1, VALUE_NULL);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    y = value_to_object(object_get(handle_object(a), 1));
    assert_false(object_in_young(y));
    assert_true(atomic_load(&e.heap->marking_active));

    begin(&e, &pause, &tracer);
    heap_for_each_mutator(e.heap, publish_buffer, NULL);
    marker_drain(&w, UINT64_MAX, NULL);
    marker_finish(&w);
    mark_local_destroy(&local);
    struct cycle_record cycle = {0};
    char report[2048];
    size_t problems = heap_verify_marking(e.heap, report, sizeof report);
    if (problems)
        print_error("%s\n", report);
    assert_int_equal(problems, 0);
    marking_finalize(e.heap, &tracer, &cycle);
    end(&e);
    y = value_to_object(object_get(handle_object(a), 1));
    assert_int_equal(object_get(value_to_object(object_get(y, 1)), 2), 4);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}

static void test_weak_slots_cleared_by_a_cycle(void **state)
{
    struct env e;
    env_open(&e, true);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    value_t *weak = handle_of(&e.m, heap_new_weak_array(&e.m, 2));
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    assert_false(object_in_young(handle_object(weak)));
    value_t *kept = handle_of(&e.m, new_old(&e, 5));
    struct object *dying = new_old(&e, 6);
    object_store(&e.m, handle_object(weak), 2, value_weak_from_object(dying));
    object_store(&e.m, handle_object(weak), 3, value_weak_from_object(handle_object(kept)));
    gc_collect(e.heap, &e.m, COLLECT_MARK_START);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_false(atomic_load(&e.heap->marking_active));
    /* Stored before the cycle: decided by it. */
    assert_int_equal(object_get(handle_object(weak), 2), VALUE_CLEARED);
    assert_int_equal(object_get(handle_object(weak), 3),
                     value_weak_from_object(handle_object(kept)));
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}
/* A weak array born after the start holds the only reference to an old X, weakly (no
 * barrier: the array is young), and scavenges promote the array. The slot must not be
 * left pointing at a swept X: the verifier (on) checks every slot after the cycle. The
 * start is run by hand so that no marker task can finish the cycle (and sweep X) before
 * the array holds X. */
static void test_promoted_weak_slot_keeps_its_target(void **state)
{
    struct env e;
    env_open(&e, true);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    struct object *x = new_old(&e, 7);
    struct pause_record pause;
    struct gc_tracer tracer;
    begin(&e, &pause, &tracer);
    marking_start(e.heap, &tracer, 1);
    end(&e);
    value_t *weak = handle_of(&e.m, heap_new_weak_array(&e.m, 1));
    assert_true(object_in_young(handle_object(weak)));
    object_store(&e.m, handle_object(weak), 2, value_weak_from_object(x));
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    assert_false(object_in_young(handle_object(weak)));
    assert_true(atomic_load(&e.heap->marking_active));
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_false(atomic_load(&e.heap->marking_active));
    assert_int_equal(object_get(handle_object(weak), 2), value_weak_from_object(x));
    assert_int_equal(object_get(x, 2), 7);
    /* The next cycle sees the slot from the start and clears it. */
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(object_get(handle_object(weak), 2), VALUE_CLEARED);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}
/* An OSR cache hit during a marking cycle (lib/codecache): the code was white when the
 * cycle started (only the cache held it, weakly), and the hit greys it, so the cycle keeps
 * it and its entry, although nothing rescans the frame that will run it under satb. */
static void test_osr_cache_hit_during_marking(void **state)
{
    struct env e;
    env_open(&e, true);
    struct codecache *cc = codecache_create(e.heap);
    struct object *code = codecache_allocate(&e.m, 1, 16);
    codecache_osr_insert(cc, 7, 42, code);
    struct pause_record pause;
    struct gc_tracer tracer;
    begin(&e, &pause, &tracer);
    marking_start(e.heap, &tracer, 1);
    end(&e);
    assert_false(page_is_marked(page_of(code), code));
    assert_true(codecache_osr_lookup(cc, &e.m, 7, 42, NULL) == code);
    begin(&e, &pause, &tracer);
    struct cycle_record cycle = {0};
    marking_finalize(e.heap, &tracer, &cycle);
    end(&e);
    assert_int_equal(codecache_stats(cc)->osr_entries, 1);
    assert_int_equal(codecache_stats(cc)->osr_cleared_by_gc, 0);
    /* Nothing holds it now: the next cycle clears the entry. */
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(codecache_stats(cc)->osr_entries, 0);
    assert_int_equal(codecache_stats(cc)->osr_cleared_by_gc, 1);
    codecache_destroy(cc);
    env_close(&e);
}

#if MARKING_CONCURRENT
/* Concurrent sweeping and sweeping on demand: a cycle run by hand (so that no sweeper
 * task runs) leaves the pages of 3 x 10000 dead old objects queued; every old allocation
 * then sweeps a page on the mutator before it allocates; the rest is swept when sweeping
 * finishes, and the freed bytes cover every dead object. The kept chain is intact and
 * the verifier (on) finds nothing in the next full collection. */
static void test_concurrent_sweeping_on_demand(void **state)
{
    struct env e;
    env_open(&e, true);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    value_t *head = handle_of(&e.m, new_old(&e, -1));
    const int64_t n = 40000;
    for (int64_t i = 0; i < n; i++) {
        struct object *o = new_old(&e, i);
        if (i % 4 == 0) { /* kept: linked to the chain */
            object_store(&e.m, o, 1, *head);
            *head = value_from_object(o);
        }
    }
    struct pause_record pause;
    struct gc_tracer tracer;
    begin(&e, &pause, &tracer);
    marking_start(e.heap, &tracer, 1);
    end(&e);
    begin(&e, &pause, &tracer);
    struct cycle_record cycle = {0};
    marking_finalize(e.heap, &tracer, &cycle);
    end(&e);
    struct sweeper *sw = &marking_of(e.heap)->sweeper;
    assert_true(atomic_load(&e.heap->sweeping));
    uint64_t swept;
    assert_false(marking_swept_bytes(e.heap, &swept)); /* not complete yet */
    size_t queued = sw->count, claimed = atomic_load(&sw->next);
    assert_true(queued >= 3); /* 40000 x 24 bytes: at least four 256 KiB pages */
    for (int k = 0; k < 2; k++)
        new_old(&e, n + k); /* each sweeps one page first */
    assert_int_equal(atomic_load(&sw->next), claimed + 2);
    marking_finish_sweeping(e.heap);
    assert_false(atomic_load(&e.heap->sweeping));
    assert_true(marking_swept_bytes(e.heap, &swept));
    assert_true(swept >= (uint64_t)(n - n / 4) * 3 * WORD_BYTES);
    int64_t expect = n - 4, count = 0;
    for (struct object *o = handle_object(head); object_get(o, 2) != (value_t)-1;
         o = value_to_object(object_get(o, 1)), expect -= 4, count++)
        assert_int_equal((int64_t)object_get(o, 2), expect);
    assert_int_equal(count, n / 4);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}
#else
static void test_concurrent_sweeping_on_demand(void **state) { skip(); }
#endif
#else
static void test_osr_cache_hit_during_marking(void **state) { skip(); }
static void test_concurrent_sweeping_on_demand(void **state) { skip(); }
static void test_barrier_keeps_the_invariant(void **state) { skip(); }
static void test_promoted_weak_slot_keeps_its_target(void **state) { skip(); }
static void test_missing_barrier_is_caught(void **state) { skip(); }
static void test_promoted_during_marking_is_traced(void **state) { skip(); }
static void test_weak_slots_cleared_by_a_cycle(void **state) { skip(); }
#endif

/* Every old-generation collection calls the registered weak processors after marking,
 * when a dead old object is unmarked and a live one marked (the JIT's code lists will). */
struct weak_probe {
    struct object *live, *dead;
    int calls, live_survives, dead_survives;
};

static void probe(struct heap *heap, void *ctx)
{
    struct weak_probe *p = ctx;
    p->calls++;
    p->live_survives += heap_object_survives(p->live);
    p->dead_survives += heap_object_survives(p->dead);
}

static void test_weak_processors_run_after_marking(void **state)
{
    struct env e;
    env_open(&e, true);
    struct handle_scope scope;
    handle_scope_open(&e.m, &scope);
    value_t *live = handle_of(&e.m, new_old(&e, 7));
    struct weak_probe p = {.live = handle_object(live), .dead = new_old(&e, 8)};
    heap_add_weak_processor(e.heap, probe, &p);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.live_survives, 1);
    assert_int_equal(p.dead_survives, 0);
    gc_collect(e.heap, &e.m, COLLECT_SCAVENGE);
    assert_int_equal(p.calls, 1); /* scavenges leave old objects to the old collector */
    heap_remove_weak_processor(e.heap, probe, &p);
    gc_collect(e.heap, &e.m, COLLECT_FULL);
    assert_int_equal(p.calls, 1);
    handle_scope_close(&e.m, &scope);
    env_close(&e);
}

/* --- The worklist ------------------------------------------------------------------------- */

#define WL_PRODUCERS 2
#define WL_CONSUMERS 3
#define WL_ITEMS 400000

struct wl_shared {
    struct mark_pool pool;
    _Atomic uint32_t *taken; /* per item: how many times it was taken */
    _Atomic uint32_t producers_done;
    _Atomic uint64_t taken_count;
};

struct wl_thread {
    struct wl_shared *s;
    int index;
    pthread_t handle;
};

/* Items are fake object addresses 8, 16, ...: the worklist never dereferences them. */
static struct object *item(uint64_t i) { return (struct object *)(uintptr_t)((i + 1) * 8); }
static uint64_t index_of(struct object *o) { return (uintptr_t)o / 8 - 1; }

static void *producer(void *arg)
{
    struct wl_thread *t = arg;
    struct mark_local local;
    mark_local_init(&local, &t->s->pool);
    for (uint64_t i = (uint64_t)t->index; i < WL_ITEMS; i += WL_PRODUCERS) {
        mark_local_push(&local, item(i));
        /* Take some back now and then, as a marker pushing and popping would. */
        if (i % 7 == 0) {
            struct object *o = mark_local_pop(&local);
            if (o) {
                atomic_fetch_add(&t->s->taken[index_of(o)], 1);
                atomic_fetch_add(&t->s->taken_count, 1);
            }
        }
    }
    mark_local_destroy(&local);
    atomic_fetch_add(&t->s->producers_done, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    struct wl_thread *t = arg;
    struct mark_local local;
    mark_local_init(&local, &t->s->pool);
    for (;;) {
        struct object *o = mark_local_pop(&local);
        if (o) {
            atomic_fetch_add(&t->s->taken[index_of(o)], 1);
            atomic_fetch_add(&t->s->taken_count, 1);
            continue;
        }
        if (atomic_load(&t->s->producers_done) == WL_PRODUCERS && mark_pool_is_empty(&t->s->pool))
            break;
    }
    mark_local_destroy(&local);
    return NULL;
}

static void test_worklist_takes_every_item_once(void **state)
{
    struct wl_shared s = {0};
    mark_pool_init(&s.pool);
    s.taken = calloc(WL_ITEMS, sizeof *s.taken);
    struct wl_thread threads[WL_PRODUCERS + WL_CONSUMERS];
    for (int i = 0; i < WL_PRODUCERS + WL_CONSUMERS; i++) {
        threads[i] = (struct wl_thread){.s = &s, .index = i < WL_PRODUCERS ? i : i - WL_PRODUCERS};
        assert_int_equal(pthread_create(&threads[i].handle, NULL,
                                        i < WL_PRODUCERS ? producer : consumer, &threads[i]),
                         0);
    }
    for (int i = 0; i < WL_PRODUCERS + WL_CONSUMERS; i++)
        pthread_join(threads[i].handle, NULL);
    assert_int_equal(atomic_load(&s.taken_count), WL_ITEMS);
    for (uint64_t i = 0; i < WL_ITEMS; i++)
        if (atomic_load(&s.taken[i]) != 1)
            fail_msg("item %llu taken %u times", (unsigned long long)i, atomic_load(&s.taken[i]));
    assert_true(mark_pool_is_empty(&s.pool));
    free(s.taken);
    mark_pool_destroy(&s.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_keeps_the_invariant),
        cmocka_unit_test(test_missing_barrier_is_caught),
        cmocka_unit_test(test_promoted_during_marking_is_traced),
        cmocka_unit_test(test_promoted_weak_slot_keeps_its_target),
        cmocka_unit_test(test_weak_slots_cleared_by_a_cycle),
        cmocka_unit_test(test_weak_processors_run_after_marking),
        cmocka_unit_test(test_concurrent_sweeping_on_demand),
        cmocka_unit_test(test_osr_cache_hit_during_marking),
        cmocka_unit_test(test_worklist_takes_every_item_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
