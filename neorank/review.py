"""Review round trip: ``neorank review-sheet`` writes candidates.xlsx and
``neorank final-order`` re-imports the edited copy to write final_order.tsv.

candidates.xlsx has four sheets:

``Review``
    One row per variant with a predicted binder, in vaccine priority order
    (:mod:`neorank.vaccine`): its best candidate, long peptide,
    manufacturability, whether the proposed designs carry it, and two columns
    for the reviewer: ``decision`` (a drop-down list: Accept, Reject, Review)
    and ``comment``. ``priority`` may be edited to change the final order.
``Aggregated``
    aggregated.tsv (every variant with a candidate).
``Binders``
    Every binder row of candidates.tsv.
``About``
    Sample, the sha256 of the candidates.tsv the sheet was made from, and how
    to use the sheet.

Re-import rules (``final-order``): a sheet where no row has a decision is an
error (a never-edited sheet is never taken as accepted). Decisions are matched
case-insensitively; anything other than Accept/Reject/Review (or blank) is an
error naming the cell. Blank and Review rows are pending: they are left out of
the order and counted in the log. Every ``candidate_id`` must exist in the
current candidates.tsv and the sheet's sample must match, so a sheet from
another run is refused. Sequences and scores in final_order.tsv come from the
current long-peptide table, never from the (editable) sheet; only
``decision``, ``comment`` and ``priority`` are read from it. Accepted rows are
ordered by ``priority``, ties by sheet row order.

The workbook is byte-identical for the same inputs (fixed document times and
zip entry times).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, sha256_file, write_tsv

LOG = logging.getLogger(__name__)

DECISIONS = ("Accept", "Reject", "Review")
FIXED_TIME = dt.datetime(2000, 1, 1)

REVIEW_COLUMNS = [
    "priority", "variant_id", "candidate_id", "gene_name", "protein_change", "effect", "tier",
    "score", "best_peptide", "best_allele", "best_affinity_nm", "best_percentile",
    "tumor_vaf", "long_peptide", "manufacturable", "manufacturability_flags",
    "in_peptide_design", "mrna_position", "decision", "comment",
]
FINAL_COLUMNS = [
    "order", "priority", "variant_id", "candidate_id", "gene_name", "protein_change",
    "best_peptide", "best_allele", "best_affinity_nm", "long_peptide", "long_peptide_start",
    "transcript_id", "manufacturable", "manufacturability_flags", "comment",
]
ABOUT_SAMPLE_ROW = 2
ABOUT_SHA_ROW = 3


def _cell(value: Any) -> Any:
    """A value openpyxl can write (missing -> empty cell, numpy -> Python)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()
    return value


def review_rows(long_peptides: pd.DataFrame, peptide_design: pd.DataFrame,
                mrna: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """The Review sheet as a table (decision and comment empty)."""
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


def _write_sheet(ws, frame: pd.DataFrame, rows: bool = True) -> None:
    """Header row (bold), then the rows of ``frame`` unless ``rows`` is False (they
    are then streamed by :func:`_save`)."""
    from openpyxl.styles import Font

    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    if rows:
        for record in frame.itertuples(index=False):
            ws.append([_cell(v) for v in record])
    ws.freeze_panes = "A2"


def _save(wb, target, streamed: dict[str, pd.DataFrame]) -> None:
    """``wb.save(target)``, where the sheets named in ``streamed`` get the rows of
    their frame (below the rows already there) while the sheet is written, one
    row of cells at a time. The bytes are those of appending the rows first and
    saving, without holding every cell: openpyxl keeps ~300 bytes per cell, and
    the Binders sheet of a 100k-variant sample has ~45 million cells."""
    from openpyxl.cell.cell import Cell
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._writer import WorksheetWriter
    from openpyxl.worksheet.dimensions import SheetDimension
    from openpyxl.writer.excel import ExcelWriter

    class SheetWriter(WorksheetWriter):
        def __init__(self, ws, frame: pd.DataFrame):
            super().__init__(ws)
            self.frame = frame
            self.start = ws.max_row + 1 if ws._cells else 1

        def write_dimensions(self):
            # Worksheet.calculate_dimension over the cells there and to come.
            rows = {r for r, _ in self.ws._cells}
            columns = {c for _, c in self.ws._cells}
            if len(self.frame) and len(self.frame.columns):
                rows |= {self.start, self.start + len(self.frame) - 1}
                columns |= {1, len(self.frame.columns)}
            ref = (f"{get_column_letter(min(columns))}{min(rows)}:"
                   f"{get_column_letter(max(columns))}{max(rows)}") if rows else "A1:A1"
            self.xf.send(SheetDimension(ref).to_tree())

        def rows(self):
            yield from super().rows()
            for row, record in enumerate(self.frame.itertuples(index=False), start=self.start):
                cells = [Cell(self.ws, row=row, column=column, value=_cell(value))
                         for column, value in enumerate(record, start=1)]
                if cells:
                    yield row, cells

    class BookWriter(ExcelWriter):
        def write_worksheet(self, ws):  # ExcelWriter.write_worksheet with SheetWriter
            if ws.title not in streamed:
                return super().write_worksheet(ws)
            ws._drawing = SpreadsheetDrawing()
            ws._drawing.charts = ws._charts
            ws._drawing.images = ws._images
            writer = SheetWriter(ws, streamed[ws.title])
            writer.write()
            ws._rels = writer._rels
            self._archive.write(writer.out, ws.path[1:])
            self.manifest.append(ws)
            writer.cleanup()

    BookWriter(wb, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()


def write_workbook(path: str | os.PathLike, sample: str, review: pd.DataFrame,
                   aggregated: pd.DataFrame, binders: pd.DataFrame,
                   candidates_sha256: str, stream: bool = True) -> None:
    """Write candidates.xlsx (deterministic bytes).

    ``stream``: write the Aggregated and Binders rows while saving (:func:`_save`);
    False appends them to the sheets first (same bytes, every cell in memory).
    """
    from openpyxl import Workbook
    from openpyxl.styles import PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "Review"
    _write_sheet(ws, review)
    n = len(review)
    decision_col = REVIEW_COLUMNS.index("decision") + 1
    comment_col = REVIEW_COLUMNS.index("comment") + 1
    letter = ws.cell(row=1, column=decision_col).column_letter
    validation = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"',
                                allow_blank=True, showErrorMessage=True,
                                errorTitle="Decision", error="Choose Accept, Reject or Review",
                                promptTitle="Decision", prompt="Accept, Reject or Review")
    ws.add_data_validation(validation)
    validation.add(f"{letter}2:{letter}{max(n, 1) + 1}")
    fill = PatternFill("solid", fgColor="FFF2CC")
    for row in range(2, n + 2):
        ws.cell(row=row, column=decision_col).fill = fill
        ws.cell(row=row, column=comment_col).fill = fill
    streamed = {"Aggregated": aggregated, "Binders": binders} if stream else {}
    for name, frame in (("Aggregated", aggregated), ("Binders", binders)):
        _write_sheet(wb.create_sheet(name), frame, rows=name not in streamed)
    about = wb.create_sheet("About")
    for line in (
        ("key", "value"),
        ("sample", sample),
        ("candidates_sha256", candidates_sha256),
        ("how to review", "Fill 'decision' (Accept, Reject or Review) and 'comment' on the "
                          "Review sheet; edit 'priority' to change the order. Save the file as "
                          "review/<sample>.xlsx (the folder is report.review_dir) and re-run the "
                          "workflow to write final_order.tsv. Other columns are not read back."),
        ("research use only", "Computational predictions; not a clinical recommendation."),
    ):
        about.append(list(line))
    wb.properties.creator = "NeoRank"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # openpyxl writes to a file beside the target (not memory: the Binders sheet of
    # a 100k-variant sample is ~2 GB of XML), then the zip is rewritten with fixed times.
    raw = path.with_name(path.name + ".openpyxl.tmp")
    try:
        if streamed:
            _save(wb, str(raw), streamed)
        else:
            wb.save(str(raw))
        _write_deterministic_zip(raw, path)
    finally:
        raw.unlink(missing_ok=True)


def _write_deterministic_zip(source_path: Path, path: Path) -> None:
    """Rewrite the xlsx zip at ``source_path`` to ``path`` with fixed entry and document
    times (openpyxl stamps the current time on both); entries are copied in 1 MiB
    pieces, never whole (same bytes: zipfile compresses a stream as it compresses one
    string)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(source_path) as source, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the save time as "modified" whatever the workbook says.
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                              + rb"\g<2>", source.read(info.filename))
                target.writestr(entry, data)
                continue
            # writestr() sets file_size from the data; a stream needs it up front
            # (it decides the zip64 header as writestr would).
            entry.file_size = info.file_size
            with source.open(info) as src, target.open(entry, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- re-import


def read_review(path: str | os.PathLike) -> tuple[dict[str, str], pd.DataFrame]:
    """Read an (edited) candidates.xlsx: ``(about, review rows)``.

    The review rows have ``sheet_row`` (1-based Excel row), ``candidate_id``,
    ``variant_id``, ``priority``, ``decision`` (normalised or ``""``) and
    ``comment``.
    """
    from openpyxl import load_workbook

    path = Path(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as err:
        raise InputFileError("review file not found", where=str(path),
                             fix="copy results/{sample}/candidates.xlsx there and edit it") from err
    except Exception as err:  # openpyxl raises several types for non-xlsx files
        raise InputFileError(f"cannot read as an .xlsx workbook ({type(err).__name__}: {err})",
                             where=str(path),
                             fix="save the review file as Excel .xlsx (not .xls/.csv)") from err
    for name in ("Review", "About"):
        if name not in wb.sheetnames:
            raise InputFileError(f"no sheet named {name!r}", where=str(path),
                                 fix="start from the candidates.xlsx NeoRank wrote; keep its "
                                     "sheet names")
    about = {str(r[0]): "" if r[1] is None else str(r[1])
             for r in wb["About"].iter_rows(min_row=2, values_only=True) if r and r[0]}
    rows = list(wb["Review"].iter_rows(values_only=True))
    wb.close()
    if not rows:
        raise InputFileError("the Review sheet is empty", where=f"{path} sheet Review",
                             fix="start from the candidates.xlsx NeoRank wrote")
    header = [str(h).strip().lower() if h is not None else "" for h in rows[0]]
    for column in ("candidate_id", "variant_id", "priority", "decision", "comment"):
        if column not in header:
            raise InputFileError(f"no column {column!r} in the header row",
                                 where=f"{path} sheet Review row 1",
                                 fix="keep the header row of the sheet NeoRank wrote")
    index = {name: header.index(name) for name in header if name}
    records = []
    valid = {d.lower(): d for d in DECISIONS}
    from openpyxl.utils import get_column_letter

    for number, values in enumerate(rows[1:], start=2):
        values = list(values) + [None] * (len(header) - len(values))
        cid = values[index["candidate_id"]]
        if cid is None or str(cid).strip() == "":
            if all(v is None or str(v).strip() == "" for v in values):
                continue  # a blank row (e.g. deleted contents)
            raise InputFileError("empty candidate_id", where=f"{path} sheet Review row {number}",
                                 fix="do not edit candidate_id; restore it or delete the row")
        raw = values[index["decision"]]
        text = "" if raw is None else str(raw).strip()
        if text and text.lower() not in valid:
            cell = f"{get_column_letter(index['decision'] + 1)}{number}"
            raise InputFileError(f"decision {text!r} is not one of {', '.join(DECISIONS)}",
                                 where=f"{path} sheet Review cell {cell}",
                                 fix="use the drop-down: Accept, Reject or Review (or leave blank)")
        priority = values[index["priority"]]
        try:
            priority = float(priority)
            if math.isnan(priority):
                raise ValueError
        except (TypeError, ValueError):
            cell = f"{get_column_letter(index['priority'] + 1)}{number}"
            raise InputFileError(f"priority {priority!r} is not a number",
                                 where=f"{path} sheet Review cell {cell}",
                                 fix="give a number (lower comes first)") from None
        comment = values[index["comment"]]
        records.append({"sheet_row": number, "candidate_id": str(cid).strip(),
                        "variant_id": str(values[index["variant_id"]] or "").strip(),
                        "priority": priority, "decision": valid.get(text.lower(), ""),
                        "comment": "" if comment is None else str(comment)})
    return about, pd.DataFrame(records, columns=["sheet_row", "candidate_id", "variant_id",
                                                 "priority", "decision", "comment"])


def known_candidate_ids(path: str | os.PathLike, wanted: set[str],
                        chunk_rows: int = CHUNK_ROWS) -> set[str]:
    """The ids of ``wanted`` that are a ``candidate_id`` of the candidates.tsv at
    ``path`` (read in blocks, only that column: memory follows ``wanted``)."""
    from neorank.tables import TableBlocks

    blocks = TableBlocks(path, ["candidate_id"], chunk_rows)
    if "candidate_id" not in blocks.columns:
        raise InputFileError("missing column candidate_id", where=str(path),
                             fix="pass candidates.tsv written by `neorank rank`")
    found: set[str] = set()
    for block in blocks:
        ids = block["candidate_id"].astype(str)
        found.update(ids[ids.isin(wanted)])
    return found


def final_order(review: pd.DataFrame, long_peptides: pd.DataFrame,
                candidates: pd.DataFrame | set[str],
                where: str = "review.xlsx") -> tuple[pd.DataFrame, dict[str, int]]:
    """Accepted rows in priority order, with sequences from ``long_peptides``.

    ``candidates``: candidates.tsv, or the set of its candidate ids (as text) that
    the sheet names (:func:`known_candidate_ids`); only membership is checked.
    """
    if not len(review) or not (review["decision"] != "").any():
        raise InputFileError(
            "no row of the Review sheet has a decision, so nothing is accepted",
            where=f"{where} sheet Review",
            fix="fill the decision column (Accept, Reject or Review) for the candidates you "
                "reviewed; a sheet that was never edited is not treated as accepted")
    known = candidates if isinstance(candidates, set) \
        else set(candidates["candidate_id"].astype(str))
    for row in review.itertuples(index=False):
        if row.candidate_id not in known:
            raise InputFileError(
                f"candidate {row.candidate_id} is not in the current candidates.tsv",
                where=f"{where} sheet Review row {row.sheet_row}",
                fix="the sheet comes from another run or sample; review the candidates.xlsx "
                    "written by this run")
    duplicated = review["candidate_id"].duplicated()
    if duplicated.any():
        row = review.loc[duplicated].iloc[0]
        raise InputFileError(f"candidate {row['candidate_id']} appears twice",
                             where=f"{where} sheet Review row {row['sheet_row']}",
                             fix="keep one row per candidate")
    counts = {d: int((review["decision"] == d).sum()) for d in DECISIONS}
    counts["pending"] = int((review["decision"] == "").sum())
    accepted = review.loc[review["decision"] == "Accept"].sort_values(
        ["priority", "sheet_row"], kind="mergesort")
    designs = long_peptides.set_index("candidate_id")
    rows = []
    for order, row in enumerate(accepted.itertuples(index=False), start=1):
        if row.candidate_id not in designs.index:
            raise InputFileError(
                f"candidate {row.candidate_id} has no long peptide in this run",
                where=f"{where} sheet Review row {row.sheet_row}",
                fix="review the candidates.xlsx written by this run")
        design = designs.loc[row.candidate_id]
        priority = int(row.priority) if float(row.priority).is_integer() else row.priority
        rows.append({"order": order, "priority": priority, "candidate_id": row.candidate_id,
                     "comment": row.comment or None,
                     **{c: design.get(c) for c in FINAL_COLUMNS
                        if c not in ("order", "priority", "candidate_id", "comment")}})
    return pd.DataFrame(rows, columns=FINAL_COLUMNS), counts


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank review-sheet`` and ``neorank final-order``."""
    sheet = subparsers.add_parser(
        "review-sheet", help="write candidates.xlsx with a Review sheet (Accept/Reject/Review)",
        description="Write the review workbook: Review, Aggregated, Binders and About sheets.")
    sheet.add_argument("--sample", required=True)
    sheet.add_argument("--candidates", required=True, help="candidates.tsv")
    sheet.add_argument("--aggregated", required=True, help="aggregated.tsv")
    sheet.add_argument("--long-peptides", required=True, help="long peptides (neorank vaccine)")
    sheet.add_argument("--vaccine-peptides", required=True, help="vaccine_peptides.tsv")
    sheet.add_argument("--vaccine-mrna", required=True, help="vaccine_mrna.tsv")
    sheet.add_argument("--out", required=True, help="candidates.xlsx")
    sheet.set_defaults(run=run_sheet)

    final = subparsers.add_parser(
        "final-order", help="re-import an edited candidates.xlsx and write final_order.tsv",
        description="Read the reviewer's decisions and write the accepted long peptides in "
                    "priority order.")
    final.add_argument("--sample", required=True)
    final.add_argument("--review", required=True, help="the edited candidates.xlsx")
    final.add_argument("--candidates", required=True, help="candidates.tsv of this run")
    final.add_argument("--long-peptides", required=True, help="long peptides of this run")
    final.add_argument("--out", required=True, help="final_order.tsv")
    final.set_defaults(run=run_final)


def read_candidates(path: str | os.PathLike,
                    chunk_rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the review sheet uses of candidates.tsv, read in blocks: its binder rows
    (every column, for the Binders sheet) and the first row of each variant in file
    order (``variant_id`` and ``tumor_vaf``, for :func:`review_rows`). Memory follows
    the binders and variants, not the table."""
    from neorank.tables import TableBlocks

    blocks = TableBlocks(path, chunk_rows=chunk_rows)
    if "binder" not in blocks.columns:
        raise InputFileError("missing column binder", where=str(path),
                             fix="pass candidates.tsv written by `neorank rank`")
    first_columns = [c for c in ("variant_id", "tumor_vaf") if c in blocks.columns]
    binders, firsts, seen = [], [], pd.Index([])
    for block in blocks:
        binders.append(block.loc[block["binder"].astype(str).str.lower() == "true"])
        if "variant_id" in first_columns:
            rows = block[first_columns].drop_duplicates("variant_id")
            rows = rows.loc[~rows["variant_id"].isin(seen)]
            seen = seen.append(pd.Index(rows["variant_id"]))
            firsts.append(rows)
    return blocks.concat(binders), blocks.concat(firsts, first_columns)


def run_sheet(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank review-sheet`` (candidates.tsv read in blocks of ``chunk_rows`` rows)."""
    from neorank.tables import read_table

    binders, firsts = read_candidates(args.candidates, chunk_rows)
    review = review_rows(read_table(args.long_peptides), read_table(args.vaccine_peptides),
                         read_table(args.vaccine_mrna), firsts)
    write_workbook(args.out, str(args.sample), review, read_table(args.aggregated), binders,
                   sha256_file(args.candidates))
    LOG.info("review sheet: %d variants to review -> %s", len(review), args.out)
    return 0


def run_final(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank final-order`` (candidates.tsv read in blocks of ``chunk_rows`` rows,
    only the candidate ids the sheet names are kept)."""
    from neorank.tables import read_table

    about, review = read_review(args.review)
    if about.get("sample") != str(args.sample):
        raise InputFileError(
            f"the review sheet is for sample {about.get('sample')!r}, not {args.sample!r}",
            where=f"{args.review} sheet About", fix="give each sample its own review file")
    candidates = known_candidate_ids(args.candidates, set(review["candidate_id"]), chunk_rows)
    if about.get("candidates_sha256") != sha256_file(args.candidates):
        LOG.warning("%s was made from another candidates.tsv; candidate ids are checked "
                    "against the current one", args.review)
    table, counts = final_order(review, read_table(args.long_peptides), candidates,
                                where=str(args.review))
    write_tsv(table, args.out)
    LOG.info("final order: %d accepted, %d rejected, %d marked Review, %d without a decision "
             "-> %s", counts["Accept"], counts["Reject"], counts["Review"], counts["pending"],
             args.out)
    if counts["Review"] or counts["pending"]:
        LOG.warning("%d candidate(s) still pending (Review or blank) are not in the order",
                    counts["Review"] + counts["pending"])
    return 0

