/*
 * lib/telemetry, inside: the recorder's layout and the statistics shared by the file
 * writers (telemetry_files.c) and the terminal summary (telemetry.c). Not for other
 * modules; they use telemetry.h.
 */
#ifndef WALTZ_TELEMETRY_PRIVATE_H
#define WALTZ_TELEMETRY_PRIVATE_H

#include "telemetry/telemetry.h"

struct trace_span {
    int thread_id;
    char *name, *category;
    uint64_t start_ns, duration_ns;
};

struct trace_thread_name {
    int thread_id;
    char *name;
};

/* A recorded deopt: the caller's record with its strings copied. */
struct deopt_entry {
    struct telemetry_deopt d;
    int thread_id;           /* trace track: platform_thread_id of the recording thread */
    bool reoptimized;        /* reoptimized_ns is set */
    uint64_t reoptimized_ns; /* now_ns - start_ns of the first telemetry_deopt_reoptimized */
};

struct telemetry {
    pthread_mutex_t lock; /* guards every array below */
    uint64_t run_start_ns;
    struct pause_record *pauses;
    size_t pause_count, pause_capacity;
    struct phase_record *phases;
    size_t phase_count, phase_capacity;
    struct cycle_record *cycles;
    size_t cycle_count, cycle_capacity;
    struct trace_span *spans;
    size_t span_count, span_capacity;
    struct deopt_entry *deopts; /* index == deopt_id */
    size_t deopt_count, deopt_capacity;
    struct trace_thread_name *thread_names;
    size_t thread_name_count, thread_name_capacity;
};

/* The lock through a const pointer: readers take it too. */
void telemetry_lock(const struct telemetry *t);
void telemetry_unlock(const struct telemetry *t);

/* What summary.csv and the terminal table say; computed with the lock held. */
struct telemetry_stats {
    uint64_t wall_ns, pause_total_ns, mutator_ns;
    uint64_t pause_count, scavenge_count, mark_pause_count, full_count, mark_cycle_count;
    uint64_t pause_p50_ns, pause_p90_ns, pause_p99_ns, pause_max_ns, ttsp_p99_ns;
    uint64_t copied_bytes, promoted_bytes;
    uint64_t deopt_count;
    double mmu_1ms, mmu_10ms, mmu_100ms;
};

void telemetry_stats_locked(const struct telemetry *t, const struct run_info *info,
                            struct telemetry_stats *out);
double telemetry_mmu_locked(const struct telemetry *t, uint64_t start_ns, uint64_t end_ns,
                            uint64_t window_ns);
/* Indices of the deopts sorted by start_ns, then deopt_id (platform_alloc'd; the lock
 * held). */
size_t *telemetry_deopt_order_locked(const struct telemetry *t);

/* The run's start for relative times: info->start_ns, or the recorder's when unset. */
uint64_t telemetry_base_ns(const struct telemetry *t, const struct run_info *info);

#endif
