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

Peptides that occur anywhere in a wildtype context of the same variant are
dropped (they are self, not neoantigens). Rows are then de-duplicated per
(variant_id, mutant_peptide): ``transcript_ids`` lists every producing
transcript, and the other fields come from the first transcript in id order.
Order: variant order of the effects table, then length, then the peptide's
protein start position (in that first transcript), then the peptide.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.errors import InputFileError
from neorank.io import read_tsv, write_tsv

log = logging.getLogger(__name__)

#: Columns of results/{sample}/peptides.tsv (docs/tables.md).
PEPTIDE_COLUMNS = [
    "variant_id", "gene_name", "effect", "protein_change", "transcript_ids", "length",
    "mutant_peptide", "wildtype_peptide", "mutation_positions", "n_flank", "c_flank",
]
STANDARD_AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
#: Effects whose mutant has the reference length, residue for residue.
LENGTH_PRESERVING = frozenset({"Substitution", "ComplexSubstitution"})
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


def _is_standard(peptide: str) -> bool:
    return all(residue in STANDARD_AMINO_ACIDS for residue in peptide)


def effect_peptides(row: dict[str, Any], lengths: Iterable[int],
                    flank_length: int = 15) -> list[dict[str, Any]]:
    """Candidate peptides of one effect row (before wildtype filtering and de-duplication).

    Parameters
    ----------
    row
        One effects.tsv row (``mutation_start``/``mutation_end`` as ints).
    lengths
        Peptide lengths.
    flank_length
        Residues of mutant context reported before and after each peptide.

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
    if deletion:
        changed = [start - 1, start]  # residues flanking the junction
    else:
        changed = list(range(start, end))
    peptides = []
    for length in lengths:
        for offset in range(0, len(mutant) - length + 1):
            stop = offset + length
            if deletion:
                if not (offset <= start - 1 and start < stop):
                    continue
            elif not (offset < end and start < stop):
                continue
            peptide = mutant[offset:stop]
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
            positions = [p - offset + 1 for p in changed if offset <= p < stop]
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
                "start": context_start + offset,
            })
    return peptides


def read_effects(path: str | Path) -> pd.DataFrame:
    """Read effects.tsv, checking its columns."""
    path = Path(path)
    try:
        frame = read_tsv(path, dtype={"mutant_context": str, "wildtype_context": str,
                                      "gene_name": str, "protein_change": str})
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot read the effects table: {err}", where=str(path),
                             fix="pass results/effects/{sample}.tsv from `neorank annotate`") from err
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputFileError(f"missing columns {', '.join(missing)}", where=str(path),
                             fix="pass the effects table written by `neorank annotate`")
    return frame


def make_peptides(effects: pd.DataFrame, lengths: Iterable[int] = (8, 9, 10, 11),
                  flank_length: int = 15) -> pd.DataFrame:
    """peptides.tsv from an effects table (see the module docstring for the rules)."""
    lengths = list(lengths)
    variant_order: dict[str, int] = {}
    wildtypes: dict[str, list[str]] = {}
    candidates: list[dict[str, Any]] = []
    records = effects.sort_values("transcript_id", kind="stable").to_dict("records")
    for vid in effects["variant_id"]:
        variant_order.setdefault(vid, len(variant_order))
    for row in records:
        wildtype = row["wildtype_context"]
        wildtypes.setdefault(row["variant_id"], []).append("" if pd.isna(wildtype) else str(wildtype))
        candidates.extend(effect_peptides(row, lengths, flank_length))

    merged: dict[tuple[str, str], dict[str, Any]] = {}
    dropped = 0
    for peptide in candidates:  # transcript_id order within each variant
        key = (peptide["variant_id"], peptide["mutant_peptide"])
        if any(peptide["mutant_peptide"] in wt for wt in wildtypes[peptide["variant_id"]]):
            dropped += 1
            continue
        if key in merged:
            ids = merged[key]["transcript_ids"]
            if peptide["transcript_ids"] not in ids:
                ids.append(peptide["transcript_ids"])
        else:
            merged[key] = dict(peptide, transcript_ids=[peptide["transcript_ids"]])
    rows = sorted(merged.values(), key=lambda p: (variant_order[p["variant_id"]], p["length"],
                                                  p["start"], p["mutant_peptide"]))
    for row in rows:
        row["transcript_ids"] = ";".join(sorted(row["transcript_ids"]))
    if dropped:
        log.debug("dropped %d peptide windows found in a wildtype context", dropped)
    return pd.DataFrame(rows, columns=PEPTIDE_COLUMNS)


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
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``neorank peptides``; returns the exit code."""
    lengths = parse_lengths(str(args.lengths))
    if args.flank_length < 0:
        raise InputFileError("--flank-length must be >= 0", fix="pass e.g. --flank-length 15")
    effects = read_effects(args.effects)
    peptides = make_peptides(effects, lengths, args.flank_length)
    write_tsv(peptides, args.out, columns=PEPTIDE_COLUMNS)
    log.info("peptides: %d peptides from %d variants (%d effect rows)", len(peptides),
             peptides["variant_id"].nunique(), len(effects))
    return 0
