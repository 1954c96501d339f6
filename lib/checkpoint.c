/* Checkpoints: a model, its training state and metadata in one safetensors
 * file (docs/checkpoint-format.md). This file maps models to tensors and
 * metadata; lib/safetensors.c validates, reads and writes the bytes. The
 * writing of a file with the library's reserved metadata is shared with the
 * sequence-to-sequence checkpoints (checkpoint_internal.h, seq2seq.c).
 *
 * The model is described by "architecture", a JSON array of the layers'
 * tl_layer_config objects in order (the loss layer last), so that
 * tl_checkpoint_model can rebuild it with tl_layer_create_from_config and
 * then load the tensors "layers.<i>.<name>" into it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "checkpoint_internal.h"
#include "internal.h"
#include "safetensors.h"
#include "timelayers/checkpoint.h"

#define FORMAT_NAME "timelayers"
#define FORMAT_VERSION "2"   /* written; versions 1 and 2 are read */
#define PARAM_PREFIX "layers."

struct tl_checkpoint {
    tl_st_file f;
};

/* The metadata keys the library writes in every file of kind k. */
#define RESERVED_KEYS(k) {"format", "format_version", "dtype", (k)->model_key}
enum { NRESERVED = 4 };

static bool is_param_name(const char *name)
{
    return strncmp(name, PARAM_PREFIX, sizeof PARAM_PREFIX - 1) == 0;
}

/* ---- Saving ---- */

static cJSON *field_json(const tl_config_field *f)
{
    switch (f->kind) {
    case TL_FIELD_INT: return cJSON_CreateNumber(f->i);
    case TL_FIELD_REAL: return cJSON_CreateNumber(f->r);
    case TL_FIELD_BOOL: return cJSON_CreateBool(f->b);
    case TL_FIELD_LAYER: {
        cJSON *o = cJSON_CreateObject();
        if (o && !cJSON_AddNumberToObject(o, "layer", f->i)) {
            cJSON_Delete(o);
            o = NULL;
        }
        return o;
    }
    }
    return NULL;
}

/* {"type": ..., "in_dim": ..., "out_dim": ..., <field>: <value>, ...} */
static tl_status add_config(cJSON *arr, const tl_layer_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return tl_fail(TL_ERR_NOMEM, "checkpoint: out of memory building the architecture "
                                     "JSON");
    }
    bool ok = cJSON_AddStringToObject(o, "type", c->type) &&
              cJSON_AddNumberToObject(o, "in_dim", c->in_dim) &&
              cJSON_AddNumberToObject(o, "out_dim", c->out_dim);
    for (int k = 0; ok && k < c->nfields; k++) {
        cJSON *v = field_json(&c->fields[k]);
        ok = v && cJSON_AddItemToObject(o, c->fields[k].name, v);
        if (!ok)
            cJSON_Delete(v);
    }
    return ok ? TL_OK : tl_fail(TL_ERR_NOMEM, "checkpoint: out of memory building the "
                                              "architecture JSON");
}

/* The "architecture" value: every layer's config, the loss layer last.
 * Free *out with cJSON_free. */
static tl_status architecture_json(const tl_model *m, char **out)
{
    int n = tl_model_num_layers(m);
    const tl_layer *loss = tl_model_loss_layer(m);
    cJSON *arr = cJSON_CreateArray();
    tl_status st = arr ? TL_OK
                       : tl_fail(TL_ERR_NOMEM, "checkpoint: out of memory building the "
                                               "architecture JSON");
    for (int i = 0; !st && i < n + (loss != NULL); i++) {
        tl_layer_config c;
        st = tl_model_layer_config(m, i, &c);
        if (!st)
            st = add_config(arr, &c);
    }
    if (!st && !(*out = cJSON_PrintUnformatted(arr)))
        st = tl_fail(TL_ERR_NOMEM, "checkpoint: out of memory printing the architecture JSON");
    cJSON_Delete(arr);
    return st;
}

static const tl__ckpt_kind model_kind = {"tl_checkpoint_save", FORMAT_NAME, FORMAT_VERSION,
                                          "architecture"};

tl_status tl__ckpt_check_save(const tl__ckpt_kind *k, const char *path, bool has_model,
                              const tl_ckpt_meta *meta, int nmeta, const tl_ckpt_tensor *extra,
                              int nextra)
{
    const char *reserved[NRESERVED] = RESERVED_KEYS(k);
    if (!path || !has_model || nmeta < 0 || nextra < 0 || (nmeta && !meta) || (nextra && !extra))
        return tl_fail(TL_ERR_ARG, "%s: NULL argument or negative count", k->fn);
    for (int i = 0; i < nmeta; i++)
        for (int r = 0; meta[i].key && r < NRESERVED; r++)
            if (strcmp(meta[i].key, reserved[r]) == 0)
                return tl_fail(TL_ERR_ARG, "%s: metadata key '%s' is reserved for the library",
                               k->fn, meta[i].key);
    return TL_OK;
}

tl_status tl__ckpt_write(const tl__ckpt_kind *k, const char *path, const char *model_json,
                         const tl_named_param *params, int np, const tl_ckpt_meta *meta,
                         int nmeta, const tl_ckpt_tensor *extra, int nextra, bool dry)
{
    tl_ckpt_meta *all = NULL;
    tl_st_out *out = NULL;
    tl_status st = tl_calloc((void **)&all, (size_t)NRESERVED + (size_t)nmeta, sizeof *all, path);
    if (!st)
        st = tl_calloc((void **)&out, (size_t)np + (size_t)nextra + 1, sizeof *out, path);
    if (st) {
        tl_free(all);
        return st;
    }
    const char *keys[NRESERVED] = RESERVED_KEYS(k);
    const char *values[NRESERVED] = {k->format, k->version, tl_st_dtype_name(TL_ST_REAL),
                                     model_json};
    for (int r = 0; r < NRESERVED; r++)
        all[r] = (tl_ckpt_meta){keys[r], values[r]};
    for (int i = 0; i < nmeta; i++)
        all[NRESERVED + i] = meta[i];
    for (int i = 0; i < np; i++) {
        const tl_tensor *v = &params[i].param->value;
        out[i] = (tl_st_out){.name = params[i].name, .dtype = TL_ST_REAL, .ndim = v->ndim,
                             .data = v->data};
        for (int d = 0; d < v->ndim; d++)
            out[i].shape[d] = v->shape[d];
    }
    for (int i = 0; i < nextra; i++)
        out[np + i] = (tl_st_out){.name = extra[i].name, .dtype = TL_ST_REAL, .ndim = 1,
                                  .shape = {(int64_t)extra[i].n}, .data = extra[i].data};
    st = (dry ? tl_st_write_check : tl_st_write)(path, all, NRESERVED + nmeta, out, np + nextra);
    tl_free(out);
    tl_free(all);
    return st;
}

static tl_status save(const char *path, tl_model *m, const tl_ckpt_meta *meta, int nmeta,
                      const tl_ckpt_tensor *extra, int nextra, bool dry)
{
    int np;
    char *arch = NULL;
    TL_TRY(tl__ckpt_check_save(&model_kind, path, m != NULL, meta, nmeta, extra, nextra));
    for (int i = 0; i < nextra; i++)
        if (extra[i].name && is_param_name(extra[i].name))
            return tl_fail(TL_ERR_ARG, "tl_checkpoint_save: extra tensor '%s': names starting "
                           "with '" PARAM_PREFIX "' belong to the model", extra[i].name);
    TL_TRY(tl_model_param_count(m, &np));
    TL_TRY(architecture_json(m, &arch));

    tl_named_param *params = NULL; /* owns the names */
    tl_status st = tl_calloc((void **)&params, (size_t)np + 1, sizeof *params, path);
    for (int i = 0; !st && i < np; i++)
        st = tl_model_param(m, i, &params[i]);
    if (!st)
        st = tl__ckpt_write(&model_kind, path, arch, params, np, meta, nmeta, extra, nextra, dry);
    tl_free(params);
    cJSON_free(arch);
    return st;
}

tl_status tl_checkpoint_save(const char *path, tl_model *m, const tl_ckpt_meta *meta, int nmeta,
                             const tl_ckpt_tensor *extra, int nextra)
{
    return save(path, m, meta, nmeta, extra, nextra, false);
}

tl_status tl_checkpoint_save_check(const char *path, tl_model *m, const tl_ckpt_meta *meta,
                                   int nmeta, const tl_ckpt_tensor *extra, int nextra)
{
    return save(path, m, meta, nmeta, extra, nextra, true);
}

/* ---- Opening and queries ---- */

tl_status tl_checkpoint_open(const char *path, tl_checkpoint **out)
{
    if (!path || !out)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_open: path or out is NULL");
    *out = NULL;
    tl_checkpoint *ck;
    TL_TRY(tl_calloc((void **)&ck, 1, sizeof *ck, "tl_checkpoint_open"));
    tl_status st = tl_st_read(path, &ck->f);
    if (st) {
        tl_free(ck);
        return st;
    }
    *out = ck;
    return TL_OK;
}

void tl_checkpoint_close(tl_checkpoint *ck)
{
    if (!ck)
        return;
    tl_st_free(&ck->f);
    tl_free(ck);
}

const char *tl_checkpoint_meta(const tl_checkpoint *ck, const char *key)
{
    return ck && key ? tl_st_meta(&ck->f, key) : NULL;
}

int tl_checkpoint_meta_count(const tl_checkpoint *ck) { return ck ? ck->f.nmeta : 0; }

tl_status tl_checkpoint_meta_at(const tl_checkpoint *ck, int i, const char **key,
                                const char **value)
{
    if (!ck || !key || !value)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_meta_at: NULL argument");
    if (i < 0 || i >= ck->f.nmeta)
        return tl_fail(TL_ERR_RANGE, "tl_checkpoint_meta_at: index %d outside [0, %d)", i,
                       ck->f.nmeta);
    *key = ck->f.meta[i].key;
    *value = ck->f.meta[i].value;
    return TL_OK;
}

int tl_checkpoint_tensor_count(const tl_checkpoint *ck) { return ck ? ck->f.ntensors : 0; }

int tl_checkpoint_find(const tl_checkpoint *ck, const char *name)
{
    const tl_st_tensor *t = ck && name ? tl_st_find(&ck->f, name) : NULL;
    return t ? (int)(t - ck->f.tensors) : -1;
}

tl_status tl_checkpoint_tensor_info(const tl_checkpoint *ck, int i, tl_ckpt_tensor_info *info)
{
    if (!ck || !info)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_tensor_info: NULL argument");
    if (i < 0 || i >= ck->f.ntensors)
        return tl_fail(TL_ERR_RANGE, "tl_checkpoint_tensor_info: index %d outside [0, %d)", i,
                       ck->f.ntensors);
    const tl_st_tensor *t = &ck->f.tensors[i];
    *info = (tl_ckpt_tensor_info){.name = t->name, .dtype = tl_st_dtype_name(t->dtype),
                                  .ndim = t->ndim, .shape = t->shape, .count = t->count,
                                  .nbytes = t->end - t->begin};
    return TL_OK;
}

tl_status tl_checkpoint_tensor(const tl_checkpoint *ck, const char *name, tl_real *dst, size_t n)
{
    if (!ck || !name || (n && !dst))
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_tensor: NULL argument");
    const tl_st_tensor *t = tl_st_find(&ck->f, name);
    if (!t)
        return tl_fail(TL_ERR_ARG, "%s: no tensor '%s'", ck->f.path, name);
    if (t->count != n)
        return tl_fail(TL_ERR_SHAPE, "%s: tensor '%s' has %zu elements, not %zu", ck->f.path,
                       name, t->count, n);
    return tl_st_to_real(&ck->f, t, dst);
}

/* ---- Loading a model ---- */

tl_status tl__ckpt_check_param(const tl_checkpoint *ck, const tl_named_param *p)
{
    const tl_st_tensor *t = tl_st_find(&ck->f, p->name);
    const tl_tensor *v = &p->param->value;
    if (!t)
        return tl_fail(TL_ERR_FORMAT, "%s: tensor '%s' is missing", ck->f.path, p->name);
    if (t->dtype != TL_ST_F32 && t->dtype != TL_ST_F64)
        return tl_fail(TL_ERR_FORMAT, "%s: tensor '%s' has dtype %s; parameters must be F32 "
                       "or F64", ck->f.path, p->name, tl_st_dtype_name(t->dtype));
    bool same = t->ndim == v->ndim;
    for (int k = 0; same && k < v->ndim; k++)
        same = t->shape[k] == v->shape[k];
    if (!same) {
        char got[96], want[64];
        return tl_fail(TL_ERR_FORMAT, "%s: tensor '%s' has shape %s, but the model's parameter "
                       "has shape %s", ck->f.path, p->name,
                       tl_st_shape_str(t->shape, t->ndim, got, sizeof got),
                       tl_tensor_shape_str(v, want, sizeof want));
    }
    return TL_OK;
}

/* Every "layers.*" tensor of the file is one of the model's np parameters.
 * They are all present and names are unique, so equal counts settle it. */
static tl_status check_no_unknown(const tl_checkpoint *ck, tl_model *m, int np)
{
    int nfile = 0;
    for (int i = 0; i < ck->f.ntensors; i++)
        nfile += is_param_name(ck->f.tensors[i].name);
    for (int i = 0; nfile != np && i < ck->f.ntensors; i++) {
        const char *name = ck->f.tensors[i].name;
        bool known = !is_param_name(name);
        for (int k = 0; !known && k < np; k++) {
            tl_named_param p;
            TL_TRY(tl_model_param(m, k, &p));
            known = strcmp(p.name, name) == 0;
        }
        if (!known)
            return tl_fail(TL_ERR_FORMAT, "%s: tensor '%s' is not a parameter of the model",
                           ck->f.path, name);
    }
    return TL_OK;
}

tl_status tl_checkpoint_load_into(const tl_checkpoint *ck, tl_model *m)
{
    int np;
    tl_named_param p;
    if (!ck || !m)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_load_into: checkpoint or model is NULL");
    TL_TRY(tl_model_param_count(m, &np));
    /* Check everything before changing anything. */
    for (int i = 0; i < np; i++) {
        TL_TRY(tl_model_param(m, i, &p));
        TL_TRY(tl__ckpt_check_param(ck, &p));
    }
    TL_TRY(check_no_unknown(ck, m, np));
    for (int i = 0; i < np; i++) {
        TL_TRY(tl_model_param(m, i, &p));
        TL_TRY(tl_st_to_real(&ck->f, tl_st_find(&ck->f, p.name), p.param->value.data));
    }
    return TL_OK;
}

/* Fail with "<file>: architecture layer <i>: <problem>". */
static tl_status TL_PRINTF(3, 4) bad_layer(const tl_checkpoint *ck, int i, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tl_fail(TL_ERR_FORMAT, "%s: architecture layer %d: %s", ck->f.path, i, msg);
}

static bool json_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -2147483648.0 &&
                                v->valuedouble <= 2147483647.0) ||
        v->valuedouble != (int)v->valuedouble)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

/* Version 1 had fixed members "stateful" and "variant"; these are the
 * fields they became. */
static tl_status read_v1_fields(const tl_checkpoint *ck, int i, const cJSON *o,
                                tl_layer_config *c)
{
    const cJSON *stateful = cJSON_GetObjectItemCaseSensitive(o, "stateful");
    int variant;
    if (!json_int(o, "variant", &variant) || !cJSON_IsBool(stateful))
        return bad_layer(ck, i, "%s needs an integer \"variant\" and a boolean \"stateful\" "
                         "(format version 1)", c->type);
    bool recurrent = strcmp(c->type, "TimeRNN") == 0 || strcmp(c->type, "TimeLSTM") == 0;
    if (recurrent)
        TL_TRY(tl_config_set_bool(c, "stateful", cJSON_IsTrue(stateful)));
    if (strcmp(c->type, "TimeRNN") == 0)
        TL_TRY(tl_config_set_int(c, "activation", variant));
    if (strcmp(c->type, "TimeSoftmaxWithLoss") == 0)
        TL_TRY(tl_config_set_int(c, "norm", variant));
    return TL_OK;
}

/* Version 2: every member besides type and the widths is a field: a number
 * (an integer when it is one), a boolean, or {"layer": index}. */
static tl_status read_v2_fields(const tl_checkpoint *ck, int i, const cJSON *o,
                                tl_layer_config *c)
{
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *name = v->string;
        if (!strcmp(name, "type") || !strcmp(name, "in_dim") || !strcmp(name, "out_dim"))
            continue;
        if (strlen(name) >= TL_CONFIG_NAME_MAX || c->nfields == TL_CONFIG_MAX_FIELDS)
            return bad_layer(ck, i, "%s: field name '%.40s' too long or more than %d fields",
                             c->type, name, TL_CONFIG_MAX_FIELDS);
        if (tl_config_find(c, name))
            return bad_layer(ck, i, "%s: field '%s' appears twice", c->type, name);
        int index;
        tl_status st;
        if (cJSON_IsBool(v))
            st = tl_config_set_bool(c, name, cJSON_IsTrue(v));
        else if (cJSON_IsNumber(v) && json_int(o, name, &index))
            st = tl_config_set_int(c, name, index);
        else if (cJSON_IsNumber(v))
            st = tl_config_set_real(c, name, v->valuedouble);
        else if (cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1 && json_int(v, "layer", &index))
            st = tl_config_set_layer_index(c, name, index);
        else
            return bad_layer(ck, i, "%s: field '%s' is not a number, a boolean or "
                             "{\"layer\": index}", c->type, name);
        TL_TRY(st);
    }
    return TL_OK;
}

static tl_status read_config(const tl_checkpoint *ck, int version, int i, const cJSON *o,
                             tl_layer_config *c)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(o) || !cJSON_IsString(type) || strlen(type->valuestring) >= sizeof c->type)
        return bad_layer(ck, i, "not an object with a \"type\" string");
    if (!json_int(o, "in_dim", &c->in_dim) || !json_int(o, "out_dim", &c->out_dim))
        return bad_layer(ck, i, "%s needs integers \"in_dim\" and \"out_dim\"",
                         type->valuestring);
    strcpy(c->type, type->valuestring);
    return version == 1 ? read_v1_fields(ck, i, o, c) : read_v2_fields(ck, i, o, c);
}

/* Create layer i of n from its config and append it to m. No layer is wider
 * than the file has parameter values (nvalues): that bounds what a corrupt
 * architecture can make us allocate before the shapes are compared. */
static tl_status add_layer(const tl_checkpoint *ck, int version, tl_model *m, int i, int n,
                           const cJSON *o, size_t nvalues, tl_layer **built)
{
    tl_layer_config c;
    tl_layer *l;
    TL_TRY(read_config(ck, version, i, o, &c));
    if ((c.in_dim > 0 && (size_t)c.in_dim > nvalues) || (c.out_dim > 0 &&
                                                         (size_t)c.out_dim > nvalues))
        return bad_layer(ck, i, "%s of size (%d, %d) is wider than the %zu parameter values "
                         "in the file", c.type, c.in_dim, c.out_dim, nvalues);
    int nbuilt = tl_model_num_layers(m);
    for (int k = 0; k < nbuilt; k++)
        built[k] = tl_model_layer(m, k);
    tl_status st = tl_layer_create_from_config(&l, &c, built, nbuilt, NULL);
    if (!st && tl_layer_is_loss(l) && i != n - 1) {
        tl_layer_destroy(l);
        return bad_layer(ck, i, "the loss layer %s is not the last layer", c.type);
    }
    if (!st)
        st = tl_layer_is_loss(l) ? tl_model_set_loss(m, l) : tl_model_add(m, l);
    if (st == TL_ERR_NOMEM) /* not the file's fault */
        return tl_fail(st, "%s: architecture layer %d: %s", ck->f.path, i, tl_last_error());
    return st ? bad_layer(ck, i, "%s", tl_last_error()) : TL_OK;
}

static tl_status check_format(const tl_checkpoint *ck, int *version)
{
    const char *name = tl_st_meta(&ck->f, "format");
    const char *v = tl_st_meta(&ck->f, "format_version");
    if (!name || strcmp(name, FORMAT_NAME) != 0)
        return tl_fail(TL_ERR_FORMAT, "%s: not a timelayers checkpoint (metadata \"format\" is "
                       "'%s', expected '" FORMAT_NAME "')", ck->f.path, name ? name : "absent");
    if (!v || (strcmp(v, "1") != 0 && strcmp(v, "2") != 0))
        return tl_fail(TL_ERR_FORMAT, "%s: format_version '%s' is not supported (this library "
                       "reads versions 1 and 2)", ck->f.path, v ? v : "absent");
    *version = v[0] - '0';
    return TL_OK;
}

tl_status tl_checkpoint_model(const tl_checkpoint *ck, tl_model **out)
{
    if (!ck || !out)
        return tl_fail(TL_ERR_ARG, "tl_checkpoint_model: checkpoint or out is NULL");
    *out = NULL;
    int version = 0;
    TL_TRY(check_format(ck, &version));
    const char *text = tl_st_meta(&ck->f, "architecture");
    if (!text)
        return tl_fail(TL_ERR_FORMAT, "%s: no \"architecture\" metadata; the model cannot be "
                       "rebuilt", ck->f.path);
    cJSON *arch;
    TL_TRY(tl_json_parse(&arch, text, strlen(text), NULL, ck->f.path));
    int n = cJSON_IsArray(arch) ? cJSON_GetArraySize(arch) : 0;
    size_t nvalues = 0;
    for (int i = 0; i < ck->f.ntensors; i++)
        if (is_param_name(ck->f.tensors[i].name))
            nvalues += ck->f.tensors[i].count;

    tl_model *m = NULL;
    tl_layer **built = NULL;
    tl_status st = n > 0 ? tl_model_create(&m)
                         : tl_fail(TL_ERR_FORMAT, "%s: \"architecture\" is not a non-empty JSON "
                                   "array of layers", ck->f.path);
    if (!st)
        st = tl_alloc((void **)&built, (size_t)n, sizeof *built, "checkpoint layers");
    int i = 0;
    size_t budget = nvalues;
    tl__param_budget(&budget);
    for (const cJSON *o = arch ? arch->child : NULL; !st && o; o = o->next, i++)
        st = add_layer(ck, version, m, i, n, o, nvalues, built);
    tl__param_budget(NULL);
    tl_free(built);
    if (!st && tl_model_num_layers(m) == 0)
        st = tl_fail(TL_ERR_FORMAT, "%s: \"architecture\" has no layer besides the loss",
                     ck->f.path);
    if (!st)
        st = tl_checkpoint_load_into(ck, m);
    cJSON_Delete(arch);
    if (st) {
        tl_model_destroy(m);
        return st;
    }
    *out = m;
    return TL_OK;
}
