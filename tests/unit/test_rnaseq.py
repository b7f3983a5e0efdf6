"""RNA read support from a tiny RNA-seq BAM (built by scripts/build_test_rna_bam.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pysam
import pytest

from neorank.errors import InputFileError
from neorank.rnaseq import count_variant_reads, read_allele

BAM = Path(__file__).resolve().parents[1] / "data" / "rna" / "tumor_rna.bam"


def _variants(rows):
    return pd.DataFrame(rows, columns=["variant_id", "chrom", "pos", "ref", "alt"])


def test_counts_at_demo_variants():
    variants = _variants([
        ("chr1:23362762:G>C", "chr1", 23362762, "G", "C"),
        ("chr1:151185547:T>C", "chr1", 151185547, "T", "C"),
        ("chr1:151242178:AG>A", "chr1", 151242178, "AG", "A"),
    ])
    counts = count_variant_reads(BAM, variants)
    assert list(counts["variant_id"]) == list(variants["variant_id"])
    # ZNF436: 6 alt + 4 ref; the duplicate, MAPQ-0 and low-base-quality alt reads are skipped.
    # VPS72: 5 ref + 1 alt across an exon junction; the read whose intron spans it is skipped.
    # PIP5K1A: 3 reads with the 1-bp deletion + 2 ref.
    assert counts["rna_depth"].tolist() == [10, 6, 5]
    assert counts["rna_alt_reads"].tolist() == [6, 1, 3]
    assert counts["rna_vaf"].tolist() == pytest.approx([0.6, 1 / 6, 0.6])


def test_contig_alias_missing_contig_and_other_alleles():
    variants = _variants([
        ("1:23362762:G>C", "1", 23362762, "G", "C"),     # VCF without 'chr'
        ("2:100:A>T", "2", 100, "A", "T"),               # contig not in the BAM
        ("1:23362762:G>T", "1", 23362762, "G", "T"),     # the C reads are 'other'
        ("1:5000:A>T", "1", 5000, "A", "T"),             # no reads: depth 0
    ])
    counts = count_variant_reads(BAM, variants)
    assert counts.loc[0, "rna_alt_reads"] == 6
    assert counts.loc[1, ["rna_depth", "rna_alt_reads", "rna_vaf"]].isna().all()
    assert (counts.loc[2, "rna_depth"], counts.loc[2, "rna_alt_reads"]) == (10, 0)
    assert counts.loc[3, "rna_depth"] == 0 and pd.isna(counts.loc[3, "rna_vaf"])


def test_thresholds_are_parameters():
    variants = _variants([("chr1:23362762:G>C", "chr1", 23362762, "G", "C")])
    relaxed = count_variant_reads(BAM, variants, min_mapping_quality=0, min_base_quality=0)
    # + the MAPQ-0 read and the low-quality read (duplicates are always skipped)
    assert relaxed.loc[0, "rna_alt_reads"] == 8


def _read(cigar, sequence, start=100):
    header = pysam.AlignmentHeader.from_dict({"SQ": [{"SN": "chr1", "LN": 1000}]})
    read = pysam.AlignedSegment(header)
    read.reference_id = 0
    read.reference_start = start
    read.cigartuples = cigar
    read.query_sequence = sequence
    read.query_qualities = pysam.qualitystring_to_array("I" * len(sequence))
    return read


def test_read_allele_insertion_deletion_and_skips():
    # 100..104 matched, then an insertion of 'TT' after ref 104, then 105..109.
    read = _read([(0, 5), (1, 2), (0, 5)], "ACGTA" + "TT" + "CCGGA")
    assert read_allele(read, 104, 105) == "ATT"     # insertion A>ATT
    assert read_allele(read, 103, 104) == "T"       # SNV span: no insertion after it
    assert read_allele(read, 105, 106) == "C"
    deletion = _read([(0, 5), (2, 2), (0, 5)], "ACGTACCGGA")
    assert read_allele(deletion, 104, 107) == "A"   # ref span ANN, read carries A + deleted
    # intron over the span -> not informative; soft clip over the span -> not informative
    spliced = _read([(0, 5), (3, 50), (0, 5)], "ACGTACCGGA")
    assert read_allele(spliced, 120, 121) is None
    assert read_allele(spliced, 155, 156) == "C"
    clipped = _read([(4, 5), (0, 5)], "ACGTACCGGA")
    assert read_allele(clipped, 98, 99) is None


def test_bam_without_index_and_missing_file(tmp_path):
    copy = tmp_path / "rna.bam"
    shutil.copy(BAM, copy)
    variants = _variants([("chr1:1:A>C", "chr1", 1, "A", "C")])
    with pytest.raises(InputFileError, match="no index"):
        count_variant_reads(copy, variants)
    with pytest.raises(InputFileError, match="does not exist"):
        count_variant_reads(tmp_path / "missing.bam", variants)


def test_overlapping_mates_count_once(tmp_path):
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    path = tmp_path / "pairs.bam"
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for name, start, flag in (("frag1", 90, 99), ("frag2", 92, 0), ("frag1", 95, 147)):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.flag, read.reference_id = name, flag, 0
            read.reference_start, read.mapping_quality = start, 60
            read.cigartuples = [(0, 20)]
            # reference 'A' everywhere except a 'C' at position 100 (0-based)
            read.query_sequence = "".join("C" if start + i == 100 else "A" for i in range(20))
            read.query_qualities = pysam.qualitystring_to_array("I" * 20)
            bam.write(read)
    pysam.index(str(path))
    counts = count_variant_reads(path, _variants([("chr1:101:A>C", "chr1", 101, "A", "C")]))
    assert (counts.loc[0, "rna_depth"], counts.loc[0, "rna_alt_reads"]) == (2, 2)
