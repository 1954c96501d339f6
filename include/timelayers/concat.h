/* timelayers: TimeConcat, features of a second source put in front of every
 * step's input.
 *
 *     y[n,t,:] = [s[n,:], x[n,t,:]]        side s (N, Ds), the same at every step
 *     y[n,t,:] = [s[n,t,:], x[n,t,:]]      side s (N, T, Ds), one per step
 *
 * x is (N, T, D) and y (N, T, Ds + D), side first. The peeky decoder puts the
 * encoder's last hidden state in front of each decoder input and of each
 * LSTM output (the first form); the attention decoder puts the context in
 * front of the LSTM output (the second form), as the reference does.
 *
 * Backward takes dy (N, T, Ds + D) and returns dx = dy[:, :, Ds:]; the side's
 * gradient, read with tl_time_concat_side_grad, has the side's shape: for the
 * first form the sum over time Σ_t dy[n,t,:Ds]. No parameters.
 *
 * The side is borrowed like the input: the caller keeps it alive and
 * unchanged until backward returns, and sets it before every forward.
 */
#ifndef TIMELAYERS_CONCAT_H
#define TIMELAYERS_CONCAT_H

#include "timelayers/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a TimeConcat with side width side_dim and input width in_dim (output
 * width side_dim + in_dim). The caller owns *out. Errors: TL_ERR_ARG. */
tl_status tl_time_concat_create(tl_layer **out, int side_dim, int in_dim);

/* Set the side for the next forward: a real (N, Ds) or (N, T, Ds) tensor.
 * TL_ERR_SHAPE for other shapes; the forward checks that N (and T) match x. */
tl_status tl_time_concat_set_side(tl_layer *l, const tl_tensor *s);

/* The side's gradient from the last backward (the side's shape), the
 * layer's own buffer. TL_ERR_STATE before a backward. */
tl_status tl_time_concat_side_grad(tl_layer *l, const tl_tensor **ds);

#ifdef __cplusplus
}
#endif
#endif
