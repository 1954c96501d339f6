/* Options every timelayers program handles the same way (options.c). */
#ifndef TL_CLI_OPTIONS_H
#define TL_CLI_OPTIONS_H

/* Options every command has: --version. Its getopt value, and the handler
 * that prints "timelayers X.Y.Z" and returns exit status 0. */
#define CLI_OPT_VERSION 0x7001
#define CLI_VERSION_OPTION {"version", 0, 0, CLI_OPT_VERSION}
int cli_version(void);

/* Parse options with getopt_long(argc, argv, CLI_OPTSTRING, ...): opterr is
 * cleared (the commands print one message of their own) and ':' tells a
 * missing value from an unknown option. */
#define CLI_OPTSTRING ":h"

/* The one message for the option getopt_long just refused (c is '?' or ':'),
 * naming it; returns 2. */
int cli_bad_option(const char *cmd, int c, char **argv);

#endif
