/* Parameter helpers used by layer constructors (internal). */
#ifndef TL_PARAM_H
#define TL_PARAM_H

#include "timelayers/layer.h"
#include "timelayers/rng.h"

/* Allocate value and grad of the given shape. The value is filled with
 * scale * N(0, 1) draws from rng (zeros when rng is NULL or scale is 0);
 * the grad with zeros. */
tl_status tl_param_init(tl_param *p, const char *name, int ndim, const int *shape, tl_rng *rng,
                        double scale);

/* Free value and grad of n parameters. */
void tl_params_free(tl_param *p, int n);

/* Shape helper: the number of rows when the last dimension is taken as the
 * width (N*T for (N, T, D), N for (N, D)). Fails unless x has 2 or 3 dims and
 * its last dimension equals width. */
tl_status tl_rows_of(const char *who, const tl_tensor *x, int width, int *rows);

/* Write the position of flat element i of t as a multi-index, "[1, 4]" in
 * an (N, T) tensor, into buf (at most n bytes) and return buf. */
char *tl_index_str(const tl_tensor *t, size_t i, char *buf, size_t n);

/* Check token ids before they are used as indices: every element of the int32
 * tensor ids must lie in [0, V), or be -1 when allow_ignore. Otherwise
 * TL_ERR_RANGE naming who, what ("id", "target"), the position and the value. */
tl_status tl_check_ids(const char *who, const char *what, const tl_tensor *ids, int V,
                       bool allow_ignore);

/* tl_layer_loss that may overwrite the scores with dscores, which backward
 * then returns: for a caller that owns the scores and no longer needs them
 * (the model, whose last layer's output is its own buffer). Loss layers that
 * cannot work in place just compute tl_layer_loss. */
tl_status tl_loss_in_place(tl_layer *l, tl_tensor *scores, const tl_tensor *targets,
                           double *loss);

/* Move the values of the n parameters ps[0 .. n) into one new buffer and
 * their gradients into another, in this order, and make each parameter's
 * tensors borrow its slice; the gradients are zeroed. The caller frees the
 * values with tl_free and the gradients, from tl_alloc_pages (whose fresh
 * pages take no memory until written: the move peaks at the parameters plus
 * the largest tensor), with tl_free_pages(*grads, *total, sizeof(tl_real)).
 * On failure nothing has moved. */
tl_status tl_params_flatten(tl_param *const *ps, int n, tl_real **values, tl_real **grads,
                            size_t *total);

#endif
