/*
 * lib/telemetry: what a run records and the files it writes (shared/design/OUTPUTS.md).
 *
 * Offers:  an in-memory recorder of pauses, per-worker phases, GC cycles and trace
 *          spans; the writers of run.json, pauses.csv, phases.csv, cycles.csv,
 *          deopts.csv, mmu.csv, summary.csv and trace.json; the MMU computation
 *          (Cheng & Blelloch 2001); the terminal summary.
 * Needs:   lib/platform (clocks, memory), the generated waltz_config.h (build options).
 *
 * Times are recorded in nanoseconds of CLOCK_MONOTONIC and written as microseconds
 * relative to the run start. Records are appended by the thread that runs a pause while
 * the world is stopped; trace spans and deopts may come from any thread (one lock guards
 * every record).
 */
#ifndef WALTZ_TELEMETRY_H
#define WALTZ_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "platform/placement.h"
#include "platform/platform.h"

enum pause_kind { PAUSE_SCAVENGE, PAUSE_MARK_START, PAUSE_MARK_FINALIZE, PAUSE_FULL };
enum gc_reason {
    REASON_ALLOCATION_FAILURE,
    REASON_HEAP_LIMIT,
    REASON_MARKING_COMPLETE,
    REASON_FORCED,
    REASON_STRESS
};
enum cycle_kind { CYCLE_SCAVENGE, CYCLE_MARKING, CYCLE_FULL };

const char *telemetry_pause_kind_name(enum pause_kind kind); /* "scavenge", ... */
const char *telemetry_reason_name(enum gc_reason reason);    /* "allocation_failure", ... */
const char *telemetry_cycle_kind_name(enum cycle_kind kind);

#define TELEMETRY_NO_PAUSE UINT64_MAX

/* One row of pauses.csv. Phase times that a pause does not have stay 0. */
struct pause_record {
    uint64_t pause_id, cycle_id;
    enum pause_kind kind;
    enum gc_reason reason;
    uint64_t start_ns, duration_ns; /* start: absolute CLOCK_MONOTONIC */
    uint64_t ttsp_ns, remset_ns, roots_ns, evacuate_ns, weak_ns, mark_ns, sweep_ns, resume_ns;
    uint64_t young_before_bytes, young_after_bytes, copied_bytes, promoted_bytes;
    uint64_t old_before_bytes, old_after_bytes, remset_slots;
    uint64_t code_unlinked; /* old-generation pauses: code objects the code lists let go */
    uint32_t gc_threads, mutators;
    uint64_t steals;
    int thread_id; /* trace track of the thread that ran the pause */
};

/* One row of phases.csv. pause_id is TELEMETRY_NO_PAUSE for concurrent work. */
struct phase_record {
    uint64_t pause_id, cycle_id;
    const char *phase; /* static string: "ttsp", "remset", "roots", "evacuate", "evacuate_task",
                          "weak", ... */
    uint32_t worker;
    uint64_t start_ns, duration_ns;
    uint64_t items, steals, idle_ns;
    int thread_id;
};

/* One row of cycles.csv. */
struct cycle_record {
    uint64_t cycle_id;
    enum cycle_kind kind;
    uint64_t start_ns, end_ns;
    uint64_t pauses, pause_total_ns, concurrent_ns;
    uint64_t marked_bytes, swept_bytes;
    uint64_t barrier_slow_count, code_unlinked_count, osr_entries_cleared_count;
};

#define TELEMETRY_MAX_PARAMS 16

struct run_param {
    char name[32];
    char value[4096]; /* a path, such as the FILE of waltz run jit, fits (PATH_MAX) */
};

/* Everything run.json and summary.csv say about a run besides the recorded events. */
struct run_info {
    char run_id[192];
    char workload[48];
    struct run_param params[TELEMETRY_MAX_PARAMS];
    int param_count;
    char command_line[8192]; /* ends in "..." when the command was longer */
    uint64_t seed;
    uint32_t mutators, gc_threads;
    uint32_t gc_workers, marker_threads; /* the pool's threads; concurrent markers among them */
    char pinning[32]; /* summary.csv: "none", "numa", or "numa(planned)" when not applied */
    /* run.json "placement": the policy, the topology it was computed on, whether it was
     * applied, every thread's cpus and node, chunks bound per node. NULL: null. */
    const struct placement *placement;
    uint64_t young_size_bytes, heap_size_bytes, gc_stress;
    bool verify_heap;
    struct platform_topology topology;
    time_t start_time;         /* wall clock, for run.json */
    uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
    char status[16];           /* "ok" | "failed" */
    char error[512];
    char checksum[32]; /* decimal, empty when the run did not finish */
    uint64_t allocated_bytes, peak_rss_bytes;
};

void run_info_add_param(struct run_info *info, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct telemetry;

struct telemetry *telemetry_create(uint64_t run_start_ns);
void telemetry_destroy(struct telemetry *t);

/* Recording. Pause, phase and cycle records are copied. */
void telemetry_add_pause(struct telemetry *t, const struct pause_record *rec);
void telemetry_add_phase(struct telemetry *t, const struct phase_record *rec);
void telemetry_add_cycle(struct telemetry *t, const struct cycle_record *rec);
/* A span on a thread's track in trace.json (safepoint waits, marking steps, ...). */
void telemetry_trace_span(struct telemetry *t, int thread_id, const char *name,
                          const char *category, uint64_t start_ns, uint64_t duration_ns);
void telemetry_name_thread(struct telemetry *t, int thread_id, const char *name);

/* One deoptimization, filled by the JIT layer (one row of deopts.csv). The strings are
 * copied; NULL is written as empty. start_ns is platform_now_ns (absolute
 * CLOCK_MONOTONIC, the clock of pause_record.start_ns). */
struct telemetry_deopt {
    uint32_t thread;      /* mutator index */
    const char *function; /* name, copied */
    uint32_t bytecode_offset;
    const char *kind; /* eager|lazy|soft */
    const char *reason;
    uint32_t frames, materialized_objects;
    uint64_t materialized_bytes, barrier_records;
    uint64_t start_ns; /* platform_now_ns */
    double duration_us, waited_for_gc_us;
    const char *code_unlinking; /* lazy|eager */
};

/* Records a deopt from any thread (under the recorder's lock, like every record) and
 * returns its run-wide deopt_id: 0, 1, ... in the order of the calls. Its trace.json
 * event goes on the track of the calling thread (platform_thread_id), so call it from
 * the mutator that deoptimized. Does not touch the GC heap. t == NULL: returns 0. */
uint64_t telemetry_record_deopt(struct telemetry *t, const struct telemetry_deopt *d);
/* The function of deopt_id was optimized again at now_ns: the first call for an id sets
 * its reoptimized_after_us to now_ns - start_ns; later calls for that id, unknown ids,
 * a now_ns before the deopt's start (0 is written) and t == NULL are ignored or clamped
 * as said. Any thread. */
void telemetry_deopt_reoptimized(struct telemetry *t, uint64_t deopt_id, uint64_t now_ns);
size_t telemetry_deopt_count(const struct telemetry *t);

/* Read access (the CLI's summary, tests). */
size_t telemetry_pause_count(const struct telemetry *t);
const struct pause_record *telemetry_pause(const struct telemetry *t, size_t i);
size_t telemetry_phase_count(const struct telemetry *t);
const struct phase_record *telemetry_phase(const struct telemetry *t, size_t i);
size_t telemetry_cycle_count(const struct telemetry *t);
const struct cycle_record *telemetry_cycle(const struct telemetry *t, size_t i);

/* Minimum mutator utilization for one window over [start_ns, end_ns], from the pauses
 * recorded (pauses stop every mutator). A window larger than the run gives the overall
 * utilization. Returns a value in [0, 1]. */
double telemetry_mmu(const struct telemetry *t, uint64_t start_ns, uint64_t end_ns,
                     uint64_t window_ns);

/* Percentile (0..100, nearest rank) of pause durations in ns; 0 when there are none. */
uint64_t telemetry_pause_percentile_ns(const struct telemetry *t, double percentile);

/* Writes every file of a finished run into dir (created if missing). Each file is
 * written to a temporary name and renamed, run.json last, so a directory whose run.json
 * says "ok" is complete. Returns 0, or -1 with an error message in err. */
int telemetry_write_run(const struct telemetry *t, const struct run_info *info, const char *dir,
                        char *err, size_t err_size);
/* For a run that failed: only run.json, with "status": "failed" and the error; any CSV
 * a previous attempt left in dir is removed. */
int telemetry_write_failed(const struct run_info *info, const char *dir, char *err,
                           size_t err_size);

/* The short human table at the end of a run. */
void telemetry_print_summary(const struct telemetry *t, const struct run_info *info,
                             const char *dir, FILE *out);

#endif
