/*
 * `waltz run`: one workload on a fresh heap, and its run directory.
 *
 * The run directory is created before the heap, and a fatal-error handler is armed for
 * the whole life of the heap: whatever ends the process from inside (heap exhaustion,
 * an internal error) prints its line and leaves run.json with "status": "failed", so a
 * directory never looks complete when the run was not. A wrong checksum fails the run
 * the same way. Only a run that finished with the expected result gets every file, and
 * run.json is written last (telemetry_write_run).
 *
 * Pinning (--pin, --topology): the placement is computed before anything is written and
 * made active before the heap and its threads exist (lib/platform/placement.h); a thread
 * that cannot be bound, or a system that cannot bind memory under numa, fails the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "gc/gc.h"
#include "heap/heap.h"
#include "telemetry/telemetry.h"
#include "waltz_config.h"

/* What the fatal handler needs: it may run on any thread, while the main thread waits
 * in the workload's join. */
bool cli_young_gc_is_serial(void) { return strcmp(WALTZ_OPT_YOUNG_GC, "serial") == 0; }

bool cli_numa_disabled(void) { return strcmp(WALTZ_OPT_NUMA, "disabled") == 0; }

uint32_t cli_default_gc_threads(void)
{
    if (cli_young_gc_is_serial())
        return 1;
    int cores = platform_available_cores();
    return cores > CLI_MAX_GC_THREADS ? CLI_MAX_GC_THREADS : (uint32_t)cores;
}

static struct run_info run_info;
static struct run_info failed_info;
static char run_dir[PATH_MAX];
/* --pin: the placement and the topology it was computed on (which it borrows). */
static struct placement *placement;
static struct hwloc_topology *placement_topology;

static void record_failure(const char *message)
{
    failed_info = run_info;
    snprintf(failed_info.status, sizeof failed_info.status, "failed");
    snprintf(failed_info.error, sizeof failed_info.error, "%s", message);
    failed_info.checksum[0] = '\0';
    if (failed_info.end_ns == 0)
        failed_info.end_ns = platform_now_ns();
    char err[512];
    if (telemetry_write_failed(&failed_info, run_dir, err, sizeof err) != 0)
        fprintf(stderr, "waltz: error: cannot record the failure in %s/run.json: %s\n", run_dir,
                err);
}

static void run_fatal_handler(const char *message)
{
    fprintf(stderr, "waltz: error: %s\n", message);
    fflush(stderr);
    record_failure(message);
}

/* The run ends here with status 1: the error line and the failed run.json. */
static int fail_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail_run(const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fflush(stdout);
    run_fatal_handler(message);
    return CLI_EXIT_FAILED;
}

static int make_directory(const char *path, bool must_be_new)
{
    if (mkdir(path, 0777) == 0)
        return 0;
    if (errno != EEXIST || must_be_new)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* mkdir -p; the last component must be new when must_be_new. */
static int make_directories(const char *dir, bool must_be_new)
{
    char path[PATH_MAX];
    size_t length = strlen(dir);
    if (length == 0 || length >= sizeof path) {
        errno = length ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(path, dir, length + 1);
    while (length > 1 && path[length - 1] == '/')
        path[--length] = '\0';
    for (size_t i = 1; i < length; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        int rc = make_directory(path, false);
        path[i] = '/';
        if (rc != 0)
            return -1;
    }
    return make_directory(path, must_be_new);
}

/* The last component of a directory path, without trailing slashes. */
static void directory_name(const char *dir, char *out, size_t size)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    size_t length = end - start;
    if (length >= size)
        length = size - 1;
    memcpy(out, dir + start, length);
    out[length] = '\0';
}

/* Sets run_dir and run_info.run_id; creates the directory. */
static void prepare_directory(const struct run_options *opts, time_t now)
{
    if (opts->out_dir) {
        char name[PATH_MAX];
        directory_name(opts->out_dir, name, sizeof name);
        if (name[0] == '\0' || strcmp(name, "/") == 0 || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0)
            cli_usage_error("--out %s: the run directory needs a name of its own (the name is the "
                            "run id)",
                            opts->out_dir);
        if (strlen(name) >= sizeof run_info.run_id)
            cli_usage_error("--out: the directory name (the run id) is longer than %zu characters",
                            sizeof run_info.run_id - 1);
        if (strlen(opts->out_dir) >= sizeof run_dir)
            cli_usage_error("--out: the path is too long");
        snprintf(run_dir, sizeof run_dir, "%s", opts->out_dir);
        if (make_directories(run_dir, false) != 0)
            cli_usage_error("--out %s: cannot create the directory: %s", run_dir, strerror(errno));
        memcpy(run_info.run_id, name, strlen(name) + 1); /* length checked above */
        return;
    }
    struct tm tm;
    char stamp[32];
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    char base[160];
    snprintf(base, sizeof base, "%s-%s-%s-%s-%s", stamp, opts->workload->name, WALTZ_OPT_YOUNG_GC,
             WALTZ_OPT_OLD_GC, WALTZ_OPT_REMEMBERED_SET);
    if (make_directories("results/runs", false) != 0)
        cli_usage_error("cannot create results/runs in the current directory: %s (use --out DIR)",
                        strerror(errno));
    /* Two runs in the same second get -2, -3, ... */
    for (int attempt = 1; attempt < 1000; attempt++) {
        char name[192];
        if (attempt == 1)
            snprintf(name, sizeof name, "%s", base);
        else
            snprintf(name, sizeof name, "%s-%d", base, attempt);
        snprintf(run_dir, sizeof run_dir, "results/runs/%s", name);
        if (make_directories(run_dir, true) == 0) {
            snprintf(run_info.run_id, sizeof run_info.run_id, "%s", name);
            return;
        }
        if (errno != EEXIST)
            cli_usage_error("cannot create %s: %s (use --out DIR)", run_dir, strerror(errno));
    }
    cli_usage_error("cannot find a free name for %s (use --out DIR)", base);
}

/* argv joined by spaces; an argument with spaces or quotes is single-quoted. */
static void join_command_line(char *out, size_t size, int argc, char **argv)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool quote = a[0] == '\0' || strpbrk(a, " \t\n'\"\\$`*?;&|<>()") != NULL;
        char piece[4 * PATH_MAX + 8]; /* any path, even if every byte is a quote */
        size_t n = 0;
        if (quote)
            piece[n++] = '\'';
        const char *p = a;
        for (; *p && n + 5 < sizeof piece; p++) {
            if (*p == '\'') {
                memcpy(piece + n, "'\\''", 4);
                n += 4;
            } else {
                piece[n++] = *p;
            }
        }
        if (quote)
            piece[n++] = '\'';
        piece[n] = '\0';
        int k = snprintf(out + used, size - used, "%s%s", i ? " " : "", piece);
        if (*p || k < 0 || (size_t)k >= size - used) {
            /* Truncated: say so rather than record a different command. */
            size_t end = strlen(out);
            if (size > 4)
                memcpy(out + (end + 4 <= size ? end : size - 4), "...", 4);
            return;
        }
        used += (size_t)k;
    }
}

static void fill_run_info(const struct run_options *opts, int argc, char **argv)
{
    const struct workload *w = opts->workload;
    snprintf(run_info.workload, sizeof run_info.workload, "%s", w->name);
    if (opts->input)
        run_info_add_param(&run_info, "file", "%s", opts->input);
    for (size_t i = 0; i < workload_flag_count(w); i++)
        if (w->flags[i].choices)
            run_info_add_param(&run_info, w->flags[i].name, "%s",
                               w->flags[i].choices[opts->values[i]]);
        else
            run_info_add_param(&run_info, w->flags[i].name, "%" PRId64, opts->values[i]);
    if (!cli_young_gc_is_serial()) { /* collector knobs, recorded beside the workload's */
        run_info_add_param(&run_info, "steal", "%s", opts->static_partitioning ? "off" : "on");
        run_info_add_param(&run_info, "child_order", "%s",
                           opts->last_child_first ? "last" : "first");
    }
    join_command_line(run_info.command_line, sizeof run_info.command_line, argc, argv);
    run_info.seed = opts->seed;
    run_info.mutators = opts->mutators;
    run_info.gc_threads = opts->gc_threads;
    run_info.gc_workers = gc_pool_workers(opts->gc_threads);
    run_info.marker_threads = gc_marker_tasks(opts->gc_threads);
    snprintf(run_info.pinning, sizeof run_info.pinning, "%s", placement_summary(placement));
    run_info.placement = placement;
    run_info.young_size_bytes = opts->young_size_bytes;
    run_info.heap_size_bytes = opts->heap_size_bytes;
    run_info.verify_heap = opts->verify_heap;
    run_info.gc_stress = opts->gc_stress;
    const char *topology_error = NULL;
    if (platform_topology_load(&run_info.topology, NULL, &topology_error) != 0) {
        memset(&run_info.topology, 0, sizeof run_info.topology);
        snprintf(run_info.topology.cpu_model, sizeof run_info.topology.cpu_model, "unknown");
        snprintf(run_info.topology.source, sizeof run_info.topology.source, "unavailable: %s",
                 topology_error ? topology_error : "hwloc failed");
    }
}

/* The placement asked for with --pin (and --topology), computed before anything is
 * written: a topology or a placement that cannot be had is bad input. */
static void plan_placement(const struct run_options *opts)
{
    const char *policy = placement_policy_name(opts->pin);
    if (opts->pin != PLACEMENT_NONE) {
        struct platform_topology summary;
        const char *error = NULL;
        if (platform_topology_open(&summary, &placement_topology, opts->topology_spec, &error) !=
            0) {
            if (opts->topology_spec)
                cli_usage_error("--topology '%s': %s", opts->topology_spec,
                                error ? error : "hwloc failed");
            cli_usage_error("--pin %s: cannot read this machine's topology: %s", policy,
                            error ? error : "hwloc failed");
        }
    }
    struct placement_request request = {
        .policy = opts->pin,
        .mutators = opts->mutators ? opts->mutators : 1,
        .gc_threads = gc_pool_workers(opts->gc_threads),
        .source = opts->topology_spec ? opts->topology_spec : "this machine",
        .this_machine = opts->topology_spec == NULL,
    };
    char error[256];
    placement = placement_compute(placement_topology, &request, error, sizeof error);
    if (!placement)
        cli_usage_error("--pin %s: %s", policy, error);
}

/* After every thread it governs has been joined. */
static void release_placement(void)
{
    char unused[8];
    placement_activate(NULL, unused, sizeof unused);
    placement_destroy(placement);
    platform_topology_close(placement_topology);
    placement = NULL;
    placement_topology = NULL;
}

static uint64_t peak_rss_bytes(void)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0 || usage.ru_maxrss < 0)
        return 0;
    return (uint64_t)usage.ru_maxrss * 1024u;
}

/* A progress line on the terminal while a workload runs (only when stdout and stderr
 * are both terminals); the workload's own output is held back until it is erased. */
struct progress {
    struct platform_thread thread;
    const char *workload;
    struct heap *heap;
    uint64_t start_ns;
    atomic_bool stop;
};

static void *progress_main(void *arg)
{
    struct progress *pr = arg;
    while (!atomic_load(&pr->stop)) {
        for (int i = 0; i < 10 && !atomic_load(&pr->stop); i++)
            usleep(50 * 1000);
        if (atomic_load(&pr->stop))
            break;
        double seconds = (double)(platform_now_ns() - pr->start_ns) / 1e9;
        double allocated_gib = (double)atomic_load(&pr->heap->allocated_bytes) / (double)GiB;
        fprintf(stderr, "\r  %s: %.1f s, %llu collections, %.2f GiB allocated\033[K", pr->workload,
                seconds, (unsigned long long)atomic_load(&pr->heap->gc_epoch), allocated_gib);
        fflush(stderr);
    }
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    return NULL;
}

int run_workload(const struct run_options *opts, int argc, char **argv)
{
    const struct workload *w = opts->workload;
    memset(&run_info, 0, sizeof run_info);
    run_info.start_time = time(NULL);
    plan_placement(opts);
    prepare_directory(opts, run_info.start_time);
    fill_run_info(opts, argc, argv);

    platform_set_fatal_handler(run_fatal_handler);
    run_info.start_ns = platform_now_ns();
    /* Before the heap (its semispaces are bound under --pin numa) and every thread. */
    char placement_error[256];
    if (placement_activate(placement, placement_error, sizeof placement_error) != 0) {
        int status = fail_run("--pin %s: %s", placement_policy_name(opts->pin), placement_error);
        platform_set_fatal_handler(NULL);
        release_placement();
        return status;
    }
    struct telemetry *telemetry = telemetry_create(run_info.start_ns);
    struct heap_config config = {
        .young_size_bytes = (size_t)opts->young_size_bytes,
        .heap_size_bytes = (size_t)opts->heap_size_bytes,
        .gc_stress = opts->gc_stress,
        .verify_heap = opts->verify_heap,
        .gc_threads = opts->gc_threads,
        .static_partitioning = opts->static_partitioning,
        .last_child_first = opts->last_child_first,
    };
    struct heap *heap = heap_create(&config, telemetry);
    struct gc *gc = gc_create(heap, telemetry);

    struct workload_run run;
    memset(&run, 0, sizeof run);
    workload_set_defaults(&run, w);
    memcpy(run.values, opts->values, sizeof run.values);
    run.gc = gc;
    run.heap = heap;
    run.mutators = opts->mutators;
    run.seed = opts->seed;
    run.input = opts->input;
    run.out = opts->quiet ? NULL : stdout;

    struct progress progress = {.workload = w->name, .heap = heap, .start_ns = run_info.start_ns};
    char *held_output = NULL;
    size_t held_size = 0;
    bool show_progress = !opts->quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
    if (show_progress) {
        run.out = open_memstream(&held_output, &held_size);
        show_progress = run.out != NULL;
        if (!show_progress)
            run.out = stdout;
    }
    if (show_progress)
        platform_thread_start(&progress.thread, "progress", progress_main, &progress);

    int rc = w->run(&run);
    run_info.end_ns = platform_now_ns();
    if (show_progress) {
        atomic_store(&progress.stop, true);
        platform_thread_join(&progress.thread);
        fclose(run.out);
        fwrite(held_output, 1, held_size, stdout);
        free(held_output);
    }
    fflush(stdout);
    if (rc != 0) {
        int status = fail_run("workload %s failed: %s", w->name,
                              run.error[0] ? run.error : "(no reason given)");
        gc_destroy(gc);
        heap_destroy(heap);
        telemetry_destroy(telemetry);
        platform_set_fatal_handler(NULL);
        release_placement();
        return status;
    }

    snprintf(run_info.checksum, sizeof run_info.checksum, "%" PRIu64, run.checksum);
    run_info.allocated_bytes = atomic_load(&heap->allocated_bytes);
    run_info.peak_rss_bytes = peak_rss_bytes();
    printf("checksum %" PRIu64 "\n", run.checksum);
    fflush(stdout);
    uint64_t expected = w->expected_checksum ? w->expected_checksum(&run) : 0;

    /* Tear the heap down while the handler is still armed: a failure here is a failure
     * of the run. */
    gc_destroy(gc);
    heap_destroy(heap);

    int status = 0;
    if (expected != 0 && expected != run.checksum) {
        status = fail_run("checksum %" PRIu64 " differs from the expected %" PRIu64, run.checksum,
                          expected);
    } else {
        snprintf(run_info.status, sizeof run_info.status, "ok");
        char err[512];
        if (telemetry_write_run(telemetry, &run_info, run_dir, err, sizeof err) != 0) {
            status = fail_run("cannot write the run directory %s: %s", run_dir, err);
        } else if (!opts->quiet) {
            telemetry_print_summary(telemetry, &run_info, run_dir, stdout);
            fflush(stdout);
        }
    }
    platform_set_fatal_handler(NULL);
    telemetry_destroy(telemetry);
    release_placement();
    return status;
}
