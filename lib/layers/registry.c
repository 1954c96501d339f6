/* Layer types by name: rebuilds a layer from its tl_layer_config (the
 * inverse of tl_layer_get_config), for checkpoints and model descriptions.
 * Adding a layer type means adding one row to `types`. */
#include <string.h>
#include "../internal.h"
#include "timelayers/affine.h"
#include "timelayers/rnn.h"
#include "timelayers/embedding.h"
#include "timelayers/softmax_loss.h"
#include "timelayers/lstm.h"
#include "timelayers/gru.h"

typedef tl_status (*from_config_fn)(tl_layer **out, const tl_layer_config *cfg, tl_rng *rng);

static tl_status affine_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_affine_create(out, c->in_dim, c->out_dim, rng);
}

static tl_status rnn_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_rnn_create(out, c->in_dim, c->out_dim, c->stateful, (tl_activation)c->variant,
                              rng);
}

static tl_status embedding_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_embedding_create(out, c->in_dim, c->out_dim, rng);
}

static tl_status softmax_loss_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_softmax_loss_create(out, c->in_dim, (tl_loss_norm)c->variant);
}

static tl_status lstm_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_lstm_create(out, c->in_dim, c->out_dim, c->stateful, rng);
}

static tl_status gru_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng)
{
    return tl_time_gru_create(out, c->in_dim, c->out_dim, c->stateful, rng);
}

static const struct {
    const char *type;
    from_config_fn create;
} types[] = {
    {"TimeAffine", affine_from_config},
    {"TimeRNN", rnn_from_config},
    {"TimeEmbedding", embedding_from_config},
    {"TimeSoftmaxWithLoss", softmax_loss_from_config},
    {"TimeLSTM", lstm_from_config},
    {"TimeGRU", gru_from_config},
};

tl_status tl_layer_create_from_config(tl_layer **out, const tl_layer_config *cfg, tl_rng *rng)
{
    if (!out || !cfg)
        return tl_fail(TL_ERR_ARG, "tl_layer_create_from_config: out or cfg is NULL");
    *out = NULL;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strncmp(cfg->type, types[i].type, sizeof cfg->type) == 0)
            return types[i].create(out, cfg, rng);
    return tl_fail(TL_ERR_FORMAT, "unknown layer type '%.*s'", (int)sizeof cfg->type, cfg->type);
}
