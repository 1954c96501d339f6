/* The library's heap: every allocation of lib/ goes through here, so that
 * sizes are overflow-checked in one place, a failure always becomes
 * TL_ERR_NOMEM with a message, and tests can make the k-th allocation fail
 * (tl__set_alloc_hook) and count the blocks still live (tl__alloc_live).
 *
 * cJSON allocates on its own; its global hooks (cJSON_InitHooks) are pointed
 * here only when a test installs an allocation hook: they are process-wide
 * and an application embedding timelayers may have set its own. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "internal.h"

static _Atomic(tl__alloc_hook_fn) hook;
static atomic_long live;
/* One of cJSON's allocations failed on this thread (see tl_json_parse). */
static _Thread_local bool json_oom;

/* Ask the test hook whether this allocation should fail. */
static int injected(size_t bytes)
{
    tl__alloc_hook_fn h = atomic_load_explicit(&hook, memory_order_acquire);
    return h && h(bytes);
}

static void track(void *p, long d)
{
    if (p)
        atomic_fetch_add_explicit(&live, d, memory_order_relaxed);
}

static void *json_malloc(size_t n)
{
    void *p = injected(n) ? NULL : malloc(n);
    track(p, 1);
    json_oom |= !p;
    return p;
}

static void json_free(void *p)
{
    track(p, -1);
    free(p);
}

void tl__set_alloc_hook(tl__alloc_hook_fn h)
{
    static atomic_flag json_hooked = ATOMIC_FLAG_INIT;
    if (h && !atomic_flag_test_and_set(&json_hooked))
        cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = json_malloc, .free_fn = json_free});
    atomic_store_explicit(&hook, h, memory_order_release);
}

long tl__alloc_live(void) { return atomic_load_explicit(&live, memory_order_relaxed); }

tl_status tl_json_parse(struct cJSON **root, const char *text, size_t n, const char **end,
                        const char *what)
{
    const char *e = text;
    json_oom = false;
    *root = cJSON_ParseWithLengthOpts(text, n, &e, false);
    if (end)
        *end = e;
    return !*root && json_oom ? tl_fail(TL_ERR_NOMEM, "%s: out of memory parsing JSON", what)
                              : TL_OK;
}

static tl_status strict_object(const cJSON *o, const char *what)
{
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(o))
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return tl_fail(TL_ERR_FORMAT, "%s: key \"%s\" appears twice in one object",
                                   what, a->string);
        TL_TRY(strict_object(a, what));
    }
    return TL_OK;
}

tl_status tl_json_strict(const struct cJSON *root, const char *text, size_t n, const char *what)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (text[i] == '\\') {
            if (text[i + 1] == 'u' && i + 5 < n && !memcmp(text + i + 2, "0000", 4))
                return tl_fail(TL_ERR_FORMAT, "%s: a string holds a NUL character (\\u0000) at "
                               "byte %zu", what, i);
            i++;    /* the escaped character, which may be a backslash */
        }
    return strict_object(root, what);
}

/* count * elem_size bytes (at least 1), or TL_ERR_NOMEM naming what. */
static tl_status byte_size(size_t count, size_t elem_size, const char *what, size_t *bytes)
{
    if (!tl_mul_ok(count, elem_size, bytes))
        return tl_fail(TL_ERR_NOMEM, "%s: %zu elements of %zu bytes overflow size_t", what,
                       count, elem_size);
    if (*bytes == 0)
        *bytes = 1;
    return TL_OK;
}

static tl_status out_of_memory(const char *what, size_t bytes)
{
    return tl_fail(TL_ERR_NOMEM, "%s: out of memory allocating %zu bytes", what, bytes);
}

tl_status tl_alloc(void **p, size_t count, size_t elem_size, const char *what)
{
    size_t bytes;
    *p = NULL;
    TL_TRY(byte_size(count, elem_size, what, &bytes));
    /* aligned_alloc needs a multiple of the alignment. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes)
        return tl_fail(TL_ERR_NOMEM, "%s: %zu bytes is too large", what, bytes);
    if (injected(bytes) || !(*p = aligned_alloc(64, rounded)))
        return out_of_memory(what, bytes);
    track(*p, 1);
    return TL_OK;
}

tl_status tl_calloc(void **p, size_t count, size_t elem_size, const char *what)
{
    TL_TRY(tl_alloc(p, count, elem_size, what));
    memset(*p, 0, count * elem_size);
    return TL_OK;
}

tl_status tl_realloc(void **p, size_t count, size_t elem_size, const char *what)
{
    size_t bytes;
    TL_TRY(byte_size(count, elem_size, what, &bytes));
    void *q = injected(bytes) ? NULL : realloc(*p, bytes);
    if (!q)
        return out_of_memory(what, bytes);
    if (!*p)
        track(q, 1);
    *p = q;
    return TL_OK;
}

tl_status tl_strdup(char **out, const char *s, size_t n, const char *what)
{
    if (n == SIZE_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: a string of %zu bytes is too long", what, n);
    TL_TRY(tl_alloc((void **)out, n + 1, 1, what));
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return TL_OK;
}

void tl_free(void *p)
{
    track(p, -1);
    free(p);
}
