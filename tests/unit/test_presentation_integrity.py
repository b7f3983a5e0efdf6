"""Antigen-presentation integrity (neorank.presentation_integrity) on real-format inputs.

Fixtures: tests/data/hla_loh (README there: tool layouts, hand-made values; the demo
files are stage outputs of resources/demo). Each case prints its verdict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from neorank import cohort, eligibility
from neorank import gene_spans as gs
from neorank import hla_loh as loh
from neorank import presentation_integrity as pi
from neorank import verdict as el
from neorank.errors import InputFileError, NeoRankError
from neorank.report import sections
from neorank.tables import load_alleles, read_table

DATA = Path(__file__).resolve().parents[1] / "data" / "hla_loh"
DEMO = DATA / "demo" / "osteosarc-paired."
EMBEDDED_GTF = Path(__file__).resolve().parents[2] / "resources" / "reference" / \
    "reference.gtf.gz"
LOHHLA = DATA / "example.30.DNA.HLAlossPrediction_CI.xls"


def _demo() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict]]:
    return (read_table(f"{DEMO}variants.tsv", columns=el.VARIANT_COLUMNS),
            read_table(f"{DEMO}effects.tsv"), read_table(f"{DEMO}binders.tsv"),
            load_alleles(f"{DEMO}alleles.json"))


def _crit(result: el.Eligibility) -> el.Criterion:
    return next(c for c in result.criteria if c.key == "antigen_presentation")


def _status(result: el.Eligibility) -> dict[str, str]:
    return {a["allele"]: a["status"] for a in result.presentation["hla_alleles"]}


def _show(case: str, result: el.Eligibility) -> None:
    print(f"\n[{case}] verdict: {result.verdict} ({result.presentation.get('verdict_change')}); "
          f"{_crit(result).display}")


# ----------------------------------------------------------------------- params


def test_params_defaults_and_checks():
    params = pi.presentation_params({})
    assert params["b2m_lof_verdict"] == "not supported"
    assert params["ifng_lof_verdict"] == "borderline"
    assert params["hla_genes"] == ["HLA-A", "HLA-B", "HLA-C"]
    assert params["ifng_genes"] == ["JAK1", "JAK2", "IFNGR1", "IFNGR2", "STAT1"]
    custom = pi.presentation_params({"presentation": {"ifng_lof_verdict": "eligible",
                                                      "b2m_genes": ["B2M"]}})
    assert custom["ifng_lof_verdict"] == "eligible"
    for section, message in (({"b2m_lof": "x"}, "unknown presentation key"),
                             ({"b2m_lof_verdict": "bad"}, "not a verdict"),
                             ({"hla_genes": "HLA-A"}, "list of gene names"),
                             ({"lohhla_max_pvalue": 2}, "p-value"),
                             ({"loh_minor_copy_number_below": -1}, "number > 0")):
        with pytest.raises(NeoRankError, match=message):
            pi.presentation_params({"presentation": section})


@pytest.mark.parametrize("text, key", [
    ("HLA-A*02:01", "HLA-A*02:01"), ("A*02:01", "HLA-A*02:01"),
    ("hla_a_24_02_01_01", "HLA-A*24:02"), ("hla_b_27_05_02", "HLA-B*27:05"),
    ("HLA-A*01:11N", "HLA-A*01:11"), ("hla_a_01_11n", "HLA-A*01:11"),
    ("HLA-C*07:02:01:03", "HLA-C*07:02"), ("not an allele", None), (None, None),
])
def test_allele_names(text, key):
    assert loh.allele_key(text) == key


def test_span_table_is_grch38_and_cited():
    for gene, (contig, start, end, source) in gs.GENE_SPANS_GRCH38.items():
        assert contig in {"1", "2", "6", "9", "15", "16"} and 0 < start < end, gene
        assert source
    assert gs.genes_at("chr15", 44711593, ["B2M"]) == ["B2M"]
    assert gs.genes_at("15", 44711486, ["B2M"]) == []
    assert set(gs.HLA_LOCI) == {"A", "B", "C"}


# ---------------------------------------------------------------- the demo case


def test_demo_stays_eligible_and_says_what_was_assessed():
    variants, effects, binders, alleles = _demo()
    result = el.assess(variants, binders, alleles, purity=0.6, effects=effects,
                       reference_genes=gs.reference_gene_names(EMBEDDED_GTF),
                       models_label="embedded")
    _show("demo", result)
    assert result.verdict == "eligible"
    crit = _crit(result)
    assert crit.status == "pass" and crit.cap == "eligible"
    assert "no somatic hit in the 11 APM genes assessed (TAPBP, IFNGR2 not assessed)" \
        in crit.display
    assert "HLA LOH not assessed" in crit.display
    coverage = {g["gene"]: g["coverage"] for g in result.presentation["apm_genes"]}
    # The embedded subset has none of these genes: B2M is checked by coordinates only.
    assert coverage["B2M"].startswith("GRCh38 span (not in the reference annotation")
    assert coverage["TAPBP"] == coverage["IFNGR2"] == "not assessed"
    assert {a["status"] for a in result.presentation["hla_alleles"]} == {"not assessed"}
    assert result.presentation["verdict_change"] == "unchanged"
    assert _crit(result).value == {"apm_lof": 0, "apm_hits": 0, "lost_alleles": 0,
                                   "flagged_candidates": 0}


# ------------------------------------------------------------------------ B2M


def test_b2m_frameshift_annotated_is_not_supported():
    variants, effects, binders, alleles = _demo()
    b2m = read_table(DATA / "b2m_frameshift.variants.tsv", columns=el.VARIANT_COLUMNS)
    b2m_effects = read_table(DATA / "b2m_frameshift.effects.tsv")
    result = el.assess(pd.concat([variants, b2m]), binders, alleles, purity=0.6,
                       effects=pd.concat([effects, b2m_effects]))
    _show("B2M frameshift (annotated)", result)
    assert result.verdict == "not supported"
    crit = _crit(result)
    assert crit.status == "fail" and crit.cap == "not supported"
    hit = result.presentation["apm_hits"][0]
    assert (hit["gene"], hit["call"], hit["protein_change"]) == (
        "B2M", pi.LOF, "p.L15fs")
    assert "FrameShift" in hit["evidence"]
    assert result.presentation["verdict_without_presentation"] == "eligible"
    assert result.presentation["verdict_change"].startswith("eligible -> not supported")
    assert "lowered the verdict from eligible to not supported" in result.summary


def test_b2m_frameshift_on_the_partial_reference_is_found_by_coordinates():
    """The embedded subset has no B2M: the variant is outside_reference, yet inside the
    B2M span. It is listed (effect not assessed) and does not cap."""
    variants, effects, binders, alleles = _demo()
    b2m = read_table(DATA / "b2m_outside_reference.variants.tsv", columns=el.VARIANT_COLUMNS)
    result = el.assess(pd.concat([variants, b2m]), binders, alleles, purity=0.6,
                       effects=effects)
    _show("B2M variant, coordinate path", result)
    assert result.verdict == "eligible"
    [hit] = result.presentation["apm_hits"]
    assert hit["call"] == "in gene, effect not assessed"
    assert hit["variant_id"] == "chr15:44711593:ACT>A"
    assert "15:44711487-44718877" in hit["evidence"]
    assert "no gene of the reference annotation overlaps it" in hit["evidence"]
    assert "check them against a full annotation" in _crit(result).note


def test_b2m_verdict_follows_the_config():
    variants, effects, binders, alleles = _demo()
    b2m = read_table(DATA / "b2m_frameshift.variants.tsv", columns=el.VARIANT_COLUMNS)
    params = pi.presentation_params({"presentation": {"b2m_lof_verdict": "borderline"}})
    result = el.assess(pd.concat([variants, b2m]), binders, alleles, presentation=params)
    assert result.verdict == "borderline"


# ------------------------------------------------------------- copy-number LOH


def test_purple_segments_hla_a_loh_lost_allele_unknown():
    variants, effects, binders, alleles = _demo()
    result = el.assess(variants, binders, alleles, purity=0.6, effects=effects,
                       copy_number=DATA / "purple.cnv.somatic.tsv")
    _show("PURPLE segments", result)
    assert result.verdict == "eligible"
    status = _status(result)
    assert status["HLA-A*01:01"] == status["HLA-A*01:11"] == "LOH unknown"
    assert {status[k] for k in ("HLA-B*08:01", "HLA-B*27:05", "HLA-C*01:02",
                                "HLA-C*07:01")} == {"kept"}
    a = next(x for x in result.presentation["hla_alleles"] if x["allele"] == "HLA-A*01:01")
    assert a["source"] == "PURPLE segments" and "minor 0.0247" in a["evidence"]
    flagged = result.presentation["flagged_candidates"]
    assert flagged and {f["allele"] for f in flagged} == {"HLA-A*01:01"}
    assert all(f["counted"] for f in flagged)  # an unknown allele is not a lost one
    assert "HLA: 4 kept, 2 LOH unknown" in _crit(result).display


def test_ascat_segments_and_a_homozygous_locus():
    variants, _, binders, _ = _demo()
    typing = [{"input": a, "allele": a, "status": "supported"} for a in
              ("HLA-A*01:01", "HLA-A*02:01", "HLA-B*08:01", "HLA-B*27:05", "HLA-C*07:02",
               "HLA-C*07:02")]
    result = el.assess(variants, binders, typing, copy_number=DATA / "ascat.segments.txt")
    _show("ASCAT segments, homozygous HLA-C", result)
    rows = {a["allele"]: a for a in result.presentation["hla_alleles"]}
    assert rows["HLA-A*01:01"]["status"] == rows["HLA-B*27:05"]["status"] == "LOH unknown"
    assert rows["HLA-C*07:02"]["zygosity"] == "homozygous"
    assert rows["HLA-C*07:02"]["status"] == "kept"
    assert "homozygous locus: no LOH to call" in rows["HLA-C*07:02"]["evidence"]
    assert rows["HLA-A*01:01"]["source"] == "ASCAT segments"


@pytest.mark.parametrize("name, caller, total", [
    ("facets.cncf.txt", "FACETS", 1.0), ("sequenza.segments.txt", "Sequenza", 2.0),
    ("purple.cnv.somatic.tsv", "PURPLE", 1.9627), ("ascat.segments.txt", "ASCAT", 2.0),
])
def test_segment_formats(name, caller, total):
    segments = loh.read_allele_segments(DATA / name)
    assert segments.caller == caller and segments.problem is None
    locus = "A"
    got_total, minor, _ = loh.locus_copy_number(segments, locus)
    assert got_total == pytest.approx(total) and minor < 0.5


def test_per_variant_copy_number_and_homozygous_deletion(tmp_path):
    per_variant = tmp_path / "cn.tsv"
    per_variant.write_text("variant_id\tcopy_number\n1:100:A>T\t2\n")
    segments = loh.read_allele_segments(per_variant)
    assert "no minor allele copy number" in segments.problem
    _, _, binders, alleles = _demo()
    result = el.assess(pd.DataFrame({"variant_id": [], "status": []}), binders, alleles,
                       copy_number=per_variant)
    assert {a["status"] for a in result.presentation["hla_alleles"]} == {"not assessed"}

    deletion = tmp_path / "ascat.txt"
    deletion.write_text("sample\tchr\tstartpos\tendpos\tnMajor\tnMinor\n"
                        "T\t6\t31000000\t31500000\t0\t0\n")
    result = el.assess(pd.DataFrame({"variant_id": [], "status": []}), binders, alleles,
                       copy_number=deletion)
    status = _status(result)
    assert status["HLA-B*27:05"] == status["HLA-C*07:01"] == "lost"  # both in 31.0-31.5 Mb
    assert status["HLA-A*01:01"] == "not assessed"  # no segment covers HLA-A


# ------------------------------------------------------- allele-specific callers


def test_lohhla_table_on_the_demo_counts_only_what_remains():
    variants, effects, binders, alleles = _demo()
    result = el.assess(variants, binders, alleles, purity=0.6, effects=effects,
                       hla_loh=LOHHLA)
    _show("LOHHLA on the demo", result)
    status = _status(result)
    assert status["HLA-B*27:05"] == "lost"
    assert status["HLA-B*08:01"] == status["HLA-A*01:01"] == status["HLA-C*07:01"] == "kept"
    assert result.presentation["lost_alleles"] == ["HLA-B*27:05"]
    # Two demo variants have Pass-tier binders only on B*27:05: they no longer count.
    assert result.presentation["uncounted_variants"] == ["chr3:64198863:C>T",
                                                         "chrX:77599465:C>T"]
    binder_variants = next(c for c in result.criteria if c.key == "binder_variants")
    assert binder_variants.value == 21 and "not counted" in binder_variants.note
    assert result.verdict == "eligible"
    flagged = result.presentation["flagged_candidates"]
    assert {f["allele"] for f in flagged} == {"HLA-B*27:05"}
    assert sum(not f["counted"] for f in flagged) == 2
    b = next(a for a in result.presentation["hla_alleles"] if a["allele"] == "HLA-B*27:05")
    assert "PVal_unique 2.1e-23" in b["evidence"] and "copy number 0.11" in b["evidence"]


def _six_variant_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six variants in six genes: four with Pass binders only on B*27:05."""
    variants = pd.DataFrame({"variant_id": [f"1:{i}:C>T" for i in range(6)],
                             "status": "protein_changing"})
    alleles = ["HLA-B*27:05"] * 4 + ["HLA-C*01:02"] * 2
    candidates = pd.DataFrame({"variant_id": variants["variant_id"],
                               "gene_name": [f"G{i}" for i in range(6)], "allele": alleles,
                               "binder": True, "tier": "Pass"})
    return variants, candidates


def test_lohhla_loss_lowers_the_verdict():
    variants, candidates = _six_variant_case()
    _, _, _, alleles = _demo()
    before = el.assess(variants, candidates, alleles)
    after = el.assess(variants, candidates, alleles, hla_loh=LOHHLA)
    _show("LOHHLA, targets mostly on the lost allele", after)
    assert before.verdict == "eligible" and after.verdict == "borderline"
    assert next(c for c in after.criteria if c.key == "binder_variants").value == 2
    assert after.presentation["verdict_change"] == (
        "eligible -> borderline because of the antigen-presentation evidence")


def test_lohhla_multi_region_and_no_copy_number(tmp_path):
    lines = LOHHLA.read_text().splitlines()
    header, row_b = lines[0], lines[2]
    cols = header.split("\t")
    region2 = row_b.split("\t")
    region2[0] = "region2"
    region2[cols.index("PVal_unique")] = "0.3"
    nocn = row_b.split("\t")
    nocn[0] = "region3"
    nocn[cols.index("HLA_type2copyNum_withBAFBin")] = "NA"
    path = tmp_path / "p.30.DNA.HLAlossPrediction_CI.xls"
    path.write_text("\n".join([header, row_b, "\t".join(region2)]) + "\n")
    calls = pi.read_hla_loh(path, pi.presentation_params({}))
    assert calls.calls["HLA-B*27:05"][0] == "LOH unknown"  # lost in one region of two
    path.write_text("\n".join([header, "\t".join(nocn)]) + "\n")
    calls = pi.read_hla_loh(path, pi.presentation_params({}))
    assert calls.calls["HLA-B*27:05"][0] == "LOH unknown"
    assert "no copy number estimated" in calls.calls["HLA-B*27:05"][1]


def test_dash_output_and_a_homozygous_locus():
    variants, _, binders, _ = _demo()
    typing = [{"input": a, "allele": a, "status": "supported"} for a in
              ("HLA-A*01:01", "HLA-B*08:01", "HLA-B*27:05", "HLA-C*07:02")]
    typing.append({"input": "HLA-A*01:11N", "allele": None, "status": "null_skipped"})
    result = el.assess(variants, binders, typing, hla_loh=DATA / "DASH.output.txt")
    _show("DASH, homozygous HLA-C", result)
    rows = {a["allele"]: a for a in result.presentation["hla_alleles"]}
    assert rows["HLA-B*27:05"]["status"] == "lost" and rows["HLA-B*27:05"]["source"] == "DASH"
    assert rows["HLA-B*08:01"]["status"] == "kept"
    assert rows["HLA-C*07:02"]["zygosity"] == "homozygous"
    assert rows["HLA-C*07:02"]["status"] == "kept"
    assert rows["HLA-C*07:02"]["evidence"] == "homozygous locus: no LOH to call"
    assert rows["HLA-A*01:11"]["expressed"] is False
    assert rows["HLA-A*01:11"]["typed_as"] == "HLA-A*01:11N"


def test_plain_list_of_lost_alleles(tmp_path):
    _, _, binders, alleles = _demo()
    empty = pd.DataFrame({"variant_id": [], "status": []})
    result = el.assess(empty, binders, alleles, hla_loh=DATA / "lost_alleles.txt")
    status = _status(result)
    assert status["HLA-B*27:05"] == "lost"
    assert {s for k, s in status.items() if k != "HLA-B*27:05"} == {"kept"}
    bad = tmp_path / "bad.txt"
    bad.write_text("HLA-B*27:05\nsomething else\n")
    with pytest.raises(InputFileError, match="line 2"):
        el.assess(empty, binders, alleles, hla_loh=bad)


def test_caller_wins_over_segments():
    _, _, binders, alleles = _demo()
    empty = pd.DataFrame({"variant_id": [], "status": []})
    result = el.assess(empty, binders, alleles, hla_loh=LOHHLA,
                       copy_number=DATA / "ascat.segments.txt")
    status = _status(result)
    assert status["HLA-B*27:05"] == "lost" and status["HLA-A*01:01"] == "kept"
    assert len(result.presentation["hla_loh_inputs"]) == 2


# ------------------------------------------------------------ other APM genes


def _gene_case(rows: list[dict], allele_targets: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six protein-changing variants with Pass binders on the given alleles plus APM rows."""
    variants = pd.DataFrame([{"variant_id": f"1:{i}:C>T", "status": "protein_changing",
                              "gene_name": f"G{i}", "variant_class": "missense"}
                             for i in range(6)] + rows)
    candidates = pd.DataFrame({"variant_id": [f"1:{i}:C>T" for i in range(6)],
                               "gene_name": [f"G{i}" for i in range(6)],
                               "allele": allele_targets, "binder": True, "tier": "Pass"})
    return variants, candidates


def _apm_row(gene: str, vclass: str, change: str) -> dict:
    return {"variant_id": f"9:1:{gene}>A", "status": "protein_changing", "gene_name": gene,
            "variant_class": vclass, "protein_change": change}


def test_ifng_loss_is_borderline_and_uncertain_hits_do_not_cap():
    _, _, _, alleles = _demo()
    variants, candidates = _gene_case([_apm_row("JAK1", "stop_gain", "p.Q503*"),
                                       _apm_row("JAK2", "missense", "p.V617F")],
                                      ["HLA-B*08:01"] * 6)
    result = el.assess(variants, candidates, alleles)
    _show("JAK1 stop gain + JAK2 missense", result)
    assert result.verdict == "borderline"
    calls = {h["gene"]: h["call"] for h in result.presentation["apm_hits"]}
    assert calls == {"JAK1": pi.LOF, "JAK2": pi.UNCERTAIN}
    assert "IFN-gamma signalling loss of function (JAK1 p.Q503*)" in _crit(result).note
    variants, candidates = _gene_case([_apm_row("JAK2", "missense", "p.V617F")],
                                      ["HLA-B*08:01"] * 6)
    assert el.assess(variants, candidates, alleles).verdict == "eligible"


def test_hla_gene_loss_flags_that_loci_alleles():
    _, _, _, alleles = _demo()
    hla_b = [_apm_row("HLA-B", "frameshift", "p.G62fs")]
    variants, candidates = _gene_case(hla_b, ["HLA-B*08:01"] * 3 + ["HLA-C*01:02"] * 3)
    result = el.assess(variants, candidates, alleles)
    _show("HLA-B frameshift, other alleles keep targets", result)
    assert result.verdict == "eligible"
    flagged = result.presentation["flagged_candidates"]
    assert len(flagged) == 3 and all("HLA-B somatic loss of function" in f["reason"]
                                     for f in flagged)
    variants, candidates = _gene_case(hla_b, ["HLA-B*08:01"] * 3 + ["HLA-B*27:05"] * 3)
    result = el.assess(variants, candidates, alleles)
    _show("HLA-B frameshift, every target on HLA-B", result)
    assert result.verdict == "borderline"
    assert "no other kept allele has a target" in _crit(result).note


def test_effects_table_catches_a_non_top_transcript():
    """variants.tsv's top effect is another gene; the effects table has a TAP1
    truncation on one transcript."""
    _, _, _, alleles = _demo()
    variants, candidates = _gene_case([_apm_row("OTHER", "missense", "p.A1T")],
                                      ["HLA-B*08:01"] * 6)
    effects = pd.DataFrame([{"variant_id": "9:1:OTHER>A", "gene_name": "TAP1",
                             "transcript_id": "ENST1", "effect": "PrematureStop",
                             "protein_change": "p.R120*"}])
    result = el.assess(variants, candidates, alleles, effects=effects)
    assert result.verdict == "borderline"
    [hit] = result.presentation["apm_hits"]
    assert (hit["gene"], hit["call"], hit["protein_change"]) == ("TAP1", pi.LOF, "p.R120*")


# ------------------------------------------------------- stage, report, cohort


def test_stage_writes_the_presentation_record(tmp_path):
    variants = tmp_path / "variants.tsv"
    demo = read_table(f"{DEMO}variants.tsv")
    b2m = read_table(DATA / "b2m_outside_reference.variants.tsv")
    pd.concat([demo, b2m]).to_csv(variants, sep="\t", index=False, na_rep="NA")
    candidates = tmp_path / "candidates.tsv"
    binders = read_table(f"{DEMO}binders.tsv")
    binders.to_csv(candidates, sep="\t", index=False)
    out = tmp_path / "eligibility.json"
    args = argparse.Namespace(
        sample="osteosarc-paired", variants=str(variants), candidates=str(candidates),
        alleles_json=f"{DEMO}alleles.json", models_label="embedded", manifest=None,
        params=None, purity=0.6, expression=None, chunk_rows=1000,
        effects=f"{DEMO}effects.tsv", copy_number=str(DATA / "purple.cnv.somatic.tsv"),
        hla_loh=str(LOHHLA), reference_gtf=str(EMBEDDED_GTF), out=str(out))
    assert eligibility.run(args) == 0
    data = json.loads(out.read_text())
    record = data["presentation"]
    print(f"\n[stage: demo + B2M coordinates + PURPLE + LOHHLA] verdict: {data['verdict']}")
    assert data["verdict"] == "eligible"
    assert record["lost_alleles"] == ["HLA-B*27:05"]
    assert {a["allele"]: a["status"] for a in record["hla_alleles"]}["HLA-A*01:01"] == "kept"
    assert record["apm_hits"][0]["call"] == "in gene, effect not assessed"
    assert any(c["key"] == "antigen_presentation" for c in data["criteria"])
    again = el.read_eligibility(out)
    assert again.presentation == record

    page = sections.presentation(again)
    assert "<h2>Antigen presentation</h2>" in page
    assert "HLA-B*27:05" in page and "lost" in page
    assert "in gene, effect not assessed" in page and "Affected candidates" in page
    assert "Verdict without this evidence: <strong>eligible</strong>" in page
    cell = cohort.presentation_cell(record)
    assert "no APM LoF" in cell and "lost: " in cell and "HLA-B*27:05" in cell


def test_report_and_cohort_without_the_check():
    result = el.Eligibility(verdict="eligible", summary="s", criteria=[], notes=[])
    assert "Not assessed" in sections.presentation(result)
    assert "not assessed" in cohort.presentation_cell({})
    assert sections.presentation(el.Eligibility.from_dict(result.to_dict())) \
        == sections.presentation(result)
