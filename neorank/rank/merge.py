"""``neorank rank`` in bounded memory: predictions.tsv ranked block by block and the
blocks merged into one ranking (:func:`rank_file`).

Each block is ranked by :func:`~neorank.rank.candidates.rank_candidates` and
written sorted by :func:`sort_keys` (numeric keys in the ranking order); one stable
sort of all blocks' keys gives the block of each ranked row, and the block files are
read through in that order with ranks assigned in one streaming pass, giving the
bytes of ranking the whole table at once.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neorank.config import ranking_params
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, ParquetFromTsv, tsv_text
from neorank.parallel import ordered_map
from neorank.rank.candidates import merged_order, rank_candidates, variant_evidence
from neorank.tables import (
    PREDICTION_TEXT_COLUMNS,
    candidate_kinds,
    read_table,
    table_blocks,
    table_header,
)

#: Prediction rows per ranked block: half the shared block size, so that two worker
#: processes share the blocks out evenly and each holds about 0.9 GB at most (10k
#: variants: 14 blocks, 42.5 s and 0.86 GB per process, against 48.9 s and 1.3 GB with
#: 250,000-row blocks).
RANK_CHUNK_ROWS = CHUNK_ROWS // 2
#: Merged rows written at a time (one row group of the Parquet form).
MERGE_ROWS = 65_536
#: A progress line every this many ranked blocks (100,000 variants: 172 blocks).
PROGRESS_BLOCKS = 20

LOG = logging.getLogger(__package__)  # the stage's logger: lines read "neorank.rank"


@dataclass
class _Blocks:
    """What ranking one block needs (sent once to each worker process)."""

    variants: pd.DataFrame
    sample: str
    params: dict[str, Any]
    where: str
    evidence: dict[str, Any]
    folder: Path
    variant_table: pd.DataFrame  # variant_evidence(variants), made once for all blocks


def _rank_block(blocks: _Blocks, task: tuple[int, pd.DataFrame]) -> dict[str, Any]:
    """Rank one block of predictions and write its lines (no rank), in the order of
    :func:`sort_keys` (rank_candidates' order), to ``block{index}.tsv``; returns its
    columns, keys (in that order), key hashes and counts."""
    index, chunk = task
    ranked, keys = rank_candidates(chunk, blocks.variants, blocks.sample, blocks.params,
                                   predictions_where=blocks.where, with_keys=True,
                                   variant_table=blocks.variant_table, **blocks.evidence)
    path = blocks.folder / f"block{index:05d}.tsv"
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(tsv_text(ranked.drop(columns="rank"), header=False))
    return {
        "path": path,
        "columns": list(ranked.columns),
        "keys": keys,
        "hashes": pd.util.hash_pandas_object(
            ranked[["variant_id", "mutant_peptide", "allele"]], index=False).to_numpy(),
        "rows": len(ranked),
        "binders": int(ranked["binder"].sum()),
        "tiers": _tier_counts(ranked),
    }


def _tier_counts(ranked: pd.DataFrame) -> dict[str, int]:
    return {str(t): int(n) for t, n in ranked["tier"].value_counts().items()}


def rank_file(predictions_path: str | Path, variants: pd.DataFrame, sample: str,
              params: dict[str, Any], out: str | Path, *, chunk_rows: int = RANK_CHUNK_ROWS,
              workers: int = 1, parquet: str | Path | None = None,
              **evidence: Any) -> dict[str, Any]:
    """Rank predictions.tsv into candidates.tsv in bounded memory.

    Blocks of ``chunk_rows`` prediction rows are ranked by :func:`rank_candidates`
    (every criterion and the score are per row; ``workers`` processes rank blocks
    at the same time), each block is written sorted by :func:`sort_keys` to a
    temporary file, and the blocks are merged on those keys with ranks assigned in
    one streaming pass. The file is byte-identical to ranking the whole table at
    once, whatever ``chunk_rows`` and ``workers`` (tested); memory is one block per
    worker, not the table. A (variant, peptide, allele) repeated across blocks is
    handled as the in-memory path handles it (exact duplicates dropped, conflicts an
    error). ``parquet``: also write the table's Parquet form there (same rows and
    values, :data:`~neorank.tables.CANDIDATE_KINDS`), parsed from the merged text in
    a thread beside the merge.

    Returns ``{"rows", "binders", "tiers", "blocks"}``.
    """
    where = str(predictions_path)
    params = params or ranking_params({})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if "variant_id" in variants.columns and variants["variant_id"].astype(str).duplicated().any():
        LOG.warning("%s: duplicate variant_id(s); using the first row of each",
                    evidence.get("variants_where", "variants.tsv"))
        variants = variants.loc[~variants["variant_id"].astype(str).duplicated()]
    counts: dict[str, Any] = {"rows": 0, "binders": 0, "tiers": {}, "blocks": 0}

    def count(rows: int, binders: int, tiers: dict[str, int]) -> None:
        counts["rows"] += rows
        counts["binders"] += binders
        for tier, n in tiers.items():
            counts["tiers"][tier] = counts["tiers"].get(tier, 0) + n

    def write(columns: list[str], pieces: Iterator[str]) -> None:
        """candidates.tsv (and its Parquet form) from the header and the data lines,
        :data:`MERGE_ROWS` lines a piece."""
        partial = out.with_name(out.name + ".tmp")
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(open(partial, "w", encoding="utf-8", newline="\n"))
            table = (stack.enter_context(ParquetFromTsv(parquet, columns,
                                                        candidate_kinds(columns)))
                     if parquet is not None else None)
            handle.write("\t".join(columns) + "\n")
            for piece in pieces:
                handle.write(piece)
                if table is not None:
                    table.write(piece)
            if table is not None:
                table.close()
        shutil.move(partial, out)

    def rank_whole() -> dict[str, Any]:
        """The whole table at once (empty tables, repeats across blocks)."""
        frame = rank_candidates(read_table(predictions_path), variants, sample, params,
                                predictions_where=where, **evidence)
        lines = iter(io.StringIO(tsv_text(frame, header=False), newline="\n"))
        write([str(c) for c in frame.columns], _pieces(lines, MERGE_ROWS))
        counts.update(rows=0, binders=0, tiers={}, blocks=1 if len(frame) else 0)
        count(len(frame), int(frame["binder"].sum()), _tier_counts(frame))
        return counts

    started = time.perf_counter()
    hashes, keys = [], []
    columns: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix=".rank-", dir=out.parent) as tmp:
        table = variant_evidence(
            variants, params["ranking"],
            purity=evidence.get("purity"), copy_number=evidence.get("copy_number"),
            rna_counts=evidence.get("rna_counts"),
            variants_where=evidence.get("variants_where", "variants.tsv"))
        state = _Blocks(variants, sample, params, where, evidence, Path(tmp), table)
        blocks = []
        for block in ordered_map(
                _rank_block, enumerate(_prediction_chunks(predictions_path, chunk_rows)), state,
                workers, what="ranking blocks of predictions",
                fix="give the rank job more memory (resources mem_mb), or rank with fewer "
                    "--workers or a smaller --chunk-rows"):
            if columns is None:
                columns = block["columns"]
            elif block["columns"] != columns:  # cannot happen for one file; be safe
                raise InputFileError("prediction blocks gave different columns",
                                     where=where, fix="regenerate predictions.tsv")
            hashes.append(block["hashes"])
            keys.append(block["keys"])
            blocks.append(block["path"])
            count(block["rows"], block["binders"], block["tiers"])
            if len(blocks) % PROGRESS_BLOCKS == 0:
                LOG.info("%s: %d blocks ranked (%d rows, %.0f s)", where, len(blocks),
                         counts["rows"], time.perf_counter() - started)
        counts["blocks"] = len(blocks)
        merging = time.perf_counter()
        LOG.info("%s: %d blocks ranked (%d rows) in %.1f s; merging", where, len(blocks),
                 counts["rows"], merging - started)
        if len(blocks) > 1:
            keys_all = np.sort(np.concatenate(hashes))  # (np.unique hashed: 10x slower)
            if (keys_all[1:] == keys_all[:-1]).any():
                # Repeats across blocks: rank the whole table at once (drops exact
                # duplicates, reports conflicts) - rare, and only for damaged inputs.
                LOG.warning("%s: repeated (variant, peptide, allele) rows across blocks; "
                            "ranking the whole table in memory", where)
                return rank_whole()
        if columns is None:  # empty predictions.tsv: header only
            return rank_whole()
        # Which block each ranked row comes from, in rank order: a block's rows are in
        # key order already, so each block file is read straight through.
        sources = np.repeat(np.arange(len(blocks), dtype=np.uint32), [len(k) for k in keys])
        sources = sources[merged_order(np.concatenate(keys))]
        del keys, hashes
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(p, encoding="utf-8", newline="\n"))
                     for p in blocks]
            write(columns, _merged_pieces(files, sources, MERGE_ROWS))
    LOG.info("%s: merged and written in %.1f s", where, time.perf_counter() - merging)
    return counts


def _merged_pieces(files: list[Any], sources: np.ndarray, rows: int) -> Iterator[str]:
    """The merged lines with their rank, ``rows`` lines a piece: line ``i`` is the next
    line of ``files[sources[i]]``."""
    for start in range(0, len(sources), rows):
        chunk = sources[start:start + rows]
        taken = np.bincount(chunk, minlength=len(files))
        # The lines block by block, then put in rank order (a stable sort of the
        # chunk by block gives each line's place).
        lines = np.fromiter(itertools.chain.from_iterable(
            itertools.islice(files[b], int(taken[b])) for b in np.flatnonzero(taken)),
            dtype=object, count=len(chunk))
        placed = np.empty(len(chunk), dtype=object)
        placed[np.argsort(chunk, kind="stable")] = lines
        ranks = map(str, range(start + 1, start + len(chunk) + 1))
        yield "".join(itertools.chain.from_iterable(
            zip(ranks, itertools.repeat("\t"), placed.tolist())))


def _pieces(lines: Iterator[str], rows: int) -> Iterator[str]:
    """``lines`` joined ``rows`` at a time."""
    while True:
        piece = "".join(itertools.islice(lines, rows))
        if not piece:
            return
        yield piece


def _prediction_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    header = set(table_header(path))
    text = {c: "str" for c in PREDICTION_TEXT_COLUMNS if c in header}
    yield from table_blocks(path, chunk_rows=chunk_rows, dtype=text)
