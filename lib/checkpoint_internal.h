/* Writing a checkpoint file and checking its parameters, shared by the two
 * kinds the library saves:
 * language models (checkpoint.c, format "timelayers") and sequence-to-sequence
 * models (seq2seq.c, "timelayers-seq2seq"). Not installed. */
#ifndef TL_CHECKPOINT_INTERNAL_H
#define TL_CHECKPOINT_INTERNAL_H

#include <stdbool.h>
#include "timelayers/checkpoint.h"
#include "timelayers/model.h"

/* What tells one kind of file from the other. The library reserves four
 * metadata keys: "format", "format_version", "dtype" and model_key, whose
 * value is the JSON that rebuilds the model. */
typedef struct tl__ckpt_kind {
    const char *fn;          /* the public save function, named in messages */
    const char *format, *version;
    const char *model_key;   /* "architecture", "seq2seq" */
} tl__ckpt_kind;

/* The checks of a save's arguments every kind makes, before the model is
 * touched: TL_ERR_ARG for a NULL path or model (has_model false), a negative
 * count, a NULL array with a positive count, a reserved metadata key. */
tl_status tl__ckpt_check_save(const tl__ckpt_kind *k, const char *path, bool has_model,
                              const tl_ckpt_meta *meta, int nmeta, const tl_ckpt_tensor *extra,
                              int nextra);

/* Write path atomically (tl_st_write; dry: tl_st_write_check): the reserved
 * metadata with model_json, then meta; the np parameters' values under their
 * names, then the extra tensors (1-D). */
tl_status tl__ckpt_write(const tl__ckpt_kind *k, const char *path, const char *model_json,
                         const tl_named_param *params, int np, const tl_ckpt_meta *meta,
                         int nmeta, const tl_ckpt_tensor *extra, int nextra, bool dry);

/* Can the file's tensor of p's name fill parameter p (present, F32 or F64,
 * p's shape)? TL_ERR_FORMAT naming the file, the tensor and what differs. */
tl_status tl__ckpt_check_param(const tl_checkpoint *ck, const tl_named_param *p);

#endif
