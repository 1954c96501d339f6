/* Internal helpers shared by the library's sources. Not installed. */
#ifndef TL_INTERNAL_H
#define TL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/status.h"
#include "timelayers/tensor.h"

#if defined(__GNUC__)
#define TL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TL_PRINTF(a, b)
/* Run fn(ctx, part, parts) once for each part = 0 .. parts-1, on the
 * calling thread and the pool's threads (threads.c) in any order and
 * assignment; returns when all are done, with their writes visible. Parts
 * may outnumber the threads (smaller parts balance better). */
void tl_parallel_run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx);

#endif

/* Record a formatted message for the calling thread and return st, so that
 * error paths read `return tl_fail(TL_ERR_SHAPE, "...", ...);`. */
tl_status tl_fail(tl_status st, const char *fmt, ...) TL_PRINTF(2, 3);

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
void tl_free(void *p);

/* Shorthand for the error raised when a tensor argument has the wrong shape. */
tl_status tl_fail_shape(const char *who, const char *what, const tl_tensor *t,
                        const char *expected);

/* Run fn(ctx, part, parts) once for each part = 0 .. parts-1, on the
 * calling thread and the pool's threads (threads.c) in any order and
 * assignment; returns when all are done, with their writes visible. Parts
 * may outnumber the threads (smaller parts balance better). */
void tl_parallel_run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx);

#endif
