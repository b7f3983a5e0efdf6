"""``neorank final-order``: re-import the reviewer's edited candidates.xlsx
(``<report.review_dir>/<sample>.xlsx`` in the workflow) into final_order.tsv.

Rules: a workbook where no row has a decision is an error (a never-edited sheet
is never taken as accepted). Decisions are matched case-insensitively; anything
other than Accept/Reject/Review (or blank) is an error naming the cell. Blank and
Review rows are pending: they are left out of the order and counted in the log.
The workbook's sample must be ``--sample``, always.

The workbook must have been made from the current candidates.tsv: the sha256
in its About sheet must be that of ``--candidates``. Otherwise (candidates.tsv
changed since the workbook was written: a re-run with other settings or inputs)
it is refused with how to re-export, unless ``--apply-by-candidate-id``: the
decisions are then applied to the rows of the current long-peptide table with
the same ``candidate_id`` (ids are stable across runs); workbook rows without
one are not applied and are listed in the log and in the ``note`` column of
final_order.tsv. Without the option every ``candidate_id`` must exist in the
current candidates.tsv and every accepted one must have a long peptide.

Sequences and scores in final_order.tsv come from the current long-peptide
table, never from the (editable) workbook; only ``decision``, ``comment`` and
``priority`` are read from it. Accepted rows are ordered by ``priority``, ties
by sheet row order.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex

import pandas as pd

from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, sha256_file, write_tsv
from neorank.tables import TableBlocks, read_table
from neorank.workbook import DECISIONS, read_review

LOG = logging.getLogger(__name__)

FINAL_COLUMNS = [
    "order", "priority", "variant_id", "candidate_id", "gene_name", "protein_change",
    "best_peptide", "best_allele", "best_affinity_nm", "long_peptide", "long_peptide_start",
    "transcript_id", "manufacturable", "manufacturability_flags", "comment", "note",
]
#: Unmatched rows listed in the ``note`` column (all of them are in the log).
NOTE_MAX_ROWS = 20


def known_candidate_ids(path: str | os.PathLike, wanted: set[str],
                        chunk_rows: int = CHUNK_ROWS) -> set[str]:
    """The ids of ``wanted`` that are a ``candidate_id`` of the candidates.tsv at
    ``path`` (read in blocks, only that column: memory follows ``wanted``)."""
    blocks = TableBlocks(path, ["candidate_id"], chunk_rows)
    if "candidate_id" not in blocks.columns:
        raise InputFileError("missing column candidate_id", where=str(path),
                             fix="pass candidates.tsv written by `neorank rank`")
    found: set[str] = set()
    for block in blocks:
        ids = block["candidate_id"].astype(str)
        found.update(ids[ids.isin(wanted)])
    return found


def require_decisions(review: pd.DataFrame, where: str) -> None:
    """A workbook without any decision is never taken as accepted."""
    if not len(review) or not (review["decision"] != "").any():
        raise InputFileError(
            "no row of the Review sheet has a decision, so nothing is accepted",
            where=f"{where} sheet Review",
            fix="fill the decision column (Accept, Reject or Review) for the candidates you "
                "reviewed; a sheet that was never edited is not treated as accepted")


def final_order(review: pd.DataFrame, long_peptides: pd.DataFrame,
                candidates: pd.DataFrame | set[str], where: str = "review.xlsx",
                note: str | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Accepted rows in priority order, with sequences from ``long_peptides``.

    ``candidates``: candidates.tsv, or the set of its candidate ids (as text) that
    the sheet names (:func:`known_candidate_ids`); only membership is checked.
    ``note``: the ``note`` of every row (None: empty).
    """
    require_decisions(review, where)
    known = candidates if isinstance(candidates, set) \
        else set(candidates["candidate_id"].astype(str))
    for row in review.itertuples(index=False):
        if row.candidate_id not in known:
            raise InputFileError(
                f"candidate {row.candidate_id} is not in the current candidates.tsv",
                where=f"{where} sheet Review row {row.sheet_row}",
                fix="the sheet comes from another run or sample; review the candidates.xlsx "
                    "written by this run")
    duplicated = review["candidate_id"].duplicated()
    if duplicated.any():
        row = review.loc[duplicated].iloc[0]
        raise InputFileError(f"candidate {row['candidate_id']} appears twice",
                             where=f"{where} sheet Review row {row['sheet_row']}",
                             fix="keep one row per candidate")
    counts = {d: int((review["decision"] == d).sum()) for d in DECISIONS}
    counts["pending"] = int((review["decision"] == "").sum())
    accepted = review.loc[review["decision"] == "Accept"].sort_values(
        ["priority", "sheet_row"], kind="mergesort")
    designs = long_peptides.set_index("candidate_id")
    rows = []
    for order, row in enumerate(accepted.itertuples(index=False), start=1):
        if row.candidate_id not in designs.index:
            raise InputFileError(
                f"candidate {row.candidate_id} has no long peptide in this run",
                where=f"{where} sheet Review row {row.sheet_row}",
                fix="review the candidates.xlsx written by this run")
        design = designs.loc[row.candidate_id]
        priority = int(row.priority) if float(row.priority).is_integer() else row.priority
        rows.append({"order": order, "priority": priority, "candidate_id": row.candidate_id,
                     "comment": row.comment or None, "note": note,
                     **{c: design.get(c) for c in FINAL_COLUMNS
                        if c not in ("order", "priority", "candidate_id", "comment", "note")}})
    return pd.DataFrame(rows, columns=FINAL_COLUMNS), counts


def stale_workbook_error(args: argparse.Namespace, about: dict[str, str],
                         current: str) -> InputFileError:
    """The workbook was made from another candidates.tsv: how to re-export (or apply
    the decisions by candidate id)."""
    made = about.get("candidates_sha256") or ""
    made = f"sha256 {made[:12]}..." if made else "no candidates_sha256"
    path, sample = str(args.review), str(args.sample)
    command = shlex.join(["neorank", "final-order", "--sample", sample, "--review", path,
                          "--candidates", str(args.candidates),
                          "--long-peptides", str(args.long_peptides), "--out", str(args.out),
                          "--apply-by-candidate-id"])
    return InputFileError(
        f"the workbook was made from another candidates.tsv (its About sheet has {made}, "
        f"{args.candidates} has sha256 {current[:12]}...): candidates, their order or their "
        "long peptides may have changed since it was reviewed",
        where=f"{path} sheet About",
        fix=f"re-export the workbook: re-run the review_sheet rule (`snakemake "
            f"results/{sample}/candidates.xlsx`; the workflow re-writes it whenever "
            f"candidates.tsv changes), copy the new results/{sample}/candidates.xlsx to {path} "
            "and re-enter the decisions. To carry the old decisions over instead, apply them "
            f"by candidate_id: `{command}` (rows whose candidate_id is not in this run are not "
            "applied; they are listed in the log and in the note column)")


def match_by_candidate_id(review: pd.DataFrame,
                          long_peptides: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(matched, unmatched)`` workbook rows: matched rows name a candidate of the
    current long-peptide table (the current Review sheet's rows)."""
    current = set(long_peptides["candidate_id"].astype(str))
    hit = review["candidate_id"].isin(current)
    return review.loc[hit], review.loc[~hit]


def unmatched_note(unmatched: pd.DataFrame) -> str:
    """The ``note`` of rows applied by candidate id: the unmatched decisions."""
    decided = unmatched.loc[unmatched["decision"] != ""]
    text = "decision applied by candidate_id from a workbook made from another candidates.tsv"
    if not len(decided):
        return text + "; every decision of the workbook matched a candidate of this run"
    listed = "; ".join(f"row {r.sheet_row} {r.candidate_id} {r.decision}"
                       for r in decided.head(NOTE_MAX_ROWS).itertuples(index=False))
    more = len(decided) - NOTE_MAX_ROWS
    return (f"{text}; not applied (candidate not in this run): {listed}"
            + (f"; and {more} more (see the log)" if more > 0 else ""))


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank final-order``."""
    parser = subparsers.add_parser(
        "final-order", help="re-import an edited candidates.xlsx and write final_order.tsv",
        description="Read the reviewer's decisions and write the accepted long peptides in "
                    "priority order.")
    parser.add_argument("--sample", required=True, help="sample id (as in the sample sheet)")
    parser.add_argument("--review", required=True, help="the edited candidates.xlsx")
    parser.add_argument("--candidates", required=True, help="candidates.tsv of this run")
    parser.add_argument("--long-peptides", required=True, help="long peptides of this run")
    parser.add_argument("--apply-by-candidate-id", action="store_true",
                        help="accept a workbook made from another candidates.tsv: apply its "
                             "decisions by candidate_id and list the rows that match no "
                             "candidate of this run (log and note column)")
    parser.add_argument("--out", required=True, help="final_order.tsv")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank final-order`` (candidates.tsv read in blocks of ``chunk_rows`` rows,
    only the candidate ids the sheet names are kept)."""
    where = str(args.review)
    about, review = read_review(args.review)
    if about.get("sample") != str(args.sample):
        raise InputFileError(
            f"the review sheet is for sample {about.get('sample')!r}, not {args.sample!r}",
            where=f"{where} sheet About", fix="give each sample its own review file")
    current = sha256_file(args.candidates)
    note = None
    long_peptides = None
    if about.get("candidates_sha256") != current:
        if not getattr(args, "apply_by_candidate_id", False):
            raise stale_workbook_error(args, about, current)
        require_decisions(review, where)
        long_peptides = read_table(args.long_peptides)
        review, unmatched = match_by_candidate_id(review, long_peptides)
        LOG.warning("%s was made from another candidates.tsv; decisions applied by "
                    "candidate_id (--apply-by-candidate-id)", where)
        for row in unmatched.loc[unmatched["decision"] != ""].itertuples(index=False):
            LOG.warning("not applied: %s sheet Review row %d: candidate %s (%s, %s) is not a "
                        "candidate of this run", where, row.sheet_row, row.candidate_id,
                        row.variant_id, row.decision)
        blank = int((unmatched["decision"] == "").sum())
        if blank:
            LOG.info("%d unmatched workbook row(s) without a decision ignored", blank)
        if not (review["decision"] != "").any():
            raise InputFileError(
                "no decision of the workbook names a candidate of this run",
                where=f"{where} sheet Review",
                fix="re-export the workbook (re-run the review_sheet rule, copy the new "
                    f"results/{args.sample}/candidates.xlsx to {where}) and re-enter the "
                    "decisions")
        new = int((~long_peptides["candidate_id"].astype(str).isin(
            set(review["candidate_id"]))).sum())
        if new:
            LOG.warning("%d candidate(s) of this run are not in the workbook (not reviewed)",
                        new)
        note = unmatched_note(unmatched)
    candidates = known_candidate_ids(args.candidates, set(review["candidate_id"]), chunk_rows)
    if long_peptides is None:
        long_peptides = read_table(args.long_peptides)
    table, counts = final_order(review, long_peptides, candidates, where=where, note=note)
    write_tsv(table, args.out)
    LOG.info("final order: %d accepted, %d rejected, %d marked Review, %d without a decision "
             "-> %s", counts["Accept"], counts["Reject"], counts["Review"], counts["pending"],
             args.out)
    if counts["Review"] or counts["pending"]:
        LOG.warning("%d candidate(s) still pending (Review or blank) are not in the order",
                    counts["Review"] + counts["pending"])
    return 0
