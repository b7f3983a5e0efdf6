"""Germline variants of the patient, for the germline context of mutant peptides.

The patient's own protein is the reference with their germline variants. A
germline SNV near a somatic variant changes both the mutant and the wildtype
peptide when it is on the same haplotype:

* homozygous (GT ``1/1``): always applied;
* heterozygous, phased (``|``) with the same phase set (FORMAT ``PS``) as the
  somatic variant: applied when on the same haplotype (in cis), ignored in trans;
* heterozygous and unphased: both versions of the peptides are made and flagged.

Germline calls are read from the normal sample of a VCF (the normal VCF in
separate mode, the paired VCF's normal column in paired mode) with pysam:
records whose FILTER is ``PASS`` or ``.`` and whose normal genotype carries an
ALT. Only SNVs are applied; germline indels and MNVs are counted and logged, not
applied (their effect on the reading frame would need the genome sequence).

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


def _normalise_contig(name: str) -> str:
    return name[3:] if name.lower().startswith("chr") else name


class SomaticWindows:
    """The positions within ``distance`` nt of somatic alleles (contig ``chr`` prefix
    ignored): where a germline SNV can be applied (:meth:`GermlineIndex.near`).

    ``spans``: (chrom, first, last) 1-based reference span of each somatic allele.
    """

    def __init__(self, spans: Iterable[tuple[str, int, int]],
                 distance: int = GERMLINE_MAX_DISTANCE) -> None:
        windows: dict[str, list[tuple[int, int]]] = {}
        for chrom, first, last in spans:
            windows.setdefault(_normalise_contig(chrom), []).append(
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
        contig = _normalise_contig(site[0])
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
    import pysam

    path = Path(path)
    try:
        vcf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot read the germline VCF: {err}", where=str(path),
                             fix="pass the normal VCF (or the paired VCF with --germline-sample)"
                             ) from err
    skipped: Counter[str] = Counter()
    variants: list[GermlineVariant] = []
    with vcf:
        samples = list(vcf.header.samples)
        if sample is None:
            if len(samples) == 1:
                sample = samples[0]
            elif "NORMAL" in samples:
                sample = "NORMAL"
            else:
                raise InputFileError(f"cannot tell the normal sample among {samples}",
                                     where=str(path), fix="pass --germline-sample")
        if sample not in samples:
            raise InputFileError(f"sample {sample!r} is not in the VCF (samples: {samples})",
                                 where=str(path), fix="pass the normal sample's column name")
        for rec in vcf:
            filters = list(rec.filter.keys())
            if filters and filters != ["PASS"]:
                skipped["not PASS"] += 1
                continue
            call = rec.samples[sample]
            genotype = call.get("GT") if "GT" in call.keys() else None
            if not isinstance(genotype, tuple) or not genotype \
                    or any(g is None for g in genotype):
                continue
            for index, alt in enumerate(rec.alts or (), start=1):
                if index not in genotype:
                    continue
                pos, ref, alt = _trim(rec.pos, rec.ref.upper(), alt.upper())
                if len(ref) != 1 or len(alt) != 1 or alt not in "ACGT" or ref not in "ACGT":
                    skipped["not an SNV"] += 1
                    continue
                if near is not None and (rec.chrom, pos) not in near:
                    skipped[f"further than {GERMLINE_MAX_DISTANCE} nt from every somatic "
                            "variant"] += 1
                    continue
                haplotypes = tuple(g == index for g in genotype)
                ps = call.get("PS") if "PS" in call.keys() else None
                ps = ps[0] if isinstance(ps, tuple) else ps
                variants.append(GermlineVariant(
                    f"{rec.chrom}:{pos}:{ref}>{alt}", rec.chrom, pos, ref, alt,
                    all(haplotypes), haplotypes, bool(call.phased) and len(genotype) > 1, ps))
    if skipped:
        log.info("germline VCF %s: %s not applied", path,
                 ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
    return variants


def _trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop bases shared by REF and ALT (``GA>GG`` at 10 is ``A>G`` at 11)."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        pos, ref, alt = pos + 1, ref[1:], alt[1:]
    return pos, ref, alt


class GermlineIndex:
    """Germline SNVs by contig (``chr`` prefix ignored) and position."""

    def __init__(self, variants: list[GermlineVariant]) -> None:
        self._by_contig: dict[str, list[GermlineVariant]] = {}
        for variant in sorted(variants, key=lambda v: (v.chrom, v.pos, v.alt)):
            self._by_contig.setdefault(_normalise_contig(variant.chrom), []).append(variant)
        self._positions = {c: [v.pos for v in vs] for c, vs in self._by_contig.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_contig.values())

    def near(self, chrom: str, start: int, end: int,
             distance: int = GERMLINE_MAX_DISTANCE) -> list[GermlineVariant]:
        """Germline SNVs within ``distance`` nt of [start, end], not overlapping it."""
        contig = _normalise_contig(chrom)
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
