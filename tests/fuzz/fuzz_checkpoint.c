/* Fuzz target: checkpoint files, from the safetensors bytes up to a resumed
 * trainer. The input is the file. Everything the library reads from a
 * checkpoint is exercised: the header and tensor table (tl_checkpoint_open),
 * every tensor's description and values, the model rebuilt from
 * "architecture", the vocabulary, the optimizer and its state, a few
 * generated tokens turned into text (as `timelayers sample`), and the
 * trainer's loop position and recurrent state (batch 2, time 4, as the
 * seeds were trained). Any outcome is fine except a crash, a sanitizer
 * report, a leak, or an error without a message.
 *
 * Built twice. fuzz_checkpoint takes the input as the file. Mutations that
 * insert or erase header bytes then break the 8-byte header length, so they
 * rarely get past the JSON parser; fuzz_checkpoint_header (FUZZ_HEADER_TEXT)
 * takes "header JSON, NUL, data section" and writes the length itself, so
 * that edits of the metadata (architecture, vocabulary, optimizer, trainer
 * position) reach the code that interprets them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "timelayers/timelayers.h"

/* A failure must explain itself. */
static void check_message(tl_status st)
{
    if (st && !*tl_last_error()) {
        fprintf(stderr, "status %s without a message\n", tl_status_name(st));
        abort();
    }
}

static void read_tensors(const tl_checkpoint *ck)
{
    for (int i = 0; i < tl_checkpoint_tensor_count(ck); i++) {
        tl_ckpt_tensor_info info;
        if (tl_checkpoint_tensor_info(ck, i, &info))
            abort();
        tl_real *buf = malloc((info.count ? info.count : 1) * sizeof *buf);
        if (!buf)
            return;
        check_message(tl_checkpoint_tensor(ck, info.name, buf, info.count));
        free(buf);
    }
}

/* What `timelayers sample` does: generate from the rebuilt model and turn
 * the ids into text with the file's vocabulary (which may disagree with the
 * model's width: an error then, never a read out of bounds). */
static void sample(tl_model *m, const tl_vocab *v)
{
    enum { COUNT = 4 };
    int32_t prompt = 0, out[COUNT];
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    tl_sample_opts opts = {.greedy = true};
    tl_status st = tl_generate(m, &prompt, 1, COUNT, &opts, &rng, out);
    check_message(st);
    char text[COUNT * (TL_VOCAB_MAX_TOKEN + 1) + 1];
    size_t len;
    if (!st)
        check_message(tl_vocab_detokenize(v, out, COUNT, text, sizeof text, &len));
}

/* Resume a trainer from ck with a small corpus of the vocabulary's ids. */
static void resume(tl_checkpoint *ck, tl_model *m, tl_optim *o, tl_vocab *v)
{
    enum { N = 96 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = i % tl_vocab_size(v);
    tl_train_config cfg = {.batch = 2, .time = 4, .epochs = 1};
    tl_trainer *t;
    tl_status st = tl_trainer_create(&t, m, o, v, ids, N, NULL, 0, &cfg);
    check_message(st);
    if (st)
        return;
    check_message(tl_trainer_resume(t, ck));
    tl_trainer_destroy(t);
}

/* The file to open: the input itself, or built from "header NUL data". */
static const char *checkpoint_file(const uint8_t *data, size_t size)
{
#ifdef FUZZ_HEADER_TEXT
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size, rest = nul ? size - n - 1 : 0;
    uint8_t *file = malloc(8 + n + rest);
    if (!file)
        abort();
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(file + 8, data, n);
    if (rest)
        memcpy(file + 8 + n, nul + 1, rest);
    const char *path = fuzz_as_file(file, 8 + n + rest);
    free(file);
    return path;
#else
    return fuzz_as_file(data, size);
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_checkpoint *ck;
    tl_status st = tl_checkpoint_open(checkpoint_file(data, size), &ck);
    check_message(st);
    if (st)
        return 0;
    read_tensors(ck);
    tl_model *m = NULL;
    tl_optim *o = NULL;
    tl_vocab *v = NULL;
    check_message(tl_checkpoint_model(ck, &m));
    check_message(tl_checkpoint_optim(ck, &o));
    check_message(tl_checkpoint_vocab(ck, &v));
    if (m && v)
        sample(m, v);
    if (m && o && v)
        resume(ck, m, o, v);
    tl_vocab_destroy(v);
    tl_optim_destroy(o);
    tl_model_destroy(m);
    tl_checkpoint_close(ck);
    return 0;
}
