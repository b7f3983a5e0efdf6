"""One-line run summary per sample: the variant funnel and the verdict.

``neorank summary`` reads a sample's final tables and writes
``results/{sample}/summary.tsv`` (one row; columns in docs/tables.md). At the
end of a run the workflow prints one line per sample from these files, e.g.::

    <sample>: N variants in -> N somatic -> N protein-changing -> N peptides
    -> N predictions -> N binders -> N Pass candidates (N variants, N genes) -> verdict: V

The counts are those of the report's funnel and eligibility section: variants
are rows of variants.tsv (one per input ALT allele), *somatic* every row not
``filtered``, *protein-changing* the ``protein_changing`` status, peptides the
rows of peptides.tsv, predictions the rows of candidates.tsv (one per peptide x
expressed allele), binders the rows with ``binder`` True, Pass candidates the binders
of ``tier`` Pass (when candidates.tsv has tiers); the variants and genes in brackets
are those the eligibility verdict counts (Pass-tier binders, or binders without
tiers). The verdict is read from the sample's eligibility.json, written once by
``neorank eligibility`` and shown by the report and the cohort page.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pandas as pd

from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, read_tsv, write_tsv
from neorank.tables import TableBlocks
from neorank.verdict import binder_mask, read_eligibility

LOG = logging.getLogger(__name__)

#: Columns of summary.tsv, in order.
COLUMNS = ["sample", "variants", "somatic", "protein_changing", "peptides", "predictions",
           "binders", "pass_candidates", "target_variants", "target_genes", "verdict"]


def _read(path: str | os.PathLike, columns: list[str], what: str) -> pd.DataFrame:
    """Read only ``columns`` of a NeoRank table (cheap on large candidates tables)."""
    try:
        return read_tsv(path, usecols=columns, dtype=str)
    except FileNotFoundError as err:
        raise InputFileError("file not found", where=str(path),
                             fix=f"run the stage that writes {what} first") from err
    except ValueError as err:  # usecols names a missing column, or a parse error
        raise InputFileError(f"cannot read columns {', '.join(columns)} ({err})",
                             where=str(path),
                             fix=f"pass the {what} written by NeoRank (see docs/tables.md)") \
            from err


def _blocks(path: str | os.PathLike, columns: list[str], what: str, chunk_rows: int,
            optional: tuple[str, ...] = ()):
    """``columns`` (and ``optional`` ones when present) of a large table as text,
    read in blocks (:class:`neorank.tables.TableBlocks`)."""
    if not Path(path).is_file():
        raise InputFileError("file not found", where=str(path),
                             fix=f"run the stage that writes {what} first")
    blocks = TableBlocks(path, [*columns, *optional], chunk_rows, dtype=str)
    missing = [c for c in columns if c not in blocks.columns]
    if missing:
        raise InputFileError(f"cannot read columns {', '.join(columns)} (no column "
                             f"{', '.join(missing)})", where=str(path),
                             fix=f"pass the {what} written by NeoRank (see docs/tables.md)")
    return blocks


def count_rows(path: str | os.PathLike, column: str, what: str,
               chunk_rows: int = CHUNK_ROWS) -> int:
    """Rows of a NeoRank table that has ``column`` (read in blocks, that column only)."""
    blocks = _blocks(path, [column], what, chunk_rows)
    for _ in blocks:
        pass
    return blocks.rows


def read_candidates(path: str | os.PathLike,
                    chunk_rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, int]:
    """The binder rows of candidates.tsv (``variant_id``, ``gene_name``, ``binder``
    and ``tier`` when present, as text) and its number of rows, read in blocks:
    memory follows the binders, not the table."""
    blocks = _blocks(path, ["variant_id", "gene_name", "binder"], "candidates.tsv", chunk_rows,
                     optional=("tier",))
    binders = blocks.concat([block.loc[binder_mask(block)] for block in blocks])
    return binders, blocks.rows


def summarize(sample: str, variants: pd.DataFrame, peptides: pd.DataFrame | int,
              candidates: pd.DataFrame, verdict: str, *,
              predictions: int | None = None) -> dict:
    """The summary row of one sample.

    Parameters
    ----------
    sample
        Sample id.
    variants, peptides, candidates
        variants.tsv (``variant_id``, ``status``), peptides.tsv (any column, or
        its number of rows) and candidates.tsv (``variant_id``, ``gene_name``,
        ``binder``; only its binder rows are used, so it may hold just those
        when ``predictions`` gives its number of rows).
    verdict
        The verdict of the sample's eligibility.json (``neorank eligibility``).

    Returns
    -------
    dict
        One value per :data:`COLUMNS` entry.
    """
    status = variants["status"].astype(str)
    binders = candidates.loc[binder_mask(candidates)]
    tiered = "tier" in candidates.columns
    # The eligibility targets: Pass-tier binders when the table has tiers, else binders.
    targets = binders.loc[binders["tier"].astype(str) == "Pass"] if tiered else binders
    return {
        "sample": sample,
        "variants": len(variants),
        "somatic": int((status != "filtered").sum()),
        "protein_changing": int((status == "protein_changing").sum()),
        "peptides": peptides if isinstance(peptides, int) else len(peptides),
        "predictions": len(candidates) if predictions is None else predictions,
        "binders": len(binders),
        "pass_candidates": len(targets) if tiered else None,
        "target_variants": int(targets["variant_id"].nunique()),
        "target_genes": int(targets["gene_name"].dropna().nunique()),
        "verdict": verdict,
    }


def format_line(row: dict) -> str:
    """``sample: N variants in -> ... -> verdict: V`` (thousands separated)."""
    def n(key: str) -> str:
        return f"{int(row[key]):,}"

    targets = f"({n('target_variants')} variants, {n('target_genes')} genes)"
    passing = row.get("pass_candidates")
    if passing is None or pd.isna(passing) or str(passing) in ("", "NA"):
        tail = f"{n('binders')} binders {targets}"
    else:
        tail = f"{n('binders')} binders -> {n('pass_candidates')} Pass candidates {targets}"
    return (f"{row['sample']}: {n('variants')} variants in -> {n('somatic')} somatic -> "
            f"{n('protein_changing')} protein-changing -> {n('peptides')} peptides -> "
            f"{n('predictions')} predictions -> {tail} -> verdict: {row['verdict']}")


def summary_lines(paths: list[str | os.PathLike]) -> list[str]:
    """One formatted line per existing summary.tsv (missing files are skipped)."""
    lines = []
    for path in paths:
        if Path(path).is_file():
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
            lines.extend(format_line(row) for row in table.to_dict("records"))
    return lines


def add_subcommand(subparsers) -> None:
    parser = subparsers.add_parser(
        "summary", help="one-line summary of a sample: variant funnel, binders and verdict",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", required=True, help="sample id (as in the sample sheet)")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--peptides", required=True, help="peptides.tsv")
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--eligibility", required=True,
                        help="eligibility.json written by `neorank eligibility` (the verdict)")
    parser.add_argument("--out", required=True, help="summary.tsv to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank summary``: peptides.tsv and candidates.tsv are read in blocks of
    ``chunk_rows`` rows, keeping a row count and the binder rows."""
    variants = _read(args.variants, ["variant_id", "status"], "variants.tsv")
    peptides = count_rows(args.peptides, "variant_id", "peptides.tsv", chunk_rows)
    binders, predictions = read_candidates(args.candidates, chunk_rows)
    row = summarize(args.sample, variants, peptides, binders,
                    read_eligibility(args.eligibility).verdict, predictions=predictions)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_tsv(pd.DataFrame([row], columns=COLUMNS), args.out)
    print(format_line(row))
    LOG.info("summary written to %s", args.out)
    return 0
