"""neorank.proteome: exact and nearest self-peptide lookup on the embedded Ensembl 87 proteins.

Expected values come from a brute-force scan over the peptide FASTA read here
(``reference.pep.fa.gz``), not from the index.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from test_annotate import REFERENCE_DIR, read_fasta

from neorank import proteome
from neorank.proteome import ProteomeIndex

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture(scope="module")
def proteins() -> list[str]:
    return sorted(set(read_fasta(REFERENCE_DIR / "reference.pep.fa.gz", "transcript").values()))


@pytest.fixture(scope="module")
def index(mini_genome, tmp_path_factory) -> ProteomeIndex:
    return ProteomeIndex.for_genome(mini_genome, max_mismatches=2,
                                    cache_dir=tmp_path_factory.mktemp("proteome"))


@functools.cache
def _windows(proteins: tuple[str, ...], length: int) -> tuple[list[str], np.ndarray]:
    windows = {p[i:i + length] for p in proteins for i in range(len(p) - length + 1)}
    windows = sorted(w for w in windows if set(w) <= set(STANDARD))
    return windows, np.frombuffer("".join(windows).encode(), dtype=np.uint8).reshape(-1, length)


def brute_force(peptide: str, proteins: list[str]) -> tuple[int, str]:
    """(mismatches, peptide) of the nearest same-length standard window; ties alphabetical."""
    windows, matrix = _windows(tuple(proteins), len(peptide))
    distance = (matrix != np.frombuffer(peptide.encode(), dtype=np.uint8)).sum(axis=1)
    best = int(distance.min())
    return best, windows[int(np.flatnonzero(distance == best)[0])]


def mutated_windows(proteins: list[str], seed: int, count: int, lengths: list[int],
                    substitutions: int, longer_than: int = 20) -> list[str]:
    """``count`` protein windows (query ``n`` of length ``lengths[n % len(lengths)]``)
    with ``n % substitutions`` random substitutions each: self, near and far peptides."""
    rng = random.Random(seed)
    queries = []
    for n in range(count):
        length = lengths[n % len(lengths)]
        protein = rng.choice([p for p in proteins if len(p) > longer_than])
        start = rng.randrange(len(protein) - length)
        peptide = list(protein[start:start + length])
        for _ in range(n % substitutions):
            peptide[rng.randrange(length)] = rng.choice(STANDARD)
        queries.append("".join(peptide))
    return queries


def test_index_holds_every_protein_of_the_annotation(index, proteins):
    assert index.sequences == sorted({p.rstrip("*") for p in proteins})
    windows = {p[i:i + 9] for p in proteins for i in range(len(p) - 8)}
    assert set(index.kmers(9).astype(str)) == {w for w in windows if set(w) <= set(STANDARD)}


def test_exact_and_nearest_match_a_brute_force_scan(index, proteins):
    queries = mutated_windows(proteins, 4, 48, [8, 9, 10, 11], 5)  # 0-4 substitutions
    queries.append("WWWWWWWWW")  # far from everything
    nearest, mismatches = index.nearest(queries)
    exact = index.contains(queries)
    seen = set()
    for query, found, count, is_self in zip(queries, nearest, mismatches, exact, strict=True):
        best, peptide = brute_force(query, proteins)
        assert is_self == (best == 0) == any(query in p for p in proteins)
        if best <= 2:
            assert (count, found) == (best, peptide), query
        else:
            assert (count, found) == (None, None), query
        seen.add(min(best, 3))
    assert seen == {0, 1, 2, 3}  # every outcome is exercised


def test_pair_runs_bound_the_candidate_pairs():
    runs = list(proteome._pair_runs(np.array([3, 1, 0, 5, 2, 9, 1]), 6))
    # 3+1+0 | 5 (+2 > 6) | 2 (+9 > 6) | 9 (over the bound: alone) | 1
    assert runs == [(0, 3), (3, 4), (4, 5), (5, 6), (6, 7)]
    assert list(proteome._pair_runs(np.array([3, 1, 0, 5, 2, 9, 1]), 1)) \
        == [(0, 1), (1, 3), (3, 4), (4, 5), (5, 6), (6, 7)]  # 1 + 0 pairs fit together
    assert list(proteome._pair_runs(np.array([], dtype=int), 5)) == []


def test_nearest_does_not_depend_on_the_pair_bound(index, proteins):
    """Comparing the candidates of one query at a time gives the same nearest peptides."""
    queries = mutated_windows(proteins, 11, 40, [8, 9, 10, 11], 4)
    small = ProteomeIndex(proteins, max_mismatches=2, max_pairs=1)
    assert small.nearest(queries) == index.nearest(queries)
    assert set(index.nearest(queries)[1]) >= {0, 1, 2}  # self, near and nearest-at-bound
    with pytest.raises(ValueError, match="max_pairs"):
        ProteomeIndex(proteins, max_pairs=0)


def test_bound_is_lowered_for_short_seeds():
    assert proteome.effective_max_mismatches(9, 2) == 2
    assert proteome.effective_max_mismatches(4, 3) == 1  # seeds of 2 residues
    assert proteome.effective_max_mismatches(3, 2) == 0  # exact only
    assert proteome.segments(9, 2) == [(0, 3), (3, 6), (6, 9)]


def test_seeds_cover_every_peptide_within_the_bound():
    """Pigeonhole with two exact parts: for every way to place up to ``bound`` mismatches
    in a peptide, some seed's positions avoid all of them (so the mismatching proteome
    peptide is a candidate of that seed)."""
    import itertools

    for length in range(2, 16):
        for asked in range(4):
            bound = proteome.effective_max_mismatches(length, asked)
            seeds = proteome.seed_positions(length, bound)
            assert len(seeds) == (bound + 2) * (bound + 1) // 2
            assert all(len(set(seed)) == len(seed) for seed in seeds)
            for wrong in itertools.combinations(range(length), bound):
                assert any(not set(seed) & set(wrong) for seed in seeds), (length, bound, wrong)
    # 9-mers, 2 mismatches: parts 0-1, 2-3, 4-6, 7-8; seeds of 4-5 residues
    assert proteome.seed_positions(9, 2) == [(0, 1, 2, 3), (0, 1, 4, 5, 6), (0, 1, 7, 8),
                                             (2, 3, 4, 5, 6), (2, 3, 7, 8), (4, 5, 6, 7, 8)]


@pytest.mark.parametrize("length", [8, 9, 11, 12])
def test_seed_keys_and_buckets(length):
    """Seed keys shifted out of packed peptides equal the keys built residue by residue
    and are equal exactly when the residues are; each bucket holds the ids of its key, in
    ascending order."""
    rng = np.random.default_rng(length)
    letters = np.frombuffer((STANDARD + "X").encode(), dtype=np.uint8)
    matrix = letters[rng.integers(0, len(letters), size=(3000, length))]
    packed = proteome._packed(matrix)
    for bound in range(proteome.effective_max_mismatches(length, 3) + 1):
        for positions in proteome.seed_positions(length, bound):
            for residues in range(1, min(len(positions), 6) + 1):
                selecting = positions[:residues]
                keys = proteome._seed_keys(matrix, None, selecting)
                assert np.array_equal(proteome._seed_keys(matrix, packed, selecting), keys)
                chosen = matrix[:, list(selecting)]
                same = (chosen[:, None, :] == chosen[None, :200, :]).all(axis=2)
                assert np.array_equal(keys[:, None] == keys[None, :200], same)
                if residues > proteome.MAX_BUCKET_RESIDUES:
                    continue
                offsets, ids = proteome._buckets(keys, residues)
                assert len(offsets) == 2 ** (5 * residues) + 1 and offsets[-1] == len(keys)
                for key in np.unique(keys)[:50]:
                    assert list(ids[offsets[key]:offsets[key + 1]]) == list(
                        np.flatnonzero(keys == key))
    with pytest.raises(ValueError, match="at most 6"):
        proteome._seed_keys(matrix, None, tuple(range(7)))
    assert proteome.bucket_residues(60_000, 5) == 3
    assert proteome.bucket_residues(1_000_000, 5) == 4
    assert proteome.bucket_residues(11_000_000, 6) == 4
    assert proteome.bucket_residues(11_000_000, 2) == 2
    assert proteome.bucket_residues(0, 4) == 1


@pytest.mark.parametrize("length", [13, 15])
def test_nearest_of_long_peptides_matches_a_brute_force_scan(proteins, length):
    """Peptides longer than 12 residues (no packed form: distances and seed keys from
    the residue matrix)."""
    small = ProteomeIndex(proteins, max_mismatches=3)
    queries = mutated_windows(proteins, length, 30, [length], 6, longer_than=40)
    nearest, mismatches = small.nearest(queries)
    for query, found, count in zip(queries, nearest, mismatches, strict=True):
        best, peptide = brute_force(query, proteins)
        assert (count, found) == ((best, peptide) if best <= 3 else (None, None)), query
    assert {0, 1, 2, 3} <= {m for m in mismatches if m is not None}


def test_index_is_cached_by_protein_set(tmp_path, monkeypatch):
    first = ProteomeIndex(["MKLAVWWPQ", "MSTNPKPQR"], cache_dir=tmp_path)
    assert set(first.kmers(8).astype(str)) == {"MKLAVWWP", "KLAVWWPQ", "MSTNPKPQ", "STNPKPQR"}
    cached = sorted(p.name for p in tmp_path.glob("proteome-*/*.npy"))
    assert cached == ["kmers-8.npy"]

    def fail(*_args):
        raise AssertionError("rebuilt instead of loading the cache")

    monkeypatch.setattr(proteome, "_kmers", fail)
    again = ProteomeIndex(["MSTNPKPQR", "MKLAVWWPQ", "MKLAVWWPQ"], cache_dir=tmp_path)
    assert again.key == first.key  # order and duplicates do not matter
    assert list(again.contains(["STNPKPQR", "STNPKPQK"])) == [True, False]
    other = ProteomeIndex(["MKLAVWWPQ"], cache_dir=tmp_path)
    assert other.key != first.key
    with pytest.raises(AssertionError, match="rebuilt"):
        other.kmers(8)


def test_non_standard_windows_and_missing_lengths():
    index = ProteomeIndex(["ACDXFGHIK*"], max_mismatches=1)
    assert list(index.kmers(4).astype(str)) == ["FGHI", "GHIK"]
    assert list(index.contains(["FGHI", "DXFG", "ACDEFGHIKLMNPQRSTVWY"])) == [True, False, False]
    frame = index.annotate(["FGHK", "AAAA"])
    assert list(frame["self_match"]) == [False, False]
    assert frame.loc[0, "nearest_self_peptide"] == "FGHI"
    assert frame.loc[0, "nearest_self_mismatches"] == 1
    assert frame.loc[1, ["nearest_self_peptide", "nearest_self_mismatches"]].isna().all()


def test_packed_distances_equal_the_residue_comparison(index, proteins):
    """Peptides of up to 12 residues are compared as packed uint64 codes; the distances
    (and so the nearest peptides) equal the residue-by-residue comparison, also for
    non-standard residues in the query and for the 13-mers that still compare bytes."""
    rng = random.Random(7)
    for length in (8, 11, 12, 13):
        windows, matrix = _windows(tuple(proteins), length)
        rows = np.array(rng.sample(range(len(windows)), 300))
        queries = matrix[rows].copy()
        for q in queries[:200]:
            for _ in range(rng.randrange(5)):
                q[rng.randrange(length)] = ord(rng.choice(STANDARD + "XU*"))
        expected = (matrix[rows[::-1]] != queries).sum(axis=1)
        if length <= proteome._MAX_PACKED:
            packed = proteome._packed_mismatches(proteome._packed(matrix[rows[::-1]]),
                                                 proteome._packed(queries), length)
            assert packed.tolist() == expected.tolist()
        else:  # longer than one uint64 holds: compared residue by residue
            assert index._index(length).packed is None
        texts = [bytes(q).decode() for q in queries[:40]]
        nearest, mismatches = index.nearest(texts)
        for text, found, count in zip(texts, nearest, mismatches, strict=True):
            if set(text) <= set(STANDARD):
                best, peptide = brute_force(text, proteins)
                assert (count, found) == ((best, peptide) if best <= 2 else (None, None))
            elif found is not None:  # a non-standard residue always mismatches
                assert count == sum(a != b for a, b in zip(text, found, strict=True))
