"""neorank.workbook.SheetRows writes the data rows openpyxl's own per-cell writer writes.

The reference below is how the review workbook's rows were written before (one
openpyxl ``WriteOnlyCell`` per styled value, ``ws.append`` per row): a workbook
written with it and one written with :class:`SheetRows` must be the same bytes,
on values chosen to reach every branch (escapes, whitespace, error codes,
formula-like text, empty text, infinities, big integers, booleans, styled empty
cells, numbers in formatted and editable columns, text over Excel's limit).
"""

from __future__ import annotations

import math
import zipfile

import openpyxl
import pandas as pd
import pytest

from neorank import workbook
from neorank.errors import InputFileError
from neorank.workbook import Rows, SheetRows


class OpenpyxlRows:
    """The reference: rows appended through openpyxl's per-cell writer."""

    def __init__(self, ws, columns, edit_columns=(), wrap_columns=()):
        from openpyxl.styles import Alignment, PatternFill

        self.ws = ws
        self.formats = [workbook.number_format(c) for c in columns]
        self.edit = {columns.index(c) for c in edit_columns if c in columns}
        self.wrap = {columns.index(c) for c in wrap_columns if c in columns}
        self.fill = PatternFill("solid", fgColor=workbook.EDIT_FILL)
        self.wrapped = Alignment(wrap_text=True, vertical="top")
        self.file = open("/dev/null", "rb")  # nothing to put in the sheet on save
        self.size = 0

    def append(self, values):
        from openpyxl.cell import WriteOnlyCell

        row = list(values)
        for i, value in enumerate(row):
            if i not in self.edit and i not in self.wrap:
                if value is None or isinstance(value, bool):
                    continue
                if isinstance(value, str) and not value.startswith("="):
                    continue
                if not isinstance(value, str) and self.formats[i] is None:
                    continue
            cell = WriteOnlyCell(self.ws, value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"
            elif (self.formats[i] and isinstance(value, int | float)
                  and not isinstance(value, bool)):
                cell.number_format = self.formats[i]
            if i in self.edit:
                cell.fill = self.fill
            if i in self.wrap:
                cell.alignment = self.wrapped
            row[i] = cell
        self.ws.append(row)

    def flush(self):
        pass


TEXTS = ["plain", "a & b < c > d \"q\" 'a'", "  leading", "trailing  ", "   ", "",
         "=SUM(A1:A2)", "=", "#N/A", "#DIV/0!", "line\nbreak", "tab\tinside",
         "x" * 40_000, "ünïcødé ✓", "HLA-A*02:01"]
NUMBERS = [0, 1, -7, 2**53 + 1, 10**17, 0.1 + 0.2, -0.0, 1e-7, 1e20, 123.456789,
           math.inf, -math.inf, 0.5]


def _table(rows: int = 60) -> pd.DataFrame:
    """Columns of every kind the workbook writes, cycling through edge values."""
    data = {
        "rank": list(range(1, rows + 1)),
        "name": [TEXTS[i % len(TEXTS)] for i in range(rows)],
        "best_affinity_nm": [NUMBERS[i % len(NUMBERS)] for i in range(rows)],
        "best_percentile": [None if i % 4 == 0 else i / 7 for i in range(rows)],
        "tumor_vaf": [TEXTS[i % len(TEXTS)] if i % 5 == 0 else i / 97 for i in range(rows)],
        "score": [True if i % 3 == 0 else NUMBERS[i % len(NUMBERS)] for i in range(rows)],
        "binder": [i % 2 == 0 for i in range(rows)],
        "tier": [("Pass", "Poor", "Relaxed", None)[i % 4] for i in range(rows)],
        "decision": [(None, "Accept", 3, "")[i % 4] for i in range(rows)],
        "comment": [TEXTS[(i + 3) % len(TEXTS)] if i % 2 else None for i in range(rows)],
        "note": [TEXTS[(i + 5) % len(TEXTS)] for i in range(rows)],
        "empty": [None] * rows,
    }
    return pd.DataFrame(data)


def _blocks(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """``frame`` in typed blocks with a row of no value at all between them."""
    empty = pd.DataFrame([[None] * frame.shape[1]], columns=frame.columns)
    return [frame.iloc[:25], empty, frame.iloc[25:]]


def _write(path, writer, monkeypatch, frame):
    monkeypatch.setattr(workbook, "SheetRows", writer)
    wb = workbook.new_workbook()
    workbook.write_sheet(wb, "Review", Rows.of(frame), edit_columns=["decision", "comment"],
                         min_widths={"comment": 30})
    workbook.write_sheet(wb, "Binders", Rows(list(frame.columns), _blocks(frame)), freeze="C2")
    workbook.write_sheet(wb, "About", Rows.of(frame[["name", "note"]]), wrap_columns=["note"])
    workbook.save_workbook(wb, path)


def test_rows_are_the_bytes_openpyxl_writes(tmp_path, monkeypatch):
    frame = _table()
    reference, fast = tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx"
    _write(reference, OpenpyxlRows, monkeypatch, frame)
    _write(fast, SheetRows, monkeypatch, frame)
    with zipfile.ZipFile(reference) as a, zipfile.ZipFile(fast) as b:
        assert a.namelist() == b.namelist()
        assert b"<v />" in b.read("xl/worksheets/sheet2.xml")  # the infinities
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    assert reference.read_bytes() == fast.read_bytes()


def test_rows_read_back_as_written(tmp_path, monkeypatch):
    frame = _table()
    path = tmp_path / "fast.xlsx"
    _write(path, SheetRows, monkeypatch, frame)
    wb = openpyxl.load_workbook(path)
    ws = wb["Binders"]
    assert [c.value for c in ws[1]] == list(frame.columns)
    records = [row for block in _blocks(frame) for row in workbook._records(block)]
    assert ws.max_row == len(records) + 1
    for r, expected in enumerate(records, start=2):
        got = [c.value for c in ws[r]]
        for column, want, value in zip(frame.columns, expected, got, strict=True):
            if isinstance(want, float) and not math.isfinite(want):
                assert value is None, (r, column)
            elif isinstance(want, str):
                if want == "":
                    assert value is None, (r, column)
                else:
                    assert value == want[:32767], (r, column)
            elif isinstance(want, int | float) and not isinstance(want, bool):
                # Excel holds 16 significant digits, as openpyxl writes them.
                assert float(value) == float(f"{want:.16g}"), (r, column)
            else:
                assert value == want, (r, column)
    formatted = ws["C2"]
    assert formatted.number_format == "0.0"
    assert wb["Review"]["I3"].fill.fgColor.rgb.endswith(workbook.EDIT_FILL)
    assert wb["About"]["B2"].alignment.wrap_text


def test_control_character_names_sheet_and_cell(tmp_path):
    wb = workbook.new_workbook()
    frame = pd.DataFrame({"a": ["fine", "bad\x07bell"]})
    with pytest.raises(InputFileError, match=r"sheet Binders cell A3"):
        workbook.write_sheet(wb, "Binders", Rows.of(frame))
    for ws in wb.worksheets:  # end openpyxl's half-written sheet before it is collected
        ws.close()


def test_rows_are_the_bytes_openpyxl_writes_across_batches(tmp_path, monkeypatch):
    """Rows over several batches (BATCH_ROWS rows are converted at a time): styles
    first met in a later batch (a formatted column empty at first, an editable column
    filled late), nullable integer and boolean columns, text columns with special
    cells in some batches only (an escape, an error code, end whitespace): ampersands,
    a leading space, error codes, a trailing line break."""
    rows = 2 * workbook.BATCH_ROWS + 600
    late = workbook.BATCH_ROWS + 500
    frame = pd.DataFrame({
        "variant_id": [f"1:{i}:A>T" for i in range(rows)],
        "late_score": [None if i < late else i / 3 for i in range(rows)],
        "best_affinity_nm": [float(i) * 1.5 for i in range(rows)],
        # a second formatted column whose first number comes before late_score's
        "best_percentile": [None if i < late - 10 else i / 7 for i in range(rows)],
        "effect": ["x & y" if i % 10 == 0 else "missense" for i in range(rows)],
        "protein_change": [" p.X" if i % 9 == 0 else "p.A1B" for i in range(rows)],
        "allele": ["#N/A" if i % 11 == 0 else "HLA-A*02:01" for i in range(rows)],
        "transcript_ids": ["ENST1\n" if i % 13 == 0 else "ENST2;ENST3" for i in range(rows)],
        "decision": [None if i < late else ("Accept", "", "Reject")[i % 3]
                     for i in range(rows)],
        "depth": pd.array([None if i % 7 == 0 else i for i in range(rows)], dtype="Int64"),
        "self_match": pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(rows)],
                               dtype="boolean"),
        "gene_name": [("TP53", "A & B", "#N/A", " x")[i % 4] if i > late else "KRAS"
                      for i in range(rows)],
        "count": list(range(rows)),
        "binder": [i % 3 == 0 for i in range(rows)],
    })
    reference, fast = tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx"
    for path, writer in ((reference, OpenpyxlRows), (fast, SheetRows)):
        monkeypatch.setattr(workbook, "SheetRows", writer)
        wb = workbook.new_workbook()
        workbook.write_sheet(wb, "Review", Rows.of(frame), edit_columns=["decision"])
        workbook.write_sheet(wb, "Binders", Rows(list(frame.columns),
                                                 [frame.iloc[:700], frame.iloc[700:]]))
        workbook.save_workbook(wb, path)
    assert reference.read_bytes() == fast.read_bytes()
