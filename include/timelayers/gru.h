/* timelayers: the GRU cell and TimeGRU, in PyTorch's formulation.
 *
 * Parameters: Wx (D, 3H), Wh (H, 3H), b (3H) and bhn (H). The three H-wide
 * column blocks are the gates in PyTorch's order r, z, n. One step maps an
 * input row x and the previous state h to
 *
 *     r  = σ(x·Wx_r + h·Wh_r + b_r)
 *     z  = σ(x·Wx_z + h·Wh_z + b_z)
 *     hn = h·Wh_n + bhn
 *     n  = tanh(x·Wx_n + b_n + r⊙hn)
 *     h' = (1 − z)⊙n + z⊙h
 *
 * This is nn.GRU's function: its weight_ih, weight_hh are Wxᵀ, Whᵀ; its
 * biases map as b = [b_ir + b_hr, b_iz + b_hz, b_in] and bhn = b_hn, so
 * PyTorch weights load exactly (the recurrent bias of n cannot be folded
 * into b because r multiplies it). The textbook reference's GRU computes the
 * candidate as tanh(x·W + (r⊙h)·U + b), which is a different function: no
 * conversion exists between the two (docs/semantics.md).
 *
 * The cell API is low level and BLAS-like, as the LSTM cell's (lstm.h): raw
 * row-major pointers with leading dimensions (row strides), nothing checked.
 * "gates" is an (N, 4H) matrix holding r, z, n and hn of a step.
 *
 *   input half      gates[:, 0:3H] = x·Wx + b                 tl_gru_cell_project
 *   recurrent half  hh = h·Wh + [0, 0, bhn]; gates; h'         tl_gru_cell_step
 *
 *   recurrent half  dAh = [dr̃, dz̃, dhn], dAx = [dr̃, dz̃, dñ]   tl_gru_cell_backward_step
 *                   dh = z⊙dh' + dAh·Whᵀ
 *   parameter half  dWx += xᵀ·dAx, dWh += hᵀ·dAh,              tl_gru_cell_backward_params
 *                   db += Σ dAx, dbhn += Σ dhn, dx = dAx·Wxᵀ
 *
 * with the pre-activation gradients (x̃ the argument of a gate's σ or tanh)
 *
 *     dñ = dh'⊙(1 − z)⊙(1 − n²),   dhn = dñ⊙r,
 *     dr̃ = dñ⊙hn⊙r(1 − r),         dz̃ = dh'⊙(h − n)⊙z(1 − z).
 *
 * Gradients accumulate (+=) into the params' grad tensors.
 */
#ifndef TIMELAYERS_GRU_H
#define TIMELAYERS_GRU_H

#include <stdbool.h>
#include "timelayers/layer.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { TL_GRU_WX = 0, TL_GRU_WH = 1, TL_GRU_B = 2, TL_GRU_BHN = 3, TL_GRU_NPARAMS = 4 };

typedef struct tl_gru_cell {
    int in_dim, hidden;               /* D, H */
    tl_param params[TL_GRU_NPARAMS];  /* "Wx" (D, 3H), "Wh" (H, 3H), "b" (3H), "bhn" (H) */
} tl_gru_cell;

/* Allocate the parameters of a cell (the struct is the caller's). Wx is drawn
 * from N(0, 1/D) and Wh from N(0, 1/H) with rng, as the other cells; b and
 * bhn are zero; everything is zero when rng is NULL. Errors: TL_ERR_ARG for a
 * NULL cell or non-positive sizes; TL_ERR_NOMEM (also when 4H exceeds the
 * int range). On failure nothing stays allocated. */
tl_status tl_gru_cell_init(tl_gru_cell *cell, int in_dim, int hidden, tl_rng *rng);

/* Release the parameters. Safe on a zeroed or already freed cell and NULL. */
void tl_gru_cell_free(tl_gru_cell *cell);

/* Input half for `rows` rows: gates[:, 0:3H] = x·Wx + b. Columns 3H..4H are
 * not touched (lda >= 3H suffices). */
void tl_gru_cell_project(const tl_gru_cell *cell, int rows, const tl_real *x, int ldx,
                         tl_real *gates, int ldg);

/* Recurrent half: on entry gates[:, 0:3H] holds x·Wx + b. Writes hh (N, 3H,
 * caller scratch) = h_prev·Wh + [0, 0, bhn], then replaces gates by r, z, n,
 * hn (N, 4H) and writes h_next (N, H). h_prev NULL means zeros. gates and hh
 * overlap nothing; h_next may be h_prev (same pointer and ld). */
void tl_gru_cell_step(const tl_gru_cell *cell, int N, const tl_real *h_prev, int ldh,
                      tl_real *gates, int ldg, tl_real *hh, int ldhh, tl_real *h_next, int ldhn);

/* One full step: project, then step. */
void tl_gru_cell_forward(const tl_gru_cell *cell, int N, const tl_real *x, int ldx,
                         const tl_real *h_prev, int ldh, tl_real *gates, int ldg, tl_real *hh,
                         int ldhh, tl_real *h_next, int ldhn);

/* Recurrent half of the backward pass from the step's gates, h_prev (NULL:
 * zeros) and dh_next: dAh (N, 3H) = [dr̃, dz̃, dhn], dAx (N, 3H) = [dr̃, dz̃, dñ],
 * then dh_prev = z⊙dh_next + dAh·Whᵀ unless dh_prev is NULL. dh_prev may be
 * dh_next (same pointer and ld); no other overlap. No parameter gradient is
 * touched. */
void tl_gru_cell_backward_step(const tl_gru_cell *cell, int N, const tl_real *gates, int ldg,
                               const tl_real *h_prev, int ldh, const tl_real *dh_next, int lddh,
                               tl_real *dAh, int lddah, tl_real *dAx, int lddax, tl_real *dh_prev,
                               int lddhp);

/* Parameter half for `rows` rows: dWx += xᵀ·dAx, dWh += h_prevᵀ·dAh (skipped
 * when h_prev is NULL), db += Σ_rows dAx, dbhn += Σ_rows dAh[:, 2H:3H], and
 * dx = dAx·Wxᵀ unless dx is NULL. TimeGRU calls it once with rows = N·T. */
void tl_gru_cell_backward_params(tl_gru_cell *cell, int rows, const tl_real *x, int ldx,
                                 const tl_real *h_prev, int ldh, const tl_real *dAh, int lddah,
                                 const tl_real *dAx, int lddax, tl_real *dx, int lddx);

/* Backward of one full step (tl_gru_cell_forward with the same x, h_prev and
 * its gates): accumulates the parameter gradients, writes dx (N, D) and,
 * unless NULL, dh_prev (N, H). dAh, dAx (N, 3H) are caller scratch. */
void tl_gru_cell_backward(tl_gru_cell *cell, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *gates, int ldg,
                          const tl_real *dh_next, int lddh, tl_real *dAh, int lddah, tl_real *dAx,
                          int lddax, tl_real *dx, int lddx, tl_real *dh_prev, int lddhp);

/* TimeGRU: the cell applied along time, (N, T, D) -> (N, T, H), the hidden
 * states h_t. params() returns "Wx", "Wh", "b", "bhn".
 *
 * State: h alone, with exactly the rules of TimeRNN (rnn.h, "State"):
 * stateful or not, reset_state / get_state / set_state(h, NULL) (a c is
 * refused with TL_ERR_ARG), truncated BPTT with dh0 from state_grad after
 * backward, TL_ERR_STATE for a held state of another batch size.
 *
 * Errors of forward: TL_ERR_SHAPE unless x is (N, T, D) with N, T >= 1;
 * TL_ERR_STATE as above; TL_ERR_NOMEM. Errors of backward: TL_ERR_STATE
 * before a successful forward; TL_ERR_SHAPE unless dy has the output's shape.
 *
 * Weights are initialised as in tl_gru_cell_init. The caller owns *out
 * (tl_layer_destroy) unless it hands it to a model. Errors: TL_ERR_ARG for a
 * NULL out or non-positive sizes; TL_ERR_NOMEM. */
tl_status tl_time_gru_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                             tl_rng *rng);

/* Recurrent (hidden-to-hidden) variational dropout, as TimeLSTM's
 * (tl_time_lstm_set_recurrent_dropout: one mask M (N, H) per forward in
 * training mode, M = m/(1 − p), m ~ Bernoulli(1 − p), from the layer's mode).
 * M multiplies h_{t-1} where it enters the product with Wh, for all three
 * gate blocks: hh = (h_{t-1}⊙M)·Wh + [0, 0, bhn]; the carry z⊙h_{t-1} in
 * h' = (1 − z)⊙n + z⊙h_{t-1} keeps h_{t-1} unmasked (Gal and Ghahramani 2016
 * drop the recurrent connections; the carry is the state itself). The
 * description carries "rec_dropout" when p > 0. TL_ERR_ARG when l is not a
 * TimeGRU or p is outside [0, 1). */
tl_status tl_time_gru_set_recurrent_dropout(tl_layer *l, double p);

#ifdef __cplusplus
}
#endif
#endif
