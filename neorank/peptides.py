"""``neorank peptides``: mutant peptide windows from the effects table.

For every effect row (one variant on one transcript) and every peptide length
``L``, each window of ``mutant_context`` of length ``L`` that contains at least
one changed residue is a candidate; for a pure deletion the window must span
the junction (contain the residues on both sides of it). Windows that run past
the ends of the context, or contain ``*``, ``X`` or any residue outside the 20
standard amino acids, are skipped.

Wildtype peptide: ``wildtype_context`` at the same start and length (both
contexts start at the same protein position). For changes that alter the
protein length (indels, frameshifts, stop-loss, ...) the wildtype is ``NA``
when fewer than half of its residues equal the mutant's, or when the reference
is too short (pVACseq's convention); a wildtype with a non-standard residue is
also ``NA``.

Rows are de-duplicated per (variant_id, mutant_peptide): ``transcript_ids``
and ``gene_names`` list every producing transcript and gene, and the other
fields come from the first transcript in id order. Order: variant order of the
effects table, then length, then the peptide's protein start position (in that
first transcript), then the peptide.

``anchor_mutated`` says whether a mutated position is a canonical class I
anchor: position 2 or the C-terminal position (allele-independent; the ranking's
``anchor`` criterion uses allele-specific positions, :mod:`neorank.ranking`).

``evidence`` says how certain the peptide's protein is: ``dna`` when some
transcript makes it from the DNA change with the annotated splicing,
``predicted_splice`` when every producing transcript's effect rests on a predicted
splicing outcome (exon skipping, or the coding change of a splice-site variant
assuming normal splicing; :func:`neorank.annotate.effects.splice_derived`); ``NA``
for an effects table without the column. Ranking asks predicted ones for RNA
support (``ranking.require_rna_for_splice``).

Reference proteome (:mod:`neorank.proteome`): every mutant peptide is looked
up in all protein sequences of the annotation. Peptides that occur there
(``self_match`` True; e.g. a frameshift or deletion window that happens to
equal another part of the same or another protein) are kept and marked, not
dropped; ranking excludes them. ``nearest_self_peptide`` and
``nearest_self_mismatches`` give the closest same-length self peptide within
``--self-max-mismatches``.

Memory. Variants are processed in blocks of ``--block-variants`` (default
:data:`BLOCK_VARIANTS`): a block's peptides are cut, de-duplicated, checked
against the proteome and appended to the output before the next block starts,
so only one block's peptides are held whatever the sample size (a variant's
peptides depend on its own effect rows only; the table is the same for any
block size). Each block logs a progress line.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neorank import reference
from neorank.errors import InputFileError
from neorank.io import read_tsv
from neorank.parallel import ordered_map
from neorank.proteome import PROTEOME_COLUMNS, ProteomeIndex
from neorank.ranking import EVIDENCE_DNA
from neorank.tables import TableWriter

log = logging.getLogger(__name__)

#: Columns of results/{sample}/peptides.tsv (docs/tables.md).
PEPTIDE_COLUMNS = [
    "variant_id", "gene_name", "effect", "protein_change", "transcript_ids", "length",
    "mutant_peptide", "wildtype_peptide", "mutation_positions", "n_flank", "c_flank",
    "anchor_mutated", "gene_names", *PROTEOME_COLUMNS, "merged_variant_ids", "in_cis",
    "germline_context", "evidence",
]
STANDARD_AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
#: Effects whose mutant has the reference length, residue for residue.
LENGTH_PRESERVING = frozenset({"Substitution", "ComplexSubstitution"})
#: Variants whose peptides are made, checked and written at once (bounds the memory: about
#: 40 peptides a variant, a few kB each while a block is built).
BLOCK_VARIANTS = 1000
_REQUIRED = ["variant_id", "gene_name", "transcript_id", "effect", "protein_change",
             "context_start", "mutant_context", "wildtype_context", "mutation_start",
             "mutation_end"]


def parse_lengths(text: str) -> list[int]:
    """``"8,9,10,11"`` -> ``[8, 9, 10, 11]`` (sorted, unique, each >= 1)."""
    try:
        lengths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as err:
        raise InputFileError(f"bad --lengths {text!r}", fix="pass integers, e.g. --lengths 8,9,10,11") from err
    if not lengths or lengths[0] < 1:
        raise InputFileError(f"bad --lengths {text!r}", fix="pass positive integers, e.g. 8,9,10,11")
    return lengths


def _optional(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _is_standard(peptide: str) -> bool:
    return STANDARD_AMINO_ACIDS.issuperset(peptide)


def effect_peptides(row: dict[str, Any], lengths: Iterable[int],
                    flank_length: int = 15,
                    known: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Candidate peptides of one effect row (before wildtype filtering and de-duplication).

    Parameters
    ----------
    row
        One effects.tsv row (``mutation_start``/``mutation_end`` as ints).
    lengths
        Peptide lengths.
    flank_length
        Residues of mutant context reported before and after each peptide.
    known
        Peptides of the same variant already produced by an earlier transcript, by
        mutant peptide (rows whose ``transcript_ids``/``gene_names`` are lists): a
        window found there only adds this row's transcript and gene to it.

    Returns
    -------
    list of dict
        The peptides.tsv fields (``transcript_ids`` holds this row's
        transcript) plus ``start``, the peptide's 1-based protein position.
    """
    mutant = str(row["mutant_context"])
    wildtype = "" if pd.isna(row["wildtype_context"]) else str(row["wildtype_context"])
    start, end = int(row["mutation_start"]), int(row["mutation_end"])
    context_start = int(row["context_start"])
    deletion = end == start
    length_preserving = row["effect"] in LENGTH_PRESERVING and len(mutant) == len(wildtype)
    # changed residues: [first, last) (a pure deletion: the two flanking the junction)
    first, last = (start - 1, start + 1) if deletion else (start, end)
    peptides = []
    for length in lengths:
        # windows holding a changed residue (deletions: both residues of the junction)
        if deletion:
            offsets = range(max(0, start - length + 1), min(start - 1, len(mutant) - length) + 1)
        else:
            offsets = range(max(0, start - length + 1), min(end - 1, len(mutant) - length) + 1)
        for offset in offsets:
            stop = offset + length
            peptide = mutant[offset:stop]
            if known is not None and peptide in known:
                seen = known[peptide]
                if row["transcript_id"] not in seen["transcript_ids"]:
                    seen["transcript_ids"].append(row["transcript_id"])
                if row["gene_name"] not in seen["gene_names"]:
                    seen["gene_names"].append(row["gene_name"])
                label = _optional(row, "germline_context")
                if label not in seen["germline_context"]:
                    seen["germline_context"].append(label)
                if _optional(row, "evidence") == EVIDENCE_DNA:  # one certain source suffices
                    seen["evidence"] = EVIDENCE_DNA
                continue
            if not _is_standard(peptide):
                continue
            wt = wildtype[offset:stop]
            if len(wt) < length or not _is_standard(wt):
                wt_peptide = None
            elif length_preserving:
                wt_peptide = wt
            else:
                matches = sum(a == b for a, b in zip(peptide, wt, strict=True))
                wt_peptide = wt if 2 * matches >= length else None
            positions = range(max(first, offset) - offset + 1, min(last, stop) - offset + 1)
            if length_preserving and last - first > 1:  # merged/complex: only residues that differ
                positions = [p for p in positions if mutant[offset + p - 1] != wildtype[offset + p - 1]]
                if not positions:
                    continue
            anchor = any(p in (2, length) for p in positions)
            peptides.append({
                "variant_id": row["variant_id"],
                "gene_name": row["gene_name"],
                "effect": row["effect"],
                "protein_change": row["protein_change"],
                "transcript_ids": row["transcript_id"],
                "length": length,
                "mutant_peptide": peptide,
                "wildtype_peptide": wt_peptide,
                "mutation_positions": ";".join(str(p) for p in positions),
                "n_flank": mutant[max(0, offset - flank_length):offset],
                "c_flank": mutant[stop:stop + flank_length],
                "anchor_mutated": anchor,
                "gene_names": row["gene_name"],
                "merged_variant_ids": _optional(row, "merged_variant_ids"),
                "in_cis": _optional(row, "in_cis"),
                "germline_context": _optional(row, "germline_context"),
                "evidence": _optional(row, "evidence"),
                "start": context_start + offset,
            })
    return peptides


def read_effects(path: str | Path) -> pd.DataFrame:
    """Read effects.tsv, checking its columns."""
    path = Path(path)
    try:
        frame = read_tsv(path, dtype={"mutant_context": str, "wildtype_context": str,
                                      "gene_name": str, "protein_change": str,
                                      "merged_variant_ids": str, "in_cis": str,
                                      "germline_context": str, "evidence": str})
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot read the effects table: {err}", where=str(path),
                             fix="pass results/effects/{sample}.tsv from `neorank annotate`") from err
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputFileError(f"missing columns {', '.join(missing)}", where=str(path),
                             fix="pass the effects table written by `neorank annotate`")
    return frame


def variant_blocks(effects: pd.DataFrame,
                   block_variants: int = BLOCK_VARIANTS) -> Iterator[pd.DataFrame]:
    """The effect rows of ``block_variants`` variants at a time, in variant order.

    Variants come in the order of their first row in ``effects``; a variant's rows
    keep their file order and are never split between blocks. Nothing is yielded
    for an empty table.
    """
    if block_variants < 1:
        raise InputFileError(f"bad block size {block_variants}",
                             fix="pass a positive number of variants, e.g. --block-variants 1000")
    codes, uniques = pd.factorize(effects["variant_id"], use_na_sentinel=False)
    rows = np.argsort(codes, kind="stable")  # grouped by variant, file order within one
    grouped = codes[rows]
    for first in range(0, len(uniques), block_variants):
        lo, hi = np.searchsorted(grouped, [first, first + block_variants], side="left")
        yield effects.iloc[rows[lo:hi]]


def _block_peptides(effects: pd.DataFrame, lengths: list[int], flank_length: int,
                    proteome: ProteomeIndex | None) -> pd.DataFrame:
    """peptides.tsv rows of the variants in ``effects`` (whole variants; see peptide_blocks)."""
    variant_order: dict[str, int] = {}
    candidates: list[dict[str, Any]] = []
    records = effects.sort_values("transcript_id", kind="stable").to_dict("records")
    for vid in effects["variant_id"]:
        variant_order.setdefault(vid, len(variant_order))
    produced: dict[str, dict[str, dict[str, Any]]] = {}
    for row in records:  # transcript_id order: a shared peptide keeps the first transcript's fields
        known = produced.setdefault(row["variant_id"], {})
        for peptide in effect_peptides(row, lengths, flank_length, known=known):
            if peptide["mutant_peptide"] in known:  # twice in one transcript's context
                continue
            peptide["transcript_ids"] = [peptide["transcript_ids"]]
            peptide["gene_names"] = [peptide["gene_names"]]
            peptide["germline_context"] = [peptide["germline_context"]]
            known[peptide["mutant_peptide"]] = peptide
            candidates.append(peptide)
    del records, produced
    candidates.sort(key=lambda p: (variant_order[p["variant_id"]], p["length"], p["start"],
                                   p["mutant_peptide"]))
    for row in candidates:
        row["transcript_ids"] = ";".join(sorted(row["transcript_ids"]))
        names = sorted({str(n) for n in row["gene_names"] if isinstance(n, str) and n})
        row["gene_names"] = ";".join(names) if names else None
        labels = sorted({label for label in row["germline_context"] if label})
        row["germline_context"] = " | ".join(labels) if labels else None
    table = pd.DataFrame(candidates, columns=PEPTIDE_COLUMNS)
    del candidates
    table["anchor_mutated"] = table["anchor_mutated"].astype(bool)
    if proteome is not None:
        checked = proteome.annotate(table["mutant_peptide"].astype(str))
        for column in PROTEOME_COLUMNS:
            table[column] = checked[column].array  # nullable Int64 mismatches in every block
    return table


def _peptide_task(shared: tuple[list[int], int, ProteomeIndex | None],
                  block: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """(variants in ``block``, their peptides.tsv rows)."""
    lengths, flank_length, proteome = shared
    return (int(block["variant_id"].nunique(dropna=False)),
            _block_peptides(block, lengths, flank_length, proteome))


def peptide_blocks(effects: pd.DataFrame, lengths: Iterable[int] = (8, 9, 10, 11),
                   flank_length: int = 15, proteome: ProteomeIndex | None = None,
                   block_variants: int = BLOCK_VARIANTS, workers: int = 1
                   ) -> Iterator[pd.DataFrame]:
    """peptides.tsv from an effects table, in consecutive blocks of ``block_variants``
    variants (see the module docstring for the rules); ``workers`` processes make
    blocks at the same time (:func:`neorank.parallel.ordered_map`; same blocks).

    ``proteome``: the reference-proteome index filling ``self_match`` and the
    nearest self peptide; without it those columns are missing (``NA``). The
    blocks' concatenation is the same table for every block size; at least one
    (possibly empty) block is yielded. Logs one progress line per block.
    """
    lengths = list(lengths)
    total = int(effects["variant_id"].nunique(dropna=False))
    done = produced = self_matches = 0
    tables = ordered_map(_peptide_task, variant_blocks(effects, block_variants),
                         (lengths, flank_length, proteome), workers, what="making peptides",
                         fix="give the peptides job more memory (resources mem_mb), or run "
                             "with fewer --workers or a smaller --block-variants")
    for block_variant_count, table in tables:
        done += block_variant_count
        produced += len(table)
        if proteome is not None:
            self_matches += int(table["self_match"].sum())
        log.info("peptides: %s of %s variants (%d%%): %s peptides%s", f"{done:,}", f"{total:,}",
                 100 * done // total, f"{produced:,}",
                 f", {self_matches:,} in the reference proteome" if proteome is not None else "")
        yield table
    if not done:
        yield _block_peptides(effects, lengths, flank_length, proteome)
    if proteome is not None:
        log.info("proteome check: %d of %d peptides occur in the reference proteome",
                 self_matches, produced)


def write_peptides(effects: pd.DataFrame, path: str | Path, lengths: Iterable[int] = (8, 9, 10, 11),
                   flank_length: int = 15, proteome: ProteomeIndex | None = None,
                   block_variants: int = BLOCK_VARIANTS, workers: int = 1) -> tuple[int, int]:
    """Write peptides.tsv block by block (atomically, the bytes of ``write_tsv`` of the
    blocks of :func:`peptide_blocks` put together).

    Returns
    -------
    (int, int)
        Peptides written and variants with peptides.
    """
    variants = 0
    with TableWriter(path, PEPTIDE_COLUMNS) as out:
        for table in peptide_blocks(effects, lengths, flank_length, proteome, block_variants,
                                    workers):
            out.write(table)
            variants += int(table["variant_id"].nunique())
        out.commit()
    return out.rows, variants


def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``neorank peptides``."""
    parser = subparsers.add_parser(
        "peptides", help="mutant peptide windows from the effects table",
        description="Cut mutant peptides (with wildtype counterparts and flanks) from the "
                    "protein contexts of `neorank annotate`.")
    parser.add_argument("--effects", required=True, help="effects TSV from `neorank annotate`")
    parser.add_argument("--out", required=True, help="peptides TSV to write")
    parser.add_argument("--lengths", default="8,9,10,11",
                        help="comma-separated peptide lengths (default 8,9,10,11)")
    parser.add_argument("--flank-length", type=int, default=15,
                        help="mutant residues reported before/after each peptide (default 15)")
    parser.add_argument("--self-max-mismatches", type=int, default=2,
                        help="largest mismatch count searched for the nearest self peptide "
                             "(default 2)")
    parser.add_argument("--block-variants", type=int, default=BLOCK_VARIANTS,
                        help="variants whose peptides are made and written at once (bounds "
                             f"the memory; the output does not depend on it; default "
                             f"{BLOCK_VARIANTS})")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes making blocks of peptides at the same time (the "
                             "rule's threads); the output does not change (default 1)")
    reference.add_reference_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``neorank peptides``; returns the exit code."""
    lengths = parse_lengths(str(args.lengths))
    if args.flank_length < 0:
        raise InputFileError("--flank-length must be >= 0", fix="pass e.g. --flank-length 15")
    if args.self_max_mismatches < 0:
        raise InputFileError("--self-max-mismatches must be >= 0",
                             fix="pass e.g. --self-max-mismatches 2")
    block_variants = getattr(args, "block_variants", BLOCK_VARIANTS)
    if block_variants < 1:
        raise InputFileError("--block-variants must be >= 1", fix="pass e.g. --block-variants 1000")
    effects = read_effects(args.effects)
    genome = reference.genome_from_args(args)
    proteome = ProteomeIndex.for_genome(genome, max_mismatches=args.self_max_mismatches)
    rows, variants = write_peptides(effects, args.out, lengths, args.flank_length,
                                    proteome=proteome, block_variants=block_variants,
                                    workers=max(1, getattr(args, "workers", None) or 1))
    log.info("peptides: %d peptides from %d variants (%d effect rows)", rows, variants,
             len(effects))
    return 0
