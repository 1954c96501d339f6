/* The simple RNN cell, one step, in two halves (see rnn.h):
 *
 *   forward:   a = x·Wx + b;  h' = act(a + h·Wh)
 *   backward:  dt = dh' ⊙ act'(h');  dh = dt·Whᵀ;
 *              dWx += xᵀ·dt;  dWh += hᵀ·dt;  db += Σ_rows dt;  dx = dt·Wxᵀ
 *
 * act' is computed from the output h' (1 − h'² for tanh, h'(1 − h') for σ),
 * so backward needs no stored pre-activation.
 */
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "timelayers/rnn.h"

tl_status tl_rnn_cell_init(tl_rnn_cell *c, int in_dim, int hidden, tl_activation act,
                           tl_rng *rng)
{
    if (!c)
        return tl_fail(TL_ERR_ARG, "tl_rnn_cell_init: cell is NULL");
    memset(c, 0, sizeof *c);
    if (in_dim <= 0 || hidden <= 0)
        return tl_fail(TL_ERR_ARG, "RNN cell: sizes must be positive (got D=%d, H=%d)", in_dim,
                       hidden);
    if (act != TL_ACT_TANH && act != TL_ACT_SIGMOID)
        return tl_fail(TL_ERR_ARG, "RNN cell: unknown activation %d (expected TL_ACT_TANH or "
                                   "TL_ACT_SIGMOID)", (int)act);
    *c = (tl_rnn_cell){.in_dim = in_dim, .hidden = hidden, .act = act};
    tl_status st = tl_param_init(&c->params[TL_RNN_WX], "Wx", 2, (int[]){in_dim, hidden}, rng,
                                 1.0 / sqrt((double)in_dim));
    if (!st)
        st = tl_param_init(&c->params[TL_RNN_WH], "Wh", 2, (int[]){hidden, hidden}, rng,
                           1.0 / sqrt((double)hidden));
    if (!st)
        st = tl_param_init(&c->params[TL_RNN_B], "b", 1, (int[]){hidden}, NULL, 0);
    if (st)
        tl_rnn_cell_free(c);
    return st;
}

void tl_rnn_cell_free(tl_rnn_cell *c)
{
    if (c)
        tl_params_free(c->params, TL_RNN_NPARAMS);
}

void tl_rnn_cell_project(const tl_rnn_cell *c, int rows, const tl_real *x, int ldx, tl_real *a,
                         int lda)
{
    int H = c->hidden;
    const tl_real *b = c->params[TL_RNN_B].value.data;
    for (int r = 0; r < rows; r++)
        memcpy(a + (size_t)r * lda, b, (size_t)H * sizeof(tl_real));
    tl_gemm(false, false, rows, H, c->in_dim, 1, x, ldx, c->params[TL_RNN_WX].value.data, H, 1,
            a, lda);
}

void tl_rnn_cell_step(const tl_rnn_cell *c, int N, const tl_real *h_prev, int ldh, tl_real *a,
                      int lda)
{
    int H = c->hidden;
    if (h_prev)
        tl_gemm(false, false, N, H, H, 1, h_prev, ldh, c->params[TL_RNN_WH].value.data, H, 1, a,
                lda);
    for (int n = 0; n < N; n++) {
        tl_real *r = a + (size_t)n * lda;
        if (c->act == TL_ACT_TANH)
            tl_vtanh(H, r, r);
        else
            tl_vsigmoid(H, r, r);
    }
}

void tl_rnn_cell_forward(const tl_rnn_cell *c, int N, const tl_real *x, int ldx,
                         const tl_real *h_prev, int ldh, tl_real *h_next, int ldo)
{
    tl_rnn_cell_project(c, N, x, ldx, h_next, ldo);
    tl_rnn_cell_step(c, N, h_prev, ldh, h_next, ldo);
}

void tl_rnn_cell_backward_step(const tl_rnn_cell *c, int N, const tl_real *h_next, int ldo,
                               const tl_real *dh_next, int ldd, tl_real *dt, int ldt,
                               tl_real *dh_prev, int lddh)
{
    int H = c->hidden;
    for (int n = 0; n < N; n++)
        tl_dact_from_output(c->act == TL_ACT_TANH, H, h_next + (size_t)n * ldo, dh_next + (size_t)n * ldd,
                         dt + (size_t)n * ldt);
    if (dh_prev)
        tl_gemm(false, true, N, H, H, 1, dt, ldt, c->params[TL_RNN_WH].value.data, H, 0, dh_prev,
                lddh);
}

void tl_rnn_cell_backward_params(tl_rnn_cell *c, int rows, const tl_real *x, int ldx,
                                 const tl_real *h_prev, int ldh, const tl_real *dt, int ldt,
                                 tl_real *dx, int lddx)
{
    int D = c->in_dim, H = c->hidden;
    tl_gemm(true, false, D, H, rows, 1, x, ldx, dt, ldt, 1, c->params[TL_RNN_WX].grad.data, H);
    if (h_prev)
        tl_gemm(true, false, H, H, rows, 1, h_prev, ldh, dt, ldt, 1,
                c->params[TL_RNN_WH].grad.data, H);
    tl_add_column_sums(rows, H, dt, ldt, c->params[TL_RNN_B].grad.data);
    if (dx)
        tl_gemm(false, true, rows, D, H, 1, dt, ldt, c->params[TL_RNN_WX].value.data, H, 0, dx,
                lddx);
}

void tl_rnn_cell_backward(tl_rnn_cell *c, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *h_next, int ldo,
                          const tl_real *dh_next, int ldd, tl_real *dt, int ldt, tl_real *dx,
                          int lddx, tl_real *dh_prev, int lddh)
{
    tl_rnn_cell_backward_step(c, N, h_next, ldo, dh_next, ldd, dt, ldt, dh_prev, lddh);
    tl_rnn_cell_backward_params(c, N, x, ldx, h_prev, ldh, dt, ldt, dx, lddx);
}
