/* The LSTM cell, one step, in two halves (see lstm.h). Gate blocks f, g, i, o:
 *
 *   forward:   A = x·Wx + b + h·Wh;  f, g, i, o = σ(A_f), tanh(A_g), σ(A_i), σ(A_o)
 *              c' = f⊙c + g⊙i;  h' = o⊙tanh(c')
 *   backward:  ds = dc' + dh'⊙o⊙(1 − tanh²(c'));  dc = ds⊙f
 *              dA_f = ds⊙c⊙f(1−f),  dA_g = ds⊙i⊙(1−g²),
 *              dA_i = ds⊙g⊙i(1−i),  dA_o = dh'⊙tanh(c')⊙o(1−o)
 *              dh = dA·Whᵀ;  dWx += xᵀ·dA;  dWh += hᵀ·dA;  db += Σ_rows dA;  dx = dA·Wxᵀ
 *
 * The derivatives come from the stored gate activations and c' (tanh(c') is
 * recomputed), so backward needs no pre-activations. Each half touches every
 * element of a row once: the gate nonlinearities, the cell update and the
 * output share one loop, as do the four gate derivatives (the vectorised
 * tl_lstm_gates_forward / tl_lstm_gates_backward of lib/kernels/vmath.c,
 * which TimeLSTM calls directly on parts of the hidden units).
 */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "timelayers/lstm.h"

tl_status tl_lstm_cell_init(tl_lstm_cell *cell, int in_dim, int hidden, tl_rng *rng)
{
    if (!cell)
        return tl_fail(TL_ERR_ARG, "tl_lstm_cell_init: cell is NULL");
    memset(cell, 0, sizeof *cell);
    if (in_dim <= 0 || hidden <= 0)
        return tl_fail(TL_ERR_ARG, "LSTM cell: sizes must be positive (got D=%d, H=%d)", in_dim,
                       hidden);
    if (hidden > INT_MAX / 4)
        return tl_fail(TL_ERR_NOMEM, "LSTM cell: 4*H with H=%d exceeds the int range", hidden);
    *cell = (tl_lstm_cell){.in_dim = in_dim, .hidden = hidden};
    int G = 4 * hidden;
    tl_status st = tl_param_init(&cell->params[TL_LSTM_WX], "Wx", 2, (int[]){in_dim, G}, rng,
                                 1.0 / sqrt((double)in_dim));
    if (!st)
        st = tl_param_init(&cell->params[TL_LSTM_WH], "Wh", 2, (int[]){hidden, G}, rng,
                           1.0 / sqrt((double)hidden));
    if (!st)
        st = tl_param_init(&cell->params[TL_LSTM_B], "b", 1, (int[]){G}, NULL, 0);
    if (st)
        tl_lstm_cell_free(cell);
    return st;
}

void tl_lstm_cell_free(tl_lstm_cell *cell)
{
    if (cell)
        tl_params_free(cell->params, TL_LSTM_NPARAMS);
}

void tl_lstm_cell_project(const tl_lstm_cell *cell, int rows, const tl_real *x, int ldx,
                          tl_real *a, int lda)
{
    int G = 4 * cell->hidden;
    const tl_real *b = cell->params[TL_LSTM_B].value.data;
    for (int r = 0; r < rows; r++)
        memcpy(a + (size_t)r * lda, b, (size_t)G * sizeof(tl_real));
    tl_gemm(false, false, rows, G, cell->in_dim, 1, x, ldx, cell->params[TL_LSTM_WX].value.data,
            G, 1, a, lda);
}

void tl_lstm_cell_step(const tl_lstm_cell *cell, int N, const tl_real *h_prev, int ldh,
                       const tl_real *c_prev, int ldc, tl_real *a, int lda, tl_real *c_next,
                       int ldcn, tl_real *h_next, int ldhn)
{
    int H = cell->hidden;
    if (h_prev)
        tl_gemm(false, false, N, 4 * H, H, 1, h_prev, ldh, cell->params[TL_LSTM_WH].value.data,
                4 * H, 1, a, lda);
    for (int n = 0; n < N; n++)
        tl_lstm_gates_forward(H, H, a + (size_t)n * lda, c_prev ? c_prev + (size_t)n * ldc : NULL,
                              c_next + (size_t)n * ldcn, h_next + (size_t)n * ldhn);
}

void tl_lstm_cell_forward(const tl_lstm_cell *cell, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *c_prev, int ldc,
                          tl_real *gates, int ldg, tl_real *c_next, int ldcn, tl_real *h_next,
                          int ldhn)
{
    tl_lstm_cell_project(cell, N, x, ldx, gates, ldg);
    tl_lstm_cell_step(cell, N, h_prev, ldh, c_prev, ldc, gates, ldg, c_next, ldcn, h_next, ldhn);
}

void tl_lstm_cell_backward_step(const tl_lstm_cell *cell, int N, const tl_real *gates, int ldg,
                                const tl_real *c_prev, int ldc, const tl_real *c_next, int ldcn,
                                const tl_real *dh_next, int lddh, const tl_real *dc_next,
                                int lddc, tl_real *dA, int ldda, tl_real *dc_prev, int lddcp,
                                tl_real *dh_prev, int lddhp)
{
    int H = cell->hidden;
    for (int n = 0; n < N; n++)
        tl_lstm_gates_backward(H, H, gates + (size_t)n * ldg,
                               c_prev ? c_prev + (size_t)n * ldc : NULL, c_next + (size_t)n * ldcn,
                               dh_next + (size_t)n * lddh, dc_next + (size_t)n * lddc,
                               dA + (size_t)n * ldda, dc_prev ? dc_prev + (size_t)n * lddcp : NULL);
    if (dh_prev)
        tl_gemm(false, true, N, H, 4 * H, 1, dA, ldda, cell->params[TL_LSTM_WH].value.data,
                4 * H, 0, dh_prev, lddhp);
}

void tl_lstm_cell_backward_params(tl_lstm_cell *cell, int rows, const tl_real *x, int ldx,
                                  const tl_real *h_prev, int ldh, const tl_real *dA, int ldda,
                                  tl_real *dx, int lddx)
{
    int D = cell->in_dim, H = cell->hidden, G = 4 * H;
    tl_gemm(true, false, D, G, rows, 1, x, ldx, dA, ldda, 1, cell->params[TL_LSTM_WX].grad.data,
            G);
    if (h_prev)
        tl_gemm(true, false, H, G, rows, 1, h_prev, ldh, dA, ldda, 1,
                cell->params[TL_LSTM_WH].grad.data, G);
    tl_add_column_sums(rows, G, dA, ldda, cell->params[TL_LSTM_B].grad.data);
    if (dx)
        tl_gemm(false, true, rows, D, G, 1, dA, ldda, cell->params[TL_LSTM_WX].value.data, G, 0,
                dx, lddx);
}

void tl_lstm_cell_backward(tl_lstm_cell *cell, int N, const tl_real *x, int ldx,
                           const tl_real *h_prev, int ldh, const tl_real *c_prev, int ldc,
                           const tl_real *gates, int ldg, const tl_real *c_next, int ldcn,
                           const tl_real *dh_next, int lddh, const tl_real *dc_next, int lddc,
                           tl_real *dA, int ldda, tl_real *dx, int lddx, tl_real *dc_prev,
                           int lddcp, tl_real *dh_prev, int lddhp)
{
    tl_lstm_cell_backward_step(cell, N, gates, ldg, c_prev, ldc, c_next, ldcn, dh_next, lddh,
                               dc_next, lddc, dA, ldda, dc_prev, lddcp, dh_prev, lddhp);
    tl_lstm_cell_backward_params(cell, N, x, ldx, h_prev, ldh, dA, ldda, dx, lddx);
}
