"""Throughput of the C protection core: CRC-32C, TMR vote, block scrubbing.

Calls through `runtime._core` (cffi) on 64 MiB buffers of random bytes and
prints GB/s (10^9 bytes read per second) as the median of several runs:
- CRC-32C one stream, hardware path (radrt_crc32c; the portable path when the
  core was built without the instruction) and portable slicing-by-8 path;
- CRC-32C of 4 KiB blocks (radrt_crc32c_blocks: three chains interleaved);
- radrt_vote3 over three equal copies (the read-only fast path) and
  radrt_vote3_into;
- radrt_scrub_blocks: a clean pass over three copies with 4 KiB blocks.
GB/s counts every byte read: three copies count three times.
Usage: python benchmarks/protect_c.py [repeats]
"""
import statistics
import sys
import time

import numpy as np

from runtime._core import ffi, lib

MIB = 1 << 20
SIZE = 64 * MIB
BLOCK = 4096


def ptr(array, ctype="uint8_t *"):
    return ffi.cast(ctype, array.ctypes.data)


def median_seconds(fn, repeats):
    fn()  # warm the caches and page tables
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats=7):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, SIZE, dtype=np.uint8)
    b, c, out = a.copy(), a.copy(), np.empty_like(a)
    nblocks = -(-SIZE // BLOCK)
    crcs = np.empty(nblocks, dtype=np.uint32)
    lib.radrt_crc32c_blocks(ptr(a), SIZE, BLOCK, ptr(crcs, "uint32_t *"))
    baseline = crcs.copy()
    copies = ffi.new("uint8_t *[3]", [ptr(a), ptr(b), ptr(c)])
    vote_report = ffi.new("radrt_vote_report *")
    seal = ffi.new("radrt_seal *")
    scrub_report = ffi.new("radrt_scrub_report *")

    path = "hardware" if lib.radrt_crc32c_hw() else "portable build"
    cases = [
        (f"radrt_crc32c one stream, {path}", SIZE, lambda: lib.radrt_crc32c(0, ptr(a), SIZE)),
        ("radrt_crc32c_portable one stream", SIZE, lambda: lib.radrt_crc32c_portable(0, ptr(a), SIZE)),
        (f"radrt_crc32c_blocks 4 KiB, {path}", SIZE,
         lambda: lib.radrt_crc32c_blocks(ptr(a), SIZE, BLOCK, ptr(crcs, "uint32_t *"))),
        ("radrt_seal_add (abft's chained seal)", SIZE, lambda: lib.radrt_seal_add(seal, ptr(a), SIZE, 0)),
        ("radrt_vote3, three equal copies", 3 * SIZE, lambda: lib.radrt_vote3(ptr(a), ptr(b), ptr(c), SIZE, vote_report)),
        ("radrt_vote3_into, three equal copies", 3 * SIZE,
         lambda: lib.radrt_vote3_into(ptr(a), ptr(b), ptr(c), ptr(out), SIZE, vote_report)),
        ("radrt_scrub_blocks clean, 3 copies, 4 KiB", 3 * SIZE,
         lambda: lib.radrt_scrub_blocks(copies, 3, SIZE, BLOCK, ptr(baseline, "uint32_t *"), 0, nblocks,
                                        scrub_report)),
    ]
    print(f"buffers of {SIZE // MIB} MiB, median of {repeats} runs")
    print(f"{'case':48s} {'ms':>8s} {'GB/s':>7s}")
    rows = []
    for name, nbytes, fn in cases:
        seconds = median_seconds(fn, repeats)
        rows.append((name, seconds * 1e3, nbytes / seconds / 1e9))
        print(f"{name:48s} {seconds * 1e3:8.2f} {nbytes / seconds / 1e9:7.2f}")
    assert vote_report.words_disagreeing == 0 and scrub_report.upsets_detected == 0
    return rows


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:]))
