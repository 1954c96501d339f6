/* TimeRNN: the RNN cell along time, batch-major (N, T, D) -> (N, T, H).
 *
 *   forward:   Y = X·Wx + b            one GEMM over all R = N·T rows
 *              Y[:,t] = act(Y[:,t] + h_{t-1}·Wh),  h_{-1} = h0, h_t = Y[:,t]
 *   backward:  dh = 0
 *              for t = T-1 .. 0:  dT[:,t] = (dY[:,t] + dh) ⊙ act'(Y[:,t]);  dh = dT[:,t]·Whᵀ
 *              dh0 = dh;  dWx += Xᵀ·dT;  dWh += Hprevᵀ·dT;  db += Σ dT;  dX = dT·Wxᵀ
 *
 * Only the recurrent halves of the cell run per step, on strided slices
 * (ld = T·H) of the (N, T, H) buffers; everything linear in X or dT is one
 * GEMM over all steps. Hprev is Y shifted one step later with h0 in front,
 * copied into a reusable buffer so that dWh is a single GEMM too.
 *
 * State: `h` is the current state (valid when has_h), `h0` a copy of the
 * state the last forward started from (backward needs it after `h` has moved
 * on). See rnn.h for the rules.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "timelayers/rnn.h"

typedef struct {
    tl_layer base;
    tl_rnn_cell cell;
    bool stateful;

    tl_tensor h;          /* current state (N, H), meaningful when has_h */
    bool has_h;           /* false: the zero state */
    bool h_pending;       /* set_state since the last forward (non-stateful mode uses it once) */
    tl_tensor none;       /* size 0: what get_state returns for the zero state */

    const tl_tensor *x;   /* borrowed from the caller until backward; NULL = no forward */
    tl_tensor h0;         /* (N, H) the state the last forward started from */
    tl_tensor y;          /* (N, T, H) */

    tl_tensor dx, dT, hprev, dh, dh0;
    bool has_dh0;
} time_rnn;

static tl_status check_input(const time_rnn *r, const tl_tensor *x)
{
    int D = r->cell.in_dim, H = r->cell.hidden;
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] != D) {
        char expected[48];
        snprintf(expected, sizeof expected, "(N, T, %d) with N, T >= 1", D);
        return tl_fail_shape("TimeRNN", "input", x, expected);
    }
    /* Row counts and leading dimensions are ints in the BLAS interface. */
    if ((long long)x->shape[0] * x->shape[1] > INT_MAX || (long long)x->shape[1] * H > INT_MAX)
        return tl_fail(TL_ERR_NOMEM, "TimeRNN: N=%d, T=%d, H=%d exceed the int range of BLAS",
                       x->shape[0], x->shape[1], H);
    return TL_OK;
}

/* The state this forward starts from: NULL for zeros. */
static tl_status start_state(const time_rnn *r, int N, const tl_tensor **start)
{
    *start = NULL;
    if (!r->has_h || !(r->stateful || r->h_pending))
        return TL_OK;
    if (r->h.shape[0] != N)
        return tl_fail(TL_ERR_STATE,
                       "TimeRNN: the %s state has batch size %d but the input has batch size "
                       "%d; call reset_state (or set_state with %d rows) first",
                       r->h_pending ? "state set by set_state" : "carried", r->h.shape[0], N, N);
    *start = &r->h;
    return TL_OK;
}

static tl_status rnn_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_rnn *r = (time_rnn *)l;
    TL_TRY(check_input(r, x));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    const tl_tensor *start;
    TL_TRY(start_state(r, N, &start));
    r->x = NULL;
    TL_TRY(tl_tensor_resize(&r->y, TL_REAL, 3, (int[]){N, T, H}));
    if (start)
        TL_TRY(tl_tensor_copy(&r->h0, start));
    else
        TL_TRY(tl_tensor_zeros2(&r->h0, N, H));
    TL_TRY(tl_tensor_resize(&r->h, TL_REAL, 2, (int[]){N, H}));

    int ld = T * H;
    tl_real *Y = r->y.data;
    tl_rnn_cell_project(&r->cell, N * T, x->data, D, Y, H);
    tl_rnn_cell_step(&r->cell, N, start ? r->h0.data : NULL, H, Y, ld);
    for (int t = 1; t < T; t++)
        tl_rnn_cell_step(&r->cell, N, Y + (size_t)(t - 1) * H, ld, Y + (size_t)t * H, ld);

    tl_copy_rows(N, H, Y + (size_t)(T - 1) * H, ld, r->h.data, H);
    r->has_h = true;
    r->h_pending = false;
    r->x = x;
    *y = &r->y;
    return TL_OK;
}

static tl_status rnn_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_rnn *r = (time_rnn *)l;
    if (!r->x)
        return tl_fail(TL_ERR_STATE, "TimeRNN: backward called before a successful forward");
    if (!tl_tensor_same_shape(dy, &r->y))
        return tl_fail_shape("TimeRNN backward", "dy", dy, "the shape of the last output");
    const tl_tensor *x = r->x;
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    TL_TRY(tl_tensor_resize(&r->dT, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->hprev, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->dx, TL_REAL, 3, x->shape));
    TL_TRY(tl_tensor_zeros2(&r->dh, N, H));  /* truncated BPTT: nothing flows in from later chunks */
    TL_TRY(tl_tensor_resize(&r->dh0, TL_REAL, 2, (int[]){N, H}));

    int ld = T * H;
    const tl_real *Y = r->y.data;
    tl_real *dT = r->dT.data, *dh = r->dh.data;
    for (int t = T - 1; t >= 0; t--) {
        /* dT[:,t] first holds dh_next = dY[:,t] + dh, then dt in place. */
        tl_real *dTt = dT + (size_t)t * H;
        tl_add_rows(N, H, dy->data + (size_t)t * H, ld, dh, H, dTt, ld);
        tl_rnn_cell_backward_step(&r->cell, N, Y + (size_t)t * H, ld, dTt, ld, dTt, ld,
                                  t ? dh : r->dh0.data, H);
    }

    /* Hprev[:,0] = h0 and Hprev[:,t] = Y[:,t-1]: per batch row, one block of T-1 steps. */
    tl_real *Hp = r->hprev.data;
    tl_copy_rows(N, H, r->h0.data, H, Hp, ld);
    tl_copy_rows(N, (T - 1) * H, Y, ld, Hp + H, ld);
    tl_rnn_cell_backward_params(&r->cell, N * T, x->data, D, Hp, H, dT, H, r->dx.data, D);
    r->has_dh0 = true;
    *dx = &r->dx;
    return TL_OK;
}

static tl_param *rnn_params(tl_layer *l, int *count)
{
    *count = TL_RNN_NPARAMS;
    return ((time_rnn *)l)->cell.params;
}

static void rnn_reset_state(tl_layer *l)
{
    time_rnn *r = (time_rnn *)l;
    r->has_h = false;
    r->h_pending = false;
}

static tl_status rnn_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c)
{
    time_rnn *r = (time_rnn *)l;
    *h = r->has_h ? &r->h : &r->none;
    *c = NULL;
    return TL_OK;
}

static tl_status rnn_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c)
{
    time_rnn *r = (time_rnn *)l;
    int H = r->cell.hidden;
    if (c)
        return tl_fail(TL_ERR_ARG, "TimeRNN: set_state: an RNN has no cell state; pass c = NULL");
    if (h->ndim != 2 || h->shape[0] < 1 || h->shape[1] != H) {
        char expected[32];
        snprintf(expected, sizeof expected, "(N, %d) with N >= 1", H);
        return tl_fail_shape("TimeRNN set_state", "h", h, expected);
    }
    TL_TRY(tl_tensor_copy(&r->h, h));
    r->has_h = true;
    r->h_pending = true;
    return TL_OK;
}

static tl_status rnn_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0)
{
    time_rnn *r = (time_rnn *)l;
    if (!r->has_dh0)
        return tl_fail(TL_ERR_STATE, "TimeRNN: state_grad called before backward");
    *dh0 = &r->dh0;
    *dc0 = NULL;
    return TL_OK;
}

static void rnn_config(const tl_layer *l, tl_layer_config *cfg)
{
    const time_rnn *r = (const time_rnn *)l;
    cfg->in_dim = r->cell.in_dim;
    cfg->out_dim = r->cell.hidden;
    cfg->stateful = r->stateful;
    cfg->variant = (int)r->cell.act;
}

static void rnn_destroy(tl_layer *l)
{
    time_rnn *r = (time_rnn *)l;
    tl_rnn_cell_free(&r->cell);
    tl_tensor *owned[] = {&r->h, &r->h0, &r->y, &r->dx, &r->dT, &r->hprev, &r->dh, &r->dh0};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(r);
}

static const tl_layer_ops rnn_ops = {
    .type = "TimeRNN",
    .forward = rnn_forward,
    .backward = rnn_backward,
    .params = rnn_params,
    .reset_state = rnn_reset_state,
    .get_state = rnn_get_state,
    .set_state = rnn_set_state,
    .state_grad = rnn_state_grad,
    .config = rnn_config,
    .destroy = rnn_destroy,
};

tl_status tl_time_rnn_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                             tl_activation act, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_rnn_create: out is NULL");
    *out = NULL;
    time_rnn *r;
    TL_TRY(tl_calloc((void **)&r, 1, sizeof *r, "TimeRNN"));
    tl_status st = tl_rnn_cell_init(&r->cell, in_dim, hidden, act, rng);
    if (st) {
        tl_free(r);
        return st;
    }
    r->base = (tl_layer){.ops = &rnn_ops, .in_dtype = TL_REAL, .in_width = in_dim,
                         .out_width = hidden};
    r->stateful = stateful;
    *out = &r->base;
    return TL_OK;
}
