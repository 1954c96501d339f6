/* Status names and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static _Thread_local char last_error[512];

const char *tl_status_name(tl_status st)
{
    switch (st) {
    case TL_OK: return "TL_OK";
    case TL_ERR_ARG: return "TL_ERR_ARG";
    case TL_ERR_SHAPE: return "TL_ERR_SHAPE";
    case TL_ERR_RANGE: return "TL_ERR_RANGE";
    case TL_ERR_STATE: return "TL_ERR_STATE";
    case TL_ERR_NOMEM: return "TL_ERR_NOMEM";
    case TL_ERR_IO: return "TL_ERR_IO";
    case TL_ERR_FORMAT: return "TL_ERR_FORMAT";
    case TL_ERR_NUMERIC: return "TL_ERR_NUMERIC";
    }
    return "TL_ERR_UNKNOWN";
}

const char *tl_last_error(void) { return last_error; }

void tl_clear_error(void) { last_error[0] = '\0'; }

tl_status tl_fail(tl_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* Format into a copy first: callers may pass tl_last_error() as an
     * argument to prefix context to a callee's message. */
    char msg[sizeof last_error];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_error, msg, sizeof msg);
    va_end(ap);
    return st;
}

int tl_print_double(char *buf, size_t n, const char *prefix, double x)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", x);
    if (strtod(tmp, NULL) != x)
        snprintf(tmp, sizeof tmp, "%.17g", x);
    return snprintf(buf, n, "%s%s", prefix, tmp);
}
