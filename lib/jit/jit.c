/*
 * lib/jit tier hooks: what lib/vm calls through vm->tier (docs/jit.md, "Where the tier
 * plugs in"). tier_wants is the entry check: a closure whose code is marked for
 * deoptimization is reset to undefined there (lazy unlinking), and a function asks for
 * compilation when its shared info requests tier-up and does not say NO_OPT. tier_call
 * compiles on demand and runs the executor, or interprets a function the compiler
 * refused. After JIT_MAX_DEOPTS deopts a function stays interpreted. tier_osr replaces
 * an interpreter frame at a hot loop's back-edge by OSR code from the OSR cache.
 */
#include "barrier/barrier.h"
#include "jit/code.h"
#include "platform/platform.h"

const char *jit_reject_name(enum jit_reject reason)
{
    static const char *names[] = {
#define JIT_REJECT_NAME(upper, lower) #lower,
        JIT_REJECT_LIST(JIT_REJECT_NAME)
#undef JIT_REJECT_NAME
    };
    return reason < JIT_REJECT_COUNT ? names[reason] : "?";
}

/* --- The tier ------------------------------------------------------------------------------ */

static bool tier_wants(void *ctx, struct vm *vm, value_t function)
{
    struct jit *j = ctx;
    if (!j->options.optimize)
        return false;
    struct object *f = value_to_object(function);
    value_t code = object_get(f, VM_FUNCTION_CODE);
    if (is_code(code)) {
        if (!code_is_marked(value_to_object(code)))
            return true;
        object_store(vm->m, f, VM_FUNCTION_CODE, vm_undefined(vm->rt));
        j->stats.lazy_unlinks++;
    }
    /* Another closure of the function got it optimized: share its code. */
    struct object *shared = shared_of(function);
    value_t cached = object_get(shared, VM_SHARED_OPTIMIZED_CODE);
    if (value_is_weak(cached) && !code_is_marked(value_to_object(cached))) {
        struct mutator *m = vm->m;
        struct handle_scope scope;
        handle_scope_open(m, &scope);
        value_t *fh = handle_new(m, function);
        value_t *ch =
            handle_new(m, value_from_object(value_to_object(barrier_weak_read(m, shared, cached))));
        object_store(m, value_to_object(*fh), VM_FUNCTION_CODE, *ch);
        codecache_note_closure(m, ch, JIT_CODE_CLOSURES, fh);
        handle_scope_close(m, &scope);
        j->stats.shared_code_links++;
        return true;
    }
    int64_t flags = shared_smi(shared, VM_SHARED_FLAGS);
    return (flags & VM_SHARED_FLAG_TIERUP_REQUESTED) && !(flags & VM_SHARED_FLAG_NO_OPT);
}

/* Runs the function in the interpreter instead (a call the tier took but cannot run). */
static int interpret(struct vm *vm, const value_t *function_slot, const value_t *args, size_t argc,
                     value_t *result)
{
    struct object *f = value_to_object(*function_slot);
    size_t params = (size_t)shared_smi(shared_of(*function_slot), VM_SHARED_PARAMS);
    size_t depth = vm->frame_count;
    if (vm_push_frame(vm, *function_slot, object_get(f, VM_FUNCTION_CONTEXT), 0,
                      vm_undefined(vm->rt), args, argc < params ? argc : params) != 0)
        return -1;
    return vm_resume(vm, depth, result);
}

static int tier_call(void *ctx, struct vm *vm, const value_t *function_slot, const value_t *args,
                     size_t argc, value_t *result)
{
    struct jit *j = ctx;
    if (!is_code(object_get(value_to_object(*function_slot), VM_FUNCTION_CODE)) &&
        jit_compile(j, function_slot) != 0)
        return interpret(vm, function_slot, args, argc, result);
    struct object *f = value_to_object(*function_slot);
    if (code_is_marked(value_to_object(object_get(f, VM_FUNCTION_CODE)))) {
        /* Invalidated as its dependencies were registered (compiler.c). */
        object_store(vm->m, f, VM_FUNCTION_CODE, vm_undefined(vm->rt));
        j->stats.lazy_unlinks++;
        return interpret(vm, function_slot, args, argc, result);
    }
    j->stats.optimized_calls++;
    j->depth++;
    int rc = jit_execute(j, function_slot, args, argc, result);
    j->depth--;
    return rc;
}

/* On-stack replacement, at a back-edge of the interpreter's top frame whose function
 * asks for tier-up: its OSR code for this loop (from the OSR cache, or compiled now)
 * replaces the frame. 1 with *result the frame's return value, 0 if the interpreter goes
 * on with the frame, -1 on an error (vm->error). */
static bool marked(struct object *code) { return code_is_marked(code); }

static int tier_osr(void *ctx, struct vm *vm, uint32_t loop_pc, value_t *result)
{
    struct jit *j = ctx;
    if (!j->options.optimize || !j->options.osr)
        return 0;
    const value_t *function_slot = &vm->frames[vm->frame_count - 1].function;
    uint32_t index = (uint32_t)shared_smi(shared_of(*function_slot), VM_SHARED_INDEX);
    struct object *code = codecache_osr_lookup(j->cache, vm->m, index, loop_pc, marked);
    if (code) {
        j->stats.osr_cache_hits++;
    } else {
        if (jit_compile_osr(j, function_slot, loop_pc, &code) != 0)
            return 0; /* not optimizable: the shared info now says NO_OPT */
        if (code_is_marked(code))
            return 0; /* invalidated as its dependencies were registered (compiler.c) */
    }
    j->depth++;
    int rc = jit_execute_osr(j, code, result);
    j->depth--;
    if (rc == 1)
        return 0;
    j->stats.osr_entries++;
    return rc == 0 ? 1 : -1;
}

/* The handshake after a field generalization (lib/vm fields.c), on this VM's thread or on
 * its behalf while it is parked: the invalidated code goes to the deoptimized list (with
 * code_lists=none there is no list, and only the stack walk finds it), under
 * code_unlinking=eager every closure of it is reset now (eager with none is refused at
 * configure time), and the activations of it are counted: each deoptimizes when control
 * returns to it (executor.c). No allocation. */
struct invalidation {
    struct jit *j;
    uint64_t resets;
};

static void reset_invalidated(struct object *code, void *arg)
{
    struct invalidation *inv = arg;
    struct jit *j = inv->j;
    inv->j->stats.invalidated_code++;
    if (code_is_osr(code))
        codecache_osr_evict(j->cache, code);
    if (CODECACHE_EAGER)
        inv->resets += codecache_reset_closures(j->cache, j->vm->m, code, JIT_CODE_CLOSURES,
                                                VM_FUNCTION_CODE, vm_undefined(j->vm->rt));
}

static void tier_code_invalidated(void *ctx, struct vm *vm)
{
    (void)vm;
    struct jit *j = ctx;
    struct invalidation inv = {j, 0};
    codecache_deoptimize_invalidated(j->cache, reset_invalidated, &inv);
    for (struct jit_activation *a = j->activations; a; a = a->prev) {
        if (a->found || !codecache_is_invalidated(a->code))
            continue;
        a->found = true;
        j->stats.invalidated_frames++;
    }
    j->stats.eager_unlinks += inv.resets;
}

static const struct vm_tier jit_tier = {.wants = tier_wants,
                                        .call = tier_call,
                                        .osr = tier_osr,
                                        .code_invalidated = tier_code_invalidated};

struct jit *jit_attach(struct vm *vm, const struct jit_options *options)
{
    struct jit *j = platform_calloc(1, sizeof *j);
    j->vm = vm;
    j->options = options ? *options
                         : (struct jit_options){.optimize = true,
                                                .inline_calls = true,
                                                .escape_analysis = true,
                                                .unbox_doubles = true,
                                                .osr = true};
    j->stats.last_unsupported_opcode = -1;
    j->site_deopts = platform_calloc(vm->module->function_count + 1, sizeof *j->site_deopts);
    j->cache = codecache_create(vm->m->heap);
    j->file = platform_calloc(JIT_FILE_SLOTS, sizeof *j->file);
    j->spill = platform_calloc(JIT_FILE_SLOTS, sizeof *j->spill);
    heap_add_root_provider(vm->m->heap, jit_visit_file, j);
    vm->tier = &jit_tier;
    vm->tier_ctx = j;
    return j;
}

void jit_detach(struct jit *j)
{
    if (j->vm->tier_ctx == j) {
        j->vm->tier = NULL;
        j->vm->tier_ctx = NULL;
    }
    heap_remove_root_provider(j->vm->m->heap, jit_visit_file, j);
    codecache_destroy(j->cache);
    platform_free(j->file);
    platform_free(j->spill);
    for (size_t f = 0; f < j->vm->module->function_count; f++)
        platform_free(j->site_deopts[f]);
    platform_free(j->site_deopts);
    platform_free(j);
}

uint8_t *jit_site_deopts(struct jit *j, uint32_t function, size_t bytecode_length, bool create)
{
    if (function >= j->vm->module->function_count)
        return NULL;
    if (!j->site_deopts[function] && create)
        j->site_deopts[function] = platform_calloc(bytecode_length + 1, 1);
    return j->site_deopts[function];
}

const struct jit_stats *jit_stats(const struct jit *j) { return &j->stats; }

const struct codecache *jit_codecache(const struct jit *j) { return j->cache; }

void jit_stats_add(struct jit_stats *t, const struct jit_stats *s)
{
    t->functions_optimized += s->functions_optimized;
    for (int k = 0; k < JIT_REJECT_COUNT; k++)
        t->not_optimizable[k] += s->not_optimizable[k];
    for (int k = 0; k < DEOPT_REASON_COUNT; k++)
        t->deopts[k] += s->deopts[k];
    t->optimized_calls += s->optimized_calls;
    t->inlined_call_sites += s->inlined_call_sites;
    t->objects_elided += s->objects_elided;
    t->constants_folded += s->constants_folded;
    t->double_ops += s->double_ops;
    t->boxes += s->boxes;
    t->guards_executed += s->guards_executed;
    t->lazy_unlinks += s->lazy_unlinks;
    t->shared_code_links += s->shared_code_links;
    t->eager_unlinks += s->eager_unlinks;
    t->soft_deopts += s->soft_deopts;
    t->lazy_deopts += s->lazy_deopts;
    t->dependencies += s->dependencies;
    t->invalidated_code += s->invalidated_code;
    t->invalidated_frames += s->invalidated_frames;
    t->unspeculated_sites += s->unspeculated_sites;
    t->osr_compiles += s->osr_compiles;
    t->osr_entries += s->osr_entries;
    t->osr_cache_hits += s->osr_cache_hits;
}
