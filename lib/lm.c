/* The standard language-model stack (see lm.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"
#include "timelayers/affine.h"
#include "timelayers/dropout.h"
#include "timelayers/embedding.h"
#include "timelayers/gru.h"
#include "timelayers/lm.h"
#include "timelayers/lstm.h"
#include "timelayers/rnn.h"
#include "timelayers/softmax_loss.h"

static tl_status recurrent(tl_layer **l, const tl_lm_config *c, int in, tl_rng *rng)
{
    if (c->cell == TL_CELL_RNN)
        return tl_time_rnn_create(l, in, c->hidden, true, c->activation, rng);
    bool gru = c->cell == TL_CELL_GRU;
    TL_TRY(gru ? tl_time_gru_create(l, in, c->hidden, true, rng)
               : tl_time_lstm_create(l, in, c->hidden, true, rng));
    tl_status st = gru ? tl_time_gru_set_recurrent_dropout(*l, c->rec_dropout)
                       : tl_time_lstm_set_recurrent_dropout(*l, c->rec_dropout);
    if (st)
        tl_layer_destroy(*l);
    return st;
}

/* Append a TimeDropout of width w when the config asks for dropout. */
static tl_status add_dropout(tl_model *m, const tl_lm_config *c, int w)
{
    tl_layer *l;
    if (c->dropout == 0)
        return TL_OK;
    TL_TRY(tl_time_dropout_create(&l, w, c->dropout, c->dropout_kind));
    return tl_model_add(m, l);
}

/* a * b + c, or SIZE_MAX when that overflows. */
static size_t mul_add(size_t a, size_t b, size_t c)
{
    size_t p;
    return tl_mul_ok(a, b, &p) && p <= SIZE_MAX - c ? p + c : SIZE_MAX;
}

/* Parameters of the stack (sizes positive): V*D for the embedding; a
 * recurrent layer from `in` to H has in*G + H*G + G with G = 4H (LSTM), 3H
 * (GRU, plus H for bhn) or H (RNN); H*V + V for the affine (V when tied).
 * SIZE_MAX when the sum overflows. */
static size_t lm_params(const tl_lm_config *c)
{
    size_t V = (size_t)c->vocab, D = (size_t)c->embed, H = (size_t)c->hidden;
    size_t G = c->cell == TL_CELL_LSTM ? 4 * H : c->cell == TL_CELL_GRU ? 3 * H : H;
    size_t extra = c->cell == TL_CELL_GRU ? H : 0;
    size_t n = mul_add(V, D, mul_add(c->tie ? 0 : H, V, V));
    for (int i = 0; i < c->layers && n < SIZE_MAX; i++)
        n = mul_add(i ? H : D, G, mul_add(H, G, mul_add(G, 1, mul_add(extra, 1, n))));
    return n;
}

tl_status tl_lm_create(tl_model **out, const tl_lm_config *c, tl_rng *rng)
{
    if (!out || !c)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: out or config is NULL");
    *out = NULL;
    if (c->vocab <= 0 || c->embed <= 0 || c->hidden <= 0 || c->layers < 1 || c->layers > 64)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: need V, D, H > 0 and 1 <= layers <= 64 (got V=%d "
                       "D=%d H=%d layers=%d)", c->vocab, c->embed, c->hidden, c->layers);
    if (c->cell != TL_CELL_LSTM && c->cell != TL_CELL_RNN && c->cell != TL_CELL_GRU)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: unknown cell kind %d", (int)c->cell);
    if (c->activation != TL_ACT_TANH && c->activation != TL_ACT_SIGMOID)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: unknown activation %d", (int)c->activation);
    if (c->activation == TL_ACT_SIGMOID && c->cell != TL_CELL_RNN)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: the sigmoid activation is an option of the RNN "
                       "cell (the LSTM's activations are fixed)");
    if (c->loss_norm != TL_LOSS_MEAN && c->loss_norm != TL_LOSS_CS231N)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: unknown loss normalisation %d", (int)c->loss_norm);
    if ((unsigned)c->init.kind > TL_INIT_PYTORCH ||
        (c->init.kind == TL_INIT_UNIFORM && !(c->init.scale > 0 && isfinite(c->init.scale))) ||
        (c->init.forget_bias_set && !isfinite(c->init.forget_bias)))
        return tl_fail(TL_ERR_ARG, "tl_lm_create: bad initialisation (scheme %d, scale %g, "
                       "forget bias %g)", (int)c->init.kind, c->init.scale, c->init.forget_bias);
    if (!(c->dropout >= 0 && c->dropout < 1) || !(c->rec_dropout >= 0 && c->rec_dropout < 1) ||
        (c->dropout_kind != TL_DROPOUT_STANDARD && c->dropout_kind != TL_DROPOUT_LOCKED))
        return tl_fail(TL_ERR_ARG, "tl_lm_create: dropout rates must be in [0, 1) (got dropout "
                       "%g, rec_dropout %g, kind %d)", c->dropout, c->rec_dropout,
                       (int)c->dropout_kind);
    if (c->init.forget_bias_set && c->cell != TL_CELL_LSTM)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: the forget-gate bias is an option of the LSTM "
                       "cell (the %s cell has no forget gate)", tl_cell_kind_name(c->cell));
    if (c->rec_dropout > 0 && c->cell == TL_CELL_RNN)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: recurrent dropout is an option of the LSTM "
                       "and GRU cells");
    if (c->tie && c->embed != c->hidden)
        return tl_fail(TL_ERR_SHAPE, "tl_lm_create: weight tying needs the width of layer 0 "
                       "(TimeEmbedding, D=%d) to equal the width of the last recurrent layer "
                       "(%s, H=%d)", c->embed,
                       c->cell == TL_CELL_LSTM ? "TimeLSTM" : c->cell == TL_CELL_GRU ? "TimeGRU"
                                                                                      : "TimeRNN",
                       c->hidden);
    size_t n = lm_params(c);
    if (n > TL_LM_MAX_PARAMS)
        return tl_fail(TL_ERR_ARG, "tl_lm_create: V=%d D=%d H=%d layers=%d need %s%zu "
                       "parameters, more than the limit of %zu (TL_LM_MAX_PARAMS)", c->vocab,
                       c->embed, c->hidden, c->layers, n == SIZE_MAX ? "over " : "", n,
                       TL_LM_MAX_PARAMS);
    tl_model *m;
    tl_layer *l;
    TL_TRY(tl_model_create(&m));
    /* tl_model_add takes ownership even on failure, so each step either
     * succeeds or leaves only the model to free. */
    tl_layer *embedding = NULL;
    tl_status st = tl_time_embedding_create(&embedding, c->vocab, c->embed, rng);
    if (!st)
        st = tl_model_add(m, embedding);
    if (!st)
        st = add_dropout(m, c, c->embed);
    for (int i = 0; i < c->layers && !st; i++) {
        st = recurrent(&l, c, i ? c->hidden : c->embed, rng);
        if (!st)
            st = tl_model_add(m, l);
        if (!st)
            st = add_dropout(m, c, c->hidden);
    }
    if (!st)
        st = c->tie ? tl_time_affine_create_tied(&l, embedding)
                    : tl_time_affine_create(&l, c->hidden, c->vocab, rng);
    if (!st)
        st = tl_model_add(m, l);
    if (!st)
        st = tl_time_softmax_loss_create(&l, c->vocab, c->loss_norm);
    if (!st)
        st = tl_model_set_loss(m, l);
    /* The constructors drew the textbook's values; redraw only for another
     * scheme, so textbook models stay what they were for a given seed. */
    if (!st && (c->init.kind != TL_INIT_TEXTBOOK || c->init.forget_bias_set))
        st = tl_model_init(m, &c->init, rng);
    if (st) {
        tl_model_destroy(m);
        return st;
    }
    *out = m;
    return TL_OK;
}

static const char *const cell_names[] = {"lstm", "rnn", "gru"};
enum { NCELLS = sizeof cell_names / sizeof *cell_names };

tl_status tl_cell_kind_from_name(const char *name, tl_cell_kind *out)
{
    for (int k = 0; name && k < NCELLS; k++)
        if (strcmp(name, cell_names[k]) == 0) {
            *out = (tl_cell_kind)k;
            return TL_OK;
        }
    return tl_fail(TL_ERR_ARG, "unknown cell '%s' (expected lstm, rnn or gru)", name ? name : "");
}

const char *tl_cell_kind_name(tl_cell_kind k)
{
    return (unsigned)k < NCELLS ? cell_names[k] : "unknown";
}

tl_status tl_lm_check_vocab(tl_model *m, const tl_vocab *v)
{
    if (!m || !v)
        return tl_fail(TL_ERR_ARG, "tl_lm_check_vocab: model or vocabulary is NULL");
    int V = (int)tl_vocab_size(v);
    tl_layer_config c;
    tl_layer *first = tl_model_layer(m, 0), *loss = tl_model_loss_layer(m);
    if (first && !tl_layer_get_config(first, &c) && !strcmp(c.type, "TimeEmbedding") &&
        c.in_dim != V)
        return tl_fail(TL_ERR_SHAPE, "the vocabulary has %d tokens, but the model's embedding "
                       "takes %d ids: not this model's vocabulary", V, c.in_dim);
    if (loss && !tl_layer_get_config(loss, &c) && c.in_dim != V)
        return tl_fail(TL_ERR_SHAPE, "the vocabulary has %d tokens, but the model scores %d "
                       "classes: not this model's vocabulary", V, c.in_dim);
    return TL_OK;
}
