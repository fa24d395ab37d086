/*
 * Tests of lib/telemetry: the MMU of Cheng & Blelloch 2001 against hand-computed cases
 * and a brute-force sweep, nearest-rank percentiles, the exact header rows of
 * shared/design/OUTPUTS.md, and that a failed run leaves only run.json. Deopts: the rows
 * and columns of deopts.csv, unique ids under concurrent recording, reoptimized_after_us,
 * the trace.json events on the recording thread's track, the summary count and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/telemetry.h"

#define US 1000ull
#define MS 1000000ull

static const char *const expected_headers[][2] = {
    {"pauses.csv",
     "run_id,pause_id,cycle_id,kind,reason,start_us,duration_us,ttsp_us,remset_us,roots_us,"
     "evacuate_us,weak_us,mark_us,sweep_us,resume_us,young_before_bytes,young_after_bytes,"
     "copied_bytes,promoted_bytes,old_before_bytes,old_after_bytes,remset_slots,gc_threads,"
     "steals,mutators"},
    {"phases.csv",
     "run_id,pause_id,cycle_id,phase,worker,start_us,duration_us,items,steals,idle_us"},
    {"cycles.csv",
     "run_id,cycle_id,kind,start_us,end_us,pauses,pause_total_us,concurrent_us,marked_bytes,"
     "swept_bytes,barrier_slow_count,code_unlinked_count,osr_entries_cleared_count"},
    {"deopts.csv",
     "run_id,deopt_id,start_us,thread,function,bytecode_offset,kind,reason,frames,"
     "materialized_objects,materialized_bytes,barrier_records,duration_us,waited_for_gc_us,"
     "code_unlinking,reoptimized_after_us"},
    {"mmu.csv", "run_id,window_us,mmu"},
    {"summary.csv",
     "run_id,young_gc,old_gc,marking_barrier,remembered_set,code_unlinking,code_lists,numa,"
     "workload,params,mutators,gc_threads,pinning,seed,wall_ms,mutator_ms,gc_pause_total_ms,"
     "pauses,scavenges,mark_cycles,pause_p50_us,pause_p90_us,pause_p99_us,pause_max_us,"
     "ttsp_p99_us,copied_bytes,promoted_bytes,allocated_bytes,peak_rss_bytes,mmu_1ms,"
     "mmu_10ms,mmu_100ms,deopts,checksum,status"},
};

/* --- Helpers ------------------------------------------------------------------------ */

static void add_pause(struct telemetry *t, uint64_t start_ns, uint64_t duration_ns)
{
    struct pause_record p = {.pause_id = telemetry_pause_count(t),
                             .kind = PAUSE_SCAVENGE,
                             .reason = REASON_ALLOCATION_FAILURE,
                             .start_ns = start_ns,
                             .duration_ns = duration_ns};
    telemetry_add_pause(t, &p);
}

static char *slurp(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void make_temp_dir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/waltz-test-telemetry-XXXXXX");
    assert_non_null(mkdtemp(out));
}

/* A small finished run: start at 1 s of CLOCK_MONOTONIC, 50 ms long, three pauses. */
static struct telemetry *sample_run(struct run_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->run_id, sizeof info->run_id, "20240101-000000-splay-serial");
    snprintf(info->workload, sizeof info->workload, "splay");
    run_info_add_param(info, "tree_size", "%d", 8000);
    run_info_add_param(info, "payload", "%s", "a,b");
    snprintf(info->command_line, sizeof info->command_line, "waltz run splay --label \"x\"\t\x01");
    info->seed = 42;
    info->mutators = 2;
    info->gc_threads = 1;
    snprintf(info->pinning, sizeof info->pinning, "none");
    snprintf(info->topology.cpu_model, sizeof info->topology.cpu_model, "Test CPU \xff");
    snprintf(info->topology.source, sizeof info->topology.source, "this machine");
    info->start_time = 1700000000;
    info->start_ns = 1000 * MS;
    info->end_ns = info->start_ns + 50 * MS;
    snprintf(info->status, sizeof info->status, "ok");
    snprintf(info->checksum, sizeof info->checksum, "123456789");
    info->allocated_bytes = 1 << 20;

    struct telemetry *t = telemetry_create(info->start_ns);
    struct pause_record p = {.pause_id = 0,
                             .cycle_id = 0,
                             .kind = PAUSE_SCAVENGE,
                             .reason = REASON_ALLOCATION_FAILURE,
                             .start_ns = info->start_ns + 1234567,
                             .duration_ns = 500 * US,
                             .ttsp_ns = 12345,
                             .copied_bytes = 1000,
                             .promoted_bytes = 10,
                             .gc_threads = 1,
                             .mutators = 2,
                             .thread_id = 1};
    telemetry_add_pause(t, &p);
    p.pause_id = 1, p.cycle_id = 1, p.kind = PAUSE_FULL, p.reason = REASON_FORCED;
    p.start_ns = info->start_ns + 20 * MS, p.duration_ns = 2 * MS;
    telemetry_add_pause(t, &p);
    p.pause_id = 2, p.cycle_id = 2, p.kind = PAUSE_SCAVENGE, p.reason = REASON_STRESS;
    p.start_ns = info->start_ns + 40 * MS, p.duration_ns = 1 * MS;
    telemetry_add_pause(t, &p);

    struct phase_record ph = {.pause_id = 0,
                              .cycle_id = 0,
                              .phase = "evacuate",
                              .worker = 0,
                              .start_ns = info->start_ns + 1300000,
                              .duration_ns = 100 * US,
                              .items = 77,
                              .thread_id = 1};
    telemetry_add_phase(t, &ph);
    ph.pause_id = TELEMETRY_NO_PAUSE, ph.cycle_id = 3, ph.phase = "mark";
    telemetry_add_phase(t, &ph);
    struct cycle_record cy = {.cycle_id = 1,
                              .kind = CYCLE_FULL,
                              .start_ns = info->start_ns + 20 * MS,
                              .end_ns = info->start_ns + 22 * MS,
                              .pauses = 1,
                              .pause_total_ns = 2 * MS};
    telemetry_add_cycle(t, &cy);
    telemetry_trace_span(t, 2, "safepoint_wait", "safepoint", info->start_ns + 5 * MS, 3 * US);
    telemetry_name_thread(t, 1, "mutator-0");
    telemetry_name_thread(t, 2, "gc \"worker\"");
    return t;
}

/* --- Names ---------------------------------------------------------------------------- */

static void test_names(void **state)
{
    assert_string_equal(telemetry_pause_kind_name(PAUSE_SCAVENGE), "scavenge");
    assert_string_equal(telemetry_pause_kind_name(PAUSE_MARK_START), "mark_start");
    assert_string_equal(telemetry_pause_kind_name(PAUSE_MARK_FINALIZE), "mark_finalize");
    assert_string_equal(telemetry_pause_kind_name(PAUSE_FULL), "full");
    assert_string_equal(telemetry_reason_name(REASON_ALLOCATION_FAILURE), "allocation_failure");
    assert_string_equal(telemetry_reason_name(REASON_HEAP_LIMIT), "heap_limit");
    assert_string_equal(telemetry_reason_name(REASON_MARKING_COMPLETE), "marking_complete");
    assert_string_equal(telemetry_reason_name(REASON_FORCED), "forced");
    assert_string_equal(telemetry_reason_name(REASON_STRESS), "stress");
    assert_string_equal(telemetry_cycle_kind_name(CYCLE_SCAVENGE), "scavenge");
    assert_string_equal(telemetry_cycle_kind_name(CYCLE_MARKING), "marking");
    assert_string_equal(telemetry_cycle_kind_name(CYCLE_FULL), "full");
}

/* --- MMU ------------------------------------------------------------------------------ */

static void test_mmu_no_pauses(void **state)
{
    struct telemetry *t = telemetry_create(0);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 1 * MS), 1.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 1000 * MS), 1.0, 1e-12);
    telemetry_destroy(t);
}

/* Run [0, 100 ms], one 10 ms pause at [45, 55] ms. */
static void test_mmu_one_pause_in_the_middle(void **state)
{
    struct telemetry *t = telemetry_create(0);
    add_pause(t, 45 * MS, 10 * MS);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 1 * MS), 0.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 10 * MS), 0.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 20 * MS), 0.5, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 40 * MS), 0.75, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 100 * MS), 0.9, 1e-12);
    telemetry_destroy(t);
}

/* Run [0, 100 ms], 2 ms pauses at [40, 42] and [46, 48] ms: a 10 ms window holds both. */
static void test_mmu_two_pauses_closer_than_window(void **state)
{
    struct telemetry *t = telemetry_create(0);
    add_pause(t, 46 * MS, 2 * MS);
    add_pause(t, 40 * MS, 2 * MS);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 10 * MS), 0.6, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 8 * MS), 0.5, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 6 * MS), 4.0 / 6.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 4 * MS), 0.5, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 2 * MS), 0.0, 1e-12);
    telemetry_destroy(t);
}

static void test_mmu_window_larger_than_run(void **state)
{
    struct telemetry *t = telemetry_create(0);
    add_pause(t, 40 * MS, 2 * MS);
    add_pause(t, 46 * MS, 2 * MS);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 200 * MS), 0.96, 1e-12);
    assert_float_equal(telemetry_mmu(t, 0, 100 * MS, 100 * MS), 0.96, 1e-12);
    telemetry_destroy(t);
}

/* Pauses are clipped to the run, overlapping pauses count once. */
static void test_mmu_clips_and_merges(void **state)
{
    struct telemetry *t = telemetry_create(0);
    add_pause(t, 5 * MS, 10 * MS);  /* [5, 15]: only [10, 15] inside */
    add_pause(t, 50 * MS, 4 * MS);  /* [50, 54] */
    add_pause(t, 52 * MS, 4 * MS);  /* [52, 56]: merged into [50, 56] */
    add_pause(t, 108 * MS, 5 * MS); /* [108, 113]: only [108, 110] inside */
    uint64_t start = 10 * MS, end = 110 * MS;
    assert_float_equal(telemetry_mmu(t, start, end, 1000 * MS), 1.0 - 13.0 / 100.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, start, end, 6 * MS), 0.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, start, end, 12 * MS), 0.5, 1e-12);
    assert_float_equal(telemetry_mmu(t, start, end, 5 * MS), 0.0, 1e-12);
    assert_float_equal(telemetry_mmu(t, start, end, 10 * MS), 0.4, 1e-12);
    telemetry_destroy(t);
}

/* Against a sweep of every integer window position (all boundaries are integers). */
static void test_mmu_matches_brute_force(void **state)
{
    srand(12345);
    for (int trial = 0; trial < 2000; trial++) {
        enum { RUN = 400 };
        struct telemetry *t = telemetry_create(0);
        bool paused[RUN] = {false};
        int pauses = rand() % 8;
        for (int i = 0; i < pauses; i++) {
            int start = rand() % (RUN + 40) - 20, length = rand() % 40;
            add_pause(t, (uint64_t)(start + 100), (uint64_t)length); /* offset: no negatives */
            for (int x = start; x < start + length; x++)
                if (x >= 0 && x < RUN)
                    paused[x] = true;
        }
        uint64_t window = 1 + (uint64_t)(rand() % (RUN + 50));
        double expected = 1.0;
        if (window >= RUN) {
            int total = 0;
            for (int x = 0; x < RUN; x++)
                total += paused[x];
            expected = (double)(RUN - total) / RUN;
        } else {
            for (int x = 0; x + (int)window <= RUN; x++) {
                int p = 0;
                for (int y = x; y < x + (int)window; y++)
                    p += paused[y];
                double u = (double)((int)window - p) / (double)window;
                if (u < expected)
                    expected = u;
            }
        }
        double got = telemetry_mmu(t, 100, 100 + RUN, window);
        if (got < expected - 1e-12 || got > expected + 1e-12)
            fail_msg("trial %d window %" PRIu64 ": mmu %f, brute force %f", trial, window, got,
                     expected);
        telemetry_destroy(t);
    }
}

/* --- Percentiles ------------------------------------------------------------------------ */

static void test_percentiles(void **state)
{
    struct telemetry *t = telemetry_create(0);
    assert_int_equal(telemetry_pause_percentile_ns(t, 50), 0);
    const int durations[] = {7, 3, 10, 1, 5, 9, 2, 8, 4, 6};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
        add_pause(t, i * MS, (uint64_t)durations[i] * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 0), 1 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 10), 1 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 11), 2 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 50), 5 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 90), 9 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 99), 10 * US);
    assert_int_equal(telemetry_pause_percentile_ns(t, 100), 10 * US);
    telemetry_destroy(t);

    t = telemetry_create(0);
    add_pause(t, 0, 42);
    assert_int_equal(telemetry_pause_percentile_ns(t, 1), 42);
    assert_int_equal(telemetry_pause_percentile_ns(t, 99), 42);
    telemetry_destroy(t);
}

/* --- Spans from many threads ----------------------------------------------------------- */

enum { SPAN_THREADS = 4, SPANS_PER_THREAD = 2000 };

static void *record_spans(void *arg)
{
    struct telemetry *t = arg;
    int id = platform_thread_id();
    char name[32];
    snprintf(name, sizeof name, "worker-%d", id);
    telemetry_name_thread(t, id, name);
    for (int i = 0; i < SPANS_PER_THREAD; i++)
        telemetry_trace_span(t, id, "marking_step", "gc.marking", (uint64_t)i * US, US);
    return NULL;
}

static void test_concurrent_spans(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    struct platform_thread threads[SPAN_THREADS];
    for (int i = 0; i < SPAN_THREADS; i++)
        platform_thread_start(&threads[i], "span", record_spans, t);
    for (int i = 0; i < SPAN_THREADS; i++)
        platform_thread_join(&threads[i]);
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    char *trace = slurp(dir, "trace.json");
    int spans = 0, names = 0;
    for (char *c = trace; (c = strstr(c, "\"marking_step\"")); c++)
        spans++;
    for (char *c = trace; (c = strstr(c, "\"worker-")); c++)
        names++;
    assert_int_equal(spans, SPAN_THREADS * SPANS_PER_THREAD);
    assert_int_equal(names, SPAN_THREADS);
    free(trace);
    telemetry_destroy(t);
    remove_tree(dir);
}

/* --- Files ------------------------------------------------------------------------------ */

static void test_write_run_headers_and_rows(void **state)
{
    char tmp[64], dir[128], err[256] = "";
    make_temp_dir(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/a/b", tmp); /* mkdir -p */
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    assert_string_equal(err, "");

    for (size_t i = 0; i < sizeof expected_headers / sizeof expected_headers[0]; i++) {
        char *text = slurp(dir, expected_headers[i][0]);
        if (!text)
            fail_msg("%s missing", expected_headers[i][0]);
        char *newline = strchr(text, '\n');
        assert_non_null(newline);
        *newline = '\0';
        assert_string_equal(text, expected_headers[i][1]);
        for (char *row = newline + 1; *row; row = strchr(row, '\n') + 1)
            if (strncmp(row, info.run_id, strlen(info.run_id)) != 0 ||
                row[strlen(info.run_id)] != ',')
                fail_msg("%s: row does not start with the run id: %.60s", expected_headers[i][0],
                         row);
        free(text);
    }
    assert_true(file_exists(dir, "trace.json"));
    assert_true(file_exists(dir, "run.json"));
    assert_int_equal(count_entries(dir), 8); /* no temporary files left */

    char *pauses = slurp(dir, "pauses.csv");
    assert_non_null(strstr(pauses, "\n20240101-000000-splay-serial,0,0,scavenge,"
                                   "allocation_failure,1234.567,500.000,12.345,"));
    assert_non_null(strstr(pauses, ",1,1,full,forced,20000.000,2000.000,"));
    free(pauses);
    char *phases = slurp(dir, "phases.csv");
    assert_non_null(strstr(phases, "serial,0,0,evacuate,0,1300.000,100.000,77,0,0.000\n"));
    assert_non_null(strstr(phases, "serial,,3,mark,0,"));
    free(phases);
    char *cycles = slurp(dir, "cycles.csv");
    assert_non_null(strstr(cycles, "serial,1,full,20000.000,22000.000,1,2000.000,"));
    free(cycles);
    char *mmu = slurp(dir, "mmu.csv");
    assert_non_null(strstr(mmu, "\n20240101-000000-splay-serial,100.000,0.000000\n"));
    assert_non_null(strstr(mmu, ",100000.000,0.930000\n")); /* 3.5 ms of 50 ms paused */
    assert_non_null(strstr(mmu, ",500000.000,0.930000\n")); /* 10x the run */
    assert_null(strstr(mmu, ",1000000.000,"));
    free(mmu);
    char *summary = slurp(dir, "summary.csv");
    assert_non_null(strstr(summary, ",splay,\"tree_size=8000;payload=a,b\",2,1,none,42,"
                                    "50.000,46.500,3.500,3,2,1,1000.000,2000.000,2000.000,"
                                    "2000.000,12.345,3000,30,1048576,0,"));
    assert_non_null(strstr(summary, ",0,123456789,ok\n"));
    free(summary);
    char *run = slurp(dir, "run.json");
    assert_non_null(strstr(run, "\"status\": \"ok\""));
    assert_non_null(strstr(run, "\"error\": null"));
    assert_non_null(strstr(run, "\"tree_size\": \"8000\""));
    assert_non_null(strstr(run, "\"start_time\": \"2023-11-14T22:13:20Z\""));
    assert_non_null(strstr(run, "\"checksum\": \"123456789\""));
    free(run);

    telemetry_destroy(t);
    remove_tree(tmp);
}

/* A 2 ms run still gets the curve up to 100 ms (and no further: 10x the run is 20 ms). */
static void test_mmu_csv_short_run(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    info.end_ns = info.start_ns + 2 * MS;
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    char *mmu = slurp(dir, "mmu.csv");
    int rows = 0;
    for (char *c = mmu; *c; c++)
        rows += *c == '\n';
    assert_int_equal(rows, 1 + 10);
    assert_non_null(strstr(mmu, ",100000.000,"));
    assert_null(strstr(mmu, ",200000.000,"));
    /* 0.5 ms of the first 2 ms paused; the later pauses fall outside the run. */
    assert_non_null(strstr(mmu, ",2000.000,0.750000\n"));
    free(mmu);
    telemetry_destroy(t);
    remove_tree(dir);
}

static bool python_available(void) { return system("python3 -c pass >/dev/null 2>&1") == 0; }

static void test_json_files_parse(void **state)
{
    if (!python_available())
        skip();
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    char command[512];
    snprintf(command, sizeof command,
             "python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); "
             "e=json.load(open(sys.argv[2]))[\"traceEvents\"]; "
             "assert r[\"build\"][\"c_args\"] is not None and len(r[\"files\"]) == 8; "
             "assert len([x for x in e if x[\"ph\"] == \"X\"]) == 6, e; "
             "assert len([x for x in e if x[\"ph\"] == \"M\"]) == 3, e' "
             "%s/run.json %s/trace.json",
             dir, dir);
    assert_int_equal(system(command), 0);
    telemetry_destroy(t);
    remove_tree(dir);
}

static void test_write_failed_leaves_only_run_json(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    assert_int_equal(count_entries(dir), 8);

    snprintf(info.status, sizeof info.status, "failed");
    snprintf(info.error, sizeof info.error, "heap exhausted: \"old\" space full");
    info.checksum[0] = '\0';
    assert_int_equal(telemetry_write_failed(&info, dir, err, sizeof err), 0);
    assert_int_equal(count_entries(dir), 1);
    char *run = slurp(dir, "run.json");
    assert_non_null(run);
    assert_non_null(strstr(run, "\"status\": \"failed\""));
    assert_non_null(strstr(run, "\"error\": \"heap exhausted: \\\"old\\\" space full\""));
    assert_non_null(strstr(run, "\"checksum\": null"));
    assert_non_null(strstr(run, "\"files\": [\"run.json\"]"));
    free(run);

    /* Also into a directory that does not exist yet. */
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s/fresh", dir);
    assert_int_equal(telemetry_write_failed(&info, fresh, err, sizeof err), 0);
    assert_int_equal(count_entries(fresh), 1);
    telemetry_destroy(t);
    remove_tree(dir);
}

static void test_write_run_reports_errors(void **state)
{
    char dir[64], blocked[128], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    snprintf(blocked, sizeof blocked, "%s/file", dir);
    FILE *f = fopen(blocked, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(blocked, sizeof blocked, "%s/file/sub", dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    assert_int_equal(telemetry_write_run(t, &info, blocked, err, sizeof err), -1);
    assert_non_null(strstr(err, "file"));
    telemetry_destroy(t);
    remove_tree(dir);
}

static void test_too_many_params_is_fatal(void **state)
{
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        freopen("/dev/null", "w", stderr);
        struct run_info info = {0};
        for (int i = 0; i <= TELEMETRY_MAX_PARAMS; i++)
            run_info_add_param(&info, "p", "%d", i);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
}

static void test_print_summary(void **state)
{
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    telemetry_print_summary(t, &info, "results/runs/x", out);
    fclose(out);
    assert_non_null(strstr(text, "splay"));
    assert_non_null(strstr(text, "3 (2 scavenge, 1 full)"));
    assert_non_null(strstr(text, "results/runs/x"));
    assert_non_null(strstr(text, "123456789"));
    free(text);
    telemetry_destroy(t);
}

/* --- Deopts ------------------------------------------------------------------------------ */

/* OUTPUTS.md, "deopts.csv columns", in order. */
static const char *const deopt_columns[] = {"run_id",
                                            "deopt_id",
                                            "start_us",
                                            "thread",
                                            "function",
                                            "bytecode_offset",
                                            "kind",
                                            "reason",
                                            "frames",
                                            "materialized_objects",
                                            "materialized_bytes",
                                            "barrier_records",
                                            "duration_us",
                                            "waited_for_gc_us",
                                            "code_unlinking",
                                            "reoptimized_after_us"};

static size_t csv_field_count(const char *line)
{
    size_t n = 1;
    bool quoted = false;
    for (; *line && *line != '\n'; line++) {
        if (*line == '"')
            quoted = !quoted;
        else if (*line == ',' && !quoted)
            n++;
    }
    return n;
}

static size_t line_count(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* sample_run plus three deopts recorded out of start order. */
static struct telemetry *sample_run_with_deopts(struct run_info *info, uint64_t ids[3])
{
    struct telemetry *t = sample_run(info);
    struct telemetry_deopt d = {.thread = 1,
                                .function = "later",
                                .bytecode_offset = 17,
                                .kind = "eager",
                                .reason = "not_smi",
                                .frames = 2,
                                .materialized_objects = 3,
                                .materialized_bytes = 96,
                                .barrier_records = 4,
                                .start_ns = info->start_ns + 30 * MS,
                                .duration_us = 12.5,
                                .waited_for_gc_us = 1.25,
                                .code_unlinking = "lazy"};
    ids[0] = telemetry_record_deopt(t, &d);
    char name[] = "f,\"quoted\"";
    d.function = name, d.thread = 0, d.reason = "wrong_map", d.start_ns = info->start_ns + 10 * MS;
    d.kind = "soft", d.code_unlinking = "eager", d.waited_for_gc_us = 0;
    ids[1] = telemetry_record_deopt(t, &d);
    name[0] = 'X'; /* the name was copied */
    d.function = "later", d.reason = "not_smi", d.start_ns = info->start_ns + 30 * MS;
    d.thread = 1, d.kind = "eager", d.code_unlinking = "lazy";
    ids[2] = telemetry_record_deopt(t, &d); /* same start as ids[0]: after it by id */
    return t;
}

static void test_deopts_csv(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    uint64_t ids[3];
    struct telemetry *t = sample_run_with_deopts(&info, ids);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 2);
    assert_int_equal(telemetry_deopt_count(t), 3);
    telemetry_deopt_reoptimized(t, 0, info.start_ns + 30 * MS + 2500 * US);
    telemetry_deopt_reoptimized(t, 0, info.start_ns + 40 * MS); /* ignored: not the first */
    telemetry_deopt_reoptimized(t, 99, info.start_ns);          /* unknown: ignored */
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);

    char *csv = slurp(dir, "deopts.csv");
    assert_non_null(csv);
    assert_int_equal(line_count(csv), 1 + 3);
    assert_int_equal(csv_field_count(csv), ARRAY_LENGTH(deopt_columns));
    const char *field = csv;
    for (size_t i = 0; i < ARRAY_LENGTH(deopt_columns); i++) {
        size_t n = strlen(deopt_columns[i]);
        assert_int_equal(strncmp(field, deopt_columns[i], n), 0);
        assert_true(field[n] == (i + 1 < ARRAY_LENGTH(deopt_columns) ? ',' : '\n'));
        field += n + 1;
    }
    for (const char *row = strchr(csv, '\n') + 1; *row; row = strchr(row, '\n') + 1)
        assert_int_equal(csv_field_count(row), ARRAY_LENGTH(deopt_columns));
    /* Sorted by start_us, then deopt_id; the function name quoted; reoptimized once. */
    assert_non_null(strstr(csv, "\n20240101-000000-splay-serial,1,10000.000,0,\"f,\"\"quoted\"\"\","
                                "17,soft,wrong_map,2,3,96,4,12.500,0.000,eager,\n"
                                "20240101-000000-splay-serial,0,30000.000,1,later,17,eager,"
                                "not_smi,2,3,96,4,12.500,1.250,lazy,2500.000\n"
                                "20240101-000000-splay-serial,2,30000.000,1,later,17,eager,"
                                "not_smi,2,3,96,4,12.500,0.000,lazy,\n"));
    free(csv);
    char *summary = slurp(dir, "summary.csv");
    assert_non_null(strstr(summary, ",3,123456789,ok\n"));
    free(summary);
    telemetry_destroy(t);
    remove_tree(dir);
}

static void test_deopts_without_telemetry(void **state)
{
    struct telemetry_deopt d = {.function = "f", .kind = "eager", .reason = "not_smi"};
    assert_int_equal(telemetry_record_deopt(NULL, &d), 0);
    telemetry_deopt_reoptimized(NULL, 0, 1);
    assert_int_equal(telemetry_deopt_count(NULL), 0);
    /* NULL strings are written as empty fields. */
    struct telemetry *t = telemetry_create(0);
    struct telemetry_deopt empty = {0};
    assert_int_equal(telemetry_record_deopt(t, &empty), 0);
    telemetry_deopt_reoptimized(t, 0, 0);
    assert_int_equal(telemetry_deopt_count(t), 1);
    telemetry_destroy(t);
}

enum { DEOPT_THREADS = 4, DEOPTS_PER_THREAD = 2500 };

struct deopt_worker {
    struct telemetry *t;
    uint32_t index;
    uint64_t ids[DEOPTS_PER_THREAD];
};

static void *record_deopts(void *arg)
{
    struct deopt_worker *w = arg;
    char function[32];
    snprintf(function, sizeof function, "fn%" PRIu32, w->index);
    for (int i = 0; i < DEOPTS_PER_THREAD; i++) {
        struct telemetry_deopt d = {.thread = w->index,
                                    .function = function,
                                    .bytecode_offset = (uint32_t)i,
                                    .kind = "eager",
                                    .reason = i % 2 ? "wrong_map" : "not_smi",
                                    .start_ns = 1000 * MS + (uint64_t)i * US,
                                    .code_unlinking = "lazy"};
        w->ids[i] = telemetry_record_deopt(w->t, &d);
        if (i % 3 == 0)
            telemetry_deopt_reoptimized(w->t, w->ids[i], 1000 * MS + (uint64_t)(i + 5) * US);
    }
    return NULL;
}

static void test_deopts_concurrent_ids_unique(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    struct telemetry *t = sample_run(&info);
    static struct deopt_worker workers[DEOPT_THREADS];
    struct platform_thread threads[DEOPT_THREADS];
    for (uint32_t i = 0; i < DEOPT_THREADS; i++) {
        workers[i].t = t, workers[i].index = i;
        platform_thread_start(&threads[i], "deopt", record_deopts, &workers[i]);
    }
    for (int i = 0; i < DEOPT_THREADS; i++)
        platform_thread_join(&threads[i]);
    enum { TOTAL = DEOPT_THREADS * DEOPTS_PER_THREAD };
    assert_int_equal(telemetry_deopt_count(t), TOTAL);
    static bool seen[TOTAL];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < DEOPT_THREADS; i++)
        for (int k = 0; k < DEOPTS_PER_THREAD; k++) {
            assert_true(workers[i].ids[k] < TOTAL);
            assert_false(seen[workers[i].ids[k]]);
            seen[workers[i].ids[k]] = true;
        }
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);
    char *csv = slurp(dir, "deopts.csv");
    assert_int_equal(line_count(csv), 1 + TOTAL);
    /* Rows ordered by (start_us, deopt_id); every id once; reoptimized_after_us = 5 us
     * exactly for every third deopt of each thread and empty for the others. */
    memset(seen, 0, sizeof seen);
    double last_start = -1;
    uint64_t last_id = 0;
    size_t reoptimized = 0;
    for (char *row = strchr(csv, '\n') + 1; *row; row = strchr(row, '\n') + 1) {
        uint64_t id;
        double start;
        assert_int_equal(sscanf(row, "20240101-000000-splay-serial,%" SCNu64 ",%lf,", &id, &start),
                         2);
        assert_true(id < TOTAL);
        assert_false(seen[id]);
        seen[id] = true;
        assert_true(start > last_start || (start == last_start && id > last_id));
        last_start = start, last_id = id;
        char *end = strchr(row, '\n');
        char *last_comma = end;
        while (*--last_comma != ',')
            ;
        if (last_comma + 1 != end) {
            assert_int_equal(strncmp(last_comma, ",5.000\n", 7), 0);
            reoptimized++;
        }
    }
    assert_int_equal(reoptimized, DEOPT_THREADS * ((DEOPTS_PER_THREAD + 2) / 3));
    free(csv);
    telemetry_destroy(t);
    remove_tree(dir);
}

static void *record_one_deopt(void *arg)
{
    struct telemetry *t = arg;
    struct telemetry_deopt d = {.thread = 7,
                                .function = "g\"h",
                                .bytecode_offset = 5,
                                .kind = "lazy",
                                .reason = "dependency_changed",
                                .frames = 3,
                                .materialized_objects = 2,
                                .start_ns = 1000 * MS + 7 * MS,
                                .duration_us = 40,
                                .waited_for_gc_us = 2.5,
                                .code_unlinking = "eager"};
    telemetry_record_deopt(t, &d);
    static int tid;
    tid = platform_thread_id();
    telemetry_name_thread(t, tid, "mutator-7");
    return &tid;
}

static void test_deopts_trace_and_summary(void **state)
{
    char dir[64], err[256] = "";
    make_temp_dir(dir, sizeof dir);
    struct run_info info;
    uint64_t ids[3];
    struct telemetry *t = sample_run_with_deopts(&info, ids);
    struct platform_thread thread;
    platform_thread_start(&thread, "mutator", record_one_deopt, t);
    int *tid = platform_thread_join(&thread);
    assert_int_equal(telemetry_write_run(t, &info, dir, err, sizeof err), 0);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    telemetry_print_summary(t, &info, "results/runs/x", out);
    fclose(out);
    assert_non_null(strstr(text, "deopts             4 (reasons: not_smi 2, wrong_map 1, "
                                 "dependency_changed 1)\n"));
    free(text);
    char *summary = slurp(dir, "summary.csv");
    assert_non_null(strstr(summary, ",4,123456789,ok\n"));
    free(summary);

    if (python_available()) {
        char command[1024];
        snprintf(command, sizeof command,
                 "python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"traceEvents\"]; "
                 "d=[x for x in e if x.get(\"cat\") == \"deopt\"]; assert len(d) == 4, d; "
                 "assert all(x[\"ph\"] == \"X\" and x[\"pid\"] == 1 for x in d), d; "
                 "g=[x for x in d if x[\"name\"] == \"deopt g\\\"h\"]; assert len(g) == 1, d; "
                 "g=g[0]; a=g[\"args\"]; assert g[\"tid\"] == %d and g[\"ts\"] == 7000 and "
                 "g[\"dur\"] == 40, g; "
                 "assert a[\"reason\"] == \"dependency_changed\" and a[\"bytecode_offset\"] == 5 "
                 "and a[\"frames\"] == 3 and a[\"materialized_objects\"] == 2 and "
                 "a[\"waited_for_gc_us\"] == 2.5, a; "
                 "m=[x for x in e if x[\"ph\"] == \"M\" and x.get(\"tid\") == %d]; "
                 "assert m[0][\"args\"][\"name\"] == \"mutator-7\", m; "
                 "assert len([x for x in d if x[\"tid\"] == %d]) == 3' %s/trace.json",
                 *tid, *tid, platform_thread_id(), dir);
        assert_int_equal(system(command), 0);
    }
    telemetry_destroy(t);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_mmu_no_pauses),
        cmocka_unit_test(test_mmu_one_pause_in_the_middle),
        cmocka_unit_test(test_mmu_two_pauses_closer_than_window),
        cmocka_unit_test(test_mmu_window_larger_than_run),
        cmocka_unit_test(test_mmu_clips_and_merges),
        cmocka_unit_test(test_mmu_matches_brute_force),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_concurrent_spans),
        cmocka_unit_test(test_write_run_headers_and_rows),
        cmocka_unit_test(test_mmu_csv_short_run),
        cmocka_unit_test(test_json_files_parse),
        cmocka_unit_test(test_write_failed_leaves_only_run_json),
        cmocka_unit_test(test_write_run_reports_errors),
        cmocka_unit_test(test_too_many_params_is_fatal),
        cmocka_unit_test(test_print_summary),
        cmocka_unit_test(test_deopts_csv),
        cmocka_unit_test(test_deopts_without_telemetry),
        cmocka_unit_test(test_deopts_concurrent_ids_unique),
        cmocka_unit_test(test_deopts_trace_and_summary),
    };
    return cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
}
