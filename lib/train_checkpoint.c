/* The trainer's part of a checkpoint: vocabulary, optimizer, carried
 * recurrent state and loop position, so that a resumed run continues exactly.
 * Metadata values are JSON (via cJSON) because safetensors metadata is a map
 * of strings. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "internal.h"
#include "timelayers/clip.h"
#include "train_internal.h"

/* ---- encoding -------------------------------------------------------------- */

char *tl_vocab_json(const tl_vocab *v)
{
    cJSON *a = cJSON_CreateArray();
    for (int32_t i = 0; a && i < tl_vocab_size(v); i++) {
        cJSON *s = cJSON_CreateString(tl_vocab_token(v, i));
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return text;
}

char *tl__optim_json(const tl_optim *o)
{
    tl_optim_config c;
    tl_optim_get_config(o, &c);
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddStringToObject(j, "kind", tl_optim_name(c.kind)) ||
        !cJSON_AddNumberToObject(j, "lr", tl_optim_lr(o)) ||
        !cJSON_AddNumberToObject(j, "momentum", c.momentum) ||
        !cJSON_AddNumberToObject(j, "rho", c.rho) ||
        !cJSON_AddNumberToObject(j, "beta1", c.beta1) ||
        !cJSON_AddNumberToObject(j, "beta2", c.beta2) ||
        !cJSON_AddNumberToObject(j, "eps", c.eps) ||
        (c.eps_inside && !cJSON_AddTrueToObject(j, "eps_inside")) ||
        !cJSON_AddNumberToObject(j, "steps", (double)tl_optim_steps(o))) {
        cJSON_Delete(j);
        return NULL;
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static char *train_json(const tl_trainer *t)
{
    char rng[4][17], data[17], mask_seed[17];
    snprintf(data, sizeof data, "%016" PRIx64, t->data_hash);
    snprintf(mask_seed, sizeof mask_seed, "%016" PRIx64, tl_model_seed(t->m));
    cJSON *j = cJSON_CreateObject(), *r = cJSON_CreateArray();
    bool ok = j && r && cJSON_AddItemToObject(j, "rng", r);
    if (!ok)
        cJSON_Delete(r);
    for (int i = 0; ok && i < 4; i++) {
        snprintf(rng[i], sizeof rng[i], "%016" PRIx64, t->rng.s[i]);
        cJSON *s = cJSON_CreateString(rng[i]);
        ok = s && cJSON_AddItemToArray(r, s);
        if (!ok)
            cJSON_Delete(s);
    }
    ok = ok && cJSON_AddNumberToObject(j, "epoch", t->epoch) &&
         cJSON_AddNumberToObject(j, "step", (double)t->step) &&
         cJSON_AddNumberToObject(j, "iter", (double)t->iter) &&
         cJSON_AddNumberToObject(j, "time_idx", (double)t->batcher.time_idx) &&
         cJSON_AddNumberToObject(j, "batch", t->rows) &&
         cJSON_AddNumberToObject(j, "time", t->cfg.time) &&
         cJSON_AddNumberToObject(j, "base_lr", t->base_lr) &&
         cJSON_AddNumberToObject(j, "report_loss", t->report_loss) &&
         cJSON_AddNumberToObject(j, "report_count", t->report_count) &&
         cJSON_AddStringToObject(j, "data", data) &&
         cJSON_AddStringToObject(j, "mask_seed", mask_seed) &&
         cJSON_AddNumberToObject(j, "tokens", (double)t->ntrain) &&
         (isfinite(t->best_ppl) ? cJSON_AddNumberToObject(j, "best_ppl", t->best_ppl) != NULL
                                : cJSON_AddNullToObject(j, "best_ppl") != NULL);
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

/* Names of the state tensors of layer i. */
static void state_name(char *buf, size_t n, int layer, char which)
{
    snprintf(buf, n, "state.layers.%d.%c", layer, which);
}

enum { MAX_EXTRA = 2 * 64 + 8 };

/* A checkpoint holding NaN or infinity would replace a good one and poison
 * every run resumed from it: refuse to write parameters, optimizer state or
 * carried state that are not all finite. */
static tl_status check_finite(tl_trainer *t, const tl_ckpt_tensor *extra, int n)
{
    size_t k = tl_grad_first_nonfinite(t->values, t->nparams);
    int count;
    if (k != SIZE_MAX) {
        TL_TRY(tl_model_param_count(t->m, &count));
        for (int i = 0; i < count; i++) {
            tl_named_param p;
            TL_TRY(tl_model_param(t->m, i, &p));
            if (k >= p.offset && k < p.offset + p.param->value.size)
                return tl_fail(TL_ERR_NUMERIC, "step %ld: not saving a non-finite parameter: "
                               "%s[%zu] is %g", t->step, p.name, k - p.offset,
                               (double)t->values[k]);
        }
    }
    for (int i = 0; i < n; i++)
        if ((k = tl_grad_first_nonfinite(extra[i].data, extra[i].n)) != SIZE_MAX)
            return tl_fail(TL_ERR_NUMERIC, "step %ld: not saving a non-finite %s: %s[%zu] is %g",
                           t->step, strncmp(extra[i].name, "optim.", 6) ? "recurrent state"
                           : "optimizer state", extra[i].name, k, (double)extra[i].data[k]);
    return TL_OK;
}

/* The writer's part of a save: the file (dry: only the checks that writing it would pass). */
static tl_status write_checkpoint(tl_trainer *t, const char *path, tl_ckpt_tensor *extra, int n,
                                  bool dry)
{
    char *vocab = t->vocab ? tl_vocab_json(t->vocab) : NULL, *optim = tl__optim_json(t->opt),
         *train = train_json(t);
    char schedule[64];
    tl_lr_schedule_describe(&t->cfg.lr_schedule, schedule, sizeof schedule);
    tl_ckpt_meta *meta = NULL;
    tl_status st;
    if ((t->vocab && !vocab) || !optim || !train) {
        st = tl_fail(TL_ERR_NOMEM, "tl_trainer_save: out of memory encoding the metadata JSON");
    } else if (!(st = tl_alloc((void **)&meta, 5 + (size_t)t->cfg.nmeta, sizeof *meta,
                               "checkpoint metadata"))) {
        int k = 0;
        meta[k++] = (tl_ckpt_meta){"optim", optim};
        meta[k++] = (tl_ckpt_meta){"train", train};
        meta[k++] = (tl_ckpt_meta){"lr_schedule", schedule};
        if (t->vocab) {
            meta[k++] = (tl_ckpt_meta){"vocab.level", tl_vocab_level(t->vocab) == TL_LEVEL_WORD
                                                          ? "word" : "char"};
            meta[k++] = (tl_ckpt_meta){"vocab", vocab};
        }
        for (int i = 0; i < t->cfg.nmeta; i++)
            meta[k++] = t->cfg.meta[i];
        st = (dry ? tl_checkpoint_save_check : tl_checkpoint_save)(path, t->m, meta, k, extra, n);
    }
    tl_free(meta);
    cJSON_free(vocab);
    cJSON_free(optim);
    cJSON_free(train);
    return st;
}

static tl_status save(tl_trainer *t, const char *path, bool dry)
{
    if (!t || !path)
        return tl_fail(TL_ERR_ARG, "tl_trainer_save: trainer or path is NULL");
    tl_ckpt_tensor extra[MAX_EXTRA];
    char names[MAX_EXTRA][48];
    int n = 0;
    for (int i = 0; i < tl_optim_state_count(t->opt) && n < MAX_EXTRA; i++, n++) {
        const char *name;
        tl_real *buf;
        TL_TRY(tl_optim_state(t->opt, i, &name, &buf, &extra[n].n));
        snprintf(names[n], sizeof names[n], "optim.%s", name);
        extra[n].name = names[n];
        extra[n].data = buf;
    }
    /* Each recurrent layer's carried state of all the batch's rows, in global order
     * (gathered from the group: every member takes part). */
    tl_real *owned[MAX_EXTRA] = {NULL};
    tl_status st = TL_OK;
    for (int i = 0; !st && i < tl_model_num_layers(t->m); i++) {
        for (int k = 0; !st && k < 2; k++) {
            const tl_real *data;
            size_t count;
            if (n == MAX_EXTRA) {
                st = tl_fail(TL_ERR_ARG, "tl_trainer_save: too many recurrent layers");
                break;
            }
            st = tl__group_state(t, i, k, &data, &count, &owned[n]);
            if (st || !data)
                continue;
            state_name(names[n], sizeof names[n], i, k ? 'c' : 'h');
            extra[n] = (tl_ckpt_tensor){names[n], data, count};
            n++;
        }
    }
    if (!st)
        st = check_finite(t, extra, n);
    if (!st && tl_comm_is_writer(t->cfg.comm))
        st = write_checkpoint(t, path, extra, n, dry);
    for (int i = 0; i < n; i++)
        tl_free(owned[i]);
    st = tl__group_saved(t, st, dry);
    t->saved |= !st && !dry;
    return st;
}

tl_status tl_trainer_save(tl_trainer *t, const char *path) { return save(t, path, false); }

tl_status tl_trainer_check_save(tl_trainer *t, const char *path) { return save(t, path, true); }

/* ---- decoding -------------------------------------------------------------- */

tl_status tl__meta_json(const tl_checkpoint *ck, const char *key, int type, cJSON **out)
{
    const char *text = tl_checkpoint_meta(ck, key);
    if (!text)
        return tl_fail(TL_ERR_FORMAT, "checkpoint has no \"%s\" metadata (not written by a "
                                      "timelayers trainer?)", key);
    TL_TRY(tl_json_parse(out, text, strlen(text), NULL, key));
    char what[64];
    snprintf(what, sizeof what, "checkpoint metadata \"%s\"", key);
    tl_status st = *out ? tl_json_strict(*out, text, strlen(text), what) : TL_OK;
    if (st) {
        cJSON_Delete(*out);
        *out = NULL;
        return st;
    }
    if (!*out || !((*out)->type & type)) {
        cJSON_Delete(*out);
        *out = NULL;
        return tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"%s\" is not valid JSON of the "
                                      "expected kind", key);
    }
    return TL_OK;
}

static tl_status number(const cJSON *j, const char *what, const tl__field *f)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= f->lo && v->valuedouble <= f->hi) ||
        (f->integral && v->valuedouble != floor(v->valuedouble)))
        return tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"%s\": \"%s\" is missing or not %s "
                       "in [%g, %g]", what, f->key, f->integral ? "an integer" : "a number",
                       f->lo, f->hi);
    *f->out = v->valuedouble;
    return TL_OK;
}

tl_status tl__numbers(const cJSON *j, const char *what, const tl__field *f, int n)
{
    for (int i = 0; i < n; i++)
        TL_TRY(number(j, what, &f[i]));
    return TL_OK;
}

tl_status tl_checkpoint_vocab(const tl_checkpoint *ck, tl_vocab **out)
{
    if (!ck || !out)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_vocab: NULL argument");
    *out = NULL;
    const char *level = tl_checkpoint_meta(ck, "vocab.level");
    if (!level || (strcmp(level, "word") && strcmp(level, "char")))
        return tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"vocab.level\" is missing or not "
                                      "\"word\"/\"char\"");
    cJSON *a;
    TL_TRY(tl__meta_json(ck, "vocab", cJSON_Array, &a));
    tl_vocab *v;
    tl_status st = tl_vocab_create(&v, level[0] == 'w' ? TL_LEVEL_WORD : TL_LEVEL_CHAR);
    int32_t expect = 0, id;
    const cJSON *s;
    cJSON_ArrayForEach(s, a)
    {
        if (st)
            break;
        if (!cJSON_IsString(s))
            st = tl_fail(TL_ERR_FORMAT, "checkpoint vocabulary: entry %d is not a string", expect);
        else if (!(st = tl_vocab_add(v, s->valuestring, strlen(s->valuestring), &id)) &&
                 id != expect)
            st = tl_fail(TL_ERR_FORMAT, "checkpoint vocabulary: token %d (\"%s\") repeats an "
                                        "earlier one", expect, s->valuestring);
        expect++;
    }
    cJSON_Delete(a);
    if (!st && expect == 0)
        st = tl_fail(TL_ERR_FORMAT, "checkpoint vocabulary is empty");
    if (st) {
        tl_vocab_destroy(v);
        return st;
    }
    *out = v;
    return TL_OK;
}

/* Copy each optimizer state buffer from its "optim.<name>" tensor. */
static tl_status load_optim_state(const tl_checkpoint *ck, tl_optim *o)
{
    for (int i = 0; i < tl_optim_state_count(o); i++) {
        const char *name;
        tl_real *buf;
        size_t n;
        char key[48];
        TL_TRY(tl_optim_state(o, i, &name, &buf, &n));
        snprintf(key, sizeof key, "optim.%s", name);
        if (tl_checkpoint_find(ck, key) < 0)
            return tl_fail(TL_ERR_FORMAT, "checkpoint lacks the optimizer state tensor \"%s\"",
                           key);
        TL_TRY(tl_checkpoint_tensor(ck, key, buf, n));
    }
    return TL_OK;
}

tl_status tl_checkpoint_optim(const tl_checkpoint *ck, tl_optim **out)
{
    return tl__checkpoint_optim_n(ck, 0, out);
}

tl_status tl__checkpoint_optim_n(const tl_checkpoint *ck, size_t nparams, tl_optim **out)
{
    if (!ck || !out)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_optim: NULL argument");
    *out = NULL;
    cJSON *j;
    TL_TRY(tl__meta_json(ck, "optim", cJSON_Object, &j));
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    const cJSON *inside = cJSON_GetObjectItemCaseSensitive(j, "eps_inside");
    tl_optim_config c = {0};
    double steps = 0;
    bool count = nparams == 0;
    tl_status st = cJSON_IsString(kind) ? tl_optim_kind_from_name(kind->valuestring, &c.kind)
                                        : tl_fail(TL_ERR_FORMAT, "optim: \"kind\" is missing");
    if (!st)
        c = tl_optim_defaults(c.kind);
    const tl__field fields[] = {
        {"lr", 0, 1e12, &c.lr, false},          {"momentum", 0, 1, &c.momentum, false},
        {"rho", 0, 1, &c.rho, false},           {"beta1", 0, 1, &c.beta1, false},
        {"beta2", 0, 1, &c.beta2, false},       {"eps", 0, 1, &c.eps, false},
        {"steps", 0, 9007199254740992.0, &steps, true},
    };
    if (!st)
        st = tl__numbers(j, "optim", fields, (int)(sizeof fields / sizeof *fields));
    if (!st && inside && !cJSON_IsBool(inside))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"optim\": eps_inside is not a boolean");
    c.eps_inside = cJSON_IsTrue(inside);
    cJSON_Delete(j);
    for (int i = 0; !st && i < tl_checkpoint_tensor_count(ck); i++) {
        tl_ckpt_tensor_info info;
        st = tl_checkpoint_tensor_info(ck, i, &info);
        if (!st && count && strncmp(info.name, "layers.", 7) == 0)
            nparams += info.count;
    }
    tl_optim *o = NULL;
    if (!st)
        st = tl_optim_create(&o, &c, nparams);
    if (!st)
        st = tl_optim_set_steps(o, (uint64_t)steps);
    if (!st)
        st = load_optim_state(ck, o);
    if (st) {
        tl_optim_destroy(o);
        return st;
    }
    *out = o;
    return TL_OK;
}

/* Restore each recurrent layer's carried state: zero unless the checkpoint
 * has "state.layers.<i>.h" (and ".c"), each (batch, width) of this run. */
static tl_status load_states(tl_trainer *t, const tl_checkpoint *ck)
{
    tl_tensor h = {0}, c = {0};
    tl_status st = TL_OK;
    tl_model_reset_state(t->m);
    tl__group_reset_states(t);
    for (int i = 0; !st && i < tl_model_num_layers(t->m); i++) {
        tl_tensor *buf[2] = {&h, &c};
        bool have[2] = {false, false};
        for (int k = 0; !st && k < 2; k++) {
            char name[48];
            state_name(name, sizeof name, i, k ? 'c' : 'h');
            int idx = tl_checkpoint_find(ck, name);
            tl_ckpt_tensor_info info;
            if (idx < 0)
                continue;
            st = tl_checkpoint_tensor_info(ck, idx, &info);
            if (!st && (info.count % (size_t)t->rows || info.count / (size_t)t->rows >
                                                        (size_t)INT_MAX))
                st = tl_fail(TL_ERR_FORMAT, "checkpoint state %s has %zu values, not a multiple "
                             "of batch %d of at most INT_MAX columns", name, info.count,
                             t->rows);
            if (!st)
                st = tl_tensor_resize(buf[k], TL_REAL, 2,
                                      (int[]){t->rows, (int)(info.count / t->rows)});
            if (!st)
                st = tl_checkpoint_tensor(ck, name, buf[k]->data, buf[k]->size);
            have[k] = !st;
        }
        if (!st && have[0])
            st = tl__group_set_state(t, i, &h, have[1] ? &c : NULL);
    }
    tl_tensor_free(&h);
    tl_tensor_free(&c);
    return st;
}

bool tl__hex64(const cJSON *s, uint64_t *out)
{
    if (!cJSON_IsString(s) || strlen(s->valuestring) != 16 ||
        strspn(s->valuestring, "0123456789abcdefABCDEF") != 16)
        return false;
    *out = strtoull(s->valuestring, NULL, 16);
    return true;
}

tl_status tl_trainer_resume(tl_trainer *t, tl_checkpoint *ck)
{
    if (!t || !ck)
        return tl_fail(TL_ERR_ARG, "tl_trainer_resume: trainer or checkpoint is NULL");
    cJSON *j;
    TL_TRY(tl__meta_json(ck, "train", cJSON_Object, &j));
    double epoch = 0, step = 0, iter = 0, time_idx = 0, batch = 0, time = 0;
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(j, "best_ppl");
    const cJSON *base_lr = cJSON_GetObjectItemCaseSensitive(j, "base_lr");
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng");
    const tl__field fields[] = {
        {"epoch", 0, 1e9, &epoch, true},          {"step", 0, 9e15, &step, true},
        {"iter", 0, 9e15, &iter, true},           {"time_idx", 0, 9e15, &time_idx, true},
        {"batch", 1, 1e9, &batch, true},          {"time", 1, 1e9, &time, true},
    };
    tl_status st = tl__numbers(j, "train", fields, (int)(sizeof fields / sizeof *fields));
    if (!st && ((int)batch != t->rows || (int)time != t->cfg.time))
        st = tl_fail(TL_ERR_ARG, "the checkpoint was trained with batch %d x time %d; resume "
                     "with the same (batch x accumulate; got %d x %d)", (int)batch, (int)time,
                     t->rows, t->cfg.time);
    if (!st && (long)iter > (long)tl_batcher_iters_per_epoch(&t->batcher))
        st = tl_fail(TL_ERR_ARG, "the checkpoint stopped at iteration %ld of an epoch, but this "
                     "training data has %zu iterations per epoch: not the same data", (long)iter,
                     tl_batcher_iters_per_epoch(&t->batcher));
    /* The training data's fingerprint (absent in older files). */
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    char mine[17];
    snprintf(mine, sizeof mine, "%016" PRIx64, t->data_hash);
    if (!st && data && (!cJSON_IsString(data) || strcmp(data->valuestring, mine)))
        st = tl_fail(TL_ERR_ARG, "this is not the training data of the checkpoint's run (%zu "
                     "tokens, fingerprint %s; the checkpoint's: %s): resume with the same data",
                     t->ntrain, mine, cJSON_IsString(data) ? data->valuestring : "invalid");
    /* The partial sum of the report in progress (absent in older files): the
     * first report after a resume averages as many steps as without it. */
    double report_loss = 0, report_count = 0;
    const tl__field report[] = {
        {"report_loss", -1e300, 1e300, &report_loss, false},
        {"report_count", 0, 1e9, &report_count, true},
    };
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "report_count"))
        st = tl__numbers(j, "train", report, 2);
    if (!st && !(cJSON_IsNull(best) || cJSON_IsNumber(best)))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": bad best_ppl");
    /* Checkpoints from before the schedules have no base rate: the
     * optimizer's current one is all there is. */
    if (!st && base_lr && !(cJSON_IsNumber(base_lr) && base_lr->valuedouble > 0 &&
                            base_lr->valuedouble <= 1e12))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": bad base_lr");
    if (!st && !(cJSON_IsArray(rng) && cJSON_GetArraySize(rng) == 4))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": rng must be 4 hex strings");
    tl_rng r = {{0}};
    for (int i = 0; !st && i < 4; i++)
        if (!tl__hex64(cJSON_GetArrayItem(rng, i), &r.s[i]))
            st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": rng[%d] is not 16 hex digits", i);
    /* The seed of the dropout masks (absent in older files: the model's own). */
    const cJSON *mask_seed = cJSON_GetObjectItemCaseSensitive(j, "mask_seed");
    uint64_t seed = tl_model_seed(t->m);
    if (!st && mask_seed && !tl__hex64(mask_seed, &seed))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": mask_seed is not 16 hex digits");
    if (!st)
        st = load_states(t, ck);
    if (!st) {
        t->epoch = (int)epoch;
        t->step = (long)step;
        t->iter = (long)iter;
        t->batcher.time_idx = (size_t)time_idx;
        t->best_ppl = cJSON_IsNumber(best) ? best->valuedouble : INFINITY;
        if (base_lr)
            t->base_lr = base_lr->valuedouble;
        t->rng = r;
        tl_model_set_seed(t->m, seed);
        t->report_loss = report_loss;
        t->report_count = (int)report_count;
    }
    cJSON_Delete(j);
    return st;
}

tl_status tl_checkpoint_train_shape(const tl_checkpoint *ck, int *batch, int *time)
{
    if (!ck || !batch || !time)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_train_shape: NULL argument");
    cJSON *j;
    TL_TRY(tl__meta_json(ck, "train", cJSON_Object, &j));
    double b = 0, tm = 0;
    const tl__field fields[] = {{"batch", 1, 1 << 30, &b, true}, {"time", 1, 1 << 30, &tm, true}};
    tl_status st = tl__numbers(j, "train", fields, 2);
    cJSON_Delete(j);
    if (!st) {
        *batch = (int)b;
        *time = (int)tm;
    }
    return st;
}
