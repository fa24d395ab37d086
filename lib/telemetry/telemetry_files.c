/*
 * The files of a run (shared/design/OUTPUTS.md): pauses.csv, phases.csv, cycles.csv,
 * deopts.csv, mmu.csv, summary.csv, trace.json (Chrome Trace Event format, for Perfetto)
 * and run.json. Every CSV starts with its header row and every row with the run id, so the
 * files of many runs concatenate; times are microseconds since the run start with three
 * decimals, the MMU curve follows Cheng & Blelloch 2001.
 *
 * Invariant: a directory whose run.json says "ok" is complete. Each file is written under
 * a temporary name and renamed into place; a stale run.json is removed before anything
 * else is written and the new one is renamed in last. A failed run leaves run.json alone,
 * saying "failed", and no CSV that could pass for a result.
 */
#include "telemetry/telemetry_private.h"

#include "waltz_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const telemetry_result_files[] = {
    "pauses.csv", "phases.csv", "cycles.csv", "deopts.csv", "mmu.csv", "summary.csv", "trace.json",
};

/* MMU curve windows; those up to 10x the run length are kept, and always up to 100 ms. */
static const uint64_t mmu_windows_us[] = {
    100,   200,    500,    1000,   2000,    5000,    10000,   20000,
    50000, 100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000,
};

struct write_context {
    const struct telemetry *t; /* NULL for a failed run */
    const struct run_info *info;
    uint64_t base_ns;
    struct telemetry_stats stats;
    const char *status;
    const char *const *files;
    size_t file_count;
};

/* --- Number and text formatting ----------------------------------------------------- */

/* value_ns / unit_ns with three decimals (truncated), e.g. 1234567 ns in us: 1234.567 */
static void put_fixed(FILE *f, int64_t value_ns, uint64_t unit_ns)
{
    uint64_t magnitude = value_ns < 0 ? -(uint64_t)value_ns : (uint64_t)value_ns;
    fprintf(f, "%s%" PRIu64 ".%03" PRIu64, value_ns < 0 ? "-" : "", magnitude / unit_ns,
            magnitude % unit_ns * 1000 / unit_ns);
}

static void put_us(FILE *f, uint64_t duration_ns) { put_fixed(f, (int64_t)duration_ns, 1000); }

static void put_rel_us(FILE *f, uint64_t at_ns, uint64_t base_ns)
{
    put_fixed(f, (int64_t)(at_ns - base_ns), 1000);
}

static void put_ms(FILE *f, uint64_t duration_ns) { put_fixed(f, (int64_t)duration_ns, 1000000); }

/* One CSV field, quoted only when it holds a comma, a quote or a line break. */
static void put_csv(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_sequence_length(const unsigned char *s)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD, so the file always parses. */
static void put_json_string(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    fputc('"', f);
    while (*s) {
        size_t n = utf8_sequence_length(s);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
        } else if (*s == '"' || *s == '\\') {
            fprintf(f, "\\%c", *s++);
        } else if (*s == '\n') {
            fputs("\\n", f), s++;
        } else if (*s == '\t') {
            fputs("\\t", f), s++;
        } else if (*s == '\r') {
            fputs("\\r", f), s++;
        } else if (*s < 0x20) {
            fprintf(f, "\\u%04x", *s++);
        } else {
            fwrite(s, 1, n, f);
            s += n;
        }
    }
    fputc('"', f);
}

static void put_json_string_or_null(FILE *f, const char *s)
{
    if (s && *s)
        put_json_string(f, s);
    else
        fputs("null", f);
}

/* --- The CSV files -------------------------------------------------------------------- */

static void write_pauses_csv(FILE *f, const struct write_context *c)
{
    fputs("run_id,pause_id,cycle_id,kind,reason,start_us,duration_us,ttsp_us,remset_us,"
          "roots_us,evacuate_us,weak_us,mark_us,sweep_us,resume_us,young_before_bytes,"
          "young_after_bytes,copied_bytes,promoted_bytes,old_before_bytes,old_after_bytes,"
          "remset_slots,gc_threads,steals,mutators\n",
          f);
    for (size_t i = 0; i < c->t->pause_count; i++) {
        const struct pause_record *p = &c->t->pauses[i];
        put_csv(f, c->info->run_id);
        fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%s,%s,", p->pause_id, p->cycle_id,
                telemetry_pause_kind_name(p->kind), telemetry_reason_name(p->reason));
        put_rel_us(f, p->start_ns, c->base_ns);
        const uint64_t times_ns[] = {p->duration_ns, p->ttsp_ns,     p->remset_ns,
                                     p->roots_ns,    p->evacuate_ns, p->weak_ns,
                                     p->mark_ns,     p->sweep_ns,    p->resume_ns};
        for (size_t k = 0; k < ARRAY_LENGTH(times_ns); k++) {
            fputc(',', f);
            put_us(f, times_ns[k]);
        }
        fprintf(f,
                ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                ",%" PRIu32 ",%" PRIu64 ",%" PRIu32 "\n",
                p->young_before_bytes, p->young_after_bytes, p->copied_bytes, p->promoted_bytes,
                p->old_before_bytes, p->old_after_bytes, p->remset_slots, p->gc_threads, p->steals,
                p->mutators);
    }
}

static void write_phases_csv(FILE *f, const struct write_context *c)
{
    fputs("run_id,pause_id,cycle_id,phase,worker,start_us,duration_us,items,steals,idle_us\n", f);
    for (size_t i = 0; i < c->t->phase_count; i++) {
        const struct phase_record *p = &c->t->phases[i];
        put_csv(f, c->info->run_id);
        fputc(',', f);
        if (p->pause_id != TELEMETRY_NO_PAUSE)
            fprintf(f, "%" PRIu64, p->pause_id);
        fprintf(f, ",%" PRIu64 ",", p->cycle_id);
        put_csv(f, p->phase ? p->phase : "");
        fprintf(f, ",%" PRIu32 ",", p->worker);
        put_rel_us(f, p->start_ns, c->base_ns);
        fputc(',', f);
        put_us(f, p->duration_ns);
        fprintf(f, ",%" PRIu64 ",%" PRIu64 ",", p->items, p->steals);
        put_us(f, p->idle_ns);
        fputc('\n', f);
    }
}

static void write_cycles_csv(FILE *f, const struct write_context *c)
{
    fputs("run_id,cycle_id,kind,start_us,end_us,pauses,pause_total_us,concurrent_us,"
          "marked_bytes,swept_bytes,barrier_slow_count,code_unlinked_count,"
          "osr_entries_cleared_count\n",
          f);
    for (size_t i = 0; i < c->t->cycle_count; i++) {
        const struct cycle_record *y = &c->t->cycles[i];
        put_csv(f, c->info->run_id);
        fprintf(f, ",%" PRIu64 ",%s,", y->cycle_id, telemetry_cycle_kind_name(y->kind));
        put_rel_us(f, y->start_ns, c->base_ns);
        fputc(',', f);
        put_rel_us(f, y->end_ns, c->base_ns);
        fprintf(f, ",%" PRIu64 ",", y->pauses);
        put_us(f, y->pause_total_ns);
        fputc(',', f);
        put_us(f, y->concurrent_ns);
        fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                y->marked_bytes, y->swept_bytes, y->barrier_slow_count, y->code_unlinked_count,
                y->osr_entries_cleared_count);
    }
}

/* A duration given in microseconds (double), three decimals; negatives written as 0. */
static void put_us_double(FILE *f, double us) { fprintf(f, "%.3f", us > 0 ? us : 0.0); }

/* Rows sorted by start_us, then deopt_id. */
static void write_deopts_csv(FILE *f, const struct write_context *c)
{
    fputs("run_id,deopt_id,start_us,thread,function,bytecode_offset,kind,reason,frames,"
          "materialized_objects,materialized_bytes,barrier_records,duration_us,"
          "waited_for_gc_us,code_unlinking,reoptimized_after_us\n",
          f);
    size_t *order = telemetry_deopt_order_locked(c->t);
    for (size_t i = 0; i < c->t->deopt_count; i++) {
        const struct deopt_entry *e = &c->t->deopts[order[i]];
        const struct telemetry_deopt *d = &e->d;
        put_csv(f, c->info->run_id);
        fprintf(f, ",%zu,", order[i]);
        put_rel_us(f, d->start_ns, c->base_ns);
        fprintf(f, ",%" PRIu32 ",", d->thread);
        put_csv(f, d->function);
        fprintf(f, ",%" PRIu32 ",", d->bytecode_offset);
        put_csv(f, d->kind);
        fputc(',', f);
        put_csv(f, d->reason);
        fprintf(f, ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",", d->frames,
                d->materialized_objects, d->materialized_bytes, d->barrier_records);
        put_us_double(f, d->duration_us);
        fputc(',', f);
        put_us_double(f, d->waited_for_gc_us);
        fputc(',', f);
        put_csv(f, d->code_unlinking);
        fputc(',', f);
        if (e->reoptimized)
            put_us(f, e->reoptimized_ns);
        fputc('\n', f);
    }
    platform_free(order);
}

static void write_mmu_csv(FILE *f, const struct write_context *c)
{
    fputs("run_id,window_us,mmu\n", f);
    uint64_t end_ns = c->info->end_ns;
    uint64_t run_ns = end_ns > c->base_ns ? end_ns - c->base_ns : 0;
    for (size_t i = 0; i < ARRAY_LENGTH(mmu_windows_us); i++) {
        uint64_t window_ns = mmu_windows_us[i] * 1000;
        if (window_ns > 100000000 && window_ns / 10 > run_ns)
            break;
        put_csv(f, c->info->run_id);
        fputc(',', f);
        put_us(f, window_ns);
        fprintf(f, ",%.6f\n", telemetry_mmu_locked(c->t, c->base_ns, end_ns, window_ns));
    }
}

static void write_summary_csv(FILE *f, const struct write_context *c)
{
    const struct run_info *info = c->info;
    const struct telemetry_stats *s = &c->stats;
    fputs("run_id,young_gc,old_gc,marking_barrier,remembered_set,code_unlinking,code_lists,"
          "numa,workload,params,mutators,gc_threads,pinning,seed,wall_ms,mutator_ms,"
          "gc_pause_total_ms,pauses,scavenges,mark_cycles,pause_p50_us,pause_p90_us,"
          "pause_p99_us,pause_max_us,ttsp_p99_us,copied_bytes,promoted_bytes,"
          "allocated_bytes,peak_rss_bytes,mmu_1ms,mmu_10ms,mmu_100ms,deopts,checksum,status\n",
          f);
    put_csv(f, info->run_id);
    const char *config[] = {WALTZ_OPT_YOUNG_GC,
                            WALTZ_OPT_OLD_GC,
                            WALTZ_OPT_MARKING_BARRIER,
                            WALTZ_OPT_REMEMBERED_SET,
                            WALTZ_OPT_CODE_UNLINKING,
                            WALTZ_OPT_CODE_LISTS,
                            WALTZ_OPT_NUMA,
                            info->workload};
    for (size_t i = 0; i < ARRAY_LENGTH(config); i++) {
        fputc(',', f);
        put_csv(f, config[i]);
    }
    size_t params_size = TELEMETRY_MAX_PARAMS * (sizeof info->params[0] + 2) + 1, used = 0;
    char *params = platform_alloc(params_size);
    params[0] = '\0';
    for (int i = 0; i < info->param_count && i < TELEMETRY_MAX_PARAMS; i++)
        used += (size_t)snprintf(params + used, params_size - used, "%s%s=%s", i ? ";" : "",
                                 info->params[i].name, info->params[i].value);
    fputc(',', f);
    put_csv(f, params);
    platform_free(params);
    fprintf(f, ",%" PRIu32 ",%" PRIu32 ",", info->mutators, info->gc_threads);
    put_csv(f, info->pinning);
    fprintf(f, ",%" PRIu64 ",", info->seed);
    put_ms(f, s->wall_ns);
    fputc(',', f);
    put_ms(f, s->mutator_ns);
    fputc(',', f);
    put_ms(f, s->pause_total_ns);
    fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, s->pause_count, s->scavenge_count,
            s->mark_cycle_count);
    const uint64_t times_ns[] = {s->pause_p50_ns, s->pause_p90_ns, s->pause_p99_ns, s->pause_max_ns,
                                 s->ttsp_p99_ns};
    for (size_t k = 0; k < ARRAY_LENGTH(times_ns); k++) {
        fputc(',', f);
        put_us(f, times_ns[k]);
    }
    fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,%.6f,%.6f,%" PRIu64 ",",
            s->copied_bytes, s->promoted_bytes, info->allocated_bytes, info->peak_rss_bytes,
            s->mmu_1ms, s->mmu_10ms, s->mmu_100ms, s->deopt_count);
    put_csv(f, info->checksum);
    fputc(',', f);
    put_csv(f, c->status);
    fputc('\n', f);
}

/* --- trace.json (Chrome Trace Event format) ------------------------------------------- */

static void put_trace_complete(FILE *f, const struct write_context *c, const char *name,
                               const char *category, int thread_id, uint64_t start_ns,
                               uint64_t duration_ns)
{
    fputs(",\n{\"ph\":\"X\",\"pid\":1,\"tid\":", f);
    fprintf(f, "%d,\"name\":", thread_id);
    put_json_string(f, name);
    fputs(",\"cat\":", f);
    put_json_string(f, category);
    fputs(",\"ts\":", f);
    put_rel_us(f, start_ns, c->base_ns);
    fputs(",\"dur\":", f);
    put_us(f, duration_ns);
}

static void write_trace_json(FILE *f, const struct write_context *c)
{
    const struct telemetry *t = c->t;
    fputs("{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\","
          "\"args\":{\"name\":",
          f);
    char process_name[128];
    snprintf(process_name, sizeof process_name, "waltz %s", c->info->workload);
    put_json_string(f, process_name);
    fputs("}}", f);
    for (size_t i = 0; i < t->thread_name_count; i++) {
        fprintf(f,
                ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\",\"args\":"
                "{\"name\":",
                t->thread_names[i].thread_id);
        put_json_string(f, t->thread_names[i].name);
        fputs("}}", f);
    }
    for (size_t i = 0; i < t->pause_count; i++) {
        const struct pause_record *p = &t->pauses[i];
        put_trace_complete(f, c, telemetry_pause_kind_name(p->kind), "gc", p->thread_id,
                           p->start_ns, p->duration_ns);
        fprintf(f,
                ",\"args\":{\"pause_id\":%" PRIu64 ",\"reason\":\"%s\",\"copied_bytes\":%" PRIu64
                ",\"promoted_bytes\":%" PRIu64 ",\"code_unlinked\":%" PRIu64 "}}",
                p->pause_id, telemetry_reason_name(p->reason), p->copied_bytes, p->promoted_bytes,
                p->code_unlinked);
    }
    for (size_t i = 0; i < t->phase_count; i++) {
        const struct phase_record *p = &t->phases[i];
        put_trace_complete(f, c, p->phase ? p->phase : "", "gc.phase", p->thread_id, p->start_ns,
                           p->duration_ns);
        fprintf(f, ",\"args\":{\"items\":%" PRIu64 ",\"steals\":%" PRIu64 "}}", p->items,
                p->steals);
    }
    for (size_t i = 0; i < t->span_count; i++) {
        const struct trace_span *s = &t->spans[i];
        put_trace_complete(f, c, s->name, s->category, s->thread_id, s->start_ns, s->duration_ns);
        fputs("}", f);
    }
    for (size_t i = 0; i < t->deopt_count; i++) {
        const struct deopt_entry *e = &t->deopts[i];
        const struct telemetry_deopt *d = &e->d;
        char name[160];
        snprintf(name, sizeof name, "deopt %s", d->function);
        double dur_us = d->duration_us > 0 ? d->duration_us : 0.0;
        put_trace_complete(f, c, name, "deopt", e->thread_id, d->start_ns,
                           (uint64_t)(dur_us * 1000.0));
        fprintf(f, ",\"args\":{\"deopt_id\":%zu,\"reason\":", i);
        put_json_string(f, d->reason);
        fprintf(f,
                ",\"bytecode_offset\":%" PRIu32 ",\"frames\":%" PRIu32
                ",\"materialized_objects\":%" PRIu32 ",\"waited_for_gc_us\":%.3f}}",
                d->bytecode_offset, d->frames, d->materialized_objects,
                d->waited_for_gc_us > 0 ? d->waited_for_gc_us : 0.0);
    }
    fputs("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"run_id\":", f);
    put_json_string(f, c->info->run_id);
    fputs("}}\n", f);
}

/* --- run.json ------------------------------------------------------------------------- */

static void put_json_key(FILE *f, int indent, const char *key)
{
    fprintf(f, "%*s", indent, "");
    put_json_string(f, key);
    fputs(": ", f);
}

static void put_json_text(FILE *f, int indent, const char *key, const char *value, bool last)
{
    put_json_key(f, indent, key);
    put_json_string(f, value);
    fputs(last ? "\n" : ",\n", f);
}

static void put_json_u64(FILE *f, int indent, const char *key, uint64_t value, bool last)
{
    put_json_key(f, indent, key);
    fprintf(f, "%" PRIu64 "%s", value, last ? "\n" : ",\n");
}

static void put_json_int_or_null(FILE *f, int value)
{
    if (value < 0)
        fputs("null", f);
    else
        fprintf(f, "%d", value);
}

/* "placement": the policy, the topology it was computed on, whether it was applied (and
 * why not), one line per thread slot, and the chunks bound per NUMA node (null unless
 * pages were bound: numa, applied). */
static void write_placement_json(FILE *f, const struct placement *p)
{
    put_json_key(f, 2, "placement");
    if (!p) {
        fputs("null,\n", f);
        return;
    }
    fputs("{\n", f);
    put_json_text(f, 4, "policy", placement_policy_name(placement_policy(p)), false);
    put_json_text(f, 4, "topology_source", placement_source(p), false);
    put_json_key(f, 4, "applied");
    fputs(placement_applied(p) ? "true,\n" : "false,\n", f);
    put_json_key(f, 4, "reason");
    put_json_string_or_null(f, placement_not_applied_reason(p));
    fputs(",\n", f);
    put_json_text(f, 4, "gc_worker_0",
                  "no slot: the mutator that stops the world, where that mutator is placed", false);
    put_json_key(f, 4, "threads");
    size_t n = placement_thread_count(p);
    fputs(n ? "[\n" : "[],\n", f);
    for (size_t i = 0; i < n; i++) {
        const struct placement_thread *t = placement_thread_at(p, i);
        fprintf(f, "      {\"role\": \"%s\", \"index\": %" PRIu32 ", \"node\": ",
                placement_role_name(t->role), t->index);
        put_json_int_or_null(f, t->node);
        fputs(", \"package\": ", f);
        put_json_int_or_null(f, t->package);
        fputs(", \"cpus\": [", f);
        for (uint32_t k = 0; k < t->cpu_count; k++)
            fprintf(f, "%s%" PRIu32, k ? ", " : "", t->cpus[k]);
        fprintf(f, "], \"bound\": %s}%s\n", placement_thread_bound(p, i) ? "true" : "false",
                i + 1 < n ? "," : "");
    }
    if (n)
        fputs("    ],\n", f);
    put_json_key(f, 4, "page_binding");
    size_t nodes = placement_page_binding(p, NULL, 0);
    if (nodes == 0) {
        fputs("null\n", f);
    } else {
        struct placement_node_binding *b = platform_calloc(nodes, sizeof *b);
        placement_page_binding(p, b, nodes);
        fputs("[\n", f);
        for (size_t i = 0; i < nodes; i++) {
            fputs("      {\"node\": ", f);
            put_json_int_or_null(f, b[i].node);
            fprintf(f,
                    ", \"chunks\": %" PRIu64 ", \"bytes\": %" PRIu64
                    ", \"round_robin_chunks\": %" PRIu64 "}%s\n",
                    b[i].chunks, b[i].bytes, b[i].round_robin_chunks, i + 1 < nodes ? "," : "");
        }
        fputs("    ]\n", f);
        platform_free(b);
    }
    fputs("  },\n", f);
}

static void write_run_json(FILE *f, const struct write_context *c)
{
    const struct run_info *info = c->info;
    fputs("{\n", f);
    put_json_text(f, 2, "run_id", info->run_id, false);
    put_json_text(f, 2, "version", platform_version(), false);
    put_json_key(f, 2, "build");
    fputs("{\n", f);
    put_json_text(f, 4, "young_gc", WALTZ_OPT_YOUNG_GC, false);
    put_json_text(f, 4, "old_gc", WALTZ_OPT_OLD_GC, false);
    put_json_text(f, 4, "marking_barrier", WALTZ_OPT_MARKING_BARRIER, false);
    put_json_text(f, 4, "remembered_set", WALTZ_OPT_REMEMBERED_SET, false);
    put_json_text(f, 4, "code_unlinking", WALTZ_OPT_CODE_UNLINKING, false);
    put_json_text(f, 4, "code_lists", WALTZ_OPT_CODE_LISTS, false);
    put_json_text(f, 4, "numa", WALTZ_OPT_NUMA, false);
    put_json_text(f, 4, "compiler", WALTZ_COMPILER, false);
    put_json_text(f, 4, "buildtype", WALTZ_BUILDTYPE, false);
    put_json_text(f, 4, "optimization", WALTZ_OPTIMIZATION, false);
    put_json_text(f, 4, "sanitize", WALTZ_SANITIZE, false);
    put_json_text(f, 4, "c_args", WALTZ_C_ARGS, true);
    fputs("  },\n", f);
    put_json_text(f, 2, "command_line", info->command_line, false);
    put_json_text(f, 2, "workload", info->workload, false);
    put_json_key(f, 2, "params");
    if (info->param_count <= 0) {
        fputs("{},\n", f);
    } else {
        fputs("{\n", f);
        int count =
            info->param_count < TELEMETRY_MAX_PARAMS ? info->param_count : TELEMETRY_MAX_PARAMS;
        for (int i = 0; i < count; i++)
            put_json_text(f, 4, info->params[i].name, info->params[i].value, i == count - 1);
        fputs("  },\n", f);
    }
    put_json_u64(f, 2, "seed", info->seed, false);
    put_json_u64(f, 2, "mutators", info->mutators, false);
    put_json_u64(f, 2, "gc_threads", info->gc_threads, false);
    put_json_u64(f, 2, "gc_workers", info->gc_workers, false);
    put_json_u64(f, 2, "marker_threads", info->marker_threads, false);
    put_json_text(f, 2, "pinning", info->pinning, false);
    write_placement_json(f, info->placement);
    put_json_u64(f, 2, "young_size_bytes", info->young_size_bytes, false);
    put_json_u64(f, 2, "heap_size_bytes", info->heap_size_bytes, false);
    put_json_key(f, 2, "verify_heap");
    fputs(info->verify_heap ? "true,\n" : "false,\n", f);
    put_json_u64(f, 2, "gc_stress", info->gc_stress, false);

    const struct platform_topology *topo = &info->topology;
    char hostname[256] = "";
    if (gethostname(hostname, sizeof hostname - 1) != 0)
        hostname[0] = '\0';
    put_json_key(f, 2, "host");
    fputs("{\n", f);
    put_json_text(f, 4, "cpu_model", topo->cpu_model, false);
    put_json_u64(f, 4, "packages", (uint64_t)topo->packages, false);
    put_json_u64(f, 4, "numa_nodes", (uint64_t)topo->numa_nodes, false);
    put_json_u64(f, 4, "cores", (uint64_t)topo->cores, false);
    put_json_u64(f, 4, "pus", (uint64_t)topo->pus, false);
    put_json_text(f, 4, "topology_source", topo->source, false);
    put_json_text(f, 4, "hostname", hostname, true);
    fputs("  },\n", f);

    char start_time[32] = "";
    struct tm tm;
    if (info->start_time != 0 && gmtime_r(&info->start_time, &tm))
        strftime(start_time, sizeof start_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    put_json_key(f, 2, "start_time");
    put_json_string_or_null(f, start_time);
    fputs(",\n", f);
    uint64_t wall_ns = info->end_ns > c->base_ns ? info->end_ns - c->base_ns : 0;
    put_json_key(f, 2, "wall_ms");
    put_ms(f, wall_ns);
    fputs(",\n", f);
    put_json_text(f, 2, "status", c->status, false);
    put_json_key(f, 2, "error");
    put_json_string_or_null(f, info->error);
    fputs(",\n", f);
    put_json_key(f, 2, "checksum");
    put_json_string_or_null(f, info->checksum);
    fputs(",\n", f);
    put_json_key(f, 2, "files");
    fputc('[', f);
    for (size_t i = 0; i < c->file_count; i++) {
        put_json_string(f, c->files[i]);
        if (i + 1 < c->file_count)
            fputs(", ", f);
    }
    fputs("]\n}\n", f);
}

/* --- Directories and atomic files ----------------------------------------------------- */

static int set_error(char *err, size_t err_size, const char *what, const char *path, int error)
{
    if (err && err_size)
        snprintf(err, err_size, "cannot %s %s: %s", what, path, strerror(error));
    return -1;
}

static int join_path(char *out, const char *dir, const char *name, const char *suffix, char *err,
                     size_t err_size)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, suffix);
    if (n < 0 || n >= PATH_MAX)
        return set_error(err, err_size, "write into", dir, ENAMETOOLONG);
    return 0;
}

/* mkdir -p */
static int make_directories(const char *dir, char *err, size_t err_size)
{
    char path[PATH_MAX];
    size_t length = strlen(dir);
    if (length == 0 || length >= sizeof path)
        return set_error(err, err_size, "create directory", dir, length ? ENAMETOOLONG : ENOENT);
    memcpy(path, dir, length + 1);
    for (size_t i = 1; i <= length; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return set_error(err, err_size, "create directory", path, errno);
        if (stat(path, &st) != 0)
            return set_error(err, err_size, "create directory", path, errno);
        if (!S_ISDIR(st.st_mode))
            return set_error(err, err_size, "create directory", path, ENOTDIR);
        path[i] = saved;
    }
    return 0;
}

typedef void (*file_writer)(FILE *f, const struct write_context *c);

static int write_file(const char *dir, const char *name, file_writer writer,
                      const struct write_context *c, char *err, size_t err_size)
{
    char path[PATH_MAX], temp_path[PATH_MAX];
    if (join_path(path, dir, name, "", err, err_size) != 0 ||
        join_path(temp_path, dir, name, ".tmp", err, err_size) != 0)
        return -1;
    FILE *f = fopen(temp_path, "w");
    if (!f)
        return set_error(err, err_size, "write", temp_path, errno);
    errno = 0;
    writer(f, c);
    int failed = fflush(f) != 0 || ferror(f);
    int error = errno ? errno : EIO;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        error = errno ? errno : EIO;
    }
    if (failed) {
        unlink(temp_path);
        return set_error(err, err_size, "write", path, error);
    }
    if (rename(temp_path, path) != 0) {
        error = errno;
        unlink(temp_path);
        return set_error(err, err_size, "rename into place", path, error);
    }
    return 0;
}

static int remove_file(const char *dir, const char *name, const char *suffix, char *err,
                       size_t err_size)
{
    char path[PATH_MAX];
    if (join_path(path, dir, name, suffix, err, err_size) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return set_error(err, err_size, "remove", path, errno);
    return 0;
}

int telemetry_write_run(const struct telemetry *t, const struct run_info *info, const char *dir,
                        char *err, size_t err_size)
{
    static const file_writer writers[] = {write_pauses_csv, write_phases_csv, write_cycles_csv,
                                          write_deopts_csv, write_mmu_csv,    write_summary_csv,
                                          write_trace_json};
    static const char *const all_files[] = {"pauses.csv", "phases.csv",  "cycles.csv", "deopts.csv",
                                            "mmu.csv",    "summary.csv", "trace.json", "run.json"};
    _Static_assert(ARRAY_LENGTH(writers) == ARRAY_LENGTH(telemetry_result_files),
                   "one writer per result file");
    _Static_assert(ARRAY_LENGTH(all_files) == ARRAY_LENGTH(telemetry_result_files) + 1,
                   "run.json follows the result files");

    if (make_directories(dir, err, err_size) != 0 ||
        remove_file(dir, "run.json", "", err, err_size) != 0)
        return -1;
    struct write_context c = {
        .t = t,
        .info = info,
        .base_ns = telemetry_base_ns(t, info),
        .status = info->status[0] ? info->status : "ok",
        .files = all_files,
        .file_count = ARRAY_LENGTH(all_files),
    };
    int rc = 0;
    telemetry_lock(t);
    telemetry_stats_locked(t, info, &c.stats);
    for (size_t i = 0; i < ARRAY_LENGTH(writers) && rc == 0; i++)
        rc = write_file(dir, telemetry_result_files[i], writers[i], &c, err, err_size);
    telemetry_unlock(t);
    if (rc == 0)
        rc = write_file(dir, "run.json", write_run_json, &c, err, err_size);
    return rc;
}

int telemetry_write_failed(const struct run_info *info, const char *dir, char *err, size_t err_size)
{
    static const char *const only_run_json[] = {"run.json"};
    struct run_info *failed = platform_alloc(sizeof *failed); /* too big for a stack */
    *failed = *info;
    if (!failed->error[0])
        snprintf(failed->error, sizeof failed->error, "%s", "unknown error");
    struct write_context c = {
        .info = failed,
        .base_ns = info->start_ns,
        .status = "failed",
        .files = only_run_json,
        .file_count = 1,
    };
    if (make_directories(dir, err, err_size) != 0) {
        platform_free(failed);
        return -1;
    }
    int rc = write_file(dir, "run.json", write_run_json, &c, err, err_size);
    for (size_t i = 0; i < ARRAY_LENGTH(telemetry_result_files); i++) {
        /* The first error is the one reported. */
        if (remove_file(dir, telemetry_result_files[i], "", rc == 0 ? err : NULL,
                        rc == 0 ? err_size : 0) != 0)
            rc = -1;
        remove_file(dir, telemetry_result_files[i], ".tmp", NULL, 0);
    }
    platform_free(failed);
    return rc;
}
