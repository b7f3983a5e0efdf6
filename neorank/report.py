"""``neorank report``: one static, self-contained HTML report per sample.

The file has inline CSS, a small inline script (sortable and filterable tables)
and an inline SVG chart; it references no external resource, and a
Content-Security-Policy in the page forbids any fetch when it is opened. Every
string that comes from an input file or argument is HTML-escaped. The same
inputs give byte-identical output: the only time stamp is the ``created`` value
copied from manifest.json.

Sections: header and research-use disclaimer; DEMO-GRADE banner (embedded
models) and affinity-only note; provenance; eligibility verdict and criteria
(:mod:`neorank.eligibility`); variant funnel; HLA alleles; plots (inline SVG:
best IC50 against tumor VAF per variant, per-allele contributions); top binders
(default 50; sortable, filterable); binders per gene (SVG); vaccine design
(:mod:`neorank.vaccine`: long peptides, mRNA order, junctional binders);
per-variant drill-down (``<details>``: peptides x alleles); per-variant summary.

``neorank report`` reads peptides.tsv and candidates.tsv in blocks
(``--chunk-rows``) and keeps only what the sections show or count (see
:class:`CandidateDigest`), so its memory does not grow with the tables (tens of
millions of candidate rows at 100k variants); the page does not depend on the
block size.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from neorank import __version__
from neorank.config import (
    DEFAULT_MAX_VARIANT_ROWS,
    DEFAULT_TOP_N,
    REPORT_DEFAULTS,
    load_params,
    ranking_params,
)
from neorank.eligibility import (
    DISCLAIMERS,
    PROTEIN_CHANGING_STATUSES,
    Eligibility,
    assess,
    binder_mask,
    eligibility_params,
)
from neorank.errors import InputFileError, NeoRankError
from neorank.io import CHUNK_ROWS
from neorank.tables import (
    load_alleles,
    load_json,
    read_table,
    table_blocks,
    table_header,
    write_text,
)

LOG = logging.getLogger(__name__)

HEADER_DISCLAIMER = (
    "This report summarises computational predictions for research. It is not a clinical "
    "recommendation, diagnosis or treatment decision, and it has not been validated for "
    "clinical use.")
CHART_GENES = 20
STATUS_ORDER = ("filtered", "outside_reference", "non_coding", "silent", "no_peptides",
                "protein_changing")
REQUIRED_CANDIDATE_COLUMNS = ["rank", "candidate_id", "binder", "variant_id", "gene_name",
                              "protein_change", "mutant_peptide", "allele", "mutant_affinity_nm"]
#: The candidates.tsv columns any section shows or counts; the others are never read.
CANDIDATE_COLUMNS = REQUIRED_CANDIDATE_COLUMNS + [
    "mutant_percentile", "wildtype_affinity_nm", "agretopicity", "tumor_vaf", "tier", "score",
    "score_components", "mutation_positions", "wildtype_peptide", "presentation_score",
    "predictor", "pass_expression", "pass_rna_support"]
#: Text columns among them, read as text in every block: a block must not turn them into
#: numbers (mutation positions "9" next to "1;8") or mix types (a block of NA only).
TEXT_COLUMNS = ("candidate_id", "variant_id", "gene_name", "protein_change", "mutant_peptide",
                "wildtype_peptide", "mutation_positions", "allele", "tier", "score_components",
                "predictor", "pass_expression", "pass_rna_support")
#: Display columns filled with NA when a candidates table lacks them.
PLACEHOLDER_COLUMNS = ("mutant_percentile", "wildtype_affinity_nm", "agretopicity", "tumor_vaf",
                       "tier", "score", "score_components")

CSS = """
:root { --fg: #1d232b; --muted: #5b6673; --line: #d5dbe2; --bg: #ffffff; --soft: #f3f5f8;
  --ok: #1e7b3c; --warn: #9a6200; --bad: #a3262e; --accent: #2f5f9e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.box { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.disclaimer { background: var(--soft); }
.demo { border: 3px solid var(--bad); background: #fdeced; color: var(--bad);
  font-weight: 700; }
.demo p { font-weight: 400; color: var(--fg); margin: 4px 0 0; }
.note { border-left: 4px solid var(--warn); background: #fff7e6; }
.verdict { display: inline-block; font-size: 20px; font-weight: 700; padding: 4px 12px;
  border-radius: 4px; color: #fff; text-transform: uppercase; letter-spacing: .03em; }
.v-eligible { background: var(--ok); } .v-borderline { background: var(--warn); }
.v-not-supported { background: var(--bad); }
.s-pass { color: var(--ok); font-weight: 600; } .s-fail { color: var(--bad); font-weight: 600; }
.s-not-assessed { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left;
  vertical-align: top; }
th { background: var(--soft); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
th button { all: unset; cursor: pointer; }
th button::after { content: " \\2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \\2191"; }
th[aria-sort="descending"] button::after { content: " \\2193"; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
mark { background: #ffe08a; padding: 0; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.prov dt { color: var(--muted); } dl.prov dd { margin: 0; overflow-wrap: anywhere; }
details { border: 1px solid var(--line); border-radius: 4px; margin: 4px 0; padding: 2px 8px; }
details > summary { cursor: pointer; padding: 2px 0; }
td.hit { font-weight: 700; color: var(--ok); }
.seq { font-family: ui-monospace, Menlo, Consolas, monospace; overflow-wrap: anywhere;
  word-break: break-all; background: var(--soft); padding: 6px 8px; border-radius: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; } .plots figcaption { color: var(--muted); font-size: 12px; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; }
.filter { margin: 6px 0; padding: 4px 8px; width: 320px; max-width: 100%; }
.count { color: var(--muted); margin-left: 8px; }
.scroll { overflow-x: auto; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media print { .filter, th button::after { display: none; } }
""".strip()

JS = """
(function () {
  "use strict";
  function value(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (!numeric) { return raw.toLowerCase(); }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }
  function sortBy(table, header, index) {
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row, position) {
      return { row: row, key: value(row, index, numeric), position: position };
    });
    keys.sort(function (a, b) {
      if (a.key === b.key) { return a.position - b.position; }
      if (a.key === null) { return 1; }
      if (b.key === null) { return -1; }
      var order = a.key < b.key ? -1 : 1;
      return ascending ? order : -order;
    });
    keys.forEach(function (item) { body.appendChild(item.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var button = header.querySelector("button");
      if (button) {
        button.addEventListener("click", function () { sortBy(table, header, index); });
      }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filter]"), function (input) {
    var id = input.getAttribute("data-filter");
    var table = document.getElementById(id);
    var counter = document.getElementById(id + "-count");
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var hit = query === "" || row.textContent.toLowerCase().indexOf(query) !== -1;
        row.hidden = !hit;
        if (hit) { shown += 1; }
      });
      if (counter) { counter.textContent = shown + " of " + table.tBodies[0].rows.length + " shown"; }
    });
  });
  document.body.setAttribute("data-ready", "true");
}());
""".strip()


# --------------------------------------------------------------------------- formatting


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _e(value: Any, na: str = "NA") -> str:
    """Escape any value for HTML text or attribute use (missing -> ``na``)."""
    if _missing(value):
        return html.escape(na)
    return html.escape(str(value), quote=True)


def _float(value: Any) -> float | None:
    if _missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fmt(value: Any, spec: str) -> str:
    number = _float(value)
    return "NA" if number is None else format(number, spec)


def _num_td(value: Any, spec: str, title: str | None = None) -> str:
    """Numeric cell: formatted text plus an exact ``data-v`` sort key."""
    number = _float(value)
    attrs = ' class="n"'
    if number is not None:
        attrs += f' data-v="{number:.12g}"'
    if title:
        attrs += f' title="{_e(title)}"'
    return f"<td{attrs}>{_fmt(value, spec)}</td>"


def _td(value: Any, cls: str | None = None, na: str = "NA") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{_e(value, na)}</td>"


def _th(label: str, numeric: bool = False, sortable: bool = True) -> str:
    cls = ' class="n"' if numeric else ""
    kind = ' data-type="num"' if numeric else ' data-type="text"'
    if not sortable:
        return f"<th{cls}>{html.escape(label)}</th>"
    return (f'<th{cls}{kind} aria-sort="none"><button type="button">{html.escape(label)}'
            "</button></th>")


def _peptide_html(peptide: Any, positions: Any) -> str:
    """The peptide with mutated residues (1-based ``;``-joined positions) in ``<mark>``."""
    if _missing(peptide):
        return "NA"
    text = str(peptide)
    marked: set[int] = set()
    if not _missing(positions):
        for part in str(positions).split(";"):
            part = part.strip()
            if part.isdigit():
                marked.add(int(part))
    return "".join(f"<mark>{html.escape(ch)}</mark>" if i in marked else html.escape(ch)
                   for i, ch in enumerate(text, start=1))


def _css_class(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


# --------------------------------------------------------------------------- inputs


def _require(frame: pd.DataFrame | list[str], columns: list[str], where: str) -> None:
    """``frame``: a table or its header."""
    header = frame.columns if isinstance(frame, pd.DataFrame) else frame
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where=where,
                             fix="pass the NeoRank table (see docs/tables.md)")


# --------------------------------------------------------------------------- sections


def _header(sample: str) -> str:
    disclaimer = html.escape(HEADER_DISCLAIMER + " " + " ".join(DISCLAIMERS[1:]))
    return (
        "<header>\n"
        f"<h1>NeoRank neoantigen report: <span class=\"mono\">{_e(sample)}</span></h1>\n"
        "<p class=\"sub\">Somatic variants, predicted MHC class I binders and a "
        "vaccine-plausibility verdict.</p>\n"
        f"<div class=\"box disclaimer\"><strong>Research use only.</strong> {disclaimer}</div>\n"
        "</header>\n"
    )


def _banners(models_label: str, affinity_only: bool) -> str:
    parts = []
    if models_label == "embedded":
        parts.append(
            "<div class=\"box demo\" role=\"alert\">DEMO-GRADE MODELS: predictions come from "
            "NeoRank's embedded MHCflurry models.<p>They are compact, trained on a small public "
            "data set and affinity-only. Use this report to see what the pipeline produces, "
            "not to choose vaccine targets.</p></div>\n")
    if affinity_only:
        parts.append(
            "<div class=\"box note\"><strong>Affinity-only (no presentation/processing).</strong> "
            "Candidates are ranked on predicted MHC binding affinity; antigen processing and "
            "presentation were not predicted.</div>\n")
    return "".join(parts)


def _provenance(manifest: dict[str, Any], predictors: list[str]) -> str:
    versions = manifest.get("versions") or {}
    models = manifest.get("models") or {}
    reference = manifest.get("reference") or {}

    def item(label: str, value: Any, mono: bool = False) -> str:
        cls = ' class="mono"' if mono else ""
        return f"<dt>{html.escape(label)}</dt><dd{cls}>{_e(value, 'not recorded')}</dd>"

    rows = [
        item("NeoRank", versions.get("neorank")),
        item("MHCflurry", versions.get("mhcflurry")),
        item("varcode", versions.get("varcode")),
        item("pyensembl", versions.get("pyensembl")),
        item("Models", models.get("label")),
        item("Models sha256", models.get("sha256"), mono=True),
        item("Predictor", "; ".join(predictors) if predictors else None),
        item("Ensembl release", reference.get("ensembl_release")),
        item("Reference", reference.get("name")),
        item("Config sha256", manifest.get("config_sha256"), mono=True),
        item("Run created (UTC)", manifest.get("created")),
    ]
    return ("<section id=\"provenance\">\n<h2>Provenance</h2>\n<dl class=\"prov\">\n"
            + "\n".join(rows) + "\n</dl>\n</section>\n")


def _eligibility(result: Eligibility) -> str:
    rows = []
    for c in result.criteria:
        effect = "informational" if c.cap is None else f"allows {c.cap}"
        if c.status == "not assessed":
            effect = "not counted"
        rows.append(
            "<tr>"
            f"<td>{html.escape(c.label)}</td>"
            f"<td>{_e(c.display)}</td>"
            f"<td>{_e(c.threshold)}</td>"
            f"<td class=\"s-{_css_class(c.status)}\">{html.escape(c.status)}</td>"
            f"<td>{html.escape(effect)}</td>"
            f"<td>{_e(c.note)}</td>"
            "</tr>")
    notes = "".join(f"<li>{_e(note)}</li>" for note in result.notes)
    return (
        "<section id=\"eligibility\">\n<h2>Vaccine plausibility</h2>\n<div class=\"box\">\n"
        f"<p><span class=\"verdict v-{_css_class(result.verdict)}\">{_e(result.verdict)}</span>"
        "</p>\n"
        f"<p>{_e(result.summary)}</p>\n"
        "<table>\n<thead><tr><th>Criterion</th><th>Value</th><th>Threshold</th><th>Status</th>"
        "<th>Effect on verdict</th><th>Why</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>\n"
        "<p class=\"sub\">The verdict is the lowest level allowed by any gating criterion "
        "(not supported &lt; borderline &lt; eligible); criteria not assessed are missing "
        "evidence, not failures.</p>\n"
        f"<ul>{notes}</ul>\n</div>\n</section>\n")


def _funnel(variants: pd.DataFrame, peptide_variants: int, binder_variants: int) -> str:
    status = variants["status"].astype(str)
    steps = [
        ("Input variant alleles", variants["variant_id"].nunique()),
        ("Somatic (passed filters)", variants.loc[status != "filtered", "variant_id"].nunique()),
        ("Protein-changing", variants.loc[status.isin(PROTEIN_CHANGING_STATUSES),
                                          "variant_id"].nunique()),
        ("With mutant peptides", peptide_variants),
        ("With a predicted binder", binder_variants),
    ]
    top = max(steps[0][1], 1)
    rows = []
    for label, count in steps:
        width = round(300 * count / top)
        rows.append(f"<tr><td>{html.escape(label)}</td><td class=\"n\">{count}</td>"
                    f"<td><span class=\"bar\" style=\"width:{width}px\"></span></td></tr>")
    counts = status.value_counts()
    order = [s for s in STATUS_ORDER if s in counts.index]
    order += sorted(s for s in counts.index if s not in STATUS_ORDER)
    breakdown = ", ".join(f"{_e(s)}: {int(counts[s])}" for s in order)
    return (
        "<section id=\"funnel\">\n<h2>Variant funnel</h2>\n"
        "<table style=\"width:auto\">\n<thead><tr><th>Step</th><th class=\"n\">Variants</th>"
        "<th></th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        f"<p class=\"sub\">Final status of every input variant: {breakdown or 'none'}.</p>\n"
        "</section>\n")


def _alleles(alleles: list[dict[str, Any]], total: Counter, hits: Counter) -> str:
    """``total``, ``hits``: candidate rows and binder rows per allele."""
    explain = {
        "supported": "training data for this allele",
        "extrapolated": "no training data; predicted from its pseudosequence (less reliable)",
        "null_skipped": "null (non-expressed) allele; not predicted",
    }
    rows = []
    for entry in alleles:
        allele = entry.get("allele")
        rows.append(
            "<tr>"
            f"<td class=\"mono\">{_e(entry.get('input'))}</td>"
            f"<td class=\"mono\">{_e(allele, '—')}</td>"
            f"<td>{_e(entry.get('status'))}</td>"
            f"<td class=\"n\">{int(total.get(allele, 0)) if allele is not None else 0}</td>"
            f"<td class=\"n\">{int(hits.get(allele, 0)) if allele is not None else 0}</td>"
            f"<td>{_e(explain.get(entry.get('status'), ''))}</td>"
            "</tr>")
    body = "\n".join(rows) or "<tr><td colspan=\"6\">No alleles recorded.</td></tr>"
    return (
        "<section id=\"alleles\">\n<h2>HLA class I alleles</h2>\n"
        "<table>\n<thead><tr><th>Input</th><th>Allele</th><th>Status</th>"
        "<th class=\"n\">Peptide predictions</th><th class=\"n\">Binders</th><th>Meaning</th>"
        "</tr></thead>\n<tbody>\n" + body + "\n</tbody>\n</table>\n</section>\n")


def _top_candidates(binders: pd.DataFrame, top_n: int, n_binders: int,
                    rank_params: dict[str, Any]) -> str:
    """``binders``: the best binder rows (at least ``top_n`` when there are), by rank."""
    binding = rank_params["binding"]
    rule = []
    if binding["max_affinity_nm"] is not None:
        rule.append(f"IC50 &le; {binding['max_affinity_nm']:g} nM")
    if binding["max_percentile"] is not None:
        rule.append(f"percentile &le; {binding['max_percentile']:g}")
    shown = binders.head(top_n)
    headers = [("Rank", True), ("Candidate", False), ("Gene", False), ("Protein change", False),
               ("Peptide", False), ("Allele", False), ("IC50 (nM)", True), ("Percentile", True),
               ("WT IC50 (nM)", True), ("Agretopicity", True), ("VAF", True), ("Tier", False),
               ("Score", True)]
    rows = []
    has_positions = "mutation_positions" in shown.columns
    for row in shown.itertuples(index=False):
        data = row._asdict()
        positions = data.get("mutation_positions") if has_positions else None
        rows.append(
            "<tr>"
            + _num_td(data.get("rank"), ".0f")
            + _td(data.get("candidate_id"), "mono")
            + _td(data.get("gene_name"))
            + _td(data.get("protein_change"))
            + f"<td class=\"mono\">{_peptide_html(data.get('mutant_peptide'), positions)}</td>"
            + _td(data.get("allele"), "mono")
            + _num_td(data.get("mutant_affinity_nm"), ".1f")
            + _num_td(data.get("mutant_percentile"), ".2f")
            + _num_td(data.get("wildtype_affinity_nm"), ".1f")
            + _num_td(data.get("agretopicity"), ".3g")
            + _num_td(data.get("tumor_vaf"), ".3f")
            + _td(data.get("tier"))
            + _num_td(data.get("score"), ".4f",
                      title=f"components: {data.get('score_components')}"
                      if not _missing(data.get("score_components")) else None)
            + "</tr>")
    if rows:
        table = (
            "<input class=\"filter\" type=\"search\" data-filter=\"top-candidates\" "
            "placeholder=\"Filter rows (gene, peptide, allele...)\" "
            "aria-label=\"Filter top candidates\">"
            f"<span class=\"count\" id=\"top-candidates-count\">{len(rows)} of {len(rows)} "
            "shown</span>\n<div class=\"scroll\"><table class=\"sortable\" "
            "id=\"top-candidates\">\n<thead><tr>"
            + "".join(_th(label, numeric) for label, numeric in headers)
            + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n")
    else:
        table = "<p><strong>No predicted binders at the configured thresholds.</strong></p>\n"
    return (
        "<section id=\"candidates\">\n<h2>Top candidates</h2>\n"
        f"<p class=\"sub\">Best {len(shown)} of {n_binders} binder rows (peptide &times; allele; "
        f"binder: {' or '.join(rule)}), by rank. Click a header to sort; highlighted residues "
        "are mutated. Score components are shown on hover; see candidates.tsv for all rows."
        "</p>\n" + table + "</section>\n")


def _gene_chart(counts: Counter) -> str:
    """``counts``: binder rows per gene name (missing names as ``NA``)."""
    if not counts:
        return ""
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    total_genes = len(ordered)
    ordered = ordered[:CHART_GENES]
    top = max(int(n) for _, n in ordered)
    label_w, bar_w, row_h = 140, 420, 20
    height = row_h * len(ordered) + 10
    parts = [f"<svg role=\"img\" aria-label=\"Binder rows per gene\" width=\"{label_w + bar_w + 60}\" "
             f"height=\"{height}\" viewBox=\"0 0 {label_w + bar_w + 60} {height}\">"]
    for index, (gene, count) in enumerate(ordered):
        y = 5 + index * row_h
        width = max(1, round(bar_w * int(count) / top))
        parts.append(
            f"<text x=\"{label_w - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
            f"{_e(gene)}</text>"
            f"<rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{width}\" height=\"{row_h - 6}\" "
            f"fill=\"#2f5f9e\"><title>{_e(gene)}: {int(count)}</title></rect>"
            f"<text x=\"{label_w + width + 6}\" y=\"{y + 14}\" font-size=\"12\">{int(count)}</text>")
    parts.append("</svg>")
    more = (f"<p class=\"sub\">Top {CHART_GENES} of {total_genes} genes.</p>\n"
            if total_genes > CHART_GENES else "")
    return ("<section id=\"genes\">\n<h2>Binders per gene</h2>\n"
            "<p class=\"sub\">Binder rows (peptide &times; allele) per gene.</p>\n"
            + "\n".join(parts) + "\n" + more + "</section>\n")


def _variant_summary(variants: pd.DataFrame, n_peptides: Counter, n_binders: Counter,
                     best_binders: pd.DataFrame, max_rows: int) -> str:
    """``n_peptides``, ``n_binders``: rows per variant; ``best_binders``: the best binder
    row of each variant."""
    best = best_binders.set_index("variant_id") if len(best_binders) else None
    status = variants["status"].astype(str)
    keep = pd.Series(True, index=variants.index)
    if len(variants) > max_rows:
        kept = status != "filtered"
        room = max(0, max_rows - int(kept.sum()))
        keep = kept | (~kept & ((~kept).cumsum() <= room))
    shown = variants.loc[keep]
    omitted = len(variants) - len(shown)
    rows = []
    for row in shown.itertuples(index=False):
        data = row._asdict()
        vid = data.get("variant_id")
        if best is not None and vid in best.index:
            top = best.loc[vid]
            best_html = (f"<span class=\"mono\">{_e(top['mutant_peptide'])}</span> "
                         f"<span class=\"mono\">{_e(top['allele'])}</span> "
                         f"{_fmt(top['mutant_affinity_nm'], '.1f')} nM "
                         f"(rank {_fmt(top['rank'], '.0f')})")
            best_cell = f"<td data-v=\"{_fmt(top['rank'], '.0f')}\">{best_html}</td>"
        else:
            best_cell = "<td>&mdash;</td>"
        rows.append(
            "<tr>"
            + _td(vid, "mono")
            + _td(data.get("gene_name"), na="")
            + _td(data.get("status"))
            + _td(data.get("effect"), na="")
            + _td(data.get("protein_change"), na="")
            + _num_td(data.get("tumor_vaf"), ".3f")
            + f"<td class=\"n\">{int(n_peptides.get(vid, 0))}</td>"
            + f"<td class=\"n\">{int(n_binders.get(vid, 0))}</td>"
            + best_cell
            + _td(data.get("reason"), na="")
            + "</tr>")
    headers = [("Variant", False), ("Gene", False), ("Status", False), ("Effect", False),
               ("Protein change", False), ("VAF", True), ("Peptides", True),
               ("Binders", True), ("Best binder", True), ("Reason", False)]
    note = (f"<p class=\"sub\">{omitted} filtered variant(s) not listed (more than {max_rows} "
            "rows); see variants.tsv.</p>\n" if omitted else "")
    if not rows:
        return ("<section id=\"variants\">\n<h2>Per-variant summary</h2>\n"
                "<p>No variants in the input.</p>\n</section>\n")
    return (
        "<section id=\"variants\">\n<h2>Per-variant summary</h2>\n"
        "<p class=\"sub\">Every input variant in input order, with its final status and the "
        "best-ranked binder (peptide, allele, IC50, rank).</p>\n" + note
        + "<input class=\"filter\" type=\"search\" data-filter=\"variant-summary\" "
        "placeholder=\"Filter rows (gene, status, variant...)\" "
        "aria-label=\"Filter variants\">"
        f"<span class=\"count\" id=\"variant-summary-count\">{len(rows)} of {len(rows)} "
        "shown</span>\n<div class=\"scroll\"><table class=\"sortable\" id=\"variant-summary\">\n"
        "<thead><tr>" + "".join(_th(label, numeric) for label, numeric in headers)
        + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n"
        "</section>\n")


def _log_scale(value: float, low: float, high: float, size: float) -> float:
    """Pixel offset of ``value`` on a log10 axis from ``low`` to ``high`` over ``size`` px."""
    value = min(max(value, low), high)
    return size * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def _affinity_vaf_plot(best: pd.DataFrame, max_affinity_nm: float | None) -> str:
    """Scatter of each variant's best candidate: tumor VAF (x) against IC50 (y, log)."""
    width, height, left, bottom, top, right = 460, 300, 56, 40, 10, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = 1.0, 50000.0
    vaf = pd.to_numeric(best["tumor_vaf"], errors="coerce")
    ic50 = pd.to_numeric(best["mutant_affinity_nm"], errors="coerce")
    shown = best.loc[vaf.notna() & ic50.notna()]
    parts = [f"<svg role=\"img\" aria-label=\"Best IC50 against tumor VAF per variant\" "
             f"width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">",
             f"<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" "
             "fill=\"none\" stroke=\"#d5dbe2\"/>"]
    for tick in (1, 10, 100, 1000, 10000):
        y = top + plot_h - _log_scale(tick, low, high, plot_h)
        parts.append(f"<text x=\"{left - 6}\" y=\"{y + 4:.1f}\" text-anchor=\"end\" "
                     f"font-size=\"11\">{tick:g}</text>"
                     f"<line x1=\"{left}\" x2=\"{left + plot_w}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" "
                     "stroke=\"#eef1f4\"/>")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + plot_w * tick
        parts.append(f"<text x=\"{x:.1f}\" y=\"{top + plot_h + 14}\" text-anchor=\"middle\" "
                     f"font-size=\"11\">{tick:g}</text>")
    if max_affinity_nm is not None:
        y = top + plot_h - _log_scale(max_affinity_nm, low, high, plot_h)
        parts.append(f"<line x1=\"{left}\" x2=\"{left + plot_w}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" "
                     "stroke=\"#a3262e\" stroke-dasharray=\"4 3\"><title>binder threshold "
                     f"{max_affinity_nm:g} nM</title></line>")
    for row in shown.itertuples(index=False):
        data = row._asdict()
        x = left + plot_w * min(max(float(data["tumor_vaf"]), 0.0), 1.0)
        y = top + plot_h - _log_scale(float(data["mutant_affinity_nm"]), low, high, plot_h)
        colour = "#1e7b3c" if str(data.get("binder")).lower() == "true" else "#8a94a0"
        label = (f"{_e(data.get('gene_name'))} {_e(data.get('protein_change'))}: "
                 f"{_e(data.get('mutant_peptide'))} {_e(data.get('allele'))} "
                 f"{_fmt(data['mutant_affinity_nm'], '.1f')} nM, VAF "
                 f"{_fmt(data['tumor_vaf'], '.3f')}")
        parts.append(f"<circle cx=\"{x:.1f}\" cy=\"{y:.1f}\" r=\"4\" fill=\"{colour}\" "
                     f"fill-opacity=\"0.75\"><title>{label}</title></circle>")
    parts.append(f"<text x=\"{left + plot_w / 2:.1f}\" y=\"{height - 6}\" text-anchor=\"middle\" "
                 "font-size=\"12\">tumor VAF</text>"
                 f"<text x=\"12\" y=\"{top + plot_h / 2:.1f}\" text-anchor=\"middle\" "
                 f"font-size=\"12\" transform=\"rotate(-90 12 {top + plot_h / 2:.1f})\">"
                 "best IC50 (nM, log)</text></svg>")
    missing = len(best) - len(shown)
    note = f" {missing} variant(s) without a tumor VAF are not plotted." if missing else ""
    return ("<figure>" + "".join(parts) + "<figcaption>Best candidate of each variant "
            f"({len(shown)} plotted; green = binder, dashed line = binder IC50).{note}"
            "</figcaption></figure>")


def _bar_chart(items: list[tuple[str, int]], label: str, colour: str = "#2f5f9e") -> str:
    """Horizontal bars with escaped labels (``items`` already ordered)."""
    if not items:
        return f"<p class=\"sub\">{html.escape(label)}: none.</p>"
    top = max(max(n for _, n in items), 1)
    label_w, bar_w, row_h = 150, 260, 20
    height = row_h * len(items) + 10
    parts = [f"<svg role=\"img\" aria-label=\"{html.escape(label)}\" "
             f"width=\"{label_w + bar_w + 50}\" height=\"{height}\" "
             f"viewBox=\"0 0 {label_w + bar_w + 50} {height}\">"]
    for index, (name, count) in enumerate(items):
        y = 5 + index * row_h
        width = max(1, round(bar_w * count / top)) if count else 0
        parts.append(
            f"<text x=\"{label_w - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
            f"{_e(name)}</text><rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{width}\" "
            f"height=\"{row_h - 6}\" fill=\"{colour}\"><title>{_e(name)}: {count}</title></rect>"
            f"<text x=\"{label_w + width + 6}\" y=\"{y + 14}\" font-size=\"12\">{count}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _plots(best: pd.DataFrame, rows_per_allele: Counter, variants_per_allele: dict[Any, set],
           alleles: list[dict[str, Any]], rank_params: dict[str, Any]) -> str:
    """``best``: the best row of each variant, by rank; ``rows_per_allele``,
    ``variants_per_allele``: binder rows and binder variant ids per allele."""
    scatter = _affinity_vaf_plot(best, rank_params["binding"]["max_affinity_nm"])
    expressed = [e["allele"] for e in alleles
                 if e.get("allele") and e.get("status") != "null_skipped"]
    expressed += sorted(a for a in rows_per_allele if a not in expressed)
    allele_rows = [(a, int(rows_per_allele.get(a, 0))) for a in expressed]
    allele_variants = [(a, len(variants_per_allele.get(a, ()))) for a in expressed]
    return (
        "<section id=\"plots\">\n<h2>Plots</h2>\n<div class=\"plots\">\n" + scatter
        + "<figure>" + _bar_chart(allele_rows, "Binder rows per allele")
        + "<figcaption>Per-allele contribution: binder rows (peptide &times; allele).</figcaption>"
        "</figure>"
        + "<figure>" + _bar_chart(allele_variants, "Binder variants per allele", "#1e7b3c")
        + "<figcaption>Per-allele contribution: variants with at least one binder for the "
        "allele.</figcaption></figure>\n</div>\n</section>\n")


def _drilldown(candidates: pd.DataFrame, n_rows: int, n_variants: int, allele_names: set,
               alleles: list[dict[str, Any]], max_variants: int, max_peptides: int,
               inclusion_nm: float) -> str:
    """One ``<details>`` per variant: its peptides x the patient's alleles (IC50 nM).

    ``candidates``: every row of the first ``max_variants`` variants, by rank;
    ``n_rows``, ``n_variants``, ``allele_names``: of the whole table (alleles as text).
    """
    if not n_rows:
        return ""
    order = [e["allele"] for e in alleles if e.get("allele") and e.get("status") != "null_skipped"]
    order += sorted(a for a in allele_names if a not in order)
    ic50 = pd.to_numeric(candidates["mutant_affinity_nm"], errors="coerce")
    frame = candidates.assign(_ic50=ic50, _binder=binder_mask(candidates))
    # Rows grouped by variant once, as records (pandas lookups per variant, peptide
    # and allele cost ~10 s for the default 300 variants).
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in frame.to_dict("records"):
        groups.setdefault(record["variant_id"], []).append(record)
    blocks = []
    for vid in list(groups)[:max_variants]:
        group = groups[vid]
        first = group[0]
        n_binders = sum(bool(r["_binder"]) for r in group)
        # Per peptide, in first-appearance order: its first row, its first row per
        # allele, and its best (lowest) IC50 over the alleles.
        info_of: dict[Any, dict[str, Any]] = {}
        cell_of: dict[tuple[Any, Any], dict[str, Any]] = {}
        best_of: dict[Any, float] = {}
        binder_keys = {(r["mutant_peptide"], r["allele"]) for r in group if r["_binder"]}
        for r in group:
            peptide = r["mutant_peptide"]
            info_of.setdefault(peptide, r)
            cell_of.setdefault((peptide, r["allele"]), r)
            best = best_of.setdefault(peptide, np.nan)
            if r["_ic50"] < best or (pd.isna(best) and not pd.isna(r["_ic50"])):
                best_of[peptide] = r["_ic50"]
        kept_all = sorted((p for p in best_of if best_of[p] < inclusion_nm),
                          key=lambda p: best_of[p])  # stable: first appearance breaks ties
        omitted = len(best_of) - min(len(kept_all), max_peptides)
        rows = []
        for peptide in kept_all[:max_peptides]:
            info = info_of[peptide]
            cells = []
            for allele in order:
                cell = cell_of.get((peptide, allele))
                if cell is not None:
                    cls = "n hit" if (peptide, allele) in binder_keys else "n"
                    cells.append(f"<td class=\"{cls}\">{_fmt(cell['_ic50'], '.0f')}</td>")
                else:
                    cells.append("<td class=\"n\">&mdash;</td>")
            rows.append(
                "<tr>"
                f"<td class=\"mono\">{_peptide_html(peptide, info.get('mutation_positions'))}</td>"
                + _td(info.get("wildtype_peptide"), "mono")
                + "".join(cells) + "</tr>")
        head = ("<tr><th>Mutant peptide</th><th>Wildtype</th>"
                + "".join(f"<th class=\"n mono\">{_e(a)}</th>" for a in order) + "</tr>")
        note = (f"<p class=\"sub\">{omitted} peptide(s) with IC50 &ge; {inclusion_nm:g} nM for "
                "every allele (or beyond the first "
                f"{max_peptides}) not listed; see candidates.tsv.</p>" if omitted else "")
        table = ("<div class=\"scroll\"><table>\n<thead>" + head + "</thead>\n<tbody>\n"
                 + "\n".join(rows) + "\n</tbody>\n</table></div>" if rows else "")
        blocks.append(
            "<details><summary>"
            f"<strong>{_e(first.get('gene_name'))}</strong> {_e(first.get('protein_change'))} "
            f"<span class=\"mono\">{_e(vid)}</span> &middot; {n_binders} binder row(s), best "
            f"{_fmt(first.get('mutant_affinity_nm'), '.1f')} nM</summary>\n"
            + table + note + "</details>")
    more = (f"<p class=\"sub\">First {max_variants} of {n_variants} variants shown.</p>\n"
            if n_variants > max_variants else "")
    return ("<section id=\"drilldown\">\n<h2>Per-variant drill-down</h2>\n"
            "<p class=\"sub\">Every variant with peptides, best first; open one to see its "
            "mutant peptides &times; the patient's alleles (mutant IC50 in nM; bold green = "
            "binder; highlighted residues are mutated).</p>\n"
            + "\n".join(blocks) + "\n" + more + "</section>\n")


def _positions_from_range(text: Any) -> str | None:
    """``"a-b"`` (1-based inclusive) -> ``"a;...;b"`` for :func:`_peptide_html`."""
    if _missing(text):
        return None
    try:
        low, high = (int(x) for x in str(text).split("-"))
    except ValueError:
        return None
    return ";".join(str(i) for i in range(low, high + 1))


def _vaccine(design: dict[str, pd.DataFrame] | None, params: dict[str, Any]) -> str:
    if design is None:
        return ("<section id=\"vaccine\">\n<h2>Vaccine design</h2>\n<p>The vaccine design was "
                "not run for this report.</p>\n</section>\n")
    peptides, mrna, junctions = design["peptides"], design["mrna"], design["junctions"]
    vparams = params.get("vaccine") or {}
    if not len(peptides):
        return ("<section id=\"vaccine\">\n<h2>Vaccine design</h2>\n<p><strong>No predicted "
                "binder, so no vaccine design.</strong></p>\n</section>\n")
    rows = []
    for row in peptides.to_dict("records"):
        flags = row.get("manufacturability_flags")
        ok = str(row.get("manufacturable")).lower() == "true"
        rows.append(
            "<tr>" + _num_td(row.get("order"), ".0f") + _td(row.get("gene_name"))
            + _td(row.get("protein_change")) + _td(row.get("tier"))
            + f"<td class=\"mono\">{_peptide_html(row.get('long_peptide'), _positions_from_range(row.get('mutation_in_long_peptide')))}</td>"
            + _td(row.get("best_peptide"), "mono") + _td(row.get("best_allele"), "mono")
            + _num_td(row.get("best_affinity_nm"), ".1f")
            + _num_td(row.get("n_binder_epitopes"), ".0f")
            + f"<td class=\"{'s-pass' if ok else 's-fail'}\">{'yes' if ok else 'no'}</td>"
            + _td(flags) + "</tr>")
    slp = ("<div class=\"scroll\"><table class=\"sortable\" id=\"vaccine-peptides\">\n<thead><tr>"
           + "".join(_th(label, numeric) for label, numeric in [
               ("#", True), ("Gene", False), ("Protein change", False), ("Tier", False),
               ("Long peptide", False), ("Best epitope", False), ("Allele", False),
               ("IC50 (nM)", True), ("Binder epitopes inside", True),
               ("Manufacturable", False), ("Flags", False)])
           + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n")
    construct = []
    mrna_rows = []
    for row in mrna.to_dict("records"):
        linker = row.get("linker_before")
        if not _missing(linker) and linker != "none":
            construct.append(str(linker).lower())
        construct.append(str(row.get("long_peptide")))
        mrna_rows.append(
            "<tr>" + _num_td(row.get("position"), ".0f") + _td(row.get("gene_name"))
            + _td(row.get("protein_change")) + _td(linker, "mono", na="")
            + _td(row.get("long_peptide"), "mono")
            + _num_td(row.get("junction_binders_after"), ".0f") + "</tr>")
    mrna_table = ("<div class=\"scroll\"><table>\n<thead><tr><th class=\"n\">Position</th>"
                  "<th>Gene</th><th>Protein change</th><th>Linker before</th><th>Segment</th>"
                  "<th class=\"n\">Junctional binders after</th></tr></thead>\n<tbody>\n"
                  + "\n".join(mrna_rows) + "\n</tbody>\n</table></div>\n")
    if len(junctions):
        items = "".join(
            f"<li><span class=\"mono\">{_e(j['junction_peptide'])}</span> "
            f"<span class=\"mono\">{_e(j['allele'])}</span> {_fmt(j['affinity_nm'], '.1f')} nM "
            f"(between positions {_e(j['left_position'])} and {_e(j['right_position'])})</li>"
            for j in junctions.to_dict("records"))
        remaining = (f"<p class=\"s-fail\">{len(junctions)} junctional (peptide, allele) "
                     f"binder(s) remain:</p><ul>{items}</ul>\n")
    else:
        remaining = ("<p class=\"s-pass\">No junctional peptide is predicted to bind a patient "
                     "allele at the threshold.</p>\n")
    threshold = vparams.get("junction_max_affinity_nm", 500)
    return (
        "<section id=\"vaccine\">\n<h2>Vaccine design</h2>\n"
        f"<p class=\"sub\">Synthetic long peptides: the best candidate of up to "
        f"{_e(vparams.get('peptide_count', 20))} variants, at most "
        f"{_e(vparams.get('max_per_gene', 1))} per gene before any gene gets another; each "
        f"{_e(vparams.get('long_peptide_length', 25))}-mer carries the mutation (highlighted) "
        "and as many binder epitopes as possible. Manufacturability is flagged, not used to "
        "drop a variant. See vaccine_peptides.tsv.</p>\n" + slp
        + "<h3>mRNA polyepitope</h3>\n"
        f"<p class=\"sub\">{len(mrna)} segment(s), ordered to minimise junctional 8-11-mers "
        f"predicted to bind any patient allele at IC50 &le; {_e(threshold)} nM (linkers in "
        "lower case in the construct). See vaccine_mrna.tsv and vaccine_junctions.tsv.</p>\n"
        + mrna_table + remaining
        + f"<p class=\"seq\">{_e(''.join(construct))}</p>\n</section>\n")


# --------------------------------------------------------------------------- candidates digest

#: Report order of candidate rows: numeric rank, candidate_id, then table position
#: (what a stable sort of the whole table on rank and candidate_id gives).
_ORDER = ["_rank", "candidate_id", "_pos"]
_BEST_COLUMNS = ["variant_id", "gene_name", "protein_change", "mutant_peptide", "allele",
                 "mutant_affinity_nm", "binder", "tumor_vaf", "rank"]
_DRILL_COLUMNS = ["variant_id", "gene_name", "protein_change", "mutant_peptide",
                  "wildtype_peptide", "mutation_positions", "allele", "mutant_affinity_nm",
                  "binder"]


def _in_report_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``_rank`` and ``_pos``) sorted into report order."""
    ranks = frame["_rank"].to_numpy(dtype=float)
    if len(ranks) < 2 or bool((np.diff(ranks) > 0).all()):  # ranked file: already in order
        return frame
    return frame.sort_values(_ORDER, kind="mergesort")


def _first_per_variant(kept: pd.DataFrame | None, rows: pd.DataFrame) -> pd.DataFrame:
    """The best row of each variant among ``kept`` and ``rows`` (both in report order)."""
    rows = rows.drop_duplicates("variant_id", keep="first")
    if kept is None:
        return rows
    return _in_report_order(pd.concat([kept, rows])).drop_duplicates("variant_id", keep="first")


def _pick(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[[c for c in dict.fromkeys(columns + _ORDER) if c in frame.columns]]


class CandidateDigest:
    """What the report needs from candidates.tsv, gathered block by block.

    Blocks come in table order; memory holds one block plus what is kept, never the
    whole table: counts per allele, gene and variant, the best row of each variant
    (overall and among binders), the best ``top_n`` binder rows, the distinct binder
    facts the eligibility assessment counts, and every row of the
    ``drill_variants`` best variants. Rows are taken in report order (see
    :func:`_in_report_order`), so the result does not depend on the block size or
    on the order of rows in the table.
    """

    def __init__(self, columns: list[str], top_n: int, drill_variants: int) -> None:
        self.columns = list(columns)
        self.top_n = top_n
        self.drill_variants = drill_variants
        self.rows = 0
        self.has_presentation = False
        self.predictors: set[str] = set()
        self.allele_rows: Counter = Counter()
        self.allele_names: set = set()
        self.variant_ids: set = set()
        self.missing_variant_id = False
        self.binder_rows = 0
        self.binder_allele_rows: Counter = Counter()
        self.binder_allele_variants: dict[Any, set] = {}
        self.binder_genes: Counter = Counter()
        self.binder_variant_rows: Counter = Counter()
        self.best: pd.DataFrame | None = None
        self.best_binders: pd.DataFrame | None = None
        self.top: pd.DataFrame | None = None
        self.targets: pd.DataFrame | None = None
        self.drill: pd.DataFrame | None = None
        self._drill_ids: set = set()
        self._incomplete: set = set()
        self._target_columns = ["variant_id", "gene_name", "binder"] + [
            c for c in ("tier", "pass_expression", "pass_rna_support") if c in self.columns]

    @property
    def n_variants(self) -> int:
        """Distinct variant ids (a missing id counts once)."""
        return len(self.variant_ids) + int(self.missing_variant_id)

    def _prepare(self, block: pd.DataFrame, start: int) -> pd.DataFrame:
        return block.assign(_rank=pd.to_numeric(block["rank"], errors="coerce"),
                            _pos=np.arange(start, start + len(block), dtype=np.int64))

    def add(self, block: pd.DataFrame) -> None:
        """Take the next block of the table."""
        start = self.rows
        self.rows += len(block)
        if not len(block):
            return
        block = _in_report_order(self._prepare(block, start))
        if "presentation_score" in block.columns:
            self.has_presentation |= bool(block["presentation_score"].notna().any())
        if "predictor" in block.columns:
            self.predictors.update(block["predictor"].dropna().astype(str).unique())
        self.allele_rows.update(block.groupby("allele").size().to_dict())
        self.allele_names.update(block["allele"].astype(str).unique())
        self.best = _first_per_variant(self.best, _pick(block, _BEST_COLUMNS))

        binders = block.loc[binder_mask(block)]
        if len(binders):
            self.binder_rows += len(binders)
            self.binder_allele_rows.update(binders.groupby("allele").size().to_dict())
            for allele, ids in binders.groupby("allele")["variant_id"]:
                self.binder_allele_variants.setdefault(allele, set()).update(ids.dropna())
            genes = binders["gene_name"].astype(object).where(binders["gene_name"].notna(), "NA")
            self.binder_genes.update(genes.astype(str).value_counts().to_dict())
            self.binder_variant_rows.update(binders.groupby("variant_id").size().to_dict())
            self.best_binders = _first_per_variant(self.best_binders,
                                                   _pick(binders, _BEST_COLUMNS))
            top = binders.head(self.top_n)
            self.top = top if self.top is None else \
                _in_report_order(pd.concat([self.top, top])).head(self.top_n)
            facts = binders[self._target_columns].drop_duplicates()
            self.targets = facts if self.targets is None else \
                pd.concat([self.targets, facts]).drop_duplicates()

        # Drill-down: every row of the variants that are the best ones so far. A
        # variant that joins them after rows of it were passed over is re-read.
        chosen = set(self.best["variant_id"].head(self.drill_variants))
        self._incomplete.update(v for v in chosen - self._drill_ids if v in self.variant_ids)
        rows = _pick(block.loc[block["variant_id"].isin(chosen)], _DRILL_COLUMNS)
        if self.drill is not None:
            rows = pd.concat([self.drill.loc[self.drill["variant_id"].isin(chosen)], rows])
        self.drill, self._drill_ids = rows, chosen
        ids = block["variant_id"]
        self.variant_ids.update(ids.dropna().unique())
        self.missing_variant_id |= bool(ids.isna().any())

    def finish(self, blocks: Callable[[], Iterable[pd.DataFrame]]) -> CandidateDigest:
        """Complete the drill-down rows (``blocks`` gives the table again, only if a
        shown variant's rows were passed over) and put every kept frame in report order."""
        refetch = self._drill_ids & self._incomplete
        if refetch and self.drill is not None:
            parts = [self.drill.loc[~self.drill["variant_id"].isin(refetch)]]
            start = 0
            for block in blocks():
                block, start = self._prepare(block, start), start + len(block)
                parts.append(_pick(block.loc[block["variant_id"].isin(refetch)], _DRILL_COLUMNS))
            self.drill = pd.concat(parts)
            self._incomplete -= refetch
        best_columns = [c for c in self.columns if c in _BEST_COLUMNS]
        self.best = self._ordered(self.best, best_columns, placeholders=True)
        self.best_binders = self._ordered(self.best_binders, best_columns)
        self.top = self._ordered(self.top, self.columns, placeholders=True)
        self.drill = self._ordered(self.drill, [c for c in self.columns if c in _DRILL_COLUMNS])
        if self.targets is None:
            self.targets = pd.DataFrame(columns=self._target_columns)
        return self

    @staticmethod
    def _ordered(frame: pd.DataFrame | None, columns: list[str],
                 placeholders: bool = False) -> pd.DataFrame:
        if frame is None:
            frame = pd.DataFrame(columns=columns + _ORDER)
        elif len(frame):
            frame = frame.sort_values(_ORDER, kind="mergesort")
        if placeholders:
            for column in PLACEHOLDER_COLUMNS:
                if column not in frame.columns:
                    frame = frame.assign(**{column: pd.NA})
        return frame


def digest_candidates(blocks: Callable[[], Iterable[pd.DataFrame]], columns: list[str],
                      top_n: int, drill_variants: int) -> CandidateDigest:
    """A :class:`CandidateDigest` of the table ``blocks()`` yields in table order."""
    digest = CandidateDigest(columns, top_n, drill_variants)
    for block in blocks():
        digest.add(block)
    return digest.finish(blocks)


def _peptide_counts(blocks: Iterable[pd.DataFrame]) -> Counter:
    """Peptide rows per variant id."""
    counts: Counter = Counter()
    for block in blocks:
        if len(block):
            counts.update(block.groupby("variant_id").size().to_dict())
    return counts


# --------------------------------------------------------------------------- render


def _settings(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Ranking, report and eligibility settings (validated)."""
    rank_params = ranking_params(params)
    report_params = {**REPORT_DEFAULTS, **(params.get("report") or {})}
    return rank_params, report_params, eligibility_params(params)


def render_report(sample: str, variants: pd.DataFrame, peptides: pd.DataFrame,
                  candidates: pd.DataFrame, manifest: dict[str, Any],
                  alleles: list[dict[str, Any]], params: dict[str, Any] | None = None, *,
                  top_n: int = DEFAULT_TOP_N, purity: float | None = None,
                  expression: str | None = None,
                  max_variant_rows: int = DEFAULT_MAX_VARIANT_ROWS,
                  vaccine: dict[str, pd.DataFrame] | None = None) -> tuple[str, Eligibility]:
    """Render the HTML report.

    Parameters
    ----------
    sample
        Sample id (any text; escaped).
    variants, peptides, candidates
        The sample's variants.tsv, peptides.tsv and candidates.tsv.
    manifest
        manifest.json contents.
    alleles
        alleles.json entries.
    params
        The params JSON object (``binding``, ``ranking``, ``eligibility`` sections).
    top_n
        Binder rows in the top-candidates table.
    purity, expression
        Optional sample-sheet values passed to the eligibility assessment.
    max_variant_rows
        Cap on per-variant rows (non-filtered variants are always listed).
    vaccine
        ``{"peptides", "mrna", "junctions"}`` tables of ``neorank vaccine``
        (the section says "not run" when None).

    Returns
    -------
    tuple
        ``(html_text, eligibility)``.

    See :func:`render_report_from_files` for tables too large to hold in memory
    (same page).
    """
    params = params or {}
    settings = _settings(params)
    _require(variants, ["variant_id", "status"], "variants.tsv")
    _require(peptides, ["variant_id"], "peptides.tsv")
    _require(candidates, REQUIRED_CANDIDATE_COLUMNS, "candidates.tsv")
    used = candidates[[c for c in CANDIDATE_COLUMNS if c in candidates.columns]]
    digest = digest_candidates(lambda: [used], list(candidates.columns), top_n,
                               settings[1]["drilldown_max_variants"])
    return _render(sample, variants, _peptide_counts([peptides[["variant_id"]]]), digest,
                   manifest, alleles, params, settings, top_n=top_n, purity=purity,
                   expression=expression, max_variant_rows=max_variant_rows, vaccine=vaccine)


def render_report_from_files(sample: str, variants: pd.DataFrame,
                             peptides: str | os.PathLike, candidates: str | os.PathLike,
                             manifest: dict[str, Any], alleles: list[dict[str, Any]],
                             params: dict[str, Any] | None = None, *,
                             chunk_rows: int = CHUNK_ROWS, top_n: int = DEFAULT_TOP_N,
                             purity: float | None = None, expression: str | None = None,
                             max_variant_rows: int = DEFAULT_MAX_VARIANT_ROWS,
                             vaccine: dict[str, pd.DataFrame] | None = None,
                             ) -> tuple[str, Eligibility]:
    """:func:`render_report` with peptides.tsv and candidates.tsv read from their paths
    in blocks of ``chunk_rows`` rows (only the columns the report uses).

    Memory holds one block and what the report keeps (see :class:`CandidateDigest`),
    not the tables (a 100k-variant sample has millions of peptides and tens of millions
    of candidate rows); the page is the same whatever ``chunk_rows``.
    """
    params = params or {}
    settings = _settings(params)
    _require(variants, ["variant_id", "status"], "variants.tsv")
    _require(table_header(peptides), ["variant_id"], "peptides.tsv")
    header = table_header(candidates)
    _require(header, REQUIRED_CANDIDATE_COLUMNS, "candidates.tsv")
    text = dict.fromkeys(TEXT_COLUMNS, "str")
    digest = digest_candidates(
        lambda: table_blocks(candidates, CANDIDATE_COLUMNS, chunk_rows, dtype=text),
        header, top_n, settings[1]["drilldown_max_variants"])
    n_peptides = _peptide_counts(table_blocks(peptides, ["variant_id"], chunk_rows,
                                              dtype={"variant_id": "str"}))
    return _render(sample, variants, n_peptides, digest, manifest, alleles, params, settings,
                   top_n=top_n, purity=purity, expression=expression,
                   max_variant_rows=max_variant_rows, vaccine=vaccine)


def _render(sample: str, variants: pd.DataFrame, n_peptides: Counter, digest: CandidateDigest,
            manifest: dict[str, Any], alleles: list[dict[str, Any]], params: dict[str, Any],
            settings: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], *,
            top_n: int, purity: float | None, expression: str | None, max_variant_rows: int,
            vaccine: dict[str, pd.DataFrame] | None) -> tuple[str, Eligibility]:
    """The page from the variants table, peptide counts and the candidates digest."""
    rank_params, report_params, elig_params = settings
    for column in ("gene_name", "effect", "protein_change", "reason", "tumor_vaf"):
        if column not in variants.columns:
            variants = variants.assign(**{column: pd.NA})
    models_label = str((manifest.get("models") or {}).get("label") or "")
    affinity_only = models_label == "embedded" or "presentation_score" not in digest.columns \
        or not digest.has_presentation
    # An untiered table (ranked elsewhere, or by an older version) is judged on
    # binders: the digest's binder facts have a tier column only when the table has one.
    result = assess(variants, digest.targets, alleles, elig_params, purity=purity,
                    expression=expression, models_label=models_label,
                    affinity_only=affinity_only)
    predictors = sorted(digest.predictors) if "predictor" in digest.columns else []

    # The CSP hash covers the exact text between <script> and </script>,
    # including the newlines around JS (browsers block the script otherwise).
    script = f"\n{JS}\n"
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    body = "".join([
        _header(sample),
        _banners(models_label, affinity_only),
        _provenance(manifest, predictors),
        _eligibility(result),
        _funnel(variants, len(n_peptides), len(digest.binder_variant_rows)),
        _alleles(alleles, digest.allele_rows, digest.binder_allele_rows),
        _plots(digest.best, digest.binder_allele_rows, digest.binder_allele_variants, alleles,
               rank_params),
        _top_candidates(digest.top, top_n, digest.binder_rows, rank_params),
        _gene_chart(digest.binder_genes),
        _vaccine(vaccine, params),
        _drilldown(digest.drill, digest.rows, digest.n_variants, digest.allele_names, alleles,
                   report_params["drilldown_max_variants"],
                   report_params["drilldown_max_peptides"],
                   report_params["aggregate_inclusion_nm"]),
        _variant_summary(variants, n_peptides, digest.binder_variant_rows, digest.best_binders,
                         max_variant_rows),
    ])
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"robots\" content=\"noindex\">\n"
        f"<title>NeoRank report: {_e(sample)} (research use only)</title>\n"
        f"<style>\n{CSS}\n</style>\n</head>\n<body>\n<main>\n"
        + body
        + f"<footer>Generated by NeoRank {html.escape(__version__)}. Research use only; not for "
        "clinical decisions. Tables: variants.tsv, peptides.tsv, candidates.tsv, aggregated.tsv, "
        "vaccine_*.tsv; review: candidates.xlsx; provenance: manifest.json.</footer>\n"
        f"</main>\n<script>{script}</script>\n</body>\n</html>\n")
    return page, result


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank report``."""
    parser = subparsers.add_parser(
        "report", help="write the static HTML report (and the eligibility verdict)",
        description="Render one self-contained HTML report: provenance, vaccine-plausibility "
        "verdict, variant funnel, alleles, top candidates and per-variant summary.")
    parser.add_argument("--sample", required=True)
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
    parser.add_argument("--max-variant-rows", type=int, default=DEFAULT_MAX_VARIANT_ROWS)
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help="rows of peptides.tsv / candidates.tsv read per block; memory "
                        f"grows with it, the report does not change (default {CHUNK_ROWS:,})")
    parser.add_argument("--eligibility-json", help="also write the verdict as JSON here")
    parser.add_argument("--vaccine-peptides", help="vaccine_peptides.tsv (neorank vaccine)")
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
    page, result = render_report_from_files(
        sample, variants, args.peptides, args.candidates, manifest, alleles, params,
        chunk_rows=getattr(args, "chunk_rows", None) or CHUNK_ROWS, top_n=top_n, purity=purity,
        expression=getattr(args, "expression", None) or None, max_variant_rows=max_rows,
        vaccine=vaccine)
    write_text(args.out, page)
    if getattr(args, "eligibility_json", None):
        write_text(args.eligibility_json,
                    json.dumps(result.to_dict(), sort_keys=True, indent=2) + "\n")
    LOG.info("%s: verdict %s -> %s", sample, result.verdict, args.out)
    return 0


