"""``neorank aggregate``: one row per variant with its best peptide (pVACseq-style).

Modeled on pVACseq's ``*.all_epitopes.aggregated.tsv`` (its columns in
brackets): ``variant_id`` [ID], ``gene_name`` [Gene], ``protein_change``
[AA Change], ``binders_per_allele`` [one column per HLA allele: binder rows per
allele, here ``allele:count`` joined by ``;`` in typing order],
``num_binder_transcripts`` [Num Passing Transcripts], ``best_peptide`` [Best
Peptide], ``best_transcript`` [Best Transcript], ``best_allele`` [Allele],
``mutation_positions`` [Pos], ``num_included_peptides`` [Num Included Peptides:
distinct peptides with a mutant IC50 below ``report.aggregate_inclusion_nm``
for some allele, pVACseq's ``--aggregate-inclusion-binding-threshold`` 5000
nM], ``num_binder_peptides`` [Num Passing Peptides], IC50 and percentile of the
mutant and wildtype [IC50 MT/WT, %ile MT/WT], ``tumor_vaf`` [DNA VAF],
``gene_tpm`` [RNA Expr], ``rna_vaf`` [RNA VAF], ``rna_depth`` [RNA Depth],
``self_match`` [Ref Match], ``tier`` [Tier] and ``evaluation`` [Evaluation,
``Pending`` until reviewed in candidates.xlsx].

The best peptide of a variant is its best-ranked row in candidates.tsv; when
candidates.tsv has a ``tier`` column, its best-ranked **Pass**-tier row if it
has one (as pVACseq picks the best peptide by tier first). Rows are every
variant with at least one candidate row: variants whose best row is Pass first
(with tiers), then by the rank of the best row. The evidence columns
(``tier``, clonality, expression, RNA, self match) are copied from the best row
when candidates.tsv has them and are ``NA`` otherwise.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import pandas as pd

from neorank.errors import InputFileError
from neorank.io import write_tsv

LOG = logging.getLogger(__name__)

DEFAULT_INCLUSION_NM = 5000.0

#: Columns copied from the best row when candidates.tsv has them (NA otherwise).
OPTIONAL_COLUMNS = ["tier", "clonality", "ccf", "gene_tpm", "transcript_tpm", "rna_vaf",
                    "rna_depth", "rna_alt_reads", "self_match"]

COLUMNS = [
    "variant_id", "gene_name", "effect", "protein_change", "binders_per_allele",
    "num_binder_transcripts", "best_candidate_id", "best_rank", "best_peptide",
    "best_transcript", "best_allele", "mutation_positions", "num_included_peptides",
    "num_binder_peptides", "mutant_affinity_nm", "wildtype_affinity_nm", "mutant_percentile",
    "wildtype_percentile", "agretopicity", "tumor_vaf", "tumor_depth", "normal_vaf",
    *OPTIONAL_COLUMNS, "score", "evaluation",
]


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin({"true", "1", "yes"})


def aggregate(candidates: pd.DataFrame, alleles: list[str] | None = None,
              inclusion_nm: float = DEFAULT_INCLUSION_NM) -> pd.DataFrame:
    """The aggregated table (see the module docstring).

    Parameters
    ----------
    candidates
        candidates.tsv.
    alleles
        Alleles in typing order for ``binders_per_allele`` (default: order of
        first appearance in candidates.tsv).
    inclusion_nm
        IC50 below which a peptide counts in ``num_included_peptides``.
    """
    required = ["rank", "candidate_id", "variant_id", "mutant_peptide", "allele", "binder",
                "mutant_affinity_nm"]
    missing = [c for c in required if c not in candidates.columns]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where="candidates.tsv",
                             fix="pass candidates.tsv written by `neorank rank`")
    frame = candidates.copy()
    frame["_rank"] = pd.to_numeric(frame["rank"], errors="coerce")
    keys = ["_rank", "candidate_id"]
    if "tier" in frame.columns:
        frame["_not_pass"] = frame["tier"].astype(str) != "Pass"
        keys = ["_not_pass", *keys]
    frame = frame.sort_values(keys, kind="mergesort")
    frame["_binder"] = _truthy(frame["binder"])
    frame["_ic50"] = pd.to_numeric(frame["mutant_affinity_nm"], errors="coerce")
    if alleles is None:
        alleles = list(dict.fromkeys(frame["allele"].astype(str)))
    rows: list[dict[str, Any]] = []
    for variant_id, group in frame.groupby("variant_id", sort=False):
        best = group.iloc[0]
        binders = group.loc[group["_binder"]]
        per_allele = binders.groupby("allele").size()
        transcripts: set[str] = set()
        for text in binders.get("transcript_ids", pd.Series(dtype=object)).dropna():
            transcripts.update(str(text).split(";"))
        best_transcripts = str(best.get("transcript_ids", "") or "")
        row = {
            "variant_id": variant_id,
            "gene_name": best.get("gene_name"),
            "effect": best.get("effect"),
            "protein_change": best.get("protein_change"),
            "binders_per_allele": ";".join(f"{a}:{int(per_allele.get(a, 0))}" for a in alleles),
            "num_binder_transcripts": len(transcripts),
            "best_candidate_id": best["candidate_id"],
            "best_rank": int(best["_rank"]),
            "_not_pass": bool(best.get("_not_pass", False)),
            "best_peptide": best["mutant_peptide"],
            "best_transcript": sorted(best_transcripts.split(";"))[0]
            if best_transcripts and best_transcripts != "nan" else None,
            "best_allele": best["allele"],
            "mutation_positions": best.get("mutation_positions"),
            "num_included_peptides": int(group.loc[group["_ic50"] < inclusion_nm,
                                                   "mutant_peptide"].nunique()),
            "num_binder_peptides": int(binders["mutant_peptide"].nunique()),
            "evaluation": "Pending",
        }
        for column in ("mutant_affinity_nm", "wildtype_affinity_nm", "mutant_percentile",
                       "wildtype_percentile", "agretopicity", "tumor_vaf", "tumor_depth",
                       "normal_vaf", *OPTIONAL_COLUMNS, "score"):
            row[column] = best.get(column)
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*COLUMNS, "_not_pass"])
    if len(out):
        out = out.sort_values(["_not_pass", "best_rank", "variant_id"], kind="mergesort")
    out = out.drop(columns="_not_pass")
    if len(out):
        if out["tumor_depth"].dropna().map(lambda v: float(v).is_integer()).all():
            out["tumor_depth"] = pd.to_numeric(out["tumor_depth"]).astype("Int64")
    return out.reset_index(drop=True)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank aggregate``."""
    parser = subparsers.add_parser(
        "aggregate", help="pVACseq-style aggregated TSV: one row per variant, best peptide",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--alleles-json", help="alleles.json (typing order of the alleles)")
    parser.add_argument("--params", help="params JSON (report.aggregate_inclusion_nm)")
    parser.add_argument("--out", required=True, help="aggregated.tsv")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank aggregate``; returns 0."""
    from neorank.rank import load_params, read_table
    from neorank.vaccine import expressed_alleles

    params = load_params(getattr(args, "params", None))
    inclusion = (params.get("report") or {}).get("aggregate_inclusion_nm", DEFAULT_INCLUSION_NM)
    alleles = expressed_alleles(args.alleles_json) if getattr(args, "alleles_json", None) \
        else None
    candidates = read_table(args.candidates)
    table = aggregate(candidates, alleles, float(inclusion))
    write_tsv(table, args.out)
    LOG.info("aggregate: %d variants -> %s", len(table), args.out)
    return 0
