/* The GRU cell, one step, in two halves (see gru.h). Gate blocks r, z, n
 * (PyTorch's order and function):
 *
 *   forward:   A  = x·Wx + b                    (blocks r, z, n; one GEMM over all rows)
 *              hh = h·Wh + [0, 0, bhn]
 *              r = σ(A_r + hh_r),  z = σ(A_z + hh_z),  hn = hh_n
 *              n = tanh(A_n + r⊙hn),  h' = n + z⊙(h − n)
 *   backward:  dñ = dh'⊙(1 − z)⊙(1 − n²),  dhn = dñ⊙r,  dr̃ = dñ⊙hn⊙r(1 − r),
 *              dz̃ = dh'⊙(h − n)⊙z(1 − z)
 *              dAh = [dr̃, dz̃, dhn],  dAx = [dr̃, dz̃, dñ]
 *              dh = z⊙dh' + dAh·Whᵀ;  dWh += hᵀ·dAh;  dbhn += Σ_rows dhn
 *              dWx += xᵀ·dAx;  db += Σ_rows dAx;  dx = dAx·Wxᵀ
 *
 * The x side and the h side see different gradients only in the n block (r
 * gates the recurrent part of n alone), so backward keeps two (N, 3H)
 * matrices and every product stays one GEMM. The step stores hn next to the
 * gates because dr̃ needs it. The element-wise halves are the vectorised
 * tl_gru_gates_forward / tl_gru_gates_backward of lib/kernels/vmath.c, which
 * TimeGRU calls directly on parts of the hidden units.
 */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "timelayers/gru.h"

tl_status tl_gru_cell_init(tl_gru_cell *cell, int in_dim, int hidden, tl_rng *rng)
{
    if (!cell)
        return tl_fail(TL_ERR_ARG, "tl_gru_cell_init: cell is NULL");
    memset(cell, 0, sizeof *cell);
    if (in_dim <= 0 || hidden <= 0)
        return tl_fail(TL_ERR_ARG, "GRU cell: sizes must be positive (got D=%d, H=%d)", in_dim,
                       hidden);
    if (hidden > INT_MAX / 4)
        return tl_fail(TL_ERR_NOMEM, "GRU cell: 4*H with H=%d exceeds the int range", hidden);
    *cell = (tl_gru_cell){.in_dim = in_dim, .hidden = hidden};
    int G = 3 * hidden;
    tl_status st = tl_param_init(&cell->params[TL_GRU_WX], "Wx", 2, (int[]){in_dim, G}, rng,
                                 1.0 / sqrt((double)in_dim));
    if (!st)
        st = tl_param_init(&cell->params[TL_GRU_WH], "Wh", 2, (int[]){hidden, G}, rng,
                           1.0 / sqrt((double)hidden));
    if (!st)
        st = tl_param_init(&cell->params[TL_GRU_B], "b", 1, (int[]){G}, NULL, 0);
    if (!st)
        st = tl_param_init(&cell->params[TL_GRU_BHN], "bhn", 1, (int[]){hidden}, NULL, 0);
    if (st)
        tl_gru_cell_free(cell);
    return st;
}

void tl_gru_cell_free(tl_gru_cell *cell)
{
    if (cell)
        tl_params_free(cell->params, TL_GRU_NPARAMS);
}

void tl_gru_cell_project(const tl_gru_cell *cell, int rows, const tl_real *x, int ldx,
                         tl_real *gates, int ldg)
{
    int G = 3 * cell->hidden;
    const tl_real *b = cell->params[TL_GRU_B].value.data;
    for (int r = 0; r < rows; r++)
        memcpy(gates + (size_t)r * ldg, b, (size_t)G * sizeof(tl_real));
    tl_gemm(false, false, rows, G, cell->in_dim, 1, x, ldx, cell->params[TL_GRU_WX].value.data,
            G, 1, gates, ldg);
}

void tl_gru_cell_step(const tl_gru_cell *cell, int N, const tl_real *h_prev, int ldh,
                      tl_real *gates, int ldg, tl_real *hh, int ldhh, tl_real *h_next, int ldhn)
{
    int H = cell->hidden;
    tl_gru_hh_init(N, H, cell->params[TL_GRU_BHN].value.data, hh, ldhh, 0, H);
    if (h_prev)
        tl_gemm(false, false, N, 3 * H, H, 1, h_prev, ldh, cell->params[TL_GRU_WH].value.data,
                3 * H, 1, hh, ldhh);
    for (int n = 0; n < N; n++)
        tl_gru_gates_forward(H, H, gates + (size_t)n * ldg, hh + (size_t)n * ldhh,
                             h_prev ? h_prev + (size_t)n * ldh : NULL, h_next + (size_t)n * ldhn);
}

void tl_gru_cell_forward(const tl_gru_cell *cell, int N, const tl_real *x, int ldx,
                         const tl_real *h_prev, int ldh, tl_real *gates, int ldg, tl_real *hh,
                         int ldhh, tl_real *h_next, int ldhn)
{
    tl_gru_cell_project(cell, N, x, ldx, gates, ldg);
    tl_gru_cell_step(cell, N, h_prev, ldh, gates, ldg, hh, ldhh, h_next, ldhn);
}

void tl_gru_cell_backward_step(const tl_gru_cell *cell, int N, const tl_real *gates, int ldg,
                               const tl_real *h_prev, int ldh, const tl_real *dh_next, int lddh,
                               tl_real *dAh, int lddah, tl_real *dAx, int lddax, tl_real *dh_prev,
                               int lddhp)
{
    int H = cell->hidden;
    for (int n = 0; n < N; n++)
        tl_gru_gates_backward(H, H, gates + (size_t)n * ldg,
                              h_prev ? h_prev + (size_t)n * ldh : NULL, dh_next + (size_t)n * lddh,
                              dAh + (size_t)n * lddah, dAx + (size_t)n * lddax,
                              dh_prev ? dh_prev + (size_t)n * lddhp : NULL);
    if (dh_prev)
        tl_gemm(false, true, N, H, 3 * H, 1, dAh, lddah, cell->params[TL_GRU_WH].value.data,
                3 * H, 1, dh_prev, lddhp);
}

void tl_gru_cell_backward_params(tl_gru_cell *cell, int rows, const tl_real *x, int ldx,
                                 const tl_real *h_prev, int ldh, const tl_real *dAh, int lddah,
                                 const tl_real *dAx, int lddax, tl_real *dx, int lddx)
{
    int D = cell->in_dim, H = cell->hidden, G = 3 * H;
    tl_gemm(true, false, D, G, rows, 1, x, ldx, dAx, lddax, 1, cell->params[TL_GRU_WX].grad.data,
            G);
    if (h_prev)
        tl_gemm(true, false, H, G, rows, 1, h_prev, ldh, dAh, lddah, 1,
                cell->params[TL_GRU_WH].grad.data, G);
    tl_add_column_sums(rows, G, dAx, lddax, cell->params[TL_GRU_B].grad.data);
    tl_add_column_sums(rows, H, dAh + 2 * H, lddah, cell->params[TL_GRU_BHN].grad.data);
    if (dx)
        tl_gemm(false, true, rows, D, G, 1, dAx, lddax, cell->params[TL_GRU_WX].value.data, G, 0,
                dx, lddx);
}

void tl_gru_cell_backward(tl_gru_cell *cell, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *gates, int ldg,
                          const tl_real *dh_next, int lddh, tl_real *dAh, int lddah, tl_real *dAx,
                          int lddax, tl_real *dx, int lddx, tl_real *dh_prev, int lddhp)
{
    tl_gru_cell_backward_step(cell, N, gates, ldg, h_prev, ldh, dh_next, lddh, dAh, lddah, dAx,
                              lddax, dh_prev, lddhp);
    tl_gru_cell_backward_params(cell, N, x, ldx, h_prev, ldh, dAh, lddah, dAx, lddax, dx, lddx);
}
