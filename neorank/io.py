"""Deterministic table I/O shared by every stage.

Tables are tab-separated, UTF-8, ``\\n`` line endings, a fixed float format and
no index, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

FLOAT_FORMAT = "%.6g"
NA = "NA"


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


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
