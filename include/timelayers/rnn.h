/* timelayers: the simple RNN cell and TimeRNN.
 *
 * Parameters: Wx (D, H), Wh (H, H), b (H). One step maps an input row x and
 * the previous hidden state h to
 *
 *     h' = act(x·Wx + h·Wh + b),    act = tanh (default) or the logistic σ.
 *
 * The cell API below is low level and BLAS-like: raw row-major pointers with
 * leading dimensions (row strides), so that TimeRNN (and callers running one
 * step at a time, e.g. a sampler) can pass time-step slices of (N, T, H)
 * buffers with ld = T*H without copying. These functions check nothing; the
 * caller guarantees the sizes, and each ld is at least the row width.
 *
 * A step is split in two halves so that sequence layers can batch the half
 * that does not depend on the previous step over all time steps:
 *
 *   input half      a  = x·Wx + b                        tl_rnn_cell_project
 *   recurrent half  h' = act(a + h·Wh)                   tl_rnn_cell_step
 *
 *   recurrent half  dt = dh' ⊙ act'(h'),  dh = dt·Whᵀ    tl_rnn_cell_backward_step
 *   parameter half  dWx += xᵀ·dt, dWh += hᵀ·dt,          tl_rnn_cell_backward_params
 *                   db += Σ_rows dt, dx = dt·Wxᵀ
 *
 * tl_rnn_cell_forward and tl_rnn_cell_backward are exactly these halves
 * called in sequence for a single step. The bias belongs to the input half,
 * so TimeRNN adds it in its one big input GEMM pass.
 *
 * Gradients accumulate (+=) into the params' grad tensors; clear them with
 * tl_layer_zero_grad or tl_model_zero_grad.
 */
#ifndef TIMELAYERS_RNN_H
#define TIMELAYERS_RNN_H

#include <stdbool.h>
#include "timelayers/layer.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_activation { TL_ACT_TANH = 0, TL_ACT_SIGMOID = 1 } tl_activation;

enum { TL_RNN_WX = 0, TL_RNN_WH = 1, TL_RNN_B = 2, TL_RNN_NPARAMS = 3 };

typedef struct tl_rnn_cell {
    int in_dim, hidden;          /* D, H */
    tl_activation act;
    tl_param params[TL_RNN_NPARAMS]; /* "Wx" (D, H), "Wh" (H, H), "b" (H) */
} tl_rnn_cell;

/* Allocate the parameters of a cell (the cell struct itself is the caller's).
 * Wx is drawn from N(0, 1/D) and Wh from N(0, 1/H) with rng (the reference's
 * initialisation), b is zero; every value is zero when rng is NULL.
 * Errors: TL_ERR_ARG for a NULL cell, non-positive sizes or an unknown
 * activation; TL_ERR_NOMEM. On failure nothing stays allocated and the cell
 * may still be passed to tl_rnn_cell_free. */
tl_status tl_rnn_cell_init(tl_rnn_cell *c, int in_dim, int hidden, tl_activation act,
                           tl_rng *rng);

/* Release the parameters. Safe on a zeroed or already freed cell and NULL. */
void tl_rnn_cell_free(tl_rnn_cell *c);

/* Input half for `rows` rows: a = x·Wx + b.  x (rows, D), a (rows, H).
 * a must not overlap x. */
void tl_rnn_cell_project(const tl_rnn_cell *c, int rows, const tl_real *x, int ldx, tl_real *a,
                         int lda);

/* Recurrent half: on entry a (N, H) holds x·Wx + b (from tl_rnn_cell_project);
 * on return it holds h' = act(a + h_prev·Wh). h_prev NULL means the zero state
 * (the product is skipped). h_prev must not overlap a. */
void tl_rnn_cell_step(const tl_rnn_cell *c, int N, const tl_real *h_prev, int ldh, tl_real *a,
                      int lda);

/* One full step: h_next = act(x·Wx + h_prev·Wh + b). h_prev NULL = zero
 * state. h_next must overlap neither x nor h_prev (it is written before
 * h_prev is read), so an in-place update needs two state buffers. */
void tl_rnn_cell_forward(const tl_rnn_cell *c, int N, const tl_real *x, int ldx,
                         const tl_real *h_prev, int ldh, tl_real *h_next, int ldo);

/* Recurrent half of the backward pass: dt = dh_next ⊙ act'(h_next) (the
 * derivative is taken from the output: 1 − h'² for tanh, h'(1 − h') for σ),
 * then dh_prev = dt·Whᵀ unless dh_prev is NULL. dt (N, H) may be the same
 * buffer as dh_next (updated in place) but must not overlap dh_prev.
 * No parameter gradient is touched. */
void tl_rnn_cell_backward_step(const tl_rnn_cell *c, int N, const tl_real *h_next, int ldo,
                               const tl_real *dh_next, int ldd, tl_real *dt, int ldt,
                               tl_real *dh_prev, int lddh);

/* Parameter half of the backward pass for `rows` rows, given dt from
 * tl_rnn_cell_backward_step: dWx += xᵀ·dt, dWh += h_prevᵀ·dt (skipped when
 * h_prev is NULL, the zero state), db += Σ_rows dt, and dx = dt·Wxᵀ unless dx
 * is NULL. TimeRNN calls it once with rows = N·T. */
void tl_rnn_cell_backward_params(tl_rnn_cell *c, int rows, const tl_real *x, int ldx,
                                 const tl_real *h_prev, int ldh, const tl_real *dt, int ldt,
                                 tl_real *dx, int lddx);

/* Backward of one full step (tl_rnn_cell_forward with the same x, h_prev and
 * its output h_next): accumulates dWx, dWh, db; writes dx (N, D) and, unless
 * NULL, dh_prev (N, H). dt (N, H) is caller scratch and may be the dh_next
 * buffer itself (then dh_next is overwritten). */
void tl_rnn_cell_backward(tl_rnn_cell *c, int N, const tl_real *x, int ldx,
                          const tl_real *h_prev, int ldh, const tl_real *h_next, int ldo,
                          const tl_real *dh_next, int ldd, tl_real *dt, int ldt, tl_real *dx,
                          int lddx, tl_real *dh_prev, int lddh);

/* TimeRNN: the cell applied along time. Input (N, T, D) -> output (N, T, H),
 * batch-major like the reference. params() returns the cell's parameters
 * "Wx", "Wh", "b".
 *
 * State (see docs/semantics.md, "State"):
 * - stateful: the last h of a forward is where the next forward starts.
 *   A forward with a batch size other than the held state's is TL_ERR_STATE
 *   until reset_state (or set_state with a state of the new size).
 * - not stateful: each forward starts from zeros, unless set_state was called
 *   since the previous forward; that state is used by the next forward only.
 *   The batch size may change freely.
 * - get_state returns the current state: after a forward the last h, in
 *   both modes (as the reference does); after set_state the state set; after
 *   creation or reset_state a tensor of size 0, meaning zeros. *c is NULL.
 * - set_state(h, NULL) copies h, which must be (N, H) with N >= 1: TL_ERR_SHAPE
 *   otherwise, TL_ERR_ARG when c is not NULL. A set state whose batch size
 *   differs from the next input's makes that forward fail with TL_ERR_STATE.
 * - reset_state goes back to the zero state without freeing memory.
 * - backward is truncated BPTT: the carried dh starts at zero at the last
 *   step, whatever happened in earlier chunks. state_grad then returns dh0
 *   (N, H), the gradient w.r.t. the state the last forward started from (also
 *   when that was the zero state); *dc0 is NULL. TL_ERR_STATE before any
 *   backward.
 *
 * Errors of forward: TL_ERR_SHAPE unless x is (N, T, D) with N, T >= 1;
 * TL_ERR_STATE for the batch-size mismatch above; TL_ERR_NOMEM.
 * Errors of backward: TL_ERR_STATE before a successful forward; TL_ERR_SHAPE
 * unless dy has the output's shape.
 *
 * Weights are initialised as in tl_rnn_cell_init. The caller owns *out
 * (tl_layer_destroy) unless it hands it to a model. Errors: TL_ERR_ARG for a
 * NULL out, non-positive sizes or an unknown activation; TL_ERR_NOMEM. */
tl_status tl_time_rnn_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                             tl_activation act, tl_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
