"""Preflight of a VCF's records, read through the VCF layer :mod:`neorank.vcf` (pysam),
as ``neorank somatic`` reads them.

Samples, alleles, read counts, contigs and the REF bases of SNVs against the
reference transcripts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neorank.errors import NeoRankError
from neorank.preflight.report import INFO, WARNING, Report
from neorank.preflight.vcf_text import VcfText, diagnose_line
from neorank.reference import contig_for
from neorank.vcf import (
    allele_key,
    allele_problem,
    choose_sample,
    format_values,
    iter_records,
    normalize_contig,
    open_vcf,
    record_counts,
)

#: SNVs looked up in the reference transcripts per VCF (the REF check samples the file).
MAX_REF_LOOKUPS = 50_000
#: Genome-build mismatch: more than this fraction of at least MIN_REF_CHECKED SNVs (most
#: records disagree: preflight stops); below it each mismatching record is a warning naming
#: its line (annotate accounts for it with reason ref_mismatch).
MAX_REF_MISMATCH_FRACTION = 0.5
MIN_REF_CHECKED = 5

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
#: chr1 length in each build, to name the VCF header's build.
_CHR1_LENGTH = {249250621: "GRCh37", 248956422: "GRCh38"}


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
        #: The first object seen per transcript id: its sequence and exons are read once.
        self._transcripts: dict[str, Any] = {}

    def contig(self, chrom: str) -> str | None:
        if chrom not in self._contig:
            self._contig[chrom] = contig_for(self.genome, chrom, self.contigs)
        return self._contig[chrom]

    def base(self, contig: str, pos: int) -> str | None:
        """The + strand base at ``pos`` from a transcript whose exon covers it, or ``None``."""
        for transcript in self.genome.transcripts_at_locus(contig, pos):
            tid = transcript.transcript_id
            transcript = self._transcripts.setdefault(tid, transcript)
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


def scan_records(path: Path, role: str, text: VcfText | None, report: Report, *,
                 sample: str | None, sample_option: str, required: bool,
                 other_sample: str | None = None, other_option: str | None = None,
                 ref_checker: RefChecker | None = None, compressed: bool = False) -> VcfSummary:
    """Read every record with pysam (:mod:`neorank.vcf`, as ``neorank somatic`` does); check it."""
    summary = VcfSummary(path)
    try:
        vcf = open_vcf(path, role)
    except NeoRankError as err:
        if text is None or (text.header_ok and not text.unreadable):
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
        empty_calls = {column: 0 for column, _ in samples_to_check}  # records with '.' only
        first_where = ""
        conflicting = text.conflicting_contigs if text is not None else set()
        ad_number = vcf.header.formats["AD"].number if "AD" in vcf.header.formats else None
        check_ad = ad_number in (None, "R", ".")
        if not check_ad:
            report.warning("read_counts", f"FORMAT AD is declared Number={ad_number}, not R "
                           "(REF then each ALT, as GATK writes it): alt reads and VAF from AD are "
                           "not assessed (NA) for this file", file=path,
                           fix="give AD as REF,ALT counts, or provide AF (VarScan2: convert "
                               "RD/AD/FREQ, e.g. with `vcf2maf`/`bcftools +fill-tags`)")
        try:
            for number, record in iter_records(vcf, path):
                summary.records += 1
                where = _label(text, number, record)
                first_where = first_where or where
                for column in empty_calls:
                    if _no_call(record, column):
                        empty_calls[column] += 1
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
                                 f"{record.chrom} (length {length} in the header"
                                 + (", the first of its conflicting ##contig lines)"
                                    if record.chrom in conflicting else ")"), file=path,
                                 record=where,
                                 fix="fix the header's duplicate ##contig lines first (see the "
                                     "header error)" if record.chrom in conflicting else
                                     "the record does not fit the contig: wrong genome build "
                                     "or a corrupted record")
                for index, alt in enumerate(alts, start=1):
                    problem = allele_problem(ref, alt)
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
                    key = allele_key(record.chrom, record.pos, ref, alt)
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
                            ad = format_values(record.samples[column].get("AD"))
                        except (ValueError, TypeError):  # reported by _check_counts
                            continue
                        present = [v for v in ad if v is not None]
                        _check_ad_dp(record, column, label, ad, path, where, report)
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
                    detail = diagnose_line(path, compressed, text.data_lines[number - 1],
                                            vcf.header)
                report.error("parse", f"htslib cannot parse this record ({err.problem})"
                             + (f": {detail}" if detail else "")
                             + "; records after it were not checked", file=path, record=label,
                             fix=err.fix or "")
            return summary
        summary.readable = True
    for column, label in samples_to_check:
        if summary.records and empty_calls.get(column) == summary.records:
            _report_empty_sample(path, column, label, role, summary.records, first_where,
                                 report)
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


def _resolve(vcf: Any, path: Path, requested: str | None, role: str, option: str,
             required: bool, report: Report) -> str | None:
    try:
        return choose_sample(vcf, path, requested, role, option, required)
    except NeoRankError as err:
        report.error("samples", err.problem, file=path, fix=err.fix or "")
        return None


def _missing(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_missing(v) for v in value)
    return value is None or value in (".", "")


def _no_call(record: Any, column: str) -> bool:
    """The sample column is '.' (or every FORMAT value of it is missing) on this record."""
    try:
        values = list(record.samples[column].values())
    except (KeyError, ValueError, TypeError):
        return False
    return all(_missing(v) for v in values)


def _report_empty_sample(path: Path, column: str, label: str, role: str, records: int,
                         first: str, report: Report) -> None:
    if label == "normal":
        consequence = ("the normal read-count filters (somatic.min_normal_depth, "
                       "somatic.max_normal_vaf) cannot work: normal depth and VAF are not "
                       "assessed (NA), so no germline variant is removed by them"
                       if role == "paired" else
                       "the normal's depth and VAF are not assessed (NA); a tumor allele "
                       "found in this VCF is still removed as germline")
        fix = ("give the caller's tumor/normal output with the normal calls, or check that "
               "--normal-sample (normal_sample in the sheet) names the normal column")
    else:
        consequence = ("the tumor depth, alt-read and VAF filters cannot work (not assessed, "
                       "NA)")
        fix = ("give the caller's output with the tumor calls, or check that --tumor-sample "
               "(tumor_sample in the sheet) names the tumor column")
    report.warning("samples", f"{label} sample {column!r} is '.' (no call, no counts) on every "
                   f"one of the {records} record(s): {consequence}", file=path,
                   record=f"{first} and every later record", fix=fix)


def _check_ad_dp(record: Any, column: str, label: str, ad: tuple, path: Path, where: str,
                 report: Report) -> None:
    """AD summing above DP: the VAF from alt reads / DP is inflated."""
    if "DP" not in record.format.keys():
        return
    try:
        (depth,) = format_values(record.samples[column].get("DP"))[:1] or (None,)
    except (ValueError, TypeError):
        return
    present = [v for v in ad if v is not None]
    if depth is None or not present or sum(present) <= depth:
        return
    report.warning("read_counts", f"{label} sample {column!r}: AD "
                   f"{','.join('.' if v is None else str(v) for v in ad)} sums to "
                   f"{sum(present)}, more than DP {depth}: NeoRank takes DP as the depth, so a "
                   "VAF from alt reads / DP is too high and the depth filters see fewer reads "
                   "than AD", file=path, record=where,
                   fix="check how the caller counts reads (DP after read filters, AD before?); "
                       "nothing to do if that is expected, else fix AD/DP (or give AF)")


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
        counts = record_counts(record, column, index, path, number)
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
            if contig in text.conflicting_contigs:
                continue  # reported as a header error, not a build
            if normalize_contig(contig) == "1" and length in _CHR1_LENGTH:
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
                       f"{expected} here: annotate cannot use this record and accounts for it "
                       "in variants.tsv with reason ref_mismatch", file=path, record=where,
                       fix="check this record (a REF/ALT swap, a caller bug or a different "
                           "build?); nothing to do if you accept losing it")
    report.info("reference_bases", f"{checked} SNV REF base(s) in transcribed exons checked "
                f"against the reference cDNA: {len(mismatches)} mismatch(es)", file=path)
