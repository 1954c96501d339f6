/* timelayers: checkpoints in the safetensors format.
 *
 * A checkpoint holds a model's parameter values ("layers.<i>.<name>", as
 * tl_model_param names them), any number of extra flat tensors (optimizer
 * state such as "optim.v"), and string metadata: the library's own keys
 * ("format", "format_version", "dtype", "architecture") and the caller's
 * (a vocabulary as a JSON array, "train.epoch", ...). "architecture" lists
 * every layer's tl_layer_config, so a model can be rebuilt from the file
 * alone. Any safetensors reader (Python's json + struct is enough) reads the
 * files; docs/checkpoint-format.md describes the layout and the names.
 *
 * Saving is atomic: the old file stays intact unless the new one was written
 * completely. Opening reads and validates the whole file; the tl_checkpoint
 * then answers queries without further I/O.
 */
#ifndef TIMELAYERS_CHECKPOINT_H
#define TIMELAYERS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One metadata entry. Keys and values are UTF-8 strings. */
typedef struct tl_ckpt_meta {
    const char *key;
    const char *value;
} tl_ckpt_meta;

/* One extra tensor to save: n values, stored as a 1-D tensor of shape (n). */
typedef struct tl_ckpt_tensor {
    const char *name;
    const tl_real *data;
    size_t n;
} tl_ckpt_tensor;

/* Save m's parameter values (not gradients), the metadata and the extra
 * tensors to path, as F32 (F64 in the double build). The library adds the
 * metadata "format" = "timelayers", "format_version" = "1", "dtype" and
 * "architecture" (a JSON array of the layers' configs, the loss layer last).
 *
 * The file is written to a temporary next to path, synced, and renamed over
 * path; on any failure the temporary is removed and a previous file at path
 * is left byte for byte as it was. Only a regular file the user may write
 * is replaced (a device, FIFO or read-only file at path: TL_ERR_IO).
 * Errors: TL_ERR_ARG for NULL arguments, negative counts, a reserved or
 * duplicate metadata key, an extra tensor whose name is empty, duplicate or
 * starts with "layers."; TL_ERR_STATE when a layer has no config; TL_ERR_IO
 * with the system's reason; TL_ERR_NOMEM. */
tl_status tl_checkpoint_save(const char *path, tl_model *m, const tl_ckpt_meta *meta, int nmeta,
                             const tl_ckpt_tensor *extra, int nextra);

/* What tl_checkpoint_save does except writing and replacing path: the
 * temporary is created with the file's size reserved, then removed. Run it before long work
 * to learn at once whether the save at its end can succeed (the directory
 * exists and is writable, path is a regular writable file or absent, the
 * header is within its limit, the disk holds one copy). */
tl_status tl_checkpoint_save_check(const char *path, tl_model *m, const tl_ckpt_meta *meta,
                                   int nmeta, const tl_ckpt_tensor *extra, int nextra);

typedef struct tl_checkpoint tl_checkpoint;

/* Read and validate the safetensors file at path (any valid safetensors file,
 * not only ours). The caller owns *out (tl_checkpoint_close).
 * Errors: TL_ERR_IO when the file cannot be read; TL_ERR_FORMAT for anything
 * malformed (truncation, a header that is not a JSON object, unknown dtypes,
 * bad shapes, offsets out of range, overlapping or leaving gaps, duplicate
 * names, non-string metadata), with a message naming the file, the tensor
 * and the problem; TL_ERR_NOMEM. Sizes are checked against the file before
 * anything of that size is allocated. */
tl_status tl_checkpoint_open(const char *path, tl_checkpoint **out);

/* Free the checkpoint. NULL is a no-op. */
void tl_checkpoint_close(tl_checkpoint *ck);

/* Build the model described by "architecture" and load its parameters.
 * Recurrent layers start with a zero state. The caller owns *out.
 * Errors: TL_ERR_FORMAT when "format" is not "timelayers" version 1, when
 * "architecture" is missing or malformed, names an unknown layer type or
 * invalid sizes, or when the tensors do not fit it (as tl_checkpoint_load_into);
 * TL_ERR_NOMEM. */
tl_status tl_checkpoint_model(const tl_checkpoint *ck, tl_model **out);

/* Load parameter values into an existing model of the same shape. F32 and F64
 * tensors are converted to tl_real. Every model parameter must be present
 * with exactly its shape, and every "layers.*" tensor of the file must be a
 * parameter of the model; only names and shapes are compared (not the layer
 * configs). Nothing is changed unless every check passes.
 * Errors: TL_ERR_FORMAT naming the first tensor that is missing, has another
 * shape or a non-float dtype, or is unknown; TL_ERR_ARG for NULL arguments. */
tl_status tl_checkpoint_load_into(const tl_checkpoint *ck, tl_model *m);

/* The metadata value of key, or NULL when absent. Valid until close. */
const char *tl_checkpoint_meta(const tl_checkpoint *ck, const char *key);

/* Metadata entries, sorted by key: count, and the i-th key and value. */
int tl_checkpoint_meta_count(const tl_checkpoint *ck);
tl_status tl_checkpoint_meta_at(const tl_checkpoint *ck, int i, const char **key,
                                const char **value);

/* Copy the tensor called name (any shape, row-major) into dst as tl_real.
 * Errors: TL_ERR_ARG for NULL arguments or an absent tensor; TL_ERR_SHAPE
 * unless n equals its element count; TL_ERR_FORMAT unless it is F32 or F64. */
tl_status tl_checkpoint_tensor(const tl_checkpoint *ck, const char *name, tl_real *dst, size_t n);

/* Description of one tensor. Pointers are valid until close. */
typedef struct tl_ckpt_tensor_info {
    const char *name;
    const char *dtype;       /* "F32", "F64", "I64", ... */
    int ndim;
    const int64_t *shape;    /* ndim entries */
    size_t count;            /* number of elements */
    size_t nbytes;
} tl_ckpt_tensor_info;

/* Tensors in file order: their number, the index of a name (-1 when absent),
 * and the i-th one's description (TL_ERR_RANGE outside [0, count)). */
int tl_checkpoint_tensor_count(const tl_checkpoint *ck);
int tl_checkpoint_find(const tl_checkpoint *ck, const char *name);
tl_status tl_checkpoint_tensor_info(const tl_checkpoint *ck, int i, tl_ckpt_tensor_info *info);

#ifdef __cplusplus
}
#endif
#endif
