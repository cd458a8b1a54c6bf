"""The message catalogue (runtime/link/catalogue.py) against the ICD text and the code
that uses it: the repository's ICD copy equals the shared one, every TC the runtime
handles is catalogued, every requirement ID is cited by a test."""
import re
from pathlib import Path

import pytest

from runtime.link import catalogue
from runtime.link.catalogue import (BY_NAME, HK_STRUCTURES, MESSAGES, REQUIREMENTS, CommandError, ErrorCode,
                                   EventId, hk_names, message)
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots

from .fakes import FakeBackend

ROOT = Path(__file__).resolve().parents[2]
ICD = ROOT / "docs" / "icd.md"
SHARED_ICD = ROOT.parent / "shared" / "icd.md"


def test_repository_icd_is_the_shared_icd():
    """The product's wire contract lives in docs/icd.md; it must not drift from the
    programme's ICD (../shared/icd.md) where that is checked out beside the repository."""
    if not SHARED_ICD.exists():
        pytest.skip(f"{SHARED_ICD} is not checked out beside the repository")
    assert ICD.read_text() == SHARED_ICD.read_text(), "docs/icd.md differs from ../shared/icd.md: copy it"


def test_icd_version_matches_the_text():
    assert re.match(rf"# Payload link — Interface Control Document \(ICD\) v{catalogue.ICD_VERSION}\b",
                    ICD.read_text())


def _icd_section(number: int) -> str:
    text = ICD.read_text()
    return text.split(f"\n## {number}.")[1].split("\n## ")[0]


def test_error_codes_and_events_match_the_text():
    """ICD-8-CODES, ICD-9-EVENTS: the catalogue's numbers and names are the ICD's."""
    codes = dict(re.findall(r"(\d+) ([A-Z_]+)", _icd_section(8)))
    assert {int(k): v for k, v in codes.items()} == {int(c): c.name for c in ErrorCode}
    events = dict(re.findall(r"(\d+) ([A-Z_]+) \(", _icd_section(9)))
    assert {int(k): v for k, v in events.items()} == {int(e): e.name for e in EventId}
    severities = dict(re.findall(r"([A-Z_]+) \((info|low|medium|high)", _icd_section(9)))
    assert {name: s.upper() for name, s in severities.items()} == {
        e.name: catalogue.EVENT_SEVERITY[e].name for e in EventId}


def test_hk_fields_match_the_text():
    """ICD-5-HK: structure 1's and 2's field names in the ICD's order."""
    text = _icd_section(5)
    one = re.search(r"Structure 1 \(unchanged from v1\): (.*?)\.\n\nStructure 2", text, re.S).group(1)
    names = [re.sub(r"\s*\(.*", "", n.strip()) for n in re.sub(r"\([^)]*\)", "", one).split(",")]
    assert tuple(n for n in names if n) == HK_STRUCTURES[1].names
    two = re.search(r"same order, then (.*?)\.\n", text, re.S).group(1)
    added = [re.sub(r"\s*\(.*", "", n.strip()) for n in re.sub(r"\([^)]*\)", "", two).split(",")]
    assert tuple(n for n in added if n) == HK_STRUCTURES[2].names[len(HK_STRUCTURES[1].names):]


def test_every_handled_tc_is_catalogued(tmp_path):
    service = PayloadService(FakeBackend(), ModelSlots(tmp_path))
    handled = set(service._handlers)
    catalogued_tcs = {k for k, m in MESSAGES.items() if m.direction == "TC"}
    assert handled == catalogued_tcs


def test_fixed_layouts_round_trip_and_refuse_other_lengths():
    for m in MESSAGES.values():
        if not m.fields:
            continue
        values = {n: (bytes(range(int(c[:-1]))) if c.endswith("s") else 1) for n, c in m.fields}
        assert m.unpack(m.pack(**values)) == values
        with pytest.raises(CommandError) as info:
            m.unpack(m.pack(**values) + b"\0")
        assert info.value.code == ErrorCode.BAD_LENGTH
    assert message(200, 4).struct.size == 20 and BY_NAME["RESULT_DONE"] is message(200, 4)


def test_hk_names():
    values = HK_STRUCTURES[2].unpack(HK_STRUCTURES[2].pack({n: 0 for n in HK_STRUCTURES[2].names}
                                                         | {"protection_mode": 4, "active_slot": 255}))
    named = hk_names(values)
    assert named["protection_mode"] == "abft" and named["active_slot"] is None


def test_every_requirement_is_cited_by_a_test():
    """Each rule of the ICD (catalogue.REQUIREMENTS) is verified by at least one test that
    cites its ID (tests/ and firmware_stubs/tests/)."""
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py")]
    sources += [p.read_text() for p in (ROOT / "firmware_stubs" / "tests").glob("*.c")]
    text = "\n".join(sources)
    uncited = [rid for rid in REQUIREMENTS if not re.search(re.escape(rid) + r"\b", text)]
    assert not uncited, f"requirements no test cites: {uncited}"


def test_protection_events_are_icd_events():
    """ICD-9-EVENTS: every event the protection engines raise (runtime.protect.modes.EVENTS)
    is the ICD event of the same name, code and severity, so `radrt serve` forwards all of
    them (CHECKSUM_MISMATCH was dropped before)."""
    from runtime.protect.modes import EVENTS
    for name, (code, severity, _aux1, _aux2) in EVENTS.items():
        assert EventId[name] == code
        assert catalogue.EVENT_SEVERITY[EventId[name]].name == severity.upper()
