/* A character-level LSTM language model written against the public API
 * without the trainer: the layers composed into a model, truncated BPTT with
 * the library's batcher, Adam and gradient clipping, the model saved with its
 * vocabulary, loaded back, and text generated from it.
 *
 *     build/tools/char_lm [FILE [STEPS [OUT]]]
 *
 * FILE defaults to Tiny Shakespeare (data/tinyshakespeare.txt), STEPS to 300,
 * OUT (the checkpoint) to char_lm.safetensors. Exits non-zero unless the loss
 * falls. `timelayers train` is the same loop with every option (lib/train.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timelayers/timelayers.h"

enum { B = 16, T = 32, D = 32, H = 128, GEN = 200 };

#define CHECK(expr)                                                                     \
    do {                                                                                \
        tl_status st_ = (expr);                                                         \
        if (st_) {                                                                      \
            fprintf(stderr, "char_lm: %s: %s\n", tl_status_name(st_), tl_last_error()); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* Embedding -> LSTM (stateful: TBPTT carries h, c across batches) -> Affine -> loss. */
static tl_model *build(int V, tl_rng *rng)
{
    tl_model *m;
    tl_layer *l;
    CHECK(tl_model_create(&m));
    CHECK(tl_time_embedding_create(&l, V, D, rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_lstm_create(&l, D, H, true, rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_affine_create(&l, H, V, rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    CHECK(tl_model_set_loss(m, l));
    return m;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : TL_DEFAULT_CORPUS;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    const char *out = argc > 3 ? argv[3] : "char_lm.safetensors";
    tl_vocab *v;
    tl_corpus text;
    CHECK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    CHECK(tl_corpus_load(path, v, true, &text));
    int V = tl_vocab_size(v);
    printf("%s: %zu characters, %d distinct\n", path, text.len, V);

    tl_rng rng;
    tl_rng_seed(&rng, 42);
    tl_model *m = build(V, &rng);
    tl_real *values, *grads;
    size_t n;
    CHECK(tl_model_flat(m, &values, &grads, &n));
    tl_optim *opt;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.003;
    CHECK(tl_optim_create(&opt, &oc, n));
    tl_batcher batches;
    CHECK(tl_batcher_init(&batches, text.ids, text.len, B, T));

    /* One step: next batch, zero grad, forward, backward, clip, update. */
    int32_t xs[B * T], ts[B * T];
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){B, T});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){B, T});
    double loss, sum = 0, first = NAN, last = NAN;
    for (int s = 1; s <= steps; s++) {
        tl_batcher_next(&batches, xs, ts);
        tl_model_zero_grad(m);
        CHECK(tl_model_forward(m, &x, &t, &loss));
        CHECK(tl_model_backward(m));
        CHECK(tl_clip_grad_norm(grads, n, 1.0, NULL));
        CHECK(tl_optim_step(opt, values, grads, n));
        sum += loss;
        if (s % 50 == 0 || s == steps) {
            int k = s % 50 ? s % 50 : 50;
            last = sum / k;
            if (isnan(first))
                first = last;
            printf("step %4d  loss %.3f  perplexity %.2f\n", s, last, exp(last));
            sum = 0;
        }
    }

    /* The model and its vocabulary in one file, then back from it. */
    CHECK(tl_lm_save(out, m, v, NULL, 0));
    tl_model_destroy(m);
    tl_vocab_destroy(v);
    CHECK(tl_lm_load(out, &m, &v));
    printf("saved to %s and loaded back\n", out);

    /* Generation: the prompt's ids (the first character of the text when it
     * lacks one of the prompt's), then GEN ids drawn at temperature 0.8. */
    const char *prompt = "ROMEO:";
    tl_corpus p;
    if (tl_corpus_from_text(prompt, strlen(prompt), v, false, &p) != TL_OK) {
        prompt = tl_vocab_token(v, 0);
        CHECK(tl_corpus_from_text(prompt, strlen(prompt), v, false, &p));
    }
    int32_t gen[GEN];
    tl_sample_opts so = {.temperature = 0.8};
    CHECK(tl_generate(m, p.ids, (int)p.len, GEN, &so, &rng, gen));
    char buf[GEN * 4 + 1];
    size_t len;
    CHECK(tl_vocab_detokenize(v, gen, GEN, buf, sizeof buf, &len));
    printf("--- sample ---\n%s%s\n", prompt, buf);

    tl_corpus_free(&p);
    tl_corpus_free(&text);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    tl_vocab_destroy(v);
    if (!(last < first)) {
        fprintf(stderr, "char_lm: the loss did not fall (%.3f -> %.3f)\n", first, last);
        return 1;
    }
    return 0;
}
