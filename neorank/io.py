"""Deterministic table I/O shared by every stage.

Tables are tab-separated, UTF-8, ``\\n`` line endings, a fixed float format and
no index, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

FLOAT_FORMAT = "%.6g"
NA = "NA"
#: Rows per chunk when a large table (predictions, candidates) is streamed.
CHUNK_ROWS = 250_000


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike, columns: Iterable[str] | None = None) -> None:
    """Write ``frame`` as TSV atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if columns is not None:
        frame = frame.reindex(columns=list(columns))
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep=NA,
                 lineterminator="\n")
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
            # (vaccine.TableBlocks). Only the parsing of a block is silenced.
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
