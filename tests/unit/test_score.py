"""``neorank score``: peptides or long sequences scored with the ranking, input order kept."""

from __future__ import annotations

import argparse
import math

import pandas as pd
import pytest

from neorank import config, ranking, score
from neorank.errors import InputFileError
from neorank.io import read_tsv


class FakePredictor:
    """Affinities from a table (20000 nM otherwise); percentile = IC50 / 100."""

    label = "fake/affinity-only"
    affinity_only = True

    def __init__(self, affinities: dict[str, float]):
        self.affinities = affinities
        self.calls: list[tuple[list[str], list[str]]] = []

    def known_alleles(self):
        return {"HLA-A*02:01", "HLA-B*07:02"}

    def trained_alleles(self):
        return {"HLA-A*02:01"}

    def affinity(self, peptides, alleles):
        self.calls.append((list(peptides), list(alleles)))
        rows = [{"peptide": p, "allele": a, "affinity_nm": self.affinities.get(p, 20000.0),
                 "percentile": self.affinities.get(p, 20000.0) / 100} for a in alleles
                for p in peptides]
        return pd.DataFrame(rows, columns=["peptide", "allele", "affinity_nm", "percentile"])


def L(ic50):  # noqa: N802 - the logistic of the ranking docs
    return 0.0 if ic50 >= 5000 else 1 / (1 + math.exp((ic50 - 350) / 150))


def _input(tmp_path, text):
    path = tmp_path / "input.tsv"
    path.write_text(text)
    return score.read_input(str(path))


def test_input_order_alleles_and_hand_computed_scores(tmp_path):
    table = _input(tmp_path, "mutant\tallele\twildtype\tvaf\texpression\n"
                   "SLYNTVATL\tHLA-B*07:02\t\t\t\n"
                   "GILGFVFTL\tA*02:01, B*07:02\tGILGFVFTA\t0.4\t25\n")
    rows = score.expand_rows(table)
    predictor = FakePredictor({"SLYNTVATL": 350.0, "GILGFVFTL": 50.0, "GILGFVFTA": 100.0})
    out = score.score_table(rows, predictor)
    assert out["mutant_peptide"].tolist() == ["SLYNTVATL", "GILGFVFTL", "GILGFVFTL"]
    assert out["allele"].tolist() == ["HLA-B*07:02", "HLA-A*02:01", "HLA-B*07:02"]
    assert out["input_line"].tolist() == [2, 3, 3]
    assert out["allele_status"].tolist() == ["extrapolated", "supported", "extrapolated"]
    # Row 1: binding only. Row 2: binding, vaf, dissimilarity, expression.
    assert out.loc[0, "score"] == pytest.approx(0.5, abs=1e-6)
    expected = (L(50) + 0.5 * 0.4 + 0.25 * (1 - L(100)) + 0.25 * 25 / 35) / 2.0
    assert out.loc[1, "score"] == pytest.approx(expected, abs=1e-6)
    assert out.loc[1, "score_components"] == "binding;vaf;dissimilarity;expression"
    assert out.loc[1, "agretopicity"] == pytest.approx(0.5)
    assert out.loc[1, "pass_agretopicity"] == "pass"     # 0.5 <= 0.5
    assert out.loc[1, "pass_expression"] == "pass"
    assert out.loc[0, "pass_expression"] == "not_assessed"
    assert set(out["pass_clonality"]) == {"not_assessed"}
    assert out["tier"].tolist() == ["Pass", "Pass", "Pass"]
    assert list(out.columns) == score.OUTPUT_COLUMNS


def test_long_sequence_expanded_to_all_8_to_11_mers_with_wildtype_windows():
    mutant = "MKTAYIAKQRQISFVKSHFSRQ"  # 22 residues, mutation K->E at offset 10
    wildtype = mutant[:10] + "K" + mutant[11:]
    mutant = mutant[:10] + "E" + mutant[11:]
    table = pd.DataFrame({"input_line": [2], "mutant": [mutant], "wildtype": [wildtype],
                          "allele": ["HLA-A*02:01"]})
    rows = score.expand_rows(table)
    # Windows of length k containing offset 10: starts max(0, 10-k+1)..min(10, 22-k).
    expected = [(k, s) for k in range(8, 12) for s in range(max(0, 11 - k), min(10, 22 - k) + 1)]
    assert [(len(p), s) for p, s in zip(rows["mutant_peptide"], rows["start"],
                                         strict=True)] == expected
    assert all(mutant[s:s + len(p)] == p for p, s in zip(rows["mutant_peptide"], rows["start"],
                                                         strict=True))
    assert all(wildtype[s:s + len(w)] == w for w, s in zip(rows["wildtype_peptide"],
                                                           rows["start"], strict=True))
    assert len(rows) == sum(k for k in range(8, 12))  # k windows of length k carry offset 10
    # Without a wildtype every window is kept: 15 + 14 + 13 + 12.
    alone = score.expand_rows(table.drop(columns="wildtype"))
    assert len(alone) == 15 + 14 + 13 + 12
    assert alone["n_flank"].iloc[1] == mutant[:1] and alone["c_flank"].iloc[0] == mutant[8:23]


@pytest.mark.parametrize("text,message", [
    ("peptide\tallele\nSIINFEKL\tHLA-A*02:01\n", "missing column"),
    ("mutant\tallele\nSIIN\tHLA-A*02:01\n", "shorter than 8"),
    ("mutant\tallele\nSIINFEKX\tHLA-A*02:01\n", "non-standard"),
    ("mutant\tallele\nSIINFEKL\t\n", "empty allele"),
    ("mutant\tallele\tvaf\nSIINFEKL\tHLA-A*02:01\t40\n", "vaf '40'"),
])
def test_bad_input_names_the_line(tmp_path, text, message):
    with pytest.raises(InputFileError, match=message):
        score.expand_rows(_input(tmp_path, text), where="input.tsv")


def test_run_with_embedded_models(tmp_path):
    """End to end with the embedded models: a known HLA-A*02:01 epitope beats a non-binder."""
    (tmp_path / "input.tsv").write_text(
        "mutant\tallele\n"
        "DDDDDDDDD\tHLA-A*02:01\n"          # acidic 9-mer: no A*02:01 anchors
        "NLVPMVATV\tHLA-A*02:01\n")         # CMV pp65 A*02:01 epitope
    args = argparse.Namespace(input=str(tmp_path / "input.tsv"),
                              output=str(tmp_path / "scored.tsv"), params=None,
                              models="embedded", embedded_dir="resources/mhcflurry/embedded",
                              official_dir=None, cache=None)
    assert score.run(args) == 0
    out = read_tsv(tmp_path / "scored.tsv")
    assert out["mutant_peptide"].tolist() == ["DDDDDDDDD", "NLVPMVATV"]  # input order
    assert out.loc[1, "affinity_nm"] < out.loc[0, "affinity_nm"]
    assert out.loc[1, "score"] > out.loc[0, "score"]
    assert out.loc[1, "binder"] and out.loc[1, "tier"] == "Pass"
    assert out.loc[0, "tier"] == "WeakBinder"
    # Same ranking code as `neorank rank`: the score is the logistic of the affinity.
    params = config.ranking_params({})["ranking"]
    assert out.loc[1, "score"] == pytest.approx(
        ranking.logistic_affinity([out.loc[1, "affinity_nm"]], params["affinity_midpoint_nm"],
                               params["affinity_width_nm"], params["affinity_cutoff_nm"])[0],
        abs=1e-5)


class FakePresentationPredictor(FakePredictor):
    """Adds presentation: score 0.9 / percentile 0.5 for the first allele, else 0.1 / 5.0."""

    affinity_only = False

    def presentation(self, peptides, n_flanks, c_flanks, alleles):
        self.flanks = list(zip(n_flanks, c_flanks, strict=True))
        good = alleles == ["HLA-A*02:01"]
        return pd.DataFrame({"peptide": peptides, "n_flank": n_flanks, "c_flank": c_flanks,
                             "presentation_score": 0.9 if good else 0.1,
                             "presentation_percentile": 0.5 if good else 5.0,
                             "processing_score": 0.5})


def test_presentation_per_allele_with_real_flanks():
    sequence = "AAAAAGILGFVFTLKKKKK"   # 19 residues: the 9-mer at offset 5 has flanks
    table = pd.DataFrame({"input_line": [2], "mutant": [sequence],
                          "allele": ["HLA-A*02:01 HLA-B*07:02"]})
    rows = score.expand_rows(table)
    predictor = FakePresentationPredictor({"GILGFVFTL": 50.0})
    out = score.score_table(rows, predictor)
    hit = out[(out["mutant_peptide"] == "GILGFVFTL")].set_index("allele")
    assert hit.loc["HLA-A*02:01", "pass_presentation"] == "pass"
    assert hit.loc["HLA-B*07:02", "pass_presentation"] == "fail"
    assert hit.loc["HLA-B*07:02", "tier"] == "WeakBinder"
    # binding L(50) with presentation 0.9: (L(50) + 0.5 * 0.9) / 1.5
    assert hit.loc["HLA-A*02:01", "score"] == pytest.approx((L(50) + 0.45) / 1.5, abs=1e-6)
    assert ("AAAAA", "KKKKK") in predictor.flanks


def test_wildtype_of_another_length_is_not_windowed():
    table = pd.DataFrame({"input_line": [2], "mutant": ["MKTAYIAKQRQISFV"],
                          "wildtype": ["MKTAYIAKQRISFV"], "allele": ["HLA-A*02:01"]})
    rows = score.expand_rows(table)
    assert rows["wildtype_peptide"].isna().all()
    assert len(rows) == 8 + 7 + 6 + 5
