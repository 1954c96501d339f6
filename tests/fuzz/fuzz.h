/* Shared by the fuzz targets (libFuzzer entry points) and by replay.c, which
 * runs the same entry point on files so that the seed corpora and every input
 * that once crashed are replayed by the ordinary test suite. */
#ifndef TL_FUZZ_H
#define TL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The loaders take a path: put the input in an anonymous in-memory file and
 * return a path naming it ("/proc/self/fd/N"), valid until the next call.
 * Aborts when the file cannot be made (a broken harness, not a finding). */
const char *fuzz_as_file(const uint8_t *data, size_t size);

/* The same for "header JSON, NUL, data section" (without a NUL, all of it
 * is the header): a safetensors file with the 8-byte header length written
 * by the harness, so that mutations inserting or erasing header bytes keep
 * the file readable and edits of the metadata reach the code reading it. */
const char *fuzz_header_as_file(const uint8_t *data, size_t size);

/* A directory of this process's own for the files a target writes: made on
 * the first call under /dev/shm (a tmpfs, so fuzzing does not touch the
 * disk) or else /tmp, and removed with its files when the process exits. */
const char *fuzz_private_dir(void);

/* A property of the target: abort (a finding) when it does not hold. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: %s fails\n", __FILE__, __LINE__, #cond); \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* A failure of the library must explain itself: abort on a status without a
 * message (tl_last_error; for targets that include timelayers.h). */
#define CHECK_MESSAGE(expr)                                                         \
    do {                                                                            \
        tl_status check_st_ = (expr);                                               \
        if (check_st_ && !*tl_last_error()) {                                       \
            fprintf(stderr, "status %s without a message\n", tl_status_name(check_st_)); \
            abort();                                                                \
        }                                                                           \
    } while (0)

#endif
