/* timelayers: the version of the headers and of the library.
 *
 * Releases follow semantic versioning from 1.0 on; before it, a minor
 * version may change the API (CHANGELOG.md says how). The shared library's
 * soname changes with every release that breaks the ABI. */
#ifndef TIMELAYERS_VERSION_H
#define TIMELAYERS_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define TL_VERSION_MAJOR 0
#define TL_VERSION_MINOR 2
#define TL_VERSION_PATCH 0
#define TL_VERSION_STRING "0.2.0"

/* The version of the library linked at run time ("0.2.0"), which may differ
 * from TL_VERSION_STRING, the headers' version, when the shared library was
 * upgraded. */
const char *tl_version(void);

#ifdef __cplusplus
}
#endif
#endif
