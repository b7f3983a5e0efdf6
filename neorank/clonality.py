"""Clonality of somatic variants: VAF against purity, or cancer cell fraction (CCF).

Two rules, chosen per variant by the evidence available (nothing is imputed):

1. **Copy number known** (a copy-number table in the sample sheet's
   ``copy_number`` column covers the variant) and purity known: the cancer cell
   fraction, assuming the mutation is on one copy (multiplicity 1) and a
   diploid normal::

       CCF = VAF * (purity * CN + normal_copy_number * (1 - purity)) / purity

   (the standard purity/ploidy correction, e.g. McGranahan et al. 2016;
   nextNEOpi uses CCF from ASCAT/Sequenza the same way). The variant is
   ``clonal`` when ``CCF >= ranking.clonality.min_ccf`` (default 0.8). CCF is
   reported uncapped: values above 1 are sampling noise or multiplicity > 1.
2. **Purity only**: ``clonal`` when ``VAF >= purity * vaf_fraction_of_purity``
   (default 0.5, i.e. VAF >= purity/2: a heterozygous mutation present in every
   tumor cell of a diploid region has an expected VAF of purity/2). pVACseq's
   ``Subclonal`` tier uses the looser purity/4.

Without purity or without a tumor VAF, clonality is ``NA`` (not assessed).

Copy-number tables
------------------
Tab-separated, with a header. Either **per variant** (``variant_id``,
``copy_number``) or **segments** with 1-based inclusive coordinates. Segment
column names of common callers are accepted:

=============  =====================================================
field          accepted column names
=============  =====================================================
contig         ``chrom``, ``chr``, ``chromosome``
start          ``start``, ``startpos``, ``start.pos``, ``loc.start``
end            ``end``, ``endpos``, ``end.pos``, ``loc.end``
total CN       ``copy_number``, ``tcn.em``, ``tcn``, ``CNt``, ``copyNumber``,
               or ``nMajor`` + ``nMinor`` (ASCAT)
=============  =====================================================

So ASCAT, FACETS, Sequenza and PURPLE segment files work as written. Contig
names match with or without ``chr`` (``chrM`` = ``MT``;
:func:`neorank.vcf.normalize_contig`).
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neorank.errors import InputFileError
from neorank.vcf import normalize_contig

LOG = logging.getLogger(__name__)

CONTIG_COLUMNS = ("chrom", "chr", "chromosome")
START_COLUMNS = ("start", "startpos", "start.pos", "loc.start")
END_COLUMNS = ("end", "endpos", "end.pos", "loc.end")
CN_COLUMNS = ("copy_number", "tcn.em", "tcn", "CNt", "copyNumber")

#: Tolerance of the boundary comparisons (VAFs are rounded decimals).
EPSILON = 1e-9

DEFAULT_CLONALITY: dict[str, float] = {
    "vaf_fraction_of_purity": 0.5,
    "min_ccf": 0.8,
    "normal_copy_number": 2.0,
}

__all__ = ["CopyNumberTable", "DEFAULT_CLONALITY", "cancer_cell_fraction", "classify",
           "read_copy_number"]


@dataclass(frozen=True)
class CopyNumberTable:
    """Total tumor copy number per variant or per segment."""

    path: str
    by_variant: dict[str, float] = field(default_factory=dict)
    segments: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)

    def lookup(self, variant_id: str, chrom: str | None = None,
               pos: int | None = None) -> float | None:
        """Copy number at a variant (None when the table does not cover it)."""
        if variant_id in self.by_variant:
            return self.by_variant[variant_id]
        if chrom is None or pos is None or not self.segments:
            return None
        rows = self.segments.get(normalize_contig(chrom), [])
        starts = [r[0] for r in rows]
        index = bisect.bisect_right(starts, int(pos)) - 1
        if index >= 0 and rows[index][0] <= pos <= rows[index][1]:
            return rows[index][2]
        return None


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _numbers(table: pd.DataFrame, column: str, where: str, *, integer: bool = False) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | (values < 0) | np.isinf(values)
    if integer:
        bad |= values.notna() & (values != values.round())
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "a whole number >= 1" if integer else "a number >= 0"
        raise InputFileError(f"{column} on data line {index + 2} is "
                             f"{table[column].iloc[index]!r}, not {kind}", where=where,
                             fix=f"write {kind} in {column} on every row")
    return values.to_numpy(dtype=float)


def read_copy_number(path: str | os.PathLike) -> CopyNumberTable:
    """Read a per-variant or segment copy-number table (module docstring).

    Raises
    ------
    InputFileError
        Missing file, unrecognised columns, non-numeric or negative copy
        numbers, or a segment whose end is before its start.
    """
    where = str(path)
    table = read_copy_number_text(path)
    columns = [str(c) for c in table.columns]
    cn_column = _pick(columns, CN_COLUMNS)
    if cn_column is not None:
        copy_number = _numbers(table, cn_column, where)
    elif _pick(columns, ("nMajor",)) and _pick(columns, ("nMinor",)):
        copy_number = (_numbers(table, _pick(columns, ("nMajor",)), where)
                       + _numbers(table, _pick(columns, ("nMinor",)), where))
    else:
        raise InputFileError(
            f"no total copy-number column (columns: {', '.join(columns[:10])})", where=where,
            fix="name it copy_number (or give ASCAT nMajor/nMinor, FACETS tcn.em, "
                "Sequenza CNt, PURPLE copyNumber)")
    if "variant_id" in columns:
        return CopyNumberTable(path=where, by_variant=dict(
            zip(table["variant_id"].astype(str).str.strip(), copy_number.tolist(), strict=True)))
    contig, start, end = (_pick(columns, CONTIG_COLUMNS), _pick(columns, START_COLUMNS),
                          _pick(columns, END_COLUMNS))
    if not (contig and start and end):
        raise InputFileError(
            f"neither variant_id nor segment columns (chrom, start, end) found (columns: "
            f"{', '.join(columns[:10])})", where=where,
            fix="give variant_id + copy_number, or chrom/start/end (1-based, inclusive) + "
                "copy_number")
    starts = _numbers(table, start, where, integer=True)
    ends = _numbers(table, end, where, integer=True)
    segments: dict[str, list[tuple[int, int, float]]] = {}
    for row, (s, e, cn) in enumerate(zip(starts, ends, copy_number, strict=True)):
        if e < s:
            raise InputFileError(f"segment on data line {row + 2} ends ({int(e)}) before it "
                                 f"starts ({int(s)})", where=where,
                                 fix="write 1-based inclusive start <= end")
        key = normalize_contig(table[contig].iloc[row])
        segments.setdefault(key, []).append((int(s), int(e), float(cn)))
    for rows in segments.values():
        rows.sort()
    return CopyNumberTable(path=where, segments=segments)


def cancer_cell_fraction(vaf: float, purity: float, copy_number: float,
                         normal_copy_number: float = 2.0) -> float:
    """CCF of a mutation on one copy (module docstring). Purity must be > 0."""
    return vaf * (purity * copy_number + normal_copy_number * (1.0 - purity)) / purity


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def classify(vaf: float | None, purity: float | None, copy_number: float | None = None,
             params: dict[str, float] | None = None) -> tuple[str | None, float | None]:
    """``(clonality, ccf)`` of one variant.

    Returns
    -------
    tuple
        ``clonality`` is ``"clonal"``, ``"subclonal"`` or None (not assessed:
        no purity, purity 0, or no VAF); ``ccf`` is None unless a copy number
        was given.
    """
    params = {**DEFAULT_CLONALITY, **(params or {})}
    if _missing(vaf) or _missing(purity) or purity <= 0:
        return None, None
    if not _missing(copy_number):
        ccf = cancer_cell_fraction(float(vaf), float(purity), float(copy_number),
                                   params["normal_copy_number"])
        return ("clonal" if ccf >= params["min_ccf"] - EPSILON else "subclonal"), ccf
    threshold = float(purity) * params["vaf_fraction_of_purity"]
    return ("clonal" if float(vaf) >= threshold - EPSILON else "subclonal"), None


def read_copy_number_text(path: str | os.PathLike) -> pd.DataFrame:
    """A copy-number table (per variant or segments, any caller's layout) as text cells;
    a missing or unparsable file is an :class:`InputFileError` naming it."""
    where = str(path)
    if not Path(path).is_file():
        raise InputFileError("the copy-number table does not exist", where=where,
                             fix="check the sample sheet's copy_number column")
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot parse the copy-number table as TSV ({err})", where=where,
                             fix="give a tab-separated table with a header line") from err
