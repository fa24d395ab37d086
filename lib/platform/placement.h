/*
 * lib/platform: where threads run and where pages live. A placement is computed from an
 * hwloc topology (this machine's, or a synthetic or XML one standing in for a machine
 * this one is not), a policy, and the numbers of mutators and GC workers; it is pure
 * computation, so every decision can be tested on any machine. Applying it (binding
 * threads, binding pages, node-aware stealing) only happens with this machine's topology.
 *
 * Threads. A placement lists "slots" in this order: mutators 0..M-1, then the GC worker
 * pool's own threads 1..N-1. GC worker 0 has no slot: it is the mutator that stopped the
 * world (worker_pool_run runs task 0 on its caller), and it keeps that mutator's binding
 * and node. Cores are taken in hwloc's logical order, which fills a NUMA node, then the
 * rest of its package, before the next package. A NUMA node's cores are those included
 * in its cpuset and in no NUMA node before it (so a memory-only node, e.g. HBM sharing the
 * cores of a DDR node, gets no threads).
 *
 *   none     nothing is placed: no slots, threads run where the OS puts them.
 *   compact  slot k is bound to core k (all its PUs): consecutive cores, one each,
 *            filling one NUMA node and package before the next; mutators first.
 *   scatter  slot k is bound to one core, round-robin over the NUMA nodes in an order
 *            that alternates packages (node 0 of package 0, node 0 of package 1, node 1
 *            of package 0, ...), the next unused core of that node each time.
 *   numa     slot k is bound to the whole cpuset of NUMA node k mod D (D nodes with
 *            cores, logical order), not to one core. Pages are bound to the node of the
 *            thread that allocates them (placement_bind_chunk), and GC thieves try the
 *            tasks of their own node first, then of their package, then the others
 *            (placement_gc_victim_orders).
 *
 * More slots than cores (compact, scatter) wrap around: slot k of compact takes core
 * k mod C; scatter starts over from the first node once every core is used. numa wraps
 * over nodes by construction. Threads that share a core are then time-sliced by the OS.
 *
 * Pages (numa only). The chunk of a thread that has a slot is bound to that slot's node.
 * A thread without one (the main thread, which creates the heap: both semispaces and the
 * first old page) deals its chunks round-robin, one whole chunk each, over the nodes of
 * the mutators, so the young generation is spread over the nodes that allocate into it.
 * Bindings use MIGRATE, since jemalloc may hand back memory that was already touched.
 *
 * A placement computed from a synthetic or XML topology is "planned": it is recorded and
 * the threads take their slots' nodes (so node-aware stealing follows the plan), but no
 * thread or page is bound. The run itself runs on this machine, unpinned.
 *
 * Offers:  placement_compute/destroy and read access (for the CLI, run.json and tests);
 *          one process-wide active placement (placement_activate) that threads consult
 *          when they start (placement_bind_current_thread), page allocation consults
 *          (placement_bind_chunk), and the parallel scavenger consults for victim orders.
 * Needs:   hwloc (binding: hwloc_set_cpubind, hwloc_set_area_membind), platform memory
 *          and fatal errors.
 */
#ifndef WALTZ_PLATFORM_PLACEMENT_H
#define WALTZ_PLATFORM_PLACEMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

enum placement_policy { PLACEMENT_NONE, PLACEMENT_COMPACT, PLACEMENT_SCATTER, PLACEMENT_NUMA };
enum placement_role { PLACEMENT_MUTATOR, PLACEMENT_GC };

#define PLACEMENT_POLICY_NAMES "none, compact, scatter, numa"

const char *placement_policy_name(enum placement_policy policy); /* "none", "compact", ... */
/* 0 and *out, or -1 for a name that is not a policy. */
int placement_policy_parse(const char *name, enum placement_policy *out);
const char *placement_role_name(enum placement_role role); /* "mutator" or "gc" */

/* One slot. The cpus array belongs to the placement. */
struct placement_thread {
    enum placement_role role;
    uint32_t index; /* mutator index, or GC worker index (1..gc_threads-1) */
    int node;       /* OS index of its NUMA node; -1 if its cores are in none */
    int package;    /* logical index of its package; -1 if the topology has none */
    uint32_t cpu_count;
    const uint32_t *cpus; /* PU OS indexes it is bound to, ascending */
};

struct placement_request {
    enum placement_policy policy;
    uint32_t mutators;   /* >= 1 */
    uint32_t gc_threads; /* the GC worker pool's size, >= 1 (worker 0 included) */
    const char *source;  /* recorded: "this machine", a synthetic description, an XML path */
    bool this_machine;   /* the topology is this machine's: the placement can be applied */
};

struct hwloc_topology;
struct placement;

/* The placement of request on topology (platform_topology_open), which must stay loaded
 * as long as the placement lives. topology may be NULL only for PLACEMENT_NONE. Returns
 * NULL with a one-line reason in error when the request cannot be placed (no cores, or
 * numa on cores outside every NUMA node). */
struct placement *placement_compute(struct hwloc_topology *topology,
                                    const struct placement_request *request, char *error,
                                    size_t error_size);
void placement_destroy(struct placement *p);

enum placement_policy placement_policy(const struct placement *p);
const char *placement_source(const struct placement *p);
/* True when threads and pages are bound (a policy other than none, this machine). */
bool placement_applied(const struct placement *p);
/* Why it is not applied ("" when it is). */
const char *placement_not_applied_reason(const struct placement *p);
/* "numa", or "numa(planned)" when not applied; "none" for none. For summary.csv. */
const char *placement_summary(const struct placement *p);

/* Slots in order: mutators 0..M-1, then GC workers 1..N-1. */
size_t placement_thread_count(const struct placement *p);
const struct placement_thread *placement_thread_at(const struct placement *p, size_t slot);
/* The slot of (role, index), or NULL (GC worker 0, an index past the request, policy
 * none). */
const struct placement_thread *placement_find(const struct placement *p, enum placement_role role,
                                              uint32_t index);
/* True once the slot's thread has bound itself (applied placements only). */
bool placement_thread_bound(const struct placement *p, size_t slot);

/* Chunks bound per NUMA node (numa applied); nodes in logical order. round_robin_chunks
 * counts the chunks of threads without a slot, dealt over the mutators' nodes. */
struct placement_node_binding {
    int node;
    uint64_t chunks, bytes, round_robin_chunks;
};
/* Fills up to max entries and returns the number of nodes with cores (0 unless pages
 * are bound: policy numa, applied). */
size_t placement_page_binding(const struct placement *p, struct placement_node_binding *out,
                              size_t max);

/* --- The process-wide active placement ------------------------------------------------ */

/* Makes p the placement that threads started from now on take their slots from (NULL:
 * none). Call it before the threads it governs start and deactivate (NULL) after they
 * have been joined. For an applied placement it checks that this system can bind threads
 * and, for numa, memory to every node; returns 0, or -1 with a one-line reason. */
int placement_activate(struct placement *p, char *error, size_t error_size);
struct placement *placement_active(void);

/* Called by a thread as it starts (mutator threads in workloads/registry.c, GC workers
 * in worker_pool.c): takes the slot of (role, index) of the active placement and, when
 * it is applied, binds the thread to the slot's cpus (hwloc_set_cpubind,
 * HWLOC_CPUBIND_THREAD) and checks the binding. No-op without an active placement, or
 * for GC worker 0. A failure to bind is fatal (platform_fatal): never a silent fallback. */
void placement_bind_current_thread(enum placement_role role, uint32_t index);
/* OS index of the calling thread's node under the active placement, -1 if it has no
 * slot. */
int placement_current_node(void);

/* Binds a freshly allocated chunk (page-aligned, a multiple of the page size) to the node
 * of the calling thread (see "Pages" above). A no-op unless the active placement is numa
 * and applied. A failed binding is fatal. */
extern atomic_bool placement_binds_memory;
void placement_bind_chunk_slow(void *start, size_t bytes);
static inline void placement_bind_chunk(void *start, size_t bytes)
{
    if (UNLIKELY(atomic_load_explicit(&placement_binds_memory, memory_order_relaxed)))
        placement_bind_chunk_slow(start, bytes);
}

/* Victim orders for `tasks` GC tasks that steal from each other (task i running on GC
 * worker i; task 0 on the calling thread, whose node is caller_node, e.g.
 * placement_current_node()). Row i (tasks-1 entries, at i*(tasks-1)) lists every other
 * task: those on task i's node first, then those in its package, then the rest; within
 * each group in the order i+1, i+2, ... (mod tasks), so thieves of one node start at
 * different victims. A task whose node is unknown (-1) gets only the last group. Returns
 * a new array (release with platform_free) for lib/scavenge's
 * worklist_termination_set_victim_orders, or NULL when p is NULL, its policy is not numa,
 * or tasks < 2 (then thieves pick victims at random). */
uint32_t *placement_gc_victim_orders(const struct placement *p, uint32_t tasks, int caller_node);

#endif
