#!/usr/bin/env python
"""Columnar engines against NeoRank's pandas block reader on a real candidates.tsv.

The question (issue: rank and aggregate "on a well-kept engine, DuckDB or polars, your
measured choice"): would an engine read candidates.tsv and find each variant's best
row (the heart of ``neorank aggregate``) faster or in less memory than the pandas
blocks NeoRank uses? Each method runs in its own process (this script, once per
``--method``), so that ``/usr/bin/time`` gives its own wall time and peak memory::

    pip install --target /tmp/engpkg duckdb==2.0.1 polars==2.1.0   # not project dependencies
    .venv/bin/python scripts/benchmark.py --variants 10000 --workdir /work/bench/s8_10k_b
    F=/work/bench/s8_10k_b/results/synthetic10000/candidates.tsv
    for m in pandas-read pandas duckdb polars; do
      PYTHONPATH=/tmp/engpkg /usr/bin/time -f "%e s %M kB" .venv/bin/python \\
        scripts/benchmark_engines.py --candidates $F --method $m
    done

Methods: ``pandas-read`` NeoRank's block reader over aggregate's columns (nothing
else); ``pandas`` the whole aggregation (``neorank.aggregate._aggregate``: best rows,
binders per allele, transcripts, included peptides); ``duckdb`` and ``polars`` the read
of the same columns (as text) and the best row per variant (Pass tier first, then rank,
candidate_id and file order), 2 threads. Prints ``<method>: <rows> rows in <s> s``.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", required=True, help="candidates.tsv of a benchmark run")
    parser.add_argument("--method", required=True,
                        choices=["pandas-read", "pandas", "duckdb", "polars"])
    args = parser.parse_args(argv)

    from neorank.aggregate import READ_COLUMNS, _aggregate
    from neorank.config import DEFAULT_INCLUSION_NM
    from neorank.io import CHUNK_ROWS
    from neorank.tables import TableBlocks

    columns = list(dict.fromkeys(READ_COLUMNS))
    path = args.candidates
    start = time.perf_counter()
    if args.method == "pandas-read":
        rows = sum(len(block) for block in TableBlocks(path, columns, CHUNK_ROWS))
    elif args.method == "pandas":
        rows = len(_aggregate(path, None, DEFAULT_INCLUSION_NM, CHUNK_ROWS)[0])
    elif args.method == "duckdb":
        import duckdb

        con = duckdb.connect(config={"threads": 2})
        selected = ", ".join(f'"{c}"' for c in columns)
        rows = len(con.execute(f"""
            WITH c AS (SELECT {selected}, row_number() OVER () AS pos
                       FROM read_csv(?, delim='\t', header=true, nullstr='NA',
                                     all_varchar=true))
            SELECT * FROM (SELECT *, row_number() OVER (
                PARTITION BY variant_id ORDER BY (tier <> 'Pass'), CAST(rank AS BIGINT),
                candidate_id, pos) AS k FROM c) WHERE k = 1""", [path]).fetchall())
    else:
        import os

        os.environ.setdefault("POLARS_MAX_THREADS", "2")
        import polars as pl

        rows = len(pl.scan_csv(path, separator="\t", null_values="NA", infer_schema=False)
                   .select(columns).with_row_index("pos")
                   .sort([pl.col("tier") != "Pass", pl.col("rank").cast(pl.Int64),
                          "candidate_id", "pos"])
                   .group_by("variant_id", maintain_order=True).first().collect())
    print(f"{args.method}: {rows} rows in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
