/* comm.h without a transport (a group of one, NULL) and gradient
 * accumulation in the trainer: these run in every build, MPI or not
 * (test_mpi.c runs the group of two). */
#include <math.h>
#include <string.h>
#include "testutil.h"

static int32_t ids[3000];

static void make_ids(void)
{
    tl_rng r;
    tl_rng_seed(&r, 3);
    int32_t x = 0;
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        double u = tl_rng_uniform(&r);
        x = u < 0.8 ? (x + 1) % 16 : (int32_t)(u * 997) % 16;
        ids[i] = x;
    }
}

static tl_model *lm(tl_cell_kind cell)
{
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_lm_config cfg = {.vocab = 16, .embed = 6, .hidden = 12, .layers = 2, .cell = cell};
    tl_model *m;
    TU_OK(tl_lm_create(&m, &cfg, &rng));
    return m;
}

static void test_group_of_one(void **state)
{
    (void)state;
    assert_int_equal(tl_comm_rank(NULL), 0);
    assert_int_equal(tl_comm_size(NULL), 1);
    assert_true(tl_comm_is_writer(NULL));
    tl_model *m = lm(TL_CELL_LSTM);
    tl_real *values, *grads;
    size_t n;
    TU_OK(tl_model_flat(m, &values, &grads, &n));
    for (size_t i = 0; i < n; i++)
        grads[i] = (tl_real)i;
    double total = 0, v[2] = {1.5, 2};
    TU_OK(tl_comm_allreduce_grads(NULL, m, 7, &total));
    assert_true(total == 7);
    assert_true(grads[n - 1] == (tl_real)(n - 1)); /* alone: the gradient is its own */
    assert_int_equal(tl_comm_allreduce_grads(NULL, m, -1, NULL), TL_ERR_ARG);
    assert_int_equal(tl_comm_allreduce_grads(NULL, m, NAN, NULL), TL_ERR_ARG);
    assert_int_equal(tl_comm_allreduce_grads(NULL, NULL, 1, NULL), TL_ERR_ARG);
    TU_OK(tl_comm_sum(NULL, v, 2));
    assert_true(v[0] == 1.5 && v[1] == 2);
    TU_OK(tl_comm_broadcast_params(NULL, m));
    TU_OK(tl_comm_check_same(NULL, "x", v, sizeof v));
    tl_batcher b;
    TU_OK(tl_batcher_init(&b, ids, 3000, 6, 5));
    TU_OK(tl_comm_shard_batcher(NULL, &b));
    assert_int_equal(b.first, 0);
    assert_int_equal(b.rows, 6);
    /* Sharded evaluation of a group of one is tl_eval_perplexity. */
    double a, c;
    TU_OK(tl_eval_perplexity(m, ids, 1000, TL_EVAL_REFERENCE, 0, NULL, &a));
    TU_OK(tl_comm_eval_perplexity(NULL, m, ids, 1000, TL_EVAL_REFERENCE, 0, NULL, &c));
    assert_true(a == c);
    tl_comm_destroy(NULL);
    tl_model_destroy(m);
}

typedef struct {
    double loss[256];
    int n;
} trace;

static void record(void *ctx, const tl_train_progress *p)
{
    trace *t = ctx;
    if (!p->epoch_end && t->n < 256)
        t->loss[t->n++] = log(p->train_ppl);
}

static void train(tl_cell_kind cell, int batch, int accumulate, long steps, trace *out)
{
    tl_model *m = lm(cell);
    size_t n;
    TU_OK(tl_model_flat(m, NULL, NULL, &n));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.01;
    tl_optim *opt;
    TU_OK(tl_optim_create(&opt, &oc, n));
    tl_train_config cfg = {.batch = batch, .accumulate = accumulate, .time = 6, .epochs = 10,
                           .clip_norm = 0.5, .report_every = 1, .max_steps = steps};
    tl_trainer *t;
    TU_OK(tl_trainer_create(&t, m, opt, NULL, ids, 3000, ids, 400, &cfg));
    memset(out, 0, sizeof *out);
    TU_OK(tl_trainer_run(t, record, out));
    tl_trainer_destroy(t);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
}

/* K parts of B/K rows give the update of one batch of B rows, through epoch
 * ends (iterations per epoch: 2999 / 48 = 62), for both cells and K = 2, 4. */
static void test_accumulate(void **state)
{
    (void)state;
    tl_cell_kind cells[] = {TL_CELL_LSTM, TL_CELL_RNN};
    for (int c = 0; c < 2; c++) {
        trace one, parts;
        train(cells[c], 8, 1, 150, &one);
        for (int K = 2; K <= 4; K *= 2) {
            train(cells[c], 8 / K, K, 150, &parts);
            assert_int_equal(parts.n, 150);
            for (int i = 0; i < 150; i++)
                assert_true(fabs(parts.loss[i] - one.loss[i]) <= 1e-5 * fabs(one.loss[i]));
        }
    }
}

static void test_refusals(void **state)
{
    (void)state;
    tl_model *m = lm(TL_CELL_LSTM);
    size_t n;
    TU_OK(tl_model_flat(m, NULL, NULL, &n));
    tl_optim *opt;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    TU_OK(tl_optim_create(&opt, &oc, n));
    tl_train_config cfg = {.batch = 4, .time = 6, .epochs = 1, .accumulate = -1};
    tl_trainer *t;
    assert_int_equal(tl_trainer_create(&t, m, opt, NULL, ids, 3000, NULL, 0, &cfg), TL_ERR_ARG);
    cfg.accumulate = 1000; /* 4000 rows x 6 steps: more than the 3000 tokens */
    assert_int_equal(tl_trainer_create(&t, m, opt, NULL, ids, 3000, NULL, 0, &cfg), TL_ERR_ARG);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
}

int main(void)
{
    make_ids();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_of_one),
        cmocka_unit_test(test_accumulate),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
