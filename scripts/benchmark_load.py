#!/usr/bin/env python
"""Load benchmark: a large real call set through preflight, somatic and annotate.

Default input: the full SEQC2 HCC1395 SNV truth set (39,560 records,
``tests/data/public/hcc1395-seqc2-snv.vcf.gz``, provenance in that folder's
README). It is a sites-only somatic VCF compressed with plain gzip, so the
script first does what preflight tells a user to do (recompress with bgzip),
adds an empty (header-only) normal VCF, and then runs the three CLI stages as
separate processes on the embedded Ensembl 87 reference subset, in the same
form as the workflow rules. Each stage's wall time and peak resident memory
(``ru_maxrss`` of that child process, from ``os.wait4``) are printed, with the
row counts of the accounting and variants tables.

Usage::

    .venv/bin/python scripts/benchmark_load.py [--vcf FILE] [--workdir DIR]
        [--pass-filter ID ...] [--keep]

Reference indexing (``neorank index-reference``) is timed separately: it
is done once per cache, not per sample.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VCF = ROOT / "tests" / "data" / "public" / "hcc1395-seqc2-snv.vcf.gz"
REFERENCE = ROOT / "resources" / "reference"
#: SEQC2 labels every truth record with PASS plus its tier and confidence.
SEQC2_FILTERS = ["PASS", "AllPASS", "HighConf", "MedConf",
                 *(f"Tier{t}{c}" for t in "1234" for c in "ABC")]
SAMPLE = "hcc1395-seqc2"
NORMAL_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@dataclass
class StageRun:
    """One CLI stage: exit code, wall time (s), peak RSS (MiB), stderr."""

    name: str
    returncode: int
    wall_s: float
    peak_rss_mib: float
    stderr: str


def neorank_bin() -> str:
    candidate = Path(sys.executable).parent / "neorank"
    return str(candidate) if candidate.exists() else "neorank"


def run_stage(name: str, argv: list[str]) -> StageRun:
    """Run ``neorank <argv>`` and measure this one process (not the whole script)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([neorank_bin(), *argv], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    # Linux reports ru_maxrss in KiB.
    return StageRun(name, proc.returncode, wall, usage.ru_maxrss / 1024, text)


def bgzip_copy(source: Path, target: Path) -> Path:
    """``gzip -dc source | bgzip > target`` (preflight's fix for plain gzip)."""
    import pysam

    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rb") as src, pysam.BGZFile(str(target), "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def reference_args(cache_dir: Path) -> list[str]:
    return ["--gtf", str(REFERENCE / "reference.gtf.gz"),
            "--cdna", str(REFERENCE / "reference.cdna.fa.gz"),
            "--pep", str(REFERENCE / "reference.pep.fa.gz"),
            "--reference-name", "GRCh38", "--release", "87", "--cache-dir", str(cache_dir)]


def run_load(vcf: Path, workdir: Path, pass_filters: list[str],
             cache_dir: Path | None = None) -> dict[str, StageRun]:
    """Run index, preflight, somatic and annotate on ``vcf`` in ``workdir``.

    Returns the stage runs by name; raises ``RuntimeError`` when a stage fails.
    Outputs: ``workdir/preflight.tsv``, ``somatic.vcf.gz``, ``accounting.tsv``,
    ``effects.tsv``, ``variants.tsv``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    tumor = bgzip_copy(vcf, workdir / "tumor.vcf.gz")
    normal = workdir / "normal.vcf"
    normal.write_text(NORMAL_HEADER)
    cache = cache_dir or workdir / "cache"
    ref = reference_args(cache)
    filters = [arg for f in pass_filters for arg in ("--pass-filter", f)]
    mode = ["--tumor-vcf", str(tumor), "--normal-vcf", str(normal)]
    stages = {
        "index_reference": ["index-reference", *ref],
        "preflight": ["preflight", "--sample", SAMPLE, *mode, *filters,
                      "--alleles", "HLA-A*02:01,HLA-B*07:02", *ref,
                      "--out", str(workdir / "preflight.tsv")],
        "somatic": ["somatic", "--sample", SAMPLE, *mode, *filters,
                    "--out-vcf", str(workdir / "somatic.vcf.gz"),
                    "--out-accounting", str(workdir / "accounting.tsv")],
        "annotate": ["annotate", "--vcf", str(workdir / "somatic.vcf.gz"),
                     "--accounting", str(workdir / "accounting.tsv"), *ref,
                     "--out-effects", str(workdir / "effects.tsv"),
                     "--out-variants", str(workdir / "variants.tsv")],
    }
    runs: dict[str, StageRun] = {}
    for name, argv in stages.items():
        runs[name] = result = run_stage(name, argv)
        if result.returncode != 0:
            raise RuntimeError(f"neorank {name} exited {result.returncode}:\n"
                               f"{result.stderr[-4000:]}")
    return runs


def count_records(vcf: Path) -> tuple[int, int]:
    """(records, records x ALT) counted from the text, independently of pysam."""
    records = alleles = 0
    with gzip.open(vcf, "rt") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            records += 1
            alleles += len(line.split("\t")[4].split(","))
    return records, alleles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vcf", type=Path, default=DEFAULT_VCF,
                        help="sites-only somatic VCF (.vcf, .vcf.gz; default: SEQC2 HCC1395 SNVs)")
    parser.add_argument("--pass-filter", dest="pass_filters", action="append", metavar="ID",
                        help="accepted FILTER value, repeatable (default: SEQC2's labels)")
    parser.add_argument("--workdir", type=Path, help="keep outputs here (default: a temp dir)")
    args = parser.parse_args(argv)
    import pandas as pd

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="neorank-load-"))
    try:
        runs = run_load(args.vcf, workdir, args.pass_filters or SEQC2_FILTERS)
        records, alleles = count_records(args.vcf)
        variants = pd.read_csv(workdir / "variants.tsv", sep="\t", dtype=str,
                               keep_default_na=False)
        print(f"input: {args.vcf.name}: {records} records, {alleles} record x ALT alleles")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), "
              f"python {platform.python_version()}")
        print(f"{'stage':<16} {'wall_s':>8} {'peak_rss_MiB':>13}")
        for run in runs.values():
            print(f"{run.name:<16} {run.wall_s:>8.1f} {run.peak_rss_mib:>13.0f}")
        staged = [r for n, r in runs.items() if n != "index_reference"]
        print(f"{'preflight+somatic+annotate':<26} wall {sum(r.wall_s for r in staged):.1f} s, "
              f"peak RSS {max(r.peak_rss_mib for r in staged):.0f} MiB")
        print(f"variants.tsv rows: {len(variants)} (expected {alleles})")
        for status, n in variants["status"].value_counts().sort_index().items():
            print(f"  {status}: {n}")
        return 0 if len(variants) == alleles else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
