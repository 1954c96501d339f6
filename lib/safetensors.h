/* safetensors files: validating reader and atomic writer (internal).
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON (the header),
 * then the data section. The header maps each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end)} relative to the data
 * section, plus an optional "__metadata__" object of strings.
 * docs/checkpoint-format.md describes the format and the checks.
 */
#ifndef TL_SAFETENSORS_H
#define TL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/checkpoint.h"

/* Largest header accepted or written (the limit of the reference reader). */
#define TL_ST_MAX_HEADER ((uint64_t)100000000)

/* The dtypes of the format. Only F32 and F64 convert to and from tl_real;
 * the others are known so that any valid file can be opened and listed. */
typedef enum tl_st_dtype {
    TL_ST_F64, TL_ST_F32, TL_ST_F16, TL_ST_BF16, TL_ST_F8_E5M2, TL_ST_F8_E4M3,
    TL_ST_I64, TL_ST_I32, TL_ST_I16, TL_ST_I8, TL_ST_U64, TL_ST_U32, TL_ST_U16, TL_ST_U8,
    TL_ST_BOOL, TL_ST_NDTYPES
} tl_st_dtype;

const char *tl_st_dtype_name(tl_st_dtype dt);
size_t tl_st_dtype_size(tl_st_dtype dt);

/* Writes "(2, 3)" (or "(3,)", "()") into buf (at most n bytes); returns buf. */
char *tl_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* The dtype that holds tl_real exactly: F32, or F64 in the double build. */
#define TL_ST_REAL (sizeof(tl_real) == 8 ? TL_ST_F64 : TL_ST_F32)

/* ---- Writing ---- */

/* One tensor to write: `count` = product of shape values taken from data and
 * stored as dtype (TL_ST_F32 or TL_ST_F64, converted from tl_real). */
typedef struct tl_st_out {
    const char *name;
    tl_st_dtype dtype;
    int ndim;                 /* 0 .. TL_MAX_DIMS */
    int64_t shape[TL_MAX_DIMS];
    const tl_real *data;
} tl_st_out;

/* Write a file atomically: a temporary file in the same directory is written,
 * flushed, synced and closed, then renamed over path, and the directory is
 * synced. On failure the temporary is removed and an existing file at path is
 * untouched. Tensors are stored in the order given, the header is padded with
 * spaces so the data section starts at a multiple of 8. A new file gets mode
 * 0666 less the umask, like any new file; a replaced file keeps its mode.
 * Only a regular, writable file is replaced (TL_ERR_IO otherwise: a device,
 * a FIFO, a read-only file, for root a file without write permission bits).
 * Errors: TL_ERR_ARG for empty, duplicate, reserved ("__metadata__") or
 * non-UTF-8 names and keys and for unsupported dtypes; TL_ERR_IO with the
 * operating system's reason; TL_ERR_NOMEM. */
tl_status tl_st_write(const char *path, const tl_ckpt_meta *meta, int nmeta,
                      const tl_st_out *tensors, int ntensors);

/* What tl_st_write does up to the rename, with the temporary's size reserved
 * (posix_fallocate) instead of written; the temporary is then removed and path
 * is not touched.
 * Proves before long work that a save will succeed (directory, permissions,
 * header size, room for one copy). */
tl_status tl_st_write_check(const char *path, const tl_ckpt_meta *meta, int nmeta,
                            const tl_st_out *tensors, int ntensors);

/* Fault injection for tests. When set, hook(step, written) is called before
 * each I/O step of tl_st_write: step is "write" (written = bytes written so
 * far), "flush", "fsync", "close", "rename" or "fsync-dir"; a non-zero return
 * makes the step fail as if the system had returned EIO. NULL removes the
 * hook. Not thread-safe; tests only. */
typedef int (*tl__write_hook_fn)(const char *step, size_t written);
void tl__set_write_hook(tl__write_hook_fn hook);

/* ---- Reading ---- */

typedef struct tl_st_tensor {
    const char *name;
    tl_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    size_t count;             /* product of the shape */
    size_t begin, end;        /* byte range in the data section */
} tl_st_tensor;

typedef struct tl_st_file {
    char *path;
    struct cJSON *json;       /* the parsed header; names and values point into it */
    unsigned char *data;      /* the data section */
    size_t data_size;
    tl_st_tensor *tensors;    /* in data order */
    int ntensors;
    tl_st_tensor **byname;    /* sorted by name */
    tl_ckpt_meta *meta;       /* sorted by key */
    int nmeta;
    int64_t *dims;            /* storage of every shape */
} tl_st_file;

/* Read and validate a whole file into f (see the format document for the
 * checks). Every violation is TL_ERR_FORMAT with a message naming the file,
 * the tensor and the problem; TL_ERR_IO when the file cannot be read;
 * TL_ERR_NOMEM. Sizes are checked against the file before anything of that
 * size is allocated. On failure f is left empty. */
tl_status tl_st_read(const char *path, tl_st_file *f);

void tl_st_free(tl_st_file *f);

/* The tensor called name, or NULL. */
const tl_st_tensor *tl_st_find(const tl_st_file *f, const char *name);

/* The metadata value of key, or NULL. */
const char *tl_st_meta(const tl_st_file *f, const char *key);

/* Convert t (F32 or F64) to tl_real into dst (t->count elements).
 * TL_ERR_FORMAT for other dtypes. */
tl_status tl_st_to_real(const tl_st_file *f, const tl_st_tensor *t, tl_real *dst);

#endif
