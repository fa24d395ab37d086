/*
 * The scavenger's copy rate for large survivors against memcpy, in one process, side by
 * side (issue 3, "copy rate against memcpy bandwidth for large survivors").
 *
 * For each object kind (byte arrays: raw bytes only; fixed arrays: every word a tagged
 * Smi the scavenger must look at) and each object size (below the large-object threshold,
 * HEAP_MAX_REGULAR_OBJECT_BYTES, so they live in new space and are copied), one
 * repetition does, alternating the two measurements:
 *   waltz:  allocate survivors filling --fill-percent of a semispace, each held by a
 *           handle, and write every byte; evict the caches; force a scavenge (the
 *           survivors are copied into to-space); evict again; force another (they are
 *           promoted into old space); then drop them and force a full GC. The rate is
 *           the pause's copied + promoted bytes per second of its evacuate phase.
 *   memcpy: the same number of objects of the same size, laid out one after another in
 *           a source buffer and written just as the mutator writes them; evict the
 *           caches; memcpy them one by one, in order, into a destination buffer that is
 *           mapped (faulted in once at start) but not in the caches.
 * Eviction reads a buffer of --evict-mib MiB (twice the last-level cache of the machine
 * this was written on), so both sides start from a cold source and a cold destination,
 * as a scavenge does. One unmeasured repetition first maps both semispaces and the
 * buffers. Medians over --reps repetitions are printed as CSV on stdout (one row per
 * kind, size and destination); memcpy runs on one thread whatever --gc-threads says.
 *
 * Usage: copy_bench [--young-size-mib N] [--fill-percent P] [--sizes-kib A,B,...]
 *                   [--kinds byte,fixed] [--reps R] [--gc-threads N] [--evict-mib N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "heap/heap.h"
#include "scavenge/scavenge.h"
#include "telemetry/telemetry.h"

#define MAX_SIZES 16
#define MAX_REPS 99

enum kind { KIND_BYTE, KIND_FIXED, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"byte", "fixed"};

struct options {
    size_t young_size_mib, fill_percent, evict_mib;
    size_t sizes_kib[MAX_SIZES], size_count;
    bool kinds[KIND_COUNT];
    int reps;
    uint32_t gc_threads;
};

struct bench {
    struct options opt;
    struct heap *heap;
    struct gc *gc;
    struct telemetry *telemetry;
    struct mutator m;
    uint8_t *evict, *src, *dst;
    size_t evict_bytes, buffer_bytes;
};

/* The two scavenges of a repetition: survivors copied into to-space, then promoted. */
enum destination { DEST_TO_SPACE, DEST_OLD_SPACE, DEST_COUNT };
static const char *const destination_names[DEST_COUNT] = {"to-space", "old-space"};

/* The samples of one (kind, size), in bytes per second, one per repetition. */
struct result {
    double evacuation_rate[DEST_COUNT][MAX_REPS]; /* per second of roots + evacuate phases */
    double pause_rate[DEST_COUNT][MAX_REPS];      /* per second of the whole pause */
    double memcpy_rate[MAX_REPS];
    uint64_t bytes[DEST_COUNT];
};

static volatile uint64_t sink;

static _Noreturn void usage(const char *why)
{
    fprintf(stderr, "copy_bench: error: %s\n", why);
    fprintf(stderr, "usage: copy_bench [--young-size-mib N] [--fill-percent P] "
                    "[--sizes-kib A,B,...] [--kinds byte,fixed] [--reps R] [--gc-threads N] "
                    "[--evict-mib N]\n");
    exit(2);
}

static size_t parse_number(const char *flag, const char *text, size_t min, size_t max)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || v < min || v > max) {
        char why[160];
        snprintf(why, sizeof why, "%s '%s': expected an integer in %zu..%zu", flag, text, min, max);
        usage(why);
    }
    return (size_t)v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.young_size_mib = 32,
                          .fill_percent = 50,
                          .evict_mib = 64,
                          .reps = 7,
                          .gc_threads = 1,
                          .sizes_kib = {4, 16, 64},
                          .size_count = 3,
                          .kinds = {true, true}};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (i + 1 >= argc)
            usage("every flag takes a value");
        const char *value = argv[++i];
        if (strcmp(flag, "--young-size-mib") == 0) {
            o->young_size_mib = parse_number(flag, value, 1, 4096);
        } else if (strcmp(flag, "--fill-percent") == 0) {
            o->fill_percent = parse_number(flag, value, 1, 90);
        } else if (strcmp(flag, "--evict-mib") == 0) {
            o->evict_mib = parse_number(flag, value, 0, 4096);
        } else if (strcmp(flag, "--reps") == 0) {
            o->reps = (int)parse_number(flag, value, 1, MAX_REPS);
        } else if (strcmp(flag, "--gc-threads") == 0) {
            o->gc_threads = (uint32_t)parse_number(flag, value, 1, 64);
        } else if (strcmp(flag, "--sizes-kib") == 0) {
            char copy[256];
            snprintf(copy, sizeof copy, "%s", value);
            o->size_count = 0;
            for (char *save, *tok = strtok_r(copy, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                if (o->size_count == MAX_SIZES)
                    usage("--sizes-kib: at most 16 sizes");
                /* Below the large-object threshold: larger ones are never copied. */
                o->sizes_kib[o->size_count++] =
                    parse_number(flag, tok, 1, HEAP_MAX_REGULAR_OBJECT_BYTES / KiB);
            }
            if (o->size_count == 0)
                usage("--sizes-kib: no size given");
        } else if (strcmp(flag, "--kinds") == 0) {
            o->kinds[KIND_BYTE] = o->kinds[KIND_FIXED] = false;
            char copy[64];
            snprintf(copy, sizeof copy, "%s", value);
            for (char *save, *tok = strtok_r(copy, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, "byte") == 0)
                    o->kinds[KIND_BYTE] = true;
                else if (strcmp(tok, "fixed") == 0)
                    o->kinds[KIND_FIXED] = true;
                else
                    usage("--kinds: byte, fixed or both (comma-separated)");
            }
        } else {
            char why[160];
            snprintf(why, sizeof why, "unknown flag '%s'", flag);
            usage(why);
        }
    }
    if (o->gc_threads > 1 && strcmp(scavenge_strategy_name(), "parallel") != 0)
        usage("--gc-threads above 1 needs a young_gc=parallel build");
}

/* Reads the eviction buffer: afterwards the caches hold it, not the data to copy. */
static void evict_caches(struct bench *b)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < b->evict_bytes; i += 64)
        sum += b->evict[i];
    sink = sum;
}

static struct object *new_survivor(struct mutator *m, enum kind kind, size_t size_bytes)
{
    size_t payload = size_bytes - ARRAY_HEADER_BYTES;
    if (kind == KIND_BYTE) {
        struct object *o = heap_new_byte_array(m, payload);
        memset(byte_array_data(o), 0x5a, payload);
        return o;
    }
    struct object *o = heap_new_fixed_array(m, payload / WORD_BYTES);
    value_t *slots = object_slots(o);
    for (size_t i = 0; i < payload / WORD_BYTES; i++)
        slots[2 + i] = value_from_smi((int64_t)i);
    return o;
}

static bool survivor_intact(struct object *o, enum kind kind, size_t size_bytes)
{
    size_t payload = size_bytes - ARRAY_HEADER_BYTES;
    if (object_size(o) != size_bytes)
        return false;
    if (kind == KIND_BYTE)
        return byte_array_data(o)[0] == 0x5a && byte_array_data(o)[payload - 1] == 0x5a;
    return object_get(o, 2 + payload / WORD_BYTES - 1) ==
           value_from_smi((int64_t)(payload / WORD_BYTES - 1));
}

static double rate(uint64_t bytes, uint64_t ns) { return ns ? (double)bytes * 1e9 / ns : 0.0; }

/*
 * The scavengers differ in where root targets are copied: the serial one copies them while
 * it visits the roots (phase "roots"), the parallel one collects the root slots there and
 * copies in "evacuate". Every survivor here is a root target, so the evacuation time of a
 * scavenge is roots_ns + evacuate_ns for both.
 */
static void record_scavenge(struct bench *b, struct result *res, enum destination d, int rep)
{
    size_t n = telemetry_pause_count(b->telemetry);
    const struct pause_record *p = n ? telemetry_pause(b->telemetry, n - 1) : NULL;
    if (!p || p->kind != PAUSE_SCAVENGE)
        platform_fatal("copy_bench: the forced scavenge left no scavenge pause record");
    uint64_t bytes = p->copied_bytes + p->promoted_bytes;
    res->bytes[d] = bytes;
    if (rep < 0)
        return;
    res->evacuation_rate[d][rep] = rate(bytes, p->roots_ns + p->evacuate_ns);
    res->pause_rate[d][rep] = rate(bytes, p->duration_ns);
}

/* One repetition of the waltz side (rep < 0: a warm-up, not recorded). */
static void time_waltz(struct bench *b, enum kind kind, size_t size_bytes, size_t count,
                       struct result *res, int rep)
{
    struct mutator *m = &b->m;
    struct handle_scope scope;
    handle_scope_open(m, &scope);
    value_t **handles = platform_alloc(count * sizeof *handles);
    size_t pauses_before = telemetry_pause_count(b->telemetry);
    for (size_t i = 0; i < count; i++)
        handles[i] = handle_of(m, new_survivor(m, kind, size_bytes));
    if (telemetry_pause_count(b->telemetry) != pauses_before)
        platform_fatal("copy_bench: %zu survivors of %zu bytes do not fit in a semispace of %zu "
                       "MiB (a scavenge ran while they were allocated): lower --fill-percent",
                       count, size_bytes, b->opt.young_size_mib);
    for (int d = 0; d < DEST_COUNT; d++) {
        evict_caches(b);
        gc_collect(b->heap, m, COLLECT_SCAVENGE);
        record_scavenge(b, res, (enum destination)d, rep);
    }
    for (size_t i = 0; i < count; i++)
        if (!survivor_intact(handle_object(handles[i]), kind, size_bytes))
            platform_fatal("copy_bench: survivor %zu of %zu bytes is corrupt after scavenges", i,
                           size_bytes);
    platform_free(handles);
    handle_scope_close(m, &scope);
    gc_collect(b->heap, m, COLLECT_FULL); /* frees the promoted survivors */
}

static double time_memcpy(struct bench *b, enum kind kind, size_t size_bytes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t *o = b->src + i * size_bytes;
        memset(o, 0, ARRAY_HEADER_BYTES);
        if (kind == KIND_BYTE) {
            memset(o + ARRAY_HEADER_BYTES, 0x5a, size_bytes - ARRAY_HEADER_BYTES);
        } else {
            value_t *slots = (value_t *)o;
            for (size_t k = 2; k < size_bytes / WORD_BYTES; k++)
                slots[k] = value_from_smi((int64_t)(k - 2));
        }
    }
    evict_caches(b);
    uint64_t start = platform_now_ns();
    for (size_t i = 0; i < count; i++)
        memcpy(b->dst + i * size_bytes, b->src + i * size_bytes, size_bytes);
    uint64_t elapsed = platform_now_ns() - start;
    sink = b->dst[(count - 1) * size_bytes + size_bytes / 2];
    return rate(count * size_bytes, elapsed);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct bench *b, enum kind kind, size_t size_kib)
{
    size_t size_bytes = size_kib * KiB;
    size_t survivor_bytes = b->opt.young_size_mib * MiB * b->opt.fill_percent / 100;
    size_t count = survivor_bytes / size_bytes;
    if (count == 0)
        count = 1;
    struct result res = {0};
    time_waltz(b, kind, size_bytes, count, &res, -1);
    time_memcpy(b, kind, size_bytes, count);
    for (int r = 0; r < b->opt.reps; r++) {
        time_waltz(b, kind, size_bytes, count, &res, r);
        res.memcpy_rate[r] = time_memcpy(b, kind, size_bytes, count);
    }
    double mem = median(res.memcpy_rate, b->opt.reps);
    for (int d = 0; d < DEST_COUNT; d++) {
        double evacuation = median(res.evacuation_rate[d], b->opt.reps);
        double pause = median(res.pause_rate[d], b->opt.reps);
        printf("%s,%u,%s,%zu,%zu,%s,%llu,%.1f,%.1f,%.1f,%.3f,%d\n", scavenge_strategy_name(),
               b->opt.gc_threads, kind_names[kind], size_bytes, count, destination_names[d],
               (unsigned long long)res.bytes[d], evacuation / 1e6, pause / 1e6, mem / 1e6,
               evacuation / mem, b->opt.reps);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    parse_options(argc, argv, &b.opt);
    size_t young_bytes = b.opt.young_size_mib * MiB;
    struct heap_config config = {
        .young_size_bytes = young_bytes,
        .heap_size_bytes = 4 * young_bytes + 256 * MiB,
        .gc_threads = b.opt.gc_threads,
    };
    b.telemetry = telemetry_create(platform_now_ns());
    b.heap = heap_create(&config, b.telemetry);
    b.gc = gc_create(b.heap, b.telemetry);
    gc_mutator_attach(b.gc, &b.m, "copy-bench");

    b.evict_bytes = b.opt.evict_mib * MiB;
    b.buffer_bytes = young_bytes;
    b.evict = platform_alloc(b.evict_bytes ? b.evict_bytes : 1);
    b.src = platform_alloc(b.buffer_bytes);
    b.dst = platform_alloc(b.buffer_bytes);
    memset(b.evict, 1, b.evict_bytes);
    memset(b.src, 0, b.buffer_bytes);
    memset(b.dst, 0, b.buffer_bytes); /* mapped, like to-space after the first scavenges */

    printf("build,gc_threads,kind,object_bytes,objects,destination,survivor_bytes,"
           "evacuation_mb_per_s,pause_mb_per_s,memcpy_mb_per_s,evacuation_memcpy_ratio,reps\n");
    for (int k = 0; k < KIND_COUNT; k++)
        if (b.opt.kinds[k])
            for (size_t s = 0; s < b.opt.size_count; s++)
                measure(&b, (enum kind)k, b.opt.sizes_kib[s]);

    platform_free(b.evict);
    platform_free(b.src);
    platform_free(b.dst);
    gc_mutator_detach(&b.m);
    gc_destroy(b.gc);
    heap_destroy(b.heap);
    telemetry_destroy(b.telemetry);
    return 0;
}
