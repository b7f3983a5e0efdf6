"""Preflight of a VCF's bytes and lines: the file, its compression, header and columns.

These checks read the (decompressed) text line by line on purpose: they name
the line of problems that htslib either refuses without saying where or reads
silently (blank lines, spaces for tabs, undeclared ids, CRLF, ...). Reading
the records themselves goes through pysam (:mod:`neorank.preflight.vcf_records`).
"""

from __future__ import annotations

import array
import gzip
import itertools
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neorank.preflight.contigs import report_conflicting_contigs
from neorank.preflight.report import WARNING, Report

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_META_ID = re.compile(r"##(INFO|FORMAT|FILTER|contig)=<ID=([^,>]+)")
_CONTIG_LENGTH = re.compile(r"[<,]length=(\d+)")
_CHROM_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_BOM = b"\xef\xbb\xbf"
@dataclass
class VcfText:
    """What the line-by-line scan of a text VCF found."""

    samples: list[str] | None = None
    declared: dict[str, set[str]] = field(default_factory=lambda: {
        "INFO": set(), "FORMAT": set(), "FILTER": {"PASS"}, "contig": set()})
    contig_lengths: dict[str, int] = field(default_factory=dict)
    meta: list[str] = field(default_factory=list)  # ## lines except contigs, for the caller
    # line number of each data line (compact: a normal VCF may have millions)
    data_lines: array.array = field(default_factory=lambda: array.array("I"))
    bad_lines: set[int] = field(default_factory=set)  # lines already reported as errors
    header_ok: bool = True
    complete: bool = True  # the whole file could be read
    #: Why htslib cannot read the file although the lines are fine (a byte-order mark,
    #: CR-only line endings): reported once, so the record scan stays quiet.
    unreadable: str = ""
    #: Contigs whose ##contig lines disagree on the length (reported as such).
    conflicting_contigs: set[str] = field(default_factory=set)


def open_binary(path: Path):
    """Open an input file for reading bytes: the one place preflight opens input files
    (the unreadable-file test replaces it)."""
    return open(path, "rb")


def probe_file(path: Path, role: str, report: Report) -> str | None:
    """Classify ``path``: ``text``, ``bgzf``, ``bgzf-noeof``, ``gzip``, ``bcf``; ``None`` if unusable.

    Reports missing, unreadable, empty and binary files and plain gzip. A BGZF
    file without its end-of-file marker (``bgzf-noeof``, which htslib refuses)
    is reported by :func:`check_vcf` once the scan shows whether the data is
    complete.
    """
    what = f"the {role} VCF"
    if not path.exists():
        report.error("file", f"{what} does not exist", file=path,
                     fix="check the path (relative paths are resolved from the directory the "
                         "command or Snakemake runs in)")
        return None
    if path.is_dir():
        report.error("file", f"{what} is a folder, not a file", file=path,
                     fix="give the VCF file inside it")
        return None
    try:
        with open_binary(path) as handle:
            head = handle.read(65536)
            size = handle.seek(0, os.SEEK_END)
            tail = b""
            if size >= len(_BGZF_EOF):
                handle.seek(size - len(_BGZF_EOF))
                tail = handle.read()
    except PermissionError:
        report.error("file", f"{what} is not readable (permission denied)", file=path,
                     fix=f"make it readable: `chmod a+r {path}` (or run as its owner)")
        return None
    except OSError as err:
        report.error("file", f"{what} cannot be read ({err.strerror or err})", file=path,
                     fix="check the file system and the path")
        return None
    if not head:
        report.error("file", f"{what} is empty (0 bytes)", file=path,
                     fix="re-export it from the variant caller; a VCF has at least the "
                         "##fileformat and #CHROM header lines")
        return None
    if head[:2] == b"\x1f\x8b":
        bgzf = len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"
        if not bgzf:
            report.error("compression", f"{what} is compressed with plain gzip, not bgzip "
                         "(BGZF): htslib/pysam can neither read nor index it", file=path,
                         fix=f"recompress with bgzip: `gzip -dc {path} | bgzip > fixed.vcf.gz` "
                             "(then `tabix -p vcf fixed.vcf.gz` if an index is needed)")
            return "gzip"
        return "bgzf" if tail == _BGZF_EOF else "bgzf-noeof"
    if head.startswith(b"BCF"):
        return "bcf"
    if b"\x00" in head or binary_fraction(head) > 0.1:
        report.error("file", f"{what} is a binary file, not a text VCF (e.g. a BAM, an index "
                     "or a spreadsheet)", file=path,
                     fix="give the caller's .vcf or .vcf.gz output")
        return None
    return "text"


def binary_fraction(data: bytes) -> float:
    control = sum(1 for b in data[:4096] if b < 9 or 13 < b < 32)
    return control / max(1, min(len(data), 4096))


def iter_lines(path: Path, compressed: bool, cr_only: bool = False) -> Iterator[bytes]:
    """The (decompressed) lines; ``cr_only``: split at CR (old Mac line endings)."""
    opener = gzip.open if compressed else open_binary
    with opener(path) as handle:  # type: ignore[operator]
        if not cr_only:
            yield from handle
            return
        rest = b""
        while chunk := handle.read(1 << 20):
            *lines, rest = (rest + chunk).split(b"\r")
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest


def is_cr_only(path: Path, compressed: bool) -> bool:
    """The text has CR line breaks and no LF at all (classic Mac OS line endings)."""
    opener = gzip.open if compressed else open_binary
    head = b""
    with opener(path) as handle:  # type: ignore[operator]
        try:
            while len(head) < 65536 and (chunk := handle.read(4096)):
                head += chunk
        except (EOFError, zlib.error, OSError):  # truncated: the line scan reports it
            pass
    if head.startswith(b"BCF") or b"\x00" in head:
        return False
    return b"\r" in head.rstrip(b"\r") and b"\n" not in head


def scan_text(path: Path, kind: str, role: str, report: Report) -> VcfText | None:
    """Read the (decompressed) VCF line by line; report line-level problems.

    Returns ``None`` for BCF (binary: pysam reads it).
    """
    text = VcfText()
    compressed = kind != "text"
    seen_chrom = False
    crlf = 0
    non_utf8 = None
    undeclared: dict[tuple[str, str], list[int]] = {}  # -> [first line, count]
    n_columns = None
    line_no = 0
    first = True
    contigs: dict[str, list[tuple[int, int | None]]] = {}  # -> [(line, length)]
    try:
        cr_only = is_cr_only(path, compressed)
        if cr_only:
            text.unreadable = "cr_only"
            report.error("line_endings", "the lines end in CR only (old Mac OS line endings, "
                         "no LF): htslib reads the whole file as one line and finds no #CHROM "
                         "header", file=path, record="line 1",
                         fix="convert the line endings to LF: "
                             + (f"`bgzip -dc {path} | tr '\\r' '\\n' | bgzip > fixed.vcf.gz`"
                                if compressed else f"`tr '\\r' '\\n' < {path} > fixed.vcf`")
                             + " (or `mac2unix`)")
        for raw in iter_lines(path, compressed, cr_only):
            line_no += 1
            if first:
                first = False
                if raw.startswith(b"BCF"):
                    return None
                if raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                    text.unreadable = text.unreadable or "bom"
                    report.error("encoding", "the file starts with a UTF-8 byte-order mark "
                                 "(bytes EF BB BF, as some Windows editors save text): htslib "
                                 "does not recognise the ##fileformat line after it and cannot "
                                 "read the file", file=path, record="line 1",
                                 fix="remove the mark: "
                                     + (f"`bgzip -dc {path} | sed '1s/^\\xEF\\xBB\\xBF//' | "
                                        "bgzip > fixed.vcf.gz`" if compressed else
                                        f"`sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`")
                                     + ", or save it as UTF-8 without BOM")
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                crlf += 1
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("latin-1")
                non_utf8 = non_utf8 or line_no
            if line_no == 1 and not line.startswith("##fileformat=VCF"):
                text.header_ok = False
                report.error("header", "the first line is not ##fileformat=VCFv4.x "
                             f"(found {line[:40]!r})", file=path, record="line 1",
                             fix="a VCF starts with `##fileformat=VCFv4.2`; if this is a MAF, "
                                 "TSV or spreadsheet export, give the caller's VCF instead")
                text.bad_lines.add(line_no)
            if line.startswith("##"):
                if seen_chrom:
                    report.error("header", "a ## meta line after the #CHROM line", file=path,
                                 record=f"line {line_no}",
                                 fix="move all ## lines above the #CHROM line")
                    text.bad_lines.add(line_no)
                    continue
                match = _META_ID.match(line)
                if match:
                    text.declared[match.group(1)].add(match.group(2))
                    if match.group(1) == "contig":
                        length = _CONTIG_LENGTH.search(line)
                        value = int(length.group(1)) if length else None
                        contigs.setdefault(match.group(2), []).append((line_no, value))
                        if value is not None:  # htslib keeps the first declaration
                            text.contig_lengths.setdefault(match.group(2), value)
                        continue
                if len(text.meta) < 2000:
                    text.meta.append(line)
                continue
            if line.startswith("#"):
                if seen_chrom:
                    report.error("header", "a second #CHROM line", file=path,
                                 record=f"line {line_no}", fix="keep one #CHROM line")
                    text.bad_lines.add(line_no)
                    continue
                seen_chrom = True
                fields = line.split("\t")
                if fields[:8] != _CHROM_COLUMNS:
                    text.header_ok = False
                    text.bad_lines.add(line_no)
                    if line.split()[:8] == _CHROM_COLUMNS:
                        report.error("header", "the #CHROM line's columns are separated by "
                                     "spaces, not tabs", file=path, record=f"line {line_no}",
                                     fix="VCF columns are tab-separated: replace the spaces "
                                         "between columns with tabs")
                    else:
                        report.error("header", "malformed #CHROM line (expected "
                                     f"{' '.join(_CHROM_COLUMNS)} [FORMAT samples...], found "
                                     f"{line[:60]!r})", file=path, record=f"line {line_no}",
                                     fix="restore the caller's header line")
                    fields = line.split()
                samples = fields[9:]
                text.samples = samples
                n_columns = 9 + len(samples) if samples else 8
                if len(fields) == 9:
                    report.error("header", "the #CHROM line has a FORMAT column but no sample "
                                 "column", file=path, record=f"line {line_no}",
                                 fix="add the sample name(s) after FORMAT")
                    text.header_ok = False
                dup = sorted({s for s in samples if samples.count(s) > 1})
                if dup:
                    text.header_ok = False
                    report.error("samples", f"duplicate sample name(s) {', '.join(dup)}",
                                 file=path, record=f"line {line_no}",
                                 fix="give each sample column a unique name (bcftools reheader)")
                for name in samples:
                    if not name.strip():
                        text.header_ok = False
                        report.error("samples", "an empty sample name in the #CHROM line",
                                     file=path, record=f"line {line_no}",
                                     fix="name every sample column (no doubled tabs)")
                    elif name != name.strip():
                        report.info("samples", f"sample name {name!r} has leading or trailing "
                                    "spaces; give it exactly, spaces included (in the sample "
                                    f'sheet in double quotes: "{name}")', file=path,
                                    record=f"line {line_no}")
                    elif not name.isascii():
                        report.info("samples", f"sample name {name!r} has non-ASCII characters "
                                    "(read as UTF-8); give it exactly the same way on the "
                                    "command line / in the sample sheet", file=path,
                                    record=f"line {line_no}")
                continue
            # a data line
            text.data_lines.append(line_no)
            if not seen_chrom:
                if text.header_ok:
                    report.error("header", "no #CHROM header line before the first record",
                                 file=path, record=f"line {line_no}",
                                 fix="add the #CHROM line (#CHROM POS ID REF ALT QUAL FILTER "
                                     "INFO [FORMAT samples...], tab-separated) above the records")
                text.header_ok = False
                seen_chrom = True  # report once
            _check_data_line(line, line_no, path, n_columns, text, undeclared, report)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as err:
        text.complete = False
        report.error("compression", f"the file is truncated or corrupt after line {line_no} "
                     f"({err})", file=path, record=f"line {line_no + 1}",
                     fix="copy or download it again; check it with `bgzip -t` / `gzip -t`")
    text.conflicting_contigs = report_conflicting_contigs(path, contigs, report)
    if not seen_chrom and text.header_ok:
        text.header_ok = False
        report.error("header", "no #CHROM header line", file=path,
                     fix="add the #CHROM line (#CHROM POS ID REF ALT QUAL FILTER INFO "
                         "[FORMAT samples...], tab-separated) after the ## lines")
    if crlf:
        report.warning("line_endings", f"{crlf} line(s) end in CRLF (Windows); htslib reads "
                       "them, but other tools may keep the \\r in the last column", file=path,
                       fix=f"convert: `dos2unix {path}` (or `sed -i 's/\\r$//'`)")
    if non_utf8:
        report.warning("encoding", "the file is not UTF-8 text (read as Latin-1)", file=path,
                       record=f"line {non_utf8}", fix="re-save it as UTF-8")
    for (kind_, ident), (first_line, n_records) in undeclared.items():
        level = WARNING
        what = {"FILTER": "FILTER value", "INFO": "INFO field", "FORMAT": "FORMAT field",
                "contig": "contig"}[kind_]
        consequence = {
            "FILTER": "unless it is listed in somatic.pass_filters, the records are "
                      "filtered (and accounted)",
            "INFO": "htslib reads it as a string",
            "FORMAT": "htslib reads it as a string (NeoRank parses AD/DP/AF numbers anyway)",
            "contig": "htslib adds it without a length",
        }[kind_]
        report.add(level, "header_declarations",
                   f"{what} {ident!r} is used on {n_records} record(s) but not declared in the "
                   f"header: {consequence}", file=path, record=f"line {first_line}",
                   fix=f"add a ##{kind_}=<ID={ident},...> line to the header "
                       "(`bcftools annotate --header-lines`)")
    if text.data_lines and not text.declared["contig"] and text.header_ok:
        report.info("header_declarations", "no ##contig lines in the header (contig lengths "
                    "unknown; REF is not checked against contig ends)", file=path)
    return text


def _note(undeclared: dict[tuple[str, str], list[int]], key: tuple[str, str], line: int) -> None:
    entry = undeclared.setdefault(key, [line, 0])
    entry[1] += 1


def _check_data_line(line: str, line_no: int, path: Path, n_columns: int | None, text: VcfText,
                     undeclared: dict[tuple[str, str], list[int]], report: Report) -> None:
    where = f"line {line_no}"
    if not line.strip():
        text.bad_lines.add(line_no)
        report.error("columns", "an empty line among the records (htslib stops reading there)",
                     file=path, record=where, fix="delete blank lines")
        return
    fields = line.split("\t")
    if len(fields) < 8:
        text.bad_lines.add(line_no)
        if len(line.split()) >= 8:
            report.error("columns", "columns separated by spaces, not tabs", file=path,
                         record=where, fix="VCF columns are tab-separated: replace the spaces "
                                           "between columns with tabs")
        else:
            report.error("columns", f"only {len(fields)} tab-separated column(s); a VCF record "
                         "needs 8 (CHROM POS ID REF ALT QUAL FILTER INFO) plus FORMAT and one "
                         "per sample", file=path, record=where,
                         fix="restore the record (a truncated line?) or delete it")
        return
    if n_columns is not None and len(fields) != n_columns:
        text.bad_lines.add(line_no)
        n_samples = max(0, n_columns - 9)
        report.error("columns", f"{len(fields)} columns, but the #CHROM line declares "
                     f"{n_samples} sample(s), so {n_columns} are expected"
                     + (" (a sample column is missing)" if len(fields) < n_columns else ""),
                     file=path, record=where,
                     fix="every record needs one column per sample in the #CHROM line "
                         "(use `.` for a missing call)")
    chrom, pos = fields[0], fields[1]
    try:
        position = int(pos)
    except ValueError:
        text.bad_lines.add(line_no)
        report.error("position", f"POS {pos!r} is not an integer", file=path, record=where,
                     fix="POS is the 1-based position of the first REF base")
    else:
        if position < 1:
            text.bad_lines.add(line_no)
            report.error("position", f"POS {position} at {chrom}: VCF positions start at 1",
                         file=path, record=where,
                         fix="use 1-based positions; a converter from a 0-based format (BED) "
                             "forgot to add 1?")
    if not chrom or chrom != chrom.strip():
        text.bad_lines.add(line_no)
        report.error("columns", f"empty or padded CHROM {chrom!r}", file=path, record=where,
                     fix="CHROM must be the contig name without spaces")
    declared = text.declared
    if declared["contig"] and chrom not in declared["contig"]:
        _note(undeclared, ("contig", chrom), line_no)
    if fields[6] not in (".", "PASS"):
        for name in fields[6].split(";"):
            if name not in declared["FILTER"]:
                _note(undeclared, ("FILTER", name), line_no)
    if fields[7] != ".":
        for item in fields[7].split(";"):
            key = item.split("=", 1)[0]
            if key and key not in declared["INFO"]:
                _note(undeclared, ("INFO", key), line_no)
    if len(fields) > 8 and fields[8] != ".":
        for key in fields[8].split(":"):
            if key and key not in declared["FORMAT"]:
                _note(undeclared, ("FORMAT", key), line_no)


def diagnose_line(path: Path, compressed: bool, line_no: int, header: Any) -> str | None:
    """Name the value of a data line that does not match its header declaration."""
    lines = iter_lines(path, compressed)
    try:
        raw = next(itertools.islice(lines, line_no - 1, None), None)
    finally:
        lines.close()
    if raw is None:
        return None
    fields = raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")
    if len(fields) < 8:
        return None

    def bad(value: str, kind: str) -> str | None:
        for part in value.split(","):
            if part in (".", ""):
                continue
            try:
                int(part) if kind == "Integer" else float(part)
            except ValueError:
                return part
        return None

    for item in fields[7].split(";"):
        key, _, value = item.partition("=")
        meta = header.info.get(key) if key in header.info else None
        if meta is not None and meta.type in ("Integer", "Float") and bad(value, meta.type):
            return f"INFO {key}={value!r}, but the header declares Type={meta.type}"
    if len(fields) > 9:
        keys = fields[8].split(":")
        names = list(header.samples)
        for column, call in enumerate(fields[9:]):
            for key, value in zip(keys, call.split(":"), strict=False):
                meta = header.formats.get(key) if key in header.formats else None
                if meta is not None and meta.type in ("Integer", "Float") and bad(value, meta.type):
                    sample = names[column] if column < len(names) else f"column {10 + column}"
                    return (f"FORMAT {key} of sample {sample!r} is {value!r}, but the header "
                            f"declares Type={meta.type}")
    return None
