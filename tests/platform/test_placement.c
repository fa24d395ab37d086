/*
 * Tests of thread and page placement (lib/platform/placement.c).
 *
 * Decisions, on hwloc synthetic topologies: "pack:2 numa:2 core:16 pu:1" (2 packages,
 * 4 NUMA nodes of 16 cores, 64 PUs) with 4 mutators and 8 GC threads under every policy;
 * a single-node machine ("core:2 pu:1"); more threads than cores (wrap-around); cores
 * with two hardware threads; the victim orders of node-aware stealing; invalid
 * topology descriptions and requests.
 * Application, on this machine: a thread that takes its slot is bound to exactly the
 * slot's PUs (read back with sched_getaffinity), GC pool workers take the GC slots, a
 * chunk bound under numa reports the node it was bound to (hwloc_get_area_membind) and
 * is counted, and a planned (synthetic) placement gives threads their nodes but binds
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/placement.h"
#include "platform/platform.h"
#include "platform/worker_pool.h"

#define TWO_SOCKETS "pack:2 numa:2 core:16 pu:1"

struct planned {
    struct platform_topology summary;
    struct hwloc_topology *topology;
    struct placement *p;
};

static void plan(struct planned *out, const char *spec, enum placement_policy policy,
                 uint32_t mutators, uint32_t gc_threads)
{
    const char *error = NULL;
    assert_int_equal(platform_topology_open(&out->summary, &out->topology, spec, &error), 0);
    struct placement_request request = {
        .policy = policy,
        .mutators = mutators,
        .gc_threads = gc_threads,
        .source = spec ? spec : "this machine",
        .this_machine = spec == NULL,
    };
    char message[256] = "";
    out->p = placement_compute(out->topology, &request, message, sizeof message);
    if (!out->p)
        fail_msg("placement_compute: %s", message);
}

static void unplan(struct planned *pl)
{
    placement_destroy(pl->p);
    platform_topology_close(pl->topology);
}

/* Slot `slot` is (role, index) on node/package, bound to cpu_count PUs from first_cpu. */
static void check_slot(const struct placement *p, size_t slot, enum placement_role role,
                       uint32_t index, int node, int package, uint32_t first_cpu,
                       uint32_t cpu_count)
{
    const struct placement_thread *t = placement_thread_at(p, slot);
    assert_non_null(t);
    assert_int_equal(t->role, role);
    assert_int_equal(t->index, index);
    assert_int_equal(t->node, node);
    assert_int_equal(t->package, package);
    assert_int_equal(t->cpu_count, cpu_count);
    for (uint32_t k = 0; k < cpu_count; k++)
        assert_int_equal(t->cpus[k], first_cpu + k);
    assert_ptr_equal(placement_find(p, role, index), t);
}

/* --- Names and bad input -------------------------------------------------------------- */

static void test_policy_names(void **state)
{
    const char *names[] = {"none", "compact", "scatter", "numa"};
    for (size_t i = 0; i < ARRAY_LENGTH(names); i++) {
        enum placement_policy policy;
        assert_int_equal(placement_policy_parse(names[i], &policy), 0);
        assert_int_equal(policy, (enum placement_policy)i);
        assert_string_equal(placement_policy_name(policy), names[i]);
    }
    enum placement_policy policy = PLACEMENT_SCATTER;
    assert_int_equal(placement_policy_parse("Numa", &policy), -1);
    assert_int_equal(placement_policy_parse("", &policy), -1);
    assert_int_equal(policy, PLACEMENT_SCATTER); /* untouched by a failed parse */
    assert_string_equal(placement_role_name(PLACEMENT_MUTATOR), "mutator");
    assert_string_equal(placement_role_name(PLACEMENT_GC), "gc");
}

static void test_invalid_topology(void **state)
{
    struct platform_topology summary;
    struct hwloc_topology *topology = (struct hwloc_topology *)&summary;
    const char *error = NULL;
    assert_int_equal(platform_topology_open(&summary, &topology, "frob:2", &error), -1);
    assert_null(topology);
    assert_string_equal(error, "invalid hwloc synthetic topology description");
    error = NULL;
    assert_int_equal(platform_topology_open(&summary, &topology, "pack:2 core:0", &error), -1);
    assert_non_null(error);
    error = NULL;
    assert_int_equal(platform_topology_open(&summary, &topology, "/no/such/topology.xml", &error),
                     -1);
    assert_string_equal(error, "cannot read the hwloc XML topology file");
}

static void test_invalid_request(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_COMPACT, 1, 1);
    char message[256] = "";
    struct placement_request request = {.policy = PLACEMENT_NUMA, .mutators = 0, .gc_threads = 4};
    assert_null(placement_compute(pl.topology, &request, message, sizeof message));
    assert_non_null(strstr(message, "at least one mutator"));
    request =
        (struct placement_request){.policy = PLACEMENT_COMPACT, .mutators = 1, .gc_threads = 1};
    message[0] = '\0';
    assert_null(placement_compute(NULL, &request, message, sizeof message));
    assert_non_null(strstr(message, "no topology"));
    unplan(&pl);

    /* none needs no topology, and places nothing. */
    request.policy = PLACEMENT_NONE;
    struct placement *p = placement_compute(NULL, &request, message, sizeof message);
    assert_non_null(p);
    assert_int_equal(placement_thread_count(p), 0);
    assert_false(placement_applied(p));
    assert_string_equal(placement_summary(p), "none");
    assert_null(placement_find(p, PLACEMENT_MUTATOR, 0));
    assert_null(placement_gc_victim_orders(p, 4, 0));
    placement_destroy(p);
}

/* --- Two packages, four NUMA nodes, 64 cores ------------------------------------------ */

static void check_common(const struct placement *p, enum placement_policy policy)
{
    assert_int_equal(placement_policy(p), policy);
    assert_int_equal(placement_thread_count(p), 4 + 7);
    assert_false(placement_applied(p));
    assert_non_null(strstr(placement_not_applied_reason(p), "not this machine"));
    char summary[32];
    snprintf(summary, sizeof summary, "%s(planned)", placement_policy_name(policy));
    assert_string_equal(placement_summary(p), summary);
    assert_string_equal(placement_source(p), TWO_SOCKETS);
    /* GC worker 0 is a mutator: it has no slot. So do indexes past the request. */
    assert_null(placement_find(p, PLACEMENT_GC, 0));
    assert_null(placement_find(p, PLACEMENT_GC, 8));
    assert_null(placement_find(p, PLACEMENT_MUTATOR, 4));
    assert_int_equal(placement_page_binding(p, NULL, 0), 0);
}

static void test_two_sockets_numa(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_NUMA, 4, 8);
    assert_int_equal(pl.summary.packages, 2);
    assert_int_equal(pl.summary.numa_nodes, 4);
    assert_int_equal(pl.summary.cores, 64);
    check_common(pl.p, PLACEMENT_NUMA);
    /* One node each, round-robin, bound to the whole node (16 PUs). */
    for (uint32_t m = 0; m < 4; m++)
        check_slot(pl.p, m, PLACEMENT_MUTATOR, m, (int)m, (int)m / 2, 16 * m, 16);
    /* GC workers 1..7 continue the round-robin: nodes 0, 1, 2, 3, 0, 1, 2. */
    for (uint32_t g = 1; g < 8; g++) {
        uint32_t node = (4 + g - 1) % 4;
        check_slot(pl.p, 4 + g - 1, PLACEMENT_GC, g, (int)node, (int)node / 2, 16 * node, 16);
    }
    unplan(&pl);
}

static void test_two_sockets_compact(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_COMPACT, 4, 8);
    check_common(pl.p, PLACEMENT_COMPACT);
    /* Cores 0..3 of node 0, then the GC workers on cores 4..10, one core each. */
    for (uint32_t m = 0; m < 4; m++)
        check_slot(pl.p, m, PLACEMENT_MUTATOR, m, 0, 0, m, 1);
    for (uint32_t g = 1; g < 8; g++)
        check_slot(pl.p, 4 + g - 1, PLACEMENT_GC, g, 0, 0, 4 + g - 1, 1);
    unplan(&pl);

    /* Filling node 0 moves on to node 1, then to package 1. */
    plan(&pl, TWO_SOCKETS, PLACEMENT_COMPACT, 40, 1);
    check_slot(pl.p, 15, PLACEMENT_MUTATOR, 15, 0, 0, 15, 1);
    check_slot(pl.p, 16, PLACEMENT_MUTATOR, 16, 1, 0, 16, 1);
    check_slot(pl.p, 32, PLACEMENT_MUTATOR, 32, 2, 1, 32, 1);
    check_slot(pl.p, 39, PLACEMENT_MUTATOR, 39, 2, 1, 39, 1);
    unplan(&pl);
}

static void test_two_sockets_scatter(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_SCATTER, 4, 8);
    check_common(pl.p, PLACEMENT_SCATTER);
    /* Nodes in the order 0 (package 0), 2 (package 1), 1 (package 0), 3 (package 1), the
     * next unused core of the node each time: consecutive threads alternate packages. */
    static const int nodes[] = {0, 2, 1, 3};
    for (uint32_t k = 0; k < 11; k++) {
        int node = nodes[k % 4];
        uint32_t cpu = 16 * (uint32_t)node + k / 4;
        if (k < 4)
            check_slot(pl.p, k, PLACEMENT_MUTATOR, k, node, node / 2, cpu, 1);
        else
            check_slot(pl.p, k, PLACEMENT_GC, k - 3, node, node / 2, cpu, 1);
    }
    unplan(&pl);
}

static void test_two_sockets_none(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_NONE, 4, 8);
    assert_int_equal(placement_thread_count(pl.p), 0);
    assert_false(placement_applied(pl.p));
    assert_string_equal(placement_summary(pl.p), "none");
    assert_non_null(strstr(placement_not_applied_reason(pl.p), "policy none"));
    unplan(&pl);
}

/* --- Small machines, wrap-around, hyperthreads ------------------------------------------ */

static void test_single_node(void **state)
{
    static const enum placement_policy one_core[] = {PLACEMENT_COMPACT, PLACEMENT_SCATTER};
    struct planned pl;
    for (size_t i = 0; i < ARRAY_LENGTH(one_core); i++) {
        plan(&pl, "core:2 pu:1", one_core[i], 1, 2);
        assert_int_equal(placement_thread_count(pl.p), 2);
        check_slot(pl.p, 0, PLACEMENT_MUTATOR, 0, 0, -1, 0, 1);
        check_slot(pl.p, 1, PLACEMENT_GC, 1, 0, -1, 1, 1);
        unplan(&pl);
    }
    plan(&pl, "core:2 pu:1", PLACEMENT_NUMA, 1, 2);
    check_slot(pl.p, 0, PLACEMENT_MUTATOR, 0, 0, -1, 0, 2);
    check_slot(pl.p, 1, PLACEMENT_GC, 1, 0, -1, 0, 2);
    unplan(&pl);
}

static void test_more_threads_than_cores(void **state)
{
    struct planned pl;
    /* Five slots on two cores: 0, 1, 0, 1, 0 for compact and scatter alike. */
    static const enum placement_policy one_core[] = {PLACEMENT_COMPACT, PLACEMENT_SCATTER};
    for (size_t i = 0; i < ARRAY_LENGTH(one_core); i++) {
        plan(&pl, "core:2 pu:1", one_core[i], 3, 3);
        assert_int_equal(placement_thread_count(pl.p), 5);
        for (uint32_t k = 0; k < 5; k++)
            assert_int_equal(placement_thread_at(pl.p, k)->cpus[0], k % 2);
        unplan(&pl);
    }
    /* Scatter on 64 cores: the first 64 slots take every core once, then it starts over. */
    plan(&pl, TWO_SOCKETS, PLACEMENT_SCATTER, 64, 7);
    bool seen[64] = {false};
    for (uint32_t k = 0; k < 64; k++) {
        uint32_t cpu = placement_thread_at(pl.p, k)->cpus[0];
        assert_true(cpu < 64);
        assert_false(seen[cpu]);
        seen[cpu] = true;
    }
    check_slot(pl.p, 64, PLACEMENT_GC, 1, 0, 0, 0, 1);
    check_slot(pl.p, 65, PLACEMENT_GC, 2, 2, 1, 32, 1);
    unplan(&pl);
    /* Compact on 64 cores: slot 64 is core 0 again. */
    plan(&pl, TWO_SOCKETS, PLACEMENT_COMPACT, 66, 1);
    check_slot(pl.p, 63, PLACEMENT_MUTATOR, 63, 3, 1, 63, 1);
    check_slot(pl.p, 64, PLACEMENT_MUTATOR, 64, 0, 0, 0, 1);
    check_slot(pl.p, 65, PLACEMENT_MUTATOR, 65, 0, 0, 1, 1);
    unplan(&pl);
    /* numa with 9 mutators on 4 nodes: the fifth and ninth are on node 0 again. */
    plan(&pl, TWO_SOCKETS, PLACEMENT_NUMA, 9, 1);
    check_slot(pl.p, 4, PLACEMENT_MUTATOR, 4, 0, 0, 0, 16);
    check_slot(pl.p, 8, PLACEMENT_MUTATOR, 8, 0, 0, 0, 16);
    unplan(&pl);
}

static void test_hyperthreads(void **state)
{
    struct planned pl;
    /* A core is bound with all its PUs: slot 1 of compact is core 1 = PUs 2 and 3. */
    plan(&pl, "pack:1 core:2 pu:2", PLACEMENT_COMPACT, 2, 1);
    check_slot(pl.p, 0, PLACEMENT_MUTATOR, 0, 0, 0, 0, 2);
    check_slot(pl.p, 1, PLACEMENT_MUTATOR, 1, 0, 0, 2, 2);
    unplan(&pl);
}

/* --- Victim orders ---------------------------------------------------------------------- */

static void check_permutation(const uint32_t *orders, uint32_t tasks)
{
    for (uint32_t i = 0; i < tasks; i++) {
        bool seen[64] = {false};
        for (uint32_t k = 0; k < tasks - 1; k++) {
            uint32_t v = orders[i * (tasks - 1) + k];
            assert_true(v < tasks);
            assert_int_not_equal(v, i);
            assert_false(seen[v]);
            seen[v] = true;
        }
    }
}

static void test_victim_orders(void **state)
{
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_NUMA, 4, 8);
    /* Task nodes: 0 (the caller, on node 0), then GC workers 1..7 on 0 1 2 3 0 1 2. */
    uint32_t *orders = placement_gc_victim_orders(pl.p, 8, 0);
    assert_non_null(orders);
    check_permutation(orders, 8);
    /* Task 0 (node 0, package 0): node 0 = {1, 5}, then node 1 = {2, 6}, then package 1. */
    static const uint32_t row0[] = {1, 5, 2, 6, 3, 4, 7};
    /* Task 3 (node 2, package 1): node 2 = {7}, node 3 = {4}, then the rest from 5 on. */
    static const uint32_t row3[] = {7, 4, 5, 6, 0, 1, 2};
    /* Task 5 (node 0): node 0 = {0, 1} starting after 5, then node 1 = {6, 2}. */
    static const uint32_t row5[] = {0, 1, 6, 2, 7, 3, 4};
    for (uint32_t k = 0; k < 7; k++) {
        assert_int_equal(orders[0 * 7 + k], row0[k]);
        assert_int_equal(orders[3 * 7 + k], row3[k]);
        assert_int_equal(orders[5 * 7 + k], row5[k]);
    }
    platform_free(orders);

    /* A caller on node 3 (package 1) puts task 4 first, then tasks 3 and 7 (node 2). */
    orders = placement_gc_victim_orders(pl.p, 8, 3);
    assert_int_equal(orders[0], 4);
    assert_int_equal(orders[1], 3);
    assert_int_equal(orders[2], 7);
    platform_free(orders);

    /* A caller with no node: task 0 tries everyone in turn. */
    orders = placement_gc_victim_orders(pl.p, 8, -1);
    for (uint32_t k = 0; k < 7; k++)
        assert_int_equal(orders[k], k + 1);
    check_permutation(orders, 8);
    platform_free(orders);

    /* Fewer tasks than the pool (GC workers 1..3): orders stay permutations. */
    orders = placement_gc_victim_orders(pl.p, 4, 1);
    check_permutation(orders, 4);
    assert_int_equal(orders[0], 2); /* task 0 on node 1: task 2 is there too */
    platform_free(orders);
    assert_null(placement_gc_victim_orders(pl.p, 1, 0));
    unplan(&pl);

    /* Only numa orders victims. */
    plan(&pl, TWO_SOCKETS, PLACEMENT_SCATTER, 4, 8);
    assert_null(placement_gc_victim_orders(pl.p, 8, 0));
    unplan(&pl);
    assert_null(placement_gc_victim_orders(NULL, 8, 0));
}

/* --- Applying a placement on this machine ----------------------------------------------- */

struct bind_probe {
    enum placement_role role;
    uint32_t index;
    cpu_set_t affinity; /* after binding */
    int node;           /* placement_current_node() after binding */
    bool bind_chunk;    /* also allocate and bind a chunk, and read its binding back */
    void *chunk;
    int chunk_node;
};

static void *bind_probe_main(void *arg)
{
    struct bind_probe *b = arg;
    placement_bind_current_thread(b->role, b->index);
    CPU_ZERO(&b->affinity);
    sched_getaffinity(0, sizeof b->affinity, &b->affinity);
    b->node = placement_current_node();
    if (b->bind_chunk) {
        b->chunk = platform_aligned_alloc(256 * KiB, 256 * KiB);
        placement_bind_chunk(b->chunk, 256 * KiB);
        memset(b->chunk, 1, 256 * KiB);
    }
    return NULL;
}

static void run_probe(struct bind_probe *b)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, bind_probe_main, b), 0);
    pthread_join(thread, NULL);
}

static void check_affinity(const struct bind_probe *b, const struct placement_thread *t)
{
    assert_int_equal(CPU_COUNT(&b->affinity), (int)t->cpu_count);
    for (uint32_t k = 0; k < t->cpu_count; k++)
        assert_true(CPU_ISSET(t->cpus[k], &b->affinity));
}

static int area_node(struct hwloc_topology *topology, void *start, size_t bytes)
{
    hwloc_bitmap_t nodeset = hwloc_bitmap_alloc();
    hwloc_membind_policy_t policy;
    int rc =
        hwloc_get_area_membind(topology, start, bytes, nodeset, &policy, HWLOC_MEMBIND_BYNODESET);
    int node = rc == 0 && policy == HWLOC_MEMBIND_BIND && hwloc_bitmap_weight(nodeset) == 1
                   ? hwloc_bitmap_first(nodeset)
                   : -2;
    hwloc_bitmap_free(nodeset);
    return node;
}

static void test_applied_compact(void **state)
{
    struct planned pl;
    plan(&pl, NULL, PLACEMENT_COMPACT, 2, 3);
    assert_true(placement_applied(pl.p));
    assert_string_equal(placement_summary(pl.p), "compact");
    assert_string_equal(placement_not_applied_reason(pl.p), "");
    char error[256];
    assert_int_equal(placement_activate(pl.p, error, sizeof error), 0);
    assert_ptr_equal(placement_active(), pl.p);
    assert_false(atomic_load(&placement_binds_memory));

    for (uint32_t m = 0; m < 2; m++) {
        struct bind_probe b = {.role = PLACEMENT_MUTATOR, .index = m};
        run_probe(&b);
        const struct placement_thread *t = placement_thread_at(pl.p, m);
        check_affinity(&b, t);
        assert_int_equal(b.node, t->node);
        assert_true(placement_thread_bound(pl.p, m));
    }
    /* GC pool workers 1 and 2 take slots 2 and 3 as they start; this thread (worker 0)
     * stays where it was. */
    assert_false(placement_thread_bound(pl.p, 2));
    struct worker_pool *pool = worker_pool_create(3, "tplace-");
    assert_true(placement_thread_bound(pl.p, 2));
    assert_true(placement_thread_bound(pl.p, 3));
    worker_pool_destroy(pool);
    assert_int_equal(placement_current_node(), -1);

    assert_int_equal(placement_activate(NULL, error, sizeof error), 0);
    assert_null(placement_active());
    unplan(&pl);
}

static void test_applied_numa_pages(void **state)
{
    struct planned pl;
    plan(&pl, NULL, PLACEMENT_NUMA, 1, 1);
    const struct hwloc_topology_support *support = hwloc_topology_get_support(pl.topology);
    if (!support->membind->set_area_membind || !support->membind->get_area_membind) {
        unplan(&pl);
        skip(); /* hwloc cannot bind memory on this system at all */
    }
    char error[256] = "";
    if (placement_activate(pl.p, error, sizeof error) != 0)
        fail_msg("placement_activate: %s", error);
    assert_true(atomic_load(&placement_binds_memory));
    const struct placement_thread *t = placement_thread_at(pl.p, 0);

    struct bind_probe b = {.role = PLACEMENT_MUTATOR, .index = 0, .bind_chunk = true};
    run_probe(&b);
    check_affinity(&b, t);
    assert_int_equal(b.node, t->node);
    assert_int_equal(area_node(pl.topology, b.chunk, 256 * KiB), t->node);

    /* This thread has no slot: its chunk is dealt to the mutators' node(s). */
    void *chunk = platform_aligned_alloc(256 * KiB, 256 * KiB);
    placement_bind_chunk(chunk, 256 * KiB);
    memset(chunk, 1, 256 * KiB);
    assert_int_equal(area_node(pl.topology, chunk, 256 * KiB), t->node);

    struct placement_node_binding nodes[8];
    size_t count = placement_page_binding(pl.p, nodes, 8);
    assert_true(count >= 1);
    uint64_t chunks = 0, bytes = 0, round_robin = 0;
    for (size_t i = 0; i < count && i < 8; i++) {
        chunks += nodes[i].chunks;
        bytes += nodes[i].bytes;
        round_robin += nodes[i].round_robin_chunks;
    }
    assert_int_equal(chunks, 2);
    assert_int_equal(bytes, 512 * KiB);
    assert_int_equal(round_robin, 1);

    assert_int_equal(placement_activate(NULL, error, sizeof error), 0);
    assert_false(atomic_load(&placement_binds_memory));
    platform_free(b.chunk);
    platform_free(chunk);
    unplan(&pl);
}

/* A planned placement: threads learn their planned node, nothing is bound. */
static void test_planned_binds_nothing(void **state)
{
    cpu_set_t before;
    CPU_ZERO(&before);
    sched_getaffinity(0, sizeof before, &before);
    struct planned pl;
    plan(&pl, TWO_SOCKETS, PLACEMENT_NUMA, 4, 2);
    char error[256];
    assert_int_equal(placement_activate(pl.p, error, sizeof error), 0);
    assert_false(atomic_load(&placement_binds_memory));
    struct bind_probe b = {.role = PLACEMENT_MUTATOR, .index = 2};
    run_probe(&b);
    assert_int_equal(b.node, 2);
    assert_true(CPU_EQUAL(&b.affinity, &before));
    assert_false(placement_thread_bound(pl.p, 2));
    assert_int_equal(placement_activate(NULL, error, sizeof error), 0);
    unplan(&pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_names),
        cmocka_unit_test(test_invalid_topology),
        cmocka_unit_test(test_invalid_request),
        cmocka_unit_test(test_two_sockets_numa),
        cmocka_unit_test(test_two_sockets_compact),
        cmocka_unit_test(test_two_sockets_scatter),
        cmocka_unit_test(test_two_sockets_none),
        cmocka_unit_test(test_single_node),
        cmocka_unit_test(test_more_threads_than_cores),
        cmocka_unit_test(test_hyperthreads),
        cmocka_unit_test(test_victim_orders),
        cmocka_unit_test(test_applied_compact),
        cmocka_unit_test(test_applied_numa_pages),
        cmocka_unit_test(test_planned_binds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
