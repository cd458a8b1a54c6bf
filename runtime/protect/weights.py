"""Weight copies, their baseline CRC32C per block, and the scrub that repairs them.

The weights region exists in K copies (1 for `none`, 2 for `scrub` and `dwc`,
3 for `tmr`). At load, the CRC32C of every block (default 4 KiB) is recorded
as the baseline. A scrub of a block (C: csrc/protect/scrub.c) checks every
copy against the baseline; a copy that fails is rewritten from a copy that
verifies, so the golden source is always verified before it is used. When no
copy verifies, three copies are voted bitwise and the vote is kept only if it
verifies; failing that, the block is rebuilt from the memory plan's arrays of the
model's weights (every session holds them) and kept if it verifies; otherwise the
block is uncorrectable, which is reported, never
hidden: `run()` then raises `UncorrectableUpsetError` until the model is
reloaded.

A lost (uncorrectable) block is recorded once in `lost_blocks` and left out of
later scrubs: nothing can repair it, and counting it again on every pass would
count scrub passes, not upsets. `ScrubResult.uncorrectable` is therefore the
number of blocks newly found lost.

Memory cost: K × weights + 4 bytes per block per baseline (0.1% at 4 KiB).

`scrub_step(max_bytes)` is the incremental form (NASA cFS CS style): it checks
at most `max_bytes` of each copy from a cursor it keeps, and counts a scrub
pass each time the cursor wraps.
"""
from dataclasses import dataclass
from typing import List, Optional, Set

from .._core import ffi, lib
from ..arguments import check_integer
from ..errors import InvalidArgumentError
from ..execute import Region, load_weights
from ..plan import MemoryPlan

DEFAULT_BLOCK_SIZE = 4096
MAX_BLOCK_SIZE = 1 << 30


def check_block_size(block_size: int) -> int:
    """`block_size` if it is a multiple of 64 bytes from 64 to 1 GiB; else InvalidArgumentError."""
    block_size = check_integer("scrub_block_size", block_size, 64, MAX_BLOCK_SIZE)
    if block_size % 64:
        raise InvalidArgumentError(f"scrub_block_size must be a multiple of 64 bytes, got {block_size}",
                                   argument="scrub_block_size", value=block_size)
    return block_size


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
        check_block_size(block_size)
        self.nbytes = nbytes
        self.block_size = block_size
        self.nblocks = (nbytes + block_size - 1) // block_size
        self.copies: List[Region] = [Region(f"weights/copy{i}", nbytes) for i in range(ncopies)]
        self.baseline = ffi.new("uint32_t[]", max(self.nblocks, 1))
        self._copy_ptrs = ffi.new("uint8_t *[]", [c.ptr for c in self.copies])
        self.cursor = 0  # next block the incremental scrub checks
        self.lost_blocks: Set[int] = set()  # blocks found uncorrectable; never scrubbed again
        # The last-resort source: the memory plan's own arrays of the model's weights (held by
        # every session), laid out as the region. Used only for a block no copy verifies, and
        # only if it verifies against the baseline CRC itself.
        self.plan: Optional[MemoryPlan] = None

    @property
    def lost_block(self) -> Optional[int]:
        """The lowest lost block, or None while every block verifies or was repaired."""
        return min(self.lost_blocks) if self.lost_blocks else None

    def lost_message(self) -> str:
        """What `UncorrectableUpsetError` says about the lost blocks."""
        first = self.lost_block
        more = f" ({len(self.lost_blocks)} blocks lost)" if len(self.lost_blocks) > 1 else ""
        return (f"weights block {first} (bytes {first * self.block_size} to "
                f"{min((first + 1) * self.block_size, self.nbytes) - 1}){more} was hit by upsets "
                f"that no copy can repair; reload the model")

    @classmethod
    def from_plan(cls, plan: MemoryPlan, ncopies: int, block_size: int) -> "WeightCopies":
        w = cls(plan.region_bytes["weights"], ncopies, block_size)
        load_weights(plan, w.copies[0])
        lib.radrt_crc32c_blocks(w.copies[0].ptr, w.nbytes, block_size, w.baseline)
        for c in w.copies[1:]:
            lib.radrt_copy(w.copies[0].ptr, c.ptr, w.nbytes)
        w.plan = plan
        return w

    def with_copies(self, ncopies: int, block_size: int) -> "WeightCopies":
        """New copies made from copy 0 (for a protection switch: scrub this set fully first),
        keeping the load-time baseline when the block size is the same (a baseline taken
        from copy 0 would make any upset it holds the golden image)."""
        w = WeightCopies(self.nbytes, ncopies, block_size)
        for c in w.copies:
            lib.radrt_copy(self.copies[0].ptr, c.ptr, self.nbytes)
        if block_size == self.block_size:
            ffi.memmove(w.baseline, self.baseline, ffi.sizeof(self.baseline))
        else:
            lib.radrt_crc32c_blocks(w.copies[0].ptr, w.nbytes, block_size, w.baseline)
        w.plan = self.plan
        return w

    def scrub(self, first_block: int, nblocks: int) -> ScrubResult:
        """Scrub blocks [first_block, first_block + nblocks), skipping the known lost ones."""
        end = min(first_block + nblocks, self.nblocks)
        total = ScrubResult()
        start = first_block
        for lost in sorted(b for b in self.lost_blocks if first_block <= b < end) + [end]:
            if start < lost:
                self._scrub_range(start, lost, total)
            start = lost + 1
        return total

    def _scrub_range(self, first_block: int, end: int, total: ScrubResult) -> None:
        report = self._scrub_c(first_block, end - first_block)
        total.blocks_checked += report.blocks_checked
        total.upsets_detected += report.upsets_detected
        total.upsets_corrected += report.upsets_corrected
        total.uncorrectable += report.uncorrectable
        if total.first_bad_block < 0 and report.first_bad_block >= 0:
            total.first_bad_block, total.first_bad_copy = report.first_bad_block, report.first_bad_copy
        if not report.uncorrectable:
            return
        first = report.first_uncorrectable_block
        if total.first_uncorrectable_block < 0:
            total.first_uncorrectable_block = first
        lost = {first}
        if report.uncorrectable > 1:
            # The C report names only the first lost block: find the others one block
            # at a time (the range is clean or lost now, so this repairs nothing more).
            lost.update(b for b in range(first + 1, end) if self._scrub_c(b, 1).uncorrectable)
        restored = self._restore_from_plan(lost)
        total.uncorrectable -= len(restored)
        total.upsets_corrected += len(restored) * len(self.copies)
        if len(restored) == len(lost):
            total.first_uncorrectable_block = -1
        self.lost_blocks.update(lost - restored)

    def _restore_from_plan(self, blocks: Set[int]) -> Set[int]:
        """Blocks rewritten in every copy from the plan's arrays, where those verify."""
        if self.plan is None or not blocks:
            return set()
        image = Region("weights/golden-image", self.nbytes)
        load_weights(self.plan, image)
        restored = set()
        crc = ffi.new("uint32_t[]", 1)
        for b in sorted(blocks):
            start = b * self.block_size
            n = min(self.block_size, self.nbytes - start)
            lib.radrt_crc32c_blocks(image.ptr + start, n, self.block_size, crc)
            if crc[0] != self.baseline[b]:
                continue
            for c in self.copies:
                lib.radrt_copy(image.ptr + start, c.ptr + start, n)
            restored.add(b)
        return restored

    def _scrub_c(self, first_block: int, nblocks: int):
        report = ffi.new("radrt_scrub_report *")
        report.first_bad_block = report.first_bad_copy = report.first_uncorrectable_block = -1
        if nblocks > 0:
            lib.radrt_scrub_blocks(self._copy_ptrs, len(self.copies), self.nbytes, self.block_size,
                                   self.baseline, first_block, nblocks, report)
        return report

    def scrub_step(self, max_bytes: int) -> ScrubResult:
        nblocks = max(1, max_bytes // self.block_size)
        r = self.scrub(self.cursor, nblocks)
        self.cursor += nblocks
        if self.cursor >= self.nblocks:
            self.cursor = 0
            r.completed_pass = True
        return r
