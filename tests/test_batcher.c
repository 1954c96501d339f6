/* TBPTT batcher: the documented example written out (batches checked against
 * the reference trainer run in Python), agreement with the reference's
 * training and evaluation loops transcribed element by element, resuming
 * from a saved time_idx, and the errors. */
#include <string.h>
#include "testutil.h"

#define B 4
#define T 5

static int32_t *iota(size_t n)
{
    int32_t *d = test_malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = (int32_t)i;
    return d;
}

static void expect_batch(tl_batcher *b, const int32_t want_x[B][T], const int32_t want_t[B][T],
                         size_t time_idx_after)
{
    int32_t xs[B * T], ts[B * T];
    tl_batcher_next(b, xs, ts);
    assert_memory_equal(xs, want_x, sizeof xs);
    assert_memory_equal(ts, want_t, sizeof ts);
    assert_int_equal(b->time_idx, time_idx_after);
}

/* Corpus 0..99, B = 4, T = 5 (batcher.h): L = 99, jump 24, 4 batches per
 * epoch. Epoch 2 starts at time_idx 20, not 0, and its second batch wraps the
 * last row from position 98 to 0 (its targets from 99 to 1). */
static void test_documented_example(void **state)
{
    (void)state;
    int32_t *data = iota(100);
    tl_batcher b;
    TU_OK(tl_batcher_init(&b, data, 100, B, T));
    assert_int_equal(b.jump, 24);
    assert_int_equal(tl_batcher_iters_per_epoch(&b), 4);

    static const int32_t x1[B][T] = {{0, 1, 2, 3, 4}, {24, 25, 26, 27, 28},
                                     {48, 49, 50, 51, 52}, {72, 73, 74, 75, 76}};
    static const int32_t t1[B][T] = {{1, 2, 3, 4, 5}, {25, 26, 27, 28, 29},
                                     {49, 50, 51, 52, 53}, {73, 74, 75, 76, 77}};
    static const int32_t x4[B][T] = {{15, 16, 17, 18, 19}, {39, 40, 41, 42, 43},
                                     {63, 64, 65, 66, 67}, {87, 88, 89, 90, 91}};
    static const int32_t t4[B][T] = {{16, 17, 18, 19, 20}, {40, 41, 42, 43, 44},
                                     {64, 65, 66, 67, 68}, {88, 89, 90, 91, 92}};
    static const int32_t x5[B][T] = {{20, 21, 22, 23, 24}, {44, 45, 46, 47, 48},
                                     {68, 69, 70, 71, 72}, {92, 93, 94, 95, 96}};
    static const int32_t t5[B][T] = {{21, 22, 23, 24, 25}, {45, 46, 47, 48, 49},
                                     {69, 70, 71, 72, 73}, {93, 94, 95, 96, 97}};
    static const int32_t x6[B][T] = {{25, 26, 27, 28, 29}, {49, 50, 51, 52, 53},
                                     {73, 74, 75, 76, 77}, {97, 98, 0, 1, 2}};
    static const int32_t t6[B][T] = {{26, 27, 28, 29, 30}, {50, 51, 52, 53, 54},
                                     {74, 75, 76, 77, 78}, {98, 99, 1, 2, 3}};
    expect_batch(&b, x1, t1, 5);
    int32_t xs[B * T], ts[B * T];
    tl_batcher_next(&b, xs, ts);
    tl_batcher_next(&b, xs, ts);
    expect_batch(&b, x4, t4, 20);      /* end of epoch 1 */
    expect_batch(&b, x5, t5, 25);      /* epoch 2 carries time_idx on */
    expect_batch(&b, x6, t6, 30);
    test_free(data);
}

/* The reference trainer, transcribed: xs = corpus[:-1], ts = corpus[1:],
 * batch_x[i, t] = xs[(offset_i + time_idx) % L], time_idx += 1 per step. */
static void reference_train_batch(const int32_t *c, size_t len, int nb, int nt,
                                  size_t *time_idx, int32_t *bx, int32_t *bt)
{
    size_t L = len - 1, jump = L / (size_t)nb;
    for (int t = 0; t < nt; t++) {
        for (int i = 0; i < nb; i++) {
            size_t p = ((size_t)i * jump + *time_idx) % L;
            bx[i * nt + t] = c[p];
            bt[i * nt + t] = c[1 + p];
        }
        (*time_idx)++;
    }
}

/* The reference's eval_perplexity batches, transcribed: offsets are
 * k·T + i·jump with jump = (len - 1) / B, both indices taken mod len. */
static void reference_eval_batch(const int32_t *c, size_t len, int nb, int nt, size_t k,
                                 int32_t *bx, int32_t *bt)
{
    size_t jump = (len - 1) / (size_t)nb;
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < nb; i++) {
            size_t off = k * (size_t)nt + (size_t)i * jump;
            bx[i * nt + t] = c[(off + (size_t)t) % len];
            bt[i * nt + t] = c[(off + (size_t)t + 1) % len];
        }
}

static void test_matches_reference_loops(void **state)
{
    (void)state;
    static const struct { size_t len; int nb, nt; } cases[] = {
        {100, 4, 5}, {21, 4, 5}, {22, 4, 5}, {50, 1, 7}, {1000, 10, 35},
        {351, 10, 35}, {997, 3, 1}, {64, 7, 3}, {37, 6, 6},
    };
    int32_t *data = iota(1000);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len = cases[k].len, n = (size_t)cases[k].nb * (size_t)cases[k].nt;
        int32_t *xs = test_malloc(4 * n * sizeof *xs), *ts = xs + n, *rx = ts + n, *rt = rx + n;
        tl_batcher b;
        TU_OK(tl_batcher_init(&b, data, len, cases[k].nb, cases[k].nt));
        size_t iters = tl_batcher_iters_per_epoch(&b), ref_time = 0;
        assert_int_equal(iters, (len - 1) / n);
        for (size_t it = 0; it < 3 * iters + 2; it++) {
            tl_batcher_next(&b, xs, ts);
            reference_train_batch(data, len, cases[k].nb, cases[k].nt, &ref_time, rx, rt);
            assert_memory_equal(xs, rx, n * sizeof *xs);
            assert_memory_equal(ts, rt, n * sizeof *ts);
            assert_int_equal(b.time_idx, ref_time);
        }
        /* Evaluation: one epoch of a fresh batcher. */
        TU_OK(tl_batcher_init(&b, data, len, cases[k].nb, cases[k].nt));
        for (size_t it = 0; it < iters; it++) {
            tl_batcher_next(&b, xs, ts);
            reference_eval_batch(data, len, cases[k].nb, cases[k].nt, it, rx, rt);
            assert_memory_equal(xs, rx, n * sizeof *xs);
            assert_memory_equal(ts, rt, n * sizeof *ts);
        }
        test_free(xs);
    }
    test_free(data);
}

/* A checkpoint saves time_idx; a new batcher given it continues exactly,
 * and so does any value, however large. */
static void test_resume_from_time_idx(void **state)
{
    (void)state;
    int32_t *data = iota(100);
    int32_t xs[B * T], ts[B * T], ys[B * T], us[B * T];
    tl_batcher a, b;
    TU_OK(tl_batcher_init(&a, data, 100, B, T));
    for (int i = 0; i < 7; i++)
        tl_batcher_next(&a, xs, ts);
    TU_OK(tl_batcher_init(&b, data, 100, B, T));
    b.time_idx = a.time_idx;
    tl_batcher_next(&a, xs, ts);
    tl_batcher_next(&b, ys, us);
    assert_memory_equal(xs, ys, sizeof xs);
    assert_memory_equal(ts, us, sizeof ts);

    a.time_idx = 99 * 1000003 + 40;     /* same positions as time_idx 40 */
    b.time_idx = 40;
    tl_batcher_next(&a, xs, ts);
    tl_batcher_next(&b, ys, us);
    assert_memory_equal(xs, ys, sizeof xs);
    assert_memory_equal(ts, us, sizeof ts);
    test_free(data);
}

/* Row ranges: each range of a batcher reads exactly those rows of the full
 * batches, through wraps and epochs, whatever the split. */
static void test_row_ranges(void **state)
{
    (void)state;
    int32_t *data = iota(100);
    int32_t xs[B * T], ts[B * T], ys[B * T], us[B * T];
    static const int split[][2] = {{0, 1}, {1, 2}, {2, 2}, {0, B}, {3, 1}};
    for (size_t k = 0; k < sizeof split / sizeof *split; k++) {
        int first = split[k][0], rows = split[k][1];
        tl_batcher full, part;
        TU_OK(tl_batcher_init(&full, data, 100, B, T));
        TU_OK(tl_batcher_init(&part, data, 100, B, T));
        TU_OK(tl_batcher_set_rows(&part, first, rows));
        for (int it = 0; it < 11; it++) {
            tl_batcher_next(&full, xs, ts);
            tl_batcher_next(&part, ys, us);
            assert_memory_equal(ys, xs + first * T, (size_t)rows * T * sizeof *xs);
            assert_memory_equal(us, ts + first * T, (size_t)rows * T * sizeof *ts);
            assert_int_equal(part.time_idx, full.time_idx);
        }
    }
    tl_batcher b;
    TU_OK(tl_batcher_init(&b, data, 100, B, T));
    assert_int_equal(tl_batcher_set_rows(&b, 0, 0), TL_ERR_ARG);
    assert_int_equal(tl_batcher_set_rows(&b, -1, 2), TL_ERR_ARG);
    assert_int_equal(tl_batcher_set_rows(&b, B - 1, 2), TL_ERR_ARG);
    assert_string_equal(tl_last_error(), "tl_batcher_set_rows: rows [3, 3 + 2) are not within "
                                         "the 4 rows of the batch");
    assert_int_equal(tl_batcher_set_rows(NULL, 0, 1), TL_ERR_ARG);
    assert_int_equal(b.first, 0);
    assert_int_equal(b.rows, B);
    test_free(data);
}

static void test_errors(void **state)
{
    (void)state;
    int32_t *data = iota(100);
    tl_batcher b;
    assert_int_equal(tl_batcher_init(&b, data, 50, 20, 35), TL_ERR_ARG);
    assert_string_equal(tl_last_error(), "corpus of 50 tokens is too short for batch 20 x time 35");
    assert_int_equal(tl_batcher_init(&b, data, 20, 4, 5), TL_ERR_ARG);   /* L = 19 < 20 */
    TU_OK(tl_batcher_init(&b, data, 21, 4, 5));                          /* L = 20: one batch */
    assert_int_equal(tl_batcher_iters_per_epoch(&b), 1);
    assert_int_equal(tl_batcher_init(&b, data, 0, 1, 1), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(&b, data, 1, 1, 1), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(&b, data, 100, 0, 5), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(&b, data, 100, 4, -1), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(&b, data, 100, INT32_MAX, INT32_MAX), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(&b, NULL, 100, 4, 5), TL_ERR_ARG);
    assert_int_equal(tl_batcher_init(NULL, data, 100, 4, 5), TL_ERR_ARG);
    test_free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_matches_reference_loops),
        cmocka_unit_test(test_resume_from_time_idx),
        cmocka_unit_test(test_row_ranges),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
