"""The report's inline-SVG plots: best IC50 against tumor VAF per variant,
per-allele contributions (section ``plots``) and binder rows per gene (section
``genes``)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

from neorank.html import bar_chart, escape, fmt

#: Genes shown in the binders-per-gene chart (the most binder rows first).
CHART_GENES = 20


def gene_chart(counts: Counter) -> str:
    """``counts``: binder rows per gene name (missing names as ``NA``)."""
    if not counts:
        return ""
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    total_genes = len(ordered)
    ordered = ordered[:CHART_GENES]
    top = max(int(n) for _, n in ordered)
    label_w, bar_w, row_h, head, foot = 140, 420, 20, 18, 22
    height = head + row_h * len(ordered) + 10 + foot
    parts = [f"<svg role=\"img\" aria-label=\"Binder rows per gene\" width=\"{label_w + bar_w + 60}\" "
             f"height=\"{height}\" viewBox=\"0 0 {label_w + bar_w + 60} {height}\">",
             f"<text x=\"{label_w - 6}\" y=\"13\" text-anchor=\"end\" font-size=\"12\" "
             "font-weight=\"600\">gene</text>"]
    for index, (gene, count) in enumerate(ordered):
        y = head + 5 + index * row_h
        width = max(1, round(bar_w * int(count) / top))
        parts.append(
            f"<text x=\"{label_w - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
            f"{escape(gene)}</text>"
            f"<rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{width}\" height=\"{row_h - 6}\" "
            f"fill=\"#2f5f9e\"><title>{escape(gene)}: {int(count)}</title></rect>"
            f"<text x=\"{label_w + width + 6}\" y=\"{y + 14}\" font-size=\"12\">{int(count)}</text>")
    axis_y = head + row_h * len(ordered) + 8
    parts.append(f"<line x1=\"{label_w}\" x2=\"{label_w + bar_w}\" y1=\"{axis_y}\" y2=\"{axis_y}\" "
                 "stroke=\"#8a94a0\"/>"
                 f"<text x=\"{label_w + bar_w / 2:g}\" y=\"{height - 4}\" text-anchor=\"middle\" "
                 "font-size=\"12\" font-weight=\"600\">binder rows (peptide &#xd7; allele)</text>")
    parts.append("</svg>")
    more = (f"<p class=\"sub\">Top {CHART_GENES} of {total_genes} genes.</p>\n"
            if total_genes > CHART_GENES else "")
    return ("<section id=\"genes\">\n<h2>Binders per gene</h2>\n"
            "<p class=\"sub\">Binder rows (peptide &times; allele) per gene.</p>\n"
            + "\n".join(parts) + "\n" + more + "</section>\n")



def _log_scale(value: float, low: float, high: float, size: float) -> float:
    """Pixel offset of ``value`` on a log10 axis from ``low`` to ``high`` over ``size`` px."""
    value = min(max(value, low), high)
    return size * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def _affinity_vaf_plot(best: pd.DataFrame, max_affinity_nm: float | None,
                       max_points: int) -> str:
    """Scatter of each variant's best candidate: tumor VAF (x) against IC50 (y, log); the
    ``max_points`` best-ranked variants with a VAF when there are more."""
    width, height, left, bottom, top, right = 460, 350, 56, 90, 10, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = 1.0, 50000.0
    vaf = pd.to_numeric(best["tumor_vaf"], errors="coerce")
    ic50 = pd.to_numeric(best["mutant_affinity_nm"], errors="coerce")
    plottable = best.loc[vaf.notna() & ic50.notna()]
    shown = plottable.head(max_points)
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
        colour = BINDER_COLOUR if str(data.get("binder")).lower() == "true" else NON_BINDER_COLOUR
        label = (f"{escape(data.get('gene_name'))} {escape(data.get('protein_change'))}: "
                 f"{escape(data.get('mutant_peptide'))} {escape(data.get('allele'))} "
                 f"{fmt(data['mutant_affinity_nm'], '.1f')} nM, VAF "
                 f"{fmt(data['tumor_vaf'], '.3f')}")
        parts.append(f"<circle cx=\"{x:.1f}\" cy=\"{y:.1f}\" r=\"4\" fill=\"{colour}\" "
                     f"fill-opacity=\"0.75\"><title>{label}</title></circle>")
    parts.append(f"<text x=\"{left + plot_w / 2:.1f}\" y=\"{top + plot_h + 32}\" "
                 "text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">tumor DNA VAF"
                 "</text>"
                 f"<text x=\"12\" y=\"{top + plot_h / 2:.1f}\" text-anchor=\"middle\" "
                 "font-size=\"12\" font-weight=\"600\" "
                 f"transform=\"rotate(-90 12 {top + plot_h / 2:.1f})\">"
                 "best IC50 (nM, log scale)</text>")
    parts.append(_scatter_legend(left, top + plot_h + 50, max_affinity_nm))
    parts.append("</svg>")
    missing = len(best) - len(plottable)
    note = f" {missing} variant(s) without a tumor VAF are not plotted." if missing else ""
    plotted = (f"{len(shown)} plotted" if len(shown) == len(plottable) else
               f"the {len(shown)} best-ranked of {len(plottable)} plotted")
    return ("<figure>" + "".join(parts) + "<figcaption>Best candidate of each variant "
            f"({plotted}; green = binder, dashed line = binder IC50).{note}"
            "</figcaption></figure>")


#: Colours of the scatter's points: the best candidate of a variant is a binder, or not.
BINDER_COLOUR, NON_BINDER_COLOUR = "#1e7b3c", "#8a94a0"


def _scatter_legend(x: float, y: float, max_affinity_nm: float | None) -> str:
    """The scatter's legend (inside the SVG): point colours and the threshold line.
    Markers are rounded squares, not ``<circle>``: circles are the plotted points."""
    items = [(f"<rect x=\"{x}\" y=\"{y - 8}\" width=\"8\" height=\"8\" rx=\"4\" "
              f"fill=\"{BINDER_COLOUR}\"/>", "best candidate is a binder"),
             (f"<rect x=\"{x + 190}\" y=\"{y - 8}\" width=\"8\" height=\"8\" rx=\"4\" "
              f"fill=\"{NON_BINDER_COLOUR}\"/>", "not a binder")]
    parts = ["<g class=\"legend\" font-size=\"11\">"]
    for index, (marker, text) in enumerate(items):
        parts.append(f"{marker}<text x=\"{x + 12 + 190 * index}\" y=\"{y}\">{text}</text>")
    if max_affinity_nm is not None:
        parts.append(f"<line x1=\"{x}\" x2=\"{x + 20}\" y1=\"{y + 16}\" y2=\"{y + 16}\" "
                     "stroke=\"#a3262e\" stroke-dasharray=\"4 3\"/>"
                     f"<text x=\"{x + 26}\" y=\"{y + 20}\">binder threshold "
                     f"(IC50 {max_affinity_nm:g} nM)</text>")
    parts.append("</g>")
    return "".join(parts)


def section(best: pd.DataFrame, rows_per_allele: Counter, variants_per_allele: dict[Any, set],
            alleles: list[dict[str, Any]], rank_params: dict[str, Any],
            max_points: int) -> str:
    """``best``: the best row of each variant, by rank; ``rows_per_allele``,
    ``variants_per_allele``: binder rows and binder variant ids per allele;
    ``max_points``: the scatter's cap."""
    scatter = _affinity_vaf_plot(best, rank_params["binding"]["max_affinity_nm"], max_points)
    expressed = [e["allele"] for e in alleles
                 if e.get("allele") and e.get("status") != "null_skipped"]
    expressed += sorted(a for a in rows_per_allele if a not in expressed)
    allele_rows = [(a, int(rows_per_allele.get(a, 0))) for a in expressed]
    allele_variants = [(a, len(variants_per_allele.get(a, ()))) for a in expressed]
    return (
        "<section id=\"plots\">\n<h2>Plots</h2>\n<div class=\"plots\">\n" + scatter
        + "<figure>" + bar_chart(allele_rows, "Binder rows per allele", y_title="HLA allele",
                                 x_title="binder rows (peptide \u00d7 allele)")
        + "<figcaption>Per-allele contribution: binder rows (peptide &times; allele).</figcaption>"
        "</figure>"
        + "<figure>" + bar_chart(allele_variants, "Binder variants per allele", "#1e7b3c",
                                 y_title="HLA allele", x_title="variants with a binder")
        + "<figcaption>Per-allele contribution: variants with at least one binder for the "
        "allele.</figcaption></figure>\n</div>\n</section>\n")
