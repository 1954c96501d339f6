#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "args.h"

static bool bad(const char *opt, const char *s, const char *why)
{
    fprintf(stderr, "timelayers: --%s: '%s' %s\n", opt, s ? s : "", why);
    return false;
}

/* strto* skip leading white space, and strtoull then negates a '-': so
 * " -1" would be a seed of 2^64 - 1. The whole argument must be the number. */
static bool starts_with_space(const char *s)
{
    return isspace((unsigned char)*s);
}

bool cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    long v;
    if (!cli_parse_long(opt, s, lo, hi, &v))
        return false;
    *out = (int)v;
    return true;
}

bool cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return bad(opt, s, "is empty; expected an integer");
    if (starts_with_space(s))
        return bad(opt, s, "starts with white space; expected an integer");
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || end == s)
        return bad(opt, s, "is not an integer");
    if (errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "timelayers: --%s: %s is outside [%ld, %ld]\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return bad(opt, s, "is not a non-negative integer");
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s || errno == ERANGE)
        return bad(opt, s, "is not a 64-bit non-negative integer");
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !*s)
        return bad(opt, s, "is empty; expected a number");
    if (starts_with_space(s))
        return bad(opt, s, "starts with white space; expected a number");
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s)
        return bad(opt, s, "is not a number");
    if (!isfinite(v) || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "timelayers: --%s: %s is outside [%g, %g]\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}
