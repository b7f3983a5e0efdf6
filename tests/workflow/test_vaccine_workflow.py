"""Vaccine design, aggregated table, review round trip and cohort page in the demo run.

Uses the session's demo run (fixture ``run``); expectations are recomputed here
from the run's own inputs (effects, candidates) and, for junctional binders,
by predicting the chosen construct's junctions again with the embedded models.
"""

from __future__ import annotations

import json
import zipfile

import openpyxl
import pandas as pd
import pytest
from test_workflow import ROOT, SAMPLES, snakemake, table

from neorank.manufacturability import assess

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("sample", SAMPLES)
def test_vaccine_outputs_exist(run, sample):
    for name in ("vaccine_peptides.tsv", "vaccine_mrna.tsv", "vaccine_junctions.tsv",
                 "aggregated.tsv", "candidates.xlsx", "eligibility.json"):
        assert (run / "results" / sample / name).stat().st_size > 0, name
    assert (run / "results" / "cohort.html").stat().st_size > 0


@pytest.mark.parametrize("sample", SAMPLES)
def test_long_peptides_carry_the_mutation_and_best_peptide(run, sample):
    design = table(run, sample, "vaccine_peptides.tsv")
    candidates = table(run, sample, "candidates.tsv")
    effects = pd.read_csv(run / "results" / "effects" / f"{sample}.tsv", sep="\t",
                          na_values=["NA"], keep_default_na=False)
    binder_variants = candidates.loc[candidates["binder"], "variant_id"].nunique()
    assert len(design) == min(20, binder_variants)
    assert design["variant_id"].is_unique
    # Spread across genes: the demo has more binder genes than slots, so no gene repeats.
    binder_genes = candidates.loc[candidates["binder"], "gene_name"].nunique()
    assert binder_genes >= 20 and design["gene_name"].is_unique
    for row in design.itertuples(index=False):
        effect = effects.loc[(effects["variant_id"] == row.variant_id)
                             & (effects["transcript_id"] == row.transcript_id)].iloc[0]
        context = effect["mutant_context"]
        offset = row.long_peptide_start - effect["context_start"]
        assert context[offset:offset + row.long_peptide_length] == row.long_peptide
        assert row.long_peptide_length == min(25, len(context))
        start, end = effect["mutation_start"], effect["mutation_end"]
        if end > start:
            assert offset < end and offset + row.long_peptide_length > start
        else:
            assert offset < start < offset + row.long_peptide_length
        assert row.best_peptide in row.long_peptide
        best = candidates.loc[candidates["candidate_id"] == row.candidate_id].iloc[0]
        assert best["binder"] and best["mutant_peptide"] == row.best_peptide
        flags = assess(row.long_peptide)
        assert bool(row.manufacturable) == flags["manufacturable"]
        assert row.n_cysteines == flags["n_cysteines"]


def test_mrna_junctional_binders_are_all_reported(run):
    """Predict every junction of the chosen order again and compare with the table."""
    from neorank.models import load_predictor
    from neorank.vaccine import junction_peptides

    sample = "osteosarc-paired"
    order = table(run, sample, "vaccine_mrna.tsv")
    junctions = table(run, sample, "vaccine_junctions.tsv")
    entries = json.loads((run / "results" / sample / "alleles.json").read_text())
    alleles = [e["allele"] for e in entries if e["status"] != "null_skipped"]
    binder_variants = table(run, sample, "aggregated.tsv").query("num_binder_peptides > 0")
    assert len(order) == min(34, len(binder_variants))
    assert list(order["position"]) == list(range(1, len(order) + 1))
    segments = list(order["long_peptide"])
    linkers = ["" if x == "none" else x for x in order["linker_before"].fillna("")][1:]
    peptides = sorted({p for i, linker in enumerate(linkers)
                       for p in junction_peptides(segments[i], linker, segments[i + 1],
                                                  [8, 9, 10, 11])})
    predictor = load_predictor("embedded", ROOT / "resources" / "mhcflurry" / "embedded")
    predicted = predictor.affinity(peptides, alleles)
    binders = predicted.loc[predicted["affinity_nm"] <= 500]
    assert len(junctions) == len(binders)
    assert set(zip(junctions["junction_peptide"], junctions["allele"], strict=True)) == set(
        zip(binders["peptide"], binders["allele"], strict=True))
    assert order["junction_binders_after"].sum() == len(junctions)


def test_aggregated_one_row_per_variant_with_candidates(run):
    sample = "osteosarc-paired"
    aggregated = table(run, sample, "aggregated.tsv")
    candidates = table(run, sample, "candidates.tsv")
    assert sorted(aggregated["variant_id"]) == sorted(candidates["variant_id"].unique())
    binders = candidates.loc[candidates["binder"]]
    for row in aggregated.head(5).itertuples(index=False):
        mine = binders.loc[binders["variant_id"] == row.variant_id]
        assert row.num_binder_peptides == mine["mutant_peptide"].nunique()


def test_review_round_trip_reruns_only_final_order(run):
    sample = "osteosarc-paired"
    review_dir = run / "review"
    review_dir.mkdir(exist_ok=True)
    edited = review_dir / f"{sample}.xlsx"
    final = run / "results" / sample / "final_order.tsv"
    try:
        wb = openpyxl.load_workbook(run / "results" / sample / "candidates.xlsx")
        ws = wb["Review"]
        header = [c.value for c in ws[1]]
        assert ws.data_validations.dataValidation[0].formula1 == '"Accept,Reject,Review"'
        binder_variants = table(run, sample, "aggregated.tsv").query("num_binder_peptides > 0")
        assert ws.max_row - 1 == len(binder_variants)
        decision, cid = header.index("decision") + 1, header.index("candidate_id") + 1
        ws.cell(2, decision).value = "Accept"
        ws.cell(3, decision).value = "Reject"
        ws.cell(4, decision).value = "Accept"
        accepted = [ws.cell(2, cid).value, ws.cell(4, cid).value]
        wb.save(edited)
        plan = snakemake(run, "-n", "--quiet", "rules").stdout
        assert "final_order" in plan and "vaccine" not in plan and "rank" not in plan
        snakemake(run)
        order = table(run, sample, "final_order.tsv")
        assert list(order["candidate_id"]) == accepted
    finally:
        edited.unlink(missing_ok=True)
        final.unlink(missing_ok=True)


def test_report_and_cohort_carry_the_design(run, tmp_path):
    sample = "osteosarc-paired"
    design = table(run, sample, "vaccine_peptides.tsv")
    page = (run / "results" / sample / "report.html").read_text()
    vaccine = page.split('<section id="vaccine">', 1)[1].split("</section>", 1)[0]
    assert vaccine.count("<tr>") >= len(design)
    assert page.count("<details>") == table(run, sample, "candidates.tsv")["variant_id"].nunique()
    cohort = (run / "results" / "cohort.html").read_text()
    for name in SAMPLES:
        assert name in cohort
    snakemake(run, "--report", str(tmp_path / "report.zip"))
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    for name in ("vaccine_peptides.tsv", "vaccine_mrna.tsv", "aggregated.tsv", "candidates.xlsx",
                 "cohort.html"):
        assert any(n.endswith("/" + name) for n in names), name
