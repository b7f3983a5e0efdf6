"""``neorank preflight``: check one sample's inputs before any heavy work.

Every problem is collected (the check never stops at the first one) into a TSV
report, ``results/preflight/{sample}.tsv``, one row per finding:

========== ==================================================================
column     meaning
========== ==================================================================
severity   ``error`` (the run would fail or give wrong results: fix it),
           ``warning`` (the run works, but something is lost, filtered or
           suspicious: read it) or ``info`` (what was found)
check      the check's name (``file``, ``compression``, ``header``,
           ``columns``, ``samples``, ``alleles``, ``read_counts``,
           ``reference_bases``, ``hla``, ...)
file       the file concerned (empty for command-line values)
record     ``line N`` of the (decompressed) file, or ``record N (chrom:pos)``
message    what is wrong
fix        how to fix it
========== ==================================================================

The command exits with status 1 and prints every error and warning on stderr
when there is any error; the workflow's ``preflight`` rule runs it before the
``somatic`` stage, so nothing heavy runs on inputs that cannot work.

What is checked (see also ``tests/data/bad_inputs/README.md``):

* each VCF: exists, readable, not empty, not binary; bgzip (BGZF) rather than
  plain gzip (htslib cannot read plain gzip); not truncated; the
  ``##fileformat`` and ``#CHROM`` header lines; tab-separated columns; one
  column per sample; POS >= 1; blank lines; CRLF line endings; FILTER, INFO
  and FORMAT ids declared in the header; then every record through pysam
  (the same reader and helpers as ``neorank somatic``), naming the line;
* the tumor and normal sample columns exist (closest name suggested);
* alleles that the somatic stage will filter and account (symbolic, breakend,
  ``*``, ``N``, ...), multi-allelic records (split), duplicates, lowercase bases;
* read counts: which of GT/AD/AF/DP the caller provides, which caller the
  file looks like (Mutect2, Strelka2, VarScan2, FreeBayes, DeepVariant,
  generic), AF outside [0, 1], AD with the wrong number of values,
  non-numeric counts;
* contigs against the reference (``chr`` prefix reconciled), REF past the
  contig's end, and the REF base of SNVs in transcribed exons against the
  reference transcript cDNA (strand-aware, through the exon structure; there
  is no genome FASTA). More than 20% mismatches among at least 5 checked SNVs
  is an error naming a genome-build mismatch (GRCh37 vs GRCh38);
* zero variants, and inputs where every allele is germline;
* the HLA typing (:func:`neorank.alleles.normalize` for every allele; class
  II, unparseable, one-field names and an empty list are errors; null
  alleles warnings; names the MHCflurry models do not know are errors with
  close matches, via :func:`neorank.models.resolve_alleles`);
* purity in [0, 1];
* the expression table: readable, its format (Salmon ``quant.sf``, Kallisto
  ``abundance.tsv``, RSEM ``*.results``, a plain gene table), and whether its
  ids match the reference;
* the tumor RNA BAM (opens as BAM, indexed, coordinate-sorted, contigs of the
  reference, mapped reads) and the copy-number table (per-variant or
  segments, parsed as ranking parses it; segment contigs on the reference).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import gzip
import itertools
import logging
import math
import os
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neorank import somatic
from neorank.errors import NeoRankError
from neorank.reference import add_reference_arguments

LOG = logging.getLogger(__name__)

#: Columns of ``results/preflight/{sample}.tsv``.
REPORT_COLUMNS = ["severity", "check", "file", "record", "message", "fix"]
ERROR, WARNING, INFO = "error", "warning", "info"
#: Findings of one check in one file listed individually; the rest are summarised.
MAX_ROWS_PER_CHECK = 20
#: SNVs looked up in the reference transcripts per VCF (the REF check samples the file).
MAX_REF_LOOKUPS = 50_000
#: Genome-build mismatch: more than this fraction of at least MIN_REF_CHECKED SNVs.
MAX_REF_MISMATCH_FRACTION = 0.2
MIN_REF_CHECKED = 5

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_META_ID = re.compile(r"##(INFO|FORMAT|FILTER|contig)=<ID=([^,>]+)")
_CONTIG_LENGTH = re.compile(r"[<,]length=(\d+)")
_CHROM_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
#: chr1 length in each build, to name the VCF header's build.
_CHR1_LENGTH = {249250621: "GRCh37", 248956422: "GRCh38"}


# ------------------------------------------------------------------------ report
@dataclass
class Finding:
    """One row of the preflight report."""

    severity: str
    check: str
    file: str
    record: str
    message: str
    fix: str


@dataclass
class Report:
    """Findings in the order they were made; at most MAX_ROWS_PER_CHECK per check and file."""

    findings: list[Finding] = field(default_factory=list)
    _counts: Counter = field(default_factory=Counter)
    _summarised: set = field(default_factory=set)

    def add(self, severity: str, check: str, message: str, *, file: Any = "", record: str = "",
            fix: str = "") -> None:
        key = (severity, check, str(file))
        self._counts[key] += 1
        if self._counts[key] <= MAX_ROWS_PER_CHECK:
            self.findings.append(Finding(severity, check, str(file), record, message, fix))

    def error(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(ERROR, check, message, **kwargs)

    def warning(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(WARNING, check, message, **kwargs)

    def info(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(INFO, check, message, **kwargs)

    def finish(self) -> None:
        """Add one summary row per check whose findings were cut."""
        for key, count in list(self._counts.items()):
            if count > MAX_ROWS_PER_CHECK and key not in self._summarised:
                severity, check, file = key
                self._summarised.add(key)
                self.findings.append(Finding(
                    severity, check, file, "",
                    f"... and {count - MAX_ROWS_PER_CHECK} more '{check}' {severity}s like the "
                    "ones above", "fix the ones above the same way"))

    def count(self, severity: str) -> int:
        return sum(n for (s, _, _), n in self._counts.items() if s == severity)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    def has_error(self, file: Any = None) -> bool:
        return any(f.severity == ERROR and (file is None or f.file == str(file))
                   for f in self.findings)

    def frame(self):
        import pandas as pd

        return pd.DataFrame([asdict(f) for f in self.findings], columns=REPORT_COLUMNS)


# -------------------------------------------------------------------- VCF: bytes
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


def _open_binary(path: Path):
    return open(path, "rb")  # one place that opens input files (the unreadable-file test)


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
        with _open_binary(path) as handle:
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
    if b"\x00" in head or _binary_fraction(head) > 0.1:
        report.error("file", f"{what} is a binary file, not a text VCF (e.g. a BAM, an index "
                     "or a spreadsheet)", file=path,
                     fix="give the caller's .vcf or .vcf.gz output")
        return None
    return "text"


def _binary_fraction(data: bytes) -> float:
    control = sum(1 for b in data[:4096] if b < 9 or 13 < b < 32)
    return control / max(1, min(len(data), 4096))


def _iter_lines(path: Path, compressed: bool) -> Iterator[bytes]:
    opener = gzip.open if compressed else _open_binary
    with opener(path) as handle:  # type: ignore[operator]
        yield from handle


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
    try:
        for raw in _iter_lines(path, compressed):
            line_no += 1
            if first:
                first = False
                if raw.startswith(b"BCF"):
                    return None
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
                        if length:
                            text.contig_lengths[match.group(2)] = int(length.group(1))
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


# ------------------------------------------------------------------ VCF: records
@dataclass
class VcfSummary:
    """What the record scan found (for the caller and variant checks)."""

    path: Path
    readable: bool = False
    records: int = 0
    alleles: int = 0
    sample: str | None = None
    format_keys: Counter = field(default_factory=Counter)
    info_keys: set[str] = field(default_factory=set)
    caller: str = "generic"


class RefChecker:
    """REF bases of SNVs against the reference transcripts' cDNA (strand-aware)."""

    def __init__(self, genome: Any) -> None:
        self.genome = genome
        self.contigs = set(genome.contigs())
        self._contig: dict[str, str | None] = {}
        self._usable: dict[str, bool] = {}

    def contig(self, chrom: str) -> str | None:
        if chrom not in self._contig:
            from neorank.reference import contig_for

            self._contig[chrom] = contig_for(self.genome, chrom, self.contigs)
        return self._contig[chrom]

    def base(self, contig: str, pos: int) -> str | None:
        """The + strand base at ``pos`` from a transcript whose exon covers it, or ``None``."""
        for transcript in self.genome.transcripts_at_locus(contig, pos):
            tid = transcript.transcript_id
            if tid not in self._usable:
                sequence = transcript.sequence
                self._usable[tid] = bool(sequence) and len(sequence) == sum(
                    len(exon) for exon in transcript.exons)
            if not self._usable[tid]:
                continue
            try:
                offset = transcript.spliced_offset(pos)
            except ValueError:  # intronic for this transcript
                continue
            base = transcript.sequence[offset].upper()
            if transcript.strand == "-":
                base = base.translate(_COMPLEMENT)
            if base in "ACGT":
                return base
        return None


def _label(text: VcfText | None, number: int, record: Any = None) -> str:
    where = f"{record.chrom}:{record.pos}" if record is not None else None
    if text is not None and number <= len(text.data_lines):
        line = text.data_lines[number - 1]
        return f"line {line} ({where})" if where else f"line {line}"
    return f"record {number} ({where})" if where else f"record {number}"


@contextlib.contextmanager
def _quiet_htslib() -> Iterator[None]:
    """Silence htslib's own stderr warnings (each one becomes a report row instead)."""
    import pysam

    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def scan_records(path: Path, role: str, text: VcfText | None, report: Report, *,
                 sample: str | None, sample_option: str, required: bool,
                 other_sample: str | None = None, other_option: str | None = None,
                 ref_checker: RefChecker | None = None, compressed: bool = False) -> VcfSummary:
    """Read every record with pysam (``neorank somatic``'s reader) and check it."""
    summary = VcfSummary(path)
    try:
        vcf = somatic._open_vcf(path, role)
    except NeoRankError as err:
        if text is None or text.header_ok:
            report.error("parse", err.problem, file=path, fix=err.fix or "")
        return summary
    with vcf:
        samples = list(vcf.header.samples)
        sample_role = "tumor" if role == "paired" else role
        resolved = _resolve(vcf, path, sample, sample_role, sample_option, required, report)
        other = None
        if other_option is not None:
            other = _resolve(vcf, path, other_sample, "normal", other_option, True, report)
            if other is not None and other == resolved:
                report.error("samples", f"tumor and normal are the same column ({resolved!r})",
                             file=path, fix="--tumor-sample and --normal-sample must differ")
        if not samples and not required:  # (required: _resolve reported it)
            report.warning("samples", f"sites-only {role} VCF (no sample column): read "
                           "counts are not assessed (NA)", file=path,
                           fix="give the caller's VCF with its sample column(s) to use "
                               "read-depth and VAF filters")
        summary.sample = resolved
        summary.info_keys = set(vcf.header.info)
        # Duplicates are tracked for the tumor/paired VCF, whose alleles are accounted; a
        # (large, germline) normal VCF only removes alleles, duplicates do no harm there.
        seen: dict[tuple, str] = {}
        is_normal = role == "normal"
        lowercase: list[str] = []  # the first one, and a count
        n_lowercase = 0
        multi = 0
        unknown_contigs: Counter = Counter()
        checked = 0
        lookups = 0
        mismatches: list[tuple[str, str, str]] = []
        contig_lengths = {name: c.length for name, c in vcf.header.contigs.items()}
        samples_to_check = [(s, n) for s, n in ((resolved, sample_role), (other, "normal"))
                            if s is not None]
        ad_number = vcf.header.formats["AD"].number if "AD" in vcf.header.formats else None
        check_ad = ad_number in (None, "R", ".")
        if not check_ad:
            report.warning("read_counts", f"FORMAT AD is declared Number={ad_number}, not R "
                           "(REF then each ALT, as GATK writes it): alt reads and VAF from AD are "
                           "not assessed (NA) for this file", file=path,
                           fix="give AD as REF,ALT counts, or provide AF (VarScan2: convert "
                               "RD/AD/FREQ, e.g. with `vcf2maf`/`bcftools +fill-tags`)")
        try:
            for number, record in somatic._iter_records(vcf, path):
                summary.records += 1
                where = _label(text, number, record)
                alts = record.alts or (".",)
                summary.alleles += len(alts)
                for key in record.format.keys():
                    summary.format_keys[key] += 1
                if len(alts) > 1:
                    multi += 1
                ref = record.ref or "."
                literal = [a for a in alts if re.fullmatch(r"[A-Za-z]+", a)]
                if ref != ref.upper() or any(a != a.upper() for a in literal):
                    n_lowercase += 1
                    lowercase = lowercase or [where]
                length = contig_lengths.get(record.chrom)
                if length and record.pos + len(ref) - 1 > length:
                    report.error("contigs", f"REF {ref[:20]}{'...' if len(ref) > 20 else ''} "
                                 f"({len(ref)} bases at {record.pos}) extends past the end of "
                                 f"{record.chrom} (length {length} in the header)", file=path,
                                 record=where,
                                 fix="the record does not fit the contig: wrong genome build "
                                     "or a corrupted record")
                for index, alt in enumerate(alts, start=1):
                    problem = somatic.allele_problem(ref, alt)
                    if problem and is_normal:
                        report.info("alleles", f"{record.chrom}:{record.pos} {ref}>{alt}: "
                                    f"{problem}; not used for germline subtraction", file=path,
                                    record=where)
                    elif problem:
                        report.add(INFO if alt == "." else WARNING, "alleles",
                                   f"{record.chrom}:{record.pos} {ref}>{alt}: {problem}; the "
                                   "somatic stage filters it (listed in the accounting table "
                                   "with this reason)", file=path, record=where,
                                   fix=_allele_fix(problem))
                    key = somatic.allele_key(record.chrom, record.pos, ref, alt)
                    if not is_normal and alt != "." and key in seen:
                        report.warning("duplicates", f"{record.chrom}:{record.pos} {ref}>{alt} "
                                       f"repeats {seen[key]}: both get an accounting row and "
                                       "the allele is counted twice", file=path, record=where,
                                       fix="remove duplicate records: `bcftools norm -d exact`")
                    elif not is_normal:
                        seen[key] = where
                    if problem:
                        continue
                    for column, label in samples_to_check:
                        _check_counts(record, column, label, index, number, path, where, report)
                if check_ad and len(record.alleles or ()) > 1 and "AD" in record.format.keys():
                    for column, label in samples_to_check:
                        try:
                            ad = somatic._as_tuple(record.samples[column].get("AD"))
                        except (ValueError, TypeError):  # reported by _check_counts
                            continue
                        present = [v for v in ad if v is not None]
                        if present and len(ad) < len(record.alleles):
                            report.warning(
                                "read_counts", f"{label} sample {column!r}: AD has {len(ad)} "
                                f"value(s) but the record has {len(record.alleles)} alleles "
                                "(AD is Number=R: REF then each ALT): alt reads not assessed",
                                file=path, record=where,
                                fix="AD must list the REF count then one count per ALT "
                                    "(VarScan2's AD is alt-only: see the caller note)")
                if ref_checker is not None:
                    contig = ref_checker.contig(record.chrom)
                    if contig is None:
                        unknown_contigs[record.chrom] += 1
                    elif (len(ref) == 1 and ref.upper() in "ACGT" and lookups < MAX_REF_LOOKUPS
                          and any(len(a) == 1 and a.upper() in "ACGT" for a in alts)
                          and record.pos >= 1):
                        lookups += 1
                        expected = ref_checker.base(contig, record.pos)
                        if expected is not None:
                            checked += 1
                            if expected != ref.upper():
                                mismatches.append((where, ref, expected))
        except NeoRankError as err:
            found = re.search(r"record (\d+)", err.where or "")
            number = int(found.group(1)) if found else summary.records + 1
            label = _label(text, number)
            known = (text is not None and number <= len(text.data_lines)
                     and text.data_lines[number - 1] in text.bad_lines)
            if not known:  # a problem the line scan did not already report
                detail = None
                if text is not None and number <= len(text.data_lines):
                    detail = _diagnose_line(path, compressed, text.data_lines[number - 1],
                                            vcf.header)
                report.error("parse", f"htslib cannot parse this record ({err.problem})"
                             + (f": {detail}" if detail else "")
                             + "; records after it were not checked", file=path, record=label,
                             fix=err.fix or "")
            return summary
        summary.readable = True
    if multi:
        report.info("alleles", f"{multi} multi-allelic record(s): split into one allele each "
                    "(one accounting row per ALT)", file=path)
    if lowercase:
        report.info("alleles", f"{n_lowercase} record(s) with lowercase bases (first: "
                    f"{lowercase[0]}): compared case-insensitively", file=path,
                    record=lowercase[0], fix="optional: uppercase the bases")
    if ref_checker is not None:
        _report_reference(path, report, unknown_contigs, checked, mismatches, text,
                          ref_checker.genome)
    return summary


def _diagnose_line(path: Path, compressed: bool, line_no: int, header: Any) -> str | None:
    """Name the value of a data line that does not match its header declaration."""
    lines = _iter_lines(path, compressed)
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


def _resolve(vcf: Any, path: Path, requested: str | None, role: str, option: str,
             required: bool, report: Report) -> str | None:
    try:
        return somatic._resolve_sample(vcf, path, requested, role, option, required)
    except NeoRankError as err:
        report.error("samples", err.problem, file=path, fix=err.fix or "")
        return None


def _allele_fix(problem: str) -> str:
    if problem.startswith(("symbolic", "breakend")):
        return ("structural variants are not supported; nothing to do if you accept that "
                "(give SNVs/indels with literal alleles to use them)")
    if problem.startswith("spanning-deletion"):
        return "nothing to do: '*' marks an overlapping deletion given in another record"
    if "contains N" in problem:
        return ("an N base has no protein effect; nothing to do if you accept that (re-call "
                "the variant to get the base)")
    if problem.startswith("no ALT"):
        return "nothing to do: a reference-only record (no variant allele)"
    return "check the caller's output; REF and ALT must be A/C/G/T sequences"


def _check_counts(record: Any, column: str, label: str, index: int, number: int, path: Path,
                  where: str, report: Report) -> None:
    try:
        counts = somatic._record_counts(record, column, index, path, number)
    except NeoRankError as err:
        report.error("read_counts", err.problem, file=path, record=where, fix=err.fix or "")
        return
    if counts.vaf is not None and not 0.0 <= counts.vaf <= 1.0:
        source = "AF" if "AF" in record.format.keys() else "alt reads / depth"
        report.error("read_counts", f"{label} sample {column!r}: VAF {counts.vaf:g} ({source}) "
                     f"is outside [0, 1] for ALT {record.alts[index - 1]}", file=path,
                     record=where,
                     fix="AF must be a fraction (0.25, not 25 or 25%); AD alt reads cannot exceed "
                         "the depth. Fix the caller's output or drop the AF field")
    for name, value in (("depth", counts.depth), ("alt reads", counts.alt_reads)):
        if value is not None and value < 0:
            report.error("read_counts", f"{label} sample {column!r}: negative {name} {value}",
                         file=path, record=where, fix="read counts must be >= 0")


def _report_reference(path: Path, report: Report, unknown: Counter, checked: int,
                      mismatches: list[tuple[str, str, str]], text: VcfText | None,
                      genome: Any) -> None:
    name = f"{genome.reference_name} ({getattr(genome, 'annotation_name', '')} "\
           f"{getattr(genome, 'annotation_version', '') or ''})".replace(" )", ")")
    if unknown:
        listed = ", ".join(f"{c} ({n})" for c, n in unknown.most_common(10))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        report.warning("contigs", f"{sum(unknown.values())} record(s) on contig(s) the reference "
                       f"{name} does not have: {listed}{more}; they will be "
                       "'outside_reference' (accounted, no peptides)", file=path,
                       fix="expected for a subset reference or unplaced contigs; otherwise use "
                           "the reference the VCF was called against (chr prefixes are "
                           "reconciled automatically)")
    if not checked:
        report.info("reference_bases", "no SNV of this file lies in a transcribed exon of the "
                    f"reference {name}: REF bases not checked", file=path)
        return
    fraction = len(mismatches) / checked
    build_hint = ""
    if text is not None:
        for contig, length in text.contig_lengths.items():
            if somatic.normalize_contig(contig) == "1" and length in _CHR1_LENGTH:
                build_hint = f"; the VCF header's chr1 length {length} is {_CHR1_LENGTH[length]}"
        for line in text.meta:
            if line.startswith("##reference=") or "assembly=" in line:
                build_hint += f"; header: {line[:80]}"
                break
    if checked >= MIN_REF_CHECKED and fraction > MAX_REF_MISMATCH_FRACTION:
        examples = "; ".join(f"{w}: VCF REF {r}, reference {e}" for w, r, e in mismatches[:3])
        report.error("reference_bases", f"{len(mismatches)} of {checked} SNV REF bases "
                     f"({fraction:.0%}) in transcribed exons differ from the reference {name}: "
                     "the VCF was most likely called on another genome build (GRCh37/hg19 vs "
                     f"GRCh38){build_hint}. Examples: {examples}", file=path,
                     fix="use the annotation of the VCF's build (reference.release 75 is the last "
                         "GRCh37 Ensembl release; 76+ are GRCh38), or lift the VCF over "
                         "(`bcftools +liftover`, Picard LiftoverVcf)")
        return
    for where, ref, expected in mismatches:
        report.warning("reference_bases", f"REF {ref} but the reference transcript has "
                       f"{expected} here", file=path, record=where,
                       fix="check this record (a REF/ALT swap or a different build?)")
    report.info("reference_bases", f"{checked} SNV REF base(s) in transcribed exons checked "
                f"against the reference cDNA: {len(mismatches)} mismatch(es)", file=path)


# ----------------------------------------------------------------------- callers
def detect_caller(meta: list[str], format_keys: set[str], info_keys: set[str]) -> str:
    """Name the variant caller that most likely wrote the VCF."""
    header = "\n".join(meta).lower()
    if "mutect" in header or {"TLOD"} <= info_keys and {"F1R2", "F2R1"} & format_keys:
        return "Mutect2"
    if "strelka" in header or {"AU", "CU", "GU", "TU"} <= format_keys or (
            {"TAR", "TIR"} <= format_keys and "GT" not in format_keys):
        return "Strelka2"
    if "varscan" in header or {"FREQ", "RD"} <= format_keys:
        return "VarScan2"
    if "freebayes" in header or {"RO", "AO"} <= format_keys:
        return "FreeBayes"
    if "deepvariant" in header or ("VAF" in format_keys and "GQ" in format_keys
                                    and "AF" not in format_keys):
        return "DeepVariant"
    return "generic"


_CALLER_NOTES = {
    "Mutect2": (INFO, "AD/AF/DP per sample are used as they are (DP missing -> sum of AD)"),
    "Strelka2": (INFO, "no GT; tier-1 counts (AU/CU/GU/TU for SNVs, TAR/TIR for indels) give "
                       "alt reads and VAF = alt / (ref + alt)"),
    "VarScan2": (WARNING, "VarScan2's AD holds the ALT reads only (RD the REF reads) and FREQ "
                          "is a percentage: NeoRank reads neither, so tumor alt reads and VAF "
                          "are not assessed (NA); depth comes from DP"),
    "FreeBayes": (WARNING, "FreeBayes' RO/AO counts are not read; only AD/DP (if present) are "
                           "used, otherwise read counts are not assessed (NA)"),
    "DeepVariant": (INFO, "VAF comes from AD and DP (DeepVariant's own VAF field is not read); "
                          "DeepVariant is a germline caller: use a somatic caller for tumors"),
    "generic": (INFO, "AD/AF/DP are used when present; anything missing is not assessed (NA)"),
}


def report_caller(summary: VcfSummary, text: VcfText | None, role: str, report: Report) -> None:
    if not summary.readable:
        return
    keys = set(summary.format_keys)
    summary.caller = detect_caller(text.meta if text else [], keys, summary.info_keys)
    provided = [k for k in ("GT", "AD", "AF", "DP") if k in keys]
    missing = [k for k in ("GT", "AD", "AF", "DP") if k not in keys]
    severity, note = _CALLER_NOTES[summary.caller]
    report.add(severity, "caller", f"{role} VCF looks like {summary.caller} output; FORMAT "
               f"provides {', '.join(provided) or 'none of GT/AD/AF/DP'}"
               + (f" (missing: {', '.join(missing)})" if missing else "") + f". {note}",
               file=summary.path)
    if summary.records and summary.sample is not None:
        tiers = {"AU", "CU", "GU", "TU", "TAR", "TIR"} & keys
        if "DP" not in keys and "AD" not in keys and not tiers:
            report.warning("read_counts", f"{role} sample {summary.sample!r} has neither DP, AD "
                           "nor Strelka2 tier counts: depth and alt-read filters cannot be "
                           "applied (not assessed)", file=summary.path,
                           fix="give the caller's per-sample read counts (FORMAT AD/DP)")
        elif "DP" not in keys and "AD" in keys:
            report.info("read_counts", f"no FORMAT DP in the {role} VCF: depth = sum of AD",
                        file=summary.path)


# -------------------------------------------------------------------- the inputs
def check_vcf(path: str, role: str, report: Report, *, sample: str | None, sample_option: str,
              required: bool, other_sample: str | None = None, other_option: str | None = None,
              ref_checker: RefChecker | None = None) -> VcfSummary:
    """All checks of one VCF; returns what the record scan found."""
    file = Path(path)
    kind = probe_file(file, role, report)
    if kind is None:
        return VcfSummary(file)
    text = None
    if kind != "bcf":
        text = scan_text(file, kind, role, report)
    if kind == "bgzf-noeof":
        complete = text is None or text.complete
        report.error("compression", f"the {role} VCF's bgzip end-of-file marker is missing: "
                     + ("htslib refuses to read it (the data itself decompresses completely)"
                        if complete else "the file is truncated"), file=file,
                     fix="copy or download the file again (check it with `bgzip -t`)"
                         + ("" if not complete else "; or recompress it: "
                            f"`bgzip -dc {file} | bgzip > fixed.vcf.gz`"))
    if kind in ("gzip", "bgzf-noeof") or (text is not None and not text.complete):
        return VcfSummary(file)
    with _quiet_htslib():
        summary = scan_records(file, role, text, report, sample=sample,
                               sample_option=sample_option, required=required,
                               other_sample=other_sample, other_option=other_option,
                               ref_checker=ref_checker, compressed=kind != "text")
    report_caller(summary, text, role, report)
    if summary.readable and summary.records == 0:
        report.warning("variants", f"the {role} VCF has no variant records (header only)",
                       file=file,
                       fix="nothing to rank: check that the caller ran on the right files"
                           if role != "normal" else
                           "an empty normal VCF removes no germline variant: is it the right "
                           "file?")
    return summary


def check_somatic_outcome(args: argparse.Namespace, report: Report) -> None:
    """Run the somatic classification (default thresholds, the given --pass-filter values).

    Flags inputs with zero variants or only germline ones.
    """
    try:
        with _quiet_htslib():
            result = somatic.call_somatic(
                limits=somatic.Thresholds(pass_filters=tuple(
                    getattr(args, "pass_filters", None) or somatic.Thresholds.pass_filters)),
                paired_vcf=args.paired_vcf,
                tumor_vcf=args.tumor_vcf, normal_vcf=args.normal_vcf,
                tumor_sample=args.tumor_sample, normal_sample=args.normal_sample)
    except NeoRankError as err:  # already reported by the file checks
        LOG.debug("somatic dry run failed: %s", err)
        return
    source = args.paired_vcf or args.tumor_vcf
    alleles = result.alleles
    if not alleles:
        return
    kept = len(result.kept)

    def germline(allele: somatic.Allele) -> bool:
        return allele.in_normal_vcf or any(
            "germline" in r.lower() or r.startswith("normal_vaf") for r in allele.reasons)

    report.info("variants", f"{len(alleles)} input allele(s) (records x ALT), each with one "
                f"accounting row; {kept} pass the default somatic filters", file=source)
    if all(a.alt == "." for a in alleles):
        report.warning("variants", f"zero variants: all {len(alleles)} record(s) have no ALT "
                       "allele ('.': reference-only, e.g. gVCF blocks)", file=source,
                       fix="give the caller's variant calls, not a gVCF or a genotyped site list")
    elif kept == 0 and all(germline(a) for a in alleles):
        report.warning("variants", f"all {len(alleles)} tumor allele(s) are germline "
                       "(present in the normal" + (" VCF" if result.mode == "separate" else "")
                       + "): no somatic variant is left", file=source,
                       fix="check that the tumor and normal inputs are not swapped or the same "
                           "file, and that the tumor VCF holds somatic calls")
    elif kept == 0:
        reasons = Counter(re.split(r"\s[\d<>]", r)[0] for a in alleles for r in a.reasons)
        listed = ", ".join(f"{r} ({n})" for r, n in reasons.most_common(5))
        report.warning("variants", f"none of the {len(alleles)} allele(s) passes the default "
                       f"somatic filters (reasons: {listed})", file=source,
                       fix="check the thresholds in config `somatic` and the caller's FILTER "
                           "values")


@dataclass
class _ModelAlleles:
    """The allele names a saved MHCflurry model knows, read without loading it."""

    label: str
    known: set[str]
    trained: set[str] | None
    affinity_only: bool = True

    def known_alleles(self) -> set[str]:
        return self.known

    def trained_alleles(self) -> set[str] | None:
        return self.trained


def model_alleles(models: str, embedded_dir: str, official_dir: str | None) -> _ModelAlleles:
    """Known allele names of a model folder (``allele_sequences.csv`` and ``manifest.csv``).

    Raises
    ------
    neorank.errors.ModelError
        The folder is missing (see :func:`neorank.models.resolve_models_dir`).
    """
    import pandas as pd

    from neorank.models import (
        TRAINING_COUNTS,
        affinity_dir,
        allele_name_table,
        normalizer,
        resolve_models_dir,
    )

    folder, label = resolve_models_dir(models, embedded_dir, official_dir)
    affinity = affinity_dir(folder)
    raw: set[str] = set()
    for table in sorted(affinity.glob("pseudosequences*.csv")) + [affinity / "allele_sequences.csv"]:
        if table.exists():
            raw |= set(pd.read_csv(table).iloc[:, 0].astype(str))
    manifest = affinity / "manifest.csv"
    if manifest.exists():
        frame = pd.read_csv(manifest)
        if "allele" in frame:
            raw |= {a for a in frame["allele"].dropna().astype(str) if "*" in a}
    normalize_allele_name = normalizer(allele_name_table(folder))
    known = {normalize_allele_name(a, raise_on_error=False) or a for a in raw}
    trained = None
    counts = folder / TRAINING_COUNTS
    if counts.exists():
        frame = pd.read_csv(counts)
        trained = {normalize_allele_name(a, raise_on_error=False) or a
                   for a, n in zip(frame["allele"], frame["training_measurements"], strict=True)
                   if n > 0}
    return _ModelAlleles(f"mhcflurry/{label}", known, trained)


def check_hla(spec: str, report: Report, *, models: str | None, embedded_dir: str,
              official_dir: str | None) -> None:
    """Every allele of the typing, all problems at once."""
    from neorank.alleles import NULL_SKIPPED, SUPPORTED, PatientAllele, normalize, read_typing
    from neorank.errors import AlleleError

    where = f"--alleles {spec}"
    file = spec if Path(spec).is_file() else ""
    try:
        raws = read_typing(spec)
    except AlleleError as err:
        report.error("hla", err.problem, file=err.where or file, fix=err.fix or "")
        return
    if not raws:
        report.error("hla", "no HLA class I alleles given (empty typing)", file=file,
                     fix="list the patient's HLA-A/B/C alleles, e.g. HLA-A*02:01,HLA-A*01:01,"
                         "HLA-B*08:01 (or a typing file)")
        return
    typing: list[PatientAllele] = []
    seen: set[str] = set()
    for raw in raws:
        try:
            name, is_null = normalize(raw, where=where)
        except AlleleError as err:
            report.error("hla", err.problem, file=file, record=raw, fix=err.fix or "")
            continue
        if is_null:
            report.warning("hla", f"{raw} is a null allele (not expressed): skipped",
                           file=file, record=raw,
                           fix="nothing to do if the typing is right")
        if name not in seen:
            seen.add(name)
            typing.append(PatientAllele(raw, name, NULL_SKIPPED if is_null else SUPPORTED))
    expressed = [a for a in typing if a.status != NULL_SKIPPED]
    if typing and not expressed:
        report.error("hla", "no expressed HLA class I allele: every allele given is null",
                     file=file, fix="give at least one expressed HLA-A/B/C allele")
    if not expressed or models is None:
        return
    try:
        predictor = model_alleles(models, embedded_dir, official_dir)
    except NeoRankError as err:
        report.info("hla", f"allele names not checked against the MHCflurry models "
                    f"({err.problem}); the predict stage checks them", file=err.where or "")
        return
    except Exception as err:  # an unreadable model folder: predict reports it properly
        report.info("hla", f"allele names not checked against the MHCflurry models "
                    f"({type(err).__name__}: {err})")
        return
    from neorank.models import resolve_alleles

    statuses = []
    for allele in expressed:
        try:
            (resolved,) = resolve_alleles([allele], predictor, where=where)
        except AlleleError as err:
            report.error("hla", err.problem, file=file, record=allele.input, fix=err.fix or "")
            continue
        statuses.append(f"{resolved.allele} ({resolved.status})")
        if resolved.status != SUPPORTED:
            report.warning("hla", f"{resolved.allele} has no training data in the "
                           f"{predictor.label} models: predictions are extrapolated from its "
                           "pseudosequence", file=file, record=allele.input,
                           fix="nothing to do; such alleles limit the eligibility verdict")
    if statuses:
        report.info("hla", f"{len(statuses)} expressed allele(s): {', '.join(statuses)}",
                    file=file)


def check_purity(value: str | None, report: Report) -> None:
    if value is None or not str(value).strip():
        return
    try:
        number = float(value)
    except ValueError:
        report.error("purity", f"--purity {value!r} is not a number",
                     fix="give the tumor purity as a fraction between 0 and 1 (e.g. 0.6), or "
                         "leave it empty if unknown")
        return
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        hint = " (a percentage?)" if 2 <= number <= 100 else ""
        report.error("purity", f"--purity {value} is outside [0, 1]{hint}",
                     fix="give the tumor purity as a fraction between 0 and 1 (60% -> 0.6)")


_EXPRESSION_FORMATS = [
    ("Salmon quant.sf", ["Name", "Length", "EffectiveLength", "TPM", "NumReads"], "Name"),
    ("Kallisto abundance.tsv", ["target_id", "length", "eff_length", "est_counts", "tpm"],
     "target_id"),
    ("RSEM genes.results", ["gene_id", "transcript_id(s)", "length", "effective_length",
                            "expected_count", "TPM"], "gene_id"),
    ("RSEM isoforms.results", ["transcript_id", "gene_id", "length", "effective_length",
                               "expected_count", "TPM"], "transcript_id"),
]


def detect_expression_format(columns: list[str]) -> tuple[str, str] | None:
    """``(format name, id column)`` for a known expression table header."""
    for name, required, id_column in _EXPRESSION_FORMATS:
        if all(c in columns for c in required):
            return name, id_column
    return None


def _strip_version(identifier: str) -> str:
    identifier = identifier.split("|")[0]
    return re.sub(r"^(ENS[A-Z]*[GT]\d+)\.\d+$", r"\1", identifier)


def check_expression(path: str | None, report: Report, genome: Any) -> None:
    if not path:
        return
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        report.error("expression", "the expression table does not exist" if not file.exists()
                     else "the expression table is not a file", file=file,
                     fix="check the path in the sample sheet's expression column (or leave it "
                         "empty)")
        return
    try:
        with _open_binary(file) as handle:
            head = handle.read(65536)
    except OSError as err:
        report.error("expression", f"the expression table cannot be read ({err.strerror or err})",
                     file=file, fix=f"make it readable: `chmod a+r {file}`")
        return
    if not head.strip():
        report.error("expression", "the expression table is empty", file=file,
                     fix="give Salmon quant.sf, Kallisto abundance.tsv, RSEM *.results or a "
                         "gene<TAB>value table")
        return
    compressed = head[:2] == b"\x1f\x8b"
    if not compressed and (b"\x00" in head or _binary_fraction(head) > 0.1):
        report.error("expression", "the expression table is a binary file, not a text table "
                     "(a spreadsheet?)", file=file,
                     fix="export it as tab-separated text")
        return
    try:
        table = pd.read_csv(file, sep="\t", dtype=str, comment=None, nrows=2_000_000)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error) as err:
        report.error("expression", f"the expression table cannot be parsed as TSV ({err})",
                     file=file, fix="give a tab-separated table with a header line")
        return
    columns = [str(c) for c in table.columns]
    if len(columns) < 2:
        comma = "," in columns[0] if columns else False
        report.error("expression", "the expression table has one column"
                     + (" (comma-separated? it must be tab-separated)" if comma else ""),
                     file=file, fix="give ids and values in tab-separated columns")
        return
    detected = detect_expression_format(columns)
    if detected:
        name, id_column = detected
        report.info("expression", f"expression table format: {name} ({len(table)} rows)",
                    file=file)
    else:
        id_column = columns[0]
        numeric = [c for c in columns[1:]
                   if pd.to_numeric(table[c], errors="coerce").notna().mean() > 0.9]
        if not numeric:
            report.warning("expression", "unrecognised expression table: no numeric column "
                           f"(columns: {', '.join(columns[:8])})", file=file,
                           fix="give Salmon quant.sf, Kallisto abundance.tsv, RSEM *.results "
                               "or a gene<TAB>value table")
        else:
            report.info("expression", f"expression table format: plain table (ids in "
                        f"{id_column!r}, values in {', '.join(numeric[:3])}; {len(table)} rows)",
                        file=file)
    if genome is None or table.empty:
        if table.empty:
            report.warning("expression", "the expression table has no rows", file=file)
        return
    ids = {_strip_version(str(v)) for v in table[id_column].dropna()}
    known = set(genome.transcript_ids()) | set(genome.gene_ids()) | set(genome.gene_names())
    matched = ids & known
    if not matched:
        examples = ", ".join(sorted(ids)[:3])
        report.warning("expression", f"none of the {len(ids)} ids in column {id_column!r} "
                       f"(e.g. {examples}) matches a transcript id, gene id or gene name of the "
                       "reference: expression cannot be linked to the variants", file=file,
                       fix="quantify against the same Ensembl annotation as the reference "
                           "(RefSeq/UCSC ids do not match Ensembl ids)")
    else:
        report.info("expression", f"{len(matched)} of {len(ids)} ids match the reference",
                    file=file)


def _reference_contigs(genome: Any) -> set[str] | None:
    if genome is None:
        return None
    from neorank.clonality import normalise_contig

    try:
        return {normalise_contig(str(c)) for c in genome.contigs()}
    except Exception:  # an annotation without contigs: nothing to compare
        LOG.debug("reference contigs unavailable", exc_info=True)
        return None


def check_rna_bam(path: str | None, report: Report, genome: Any) -> None:
    """The tumor RNA BAM: a readable, indexed BAM whose contigs match the reference."""
    if not path:
        return
    import pysam

    from neorank.clonality import normalise_contig

    file = Path(path)
    if not file.is_file():
        report.error("rna_bam", "the RNA BAM does not exist" if not file.exists()
                     else "the RNA BAM is not a file", file=file,
                     fix="check the path in the sample sheet's rna_bam column (or leave it "
                         "empty: RNA support is then not assessed)")
        return
    try:
        with _quiet_htslib():
            bam = pysam.AlignmentFile(str(file), "rb")
    except (OSError, ValueError) as err:
        report.error("rna_bam", f"the RNA BAM cannot be opened as BAM ({err})", file=file,
                     fix="give a coordinate-sorted BAM (`samtools sort -o out.bam in.sam`)")
        return
    with bam:
        if not bam.has_index():
            report.error("rna_bam", "the RNA BAM has no index (.bai or .csi beside it)",
                         file=file, fix=f"index it: `samtools index {file}`")
            return
        sort_order = (bam.header.to_dict().get("HD") or {}).get("SO")
        if sort_order not in (None, "coordinate"):
            report.error("rna_bam", f"the RNA BAM is sorted by {sort_order}, not coordinate",
                         file=file, fix="sort it: `samtools sort` then `samtools index`")
            return
        contigs = {normalise_contig(c) for c in bam.references}
        mapped = sum(s.mapped for s in bam.get_index_statistics())
    known = _reference_contigs(genome)
    if known is not None and not contigs & known:
        report.error("rna_bam", f"none of the RNA BAM's {len(contigs)} contigs (e.g. "
                     f"{', '.join(sorted(contigs)[:3])}) is a reference contig", file=file,
                     fix="align the RNA reads to the same genome build as the variants")
        return
    if mapped == 0:
        report.warning("rna_bam", "the RNA BAM has no mapped reads: every variant will show "
                       "0 RNA reads", file=file, fix="check that this is the sample's RNA BAM")
        return
    report.info("rna_bam", f"RNA BAM: {mapped} mapped reads on {len(contigs)} contigs", file=file)


def check_copy_number(path: str | None, report: Report, genome: Any) -> None:
    """The copy-number table parses (per-variant or segments) and covers reference contigs."""
    if not path:
        return
    from neorank.clonality import read_copy_number

    table = read_copy_number(path)  # NeoRankError -> an error row (file, line, fix)
    if table.by_variant:
        report.info("copy_number", f"copy number given for {len(table.by_variant)} variant(s)",
                    file=path)
        return
    n_segments = sum(len(rows) for rows in table.segments.values())
    if not n_segments:
        report.warning("copy_number", "the copy-number table has no rows: CCF is not assessed",
                       file=path, fix="give the segments of the tumor (or leave the column empty)")
        return
    known = _reference_contigs(genome)
    if known is not None and not set(table.segments) & known:
        report.warning("copy_number", f"no segment is on a reference contig (segment contigs: "
                       f"{', '.join(sorted(table.segments)[:5])}): CCF is not assessed",
                       file=path, fix="give segments on the same genome build as the variants")
        return
    report.info("copy_number", f"{n_segments} copy-number segments on {len(table.segments)} "
                "contig(s)", file=path)


def load_reference(args: argparse.Namespace, report: Report) -> Any:
    """The annotation, or ``None`` (not given, or not loadable: reported)."""
    if args.gtf is None and args.ensembl_release is None:
        report.info("reference", "no reference given: contigs, REF bases and expression ids are "
                    "not checked", fix="pass the reference flags of `neorank annotate`")
        return None
    from neorank.reference import genome_from_args

    try:
        return genome_from_args(args)
    except NeoRankError as err:
        report.error("reference", err.problem, file=err.where or "", fix=err.fix or "")
    return None


def _guarded(report: Report, check: str, function: Any, *args: Any, about: Any = "",
             **kwargs: Any) -> Any:
    """Run one check; an unexpected exception becomes an error row (file ``about``),
    never a traceback."""
    try:
        return function(*args, **kwargs)
    except NeoRankError as err:
        report.error(check, err.problem, file=err.where or about, fix=err.fix or "")
    except Exception as err:  # a bug or an input no check foresaw: still no traceback
        LOG.debug("preflight check %s failed", check, exc_info=True)
        report.error(check, f"the {check} check could not complete ({type(err).__name__}: "
                     f"{err})", file=about,
                     fix="fix the reported inputs; if the problem remains, report it to the "
                         "NeoRank maintainers with this message")
    return None


def run_checks(args: argparse.Namespace) -> Report:
    """Every check of ``neorank preflight``; returns the (finished) report."""
    report = Report()
    paired = args.paired_vcf is not None
    separate = args.tumor_vcf is not None or args.normal_vcf is not None
    genome = _guarded(report, "reference", load_reference, args, report)
    ref_checker = RefChecker(genome) if genome is not None else None
    inputs_ok = True
    if paired and separate:
        inputs_ok = False
        report.error("inputs", "--paired-vcf cannot be combined with --tumor-vcf/--normal-vcf",
                     fix="give one paired VCF (paired_vcf in the sheet), or a tumor VCF and a "
                         "normal VCF, not both")
    elif not paired and not separate:
        inputs_ok = False
        report.error("inputs", "no input VCF", fix="give --paired-vcf, or --tumor-vcf and "
                                                   "--normal-vcf")
    if paired:
        if not args.tumor_sample or not args.normal_sample:
            inputs_ok = False
            report.error("inputs", "--paired-vcf needs --tumor-sample and --normal-sample",
                         fix="name the VCF's tumor and normal columns (tumor_sample and "
                             "normal_sample in the sample sheet)")
        _guarded(report, "vcf", check_vcf, args.paired_vcf, "paired", report,
                 about=Path(args.paired_vcf),
                 sample=args.tumor_sample or None, sample_option="--tumor-sample",
                 required=True, other_sample=args.normal_sample or None,
                 other_option="--normal-sample", ref_checker=ref_checker)
    if separate and not paired:
        if args.tumor_vcf is None or args.normal_vcf is None:
            inputs_ok = False
            report.error("inputs", "separate mode needs both --tumor-vcf and --normal-vcf",
                         fix="give the matched normal's VCF: a tumor-only run cannot remove "
                             "germline variants")
        if args.tumor_vcf is not None:
            _guarded(report, "vcf", check_vcf, args.tumor_vcf, "tumor", report,
                     about=Path(args.tumor_vcf),
                     sample=args.tumor_sample or None, sample_option="--tumor-sample",
                     required=False, ref_checker=ref_checker)
        if args.normal_vcf is not None:
            _guarded(report, "vcf", check_vcf, args.normal_vcf, "normal", report,
                     about=Path(args.normal_vcf),
                     sample=args.normal_sample or None, sample_option="--normal-sample",
                     required=False, ref_checker=ref_checker)
    vcfs = [str(Path(v)) for v in (args.paired_vcf, args.tumor_vcf, args.normal_vcf) if v]
    if inputs_ok and not any(report.has_error(v) for v in vcfs):
        _guarded(report, "variants", check_somatic_outcome, args, report)
    _guarded(report, "hla", check_hla, args.alleles, report, models=args.models,
             embedded_dir=args.embedded_dir, official_dir=args.official_dir)
    _guarded(report, "purity", check_purity, args.purity, report)
    _guarded(report, "expression", check_expression, args.expression, report, genome)
    _guarded(report, "rna_bam", check_rna_bam, getattr(args, "rna_bam", None), report, genome,
             about=getattr(args, "rna_bam", None) or "")
    _guarded(report, "copy_number", check_copy_number, getattr(args, "copy_number", None),
             report, genome, about=getattr(args, "copy_number", None) or "")
    report.finish()
    return report


# ---------------------------------------------------------------------------- CLI
def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``neorank preflight``."""
    parser = subparsers.add_parser(
        "preflight", help="check a sample's inputs (VCFs, HLA, purity, expression) up front",
        description="Check every input of one sample and report all problems at once (file, "
                    "line/record, fix) in a TSV; exit 1 if any is an error.")
    parser.add_argument("--sample", required=True, help="sample id (sample sheet)")
    parser.add_argument("--paired-vcf", metavar="FILE",
                        help="VCF with tumor and normal sample columns")
    parser.add_argument("--tumor-vcf", metavar="FILE", help="tumor VCF (separate mode)")
    parser.add_argument("--normal-vcf", metavar="FILE", help="normal VCF (separate mode)")
    parser.add_argument("--tumor-sample", metavar="NAME", help="tumor column")
    parser.add_argument("--normal-sample", metavar="NAME", help="normal column")
    parser.add_argument("--pass-filter", dest="pass_filters", action="append", metavar="ID",
                        help="FILTER value a kept record may carry (as `neorank somatic`; "
                        "default: PASS)")
    parser.add_argument("--alleles", required=True,
                        help="HLA class I typing: inline list or typing file")
    parser.add_argument("--purity", metavar="X", help="tumor purity in [0, 1]")
    parser.add_argument("--expression", metavar="FILE", help="expression table")
    parser.add_argument("--rna-bam", metavar="FILE", help="tumor RNA-seq BAM (indexed)")
    parser.add_argument("--copy-number", metavar="FILE",
                        help="copy-number table (per variant or segments)")
    add_reference_arguments(parser)
    models = parser.add_argument_group("MHCflurry models (allele names are checked against them)")
    models.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    models.add_argument("--embedded-dir", default="resources/mhcflurry/embedded")
    models.add_argument("--official-dir", default=None)
    parser.add_argument("--out", required=True, metavar="FILE", help="report TSV to write")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run every check, write the report; 1 if any error, else 0."""
    from neorank.io import write_tsv

    report = run_checks(args)
    write_tsv(report.frame(), args.out, columns=REPORT_COLUMNS)
    n_errors, n_warnings = report.count(ERROR), report.count(WARNING)
    lines = [f"neorank preflight: sample {args.sample}: {n_errors} error(s), "
             f"{n_warnings} warning(s); report: {args.out}"]
    for finding in report.findings:
        if finding.severity == INFO:
            continue
        place = ": ".join(p for p in (finding.file, finding.record) if p)
        lines.append(f"{finding.severity.upper()} [{finding.check}] "
                     f"{place + ': ' if place else ''}{finding.message}")
        if finding.fix:
            lines.append(f"    Fix: {finding.fix}")
    sys.stderr.write("\n".join(lines) + "\n")
    if n_errors:
        sys.stderr.write(f"neorank preflight: {n_errors} error(s) in the inputs of sample "
                         f"{args.sample}: fix them and re-run (nothing else was run)\n")
        return 1
    return 0
