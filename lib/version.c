/* The library's version (include/timelayers/version.h). */
#include "timelayers/version.h"

const char *tl_version(void) { return TL_VERSION_STRING; }
