/*
 * graph-mutator: edge swaps in a large old graph, to stress a marking barrier. Each
 * mutator pretenures a graph of --nodes nodes (edge 0 of node i points to node i + 1
 * mod n, the other edges at random) with a young payload per node, held by one root
 * handle. Then each of --rewires steps walks a cursor along random edges to two nodes
 * a and c and swaps a.e1 with c.e2 in the order that opens the lost-object window of
 * incremental and concurrent marking: b = a.e1 is read into a handle, c.e2's target is
 * stored into a.e1 (erasing a path to b, which Yuasa's 1990 snapshot barrier must log),
 * the step allocates (young garbage, and every --payload-every steps a payload that
 * replaces a's: an old-to-young store), and only then is b stored into c.e2 (a pointer
 * into a possibly black node, which the barrier of Dijkstra et al. 1978 must shade).
 * Swaps keep every in-degree but may detach parts of the graph: unreachable old nodes
 * and replaced payloads become garbage, so scavenges and marking cycles overlap the
 * swaps. The checksum walks what the root reaches; expected() replays everything on
 * plain arrays (formula in docs/workloads.md).
 */
#include "workload.h"

#include "barrier/barrier.h"

/* Node = { edge x E, payload (tagged); id (raw) }, Payload = { link (tagged); value (raw) } */
enum { NODE_EDGE = 1 };
enum { PAYLOAD_LINK = 1, PAYLOAD_VALUE = 2 };
#define SEED 0x9E3779B97F4A7C15ull
#define RESET_BITS 6 /* the cursor goes back to the root on 1 step in 2^RESET_BITS */

struct graph_mutator {
    struct object *node_map, *payload_map;
    int64_t nodes, edges, rewires, payload_every, payload_bytes, garbage;
    uint64_t *sums, *reached;
    int *failed;
};

/* One step's choices, taken from one PRNG draw (the oracle decodes it the same way). */
struct step {
    bool reset;
    unsigned hop_a, hop_x, hop_c, i1, i2;
};

static struct step decode(uint64_t r, int64_t edges)
{
    unsigned e = (unsigned)edges;
    return (struct step){.reset = r >> (64 - RESET_BITS) == 0,
                         .hop_a = (unsigned)(r % e),
                         .hop_x = (unsigned)((r >> 8) % e),
                         .hop_c = (unsigned)((r >> 16) % e),
                         .i1 = (unsigned)((r >> 24) % e),
                         .i2 = (unsigned)((r >> 32) % e)};
}

static size_t payload_slot(const struct graph_mutator *g) { return NODE_EDGE + (size_t)g->edges; }
static size_t id_slot(const struct graph_mutator *g) { return NODE_EDGE + (size_t)g->edges + 1; }
static uint64_t node_id(const struct graph_mutator *g, struct object *node)
{
    return (uint64_t)object_get(node, id_slot(g));
}
static struct object *edge(struct object *node, unsigned k)
{
    return value_to_object(object_get(node, NODE_EDGE + k));
}

/* The payload's fields are initialized before the next allocation; the store into the
 * old host goes through the barrier. */
static void new_payload(struct mutator *m, struct graph_mutator *g, value_t *host, uint64_t value)
{
    size_t words = (size_t)g->payload_bytes / WORD_BYTES;
    struct object *p = heap_allocate(m, g->payload_map, words * WORD_BYTES);
    object_set_raw(p, PAYLOAD_LINK, *host);
    object_set_raw(p, PAYLOAD_VALUE, (value_t)value);
    for (size_t w = PAYLOAD_VALUE + 1; w < words; w++)
        object_set_raw(p, w, 0);
    object_store(m, handle_object(host), payload_slot(g), value_from_object(p));
}

/* Pretenured nodes, held by a table until every edge is wired; returns node 0. */
static struct object *build(struct mutator *m, struct graph_mutator *g, uint64_t *state)
{
    size_t n = (size_t)g->nodes, words = id_slot(g) + 1;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t *table = handle_of(m, heap_new_fixed_array(m, n));
    for (size_t i = 0; i < n; i++) {
        struct object *node = heap_allocate_old(m, g->node_map, words * WORD_BYTES);
        for (size_t w = NODE_EDGE; w < id_slot(g); w++)
            object_set_raw(node, w, VALUE_NULL);
        object_set_raw(node, id_slot(g), (value_t)i);
        object_store(m, handle_object(table), 2 + i, value_from_object(node));
    }
    value_t *host = handle_new(m, VALUE_NULL);
    for (size_t i = 0; i < n; i++) {
        struct object *t = handle_object(table), *node = value_to_object(object_get(t, 2 + i));
        object_store(m, node, NODE_EDGE, object_get(t, 2 + (i + 1) % n));
        for (unsigned k = 1; k < (unsigned)g->edges; k++)
            object_store(m, node, NODE_EDGE + k, object_get(t, 2 + workload_random(state) % n));
        *host = value_from_object(node);
        new_payload(m, g, host, i);
    }
    struct object *root = value_to_object(object_get(handle_object(table), 2));
    handle_scope_close(m, &scope);
    return root;
}

/* Every reached node's term (docs/workloads.md); 0 nodes reached means a failure. */
static uint64_t traverse(struct graph_mutator *g, struct object *root, uint64_t *reached)
{
    size_t n = (size_t)g->nodes, top = 0;
    uint8_t *mark = platform_calloc(n, 1);
    struct object **stack = platform_alloc(n * sizeof *stack);
    uint64_t sum = 0;
    *reached = 0;
    mark[node_id(g, root)] = 1;
    stack[top++] = root;
    while (top > 0) {
        struct object *v = stack[--top];
        uint64_t id = node_id(g, v), edges_sum = 0;
        (*reached)++;
        for (unsigned k = 0; k < (unsigned)g->edges; k++) {
            value_t tv = object_get(v, NODE_EDGE + k);
            struct object *t = value_to_object(tv);
            if (!value_is_strong(tv) || object_map(t) != g->node_map || node_id(g, t) >= n)
                goto corrupt;
            uint64_t tid = node_id(g, t);
            edges_sum += (k + 1) * (tid + 1);
            if (!mark[tid]) {
                mark[tid] = 1;
                stack[top++] = t;
            }
        }
        value_t pv = object_get(v, payload_slot(g));
        struct object *p = value_to_object(pv);
        if (!value_is_strong(pv) || object_map(p) != g->payload_map ||
            !value_is_strong(object_get(p, PAYLOAD_LINK)))
            goto corrupt;
        struct object *link = value_to_object(object_get(p, PAYLOAD_LINK));
        uint64_t value = (uint64_t)object_get(p, PAYLOAD_VALUE);
        sum += (id + 1) * (1 + value + edges_sum) + node_id(g, link);
    }
    platform_free(mark);
    platform_free(stack);
    return sum;
corrupt:
    *reached = 0;
    platform_free(mark);
    platform_free(stack);
    return 0;
}

static void mutator(struct mutator *m, uint32_t index, void *ctx)
{
    struct graph_mutator *g = ctx;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    uint64_t state = SEED + index, sum = 0;
    value_t *root = handle_of(m, build(m, g, &state));
    value_t *cursor = handle_new(m, *root);
    value_t *ha = handle_new(m, VALUE_NULL), *hb = handle_new(m, VALUE_NULL);
    value_t *hc = handle_new(m, VALUE_NULL);
    size_t garbage_bytes = align_up((size_t)g->garbage, WORD_BYTES);
    size_t garbage_length =
        garbage_bytes > ARRAY_HEADER_BYTES ? garbage_bytes - ARRAY_HEADER_BYTES : 0;
    for (int64_t t = 0; t < g->rewires; t++) {
        struct step s = decode(workload_random(&state), g->edges);
        if (s.reset)
            *cursor = *root;
        struct object *a = edge(handle_object(cursor), s.hop_a);
        struct object *c = edge(edge(a, s.hop_x), s.hop_c);
        *ha = value_from_object(a);
        *hc = value_from_object(c);
        *hb = object_get(a, NODE_EDGE + s.i1);
        sum += node_id(g, handle_object(hb));
        object_store(m, a, NODE_EDGE + s.i1, object_get(c, NODE_EDGE + s.i2));
        /* The window: b is held by the handle alone while the step allocates. */
        if (g->garbage > 0)
            byte_array_data(heap_new_byte_array(m, garbage_length))[0] = (uint8_t)t;
        if (g->payload_every > 0 && t % g->payload_every == 0)
            new_payload(m, g, ha, (uint64_t)g->nodes + (uint64_t)t);
        mutator_poll(m);
        object_store(m, handle_object(hc), NODE_EDGE + s.i2, *hb);
        *cursor = *hc;
    }
    uint64_t reached;
    sum += traverse(g, handle_object(root), &reached);
    g->sums[index] = sum;
    g->reached[index] = reached;
    g->failed[index] = reached == 0;
    handle_scope_close(m, &scope);
}

static void setup(struct graph_mutator *g, const struct workload_run *run)
{
    g->nodes = workload_param(run, "nodes");
    g->edges = workload_param(run, "edges");
    g->rewires = workload_param(run, "rewires");
    g->payload_every = workload_param(run, "payload-every");
    g->payload_bytes = (int64_t)align_up((size_t)workload_param(run, "payload-bytes"), WORD_BYTES);
    g->garbage = workload_param(run, "garbage");
}

static int run(struct workload_run *run)
{
    struct graph_mutator g;
    setup(&g, run);
    g.node_map = heap_create_struct_map(run->heap, (size_t)g.edges + 1, 1);
    g.payload_map = heap_create_struct_map(run->heap, 1, (size_t)g.payload_bytes / WORD_BYTES - 2);
    g.sums = platform_calloc(run->mutators, sizeof(uint64_t));
    g.reached = platform_calloc(run->mutators, sizeof(uint64_t));
    g.failed = platform_calloc(run->mutators, sizeof(int));
    workload_run_mutators(run, mutator, &g);
    uint64_t checksum = 0, reached = 0;
    int failed = 0;
    for (uint32_t i = 0; i < run->mutators; i++) {
        checksum += g.sums[i];
        reached += g.reached[i];
        failed |= g.failed[i];
    }
    if (run->out)
        fprintf(run->out,
                "graph-mutator: %u mutator(s), %lld nodes of %lld edges, %lld rewires; "
                "%llu nodes reachable at the end\n",
                run->mutators, (long long)g.nodes, (long long)g.edges, (long long)g.rewires,
                (unsigned long long)reached);
    run->checksum = checksum;
    platform_free(g.sums);
    platform_free(g.reached);
    platform_free(g.failed);
    if (failed) {
        snprintf(run->error, sizeof run->error,
                 "graph-mutator: an edge or a payload reached from the root is not a node or "
                 "a payload");
        return 1;
    }
    return 0;
}

/* The same program on plain arrays, with no heap at all: an independent oracle. */
static uint64_t expected(const struct workload_run *run)
{
    struct graph_mutator g;
    setup(&g, run);
    size_t n = (size_t)g.nodes, e = (size_t)g.edges;
    uint32_t *to = platform_alloc(n * e * sizeof *to);
    uint64_t *value = platform_alloc(n * sizeof *value);
    uint8_t *mark = platform_alloc(n);
    uint32_t *stack = platform_alloc(n * sizeof *stack);
    uint64_t total = 0;
    for (uint32_t index = 0; index < (run->mutators ? run->mutators : 1); index++) {
        uint64_t state = SEED + index, sum = 0;
        for (size_t i = 0; i < n; i++) {
            to[i * e] = (uint32_t)((i + 1) % n);
            for (size_t k = 1; k < e; k++)
                to[i * e + k] = (uint32_t)(workload_random(&state) % n);
            value[i] = i;
        }
        uint32_t cursor = 0;
        for (int64_t t = 0; t < g.rewires; t++) {
            struct step s = decode(workload_random(&state), g.edges);
            if (s.reset)
                cursor = 0;
            uint32_t a = to[cursor * e + s.hop_a];
            uint32_t c = to[to[a * e + s.hop_x] * e + s.hop_c];
            uint32_t b = to[a * e + s.i1];
            sum += b;
            to[a * e + s.i1] = to[c * e + s.i2];
            to[c * e + s.i2] = b;
            if (g.payload_every > 0 && t % g.payload_every == 0)
                value[a] = n + (uint64_t)t;
            cursor = c;
        }
        memset(mark, 0, n);
        size_t top = 0;
        mark[0] = 1;
        stack[top++] = 0;
        while (top > 0) {
            uint32_t v = stack[--top];
            uint64_t edges_sum = 0;
            for (size_t k = 0; k < e; k++) {
                uint32_t w = to[v * e + k];
                edges_sum += (k + 1) * ((uint64_t)w + 1);
                if (!mark[w]) {
                    mark[w] = 1;
                    stack[top++] = w;
                }
            }
            sum += ((uint64_t)v + 1) * (1 + value[v] + edges_sum) + v;
        }
        total += sum;
    }
    platform_free(to);
    platform_free(value);
    platform_free(mark);
    platform_free(stack);
    return total;
}

const struct workload workload_graph_mutator = {
    .name = "graph-mutator",
    .summary = "edge swaps in a large old graph: the lost-object window of a marking barrier",
    .flags = {{"nodes", "nodes in each mutator's old graph", 200000, 1, 100000000},
              {"edges", "tagged edge fields per node", 4, 1, 8},
              {"rewires", "edge swaps (steps)", 2000000, 0, INT64_MAX / 2},
              {"payload-every", "a new young payload every N steps (0: never)", 4, 0,
               INT64_MAX / 2},
              {"payload-bytes", "size of each payload object (link, value, zeroed raw words)", 64,
               24, 4096},
              {"garbage", "bytes of short-lived byte array allocated per step (0: none)", 32, 0,
               65536}},
    .run = run,
    .expected_checksum = expected,
};
