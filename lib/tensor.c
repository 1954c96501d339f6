/* Tensors: shapes, owned/borrowed buffers, reuse without reallocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static size_t dtype_size(tl_dtype dt) { return dt == TL_INT32 ? sizeof(int32_t) : sizeof(tl_real); }

static tl_status check_shape(int ndim, const int *shape, size_t *size)
{
    if (ndim < 0 || ndim > TL_MAX_DIMS)
        return tl_fail(TL_ERR_ARG, "tensor: %d dimensions (at most %d allowed)", ndim,
                       TL_MAX_DIMS);
    if (ndim > 0 && !shape)
        return tl_fail(TL_ERR_ARG, "tensor: shape is NULL");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tl_fail(TL_ERR_SHAPE, "tensor: dimension %d is negative (%d)", i, shape[i]);
        if (!tl_mul_ok(n, (size_t)shape[i], &n) || n > TL_MAX_ELEMENTS)
            return tl_fail(TL_ERR_NOMEM,
                           "tensor: shape asks for more than %zu elements (TL_MAX_ELEMENTS)",
                           TL_MAX_ELEMENTS);
    }
    *size = n;
    return TL_OK;
}

tl_status tl_tensor_check(const tl_tensor *t, const char *who, const char *what)
{
    size_t n = 1;
    bool ok = t && t->ndim >= 0 && t->ndim <= TL_MAX_DIMS &&
              (t->dtype == TL_REAL || t->dtype == TL_INT32);
    for (int i = 0; ok && i < t->ndim; i++)
        ok = t->shape[i] >= 0 && tl_mul_ok(n, (size_t)t->shape[i], &n);
    if (!ok)
        return tl_fail(TL_ERR_ARG, "%s: %s is NULL or has an invalid dtype or shape", who, what);
    if (t->ndim == 0 && t->size == 0)
        return TL_OK;   /* {0}: an empty tensor; the layer says what it expected */
    if (n != t->size) {
        char sh[48];
        return tl_fail(TL_ERR_SHAPE, "%s: %s has shape %s but size %zu: the shape needs %zu",
                       who, what, tl_tensor_shape_str(t, sh, sizeof sh), t->size, n);
    }
    if (n && !t->data)
        return tl_fail(TL_ERR_ARG, "%s: %s has %zu elements and no data", who, what, n);
    return TL_OK;
}

tl_status tl_tensor_resize(tl_tensor *t, tl_dtype dtype, int ndim, const int *shape)
{
    if (!t)
        return tl_fail(TL_ERR_ARG, "tl_tensor_resize: tensor is NULL");
    if (dtype != TL_REAL && dtype != TL_INT32)
        return tl_fail(TL_ERR_ARG, "tl_tensor_resize: unknown dtype %d", (int)dtype);
    size_t n = 0;
    TL_TRY(check_shape(ndim, shape, &n));
    /* Capacity is counted in bytes-equivalent of the current dtype. */
    size_t need = n * dtype_size(dtype);
    size_t have = t->owned ? t->capacity * dtype_size(t->dtype) : 0;
    if (need > have || !t->owned) {
        /* Out of memory names the shape: "tensor (64, 35, 1024)". */
        void *p;
        char what[16 + TL_MAX_DIMS * 13] = "tensor (";
        for (int i = 0; i < ndim; i++)
            snprintf(what + strlen(what), sizeof what - strlen(what), "%s%d%s", i ? ", " : "",
                     shape[i], i == ndim - 1 ? ")" : "");
        if (ndim == 0)
            strcat(what, ")");
        TL_TRY(tl_calloc(&p, n, dtype_size(dtype), what));
        if (t->owned)
            tl_free(t->data);
        t->data = p;
        t->owned = true;
        t->capacity = n;
    } else {
        t->capacity = have / dtype_size(dtype);
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < TL_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 0;
    t->size = n;
    return TL_OK;
}

tl_status tl_tensor_zeros(tl_tensor *t, tl_dtype dtype, int ndim, const int *shape)
{
    TL_TRY(tl_tensor_resize(t, dtype, ndim, shape));
    tl_tensor_clear(t);
    return TL_OK;
}

tl_status tl_tensor_zeros1(tl_tensor *t, int d0) { return tl_tensor_zeros(t, TL_REAL, 1, &d0); }

tl_status tl_tensor_zeros2(tl_tensor *t, int d0, int d1)
{
    int s[2] = {d0, d1};
    return tl_tensor_zeros(t, TL_REAL, 2, s);
}

tl_status tl_tensor_zeros3(tl_tensor *t, int d0, int d1, int d2)
{
    int s[3] = {d0, d1, d2};
    return tl_tensor_zeros(t, TL_REAL, 3, s);
}

static tl_tensor wrap(void *p, tl_dtype dtype, int ndim, const int *shape)
{
    tl_tensor t = {0};
    t.data = p;
    t.dtype = dtype;
    t.ndim = ndim < 0 ? 0 : ndim > TL_MAX_DIMS ? TL_MAX_DIMS : ndim;
    t.size = 1;
    for (int i = 0; i < t.ndim; i++) {
        t.shape[i] = shape[i];
        t.size *= shape[i] > 0 ? (size_t)shape[i] : 0;
    }
    return t;
}

tl_tensor tl_tensor_wrap(tl_real *data, int ndim, const int *shape)
{
    return wrap(data, TL_REAL, ndim, shape);
}

tl_tensor tl_tensor_wrap_ids(int32_t *ids, int ndim, const int *shape)
{
    return wrap(ids, TL_INT32, ndim, shape);
}

tl_status tl_tensor_copy(tl_tensor *dst, const tl_tensor *src)
{
    if (!dst || !src)
        return tl_fail(TL_ERR_ARG, "tl_tensor_copy: NULL tensor");
    if (dst == src)
        return TL_OK;
    TL_TRY(tl_tensor_resize(dst, src->dtype, src->ndim, src->shape));
    if (src->size)
        memcpy(dst->data, src->data, src->size * dtype_size(src->dtype));
    return TL_OK;
}

void tl_tensor_free(tl_tensor *t)
{
    if (!t)
        return;
    if (t->owned)
        tl_free(t->data);
    memset(t, 0, sizeof *t);
}

void tl_tensor_clear(tl_tensor *t)
{
    if (t && t->size)
        memset(t->data, 0, t->size * dtype_size(t->dtype));
}

bool tl_tensor_same_shape(const tl_tensor *a, const tl_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

char *tl_tensor_shape_str(const tl_tensor *t, char *buf, size_t n)
{
    size_t off = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    off += (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %d" : "%d", t->shape[i]);
    if (off < n)
        snprintf(buf + off, n - off, t->ndim == 1 ? ",)" : ")");
    return buf;
}

tl_status tl_fail_shape(const char *who, const char *what, const tl_tensor *t,
                        const char *expected)
{
    char got[64];
    return tl_fail(TL_ERR_SHAPE, "%s: %s has shape %s, expected %s", who, what,
                   tl_tensor_shape_str(t, got, sizeof got), expected);
}
