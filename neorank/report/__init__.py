"""``neorank report``: one static, self-contained HTML report per sample.

The file has inline CSS, a small inline script (sortable and filterable tables)
and an inline SVG chart; it references no external resource, and a
Content-Security-Policy in the page forbids any fetch when it is opened. Every
string that comes from an input file or argument is HTML-escaped. The same
inputs give byte-identical output: the only time stamp is the ``created`` value
copied from manifest.json.

Sections: header and research-use disclaimer; table of contents (links to
every section); DEMO-GRADE banner (embedded models) and affinity-only note;
eligibility verdict and criteria (:mod:`neorank.verdict`; informational ones
below threshold are muted, not failures); antigen presentation; input caveats;
variant funnel; top binders (default 50; sortable, filterable; key columns
first and sticky); plots (inline SVG with axis titles and a legend: best IC50
against tumor VAF per variant, per-allele contributions); binders per gene
(SVG); HLA alleles; vaccine design (:mod:`neorank.vaccine`: long peptides, mRNA
order, junctional binders); per-variant drill-down (``<details>``: peptides x
alleles); per-variant summary; provenance. Every table scrolls inside its own
wrapper (the page never scrolls sideways, from 390 px wide); variant ids are the
short ones of every table (:func:`neorank.vcf.make_variant_id`; a full
``chrom:pos:REF>ALT`` from an older run is shortened the same way, the full id on
hover, :func:`neorank.html.display_variant_id`).

``neorank report`` reads peptides.tsv and candidates.tsv in blocks
(``--chunk-rows``) and keeps only what the sections show or count (see
:class:`CandidateDigest`), so its memory does not grow with the tables (tens of
millions of candidate rows at 100k variants); the page does not depend on the
block size.

Modules: :mod:`~neorank.report.digest` (what is kept of the candidates table),
:mod:`~neorank.report.sections` and :mod:`~neorank.report.plots` (the sections),
:mod:`~neorank.report.assets` (the inline script), :mod:`~neorank.report.render`
(the page); escaping, cells, the bar chart and the style sheet are the HTML layer
(:mod:`neorank.html`), shared with ``neorank cohort``. This module has the
command line (:func:`add_subcommand`, :func:`run`).
"""

from __future__ import annotations

import argparse
import logging

from neorank.config import DEFAULT_MAX_VARIANT_ROWS, DEFAULT_TOP_N, load_params
from neorank.errors import InputFileError, NeoRankError
from neorank.io import CHUNK_ROWS
from neorank.report.digest import CandidateDigest, digest_candidates
from neorank.report.render import preflight_warnings, render_report_from_files
from neorank.tables import load_alleles, load_json, read_table, table_header, write_text
from neorank.verdict import read_eligibility

__all__ = ["CHUNK_ROWS", "CandidateDigest", "NeoRankError", "add_subcommand",
           "digest_candidates", "render_report_from_files", "run"]

LOG = logging.getLogger(__name__)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank report``."""
    parser = subparsers.add_parser(
        "report", help="write the static HTML report (and the eligibility verdict)",
        description="Render one self-contained HTML report: provenance, vaccine-plausibility "
        "verdict, variant funnel, alleles, top candidates and per-variant summary.")
    parser.add_argument("--sample", required=True, help="sample id (as in the sample sheet)")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--peptides", required=True, help="peptides.tsv")
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--manifest", required=True, help="manifest.json")
    parser.add_argument("--alleles-json", required=True, help="alleles.json")
    parser.add_argument("--params", help="params JSON (binding, ranking, eligibility, report)")
    parser.add_argument("--purity", type=float, help="tumour purity in [0, 1], if known")
    parser.add_argument("--expression", help="expression table from the sample sheet, if any")
    parser.add_argument("--top-n", type=int, help="binder rows in the top table (default: "
                        f"report.top_n or {DEFAULT_TOP_N})")
    parser.add_argument("--max-variant-rows", type=int, default=DEFAULT_MAX_VARIANT_ROWS,
                        help="variants listed in the per-variant summary, the list of "
                        "binder variants left out of the vaccine design and the IC50/VAF "
                        "scatter; beyond it the best-ranked are shown and the page names "
                        f"the full table (default {DEFAULT_MAX_VARIANT_ROWS:,})")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help="rows of peptides.tsv / candidates.tsv read per block; memory "
                        f"grows with it, the report does not change (default {CHUNK_ROWS:,})")
    parser.add_argument("--eligibility-json",
                        help="eligibility.json written by `neorank eligibility` (the workflow "
                        "passes it); omitted: the verdict is judged here with the same code")
    parser.add_argument("--preflight", help="the sample's preflight report (results/preflight/"
                        "<sample>.tsv): its warnings become the report's input caveats")
    parser.add_argument("--vaccine-peptides", help="vaccine_peptides.tsv (neorank vaccine)")
    parser.add_argument("--vaccine-long-peptides",
                        help="the long-peptide table of every binder variant (neorank vaccine "
                        "--out-long-peptides): lists the variants left out of the designs, why")
    parser.add_argument("--vaccine-mrna", help="vaccine_mrna.tsv")
    parser.add_argument("--vaccine-junctions", help="vaccine_junctions.tsv")
    parser.add_argument("--out", required=True, help="report.html to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank report``; returns 0."""
    sample = str(args.sample)
    if not sample.strip():
        raise NeoRankError("empty sample id", where="--sample", fix="pass the sample id")
    params = load_params(getattr(args, "params", None))
    top_n = getattr(args, "top_n", None)
    if top_n is None:
        top_n = (params.get("report") or {}).get("top_n", DEFAULT_TOP_N)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise NeoRankError(f"top_n {top_n!r} is not a whole number >= 1",
                           where="--top-n / report.top_n", fix="use e.g. 50")
    max_rows = getattr(args, "max_variant_rows", None) or DEFAULT_MAX_VARIANT_ROWS
    purity = getattr(args, "purity", None)
    manifest = load_json(args.manifest, "manifest.json")
    if not isinstance(manifest, dict):
        raise InputFileError("manifest.json must be a JSON object", where=str(args.manifest),
                             fix="regenerate it with `neorank manifest`")
    if manifest.get("sample") not in (None, sample):
        raise InputFileError(
            f"manifest is for sample {manifest.get('sample')!r}, not {sample!r}",
            where=str(args.manifest), fix="pass the manifest.json of the same sample")
    alleles = load_alleles(args.alleles_json)
    variants = read_table(args.variants)
    for path in (args.peptides, args.candidates):
        table_header(path)  # missing or unreadable: fail before any work
    vaccine = None
    paths = [getattr(args, f"vaccine_{k}", None) for k in ("peptides", "mrna", "junctions")]
    if any(paths):
        if not all(paths):
            raise NeoRankError("give all of --vaccine-peptides, --vaccine-mrna and "
                               "--vaccine-junctions, or none", where="neorank report",
                               fix="pass the three tables written by `neorank vaccine`")
        vaccine = dict(zip(("peptides", "mrna", "junctions"),
                           (read_table(p) for p in paths), strict=True))
        if getattr(args, "vaccine_long_peptides", None):
            vaccine["long_peptides"] = read_table(args.vaccine_long_peptides)
    page, result = render_report_from_files(
        sample, variants, args.peptides, args.candidates, manifest, alleles, params,
        chunk_rows=getattr(args, "chunk_rows", None) or CHUNK_ROWS, top_n=top_n, purity=purity,
        expression=getattr(args, "expression", None) or None, max_variant_rows=max_rows,
        vaccine=vaccine,
        caveats=(preflight_warnings(args.preflight) if getattr(args, "preflight", None)
                 else None),
        eligibility=(read_eligibility(args.eligibility_json)
                                      if getattr(args, "eligibility_json", None) else None))
    write_text(args.out, page)
    LOG.info("%s: verdict %s -> %s", sample, result.verdict, args.out)
    return 0


