/* Paired sequences (pairs.h): ids and vocabulary order, separators, the
 * reversal, and every refusal with its message and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

static tl_status parse(const char *text, const char *sep, tl_vocab *v, bool grow, int qlen,
                       int alen, tl_pairs *p)
{
    return tl_pairs_parse(text, strlen(text), "t", sep, v, grow, qlen, alen, p);
}

static tl_vocab *char_vocab(void)
{
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    return v;
}

/* Ids in order of first appearance, question then answer, line by line; the
 * separator is the answer's first symbol; an empty last line is no pair. */
static void test_parse(void **state)
{
    (void)state;
    tl_vocab *v = char_vocab();
    tl_pairs p;
    TU_OK(parse("ab_xy\nba_yx\n", "_", v, true, 0, 0, &p));
    assert_int_equal(p.n, 2);
    assert_int_equal(p.qlen, 2);
    assert_int_equal(p.alen, 3);
    assert_int_equal(tl_vocab_size(v), 5);
    const char *order[] = {"a", "b", "_", "x", "y"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(tl_vocab_token(v, i), order[i]);
    assert_memory_equal(p.q, ((int32_t[]){0, 1, 1, 0}), 4 * sizeof(int32_t));
    assert_memory_equal(p.a, ((int32_t[]){2, 3, 4, 2, 4, 3}), 6 * sizeof(int32_t));
    tl_pairs_reverse_questions(&p);
    assert_memory_equal(p.q, ((int32_t[]){1, 0, 0, 1}), 4 * sizeof(int32_t));
    tl_pairs_free(&p);
    assert_int_equal(p.n, 0);
    assert_null(p.q);

    /* Against the fixed vocabulary, with required lengths, no final newline. */
    TU_OK(parse("ba_xx", "_", v, false, 2, 3, &p));
    assert_int_equal(p.n, 1);
    assert_memory_equal(p.a, ((int32_t[]){2, 3, 3}), 3 * sizeof(int32_t));
    tl_pairs_free(&p);
    tl_vocab_destroy(v);

    /* A multi-byte separator and code points; the first separator splits, a
     * later one is part of the answer; "\r" is a character like any other. */
    v = char_vocab();
    TU_OK(parse("été§o§\r\n日本語§はい\r\n", "§", v, true, 0, 0, &p));
    assert_int_equal(p.qlen, 3);
    assert_int_equal(p.alen, 4);
    assert_int_equal(p.a[0], tl_vocab_find(v, "§", strlen("§")));
    assert_int_equal(p.a[2], p.a[0]);
    assert_int_equal(p.a[3], tl_vocab_find(v, "\r", 1));
    assert_int_equal(p.a[4], p.a[0]);
    tl_pairs_free(&p);
    tl_vocab_destroy(v);
}

/* text, required lengths, whether the vocabulary is fixed, the message. */
static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int qlen, alen;
        bool fixed;
        const char *message;
    } cases[] = {
        {"ab_xy\nab xy\n", 0, 0, false, "t:2: no separator '_' (lines are question_answer)"},
        {"ab_xy\n\nab_xy\n", 0, 0, false, "t:2: no separator '_'"},
        {"ab_xy\nabc_xy\n", 0, 0, false,
         "t:2: the question has 3 characters, expected 2 (all questions of a set have one "
         "length)"},
        {"ab_xy\nab_x\n", 0, 0, false,
         "t:2: the answer has 2 characters with '_', expected 3 (all answers of a set have one "
         "length)"},
        {"_xy\n", 0, 0, false, "t:1: the question is empty (the line starts with '_')"},
        {"ab_\n", 0, 0, false, "t:1: the answer has nothing after '_'"},
        {"ab_xy\n", 3, 0, false, "t:1: the question has 2 characters, expected 3"},
        {"ab_xy\n", 2, 4, false, "t:1: the answer has 3 characters with '_', expected 4"},
        {"ab_x*\n", 0, 0, true, "t:1: the character '*' is not in the vocabulary"},
        {"a\xc0\xaf_xy\n", 0, 0, false, "t:1: invalid UTF-8 (overlong encoding)"},
        {"ab_x\xe6\x97\n", 0, 0, false, "t:1: invalid UTF-8"},
        {"", 0, 0, false, "t: no question_answer lines"},
        {"\n", 0, 0, false, "t:1: no separator"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tl_vocab *v = char_vocab();
        tl_pairs p = {.n = 7};
        if (cases[i].fixed) {
            TU_OK(parse("ab_xy\n", "_", v, true, 0, 0, &p));
            tl_pairs_free(&p);
        }
        int32_t size = tl_vocab_size(v);
        tl_status st = parse(cases[i].text, "_", v, !cases[i].fixed, cases[i].qlen,
                             cases[i].alen, &p);
        if (st != TL_ERR_FORMAT || !strstr(tl_last_error(), cases[i].message))
            fail_msg("case %zu: status %d, message '%s', expected '%s'", i, (int)st,
                     tl_last_error(), cases[i].message);
        assert_int_equal(p.n, 0);
        assert_null(p.q);
        assert_null(p.a);
        if (cases[i].fixed)
            assert_int_equal(tl_vocab_size(v), size);
        tl_vocab_destroy(v);
    }
}

static void test_arguments(void **state)
{
    (void)state;
    tl_vocab *v = char_vocab(), *w;
    TU_OK(tl_vocab_create(&w, TL_LEVEL_WORD));
    tl_pairs p;
    assert_int_equal(parse("ab_xy\n", "__", v, true, 0, 0, &p), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "must be one character"));
    assert_int_equal(parse("ab_xy\n", "\n", v, true, 0, 0, &p), TL_ERR_ARG);
    assert_int_equal(parse("ab_xy\n", "", v, true, 0, 0, &p), TL_ERR_ARG);
    assert_int_equal(parse("ab_xy\n", "_", w, true, 0, 0, &p), TL_ERR_ARG);
    assert_int_equal(parse("ab_xy\n", "_", v, true, -1, 0, &p), TL_ERR_ARG);
    assert_int_equal(tl_pairs_parse(NULL, 3, "t", "_", v, true, 0, 0, &p), TL_ERR_ARG);
    assert_int_equal(tl_pairs_load("/nonexistent/pairs.txt", "_", v, true, 0, 0, &p),
                     TL_ERR_IO);
    assert_non_null(strstr(tl_last_error(), "/nonexistent/pairs.txt"));
    assert_int_equal(tl_pairs_load("/tmp", "_", v, true, 0, 0, &p), TL_ERR_IO);
    assert_int_equal(p.n, 0);
    tl_pairs_free(NULL);
    tl_pairs_reverse_questions(NULL);
    tl_vocab_destroy(v);
    tl_vocab_destroy(w);
}

/* A file over TL_CORPUS_MAX_BYTES (sparse) is refused from its size, before
 * anything is read; a readable file loads like its text. */
static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_pairs_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "ab_xy\nba_yx\n", 12), 12);
    tl_vocab *v = char_vocab();
    tl_pairs p;
    TU_OK(tl_pairs_load(path, "_", v, true, 0, 0, &p));
    assert_int_equal(p.n, 2);
    assert_memory_equal(p.a, ((int32_t[]){2, 3, 4, 2, 4, 3}), 6 * sizeof(int32_t));
    tl_pairs_free(&p);
    assert_int_equal(ftruncate(fd, (off_t)TL_CORPUS_MAX_BYTES + 1), 0);
    close(fd);
    assert_int_equal(tl_pairs_load(path, "_", v, true, 0, 0, &p), TL_ERR_NOMEM);
    assert_non_null(strstr(tl_last_error(), "2147483649 bytes is larger than the maximum "
                                            "2147483648 (TL_CORPUS_MAX_BYTES)"));
    assert_null(p.q);
    tl_vocab_destroy(v);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
