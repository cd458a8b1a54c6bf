"""A storm of 100,000+ seeded fuzzed frames into PayloadService over a real session.

How it works. `StormGenerator` draws, from one seeded random stream, a mix of frames:
random bytes, valid TCs mutated (bytes, lengths, CRCs, services, subtypes, argument
lengths, length field, with and without a recomputed CRC), oversize frames, truncated
COBS, TM packets sent as TCs, TCs to a foreign APID, valid TCs of every service with
hostile arguments (huge and overflowing dims, total_bytes 0, offsets past the end,
slots out of range, unknown functions and HK structures...), whole valid inferences,
exact duplicates of earlier frames and different TCs reusing an earlier sequence
count. The bytes go to `PayloadService.receive` in random-sized pieces (frames split
across reads), on a real InferenceSession serving a tiny model (y = 3x).

The test watches every TC the decoder hands to the service (a wrapper around
`service.handle`) and keeps its own model of the ICD rules, independent of the
service's counters. Afterwards ping, one inference (checked value by value, through
the real Controller) and HK answer, and these identities hold exactly:

  frames_ok + frames_bad_crc + frames_bad_format + frames_oversize
      = non-empty frames fed (bytes between two 0x00)        ICD-2-FRAME, ICD-2-OVERSIZE, ICD-7-DROP
  frames_ok = TCs handed to the service (a dropped frame executes nothing)      ICD-7-DROP
  tc_rejected + auth_rejected = TCs answered with TM[1,2] + TCs to a foreign APID   ICD-7-ACK
  duplicates_ignored = TCs byte-identical to one of the last 64 TCs accepted
      from the same source (the test's own model of the window; see Watch)  ICD-7-DUPLICATE
  inputs_refused = TC[200,1] answered with TM[1,2] (not counting duplicates)    ICD-5-HK
  so: accepted (executed) + tc_rejected + auth_rejected + duplicates_ignored = frames_ok

(No counter counts accepted TCs: "accepted" is what is left, and the test counts it
from the replies: a TC without TM[1,2], to our APID, not a duplicate.)
"""
import random
import struct
from collections import OrderedDict

import numpy as np
from cobs import cobs
from onnx import TensorProto, helper

from runtime.link.auth import Authenticator, CounterStore, sign
from runtime.link.catalogue import ACK_ACCEPTANCE, ErrorCode, EventId, Service, Verification
from runtime.link.controller import Controller
from runtime.link.framing import MAX_ENCODED
from runtime.link.packets import MAX_PACKET, TcPacket, TmPacket, crc16, parse_tm
from runtime.link.server import SessionBackend
from runtime.link.services import DUPLICATE_WINDOW, STAGED_REQUESTS, PayloadService
from runtime.link.services.inference import MAX_CONTROLLERS
from runtime.link.slots import ModelSlots
from runtime.link.transport import PacketLink

APID = 0x0A0
SOURCES = (0x0042, 0x0043, 0x0777)
STORM_FRAMES = 100_000
SEED = 20261201
INPUT_SHAPE = (1, 4, 4)
GAIN = 3.0


# -- the generator (also used by benchmarks/link_efficiency.py) --------------------------

def _frame(packet: bytes) -> bytes:
    """COBS(packet) || 0x00 by the `cobs` package (C, fast; the test oracle of framing.py),
    also for packets longer than the ICD allows."""
    return cobs.encode(packet) + b"\x00"


def _with_crc(packet: bytes) -> bytes:
    return packet + struct.pack(">H", crc16(packet))


def _tc(service: int, subtype: int, data: bytes, seq: int, source: int = 0x42, ack: int = 0xF,
        apid: int = APID) -> bytes:
    return TcPacket(service, subtype, data, apid, seq % (1 << 14), source, ack).pack()


def _chunk(request_id: int, index: int, dtype: int, dims, total: int, offset: int, data: bytes,
           rank=None) -> bytes:
    """A TC[200,1] payload whose fields may contradict each other (`rank` apart from dims)."""
    rank = len(dims) if rank is None else rank
    return (struct.pack(">IBBB", request_id, index, dtype, rank) + struct.pack(f">{len(dims)}I", *dims)
            + struct.pack(">II", total & 0xFFFFFFFF, offset & 0xFFFFFFFF) + data)


class StormGenerator:
    """Seeded frames for a runtime serving one float32 input of `input_shape`. Each call
    of `frame()` returns the bytes of one step of the storm (one or more frames, or
    garbage that the next 0x00 ends)."""

    def __init__(self, seed: int, input_shape, model: bytes = b""):
        self.rng = random.Random(seed)
        self.shape = tuple(input_shape)
        self.input_bytes = int(np.prod(self.shape)) * 4
        self.input_data = np.arange(self.input_bytes // 4, dtype="<f4").tobytes()
        self.model = model
        self.seq = {s: 0 for s in SOURCES}
        self.recent = []  # (source, seq, frame bytes) of recent valid TCs
        self.request_ids = [self.rng.getrandbits(32) for _ in range(6)]
        self.kinds = [
            (14, self.random_bytes), (14, self.mutated), (8, self.mutated_recrc), (6, self.bad_header),
            (1, self.oversize), (4, self.truncated_cobs), (22, self.hostile), (6, self.valid),
            (8, self.duplicate), (4, self.sequence_reuse), (2, self.foreign), (2, self.tm_as_tc),
            (2, self.empty), (3, self.inference)]
        # A whole inference of a large input is many frames: keep those rare.
        self.weights = [w / 60 if kind == self.inference and self.input_bytes > 4096 else w
                        for w, kind in self.kinds]
        self._hostile = self._hostile_cases()

    def frame(self) -> bytes:
        (kind,) = self.rng.choices([k for _, k in self.kinds], self.weights)
        return kind()

    # -- valid TCs --------------------------------------------------------------------

    def next_tc(self, service, subtype, data=b"", source=None, ack=None) -> bytes:
        rng = self.rng
        source = SOURCES[0] if source is None and rng.random() < 0.7 else source or rng.choice(SOURCES)
        ack = (0xF if rng.random() < 0.3 else rng.randrange(16)) if ack is None else ack
        self.seq[source] += 1
        packet = self.sign(TcPacket(service, subtype, data, APID, self.seq[source] % (1 << 14), source, ack))
        self.recent.append((source, self.seq[source], service, subtype, packet))
        if len(self.recent) > 200:
            del self.recent[:100]
        return packet

    def sign(self, tc: TcPacket) -> bytes:
        """The packet's bytes (SignedStormGenerator adds the authentication trailer)."""
        return tc.pack()

    def put_chunks(self, request_id: int, source=None):
        """Every chunk of the input, in pieces of a random size (at most 64 pieces)."""
        steps = [s for s in (self.input_bytes, 40, 2048) if s <= 2048 and self.input_bytes <= 64 * s]
        step = self.rng.choice(steps or [2048])
        return [self.put_chunk(request_id, at, step, source) for at in range(0, self.input_bytes, step)]

    def put_chunk(self, request_id: int, offset: int, length: int, source=None) -> bytes:
        data = self.input_data[offset:offset + length]
        return self.next_tc(200, 1, _chunk(request_id, 0, 1, self.shape, self.input_bytes, offset, data),
                            source=source)

    def valid_packet(self) -> bytes:
        rng = self.rng
        choice = rng.randrange(8)
        if choice == 0:
            return self.next_tc(17, 1)
        if choice == 1:
            return self.next_tc(3, 27, struct.pack(">H", rng.choice((1, 2))))
        if choice == 2:
            return self.next_tc(201, 4, bytes([rng.randrange(4)]))
        if choice == 3:
            return self.next_tc(200, 2, struct.pack(">I", rng.choice(self.request_ids)))
        if choice == 4:
            return self.next_tc(200, 5, struct.pack(">I", rng.choice(self.request_ids)))
        if choice == 5:
            return self.next_tc(8, 1, struct.pack(">HB", 1, rng.randrange(5)))  # SET_PROTECTION
        if choice == 6:
            return self.next_tc(8, 1, struct.pack(">H", 2))  # SCRUB_NOW
        return self.put_chunk(rng.choice(self.request_ids), rng.randrange(0, self.input_bytes, 4), 40)

    def valid(self) -> bytes:
        return _frame(self.valid_packet())

    def inference(self) -> bytes:
        """A whole inference: every input chunk, run, sometimes a re-send (ranged or not)."""
        rng = self.rng
        request_id = rng.choice(self.request_ids)
        source = rng.choice(SOURCES)
        packets = self.put_chunks(request_id, source=source)
        packets.append(self.next_tc(200, 2, struct.pack(">I", request_id), source=source))
        if rng.random() < 0.3:
            ranges = b"".join(struct.pack(">BII", 0, rng.randrange(self.input_bytes), rng.randrange(1, 64))
                              for _ in range(rng.randrange(3)))
            packets.append(self.next_tc(200, 5, struct.pack(">I", request_id) + ranges, source=source))
        return b"".join(_frame(p) for p in packets)

    # -- hostile arguments, each on a valid packet ---------------------------------------------

    def hostile_data(self):
        """(service, subtype, data) of a valid packet with hostile arguments."""
        return self.rng.choice(self._hostile)()

    def _hostile_cases(self):
        """One function per case, so a draw builds only the case it picks."""
        rng = self.rng
        n = self.input_bytes
        overflow = (0xFFFFFFFF,) * 8

        def rid():
            return rng.choice(self.request_ids)
        return [
            lambda: (17, 1, b"\x00"),
            lambda: (3, 27, struct.pack(">H", rng.choice((0, 3, 0xFFFF)))),
            lambda: (3, 27, b"\x00"), lambda: (3, 27, b"\x00\x01\x00"),
            lambda: (8, 1, b""), lambda: (8, 1, b"\x00"),
            lambda: (8, 1, struct.pack(">H", rng.choice((0, 5, 0xFFFF)))),
            lambda: (8, 1, struct.pack(">HB", 1, rng.randrange(5, 256))),       # unknown protection mode
            lambda: (8, 1, struct.pack(">H", 1)), lambda: (8, 1, struct.pack(">HBB", 1, 0, 0)),
            lambda: (8, 1, struct.pack(">HB", 2, 0)),                            # SCRUB_NOW with an argument
            lambda: (8, 1, struct.pack(">HB", 3, rng.randrange(4, 256))),       # ACTIVATE_SLOT out of range
            lambda: (8, 1, struct.pack(">HB", 3, rng.choice((0, 2, 3)))),       # ACTIVATE_SLOT of an empty slot
            lambda: (8, 1, struct.pack(">HB", 4, rng.randrange(256))),          # RESET_COUNTERS with an argument
            lambda: (200, 1, _chunk(rid(), 0, 1, overflow, 0, 0, b"\x01" * 8)),  # dims overflow 64 bits, total 0
            lambda: (200, 1, _chunk(rid(), 0, 1, (0xFFFF, 0xFFFF), 0xFFFC0004, 0, b"\x01")),  # 16 GiB declared
            lambda: (200, 1, _chunk(rid(), 0, 1, (4096, 4096), 64 << 20, 0, b"\x01")),       # 64 MiB declared
            lambda: (200, 1, _chunk(rid(), rng.randrange(256), 1, (1 << 20,), 4 << 20, 0, b"")),
            lambda: (200, 1, _chunk(rid(), 0, 1, (0,), 0, 0, b"")),                          # zero-size tensor
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, 0, 0, b"")),                    # total_bytes 0
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, n, b"\x01")),                # offset past the end
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, 0xFFFFFFFF, b"\x01\x02")),   # offset + len wraps
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, n - 10, bytes(11))),         # data past the end
            lambda: (200, 1, _chunk(rid(), 0, rng.choice((0, 2, 7, 99, 255)), self.shape, n, 0, b"\x01")),
            lambda: (200, 1, _chunk(rid(), rng.randrange(1, 256), 1, self.shape, n, 0, b"\x01")),  # no such input
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, 0, b"", rank=rng.randrange(9, 256))),
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, 0, b"", rank=len(self.shape) + 1)),
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape[::-1] + (1,), n, 0, b"\x01")),
            lambda: (200, 1, _chunk(rid(), 0, 1, self.shape, n, 0, b"")[:rng.randrange(16)]),  # short header
            lambda: (200, 2, struct.pack(">I", rng.getrandbits(32))), lambda: (200, 2, b"\x00" * rng.choice((0, 3, 5))),
            lambda: (200, 5, struct.pack(">I", rng.getrandbits(32))), lambda: (200, 5, b"\x00\x01"),
            lambda: (200, 5, struct.pack(">IBII", rid(), rng.randrange(256), 0xFFFFFFFF, 0xFFFFFFFF)),
            lambda: (200, 5, struct.pack(">IBII", rid(), 0, n, 1)),                 # range past the end
            lambda: (200, 5, struct.pack(">IBI", rid(), 0, 0)),                     # truncated range
            lambda: (200, 5, struct.pack(">I", rid()) + struct.pack(">BII", 0, rng.randrange(64), 1) * 40),
            lambda: (200, rng.choice((0, 3, 4, 6, 255)), struct.pack(">I", rid())),
            lambda: (201, 1, struct.pack(">BI", rng.randrange(4, 256), 100) + bytes(32)),    # slot out of range
            lambda: (201, 1, struct.pack(">BI", 2, rng.choice((0, (256 << 20) + 1, 0xFFFFFFFF))) + bytes(32)),
            lambda: (201, 1, struct.pack(">BI", 2, 64) + bytes(rng.randrange(32))),
            lambda: (201, 1, struct.pack(">BI", rng.choice((2, 3)), rng.choice((8, rng.randrange(1, 200))))
                 + rng.randbytes(32)),
            lambda: (201, 1, struct.pack(">BI", 1, 100) + bytes(32)),                        # the active slot
            lambda: (201, 2, struct.pack(">BI", rng.choice((2, 3)), 0) + rng.randbytes(8)),
            lambda: (201, 2, struct.pack(">BI", rng.randrange(256), rng.choice((0, 50, 1 << 31, 0xFFFFFFFF)))
                 + rng.randbytes(rng.randrange(64))),
            lambda: (201, 2, b"\x02\x00"),
            lambda: (201, 3, bytes([rng.randrange(256)])), lambda: (201, 3, b""), lambda: (201, 3, b"\x02\x00"),
            lambda: (201, 4, bytes([rng.randrange(4, 256)])), lambda: (201, 4, b""),
            lambda: (201, rng.choice((0, 5, 6, 255)), b"\x00"),
            lambda: (rng.choice((0, 2, 4, 6, 9, 20, 128, 199, 202, 255)), rng.randrange(256), rng.randbytes(4)),
            lambda: (17, rng.choice((0, 2, 3, 255)), b""),
        ]

    def hostile(self) -> bytes:
        return _frame(self.next_tc(*self.hostile_data()))

    # -- broken frames ------------------------------------------------------------------

    def random_bytes(self) -> bytes:
        rng = self.rng
        return rng.randbytes(rng.randrange(1, 120)) + (b"\x00" if rng.random() < 0.8 else b"")

    def mutated(self) -> bytes:
        """A valid frame with 1-4 bytes changed anywhere (COBS codes included)."""
        rng = self.rng
        raw = bytearray(_frame(self.valid_packet() if rng.random() < 0.5 else self.next_tc(*self.hostile_data())))
        for _ in range(rng.randrange(1, 5)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw) + b"\x00"

    def mutated_recrc(self) -> bytes:
        """A valid packet with bytes changed, inserted or cut, then a correct CRC: it
        reaches the packet parser and the services."""
        rng = self.rng
        packet = bytearray(self.valid_packet()[:-2])
        how = rng.randrange(4)
        if how == 0:
            for _ in range(rng.randrange(1, 3)):
                packet[rng.randrange(len(packet))] = rng.randrange(256)
        elif how == 1:  # argument bytes added, length field kept consistent
            packet += rng.randbytes(rng.randrange(1, 40))
        elif how == 2:  # argument bytes cut, length field kept consistent
            packet = packet[:max(11, len(packet) - rng.randrange(1, 12))]
        else:  # service and subtype
            packet[7], packet[8] = rng.randrange(256), rng.randrange(256)
        if how in (1, 2):
            struct.pack_into(">H", packet, 4, len(packet) + 2 - 7)
        return _frame(_with_crc(bytes(packet)))

    def bad_header(self) -> bytes:
        """Length field, version, type, flags or PUS version wrong, or the CRC wrong."""
        rng = self.rng
        packet = bytearray(self.valid_packet())
        how = rng.randrange(6)
        if how == 0:
            struct.pack_into(">H", packet, 4, rng.randrange(0x10000))
        elif how == 1:
            packet[0] |= rng.choice((0x20, 0x40, 0xE0))  # CCSDS version
        elif how == 2:
            packet[0] &= ~0x08 & 0xFF  # secondary header flag
        elif how == 3:
            packet[2] &= 0x3F  # segmented
        elif how == 4:
            packet[6] = (rng.choice((0, 1, 3, 15)) << 4) | (packet[6] & 0xF)  # PUS version
        else:
            packet[-1] ^= 1 << rng.randrange(8)
            return _frame(bytes(packet))
        return _frame(_with_crc(bytes(packet[:-2])))

    def oversize(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:  # no 0x00 for longer than the largest encoded frame
            return rng.randbytes(MAX_ENCODED + rng.randrange(1, 300)).replace(b"\x00", b"\x01") + b"\x00"
        # valid COBS of a packet longer than 4096 bytes, correct length field and CRC
        body = _tc(200, 1, rng.randbytes(MAX_PACKET - 13 + rng.randrange(1, 40)), 1)
        return _frame(body)

    def truncated_cobs(self) -> bytes:
        encoded = _frame(self.valid_packet())[:-1]
        return encoded[:self.rng.randrange(1, len(encoded))] + b"\x00"

    def tm_as_tc(self) -> bytes:
        return _frame(TmPacket(17, 2, b"\x02", APID, self.rng.randrange(1 << 14), 0, 0x42).pack())

    def foreign(self) -> bytes:
        rng = self.rng
        return _frame(_tc(17, 1, b"", rng.randrange(1 << 14), 0x42, 0xF, apid=rng.choice((0, 0x0A1, 0x7FF))))

    def empty(self) -> bytes:
        return b"\x00" * self.rng.randrange(1, 4)

    # -- repeats ------------------------------------------------------------------------

    def duplicate(self) -> bytes:
        """An earlier TC sent again byte for byte (a controller's retry)."""
        if not self.recent:
            return self.valid()
        return _frame(self.rng.choice(self.recent[-80:])[4])

    def sequence_reuse(self) -> bytes:
        """A different TC with the source and sequence count of an earlier one."""
        if not self.recent:
            return self.valid()
        source, seq, _, _, _ = self.rng.choice(self.recent[-60:])
        return _frame(_tc(17, 1, b"", seq, source, 0xF) if self.rng.random() < 0.5 else
                     _tc(3, 27, struct.pack(">H", 1), seq, source, 0x9))

    def planted(self) -> bytes:
        """Once, early: an upload of the served model into slot 1 and its activation, an
        upload of garbage with a right hash into slot 3 (MODEL_INVALID at commit), and one
        whose bytes do not match its hash into slot 2 (HASH_MISMATCH)."""
        import hashlib
        out = []
        for slot, blob in ((1, self.model), (3, b"not an onnx model")):
            out.append(self.next_tc(201, 1, struct.pack(">BI", slot, len(blob)) + hashlib.sha256(blob).digest(),
                                    source=0x42, ack=0xF))
            for at in range(0, len(blob), 3000):
                out.append(self.next_tc(201, 2, struct.pack(">BI", slot, at) + blob[at:at + 3000],
                                        source=0x42, ack=0xF))
            out.append(self.next_tc(201, 3, bytes([slot]), source=0x42, ack=0xF))
        out.append(self.next_tc(8, 1, struct.pack(">HB", 3, 1), source=0x42, ack=0xF))
        out.append(self.next_tc(201, 1, struct.pack(">BI", 2, 8) + bytes(32), source=0x42, ack=0xF))
        out.append(self.next_tc(201, 2, struct.pack(">BI", 2, 0) + bytes(8), source=0x42, ack=0xF))
        out.append(self.next_tc(201, 3, b"\x02", source=0x42, ack=0xF))  # HASH_MISMATCH
        return b"".join(_frame(p) for p in out)


class SignedStormGenerator(StormGenerator):
    """Signs the TCs it makes with `key` and a rising counter (ICD §7 trailer), except a
    share: signed with a wrong key, with an earlier counter (a replay), with no trailer,
    or with a counter beyond the forward window (2^56 ahead, up to 2^64 - 1).
    TCs to a foreign APID, TM-as-TC and sequence reuse stay unsigned."""

    def __init__(self, seed: int, input_shape, model: bytes, key: bytes):
        super().__init__(seed, input_shape, model)
        self.key = key
        self.counter = 1000  # the last counter given to a well-signed TC

    def sign(self, tc: TcPacket) -> bytes:
        draw = self.rng.random()
        if draw < 0.04:
            return sign(tc, bytes(32), self.counter + 1)  # wrong key
        if draw < 0.08:
            return sign(tc, self.key, self.rng.randrange(1, self.counter))  # earlier counter
        if draw < 0.10:
            return tc.pack()  # no trailer
        if draw < 0.12:  # 2^56 or more past any counter the runtime accepted, up to 2^64 - 1
            return sign(tc, self.key, min((1 << 64) - 1, self.counter + (1 << 56) + self.rng.getrandbits(60)))
        self.counter += 1
        return sign(tc, self.key, self.counter)


def storm(seed: int, frames: int, input_shape, model: bytes = b"", key: bytes = b""):
    """The storm as one byte string ending with 0x00, and its generator. `frames` steps
    (each is one or more frames, or garbage); with `model`, the planted uploads first;
    with `key`, TCs are signed (SignedStormGenerator)."""
    generator = (SignedStormGenerator(seed, input_shape, model, key) if key
                 else StormGenerator(seed, input_shape, model))
    parts = [generator.planted()] if model else []
    parts += [generator.frame() for _ in range(frames)]
    return b"".join(parts) + b"\x00", generator


def storm_bytes(seed: int, frames: int, input_shape, model: bytes = b""):
    """The unsigned storm's bytes and its number of steps (benchmarks/link_efficiency.py)."""
    return storm(seed, frames, input_shape, model)[0], frames


def non_empty_frames(data: bytes) -> int:
    """Frames a receiver sees in `data` that ends with 0x00: non-empty runs between 0x00s."""
    return sum(1 for body in data.split(b"\x00")[:-1] if body)


# -- the test ------------------------------------------------------------------------

def gain_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, INPUT_SHAPE)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, INPUT_SHAPE)
    gain = helper.make_tensor("gain", TensorProto.FLOAT, (), [GAIN])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "gain"], ["y"])], "gain", [x], [y],
                              initializer=[gain])
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


class Watch:
    """Wraps `service.handle`: counts what the decoder hands over and classifies each TC
    from its replies, with its own model of the duplicate window, and samples the bytes
    staged for inputs after every put-input TC.

    The window model is ICD v2 §7's: the last 64 TCs *accepted* from each source (a TC
    refused at acceptance or by authentication is not recorded, so its identical re-send
    is handled in full again), kept for the MAX_CONTROLLERS source IDs heard most
    recently (runtime/link/services/service.py `_heard`: a TC that passes authentication
    makes its source the most recent; a source pushed out loses its window)."""

    def __init__(self, service: PayloadService):
        self.service = service
        self.handled = self.foreign = self.acceptance_failures = self.accepted = self.duplicates = 0
        self.auth_failures = self.auth_events = 0
        self.put_inputs_refused = 0
        self.errors = {}  # failure code -> count (TM[1,2] and TM[1,8], re-sent ones included)
        self.acceptance_report_violations = []
        self.windows = {}  # source -> OrderedDict(packet bytes -> acceptance reports it got)
        self.heard = OrderedDict()  # source IDs, most recently heard last
        self.max_staged = 0
        self.inner = service.handle
        service.handle = self.handle

    def handle(self, tc):
        packets = self.inner(tc)
        self.handled += 1
        if tc.apid != self.service.apid:
            self.foreign += 1
            assert packets == [], "a TC to another APID got an answer"
            return packets
        kinds = [(p[7], p[8]) for p in packets]
        codes = []
        for p in packets:
            if p[7] == Service.VERIFICATION and p[8] in (Verification.ACCEPTANCE_FAILURE,
                                                         Verification.COMPLETION_FAILURE):
                codes.append(struct.unpack_from(">H", p, 24)[0])
                self.errors[codes[-1]] = self.errors.get(codes[-1], 0) + 1
            elif p[7] == Service.EVENTS and struct.unpack_from(">H", p, 20)[0] == EventId.AUTH_FAILURE:
                self.auth_events += 1
        acceptance = kinds.count((1, 1)) + kinds.count((1, 2))
        raw = tc.pack()
        window = self.windows.get(tc.source_id, {})
        if raw in window:
            self.duplicates += 1
            expected_acceptance = window[raw]  # the reports of the first one, again
        elif set(codes) & AUTH_CODES:  # refused by authentication: not heard, not recorded
            self.auth_failures += 1
            expected_acceptance = 1
        else:
            self.heard[tc.source_id] = None
            self.heard.move_to_end(tc.source_id)
            while len(self.heard) > MAX_CONTROLLERS:
                self.windows.pop(self.heard.popitem(last=False)[0], None)
            if (1, 2) in kinds:  # refused at acceptance: not recorded
                self.acceptance_failures += 1
                if (tc.service, tc.subtype) == (200, 1):
                    self.put_inputs_refused += 1
                expected_acceptance = 1  # failures are always reported
            else:
                self.accepted += 1
                expected_acceptance = tc.ack_flags & ACK_ACCEPTANCE
                window = self.windows.setdefault(tc.source_id, OrderedDict())
                window[raw] = expected_acceptance
                while len(window) > DUPLICATE_WINDOW:
                    window.popitem(last=False)
        if acceptance != expected_acceptance and len(self.acceptance_report_violations) < 5:
            self.acceptance_report_violations.append((tc, kinds))
        if (tc.service, tc.subtype) == (200, 1):
            self.max_staged = max(self.max_staged, self.service.inference.staged_bytes())
        return packets


AUTH_CODES = {ErrorCode.AUTH_FAILED, ErrorCode.REPLAY, ErrorCode.COUNTER_WINDOW}


class ServiceStream:
    """A ByteStream whose far end is the service: what is written is received, and
    the service's replies are what is read (the Controller's transport in-process)."""

    def __init__(self, service: PayloadService):
        self.service, self.pending = service, bytearray()
        self.fed = bytearray()

    def write(self, data: bytes) -> None:
        self.fed += data
        self.pending += self.service.receive(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        out = bytes(self.pending[:max_bytes])
        del self.pending[:max_bytes]
        return out

    def close(self) -> None:
        pass


def served(tmp_path, key: bytes = b""):
    """A PayloadService over a real session serving gain_model(), and the model bytes."""
    model = gain_model()
    backend = SessionBackend("none")
    backend.load_model(model)
    auth = Authenticator(key, CounterStore()) if key else None
    return PayloadService(backend, ModelSlots(tmp_path / "slots"), apid=APID, authenticator=auth), model


def storm_then_operate(service: PayloadService, blob: bytes, key: bytes = b"", counter: int = 0):
    """Feeds `blob` in random-sized reads (frames split anywhere), then pings, runs one
    inference (checked value by value) and reads HK structure 2 through the real
    Controller. Returns (hk, watch, bytes fed in all)."""
    watch = Watch(service)
    stream = ServiceStream(service)
    rng = random.Random(SEED)
    at = 0
    try:
        while at < len(blob):
            step = rng.randrange(1, 8192)
            service.receive(blob[at:at + step])
            at += step
        ctl = Controller(PacketLink(stream, parse_tm), source_id=0x42, timeout=0.01, retries=0,
                         key=key or None, counter=CounterStore(initial=counter))
        ctl.ping()
        x = np.random.default_rng(SEED).standard_normal(INPUT_SHAPE).astype(np.float32)
        result = ctl.infer([x], request_id=0x5EED)
        np.testing.assert_array_equal(result.outputs[0], x * np.float32(GAIN))
        hk = ctl.hk(2)
    finally:
        if service.backend.session is not None:
            service.backend.session.close()
    return hk, watch, blob + bytes(stream.fed)


def assert_counters_add_up(hk: dict, watch: "Watch", fed: bytes) -> None:
    """The identities of the module docstring, exactly."""
    assert hk["frames_ok"] + hk["frames_bad_crc"] + hk["frames_bad_format"] + hk["frames_oversize"] \
        == non_empty_frames(fed)
    assert hk["frames_ok"] == watch.handled
    assert hk["tc_rejected"] == watch.acceptance_failures + watch.foreign
    assert hk["auth_rejected"] == watch.auth_failures == watch.auth_events
    assert hk["duplicates_ignored"] == watch.duplicates
    assert watch.accepted + hk["tc_rejected"] + hk["auth_rejected"] + hk["duplicates_ignored"] == hk["frames_ok"]
    assert hk["inputs_refused"] == watch.put_inputs_refused
    assert watch.acceptance_report_violations == []
    assert ErrorCode.INTERNAL not in watch.errors, watch.errors


def test_storm_of_100000_fuzzed_frames_leaves_the_link_working_and_counted(tmp_path):
    """ICD-2-FRAME, ICD-2-OVERSIZE (resync at 0x00, oversize dropped and counted),
    ICD-7-DROP (bad frames dropped and counted, nothing of them executed), ICD-7-ACK
    (exactly one acceptance report when asked, failures always reported), ICD-7-DUPLICATE
    (an identical packet from the same source is answered again, not executed),
    ICD-7-OVERFLOW and ICD-4-PUT-INPUT (huge and overflowing declared inputs refused
    before allocation: nothing larger than the model's inputs is staged), ICD-5-HK
    (structure 2 counters): after 100,000 seeded fuzzed frames, ping, one inference
    (ICD-4-CONTROLLER-CHECK through the real Controller) and HK answer, no TC ended in
    INTERNAL, and the counters add up exactly."""
    service, model = served(tmp_path)
    blob, _ = storm(SEED, STORM_FRAMES, INPUT_SHAPE, model)
    hk, watch, fed = storm_then_operate(service, blob)
    assert non_empty_frames(fed) > STORM_FRAMES
    assert_counters_add_up(hk, watch, fed)
    assert hk["auth_rejected"] == 0  # no key: nothing is authenticated
    # Every kind of failure was met.
    for code in (ErrorCode.BAD_SERVICE, ErrorCode.BAD_SUBTYPE, ErrorCode.BAD_LENGTH, ErrorCode.BAD_ARGUMENT,
                 ErrorCode.SHAPE_MISMATCH, ErrorCode.DTYPE_MISMATCH, ErrorCode.UNKNOWN_REQUEST,
                 ErrorCode.SLOT_BUSY, ErrorCode.HASH_MISMATCH, ErrorCode.MODEL_INVALID):
        assert watch.errors.get(code, 0) > 0, f"the storm never met {code.name}: {watch.errors}"
    # Every class of frame was met often.
    for name in ("frames_bad_crc", "frames_bad_format", "frames_oversize", "duplicates_ignored"):
        assert hk[name] > 500, (name, hk)
    assert watch.accepted > 20_000 and hk["inferences_ok"] > 1000, (watch.accepted, hk)
    # Staged inputs never exceeded the model's input bytes x the staged-request limit.
    limit = int(np.prod(INPUT_SHAPE)) * 4 * STAGED_REQUESTS
    assert 0 < watch.max_staged <= limit


def test_authenticated_storm_counts_refusals_and_answers_duplicates_without_the_counter(tmp_path):
    """ICD-7-AUTH (a wrong MAC, an earlier counter or no trailer gets TM[1,2] and
    AUTH_FAILURE only, counted in auth_rejected), ICD-7-COUNTER-WINDOW (counters 2^56
    and more ahead are refused and never move the stored counter: no lockout),
    ICD-7-DUPLICATE (an identical signed packet is answered as a duplicate, not refused
    as a replay): 20,000 seeded frames with a key, then ping, inference and HK signed
    with the next counter after the last good one, and the counters add up exactly."""
    key = bytes(range(32))
    service, model = served(tmp_path, key)
    blob, generator = storm(SEED + 1, 20_000, INPUT_SHAPE, model, key)
    hk, watch, fed = storm_then_operate(service, blob, key, counter=generator.counter)
    assert_counters_add_up(hk, watch, fed)
    assert hk["auth_rejected"] > 1000 and hk["duplicates_ignored"] > 200, hk
    assert watch.errors.get(ErrorCode.AUTH_FAILED, 0) > 500 and watch.errors.get(ErrorCode.REPLAY, 0) > 500
    assert watch.errors.get(ErrorCode.COUNTER_WINDOW, 0) > 100, watch.errors
    assert hk["inferences_ok"] > 100, hk
