/* timelayers: the layer object.
 *
 * A layer is a struct whose first member is a tl_layer, whose first member
 * in turn points to a constant table of operations (tl_layer_ops), in the
 * manner of SQLite's sqlite3_file/sqlite3_io_methods. Callers use the
 * tl_layer_* wrappers below and never call through the table directly; the
 * wrappers check arguments and turn a missing operation into a clear error.
 *
 * Data flow. forward(x) -> y and backward(dy) -> dx. Every layer owns its
 * output and input-gradient buffers: the returned pointers stay valid until
 * the next call of the same kind on the same layer (or its destruction).
 * Buffers are sized for the current (N, T) and reused, so steady-state
 * training allocates nothing. A layer remembers a pointer to x for its
 * backward pass: x must stay alive and unchanged until backward returns.
 *
 * Gradients accumulate: backward ADDS into each parameter's grad tensor.
 * Clear them with tl_layer_zero_grad (or tl_model_zero_grad) before a step.
 * This makes gradient accumulation work without special cases (the textbook
 * reference overwrites gradients instead), and a parameter shared by two
 * layers (weight tying: a layer borrows another's tl_param and does not list
 * it in its own params) receives the sum of both uses.
 *
 * Loss layers have a `loss` operation instead of `forward`: they take scores
 * and targets and produce a scalar. Their backward takes dy = NULL (meaning
 * dloss = 1) and returns dscores.
 *
 * Recurrent state (TimeRNN, TimeLSTM): see get_state/set_state/reset_state
 * and docs/architecture.md. Layers without state leave those entries NULL.
 */
#ifndef TIMELAYERS_LAYER_H
#define TIMELAYERS_LAYER_H

#include <stdbool.h>
#include <stdint.h>
#include "timelayers/tensor.h"
#include "timelayers/rng.h"
#include "timelayers/layer_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_layer tl_layer;

/* One learnable parameter: its value and its gradient, of equal shape. */
typedef struct tl_param {
    const char *name;   /* short name within the layer: "W", "Wx", "Wh", "b" */
    tl_tensor value;
    tl_tensor grad;
} tl_param;

/* How a layer runs (tl_layer_set_mode; a model sets it on all its layers).
 * Random masks (dropout) are a pure function of (seed, step, index, element):
 * the same for any thread count, the same again when a run resumes at the
 * same step, and the same in every evaluation of a gradient check. */
typedef struct tl_layer_mode {
    bool training;    /* false: evaluation (dropout is the identity) */
    uint64_t seed;    /* the model's seed for layer randomness */
    uint64_t step;    /* the training step the next forward belongs to */
    int index;        /* the layer's position in its model (0 on its own) */
} tl_layer_mode;

typedef struct tl_layer_ops {
    const char *type;  /* "TimeLSTM", ... */

    /* y = f(x). NULL for loss layers. */
    tl_status (*forward)(tl_layer *l, const tl_tensor *x, const tl_tensor **y);
    /* loss = L(scores, targets). NULL for ordinary layers. */
    tl_status (*loss)(tl_layer *l, const tl_tensor *scores, const tl_tensor *targets,
                      double *loss);
    /* dx from dy for the last forward/loss call; accumulates parameter grads.
     * *dx is set to NULL when the input is not differentiable (token ids). */
    tl_status (*backward)(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx);

    /* The layer's parameters (array owned by the layer) and their count. */
    tl_param *(*params)(tl_layer *l, int *count);

    /* Recurrent state; all NULL for stateless layers. c is NULL for layers
     * with only a hidden state. get_state returns the layer's own tensors
     * (size 0 when the state is the implicit zero state). */
    void (*reset_state)(tl_layer *l);
    tl_status (*get_state)(tl_layer *l, const tl_tensor **h, const tl_tensor **c);
    tl_status (*set_state)(tl_layer *l, const tl_tensor *h, const tl_tensor *c);
    /* Gradient of the last backward w.r.t. the state the forward started from. */
    tl_status (*state_grad)(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0);

    /* Optional: layers whose forward depends on the mode keep a copy. A
     * layer without it behaves the same in training and evaluation. */
    void (*set_mode)(tl_layer *l, const tl_layer_mode *mode);

    /* Fill cfg (type, widths and fields: layer_config.h) so that
     * tl_layer_create_from_config rebuilds this layer. */
    tl_status (*config)(const tl_layer *l, tl_layer_config *cfg);

    void (*destroy)(tl_layer *l);
} tl_layer_ops;

/* The common header of every layer. Fields other than ops are set by the
 * constructor and read by the model to check that layers fit together. */
struct tl_layer {
    const tl_layer_ops *ops;
    tl_dtype in_dtype;   /* TL_INT32 for layers that take token ids */
    int in_width;        /* size of the last input dimension, 0 = any */
    int out_width;       /* size of the last output dimension, 0 = same as input */
    /* The output of forward is the layer's own buffer and its backward never
     * reads it: a caller may overwrite it until the next forward (the model
     * lets the loss write dscores over it, saving an (N, T, V) buffer). */
    bool output_scratch;
    /* Memory for buffers that live only inside one call, lent by the model
     * that owns the layer (tl_model_add) and shared by all its layers; NULL
     * for a layer on its own, which then uses memory of its own. A layer
     * keeps nothing in it from one call to the next. Internal to the
     * library: a layer type of your own leaves it alone. */
    struct tl_workspace *workspace;
};

/* Wrappers. All return TL_ERR_ARG for NULL arguments and TL_ERR_STATE when
 * the layer does not support the operation. */
tl_status tl_layer_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y);
tl_status tl_layer_loss(tl_layer *l, const tl_tensor *scores, const tl_tensor *targets,
                        double *loss);
tl_status tl_layer_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx);

/* Parameters: returns the layer's array (may be NULL when count is 0). */
tl_param *tl_layer_params(tl_layer *l, int *count);
void tl_layer_zero_grad(tl_layer *l);

bool tl_layer_has_state(const tl_layer *l);
void tl_layer_reset_state(tl_layer *l);
tl_status tl_layer_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c);
tl_status tl_layer_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c);
tl_status tl_layer_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0);

/* Set the mode of a layer (no effect on layers without a set_mode entry). A
 * layer created on its own is in training mode with seed 0, step 0 and
 * index 0; it does not advance the step itself (a model does). */
void tl_layer_set_mode(tl_layer *l, const tl_layer_mode *mode);

/* The layer's configuration (TL_ERR_STATE for layers that have none). */
tl_status tl_layer_get_config(const tl_layer *l, tl_layer_config *cfg);

/* Create a layer from a configuration; parameters are initialised as by the
 * layer's constructor with rng (zeros when NULL). built[0 .. nbuilt-1] are
 * the layers of the model built so far, which fields referring to layers
 * index (NULL and 0 for a layer on its own). The type is a built-in one or
 * one of tl_layer_register's. Unknown types and fields are TL_ERR_FORMAT,
 * invalid sizes TL_ERR_ARG. */
tl_status tl_layer_create_from_config(tl_layer **out, const tl_layer_config *cfg,
                                      tl_layer *const *built, int nbuilt, tl_rng *rng);

/* A layer type defined outside the library. Registered, it is rebuilt from
 * its descriptions like the built-in types, so models that use it load from
 * checkpoints (tl_checkpoint_model, tl_lm_load). Its layers' ops->type and
 * the descriptions their `config` entry writes carry `name`. */
typedef tl_status (*tl_layer_from_config_fn)(tl_layer **out, const tl_layer_config *cfg,
                                             tl_layer *const *built, int nbuilt, tl_rng *rng);
typedef struct tl_layer_class {
    const char *name;               /* 1 to 31 characters, as tl_layer_config.type */
    const char *const *fields;      /* names a description may carry, NULL-terminated;
                                     * NULL: none. Others are refused (TL_ERR_FORMAT). */
    tl_layer_from_config_fn create; /* builds the layer from a checked description */
} tl_layer_class;

enum { TL_MAX_LAYER_CLASSES = 64 };

/* Register a layer type for the whole process; safe from any thread. The
 * library keeps the pointer: *type and what it points to must live until
 * the process ends (a static const object). There is no unregistering.
 * TL_ERR_ARG for NULL, a missing create, an empty or too long name, a name
 * already taken (built-in or registered), or TL_MAX_LAYER_CLASSES registered. */
tl_status tl_layer_register(const tl_layer_class *type);

const char *tl_layer_type(const tl_layer *l);
bool tl_layer_is_loss(const tl_layer *l);

/* Free the layer and everything it owns. NULL is a no-op. */
void tl_layer_destroy(tl_layer *l);

#ifdef __cplusplus
}
#endif
#endif
