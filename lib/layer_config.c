/* Layer descriptions: named fields (layer_config.h). */
#include <string.h>
#include "internal.h"
#include "timelayers/layer.h"

static tl_status add(tl_layer_config *c, const char *name, tl_config_field f)
{
    if (!c || !name || !*name || strlen(name) >= TL_CONFIG_NAME_MAX)
        return tl_fail(TL_ERR_ARG, "layer config: field name missing or longer than %d bytes",
                       TL_CONFIG_NAME_MAX - 1);
    if (!strcmp(name, "type") || !strcmp(name, "in_dim") || !strcmp(name, "out_dim"))
        return tl_fail(TL_ERR_ARG, "layer config: '%s' is not a field name (it is a member)",
                       name);
    strcpy(f.name, name);
    for (int k = 0; k < c->nfields; k++)
        if (strcmp(c->fields[k].name, name) == 0) {
            c->fields[k] = f;
            return TL_OK;
        }
    if (c->nfields < 0 || c->nfields >= TL_CONFIG_MAX_FIELDS)
        return tl_fail(TL_ERR_ARG, "layer config %.32s: more than %d fields", c->type,
                       TL_CONFIG_MAX_FIELDS);
    c->fields[c->nfields++] = f;
    return TL_OK;
}

tl_status tl_config_set_int(tl_layer_config *c, const char *name, int v)
{
    return add(c, name, (tl_config_field){.kind = TL_FIELD_INT, .i = v});
}

tl_status tl_config_set_real(tl_layer_config *c, const char *name, double v)
{
    return add(c, name, (tl_config_field){.kind = TL_FIELD_REAL, .r = v});
}

tl_status tl_config_set_bool(tl_layer_config *c, const char *name, bool v)
{
    return add(c, name, (tl_config_field){.kind = TL_FIELD_BOOL, .b = v});
}

tl_status tl_config_set_layer(tl_layer_config *c, const char *name, const tl_layer *l)
{
    if (!l)
        return tl_fail(TL_ERR_ARG, "layer config: field '%s' refers to no layer",
                       name ? name : "");
    return add(c, name, (tl_config_field){.kind = TL_FIELD_LAYER, .i = -1, .layer = l});
}

tl_status tl_config_set_layer_index(tl_layer_config *c, const char *name, int index)
{
    return add(c, name, (tl_config_field){.kind = TL_FIELD_LAYER, .i = index});
}

const tl_config_field *tl_config_find(const tl_layer_config *c, const char *name)
{
    for (int k = 0; c && name && k < c->nfields && k < TL_CONFIG_MAX_FIELDS; k++)
        if (strncmp(c->fields[k].name, name, TL_CONFIG_NAME_MAX) == 0)
            return &c->fields[k];
    return NULL;
}

static const char *kind_name(tl_field_kind k)
{
    switch (k) {
    case TL_FIELD_INT: return "an integer";
    case TL_FIELD_REAL: return "a real number";
    case TL_FIELD_BOOL: return "a boolean";
    case TL_FIELD_LAYER: return "a layer reference";
    }
    return "of an unknown kind";
}

/* The field, checked to be of kind `want` (INT also passes for REAL). */
static tl_status lookup(const tl_layer_config *c, const char *name, tl_field_kind want,
                        const tl_config_field **f)
{
    if (!c || !name)
        return tl_fail(TL_ERR_ARG, "layer config: NULL argument");
    *f = tl_config_find(c, name);
    if (*f && (*f)->kind != want && !(want == TL_FIELD_REAL && (*f)->kind == TL_FIELD_INT))
        return tl_fail(TL_ERR_FORMAT, "%.32s: field '%s' must be %s, not %s", c->type, name,
                       kind_name(want), kind_name((*f)->kind));
    return TL_OK;
}

tl_status tl_config_int(const tl_layer_config *c, const char *name, int def, int *out)
{
    const tl_config_field *f = NULL;
    TL_TRY(lookup(c, name, TL_FIELD_INT, &f));
    *out = f ? f->i : def;
    return TL_OK;
}

tl_status tl_config_real(const tl_layer_config *c, const char *name, double def, double *out)
{
    const tl_config_field *f = NULL;
    TL_TRY(lookup(c, name, TL_FIELD_REAL, &f));
    *out = !f ? def : f->kind == TL_FIELD_INT ? f->i : f->r;
    return TL_OK;
}

tl_status tl_config_bool(const tl_layer_config *c, const char *name, bool def, bool *out)
{
    const tl_config_field *f = NULL;
    TL_TRY(lookup(c, name, TL_FIELD_BOOL, &f));
    *out = f ? f->b : def;
    return TL_OK;
}

tl_status tl_config_layer(const tl_layer_config *c, const char *name, tl_layer *const *built,
                          int nbuilt, tl_layer **out)
{
    const tl_config_field *f = NULL;
    TL_TRY(lookup(c, name, TL_FIELD_LAYER, &f));
    *out = NULL;
    if (!f)
        return TL_OK;
    if (f->i < 0 || f->i >= nbuilt || !built)
        return tl_fail(TL_ERR_FORMAT, "%.32s: field '%s' refers to layer %d, but only layers "
                       "0 .. %d come before it", c->type, name, f->i, nbuilt - 1);
    *out = built[f->i];
    return TL_OK;
}

tl_status tl_config_check_fields(const tl_layer_config *c, const char *const *known)
{
    for (int k = 0; k < c->nfields; k++) {
        bool ok = false;
        for (int j = 0; known && known[j] && !ok; j++)
            ok = strcmp(c->fields[k].name, known[j]) == 0;
        if (!ok)
            return tl_fail(TL_ERR_FORMAT, "%.32s has no field '%.32s' (a description from a "
                           "newer version?)", c->type, c->fields[k].name);
    }
    return TL_OK;
}

static bool same_field(const tl_config_field *a, const tl_config_field *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case TL_FIELD_INT: return a->i == b->i;
    case TL_FIELD_REAL: return a->r == b->r;
    case TL_FIELD_BOOL: return a->b == b->b;
    case TL_FIELD_LAYER: return a->i >= 0 && b->i >= 0 ? a->i == b->i : a->layer == b->layer;
    }
    return false;
}

bool tl_config_equal(const tl_layer_config *a, const tl_layer_config *b)
{
    if (!a || !b || strncmp(a->type, b->type, sizeof a->type) != 0 || a->in_dim != b->in_dim ||
        a->out_dim != b->out_dim || a->nfields != b->nfields)
        return false;
    for (int k = 0; k < a->nfields && k < TL_CONFIG_MAX_FIELDS; k++) {
        const tl_config_field *f = tl_config_find(b, a->fields[k].name);
        if (!f || !same_field(&a->fields[k], f))
            return false;
    }
    return true;
}
