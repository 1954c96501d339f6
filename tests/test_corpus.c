/* Corpus loading: word level (<eos>, white space, unknown words), char level
 * (multi-byte characters, every kind of invalid UTF-8 with its offset),
 * files, random bytes, and Penn Treebank / Tiny Shakespeare when present
 * (counts checked with the reference's Python code). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"

/* Tokenise a NUL-terminated text and compare the ids. */
static void expect_ids(tl_vocab *v, bool grow, const char *text, const int32_t *want, size_t n)
{
    tl_corpus c;
    TU_OK(tl_corpus_from_text(text, strlen(text), v, grow, &c));
    assert_int_equal(c.len, n);
    assert_memory_equal(c.ids, want, n * sizeof *want);
    tl_corpus_free(&c);
    assert_null(c.ids);
    assert_int_equal(c.len, 0);
}

/* Expect text (n bytes) to fail with st and a message containing `what`. */
static void expect_error(tl_vocab *v, bool grow, const char *text, size_t n, tl_status st,
                         const char *what)
{
    tl_corpus c = {(int32_t *)1, 1};
    assert_int_equal(tl_corpus_from_text(text, n, v, grow, &c), st);
    if (!strstr(tl_last_error(), what))
        fail_msg("expected \"%s\" in \"%s\"", what, tl_last_error());
    assert_null(c.ids);
    assert_int_equal(c.len, 0);
}

static void test_word_level(void **state)
{
    (void)state;
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    /* the=0 cat=1 <eos>=2 dog=3 */
    expect_ids(v, true, " the cat \n the dog \n", (int32_t[]){0, 1, 2, 0, 3, 2}, 6);
    assert_int_equal(tl_vocab_find(v, "<eos>", 5), 2);
    /* Tab, \r, \v, \f separate words; "a\nb" is three tokens, unlike the
     * reference's replace-then-split (corpus.h); no final newline needed. */
    expect_ids(v, true, "dog\tcat\r\ncat\v\fthe\ndog", (int32_t[]){3, 1, 2, 1, 0, 2, 3}, 7);
    expect_ids(v, true, "\n\nthe", (int32_t[]){2, 2, 0}, 3);
    expect_ids(v, true, "fish<eos>", (int32_t[]){4}, 1);   /* only newlines make <eos> */
    assert_int_equal(tl_vocab_size(v), 5);
    tl_vocab_destroy(v);
}

static void test_unknown_words(void **state)
{
    (void)state;
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    expect_ids(v, true, "the cat\n", (int32_t[]){0, 1, 2}, 3);
    expect_ids(v, false, "cat the\n", (int32_t[]){1, 0, 2}, 3);
    const char *text = "the cat\nthe\n\nthe bird sat\n";
    expect_error(v, false, text, strlen(text), TL_ERR_FORMAT, "line 4: unknown word \"bird\"");
    assert_int_equal(tl_vocab_size(v), 3);              /* grow = false never adds */
    int32_t unk;
    TU_OK(tl_vocab_add(v, "<unk>", 5, &unk));
    expect_ids(v, false, "the bird\nsat", (int32_t[]){0, unk, 2, unk}, 4);
    assert_int_equal(tl_vocab_size(v), 4);
    tl_vocab_destroy(v);
}

static void test_word_errors(void **state)
{
    (void)state;
    static char text[TL_VOCAB_MAX_TOKEN + 3];
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    expect_error(v, true, "", 0, TL_ERR_FORMAT, "no tokens");
    expect_error(v, true, NULL, 0, TL_ERR_FORMAT, "no tokens");
    expect_error(v, true, " \t\r ", 4, TL_ERR_FORMAT, "no tokens");
    expect_error(v, true, "a b\nc\0d", 7, TL_ERR_FORMAT, "line 2, byte offset 5: NUL byte");
    memset(text, 'w', sizeof text);
    text[0] = '\n';
    expect_error(v, true, text, sizeof text, TL_ERR_FORMAT,
                 "line 2, byte offset 1: a word of 1026 bytes");
    text[TL_VOCAB_MAX_TOKEN + 1] = ' ';                 /* now a word of exactly the maximum */
    tl_corpus c;
    TU_OK(tl_corpus_from_text(text, sizeof text, v, true, &c));
    assert_int_equal(c.len, 3);
    tl_corpus_free(&c);
    tl_corpus_free(&c);                                 /* freeing twice is harmless */
    tl_corpus_free(NULL);
    tl_vocab_destroy(v);
}

static void test_char_level(void **state)
{
    (void)state;
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    /* h é l l o \n € 😀 é */
    const char *text = "h\xc3\xa9llo\n\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9";
    expect_ids(v, true, text, (int32_t[]){0, 1, 2, 2, 3, 4, 5, 6, 1}, 9);
    assert_string_equal(tl_vocab_token(v, 1), "\xc3\xa9");
    assert_string_equal(tl_vocab_token(v, 4), "\n");
    assert_string_equal(tl_vocab_token(v, 6), "\xf0\x9f\x98\x80");
    expect_ids(v, false, "ll\n", (int32_t[]){2, 2, 4}, 3);
    expect_error(v, false, "hollo\nh\xc3\xa8", 9, TL_ERR_FORMAT,
                 "line 2: unknown character U+00E8 '\xc3\xa8'");
    expect_error(v, false, "h\t", 2, TL_ERR_FORMAT, "line 1: unknown character U+0009 (");
    expect_error(v, true, "ab\0", 3, TL_ERR_FORMAT, "byte offset 2: NUL byte");
    int32_t unk;
    TU_OK(tl_vocab_add(v, "<unk>", 5, &unk));
    expect_ids(v, false, "h\xc3\xa8<", (int32_t[]){0, unk, unk}, 3);
    tl_vocab_destroy(v);
}

/* Every kind of invalid UTF-8, each refused with the offset of the sequence
 * that starts it. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *text; const char *what; } cases[] = {
        {"ab\x80", "byte offset 2: invalid UTF-8 (continuation byte without a lead byte)"},
        {"a\xc3\xa9\xbf", "byte offset 3: invalid UTF-8 (continuation byte"},
        {"a\xff", "byte offset 1: invalid UTF-8 (invalid lead byte)"},
        {"a\xf8\x88\x80\x80\x80", "byte offset 1: invalid UTF-8 (invalid lead byte)"},
        {"a\xc3", "byte offset 1: invalid UTF-8 (truncated sequence)"},
        {"a\xc3(", "byte offset 1: invalid UTF-8 (truncated sequence)"},
        {"\n\xe2\x82", "line 2, byte offset 1: invalid UTF-8 (truncated sequence)"},
        {"x\xf0\x9f\x98", "byte offset 1: invalid UTF-8 (truncated sequence)"},
        {"\xc0\xaf", "byte offset 0: invalid UTF-8 (overlong encoding)"},
        {"\xc1\xbf", "byte offset 0: invalid UTF-8 (overlong encoding)"},
        {"ab\xe0\x80\xaf", "byte offset 2: invalid UTF-8 (overlong encoding)"},
        {"\xf0\x8f\xbf\xbf", "byte offset 0: invalid UTF-8 (overlong encoding)"},
        {"xy\xed\xa0\x80", "byte offset 2: invalid UTF-8 (surrogate code point)"},
        {"\xed\xbf\xbf", "byte offset 0: invalid UTF-8 (surrogate code point)"},
        {"\xf4\x90\x80\x80", "byte offset 0: invalid UTF-8 (code point above U+10FFFF)"},
        {"\xf5\x80\x80\x80", "byte offset 0: invalid UTF-8 (code point above U+10FFFF)"},
    };
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        expect_error(v, true, cases[k].text, strlen(cases[k].text), TL_ERR_FORMAT,
                     cases[k].what);
    assert_int_equal(tl_vocab_size(v), 0);     /* refused before anything was added */
    /* Word level too, with the offset of the bad byte inside the word. */
    tl_vocab *w;
    TU_OK(tl_vocab_create(&w, TL_LEVEL_WORD));
    expect_error(w, true, "un caf\xe9 noir", 14, TL_ERR_FORMAT,
                 "line 1, byte offset 6: invalid UTF-8 (truncated sequence)");
    expect_error(w, true, "ok\nz\xff", 5, TL_ERR_FORMAT,
                 "line 2, byte offset 4: invalid UTF-8 (invalid lead byte)");
    assert_int_equal(tl_vocab_size(w), 0);
    tl_vocab_destroy(w);
    /* The largest valid code points of each length are accepted. */
    expect_ids(v, true, "\x7f\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80",
               (int32_t[]){0, 1, 2, 3, 4}, 5);
    tl_vocab_destroy(v);
}

/* Random bytes at both levels: a result or a format error, never a crash
 * (the sanitizer build checks every access). */
static void test_random_bytes(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 42);
    unsigned char text[64];
    for (int level = 0; level < 2; level++) {
        tl_vocab *v;
        TU_OK(tl_vocab_create(&v, (tl_level)level));
        for (int trial = 0; trial < 3000; trial++) {
            size_t n = (size_t)tl_rng_below(&rng, sizeof text + 1);
            /* Mostly ASCII with some high bytes, so valid UTF-8 happens too. */
            for (size_t i = 0; i < n; i++)
                text[i] = tl_rng_below(&rng, 4) ? (unsigned char)tl_rng_below(&rng, 128)
                                                : (unsigned char)tl_rng_below(&rng, 256);
            tl_corpus c;
            tl_status st = tl_corpus_from_text((const char *)text, n, v, trial % 3 != 0, &c);
            assert_true(st == TL_OK || st == TL_ERR_FORMAT);
            for (size_t i = 0; i < c.len; i++)
                assert_true(c.ids[i] >= 0 && c.ids[i] < tl_vocab_size(v));
            tl_corpus_free(&c);
        }
        tl_vocab_destroy(v);
    }
}

static void test_files(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_corpus_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = " a b \n b c \n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    tl_vocab *v;
    tl_corpus c;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    TU_OK(tl_corpus_load(path, v, true, &c));
    assert_int_equal(c.len, 6);
    assert_memory_equal(c.ids, ((int32_t[]){0, 1, 2, 1, 3, 2}), 6 * sizeof(int32_t));
    tl_corpus_free(&c);
    unlink(path);

    assert_int_equal(tl_corpus_load(path, v, true, &c), TL_ERR_IO);
    assert_non_null(strstr(tl_last_error(), path));
    assert_non_null(strstr(tl_last_error(), strerror(ENOENT)));
    assert_int_equal(tl_corpus_load("/tmp", v, true, &c), TL_ERR_IO);
    assert_non_null(strstr(tl_last_error(), strerror(EISDIR)));
    assert_null(c.ids);
    assert_int_equal(tl_corpus_load("/dev/null", v, true, &c), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "no tokens"));
    assert_int_equal(tl_corpus_load(NULL, v, true, &c), TL_ERR_ARG);
    assert_int_equal(tl_corpus_load(path, NULL, true, &c), TL_ERR_ARG);
    assert_int_equal(tl_corpus_load(path, v, true, NULL), TL_ERR_ARG);
    assert_int_equal(tl_corpus_from_text("a", 1, NULL, true, &c), TL_ERR_ARG);
    tl_vocab_destroy(v);
}

/* A file one byte over TL_CORPUS_MAX_BYTES (sparse: no disk used) is refused
 * from its size, before anything is read or allocated. */
static void test_size_limit(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_corpus_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)TL_CORPUS_MAX_BYTES + 1), 0);
    close(fd);
    tl_vocab *v;
    tl_corpus c;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    assert_int_equal(tl_corpus_load(path, v, true, &c), TL_ERR_NOMEM);
    assert_non_null(strstr(tl_last_error(), "2147483649 bytes is larger than the maximum "
                                            "2147483648 (TL_CORPUS_MAX_BYTES)"));
    assert_null(c.ids);
    assert_int_equal(tl_vocab_size(v), 0);
    tl_vocab_destroy(v);
    unlink(path);
}

/* The data directory is the environment variable TIMELAYERS_DATA (holding
 * ptb/ and tinyshakespeare/; docs/data.md says where to get them).
 * Returns false (after printing why) when it is unset or `file` is missing. */
static bool data_path(char *out, size_t cap, const char *file)
{
    const char *dir = getenv("TIMELAYERS_DATA");
    if (!dir || !*dir) {
        print_message("skipping: TIMELAYERS_DATA is not set (the directory holding ptb/ and "
                      "tinyshakespeare/)\n");
        return false;
    }
    snprintf(out, cap, "%s/%s", dir, file);
    if (access(out, R_OK) == 0)
        return true;
    print_message("skipping: %s not found\n", out);
    return false;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void load(const char *path, tl_vocab *v, bool grow, tl_corpus *c)
{
    double t0 = seconds();
    TU_OK(tl_corpus_load(path, v, grow, c));
    print_message("%s: %zu tokens, vocabulary %d, %.3f s\n", path, c->len, tl_vocab_size(v),
                  seconds() - t0);
}

/* Numbers from semantics.md, checked with the reference's ptb.py. */
static void test_penn_treebank(void **state)
{
    (void)state;
    char train[4096], valid[4096], test[4096];
    if (!data_path(train, sizeof train, "ptb/ptb.train.txt") ||
        !data_path(valid, sizeof valid, "ptb/ptb.valid.txt") ||
        !data_path(test, sizeof test, "ptb/ptb.test.txt"))
        skip();
    tl_vocab *v;
    tl_corpus c;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    load(train, v, true, &c);
    assert_int_equal(c.len, 929589);
    assert_int_equal(tl_vocab_size(v), 10000);
    static const char *const first[] = {"aer", "banknote", "berlitz", "calloway", "centrust"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(tl_vocab_token(v, i), first[i]);
    assert_int_equal(tl_vocab_find(v, "<eos>", 5), 24);
    assert_int_equal(tl_vocab_unk(v), 26);
    tl_batcher b;
    TU_OK(tl_batcher_init(&b, c.ids, c.len, 20, 35));
    assert_int_equal(tl_batcher_iters_per_epoch(&b), 1327);
    tl_corpus_free(&c);

    load(valid, v, false, &c);
    assert_int_equal(c.len, 73760);
    tl_corpus_free(&c);
    load(test, v, false, &c);
    assert_int_equal(c.len, 82430);
    tl_corpus_free(&c);
    assert_int_equal(tl_vocab_size(v), 10000);
    tl_vocab_destroy(v);
}

/* Counts from Python: len(text) and the characters in order of appearance. */
static void test_tiny_shakespeare(void **state)
{
    (void)state;
    char path[4096];
    if (!data_path(path, sizeof path, "tinyshakespeare/input.txt"))
        skip();
    tl_vocab *v;
    tl_corpus c;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    load(path, v, true, &c);
    assert_int_equal(c.len, 1115394);
    assert_int_equal(tl_vocab_size(v), 65);
    static const char *const first[] = {"F", "i", "r", "s", "t", " ", "C", "z", "e", "n", ":",
                                        "\n"};
    for (int i = 0; i < 12; i++)
        assert_string_equal(tl_vocab_token(v, i), first[i]);
    assert_memory_equal(c.ids + c.len - 5, ((int32_t[]){1, 9, 40, 26, 11}), 5 * sizeof(int32_t));
    tl_corpus_free(&c);
    tl_vocab_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_level),
        cmocka_unit_test(test_unknown_words),
        cmocka_unit_test(test_word_errors),
        cmocka_unit_test(test_char_level),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_penn_treebank),
        cmocka_unit_test(test_tiny_shakespeare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
