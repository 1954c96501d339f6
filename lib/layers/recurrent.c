/* The recurrent-state mechanism shared by the recurrent layers (recurrent.h). */
#include <limits.h>
#include <stdio.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"

static const char *who(const tl_recurrent *r) { return r->layer.ops->type; }

void tl_recurrent_init(tl_recurrent *r, const tl_layer_ops *ops, int in_dim, int hidden,
                       int blocks, bool with_c, bool stateful)
{
    r->layer = (tl_layer){.ops = ops, .in_dtype = TL_REAL, .in_width = in_dim,
                          .out_width = hidden};
    r->hidden = hidden;
    r->blocks = blocks;
    r->with_c = with_c;
    r->stateful = stateful;
}

tl_status tl_recurrent_check_input(const tl_recurrent *r, const tl_tensor *x)
{
    int D = r->layer.in_width, H = r->hidden;
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] != D) {
        char expected[48];
        snprintf(expected, sizeof expected, "(N, T, %d) with N, T >= 1", D);
        return tl_fail_shape(who(r), "input", x, expected);
    }
    /* Row counts and leading dimensions are ints in the BLAS interface. */
    if ((long long)x->shape[0] * x->shape[1] > INT_MAX ||
        (long long)x->shape[1] * r->blocks * H > INT_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: N=%d, T=%d, H=%d exceed the int range of BLAS",
                       who(r), x->shape[0], x->shape[1], H);
    return TL_OK;
}

tl_status tl_recurrent_begin(tl_recurrent *r, int N, bool *from_state)
{
    int H = r->hidden;
    *from_state = r->has_h && (r->stateful || r->pending);
    if (*from_state && r->h.shape[0] != N)
        return tl_fail(TL_ERR_STATE,
                       "%s: the %s state has batch size %d but the input has batch size "
                       "%d; call reset_state (or set_state with %d rows) first",
                       who(r), r->pending ? "state set by set_state" : "carried",
                       r->h.shape[0], N, N);
    TL_TRY(*from_state ? tl_tensor_copy(&r->h0, &r->h) : tl_tensor_zeros2(&r->h0, N, H));
    TL_TRY(tl_tensor_resize(&r->h, TL_REAL, 2, (int[]){N, H}));
    if (r->with_c) {
        TL_TRY(*from_state && r->has_c ? tl_tensor_copy(&r->c0, &r->c)
                                       : tl_tensor_zeros2(&r->c0, N, H));
        TL_TRY(tl_tensor_resize(&r->c, TL_REAL, 2, (int[]){N, H}));
    }
    return TL_OK;
}

void tl_recurrent_end(tl_recurrent *r, int N, const tl_real *Y, const tl_real *C, int ld)
{
    tl_copy_rows(N, r->hidden, Y, ld, r->h.data, r->hidden);
    if (C)
        tl_copy_rows(N, r->hidden, C, ld, r->c.data, r->hidden);
    r->has_h = true;
    r->has_c = C != NULL;
    r->pending = false;
}

tl_status tl_recurrent_begin_backward(tl_recurrent *r, int N)
{
    TL_TRY(tl_tensor_resize(&r->dh0, TL_REAL, 2, (int[]){N, r->hidden}));
    if (r->with_c)
        TL_TRY(tl_tensor_resize(&r->dc0, TL_REAL, 2, (int[]){N, r->hidden}));
    r->has_dh0 = true;
    return TL_OK;
}

void tl_recurrent_reset_state(tl_layer *l)
{
    tl_recurrent *r = (tl_recurrent *)l;
    r->has_h = r->has_c = false;
    r->pending = false;
}

tl_status tl_recurrent_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c)
{
    tl_recurrent *r = (tl_recurrent *)l;
    *h = r->has_h ? &r->h : &r->none;
    *c = !r->with_c ? NULL : r->has_c ? &r->c : &r->none;
    return TL_OK;
}

tl_status tl_recurrent_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c)
{
    tl_recurrent *r = (tl_recurrent *)l;
    int H = r->hidden;
    char expected[48];
    if (c && !r->with_c)
        return tl_fail(TL_ERR_ARG, "%s: set_state: the layer has no cell state; pass c = NULL",
                       who(r));
    if (h->ndim != 2 || h->shape[0] < 1 || h->shape[1] != H) {
        snprintf(expected, sizeof expected, "(N, %d) with N >= 1", H);
        char what[48];
        snprintf(what, sizeof what, "%s set_state", who(r));
        return tl_fail_shape(what, "h", h, expected);
    }
    if (c && !tl_tensor_same_shape(c, h)) {
        snprintf(expected, sizeof expected, "(%d, %d), the shape of h", h->shape[0], H);
        char what[48];
        snprintf(what, sizeof what, "%s set_state", who(r));
        return tl_fail_shape(what, "c", c, expected);
    }
    tl_status st = tl_tensor_copy(&r->h, h);
    if (!st && c)
        st = tl_tensor_copy(&r->c, c);
    if (st) {
        tl_recurrent_reset_state(l);  /* h may already hold the new rows: keep nothing half set */
        return st;
    }
    r->has_h = true;
    r->has_c = c != NULL;
    r->pending = true;
    return TL_OK;
}

tl_status tl_recurrent_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0)
{
    tl_recurrent *r = (tl_recurrent *)l;
    if (!r->has_dh0)
        return tl_fail(TL_ERR_STATE, "%s: state_grad called before backward", who(r));
    *dh0 = &r->dh0;
    *dc0 = r->with_c ? &r->dc0 : NULL;
    return TL_OK;
}

void tl_recurrent_free(tl_recurrent *r)
{
    tl_tensor *owned[] = {&r->h, &r->c, &r->h0, &r->c0, &r->dh0, &r->dc0};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
}
