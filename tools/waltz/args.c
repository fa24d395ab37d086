/*
 * The flags of `waltz run`: the common ones (sizes, threads, pinning, seed, stress modes,
 * output) and each workload's own, from its struct workload_flag table. Both "--flag
 * VALUE" and "--flag=VALUE" are accepted. Everything is validated here, before the run creates a
 * single file, so bad input costs nothing but one line on stderr.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "units.h"
#include "waltz_config.h"

#include "heap/heap.h"

enum value_kind { KIND_NONE, KIND_UINT, KIND_SIZE, KIND_PATH };

enum common_id {
    OPT_OUT,
    OPT_VERIFY_HEAP,
    OPT_GC_STRESS,
    OPT_MUTATORS,
    OPT_GC_THREADS,
    OPT_YOUNG_SIZE,
    OPT_HEAP_SIZE,
    OPT_SEED,
    OPT_QUIET,
    OPT_STEAL,
    OPT_CHILD_ORDER,
    OPT_PIN,
    OPT_TOPOLOGY,
};

struct common_flag {
    enum common_id id;
    const char *name; /* without the dashes */
    enum value_kind kind;
};

static const struct common_flag common_flags[] = {
    {OPT_OUT, "out", KIND_PATH},
    {OPT_VERIFY_HEAP, "verify-heap", KIND_NONE},
    {OPT_GC_STRESS, "gc-stress", KIND_UINT},
    {OPT_MUTATORS, "mutators", KIND_UINT},
    {OPT_GC_THREADS, "gc-threads", KIND_UINT},
    {OPT_YOUNG_SIZE, "young-size", KIND_SIZE},
    {OPT_HEAP_SIZE, "heap-size", KIND_SIZE},
    {OPT_SEED, "seed", KIND_UINT},
    {OPT_QUIET, "quiet", KIND_NONE},
    {OPT_STEAL, "steal", KIND_PATH},
    {OPT_CHILD_ORDER, "child-order", KIND_PATH},
    {OPT_PIN, "pin", KIND_PATH},
    {OPT_TOPOLOGY, "topology", KIND_PATH},
};

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* "--name=value" or "--name": the name without dashes and the inline value, if any. */
struct split_flag {
    char name[64];
    const char *inline_value;
};

static void split_flag(const char *arg, struct split_flag *f)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t length = eq ? (size_t)(eq - name) : strlen(name);
    if (length >= sizeof f->name)
        cli_usage_error("unknown flag '%.60s...'", arg);
    memcpy(f->name, name, length);
    f->name[length] = '\0';
    f->inline_value = eq ? eq + 1 : NULL;
}

/* The value of the flag at argv[*i]: inline after '=', or the next argument. */
static const char *take_value(int argc, char **argv, int *i, const struct split_flag *f,
                              const char *what)
{
    const char *value = f->inline_value;
    if (!value) {
        if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
            cli_usage_error("--%s needs a value (%s)", f->name, what);
        value = argv[++*i];
    }
    if (value[0] == '\0')
        cli_usage_error("--%s needs a value (%s)", f->name, what);
    return value;
}

static uint64_t parse_uint_flag(const char *flag, const char *text, uint64_t min, uint64_t max)
{
    char err[128];
    uint64_t value;
    if (units_parse_uint(text, &value, err, sizeof err) != 0)
        cli_usage_error("--%s: '%s' %s", flag, text, err);
    if (value < min || value > max)
        cli_usage_error("--%s %s is out of range: %" PRIu64 "..%" PRIu64, flag, text, min, max);
    return value;
}

static uint64_t parse_size_flag(const char *flag, const char *text)
{
    char err[128];
    uint64_t value;
    if (units_parse_size(text, &value, err, sizeof err) != 0)
        cli_usage_error("--%s: '%s' %s", flag, text, err);
    return value;
}

static const struct workload_flag *find_workload_flag(const struct workload *w, const char *name,
                                                      size_t *index)
{
    size_t n = workload_flag_count(w);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(w->flags[i].name, name) == 0) {
            *index = i;
            return &w->flags[i];
        }
    }
    return NULL;
}

/* The workload that has a flag of this name, if another one does. */
static const struct workload *owner_of_flag(const char *name)
{
    size_t index;
    for (const struct workload *const *w = workload_list(); *w; w++)
        if (find_workload_flag(*w, name, &index))
            return *w;
    return NULL;
}

static void list_flag_names(char *buf, size_t size, const struct workload *w)
{
    size_t n = workload_flag_count(w), used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int k = snprintf(buf + used, size - used, "%s--%s", i ? ", " : "", w->flags[i].name);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (n == 0)
        snprintf(buf, size, "no flags of its own");
}

static void list_workload_names(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const struct workload *const *w = workload_list(); *w && used < size; w++) {
        int k = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", (*w)->name);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static _Noreturn void unknown_flag(const struct workload *w, const char *arg, const char *name)
{
    const struct workload *owner = owner_of_flag(name);
    char names[256];
    list_flag_names(names, sizeof names, w);
    if (owner)
        cli_usage_error("--%s is a flag of workload %s, not of %s (%s has %s; common flags: "
                        "waltz run --help)",
                        name, owner->name, w->name, w->name, names);
    cli_usage_error("unknown flag '%s' for workload %s (its flags: %s; common flags: waltz run "
                    "--help)",
                    arg, w->name, names);
}

static void parse_workload_flag(const struct workload *w, const struct workload_flag *flag,
                                size_t index, const char *text, struct run_options *opts)
{
    char err[128];
    uint64_t value;
    if (flag->choices) {
        char words[128] = "";
        for (int64_t k = flag->min; k <= flag->max; k++) {
            if (strcmp(text, flag->choices[k]) == 0) {
                opts->values[index] = k;
                return;
            }
            snprintf(words + strlen(words), sizeof words - strlen(words), "%s%s",
                     k == flag->min   ? ""
                     : k == flag->max ? " or "
                                      : ", ",
                     flag->choices[k]);
        }
        cli_usage_error("--%s: '%s' is not %s", flag->name, text, words);
    }
    if (units_parse_uint(text, &value, err, sizeof err) != 0)
        cli_usage_error("--%s: '%s' %s (%s accepts %" PRId64 "..%" PRId64 ")", flag->name, text,
                        err, w->name, flag->min, flag->max);
    if (value > (uint64_t)INT64_MAX || (int64_t)value < flag->min || (int64_t)value > flag->max)
        cli_usage_error("--%s %s is out of range for %s: %" PRId64 "..%" PRId64, flag->name, text,
                        w->name, flag->min, flag->max);
    opts->values[index] = (int64_t)value;
}

/* A two-valued knob of the parallel scavenger: refused on a serial build, and a value that
 * is neither choice is an error. Returns whether it is the second choice. */
static bool parse_parallel_choice(const char *name, const char *text, const char *first,
                                  const char *second)
{
    if (cli_young_gc_is_serial())
        cli_usage_error("--%s needs a build with -Dyoung_gc=parallel: this build's young_gc "
                        "is %s",
                        name, WALTZ_OPT_YOUNG_GC);
    if (strcmp(text, first) != 0 && strcmp(text, second) != 0)
        cli_usage_error("--%s takes %s or %s, not '%s'", name, first, second, text);
    return strcmp(text, second) == 0;
}

static void parse_common_flag(const struct common_flag *c, int argc, char **argv, int *i,
                              const struct split_flag *f, struct run_options *opts)
{
    if (c->kind == KIND_NONE) {
        if (f->inline_value)
            cli_usage_error("--%s takes no value", c->name);
        if (c->id == OPT_VERIFY_HEAP)
            opts->verify_heap = true;
        else
            opts->quiet = true;
        return;
    }
    const char *what = c->id == OPT_STEAL         ? "on or off"
                       : c->id == OPT_CHILD_ORDER ? "first or last"
                       : c->id == OPT_PIN         ? "none, compact, scatter or numa"
                       : c->id == OPT_TOPOLOGY    ? "an hwloc synthetic description or XML file"
                       : c->kind == KIND_PATH     ? "a directory"
                       : c->kind == KIND_SIZE     ? "a size"
                                                  : "a number";
    const char *text = take_value(argc, argv, i, f, what);
    switch (c->id) {
    case OPT_OUT:
        opts->out_dir = text;
        break;
    case OPT_GC_STRESS:
        opts->gc_stress = parse_uint_flag(c->name, text, 0, UINT64_MAX);
        break;
    case OPT_MUTATORS:
        opts->mutators = (uint32_t)parse_uint_flag(c->name, text, 1, CLI_MAX_MUTATORS);
        opts->mutators_given = true;
        break;
    case OPT_GC_THREADS:
        opts->gc_threads = (uint32_t)parse_uint_flag(c->name, text, 1, CLI_MAX_GC_THREADS);
        if (cli_young_gc_is_serial() && opts->gc_threads != 1)
            cli_usage_error("--gc-threads %s needs a build with -Dyoung_gc=parallel: this build's "
                            "young_gc is %s, which uses exactly one GC thread",
                            text, WALTZ_OPT_YOUNG_GC);
        break;
    case OPT_YOUNG_SIZE:
        opts->young_size_bytes = parse_size_flag(c->name, text);
        break;
    case OPT_HEAP_SIZE:
        opts->heap_size_bytes = parse_size_flag(c->name, text);
        break;
    case OPT_SEED:
        opts->seed = parse_uint_flag(c->name, text, 0, UINT64_MAX);
        break;
    case OPT_STEAL:
        opts->static_partitioning = parse_parallel_choice(c->name, text, "on", "off");
        break;
    case OPT_CHILD_ORDER:
        opts->last_child_first = parse_parallel_choice(c->name, text, "first", "last");
        break;
    case OPT_PIN:
        if (placement_policy_parse(text, &opts->pin) != 0)
            cli_usage_error("--pin takes none, compact, scatter or numa, not '%s'", text);
        if (opts->pin != PLACEMENT_NONE && cli_numa_disabled())
            cli_usage_error("--pin %s: this build has numa=disabled, which pins nothing (only "
                            "--pin none; configure with -Dnuma=auto or -Dnuma=enabled to pin)",
                            text);
        break;
    case OPT_TOPOLOGY: {
        struct platform_topology topology;
        const char *error = NULL;
        if (platform_topology_load(&topology, text, &error) != 0)
            cli_usage_error("--topology '%s': %s", text, error ? error : "hwloc failed");
        opts->topology_spec = text;
        break;
    }
    default:
        break;
    }
}

static void check_sizes(const struct run_options *opts)
{
    char young[32], heap[32], need[32], min[32], page[32];
    units_format_size(opts->young_size_bytes, young, sizeof young);
    units_format_size(CLI_MIN_YOUNG_SIZE_BYTES, min, sizeof min);
    units_format_size(PAGE_SIZE_BYTES, page, sizeof page);
    if (opts->young_size_bytes < CLI_MIN_YOUNG_SIZE_BYTES)
        cli_usage_error("--young-size %s is too small: one semispace needs at least %s", young,
                        min);
    if (opts->young_size_bytes % PAGE_SIZE_BYTES != 0)
        cli_usage_error("--young-size %s is not a multiple of the %s page size", young, page);
    uint64_t needed = opts->young_size_bytes;
    if (needed > (UINT64_MAX - CLI_HEAP_HEADROOM_BYTES) / 2 || needed > SIZE_MAX / 4)
        cli_usage_error("--young-size %s is too large", young);
    needed = 2 * needed + CLI_HEAP_HEADROOM_BYTES;
    units_format_size(opts->heap_size_bytes, heap, sizeof heap);
    units_format_size(needed, need, sizeof need);
    if (opts->heap_size_bytes > SIZE_MAX)
        cli_usage_error("--heap-size %s is too large", heap);
    if (opts->heap_size_bytes < needed)
        cli_usage_error("--heap-size %s is too small for --young-size %s: it must hold both "
                        "semispaces and 8M more, at least %s",
                        heap, young, need);
}

void args_parse_run(int argc, char **argv, struct run_options *opts)
{
    *opts = (struct run_options){
        .mutators = CLI_DEFAULT_MUTATORS,
        .gc_threads = cli_default_gc_threads(),
        .young_size_bytes = CLI_DEFAULT_YOUNG_SIZE_BYTES,
        .heap_size_bytes = CLI_DEFAULT_HEAP_SIZE_BYTES,
        .seed = CLI_DEFAULT_SEED,
    };
    char names[256];
    list_workload_names(names, sizeof names);
    if (argc < 2)
        cli_usage_error("waltz run needs a workload: waltz run WORKLOAD [flags] (workloads: %s)",
                        names);
    if (is_help(argv[1])) {
        args_print_run_help(stdout);
        exit(0);
    }
    if (argv[1][0] == '-')
        cli_usage_error("waltz run needs the workload before its flags: waltz run WORKLOAD "
                        "[flags] (got '%s'; workloads: %s)",
                        argv[1], names);
    const struct workload *w = workload_find(argv[1]);
    if (!w)
        cli_usage_error("unknown workload '%s' (workloads: %s)", argv[1], names);
    opts->workload = w;
    size_t flag_count = workload_flag_count(w);
    for (size_t k = 0; k < flag_count; k++)
        opts->values[k] = w->flags[k].default_value;

    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (is_help(arg)) {
            args_print_workload_help(stdout, w);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0')
                unknown_flag(w, arg, arg);
            if (w->input_name && !opts->input) {
                opts->input = arg;
                continue;
            }
            if (w->input_name)
                cli_usage_error("unexpected argument '%s' (waltz run %s takes one %s; flags "
                                "start with --)",
                                arg, w->name, w->input_name);
            cli_usage_error("unexpected argument '%s' (waltz run takes one workload; flags "
                            "start with --)",
                            arg);
        }
        struct split_flag f;
        split_flag(arg, &f);
        const struct common_flag *c = NULL;
        for (size_t k = 0; k < ARRAY_LENGTH(common_flags); k++)
            if (strcmp(common_flags[k].name, f.name) == 0)
                c = &common_flags[k];
        if (c) {
            parse_common_flag(c, argc, argv, &i, &f, opts);
            continue;
        }
        size_t index;
        const struct workload_flag *wf = find_workload_flag(w, f.name, &index);
        if (!wf)
            unknown_flag(w, arg, f.name);
        parse_workload_flag(w, wf, index,
                            take_value(argc, argv, &i, &f, wf->choices ? "a word" : "a number"),
                            opts);
    }
    if (w->input_name && !opts->input)
        cli_usage_error("waltz run %s needs a %s: waltz run %s %s [flags]", w->name, w->input_name,
                        w->name, w->input_name);
    if (w->min_mutators > 1 && !opts->mutators_given && opts->mutators < w->min_mutators)
        opts->mutators = w->min_mutators; /* its default */
    if (w->min_mutators > 1 && opts->mutators < w->min_mutators)
        cli_usage_error("waltz run %s needs --mutators %u or more, not %u", w->name,
                        w->min_mutators, opts->mutators);
    if (w->input_name && w->check_input) {
        char error[PATH_MAX + 512]; /* an assembly error names FILE */
        if (w->check_input(opts->input, error, sizeof error) != 0)
            cli_usage_error("%s", error);
    }
    if (opts->topology_spec && opts->pin == PLACEMENT_NONE)
        cli_usage_error("--topology plans a placement for another machine: it needs --pin "
                        "compact, scatter or numa as well");
    check_sizes(opts);
}

void args_print_workload_flags(FILE *out, const struct workload *w, int indent)
{
    size_t n = workload_flag_count(w);
    if (n == 0) {
        fprintf(out, "%*s(no flags of its own)\n", indent, "");
        return;
    }
    int width = 18;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(w->flags[i].name) + 4 > width)
            width = (int)strlen(w->flags[i].name) + 4;
    for (size_t i = 0; i < n; i++) {
        const struct workload_flag *f = &w->flags[i];
        char name[48];
        if (f->choices) {
            char words[64] = "";
            for (int64_t k = f->min; k <= f->max; k++)
                snprintf(words + strlen(words), sizeof words - strlen(words), "%s%s",
                         k == f->min ? "" : "|", f->choices[k]);
            snprintf(name, sizeof name, "--%s %s", f->name, words);
            fprintf(out, "%*s%-*s %s (default %s)\n", indent, "", width, name, f->help,
                    f->choices[f->default_value]);
            continue;
        }
        snprintf(name, sizeof name, "--%s N", f->name);
        fprintf(out, "%*s%-*s %s (default %" PRId64 ", range %" PRId64 "..%" PRId64 ")\n", indent,
                "", width, name, f->help, f->default_value, f->min, f->max);
    }
}

void args_print_run_help(FILE *out)
{
    char young[32], heap[32], min[32], page[32];
    units_format_size(CLI_DEFAULT_YOUNG_SIZE_BYTES, young, sizeof young);
    units_format_size(CLI_DEFAULT_HEAP_SIZE_BYTES, heap, sizeof heap);
    units_format_size(CLI_MIN_YOUNG_SIZE_BYTES, min, sizeof min);
    units_format_size(PAGE_SIZE_BYTES, page, sizeof page);
    fprintf(out,
            "usage: waltz run WORKLOAD [flags]\n"
            "       waltz run jit FILE [flags]    (a toy-VM program; docs/vm.md)\n"
            "       waltz run WORKLOAD --help     (that workload's own flags)\n"
            "\n"
            "Runs one workload (waltz list) on this build's collector, prints its output and a\n"
            "'checksum N' line, and writes the run directory: run.json, pauses.csv, phases.csv,\n"
            "cycles.csv, deopts.csv, mmu.csv, summary.csv, trace.json. A checksum that differs\n"
            "from the one the workload promises fails the run. A failed run leaves only\n"
            "run.json, with \"status\": \"failed\" and the error.\n"
            "\n"
            "Flags (--flag VALUE or --flag=VALUE):\n"
            "  --out DIR          run directory (default: results/runs/<YYYYmmdd-HHMMSS>-\n"
            "                     <workload>-%s-%s-%s/); its name is the run id\n",
            WALTZ_OPT_YOUNG_GC, WALTZ_OPT_OLD_GC, WALTZ_OPT_REMEMBERED_SET);
    fprintf(out, "  --mutators N       mutator threads, 1..%d (default %d)\n", CLI_MAX_MUTATORS,
            CLI_DEFAULT_MUTATORS);
    if (cli_young_gc_is_serial())
        fprintf(
            out,
            "  --gc-threads N     GC threads (default %d); this build's young_gc is %s, which\n"
            "                     uses exactly 1: more needs a build with -Dyoung_gc=parallel\n%s",
            CLI_DEFAULT_GC_THREADS, WALTZ_OPT_YOUNG_GC,
            strcmp(WALTZ_OPT_OLD_GC, "concurrent") == 0
                ? "                     (old_gc=concurrent: one more thread marks beside the\n"
                  "                     mutators)\n"
                : "");
    else
        fprintf(out,
                "  --gc-threads N     GC threads of the parallel scavenger, 1..%d (default: the\n"
                "                     cores available, %u here); task 0 is the stopping thread\n%s"
                "  --steal on|off     work stealing between GC threads (default on); off deals\n"
                "                     roots and pages out statically (an ablation baseline)\n"
                "  --child-order first|last\n"
                "                     which child of a grey object is scanned first (default\n"
                "                     first: a depth-first preorder in slot order, so trees\n"
                "                     built parent first are copied in address order; last:\n"
                "                     the reverse, for ablation)\n",
                CLI_MAX_GC_THREADS, cli_default_gc_threads(),
                strcmp(WALTZ_OPT_OLD_GC, "concurrent") == 0
                    ? "                     old_gc=concurrent: N-1 of them (at least 1) also mark\n"
                      "                     beside the mutators\n"
                    : "");
    if (cli_numa_disabled())
        fprintf(out, "  --pin none         threads are not pinned: this build has numa=disabled\n"
                     "                     (compact, scatter and numa need -Dnuma=auto)\n");
    else
        fprintf(out,
                "  --pin POLICY       where mutator and GC worker threads run (default none):\n"
                "                       none     wherever the OS puts them\n"
                "                       compact  one core each, consecutive cores, filling a\n"
                "                                NUMA node and package before the next\n"
                "                       scatter  one core each, round-robin over NUMA nodes,\n"
                "                                alternating packages\n"
                "                       numa     round-robin over NUMA nodes, each thread bound\n"
                "                                to its whole node; pages bound to the node of\n"
                "                                the thread that allocates them; GC thieves\n"
                "                                steal on their own node first\n"
                "                     Mutators take the first places, then GC workers 1..N-1\n"
                "                     (worker 0 is the mutator that stops the world and stays\n"
                "                     where it is); more threads than cores wrap around.\n"
                "                     run.json \"placement\" records every thread's PUs and node\n"
                "  --topology SPEC    plan --pin for another machine: an hwloc synthetic\n"
                "                     description (\"pack:2 numa:2 core:16 pu:1\") or XML file.\n"
                "                     The placement is recorded (run.json \"applied\": false,\n"
                "                     summary.csv pinning \"numa(planned)\"); the run runs here,\n"
                "                     unpinned\n");
    fprintf(out,
            "  --young-size SIZE  one semispace: at least %s, a multiple of the %s page\n"
            "                     (default %s)\n"
            "  --heap-size SIZE   hard limit on everything the heap holds, both semispaces\n"
            "                     included: at least 2 x young-size + 8M (default %s);\n"
            "                     a run that needs more fails with a heap-exhaustion error\n"
            "  --seed N           seed handed to the workload and recorded (default %d);\n"
            "                     gcbench, binary-trees, remset-stress and jit ignore it:\n"
            "                     their inputs are fixed (shared/design/WORKLOADS.md)\n"
            "  --verify-heap      verify the whole heap before and after every GC\n"
            "  --gc-stress N      force a GC every N allocations of each mutator (every fourth\n"
            "                     of them full); 0: off (default 0)\n"
            "  --quiet            no program output and no summary table; the checksum line is\n"
            "                     still printed and the files are still written\n"
            "  -h, --help         this help\n"
            "\n"
            "Sizes are bytes or K, M, G (binary, any case, optional B or iB): 16M, 512k, 1GiB.\n"
            "Exit status: 0 the run is ok, 1 it failed (run.json says why), 2 bad input\n"
            "(nothing is written).\n",
            min, page, young, heap, CLI_DEFAULT_SEED);
    fprintf(out, "\nWorkloads:");
    for (const struct workload *const *w = workload_list(); *w; w++)
        fprintf(out, " %s", (*w)->name);
    fprintf(out, "\n");
}

void args_print_workload_help(FILE *out, const struct workload *w)
{
    if (w->input_name)
        fprintf(out, "usage: waltz run %s %s [flags]\n\n%s\n\nFlags of %s:\n", w->name,
                w->input_name, w->summary, w->name);
    else
        fprintf(out, "usage: waltz run %s [flags]\n\n%s\n\nFlags of %s:\n", w->name, w->summary,
                w->name);
    args_print_workload_flags(out, w, 2);
    if (w->min_mutators > 1)
        fprintf(out, "\nIt runs on %u or more mutators (--mutators; default %u).\n",
                w->min_mutators, w->min_mutators);
    fprintf(out, "\nCommon flags (--out, --mutators, --young-size, --heap-size, --seed,\n"
                 "--verify-heap, --gc-stress, --pin, --quiet, ...): waltz run --help\n");
}
