/* Protocol core of the payload link (docs/icd.md), controller side, portable C11.
 *
 * No I/O, no malloc: every function works on caller buffers. Layers:
 *   CRC-16/CCITT-FALSE (packet error control) and CRC-32 (zlib, result check);
 *   COBS encode/decode and a byte-at-a-time deframer that resynchronises at 0x00
 *   and classifies dropped frames like F Prime (INVALID_FORMAT / INVALID_SIZE /
 *   INVALID_CHECKSUM);
 *   CCSDS space packets with PUS-C headers: TC build (with the optional HMAC
 *   trailer of ICD section 7), TM parse (strict: every fixed header bit checked),
 *   TM build (for tests and emulation);
 *   the ICD v2 payloads the controller reads or writes: TM[17,2] alive, TM[3,25]
 *   structure 2, TM[200,4] result done, TC[200,5] with byte ranges and the
 *   missing ranges of a partly received output; names of codes (icd.h numbers).
 * Integers on the wire are big-endian (link_put/get_*).
 */
#ifndef LINK_CORE_H
#define LINK_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "icd.h"

#define LINK_MAX_PACKET 4096
/* Largest COBS encoding of a LINK_MAX_PACKET packet, without the 0x00. */
#define LINK_MAX_ENCODED (LINK_MAX_PACKET + LINK_MAX_PACKET / 254 + 1)
#define LINK_PRIMARY_LEN 6
#define LINK_TC_SEC_LEN 5
#define LINK_TM_SEC_LEN 14
#define LINK_TC_OVERHEAD (LINK_PRIMARY_LEN + LINK_TC_SEC_LEN + 2)
#define LINK_TM_OVERHEAD (LINK_PRIMARY_LEN + LINK_TM_SEC_LEN + 2)
#define LINK_TIMESTAMP_LEN 7
#define LINK_AUTH_TRAILER_LEN 24
#define LINK_PUS_VERSION 2
#define LINK_SEQ_MODULO 16384u

typedef enum {
    LINK_OK = 0,
    LINK_MORE_NEEDED,
    LINK_INVALID_FORMAT,
    LINK_INVALID_SIZE,
    LINK_INVALID_CHECKSUM
} link_status;

void link_put_u16(uint8_t *p, uint16_t v);
void link_put_u32(uint8_t *p, uint32_t v);
void link_put_u64(uint8_t *p, uint64_t v);
uint16_t link_get_u16(const uint8_t *p);
uint32_t link_get_u32(const uint8_t *p);

uint16_t link_crc16(const uint8_t *data, size_t len);
/* zlib's CRC-32; pass 0 first, then the previous value to continue. */
uint32_t link_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* Returns the encoded length (no trailing 0x00), or 0 if it does not fit `cap`. */
size_t link_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* LINK_OK with *out_len set, LINK_INVALID_FORMAT, or LINK_INVALID_SIZE (> cap). */
link_status link_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* COBS(packet) || 0x00 into out; returns the frame length, 0 if it does not fit. */
size_t link_frame(const uint8_t *packet, size_t len, uint8_t *out, size_t cap);

typedef struct {
    uint32_t frames_ok, frames_bad_crc, frames_bad_format, frames_oversize, bytes_discarded;
} link_counters;

typedef struct {
    uint8_t encoded[LINK_MAX_ENCODED];
    size_t len;
    int discarding;            /* rest of an oversize frame, up to the next 0x00 */
    link_counters counters;
} link_deframer;

void link_deframer_init(link_deframer *d);
/* Feeds one byte. LINK_OK: a packet with a good CRC is in packet[0..*packet_len)
 * (packet must hold LINK_MAX_PACKET bytes). LINK_MORE_NEEDED: nothing yet. Other
 * values: a frame was dropped (and counted). */
link_status link_deframer_push(link_deframer *d, uint8_t byte, uint8_t *packet, size_t *packet_len);

typedef struct {
    uint16_t apid, seq_count, source_id;
    uint8_t service, subtype, ack_flags;
} link_tc;

typedef struct {
    const uint8_t *key;        /* NULL: no authentication trailer */
    size_t key_len;
    uint64_t counter;
} link_auth;

/* Builds a TC with app_data (and the trailer if auth && auth->key); returns the
 * packet length, 0 if it would exceed cap or LINK_MAX_PACKET. */
size_t link_build_tc(const link_tc *tc, const uint8_t *app_data, size_t app_len,
                     const link_auth *auth, uint8_t *out, size_t cap);

typedef struct {
    uint16_t apid, seq_count, message_counter, destination_id;
    uint8_t service, subtype;
    uint8_t timestamp[LINK_TIMESTAMP_LEN];
    const uint8_t *data;       /* points into the parsed packet */
    size_t data_len;
} link_tm;

size_t link_build_tm(const link_tm *tm, uint8_t *out, size_t cap);
/* LINK_OK, LINK_INVALID_CHECKSUM or LINK_INVALID_FORMAT (version, type, flags,
 * length field, PUS version, time reference status). */
link_status link_parse_tm(const uint8_t *packet, size_t len, link_tm *tm);

/* -- ICD v2 payloads ------------------------------------------------------------- */

/* Names of ICD section 8 error codes, section 9 events and section 5 protection
 * modes (as runtime/link/catalogue.py spells them); NULL for a value the ICD lacks. */
const char *link_error_name(unsigned code);
const char *link_event_name(unsigned event_id);
const char *link_mode_name(unsigned mode);

/* TM[17,2]: 0 with *icd_version set, -1 unless the data is exactly ICD_LEN_ALIVE bytes. */
int link_parse_alive(const link_tm *tm, uint8_t *icd_version);

/* A housekeeping report, every field widened to u32, indexed by ICD_HK1_* and ICD_HK2_*. */
typedef struct {
    uint32_t field[ICD_COUNT_HK2_FIELDS];
} link_hk;

/* TM[3,25] of structure 2: 0, or -1 when the data is not exactly ICD_LEN_HK2 bytes
 * or its structure ID is not 2 (the fields are then left untouched). */
int link_parse_hk2(const link_tm *tm, link_hk *hk);

/* TM[200,4] (ICD v2, 20 bytes). crc32: zlib CRC-32 of all output bytes in output
 * order; input_crc32: that of all input bytes as staged and run, in input order. */
typedef struct {
    uint32_t request_id;
    uint16_t status;           /* 0 ok, else an ICD_ERR_* */
    uint32_t latency_us;
    uint32_t crc32;
    uint16_t corrected;
    uint32_t input_crc32;
} link_result_done;

/* 0, or -1 unless the data is exactly ICD_LEN_RESULT_DONE bytes. */
int link_parse_result_done(const link_tm *tm, link_result_done *result);
/* Writes the ICD_LEN_RESULT_DONE bytes of a TM[200,4] (runtime side; for tests). */
void link_put_result_done(uint8_t *out, const link_result_done *result);

/* One byte range of one output, as TC[200,5] asks for it. */
typedef struct {
    uint8_t output_index;
    uint32_t offset, length;   /* bytes */
} link_range;

/* The byte ranges of output `output_index` (total bytes) not yet received, in
 * offset order: byte b was received when bit (b & 7) of have[b >> 3] is set.
 * Writes at most cap ranges; returns how many there are in all (which can exceed
 * cap: the caller asks for the first cap now, the rest later). */
size_t link_missing_ranges(const uint8_t *have, uint32_t total, uint8_t output_index,
                           link_range *ranges, size_t cap);

/* TC[200,5] application data: request_id, then each range (ICD_LEN_RANGE bytes).
 * n == 0 asks for every output. Returns the length, 0 if it does not fit cap. */
size_t link_build_resend(uint32_t request_id, const link_range *ranges, size_t n,
                         uint8_t *out, size_t cap);

#endif
