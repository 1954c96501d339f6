/* Vocabulary: ids in order of first appearance, lookup through table growth,
 * token validity per level and size limits, detokenisation, NULL safety. */
#include <stdio.h>
#include <string.h>
#include "testutil.h"

static int32_t add(tl_vocab *v, const char *token)
{
    int32_t id = -2;
    TU_OK(tl_vocab_add(v, token, strlen(token), &id));
    return id;
}

static void test_ids_in_order_of_first_appearance(void **state)
{
    (void)state;
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    assert_int_equal(tl_vocab_level(v), TL_LEVEL_WORD);
    assert_int_equal(tl_vocab_size(v), 0);
    assert_int_equal(tl_vocab_unk(v), -1);
    assert_int_equal(add(v, "the"), 0);
    assert_int_equal(add(v, "cat"), 1);
    assert_int_equal(add(v, "the"), 0);
    assert_int_equal(add(v, "<unk>"), 2);
    assert_int_equal(add(v, "sat"), 3);
    assert_int_equal(tl_vocab_size(v), 4);
    assert_int_equal(tl_vocab_unk(v), 2);
    assert_int_equal(tl_vocab_find(v, "cat", 3), 1);
    assert_int_equal(tl_vocab_find(v, "catalogue", 3), 1);   /* only len bytes count */
    assert_int_equal(tl_vocab_find(v, "ca", 2), -1);
    assert_int_equal(tl_vocab_find(v, "dog", 3), -1);
    assert_string_equal(tl_vocab_token(v, 0), "the");
    assert_string_equal(tl_vocab_token(v, 3), "sat");
    assert_null(tl_vocab_token(v, 4));
    assert_null(tl_vocab_token(v, -1));
    tl_vocab_destroy(v);
}

/* Enough tokens to grow the hash table, the entry array and the byte pool
 * many times; every token keeps its id and its text. */
static void test_many_tokens(void **state)
{
    (void)state;
    enum { N = 200000 };
    tl_vocab *v;
    char w[32];
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    for (int i = 0; i < N; i++) {
        snprintf(w, sizeof w, "w%d", i * 7919 % N);
        assert_int_equal(add(v, w), i);
    }
    assert_int_equal(tl_vocab_size(v), N);
    for (int i = 0; i < N; i++) {
        snprintf(w, sizeof w, "w%d", i * 7919 % N);
        assert_int_equal(tl_vocab_find(v, w, strlen(w)), i);
        assert_string_equal(tl_vocab_token(v, i), w);
    }
    assert_int_equal(tl_vocab_find(v, "w200000", 7), -1);
    tl_vocab_destroy(v);
}

static void expect_refused(tl_vocab *v, const char *token, size_t len, const char *why)
{
    int32_t id = 7, before = tl_vocab_size(v);
    assert_int_equal(tl_vocab_add(v, token, len, &id), TL_ERR_FORMAT);
    if (!strstr(tl_last_error(), why))
        fail_msg("expected \"%s\" in \"%s\"", why, tl_last_error());
    assert_int_equal(tl_vocab_size(v), before);
    assert_int_equal(tl_vocab_find(v, token, len), -1);
}

static void test_word_tokens_refused(void **state)
{
    (void)state;
    static char longest[TL_VOCAB_MAX_TOKEN + 1];
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    expect_refused(v, "", 0, "empty");
    expect_refused(v, "a b", 3, "white space");
    expect_refused(v, "a\nb", 3, "white space");
    expect_refused(v, "\t", 1, "white space");
    expect_refused(v, "a\0b", 3, "NUL");
    memset(longest, 'x', sizeof longest);
    expect_refused(v, longest, TL_VOCAB_MAX_TOKEN + 1, "longer than the maximum 1024");
    assert_int_equal(tl_vocab_add(v, longest, TL_VOCAB_MAX_TOKEN, &(int32_t){0}), TL_OK);
    assert_int_equal(tl_vocab_size(v), 1);
    /* Words are UTF-8 (checkpoints store the vocabulary as JSON): Latin-1
     * bytes are refused with the decoder's reason. */
    assert_int_equal(add(v, "caf\xc3\xa9"), 1);
    expect_refused(v, "caf\xe9", 4, "truncated sequence");
    expect_refused(v, "\xff\xfe", 2, "invalid lead byte");
    tl_vocab_destroy(v);
}

static void test_char_tokens(void **state)
{
    (void)state;
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    assert_int_equal(tl_vocab_level(v), TL_LEVEL_CHAR);
    assert_int_equal(add(v, "a"), 0);
    assert_int_equal(add(v, "\n"), 1);
    assert_int_equal(add(v, " "), 2);
    assert_int_equal(add(v, "\xc3\xa9"), 3);            /* é */
    assert_int_equal(add(v, "\xe2\x82\xac"), 4);        /* € */
    assert_int_equal(add(v, "\xf0\x9f\x98\x80"), 5);    /* U+1F600 */
    assert_int_equal(add(v, "<unk>"), 6);
    assert_int_equal(tl_vocab_unk(v), 6);
    expect_refused(v, "ab", 2, "more than one character");
    expect_refused(v, "<eos>", 5, "more than one character");
    expect_refused(v, "", 0, "empty");
    expect_refused(v, "\0", 1, "U+0000");
    expect_refused(v, "\xc3", 1, "truncated");
    expect_refused(v, "\xc0\x80", 2, "overlong");
    expect_refused(v, "\xed\xa0\x80", 3, "surrogate");
    expect_refused(v, "\xf4\x90\x80\x80", 4, "above U+10FFFF");
    expect_refused(v, "\xff", 1, "invalid lead byte");
    expect_refused(v, "\x80", 1, "continuation byte");
    tl_vocab_destroy(v);
}

static void detok(const tl_vocab *v, const int32_t *ids, size_t n, const char *want)
{
    char buf[64];
    size_t len = 99;
    TU_OK(tl_vocab_detokenize(v, ids, n, NULL, 0, &len));
    assert_int_equal(len, strlen(want));
    TU_OK(tl_vocab_detokenize(v, ids, n, buf, sizeof buf, &len));
    assert_string_equal(buf, want);
    assert_int_equal(len, strlen(want));
}

static void test_detokenize(void **state)
{
    (void)state;
    tl_vocab *w, *c;
    TU_OK(tl_vocab_create(&w, TL_LEVEL_WORD));
    int32_t the = add(w, "the"), cat = add(w, "cat"), eos = add(w, "<eos>"), unk = add(w, "<unk>");
    detok(w, (int32_t[]){the, cat, eos, the, unk, eos}, 6, "the cat\nthe <unk>\n");
    detok(w, (int32_t[]){eos, eos, cat}, 3, "\n\ncat");
    detok(w, NULL, 0, "");

    char small[8];
    size_t len;
    assert_int_equal(tl_vocab_detokenize(w, (int32_t[]){the, cat, the}, 3, small, sizeof small,
                                         &len), TL_ERR_RANGE);
    assert_int_equal(len, 11);
    assert_string_equal(small, "the cat");                    /* the prefix that fits */
    assert_non_null(strstr(tl_last_error(), "needs 12 bytes"));
    assert_int_equal(tl_vocab_detokenize(w, (int32_t[]){the, 4}, 2, small, sizeof small, &len),
                     TL_ERR_RANGE);
    assert_non_null(strstr(tl_last_error(), "ids[1] = 4"));
    assert_int_equal(tl_vocab_detokenize(w, (int32_t[]){-1}, 1, NULL, 0, &len), TL_ERR_RANGE);
    assert_int_equal(tl_vocab_detokenize(w, (int32_t[]){the}, 1, NULL, 4, &len), TL_ERR_ARG);
    assert_int_equal(tl_vocab_detokenize(w, NULL, 1, small, sizeof small, &len), TL_ERR_ARG);
    assert_int_equal(tl_vocab_detokenize(w, (int32_t[]){the}, 1, small, sizeof small, NULL),
                     TL_ERR_ARG);

    TU_OK(tl_vocab_create(&c, TL_LEVEL_CHAR));
    int32_t h = add(c, "h"), e = add(c, "\xc3\xa9"), nl = add(c, "\n"), sp = add(c, " ");
    detok(c, (int32_t[]){h, e, sp, e, nl, h}, 6, "h\xc3\xa9 \xc3\xa9\nh");
    tl_vocab_destroy(w);
    tl_vocab_destroy(c);
}

static void test_null_and_bad_arguments(void **state)
{
    (void)state;
    tl_vocab *v = (tl_vocab *)1;
    int32_t id;
    assert_int_equal(tl_vocab_create(NULL, TL_LEVEL_WORD), TL_ERR_ARG);
    assert_int_equal(tl_vocab_create(&v, (tl_level)7), TL_ERR_ARG);
    assert_null(v);
    assert_int_equal(tl_vocab_add(NULL, "a", 1, &id), TL_ERR_ARG);
    assert_int_equal(tl_vocab_find(NULL, "a", 1), -1);
    assert_int_equal(tl_vocab_size(NULL), 0);
    assert_int_equal(tl_vocab_unk(NULL), -1);
    assert_null(tl_vocab_token(NULL, 0));
    tl_vocab_destroy(NULL);
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    assert_int_equal(tl_vocab_add(v, NULL, 1, &id), TL_ERR_ARG);
    assert_int_equal(tl_vocab_add(v, "a", 1, NULL), TL_ERR_ARG);
    assert_int_equal(tl_vocab_find(v, NULL, 0), -1);
    assert_int_equal(tl_vocab_size(v), 0);
    tl_vocab_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_in_order_of_first_appearance),
        cmocka_unit_test(test_many_tokens),
        cmocka_unit_test(test_word_tokens_refused),
        cmocka_unit_test(test_char_tokens),
        cmocka_unit_test(test_detokenize),
        cmocka_unit_test(test_null_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
