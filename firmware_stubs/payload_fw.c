/* payload_fw: the payload controller's firmware stub (controller side of icd.md).
 *
 *   payload_fw --port PATH [--baud 115200] [--apid 0xA0] [--source 0x42]
 *              [--key HEX] [--counter N] [--timeout-ms 2000] [--retries 3]
 *              [--inputs FILE.npy [--expect FILE.txt]] [--verbose]
 *
 * It pings the runtime, reads housekeeping, then for each record of the input file
 * uploads the input (TC[200,1] chunks), runs it (TC[200,2]), collects the outputs
 * (TM[200,3], TM[200,4]), checks their CRC-32, re-requests lost outputs (TC[200,5])
 * and compares with the expectation. Every TC asks for acceptance and completion
 * reports; a TC without completion within the timeout (counted from the last packet
 * received) is sent again with the same sequence count and a new authentication
 * counter. It ends with one summary line and exits 0 only if everything passed.
 *
 * Input file: a NumPy .npy file (version 1-3, C order, dtype <f4 |u1 |i1 <i4 <i8
 * or <f2) of shape (N, d1, ..., dk): record i is one model input of dims
 * (d1, ..., dk). Expectation file (optional): line i is `LABEL [CRC32]` for record
 * i, `-` for "don't check"; LABEL is the argmax of output 0 (float32), CRC32 (hex)
 * that of all output bytes.
 *
 * Authentication counter: --counter N, else (seconds since 1970) << 20, which grows
 * across restarts as long as fewer than 2^20 TCs are sent per second.
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
#define ACK_ACCEPT_COMPLETE 0x9

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
    unsigned attempts, retries, timeouts, failures, resends, events;
    unsigned records, ok, run_failed, label_errors, crc_errors;
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

/* Reads packets until the completion of request_id, a failure report, or timeout_ms
 * without any packet. Replies other than verification and events go to on_tm. */
static cmd_result await_completion(const uint8_t request_id[4], tm_handler on_tm, reply_check have_reply)
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
        if (tm.service == 5) {
            stats.events++;
        } else if (tm.service != 1) {
            if (on_tm)
                on_tm(&tm);
        } else if (tm.data_len >= 4 && memcmp(tm.data, request_id, 4) == 0) {
            if ((tm.subtype == 2 || tm.subtype == 8) && tm.data_len >= 10) {
                fail_code = link_get_u16(tm.data + 4);
                fail_detail = link_get_u32(tm.data + 6);
                return CMD_FAILED;
            }
            if (tm.subtype == 7)
                /* A reply lost before the completion report: retry, the runtime
                 * re-sends the reports of a duplicate. */
                return (have_reply == NULL || have_reply()) ? CMD_DONE : CMD_RETRY_NOW;
        }
    }
}

/* Sends one TC (retrying with the same sequence count) and awaits its completion. */
static cmd_result command(uint8_t service, uint8_t subtype, const uint8_t *data, size_t len,
                          tm_handler on_tm, reply_check have_reply)
{
    link_tc tc = {opt.apid, next_seq, opt.source, service, subtype, ACK_ACCEPT_COMPLETE};
    uint8_t request_id[4];
    next_seq = (uint16_t)((next_seq + 1) % LINK_SEQ_MODULO);
    for (int attempt = 0; attempt <= opt.retries; attempt++) {
        link_auth auth = {opt.key_len ? opt.key : NULL, opt.key_len, ++opt.counter};
        size_t packet_len = link_build_tc(&tc, data, len, &auth, tx_packet, sizeof tx_packet);
        size_t frame_len = link_frame(tx_packet, packet_len, tx_frame, sizeof tx_frame);
        cmd_result result;
        if (packet_len == 0 || frame_len == 0) {
            fprintf(stderr, "payload_fw: TC[%u,%u] of %zu data bytes does not fit a packet\n",
                    service, subtype, len);
            return CMD_FAILED;
        }
        memcpy(request_id, tx_packet, 4);
        stats.attempts++;
        if (attempt > 0)
            stats.retries++;
        if (hal_uart_write(tx_frame, frame_len) != 0)
            return CMD_TIMEOUT;
        result = await_completion(request_id, on_tm, have_reply);
        if (result == CMD_DONE || result == CMD_FAILED) {
            if (result == CMD_FAILED) {
                stats.failures++;
                if (opt.verbose)
                    fprintf(stderr, "payload_fw: TC[%u,%u] failed: code %u detail %lu\n", service,
                            subtype, fail_code, (unsigned long)fail_detail);
            }
            return result;
        }
    }
    stats.timeouts++;
    return CMD_TIMEOUT;
}

/* -- ping and housekeeping ------------------------------------------------------ */

static int alive_seen;
static void on_alive(const link_tm *tm) { alive_seen |= tm->service == 17 && tm->subtype == 2; }
static int have_alive(void) { return alive_seen; }

#define HK_U32_COUNT 16
static uint32_t hk[HK_U32_COUNT];
static uint8_t hk_active_slot, hk_protection;
static int hk_seen;
static void on_hk(const link_tm *tm)
{
    if (tm->service != 3 || tm->subtype != 25 || tm->data_len != 2 + 4 * HK_U32_COUNT + 2)
        return;
    for (int i = 0; i < HK_U32_COUNT; i++)
        hk[i] = link_get_u32(tm->data + 2 + 4 * i);
    hk_active_slot = tm->data[2 + 4 * HK_U32_COUNT];
    hk_protection = tm->data[3 + 4 * HK_U32_COUNT];
    hk_seen = 1;
}
static int have_hk(void) { return hk_seen; }

/* -- inference ------------------------------------------------------------------ */

static uint8_t input[MAX_INPUT_BYTES];
static uint8_t chunk[LINK_MAX_PACKET];
static uint8_t out_data[MAX_OUTPUTS][MAX_OUTPUT_BYTES];
static uint8_t out_have[MAX_OUTPUTS][MAX_OUTPUT_BYTES / 8]; /* one bit per byte received */
static uint32_t out_total[MAX_OUTPUTS], out_received[MAX_OUTPUTS];
static uint8_t out_dtype[MAX_OUTPUTS];
static int out_known[MAX_OUTPUTS], n_outputs;
static uint32_t current_request;
static int done_seen;
static uint16_t done_status;
static uint32_t done_crc;

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
    if (tm->service != 200)
        return;
    if (tm->subtype == 4 && tm->data_len == 16 && link_get_u32(d) == current_request) {
        done_seen = 1;
        done_status = link_get_u16(d + 4);
        done_crc = link_get_u32(d + 10);
        return;
    }
    if (tm->subtype == 3 && tm->data_len >= 7 && link_get_u32(d) == current_request) {
        uint8_t index = d[4], rank = d[6];
        size_t header = 7 + 4u * rank + 8;
        uint32_t total, offset, len;
        if (index >= MAX_OUTPUTS || rank > MAX_RANK || tm->data_len < header)
            return;
        total = link_get_u32(d + 7 + 4u * rank);
        offset = link_get_u32(d + 11 + 4u * rank);
        len = (uint32_t)(tm->data_len - header);
        if (total > MAX_OUTPUT_BYTES || offset > total || len > total - offset)
            return;
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
    return crc == done_crc;
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
    if (n_outputs < 1 || out_dtype[0] != 1 || out_total[0] < 4)
        return -1;
    best = 0;
    for (uint32_t i = 1; i < out_total[0] / 4; i++)
        if (f32_le(out_data[0] + 4 * i) > f32_le(out_data[0] + 4 * (size_t)best))
            best = (long)i;
    return best;
}

/* Uploads, runs and collects one record; returns 0 when the run succeeded and its
 * outputs arrived intact. */
static int infer(uint32_t request_id, uint8_t dtype, const uint32_t *dims, uint8_t rank, uint32_t total)
{
    size_t header = 7 + 4u * rank + 8;
    size_t step = LINK_MAX_PACKET - LINK_TC_OVERHEAD - (opt.key_len ? LINK_AUTH_TRAILER_LEN : 0) - header;
    uint8_t rid[4];
    cmd_result result;
    link_put_u32(rid, request_id);
    current_request = request_id;
    for (uint32_t offset = 0; offset < total || (total == 0 && offset == 0); offset += (uint32_t)step) {
        uint32_t len = total - offset < step ? total - offset : (uint32_t)step;
        link_put_u32(chunk, request_id);
        chunk[4] = 0;
        chunk[5] = dtype;
        chunk[6] = rank;
        for (uint8_t i = 0; i < rank; i++)
            link_put_u32(chunk + 7 + 4 * i, dims[i]);
        link_put_u32(chunk + 7 + 4u * rank, total);
        link_put_u32(chunk + 11 + 4u * rank, offset);
        memcpy(chunk + header, input + offset, len);
        if (command(200, 1, chunk, header + len, NULL, NULL) != CMD_DONE)
            return -1;
        if (total == 0)
            break;
    }
    reset_outputs();
    result = command(200, 2, rid, 4, on_output, NULL);
    for (int resend = 0; result == CMD_DONE && !outputs_complete() && resend < opt.retries; resend++) {
        stats.resends++;
        result = command(200, 5, rid, 4, on_output, NULL);
    }
    return result == CMD_DONE && outputs_complete() && done_status == 0 ? 0 : -1;
}

/* -- input files ---------------------------------------------------------------- */

static int npy_dtype(const char *header)
{
    static const struct { const char *descr; int code; } known[] = {
        {"'<f4'", 1}, {"'|u1'", 2}, {"'|i1'", 3}, {"'<i4'", 6}, {"'<i8'", 7}, {"'<f2'", 10}};
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
    case 1: case 6: return 4;
    case 2: case 3: return 1;
    case 7: return 8;
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
    uint32_t request_base = (uint32_t)time(NULL) << 8;
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
        if (infer(request_base + r, (uint8_t)dtype, dims, rank, total) != 0) {
            stats.run_failed++;
            continue;
        }
        if (strcmp(label_text, "-") != 0 && top1() != strtol(label_text, NULL, 10)) {
            stats.label_errors++;
            continue;
        }
        if (strcmp(crc_text, "-") != 0 && strtoul(crc_text, NULL, 16) != done_crc) {
            stats.crc_errors++;
            continue;
        }
        if (opt.verbose)
            printf("record %lu: top1 %ld crc32 %08lx\n", (unsigned long)r, top1(), (unsigned long)done_crc);
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
    opt.counter = (uint64_t)time(NULL) << 20;
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
    ping_ok = command(17, 1, NULL, 0, on_alive, have_alive) == CMD_DONE;
    printf("ping %s rtt_ms=%lu\n", ping_ok ? "ok" : "FAILED", (unsigned long)(hal_millis() - start));
    hk_ok = ping_ok && command(3, 27, (const uint8_t *)"\0\1", 2, on_hk, have_hk) == CMD_DONE;
    if (hk_ok && opt.verbose)
        printf("hk uptime_s=%lu inferences_ok=%lu frames_ok=%lu active_slot=%u protection=%u\n",
               (unsigned long)hk[0], (unsigned long)hk[1], (unsigned long)hk[9], hk_active_slot, hk_protection);
    if (hk_ok && opt.inputs)
        hk_ok = run_inputs() == 0;
    hal_uart_close();

    passed = ping_ok && hk_ok && stats.ok == stats.records;
    printf("payload_fw: %s ping=%s hk=%s records=%u ok=%u run_failed=%u label_errors=%u crc_errors=%u "
           "tc_sent=%u retries=%u resends=%u timeouts=%u failures=%u events=%u frames_ok=%lu "
           "frames_dropped=%lu\n",
           passed ? "PASS" : "FAIL", ping_ok ? "ok" : "failed", hk_ok ? "ok" : "failed", stats.records,
           stats.ok, stats.run_failed, stats.label_errors, stats.crc_errors, stats.attempts, stats.retries,
           stats.resends, stats.timeouts, stats.failures, stats.events,
           (unsigned long)deframer.counters.frames_ok,
           (unsigned long)(deframer.counters.frames_bad_crc + deframer.counters.frames_bad_format +
                           deframer.counters.frames_oversize));
    return passed ? 0 : 1;
}
