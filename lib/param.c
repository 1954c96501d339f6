/* Parameter allocation and the shape check shared by row-wise layers. */
#include "internal.h"
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "param.h"

/* While a checkpoint's architecture is rebuilt: the parameter values its
 * file holds, which the layers together may not exceed (tl__param_budget). */
static _Thread_local size_t *budget;

void tl__param_budget(size_t *values) { budget = values; }

tl_status tl_param_init(tl_param *p, const char *name, int ndim, const int *shape, tl_rng *rng,
                        double scale)
{
    p->name = name;
    if (budget) {
        size_t count = 1;
        for (int k = 0; k < ndim; k++)
            if (shape[k] < 0 || !tl_mul_ok(count, (size_t)shape[k], &count))
                count = SIZE_MAX;
        if (count > *budget)
            return tl_fail(TL_ERR_FORMAT, "parameter %s needs %zu values, more than the %zu "
                           "left in the file", name, count, *budget);
        *budget -= count;
    }
    TL_TRY(tl_tensor_zeros(&p->value, TL_REAL, ndim, shape));
    TL_TRY(tl_tensor_zeros(&p->grad, TL_REAL, ndim, shape));
    if (rng && scale != 0)
        for (size_t i = 0; i < p->value.size; i++)
            p->value.data[i] = (tl_real)(scale * tl_rng_normal(rng));
    return TL_OK;
}

void tl_params_free(tl_param *p, int n)
{
    for (int i = 0; i < n; i++) {
        tl_tensor_free(&p[i].value);
        tl_tensor_free(&p[i].grad);
    }
}

tl_status tl_rows_of(const char *who, const tl_tensor *x, int width, int *rows)
{
    if (x->ndim < 2 || x->ndim > 3 || x->shape[x->ndim - 1] != width) {
        char expected[48];
        snprintf(expected, sizeof expected, "(N, T, %d) or (N, %d)", width, width);
        return tl_fail_shape(who, "input", x, expected);
    }
    long long r = x->ndim == 3 ? (long long)x->shape[0] * x->shape[1] : x->shape[0];
    if (r > INT_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: %lld rows exceed INT_MAX", who, r);
    *rows = (int)r;
    return TL_OK;
}

char *tl_index_str(const tl_tensor *t, size_t i, char *buf, size_t n)
{
    size_t idx[TL_MAX_DIMS] = {0};
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % (size_t)t->shape[d];
        i /= (size_t)t->shape[d];
    }
    size_t off = 0;
    for (int d = 0; d < t->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, d ? ", %zu" : "[%zu", idx[d]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

tl_status tl_check_ids(const char *who, const char *what, const tl_tensor *ids, int V,
                       bool allow_ignore)
{
    for (size_t i = 0; i < ids->size; i++) {
        int32_t id = ids->ids[i];
        if ((id >= 0 && id < V) || (allow_ignore && id == -1))
            continue;
        char at[80];
        return tl_fail(TL_ERR_RANGE, "%s: %s %d at %s is outside [0, %d)%s", who, what, id,
                       tl_index_str(ids, i, at, sizeof at), V,
                       allow_ignore ? " and is not the ignore label -1" : "");
    }
    return TL_OK;
}

tl_status tl_params_flatten(tl_param *const *ps, int n, tl_real **values, tl_real **grads,
                            size_t *total)
{
    size_t count = 0;
    for (int i = 0; i < n; i++)
        count += ps[i]->value.size;
    tl_real *v = NULL, *g = NULL;
    tl_status st = tl_alloc((void **)&v, count, sizeof(tl_real), "parameters");
    if (!st)
        st = tl_alloc_pages((void **)&g, count, sizeof(tl_real), "gradients");
    if (st) {
        tl_free(v);
        return st;
    }
    /* The layers' gradients go first (they are zeros, as is the flat
     * buffer), then the values move one tensor at a time. */
    for (int i = 0; i < n; i++)
        tl_tensor_free(&ps[i]->grad);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        tl_param *p = ps[i];
        tl_tensor old = p->value;
        memcpy(v + off, old.data, old.size * sizeof(tl_real));
        tl_tensor_free(&p->value);
        p->value = tl_tensor_wrap(v + off, old.ndim, old.shape);
        p->grad = tl_tensor_wrap(g + off, old.ndim, old.shape);
        off += old.size;
    }
    *values = v;
    *grads = g;
    *total = count;
    return TL_OK;
}
