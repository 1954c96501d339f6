/* timelayers: TimeAffine, a fully connected layer applied at every step.
 *
 * Parameters: W (D, M), b (M). Input (N, T, D) or (N, D); output has the same
 * leading dimensions and width M: y = x·W + b row by row.
 */
#ifndef TIMELAYERS_AFFINE_H
#define TIMELAYERS_AFFINE_H

#include <stdbool.h>
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

/* A TimeAffine tied to a TimeEmbedding (weight tying, Press and Wolf 2016;
 * the textbook's BetterRnnlm): its weight is the embedding's table E (V, D)
 * transposed, y = x·Eᵀ + b, so it maps width D to V. The layer borrows E
 * (value and gradient) and owns only b: its params() list b alone, so a
 * model holds E once (flat buffers, optimizers, clipping, checkpoints,
 * gradient checks), and E's gradient is the sum of both uses. embedding
 * must outlive the layer (in one model it does). Its description carries
 * the field "tied", a reference to the embedding.
 * Errors: TL_ERR_ARG for a NULL out or a layer other than a TimeEmbedding;
 * TL_ERR_NOMEM. */
tl_status tl_time_affine_create_tied(tl_layer **out, tl_layer *embedding);

/* The weight of a TimeAffine: W (D, M), or when *transposed the tied table
 * (M, D) it uses transposed; *tied is the embedding it belongs to (NULL when
 * the layer owns W). transposed and tied may be NULL. TL_ERR_ARG when l is
 * not a TimeAffine. */
tl_status tl_time_affine_weight(const tl_layer *l, const tl_tensor **w, bool *transposed,
                                const tl_layer **tied);

#ifdef __cplusplus
}
#endif
#endif
