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

``neorank aggregate`` reads candidates.tsv in blocks (:func:`aggregate_file`)
and keeps per variant only its best row and its counts, so memory follows the
number of variants and binders, not the tens of millions of candidate rows.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from neorank.config import DEFAULT_INCLUSION_NM, load_params
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, write_tsv
from neorank.tables import TableBlocks, expressed_alleles

LOG = logging.getLogger(__name__)

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


#: Columns of candidates.tsv the aggregation needs.
REQUIRED = ["rank", "candidate_id", "variant_id", "mutant_peptide", "allele", "binder",
            "mutant_affinity_nm"]
#: Columns of candidates.tsv :func:`aggregate_file` reads (the others are never used).
READ_COLUMNS = [*REQUIRED, "gene_name", "effect", "protein_change", "transcript_ids",
                "mutation_positions", "mutant_percentile", "wildtype_affinity_nm",
                "wildtype_percentile", "agretopicity", "tumor_vaf", "tumor_depth", "normal_vaf",
                *OPTIONAL_COLUMNS, "score"]


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin({"true", "1", "yes"})


def _firsts(frame: pd.DataFrame, by: str, keys: list[str]) -> pd.DataFrame:
    """The first row of each ``by`` value in ``keys`` order (ties: table order)."""
    return frame.sort_values(keys, kind="mergesort").drop_duplicates(by)


class _Distinct:
    """Distinct ``(variant_id, value)`` pairs collected block by block."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []
        self.rows = 0
        self.limit = 1_000_000

    def add(self, pairs: pd.DataFrame) -> None:
        pairs = pairs.dropna().drop_duplicates()
        self.parts.append(pairs)
        self.rows += len(pairs)
        if self.rows > self.limit:  # merge: memory follows the distinct pairs
            self.parts = [pd.concat(self.parts).drop_duplicates()]
            self.rows = len(self.parts[0])
            self.limit = max(self.limit, 2 * self.rows)

    def counts(self) -> dict[Any, int]:
        """Distinct values per variant."""
        if not self.parts:
            return {}
        pairs = pd.concat(self.parts).drop_duplicates()
        return pairs.groupby(pairs.columns[0], sort=False).size().to_dict()


class _Aggregation:
    """The aggregation (module docstring) fed candidates.tsv block by block, in file order.

    Kept per variant: its best row so far (the first in the best-row order:
    Pass tier first, then rank, candidate_id and file order, as a stable sort of
    the whole table), binder rows per allele and the distinct binder transcripts,
    binder peptides and included peptides; with default alleles, the first row
    of each allele in that order. Memory follows the variants and binders, not
    the table.
    """

    def __init__(self, columns: list[str], alleles: list[str] | None, inclusion_nm: float,
                 where: str = "candidates.tsv") -> None:
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise InputFileError(f"missing column(s) {', '.join(missing)}", where=where,
                                 fix="pass candidates.tsv written by `neorank rank`")
        self.tiered = "tier" in columns
        self.keys = ["_not_pass"] * self.tiered + ["_rank", "candidate_id", "_pos"]
        self.alleles = alleles
        self.inclusion_nm = inclusion_nm
        self.rows = 0
        self.best: pd.DataFrame | None = None  # variant_id + keys of each best row
        self.best_parts: list[pd.DataFrame] = []  # the best rows, as read
        self.best_positions: list[np.ndarray] = []  # their _pos
        self.allele_firsts: pd.DataFrame | None = None
        self.per_allele: dict[tuple[Any, Any], int] = {}
        self.transcripts = _Distinct()
        self.binder_peptides = _Distinct()
        self.included_peptides = _Distinct()

    def add(self, block: pd.DataFrame) -> None:
        """Take in the next block of candidates.tsv."""
        positions = np.arange(self.rows, self.rows + len(block))
        self.rows += len(block)
        keyed = pd.DataFrame({"variant_id": block["variant_id"].to_numpy(),
                              "_rank": pd.to_numeric(block["rank"], errors="coerce").to_numpy(),
                              "candidate_id": block["candidate_id"].to_numpy(),
                              "_pos": positions})
        if self.tiered:
            keyed.insert(1, "_not_pass", (block["tier"].astype(str) != "Pass").to_numpy())
        if self.alleles is None:
            # The default allele order: first appearance in the best-row order.
            firsts = _firsts(keyed.assign(_allele=block["allele"].astype(str).to_numpy()),
                             "_allele", self.keys)
            if self.allele_firsts is not None:
                firsts = _firsts(pd.concat([self.allele_firsts, firsts]), "_allele", self.keys)
            self.allele_firsts = firsts
        whole = block
        grouped = block["variant_id"].notna().to_numpy()  # groupby skips a missing variant_id
        block, keyed = block.loc[grouped], keyed.loc[grouped]
        firsts = _firsts(keyed, "variant_id", self.keys)
        if self.best is None:
            self.best = firsts
        else:
            self.best = _firsts(pd.concat([self.best, firsts]), "variant_id", self.keys)
        new = firsts["_pos"].to_numpy()
        new = new[np.isin(new, self.best["_pos"].to_numpy())]
        self.best_parts.append(whole.iloc[new - positions[0]])
        self.best_positions.append(new)
        if sum(len(p) for p in self.best_positions) > len(self.best):  # some were beaten
            winners = self.best["_pos"].to_numpy()
            keep = [np.isin(p, winners) for p in self.best_positions]
            self.best_parts = [part.iloc[k] for part, k in zip(self.best_parts, keep, strict=True)]
            self.best_positions = [p[k] for p, k in zip(self.best_positions, keep, strict=True)]

        binders = block.loc[_truthy(block["binder"])]
        for key, count in binders.groupby(["variant_id", "allele"]).size().items():
            self.per_allele[key] = self.per_allele.get(key, 0) + int(count)
        if "transcript_ids" in binders.columns:
            texts = binders[["variant_id", "transcript_ids"]].dropna()
            self.transcripts.add(pd.DataFrame(
                [(v, t) for v, text in zip(texts["variant_id"], texts["transcript_ids"],
                                           strict=True) for t in str(text).split(";")],
                columns=["variant_id", "transcript"]))
        self.binder_peptides.add(binders[["variant_id", "mutant_peptide"]])
        ic50 = pd.to_numeric(block["mutant_affinity_nm"], errors="coerce")
        self.included_peptides.add(block.loc[ic50 < self.inclusion_nm,
                                             ["variant_id", "mutant_peptide"]])

    def table(self, best: pd.DataFrame) -> pd.DataFrame:
        """The aggregated table, given the best rows put back together (file types)."""
        alleles = self.alleles
        if alleles is None:
            alleles = [] if self.allele_firsts is None else \
                list(self.allele_firsts.sort_values(self.keys, kind="mergesort")["_allele"])
        best = best.assign(_rank=pd.to_numeric(best["rank"], errors="coerce"))
        if self.tiered:
            best["_not_pass"] = best["tier"].astype(str) != "Pass"
        transcripts = self.transcripts.counts()
        binder_peptides = self.binder_peptides.counts()
        included = self.included_peptides.counts()
        rows: list[dict[str, Any]] = []
        for index in range(len(best)):
            row = best.iloc[index]
            variant_id = row["variant_id"]
            best_transcripts = str(row.get("transcript_ids", "") or "")
            out = {
                "variant_id": variant_id,
                "gene_name": row.get("gene_name"),
                "effect": row.get("effect"),
                "protein_change": row.get("protein_change"),
                "binders_per_allele": ";".join(
                    f"{a}:{int(self.per_allele.get((variant_id, a), 0))}" for a in alleles),
                "num_binder_transcripts": transcripts.get(variant_id, 0),
                "best_candidate_id": row["candidate_id"],
                "best_rank": int(row["_rank"]),
                "_not_pass": bool(row.get("_not_pass", False)),
                "best_peptide": row["mutant_peptide"],
                "best_transcript": sorted(best_transcripts.split(";"))[0]
                if best_transcripts and best_transcripts != "nan" else None,
                "best_allele": row["allele"],
                "mutation_positions": row.get("mutation_positions"),
                "num_included_peptides": included.get(variant_id, 0),
                "num_binder_peptides": binder_peptides.get(variant_id, 0),
                "evaluation": "Pending",
            }
            for column in ("mutant_affinity_nm", "wildtype_affinity_nm", "mutant_percentile",
                           "wildtype_percentile", "agretopicity", "tumor_vaf", "tumor_depth",
                           "normal_vaf", *OPTIONAL_COLUMNS, "score"):
                out[column] = row.get(column)
            rows.append(out)
        out = pd.DataFrame(rows, columns=[*COLUMNS, "_not_pass"])
        if len(out):
            out = out.sort_values(["_not_pass", "best_rank", "variant_id"], kind="mergesort")
        out = out.drop(columns="_not_pass")
        if len(out):
            if out["tumor_depth"].dropna().map(lambda v: float(v).is_integer()).all():
                out["tumor_depth"] = pd.to_numeric(out["tumor_depth"]).astype("Int64")
        return out.reset_index(drop=True)


def aggregate_file(path: str | os.PathLike, alleles: list[str] | None = None,
                   inclusion_nm: float = DEFAULT_INCLUSION_NM,
                   chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """The aggregated table (see the module docstring) of the candidates.tsv at ``path``.

    The file is read in blocks of ``chunk_rows`` rows (only :data:`READ_COLUMNS`);
    the table is the same as reading it whole, in memory that follows the variants
    and binders, not the table.

    Parameters
    ----------
    path
        candidates.tsv.
    alleles
        Alleles in typing order for ``binders_per_allele`` (default: order of
        first appearance in candidates.tsv).
    inclusion_nm
        IC50 below which a peptide counts in ``num_included_peptides``.
    chunk_rows
        Rows read at once.
    """
    blocks = TableBlocks(path, READ_COLUMNS, chunk_rows)
    state = _Aggregation(blocks.columns, alleles, inclusion_nm, where=str(path))
    for block in blocks:
        state.add(block)
    return state.table(blocks.concat(state.best_parts))


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


def run(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank aggregate`` (candidates.tsv read in blocks of ``chunk_rows``
    rows); returns 0."""
    params = load_params(getattr(args, "params", None))
    inclusion = (params.get("report") or {}).get("aggregate_inclusion_nm", DEFAULT_INCLUSION_NM)
    alleles = expressed_alleles(args.alleles_json) if getattr(args, "alleles_json", None) \
        else None
    table = aggregate_file(args.candidates, alleles, float(inclusion), chunk_rows)
    write_tsv(table, args.out)
    LOG.info("aggregate: %d variants -> %s", len(table), args.out)
    return 0
