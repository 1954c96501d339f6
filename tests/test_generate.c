/* Sampling and generation: greedy is the argmax, a fixed seed repeats, the
 * temperature and top-k shape the distribution as stated, skipped ids never
 * come out and do not advance the state, errors are refused; generation with
 * bf16 weights is the float model with those weights rounded, and moves the
 * distribution by little. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "../lib/kernels/kernels.h"

enum { V = 6 };

static void test_greedy_and_skip(void **state)
{
    (void)state;
    tl_real s[V] = {0.1f, 2.0f, -1.0f, 1.5f, 0.0f, 1.9f};
    int32_t id;
    tl_sample_opts o = {.greedy = true};
    TU_OK(tl_sample(s, V, &o, NULL, NULL, &id));
    assert_int_equal(id, 1);
    int32_t skip[] = {1, 5};
    o.skip = skip;
    o.nskip = 2;
    TU_OK(tl_sample(s, V, &o, NULL, NULL, &id));
    assert_int_equal(id, 3);
    /* Sampling never returns a skipped id. */
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    o.greedy = false;
    for (int i = 0; i < 2000; i++) {
        TU_OK(tl_sample(s, V, &o, &rng, NULL, &id));
        assert_true(id != 1 && id != 5 && id >= 0 && id < V);
    }
}

/* Frequencies over many draws match softmax(s / T) restricted to the top k
 * (and top p). */
static void frequencies(double temperature, int top_k, double top_p, const double *expect)
{
    tl_real s[V] = {0.5f, 1.0f, -0.5f, 0.0f, 2.0f, -1.0f};
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_sample_opts o = {.temperature = temperature, .top_k = top_k, .top_p = top_p};
    double work[2 * V];
    int count[V] = {0}, n = 200000;
    for (int i = 0; i < n; i++) {
        int32_t id;
        TU_OK(tl_sample(s, V, &o, &rng, work, &id));
        count[id]++;
    }
    for (int i = 0; i < V; i++) {
        double f = (double)count[i] / n, sd = sqrt(expect[i] * (1 - expect[i]) / n);
        if (fabs(f - expect[i]) > 5 * sd + 1e-12)
            fail_msg("T=%g k=%d p=%g: id %d drawn %.4f of the time, expected %.4f", temperature,
                     top_k, top_p, i, f, expect[i]);
    }
}

static void softmax(const double *s, double t, int top_k, double *p)
{
    double sorted[V], cut = -INFINITY, z = 0;
    memcpy(sorted, s, sizeof sorted);
    for (int i = 0; i < V; i++) /* selection sort, descending */
        for (int j = i + 1; j < V; j++)
            if (sorted[j] > sorted[i]) {
                double x = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = x;
            }
    if (top_k)
        cut = sorted[top_k - 1];
    for (int i = 0; i < V; i++)
        z += p[i] = s[i] >= cut ? exp(s[i] / t) : 0;
    for (int i = 0; i < V; i++)
        p[i] /= z;
}

static void test_temperature_and_top_k(void **state)
{
    (void)state;
    const double s[V] = {0.5, 1.0, -0.5, 0.0, 2.0, -1.0};
    double p[V];
    softmax(s, 1.0, 0, p);
    frequencies(1.0, 0, 0, p);
    softmax(s, 0.5, 0, p);
    frequencies(0.5, 0, 0, p);
    softmax(s, 2.0, 3, p);
    frequencies(2.0, 3, 0, p);
}

/* Nucleus sampling. At T = 1 the probabilities of ids 4, 1, 0, 3, 2, 5 are
 * 0.538, 0.198, 0.120, 0.073, 0.044, 0.027 (cumulative 0.538, 0.736, 0.856):
 * top_p 0.8 keeps ids 4, 1, 0 (the same draw as top_k 3), 0.5 keeps id 4
 * alone. With top_k 2 first, top_p 0.7 is taken of the mass 0.736 of ids 4
 * and 1: 0.538 >= 0.7 * 0.736, so id 4 alone again. */
static void test_top_p(void **state)
{
    (void)state;
    const double s[V] = {0.5, 1.0, -0.5, 0.0, 2.0, -1.0}, only4[V] = {0, 0, 0, 0, 1, 0};
    double p[V];
    softmax(s, 1.0, 3, p);
    frequencies(1.0, 0, 0.8, p);
    frequencies(1.0, 0, 0.5, only4);
    frequencies(1.0, 2, 0.7, only4);
    softmax(s, 1.0, 2, p);
    frequencies(1.0, 2, 0.75, p);
    softmax(s, 1.0, 0, p);
    frequencies(1.0, 0, 1.0, p);
    tl_real z[V] = {0};
    int32_t id;
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_sample(z, V, &(tl_sample_opts){.top_p = 1.5}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(z, V, &(tl_sample_opts){.top_p = NAN}, &rng, NULL, &id),
                     TL_ERR_ARG);
}

/* The language model of c with every parameter drawn from N(0, scale²). */
static tl_model *random_lm(const tl_lm_config *c, uint64_t seed, double scale)
{
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_model *m;
    TU_OK(tl_lm_create(&m, c, &rng));
    tl_real *w;
    size_t n;
    TU_OK(tl_model_flat(m, &w, NULL, &n));
    for (size_t i = 0; i < n; i++)
        w[i] = (tl_real)(scale * tl_rng_normal(&rng));
    return m;
}

static tl_model *small_lm(void)
{
    return random_lm(&(tl_lm_config){.vocab = V, .embed = 4, .hidden = 8, .layers = 1}, 4, 0.8);
}

static void test_generate_is_reproducible_and_stateful(void **state)
{
    (void)state;
    tl_model *m = small_lm();
    int32_t prompt[] = {1, 2, 3}, a[40], b[40];
    tl_rng r1, r2;
    tl_rng_seed(&r1, 5);
    tl_rng_seed(&r2, 5);
    TU_OK(tl_generate(m, prompt, 3, 40, NULL, &r1, a));
    TU_OK(tl_generate(m, prompt, 3, 40, NULL, &r2, b));
    assert_memory_equal(a, b, sizeof a);

    /* Greedy generation equals feeding the tokens one at a time by hand. */
    tl_sample_opts g = {.greedy = true};
    TU_OK(tl_generate(m, prompt, 3, 10, &g, NULL, a));
    tl_model_reset_state(m);
    const tl_tensor *y;
    for (int i = 0; i < 3; i++) {
        tl_tensor x = tl_tensor_wrap_ids(&prompt[i], 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
    for (int k = 0; k < 10; k++) {
        int32_t id = 0;
        for (int v = 1; v < V; v++)
            if (y->data[v] > y->data[id])
                id = v;
        assert_int_equal(a[k], id);
        tl_tensor x = tl_tensor_wrap_ids(&id, 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
    tl_model_destroy(m);
}

/* Embedding (vocab, 3) -> a non-stateful recurrent layer (3 -> 4) -> affine. */
static tl_model *stateless_lm(int vocab,
                              tl_status (*recurrent)(tl_layer **, int, int, bool, tl_rng *),
                              tl_rng *rng)
{
    tl_model *m;
    tl_layer *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, vocab, 3, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(recurrent(&l, 3, 4, false, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create(&l, 4, vocab, rng));
    TU_OK(tl_model_add(m, l));
    return m;
}

/* At temperature 1 without top-k, top-p or skip list the draw takes a
 * shorter path (the weights straight from the scores); a skip list naming
 * no valid id takes the general one. Both must draw the same ids from the
 * same generator state: scores of many magnitudes (differences from the
 * largest that are not exact in double among them), ties for the largest,
 * a vocabulary of 10,000 and a short one. */
static void plain_against_general(void)
{
    enum { BIG = 10000, DRAWS = 3000 };
    tl_real *s = malloc(BIG * sizeof *s);
    double *work = malloc(2 * BIG * sizeof *work);
    assert_non_null(s);
    assert_non_null(work);
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    const int sizes[] = {BIG, 7};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        int n = sizes[z];
        for (int i = 0; i < n; i++) {
            double g = tl_rng_normal(&rng);
            s[i] = (tl_real)(i % 5 == 0 ? 3 * g : i % 5 == 1 ? 1e-9 * g : i % 5 == 2 ? 0.7 : g);
        }
        int first = 0;  /* the first largest */
        for (int i = 1; i < n; i++)
            first = s[i] > s[first] ? i : first;
        int32_t nowhere = n + 3;
        tl_sample_opts general = {.skip = &nowhere, .nskip = 1};
        for (int d = 0; d < DRAWS; d++) {
            if (d == DRAWS / 2)
                s[n - 1] = s[first];  /* a tie for the largest */
            tl_rng r1 = rng, r2 = rng;
            int32_t a, b;
            TU_OK(tl_sample(s, n, NULL, &r1, d % 2 ? work : NULL, &a));
            TU_OK(tl_sample(s, n, &general, &r2, work, &b));
            if (a != b)
                fail_msg("V = %d draw %d: %d on the short path, %d on the general one", n, d,
                         a, b);
            rng = r1;
        }
        int32_t a, b;
        TU_OK(tl_sample(s, n, &(tl_sample_opts){.greedy = true}, NULL, NULL, &a));
        general.greedy = true;
        TU_OK(tl_sample(s, n, &general, NULL, work, &b));
        assert_int_equal(a, first);
        assert_int_equal(b, a);
    }
    /* A score that is not finite, in the vector part and in the tail. */
    for (int i = 0; i < BIG; i++)
        s[i] = (tl_real)(i % 7) * (tl_real)0.1;
    const int at[] = {100, BIG - 3};
    const tl_real bad[] = {INFINITY, -INFINITY, NAN};
    for (size_t p = 0; p < sizeof at / sizeof *at; p++)
        for (size_t q = 0; q < sizeof bad / sizeof *bad; q++) {
            int32_t id;
            s[at[p]] = bad[q];
            assert_int_equal(tl_sample(s, BIG, NULL, &rng, work, &id), TL_ERR_NUMERIC);
            char want[64];
            snprintf(want, sizeof want, "score of id %d is", at[p]);
            assert_non_null(strstr(tl_last_error(), want));
            s[at[p]] = 0;
        }
    free(s);
    free(work);
}

/* The shorter path at the CPU's SIMD level and in portable C. */
static void test_plain_draw_is_the_general_one(void **state)
{
    (void)state;
    tl_simd level = tl_simd_active();
    plain_against_general();
    tl_simd_limit(TL_SIMD_NONE);
    plain_against_general();
    tl_simd_limit(level);
}

static void test_errors(void **state)
{
    (void)state;
    tl_real s[V] = {0};
    int32_t id, all[V] = {0, 1, 2, 3, 4, 5};
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_sample(s, V, &(tl_sample_opts){.skip = all, .nskip = V}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(s, V, &(tl_sample_opts){.temperature = -1}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(s, 0, NULL, &rng, NULL, &id), TL_ERR_ARG);
    assert_int_equal(tl_sample(s, V, NULL, NULL, NULL, &id), TL_ERR_ARG); /* no rng */
    s[2] = NAN;
    assert_int_equal(tl_sample(s, V, NULL, &rng, NULL, &id), TL_ERR_NUMERIC);
    tl_model *m = small_lm();
    int32_t out[4], bad = V;
    assert_int_equal(tl_generate(m, all, 0, 4, NULL, &rng, out), TL_ERR_ARG);
    assert_int_equal(tl_generate(m, &bad, 1, 4, NULL, &rng, out), TL_ERR_RANGE);
    tl_model_destroy(m);
    /* A non-stateful recurrent layer would forget the context at every token. */
    m = stateless_lm(V, tl_time_lstm_create, &rng);
    assert_int_equal(tl_generate(m, all, 1, 4, NULL, &rng, out), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "not stateful"));
    tl_model_destroy(m);
}

/* Generation with bf16 weights. */
enum { BV = 53 };  /* vocabulary of the bf16 models: a tail past 16 and 8 lanes */

static tl_model *bf16_lm(tl_cell_kind cell, bool tie, int H)
{
    tl_lm_config c = {.vocab = BV, .embed = H, .hidden = H, .layers = 2, .cell = cell,
                      .tie = tie};
    return random_lm(&c, 17 + (uint64_t)cell, 0.5);
}

#ifndef TL_REAL_DOUBLE
static tl_real bf16(tl_real x) { return tl_bf16_to_float(tl_bf16_from_float(x)); }

/* The float model that tl_generate_bf16 on m stands for: untied, with m's
 * parameters, Wx, Wh and the affine W rounded to bf16, the affine W of a
 * tied m being its embedding's table transposed (and rounded) while the
 * embedding keeps the float table. */
static tl_model *rounded_twin(tl_model *m, tl_cell_kind cell, int H)
{
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    tl_model *r;
    tl_lm_config c = {.vocab = BV, .embed = H, .hidden = H, .layers = 2, .cell = cell};
    TU_OK(tl_lm_create(&r, &c, &rng));
    int nr, nm;
    TU_OK(tl_model_param_count(r, &nr));
    TU_OK(tl_model_param_count(m, &nm));
    tl_named_param table;
    TU_OK(tl_model_param(m, 0, &table));
    assert_string_equal(table.name, "layers.0.W");
    for (int i = 0; i < nr; i++) {
        tl_named_param p, q = {.param = NULL};
        TU_OK(tl_model_param(r, i, &p));
        for (int k = 0; k < nm; k++) {
            TU_OK(tl_model_param(m, k, &q));
            if (!strcmp(p.name, q.name))
                break;
            q.param = NULL;
        }
        tl_tensor *v = &p.param->value;
        const char *name = p.param->name;
        bool streamed = !strcmp(name, "Wx") || !strcmp(name, "Wh") ||
                        (!strcmp(name, "W") && p.layer > 0);
        if (q.param)
            memcpy(v->data, q.param->value.data, v->size * sizeof *v->data);
        else  /* the affine W of a tied m: Eᵀ */
            for (int d = 0; d < H; d++)
                for (int t = 0; t < BV; t++)
                    v->data[d * BV + t] = table.param->value.data[t * H + d];
        for (size_t k = 0; streamed && k < v->size; k++)
            v->data[k] = bf16(v->data[k]);
    }
    return r;
}

/* What tl_generate does, fed the prompt one token at a time (the bf16
 * path's order), on any model. */
static void generate_by_hand(tl_model *m, const int32_t *prompt, int nprompt, int count,
                             tl_rng *rng, int32_t *out)
{
    const tl_tensor *y = NULL;
    tl_model_reset_state(m);
    for (int i = 0; i < nprompt; i++) {
        tl_tensor x = tl_tensor_wrap_ids((int32_t *)&prompt[i], 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
    for (int k = 0; k < count; k++) {
        TU_OK(tl_sample(y->data, BV, NULL, rng, NULL, &out[k]));
        tl_tensor x = tl_tensor_wrap_ids(&out[k], 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
}

/* tl_generate_bf16 draws exactly the tokens of the float model with the
 * streamed weights rounded (same products in the same order on the same
 * values: the bits agree), for RNN, LSTM and GRU, tied or not, a prompt of
 * several tokens, with 1 and 2 threads; they are not the float model's
 * tokens (so the rounding did happen); the model is unchanged after it and
 * tl_generate afterwards reads float weights again. */
static void test_bf16_is_the_rounded_model(void **state)
{
    (void)state;
    enum { COUNT = 300 };  /* enough draws for the rounding to change one */
    const int32_t prompt[] = {3, 1, 4, 1, 5};
    const tl_cell_kind cells[] = {TL_CELL_RNN, TL_CELL_LSTM, TL_CELL_GRU};
    for (size_t ci = 0; ci < sizeof cells / sizeof *cells; ci++)
        for (int tie = 0; tie < 2; tie++) {
            int H = tie ? 24 : 21;
            tl_model *m = bf16_lm(cells[ci], tie, H), *r = rounded_twin(m, cells[ci], H);
            tl_real *w;
            size_t n;
            TU_OK(tl_model_flat(m, &w, NULL, &n));
            tl_real *before = malloc(n * sizeof *before);
            assert_non_null(before);
            memcpy(before, w, n * sizeof *w);
            int32_t got[COUNT], again[COUNT], want[COUNT], plain[COUNT], plain2[COUNT];
            tl_rng r1, r2, r3, r4, r5;
            tl_rng_seed(&r1, 7);
            r2 = r3 = r4 = r5 = r1;
            TU_OK(tl_generate(m, prompt, 5, COUNT, NULL, &r4, plain));
            TU_OK(tl_set_num_threads(1));
            TU_OK(tl_generate_bf16(m, prompt, 5, COUNT, NULL, &r1, got));
            TU_OK(tl_set_num_threads(2));
            TU_OK(tl_generate_bf16(m, prompt, 5, COUNT, NULL, &r2, again));
            TU_OK(tl_set_num_threads(1));
            generate_by_hand(r, prompt, 5, COUNT, &r3, want);
            if (memcmp(got, want, sizeof got))
                fail_msg("cell %d tie %d: bf16 tokens differ from the rounded model's",
                         (int)cells[ci], tie);
            assert_memory_equal(got, again, sizeof got);
            if (!memcmp(got, plain, sizeof got))
                fail_msg("cell %d tie %d: bf16 tokens are the float model's", (int)cells[ci],
                         tie);
            assert_memory_equal(w, before, n * sizeof *w);
            TU_OK(tl_generate(m, prompt, 5, COUNT, NULL, &r5, plain2));
            assert_memory_equal(plain, plain2, sizeof plain);
            free(before);
            tl_model_destroy(m);
            tl_model_destroy(r);
        }
}

/* How much bf16 weights move the next-token distribution of LSTM and GRU
 * models with weights of N(0, 0.25) (scores spread over several units):
 * after each of 20 tokens, max |p − q| <= 0.02 and KL(p‖q) <= 1e-3, p the
 * float model's probabilities, q the rounded model's (which tl_generate_bf16
 * samples from, test above). Measured: max |p − q| 0.0008 (LSTM) and
 * 0.0024 (GRU), KL 7e-6 and 3.3e-5; the bounds are 8x and 30x above. */
static void test_bf16_distribution(void **state)
{
    (void)state;
    const tl_cell_kind cells[] = {TL_CELL_LSTM, TL_CELL_GRU};
    for (size_t ci = 0; ci < 2; ci++) {
        tl_model *m = bf16_lm(cells[ci], false, 21), *r = rounded_twin(m, cells[ci], 21);
        tl_model_reset_state(m);
        tl_model_reset_state(r);
        double worst = 0, worst_kl = 0;
        for (int32_t t = 0; t < 20; t++) {
            int32_t id = (t * 7) % BV;
            tl_tensor x = tl_tensor_wrap_ids(&id, 2, (int[]){1, 1});
            const tl_tensor *ys, *yr;
            TU_OK(tl_model_predict(m, &x, &ys));
            TU_OK(tl_model_predict(r, &x, &yr));
            double p[BV], q[BV], zp = 0, zq = 0, kl = 0;
            for (int v = 0; v < BV; v++) {
                zp += p[v] = exp(ys->data[v]);
                zq += q[v] = exp(yr->data[v]);
            }
            for (int v = 0; v < BV; v++) {
                p[v] /= zp;
                q[v] /= zq;
                kl += p[v] * log(p[v] / q[v]);
                worst = fmax(worst, fabs(p[v] - q[v]));
            }
            worst_kl = fmax(worst_kl, kl);
        }
        print_message("cell %d: max |p - q| %.3g, KL %.3g\n", (int)cells[ci], worst, worst_kl);
        assert_true(worst <= 0.02);
        assert_true(worst_kl <= 1e-3);
        tl_model_destroy(m);
        tl_model_destroy(r);
    }
}
#endif

/* The errors of tl_generate, and in the double build a clear refusal. */
static void test_bf16_errors(void **state)
{
    (void)state;
    tl_model *m = bf16_lm(TL_CELL_GRU, false, 8);
    int32_t out[4], ok = 1, bad = BV;
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_generate_bf16(NULL, &ok, 1, 4, NULL, &rng, out), TL_ERR_ARG);
    assert_int_equal(tl_generate_bf16(m, &ok, 0, 4, NULL, &rng, out), TL_ERR_ARG);
    assert_int_equal(tl_generate_bf16(m, &ok, 1, 4, NULL, &rng, NULL), TL_ERR_ARG);
    assert_int_equal(tl_generate_bf16(m, &ok, 1, -1, NULL, &rng, out), TL_ERR_ARG);
#ifdef TL_REAL_DOUBLE
    assert_int_equal(tl_generate_bf16(m, &ok, 1, 4, NULL, &rng, out), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "float build"));
#else
    assert_int_equal(tl_generate_bf16(m, &bad, 1, 4, NULL, &rng, out), TL_ERR_RANGE);
    assert_int_equal(tl_generate_bf16(m, &ok, 1, 4, &(tl_sample_opts){.temperature = -1}, &rng,
                                      out), TL_ERR_ARG);
    TU_OK(tl_generate_bf16(m, &ok, 1, 4, NULL, &rng, out));
    for (int i = 0; i < 4; i++)
        assert_true(out[i] >= 0 && out[i] < BV);
#endif
    (void)bad;
    tl_model_destroy(m);
    m = stateless_lm(BV, tl_time_gru_create, &rng);
    assert_int_equal(tl_generate_bf16(m, &ok, 1, 4, NULL, &rng, out), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "not stateful"));
    tl_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_skip),
        cmocka_unit_test(test_temperature_and_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_generate_is_reproducible_and_stateful),
        cmocka_unit_test(test_plain_draw_is_the_general_one),
        cmocka_unit_test(test_errors),
#ifndef TL_REAL_DOUBLE
        cmocka_unit_test(test_bf16_is_the_rounded_model),
        cmocka_unit_test(test_bf16_distribution),
#endif
        cmocka_unit_test(test_bf16_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
