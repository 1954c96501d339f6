/* The memory a training run will need, estimated before anything large is
 * allocated, against what the machine allows (memlimit.c): a run that cannot
 * fit is refused with the numbers instead of being killed by the kernel
 * later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Per layer: parameters, and reals kept per token of a batch between the
 * forward and the backward pass (outputs, gates, saved inputs, gradients).
 * The factors follow the layers' buffers (lib/layers/); an estimate, not a
 * bound: small buffers and the allocator's overhead are left out. */
static void layer_cost(const tl_layer_config *c, double *params, double *per_token)
{
    double in = c->in_dim, out = c->out_dim;
    *params = 0;
    *per_token = 0;
    if (!strcmp(c->type, "TimeEmbedding")) {
        *params = in * out;
        *per_token = out;
    } else if (!strcmp(c->type, "TimeLSTM")) {
        *params = 4 * out * (in + out + 1);
        *per_token = 12 * out + in;     /* y, c, gates, dA (4H each), h_prev, dx */
    } else if (!strcmp(c->type, "TimeGRU")) {
        *params = 3 * out * (in + out + 1) + out;   /* + bhn */
        *per_token = 10 * out + in;
    } else if (!strcmp(c->type, "TimeRNN")) {
        *params = out * (in + out + 1);
        *per_token = 4 * out + in;      /* y, dT, h_prev, dx */
    } else if (!strcmp(c->type, "TimeAffine")) {
        /* Tied: the table is the embedding's, counted there. */
        *params = (tl_config_find(c, "tied") ? 0 : in * out) + out;
        *per_token = out + in;
    } else if (!strcmp(c->type, "TimeDropout")) {
        bool locked = false;
        tl_config_bool(c, "locked", false, &locked);
        *per_token = (locked ? 2 : 3) * out;   /* y, dx, the mask (locked: one per row) */
    } else {                             /* the loss's gradient, other layers' outputs */
        *per_token = out > in ? out : in;
    }
}

double cli_train_memory(const tl_layer_config *layers, int n, int optim_states, int batch,
                        int time, size_t tokens, double *param_bytes)
{
    double params = 0, per_token = 0, p, a;
    for (int i = 0; i < n; i++) {
        layer_cost(&layers[i], &p, &a);
        params += p;
        per_token += a;
    }
    /* Values, gradients and the optimizer's buffers; the activations of one
     * batch; the token ids of the corpora. */
    *param_bytes = params * (2 + optim_states) * sizeof(tl_real);
    return *param_bytes + per_token * batch * time * sizeof(tl_real) + 4.0 * (double)tokens;
}

int cli_check_memory(double need, double param_bytes, bool print, const char *hint)
{
    const char *source;
    double limit = cli_memory_limit(&source);
    if (print) {
        printf("memory: about %.1f MB (parameters with gradients and optimizer state %.1f MB, "
               "batch activations and data %.1f MB); ", need / 1e6, param_bytes / 1e6,
               (need - param_bytes) / 1e6);
        if (limit > 0)
            printf("limit %.1f MB, %s\n", limit / 1e6, source);
        else
            printf("no limit found\n");
    }
    if (limit > 0 && need > limit) {
        fprintf(stderr, "timelayers: memory: about %.0f MB needed, more than the %.0f MB %s "
                "allows; use %s\n", need / 1e6, limit / 1e6, source, hint);
        return 1;
    }
    return 0;
}
