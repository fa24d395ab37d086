/*
 * The run recorder: pauses, per-worker phases, GC cycles and trace spans are appended to
 * growable arrays under one mutex, and the statistics a run reports are computed from
 * them: nearest-rank pause percentiles and the minimum mutator utilization curve of
 * Cheng & Blelloch 2001 (PLDI, "A parallel, real-time garbage collector").
 *
 * MMU(w) is the least fraction of any window of length w inside the run during which
 * mutators ran. Pauses stop every mutator, so only the union of pause intervals matters.
 * The paused time in a window [x, x+w] is piecewise linear in x with slope
 * [x+w inside a pause] - [x inside a pause]. A window whose start lies outside every
 * pause can slide right without losing paused time until its start meets a pause start
 * or the window meets the end of the run; one whose start lies inside a pause can slide
 * left likewise to that pause's start (a pause cut by the run's start starts there). So
 * some worst window starts at a pause start, or ends at the run's end when a pause start
 * lies beyond that point; telemetry_mmu evaluates exactly those positions, each in
 * O(log P) with prefix sums over the sorted, merged pauses: O(P log P) in all.
 */
#include "telemetry/telemetry_private.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* --- Names (OUTPUTS.md spellings) --------------------------------------------------- */

const char *telemetry_pause_kind_name(enum pause_kind kind)
{
    switch (kind) {
    case PAUSE_SCAVENGE:
        return "scavenge";
    case PAUSE_MARK_START:
        return "mark_start";
    case PAUSE_MARK_FINALIZE:
        return "mark_finalize";
    case PAUSE_FULL:
        return "full";
    }
    return "unknown";
}

const char *telemetry_reason_name(enum gc_reason reason)
{
    switch (reason) {
    case REASON_ALLOCATION_FAILURE:
        return "allocation_failure";
    case REASON_HEAP_LIMIT:
        return "heap_limit";
    case REASON_MARKING_COMPLETE:
        return "marking_complete";
    case REASON_FORCED:
        return "forced";
    case REASON_STRESS:
        return "stress";
    }
    return "unknown";
}

const char *telemetry_cycle_kind_name(enum cycle_kind kind)
{
    switch (kind) {
    case CYCLE_SCAVENGE:
        return "scavenge";
    case CYCLE_MARKING:
        return "marking";
    case CYCLE_FULL:
        return "full";
    }
    return "unknown";
}

/* --- Run parameters ----------------------------------------------------------------- */

void run_info_add_param(struct run_info *info, const char *name, const char *fmt, ...)
{
    if (info->param_count < 0 || info->param_count >= TELEMETRY_MAX_PARAMS)
        platform_fatal("too many workload parameters: at most %d fit in run.json (adding '%s')",
                       TELEMETRY_MAX_PARAMS, name);
    struct run_param *p = &info->params[info->param_count];
    size_t name_length = strlen(name);
    if (name_length == 0 || name_length >= sizeof p->name)
        platform_fatal("workload parameter name '%s' must have 1 to %zu characters", name,
                       sizeof p->name - 1);
    if (strpbrk(name, "=;,\"\n"))
        platform_fatal("workload parameter name '%s' may not contain '=', ';', ',', '\"' or "
                       "a newline",
                       name);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->value, sizeof p->value, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof p->value)
        platform_fatal("value of workload parameter '%s' is longer than %zu characters", name,
                       sizeof p->value - 1);
    memcpy(p->name, name, name_length + 1);
    info->param_count++;
}

/* --- Recording ---------------------------------------------------------------------- */

void telemetry_lock(const struct telemetry *t) { pthread_mutex_lock((pthread_mutex_t *)&t->lock); }

void telemetry_unlock(const struct telemetry *t)
{
    pthread_mutex_unlock((pthread_mutex_t *)&t->lock);
}

static void *array_reserve_one(void *items, size_t *capacity, size_t count, size_t elem_bytes)
{
    if (count < *capacity)
        return items;
    size_t new_capacity = *capacity ? *capacity * 2 : 64;
    if (new_capacity > SIZE_MAX / elem_bytes)
        platform_fatal("telemetry: too many records (%zu)", count);
    *capacity = new_capacity;
    return platform_realloc(items, new_capacity * elem_bytes);
}

#define TELEMETRY_APPEND(array, count, capacity, rec)                                              \
    do {                                                                                           \
        (array) = array_reserve_one((array), &(capacity), (count), sizeof *(array));               \
        (array)[(count)++] = (rec);                                                                \
    } while (0)

struct telemetry *telemetry_create(uint64_t run_start_ns)
{
    struct telemetry *t = platform_calloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->run_start_ns = run_start_ns;
    return t;
}

void telemetry_destroy(struct telemetry *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->span_count; i++) {
        platform_free(t->spans[i].name);
        platform_free(t->spans[i].category);
    }
    for (size_t i = 0; i < t->thread_name_count; i++)
        platform_free(t->thread_names[i].name);
    for (size_t i = 0; i < t->deopt_count; i++) {
        platform_free((char *)t->deopts[i].d.function);
        platform_free((char *)t->deopts[i].d.kind);
        platform_free((char *)t->deopts[i].d.reason);
        platform_free((char *)t->deopts[i].d.code_unlinking);
    }
    platform_free(t->deopts);
    platform_free(t->pauses);
    platform_free(t->phases);
    platform_free(t->cycles);
    platform_free(t->spans);
    platform_free(t->thread_names);
    pthread_mutex_destroy(&t->lock);
    platform_free(t);
}

void telemetry_add_pause(struct telemetry *t, const struct pause_record *rec)
{
    telemetry_lock(t);
    TELEMETRY_APPEND(t->pauses, t->pause_count, t->pause_capacity, *rec);
    telemetry_unlock(t);
}

void telemetry_add_phase(struct telemetry *t, const struct phase_record *rec)
{
    telemetry_lock(t);
    TELEMETRY_APPEND(t->phases, t->phase_count, t->phase_capacity, *rec);
    telemetry_unlock(t);
}

void telemetry_add_cycle(struct telemetry *t, const struct cycle_record *rec)
{
    telemetry_lock(t);
    TELEMETRY_APPEND(t->cycles, t->cycle_count, t->cycle_capacity, *rec);
    telemetry_unlock(t);
}

void telemetry_trace_span(struct telemetry *t, int thread_id, const char *name,
                          const char *category, uint64_t start_ns, uint64_t duration_ns)
{
    struct trace_span span = {
        .thread_id = thread_id,
        .name = platform_strdup(name ? name : ""),
        .category = platform_strdup(category ? category : ""),
        .start_ns = start_ns,
        .duration_ns = duration_ns,
    };
    telemetry_lock(t);
    TELEMETRY_APPEND(t->spans, t->span_count, t->span_capacity, span);
    telemetry_unlock(t);
}

void telemetry_name_thread(struct telemetry *t, int thread_id, const char *name)
{
    char *copy = platform_strdup(name ? name : "");
    char *old = NULL;
    telemetry_lock(t);
    size_t i = 0;
    while (i < t->thread_name_count && t->thread_names[i].thread_id != thread_id)
        i++;
    if (i < t->thread_name_count) {
        old = t->thread_names[i].name;
        t->thread_names[i].name = copy;
    } else {
        struct trace_thread_name entry = {.thread_id = thread_id, .name = copy};
        TELEMETRY_APPEND(t->thread_names, t->thread_name_count, t->thread_name_capacity, entry);
    }
    telemetry_unlock(t);
    platform_free(old);
}

uint64_t telemetry_record_deopt(struct telemetry *t, const struct telemetry_deopt *d)
{
    if (!t || !d)
        return 0;
    struct deopt_entry e = {.d = *d, .thread_id = platform_thread_id()};
    e.d.function = platform_strdup(d->function ? d->function : "");
    e.d.kind = platform_strdup(d->kind ? d->kind : "");
    e.d.reason = platform_strdup(d->reason ? d->reason : "");
    e.d.code_unlinking = platform_strdup(d->code_unlinking ? d->code_unlinking : "");
    telemetry_lock(t);
    uint64_t id = t->deopt_count;
    TELEMETRY_APPEND(t->deopts, t->deopt_count, t->deopt_capacity, e);
    telemetry_unlock(t);
    return id;
}

void telemetry_deopt_reoptimized(struct telemetry *t, uint64_t deopt_id, uint64_t now_ns)
{
    if (!t)
        return;
    telemetry_lock(t);
    if (deopt_id < t->deopt_count && !t->deopts[deopt_id].reoptimized) {
        struct deopt_entry *e = &t->deopts[deopt_id];
        e->reoptimized = true;
        e->reoptimized_ns = now_ns > e->d.start_ns ? now_ns - e->d.start_ns : 0;
    }
    telemetry_unlock(t);
}

size_t telemetry_deopt_count(const struct telemetry *t)
{
    if (!t)
        return 0;
    telemetry_lock(t);
    size_t n = t->deopt_count;
    telemetry_unlock(t);
    return n;
}

struct deopt_order_key {
    uint64_t start_ns;
    size_t id;
};

static int deopt_order_compare(const void *a, const void *b)
{
    const struct deopt_order_key *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

size_t *telemetry_deopt_order_locked(const struct telemetry *t)
{
    size_t n = t->deopt_count;
    struct deopt_order_key *keys = platform_alloc((n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct deopt_order_key){t->deopts[i].d.start_ns, i};
    qsort(keys, n, sizeof *keys, deopt_order_compare);
    size_t *order = platform_alloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].id;
    platform_free(keys);
    return order;
}

/* --- Read access -------------------------------------------------------------------- */

size_t telemetry_pause_count(const struct telemetry *t)
{
    telemetry_lock(t);
    size_t n = t->pause_count;
    telemetry_unlock(t);
    return n;
}

const struct pause_record *telemetry_pause(const struct telemetry *t, size_t i)
{
    telemetry_lock(t);
    const struct pause_record *rec = i < t->pause_count ? &t->pauses[i] : NULL;
    telemetry_unlock(t);
    return rec;
}

size_t telemetry_phase_count(const struct telemetry *t)
{
    telemetry_lock(t);
    size_t n = t->phase_count;
    telemetry_unlock(t);
    return n;
}

const struct phase_record *telemetry_phase(const struct telemetry *t, size_t i)
{
    telemetry_lock(t);
    const struct phase_record *rec = i < t->phase_count ? &t->phases[i] : NULL;
    telemetry_unlock(t);
    return rec;
}

size_t telemetry_cycle_count(const struct telemetry *t)
{
    telemetry_lock(t);
    size_t n = t->cycle_count;
    telemetry_unlock(t);
    return n;
}

const struct cycle_record *telemetry_cycle(const struct telemetry *t, size_t i)
{
    telemetry_lock(t);
    const struct cycle_record *rec = i < t->cycle_count ? &t->cycles[i] : NULL;
    telemetry_unlock(t);
    return rec;
}

/* --- Minimum mutator utilization (Cheng & Blelloch 2001) ------------------------------ */

struct mmu_interval {
    uint64_t start_ns, end_ns;
};

static int mmu_interval_compare(const void *a, const void *b)
{
    const struct mmu_interval *x = a, *y = b;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* Paused time in [run_start, at]: intervals sorted, disjoint; before[k] is the paused time
 * of intervals 0..k-1. */
static uint64_t mmu_paused_until(const struct mmu_interval *iv, const uint64_t *before, size_t n,
                                 uint64_t at_ns)
{
    size_t lo = 0, hi = n; /* first interval starting after at_ns */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (iv[mid].start_ns <= at_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    const struct mmu_interval *last = &iv[lo - 1];
    uint64_t end_ns = at_ns < last->end_ns ? at_ns : last->end_ns;
    return before[lo - 1] + (end_ns - last->start_ns);
}

static uint64_t mmu_paused_in(const struct mmu_interval *iv, const uint64_t *before, size_t n,
                              uint64_t from_ns, uint64_t window_ns)
{
    return mmu_paused_until(iv, before, n, from_ns + window_ns) -
           mmu_paused_until(iv, before, n, from_ns);
}

double telemetry_mmu_locked(const struct telemetry *t, uint64_t start_ns, uint64_t end_ns,
                            uint64_t window_ns)
{
    if (end_ns <= start_ns || t->pause_count == 0)
        return 1.0;
    struct mmu_interval *iv = platform_alloc(t->pause_count * sizeof *iv);
    size_t n = 0;
    for (size_t i = 0; i < t->pause_count; i++) {
        uint64_t s = t->pauses[i].start_ns;
        uint64_t e = s + t->pauses[i].duration_ns;
        if (e < s)
            e = UINT64_MAX;
        if (s < start_ns)
            s = start_ns;
        if (e > end_ns)
            e = end_ns;
        if (s < e)
            iv[n++] = (struct mmu_interval){s, e};
    }
    qsort(iv, n, sizeof *iv, mmu_interval_compare);
    size_t merged = 0;
    for (size_t i = 0; i < n; i++) {
        if (merged > 0 && iv[i].start_ns <= iv[merged - 1].end_ns) {
            if (iv[i].end_ns > iv[merged - 1].end_ns)
                iv[merged - 1].end_ns = iv[i].end_ns;
        } else {
            iv[merged++] = iv[i];
        }
    }
    n = merged;

    uint64_t *before = platform_alloc((n + 1) * sizeof *before);
    before[0] = 0;
    for (size_t i = 0; i < n; i++)
        before[i + 1] = before[i] + (iv[i].end_ns - iv[i].start_ns);
    uint64_t paused_total_ns = before[n];
    uint64_t run_ns = end_ns - start_ns;

    double mmu;
    if (paused_total_ns == 0) {
        mmu = 1.0;
    } else if (window_ns >= run_ns) {
        mmu = (double)(run_ns - paused_total_ns) / (double)run_ns;
    } else if (window_ns == 0) {
        mmu = 0.0;
    } else {
        /* Candidate window starts: each pause start, kept inside the run. */
        uint64_t last_start_ns = end_ns - window_ns, worst_ns = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = iv[i].start_ns < last_start_ns ? iv[i].start_ns : last_start_ns;
            uint64_t paused_ns = mmu_paused_in(iv, before, n, x, window_ns);
            worst_ns = paused_ns > worst_ns ? paused_ns : worst_ns;
        }
        mmu = (double)(window_ns - worst_ns) / (double)window_ns;
    }
    platform_free(before);
    platform_free(iv);
    return mmu;
}

double telemetry_mmu(const struct telemetry *t, uint64_t start_ns, uint64_t end_ns,
                     uint64_t window_ns)
{
    telemetry_lock(t);
    double mmu = telemetry_mmu_locked(t, start_ns, end_ns, window_ns);
    telemetry_unlock(t);
    return mmu;
}

/* --- Percentiles and totals --------------------------------------------------------- */

static int u64_compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least percentile% of values at or below it. */
static uint64_t nearest_rank(const uint64_t *sorted, size_t n, double percentile)
{
    if (n == 0)
        return 0;
    double rank = ceil(percentile / 100.0 * (double)n - 1e-9);
    if (!(rank >= 1.0))
        rank = 1.0;
    if (rank > (double)n)
        rank = (double)n;
    return sorted[(size_t)rank - 1];
}

/* Sorted copy of one uint64_t field of every pause. */
static uint64_t *pause_field_sorted(const struct telemetry *t, size_t field_offset)
{
    uint64_t *values = platform_alloc((t->pause_count ? t->pause_count : 1) * sizeof *values);
    for (size_t i = 0; i < t->pause_count; i++)
        memcpy(&values[i], (const char *)&t->pauses[i] + field_offset, sizeof values[i]);
    qsort(values, t->pause_count, sizeof *values, u64_compare);
    return values;
}

uint64_t telemetry_pause_percentile_ns(const struct telemetry *t, double percentile)
{
    telemetry_lock(t);
    uint64_t *durations = pause_field_sorted(t, offsetof(struct pause_record, duration_ns));
    uint64_t value = nearest_rank(durations, t->pause_count, percentile);
    telemetry_unlock(t);
    platform_free(durations);
    return value;
}

uint64_t telemetry_base_ns(const struct telemetry *t, const struct run_info *info)
{
    return info->start_ns ? info->start_ns : t->run_start_ns;
}

void telemetry_stats_locked(const struct telemetry *t, const struct run_info *info,
                            struct telemetry_stats *out)
{
    memset(out, 0, sizeof *out);
    uint64_t start_ns = telemetry_base_ns(t, info);
    out->wall_ns = info->end_ns > start_ns ? info->end_ns - start_ns : 0;
    out->pause_count = t->pause_count;
    out->deopt_count = t->deopt_count;
    for (size_t i = 0; i < t->pause_count; i++) {
        const struct pause_record *p = &t->pauses[i];
        out->pause_total_ns += p->duration_ns;
        out->copied_bytes += p->copied_bytes;
        out->promoted_bytes += p->promoted_bytes;
        if (p->kind == PAUSE_SCAVENGE)
            out->scavenge_count++;
        else if (p->kind == PAUSE_FULL)
            out->full_count++;
        else
            out->mark_pause_count++;
    }
    for (size_t i = 0; i < t->cycle_count; i++)
        if (t->cycles[i].kind == CYCLE_MARKING || t->cycles[i].kind == CYCLE_FULL)
            out->mark_cycle_count++;
    out->mutator_ns = out->wall_ns > out->pause_total_ns ? out->wall_ns - out->pause_total_ns : 0;

    uint64_t *durations = pause_field_sorted(t, offsetof(struct pause_record, duration_ns));
    out->pause_p50_ns = nearest_rank(durations, t->pause_count, 50);
    out->pause_p90_ns = nearest_rank(durations, t->pause_count, 90);
    out->pause_p99_ns = nearest_rank(durations, t->pause_count, 99);
    out->pause_max_ns = nearest_rank(durations, t->pause_count, 100);
    platform_free(durations);
    uint64_t *ttsps = pause_field_sorted(t, offsetof(struct pause_record, ttsp_ns));
    out->ttsp_p99_ns = nearest_rank(ttsps, t->pause_count, 99);
    platform_free(ttsps);

    out->mmu_1ms = telemetry_mmu_locked(t, start_ns, info->end_ns, 1000000);
    out->mmu_10ms = telemetry_mmu_locked(t, start_ns, info->end_ns, 10000000);
    out->mmu_100ms = telemetry_mmu_locked(t, start_ns, info->end_ns, 100000000);
}

/* --- The terminal table ------------------------------------------------------------- */

/* A duration for people: microseconds below a millisecond, else milliseconds. */
static const char *human_time(char *buf, size_t size, uint64_t ns)
{
    if (ns < 1000000)
        snprintf(buf, size, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, size, "%.3f ms", (double)ns / 1e6);
    return buf;
}

void telemetry_print_summary(const struct telemetry *t, const struct run_info *info,
                             const char *dir, FILE *out)
{
    struct telemetry_stats s;
    telemetry_lock(t);
    telemetry_stats_locked(t, info, &s);
    telemetry_unlock(t);
    char a[32], b[32], c[32];
    const char *label = "  %-18s ";

    fprintf(out, "waltz run %s\n", info->run_id);
    fprintf(out, label, "workload");
    fprintf(out, "%s\n", info->workload);
    fprintf(out, label, "status");
    fprintf(out, "%s%s%s\n", info->status[0] ? info->status : "ok", info->error[0] ? ": " : "",
            info->error);
    fprintf(out, label, "wall");
    fprintf(out, "%.3f ms\n", (double)s.wall_ns / 1e6);
    fprintf(out, label, "pauses");
    fprintf(out, "%" PRIu64 " (%" PRIu64 " scavenge, %" PRIu64 " full", s.pause_count,
            s.scavenge_count, s.full_count);
    if (s.mark_pause_count)
        fprintf(out, ", %" PRIu64 " marking", s.mark_pause_count);
    fprintf(out, ")\n");
    fprintf(out, label, "pause total");
    fprintf(out, "%.3f ms (%.1f%% of wall)\n", (double)s.pause_total_ns / 1e6,
            s.wall_ns ? 100.0 * (double)s.pause_total_ns / (double)s.wall_ns : 0.0);
    fprintf(out, label, "pause p50/p99/max");
    fprintf(out, "%s / %s / %s\n", human_time(a, sizeof a, s.pause_p50_ns),
            human_time(b, sizeof b, s.pause_p99_ns), human_time(c, sizeof c, s.pause_max_ns));
    fprintf(out, label, "MMU 1/10/100 ms");
    fprintf(out, "%.3f / %.3f / %.3f\n", s.mmu_1ms, s.mmu_10ms, s.mmu_100ms);
    fprintf(out, label, "copied/promoted");
    fprintf(out, "%.2f / %.2f MiB\n", (double)s.copied_bytes / (double)MiB,
            (double)s.promoted_bytes / (double)MiB);
    telemetry_lock(t);
    if (t->deopt_count) {
        fprintf(out, label, "deopts");
        fprintf(out, "%zu (reasons:", t->deopt_count);
        /* Each distinct reason once, in order of first appearance, with its count. */
        for (size_t i = 0; i < t->deopt_count; i++) {
            const char *r = t->deopts[i].d.reason;
            size_t first = 0;
            while (strcmp(t->deopts[first].d.reason, r) != 0)
                first++;
            if (first != i)
                continue;
            size_t n = 0;
            for (size_t k = i; k < t->deopt_count; k++)
                n += strcmp(t->deopts[k].d.reason, r) == 0;
            fprintf(out, "%s %s %zu", first ? "," : "", r[0] ? r : "-", n);
        }
        fprintf(out, ")\n");
    }
    telemetry_unlock(t);
    fprintf(out, label, "checksum");
    fprintf(out, "%s\n", info->checksum[0] ? info->checksum : "-");
    fprintf(out, label, "files");
    fprintf(out, "%s\n", dir ? dir : "-");
}
