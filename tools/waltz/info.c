/*
 * `waltz info`: what this binary is (version, every build option, compiler and flags),
 * the machine as hwloc sees it, or a machine described by --topology (an hwloc
 * synthetic description or XML file), so placement can be reasoned about anywhere, and
 * the pinning policies of `waltz run --pin`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "waltz_config.h"

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

void info_print_help(FILE *out)
{
    fprintf(out,
            "usage: waltz info [--topology SPEC]\n"
            "\n"
            "Prints the version, every build option (as chosen with meson -D...), the compiler\n"
            "and its flags, and the machine topology as hwloc reports it: packages, NUMA nodes,\n"
            "cores, hardware threads (PUs) and CPU model.\n"
            "\n"
            "  --topology SPEC    report this topology instead of the machine's: an hwloc\n"
            "                     synthetic description (\"pack:2 numa:2 core:16 pu:1\") or\n"
            "                     the path of an hwloc XML file (lstopo --of xml)\n"
            "  -h, --help         this help\n"
            "\n"
            "It ends with the thread pinning policies this build offers (waltz run --pin):\n"
            "none, compact, scatter and numa, or none alone in a build with -Dnuma=disabled.\n"
            "waltz run --pin POLICY --topology SPEC records the placement a policy would\n"
            "choose on that topology.\n");
}

void info_print_build_line(FILE *out)
{
    fprintf(out,
            "young_gc=%s old_gc=%s marking_barrier=%s remembered_set=%s code_unlinking=%s "
            "code_lists=%s numa=%s\n",
            WALTZ_OPT_YOUNG_GC, WALTZ_OPT_OLD_GC, WALTZ_OPT_MARKING_BARRIER,
            WALTZ_OPT_REMEMBERED_SET, WALTZ_OPT_CODE_UNLINKING, WALTZ_OPT_CODE_LISTS,
            WALTZ_OPT_NUMA);
}

static void print_build(FILE *out)
{
    const char *label = "  %-18s %s%s\n";
    fprintf(out, "build options:\n");
    fprintf(out, label, "young_gc", WALTZ_OPT_YOUNG_GC,
            cli_young_gc_is_serial() ? " (one GC thread)" : "");
    fprintf(out, label, "old_gc", WALTZ_OPT_OLD_GC, "");
    /* These notes repeat what meson.build says at configure time. */
    fprintf(out, label, "marking_barrier", WALTZ_OPT_MARKING_BARRIER,
            strcmp(WALTZ_OPT_OLD_GC, "stw") == 0
                ? " (recorded, inactive: old_gc=stw never marks while mutators run)"
                : "");
    fprintf(out, label, "remembered_set", WALTZ_OPT_REMEMBERED_SET, "");
    fprintf(out, label, "code_unlinking", WALTZ_OPT_CODE_UNLINKING,
            strcmp(WALTZ_OPT_CODE_UNLINKING, "eager") == 0
                ? " (closures sharing deoptimized code are reset at deopt)"
                : " (a closure of deoptimized code is reset at its next call)");
    fprintf(out, label, "code_lists", WALTZ_OPT_CODE_LISTS,
            strcmp(WALTZ_OPT_CODE_LISTS, "none") == 0
                ? " (no code lists)"
                : " (optimized and deoptimized code on weak lists, pruned by the full GC)");
    fprintf(out, label, "numa", WALTZ_OPT_NUMA,
            cli_numa_disabled() ? " (no pinning or page binding in this build)"
                                : " (pinning and NUMA page binding: waltz run --pin)");
    fprintf(out, label, "compiler", WALTZ_COMPILER, "");
    fprintf(out, label, "buildtype", WALTZ_BUILDTYPE, "");
    fprintf(out, label, "optimization", WALTZ_OPTIMIZATION, "");
    fprintf(out, label, "sanitize", WALTZ_SANITIZE, "");
    fprintf(out, label, "c_args", WALTZ_C_ARGS[0] ? WALTZ_C_ARGS : "(none)", "");
}

int info_main(int argc, char **argv)
{
    const char *spec = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (is_help(arg)) {
            info_print_help(stdout);
            return 0;
        }
        if (strcmp(arg, "--topology") == 0) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 || argv[i + 1][0] == '\0')
                cli_usage_error("--topology needs a value (an hwloc synthetic description or "
                                "XML file)");
            spec = argv[++i];
        } else if (strncmp(arg, "--topology=", 11) == 0) {
            spec = arg + 11;
            if (spec[0] == '\0')
                cli_usage_error("--topology needs a value (an hwloc synthetic description or "
                                "XML file)");
        } else if (arg[0] == '-') {
            cli_usage_error("unknown flag '%s' for waltz info (waltz info --help)", arg);
        } else {
            cli_usage_error("unexpected argument '%s' for waltz info (waltz info --help)", arg);
        }
    }

    struct platform_topology topo;
    const char *error = NULL;
    if (platform_topology_load(&topo, spec, &error) != 0) {
        if (spec)
            cli_usage_error("--topology '%s': %s", spec, error ? error : "hwloc failed");
        fprintf(stderr, "waltz: error: cannot read this machine's topology: %s\n",
                error ? error : "hwloc failed");
        return CLI_EXIT_FAILED;
    }

    fprintf(stdout, "waltz %s\n", platform_version());
    if (strcmp(platform_version(), WALTZ_VERSION_BASE) != 0)
        fprintf(stdout, "  %-18s %s\n", "release", WALTZ_VERSION_BASE);
    print_build(stdout);
    fprintf(stdout, "topology%s:\n", topo.synthetic ? " (given with --topology)" : "");
    const char *label = "  %-18s %d\n";
    fprintf(stdout, "  %-18s %s\n", "source", topo.source);
    fprintf(stdout, "  %-18s %s\n", "cpu model", topo.cpu_model);
    fprintf(stdout, label, "packages", topo.packages);
    fprintf(stdout, label, "numa nodes", topo.numa_nodes);
    fprintf(stdout, label, "cores", topo.cores);
    fprintf(stdout, label, "pus", topo.pus);
    if (!topo.synthetic)
        fprintf(stdout, label, "available cores", platform_available_cores());
    if (cli_numa_disabled())
        fprintf(stdout, "pinning:\n  %-18s %s\n", "policies",
                "none (this build has numa=disabled: threads are never pinned)");
    else
        fprintf(stdout, "pinning:\n  %-18s %s (waltz run --pin POLICY; default none)\n", "policies",
                PLACEMENT_POLICY_NAMES);
    return 0;
}
