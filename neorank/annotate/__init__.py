"""``neorank annotate``: varcode effects of the somatic variants.

Reads ``results/{sample}/somatic.vcf.gz`` (through pysam) and the somatic
accounting table, annotates every kept variant with varcode on a pyensembl
annotation (see :mod:`neorank.reference`) and writes

* ``results/effects/{sample}.tsv``: one row per (variant, transcript) whose
  mutant protein carries new residues, with ``--context`` residues of protein
  context on either side of the change;
* ``results/{sample}/variants.tsv``: every accounting row, in order, with the
  top-priority effect and the final ``status``/``reason``.

Column meanings are in ``docs/tables.md``.

Effects that list several outcomes (varcode's
:class:`~varcode.MultiOutcomeEffect`, e.g. the ``SpliceOutcomeSet`` of a splice
site variant) are replaced by their most likely outcome; a "normal splicing"
outcome is replaced by the coding change it carries.

With ``--transcripts canonical`` one transcript per gene is annotated: among
the gene's complete protein-coding transcripts, the one with the longest CDS
(ties go to the smallest transcript id). Genes without such a transcript keep
all their transcripts.

Memory: ``neorank annotate`` annotates the variants in accounting order and
appends their effect rows to the effects table in blocks of
:data:`EFFECT_BLOCK_ROWS` as it goes (the file is renamed into place once every
check has passed); only the variants.tsv fields of each variant are kept.

Progress: the variant loop logs ``annotate: 5,000 of 100,000 variants (5%)``
every :func:`~neorank.annotate.annotation.progress_step` variants (about 20
lines a run; a count, not a timer, so logs are reproducible).

Modules: :mod:`~neorank.annotate.records` (the somatic VCF records and the
per-variant annotation), :mod:`~neorank.annotate.effects` (varcode effects of
one variant: effect rows, classes, protein changes),
:mod:`~neorank.annotate.in_cis` (in-cis SNVs merged, germline SNVs applied),
:mod:`~neorank.annotate.annotation` (:func:`annotate_records`, progress) and
:mod:`~neorank.annotate.tables` (accounting, variants and effects tables). This
module has the command line (:func:`add_subcommand`, :func:`run`).
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from typing import Any

from neorank import reference
from neorank.annotate.annotation import annotate_records
from neorank.annotate.records import SomaticRecord, read_somatic_vcf
from neorank.annotate.tables import (
    EFFECT_BLOCK_ROWS,
    EFFECT_COLUMNS,
    STATUSES,
    EffectRowsWriter,
    accounting_order,
    build_variants_table,
    read_accounting,
)
from neorank.errors import InputFileError
from neorank.germline import GermlineIndex, SomaticWindows, read_germline_vcf
from neorank.io import write_tsv
from neorank.tables import TableWriter

__all__ = ["EFFECT_BLOCK_ROWS", "EFFECT_COLUMNS", "STATUSES", "SomaticRecord", "add_subcommand",
           "annotate_records", "read_accounting", "read_somatic_vcf", "run"]

log = logging.getLogger(__name__)


def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``neorank annotate``."""
    parser = subparsers.add_parser(
        "annotate", help="varcode effects of the somatic variants",
        description="Annotate the somatic variants with varcode: per-transcript protein changes "
                    "(effects table) and every variant's final status (variants table).")
    parser.add_argument("--vcf", required=True,
                        help="somatic VCF from `neorank somatic` (INFO NR_ID)")
    parser.add_argument("--accounting", required=True,
                        help="accounting TSV from `neorank somatic`")
    reference.add_reference_arguments(parser)
    parser.add_argument("--context", type=int, default=40,
                        help="protein residues kept on each side of a change (default 40)")
    parser.add_argument("--transcripts", choices=["all", "canonical"], default="all",
                        help="all overlapping transcripts, or one per gene (longest CDS)")
    parser.add_argument("--germline-vcf",
                        help="VCF with the patient's germline calls (the normal VCF, or the "
                             "paired VCF): nearby germline SNVs change mutant and wildtype")
    parser.add_argument("--germline-sample",
                        help="normal sample column of --germline-vcf (default: the only one, "
                             "or NORMAL)")
    parser.add_argument("--out-effects", required=True, help="effects TSV to write")
    parser.add_argument("--out-variants", required=True, help="variants TSV to write")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``neorank annotate``; returns the exit code."""
    if args.context < 0:
        raise InputFileError("--context must be >= 0", fix="pass e.g. --context 40")
    accounting = read_accounting(args.accounting)
    records = read_somatic_vcf(args.vcf)
    genome = reference.genome_from_args(args)
    germline = None
    if getattr(args, "germline_vcf", None):
        near = SomaticWindows((r.chrom, r.pos, r.pos + len(r.ref) - 1) for r in records)
        germline = GermlineIndex(read_germline_vcf(args.germline_vcf, args.germline_sample,
                                                   near=near))
        log.info("germline context: %d germline SNVs near the somatic variants from %s",
                 len(germline), args.germline_vcf)
    # effects.tsv is in accounting order: annotating in that order lets its rows be
    # written as they come
    with TableWriter(args.out_effects, EFFECT_COLUMNS) as effects:
        rows = EffectRowsWriter(effects, EFFECT_BLOCK_ROWS)
        annotations = annotate_records(records, genome, context=args.context,
                                       transcripts=args.transcripts, source=str(args.vcf),
                                       germline=germline,
                                       order=accounting_order(records, accounting), emit=rows)
        rows.flush()
        variants = build_variants_table(accounting, annotations,
                                        accounting_path=str(args.accounting),
                                        vcf_path=str(args.vcf))
        effects.commit()
    write_tsv(variants, args.out_variants)
    counts = Counter(variants["status"])
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))
    others = sorted(set(counts) - set(STATUSES))
    if others:
        summary += ", " + ", ".join(f"{counts[s]} {s}" for s in others)
    log.info("annotate: %d variants (%s); %d effect rows on %d transcripts",
             len(variants), summary, effects.rows, len(rows.transcripts))
    return 0
