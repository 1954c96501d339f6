/* timelayers: tensors.
 *
 * A tl_tensor is a contiguous, row-major array of up to three dimensions,
 * holding either real numbers (tl_real: float by default, double when the
 * library and the caller are built with TL_REAL_DOUBLE) or int32 token ids.
 *
 * Ownership: a tensor made by tl_tensor_alloc/tl_tensor_resize owns its
 * buffer and tl_tensor_free releases it. A tensor made by tl_tensor_wrap*
 * borrows the caller's memory; tl_tensor_free only forgets it. A zeroed
 * struct (`tl_tensor t = {0};`) is a valid empty tensor.
 */
#ifndef TIMELAYERS_TENSOR_H
#define TIMELAYERS_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef TL_REAL_DOUBLE
typedef double tl_real;
#else
typedef float tl_real;
#endif

#define TL_MAX_DIMS 3

/* Largest number of elements a single tensor may hold (2^32). Requests above
 * it are refused with TL_ERR_NOMEM before anything is allocated. */
#define TL_MAX_ELEMENTS ((size_t)1 << 32)

typedef enum tl_dtype { TL_REAL = 0, TL_INT32 = 1 } tl_dtype;

typedef struct tl_tensor {
    union {
        tl_real *data;   /* dtype == TL_REAL */
        int32_t *ids;    /* dtype == TL_INT32 */
    };
    tl_dtype dtype;
    int ndim;
    int shape[TL_MAX_DIMS];
    size_t size;      /* product of the shape */
    size_t capacity;  /* elements the owned buffer can hold (0 when borrowed) */
    bool owned;
} tl_tensor;

/* (Re)shape t to ndim dimensions of the given dtype. Memory is reused when
 * the current owned buffer is large enough, so calling this on every step
 * with the same shape never allocates. New contents are zeroed only when a
 * new buffer is allocated; otherwise they are whatever was there. A borrowed
 * tensor is turned into an owned one. */
tl_status tl_tensor_resize(tl_tensor *t, tl_dtype dtype, int ndim, const int *shape);

/* Like tl_tensor_resize, then fill with zeros. */
tl_status tl_tensor_zeros(tl_tensor *t, tl_dtype dtype, int ndim, const int *shape);

/* Convenience shapes for real tensors (zeroed). */
tl_status tl_tensor_zeros1(tl_tensor *t, int d0);
tl_status tl_tensor_zeros2(tl_tensor *t, int d0, int d1);
tl_status tl_tensor_zeros3(tl_tensor *t, int d0, int d1, int d2);

/* Borrow caller memory (no copy). The caller keeps it alive. */
tl_tensor tl_tensor_wrap(tl_real *data, int ndim, const int *shape);
tl_tensor tl_tensor_wrap_ids(int32_t *ids, int ndim, const int *shape);

/* Copy src into dst, resizing dst to src's shape and dtype. */
tl_status tl_tensor_copy(tl_tensor *dst, const tl_tensor *src);

/* Release an owned buffer and reset t to the empty tensor. */
void tl_tensor_free(tl_tensor *t);

/* Set every element to zero (either dtype). */
void tl_tensor_clear(tl_tensor *t);

/* True when both tensors have the same ndim and shape (false when either is NULL). */
bool tl_tensor_same_shape(const tl_tensor *a, const tl_tensor *b);

/* Writes "(2, 3, 4)" into buf (at most n bytes) and returns buf. */
char *tl_tensor_shape_str(const tl_tensor *t, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
