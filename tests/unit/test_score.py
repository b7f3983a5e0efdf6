"""``neorank score``: peptides or long sequences scored with the ranking, input order kept,
only windows that hold the mutation, every input row in the output."""

from __future__ import annotations

import argparse
import gzip
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from neorank import config, ranking, score
from neorank.cli import build_parser
from neorank.errors import InputFileError
from neorank.io import read_tsv
from neorank.models import load_predictor

ROOT = Path(__file__).resolve().parents[2]


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


def L(ic50):  # noqa: N802 - Vaxrank's logistic of the ranking docs
    return 0.0 if ic50 >= 5000 else 1 / (1 + math.exp((ic50 - 350) / 150))


def B(ic50, share=0.2):  # noqa: N802 - the binding score of docs/scoring.md
    log_term = min(1.0, max(0.0, 1 - math.log(max(ic50, 1.0)) / math.log(50000)))
    return (1 - share) * L(ic50) + share * log_term


def abcf2() -> str:
    """The real ABCF2 protein (ENST00000222388) from the embedded reference."""
    sequence, current = [], False
    with gzip.open(ROOT / "resources" / "reference" / "reference.pep.fa.gz", "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                current = "transcript:ENST00000222388." in line
            elif current:
                sequence.append(line.strip())
    return "".join(sequence)


WILDTYPE = abcf2()[100:130]  # LSDTKLELNSGRRYGLIGLNGIGKSMLLSA, 30 residues


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
    assert out["mutation_positions"].tolist()[1:] == ["9", "9"]
    # Row 1: binding only. Row 2: binding, vaf, dissimilarity, expression.
    assert out.loc[0, "score"] == pytest.approx(round(B(350), 6), abs=1e-9)
    expected = (B(50) + 0.5 * 0.4 + 0.25 * (1 - B(100)) + 0.25 * 25 / 35) / 2.0
    assert out.loc[1, "score"] == pytest.approx(expected, abs=1e-6)
    assert out.loc[1, "score_components"] == "binding;vaf;dissimilarity;expression"
    assert out.loc[1, "agretopicity"] == pytest.approx(0.5)
    assert out.loc[1, "pass_agretopicity"] == "pass"     # 0.5 <= 0.5
    assert out.loc[1, "pass_expression"] == "pass"
    assert out.loc[0, "pass_expression"] == "not_assessed"
    assert set(out["pass_clonality"]) == {"not_assessed"}
    assert set(out["pass_splice_support"]) == {"not_assessed"}
    assert out["tier"].tolist() == ["Pass", "Pass", "Pass"]
    assert out["note"].isna().all()
    assert list(out.columns) == score.OUTPUT_COLUMNS


def _expected_windows(length: int, changed: set[int]) -> list[tuple[int, int]]:
    """(length, start) of the 8-11-mers of a ``length``-residue sequence holding a changed
    offset, in peptides.tsv order."""
    return [(k, s) for k in range(8, 12) for s in range(length - k + 1)
            if any(s <= i < s + k for i in changed)]


def test_substitution_windows_hold_the_mutation_with_the_same_wildtype_window():
    mutant = WILDTYPE[:15] + ("A" if WILDTYPE[15] != "A" else "V") + WILDTYPE[16:]
    table = pd.DataFrame({"input_line": [2], "mutant": [mutant], "wildtype": [WILDTYPE],
                          "allele": ["HLA-A*02:01"]})
    rows = score.expand_rows(table)
    assert [(len(p), s) for p, s in zip(rows["mutant_peptide"], rows["start"], strict=True)] \
        == _expected_windows(30, {15})
    assert len(rows) == sum(range(8, 12))  # k windows of length k carry offset 15
    for peptide, wt, start, positions in rows[["mutant_peptide", "wildtype_peptide", "start",
                                               "mutation_positions"]].itertuples(index=False):
        assert mutant[start:start + len(peptide)] == peptide
        assert wt == WILDTYPE[start:start + len(peptide)]
        assert positions == str(15 - start + 1)
    # Without a wildtype the mutation is unknown: every window is kept.
    alone = score.expand_rows(table.drop(columns="wildtype"))
    assert len(alone) == 23 + 22 + 21 + 20
    assert alone["mutation_positions"].isna().all()
    assert alone["n_flank"].iloc[1] == mutant[:1] and alone["c_flank"].iloc[0] == mutant[8:23]


def test_insertion_windows_and_wildtype_aligned_at_the_left():
    """An in-frame insertion of two residues into real ABCF2 sequence."""
    mutant = WILDTYPE[:15] + "WW" + WILDTYPE[15:]  # W does not occur nearby: no ambiguity
    table = pd.DataFrame({"input_line": [2], "mutant": [mutant], "wildtype": [WILDTYPE],
                          "allele": ["HLA-A*02:01"]})
    rows = score.expand_rows(table)
    assert [(len(p), s) for p, s in zip(rows["mutant_peptide"], rows["start"], strict=True)] \
        == _expected_windows(32, {15, 16})
    for peptide, wt, start, positions in rows[["mutant_peptide", "wildtype_peptide", "start",
                                               "mutation_positions"]].itertuples(index=False):
        k = len(peptide)
        assert positions == ";".join(str(i - start + 1) for i in (15, 16) if start <= i < start + k)
        left = min(start, 15)  # a window starting inside the insertion aligns at its left
        candidate = WILDTYPE[left:left + k]
        half = len(candidate) == k and 2 * sum(a == b for a, b in zip(candidate, peptide,
                                                                      strict=True)) >= k
        if half:
            assert wt == candidate, (start, k)
        else:
            assert pd.isna(wt), (start, k)
    assert rows["wildtype_peptide"].notna().any() and rows["wildtype_peptide"].isna().any()


def test_deletion_windows_span_the_junction():
    mutant = WILDTYPE[:13] + WILDTYPE[16:]  # YGL deleted: ...NSGRR|IGLNG...
    assert mutant[12:14] != WILDTYPE[12:14]  # the junction is unambiguous
    table = pd.DataFrame({"input_line": [2], "mutant": [mutant], "wildtype": [WILDTYPE],
                          "allele": ["HLA-A*02:01"]})
    rows = score.expand_rows(table)
    # windows holding both residues around the junction (offsets 12 and 13)
    expected = [(k, s) for k in range(8, 12) for s in range(len(mutant) - k + 1)
                if s <= 12 and 13 < s + k]
    assert [(len(p), s) for p, s in zip(rows["mutant_peptide"], rows["start"], strict=True)] \
        == expected
    assert all(p == f"{13 - s};{14 - s}" for p, s in zip(rows["mutation_positions"],
                                                         rows["start"], strict=True))
    # the wildtype window starts where the mutant's does (left of the deletion)
    for peptide, wt, start in rows[["mutant_peptide", "wildtype_peptide", "start"]].itertuples(
            index=False):
        candidate = WILDTYPE[start:start + len(peptide)]
        if 2 * sum(a == b for a, b in zip(candidate, peptide, strict=True)) >= len(peptide):
            assert wt == candidate
        else:
            assert pd.isna(wt)


def test_file_problems_are_one_error_listing_all(tmp_path):
    with pytest.raises(InputFileError, match=r"missing column\(s\) mutant, allele"):
        _input(tmp_path, "peptide\thla\nSIINFEKL\tHLA-A*02:01\n")
    with pytest.raises(InputFileError, match="not found"):
        score.read_input(str(tmp_path / "absent.tsv"))
    with pytest.raises(InputFileError, match="empty"):
        _input(tmp_path, "")


def _predictor():
    return load_predictor("embedded", "")


def _args(tmp_path, out, **more):
    base = dict(input=str(tmp_path / "input.tsv"), out=out, params=None, models="embedded",
                embedded_dir="", official_dir=None, cache=None, numerics="portable")
    base.update(more)
    return argparse.Namespace(**base)


def test_every_input_row_is_in_the_output_with_a_note_when_not_scored(tmp_path, caplog):
    """Real ABCF2 peptides with every kind of problem, an id column passed through first,
    exit 0, and a log line counting the rows not scored."""
    mutant9 = WILDTYPE[10:19]
    changed9 = mutant9[:4] + ("A" if mutant9[4] != "A" else "V") + mutant9[5:]
    rows = [
        ("good", changed9, "HLA-A*02:01 HLA-DRB1*01:01 A*02:999", mutant9, "0.4"),
        ("equal", mutant9, "HLA-A*02:01", mutant9, ""),
        ("no-window", WILDTYPE[:20], "HLA-A*02:01", WILDTYPE[:20] + "K", ""),
        ("bad-residue", changed9[:8] + "X", "HLA-A*02:01", "", ""),
        ("short", "SIINF", "HLA-A*02:01", "", ""),
        ("no-allele", changed9, "", mutant9, ""),
        ("bad-vaf", changed9, "HLA-A*02:01", mutant9, "40"),
        ("class-ii", changed9, "HLA-DRB1*01:01", mutant9, ""),
        ("null", changed9, "HLA-A*01:11N", mutant9, ""),
    ]
    text = "id\tmutant\tallele\twildtype\tvaf\tscore\n" + "".join(
        f"{i}\t{m}\t{a}\t{w}\t{v}\tmine\n" for i, m, a, w, v in rows)
    (tmp_path / "input.tsv").write_text(text)
    with caplog.at_level(logging.INFO, logger="neorank.score"):
        assert score.run(_args(tmp_path, str(tmp_path / "out.tsv"))) == 0
    out = read_tsv(tmp_path / "out.tsv", dtype={"id": str, "input_score": str,
                                                 "mutation_positions": str})
    assert list(out.columns[:2]) == ["id", "input_score"]  # passed through first, renamed
    assert list(out.columns[2:]) == score.OUTPUT_COLUMNS
    assert set(out["input_score"]) == {"mine"}
    assert set(out["input_line"]) == set(range(2, len(rows) + 2))  # every input row
    assert out["input_line"].is_monotonic_increasing
    by_id = {i: part for i, part in out.groupby("id", sort=False)}
    good = by_id["good"]
    scored = good[good["note"].isna()]
    assert scored["allele"].tolist() == ["HLA-A*02:01"] and scored["tier"].notna().all()
    assert scored["mutation_positions"].tolist() == ["5"]
    assert scored["score"].between(0, 1).all()
    noted = good[good["note"].notna()].set_index("allele")["note"]
    assert "class II" in noted["HLA-DRB1*01:01"] and "A*02:999" in noted.index[1]
    notes = {i: part["note"].iloc[0] for i, part in by_id.items() if i != "good"}
    assert all(len(by_id[i]) == 1 for i in notes)  # one row each
    assert "equals wildtype" in notes["equal"]
    assert "no 8-11-residue window" in notes["no-window"]
    assert "non-standard residue(s) 'X'" in notes["bad-residue"]
    assert "shorter than 8" in notes["short"]
    assert "empty allele" in notes["no-allele"]
    assert "vaf '40'" in notes["bad-vaf"]
    assert "class II" in notes["class-ii"]
    assert "null allele" in notes["null"]
    for i in notes:
        assert pd.isna(by_id[i]["score"].iloc[0]) and pd.isna(by_id[i]["tier"].iloc[0])
    not_scored = int(out["note"].notna().sum())
    assert not_scored == len(notes) + 2
    assert f"{not_scored} row(s) not scored" in caplog.text


def test_out_dash_writes_stdout_and_output_is_an_alias(tmp_path, capsys):
    mutant = WILDTYPE[:15] + ("A" if WILDTYPE[15] != "A" else "V") + WILDTYPE[16:]
    (tmp_path / "input.tsv").write_text(f"mutant\twildtype\tallele\n{mutant}\t{WILDTYPE}\t"
                                        "HLA-A*02:01\n")
    parser = build_parser()
    args = parser.parse_args(["score", "--input", str(tmp_path / "input.tsv"), "--out", "-"])
    assert args.embedded_dir == ""  # the models shipped with NeoRank
    assert args.run(args) == 0
    printed = capsys.readouterr().out
    alias = parser.parse_args(["score", "--input", str(tmp_path / "input.tsv"),
                               "--output", str(tmp_path / "out.tsv")])
    assert alias.out == str(tmp_path / "out.tsv")
    assert alias.run(alias) == 0
    assert printed == (tmp_path / "out.tsv").read_text()
    assert printed.count("\n") == 1 + sum(range(8, 12))
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--out OUT, --output OUT" in help_text and "'-' writes standard output" in help_text
    assert "(default: empty, the models shipped with NeoRank)" in help_text


def test_run_with_embedded_models(tmp_path):
    """End to end with the embedded models: a known HLA-A*02:01 epitope beats a non-binder."""
    (tmp_path / "input.tsv").write_text(
        "mutant\tallele\n"
        "DDDDDDDDD\tHLA-A*02:01\n"          # acidic 9-mer: no A*02:01 anchors
        "NLVPMVATV\tHLA-A*02:01\n")         # CMV pp65 A*02:01 epitope
    args = argparse.Namespace(input=str(tmp_path / "input.tsv"),
                              output=str(tmp_path / "scored.tsv"), params=None,
                              models="embedded", embedded_dir="resources/mhcflurry/embedded",
                              official_dir=None, cache=None, numerics="portable")
    assert score.run(args) == 0
    out = read_tsv(tmp_path / "scored.tsv")
    assert out["mutant_peptide"].tolist() == ["DDDDDDDDD", "NLVPMVATV"]  # input order
    assert out.loc[1, "affinity_nm"] < out.loc[0, "affinity_nm"]
    assert out.loc[1, "score"] > out.loc[0, "score"]
    assert out.loc[1, "binder"] and out.loc[1, "tier"] == "Pass"
    assert out.loc[0, "tier"] == "WeakBinder"
    # Same ranking code as `neorank rank`: the score is the binding score of the affinity.
    params = config.ranking_params({})["ranking"]
    for row in (0, 1):
        assert out.loc[row, "score"] == pytest.approx(
            ranking.binding_score([out.loc[row, "affinity_nm"]], params)[0], abs=1e-5)
        assert out.loc[row, "score"] == pytest.approx(B(out.loc[row, "affinity_nm"]), abs=1e-5)


def test_anchor_tier_in_score_uses_the_alleles_anchors():
    """PTH1R SFMLRAVSI -> SFMLRAVSF (the demo's chr3:46898732 A>T) on HLA-B*08:01: the
    change is at PΩ, an anchor. Anchor tier exactly when the embedded models predict the
    wildtype to bind at least as well."""
    predictor = _predictor()
    table = pd.DataFrame({"input_line": [2], "mutant": ["SFMLRAVSF"],
                          "wildtype": ["SFMLRAVSI"], "allele": ["HLA-B*08:01 HLA-B*27:05"]})
    out = score.score_table(score.expand_rows(table), predictor).set_index("allele")
    assert out["mutation_positions"].tolist() == ["9", "9"]  # PΩ: an anchor of both alleles
    for allele, row in out.iterrows():
        anchor_fail = row["wildtype_affinity_nm"] <= row["affinity_nm"]
        assert row["pass_anchor"] == ("fail" if anchor_fail else "pass"), allele
        expected = {(True, True): "Anchor", (True, False): "Pass", (False, True): "Poor",
                    (False, False): "WeakBinder"}[(bool(row["binder"]), bool(anchor_fail))]
        assert row["tier"] == expected, allele
        if anchor_fail:
            assert f"anchor position(s) 9 of {allele}" in row["tier_reason"]
    # B*08:01 anchors are P3, P5 and PΩ: a change at P2 is not anchor-only there
    p2 = pd.DataFrame({"input_line": [2], "mutant": ["SLMLRAVSI"], "wildtype": ["SFMLRAVSI"],
                       "allele": ["HLA-B*08:01"]})
    assert score.score_table(score.expand_rows(p2), predictor).loc[0, "pass_anchor"] == "pass"


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
    assert "presentation percentile 5 > 2" in hit.loc["HLA-B*07:02", "tier_reason"]
    # binding B(50) with presentation 0.9: (B(50) + 0.5 * 0.9) / 1.5
    assert hit.loc["HLA-A*02:01", "score"] == pytest.approx((B(50) + 0.45) / 1.5, abs=1e-6)
    assert ("AAAAA", "KKKKK") in predictor.flanks
