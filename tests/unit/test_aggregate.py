"""Unit tests for ``neorank aggregate`` (one row per variant, pVACseq-style)."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from neorank import aggregate
from neorank.config import DEFAULT_INCLUSION_NM
from neorank.errors import InputFileError
from neorank.io import read_tsv, write_tsv

ALLELES = ["HLA-A*02:01", "HLA-B*07:02", "HLA-C*07:01"]

# (rank, variant, peptide, allele, binder, IC50, transcripts)
ROWS = [
    (1, "v2", "KLVVVGAVG", "HLA-A*02:01", True, 40.0, "ENST9;ENST2"),
    (2, "v1", "SIINFEKL", "HLA-B*07:02", True, 120.0, "ENST1"),
    (3, "v2", "KLVVVGAVG", "HLA-B*07:02", True, 300.0, "ENST9;ENST2"),
    (4, "v2", "LVVVGAVGV", "HLA-A*02:01", True, 450.0, "ENST3"),
    (5, "v1", "SIINFEKLL", "HLA-A*02:01", False, 2500.0, "ENST1"),
    (6, "v1", "IINFEKLLM", "HLA-A*02:01", False, 7000.0, "ENST1"),
    (7, "v3", "AAAAAAAAA", "HLA-A*02:01", False, 30000.0, "ENST4"),
]


def _candidates(with_tier: bool = False) -> pd.DataFrame:
    records = []
    for rank, variant, peptide, allele, binder, ic50, transcripts in ROWS:
        record = {"rank": rank, "candidate_id": f"PT-{rank}", "variant_id": variant,
                  "gene_name": {"v1": "OVA", "v2": "KRAS", "v3": "GENE3"}[variant],
                  "effect": "Substitution", "protein_change": f"p.{variant}",
                  "transcript_ids": transcripts, "mutant_peptide": peptide, "allele": allele,
                  "mutation_positions": "3", "binder": binder, "mutant_affinity_nm": ic50,
                  "mutant_percentile": ic50 / 1000, "wildtype_affinity_nm": ic50 * 10,
                  "wildtype_percentile": None, "agretopicity": 0.1,
                  "tumor_vaf": {"v1": 0.3, "v2": 0.45, "v3": None}[variant],
                  "tumor_depth": 80, "normal_vaf": 0.0, "score": 1 - rank / 10}
        if with_tier:
            record["tier"] = "Pass" if binder else "Poor"
        records.append(record)
    # Shuffle the rows: the best row must come from rank, not file order.
    return pd.DataFrame(records).iloc[[3, 0, 6, 1, 5, 2, 4]].reset_index(drop=True)


def aggregate_table(candidates: pd.DataFrame, alleles: list[str] | None = None,
                    inclusion_nm: float = DEFAULT_INCLUSION_NM) -> pd.DataFrame:
    """The aggregated table of an in-memory candidates.tsv, taken in as one block (what
    :func:`neorank.aggregate.aggregate_file` gives for the file, whatever its block size)."""
    state = aggregate._Aggregation(list(candidates.columns), alleles, inclusion_nm)
    state.add(candidates)
    return state.table(pd.concat([candidates.iloc[:0], *state.best_parts]))


def test_one_row_per_variant_with_best_peptide():
    table = aggregate_table(_candidates(), ALLELES)
    assert list(table["variant_id"]) == ["v2", "v1", "v3"]  # by best rank 1, 2, 7
    assert list(table.columns) == aggregate.COLUMNS
    v2, v1, v3 = (table.iloc[i] for i in range(3))
    assert (v2["best_peptide"], v2["best_allele"], v2["best_rank"]) == ("KLVVVGAVG",
                                                                      "HLA-A*02:01", 1)
    assert v2["best_candidate_id"] == "PT-1"
    assert v2["best_transcript"] == "ENST2"  # first of the sorted transcripts
    # Binder rows per allele in typing order: v2 has A*02:01 x2, B*07:02 x1.
    assert v2["binders_per_allele"] == "HLA-A*02:01:2;HLA-B*07:02:1;HLA-C*07:01:0"
    assert v2["num_binder_peptides"] == 2 and v2["num_included_peptides"] == 2
    assert v2["num_binder_transcripts"] == 3  # ENST2, ENST3, ENST9
    # v1: SIINFEKL binds; SIINFEKLL (2500 nM) is included but not a binder; 7000 nM is not.
    assert v1["num_binder_peptides"] == 1 and v1["num_included_peptides"] == 2
    assert v1["binders_per_allele"] == "HLA-A*02:01:0;HLA-B*07:02:1;HLA-C*07:01:0"
    assert v1["mutant_affinity_nm"] == 120.0 and v1["tumor_vaf"] == 0.3
    # v3 has no binder and nothing under 5000 nM; it is still listed (nothing dropped).
    assert v3["num_binder_peptides"] == 0 and v3["num_included_peptides"] == 0
    assert pd.isna(v3["tumor_vaf"])
    assert set(table["evaluation"]) == {"Pending"}
    assert table["tier"].isna().all()


def test_inclusion_threshold_and_tier_copied():
    table = aggregate_table(_candidates(with_tier=True), ALLELES, inclusion_nm=10000)
    v1 = table.set_index("variant_id").loc["v1"]
    assert v1["num_included_peptides"] == 3
    assert list(table["tier"]) == ["Pass", "Pass", "Poor"]


def test_cli_is_deterministic(tmp_path):
    write_tsv(_candidates(), tmp_path / "candidates.tsv")
    (tmp_path / "alleles.json").write_text(json.dumps(
        [{"input": a, "allele": a, "status": "supported"} for a in ALLELES]))
    (tmp_path / "params.json").write_text(json.dumps({"report": {"aggregate_inclusion_nm": 100}}))
    args = argparse.Namespace(candidates=str(tmp_path / "candidates.tsv"),
                              alleles_json=str(tmp_path / "alleles.json"),
                              params=str(tmp_path / "params.json"), out=str(tmp_path / "a.tsv"))
    assert aggregate.run(args) == 0
    first = (tmp_path / "a.tsv").read_bytes()
    table = read_tsv(tmp_path / "a.tsv")
    # 100 nM inclusion: only KLVVVGAVG (40 nM) of v2 counts.
    assert list(table["num_included_peptides"]) == [1, 0, 0]
    assert aggregate.run(args) == 0
    assert (tmp_path / "a.tsv").read_bytes() == first


def test_pass_tier_row_is_the_best_peptide():
    frame = _candidates(with_tier=True)
    # v2's rank-1 row is a weak binder by tier; its rank-4 row is Pass, so that one is best.
    frame.loc[frame["rank"] == 1, "tier"] = "WeakBinder"
    frame.loc[frame["rank"] == 3, "tier"] = "Subclonal"
    table = aggregate_table(frame, ALLELES).set_index("variant_id")
    assert table.loc["v2", "best_peptide"] == "LVVVGAVGV"
    assert table.loc["v2", "best_rank"] == 4 and table.loc["v2", "tier"] == "Pass"
    # Sorted: Pass best rows first (v1 rank 2, v2 rank 4), then v3 (Poor).
    assert list(table.index) == ["v1", "v2", "v3"]


@pytest.mark.parametrize("with_tier", [False, True])
@pytest.mark.parametrize("alleles", [ALLELES, None])
def test_small_blocks_give_the_same_table(tmp_path, with_tier, alleles):
    frame = _candidates(with_tier)
    if with_tier:  # v2's best row is then its rank-4 Pass row, found in a later block
        frame.loc[frame["rank"] == 1, "tier"] = "WeakBinder"
    path = tmp_path / "candidates.tsv"
    write_tsv(frame, path)
    whole = aggregate_table(read_tsv(path), alleles)
    for chunk_rows in (1, 2, 3, 100):
        table = aggregate.aggregate_file(path, alleles, chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(table, whole)
    assert list(whole["variant_id"]) == (["v1", "v2", "v3"] if with_tier else ["v2", "v1", "v3"])
    if alleles is None:  # first appearance in rank order (Pass rows first with tiers)
        first = "HLA-B*07:02" if with_tier else "HLA-A*02:01"
        assert whole.loc[0, "binders_per_allele"].startswith(first)
    # The CLI writes the same bytes whatever the block size.
    (tmp_path / "alleles.json").write_text(json.dumps(
        [{"input": a, "allele": a, "status": "supported"} for a in ALLELES]))
    written = []
    for chunk_rows in (3, 1000):
        args = argparse.Namespace(candidates=str(path), alleles_json=str(tmp_path / "alleles.json"),
                                  params=None, out=str(tmp_path / f"a{chunk_rows}.tsv"))
        assert aggregate.run(args, chunk_rows=chunk_rows) == 0
        written.append((tmp_path / f"a{chunk_rows}.tsv").read_bytes())
    assert written[0] == written[1]


def test_missing_column_names_the_file(tmp_path):
    path = tmp_path / "candidates.tsv"
    write_tsv(_candidates().drop(columns="binder"), path)
    with pytest.raises(InputFileError, match="missing column.*binder"):
        aggregate.aggregate_file(path)
