/* Fuzz target: checkpoint files, from the safetensors bytes up to a resumed
 * trainer. The input is the file. Everything the library reads from a
 * checkpoint is exercised: the header and tensor table (tl_checkpoint_open),
 * every tensor's description and values, the model rebuilt from
 * "architecture", the vocabulary, the optimizer and its state, a few
 * generated tokens turned into text (as `timelayers sample`), and the
 * trainer's loop position and recurrent state (batch 2, time 4, as the
 * seeds were trained); then, as after `--resume`, two training steps (where
 * a NaN in the optimizer state shows) and the checkpoint writer, whose file
 * must open again. Sampling takes its temperature, top-k and skip list from
 * the input's last bytes. Any outcome is fine except a crash, a sanitizer
 * report, a leak, an error without a message, or a written checkpoint that
 * does not open.
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
#include <unistd.h>
#include "fuzz.h"
#include "timelayers/timelayers.h"

static void read_tensors(const tl_checkpoint *ck)
{
    for (int i = 0; i < tl_checkpoint_tensor_count(ck); i++) {
        tl_ckpt_tensor_info info;
        if (tl_checkpoint_tensor_info(ck, i, &info))
            abort();
        tl_real *buf = malloc((info.count ? info.count : 1) * sizeof *buf);
        if (!buf)
            return;
        CHECK_MESSAGE(tl_checkpoint_tensor(ck, info.name, buf, info.count));
        free(buf);
    }
}

/* What `timelayers sample` does: generate from the rebuilt model and turn
 * the ids into text with the file's vocabulary (which may disagree with the
 * model's width: an error then, never a read out of bounds). */
static void sample(tl_model *m, const tl_vocab *v, const uint8_t *data, size_t size)
{
    enum { COUNT = 4 };
    int32_t prompt = 0, out[COUNT], skip[2];
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    uint8_t k = size ? data[size - 1] : 0, s = size > 1 ? data[size - 2] : 0;
    tl_sample_opts opts = {.greedy = !(k & 1), .temperature = 0.05 + (k >> 1) / 16.0,
                           .top_k = s & 7, .skip = skip, .nskip = (s >> 3) & 1};
    skip[0] = s >> 4;
    skip[1] = 0;
    tl_status st = tl_generate(m, &prompt, 1, COUNT, &opts, &rng, out);
    CHECK_MESSAGE(st);
    char text[COUNT * (TL_VOCAB_MAX_TOKEN + 1) + 1];
    size_t len;
    if (!st)
        CHECK_MESSAGE(tl_vocab_detokenize(v, out, COUNT, text, sizeof text, &len));
}

/* Two steps of training after the resume, saved; the file must open again. */
static void train_and_save(tl_trainer *t)
{
    char path[96];
    snprintf(path, sizeof path, "%s/ck.safetensors", fuzz_private_dir());
    tl_status st = tl_trainer_run(t, NULL, NULL);
    CHECK_MESSAGE(st);
    if (st || !tl_trainer_saved(t))
        return;
    tl_checkpoint *back;
    st = tl_checkpoint_open(path, &back);
    if (st) {
        fprintf(stderr, "a written checkpoint does not open: %s\n", tl_last_error());
        abort();
    }
    tl_checkpoint_close(back);
    unlink(path);
}

/* Resume a trainer from ck with a small corpus of the vocabulary's ids. */
static void resume(tl_checkpoint *ck, tl_model *m, tl_optim *o, tl_vocab *v)
{
    enum { N = 96 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = i % tl_vocab_size(v);
    char path[96];
    snprintf(path, sizeof path, "%s/ck.safetensors", fuzz_private_dir());
    tl_train_config cfg = {.batch = 2, .time = 4, .epochs = 1, .checkpoint = path};
    tl_trainer *t;
    tl_status st = tl_trainer_create(&t, m, o, v, ids, N, NULL, 0, &cfg);
    CHECK_MESSAGE(st);
    if (st)
        return;
    st = tl_trainer_resume(t, ck);
    CHECK_MESSAGE(st);
    long step = tl_trainer_step(t);
    int epoch = tl_trainer_epoch(t);
    tl_trainer_destroy(t);
    if (st || step > 1000000000L || epoch > 1000000)
        return;
    /* Again, two steps on (create copies the config). */
    cfg.max_steps = step + 2;
    cfg.epochs = epoch + 1;
    if (!tl_trainer_create(&t, m, o, v, ids, N, NULL, 0, &cfg) && !tl_trainer_resume(t, ck))
        train_and_save(t);
    tl_trainer_destroy(t);
}

/* The file to open: the input itself, or built from "header NUL data". */
static const char *checkpoint_file(const uint8_t *data, size_t size)
{
#ifdef FUZZ_HEADER_TEXT
    return fuzz_header_as_file(data, size);
#else
    return fuzz_as_file(data, size);
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_checkpoint *ck;
    tl_status st = tl_checkpoint_open(checkpoint_file(data, size), &ck);
    CHECK_MESSAGE(st);
    if (st)
        return 0;
    read_tensors(ck);
    tl_model *m = NULL;
    tl_optim *o = NULL;
    tl_vocab *v = NULL;
    CHECK_MESSAGE(tl_checkpoint_model(ck, &m));
    CHECK_MESSAGE(tl_checkpoint_optim(ck, &o));
    CHECK_MESSAGE(tl_checkpoint_vocab(ck, &v));
    if (m && v)
        CHECK_MESSAGE(tl_lm_check_vocab(m, v));
    if (m && v)
        sample(m, v, data, size);
    if (m && o && v)
        resume(ck, m, o, v);
    tl_vocab_destroy(v);
    tl_optim_destroy(o);
    tl_model_destroy(m);
    tl_checkpoint_close(ck);
    return 0;
}
