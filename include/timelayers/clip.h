/* timelayers: gradient clipping and gradient checks before an optimizer step.
 *
 * All functions work on a flat gradient buffer (normally the model's, from
 * tl_model_flat), which is a training step's order: backward, clip, step.
 *
 *   by norm    ‖g‖ = √(Σ g²) over the whole buffer (accumulated in double, in
 *              an order that depends on n only: the same bits on any number
 *              of threads, see docs/architecture.md);
 *              c = max_norm / (‖g‖ + 1e-6);  if c < 1:  g ← c·g
 *   by value   g ← min(max(g, −c), c) element by element
 *
 * The norm rule is PyTorch's clip_grad_norm_ and the reference's clip_grads:
 * both test c < 1, which also scales (by a hair) when ‖g‖ equals max_norm.
 */
#ifndef TIMELAYERS_CLIP_H
#define TIMELAYERS_CLIP_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Clip n gradients by their global L2 norm (rule above). *norm, unless NULL,
 * receives the norm before clipping, also when it is not finite. Errors:
 * TL_ERR_ARG for NULL grads with n > 0 or max_norm not > 0 (an infinite
 * max_norm only measures); TL_ERR_NUMERIC when the norm is NaN or infinite,
 * with the index of the first non-finite gradient in the message; the
 * gradients are then left untouched. */
tl_status tl_clip_grad_norm(tl_real *grads, size_t n, double max_norm, double *norm);

/* Clamp n gradients to [−c, c]. Infinite gradients become ±c. Errors:
 * TL_ERR_ARG for NULL grads with n > 0 or c not > 0; TL_ERR_NUMERIC when a
 * gradient is NaN (its index in the message), with nothing changed. */
tl_status tl_clip_grad_value(tl_real *grads, size_t n, double c);

/* Index of the first NaN or infinite value among g[0 .. n), or SIZE_MAX when
 * all are finite. g must hold n values. Lets a trainer name the parameter
 * (tl_model_param offsets) whose gradient went bad. */
size_t tl_grad_first_nonfinite(const tl_real *g, size_t n);

#ifdef __cplusplus
}
#endif
#endif
