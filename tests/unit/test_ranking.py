"""neorank.ranking: the composite score keeps the binding signal (strictly monotone in
IC50, no ties at the printed precision), anchor tables, tier reasons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neorank import config, ranking
from neorank.errors import NeoRankError
from neorank.io import tsv_text


def _frame(ic50: np.ndarray, **fixed) -> pd.DataFrame:
    frame = pd.DataFrame({"mutant_affinity_nm": ic50})
    for column, value in fixed.items():
        frame[column] = value
    return frame


#: Other inputs fixed: every component assessed (the largest total weight, 2.5, so the
#: smallest binding share of the score), and binding alone.
ALL_COMPONENTS = {"tumor_vaf": 0.4, "wildtype_affinity_nm": 800.0, "presentation_score": 0.5,
                  "gene_tpm": 12.0}


def _printed(score: np.ndarray) -> np.ndarray:
    """The scores as candidates.tsv prints them (%.6g after rounding to 6 decimals)."""
    text = tsv_text(pd.DataFrame({"score": score}), header=False)
    return np.array([float(v) for v in text.split()])


def _strictly_decreasing(values: np.ndarray) -> bool:
    return bool(np.all(np.diff(values) < 0))


@pytest.mark.parametrize("fixed", [ALL_COMPONENTS, {}], ids=["all-components", "binding-only"])
def test_score_strictly_decreasing_in_ic50_without_ties(fixed):
    """IC50 swept from 1 to 50,000 nM (MHCflurry's whole output range) in steps of 0.02%,
    and in steps of 1 nM up to 5,000 nM: every printed score differs from the next."""
    params = config.ranking_params({})
    geometric = np.geomspace(1.0, 50000.0, int(math.log(50000.0) / math.log(1.0002)) + 1)
    assert geometric[0] == 1.0 and geometric[-1] == 50000.0 and len(geometric) > 54_000
    assert (geometric[1:] / geometric[:-1]).min() >= 1.0002
    for sweep in (geometric, np.arange(1.0, 5001.0)):
        score, components = ranking.score_rows(_frame(sweep, **fixed), params)
        expected = "binding;vaf;dissimilarity;presentation;expression" if fixed else "binding"
        assert set(components) == {expected}
        printed = _printed(score)
        assert _strictly_decreasing(printed), sweep[np.flatnonzero(np.diff(printed) >= 0)][:5]
        assert len(np.unique(printed)) == len(sweep)


def test_the_sweep_detects_the_old_ties():
    """The same sweep on Vaxrank's logistic alone (the score before) has ties from
    about 2,500 nM on: the test above would fail on it."""
    ranking_section = config.ranking_params({})["ranking"]
    sweep = np.arange(1.0, 5001.0)
    old = np.round(ranking.logistic_affinity(sweep, ranking_section["affinity_midpoint_nm"],
                                             ranking_section["affinity_width_nm"],
                                             ranking_section["affinity_cutoff_nm"]), 6)
    assert not _strictly_decreasing(_printed(old))
    assert sweep[np.flatnonzero(np.diff(old) == 0)[0]] < 3000


def test_score_strictly_increasing_in_the_other_components():
    params = config.ranking_params({})
    base = dict(ALL_COMPONENTS)
    for column, values in [("tumor_vaf", np.linspace(0.01, 1.0, 100)),
                           ("wildtype_affinity_nm", np.geomspace(1.0, 50000.0, 400)),
                           ("presentation_score", np.linspace(0.0, 1.0, 100)),
                           ("gene_tpm", np.geomspace(0.1, 1000.0, 100))]:
        fixed = {k: v for k, v in base.items() if k != column}
        frame = _frame(np.full(len(values), 300.0), **fixed)
        frame[column] = values
        score, _ = ranking.score_rows(frame, params)
        assert np.all(np.diff(score) > 0), column


@pytest.mark.parametrize("share", [0.05, 0.5, 1.0])
def test_every_log_share_is_strictly_monotone(share):
    params = config.ranking_params({"ranking": {"affinity_log_share": share}})
    sweep = np.geomspace(1.0, 50000.0, 20000)
    values = ranking.binding_score(sweep, params["ranking"])
    assert _strictly_decreasing(values)
    assert values[-1] == 0.0 and 0 < values[0] <= 1.0


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, "0.2", None, True])
def test_log_share_must_be_in_zero_one(bad):
    params = config.ranking_params({"ranking": {"affinity_log_share": bad}})
    with pytest.raises(NeoRankError, match="affinity_log_share"):
        ranking.check_params(params)


def test_binding_score_formula():
    params = config.ranking_params({})["ranking"]
    for ic50 in (1.0, 50.0, 350.0, 500.0, 4999.0, 5000.0, 49999.0):
        logistic = 0.0 if ic50 >= 5000 else 1 / (1 + math.exp((ic50 - 350) / 150))
        expected = 0.8 * logistic + 0.2 * (1 - math.log(ic50) / math.log(50000))
        assert ranking.binding_score([ic50], params)[0] == pytest.approx(expected, abs=1e-12)
    # the documented values (docs/scoring.md)
    assert np.round(ranking.binding_score([50.0, 350.0, 500.0, 5000.0], params), 6).tolist() \
        == [0.832325, 0.491718, 0.300278, 0.042563]
    assert np.isnan(ranking.binding_score([np.nan], params)[0])


def test_anchor_table_and_positions():
    ranking_section = config.ranking_params({})["ranking"]
    table = ranking.anchor_table(ranking_section)
    assert ranking.anchor_positions("HLA-A*02:01", 9, table) == {2, 9}
    assert ranking.anchor_positions("HLA-A*02:01", 11, table) == {2, 11}
    assert ranking.anchor_positions("HLA-B*08:01", 9, table) == {3, 5, 9}
    assert ranking.anchor_positions("HLA-A*01:01", 10, table) == {3, 10}
    override = dict(ranking_section, anchor_positions=["A*02:01 = 1, 2, -2, -1",
                                                       "default=2"])
    table = ranking.anchor_table(override)
    assert ranking.anchor_positions("HLA-A*02:01", 9, table) == {1, 2, 8, 9}
    assert ranking.anchor_positions("HLA-C*07:01", 9, table) == {2}
    assert ranking.anchor_positions("HLA-B*08:01", 8, table) == {3, 5, 8}


def _evidence(**columns) -> pd.DataFrame:
    base = {"binder": [True], "mutant_affinity_nm": [120.0], "mutant_percentile": [0.4],
            "wildtype_affinity_nm": [90.0], "mutant_peptide": ["SFMLRAVSF"],
            "wildtype_peptide": ["SFMLRAVSI"], "allele": ["HLA-B*08:01"],
            "mutation_positions": ["9"]}
    base.update(columns)
    return pd.DataFrame(base)


def test_anchor_criterion_cases():
    params = config.ranking_params({})
    assess = ranking.assess_criteria
    assert assess(_evidence(), params).loc[0, "tier"] == "Anchor"
    # the wildtype binds worse: the anchor change improves binding -> pass
    assert assess(_evidence(wildtype_affinity_nm=[121.0]), params).loc[0, "pass_anchor"] \
        == "pass"
    # P2 is not an anchor of B*08:01, but of A*02:01
    p2 = dict(mutant_peptide=["SLMLRAVSI"], mutation_positions=["2"])
    assert assess(_evidence(**p2), params).loc[0, "pass_anchor"] == "pass"
    assert assess(_evidence(**p2, allele=["HLA-A*02:01"]), params).loc[0, "pass_anchor"] \
        == "fail"
    # a second, non-anchor change -> pass; a wildtype of another length -> not assessed
    two = dict(mutant_peptide=["SFMLKAVSF"], mutation_positions=["5;9"], allele=["HLA-A*02:01"])
    assert assess(_evidence(**two), params).loc[0, "pass_anchor"] == "pass"
    assert assess(_evidence(wildtype_peptide=["SFMLRAVSIK"]), params).loc[0, "pass_anchor"] \
        == "not_assessed"
    assert assess(_evidence(wildtype_affinity_nm=[np.nan], wildtype_peptide=[None]),
                  params).loc[0, "pass_anchor"] == "not_assessed"
    # a non-binder failing the anchor rule fails two families
    assert assess(_evidence(binder=[False]), params).loc[0, "tier"] == "Poor"


def test_tier_reasons_name_each_failed_criterion():
    params = config.ranking_params({})
    frame = _evidence(binder=[False], mutant_affinity_nm=[812.4], mutant_percentile=[3.14],
                      evidence=["predicted_splice"], rna_alt_reads=[1.0], gene_tpm=[0.4],
                      clonality=["subclonal"], tumor_vaf=[0.12], self_match=[True])
    out = ranking.assess_criteria(frame, params)
    reason = out.loc[0, "tier_reason"]
    assert out.loc[0, "tier"] == "Poor"
    for text in ("several criterion families fail", "not a binder: IC50 812.4 nM > 500 nM, "
                 "percentile 3.14 > 2", "anchor position(s) 9 of HLA-B*08:01",
                 "predicted splice outcome without RNA support: 1 tumor RNA read(s)",
                 "occurs in the reference proteome", "expression 0.4 TPM < 1",
                 "subclonal (VAF 0.12)"):
        assert text in reason, text
    # Pass: which criteria were not assessed
    passing = ranking.assess_criteria(_evidence(wildtype_affinity_nm=[500.0],
                                                evidence=["dna"]), params)
    assert passing.loc[0, "tier"] == "Pass"
    assert passing.loc[0, "tier_reason"] == (
        "every assessed criterion passes (not assessed: presentation, agretopicity, "
        "clonality, expression, rna_support, self_match)")
    assert list(ranking.TIERS) == ["Pass", "Anchor", "SpliceUnconfirmed", "WeakBinder",
                                   "SelfSimilar", "LowExpression", "Subclonal", "Poor"]


def _reference_number(value: float, digits: int = 3) -> str:
    """tier_reason's number, row by row: NA, whole numbers with separators from 1,000
    on, else ``digits`` significant digits."""
    return ("NA" if value != value else f"{value:,.0f}" if abs(value) >= 1000
            else f"{value:.{digits}g}")


@pytest.mark.parametrize("digits", [3, 4])
def test_reason_numbers_print_what_format_prints(digits):
    """The numbers of tier_reason, printed in Arrow, are the texts Python's format gives
    for IC50s, percentiles, fractions, TPMs and read counts, the edges of the plain
    range and of the thousands separator (values rounding onto 1,000 and 1,000,000),
    ties, negatives, zeros, infinities and NaN."""
    rng = np.random.default_rng(5)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 999.5, 999.4999, 999.95, 999.96, 1000.0,
               1000.5, 1001.5, 999_999.4, 999_999.5, 1e6, 1234567.0, -1500.0, -0.5, 1e-4,
               9.9995e-5, 0.000123456, 1e-7, 12.345, 12.355, 0.5, 2.5, 50000.0, 49999.5]
    values = np.concatenate([rng.lognormal(5, 3, 100_000), rng.random(50_000),
                             rng.integers(0, 60_000, 20_000) + 0.5,
                             -rng.lognormal(3, 3, 10_000), np.array(special)])
    expected = [_reference_number(v, digits) for v in values.tolist()]
    got = ranking._numbers(values, digits).to_pylist()
    wrong = [(v, e, g) for v, e, g in zip(values.tolist(), expected, got, strict=True)
             if e != g]
    assert not wrong, wrong[:5]


def _reference_anchor(row: dict, table) -> str:
    """pass_anchor of one row as the module docstring states it."""
    positions = ranking.parse_positions(row["mutation_positions"])
    mutant, wildtype = row["mutant_peptide"], row["wildtype_peptide"]
    if (positions is None or not isinstance(wildtype, str) or not wildtype
            or len(wildtype) != len(mutant)
            or any(a != b and i + 1 not in positions
                   for i, (a, b) in enumerate(zip(mutant, wildtype, strict=True)))
            or math.isnan(row["wildtype_affinity_nm"])):
        return "not_assessed"
    anchors = ranking.anchor_positions(row["allele"], len(mutant), table)
    fails = set(positions) <= anchors and row["wildtype_affinity_nm"] <= row[
        "mutant_affinity_nm"]
    return "fail" if fails else "pass"


def _random_evidence(n: int, seed: int) -> pd.DataFrame:
    """Evidence rows as rank builds them, every criterion varied: substitutions at
    anchor and other positions, several positions, indel-like wildtypes of another
    length, missing wildtypes, positions beyond the peptide, each peptide with several
    alleles."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    alleles = ["HLA-A*02:01", "HLA-B*08:01", "HLA-A*01:01", "HLA-C*07:01"]
    rows = []
    for _ in range(n // 2):
        length = int(rng.integers(8, 12))
        wildtype = "".join(rng.choice(letters, length))
        kind = rng.random()
        if kind < 0.7:
            positions = sorted({int(p) for p in rng.integers(1, length + 1,
                                                             rng.integers(1, 3))})
            mutant = list(wildtype)
            for p in positions:
                mutant[p - 1] = "W" if mutant[p - 1] != "W" else "Y"
            mutant = "".join(mutant)
            if rng.random() < 0.1:  # a difference outside the listed positions
                mutant = ("Y" if mutant[0] != "Y" else "W") + mutant[1:]
            text = ";".join(map(str, positions))
        elif kind < 0.85:
            mutant, text = wildtype[:-1] + "KR", f"{length};{length + 1}"
        else:
            mutant, text = "".join(rng.choice(letters, length)), None
        wild = None if rng.random() < 0.1 else wildtype
        for allele in rng.choice(alleles, 2, replace=False).tolist():
            ic50 = float(rng.lognormal(6, 2))
            rows.append({
                "binder": ic50 <= 500, "mutant_affinity_nm": ic50,
                "mutant_percentile": float(rng.lognormal(0, 2)) if rng.random() < 0.9
                else np.nan,
                "wildtype_affinity_nm": float(rng.lognormal(6, 2)) if wild else np.nan,
                "mutant_peptide": mutant, "wildtype_peptide": wild, "allele": allele,
                "mutation_positions": text,
                "presentation_percentile": float(rng.lognormal(0, 2)),
                "agretopicity": float(rng.lognormal(0, 1)),
                "clonality": rng.choice(["clonal", "subclonal", None]),
                "tumor_vaf": float(rng.random()),
                "ccf": float(rng.random()) if rng.random() < 0.5 else np.nan,
                "gene_tpm": float(rng.lognormal(1, 2)) if rng.random() < 0.8 else np.nan,
                "rna_alt_reads": float(rng.integers(0, 5)) if rng.random() < 0.7 else np.nan,
                "self_match": bool(rng.random() < 0.05),
                "evidence": rng.choice(["dna", "predicted_splice"], p=[0.9, 0.1]),
            })
    return pd.DataFrame(rows)


def test_criteria_and_reasons_match_a_row_by_row_reading_of_the_rules():
    """assess_criteria (vectorised over distinct peptides and in Arrow) gives, row by
    row, the anchor verdict the docstring states, the tier its families give, and the
    tier_reason composed from each failed criterion's text in family order."""
    params = config.ranking_params({})
    binding, rules = params["binding"], params["ranking"]
    frame = _random_evidence(3000, seed=8)
    out = ranking.assess_criteria(frame, params)
    table = ranking.anchor_table(rules)
    rows = frame.to_dict("records")
    assert [_reference_anchor(r, table) for r in rows] == out["pass_anchor"].tolist()
    assert set(out["pass_anchor"]) == {"pass", "fail", "not_assessed"}
    n = _reference_number

    def texts(r: dict, criterion: str) -> str:
        return {
            "anchor": lambda: (
                f"mutated only at anchor position(s) {r['mutation_positions']} of "
                f"{r['allele']} and the wildtype binds as well "
                f"({n(r['wildtype_affinity_nm'], 4)} <= {n(r['mutant_affinity_nm'], 4)} "
                "nM): T cells see the wildtype's residues"),
            "splice_support": lambda: (
                "peptide of a predicted splice outcome without RNA support: " + (
                    "no RNA evidence (no tumor RNA BAM, or it lacks the contig)"
                    if math.isnan(r["rna_alt_reads"]) else
                    f"{n(r['rna_alt_reads'])} tumor RNA read(s) carry the variant (< 2)")),
            "binding": lambda: (
                f"not a binder: IC50 {n(r['mutant_affinity_nm'], 4)} nM > "
                f"{binding['max_affinity_nm']:g} nM, " + (
                    "no percentile" if math.isnan(r["mutant_percentile"]) else
                    f"percentile {n(r['mutant_percentile'])} > "
                    f"{binding['max_percentile']:g}")),
            "presentation": lambda: (f"presentation percentile "
                                     f"{n(r['presentation_percentile'])} > 2"),
            "self_match": lambda: "the mutant peptide occurs in the reference proteome",
            "expression": lambda: f"expression {n(r['gene_tpm'])} TPM < 1",
            "rna_support": lambda: (f"{n(r['rna_alt_reads'])} tumor RNA read(s) carry the "
                                    "variant (< 2)"),
            "clonality": lambda: (f"subclonal (VAF {n(r['tumor_vaf'])}"
                                  + ("" if math.isnan(r["ccf"]) else f", CCF {n(r['ccf'])}")
                                  + ")"),
        }[criterion]()

    tiers_seen = set()
    for r, (_, verdicts) in zip(rows, out.iterrows(), strict=True):
        failed = [(tier, [c for c in criteria if verdicts[f"pass_{c}"] == "fail"])
                  for tier, criteria in ranking.TIER_FAMILIES]
        failed = [(tier, cs) for tier, cs in failed if cs]
        tier = "Pass" if not failed else failed[0][0] if len(failed) == 1 else "Poor"
        assert verdicts["tier"] == tier
        tiers_seen.add(tier)
        if tier == "Pass":
            missing = [c for c in ranking.CRITERIA if verdicts[f"pass_{c}"] == "not_assessed"]
            reason = "every assessed criterion passes" + (
                f" (not assessed: {', '.join(missing)})" if missing else "")
        else:
            reason = ("several criterion families fail: " if tier == "Poor" else "") + "; ".join(
                texts(r, c) for _, cs in failed for c in cs)
        assert verdicts["tier_reason"] == reason
    assert {"Pass", "Anchor", "WeakBinder", "Poor", "Subclonal"} <= tiers_seen
