"""Stage ``somatic``: keep the tumor's somatic alleles, account for every other one.

Two input layouts are supported:

paired
    One VCF with a tumor and a normal sample column (GATK Mutect2, Strelka2,
    ...). Read counts of both samples come from FORMAT: ``AD``/``DP``/``AF``
    (Mutect2 style; ``DP`` missing -> ``sum(AD)``, ``AF`` missing ->
    ``alt reads / depth``) or Strelka2 tier-1 counts (SNVs: ``AU,CU,GU,TU`` and
    ``DP``; indels: ``TAR,TIR`` and ``DP``; VAF = alt / (ref + alt) as Strelka2
    documents). When a sample carries none of these, its values are ``NA``
    ("not assessed"): they are never imputed and never fail a filter.
separate
    A tumor VCF and a normal (germline) VCF. Alleles of both are split and
    normalised (shared suffix then shared prefix trimmed, one anchor base kept;
    contigs compared without a ``chr`` prefix, ``chrM`` = ``MT``). A tumor
    allele also called in the normal VCF is germline and filtered. A normal
    record whose genotype is fully called and does not carry the allele (e.g.
    ``0/0`` in a joint-called VCF) does not count; the normal record's FILTER is
    not consulted.

Every tumor allele (one per record and ALT) gets one row in the accounting
table (``docs/tables.md``); the kept ones are written, one ALT per record, to a
bgzipped, tabix-indexed VCF. Both outputs are deterministic.

Reading the VCFs (samples, read counts, phasing, allele normalisation) is the
VCF layer's, :mod:`neorank.vcf`; this module applies the somatic filters.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neorank import __version__
from neorank.errors import NeoRankError
from neorank.io import write_tsv
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

LOG = logging.getLogger(__name__)

#: Columns of ``results/somatic/{sample}.accounting.tsv`` (docs/tables.md).
ACCOUNTING_COLUMNS = [
    "variant_id", "chrom", "pos", "ref", "alt", "filter",
    "tumor_depth", "tumor_alt_reads", "tumor_vaf", "normal_depth", "normal_vaf",
    "status", "reason",
]

GERMLINE_REASON = "present in normal VCF (germline)"

# INFO fields of the somatic VCF: (id, type, description).
_INFO_FIELDS = [
    ("NR_ID", "String", "NeoRank variant_id: chrom:pos:ref>alt as in the input VCF"),
    ("NR_TDP", "Integer", "Tumor read depth"),
    ("NR_TAD", "Integer", "Tumor reads supporting the ALT allele"),
    ("NR_TVAF", "Float", "Tumor variant allele fraction"),
    ("NR_NDP", "Integer", "Normal read depth (absent: not assessed)"),
    ("NR_NVAF", "Float", "Normal variant allele fraction (absent: not assessed)"),
]


# ----------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Thresholds:
    """Filter thresholds of the somatic stage (see ``neorank somatic --help``)."""

    require_pass: bool = True
    #: FILTER values a record may carry and still pass (all of its values must be here).
    pass_filters: tuple[str, ...] = ("PASS",)
    min_tumor_depth: int = 10
    min_tumor_alt_reads: int = 3
    min_tumor_vaf: float = 0.05
    min_normal_depth: int = 5
    max_normal_vaf: float = 0.02

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


# ------------------------------------------------------------------------ reading
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


# ------------------------------------------------------------------------ filters
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


# ------------------------------------------------------------------------ writing
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


def write_somatic_vcf(result: SomaticResult, path: str | os.PathLike, *, sample_id: str,
                      source_name: str, limits: Thresholds) -> None:
    """Write the kept alleles as a sorted, bgzipped, tabix-indexed VCF (atomic)."""
    import pysam

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = pysam.VariantHeader()
    header.add_line(f"##source=neorank {__version__} somatic")
    header.add_line(f"##neorank_sample={sample_id}")
    header.add_line(f"##neorank_somatic_input={source_name} ({result.mode} mode)")
    settings = ",".join(f"{k}={'|'.join(v) if isinstance(v, tuple) else v}"
                        for k, v in vars(limits).items())
    header.add_line(f"##neorank_somatic_filters={settings}")
    for name in result.contigs:
        line = result.contig_lines.get(name)
        if line:
            header.add_line(line)
        else:
            header.contigs.add(name)
    for ident, kind, text in _INFO_FIELDS:
        header.add_line(f'##INFO=<ID={ident},Number=1,Type={kind},Description="{text}">')
    sample = result.tumor_sample
    if sample is not None:
        header.add_line('##FORMAT=<ID=AD,Number=R,Type=Integer,'
                        'Description="Tumor reads supporting REF and ALT">')
        header.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Tumor read depth">')
        header.add_line('##FORMAT=<ID=AF,Number=A,Type=Float,'
                        'Description="Tumor variant allele fraction">')
        header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,'
                        'Description="Tumor genotype, recoded for this ALT (1 = carries it)">')
        header.add_line('##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">')
        header.add_line('##FORMAT=<ID=PGT,Number=1,Type=String,'
                        'Description="Physical phasing haplotype (Mutect2)">')
        header.add_line('##FORMAT=<ID=PID,Number=1,Type=String,'
                        'Description="Physical phasing ID (Mutect2)">')
        header.add_sample(sample)

    order = {name: i for i, name in enumerate(result.contigs)}
    kept = sorted(enumerate(result.kept), key=lambda t: (order[t[1].chrom], t[1].pos, t[0]))
    tmp = path.with_name(path.name + ".tmp.gz")
    with pysam.VariantFile(str(tmp), "wz", header=header) as out:
        for _, allele in kept:
            info: dict[str, Any] = {"NR_ID": allele.variant_id}
            for key, value in (("NR_TDP", allele.tumor.depth), ("NR_TAD", allele.tumor.alt_reads),
                               ("NR_TVAF", allele.tumor.vaf), ("NR_NDP", allele.normal.depth),
                               ("NR_NVAF", allele.normal.vaf)):
                if value is not None:
                    info[key] = value
            record = out.new_record(contig=allele.chrom, start=allele.pos - 1,
                                    alleles=(allele.ref, allele.alt), id=allele.record_id,
                                    filter="PASS", info=info)
            if sample is not None:
                call = record.samples[sample]
                t = allele.tumor
                if t.ref_reads is not None and t.alt_reads is not None:
                    call["AD"] = (t.ref_reads, t.alt_reads)
                if t.depth is not None:
                    call["DP"] = t.depth
                if t.vaf is not None:
                    call["AF"] = t.vaf
                phase = allele.phase
                if phase.haplotypes is not None:
                    call["GT"] = tuple(int(h) for h in phase.haplotypes)
                    call.phased = phase.phased
                if phase.ps is not None:
                    call["PS"] = phase.ps
                if phase.pgt is not None:
                    call["PGT"] = phase.pgt
                if phase.pid is not None:
                    call["PID"] = phase.pid
            out.write(record)
    pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp) + ".tbi")
    os.replace(str(tmp) + ".tbi", str(path) + ".tbi")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- CLI
def add_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``neorank somatic``."""
    defaults = Thresholds()
    parser = subparsers.add_parser(
        "somatic",
        help="keep somatic alleles of a tumor/normal pair; account for every filtered one",
        description="Split the tumor alleles, filter them on FILTER, read depth, VAF and the "
        "normal, and write the kept ones (somatic.vcf.gz + .tbi) and an accounting table with "
        "one row per input allele. Input: one paired VCF (tumor and normal columns) or a tumor "
        "VCF and a normal VCF.",
    )
    parser.add_argument("--sample", required=True, help="sample id (sample sheet)")
    parser.add_argument("--paired-vcf", metavar="FILE",
                        help="VCF with tumor and normal sample columns (e.g. Mutect2, Strelka2)")
    parser.add_argument("--tumor-vcf", metavar="FILE", help="tumor VCF (separate mode)")
    parser.add_argument("--normal-vcf", metavar="FILE",
                        help="normal/germline VCF; tumor alleles found in it are germline")
    parser.add_argument("--tumor-sample", metavar="NAME",
                        help="tumor column (required with --paired-vcf; default: the only sample)")
    parser.add_argument("--normal-sample", metavar="NAME",
                        help="normal column (required with --paired-vcf; default: the only sample)")
    parser.add_argument("--require-pass", action=argparse.BooleanOptionalAction,
                        default=defaults.require_pass,
                        help="filter records whose FILTER has a value not accepted by "
                        "--pass-filter ('.' always passes; default: on)")
    parser.add_argument("--pass-filter", dest="pass_filters", action="append", metavar="ID",
                        help="a FILTER value a kept record may carry; repeat for several "
                        "(default: PASS). A record passes when all its FILTER values are given")
    parser.add_argument("--min-tumor-depth", type=int, default=defaults.min_tumor_depth)
    parser.add_argument("--min-tumor-alt-reads", type=int, default=defaults.min_tumor_alt_reads)
    parser.add_argument("--min-tumor-vaf", type=float, default=defaults.min_tumor_vaf)
    parser.add_argument("--min-normal-depth", type=int, default=defaults.min_normal_depth,
                        help="applied only where the normal depth is known")
    parser.add_argument("--max-normal-vaf", type=float, default=defaults.max_normal_vaf,
                        help="filter when normal VAF >= this (only where known)")
    parser.add_argument("--out-vcf", required=True, metavar="FILE",
                        help="kept somatic alleles, bgzipped (.vcf.gz) with a .tbi index")
    parser.add_argument("--out-accounting", required=True, metavar="FILE",
                        help="accounting TSV, one row per input allele")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the somatic stage from parsed arguments; return 0 on success."""
    if not str(args.out_vcf).endswith(".gz"):
        raise NeoRankError(f"--out-vcf {args.out_vcf} must end in .vcf.gz (it is bgzipped)",
                           fix="e.g. --out-vcf results/SAMPLE/somatic.vcf.gz")
    limits = Thresholds(
        require_pass=args.require_pass,
        pass_filters=tuple(args.pass_filters or Thresholds.pass_filters),
        min_tumor_depth=args.min_tumor_depth,
        min_tumor_alt_reads=args.min_tumor_alt_reads, min_tumor_vaf=args.min_tumor_vaf,
        min_normal_depth=args.min_normal_depth, max_normal_vaf=args.max_normal_vaf)
    result = call_somatic(limits=limits, paired_vcf=args.paired_vcf, tumor_vcf=args.tumor_vcf,
                          normal_vcf=args.normal_vcf, tumor_sample=args.tumor_sample,
                          normal_sample=args.normal_sample)
    source = Path(args.paired_vcf or args.tumor_vcf).name
    write_tsv(accounting_frame(result), args.out_accounting, columns=ACCOUNTING_COLUMNS)
    write_somatic_vcf(result, args.out_vcf, sample_id=args.sample, source_name=source,
                      limits=limits)
    n_kept = len(result.kept)
    n_all = len(result.alleles)
    LOG.info("somatic: %d input alleles, %d somatic, %d filtered", n_all, n_kept, n_all - n_kept)
    return 0
