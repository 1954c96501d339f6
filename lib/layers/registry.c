/* Layer types by name: rebuilds a layer from its tl_layer_config (the
 * inverse of tl_layer_get_config), for checkpoints and model descriptions.
 * Adding a layer type means adding one row to `types`: its name, the fields
 * its description may carry, and the function that builds it. */
#include <string.h>
#include "../internal.h"
#include "timelayers/affine.h"
#include "timelayers/rnn.h"
#include "timelayers/embedding.h"
#include "timelayers/softmax_loss.h"
#include "timelayers/lstm.h"

/* Build a layer from c; built[0 .. nbuilt-1] are the model's earlier layers. */
typedef tl_status (*from_config_fn)(tl_layer **out, const tl_layer_config *c,
                                    tl_layer *const *built, int nbuilt, tl_rng *rng);

static tl_status affine_from_config(tl_layer **out, const tl_layer_config *c,
                                    tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    return tl_time_affine_create(out, c->in_dim, c->out_dim, rng);
}

static tl_status rnn_from_config(tl_layer **out, const tl_layer_config *c,
                                 tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    bool stateful;
    int act;
    TL_TRY(tl_config_bool(c, "stateful", false, &stateful));
    TL_TRY(tl_config_int(c, "activation", TL_ACT_TANH, &act));
    return tl_time_rnn_create(out, c->in_dim, c->out_dim, stateful, (tl_activation)act, rng);
}

static tl_status embedding_from_config(tl_layer **out, const tl_layer_config *c,
                                       tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    return tl_time_embedding_create(out, c->in_dim, c->out_dim, rng);
}

static tl_status softmax_loss_from_config(tl_layer **out, const tl_layer_config *c,
                                          tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    int norm;
    TL_TRY(tl_config_int(c, "norm", TL_LOSS_MEAN, &norm));
    return tl_time_softmax_loss_create(out, c->in_dim, (tl_loss_norm)norm);
}

static tl_status lstm_from_config(tl_layer **out, const tl_layer_config *c,
                                  tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    bool stateful;
    TL_TRY(tl_config_bool(c, "stateful", false, &stateful));
    return tl_time_lstm_create(out, c->in_dim, c->out_dim, stateful, rng);
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct {
    const char *type;
    const char *const *fields;   /* the names its description may carry, NULL-terminated */
    from_config_fn create;
} types[] = {
    {"TimeAffine", FIELDS(NULL), affine_from_config},
    {"TimeRNN", FIELDS("stateful", "activation"), rnn_from_config},
    {"TimeEmbedding", FIELDS(NULL), embedding_from_config},
    {"TimeSoftmaxWithLoss", FIELDS("norm"), softmax_loss_from_config},
    {"TimeLSTM", FIELDS("stateful"), lstm_from_config},
};

tl_status tl_layer_create_from_config(tl_layer **out, const tl_layer_config *cfg,
                                      tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    if (!out || !cfg || nbuilt < 0 || (nbuilt && !built))
        return tl_fail(TL_ERR_ARG, "tl_layer_create_from_config: out or cfg is NULL, or the "
                                   "built layers are missing");
    *out = NULL;
    if (cfg->nfields < 0 || cfg->nfields > TL_CONFIG_MAX_FIELDS)
        return tl_fail(TL_ERR_ARG, "tl_layer_create_from_config: %d fields (at most %d)",
                       cfg->nfields, TL_CONFIG_MAX_FIELDS);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strncmp(cfg->type, types[i].type, sizeof cfg->type) == 0) {
            TL_TRY(tl_config_check_fields(cfg, types[i].fields));
            return types[i].create(out, cfg, built, nbuilt, rng);
        }
    return tl_fail(TL_ERR_FORMAT, "unknown layer type '%.*s'", (int)sizeof cfg->type, cfg->type);
}
