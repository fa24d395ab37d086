/*
 * Scoped phase timers for collector code (after V8's TRACE_GC scopes): every phase that
 * appears in a pause breakdown is a named scope, so timing cannot drift from the code.
 *
 *     TRACE_PHASE(tracer, "roots", roots_ns, items) { ...visit roots... }
 *
 * adds the scope's duration to tracer->pause->roots_ns and records one phases.csv row
 * (worker 0) whose items column is the value of `items` when the scope ends.
 */
#ifndef WALTZ_TELEMETRY_TRACER_H
#define WALTZ_TELEMETRY_TRACER_H

#include "telemetry/telemetry.h"

struct gc_tracer {
    struct telemetry *telemetry; /* may be NULL (unit tests) */
    struct pause_record *pause;
    int thread_id;
};

static inline void tracer_phase_end(struct gc_tracer *tracer, const char *phase, uint64_t *field_ns,
                                    uint64_t start_ns, uint64_t items)
{
    uint64_t end_ns = platform_now_ns();
    *field_ns += end_ns - start_ns;
    if (!tracer->telemetry)
        return;
    struct phase_record rec = {
        .pause_id = tracer->pause->pause_id,
        .cycle_id = tracer->pause->cycle_id,
        .phase = phase,
        .worker = 0,
        .start_ns = start_ns,
        .duration_ns = end_ns - start_ns,
        .items = items,
        .thread_id = tracer->thread_id,
    };
    telemetry_add_phase(tracer->telemetry, &rec);
}

#define TRACE_PHASE(tracer, name, field, items)                                                    \
    for (uint64_t trace_start_ns_ = platform_now_ns(), trace_once_ = 1; trace_once_;               \
         trace_once_ = 0, tracer_phase_end((tracer), (name), &(tracer)->pause->field,              \
                                           trace_start_ns_, (uint64_t)(items)))

#endif
