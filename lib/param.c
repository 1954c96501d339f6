/* Parameter allocation and the shape check shared by row-wise layers. */
#include "internal.h"
#include <limits.h>
#include <stdio.h>
#include "param.h"

tl_status tl_param_init(tl_param *p, const char *name, int ndim, const int *shape, tl_rng *rng,
                        double scale)
{
    p->name = name;
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
