/*
 * The machine as hwloc sees it: packages, NUMA nodes, cores, hardware threads, CPU
 * model. A synthetic description or an XML file stands in for a machine this one is
 * not, so that placement decisions can be tested anywhere (hwloc_topology_set_synthetic,
 * hwloc_topology_set_xml). platform_topology_open keeps the loaded topology for
 * lib/platform/placement.c, which decides and applies thread and page placement on it.
 */
#include "platform/platform.h"

#include <hwloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool looks_like_file(const char *spec)
{
    return strchr(spec, '/') || strstr(spec, ".xml") || access(spec, R_OK) == 0;
}

int platform_topology_open(struct platform_topology *out, struct hwloc_topology **topology,
                           const char *spec, const char **error)
{
    memset(out, 0, sizeof *out);
    *topology = NULL;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        *error = "hwloc_topology_init failed";
        return -1;
    }
    if (spec && *spec) {
        int rc = looks_like_file(spec) ? hwloc_topology_set_xml(topo, spec)
                                       : hwloc_topology_set_synthetic(topo, spec);
        if (rc != 0) {
            hwloc_topology_destroy(topo);
            *error = looks_like_file(spec) ? "cannot read the hwloc XML topology file"
                                           : "invalid hwloc synthetic topology description";
            return -1;
        }
        out->synthetic = true;
        snprintf(out->source, sizeof out->source, "%s", spec);
    } else {
        snprintf(out->source, sizeof out->source, "this machine");
    }
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        *error = "hwloc_topology_load failed";
        return -1;
    }
    out->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    out->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    out->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    out->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    if (out->packages < 1)
        out->packages = 1;
    if (out->numa_nodes < 1)
        out->numa_nodes = 1;
    if (out->cores < 1)
        out->cores = out->pus > 0 ? out->pus : 1;
    const char *model = NULL;
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    if (pkg)
        model = hwloc_obj_get_info_by_name(pkg, "CPUModel");
    if (!model)
        model = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "CPUModel");
    snprintf(out->cpu_model, sizeof out->cpu_model, "%s",
             model ? model : (out->synthetic ? "synthetic" : "unknown"));
    *topology = topo;
    return 0;
}

void platform_topology_close(struct hwloc_topology *topology)
{
    if (topology)
        hwloc_topology_destroy(topology);
}

int platform_topology_load(struct platform_topology *out, const char *spec, const char **error)
{
    hwloc_topology_t topo;
    if (platform_topology_open(out, &topo, spec, error) != 0)
        return -1;
    platform_topology_close(topo);
    return 0;
}
