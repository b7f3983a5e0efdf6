#!/usr/bin/env python
"""Time peptide generation for synthetic coding variants on the embedded reference subset.

Draws ``--variants`` random (seeded) coding alleles in the CDS exons of the complete
protein-coding transcripts of ``resources/reference/`` (Ensembl 87, 47 genes): 80 % SNVs,
10 % deletions and 10 % insertions of 1-3 bases, REF taken from the transcript cDNA (so every
allele agrees with the reference). Then times, in one process:

1. ``annotate.annotate_records`` (varcode effects on every overlapping transcript),
2. ``peptides.peptide_blocks`` with the reference-proteome check (``self_match`` and nearest
   self peptide, index built from scratch in a temporary cache: the cold, worst case), in
   blocks of ``--block-variants`` variants as ``neorank peptides`` makes them (the blocks
   are counted, not written).

Usage::

    .venv/bin/python scripts/benchmark_peptides.py [--variants 10000] [--seed 7]

Prints one line per step and the total, wall-clock and CPU time of the process (on a
shared machine the wall time grows with the load; the CPU time does not), and the peak
memory (max RSS) of the process; the figures are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from neorank import annotate, peptides
from neorank.proteome import ProteomeIndex
from neorank.reference import load_local_genome

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "resources" / "reference"
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def coding_positions(genome) -> list[tuple[str, str, list[int], str]]:
    """(contig, strand, genomic position of every CDS base in transcript order, CDS sequence)."""
    result = []
    for transcript in genome.transcripts():
        if transcript.biotype != "protein_coding" or not transcript.complete:
            continue
        try:
            cds = transcript.coding_sequence
            start, end = transcript.first_start_codon_spliced_offset, \
                transcript.last_stop_codon_spliced_offset
        except (ValueError, KeyError):
            continue
        by_offset = {}
        for exon in transcript.exons:
            for pos in range(exon.start, exon.end + 1):
                by_offset[transcript.spliced_offset(pos)] = pos
        positions = [by_offset[o] for o in range(start, end + 1)]
        if len(positions) == len(cds):
            result.append((transcript.contig, transcript.strand, positions, str(cds)))
    return result


def synthetic_variants(genome, count: int, seed: int) -> list[annotate.SomaticRecord]:
    rng = random.Random(seed)
    transcripts = coding_positions(genome)
    records: dict[str, annotate.SomaticRecord] = {}
    while len(records) < count:
        contig, strand, positions, cds = rng.choice(transcripts)
        i = rng.randrange(3, len(cds) - 6)
        kind = rng.random()
        size = rng.randint(1, 3)
        # plus-strand letters of the CDS, so base[j] is the genomic base at CDS offset j
        base = cds if strand == "+" else cds.translate(COMPLEMENT)
        if kind < 0.8:  # SNV
            ref = base[i]
            alt = rng.choice([b for b in "ACGT" if b != ref])
            pos = positions[i]
        else:
            # left anchor + deleted bases must be contiguous on the genome (one exon)
            span = [positions[j] for j in range(i, i + size + 1)]
            step = 1 if strand == "+" else -1
            if any(b - a != step for a, b in zip(span, span[1:], strict=False)):
                continue
            genomic = sorted(range(i, i + size + 1), key=lambda j: positions[j])
            seq = "".join(base[j] for j in genomic)
            pos = positions[genomic[0]]
            if kind < 0.9:  # deletion of `size` bases after the anchor
                ref, alt = seq, seq[0]
            else:  # insertion after the anchor
                ref = seq[0]
                alt = ref + "".join(rng.choice("ACGT") for _ in range(size))
        variant_id = f"{contig}:{pos}:{ref}>{alt}"
        records.setdefault(variant_id, annotate.SomaticRecord(variant_id, contig, pos, ref, alt))
    return list(records.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lengths", default="8,9,10,11")
    parser.add_argument("--block-variants", type=int, default=peptides.BLOCK_VARIANTS)
    args = parser.parse_args(argv)
    lengths = peptides.parse_lengths(args.lengths)

    with tempfile.TemporaryDirectory() as tmp:
        genome = load_local_genome(REFERENCE / "reference.gtf.gz", REFERENCE / "reference.cdna.fa.gz",
                                   REFERENCE / "reference.pep.fa.gz", cache_root=Path(tmp) / "ref",
                                   reference_name="GRCh38", release=87)
        records = synthetic_variants(genome, args.variants, args.seed)

        t0, c0 = time.perf_counter(), time.process_time()
        annotations = annotate.annotate_records(records, genome)
        t1, c1 = time.perf_counter(), time.process_time()
        effects = pd.DataFrame([row for r in records for row in annotations[r.variant_id].rows],
                               columns=annotate.EFFECT_COLUMNS)
        proteome = ProteomeIndex.for_genome(genome, cache_dir=Path(tmp) / "proteome")
        count = self_matches = 0
        for table in peptides.peptide_blocks(effects, lengths, proteome=proteome,
                                             block_variants=args.block_variants):
            count += len(table)
            self_matches += int(table["self_match"].sum())
        t2, c2 = time.perf_counter(), time.process_time()

    statuses = pd.Series([a.status for a in annotations.values()]).value_counts()
    print(f"variants: {len(records)} ({', '.join(f'{n} {s}' for s, n in statuses.items())})")
    print(f"annotate (varcode): {t1 - t0:.1f} s wall, {c1 - c0:.1f} s CPU, "
          f"{len(effects)} effect rows")
    print(f"peptides + proteome check (cold index): {t2 - t1:.1f} s wall, {c2 - c1:.1f} s CPU, "
          f"{count} peptides, {self_matches} self")
    print(f"total peptide generation: {t2 - t0:.1f} s wall, {c2 - c0:.1f} s CPU "
          "(CPU time of this process: the wall time on an otherwise idle core)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KB on Linux
    print(f"peak memory: {peak} MB (max RSS of this process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
