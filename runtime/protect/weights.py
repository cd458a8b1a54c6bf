"""Weight copies, their baseline CRC32C per block, and the scrub that repairs them.

The weights region exists in K copies (1 for `none`, 2 for `scrub` and `dwc`,
3 for `tmr`). At load, the CRC32C of every block (default 4 KiB) is recorded
as the baseline. A scrub of a block (C: csrc/protect/scrub.c) checks every
copy against the baseline; a copy that fails is rewritten from a copy that
verifies, so the golden source is always verified before it is used. When no
copy verifies, three copies are voted bitwise and the vote is kept only if it
verifies; otherwise the block is uncorrectable, which is reported, never
hidden: `run()` then raises `UncorrectableUpsetError` until the model is
reloaded.

Memory cost: K × weights + 4 bytes per block per baseline (0.1% at 4 KiB).

`scrub_step(max_bytes)` is the incremental form (NASA cFS CS style): it checks
at most `max_bytes` of each copy from a cursor it keeps, and counts a scrub
pass each time the cursor wraps.
"""
from dataclasses import dataclass
from typing import List, Optional

from .._core import ffi, lib
from ..execute import Region, load_weights
from ..plan import MemoryPlan

DEFAULT_BLOCK_SIZE = 4096


@dataclass
class ScrubResult:
    blocks_checked: int = 0
    upsets_detected: int = 0
    upsets_corrected: int = 0
    uncorrectable: int = 0
    first_bad_block: int = -1
    first_bad_copy: int = -1
    first_uncorrectable_block: int = -1
    completed_pass: bool = False


class WeightCopies:
    def __init__(self, nbytes: int, ncopies: int, block_size: int):
        if block_size < 64 or block_size % 64:
            raise ValueError(f"scrub block size {block_size}: expected a multiple of 64 bytes, at least 64")
        self.nbytes = nbytes
        self.block_size = block_size
        self.nblocks = (nbytes + block_size - 1) // block_size
        self.copies: List[Region] = [Region(f"weights/copy{i}", nbytes) for i in range(ncopies)]
        self.baseline = ffi.new("uint32_t[]", max(self.nblocks, 1))
        self._copy_ptrs = ffi.new("uint8_t *[]", [c.ptr for c in self.copies])
        self.cursor = 0  # next block the incremental scrub checks
        self.lost_block: Optional[int] = None  # set once a block is found uncorrectable

    @classmethod
    def from_plan(cls, plan: MemoryPlan, ncopies: int, block_size: int) -> "WeightCopies":
        w = cls(plan.region_bytes["weights"], ncopies, block_size)
        load_weights(plan, w.copies[0])
        lib.radrt_crc32c_blocks(w.copies[0].ptr, w.nbytes, block_size, w.baseline)
        for c in w.copies[1:]:
            lib.radrt_copy(w.copies[0].ptr, c.ptr, w.nbytes)
        return w

    def with_copies(self, ncopies: int, block_size: int) -> "WeightCopies":
        """New copies made from copy 0 (for a protection switch: scrub this set fully first)."""
        w = WeightCopies(self.nbytes, ncopies, block_size)
        for c in w.copies:
            lib.radrt_copy(self.copies[0].ptr, c.ptr, self.nbytes)
        lib.radrt_crc32c_blocks(w.copies[0].ptr, w.nbytes, block_size, w.baseline)
        return w

    def scrub(self, first_block: int, nblocks: int) -> ScrubResult:
        report = ffi.new("radrt_scrub_report *")
        report.first_bad_block = report.first_bad_copy = report.first_uncorrectable_block = -1
        nblocks = max(0, min(nblocks, self.nblocks - first_block))
        if nblocks:
            lib.radrt_scrub_blocks(self._copy_ptrs, len(self.copies), self.nbytes, self.block_size,
                                   self.baseline, first_block, nblocks, report)
        r = ScrubResult(report.blocks_checked, report.upsets_detected, report.upsets_corrected,
                        report.uncorrectable, report.first_bad_block, report.first_bad_copy,
                        report.first_uncorrectable_block)
        if r.uncorrectable and self.lost_block is None:
            self.lost_block = r.first_uncorrectable_block
        return r

    def scrub_step(self, max_bytes: int) -> ScrubResult:
        nblocks = max(1, max_bytes // self.block_size)
        r = self.scrub(self.cursor, nblocks)
        self.cursor += nblocks
        if self.cursor >= self.nblocks:
            self.cursor = 0
            r.completed_pass = True
        return r
