"""Serial line emulator: joins two endpoints and impairs the bytes between them.

    python -m fault_injection.line --a pty --b pty --baud 115200 --ber 1e-5 --seed 1

Each endpoint is `pty` (the emulator creates a pseudo-terminal and prints the path a
program should open, e.g. `radrt serve` on one side and `payload_fw` on the other) or
a device path / pyserial URL (a real UART: `/dev/ttyUSB0`). Bytes flow both ways,
each direction with its own seeded random stream, so a run is reproducible byte for
byte given the same traffic:
- throttling to a baud rate (8N1: 10 bits on the line per byte), so timing and
  buffering look like a real UART;
- independent bit errors at rate `ber` (per bit);
- byte drops at rate `drop` (per byte), as a UART overrun loses bytes;
- bursts: at rate `burst_rate` per byte, a burst of `burst_bits` consecutive bits
  each flipped with probability 1/2 (a noise spike).
Counted per direction: bytes in, bytes passed, bits flipped (bursts included), bytes
dropped, bursts.

Ptys never drop bytes on their own: a full pty buffer blocks the writer instead (flow
control in the kernel), unlike a UART without flow control, which overruns. Byte loss
on a pty bench therefore comes only from `drop` here.
"""
import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from runtime.errors import InvalidArgumentError
from runtime.link.transport import FdStream, open_pty_pair, open_transport

BITS_PER_BYTE_8N1 = 10  # start bit + 8 data bits + stop bit


@dataclass
class LineCounters:
    bytes_in: int = 0
    bytes_passed: int = 0
    bits_flipped: int = 0
    bytes_dropped: int = 0
    bursts: int = 0


class LineImpairment:
    """The seeded impairment of one direction; `apply` is a pure function of the
    seed and of the bytes seen so far."""

    def __init__(self, ber: float = 0.0, drop: float = 0.0, burst_rate: float = 0.0,
                 burst_bits: int = 16, seed: int = 0):
        for name, rate in (("ber", ber), ("drop", drop), ("burst_rate", burst_rate)):
            if not 0.0 <= rate <= 1.0:
                raise InvalidArgumentError(f"{name} {rate} is not a probability in [0, 1]")
        if burst_bits < 1:
            raise InvalidArgumentError(f"burst_bits {burst_bits}, expected >= 1")
        self.ber, self.drop, self.burst_rate, self.burst_bits = ber, drop, burst_rate, burst_bits
        self.rng = np.random.default_rng(seed)
        self.counters = LineCounters()

    def apply(self, data: bytes) -> bytes:
        n = len(data)
        self.counters.bytes_in += n
        if n == 0:
            return b""
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        flips = np.zeros(bits.size, dtype=bool)
        if self.ber > 0:
            count = self.rng.binomial(bits.size, self.ber)
            flips[self.rng.choice(bits.size, size=count, replace=False)] = True
        if self.burst_rate > 0:
            for start in np.flatnonzero(self.rng.random(n) < self.burst_rate) * 8:
                self.counters.bursts += 1
                end = min(start + self.burst_bits, bits.size)
                flips[start:end] ^= self.rng.random(end - start) < 0.5
        self.counters.bits_flipped += int(flips.sum())
        out = np.packbits(bits ^ flips)
        if self.drop > 0:
            keep = self.rng.random(n) >= self.drop
            self.counters.bytes_dropped += int(n - keep.sum())
            out = out[keep]
        self.counters.bytes_passed += out.size
        return out.tobytes()


class Throttle:
    """Paces writes to `baud` (10 bits per byte): a byte is released only once the
    bytes before it would have left the wire."""

    def __init__(self, baud: Optional[int]):
        self.byte_time = BITS_PER_BYTE_8N1 / baud if baud else 0.0
        self.line_free_at = 0.0

    def release(self, n: int) -> None:
        if not self.byte_time:
            return
        now = time.monotonic()
        self.line_free_at = max(self.line_free_at, now) + n * self.byte_time
        if self.line_free_at > now:
            time.sleep(self.line_free_at - now)


class SerialLine:
    """Two byte streams joined through one impairment per direction, each pumped by
    its own thread. At most `piece` bytes move at a time so throttling stays smooth."""

    def __init__(self, a, b, a_to_b: LineImpairment, b_to_a: LineImpairment,
                 baud: Optional[int] = None, piece: int = 64):
        self.a, self.b = a, b
        self.directions = {"a_to_b": a_to_b, "b_to_a": b_to_a}
        self.baud, self.piece = baud, piece
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._pump, args=(a, b, a_to_b), daemon=True),
                         threading.Thread(target=self._pump, args=(b, a, b_to_a), daemon=True)]

    def _pump(self, source, sink, impairment: LineImpairment) -> None:
        throttle = Throttle(self.baud)
        while not self._stop.is_set():
            data = source.read(self.piece, 0.05)
            if data:
                throttle.release(len(data))
                out = impairment.apply(data)
                if out:
                    sink.write(out)

    def start(self) -> "SerialLine":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def counters(self) -> dict:
        return {name: asdict(impairment.counters) for name, impairment in self.directions.items()}


def open_endpoint(spec: str, baud: int):
    """`pty` → (FdStream of a new pty master, slave path); else a port opened by URL."""
    if spec == "pty":
        master, path = open_pty_pair()
        return FdStream(master), path
    return open_transport(spec, baudrate=baud), spec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fault_injection.line",
        description="Join two serial endpoints and impair the bytes between them (seeded). "
                    "Ptys never drop bytes on their own; use --drop for overruns.")
    parser.add_argument("--a", default="pty", help="endpoint A: 'pty' (created, path printed) or a "
                        "device path / pyserial URL (default pty)")
    parser.add_argument("--b", default="pty", help="endpoint B, as --a (default pty)")
    parser.add_argument("--baud", type=int, default=0, help="throttle each direction to this rate, "
                        "10 bits per byte (default: no throttling)")
    parser.add_argument("--ber", type=float, default=0.0, help="bit error rate per bit")
    parser.add_argument("--drop", type=float, default=0.0, help="byte drop rate per byte")
    parser.add_argument("--burst-rate", type=float, default=0.0, help="burst starts per byte")
    parser.add_argument("--burst-bits", type=int, default=16, help="bits per burst (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (directions derive their own)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds "
                        "(default: until interrupted)")
    args = parser.parse_args(argv)
    impairments = [LineImpairment(args.ber, args.drop, args.burst_rate, args.burst_bits, seed=[args.seed, d])
                   for d in (0, 1)]
    a, a_name = open_endpoint(args.a, args.baud or 115200)
    b, b_name = open_endpoint(args.b, args.baud or 115200)
    print(f"A: {a_name}\nB: {b_name}", flush=True)
    line = SerialLine(a, b, impairments[0], impairments[1], baud=args.baud or None).start()
    try:
        if args.duration:
            time.sleep(args.duration)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        line.stop()
        print(json.dumps(line.counters()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
