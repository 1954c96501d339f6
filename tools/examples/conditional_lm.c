/* A conditional language model built from the layers directly: a feature
 * vector (say, an image's) goes through an Affine layer to the initial hidden
 * state of the LSTM that writes a caption. This is the captioning pattern of
 * Stanford's CS231n (h0 = features·W_proj + b_proj) and the decoder half of a
 * sequence-to-sequence model. The projection learns only through dh0, the
 * gradient of the loss with respect to the LSTM's initial state, which
 * tl_layer_state_grad returns after backward.
 *
 *     build/tools/conditional_lm
 *
 * Four "images" (one-hot features) each have a caption. The projection starts
 * at zero, so before training every image gets the same initial state and
 * the decoder cannot tell them apart; the example exits non-zero unless
 * greedy decoding reproduces every caption after training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timelayers/timelayers.h"

enum { K = 4, F = K, E = 16, H = 32, L = 16, STEPS = 400 };
static const char *const captions[K] = {"a cat sat", "the dog ran", "birds sing", "fish swim"};

#define CHECK(expr)                                                                            \
    do {                                                                                       \
        tl_status st_ = (expr);                                                                \
        if (st_) {                                                                             \
            fprintf(stderr, "conditional_lm: %s: %s\n", tl_status_name(st_), tl_last_error()); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* One id per character; "_" starts a caption and "$" ends it. */
static int32_t id_of(tl_vocab *v, char c)
{
    int32_t id;
    CHECK(tl_vocab_add(v, &c, 1, &id));
    return id;
}

/* The greedy caption of every image into text[K][L + 1]: h0 from the
 * projection, then the most likely character fed back until "$". */
static void decode(tl_model *proj, tl_model *dec, tl_vocab *v, const tl_tensor *feat,
                   char text[K][L + 1])
{
    const tl_tensor *h0, *scores;
    CHECK(tl_model_predict(proj, feat, &h0));
    CHECK(tl_layer_set_state(tl_model_layer(dec, 1), h0, NULL));
    int32_t cur[K], end = id_of(v, '$');
    bool done[K] = {false};
    for (int k = 0; k < K; k++)
        cur[k] = id_of(v, '_');
    memset(text, 0, K * (L + 1));
    for (int t = 0; t < L; t++) {
        tl_tensor x = tl_tensor_wrap_ids(cur, 2, (int[]){K, 1});
        CHECK(tl_model_predict(dec, &x, &scores));
        int V = scores->shape[2];
        for (int k = 0; k < K; k++) {
            const tl_real *s = scores->data + (size_t)k * V;
            int best = 0;
            for (int j = 1; j < V; j++)
                best = s[j] > s[best] ? j : best;
            cur[k] = best;
            if (best == end)
                done[k] = true;
            if (!done[k])
                text[k][t] = tl_vocab_token(v, best)[0];
        }
    }
}

int main(void)
{
    tl_vocab *v;
    CHECK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    /* Teacher forcing: input "_" + caption, target caption + "$"; the rest of
     * the L steps is padding whose targets are ignored. */
    int32_t xs[K * L], ts[K * L];
    for (int k = 0; k < K; k++) {
        int n = (int)strlen(captions[k]);
        for (int t = 0; t < L; t++) {
            xs[k * L + t] = id_of(v, t == 0 ? '_' : t <= n ? captions[k][t - 1] : '$');
            ts[k * L + t] = t < n ? id_of(v, captions[k][t]) : t == n ? id_of(v, '$')
                                                                      : TL_IGNORE_INDEX;
        }
    }
    int V = tl_vocab_size(v);
    tl_real features[K * F] = {0};
    for (int k = 0; k < K; k++)
        features[k * F + k] = 1;
    tl_tensor feat = tl_tensor_wrap(features, 2, (int[]){K, F});

    /* The projection (a model of one Affine layer, no loss), zero at the
     * start (rng NULL), and the decoder Embedding -> LSTM -> Affine -> loss.
     * The LSTM is stateful so that decoding can feed one step at a time;
     * set_state gives every forward its start. */
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_model *proj, *dec;
    tl_layer *l;
    CHECK(tl_model_create(&proj));
    CHECK(tl_time_affine_create(&l, F, H, NULL));
    CHECK(tl_model_add(proj, l));
    CHECK(tl_model_create(&dec));
    CHECK(tl_time_embedding_create(&l, V, E, &rng));
    CHECK(tl_model_add(dec, l));
    CHECK(tl_time_lstm_create(&l, E, H, true, &rng));
    CHECK(tl_model_add(dec, l));
    CHECK(tl_time_affine_create(&l, H, V, &rng));
    CHECK(tl_model_add(dec, l));
    CHECK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    CHECK(tl_model_set_loss(dec, l));
    tl_layer *lstm = tl_model_layer(dec, 1), *affine = tl_model_layer(proj, 0);

    /* One optimizer per model: each works on its model's flat buffers. */
    tl_real *pv, *pg, *dv, *dg;
    size_t pn, dn;
    CHECK(tl_model_flat(proj, &pv, &pg, &pn));
    CHECK(tl_model_flat(dec, &dv, &dg, &dn));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.01;
    tl_optim *popt, *dopt;
    CHECK(tl_optim_create(&popt, &oc, pn));
    CHECK(tl_optim_create(&dopt, &oc, dn));

    char text[K][L + 1];
    decode(proj, dec, v, &feat, text);
    printf("before training: \"%s\" for every image (the projection is zero)\n", text[0]);

    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){K, L});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){K, L});
    double loss = NAN;
    for (int s = 1; s <= STEPS; s++) {
        const tl_tensor *h0, *dh0, *dc0, *dfeat;
        tl_model_zero_grad(proj);
        tl_model_zero_grad(dec);
        CHECK(tl_model_predict(proj, &feat, &h0));           /* h0 = features·W + b */
        CHECK(tl_layer_set_state(lstm, h0, NULL));           /* c0 = 0 */
        CHECK(tl_model_forward(dec, &x, &t, &loss));
        CHECK(tl_model_backward(dec));
        CHECK(tl_layer_state_grad(lstm, &dh0, &dc0));        /* dloss/dh0 */
        CHECK(tl_layer_backward(affine, dh0, &dfeat));       /* into dW, db of the projection */
        CHECK(tl_clip_grad_norm(dg, dn, 5.0, NULL));
        CHECK(tl_clip_grad_norm(pg, pn, 5.0, NULL));
        CHECK(tl_optim_step(dopt, dv, dg, dn));
        CHECK(tl_optim_step(popt, pv, pg, pn));
        if (s % 100 == 0)
            printf("step %d  loss %.4f\n", s, loss);
    }

    decode(proj, dec, v, &feat, text);
    int right = 0;
    for (int k = 0; k < K; k++) {
        right += strcmp(text[k], captions[k]) == 0;
        printf("image %d: \"%s\" (caption \"%s\")\n", k, text[k], captions[k]);
    }
    printf("%d of %d captions reproduced\n", right, K);
    tl_optim_destroy(popt);
    tl_optim_destroy(dopt);
    tl_model_destroy(proj);
    tl_model_destroy(dec);
    tl_vocab_destroy(v);
    return right == K ? 0 : 1;
}
