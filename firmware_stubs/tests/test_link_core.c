/* Protocol core: ICD section 10 golden vectors (v1 and v2), COBS, deframer resync
 * and counters, strict TM parsing, the ICD v2 payloads (alive, HK structure 2,
 * result done, ranged re-send) and the names of codes. */
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

/* ICD-10-GOLDEN (v2): the alive TM carries icd_version 2. */
static void test_golden_alive_v2(void)
{
    static const uint8_t version[1] = {ICD_VERSION};
    link_tm tm = {0x0A0, 5, 3, 0x0042, ICD_SERVICE_TEST, ICD_SUBTYPE_ALIVE,
                  {0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a}, version, sizeof version};
    link_tm parsed;
    uint8_t got = 0;
    size_t n = link_build_tm(&tm, packet, sizeof packet);
    CHECK_BYTES(packet, n, "08a0c0050010201102000300424000010000000a02032a");
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_OK);
    CHECK(link_parse_alive(&parsed, &got) == 0 && got == 2);
    parsed.data_len = 0; /* a v1 alive TM: no icd_version */
    CHECK(link_parse_alive(&parsed, &got) == -1);
    parsed.data_len = 2;
    CHECK(link_parse_alive(&parsed, &got) == -1);
}

/* ICD-10-GOLDEN (v2): result done TM with input_crc32 (20 data bytes). */
static void test_golden_result_done_v2(void)
{
    static const uint8_t outputs[4] = {1, 2, 3, 4}, inputs[2] = {5, 6};
    uint8_t data[ICD_LEN_RESULT_DONE];
    link_result_done done = {7, 0, 1234, 0, 1, 0}, parsed_done;
    link_tm tm = {0x0A0, 9, 4, 0x0042, ICD_SERVICE_INFERENCE, ICD_SUBTYPE_RESULT_DONE,
                  {0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a}, data, sizeof data};
    link_tm parsed;
    size_t n;
    done.crc32 = link_crc32(0, outputs, sizeof outputs);
    done.input_crc32 = link_crc32(0, inputs, sizeof inputs);
    link_put_result_done(data, &done);
    n = link_build_tm(&tm, packet, sizeof packet);
    CHECK_BYTES(packet, n, "08a0c009002320c804000400424000010000000a000000070000000004d2b63cfbcd0001d5cd438f38e6");
    CHECK(link_parse_tm(packet, n, &parsed) == LINK_OK);
    CHECK(link_parse_result_done(&parsed, &parsed_done) == 0);
    CHECK(parsed_done.request_id == 7 && parsed_done.status == 0 && parsed_done.latency_us == 1234);
    CHECK(parsed_done.crc32 == 0xb63cfbcdu && parsed_done.corrected == 1 && parsed_done.input_crc32 == 0xd5cd438fu);
    parsed.data_len = 16; /* the v1 layout is refused */
    CHECK(link_parse_result_done(&parsed, &parsed_done) == -1);
    parsed.data_len = 24;
    CHECK(link_parse_result_done(&parsed, &parsed_done) == -1);
}

/* ICD-5-HK: structure 2 = structure 1, icd_version u8, 4 u32; exact length. */
static void test_hk_structure_2(void)
{
    uint8_t data[ICD_LEN_HK2 + 1];
    link_tm tm = {0x0A0, 1, 1, 0x0042, ICD_SERVICE_HOUSEKEEPING, ICD_SUBTYPE_HK_REPORT, {0}, data, ICD_LEN_HK2};
    link_hk hk;
    size_t at = 2;
    link_put_u16(data, ICD_HK_STRUCTURE_2);
    for (uint32_t i = 0; i < 16; i++, at += 4)
        link_put_u32(data + at, 1000 + i);       /* uptime_s .. duplicates_ignored */
    data[at++] = ICD_NO_ACTIVE_SLOT;             /* active_slot */
    data[at++] = ICD_MODE_ABFT;                  /* protection_mode */
    data[at++] = ICD_VERSION;                    /* icd_version */
    for (uint32_t i = 0; i < 4; i++, at += 4)
        link_put_u32(data + at, 2000 + i);       /* checksum_mismatches .. inputs_refused */
    CHECK(at == ICD_LEN_HK2);
    CHECK(ICD_LEN_HK1 == 2 + 16 * 4 + 2 && ICD_COUNT_HK2_FIELDS == ICD_HK2_INPUTS_REFUSED + 1);
    CHECK(link_parse_hk2(&tm, &hk) == 0);
    CHECK(hk.field[ICD_HK1_UPTIME_S] == 1000 && hk.field[ICD_HK1_DUPLICATES_IGNORED] == 1015);
    CHECK(hk.field[ICD_HK1_FRAMES_OK] == 1009 && hk.field[ICD_HK1_ACTIVE_SLOT] == 0xFF);
    CHECK(hk.field[ICD_HK1_PROTECTION_MODE] == ICD_MODE_ABFT && hk.field[ICD_HK2_ICD_VERSION] == 2);
    CHECK(hk.field[ICD_HK2_CHECKSUM_MISMATCHES] == 2000 && hk.field[ICD_HK2_INPUTS_REFUSED] == 2003);
    tm.data_len = ICD_LEN_HK1; /* structure 1's length */
    CHECK(link_parse_hk2(&tm, &hk) == -1);
    tm.data_len = ICD_LEN_HK2 + 1;
    CHECK(link_parse_hk2(&tm, &hk) == -1);
    tm.data_len = ICD_LEN_HK2;
    link_put_u16(data, ICD_HK_STRUCTURE_1);
    CHECK(link_parse_hk2(&tm, &hk) == -1);
}

/* ICD-4-RESEND: missing ranges of a partly received output, and the TC[200,5] data. */
static void test_ranged_resend(void)
{
    static uint8_t have[64];
    link_range ranges[8];
    uint8_t data[ICD_LEN_RESEND_HEADER + 3 * ICD_LEN_RANGE];
    size_t n;
    memset(have, 0xFF, sizeof have);
    CHECK(link_missing_ranges(have, 500, 0, ranges, 8) == 0);
    have[0] = 0xF0;           /* bytes 0..3 missing */
    have[2] &= (uint8_t)~0x80; /* byte 23 */
    have[3] = 0;              /* bytes 24..31, joined with 23 */
    have[10] = 0x7F;          /* byte 87 */
    have[62] = 0;             /* bytes 496..499 (total 500: 500..503 do not exist) */
    n = link_missing_ranges(have, 500, 2, ranges, 8);
    CHECK(n == 4);
    CHECK(ranges[0].output_index == 2 && ranges[0].offset == 0 && ranges[0].length == 4);
    CHECK(ranges[1].offset == 23 && ranges[1].length == 9);
    CHECK(ranges[2].offset == 87 && ranges[2].length == 1);
    CHECK(ranges[3].offset == 496 && ranges[3].length == 4);
    CHECK(link_missing_ranges(have, 500, 2, ranges, 2) == 4); /* counts all, writes 2 */
    CHECK(link_missing_ranges(have, 3, 0, ranges, 8) == 1 && ranges[0].length == 3);
    n = link_build_resend(0x01020304u, ranges, 0, data, sizeof data);
    CHECK_BYTES(data, n, "01020304"); /* no range: every output */
    ranges[0] = (link_range){1, 0x10, 0x200};
    ranges[1] = (link_range){3, 0xAABBCCDDu, 1};
    n = link_build_resend(7, ranges, 2, data, sizeof data);
    CHECK_BYTES(data, n, "00000007" "01" "00000010" "00000200" "03" "aabbccdd" "00000001");
    CHECK(link_build_resend(7, ranges, 4, data, sizeof data) == 0);
    CHECK(link_build_resend(7, ranges, 0, data, 3) == 0);
}

/* ICD-8-CODES, ICD-9-EVENTS: every code has its name, v2's included. */
static void test_names(void)
{
    CHECK(strcmp(link_error_name(ICD_ERR_BAD_SERVICE), "BAD_SERVICE") == 0);
    CHECK(strcmp(link_error_name(16), "COUNTER_WINDOW") == 0);
    CHECK(link_error_name(0) == NULL && link_error_name(17) == NULL);
    for (unsigned code = 1; code <= 16; code++)
        CHECK(link_error_name(code) != NULL);
    CHECK(strcmp(link_event_name(7), "SLOT_CORRUPT") == 0 && strcmp(link_event_name(8), "CHECKSUM_MISMATCH") == 0);
    CHECK(link_event_name(0) == NULL && link_event_name(9) == NULL);
    for (unsigned id = 1; id <= 8; id++)
        CHECK(link_event_name(id) != NULL);
    CHECK(strcmp(link_mode_name(4), "abft") == 0 && link_mode_name(5) == NULL);
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
    test_golden_alive_v2();
    test_golden_result_done_v2();
    test_hk_structure_2();
    test_ranged_resend();
    test_names();
    test_cobs();
    test_deframer();
    test_tm_strictness();
    return check_summary("test_link_core");
}
