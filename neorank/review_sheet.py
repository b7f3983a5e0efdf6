"""``neorank review-sheet``: write the review workbook results/<sample>/candidates.xlsx.

candidates.xlsx has four sheets (layout and formats: :mod:`neorank.workbook`):

``Review``
    One row per variant with a predicted binder, in vaccine priority order
    (:mod:`neorank.vaccine`). The identifying columns (``priority``,
    ``variant_id``, ``gene_name``, ``protein_change``) come first, then the
    reviewer's two columns, ``decision`` (a drop-down list: Accept, Reject,
    Review) and ``comment``; these six columns and the header stay in view
    (frozen panes). Then the variant's best candidate, long peptide,
    manufacturability and whether the proposed designs carry it. ``priority``
    may be edited to change the final order (``neorank final-order``).
``Aggregated``
    aggregated.tsv (every variant with a candidate).
``Binders``
    The binder rows of candidates.tsv in its order (best first), at most
    ``--max-binder-rows`` of them (an Excel sheet holds 1,048,576 rows; in the
    workflow ``report.review_max_binder_rows``). The About sheet states the cap,
    how many binder rows candidates.tsv has and that the full table is
    candidates.tsv.
``About``
    Sample, the sha256 of the candidates.tsv the workbook was made from (a
    workbook from another candidates.tsv is refused by ``final-order``), the
    binder rows, how to review.

candidates.tsv is read twice in blocks: once whole (the first row of each
variant, the binder count and every block's column types) and once up to the
last binder row the Binders sheet shows; the sheets are streamed to disk, so
memory follows one block and the Review rows, not candidates.tsv. The workbook
is byte-identical for the same inputs.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from neorank.config import Report
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, sha256_file
from neorank.tables import TableBlocks, read_table
from neorank.workbook import (
    DECISIONS,
    EXCEL_MAX_ROWS,
    IDENTIFYING_COLUMNS,
    REVIEW_COLUMNS,
    REVIEWER_COLUMNS,
    Rows,
    freeze_after,
    new_workbook,
    save_workbook,
    typed_blocks,
    write_sheet,
)

LOG = logging.getLogger(__name__)

#: Binder rows in the Binders sheet unless told otherwise.
DEFAULT_MAX_BINDER_ROWS = Report.review_max_binder_rows
#: Least widths of the reviewer's columns (room to type).
REVIEWER_WIDTHS = {"decision": 12, "comment": 30}


def review_rows(long_peptides: pd.DataFrame, peptide_design: pd.DataFrame,
                mrna: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """The Review sheet as a table (decision and comment empty).

    ``candidates``: at least ``variant_id`` (and ``tumor_vaf``) of each variant's
    first row of candidates.tsv (:attr:`CandidateScan.firsts`).
    """
    in_design = set(peptide_design["variant_id"]) if len(peptide_design) else set()
    mrna_pos = dict(zip(mrna["variant_id"], mrna["position"], strict=True)) if len(mrna) else {}
    vaf = candidates.drop_duplicates("variant_id").set_index("variant_id")["tumor_vaf"] \
        if "tumor_vaf" in candidates.columns else pd.Series(dtype=float)
    out = long_peptides.rename(columns={"order": "priority"}).copy()
    out["tumor_vaf"] = out["variant_id"].map(vaf)
    out["in_peptide_design"] = ["yes" if v in in_design else "no" for v in out["variant_id"]]
    out["mrna_position"] = out["variant_id"].map(mrna_pos)
    out["decision"] = None
    out["comment"] = None
    return out.reindex(columns=REVIEW_COLUMNS)


def _is_binder(block: pd.DataFrame) -> pd.Series:
    return block["binder"].astype(str).str.lower() == "true"


@dataclass
class CandidateScan:
    """What one pass over candidates.tsv gives the review sheet."""

    #: The table (read once: it knows every block's column types).
    table: Any
    #: First row of each variant in file order (``variant_id``, ``tumor_vaf``).
    firsts: pd.DataFrame
    #: Binder rows in the table.
    binder_rows: int


def scan_candidates(path: str | os.PathLike, chunk_rows: int = CHUNK_ROWS) -> CandidateScan:
    """Read candidates.tsv once in blocks: each variant's first row, the binder count
    and the column types. Memory follows the variants, not the table."""
    table = TableBlocks(path, chunk_rows=chunk_rows)
    if "binder" not in table.columns:
        raise InputFileError("missing column binder", where=str(path),
                             fix="pass candidates.tsv written by `neorank rank`")
    first_columns = [c for c in ("variant_id", "tumor_vaf") if c in table.columns]
    firsts, seen, binders = [], set(), 0
    for block in table:
        binders += int(_is_binder(block).sum())
        if "variant_id" in first_columns:
            rows = block[first_columns].drop_duplicates("variant_id")
            # A set, not Series.isin: pandas' isin on Arrow text walks the whole
            # collection in Python per block (121 s of 142 at 100,000 variants).
            ids = rows["variant_id"].tolist()
            rows = rows.loc[[v not in seen for v in ids]]
            seen.update(ids)
            firsts.append(rows)
    return CandidateScan(table, table.concat(firsts, first_columns), binders)


def binder_blocks(scan: CandidateScan, limit: int | None = None):
    """The first ``limit`` binder rows of candidates.tsv (all when None), in blocks
    typed as in a whole-table read; reading stops at the last one."""
    return typed_blocks(scan.table, _is_binder, limit)


def table_rows(path: str | os.PathLike, chunk_rows: int = CHUNK_ROWS) -> Rows:
    """A TSV (aggregated.tsv) as :class:`~neorank.workbook.Rows`, streamed in blocks
    typed as in a whole-table read (the file is read once for the types first)."""
    table = TableBlocks(path, chunk_rows=chunk_rows)
    for _ in table:
        pass
    return Rows(list(table.columns), typed_blocks(table))


def binders_text(shown: int, total: int, cap: int, candidates_path: str) -> str:
    """The About sheet's statement of what the Binders sheet holds."""
    if shown < total:
        held = (f"the first {shown:,} of the {total:,} binder rows of candidates.tsv (best "
                f"first): the sheet is capped at {cap:,} rows")
    else:
        held = (f"all {total:,} binder rows of candidates.tsv (best first; the sheet is "
                f"capped at {cap:,} rows)")
    return (f"The Binders sheet holds {held} (--max-binder-rows; report.review_max_binder_rows "
            f"in the workflow). The full table is {candidates_path}.")


def _head(blocks: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The first ``rows`` rows of ``blocks`` (no block is taken past them)."""
    blocks = iter(blocks)
    while rows > 0:
        block = next(blocks, None)
        if block is None:
            return
        yield block.iloc[:rows]
        rows -= len(block)


def write_workbook(path: str | os.PathLike, sample: str, review: pd.DataFrame,
                   aggregated: Rows, binders: Rows, candidates_sha256: str, *,
                   binder_rows: int | None = None,
                   max_binder_rows: int = DEFAULT_MAX_BINDER_ROWS,
                   candidates_path: str = "candidates.tsv") -> None:
    """Write candidates.xlsx (deterministic bytes), streaming ``aggregated`` and
    ``binders`` (the first ``max_binder_rows`` rows of ``binders``; ``binder_rows``:
    how many candidates.tsv has, default those written)."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = new_workbook()
    review = review.reindex(columns=REVIEW_COLUMNS)
    ws, n = write_sheet(wb, "Review", Rows.of(review),
                        freeze=freeze_after(REVIEW_COLUMNS,
                                            IDENTIFYING_COLUMNS + REVIEWER_COLUMNS),
                        min_widths=REVIEWER_WIDTHS, edit_columns=REVIEWER_COLUMNS)
    letter = get_column_letter(REVIEW_COLUMNS.index("decision") + 1)
    validation = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"',
                                allow_blank=True, showErrorMessage=True, showInputMessage=True,
                                errorTitle="Decision", error="Choose Accept, Reject or Review",
                                promptTitle="Decision", prompt="Accept, Reject or Review")
    validation.add(f"{letter}2:{letter}{max(n, 1) + 1}")
    ws.data_validations.append(validation)

    write_sheet(wb, "Aggregated", aggregated, freeze=freeze_after(aggregated.columns,
                                                                  ["variant_id"]))
    binders = Rows(binders.columns, _head(binders.blocks, max_binder_rows))
    _, shown = write_sheet(wb, "Binders", binders,
                           freeze=freeze_after(binders.columns, ["rank", "candidate_id"]))
    total = shown if binder_rows is None else binder_rows
    about = pd.DataFrame([
        ("sample", sample),
        ("candidates_sha256", candidates_sha256),
        ("binder_rows", total),
        ("binder_rows_in_sheet", shown),
        ("binders sheet", binders_text(shown, total, max_binder_rows, candidates_path)),
        ("how to review",
         "Fill 'decision' (Accept, Reject or Review) and 'comment' on the Review sheet; edit "
         "'priority' to change the order. Save the file as review/<sample>.xlsx (the folder "
         "is report.review_dir) and re-run the workflow to write final_order.tsv. Other "
         "columns are not read back. A workbook made from another candidates.tsv (see "
         "candidates_sha256) is refused: after a re-run, review the new candidates.xlsx."),
        ("research use only", "Computational predictions; not a clinical recommendation."),
    ], columns=["key", "value"])
    write_sheet(wb, "About", Rows.of(about), wrap_columns=["value"])
    save_workbook(wb, path)


# --------------------------------------------------------------------------- CLI


def _binder_cap(text: str) -> int:
    """``--max-binder-rows``: 0 .. the rows of an Excel sheet below its header."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= EXCEL_MAX_ROWS - 1:
        raise argparse.ArgumentTypeError(
            f"{value} is not between 0 and {EXCEL_MAX_ROWS - 1:,} (the rows of an Excel "
            "sheet below its header)")
    return value


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank review-sheet``."""
    parser = subparsers.add_parser(
        "review-sheet", help="write candidates.xlsx with a Review sheet (Accept/Reject/Review)",
        description="Write the review workbook: Review, Aggregated, Binders and About sheets.")
    parser.add_argument("--sample", required=True, help="sample id (as in the sample sheet)")
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--candidates-table",
                        help="the same table in Parquet form (candidates.parquet), read "
                        "instead of --candidates; the About sheet still names and hashes "
                        "--candidates")
    parser.add_argument("--aggregated", required=True, help="aggregated.tsv")
    parser.add_argument("--long-peptides", required=True, help="long peptides (neorank vaccine)")
    parser.add_argument("--vaccine-peptides", required=True, help="vaccine_peptides.tsv")
    parser.add_argument("--vaccine-mrna", required=True, help="vaccine_mrna.tsv")
    parser.add_argument("--max-binder-rows", type=_binder_cap, default=DEFAULT_MAX_BINDER_ROWS,
                        help="binder rows in the Binders sheet, best first (default "
                             f"{DEFAULT_MAX_BINDER_ROWS:,}; the full table stays in "
                             "candidates.tsv)")
    parser.add_argument("--out", required=True, help="candidates.xlsx")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank review-sheet`` (candidates.tsv and aggregated.tsv read in blocks
    of ``chunk_rows`` rows)."""
    cap = getattr(args, "max_binder_rows", DEFAULT_MAX_BINDER_ROWS)
    scan = scan_candidates(getattr(args, "candidates_table", None) or args.candidates,
                           chunk_rows)
    review = review_rows(read_table(args.long_peptides), read_table(args.vaccine_peptides),
                         read_table(args.vaccine_mrna), scan.firsts)
    binders = Rows(list(scan.table.columns), binder_blocks(scan, cap))
    write_workbook(args.out, str(args.sample), review, table_rows(args.aggregated, chunk_rows),
                   binders, sha256_file(args.candidates), binder_rows=scan.binder_rows,
                   max_binder_rows=cap, candidates_path=str(args.candidates))
    LOG.info("review sheet: %d variants to review, %d of %d binder rows in the Binders sheet "
             "-> %s", len(review), min(cap, scan.binder_rows), scan.binder_rows, args.out)
    if scan.binder_rows > cap:
        LOG.warning("the Binders sheet holds the first %d of %d binder rows "
                    "(--max-binder-rows); the full table is %s", cap, scan.binder_rows,
                    args.candidates)
    return 0
