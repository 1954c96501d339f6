/* Layer types by name: rebuilds a layer from its tl_layer_config (the
 * inverse of tl_layer_get_config), for checkpoints and model descriptions.
 * A built-in layer type is one row of `builtin`: its name, the fields its
 * description may carry, and the function that builds it. Types defined
 * outside the library join through tl_layer_register. */
#include <pthread.h>
#include <string.h>
#include "../internal.h"
#include "timelayers/affine.h"
#include "timelayers/rnn.h"
#include "timelayers/embedding.h"
#include "timelayers/softmax_loss.h"
#include "timelayers/lstm.h"
#include "timelayers/dropout.h"
#include "timelayers/gru.h"

static tl_status affine_from_config(tl_layer **out, const tl_layer_config *c,
                                    tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    tl_layer *tied;
    TL_TRY(tl_config_layer(c, "tied", built, nbuilt, &tied));
    if (!tied)
        return tl_time_affine_create(out, c->in_dim, c->out_dim, rng);
    TL_TRY(tl_time_affine_create_tied(out, tied));
    if ((*out)->in_width != c->in_dim || (*out)->out_width != c->out_dim) {
        tl_layer_destroy(*out);
        *out = NULL;
        return tl_fail(TL_ERR_ARG, "TimeAffine (%d, %d) tied to a TimeEmbedding of width %d "
                       "and vocabulary %d: the sizes differ", c->in_dim, c->out_dim,
                       tied->out_width, tl_layer_params(tied, NULL)[0].value.shape[0]);
    }
    return TL_OK;
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

/* TimeLSTM and TimeGRU: "stateful" and "rec_dropout". */
static tl_status gated_from_config(tl_layer **out, const tl_layer_config *c, tl_rng *rng,
                                   tl_status (*create)(tl_layer **, int, int, bool, tl_rng *),
                                   tl_status (*set_dropout)(tl_layer *, double))
{
    bool stateful;
    double rec_p;
    TL_TRY(tl_config_bool(c, "stateful", false, &stateful));
    TL_TRY(tl_config_real(c, "rec_dropout", 0, &rec_p));
    TL_TRY(create(out, c->in_dim, c->out_dim, stateful, rng));
    tl_status st = set_dropout(*out, rec_p);
    if (st) {
        tl_layer_destroy(*out);
        *out = NULL;
    }
    return st;
}

static tl_status lstm_from_config(tl_layer **out, const tl_layer_config *c,
                                  tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    return gated_from_config(out, c, rng, tl_time_lstm_create,
                             tl_time_lstm_set_recurrent_dropout);
}

static tl_status dropout_from_config(tl_layer **out, const tl_layer_config *c,
                                     tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    double p;
    bool locked;
    TL_TRY(tl_config_real(c, "p", 0, &p));
    TL_TRY(tl_config_bool(c, "locked", false, &locked));
    if (c->out_dim != c->in_dim)
        return tl_fail(TL_ERR_ARG, "TimeDropout: in_dim %d and out_dim %d differ", c->in_dim,
                       c->out_dim);
    return tl_time_dropout_create(out, c->in_dim, p,
                                  locked ? TL_DROPOUT_LOCKED : TL_DROPOUT_STANDARD);
}

static tl_status gru_from_config(tl_layer **out, const tl_layer_config *c,
                                 tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    return gated_from_config(out, c, rng, tl_time_gru_create, tl_time_gru_set_recurrent_dropout);
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const tl_layer_class builtin[] = {
    {"TimeAffine", FIELDS("tied"), affine_from_config},
    {"TimeRNN", FIELDS("stateful", "activation"), rnn_from_config},
    {"TimeEmbedding", NULL, embedding_from_config},
    {"TimeSoftmaxWithLoss", FIELDS("norm"), softmax_loss_from_config},
    {"TimeLSTM", FIELDS("stateful", "rec_dropout"), lstm_from_config},
    {"TimeGRU", FIELDS("stateful", "rec_dropout"), gru_from_config},
    {"TimeDropout", FIELDS("p", "locked"), dropout_from_config},
};

/* Entries are only ever appended: a pointer read under the lock stays valid. */
static struct {
    pthread_mutex_t lock;
    const tl_layer_class *types[TL_MAX_LAYER_CLASSES];
    int n;
} registered = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const tl_layer_class *find_builtin(const char *name, size_t max)
{
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (strncmp(name, builtin[i].name, max) == 0)
            return &builtin[i];
    return NULL;
}

/* Call with the lock held. */
static const tl_layer_class *find_registered(const char *name, size_t max)
{
    for (int i = 0; i < registered.n; i++)
        if (strncmp(name, registered.types[i]->name, max) == 0)
            return registered.types[i];
    return NULL;
}

tl_status tl_layer_register(const tl_layer_class *type)
{
    if (!type || !type->name || !type->create)
        return tl_fail(TL_ERR_ARG, "tl_layer_register: type, its name or its create is NULL");
    size_t len = strlen(type->name);
    if (len == 0 || len >= sizeof ((tl_layer_config *)0)->type)
        return tl_fail(TL_ERR_ARG, "tl_layer_register: the name '%s' must have 1 to %zu "
                       "characters", type->name, sizeof ((tl_layer_config *)0)->type - 1);
    if (find_builtin(type->name, len + 1))
        return tl_fail(TL_ERR_ARG, "tl_layer_register: '%s' is a built-in layer type",
                       type->name);
    tl_status st = TL_OK;
    pthread_mutex_lock(&registered.lock);
    if (find_registered(type->name, len + 1))
        st = tl_fail(TL_ERR_ARG, "tl_layer_register: '%s' is registered already", type->name);
    else if (registered.n == TL_MAX_LAYER_CLASSES)
        st = tl_fail(TL_ERR_ARG, "tl_layer_register: %d types are registered, the most there "
                     "can be ('%s' is not)", TL_MAX_LAYER_CLASSES, type->name);
    else
        registered.types[registered.n++] = type;
    pthread_mutex_unlock(&registered.lock);
    return st;
}

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
    const tl_layer_class *type = find_builtin(cfg->type, sizeof cfg->type);
    if (!type) {
        pthread_mutex_lock(&registered.lock);
        type = find_registered(cfg->type, sizeof cfg->type);
        pthread_mutex_unlock(&registered.lock);
    }
    if (!type)
        return tl_fail(TL_ERR_FORMAT, "unknown layer type '%.*s' (a type defined outside the "
                       "library must be registered first: tl_layer_register)",
                       (int)sizeof cfg->type, cfg->type);
    TL_TRY(tl_config_check_fields(cfg, type->fields));
    return type->create(out, cfg, built, nbuilt, rng);
}
