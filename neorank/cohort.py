"""``neorank cohort``: one static HTML page summarising every sample of a run.

Per sample: a link to its report (``<sample>/report.html``, relative to the
page in results/), the eligibility verdict (eligibility.json written by
``neorank eligibility``), its gating criteria, the antigen-presentation evidence
(APM gene losses of function, lost HLA alleles and the verdict change they
caused), and counts named by exactly what they count, with the reports'
definitions: variants with a candidate row and variants with a predicted binder
(aggregated.tsv: the report's funnel), variants and genes with a Pass-tier
candidate (the verdict's own counts, copied from eligibility.json with their
labels), the best candidate and the size of the vaccine design. A bar chart
shows variants with a predicted binder per sample, and two tables list the genes
and the variants (in chromosome order, with gene and protein change) with a
predicted binder in more than one sample. Variant ids are the short ones of the
tables (:func:`neorank.vcf.make_variant_id`; full ids of an older run are
shortened the same way, the full id on hover). Like
the per-sample report the page is self-contained (inline CSS and SVG, no
script), forbids any fetch by its Content-Security-Policy, escapes every
input-derived string and is byte-identical for the same inputs.
"""

from __future__ import annotations

import argparse
import html
import logging
from typing import Any
from urllib.parse import quote

import pandas as pd

from neorank import __version__
from neorank.errors import InputFileError, NeoRankError
from neorank.html import (
    CSS,
    bar_chart,
    css_class,
    escape,
    fmt,
    is_missing,
    scroll_table,
    table_of_contents,
    variant_sort_key,
    variant_td,
)
from neorank.tables import load_json, read_table, write_text

LOG = logging.getLogger(__name__)

#: Column headers of the counts taken from aggregated.tsv, in the report's words.
CANDIDATE_VARIANTS = "Variants with a candidate row"
BINDER_VARIANTS = "Variants with a predicted binder"
BINDER_GENES = "Genes with a predicted binder"
#: eligibility.json criteria whose value and label the samples table copies.
TARGET_CRITERIA = ("binder_variants", "binder_genes")
TARGET_FALLBACK = {"binder_variants": "Variants with a Pass-tier candidate",
                   "binder_genes": "Genes with a Pass-tier candidate"}


def _binders(aggregated: pd.DataFrame) -> pd.DataFrame:
    count = pd.to_numeric(aggregated.get("num_binder_peptides", pd.Series(dtype=float)),
                          errors="coerce").fillna(0)
    return aggregated.loc[count > 0]


def report_href(sample: str) -> str:
    """The sample's report relative to cohort.html (both in results/), escaped for an
    attribute."""
    return escape(f"{quote(str(sample), safe='')}/report.html")


def sample_row(sample: str, eligibility: dict[str, Any], aggregated: pd.DataFrame,
               vaccine: pd.DataFrame) -> dict[str, Any]:
    """The numbers the cohort table shows for one sample."""
    binders = _binders(aggregated)
    genes = binders["gene_name"].dropna().astype(str) if len(binders) else pd.Series(dtype=str)
    best = binders.iloc[0].to_dict() if len(binders) else None
    manufacturable = vaccine["manufacturable"].astype(str).str.lower().eq("true").sum() \
        if len(vaccine) and "manufacturable" in vaccine.columns else 0
    criteria = eligibility.get("criteria") or []
    targets = {c.get("key"): c for c in criteria if c.get("key") in TARGET_CRITERIA}
    return {
        "sample": sample,
        "verdict": eligibility.get("verdict"),
        "summary": eligibility.get("summary"),
        "criteria": criteria,
        "presentation": eligibility.get("presentation") or {},
        "variants_with_candidates": len(aggregated),
        "binder_variants": len(binders),
        "binder_genes": int(genes.nunique()),
        # The verdict's counts (Pass-tier candidates, or binders for an untiered
        # table), as the report shows them: value and label from eligibility.json.
        "targets": {key: (targets[key].get("value"), targets[key].get("label"))
                    for key in targets},
        "best": best,
        "vaccine_peptides": len(vaccine),
        "manufacturable": int(manufacturable),
    }


def presentation_cell(record: dict[str, Any]) -> str:
    """The cohort's "Antigen presentation" cell: APM loss-of-function hits, HLA status
    per allele and the verdict change (eligibility.json ``presentation``)."""
    if not record:
        return "<span class=\"s-not-assessed\">not assessed</span>"
    hits = record.get("apm_hits") or []
    lof = [h for h in hits if h.get("call") == "likely loss of function"]
    other = len(hits) - len(lof)
    parts = [("LoF: " + ", ".join(f"{escape(h.get('gene'))} {escape(h.get('protein_change'))}"
                                  for h in lof)) if lof else "no APM LoF"]
    if other:
        parts.append(f"{other} other APM hit(s)")
    alleles = record.get("hla_alleles") or []
    lost = [a for a in alleles if a.get("status") == "lost"]
    unknown = [a for a in alleles if a.get("status") == "LOH unknown"]
    if lost:
        parts.append("lost: " + ", ".join(f"<span class=\"mono\">{escape(a.get('allele'))}"
                                          "</span>" for a in lost))
    if unknown:
        parts.append("LOH, allele unknown: " + ", ".join(
            sorted({f"HLA-{escape(a.get('locus'))}" for a in unknown})))
    if alleles and all(a.get("status") == "not assessed" for a in alleles):
        parts.append("HLA LOH not assessed")
    change = record.get("verdict_change")
    if change and change != "unchanged":
        parts.append(f"<strong>{escape(change.split(' because')[0])}</strong>")
    return "; ".join(parts)


def _target_label(rows: list[dict[str, Any]], key: str) -> str:
    """The header of a verdict count: its eligibility.json label when every sample that
    has it uses the same one (else the labels joined by " / ")."""
    labels = sorted({str(r["targets"][key][1]) for r in rows
                     if key in r["targets"] and r["targets"][key][1]})
    return " / ".join(labels) if labels else TARGET_FALLBACK[key]


def _count_td(value: Any) -> str:
    if is_missing(value) or isinstance(value, (dict, list)):
        return "<td class=\"n s-not-assessed\">NA</td>"
    return f"<td class=\"n\">{escape(value)}</td>"


def _sample_links(samples: list[str]) -> str:
    return ", ".join(f"<a href=\"{report_href(s)}\">{escape(s)}</a>" for s in samples)


def shared_genes(aggregated: dict[str, pd.DataFrame]) -> list[tuple[str, list[str]]]:
    """Genes with a predicted binder in more than one sample: most samples first, then
    by name."""
    seen: dict[str, set[str]] = {}
    for sample, frame in aggregated.items():
        for value in _binders(frame)["gene_name"].dropna().astype(str):
            seen.setdefault(value, set()).add(sample)
    return sorted(((k, sorted(v)) for k, v in seen.items() if len(v) > 1),
                  key=lambda kv: (-len(kv[1]), kv[0]))


def shared_variants(aggregated: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Variants with a predicted binder in more than one sample, in natural chromosome
    order (chr1, chr2, ..., chr10, ..., chrX, chrY, chrM) and position, with their gene
    and protein change (distinct values across samples joined by " / ")."""
    seen: dict[str, dict[str, Any]] = {}
    for sample, frame in aggregated.items():
        binders = _binders(frame)
        for record in binders.to_dict("records"):
            vid = record.get("variant_id")
            if is_missing(vid):
                continue
            entry = seen.setdefault(str(vid), {"variant_id": str(vid), "samples": set(),
                                               "genes": [], "changes": []})
            entry["samples"].add(sample)
            for key, column in (("genes", "gene_name"), ("changes", "protein_change")):
                value = record.get(column)
                if not is_missing(value) and str(value) not in entry[key]:
                    entry[key].append(str(value))
    shared = [dict(e, samples=sorted(e["samples"])) for e in seen.values()
              if len(e["samples"]) > 1]
    return sorted(shared, key=lambda e: variant_sort_key(e["variant_id"]))


def render_cohort(rows: list[dict[str, Any]], aggregated: dict[str, pd.DataFrame]) -> str:
    """Render the cohort page from :func:`sample_row` results."""
    body = []
    for row in rows:
        failed = [c for c in row["criteria"] if c.get("status") == "fail" and c.get("cap")]
        best = row["best"]
        best_text = (f"<span class=\"mono\">{escape(best.get('best_peptide'))}</span> "
                     f"{escape(best.get('gene_name'))} {escape(best.get('protein_change'))} "
                     f"<span class=\"mono\">{escape(best.get('best_allele'))}</span> "
                     f"{fmt(best.get('mutant_affinity_nm'), '.1f')} nM"
                     if best else "&mdash;")
        targets = row["targets"]
        body.append(
            "<tr>"
            f"<td class=\"mono\"><a href=\"{report_href(row['sample'])}\">"
            f"{escape(row['sample'])}</a></td>"
            f"<td><span class=\"verdict v-{css_class(str(row['verdict']))}\" "
            f"style=\"font-size:13px\">{escape(row['verdict'])}</span></td>"
            f"<td>{'; '.join(escape(c.get('label')) + ': ' + escape(c.get('display')) for c in failed) or 'none'}</td>"
            f"<td>{presentation_cell(row.get('presentation') or {})}</td>"
            f"<td class=\"n\">{row['variants_with_candidates']}</td>"
            f"<td class=\"n\">{row['binder_variants']}</td>"
            f"<td class=\"n\">{row['binder_genes']}</td>"
            + "".join(_count_td(targets[key][0] if key in targets else None)
                      for key in TARGET_CRITERIA)
            + f"<td>{best_text}</td>"
            f"<td class=\"n\">{row['vaccine_peptides']} ({row['manufacturable']} "
            "manufacturable)</td></tr>")
    chart = bar_chart([(r["sample"], r["binder_variants"]) for r in rows],
                      "Variants with a predicted binder per sample", y_title="sample",
                      x_title="variants with a predicted binder")
    genes = shared_genes(aggregated)
    if genes:
        lines = "\n".join(f"<tr><td>{escape(k)}</td><td class=\"n\">{len(v)}</td>"
                          f"<td>{_sample_links(v)}</td></tr>" for k, v in genes)
        genes_html = scroll_table(
            "<table>\n<thead><tr><th>Gene</th><th class=\"n\">Samples</th><th>Which</th></tr>"
            f"</thead>\n<tbody>\n{lines}\n</tbody>\n</table>") + "\n"
    else:
        genes_html = "<p>No gene with a predicted binder in more than one sample.</p>\n"
    variants = shared_variants(aggregated)
    if variants:
        lines = "\n".join(
            "<tr>" + variant_td(v["variant_id"])
            + f"<td>{escape(' / '.join(v['genes']) or None)}</td>"
            f"<td>{escape(' / '.join(v['changes']) or None)}</td>"
            f"<td class=\"n\">{len(v['samples'])}</td><td>{_sample_links(v['samples'])}</td>"
            "</tr>" for v in variants)
        variants_html = scroll_table(
            "<table>\n<thead><tr><th>Variant</th><th>Gene</th><th>Protein change</th>"
            "<th class=\"n\">Samples</th><th>Which</th></tr></thead>\n<tbody>\n"
            f"{lines}\n</tbody>\n</table>") + "\n"
    else:
        variants_html = "<p>No variant with a predicted binder in more than one sample.</p>\n"

    samples_table = scroll_table(
        "<table class=\"sticky-first\">\n<thead><tr>"
        "<th>Sample (report)</th><th>Verdict</th><th class=\"wrap\">Failed gating criteria</th>"
        "<th class=\"wrap\">Antigen presentation</th>"
        f"<th class=\"n wrap\">{html.escape(CANDIDATE_VARIANTS)}</th>"
        f"<th class=\"n wrap\">{html.escape(BINDER_VARIANTS)}</th>"
        f"<th class=\"n wrap\">{html.escape(BINDER_GENES)}</th>"
        + "".join(f"<th class=\"n wrap\">{escape(_target_label(rows, key))}</th>"
                  for key in TARGET_CRITERIA)
        + "<th>Best candidate</th><th class=\"n wrap\">Vaccine long peptides</th></tr>"
        "</thead>\n"
        "<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>")
    content = (
        "<section id=\"samples\">\n<h2>Samples</h2>\n" + samples_table + "\n"
        "<p class=\"sub\">Counts use the reports' definitions. "
        f"<strong>{html.escape(CANDIDATE_VARIANTS)}</strong>: variants with at least one "
        "peptide &times; allele prediction in candidates.tsv (rows of aggregated.tsv). "
        f"<strong>{html.escape(BINDER_VARIANTS)}</strong>: of those, variants with at least one "
        "binder row (the report's funnel, &ldquo;With a predicted binder&rdquo;); "
        f"<strong>{html.escape(BINDER_GENES)}</strong>: their distinct genes (the report's "
        "&ldquo;Binders per gene&rdquo;). "
        "<strong>Variants / genes with a Pass-tier candidate</strong>: the verdict's counts "
        "from eligibility.json, under their own label (a binder that fails no assessed "
        "criterion; binders when candidates.tsv has no tiers); NA when the verdict has no "
        "such count. The sample name links to its report.</p>\n</section>\n"
        "<section id=\"cohort-chart\">\n<h2>Variants with a predicted binder per sample</h2>\n"
        "<figure>" + chart + "</figure>\n</section>\n"
        "<section id=\"shared\">\n<h2>Shared across samples</h2>\n"
        "<p class=\"sub\">Genes and variants with a predicted binder in more than one sample; "
        "variants in chromosome order.</p>\n"
        "<h3>Genes</h3>\n" + genes_html + "<h3>Variants</h3>\n" + variants_html
        + "</section>\n")

    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; " \
          "form-action 'none'"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"robots\" content=\"noindex\">\n"
        "<title>NeoRank cohort summary (research use only)</title>\n"
        f"<style>\n{CSS}\n</style>\n</head>\n<body>\n<main>\n"
        f"<header>\n<h1>NeoRank cohort summary: {len(rows)} sample(s)</h1>\n"
        "<div class=\"box disclaimer\"><strong>Research use only.</strong> Computational "
        "predictions, not clinical recommendations; an immune response does not guarantee "
        "clinical benefit. Each sample's report.html has the evidence behind its row.</div>\n"
        "</header>\n" + table_of_contents(content) + content
        + f"<footer>Generated by NeoRank {html.escape(__version__)}. Research use only.</footer>\n"
        "</main>\n</body>\n</html>\n")


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank cohort``."""
    parser = subparsers.add_parser(
        "cohort", help="cohort summary HTML across samples",
        description="One self-contained page: verdict, candidates and vaccine design size per "
                    "sample, and genes/variants shared between samples.")
    parser.add_argument("--samples", nargs="+", required=True, help="sample ids, in order")
    parser.add_argument("--eligibility", nargs="+", required=True,
                        help="eligibility.json per sample (same order)")
    parser.add_argument("--aggregated", nargs="+", required=True,
                        help="aggregated.tsv per sample (same order)")
    parser.add_argument("--vaccine-peptides", nargs="+", required=True,
                        help="vaccine_peptides.tsv per sample (same order)")
    parser.add_argument("--out", required=True, help="cohort.html")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank cohort``; returns 0."""
    n = len(args.samples)
    for name in ("eligibility", "aggregated", "vaccine_peptides"):
        if len(getattr(args, name)) != n:
            raise NeoRankError(f"{len(getattr(args, name))} --{name.replace('_', '-')} file(s) "
                               f"for {n} sample(s)", where="neorank cohort",
                               fix="give one file per sample, in the order of --samples")
    rows, tables = [], {}
    for sample, elig_path, agg_path, vac_path in zip(args.samples, args.eligibility,
                                                     args.aggregated, args.vaccine_peptides,
                                                     strict=True):
        eligibility = load_json(elig_path, "eligibility.json")
        if not isinstance(eligibility, dict) or "verdict" not in eligibility:
            raise InputFileError("not an eligibility verdict (no 'verdict' key)",
                                 where=str(elig_path),
                                 fix="pass the eligibility.json written by `neorank report`")
        aggregated = read_table(agg_path)
        tables[sample] = aggregated
        rows.append(sample_row(sample, eligibility, aggregated, read_table(vac_path)))
    write_text(args.out, render_cohort(rows, tables))
    LOG.info("cohort: %d samples -> %s", n, args.out)
    return 0
