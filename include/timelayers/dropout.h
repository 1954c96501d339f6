/* timelayers: TimeDropout, inverted dropout over time.
 *
 * In training mode y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p), and
 * backward dx = dy ⊙ m / (1 − p); in evaluation mode (and for p = 0) y = x and
 * dx = dy. Two kinds of mask (docs/semantics.md, "Dropout over time"):
 *
 *   TL_DROPOUT_STANDARD  one draw per (n, t, d), new at every forward
 *                        (the textbook's TimeDropout, PyTorch's nn.Dropout)
 *   TL_DROPOUT_LOCKED    one draw per (n, d), shared by all T steps of a
 *                        forward, new at the next (variational, Gal and
 *                        Ghahramani 2016; AWD-LSTM's LockedDropout)
 *
 * The mask is a pure function of the layer's mode (layer.h: seed, step,
 * index) and the element's position, so it does not depend on the thread
 * count, a resumed run draws the same masks, and repeated forwards with the
 * same mode (a gradient check) see the same mask. A layer on its own keeps
 * the mode it was given: call tl_layer_set_mode with another step for a new
 * mask (a model does this at every training forward).
 *
 * Input (N, T, D) or (N, D) of width D; output of the same shape. In
 * evaluation mode forward returns x itself and backward dy itself (no copy).
 * No parameters. Errors of create: TL_ERR_ARG for a NULL out, width < 1, or p
 * outside [0, 1) or an unknown kind. Errors of forward: TL_ERR_SHAPE unless
 * the last dimension is D. Errors of backward: TL_ERR_STATE before a forward,
 * TL_ERR_SHAPE unless dy has the output's shape.
 */
#ifndef TIMELAYERS_DROPOUT_H
#define TIMELAYERS_DROPOUT_H

#include "timelayers/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_dropout_kind { TL_DROPOUT_STANDARD = 0, TL_DROPOUT_LOCKED = 1 } tl_dropout_kind;

tl_status tl_time_dropout_create(tl_layer **out, int width, double p, tl_dropout_kind kind);

/* "standard" / "locked" and back; unknown names are TL_ERR_ARG. */
tl_status tl_dropout_kind_from_name(const char *name, tl_dropout_kind *out);
const char *tl_dropout_kind_name(tl_dropout_kind k);

#ifdef __cplusplus
}
#endif
#endif
