/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), portable C11, no malloc.
 * Checked against the FIPS and RFC 4231 vectors in tests/test_sha256.c. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64

typedef struct {
    uint32_t state[8];
    uint64_t length;           /* bytes hashed so far */
    uint8_t block[SHA256_BLOCK_LEN];
    size_t fill;               /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const uint8_t *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t digest[SHA256_DIGEST_LEN]);
void sha256(const uint8_t *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);
void hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                 uint8_t mac[SHA256_DIGEST_LEN]);

#endif
