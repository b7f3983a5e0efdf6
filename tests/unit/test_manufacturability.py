"""Manufacturability checks on hand-built peptides (Kyte-Doolittle values by hand)."""

from __future__ import annotations

import pytest

from neorank import manufacturability as m
from neorank.errors import NeoRankError


def test_clean_25mer_has_no_flags():
    # SIINFEKL-like, no Cys, no NP, starts with S, ends with K.
    result = m.assess("SLYNTVATLKGGSHDARTKGSWLSK")
    assert result["flags"] == ""
    assert result["manufacturable"] is True
    assert result["n_cysteines"] == 0
    assert result["np_bonds"] == 0


def test_gravy_windows_hand_computed():
    # 7 x I = 4.5 mean; a 7-mer of I,I,I,I,I,I,V = (6*4.5 + 4.2)/7 = 4.457142...
    assert m.gravy("IIIIIII") == pytest.approx(4.5)
    assert m.max_gravy("KKKIIIIIIVKKK") == pytest.approx((6 * 4.5 + 4.2) / 7)
    # Shorter than the window: whole-length mean: (1.8 + -4.5) / 2
    assert m.max_gravy("AR") == pytest.approx(-1.35)


def test_hydrophobic_threshold_is_exclusive():
    # A 7-mer of A (1.8) and V (4.2): 5*A + 2*V = (9.0 + 8.4) / 7 = 2.4857 -> pass
    below = "KK" + "AAAAAVV" + "KK"
    assert m.assess(below)["max_gravy_7mer"] == pytest.approx(17.4 / 7, abs=1e-4)
    assert "hydrophobic_7mer" not in m.assess(below)["flags"]
    # 4*A + 3*V = (7.2 + 12.6) / 7 = 2.8286 -> flagged
    above = "KK" + "AAAAVVV" + "KK"
    assert m.assess(above)["flags"] == "hydrophobic_7mer"
    # Exactly at the threshold passes: 7 x C has GRAVY 2.5 (flagged for cysteines only).
    assert "hydrophobic_7mer" not in m.assess("KCCCCCCCK")["flags"]
    assert m.assess("KCCCCCCCK")["max_gravy_7mer"] == pytest.approx(2.5)


def test_termini_cysteines_and_np_bonds():
    result = m.assess("QAKNPSCGKCP")
    # N-terminal Q, C-terminal P, two Cys, one NP.
    assert result["nterm_qec"] is True
    assert result["cterm_cp"] is True
    assert result["n_cysteines"] == 2
    assert result["np_bonds"] == 1
    assert result["flags"] == "cysteines;nterm_qec;cterm_cp;np_bonds"
    assert result["manufacturable"] is False


@pytest.mark.parametrize("peptide,nterm,cterm", [
    ("EAAAK", True, False), ("CAAAK", True, False), ("AAAAC", False, True),
    ("NAAAK", False, False), ("AAAAP", False, True), ("KAAAA", False, False),
])
def test_terminal_residues(peptide, nterm, cterm):
    result = m.assess(peptide)
    assert (result["nterm_qec"], result["cterm_cp"]) == (nterm, cterm)


def test_one_cysteine_allowed_and_dp_is_informational():
    result = m.assess("KACKDPK")
    assert result["n_cysteines"] == 1 and result["dp_bonds"] == 1
    assert result["flags"] == "" and result["manufacturable"] is True


def test_lower_case_accepted_and_bad_residues_rejected():
    assert m.assess("siinfekl")["flags"] == ""
    with pytest.raises(NeoRankError, match="non-standard"):
        m.assess("SIIN*FEKL")
    with pytest.raises(NeoRankError, match="empty"):
        m.assess("")
