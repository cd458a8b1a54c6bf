"""The C protection core through cffi: CRC-32C, TMR voting, block scrubbing.

Golden CRC values and the hardware path against the portable one; vote3 and
scrub under random single-replica corruption (hypothesis); the report fields
of every repair rule of radrt_scrub_blocks.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime._core import ffi, lib

POLY = 0x82F63B78


def crc_bitwise(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (POLY if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def buf(array):
    return ffi.from_buffer("uint8_t[]", array)


def crc(data, seed=0):
    return lib.radrt_crc32c(seed, buf(data), len(data))


def rand_bytes(rng, n):
    return rng.integers(0, 256, n, dtype=np.uint8)


# --- CRC-32C -----------------------------------------------------------------

@pytest.mark.parametrize("data, want", [
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (b"", 0),
])
def test_crc_golden(data, want):
    assert crc(data) == want
    assert lib.radrt_crc32c_portable(0, buf(data), len(data)) == want
    assert crc_bitwise(data) == want


def test_crc_hw_flag():
    assert lib.radrt_crc32c_hw() in (0, 1)


def test_crc_paths_agree_every_short_length_and_offset():
    rng = np.random.default_rng(1)
    data = rand_bytes(rng, 400)
    for n in range(301):
        offset = int(rng.integers(0, 16))
        view = data[offset:offset + n]
        want = crc_bitwise(view)
        assert crc(view) == want, n
        assert lib.radrt_crc32c_portable(0, buf(view), n) == want, n


@pytest.mark.parametrize("n", [24575, 24576, 24577, 49165, 98304, 250001])
def test_crc_long_matches_portable(n):
    data = rand_bytes(np.random.default_rng(n), n + 3)[3:]
    assert crc(data) == lib.radrt_crc32c_portable(0, buf(data), n)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.data())
def test_crc_chains(data, draw):
    cut = draw.draw(st.integers(0, len(data)))
    whole = crc(data)
    assert crc(data[cut:], crc(data[:cut])) == whole
    assert whole == lib.radrt_crc32c_portable(0, buf(data), len(data))


@pytest.mark.parametrize("nbytes, block_size", [(0, 64), (64, 64), (100, 64), (4096 * 7 + 5, 4096), (999, 1),
                                                (1000, 13), (10, 4096)])
def test_crc_blocks_short_last_block(nbytes, block_size):
    data = rand_bytes(np.random.default_rng(nbytes), nbytes)
    nblocks = -(-nbytes // block_size)
    crcs = np.full(nblocks + 1, 0xDEADBEEF, dtype=np.uint32)
    lib.radrt_crc32c_blocks(buf(data), nbytes, block_size, ffi.from_buffer("uint32_t[]", crcs))
    want = [crc(data[i * block_size:(i + 1) * block_size]) for i in range(nblocks)]
    assert crcs[:nblocks].tolist() == want
    assert crcs[nblocks] == 0xDEADBEEF


def test_crc_x3():
    rng = np.random.default_rng(3)
    a, b, c = (rand_bytes(rng, 1001) for _ in range(3))
    out = ffi.new("uint32_t[3]")
    lib.radrt_crc32c_x3(buf(a), buf(b), buf(c), 1001, out)
    assert list(out) == [crc(a), crc(b), crc(c)]


# --- vote --------------------------------------------------------------------

def word_diffs(x, y):
    """Indices of the 8-byte words (the tail is one short word) where x and y differ."""
    return set((np.flatnonzero(x != y) // 8).tolist())


def vote3(a, b, c, report=None):
    report = report or ffi.new("radrt_vote_report *")
    lib.radrt_vote3(buf(a), buf(b), buf(c), len(a), report)
    return report


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 2000), seed=st.integers(0, 2**32 - 1), odd=st.integers(0, 2),
       flips=st.lists(st.integers(0, 2**31), max_size=12), offsets=st.tuples(*[st.integers(0, 7)] * 3))
def test_vote3_repairs_one_corrupted_replica(n, seed, odd, flips, offsets):
    clean = rand_bytes(np.random.default_rng(seed), n)
    backing = [np.zeros(n + 8, dtype=np.uint8) for _ in range(3)]
    reps = [backing[k][offsets[k]:offsets[k] + n] for k in range(3)]  # any alignment
    for r in reps:
        r[:] = clean
    for bit in flips if n else []:
        bit %= 8 * n
        reps[odd][bit // 8] ^= 1 << (bit % 8)
    bad_words = word_diffs(reps[odd], clean)
    corrupted = [r.copy() for r in reps]

    into = ffi.new("radrt_vote_report *")
    out = np.empty(n, dtype=np.uint8)
    lib.radrt_vote3_into(buf(reps[0]), buf(reps[1]), buf(reps[2]), buf(out), n, into)
    np.testing.assert_array_equal(out, clean)
    for r, before in zip(reps, corrupted):
        np.testing.assert_array_equal(r, before)

    report = vote3(*reps)
    for r in reps:
        np.testing.assert_array_equal(r, clean)
    for rep in (report, into):
        assert rep.words_disagreeing == len(bad_words)
        assert rep.odd_replicas == (1 << odd if bad_words else 0)
        assert rep.no_majority == 0


def test_vote3_two_replicas_in_different_words_and_accumulation():
    clean = rand_bytes(np.random.default_rng(5), 1003)
    a, b, c = clean.copy(), clean.copy(), clean.copy()
    a[17] ^= 4
    c[1001] ^= 1  # tail word (bytes 1000..1002)
    report = ffi.new("radrt_vote_report *", {"words_disagreeing": 10})
    vote3(a, b, c, report)
    for r in (a, b, c):
        np.testing.assert_array_equal(r, clean)
    assert (report.words_disagreeing, report.odd_replicas, report.no_majority) == (12, 0b101, 0)


def test_vote3_three_way_difference_counts_no_majority():
    clean = np.full(24, 0x5A, dtype=np.uint8)
    a, b, c = clean.copy(), clean.copy(), clean.copy()
    a[8] ^= 1
    b[9] ^= 2
    c[15] ^= 4  # word 1 differs pairwise; each bit is wrong in one replica only
    report = vote3(a, b, c)
    assert (report.words_disagreeing, report.odd_replicas, report.no_majority) == (1, 0b111, 1)
    for r in (a, b, c):
        np.testing.assert_array_equal(r, clean)


def test_vote3_is_deterministic_and_bitwise():
    rng = np.random.default_rng(6)
    a, b, c = (rand_bytes(rng, 777) for _ in range(3))
    want = (a & b) | (a & c) | (b & c)
    outs = []
    for _ in range(2):
        out = np.empty_like(a)
        lib.radrt_vote3_into(buf(a), buf(b), buf(c), buf(out), 777, ffi.new("radrt_vote_report *"))
        outs.append(out)
    np.testing.assert_array_equal(outs[0], want)
    np.testing.assert_array_equal(outs[1], want)


# --- scrub -------------------------------------------------------------------

class Region:
    """`ncopies` copies of random bytes with baseline CRCs of `block_size` blocks."""

    def __init__(self, nbytes, block_size, ncopies, seed=0):
        self.nbytes, self.block_size = nbytes, block_size
        self.nblocks = -(-nbytes // block_size)
        self.clean = rand_bytes(np.random.default_rng(seed), nbytes)
        self.copies = [self.clean.copy() for _ in range(ncopies)]
        self.baseline = np.empty(max(self.nblocks, 1), dtype=np.uint32)
        lib.radrt_crc32c_blocks(buf(self.clean), nbytes, block_size, ffi.from_buffer("uint32_t[]", self.baseline))
        self._bufs = [buf(c) for c in self.copies]
        self._ptrs = ffi.new("uint8_t *[]", self._bufs)

    def flip(self, copy, block, byte, bit):
        self.copies[copy][block * self.block_size + byte] ^= 1 << bit

    def scrub(self, first_block=0, nblocks=None, report=None):
        report = report or ffi.new("radrt_scrub_report *")
        lib.radrt_scrub_blocks(self._ptrs, len(self.copies), self.nbytes, self.block_size,
                               ffi.from_buffer("uint32_t[]", self.baseline), first_block,
                               self.nblocks if nblocks is None else nblocks, report)
        return report

    def all_clean(self):
        return all(np.array_equal(c, self.clean) for c in self.copies)


def fields(report):
    return (report.blocks_checked, report.upsets_detected, report.upsets_corrected, report.uncorrectable,
            report.first_bad_block, report.first_bad_copy, report.first_uncorrectable_block)


@settings(max_examples=150, deadline=None)
@given(nbytes=st.integers(1, 5000), block_size=st.integers(1, 600), ncopies=st.integers(2, 3),
       bad=st.integers(0, 2), flips=st.lists(st.integers(0, 2**31), min_size=1, max_size=10),
       seed=st.integers(0, 2**32 - 1))
def test_scrub_always_corrects_flips_in_one_copy(nbytes, block_size, ncopies, bad, flips, seed):
    region = Region(nbytes, block_size, ncopies, seed)
    bad %= ncopies
    for bit in flips:
        bit %= 8 * nbytes
        region.copies[bad][bit // 8] ^= 1 << (bit % 8)
    bad_blocks = sorted(set((np.flatnonzero(region.copies[bad] != region.clean) // block_size).tolist()))
    report = region.scrub()
    assert region.all_clean()
    first = bad_blocks[0] if bad_blocks else -1
    assert fields(report) == (ncopies * region.nblocks, len(bad_blocks), len(bad_blocks), 0,
                              first, bad if bad_blocks else -1, -1)


@pytest.mark.parametrize("corrupted", [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)])
def test_scrub_three_copies_different_bits(corrupted):
    region = Region(4096 + 100, 256, 3)
    for k in corrupted:
        region.flip(k, 7, 33, k)
    n = len(corrupted)
    assert fields(region.scrub()) == (3 * 17, n, n, 0, 7, corrupted[0], -1)
    assert region.all_clean()


def test_scrub_same_bit_in_two_copies_repairs_from_the_third():
    region = Region(2048, 512, 3)
    region.flip(0, 2, 100, 5)
    region.flip(2, 2, 100, 5)
    assert fields(region.scrub()) == (12, 2, 2, 0, 2, 0, -1)
    assert region.all_clean()


def test_scrub_same_bit_in_all_copies_is_uncorrectable():
    region = Region(2048, 512, 3)
    for k in range(3):
        region.flip(k, 1, 3, 0)
    corrupted = region.copies[0].copy()
    assert fields(region.scrub()) == (12, 3, 0, 1, 1, 0, 1)
    for c in region.copies:
        np.testing.assert_array_equal(c, corrupted)


def test_scrub_short_last_block():
    region = Region(1013, 100, 3)
    region.flip(1, 10, 12, 7)
    assert fields(region.scrub()) == (33, 1, 1, 0, 10, 1, -1)
    assert region.all_clean()


def test_scrub_one_copy_detects_and_leaves_bytes():
    region = Region(999, 100, 1)
    region.flip(0, 9, 98, 3)
    corrupted = region.copies[0].copy()
    assert fields(region.scrub()) == (10, 1, 0, 1, 9, 0, 9)
    np.testing.assert_array_equal(region.copies[0], corrupted)


def test_scrub_two_copies_both_bad_is_uncorrectable():
    region = Region(999, 100, 2)
    region.flip(0, 5, 1, 1)
    region.flip(1, 5, 2, 2)
    before = [c.copy() for c in region.copies]
    assert fields(region.scrub()) == (20, 2, 0, 1, 5, 0, 5)
    for c, b in zip(region.copies, before):
        np.testing.assert_array_equal(c, b)


def test_scrub_ranges_accumulate_counters_and_reset_first_fields():
    region = Region(1000, 100, 3)
    region.flip(1, 2, 5, 0)
    region.flip(2, 8, 5, 0)
    report = region.scrub(3, 4)  # blocks 3..6: clean; first_* become -1 although the struct starts zeroed
    assert fields(report) == (12, 0, 0, 0, -1, -1, -1)
    region.scrub(6, 1000, report)  # clamped to 6..9
    assert fields(report) == (24, 1, 1, 0, 8, 2, -1)
    region.scrub(10, 5, report)  # past the end: nothing
    assert fields(report) == (24, 1, 1, 0, -1, -1, -1)
    region.scrub(0, None, report)
    assert fields(report) == (54, 2, 2, 0, 2, 1, -1)
    assert region.all_clean()
