/* A language model in one file: the model's checkpoint with its vocabulary
 * in the metadata "vocab" (a JSON array of the tokens in id order) and
 * "vocab.level" ("word" or "char"), the keys the trainer writes too
 * (docs/checkpoint-format.md). */
#include <string.h>
#include <cjson/cJSON.h>
#include "internal.h"
#include "timelayers/checkpoint.h"
#include "timelayers/lm.h"
#include "timelayers/train.h"

/* When the model's first layer takes token ids, the vocabulary must have
 * exactly as many tokens as that layer has rows. */
static tl_status check_fit(tl_model *m, const tl_vocab *v, const char *path)
{
    tl_layer *first = tl_model_layer(m, 0);
    tl_layer_config c;
    if (!first || first->in_dtype != TL_INT32 || tl_layer_get_config(first, &c) != TL_OK)
        return TL_OK;
    if (c.in_dim != tl_vocab_size(v))
        return tl_fail(TL_ERR_SHAPE, "%s: a vocabulary of %d tokens for a model whose first "
                       "layer (%s) takes %d ids", path, (int)tl_vocab_size(v), c.type, c.in_dim);
    return TL_OK;
}

tl_status tl_lm_save(const char *path, tl_model *m, const tl_vocab *v, const tl_ckpt_meta *meta,
                     int nmeta)
{
    if (!path || !m || !v || nmeta < 0 || (nmeta && !meta))
        return tl_fail(TL_ERR_ARG, "tl_lm_save: NULL argument or negative nmeta");
    TL_TRY(check_fit(m, v, path));
    tl_ckpt_meta *all;
    TL_TRY(tl_alloc((void **)&all, (size_t)nmeta + 2, sizeof *all, "tl_lm_save"));
    char *tokens = tl_vocab_json(v);
    tl_status st = tokens ? TL_OK : tl_fail(TL_ERR_NOMEM, "tl_lm_save: the vocabulary as JSON");
    if (!st) {
        all[0] = (tl_ckpt_meta){"vocab", tokens};
        all[1] = (tl_ckpt_meta){"vocab.level",
                                tl_vocab_level(v) == TL_LEVEL_WORD ? "word" : "char"};
        if (nmeta)
            memcpy(all + 2, meta, (size_t)nmeta * sizeof *meta);
        st = tl_checkpoint_save(path, m, all, nmeta + 2, NULL, 0);
    }
    cJSON_free(tokens);
    tl_free(all);
    return st;
}

tl_status tl_lm_load(const char *path, tl_model **m, tl_vocab **v)
{
    if (!path || !m || !v)
        return tl_fail(TL_ERR_ARG, "tl_lm_load: NULL argument");
    *m = NULL;
    *v = NULL;
    tl_checkpoint *ck;
    TL_TRY(tl_checkpoint_open(path, &ck));
    tl_status st = tl_checkpoint_model(ck, m);
    if (!st)
        st = tl_checkpoint_vocab(ck, v);
    if (!st)
        st = check_fit(*m, *v, path);
    tl_checkpoint_close(ck);
    if (st) {
        tl_model_destroy(*m);
        tl_vocab_destroy(*v);
        *m = NULL;
        *v = NULL;
    }
    return st;
}
