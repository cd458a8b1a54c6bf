/* Minimal test harness: CHECK records a failure and goes on; main returns
 * check_summary(), non-zero when anything failed. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* Parses a hex string into out; returns the byte count. */
static size_t from_hex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (unsigned char)v;
    }
    return n;
}

#define CHECK_BYTES(got, got_len, hex)                                               \
    do {                                                                             \
        unsigned char want_[8192];                                                   \
        size_t want_len_ = from_hex(hex, want_);                                     \
        CHECK((got_len) == want_len_ && memcmp((got), want_, want_len_) == 0);        \
    } while (0)

static int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_count - check_failures, check_failures);
    return check_failures != 0;
}

#endif
