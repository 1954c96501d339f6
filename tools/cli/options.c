/* What every timelayers program does with its options: --version, and one
 * message for an option it does not know or that lacks its value. */
#include <getopt.h>
#include <stdio.h>
#include "timelayers/version.h"
#include "options.h"

int cli_version(void)
{
    printf("timelayers %s\n", tl_version());
    return 0;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':')
        fprintf(stderr, "timelayers %s: option '%s' needs a value\n", cmd, arg);
    else if (optopt > 0 && optopt < 128)
        fprintf(stderr, "timelayers %s: unknown option '-%c'\n", cmd, optopt);
    else
        fprintf(stderr, "timelayers %s: unknown option '%s'\n", cmd, arg);
    fprintf(stderr, "Run 'timelayers %s --help' for usage.\n", cmd);
    return 2;
}
