/* The memory a training run will need, estimated before anything large is
 * allocated, and what the machine allows: a run that cannot fit is refused
 * with the numbers instead of being killed by the kernel later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* A number of bytes from a file holding one ("max": none). */
static double read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    double v = -1;
    char buf[64];
    if (f && fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3) != 0)
        v = strtod(buf, NULL);
    if (f)
        fclose(f);
    return v;
}

static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

double cli_memory_limit(const char **source)
{
    struct rlimit rl;
    double best = -1, v;
    *source = NULL;
    /* The smallest of: the address-space limit (ulimit -v), the cgroup's
     * limit (v2, else v1; "max" and v1's huge default mean none), and the
     * memory the kernel says is available. */
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        best = (double)rl.rlim_cur, *source = "the address-space limit (ulimit -v)";
    if ((v = read_limit("/sys/fs/cgroup/memory.max")) < 0)
        v = read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    if (v > 0 && v < 1e18 && (best < 0 || v < best))
        best = v, *source = "the cgroup's memory limit";
    if ((v = mem_available()) > 0 && (best < 0 || v < best))
        best = v, *source = "the available memory (MemAvailable)";
    return best;
}
