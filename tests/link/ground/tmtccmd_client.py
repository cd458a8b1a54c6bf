"""A ground segment built on tmtccmd talks to `radrt serve` (issue 12 item 4).

Run ONLY by the ground virtual environment's python (`make ground-venv` creates
.venv-ground with the pinned tmtccmd, its own spacepackets, cobs and pyserial); it never
imports radrt, so everything it checks comes from the ICD and from tmtccmd, not from the
runtime's own code.

How it works:
- The port is opened with pyserial (`serial_for_url`: a pty path, a UART or `loop://`).
  Frames are `COBS(packet) || 0x00` (ICD §2), encoded and decoded with the `cobs` package;
  TM packets are parsed by spacepackets' `PusTm` (7-byte CDS short timestamp, CRC-16
  checked by the parser, ICD §3).
- Every TC is a spacepackets/tmtccmd PUS-C `PusTc` (the ping from tmtccmd's
  `create_service_17_ping_command`), numbered by a 14-bit `SeqCountProvider`, with ack
  flags 0xF (ICD §3: 0x1 acceptance and 0x8 completion are reported, 0x2/0x4 ignored).
- Each TC is registered with tmtccmd's service-1 verificator (`VerificationWrapper`
  around spacepackets' `PusVerificator`) and every TM[1,x] received goes into it
  (error code u16 + detail u32, ICD §4). A TC passes when the verificator's status is
  the one expected (accepted and completed success, or a failure at acceptance or at
  completion with the expected code) and it received exactly those reports, no more:
  the reports of every TC are counted per request ID until the end of the session, and
  a last ping is a barrier (the runtime answers in order, so a late duplicate report of an earlier TC
  would arrive before the ping's).
- Checks: alive TM data (ICD §4: icd_version u8; ICD v1 sent none), HK structures
  (§5), an inference with its inputs staged in TC[200,1] chunks of --chunk-bytes data
  bytes, outputs reassembled from TM[200,3] and checked against TM[200,4]'s crc32 (and,
  for ICD v2, its input_crc32 against the bytes sent), a re-send (TC[200,5]) equal to
  the first answer, and TCs that must fail at acceptance (§8 codes). ICD v2 adds: a
  byte-range re-send, requests scoped per source ID (a second source ID can neither
  re-send nor run this one's request: UNKNOWN_REQUEST), a put-input chunk of the wrong
  dtype refused at acceptance (DTYPE_MISMATCH) and counted in HK structure 2.

Prints one JSON summary on stdout; exit status 0 when every check passed, 1 when one
failed (the summary says which), 2 on a usage or link error (a message on stderr).

    .venv-ground/bin/python tests/link/ground/tmtccmd_client.py --port /dev/pts/7 \\
        --icd 2 --input x.bin --input-dtype 1 --input-dims 1,1,8,8
"""
import argparse
import json
import struct
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import serial
from cobs import cobs
from spacepackets import BytesTooShortError
from spacepackets.ecss import PusTc, PusTm
from spacepackets.ecss.pus_1_verification import RequestId, Service1Tm, UnpackParams
from spacepackets.ecss.pus_verificator import PusVerificator, StatusField
from spacepackets.ecss.tm import InvalidTmCrc16Error
from spacepackets.seqcount import SeqCountProvider
from tmtccmd.pus import VerificationWrapper
from tmtccmd.pus.s17_test import create_service_17_ping_command
from tmtccmd.version import get_version as tmtccmd_version

TIMESTAMP_LEN = 7  # CCSDS CDS short with its P-field (ICD §3)
MAX_PACKET = 4096  # ICD §2
TC_OVERHEAD = 6 + 5 + 2  # primary header, PUS-C TC secondary header, CRC
ACK_ALL = 0xF
# ICD §8 error codes used by the checks below.
BAD_SUBTYPE, BAD_ARGUMENT, DTYPE_MISMATCH, UNKNOWN_REQUEST = 2, 4, 9, 10
# ICD §5 housekeeping fields, in wire order.
HK1_U32 = ("uptime_s", "inferences_ok", "inferences_failed", "scrub_passes", "upsets_detected",
           "upsets_corrected", "uncorrectable", "vote_disagreements", "reexecutions", "frames_ok",
           "frames_bad_crc", "frames_bad_format", "frames_oversize", "tc_rejected", "auth_rejected",
           "duplicates_ignored")
HK1_U8 = ("active_slot", "protection_mode")
HK2_U32 = ("checksum_mismatches", "ops_reexecuted", "slot_integrity_failures", "inputs_refused")
ELEMENT_SIZE = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2}  # ICD §3 dtype codes


class LinkError(Exception):
    """The runtime did not answer as the ICD says within the timeout."""


class GroundLink:
    """COBS frames over a pyserial port: send a packet, receive TM packets."""

    def __init__(self, url: str, baud: int):
        self.port = serial.serial_for_url(url, baudrate=baud, timeout=0.05)
        self.buffer = bytearray()
        self.frames_bad = 0

    def send(self, packet: bytes) -> None:
        self.port.write(cobs.encode(packet) + b"\x00")

    def receive(self, deadline: float) -> PusTm:
        """The next TM packet; raises LinkError when none arrives before `deadline`
        (time.monotonic() seconds). Frames that fail COBS or CRC are counted and skipped."""
        while True:
            end = self.buffer.find(b"\x00")
            if end >= 0:
                body = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                if not body:
                    continue
                try:
                    return PusTm.unpack(cobs.decode(body), timestamp_len=TIMESTAMP_LEN)
                except (cobs.DecodeError, BytesTooShortError, InvalidTmCrc16Error, ValueError):
                    self.frames_bad += 1  # ICD §2: dropped and counted (the summary reports it)
                    continue
            if time.monotonic() > deadline:
                raise LinkError("no complete TM frame before the timeout")
            self.buffer += self.port.read(4096)

    def close(self) -> None:
        self.port.close()


SUCCESS = ("success", 0)


def fails_at_acceptance(code: int):
    return ("acceptance", code)


def fails_at_completion(code: int):
    return ("completion", code)


class Ground:
    """One controller (default source ID) running the checks; `verification_results`
    says, per TC, what tmtccmd's verificator recorded and whether it is what was expected."""

    def __init__(self, link: GroundLink, apid: int, source_id: int, timeout: float):
        self.link, self.apid, self.source_id, self.timeout = link, apid, source_id, timeout
        self.seq = SeqCountProvider(bit_width=14)
        self.verif = VerificationWrapper(PusVerificator(), None, None)
        self.reports = {}     # request ID u32 -> Counter of TM[1,x] subtypes received
        self.failures = {}    # request ID u32 -> (error code, detail) of its failure report
        self.tcs = []         # per TC: name, request ID, expectation
        self.events = []
        self.unsolicited = []

    # -- TC creation and verification ------------------------------------------------

    def tc(self, service: int, subtype: int, app_data: bytes = b"", source_id=None) -> PusTc:
        return PusTc(service=service, subservice=subtype, apid=self.apid, app_data=app_data,
                     seq_count=self.seq.get_and_increment() & 0x3FFF,
                     source_id=self.source_id if source_id is None else source_id, ack_flags=ACK_ALL)

    def exchange(self, name: str, tc: PusTc, expect=SUCCESS):
        """Sends `tc` and returns its non-verification TM, in order, once its last
        verification report arrived. `expect`: SUCCESS (acceptance and completion
        success), or fails_at_acceptance(code) / fails_at_completion(code) with an ICD §8
        code."""
        if not self.verif.add_tc(tc):
            raise LinkError(f"{name}: request ID already in the verificator (sequence count reused)")
        request_id = RequestId.from_pus_tc(tc).as_u32()
        self.tcs.append({"name": name, "service": tc.service, "subtype": tc.subservice,
                         "source_id": tc.source_id, "request_id": request_id, "expect": list(expect)})
        self.link.send(tc.pack())
        replies = []
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                tm = self.link.receive(deadline)
            except LinkError as exc:
                raise LinkError(f"{name} (request ID {request_id:08x}): {exc}") from exc
            if tm.service == 1:
                s1 = self.record_verification(tm)
                if s1.tc_req_id.as_u32() == request_id and s1.subservice in (2, 7, 8):
                    return replies
            elif tm.service == 5:
                self.events.append(event_json(tm))
            else:
                replies.append(tm)

    def record_verification(self, tm: PusTm) -> Service1Tm:
        s1 = Service1Tm.from_tm(tm, UnpackParams(timestamp_len=TIMESTAMP_LEN, bytes_err_code=2))
        request_id = s1.tc_req_id.as_u32()
        if self.verif.add_tm(s1) is None:
            self.unsolicited.append({"request_id": f"{request_id:08x}", "subtype": s1.subservice})
            return s1
        self.reports.setdefault(request_id, Counter())[s1.subservice] += 1
        if s1.has_failure_notice:
            notice = s1.failure_notice
            detail = struct.unpack(">I", notice.data)[0] if len(notice.data) == 4 else notice.data.hex()
            self.failures[request_id] = (notice.code.val, detail)
        return s1

    def failure_of(self, tc: PusTc) -> str:
        """The failure report received for `tc`, as text for error messages."""
        code, detail = self.failures.get(RequestId.from_pus_tc(tc).as_u32(), (None, None))
        return "no failure report" if code is None else f"failure report: error code {code}, detail {detail}"

    def verification_results(self):
        """Each TC with the verificator's status and the reports counted for it."""
        out = []
        by_id = {rid.as_u32(): status for rid, status in self.verif.verificator.verif_dict.items()}
        for tc in self.tcs:
            status = by_id[tc["request_id"]]
            counts = dict(self.reports.get(tc["request_id"], {}))
            code, detail = self.failures.get(tc["request_id"], (0, 0))
            stage, want_code = tc["expect"]
            if stage == "acceptance":
                verified = (status.accepted == StatusField.FAILURE and status.completed == StatusField.UNSET
                            and counts == {2: 1} and code == want_code)
            elif stage == "completion":
                verified = (status.accepted == StatusField.SUCCESS and status.completed == StatusField.FAILURE
                            and counts == {1: 1, 8: 1} and code == want_code)
            else:
                verified = (status.accepted == StatusField.SUCCESS and status.completed == StatusField.SUCCESS
                            and counts == {1: 1, 7: 1})
            out.append(dict(tc, request_id=f"{tc['request_id']:08x}", accepted=status.accepted.name,
                            completed=status.completed.name, reports={str(k): v for k, v in counts.items()},
                            error_code=code, detail=detail, verified=verified))
        return out

    # -- operations ------------------------------------------------------------------

    def ping(self, name: str = "ping") -> bytes:
        tc = create_service_17_ping_command(apid=self.apid, seq_count=self.seq.get_and_increment() & 0x3FFF)
        tc.source_id = self.source_id
        replies = self.exchange(name, tc)
        alive = [tm for tm in replies if (tm.service, tm.subservice) == (17, 2)]
        if len(alive) != 1:
            raise LinkError(f"{name}: {len(alive)} TM[17,2] replies, expected 1 ({self.failure_of(tc)})")
        return alive[0].tm_data

    def housekeeping(self, structure: int, name: str = "") -> dict:
        tc = self.tc(3, 27, struct.pack(">H", structure))
        replies = self.exchange(name or f"hk structure {structure}", tc)
        reports = [tm for tm in replies if (tm.service, tm.subservice) == (3, 25)]
        if len(reports) != 1:
            raise LinkError(f"hk structure {structure}: {len(reports)} TM[3,25], expected 1 ({self.failure_of(tc)})")
        return parse_hk(reports[0].tm_data, structure)

    def put_input(self, request_id: int, index: int, dtype: int, dims, data: bytes, chunk_bytes: int) -> int:
        """Stages one input in TC[200,1] chunks of at most chunk_bytes data bytes; returns
        how many chunks were sent."""
        offsets = range(0, len(data), chunk_bytes) if data else [0]
        for n, offset in enumerate(offsets):
            body = chunk_header(request_id, index, dtype, dims, len(data), offset) + data[offset:offset + chunk_bytes]
            if len(body) + TC_OVERHEAD > MAX_PACKET:
                raise LinkError(f"--chunk-bytes {chunk_bytes} makes a {len(body) + TC_OVERHEAD}-byte TC, "
                                f"largest packet {MAX_PACKET} (ICD §2)")
            self.exchange(f"put input {index} of request {request_id} chunk {n}", self.tc(200, 1, body))
        return len(offsets)

    def result(self, name: str, tc: PusTc, icd: int) -> dict:
        """Sends a run or re-send TC; returns its TM[200,3] chunks, the outputs they
        assemble and TM[200,4]."""
        replies = self.exchange(name, tc)
        chunks = [parse_chunk(tm.tm_data) for tm in replies if (tm.service, tm.subservice) == (200, 3)]
        done = [tm.tm_data for tm in replies if (tm.service, tm.subservice) == (200, 4)]
        if len(done) != 1:
            raise LinkError(f"{name}: {len(done)} TM[200,4], expected 1 ({self.failure_of(tc)})")
        outputs = {}
        for c in chunks:
            out = outputs.setdefault(c["index"], {"index": c["index"], "dtype": c["dtype"], "dims": c["dims"],
                                                  "data": bytearray(c["total_bytes"])})
            out["data"][c["offset"]:c["offset"] + len(c["data"])] = c["data"]
        ordered = [outputs[i] for i in sorted(outputs)]
        crc = 0
        for out in ordered:
            crc = zlib.crc32(bytes(out["data"]), crc)
        report = parse_done(done[0], icd)
        return {"done": report, "crc32_matches": crc == report["crc32"],
                "chunks": [dict(c, data=c["data"].hex()) for c in chunks],
                "outputs": [dict(o, data=bytes(o["data"]).hex()) for o in ordered]}


def chunk_header(request_id, index, dtype, dims, total_bytes, offset) -> bytes:
    """ICD §4 tensor chunk header: request_id u32, index u8, dtype u8, rank u8, dims u32 x
    rank, total_bytes u32, offset u32."""
    return (struct.pack(">IBBB", request_id, index, dtype, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
            + struct.pack(">II", total_bytes, offset))


def parse_chunk(data: bytes) -> dict:
    request_id, index, dtype, rank = struct.unpack_from(">IBBB", data)
    dims = list(struct.unpack_from(f">{rank}I", data, 7))
    total_bytes, offset = struct.unpack_from(">II", data, 7 + 4 * rank)
    return {"request_id": request_id, "index": index, "dtype": dtype, "dims": dims, "total_bytes": total_bytes,
            "offset": offset, "data": data[15 + 4 * rank:]}


def parse_done(data: bytes, icd: int) -> dict:
    """TM[200,4] (ICD §4): 16 bytes in ICD v1, 20 with input_crc32 in v2."""
    want = 20 if icd == 2 else 16
    if len(data) != want:
        raise LinkError(f"TM[200,4] of {len(data)} bytes, ICD v{icd} says {want}")
    fields = struct.unpack(">IHIIH" + ("I" if icd == 2 else ""), data)
    names = ("request_id", "status", "latency_us", "crc32", "corrected", "input_crc32")
    return dict(zip(names, fields))


def parse_hk(data: bytes, structure: int) -> dict:
    want = 2 + 4 * len(HK1_U32) + len(HK1_U8) + (1 + 4 * len(HK2_U32) if structure == 2 else 0)
    if len(data) != want:
        raise LinkError(f"TM[3,25] structure {structure}: {len(data)} bytes, ICD §5 says {want}")
    (sid,) = struct.unpack_from(">H", data)
    if sid != structure:
        raise LinkError(f"TM[3,25] structure ID {sid}, asked for {structure}")
    values = dict(zip(HK1_U32, struct.unpack_from(f">{len(HK1_U32)}I", data, 2)))
    at = 2 + 4 * len(HK1_U32)
    values.update(zip(HK1_U8, data[at:at + 2]))
    if structure == 2:
        values["icd_version"] = data[at + 2]
        values.update(zip(HK2_U32, struct.unpack_from(f">{len(HK2_U32)}I", data, at + 3)))
    return values


def event_json(tm: PusTm) -> dict:
    event_id, aux1, aux2 = struct.unpack(">HII", tm.tm_data)
    return {"severity": tm.subservice, "event_id": event_id, "aux1": aux1, "aux2": aux2}


def run(args) -> dict:
    dims = [int(d) for d in args.input_dims.split(",")]
    data = Path(args.input).read_bytes()
    expected_bytes = ELEMENT_SIZE[args.input_dtype]
    for d in dims:
        expected_bytes *= d
    if len(data) != expected_bytes:
        raise LinkError(f"--input {args.input}: {len(data)} bytes, dims {dims} of dtype code "
                        f"{args.input_dtype} need {expected_bytes}")
    v2 = args.icd == 2
    link = GroundLink(args.port, args.baud)
    g = Ground(link, args.apid, args.source_id, args.timeout)
    other = args.source_id + 1  # a second controller (ICD v2 §4: requests are per source ID)
    request_id = args.request_id
    checks, extra = {}, {}
    try:
        alive = g.ping()
        checks["alive_icd_version_ok"] = alive == (bytes([2]) if v2 else b"")
        hk = {1: g.housekeeping(1)}
        if v2:
            hk[2] = g.housekeeping(2)
        # ICD §4: inputs staged in TC[200,1] chunks, run, outputs checked by CRC-32.
        input_chunks = g.put_input(request_id, 0, args.input_dtype, dims, data, args.chunk_bytes)
        inference = g.result("run", g.tc(200, 2, struct.pack(">I", request_id)), args.icd)
        inference["input_chunks"] = input_chunks
        checks["run_ok"] = inference["done"]["status"] == 0 and inference["done"]["request_id"] == request_id
        checks["run_crc32_matches"] = inference["crc32_matches"]
        if v2:
            checks["input_crc32_matches"] = inference["done"]["input_crc32"] == zlib.crc32(data)
        # ICD §4 TC[200,5]: a re-send of every output equals the first answer.
        resend = g.result("resend", g.tc(200, 5, struct.pack(">I", request_id)), args.icd)
        checks["resend_equals_run"] = (resend["outputs"] == inference["outputs"]
                                       and resend["done"]["crc32"] == inference["done"]["crc32"])
        if v2:
            # ICD v2 §4: a byte range of output 0 comes back as exactly those bytes.
            first = bytes.fromhex(inference["outputs"][0]["data"])
            offset, length = 4, min(8, len(first) - 4)
            ranged = g.result("resend a byte range",
                              g.tc(200, 5, struct.pack(">IBII", request_id, 0, offset, length)), args.icd)
            got = b"".join(bytes.fromhex(c["data"]) for c in ranged["chunks"])
            checks["range_resend_ok"] = (got == first[offset:offset + length]
                                         and [c["offset"] for c in ranged["chunks"]][:1] == [offset])
            extra["range_resend"] = {"offset": offset, "length": length, "data": got.hex()}
            # ICD v2 §4: another source ID neither re-sends nor runs this controller's requests.
            g.exchange("resend from another source", g.tc(200, 5, struct.pack(">I", request_id), source_id=other),
                       fails_at_completion(UNKNOWN_REQUEST))
            g.put_input(request_id + 1, 0, args.input_dtype, dims, data, len(data))
            g.exchange("run from another source", g.tc(200, 2, struct.pack(">I", request_id + 1), source_id=other),
                       fails_at_completion(UNKNOWN_REQUEST))
            own = g.result("run of the staged request by its own source",
                           g.tc(200, 2, struct.pack(">I", request_id + 1)), args.icd)
            checks["own_source_run_equals_first"] = own["outputs"] == inference["outputs"]
        # TCs that must fail at acceptance (ICD §7: failures are always reported; §8 codes).
        g.exchange("unknown function ID", g.tc(8, 1, struct.pack(">H", 0x7FFF)), fails_at_acceptance(BAD_ARGUMENT))
        g.exchange("unknown subtype", g.tc(17, 99), fails_at_acceptance(BAD_SUBTYPE))
        g.exchange("unknown HK structure", g.tc(3, 27, struct.pack(">H", 99)), fails_at_acceptance(BAD_ARGUMENT))
        if v2:
            wrong = 2 if args.input_dtype != 2 else 1
            g.exchange("put input with the wrong dtype",
                       g.tc(200, 1, chunk_header(request_id + 2, 0, wrong, dims, len(data), 0)),
                       fails_at_acceptance(DTYPE_MISMATCH))
        hk_after = {1: g.housekeeping(1, "hk structure 1 after")}
        if v2:
            hk_after[2] = g.housekeeping(2, "hk structure 2 after")
        # The runtime answers in order: any late or repeated report of an earlier TC
        # would arrive before this ping's.
        g.ping("barrier ping")
    finally:
        link.close()
    tcs = g.verification_results()
    checks["every_tc_verified"] = all(t["verified"] for t in tcs)
    checks["no_unsolicited_reports"] = not g.unsolicited
    runs = 2 if v2 else 1
    checks["inferences_ok_counted"] = hk_after[1]["inferences_ok"] == hk[1]["inferences_ok"] + runs
    if v2:
        checks["hk2_icd_version_ok"] = hk[2]["icd_version"] == 2
        checks["inputs_refused_counted"] = hk_after[2]["inputs_refused"] == hk[2]["inputs_refused"] + 1
    return {"tmtccmd": tmtccmd_version(), "icd": args.icd, "alive_data": alive.hex(), "passed": all(checks.values()),
            "checks": checks, "tcs": tcs, "hk": hk, "hk_after": hk_after, "inference": inference,
            "resend": resend, **extra, "events": g.events, "unsolicited": g.unsolicited,
            "frames_bad": link.frames_bad}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", required=True, help="pty path, UART device or pyserial URL")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--apid", type=lambda s: int(s, 0), default=0x0A0)
    p.add_argument("--source-id", type=lambda s: int(s, 0), default=0x0042)
    p.add_argument("--icd", type=int, choices=(1, 2), default=2,
                   help="ICD version the runtime implements (1: alive TM without data, no HK "
                        "structure 2, 20-byte TM[200,4])")
    p.add_argument("--input", required=True, help="raw input tensor bytes (little-endian, C order)")
    p.add_argument("--input-dtype", type=int, required=True, choices=sorted(ELEMENT_SIZE))
    p.add_argument("--input-dims", required=True, help="comma-separated, e.g. 1,1,8,8")
    p.add_argument("--request-id", type=int, default=7)
    p.add_argument("--chunk-bytes", type=int, default=1024, help="data bytes per TC[200,1] chunk")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a TC's last report")
    args = p.parse_args(argv)
    if args.chunk_bytes < 1:
        p.error(f"--chunk-bytes {args.chunk_bytes}, expected >= 1")
    try:
        summary = run(args)
    except LinkError as exc:
        print(f"tmtccmd_client: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
