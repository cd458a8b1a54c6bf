"""ONNX backend node conformance against the reviewed manifest (see node_cases.py)."""
import pytest

from .node_cases import candidates, node_cases, read_manifest, run_case

MANIFEST = set(read_manifest())
CANDIDATES = candidates()


def test_manifest_names_are_candidates():
    unknown = sorted(MANIFEST - set(node_cases()))
    assert not unknown, f"manifest names tests onnx does not have: {unknown}"
    not_candidates = sorted(MANIFEST - set(CANDIDATES))
    assert not not_candidates, f"manifest names tests that use ops radrt does not know: {not_candidates}"


@pytest.mark.parametrize("name", [n for n in CANDIDATES if n in MANIFEST])
def test_manifest_case_passes(name):
    run_case(name)


@pytest.mark.parametrize("name", [n for n in CANDIDATES if n not in MANIFEST])
def test_unlisted_case_still_fails(name):
    try:
        run_case(name)
    except Exception:
        return
    pytest.fail(f"{name} now passes: review it and add it to tests/conformance/node_manifest.txt")
