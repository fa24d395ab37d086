/*
 * young_gc=parallel: an Orinoco-style parallel scavenger (V8, "Orinoco: young
 * generation garbage collection", 2017; after Halstead's and Flood et al.'s parallel
 * copying collectors, "Parallel garbage collection for shared memory multiprocessors",
 * JVM 2001).
 *
 * The GC worker pool runs N tasks; task 0 is the thread that stopped the world. First,
 * single-threaded, the remembered set becomes work items (remset.h: a page's slot set,
 * a 512 KiB piece of a large chunk's, or the tagged fields under a run of dirty cards).
 * Then each task (1) takes chunks of the root slots, (2) claims remembered-set items,
 * each by exactly one task, and (3) computes the transitive closure from the objects it
 * copied, through its own Chase-Lev deque (lib/scavenge/worklist.h); a task whose deque
 * is empty steals from the others until every task is idle. With stealing off, roots
 * and items are dealt out statically (task i takes every N-th) and each task closes
 * only over what it copied itself: the ablation baseline.
 *
 * Waking the other tasks. With stealing on, the job is elastic (platform/worker_pool.h):
 * task 0 starts alone and wakes the others once it has copied GROW_AFTER_OBJECTS objects,
 * and a task whose worker has not taken the job when task 0 finishes never runs (one
 * that took it in between runs, finds nothing, and is waited for). pauses.csv
 * gc_threads counts the tasks that ran. A wake-up costs
 * the waker a system call and the woken tens of microseconds, more than a scavenge with a
 * few hundred survivors takes on one thread. The termination counts the tasks that have
 * not arrived as idle (worklist_termination_expect_late), which is exact here because
 * a task offers termination only after the root and item cursors are exhausted.
 *
 * Copying: a task reads the map word, copies the object into its own to-space LAB (or
 * old-space LAB to promote it), then installs the forwarding address with one
 * compare-and-swap on the original's map word. The loser of a race takes its copy back
 * from its LAB (the copy is always the last thing it allocated) and uses the winner's.
 *
 * Order: a task's grey objects are a stack, and scan_object visits an object's slots from
 * the last to the first, so the first slot's child is scanned first and the closure is a
 * depth-first preorder in slot order (hierarchical copying, see scavenge/common.h): a
 * tree built parent first is read and copied in address order. `--child-order last`
 * visits the slots first to last instead, the order before this choice, for ablation.
 * Against Cheney's mean pause (bench/scavenge/run, bench/results issue3-stop13), last
 * child first -> first child first: gcbench, whose long-lived trees are built parent
 * first, 0.87x -> 0.97x with one task and 1.33x -> 1.53x with two; binary-trees, whose
 * trees are built children first, 0.96x -> 0.86x and 1.48x -> 1.42x.
 *
 * Invariants: every slot is written by one task only (a root by its chunk's task, a
 * remembered slot by its item's task, an object's slot by the task that scans the object,
 * which is the one that copied it or stole it); a copy is fully written before it is
 * published, by the CAS (acquire-release) and by the deque; an old slot that comes to
 * point into the young generation is inserted into its page's slot set after it is
 * written (the insertion releases, the slot-set iteration acquires).
 */
#include <stdatomic.h>
#include <string.h>

#include "platform/placement.h"
#include "platform/worker_pool.h"
#include "scavenge/common.h"
#include "scavenge/scavenge.h"
#include "scavenge/worklist.h"

#define ROOT_CHUNK 64
/* Objects a task keeps to itself in front of its deque (see push_work). */
#define LOCAL_CAPACITY 128
/* Objects task 0 copies alone before it wakes the other tasks (see scavenge_collect). */
#define GROW_AFTER_OBJECTS 128

struct scavenger;

struct task {
    struct scavenger *s;
    uint32_t index;
    bool marking;
    enum scan_order scan_order; /* SCAN_BACKWARD: the first slot's child first (default) */
    struct worklist_deque deque;
    uint32_t local_count;
    uint32_t grow_countdown; /* task 0 of an elastic job: objects until it wakes the others */
    struct object *local[LOCAL_CAPACITY];
    struct lab to_lab, old_lab;
    struct weak_slots weak;
    struct mark_local mark_local; /* promoted objects during a marking cycle */
    uint64_t copied_bytes, promoted_bytes, objects, remembered_slots, roots, remset_items;
    uint64_t steals, idle_ns, start_ns, end_ns;
    bool ran; /* false: its worker never took the job (worker_pool_run_elastic) */
} __attribute__((aligned(64)));

struct scavenger {
    struct heap *heap;
    struct new_space *ns;
    struct task *tasks;
    uint32_t task_count;
    bool steal;
    value_t **roots;
    size_t root_count, root_capacity;
    _Atomic size_t next_root;
    struct remset_work remset;
    _Atomic size_t next_item;
    struct worklist_deque **deques;
    struct worker_pool *pool;
    struct worklist_termination termination;
    uint32_t *victim_orders; /* --pin numa: each task's victims, its own node first; or NULL */
};

const char *scavenge_strategy_name(void) { return "parallel"; }

static struct object *lab_allocate(struct lab *lab, size_t size)
{
    if (lab->limit - lab->top < size)
        return NULL;
    struct object *o = (struct object *)lab->top;
    lab->top += size;
    return o;
}

static struct object *allocate_in_to_space(struct task *t, size_t size)
{
    struct object *o = lab_allocate(&t->to_lab, size);
    if (o)
        return o;
    uintptr_t start, end;
    if (!new_space_take(t->s->ns, size, HEAP_LAB_BYTES, &start, &end))
        return NULL; /* to-space is full: the caller promotes */
    heap_retire_lab(t->s->heap, &t->to_lab);
    t->to_lab.top = start;
    t->to_lab.limit = end;
    return lab_allocate(&t->to_lab, size);
}

static struct object *allocate_in_old_space(struct task *t, size_t size)
{
    struct object *o = lab_allocate(&t->old_lab, size);
    if (o)
        return o;
    struct heap *heap = t->s->heap;
    uintptr_t start, end;
    if (!paged_space_take(&heap->old_space, size, HEAP_LAB_BYTES, &start, &end))
        platform_fatal("promotion failed: cannot grow old space by %zu bytes (system memory)",
                       size);
    if (t->old_lab.limit > t->old_lab.top)
        paged_space_free(&heap->old_space, t->old_lab.top, t->old_lab.limit - t->old_lab.top);
    t->old_lab.top = start;
    t->old_lab.limit = end;
    return lab_allocate(&t->old_lab, size);
}

/* A task's grey objects live first in a small private stack, then in its Chase-Lev deque
 * (after V8's worklists, whose private segments are published to a shared pool). The
 * deque's pop needs a full fence, which on x86 waits for every store in flight (the
 * copies just written to to-space, often cache misses): paid per object, it serialized
 * the memory accesses that the copying loop otherwise overlaps. The private stack spills
 * its older half to the deque when full, and is shared the same way when another task
 * is idle and this task's deque is empty, so that thieves always find work that exists.
 * A task is idle only when both are empty, so termination stays exact. */
static void publish_half(struct task *t)
{
    uint32_t half = t->local_count / 2;
    for (uint32_t i = 0; i < half; i++)
        worklist_push(&t->deque, t->local[i]);
    memmove(t->local, t->local + half, (t->local_count - half) * sizeof *t->local);
    t->local_count -= half;
}

static inline void push_work(struct task *t, struct object *o)
{
    if (UNLIKELY(t->local_count == LOCAL_CAPACITY))
        publish_half(t);
    t->local[t->local_count++] = o;
}

/* The private stack's top; the older half goes to the deque first if another task is
 * looking for work and would find none there. local_count > 0. */
static inline struct object *pop_local(struct task *t)
{
    if (t->local_count > 1 && t->s->steal &&
        worklist_termination_waiting_estimate(&t->s->termination) > 0 &&
        worklist_size_estimate(&t->deque) == 0)
        publish_half(t);
    return t->local[--t->local_count];
}

static inline struct object *pop_work(struct task *t)
{
    if (t->local_count == 0)
        return worklist_pop(&t->deque);
    return pop_local(t);
}

static struct object *evacuate(struct task *t, struct object *o)
{
    value_t map_word = __atomic_load_n(&o->map_word, __ATOMIC_ACQUIRE);
    if (object_is_forwarded_word(map_word))
        return object_forwardee_of(map_word);
    struct object *map = value_to_object(map_word);
    size_t size = object_size_with_map(o, map);
    bool promote = heap_below_age_mark(t->s->heap, o);
    struct object *copy = promote ? NULL : allocate_in_to_space(t, size);
    if (!copy) {
        copy = allocate_in_old_space(t, size);
        promote = true;
    }
    /* Word 0 may be CASed by another task meanwhile: copy the body, then the header. */
    const value_t *src = (const value_t *)o;
    value_t *dst = (value_t *)copy;
    if (size <= 8 * WORD_BYTES) {
        for (size_t i = 1; i < size / WORD_BYTES; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst + 1, src + 1, size - WORD_BYTES);
    }
    dst[0] = map_word;
    value_t expected = map_word;
    if (!__atomic_compare_exchange_n(&o->map_word, &expected, (value_t)copy, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        /* Another task copied it first: give the copy back to the LAB it came from. */
        struct lab *lab = promote ? &t->old_lab : &t->to_lab;
        lab->top -= size;
        return object_forwardee_of(expected);
    }
    t->objects++;
    if (UNLIKELY(t->grow_countdown) && --t->grow_countdown == 0)
        worker_pool_grow(t->s->pool);
    if (promote) {
        t->promoted_bytes += size;
        if (UNLIKELY(t->marking))
            scavenge_promoted_during_marking(copy);
    } else {
        t->copied_bytes += size;
    }
    push_work(t, copy);
    return copy;
}

SCAVENGE_DEFINE_VISITORS(struct task, evacuate, c->scan_order)

/* Remembered slots are visited in long runs (a 512 KiB item of a large array has up to
 * 64K slots), and every object they copy is pushed. Left there until the closure, those
 * objects would overflow the private stack into the deque, one push and one fenced pop
 * each, and be scanned long after their copies left the cache. So the visit scans what
 * it copied as it goes, once the stack holds DRAIN_AT objects (sharing as pop_work
 * does). Root chunks are short (ROOT_CHUNK slots) and are left to the closure. */
#define DRAIN_AT 64

static void drain_local(struct task *t)
{
    while (t->local_count > 0)
        scan_object(t, pop_local(t));
}

static enum slot_callback_result visit_remembered_draining(value_t *slot, void *ctx)
{
    struct task *t = ctx;
    enum slot_callback_result result = visit_remembered(slot, ctx);
    if (UNLIKELY(t->local_count >= DRAIN_AT))
        drain_local(t);
    return result;
}

/* Work items are dealt out dynamically (an atomic cursor) with stealing on, or
 * statically (every task_count-th, from index) with it off. */
static bool next_item(struct task *t, _Atomic size_t *cursor, size_t count, size_t chunk,
                      size_t *cursor_static, size_t *first, size_t *last)
{
    struct scavenger *s = t->s;
    size_t begin;
    if (s->steal) {
        begin = atomic_fetch_add_explicit(cursor, chunk, memory_order_relaxed);
    } else {
        begin = *cursor_static;
        *cursor_static += chunk * s->task_count;
    }
    if (begin >= count)
        return false;
    *first = begin;
    *last = begin + chunk < count ? begin + chunk : count;
    return true;
}

static void close_over(struct task *t)
{
    struct scavenger *s = t->s;
    for (;;) {
        struct object *o = pop_work(t);
        if (!o && s->steal) {
            o = worklist_steal_any(&s->termination, t->index);
            if (!o) {
                uint64_t idle_start_ns = platform_now_ns();
                o = worklist_termination_offer(&s->termination, t->index);
                t->idle_ns += platform_now_ns() - idle_start_ns;
            }
            if (o)
                t->steals++;
        }
        if (!o)
            return;
        scan_object(t, o);
    }
}

static void task_main(uint32_t index, void *arg)
{
    struct scavenger *s = arg;
    struct task *t = &s->tasks[index];
    t->start_ns = platform_now_ns();
    t->ran = true;
    if (s->steal && s->task_count > 1)
        worklist_termination_arrive(&s->termination);
    size_t first, last, cursor = (size_t)index * ROOT_CHUNK;
    while (next_item(t, &s->next_root, s->root_count, ROOT_CHUNK, &cursor, &first, &last)) {
        for (size_t i = first; i < last; i++)
            scavenge_slot(t, NULL, s->roots[i]);
        t->roots += last - first;
    }
    cursor = index;
    while (next_item(t, &s->next_item, s->remset.items.count, 1, &cursor, &first, &last)) {
        t->remembered_slots +=
            remset_visit_item(&s->remset.items.items[first], visit_remembered_draining, t);
        t->remset_items++;
    }
    close_over(t);
    t->end_ns = platform_now_ns();
}

static void collect_root(value_t *slot, void *ctx)
{
    struct scavenger *s = ctx;
    if (s->root_count == s->root_capacity) {
        s->root_capacity = s->root_capacity ? s->root_capacity * 2 : 1024;
        s->roots = platform_realloc(s->roots, s->root_capacity * sizeof *s->roots);
    }
    s->roots[s->root_count++] = slot;
}

static void record_worker_phases(struct scavenger *s, struct gc_tracer *tracer,
                                 struct worker_pool *pool)
{
    if (!tracer->telemetry)
        return;
    for (uint32_t i = 0; i < s->task_count; i++) {
        struct task *t = &s->tasks[i];
        if (!t->ran)
            continue;
        struct phase_record rec = {
            .pause_id = tracer->pause->pause_id,
            .cycle_id = tracer->pause->cycle_id,
            .phase = "evacuate_task",
            .worker = i,
            .start_ns = t->start_ns,
            .duration_ns = t->end_ns - t->start_ns,
            .items = t->objects,
            .steals = t->steals,
            .idle_ns = t->idle_ns,
            .thread_id = i == 0 ? tracer->thread_id : worker_pool_thread_id(pool, i),
        };
        telemetry_add_phase(tracer->telemetry, &rec);
    }
}

void scavenge_collect(struct heap *heap, struct gc_tracer *tracer,
                      const struct scavenge_options *options)
{
    struct pause_record *pause = tracer->pause;
    uint32_t tasks = options && options->pool ? options->tasks : 1;
    if (tasks < 1)
        tasks = 1;
    struct scavenger s = {
        .heap = heap,
        .ns = &heap->new_space,
        .task_count = tasks,
        .steal = options ? options->steal : true,
        .pool = options ? options->pool : NULL,
    };
    s.tasks = platform_aligned_alloc(64, tasks * sizeof *s.tasks);
    if (!s.tasks)
        platform_fatal("out of memory: scavenger tasks");
    s.deques = platform_alloc(tasks * sizeof *s.deques);
    for (uint32_t i = 0; i < tasks; i++) {
        memset(&s.tasks[i], 0, sizeof s.tasks[i]);
        s.tasks[i].s = &s;
        s.tasks[i].index = i;
        s.tasks[i].marking = atomic_load(&heap->marking_active);
        s.tasks[i].scan_order = options && options->last_child_first ? SCAN_FORWARD : SCAN_BACKWARD;
        if (s.tasks[i].marking)
            mark_local_init(&s.tasks[i].mark_local, heap->mark_pool);
        worklist_deque_init(&s.tasks[i].deque, 10);
        s.deques[i] = &s.tasks[i].deque;
    }
    worklist_termination_init(&s.termination, (struct worklist_deque *const *)s.deques, tasks);
    if (s.steal) {
        s.victim_orders =
            placement_gc_victim_orders(placement_active(), tasks, placement_current_node());
        worklist_termination_set_victim_orders(&s.termination, s.victim_orders);
        if (tasks > 1) {
            worklist_termination_expect_late(&s.termination);
            s.tasks[0].grow_countdown = GROW_AFTER_OBJECTS;
        }
    }
    pause->young_before_bytes = heap_young_used_bytes(heap);
    new_space_flip(s.ns);

    TRACE_PHASE(tracer, "remset", remset_ns, s.remset.items.count)
    remset_work_collect(heap, &s.remset);
    TRACE_PHASE(tracer, "roots", roots_ns, s.root_count)
    heap_visit_strong_roots(heap, collect_root, &s);
    uint64_t objects = 0;
    uint32_t tasks_ran = tasks;
    TRACE_PHASE(tracer, "evacuate", evacuate_ns, objects)
    {
        if (tasks == 1)
            task_main(0, &s);
        else if (s.steal)
            tasks_ran = worker_pool_run_elastic(options->pool, tasks, task_main, &s);
        else
            worker_pool_run(options->pool, tasks, task_main, &s);
        for (uint32_t i = 0; i < tasks; i++)
            objects += s.tasks[i].objects;
    }
    record_worker_phases(&s, tracer, options ? options->pool : NULL);
    size_t weak_slots = 0;
    TRACE_PHASE(tracer, "weak", weak_ns, weak_slots)
    {
        scavenge_collect_weak_roots(heap, &s.tasks[0].weak);
        for (uint32_t i = 0; i < tasks; i++) {
            weak_slots_process(&s.tasks[i].weak);
            weak_slots += s.tasks[i].weak.count;
        }
    }
    uint64_t remembered = 0, steals = 0;
    for (uint32_t i = 0; i < tasks; i++) {
        struct task *t = &s.tasks[i];
        heap_retire_lab(heap, &t->to_lab);
        if (t->old_lab.limit > t->old_lab.top)
            paged_space_free(&heap->old_space, t->old_lab.top, t->old_lab.limit - t->old_lab.top);
        pause->copied_bytes += t->copied_bytes;
        pause->promoted_bytes += t->promoted_bytes;
        remembered += t->remembered_slots;
        steals += t->steals;
        worklist_deque_destroy(&t->deque);
        weak_slots_free(&t->weak);
        if (t->marking)
            mark_local_destroy(&t->mark_local);
    }
    remset_work_finish(&s.remset);
    new_space_set_age_mark(s.ns);
    if (heap->config.verify_heap)
        scavenge_poison_from_space(s.ns);

    pause->young_after_bytes = heap_young_used_bytes(heap);
    pause->remset_slots = remembered;
    pause->steals = steals;
    pause->gc_threads = tasks_ran;
    platform_free(s.roots);
    platform_free(s.deques);
    platform_free(s.tasks);
    platform_free(s.victim_orders);
}
