/* What TimeRNN, TimeLSTM and TimeGRU share: the state mechanism, the
 * buffers and checks of a pass, recurrent dropout and the common ops
 * entries. Internal: not installed.
 *
 * A recurrent layer struct starts with a tl_recurrent (its tl_layer header
 * followed by the rest), so that the ops entries below serve every
 * recurrent layer as they are (TL_RECURRENT_OPS in its table). Its forward
 * calls tl_recurrent_begin (checks x, decides where the pass starts and
 * copies that into h0, c0, sizes y, draws the dropout mask) and
 * tl_recurrent_end (the last step becomes the held state); its backward
 * calls tl_recurrent_begin_backward (checks dy, sizes dx, dh, dh0, dc0 and
 * the window buffers) and tl_recurrent_backward_windows. The state rules
 * are those of rnn.h ("State"); the dropout those of lstm.h.
 *
 * Backward by windows of steps. Backward needs the gradient of the gate
 * pre-activations (dA) of a step for its own parameter products and for
 * the recurrent product of the step before it, and nothing after that. It
 * is kept for a window of W steps (about WINDOW_ROWS rows of all N
 * sequences) instead of all T: once the steps of a window are done, its rows
 * of X and of Hprev (h_{t-1} of every step: h0, then Y shifted one step) are
 * gathered into xw and hw, the parameter gradients get one GEMM each for the
 * window, dX of its rows is written over xw and scattered into dx, and the
 * dA of its first step moves to the slot from which the next (earlier)
 * window's last step reads it. A layer's dA buffers hold W + 1 steps, time
 * major: slot j is step t0 + j, N rows each. This keeps neither an
 * (N, T, G·H) dA nor an (N, T, H) copy of Hprev; the price is that the
 * parameter gradients are updated once per window rather than once.
  */
#ifndef TL_LAYERS_RECURRENT_H
#define TL_LAYERS_RECURRENT_H

#include <stdbool.h>
#include "timelayers/layer.h"
#include "timelayers/layer_config.h"
#include "../kernels/kernels.h"
#include "../workspace.h"

typedef struct tl_recurrent {
    tl_layer layer;       /* must be first: the ops receive a tl_layer * */
    int hidden;           /* H */
    int blocks;           /* H-wide blocks of the gate buffer: 1 RNN, 4 LSTM, 4 GRU (r, z, n, hn) */
    bool with_c;          /* a cell state c next to h (LSTM) */
    bool stateful;
    tl_param *params;     /* the cell's parameters, what the params entry lists */
    int nparams;

    tl_tensor h, c;       /* current state (N, H) */
    bool has_h, has_c;    /* false: zeros (has_c implies has_h) */
    bool pending;         /* set_state since the last forward (non-stateful mode uses it once) */
    tl_tensor none;       /* size 0: what get_state returns for a zero h or c */

    tl_tensor h0, c0;     /* (N, H) the state the last forward started from (zeros included) */
    tl_tensor dh0, dc0;   /* (N, H) its gradient after backward */
    bool has_dh0;

    const tl_tensor *x;   /* borrowed from the caller until backward; NULL = no forward */
    tl_tensor y;          /* (N, T, H) hidden states */
    tl_tensor dx;         /* (N, T, D) */
    int window;           /* W, the steps of a backward window (tl_recurrent_begin) */
    tl_real *xw, *hw;     /* (W·N, D), (W·N, H): a window's rows of X (then dX) and of Hprev
                             (masked under dropout), row j·N + n is step t0 + j of sequence n;
                             in the workspace during a backward */
    tl_tensor dh;         /* (N, H) the gradient carried between steps */
    tl_rec rec;           /* Wh prepared for the per-step products (packed in the workspace) */
    tl_workspace own;     /* the workspace when no model lends one (workspace.h) */

    double rec_p;         /* recurrent dropout rate, 0 = none */
    tl_layer_mode mode;
    bool masked;          /* the last forward used the mask */
    tl_tensor mask, hm;   /* (N, H): the scaled mask, and h_{t-1}⊙M of the current step */
} tl_recurrent;

/* Fill the header and the state description (the tensors start empty); the
 * layer starts in training mode. params: the cell's nparams parameters. */
void tl_recurrent_init(tl_recurrent *r, const tl_layer_ops *ops, int in_dim, int hidden,
                       int blocks, bool with_c, bool stateful, tl_param *params, int nparams);

/* Start of a forward on x: TL_ERR_SHAPE unless x is (N, T, in_dim) with N,
 * T >= 1; TL_ERR_NOMEM when N·T or T·blocks·H leave the int range of BLAS;
 * TL_ERR_STATE for a held state of another batch size. Then h0 (and c0)
 * receive the start state (zeros when the pass starts from the zero state),
 * h (and c) and y are sized, and in training mode with rec_p > 0 the mask
 * is drawn (masked). *from_state is false for the zero state, so the layer
 * may skip the first recurrent product. */
tl_status tl_recurrent_begin(tl_recurrent *r, const tl_tensor *x, bool *from_state);

/* The step's h_{t-1} as the recurrent product must see it: h_prev itself,
 * or under dropout h_prev⊙M copied into hm (*ldh becomes H). NULL stays NULL
 * (the zero state). */
const tl_real *tl_recurrent_h_in(tl_recurrent *r, int N, const tl_real *h_prev, int *ldh);

/* End of a successful forward on x: the last time step of y (and of C, the
 * layer's (N, T, H) cell states, NULL without a cell state) becomes the held
 * state, and x is kept for backward. Returns y, the forward's output. */
const tl_tensor *tl_recurrent_end(tl_recurrent *r, const tl_tensor *x, const tl_real *C);

/* Start of a backward: TL_ERR_STATE without a successful forward,
 * TL_ERR_SHAPE unless dy has the shape of y; then dx, dh, dh0 (and dc0)
 * are sized and dh0 is marked readable. */
tl_status tl_recurrent_begin_backward(tl_recurrent *r, const tl_tensor *dy);

/* The buffers of one pass, from the workspace (the model's, else the
 * layer's own): Wh (H, G·H) prepared into rec for the pass's products, and
 * in a backward xw, hw and nbuf gate-gradient buffers bufs[i] of W + 1
 * slots of N·G·H reals. A forward passes the same G and nbuf (bufs NULL):
 * in training mode it reserves the backward's memory too. Call after
 * tl_recurrent_begin or tl_recurrent_begin_backward; nothing in these
 * buffers outlives the call. */
tl_status tl_recurrent_prepare(tl_recurrent *r, const tl_real *Wh, int G, int N, bool backward,
                               int nbuf, tl_real **bufs);


/* What a backward step of every recurrent layer starts with: the gradient
 * its cell backward takes on a part's units,
 *   dh = dh_in + dY[:,s] + (dA[:,s+1]·Whᵀ)⊙M
 * where dh_in is what the later step left in dh (TimeGRU: z⊙dh; carry
 * false, the others: nothing), and M the dropout mask (none: no product
 * through prod). A layer's step struct starts with one. */
typedef struct tl_recurrent_step {
    const tl_rec *rec;
    int parts;            /* of each step (tl_rec_parts) */
    int N, H, ld, ldd;    /* row strides of dY (T·H), of dA (G·H) */
    bool carry;
    const tl_real *dy;    /* dY (N, T, H) */
    tl_real *dA;          /* the layer's dA buffer of W + 1 slots of N·G·H (recurrent.h) */
    const tl_real *mask;  /* recurrent dropout's (N, H) mask, or NULL */
    tl_real *prod;        /* (N, H) scratch for the masked product */
    /* step s of the window at t0, set by tl_recurrent_backward_windows (s = -1:
     * the start state's gradient, dh = dh0 = dh_in + dA[:,0]·Whᵀ): */
    const tl_real *dA_next, *dy_s, *dh_in;   /* NULL: no term */
    tl_real *dh;          /* the carried dh, or dh0 at s = -1 */
    tl_real *dA_s;        /* step s's slot of dA */
} tl_recurrent_step;

/* A backward's step struct for dY and dA with G gate blocks (dA's row
 * stride G·H), after tl_recurrent_prepare. */
void tl_recurrent_step_init(tl_recurrent *r, tl_recurrent_step *c, const tl_real *dy,
                            tl_real *dA, int G, bool carry);

/* Part `part` of `parts` of a step (tl_parallel_run_homed): its units
 * [*u0, *u1) (tl_rec_split) and dh on them. */
void tl_recurrent_step_dh(const tl_recurrent_step *c, int part, int parts, int *u0, int *u1);

/* The backward pass by windows (above), the latest window first, on c's dA.
 * For a window [t0, t1): for s = t1-1 down to t0, and s = -1 (the gradient
 * of the start state) in the window at t0 = 0, c is pointed at step s
 * (its dA_next, dy_s, dh_in, dh, dA_s), set_step(ctx, s) sets the layer's part of the
 * step and part(ctx, ·, ·) runs on the step's c->parts parts
 * (tl_parallel_run_homed); then xw and hw are gathered, params(ctx, rows,
 * xw, hw, xw) adds the parameter gradients of the window's rows and writes
 * their dX over xw, which goes to dx; finally the slot of step t0 in dA is
 * copied to the slot that step t0 has in the next window. */
void tl_recurrent_backward_windows(tl_recurrent *r, tl_recurrent_step *c,
                                   void (*set_step)(void *ctx, int s),
                                   void (*part)(void *ctx, int part, int parts),
                                   void (*params)(void *ctx, int rows, const tl_real *xw,
                                                  const tl_real *hw, tl_real *dxw),
                                   void *ctx);

/* Steps per backward window: 0 restores the default (about WINDOW_ROWS rows
 * per window). For tests: call it while no other thread runs a backward. */
void tl__recurrent_window_steps(int steps);

/* Set the recurrent dropout rate of l: TL_ERR_ARG unless l is a layer of
 * ops (fn, the public setter, names it in the message) and p is in [0, 1). */
tl_status tl_recurrent_set_dropout(tl_layer *l, const tl_layer_ops *ops, const char *fn,
                                   double p);

/* The ops entries, shared by every recurrent layer. tl_recurrent_config
 * writes the widths, "stateful" and "rec_dropout" (when > 0). */
tl_param *tl_recurrent_params(tl_layer *l, int *count);
void tl_recurrent_reset_state(tl_layer *l);
tl_status tl_recurrent_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c);
tl_status tl_recurrent_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c);
tl_status tl_recurrent_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0);
void tl_recurrent_set_mode(tl_layer *l, const tl_layer_mode *mode);
tl_status tl_recurrent_config(const tl_layer *l, tl_layer_config *cfg);

#define TL_RECURRENT_OPS                                                                     \
    .params = tl_recurrent_params, .reset_state = tl_recurrent_reset_state,                  \
    .get_state = tl_recurrent_get_state, .set_state = tl_recurrent_set_state,                \
    .state_grad = tl_recurrent_state_grad, .set_mode = tl_recurrent_set_mode

/* Release what the tl_recurrent owns (not the struct). */
void tl_recurrent_free(tl_recurrent *r);

#endif
