"""HLA class I alleles: read a patient's typing and normalise it with mhcgnomes.

Accepted inputs (the sample sheet's ``hla_alleles`` column):

* an inline list: ``HLA-A*02:01,A*01:01;B0801`` (commas, semicolons or spaces);
* a file with one allele per line (``#`` comments allowed);
* an OptiType result TSV (columns ``A1 A2 B1 B2 C1 C2``);
* an HLA-HD result file (``A\\tHLA-A*02:01:01\\tHLA-A*24:02:01`` lines;
  ``-`` and ``Not typed`` entries are ignored).

Any spelling mhcgnomes understands is accepted (``HLA-A*02:01``, ``A*02:01``,
``HLA-A0201``) and normalised to two fields (``HLA-A*02:01``). Null alleles
(suffix ``N``) are not expressed and are skipped with a notice. Class II
alleles and names mhcgnomes cannot parse stop with an error that names the
input and the fix.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from neorank.errors import AlleleError

LOG = logging.getLogger(__name__)

#: ``status`` values of :class:`PatientAllele`.
SUPPORTED = "supported"  # the predictor has training data for this allele
EXTRAPOLATED = "extrapolated"  # pseudosequence only: pan-allele extrapolation
NULL_SKIPPED = "null_skipped"  # null allele (not expressed): not predicted


@dataclass(frozen=True)
class PatientAllele:
    """One allele of a patient's typing: the input spelling and its normal form."""

    input: str
    allele: str
    status: str = SUPPORTED

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _split_inline(text: str) -> list[str]:
    return [token for token in re.split(r"[,;\s]+", text.strip()) if token]


def _read_allele_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AlleleError(f"cannot read HLA typing file ({err})", where=str(path),
                          fix="give a readable UTF-8 text file or an inline list") from err
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    header = lines[0].split("\t")
    if {"A1", "A2", "B1", "B2", "C1", "C2"} <= set(header):  # OptiType
        rows = list(csv.DictReader(lines, delimiter="\t"))
        if not rows:
            return []
        return [rows[0][col].strip() for col in ("A1", "A2", "B1", "B2", "C1", "C2")
                if rows[0].get(col, "").strip()]
    fields = [line.split("\t") for line in lines]
    if all(len(f) >= 2 and re.fullmatch(r"[A-Z][A-Z0-9]*", f[0].strip()) for f in fields) and any(
            "*" in cell for f in fields for cell in f[1:]):  # HLA-HD final result
        alleles = []
        for f in fields:
            for cell in f[1:]:
                cell = cell.strip()
                if cell and cell != "-" and cell.lower() != "not typed":
                    alleles.append(cell)
        return alleles
    return [token for line in lines for token in _split_inline(line)]


def read_typing(spec: str, base_dir: str | os.PathLike | None = None) -> list[str]:
    """Return the raw allele strings of ``spec`` (an inline list or a file path)."""
    spec = (spec or "").strip()
    if not spec:
        return []
    candidate = Path(spec)
    if base_dir is not None and not candidate.is_absolute():
        candidate = Path(base_dir) / candidate
    looks_like_path = "/" in spec or spec.endswith((".txt", ".tsv", ".csv", ".hla"))
    if candidate.is_file():
        return _read_allele_file(candidate)
    if looks_like_path:
        raise AlleleError("HLA typing file not found", where=spec,
                          fix="check the path in the sample sheet's hla_alleles column "
                              "(relative paths are resolved from the working directory)")
    return _split_inline(spec)


def normalize(raw: str, where: str = "hla_alleles") -> tuple[str, bool]:
    """Normalise one allele name; return ``(name, is_null)``.

    Raises
    ------
    AlleleError
        If mhcgnomes cannot parse it, it is not a class I allele, or it has
        fewer than two fields (a serotype or allele group is not a typing).
    """
    import mhcgnomes

    try:
        parsed = mhcgnomes.parse(raw)
    except Exception as err:  # mhcgnomes raises its own ParseError
        raise AlleleError(f"cannot parse HLA allele {raw!r} ({err})", where=where,
                          fix="write alleles as HLA-A*02:01 (gene*field1:field2)") from err
    if type(parsed).__name__ != "Allele":
        raise AlleleError(
            f"{raw!r} is a {type(parsed).__name__.lower()}, not a two-field allele",
            where=where, fix="give the typed allele, e.g. HLA-A*02:01, not a serotype or group")
    if parsed.is_class2:
        raise AlleleError(
            f"{raw!r} is an MHC class II allele; NeoRank predicts class I (HLA-A, -B, -C) only",
            where=where, fix="remove class II alleles from hla_alleles")
    if parsed.num_allele_fields < 2:
        raise AlleleError(f"{raw!r} has only one field", where=where,
                          fix="give at least two fields, e.g. HLA-A*02:01")
    is_null = bool(parsed.annotation_null)
    # Two fields, expression annotations (N, L, Q, ...) dropped, then N put back
    # for null alleles so the name still says why it is skipped.
    text = re.sub(r"[A-Z]+$", "", parsed.restrict_allele_fields(2).to_string())
    if is_null:
        text += "N"
    return text, is_null


def parse_typing(spec: str, where: str = "hla_alleles",
                 base_dir: str | os.PathLike | None = None) -> list[PatientAllele]:
    """Read and normalise a typing; duplicates (homozygous) are kept once.

    Null alleles come back with status :data:`NULL_SKIPPED`; the others with
    :data:`SUPPORTED` until :func:`neorank.models.resolve_alleles` checks them
    against the predictor.
    """
    raws = read_typing(spec, base_dir=base_dir)
    if not raws:
        raise AlleleError("no HLA class I alleles given", where=where,
                          fix="list the patient's HLA-A/B/C alleles, e.g. "
                              "HLA-A*02:01,HLA-A*01:01,HLA-B*08:01")
    result: list[PatientAllele] = []
    seen: set[str] = set()
    for raw in raws:
        name, is_null = normalize(raw, where=where)
        if name in seen:
            continue
        seen.add(name)
        if is_null:
            LOG.warning("%s: %s is a null allele (not expressed); skipped", where, raw)
        result.append(PatientAllele(raw, name, NULL_SKIPPED if is_null else SUPPORTED))
    return result
