/* TimeAttention, TimeConcat and the sequence-to-sequence container:
 * gradient checks (double build, bound TU_GRADCHECK_BOUND = 1e-6), PyTorch
 * golden values for attention, generation, accuracy, the trainer's step,
 * checkpoints and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* L = Σ y ⊙ R for a side-input layer: the layer's forward after setting its
 * side (attention memory or concat side). */
typedef struct {
    tl_layer *l;
    tl_tensor *x, *side, *R;
    bool attention;
} side_ctx;

static tl_status side_loss(void *p, double *L)
{
    side_ctx *c = p;
    const tl_tensor *y;
    tl_status st = c->attention ? tl_time_attention_set_memory(c->l, c->side)
                                : tl_time_concat_set_side(c->l, c->side);
    if (!st)
        st = tl_layer_forward(c->l, c->x, &y);
    if (st)
        return st;
    double s = 0;
    for (size_t i = 0; i < y->size; i++)
        s += (double)y->data[i] * c->R->data[i];
    *L = s;
    return TL_OK;
}

/* Check dx and the side's gradient of a side-input layer. */
static void check_side_layer(const char *what, tl_layer *l, bool attention, tl_tensor *x,
                             tl_tensor *side, tl_rng *rng)
{
    tl_tensor R = {0}, gx = {0}, gs = {0};
    side_ctx c = {l, x, side, &R, attention};
    const tl_tensor *y, *dx, *ds;
    if (attention)
        TU_OK(tl_time_attention_set_memory(l, side));
    else
        TU_OK(tl_time_concat_set_side(l, side));
    TU_OK(tl_layer_forward(l, x, &y));
    tu_randn(&R, rng, 1.0, y->ndim, y->shape);
    TU_OK(tl_layer_backward(l, &R, &dx));
    TU_OK(tl_tensor_copy(&gx, dx));
    if (attention)
        TU_OK(tl_time_attention_memory_grad(l, &ds));
    else
        TU_OK(tl_time_concat_side_grad(l, &ds));
    TU_OK(tl_tensor_copy(&gs, ds));
    tl_gradcheck_buffer b[2] = {{"x", x->data, gx.data, x->size},
                                {attention ? "memory" : "side", side->data, gs.data, side->size}};
    tl_gradcheck_entry e[2];
    int n;
    TU_OK(tl_gradcheck_buffers(side_loss, &c, b, 2, NULL, e, 2, &n));
    tu_check_gradients(what, e, n, TU_GRADCHECK_BOUND);
    TU_FREE_ALL(&R, &gx, &gs);
}

static void test_attention_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_layer *l;
    tl_tensor x = {0}, hs = {0};
    TU_OK(tl_time_attention_create(&l, 4));
    tu_randn(&x, &rng, 1.0, 3, (int[]){2, 3, 4});
    tu_randn(&hs, &rng, 1.0, 3, (int[]){2, 5, 4});
    check_side_layer("TimeAttention", l, true, &x, &hs, &rng);
    tl_layer_destroy(l);
    TU_FREE_ALL(&x, &hs);
}

static void test_concat_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_layer *l;
    tl_tensor x = {0}, s2 = {0}, s3 = {0};
    TU_OK(tl_time_concat_create(&l, 3, 2));
    tu_randn(&x, &rng, 1.0, 3, (int[]){2, 4, 2});
    tu_randn(&s2, &rng, 1.0, 2, (int[]){2, 3});
    tu_randn(&s3, &rng, 1.0, 3, (int[]){2, 4, 3});
    check_side_layer("TimeConcat (N, Ds) side", l, false, &x, &s2, &rng);
    check_side_layer("TimeConcat (N, T, Ds) side", l, false, &x, &s3, &rng);
    tl_layer_destroy(l);
    TU_FREE_ALL(&x, &s2, &s3);
}

/* Forward values of TimeConcat, both forms, by hand. */
static void test_concat_values(void **state)
{
    (void)state;
    tl_layer *l;
    tl_real xv[] = {1, 2, 3, 4}, sv[] = {9, 8}, s3v[] = {5, 6};
    tl_tensor x = tl_tensor_wrap(xv, 3, (int[]){1, 2, 2});
    tl_tensor s = tl_tensor_wrap(sv, 2, (int[]){1, 1}), s3 = tl_tensor_wrap(s3v, 3, (int[]){1, 2, 1});
    const tl_tensor *y;
    TU_OK(tl_time_concat_create(&l, 1, 2));
    TU_OK(tl_time_concat_set_side(l, &s));
    TU_OK(tl_layer_forward(l, &x, &y));
    tu_assert_close("broadcast", y->data, (double[]){9, 1, 2, 9, 3, 4}, 6, 0, 0);
    TU_OK(tl_time_concat_set_side(l, &s3));
    TU_OK(tl_layer_forward(l, &x, &y));
    tu_assert_close("per step", y->data, (double[]){5, 1, 2, 6, 3, 4}, 6, 0, 0);
    tl_layer_destroy(l);
}

/* PyTorch (tools/golden/attention.py): context and gradients of the input
 * and of the memory for L = Σ context ⊙ R. */
static void test_attention_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("attention.txt");
    tl_tensor h = {0}, hs = {0}, R = {0};
    int N = 2, T = 3, S = 4, H = 5;
    tu_golden_tensor(g, "h", &h, 3, (int[]){N, T, H});
    tu_golden_tensor(g, "hs", &hs, 3, (int[]){N, S, H});
    tu_golden_tensor(g, "R", &R, 3, (int[]){N, T, H});
    tl_layer *l;
    const tl_tensor *y, *dx, *dhs, *a;
    TU_OK(tl_time_attention_create(&l, H));
    TU_OK(tl_time_attention_set_memory(l, &hs));
    TU_OK(tl_layer_forward(l, &h, &y));
    tu_assert_close("context", y->data, tu_golden_get(g, "context", y->size), y->size, TU_RTOL,
                    TU_ATOL);
    TU_OK(tl_time_attention_weights(l, &a));
    tu_assert_close("weights", a->data, tu_golden_get(g, "a", a->size), a->size, TU_RTOL,
                    TU_ATOL);
    TU_OK(tl_layer_backward(l, &R, &dx));
    tu_assert_close("dh", dx->data, tu_golden_get(g, "dh", dx->size), dx->size, TU_RTOL, TU_ATOL);
    TU_OK(tl_time_attention_memory_grad(l, &dhs));
    tu_assert_close("dhs", dhs->data, tu_golden_get(g, "dhs", dhs->size), dhs->size, TU_RTOL,
                    TU_ATOL);
    tl_layer_destroy(l);
    TU_FREE_ALL(&h, &hs, &R);
    tu_golden_free(g);
}

static void test_attention_errors(void **state)
{
    (void)state;
    tl_layer *l, *c, *none;
    tl_tensor x = {0}, hs = {0}, bad = {0};
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    const tl_tensor *y;
    TU_OK(tl_time_attention_create(&l, 4));
    TU_OK(tl_time_concat_create(&c, 2, 4));
    tu_randn(&x, &rng, 1.0, 3, (int[]){2, 3, 4});
    tu_randn(&hs, &rng, 1.0, 3, (int[]){3, 5, 4});
    tu_randn(&bad, &rng, 1.0, 3, (int[]){2, 5, 3});
    assert_int_equal(tl_time_attention_create(&none, 0), TL_ERR_ARG);
    assert_null(none);
    assert_int_equal(tl_layer_forward(l, &x, &y), TL_ERR_STATE);
    assert_int_equal(tl_time_attention_set_memory(l, &bad), TL_ERR_SHAPE);
    TU_OK(tl_time_attention_set_memory(l, &hs));
    assert_int_equal(tl_layer_forward(l, &x, &y), TL_ERR_SHAPE); /* batch 2 vs memory 3 */
    assert_int_equal(tl_time_attention_set_memory(c, &hs), TL_ERR_ARG);
    assert_int_equal(tl_time_concat_set_side(l, &hs), TL_ERR_ARG);
    assert_int_equal(tl_layer_forward(c, &x, &y), TL_ERR_STATE);
    const tl_tensor *d;
    assert_int_equal(tl_time_attention_memory_grad(l, &d), TL_ERR_STATE);
    assert_int_equal(tl_time_concat_side_grad(c, &d), TL_ERR_STATE);
    tl_layer_destroy(l);
    tl_layer_destroy(c);
    TU_FREE_ALL(&x, &hs, &bad);
}

/* ---- the container ---- */

static tl_seq2seq *make(tl_seq2seq_kind kind, int V, int D, int H, uint64_t seed)
{
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_seq2seq *s;
    tl_seq2seq_config c = {kind, V, D, H};
    TU_OK(tl_seq2seq_create(&s, &c, &rng));
    return s;
}

static void test_model_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    for (int k = 0; k < 3; k++) {
        /* Larger weights than the default so that every path carries a
         * gradient well above the differences' rounding. */
        tl_seq2seq *s = make((tl_seq2seq_kind)k, 7, 3, 4, 11 + (uint64_t)k);
        tl_real *v;
        size_t n;
        TU_OK(tl_seq2seq_flat(s, &v, NULL, &n));
        tl_rng rng;
        tl_rng_seed(&rng, 3);
        for (size_t i = 0; i < n; i++)
            v[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
        tl_tensor xs = {0}, ys = {0};
        tu_randint(&xs, &rng, 7, 2, (int[]){3, 5});
        tu_randint(&ys, &rng, 7, 2, (int[]){3, 4});
        tl_gradcheck_entry e[16];
        int ne;
        TU_OK(tl_gradcheck_seq2seq(s, &xs, &ys, NULL, e, 16, &ne));
        assert_int_equal(ne, 10);
        char what[64];
        snprintf(what, sizeof what, "seq2seq %s", tl_seq2seq_kind_name((tl_seq2seq_kind)k));
        tu_check_gradients(what, e, ne, TU_GRADCHECK_BOUND);
        /* The encoder receives a gradient (through the decoder's dh0). */
        tl_named_param p;
        TU_OK(tl_seq2seq_param(s, 1, &p));
        assert_string_equal(p.name, "encoder.lstm.Wx");
        double gsum = 0;
        for (size_t i = 0; i < p.param->grad.size; i++)
            gsum += fabs(p.param->grad.data[i]);
        assert_true(gsum > 1e-6);
        tl_seq2seq_destroy(s);
        TU_FREE_ALL(&xs, &ys);
    }
}

/* Generation: deterministic; the step-by-step decoder gives the scores of
 * the teacher-forced decoder fed the generated ids. */
static void test_generate(void **state)
{
    (void)state;
    for (int k = 0; k < 3; k++) {
        tl_seq2seq *s = make((tl_seq2seq_kind)k, 9, 4, 6, 21);
        tl_rng rng;
        tl_rng_seed(&rng, 4);
        tl_tensor xs = {0};
        tu_randint(&xs, &rng, 9, 2, (int[]){3, 5});
        const tl_tensor *out;
        TU_OK(tl_seq2seq_generate(s, &xs, 2, 6, &out));
        assert_int_equal(out->shape[0], 3);
        assert_int_equal(out->shape[1], 6);
        int32_t first[18];
        memcpy(first, out->ids, sizeof first);
        TU_OK(tl_seq2seq_generate(s, &xs, 2, 6, &out));
        assert_memory_equal(first, out->ids, sizeof first);
        const tl_tensor *a;
        if (k == TL_SEQ2SEQ_ATTENTION) {
            TU_OK(tl_seq2seq_attention_weights(s, &a));
            assert_int_equal(a->shape[2], 5);
            for (int r = 0; r < 18; r++) {
                double sum = 0;
                for (int j = 0; j < 5; j++)
                    sum += a->data[r * 5 + j];
                assert_true(fabs(sum - 1) < 1e-5);
            }
        } else {
            assert_int_equal(tl_seq2seq_attention_weights(s, &a), TL_ERR_STATE);
        }
        /* Teacher forcing on [start, generated] reproduces the greedy choice:
         * the loss of the generated ids is the smallest of any answer. */
        tl_tensor ys = {0};
        TU_OK(tl_tensor_zeros(&ys, TL_INT32, 2, (int[]){3, 7}));
        for (int n = 0; n < 3; n++) {
            ys.ids[n * 7] = 2;
            memcpy(ys.ids + n * 7 + 1, first + n * 6, 6 * sizeof(int32_t));
        }
        double best, other;
        TU_OK(tl_seq2seq_forward(s, &xs, &ys, &best));
        ys.ids[7 + 3] = (ys.ids[7 + 3] + 1) % 9;
        TU_OK(tl_seq2seq_forward(s, &xs, &ys, &other));
        assert_true(other > best);
        tl_seq2seq_destroy(s);
        TU_FREE_ALL(&xs, &ys);
    }
}

/* Accuracy against answers made from the model's own greedy output: one
 * copied, one with two symbols changed, one with all changed; batches of 2
 * so that the last is smaller. */
static void test_accuracy(void **state)
{
    (void)state;
    enum { N = 3, S = 5, T = 6 };
    tl_seq2seq *s = make(TL_SEQ2SEQ_PLAIN, 9, 4, 6, 21);
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_tensor xs = {0};
    tu_randint(&xs, &rng, 9, 2, (int[]){N, S});
    const tl_tensor *out;
    TU_OK(tl_seq2seq_generate(s, &xs, 2, T, &out));
    int32_t q[N * S], a[N * (T + 1)];
    memcpy(q, xs.ids, sizeof q);
    for (int n = 0; n < N; n++) {
        a[n * (T + 1)] = 2;
        for (int t = 0; t < T; t++) {
            int32_t g = out->ids[n * T + t];
            bool change = (n == 1 && (t == 0 || t == 4)) || n == 2;
            a[n * (T + 1) + 1 + t] = change ? (g + 1) % 9 : g;
        }
    }
    tl_pairs p = {N, S, T + 1, q, a};
    size_t exact = 99, symbols = 99;
    TU_OK(tl_seq2seq_accuracy(s, &p, 2, &exact, &symbols));
    assert_int_equal(exact, 1);
    assert_int_equal(symbols, T + (T - 2));
    TU_OK(tl_seq2seq_accuracy(s, &p, 256, &exact, NULL));
    assert_int_equal(exact, 1);
    assert_int_equal(tl_seq2seq_accuracy(s, &p, 0, &exact, NULL), TL_ERR_ARG);
    tl_seq2seq_destroy(s);
    tl_tensor_free(&xs);
}

/* The trainer's step is the library's, in the bits: two steps (one pair, so
 * the shuffle changes nothing) equal zero-grad, forward, backward,
 * tl_clip_grad_norm and tl_optim_step by hand, clipping (0.05) or not (0),
 * and each report (one per step: an epoch is one step) has the norm measured
 * before clipping. */
typedef struct {
    double norm[2];
    int n;
} norms;

static void record_norm(const tl_seq2seq_progress *p, void *ctx)
{
    norms *r = ctx;
    if (r->n < 2)
        r->norm[r->n++] = p->grad_norm;
}

static void test_trainer_step(void **state)
{
    (void)state;
    int32_t q[3] = {1, 4, 2}, a[4] = {0, 3, 5, 1};
    tl_pairs pairs = {1, 3, 4, q, a};
    const double clips[2] = {0.05, 0};
    for (int c = 0; c < 2; c++) {
        tl_seq2seq *s = make(TL_SEQ2SEQ_ATTENTION, 6, 3, 4, 31),
                   *r = make(TL_SEQ2SEQ_ATTENTION, 6, 3, 4, 31);
        tl_real *sv, *rv, *rg;
        size_t n;
        TU_OK(tl_seq2seq_flat(s, &sv, NULL, &n));
        TU_OK(tl_seq2seq_flat(r, &rv, &rg, NULL));
        tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
        tl_optim *so, *ro;
        TU_OK(tl_optim_create(&so, &oc, n));
        TU_OK(tl_optim_create(&ro, &oc, n));
        tl_seq2seq_train_config tc = {.batch = 1, .epochs = 2, .clip_norm = clips[c],
                                      .report_every = 1};
        tl_seq2seq_trainer *t;
        norms got = {{0}, 0};
        TU_OK(tl_seq2seq_trainer_create(&t, s, so, &pairs, NULL, &tc, NULL));
        TU_OK(tl_seq2seq_trainer_run(t, record_norm, &got));
        tl_seq2seq_trainer_destroy(t);
        assert_int_equal(got.n, 2);

        tl_tensor xs = {0}, ys = {0};
        TU_OK(tl_tensor_zeros(&xs, TL_INT32, 2, (int[]){1, 3}));
        TU_OK(tl_tensor_zeros(&ys, TL_INT32, 2, (int[]){1, 4}));
        memcpy(xs.ids, q, sizeof q);
        memcpy(ys.ids, a, sizeof a);
        for (int step = 0; step < 2; step++) {
            double loss, norm;
            tl_seq2seq_zero_grad(r);
            TU_OK(tl_seq2seq_forward(r, &xs, &ys, &loss));
            TU_OK(tl_seq2seq_backward(r));
            TU_OK(tl_clip_grad_norm(rg, n, clips[c] > 0 ? clips[c] : INFINITY, &norm));
            TU_OK(tl_optim_step(ro, rv, rg, n));
            assert_true(norm > clips[c]);
            assert_true(got.norm[step] == norm);
        }
        assert_memory_equal(sv, rv, n * sizeof *sv);
        tl_optim_destroy(so);
        tl_optim_destroy(ro);
        tl_seq2seq_destroy(s);
        tl_seq2seq_destroy(r);
        TU_FREE_ALL(&xs, &ys);
    }
}

static void test_checkpoint(void **state)
{
    (void)state;
    char dir[80], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    tl_seq2seq *s = make(TL_SEQ2SEQ_PEEKY, 9, 4, 6, 8), *r;
    tl_ckpt_meta meta = {"user", "x"};
    TU_OK(tl_seq2seq_save(path, s, &meta, 1, NULL, 0));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_string_equal(tl_checkpoint_meta(ck, "user"), "x");
    TU_OK(tl_seq2seq_from_checkpoint(ck, &r));
    tl_checkpoint_close(ck);
    tl_real *a, *b;
    size_t na, nb;
    TU_OK(tl_seq2seq_flat(s, &a, NULL, &na));
    TU_OK(tl_seq2seq_flat(r, &b, NULL, &nb));
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    assert_int_equal(tl_seq2seq_get_config(r).kind, TL_SEQ2SEQ_PEEKY);
    tl_ckpt_meta bad = {"seq2seq", "x"};
    assert_int_equal(tl_seq2seq_save(path, s, &bad, 1, NULL, 0), TL_ERR_ARG);
    /* A plain model's file has no peeky shapes. */
    tl_seq2seq *p = make(TL_SEQ2SEQ_PLAIN, 9, 4, 6, 8);
    TU_OK(tl_seq2seq_save(path, p, NULL, 0, NULL, 0));
    TU_OK(tl_checkpoint_open(path, &ck));
    tl_seq2seq *q;
    TU_OK(tl_seq2seq_from_checkpoint(ck, &q));
    tl_checkpoint_close(ck);
    tl_seq2seq_destroy(q);
    tl_seq2seq_destroy(p);
    tl_seq2seq_destroy(s);
    tl_seq2seq_destroy(r);
    tu_remove_dir(dir);
}

/* A "seq2seq" metadata asking for a model far larger than the file's four
 * values is refused before its tables are allocated (4 GB here). */
static void test_checkpoint_absurd_sizes(void **state)
{
    (void)state;
    char dir[80], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    const char *header =
        "{\"__metadata__\": {\"format\": \"timelayers-seq2seq\", \"format_version\": \"1\", "
        "\"dtype\": \"F32\", \"seq2seq\": \"{\\\"kind\\\": \\\"plain\\\", \\\"vocab\\\": "
        "1000000, \\\"wordvec\\\": 1000, \\\"hidden\\\": 8}\"}, \"encoder.embed.W\": "
        "{\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = strlen(header);
    for (int i = 0; i < 8; i++)
        fputc((int)(n >> (8 * i)) & 0xff, f);
    fputs(header, f);
    for (int i = 0; i < 16; i++)
        fputc(0, f);
    assert_int_equal(fclose(f), 0);
    tl_checkpoint *ck;
    tl_seq2seq *s = (tl_seq2seq *)&s;
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_int_equal(tl_seq2seq_from_checkpoint(ck, &s), TL_ERR_FORMAT);
    assert_null(s);
    assert_non_null(strstr(tl_last_error(), "more than the 4 left in the file"));
    tl_checkpoint_close(ck);
    tu_remove_dir(dir);
}

static void test_errors(void **state)
{
    (void)state;
    tl_seq2seq *s = make(TL_SEQ2SEQ_ATTENTION, 5, 2, 3, 1);
    tl_tensor xs = {0}, ys = {0}, y1 = {0}, r = {0};
    TU_OK(tl_tensor_zeros(&xs, TL_INT32, 2, (int[]){2, 3}));
    TU_OK(tl_tensor_zeros(&ys, TL_INT32, 2, (int[]){2, 4}));
    TU_OK(tl_tensor_zeros(&y1, TL_INT32, 2, (int[]){2, 1}));
    TU_OK(tl_tensor_zeros2(&r, 2, 3));
    double loss;
    const tl_tensor *out;
    assert_int_equal(tl_seq2seq_backward(s), TL_ERR_STATE);
    assert_int_equal(tl_seq2seq_forward(s, &xs, &y1, &loss), TL_ERR_SHAPE);
    assert_int_equal(tl_seq2seq_forward(s, &r, &ys, &loss), TL_ERR_SHAPE);
    xs.ids[4] = 5;
    assert_int_equal(tl_seq2seq_forward(s, &xs, &ys, &loss), TL_ERR_RANGE);
    assert_non_null(strstr(tl_last_error(), "[1, 1]"));
    xs.ids[4] = 0;
    ys.ids[7] = -3;
    assert_int_equal(tl_seq2seq_forward(s, &xs, &ys, &loss), TL_ERR_RANGE);
    assert_int_equal(tl_seq2seq_backward(s), TL_ERR_STATE);
    assert_int_equal(tl_seq2seq_generate(s, &xs, 5, 3, &out), TL_ERR_RANGE);
    assert_int_equal(tl_seq2seq_generate(s, &xs, 0, 0, &out), TL_ERR_ARG);
    tl_seq2seq_config bad = {TL_SEQ2SEQ_PLAIN, 0, 2, 3};
    tl_seq2seq *b;
    assert_int_equal(tl_seq2seq_create(&b, &bad, NULL), TL_ERR_ARG);
    tl_seq2seq_kind k;
    assert_int_equal(tl_seq2seq_kind_from_name("transformer", &k), TL_ERR_ARG);
    tl_seq2seq_destroy(s);
    TU_FREE_ALL(&xs, &ys, &y1, &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_gradcheck),
        cmocka_unit_test(test_concat_gradcheck),
        cmocka_unit_test(test_concat_values),
        cmocka_unit_test(test_attention_golden),
        cmocka_unit_test(test_attention_errors),
        cmocka_unit_test(test_model_gradcheck),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_trainer_step),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_checkpoint_absurd_sizes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
