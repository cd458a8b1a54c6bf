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
