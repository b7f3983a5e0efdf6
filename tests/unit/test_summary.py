"""neorank.summary: the one-line per-sample run summary.

Tables are built here by hand, so every expected count is read off the
construction; the verdict is checked against the one ``neorank report``
writes for the same inputs.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from neorank import cli
from neorank.io import write_tsv
from neorank.summary import COLUMNS, format_line, summary_lines

ALLELES = [{"input": "HLA-A*02:01", "allele": "HLA-A*02:01", "status": "supported"},
           {"input": "HLA-B*07:02", "allele": "HLA-B*07:02", "status": "supported"},
           {"input": "HLA-A*01:11N", "allele": "HLA-A*01:11N", "status": "null_skipped"}]


def make_tables(n_binder_variants: int, n_pass_variants: int | None = None):
    """10 input variants: 2 filtered, 1 outside the reference, 1 silent, 6 protein-changing.

    Each protein-changing variant k (gene G{k % 3}) has 3 peptides x 2 alleles
    = 6 candidate rows; the first ``n_binder_variants`` of them have one binder
    row each (a second binder row for variant 0). With ``n_pass_variants`` the
    table has a ``tier`` column: binders of the first ``n_pass_variants``
    variants are ``Pass``, other binders ``SelfSimilar``, non-binders ``Poor``.
    """
    statuses = ["filtered", "filtered", "outside_reference", "silent"] + ["protein_changing"] * 6
    variants = pd.DataFrame({"variant_id": [f"v{i}" for i in range(10)], "status": statuses})
    pc = [f"v{i}" for i in range(4, 10)]
    peptides = pd.DataFrame({"variant_id": [v for v in pc for _ in range(3)]})
    rows = []
    for k, v in enumerate(pc):
        for p in range(3):
            for a in ("HLA-A*02:01", "HLA-B*07:02"):
                binder = k < n_binder_variants and (p == 0 and (a == "HLA-A*02:01" or k == 0))
                row = {"rank": 0, "candidate_id": f"{v}-{p}-{a}", "variant_id": v,
                       "gene_name": f"G{k % 3}", "effect": "Substitution",
                       "protein_change": "p.A1V", "mutant_peptide": f"PEPTIDE{k}{p}",
                       "allele": a, "mutant_affinity_nm": 50.0 if binder else 9000.0,
                       "binder": binder}
                if n_pass_variants is not None:
                    row["tier"] = ("Pass" if k < n_pass_variants else "SelfSimilar") \
                        if binder else "Poor"
                rows.append(row)
    candidates = pd.DataFrame(rows)
    candidates["rank"] = range(1, len(candidates) + 1)
    return variants, peptides, candidates


def write_inputs(tmp_path, n_binder_variants, n_pass_variants=None):
    variants, peptides, candidates = make_tables(n_binder_variants, n_pass_variants)
    paths = {name: tmp_path / f"{name}.tsv" for name in ("variants", "peptides", "candidates")}
    write_tsv(variants, paths["variants"])
    write_tsv(peptides, paths["peptides"])
    write_tsv(candidates, paths["candidates"])
    paths["alleles"] = tmp_path / "alleles.json"
    paths["alleles"].write_text(json.dumps(ALLELES))
    paths["params"] = tmp_path / "params.json"
    paths["params"].write_text(json.dumps({"binding": {}, "eligibility": {}}))
    return paths


def write_eligibility(paths, tmp_path, sample="S1", purity="0.6"):
    """eligibility.json as the workflow's eligibility stage writes it."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sample": sample, "models": {"label": "embedded"}}))
    paths["eligibility"] = tmp_path / "eligibility.json"
    argv = ["eligibility", "--sample", sample, "--variants", str(paths["variants"]),
            "--candidates", str(paths["candidates"]), "--manifest", str(manifest),
            "--alleles-json", str(paths["alleles"]), "--params", str(paths["params"]),
            "--out", str(paths["eligibility"])]
    if purity is not None:
        argv += ["--purity", purity]
    assert cli.main(argv) == 0
    return json.loads(paths["eligibility"].read_text())["verdict"]


def run_summary(paths, tmp_path, sample="S1", purity="0.6"):
    write_eligibility(paths, tmp_path, sample, purity)
    out = tmp_path / "summary.tsv"
    argv = ["summary", "--sample", sample, "--variants", str(paths["variants"]),
            "--peptides", str(paths["peptides"]), "--candidates", str(paths["candidates"]),
            "--eligibility", str(paths["eligibility"]), "--out", str(out)]
    assert cli.main(argv) == 0
    return pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)


def report_verdict(paths, tmp_path, sample="S1", purity="0.6"):
    """The verdict the report judges by itself (no eligibility.json given)."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sample": sample, "models": {"label": "embedded"}}))
    argv = ["report", "--sample", sample, "--variants", str(paths["variants"]),
            "--peptides", str(paths["peptides"]), "--candidates", str(paths["candidates"]),
            "--manifest", str(manifest), "--alleles-json", str(paths["alleles"]),
            "--params", str(paths["params"]), "--out", str(tmp_path / "report.html")]
    if purity is not None:
        argv += ["--purity", purity]
    assert cli.main(argv) == 0
    page = (tmp_path / "report.html").read_text()
    return re.search(r'class="verdict v-[a-z-]+">([a-z ]+)<', page).group(1)


def test_counts_follow_the_funnel(tmp_path, capsys):
    paths = write_inputs(tmp_path, n_binder_variants=5)
    table = run_summary(paths, tmp_path)
    assert list(table.columns) == COLUMNS
    row = table.iloc[0].to_dict()
    # 10 in; 8 not filtered; 6 protein-changing; 6 x 3 peptides; 18 x 2 alleles predictions;
    # binders: 1 per variant for 5 variants + 1 extra for variant 0; genes G0, G1, G2.
    assert row == {"sample": "S1", "variants": "10", "somatic": "8", "protein_changing": "6",
                   "peptides": "18", "predictions": "36", "binders": "6",
                   "pass_candidates": "NA", "target_variants": "5", "target_genes": "3",
                   "verdict": "eligible"}
    printed = capsys.readouterr().out.strip()
    assert printed == ("S1: 10 variants in -> 8 somatic -> 6 protein-changing -> 18 peptides -> "
                       "36 predictions -> 6 binders (5 variants, 3 genes) -> verdict: eligible")


def test_tiered_table_counts_pass_candidates(tmp_path, capsys):
    # 5 binder variants (6 binder rows); the binders of variants 0 and 1 (3 rows) are Pass.
    paths = write_inputs(tmp_path, n_binder_variants=5, n_pass_variants=2)
    row = run_summary(paths, tmp_path).iloc[0].to_dict()
    assert (row["binders"], row["pass_candidates"]) == ("6", "3")
    assert (row["target_variants"], row["target_genes"]) == ("2", "2")  # genes G0, G1
    assert row["verdict"] == "borderline"  # 2 Pass variants: >= 1 but < 5
    assert capsys.readouterr().out.strip().endswith(
        "6 binders -> 3 Pass candidates (2 variants, 2 genes) -> verdict: borderline")


@pytest.mark.parametrize("n_binder_variants, n_pass, purity", [
    (5, 5, "0.6"), (5, 2, "0.6"), (5, 0, "0.6"), (0, 0, "0.6"), (5, 5, "0.1"), (5, 5, None)])
def test_verdict_matches_the_report(tmp_path, n_binder_variants, n_pass, purity):
    paths = write_inputs(tmp_path, n_binder_variants, n_pass)
    summary = run_summary(paths, tmp_path, purity=purity)
    assert summary.loc[0, "verdict"] == report_verdict(paths, tmp_path, purity=purity)


def test_verdict_levels(tmp_path):
    # Defaults: eligible needs >= 5 binder variants, borderline >= 1 (config/README.md).
    for n, expected in [(5, "eligible"), (2, "borderline"), (0, "not supported")]:
        folder = tmp_path / str(n)
        folder.mkdir()
        paths = write_inputs(folder, n)
        assert run_summary(paths, folder).loc[0, "verdict"] == expected


@pytest.mark.parametrize("table, missing", [("variants", "status"),
                                            ("candidates", "gene_name")])
def test_missing_column_names_the_file(tmp_path, capsys, table, missing):
    paths = write_inputs(tmp_path, 5)
    write_eligibility(paths, tmp_path)
    if table == "variants":
        write_tsv(pd.DataFrame({"variant_id": ["v1"]}), paths["variants"])  # no status column
    else:
        _, _, candidates = make_tables(5)
        write_tsv(candidates.drop(columns="gene_name"), paths["candidates"])
    with pytest.raises(SystemExit) as err:
        cli.main(["summary", "--sample", "S1", "--variants", str(paths["variants"]),
                  "--peptides", str(paths["peptides"]), "--candidates", str(paths["candidates"]),
                  "--eligibility", str(paths["eligibility"]), "--out", str(tmp_path / "s.tsv")])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert str(paths[table]) in message and missing in message


def test_summary_lines_formats_and_skips_missing(tmp_path):
    row = {"sample": "P-01", "variants": 12345, "somatic": 12000, "protein_changing": 7000,
           "peptides": 250000, "predictions": 1500000, "binders": 4200,
           "pass_candidates": 1800, "target_variants": 900, "target_genes": 610,
           "verdict": "borderline"}
    write_tsv(pd.DataFrame([row], columns=COLUMNS), tmp_path / "P-01.tsv")
    lines = summary_lines([tmp_path / "P-01.tsv", tmp_path / "absent.tsv"])
    assert lines == [format_line(row)]
    assert lines[0] == ("P-01: 12,345 variants in -> 12,000 somatic -> 7,000 protein-changing -> "
                        "250,000 peptides -> 1,500,000 predictions -> 4,200 binders -> "
                        "1,800 Pass candidates (900 variants, 610 genes) -> verdict: borderline")


@pytest.mark.parametrize("n_pass", [None, 2])
def test_small_blocks_give_the_same_summary(tmp_path, n_pass):
    import argparse

    from neorank import summary

    paths = write_inputs(tmp_path, n_binder_variants=5, n_pass_variants=n_pass)
    whole = pd.read_csv(paths["candidates"], sep="\t", dtype=str, keep_default_na=False)
    written = []
    for chunk_rows in (1000, 5, 1):
        binders, rows = summary.read_candidates(paths["candidates"], chunk_rows)
        assert rows == 36 and len(binders) == 6
        assert list(binders["variant_id"]) == list(whole.loc[whole["binder"] == "True",
                                                             "variant_id"])
        assert summary.count_rows(paths["peptides"], "variant_id", "peptides.tsv",
                                  chunk_rows) == 18
        write_eligibility(paths, tmp_path)
        args = argparse.Namespace(
            sample="S1", variants=str(paths["variants"]), peptides=str(paths["peptides"]),
            candidates=str(paths["candidates"]), eligibility=str(paths["eligibility"]),
            out=str(tmp_path / f"s{chunk_rows}.tsv"))
        assert summary.run(args, chunk_rows=chunk_rows) == 0
        written.append((tmp_path / f"s{chunk_rows}.tsv").read_bytes())
    assert written[1] == written[0] and written[2] == written[0]
    assert b"\t36\t6\t" in written[0]  # predictions from the row count, binders kept
