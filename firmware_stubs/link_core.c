/* Protocol core: see link_core.h. */
#include "link_core.h"

#include <string.h>

#include "sha256.h"

void link_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

void link_put_u32(uint8_t *p, uint32_t v)
{
    link_put_u16(p, (uint16_t)(v >> 16));
    link_put_u16(p + 2, (uint16_t)v);
}

void link_put_u64(uint8_t *p, uint64_t v)
{
    link_put_u32(p, (uint32_t)(v >> 32));
    link_put_u32(p + 4, (uint32_t)v);
}

uint16_t link_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

uint32_t link_get_u32(const uint8_t *p)
{
    return ((uint32_t)link_get_u16(p) << 16) | link_get_u16(p + 2);
}

uint16_t link_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t link_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

size_t link_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    /* out[code_at] is the code byte of the current block; it counts the block's
     * data bytes + 1. A full block (254 data bytes) gets code 0xFF and no implicit
     * zero; data ending right after a full block needs no final code byte. */
    size_t o = 0, code_at = 0;
    uint8_t code = 1;
    if (cap == 0)
        return 0;
    o = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            if (o >= cap)
                return 0;
            code_at = o++;
            code = 1;
            continue;
        }
        if (o >= cap)
            return 0;
        out[o++] = in[i];
        if (++code == 0xFF) {
            out[code_at] = code;
            if (i + 1 == len)
                return o;
            if (o >= cap)
                return 0;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

link_status link_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i];
        if (code == 0 || i + code > len)
            return LINK_INVALID_FORMAT;
        for (size_t k = i + 1; k < i + code; k++) {
            if (in[k] == 0)
                return LINK_INVALID_FORMAT;
            if (o >= cap)
                return LINK_INVALID_SIZE;
            out[o++] = in[k];
        }
        i += code;
        if (code != 0xFF && i < len) {
            if (o >= cap)
                return LINK_INVALID_SIZE;
            out[o++] = 0;
        }
    }
    *out_len = o;
    return LINK_OK;
}

size_t link_frame(const uint8_t *packet, size_t len, uint8_t *out, size_t cap)
{
    size_t n;
    if (len > LINK_MAX_PACKET || cap < 1)
        return 0;
    n = link_cobs_encode(packet, len, out, cap - 1);
    if (n == 0)
        return 0;
    out[n] = 0;
    return n + 1;
}

void link_deframer_init(link_deframer *d)
{
    memset(d, 0, sizeof *d);
}

static link_status end_of_frame(link_deframer *d, uint8_t *packet, size_t *packet_len)
{
    size_t len = 0;
    link_status status = link_cobs_decode(d->encoded, d->len, packet, LINK_MAX_PACKET, &len);
    if (status == LINK_OK && len < LINK_PRIMARY_LEN + 2)
        status = LINK_INVALID_FORMAT;
    if (status == LINK_OK && link_crc16(packet, len - 2) != link_get_u16(packet + len - 2))
        status = LINK_INVALID_CHECKSUM;
    if (status == LINK_OK) {
        d->counters.frames_ok++;
        *packet_len = len;
    } else {
        d->counters.bytes_discarded += (uint32_t)d->len;
        if (status == LINK_INVALID_SIZE)
            d->counters.frames_oversize++;
        else if (status == LINK_INVALID_CHECKSUM)
            d->counters.frames_bad_crc++;
        else
            d->counters.frames_bad_format++;
    }
    d->len = 0;
    return status;
}

link_status link_deframer_push(link_deframer *d, uint8_t byte, uint8_t *packet, size_t *packet_len)
{
    if (byte == 0) {
        if (d->discarding) {
            d->discarding = 0;
            return LINK_MORE_NEEDED;
        }
        if (d->len == 0)
            return LINK_MORE_NEEDED; /* empty frame */
        return end_of_frame(d, packet, packet_len);
    }
    if (d->discarding) {
        d->counters.bytes_discarded++;
        return LINK_MORE_NEEDED;
    }
    if (d->len == LINK_MAX_ENCODED) {
        d->counters.frames_oversize++;
        d->counters.bytes_discarded += (uint32_t)d->len + 1;
        d->len = 0;
        d->discarding = 1;
        return LINK_INVALID_SIZE;
    }
    d->encoded[d->len++] = byte;
    return LINK_MORE_NEEDED;
}

static void put_primary(uint8_t *p, int is_tc, uint16_t apid, uint16_t seq_count, size_t total_len)
{
    link_put_u16(p, (uint16_t)((is_tc ? 0x1000 : 0) | 0x0800 | (apid & 0x7FF)));
    link_put_u16(p + 2, (uint16_t)(0xC000 | (seq_count & 0x3FFF)));
    link_put_u16(p + 4, (uint16_t)(total_len - LINK_PRIMARY_LEN - 1));
}

size_t link_build_tc(const link_tc *tc, const uint8_t *app_data, size_t app_len,
                     const link_auth *auth, uint8_t *out, size_t cap)
{
    int signed_tc = auth != NULL && auth->key != NULL;
    size_t total = LINK_TC_OVERHEAD + app_len + (signed_tc ? LINK_AUTH_TRAILER_LEN : 0);
    size_t at = LINK_PRIMARY_LEN + LINK_TC_SEC_LEN;
    if (total > cap || total > LINK_MAX_PACKET)
        return 0;
    put_primary(out, 1, tc->apid, tc->seq_count, total);
    out[6] = (uint8_t)((LINK_PUS_VERSION << 4) | (tc->ack_flags & 0x0F));
    out[7] = tc->service;
    out[8] = tc->subtype;
    link_put_u16(out + 9, tc->source_id);
    if (app_len)
        memmove(out + at, app_data, app_len);
    at += app_len;
    if (signed_tc) {
        uint8_t mac[SHA256_DIGEST_LEN];
        link_put_u64(out + at, auth->counter);
        at += 8;
        /* The MAC covers the primary header (length already counts the trailer)
         * through the counter. */
        hmac_sha256(auth->key, auth->key_len, out, at, mac);
        memcpy(out + at, mac, 16);
        at += 16;
    }
    link_put_u16(out + at, link_crc16(out, at));
    return total;
}

size_t link_build_tm(const link_tm *tm, uint8_t *out, size_t cap)
{
    size_t total = LINK_TM_OVERHEAD + tm->data_len;
    size_t at = LINK_PRIMARY_LEN + LINK_TM_SEC_LEN;
    if (total > cap || total > LINK_MAX_PACKET)
        return 0;
    put_primary(out, 0, tm->apid, tm->seq_count, total);
    out[6] = (uint8_t)(LINK_PUS_VERSION << 4);
    out[7] = tm->service;
    out[8] = tm->subtype;
    link_put_u16(out + 9, tm->message_counter);
    link_put_u16(out + 11, tm->destination_id);
    memcpy(out + 13, tm->timestamp, LINK_TIMESTAMP_LEN);
    if (tm->data_len)
        memmove(out + at, tm->data, tm->data_len);
    at += tm->data_len;
    link_put_u16(out + at, link_crc16(out, at));
    return total;
}

link_status link_parse_tm(const uint8_t *p, size_t len, link_tm *tm)
{
    uint16_t packet_id, seq_ctrl;
    if (len < LINK_TM_OVERHEAD || len > LINK_MAX_PACKET)
        return LINK_INVALID_FORMAT;
    if (link_crc16(p, len - 2) != link_get_u16(p + len - 2))
        return LINK_INVALID_CHECKSUM;
    packet_id = link_get_u16(p);
    seq_ctrl = link_get_u16(p + 2);
    if ((packet_id >> 13) != 0 || (packet_id & 0x1000) || !(packet_id & 0x0800))
        return LINK_INVALID_FORMAT; /* version 0, TM, secondary header present */
    if ((seq_ctrl >> 14) != 3 || (size_t)link_get_u16(p + 4) + 1 + LINK_PRIMARY_LEN != len)
        return LINK_INVALID_FORMAT; /* unsegmented, length field matches */
    if (p[6] != (LINK_PUS_VERSION << 4))
        return LINK_INVALID_FORMAT; /* PUS version 2, time reference status 0 */
    tm->apid = packet_id & 0x7FF;
    tm->seq_count = seq_ctrl & 0x3FFF;
    tm->service = p[7];
    tm->subtype = p[8];
    tm->message_counter = link_get_u16(p + 9);
    tm->destination_id = link_get_u16(p + 11);
    memcpy(tm->timestamp, p + 13, LINK_TIMESTAMP_LEN);
    tm->data = p + LINK_PRIMARY_LEN + LINK_TM_SEC_LEN;
    tm->data_len = len - LINK_TM_OVERHEAD;
    return LINK_OK;
}

/* -- ICD v2 payloads ------------------------------------------------------------- */

static const char *const error_names[] = {
    [ICD_ERR_BAD_SERVICE] = "BAD_SERVICE",
    [ICD_ERR_BAD_SUBTYPE] = "BAD_SUBTYPE",
    [ICD_ERR_BAD_LENGTH] = "BAD_LENGTH",
    [ICD_ERR_BAD_ARGUMENT] = "BAD_ARGUMENT",
    [ICD_ERR_AUTH_FAILED] = "AUTH_FAILED",
    [ICD_ERR_REPLAY] = "REPLAY",
    [ICD_ERR_NO_MODEL] = "NO_MODEL",
    [ICD_ERR_SHAPE_MISMATCH] = "SHAPE_MISMATCH",
    [ICD_ERR_DTYPE_MISMATCH] = "DTYPE_MISMATCH",
    [ICD_ERR_UNKNOWN_REQUEST] = "UNKNOWN_REQUEST",
    [ICD_ERR_SLOT_BUSY] = "SLOT_BUSY",
    [ICD_ERR_HASH_MISMATCH] = "HASH_MISMATCH",
    [ICD_ERR_MODEL_INVALID] = "MODEL_INVALID",
    [ICD_ERR_UNCORRECTABLE_UPSET] = "UNCORRECTABLE_UPSET",
    [ICD_ERR_INTERNAL] = "INTERNAL",
    [ICD_ERR_COUNTER_WINDOW] = "COUNTER_WINDOW",
};

static const char *const event_names[] = {
    [ICD_EVENT_UPSET_CORRECTED] = "UPSET_CORRECTED",
    [ICD_EVENT_UPSET_UNCORRECTABLE] = "UPSET_UNCORRECTABLE",
    [ICD_EVENT_VOTE_DISAGREEMENT] = "VOTE_DISAGREEMENT",
    [ICD_EVENT_MODEL_ACTIVATED] = "MODEL_ACTIVATED",
    [ICD_EVENT_MODEL_REJECTED] = "MODEL_REJECTED",
    [ICD_EVENT_AUTH_FAILURE] = "AUTH_FAILURE",
    [ICD_EVENT_SLOT_CORRUPT] = "SLOT_CORRUPT",
    [ICD_EVENT_CHECKSUM_MISMATCH] = "CHECKSUM_MISMATCH",
};

static const char *const mode_names[] = {
    [ICD_MODE_NONE] = "none",
    [ICD_MODE_SCRUB] = "scrub",
    [ICD_MODE_DWC] = "dwc",
    [ICD_MODE_TMR] = "tmr",
    [ICD_MODE_ABFT] = "abft",
};

#define COUNT_OF(a) (sizeof (a) / sizeof (a)[0])

const char *link_error_name(unsigned code) { return code < COUNT_OF(error_names) ? error_names[code] : NULL; }
const char *link_event_name(unsigned id) { return id < COUNT_OF(event_names) ? event_names[id] : NULL; }
const char *link_mode_name(unsigned mode) { return mode < COUNT_OF(mode_names) ? mode_names[mode] : NULL; }

int link_parse_alive(const link_tm *tm, uint8_t *icd_version)
{
    if (tm->data_len != ICD_LEN_ALIVE)
        return -1;
    *icd_version = tm->data[0];
    return 0;
}

/* Wire width of HK field i (ICD section 5): the three u8 fields, else u32. */
static size_t hk_width(int i)
{
    return (i == ICD_HK1_ACTIVE_SLOT || i == ICD_HK1_PROTECTION_MODE || i == ICD_HK2_ICD_VERSION) ? 1 : 4;
}

int link_parse_hk2(const link_tm *tm, link_hk *hk)
{
    const uint8_t *p = tm->data + 2;
    if (tm->data_len != ICD_LEN_HK2 || link_get_u16(tm->data) != ICD_HK_STRUCTURE_2)
        return -1;
    for (int i = 0; i < ICD_COUNT_HK2_FIELDS; i++) {
        hk->field[i] = hk_width(i) == 1 ? p[0] : link_get_u32(p);
        p += hk_width(i);
    }
    return 0;
}

int link_parse_result_done(const link_tm *tm, link_result_done *r)
{
    const uint8_t *d = tm->data;
    if (tm->data_len != ICD_LEN_RESULT_DONE)
        return -1;
    r->request_id = link_get_u32(d);
    r->status = link_get_u16(d + 4);
    r->latency_us = link_get_u32(d + 6);
    r->crc32 = link_get_u32(d + 10);
    r->corrected = link_get_u16(d + 14);
    r->input_crc32 = link_get_u32(d + 16);
    return 0;
}

void link_put_result_done(uint8_t *out, const link_result_done *r)
{
    link_put_u32(out, r->request_id);
    link_put_u16(out + 4, r->status);
    link_put_u32(out + 6, r->latency_us);
    link_put_u32(out + 10, r->crc32);
    link_put_u16(out + 14, r->corrected);
    link_put_u32(out + 16, r->input_crc32);
}

static int have_byte(const uint8_t *have, uint32_t b) { return (have[b >> 3] >> (b & 7)) & 1; }

size_t link_missing_ranges(const uint8_t *have, uint32_t total, uint8_t output_index,
                           link_range *ranges, size_t cap)
{
    size_t n = 0;
    uint32_t b = 0;
    while (b < total) {
        uint32_t start;
        if ((b & 7) == 0 && have[b >> 3] == 0xFF && total - b >= 8) {
            b += 8; /* a whole byte of the bitmap received */
            continue;
        }
        if (have_byte(have, b)) {
            b++;
            continue;
        }
        start = b;
        while (b < total && !have_byte(have, b))
            b++;
        if (n < cap) {
            ranges[n].output_index = output_index;
            ranges[n].offset = start;
            ranges[n].length = b - start;
        }
        n++;
    }
    return n;
}

size_t link_build_resend(uint32_t request_id, const link_range *ranges, size_t n,
                         uint8_t *out, size_t cap)
{
    size_t len = ICD_LEN_RESEND_HEADER + n * ICD_LEN_RANGE;
    if (cap < ICD_LEN_RESEND_HEADER || n > (cap - ICD_LEN_RESEND_HEADER) / ICD_LEN_RANGE)
        return 0;
    link_put_u32(out, request_id);
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = out + ICD_LEN_RESEND_HEADER + i * ICD_LEN_RANGE;
        p[0] = ranges[i].output_index;
        link_put_u32(p + 1, ranges[i].offset);
        link_put_u32(p + 5, ranges[i].length);
    }
    return len;
}
