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
 * State: the shared recurrent mechanism (recurrent.h); see rnn.h for the rules.
 */
#include <stdlib.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"
#include "timelayers/rnn.h"

typedef struct {
    tl_recurrent base;    /* layer header and state: must be first */
    tl_rnn_cell cell;

    const tl_tensor *x;   /* borrowed from the caller until backward; NULL = no forward */
    tl_tensor y;          /* (N, T, H) */
    tl_tensor dx, dT, hprev, dh;
} time_rnn;

static tl_status rnn_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_rnn *r = (time_rnn *)l;
    TL_TRY(tl_recurrent_check_input(&r->base, x));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    bool from_state;
    TL_TRY(tl_recurrent_begin(&r->base, N, &from_state));
    r->x = NULL;
    TL_TRY(tl_tensor_resize(&r->y, TL_REAL, 3, (int[]){N, T, H}));

    int ld = T * H;
    tl_real *Y = r->y.data;
    tl_rnn_cell_project(&r->cell, N * T, x->data, D, Y, H);
    tl_rnn_cell_step(&r->cell, N, from_state ? r->base.h0.data : NULL, H, Y, ld);
    for (int t = 1; t < T; t++)
        tl_rnn_cell_step(&r->cell, N, Y + (size_t)(t - 1) * H, ld, Y + (size_t)t * H, ld);

    tl_recurrent_end(&r->base, N, Y + (size_t)(T - 1) * H, NULL, ld);
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
    TL_TRY(tl_recurrent_begin_backward(&r->base, N));

    int ld = T * H;
    const tl_real *Y = r->y.data;
    tl_real *dT = r->dT.data, *dh = r->dh.data;
    for (int t = T - 1; t >= 0; t--) {
        /* dT[:,t] first holds dh_next = dY[:,t] + dh, then dt in place. */
        tl_real *dTt = dT + (size_t)t * H;
        tl_add_rows(N, H, dy->data + (size_t)t * H, ld, dh, H, dTt, ld);
        tl_rnn_cell_backward_step(&r->cell, N, Y + (size_t)t * H, ld, dTt, ld, dTt, ld,
                                  t ? dh : r->base.dh0.data, H);
    }

    /* Hprev[:,0] = h0 and Hprev[:,t] = Y[:,t-1]: per batch row, one block of T-1 steps. */
    tl_real *Hp = r->hprev.data;
    tl_copy_rows(N, H, r->base.h0.data, H, Hp, ld);
    tl_copy_rows(N, (T - 1) * H, Y, ld, Hp + H, ld);
    tl_rnn_cell_backward_params(&r->cell, N * T, x->data, D, Hp, H, dT, H, r->dx.data, D);
    *dx = &r->dx;
    return TL_OK;
}

static tl_param *rnn_params(tl_layer *l, int *count)
{
    *count = TL_RNN_NPARAMS;
    return ((time_rnn *)l)->cell.params;
}

static tl_status rnn_config(const tl_layer *l, tl_layer_config *cfg)
{
    const time_rnn *r = (const time_rnn *)l;
    cfg->in_dim = r->cell.in_dim;
    cfg->out_dim = r->cell.hidden;
    TL_TRY(tl_config_set_bool(cfg, "stateful", r->base.stateful));
    return tl_config_set_int(cfg, "activation", (int)r->cell.act);
}

static void rnn_destroy(tl_layer *l)
{
    time_rnn *r = (time_rnn *)l;
    tl_rnn_cell_free(&r->cell);
    tl_recurrent_free(&r->base);
    tl_tensor *owned[] = {&r->y, &r->dx, &r->dT, &r->hprev, &r->dh};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(r);
}

static const tl_layer_ops rnn_ops = {
    .type = "TimeRNN",
    .forward = rnn_forward,
    .backward = rnn_backward,
    .params = rnn_params,
    .reset_state = tl_recurrent_reset_state,
    .get_state = tl_recurrent_get_state,
    .set_state = tl_recurrent_set_state,
    .state_grad = tl_recurrent_state_grad,
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
    tl_recurrent_init(&r->base, &rnn_ops, in_dim, hidden, 1, false, stateful);
    *out = &r->base.layer;
    return TL_OK;
}
