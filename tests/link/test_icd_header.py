"""firmware_stubs/icd.h against the runtime's message catalogue (runtime/link/catalogue.py).

The C header is read with a regex over its `#define ICD_<NAME> <value>` lines; each
group of names is compared with its Python counterpart both ways, so a code added,
renamed or renumbered on either side fails here until the other side follows.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from runtime.link import catalogue as codes
from runtime.link.tensors import DTYPE_CODES

HEADER = Path(__file__).resolve().parents[2] / "firmware_stubs" / "icd.h"
DEFINE = re.compile(r"^#define[ \t]+(ICD_\w+)[ \t]+(0x[0-9A-Fa-f]+|\d+)\b", re.MULTILINE)

# Services whose subtypes the header names by their own groups (ICD_VERIFY_, ICD_SEVERITY_).
GROUPED_SUBTYPES = (codes.Service.VERIFICATION, codes.Service.EVENTS)


def header_defines() -> dict:
    text = HEADER.read_text()
    found = DEFINE.findall(text)
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), f"{HEADER}: a name is defined twice"
    # every valued ICD_ define (the include guard ICD_H has none)
    all_defines = re.findall(r"^#define[ \t]+(ICD_\w+)[ \t]+\S", text, re.MULTILINE)
    assert set(all_defines) == set(names), \
        f"{HEADER}: defines the regex cannot read: {sorted(set(all_defines) - set(names))}"
    return {name: int(value, 0) for name, value in found}


def group(defines: dict, prefix: str) -> dict:
    return {name[len(prefix):]: value for name, value in defines.items() if name.startswith(prefix)}


def expected_groups() -> dict:
    """Prefix -> {NAME: value}, from the runtime's catalogue."""
    hk1 = codes.HK_STRUCTURES[1].names
    hk2 = codes.HK_STRUCTURES[2].names
    assert hk2[:len(hk1)] == hk1  # ICD §5: structure 2 = structure 1's fields, then more
    return {
        "ICD_DTYPE_": {np.dtype(dt).name.upper(): code for code, dt in DTYPE_CODES.items()},
        "ICD_SERVICE_": {s.name: s.value for s in codes.Service},
        "ICD_SUBTYPE_": {m.name: m.subtype for m in codes.MESSAGES.values() if m.service not in GROUPED_SUBTYPES},
        "ICD_VERIFY_": {v.name: v.value for v in codes.Verification},
        "ICD_SEVERITY_": {v.name: v.value for v in codes.Severity},
        "ICD_ACK_": {"ACCEPTANCE": codes.ACK_ACCEPTANCE, "COMPLETION": codes.ACK_COMPLETION},
        "ICD_ERR_": {e.name: e.value for e in codes.ErrorCode},
        "ICD_EVENT_": {e.name: e.value for e in codes.EventId},
        "ICD_FUNC_": {f.name: f.value for f in codes.Function},
        "ICD_SLOT_": {s.name: s.value for s in codes.SlotState},
        "ICD_MODE_": {name.upper(): code for code, name in enumerate(codes.PROTECTION_MODES)},
        "ICD_HK1_": {name.upper(): index for index, name in enumerate(hk1)},
        "ICD_HK2_": {name.upper(): index for index, name in enumerate(hk2) if index >= len(hk1)},
        "ICD_HK_STRUCTURE_": {str(sid): sid for sid in codes.HK_STRUCTURES},
        "ICD_COUNT_": {"HK1_FIELDS": len(hk1), "HK2_FIELDS": len(hk2)},
        "ICD_LEN_": {
            "REQUEST_ID": 4,
            "FAILURE": codes.message(1, 2).struct.size,
            "EVENT": codes.message(5, 1).struct.size,
            "ALIVE": codes.message(17, 2).struct.size,
            "HK1": 2 + codes.HK_STRUCTURES[1].struct.size,
            "HK2": 2 + codes.HK_STRUCTURES[2].struct.size,
            "RESULT_DONE": codes.message(200, 4).struct.size,
            "CHUNK_FIXED": 4 + 1 + 1 + 1,  # ICD §4 TC[200,1] / TM[200,3] (tensors.TensorChunk)
            "CHUNK_TAIL": 4 + 4,
            "RESEND_HEADER": 4,
            "RANGE": codes.RESEND_RANGE.size,
        },
    }


SINGLES = {"ICD_VERSION": codes.ICD_VERSION, "ICD_NO_ACTIVE_SLOT": codes.NO_ACTIVE_SLOT}


@pytest.mark.parametrize("prefix", sorted(expected_groups()))
def test_header_group_equals_catalogue(prefix):
    """ICD-8-CODES, ICD-9-EVENTS, ICD-5-HK, ICD-6-FUNCTIONS (§3–§9): every name and number of
    the group, both ways (nothing missing on either side)."""
    got = group(header_defines(), prefix)
    want = expected_groups()[prefix]
    assert sorted(set(want) - set(got)) == [], f"{HEADER.name}: missing {prefix}*"
    assert sorted(set(got) - set(want)) == [], f"{HEADER.name}: {prefix}* unknown to runtime/link/codes.py"
    assert got == want


def test_header_singles_and_nothing_else():
    """ICD-4-ALIVE, ICD-5-HK: ICD_VERSION 2 and NO_ACTIVE_SLOT; every other define belongs to a
    checked group."""
    defines = header_defines()
    for name, value in SINGLES.items():
        assert defines.get(name) == value, f"{name}: {defines.get(name)}, catalogue says {value}"
    assert codes.ICD_VERSION == 2
    prefixes = sorted(expected_groups(), key=len, reverse=True)
    unchecked = [name for name in defines
                 if name not in SINGLES and not any(name.startswith(p) for p in prefixes)]
    assert unchecked == [], f"{HEADER.name}: defines no test checks: {unchecked}"


def test_name_tables_spell_the_catalogue():
    """ICD-8-CODES, ICD-9-EVENTS: link_core.c's name tables print each code as the catalogue
    names it."""
    source = (HEADER.parent / "link_core.c").read_text()
    for prefix, enum, spell in (("ICD_ERR_", codes.ErrorCode, str.upper), ("ICD_EVENT_", codes.EventId, str.upper),
                                ("ICD_MODE_", None, str.lower)):
        entries = dict(re.findall(rf"\[{prefix}(\w+)\]\s*=\s*\"(\w+)\"", source))
        names = [e.name for e in enum] if enum else [m.upper() for m in codes.PROTECTION_MODES]
        assert sorted(entries) == sorted(names), f"link_core.c: name table of {prefix}*"
        assert all(text == spell(name) for name, text in entries.items())
