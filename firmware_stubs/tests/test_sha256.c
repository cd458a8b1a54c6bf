/* SHA-256 against FIPS 180-4 examples, HMAC-SHA256 against RFC 4231. */
#include "../sha256.h"
#include "check.h"

static void check_sha(const char *text, size_t repeat, const char *hex)
{
    uint8_t digest[32];
    sha256_ctx c;
    sha256_init(&c);
    for (size_t i = 0; i < repeat; i++)
        sha256_update(&c, (const uint8_t *)text, strlen(text));
    sha256_final(&c, digest);
    CHECK_BYTES(digest, 32, hex);
}

static void check_hmac(const uint8_t *key, size_t key_len, const char *data, const char *hex)
{
    uint8_t mac[32];
    hmac_sha256(key, key_len, (const uint8_t *)data, strlen(data), mac);
    CHECK_BYTES(mac, 32, hex);
}

int main(void)
{
    uint8_t key[131];
    check_sha("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_sha("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    memset(key, 0x0b, 20);
    check_hmac(key, 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131);
    check_hmac(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    return check_summary("test_sha256");
}
