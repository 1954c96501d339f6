/* timelayers: optimizers.
 *
 * An optimizer updates one flat parameter vector p from its gradient g
 * (normally the model's buffers from tl_model_flat), element by element, with
 * per-element state of its own. t counts steps from 1; every update below is
 * applied to each element:
 *
 *   sgd       p ← p − lr·g
 *   momentum  v ← μ·v − lr·g;  p ← p + v                    (the reference)
 *   nesterov  b ← μ·b + g;     p ← p − lr·(g + μ·b)         (torch.optim.SGD, nesterov=True)
 *   adagrad   h ← h + g²;      p ← p − lr·g / (√h + eps)   (eps_inside: / √(h + eps))
 *   rmsprop   h ← ρ·h + (1−ρ)·g²;  p ← p − lr·g / (√h + eps)
 *   adam      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;     (torch.optim.Adam)
 *             p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)
 *
 * All state starts at zero. Momentum with a constant lr equals
 * torch.optim.SGD(momentum=μ): v is −lr times PyTorch's buffer. After
 * tl_optim_set_lr they differ, because v keeps the velocity built with the
 * old rate (as in the reference). Adam adds eps to the bias-corrected √v̂
 * like PyTorch (the reference adds it to √v). AdaGrad and RMSprop use the
 * reference's eps = 1e-7 by default.
 *
 * The object follows the layer pattern: a struct whose first member points to
 * a constant table of operations, one per kind (lib/optim/<kind>.c), reached
 * only through the functions below. Its state buffers are allocated once by
 * tl_optim_create; tl_optim_step allocates nothing.
 *
 * Checkpoints: the state buffers (tl_optim_state) and the step counter
 * (tl_optim_steps) are everything needed to continue exactly, together with
 * the configuration (tl_optim_get_config).
 */
#ifndef TIMELAYERS_OPTIM_H
#define TIMELAYERS_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_optim_kind {
    TL_OPTIM_SGD,
    TL_OPTIM_MOMENTUM,
    TL_OPTIM_NESTEROV,
    TL_OPTIM_ADAGRAD,
    TL_OPTIM_RMSPROP,
    TL_OPTIM_ADAM
} tl_optim_kind;

/* Hyperparameters. Each kind reads lr and only the fields its formula uses
 * (momentum: momentum, nesterov; rho: rmsprop; beta1, beta2: adam; eps:
 * adagrad, rmsprop, adam); the others are ignored and 0 in the defaults. */
typedef struct tl_optim_config {
    tl_optim_kind kind;
    double lr;        /* > 0 */
    double momentum;  /* μ in [0, 1) */
    double rho;       /* ρ in [0, 1) */
    double beta1;     /* in [0, 1) */
    double beta2;     /* in [0, 1) */
    double eps;       /* > 0 */
    bool eps_inside;  /* adagrad: p ← p − lr·g / √(h + eps) (the char-RNN seed,
                         min-char-rnn) instead of / (√h + eps) */
} tl_optim_config;

typedef struct tl_optim tl_optim;

/* The defaults of the reference (and PyTorch): sgd lr 0.01; momentum and
 * nesterov lr 0.01, μ 0.9; adagrad lr 0.01, eps 1e-7; rmsprop lr 0.01,
 * ρ 0.99, eps 1e-7; adam lr 0.001, β1 0.9, β2 0.999, eps 1e-8. An unknown
 * kind gives a config that tl_optim_create refuses. */
tl_optim_config tl_optim_defaults(tl_optim_kind kind);

/* "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam" (lower case,
 * exactly). tl_optim_kind_from_name returns TL_ERR_ARG for any other name,
 * with a message listing the valid ones. tl_optim_name never returns NULL
 * ("unknown" for an invalid kind). */
tl_status tl_optim_kind_from_name(const char *name, tl_optim_kind *kind);
const char *tl_optim_name(tl_optim_kind kind);

/* Create an optimizer for nparams parameters with zeroed state. Errors:
 * TL_ERR_ARG for NULL arguments, an unknown kind or a hyperparameter outside
 * its range (the message names it and its value); TL_ERR_NOMEM. The caller
 * frees *out with tl_optim_destroy. */
tl_status tl_optim_create(tl_optim **out, const tl_optim_config *cfg, size_t nparams);

/* One update of values (n elements) from grads, which are only read. n must
 * be the nparams given at creation (TL_ERR_SHAPE otherwise); the two buffers
 * must not overlap (TL_ERR_ARG). A NaN or infinite gradient is refused with
 * TL_ERR_NUMERIC naming its index, before anything changes (the values, the
 * state and the step counter stay as they were). On success the step counter
 * grows by one. */
tl_status tl_optim_step(tl_optim *o, tl_real *values, const tl_real *grads, size_t n);

/* A training loop's clipping and update in one: the global norm of grads
 * measured and checked as tl_clip_grad_norm does (its errors and *norm), then
 * tl_optim_step from c·grads, c = max_norm / (norm + 1e-6) when below 1.
 * The values and the state get the bits of tl_clip_grad_norm followed by
 * tl_optim_step, in two passes over the gradients instead of four (a finite
 * norm proves them finite), and grads are only read: they stay as backward
 * left them. An infinite max_norm only measures. On any error nothing
 * changes. */
tl_status tl_optim_step_clip_norm(tl_optim *o, tl_real *values, const tl_real *grads, size_t n,
                                  double max_norm, double *norm);

/* The configuration, with the current learning rate. */
tl_status tl_optim_get_config(const tl_optim *o, tl_optim_config *cfg);

/* Learning rate; set_lr refuses lr <= 0 or non-finite with TL_ERR_ARG.
 * tl_optim_lr returns 0 for NULL. Schedules call set_lr between steps. */
double tl_optim_lr(const tl_optim *o);
tl_status tl_optim_set_lr(tl_optim *o, double lr);

/* Steps taken so far (Adam's t). set_steps is for resuming from a
 * checkpoint together with the state buffers. */
/* Number of parameters the optimizer was created for (0 for NULL). */
size_t tl_optim_nparams(const tl_optim *o);

uint64_t tl_optim_steps(const tl_optim *o);
tl_status tl_optim_set_steps(tl_optim *o, uint64_t steps);

/* State buffers: sgd has none; momentum "v"; nesterov "b"; adagrad and
 * rmsprop "h"; adam "m" and "v". tl_optim_state gives the i-th
 * (0 <= i < count; TL_ERR_RANGE otherwise): its name, the optimizer's own
 * buffer (read it to save, write it to restore; valid until destroy) and its
 * length, nparams. Any output pointer may be NULL. count is 0 for NULL. */
int tl_optim_state_count(const tl_optim *o);
tl_status tl_optim_state(tl_optim *o, int i, const char **name, tl_real **buf, size_t *n);

/* Free the optimizer and its state. NULL is a no-op. */
void tl_optim_destroy(tl_optim *o);

#ifdef __cplusplus
}
#endif
#endif
