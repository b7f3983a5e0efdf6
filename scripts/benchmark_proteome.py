#!/usr/bin/env python
"""Time the reference-proteome check (exact self match + nearest self peptide) at the size of
a whole human proteome.

No Ensembl release can be fetched here, so the proteome is synthetic: ``--residues`` residues
in proteins of 300-700 residues drawn (seeded) from the amino-acid composition of UniProtKB/
Swiss-Prot (release 2024_01 statistics), about the size of the distinct protein sequences of
an Ensembl human release (~11 million distinct 9-mers per length). Queries are windows of
those proteins with 0-3 random substitutions (self, near and far peptides), 8-11-mers in
equal parts. Random sequences have fewer repeats than a real proteome (low-complexity
regions make some seed buckets larger there), so real searches can be slower than this.

Times, in one process: the k-mers of each length (cold cache), the index of each length
from the cached k-mers (what every peptides job and worker builds), and
``ProteomeIndex.annotate`` on ``--queries`` peptides; prints wall and CPU seconds and the
process's peak RSS.

Usage::

    .venv/bin/python scripts/benchmark_proteome.py [--residues 11000000] [--queries 40000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np

from neorank.proteome import ProteomeIndex

#: UniProtKB/Swiss-Prot amino-acid composition (%), release 2024_01.
COMPOSITION = {"A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75,
               "G": 7.07, "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86,
               "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87}


def proteins(residues: int, rng: np.random.Generator) -> list[str]:
    letters = np.frombuffer("".join(COMPOSITION).encode(), dtype=np.uint8)
    weights = np.array(list(COMPOSITION.values()))
    drawn = letters[rng.choice(len(letters), size=residues, p=weights / weights.sum())]
    text = drawn.tobytes().decode()
    result, start = [], 0
    while start < residues:
        length = int(rng.integers(300, 701))
        result.append("M" + text[start:start + length])
        start += length
    return result


def queries(sequences: list[str], count: int, rng: np.random.Generator) -> list[str]:
    alphabet = "".join(COMPOSITION)
    result = []
    for n in range(count):
        length = 8 + n % 4
        protein = sequences[int(rng.integers(len(sequences)))]
        start = int(rng.integers(len(protein) - length))
        peptide = list(protein[start:start + length])
        for _ in range(n % 4):
            peptide[int(rng.integers(length))] = alphabet[int(rng.integers(20))]
        result.append("".join(peptide))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residues", type=int, default=11_000_000)
    parser.add_argument("--queries", type=int, default=40_000)
    parser.add_argument("--max-mismatches", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sequences = proteins(args.residues, rng)
    asked = queries(sequences, args.queries, rng)
    with tempfile.TemporaryDirectory() as cache:
        index = ProteomeIndex(sequences, cache_dir=cache, max_mismatches=args.max_mismatches)
        for length in (8, 9, 10, 11):  # the k-mers, cached on disk once per protein set
            wall, cpu = time.perf_counter(), time.process_time()
            kmers = len(index.kmers(length))
            print(f"k-mers {length}: {kmers:,} distinct, {time.perf_counter() - wall:.1f} s wall, "
                  f"{time.process_time() - cpu:.1f} s CPU (cold cache)", flush=True)
        # what each job (each peptides worker) builds: the seed tables from the cached k-mers
        index = ProteomeIndex(sequences, cache_dir=cache, max_mismatches=args.max_mismatches)
        for length in (8, 9, 10, 11):
            wall, cpu = time.perf_counter(), time.process_time()
            index._index(length)
            print(f"index {length}: {time.perf_counter() - wall:.1f} s wall, "
                  f"{time.process_time() - cpu:.1f} s CPU (from the cached k-mers)", flush=True)
        wall, cpu = time.perf_counter(), time.process_time()
        frame = index.annotate(asked)
        print(f"annotate {len(asked):,} peptides: {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU; self {int(frame['self_match'].sum()):,}, "
              f"within {args.max_mismatches}: {int(frame['nearest_self_mismatches'].notna().sum()):,}")
        digest = int(frame["nearest_self_mismatches"].fillna(-1).astype(int).sum())
        print(f"checksum (sum of mismatches, -1 for none): {digest}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
