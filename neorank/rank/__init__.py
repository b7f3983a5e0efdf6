"""``neorank rank``: metrics, per-criterion verdicts, tiers and a composite score.

Reads the predictions table (``predictions.parquet``, or a TSV; peptides x alleles) and ``variants.tsv`` and writes
``candidates.tsv`` (and with ``--out-parquet`` its Parquet form, which the stages
after rank read with column projection): every prediction row (binders and non-binders) with the
evidence columns, one ``pass_<criterion>`` column per criterion, a ``tier``
and the composite ``score`` (columns: docs/tables.md). Optional evidence:
``--peptides`` (``self_match``), ``--expression`` (:mod:`neorank.expression`),
``--rna-bam`` (:mod:`neorank.rnaseq`), ``--purity`` and ``--copy-number``
(:mod:`neorank.clonality`). Evidence that is not given is **not assessed**
(``NA`` / ``not_assessed``), never imputed.

Binder
------
``binder`` is True when ``mutant_affinity_nm <= binding.max_affinity_nm``
(default 500 nM) **or** ``mutant_percentile <= binding.max_percentile``
(default 2.0). A missing percentile (allele without calibration) never makes a
binder: only the affinity counts for that row.

Agretopicity
------------
``agretopicity = mutant_affinity_nm / wildtype_affinity_nm``; ``NA`` when
there is no wildtype peptide or no wildtype prediction. Values below 1 mean the
mutant binds better than the wildtype.

Criteria, tiers and the composite score
---------------------------------------
Shared with ``neorank score``: see :mod:`neorank.ranking` (the criteria
``binding``, ``presentation``, ``agretopicity``, ``clonality``, ``expression``,
``rna_support``, ``self_match``, ``anchor`` and ``splice_support``; the tiers
``Pass``, ``Anchor``, ``SpliceUnconfirmed``, ``WeakBinder``, ``SelfSimilar``,
``LowExpression``, ``Subclonal`` and ``Poor`` with a ``tier_reason``; the weighted
score in [0, 1] over the assessed components, docs/scoring.md).

``evidence`` (``dna`` or ``predicted_splice``) comes from peptides.tsv through
predictions.tsv; for a predictions table without it, peptides of variants whose
variants.tsv ``variant_class`` is ``splice_site`` count as ``predicted_splice``.

Order
-----
The score is rounded to 6 decimals. Rows are sorted by ``binder`` (True
first), ``score`` (descending), ``mutant_affinity_nm`` (ascending) and
``candidate_id`` (ascending), and ``rank`` numbers them 1..n. The score is
strictly decreasing in the mutant IC50 (other inputs equal), so the IC50 key only
orders rows whose other evidence differs and whose scores coincide. The tier
does not change the order. With
``ranking.exclude_self_matches`` (default true) rows whose ``self_match`` is
True are excluded from ranking: they keep their row, score and tier
(``SelfSimilar`` or ``Poor``) but are placed after every other row.

``candidate_id`` is ``{sample}-`` plus the first 12 hex digits of
``sha1("{variant_id}|{mutant_peptide}|{allele}")``, stable across runs and
versions.

Modules: :mod:`~neorank.rank.evidence` (checked input columns and the clonality,
RNA, self-match and expression evidence), :mod:`~neorank.rank.candidates`
(:func:`rank_candidates`: one block of predictions ranked),
:mod:`~neorank.rank.merge` (:func:`rank_file`: blocks ranked and merged in
bounded memory). This module has the command line (:func:`add_subcommand`,
:func:`run`).
"""

from __future__ import annotations

import argparse
import copy
import logging
from typing import Any

from neorank.clonality import read_copy_number
from neorank.config import COMPONENTS, DEFAULT_PARAMS, load_params, ranking_params
from neorank.errors import NeoRankError
from neorank.expression import read_expression
from neorank.rank.candidates import candidate_id, rank_candidates
from neorank.rank.merge import RANK_CHUNK_ROWS, rank_file
from neorank.ranking import TIERS, check_params
from neorank.reference import add_reference_arguments, genome_from_args
from neorank.rnaseq import count_variant_reads
from neorank.tables import read_table, require_columns, table_blocks, table_header

__all__ = ["add_subcommand", "candidate_id", "rank_candidates", "rank_file", "run"]

LOG = logging.getLogger(__name__)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank rank``."""
    parser = subparsers.add_parser(
        "rank", help="assess criteria, tier and rank candidates with the composite score",
        description="Join read, expression, RNA and clonality evidence, flag binders, assess "
        "every criterion (pass/fail/not_assessed), assign tiers, compute the composite score "
        "and write candidates.tsv (best first).")
    parser.add_argument("--sample", required=True, help="sample id (candidate_id prefix)")
    parser.add_argument("--predictions", required=True,
                        help="predictions table from `neorank predict`/`gather` (Parquet "
                        "or TSV)")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--params", help="params JSON with binding/ranking sections")
    parser.add_argument("--out", required=True, help="candidates.tsv to write")
    parser.add_argument("--out-parquet",
                        help="also write the table in Parquet form here (candidates.parquet: "
                        "the same rows and values, read by the stages after rank)")
    parser.add_argument("--chunk-rows", type=int, default=RANK_CHUNK_ROWS,
                        help="prediction rows ranked per block; memory grows with it, the "
                        f"output does not change (default {RANK_CHUNK_ROWS:,})")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes ranking blocks at the same time (the rule's "
                        "threads); the output does not change (default 1)")
    evidence = parser.add_argument_group("optional evidence (missing: not assessed)")
    evidence.add_argument("--peptides", help="peptides.tsv (self_match column)")
    evidence.add_argument("--expression", help="Salmon quant.sf, Kallisto abundance.tsv, RSEM "
                          "*.results or a gene/transcript TPM table")
    evidence.add_argument("--rna-bam", help="tumor RNA-seq BAM (indexed)")
    evidence.add_argument("--purity", type=float, help="tumor purity in [0, 1]")
    evidence.add_argument("--copy-number", help="copy-number table (per variant or segments)")
    # Optional reference: links transcripts to genes for --expression.
    add_reference_arguments(parser)
    group = parser.add_argument_group("overrides (win over --params)")
    group.add_argument("--max-affinity-nm", type=float, help="binding.max_affinity_nm (500)")
    group.add_argument("--max-percentile", type=float, help="binding.max_percentile (2.0)")
    group.add_argument("--affinity-midpoint-nm", type=float,
                       help="ranking.affinity_midpoint_nm (350)")
    group.add_argument("--affinity-width-nm", type=float, help="ranking.affinity_width_nm (150)")
    group.add_argument("--affinity-log-share", type=float,
                       help="ranking.affinity_log_share (0.2): share of the binding component "
                            "given to the log-IC50 term (docs/scoring.md)")
    for name in COMPONENTS:
        default = DEFAULT_PARAMS["ranking"]["weights"][name]
        group.add_argument(f"--weight-{name}", type=float, dest=f"weight_{name}",
                           help=f"ranking.weights.{name} ({default:g})")
    parser.set_defaults(run=run)


def _params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    raw = copy.deepcopy(load_params(getattr(args, "params", None)))
    binding = dict(raw.get("binding") or {})
    ranking = dict(raw.get("ranking") or {})
    weights = dict(ranking.get("weights") or {})
    for attr, section, key in [
        ("max_affinity_nm", binding, "max_affinity_nm"),
        ("max_percentile", binding, "max_percentile"),
        ("affinity_midpoint_nm", ranking, "affinity_midpoint_nm"),
        ("affinity_width_nm", ranking, "affinity_width_nm"),
        ("affinity_log_share", ranking, "affinity_log_share"),
    ] + [(f"weight_{n}", weights, n) for n in COMPONENTS]:
        value = getattr(args, attr, None)
        if value is not None:
            section[key] = value
    ranking["weights"] = weights
    raw["binding"], raw["ranking"] = binding, ranking
    where = str(getattr(args, "params", None) or "command line")
    params = ranking_params(raw, where=where)
    check_params(params, where=where)
    return params


def _genome_if_given(args: argparse.Namespace) -> Any:
    """The reference when annotation options were passed (for expression), else None."""
    if getattr(args, "gtf", None) is None and getattr(args, "ensembl_release", None) is None:
        return None
    return genome_from_args(args)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank rank``; returns 0."""
    sample = str(args.sample)
    if not sample.strip() or any(ch in sample for ch in "\t\r\n"):
        raise NeoRankError(f"bad sample id {sample!r}", where="--sample",
                           fix="use the sample id of the sample sheet")
    params = _params_from_args(args)
    variants = read_table(args.variants)
    purity = getattr(args, "purity", None)
    if purity is not None and not (0.0 <= purity <= 1.0):
        raise NeoRankError(f"purity {purity!r} is not a fraction in [0, 1]", where="--purity",
                           fix="give purity as a fraction, e.g. 0.6")
    header = table_header(args.predictions)
    peptides = None
    if getattr(args, "peptides", None) and "self_match" not in header:
        # Only the self_match join needs peptides.tsv (predictions.tsv usually has it).
        peptides = read_table(args.peptides, columns=["variant_id", "mutant_peptide",
                                                      "self_match"])
    expression = genome = rna_counts = copy_number = None
    if getattr(args, "expression", None):
        expression = read_expression(args.expression)
        genome = _genome_if_given(args)
    if getattr(args, "rna_bam", None):
        require_columns(variants, ["variant_id", "chrom", "pos", "ref", "alt"],
                        str(args.variants), "annotate stage")
        # Only variants with predictions need counting (not filtered or silent ones).
        wanted: set[str] = set()
        for chunk in table_blocks(args.predictions, ["variant_id"], dtype=str):
            wanted.update(chunk["variant_id"])
        rna_counts = count_variant_reads(
            args.rna_bam, variants[variants["variant_id"].astype(str).isin(wanted)])
    if getattr(args, "copy_number", None):
        copy_number = read_copy_number(args.copy_number)
    counts = rank_file(args.predictions, variants, sample, params, args.out,
                       chunk_rows=getattr(args, "chunk_rows", None) or RANK_CHUNK_ROWS,
                       workers=max(1, getattr(args, "workers", None) or 1),
                       parquet=getattr(args, "out_parquet", None),
                       peptides=peptides, expression=expression, genome=genome,
                       rna_counts=rna_counts, purity=purity, copy_number=copy_number,
                       variants_where=str(args.variants),
                       peptides_where=str(getattr(args, "peptides", None)))
    LOG.info("%s: %d candidate rows in %d block(s), %d binders, tiers: %s -> %s", sample,
             counts["rows"], counts["blocks"], counts["binders"],
             ", ".join(f"{t} {counts['tiers'].get(t, 0)}" for t in TIERS), args.out)
    return 0
