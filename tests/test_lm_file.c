/* tl_lm_save / tl_lm_load: a model and its vocabulary in one file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

static void tmp_path(char *out, size_t n, const char *tag)
{
    snprintf(out, n, "/tmp/tl_test_lm_file_%s_%d.safetensors", tag, (int)getpid());
}

static tl_vocab *char_vocab(const char *text)
{
    tl_vocab *v;
    TU_OK(tl_vocab_create(&v, TL_LEVEL_CHAR));
    tl_corpus c;
    TU_OK(tl_corpus_from_text(text, strlen(text), v, true, &c));
    tl_corpus_free(&c);
    return v;
}

/* Saved and loaded: same tokens in the same order, same level, the caller's
 * metadata kept, and the rebuilt model predicts exactly what the saved one did. */
static void test_round_trip(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "rt");
    tl_vocab *v = char_vocab("héllo, wörld\n");
    int V = tl_vocab_size(v);
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_model *m;
    tl_lm_config cfg = {.vocab = V, .embed = 4, .hidden = 6, .layers = 2, .cell = TL_CELL_LSTM};
    TU_OK(tl_lm_create(&m, &cfg, &rng));
    tl_ckpt_meta note = {"note", "made by test_lm_file"};
    TU_OK(tl_lm_save(path, m, v, &note, 1));

    tl_model *m2;
    tl_vocab *v2;
    TU_OK(tl_lm_load(path, &m2, &v2));
    assert_int_equal(tl_vocab_size(v2), V);
    assert_int_equal(tl_vocab_level(v2), TL_LEVEL_CHAR);
    for (int i = 0; i < V; i++)
        assert_string_equal(tl_vocab_token(v2, i), tl_vocab_token(v, i));

    int32_t ids[] = {0, 1, 2, 3, 1, 0};
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){1, 6});
    const tl_tensor *a, *b;
    TU_OK(tl_model_predict(m, &x, &a));
    TU_OK(tl_model_predict(m2, &x, &b));
    tu_assert_same_tensor("scores", a, b);

    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_string_equal(tl_checkpoint_meta(ck, "note"), "made by test_lm_file");
    assert_string_equal(tl_checkpoint_meta(ck, "vocab.level"), "char");
    tl_checkpoint_close(ck);

    tl_model_destroy(m);
    tl_model_destroy(m2);
    tl_vocab_destroy(v);
    tl_vocab_destroy(v2);
    unlink(path);
}

/* A vocabulary that does not fit the embedding is refused before writing,
 * and a file without a vocabulary cannot be loaded as a language model. */
static void test_refusals(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "bad");
    unlink(path);
    tl_vocab *v = char_vocab("abc");
    tl_model *m;
    tl_lm_config cfg = {.vocab = 4, .embed = 2, .hidden = 3, .layers = 1, .cell = TL_CELL_RNN};
    TU_OK(tl_lm_create(&m, &cfg, NULL));
    assert_int_equal(tl_lm_save(path, m, v, NULL, 0), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "a vocabulary of 3 tokens for a model whose first "
                                            "layer (TimeEmbedding) takes 4 ids"));
    assert_int_equal(access(path, F_OK), -1);
    tl_ckpt_meta dup = {"vocab", "[]"};
    tl_vocab *v4 = char_vocab("abcd");
    assert_int_equal(tl_lm_save(path, m, v4, &dup, 1), TL_ERR_ARG);
    assert_int_equal(tl_lm_save(path, m, NULL, NULL, 0), TL_ERR_ARG);
    assert_int_equal(tl_lm_save(path, m, v4, NULL, -1), TL_ERR_ARG);

    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    tl_model *m2 = (tl_model *)1;
    tl_vocab *v2 = (tl_vocab *)1;
    assert_int_equal(tl_lm_load(path, &m2, &v2), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "vocab.level"));
    assert_null(m2);
    assert_null(v2);
    assert_int_equal(tl_lm_load(path, NULL, &v2), TL_ERR_ARG);
    unlink(path);
    assert_int_equal(tl_lm_load(path, &m2, &v2), TL_ERR_IO);

    tl_model_destroy(m);
    tl_vocab_destroy(v);
    tl_vocab_destroy(v4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
