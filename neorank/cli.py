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

#: Every subcommand and the stage module that registers it, in pipeline order.
COMMANDS = {
    "index-reference": "index_reference", "preflight": "preflight", "somatic": "somatic",
    "annotate": "annotate", "peptides": "peptides", "predict": "predict", "gather": "predict",
    "rank": "rank", "score": "score", "eligibility": "eligibility", "report": "report",
    "manifest": "manifest", "summary": "summary", "vaccine": "vaccine",
    "aggregate": "aggregate", "pvacseq-metrics": "aggregate", "review-sheet": "review_sheet",
    "final-order": "final_order", "cohort": "cohort",
}
#: Stage modules in pipeline order; each registers one or more subcommands.
STAGES = list(dict.fromkeys(COMMANDS.values()))
#: ``neorank``'s one option that may come before the step and takes no value.
VERBOSE = ("-v", "--verbose")


def requested_step(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names, if it names one after only :data:`VERBOSE`."""
    for arg in argv:
        if arg not in VERBOSE:
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``neorank`` parser. Given the command line, only the named step's module is
    imported (`manifest --help`: 0.61-0.71 s against 0.85-1.05 s); otherwise (help, an unknown or missing
    step) every stage registers its commands."""
    parser = argparse.ArgumentParser(
        prog="neorank",
        description="NeoRank: tumor/normal VCFs to ranked MHC class I neoantigen candidates "
        "(research use only).",
    )
    parser.add_argument("--version", action="version", version=f"neorank {__version__}")
    parser.add_argument(*VERBOSE, action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="step", metavar="<step>", required=True)
    step = requested_step(argv) if argv is not None else None
    for name in [COMMANDS[step]] if step else STAGES:
        module = importlib.import_module(f"neorank.{name}")
        module.add_subcommand(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
