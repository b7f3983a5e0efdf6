"""Germline variants of the patient, for the germline context of mutant peptides.

The patient's own protein is the reference with their germline variants. A
germline SNV near a somatic variant changes both the mutant and the wildtype
peptide when it is on the same haplotype:

* homozygous (GT ``1/1``): always applied;
* heterozygous, phased (``|``) with the same phase set (FORMAT ``PS``) as the
  somatic variant: applied when on the same haplotype (in cis), ignored in trans;
* heterozygous and unphased: both versions of the peptides are made and flagged.

Germline calls are read from the normal sample of a VCF (the normal VCF in
separate mode, the paired VCF's normal column in paired mode) through the VCF
layer (:mod:`neorank.vcf`, pysam): records whose FILTER is ``PASS`` or ``.``
and whose normal genotype carries an ALT. Only SNVs are applied; germline
indels and MNVs are counted and logged, not applied (their effect on the
reading frame would need the genome sequence).

Memory: a whole-genome normal carries millions of germline SNVs, but only those
within :data:`GERMLINE_MAX_DISTANCE` of a somatic allele can be applied; given
the somatic alleles (:class:`SomaticWindows`), :func:`read_germline_vcf` keeps
only those while it reads.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from neorank.errors import InputFileError
from neorank.vcf import (
    choose_sample,
    filter_value,
    iter_records,
    make_variant_id,
    normalize_allele,
    normalize_contig,
    open_vcf,
    record_phase,
    rejected_filters,
)

log = logging.getLogger(__name__)

#: Largest genomic distance (nt) between a somatic variant and a germline SNV applied to
#: its peptides: an 11-mer spans 33 nt of coding sequence.
GERMLINE_MAX_DISTANCE = 30


@dataclass(frozen=True)
class GermlineVariant:
    """One ALT allele carried by the normal sample."""

    variant_id: str
    chrom: str
    pos: int
    ref: str
    alt: str
    homozygous: bool
    haplotypes: tuple[bool, ...]
    phased: bool = False
    ps: int | None = None


class SomaticWindows:
    """The positions within ``distance`` nt of somatic alleles (contigs compared with
    :func:`neorank.vcf.normalize_contig`): where a germline SNV can be applied
    (:meth:`GermlineIndex.near`).

    ``spans``: (chrom, first, last) 1-based reference span of each somatic allele.
    """

    def __init__(self, spans: Iterable[tuple[str, int, int]],
                 distance: int = GERMLINE_MAX_DISTANCE) -> None:
        windows: dict[str, list[tuple[int, int]]] = {}
        for chrom, first, last in spans:
            windows.setdefault(normalize_contig(chrom), []).append(
                (first - distance, last + distance))
        self._starts: dict[str, list[int]] = {}
        self._ends: dict[str, list[int]] = {}
        for contig, spans_ in windows.items():
            starts, ends = self._starts.setdefault(contig, []), self._ends.setdefault(contig, [])
            for start, end in sorted(spans_):
                if starts and start <= ends[-1] + 1:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)

    def __contains__(self, site: tuple[str, int]) -> bool:
        """Is ``(chrom, pos)`` within ``distance`` of a somatic allele?"""
        contig = normalize_contig(site[0])
        starts = self._starts.get(contig)
        if not starts:
            return False
        i = bisect.bisect_right(starts, site[1]) - 1
        return i >= 0 and site[1] <= self._ends[contig][i]


def read_germline_vcf(path: str | os.PathLike, sample: str | None = None,
                      near: SomaticWindows | None = None) -> list[GermlineVariant]:
    """Germline SNVs of ``sample`` (default: the only sample, or one named NORMAL).

    ``near``: keep only the SNVs in these windows (the others can never be applied);
    ``None`` keeps every SNV.

    Raises
    ------
    InputFileError
        The VCF cannot be read, or the sample is missing or ambiguous.
    """
    path = Path(path)
    skipped: Counter[str] = Counter()
    variants: list[GermlineVariant] = []
    vcf = open_vcf(path, "germline")
    with vcf:
        if not vcf.header.samples:
            raise InputFileError("the germline VCF has no sample column (sites-only): no "
                                 "genotype to read", where=str(path),
                                 fix="pass the normal VCF (or the paired VCF with "
                                     "--germline-sample)")
        sample = choose_sample(vcf, path, sample, "normal", "--germline-sample",
                               preferred="NORMAL")
        for number, rec in iter_records(vcf, path):
            if rejected_filters(filter_value(rec), ("PASS",)):
                skipped["not PASS"] += 1
                continue
            for index, alt in enumerate(rec.alts or (), start=1):
                phase = record_phase(rec, sample, index, path, number)
                if phase.haplotypes is None:
                    break  # GT absent or not fully called: no ALT is known to be carried
                if not any(phase.haplotypes):
                    continue
                pos, ref, alt = normalize_allele(rec.pos, rec.ref, alt)
                if len(ref) != 1 or len(alt) != 1 or alt not in "ACGT" or ref not in "ACGT":
                    skipped["not an SNV"] += 1
                    continue
                if near is not None and (rec.chrom, pos) not in near:
                    skipped[f"further than {GERMLINE_MAX_DISTANCE} nt from every somatic "
                            "variant"] += 1
                    continue
                variants.append(GermlineVariant(
                    make_variant_id(rec.chrom, pos, ref, alt), rec.chrom, pos, ref, alt,
                    all(phase.haplotypes), phase.haplotypes, phase.phased, phase.ps))
    if skipped:
        log.info("germline VCF %s: %s not applied", path,
                 ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
    return variants


class GermlineIndex:
    """Germline SNVs by contig (:func:`neorank.vcf.normalize_contig`) and position."""

    def __init__(self, variants: list[GermlineVariant]) -> None:
        self._by_contig: dict[str, list[GermlineVariant]] = {}
        for variant in sorted(variants, key=lambda v: (v.chrom, v.pos, v.alt)):
            self._by_contig.setdefault(normalize_contig(variant.chrom), []).append(variant)
        self._positions = {c: [v.pos for v in vs] for c, vs in self._by_contig.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_contig.values())

    def near(self, chrom: str, start: int, end: int,
             distance: int = GERMLINE_MAX_DISTANCE) -> list[GermlineVariant]:
        """Germline SNVs within ``distance`` nt of [start, end], not overlapping it."""
        contig = normalize_contig(chrom)
        positions = self._positions.get(contig, [])
        lo = bisect.bisect_left(positions, start - distance)
        hi = bisect.bisect_right(positions, end + distance)
        return [v for v in self._by_contig[contig][lo:hi] if not start <= v.pos <= end] \
            if hi > lo else []


def relation(germline: GermlineVariant, haplotypes: tuple[bool, ...] | None, phased: bool,
             ps: int | None) -> str:
    """How a germline SNV relates to a somatic allele: ``hom``, ``cis``, ``trans`` or ``unphased``."""
    if germline.homozygous:
        return "hom"
    if germline.phased and phased and germline.ps is not None and germline.ps == ps \
            and haplotypes is not None and len(haplotypes) == len(germline.haplotypes):
        same = any(a and b for a, b in zip(germline.haplotypes, haplotypes, strict=True))
        return "cis" if same else "trans"
    return "unphased"
