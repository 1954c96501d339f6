/* timelayers: layer descriptions (tl_layer_config).
 *
 * A description holds everything needed to create a layer again: its type,
 * its two widths, and a list of named fields for the rest (integers, reals,
 * booleans, and references to earlier layers of the same model, as a tied
 * output layer needs). Checkpoints store descriptions (docs/checkpoint-format.md)
 * and tl_layer_create_from_config turns one back into a layer.
 *
 * Fields per type:
 *   TimeEmbedding        in_dim = vocabulary, out_dim = width
 *   TimeRNN              stateful (bool), activation (int, tl_activation)
 *   TimeLSTM             stateful (bool), rec_dropout (real, absent = 0)
 *   TimeGRU              stateful (bool), rec_dropout (real, absent = 0)
 *   TimeAffine           tied (layer: the TimeEmbedding whose table it uses transposed)
 *   TimeDropout          p (real), locked (bool)
 *   TimeSoftmaxWithLoss  in_dim = vocabulary or 0, norm (int, tl_loss_norm)
 */
#ifndef TIMELAYERS_LAYER_CONFIG_H
#define TIMELAYERS_LAYER_CONFIG_H

#include <stdbool.h>
#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tl_layer;

enum { TL_CONFIG_MAX_FIELDS = 16, TL_CONFIG_NAME_MAX = 32 };

typedef enum tl_field_kind {
    TL_FIELD_INT = 1,
    TL_FIELD_REAL,
    TL_FIELD_BOOL,
    TL_FIELD_LAYER,   /* an earlier layer of the same model */
} tl_field_kind;

typedef struct tl_config_field {
    char name[TL_CONFIG_NAME_MAX];
    tl_field_kind kind;
    int i;                        /* INT value; LAYER: the layer's index in its model, -1 unknown */
    double r;                     /* REAL value */
    bool b;                       /* BOOL value */
    const struct tl_layer *layer; /* LAYER: the layer itself when known (tl_layer_get_config) */
} tl_config_field;

typedef struct tl_layer_config {
    char type[32];    /* the ops table's type name */
    int in_dim, out_dim;
    int nfields;
    tl_config_field fields[TL_CONFIG_MAX_FIELDS];
} tl_layer_config;

/* Add a field (names are unique; setting an existing name replaces it).
 * TL_ERR_ARG for a NULL argument, an empty or too long name, or a full list. */
tl_status tl_config_set_int(tl_layer_config *c, const char *name, int v);
tl_status tl_config_set_real(tl_layer_config *c, const char *name, double v);
tl_status tl_config_set_bool(tl_layer_config *c, const char *name, bool v);
/* A reference by layer (from a layer's config entry; the model turns it into
 * an index) or by index (from a file). */
tl_status tl_config_set_layer(tl_layer_config *c, const char *name, const struct tl_layer *l);
tl_status tl_config_set_layer_index(tl_layer_config *c, const char *name, int index);

/* The field called name, or NULL. */
const tl_config_field *tl_config_find(const tl_layer_config *c, const char *name);

/* Read a field; an absent field gives def. A field of another kind is
 * TL_ERR_FORMAT naming the type and the field (an integer field reads as a
 * real: files do not tell 1 from 1.0). */
tl_status tl_config_int(const tl_layer_config *c, const char *name, int def, int *out);
tl_status tl_config_real(const tl_layer_config *c, const char *name, double def, double *out);
tl_status tl_config_bool(const tl_layer_config *c, const char *name, bool def, bool *out);
/* The layer a LAYER field refers to, among the nbuilt layers built so far
 * (built[0 .. nbuilt-1], the model's layers in order); *out is NULL when the
 * field is absent. TL_ERR_FORMAT when the index is not one of them. */
tl_status tl_config_layer(const tl_layer_config *c, const char *name,
                          struct tl_layer *const *built, int nbuilt, struct tl_layer **out);

/* Same type, widths and fields (in any order; references compare as
 * indices when both are resolved, else as layers). */
bool tl_config_equal(const tl_layer_config *a, const tl_layer_config *b);

/* TL_ERR_FORMAT naming the first field of c not in the NULL-terminated list
 * `known` (a description from a newer library, or a corrupted one). */
tl_status tl_config_check_fields(const tl_layer_config *c, const char *const *known);

#ifdef __cplusplus
}
#endif
#endif
