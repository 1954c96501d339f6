/* Fuzz target: the sequence-to-sequence inputs, pair files and checkpoints.
 * The first byte picks what the rest is.
 *
 * Bit 0 clear, pair files: bit 1 picks the separator ("_" or the two-byte
 * "§"), bits 2-3 the model kind; the rest is a training file, a NUL byte
 * (never part of a valid file) and a test file. The training file is parsed
 * growing a char vocabulary, the test file against the fixed vocabulary with
 * the training file's lengths. Checked:
 * a failure has a message and leaves no pairs (and the fixed vocabulary
 * unchanged); every id is in the vocabulary; every answer starts with the
 * separator's id; reversing the questions twice gives them back. When both
 * parse, a model of the vocabulary's size trains one step on the first pairs
 * and scores the test pairs: both must succeed.
 *
 * Bit 0 set, checkpoints: the rest is "header JSON, NUL, data section" (the
 * harness writes the 8-byte header length, fuzz_header_as_file, so that
 * edits of the metadata reach the code reading it). The model, vocabulary
 * and optimizer are loaded, three symbols generated for two questions, and a
 * trainer resumed from the file on two pairs runs to its next epoch end and
 * saves; the saved file must load again. Beyond "no crash": every failure
 * has a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "timelayers/timelayers.h"

/* The properties of a set parsed with vocabulary size V (st its status). */
static void check_pairs(tl_status st, const tl_pairs *p, int32_t V, int32_t sep)
{
    CHECK_MESSAGE(st);
    if (st) {
        CHECK(!p->n && !p->q && !p->a);
        return;
    }
    CHECK(p->n >= 1 && p->qlen >= 1 && p->alen >= 2);
    for (size_t i = 0; i < p->n * (size_t)p->qlen; i++)
        CHECK(p->q[i] >= 0 && p->q[i] < V);
    for (size_t i = 0; i < p->n * (size_t)p->alen; i++)
        CHECK(p->a[i] >= 0 && p->a[i] < V);
    for (size_t i = 0; i < p->n; i++)
        CHECK(p->a[i * (size_t)p->alen] == sep);
}

/* One training step on the first pairs of tr and the accuracy on te. */
static void train_step(tl_seq2seq_kind kind, int32_t V, const tl_pairs *tr, const tl_pairs *te)
{
    enum { ROWS = 4 };
    if (V > 256)
        return;
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    tl_seq2seq_config c = {kind, V, 2, 3};
    tl_seq2seq *s;
    CHECK(tl_seq2seq_create(&s, &c, &rng) == TL_OK);
    int n = tr->n < ROWS ? (int)tr->n : ROWS;
    tl_tensor q = {0}, a = {0};
    CHECK(tl_tensor_zeros(&q, TL_INT32, 2, (int[]){n, tr->qlen}) == TL_OK);
    CHECK(tl_tensor_zeros(&a, TL_INT32, 2, (int[]){n, tr->alen}) == TL_OK);
    memcpy(q.ids, tr->q, q.size * sizeof *q.ids);
    memcpy(a.ids, tr->a, a.size * sizeof *a.ids);
    double loss;
    CHECK(tl_seq2seq_forward(s, &q, &a, &loss) == TL_OK);
    CHECK(tl_seq2seq_backward(s) == TL_OK);
    size_t exact, symbols;
    CHECK(tl_seq2seq_accuracy(s, te, 3, &exact, &symbols) == TL_OK);
    CHECK(exact <= te->n && symbols <= te->n * (size_t)(te->alen - 1));
    tl_tensor_free(&q);
    tl_tensor_free(&a);
    tl_seq2seq_destroy(s);
}

static void pairs(const uint8_t *data, size_t size)
{
    const char *sep = data[0] & 2 ? "\xc2\xa7" : "_";
    const char *text = (const char *)data + 1, *nul = memchr(text, 0, size - 1);
    size_t ntrain = nul ? (size_t)(nul - text) : size - 1;
    tl_vocab *v;
    tl_pairs tr = {0}, te = {0};
    CHECK(tl_vocab_create(&v, TL_LEVEL_CHAR) == TL_OK);
    tl_status st = tl_pairs_parse(text, ntrain, "train", sep, v, true, 0, 0, &tr);
    int32_t V = tl_vocab_size(v), sep_id = tl_vocab_find(v, sep, strlen(sep));
    check_pairs(st, &tr, V, sep_id);
    if (!st && nul) {
        tl_status tst = tl_pairs_parse(nul + 1, size - 2 - ntrain, "test", sep, v, false,
                                       tr.qlen, tr.alen, &te);
        CHECK(tl_vocab_size(v) == V);
        check_pairs(tst, &te, V, sep_id);
        if (!tst) {
            CHECK(te.qlen == tr.qlen && te.alen == tr.alen);
            int32_t *q = malloc(te.n * (size_t)te.qlen * sizeof *q + 1);
            if (q) {
                memcpy(q, te.q, te.n * (size_t)te.qlen * sizeof *q);
                tl_pairs_reverse_questions(&te);
                tl_pairs_reverse_questions(&te);
                CHECK(memcmp(q, te.q, te.n * (size_t)te.qlen * sizeof *q) == 0);
                free(q);
            }
            train_step((tl_seq2seq_kind)((data[0] >> 2) % 3), V, &tr, &te);
        }
    }
    tl_pairs_free(&tr);
    tl_pairs_free(&te);
    tl_vocab_destroy(v);
}

/* Resume a trainer from ck on two pairs and train to the next epoch end. */
static void resume(const tl_checkpoint *ck, tl_seq2seq *s, tl_optim *o, const tl_vocab *v)
{
    enum { N = 2, Q = 3, A = 3 };
    int V = tl_seq2seq_get_config(s).vocab;
    int32_t q[N * Q], a[N * A];
    for (int i = 0; i < N * Q; i++)
        q[i] = i % V;
    for (int i = 0; i < N * A; i++)
        a[i] = (i + 1) % V;
    tl_pairs p = {N, Q, A, q, a};
    char path[96];
    snprintf(path, sizeof path, "%s/s2s.safetensors", fuzz_private_dir());
    tl_seq2seq_train_config cfg = {.batch = 1, .epochs = 0, .clip_norm = 5, .checkpoint = path,
                                   .vocab = v};
    tl_seq2seq_trainer *t;
    tl_status st = tl_seq2seq_trainer_create(&t, s, o, &p, NULL, &cfg, ck);
    CHECK_MESSAGE(st);
    if (st)
        return;
    int epoch = tl_seq2seq_trainer_epoch(t);
    tl_seq2seq_trainer_destroy(t);
    if (epoch > 1000000)
        return;
    cfg.epochs = epoch + 1;
    st = tl_seq2seq_trainer_create(&t, s, o, &p, NULL, &cfg, ck);
    if (!st)
        st = tl_seq2seq_trainer_run(t, NULL, NULL);
    CHECK_MESSAGE(st);
    tl_seq2seq_trainer_destroy(t);
    if (st)
        return;
    tl_checkpoint *back;
    tl_seq2seq *again = NULL;
    st = tl_checkpoint_open(path, &back);
    if (!st)
        st = tl_seq2seq_from_checkpoint(back, &again);
    if (st) {
        fprintf(stderr, "a written checkpoint does not load: %s\n", tl_last_error());
        abort();
    }
    tl_seq2seq_destroy(again);
    tl_checkpoint_close(back);
    unlink(path);
}

static void checkpoint(const uint8_t *data, size_t size)
{
    tl_checkpoint *ck;
    tl_status st = tl_checkpoint_open(fuzz_header_as_file(data + 1, size - 1), &ck);
    CHECK_MESSAGE(st);
    if (st)
        return;
    tl_seq2seq *s = NULL;
    tl_vocab *v = NULL;
    tl_optim *o = NULL;
    CHECK_MESSAGE(tl_seq2seq_from_checkpoint(ck, &s));
    CHECK_MESSAGE(tl_checkpoint_vocab(ck, &v));
    if (s) {
        CHECK_MESSAGE(tl_seq2seq_checkpoint_optim(ck, s, &o));
        int V = tl_seq2seq_get_config(s).vocab;
        tl_tensor q = {0};
        CHECK(tl_tensor_zeros(&q, TL_INT32, 2, (int[]){2, 3}) == TL_OK);
        for (int i = 0; i < 6; i++)
            q.ids[i] = i % V;
        const tl_tensor *out;
        CHECK(tl_seq2seq_generate(s, &q, 0, 3, &out) == TL_OK);
        for (size_t i = 0; i < out->size; i++)
            CHECK(out->ids[i] >= 0 && out->ids[i] < V);
        tl_tensor_free(&q);
    }
    if (s && o)
        resume(ck, s, o, v && tl_vocab_size(v) == tl_seq2seq_get_config(s).vocab ? v : NULL);
    tl_optim_destroy(o);
    tl_vocab_destroy(v);
    tl_seq2seq_destroy(s);
    tl_checkpoint_close(ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        checkpoint(data, size);
    else
        pairs(data, size);
    return 0;
}
