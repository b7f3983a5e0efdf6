"""``neorank index-reference``: build the annotation cache of a reference once.

The workflow's ``index_reference`` rule runs this before any job reads the
reference, so parallel jobs never index the same files at the same time. The
reference itself is reached through :mod:`neorank.reference` (the layer every
stage that annotates uses).
"""

from __future__ import annotations

import argparse

from neorank import reference


def add_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "index-reference",
        help="build the annotation cache of a local reference (or check an installed "
        "Ensembl release)",
        description="Index the reference's GTF/cDNA/protein FASTA into its cache folder "
        "(pyensembl database); an Ensembl release must already be installed.")
    reference.add_reference_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``neorank index-reference``; returns the exit code."""
    return reference.index_reference(args)
