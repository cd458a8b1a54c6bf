"""Byte-stream transports opened by URL, and a packet link on top of one.

`open_transport(url)` goes through `serial.serial_for_url`, so one code path serves a
real UART (`/dev/ttyUSB0`), a pty (`/dev/pts/7`), `loop://` (what is written is read
back) and `socket://host:port`. Everything above this module sees only the
ByteStream interface: `write(bytes)`, `read(max_bytes, timeout) -> bytes` (returns
early with what has arrived, b"" on timeout) and `close()`.
"""
import os
import select
import time
import tty
from typing import Callable, List, Optional, Protocol, Tuple

import serial

from .framing import FrameDecoder, frame

DEFAULT_BAUD = 115200


class ByteStream(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, max_bytes: int, timeout: float) -> bytes: ...
    def close(self) -> None: ...


class SerialStream:
    """A pyserial port as a ByteStream (8N1, no flow control: ICD §2)."""

    def __init__(self, port: serial.SerialBase):
        self.port = port

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self.port.timeout != timeout:  # a change reconfigures a real port: only when needed
            self.port.timeout = timeout
        first = self.port.read(1)
        if not first:
            return b""
        waiting = self.port.in_waiting
        return first + (self.port.read(min(waiting, max_bytes - 1)) if waiting else b"")

    def close(self) -> None:
        self.port.close()


def open_transport(url: str, baudrate: int = DEFAULT_BAUD) -> SerialStream:
    """Opens a UART path, pty path, `loop://` or `socket://host:port`."""
    port = serial.serial_for_url(url, baudrate=baudrate, bytesize=serial.EIGHTBITS,
                                 parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                                 xonxoff=False, rtscts=False, dsrdtr=False, timeout=0.1)
    return SerialStream(port)


def open_pty_pair() -> Tuple[int, str]:
    """A pseudo-terminal in raw mode: (master fd, slave path). Whatever is written on one
    side is read on the other; open the slave with open_transport(path)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


class FdStream:
    """A raw file descriptor (e.g. a pty master) as a ByteStream."""

    def __init__(self, fd: int):
        self.fd = fd
        # Non-blocking: a pty master can be reported readable and still have nothing
        # to read (e.g. around a hang-up of the slave), and a blocked read never returns.
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:  # pty buffer full: wait for the reader
                select.select([], [self.fd], [], 0.1)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError:
            # A pty master reads EIO while no one holds the slave open: wait as if idle.
            time.sleep(timeout)
            return b""

    def close(self) -> None:
        os.close(self.fd)


class PacketLink:
    """Packets over a ByteStream: frames what it sends, deframes what it reads.
    `parse` is packets.parse_tm on the controller side, parse_tc on the runtime side."""

    def __init__(self, stream: ByteStream, parse: Optional[Callable[[bytes], object]] = None):
        self.stream = stream
        self.decoder = FrameDecoder(parse)
        self._pending: List[object] = []

    def send(self, packet: bytes) -> None:
        self.stream.write(frame(packet))

    def receive(self, timeout: float) -> Optional[object]:
        """The next packet, or None when `timeout` seconds pass without one."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pending.extend(self.decoder.feed(self.stream.read(4096, left)))
        return self._pending.pop(0)

    def close(self) -> None:
        self.stream.close()
