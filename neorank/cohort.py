"""``neorank cohort``: one static HTML page summarising every sample of a run.

Per sample: the eligibility verdict (eligibility.json written by ``neorank
report``), its gating criteria, the antigen-presentation evidence (APM gene
losses of function, lost HLA alleles and the verdict change they caused), variants with a candidate and with a binder,
genes with a binder, the best candidate and the size of the vaccine design. A
bar chart shows binder variants per sample, and two tables list the genes and
the variants with binders in more than one sample. Like the per-sample report
the page is self-contained (inline CSS and SVG, no script), forbids any fetch
by its Content-Security-Policy, escapes every input-derived string and is
byte-identical for the same inputs.
"""

from __future__ import annotations

import argparse
import html
import logging
from typing import Any

import pandas as pd

from neorank import __version__
from neorank.errors import InputFileError, NeoRankError
from neorank.html import CSS, bar_chart, css_class, escape, fmt
from neorank.tables import load_json, read_table, write_text

LOG = logging.getLogger(__name__)


def _binders(aggregated: pd.DataFrame) -> pd.DataFrame:
    count = pd.to_numeric(aggregated.get("num_binder_peptides", pd.Series(dtype=float)),
                          errors="coerce").fillna(0)
    return aggregated.loc[count > 0]


def sample_row(sample: str, eligibility: dict[str, Any], aggregated: pd.DataFrame,
               vaccine: pd.DataFrame) -> dict[str, Any]:
    """The numbers the cohort table shows for one sample."""
    binders = _binders(aggregated)
    genes = binders["gene_name"].dropna().astype(str) if len(binders) else pd.Series(dtype=str)
    best = binders.iloc[0].to_dict() if len(binders) else None
    manufacturable = vaccine["manufacturable"].astype(str).str.lower().eq("true").sum() \
        if len(vaccine) and "manufacturable" in vaccine.columns else 0
    return {
        "sample": sample,
        "verdict": eligibility.get("verdict"),
        "summary": eligibility.get("summary"),
        "criteria": eligibility.get("criteria") or [],
        "presentation": eligibility.get("presentation") or {},
        "variants_with_candidates": len(aggregated),
        "binder_variants": len(binders),
        "binder_genes": int(genes.nunique()),
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
        body.append(
            "<tr>"
            f"<td class=\"mono\">{escape(row['sample'])}</td>"
            f"<td><span class=\"verdict v-{css_class(str(row['verdict']))}\" "
            f"style=\"font-size:13px\">{escape(row['verdict'])}</span></td>"
            f"<td>{'; '.join(escape(c.get('label')) + ': ' + escape(c.get('display')) for c in failed) or 'none'}</td>"
            f"<td>{presentation_cell(row.get('presentation') or {})}</td>"
            f"<td class=\"n\">{row['variants_with_candidates']}</td>"
            f"<td class=\"n\">{row['binder_variants']}</td>"
            f"<td class=\"n\">{row['binder_genes']}</td>"
            f"<td>{best_text}</td>"
            f"<td class=\"n\">{row['vaccine_peptides']} ({row['manufacturable']} "
            "manufacturable)</td></tr>")
    chart = bar_chart([(r["sample"], r["binder_variants"]) for r in rows],
                      "Binder variants per sample")

    def shared(column: str) -> list[tuple[str, list[str]]]:
        seen: dict[str, set[str]] = {}
        for sample, frame in aggregated.items():
            for value in _binders(frame)[column].dropna().astype(str):
                seen.setdefault(value, set()).add(sample)
        return sorted(((k, sorted(v)) for k, v in seen.items() if len(v) > 1),
                      key=lambda kv: (-len(kv[1]), kv[0]))

    def shared_table(items: list[tuple[str, list[str]]], label: str, mono: bool) -> str:
        if not items:
            return f"<p>No {html.escape(label.lower())} with a binder in more than one sample.</p>\n"
        cls = " class=\"mono\"" if mono else ""
        lines = "\n".join(f"<tr><td{cls}>{escape(k)}</td><td class=\"n\">{len(v)}</td>"
                          f"<td>{', '.join(escape(s) for s in v)}</td></tr>" for k, v in items)
        return (f"<table>\n<thead><tr><th>{html.escape(label)}</th><th class=\"n\">Samples</th>"
                f"<th>Which</th></tr></thead>\n<tbody>\n{lines}\n</tbody>\n</table>\n")

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
        "</header>\n"
        "<section id=\"samples\">\n<h2>Samples</h2>\n<div class=\"scroll\"><table>\n<thead><tr>"
        "<th>Sample</th><th>Verdict</th><th>Failed gating criteria</th>"
        "<th>Antigen presentation</th>"
        "<th class=\"n\">Variants with candidates</th><th class=\"n\">Binder variants</th>"
        "<th class=\"n\">Binder genes</th><th>Best candidate</th>"
        "<th class=\"n\">Vaccine long peptides</th></tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table></div>\n</section>\n"
        "<section id=\"cohort-chart\">\n<h2>Binder variants per sample</h2>\n" + chart
        + "\n</section>\n<section id=\"shared\">\n<h2>Shared across samples</h2>\n"
        "<h3>Genes</h3>\n" + shared_table(shared("gene_name"), "Gene", False)
        + "<h3>Variants</h3>\n" + shared_table(shared("variant_id"), "Variant", True)
        + "</section>\n"
        f"<footer>Generated by NeoRank {html.escape(__version__)}. Research use only.</footer>\n"
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
