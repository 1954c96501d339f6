/* Fuzz target: the CLI's number parsing (tools/cli/args.c). The first byte
 * picks the parser and its range, the rest is the argument text (up to the
 * first NUL). Checked properties: an accepted value lies in the range, and
 * it is what the text says - re-reading the accepted text with the C library
 * gives the same value, and no leading white space or sign slipped through
 * where the option wants a non-negative integer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "../../tools/cli/args.h"

/* The ranges the CLI's options use. */
static const long int_ranges[][2] = {{1, 1 << 16}, {0, 1 << 24}, {0, 1 << 30}, {1, 8},
                                     {1, 1024}};
static const double real_ranges[][2] = {{0, 0.9}, {1e-12, 1e6}, {1e-3, 1e3}, {0, 1e12}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    unsigned pick = data[0];
    int i;
    long l;
    uint64_t u;
    double d;
    switch (pick % 4) {
    case 0: {
        const long *r = int_ranges[(pick / 4) % 5];
        if (cli_parse_int("fuzz", s, r[0], r[1], &i))
            CHECK(i >= r[0] && i <= r[1] && i == strtol(s, NULL, 10));
        break;
    }
    case 1:
        if (cli_parse_long("fuzz", s, 1, 0x7fffffffffffffffL, &l))
            CHECK(l >= 1 && l == strtol(s, NULL, 10));
        break;
    case 2:
        if (cli_parse_u64("fuzz", s, &u))
            CHECK(s[0] >= '0' && s[0] <= '9' && !strchr(s, '-') &&
                  u == strtoull(s, NULL, 10));
        break;
    default: {
        const double *r = real_ranges[(pick / 4) % 4];
        if (cli_parse_double("fuzz", s, r[0], r[1], &d))
            CHECK(isfinite(d) && d >= r[0] && d <= r[1] && d == strtod(s, NULL));
        break;
    }
    }
    free(s);
    return 0;
}
