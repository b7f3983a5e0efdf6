"""Unit tests for ``neorank aggregate`` (one row per variant, pVACseq-style)."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from neorank import aggregate, pvacseq
from neorank.config import DEFAULT_INCLUSION_NM
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, read_tsv, write_tsv

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
    # Binder rows per allele in typing order (a JSON object): v2 has A*02:01 x2, B*07:02 x1.
    assert v2["binders_per_allele"] == '{"HLA-A*02:01": 2, "HLA-B*07:02": 1, "HLA-C*07:01": 0}'
    assert list(json.loads(v2["binders_per_allele"])) == ALLELES
    assert v2["num_binder_peptides"] == 2 and v2["num_included_peptides"] == 2
    assert v2["num_binder_transcripts"] == 3  # ENST2, ENST3, ENST9
    # v1: SIINFEKL binds; SIINFEKLL (2500 nM) is included but not a binder; 7000 nM is not.
    assert v1["num_binder_peptides"] == 1 and v1["num_included_peptides"] == 2
    assert json.loads(v1["binders_per_allele"]) == {"HLA-A*02:01": 0, "HLA-B*07:02": 1,
                                                    "HLA-C*07:01": 0}
    # Agretopicity is named for its direction: mutant IC50 / wildtype IC50.
    assert "agretopicity" not in table.columns
    assert (table["agretopicity_mt_over_wt"] == 0.1).all()
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


def test_vaccine_note_joins_every_variant(tmp_path):
    write_tsv(_candidates(), tmp_path / "candidates.tsv")
    table = read_tsv(tmp_path / "candidates.tsv")
    binders = sorted(set(table.loc[table["binder"].astype(str) == "True", "variant_id"]))
    write_tsv(pd.DataFrame({"variant_id": binders,
                            "vaccine_note": [f"note {v}" for v in binders]}),
              tmp_path / "long.tsv")
    args = argparse.Namespace(candidates=str(tmp_path / "candidates.tsv"), alleles_json=None,
                              params=None, out=str(tmp_path / "a.tsv"),
                              long_peptides=str(tmp_path / "long.tsv"))
    assert aggregate.run(args) == 0
    out = read_tsv(tmp_path / "a.tsv").set_index("variant_id")["vaccine_note"]
    assert len(out) == table["variant_id"].nunique()
    for variant, note in out.items():
        assert note == (f"note {variant}" if variant in binders
                        else "not a binder variant: no long peptide")


def test_variants_add_the_full_alleles_of_short_ids(tmp_path):
    from neorank.vcf import make_variant_id

    deletion = ("chr2", 189010889, "C" + "GTA" * 245 + "GG", "C")
    ids = {"v1": make_variant_id("chr1", 5, "A", "T"), "v2": make_variant_id(*deletion)}
    frame = _candidates()
    frame["variant_id"] = frame["variant_id"].map(lambda v: ids.get(v, v))
    write_tsv(frame, tmp_path / "candidates.tsv")
    write_tsv(pd.DataFrame({"variant_id": [ids["v1"], ids["v2"]], "chrom": ["chr1", "chr2"],
                            "pos": [5, 189010889], "ref": ["A", deletion[2]],
                            "alt": ["T", "C"], "status": ["somatic", "somatic"]}),
              tmp_path / "variants.tsv")
    args = argparse.Namespace(candidates=str(tmp_path / "candidates.tsv"), alleles_json=None,
                              params=None, out=str(tmp_path / "a.tsv"),
                              variants=str(tmp_path / "variants.tsv"))
    assert aggregate.run(args) == 0
    out = read_tsv(tmp_path / "a.tsv")
    assert list(out.columns[-4:]) == ["chrom", "pos", "ref", "alt"]
    row = out.set_index("variant_id").loc["chr2:189010889:del737"]
    assert (row["chrom"], int(row["pos"]), row["ref"], row["alt"]) == deletion
    # v3 is not in variants.tsv: its alleles are NA, the row is kept.
    assert out.set_index("variant_id").loc["v3", ["chrom", "ref", "alt"]].isna().all()
    # A variants.tsv without the allele columns is refused, naming the file.
    write_tsv(pd.DataFrame({"variant_id": ["v1"]}), tmp_path / "variants.tsv")
    with pytest.raises(InputFileError, match="missing column.*ref"):
        aggregate.run(args)


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
        assert next(iter(json.loads(whole.loc[0, "binders_per_allele"]))) == first
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


# --------------------------------------------------------------------------- pVACseq export

# pVACseq's documented header of <sample>.all_epitopes.aggregated.tsv (MHC class I):
# "all_epitopes.aggregated.tsv Report Columns" in
# https://pvactools.readthedocs.io/en/latest/pvacseq/output_files.html
# (source: griffithlab/pVACtools docs/pvacseq/output_files.rst). The "HLA Alleles
# (multiple)" entry is one column per allele of the run, named without "HLA-", between
# Index and Gene (pvactools/lib/aggregate_all_epitopes.py, assemble_result_line).
PVACSEQ_DOCUMENTED_HEADER = [
    "ID", "Index", "Gene", "AA Change", "Num Passing Transcripts", "Best Peptide",
    "Best Transcript", "TSL", "Allele", "Pos", "Prob Pos", "Num Included Peptides",
    "Num Passing Peptides", "IC50 MT", "IC50 WT", "%ile MT", "%ile WT", "RNA Expr", "RNA VAF",
    "Allele Expr", "RNA Depth", "DNA VAF", "Tier", "Ref Match", "Evaluation"]
PVACSEQ_TIERS = {"Pass", "Anchor", "Subclonal", "LowExpr", "NoExpr", "Poor"}
# pVACseq's metrics.json: run settings first (pVACview reads them by position), then
# one entry per variant ID (pvactools/lib/aggregate_all_epitopes.py: execute, get_metrics,
# get_included_df_metrics).
PVACSEQ_SETTINGS = [
    "tumor_purity", "vaf_clonal", "vaf_subclonal", "binding_threshold",
    "aggregate_inclusion_binding_threshold", "aggregate_inclusion_count_limit", "trna_vaf",
    "trna_cov", "allele_expr_threshold", "transcript_prioritization_strategy",
    "maximum_transcript_support_level", "percentile_threshold",
    "percentile_threshold_strategy", "use_allele_specific_binding_thresholds",
    "mt_top_score_metric", "wt_top_score_metric", "top_score_metric2",
    "allele_specific_binding_thresholds", "allele_specific_anchors", "alleles",
    "anchor_contribution_threshold", "epitope_lengths"]
PVACSEQ_VARIANT_KEYS = ["good_binders", "sets", "transcript_counts", "peptide_counts",
                        "set_expr", "DNA VAF", "RNA VAF", "gene_expr", "best_peptide_mt",
                        "best_peptide_wt", "best_hla_allele"]
PVACSEQ_PEPTIDE_KEYS = ["ic50s_MT", "percentiles_MT", "ic50s_WT", "percentiles_WT", "hla_types",
                        "mutation_position", "problematic_positions", "anchor_fails",
                        "individual_ic50_calls", "individual_ic50_percentile_calls",
                        "individual_el_calls", "individual_el_percentile_calls",
                        "individual_percentile_calls", "wt_peptide"]


def _pvacseq_run(tmp_path, frame, chunk_rows=CHUNK_ROWS, name="run"):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    write_tsv(frame, out / "candidates.tsv")
    (out / "alleles.json").write_text(json.dumps(
        [{"input": a, "allele": a, "status": "supported"} for a in ALLELES]))
    args = argparse.Namespace(
        candidates=str(out / "candidates.tsv"), alleles_json=str(out / "alleles.json"),
        params=None, out=str(out / "aggregated.tsv"),
        pvacseq_out=str(out / "pvacseq" / "PT.MHC_I.all_epitopes.aggregated.tsv"),
        pvacseq_metrics_out=str(out / "pvacseq" / "PT.MHC_I.all_epitopes.aggregated.metrics.json"))
    assert aggregate.run(args, chunk_rows=chunk_rows) == 0
    table = pd.read_csv(args.pvacseq_out, sep="\t", keep_default_na=False, dtype=str)
    metrics = json.loads(open(args.pvacseq_metrics_out).read())
    return args, table, metrics


def test_pvacseq_header_is_the_documented_one(tmp_path):
    _, table, _ = _pvacseq_run(tmp_path, _candidates(with_tier=True))
    alleles = ["A*02:01", "B*07:02", "C*07:01"]  # sorted, without "HLA-"
    assert list(table.columns) == [*PVACSEQ_DOCUMENTED_HEADER[:2], *alleles,
                                   *PVACSEQ_DOCUMENTED_HEADER[2:]]
    fixed = [c for c in table.columns if c not in alleles]
    assert fixed == PVACSEQ_DOCUMENTED_HEADER == pvacseq.PVACSEQ_COLUMNS


def test_pvacseq_values_and_na_where_neorank_has_no_evidence(tmp_path):
    frame = _candidates(with_tier=True)
    frame["gene_tpm"], frame["rna_vaf"], frame["rna_depth"] = 12.0, 0.25, 40
    frame["self_match"] = False
    frame["mutation_positions"] = "3;4"
    _, table, _ = _pvacseq_run(tmp_path, frame)
    v2 = table.set_index("ID").loc["v2"]
    assert v2["Index"] == "v2.KRAS.ENST2"
    assert (v2["A*02:01"], v2["B*07:02"], v2["C*07:01"]) == ("2", "1", "")  # 0: empty
    assert v2["AA Change"] == "v2"  # "p." removed (pVACseq writes G12D)
    assert (v2["Best Peptide"], v2["Allele"], v2["Best Transcript"]) == (
        "KLVVVGAVG", "HLA-A*02:01", "ENST2")
    assert v2["Pos"] == "3,4"  # pVACseq separates positions with commas
    assert (v2["IC50 MT"], v2["IC50 WT"], v2["%ile MT"]) == ("40.000", "400.000", "0.040")
    assert (v2["Num Passing Transcripts"], v2["Num Included Peptides"],
            v2["Num Passing Peptides"]) == ("3", "2", "2")
    assert (v2["RNA Expr"], v2["RNA VAF"], v2["Allele Expr"], v2["RNA Depth"],
            v2["DNA VAF"]) == ("12.000", "0.250", "3.000", "40", "0.450")
    assert (v2["TSL"], v2["%ile WT"]) == ("NA", "NA")  # no evidence in NeoRank
    assert (v2["Prob Pos"], v2["Ref Match"], v2["Evaluation"]) == ("None", "False", "Pending")
    assert set(table["Tier"]) <= PVACSEQ_TIERS


@pytest.mark.parametrize(("tier", "gene_tpm", "rna_vaf", "expected"), [
    ("Pass", 10.0, 0.3, "Pass"), ("Anchor", None, None, "Anchor"),
    ("Subclonal", None, None, "Subclonal"), ("LowExpression", 0.4, 0.3, "LowExpr"),
    ("LowExpression", 0.0, 0.3, "NoExpr"), ("LowExpression", 5.0, 0.0, "NoExpr"),
    ("Poor", 0.0, None, "NoExpr"), ("WeakBinder", 10.0, 0.3, "Poor"),
    ("SelfSimilar", None, None, "Poor"), ("SpliceUnconfirmed", None, None, "Poor"),
    ("Poor", None, None, "Poor"), ("SomeNewTier", None, None, "Poor"), (None, 1.0, 1.0, None),
])
def test_pvacseq_tier_mapping(tier, gene_tpm, rna_vaf, expected):
    assert pvacseq.pvacseq_tier(tier, gene_tpm, rna_vaf) == expected
    if expected is not None:
        assert expected in PVACSEQ_TIERS


def test_pvacseq_rows_in_its_tier_order(tmp_path):
    frame = _candidates(with_tier=True)
    tiers = {"v1": "Poor", "v2": "Subclonal", "v3": "Pass"}
    frame["tier"] = frame["variant_id"].map(tiers)
    args, table, _ = _pvacseq_run(tmp_path, frame)
    assert list(zip(table["ID"], table["Tier"], strict=True)) == [
        ("v3", "Pass"), ("v2", "Subclonal"), ("v1", "Poor")]
    # NeoRank's own table keeps its names and order.
    own = read_tsv(args.out)
    assert "binders_per_allele" in own.columns and "ID" not in own.columns


def test_pvacseq_metrics_json(tmp_path):
    frame = _candidates(with_tier=True)
    frame["wildtype_peptide"] = frame["mutant_peptide"].str.lower()
    _, table, metrics = _pvacseq_run(tmp_path, frame)
    keys = list(metrics)
    assert keys[:len(PVACSEQ_SETTINGS)] == PVACSEQ_SETTINGS
    assert keys[len(PVACSEQ_SETTINGS):] == list(table["ID"])  # one entry per row, same order
    assert metrics["binding_threshold"] == 500 and metrics["percentile_threshold"] == 2.0
    assert metrics["aggregate_inclusion_binding_threshold"] == DEFAULT_INCLUSION_NM
    assert metrics["alleles"] == sorted(ALLELES) and metrics["epitope_lengths"] == [8, 9]
    assert metrics["vaf_clonal"] == 0.45  # largest VAF below 0.6, as pVACseq estimates
    v1 = metrics["v1"]
    assert list(v1) == PVACSEQ_VARIANT_KEYS
    assert v1["best_peptide_mt"] == "SIINFEKL" and v1["best_peptide_wt"] == "siinfekl"
    assert (v1["DNA VAF"], v1["RNA VAF"], v1["gene_expr"]) == (0.3, "NA", "NA")
    peptides = v1["good_binders"]["Transcript Set 1"]["peptides"]
    # Included: IC50 below 5000 nM (IINFEKLLM at 7000 nM is not), best first.
    assert list(peptides) == ["SIINFEKL", "SIINFEKLL"]
    entry = peptides["SIINFEKL"]
    assert list(entry) == PVACSEQ_PEPTIDE_KEYS
    # Per allele in sorted order, "X" where the peptide has no prediction for the allele.
    assert entry["ic50s_MT"] == ["X", 120.0, "X"] and entry["ic50s_WT"] == ["X", 1200.0, "X"]
    assert entry["individual_ic50_calls"] == {"algorithms": ["MHCflurry"],
                                             "MT": {"HLA-B*07:02": [120.0]},
                                             "WT": {"HLA-B*07:02": [1200.0]}}
    assert v1["good_binders"]["Transcript Set 1"]["transcripts"] == ["ENST1"]
    # v2: transcripts giving different peptides are different sets.
    sets = metrics["v2"]["good_binders"]
    assert [s["transcripts"] for s in sets.values()] == [["ENST2", "ENST9"], ["ENST3"]]
    # v3's best peptide is above the inclusion threshold: listed anyway, as pVACseq does.
    assert list(metrics["v3"]["good_binders"]["Transcript Set 1"]["peptides"]) == ["AAAAAAAAA"]


def test_pvacseq_metrics_file_is_written_piece_by_piece_with_json_dumps_bytes(tmp_path):
    """metrics.json is streamed one variant at a time (bounded memory: the document is
    hundreds of MB at 10,000 variants); its bytes are json.dumps(indent=2) of the whole
    document, for a table with variants and for an empty one."""
    frame = _candidates(with_tier=True)
    frame["wildtype_peptide"] = frame["mutant_peptide"].str.lower()
    args, _, metrics = _pvacseq_run(tmp_path, frame)
    expected = json.dumps(metrics, indent=2, separators=(",", ": "), allow_nan=False) + "\n"
    assert open(args.pvacseq_metrics_out).read() == expected
    assert len(metrics) > len(PVACSEQ_SETTINGS) + 2  # variant entries, not only settings
    table, state, best = aggregate._aggregate(args.candidates, ALLELES, DEFAULT_INCLUSION_NM,
                                              CHUNK_ROWS, pvacseq.PVACSEQ_INCLUSION_COUNT_LIMIT)
    whole = pvacseq.pvacseq_metrics(table, state.included.frame(), best, ALLELES, {},
                                    DEFAULT_INCLUSION_NM)
    pieces = list(pvacseq.pvacseq_metrics_chunks(table, state.included.frame(), best, ALLELES,
                                                 {}, DEFAULT_INCLUSION_NM))
    assert len(pieces) == len(whole) + 1
    assert "".join(pieces) == json.dumps(whole, indent=2, separators=(",", ": ")) + "\n"
    # The included rows become Python values a few variants at a time: same text.
    for batch in (1, 2):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pvacseq, "VARIANT_BATCH", batch)
            assert "".join(pvacseq.pvacseq_metrics_chunks(
                table, state.included.frame(), best, ALLELES, {}, DEFAULT_INCLUSION_NM)
            ) == "".join(pieces)
    empty = pvacseq.pvacseq_metrics_chunks(table.iloc[:0], state.included.frame().iloc[:0],
                                           best.iloc[:0], ALLELES, {}, DEFAULT_INCLUSION_NM)
    assert "".join(empty) == json.dumps(
        pvacseq.pvacseq_metrics(table.iloc[:0], state.included.frame().iloc[:0], best.iloc[:0],
                                ALLELES, {}, DEFAULT_INCLUSION_NM),
        indent=2, separators=(",", ": ")) + "\n"


def test_pvacseq_metrics_keep_the_best_15_peptides_whatever_the_block_size(tmp_path):
    records = []
    for index in range(20):  # 20 included peptides of one variant, IC50 100..2000 nM
        records.append({"rank": index + 1, "candidate_id": f"c{index}", "variant_id": "v1",
                        "gene_name": "G", "protein_change": "p.A1B", "transcript_ids": "T1",
                        "mutant_peptide": f"PEPTIDE{index:02d}"[:9], "allele": "HLA-A*02:01",
                        "mutation_positions": "2", "binder": index < 5,
                        "mutant_affinity_nm": 2000.0 - 100 * index, "tier": "Pass"})
    frame = pd.DataFrame(records)
    runs = [_pvacseq_run(tmp_path, frame, chunk_rows=size, name=f"c{size}")
            for size in (3, 1000)]
    texts = [(open(a.pvacseq_out).read(), open(a.pvacseq_metrics_out).read()) for a, _, _ in runs]
    assert texts[0] == texts[1]
    peptides = runs[1][2]["v1"]["good_binders"]["Transcript Set 1"]["peptides"]
    # The 15 lowest IC50s (PEPTIDE05-19), lowest first, plus the best-ranked peptide
    # (rank 1, 2000 nM), which pVACseq lists even when the count limit leaves it out.
    assert pvacseq.PVACSEQ_INCLUSION_COUNT_LIMIT == 15
    assert list(peptides) == [f"PEPTIDE{i:02d}" for i in range(19, 4, -1)] + ["PEPTIDE00"]
    assert runs[1][2]["v1"]["best_peptide_mt"] == "PEPTIDE00"


def test_pvacseq_options_leave_aggregated_tsv_unchanged(tmp_path):
    frame = _candidates(with_tier=True)
    args, _, _ = _pvacseq_run(tmp_path, frame)
    plain = argparse.Namespace(**{**vars(args), "out": str(tmp_path / "plain.tsv"),
                                  "pvacseq_out": None, "pvacseq_metrics_out": None})
    assert aggregate.run(plain) == 0
    assert (tmp_path / "plain.tsv").read_bytes() == open(args.out, "rb").read()
    parser = argparse.ArgumentParser()
    aggregate.add_subcommand(parser.add_subparsers())
    parsed = parser.parse_args(["aggregate", "--candidates", "c", "--out", "o",
                                "--pvacseq-out", "p.tsv", "--pvacseq-metrics-out", "m.json"])
    assert (parsed.pvacseq_out, parsed.pvacseq_metrics_out) == ("p.tsv", "m.json")


def test_pvacseq_metrics_on_its_own_gives_the_same_file(tmp_path, capsys):
    """`neorank pvacseq-metrics` (the workflow's own job, beside the vaccine design) writes
    the bytes `neorank aggregate --pvacseq-metrics-out` writes, with or without the vaccine
    notes and variant alleles aggregate adds to its table."""
    from neorank.cli import main

    args, _, metrics = _pvacseq_run(tmp_path, _candidates(with_tier=True))
    assert len(metrics) > 22  # 22 settings, then the variant entries
    alone = tmp_path / "alone.metrics.json"
    assert main(["pvacseq-metrics", "--candidates", args.candidates, "--alleles-json",
                 args.alleles_json, "--out", str(alone)]) == 0
    assert alone.read_bytes() == open(args.pvacseq_metrics_out, "rb").read()
    with pytest.raises(SystemExit) as stopped:
        main(["pvacseq-metrics", "--candidates", str(tmp_path / "missing.tsv"),
              "--out", str(tmp_path / "m.json")])
    assert stopped.value.code == 2
    assert "missing.tsv: file not found" in capsys.readouterr().err


def test_pvacseq_metrics_keep_a_peptide_whose_best_row_comes_late(tmp_path, monkeypatch):
    """The table is ordered by score, not IC50: a peptide can enter a variant's best 15
    only with a row far down the table, after rows of it for other alleles. Those earlier
    rows are kept too, however often the first pass condenses what it holds (here after
    every block of 3 rows) and whatever the block size."""
    records = []
    for index in range(16):  # 16 peptides on HLA-A*02:01, IC50 100..1600 nM
        records.append({"variant_id": "v1", "mutant_peptide": f"PEPTIDE{index:02d}",
                        "allele": "HLA-A*02:01", "mutant_affinity_nm": 100.0 * (index + 1)})
    # PEPTIDE99: 4000 nM on HLA-B*07:02 (17th of v1 when seen), then 40 rows of another
    # variant, then 50 nM on HLA-C*07:01 at the end.
    records.append({"variant_id": "v1", "mutant_peptide": "PEPTIDE99",
                    "allele": "HLA-B*07:02", "mutant_affinity_nm": 4000.0})
    records.extend({"variant_id": "v2", "mutant_peptide": f"FILLER{index:02d}",
                    "allele": "HLA-A*02:01", "mutant_affinity_nm": 200.0}
                   for index in range(40))
    records.append({"variant_id": "v1", "mutant_peptide": "PEPTIDE99",
                    "allele": "HLA-C*07:01", "mutant_affinity_nm": 50.0})
    frame = pd.DataFrame(records).assign(
        rank=lambda f: range(1, len(f) + 1), candidate_id=lambda f: [f"c{i}" for i in f.index],
        gene_name="G", protein_change="p.A1B", transcript_ids="T1", mutation_positions="2",
        binder=True, tier="Pass")
    original = aggregate._Included.__init__

    def condense_often(self, limit):
        original(self, limit)
        self.reduce_at = 3

    monkeypatch.setattr(aggregate._Included, "__init__", condense_often)
    write_tsv(frame, tmp_path / "candidates.tsv")
    for chunk_rows in (1, 3, 1000):
        _, state, _ = aggregate._aggregate(tmp_path / "candidates.tsv", None,
                                           DEFAULT_INCLUSION_NM, chunk_rows,
                                           pvacseq.PVACSEQ_INCLUSION_COUNT_LIMIT)
        included = state.included.frame()
        included = included.loc[included["variant_id"] == "v1"]
        peptides = set(included["mutant_peptide"])
        # The best 15 by lowest IC50: PEPTIDE99 (50 nM) and PEPTIDE00-13; 14 and 15 out.
        assert peptides == {"PEPTIDE99"} | {f"PEPTIDE{i:02d}" for i in range(14)}, chunk_rows
        rows = included.loc[included["mutant_peptide"] == "PEPTIDE99"]
        assert rows["allele"].tolist() == ["HLA-B*07:02", "HLA-C*07:01"], chunk_rows


@pytest.mark.parametrize("ranks", ["distinct", "ties", "missing"])
def test_firsts_is_the_first_row_per_variant_in_key_order(ranks):
    """The best row per variant is the first in (not Pass, rank, candidate_id, file
    position) order: with distinct ranks (ordered on the numeric keys alone), with tied
    ranks (the candidate id decides) and with missing ranks (last, then by id)."""
    import numpy as np

    rng = np.random.default_rng(4)
    n = 4000
    rank = rng.permutation(n).astype(float) + 1
    if ranks == "ties":
        rank = np.floor(rank / 7)
    elif ranks == "missing":
        rank[rng.random(n) < 0.9] = np.nan  # most rows: ties among the missing
    frame = pd.DataFrame({
        "variant_id": [f"v{i}" for i in rng.integers(0, 300, n)],
        "_not_pass": rng.random(n) < 0.7,
        "_rank": rank,
        "candidate_id": [f"s-{i:012x}" for i in rng.integers(0, 2**40, n)],
        "_pos": np.arange(n),
    })
    keys = ["_not_pass", "_rank", "candidate_id", "_pos"]
    expected = {}
    for row in sorted(frame.itertuples(index=False),
                      key=lambda r: (r._1, np.isnan(r._2), 0 if np.isnan(r._2) else r._2,
                                     r.candidate_id, r._4)):
        expected.setdefault(row.variant_id, row._4)
    got = aggregate._firsts(frame, "variant_id", keys)
    assert dict(zip(got["variant_id"], got["_pos"], strict=True)) == expected
    assert list(got["_pos"]) == sorted(expected.values(), key=list(
        frame.sort_values(keys, kind="mergesort")["_pos"]).index)
