"""NeoRank tables and JSON side files: one way to read and write them.

A layer below every stage: a missing or unparsable table is always the same
:class:`~neorank.errors.InputFileError` naming the file (:func:`table_errors`),
large tables are read in bounded blocks (:func:`table_blocks`,
:class:`TableBlocks`) and written block by block with the bytes a whole-table
write gives (:class:`TableWriter`). The TSV format itself (float format, ``NA``,
line endings) lives in :mod:`neorank.io`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow

from neorank.errors import InputFileError
from neorank.io import (
    CHUNK_ROWS,
    as_tsv_text,
    is_parquet,
    parquet_columns,
    read_parquet_chunks,
    read_tsv,
    read_tsv_chunks,
    tsv_columns,
    write_rows,
)

#: Text columns of the predictions table (peptides.tsv's and the predict stage's),
#: read as text in every block (pandas would otherwise guess per piece) and stored
#: as text in its Parquet form.
PREDICTION_TEXT_COLUMNS = (
    "variant_id", "gene_name", "effect", "protein_change", "transcript_ids", "mutant_peptide",
    "wildtype_peptide", "mutation_positions", "n_flank", "c_flank", "gene_names",
    "nearest_self_peptide", "merged_variant_ids", "in_cis", "germline_context", "evidence",
    "allele", "allele_status", "predictor")
#: Predictions columns that may be missing in some rows (so pandas' guess differs
#: between blocks), with their kind in the Parquet form.
PREDICTION_TYPES = {"length": "int", "anchor_mutated": "bool", "self_match": "bool",
                    "nearest_self_mismatches": "int"}

#: Kinds of the candidates table's columns in its Parquet form (results/<sample>/
#: candidates.parquet, :class:`neorank.io.ParquetFromTsv`); a column not named here
#: (a predictions column NeoRank does not write) is text.
CANDIDATE_KINDS = {
    **dict.fromkeys(PREDICTION_TEXT_COLUMNS, "text"),
    **dict.fromkeys(["rank", "length", "nearest_self_mismatches", "tumor_depth", "rna_depth",
                     "rna_alt_reads"], "int"),
    **dict.fromkeys(["anchor_mutated", "binder", "self_match"], "bool"),
    **dict.fromkeys(["mutant_affinity_nm", "mutant_percentile", "wildtype_affinity_nm",
                     "wildtype_percentile", "presentation_score", "presentation_percentile",
                     "processing_score", "agretopicity", "tumor_vaf", "normal_vaf", "ccf",
                     "gene_tpm", "transcript_tpm", "rna_vaf", "score"], "float"),
}


def candidate_kinds(columns: Iterable[str]) -> dict[str, str]:
    """:data:`CANDIDATE_KINDS` of ``columns`` (text for the others)."""
    return {str(c): CANDIDATE_KINDS.get(str(c), "text") for c in columns}


#: Statuses an allele of alleles.json can have (written by the predict stage).
ALLELE_STATUSES = ("supported", "extrapolated", "null_skipped")


@contextlib.contextmanager
def table_errors(path: str | Path) -> Iterator[None]:
    """Missing or unparsable NeoRank tables as :class:`InputFileError` naming the file."""
    try:
        yield
    except FileNotFoundError as err:
        raise InputFileError("file not found", where=str(path),
                             fix="run the upstream stage first or fix the path") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot parse as a NeoRank TSV ({err})", where=str(path),
                             fix="pass the tab-separated table written by NeoRank") from err
    except _PARQUET_ERRORS as err:
        raise _unreadable(path, err) from err


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """:func:`neorank.io.read_tsv` with missing/unparsable files as :class:`InputFileError`.

    ``columns``: read only those present in the header (bounded memory for wide tables).
    """
    with table_errors(path):
        if is_parquet(path):
            return pd.concat(list(read_parquet_chunks(path, columns, chunk_rows=1 << 62)),
                             ignore_index=True)
        if columns is not None:
            header = set(tsv_columns(path))
            return read_tsv(path, usecols=[c for c in dict.fromkeys(columns) if c in header])
        return read_tsv(path)


def require_columns(frame: pd.DataFrame, columns: list[str], where: str, produced_by: str) -> None:
    """An input error naming the ``columns`` missing from ``frame`` (the ``produced_by``
    output read from ``where``), if any."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where=where,
                             fix=f"pass the {produced_by} output (see docs/tables.md)")


def as_number(value: Any) -> float | None:
    """A table cell as a float; ``None`` for a missing, NaN or non-numeric value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def load_json(path: str | os.PathLike, what: str) -> Any:
    """Read a JSON file, turning problems into :class:`InputFileError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"cannot read the {what} ({err.strerror})", where=str(path),
                             fix=f"run the stage that writes the {what} first") from err
    except json.JSONDecodeError as err:
        raise InputFileError(f"not valid JSON: {err.msg} at line {err.lineno}", where=str(path),
                             fix=f"regenerate the {what}") from err


def load_alleles(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read alleles.json: a list of ``{input, allele, status}`` objects."""
    data = load_json(path, "alleles.json")
    if not isinstance(data, list):
        raise InputFileError("alleles.json must be a JSON list", where=str(path),
                             fix='write [{"input": ..., "allele": ..., "status": ...}, ...]')
    for index, entry in enumerate(data, start=1):
        if (not isinstance(entry, dict) or not isinstance(entry.get("input"), str)
                or entry.get("status") not in ALLELE_STATUSES
                or not (entry.get("allele") is None or isinstance(entry.get("allele"), str))):
            raise InputFileError(
                f"entry {index} is not {{input, allele, status}} with status one of "
                f"{', '.join(ALLELE_STATUSES)}: {entry!r}",
                where=str(path), fix="regenerate alleles.json with the predict stage")
    return data


def _unreadable(path: str | os.PathLike, err: Exception) -> InputFileError:
    """The error :func:`table_errors` gives for the same problem."""
    if isinstance(err, FileNotFoundError):
        return InputFileError("file not found", where=str(path),
                              fix="run the upstream stage first or fix the path")
    if is_parquet(path):
        return InputFileError(f"cannot read as a Parquet table ({err})", where=str(path),
                              fix="re-run the stage that writes it (a partial or foreign file)")
    return InputFileError(f"cannot parse as a NeoRank TSV ({err})", where=str(path),
                          fix="pass the tab-separated table written by NeoRank")


_PARQUET_ERRORS = (pyarrow.ArrowException,)
_READ_ERRORS = (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError,
                UnicodeDecodeError, *_PARQUET_ERRORS)


def table_header(path: str | os.PathLike) -> list[str]:
    """The header of a TSV (the columns of a Parquet table), with read problems as
    :class:`InputFileError`."""
    try:
        return parquet_columns(path) if is_parquet(path) else tsv_columns(path)
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from err


def table_blocks(path: str | os.PathLike, columns: list[str] | None = None,
                 chunk_rows: int = CHUNK_ROWS, **kwargs) -> Iterator[pd.DataFrame]:
    """:func:`neorank.io.read_tsv_chunks` (:func:`parquet_blocks` for a Parquet table)
    with read problems as :class:`InputFileError`."""
    try:
        if is_parquet(path):
            yield from parquet_blocks(path, columns, chunk_rows, kwargs.get("dtype"))
            return
        yield from read_tsv_chunks(path, columns, chunk_rows, **kwargs)
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from err


def parquet_blocks(path: str | os.PathLike, columns: list[str] | None = None,
                   chunk_rows: int = CHUNK_ROWS, dtype: Any = None) -> Iterator[pd.DataFrame]:
    """:func:`neorank.io.read_parquet_chunks`, the columns a TSV read would give as text
    (``dtype`` ``str``, or ``"str"`` for named columns) as their TSV text
    (:func:`neorank.io.as_tsv_text`); the schema fixes the other types."""
    for block in read_parquet_chunks(path, columns, chunk_rows):
        if dtype is str or dtype == "str":
            text = list(block.columns)
        elif isinstance(dtype, dict):
            text = [c for c, t in dtype.items() if t in (str, "str") and c in block.columns]
        else:
            text = []
        for name in text:
            block[name] = as_tsv_text(block[name])
        yield block


def write_text(path: str | os.PathLike, text: str | Iterable[str]) -> None:
    """Write ``text`` (a string, or pieces written one after another) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        if isinstance(text, str):
            handle.write(text)
        else:
            for piece in text:
                handle.write(piece)
    os.replace(tmp, path)


class TableBlocks:
    """A large NeoRank table (candidates.tsv) read in blocks of ``chunk_rows`` rows.

    Iterating yields the blocks in file order (only ``columns`` when given; names
    absent from the header are skipped, see :attr:`columns`), so peak memory is
    one block plus what the caller keeps of each. :attr:`rows` counts the rows
    read. A missing or unparsable file is an :class:`InputFileError` when the
    object is made. ``kwargs`` go to :func:`neorank.io.read_tsv_chunks`; a Parquet
    table (candidates.parquet) is read by :func:`parquet_blocks`, its schema fixing the
    types of every block.

    :meth:`concat` puts the kept parts of the blocks back together with the
    column types a whole-table read gives them. pandas infers a type per block,
    so a text column reads as numbers in a block whose values all look numeric
    (``mutation_positions`` ``5`` while other blocks have ``5;6``) and as float in
    a block where it is all ``NA``: a column that is text in any block is text
    (numbers back to their text), others take pandas' common type (int and float
    give float, bool and missing give object), as in a whole-table read.
    """

    def __init__(self, path: str | os.PathLike, columns: Iterable[str] | None = None,
                 chunk_rows: int = CHUNK_ROWS, **kwargs: Any) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        self.kwargs = kwargs
        header = table_header(path)
        wanted = None if columns is None else list(dict.fromkeys(columns))
        #: Columns read, in file order.
        self.columns = header if wanted is None else [c for c in header if c in wanted]
        self._wanted = wanted
        self.rows = 0
        # One empty slice per distinct set of block types: what concat reconciles.
        self._shapes: dict[tuple[str, ...], pd.DataFrame] = {}

    def _parse(self, read):
        with table_errors(self.path):
            return read()

    def __iter__(self) -> Iterator[pd.DataFrame]:
        blocks = table_blocks(self.path, self._wanted, self.chunk_rows, **self.kwargs)
        while True:
            block = self._parse(lambda: next(blocks, None))
            if block is None:
                return
            self._shapes.setdefault(tuple(str(t) for t in block.dtypes), block.iloc[:0])
            self.rows += len(block)
            yield block

    def concat(self, parts: list[pd.DataFrame],
               columns: list[str] | None = None) -> pd.DataFrame:
        """``parts`` (row subsets of the blocks, in file order, all with the same
        columns) as one frame typed like a whole-table read (see the class
        docstring); file row numbers are kept as the index. ``columns``: those of
        the result when there is no part (default: every column read)."""
        shapes = list(self._shapes.values())
        if not shapes:  # not read yet: the types of an empty read
            shapes = [self._parse(lambda: next(parquet_blocks(
                self.path, self.columns, 1, self.kwargs.get("dtype"))).iloc[:0]
                if is_parquet(self.path) else read_tsv(self.path, nrows=0, usecols=self.columns,
                                                       **self.kwargs))]
        if parts:
            columns = list(parts[0].columns)
        elif columns is None:
            columns = list(shapes[0].columns)
        frames = [*(s[columns] for s in shapes), *parts]
        text = [c for c in columns
                if any(pd.api.types.is_string_dtype(s[c].dtype) for s in shapes)]
        for i, frame in enumerate(frames):
            numeric = [c for c in text if pd.api.types.is_numeric_dtype(frame[c].dtype)
                       and not pd.api.types.is_bool_dtype(frame[c].dtype)]
            if numeric:
                frames[i] = frame.astype({c: "str" for c in numeric})
        return pd.concat(frames) if len(frames) > 1 else frames[0]


def expressed_alleles(path: str | Path) -> list[str]:
    """Expressed alleles from alleles.json (null alleles skipped), in typing order."""
    return [e["allele"] for e in load_alleles(path) if e["status"] != "null_skipped"]


class TableWriter:
    """A TSV written block by block with the bytes :func:`neorank.io.write_tsv` gives the
    whole table, atomically: blocks go to ``<path>.tmp``, renamed by :meth:`commit`
    (a writer left without commit removes its temporary file)."""

    def __init__(self, path: str | Path, columns: Iterable[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._handle = open(self._tmp, "w", encoding="utf-8", newline="")
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of ``frame`` (its columns reindexed to the table's)."""
        write_rows(self._handle, frame.reindex(columns=self.columns), header=self._header)
        self._header = False
        self.rows += len(frame)

    def commit(self) -> None:
        """Close the file and move it into place (a header-only table if nothing was written)."""
        if self._header:
            self.write(pd.DataFrame(columns=self.columns))
        self._handle.close()
        os.replace(self._tmp, self.path)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()
        self._tmp.unlink(missing_ok=True)
