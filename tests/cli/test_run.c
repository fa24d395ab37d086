/*
 * Tests of the failure paths of `waltz run` (tools/waltz/run.c) with stand-in
 * workloads: a wrong checksum, a workload that reports an error, and a fatal error
 * inside the run (what heap exhaustion does) each exit with status 1, print one
 * "waltz: error:" line, and leave only a run.json that says "failed"; a good run leaves
 * every file and says "ok". Each run happens in a child process, as it would from the
 * command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* main.c is not linked: bad input cannot reach run_workload in these tests. */
_Noreturn void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("waltz: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(CLI_EXIT_USAGE);
}

static int run_right(struct workload_run *run)
{
    run->checksum = (uint64_t)run->values[0] * 2;
    return 0;
}

static int run_wrong(struct workload_run *run)
{
    run->checksum = 7;
    return 0;
}

static int run_error(struct workload_run *run)
{
    snprintf(run->error, sizeof run->error, "the stand-in gave up");
    return 1;
}

static int run_fatal(struct workload_run *run)
{
    (void)run;
    platform_fatal("heap exhausted: stand-in for %d MiB", 9);
}

static uint64_t expect_double(const struct workload_run *run)
{
    return (uint64_t)run->values[0] * 2;
}

#define STAND_IN(id, fn)                                                                           \
    static const struct workload id = {                                                            \
        .name = #id,                                                                               \
        .summary = "a stand-in",                                                                   \
        .flags = {{.name = "n", .help = "a number", .default_value = 21, .min = 1, .max = 99}},    \
        .run = fn,                                                                                 \
        .expected_checksum = expect_double,                                                        \
    }

STAND_IN(right, run_right);
STAND_IN(wrong, run_wrong);
STAND_IN(error, run_error);
STAND_IN(fatal, run_fatal);

struct outcome {
    int status;
    char dir[256], out[4096], err[4096], run_json[8192];
    char files[512]; /* names in the run directory, sorted by readdir order, space separated */
};

static void read_file(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void run_stand_in(const struct workload *w, struct outcome *o)
{
    char base[] = "/tmp/waltz-test-run-XXXXXX";
    assert_non_null(mkdtemp(base));
    snprintf(o->dir, sizeof o->dir, "%s/the-run", base);
    char out_path[300], err_path[300];
    snprintf(out_path, sizeof out_path, "%s/stdout", base);
    snprintf(err_path, sizeof err_path, "%s/stderr", base);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out_path, "w", stdout) || !freopen(err_path, "w", stderr))
            _exit(99);
        struct run_options opts = {
            .workload = w,
            .out_dir = o->dir,
            .mutators = 1,
            .gc_threads = 1,
            .young_size_bytes = CLI_MIN_YOUNG_SIZE_BYTES,
            .heap_size_bytes = 2 * CLI_MIN_YOUNG_SIZE_BYTES + CLI_HEAP_HEADROOM_BYTES,
            .seed = 42,
            .values = {21},
        };
        char *argv[] = {"waltz", "run", (char *)w->name, NULL};
        int status = run_workload(&opts, 3, argv);
        fflush(NULL);
        _exit(status);
    }
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFEXITED(wstatus));
    o->status = WEXITSTATUS(wstatus);
    read_file(out_path, o->out, sizeof o->out);
    read_file(err_path, o->err, sizeof o->err);
    char path[300];
    snprintf(path, sizeof path, "%s/run.json", o->dir);
    read_file(path, o->run_json, sizeof o->run_json);
    o->files[0] = '\0';
    DIR *d = opendir(o->dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        strncat(o->files, e->d_name, sizeof o->files - strlen(o->files) - 2);
        strcat(o->files, " ");
    }
    closedir(d);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    assert_int_equal(system(command), 0);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void assert_failed(const struct outcome *o, const char *message)
{
    assert_int_equal(o->status, CLI_EXIT_FAILED);
    assert_int_equal(count_lines(o->err), 1);
    assert_true(strncmp(o->err, "waltz: error: ", 14) == 0);
    assert_non_null(strstr(o->err, message));
    assert_string_equal(o->files, "run.json ");
    assert_non_null(strstr(o->run_json, "\"status\": \"failed\""));
    assert_non_null(strstr(o->run_json, message));
    assert_non_null(strstr(o->run_json, "\"run_id\": \"the-run\""));
}

static void test_right_checksum(void **state)
{
    (void)state;
    struct outcome o;
    run_stand_in(&right, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.err, "");
    assert_true(strncmp(o.out, "checksum 42\n", 12) == 0);
    assert_non_null(strstr(o.run_json, "\"status\": \"ok\""));
    assert_non_null(strstr(o.run_json, "\"checksum\": \"42\""));
    assert_non_null(strstr(o.run_json, "\"n\": \"21\""));
    assert_non_null(strstr(o.run_json, "\"pinning\": \"none\""));
    assert_non_null(strstr(o.run_json, "\"command_line\": \"waltz run right\""));
    assert_non_null(strstr(o.files, "summary.csv"));
    assert_non_null(strstr(o.files, "trace.json"));
}

static void test_wrong_checksum_fails(void **state)
{
    (void)state;
    struct outcome o;
    run_stand_in(&wrong, &o);
    assert_failed(&o, "checksum 7 differs from the expected 42");
    /* The checksum line is the result: it is printed even when it is wrong. */
    assert_string_equal(o.out, "checksum 7\n");
}

static void test_workload_error_fails(void **state)
{
    (void)state;
    struct outcome o;
    run_stand_in(&error, &o);
    assert_failed(&o, "the stand-in gave up");
    assert_string_equal(o.out, "");
}

static void test_fatal_error_fails(void **state)
{
    (void)state;
    struct outcome o;
    run_stand_in(&fatal, &o);
    assert_failed(&o, "heap exhausted: stand-in for 9 MiB");
    assert_string_equal(o.out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_checksum),
        cmocka_unit_test(test_wrong_checksum_fails),
        cmocka_unit_test(test_workload_error_fails),
        cmocka_unit_test(test_fatal_error_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
