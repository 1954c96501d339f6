/* timelayers: status codes and error messages.
 *
 * Every library function that can fail returns a tl_status. TL_OK is zero, so
 * `if (st) ...` reads naturally. When a function fails it also records a
 * human-readable message in thread-local storage, readable with
 * tl_last_error() from the same thread until the next failure on that thread.
 */
#ifndef TIMELAYERS_STATUS_H
#define TIMELAYERS_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_status {
    TL_OK = 0,
    TL_ERR_ARG,      /* invalid argument: NULL pointer, non-positive size, bad option */
    TL_ERR_SHAPE,    /* tensor shapes do not fit together */
    TL_ERR_RANGE,    /* a value (token id, index) lies outside its allowed range */
    TL_ERR_STATE,    /* call not valid in the object's current state */
    TL_ERR_NOMEM,    /* allocation failed or a size limit was exceeded */
    TL_ERR_IO,       /* the operating system reported an I/O error */
    TL_ERR_FORMAT,   /* malformed, truncated or unsupported file or text */
    TL_ERR_NUMERIC   /* NaN or infinity where a finite number is required */
} tl_status;

/* Short constant name of a status code, e.g. "TL_ERR_SHAPE". Never NULL. */
const char *tl_status_name(tl_status st);

/* The message of the most recent failure on the calling thread, or "" when
 * none has happened. The pointer stays valid until the next failure on the
 * same thread; copy it if you need it longer. */
const char *tl_last_error(void);

/* Forget the calling thread's last message. */
void tl_clear_error(void);

/* Record a printf-formatted message as the calling thread's last error and
 * return st, so that an error path reads `return tl_fail(TL_ERR_SHAPE, ...);`.
 * The library's own failures go through it; so can the code of a layer
 * defined outside the library (layer.h: tl_layer_register). */
tl_status tl_fail(tl_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
