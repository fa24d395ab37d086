/*
 * waltz: the command line of the testbed. Dispatches to run (run.c), list, info
 * (info.c) and the help texts; every bad input is one "waltz: error: ..." line and exit
 * status 2 (cli.h).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "waltz_config.h"

_Noreturn void cli_usage_error(const char *fmt, ...)
{
    char message[PATH_MAX + 1024]; /* room for a path */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* One line, whatever the message holds. */
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, "waltz: error: %s\n", message);
    exit(CLI_EXIT_USAGE);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void print_version(FILE *out)
{
    fprintf(out, "waltz %s", platform_version());
    if (strcmp(platform_version(), WALTZ_VERSION_BASE) != 0)
        fprintf(out, " (release %s)", WALTZ_VERSION_BASE);
    fprintf(out, "\n");
    info_print_build_line(out);
}

static void print_help(FILE *out)
{
    fprintf(out, "usage: waltz COMMAND [flags]\n"
                 "\n"
                 "waltz is a garbage-collection testbed: it runs synthetic mutator workloads on a\n"
                 "generational heap and records every pause (pauses.csv, phases.csv, cycles.csv,\n"
                 "mmu.csv, summary.csv, trace.json, run.json).\n"
                 "\n"
                 "Commands:\n"
                 "  run WORKLOAD [flags]   run one workload and write its run directory\n"
                 "  list                   the workloads, with their flags, defaults and ranges\n"
                 "  info [--topology SPEC] version, build options and the machine topology\n"
                 "  help [COMMAND]         this help, or the help of a command\n"
                 "\n"
                 "  waltz --version        the version and the build options\n"
                 "  waltz COMMAND --help   the help of a command; waltz run WORKLOAD --help lists\n"
                 "                         that workload's flags\n"
                 "\n"
                 "This build: ");
    info_print_build_line(out);
    fprintf(out, "Collector strategies are chosen when building (meson -Dyoung_gc=... and so on);\n"
                 "threads, sizes, seeds and workload parameters are flags of waltz run. Thread\n"
                 "pinning is not implemented in this build.\n"
                 "\n"
                 "Exit status: 0 success, 1 a run failed (its run.json says why), 2 bad input.\n");
}

static void print_list_help(FILE *out)
{
    fprintf(out, "usage: waltz list\n\n"
                 "Lists every workload of this build with its summary and its own flags (name,\n"
                 "default and range). The flags every run takes: waltz run --help.\n");
}

static int list_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            print_list_help(stdout);
            return 0;
        }
        if (argv[i][0] == '-')
            cli_usage_error("unknown flag '%s' for waltz list (waltz list --help)", argv[i]);
        cli_usage_error("unexpected argument '%s' for waltz list (waltz list --help)", argv[i]);
    }
    bool first = true;
    for (const struct workload *const *w = workload_list(); *w; w++) {
        if (!first)
            printf("\n");
        first = false;
        printf("%s\n  %s\n", (*w)->name, (*w)->summary);
        args_print_workload_flags(stdout, *w, 4);
    }
    printf("\nFlags every run takes (--mutators, --young-size, --heap-size, --seed, ...): "
           "waltz run --help\n");
    return 0;
}

static int help_main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stdout);
        return 0;
    }
    if (argc > 2)
        cli_usage_error("waltz help takes at most one command (got '%s' after '%s')", argv[2],
                        argv[1]);
    const char *topic = argv[1];
    if (strcmp(topic, "run") == 0)
        args_print_run_help(stdout);
    else if (strcmp(topic, "list") == 0)
        print_list_help(stdout);
    else if (strcmp(topic, "info") == 0)
        info_print_help(stdout);
    else if (strcmp(topic, "help") == 0)
        print_help(stdout);
    else if (workload_find(topic))
        args_print_workload_help(stdout, workload_find(topic));
    else
        cli_usage_error("no help for '%s': the commands are run, list, info and help", topic);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        cli_usage_error("no command given: waltz run WORKLOAD, waltz list, waltz info (waltz "
                        "--help)");
    const char *command = argv[1];
    if (is_help(command) || strcmp(command, "help") == 0)
        return help_main(argc - 1, argv + 1);
    if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0) {
        if (argc > 2)
            cli_usage_error("--version takes no arguments (got '%s')", argv[2]);
        print_version(stdout);
        return 0;
    }
    if (strcmp(command, "run") == 0) {
        struct run_options opts;
        args_parse_run(argc - 1, argv + 1, &opts);
        return run_workload(&opts, argc, argv);
    }
    if (strcmp(command, "list") == 0)
        return list_main(argc - 1, argv + 1);
    if (strcmp(command, "info") == 0)
        return info_main(argc - 1, argv + 1);
    if (command[0] == '-')
        cli_usage_error("unknown flag '%s': flags come after a command (waltz --help)", command);
    cli_usage_error("unknown command '%s': the commands are run, list, info and help (waltz "
                    "--help)",
                    command);
}
