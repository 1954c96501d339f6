/* timelayers: the LSTM cell and TimeLSTM.
 *
 * Parameters: Wx (D, 4H), Wh (H, 4H), b (4H), whose four H-wide column
 * blocks are the gates in the order f, g, i, o (the reference's order; see
 * docs/semantics.md for converting PyTorch's i, f, g, o). One step maps an
 * input row x and the previous state (h, c) to
 *
 *     A  = x·Wx + h·Wh + b
 *     f  = σ(A_f),  g = tanh(A_g),  i = σ(A_i),  o = σ(A_o)
 *     c' = f⊙c + g⊙i,   h' = o⊙tanh(c')
 *
 * σ is evaluated in a form that cannot overflow, so any finite
 * pre-activation gives finite gates.
 *
 * The cell API below is low level and BLAS-like, exactly as the RNN cell's
 * (rnn.h): raw row-major pointers with leading dimensions (row strides), so
 * that TimeLSTM and one-step callers pass time-step slices of (N, T, ·)
 * buffers without copying. These functions check nothing; the caller
 * guarantees the sizes, and each ld is at least the row width. "gates" is an
 * (N, 4H) matrix holding the activations f, g, i, o of a step.
 *
 *   input half      a = x·Wx + b                              tl_lstm_cell_project
 *   recurrent half  a += h·Wh; a -> gates; c', h'             tl_lstm_cell_step
 *
 *   recurrent half  dA from gates, c, c', dh', dc';           tl_lstm_cell_backward_step
 *                   dc = ds⊙f, dh = dA·Whᵀ
 *   parameter half  dWx += xᵀ·dA, dWh += hᵀ·dA,               tl_lstm_cell_backward_params
 *                   db += Σ_rows dA, dx = dA·Wxᵀ
 *
 * with ds = dc' + dh'⊙o⊙(1 − tanh²(c')). tl_lstm_cell_forward and
 * tl_lstm_cell_backward are these halves called in sequence for one step.
 *
 * Gradients accumulate (+=) into the params' grad tensors; clear them with
 * tl_layer_zero_grad or tl_model_zero_grad.
 */
#ifndef TIMELAYERS_LSTM_H
#define TIMELAYERS_LSTM_H

#include <stdbool.h>
#include "timelayers/layer.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { TL_LSTM_WX = 0, TL_LSTM_WH = 1, TL_LSTM_B = 2, TL_LSTM_NPARAMS = 3 };

typedef struct tl_lstm_cell {
    int in_dim, hidden;                /* D, H */
    tl_param params[TL_LSTM_NPARAMS];  /* "Wx" (D, 4H), "Wh" (H, 4H), "b" (4H) */
} tl_lstm_cell;

/* Allocate the parameters of a cell (the cell struct itself is the caller's).
 * Wx is drawn from N(0, 1/D) and Wh from N(0, 1/H) with rng (the reference's
 * initialisation), b is zero; every value is zero when rng is NULL.
 * Errors: TL_ERR_ARG for a NULL cell or non-positive sizes; TL_ERR_NOMEM
 * (also when 4H exceeds the int range). On failure nothing stays allocated
 * and the cell may still be passed to tl_lstm_cell_free. */
tl_status tl_lstm_cell_init(tl_lstm_cell *cell, int in_dim, int hidden, tl_rng *rng);

/* Release the parameters. Safe on a zeroed or already freed cell and NULL. */
void tl_lstm_cell_free(tl_lstm_cell *cell);

/* Input half for `rows` rows: a = x·Wx + b.  x (rows, D), a (rows, 4H).
 * a must not overlap x. */
void tl_lstm_cell_project(const tl_lstm_cell *cell, int rows, const tl_real *x, int ldx,
                          tl_real *a, int lda);

/* Recurrent half: on entry a (N, 4H) holds x·Wx + b (from
 * tl_lstm_cell_project). Adds h_prev·Wh, then replaces a by the gates
 * f, g, i, o and writes c_next = f⊙c_prev + g⊙i and h_next = o⊙tanh(c_next),
 * all (N, H). h_prev NULL and c_prev NULL each mean zeros (the product is
 * skipped for h). a must overlap none of the others. For an in-place state
 * update, c_next may be c_prev and h_next may be h_prev (same pointer and ld;
 * h_prev is fully read before h_next is written); otherwise state buffers
 * must not overlap. */
void tl_lstm_cell_step(const tl_lstm_cell *cell, int N, const tl_real *h_prev, int ldh,
                       const tl_real *c_prev, int ldc, tl_real *a, int lda, tl_real *c_next,
                       int ldcn, tl_real *h_next, int ldhn);

/* One full step: gates, c_next and h_next from x, h_prev and c_prev (NULL =
 * zeros). gates (N, 4H) is the caller's buffer and must overlap nothing;
 * backward needs it. Aliasing of the state as in tl_lstm_cell_step. */
void tl_lstm_cell_forward(const tl_lstm_cell *cell, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *c_prev, int ldc,
                          tl_real *gates, int ldg, tl_real *c_next, int ldcn, tl_real *h_next,
                          int ldhn);

/* Recurrent half of the backward pass, from the gates, c_prev (NULL = zeros)
 * and c_next of the forward step and the incoming dh_next and dc_next (both
 * required), in one pass per row:
 *
 *     ds = dc' + dh'⊙o⊙(1 − tanh²(c'))
 *     dA = [ds⊙c⊙f(1−f), ds⊙i⊙(1−g²), ds⊙g⊙i(1−i), dh'⊙tanh(c')⊙o(1−o)]
 *     dc_prev = ds⊙f                 (skipped when dc_prev is NULL)
 *
 * then dh_prev = dA·Whᵀ unless dh_prev is NULL. dA (N, 4H) may be the gates
 * buffer itself (the gates are then overwritten); dc_prev may be dc_next and
 * dh_prev may be dh_next (same pointer and ld: dh_next is fully read before
 * dh_prev is written). No other overlap is allowed. No parameter gradient is
 * touched. */
void tl_lstm_cell_backward_step(const tl_lstm_cell *cell, int N, const tl_real *gates, int ldg,
                                const tl_real *c_prev, int ldc, const tl_real *c_next, int ldcn,
                                const tl_real *dh_next, int lddh, const tl_real *dc_next,
                                int lddc, tl_real *dA, int ldda, tl_real *dc_prev, int lddcp,
                                tl_real *dh_prev, int lddhp);

/* Parameter half of the backward pass for `rows` rows, given dA from
 * tl_lstm_cell_backward_step: dWx += xᵀ·dA, dWh += h_prevᵀ·dA (skipped when
 * h_prev is NULL, the zero state), db += Σ_rows dA, and dx = dA·Wxᵀ unless dx
 * is NULL. dx must overlap neither dA nor x. TimeLSTM calls it once with
 * rows = N·T. */
void tl_lstm_cell_backward_params(tl_lstm_cell *cell, int rows, const tl_real *x, int ldx,
                                  const tl_real *h_prev, int ldh, const tl_real *dA, int ldda,
                                  tl_real *dx, int lddx);

/* Backward of one full step (tl_lstm_cell_forward with the same x, h_prev,
 * c_prev and its gates and c_next): accumulates dWx, dWh, db; writes dx
 * (N, D) and, unless NULL, dc_prev and dh_prev (N, H). dA (N, 4H) is caller
 * scratch and may be the gates buffer; aliasing as in
 * tl_lstm_cell_backward_step. */
void tl_lstm_cell_backward(tl_lstm_cell *cell, int N, const tl_real *x, int ldx,
                           const tl_real *h_prev, int ldh, const tl_real *c_prev, int ldc,
                           const tl_real *gates, int ldg, const tl_real *c_next, int ldcn,
                           const tl_real *dh_next, int lddh, const tl_real *dc_next, int lddc,
                           tl_real *dA, int ldda, tl_real *dx, int lddx, tl_real *dc_prev,
                           int lddcp, tl_real *dh_prev, int lddhp);

/* TimeLSTM: the cell applied along time. Input (N, T, D) -> output (N, T, H),
 * the hidden states h_t, batch-major like the reference. params() returns
 * the cell's parameters "Wx", "Wh", "b".
 *
 * State (see docs/semantics.md, "State"): the pair (h, c), with the rules of
 * TimeRNN (rnn.h):
 * - stateful: the last (h, c) of a forward is where the next forward starts.
 *   A forward with a batch size other than the held state's is TL_ERR_STATE
 *   until reset_state (or set_state with a state of the new size).
 * - not stateful: each forward starts from zeros, unless set_state was called
 *   since the previous forward; that state is used by the next forward only.
 *   The batch size may change freely.
 * - get_state returns the current h and c: after a forward the last ones, in
 *   both modes; after set_state the state set; a tensor of size 0 means
 *   zeros (after creation or reset_state both are; after set_state(h, NULL)
 *   c is).
 * - set_state(h, c) copies h, which must be (N, H) with N >= 1, and c, which
 *   must have the same shape or be NULL (meaning zeros): TL_ERR_SHAPE
 *   otherwise, and the held state is unchanged. A set state whose batch size
 *   differs from the next input's makes that forward fail with TL_ERR_STATE.
 *   TL_ERR_NOMEM leaves the zero state.
 * - reset_state goes back to the zero state without freeing memory.
 * - backward is truncated BPTT: the carried dh and dc start at zero at the
 *   last step. state_grad then returns dh0 and dc0 (N, H), the gradients
 *   w.r.t. the state the last forward started from (also when that was the
 *   zero state). TL_ERR_STATE before any backward.
 *
 * Errors of forward: TL_ERR_SHAPE unless x is (N, T, D) with N, T >= 1;
 * TL_ERR_STATE for the batch-size mismatch above; TL_ERR_NOMEM.
 * Errors of backward: TL_ERR_STATE before a successful forward; TL_ERR_SHAPE
 * unless dy has the output's shape.
 *
 * Weights are initialised as in tl_lstm_cell_init. The caller owns *out
 * (tl_layer_destroy) unless it hands it to a model. Errors: TL_ERR_ARG for a
 * NULL out or non-positive sizes; TL_ERR_NOMEM. */
tl_status tl_time_lstm_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                              tl_rng *rng);

/* Recurrent (hidden-to-hidden) variational dropout: in training mode each
 * forward draws one mask M (N, H), M = m/(1 − p) with m ~ Bernoulli(1 − p),
 * and every step uses h_{t-1}⊙M in its product with Wh (Gal and Ghahramani
 * 2016). Evaluation mode and p = 0 leave the layer as it is. The mask is a
 * pure function of the layer's mode (layer.h) like TimeDropout's, from a
 * stream of its own. Its description carries the field "rec_dropout" when
 * p > 0. TL_ERR_ARG when l is not a TimeLSTM or p is outside [0, 1). */
tl_status tl_time_lstm_set_recurrent_dropout(tl_layer *l, double p);

#ifdef __cplusplus
}
#endif
#endif
