/* timelayers info: what a checkpoint holds. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

/* A layer's named fields: "stateful", "p=0.5", "tied=layer 0", ... */
static void print_fields(const tl_layer_config *cfg)
{
    for (int k = 0; k < cfg->nfields; k++) {
        const tl_config_field *f = &cfg->fields[k];
        switch (f->kind) {
        case TL_FIELD_BOOL: printf("  %s%s", f->b ? "" : "not ", f->name); break;
        case TL_FIELD_INT: printf("  %s=%d", f->name, f->i); break;
        case TL_FIELD_REAL: printf("  %s=%g", f->name, f->r); break;
        case TL_FIELD_LAYER: printf("  %s=layer %d", f->name, f->i); break;
        }
    }
}

static const char help[] =
    "usage: timelayers info CHECKPOINT [--tensors]\n"
    "\n"
    "Print the architecture, vocabulary, parameter count and training state stored\n"
    "in a checkpoint (--tensors: also every tensor's name, dtype and shape).\n";

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

int cmd_info(int argc, char **argv)
{
    static const struct option options[] = {
        {"tensors", 0, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
    };
    bool tensors = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return 0;
        }
        if (c != 't')
            return cli_usage_error("info", "unknown option");
        tensors = true;
    }
    if (argc - optind != 1)
        return cli_usage_error("info", "expected one CHECKPOINT");
    cli_model cm;
    if (!cli_model_open(argv[optind], &cm))
        return 1;
    printf("%s\n", argv[optind]);
    for (int i = 0; i < tl_model_num_layers(cm.model) + 1; i++) {
        tl_layer *l = i < tl_model_num_layers(cm.model) ? tl_model_layer(cm.model, i)
                                                        : tl_model_loss_layer(cm.model);
        tl_layer_config cfg;
        if (!l || tl_model_layer_config(cm.model, i, &cfg))
            continue;
        printf("  %-6s %-20s in %-6d out %-6d", l == tl_model_loss_layer(cm.model) ? "loss"
               : "layer", cfg.type, cfg.in_dim, cfg.out_dim);
        print_fields(&cfg);
        printf("\n");
    }
    size_t nparams = 0;
    tl_model_flat(cm.model, NULL, NULL, &nparams);
    printf("parameters: %zu\n", nparams);
    printf("vocabulary: %d tokens, %s level\n", (int)tl_vocab_size(cm.vocab),
           tl_vocab_level(cm.vocab) == TL_LEVEL_WORD ? "word" : "char");
    for (int i = 0; i < tl_checkpoint_meta_count(cm.ck); i++) {
        const char *k, *v;
        if (!tl_checkpoint_meta_at(cm.ck, i, &k, &v) && strcmp(k, "vocab") &&
            strcmp(k, "architecture"))
        {
            print_escaped(k);
            fputs(": ", stdout);
            print_escaped(v);
            putchar('\n');
        }
    }
    for (int i = 0; tensors && i < tl_checkpoint_tensor_count(cm.ck); i++) {
        tl_ckpt_tensor_info t;
        if (tl_checkpoint_tensor_info(cm.ck, i, &t))
            continue;
        fputs("  ", stdout);
        print_escaped(t.name);
        printf("%*s %s (", strlen(t.name) < 28 ? (int)(28 - strlen(t.name)) : 0, "", t.dtype);
        for (int d = 0; d < t.ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)t.shape[d]);
        printf(")\n");
    }
    cli_model_close(&cm);
    return 0;
}
