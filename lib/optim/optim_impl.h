/* The optimizer object and its ops table (internal). Each kind lives in its
 * own file and exports one constant table; optim.c holds the wrappers. */
#ifndef TL_OPTIM_IMPL_H
#define TL_OPTIM_IMPL_H

#include <math.h>
#include "timelayers/optim.h"

enum { TL_OPTIM_MAX_STATE = 2 };

/* Hyperparameters a kind reads besides lr; tl_optim_create checks those. */
enum { TL_USES_MOMENTUM = 1, TL_USES_RHO = 2, TL_USES_BETAS = 4, TL_USES_EPS = 8 };

typedef struct tl_optim_ops {
    const char *name;                              /* "adam" */
    tl_optim_config defaults;
    unsigned uses;                                 /* TL_USES_* */
    int nstate;
    const char *state_names[TL_OPTIM_MAX_STATE];
    /* Without state, and a zero gradient leaves p as it is (sgd): the step
     * may then run on the parts of g tl_each_touched returns. */
    bool zero_is_noop;
    /* Update elements [lo, hi) of p and of the state from the gradient s·g
     * (s·g[i] rounded to tl_real, as a clipping pass scaling g in place
     * would; s = 1 is g itself); o->steps already counts this step. Each
     * element on its own, so any cut of [0, n) gives the same bits. */
    void (*step)(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g, tl_real s,
                 size_t lo, size_t hi);
} tl_optim_ops;

struct tl_optim {
    const tl_optim_ops *ops;
    tl_optim_config cfg;                           /* lr changes with tl_optim_set_lr */
    size_t n;
    uint64_t steps;
    tl_real *state[TL_OPTIM_MAX_STATE];            /* n elements each, zero at creation */
};

extern const tl_optim_ops tl_optim_sgd_ops, tl_optim_momentum_ops, tl_optim_nesterov_ops,
    tl_optim_adagrad_ops, tl_optim_rmsprop_ops, tl_optim_adam_ops;

/* Square root in the precision of tl_real, so float loops stay in float.
 * (The build passes -fno-math-errno, without which GCC will not vectorise it.) */
#ifdef TL_REAL_DOUBLE
#define TL_SQRT sqrt
#else
#define TL_SQRT sqrtf
#endif

#endif
