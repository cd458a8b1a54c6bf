/* payload_fw: the payload controller's firmware stub (controller side of icd.md, v2).
 *
 *   payload_fw --port PATH [--baud 115200] [--apid 0xA0] [--source 0x42]
 *              [--key HEX] [--counter N] [--timeout-ms 2000] [--retries 3]
 *              [--inputs FILE.npy [--expect FILE.txt]] [--verbose]
 *
 * It pings the runtime (TM[17,2] must carry icd_version 2), reads housekeeping
 * structure 2, then for each record of the input file uploads the input (TC[200,1]
 * chunks, keeping the zlib CRC-32 of every byte sent), runs it (TC[200,2]), collects
 * the outputs (TM[200,3], TM[200,4]) and compares with the expectation. A result is
 * accepted only when TM[200,4]'s crc32 matches the outputs received and its
 * input_crc32 matches the inputs sent (ICD section 4): lost output bytes are asked
 * again by byte range (TC[200,5] with ranges; with no range, every output, when the
 * sizes are unknown because TM[200,4] or a whole output was lost); an input_crc32
 * that differs means the runtime ran other bytes than those sent, and the record is
 * staged and run again under a new request_id (at most --retries times).
 * Every TC asks for acceptance and completion reports; a TC without completion
 * within the timeout (counted from the last packet received) is sent again byte for
 * byte (same sequence count, same authentication counter: ICD section 7 duplicate),
 * so the runtime re-sends its reports and does not execute it twice. It ends with
 * one summary line and exits 0 only if everything passed.
 *
 * Input file: a NumPy .npy file (version 1-3, C order, dtype <f4 |u1 |i1 <i4 <i8
 * or <f2) of shape (N, d1, ..., dk): record i is one model input of dims
 * (d1, ..., dk). Expectation file (optional): line i is `LABEL [CRC32]` for record
 * i, `-` for "don't check"; LABEL is the argmax of output 0 (float32), CRC32 (hex)
 * that of all output bytes.
 *
 * Authentication counter: --counter N, else microseconds since 1970 (seconds x 10^6),
 * +1 per TC: the scale of radrt's controllers (runtime/link/auth.py), inside the ICD
 * section 7 window of 2^56 from a fresh runtime's 0, and growing across restarts as
 * long as fewer than 10^6 TCs are sent per second.
 * Static buffers only: inputs up to 1 MiB, 4 outputs of up to 256 KiB each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hal.h"
#include "link_core.h"

#define MAX_INPUT_BYTES (1u << 20)
#define MAX_OUTPUTS 4
#define MAX_OUTPUT_BYTES (256u << 10)
#define MAX_RANK 8
/* Upper bound of TC[200,5] rounds for one run, progress or not. */
#define MAX_RESEND_ROUNDS 64
/* TC[200,5] ranges that fit one packet (without the authentication trailer). */
#define MAX_RANGES ((LINK_MAX_PACKET - LINK_TC_OVERHEAD - ICD_LEN_RESEND_HEADER) / ICD_LEN_RANGE)

static struct {
    const char *port, *inputs, *expect;
    long baud;
    uint16_t apid, source;
    uint8_t key[64];
    size_t key_len;
    int timeout_ms, retries, verbose;
    uint64_t counter;
} opt = {NULL, NULL, NULL, 115200, 0x0A0, 0x0042, {0}, 0, 2000, 3, 0, 0};

static struct {
    unsigned attempts, retries, timeouts, failures, resends, ranged_resends, events;
    unsigned records, ok, run_failed, label_errors, crc_errors, input_crc_errors;
} stats;

static link_deframer deframer;
static uint8_t tx_packet[LINK_MAX_PACKET], tx_frame[LINK_MAX_ENCODED + 1], rx_packet[LINK_MAX_PACKET];
static uint8_t rx_bytes[1024];
static size_t rx_len, rx_pos; /* bytes read from the UART but not yet deframed */
static uint16_t next_seq;
static uint16_t fail_code;
static uint32_t fail_detail;

typedef enum { CMD_DONE, CMD_FAILED, CMD_TIMEOUT, CMD_RETRY_NOW } cmd_result;
typedef void (*tm_handler)(const link_tm *tm);
typedef int (*reply_check)(void);

static const char *or_unknown(const char *name) { return name ? name : "(not in ICD v2)"; }

/* TM[5,x]: event ID u16, aux1 u32, aux2 u32 (ICD section 9), by name. */
static void print_event(const link_tm *tm)
{
    unsigned id;
    if (tm->data_len != ICD_LEN_EVENT) {
        printf("event TM[5,%u] of %zu data bytes, expected %d\n", tm->subtype, tm->data_len, ICD_LEN_EVENT);
        return;
    }
    id = link_get_u16(tm->data);
    printf("event %s (%u) severity %u aux1 %lu aux2 %lu\n", or_unknown(link_event_name(id)), id, tm->subtype,
           (unsigned long)link_get_u32(tm->data + 2), (unsigned long)link_get_u32(tm->data + 6));
}

/* Reads packets until the completion of request_id, a failure report, or timeout_ms
 * without any packet. Replies other than verification and events go to on_tm. */
static cmd_result await_completion(const uint8_t request_id[ICD_LEN_REQUEST_ID], tm_handler on_tm, reply_check have_reply)
{
    uint32_t last = hal_millis();
    for (;;) {
        size_t packet_len = 0;
        link_tm tm;
        if (rx_pos == rx_len) {
            uint32_t waited = hal_millis() - last;
            long n;
            if (waited >= (uint32_t)opt.timeout_ms)
                return CMD_TIMEOUT;
            n = hal_uart_read(rx_bytes, sizeof rx_bytes, opt.timeout_ms - (int)waited);
            if (n < 0)
                return CMD_TIMEOUT;
            rx_len = (size_t)n;
            rx_pos = 0;
            continue;
        }
        if (link_deframer_push(&deframer, rx_bytes[rx_pos++], rx_packet, &packet_len) != LINK_OK)
            continue;
        last = hal_millis();
        if (link_parse_tm(rx_packet, packet_len, &tm) != LINK_OK || tm.apid != opt.apid)
            continue;
        if (tm.service == ICD_SERVICE_EVENTS) {
            stats.events++;
            if (opt.verbose)
                print_event(&tm);
        } else if (tm.service != ICD_SERVICE_VERIFICATION) {
            if (on_tm)
                on_tm(&tm);
        } else if (tm.data_len >= ICD_LEN_REQUEST_ID && memcmp(tm.data, request_id, ICD_LEN_REQUEST_ID) == 0) {
            if ((tm.subtype == ICD_VERIFY_ACCEPTANCE_FAILURE || tm.subtype == ICD_VERIFY_COMPLETION_FAILURE) &&
                tm.data_len == ICD_LEN_FAILURE) {
                fail_code = link_get_u16(tm.data + 4);
                fail_detail = link_get_u32(tm.data + 6);
                return CMD_FAILED;
            }
            if (tm.subtype == ICD_VERIFY_COMPLETION_SUCCESS)
                /* A reply lost before the completion report: retry, the runtime
                 * re-sends the reports of a duplicate. */
                return (have_reply == NULL || have_reply()) ? CMD_DONE : CMD_RETRY_NOW;
        }
    }
}

/* Sends one TC and awaits its completion; a retry re-sends the identical packet
 * (ICD section 7: the runtime answers a byte-identical TC as a duplicate). */
static cmd_result command(uint8_t service, uint8_t subtype, const uint8_t *data, size_t len,
                          tm_handler on_tm, reply_check have_reply)
{
    link_tc tc = {opt.apid, next_seq, opt.source, service, subtype, ICD_ACK_ACCEPTANCE | ICD_ACK_COMPLETION};
    link_auth auth = {opt.key_len ? opt.key : NULL, opt.key_len, ++opt.counter};
    size_t packet_len = link_build_tc(&tc, data, len, &auth, tx_packet, sizeof tx_packet);
    size_t frame_len = link_frame(tx_packet, packet_len, tx_frame, sizeof tx_frame);
    uint8_t request_id[ICD_LEN_REQUEST_ID];
    next_seq = (uint16_t)((next_seq + 1) % LINK_SEQ_MODULO);
    if (packet_len == 0 || frame_len == 0) {
        fprintf(stderr, "payload_fw: TC[%u,%u] of %zu data bytes does not fit a packet of %d bytes\n",
                service, subtype, len, LINK_MAX_PACKET);
        return CMD_FAILED;
    }
    memcpy(request_id, tx_packet, ICD_LEN_REQUEST_ID);
    for (int attempt = 0; attempt <= opt.retries; attempt++) {
        cmd_result result;
        stats.attempts++;
        if (attempt > 0)
            stats.retries++;
        if (hal_uart_write(tx_frame, frame_len) != 0)
            return CMD_TIMEOUT;
        result = await_completion(request_id, on_tm, have_reply);
        if (result == CMD_DONE || result == CMD_FAILED) {
            if (result == CMD_FAILED) {
                stats.failures++;
                fprintf(stderr, "payload_fw: TC[%u,%u] failed: %s (%u) detail %lu\n", service, subtype,
                        or_unknown(link_error_name(fail_code)), fail_code, (unsigned long)fail_detail);
            }
            return result;
        }
    }
    stats.timeouts++;
    fprintf(stderr, "payload_fw: TC[%u,%u]: no completion report after %d attempts of %d ms: check the port, "
                    "baud rate and APID (0x%03X)\n", service, subtype, opt.retries + 1, opt.timeout_ms, opt.apid);
    return CMD_TIMEOUT;
}

/* -- ping and housekeeping ------------------------------------------------------ */

static int alive_seen, alive_parsed;
static uint8_t alive_version;
static size_t alive_len;
static void on_alive(const link_tm *tm)
{
    if (tm->service != ICD_SERVICE_TEST || tm->subtype != ICD_SUBTYPE_ALIVE)
        return;
    alive_seen = 1;
    alive_len = tm->data_len;
    alive_parsed = link_parse_alive(tm, &alive_version) == 0;
}
static int have_alive(void) { return alive_seen; }

/* Ping: 0 when the runtime answered TM[17,2] with icd_version 2. */
static int ping(void)
{
    if (command(ICD_SERVICE_TEST, ICD_SUBTYPE_ARE_YOU_ALIVE, NULL, 0, on_alive, have_alive) != CMD_DONE)
        return -1;
    if (!alive_parsed) {
        fprintf(stderr, "payload_fw: TM[17,2] carries %zu data bytes, ICD v%d has icd_version u8 "
                        "(a runtime on ICD v1?): update the runtime\n", alive_len, ICD_VERSION);
        return -1;
    }
    if (alive_version != ICD_VERSION) {
        fprintf(stderr, "payload_fw: TM[17,2] icd_version %u, this firmware speaks ICD v%d only\n",
                alive_version, ICD_VERSION);
        return -1;
    }
    return 0;
}

static link_hk hk;
static int hk_seen, hk_bad;
static size_t hk_bad_len;
static unsigned hk_bad_structure;
static void on_hk(const link_tm *tm)
{
    if (tm->service != ICD_SERVICE_HOUSEKEEPING || tm->subtype != ICD_SUBTYPE_HK_REPORT)
        return;
    if (link_parse_hk2(tm, &hk) == 0) {
        hk_seen = 1;
        return;
    }
    hk_bad = 1;
    hk_bad_len = tm->data_len;
    hk_bad_structure = tm->data_len >= 2 ? link_get_u16(tm->data) : 0;
}
static int have_hk(void) { return hk_seen || hk_bad; }

/* Housekeeping structure 2 (ICD section 5), parsed strictly; prints a few fields by
 * name. 0 when it arrived whole with icd_version 2. */
static int housekeeping(void)
{
    static const uint8_t structure_2[2] = {0, ICD_HK_STRUCTURE_2};
    uint32_t slot;
    const char *mode;
    if (command(ICD_SERVICE_HOUSEKEEPING, ICD_SUBTYPE_HK_REQUEST, structure_2, sizeof structure_2, on_hk,
                have_hk) != CMD_DONE)
        return -1;
    if (!hk_seen) {
        fprintf(stderr, "payload_fw: TM[3,25] of %zu data bytes for structure %u, expected %d bytes of "
                        "structure %d\n", hk_bad_len, hk_bad_structure, ICD_LEN_HK2, ICD_HK_STRUCTURE_2);
        return -1;
    }
    if (hk.field[ICD_HK2_ICD_VERSION] != ICD_VERSION) {
        fprintf(stderr, "payload_fw: TM[3,25] structure 2 icd_version %lu, expected %d\n",
                (unsigned long)hk.field[ICD_HK2_ICD_VERSION], ICD_VERSION);
        return -1;
    }
    slot = hk.field[ICD_HK1_ACTIVE_SLOT];
    mode = link_mode_name(hk.field[ICD_HK1_PROTECTION_MODE]);
    printf("hk icd_version=%lu uptime_s=%lu inferences_ok=%lu inferences_failed=%lu protection=%s",
           (unsigned long)hk.field[ICD_HK2_ICD_VERSION], (unsigned long)hk.field[ICD_HK1_UPTIME_S],
           (unsigned long)hk.field[ICD_HK1_INFERENCES_OK], (unsigned long)hk.field[ICD_HK1_INFERENCES_FAILED],
           mode ? mode : "unknown");
    if (slot == ICD_NO_ACTIVE_SLOT)
        printf(" active_slot=none");
    else
        printf(" active_slot=%lu", (unsigned long)slot);
    printf(" frames_ok=%lu checksum_mismatches=%lu ops_reexecuted=%lu slot_integrity_failures=%lu "
           "inputs_refused=%lu\n",
           (unsigned long)hk.field[ICD_HK1_FRAMES_OK], (unsigned long)hk.field[ICD_HK2_CHECKSUM_MISMATCHES],
           (unsigned long)hk.field[ICD_HK2_OPS_REEXECUTED],
           (unsigned long)hk.field[ICD_HK2_SLOT_INTEGRITY_FAILURES],
           (unsigned long)hk.field[ICD_HK2_INPUTS_REFUSED]);
    return 0;
}

/* -- inference ------------------------------------------------------------------ */

static uint8_t input[MAX_INPUT_BYTES];
static uint8_t chunk[LINK_MAX_PACKET];
static uint8_t out_data[MAX_OUTPUTS][MAX_OUTPUT_BYTES];
static uint8_t out_have[MAX_OUTPUTS][MAX_OUTPUT_BYTES / 8]; /* one bit per byte received */
static uint32_t out_total[MAX_OUTPUTS], out_received[MAX_OUTPUTS];
static uint8_t out_dtype[MAX_OUTPUTS];
static int out_known[MAX_OUTPUTS], n_outputs;
static uint32_t current_request;
static uint32_t sent_input_crc; /* zlib CRC-32 of every input byte sent under current_request */
static int done_seen;
static link_result_done done;

static void reset_outputs(void)
{
    memset(out_have, 0, sizeof out_have);
    memset(out_received, 0, sizeof out_received);
    memset(out_known, 0, sizeof out_known);
    n_outputs = 0;
    done_seen = 0;
}

static void on_output(const link_tm *tm)
{
    const uint8_t *d = tm->data;
    link_result_done result;
    if (tm->service != ICD_SERVICE_INFERENCE)
        return;
    if (tm->subtype == ICD_SUBTYPE_RESULT_DONE && link_parse_result_done(tm, &result) == 0 &&
        result.request_id == current_request) {
        done_seen = 1;
        done = result;
        return;
    }
    if (tm->subtype == ICD_SUBTYPE_OUTPUT_CHUNK && tm->data_len >= ICD_LEN_CHUNK_FIXED &&
        link_get_u32(d) == current_request) {
        uint8_t index = d[4], rank = d[6];
        size_t header = ICD_LEN_CHUNK_FIXED + 4u * rank + ICD_LEN_CHUNK_TAIL;
        uint32_t total, offset, len;
        if (index >= MAX_OUTPUTS || rank > MAX_RANK || tm->data_len < header)
            return;
        total = link_get_u32(d + ICD_LEN_CHUNK_FIXED + 4u * rank);
        offset = link_get_u32(d + ICD_LEN_CHUNK_FIXED + 4u * rank + 4);
        len = (uint32_t)(tm->data_len - header);
        if (total > MAX_OUTPUT_BYTES || offset > total || len > total - offset)
            return;
        if (out_known[index] && total != out_total[index])
            return; /* contradicts the chunks already received */
        out_total[index] = total;
        out_dtype[index] = d[5];
        out_known[index] = 1;
        if (index + 1 > n_outputs)
            n_outputs = index + 1;
        memcpy(out_data[index] + offset, d + header, len);
        for (uint32_t b = offset; b < offset + len; b++) {
            uint8_t mask = (uint8_t)(1u << (b & 7));
            if (!(out_have[index][b >> 3] & mask)) {
                out_have[index][b >> 3] |= mask;
                out_received[index]++;
            }
        }
    }
}

/* TM[200,4] arrived and every output byte it covers is here with a matching crc32. */
static int outputs_complete(void)
{
    uint32_t crc = 0;
    if (!done_seen || n_outputs == 0)
        return 0;
    for (int k = 0; k < n_outputs; k++) {
        if (!out_known[k] || out_received[k] != out_total[k])
            return 0;
        crc = link_crc32(crc, out_data[k], out_total[k]);
    }
    return crc == done.crc32;
}

static float f32_le(const uint8_t *p)
{
    uint32_t bits = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Argmax of output 0 when it is float32, else -1. */
static long top1(void)
{
    long best = -1;
    if (n_outputs < 1 || out_dtype[0] != ICD_DTYPE_FLOAT32 || out_total[0] < 4)
        return -1;
    best = 0;
    for (uint32_t i = 1; i < out_total[0] / 4; i++)
        if (f32_le(out_data[0] + 4 * i) > f32_le(out_data[0] + 4 * (size_t)best))
            best = (long)i;
    return best;
}

/* TM[200,4] reports a successful run of other input bytes than those sent. */
static int input_mismatch(void)
{
    return done_seen && done.status == 0 && done.input_crc32 != sent_input_crc;
}

/* Builds the TC[200,5] data that asks for what is missing: the missing byte ranges
 * of every output, as many as fit one packet; no range (every output) when the
 * sizes are not known (TM[200,4] lost, or an output of which no chunk arrived) or
 * when every byte is here and the CRC-32 still differs (a lost trailing output).
 * Returns the data length; *ranged says whether it carries ranges. */
static size_t resend_request(uint8_t *out, size_t cap, int *ranged)
{
    static link_range ranges[MAX_RANGES];
    size_t fit = (LINK_MAX_PACKET - LINK_TC_OVERHEAD - (opt.key_len ? LINK_AUTH_TRAILER_LEN : 0) -
                  ICD_LEN_RESEND_HEADER) / ICD_LEN_RANGE;
    size_t n = 0;
    int sizes_known = done_seen && n_outputs > 0;
    for (int k = 0; k < n_outputs && sizes_known; k++)
        sizes_known = out_known[k];
    for (int k = 0; k < n_outputs && sizes_known && n < fit; k++) {
        size_t missing = link_missing_ranges(out_have[k], out_total[k], (uint8_t)k, ranges + n, fit - n);
        n += missing < fit - n ? missing : fit - n;
    }
    *ranged = n > 0;
    return link_build_resend(current_request, ranges, n, out, cap);
}

/* Uploads record `input` (total bytes) as input 0 under request_id, keeping the
 * CRC-32 of every byte sent. 0, or -1 when a chunk was not accepted. */
static int upload(uint32_t request_id, uint8_t dtype, const uint32_t *dims, uint8_t rank, uint32_t total)
{
    size_t header = ICD_LEN_CHUNK_FIXED + 4u * rank + ICD_LEN_CHUNK_TAIL;
    size_t step = LINK_MAX_PACKET - LINK_TC_OVERHEAD - (opt.key_len ? LINK_AUTH_TRAILER_LEN : 0) - header;
    sent_input_crc = 0;
    for (uint32_t offset = 0; offset < total || (total == 0 && offset == 0); offset += (uint32_t)step) {
        uint32_t len = total - offset < step ? total - offset : (uint32_t)step;
        link_put_u32(chunk, request_id);
        chunk[4] = 0;
        chunk[5] = dtype;
        chunk[6] = rank;
        for (uint8_t i = 0; i < rank; i++)
            link_put_u32(chunk + ICD_LEN_CHUNK_FIXED + 4 * i, dims[i]);
        link_put_u32(chunk + ICD_LEN_CHUNK_FIXED + 4u * rank, total);
        link_put_u32(chunk + ICD_LEN_CHUNK_FIXED + 4u * rank + 4, offset);
        memcpy(chunk + header, input + offset, len);
        sent_input_crc = link_crc32(sent_input_crc, chunk + header, len);
        if (command(ICD_SERVICE_INFERENCE, ICD_SUBTYPE_PUT_INPUT_CHUNK, chunk, header + len, NULL, NULL) != CMD_DONE)
            return -1;
        if (total == 0)
            break;
    }
    return 0;
}

/* Output bytes received so far for current_request, TM[200,4] counting as one. */
static uint32_t progress(void)
{
    uint32_t got = (uint32_t)done_seen;
    for (int k = 0; k < n_outputs; k++)
        got += out_received[k];
    return got;
}

/* Runs request_id and collects its outputs, asking again (TC[200,5]) for what was
 * lost, until the result is whole, its inputs are known wrong, or --retries re-sends
 * in a row brought nothing new (a re-send that brings bytes is progress, not a failed
 * try, so a noisy line does not exhaust the retries; at most MAX_RESEND_ROUNDS). */
static cmd_result run_and_collect(uint32_t request_id, int *rounds)
{
    uint8_t rid[ICD_LEN_REQUEST_ID];
    cmd_result result;
    int fruitless = 0;
    *rounds = 0;
    link_put_u32(rid, request_id);
    reset_outputs();
    result = command(ICD_SERVICE_INFERENCE, ICD_SUBTYPE_RUN, rid, sizeof rid, on_output, NULL);
    for (; result == CMD_DONE && !outputs_complete() && !input_mismatch() && fruitless < opt.retries &&
           *rounds < MAX_RESEND_ROUNDS; (*rounds)++) {
        int ranged;
        size_t len = resend_request(chunk, sizeof chunk, &ranged);
        uint32_t before = progress();
        stats.resends++;
        stats.ranged_resends += (unsigned)ranged;
        result = command(ICD_SERVICE_INFERENCE, ICD_SUBTYPE_RESEND_OUTPUTS, chunk, len, on_output, NULL);
        fruitless = progress() > before ? 0 : fruitless + 1;
    }
    return result;
}

/* Uploads, runs and collects one record; returns 0 when the run succeeded and its
 * outputs and input_crc32 check. A result whose input_crc32 differs from the bytes
 * sent is never accepted: the record is staged and run again under a new request_id. */
static int infer(uint8_t dtype, const uint32_t *dims, uint8_t rank, uint32_t total)
{
    static uint32_t next_request;
    if (next_request == 0)
        next_request = (uint32_t)time(NULL) << 8;
    for (int attempt = 0; attempt <= opt.retries; attempt++) {
        cmd_result result;
        int rounds;
        current_request = next_request++;
        if (upload(current_request, dtype, dims, rank, total) != 0)
            return -1;
        result = run_and_collect(current_request, &rounds);
        if (input_mismatch()) {
            stats.input_crc_errors++;
            fprintf(stderr, "payload_fw: request %lu: TM[200,4] input_crc32 %08lx, the inputs sent have "
                            "%08lx: result refused, staging the record again\n", (unsigned long)current_request,
                    (unsigned long)done.input_crc32, (unsigned long)sent_input_crc);
            continue;
        }
        if (result == CMD_DONE && !outputs_complete())
            fprintf(stderr, "payload_fw: request %lu: outputs %s after %d re-sends (TC[200,5])\n",
                    (unsigned long)current_request, done_seen ? "incomplete or failing their crc32" :
                    "without TM[200,4]", rounds);
        return result == CMD_DONE && outputs_complete() && done.status == 0 ? 0 : -1;
    }
    fprintf(stderr, "payload_fw: request %lu: every run of %d had other inputs than those sent\n",
            (unsigned long)current_request, opt.retries + 1);
    return -1;
}

/* -- input files ---------------------------------------------------------------- */

static int npy_dtype(const char *header)
{
    static const struct { const char *descr; int code; } known[] = {
        {"'<f4'", ICD_DTYPE_FLOAT32}, {"'|u1'", ICD_DTYPE_UINT8}, {"'|i1'", ICD_DTYPE_INT8},
        {"'<i4'", ICD_DTYPE_INT32},   {"'<i8'", ICD_DTYPE_INT64}, {"'<f2'", ICD_DTYPE_FLOAT16}};
    const char *descr = strstr(header, "'descr':");
    if (descr == NULL)
        return -1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strncmp(descr + 8 + strspn(descr + 8, " "), known[i].descr, strlen(known[i].descr)) == 0)
            return known[i].code;
    return -1;
}

static int element_size(int code)
{
    switch (code) {
    case ICD_DTYPE_FLOAT32: case ICD_DTYPE_INT32: return 4;
    case ICD_DTYPE_UINT8: case ICD_DTYPE_INT8: return 1;
    case ICD_DTYPE_INT64: return 8;
    default: return 2;
    }
}

/* Opens a .npy file and reads its header; returns the stream positioned at the data. */
static FILE *open_npy(const char *path, int *dtype, uint32_t *records, uint32_t *dims, uint8_t *rank)
{
    static char header[4096];
    uint8_t pre[12];
    size_t header_len, pre_len;
    const char *shape;
    char *at;
    FILE *f = fopen(path, "rb");
    if (f == NULL || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "payload_fw: %s is not a .npy file\n", path);
        return NULL;
    }
    pre_len = pre[6] == 1 ? 10 : 12;
    if (pre_len == 12 && fread(pre + 10, 1, 2, f) != 2)
        return NULL;
    header_len = pre_len == 10 ? (size_t)(pre[8] | pre[9] << 8)
                               : (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    if (header_len >= sizeof header || fread(header, 1, header_len, f) != header_len) {
        fprintf(stderr, "payload_fw: %s: header of %zu bytes unreadable\n", path, header_len);
        return NULL;
    }
    header[header_len] = 0;
    *dtype = npy_dtype(header);
    shape = strstr(header, "'shape':");
    if (*dtype < 0 || strstr(header, "'fortran_order': False") == NULL || shape == NULL) {
        fprintf(stderr, "payload_fw: %s: need a C-order array of <f4 |u1 |i1 <i4 <i8 <f2: %s\n", path, header);
        return NULL;
    }
    at = strchr(shape, '(');
    *rank = 0;
    *records = 0;
    while (at != NULL && *at != ')') {
        long v = strtol(at + 1, &at, 10);
        if (*at != ',' && *at != ')')
            break;
        if (*rank == 0 && *records == 0)
            *records = (uint32_t)v;
        else if (*rank < MAX_RANK)
            dims[(*rank)++] = (uint32_t)v;
        if (*at == ',' && at[1] == ')')
            at++;
    }
    if (*records == 0) {
        fprintf(stderr, "payload_fw: %s: shape must be (records, dims...)\n", path);
        return NULL;
    }
    return f;
}

static int run_inputs(void)
{
    int dtype;
    uint32_t records, dims[MAX_RANK], total;
    uint8_t rank;
    FILE *expect = NULL;
    FILE *f = open_npy(opt.inputs, &dtype, &records, dims, &rank);
    if (f == NULL)
        return -1;
    total = (uint32_t)element_size(dtype);
    for (uint8_t i = 0; i < rank; i++)
        total *= dims[i];
    if (total > MAX_INPUT_BYTES) {
        fprintf(stderr, "payload_fw: records of %lu bytes, at most %u\n", (unsigned long)total, MAX_INPUT_BYTES);
        fclose(f);
        return -1;
    }
    if (opt.expect && (expect = fopen(opt.expect, "r")) == NULL) {
        fprintf(stderr, "payload_fw: cannot open %s\n", opt.expect);
        fclose(f);
        return -1;
    }
    for (uint32_t r = 0; r < records; r++) {
        char line[128] = "-", label_text[32] = "-", crc_text[32] = "-";
        if (fread(input, 1, total, f) != total) {
            fprintf(stderr, "payload_fw: %s ends before record %lu\n", opt.inputs, (unsigned long)r);
            break;
        }
        if (expect && fgets(line, sizeof line, expect))
            sscanf(line, "%31s %31s", label_text, crc_text);
        stats.records++;
        if (infer((uint8_t)dtype, dims, rank, total) != 0) {
            stats.run_failed++;
            continue;
        }
        if (strcmp(label_text, "-") != 0 && top1() != strtol(label_text, NULL, 10)) {
            stats.label_errors++;
            continue;
        }
        if (strcmp(crc_text, "-") != 0 && strtoul(crc_text, NULL, 16) != done.crc32) {
            stats.crc_errors++;
            continue;
        }
        if (opt.verbose)
            printf("record %lu: top1 %ld crc32 %08lx\n", (unsigned long)r, top1(), (unsigned long)done.crc32);
        stats.ok++;
    }
    if (expect)
        fclose(expect);
    fclose(f);
    return 0;
}

/* -- main ----------------------------------------------------------------------- */

static int parse_key(const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n == 0 || n / 2 > sizeof opt.key)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end;
        opt.key[i] = (uint8_t)strtoul(byte, &end, 16);
        if (*end)
            return -1;
    }
    opt.key_len = n / 2;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: payload_fw --port PATH [--baud N] [--apid N] [--source N] [--key HEX] "
                    "[--counter N] [--timeout-ms N] [--retries N] [--inputs FILE.npy "
                    "[--expect FILE]] [--verbose]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int ping_ok, hk_ok, passed;
    uint32_t start;
    opt.counter = (uint64_t)time(NULL) * 1000000u;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0) {
            opt.verbose = 1;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--port") == 0) opt.port = v;
        else if (strcmp(a, "--baud") == 0) opt.baud = strtol(v, NULL, 0);
        else if (strcmp(a, "--apid") == 0) opt.apid = (uint16_t)strtoul(v, NULL, 0);
        else if (strcmp(a, "--source") == 0) opt.source = (uint16_t)strtoul(v, NULL, 0);
        else if (strcmp(a, "--key") == 0) { if (parse_key(v) != 0) return usage(); }
        else if (strcmp(a, "--counter") == 0) opt.counter = strtoull(v, NULL, 0);
        else if (strcmp(a, "--timeout-ms") == 0) opt.timeout_ms = (int)strtol(v, NULL, 0);
        else if (strcmp(a, "--retries") == 0) opt.retries = (int)strtol(v, NULL, 0);
        else if (strcmp(a, "--inputs") == 0) opt.inputs = v;
        else if (strcmp(a, "--expect") == 0) opt.expect = v;
        else return usage();
    }
    if (opt.port == NULL)
        return usage();
    if (hal_uart_open(opt.port, opt.baud) != 0)
        return 1;
    link_deframer_init(&deframer);

    start = hal_millis();
    ping_ok = ping() == 0;
    printf("ping %s rtt_ms=%lu\n", ping_ok ? "ok" : "FAILED", (unsigned long)(hal_millis() - start));
    hk_ok = ping_ok && housekeeping() == 0;
    if (hk_ok && opt.inputs)
        hk_ok = run_inputs() == 0;
    hal_uart_close();

    passed = ping_ok && hk_ok && stats.ok == stats.records;
    printf("payload_fw: %s ping=%s hk=%s records=%u ok=%u run_failed=%u label_errors=%u crc_errors=%u "
           "input_crc_errors=%u tc_sent=%u retries=%u resends=%u ranged_resends=%u timeouts=%u failures=%u "
           "events=%u frames_ok=%lu frames_dropped=%lu\n",
           passed ? "PASS" : "FAIL", ping_ok ? "ok" : "failed", hk_ok ? "ok" : "failed", stats.records,
           stats.ok, stats.run_failed, stats.label_errors, stats.crc_errors, stats.input_crc_errors,
           stats.attempts, stats.retries, stats.resends, stats.ranged_resends, stats.timeouts, stats.failures,
           stats.events,
           (unsigned long)deframer.counters.frames_ok,
           (unsigned long)(deframer.counters.frames_bad_crc + deframer.counters.frames_bad_format +
                           deframer.counters.frames_oversize));
    return passed ? 0 : 1;
}
