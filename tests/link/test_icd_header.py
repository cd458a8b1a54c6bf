"""firmware_stubs/icd.h against the runtime's catalogue (runtime/link/codes.py).

The C header is read with a regex over its `#define ICD_<NAME> <value>` lines; each
group of names is compared with its Python counterpart both ways, so a code added,
renamed or renumbered on either side fails here until the other side follows.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from runtime.link import codes
from runtime.link.tensors import DTYPE_CODES

HEADER = Path(__file__).resolve().parents[2] / "firmware_stubs" / "icd.h"
DEFINE = re.compile(r"^#define[ \t]+(ICD_\w+)[ \t]+(0x[0-9A-Fa-f]+|\d+)\b", re.MULTILINE)

# §4 subtypes: the ICD's table (codes.py has no subtype catalogue besides service 1 and 5).
ICD_SUBTYPES = {
    "ARE_YOU_ALIVE": 1, "ALIVE": 2, "HK_REQUEST": 27, "HK_REPORT": 25, "FUNCTION": 1,
    "PUT_INPUT": 1, "RUN": 2, "OUTPUT_CHUNK": 3, "RESULT_DONE": 4, "RESEND": 5,
    "BEGIN_UPLOAD": 1, "UPLOAD_CHUNK": 2, "COMMIT": 3, "SLOT_STATUS": 4, "SLOT_REPORT": 5,
}


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


def hk1_fields():
    return list(codes.HK_U32_FIELDS) + list(codes.HK_U8_FIELDS)


def hk2_added_fields():
    return ["icd_version"] + list(codes.HK2_U32_FIELDS)


def expected_groups() -> dict:
    """Prefix -> {NAME: value}, from the runtime's catalogue."""
    hk1 = hk1_fields()
    return {
        "ICD_DTYPE_": {np.dtype(dt).name.upper(): code for code, dt in DTYPE_CODES.items()},
        "ICD_SERVICE_": {s.name: s.value for s in codes.Service},
        "ICD_SUBTYPE_": ICD_SUBTYPES,
        "ICD_VERIFY_": {v.name: v.value for v in codes.Verification},
        "ICD_SEVERITY_": {v.name: v.value for v in codes.Severity},
        "ICD_ACK_": {"ACCEPTANCE": codes.ACK_ACCEPTANCE, "COMPLETION": codes.ACK_COMPLETION},
        "ICD_ERR_": {e.name: e.value for e in codes.ErrorCode},
        "ICD_EVENT_": {e.name: e.value for e in codes.EventId},
        "ICD_FUNC_": {f.name: f.value for f in codes.Function},
        "ICD_SLOT_": {s.name: s.value for s in codes.SlotState},
        "ICD_MODE_": {name.upper(): code for code, name in enumerate(codes.PROTECTION_MODES)},
        "ICD_HK1_": {name.upper(): index for index, name in enumerate(hk1)},
        "ICD_HK2_": {name.upper(): len(hk1) + i for i, name in enumerate(hk2_added_fields())},
        "ICD_HK_STRUCTURE_": {str(codes.HK_STRUCTURE_ID): codes.HK_STRUCTURE_ID,
                              str(codes.HK2_STRUCTURE_ID): codes.HK2_STRUCTURE_ID},
        "ICD_COUNT_": {"HK1_FIELDS": len(hk1), "HK2_FIELDS": len(hk1) + len(hk2_added_fields())},
        "ICD_LEN_": {
            "REQUEST_ID": 4, "FAILURE": 4 + 2 + 4, "EVENT": 2 + 4 + 4, "ALIVE": 1,
            "HK1": 2 + 4 * len(codes.HK_U32_FIELDS) + len(codes.HK_U8_FIELDS),
            "HK2": 2 + 4 * len(codes.HK_U32_FIELDS) + len(codes.HK_U8_FIELDS) + 1 + 4 * len(codes.HK2_U32_FIELDS),
            "RESULT_DONE": 4 + 2 + 4 + 4 + 2 + 4, "RESEND_HEADER": 4, "RANGE": 1 + 4 + 4,
        },
    }


SINGLES = {"ICD_VERSION": codes.ICD_VERSION, "ICD_NO_ACTIVE_SLOT": codes.NO_ACTIVE_SLOT}


@pytest.mark.parametrize("prefix", sorted(expected_groups()))
def test_header_group_equals_catalogue(prefix):
    """ICD §3–§9: every name and number of the group, both ways (nothing missing on either side)."""
    got = group(header_defines(), prefix)
    want = expected_groups()[prefix]
    assert sorted(set(want) - set(got)) == [], f"{HEADER.name}: missing {prefix}*"
    assert sorted(set(got) - set(want)) == [], f"{HEADER.name}: {prefix}* unknown to runtime/link/codes.py"
    assert got == want


def test_header_singles_and_nothing_else():
    """ICD §4/§5: ICD_VERSION 2 and NO_ACTIVE_SLOT; every other define belongs to a checked group."""
    defines = header_defines()
    for name, value in SINGLES.items():
        assert defines.get(name) == value, f"{name}: {defines.get(name)}, catalogue says {value}"
    assert codes.ICD_VERSION == 2
    prefixes = sorted(expected_groups(), key=len, reverse=True)
    unchecked = [name for name in defines
                 if name not in SINGLES and not any(name.startswith(p) for p in prefixes)]
    assert unchecked == [], f"{HEADER.name}: defines no test checks: {unchecked}"


def test_name_tables_spell_the_catalogue():
    """ICD §5/§8/§9: link_core.c's name tables print each code as codes.py names it."""
    source = (HEADER.parent / "link_core.c").read_text()
    for prefix, enum, spell in (("ICD_ERR_", codes.ErrorCode, str.upper), ("ICD_EVENT_", codes.EventId, str.upper),
                                ("ICD_MODE_", None, str.lower)):
        entries = dict(re.findall(rf"\[{prefix}(\w+)\]\s*=\s*\"(\w+)\"", source))
        names = [e.name for e in enum] if enum else [m.upper() for m in codes.PROTECTION_MODES]
        assert sorted(entries) == sorted(names), f"link_core.c: name table of {prefix}*"
        assert all(text == spell(name) for name, text in entries.items())
