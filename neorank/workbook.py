"""The review workbook (candidates.xlsx): one way to write and read it.

A layer below the ``review_sheet`` stage (which writes the workbook) and the
``final_order`` stage (which reads the reviewer's edited copy back): the column
lists, how a sheet looks, the deterministic save and the re-import of the
Review sheet. openpyxl makes the workbook; the data rows' XML is written here
(:class:`SheetRows`, the text openpyxl writes for them).

Writing: openpyxl's write-only mode (``Workbook(write_only=True)``) for the
workbook, its styles and each sheet's header and settings; the data rows are
written by :class:`SheetRows` (openpyxl's XML for the same cells, 3.6x faster
than its per-cell writer on the 10k Binders sheet, held to its bytes by
tests/unit/test_workbook.py) to a
temporary file and put in the sheet on save, so memory follows one block of
rows, not the sheet. Every sheet (:func:`write_sheet`) gets a bold header, an autofilter
over the whole table, frozen panes (the header and the sheet's identifying
columns), column widths from the header and the first :data:`WIDTH_SAMPLE_ROWS`
rows (capped at :data:`MAX_WIDTH` characters; a bounded sample, so the widths do
not depend on how the rows were split into blocks), number formats by column
name (:func:`number_format`) and, on a ``tier`` column, a conditional format
(Pass green, Poor grey, other tiers amber). Text that would be an Excel formula
(``=...``) is stored as text. :func:`save_workbook` then rewrites the zip with
fixed entry and document times, so the same inputs give byte-identical files.

Reading: :func:`read_review` returns the About sheet as a dict and the
reviewer's columns of the Review sheet; columns are found by their header, so
a reviewer may reorder or add columns.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

from neorank.errors import InputFileError

DECISIONS = ("Accept", "Reject", "Review")
FIXED_TIME = dt.datetime(2000, 1, 1)

#: Review sheet columns that identify a row; frozen with the reviewer's columns.
IDENTIFYING_COLUMNS = ["priority", "variant_id", "gene_name", "protein_change"]
#: Review sheet columns the reviewer fills in (right after the identifying ones).
REVIEWER_COLUMNS = ["decision", "comment"]
REVIEW_COLUMNS = [
    *IDENTIFYING_COLUMNS, *REVIEWER_COLUMNS,
    "candidate_id", "effect", "tier", "score", "best_peptide", "best_allele",
    "best_affinity_nm", "best_percentile", "tumor_vaf", "long_peptide", "manufacturable",
    "manufacturability_flags", "in_peptide_design", "mrna_position", "vaccine_note",
]
#: Columns :func:`read_review` needs in the Review sheet's header.
READ_COLUMNS = ["candidate_id", "variant_id", "priority", "decision", "comment"]

#: Widest column, in characters.
MAX_WIDTH = 60
#: Rows (after the header) whose values set the column widths.
WIDTH_SAMPLE_ROWS = 1000
#: Rows per batch converted from a block to cells (bounds the Python objects held).
BATCH_ROWS = 1000
#: Rows of an Excel sheet, header included.
EXCEL_MAX_ROWS = 1_048_576

HEADER_FILL = "DDEBF7"
EDIT_FILL = "FFF2CC"
#: Conditional format of ``tier``: (fill, font) colours.
TIER_COLOURS = {"Pass": ("C6EFCE", "006100"), "Poor": ("D9D9D9", "595959"),
                "other": ("FFEB9C", "9C5700")}


def number_format(column: str) -> str | None:
    """The Excel number format of a column, by name: IC50 (nM) ``0.0``, percentile
    ``0.00``, VAF ``0.000``, score ``0.000000``; None: General."""
    if column.endswith("affinity_nm"):
        return "0.0"
    if column.endswith("percentile"):
        return "0.00"
    if column == "vaf" or column.endswith("_vaf"):
        return "0.000"
    if column == "score" or column.endswith("_score"):
        return "0.000000"
    return None


@dataclass
class Rows:
    """A sheet's table: its header and its rows as blocks (iterated once, in order)."""

    columns: list[str]
    blocks: Iterable[pd.DataFrame]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Rows:
        """A table already in memory."""
        return cls([str(c) for c in frame.columns], [frame])


def typed_blocks(table, select: Callable[[pd.DataFrame], Any] | None = None,
                 limit: int | None = None) -> Iterator[pd.DataFrame]:
    """The rows of ``table`` (a :class:`neorank.tables.TableBlocks` already iterated
    once, so that it knows every block's column types) block by block, each typed as
    in a whole-table read (:meth:`~neorank.tables.TableBlocks.concat`): a text column
    stays text in a block whose values look numeric. ``select(block)``: a row mask;
    ``limit``: stop after that many rows (the rest of the file is not read)."""
    remaining = limit
    if remaining is not None and remaining <= 0:
        return
    for block in table:
        part = block.loc[select(block)] if select is not None else block
        if remaining is not None:
            part = part.iloc[:remaining]
        if len(part):
            yield table.concat([part])
        if remaining is not None:
            remaining -= len(part)
            if remaining <= 0:
                return


def _records(frame: pd.DataFrame) -> list[tuple]:
    """Rows of ``frame`` as tuples of plain Python values (missing -> None)."""
    values = frame.astype(object).where(frame.notna(), None)
    return list(values.itertuples(index=False, name=None))


def _rows(table: Rows) -> Iterator[tuple]:
    """The rows of ``table`` one at a time, converted :data:`BATCH_ROWS` at a time."""
    for block in table.blocks:
        block = block.reindex(columns=table.columns)
        for start in range(0, len(block), BATCH_ROWS):
            yield from _records(block.iloc[start:start + BATCH_ROWS])


def _shown_width(value: Any, fmt: str | None) -> int:
    """Characters Excel shows for ``value`` in a cell of format ``fmt``."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 5
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return 4
        if fmt:
            return len(f"{value:.{len(fmt.partition('.')[2])}f}")
        return min(len(repr(value)), 11)  # General shows at most ~11 characters
    return max(len(line) for line in str(value).split("\n"))


def column_widths(columns: list[str], sample: list[tuple],
                  minimum: dict[str, int] | None = None) -> list[float]:
    """Widths (characters) from the header (plus the filter button) and ``sample``."""
    widths = []
    for i, name in enumerate(columns):
        fmt = number_format(name)
        content = max((_shown_width(row[i], fmt) for row in sample), default=0)
        width = max(len(name) + 3, content + 2, (minimum or {}).get(name, 0))
        widths.append(float(min(MAX_WIDTH, width)))
    return widths


def freeze_after(columns: list[str], identifying: Iterable[str]) -> str:
    """The top-left cell of the scrolling pane: below the header, right of the
    leading run of ``identifying`` columns."""
    from openpyxl.utils import get_column_letter

    wanted = set(identifying)
    n = 0
    while n < len(columns) and columns[n] in wanted:
        n += 1
    return f"{get_column_letter(n + 1)}2"


def write_sheet(wb, title: str, table: Rows, freeze: str = "A2",
                min_widths: dict[str, int] | None = None, edit_columns: Iterable[str] = (),
                wrap_columns: Iterable[str] = ()):
    """Append the sheet ``title`` to the write-only workbook ``wb`` (:func:`new_workbook`)
    with the rows of ``table`` (streamed); returns ``(worksheet, data rows written)``.

    ``freeze``: the top-left cell of the scrolling pane; ``min_widths``: least
    width of some columns; ``edit_columns``: cells filled as editable;
    ``wrap_columns``: cells with wrapped text. Data validations may still be
    added to the returned worksheet (they are written when the workbook is saved).

    openpyxl writes the header row and everything around the rows; the data rows
    go through :class:`SheetRows` (the XML openpyxl's per-cell writer gives, written
    a row at a time) and are put in the sheet when the workbook is saved.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    columns = list(table.columns)
    rows = _rows(table)
    sample = list(islice(rows, WIDTH_SAMPLE_ROWS))
    # Widths and panes are written before the first row (write-only mode).
    for i, width in enumerate(column_widths(columns, sample, min_widths), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = freeze

    bold, header_fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    header = []
    for name in columns:
        cell = WriteOnlyCell(ws, name)
        cell.font, cell.fill = bold, header_fill
        header.append(cell)
    ws.append(header)

    data = SheetRows(ws, columns, edit_columns, wrap_columns)
    wb.neorank_rows[ws] = data
    n = 0
    for values in chain(sample, rows):
        if n + 2 > EXCEL_MAX_ROWS:
            raise InputFileError(
                f"more than {EXCEL_MAX_ROWS - 1} rows do not fit an Excel sheet",
                where=f"sheet {title}", fix="write fewer rows to the sheet")
        data.append(values)
        n += 1
    data.flush()
    if columns:
        last = get_column_letter(len(columns))
        ws.auto_filter.ref = f"A1:{last}{n + 1}"
    if "tier" in columns:
        _format_tiers(ws, get_column_letter(columns.index("tier") + 1), max(n, 1) + 1)
    return ws, n


#: How "%.16g" prints the numbers openpyxl writes as an empty value.
_NON_FINITE = frozenset(("nan", "-nan", "inf", "-inf"))
#: Text longer than this is cut (an Excel cell's limit; openpyxl cuts it too).
_MAX_TEXT = 32767


class SheetRows:
    """The data rows of a write-only sheet as SpreadsheetML ``<row>`` elements, in a
    temporary file.

    openpyxl's per-cell writer (a cell object and an XML element a value, 50,000
    cells a second) was most of the time of a 100,000-row Binders sheet. The text
    written here is the text openpyxl writes for the same rows: numbers as
    ``"%.16g"`` (NaN and infinities empty), booleans as 1/0, text inline (cut at
    32,767 characters, ``xml:space="preserve"`` when it starts or ends in
    whitespace, an error code such as ``#N/A`` as an error value, ``=...`` as
    text, never a formula), empty cells left out unless styled. Cell styles
    (number formats by column name, the fill of editable columns, wrapped text)
    are openpyxl's: the first cell of each style is made with openpyxl and its
    style id used for the column, in the order openpyxl would have registered
    them, so styles.xml is unchanged too. tests/unit/test_workbook.py holds the
    bytes to openpyxl's own writer.
    """

    def __init__(self, ws, columns: list[str], edit_columns: Iterable[str] = (),
                 wrap_columns: Iterable[str] = ()):
        from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
        from openpyxl.utils import get_column_letter

        self.ws = ws
        self.columns = list(columns)
        self.letters = [get_column_letter(i + 1) for i in range(len(self.columns))]
        self.formats = [number_format(c) for c in self.columns]
        self.edit = {self.columns.index(c) for c in edit_columns if c in self.columns}
        self.wrap = {self.columns.index(c) for c in wrap_columns if c in self.columns}
        #: Columns whose every cell is styled (filled or wrapped), even when empty.
        self.always_styled = [i in self.edit or i in self.wrap for i in range(len(self.columns))]
        self._illegal = ILLEGAL_CHARACTERS_RE
        self._error_codes = frozenset(ERROR_CODES)  # text openpyxl writes as an error value
        self._style_ids: dict[tuple[int, bool], str] = {}
        self.file = tempfile.TemporaryFile()
        self.size = 0
        self._row = 1  # the header
        self._pending: list[str] = []

    def _style_id(self, i: int, numeric: bool) -> str:
        """The style id of column ``i``'s cells (``numeric``: a number in a column with
        a number format), registered with the workbook on first use."""
        key = (i, numeric)
        sid = self._style_ids.get(key)
        if sid is None:
            from openpyxl.cell import WriteOnlyCell
            from openpyxl.styles import Alignment, PatternFill

            cell = WriteOnlyCell(self.ws)
            if numeric:
                cell.number_format = self.formats[i]
            if i in self.edit:
                cell.fill = PatternFill("solid", fgColor=EDIT_FILL)
            if i in self.wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            sid = self._style_ids[key] = f' s="{cell.style_id}"'
        return sid

    def _text(self, value: str, ref: str) -> str:
        value = value[:_MAX_TEXT]
        if self._illegal.search(value):
            raise InputFileError(
                f"cell {ref} holds a control character Excel cannot store: {value[:60]!r}",
                where=f"sheet {self.ws.title} cell {ref}",
                fix="remove control characters from that field of the input table")
        return value

    def append(self, values: Iterable[Any]) -> None:
        """Add one row (plain Python values: None, str, bool, int, float)."""
        self._row += 1
        r = self._row
        letters, formats, always = self.letters, self.formats, self.always_styled
        cells = [f'<row r="{r}">']
        for i, value in enumerate(values):
            kind = type(value)
            if kind is str:
                ref = f"{letters[i]}{r}"
                style = self._style_id(i, False) if always[i] else ""
                text = self._text(value, ref)
                if not text:
                    cells.append(f'<c r="{ref}"{style} t="inlineStr" />')
                elif text in self._error_codes:
                    cells.append(f'<c r="{ref}"{style} t="e"><v>{text}</v></c>')
                else:
                    stripped = text.strip()
                    space = ' xml:space="preserve"' if stripped and stripped != text else ""
                    if "&" in text or "<" in text or ">" in text:
                        text = escape(text)  # &, <, > as ElementTree escapes text
                    cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>'
                                 f'{text}</t></is></c>')
            elif kind is float or kind is int:
                numeric = formats[i] is not None
                style = self._style_id(i, numeric) if numeric or always[i] else ""
                text = f"{value:.16g}"  # openpyxl: "%.16g" % value, the same text
                body = "<v />" if text in _NON_FINITE else f"<v>{text}</v>"
                cells.append(f'<c r="{letters[i]}{r}"{style} t="n">{body}</c>')
            elif value is None:
                if always[i]:
                    cells.append(f'<c r="{letters[i]}{r}"{self._style_id(i, False)} t="n" />')
            elif kind is bool:
                style = self._style_id(i, False) if always[i] else ""
                cells.append(f'<c r="{letters[i]}{r}"{style} t="b"><v>{int(value)}</v></c>')
            else:
                raise TypeError(f"cannot write a {kind.__name__} to sheet {self.ws.title} "
                                f"cell {letters[i]}{r}")
        cells.append("</row>")
        self._pending.append("".join(cells))
        if len(self._pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the rows held so far to the file."""
        if self._pending:
            data = "".join(self._pending).encode("utf-8")
            self.file.write(data)
            self.size += len(data)
            self._pending = []


def _format_tiers(ws, letter: str, last_row: int) -> None:
    """Conditional format of a tier column: Pass green, Poor grey, other tiers amber."""
    from openpyxl.formatting.rule import CellIsRule, FormulaRule
    from openpyxl.styles import Font, PatternFill

    def style(name):
        fill, font = TIER_COLOURS[name]
        return {"fill": PatternFill("solid", fgColor=fill, bgColor=fill),
                "font": Font(color=font)}

    cells = f"{letter}2:{letter}{last_row}"
    ws.conditional_formatting.add(cells, CellIsRule(operator="equal", formula=['"Pass"'],
                                                    stopIfTrue=True, **style("Pass")))
    ws.conditional_formatting.add(cells, CellIsRule(operator="equal", formula=['"Poor"'],
                                                    stopIfTrue=True, **style("Poor")))
    ws.conditional_formatting.add(cells, FormulaRule(formula=[f"LEN({letter}2)>0"],
                                                     **style("other")))


def new_workbook():
    """An empty write-only workbook with fixed document times."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    wb.properties.creator = "NeoRank"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    #: Each sheet's data rows (:class:`SheetRows`), put in the sheet on save.
    wb.neorank_rows = {}
    return wb


def save_workbook(wb, path: str | os.PathLike) -> None:
    """Save ``wb`` at ``path`` with deterministic bytes (atomically).

    openpyxl writes to a file beside the target (not memory: a Binders sheet of
    100,000 rows is ~100 MB of XML), then the zip is rewritten with fixed times.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(path.name + ".openpyxl.tmp")
    rows = getattr(wb, "neorank_rows", {})
    try:
        wb.save(str(raw))
        write_deterministic_zip(raw, path, {ws.path.lstrip("/"): data
                                            for ws, data in rows.items()})
    finally:
        raw.unlink(missing_ok=True)
        for data in rows.values():
            data.file.close()


def write_deterministic_zip(source_path: Path, path: Path,
                            rows: dict[str, SheetRows] | None = None) -> None:
    """Rewrite the xlsx zip at ``source_path`` to ``path`` with fixed entry and document
    times (openpyxl stamps the current time on both); entries are copied in 1 MiB
    pieces, never whole (same bytes: zipfile compresses a stream as it compresses one
    string). ``rows``: worksheet part (``xl/worksheets/sheet1.xml``) -> its data rows,
    put after the header row."""
    rows = rows or {}
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
            if info.filename in rows:
                _write_sheet_entry(target, entry, source.read(info.filename),
                                   rows[info.filename])
                continue
            # writestr() sets file_size from the data; a stream needs it up front
            # (it decides the zip64 header as writestr would).
            entry.file_size = info.file_size
            with source.open(info) as src, target.open(entry, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, path)


def _write_sheet_entry(target: zipfile.ZipFile, entry: zipfile.ZipInfo, sheet: bytes,
                       data: SheetRows) -> None:
    """Write a worksheet part openpyxl saved with its header row only, with ``data``'s
    rows after the header (streamed from the file)."""
    end = sheet.find(b"</sheetData>")
    if end < 0:
        raise RuntimeError(f"{entry.filename}: openpyxl wrote no sheetData element")
    entry.file_size = len(sheet) + data.size
    data.file.seek(0)
    with target.open(entry, "w") as dst:
        dst.write(sheet[:end])
        shutil.copyfileobj(data.file, dst, 1 << 20)
        dst.write(sheet[end:])


# --------------------------------------------------------------------------- reading


def read_review(path: str | os.PathLike) -> tuple[dict[str, str], pd.DataFrame]:
    """Read an (edited) candidates.xlsx: ``(about, review rows)``.

    ``about``: the About sheet's key/value rows (values as text). The review rows
    have ``sheet_row`` (1-based Excel row), ``candidate_id``, ``variant_id``,
    ``priority``, ``decision`` (normalised or ``""``) and ``comment``.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

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
    about = {str(r[0]): "" if len(r) < 2 or r[1] is None else str(r[1])
             for r in wb["About"].iter_rows(min_row=2, values_only=True) if r and r[0]}
    rows = list(wb["Review"].iter_rows(values_only=True))
    wb.close()
    if not rows:
        raise InputFileError("the Review sheet is empty", where=f"{path} sheet Review",
                             fix="start from the candidates.xlsx NeoRank wrote")
    header = [str(h).strip().lower() if h is not None else "" for h in rows[0]]
    for column in READ_COLUMNS:
        if column not in header:
            raise InputFileError(f"no column {column!r} in the header row",
                                 where=f"{path} sheet Review row 1",
                                 fix="keep the header row of the sheet NeoRank wrote")
    index = {name: header.index(name) for name in header if name}
    records = []
    valid = {d.lower(): d for d in DECISIONS}
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
