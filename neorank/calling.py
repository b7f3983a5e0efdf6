"""Somatic calling: which tumor VCF alleles are kept, and why each dropped one was dropped.

A layer below the ``somatic`` stage (which writes the VCF and the accounting table)
and ``preflight`` (which dry-runs the filters to warn before any heavy work). VCFs
are read through :mod:`neorank.vcf` (pysam).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from neorank.config import Somatic
from neorank.errors import NeoRankError
from neorank.vcf import (
    NO_PHASE,
    NOT_ASSESSED,
    Counts,
    Phase,
    allele_key,
    allele_problem,
    carries_allele,
    choose_sample,
    filter_value,
    iter_records,
    make_variant_id,
    open_vcf,
    record_counts,
    rejected_filters,
    sample_phase,
)

LOG = logging.getLogger("neorank.somatic")


#: Columns of ``results/somatic/{sample}.accounting.tsv`` (docs/tables.md).
ACCOUNTING_COLUMNS = [
    "variant_id", "chrom", "pos", "ref", "alt", "filter",
    "tumor_depth", "tumor_alt_reads", "tumor_vaf", "normal_depth", "normal_vaf",
    "status", "reason",
]


GERMLINE_REASON = "present in normal VCF (germline)"


_INFO_FIELDS = [
    ("NR_ID", "String", "NeoRank variant_id: chrom:pos:ref>alt as in the input VCF"),
    ("NR_TDP", "Integer", "Tumor read depth"),
    ("NR_TAD", "Integer", "Tumor reads supporting the ALT allele"),
    ("NR_TVAF", "Float", "Tumor variant allele fraction"),
    ("NR_NDP", "Integer", "Normal read depth (absent: not assessed)"),
    ("NR_NVAF", "Float", "Normal variant allele fraction (absent: not assessed)"),
]


@dataclass(frozen=True)
class Thresholds:
    """Filter thresholds of the somatic stage (see ``neorank somatic --help``); the
    defaults are the config's :class:`neorank.config.Somatic` section."""

    require_pass: bool = Somatic.require_pass
    #: FILTER values a record may carry and still pass (all of its values must be here).
    pass_filters: tuple[str, ...] = Somatic.pass_filters
    min_tumor_depth: int = Somatic.min_tumor_depth
    min_tumor_alt_reads: int = Somatic.min_tumor_alt_reads
    min_tumor_vaf: float = Somatic.min_tumor_vaf
    min_normal_depth: int = Somatic.min_normal_depth
    max_normal_vaf: float = Somatic.max_normal_vaf

    def validate(self) -> None:
        """Raise :class:`NeoRankError` for thresholds outside their range."""
        for name in self.pass_filters:
            if not name or name == "." or re.search(r"[;\s]", name):
                raise NeoRankError(f"--pass-filter {name!r} is not a FILTER value",
                                   fix="give one FILTER id per --pass-filter (no ';' or spaces), "
                                   "e.g. --pass-filter PASS --pass-filter HighConf")
        for name in ("min_tumor_depth", "min_tumor_alt_reads", "min_normal_depth"):
            if getattr(self, name) < 0:
                raise NeoRankError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}",
                                   fix="give a non-negative read count")
        for name in ("min_tumor_vaf", "max_normal_vaf"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise NeoRankError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}",
                                   fix="give an allele fraction, e.g. 0.05 for 5%")


@dataclass
class Allele:
    """One input record x ALT allele of the tumor (or paired) VCF."""

    chrom: str
    pos: int
    ref: str
    alt: str
    record_id: str | None
    filter: str
    tumor: Counts
    normal: Counts = NOT_ASSESSED
    reasons: list[str] = field(default_factory=list)
    in_normal_vcf: bool = False
    phase: Phase = NO_PHASE

    @property
    def variant_id(self) -> str:
        return make_variant_id(self.chrom, self.pos, self.ref, self.alt)

    @property
    def status(self) -> str:
        return "filtered" if self.reasons else "somatic"


@dataclass
class SomaticResult:
    """What :func:`call_somatic` found, in input order."""

    alleles: list[Allele]
    contigs: list[str]
    contig_lines: dict[str, str]
    tumor_sample: str | None
    mode: str

    @property
    def kept(self) -> list[Allele]:
        return [a for a in self.alleles if not a.reasons]


def _read_alleles(path: str | os.PathLike, tumor: str | None, normal: str | None, *,
                  role: str, tumor_option: str, normal_option: str | None,
                  paired: bool) -> tuple[list[Allele], list[str], dict[str, str], str | None]:
    """Split the tumor (or paired) VCF into alleles with their counts."""
    vcf = open_vcf(path, role)
    with vcf:
        tumor = choose_sample(vcf, path, tumor, "tumor", tumor_option, required=paired)
        if paired:
            normal = choose_sample(vcf, path, normal, "normal", normal_option or "", required=True)
            if normal == tumor:
                raise NeoRankError(f"tumor and normal sample are the same column ({tumor!r})",
                                   where=str(path),
                                   fix="--tumor-sample and --normal-sample must differ")
        alleles: list[Allele] = []
        for number, record in iter_records(vcf, path):
            filter_text = filter_value(record)
            alts = record.alts or (".",)
            for index, alt in enumerate(alts, start=1):
                countable = alt != "." and record.alts is not None
                alleles.append(Allele(
                    chrom=record.chrom, pos=record.pos, ref=record.ref, alt=alt,
                    record_id=record.id, filter=filter_text,
                    tumor=(record_counts(record, tumor, index, path, number)
                           if countable else NOT_ASSESSED),
                    normal=(record_counts(record, normal, index, path, number)
                            if paired and countable else NOT_ASSESSED),
                    phase=sample_phase(record, tumor, index) if countable else NO_PHASE,
                ))
        contigs = list(vcf.header.contigs)
        lines = {name: str(ctg.header_record).strip() for name, ctg in vcf.header.contigs.items()}
    return alleles, contigs, lines, tumor


def _normal_evidence(path: str | os.PathLike, sample: str | None,
                     wanted: set[tuple[str, int, str, str]]) -> dict[tuple, Counts]:
    """Stream the normal VCF; return counts for the wanted (tumor) allele keys."""
    vcf = open_vcf(path, "normal")
    found: dict[tuple, Counts] = {}
    with vcf:
        sample = choose_sample(vcf, path, sample, "normal", "--normal-sample", required=False)
        for number, record in iter_records(vcf, path):
            for index, alt in enumerate(record.alts or (), start=1):
                if allele_problem(record.ref, alt) is not None:
                    continue
                key = allele_key(record.chrom, record.pos, record.ref, alt)
                if key in wanted and key not in found and carries_allele(record, sample, index):
                    found[key] = record_counts(record, sample, index, path, number)
    return found


def _fmt(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def filter_reasons(allele: Allele, limits: Thresholds) -> list[str]:
    """Every reason ``allele`` is not kept, in the documented order (empty = somatic)."""
    reasons = []
    rejected = rejected_filters(allele.filter, limits.pass_filters)
    if limits.require_pass and rejected:
        mixed = len(rejected) < len(allele.filter.split(";"))
        reasons.append(f"FILTER={allele.filter}"
                       + (f" ({', '.join(rejected)} not accepted)" if mixed else ""))
    problem = allele_problem(allele.ref, allele.alt)
    if problem:
        reasons.append(problem)
    if allele.pos < 1:  # htslib reads POS 0; it cannot be written back
        reasons.append(f"invalid POS {allele.pos} (VCF positions start at 1)")
    if allele.in_normal_vcf:
        reasons.append(GERMLINE_REASON)
    tumor, normal = allele.tumor, allele.normal
    if tumor.depth is not None and tumor.depth < limits.min_tumor_depth:
        reasons.append(f"tumor_depth {_fmt(tumor.depth)} < {_fmt(limits.min_tumor_depth)}")
    if tumor.alt_reads is not None and tumor.alt_reads < limits.min_tumor_alt_reads:
        reasons.append(f"tumor_alt_reads {_fmt(tumor.alt_reads)} < {_fmt(limits.min_tumor_alt_reads)}")
    if tumor.vaf is not None and tumor.vaf < limits.min_tumor_vaf:
        reasons.append(f"tumor_vaf {_fmt(tumor.vaf)} < {_fmt(limits.min_tumor_vaf)}")
    if normal.depth is not None and normal.depth < limits.min_normal_depth:
        reasons.append(f"normal_depth {_fmt(normal.depth)} < {_fmt(limits.min_normal_depth)}")
    if normal.vaf is not None and normal.vaf >= limits.max_normal_vaf:
        reasons.append(f"normal_vaf {_fmt(normal.vaf)} >= {_fmt(limits.max_normal_vaf)}")
    return reasons


def call_somatic(*, limits: Thresholds, paired_vcf: str | os.PathLike | None = None,
                 tumor_vcf: str | os.PathLike | None = None,
                 normal_vcf: str | os.PathLike | None = None,
                 tumor_sample: str | None = None,
                 normal_sample: str | None = None) -> SomaticResult:
    """Classify every tumor allele as ``somatic`` or ``filtered``.

    Give either ``paired_vcf`` (with both sample names) or ``tumor_vcf`` and
    ``normal_vcf``.

    Returns
    -------
    SomaticResult
        The alleles in input order with their reasons, and the contigs (header
        order, then order of first use) for the output VCF.

    Raises
    ------
    NeoRankError
        Bad combination of inputs, unreadable VCF, unknown sample name.
    """
    limits.validate()
    if paired_vcf is not None:
        if tumor_vcf is not None or normal_vcf is not None:
            raise NeoRankError("--paired-vcf cannot be combined with --tumor-vcf/--normal-vcf",
                               fix="give one paired VCF, or a tumor VCF and a normal VCF")
        alleles, contigs, lines, tumor = _read_alleles(
            paired_vcf, tumor_sample, normal_sample, role="paired", paired=True,
            tumor_option="--tumor-sample", normal_option="--normal-sample")
        mode = "paired"
    else:
        if tumor_vcf is None or normal_vcf is None:
            raise NeoRankError("no input: give --paired-vcf, or both --tumor-vcf and --normal-vcf",
                               fix="a tumor-only run is not supported: germline variants "
                               "must be removed with a matched normal")
        alleles, contigs, lines, tumor = _read_alleles(
            tumor_vcf, tumor_sample, None, role="tumor", paired=False,
            tumor_option="--tumor-sample", normal_option=None)
        keys = [allele_key(a.chrom, a.pos, a.ref, a.alt) if allele_problem(a.ref, a.alt) is None
                else None for a in alleles]
        evidence = _normal_evidence(normal_vcf, normal_sample, {k for k in keys if k})
        for allele, key in zip(alleles, keys, strict=True):
            if key is not None and key in evidence:
                allele.in_normal_vcf = True
                allele.normal = evidence[key]
        mode = "separate"
    for allele in alleles:
        allele.reasons = filter_reasons(allele, limits)
    for allele in alleles:
        if allele.chrom not in contigs:
            contigs.append(allele.chrom)
    return SomaticResult(alleles, contigs, lines, tumor, mode)


def accounting_frame(result: SomaticResult):
    """The accounting table (docs/tables.md) as a DataFrame, input order."""
    import pandas as pd

    rows = [{
        "variant_id": a.variant_id, "chrom": a.chrom, "pos": a.pos, "ref": a.ref, "alt": a.alt,
        "filter": a.filter,
        "tumor_depth": a.tumor.depth, "tumor_alt_reads": a.tumor.alt_reads,
        "tumor_vaf": a.tumor.vaf, "normal_depth": a.normal.depth, "normal_vaf": a.normal.vaf,
        "status": a.status, "reason": "; ".join(a.reasons),
    } for a in result.alleles]
    frame = pd.DataFrame(rows, columns=ACCOUNTING_COLUMNS)
    for column in ("pos", "tumor_depth", "tumor_alt_reads", "normal_depth"):
        frame[column] = frame[column].astype("Int64")
    for column in ("tumor_vaf", "normal_vaf"):
        frame[column] = frame[column].astype("Float64")
    return frame
