/*
 * The workload registry and the mutator-thread runner shared by every workload.
 */
#include <stdlib.h>
#include <string.h>

#include "platform/placement.h"
#include "workload.h"

extern const struct workload workload_gcbench;
extern const struct workload workload_binary_trees;
extern const struct workload workload_remset_stress;
extern const struct workload workload_unbalanced;
extern const struct workload workload_graph_mutator;
extern const struct workload workload_jit;
extern const struct workload workload_deopt_storm;
extern const struct workload workload_shared_code;
extern const struct workload workload_choreography;
extern const struct workload workload_map_churn;
extern const struct workload workload_osr_loop;

/* One workload a line. */
/* clang-format off */
static const struct workload *const all_workloads[] = {
    &workload_gcbench,
    &workload_binary_trees,
    &workload_remset_stress,
    &workload_unbalanced,
    &workload_graph_mutator,
    &workload_jit,
    &workload_deopt_storm,
    &workload_shared_code,
    &workload_choreography,
    &workload_map_churn,
    &workload_osr_loop,
    NULL,
};
/* clang-format on */

const struct workload *const *workload_list(void) { return all_workloads; }

const struct workload *workload_find(const char *name)
{
    for (size_t i = 0; all_workloads[i]; i++)
        if (strcmp(all_workloads[i]->name, name) == 0)
            return all_workloads[i];
    return NULL;
}

size_t workload_flag_count(const struct workload *w)
{
    size_t n = 0;
    while (n < WORKLOAD_MAX_FLAGS && w->flags[n].name)
        n++;
    return n;
}

int64_t workload_param(const struct workload_run *run, const char *name)
{
    const struct workload *w = run->workload;
    for (size_t i = 0; i < workload_flag_count(w); i++)
        if (strcmp(w->flags[i].name, name) == 0)
            return run->values[i];
    platform_fatal("internal error: workload %s has no parameter %s", w->name, name);
}

void workload_set_defaults(struct workload_run *run, const struct workload *w)
{
    run->workload = w;
    for (size_t i = 0; i < workload_flag_count(w); i++)
        run->values[i] = w->flags[i].default_value;
}

struct mutator_thread {
    struct platform_thread thread;
    struct workload_run *run;
    void (*fn)(struct mutator *m, uint32_t index, void *ctx);
    void *ctx;
    uint32_t index;
};

static void *mutator_main(void *arg)
{
    struct mutator_thread *t = arg;
    struct mutator m;
    char name[32];
    snprintf(name, sizeof name, "mutator-%u", t->index);
    /* Bound before it attaches, so its LABs and pages come from its node (--pin numa). */
    placement_bind_current_thread(PLACEMENT_MUTATOR, t->index);
    gc_mutator_attach(t->run->gc, &m, name);
    t->fn(&m, t->index, t->ctx);
    gc_mutator_detach(&m);
    return NULL;
}

void workload_run_mutators(struct workload_run *run,
                           void (*fn)(struct mutator *m, uint32_t index, void *ctx), void *ctx)
{
    uint32_t n = run->mutators ? run->mutators : 1;
    struct mutator_thread *threads = platform_calloc(n, sizeof *threads);
    for (uint32_t i = 0; i < n; i++) {
        threads[i] = (struct mutator_thread){.run = run, .fn = fn, .ctx = ctx, .index = i};
        char name[32];
        snprintf(name, sizeof name, "mutator-%u", i);
        platform_thread_start(&threads[i].thread, name, mutator_main, &threads[i]);
    }
    for (uint32_t i = 0; i < n; i++)
        platform_thread_join(&threads[i].thread);
    platform_free(threads);
}
