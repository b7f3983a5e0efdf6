"""HLA class I loss of heterozygosity: per typed allele kept, lost, LOH unknown or not assessed.

Read from copy-number segments with a minor copy number (ASCAT, FACETS, Sequenza,
PURPLE: minor copy number 0 over a heterozygous locus is LOH with the lost allele
unknown) or from an allele-specific caller (LOHHLA's ``*.HLAlossPrediction_CI.*``
table, DASH's output, or a plain list of lost alleles). A layer below the
eligibility verdict (:mod:`neorank.presentation_integrity`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.clonality import read_copy_number_text
from neorank.errors import InputFileError
from neorank.gene_spans import HLA_LOCI
from neorank.tables import as_number, read_table
from neorank.vcf import normalize_contig

ALLELE_STATUSES = ("kept", "lost", "LOH unknown", "not assessed")


_ALLELE = re.compile(r"^(?:hla[-_])?([a-z]+[0-9]?)[*_]([0-9]{2,3})[:_]([0-9]{2,3})",
                     re.IGNORECASE)


def allele_key(text: Any) -> str | None:
    """Two-field allele name ``HLA-A*02:01`` from NeoRank, LOHHLA/Polysolver
    (``hla_a_02_01_01_01``) or short (``A*02:01``) spellings; None if not an allele."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    match = _ALLELE.match(str(text).strip())
    if not match:
        return None
    locus, first, second = match.groups()
    return f"HLA-{locus.upper()}*{first}:{second}"


def locus_of(key: str | None) -> str | None:
    return key.split("*")[0].removeprefix("HLA-") if key else None


def typed_alleles(alleles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct typed alleles (two-field) with locus, zygosity and expression."""
    seen: dict[str, dict[str, Any]] = {}
    for entry in alleles:
        key = allele_key(entry.get("allele")) or allele_key(entry.get("input"))
        if key is None:
            continue
        name = str(entry.get("input") or entry.get("allele"))
        row = seen.setdefault(key, {"allele": key, "typed_as": name, "locus": locus_of(key),
                                    "typed": 0, "expressed": False})
        row["typed"] += 1
        row["expressed"] |= entry.get("status") != "null_skipped"
    per_locus: dict[str, int] = {}
    for row in seen.values():
        per_locus[row["locus"]] = per_locus.get(row["locus"], 0) + 1
    for row in seen.values():
        row["zygosity"] = "heterozygous" if per_locus[row["locus"]] > 1 else "homozygous"
    return list(seen.values())


_CONTIG = ("chrom", "chr", "chromosome")


_START = ("start", "startpos", "start.pos", "loc.start")


_END = ("end", "endpos", "end.pos", "loc.end")


#: (caller, minor column, total column or None, major column or None)
_ALLELE_CN = (("PURPLE", "minorAlleleCopyNumber", "copyNumber", "majorAlleleCopyNumber"),
              ("ASCAT", "nMinor", None, "nMajor"),
              ("FACETS", "lcn.em", "tcn.em", None),
              ("FACETS", "lcn", "tcn", None),
              ("Sequenza", "B", "CNt", "A"),
              ("table", "minor_copy_number", "copy_number", None),
              ("table", "minor_cn", "total_cn", "major_cn"))


@dataclass(frozen=True)
class AlleleSegments:
    """Allele-specific copy-number segments (or why there are none)."""

    path: str
    caller: str | None = None
    segments: dict[str, list[tuple[int, int, float, float]]] = field(default_factory=dict)
    problem: str | None = None


def _pick(columns: list[str], names: tuple[str, ...] | str | None) -> str | None:
    if names is None:
        return None
    names = (names,) if isinstance(names, str) else names
    exact = {c: c for c in columns}
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in exact:
            return name
    for name in names:
        if len(name) > 1 and name.lower() in lower:
            return lower[name.lower()]
    return None


def read_allele_segments(path: str | os.PathLike) -> AlleleSegments:
    """Segments with total and minor copy number from an ASCAT, FACETS, Sequenza or
    PURPLE segment file (a table without a minor copy number: ``problem`` says why)."""
    where = str(path)
    table = read_copy_number_text(path)
    columns = [str(c) for c in table.columns]
    if "variant_id" in columns:
        return AlleleSegments(where, problem="per-variant copy numbers have no minor allele "
                              "copy number (give ASCAT/FACETS/Sequenza/PURPLE segments)")
    contig, start, end = _pick(columns, _CONTIG), _pick(columns, _START), _pick(columns, _END)
    found = [(name, _pick(columns, minor), _pick(columns, total), _pick(columns, major))
             for name, minor, total, major in _ALLELE_CN]
    found = [f for f in found if f[1] and (f[2] or f[3])]
    if found:
        caller, minor, total, major = found[0]
    else:
        return AlleleSegments(where, problem="no minor (allele-specific) copy-number column "
                              "(ASCAT nMinor, FACETS lcn.em, Sequenza B, PURPLE "
                              "minorAlleleCopyNumber)")
    if not (contig and start and end):
        return AlleleSegments(where, caller=caller, problem="no segment columns "
                              "(chromosome, start, end)")
    segments: dict[str, list[tuple[int, int, float, float]]] = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        try:
            s, e = int(float(row[start])), int(float(row[end]))
        except ValueError as err:
            raise InputFileError(f"segment on data line {line} has start/end "
                                 f"{row[start]!r}/{row[end]!r}", where=where,
                                 fix="write whole-number 1-based positions") from err
        minor_cn = as_number(row[minor])
        total_cn = as_number(row[total]) if total else None
        if total_cn is None and major and minor_cn is not None and as_number(row[major]) is not None:
            total_cn = as_number(row[major]) + minor_cn
        segments.setdefault(normalize_contig(row[contig]), []).append(
            (s, e, math.nan if total_cn is None else total_cn,
             math.nan if minor_cn is None else minor_cn))
    return AlleleSegments(where, caller=caller, segments=segments)


def locus_copy_number(segments: AlleleSegments, locus: str
                      ) -> tuple[float, float, list[str]] | None:
    """(lowest total, lowest minor, segment texts) over the HLA locus; None if uncovered."""
    contig, start, end = HLA_LOCI[locus]
    rows = [r for r in segments.segments.get(contig, []) if r[0] <= end and r[1] >= start]
    if not rows:
        return None
    totals = [r[2] for r in rows if not math.isnan(r[2])]
    minors = [r[3] for r in rows if not math.isnan(r[3])]
    texts = [f"{contig}:{r[0]}-{r[1]} total {r[2]:g} minor {r[3]:g}" for r in rows]
    return (min(totals) if totals else math.nan, min(minors) if minors else math.nan, texts)


@dataclass(frozen=True)
class CallerCalls:
    """Per-allele calls of an allele-specific HLA LOH caller."""

    path: str
    tool: str
    calls: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (status, why)
    plain_list: bool = False


def read_hla_loh(path: str | os.PathLike, params: dict[str, Any]) -> CallerCalls:
    """LOHHLA, DASH or a plain list of lost alleles (module docstring)."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputFileError(f"cannot read the HLA LOH file ({err.strerror})", where=where,
                             fix="check the sample sheet's hla_loh column") from err
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    header = numbered[0][1].split("\t") if numbered else []
    if {"HLA_A_type1", "HLA_A_type2", "LossAllele"} <= set(header):
        return _lohhla(path, params)
    if {"Alleles", "DASH_deletion"} <= set(header):
        return _dash(path)
    calls: dict[str, tuple[str, str]] = {}
    for number, line in numbered:
        key = allele_key(line.strip())
        if key is None:
            raise InputFileError(f"line {number} ({line.strip()[:40]!r}) is not an HLA allele",
                                 where=where,
                                 fix="give LOHHLA's HLAlossPrediction_CI table, DASH.output.txt "
                                     "or one lost allele per line (e.g. HLA-A*02:01)")
        calls[key] = ("lost", "listed as lost")
    return CallerCalls(where, "lost-allele list", calls, plain_list=True)


def _lohhla(path: str | os.PathLike, params: dict[str, Any]) -> CallerCalls:
    table = read_table(path)
    pcol = _pick(list(table.columns), "PVal_unique")
    if pcol is None:
        raise InputFileError("LOHHLA table without a PVal_unique column", where=str(path),
                             fix="pass LOHHLA's *.HLAlossPrediction_CI.* output")
    per_allele: dict[str, list[tuple[str, str, str]]] = {}
    for row in table.to_dict("records"):
        region = _text(row.get("region")) or "tumour"
        one, two = allele_key(row["HLA_A_type1"]), allele_key(row["HLA_A_type2"])
        loss = allele_key(row.get("LossAllele"))
        pvalue = as_number(row.get(pcol))
        cns = {one: as_number(row.get("HLA_type1copyNum_withBAFBin")),
               two: as_number(row.get("HLA_type2copyNum_withBAFBin"))}
        for key in (one, two):
            if key is None:
                continue
            cn = cns.get(key)
            cn_text = "NA" if cn is None else f"{cn:.2f}"
            if pvalue is None:
                status, why = "not assessed", "LOHHLA gave no PVal_unique"
            elif pvalue >= params["lohhla_max_pvalue"]:
                status, why = "kept", f"no allelic imbalance (PVal_unique {pvalue:.2g})"
            elif key != loss:
                status, why = "kept", (f"kept allele (imbalance PVal_unique {pvalue:.2g}, "
                                       f"copy number {cn_text})")
            elif cn is None:
                status, why = "LOH unknown", (f"allelic imbalance (PVal_unique {pvalue:.2g}) "
                                              "but no copy number estimated")
            elif cn < params["lohhla_loss_copy_number_below"]:
                status, why = "lost", (f"LossAllele, copy number {cn_text} < "
                                       f"{params['lohhla_loss_copy_number_below']:g}, "
                                       f"PVal_unique {pvalue:.2g}")
            else:
                status, why = "kept", (f"imbalance without loss (copy number {cn_text}, "
                                       f"PVal_unique {pvalue:.2g})")
            per_allele.setdefault(key, []).append((region, status, why))
    calls = {}
    for key, rows in per_allele.items():
        statuses = {s for _, s, _ in rows}
        if len(statuses) == 1:
            status = rows[0][1]
        elif "lost" in statuses:
            status = "LOH unknown"  # lost in some regions only
        else:
            status = "LOH unknown" if "LOH unknown" in statuses else "kept"
        why = "; ".join(f"{r}: {w}" if len(rows) > 1 else w for r, _, w in rows)
        calls[key] = (status, why)
    return CallerCalls(str(path), "LOHHLA", calls)


def _dash(path: str | os.PathLike) -> CallerCalls:
    table = read_table(path)
    calls: dict[str, tuple[str, str]] = {}
    for row in table.to_dict("records"):
        key = allele_key(row.get("Alleles"))
        if key is None:
            continue
        deleted = str(row.get("DASH_deletion")).strip().lower() in ("true", "1")
        confidence = as_number(row.get("Confidence"))
        if deleted:
            calls[key] = ("lost", f"DASH_deletion True (confidence {confidence:.2f})"
                          if confidence is not None else "DASH_deletion True")
        elif confidence is not None and confidence < 0:
            calls[key] = ("not assessed", "DASH skipped the locus (homozygous or too few "
                          "mismatch sites)")
        else:
            calls[key] = ("kept", "DASH_deletion False")
    return CallerCalls(str(path), "DASH", calls)


def hla_status(alleles: list[dict[str, Any]], params: dict[str, Any],
               segments: AlleleSegments | None = None,
               caller: CallerCalls | None = None) -> list[dict[str, Any]]:
    """One row per distinct typed allele: ``status`` in :data:`ALLELE_STATUSES`."""
    rows = []
    for row in typed_alleles(alleles):
        status, source, evidence = _allele_call(row, params, segments, caller)
        rows.append({**row, "status": status, "source": source, "evidence": evidence})
    return rows


def _allele_call(row: dict[str, Any], params: dict[str, Any], segments: AlleleSegments | None,
                 caller: CallerCalls | None) -> tuple[str, str | None, str]:
    """(status, source, evidence) of one typed allele; the caller wins over segments."""
    key, locus = row["allele"], row["locus"]
    homozygous = row["zygosity"] == "homozygous"
    if caller is not None and caller.calls.get(key, ("not assessed",))[0] != "not assessed":
        return caller.calls[key][0], caller.tool, caller.calls[key][1]
    if caller is not None and caller.plain_list and locus in HLA_LOCI:
        return "kept", caller.tool, "not in the lost-allele list"
    if locus not in HLA_LOCI:
        return "not assessed", None, f"HLA-{locus} is not a class I locus checked for LOH"
    problem = "no HLA LOH evidence given"
    if segments is not None and segments.problem is None:
        covered = locus_copy_number(segments, locus)
        if covered is not None:
            threshold = params["loh_minor_copy_number_below"]
            total, minor, texts = covered
            where = f"{segments.caller} segments " + "; ".join(texts)
            source = f"{segments.caller} segments"
            if not math.isnan(total) and total < threshold:
                return "lost", source, f"homozygous deletion ({where})"
            if math.isnan(minor):
                problem = f"no minor copy number ({where})"
            elif minor < threshold and homozygous:
                return "kept", source, ("homozygous locus: no LOH to call (a copy of the same "
                                        f"allele remains; {where})")
            elif minor < threshold:
                return "LOH unknown", source, f"HLA LOH, lost allele unknown ({where})"
            else:
                return "kept", source, f"no LOH ({where})"
        else:
            problem = f"no segment of {segments.path} covers HLA-{locus}"
    elif segments is not None:
        problem = segments.problem or problem
    if caller is not None and homozygous:
        return "kept", caller.tool, "homozygous locus: no LOH to call"
    if caller is not None and key in caller.calls:
        return "not assessed", caller.tool, caller.calls[key][1]
    if caller is not None:
        problem = f"{caller.tool} has no call for this allele"
    return "not assessed", None, problem


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return None if text in ("", "NA", "nan") else text
