"""neorank peptides: windows around real osteosarcoma mutations on the embedded subset.

Expected peptide sets are derived from the reference proteins
(``reference.pep.fa.gz``) and the allele applied to ``reference.cdna.fa.gz``
by the oracle in ``test_annotate.py``; neorank's own contexts are not used.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import pytest
from test_annotate import (
    DELETION,
    FRAMESHIFT,
    MISSENSE,
    REFERENCE_DIR,
    Oracle,
    cache_root,
    first_difference,
    vid,
)

from neorank import annotate, peptides
from neorank.errors import InputFileError
from neorank.io import read_tsv, write_tsv

LENGTHS = (8, 9, 10, 11)
STANDARD = set("ACDEFGHIKLMNPQRSTVWY")


@pytest.fixture(scope="module")
def oracle(mini_genome) -> Oracle:
    return Oracle(mini_genome)


def changed_region(protein: str, mutant: str, frameshift: bool) -> tuple[int, int]:
    start = first_difference(protein, mutant)
    if frameshift:
        return start, len(mutant)
    suffix = 0
    while suffix < min(len(protein), len(mutant)) - start and protein[-1 - suffix] == mutant[-1 - suffix]:
        suffix += 1
    return start, len(mutant) - suffix


def expected_peptides(oracle: Oracle, variant: tuple) -> set[str]:
    """Every window with a changed residue (deletions: spanning the junction), self included."""
    _, _, ref, alt = variant
    proteins = oracle(variant)
    found = set()
    for protein, mutant in proteins.values():
        start, end = changed_region(protein, mutant, (len(alt) - len(ref)) % 3 != 0)
        for length in LENGTHS:
            for i in range(len(mutant) - length + 1):
                if end == start:
                    hit = i <= start - 1 and i + length >= start + 1
                else:
                    hit = i < end and i + length > start
                peptide = mutant[i:i + length]
                if hit and set(peptide) <= STANDARD:
                    found.add(peptide)
    return found


def make_peptides(effects: pd.DataFrame, lengths=(8, 9, 10, 11), flank_length: int = 15,
                  proteome=None, block_variants: int = peptides.BLOCK_VARIANTS) -> pd.DataFrame:
    """The whole peptides.tsv of an effects table: the blocks of
    :func:`neorank.peptides.peptide_blocks` put together (what ``write_peptides`` writes)."""
    blocks = list(peptides.peptide_blocks(effects, lengths, flank_length, proteome,
                                          block_variants))
    return blocks[0] if len(blocks) == 1 else pd.concat(blocks, ignore_index=True)


def parse(argv: list[str], genome=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="neorank")
    peptides.add_subcommand(parser.add_subparsers(dest="step"))
    if genome is not None:
        argv = [*argv, "--gtf", str(REFERENCE_DIR / "reference.gtf.gz"),
                "--cdna", str(REFERENCE_DIR / "reference.cdna.fa.gz"),
                "--pep", str(REFERENCE_DIR / "reference.pep.fa.gz"),
                "--reference-name", "GRCh38", "--release", "87",
                "--cache-dir", str(cache_root(genome))]
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def effects_path(mini_genome, tmp_path_factory) -> Path:
    records = [annotate.SomaticRecord(vid(v), *v) for v in (MISSENSE, FRAMESHIFT, DELETION)]
    annotations = annotate.annotate_records(records, mini_genome)
    rows = [row for record in records for row in annotations[record.variant_id].rows]
    path = tmp_path_factory.mktemp("effects") / "effects.tsv"
    write_tsv(pd.DataFrame(rows), path, columns=annotate.EFFECT_COLUMNS)
    return path


@pytest.fixture(scope="module")
def table(effects_path, mini_genome) -> pd.DataFrame:
    out = effects_path.with_name("peptides.tsv")
    args = parse(["peptides", "--effects", str(effects_path), "--out", str(out)], mini_genome)
    assert args.run(args) == 0
    return read_tsv(out, dtype={"mutation_positions": str})


@pytest.mark.parametrize("variant", [MISSENSE, FRAMESHIFT, DELETION], ids=["missense", "frameshift",
                                                                              "deletion"])
def test_peptide_sets_match_reference(table, oracle, variant):
    produced = table.loc[table["variant_id"] == vid(variant), "mutant_peptide"]
    assert produced.is_unique
    assert set(produced) == expected_peptides(oracle, variant)


def test_missense_rows(table, oracle):
    proteins = oracle(MISSENSE)
    protein, mutant = next(iter(proteins.values()))
    i = first_difference(protein, mutant)
    rows = table[table["variant_id"] == vid(MISSENSE)]
    assert len(rows) == sum(LENGTHS)  # mid-protein: L windows per length, none self
    assert set(rows["transcript_ids"]) == {";".join(sorted(proteins))}
    for row in rows.itertuples():
        start = i + 1 - int(row.mutation_positions)
        assert row.mutant_peptide == mutant[start:start + row.length]
        assert row.wildtype_peptide == protein[start:start + row.length]
        assert row.n_flank == mutant[max(0, start - 15):start]
        assert row.c_flank == mutant[start + row.length:start + row.length + 15]
        assert row.effect == "Substitution" and row.gene_name == "ABCF2"
    # sorted by length, then start position
    keys = [(row.length, -int(row.mutation_positions)) for row in rows.itertuples()]
    assert keys == sorted(keys)


def test_frameshift_wildtype_needs_half_identity(table, oracle):
    (protein, mutant), = oracle(FRAMESHIFT).values()
    i = first_difference(protein, mutant)
    rows = table[table["variant_id"] == vid(FRAMESHIFT)]
    assert len(rows) > 0
    for row in rows.itertuples():
        start = mutant.index(row.mutant_peptide)
        reference = protein[start:start + row.length]
        matches = sum(a == b for a, b in zip(row.mutant_peptide, reference, strict=False))
        aligned = len(reference) == row.length and 2 * matches >= row.length
        expected = reference if aligned else None
        assert (None if pd.isna(row.wildtype_peptide) else row.wildtype_peptide) == expected
        changed = [p for p in range(1, row.length + 1) if start + p - 1 >= i]
        assert row.mutation_positions == ";".join(map(str, changed))


def test_deletion_peptides_span_the_junction(table, oracle):
    proteins = oracle(DELETION)
    rows = table[table["variant_id"] == vid(DELETION)]
    assert len(rows) > 0
    for protein, mutant in proteins.values():
        junction = first_difference(protein, mutant)  # mutant[junction] follows the deleted residues
        for row in rows.itertuples():
            start = mutant.index(row.mutant_peptide)
            assert start <= junction - 1 and start + row.length >= junction + 1
            assert row.mutation_positions == f"{junction - start};{junction - start + 1}"
            assert row.mutant_peptide not in protein


def test_rows_follow_variant_order(table):
    order = list(dict.fromkeys(table["variant_id"]))
    assert order == [vid(MISSENSE), vid(FRAMESHIFT), vid(DELETION)]
    for _, rows in table.groupby("variant_id", sort=False):
        assert list(rows["length"]) == sorted(rows["length"])
    assert list(table.columns) == peptides.PEPTIDE_COLUMNS


def test_output_is_byte_identical(effects_path, mini_genome, tmp_path):
    outputs = []
    for name in ("a.tsv", "b.tsv"):
        args = parse(["peptides", "--effects", str(effects_path), "--out", str(tmp_path / name)],
                     mini_genome)
        args.run(args)
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def _row(**fields) -> dict:
    row = {"variant_id": "v1", "gene_name": "G", "transcript_id": "T1", "effect": "Insertion",
           "protein_change": "p.3insWW", "context_start": 1}
    row.update(fields)
    return row


def test_windows_skip_stops_and_unknown_residues():
    row = _row(effect="Substitution", mutant_context="ACDXFGHIKLMN", wildtype_context="ACDEFGHIKLMN",
               mutation_start=6, mutation_end=7)  # residue 7 (H) changed; X at 4
    found = peptides.effect_peptides(row, [4])
    assert [p["mutant_peptide"] for p in found] == ["FGHI", "GHIK", "HIKL"]  # DXFG.. skipped
    assert [p["mutation_positions"] for p in found] == ["3", "2", "1"]
    assert [p["start"] for p in found] == [5, 6, 7]


def test_insertion_wildtype_and_positions():
    row = _row(mutant_context="ACDWWEFGHIK", wildtype_context="ACDEFGHIK",
               mutation_start=3, mutation_end=5)
    found = {p["mutant_peptide"]: p for p in peptides.effect_peptides(row, [4], flank_length=2)}
    assert set(found) == {"ACDW", "CDWW", "DWWE", "WWEF", "WEFG"}
    assert found["ACDW"]["wildtype_peptide"] == "ACDE"  # 3 of 4 match
    assert found["DWWE"]["wildtype_peptide"] is None    # 0 of 4 match
    assert found["CDWW"]["mutation_positions"] == "3;4"
    assert (found["WWEF"]["n_flank"], found["WWEF"]["c_flank"]) == ("CD", "GH")


def test_dedup_across_transcripts_keeps_first_transcript():
    common = dict(effect="Substitution", mutation_start=2, mutation_end=3)
    effects = pd.DataFrame([
        _row(transcript_id="T2", context_start=10, mutant_context="AAWCC", wildtype_context="AAYCC",
             **common),
        _row(transcript_id="T1", context_start=20, mutant_context="GAWCD", wildtype_context="GAYCD",
             **common),
    ])
    table = make_peptides(effects, [3], flank_length=5)
    by_peptide = table.set_index("mutant_peptide")
    assert by_peptide.loc["AWC", "transcript_ids"] == "T1;T2"
    assert by_peptide.loc["AWC", "n_flank"] == "G"  # from T1, first in id order
    assert by_peptide.loc["AAW", "transcript_ids"] == "T2"
    # one variant, one length: ordered by protein start (first transcript's for shared peptides)
    assert list(table["mutant_peptide"]) == ["AAW", "WCC", "GAW", "AWC", "WCD"]


def test_evidence_dna_wins_across_transcripts():
    """A peptide made by a DNA-certain transcript is ``dna`` even when another transcript
    makes it only through a predicted splice outcome; an effects table without the column
    gives NA."""
    common = dict(effect="Substitution", mutation_start=2, mutation_end=3)
    effects = pd.DataFrame([
        _row(transcript_id="T2", context_start=10, mutant_context="AAWCC", wildtype_context="AAYCC",
             evidence="dna", **common),
        _row(transcript_id="T1", context_start=20, mutant_context="GAWCD", wildtype_context="GAYCD",
             evidence="predicted_splice", **common),
    ])
    by_peptide = make_peptides(effects, [3]).set_index("mutant_peptide")
    assert by_peptide.loc["AWC", "transcript_ids"] == "T1;T2"
    assert by_peptide.loc["AWC", "evidence"] == "dna"          # T2 makes it from the DNA
    assert by_peptide.loc["GAW", "evidence"] == "predicted_splice"  # T1 only
    assert by_peptide.loc["AAW", "evidence"] == "dna"
    assert make_peptides(effects.drop(columns="evidence"), [3])["evidence"].isna().all()


def test_evidence_of_real_splice_and_missense_peptides(mini_genome):
    """CUL9: the demo's missense variant and a donor +1 allele of a real CUL9 exon."""
    missense, donor = ("chr6", 43186384, "G", "T"), ("chr6", 43187096, "G", "T")
    records = [annotate.SomaticRecord(vid(v), *v) for v in (missense, donor)]
    annotations = annotate.annotate_records(records, mini_genome)
    rows = [row for record in records for row in annotations[record.variant_id].rows]
    table = make_peptides(pd.DataFrame(rows, columns=annotate.EFFECT_COLUMNS))
    evidence = table.groupby("variant_id")["evidence"].agg(set)
    assert evidence[vid(missense)] == {"dna"}
    assert evidence[vid(donor)] == {"predicted_splice"}
    assert list(table.columns) == peptides.PEPTIDE_COLUMNS


def test_self_peptides_are_kept_and_marked():
    from neorank.proteome import ProteomeIndex

    proteome = ProteomeIndex(["KLMKLAWW", "GAKLAG"])  # a tiny "reference proteome"
    row = _row(effect="Substitution", mutant_context="KLAKLAWW", wildtype_context="KLMKLAWW",
               mutation_start=2, mutation_end=3)  # residue 3 M>A; 'AKLA' occurs in GAKLAG
    table = make_peptides(pd.DataFrame([row]), [4], proteome=proteome)
    by_peptide = table.set_index("mutant_peptide")
    assert set(by_peptide.index) == {"KLAK", "LAKL", "AKLA"}
    assert list(by_peptide["self_match"]) == [False, False, True]
    # 4-mers of the proteome: KLMK LMKL MKLA KLAW LAWW GAKL AKLA KLAG (1 mismatch searched)
    # ties go to the alphabetically first: KLAK -> KLAG (not KLAW), LAKL -> GAKL (not LMKL)
    assert list(by_peptide["nearest_self_peptide"]) == ["KLAG", "GAKL", "AKLA"]
    assert list(by_peptide["nearest_self_mismatches"]) == [1, 1, 0]


def test_anchor_flag_follows_mutated_positions():
    row = _row(effect="Substitution", mutant_context="ACDEFGHIKLMN", wildtype_context="ACDEFGWIKLMN",
               mutation_start=6, mutation_end=7)  # residue 7 W>H
    found = {p["mutant_peptide"]: p for p in peptides.effect_peptides(row, [4])}
    # H at position 4 (C-terminus), 3, 2 (anchor), 1
    assert {p: (f["mutation_positions"], f["anchor_mutated"]) for p, f in found.items()} == {
        "EFGH": ("4", True), "FGHI": ("3", False), "GHIK": ("2", True), "HIKL": ("1", False)}


def test_bad_lengths_are_input_errors():
    assert peptides.parse_lengths("11,8,9") == [8, 9, 11]
    with pytest.raises(InputFileError):
        peptides.parse_lengths("8,nine")
    with pytest.raises(InputFileError):
        peptides.parse_lengths("0")


def test_proteome_columns_on_real_peptides(table, oracle):
    """self_match is exact occurrence in any reference protein; anchors follow the positions."""
    proteins = list(oracle.pep.values())
    assert table["self_match"].dtype == bool
    for row in table.itertuples():
        assert row.self_match == any(row.mutant_peptide in p for p in proteins)
        if row.self_match:
            assert (row.nearest_self_peptide, row.nearest_self_mismatches) == (row.mutant_peptide, 0)
        elif not pd.isna(row.nearest_self_mismatches):
            found = row.nearest_self_peptide
            assert sum(a != b for a, b in zip(found, row.mutant_peptide, strict=True)) \
                == row.nearest_self_mismatches <= 2
            assert any(found in p for p in proteins)
        positions = {int(p) for p in row.mutation_positions.split(";")}
        assert row.anchor_mutated == bool(positions & {2, row.length})
        assert row.gene_names == row.gene_name


def test_block_size_does_not_change_the_output(effects_path, mini_genome, table, tmp_path, caplog):
    """One variant per block writes the same bytes as one block; each block logs progress."""
    outputs = {}
    for block_variants in (1, 2, 1000):
        out = tmp_path / f"blocks{block_variants}.tsv"
        args = parse(["peptides", "--effects", str(effects_path), "--out", str(out),
                      "--block-variants", str(block_variants)], mini_genome)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="neorank.peptides"):
            assert args.run(args) == 0
        outputs[block_variants] = out.read_bytes()
        if block_variants == 1:
            lines = [m for m in caplog.messages if " of 3 variants" in m]
    assert outputs[1] == outputs[2] == outputs[1000]
    # blocks made by two worker processes (the rule's threads): the same bytes, same log
    out = tmp_path / "workers.tsv"
    args = parse(["peptides", "--effects", str(effects_path), "--out", str(out),
                  "--block-variants", "1", "--workers", "2"], mini_genome)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="neorank.peptides"):
        assert args.run(args) == 0
    assert out.read_bytes() == outputs[1]
    assert [m for m in caplog.messages if " of 3 variants" in m] == lines
    assert not list(tmp_path.glob("*.tmp"))
    counts = table.groupby("variant_id", sort=False).size().cumsum()
    selfs = table.groupby("variant_id", sort=False)["self_match"].sum().cumsum()
    assert lines == [f"peptides: {n} of 3 variants ({100 * n // 3}%): {counts.iloc[n - 1]:,} "
                     f"peptides, {selfs.iloc[n - 1]} in the reference proteome"
                     for n in (1, 2, 3)]
    with pytest.raises(InputFileError, match="--block-variants"):
        args = parse(["peptides", "--effects", str(effects_path), "--out", str(tmp_path / "x"),
                      "--block-variants", "0"], mini_genome)
        args.run(args)


def test_blocks_keep_each_variant_whole():
    """A variant whose rows are apart in the file is one variant of one block: blocks of one
    variant give the table of one block (order of first rows, de-duplication, self check)."""
    from neorank.proteome import ProteomeIndex

    common = dict(effect="Substitution", mutation_start=2, mutation_end=3)
    effects = pd.DataFrame([
        _row(variant_id="v1", transcript_id="T2", context_start=10, mutant_context="AAWCC",
             wildtype_context="AAYCC", **common),
        _row(variant_id="v2", transcript_id="T9", context_start=1, mutant_context="KLAKLAWW",
             wildtype_context="KLMKLAWW", **common),
        _row(variant_id="v1", transcript_id="T1", context_start=20, mutant_context="GAWCD",
             wildtype_context="GAYCD", **common),
    ])
    proteome = ProteomeIndex(["KLMKLAWW", "GAKLAG", "GAWC"], max_mismatches=1)
    whole = make_peptides(effects, [3, 4], flank_length=5, proteome=proteome,
                                   block_variants=100)
    blocks = list(peptides.peptide_blocks(effects, [3, 4], flank_length=5, proteome=proteome,
                                          block_variants=1))
    assert [set(b["variant_id"]) for b in blocks] == [{"v1"}, {"v2"}]
    pd.testing.assert_frame_equal(make_peptides(effects, [3, 4], flank_length=5,
                                                         proteome=proteome, block_variants=1),
                                  whole)
    assert list(dict.fromkeys(whole["variant_id"])) == ["v1", "v2"]
    by_peptide = whole.set_index("mutant_peptide")
    assert by_peptide.loc["AWC", "transcript_ids"] == "T1;T2"  # rows 1 and 3 de-duplicated
    assert by_peptide.loc["GAWC", "self_match"] and by_peptide.loc["AKLA", "self_match"]
    assert not by_peptide.loc["KLAK", "self_match"]
    assert whole["nearest_self_mismatches"].dtype == "Int64"


def test_empty_effects_give_a_header_only_table(tmp_path):
    effects = pd.DataFrame(columns=peptides._REQUIRED)
    out = tmp_path / "peptides.tsv"
    assert peptides.write_peptides(effects, out, [8]) == (0, 0)
    assert out.read_text() == "\t".join(peptides.PEPTIDE_COLUMNS) + "\n"
    assert list(make_peptides(effects, [8]).columns) == peptides.PEPTIDE_COLUMNS
