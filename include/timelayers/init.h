/* timelayers: initialisation schemes for a model's parameters.
 *
 * The layer constructors draw the textbook reference's values. tl_model_init
 * draws every parameter again under one of three schemes, walking the model's
 * parameters in order (a shared parameter once) with one generator, so the
 * result depends only on the seed. A layer's role is read from its header:
 * token-id input = embedding; a recurrent state = recurrent layer of hidden
 * width H = out_width; anything else = linear map of fan-in in_width.
 *
 *   TL_INIT_TEXTBOOK  embedding N(0, 0.01²); every matrix N(0, 1/rows) (rows =
 *                     its fan-in: D for Wx, H for Wh); vectors 0. What the
 *                     constructors do ("Deep Learning from Scratch 2").
 *   TL_INIT_UNIFORM   every value, biases and embedding included, U(−a, a):
 *                     Zaremba et al. 2014 (a = 0.1 small, 0.05 medium).
 *   TL_INIT_PYTORCH   PyTorch's defaults: embedding N(0, 1); recurrent
 *                     weights U(±1/√H) and each bias value the sum of as
 *                     many such draws as PyTorch biases fold into it: two
 *                     (b_ih + b_hh) in an RNN's or LSTM's b and in the r
 *                     and z blocks of a GRU's b; one in the GRU's n block
 *                     of b (b_in) and in its bhn (b_hn); linear weight and
 *                     bias U(±1/√fan_in).
 *
 * With forget_bias_set, the forget-gate block (the first H values, gates are
 * f, g, i, o) of every LSTM bias is then set to forget_bias (1 is the usual
 * choice: Gers et al. 2000, Jozefowicz et al. 2015); a model without a
 * TimeLSTM is refused (TL_ERR_ARG): RNN and GRU cells have no forget gate.
 */
#ifndef TIMELAYERS_INIT_H
#define TIMELAYERS_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include "timelayers/model.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_init_kind { TL_INIT_TEXTBOOK = 0, TL_INIT_UNIFORM = 1, TL_INIT_PYTORCH = 2 } tl_init_kind;

/* A zeroed tl_init is the textbook scheme without a forget-gate bias. */
typedef struct tl_init {
    tl_init_kind kind;
    double scale;          /* TL_INIT_UNIFORM: a > 0 of U(−a, a) */
    bool forget_bias_set;  /* set the LSTM forget-gate biases to forget_bias */
    double forget_bias;
} tl_init;

/* Draw every parameter of m again. TL_ERR_ARG for an unknown kind, a scale
 * that is not a finite positive number (uniform), a non-finite forget bias
 * or a forget bias for a model without a TimeLSTM; nothing is drawn then. */
tl_status tl_model_init(tl_model *m, const tl_init *init, tl_rng *rng);

/* The scheme as text and back: "textbook", "uniform:A" or "pytorch",
 * optionally followed by ",forget_bias=B" ("uniform:0.1,forget_bias=1").
 * TL_ERR_ARG names a bad spec; *init is written only on success.
 * tl_init_describe writes the spec that parses back to *init into buf (at
 * most n bytes, 64 are enough). */
tl_status tl_init_parse(const char *spec, tl_init *init);
void tl_init_describe(const tl_init *init, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
