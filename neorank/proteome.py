"""Reference-proteome check of mutant peptides.

Every mutant peptide is looked up in all protein sequences of the annotation in
use (the protein FASTA behind the :class:`pyensembl.Genome`, i.e. every
translated transcript, not only the selected ones):

* ``self_match``: the peptide occurs exactly somewhere in the proteome;
* ``nearest_self_peptide`` / ``nearest_self_mismatches``: the closest
  same-length proteome peptide by Hamming distance (ties: the alphabetically
  first), searched up to ``max_mismatches``; beyond that both are ``NA``
  ("no self peptide within max_mismatches").

Index. For each peptide length ``L`` the sorted unique ``L``-mers of the
proteome (only windows of the 20 standard residues) are kept as a fixed-width
byte array (numpy ``S{L}``), so exact lookup is a binary search. The index is
built once per protein set and length and cached as ``.npy`` files in
``<cache>/proteome-<key>/`` where ``key`` is the first 12 hex digits of the
sha256 over the sorted unique protein sequences; an exclusive file lock keeps
concurrent jobs from building the same file twice.

Nearest search (pigeonhole). Split a peptide into ``d + 2`` contiguous parts: a
proteome peptide within ``d`` mismatches of it differs in at most ``d`` parts, so it
shares at least two parts with it exactly. Every pair of parts is a seed. For each
seed the proteome ``L``-mers are grouped into buckets by the seed's first residues
(packed 5 bits each; as many residues as give about one bucket per ``L``-mer, at most
:data:`MAX_BUCKET_RESIDUES`), so a query's candidates for that seed are one bucket,
found by offset; the Hamming distances of all (query, candidate) pairs are computed at
once with numpy. A seed of two parts holds 4-6 residues for 8-11-mers with ``d = 2``
(a bucket of 4 residues: one in 160,000 proteome peptides at random), where the classic
split into ``d + 1`` parts has parts of 2-3 residues (one in 400-8,000): far fewer
pairs to compare, for ``(d + 2)(d + 1) / 2`` seed tables instead of ``d + 1``, each a
kmer id per ``L``-mer (4 bytes) and the bucket offsets. The result is the same: every
peptide within ``d`` mismatches is a candidate either way. The bound is lowered so
that every part of the classic split has at least :data:`MIN_SEED` residues
(``effective_max_mismatches``), which keeps the searched bound (and so the output) as
it was defined.

Memory. The candidate pairs are compared in runs of queries holding at most
``max_pairs`` pairs (:data:`MAX_PAIRS`, about 60 bytes a pair), so the search
stays within a few hundred MB whatever the proteome and the number of peptides.
Results do not depend on the run size. The index of one length holds about
``L + 8 + 4 * seeds`` bytes per distinct ``L``-mer (the ``L``-mers, their packed
form, the seed tables; from that layout 41 bytes for 9-mers with ``d = 2``, about
450 MB for a whole human proteome's 11 million; scripts/benchmark_proteome.py measured
a 2,290 MiB process peak for the four lengths 8-11 at that size).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import pyensembl

log = logging.getLogger(__name__)

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Shortest seed segment used by the nearest-peptide search.
MIN_SEED = 2
#: Query peptides whose seeds are looked up at once.
QUERY_BLOCK = 4096
#: Candidate (query, proteome peptide) pairs compared at once (bounds the memory of the
#: nearest search: about 60 bytes a pair).
MAX_PAIRS = 2_000_000
#: Columns added to peptides.tsv (docs/tables.md).
PROTEOME_COLUMNS = ["self_match", "nearest_self_peptide", "nearest_self_mismatches"]
_INDEX_VERSION = "1"


def protein_set_key(sequences: Iterable[str]) -> str:
    """First 12 hex digits of the sha256 over the sorted unique protein sequences."""
    digest = hashlib.sha256(_INDEX_VERSION.encode("ascii"))
    for sequence in sorted(set(sequences)):
        digest.update(sequence.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()[:12]


def genome_proteins(genome: pyensembl.Genome) -> list[str]:
    """Every protein sequence of the annotation (its protein FASTA), trailing ``*`` removed."""
    sequences = genome.protein_sequences.fasta_dictionary.values()
    return sorted({str(s).rstrip("*").upper() for s in sequences if s})


def genome_cache_dir(genome: Any) -> Path | None:
    """The pyensembl cache folder of ``genome`` (where its index lives), if it has one."""
    cache = getattr(genome, "download_cache", None)
    path = getattr(cache, "cache_directory_path", None)
    return Path(path) if path else None


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _kmers(sequences: list[str], length: int) -> np.ndarray:
    """Sorted unique standard-residue ``length``-mers of ``sequences`` as an ``S{length}`` array."""
    if not sequences:
        return np.array([], dtype=f"S{length}")
    joined = np.frombuffer(("*".join(sequences) + "*").encode("ascii"), dtype=np.uint8)
    if len(joined) < length:
        return np.array([], dtype=f"S{length}")
    standard = np.zeros(256, dtype=bool)
    standard[np.frombuffer(STANDARD_AMINO_ACIDS.encode("ascii"), dtype=np.uint8)] = True
    bad = np.concatenate([[0], np.cumsum(~standard[joined])])
    starts = np.flatnonzero(bad[length:] - bad[:-length] == 0)
    windows = np.lib.stride_tricks.sliding_window_view(joined, length)[starts]
    kmers = np.ascontiguousarray(windows).view(f"S{length}").ravel()
    return np.unique(kmers)


def _as_matrix(kmers: np.ndarray, length: int) -> np.ndarray:
    return np.frombuffer(kmers.tobytes(), dtype=np.uint8).reshape(-1, length)


def segments(length: int, max_mismatches: int) -> list[tuple[int, int]]:
    """``max_mismatches + 1`` contiguous (start, end) segments covering ``length`` positions."""
    parts = max_mismatches + 1
    bounds = [round(i * length / parts) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts)]


def effective_max_mismatches(length: int, max_mismatches: int) -> int:
    """The searched bound: ``max_mismatches``, lowered so every seed has >= MIN_SEED residues."""
    return max(0, min(max_mismatches, length // MIN_SEED - 1))


#: Bits per residue in the packed form of a peptide (20 residues + "other" fit in 5).
_CODE_BITS = 5
#: Longest peptide held in one uint64 (12 x 5 = 60 bits); longer ones compare bytes.
_MAX_PACKED = 64 // _CODE_BITS
_CODES = np.zeros(256, dtype=np.uint64)  # byte -> residue code; non-standard bytes -> 0
_CODES[np.frombuffer(STANDARD_AMINO_ACIDS.encode("ascii"), dtype=np.uint8)] = np.arange(
    1, len(STANDARD_AMINO_ACIDS) + 1, dtype=np.uint64)


def _packed(matrix: np.ndarray) -> np.ndarray:
    """Each row of an (N, L) residue matrix as one uint64, 5 bits a residue."""
    packed = np.zeros(len(matrix), dtype=np.uint64)
    for position in range(matrix.shape[1]):
        packed |= _CODES[matrix[:, position]] << np.uint64(_CODE_BITS * position)
    return packed


def _packed_mismatches(a: np.ndarray, b: np.ndarray, length: int) -> np.ndarray:
    """Hamming distance between packed peptides: the 5-bit groups that differ."""
    low = np.uint64(sum(1 << (_CODE_BITS * i) for i in range(length)))
    x = a ^ b
    any_bit = x | (x >> np.uint64(1)) | (x >> np.uint64(2)) | (x >> np.uint64(3)) | (
        x >> np.uint64(4))
    return np.bitwise_count(any_bit & low)


def seed_positions(length: int, bound: int) -> list[tuple[int, ...]]:
    """Residue positions of each seed: every pair of ``bound + 2`` contiguous parts of a
    ``length``-mer (a peptide within ``bound`` mismatches shares two parts exactly)."""
    parts = segments(length, bound + 1)
    return [tuple(range(*a)) + tuple(range(*b)) for a, b in itertools.combinations(parts, 2)]


#: Most residues of a seed that select its bucket (20 bits: a table of 2**20 offsets).
MAX_BUCKET_RESIDUES = 4


def bucket_residues(kmers: int, seed: int) -> int:
    """Residues of a ``seed``-residue seed that select its bucket in an index of ``kmers``
    peptides: about one bucket per peptide (5 bits a residue), at most
    :data:`MAX_BUCKET_RESIDUES` and the seed's own length."""
    return min(seed, MAX_BUCKET_RESIDUES, max(1, round(np.log2(max(kmers, 2)) / _CODE_BITS)))


def _seed_keys(matrix: np.ndarray, packed: np.ndarray | None,
               positions: tuple[int, ...]) -> np.ndarray:
    """The residues at ``positions`` (at most 6) of each row of an (N, L) residue matrix,
    packed 5 bits each into a uint32. ``packed`` (the rows' :func:`_packed` form, or
    ``None``) gives the same keys by shifting whole runs of positions out of it."""
    if len(positions) * _CODE_BITS > 32:
        raise ValueError(f"a seed key holds at most 6 residues, not {len(positions)}")
    if packed is None:
        codes = _CODES.astype(np.uint32)
        keys = np.zeros(len(matrix), dtype=np.uint32)
        for i, position in enumerate(positions):
            keys |= codes[matrix[:, position]] << np.uint32(_CODE_BITS * i)
        return keys
    keys = np.zeros(len(packed), dtype=np.uint64)
    done = 0
    for _, run in itertools.groupby(enumerate(positions), lambda item: item[1] - item[0]):
        run = [position for _, position in run]
        mask = np.uint64((1 << (_CODE_BITS * len(run))) - 1)
        keys |= ((packed >> np.uint64(_CODE_BITS * run[0])) & mask) << np.uint64(
            _CODE_BITS * done)
        done += len(run)
    return keys.astype(np.uint32)


def _buckets(keys: np.ndarray, residues: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, ids): the kmer ids grouped by key, ascending within a key, and where
    each key's group starts (``offsets[key]`` to ``offsets[key + 1]``; one offset per
    possible key of ``residues`` residues). The ids are sorted with their keys as one
    64-bit number (unique, so any sort is stable): ~7x numpy's stable argsort."""
    ids = _id_dtype(len(keys))
    both = (keys.astype(np.uint64) << np.uint64(32)) | np.arange(len(keys), dtype=np.uint64)
    both.sort()
    order = (both & np.uint64(0xFFFFFFFF)).astype(ids)
    del both
    offsets = np.zeros((1 << (_CODE_BITS * residues)) + 1, dtype=ids)
    np.cumsum(np.bincount(keys, minlength=len(offsets) - 1), out=offsets[1:])
    return offsets, order


@dataclass
class _LengthIndex:
    kmers: np.ndarray                      # sorted unique S{L}
    matrix: np.ndarray | None              # (N, L) uint8 of kmers; None when packed is kept
    #: seed positions -> (the positions selecting its bucket, bucket offsets, kmer ids)
    seeds: dict[tuple[int, ...], tuple[tuple[int, ...], np.ndarray, np.ndarray]]
    packed: np.ndarray | None = None       # uint64 per kmer (L <= _MAX_PACKED), else None


def _id_dtype(count: int) -> type:
    """The smallest integer type holding ids below ``count`` (int32 halves the seed index)."""
    return np.int32 if count < 2**31 else np.int64


def _pair_runs(pairs: np.ndarray, max_pairs: int) -> Iterator[tuple[int, int]]:
    """Consecutive [first, last) runs of queries holding at most ``max_pairs`` candidate
    pairs together (``pairs``: each query's count); a query above the limit runs alone."""
    total = np.cumsum(pairs)
    first = 0
    while first < len(pairs):
        before = int(total[first - 1]) if first else 0
        last = int(np.searchsorted(total, before + max_pairs, side="right"))
        last = max(last, first + 1)
        yield first, last
        first = last


class ProteomeIndex:
    """Exact and nearest same-length lookup of peptides in a protein set.

    Parameters
    ----------
    sequences
        The protein sequences.
    cache_dir
        Folder for the cached k-mer arrays (``None``: in memory only).
    max_mismatches
        Largest Hamming distance searched for the nearest self peptide.
    max_pairs
        Candidate pairs compared at once by the nearest search (memory bound; the
        results do not depend on it).
    """

    def __init__(self, sequences: Iterable[str], *, cache_dir: str | os.PathLike | None = None,
                 max_mismatches: int = 2, max_pairs: int = MAX_PAIRS) -> None:
        self.sequences = sorted({s.rstrip("*").upper() for s in sequences if s})
        self.key = protein_set_key(self.sequences)
        self.cache_dir = Path(cache_dir) / f"proteome-{self.key}" if cache_dir else None
        if max_mismatches < 0:
            raise ValueError("max_mismatches must be >= 0")
        self.max_mismatches = max_mismatches
        if max_pairs < 1:
            raise ValueError("max_pairs must be >= 1")
        self.max_pairs = max_pairs
        self._by_length: dict[int, _LengthIndex] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the built per-length indexes (a worker process builds its own
        from the cached k-mer files)."""
        return {**self.__dict__, "_by_length": {}}

    @classmethod
    def for_genome(cls, genome: pyensembl.Genome, *, max_mismatches: int = 2,
                   cache_dir: str | os.PathLike | None = None) -> ProteomeIndex:
        """The index of every protein of ``genome``, cached next to its pyensembl index."""
        if cache_dir is None:
            cache_dir = genome_cache_dir(genome)
        return cls(genome_proteins(genome), cache_dir=cache_dir, max_mismatches=max_mismatches)

    # ------------------------------------------------------------------ building
    def kmers(self, length: int) -> np.ndarray:
        """Sorted unique proteome peptides of ``length`` (``S{length}`` array), cached on disk."""
        if self.cache_dir is None:
            return _kmers(self.sequences, length)
        path = self.cache_dir / f"kmers-{length}.npy"
        if not path.is_file():
            with _exclusive_lock(self.cache_dir.with_name(self.cache_dir.name + ".lock")):
                if not path.is_file():
                    log.info("indexing %d-mers of %d proteins into %s", length,
                             len(self.sequences), path)
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
                    np.save(tmp, _kmers(self.sequences, length), allow_pickle=False)
                    os.replace(tmp, path)
        return np.load(path, allow_pickle=False)

    def _index(self, length: int) -> _LengthIndex:
        if length not in self._by_length:
            kmers = self.kmers(length)
            matrix = _as_matrix(kmers, length)
            packed = _packed(matrix) if length <= _MAX_PACKED else None
            seeds = {}
            bound = effective_max_mismatches(length, self.max_mismatches)
            for positions in seed_positions(length, bound):
                selecting = positions[:bucket_residues(len(kmers), len(positions))]
                seeds[positions] = (selecting, *_buckets(_seed_keys(matrix, packed, selecting),
                                                         len(selecting)))
            self._by_length[length] = _LengthIndex(
                kmers, None if packed is not None else matrix, seeds, packed)
        return self._by_length[length]

    # ------------------------------------------------------------------ queries
    def contains(self, peptides: Iterable[str]) -> np.ndarray:
        """Boolean array: does each peptide occur exactly in the proteome?"""
        peptides = list(peptides)
        result = np.zeros(len(peptides), dtype=bool)
        by_length: dict[int, list[int]] = {}
        for i, peptide in enumerate(peptides):
            by_length.setdefault(len(peptide), []).append(i)
        for length, rows in by_length.items():
            kmers = self._index(length).kmers
            if not len(kmers):
                continue
            query = np.array([peptides[i].encode("ascii") for i in rows], dtype=f"S{length}")
            pos = np.searchsorted(kmers, query)
            hit = kmers[np.minimum(pos, len(kmers) - 1)] == query
            result[rows] = hit
        return result

    def nearest(self, peptides: Iterable[str]) -> tuple[list[str | None], list[int | None]]:
        """Nearest same-length proteome peptide and its mismatch count, for each peptide.

        ``(None, None)`` when no proteome peptide is within the searched bound
        (:func:`effective_max_mismatches`). Ties go to the alphabetically first.
        """
        peptides = [p.upper() for p in peptides]
        nearest: list[str | None] = [None] * len(peptides)
        mismatches: list[int | None] = [None] * len(peptides)
        by_length: dict[int, list[int]] = {}
        for i, peptide in enumerate(peptides):
            by_length.setdefault(len(peptide), []).append(i)
        for length, rows in by_length.items():
            index = self._index(length)
            if not len(index.kmers):
                continue
            unique = sorted({peptides[i] for i in rows})
            best_id, best_d = self._nearest_unique(index, unique, length)
            found = {p: (k, d) for p, k, d in zip(unique, best_id, best_d, strict=True) if k >= 0}
            for i in rows:
                hit = found.get(peptides[i])
                if hit is not None:
                    nearest[i] = index.kmers[hit[0]].decode("ascii")
                    mismatches[i] = int(hit[1])
        return nearest, mismatches

    def _nearest_unique(self, index: _LengthIndex, peptides: list[str],
                        length: int) -> tuple[np.ndarray, np.ndarray]:
        bound = effective_max_mismatches(length, self.max_mismatches)
        best_id = np.full(len(peptides), -1, dtype=np.int64)
        best_d = np.full(len(peptides), length + 1, dtype=np.int64)
        query_all = np.array([p.encode("ascii") for p in peptides], dtype=f"S{length}")
        qmatrix_all = _as_matrix(query_all, length)
        qpacked_all = _packed(qmatrix_all) if index.packed is not None else None
        seeds = list(index.seeds.items())
        for block in range(0, len(peptides), QUERY_BLOCK):
            qmatrix = qmatrix_all[block:block + QUERY_BLOCK]
            found = []  # per seed: (first candidate, candidate count) of every query
            for _, (selecting, offsets, _) in seeds:
                seed = _seed_keys(qmatrix, None if qpacked_all is None else
                                  qpacked_all[block:block + QUERY_BLOCK], selecting)
                lo = offsets[seed]
                found.append((lo, offsets[seed + 1] - lo))
            pairs = np.sum([counts for _, counts in found], axis=0)
            for first, last in _pair_runs(pairs, self.max_pairs):
                q_ids, k_ids = [], []
                for (_, (_, _, order)), (lo, counts) in zip(seeds, found, strict=True):
                    counts = counts[first:last]
                    total = int(counts.sum())
                    if not total:
                        continue
                    q = np.repeat(np.arange(first, last), counts)
                    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
                    q_ids.append(q)
                    k_ids.append(order[np.repeat(lo[first:last], counts) + offsets])
                if not q_ids:
                    continue
                q = np.concatenate(q_ids)
                k = np.concatenate(k_ids)
                if index.packed is not None:  # same distances, a few uint64 operations a pair
                    distance = _packed_mismatches(index.packed[k],
                                                  qpacked_all[block + q], length)
                else:
                    distance = (index.matrix[k] != qmatrix[q]).sum(axis=1)
                keep = distance <= bound
                q, k, distance = q[keep], k[keep], distance[keep]
                # best per query: smallest distance, then smallest kmer id (= alphabetical)
                ranked = np.lexsort((k, distance, q))
                q, k, distance = q[ranked], k[ranked], distance[ranked]
                first_of = np.ones(len(q), dtype=bool)
                first_of[1:] = q[1:] != q[:-1]
                best_id[block + q[first_of]] = k[first_of]
                best_d[block + q[first_of]] = distance[first_of]
        return best_id, best_d

    def annotate(self, peptides: Iterable[str]) -> pd.DataFrame:
        """The :data:`PROTEOME_COLUMNS` of ``peptides`` (one row each, same order)."""
        peptides = list(peptides)
        nearest, mismatches = self.nearest(peptides)
        frame = pd.DataFrame({
            "self_match": [d == 0 for d in mismatches],
            "nearest_self_peptide": nearest,
            "nearest_self_mismatches": pd.array(mismatches, dtype="Int64"),
        })
        if len(frame):
            exact = self.contains(peptides)
            if not (exact == frame["self_match"].to_numpy()).all():  # pragma: no cover
                raise AssertionError("proteome index: exact and nearest lookups disagree")
        return frame
