"""``neorank predict`` and ``neorank gather``: MHCflurry for every peptide x allele.

``predict`` reads one shard of peptides.tsv, resolves the patient's alleles
against the loaded models and predicts all peptides x alleles in batched
calls (see :mod:`neorank.models` for how models are chosen and loaded);
``gather`` concatenates the shards in shard order. The table is Apache Parquet
when the output path ends in ``.parquet`` (the workflow's form,
:class:`neorank.io.ParquetRows`), TSV otherwise. The predictor is
injectable: any object implementing :class:`neorank.models.Predictor` works
with :func:`predict_table` (tests use this).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from neorank.alleles import NULL_SKIPPED, PatientAllele, parse_typing
from neorank.cache import CachedPredictor, PredictionCache
from neorank.config import Hla
from neorank.errors import InputFileError
from neorank.io import (
    NA,
    ParquetRows,
    is_parquet,
    read_tsv,
    tsv_columns,
    write_rows,
    write_tsv,
)
from neorank.models import (
    Predictor,
    add_numerics_argument,
    load_predictor,
    prediction_key,
    resolve_alleles,
)
from neorank.tables import PREDICTION_TEXT_COLUMNS, PREDICTION_TYPES

LOG = logging.getLogger(__name__)


#: Peptide rows of a shard predicted and written at a time (x alleles = rows in memory).
BLOCK_ROWS = 50_000


#: peptides.tsv columns of protein sequence around the peptide (empty at a protein end).
FLANK_COLUMNS = ("n_flank", "c_flank")

PREDICTION_COLUMNS = [
    "allele", "allele_status", "mutant_affinity_nm", "mutant_percentile",
    "wildtype_affinity_nm", "wildtype_percentile", "presentation_score",
    "presentation_percentile", "processing_score", "predictor",
]


def predict_table(peptides: pd.DataFrame, alleles: list[PatientAllele],
                  predictor: Predictor) -> pd.DataFrame:
    """Predict every peptide row x expressed allele (mutant and wildtype peptides).

    Unique peptide sequences are predicted once, in one batched call over all
    alleles; rows come back in peptides order, alleles in typing order.
    """
    expressed = [a for a in alleles if a.status != NULL_SKIPPED]
    allele_names = [a.allele for a in expressed]
    status = {a.allele: a.status for a in expressed}
    mutant = peptides["mutant_peptide"].astype(str)
    wildtype = peptides["wildtype_peptide"].dropna().astype(str)
    unique = sorted(set(mutant) | set(wildtype))
    LOG.info("predicting %d unique peptides x %d alleles", len(unique), len(allele_names))
    aff = predictor.affinity(unique, allele_names).set_index(["peptide", "allele"])

    out = peptides.loc[peptides.index.repeat(len(allele_names))].reset_index(drop=True)
    out["allele"] = allele_names * len(peptides)
    out["allele_status"] = out["allele"].map(status)
    mt_key = pd.MultiIndex.from_arrays([out["mutant_peptide"], out["allele"]])
    out["mutant_affinity_nm"] = aff["affinity_nm"].reindex(mt_key).to_numpy()
    out["mutant_percentile"] = aff["percentile"].reindex(mt_key).to_numpy()
    wt_key = pd.MultiIndex.from_arrays([out["wildtype_peptide"].fillna(""), out["allele"]])
    out["wildtype_affinity_nm"] = aff["affinity_nm"].reindex(wt_key).to_numpy()
    out["wildtype_percentile"] = aff["percentile"].reindex(wt_key).to_numpy()

    for column in ("presentation_score", "presentation_percentile", "processing_score"):
        out[column] = np.nan
    if not predictor.affinity_only and len(peptides):
        pres = predictor.presentation(
            list(peptides["mutant_peptide"]), list(peptides["n_flank"].fillna("")),
            list(peptides["c_flank"].fillna("")), allele_names)
        pres = pres.drop_duplicates(["peptide", "n_flank", "c_flank"]).set_index(
            ["peptide", "n_flank", "c_flank"])
        key = pd.MultiIndex.from_arrays([out["mutant_peptide"], out["n_flank"].fillna(""),
                                         out["c_flank"].fillna("")])
        for column in ("presentation_score", "presentation_percentile", "processing_score"):
            out[column] = pres[column].reindex(key).to_numpy()
    out["predictor"] = predictor.label
    return out


def add_subcommand(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="MHCflurry binding for all peptides x the patient's alleles",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--peptides", required=True, help="peptides.tsv from `neorank peptides`")
    parser.add_argument("--alleles", required=True,
                        help="inline list (HLA-A*02:01,B*08:01) or a typing file "
                             "(plain list, OptiType TSV, HLA-HD result)")
    parser.add_argument("--hla-allow-nonclassical", action="store_true",
                        help="accept HLA-E/-F/-G alleles (config hla.allow_nonclassical)")
    parser.add_argument("--hla-allow-nonhuman", action="store_true",
                        help="accept non-human MHC alleles (config hla.allow_nonhuman)")
    parser.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    parser.add_argument("--embedded-dir", default="",
                        help="embedded models folder (default: the models shipped with NeoRank)")
    parser.add_argument("--official-dir", default=None,
                        help="folder of models_class1_presentation (default: MHCflurry's "
                             "download location)")
    parser.add_argument("--cache", default=None,
                        help="SQLite prediction cache shared across samples and reruns "
                             "(keyed on peptide, allele and model checksum)")
    add_numerics_argument(parser)
    parser.add_argument("--shard", default="1/1", type=parse_shard,
                        help="K/N: predict only the K-th of N contiguous blocks of peptide rows "
                             "(the workflow's scatter); default 1/1, all rows")
    parser.add_argument("--out", required=True,
                        help="predictions table: Parquet when it ends in .parquet (the "
                        "workflow's form), else TSV")
    parser.add_argument("--block-rows", type=int, default=BLOCK_ROWS,
                        help="peptide rows predicted and written per block; memory grows with "
                        f"it, the table does not change (default {BLOCK_ROWS:,})")
    parser.add_argument("--out-alleles", default=None,
                        help="JSON list of the patient's alleles with their status")
    parser.set_defaults(run=run)

    gather = subparsers.add_parser(
        "gather", help="concatenate predict shards (in shard order) into one predictions table")
    gather.add_argument("--shards", nargs="+", required=True,
                        help="shard tables (all Parquet or all TSV), in order")
    gather.add_argument("--alleles", nargs="+", required=True,
                        help="the shards' alleles JSON files (must agree)")
    gather.add_argument("--out", required=True,
                        help="predictions table of the whole sample (same format as the shards)")
    gather.add_argument("--out-alleles", required=True,
                        help="alleles.json of the sample (the shards' must agree)")
    gather.set_defaults(run=run_gather)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 1 <= K <= N."""
    import argparse

    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 1 <= K <= N")
    return k, n


def shard_rows(n_rows: int, shard: tuple[int, int]) -> slice:
    """The K-th of N contiguous, near-equal blocks of ``n_rows`` rows."""
    k, n = shard
    return slice((k - 1) * n_rows // n, k * n_rows // n)


def count_data_rows(path: str | os.PathLike) -> int:
    """Data lines of a TSV (lines after the header), counted without parsing."""
    lines = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def read_shard(path: str | os.PathLike, shard: tuple[int, int],
               block_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The rows of peptides.tsv in ``shard`` (:func:`shard_rows`), in blocks of at
    most ``block_rows`` rows (None: one block), parsing only those rows: a
    prediction job holds one block of its shard, not the whole table. Yields at
    least one (possibly empty) frame."""
    rows = shard_rows(count_data_rows(path), shard)
    start, stop = rows.start, rows.stop
    # A flank is protein sequence, never missing: "NA" there is Asn-Ala (a flank cut
    # at a protein end), not a missing value.
    na_values = {column: [NA] for column in tsv_columns(path) if column not in FLANK_COLUMNS}
    kwargs = dict(dtype={"wildtype_peptide": "string"},
                  skiprows=(lambda i: 0 < i <= start) if start else None, nrows=stop - start)
    if block_rows is None or stop - start <= block_rows:
        yield pd.read_csv(path, sep="\t", na_values=na_values, keep_default_na=False,
                          **kwargs).reset_index(drop=True)
        return
    with pd.read_csv(path, sep="\t", na_values=na_values, keep_default_na=False,
                     chunksize=block_rows, **kwargs) as reader:
        for block in reader:
            yield block.reset_index(drop=True)


def run_gather(args) -> int:
    texts = [Path(p).read_text() for p in args.alleles]
    if any(t != texts[0] for t in texts[1:]):
        raise InputFileError("shards disagree on the patient's alleles", where=args.alleles[0],
                             fix="re-run the predict shards of this sample")
    if any(is_parquet(p) for p in [*args.shards, args.out]):
        if not all(is_parquet(p) for p in [*args.shards, args.out]):
            raise InputFileError("shards and --out must all be Parquet or all TSV",
                                 where=args.out, fix="give every file the same suffix")
        rows = _concatenate_parquet(args.shards, args.out)
    else:
        rows = _concatenate_shards(args.shards, args.out)
    Path(args.out_alleles).write_text(texts[0])
    LOG.info("gather: %d shards -> %d prediction rows", len(args.shards), rows)
    return 0


def _concatenate_parquet(shards: list[str], out: str) -> int:
    """Concatenate Parquet shards (rows in shard order, row groups copied as they
    are). Shards whose schemas differ (an empty shard's column types) are unified
    by pyarrow; a shard with no rows adds none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p) for p in shards]
    schemas = [f.schema_arrow for f in files]
    with_rows = [f for f in files if f.metadata.num_rows] or files[:1]
    schema = with_rows[0].schema_arrow
    if any(not f.schema_arrow.equals(schema) for f in with_rows):
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    rows = 0
    with pq.ParquetWriter(str(tmp), schema, compression="zstd") as writer:
        for handle in with_rows:
            for index in range(handle.num_row_groups):
                group = handle.read_row_group(index)
                writer.write_table(group.cast(schema) if not group.schema.equals(schema)
                                   else group)
                rows += group.num_rows
        if not rows:
            writer.write_table(schema.empty_table())
    os.replace(tmp, out)
    return rows


def _concatenate_shards(shards: list[str], out: str) -> int:
    """Concatenate shard TSVs as text (header once, rows in shard order), streaming;
    the rows are written exactly as predicted. Shards whose headers differ (only
    possible for an empty shard) are combined by column name through pandas."""
    headers = []
    for path in shards:
        with open(path, encoding="utf-8", newline="\n") as handle:
            headers.append(handle.readline())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if any(h != headers[0] for h in headers[1:]):
        frames = [read_tsv(p, dtype=str) for p in shards]
        table = pd.concat(frames, ignore_index=True)
        write_tsv(table, out)
        return len(table)
    rows = 0
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as sink:
        sink.write(headers[0])
        for path in shards:
            with open(path, encoding="utf-8", newline="\n") as handle:
                handle.readline()
                for line in handle:
                    sink.write(line)
                    rows += 1
    os.replace(tmp, out)
    return rows


class _PredictionSink:
    """Where predict writes its blocks: Parquet for a ``.parquet`` path (the
    workflow's form: typed columns, floats as the TSV would read back), else TSV."""

    def __init__(self, out: Path):
        self.out = out
        self.parquet = is_parquet(out)
        self.header = True
        if self.parquet:
            self.rows = ParquetRows(out, PREDICTION_TEXT_COLUMNS, PREDICTION_TYPES)
        else:
            self.tmp = out.with_name(out.name + ".tmp")
            self.handle = open(self.tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write(self, table: pd.DataFrame) -> None:
        if self.parquet:
            self.rows.write(table)
        else:
            write_rows(self.handle, table, header=self.header)
        self.header = False

    def finish(self) -> None:
        """Every block written: the file goes into place."""
        if self.parquet:
            self.rows.close()
        else:
            self.handle.close()
            os.replace(self.tmp, self.out)

    def abort(self) -> None:
        """A block failed: no file at ``out`` (the partial one is removed)."""
        if self.parquet:
            if self.rows.writer is not None:
                self.rows.writer.close()
            self.rows.tmp.unlink(missing_ok=True)
        else:
            self.handle.close()
            self.tmp.unlink(missing_ok=True)


def run(args) -> int:
    typing = parse_typing(args.alleles, where=f"--alleles {args.alleles}",
                          hla=Hla(allow_nonclassical=getattr(args, "hla_allow_nonclassical", False),
                                  allow_nonhuman=getattr(args, "hla_allow_nonhuman", False)))
    predictor = load_predictor(args.models, args.embedded_dir, args.official_dir,
                               args.numerics)
    alleles = resolve_alleles(typing, predictor, where=f"--alleles {args.alleles}")
    active: Predictor = predictor
    if args.cache:
        active = CachedPredictor(predictor, PredictionCache(args.cache,
                                                            prediction_key(predictor)))
    block_rows = getattr(args, "block_rows", None) or BLOCK_ROWS
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sink = _PredictionSink(out)
    n_peptides = n_rows = 0
    header: list[str] | None = None
    try:
        for block in read_shard(args.peptides, args.shard, block_rows):
            table = predict_table(block, alleles, active)
            if header is not None and list(table.columns) != header:
                raise InputFileError("prediction blocks gave different columns",
                                     where=str(args.peptides),
                                     fix="regenerate peptides.tsv with `neorank peptides`")
            sink.write(table)
            header = list(table.columns)
            n_peptides += len(block)
            n_rows += len(table)
            if n_peptides and len(block) == block_rows:
                LOG.info("predict (shard %d/%d): %d peptide rows done", *args.shard, n_peptides)
    except BaseException:
        sink.abort()
        raise
    sink.finish()
    if args.out_alleles:
        Path(args.out_alleles).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_alleles).write_text(
            json.dumps([a.to_dict() for a in alleles], indent=2) + "\n")
    LOG.info("predict (shard %d/%d): %d peptides x %d alleles -> %d rows (%s%s)",
             *args.shard, n_peptides,
             sum(a.status != NULL_SKIPPED for a in alleles), n_rows, predictor.label,
             ", affinity-only" if predictor.affinity_only else "")
    return 0
