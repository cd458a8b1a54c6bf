/* Protocol core: ICD section 10 golden vectors, COBS, deframer resync and counters,
 * strict TM parsing. */
#include "../link_core.h"
#include "check.h"

static uint8_t packet[LINK_MAX_PACKET + 64], frame_buf[2 * LINK_MAX_PACKET], out[LINK_MAX_PACKET];

static void test_crcs(void)
{
    CHECK(link_crc16((const uint8_t *)"123456789", 9) == 0x29B1);
    CHECK(link_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u);
    CHECK(link_crc32(link_crc32(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5) == 0xCBF43926u);
}

static void test_golden_ping(void)
{
    link_tc tc = {0x0A0, 1, 0x0042, 17, 1, 0xF};
    size_t n = link_build_tc(&tc, NULL, 0, NULL, packet, sizeof packet);
    CHECK_BYTES(packet, n, "18a0c00100062f110100428b34");
    n = link_frame(packet, n, frame_buf, sizeof frame_buf);
    CHECK_BYTES(frame_buf, n, "0518a0c00105062f110104428b3400");
}

static void test_golden_alive(void)
{
    link_tm tm = {0x0A0, 5, 3, 0x0042, 17, 2, {0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a}, NULL, 0};
    link_tm parsed;
    size_t n = link_build_tm(&tm, packet, sizeof packet);
    CHECK_BYTES(packet, n, "08a0c005000f201102000300424000010000000a7ff6");
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_OK);
    CHECK(parsed.apid == 0x0A0 && parsed.seq_count == 5 && parsed.message_counter == 3);
    CHECK(parsed.destination_id == 0x42 && parsed.service == 17 && parsed.subtype == 2);
    CHECK(parsed.data_len == 0 && memcmp(parsed.timestamp, tm.timestamp, 7) == 0);
}

static void test_golden_authenticated(void)
{
    uint8_t key[32];
    link_tc tc = {0x0A0, 2, 0x0042, 17, 1, 0xF};
    link_auth auth = {key, sizeof key, 7};
    size_t n;
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    n = link_build_tc(&tc, NULL, 0, &auth, packet, sizeof packet);
    CHECK_BYTES(packet, n, "18a0c002001e2f1101004200000000000000079ad337b3e10c997994061c15fe1a380fcdfe");
}

static void roundtrip(const uint8_t *data, size_t len, const char *expected_hex)
{
    size_t n = link_cobs_encode(data, len, frame_buf, sizeof frame_buf), m = 0;
    if (expected_hex)
        CHECK_BYTES(frame_buf, n, expected_hex);
    CHECK(memchr(frame_buf, 0, n) == NULL);
    CHECK(link_cobs_decode(frame_buf, n, out, sizeof out, &m) == LINK_OK);
    CHECK(m == len && (len == 0 || memcmp(out, data, len) == 0));
}

static void test_cobs(void)
{
    uint8_t data[600];
    size_t m;
    roundtrip((const uint8_t *)"", 0, "01");
    roundtrip((const uint8_t *)"\0", 1, "0101");
    roundtrip((const uint8_t *)"\x11\x22\0\x33", 4, "03112202" "33");
    for (size_t len = 250; len < 600; len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)(1 + i % 255);
        roundtrip(data, len, NULL);
        data[len - 1] = 0;
        roundtrip(data, len, NULL);
    }
    memset(data, 7, 254);
    roundtrip(data, 254, NULL);
    CHECK(link_cobs_encode(data, 254, frame_buf, sizeof frame_buf) == 255); /* no final code byte */
    CHECK(link_cobs_decode((const uint8_t *)"\x05\x01\x02", 3, out, sizeof out, &m) == LINK_INVALID_FORMAT);
    CHECK(link_cobs_encode(data, 254, frame_buf, 100) == 0);
}

/* Feeds bytes; returns how many packets came out and checks the last one. */
static int feed(link_deframer *d, const uint8_t *bytes, size_t len, size_t *last_len)
{
    int packets = 0;
    for (size_t i = 0; i < len; i++)
        if (link_deframer_push(d, bytes[i], out, last_len) == LINK_OK)
            packets++;
    return packets;
}

static void test_deframer(void)
{
    static link_deframer d;
    static uint8_t stream[3 * LINK_MAX_PACKET];
    static uint8_t big[LINK_MAX_PACKET + 100];
    link_tc tc = {0x0A0, 1, 0x0042, 17, 1, 0xF};
    size_t ping_len = link_build_tc(&tc, NULL, 0, NULL, packet, sizeof packet), frame_len, n, got = 0;
    uint8_t ping[64];
    memcpy(ping, packet, ping_len);
    frame_len = link_frame(ping, ping_len, frame_buf, sizeof frame_buf);

    /* garbage (with a bad-COBS frame and a bad-CRC frame), then a good frame */
    link_deframer_init(&d);
    n = 0;
    memcpy(stream + n, "\x05\x01\x02\0", 4); n += 4;
    memcpy(stream + n, frame_buf, frame_len); stream[n + 3] ^= 0x40; n += frame_len;
    memcpy(stream + n, "\0\0", 2); n += 2;
    memcpy(stream + n, frame_buf, frame_len); n += frame_len;
    CHECK(feed(&d, stream, n, &got) == 1);
    CHECK(got == ping_len && memcmp(out, ping, ping_len) == 0);
    CHECK(d.counters.frames_ok == 1 && d.counters.frames_bad_format == 1 && d.counters.frames_bad_crc == 1);
    CHECK(d.counters.bytes_discarded == 3 + frame_len - 1);

    /* oversize: an endless run without 0x00, then a good frame */
    link_deframer_init(&d);
    memset(stream, 0x01, sizeof stream);
    CHECK(feed(&d, stream, sizeof stream, &got) == 0);
    stream[0] = 0;
    CHECK(feed(&d, stream, 1, &got) == 0);
    CHECK(feed(&d, frame_buf, frame_len, &got) == 1);
    CHECK(d.counters.frames_oversize == 1 && d.counters.frames_ok == 1);
    CHECK(d.counters.bytes_discarded == sizeof stream);

    /* a 4097-byte packet whose encoding fits the buffer is still oversize */
    link_deframer_init(&d);
    memset(big, 0x11, sizeof big);
    n = link_cobs_encode(big, LINK_MAX_PACKET + 1, stream, sizeof stream);
    stream[n++] = 0;
    CHECK(feed(&d, stream, n, &got) == 0);
    CHECK(d.counters.frames_oversize == 1);
}

static void test_tm_strictness(void)
{
    link_tm tm = {0x0A0, 5, 3, 0x0042, 17, 2, {0x40, 0, 1, 0, 0, 0, 10}, (const uint8_t *)"abc", 3};
    link_tm parsed;
    size_t n = link_build_tm(&tm, packet, sizeof packet);
    link_tc tc = {0x0A0, 1, 0x0042, 17, 1, 0xF};
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_OK && parsed.data_len == 3);
    packet[n - 1] ^= 1;
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_INVALID_CHECKSUM);
    packet[n - 1] ^= 1;
    packet[0] |= 0x20; /* CCSDS version 1 */
    link_put_u16(packet + n - 2, link_crc16(packet, n - 2));
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_INVALID_FORMAT);
    packet[0] &= 0x1F;
    packet[6] = 0x10; /* PUS version 1 */
    link_put_u16(packet + n - 2, link_crc16(packet, n - 2));
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_INVALID_FORMAT);
    n = link_build_tc(&tc, (const uint8_t *)"twelve bytes", 12, NULL, packet, sizeof packet);
    CHECK(n >= LINK_TM_OVERHEAD && link_parse_tm(packet, n, &parsed) == LINK_INVALID_FORMAT); /* a TC is not a TM */
    CHECK(link_build_tc(&tc, out, LINK_MAX_PACKET, NULL, packet, sizeof packet) == 0); /* too long */
}

int main(void)
{
    test_crcs();
    test_golden_ping();
    test_golden_alive();
    test_golden_authenticated();
    test_cobs();
    test_deframer();
    test_tm_strictness();
    return check_summary("test_link_core");
}
