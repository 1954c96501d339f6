/* timelayers: numerical gradient checks.
 *
 * Compare the analytic gradients of a layer or a model with central
 * differences,  g_num = (L(v + eps) - L(v - eps)) / (2 eps),  element by
 * element, and report per tensor the largest relative error
 *
 *     |g - g_num| / max(1e-8, |g| + |g_num|).
 *
 * Meaningful only in a double-precision build (TL_REAL_DOUBLE): with float
 * the differences drown in rounding. In double, a correct layer stays far
 * below 1e-6.
 *
 * For an ordinary layer the scalar checked is L = Σ y ⊙ R with R a fixed
 * random tensor (so dy = R). For a loss layer it is the loss itself. Inputs
 * of real dtype are checked too ("x"), and for recurrent layers the initial
 * state ("h0", "c0"), which the check sets to random values.
 */
#ifndef TIMELAYERS_GRADCHECK_H
#define TIMELAYERS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/layer.h"
#include "timelayers/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_gradcheck_opts {
    double eps;             /* step; 0 means 1e-5 */
    size_t max_per_tensor;  /* check at most this many evenly spaced elements; 0 = all */
    uint64_t seed;          /* seeds R and the random initial state */
} tl_gradcheck_opts;

typedef struct tl_gradcheck_entry {
    char name[64];          /* parameter name, "x", "h0" or "c0" */
    size_t checked;         /* elements compared */
    double max_rel_error;
    double max_abs_error;
} tl_gradcheck_entry;

/* Check every parameter of l, its input x when real, and its initial state
 * when it has one. targets is required for loss layers, ignored otherwise.
 * Writes at most cap entries to out and their number to *n. The layer's
 * parameter values are restored; its gradients and state are not. */
tl_status tl_gradcheck_layer(tl_layer *l, const tl_tensor *x, const tl_tensor *targets,
                             const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                             int *n);

/* Check every parameter of a model on one batch (state reset before each
 * evaluation). Same output convention as tl_gradcheck_layer. */
tl_status tl_gradcheck_model(tl_model *m, const tl_tensor *xs, const tl_tensor *ts,
                             const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                             int *n);

/* Check any computation: fn(ctx, &loss) evaluates the scalar, and each of
 * the nb buffers names values it depends on (perturbed in place, restored)
 * with their analytic gradient, which the caller computed beforehand and
 * which fn must not overwrite. One entry per buffer, as above. This is how
 * containers other than tl_model (seq2seq.h) and layers with side inputs
 * (attention.h, concat.h) are checked. */
typedef tl_status (*tl_gradcheck_loss_fn)(void *ctx, double *loss);
typedef struct tl_gradcheck_buffer {
    const char *name;
    tl_real *value;
    const tl_real *grad;
    size_t n;
} tl_gradcheck_buffer;
tl_status tl_gradcheck_buffers(tl_gradcheck_loss_fn fn, void *ctx, const tl_gradcheck_buffer *b,
                               int nb, const tl_gradcheck_opts *opts, tl_gradcheck_entry *out,
                               int cap, int *n);

/* The largest max_rel_error among n entries (0 when n is 0). */
double tl_gradcheck_worst(const tl_gradcheck_entry *e, int n);

#ifdef __cplusplus
}
#endif
#endif
