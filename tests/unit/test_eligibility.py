"""Unit tests for the patient-level vaccine-plausibility verdict (boundaries exactly at thresholds)."""

from __future__ import annotations

import pandas as pd
import pytest

from neorank import verdict as el
from neorank.errors import InputFileError, NeoRankError

ALLELES = [
    {"input": "A*02:01", "allele": "HLA-A*02:01", "status": "supported"},
    {"input": "A*01:01", "allele": "HLA-A*01:01", "status": "supported"},
    {"input": "B*07:02", "allele": "HLA-B*07:02", "status": "supported"},
    {"input": "B*08:01", "allele": "HLA-B*08:01", "status": "supported"},
    {"input": "C*07:02", "allele": "HLA-C*07:02", "status": "extrapolated"},
    {"input": "C*04:09N", "allele": None, "status": "null_skipped"},
]


def _case(n_protein: int, n_binder_variants: int, n_genes: int | None = None,
          n_silent: int = 0, n_filtered: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """variants.tsv / candidates.tsv with the given counts (binder variants spread over n_genes)."""
    n_genes = n_binder_variants if n_genes is None else n_genes
    variants, candidates = [], []
    for i in range(n_protein):
        vid = f"1:{1000 + i}:C>T"
        variants.append({"variant_id": vid, "status": "protein_changing"})
        gene = f"GENE{i % n_genes}" if n_genes else "GENE0"
        is_binder = i < n_binder_variants
        for allele, ic50 in (("HLA-A*02:01", 120.0 if is_binder else 9000.0),
                             ("HLA-B*07:02", 8000.0)):
            candidates.append({"variant_id": vid, "gene_name": gene, "allele": allele,
                               "mutant_affinity_nm": ic50, "binder": ic50 <= 500})
    for i in range(n_silent):
        variants.append({"variant_id": f"2:{i}:G>A", "status": "silent"})
    for i in range(n_filtered):
        variants.append({"variant_id": f"3:{i}:G>A", "status": "filtered"})
    variants.append({"variant_id": "4:1:A>G", "status": "non_coding"})
    return pd.DataFrame(variants), pd.DataFrame(candidates,
                                                columns=["variant_id", "gene_name", "allele",
                                                         "mutant_affinity_nm", "binder"])


def _criterion(result: el.Eligibility, key: str) -> el.Criterion:
    return next(c for c in result.criteria if c.key == key)


@pytest.mark.parametrize("n_binder_variants, verdict, status", [
    (5, "eligible", "pass"),
    (4, "borderline", "fail"),
    (1, "borderline", "fail"),
    (0, "not supported", "fail"),
])
def test_binder_variant_boundaries(n_binder_variants, verdict, status):
    variants, candidates = _case(n_protein=8, n_binder_variants=n_binder_variants,
                                 n_genes=3)
    result = el.assess(variants, candidates, ALLELES)
    crit = _criterion(result, "binder_variants")
    assert crit.value == n_binder_variants and crit.status == status
    assert result.verdict == verdict


@pytest.mark.parametrize("n_protein, cap", [(5, "eligible"), (4, "borderline"),
                                            (1, "borderline"), (0, "not supported")])
def test_protein_changing_boundaries(n_protein, cap):
    variants, candidates = _case(n_protein=n_protein, n_binder_variants=n_protein)
    crit = _criterion(el.assess(variants, candidates, ALLELES), "protein_changing_variants")
    assert crit.value == n_protein and crit.cap == cap


def test_no_peptides_status_counts_as_protein_changing():
    variants, candidates = _case(n_protein=4, n_binder_variants=4)
    variants = pd.concat([variants, pd.DataFrame([{"variant_id": "5:1:A>T",
                                                   "status": "no_peptides"}])])
    crit = _criterion(el.assess(variants, candidates, ALLELES), "protein_changing_variants")
    assert crit.value == 5 and crit.status == "pass"


@pytest.mark.parametrize("n_genes, cap", [(3, "eligible"), (2, "borderline"), (1, "borderline")])
def test_gene_boundaries(n_genes, cap):
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=n_genes)
    result = el.assess(variants, candidates, ALLELES)
    assert _criterion(result, "binder_genes").value == n_genes
    assert _criterion(result, "binder_genes").cap == cap
    assert result.verdict == cap


def test_eligible_case_with_all_criteria_met():
    variants, candidates = _case(n_protein=6, n_binder_variants=5, n_genes=3)
    result = el.assess(variants, candidates, ALLELES, purity=0.6)
    assert result.verdict == "eligible"
    assert result.summary.startswith("A personalised neoantigen vaccine is plausible")
    assert "5 variant(s) in 3 gene(s)" in result.summary


def test_hla_coverage_counts_and_caps():
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    crit = _criterion(el.assess(variants, candidates, ALLELES), "hla_coverage")
    assert crit.value == {"supported": 4, "extrapolated": 1, "null_skipped": 1, "typed": 6}
    assert crit.status == "pass"

    extrapolated_only = [dict(a, status="extrapolated") for a in ALLELES[:2]]
    result = el.assess(variants, candidates, extrapolated_only)
    assert _criterion(result, "hla_coverage").cap == "borderline"
    assert result.verdict == "borderline"

    none_usable = [ALLELES[-1]]
    result = el.assess(variants, candidates, none_usable)
    assert _criterion(result, "hla_coverage").cap == "not supported"
    assert result.verdict == "not supported"


def test_homozygous_alleles_are_counted_once():
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    alleles = [ALLELES[0], dict(ALLELES[0], input="HLA-A*02:01")]
    crit = _criterion(el.assess(variants, candidates, alleles), "hla_coverage")
    assert crit.value["supported"] == 1 and crit.value["typed"] == 2


@pytest.mark.parametrize("purity, status, verdict", [
    (0.2, "pass", "eligible"),
    (0.19, "fail", "borderline"),
    (None, "not assessed", "eligible"),
])
def test_purity_boundary_and_not_assessed(purity, status, verdict):
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    result = el.assess(variants, candidates, ALLELES, purity=purity)
    crit = _criterion(result, "purity")
    assert crit.status == status
    assert result.verdict == verdict
    if purity is None:
        assert crit.cap is None
        assert any("Tumour purity" in note for note in result.notes if "Not assessed" in note)


def test_purity_out_of_range_is_rejected():
    variants, candidates = _case(n_protein=6, n_binder_variants=6)
    with pytest.raises(NeoRankError, match="purity"):
        el.assess(variants, candidates, ALLELES, purity=45)


def test_tmb_is_an_informational_estimate():
    # 300 coding variants (protein-changing + silent) on the default 30 Mb target = 10/Mb.
    variants, candidates = _case(n_protein=100, n_binder_variants=0, n_silent=200)
    result = el.assess(variants, candidates, ALLELES)
    tmb = _criterion(result, "tmb")
    assert tmb.value == pytest.approx(10.0)
    assert tmb.status == "pass" and tmb.cap is None
    assert "estimate" in tmb.label.lower() and "30 Mb" in tmb.note
    assert result.verdict == "not supported"  # no binders: TMB does not rescue the verdict

    variants, candidates = _case(n_protein=100, n_binder_variants=0, n_silent=199)
    assert _criterion(el.assess(variants, candidates, ALLELES), "tmb").status == "fail"


def test_target_size_param_changes_tmb():
    variants, candidates = _case(n_protein=10, n_binder_variants=5)
    params = el.eligibility_params({"eligibility": {"target_size_mb": 1.0}})
    assert _criterion(el.assess(variants, candidates, ALLELES, params), "tmb").value == 10.0


def test_rna_not_assessed_and_never_caps():
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    result = el.assess(variants, candidates, ALLELES)
    rna = _criterion(result, "rna_expression")
    assert rna.status == "not assessed" and rna.cap is None
    assert "No tumour RNA" in rna.note
    # A table was given but candidates.tsv has no assessed expression: still not assessed.
    given = el.assess(variants, candidates, ALLELES, expression="expr.tsv")
    assert _criterion(given, "rna_expression").status == "not assessed"
    assert "could be looked up" in _criterion(given, "rna_expression").note


def test_notes_state_limits_plainly():
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    notes = " ".join(el.assess(variants, candidates, ALLELES, models_label="embedded").notes)
    assert "Research use only" in notes
    assert "does not guarantee clinical benefit" in notes
    assert "clinical trials" in notes
    assert "demo-grade" in notes and "affinity-only" in notes
    official = " ".join(el.assess(variants, candidates, ALLELES, models_label="official").notes)
    assert "demo-grade" not in official


def test_custom_thresholds():
    variants, candidates = _case(n_protein=3, n_binder_variants=2, n_genes=2)
    params = el.eligibility_params({"eligibility": {
        "min_protein_changing_eligible": 3, "min_binder_variants_eligible": 2,
        "min_genes_eligible": 2}})
    assert el.assess(variants, candidates, ALLELES, params).verdict == "eligible"


@pytest.mark.parametrize("section, message", [
    ({"min_binders": 3}, "unknown eligibility key"),
    ({"min_genes_borderline": 4}, "above"),
    ({"target_size_mb": 0}, "target_size_mb"),
    ({"min_purity": 1.5}, "min_purity"),
    ({"min_binder_variants_eligible": 2.5}, "whole number"),
])
def test_bad_eligibility_params(section, message):
    with pytest.raises(NeoRankError, match=message):
        el.eligibility_params({"eligibility": section})


def test_bad_allele_status_and_missing_columns():
    variants, candidates = _case(n_protein=2, n_binder_variants=2)
    with pytest.raises(InputFileError, match="status"):
        el.assess(variants, candidates, [{"input": "A*02:01", "allele": "x", "status": "ok"}])
    with pytest.raises(InputFileError, match="binder"):
        el.assess(variants, candidates.drop(columns="binder"), ALLELES)


def test_binder_column_as_text_and_to_dict():
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    candidates["binder"] = candidates["binder"].map({True: "True", False: "False"})
    result = el.assess(variants, candidates, ALLELES)
    assert _criterion(result, "binder_variants").value == 6
    as_dict = result.to_dict()
    assert as_dict["verdict"] == "eligible"
    assert {c["key"] for c in as_dict["criteria"]} >= {"binder_variants", "hla_coverage", "tmb"}


# --------------------------------------------------------------------------- tiers and RNA


def _tiered_case(tiers: list[str], genes: list[str] | None = None) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    """One binder candidate per variant with the given tiers (plus a non-binder each)."""
    genes = genes or [f"GENE{i}" for i in range(len(tiers))]
    variants, candidates = [], []
    for i, (tier, gene) in enumerate(zip(tiers, genes, strict=True)):
        vid = f"1:{1000 + i}:C>T"
        variants.append({"variant_id": vid, "status": "protein_changing"})
        candidates.append({"variant_id": vid, "gene_name": gene, "binder": True, "tier": tier})
        candidates.append({"variant_id": vid, "gene_name": gene, "binder": False,
                           "tier": "WeakBinder"})
    return pd.DataFrame(variants), pd.DataFrame(candidates)


@pytest.mark.parametrize("tiers, n_pass, verdict", [
    (["Pass"] * 5 + ["Subclonal"], 5, "eligible"),
    (["Pass"] * 4 + ["Subclonal", "LowExpression"], 4, "borderline"),
    (["Pass"] + ["Poor"] * 5, 1, "borderline"),
    (["SelfSimilar", "Subclonal", "LowExpression", "Poor", "Poor", "Poor"], 0, "not supported"),
])
def test_pass_tier_variants_gate_the_verdict(tiers, n_pass, verdict):
    variants, candidates = _tiered_case(tiers)
    result = el.assess(variants, candidates, ALLELES)
    crit = _criterion(result, "binder_variants")
    assert crit.value == n_pass
    assert crit.label == "Variants with a Pass-tier candidate"
    assert result.verdict == verdict
    assert "pass every assessed criterion" in result.summary


def test_pass_tier_genes_counted_among_pass_variants_only():
    # Five Pass variants in two genes; the third gene only has a Subclonal candidate.
    variants, candidates = _tiered_case(["Pass"] * 5 + ["Subclonal"],
                                        genes=["A", "A", "A", "B", "B", "C"])
    result = el.assess(variants, candidates, ALLELES)
    assert _criterion(result, "binder_genes").value == 2
    assert result.verdict == "borderline"


@pytest.mark.parametrize("expression, rna, status, cap", [
    (["pass", "fail"], None, "pass", "eligible"),
    (["fail", "fail"], ["fail", "not_assessed"], "fail", "borderline"),
    (["fail", "fail"], ["pass", "fail"], "pass", "eligible"),
    (["not_assessed", "not_assessed"], None, "not assessed", None),
])
def test_rna_expression_criterion(expression, rna, status, cap):
    variants, candidates = _case(n_protein=6, n_binder_variants=2, n_genes=2)
    binders = candidates.index[candidates["binder"]]
    candidates["pass_expression"] = "not_assessed"
    candidates.loc[binders, "pass_expression"] = expression
    if rna is not None:
        candidates["pass_rna_support"] = "not_assessed"
        candidates.loc[binders, "pass_rna_support"] = rna
    result = el.assess(variants, candidates, ALLELES, expression="quant.sf")
    crit = _criterion(result, "rna_expression")
    assert (crit.status, crit.cap) == (status, cap)
    if status != "not assessed":
        expressed = 1 if status == "pass" else 0
        assert crit.value == {"expressed": expressed, "assessed": 2}


# --------------------------------------------------------------------- antigen presentation


def test_presentation_not_assessed_without_genes_or_coordinates():
    """variants.tsv without gene names or coordinates: the check cannot run and never caps."""
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    result = el.assess(variants, candidates, ALLELES)
    crit = _criterion(result, "antigen_presentation")
    assert (crit.status, crit.cap, crit.value) == ("not assessed", None, None)
    assert result.verdict == "eligible" and result.presentation == {}
    assert any("Antigen presentation" in n for n in result.notes if "Not assessed" in n)


def test_targets_on_a_lost_allele_are_not_counted(tmp_path):
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    lost = tmp_path / "lost.txt"
    lost.write_text("HLA-A*02:01\n")  # every binder of _case is on A*02:01
    result = el.assess(variants, candidates, ALLELES, hla_loh=lost)
    assert _criterion(result, "binder_variants").value == 0
    assert result.verdict == "not supported"
    assert result.presentation["verdict_without_presentation"] == "eligible"
    assert len(result.presentation["uncounted_variants"]) == 6
    assert {f["allele"] for f in result.presentation["flagged_candidates"]} == {"HLA-A*02:01"}
    kept = tmp_path / "kept.txt"
    kept.write_text("HLA-B*07:02\n")
    assert el.assess(variants, candidates, ALLELES, hla_loh=kept).verdict == "eligible"


@pytest.mark.parametrize("gene, vclass, verdict", [
    ("B2M", "frameshift", "not supported"),
    ("B2M", "missense", "eligible"),
    ("STAT1", "splice_site", "borderline"),
    ("TAP2", "start_loss", "borderline"),
    ("NLRC5", "inframe_deletion", "eligible"),
])
def test_apm_hits_cap_by_role(gene, vclass, verdict):
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    variants = pd.concat([variants, pd.DataFrame([{
        "variant_id": "9:9:A>G", "status": "protein_changing", "gene_name": gene,
        "variant_class": vclass, "protein_change": "p.X1Y"}])])
    result = el.assess(variants, candidates, ALLELES)
    assert result.verdict == verdict
    assert result.presentation["apm_hits"][0]["gene"] == gene


def test_eligibility_json_round_trip_with_and_without_presentation(tmp_path):
    variants, candidates = _case(n_protein=6, n_binder_variants=6, n_genes=3)
    lost = tmp_path / "lost.txt"
    lost.write_text("HLA-B*07:02\n")
    result = el.assess(variants, candidates, ALLELES, hla_loh=lost)
    again = el.Eligibility.from_dict(result.to_dict())
    assert again == result
    old = result.to_dict()
    del old["presentation"]  # eligibility.json written before the check existed
    assert el.Eligibility.from_dict(old).presentation == {}
