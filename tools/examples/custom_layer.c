/* A layer type defined outside the library, registered so that models using
 * it save and load like any other: TimeScale, a learned gain per feature
 * (and optionally a bias) between the LSTM and the output layer.
 *
 *     build/tools/custom_layer [FILE [STEPS [OUT]]]
 *
 * FILE defaults to Tiny Shakespeare (data/tinyshakespeare.txt), STEPS to 200,
 * OUT (the checkpoint) to custom_layer.safetensors. The model trains, is
 * saved with tl_lm_save, and is loaded back with tl_lm_load, which rebuilds
 * TimeScale through the registered class. Exits non-zero unless the loss
 * falls and the loaded model gives the same loss as the trained one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timelayers/timelayers.h"

enum { B = 16, T = 32, D = 32, H = 96 };

#define CHECK(expr)                                                                          \
    do {                                                                                     \
        tl_status st_ = (expr);                                                              \
        if (st_) {                                                                           \
            fprintf(stderr, "custom_layer: %s: %s\n", tl_status_name(st_), tl_last_error()); \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)
#define TRY(expr)                 \
    do {                          \
        tl_status st_ = (expr);   \
        if (st_)                  \
            return st_;           \
    } while (0)

/* The layer: tl_layer first (its ops table first in turn), then its own
 * state. params[0] is the gain g, params[1] the bias b when it has one. */
typedef struct {
    tl_layer base;
    int width;
    bool bias;
    tl_param params[2];
    const tl_tensor *x; /* the last forward's input, for backward */
    tl_tensor y, dx;
} time_scale;

/* y[r, j] = x[r, j]·g[j] + b[j] over every row r = (n, t). */
static tl_status scale_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_scale *s = (time_scale *)l;
    if (x->dtype != TL_REAL || x->ndim != 3 || x->shape[2] != s->width)
        return tl_fail(TL_ERR_SHAPE, "TimeScale: input must be (N, T, %d)", s->width);
    TRY(tl_tensor_resize(&s->y, TL_REAL, 3, x->shape));
    const tl_real *g = s->params[0].value.data, *b = s->bias ? s->params[1].value.data : NULL;
    for (size_t r = 0; r < x->size / s->width; r++)
        for (int j = 0; j < s->width; j++)
            s->y.data[r * s->width + j] = x->data[r * s->width + j] * g[j] + (b ? b[j] : 0);
    s->x = x;
    *y = &s->y;
    return TL_OK;
}

/* dx = dy·g;  dg[j] += Σ_r dy[r, j]·x[r, j];  db[j] += Σ_r dy[r, j]. */
static tl_status scale_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_scale *s = (time_scale *)l;
    if (!s->x || dy->size != s->x->size)
        return tl_fail(TL_ERR_STATE, "TimeScale: backward without a matching forward");
    TRY(tl_tensor_resize(&s->dx, TL_REAL, 3, dy->shape));
    const tl_real *g = s->params[0].value.data;
    tl_real *dg = s->params[0].grad.data, *db = s->bias ? s->params[1].grad.data : NULL;
    for (size_t r = 0; r < dy->size / s->width; r++)
        for (int j = 0; j < s->width; j++) {
            size_t k = r * s->width + j;
            s->dx.data[k] = dy->data[k] * g[j];
            dg[j] += dy->data[k] * s->x->data[k];
            if (db)
                db[j] += dy->data[k];
        }
    *dx = &s->dx;
    return TL_OK;
}

static tl_param *scale_params(tl_layer *l, int *count)
{
    time_scale *s = (time_scale *)l;
    *count = s->bias ? 2 : 1;
    return s->params;
}

/* The description tl_checkpoint_save stores: type, widths, the "bias" field. */
static tl_status scale_config(const tl_layer *l, tl_layer_config *cfg)
{
    const time_scale *s = (const time_scale *)l;
    *cfg = (tl_layer_config){.type = "TimeScale", .in_dim = s->width, .out_dim = s->width};
    return tl_config_set_bool(cfg, "bias", s->bias);
}

static void scale_destroy(tl_layer *l)
{
    time_scale *s = (time_scale *)l;
    for (int i = 0; i < 2; i++) {
        tl_tensor_free(&s->params[i].value);
        tl_tensor_free(&s->params[i].grad);
    }
    tl_tensor_free(&s->y);
    tl_tensor_free(&s->dx);
    free(s);
}

/* Stateless, the same in training and evaluation: the other entries stay NULL. */
static const tl_layer_ops scale_ops = {
    .type = "TimeScale",
    .forward = scale_forward,
    .backward = scale_backward,
    .params = scale_params,
    .config = scale_config,
    .destroy = scale_destroy,
};

/* g = 1, b = 0: the layer starts as the identity. */
static tl_status time_scale_create(tl_layer **out, int width, bool bias)
{
    if (width <= 0)
        return tl_fail(TL_ERR_ARG, "TimeScale: width %d", width);
    time_scale *s = calloc(1, sizeof *s);
    if (!s)
        return tl_fail(TL_ERR_NOMEM, "TimeScale: out of memory");
    s->base = (tl_layer){.ops = &scale_ops, .in_dtype = TL_REAL, .in_width = width,
                         .out_width = width};
    s->width = width;
    s->bias = bias;
    const char *names[2] = {"g", "b"};
    for (int i = 0; i < (bias ? 2 : 1); i++) {
        s->params[i].name = names[i];
        if (tl_tensor_zeros1(&s->params[i].value, width) ||
            tl_tensor_zeros1(&s->params[i].grad, width)) {
            scale_destroy(&s->base);
            return tl_fail(TL_ERR_NOMEM, "TimeScale: out of memory");
        }
    }
    for (int j = 0; j < width; j++)
        s->params[0].value.data[j] = 1;
    *out = &s->base;
    return TL_OK;
}

/* How the library rebuilds a TimeScale from its description; the values of
 * g and b are then read from the checkpoint. */
static tl_status scale_from_config(tl_layer **out, const tl_layer_config *cfg,
                                   tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    (void)built, (void)nbuilt, (void)rng;
    bool bias;
    TRY(tl_config_bool(cfg, "bias", true, &bias));
    if (cfg->out_dim != cfg->in_dim)
        return tl_fail(TL_ERR_ARG, "TimeScale: in_dim %d and out_dim %d differ", cfg->in_dim,
                       cfg->out_dim);
    return time_scale_create(out, cfg->in_dim, bias);
}

static const tl_layer_class time_scale_class = {
    .name = "TimeScale",
    .fields = (const char *const[]){"bias", NULL},
    .create = scale_from_config,
};

/* Embedding -> LSTM -> TimeScale -> Affine -> loss. */
static tl_model *build(int V, tl_rng *rng)
{
    tl_model *m;
    tl_layer *l;
    CHECK(tl_model_create(&m));
    CHECK(tl_time_embedding_create(&l, V, D, rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_lstm_create(&l, D, H, true, rng));
    CHECK(tl_model_add(m, l));
    CHECK(time_scale_create(&l, H, true));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_affine_create(&l, H, V, rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    CHECK(tl_model_set_loss(m, l));
    return m;
}

/* The evaluation loss of one batch from the zero state. */
static double loss_of(tl_model *m, const tl_tensor *x, const tl_tensor *t)
{
    double loss;
    tl_model_set_training(m, false);
    tl_model_reset_state(m);
    CHECK(tl_model_forward(m, x, t, &loss));
    return loss;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : TL_DEFAULT_CORPUS;
    int steps = argc > 2 ? atoi(argv[2]) : 200;
    const char *out = argc > 3 ? argv[3] : "custom_layer.safetensors";
    CHECK(tl_layer_register(&time_scale_class));

    tl_vocab *v;
    tl_corpus text;
    CHECK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    CHECK(tl_corpus_load(path, v, true, &text));
    tl_rng rng;
    tl_rng_seed(&rng, 7);
    tl_model *m = build(tl_vocab_size(v), &rng);
    tl_real *values, *grads;
    size_t n;
    CHECK(tl_model_flat(m, &values, &grads, &n));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.003;
    tl_optim *opt;
    CHECK(tl_optim_create(&opt, &oc, n));
    tl_batcher batches;
    CHECK(tl_batcher_init(&batches, text.ids, text.len, B, T));

    int32_t xs[B * T], ts[B * T];
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){B, T});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){B, T});
    tl_batcher_next(&batches, xs, ts); /* the batch the losses below are measured on */
    double before = loss_of(m, &x, &t);
    tl_model_set_training(m, true);
    tl_model_reset_state(m);
    for (int s = 1; s <= steps; s++) {
        double loss;
        tl_batcher_next(&batches, xs, ts);
        tl_model_zero_grad(m);
        CHECK(tl_model_forward(m, &x, &t, &loss));
        CHECK(tl_model_backward(m));
        CHECK(tl_clip_grad_norm(grads, n, 1.0, NULL));
        CHECK(tl_optim_step(opt, values, grads, n));
        if (s % 50 == 0)
            printf("step %4d  loss %.3f\n", s, loss);
    }
    CHECK(tl_batcher_init(&batches, text.ids, text.len, B, T));
    tl_batcher_next(&batches, xs, ts);
    double trained = loss_of(m, &x, &t);

    /* Saved with its vocabulary; tl_lm_load finds TimeScale by its class. */
    CHECK(tl_lm_save(out, m, v, NULL, 0));
    tl_model *back;
    tl_vocab *vback;
    CHECK(tl_lm_load(out, &back, &vback));
    tl_layer_config cfg;
    CHECK(tl_model_layer_config(back, 2, &cfg));
    double loaded = loss_of(back, &x, &t);
    printf("first batch: loss %.4f before training, %.4f after; layer 2 of %s: %s; its loss "
           "there %.4f\n", before, trained, out, cfg.type, loaded);

    int rc = 0;
    if (!(trained < before)) {
        fprintf(stderr, "custom_layer: the loss did not fall (%.4f -> %.4f)\n", before, trained);
        rc = 1;
    }
    if (loaded != trained || strcmp(cfg.type, "TimeScale") != 0) {
        fprintf(stderr, "custom_layer: the loaded model differs (loss %.17g, not %.17g)\n", loaded,
                trained);
        rc = 1;
    }
    tl_model_destroy(back);
    tl_vocab_destroy(vback);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    tl_corpus_free(&text);
    tl_vocab_destroy(v);
    return rc;
}
