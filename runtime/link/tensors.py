"""Tensor chunks of TC[200,1] (input) and TM[200,3] (output), and their reassembly.

Chunk layout (integers big-endian, element data little-endian C order):

    request_id u32 | index u8 | dtype u8 | rank u8 | dims u32 x rank |
    total_bytes u32 | offset u32 | data

`total_bytes` = product(dims) x element size; a chunk carries bytes
[offset, offset + len(data)) of the tensor. Chunks may arrive in any order and more
than once (re-sends); the assembler keeps the covered byte ranges and is complete when
they span the tensor. Dtype codes are ONNX TensorProto.DataType values.
"""
import math
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .packets import MAX_PACKET, TC_OVERHEAD, TM_OVERHEAD

DTYPE_CODES: Dict[int, np.dtype] = {
    1: np.dtype("<f4"), 2: np.dtype("u1"), 3: np.dtype("i1"),
    6: np.dtype("<i4"), 7: np.dtype("<i8"), 10: np.dtype("<f2"),
}
MAX_RANK = 8
_FIXED = struct.Struct(">IBBB")  # request_id, index, dtype, rank
_TAIL = struct.Struct(">II")     # total_bytes, offset


class ChunkError(ValueError):
    """A chunk whose fields contradict each other or an earlier chunk."""


def dtype_code(dtype) -> int:
    dt = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    for code, known in DTYPE_CODES.items():
        if known == dt:
            return code
    raise ValueError(f"dtype {np.dtype(dtype)} has no link code; "
                     f"supported: {sorted(str(d) for d in DTYPE_CODES.values())}")


@dataclass(frozen=True)
class TensorChunk:
    request_id: int
    index: int
    dtype: int
    dims: Tuple[int, ...]
    total_bytes: int
    offset: int
    data: bytes

    def pack(self) -> bytes:
        return (_FIXED.pack(self.request_id, self.index, self.dtype, len(self.dims))
                + struct.pack(f">{len(self.dims)}I", *self.dims)
                + _TAIL.pack(self.total_bytes, self.offset) + bytes(self.data))

    @classmethod
    def unpack(cls, payload: bytes) -> "TensorChunk":
        """Parses and checks a chunk; raises ChunkError."""
        payload = bytes(payload)
        if len(payload) < _FIXED.size:
            raise ChunkError(f"chunk of {len(payload)} bytes, shortest header is {_FIXED.size}")
        request_id, index, code, rank = _FIXED.unpack_from(payload)
        header_len = _FIXED.size + 4 * rank + _TAIL.size
        if rank > MAX_RANK:
            raise ChunkError(f"rank {rank}, largest supported {MAX_RANK}")
        if len(payload) < header_len:
            raise ChunkError(f"chunk of {len(payload)} bytes, its rank-{rank} header needs {header_len}")
        if code not in DTYPE_CODES:
            raise ChunkError(f"dtype code {code} unknown; known {sorted(DTYPE_CODES)}")
        dims = struct.unpack_from(f">{rank}I", payload, _FIXED.size)
        total, offset = _TAIL.unpack_from(payload, _FIXED.size + 4 * rank)
        data = payload[header_len:]
        expected = math.prod(dims) * DTYPE_CODES[code].itemsize  # Python int: cannot overflow
        if total != expected:
            raise ChunkError(f"total_bytes {total}, dims {dims} of dtype code {code} make {expected}")
        if offset + len(data) > total:
            raise ChunkError(f"chunk covers bytes [{offset}, {offset + len(data)}) past total_bytes {total}")
        return cls(request_id, index, code, tuple(dims), total, offset, data)


def max_chunk_data(rank: int, telemetry: bool, trailer: int = 0) -> int:
    """Largest data field of a chunk that keeps its packet within MAX_PACKET;
    `trailer` = authentication trailer bytes (TC only)."""
    overhead = (TM_OVERHEAD if telemetry else TC_OVERHEAD + trailer)
    return MAX_PACKET - overhead - (_FIXED.size + 4 * rank + _TAIL.size)


def split_tensor(request_id: int, index: int, array: np.ndarray, chunk_data: int, start: int = 0,
                 stop: Optional[int] = None) -> List[TensorChunk]:
    """Cuts bytes [start, stop) of a tensor (default: all of it) into chunks of at most
    `chunk_data` data bytes, copying only those bytes (a zero-size tensor still gets one
    empty chunk so its dims reach the other side)."""
    code = dtype_code(array.dtype)
    dims = tuple(int(d) for d in array.shape)
    if array.size == 0:
        return [TensorChunk(request_id, index, code, dims, 0, 0, b"")]
    data = memoryview(np.ascontiguousarray(array, dtype=DTYPE_CODES[code]).reshape(-1)).cast("B")
    stop = len(data) if stop is None else stop
    return [TensorChunk(request_id, index, code, dims, len(data), o, bytes(data[o:min(o + chunk_data, stop)]))
            for o in range(start, stop, chunk_data)]


class ByteRanges:
    """The byte ranges of a `total`-byte object received so far (sorted, disjoint,
    merged): received chunks may repeat, overlap and come in any order."""

    def __init__(self, total: int):
        self.total = total
        self._ranges: List[Tuple[int, int]] = []

    def add(self, offset: int, length: int) -> None:
        lo, hi = offset, offset + length
        if hi <= lo:
            return
        kept = []
        for a, b in self._ranges:
            if b < lo or a > hi:
                kept.append((a, b))
            else:
                lo, hi = min(lo, a), max(hi, b)
        kept.append((lo, hi))
        self._ranges = sorted(kept)

    @property
    def prefix(self) -> int:
        """Bytes received contiguously from offset 0."""
        return self._ranges[0][1] if self._ranges and self._ranges[0][0] == 0 else 0

    @property
    def complete(self) -> bool:
        return self.prefix == self.total

    def missing(self) -> List[Tuple[int, int]]:
        gaps, at = [], 0
        for a, b in self._ranges:
            if a > at:
                gaps.append((at, a))
            at = b
        if at < self.total:
            gaps.append((at, self.total))
        return gaps


class TensorAssembler:
    """Collects the chunks of one tensor; the first chunk fixes dtype, dims and size.
    Chunks are kept as received (a re-sent chunk at the same offset replaces the first)
    and joined by `array()`, so memory follows the bytes received, not the size a chunk
    declares (a symbolic-dim input may declare up to its cap in one small TC). Once the
    pieces hold more bytes than the tensor (overlapping re-sends), they are joined into
    one buffer of the tensor's size, so memory never exceeds about twice the tensor."""

    def __init__(self, first: TensorChunk):
        self.dtype, self.dims, self.total_bytes = first.dtype, first.dims, first.total_bytes
        self._pieces: Dict[int, bytes] = {}
        self._buffer: Optional[bytearray] = None
        self._held = 0
        self.ranges = ByteRanges(first.total_bytes)
        self.add(first)

    def matches(self, chunk: TensorChunk) -> bool:
        return (chunk.dtype, chunk.dims, chunk.total_bytes) == (self.dtype, self.dims, self.total_bytes)

    def add(self, chunk: TensorChunk) -> None:
        if not self.matches(chunk):
            raise ChunkError(f"chunk of tensor {chunk.index} has dtype code {chunk.dtype}, dims "
                             f"{chunk.dims}; earlier chunks had {self.dtype}, {self.dims}")
        if not chunk.data:
            return
        self.ranges.add(chunk.offset, len(chunk.data))
        if self._buffer is not None:
            self._buffer[chunk.offset:chunk.offset + len(chunk.data)] = chunk.data
            return
        old = self._pieces.get(chunk.offset, b"")
        self._pieces[chunk.offset] = bytes(chunk.data)
        self._held += len(chunk.data) - len(old)
        if self._held > self.total_bytes:
            self._buffer = self._joined()
            self._pieces = {}
            self._held = self.total_bytes

    @property
    def received_bytes(self) -> int:
        """Bytes held: the pieces received, or the tensor's size once joined."""
        return self._held

    def _joined(self) -> bytearray:
        buffer = bytearray(self.total_bytes)
        for offset, piece in sorted(self._pieces.items()):
            buffer[offset:offset + len(piece)] = piece
        return buffer

    @property
    def complete(self) -> bool:
        return self.ranges.complete

    def array(self) -> np.ndarray:
        if not self.complete:
            raise ChunkError(f"tensor incomplete: missing byte ranges {self.ranges.missing()}")
        buffer = self._buffer if self._buffer is not None else self._joined()
        return np.frombuffer(bytes(buffer), dtype=DTYPE_CODES[self.dtype]).reshape(self.dims).copy()
