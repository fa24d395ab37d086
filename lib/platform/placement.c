/*
 * Thread and page placement on an hwloc topology (the policies are described in
 * placement.h). The computation walks hwloc's logical order: cores (PUs when the
 * topology has no cores) are assigned to "domains", one per NUMA node that has cores of
 * its own, plus one for cores outside every node; then each slot (mutators, then GC
 * workers 1..N-1) gets a core or a whole domain according to the policy. Compact and
 * scatter are the two classic affinity layouts (OpenMP's proc_bind close and spread,
 * hwloc-bind and hwloc-distrib); scatter goes one core at a time, round-robin over the
 * nodes, alternating packages. The numa policy follows the NUMA-aware collectors of
 * Gidra et al.: NAPS ("A study of the scalability of stop-the-world garbage collectors
 * on multicores", ASPLOS 2013) and NumaGiC (ASPLOS 2015), which keep memory on the node
 * of the thread that allocates it and let a GC thread prefer work from its own node; here
 * a thief visits the deques of its own node, then of its package, then the rest.
 *
 * Invariants: a computed placement never changes, except the atomic counters (slots
 * bound, chunks bound per node), so any thread may read it without locks. The active
 * placement is published with a release store before the threads it governs start, and
 * replaced only after they have been joined. A thread's slot is remembered in two
 * thread-locals tagged with the activation's generation, so a slot taken under an
 * earlier activation is never mistaken for one of the current.
 */
#include "platform/placement.h"

#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct placement_domain {
    int node;               /* OS index; -1: cores outside every NUMA node */
    int package;            /* logical index of its first core's package; -1: none */
    hwloc_bitmap_t cpuset;  /* the union of its cores */
    hwloc_bitmap_t nodeset; /* {node}; empty when node is -1 */
    uint32_t core_count;    /* cores[] are indexes into the topology's cores, ascending */
    uint32_t *cores;
    _Atomic uint64_t chunks; /* numa, applied: chunks bound to this node */
    _Atomic uint64_t bytes;
    _Atomic uint64_t round_robin_chunks;
};

struct placement {
    enum placement_policy policy;
    bool applied;
    char source[256];
    char reason[192];
    char summary[32];
    uint32_t mutators, gc_threads;
    hwloc_topology_t topology; /* borrowed; NULL for policy none without a topology */

    uint32_t domain_count;
    struct placement_domain *domains;

    uint32_t slot_count;
    struct placement_thread *slots;
    uint32_t *slot_domain;
    hwloc_bitmap_t *slot_cpusets;
    atomic_bool *slot_bound;

    uint32_t mutator_domain_count; /* distinct domains of the mutators, first use order */
    uint32_t *mutator_domains;
    _Atomic uint64_t round_robin_cursor;
};

static const char *const policy_names[] = {"none", "compact", "scatter", "numa"};

const char *placement_policy_name(enum placement_policy policy)
{
    return (unsigned)policy < ARRAY_LENGTH(policy_names) ? policy_names[policy] : "?";
}

int placement_policy_parse(const char *name, enum placement_policy *out)
{
    for (size_t i = 0; i < ARRAY_LENGTH(policy_names); i++) {
        if (strcmp(name, policy_names[i]) == 0) {
            *out = (enum placement_policy)i;
            return 0;
        }
    }
    return -1;
}

const char *placement_role_name(enum placement_role role)
{
    return role == PLACEMENT_MUTATOR ? "mutator" : "gc";
}

/* --- Computation ------------------------------------------------------------------- */

static struct placement *fail(struct placement *p, char *error, size_t error_size,
                              const char *message)
{
    snprintf(error, error_size, "%s", message);
    placement_destroy(p);
    return NULL;
}

static uint32_t *cpus_of(hwloc_const_bitmap_t set, uint32_t *count)
{
    int weight = hwloc_bitmap_weight(set);
    uint32_t *cpus = platform_calloc(weight > 0 ? (size_t)weight : 1, sizeof *cpus);
    uint32_t n = 0;
    unsigned id;
    hwloc_bitmap_foreach_begin(id, set) { cpus[n++] = id; }
    hwloc_bitmap_foreach_end();
    *count = n;
    return cpus;
}

/* Domains: NUMA nodes with cores of their own, in logical order, then the cores in no
 * node. Fills core_domain[c] for every core. */
static void build_domains(struct placement *p, hwloc_obj_t *cores, uint32_t core_count,
                          uint32_t *core_domain)
{
    hwloc_topology_t topo = p->topology;
    int node_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    /* core_node[c]: logical index of the first node whose cpuset includes core c. */
    int *core_node = platform_calloc(core_count, sizeof *core_node);
    uint32_t *node_cores = platform_calloc((size_t)node_count + 1, sizeof *node_cores);
    for (uint32_t c = 0; c < core_count; c++) {
        core_node[c] = node_count; /* the "no node" domain */
        for (int n = 0; n < node_count; n++) {
            hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)n);
            if (node->cpuset && hwloc_bitmap_isincluded(cores[c]->cpuset, node->cpuset)) {
                core_node[c] = n;
                break;
            }
        }
        node_cores[core_node[c]]++;
    }
    p->domains = platform_calloc((size_t)node_count + 1, sizeof *p->domains);
    for (int n = 0; n <= node_count; n++) {
        if (node_cores[n] == 0)
            continue;
        struct placement_domain *d = &p->domains[p->domain_count];
        hwloc_obj_t node =
            n < node_count ? hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)n) : NULL;
        d->node = node ? (int)node->os_index : -1;
        d->cpuset = hwloc_bitmap_alloc();
        d->nodeset = hwloc_bitmap_alloc();
        if (!d->cpuset || !d->nodeset)
            platform_fatal("out of memory: hwloc bitmaps");
        if (node)
            hwloc_bitmap_set(d->nodeset, node->os_index);
        d->cores = platform_calloc(node_cores[n], sizeof *d->cores);
        for (uint32_t c = 0; c < core_count; c++) {
            if (core_node[c] != n)
                continue;
            d->cores[d->core_count++] = c;
            hwloc_bitmap_or(d->cpuset, d->cpuset, cores[c]->cpuset);
            core_domain[c] = p->domain_count;
        }
        hwloc_obj_t package =
            hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, cores[d->cores[0]]);
        d->package = package ? (int)package->logical_index : -1;
        p->domain_count++;
    }
    platform_free(core_node);
    platform_free(node_cores);
}

/* Scatter's order of domains: by rank within their package, then by package, so that
 * consecutive domains alternate packages. */
static void scatter_order(const struct placement *p, uint32_t *order)
{
    uint32_t n = p->domain_count;
    uint32_t *rank = platform_calloc(n, sizeof *rank);
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < i; j++)
            rank[i] += p->domains[j].package == p->domains[i].package;
        order[i] = i;
    }
    for (uint32_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        uint32_t x = order[i], k = i;
        while (k > 0 && (rank[order[k - 1]] > rank[x] ||
                         (rank[order[k - 1]] == rank[x] &&
                          p->domains[order[k - 1]].package > p->domains[x].package))) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = x;
    }
    platform_free(rank);
}

struct slot_cursor {
    uint32_t *order; /* scatter: domains in scatter order */
    uint32_t *used;  /* scatter: cores taken per domain */
    uint32_t next;   /* scatter: position in order */
};

/* The core (an index into cores) that scatter gives to the next slot. */
static uint32_t scatter_next_core(const struct placement *p, struct slot_cursor *cur)
{
    for (;;) {
        for (uint32_t tries = 0; tries < p->domain_count; tries++) {
            uint32_t d = cur->order[cur->next++ % p->domain_count];
            if (cur->used[d] < p->domains[d].core_count)
                return p->domains[d].cores[cur->used[d]++];
        }
        memset(cur->used, 0, p->domain_count * sizeof *cur->used); /* every core taken */
    }
}

static void place_slots(struct placement *p, hwloc_obj_t *cores, uint32_t core_count,
                        const uint32_t *core_domain)
{
    p->slot_count = p->mutators + p->gc_threads - 1;
    p->slots = platform_calloc(p->slot_count, sizeof *p->slots);
    p->slot_domain = platform_calloc(p->slot_count, sizeof *p->slot_domain);
    p->slot_cpusets = platform_calloc(p->slot_count, sizeof *p->slot_cpusets);
    p->slot_bound = platform_calloc(p->slot_count, sizeof *p->slot_bound);
    struct slot_cursor cur = {0};
    if (p->policy == PLACEMENT_SCATTER) {
        cur.order = platform_calloc(p->domain_count, sizeof *cur.order);
        cur.used = platform_calloc(p->domain_count, sizeof *cur.used);
        scatter_order(p, cur.order);
    }
    for (uint32_t k = 0; k < p->slot_count; k++) {
        struct placement_thread *t = &p->slots[k];
        t->role = k < p->mutators ? PLACEMENT_MUTATOR : PLACEMENT_GC;
        t->index = k < p->mutators ? k : k - p->mutators + 1;
        hwloc_const_bitmap_t set;
        if (p->policy == PLACEMENT_NUMA) {
            p->slot_domain[k] = k % p->domain_count;
            set = p->domains[p->slot_domain[k]].cpuset;
        } else {
            uint32_t c =
                p->policy == PLACEMENT_COMPACT ? k % core_count : scatter_next_core(p, &cur);
            p->slot_domain[k] = core_domain[c];
            set = cores[c]->cpuset;
        }
        p->slot_cpusets[k] = hwloc_bitmap_dup(set);
        if (!p->slot_cpusets[k])
            platform_fatal("out of memory: hwloc bitmaps");
        const struct placement_domain *d = &p->domains[p->slot_domain[k]];
        t->node = d->node;
        t->package = d->package;
        t->cpus = cpus_of(set, &t->cpu_count);
        atomic_init(&p->slot_bound[k], false);
    }
    platform_free(cur.order);
    platform_free(cur.used);

    p->mutator_domains = platform_calloc(p->domain_count, sizeof *p->mutator_domains);
    for (uint32_t k = 0; k < p->mutators; k++) {
        bool seen = false;
        for (uint32_t i = 0; i < p->mutator_domain_count; i++)
            seen |= p->mutator_domains[i] == p->slot_domain[k];
        if (!seen)
            p->mutator_domains[p->mutator_domain_count++] = p->slot_domain[k];
    }
}

struct placement *placement_compute(struct hwloc_topology *topology,
                                    const struct placement_request *request, char *error,
                                    size_t error_size)
{
    struct placement *p = platform_calloc(1, sizeof *p);
    p->policy = request->policy;
    p->mutators = request->mutators;
    p->gc_threads = request->gc_threads;
    p->topology = topology;
    atomic_init(&p->round_robin_cursor, 0);
    snprintf(p->source, sizeof p->source, "%s", request->source ? request->source : "");
    if ((unsigned)p->policy >= ARRAY_LENGTH(policy_names))
        return fail(p, error, error_size, "unknown placement policy");
    if (p->mutators == 0 || p->gc_threads == 0)
        return fail(p, error, error_size,
                    "a placement needs at least one mutator and one GC thread");
    if (p->policy == PLACEMENT_NONE) {
        snprintf(p->reason, sizeof p->reason, "policy none: threads run where the OS puts them");
        snprintf(p->summary, sizeof p->summary, "none");
        return p;
    }
    if (!topology)
        return fail(p, error, error_size, "no topology to place threads on");
    p->applied = request->this_machine;
    if (!p->applied)
        snprintf(p->reason, sizeof p->reason,
                 "the topology is not this machine's: the placement is computed and recorded, "
                 "no thread or page is bound");
    snprintf(p->summary, sizeof p->summary, "%s%s", placement_policy_name(p->policy),
             p->applied ? "" : "(planned)");

    hwloc_obj_type_t type =
        hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int count = hwloc_get_nbobjs_by_type(topology, type);
    if (count <= 0)
        return fail(p, error, error_size, "the topology has no cores");
    uint32_t core_count = (uint32_t)count;
    hwloc_obj_t *cores = platform_calloc(core_count, sizeof *cores);
    for (uint32_t c = 0; c < core_count; c++)
        cores[c] = hwloc_get_obj_by_type(topology, type, c);
    uint32_t *core_domain = platform_calloc(core_count, sizeof *core_domain);
    build_domains(p, cores, core_count, core_domain);
    bool outside = p->domains[p->domain_count - 1].node < 0;
    if (p->policy == PLACEMENT_NUMA && outside) {
        char cpus[64];
        hwloc_bitmap_list_snprintf(cpus, sizeof cpus, p->domains[p->domain_count - 1].cpuset);
        snprintf(error, error_size, "numa placement: PUs %s are in no NUMA node", cpus);
        platform_free(cores);
        platform_free(core_domain);
        placement_destroy(p);
        return NULL;
    }
    place_slots(p, cores, core_count, core_domain);
    platform_free(cores);
    platform_free(core_domain);
    return p;
}

void placement_destroy(struct placement *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->domain_count; i++) {
        hwloc_bitmap_free(p->domains[i].cpuset);
        hwloc_bitmap_free(p->domains[i].nodeset);
        platform_free(p->domains[i].cores);
    }
    for (uint32_t k = 0; k < p->slot_count; k++) {
        hwloc_bitmap_free(p->slot_cpusets[k]);
        platform_free((void *)p->slots[k].cpus);
    }
    platform_free(p->domains);
    platform_free(p->slots);
    platform_free(p->slot_domain);
    platform_free(p->slot_cpusets);
    platform_free(p->slot_bound);
    platform_free(p->mutator_domains);
    platform_free(p);
}

/* --- Read access ----------------------------------------------------------------------- */

enum placement_policy placement_policy(const struct placement *p) { return p->policy; }
const char *placement_source(const struct placement *p) { return p->source; }
bool placement_applied(const struct placement *p) { return p->applied; }
const char *placement_not_applied_reason(const struct placement *p) { return p->reason; }
const char *placement_summary(const struct placement *p) { return p->summary; }
size_t placement_thread_count(const struct placement *p) { return p->slot_count; }

const struct placement_thread *placement_thread_at(const struct placement *p, size_t slot)
{
    return slot < p->slot_count ? &p->slots[slot] : NULL;
}

static bool slot_of(const struct placement *p, enum placement_role role, uint32_t index,
                    size_t *slot)
{
    if (p->slot_count == 0)
        return false;
    if (role == PLACEMENT_MUTATOR && index < p->mutators)
        *slot = index;
    else if (role == PLACEMENT_GC && index >= 1 && index < p->gc_threads)
        *slot = (size_t)p->mutators + index - 1;
    else
        return false;
    return true;
}

const struct placement_thread *placement_find(const struct placement *p, enum placement_role role,
                                              uint32_t index)
{
    size_t slot;
    return slot_of(p, role, index, &slot) ? &p->slots[slot] : NULL;
}

bool placement_thread_bound(const struct placement *p, size_t slot)
{
    return slot < p->slot_count && atomic_load(&p->slot_bound[slot]);
}

size_t placement_page_binding(const struct placement *p, struct placement_node_binding *out,
                              size_t max)
{
    if (!p->applied || p->policy != PLACEMENT_NUMA)
        return 0;
    for (uint32_t i = 0; i < p->domain_count && i < max; i++) {
        const struct placement_domain *d = &p->domains[i];
        out[i] = (struct placement_node_binding){
            .node = d->node,
            .chunks = atomic_load_explicit(&d->chunks, memory_order_relaxed),
            .bytes = atomic_load_explicit(&d->bytes, memory_order_relaxed),
            .round_robin_chunks =
                atomic_load_explicit(&d->round_robin_chunks, memory_order_relaxed),
        };
    }
    return p->domain_count;
}

/* --- The active placement ------------------------------------------------------------- */

static _Atomic(struct placement *) active_placement;
static atomic_uint active_generation;
atomic_bool placement_binds_memory;
static _Thread_local unsigned current_generation; /* 0: no slot */
static _Thread_local uint32_t current_slot;

/* Binds one scratch page to every node, so that a system that refuses memory binding
 * (no NUMA support, a seccomp filter on mbind) is found before the run starts. */
static int probe_memory_binding(const struct placement *p, char *error, size_t error_size)
{
    size_t page_bytes = (size_t)sysconf(_SC_PAGESIZE);
    void *scratch =
        mmap(NULL, page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (scratch == MAP_FAILED) {
        snprintf(error, error_size, "cannot map a scratch page: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < p->domain_count && rc == 0; i++) {
        if (hwloc_set_area_membind(p->topology, scratch, page_bytes, p->domains[i].nodeset,
                                   HWLOC_MEMBIND_BIND,
                                   HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_MIGRATE) != 0) {
            snprintf(error, error_size, "cannot bind memory to NUMA node %d: %s",
                     p->domains[i].node, strerror(errno));
            rc = -1;
        }
    }
    munmap(scratch, page_bytes);
    return rc;
}

int placement_activate(struct placement *p, char *error, size_t error_size)
{
    if (p && p->applied) {
        const struct hwloc_topology_support *support = hwloc_topology_get_support(p->topology);
        if (!support->cpubind->set_thisthread_cpubind) {
            snprintf(error, error_size,
                     "this system cannot bind threads to cpus (hwloc reports "
                     "no support)");
            return -1;
        }
        if (p->policy == PLACEMENT_NUMA) {
            if (!support->membind->set_area_membind || !support->membind->bind_membind) {
                snprintf(error, error_size,
                         "this system cannot bind memory to NUMA nodes "
                         "(hwloc reports no support)");
                return -1;
            }
            if (probe_memory_binding(p, error, error_size) != 0)
                return -1;
        }
    }
    atomic_fetch_add(&active_generation, 1);
    atomic_store_explicit(&active_placement, p, memory_order_release);
    atomic_store(&placement_binds_memory, p && p->applied && p->policy == PLACEMENT_NUMA);
    return 0;
}

struct placement *placement_active(void)
{
    return atomic_load_explicit(&active_placement, memory_order_acquire);
}

static const char *thread_kind(enum placement_role role)
{
    return role == PLACEMENT_MUTATOR ? "mutator" : "GC worker";
}

void placement_bind_current_thread(enum placement_role role, uint32_t index)
{
    struct placement *p = placement_active();
    if (!p || p->policy == PLACEMENT_NONE || (role == PLACEMENT_GC && index == 0))
        return;
    size_t slot;
    if (!slot_of(p, role, index, &slot))
        platform_fatal("internal error: the placement has no slot for %s %u (%u mutators, %u GC "
                       "threads)",
                       thread_kind(role), index, p->mutators, p->gc_threads);
    current_generation = atomic_load(&active_generation);
    current_slot = (uint32_t)slot;
    if (!p->applied)
        return;
    char cpus[256];
    hwloc_bitmap_list_snprintf(cpus, sizeof cpus, p->slot_cpusets[slot]);
    if (hwloc_set_cpubind(p->topology, p->slot_cpusets[slot], HWLOC_CPUBIND_THREAD) != 0)
        platform_fatal("--pin %s: cannot bind %s %u to PUs %s: %s",
                       placement_policy_name(p->policy), thread_kind(role), index, cpus,
                       strerror(errno));
    hwloc_bitmap_t now = hwloc_bitmap_alloc();
    if (!now)
        platform_fatal("out of memory: hwloc bitmaps");
    if (hwloc_get_cpubind(p->topology, now, HWLOC_CPUBIND_THREAD) != 0 ||
        !hwloc_bitmap_isequal(now, p->slot_cpusets[slot])) {
        char seen[256] = "unknown";
        hwloc_bitmap_list_snprintf(seen, sizeof seen, now);
        platform_fatal("--pin %s: %s %u was bound to PUs %s but may run on %s",
                       placement_policy_name(p->policy), thread_kind(role), index, cpus, seen);
    }
    hwloc_bitmap_free(now);
    atomic_store(&p->slot_bound[slot], true);
}

/* The calling thread's slot under the active placement p, or false. */
static bool current_slot_of(const struct placement *p, uint32_t *slot)
{
    if (!p || current_generation == 0 || current_generation != atomic_load(&active_generation) ||
        current_slot >= p->slot_count)
        return false;
    *slot = current_slot;
    return true;
}

int placement_current_node(void)
{
    struct placement *p = placement_active();
    uint32_t slot;
    return current_slot_of(p, &slot) ? p->slots[slot].node : -1;
}

void placement_bind_chunk_slow(void *start, size_t bytes)
{
    struct placement *p = placement_active();
    if (!p || !p->applied || p->policy != PLACEMENT_NUMA)
        return;
    uint32_t slot;
    bool round_robin = !current_slot_of(p, &slot);
    uint32_t domain;
    if (round_robin) {
        uint64_t k = atomic_fetch_add_explicit(&p->round_robin_cursor, 1, memory_order_relaxed);
        domain = p->mutator_domains[k % p->mutator_domain_count];
    } else {
        domain = p->slot_domain[slot];
    }
    struct placement_domain *d = &p->domains[domain];
    if (hwloc_set_area_membind(p->topology, start, bytes, d->nodeset, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_MIGRATE) != 0)
        platform_fatal("--pin numa: cannot bind %zu bytes at %p to NUMA node %d: %s", bytes, start,
                       d->node, strerror(errno));
    atomic_fetch_add_explicit(&d->chunks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->bytes, bytes, memory_order_relaxed);
    if (round_robin)
        atomic_fetch_add_explicit(&d->round_robin_chunks, 1, memory_order_relaxed);
}

/* --- Victim orders ---------------------------------------------------------------------- */

uint32_t *placement_gc_victim_orders(const struct placement *p, uint32_t tasks, int caller_node)
{
    if (!p || p->policy != PLACEMENT_NUMA || tasks < 2)
        return NULL;
    int *node = platform_calloc(tasks, sizeof *node);
    int *package = platform_calloc(tasks, sizeof *package);
    for (uint32_t i = 0; i < tasks; i++) {
        node[i] = package[i] = -1;
        if (i == 0) {
            node[0] = caller_node;
            for (uint32_t d = 0; d < p->domain_count; d++)
                if (caller_node >= 0 && p->domains[d].node == caller_node)
                    package[0] = p->domains[d].package;
        } else {
            const struct placement_thread *t = placement_find(p, PLACEMENT_GC, i);
            if (t) {
                node[i] = t->node;
                package[i] = t->package;
            }
        }
    }
    uint32_t *orders = platform_alloc((size_t)tasks * (tasks - 1) * sizeof *orders);
    for (uint32_t i = 0; i < tasks; i++) {
        uint32_t *row = orders + (size_t)i * (tasks - 1), n = 0;
        for (int group = 0; group < 3; group++) {
            for (uint32_t k = 1; k < tasks; k++) {
                uint32_t j = (i + k) % tasks;
                int g = node[i] >= 0 && node[j] == node[i]            ? 0
                        : package[i] >= 0 && package[j] == package[i] ? 1
                                                                      : 2;
                if (g == group)
                    row[n++] = j;
            }
        }
    }
    platform_free(node);
    platform_free(package);
    return orders;
}
