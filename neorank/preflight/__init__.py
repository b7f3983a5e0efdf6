"""``neorank preflight``: check one sample's inputs before any heavy work.

Every problem is collected (the check never stops at the first one) into a TSV
report, ``results/preflight/{sample}.tsv``, one row per finding:

========== ==================================================================
column     meaning
========== ==================================================================
severity   ``error`` (the run would fail or give wrong results: fix it),
           ``warning`` (the run works, but something is lost, filtered or
           suspicious: read it) or ``info`` (what was found)
check      the check's name (``file``, ``compression``, ``header``,
           ``columns``, ``samples``, ``alleles``, ``read_counts``,
           ``reference_bases``, ``hla``, ...)
file       the file concerned (empty for command-line values)
record     ``line N`` of the (decompressed) file, or ``record N (chrom:pos)``
message    what is wrong
fix        how to fix it
========== ==================================================================

The command exits with status 1 and prints every error and warning on stderr
when there is any error; the workflow's ``preflight`` rule runs it before the
``somatic`` stage, so nothing heavy runs on inputs that cannot work.

What is checked (see also ``tests/data/bad_inputs/README.md``):

* each VCF: exists, readable, not empty, not binary; bgzip (BGZF) rather than
  plain gzip (htslib cannot read plain gzip); not truncated; a UTF-8
  byte-order mark and CR-only (old Mac) line endings, which htslib cannot
  read; the ``##fileformat`` and ``#CHROM`` header lines; a ``##contig``
  declared twice with different lengths; tab-separated columns; one column
  per sample; POS >= 1; blank lines; CRLF line endings; FILTER, INFO and
  FORMAT ids declared in the header; then every record through pysam
  (the VCF layer :mod:`neorank.vcf`, which ``neorank somatic`` reads with),
  naming the line;
* the tumor and normal sample columns exist (closest name suggested; a VCF
  name with surrounding spaces is named as such); a sample column that is
  ``.`` on every record (its read-count filters cannot work) is a warning;
* alleles that the somatic stage will filter and account (symbolic, breakend,
  ``*``, ``N``, ...), multi-allelic records (split), duplicates, lowercase bases;
* read counts: which of GT/AD/AF/DP the caller provides, which caller the
  file looks like (Mutect2, Strelka2, VarScan2, FreeBayes, DeepVariant,
  generic), AF outside [0, 1], AD with the wrong number of values, AD summing
  above DP (warning), non-numeric counts;
* contigs against the reference (``chr`` prefix reconciled), REF past the
  contig's end, and the REF base of SNVs in transcribed exons against the
  reference transcript cDNA (strand-aware, through the exon structure; there
  is no genome FASTA). Each mismatching record is a warning naming its line
  (annotate accounts for it with reason ``ref_mismatch``); more than 50%
  mismatches among at least 5 checked SNVs is an error naming a genome-build
  mismatch (GRCh37 vs GRCh38);
* zero variants, and inputs where every allele is germline;
* the HLA typing (:func:`neorank.alleles.normalize_allele` for every allele:
  class II, non-classical and non-human (unless ``--hla-allow-nonclassical`` /
  ``--hla-allow-nonhuman``), unparseable, malformed, ambiguous and one-field
  names and an empty list are errors listing candidates and naming the line;
  reductions to two fields info rows; null alleles and HLA-A/B/C loci a typing
  tool did not type warnings; an incomplete OptiType header an error; names
  the MHCflurry models do not know are errors with close matches, via
  :func:`neorank.models.resolve_alleles`);
* purity in [0, 1];
* the expression table: readable, its format (Salmon ``quant.sf``, Kallisto
  ``abundance.tsv``, RSEM ``*.results``, a plain gene table), and whether its
  ids match the reference;
* the tumor RNA BAM (opens as BAM, indexed, coordinate-sorted, contigs of the
  reference, mapped reads) and the copy-number table (per-variant or
  segments, parsed as ranking parses it; segment contigs on the reference).

Modules: :mod:`~neorank.preflight.report` (the findings and the TSV),
:mod:`~neorank.preflight.vcf_text` (a VCF's bytes and lines; its ``##contig``
lengths in :mod:`~neorank.preflight.contigs`),
:mod:`~neorank.preflight.vcf_records` (its records, read with pysam),
:mod:`~neorank.preflight.vcf_checks` (one VCF as a whole, its caller, the somatic
dry run), :mod:`~neorank.preflight.hla` (the HLA typing) and
:mod:`~neorank.preflight.evidence` (purity, expression, RNA BAM, copy number).
This module runs them (:func:`run_checks`) and has the command line
(:func:`add_subcommand`, :func:`run`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from neorank.alleles import Hla
from neorank.errors import NeoRankError
from neorank.io import write_tsv
from neorank.preflight.evidence import (
    check_copy_number,
    check_expression,
    check_purity,
    check_rna_bam,
)
from neorank.preflight.hla import check_hla, model_alleles
from neorank.preflight.report import (
    ERROR,
    INFO,
    MAX_ROWS_PER_CHECK,
    REPORT_COLUMNS,
    WARNING,
    Finding,
    Report,
)
from neorank.preflight.vcf_checks import check_somatic_outcome, check_vcf, detect_caller
from neorank.preflight.vcf_records import RefChecker
from neorank.reference import add_reference_arguments, genome_from_args

__all__ = [
    "ERROR", "INFO", "MAX_ROWS_PER_CHECK", "REPORT_COLUMNS", "WARNING", "Finding", "RefChecker",
    "Report", "add_subcommand", "check_copy_number", "check_expression", "check_hla",
    "check_purity", "check_rna_bam", "check_somatic_outcome", "check_vcf", "detect_caller",
    "load_reference", "model_alleles", "run", "run_checks",
]

LOG = logging.getLogger(__name__)


def load_reference(args: argparse.Namespace, report: Report) -> Any:
    """The annotation, or ``None`` (not given, or not loadable: reported)."""
    if args.gtf is None and args.ensembl_release is None:
        report.info("reference", "no reference given: contigs, REF bases and expression ids are "
                    "not checked", fix="pass the reference flags of `neorank annotate`")
        return None
    try:
        return genome_from_args(args)
    except NeoRankError as err:
        report.error("reference", err.problem, file=err.where or "", fix=err.fix or "")
    return None


def _guarded(report: Report, check: str, function: Any, *args: Any, about: Any = "",
             **kwargs: Any) -> Any:
    """Run one check; an unexpected exception becomes an error row (file ``about``),
    never a traceback."""
    try:
        return function(*args, **kwargs)
    except NeoRankError as err:
        report.error(check, err.problem, file=err.where or about, fix=err.fix or "")
    except Exception as err:  # a bug or an input no check foresaw: still no traceback
        LOG.debug("preflight check %s failed", check, exc_info=True)
        report.error(check, f"the {check} check could not complete ({type(err).__name__}: "
                     f"{err})", file=about,
                     fix="fix the reported inputs; if the problem remains, report it to the "
                         "NeoRank maintainers with this message")
    return None


def run_checks(args: argparse.Namespace) -> Report:
    """Every check of ``neorank preflight``; returns the (finished) report."""
    report = Report()
    paired = args.paired_vcf is not None
    separate = args.tumor_vcf is not None or args.normal_vcf is not None
    genome = _guarded(report, "reference", load_reference, args, report)
    ref_checker = RefChecker(genome) if genome is not None else None
    inputs_ok = True
    if paired and separate:
        inputs_ok = False
        report.error("inputs", "--paired-vcf cannot be combined with --tumor-vcf/--normal-vcf",
                     fix="give one paired VCF (paired_vcf in the sheet), or a tumor VCF and a "
                         "normal VCF, not both")
    elif not paired and not separate:
        inputs_ok = False
        report.error("inputs", "no input VCF", fix="give --paired-vcf, or --tumor-vcf and "
                                                   "--normal-vcf")
    if paired:
        if not args.tumor_sample or not args.normal_sample:
            inputs_ok = False
            report.error("inputs", "--paired-vcf needs --tumor-sample and --normal-sample",
                         fix="name the VCF's tumor and normal columns (tumor_sample and "
                             "normal_sample in the sample sheet)")
        _guarded(report, "vcf", check_vcf, args.paired_vcf, "paired", report,
                 about=Path(args.paired_vcf),
                 sample=args.tumor_sample or None, sample_option="--tumor-sample",
                 required=True, other_sample=args.normal_sample or None,
                 other_option="--normal-sample", ref_checker=ref_checker)
    if separate and not paired:
        if args.tumor_vcf is None or args.normal_vcf is None:
            inputs_ok = False
            report.error("inputs", "separate mode needs both --tumor-vcf and --normal-vcf",
                         fix="give the matched normal's VCF: a tumor-only run cannot remove "
                             "germline variants")
        if args.tumor_vcf is not None:
            _guarded(report, "vcf", check_vcf, args.tumor_vcf, "tumor", report,
                     about=Path(args.tumor_vcf),
                     sample=args.tumor_sample or None, sample_option="--tumor-sample",
                     required=False, ref_checker=ref_checker)
        if args.normal_vcf is not None:
            _guarded(report, "vcf", check_vcf, args.normal_vcf, "normal", report,
                     about=Path(args.normal_vcf),
                     sample=args.normal_sample or None, sample_option="--normal-sample",
                     required=False, ref_checker=ref_checker)
    vcfs = [str(Path(v)) for v in (args.paired_vcf, args.tumor_vcf, args.normal_vcf) if v]
    if inputs_ok and not any(report.has_error(v) for v in vcfs):
        _guarded(report, "variants", check_somatic_outcome, args, report)
    _guarded(report, "hla", check_hla, args.alleles, report, models=args.models,
             embedded_dir=args.embedded_dir, official_dir=args.official_dir,
             hla=Hla(allow_nonclassical=getattr(args, "hla_allow_nonclassical", False),
                     allow_nonhuman=getattr(args, "hla_allow_nonhuman", False)))
    _guarded(report, "purity", check_purity, args.purity, report)
    _guarded(report, "expression", check_expression, args.expression, report, genome)
    _guarded(report, "rna_bam", check_rna_bam, getattr(args, "rna_bam", None), report, genome,
             about=getattr(args, "rna_bam", None) or "")
    _guarded(report, "copy_number", check_copy_number, getattr(args, "copy_number", None),
             report, genome, about=getattr(args, "copy_number", None) or "")
    report.finish()
    return report


# ---------------------------------------------------------------------------- CLI
def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``neorank preflight``."""
    parser = subparsers.add_parser(
        "preflight", help="check a sample's inputs (VCFs, HLA, purity, expression) up front",
        description="Check every input of one sample and report all problems at once (file, "
                    "line/record, fix) in a TSV; exit 1 if any is an error.")
    parser.add_argument("--sample", required=True, help="sample id (sample sheet)")
    parser.add_argument("--paired-vcf", metavar="FILE",
                        help="VCF with tumor and normal sample columns")
    parser.add_argument("--tumor-vcf", metavar="FILE", help="tumor VCF (separate mode)")
    parser.add_argument("--normal-vcf", metavar="FILE", help="normal VCF (separate mode)")
    parser.add_argument("--tumor-sample", metavar="NAME", help="tumor column")
    parser.add_argument("--normal-sample", metavar="NAME", help="normal column")
    parser.add_argument("--pass-filter", dest="pass_filters", action="append", metavar="ID",
                        help="FILTER value a kept record may carry (as `neorank somatic`; "
                        "default: PASS)")
    parser.add_argument("--alleles", required=True,
                        help="HLA class I typing: inline list or typing file")
    parser.add_argument("--hla-allow-nonclassical", action="store_true",
                        help="accept HLA-E/-F/-G alleles (config hla.allow_nonclassical)")
    parser.add_argument("--hla-allow-nonhuman", action="store_true",
                        help="accept non-human MHC alleles (config hla.allow_nonhuman)")
    parser.add_argument("--purity", metavar="X", help="tumor purity in [0, 1]")
    parser.add_argument("--expression", metavar="FILE", help="expression table")
    parser.add_argument("--rna-bam", metavar="FILE", help="tumor RNA-seq BAM (indexed)")
    parser.add_argument("--copy-number", metavar="FILE",
                        help="copy-number table (per variant or segments)")
    add_reference_arguments(parser)
    models = parser.add_argument_group("MHCflurry models (allele names are checked against them)")
    models.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    models.add_argument("--embedded-dir", default="",
                        help="embedded models folder (default: the models shipped with NeoRank)")
    models.add_argument("--official-dir", default=None,
                        help="folder of the official models_class1_presentation download")
    parser.add_argument("--out", required=True, metavar="FILE", help="report TSV to write")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run every check, write the report; 1 if any error, else 0."""
    report = run_checks(args)
    write_tsv(report.frame(), args.out, columns=REPORT_COLUMNS)
    n_errors, n_warnings = report.count(ERROR), report.count(WARNING)
    lines = [f"neorank preflight: sample {args.sample}: {n_errors} error(s), "
             f"{n_warnings} warning(s); report: {args.out}"]
    for finding in report.findings:
        if finding.severity == INFO:
            continue
        place = ": ".join(p for p in (finding.file, finding.record) if p)
        lines.append(f"{finding.severity.upper()} [{finding.check}] "
                     f"{place + ': ' if place else ''}{finding.message}")
        if finding.fix:
            lines.append(f"    Fix: {finding.fix}")
    sys.stderr.write("\n".join(lines) + "\n")
    if n_errors:
        sys.stderr.write(f"neorank preflight: {n_errors} error(s) in the inputs of sample "
                         f"{args.sample}: fix them and re-run (nothing else was run)\n")
        return 1
    return 0
