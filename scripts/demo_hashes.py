#!/usr/bin/env python
"""The demo's output tables, byte for byte: write or check their sha256 list.

``tests/data/demo_outputs.sha256`` holds the sha256 of every file a demo run writes
under ``results/`` (``sha256sum`` format, paths relative to ``results/``), except the
files that name the run's own folders or times (:data:`RUN_SPECIFIC`). The same inputs,
models and pinned package versions give the same bytes on any x86-64 machine (the
workflow predicts in the portable arithmetic), wherever the run's folder is and whether
predictions come fresh or from the cache; the test suite checks its fresh runs against
the list::

    make demo && python scripts/demo_hashes.py --check results
    python scripts/demo_hashes.py --write results    # after an intended output change

``--check`` exits 1 and names every file that differs, is missing or is not listed.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tests" / "data" / "demo_outputs.sha256"
#: Files that hold the run's folders or times (provenance), as glob patterns.
RUN_SPECIFIC = ("*/manifest.json", "*/report.html", "run_config.json", "preflight/*.tsv")


def output_hashes(results: Path) -> dict[str, str]:
    """``{path relative to results/: sha256}`` of the run's files, run-specific ones left out."""
    names = sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file())
    return {name: hashlib.sha256((results / name).read_bytes()).hexdigest() for name in names
            if not any(Path(name).match(pattern) for pattern in RUN_SPECIFIC)}


def read_list(path: Path = LIST) -> dict[str, str]:
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {name.strip(): digest for digest, name in pairs}


def differences(results: Path, expected: dict[str, str]) -> list[str]:
    found = output_hashes(results)
    problems = [f"differs: {n}" for n in sorted(found.keys() & expected.keys())
                if found[n] != expected[n]]
    problems += [f"missing: {n}" for n in sorted(expected.keys() - found.keys())]
    problems += [f"not in the list: {n}" for n in sorted(found.keys() - expected.keys())]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a demo run's results/ folder")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="compare with the list")
    mode.add_argument("--write", action="store_true", help="(re)write the list")
    parser.add_argument("--list", type=Path, default=LIST, help=f"default: {LIST}")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        parser.error(f"{args.results} is not a folder (run `make demo` first)")
    if args.write:
        hashes = output_hashes(args.results)
        args.list.write_text("".join(f"{h}  {n}\n" for n, h in hashes.items()))
        print(f"{len(hashes)} files listed in {args.list}")
        return 0
    expected = read_list(args.list)
    problems = differences(args.results, expected)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} difference(s) from {args.list}" if problems
          else f"all {len(expected)} files as listed in {args.list}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
