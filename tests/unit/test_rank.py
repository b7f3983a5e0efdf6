"""Unit tests for ``neorank rank`` (binder flag, composite score, order, ids)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neorank import config, rank, ranking
from neorank.errors import InputFileError, NeoRankError
from neorank.io import read_tsv, tsv_text, write_tsv
from neorank.rank import candidates

SAMPLE = "PT01"
PREDICTOR = "mhcflurry-2.3.16/embedded"

VARIANTS = [
    # variant_id, gene, effect, change, tumor_depth, tumor_alt_reads, tumor_vaf, normal_vaf
    ("2:209113112:C>T", "IDH1", "Substitution", "p.R132H", 50, 20, 0.4, 0.0),
    ("17:7675088:C>T", "TP53", "Substitution", "p.R175H", None, None, None, None),
    ("12:25245350:C>A", "KRAS", "Substitution", "p.G12V", 80, 80, 1.3, 0.01),
]


def _variants() -> pd.DataFrame:
    rows = []
    for vid, gene, effect, change, depth, alt_reads, vaf, nvaf in VARIANTS:
        chrom, pos, alleles = vid.split(":")
        ref, alt = alleles.split(">")
        rows.append({
            "variant_id": vid, "chrom": chrom, "pos": int(pos), "ref": ref, "alt": alt,
            "filter": "PASS", "tumor_depth": depth, "tumor_alt_reads": alt_reads,
            "tumor_vaf": vaf, "normal_depth": 30 if nvaf is not None else None,
            "normal_vaf": nvaf, "gene_name": gene, "transcript_id": "ENST00000000001",
            "effect": effect, "protein_change": change, "status": "protein_changing",
            "reason": "",
        })
    return pd.DataFrame(rows)


def _pred(vid: str, peptide: str, allele: str, mt: float, pct: float | None,
          wt: float | None, wt_peptide: str | None = "XXXXXXXXX") -> dict:
    gene = {v[0]: v[1] for v in VARIANTS}[vid]
    return {
        "variant_id": vid, "gene_name": gene, "effect": "Substitution",
        "protein_change": "p.X1Y", "transcript_ids": "ENST00000000001", "length": len(peptide),
        "mutant_peptide": peptide, "wildtype_peptide": wt_peptide if wt is not None else None,
        "mutation_positions": "5", "n_flank": "MKLV", "c_flank": "QRST",
        "allele": allele, "allele_status": "supported", "mutant_affinity_nm": mt,
        "mutant_percentile": pct, "wildtype_affinity_nm": wt, "wildtype_percentile": None,
        "presentation_score": None, "processing_score": None,
        "presentation_percentile": None, "predictor": PREDICTOR,
    }


def L(ic50: float) -> float:  # noqa: N802 - Vaxrank's logistic (docs/scoring.md)
    return 0.0 if ic50 >= 5000 else 1 / (1 + math.exp((ic50 - 350) / 150))


def B(ic50: float, share: float = 0.2) -> float:  # noqa: N802 - the binding score
    """(1 - share) x L + share x (1 - ln IC50 / ln 50000), clipped (docs/scoring.md)."""
    log_term = min(1.0, max(0.0, 1 - math.log(max(ic50, 1.0)) / math.log(50000)))
    return (1 - share) * L(ic50) + share * log_term


def _sha_id(vid: str, peptide: str, allele: str) -> str:
    return f"{SAMPLE}-" + hashlib.sha1(f"{vid}|{peptide}|{allele}".encode()).hexdigest()[:12]


def _rank(rows: list[dict], params: dict | None = None) -> pd.DataFrame:
    return rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE,
                                config.ranking_params(params or {}))


def _row(frame: pd.DataFrame, peptide: str, allele: str = "HLA-A*02:01") -> pd.Series:
    hit = frame[(frame["mutant_peptide"] == peptide) & (frame["allele"] == allele)]
    assert len(hit) == 1
    return hit.iloc[0]


# --------------------------------------------------------------------------- components


def test_logistic_midpoint_is_exactly_half_and_cutoff_is_zero():
    values = ranking.logistic_affinity([350.0, 50.0, 500.0, 4999.0, 5000.0, 80000.0])
    assert values[0] == 0.5
    assert values[1] == pytest.approx(1 / (1 + math.exp(-2)))  # 0.8808
    assert values[2] == pytest.approx(1 / (1 + math.e))  # 0.2689
    assert 0 < values[3] < 1e-12
    assert values[4] == 0.0 and values[5] == 0.0


def test_binding_score_hand_computed():
    params = config.ranking_params({})["ranking"]
    # L(350) = 0.5; log term 1 - ln 350 / ln 50000 = 0.458590
    assert ranking.binding_score([350.0], params)[0] == pytest.approx(
        0.8 * 0.5 + 0.2 * (1 - math.log(350) / math.log(50000)), abs=1e-12)
    assert ranking.binding_score([350.0], params)[0] == pytest.approx(0.491718, abs=1e-6)
    assert ranking.binding_score([50000.0, 80000.0], params).tolist() == [0.0, 0.0]
    # 5000 nM: the logistic is 0 there, the log term is not
    assert ranking.binding_score([5000.0], params)[0] == pytest.approx(
        0.2 * (1 - math.log(5000) / math.log(50000)), abs=1e-12)


def test_score_all_components_hand_computed():
    # IC50 350; VAF 0.4; WT 20000 nM (a non-binder) -> dissimilarity 1 - B(20000).
    out = _rank([_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)])
    row = out.iloc[0]
    assert row["score"] == pytest.approx(
        round((1 * B(350) + 0.5 * 0.4 + 0.25 * (1 - B(20000))) / 1.75, 6), abs=1e-9)
    assert row["score"] == pytest.approx(0.535705, abs=1e-6)
    assert row["score_components"] == "binding;vaf;dissimilarity"
    assert row["agretopicity"] == pytest.approx(350 / 20000)
    assert row["tumor_vaf"] == 0.4 and row["tumor_depth"] == 50 and row["normal_vaf"] == 0.0


def test_missing_vaf_is_not_imputed_and_weights_renormalise():
    out = _rank([_pred("17:7675088:C>T", "HMTEVVRHC", "HLA-A*02:01", 350, 0.9, 20000)])
    row = out.iloc[0]
    assert row["score"] == pytest.approx((B(350) + 0.25 * (1 - B(20000))) / 1.25, abs=1e-6)
    assert row["score_components"] == "binding;dissimilarity"
    assert pd.isna(row["tumor_vaf"]) and pd.isna(row["tumor_depth"])


def test_missing_wildtype_drops_dissimilarity_and_agretopicity():
    out = _rank([_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, None)])
    row = out.iloc[0]
    assert row["score"] == pytest.approx(round((B(350) + 0.5 * 0.4) / 1.5, 6), abs=1e-9)
    assert row["score_components"] == "binding;vaf"
    assert pd.isna(row["agretopicity"])


def test_binding_only_when_vaf_and_wildtype_missing():
    out = _rank([_pred("17:7675088:C>T", "HMTEVVRHC", "HLA-A*02:01", 350, None, None)])
    assert out.iloc[0]["score"] == round(B(350), 6)
    assert out.iloc[0]["score_components"] == "binding"


def test_vaf_clipped_to_one():
    out = _rank([_pred("12:25245350:C>A", "VVVGAVGVG", "HLA-A*02:01", 350, 0.9, 20000)])
    assert out.iloc[0]["score"] == pytest.approx((B(350) + 0.5 * 1.0 + 0.25 * (1 - B(20000)))
                                                 / 1.75, abs=1e-6)


def test_zero_weight_component_is_not_listed():
    params = {"ranking": {"weights": {"vaf": 0}}}
    out = _rank([_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)], params)
    assert out.iloc[0]["score_components"] == "binding;dissimilarity"
    assert out.iloc[0]["score"] == pytest.approx((B(350) + 0.25 * (1 - B(20000))) / 1.25,
                                                 abs=1e-6)


# --------------------------------------------------------------------------- binder


def test_binder_thresholds_inclusive_and_percentile_only():
    vid = "2:209113112:C>T"
    out = _rank([
        _pred(vid, "AAAAAAAAA", "HLA-A*02:01", 500, 5.0, 20000),   # affinity exactly 500
        _pred(vid, "CCCCCCCCC", "HLA-A*02:01", 800, 1.5, 20000),   # percentile only
        _pred(vid, "DDDDDDDDD", "HLA-A*02:01", 800, 2.0, 20000),   # percentile exactly 2
        _pred(vid, "EEEEEEEEE", "HLA-A*02:01", 800, None, 20000),  # NA percentile: affinity only
        _pred(vid, "FFFFFFFFF", "HLA-A*02:01", 500.5, 2.01, 20000),  # neither
    ])
    flags = dict(zip(out["mutant_peptide"], out["binder"], strict=True))
    assert flags == {"AAAAAAAAA": True, "CCCCCCCCC": True, "DDDDDDDDD": True,
                     "EEEEEEEEE": False, "FFFFFFFFF": False}


def test_binders_rank_before_higher_scoring_non_binders():
    vid = "12:25245350:C>A"  # VAF clipped to 1
    out = _rank([
        _pred(vid, "NONBINDER", "HLA-A*02:01", 520, 3.0, 20000),  # score 0.586, not a binder
        _pred(vid, "PCTBINDER", "HLA-A*02:01", 2000, 0.5, 100),   # score 0.350, binder by percentile
    ])
    assert _row(out, "NONBINDER")["score"] > _row(out, "PCTBINDER")["score"]
    assert list(out["mutant_peptide"]) == ["PCTBINDER", "NONBINDER"]
    assert list(out["rank"]) == [1, 2]


# --------------------------------------------------------------------------- order and ids


def test_candidate_id_is_sha1_of_variant_peptide_allele():
    vid, peptide, allele = "2:209113112:C>T", "GWVKPIIIG", "HLA-B*07:02"
    out = _rank([_pred(vid, peptide, allele, 350, 0.9, 20000)])
    expected = "PT01-" + hashlib.sha1(b"2:209113112:C>T|GWVKPIIIG|HLA-B*07:02").hexdigest()[:12]
    assert out.iloc[0]["candidate_id"] == expected == _sha_id(vid, peptide, allele)
    assert rank.candidate_id(SAMPLE, vid, peptide, allele) == expected


def test_sort_score_then_affinity_then_candidate_id():
    vid = "17:7675088:C>T"  # no VAF; components binding (+ dissimilarity when WT)
    rows = [
        _pred(vid, "TIEBREAKA", "HLA-A*02:01", 100, 0.5, None),
        _pred(vid, "TIEBREAKB", "HLA-A*02:01", 100, 0.5, None),
        _pred(vid, "TIEBREAKC", "HLA-B*07:02", 100, 0.5, None),
        _pred(vid, "BESTSCORE", "HLA-A*02:01", 50, 0.1, None),
    ]
    out = _rank(list(reversed(rows)))
    assert out.iloc[0]["mutant_peptide"] == "BESTSCORE"
    tied = out.iloc[1:]
    assert tied["score"].nunique() == 1 and tied["mutant_affinity_nm"].nunique() == 1
    assert list(tied["candidate_id"]) == sorted(tied["candidate_id"])
    assert list(out["rank"]) == [1, 2, 3, 4]
    # Same input in another order gives the same table.
    again = _rank(rows)
    pd.testing.assert_frame_equal(out, again)


def test_equal_score_sorted_by_affinity():
    # At and beyond MHCflurry's 50,000 nM cap the binding score is 0 (MHCflurry never
    # predicts more): same score, different affinity -> lower IC50 first.
    vid = "17:7675088:C>T"
    out = _rank([
        _pred(vid, "WEAKERPEP", "HLA-A*02:01", 60000, 0.5, None),
        _pred(vid, "STRONGPEP", "HLA-A*02:01", 50000, 0.5, None),
    ])
    assert (out["score"] == 0).all()
    assert list(out["mutant_peptide"]) == ["STRONGPEP", "WEAKERPEP"]


# --------------------------------------------------------------------------- errors


def test_unknown_variant_is_an_input_error():
    rows = [_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)]
    rows[0]["variant_id"] = "9:1:A>G"
    with pytest.raises(InputFileError, match="not in variants.tsv"):
        _rank(rows)


def test_missing_mutant_affinity_is_an_input_error():
    with pytest.raises(InputFileError, match="mutant_affinity_nm") as err:
        _rank([_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", None, 0.9, 20000)])
    assert err.value.fix


def test_conflicting_duplicates_rejected_exact_duplicates_dropped():
    row = _pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)
    assert len(_rank([row, dict(row)])) == 1
    other = dict(row, mutant_affinity_nm=400)
    with pytest.raises(InputFileError, match="duplicate"):
        _rank([row, other])


@pytest.mark.parametrize("params, message", [
    ({"ranking": {"weights": {"immunogenicity": 1}}}, "unknown score component"),
    ({"ranking": {"weights": {"binding": 0}}}, "binding"),
    ({"ranking": {"affinity_width_nm": 0}}, "affinity_width_nm"),
    ({"binding": {"max_affinity_nm": -1}}, "max_affinity_nm"),
    ({"binding": {"max_affinity_nm": None, "max_percentile": None}}, "both null"),
])
def test_bad_params(params, message):
    with pytest.raises(NeoRankError, match=message):
        config.ranking_params(params)


# --------------------------------------------------------------------------- CLI


def _write_inputs(tmp_path, rows):
    write_tsv(pd.DataFrame(rows), tmp_path / "predictions.tsv")
    write_tsv(_variants(), tmp_path / "variants.tsv")
    params = {
        "binding": {"max_affinity_nm": 500, "max_percentile": 2.0},
        "ranking": {"weights": {"binding": 1.0, "vaf": 0.5, "dissimilarity": 0.25},
                    "affinity_midpoint_nm": 350, "affinity_width_nm": 150},
        "report": {"top_n": 50},
    }
    (tmp_path / "params.json").write_text(json.dumps(params))


def _args(tmp_path, out="candidates.tsv", **overrides):
    base = dict(sample=SAMPLE, predictions=str(tmp_path / "predictions.tsv"),
                variants=str(tmp_path / "variants.tsv"), params=str(tmp_path / "params.json"),
                out=str(tmp_path / out), max_affinity_nm=None, max_percentile=None,
                affinity_midpoint_nm=None, affinity_width_nm=None, weight_binding=None,
                weight_vaf=None, weight_dissimilarity=None)
    base.update(overrides)
    return argparse.Namespace(**base)


def test_run_writes_contract_columns_deterministically(tmp_path):
    rows = [
        _pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000),
        _pred("2:209113112:C>T", "GWVKPIIIG", "HLA-B*07:02", 9000, 40.0, 12000),
        _pred("17:7675088:C>T", "HMTEVVRHC", "HLA-A*02:01", 120, 0.4, None, None),
        _pred("12:25245350:C>A", "VVGAVGVGK", "HLA-A*02:01", 2500, 1.2, 3000),
    ]
    _write_inputs(tmp_path, rows)
    assert rank.run(_args(tmp_path)) == 0
    assert rank.run(_args(tmp_path, out="again.tsv")) == 0
    first = (tmp_path / "candidates.tsv").read_bytes()
    assert first == (tmp_path / "again.tsv").read_bytes()

    out = read_tsv(tmp_path / "candidates.tsv")
    predictions = read_tsv(tmp_path / "predictions.tsv")
    added = ["binder", "agretopicity", "tumor_vaf", "tumor_depth", "normal_vaf",
             "clonality", "ccf", "gene_tpm", "transcript_tpm", "rna_depth", "rna_alt_reads",
             "rna_vaf", "self_match", "pass_binding", "pass_presentation", "pass_agretopicity",
             "pass_clonality", "pass_expression", "pass_rna_support", "pass_self_match",
             "pass_anchor", "pass_splice_support", "tier", "tier_reason", "score",
             "score_components"]
    assert list(out.columns) == ["rank", "candidate_id", *predictions.columns, *added]
    assert list(out["rank"]) == [1, 2, 3, 4]
    # Binders first (by score: 0.769 binding-only, 0.536, 0.453), then the non-binder.
    assert out["binder"].tolist() == [True, True, True, False]
    assert out["mutant_peptide"].tolist() == ["HMTEVVRHC", "GWVKPIIIG", "VVGAVGVGK", "GWVKPIIIG"]
    assert out["allele"].tolist()[-1] == "HLA-B*07:02"
    expected = [B(120),
                (B(350) + 0.5 * 0.4 + 0.25 * (1 - B(20000))) / 1.75,
                (B(2500) + 0.5 * 1.0 + 0.25 * (1 - B(3000))) / 1.75]
    assert out["score"].tolist()[:3] == pytest.approx(expected, abs=1e-6)
    assert out["score_components"].tolist() == [
        "binding", "binding;vaf;dissimilarity", "binding;vaf;dissimilarity",
        "binding;vaf;dissimilarity"]
    lines = first.decode().splitlines()
    assert "\tNA\t" in lines[1]  # missing values written NA
    assert "\t50\t" in lines[2] and "\t50.0\t" not in lines[2]  # depth stays an integer


def test_run_flag_overrides_params(tmp_path):
    rows = [_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 800, 1.5, 20000)]
    _write_inputs(tmp_path, rows)
    rank.run(_args(tmp_path, max_percentile=1.0))
    assert read_tsv(tmp_path / "candidates.tsv")["binder"].tolist() == [False]


def test_run_affinity_log_share_override(tmp_path):
    rows = [_pred("17:7675088:C>T", "HMTEVVRHC", "HLA-A*02:01", 350, None, None)]  # no VAF
    _write_inputs(tmp_path, rows)
    rank.run(_args(tmp_path, affinity_log_share=1.0))  # the log-IC50 term alone
    out = read_tsv(tmp_path / "candidates.tsv")
    assert out["score"].tolist() == [round(1 - math.log(350) / math.log(50000), 6)]
    with pytest.raises(NeoRankError, match="affinity_log_share"):
        rank.run(_args(tmp_path, affinity_log_share=0.0))


def test_run_empty_predictions_writes_header(tmp_path):
    columns = list(_pred("2:209113112:C>T", "GWVKPIIIG", "HLA-A*02:01", 1, 1, 1))
    write_tsv(pd.DataFrame(columns=columns), tmp_path / "predictions.tsv")
    write_tsv(_variants(), tmp_path / "variants.tsv")
    (tmp_path / "params.json").write_text("{}")
    args = _args(tmp_path)
    args.out_parquet = str(tmp_path / "candidates.parquet")
    rank.run(args)
    text = (tmp_path / "candidates.tsv").read_text()
    assert text.splitlines()[0].startswith("rank\tcandidate_id\t")
    assert len(text.splitlines()) == 1
    _assert_parquet_form(tmp_path / "candidates.tsv")  # no rows, the same columns


def test_run_missing_file_is_input_error(tmp_path):
    _write_inputs(tmp_path, [])
    with pytest.raises(InputFileError, match="not found"):
        rank.run(_args(tmp_path, predictions=str(tmp_path / "nope.tsv")))


# --------------------------------------------------------------------------- criteria and tiers

# IDH1 VAF 0.4, TP53 VAF NA, KRAS VAF 1.3 (see VARIANTS). A binder at 350 nM with a
# non-binding wildtype (20000 nM) is the base row; each test changes one piece of evidence.
IDH1, TP53, KRAS = (v[0] for v in VARIANTS)


def _gene_table(tpm: dict[str, float]):
    from neorank.expression import ExpressionTable

    return ExpressionTable(path="genes.tsv", format="plain table", level="gene", tpm=tpm)


def _rna(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant_id": v, "rna_depth": d, "rna_alt_reads": a,
                          "rna_vaf": a / d if d else None} for v, d, a in rows])


def _tiered(rows, *, purity=None, expression=None, rna=None, self_match=None, params=None,
            copy_number=None):
    predictions = pd.DataFrame(rows)
    if self_match is not None:
        predictions["self_match"] = self_match
    return rank.rank_candidates(predictions, _variants(), SAMPLE,
                                config.ranking_params(params or {}), purity=purity,
                                expression=expression, rna_counts=rna,
                                copy_number=copy_number)


def test_no_evidence_every_optional_criterion_not_assessed():
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)])
    row = out.iloc[0]
    assert row["pass_binding"] == "pass"
    for criterion in ("presentation", "clonality", "expression", "rna_support", "self_match"):
        assert row[f"pass_{criterion}"] == "not_assessed", criterion
    assert row["pass_agretopicity"] == "pass"  # wildtype 20000 nM does not bind
    assert row["tier"] == "Pass"
    for column in ("clonality", "ccf", "gene_tpm", "transcript_tpm", "rna_depth",
                   "rna_alt_reads", "rna_vaf", "self_match"):
        assert pd.isna(row[column]), column


def test_every_tier_hand_built():
    expression = _gene_table({"IDH1": 25.0, "TP53": 0.5, "KRAS": 3.0})
    rna = _rna([(IDH1, 30, 12), (TP53, 10, 0), (KRAS, 40, 1)])
    rows = [
        _pred(IDH1, "PASSPEPTI", "HLA-A*02:01", 350, 0.9, 20000),   # all pass -> Pass
        _pred(IDH1, "WEAKPEPTI", "HLA-A*02:01", 4000, 9.0, 20000),  # binding fails
        _pred(TP53, "LOWEXPRES", "HLA-A*02:01", 100, 0.2, 20000),   # 0.5 TPM, 0 RNA reads
        _pred(KRAS, "LOWRNARDS", "HLA-A*02:01", 100, 0.2, 20000),   # 3 TPM, 1 alt read
        _pred(KRAS, "POORPEPTI", "HLA-A*02:01", 9000, 30.0, 20000),  # binding + rna
    ]
    out = _tiered(rows, purity=0.6, expression=expression, rna=rna)
    by = out.set_index("mutant_peptide")
    assert by.loc["PASSPEPTI", "tier"] == "Pass"
    assert by.loc["PASSPEPTI", "clonality"] == "clonal"         # 0.4 >= 0.6 / 2
    assert by.loc["PASSPEPTI", "gene_tpm"] == 25.0
    assert by.loc["WEAKPEPTI", "tier"] == "WeakBinder"
    assert by.loc["LOWEXPRES", ["pass_expression", "pass_rna_support"]].tolist() == ["fail",
                                                                                      "fail"]
    assert by.loc["LOWEXPRES", "pass_clonality"] == "not_assessed"  # TP53 has no VAF
    assert by.loc["LOWEXPRES", "tier"] == "LowExpression"
    assert by.loc["LOWRNARDS", ["pass_expression", "pass_rna_support"]].tolist() == ["pass",
                                                                                      "fail"]
    assert by.loc["LOWRNARDS", "tier"] == "LowExpression"
    assert by.loc["POORPEPTI", "tier"] == "Poor"


def test_subclonal_and_self_similar_tiers_and_exclusion():
    rows = [
        _pred(IDH1, "SUBCLONAL", "HLA-A*02:01", 350, 0.9, 20000),
        _pred(KRAS, "SELFMATCH", "HLA-A*02:01", 20, 0.1, 20000),
        _pred(KRAS, "NONBINDER", "HLA-A*02:01", 20000, 50.0, 20000),
    ]
    # purity 0.9: IDH1 (VAF 0.4) is below 0.45 -> subclonal; KRAS (VAF 1.3) clonal.
    out = _tiered(rows, purity=0.9, self_match=[False, True, False])
    by = out.set_index("mutant_peptide")
    assert by.loc["SUBCLONAL", "tier"] == "Subclonal"
    assert by.loc["SELFMATCH", "tier"] == "SelfSimilar"
    assert by.loc["SELFMATCH", "pass_self_match"] == "fail"
    assert by.loc["NONBINDER", "tier"] == "WeakBinder"
    # The best-scoring row is a self match: excluded from ranking, so it comes last.
    assert out["mutant_peptide"].tolist() == ["SUBCLONAL", "NONBINDER", "SELFMATCH"]
    kept = _tiered(rows, purity=0.9, self_match=[False, True, False],
                   params={"ranking": {"exclude_self_matches": False}})
    assert kept["mutant_peptide"].tolist() == ["SELFMATCH", "SUBCLONAL", "NONBINDER"]
    # pVACseq's looser purity/4 rule makes IDH1 clonal.
    looser = _tiered(rows, purity=0.9, params={"ranking": {"clonal_vaf_fraction": 0.25}})
    assert looser.set_index("mutant_peptide").loc["SUBCLONAL", "tier"] == "Pass"


def test_presentation_criterion_and_score_component():
    row = _pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)
    row.update(presentation_score=0.8, presentation_percentile=3.5)
    out = _tiered([row])
    assert out.loc[0, "pass_presentation"] == "fail"
    assert out.loc[0, "tier"] == "WeakBinder"
    # (1*B(350) + 0.5*0.4 + 0.25*(1 - B(20000)) + 0.5*0.8) / 2.25
    assert out.loc[0, "score"] == pytest.approx(
        (B(350) + 0.2 + 0.25 * (1 - B(20000)) + 0.4) / 2.25, abs=1e-6)
    assert out.loc[0, "score_components"] == "binding;vaf;dissimilarity;presentation"
    row.update(presentation_percentile=2.0)
    assert _tiered([row]).loc[0, "tier"] == "Pass"


def test_expression_score_component_hand_computed():
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)],
                  expression=_gene_table({"IDH1": 25.0}))
    # expression s = 25 / (25 + 10); (B(350) + 0.5*0.4 + 0.25*(1 - B(20000)) + 0.25*25/35) / 2
    assert out.loc[0, "score"] == pytest.approx(
        (B(350) + 0.2 + 0.25 * (1 - B(20000)) + 0.25 * 25 / 35) / 2.0, abs=1e-6)
    assert out.loc[0, "score_components"] == "binding;vaf;dissimilarity;expression"
    # A gene missing from the table is not assessed, never scored as 0 TPM.
    missing = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)],
                      expression=_gene_table({"TP53": 5.0}))
    assert missing.loc[0, "pass_expression"] == "not_assessed"
    assert missing.loc[0, "score_components"] == "binding;vaf;dissimilarity"


@pytest.mark.parametrize("tpm,status", [(1.0, "pass"), (0.999, "fail"), (0.0, "fail")])
def test_expression_boundary(tpm, status):
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)],
                  expression=_gene_table({"IDH1": tpm}))
    assert out.loc[0, "pass_expression"] == status


@pytest.mark.parametrize("alt_reads,status", [(2, "pass"), (1, "fail"), (0, "fail")])
def test_rna_support_boundary(alt_reads, status):
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)],
                  rna=_rna([(IDH1, 20, alt_reads)]))
    assert out.loc[0, "pass_rna_support"] == status


@pytest.mark.parametrize("mt,wt,status", [
    (50, 100, "pass"),    # 0.5: boundary, mutant binds twice as well
    (60, 100, "fail"),    # 0.6 and the wildtype binds (100 <= 500)
    (400, 501, "pass"),   # wildtype does not bind
    (400, None, "not_assessed"),
])
def test_agretopicity_is_informational(mt, wt, status):
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", mt, 0.5, wt)])
    assert out.loc[0, "pass_agretopicity"] == status
    assert out.loc[0, "tier"] == "Pass"


def test_ccf_with_copy_number():
    from neorank.clonality import CopyNumberTable

    # purity 0.9, IDH1 VAF 0.4 is subclonal by VAF (< 0.45); with CN 3 its CCF is
    # 0.4 * (0.9*3 + 2*0.1) / 0.9 = 1.28889 -> clonal.
    table = CopyNumberTable(path="cn.tsv", by_variant={IDH1: 3.0})
    out = _tiered([_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000),
                   _pred(KRAS, "VVGAVGVGK", "HLA-A*02:01", 350, 0.9, 20000)],
                  purity=0.9, copy_number=table)
    by = out.set_index("variant_id")
    assert by.loc[IDH1, "clonality"] == "clonal"
    assert by.loc[IDH1, "ccf"] == pytest.approx(0.4 * 2.9 / 0.9, abs=1e-9)
    assert pd.isna(by.loc[KRAS, "ccf"]) and by.loc[KRAS, "clonality"] == "clonal"


def test_self_match_joined_from_peptides_and_bad_values():
    rows = [_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000),
            _pred(IDH1, "GWVKPIIIG", "HLA-B*07:02", 350, 0.9, 20000)]
    peptides = pd.DataFrame({"variant_id": [IDH1], "mutant_peptide": ["GWVKPIIIG"],
                             "self_match": ["True"]})
    out = rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE, peptides=peptides)
    assert out["pass_self_match"].tolist() == ["fail", "fail"]
    assert out["tier"].tolist() == ["SelfSimilar", "SelfSimilar"]
    peptides["self_match"] = ["maybe"]
    with pytest.raises(InputFileError, match="True/False"):
        rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE, peptides=peptides)


def test_run_with_expression_and_rna_bam(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data"
    variants = pd.DataFrame([{
        "variant_id": "chr1:23362762:G>C", "chrom": "chr1", "pos": 23362762, "ref": "G",
        "alt": "C", "tumor_depth": 87, "tumor_vaf": 0.575, "normal_vaf": 0.0,
        "status": "protein_changing"}])
    write_tsv(variants, tmp_path / "variants.tsv")
    row = _pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)
    row.update(variant_id="chr1:23362762:G>C", gene_name="ZNF436",
               transcript_ids="ENST00000314011;ENST00000374608")
    write_tsv(pd.DataFrame([row]), tmp_path / "predictions.tsv")
    (tmp_path / "params.json").write_text("{}")
    args = _args(tmp_path, expression=str(data / "expression" / "rsem.isoforms.results"),
                 rna_bam=str(data / "rna" / "tumor_rna.bam"), purity=0.6)
    assert rank.run(args) == 0
    out = read_tsv(tmp_path / "candidates.tsv").iloc[0]
    assert (out["gene_tpm"], out["transcript_tpm"]) == (14.75, 12.5)
    assert (out["rna_depth"], out["rna_alt_reads"]) == (10, 6)
    assert out["clonality"] == "clonal" and out["tier"] == "Pass"


def test_expression_linked_through_the_reference(mini_genome):
    from neorank.expression import read_expression

    data = Path(__file__).resolve().parents[1] / "data" / "expression"
    row = _pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 350, 0.9, 20000)
    row.update(gene_name="ZNF436", transcript_ids="ENST00000374608")
    # Salmon names transcripts only: the gene total needs the reference's transcript list.
    table = read_expression(data / "quant.sf")
    alone = rank.rank_candidates(pd.DataFrame([row]), _variants(), SAMPLE, expression=table)
    assert pd.isna(alone.loc[0, "gene_tpm"]) and alone.loc[0, "transcript_tpm"] == 2.25
    linked = rank.rank_candidates(pd.DataFrame([row]), _variants(), SAMPLE, expression=table,
                                  genome=mini_genome)
    assert linked.loc[0, "gene_tpm"] == pytest.approx(14.75)
    assert linked.loc[0, "transcript_tpm"] == 2.25


# --------------------------------------------------------------------------- blocks


def _many_rows() -> list[dict]:
    """120 rows over three variants with ties in score and IC50, binders and not,
    missing percentiles and wildtypes, and self matches."""
    rows = []
    alleles = ["HLA-A*02:01", "HLA-B*07:02", "HLA-C*07:01"]
    vids = [v[0] for v in VARIANTS]
    amino = "ACDEFGHIKLMNPQRSTVWY"
    for i in range(40):
        peptide = "".join(amino[(i * 7 + j * 3) % 20] for j in range(9))
        for k, allele in enumerate(alleles):
            mt = [25.0, 350.0, 499.9, 500.0, 5000.0, 31000.0][(i + k) % 6]
            row = _pred(vids[i % 3], peptide, allele, mt, None if i % 5 == 0 else (i % 7) * 0.5,
                        None if i % 4 == 0 else 20000.0 / (1 + i % 3))
            row["self_match"] = i % 9 == 0
            rows.append(row)
    return rows


def test_blocks_merge_to_the_same_bytes_as_one_table(tmp_path):
    rows = _many_rows()
    _write_inputs(tmp_path, rows)
    params = config.ranking_params(json.loads((tmp_path / "params.json").read_text()))
    whole = rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE, params)
    write_tsv(whole, tmp_path / "whole.tsv")
    assert whole["binder"].any() and not whole["binder"].all()
    assert whole["self_match"].any() and whole["score"].duplicated().any()
    tiers = {str(t): int(n) for t, n in whole["tier"].value_counts().items()}
    for chunk_rows, workers in ((1, 1), (7, 1), (50, 1), (1000, 1), (7, 2), (50, 3)):
        out = tmp_path / f"blocks{chunk_rows}-{workers}.tsv"
        counts = rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params, out,
                                chunk_rows=chunk_rows, workers=workers,
                                parquet=out.with_suffix(".parquet"))
        assert out.read_bytes() == (tmp_path / "whole.tsv").read_bytes(), (chunk_rows, workers)
        _assert_parquet_form(out)
        assert counts["rows"] == 120 and counts["blocks"] == -(-120 // chunk_rows)
        assert counts["binders"] == int(whole["binder"].sum())
        assert counts["tiers"] == tiers
    assert not list(tmp_path.glob(".rank-*")), "temporary blocks left behind"



def test_blocks_share_one_variant_evidence_table(tmp_path, monkeypatch):
    """With purity, copy number and RNA counts, every block joins the per-variant
    evidence made once for the table (made per block, it cost O(variants) a block: at
    100,000 variants, 172 blocks x 100,000 variants), and the blocks give the bytes of
    ranking the whole table at once."""
    from neorank.clonality import CopyNumberTable
    from neorank.rank import merge

    rows = _many_rows()
    _write_inputs(tmp_path, rows)
    params = config.ranking_params(json.loads((tmp_path / "params.json").read_text()))
    evidence = {"purity": 0.9,
                "copy_number": CopyNumberTable(path="cn.tsv", by_variant={IDH1: 3.0}),
                "rna_counts": _rna([(IDH1, 40, 12), (KRAS, 30, 0)])}
    whole = rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE, params, **evidence)
    write_tsv(whole, tmp_path / "whole.tsv")
    by = whole.drop_duplicates("variant_id").set_index("variant_id")
    assert by.loc[IDH1, "ccf"] == pytest.approx(0.4 * 2.9 / 0.9)  # the copy number counted
    assert by.loc[IDH1, "rna_vaf"] == pytest.approx(0.3) and pd.isna(by.loc[TP53, "rna_vaf"])
    made = []

    def counted(*args, **kwargs):
        made.append(args[0])
        return original(*args, **kwargs)

    original = candidates.variant_evidence
    monkeypatch.setattr(candidates, "variant_evidence", counted)
    monkeypatch.setattr(merge, "variant_evidence", counted)
    out = tmp_path / "blocks.tsv"
    counts = rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params, out,
                            chunk_rows=7, workers=1, **evidence)
    assert counts["blocks"] == 18 and len(made) == 1
    assert out.read_bytes() == (tmp_path / "whole.tsv").read_bytes()

def _assert_parquet_form(tsv: Path) -> None:
    """The Parquet form beside ``tsv`` holds its rows and values: read back (in blocks of
    7 rows, as the stages after rank read it) and written as a TSV, it gives the same
    bytes, and its columns have the kinds of tables.CANDIDATE_KINDS."""
    import pyarrow.parquet as pq

    from neorank.tables import CANDIDATE_KINDS, table_blocks

    form = tsv.with_suffix(".parquet")
    blocks = list(table_blocks(form, chunk_rows=7))
    assert tsv_text(pd.concat(blocks, ignore_index=True)) == tsv.read_text()
    schema = pq.ParquetFile(form).schema_arrow
    kinds = {"string": "text", "int64": "int", "double": "float", "bool": "bool"}
    assert {n: kinds[str(schema.field(n).type)] for n in schema.names} == {
        n: CANDIDATE_KINDS.get(n, "text") for n in schema.names}
    assert not list(tsv.parent.glob("*.parquet.tmp"))


def test_repeats_across_blocks_are_handled_as_in_one_table(tmp_path):
    rows = _many_rows()[:20]
    _write_inputs(tmp_path, rows + [rows[3]])  # an exact repeat, in another block
    params = config.ranking_params({})
    rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params,
                   tmp_path / "out.tsv", chunk_rows=5, parquet=tmp_path / "out.parquet")
    expected = rank.rank_candidates(pd.DataFrame(rows), _variants(), SAMPLE, params)
    write_tsv(expected, tmp_path / "expected.tsv")
    assert (tmp_path / "out.tsv").read_bytes() == (tmp_path / "expected.tsv").read_bytes()
    _assert_parquet_form(tmp_path / "out.tsv")

    conflict = dict(rows[3], mutant_affinity_nm=77.0)
    _write_inputs(tmp_path, rows + [conflict])
    with pytest.raises(InputFileError, match="conflicting duplicate"):
        rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params,
                       tmp_path / "out.tsv", chunk_rows=5)
    # within one block ranked by a worker process: the same error reaches the caller
    _write_inputs(tmp_path, rows[:3] + [dict(rows[1], mutant_affinity_nm=77.0)] + rows[3:])
    with pytest.raises(InputFileError, match="conflicting duplicate") as raised:
        rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params,
                       tmp_path / "out.tsv", chunk_rows=5, workers=2)
    assert raised.value.fix and "regenerate" in raised.value.fix


def test_sort_keys_order_floats_like_pandas():
    values = [0.5, -1.0, float("nan"), 0.0, -0.0, 1e-9, 3.0, 1e30, -1e30]
    ascending = candidates._float_keys(values)
    expected = pd.Series(values).sort_values(kind="mergesort").index.tolist()
    got = sorted(range(len(values)), key=lambda i: (ascending[i], i))
    assert got == expected
    descending = candidates._float_keys(values, descending=True)
    expected = pd.Series(values).sort_values(ascending=False, kind="mergesort").index.tolist()
    assert sorted(range(len(values)), key=lambda i: (descending[i], i)) == expected


def test_merged_order_sorts_field_by_field_and_keeps_ties_in_order():
    rng = np.random.default_rng(7)
    keys = np.empty(5000, dtype=[("flags", np.uint8), ("score", np.uint64),
                                 ("affinity", np.uint64), ("candidate", np.uint64)])
    # few distinct values per field: many ties on the first fields, some on all four
    keys["flags"] = rng.integers(0, 4, len(keys))
    keys["score"] = rng.integers(0, 3, len(keys)).astype(np.uint64) * np.uint64(2**62 + 5)
    keys["affinity"] = rng.integers(0, 3, len(keys))
    keys["candidate"] = rng.integers(0, 40, len(keys)).astype(np.uint64) * np.uint64(2**42)
    rows = [tuple(int(v) for v in row) for row in keys.tolist()]
    expected = sorted(range(len(rows)), key=lambda i: (rows[i], i))
    assert candidates.merged_order(keys).tolist() == expected


# --------------------------------------------------------------------------- demo: anchor and splice

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
DEMO_ALLELES = ["HLA-A*01:01", "HLA-B*08:01", "HLA-B*27:05", "HLA-C*01:02", "HLA-C*07:01"]
#: Demo missense variants (osteosarc.tumor.vcf): PTH1R (SFMLRAVSI -> SFMLRAVSF), CENPL,
#: VPS13B, MT-ND5 and CUL9.
DEMO_IDS = ["chr3:46898732:A>T", "chr1:173811223:G>T", "chr8:99861923:C>T", "chrM:12994:G>A",
            "chr6:43186384:G>T"]
#: A synthetic allele at a real CUL9 splice donor (intron +1 after the exon ending at
#: 43187095, next to the demo's CUL9 variant): no splice-site variant is in the demo VCFs.
CUL9_DONOR = ("chr6", 43187096, "G", "T")
#: The cited anchor table of docs/scoring.md, written out independently of neorank.
CITED_ANCHORS = {"HLA-A*01:01": (3, -1), "HLA-B*08:01": (3, 5, -1)}


def _demo_records() -> tuple[list, pd.DataFrame]:
    """The DEMO_IDS records of the demo tumor VCF (pysam) and their variants.tsv rows."""
    import pysam

    from neorank.annotate import SomaticRecord

    records, rows = [], []
    with pysam.VariantFile(str(DEMO / "osteosarc.tumor.vcf")) as vcf:
        for rec in vcf:
            vid = f"{rec.chrom}:{rec.pos}:{rec.ref}>{rec.alts[0]}"
            if vid in DEMO_IDS:
                call = rec.samples[0]
                records.append(SomaticRecord(vid, rec.chrom, rec.pos, rec.ref, rec.alts[0]))
                rows.append({"variant_id": vid, "chrom": rec.chrom, "pos": rec.pos,
                             "tumor_depth": call["DP"], "tumor_vaf": call["AF"][0],
                             "normal_vaf": None})
    assert sorted(r.variant_id for r in records) == sorted(DEMO_IDS)
    return records, pd.DataFrame(rows)


def _predictions(peptide_table: pd.DataFrame, alleles: list[str]) -> pd.DataFrame:
    """predictions.tsv rows (peptides x alleles) from the embedded models."""
    from neorank.models import load_predictor

    predictor = load_predictor("embedded", "")
    mutant = peptide_table["mutant_peptide"].astype(str)
    wildtype = peptide_table["wildtype_peptide"].dropna().astype(str)
    affinity = predictor.affinity(sorted(set(mutant) | set(wildtype)), alleles).set_index(
        ["peptide", "allele"])
    out = peptide_table.loc[peptide_table.index.repeat(len(alleles))].reset_index(drop=True)
    out["allele"] = alleles * len(peptide_table)
    out["allele_status"] = "supported"
    for prefix, column in (("mutant", out["mutant_peptide"]),
                           ("wildtype", out["wildtype_peptide"].fillna(""))):
        key = pd.MultiIndex.from_arrays([column, out["allele"]])
        out[f"{prefix}_affinity_nm"] = affinity["affinity_nm"].reindex(key).to_numpy()
        out[f"{prefix}_percentile"] = affinity["percentile"].reindex(key).to_numpy()
    out["predictor"] = predictor.label
    return out


@pytest.fixture(scope="module")
def demo(mini_genome):
    """Predictions and variants of the demo variants plus the CUL9 donor allele."""
    from neorank import annotate, peptides
    from neorank.annotate import SomaticRecord

    records, variants = _demo_records()
    donor = SomaticRecord("chr6:43187096:G>T", *CUL9_DONOR)
    annotations = annotate.annotate_records([*records, donor], mini_genome)
    rows = [row for r in [*records, donor] for row in annotations[r.variant_id].rows]
    effects = pd.DataFrame(rows, columns=annotate.EFFECT_COLUMNS)
    table = pd.concat(list(peptides.peptide_blocks(effects)), ignore_index=True)
    variants = pd.concat([variants, pd.DataFrame([{
        "variant_id": donor.variant_id, "chrom": "chr6", "pos": CUL9_DONOR[1],
        "tumor_depth": None, "tumor_vaf": None, "normal_vaf": None}])], ignore_index=True)
    return _predictions(table, DEMO_ALLELES), variants, annotations


def _expected_anchor(row) -> str:
    """pass_anchor from the cited table, the peptides and the predicted affinities."""
    peptide, wildtype = row["mutant_peptide"], row["wildtype_peptide"]
    positions = {int(p) for p in str(row["mutation_positions"]).split(";")}
    if not isinstance(wildtype, str) or len(wildtype) != len(peptide):
        return "not_assessed"
    if any(a != b and i + 1 not in positions
           for i, (a, b) in enumerate(zip(peptide, wildtype, strict=True))):
        return "not_assessed"
    n = len(peptide)
    anchors = {p if p > 0 else n + 1 + p for p in CITED_ANCHORS.get(row["allele"], (2, -1))}
    only_anchors = positions <= anchors
    return "fail" if only_anchors and row["wildtype_affinity_nm"] <= row["mutant_affinity_nm"] \
        else "pass"


def test_anchor_tier_on_the_demo(demo):
    predictions, variants, _ = demo
    dna = predictions[predictions["variant_id"].isin(DEMO_IDS)].reset_index(drop=True)
    out = rank.rank_candidates(dna, variants, SAMPLE, config.ranking_params({}))
    expected = out.apply(_expected_anchor, axis=1)
    assert out["pass_anchor"].tolist() == expected.tolist()
    # no other evidence is given: only the binding and anchor families can fail
    tiers = [{(False, False): "Pass", (True, False): "Anchor", (False, True): "WeakBinder",
              (True, True): "Poor"}[(a == "fail", not b)]
             for a, b in zip(expected, out["binder"], strict=True)]
    assert out["tier"].tolist() == tiers
    anchor = out[out["tier"] == "Anchor"]
    assert len(anchor) >= 1  # e.g. PTH1R SFMLRAVSF on HLA-B*08:01 (change at PΩ)
    assert anchor["binder"].all() and anchor["evidence"].eq("dna").all()
    for row in anchor.itertuples():
        assert f"anchor position(s) {row.mutation_positions} of {row.allele}" in row.tier_reason
    # PTH1R on HLA-B*08:01: P9 is an anchor (PΩ), P2 is not (B*08:01 uses P3/P5/PΩ)
    pth1r = out[(out["mutant_peptide"] == "SFMLRAVSF") & (out["allele"] == "HLA-B*08:01")].iloc[0]
    assert pth1r["mutation_positions"] == "9"
    assert pth1r["pass_anchor"] == ("fail" if pth1r["wildtype_affinity_nm"]
                                    <= pth1r["mutant_affinity_nm"] else "pass")
    # The tier never changes the order (binder, score, IC50, candidate_id).
    again = rank.rank_candidates(dna, variants, SAMPLE,
                                 config.ranking_params({"ranking": {"anchor_tier": False}}))
    assert again["candidate_id"].tolist() == out["candidate_id"].tolist()
    assert set(again["pass_anchor"]) == {"not_assessed"} and "Anchor" not in set(again["tier"])


def test_anchor_positions_override(demo):
    predictions, variants, _ = demo
    rows = predictions[(predictions["mutant_peptide"] == "SFMLRAVSF")].reset_index(drop=True)
    # B*08:01 without its PΩ anchor: a change at P9 is no longer anchor-only
    params = config.ranking_params({"ranking": {"anchor_positions": ["B*08:01=3,5"]}})
    out = rank.rank_candidates(rows, variants, SAMPLE, params).set_index("allele")
    assert out.loc["HLA-B*08:01", "pass_anchor"] == "pass"
    # default=3: no other allele has P9 as an anchor any more either
    params = config.ranking_params({"ranking": {"anchor_positions": ["default=3"]}})
    out = rank.rank_candidates(rows, variants, SAMPLE, params).set_index("allele")
    assert (out.drop(index=["HLA-B*08:01", "HLA-A*01:01"])["pass_anchor"] == "pass").all()
    for bad in (["HLA-B*08:01"], ["HLA-B*08:01=0"], ["HLA-DRB1*01:01=2"], "HLA-B*08:01=2"):
        with pytest.raises(NeoRankError, match="anchor_positions"):
            rank.rank_candidates(rows, variants, SAMPLE,
                                 config.ranking_params({"ranking": {"anchor_positions": bad}}))


def test_splice_candidates_need_rna_support(demo, tmp_path):
    predictions, variants, annotations = demo
    donor = "chr6:43187096:G>T"
    assert annotations[donor].variant_class == "splice_site"
    assert annotations["chr6:43186384:G>T"].variant_class == "missense"
    rows = predictions[predictions["variant_id"].isin([donor, "chr6:43186384:G>T"])]
    splice = rows["variant_id"] == donor
    assert set(rows.loc[splice, "evidence"]) == {"predicted_splice"}
    assert set(rows.loc[~splice, "evidence"]) == {"dna"}

    # Through the command line (predictions.tsv written and read back as text).
    write_tsv(rows, tmp_path / "predictions.tsv")
    write_tsv(variants, tmp_path / "variants.tsv")
    (tmp_path / "params.json").write_text("{}")
    assert rank.run(_args(tmp_path)) == 0
    out = read_tsv(tmp_path / "candidates.tsv", dtype={"mutation_positions": str})
    is_splice = out["variant_id"] == donor
    assert set(out.loc[is_splice, "pass_splice_support"]) == {"fail"}
    assert set(out.loc[~is_splice, "pass_splice_support"]) == {"pass"}
    anchor_fail = out["pass_anchor"] == "fail"
    expected = [("SpliceUnconfirmed" if b and not a else "Poor") if s else
                ("Pass" if b and not a else "Anchor" if b else
                 "WeakBinder" if not a else "Poor")
                for s, b, a in zip(is_splice, out["binder"], anchor_fail, strict=True)]
    assert out["tier"].tolist() == expected
    unconfirmed = out[out["tier"] == "SpliceUnconfirmed"]
    assert len(unconfirmed) >= 1 and unconfirmed["binder"].all()
    assert unconfirmed["tier_reason"].str.contains(
        "predicted splice outcome without RNA support: no RNA evidence").all()

    # RNA reads carrying both variants: the splice candidates can reach Pass.
    rna = _rna([(donor, 30, 6), ("chr6:43186384:G>T", 40, 12)])
    confirmed = rank.rank_candidates(rows, variants, SAMPLE, rna_counts=rna)
    assert set(confirmed["pass_splice_support"]) == {"pass"}
    assert "SpliceUnconfirmed" not in set(confirmed["tier"])
    by_id = confirmed.set_index("candidate_id")
    for candidate in unconfirmed["candidate_id"]:
        assert by_id.loc[candidate, "tier"] == "Pass"
    # One RNA read only: RNA support fails too, so the splice binders are Poor.
    weak = rank.rank_candidates(rows, variants, SAMPLE, rna_counts=_rna(
        [(donor, 30, 1), ("chr6:43186384:G>T", 40, 12)])).set_index("candidate_id")
    for candidate in unconfirmed["candidate_id"]:
        assert weak.loc[candidate, "tier"] == "Poor"
        assert "1 tumor RNA read(s) carry the variant (< 2)" in weak.loc[candidate, "tier_reason"]
    # require_rna_for_splice: false -> not assessed, no SpliceUnconfirmed tier
    off = rank.rank_candidates(rows, variants, SAMPLE, config.ranking_params(
        {"ranking": {"require_rna_for_splice": False}}))
    assert set(off["pass_splice_support"]) == {"not_assessed"}
    assert "SpliceUnconfirmed" not in set(off["tier"])


def test_splice_evidence_from_variant_class_without_an_evidence_column():
    """predictions.tsv from before the evidence column: variants.tsv's class decides."""
    variants = _variants()
    variants["variant_class"] = ["splice_site", "missense", None]
    rows = [_pred(IDH1, "GWVKPIIIG", "HLA-A*02:01", 50, 0.1, 20000),
            _pred(TP53, "HMTEVVRHC", "HLA-A*02:01", 50, 0.1, 20000),
            _pred(KRAS, "VVGAVGVGK", "HLA-A*02:01", 50, 0.1, 20000)]
    out = rank.rank_candidates(pd.DataFrame(rows), variants, SAMPLE).set_index("variant_id")
    assert out.loc[IDH1, "evidence"] == "predicted_splice"
    assert out.loc[IDH1, "tier"] == "SpliceUnconfirmed"
    assert out.loc[TP53, "evidence"] == "dna" and out.loc[TP53, "tier"] == "Pass"
    assert pd.isna(out.loc[KRAS, "evidence"])
    assert out.loc[KRAS, "pass_splice_support"] == "not_assessed"


def test_parquet_predictions_rank_to_the_same_bytes_as_the_tsv(tmp_path):
    """The workflow hands rank its predictions as Parquet (neorank.io.ParquetRows, as
    the predict stage writes them, in blocks whose pandas dtypes differ: a typed
    column missing in some rows, text columns that look numeric, unrounded floats).
    candidates.tsv must be byte-identical to ranking the TSV of the same rows."""
    from neorank.io import ParquetRows, write_rows
    from neorank.tables import PREDICTION_TEXT_COLUMNS, PREDICTION_TYPES

    rows = _many_rows()
    for i, row in enumerate(rows):
        row["mutant_affinity_nm"] = row["mutant_affinity_nm"] * (1 + 1e-9 * i)  # past %.6g
        row["nearest_self_mismatches"] = None if i % 11 == 0 else i % 3
        row["self_match"] = None if i % 13 == 0 else row["self_match"]
        row["mutation_positions"] = "4" if i % 2 else "4;5"
    _write_inputs(tmp_path, rows)
    params = config.ranking_params(json.loads((tmp_path / "params.json").read_text()))
    # Blocks as predict writes them: the first has no missing nearest_self_mismatches
    # or self_match (int and bool dtypes), later ones do (float and object).
    blocks = [pd.DataFrame(rows[1:11]), pd.DataFrame(rows[11:]), pd.DataFrame(rows[:1])]
    assert blocks[0]["nearest_self_mismatches"].dtype.kind == "i"
    assert blocks[0]["self_match"].dtype == bool
    with open(tmp_path / "predictions.tsv", "w", encoding="utf-8", newline="\n") as handle:
        for index, block in enumerate(blocks):
            write_rows(handle, block, header=index == 0)
    sink = ParquetRows(tmp_path / "predictions.parquet", PREDICTION_TEXT_COLUMNS,
                       PREDICTION_TYPES)
    for block in blocks:
        sink.write(block)
    sink.close()
    rank.rank_file(tmp_path / "predictions.tsv", _variants(), SAMPLE, params,
                   tmp_path / "from_tsv.tsv")
    expected = (tmp_path / "from_tsv.tsv").read_bytes()
    for chunk_rows in (7, 1000):
        out = tmp_path / f"from_parquet{chunk_rows}.tsv"
        rank.rank_file(tmp_path / "predictions.parquet", _variants(), SAMPLE, params, out,
                       chunk_rows=chunk_rows)
        assert out.read_bytes() == expected, chunk_rows
    # The Parquet table holds exactly what the TSV reads back.
    from neorank.tables import read_table

    assert read_table(tmp_path / "predictions.parquet").equals(
        read_table(tmp_path / "predictions.tsv").astype(
            read_table(tmp_path / "predictions.parquet").dtypes.to_dict()))


def test_damaged_parquet_predictions_name_the_file(tmp_path):
    from neorank.errors import InputFileError

    (tmp_path / "predictions.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputFileError, match="cannot read as a Parquet table") as err:
        rank.rank_file(tmp_path / "predictions.parquet", _variants(), SAMPLE,
                       config.ranking_params({}), tmp_path / "out.tsv")
    assert "predictions.parquet" in str(err.value)


def test_rank_order_is_the_documented_sort():
    """candidates.tsv's order, made from numeric keys, is the documented one: self
    matches (excluded) last, binders first, score descending, mutant IC50, candidate_id -
    a stable pandas sort of the output's own columns leaves it unchanged. Few distinct
    IC50s and wildtypes make many ties on the score and on the IC50."""
    rng = np.random.default_rng(12)
    letters = list("ACDEFGHIKLMNPQRSTVWY")
    rows = []
    for i in range(600):
        vid = VARIANTS[i % len(VARIANTS)][0]
        row = _pred(vid, "".join(rng.choice(letters, 9)),
                    ["HLA-A*02:01", "HLA-B*07:02", "HLA-C*07:01"][i % 3],
                    float(rng.choice([40.0, 350.0, 499.0, 2500.0, 30000.0])),
                    float(rng.choice([0.3, 1.5, 4.0])),
                    float(rng.choice([100.0, 20000.0])) if i % 4 else None)
        row["self_match"] = bool(rng.random() < 0.1)
        rows.append(row)
    out = _rank(rows)
    excluded = out["self_match"].fillna(False).astype(bool)
    expected = out.assign(_excluded=excluded).sort_values(
        ["_excluded", "binder", "score", "mutant_affinity_nm", "candidate_id"],
        ascending=[True, False, False, True, True], kind="mergesort")
    assert expected.index.tolist() == list(range(len(out)))
    assert out["rank"].tolist() == list(range(1, len(out) + 1))
    assert out["score"].duplicated().sum() > 100  # ties the later keys decide
    assert excluded.any() and out["binder"].any() and not out["binder"].all()


def test_bool_column_reads_bool_dtypes_as_the_text_path_does():
    """self_match as numpy bool, pandas boolean and Arrow bool (Parquet) gives the column
    the row-by-row reading gives for the same values written as text; bad text names
    the column."""
    import pyarrow as pa

    from neorank.rank.evidence import bool_column

    values = [True, False, None, True, None, False]
    texts = pd.Series(["True", "false", "NA", "1", "", "0"], dtype=object)
    expected = bool_column(texts, "self_match", "peptides.tsv")
    assert str(expected.dtype) == "boolean"
    assert expected.tolist() == [True, False, pd.NA, True, pd.NA, False]
    as_arrow = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, type=pa.bool_())))
    for column in (pd.Series(values, dtype="boolean"), as_arrow,
                   pd.Series(values, dtype=object)):
        got = bool_column(column, "self_match", "predictions.parquet")
        assert str(got.dtype) == "boolean"
        assert got.tolist() == expected.tolist()
    both = pd.Series([True, False, True, False, True, False])
    assert bool_column(both, "self_match", "x").tolist() == both.tolist()
    with pytest.raises(InputFileError, match="self_match has 'maybe'"):
        bool_column(pd.Series(["True", "maybe"]), "self_match", "peptides.tsv")
