"""Deterministic table I/O shared by every stage.

Tables are tab-separated, UTF-8, ``\\n`` line endings, a fixed float format and
no index, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator
from io import StringIO
from pathlib import Path

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
    them), about 1.5-2x faster: pandas checks and formats every float cell
    through several Python calls, which made writing, not ranking, most of
    ``neorank rank``'s time at 10,000 variants.
    """
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    if header:
        writer.writerow([str(c) for c in frame.columns])
    for start in range(0, len(frame), WRITE_ROWS):
        block = frame.iloc[start:start + WRITE_ROWS]
        writer.writerows(zip(*(_cells(block.iloc[:, i]) for i in range(block.shape[1])),
                             strict=True))


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


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
