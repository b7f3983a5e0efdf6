"""The report page: the sections of :mod:`neorank.report.sections` and
:mod:`neorank.report.plots` from the variants table, the peptide counts and the
:class:`~neorank.report.digest.CandidateDigest` of candidates.tsv, with the
inline style sheet, script and Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import html
import os
from collections import Counter
from typing import Any

import pandas as pd

from neorank import __version__
from neorank.config import (
    DEFAULT_MAX_VARIANT_ROWS,
    DEFAULT_TOP_N,
    REPORT_DEFAULTS,
    eligibility_params,
    ranking_params,
)
from neorank.errors import InputFileError
from neorank.html import CSS, escape, table_of_contents
from neorank.io import CHUNK_ROWS
from neorank.report import plots, sections
from neorank.report import vaccine as vaccine_section
from neorank.report.assets import JS
from neorank.report.digest import (
    CANDIDATE_COLUMNS,
    REQUIRED_CANDIDATE_COLUMNS,
    TEXT_COLUMNS,
    CandidateDigest,
    digest_candidates,
    peptide_counts,
)
from neorank.tables import read_table, table_blocks, table_header
from neorank.verdict import Eligibility, judge


def _require(frame: pd.DataFrame | list[str], columns: list[str], where: str) -> None:
    """``frame``: a table or its header."""
    header = frame.columns if isinstance(frame, pd.DataFrame) else frame
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where=where,
                             fix="pass the NeoRank table (see docs/tables.md)")


def _settings(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Ranking, report and eligibility settings (validated)."""
    rank_params = ranking_params(params)
    report_params = {**REPORT_DEFAULTS, **(params.get("report") or {})}
    return rank_params, report_params, eligibility_params(params)


def render_report_from_files(sample: str, variants: pd.DataFrame,
                             peptides: str | os.PathLike, candidates: str | os.PathLike,
                             manifest: dict[str, Any], alleles: list[dict[str, Any]],
                             params: dict[str, Any] | None = None, *,
                             chunk_rows: int = CHUNK_ROWS, top_n: int = DEFAULT_TOP_N,
                             purity: float | None = None, expression: str | None = None,
                             max_variant_rows: int = DEFAULT_MAX_VARIANT_ROWS,
                             vaccine: dict[str, pd.DataFrame] | None = None,
                             eligibility: Eligibility | None = None,
                             caveats: list[dict[str, str]] | None = None,
                             ) -> tuple[str, Eligibility]:
    """Render the HTML report, reading peptides.tsv and candidates.tsv from their paths
    in blocks of ``chunk_rows`` rows (only the columns the report uses).

    Parameters
    ----------
    sample
        Sample id (any text; escaped).
    variants
        The sample's variants.tsv.
    peptides, candidates
        Paths of the sample's peptides.tsv and candidates.tsv.
    manifest
        manifest.json contents.
    alleles
        alleles.json entries.
    params
        The params JSON object (``binding``, ``ranking``, ``eligibility`` sections).
    chunk_rows
        Rows read per block.
    top_n
        Binder rows in the top-candidates table.
    purity, expression
        Optional sample-sheet values passed to the eligibility assessment.
    max_variant_rows
        Cap on the per-variant lists: the variant summary (unfiltered variants with a
        binder first, by best rank, then the other unfiltered ones, then filtered ones),
        the binder variants left out of the vaccine design (in priority order) and the
        scatter of each variant's best candidate (best-ranked first); each says when
        it is capped and which file has every row.
    vaccine
        ``{"peptides", "mrna", "junctions"}`` tables of ``neorank vaccine``
        (the section says "not run" when None).

    caveats
        Preflight's warnings for the sample (:func:`preflight_warnings`); None leaves
        the section out (no preflight report given).
    eligibility
        The verdict written by ``neorank eligibility`` (the workflow's path); None
        judges it here with the same code (:func:`neorank.verdict.judge`).
    Returns
    -------
    tuple
        ``(html_text, eligibility)``.

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
    n_peptides = peptide_counts(table_blocks(peptides, ["variant_id"], chunk_rows,
                                             dtype={"variant_id": "str"}))
    return _render(sample, variants, n_peptides, digest, manifest, alleles, params, settings,
                   top_n=top_n, purity=purity, expression=expression,
                   max_variant_rows=max_variant_rows, vaccine=vaccine, result=eligibility,
                   caveats=caveats)


def _render(sample: str, variants: pd.DataFrame, n_peptides: Counter, digest: CandidateDigest,
            manifest: dict[str, Any], alleles: list[dict[str, Any]], params: dict[str, Any],
            settings: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], *,
            top_n: int, purity: float | None, expression: str | None, max_variant_rows: int,
            vaccine: dict[str, pd.DataFrame] | None,
            result: Eligibility | None = None,
            caveats: list[dict[str, str]] | None = None) -> tuple[str, Eligibility]:
    """The page from the variants table, peptide counts and the candidates digest
    (``settings``: what :func:`_settings` returns for ``params``)."""
    rank_params, report_params, elig_params = settings
    for column in ("gene_name", "effect", "protein_change", "reason", "tumor_vaf"):
        if column not in variants.columns:
            variants = variants.assign(**{column: pd.NA})
    models_label = str((manifest.get("models") or {}).get("label") or "")
    affinity_only = models_label == "embedded" or "presentation_score" not in digest.columns \
        or not digest.has_presentation
    # An untiered table (ranked elsewhere, or by an older version) is judged on
    # binders: the digest's binder facts have a tier column only when the table has one.
    if result is None:  # not given: judged here with the eligibility stage's code
        result = judge(variants, digest.targets, digest.has_presentation, alleles, elig_params,
                       manifest, purity=purity, expression=expression)
    predictors = sorted(digest.predictors) if "predictor" in digest.columns else []

    # The CSP hash covers the exact text between <script> and </script>,
    # including the newlines around JS (browsers block the script otherwise).
    script = f"\n{JS}\n"
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    # What a reviewer reads first comes first: the verdict and its evidence, the
    # funnel, the top candidates; provenance closes the page.
    content = "".join([
        sections.eligibility(result),
        sections.presentation(result),
        sections.caveats(caveats),
        sections.funnel(variants, len(n_peptides), len(digest.binder_variant_rows)),
        sections.top_candidates(digest.top, top_n, digest.binder_rows, rank_params),
        plots.section(digest.best, digest.binder_allele_rows, digest.binder_allele_variants,
                      alleles, rank_params, max_variant_rows),
        plots.gene_chart(digest.binder_genes),
        sections.alleles(alleles, digest.allele_rows, digest.binder_allele_rows),
        vaccine_section.vaccine(vaccine, params, max_variant_rows),
        sections.drilldown(digest.drill, digest.rows, digest.n_variants, digest.allele_names,
                           alleles, report_params["drilldown_max_variants"],
                           report_params["drilldown_max_peptides"],
                           report_params["aggregate_inclusion_nm"]),
        sections.variant_summary(variants, n_peptides, digest.binder_variant_rows,
                                 digest.best_binders, max_variant_rows),
        sections.provenance(manifest, predictors),
    ])
    body = (sections.header(sample) + table_of_contents(content, TOC_LABELS)
            + sections.banners(models_label, affinity_only) + content)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"robots\" content=\"noindex\">\n"
        f"<title>NeoRank report: {escape(sample)} (research use only)</title>\n"
        f"<style>\n{CSS}\n</style>\n</head>\n<body>\n<main>\n"
        + body
        + f"<footer>Generated by NeoRank {html.escape(__version__)}. Research use only; not for "
        "clinical decisions. Tables: variants.tsv, peptides.tsv, candidates.tsv, aggregated.tsv, "
        "vaccine_*.tsv; review: candidates.xlsx; provenance: manifest.json.</footer>\n"
        f"</main>\n<script>{script}</script>\n</body>\n</html>\n")
    return page, result


#: Short table-of-contents labels of the sections (others: their heading).
TOC_LABELS = {"eligibility": "Verdict", "presentation": "Antigen presentation",
              "caveats": "Input caveats", "funnel": "Funnel", "candidates": "Top candidates",
              "plots": "Plots", "genes": "Binders per gene", "alleles": "HLA alleles",
              "vaccine": "Vaccine design", "drilldown": "Drill-down",
              "variants": "All variants", "provenance": "Provenance"}


def preflight_warnings(path: str | os.PathLike) -> list[dict[str, str]]:
    """The ``warning`` rows of a preflight report (results/preflight/<sample>.tsv)."""
    frame = read_table(path, columns=["severity", "check", "file", "record", "message", "fix"])
    frame = frame.astype(object).where(frame.notna(), "")
    return [row for row in frame.to_dict("records") if row.get("severity") == "warning"]
