"""Tumor RNA read support for each variant, counted from an RNA-seq BAM with pysam.

For every variant (VCF-style ``chrom, pos, ref, alt`` from variants.tsv) the
reads overlapping it are classified by the sequence they carry over the
reference span of ``ref`` (plus any insertion right after it):

* ``alt`` when it equals ``alt`` (so a deletion ``AG>A`` needs the read's
  ``D`` over the ``G``; an insertion ``A>AT`` its ``I`` of ``T``);
* ``ref`` when it equals ``ref``;
* ``other`` otherwise (a third allele, a different indel).

A read counts only if its alignment spans the whole reference span with
aligned or deleted bases: a spliced read whose intron (CIGAR ``N``) or soft
clip covers the variant says nothing about it and is skipped. Unmapped,
secondary, supplementary, duplicate and QC-fail reads, reads with a mapping
quality below :data:`MIN_MAPPING_QUALITY` (STAR gives 255 to unique, 3/1/0 to
multi-mapped reads) and reads whose compared bases have a base quality below
:data:`MIN_BASE_QUALITY` are skipped.

Each fragment counts once: when both mates of a pair cover the variant, the
first one in the BAM (coordinate order) is used.

Output per variant: ``rna_depth`` (ref + alt + other reads), ``rna_alt_reads``,
``rna_vaf`` (alt / depth; ``NA`` at depth 0). Variants on a contig the BAM does
not have (matched with or without ``chr``) are ``NA`` throughout: not assessed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.errors import InputFileError
from neorank.vcf import normalize_contig

LOG = logging.getLogger(__name__)

MIN_MAPPING_QUALITY = 1
MIN_BASE_QUALITY = 13
OUTPUT_COLUMNS = ["variant_id", "rna_depth", "rna_alt_reads", "rna_vaf"]

_MATCH, _INS, _DEL, _SKIP, _SOFT, _HARD, _PAD, _EQUAL, _DIFF = range(9)

__all__ = ["count_variant_reads", "read_allele"]


def read_allele(read: Any, start: int, end: int,
                min_base_quality: int = MIN_BASE_QUALITY) -> str | None:
    """Bases a read carries over reference positions ``[start, end)`` (0-based).

    Inserted bases right after a position of the span are included. Returns
    None when the read does not span ``[start, end)`` with aligned or deleted
    bases, or when a base of the span is below ``min_base_quality``.
    """
    cigar = read.cigartuples
    sequence = read.query_sequence
    if not cigar or sequence is None:
        return None
    qualities = read.query_qualities
    ref_pos = read.reference_start
    query_pos = 0
    bases: list[str] = []
    covered = 0
    last_in_span = False
    for op, length in cigar:
        if op in (_MATCH, _EQUAL, _DIFF):
            for i in range(length):
                if start <= ref_pos + i < end:
                    if qualities is not None and qualities[query_pos + i] < min_base_quality:
                        return None
                    bases.append(sequence[query_pos + i])
                    covered += 1
            last_in_span = start <= ref_pos + length - 1 < end
            ref_pos += length
            query_pos += length
        elif op == _INS:
            if last_in_span:
                inserted = sequence[query_pos:query_pos + length]
                if qualities is not None and min(qualities[query_pos:query_pos + length],
                                                 default=99) < min_base_quality:
                    return None
                bases.append(inserted)
            query_pos += length
        elif op == _DEL:
            overlap = max(0, min(end, ref_pos + length) - max(start, ref_pos))
            covered += overlap
            last_in_span = start <= ref_pos + length - 1 < end
            ref_pos += length
        elif op == _SKIP:
            if max(start, ref_pos) < min(end, ref_pos + length):
                return None  # an intron of this read covers the variant
            last_in_span = False
            ref_pos += length
        elif op == _SOFT:
            query_pos += length
            last_in_span = False
        # hard clips and padding consume neither sequence nor reference
        if ref_pos >= end and not last_in_span and covered == end - start:
            break
    if covered != end - start:
        return None
    return "".join(bases)


def _bam_contigs(bam: Any) -> dict[str, str]:
    contigs: dict[str, str] = {}
    for name in bam.references:
        contigs.setdefault(name, name)
        contigs.setdefault(normalize_contig(name), name)
    return contigs


def count_variant_reads(bam_path: str | os.PathLike, variants: pd.DataFrame, *,
                        min_mapping_quality: int = MIN_MAPPING_QUALITY,
                        min_base_quality: int = MIN_BASE_QUALITY) -> pd.DataFrame:
    """RNA read support of each variant (module docstring).

    Parameters
    ----------
    bam_path
        Coordinate-sorted, indexed RNA-seq BAM (``.bai``/``.csi`` beside it).
    variants
        Needs ``variant_id, chrom, pos, ref, alt`` (variants.tsv).

    Returns
    -------
    pandas.DataFrame
        :data:`OUTPUT_COLUMNS`, one row per input row, input order.

    Raises
    ------
    InputFileError
        The BAM is missing, unreadable or has no index.
    """
    import pysam

    where = str(bam_path)
    if not Path(bam_path).is_file():
        raise InputFileError("the RNA BAM does not exist", where=where,
                             fix="check the sample sheet's rna_bam column")
    try:
        bam = pysam.AlignmentFile(str(bam_path), "rb")
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot open the RNA BAM ({err})", where=where,
                             fix="give a coordinate-sorted BAM") from err
    with bam:
        if not bam.has_index():
            raise InputFileError("the RNA BAM has no index", where=where,
                                 fix=f"index it: `samtools index {bam_path}`")
        contigs = _bam_contigs(bam)
        rows = []
        for record in variants.loc[:, ["variant_id", "chrom", "pos", "ref", "alt"]].itertuples(
                index=False):
            variant_id, chrom, pos, ref, alt = (str(record[0]), str(record[1]), record[2],
                                                str(record[3]), str(record[4]))
            contig = contigs.get(chrom) or contigs.get(normalize_contig(chrom))
            if contig is None or pd.isna(pos):
                rows.append({"variant_id": variant_id, "rna_depth": None,
                             "rna_alt_reads": None, "rna_vaf": None})
                continue
            start = int(pos) - 1
            end = start + len(ref)
            counts = {"ref": 0, "alt": 0, "other": 0}
            fragments: set[str] = set()
            for read in bam.fetch(contig, start, end):
                if (read.is_unmapped or read.is_secondary or read.is_supplementary
                        or read.is_duplicate or read.is_qcfail
                        or read.mapping_quality < min_mapping_quality):
                    continue
                allele = read_allele(read, start, end, min_base_quality)
                if allele is None or read.query_name in fragments:
                    continue
                fragments.add(read.query_name)
                allele = allele.upper()
                counts["alt" if allele == alt.upper() else
                       "ref" if allele == ref.upper() else "other"] += 1
            depth = sum(counts.values())
            rows.append({"variant_id": variant_id, "rna_depth": depth,
                         "rna_alt_reads": counts["alt"],
                         "rna_vaf": counts["alt"] / depth if depth else None})
    frame = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    for column in ("rna_depth", "rna_alt_reads"):
        frame[column] = frame[column].astype("Int64")
    frame["rna_vaf"] = frame["rna_vaf"].astype(float)
    LOG.info("%s: RNA support counted at %d variant(s)", where,
             int(frame["rna_depth"].notna().sum()))
    return frame
