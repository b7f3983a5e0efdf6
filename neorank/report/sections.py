"""The report's sections (HTML text): header and disclaimer, banners, provenance,
eligibility verdict, antigen presentation, variant funnel, HLA alleles, top candidates, per-variant
summary, per-variant drill-down and vaccine design. The plots are in
:mod:`neorank.report.plots`; each function returns one ``<section>`` (or the
header) and escapes every input-derived string.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from neorank.html import (
    css_class,
    escape,
    fmt,
    is_missing,
    num_td,
    scroll_table,
    td,
    th,
    variant_html,
    variant_td,
)
from neorank.verdict import DISCLAIMERS, PROTEIN_CHANGING_STATUSES, Eligibility, binder_mask

HEADER_DISCLAIMER = (
    "This report summarises computational predictions for research. It is not a clinical "
    "recommendation, diagnosis or treatment decision, and it has not been validated for "
    "clinical use.")
STATUS_ORDER = ("filtered", "outside_reference", "non_coding", "silent", "no_peptides",
                "protein_changing")


def peptide_html(peptide: Any, positions: Any) -> str:
    """The peptide with mutated residues (1-based ``;``-joined positions) in ``<mark>``."""
    if is_missing(peptide):
        return "NA"
    text = str(peptide)
    marked: set[int] = set()
    if not is_missing(positions):
        for part in str(positions).split(";"):
            part = part.strip()
            if part.isdigit():
                marked.add(int(part))
    return "".join(f"<mark>{html.escape(ch)}</mark>" if i in marked else html.escape(ch)
                   for i, ch in enumerate(text, start=1))



def header(sample: str) -> str:
    disclaimer = html.escape(HEADER_DISCLAIMER + " " + " ".join(DISCLAIMERS[1:]))
    return (
        "<header>\n"
        f"<h1>NeoRank neoantigen report: <span class=\"mono\">{escape(sample)}</span></h1>\n"
        "<p class=\"sub\">Somatic variants, predicted MHC class I binders and a "
        "vaccine-plausibility verdict.</p>\n"
        f"<div class=\"box disclaimer\"><strong>Research use only.</strong> {disclaimer}</div>\n"
        "</header>\n"
    )


def banners(models_label: str, affinity_only: bool) -> str:
    parts = []
    if models_label == "embedded":
        parts.append(
            "<div class=\"box demo\" role=\"alert\">DEMO-GRADE MODELS: predictions come from "
            "NeoRank's embedded MHCflurry models.<p>They are compact and affinity-only, trained "
            "on public binding affinities and mass-spectrometry ligands, and on peptides they "
            "never saw they separate binders less well than the published MHCflurry models "
            "(their MODEL_CARD.md gives every held-out figure and every missed target). Use "
            "this report to see what the pipeline produces, not to choose vaccine targets."
            "</p></div>\n")
    if affinity_only:
        parts.append(
            "<div class=\"box note\"><strong>Affinity-only (no presentation/processing).</strong> "
            "Candidates are ranked on predicted MHC binding affinity; antigen processing and "
            "presentation were not predicted.</div>\n")
    return "".join(parts)


def caveats(findings: list[dict[str, str]] | None) -> str:
    """Preflight's warnings about this sample's inputs (read, but with something lost,
    filtered or suspicious), so a reviewer sees them beside the verdict."""
    if findings is None:
        return ""
    if not findings:
        return ("<section id=\"caveats\"><h2>Input caveats</h2><p>Preflight raised no "
                "warning about this sample's inputs.</p></section>\n")
    items = "".join(
        f"<li><strong>{escape(f.get('check'))}</strong> ({escape(f.get('file'))}"
        + (f", {escape(f.get('record'))}" if f.get("record") else "")
        + f"): {escape(f.get('message'))}"
        + (f" <em>Fix: {escape(f.get('fix'))}</em>" if f.get("fix") else "") + "</li>"
        for f in findings)
    return ("<section id=\"caveats\"><h2>Input caveats</h2><p>Preflight read these inputs "
            f"with {len(findings)} warning(s); results/preflight/&lt;sample&gt;.tsv has every "
            f"finding.</p><ul>{items}</ul></section>\n")


def provenance(manifest: dict[str, Any], predictors: list[str]) -> str:
    versions = manifest.get("versions") or {}
    models = manifest.get("models") or {}
    reference = manifest.get("reference") or {}

    def item(label: str, value: Any, mono: bool = False) -> str:
        cls = ' class="mono"' if mono else ""
        return f"<dt>{html.escape(label)}</dt><dd{cls}>{escape(value, 'not recorded')}</dd>"

    rows = [
        item("NeoRank", versions.get("neorank")),
        item("MHCflurry", versions.get("mhcflurry")),
        item("varcode", versions.get("varcode")),
        item("pyensembl", versions.get("pyensembl")),
        item("Models", models.get("label")),
        item("Models sha256", models.get("sha256"), mono=True),
        item("Prediction arithmetic", models.get("numerics"), mono=True),
        item("Predictor", "; ".join(predictors) if predictors else None),
        item("Ensembl release", reference.get("ensembl_release")),
        item("Reference", reference.get("name")),
        item("Config sha256", manifest.get("config_sha256"), mono=True),
        item("Run created (UTC)", manifest.get("created")),
    ]
    return ("<section id=\"provenance\">\n<h2>Provenance</h2>\n<dl class=\"prov\">\n"
            + "\n".join(rows) + "\n</dl>\n</section>\n")


def eligibility(result: Eligibility) -> str:
    rows = []
    for c in result.criteria:
        effect = "informational (does not change the verdict)" if c.cap is None \
            else f"allows {c.cap}"
        status, status_cls = c.status, f"s-{css_class(c.status)}"
        if c.status == "not assessed":
            effect = "not counted"
        elif c.cap is None:  # informational: a value below its threshold is no failure
            status = "below threshold" if c.status == "fail" else c.status
            status_cls = "s-info" if c.status == "fail" else status_cls
        rows.append(
            f"<tr data-key=\"{escape(c.key)}\">"
            f"<td>{html.escape(c.label)}</td>"
            f"<td>{escape(c.display)}</td>"
            f"<td>{escape(c.threshold)}</td>"
            f"<td class=\"{status_cls}\">{html.escape(status)}</td>"
            f"<td>{html.escape(effect)}</td>"
            f"<td>{escape(c.note)}</td>"
            "</tr>")
    notes = "".join(f"<li>{escape(note)}</li>" for note in result.notes)
    return (
        "<section id=\"eligibility\">\n<h2>Vaccine plausibility</h2>\n<div class=\"box\">\n"
        f"<p><span class=\"verdict v-{css_class(result.verdict)}\">{escape(result.verdict)}</span>"
        "</p>\n"
        f"<p>{escape(result.summary)}</p>\n"
        + scroll_table(
            "<table>\n<thead><tr><th>Criterion</th><th>Value</th><th>Threshold</th>"
            "<th>Status</th><th>Effect on verdict</th><th>Why</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>") + "\n"
        "<p class=\"sub\">The verdict is the lowest level allowed by any gating criterion "
        "(not supported &lt; borderline &lt; eligible); criteria not assessed are missing "
        "evidence, not failures; informational criteria (&#x2139;) are shown for context and "
        "never change the verdict.</p>\n"
        f"<ul>{notes}</ul>\n</div>\n</section>\n")


#: Flagged candidate rows listed in the report (all are in eligibility.json).
MAX_FLAGGED_ROWS = 50
_ALLELE_CSS = {"kept": "pass", "lost": "fail"}


def presentation(result: Eligibility) -> str:
    """Antigen presentation: APM gene hits, HLA status per allele, flagged candidates
    and how they changed the verdict (eligibility.json ``presentation``)."""
    record = result.presentation or {}
    head = "<section id=\"presentation\">\n<h2>Antigen presentation</h2>\n<div class=\"box\">\n"
    if not record:
        return (head + "<p class=\"s-not-assessed\">Not assessed: the verdict was judged "
                "without the antigen-presentation check (no variants table with genes or "
                "coordinates).</p>\n</div>\n</section>\n")
    caps = "".join(f"<li>{escape(c.get('reason'))}: at most "
                   f"<strong>{escape(c.get('cap'))}</strong></li>" for c in record.get("caps") or [])
    change = record.get("verdict_change") or "unchanged"
    parts = [head,
             f"<p>Verdict without this evidence: <strong>"
             f"{escape(record.get('verdict_without_presentation'))}</strong>; with it: "
             f"<strong>{escape(result.verdict)}</strong> ({escape(change)}).</p>\n"]
    if caps:
        parts.append(f"<ul>{caps}</ul>\n")
    uncounted = record.get("uncounted_variants") or []
    if uncounted:
        parts.append(f"<p>{len(uncounted)} variant(s) not counted as targets (their targets "
                     "are only on lost alleles): " + ", ".join(
                         variant_html(v) for v in uncounted)
                     + ".</p>\n")
    hits = record.get("apm_hits") or []
    how = ", ".join(record.get("apm_how") or []) or "nothing"
    parts.append(f"<h3>Antigen-presentation genes</h3>\n<p class=\"sub\">Somatic variants of "
                 f"the sample checked by {escape(how)}. Likely loss of function: truncating "
                 "(frameshift, stop gain, splice site, start loss); uncertain: missense or "
                 "in-frame (listed, never capping); in gene, effect not assessed: inside the "
                 "gene's GRCh38 span but outside the reference annotation.</p>\n")
    if hits:
        rows = "\n".join(
            "<tr>" + td(h.get("gene")) + td(h.get("role")) + variant_td(h.get("variant_id"))
            + td(h.get("call")) + td(h.get("protein_change")) + num_td(h.get("tumor_vaf"), ".3f")
            + td(h.get("evidence")) + "</tr>" for h in hits)
        parts.append(scroll_table(
            "<table>\n<thead><tr><th>Gene</th><th>Role</th><th>Variant</th>"
            "<th>Call</th><th>Protein change</th><th class=\"n\">Tumour VAF</th>"
            f"<th>Evidence</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>") + "\n")
    else:
        parts.append("<p>No somatic variant in these genes.</p>\n")
    coverage: dict[str, list[str]] = {}
    for gene in record.get("apm_genes") or []:
        coverage.setdefault(str(gene.get("coverage")), []).append(str(gene.get("gene")))
    parts.append("<ul>" + "".join(f"<li>{escape(', '.join(genes))}: {escape(cov)}</li>"
                                  for cov, genes in coverage.items()) + "</ul>\n")
    alleles_rows = "\n".join(
        "<tr>" + td(a.get("typed_as") or a.get("allele"), "mono") + td(a.get("locus"))
        + td(a.get("zygosity")) + td("yes" if a.get("expressed") else "no (null allele)")
        + f"<td class=\"s-{_ALLELE_CSS.get(str(a.get('status')), 'not-assessed')}\">"
        f"{escape(a.get('status'))}</td>" + td(a.get("source"), na="-")
        + td(a.get("evidence")) + "</tr>" for a in record.get("hla_alleles") or [])
    inputs = record.get("hla_loh_inputs") or []
    parts.append("<h3>HLA status per typed allele</h3>\n<p class=\"sub\">Evidence: "
                 + (escape("; ".join(inputs)) if inputs else "none given (sample sheet "
                    "columns copy_number and hla_loh)")
                 + ". LOH unknown: copy-number segments show loss of one haplotype without "
                 "saying which; lost: an allele-specific caller's call or a homozygous "
                 "deletion.</p>\n" + scroll_table(
                     "<table>\n<thead><tr><th>Allele</th><th>Locus</th>"
                     "<th>Zygosity</th><th>Expressed</th><th>Status</th><th>Source</th>"
                     f"<th>Evidence</th></tr></thead>\n<tbody>\n{alleles_rows}\n</tbody>\n"
                     "</table>") + "\n")
    flagged = record.get("flagged_candidates") or []
    if flagged:
        rows = "\n".join(
            "<tr>" + variant_td(f.get("variant_id")) + td(f.get("gene_name"))
            + td(f.get("allele"), "mono") + td(f.get("tier")) + td(f.get("reason"))
            + td("yes" if f.get("counted") else "no") + "</tr>"
            for f in flagged[:MAX_FLAGGED_ROWS])
        more = (f" The first {MAX_FLAGGED_ROWS} are shown; eligibility.json lists all."
                if len(flagged) > MAX_FLAGGED_ROWS else "")
        parts.append(f"<h3>Affected candidates</h3>\n<p class=\"sub\">{len(flagged)} target "
                     "(variant, allele) pair(s) on a lost, possibly lost or mutated HLA "
                     f"allele.{more}</p>\n" + scroll_table(
                         "<table>\n<thead><tr><th>Variant</th><th>Gene</th>"
                         "<th>Allele</th><th>Tier</th><th>Why</th><th>Counted</th></tr></thead>\n"
                         f"<tbody>\n{rows}\n</tbody>\n</table>") + "\n")
    parts.append("<p class=\"sub\">Sequence and copy-number evidence only, not a measurement "
                 "of HLA expression on the tumour. Research use only.</p>\n</div>\n</section>\n")
    return "".join(parts)


def funnel(variants: pd.DataFrame, peptide_variants: int, binder_variants: int) -> str:
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
        width = round(100 * count / top, 1)
        rows.append(f"<tr><td>{html.escape(label)}</td><td class=\"n\">{count}</td>"
                    f"<td class=\"barcell\"><span class=\"bar\" style=\"width:{width:g}%\">"
                    "</span></td></tr>")
    counts = status.value_counts()
    order = [s for s in STATUS_ORDER if s in counts.index]
    order += sorted(s for s in counts.index if s not in STATUS_ORDER)
    breakdown = ", ".join(f"{escape(s)}: {int(counts[s])}" for s in order)
    return (
        "<section id=\"funnel\">\n<h2>Variant funnel</h2>\n"
        + scroll_table("<table style=\"width:auto\">\n<thead><tr><th>Step</th>"
                       "<th class=\"n\">Variants</th><th></th></tr></thead>\n<tbody>\n"
                       + "\n".join(rows) + "\n</tbody>\n</table>") + "\n"
        f"<p class=\"sub\">Final status of every input variant: {breakdown or 'none'}.</p>\n"
        "</section>\n")


def alleles(alleles: list[dict[str, Any]], total: Counter, hits: Counter) -> str:
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
            f"<td class=\"mono\">{escape(entry.get('input'))}</td>"
            f"<td class=\"mono\">{escape(allele, '—')}</td>"
            f"<td>{escape(entry.get('status'))}</td>"
            f"<td class=\"n\">{int(total.get(allele, 0)) if allele is not None else 0}</td>"
            f"<td class=\"n\">{int(hits.get(allele, 0)) if allele is not None else 0}</td>"
            f"<td>{escape(explain.get(entry.get('status'), ''))}</td>"
            "</tr>")
    body = "\n".join(rows) or "<tr><td colspan=\"6\">No alleles recorded.</td></tr>"
    return (
        "<section id=\"alleles\">\n<h2>HLA class I alleles</h2>\n"
        + scroll_table("<table>\n<thead><tr><th>Input</th><th>Allele</th><th>Status</th>"
                       "<th class=\"n\">Peptide predictions</th><th class=\"n\">Binders</th>"
                       "<th>Meaning</th></tr></thead>\n<tbody>\n" + body
                       + "\n</tbody>\n</table>") + "\n</section>\n")


#: Columns of the top-candidates table: (label, numeric, CSS class, meaning on hover).
#: The key columns come first; rank, gene and (from 700 px on) peptide stay in view
#: while the table scrolls sideways (``.key1``-``.key3`` in :data:`neorank.html.CSS`).
TOP_COLUMNS = [
    ("Rank", True, "key1", "rank in candidates.tsv"),
    ("Gene", False, "key2", None),
    ("Peptide", False, "key3", "mutant peptide; highlighted residues are mutated"),
    ("Allele", False, None, None),
    ("Score", True, None, "composite score in [0, 1], higher is better; components on hover"),
    ("Tier", False, None, None),
    ("IC50 (nM)", True, None, "predicted mutant IC50"),
    ("Percentile", True, None, "mutant percentile rank"),
    ("WT IC50 (nM)", True, None, "predicted wildtype IC50"),
    ("MT/WT IC50", True, None, "agretopicity: mutant IC50 / wildtype IC50; below 1 the "
     "mutant binds better (pVACseq's fold change is the inverse, WT/MT)"),
    ("VAF", True, None, "tumour DNA VAF"),
    ("Protein change", False, None, None),
    ("Variant", False, None, None),
    ("Candidate", False, None, "candidate_id in candidates.tsv"),
]


def top_candidates(binders: pd.DataFrame, top_n: int, n_binders: int,
                   rank_params: dict[str, Any]) -> str:
    """``binders``: the best binder rows (at least ``top_n`` when there are), by rank."""
    binding = rank_params["binding"]
    rule = []
    if binding["max_affinity_nm"] is not None:
        rule.append(f"IC50 &le; {binding['max_affinity_nm']:g} nM")
    if binding["max_percentile"] is not None:
        rule.append(f"percentile &le; {binding['max_percentile']:g}")
    shown = binders.head(top_n)
    rows = []
    has_positions = "mutation_positions" in shown.columns
    for row in shown.itertuples(index=False):
        data = row._asdict()
        positions = data.get("mutation_positions") if has_positions else None
        gene = data.get("gene_name")
        rows.append(
            "<tr>"
            + num_td(data.get("rank"), ".0f", cls="key1")
            + f"<td class=\"key2\"><span class=\"clip\" title=\"{escape(gene)}\">"
            f"{escape(gene)}</span></td>"
            + f"<td class=\"mono key3\">"
            f"{peptide_html(data.get('mutant_peptide'), positions)}</td>"
            + td(data.get("allele"), "mono")
            + num_td(data.get("score"), ".4f",
                     title=f"components: {data.get('score_components')}"
                     if not is_missing(data.get("score_components")) else None)
            + td(data.get("tier"))
            + num_td(data.get("mutant_affinity_nm"), ".1f")
            + num_td(data.get("mutant_percentile"), ".2f")
            + num_td(data.get("wildtype_affinity_nm"), ".1f")
            + num_td(data.get("agretopicity"), ".3g")
            + num_td(data.get("tumor_vaf"), ".3f")
            + td(data.get("protein_change"))
            + variant_td(data.get("variant_id"))
            + td(data.get("candidate_id"), "mono")
            + "</tr>")
    if rows:
        table = (
            "<input class=\"filter\" type=\"search\" data-filter=\"top-candidates\" "
            "placeholder=\"Filter rows (gene, peptide, allele...)\" "
            "aria-label=\"Filter top candidates\">"
            f"<span class=\"count\" id=\"top-candidates-count\">{len(rows)} of {len(rows)} "
            "shown</span>\n" + scroll_table(
                "<table class=\"sortable\" id=\"top-candidates\">\n<thead><tr>"
                + "".join(th(label, numeric, cls=cls, title=title)
                          for label, numeric, cls, title in TOP_COLUMNS)
                + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>",
                tall=True) + "\n")
    else:
        table = "<p><strong>No predicted binders at the configured thresholds.</strong></p>\n"
    return (
        "<section id=\"candidates\">\n<h2>Top candidates</h2>\n"
        f"<p class=\"sub\">Best {len(shown)} of {n_binders} binder rows (peptide &times; allele; "
        f"binder: {' or '.join(rule)}), by rank. Click a header to sort; highlighted residues "
        "are mutated. MT/WT IC50 is the agretopicity (below 1: the mutant binds better). Score "
        "components are shown on hover; see candidates.tsv for all rows.</p>\n"
        + table + "</section>\n")



def _listed_variants(variants: pd.DataFrame, filtered: np.ndarray,
                     best: dict[Any, dict[str, Any]], max_rows: int) -> np.ndarray:
    """Which variants the summary lists (a mask; the table keeps input order): all of
    them up to ``max_rows``; beyond, the unfiltered variants with a binder by best rank,
    then the other unfiltered variants, then the ``filtered`` ones, both in input order."""
    if len(variants) <= max_rows:
        return np.ones(len(variants), dtype=bool)
    rank = pd.to_numeric(variants["variant_id"].map(
        {vid: record["rank"] for vid, record in best.items()}), errors="coerce").to_numpy()
    group = np.where(filtered, 2, np.where(np.isnan(rank), 1, 0))
    order = np.lexsort((np.arange(len(variants)), np.nan_to_num(rank), group))
    keep = np.zeros(len(variants), dtype=bool)
    keep[order[:max_rows]] = True
    return keep


def variant_summary(variants: pd.DataFrame, n_peptides: Counter, n_binders: Counter,
                    best_binders: pd.DataFrame, max_rows: int) -> str:
    """``n_peptides``, ``n_binders``: rows per variant; ``best_binders``: the best binder
    row of each variant."""
    # Each variant's best binder row as a dict (a pandas row lookup per variant took
    # 9.7 s of the report at 100,000 variants).
    best: dict[Any, dict[str, Any]] = {}
    for record in best_binders.to_dict("records"):
        best.setdefault(record["variant_id"], record)
    filtered = variants["status"].astype(str).to_numpy() == "filtered"
    listed = _listed_variants(variants, filtered, best, max_rows)
    shown = variants.loc[listed]
    omitted = len(variants) - len(shown)
    rows = []
    for row in shown.itertuples(index=False):
        data = row._asdict()
        vid = data.get("variant_id")
        top = best.get(vid)
        if top is not None:
            best_html = (f"<span class=\"mono\">{escape(top['mutant_peptide'])}</span> "
                         f"<span class=\"mono\">{escape(top['allele'])}</span> "
                         f"{fmt(top['mutant_affinity_nm'], '.1f')} nM "
                         f"(rank {fmt(top['rank'], '.0f')})")
            best_cell = f"<td data-v=\"{fmt(top['rank'], '.0f')}\">{best_html}</td>"
        else:
            best_cell = "<td>&mdash;</td>"
        rows.append(
            "<tr>"
            + variant_td(vid)
            + td(data.get("gene_name"), na="")
            + td(data.get("status"))
            + td(data.get("effect"), na="")
            + td(data.get("protein_change"), na="")
            + num_td(data.get("tumor_vaf"), ".3f")
            + f"<td class=\"n\">{int(n_peptides.get(vid, 0))}</td>"
            + f"<td class=\"n\">{int(n_binders.get(vid, 0))}</td>"
            + best_cell
            + td(data.get("reason"), na="")
            + "</tr>")
    headers = [("Variant", False), ("Gene", False), ("Status", False), ("Effect", False),
               ("Protein change", False), ("VAF", True), ("Peptides", True),
               ("Binders", True), ("Best binder", True), ("Reason", False)]
    if not omitted:
        note = ""
    elif listed[~filtered].all():  # only filtered variants left out
        note = (f"<p class=\"sub\">{omitted} filtered variant(s) not listed (more than "
                f"{max_rows} rows); see variants.tsv.</p>\n")
    else:
        note = (f"<p class=\"sub\">{omitted} variant(s) not listed (more than {max_rows} "
                "rows): listed are the variants with a binder, best-ranked first, then the "
                "other unfiltered variants in input order; every variant, its status and "
                "reason are in variants.tsv.</p>\n")
    if not rows:
        return ("<section id=\"variants\">\n<h2>Per-variant summary</h2>\n"
                "<p>No variants in the input.</p>\n</section>\n")
    listed_text = ("The listed input variants in input order, with their final status"
                   if omitted else "Every input variant in input order, with its final status")
    return (
        "<section id=\"variants\">\n<h2>Per-variant summary</h2>\n"
        f"<p class=\"sub\">{listed_text} and the best-ranked binder (peptide, allele, "
        "IC50, rank).</p>\n" + note
        + "<input class=\"filter\" type=\"search\" data-filter=\"variant-summary\" "
        "placeholder=\"Filter rows (gene, status, variant...)\" "
        "aria-label=\"Filter variants\">"
        f"<span class=\"count\" id=\"variant-summary-count\">{len(rows)} of {len(rows)} "
        "shown</span>\n" + scroll_table(
            "<table class=\"sortable sticky-first\" id=\"variant-summary\">\n"
            "<thead><tr>" + "".join(th(label, numeric) for label, numeric in headers)
            + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>",
            tall=True) + "\n</section>\n")



def drilldown(candidates: pd.DataFrame, n_rows: int, n_variants: int, allele_names: set,
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
                    cells.append(f"<td class=\"{cls}\">{fmt(cell['_ic50'], '.0f')}</td>")
                else:
                    cells.append("<td class=\"n\">&mdash;</td>")
            rows.append(
                "<tr>"
                f"<td class=\"mono\">{peptide_html(peptide, info.get('mutation_positions'))}</td>"
                + td(info.get("wildtype_peptide"), "mono")
                + "".join(cells) + "</tr>")
        head = ("<tr><th>Mutant peptide</th><th>Wildtype</th>"
                + "".join(f"<th class=\"n mono\">{escape(a)}</th>" for a in order) + "</tr>")
        note = (f"<p class=\"sub\">{omitted} peptide(s) with IC50 &ge; {inclusion_nm:g} nM for "
                "every allele (or beyond the first "
                f"{max_peptides}) not listed; see candidates.tsv.</p>" if omitted else "")
        table = scroll_table("<table>\n<thead>" + head + "</thead>\n<tbody>\n"
                             + "\n".join(rows) + "\n</tbody>\n</table>") if rows else ""
        blocks.append(
            "<details><summary>"
            f"<strong>{escape(first.get('gene_name'))}</strong> {escape(first.get('protein_change'))} "
            f"{variant_html(vid)} &middot; {n_binders} binder row(s), best "
            f"{fmt(first.get('mutant_affinity_nm'), '.1f')} nM</summary>\n"
            + table + note + "</details>")
    more = (f"<p class=\"sub\">First {max_variants} of {n_variants} variants shown.</p>\n"
            if n_variants > max_variants else "")
    return ("<section id=\"drilldown\">\n<h2>Per-variant drill-down</h2>\n"
            "<p class=\"sub\">Every variant with peptides, best first; open one to see its "
            "mutant peptides &times; the patient's alleles (mutant IC50 in nM; bold green = "
            "binder; highlighted residues are mutated).</p>\n"
            + "\n".join(blocks) + "\n" + more + "</section>\n")


