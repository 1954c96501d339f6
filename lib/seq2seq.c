/* Sequence-to-sequence models: the encoder and decoder layers, how values and
 * gradients flow between them, greedy generation and checkpoints.
 *
 * The wiring is written out here rather than described by a graph: three
 * small fixed shapes (seq2seq.h) do not justify a graph engine, and every
 * layer still comes through the public ops table, so layers, flat buffers,
 * optimizers, clipping and gradient checks are the library's own.
 *
 * Backward, from the loss to the encoder:
 *   d = affine.backward(dscores)
 *   plain      dh_dec = d
 *   peeky      dh_dec = peek_out.backward(d);      dh += Σ_t d[:, t, :H]
 *   attention  dh_dec = cat.backward(d) + attn.backward(dcontext);   dhs = dmemory
 *   dx = dec_lstm.backward(dh_dec);  dh += dh0      (peeky: dh += Σ_t dx[:, t, :H])
 *   dhs[:, S-1] += dh;  enc_lstm.backward(dhs);  embeddings last
 */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "checkpoint_internal.h"
#include "internal.h"
#include "param.h"
#include "train_internal.h"
#include "timelayers/affine.h"
#include "timelayers/attention.h"
#include "timelayers/concat.h"
#include "timelayers/embedding.h"
#include "timelayers/lstm.h"
#include "timelayers/seq2seq.h"
#include "timelayers/softmax_loss.h"

#define FORMAT_NAME "timelayers-seq2seq"
#define FORMAT_VERSION "1"

enum { ENC_EMBED, ENC_LSTM, DEC_EMBED, DEC_LSTM, AFFINE, NOWNED };
enum { MAX_PARAMS = 10 };

static const char *const layer_names[NOWNED] = {"encoder.embed", "encoder.lstm", "decoder.embed",
                                                "decoder.lstm", "decoder.affine"};

struct tl_seq2seq {
    tl_seq2seq_config cfg;
    tl_layer *layer[NOWNED];   /* the layers with parameters, in parameter order */
    tl_layer *peek_in, *peek_out, *attn, *cat, *loss;

    tl_real *values, *grads;
    size_t nflat;
    tl_named_param params[MAX_PARAMS];
    int nparams;

    const tl_tensor *xs, *hs;   /* question and encoder states of the last forward */
    tl_tensor dec_in, dec_tgt;  /* answers[:, :-1] and answers[:, 1:] */
    tl_tensor h;                /* hs[:, S-1] (N, H) */
    tl_tensor dh, dhs, ddec;    /* backward buffers */
    tl_tensor step, gen, weights;
    bool forward_done, generated;
};

static const char *const kind_names[] = {"plain", "peeky", "attention"};

const char *tl_seq2seq_kind_name(tl_seq2seq_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

tl_status tl_seq2seq_kind_from_name(const char *name, tl_seq2seq_kind *kind)
{
    for (int k = 0; name && kind && k < 3; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (tl_seq2seq_kind)k;
            return TL_OK;
        }
    return tl_fail(TL_ERR_ARG, "unknown sequence-to-sequence model '%s' (plain, peeky or "
                   "attention)", name ? name : "(null)");
}

static tl_status make_layers(tl_seq2seq *s, tl_rng *rng)
{
    const tl_seq2seq_config *c = &s->cfg;
    int V = c->vocab, D = c->wordvec, H = c->hidden;
    bool peeky = c->kind == TL_SEQ2SEQ_PEEKY, attention = c->kind == TL_SEQ2SEQ_ATTENTION;
    TL_TRY(tl_time_embedding_create(&s->layer[ENC_EMBED], V, D, rng));
    TL_TRY(tl_time_lstm_create(&s->layer[ENC_LSTM], D, H, false, rng));
    TL_TRY(tl_time_embedding_create(&s->layer[DEC_EMBED], V, D, rng));
    /* Stateful, so that generation carries the state from step to step; every
     * training forward sets the encoder's state first. */
    TL_TRY(tl_time_lstm_create(&s->layer[DEC_LSTM], peeky ? H + D : D, H, true, rng));
    TL_TRY(tl_time_affine_create(&s->layer[AFFINE], peeky || attention ? 2 * H : H, V, rng));
    TL_TRY(tl_time_softmax_loss_create(&s->loss, V, TL_LOSS_MEAN));
    if (peeky) {
        TL_TRY(tl_time_concat_create(&s->peek_in, H, D));
        TL_TRY(tl_time_concat_create(&s->peek_out, H, H));
    }
    if (attention) {
        TL_TRY(tl_time_attention_create(&s->attn, H));
        TL_TRY(tl_time_concat_create(&s->cat, H, H));
    }
    return TL_OK;
}

static tl_status flatten(tl_seq2seq *s)
{
    tl_param *ps[MAX_PARAMS];
    int n = 0;
    for (int i = 0; i < NOWNED; i++) {
        int np;
        tl_param *p = tl_layer_params(s->layer[i], &np);
        for (int k = 0; k < np && n < MAX_PARAMS; k++, n++) {
            ps[n] = s->params[n].param = &p[k];
            s->params[n].layer = i;
            snprintf(s->params[n].name, sizeof s->params[n].name, "%s.%s", layer_names[i],
                     p[k].name);
        }
    }
    TL_TRY(tl_params_flatten(ps, n, &s->values, &s->grads, &s->nflat));
    for (int i = 0; i < n; i++)
        s->params[i].offset = (size_t)(s->params[i].param->value.data - s->values);
    s->nparams = n;
    return TL_OK;
}

tl_status tl_seq2seq_create(tl_seq2seq **out, const tl_seq2seq_config *cfg, tl_rng *rng)
{
    if (!out || !cfg)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_create: NULL argument");
    *out = NULL;
    if ((unsigned)cfg->kind > TL_SEQ2SEQ_ATTENTION)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_create: unknown kind %d", (int)cfg->kind);
    if (cfg->vocab <= 0 || cfg->wordvec <= 0 || cfg->hidden <= 0 || cfg->hidden > (1 << 24))
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_create: sizes must be positive (vocab %d, "
                       "wordvec %d, hidden %d)", cfg->vocab, cfg->wordvec, cfg->hidden);
    tl_seq2seq *s;
    TL_TRY(tl_calloc((void **)&s, 1, sizeof *s, "tl_seq2seq"));
    s->cfg = *cfg;
    tl_status st = make_layers(s, rng);
    if (!st)
        st = flatten(s);
    if (st) {
        tl_seq2seq_destroy(s);
        return st;
    }
    *out = s;
    return TL_OK;
}

tl_seq2seq_config tl_seq2seq_get_config(const tl_seq2seq *s)
{
    return s ? s->cfg : (tl_seq2seq_config){0};
}

static tl_status check_ids(const char *what, const tl_tensor *t, int min_T)
{
    if (!t || t->dtype != TL_INT32 || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < min_T ||
        (t->size && !t->ids))
        return tl_fail(TL_ERR_SHAPE, "seq2seq: %s must be an int32 (N, T) tensor with T >= %d",
                       what, min_T);
    return TL_OK;
}

/* Run the encoder on xs; s->hs and s->h are its states. */
static tl_status encode(tl_seq2seq *s, const tl_tensor *xs)
{
    const tl_tensor *e, *hs;
    TL_TRY(tl_layer_forward(s->layer[ENC_EMBED], xs, &e));
    TL_TRY(tl_layer_forward(s->layer[ENC_LSTM], e, &hs));
    int N = hs->shape[0], S = hs->shape[1], H = s->cfg.hidden;
    TL_TRY(tl_tensor_resize(&s->h, TL_REAL, 2, (int[]){N, H}));
    for (int n = 0; n < N; n++)
        memcpy(s->h.data + (size_t)n * H, hs->data + ((size_t)n * S + S - 1) * H,
               (size_t)H * sizeof(tl_real));
    s->xs = xs;
    s->hs = hs;
    return TL_OK;
}

/* The decoder's scores for ids (N, T); with start set, its LSTM starts from
 * the encoder's (h, 0), otherwise it continues (generation). */
static tl_status decode(tl_seq2seq *s, const tl_tensor *ids, bool start, const tl_tensor **scores)
{
    const tl_tensor *x, *h;
    TL_TRY(tl_layer_forward(s->layer[DEC_EMBED], ids, &x));
    if (start)
        TL_TRY(tl_layer_set_state(s->layer[DEC_LSTM], &s->h, NULL));
    if (s->peek_in) {
        TL_TRY(tl_time_concat_set_side(s->peek_in, &s->h));
        TL_TRY(tl_layer_forward(s->peek_in, x, &x));
    }
    TL_TRY(tl_layer_forward(s->layer[DEC_LSTM], x, &h));
    if (s->peek_out) {
        TL_TRY(tl_time_concat_set_side(s->peek_out, &s->h));
        TL_TRY(tl_layer_forward(s->peek_out, h, &h));
    }
    if (s->attn) {
        const tl_tensor *context;
        TL_TRY(tl_time_attention_set_memory(s->attn, s->hs));
        TL_TRY(tl_layer_forward(s->attn, h, &context));
        TL_TRY(tl_time_concat_set_side(s->cat, context));
        TL_TRY(tl_layer_forward(s->cat, h, &h));
    }
    return tl_layer_forward(s->layer[AFFINE], h, scores);
}

/* dst[:, t, :] = src[:, t0 + t, :] for the T columns of an (N, ·) id tensor. */
static tl_status id_columns(tl_tensor *dst, const tl_tensor *src, int t0, int T)
{
    int N = src->shape[0], W = src->shape[1];
    TL_TRY(tl_tensor_resize(dst, TL_INT32, 2, (int[]){N, T}));
    for (int n = 0; n < N; n++)
        memcpy(dst->ids + (size_t)n * T, src->ids + (size_t)n * W + t0,
               (size_t)T * sizeof(int32_t));
    return TL_OK;
}

tl_status tl_seq2seq_forward(tl_seq2seq *s, const tl_tensor *xs, const tl_tensor *answers,
                             double *loss)
{
    if (!s || !loss)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_forward: NULL argument");
    s->forward_done = false;
    TL_TRY(check_ids("the questions", xs, 1));
    TL_TRY(check_ids("the answers", answers, 2));
    if (answers->shape[0] != xs->shape[0])
        return tl_fail(TL_ERR_SHAPE, "seq2seq: %d questions but %d answers", xs->shape[0],
                       answers->shape[0]);
    int T = answers->shape[1] - 1;
    TL_TRY(id_columns(&s->dec_in, answers, 0, T));
    TL_TRY(id_columns(&s->dec_tgt, answers, 1, T));
    const tl_tensor *scores;
    TL_TRY(encode(s, xs));
    TL_TRY(decode(s, &s->dec_in, true, &scores));
    TL_TRY(tl_layer_loss(s->loss, scores, &s->dec_tgt, loss));
    s->forward_done = true;
    return TL_OK;
}

tl_status tl_seq2seq_backward(tl_seq2seq *s)
{
    if (!s)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_backward: model is NULL");
    if (!s->forward_done)
        return tl_fail(TL_ERR_STATE, "tl_seq2seq_backward: no successful forward to "
                                     "differentiate");
    s->forward_done = false;
    int N = s->hs->shape[0], S = s->hs->shape[1], H = s->cfg.hidden;
    const tl_tensor *d, *dside, *dh0, *dc0;
    TL_TRY(tl_layer_backward(s->loss, NULL, &d));
    TL_TRY(tl_layer_backward(s->layer[AFFINE], d, &d));
    TL_TRY(tl_tensor_zeros(&s->dh, TL_REAL, 2, (int[]){N, H}));
    if (s->peek_out) {
        TL_TRY(tl_layer_backward(s->peek_out, d, &d));
        TL_TRY(tl_time_concat_side_grad(s->peek_out, &dside));
        TL_TRY(tl_tensor_copy(&s->dh, dside));
    }
    if (s->attn) {
        const tl_tensor *dx, *dh_att;
        TL_TRY(tl_layer_backward(s->cat, d, &dx));
        TL_TRY(tl_time_concat_side_grad(s->cat, &dside));
        TL_TRY(tl_layer_backward(s->attn, dside, &dh_att));
        TL_TRY(tl_tensor_resize(&s->ddec, TL_REAL, 3, dx->shape));
        for (size_t i = 0; i < dx->size; i++)
            s->ddec.data[i] = dx->data[i] + dh_att->data[i];
        d = &s->ddec;
    }
    TL_TRY(tl_layer_backward(s->layer[DEC_LSTM], d, &d));
    TL_TRY(tl_layer_state_grad(s->layer[DEC_LSTM], &dh0, &dc0));
    for (size_t i = 0; i < s->dh.size; i++)
        s->dh.data[i] += dh0->data[i];
    if (s->peek_in) {
        TL_TRY(tl_layer_backward(s->peek_in, d, &d));
        TL_TRY(tl_time_concat_side_grad(s->peek_in, &dside));
        for (size_t i = 0; i < s->dh.size; i++)
            s->dh.data[i] += dside->data[i];
    }
    TL_TRY(tl_layer_backward(s->layer[DEC_EMBED], d, &d));

    if (s->attn) {
        const tl_tensor *dmem;
        TL_TRY(tl_time_attention_memory_grad(s->attn, &dmem));
        TL_TRY(tl_tensor_copy(&s->dhs, dmem));
    } else {
        TL_TRY(tl_tensor_zeros(&s->dhs, TL_REAL, 3, (int[]){N, S, H}));
    }
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++)
            s->dhs.data[((size_t)n * S + S - 1) * H + j] += s->dh.data[(size_t)n * H + j];
    TL_TRY(tl_layer_backward(s->layer[ENC_LSTM], &s->dhs, &d));
    return tl_layer_backward(s->layer[ENC_EMBED], d, &d);
}

tl_status tl_seq2seq_generate(tl_seq2seq *s, const tl_tensor *xs, int start_id, int len,
                              const tl_tensor **out)
{
    if (!s || !out)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_generate: NULL argument");
    s->forward_done = false;
    s->generated = false;
    TL_TRY(check_ids("the questions", xs, 1));
    if (len < 1)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_generate: length %d must be at least 1", len);
    int V = s->cfg.vocab, N = xs->shape[0], S = xs->shape[1];
    if (start_id < 0 || start_id >= V)
        return tl_fail(TL_ERR_RANGE, "tl_seq2seq_generate: start id %d outside [0, %d)",
                       start_id, V);
    TL_TRY(encode(s, xs));
    TL_TRY(tl_tensor_resize(&s->step, TL_INT32, 2, (int[]){N, 1}));
    TL_TRY(tl_tensor_resize(&s->gen, TL_INT32, 2, (int[]){N, len}));
    if (s->attn)
        TL_TRY(tl_tensor_resize(&s->weights, TL_REAL, 3, (int[]){N, len, S}));
    for (int n = 0; n < N; n++)
        s->step.ids[n] = start_id;
    for (int t = 0; t < len; t++) {
        const tl_tensor *scores;
        TL_TRY(decode(s, &s->step, t == 0, &scores));
        for (int n = 0; n < N; n++) {
            const tl_real *p = scores->data + (size_t)n * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                best = p[v] > p[best] ? v : best;
            s->step.ids[n] = s->gen.ids[(size_t)n * len + t] = best;
        }
        if (s->attn) {
            const tl_tensor *a;
            TL_TRY(tl_time_attention_weights(s->attn, &a));
            for (int n = 0; n < N; n++)
                memcpy(s->weights.data + ((size_t)n * len + t) * S, a->data + (size_t)n * S,
                       (size_t)S * sizeof(tl_real));
        }
    }
    s->generated = true;
    *out = &s->gen;
    return TL_OK;
}

tl_status tl_seq2seq_attention_weights(tl_seq2seq *s, const tl_tensor **a)
{
    if (!s || !a)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_attention_weights: NULL argument");
    if (!s->attn)
        return tl_fail(TL_ERR_STATE, "a %s model has no attention weights",
                       tl_seq2seq_kind_name(s->cfg.kind));
    if (!s->generated)
        return tl_fail(TL_ERR_STATE, "tl_seq2seq_attention_weights: no generation yet");
    *a = &s->weights;
    return TL_OK;
}

void tl_seq2seq_zero_grad(tl_seq2seq *s)
{
    if (s)
        memset(s->grads, 0, s->nflat * sizeof(tl_real));
}

int tl_seq2seq_param_count(const tl_seq2seq *s) { return s ? s->nparams : 0; }

tl_status tl_seq2seq_param(tl_seq2seq *s, int i, tl_named_param *p)
{
    if (!s || !p)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_param: NULL argument");
    if (i < 0 || i >= s->nparams)
        return tl_fail(TL_ERR_RANGE, "tl_seq2seq_param: index %d outside [0, %d)", i,
                       s->nparams);
    *p = s->params[i];
    return TL_OK;
}

tl_status tl_seq2seq_flat(tl_seq2seq *s, tl_real **values, tl_real **grads, size_t *n)
{
    if (!s)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_flat: model is NULL");
    if (values)
        *values = s->values;
    if (grads)
        *grads = s->grads;
    if (n)
        *n = s->nflat;
    return TL_OK;
}

/* ---- gradient check ---- */

typedef struct {
    tl_seq2seq *s;
    const tl_tensor *xs, *answers;
} check_ctx;

static tl_status check_loss(void *ctx, double *loss)
{
    check_ctx *c = ctx;
    return tl_seq2seq_forward(c->s, c->xs, c->answers, loss);
}

tl_status tl_gradcheck_seq2seq(tl_seq2seq *s, const tl_tensor *xs, const tl_tensor *answers,
                               const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                               int *n)
{
    if (!s)
        return tl_fail(TL_ERR_ARG, "tl_gradcheck_seq2seq: model is NULL");
    check_ctx c = {s, xs, answers};
    double loss;
    tl_real *g = NULL;
    tl_seq2seq_zero_grad(s);
    TL_TRY(check_loss(&c, &loss));
    TL_TRY(tl_seq2seq_backward(s));
    TL_TRY(tl_alloc((void **)&g, s->nflat, sizeof *g, "gradient check"));
    memcpy(g, s->grads, s->nflat * sizeof *g);
    tl_gradcheck_buffer b[MAX_PARAMS];
    for (int i = 0; i < s->nparams; i++)
        b[i] = (tl_gradcheck_buffer){s->params[i].name, s->params[i].param->value.data,
                                     g + s->params[i].offset, s->params[i].param->value.size};
    tl_status st = tl_gradcheck_buffers(check_loss, &c, b, s->nparams, opts, out, cap, n);
    tl_free(g);
    return st;
}

/* ---- checkpoints ---- */

static const tl__ckpt_kind seq2seq_kind = {"tl_seq2seq_save", FORMAT_NAME, FORMAT_VERSION,
                                            "seq2seq"};

static char *config_json(const tl_seq2seq_config *c)
{
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j && cJSON_AddStringToObject(j, "kind", tl_seq2seq_kind_name(c->kind)) &&
        cJSON_AddNumberToObject(j, "vocab", c->vocab) &&
        cJSON_AddNumberToObject(j, "wordvec", c->wordvec) &&
        cJSON_AddNumberToObject(j, "hidden", c->hidden))
        text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static tl_status save(const char *path, tl_seq2seq *s, const tl_ckpt_meta *meta, int nmeta,
                      const tl_ckpt_tensor *extra, int nextra, bool dry)
{
    TL_TRY(tl__ckpt_check_save(&seq2seq_kind, path, s != NULL, meta, nmeta, extra, nextra));
    char *cfg = config_json(&s->cfg);
    if (!cfg)
        return tl_fail(TL_ERR_NOMEM, "tl_seq2seq_save: out of memory writing the \"seq2seq\" "
                       "JSON");
    tl_status st = tl__ckpt_write(&seq2seq_kind, path, cfg, s->params, s->nparams, meta, nmeta,
                                  extra, nextra, dry);
    cJSON_free(cfg);
    return st;
}

tl_status tl_seq2seq_save(const char *path, tl_seq2seq *s, const tl_ckpt_meta *meta, int nmeta,
                          const tl_ckpt_tensor *extra, int nextra)
{
    return save(path, s, meta, nmeta, extra, nextra, false);
}

tl_status tl_seq2seq_save_check(const char *path, tl_seq2seq *s, const tl_ckpt_meta *meta,
                                int nmeta, const tl_ckpt_tensor *extra, int nextra)
{
    return save(path, s, meta, nmeta, extra, nextra, true);
}

static tl_status read_config(const tl_checkpoint *ck, tl_seq2seq_config *c)
{
    const char *format = tl_checkpoint_meta(ck, "format");
    const char *version = tl_checkpoint_meta(ck, "format_version");
    if (!format || strcmp(format, FORMAT_NAME) != 0 || !version ||
        strcmp(version, FORMAT_VERSION) != 0)
        return tl_fail(TL_ERR_FORMAT, "not a sequence-to-sequence checkpoint (format \"%s\" "
                       "version \"%s\"; expected \"" FORMAT_NAME "\" version " FORMAT_VERSION ")",
                       format ? format : "", version ? version : "");
    cJSON *j;
    TL_TRY(tl__meta_json(ck, "seq2seq", cJSON_Object, &j));
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    const char *keys[3] = {"vocab", "wordvec", "hidden"};
    int *dst[3] = {&c->vocab, &c->wordvec, &c->hidden};
    tl_status st = cJSON_IsString(kind) ? tl_seq2seq_kind_from_name(kind->valuestring, &c->kind)
                                        : tl_fail(TL_ERR_FORMAT, "checkpoint: \"seq2seq\" "
                                                  "has no kind");
    for (int k = 0; !st && k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (1 << 24) ||
            v->valuedouble != (int)v->valuedouble)
            st = tl_fail(TL_ERR_FORMAT, "checkpoint: \"seq2seq\" has no valid \"%s\"", keys[k]);
        else
            *dst[k] = v->valueint;
    }
    cJSON_Delete(j);
    return st == TL_ERR_ARG ? TL_ERR_FORMAT : st;
}

tl_status tl_seq2seq_from_checkpoint(const tl_checkpoint *ck, tl_seq2seq **out)
{
    if (!ck || !out)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_from_checkpoint: NULL argument");
    *out = NULL;
    tl_seq2seq_config c;
    TL_TRY(read_config(ck, &c));
    /* The layers may together hold no more values than the file's encoder and
     * decoder tensors: a corrupt "seq2seq" cannot make us allocate a model of
     * its sizes before the shapes are compared. */
    size_t nvalues = 0;
    for (int k = 0; k < tl_checkpoint_tensor_count(ck); k++) {
        tl_ckpt_tensor_info info;
        if (!tl_checkpoint_tensor_info(ck, k, &info) &&
            (strncmp(info.name, "encoder.", 8) == 0 || strncmp(info.name, "decoder.", 8) == 0))
            nvalues += info.count;
    }
    tl_seq2seq *s;
    tl__param_budget(&nvalues);
    tl_status st = tl_seq2seq_create(&s, &c, NULL);
    tl__param_budget(NULL);
    if (st)
        return st == TL_ERR_NOMEM ? st : TL_ERR_FORMAT;
    for (int i = 0; !st && i < s->nparams; i++) {
        const tl_tensor *v = &s->params[i].param->value;
        st = tl__ckpt_check_param(ck, &s->params[i]);
        if (!st)
            st = tl_checkpoint_tensor(ck, s->params[i].name, v->data, v->size);
    }
    if (st) {
        tl_seq2seq_destroy(s);
        return st == TL_ERR_ARG || st == TL_ERR_SHAPE ? TL_ERR_FORMAT : st;
    }
    *out = s;
    return TL_OK;
}

void tl_seq2seq_destroy(tl_seq2seq *s)
{
    if (!s)
        return;
    for (int i = 0; i < NOWNED; i++)
        tl_layer_destroy(s->layer[i]);
    tl_layer_destroy(s->peek_in);
    tl_layer_destroy(s->peek_out);
    tl_layer_destroy(s->attn);
    tl_layer_destroy(s->cat);
    tl_layer_destroy(s->loss);
    tl_free(s->values);
    tl_free_pages(s->grads, s->nflat, sizeof(tl_real));
    tl_tensor *t[] = {&s->dec_in, &s->dec_tgt, &s->h, &s->dh, &s->dhs, &s->ddec,
                      &s->step, &s->gen, &s->weights};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        tl_tensor_free(t[i]);
    tl_free(s);
}
