"""Deterministic table I/O shared by every stage.

Tables are tab-separated, UTF-8, ``\\n`` line endings, a fixed float format and
no index, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

FLOAT_FORMAT = "%.6g"
NA = "NA"
#: Rows per chunk when a large table (predictions, candidates) is streamed.
CHUNK_ROWS = 250_000


#: Rows converted to text at a time by :func:`write_rows`.
WRITE_ROWS = 50_000


def _cells(column: pd.Series) -> list:
    """One column's cells as ``csv.writer`` should print them (missing -> ``NA``)."""
    missing = column.isna().to_numpy()
    values = column.tolist()
    if column.dtype.kind == "f":
        return [NA if m else FLOAT_FORMAT % v for v, m in zip(values, missing, strict=True)]
    if not missing.any():
        return values
    return [NA if m else v for v, m in zip(values, missing, strict=True)]


def write_rows(handle, frame: pd.DataFrame, header: bool = True) -> None:
    """Write ``frame`` to an open text ``handle`` in NeoRank's TSV format.

    The same bytes as ``frame.to_csv(handle, sep="\\t", index=False,
    float_format=FLOAT_FORMAT, na_rep=NA, lineterminator="\\n")`` (a test compares
    them), several times faster: the cells of float, integer, bool and text columns
    become text in Arrow (:func:`_arrow_texts`) and Arrow's CSV writer prints the
    rows; pandas checks and formats every float cell through several Python calls,
    which made writing, not ranking, most of ``neorank rank``'s time at 10,000
    variants.
    """
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    if header:
        writer.writerow([str(c) for c in frame.columns])
    for start in range(0, len(frame), WRITE_ROWS):
        block = frame.iloc[start:start + WRITE_ROWS]
        columns = [block.iloc[:, i] for i in range(block.shape[1])]
        text = _arrow_text(columns) if len(columns) > 1 else None
        if text is None:
            writer.writerows(zip(*(_cells(c) for c in columns), strict=True))
        else:
            handle.write(text)


#: Floats whose ``%.<d>g`` text is the shortest text of their rounded value (fixed
#: notation): ``1e-4 <= |v| < 10**d`` after rounding to ``d`` digits, and zero.
_FIXED_LOW = 1e-4


def float_texts(values: np.ndarray, digits: int = 6):
    """``"%.<digits>g" % v`` of every float (FLOAT_FORMAT by default) as an Arrow string
    array (missing values are ``NA``), vectorised.

    For ``v`` rounded to ``digits`` significant digits (:func:`tsv_rounded_array`, bit
    for bit ``float("%.<digits>g" % v)``) the shortest text that reads back as the
    same double is the decimal ``%g`` prints, without trailing zeros; in ``%g``'s
    fixed range (decimal exponent -4 to ``digits - 1``) both print it in plain
    notation, and Arrow's float-to-text cast prints that shortest text. Values outside
    that range (and infinities) are printed by Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    rounded = tsv_rounded_array(values, digits)
    magnitude = np.abs(rounded)
    with np.errstate(invalid="ignore"):
        fixed = ((magnitude >= _FIXED_LOW) & (magnitude < 10.0 ** digits)) | (values == 0)
    texts = pa.array(rounded).cast(pa.string())
    other = ~fixed & ~missing
    if other.any():
        form = f"%.{digits}g"
        texts = pc.replace_with_mask(texts, pa.array(other), pa.array(
            [form % v for v in values[other].tolist()], type=pa.string()))
    if missing.any():
        texts = pc.replace_with_mask(texts, pa.array(missing),
                                     pa.array([NA] * int(missing.sum()), type=pa.string()))
    return texts


def _arrow_texts(column: pd.Series):
    """One column's cells as an Arrow string array holding the text csv.writer prints
    (missing -> ``NA``): float, integer and bool columns formatted in Arrow, Arrow-backed
    text passed through; other columns through :func:`_cells`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = column.to_numpy()
        if dtype.kind == "f":
            return float_texts(values)
        if dtype.kind == "b":
            return pc.if_else(pa.array(values), "True", "False")
        return pa.array(values).cast(pa.string())
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        texts = pa.array(column.array)
        return pc.fill_null(texts, NA) if texts.null_count else texts
    return _arrow_column(_cells(column))


def _arrow_column(cells: list):
    """One column's cells as an Arrow string array holding the text csv.writer prints."""
    import pyarrow as pa

    try:
        return pa.array(cells, type=pa.string())  # every cell already text: no Python loop
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array(["" if c is None else c if type(c) is str else str(c) for c in cells],
                        type=pa.string())


def _arrow_text(columns: list[pd.Series]) -> str | None:
    """The rows csv.writer would print for these columns, printed by Arrow's C++ CSV
    writer (several times faster), or None when a cell holds a tab, quote or line break:
    csv.writer quotes those, Arrow's unquoted mode refuses them, and the caller then
    prints the block with csv.writer. (A one-column table differs - csv.writer quotes an
    empty row - and is never passed here.)"""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.table([_arrow_texts(c) for c in columns],
                     names=[str(i) for i in range(len(columns))])
    sink = pa.BufferOutputStream()
    try:
        pa_csv.write_csv(table, sink, pa_csv.WriteOptions(
            include_header=False, delimiter="\t", quoting_style="none"))
    except pa.ArrowInvalid:
        return None
    return sink.getvalue().to_pybytes().decode("utf-8")


@functools.cache
def _flat_json_encoder(level: int):
    """CPython's C JSON encoder printing members one per line at ``level`` (indent 2)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Python without the _json accelerator
        return None

    def default(value):
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    return make(None, default, json.encoder.encode_basestring_ascii, None, ": ",
                ",\n" + "  " * level, False, False, False)


_CONTAINERS = (dict, list, tuple)
_ENCODE_KEY = json.encoder.encode_basestring_ascii


def _json_lines(value, level: int, out: list[str]) -> None:
    kind = type(value)
    if kind not in _CONTAINERS and not isinstance(value, _CONTAINERS) or not value:
        out.append(json.dumps(value, allow_nan=False))
        return
    is_dict = isinstance(value, dict)
    members = value.values() if is_dict else value
    for member in members:
        if type(member) in _CONTAINERS or isinstance(member, _CONTAINERS):
            break
    else:
        flat = _flat_json_encoder(level + 1)
        if flat is not None:  # scalars only: one C call prints the container
            text = "".join(flat(value, 0))
            out.append(f"{text[0]}\n{'  ' * (level + 1)}{text[1:-1]}\n{'  ' * level}{text[-1]}")
            return
    inner, outer = "\n" + "  " * (level + 1), "\n" + "  " * level
    if is_dict:
        if not all(type(k) is str for k in value):
            out.append(json.dumps(value, indent=2, separators=(",", ": "), allow_nan=False)
                       .replace("\n", outer))
            return
        separator = "{" + inner
        for key, member in value.items():
            out.append(f"{separator}{_ENCODE_KEY(key)}: ")
            separator = "," + inner
            _json_lines(member, level + 1, out)
        out.append(outer + "}")
        return
    separator = "[" + inner
    for member in value:
        out.append(separator)
        separator = "," + inner
        _json_lines(member, level + 1, out)
    out.append(outer + "]")


_COMPACT_JSON = json.JSONEncoder(separators=(",", ": "), allow_nan=False)
#: JSON's structural characters, as byte values.
_SQUARE, _CURLY, _COMMA, _QUOTE = (ord(c) for c in "[{,\"")


def _json_reindented(compact: str, level: int) -> str:
    """The compact text ``compact`` (``,`` between members, no backslash in it) laid out
    as ``json.dumps(indent=2)`` lays it out, ``level`` steps further in.

    Outside strings (a quote is always a string's first or last character when no
    backslash escapes one), a line break and the indent of the depth come after each
    ``[``, ``{`` and ``,`` and before each ``]`` and ``}``, except inside an empty
    container; the text is placed in a buffer of spaces at its shifted positions, so
    the indents are what is left.
    """
    text = np.frombuffer(compact.encode("ascii"), np.uint8)
    outside = np.cumsum(text == _QUOTE) % 2 == 0  # (quotes themselves are no structure)
    # "]" and "}" are "[" and "{" plus 2.
    opens = ((text == _SQUARE) | (text == _CURLY)) & outside
    closes = ((text == _SQUARE + 2) | (text == _CURLY + 2)) & outside
    depth = np.cumsum(opens.astype(np.int64) - closes)  # after each character
    empty = opens[:-1] & closes[1:]  # "[]", "{}": an opening followed by its closing
    opens[:-1] &= ~empty
    closes[1:] &= ~empty
    after = np.flatnonzero(opens | ((text == _COMMA) & outside))
    before = np.flatnonzero(closes)
    # A break before byte x: after an opening or a comma at p (x = p + 1), before a
    # closing at p (x = p); no two fall on the same byte.
    at = np.concatenate([after + 1, before])
    width = 1 + 2 * (np.concatenate([depth[after], depth[before]]) + level)
    inserted = np.zeros(len(text) + 1, np.int64)
    inserted[at] = width
    shift = np.cumsum(inserted)
    out = np.full(len(text) + int(shift[-1]), ord(" "), np.uint8)
    out[np.arange(len(text)) + shift[:-1]] = text
    out[at + shift[at] - width] = ord("\n")
    return out.tobytes().decode("ascii")


def json_indented(value, level: int = 0) -> str:
    """``json.dumps(value, indent=2, separators=(",", ": "), allow_nan=False)``, the same
    text, with every continuation line indented by ``level`` more steps of 2 spaces.

    Python's indenting encoder is pure Python (the C encoder does not indent): a
    document of hundreds of MB (pVACseq's metrics.json at 10,000 variants) took most
    of ``neorank aggregate``. Here the C encoder prints the value compactly and
    :func:`_json_reindented` lays it out with numpy. A text with a backslash (an
    escaped quote may stand inside a string) is printed the slower way: every
    container whose members are all scalars by one call of the C encoder (with
    ``,\\n`` plus the indent as the item separator), containers holding containers
    walked in Python.
    """
    compact = _COMPACT_JSON.encode(value)
    if "\\" not in compact:
        return _json_reindented(compact, level)
    out: list[str] = []
    _json_lines(value, level, out)
    return "".join(out)


def tsv_text(frame: pd.DataFrame, header: bool = True) -> str:
    """:func:`write_rows` into a string."""
    buffer = StringIO()
    write_rows(buffer, frame, header)
    return buffer.getvalue()


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike, columns: Iterable[str] | None = None) -> None:
    """Write ``frame`` as TSV atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if columns is not None:
        frame = frame.reindex(columns=list(columns))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        write_rows(handle, frame)
    os.replace(tmp, path)


def read_tsv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a NeoRank TSV; ``NA`` cells become missing values."""
    return pd.read_csv(path, sep="\t", na_values=[NA], keep_default_na=False, **kwargs)


def tsv_columns(path: str | os.PathLike) -> list[str]:
    """The header of a NeoRank TSV."""
    return [str(c) for c in pd.read_csv(path, sep="\t", nrows=0).columns]


def read_tsv_chunks(path: str | os.PathLike, columns: Iterable[str] | None = None,
                    chunk_rows: int = CHUNK_ROWS, **kwargs) -> Iterator[pd.DataFrame]:
    """Stream a NeoRank TSV in blocks of ``chunk_rows`` rows (file order).

    ``columns``: read only these (names absent from the header are skipped, so
    callers check required columns themselves). Memory stays bounded by one block
    whatever the table size (a 100k-variant sample has tens of millions of
    candidate rows).
    """
    if columns is not None:
        header = set(tsv_columns(path))
        kwargs["usecols"] = [c for c in dict.fromkeys(columns) if c in header]
    reader = pd.read_csv(path, sep="\t", na_values=[NA], keep_default_na=False,
                         chunksize=chunk_rows, **kwargs)
    with reader:
        while True:
            # pandas guesses types per piece of a block and warns when a sparse text
            # column (merged_variant_ids, in_cis) looks different in two pieces;
            # callers read text columns as text or reconcile block types
            # (tables.TableBlocks). Only the parsing of a block is silenced.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                block = next(reader, None)
            if block is None:
                return
            yield block


# --------------------------------------------------------------------------- Parquet
#: Suffix of the columnar (Apache Parquet) form of a machine-read table.
PARQUET_SUFFIX = ".parquet"


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a Parquet table (by its suffix); TSV otherwise."""
    return str(path).endswith(PARQUET_SUFFIX)


def tsv_rounded(values: Iterable[float]) -> list[float]:
    """Each float as NeoRank's TSV writes and reads it back (``%.6g``): a Parquet
    table holds the values a stage would have read from the TSV, so the stages
    after it give the same bytes whichever form they read."""
    return tsv_rounded_array(np.asarray(list(values), dtype=float)).tolist()


#: Significant digits of FLOAT_FORMAT.
_DIGITS = 6
#: Powers of ten that are exact doubles (10**0 .. 10**22).
_EXACT_POWERS = 22


def tsv_rounded_array(values: np.ndarray, digits: int = _DIGITS) -> np.ndarray:
    """:func:`tsv_rounded` of a float array, vectorised: ``float("%.6g" % v)`` for every
    element, bit for bit (``digits`` other than 6: ``float("%.<digits>g" % v)``).

    For ``v = q * 10**k`` with ``10**5 <= q < 10**6``, ``%.6g`` prints the integer
    ``n`` nearest ``q``, and reading it back gives the double nearest ``n * 10**k``,
    which one IEEE multiplication or division by the exact double ``10**|k|`` also
    gives. ``q`` computed in floating point is off by a few units in the last place,
    so elements whose ``q`` lies within 1e-6 of a rounding tie, outside the digit
    range or with ``|k| > 22`` are formatted by Python (as before). Zeros, infinities
    and NaN (missing values: a table's sparse evidence columns) read back as themselves.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    magnitude = np.abs(values)
    usable = np.isfinite(values) & (magnitude > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = np.floor(np.log10(np.where(usable, magnitude, 1.0))).astype(np.int64)
        k = exponent - (digits - 1)
        usable &= np.abs(k) <= _EXACT_POWERS
        power = 10.0 ** np.abs(np.where(usable, k, 0))
        scaled = np.where(k >= 0, magnitude / power, magnitude * power)
        whole = np.rint(scaled)
        tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
        usable &= ~tie & (whole >= 10 ** (digits - 1)) & (whole < 10 ** digits)
        rounded = np.where(k >= 0, whole * power, whole / power)
    out[usable] = np.copysign(rounded[usable], values[usable])
    same = ~np.isfinite(values) | (values == 0)
    out[same] = values[same]
    rest = np.flatnonzero(~usable & ~same)
    form = f"%.{digits}g"
    out[rest] = [float(form % v) for v in values[rest].tolist()]
    return out


class ParquetRows:
    """Write a table to Parquet in blocks (one row group per :meth:`write`),
    atomically (temp file renamed on :meth:`close`).

    The schema is fixed by the first block: a column in ``text_columns``, or of
    object/string dtype, is a string; bool -> bool, integer -> int64 (missing values
    kept as nulls in later blocks), float -> float64 rounded by :func:`tsv_rounded`.
    ``types`` overrides the kind of named columns (``"text"``, ``"bool"``,
    ``"int"``, ``"float"``): columns that may be missing in some blocks, whose
    dtype pandas would otherwise guess per block. Read back with pyarrow's
    ``to_pandas`` a block has the dtypes ``read_tsv`` gives the same rows.
    """

    def __init__(self, path: str | os.PathLike, text_columns: Iterable[str] = (),
                 types: dict[str, str] | None = None):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.text = set(text_columns)
        self.types = dict(types or {})
        self.kinds: dict[str, str] | None = None
        self.writer = None
        self.rows = 0

    def _kind(self, name: str, column: pd.Series) -> str:
        if name in self.types:
            return self.types[name]
        if name in self.text or column.dtype.kind in "OSUT" or isinstance(
                column.dtype, pd.StringDtype):
            return "text"
        return {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(column.dtype.kind, "text")

    def _array(self, column: pd.Series, kind: str):
        import numpy as np
        import pyarrow as pa

        missing = column.isna().to_numpy()
        if kind == "text":
            # The text write_rows would print (floats through FLOAT_FORMAT).
            text = (lambda v: FLOAT_FORMAT % v) if column.dtype.kind == "f" else str
            values = [None if m else text(v) for v, m in zip(column.tolist(), missing,
                                                             strict=True)]
            return pa.array(values, type=pa.string())
        if kind == "bool":
            return pa.array([None if m else bool(v) for v, m in zip(column.tolist(), missing,
                                                                    strict=True)],
                            type=pa.bool_())
        if kind == "int":
            values = np.where(missing, 0, pd.to_numeric(column).fillna(0)).astype(np.int64)
            return pa.array(values, type=pa.int64(), mask=missing)
        values = tsv_rounded_array(pd.to_numeric(column).astype(float).to_numpy())
        return pa.array(values, type=pa.float64(), mask=missing)

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.kinds is None:
            self.kinds = {str(c): self._kind(str(c), frame[c]) for c in frame.columns}
        elif list(self.kinds) != [str(c) for c in frame.columns]:
            raise ValueError(f"{self.path}: a block has other columns than the first")
        table = pa.table({name: self._array(frame[name], kind)
                          for name, kind in self.kinds.items()})
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(str(self.tmp), table.schema, compression="zstd")
        self.writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is None:
            raise ValueError(f"{self.path}: no block written (not even an empty one)")
        self.writer.close()
        os.replace(self.tmp, self.path)


def _arrow_kinds():
    """The Arrow type of each column kind of :class:`ParquetFromTsv`."""
    import pyarrow as pa

    return {"text": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


class ParquetFromTsv:
    """The Parquet form of a NeoRank TSV, written from the TSV's text as it is produced.

    :meth:`write` takes whole data lines (no header) in file order; Arrow's CSV reader
    parses each piece with the column ``kinds`` given (``"text"``, ``"int"``,
    ``"float"``, ``"bool"``; ``NA`` is missing, as in :func:`read_tsv`) and the rows go to
    the Parquet file as one row group, in a background thread (Arrow releases the
    interpreter lock), so the caller goes on producing the next piece meanwhile. The
    floats are those of the text (correctly rounded, as Python's ``float`` reads
    them), so a stage reading either form reads the same values. Written atomically:
    a temporary file renamed by :meth:`close`; leaving the ``with`` block on an error
    removes it.
    """

    def __init__(self, path: str | os.PathLike, columns: Iterable[str],
                 kinds: dict[str, str]) -> None:
        import concurrent.futures

        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.columns = [str(c) for c in columns]
        arrow = _arrow_kinds()
        self.schema = pa.schema([(c, arrow[kinds[c]]) for c in self.columns])
        self.rows = 0
        self._options = (
            pa_csv.ReadOptions(column_names=self.columns),
            pa_csv.ParseOptions(delimiter="\t"),
            pa_csv.ConvertOptions(column_types=self.schema, null_values=[NA],
                                  true_values=["True"], false_values=["False"],
                                  strings_can_be_null=True, quoted_strings_can_be_null=False))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(self.tmp), self.schema, compression="zstd")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._pending = None

    def _write(self, data: bytes) -> int:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        read, parse, convert = self._options
        table = pa_csv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse,
                                convert_options=convert)
        self._writer.write_table(table)
        return table.num_rows

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.rows += pending.result()

    def write(self, text: str) -> None:
        """Queue whole TSV data lines (waits for the piece before, at most one behind)."""
        if not text:
            return
        self._wait()
        self._pending = self._pool.submit(self._write, text.encode("utf-8"))

    def close(self) -> None:
        """Write what is queued, close the file and move it into place."""
        self._wait()
        self._pool.shutdown()
        self._writer.close()
        os.replace(self.tmp, self.path)

    def __enter__(self) -> ParquetFromTsv:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tmp.exists():  # not closed: an error on the way
            import pyarrow as pa

            self._pool.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(OSError, pa.ArrowException):
                self._writer.close()
            self.tmp.unlink(missing_ok=True)


def parquet_columns(path: str | os.PathLike) -> list[str]:
    """The column names of a Parquet table."""
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(str(path)).schema_arrow.names)


def read_parquet_chunks(path: str | os.PathLike, columns: Iterable[str] | None = None,
                        chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Stream a Parquet table in blocks of at most ``chunk_rows`` rows within one row
    group (file order), reading only ``columns`` (names absent from the table are
    skipped). Yields at least one (possibly empty) block, as :func:`read_tsv_chunks`
    does for a header-only TSV. A bool column with missing values holds NaN for them, as
    :func:`read_tsv` gives it (Arrow gives None)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(str(path))
    names = handle.schema_arrow.names
    wanted = names if columns is None else [c for c in dict.fromkeys(columns) if c in names]
    bools = [c for c in wanted if handle.schema_arrow.field(c).type == pa.bool_()]
    empty = True
    # Row group by row group: ParquetFile.iter_batches reads ahead and held 2.1 GB over
    # the 100,000-variant candidates.parquet, one row group at a time 0.25 GB.
    for group in range(handle.num_row_groups):
        table = handle.read_row_group(group, columns=wanted)
        for start in range(0, table.num_rows, chunk_rows):
            empty = False
            block = table.slice(start, chunk_rows).to_pandas()
            for name in bools:
                if block[name].dtype == object:
                    block[name] = block[name].where(block[name].notna(), np.nan)
            yield block
    if empty:
        yield handle.schema_arrow.empty_table().select(wanted).to_pandas()


def as_tsv_text(column: pd.Series) -> pd.Series:
    """A column's cells as the text the TSV holds (floats ``%.6g``, bools ``True``/``False``),
    missing cells missing: what :func:`read_tsv` with ``dtype=str`` gives the column."""
    if isinstance(column.dtype, pd.StringDtype):
        return column
    texts = pd.Series(_arrow_texts(column).to_pandas(), index=column.index, dtype="str")
    return texts.where(column.notna().to_numpy())


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
