import pytest

from fault_injection import OUTCOMES, SITE_KINDS, FaultModel


def test_vocabulary_matches_the_design():
    assert SITE_KINDS == ("weights", "activations", "compute", "input", "link")
    assert set(OUTCOMES) == {"masked", "tolerable", "sdc", "critical_sdc", "corrected", "due",
                             "crash", "hang"}


@pytest.mark.parametrize("text", ["flip", "mbu:2", "mbu:8", "stuck0", "stuck1"])
def test_fault_models_round_trip(text):
    assert str(FaultModel.parse(text)) == text


@pytest.mark.parametrize("text", ["flop", "mbu", "mbu:1", "mbu:x", "flip:2"])
def test_bad_fault_models_are_named(text):
    with pytest.raises(ValueError, match=f"fault model '{text}'"):
        FaultModel.parse(text)


def test_mbu_walks_across_a_byte_boundary():
    assert FaultModel.parse("mbu:3").bits(10, 6) == [(10, 6), (10, 7), (11, 0)]


def test_apply():
    assert FaultModel.parse("flip").apply(0b1010, 1) == 0b1000
    assert FaultModel.parse("stuck0").apply(0b1010, 3) == 0b0010
    assert FaultModel.parse("stuck1").apply(0b1010, 0) == 0b1011
