/* timelayers: TimeAffine, a fully connected layer applied at every step.
 *
 * Parameters: W (D, M), b (M). Input (N, T, D) or (N, D); output has the same
 * leading dimensions and width M: y = x·W + b row by row.
 */
#ifndef TIMELAYERS_AFFINE_H
#define TIMELAYERS_AFFINE_H

#include "timelayers/layer.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a TimeAffine layer mapping width in_dim to out_dim. W is drawn from
 * N(0, 1/in_dim) with rng (the reference's initialisation), zeros when rng
 * is NULL; b starts at zero. The caller owns *out (tl_layer_destroy), unless
 * it hands it to a model. */
tl_status tl_time_affine_create(tl_layer **out, int in_dim, int out_dim, tl_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
