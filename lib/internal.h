/* Internal helpers shared by the library's sources. Not installed. */
#ifndef TL_INTERNAL_H
#define TL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "timelayers/status.h"
#include "timelayers/tensor.h"

#if defined(__GNUC__)
#define TL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TL_PRINTF(a, b)
#endif

/* snprintf(buf, n, "%s%g", prefix, x) with the fewest digits (15, else 17)
 * that read back as x: "0.1" rather than "0.10000000000000001". */
int tl_print_double(char *buf, size_t n, const char *prefix, double x);

/* Propagate a failure from a callee without touching its message. */
#define TL_TRY(expr)                   \
    do {                               \
        tl_status tl_try_st_ = (expr); \
        if (tl_try_st_ != TL_OK)       \
            return tl_try_st_;         \
    } while (0)

/* a * b with overflow detection; returns false on overflow. */
static inline int tl_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Allocation that fails with a message instead of returning NULL silently.
 * Sizes are overflow-checked. Memory from tl_alloc is 64-byte aligned and
 * released with tl_free. */
tl_status tl_alloc(void **p, size_t count, size_t elem_size, const char *what);
tl_status tl_calloc(void **p, size_t count, size_t elem_size, const char *what);
/* Resize *p (NULL or from tl_realloc) to count * elem_size bytes, not
 * aligned; on failure *p is unchanged. */
tl_status tl_realloc(void **p, size_t count, size_t elem_size, const char *what);
/* *out = a NUL-terminated copy of s[0, n), freed with tl_free. */
tl_status tl_strdup(char **out, const char *s, size_t n, const char *what);
void tl_free(void *p);
/* count * elem_size bytes of zeros, 64-byte aligned, whose whole pages
 * tl_zero_pages can give back to the system (on Linux a mapping of their
 * own; elsewhere tl_calloc). Released with tl_free_pages and the same sizes. */
tl_status tl_alloc_pages(void **p, size_t count, size_t elem_size, const char *what);
void tl_free_pages(void *p, size_t count, size_t elem_size);
/* memset(p, 0, bytes) for memory from tl_alloc_pages, except that on Linux
 * the whole pages of a large range are handed back to the system instead of
 * written: they read as zeros and take memory again only when written. For a
 * range that is mostly left untouched until the next clearing (an embedding
 * table's gradient); a range written all over would pay a page fault per page. */
void tl_zero_pages(void *p, size_t bytes);
/* Ahead of a scatter-add into rows ids[k] in [lo, hi) (k < n) of a table
 * at base whose rows are row_bytes long: when tl_zero_pages gave the table's
 * pages back at its last clearing, map the pages those rows reach (Linux
 * 5.14: a system call per run of pages instead of a page fault per page), so
 * that the writes take no page fault. Changes no byte; does nothing where the
 * system refuses, where the pages were kept, after tl__set_prefault(false). */
void tl_prefault_rows(void *base, size_t row_bytes, const int32_t *ids, size_t n, size_t lo,
                      size_t hi);
/* Tests: turn tl_prefault_rows off (the path of systems that refuse it) or on. */
void tl__set_prefault(bool on);
/* The system's page size (4096 where it cannot be asked). */
size_t tl_page_size(void);
/* Call fn(ctx, off, len) for the parts of [p, p + bytes) in address order
 * (offsets and lengths in bytes), leaving out the pages tl_zero_pages gave
 * back that nothing has touched since, and the part of such a page either
 * end cuts: they read as zeros, and reading them would take memory again.
 * Stops when fn returns false, and then returns false. Memory never given
 * back is one part. */
bool tl_each_touched(const void *p, size_t bytes, bool (*fn)(void *ctx, size_t off, size_t len),
                     void *ctx);
/* A pass over n elements of elem bytes at p on the pool (tl_parallel_run):
 * the elements cut into tl_pass_parts(n, &len) parts of len elements (the
 * last one shorter), fn(ctx, part, lo, hi) called for elements [lo, hi) of
 * each part, or with `touched` for each stretch of it tl_each_touched
 * returns, in address order. The cut depends on n only, never on the
 * threads: a sum kept per part and added up in part order has the same bits
 * on any number of them. False when fn returned false (each part stops at
 * its first false). */
enum { TL_PASS_MAX_PARTS = 64 };
int tl_pass_parts(size_t n, size_t *len);
bool tl_pass(const void *p, size_t n, size_t elem, bool touched,
             bool (*fn)(void *ctx, int part, size_t lo, size_t hi), void *ctx);
/* √(Σ g²) as tl_clip_grad_norm measures it (lib/clip.c). Finite exactly when
 * every gradient is finite and the sum does not overflow. */
double tl__grad_norm(const tl_real *grads, size_t n);
/* The checks and the norm of tl_clip_grad_norm (errors named after `who`),
 * and its factor *s: max_norm / (norm + 1e-6) when below 1, else 1. A
 * finite norm proves every gradient finite (lib/clip.c). */
tl_status tl__clip_factor(const char *who, const tl_real *grads, size_t n, double max_norm,
                          double *norm, tl_real *s);

/* Fault injection for tests (lib/alloc.c). When set, hook(bytes) is called
 * before each allocation of the library (cJSON's included); non-zero makes it
 * fail as if the system were out of memory. Installing a hook also routes
 * cJSON's allocator through the library for the rest of the process, so set
 * one before any cJSON object exists. tl__alloc_live is the number of blocks
 * allocated and not yet freed. */
typedef int (*tl__alloc_hook_fn)(size_t bytes);
/* cJSON_ParseWithLengthOpts (end may be NULL) telling a failed allocation
 * (TL_ERR_NOMEM naming what) from malformed text (TL_OK, *root NULL). cJSON
 * reports both as NULL; the difference is seen only while its allocator is
 * routed here (under a test hook): otherwise both are malformed text. */
struct cJSON;
tl_status tl_json_parse(struct cJSON **root, const char *text, size_t n, const char **end,
                        const char *what);
void tl__set_alloc_hook(tl__alloc_hook_fn hook);

/* A tensor handed in through the API is self-consistent: dtype known, at
 * most TL_MAX_DIMS non-negative dimensions whose product is its size, data
 * when it has elements (TL_ERR_ARG / TL_ERR_SHAPE naming who and what). */
tl_status tl_tensor_check(const tl_tensor *t, const char *who, const char *what);

/* Open path for reading (lib/file.c) without blocking on a FIFO; a
 * directory is refused, and with regular_only anything but a regular file.
 * TL_ERR_IO naming the path and the reason. */
tl_status tl_fopen_read(const char *path, bool regular_only, FILE **out);

/* The tokens of v in id order as a JSON array (checkpoint metadata "vocab"),
 * freed with cJSON_free; NULL when out of memory (lib/train_checkpoint.c). */
struct tl_vocab;
char *tl_vocab_json(const struct tl_vocab *v);
/* While values is non-NULL, every parameter created on this thread takes its
 * size from *values and fails with TL_ERR_FORMAT when it would exceed it
 * (lib/param.c): a checkpoint's architecture may not ask for more memory than
 * its file holds values. NULL ends it. */
void tl__param_budget(size_t *values);

/* Metadata JSON is held to the header's strictness: no key twice in one
 * object, no NUL (\u0000) inside a string or key. TL_ERR_FORMAT naming what. */
tl_status tl_json_strict(const struct cJSON *root, const char *text, size_t n, const char *what);
long tl__alloc_live(void);

/* Shorthand for the error raised when a tensor argument has the wrong shape. */
tl_status tl_fail_shape(const char *who, const char *what, const tl_tensor *t,
                        const char *expected);

/* Run fn(ctx, part, parts) once for each part = 0 .. parts-1, on the
 * calling thread and the pool's threads (threads.c) in any order and
 * assignment; returns when all are done, with their writes visible. Parts
 * may outnumber the threads (smaller parts balance better). */
void tl_parallel_run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx);
/* The same, with part p's thread fixed from call to call while every thread
 * is awake: the parts cut into one block per thread, in order (the caller's
 * first), each thread runs its own block and then what is left of the
 * others'. For per-step work whose parts reuse what the same part touched
 * the step before. */
void tl_parallel_run_homed(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx);
/* A job left to the pool's threads while the caller goes on: start
 * publishes it (or, when the pool cannot be had, runs every part at once on
 * the calling thread), finish runs the parts no thread has claimed and
 * returns when all are done, with their writes visible. In between the pool
 * is taken: every tl_parallel_run of a part, or of the caller while parts
 * remain, runs on its own thread, so a part must not wait for other
 * parallel work; once all are done, the caller's next parallel step
 * finishes the job first. The caller (the thread that started it) must
 * finish it, whatever happens. */
typedef struct tl_pending {
    bool pooled;      /* published: finish still has to run */
    uint32_t gen;
    int parts;
} tl_pending;
void tl_parallel_start(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx,
                       tl_pending *job);
void tl_parallel_finish(tl_pending *job);

#endif
