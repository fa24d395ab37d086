/*
 * Memory, errors and threads for every layer above. Heap pages and all off-heap
 * metadata come from jemalloc (linked in place of the C library's malloc).
 */
#include "platform/platform.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *platform_alloc(size_t size_bytes)
{
    void *p = malloc(size_bytes ? size_bytes : 1);
    if (!p)
        platform_fatal("out of memory: malloc(%zu) failed", size_bytes);
    return p;
}

void *platform_calloc(size_t count, size_t size_bytes)
{
    void *p = calloc(count ? count : 1, size_bytes ? size_bytes : 1);
    if (!p)
        platform_fatal("out of memory: calloc(%zu, %zu) failed", count, size_bytes);
    return p;
}

void *platform_realloc(void *p, size_t size_bytes)
{
    void *q = realloc(p, size_bytes ? size_bytes : 1);
    if (!q)
        platform_fatal("out of memory: realloc(%zu) failed", size_bytes);
    return q;
}

void *platform_aligned_alloc(size_t alignment, size_t size_bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, alignment, size_bytes) != 0)
        return NULL;
    return p;
}

void platform_free(void *p) { free(p); }

char *platform_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = platform_alloc(n);
    memcpy(d, s, n);
    return d;
}

static void default_fatal_handler(const char *message)
{
    fprintf(stderr, "waltz: error: %s\n", message);
}

static _Atomic(platform_fatal_handler) fatal_handler = default_fatal_handler;
static atomic_int fatal_entered;

void platform_set_fatal_handler(platform_fatal_handler handler)
{
    atomic_store(&fatal_handler, handler ? handler : default_fatal_handler);
}

_Noreturn void platform_fatal(const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* One report per process: a second thread failing meanwhile waits for the exit. */
    if (atomic_fetch_add(&fatal_entered, 1) == 0) {
        atomic_load (&fatal_handler)(message);
        fflush(NULL);
        exit(1);
    }
    for (;;)
        sched_yield();
}

static atomic_int next_thread_id = 1;
static _Thread_local int my_thread_id;

int platform_thread_id(void)
{
    if (!my_thread_id)
        my_thread_id = atomic_fetch_add(&next_thread_id, 1);
    return my_thread_id;
}

static void *thread_trampoline(void *arg)
{
    struct platform_thread *t = arg;
    pthread_setname_np(pthread_self(), t->name);
    return t->fn(t->arg);
}

void platform_thread_start(struct platform_thread *t, const char *name, void *(*fn)(void *),
                           void *arg)
{
    t->fn = fn;
    t->arg = arg;
    snprintf(t->name, sizeof t->name, "%s", name);
    int rc = pthread_create(&t->handle, NULL, thread_trampoline, t);
    if (rc != 0)
        platform_fatal("cannot start thread %s: %s", name, strerror(rc));
}

void *platform_thread_join(struct platform_thread *t)
{
    void *result = NULL;
    pthread_join(t->handle, &result);
    return result;
}

int platform_available_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return 1;
}
