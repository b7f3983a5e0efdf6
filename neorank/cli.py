"""``neorank <step>``: run one workflow stage outside Snakemake.

Each stage module exposes ``add_subcommand(subparsers)`` (registering its
parser with ``set_defaults(run=module.run)``) and ``run(args) -> int``.
Input errors (:class:`neorank.errors.NeoRankError`) become a usage error that
names the file, record and fix; they never reach the user as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from neorank import __version__
from neorank.errors import NeoRankError

#: Stage modules in pipeline order; each registers one or more subcommands.
STAGES = ["index_reference", "preflight", "somatic", "annotate", "peptides", "predict", "rank", "score",
          "eligibility", "report",
          "manifest", "summary", "vaccine", "aggregate", "review_sheet", "final_order", "cohort"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neorank",
        description="NeoRank: tumor/normal VCFs to ranked MHC class I neoantigen candidates "
        "(research use only).",
    )
    parser.add_argument("--version", action="version", version=f"neorank {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="step", metavar="<step>", required=True)
    for name in STAGES:
        module = importlib.import_module(f"neorank.{name}")
        module.add_subcommand(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.run(args) or 0)
    except NeoRankError as err:
        parser.exit(2, f"neorank {args.step}: error: {err}\n")
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        where = f" writing {err.filename}" if err.filename else ""
        parser.exit(2, f"neorank {args.step}: error: no space left on the device{where}; "
                       "fix: free space there or run in a directory with more room (rank "
                       "keeps temporary blocks a little larger than candidates.tsv beside "
                       "it while it runs)\n")
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
