"""The pVACseq/pVACview-compatible export of the aggregated table.

``results/<sample>/pvacseq/<sample>.MHC_I.all_epitopes.aggregated.tsv`` with
pVACseq's column names and tier vocabulary, and its ``.metrics.json``, so a
pVACview user can load a NeoRank run (column mapping: docs/tables.md). Written by
``neorank aggregate --pvacseq-out/--pvacseq-metrics-out``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from neorank.config import ranking_params
from neorank.io import json_indented
from neorank.tables import as_number

LOG = logging.getLogger("neorank.aggregate")


#: Columns of an included row kept for the pVACseq metrics.json.
INCLUDED_COLUMNS = ["variant_id", "mutant_peptide", "wildtype_peptide", "allele",
                     "mutant_affinity_nm", "mutant_percentile", "wildtype_affinity_nm",
                     "wildtype_percentile", "mutation_positions", "transcript_ids"]


#: The columns of pVACseq's MHC class I ``*.all_epitopes.aggregated.tsv``, as documented
#: (docs/pvacseq/output_files.rst, "all_epitopes.aggregated.tsv Report Columns",
#: https://pvactools.readthedocs.io/en/latest/pvacseq/output_files.html), with the
#: place of the per-allele columns: pVACseq writes one column per HLA allele of the run
#: (``HLA-`` removed, sorted) between ``Index`` and ``Gene``
#: (pvactools/lib/aggregate_all_epitopes.py, ``assemble_result_line``).
PVACSEQ_COLUMNS = ["ID", "Index", "Gene", "AA Change", "Num Passing Transcripts",
                   "Best Peptide", "Best Transcript", "TSL", "Allele", "Pos", "Prob Pos",
                   "Num Included Peptides", "Num Passing Peptides", "IC50 MT", "IC50 WT",
                   "%ile MT", "%ile WT", "RNA Expr", "RNA VAF", "Allele Expr", "RNA Depth",
                   "DNA VAF", "Tier", "Ref Match", "Evaluation"]


#: pVACseq's tiers, in the order its aggregate report sorts them.
PVACSEQ_TIER_ORDER = ("Pass", "Relaxed", "LowExpr", "Anchor", "Subclonal", "Poor", "NoExpr")


#: NeoRank tier -> pVACseq tier (:func:`pvacseq_tier` turns an unexpressed best
#: peptide into ``NoExpr``). pVACseq has no tier for a weak binder, a self-similar
#: peptide or an unconfirmed splice product: like its rows failing the binding
#: criterion or several criteria they are ``Poor``; any other NeoRank tier is ``Poor``.
PVACSEQ_TIER_OF = {"Pass": "Pass", "Anchor": "Anchor", "Subclonal": "Subclonal",
                   "LowExpression": "LowExpr", "WeakBinder": "Poor", "SelfSimilar": "Poor",
                   "SpliceUnconfirmed": "Poor", "Poor": "Poor"}


#: pVACseq's ``--aggregate-inclusion-count-limit`` default: peptides per variant in the
#: metrics.json.
PVACSEQ_INCLUSION_COUNT_LIMIT = 15


#: The prediction algorithm named in the metrics.json (NeoRank predicts with MHCflurry).
PVACSEQ_ALGORITHM = "MHCflurry"


def pvacseq_tier(tier: Any, gene_tpm: Any = None, rna_vaf: Any = None) -> str | None:
    """pVACseq's tier for a NeoRank tier (:data:`PVACSEQ_TIER_OF`); ``NoExpr`` when the
    best peptide is not expressed (``RNA Expr`` or ``RNA VAF`` 0, as pVACseq decides)
    and its tier is not ``Pass``, ``Anchor`` or ``Subclonal``; None without a tier."""
    if tier is None or (isinstance(tier, float) and np.isnan(tier)) or tier is pd.NA:
        return None
    mapped = PVACSEQ_TIER_OF.get(str(tier), "Poor")
    if mapped not in ("Pass", "Anchor", "Subclonal") and 0.0 in (as_number(gene_tpm),
                                                                 as_number(rna_vaf)):
        return "NoExpr"
    return mapped


def pvacseq_allele_column(allele: str) -> str:
    """pVACseq's per-allele column name: the allele without ``HLA-``."""
    return str(allele).replace("HLA-", "")


def pvacseq_table(table: pd.DataFrame, alleles: list[str]) -> pd.DataFrame:
    """The aggregated table (:func:`aggregate_file`) as pVACseq's aggregated report:
    :data:`PVACSEQ_COLUMNS` with one count column per allele (empty for 0, as pVACseq
    writes it) after ``Index``; rows in pVACseq's tier order, NeoRank's order within a
    tier. NeoRank has no TSL (``NA``) and no problematic-position check (``None``, what
    pVACseq writes when it was not asked for one)."""
    allele_columns = {a: pvacseq_allele_column(a) for a in sorted(alleles)}
    rows = []
    for record in table.to_dict("records"):
        counts = json.loads(record["binders_per_allele"]) if isinstance(
            record.get("binders_per_allele"), str) else {}
        gene_tpm, rna_vaf = as_number(record.get("gene_tpm")), as_number(record.get("rna_vaf"))
        change = record.get("protein_change")
        change = str(change)[2:] if isinstance(change, str) and change.startswith("p.") \
            else change
        positions = record.get("mutation_positions")
        self_match = record.get("self_match")
        row = {"ID": record["variant_id"],
               "Index": ".".join("NA" if pd.isna(v) else str(v) for v in (
                   record["variant_id"], record.get("gene_name"), record.get("best_transcript")))}
        for allele, column in allele_columns.items():
            count = int(counts.get(allele, 0) or 0)
            row[column] = count if count else ""
        row.update({
            "Gene": record.get("gene_name"),
            "AA Change": change,
            "Num Passing Transcripts": record.get("num_binder_transcripts"),
            "Best Peptide": record.get("best_peptide"),
            "Best Transcript": record.get("best_transcript"),
            "TSL": None,
            "Allele": record.get("best_allele"),
            "Pos": None if pd.isna(positions) else str(positions).replace(";", ","),
            "Prob Pos": "None",
            "Num Included Peptides": record.get("num_included_peptides"),
            "Num Passing Peptides": record.get("num_binder_peptides"),
            "IC50 MT": as_number(record.get("mutant_affinity_nm")),
            "IC50 WT": as_number(record.get("wildtype_affinity_nm")),
            "%ile MT": as_number(record.get("mutant_percentile")),
            "%ile WT": as_number(record.get("wildtype_percentile")),
            "RNA Expr": gene_tpm,
            "RNA VAF": rna_vaf,
            "Allele Expr": None if gene_tpm is None or rna_vaf is None
            else round(gene_tpm * rna_vaf, 3),
            "RNA Depth": as_number(record.get("rna_depth")),
            "DNA VAF": as_number(record.get("tumor_vaf")),
            "Tier": pvacseq_tier(record.get("tier"), gene_tpm, rna_vaf),
            "Ref Match": None if pd.isna(self_match)
            else str(self_match).strip().lower() in ("true", "1"),
            "Evaluation": "Pending",
        })
        rows.append(row)
    columns = [*PVACSEQ_COLUMNS[:2], *allele_columns.values(), *PVACSEQ_COLUMNS[2:]]
    out = pd.DataFrame(rows, columns=columns)
    for column in ("Num Passing Transcripts", "Num Included Peptides", "Num Passing Peptides",
                   "RNA Depth"):
        out[column] = pd.to_numeric(out[column], errors="coerce").round().astype("Int64")
    order = {tier: i for i, tier in enumerate(PVACSEQ_TIER_ORDER)}
    rank = out["Tier"].map(lambda t: order.get(t, len(order)))
    return out.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def pvacseq_text(frame: pd.DataFrame) -> str:
    """The TSV text pVACseq writes (``NA`` for missing values, floats with 3 decimals)."""
    return frame.to_csv(sep="\t", na_rep="NA", index=False, float_format="%.3f",
                        lineterminator="\n")


def _json_value(value: Any) -> Any:
    """A JSON value: numpy scalars as Python numbers, missing as ``"NA"`` (pVACseq's)."""
    if value is None or value is pd.NA:
        return "NA"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return "NA" if np.isnan(value) else float(value)
    return str(value)


def _clonal_vaf(table: pd.DataFrame) -> float:
    """pVACseq's estimate of the clonal VAF without a purity: the largest DNA VAF below
    0.6 (at most 0.5); 0.6 when there is none."""
    vafs = pd.to_numeric(table.get("tumor_vaf", pd.Series(dtype=float)), errors="coerce")
    below = vafs[vafs < 0.6]
    return 0.6 if below.empty else min(float(below.max()), 0.5)


def pvacseq_metrics(table: pd.DataFrame, included: pd.DataFrame, best: pd.DataFrame,
                    alleles: list[str], params: dict[str, Any], inclusion_nm: float,
                    count_limit: int = PVACSEQ_INCLUSION_COUNT_LIMIT, *,
                    entries: bool = True) -> dict[str, Any]:
    """pVACseq's ``*.all_epitopes.aggregated.metrics.json`` for the aggregated table.

    First the run's settings, under pVACseq's keys and in its order (pVACview reads
    them by position): NeoRank's binding thresholds and inclusion threshold; pVACseq's
    defaults for what NeoRank does not use (RNA cutoffs, transcript support level,
    anchors; ``tumor_purity`` null and ``vaf_clonal`` estimated from the VAFs as
    pVACseq does). Then one entry per variant (key: its ``ID``, in table order): its
    included peptides (``included``: rows with IC50 below ``inclusion_nm``, at most
    ``count_limit`` peptides, plus the best peptide) grouped into transcript sets
    (transcripts giving the same peptides), each peptide with its mutant and wildtype
    IC50 and percentile per allele (``"X"`` for an allele without a prediction), and
    the best peptide's DNA VAF, RNA VAF and expression. Missing values are ``"NA"``.
    """
    binding = ranking_params(params)["binding"]
    hla_types = sorted(str(a) for a in alleles)
    vaf_clonal = _clonal_vaf(table)
    metrics: dict[str, Any] = {
        "tumor_purity": None,
        "vaf_clonal": round(vaf_clonal, 3),
        "vaf_subclonal": round(vaf_clonal / 2, 3),
        "binding_threshold": binding["max_affinity_nm"],
        "aggregate_inclusion_binding_threshold": inclusion_nm,
        "aggregate_inclusion_count_limit": count_limit,
        "trna_vaf": 0.25,
        "trna_cov": 10,
        "allele_expr_threshold": 2.5,
        "transcript_prioritization_strategy": ["canonical", "mane_select", "tsl"],
        "maximum_transcript_support_level": 1,
        "percentile_threshold": binding["max_percentile"],
        "percentile_threshold_strategy": "exploratory",
        "use_allele_specific_binding_thresholds": False,
        "mt_top_score_metric": "Median",
        "wt_top_score_metric": "Median",
        "top_score_metric2": "ic50",
        "allele_specific_binding_thresholds": {},
        "allele_specific_anchors": False,
        "alleles": hla_types,
        "anchor_contribution_threshold": 0.8,
    }
    if entries:  # (pvacseq_metrics_chunks writes them one at a time)
        metrics["epitope_lengths"] = _epitope_lengths(table, included, best)
        metrics.update(_variant_entries(table, included, best, hla_types))
    return metrics


def _epitope_lengths(table: pd.DataFrame, included: pd.DataFrame,
                     best: pd.DataFrame) -> list[int]:
    """Lengths of every peptide the variant entries hold (:func:`_variant_rows`: the
    variants' included peptides and their best peptides)."""
    variants = set(table["variant_id"])
    peptides = [frame.loc[frame["variant_id"].isin(variants), "mutant_peptide"]
                for frame in (included, best) if len(frame)]
    return sorted({len(str(p)) for part in peptides for p in part})


#: Variants whose included rows are turned into Python values at a time.
VARIANT_BATCH = 2000


def _variant_rows(table: pd.DataFrame, included: pd.DataFrame, best: pd.DataFrame):
    """Per aggregated variant (table order): its summary row and the candidate rows its
    entry is made of (included peptides, plus the best peptide as pVACseq adds it)."""
    best_rows = {r["variant_id"]: r for r in best.to_dict("records")}
    # Each variant's row positions (in row order); the rows become Python values
    # :data:`VARIANT_BATCH` variants at a time (all of them at once held GBs at
    # 100,000 variants).
    columns = [str(c) for c in included.columns]
    codes, uniques = pd.factorize(included["variant_id"])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    group = {vid: k for k, vid in enumerate(uniques.tolist())}
    summaries = table.to_dict("records")
    for start in range(0, len(summaries), VARIANT_BATCH):
        batch = summaries[start:start + VARIANT_BATCH]
        spans = [(bounds[k], bounds[k + 1]) if (k := group.get(s["variant_id"])) is not None
                 else (0, 0) for s in batch]
        rows_of_batch = included.iloc[np.concatenate([order[a:b] for a, b in spans])]
        values = [rows_of_batch[c].tolist() for c in included.columns]
        offset = 0
        for summary, (a, b) in zip(batch, spans, strict=True):
            vid = summary["variant_id"]
            top = best_rows.get(vid, {})
            rows = [dict(zip(columns, (column[i] for column in values), strict=True))
                    for i in range(offset, offset + b - a)]
            offset += b - a
            if summary["best_peptide"] not in {r["mutant_peptide"] for r in rows} and top:
                rows.append({c: top.get(c) for c in INCLUDED_COLUMNS})  # as pVACseq adds it
            yield (summary, top), rows


def _variant_entries(table: pd.DataFrame, included: pd.DataFrame, best: pd.DataFrame,
                     hla_types: list[str]):
    """``(ID, entry)`` of each variant, one at a time (:func:`_variant_metrics`)."""
    for (summary, top), rows in _variant_rows(table, included, best):
        yield str(summary["variant_id"]), _variant_metrics(summary, top, rows, hla_types)


def pvacseq_metrics_chunks(table: pd.DataFrame, included: pd.DataFrame, best: pd.DataFrame,
                           alleles: list[str], params: dict[str, Any], inclusion_nm: float,
                           count_limit: int = PVACSEQ_INCLUSION_COUNT_LIMIT):
    """The text of :func:`pvacseq_metrics` as ``json.dumps(..., indent=2)`` prints it
    (plus a final newline), in pieces of one variant each: the file is written without
    holding the whole document (hundreds of MB at 10,000 variants) in memory."""
    head = pvacseq_metrics(table, included.iloc[:0], best.iloc[:0], alleles, params,
                           inclusion_nm, count_limit, entries=False)
    head["epitope_lengths"] = _epitope_lengths(table, included, best)
    first = True

    def member(key: str, value: Any) -> str:
        return f"{'{' if first else ','}\n  {json.dumps(key)}: {json_indented(value, 1)}"

    for key, value in head.items():
        yield member(key, value)
        first = False
    for key, value in _variant_entries(table, included, best, sorted(str(a) for a in alleles)):
        yield member(key, value)
        first = False
    yield "{}\n" if first else "\n}\n"


def _json_number(value: Any) -> Any:
    """``_json_value(as_number(value))`` in one step: a cell as a JSON number, ``"NA"`` when
    missing or not numeric (millions of calls at 100,000 variants)."""
    if type(value) is float:
        return "NA" if value != value else value
    number = as_number(value)
    return "NA" if number is None else number


#: The candidate columns of an entry's per-allele values, by pVACseq's names, in the
#: entry's order.
_CALL_COLUMNS = {"ic50s_MT": "mutant_affinity_nm", "percentiles_MT": "mutant_percentile",
                 "ic50s_WT": "wildtype_affinity_nm", "percentiles_WT": "wildtype_percentile"}


def _variant_metrics(summary: dict[str, Any], top: dict[str, Any],
                     rows: list[dict[str, Any]], hla_types: list[str]) -> dict[str, Any]:
    """One variant's entry of :func:`pvacseq_metrics`."""
    by_peptide: dict[str, dict[str, dict[str, Any]]] = {}
    transcripts_of: dict[str, list[str]] = {}
    for row in rows:
        peptide = str(row["mutant_peptide"])
        by_peptide.setdefault(peptide, {}).setdefault(str(row["allele"]), row)
        ids = row.get("transcript_ids")
        for transcript in ("NA" if pd.isna(ids) else str(ids)).split(";"):
            if peptide not in transcripts_of.setdefault(transcript, []):
                transcripts_of[transcript].append(peptide)

    def best_ic50(peptide: str) -> float:
        values = [as_number(r.get("mutant_affinity_nm")) for r in by_peptide[peptide].values()]
        return min((v for v in values if v is not None), default=float("inf"))

    # Transcript sets: transcripts giving the same peptides (transcripts in id order).
    sets: dict[tuple[str, ...], list[str]] = {}
    for transcript in sorted(transcripts_of):
        sets.setdefault(tuple(sorted(transcripts_of[transcript])), []).append(transcript)
    good_binders: dict[str, Any] = {}
    for number, (peptide_set, transcripts) in enumerate(sets.items(), start=1):
        peptides = {}
        for peptide in sorted(peptide_set, key=lambda p: (best_ic50(p), p)):
            per_allele = by_peptide[peptide]
            first = next(iter(per_allele.values()))
            # Each allele's four values as JSON, converted once; the calls below repeat
            # them (the same lists and dicts may appear twice in the document).
            values = {key: {a: _json_number(r.get(column)) for a, r in per_allele.items()}
                      for key, column in _CALL_COLUMNS.items()}
            entry: dict[str, Any] = {key: [of.get(a, "X") for a in hla_types]
                                     for key, of in values.items()}
            calls = {key: {a: [v] for a, v in of.items()} for key, of in values.items()}
            positions = first.get("mutation_positions")
            wildtype = first.get("wildtype_peptide")
            entry.update({
                "hla_types": hla_types,
                "mutation_position": "NA" if pd.isna(positions)
                else str(positions).replace(";", ","),
                "problematic_positions": "None",
                "anchor_fails": "None",
                "individual_ic50_calls": {
                    "algorithms": [PVACSEQ_ALGORITHM],
                    "MT": calls["ic50s_MT"], "WT": calls["ic50s_WT"]},
                "individual_ic50_percentile_calls": {
                    "algorithms": [PVACSEQ_ALGORITHM],
                    "MT": calls["percentiles_MT"], "WT": calls["percentiles_WT"]},
                "individual_el_calls": {"algorithms": [], "MT": {a: [] for a in per_allele},
                                        "WT": {a: [] for a in per_allele}},
                "individual_el_percentile_calls": {
                    "algorithms": [], "MT": {a: [] for a in per_allele},
                    "WT": {a: [] for a in per_allele}},
                "individual_percentile_calls": {
                    "algorithms": [PVACSEQ_ALGORITHM],
                    "MT": calls["percentiles_MT"], "WT": calls["percentiles_WT"]},
                "wt_peptide": _json_value(None if pd.isna(wildtype) else wildtype),
            })
            peptides[peptide] = entry
        good_binders[f"Transcript Set {number}"] = {
            "peptides": peptides,
            "transcripts": transcripts,
            "transcript_expr": ["NA"] * len(transcripts),
            "tsl": ["NA"] * len(transcripts),
            "biotype": ["NA"] * len(transcripts),
            "transcript_length": ["NA"] * len(transcripts),
            "transcript_count": len(transcripts),
            "peptide_count": len(peptides),
            "total_expr": 0,
        }
    wildtype = top.get("wildtype_peptide")
    return {
        "good_binders": good_binders,
        "sets": list(good_binders),
        "transcript_counts": [v["transcript_count"] for v in good_binders.values()],
        "peptide_counts": [v["peptide_count"] for v in good_binders.values()],
        "set_expr": [v["total_expr"] for v in good_binders.values()],
        "DNA VAF": _json_value(as_number(summary.get("tumor_vaf"))),
        "RNA VAF": _json_value(as_number(summary.get("rna_vaf"))),
        "gene_expr": _json_value(as_number(summary.get("gene_tpm"))),
        "best_peptide_mt": _json_value(summary.get("best_peptide")),
        "best_peptide_wt": _json_value(None if wildtype is None or pd.isna(wildtype)
                                       else wildtype),
        "best_hla_allele": _json_value(summary.get("best_allele")),
    }

