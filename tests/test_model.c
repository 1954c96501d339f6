/* The sequential model: composition, shape validation, flat parameters,
 * gradient check of Embedding -> LSTM -> Affine -> SoftmaxWithLoss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include "testutil.h"
#include "../lib/internal.h"
#include "../lib/layers/output.h"

enum { V = 7, D = 5, H = 6, N = 3, T = 4 };

static tl_model *build(tl_rng *rng, bool stateful)
{
    tl_model *m;
    tl_layer *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, V, D, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_lstm_create(&l, D, H, stateful, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create(&l, H, V, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    TU_OK(tl_model_set_loss(m, l));
    return m;
}

static void test_gradcheck_full_model(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 11);
    tl_model *m = build(&rng, true);
    /* The reference's embedding init (N(0,1)/100) makes gradients tiny; use
     * unit-scale weights so the check exercises every path at full size. */
    tl_real *values;
    size_t n;
    TU_OK(tl_model_flat(m, &values, NULL, &n));
    for (size_t i = 0; i < n; i++)
        values[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    tl_tensor xs = {0}, ts = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    tu_randint(&ts, &rng, V, 2, (int[]){N, T});
    ts.ids[1] = -1; /* an ignored target on the way */
    tl_gradcheck_entry e[16];
    int ne;
    TU_OK(tl_gradcheck_model(m, &xs, &ts, &(tl_gradcheck_opts){.seed = 1}, e, 16, &ne));
    assert_int_equal(ne, 6); /* W, Wx, Wh, b, W, b */
    assert_string_equal(e[0].name, "layers.0.W");
    assert_string_equal(e[1].name, "layers.1.Wx");
    assert_string_equal(e[5].name, "layers.2.b");
    /* Bound 1e-5, not the layers' 1e-6: the objective here is a mean over
     * N·T tokens, so many gradients are ~1e-5 while the rounding noise of the
     * difference quotient stays ~ε·|L|/eps ≈ 4e-11 (measured max_abs_error);
     * their quotient alone reaches a few 1e-6 for correct code. The absolute
     * errors are asserted separately: a wrong gradient is off by far more. */
    tu_check_gradients("Embedding-LSTM-Affine-Loss", e, ne, 1e-5);
    for (int i = 0; i < ne; i++)
        if (!(e[i].max_abs_error <= 1e-9))
            fail_msg("%s: absolute error %.3e exceeds 1e-9", e[i].name, e[i].max_abs_error);
    tl_tensor_free(&xs);
    tl_tensor_free(&ts);
    tl_model_destroy(m);
}

static void test_flat_parameters(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 2);
    tl_model *m = build(&rng, true);
    int count;
    TU_OK(tl_model_param_count(m, &count));
    assert_int_equal(count, 6);
    tl_real *values, *grads;
    size_t n, expect = 0;
    TU_OK(tl_model_flat(m, &values, &grads, &n));
    for (int i = 0; i < count; i++) {
        tl_named_param p;
        TU_OK(tl_model_param(m, i, &p));
        assert_int_equal(p.offset, expect);
        assert_ptr_equal(p.param->value.data, values + expect);
        assert_ptr_equal(p.param->grad.data, grads + expect);
        expect += p.param->value.size;
    }
    assert_int_equal(n, expect);
    assert_int_equal(n, (size_t)(V * D + D * 4 * H + H * 4 * H + 4 * H + H * V + V));
    tl_named_param p;
    assert_int_equal(tl_model_param(m, count, &p), TL_ERR_RANGE);

    /* Gradients land in the flat buffer; zero_grad clears it. */
    tl_tensor xs = {0}, ts = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    tu_randint(&ts, &rng, V, 2, (int[]){N, T});
    double loss;
    TU_OK(tl_model_forward(m, &xs, &ts, &loss));
    assert_true(loss > 0);
    TU_OK(tl_model_backward(m));
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += grads[i] * grads[i];
    assert_true(sum > 0);
    tl_model_zero_grad(m);
    for (size_t i = 0; i < n; i++)
        assert_true(grads[i] == 0);

    /* No second backward without a new forward. */
    assert_int_equal(tl_model_backward(m), TL_ERR_STATE);
    /* The model is built: no more layers. */
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, V, V, NULL));
    assert_int_equal(tl_model_add(m, l), TL_ERR_STATE);
    tl_tensor_free(&xs);
    tl_tensor_free(&ts);
    tl_model_destroy(m);
}

static void test_width_mismatch_names_both_layers(void **state)
{
    (void)state;
    tl_model *m;
    tl_layer *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, 50, 100, NULL));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_lstm_create(&l, 64, 32, true, NULL));
    assert_int_equal(tl_model_add(m, l), TL_ERR_SHAPE); /* l is destroyed by the model */
    const char *msg = tl_last_error();
    assert_non_null(strstr(msg, "TimeEmbedding"));
    assert_non_null(strstr(msg, "TimeLSTM"));
    assert_non_null(strstr(msg, "64"));
    assert_non_null(strstr(msg, "100"));

    /* A token-id layer after the first, and a loss layer passed as a layer. */
    TU_OK(tl_time_embedding_create(&l, 5, 5, NULL));
    assert_int_equal(tl_model_add(m, l), TL_ERR_SHAPE);
    TU_OK(tl_time_softmax_loss_create(&l, 0, TL_LOSS_MEAN));
    assert_int_equal(tl_model_add(m, l), TL_ERR_ARG);
    /* Loss of the wrong width. */
    TU_OK(tl_time_softmax_loss_create(&l, 99, TL_LOSS_MEAN));
    assert_int_equal(tl_model_set_loss(m, l), TL_ERR_SHAPE);

    tl_tensor xs = {0};
    TU_OK(tl_tensor_zeros(&xs, TL_INT32, 2, (int[]){2, 3}));
    double loss;
    assert_int_equal(tl_model_forward(m, &xs, &xs, &loss), TL_ERR_STATE); /* no loss layer */
    tl_tensor_free(&xs);
    tl_model_destroy(m);
}

/* A stateful model fed T=4 at once predicts what it predicts over two T=2 halves. */
static void test_stateful_predict_in_chunks(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_model *m = build(&rng, true);
    tl_tensor xs = {0}, a = {0}, b = {0}, full = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    TU_OK(tl_tensor_resize(&a, TL_INT32, 2, (int[]){N, T / 2}));
    TU_OK(tl_tensor_resize(&b, TL_INT32, 2, (int[]){N, T / 2}));
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T / 2; t++) {
            a.ids[n * (T / 2) + t] = xs.ids[n * T + t];
            b.ids[n * (T / 2) + t] = xs.ids[n * T + T / 2 + t];
        }
    const tl_tensor *y;
    TU_OK(tl_model_predict(m, &xs, &y));
    TU_OK(tl_tensor_copy(&full, y));
    tl_model_reset_state(m);
    for (int half = 0; half < 2; half++) {
        TU_OK(tl_model_predict(m, half ? &b : &a, &y));
        for (int n = 0; n < N; n++)
            tu_assert_close_real("chunked scores", y->data + (size_t)n * (T / 2) * V,
                                 full.data + ((size_t)n * T + half * (T / 2)) * V, (T / 2) * V,
                                 TU_RTOL, TU_ATOL);
    }
    /* After a reset the model starts from zeros again: same first half. */
    tl_model_reset_state(m);
    TU_OK(tl_model_predict(m, &a, &y));
    for (int n = 0; n < N; n++)
        tu_assert_close_real("after reset", y->data + (size_t)n * (T / 2) * V,
                             full.data + (size_t)n * T * V, (T / 2) * V, 0, 0);
    tl_tensor_free(&xs);
    tl_tensor_free(&a);
    tl_tensor_free(&b);
    tl_tensor_free(&full);
    tl_model_destroy(m);
}

/* tl_model_forward lets the loss overwrite the affine layer's output with
 * dscores (one buffer less); the plain path, each layer called by hand with
 * the loss writing its own buffer, must give the same loss and gradients.
 * Then the loss layer used directly again owns its buffer and leaves the
 * scores alone. */
static void test_loss_in_place_matches_plain(void **state)
{
    (void)state;
    enum { NB = 3, NT = 4, NV = 23 };
    tl_model *m[2];
    tl_real *v[2], *g[2];
    size_t n[2];
    tl_lm_config cfg = {.vocab = NV, .embed = 5, .hidden = 6, .layers = 1, .cell = TL_CELL_LSTM};
    for (int k = 0; k < 2; k++) {
        tl_rng rng;
        tl_rng_seed(&rng, 5);
        TU_OK(tl_lm_create(&m[k], &cfg, &rng));
        TU_OK(tl_model_flat(m[k], &v[k], &g[k], &n[k]));   /* gradients in the flat buffer */
    }
    int32_t ids[2 * NB * NT];
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    for (int i = 0; i < 2 * NB * NT; i++)
        ids[i] = (int32_t)tl_rng_below(&rng, NV);
    ids[NB * NT + 2] = -1;
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){NB, NT});
    tl_tensor t = tl_tensor_wrap_ids(ids + NB * NT, 2, (int[]){NB, NT});

    double loss_model, loss_plain;
    TU_OK(tl_model_forward(m[0], &x, &t, &loss_model));
    TU_OK(tl_model_backward(m[0]));

    const tl_tensor *y = &x, *d;
    int L = tl_model_num_layers(m[1]);
    for (int i = 0; i < L; i++)
        TU_OK(tl_layer_forward(tl_model_layer(m[1], i), y, &y));
    tl_tensor scores = {0};
    TU_OK(tl_tensor_copy(&scores, y));
    TU_OK(tl_layer_loss(tl_model_loss_layer(m[1]), y, &t, &loss_plain));
    for (size_t i = 0; i < scores.size; i++)
        assert_true(scores.data[i] == y->data[i]);   /* the plain path leaves them alone */
    TU_OK(tl_layer_backward(tl_model_loss_layer(m[1]), NULL, &d));
    for (int i = L - 1; i >= 0; i--)
        TU_OK(tl_layer_backward(tl_model_layer(m[1], i), d, &d));

    assert_true(loss_model == loss_plain);
    assert_int_equal(n[0], n[1]);
    for (size_t i = 0; i < n[0]; i++)
        if (g[0][i] != g[1][i])
            fail_msg("gradient %zu: %g in place, %g plain", i, (double)g[0][i], (double)g[1][i]);

    /* The model's loss layer used directly after an in-place forward. */
    TU_OK(tl_layer_loss(tl_model_loss_layer(m[0]), &scores, &t, &loss_plain));
    assert_true(loss_model == loss_plain);
    TU_OK(tl_layer_backward(tl_model_loss_layer(m[0]), NULL, &d));
    assert_true(d->data != scores.data);
    tl_tensor_free(&scores);
    for (int k = 0; k < 2; k++)
        tl_model_destroy(m[k]);
}

/* tl_model_forward_backward runs the output layer and the loss fused, in
 * blocks of rows; it must give tl_model_forward + tl_model_backward's loss
 * and gradients up to float rounding (in the double build to 1e-12), over
 * two stateful steps, with an ignored target, for block sizes that divide
 * the rows, leave a partial block, and take all rows at once, and for both
 * normalisations. */
static void fused_matches_plain(int block_rows, tl_loss_norm norm, int NV)
{
    enum { NB = 3, NT = 5 };
    /* plain; fused on 2 threads; on 1 thread; on 2 with every dW in the pass */
    tl_model *m[4];
    tl_real *v[4], *g[4];
    size_t n[4];
    tl_lm_config cfg = {.vocab = NV, .embed = 5, .hidden = 6, .layers = 1, .cell = TL_CELL_LSTM};
    for (int k = 0; k < 4; k++) {
        tl_rng rng;
        tl_rng_seed(&rng, 5);
        TU_OK(tl_lm_create(&m[k], &cfg, &rng));
        tl_layer *loss;
        TU_OK(tl_time_softmax_loss_create(&loss, NV, norm));
        TU_OK(tl_model_set_loss(m[k], loss));
        TU_OK(tl_model_flat(m[k], &v[k], &g[k], &n[k]));
        for (size_t i = 0; i < n[k]; i++)   /* unit-scale weights: no vanishing terms */
            v[k][i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    }
    tl__affine_loss_block_rows(block_rows);
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    int32_t ids[2 * NB * NT];
    double rtol = TU_DOUBLE ? 1e-12 : 2e-5, atol = TU_DOUBLE ? 1e-14 : 1e-6;
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < 2 * NB * NT; i++)
            ids[i] = (int32_t)tl_rng_below(&rng, NV);
        ids[NB * NT + 7] = -1;
        tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){NB, NT});
        tl_tensor t = tl_tensor_wrap_ids(ids + NB * NT, 2, (int[]){NB, NT});
        double loss[4];
        for (int k = 0; k < 4; k++)
            tl_model_zero_grad(m[k]);
        TU_OK(tl_model_forward(m[0], &x, &t, &loss[0]));
        TU_OK(tl_model_backward(m[0]));
        int threads = tl_get_num_threads();
        TU_OK(tl_set_num_threads(2));
        TU_OK(tl_model_forward_backward(m[1], &x, &t, &loss[1]));
        TU_OK(tl_set_num_threads(1));
        TU_OK(tl_model_forward_backward(m[2], &x, &t, &loss[2]));
        TU_OK(tl_set_num_threads(2));
        tl__affine_loss_dw_later(false);
        TU_OK(tl_model_forward_backward(m[3], &x, &t, &loss[3]));
        tl__affine_loss_dw_later(true);
        TU_OK(tl_set_num_threads(threads));
        /* The fused pass gives the same bits for any thread count, whether
         * or not its last dW product is left running. */
        for (int k = 2; k < 4; k++) {
            assert_true(loss[1] == loss[k]);
            assert_memory_equal(g[1], g[k], n[1] * sizeof(tl_real));
        }
        if (fabs(loss[0] - loss[1]) > rtol * fabs(loss[0]))
            fail_msg("block %d step %d: loss %.17g plain, %.17g fused", block_rows, step,
                     loss[0], loss[1]);
        assert_int_equal(n[0], n[1]);
        tu_assert_close_real("gradients", g[1], g[0], n[0], rtol, atol);
        /* Nothing left for a plain backward: the pass was the backward. */
        assert_int_equal(tl_model_backward(m[1]), TL_ERR_STATE);
    }
    tl__affine_loss_block_rows(0);
    for (int k = 0; k < 4; k++)
        tl_model_destroy(m[k]);
}

static void test_forward_backward_matches_plain(void **state)
{
    (void)state;
    static const int blocks[] = {1, 4, 5, 15, 0};   /* R = 15 rows; 0: the default */
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        fused_matches_plain(blocks[i], TL_LOSS_MEAN, 29);
        fused_matches_plain(blocks[i], TL_LOSS_CS231N, 29);
    }
    /* V = 2,100: the last block's dW product left to the pool in three
     * parts of columns (affine_loss.c), the same bits as in one. */
    fused_matches_plain(4, TL_LOSS_MEAN, 2100);
    fused_matches_plain(0, TL_LOSS_MEAN, 2100);
}

/* A NaN in the scores stops the fused pass with TL_ERR_NUMERIC naming the
 * row; bad targets are refused before anything is computed. */
static void test_forward_backward_errors(void **state)
{
    (void)state;
    enum { NV = 11 };
    tl_model *m;
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_lm_config cfg = {.vocab = NV, .embed = 4, .hidden = 5, .layers = 1, .cell = TL_CELL_LSTM};
    TU_OK(tl_lm_create(&m, &cfg, &rng));
    int32_t ids[2 * N * T];
    for (int i = 0; i < 2 * N * T; i++)
        ids[i] = i % NV;
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){N, T});
    tl_tensor t = tl_tensor_wrap_ids(ids + N * T, 2, (int[]){N, T});
    double loss;
    ids[N * T + 3] = NV;   /* out of range */
    assert_int_equal(tl_model_forward_backward(m, &x, &t, &loss), TL_ERR_RANGE);
    ids[N * T + 3] = 0;
    tl_tensor bad = tl_tensor_wrap_ids(ids + N * T, 2, (int[]){N, T - 1});
    assert_int_equal(tl_model_forward_backward(m, &x, &bad, &loss), TL_ERR_SHAPE);
    TU_OK(tl_model_forward_backward(m, &x, &t, &loss));
    assert_true(isfinite(loss) && loss > 0);
    tl_named_param p;
    int count;
    TU_OK(tl_model_param_count(m, &count));
    TU_OK(tl_model_param(m, count - 1, &p));   /* the affine bias */
    p.param->value.data[2] = (tl_real)NAN;
    assert_int_equal(tl_model_forward_backward(m, &x, &t, &loss), TL_ERR_NUMERIC);
    assert_non_null(strstr(tl_last_error(), "NaN"));
    tl_model_destroy(m);
}

/* Pages wholly inside [p, p + bytes) that hold memory (Linux: mincore); -1
 * elsewhere. Called before the range is read: reading maps a page. */
static long resident_pages(const void *p, size_t bytes)
{
#if defined(__linux__)
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + ps - 1) / ps * ps, hi = ((uintptr_t)p + bytes) / ps * ps;
    if (hi <= lo)
        return 0;
    unsigned char *in = malloc((hi - lo) / ps);
    assert_non_null(in);
    assert_int_equal(mincore((void *)lo, hi - lo, in), 0);
    long n = 0;
    for (size_t k = 0; k < (hi - lo) / ps; k++)
        n += in[k] & 1;
    free(in);
    return n;
#else
    (void)p;
    (void)bytes;
    return -1;
#endif
}

/* The embedding table's gradient is cleared by giving its pages back
 * (tl_model_zero_grad): afterwards it is zero everywhere, rows written before
 * included, and holds no memory; the next backward, clipping (which then
 * scales) and SGD give the same bits as a model that never cleared, and the
 * pages no row of that step lies in stay without memory through all three.
 * After a step whose rows reach most pages, or tied to the output layer, the table's gradient is dense and is cleared in
 * place. */
static void sparse_embedding_grad(bool prefault)
{
    tl__set_prefault(prefault);
    enum { NB = 2, NT = 5, NV = 3000, ND = 32, FAR = 200 };   /* FAR: rows B never reaches */
    tl_model *m[2];
    tl_optim *o[2];
    tl_real *v[2], *g[2];
    size_t n[2];
    tl_lm_config cfg = {.vocab = NV, .embed = ND, .hidden = 8, .layers = 1,
                        .cell = TL_CELL_LSTM};
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    for (int k = 0; k < 2; k++) {
        tl_rng rng;
        tl_rng_seed(&rng, 5);
        TU_OK(tl_lm_create(&m[k], &cfg, &rng));
        TU_OK(tl_model_flat(m[k], &v[k], &g[k], &n[k]));
        TU_OK(tl_optim_create(&o[k], &oc, n[k]));
    }
    const size_t table = (size_t)NV * ND * sizeof(tl_real), far = (size_t)FAR * ND * sizeof(tl_real);
    int32_t a[2 * NB * NT], b[2 * NB * NT];
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    for (int i = 0; i < 2 * NB * NT; i++) {
        a[i] = (int32_t)tl_rng_below(&rng, NV);
        b[i] = (int32_t)tl_rng_below(&rng, 64);
    }
    a[0] = 0;            /* the partial pages at both ends of the table */
    a[1] = NV - 1;
    double loss[2], norm[2];
    tl_tensor x = tl_tensor_wrap_ids(a, 2, (int[]){NB, NT});
    tl_tensor t = tl_tensor_wrap_ids(a + NB * NT, 2, (int[]){NB, NT});
    TU_OK(tl_model_forward_backward(m[0], &x, &t, &loss[0]));
    assert_true(g[0][0] != 0 && g[0][(size_t)(NV - 1) * ND] != 0);
    tl_model_zero_grad(m[0]);
    long held = resident_pages(g[0], table);
    if (held >= 0 && held != 0)
        fail_msg("%ld pages of the cleared embedding gradient hold memory", held);
    for (size_t i = 0; i < n[0]; i++)
        if (g[0][i] != 0 || signbit(g[0][i]))
            fail_msg("gradient %zu is %g after zero_grad", i, (double)g[0][i]);

    /* Step B on the cleared model and on a fresh one: same weights, same bits. */
    tl_model_zero_grad(m[0]);   /* the check above read every page */
    tl_model_reset_state(m[0]);
    x = tl_tensor_wrap_ids(b, 2, (int[]){NB, NT});
    t = tl_tensor_wrap_ids(b + NB * NT, 2, (int[]){NB, NT});
    for (int k = 0; k < 2; k++) {
        TU_OK(tl_model_forward_backward(m[k], &x, &t, &loss[k]));
        TU_OK(tl_clip_grad_norm(g[k], n[k], 1e-3, &norm[k]));
        TU_OK(tl_optim_step(o[k], v[k], g[k], n[k]));
    }
    held = resident_pages((const char *)g[0] + far, table - far);
    if (held >= 0 && held != 0)
        fail_msg("%ld pages of the embedding gradient no row touched hold memory after "
                 "backward, clipping and SGD", held);
    assert_true(loss[0] == loss[1]);
    assert_true(norm[0] == norm[1]);
    assert_memory_equal(g[0], g[1], n[0] * sizeof(tl_real));
    assert_memory_equal(v[0], v[1], n[0] * sizeof(tl_real));

    /* A step whose rows reach most pages (10 x 40 ids, 94 pages): cleared in
     * place, the pages stay. */
    int32_t many[2 * 10 * 40];
    for (int i = 0; i < 2 * 10 * 40; i++)
        many[i] = (int32_t)tl_rng_below(&rng, NV);
    x = tl_tensor_wrap_ids(many, 2, (int[]){10, 40});
    t = tl_tensor_wrap_ids(many + 400, 2, (int[]){10, 40});
    tl_model_reset_state(m[0]);
    TU_OK(tl_model_forward_backward(m[0], &x, &t, &loss[0]));
    held = resident_pages(g[0], table);
    tl_model_zero_grad(m[0]);
    long kept = resident_pages(g[0], table);
    if (kept >= 0 && kept < held)
        fail_msg("a step reaching most pages: %ld of its %ld pages given back", held - kept, held);
    for (size_t i = 0; i < n[0]; i++)
        assert_true(g[0][i] == 0);
    for (int k = 0; k < 2; k++) {
        tl_optim_destroy(o[k]);
        tl_model_destroy(m[k]);
    }

    /* Tied: the output layer writes the whole table's gradient. */
    cfg.hidden = ND;
    cfg.tie = true;
    TU_OK(tl_lm_create(&m[0], &cfg, &rng));
    TU_OK(tl_model_flat(m[0], NULL, &g[0], &n[0]));
    x = tl_tensor_wrap_ids(a, 2, (int[]){NB, NT});
    t = tl_tensor_wrap_ids(a + NB * NT, 2, (int[]){NB, NT});
    TU_OK(tl_model_forward_backward(m[0], &x, &t, &loss[0]));
    tl_model_zero_grad(m[0]);
    held = resident_pages(g[0], table);
    if (held >= 0 && held < (long)(table / (size_t)sysconf(_SC_PAGESIZE)) - 1)
        fail_msg("tied: only %ld pages of the cleared embedding gradient hold memory", held);
    for (size_t i = 0; i < n[0]; i++)
        assert_true(g[0][i] == 0);
    tl_model_destroy(m[0]);
    tl__set_prefault(true);
}

/* With the pages of a step's rows mapped ahead of the scatter-add
 * (tl_prefault_rows, the default) and without (the path of systems that
 * refuse it). */
static void test_sparse_embedding_grad(void **state)
{
    (void)state;
    sparse_embedding_grad(true);
}

static void test_sparse_embedding_grad_no_prefault(void **state)
{
    (void)state;
    sparse_embedding_grad(false);
}

/* tl_prefault_rows maps exactly the pages the rows with ids in [lo, hi) reach
 * in a table whose pages were given back: runs longer than a word of its
 * bitmap, rows across page edges, ids at lo and hi - 1, ids outside; it
 * changes no byte, and does nothing when turned off or before the table was
 * ever given back. */
static void test_prefault_rows(void **state)
{
    (void)state;
#if defined(__linux__)
    enum { NV = 3000, ND = 100, MAXIDS = 400 };
    const size_t R = ND * sizeof(tl_real), bytes = (size_t)NV * R;
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    tl_real *w;
    TU_OK(tl_alloc_pages((void **)&w, (size_t)NV * ND, sizeof(tl_real), "test"));
    uintptr_t base = (uintptr_t)w / ps * ps, end = ((uintptr_t)w + bytes + ps - 1) / ps * ps;
    size_t pages = (end - base) / ps;
    /* [lo, hi): the first and the last row that begins a page, so that rows
     * lo - 1 and hi share no page with a row inside */
    int lo = -1, hi = -1, mid = -1, next = -1, n = 0;
    for (int k = 1; k < NV; k++)
        if ((uintptr_t)(w + (size_t)k * ND) % ps == 0) {
            lo = lo < 0 ? k : lo;
            next = k > NV / 2 && next < 0 ? k : next;
            mid = k <= NV / 2 ? k : mid;
            hi = k;
        }
    assert_true(lo > 0 && lo < mid && mid < next && next < hi);
    int32_t ids[MAXIDS];
    /* the rows of 12 pages from page 58 of the range: a run across bit 64 */
    uintptr_t from = (uintptr_t)(w + (size_t)lo * ND) + 58 * ps;
    for (int k = lo; k < hi && n < MAXIDS - 16; k++)
        if ((uintptr_t)(w + (size_t)(k + 1) * ND) > from &&
            (uintptr_t)(w + (size_t)k * ND) < from + 12 * ps)
            ids[n++] = k;
    assert_true(n > 20);
    /* mid - 1 ends where a page ends, next begins where one begins, each
     * alone on that side of the page edge */
    int32_t more[] = {lo, hi - 1, lo - 1, hi, 0, NV - 1, mid - 1, next, hi - 7, hi - 8, hi - 7,
                      lo + 3};
    for (size_t k = 0; k < sizeof more / sizeof *more; k++)
        ids[n++] = more[k];
    unsigned char *want = calloc(pages, 1), *in = malloc(pages);
    assert_true(want && in);
    /* a page the table shares with the mapping's start or the guard page's
     * side is partial: cleared in place, it keeps its memory */
    bool first_partial = (uintptr_t)w % ps != 0, last_partial = ((uintptr_t)w + bytes) % ps != 0;
    want[0] |= first_partial;
    want[pages - 1] |= last_partial;
    for (int k = 0; k < n; k++)
        if (ids[k] >= lo && ids[k] < hi)
            for (uintptr_t a = (uintptr_t)(w + (size_t)ids[k] * ND) / ps * ps;
                 a < (uintptr_t)(w + (size_t)(ids[k] + 1) * ND); a += ps)
                want[(a - base) / ps] = 1;
    /* pages never given back (here: never touched) are left alone */
    tl_prefault_rows(w, R, ids, (size_t)n, (size_t)lo, (size_t)hi);
    assert_int_equal(mincore((void *)base, end - base, in), 0);
    for (size_t k = 0; k < pages; k++)
        assert_false(in[k] & 1);
    for (int on = 0; on < 2; on++) {
        w[(size_t)1234 * ND] = 1;            /* a page written, then cleared */
        tl_zero_pages(w, bytes);
        assert_int_equal(mincore((void *)base, end - base, in), 0);
        for (size_t k = first_partial; k < pages - last_partial; k++)
            assert_false(in[k] & 1);
        tl__set_prefault(on);
        tl_prefault_rows(w, R, ids, (size_t)n, (size_t)lo, (size_t)hi);
        tl__set_prefault(true);
        assert_int_equal(mincore((void *)base, end - base, in), 0);
        for (size_t k = 0; k < pages; k++)
            if ((in[k] & 1) != (on ? want[k] : (k == 0 && first_partial) ||
                                                (k == pages - 1 && last_partial)))
                fail_msg("prefault %s: page %zu of %zu %s memory", on ? "on" : "off", k, pages,
                         in[k] & 1 ? "holds" : "holds no");
    }
    for (size_t i = 0; i < (size_t)NV * ND; i++)
        assert_true(w[i] == 0);
    free(want);
    free(in);
    tl_free_pages(w, (size_t)NV * ND, sizeof(tl_real));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_full_model),
        cmocka_unit_test(test_flat_parameters),
        cmocka_unit_test(test_width_mismatch_names_both_layers),
        cmocka_unit_test(test_stateful_predict_in_chunks),
        cmocka_unit_test(test_loss_in_place_matches_plain),
        cmocka_unit_test(test_forward_backward_matches_plain),
        cmocka_unit_test(test_forward_backward_errors),
        cmocka_unit_test(test_sparse_embedding_grad),
        cmocka_unit_test(test_sparse_embedding_grad_no_prefault),
        cmocka_unit_test(test_prefault_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
