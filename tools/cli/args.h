/* Strict parsing of command-line numbers for the timelayers CLI: the whole
 * string must be a number within [lo, hi]; anything else is an error with a
 * message naming the option. */
#ifndef TL_CLI_ARGS_H
#define TL_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Each returns false and prints "timelayers: --name: ..." to stderr on error. */
bool cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out);
bool cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_u64(const char *opt, const char *s, uint64_t *out);
bool cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);

#endif
