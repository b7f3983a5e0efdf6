#!/usr/bin/env python
"""Build the tiny tumor RNA-seq BAM used by tests/unit/test_rnaseq.py.

Deterministic, offline, one command::

    .venv/bin/python scripts/build_test_rna_bam.py

Reads are cut from the spliced transcript sequences of the embedded Ensembl 87
subset (``resources/reference/``, cDNA + exon structure through pyensembl) and
placed on the genome with the CIGAR an aligner such as STAR would write
(``M`` within exons, ``N`` across introns). The REF base of every demo variant
used is checked against the cDNA first. Reads at three demo variants
(``resources/demo/osteosarc.paired.vcf``):

=========================  ==================================================
variant                    reads
=========================  ==================================================
chr1:23362762:G>C (ZNF436)  6 alt + 4 ref reads inside its (last) exon; 1 alt
                            read flagged duplicate, 1 alt read MAPQ 0, 1 alt
                            read with base quality 5 at the variant (none
                            counted)
chr1:151185547:T>C (VPS72)  5 ref reads inside the exon; 1 alt read across the
                            exon's left junction (counted); 1 spliced read
                            whose intron covers the variant (not counted)
chr1:151242178:AG>A         3 reads with the 1-bp deletion, 2 ref reads
(PIP5K1A)
=========================  ==================================================

So the expected counts are (depth, alt): ZNF436 (10, 6), VPS72 (6, 1),
PIP5K1A (5, 3). Writes ``tests/data/rna/tumor_rna.bam`` and its ``.bai``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pysam

from neorank.reference import load_local_genome

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "resources" / "reference"
OUT = ROOT / "tests" / "data" / "rna" / "tumor_rna.bam"
READ_LENGTH = 50
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def genomic_exons(transcript) -> tuple[str, list[tuple[int, int]]]:
    """(plus-strand spliced sequence, exons as 1-based inclusive (start, end), ascending)."""
    exons = sorted((e.start, e.end) for e in transcript.exons)
    sequence = transcript.sequence
    if transcript.strand == "-":
        sequence = sequence.translate(COMPLEMENT)[::-1]
    assert len(sequence) == sum(e - s + 1 for s, e in exons), transcript.transcript_id
    return sequence, exons


def to_spliced(exons: list[tuple[int, int]], position: int) -> int:
    """1-based genomic position -> 0-based offset in the plus-strand spliced sequence."""
    offset = 0
    for start, end in exons:
        if start <= position <= end:
            return offset + position - start
        offset += end - start + 1
    raise ValueError(f"{position} is not exonic")


def place(exons: list[tuple[int, int]], offset: int, length: int) -> tuple[int, list]:
    """Alignment start (0-based) and CIGAR of spliced[offset:offset+length]."""
    cigar: list[tuple[int, int]] = []
    spliced = 0
    start = None
    remaining = length
    previous_end = None
    for exon_start, exon_end in exons:
        size = exon_end - exon_start + 1
        if spliced + size <= offset:
            spliced += size
            continue
        first = exon_start + max(0, offset - spliced)
        take = min(remaining, exon_end - first + 1)
        if start is None:
            start = first - 1
        else:
            cigar.append((3, first - previous_end - 1))
        cigar.append((0, take))
        remaining -= take
        previous_end = first + take - 1
        spliced += size
        if remaining == 0:
            break
    assert remaining == 0 and start is not None
    return start, cigar


class Writer:
    def __init__(self, bam: pysam.AlignmentFile) -> None:
        self.bam = bam
        self.reads: list[pysam.AlignedSegment] = []
        self.n = 0

    def add(self, contig_index: int, start: int, cigar: list, sequence: str, *,
            mapq: int = 255, duplicate: bool = False, low_quality_at: int | None = None) -> None:
        read = pysam.AlignedSegment(self.bam.header)
        self.n += 1
        read.query_name = f"read{self.n:03d}"
        read.flag = 1024 if duplicate else 0
        read.reference_id = contig_index
        read.reference_start = start
        read.mapping_quality = mapq
        read.cigartuples = cigar
        read.query_sequence = sequence
        qualities = [35] * len(sequence)
        if low_quality_at is not None:
            qualities[low_quality_at] = 5
        read.query_qualities = pysam.qualitystring_to_array("".join(chr(q + 33) for q in qualities))
        self.reads.append(read)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as cache:
        genome = load_local_genome(REF / "reference.gtf.gz", REF / "reference.cdna.fa.gz",
                                   REF / "reference.pep.fa.gz", cache_root=cache,
                                   reference_name="GRCh38", release=87)
        header = {"HD": {"VN": "1.6", "SO": "coordinate"},
                  "SQ": [{"SN": "chr1", "LN": 248956422}],
                  "PG": [{"ID": "build_test_rna_bam", "PN": "scripts/build_test_rna_bam.py"}]}
        unsorted = out.with_suffix(".unsorted.bam")
        with pysam.AlignmentFile(str(unsorted), "wb", header=header) as bam:
            writer = Writer(bam)

            def transcript_of(gene: str, position: int):
                transcripts = [t for g in genome.genes_by_name(gene) for t in g.transcripts]
                for transcript in sorted(transcripts, key=lambda t: t.transcript_id):
                    if transcript.complete and any(e.start <= position <= e.end
                                                   for e in transcript.exons):
                        return transcript
                raise SystemExit(f"no complete {gene} transcript with an exon at {position}")

            # ZNF436 chr1:23362762 G>C
            pos = 23362762
            sequence, exons = genomic_exons(transcript_of("ZNF436", pos))
            v = to_spliced(exons, pos)
            assert sequence[v] == "G", sequence[v]
            mutant = sequence[:v] + "C" + sequence[v + 1:]
            for k, shift in enumerate([5, 10, 15, 20, 25, 30, 35, 40, 44, 12]):
                seq = mutant if k < 6 else sequence
                s = v - shift
                start, cigar = place(exons, s, READ_LENGTH)
                assert all(op == 0 for op, _ in cigar), "pick shifts inside one exon"
                writer.add(0, start, cigar, seq[s:s + READ_LENGTH])
            # filtered alt reads
            for extra in ({"duplicate": True}, {"mapq": 0}, {"low_quality_at": 20}):
                s = v - 20
                start, cigar = place(exons, s, READ_LENGTH)
                writer.add(0, start, cigar, mutant[s:s + READ_LENGTH], **extra)

            # VPS72 chr1:151185547 T>C: reference reads, one junction alt read
            pos = 151185547
            sequence, exons = genomic_exons(transcript_of("VPS72", pos))
            v = to_spliced(exons, pos)
            assert sequence[v] == "T", sequence[v]
            for shift in (3, 9, 18, 27, 33):
                s = v - shift
                start, cigar = place(exons, s, READ_LENGTH)
                writer.add(0, start, cigar, sequence[s:s + READ_LENGTH])

            mutant = sequence[:v] + "C" + sequence[v + 1:]
            # alt read crossing the nearest exon junction
            ex = next(i for i, (a, b) in enumerate(exons) if a <= pos <= b)
            exon_offset = to_spliced(exons, exons[ex][0])
            if v - exon_offset < READ_LENGTH - 5:  # junction on the left
                s = exon_offset - 5
            else:  # junction on the right
                s = exon_offset + (exons[ex][1] - exons[ex][0] + 1) - READ_LENGTH + 5
            start, cigar = place(exons, s, READ_LENGTH)
            assert any(op == 3 for op, _ in cigar) and s <= v < s + READ_LENGTH
            writer.add(0, start, cigar, mutant[s:s + READ_LENGTH])
            # a spliced read whose intron covers the variant: 25 bases before the
            # variant's exon and 25 after it (skipping the exon entirely)
            left = exon_offset - 25
            right = exon_offset + (exons[ex][1] - exons[ex][0] + 1)
            l_start, l_cigar = place(exons, left, 25)
            assert l_cigar == [(0, 25)], "the previous exon must hold 25 bases"
            gap = (exons[ex + 1][0] - 1) - (l_start + 25)
            writer.add(0, l_start, l_cigar + [(3, gap), (0, 25)],
                       sequence[left:left + 25] + sequence[right:right + 25])

            # PIP5K1A chr1:151242178 AG>A: deletion of the G at 151242179
            pos = 151242178
            sequence, exons = genomic_exons(transcript_of("PIP5K1A", pos + 1))
            v = to_spliced(exons, pos)
            assert sequence[v:v + 2] == "AG", sequence[v:v + 2]
            deleted = sequence[:v + 1] + sequence[v + 2:]
            for k, shift in enumerate([10, 20, 30, 15, 25]):
                s = v - shift
                if k < 3:
                    start, cigar = place(exons, s, shift + 1)
                    rest = READ_LENGTH - shift - 1
                    assert all(op == 0 for op, _ in cigar)
                    cigar = cigar + [(2, 1), (0, rest)]
                    writer.add(0, start, cigar, deleted[s:s + READ_LENGTH])
                else:
                    start, cigar = place(exons, s, READ_LENGTH)
                    writer.add(0, start, cigar, sequence[s:s + READ_LENGTH])
            for read in sorted(writer.reads, key=lambda r: (r.reference_start, r.query_name)):
                bam.write(read)
    pysam.sort("-o", str(out), str(unsorted))
    unsorted.unlink()
    pysam.index(str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes) and its index")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
