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
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neorank.errors import InputFileError, NeoRankError

LOG = logging.getLogger(__name__)

#: Columns of ``results/somatic/{sample}.accounting.tsv`` (docs/tables.md).
ACCOUNTING_COLUMNS = [
    "variant_id", "chrom", "pos", "ref", "alt", "filter",
    "tumor_depth", "tumor_alt_reads", "tumor_vaf", "normal_depth", "normal_vaf",
    "status", "reason",
]

GERMLINE_REASON = "present in normal VCF (germline)"
_BASES = re.compile(r"[ACGTN]+")

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


@dataclass(frozen=True)
class Counts:
    """Read evidence of one sample for one allele; ``None`` = not assessed."""

    depth: int | None = None
    ref_reads: int | None = None
    alt_reads: int | None = None
    vaf: float | None = None


NOT_ASSESSED = Counts()


@dataclass(frozen=True)
class Phase:
    """Phasing of one tumor allele, carried into the somatic VCF for in-cis merging.

    ``haplotypes``: for each GT slot, whether it carries this ALT (``None`` if GT
    is absent or partly missing); ``phased``: GT is phased (``|``); ``ps``: the
    phase set (FORMAT PS); ``pgt``/``pid``: Mutect2's physical phasing.
    """

    haplotypes: tuple[bool, ...] | None = None
    phased: bool = False
    ps: int | None = None
    pgt: str | None = None
    pid: str | None = None


NO_PHASE = Phase()


def sample_phase(record: Any, sample: str | None, allele_index: int) -> Phase:
    """GT (recoded for ALT number ``allele_index``), PS, PGT and PID of ``sample``."""
    if sample is None:
        return NO_PHASE
    call = record.samples[sample]
    keys = set(call.keys())
    haplotypes, phased = None, False
    if "GT" in keys:
        genotype = call.get("GT")
        if isinstance(genotype, tuple) and genotype and all(g is not None for g in genotype):
            haplotypes = tuple(g == allele_index for g in genotype)
            phased = bool(call.phased) and len(genotype) > 1
    ps = _get(_as_tuple(call.get("PS")), 0) if "PS" in keys else None
    pgt = call.get("PGT") if "PGT" in keys else None
    pid = call.get("PID") if "PID" in keys else None
    pgt = pgt[0] if isinstance(pgt, tuple) else pgt
    pid = pid[0] if isinstance(pid, tuple) else pid
    return Phase(haplotypes, phased, ps, pgt or None, pid or None)


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
        return f"{self.chrom}:{self.pos}:{self.ref}>{self.alt}"

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


# ------------------------------------------------------------------ normalisation
def normalize_contig(name: str) -> str:
    """Contig name for comparisons: no ``chr`` prefix, mitochondria as ``MT``."""
    core = name[3:] if name.lower().startswith("chr") else name
    return "MT" if core.upper() in ("M", "MT") else core


def normalize_allele(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the shared suffix, then the shared prefix, keeping one base each.

    This is the VCF "parsimonious" representation without left-alignment (which
    would need the genome sequence). Alleles are compared upper-case.
    """
    ref, alt = ref.upper(), alt.upper()
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def allele_key(chrom: str, pos: int, ref: str, alt: str) -> tuple[str, int, str, str]:
    """Key under which equivalent alleles of two VCFs compare equal."""
    return (normalize_contig(chrom), *normalize_allele(pos, ref, alt))


def allele_problem(ref: str, alt: str) -> str | None:
    """Why an allele cannot be a somatic sequence variant, or ``None``."""
    if alt in ("*", "."):
        return f"no ALT sequence ({alt})" if alt == "." else "spanning-deletion ALT *"
    if alt.startswith("<"):
        return f"symbolic ALT {alt}"
    if "[" in alt or "]" in alt:
        return f"breakend ALT {alt}"
    if not _BASES.fullmatch(ref.upper()):
        return f"REF {ref} contains characters other than A, C, G, T, N"
    if not _BASES.fullmatch(alt.upper()):
        return f"ALT {alt} contains characters other than A, C, G, T, N"
    if "N" in ref.upper() or "N" in alt.upper():
        # annotate (varcode) needs known bases; an N allele cannot get an effect.
        which = "REF" if "N" in ref.upper() else "ALT"
        return f"{which} {ref if which == 'REF' else alt} contains N (unknown base)"
    if alt.upper() == ref.upper():
        return "ALT identical to REF"
    return None


# -------------------------------------------------------------------- read counts
def _as_tuple(value: Any, kind: type = int) -> tuple:
    """FORMAT value as a tuple of numbers (``None`` = missing).

    A field the header does not declare comes back from htslib as a string
    (``"12,3"``); it is parsed here. Raises ``ValueError`` for non-numbers.
    """
    if value is None:
        return ()
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if any(isinstance(v, str) for v in values):
        parts = [p for v in values for p in (v.split(",") if isinstance(v, str) else [v])]
        values = tuple(None if p in (".", "", None) else kind(p) for p in parts)
    return values


def _get(values: tuple, index: int) -> Any:
    return values[index] if 0 <= index < len(values) else None


def _clean_float(value: Any) -> float | None:
    """pysam returns float32 values (0.02 -> 0.0199999995); keep 6 digits."""
    if value is None:
        return None
    return float(f"{float(value):.6g}")


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return _clean_float(numerator / denominator)


def sample_counts(record: Any, sample: str | None, allele_index: int) -> Counts:
    """Read depth, ref/alt reads and VAF of ``sample`` for ALT number ``allele_index``.

    Parameters
    ----------
    record
        A ``pysam.VariantRecord``.
    sample
        Sample name, or ``None`` for a sites-only VCF (-> not assessed).
    allele_index
        1-based index of the ALT allele in ``record.alleles``.

    Returns
    -------
    Counts
        ``None`` fields where the caller does not report the value.
    """
    if sample is None:
        return NOT_ASSESSED
    call = record.samples[sample]
    keys = set(call.keys())
    alleles = record.alleles
    ref, alt = alleles[0], alleles[allele_index]
    depth = call.get("DP") if "DP" in keys else None
    depth = _get(_as_tuple(depth), 0)
    if "AD" in keys:
        ad = _as_tuple(call.get("AD"))
        ref_reads, alt_reads = _get(ad, 0), _get(ad, allele_index)
        if depth is None and ad and any(v is not None for v in ad):
            depth = sum(v for v in ad if v is not None)
        vaf = None
        if "AF" in keys:
            vaf = _clean_float(_get(_as_tuple(call.get("AF"), float), allele_index - 1))
        if vaf is None:
            vaf = _ratio(alt_reads, depth)
        return Counts(depth, ref_reads, alt_reads, vaf)
    tier_ref = f"{ref.upper()}U"
    tier_alt = f"{alt.upper()}U"
    if len(ref) == 1 and len(alt) == 1 and tier_ref in keys and tier_alt in keys:
        # Strelka2 SNV: per-base counts, (tier1, tier2); tier1 is used.
        ref_reads = _get(_as_tuple(call.get(tier_ref)), 0)
        alt_reads = _get(_as_tuple(call.get(tier_alt)), 0)
    elif "TAR" in keys and "TIR" in keys and len(alleles) == 2:
        # Strelka2 indel: TAR/TIR = reads strongly supporting ref/indel, (tier1, tier2).
        ref_reads = _get(_as_tuple(call.get("TAR")), 0)
        alt_reads = _get(_as_tuple(call.get("TIR")), 0)
    else:
        vaf = None
        if "AF" in keys:
            vaf = _clean_float(_get(_as_tuple(call.get("AF"), float), allele_index - 1))
        return Counts(depth=depth, vaf=vaf)
    if ref_reads is None or alt_reads is None:
        vaf = None
    else:
        vaf = _ratio(alt_reads, ref_reads + alt_reads)
    if depth is None and ref_reads is not None and alt_reads is not None:
        depth = ref_reads + alt_reads
    return Counts(depth, ref_reads, alt_reads, vaf)


def _carries_allele(record: Any, sample: str | None, allele_index: int) -> bool:
    """False only when the sample's genotype is fully called without this allele."""
    if sample is None:
        return True
    call = record.samples[sample]
    if "GT" not in call.keys():
        return True
    genotype = call.get("GT")
    if isinstance(genotype, str):  # GT not declared in the header
        try:
            genotype = tuple(None if g == "." else int(g) for g in re.split(r"[/|]", genotype))
        except ValueError:
            return True
    genotype = tuple(genotype or ())
    if not genotype or any(g is None for g in genotype):
        return True
    return allele_index in genotype


def _record_counts(record: Any, sample: str | None, allele_index: int,
                   path: str | os.PathLike, number: int) -> Counts:
    """:func:`sample_counts`, with unparseable values reported by file and record."""
    try:
        return sample_counts(record, sample, allele_index)
    except (ValueError, TypeError) as err:
        raise InputFileError(
            f"sample {sample!r} has a non-numeric read count ({err})",
            where=f"{path}: record {number} ({record.chrom}:{record.pos})",
            fix="AD/DP (and Strelka2 AU/CU/GU/TU/TAR/TIR) must be integers and AF a number; "
            "declare them in the header with ##FORMAT lines",
        ) from err


# ------------------------------------------------------------------------ reading
def _open_vcf(path: str | os.PathLike, role: str) -> Any:
    """Open a VCF with pysam, turning failures into :class:`InputFileError`."""
    import pysam

    path = str(path)
    if not os.path.exists(path):
        raise InputFileError(f"the {role} VCF does not exist", where=path,
                             fix="check the path in the sample sheet (relative paths are "
                             "resolved from the working directory)")
    try:
        vcf = pysam.VariantFile(path)
    except NotImplementedError as err:  # htslib cannot seek in plain (non-BGZF) gzip
        raise InputFileError("is compressed with plain gzip, not bgzip (BGZF): htslib cannot "
                             f"read it ({err})", where=path,
                             fix=f"recompress with bgzip: `gzip -dc {path} | bgzip > fixed.vcf.gz` "
                             "(bgzip comes with htslib/tabix), or give the uncompressed VCF") from err
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot be read as a VCF/BCF ({err})", where=path,
                             causes=["the file is not a VCF (e.g. a MAF or TSV)",
                                     "the header is missing or malformed (#CHROM line)",
                                     "a .gz file that is truncated"],
                             fix="check the file with `bcftools view -h`") from err
    try:
        list(vcf.header.samples)  # decoded lazily: a non-UTF-8 name would fail later
    except UnicodeDecodeError as err:
        vcf.close()
        raise InputFileError(f"the sample names in the #CHROM line are not UTF-8 text ({err})",
                             where=path,
                             fix="re-save the VCF as UTF-8 (`iconv -f latin1 -t utf-8`) or rename "
                             "the samples (`bcftools reheader`)") from err
    return vcf


def _iter_records(vcf: Any, path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(record_number, record)``; parse errors name the record."""
    number = 0
    last = "the header"
    iterator = iter(vcf)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except (OSError, ValueError) as err:
            raise InputFileError(
                f"malformed VCF record ({err})",
                where=f"{path}: record {number + 1} (after {last})",
                fix="check the record with `bcftools view`; each data line needs at least 8 "
                "tab-separated columns and FORMAT values matching the header",
            ) from err
        number += 1
        last = f"{record.chrom}:{record.pos}"
        yield number, record


def _resolve_sample(vcf: Any, path: str | os.PathLike, requested: str | None, role: str,
                    option: str, required: bool) -> str | None:
    """Return the sample column to use for ``role`` (tumor/normal)."""
    samples = list(vcf.header.samples)
    if requested is not None:
        if requested in samples:
            return requested
        close = difflib.get_close_matches(requested, samples, n=1, cutoff=0.0)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        available = ", ".join(repr(s) for s in samples) or "none (sites-only VCF)"
        raise InputFileError(
            f"{role} sample {requested!r} is not in the VCF; available samples: {available}.{hint}",
            where=str(path),
            fix=f"pass the sample column name exactly as in the #CHROM line with {option} "
            "(or the tumor_sample/normal_sample column of the sample sheet)",
        )
    if required:
        raise NeoRankError(f"{option} is required with --paired-vcf",
                           where=str(path),
                           fix=f"name the {role} column; the VCF has: {', '.join(samples)}")
    if len(samples) == 1:
        return samples[0]
    if not samples:
        LOG.warning("%s: sites-only VCF, %s read counts are not assessed", path, role)
        return None
    raise InputFileError(
        f"the {role} VCF has {len(samples)} samples ({', '.join(samples)}); which one is the {role}?",
        where=str(path), fix=f"name it with {option}")


def _filter_value(record: Any) -> str:
    """The record's FILTER column as text (``.`` when missing)."""
    names = list(record.filter.keys())
    return ";".join(names) if names else "."


def rejected_filters(filter_text: str, pass_filters: tuple[str, ...]) -> list[str]:
    """FILTER values of a record that are not accepted (empty list = the record passes).

    A record passes when *every* value of its FILTER column is one of
    ``pass_filters``; a missing FILTER (``.``) passes. So ``PASS;HighConf`` (SEQC2
    truth-set style) passes only when both ``PASS`` and ``HighConf`` are accepted,
    and a failing value next to ``PASS`` is never overlooked.
    """
    if filter_text == ".":
        return []
    return [name for name in filter_text.split(";") if name not in pass_filters]


def _read_alleles(path: str | os.PathLike, tumor: str | None, normal: str | None, *,
                  role: str, tumor_option: str, normal_option: str | None,
                  paired: bool) -> tuple[list[Allele], list[str], dict[str, str], str | None]:
    """Split the tumor (or paired) VCF into alleles with their counts."""
    vcf = _open_vcf(path, role)
    with vcf:
        tumor = _resolve_sample(vcf, path, tumor, "tumor", tumor_option, required=paired)
        if paired:
            normal = _resolve_sample(vcf, path, normal, "normal", normal_option or "", required=True)
            if normal == tumor:
                raise NeoRankError(f"tumor and normal sample are the same column ({tumor!r})",
                                   where=str(path),
                                   fix="--tumor-sample and --normal-sample must differ")
        alleles: list[Allele] = []
        for number, record in _iter_records(vcf, path):
            filter_text = _filter_value(record)
            alts = record.alts or (".",)
            for index, alt in enumerate(alts, start=1):
                countable = alt != "." and record.alts is not None
                alleles.append(Allele(
                    chrom=record.chrom, pos=record.pos, ref=record.ref, alt=alt,
                    record_id=record.id, filter=filter_text,
                    tumor=(_record_counts(record, tumor, index, path, number)
                           if countable else NOT_ASSESSED),
                    normal=(_record_counts(record, normal, index, path, number)
                            if paired and countable else NOT_ASSESSED),
                    phase=sample_phase(record, tumor, index) if countable else NO_PHASE,
                ))
        contigs = list(vcf.header.contigs)
        lines = {name: str(ctg.header_record).strip() for name, ctg in vcf.header.contigs.items()}
    return alleles, contigs, lines, tumor


def _normal_evidence(path: str | os.PathLike, sample: str | None,
                     wanted: set[tuple[str, int, str, str]]) -> dict[tuple, Counts]:
    """Stream the normal VCF; return counts for the wanted (tumor) allele keys."""
    vcf = _open_vcf(path, "normal")
    found: dict[tuple, Counts] = {}
    with vcf:
        sample = _resolve_sample(vcf, path, sample, "normal", "--normal-sample", required=False)
        for number, record in _iter_records(vcf, path):
            for index, alt in enumerate(record.alts or (), start=1):
                if allele_problem(record.ref, alt) is not None:
                    continue
                key = allele_key(record.chrom, record.pos, record.ref, alt)
                if key in wanted and key not in found and _carries_allele(record, sample, index):
                    found[key] = _record_counts(record, sample, index, path, number)
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

    from neorank import __version__

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
    from neorank.io import write_tsv

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
