"""The report's vaccine section: long peptides, the mRNA order and its junctions, and the
binder variants the designs leave out (with why)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from neorank.html import escape, fmt, is_missing, num_td, td, th
from neorank.report.sections import peptide_html


def _positions_from_range(text: Any) -> str | None:
    """``"a-b"`` (1-based inclusive) -> ``"a;...;b"`` for :func:`peptide_html`."""
    if is_missing(text):
        return None
    try:
        low, high = (int(x) for x in str(text).split("-"))
    except ValueError:
        return None
    return ";".join(str(i) for i in range(low, high + 1))


def vaccine(design: dict[str, pd.DataFrame] | None, params: dict[str, Any],
            max_rows: int) -> str:
    """The section; ``max_rows`` caps the list of binder variants left out."""
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
            "<tr>" + num_td(row.get("order"), ".0f") + td(row.get("gene_name"))
            + td(row.get("protein_change")) + td(row.get("tier"))
            + f"<td class=\"mono\">{peptide_html(row.get('long_peptide'), _positions_from_range(row.get('mutation_in_long_peptide')))}</td>"
            + td(row.get("best_peptide"), "mono") + td(row.get("best_allele"), "mono")
            + num_td(row.get("best_affinity_nm"), ".1f")
            + num_td(row.get("n_binder_epitopes"), ".0f")
            + f"<td class=\"{'s-pass' if ok else 's-fail'}\">{'yes' if ok else 'no'}</td>"
            + td(flags) + "</tr>")
    slp = ("<div class=\"scroll tall\"><table class=\"sortable\" id=\"vaccine-peptides\">\n<thead><tr>"
           + "".join(th(label, numeric) for label, numeric in [
               ("#", True), ("Gene", False), ("Protein change", False), ("Tier", False),
               ("Long peptide", False), ("Best epitope", False), ("Allele", False),
               ("IC50 (nM)", True), ("Binder epitopes inside", True),
               ("Manufacturable", False), ("Flags", False)])
           + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n")
    construct = []
    mrna_rows = []
    for row in mrna.to_dict("records"):
        linker = row.get("linker_before")
        if not is_missing(linker) and linker != "none":
            construct.append(str(linker).lower())
        construct.append(str(row.get("long_peptide")))
        mrna_rows.append(
            "<tr>" + num_td(row.get("position"), ".0f") + td(row.get("gene_name"))
            + td(row.get("protein_change")) + td(linker, "mono", na="")
            + td(row.get("long_peptide"), "mono")
            + num_td(row.get("junction_binders_after"), ".0f") + "</tr>")
    mrna_table = ("<div class=\"scroll\"><table>\n<thead><tr><th class=\"n\">Position</th>"
                  "<th>Gene</th><th>Protein change</th><th>Linker before</th><th>Segment</th>"
                  "<th class=\"n\">Junctional binders after</th></tr></thead>\n<tbody>\n"
                  + "\n".join(mrna_rows) + "\n</tbody>\n</table></div>\n")
    if len(junctions):
        items = "".join(
            f"<li><span class=\"mono\">{escape(j['junction_peptide'])}</span> "
            f"<span class=\"mono\">{escape(j['allele'])}</span> {fmt(j['affinity_nm'], '.1f')} nM "
            f"(between positions {escape(j['left_position'])} and {escape(j['right_position'])})</li>"
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
        f"{escape(vparams.get('peptide_count', 20))} variants, at most "
        f"{escape(vparams.get('max_per_gene', 1))} per gene before any gene gets another; each "
        f"{escape(vparams.get('long_peptide_length', 25))}-mer carries the mutation (highlighted) "
        "and as many binder epitopes as possible. Manufacturability is flagged, not used to "
        "drop a variant. See vaccine_peptides.tsv.</p>\n" + slp
        + "<h3>mRNA polyepitope</h3>\n"
        f"<p class=\"sub\">{len(mrna)} segment(s), ordered to minimise junctional 8-11-mers "
        f"predicted to bind any patient allele at IC50 &le; {escape(threshold)} nM (linkers in "
        "lower case in the construct). See vaccine_mrna.tsv and vaccine_junctions.tsv.</p>\n"
        + mrna_table + remaining
        + f"<p class=\"seq\">{escape(''.join(construct))}</p>\n"
        + left_out(design.get("long_peptides"), max_rows) + "</section>\n")


def left_out(long_peptides: pd.DataFrame | None, max_rows: int) -> str:
    """Every binder variant the designs do not carry, with why (vaccine_note); the first
    ``max_rows`` in priority order when there are more."""
    if long_peptides is None or "vaccine_note" not in long_peptides.columns:
        return ""
    notes = long_peptides["vaccine_note"].astype(str)
    out = long_peptides.loc[~notes.str.startswith("in the long-peptide and mRNA designs")]
    if not len(out):
        return ("<h3>Binder variants left out</h3>\n<p>Every binder variant is in both "
                "designs.</p>\n")
    more = (f"<p class=\"sub\">The first {max_rows} of {len(out)} are listed (more than "
            f"{max_rows} rows); long_peptides.tsv has every one.</p>\n"
            if len(out) > max_rows else "")
    rows = "\n".join(
        "<tr>" + num_td(row.get("order"), ".0f") + td(row.get("gene_name"))
        + td(row.get("protein_change")) + td(row.get("tier"))
        + td(row.get("best_peptide"), "mono") + td(row.get("best_allele"), "mono")
        + td(row.get("vaccine_note")) + "</tr>"
        for row in out.head(max_rows).to_dict("records"))
    return ("<h3>Binder variants left out</h3>\n<p class=\"sub\">Each binder variant the "
            "long-peptide or mRNA design does not carry, in vaccine priority order, with the "
            "reason (long_peptides.tsv <code>vaccine_note</code>).</p>\n" + more
            + "<div class=\"scroll tall\"><table class=\"sortable\" id=\"vaccine-left-out\">"
            "\n<thead><tr>" + "".join(th(label, numeric) for label, numeric in [
                ("Priority", True), ("Gene", False), ("Protein change", False),
                ("Tier", False), ("Best epitope", False), ("Allele", False),
                ("Why", False)])
            + "</tr></thead>\n<tbody>\n" + rows + "\n</tbody>\n</table></div>\n")
