import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fault_injection.plan import Fault, Site, fault_space_size, faults_sha256, plan_faults
from fault_injection.vocabulary import FaultModel

SITES = [
    Site("conv1.w", "weights", 288, op_index=0),
    Site("fc.w", "weights", 10240, op_index=2),
    Site("arena", "activations", 4096, replica=0),
    Site("conv1.out", "compute", 2048, op_index=0, replica=0),
    Site("input", "input", 256, replica=0),
]
ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_same_list_and_another_seed_another():
    a = plan_faults(SITES, 300, seed=11, n_ops=5)
    assert a == plan_faults(SITES, 300, seed=11, n_ops=5)
    assert a != plan_faults(SITES, 300, seed=12, n_ops=5)
    assert [f.fault_id for f in a] == list(range(300))


def test_site_order_does_not_matter():
    assert plan_faults(SITES, 200, seed=3, n_ops=5) == plan_faults(SITES[::-1], 200, seed=3, n_ops=5)


def test_longer_campaign_extends_a_shorter_one():
    assert plan_faults(SITES, 500, seed=5, n_ops=5)[:120] == plan_faults(SITES, 120, seed=5, n_ops=5)


def test_same_list_in_another_process_with_another_hash_seed():
    code = ("import json; from fault_injection.plan import *; from tests.fault_injection.test_plan import SITES;"
            "print(faults_sha256(plan_faults(SITES, 100, seed=9, model='mbu:2', n_ops=5)))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == faults_sha256(plan_faults(SITES, 100, seed=9, model="mbu:2", n_ops=5))


def test_faults_land_inside_their_site_and_carry_its_identity():
    by_name = {s.name: s for s in SITES}
    for f in plan_faults(SITES, 2000, seed=1, model="mbu:5", n_ops=7):
        site = by_name[f.site]
        assert (f.kind, f.op_index, f.replica) == (site.kind, site.op_index, site.replica)
        assert all(0 <= byte < site.nbytes and 0 <= bit < 8 for byte, bit in f.bits())
        assert len(f.bits()) == 5
        if f.kind == "activations":
            assert 0 <= f.at_op < 7
        else:
            assert f.at_op is None


def test_sites_are_weighted_by_size():
    faults = plan_faults(SITES, 8000, seed=2, n_ops=5)
    counts = Counter(f.site for f in faults)
    total_bytes = sum(s.nbytes for s in SITES)
    for s in SITES:
        expected = 8000 * s.nbytes / total_bytes
        # Within 5 standard deviations of the binomial count.
        sd = (8000 * (s.nbytes / total_bytes) * (1 - s.nbytes / total_bytes)) ** 0.5
        assert abs(counts[s.name] - expected) <= 5 * sd + 1, (s.name, counts[s.name], expected)
    bits = Counter(f.bit for f in faults)
    assert all(abs(bits[b] - 1000) < 5 * (8000 * 0.125 * 0.875) ** 0.5 for b in range(8))
    at_ops = Counter(f.at_op for f in faults if f.kind == "activations")
    assert set(at_ops) == set(range(5))


def test_kinds_filter():
    faults = plan_faults(SITES, 300, seed=4, kinds=["weights"])
    assert {f.kind for f in faults} == {"weights"}
    assert faults == plan_faults(SITES, 300, seed=4, kinds=["weights"], n_ops=99)


def test_fault_models():
    for model in ("flip", "stuck0", "stuck1", "mbu:3"):
        faults = plan_faults(SITES, 10, seed=0, model=model, n_ops=2)
        assert {f.model for f in faults} == {str(FaultModel.parse(model))}
    with pytest.raises(ValueError, match="fault model 'flap'"):
        plan_faults(SITES, 10, seed=0, model="flap", n_ops=2)


def test_faults_are_distinct_and_an_exhaustive_plan_covers_the_space():
    sites = [Site("w", "weights", 2), Site("a", "activations", 1)]
    assert fault_space_size(sites, n_ops=3) == 16 + 8 * 3
    faults = plan_faults(sites, 40, seed=8, n_ops=3)
    assert len({(f.site, f.byte_offset, f.bit, f.at_op) for f in faults}) == 40
    with pytest.raises(ValueError, match="count 41 exceeds the fault space of 40 distinct faults"):
        plan_faults(sites, 41, seed=8, n_ops=3)


def test_fault_space_size_for_mbu():
    # A 4-bit fault has 8*3 - 4 + 1 = 21 start positions in 3 bytes; a 1-byte site fits none of 9 bits.
    sites = [Site("w", "weights", 3), Site("tiny", "weights", 1)]
    assert fault_space_size(sites, "mbu:4") == 21 + 5
    assert fault_space_size(sites, "mbu:9") == 16


def test_json_round_trip():
    for f in plan_faults(SITES, 50, seed=6, n_ops=4):
        text = json.dumps(f.to_dict())
        assert Fault.from_dict(json.loads(text)) == f
    with pytest.raises(ValueError, match="fault 3: missing field 'bit'"):
        Fault.from_dict({"fault_id": 3, "site": "w", "kind": "weights", "byte_offset": 0, "model": "flip"})
    assert Site.from_dict({"name": "w", "kind": "weights", "nbytes": 4}) == Site("w", "weights", 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(count=-1), r"count must be an integer >= 0, got -1"),
    (dict(seed="x"), r"seed must be an integer, got 'x'"),
    (dict(kinds=["cosmic"]), r"site kind 'cosmic' is not one of"),
    (dict(kinds=["link"]), r"no site of kinds \['link'\] has room for a 1-bit fault"),
    (dict(n_ops=None), r"activations sites need n_ops .* got None"),
    (dict(n_ops=0), r"activations sites need n_ops .* got 0"),
])
def test_bad_plans_are_named(kwargs, match):
    args = dict(sites=SITES, count=10, seed=1, n_ops=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plan_faults(**args)


def test_bad_sites_are_named():
    with pytest.raises(ValueError, match="site 'x': kind 'ram' is not one of"):
        Site("x", "ram", 4)
    with pytest.raises(ValueError, match="site 'x': nbytes must be an integer >= 0, got -4"):
        Site("x", "weights", -4)
    with pytest.raises(ValueError, match="names the same site"):
        plan_faults([Site("x", "weights", 4), Site("x", "weights", 8)], 1, seed=0)


def test_empty_plan():
    assert plan_faults(SITES, 0, seed=1, n_ops=1) == []


site_strategy = st.builds(Site, name=st.text("abcdef", min_size=1, max_size=4),
                          kind=st.sampled_from(["weights", "activations", "compute", "input"]),
                          nbytes=st.integers(0, 64), replica=st.sampled_from([None, 0, 1, 2]))


@given(st.lists(site_strategy, min_size=1, max_size=6, unique_by=Site.sort_key),
       st.integers(0, 2 ** 63), st.sampled_from(["flip", "mbu:2", "mbu:8", "stuck1"]), st.integers(1, 4))
@settings(max_examples=150, deadline=None)
def test_plans_stay_inside_sites(sites, seed, model, n_ops):
    width = FaultModel.parse(model).width
    if all(s.nbytes * 8 < width for s in sites):
        with pytest.raises(ValueError, match="has room"):
            plan_faults(sites, 1, seed=seed, model=model, n_ops=n_ops)
        return
    space = fault_space_size(sites, model, n_ops=n_ops)
    count = min(space, 30)
    faults = plan_faults(sites, count, seed=seed, model=model, n_ops=n_ops)
    by_key = {(s.name, s.kind, s.replica): s for s in sites}
    assert len({(f.site, f.kind, f.replica, f.byte_offset, f.bit, f.at_op) for f in faults}) == count
    for f in faults:
        site = by_key[(f.site, f.kind, f.replica)]
        assert all(0 <= byte < site.nbytes for byte, _ in f.bits())
