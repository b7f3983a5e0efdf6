"""``neorank aggregate``: one row per variant with its best peptide (pVACseq-style),
and optionally the same table in pVACseq's own format.

Modeled on pVACseq's ``*.all_epitopes.aggregated.tsv`` (its columns in
brackets): ``variant_id`` [ID], ``gene_name`` [Gene], ``protein_change``
[AA Change], ``binders_per_allele`` [one column per HLA allele: binder rows per
allele, here a JSON object ``{"HLA-A*02:01": 2, ...}`` in typing order],
``num_binder_transcripts`` [Num Passing Transcripts], ``best_peptide`` [Best
Peptide], ``best_transcript`` [Best Transcript], ``best_allele`` [Allele],
``mutation_positions`` [Pos], ``num_included_peptides`` [Num Included Peptides:
distinct peptides with a mutant IC50 below ``report.aggregate_inclusion_nm``
for some allele, pVACseq's ``--aggregate-inclusion-binding-threshold`` 5000
nM], ``num_binder_peptides`` [Num Passing Peptides], IC50 and percentile of the
mutant and wildtype [IC50 MT/WT, %ile MT/WT], ``agretopicity_mt_over_wt`` (mutant
IC50 / wildtype IC50, candidates.tsv's ``agretopicity``: below 1 the mutant binds
better; pVACseq's fold change is the inverse, WT/MT), ``tumor_vaf`` [DNA VAF],
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

pVACseq export
--------------
``--pvacseq-out`` writes the table with pVACseq's column names, order and tier
vocabulary (:data:`PVACSEQ_COLUMNS`, :func:`pvacseq_table`; ``NA`` where NeoRank
has no evidence: TSL, per-transcript expression), so pVACview and scripts written
for pVACseq read it; ``--pvacseq-metrics-out`` writes its
``*.aggregated.metrics.json`` (:func:`pvacseq_metrics`: the run's thresholds,
then per variant the included peptides, up to
:data:`PVACSEQ_INCLUSION_COUNT_LIMIT`, with their IC50 and percentile per allele).
NeoRank's tiers map to pVACseq's (:data:`PVACSEQ_TIER_OF`, :func:`pvacseq_tier`);
docs/tables.md has the column-by-column mapping.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from neorank.config import DEFAULT_INCLUSION_NM, load_params
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, write_tsv
from neorank.pvacseq import (
    INCLUDED_COLUMNS,
    PVACSEQ_INCLUSION_COUNT_LIMIT,
    pvacseq_metrics_chunks,
    pvacseq_table,
    pvacseq_text,
)
from neorank.tables import (
    TableBlocks,
    expressed_alleles,
    read_table,
    require_columns,
    write_text,
)

LOG = logging.getLogger(__name__)

#: Columns copied from the best row when candidates.tsv has them (NA otherwise).
OPTIONAL_COLUMNS = ["tier", "clonality", "ccf", "gene_tpm", "transcript_tpm", "rna_vaf",
                    "rna_depth", "rna_alt_reads", "self_match"]

COLUMNS = [
    "variant_id", "gene_name", "effect", "protein_change", "binders_per_allele",
    "num_binder_transcripts", "best_candidate_id", "best_rank", "best_peptide",
    "best_transcript", "best_allele", "mutation_positions", "num_included_peptides",
    "num_binder_peptides", "mutant_affinity_nm", "wildtype_affinity_nm", "mutant_percentile",
    "wildtype_percentile", "agretopicity_mt_over_wt", "tumor_vaf", "tumor_depth", "normal_vaf",
    *OPTIONAL_COLUMNS, "score", "evaluation",
]
#: aggregated.tsv columns copied from a candidates.tsv column of another name.
RENAMED = {"agretopicity_mt_over_wt": "agretopicity"}


#: Columns of candidates.tsv the aggregation needs.
REQUIRED = ["rank", "candidate_id", "variant_id", "mutant_peptide", "allele", "binder",
            "mutant_affinity_nm"]
#: Columns of candidates.tsv :func:`aggregate_file` reads (the others are never used).
READ_COLUMNS = [*REQUIRED, "gene_name", "effect", "protein_change", "transcript_ids",
                "mutation_positions", "mutant_percentile", "wildtype_affinity_nm",
                "wildtype_percentile", "agretopicity", "tumor_vaf", "tumor_depth", "normal_vaf",
                *OPTIONAL_COLUMNS, "score"]
#: More columns read for the pVACseq metrics.json (the included peptides' details).
METRICS_COLUMNS = ["wildtype_peptide"]


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin({"true", "1", "yes"})


def _firsts(frame: pd.DataFrame, by: str, keys: list[str]) -> pd.DataFrame:
    """The first row of each ``by`` value in ``keys`` order (ties: table order).

    When the keys up to ``_rank`` already order every row (ranks present and distinct,
    as in a table written by rank), the later keys cannot break a tie and the rows
    are ordered by those numeric keys alone (the text key made this sort most of
    the aggregation's time)."""
    if "_rank" in keys:
        lead = keys[:keys.index("_rank") + 1]
        rank = frame["_rank"].to_numpy(dtype=float)
        if not np.isnan(rank).any() and len(np.unique(rank)) == len(rank):
            order = np.lexsort([frame[k].to_numpy() for k in reversed(lead)])
            return frame.iloc[order].drop_duplicates(by)
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


def _included_rows(block: pd.DataFrame, ic50: pd.Series, inclusion_nm: float) -> pd.DataFrame:
    """A block's included rows (mutant IC50 ``ic50`` below ``inclusion_nm``, with a
    variant_id), :data:`INCLUDED_COLUMNS` only, the IC50 as numbers."""
    rows = block.loc[ic50 < inclusion_nm].reindex(columns=INCLUDED_COLUMNS)
    rows = rows.loc[rows["variant_id"].notna()]
    return rows.assign(mutant_affinity_nm=pd.to_numeric(rows["mutant_affinity_nm"],
                                                        errors="coerce"))


def _pair_keys(frame: pd.DataFrame) -> pd.Series:
    """One text per row for ``(variant_id, mutant_peptide)``: tab-joined (a TSV cell holds
    no tab nor newline; a missing peptide is a newline, so it matches only itself)."""
    return (frame["variant_id"].astype(str).reset_index(drop=True) + "\t"
            + frame["mutant_peptide"].astype(str).fillna("\n").reset_index(drop=True))


class _Included:
    """Rows with a mutant IC50 below the inclusion threshold, per variant only those of
    its ``limit`` best peptides (lowest IC50 over the alleles; ties by peptide), as
    pVACseq's ``--aggregate-inclusion-count-limit`` keeps them.

    The first pass (:meth:`add`, block by block) keeps each included peptide's lowest
    IC50 so far, not its rows: a peptide's best row can come after rows of it that a
    running top-``limit`` would already have dropped (the table is ordered by score,
    not IC50). :meth:`collect` then reads the rows of the winning peptides in a second
    pass. Memory follows the included peptides, not the table's rows.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[pd.DataFrame] = []
        self.rows = 0
        self.reduce_at = 1_000_000
        self.rows_frame: pd.DataFrame | None = None

    def add(self, rows: pd.DataFrame) -> None:
        """Take in the next block's included rows (:func:`_included_rows`; first pass)."""
        self.parts.append(pd.DataFrame({
            "variant_id": rows["variant_id"].astype(object).to_numpy(),
            "mutant_peptide": rows["mutant_peptide"].astype(object).to_numpy(),
            "mutant_affinity_nm": rows["mutant_affinity_nm"].to_numpy()}))
        self.rows += len(rows)
        if self.rows > self.reduce_at:
            self.parts = [self._lowest()]
            self.rows = len(self.parts[0])
            self.reduce_at = max(self.reduce_at, 2 * self.rows)

    def _lowest(self) -> pd.DataFrame:
        """Each (variant, peptide)'s lowest IC50 so far, in first-seen order."""
        frame = pd.concat(self.parts, ignore_index=True)
        return (frame.groupby(["variant_id", "mutant_peptide"], sort=False, dropna=False)
                ["mutant_affinity_nm"].min().reset_index())

    def winners(self) -> pd.DataFrame:
        """Each variant's best ``limit`` peptides (``variant_id``, ``mutant_peptide``)."""
        if not self.parts:
            return pd.DataFrame(columns=["variant_id", "mutant_peptide"])
        best = self._lowest().sort_values(["variant_id", "mutant_affinity_nm", "mutant_peptide"],
                                          kind="mergesort")
        return best.groupby("variant_id", sort=False).head(self.limit)[
            ["variant_id", "mutant_peptide"]]

    def collect(self, blocks: Iterable[pd.DataFrame], inclusion_nm: float) -> None:
        """Second pass: the included rows of the winning peptides, in file order."""
        winners = self.winners()
        # One hash table of the winners, built once (a merge per block hashed all of
        # them again: 148 s of the job's 460 s at 100,000 variants).
        wanted = pd.Index(_pair_keys(winners))
        kept = []
        for block in blocks:
            rows = _included_rows(
                block, pd.to_numeric(block["mutant_affinity_nm"], errors="coerce"),
                inclusion_nm)
            rows = rows.loc[wanted.get_indexer(_pair_keys(rows)) >= 0]
            kept.append(rows.astype({c: "object" for c in ("variant_id", "mutant_peptide",
                                                           "allele")}).reset_index(drop=True))
        self.rows_frame = (pd.concat(kept, ignore_index=True) if kept
                           else pd.DataFrame(columns=INCLUDED_COLUMNS))

    def frame(self) -> pd.DataFrame:
        """The kept rows: each variant's best ``limit`` peptides, all their alleles."""
        if self.rows_frame is None or not len(self.rows_frame):
            return pd.DataFrame(columns=INCLUDED_COLUMNS)
        return self.rows_frame.drop_duplicates(["variant_id", "mutant_peptide", "allele"])


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
                 where: str = "candidates.tsv", included_limit: int | None = None) -> None:
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
        #: The included rows for the pVACseq metrics.json (None: not asked for).
        self.included = None if included_limit is None else _Included(included_limit)

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
            self.transcripts.add(pd.DataFrame({
                "variant_id": texts["variant_id"].astype(object).to_numpy(),
                "transcript": texts["transcript_ids"].astype(str).str.split(";").to_numpy(),
            }).explode("transcript", ignore_index=True))
        self.binder_peptides.add(binders[["variant_id", "mutant_peptide"]])
        ic50 = pd.to_numeric(block["mutant_affinity_nm"], errors="coerce")
        self.included_peptides.add(block.loc[ic50 < self.inclusion_nm,
                                             ["variant_id", "mutant_peptide"]])
        if self.included is not None:
            self.included.add(_included_rows(block, ic50, self.inclusion_nm))

    def allele_order(self) -> list[str]:
        """The alleles of ``binders_per_allele``: typing order, else first appearance."""
        if self.alleles is not None:
            return list(self.alleles)
        return [] if self.allele_firsts is None else \
            list(self.allele_firsts.sort_values(self.keys, kind="mergesort")["_allele"])

    def table(self, best: pd.DataFrame) -> pd.DataFrame:
        """The aggregated table, given the best rows put back together (file types)."""
        alleles = self.allele_order()
        best = best.assign(_rank=pd.to_numeric(best["rank"], errors="coerce"))
        if self.tiered:
            best["_not_pass"] = best["tier"].astype(str) != "Pass"
        transcripts = self.transcripts.counts()
        binder_peptides = self.binder_peptides.counts()
        included = self.included_peptides.counts()
        rows: list[dict[str, Any]] = []
        # one dict per best row (a Series per row, best.iloc[i], was most of this loop)
        for row in best.to_dict("records"):
            variant_id = row["variant_id"]
            best_transcripts = str(row.get("transcript_ids", "") or "")
            out = {
                "variant_id": variant_id,
                "gene_name": row.get("gene_name"),
                "effect": row.get("effect"),
                "protein_change": row.get("protein_change"),
                "binders_per_allele": json.dumps(
                    {str(a): int(self.per_allele.get((variant_id, a), 0)) for a in alleles}),
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
                           "wildtype_percentile", "agretopicity_mt_over_wt", "tumor_vaf",
                           "tumor_depth", "normal_vaf", *OPTIONAL_COLUMNS, "score"):
                out[column] = row.get(RENAMED.get(column, column))
            rows.append(out)
        out = pd.DataFrame(rows, columns=[*COLUMNS, "_not_pass"])
        if len(out):
            out = out.sort_values(["_not_pass", "best_rank", "variant_id"], kind="mergesort")
        out = out.drop(columns="_not_pass")
        if len(out):
            if out["tumor_depth"].dropna().map(lambda v: float(v).is_integer()).all():
                out["tumor_depth"] = pd.to_numeric(out["tumor_depth"]).astype("Int64")
        return out.reset_index(drop=True)


def _aggregate(path: str | os.PathLike, alleles: list[str] | None, inclusion_nm: float,
               chunk_rows: int, included_limit: int | None = None,
               ) -> tuple[pd.DataFrame, _Aggregation, pd.DataFrame]:
    """The aggregated table, the aggregation state and the variants' best rows."""
    columns = READ_COLUMNS + (METRICS_COLUMNS if included_limit is not None else [])
    blocks = TableBlocks(path, columns, chunk_rows)
    state = _Aggregation(blocks.columns, alleles, inclusion_nm, where=str(path),
                         included_limit=included_limit)
    for block in blocks:
        state.add(block)
    if state.included is not None:
        state.included.collect(
            TableBlocks(path, [c for c in INCLUDED_COLUMNS if c in blocks.columns], chunk_rows),
            inclusion_nm)
    best = blocks.concat(state.best_parts)
    return state.table(best), state, best


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
    return _aggregate(path, alleles, inclusion_nm, chunk_rows)[0]


#: Columns appended from variants.tsv (``--variants``): where the variant is and its
#: full alleles, which ``variant_id`` shortens when they are long.
ALLELE_COLUMNS = ["chrom", "pos", "ref", "alt"]


def with_alleles(table: pd.DataFrame, variants_path: str | os.PathLike) -> pd.DataFrame:
    """``table`` with :data:`ALLELE_COLUMNS` of each ``variant_id`` from variants.tsv
    appended (the first row of a variant_id; NA for an id variants.tsv lacks)."""
    variants = read_table(variants_path, columns=["variant_id", *ALLELE_COLUMNS])
    require_columns(variants, ["variant_id", *ALLELE_COLUMNS], str(variants_path),
                    "neorank somatic")
    variants = variants.drop_duplicates("variant_id").set_index("variant_id")
    out = table.copy()
    for column in ALLELE_COLUMNS:
        out[column] = out["variant_id"].map(variants[column])
    out["pos"] = pd.to_numeric(out["pos"]).astype("Int64")
    return out


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank aggregate``."""
    parser = subparsers.add_parser(
        "aggregate", help="pVACseq-style aggregated TSV: one row per variant, best peptide",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--alleles-json", help="alleles.json (typing order of the alleles)")
    parser.add_argument("--params", help="params JSON (report.aggregate_inclusion_nm)")
    parser.add_argument("--out", required=True, help="aggregated.tsv")
    parser.add_argument("--long-peptides",
                        help="the vaccine stage's long-peptide table: adds vaccine_note (why a "
                        "binder variant is or is not in the vaccine designs)")
    parser.add_argument("--variants",
                        help="variants.tsv: adds chrom, pos and the full ref and alt of each "
                        "variant (its variant_id shortens long alleles)")
    parser.add_argument("--pvacseq-out", help="also write the table in pVACseq's format "
                        "(results/<sample>/pvacseq/<sample>.MHC_I.all_epitopes.aggregated.tsv)")
    parser.add_argument("--pvacseq-metrics-out",
                        help="also write pVACseq's metrics.json for it (results/<sample>/"
                        "pvacseq/<sample>.MHC_I.all_epitopes.aggregated.metrics.json)")
    parser.set_defaults(run=run)

    metrics = subparsers.add_parser(
        "pvacseq-metrics", help="pVACseq's metrics.json of the aggregated table (on its own)",
        description="Write pVACseq's *.all_epitopes.aggregated.metrics.json from candidates.tsv "
        "alone: the same file as `neorank aggregate --pvacseq-metrics-out`, in a job of its "
        "own that runs beside the vaccine design, aggregate and the review workbook.")
    metrics.add_argument("--candidates", required=True, help="candidates.tsv")
    metrics.add_argument("--alleles-json", help="alleles.json (typing order of the alleles)")
    metrics.add_argument("--params", help="params JSON (report.aggregate_inclusion_nm)")
    metrics.add_argument("--out", required=True, help="metrics.json to write")
    metrics.set_defaults(run=run_metrics)


def _inputs(args: argparse.Namespace) -> tuple[dict[str, Any], float, list[str] | None]:
    params = load_params(getattr(args, "params", None))
    inclusion = (params.get("report") or {}).get("aggregate_inclusion_nm", DEFAULT_INCLUSION_NM)
    alleles = expressed_alleles(args.alleles_json) if getattr(args, "alleles_json", None) \
        else None
    return params, float(inclusion), alleles


def _write_metrics(out: str, table: pd.DataFrame, state: _Aggregation, best: pd.DataFrame,
                   params: dict[str, Any], inclusion: float) -> None:
    write_text(out, pvacseq_metrics_chunks(table, state.included.frame(), best,
                                           state.allele_order(), params, inclusion))
    LOG.info("aggregate: pVACseq metrics -> %s", out)


def run_metrics(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank pvacseq-metrics``; returns 0."""
    params, inclusion, alleles = _inputs(args)
    table, state, best = _aggregate(args.candidates, alleles, inclusion, chunk_rows,
                                    PVACSEQ_INCLUSION_COUNT_LIMIT)
    _write_metrics(args.out, table, state, best, params, inclusion)
    return 0


def run(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank aggregate`` (candidates.tsv read in blocks of ``chunk_rows``
    rows); returns 0."""
    params, inclusion, alleles = _inputs(args)
    metrics_out = getattr(args, "pvacseq_metrics_out", None)
    pvacseq_out = getattr(args, "pvacseq_out", None)
    table, state, best = _aggregate(
        args.candidates, alleles, inclusion, chunk_rows,
        PVACSEQ_INCLUSION_COUNT_LIMIT if metrics_out else None)
    if getattr(args, "long_peptides", None):
        notes = read_table(args.long_peptides, columns=["variant_id", "vaccine_note"])
        if "vaccine_note" in notes.columns:
            by_variant = dict(zip(notes["variant_id"], notes["vaccine_note"], strict=True))
            table = table.assign(vaccine_note=[
                by_variant.get(v, "not a binder variant: no long peptide")
                for v in table["variant_id"]])
    if getattr(args, "variants", None):
        table = with_alleles(table, args.variants)
    write_tsv(table, args.out)
    LOG.info("aggregate: %d variants -> %s", len(table), args.out)
    if pvacseq_out:
        write_text(pvacseq_out, pvacseq_text(pvacseq_table(table, state.allele_order())))
        LOG.info("aggregate: pVACseq format -> %s", pvacseq_out)
    if metrics_out:
        _write_metrics(metrics_out, table, state, best, params, inclusion)
    return 0
