"""What the report keeps of candidates.tsv, read block by block
(:class:`CandidateDigest`), and the peptide rows per variant of peptides.tsv."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from neorank.verdict import binder_mask

REQUIRED_CANDIDATE_COLUMNS = ["rank", "candidate_id", "binder", "variant_id", "gene_name",
                              "protein_change", "mutant_peptide", "allele", "mutant_affinity_nm"]
#: The candidates.tsv columns any section shows or counts; the others are never read.
CANDIDATE_COLUMNS = REQUIRED_CANDIDATE_COLUMNS + [
    "mutant_percentile", "wildtype_affinity_nm", "agretopicity", "tumor_vaf", "tier", "score",
    "score_components", "mutation_positions", "wildtype_peptide", "presentation_score",
    "predictor", "pass_expression", "pass_rna_support"]
#: Text columns among them, read as text in every block: a block must not turn them into
#: numbers (mutation positions "9" next to "1;8") or mix types (a block of NA only).
TEXT_COLUMNS = ("candidate_id", "variant_id", "gene_name", "protein_change", "mutant_peptide",
                "wildtype_peptide", "mutation_positions", "allele", "tier", "score_components",
                "predictor", "pass_expression", "pass_rna_support")
#: Display columns filled with NA when a candidates table lacks them.
PLACEHOLDER_COLUMNS = ("mutant_percentile", "wildtype_affinity_nm", "agretopicity", "tumor_vaf",
                       "tier", "score", "score_components")

#: Report order of candidate rows: numeric rank, candidate_id, then table position
#: (what a stable sort of the whole table on rank and candidate_id gives).
_ORDER = ["_rank", "candidate_id", "_pos"]
_BEST_COLUMNS = ["variant_id", "gene_name", "protein_change", "mutant_peptide", "allele",
                 "mutant_affinity_nm", "binder", "tumor_vaf", "rank"]
_DRILL_COLUMNS = ["variant_id", "gene_name", "protein_change", "mutant_peptide",
                  "wildtype_peptide", "mutation_positions", "allele", "mutant_affinity_nm",
                  "binder"]


def _in_report_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``_rank`` and ``_pos``) sorted into report order."""
    ranks = frame["_rank"].to_numpy(dtype=float)
    if len(ranks) < 2 or bool((np.diff(ranks) > 0).all()):  # ranked file: already in order
        return frame
    return frame.sort_values(_ORDER, kind="mergesort")


def _first_per_variant(kept: pd.DataFrame | None, rows: pd.DataFrame,
                       ids: set | None = None) -> pd.DataFrame:
    """The best row of each variant among ``kept`` and ``rows`` (both in report order).

    ``ids``: the variant ids of ``kept``, kept up to date here. With them, when ``rows``
    follow ``kept`` in report order (a ranked table: ranks increase) and no variant id is
    missing, the rows of variants already kept are dropped by a set lookup; otherwise
    (and without ``ids``) the whole kept table is sorted and de-duplicated again (at
    100,000 variants that was ~6 s of the report: 264 blocks x 100,000 kept rows)."""
    rows = rows.drop_duplicates("variant_id", keep="first")
    if kept is None:
        if ids is not None:
            ids.update(rows["variant_id"].tolist())
        return rows
    combined = pd.concat([kept, rows])
    if ids is not None and len(kept) and len(rows) and not rows["variant_id"].isna().any():
        ranks = combined["_rank"].to_numpy(dtype=float)
        if bool((np.diff(ranks) > 0).all()):  # in report order, no sort
            # (combined.drop_duplicates: kept's ids are distinct, so are the rows')
            variants = rows["variant_id"].tolist()
            new = [v not in ids for v in variants]
            ids.update(variants)
            return combined.iloc[np.concatenate([np.ones(len(kept), dtype=bool), new])]
    result = _in_report_order(combined).drop_duplicates("variant_id", keep="first")
    if ids is not None:
        ids.clear()
        ids.update(result["variant_id"].tolist())
    return result


def _pick(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[[c for c in dict.fromkeys(columns + _ORDER) if c in frame.columns]]


class CandidateDigest:
    """What the report needs from candidates.tsv, gathered block by block.

    Blocks come in table order; memory holds one block plus what is kept, never the
    whole table: counts per allele, gene and variant, the best row of each variant
    (overall and among binders), the best ``top_n`` binder rows, the distinct binder
    facts the eligibility assessment counts, and every row of the
    ``drill_variants`` best variants. Rows are taken in report order (see
    :func:`_in_report_order`), so the result does not depend on the block size or
    on the order of rows in the table.
    """

    def __init__(self, columns: list[str], top_n: int, drill_variants: int) -> None:
        self.columns = list(columns)
        self.top_n = top_n
        self.drill_variants = drill_variants
        self.rows = 0
        self.has_presentation = False
        self.predictors: set[str] = set()
        self.allele_rows: Counter = Counter()
        self.allele_names: set = set()
        self.variant_ids: set = set()
        self.missing_variant_id = False
        self.binder_rows = 0
        self.binder_allele_rows: Counter = Counter()
        self.binder_allele_variants: dict[Any, set] = {}
        self.binder_genes: Counter = Counter()
        self.binder_variant_rows: Counter = Counter()
        self.best: pd.DataFrame | None = None
        self.best_binders: pd.DataFrame | None = None
        self._best_ids: set = set()
        self._best_binder_ids: set = set()
        self.top: pd.DataFrame | None = None
        self.targets: pd.DataFrame | None = None
        self.drill: pd.DataFrame | None = None
        self._drill_ids: set = set()
        self._incomplete: set = set()
        self._target_columns = ["variant_id", "gene_name", "binder"] + [
            c for c in ("tier", "pass_expression", "pass_rna_support") if c in self.columns]

    @property
    def n_variants(self) -> int:
        """Distinct variant ids (a missing id counts once)."""
        return len(self.variant_ids) + int(self.missing_variant_id)

    def _prepare(self, block: pd.DataFrame, start: int) -> pd.DataFrame:
        return block.assign(_rank=pd.to_numeric(block["rank"], errors="coerce"),
                            _pos=np.arange(start, start + len(block), dtype=np.int64))

    def add(self, block: pd.DataFrame) -> None:
        """Take the next block of the table."""
        start = self.rows
        self.rows += len(block)
        if not len(block):
            return
        block = _in_report_order(self._prepare(block, start))
        if "presentation_score" in block.columns:
            self.has_presentation |= bool(block["presentation_score"].notna().any())
        if "predictor" in block.columns:
            self.predictors.update(block["predictor"].dropna().astype(str).unique())
        self.allele_rows.update(block.groupby("allele").size().to_dict())
        self.allele_names.update(block["allele"].astype(str).unique())
        self.best = _first_per_variant(self.best, _pick(block, _BEST_COLUMNS), self._best_ids)

        binders = block.loc[binder_mask(block)]
        if len(binders):
            self.binder_rows += len(binders)
            self.binder_allele_rows.update(binders.groupby("allele").size().to_dict())
            for allele, ids in binders.groupby("allele")["variant_id"]:
                # (as a list: iterating Arrow-backed text is a Python call per element)
                self.binder_allele_variants.setdefault(allele, set()).update(
                    ids.dropna().unique().tolist())
            genes = binders["gene_name"].astype(object).where(binders["gene_name"].notna(), "NA")
            self.binder_genes.update(genes.astype(str).value_counts().to_dict())
            self.binder_variant_rows.update(binders.groupby("variant_id").size().to_dict())
            self.best_binders = _first_per_variant(self.best_binders,
                                                   _pick(binders, _BEST_COLUMNS),
                                                   self._best_binder_ids)
            top = binders.head(self.top_n)
            self.top = top if self.top is None else \
                _in_report_order(pd.concat([self.top, top])).head(self.top_n)
            facts = binders[self._target_columns].drop_duplicates()
            self.targets = facts if self.targets is None else \
                pd.concat([self.targets, facts]).drop_duplicates()

        # Drill-down: every row of the variants that are the best ones so far. A
        # variant that joins them after rows of it were passed over is re-read.
        chosen = set(self.best["variant_id"].head(self.drill_variants))
        self._incomplete.update(v for v in chosen - self._drill_ids if v in self.variant_ids)
        rows = _pick(block.loc[block["variant_id"].isin(chosen)], _DRILL_COLUMNS)
        if self.drill is not None:
            rows = pd.concat([self.drill.loc[self.drill["variant_id"].isin(chosen)], rows])
        self.drill, self._drill_ids = rows, chosen
        ids = block["variant_id"]
        self.variant_ids.update(ids.dropna().unique().tolist())
        self.missing_variant_id |= bool(ids.isna().any())

    def finish(self, blocks: Callable[[], Iterable[pd.DataFrame]]) -> CandidateDigest:
        """Complete the drill-down rows (``blocks`` gives the table again, only if a
        shown variant's rows were passed over) and put every kept frame in report order."""
        refetch = self._drill_ids & self._incomplete
        if refetch and self.drill is not None:
            parts = [self.drill.loc[~self.drill["variant_id"].isin(refetch)]]
            start = 0
            for block in blocks():
                block, start = self._prepare(block, start), start + len(block)
                parts.append(_pick(block.loc[block["variant_id"].isin(refetch)], _DRILL_COLUMNS))
            self.drill = pd.concat(parts)
            self._incomplete -= refetch
        best_columns = [c for c in self.columns if c in _BEST_COLUMNS]
        self.best = self._ordered(self.best, best_columns, placeholders=True)
        self.best_binders = self._ordered(self.best_binders, best_columns)
        self.top = self._ordered(self.top, self.columns, placeholders=True)
        self.drill = self._ordered(self.drill, [c for c in self.columns if c in _DRILL_COLUMNS])
        if self.targets is None:
            self.targets = pd.DataFrame(columns=self._target_columns)
        return self

    @staticmethod
    def _ordered(frame: pd.DataFrame | None, columns: list[str],
                 placeholders: bool = False) -> pd.DataFrame:
        if frame is None:
            frame = pd.DataFrame(columns=columns + _ORDER)
        elif len(frame):
            frame = frame.sort_values(_ORDER, kind="mergesort")
        if placeholders:
            for column in PLACEHOLDER_COLUMNS:
                if column not in frame.columns:
                    frame = frame.assign(**{column: pd.NA})
        return frame


def digest_candidates(blocks: Callable[[], Iterable[pd.DataFrame]], columns: list[str],
                      top_n: int, drill_variants: int) -> CandidateDigest:
    """A :class:`CandidateDigest` of the table ``blocks()`` yields in table order."""
    digest = CandidateDigest(columns, top_n, drill_variants)
    for block in blocks():
        digest.add(block)
    return digest.finish(blocks)


def peptide_counts(blocks: Iterable[pd.DataFrame]) -> Counter:
    """Peptide rows per variant id."""
    counts: Counter = Counter()
    for block in blocks:
        if len(block):
            counts.update(block.groupby("variant_id").size().to_dict())
    return counts
