"""``neorank eligibility``: judge the patient-level verdict once, into eligibility.json.

The verdict itself (criteria, caps, notes) is :mod:`neorank.verdict`, the layer the
report, the summary and the cohort page also read eligibility.json through.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from neorank.config import eligibility_params, load_params, presentation_params
from neorank.errors import InputFileError
from neorank.gene_spans import reference_gene_names
from neorank.io import CHUNK_ROWS
from neorank.tables import load_alleles, load_json, read_table, write_text
from neorank.verdict import VARIANT_COLUMNS, candidate_facts, judge

LOG = logging.getLogger(__name__)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eligibility", help="patient-level verdict: is a personalised vaccine plausible?",
        description="Judge the case from variants.tsv, candidates.tsv and alleles.json and "
        "write eligibility.json (read by report, summary and cohort). Research use only.")
    parser.add_argument("--sample", required=True, help="sample id")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--alleles-json", required=True, help="alleles.json")
    models = parser.add_mutually_exclusive_group(required=True)
    models.add_argument("--models-label",
                        help="which models made the predictions: embedded, official or a "
                        "folder's name (the config's mhcflurry.models)")
    models.add_argument("--manifest", help="manifest.json of the run (its models label is used)")
    parser.add_argument("--params", action="append",
                        help="params file(s): JSON or the YAML config (eligibility section)")
    parser.add_argument("--purity", type=float, help="tumour purity in [0, 1], if known")
    parser.add_argument("--expression", help="expression table from the sample sheet, if any")
    parser.add_argument("--effects", help="results/effects/<sample>.tsv (APM gene effects per "
                        "transcript); without it only variants.tsv's top effect is used")
    parser.add_argument("--copy-number", help="copy-number segments from the sample sheet "
                        "(ASCAT, FACETS, Sequenza, PURPLE): HLA LOH from the minor copy number")
    parser.add_argument("--hla-loh", help="allele-specific HLA LOH calls from the sample sheet: "
                        "LOHHLA HLAlossPrediction_CI table, DASH.output.txt or a list of lost "
                        "alleles")
    parser.add_argument("--reference-gtf", help="GTF of the run's reference: tells which APM "
                        "genes the annotation covers (optional)")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help=f"rows of candidates.tsv read per block (default {CHUNK_ROWS:,})")
    parser.add_argument("--out", required=True, help="eligibility.json to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank eligibility``; returns 0."""
    if getattr(args, "models_label", None):
        manifest: dict[str, Any] = {"models": {"label": args.models_label}}
    else:
        manifest = load_json(args.manifest, "manifest.json")
        if not isinstance(manifest, dict):
            raise InputFileError("manifest.json must be a JSON object", where=str(args.manifest),
                                 fix="regenerate it with `neorank manifest`")
    params = eligibility_params(load_params(args.params),
                                where=", ".join(args.params or []) or "defaults")
    raw = load_params(args.params)
    variants = read_table(args.variants, columns=VARIANT_COLUMNS)
    targets, has_presentation = candidate_facts(args.candidates, args.chunk_rows)
    effects = (read_table(args.effects, columns=["variant_id", "gene_name", "transcript_id",
                                                  "effect", "protein_change"])
               if getattr(args, "effects", None) else None)
    gtf = getattr(args, "reference_gtf", None)
    result = judge(variants, targets, has_presentation, load_alleles(args.alleles_json),
                   params, manifest, purity=args.purity, expression=args.expression or None,
                   effects=effects, copy_number=getattr(args, "copy_number", None) or None,
                   hla_loh=getattr(args, "hla_loh", None) or None,
                   presentation=presentation_params(raw, where=", ".join(args.params or [])
                                                    or "defaults"),
                   reference_genes=reference_gene_names(gtf) if gtf else None)
    write_text(args.out, json.dumps(result.to_dict(), sort_keys=True, indent=2) + "\n")
    LOG.info("%s: verdict %s -> %s", args.sample, result.verdict, args.out)
    return 0
