/* timelayers info: what a checkpoint holds. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

static const char help[] =
    "usage: timelayers info CHECKPOINT [--tensors] [--json]\n"
    "\n"
    "Print the architecture, vocabulary, parameter count and training state stored\n"
    "in a checkpoint (--tensors: also every tensor's name, dtype and shape; --json:\n"
    "all of it as one JSON object). A checkpoint without a vocabulary (written by\n"
    "tl_checkpoint_save alone) is described too.\n";

/* An RNN's activation field by name ("tanh", "sigmoid"); NULL for others. */
static const char *activation_name(const tl_config_field *f)
{
    if (f->kind != TL_FIELD_INT || strcmp(f->name, "activation"))
        return NULL;
    return f->i == TL_ACT_SIGMOID ? "sigmoid" : f->i == TL_ACT_TANH ? "tanh" : "unknown";
}

/* A layer's named fields: "stateful", "activation=tanh", "tied=layer 0", ... */
static void print_fields(const tl_layer_config *cfg)
{
    for (int k = 0; k < cfg->nfields; k++) {
        const tl_config_field *f = &cfg->fields[k];
        switch (f->kind) {
        case TL_FIELD_BOOL: printf("  %s%s", f->b ? "" : "not ", f->name); break;
        case TL_FIELD_INT:
            if (activation_name(f))
                printf("  %s=%s", f->name, activation_name(f));
            else
                printf("  %s=%d", f->name, f->i);
            break;
        case TL_FIELD_REAL: printf("  %s=%g", f->name, f->r); break;
        case TL_FIELD_LAYER: printf("  %s=layer %d", f->name, f->i); break;
        }
    }
}

/* Metadata is the file's to choose: control characters (a terminal's escape
 * sequences) are printed as \xNN, never as themselves. */
static void print_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
}

/* The fields as a JSON object: numbers, booleans, {"layer": i}; an RNN's
 * activation by name. */
static bool json_fields(cJSON *o, const tl_layer_config *cfg)
{
    cJSON *fs = cJSON_AddObjectToObject(o, "fields");
    bool ok = fs != NULL;
    for (int k = 0; ok && k < cfg->nfields; k++) {
        const tl_config_field *f = &cfg->fields[k];
        cJSON *ref;
        switch (f->kind) {
        case TL_FIELD_BOOL: ok = cJSON_AddBoolToObject(fs, f->name, f->b); break;
        case TL_FIELD_INT:
            ok = activation_name(f) ? cJSON_AddStringToObject(fs, f->name, activation_name(f)) != NULL
                                    : cJSON_AddNumberToObject(fs, f->name, f->i) != NULL;
            break;
        case TL_FIELD_REAL: ok = cJSON_AddNumberToObject(fs, f->name, f->r); break;
        case TL_FIELD_LAYER:
            ref = cJSON_AddObjectToObject(fs, f->name);
            ok = ref && cJSON_AddNumberToObject(ref, "layer", f->i);
            break;
        }
    }
    return ok;
}

static void print_text(const char *path, tl_checkpoint *ck, tl_model *m, const tl_vocab *v,
                       bool tensors)
{
    printf("%s\n", path);
    for (int i = 0; i < tl_model_num_layers(m) + 1; i++) {
        tl_layer *l = i < tl_model_num_layers(m) ? tl_model_layer(m, i) : tl_model_loss_layer(m);
        tl_layer_config cfg;
        if (!l || tl_model_layer_config(m, i, &cfg))
            continue;
        printf("  %-6s %-20s in %-6d out %-6d", l == tl_model_loss_layer(m) ? "loss" : "layer",
               cfg.type, cfg.in_dim, cfg.out_dim);
        print_fields(&cfg);
        printf("\n");
    }
    size_t nparams = 0;
    tl_model_flat(m, NULL, NULL, &nparams);
    printf("parameters: %zu\n", nparams);
    if (v)
        printf("vocabulary: %d tokens, %s level\n", (int)tl_vocab_size(v),
               tl_vocab_level(v) == TL_LEVEL_WORD ? "word" : "char");
    else
        printf("vocabulary: none (a model saved without one: sample and eval need one)\n");
    for (int i = 0; i < tl_checkpoint_meta_count(ck); i++) {
        const char *k, *val;
        if (!tl_checkpoint_meta_at(ck, i, &k, &val) && strcmp(k, "vocab") &&
            strcmp(k, "architecture"))
        {
            print_escaped(k);
            fputs(": ", stdout);
            print_escaped(val);
            putchar('\n');
        }
    }
    for (int i = 0; tensors && i < tl_checkpoint_tensor_count(ck); i++) {
        tl_ckpt_tensor_info t;
        if (tl_checkpoint_tensor_info(ck, i, &t))
            continue;
        fputs("  ", stdout);
        print_escaped(t.name);
        printf("%*s %s (", strlen(t.name) < 28 ? (int)(28 - strlen(t.name)) : 0, "", t.dtype);
        for (int d = 0; d < t.ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)t.shape[d]);
        printf(")\n");
    }
}

/* The same as one JSON object; false when out of memory. */
static bool print_json(const char *path, tl_checkpoint *ck, tl_model *m, const tl_vocab *v,
                       bool tensors)
{
    cJSON *j = cJSON_CreateObject(), *layers = cJSON_AddArrayToObject(j, "layers");
    bool ok = j && layers && cJSON_AddStringToObject(j, "file", path);
    for (int i = 0; ok && i < tl_model_num_layers(m) + 1; i++) {
        tl_layer *l = i < tl_model_num_layers(m) ? tl_model_layer(m, i) : tl_model_loss_layer(m);
        tl_layer_config cfg;
        if (!l || tl_model_layer_config(m, i, &cfg))
            continue;
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(layers, o) && cJSON_AddStringToObject(o, "type", cfg.type) &&
             cJSON_AddBoolToObject(o, "loss", l == tl_model_loss_layer(m)) &&
             cJSON_AddNumberToObject(o, "in", cfg.in_dim) &&
             cJSON_AddNumberToObject(o, "out", cfg.out_dim) && json_fields(o, &cfg);
    }
    size_t nparams = 0;
    tl_model_flat(m, NULL, NULL, &nparams);
    ok = ok && cJSON_AddNumberToObject(j, "parameters", (double)nparams);
    if (ok && v) {
        cJSON *o = cJSON_AddObjectToObject(j, "vocabulary");
        ok = o && cJSON_AddNumberToObject(o, "size", tl_vocab_size(v)) &&
             cJSON_AddStringToObject(o, "level",
                                     tl_vocab_level(v) == TL_LEVEL_WORD ? "word" : "char");
    } else if (ok) {
        ok = cJSON_AddNullToObject(j, "vocabulary");
    }
    cJSON *meta = ok ? cJSON_AddObjectToObject(j, "metadata") : NULL;
    ok = ok && meta;
    for (int i = 0; ok && i < tl_checkpoint_meta_count(ck); i++) {
        const char *k, *val;
        if (!tl_checkpoint_meta_at(ck, i, &k, &val) && strcmp(k, "vocab") &&
            strcmp(k, "architecture"))
            ok = cJSON_AddStringToObject(meta, k, val);
    }
    cJSON *ts = ok && tensors ? cJSON_AddArrayToObject(j, "tensors") : NULL;
    for (int i = 0; ts && ok && i < tl_checkpoint_tensor_count(ck); i++) {
        tl_ckpt_tensor_info t;
        if (tl_checkpoint_tensor_info(ck, i, &t))
            continue;
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        ok = o && shape && cJSON_AddItemToArray(ts, o) && cJSON_AddItemToObject(o, "shape", shape);
        if (!ok) {
            cJSON_Delete(o);
            cJSON_Delete(shape);
            break;
        }
        ok = cJSON_AddStringToObject(o, "name", t.name) &&
             cJSON_AddStringToObject(o, "dtype", t.dtype);
        for (int d = 0; ok && d < t.ndim; d++) {
            cJSON *n = cJSON_CreateNumber((double)t.shape[d]);
            ok = n && cJSON_AddItemToArray(shape, n);
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    if (text)
        puts(text);
    else
        fprintf(stderr, "timelayers info: out of memory\n");
    cJSON_free(text);
    cJSON_Delete(j);
    return text != NULL;
}

int cmd_info(int argc, char **argv)
{
    static const struct option options[] = {
        {"tensors", 0, 0, 't'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, CLI_VERSION_OPTION,
        {0, 0, 0, 0},
    };
    bool tensors = false, json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case 't': tensors = true; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("info", c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("info", "expected one CHECKPOINT");
    const char *path = argv[optind];
    tl_checkpoint *ck = NULL;
    tl_model *m = NULL;
    tl_vocab *v = NULL;
    int rc = 1;
    if (tl_checkpoint_open(path, &ck) || tl_checkpoint_model(ck, &m)) {
        cli_fail(path);
        goto out;
    }
    /* The vocabulary is optional here; when present it must be valid and fit. */
    if (tl_checkpoint_meta(ck, "vocab") || tl_checkpoint_meta(ck, "vocab.level")) {
        if (tl_checkpoint_vocab(ck, &v) || tl_lm_check_vocab(m, v)) {
            cli_fail(path);
            goto out;
        }
    }
    if (json)
        rc = print_json(path, ck, m, v, tensors) ? 0 : 1;
    else {
        print_text(path, ck, m, v, tensors);
        rc = 0;
    }
out:
    tl_vocab_destroy(v);
    tl_model_destroy(m);
    tl_checkpoint_close(ck);
    return rc;
}
