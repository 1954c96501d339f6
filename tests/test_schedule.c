/* Learning-rate schedules: the rate per epoch and per step, and the text
 * form. (The trainer applying them, and resuming them, is test_train.c.) */
#include <math.h>
#include <string.h>
#include "testutil.h"

/* Zaremba's small model: lr 1 for 4 epochs, then halved every epoch. */
static void test_step(void **state)
{
    (void)state;
    tl_lr_schedule s;
    TU_OK(tl_lr_schedule_parse("step:4:0.5", &s));
    const double expect[13] = {1, 1, 1, 1, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625,
                               0.0078125, 0.00390625, 0.001953125};
    for (int e = 1; e <= 13; e++)
        assert_true(tl_lr_at(&s, 1, 123, e, 1, 100) == expect[e - 1]);
    /* The medium model: 6 epochs, then x0.8; the step within an epoch does not matter. */
    TU_OK(tl_lr_schedule_parse("step:6:0.8", &s));
    assert_true(tl_lr_at(&s, 1, 1, 6, 999, 1000) == 1);
    assert_true(fabs(tl_lr_at(&s, 1, 1, 8, 5, 1000) - 0.64) < 1e-15);
    assert_true(fabs(tl_lr_at(&s, 1, 1, 39, 5, 1000) - pow(0.8, 33)) < 1e-18);
}

static void test_cosine(void **state)
{
    (void)state;
    tl_lr_schedule s = {.kind = TL_LR_COSINE, .warmup = 4, .factor = 0.1};
    const double base = 2;
    for (long k = 1; k <= 4; k++)
        assert_true(tl_lr_at(&s, base, 0, 1, k, 104) == base * (double)k / 4);
    assert_true(tl_lr_at(&s, base, 0, 1, 5, 104) == base);                     /* top */
    assert_true(fabs(tl_lr_at(&s, base, 0, 1, 55, 104) - base * 0.55) < 1e-12); /* half way */
    double last = tl_lr_at(&s, base, 0, 1, 104, 104);
    assert_true(last > 0.2 && last < 0.2 + 1e-3);                              /* near the floor */
    assert_true(tl_lr_at(&s, base, 0, 1, 500, 104) == 0.2);                    /* past the end */
    for (long k = 5; k < 104; k++) /* decreasing after the warm-up */
        assert_true(tl_lr_at(&s, base, 0, 1, k + 1, 104) < tl_lr_at(&s, base, 0, 1, k, 104));
    s.warmup = 0;
    s.factor = 0;
    assert_true(tl_lr_at(&s, base, 0, 1, 1, 10) == base);
    assert_true(tl_lr_at(&s, base, 0, 1, 10, 10) > 0);
}

/* Constant and plateau leave the current rate alone (the trainer divides it). */
static void test_stateful_kinds(void **state)
{
    (void)state;
    tl_lr_schedule s = {0};
    assert_true(tl_lr_at(&s, 1, 0.3, 7, 7, 10) == 0.3);
    TU_OK(tl_lr_schedule_parse("plateau:4", &s));
    assert_int_equal(s.kind, TL_LR_PLATEAU);
    assert_true(s.factor == 4);
    assert_true(tl_lr_at(&s, 1, 0.3, 7, 7, 10) == 0.3);
}

static void test_text_form(void **state)
{
    (void)state;
    const char *good[] = {"constant", "plateau:4", "step:4:0.5", "step:6:0.8", "cosine:0:0",
                          "cosine:1000:0.1"};
    for (int i = 0; i < 6; i++) {
        tl_lr_schedule s;
        char buf[64];
        TU_OK(tl_lr_schedule_parse(good[i], &s));
        tl_lr_schedule_describe(&s, buf, sizeof buf);
        assert_string_equal(buf, good[i]);
    }
    tl_lr_schedule s;
    TU_OK(tl_lr_schedule_parse("cosine", &s));
    assert_true(s.kind == TL_LR_COSINE && s.warmup == 0 && s.factor == 0);
    TU_OK(tl_lr_schedule_parse("cosine:50", &s));
    assert_true(s.warmup == 50 && s.factor == 0);
    const char *bad[] = {"", "plateau", "plateau:1", "plateau:0.5", "step:4", "step:4:0",
                         "step:4:1.5", "step:-1:0.5", "step:1.5:0.5", "step:4:0.5:1",
                         "cosine:-1", "cosine:10:1", "cosine:10:0.1:3", "linear", "constant:1",
                         "step:4:0.5x", "plateau:nan"};
    for (int i = 0; i < 17; i++) {
        s = (tl_lr_schedule){.kind = TL_LR_STEP, .hold = 9, .factor = 0.25};
        if (tl_lr_schedule_parse(bad[i], &s) != TL_ERR_ARG)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(s.kind == TL_LR_STEP && s.hold == 9 && s.factor == 0.25);
    }
    assert_int_equal(tl_lr_schedule_check(&(tl_lr_schedule){.kind = (tl_lr_kind)9}), TL_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_stateful_kinds),
        cmocka_unit_test(test_text_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
