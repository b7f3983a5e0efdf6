"""Patient-level verdict: is a personalised neoantigen vaccine plausible for this case?

Research use only. The verdict summarises predicted evidence; it is not a
clinical recommendation.

Verdict
-------
Each criterion gets a value, a threshold and a status ``pass`` / ``fail`` /
``not assessed``. A *gating* criterion also caps the verdict: ``eligible``
when it passes, otherwise ``borderline`` or ``not supported`` as its
thresholds say. The verdict is the lowest cap over the gating criteria
(``not supported`` < ``borderline`` < ``eligible``). Criteria that are not
assessed never cap the verdict: they are listed as missing evidence, not
counted as failures.

Criteria and defaults (params JSON section ``eligibility``)
-----------------------------------------------------------
``protein_changing_variants`` (gating)
    Somatic variants with a protein-changing effect (variants.tsv status
    ``protein_changing`` or ``no_peptides``). >= ``min_protein_changing_eligible``
    (5) eligible; >= ``min_protein_changing_borderline`` (1) borderline; fewer
    not supported.
``binder_variants`` (gating)
    Distinct variants with at least one **Pass-tier** candidate in
    candidates.tsv (a binder that fails no assessed criterion: see
    :mod:`neorank.rank`); tables without a ``tier`` column count binders.
    >= ``min_binder_variants_eligible`` (5) eligible; >=
    ``min_binder_variants_borderline`` (1) borderline; 0 not supported.
``binder_genes`` (gating)
    Distinct genes among those variants (target diversity: losing one
    gene should not remove every target). >= ``min_genes_eligible`` (3)
    eligible; >= ``min_genes_borderline`` (1) borderline; 0 not supported.
``hla_coverage`` (gating)
    Typed HLA class I alleles usable by the predictor: ``supported`` (allele
    has training data) or ``extrapolated`` (pseudosequence only); null alleles
    are skipped. At least ``min_supported_alleles`` (1) supported allele
    eligible; usable alleles but all extrapolated borderline; no usable allele
    not supported.
``purity`` (gating when given)
    Tumour purity from the sample sheet. >= ``min_purity`` (0.2) pass; below
    caps the verdict at borderline (VAFs and clonality are unreliable); not
    given: not assessed.
``tmb`` (informational, never gates)
    Coding somatic variants (protein-changing plus synonymous) divided by
    ``target_size_mb`` (30 Mb): an *estimate* that assumes an exome-size
    target. Passes at >= ``tmb_high_per_mb`` (10 mutations/Mb, the common
    "TMB-high" cut-off). Low-TMB tumours have been treated with personalised
    neoantigen vaccines in trials, so TMB alone does not decide.
``antigen_presentation`` (gating when assessed; :mod:`neorank.presentation_integrity`)
    Can the tumour still present class I peptides? Somatic hits in the
    antigen-presentation genes (B2M, HLA-A/B/C, TAP1/2, TAPBP, NLRC5, the
    IFN-gamma pathway) and HLA loss of heterozygosity per typed allele. A likely
    loss of function in B2M caps at ``presentation.b2m_lof_verdict`` (not
    supported), in the IFN-gamma pathway or TAP/TAPBP/NLRC5 at borderline, in an
    HLA gene at borderline only when no other allele keeps a target; uncertain
    hits never cap. Targets restricted to a lost allele are not counted by
    ``binder_variants`` / ``binder_genes`` (nor by ``rna_expression``); the
    per-allele status and the affected candidates are in eligibility.json's
    ``presentation`` (docs/tables.md).
``rna_expression`` (gating when assessed)
    Tumour RNA evidence (expression table and/or RNA BAM, through the
    ``pass_expression`` / ``pass_rna_support`` columns of candidates.tsv):
    binder variants confirmed expressed by either. At least one: pass; RNA
    evidence given but no binder variant expressed: fail, capping the verdict
    at borderline; no RNA evidence: not assessed.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from neorank.config import eligibility_params
from neorank.errors import InputFileError, NeoRankError
from neorank.io import CHUNK_ROWS
from neorank.presentation_integrity import (
    PresentationEvidence,
    allele_key,
    assess_presentation,
    judge_presentation,
    presentation_params,
)
from neorank.tables import (
    load_json,
    table_blocks,
    table_header,
)

LOG = logging.getLogger(__name__)

#: Verdicts from worst to best.
VERDICTS = ("not supported", "borderline", "eligible")
ALLELE_STATUSES = ("supported", "extrapolated", "null_skipped")
PROTEIN_CHANGING_STATUSES = ("protein_changing", "no_peptides")
CODING_STATUSES = ("protein_changing", "no_peptides", "silent")

DISCLAIMERS = [
    "Research use only: this verdict summarises computational predictions and is not a "
    "clinical recommendation, diagnosis or treatment decision.",
    "A predicted MHC binder is not a proven T-cell epitope, and an immune response to a "
    "vaccine does not guarantee clinical benefit.",
    "Personalised neoantigen vaccines are investigational; patients access them mostly "
    "through clinical trials.",
]
DEMO_MODELS_NOTE = (
    "Predictions come from NeoRank's embedded, demo-grade MHCflurry models: affinity-only "
    "(no antigen processing or presentation), compact, and less accurate on new peptides "
    "than the published MHCflurry models (MODEL_CARD.md). Treat "
    "this verdict as a demonstration of the pipeline, not as evidence about the patient."
)
AFFINITY_ONLY_NOTE = (
    "Predictions are affinity-only (no antigen processing or presentation scores)."
)


@dataclass(frozen=True)
class Criterion:
    """One eligibility criterion.

    Attributes
    ----------
    key, label
        Machine name and human label.
    value
        The measured value (number, text or None when not assessed).
    display
        ``value`` formatted for people.
    threshold
        The rule, in words.
    status
        ``pass``, ``fail`` or ``not assessed``.
    cap
        Best verdict this criterion allows; None when it does not gate the verdict.
    note
        Why it matters / how it was computed.
    """

    key: str
    label: str
    value: Any
    display: str
    threshold: str
    status: str
    cap: str | None
    note: str = ""


@dataclass(frozen=True)
class Eligibility:
    """The patient-level verdict with its criteria and plain-language notes."""

    verdict: str
    summary: str
    criteria: list[Criterion]
    notes: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    #: Antigen-presentation evidence (docs/tables.md, eligibility.json ``presentation``);
    #: empty when the check did not run.
    presentation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``criteria`` as a list of dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "eligibility.json") -> Eligibility:
        """The inverse of :meth:`to_dict` (eligibility.json as the stage writes it)."""
        try:
            return cls(verdict=data["verdict"], summary=data["summary"],
                       criteria=[Criterion(**c) for c in data["criteria"]],
                       notes=list(data["notes"]), params=dict(data.get("params") or {}),
                       presentation=dict(data.get("presentation") or {}))
        except (KeyError, TypeError) as err:
            raise InputFileError(f"not an eligibility verdict ({err})", where=where,
                                 fix="regenerate it with `neorank eligibility`") from err


# --------------------------------------------------------------------------- params


# --------------------------------------------------------------------------- criteria


def _count_criterion(key: str, label: str, count: int, eligible: int, borderline: int,
                     unit: str, note: str) -> Criterion:
    if count >= eligible:
        cap = "eligible"
    elif count >= borderline:
        cap = "borderline"
    else:
        cap = "not supported"
    threshold = f">= {eligible} eligible; >= {borderline} borderline; fewer: not supported"
    return Criterion(key=key, label=label, value=count, display=f"{count} {unit}",
                     threshold=threshold, status="pass" if cap == "eligible" else "fail",
                     cap=cap, note=note)


def binder_mask(candidates: pd.DataFrame) -> pd.Series:
    """The ``binder`` column as booleans (accepts bool dtype or ``True``/``False`` text)."""
    values = candidates["binder"]
    if values.dtype == bool:
        return values
    mapped = values.map(lambda v: str(v).strip().lower() in {"true", "1"})
    return mapped.astype(bool)


def _hla_criterion(alleles: list[dict[str, Any]], min_supported: int) -> Criterion:
    for index, entry in enumerate(alleles):
        if not isinstance(entry, dict) or entry.get("status") not in ALLELE_STATUSES:
            raise InputFileError(
                f"allele entry {index + 1} has no valid status: {entry!r}",
                where="alleles.json",
                fix=f"each entry needs status one of {', '.join(ALLELE_STATUSES)}")
    supported = sorted({str(e.get("allele") or e.get("input")) for e in alleles
                        if e["status"] == "supported"})
    extrapolated = sorted({str(e.get("allele") or e.get("input")) for e in alleles
                           if e["status"] == "extrapolated"} - set(supported))
    skipped = sorted({str(e.get("input") or e.get("allele")) for e in alleles
                      if e["status"] == "null_skipped"})
    usable = len(supported) + len(extrapolated)
    if usable == 0:
        cap = "not supported"
    elif len(supported) >= min_supported:
        cap = "eligible"
    else:
        cap = "borderline"
    display = (f"{len(supported)} supported, {len(extrapolated)} extrapolated, "
               f"{len(skipped)} null allele(s) skipped ({len(alleles)} typed)")
    return Criterion(
        key="hla_coverage", label="HLA class I coverage",
        value={"supported": len(supported), "extrapolated": len(extrapolated),
               "null_skipped": len(skipped), "typed": len(alleles)},
        display=display,
        threshold=(f">= {min_supported} supported allele(s) eligible; usable but only "
                   "extrapolated: borderline; none usable: not supported"),
        status="pass" if cap == "eligible" else "fail", cap=cap,
        note=("Extrapolated alleles have no training data (pseudosequence only), so their "
              "predictions are less reliable; null alleles are not expressed and were skipped."))


def assess(variants: pd.DataFrame, candidates: pd.DataFrame, alleles: list[dict[str, Any]],
           params: dict[str, Any] | None = None, *, purity: float | None = None,
           expression: str | None = None, models_label: str | None = None,
           affinity_only: bool | None = None, effects: pd.DataFrame | None = None,
           copy_number: str | os.PathLike | None = None,
           hla_loh: str | os.PathLike | None = None,
           presentation: dict[str, Any] | None = None,
           reference_genes: set[str] | None = None) -> Eligibility:
    """Compute the patient-level verdict.

    Parameters
    ----------
    variants
        variants.tsv (needs ``variant_id`` and ``status``).
    candidates
        candidates.tsv (needs ``variant_id``, ``gene_name`` and ``binder``).
    alleles
        alleles.json entries ``{input, allele, status}``.
    params
        Output of :func:`eligibility_params` (defaults when None).
    purity
        Tumour purity in [0, 1], or None when unknown.
    expression
        Path of the expression table if the sample sheet gave one (named in the
        notes; the evidence itself comes from candidates.tsv).
    models_label
        ``embedded`` adds the demo-grade note.
    affinity_only
        True adds the affinity-only note (implied by ``embedded``).
    effects, copy_number, hla_loh, presentation, reference_genes
        Antigen-presentation evidence (:mod:`neorank.presentation_integrity`): the
        effects table, the sample sheet's copy-number and HLA LOH files, the
        ``presentation`` params (defaults when None) and the reference
        annotation's gene names (when known). The APM check runs whenever
        variants.tsv has gene names or coordinates.

    Returns
    -------
    Eligibility
        Verdict, summary sentence, criteria and notes.

    Raises
    ------
    InputFileError
        Missing columns or a malformed allele entry.
    NeoRankError
        Purity outside [0, 1].
    """
    params = params or eligibility_params({})
    for frame, name, columns in ((variants, "variants.tsv", ["variant_id", "status"]),
                                 (candidates, "candidates.tsv",
                                  ["variant_id", "gene_name", "binder"])):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputFileError(f"missing column(s) {', '.join(missing)}", where=name,
                                 fix="pass the NeoRank table (see docs/tables.md)")

    status = variants["status"].astype(str)
    protein_changing = variants.loc[status.isin(PROTEIN_CHANGING_STATUSES), "variant_id"].nunique()
    coding = variants.loc[status.isin(CODING_STATUSES), "variant_id"].nunique()
    binders = candidates.loc[binder_mask(candidates)]
    tiered = "tier" in candidates.columns
    all_targets = binders.loc[binders["tier"].astype(str) == "Pass"] if tiered else binders
    evidence = _presentation_evidence(variants, alleles, effects, copy_number, hla_loh,
                                      presentation, reference_genes)
    judged = judge_presentation(evidence, all_targets)
    targets = judged.remaining
    lost = set(judged.record.get("lost_alleles") or [])
    if lost and "allele" in binders.columns:
        binders = binders.loc[~binders["allele"].map(allele_key).isin(lost)]
    binder_variants = targets["variant_id"].nunique()
    binder_genes = targets["gene_name"].dropna().astype(str).nunique()
    target_words = ("Pass-tier candidate", "a binder that fails no assessed criterion") \
        if tiered else ("predicted binder", "a mutant peptide predicted to bind a patient allele")

    uncounted = judged.record.get("uncounted_variants") or []
    remaining_note = (f" {len(uncounted)} variant(s) whose targets are only on lost HLA "
                      "allele(s) are not counted." if uncounted else "")

    def target_criteria(n_variants: int, n_genes: int, extra: str) -> list[Criterion]:
        return [
            _count_criterion(
                "binder_variants", f"Variants with a {target_words[0]}", n_variants,
                params["min_binder_variants_eligible"], params["min_binder_variants_borderline"],
                "variant(s)",
                f"Distinct variants with at least one {target_words[0]} ({target_words[1]}); "
                "personalised vaccines typically carry several targets." + extra),
            _count_criterion(
                "binder_genes", f"Genes with a {target_words[0]}", n_genes,
                params["min_genes_eligible"], params["min_genes_borderline"], "gene(s)",
                "Targets spread over several genes are less likely to be lost together."
                + extra),
        ]

    criteria = [
        _count_criterion(
            "protein_changing_variants", "Somatic protein-changing variants", protein_changing,
            params["min_protein_changing_eligible"], params["min_protein_changing_borderline"],
            "variant(s)",
            "Variants that change the protein sequence are the source of neoantigens."),
        *target_criteria(binder_variants, binder_genes, remaining_note),
        _hla_criterion(alleles, params["min_supported_alleles"]),
    ]

    if purity is None or (isinstance(purity, float) and math.isnan(purity)):
        criteria.append(Criterion(
            key="purity", label="Tumour purity", value=None, display="not given",
            threshold=f">= {params['min_purity']:g}", status="not assessed", cap=None,
            note="No purity in the sample sheet; VAF-based evidence cannot be put in context."))
    else:
        if not (isinstance(purity, (int, float)) and 0 <= purity <= 1):
            raise NeoRankError(f"purity {purity!r} is not a fraction in [0, 1]",
                               where="--purity", fix="give purity as a fraction, e.g. 0.6")
        ok = purity >= params["min_purity"]
        criteria.append(Criterion(
            key="purity", label="Tumour purity", value=float(purity), display=f"{purity:g}",
            threshold=f">= {params['min_purity']:g} (below: borderline)",
            status="pass" if ok else "fail", cap="eligible" if ok else "borderline",
            note="Low purity makes variant calls and VAFs unreliable."))

    tmb = coding / params["target_size_mb"]
    criteria.append(Criterion(
        key="tmb", label="Tumour mutational burden (estimate)", value=round(tmb, 4),
        display=f"{tmb:.2f} mutations/Mb ({coding} coding / {params['target_size_mb']:g} Mb)",
        threshold=f">= {params['tmb_high_per_mb']:g}/Mb (TMB-high); informational",
        status="pass" if tmb >= params["tmb_high_per_mb"] else "fail", cap=None,
        note=(f"Estimate assuming an exome-size target of {params['target_size_mb']:g} Mb "
              "(eligibility.target_size_mb); meaningless for panels or subsets unless set. "
              "It does not change the verdict: low-TMB tumours have received personalised "
              "vaccines in trials.")))

    criteria.append(_rna_criterion(binders, expression))
    criteria.append(Criterion(
        key="antigen_presentation", label="Antigen presentation (APM genes, HLA LOH)",
        value=({"apm_lof": sum(h["call"] == "likely loss of function"
                               for h in judged.record["apm_hits"]),
                "apm_hits": len(judged.record["apm_hits"]),
                "lost_alleles": len(judged.record["lost_alleles"]),
                "flagged_candidates": len(judged.record["flagged_candidates"])}
               if judged.record else None),
        display=judged.display, threshold=judged.threshold, status=judged.status,
        cap=judged.cap, note=judged.note))

    caps = [c.cap for c in criteria if c.cap is not None]
    verdict = min(caps, key=VERDICTS.index) if caps else "not supported"
    summary = _summary(verdict, criteria, binder_variants, binder_genes, tiered)
    record = dict(judged.record)
    if record:
        # The verdict without the presentation evidence: all targets counted, no cap.
        baseline = [c for c in criteria if c.key not in ("binder_variants", "binder_genes",
                                                         "antigen_presentation")]
        baseline += target_criteria(all_targets["variant_id"].nunique(),
                                    all_targets["gene_name"].dropna().astype(str).nunique(), "")
        base_caps = [c.cap for c in baseline if c.cap is not None]
        before = min(base_caps, key=VERDICTS.index) if base_caps else "not supported"
        record["verdict_without_presentation"] = before
        record["verdict_change"] = (
            "unchanged" if before == verdict
            else f"{before} -> {verdict} because of the antigen-presentation evidence")
        if before != verdict:
            summary += (f" The antigen-presentation evidence lowered the verdict from {before} "
                        f"to {verdict}.")

    notes = list(DISCLAIMERS)
    if models_label == "embedded":
        notes.append(DEMO_MODELS_NOTE)
    elif affinity_only:
        notes.append(AFFINITY_ONLY_NOTE)
    missing = [c.label for c in criteria if c.status == "not assessed"]
    if missing:
        notes.append("Not assessed (missing evidence, not counted as failures): "
                     + "; ".join(missing) + ".")
    return Eligibility(verdict=verdict, summary=summary, criteria=criteria, notes=notes,
                       params=dict(params), presentation=record)


def _presentation_evidence(variants: pd.DataFrame, alleles: list[dict[str, Any]],
                           effects: pd.DataFrame | None, copy_number: Any, hla_loh: Any,
                           presentation: dict[str, Any] | None,
                           reference_genes: set[str] | None) -> PresentationEvidence | None:
    """The presentation evidence, or None when there is nothing to check it with."""
    usable = ("gene_name" in variants.columns or {"chrom", "pos"} <= set(variants.columns)
              or effects is not None or copy_number or hla_loh)
    if not usable:
        return None
    return assess_presentation(variants, alleles, presentation or presentation_params({}),
                               effects=effects, copy_number=copy_number, hla_loh=hla_loh,
                               reference_genes=reference_genes)


def _rna_criterion(binders: pd.DataFrame, expression: str | None) -> Criterion:
    """Binder variants confirmed expressed by the expression table or the RNA BAM."""
    label = "Tumour RNA expression of the binder variants"
    threshold = ">= 1 binder variant expressed (pass_expression or pass_rna_support)"
    columns = [c for c in ("pass_expression", "pass_rna_support") if c in binders.columns]
    assessed_rows = pd.Series(False, index=binders.index)
    expressed_rows = pd.Series(False, index=binders.index)
    for column in columns:
        values = binders[column].astype(str)
        assessed_rows |= values.isin(["pass", "fail"])
        expressed_rows |= values == "pass"
    assessed = int(binders.loc[assessed_rows, "variant_id"].nunique())
    expressed = int(binders.loc[expressed_rows, "variant_id"].nunique())
    given = ["expression table"] if expression else []
    if assessed == 0:
        note = ("Tumour RNA was given (" + ", ".join(given) + ") but none of the binder "
                "variants could be looked up in it." if given else "No tumour RNA data given.")
        return Criterion(key="rna_expression", label=label, value=None, display="not assessed",
                         threshold=threshold, status="not assessed", cap=None,
                         note=note + " Candidates from genes silent in the tumour cannot be "
                         "presented.")
    ok = expressed >= 1
    return Criterion(
        key="rna_expression", label=label,
        value={"expressed": expressed, "assessed": assessed},
        display=f"{expressed} of {assessed} binder variant(s) expressed",
        threshold=threshold + " (none: borderline)", status="pass" if ok else "fail",
        cap="eligible" if ok else "borderline",
        note=("Expression from " + (", ".join(given) if given else "candidates.tsv")
              + " (thresholds: ranking.min_expression_tpm, ranking.min_rna_alt_reads). "
              "Candidates from genes silent in the tumour cannot be presented."))


def _summary(verdict: str, criteria: list[Criterion], binder_variants: int,
             binder_genes: int, tiered: bool = False) -> str:
    limiting = [c.label.lower() for c in criteria
                if c.cap is not None and c.cap != "eligible"]
    evidence = (f"{binder_variants} variant(s) in {binder_genes} gene(s) give predicted "
                "MHC class I binders" + (" that pass every assessed criterion" if tiered else ""))
    if verdict == "eligible":
        return (f"A personalised neoantigen vaccine is plausible for this case by NeoRank's "
                f"research criteria: {evidence}.")
    if verdict == "borderline":
        return (f"Borderline: {evidence}; limited by {', '.join(limiting)}. A personalised "
                "neoantigen vaccine may be possible but the predicted evidence is thin.")
    return (f"Not supported: {evidence}; limited by {', '.join(limiting)}. The predicted "
            "evidence does not support a personalised neoantigen vaccine for this case.")


# --------------------------------------------------------------------------- stage

#: Columns of variants.tsv the verdict reads (the presentation check uses the
#: genes, classes and coordinates).
VARIANT_COLUMNS = ["variant_id", "status", "chrom", "pos", "gene_name", "effect",
                   "protein_change", "variant_class", "tumor_vaf"]

#: Columns of candidates.tsv the verdict reads (binder rows only are kept).
FACT_COLUMNS = ["variant_id", "gene_name", "allele", "binder", "tier", "pass_expression",
                "pass_rna_support"]
_TEXT = {c: "str" for c in ("variant_id", "gene_name", "allele", "tier", "pass_expression",
                            "pass_rna_support")}


def candidate_facts(path: str | os.PathLike,
                    chunk_rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, bool]:
    """What the verdict needs from candidates.tsv, read in blocks.

    Returns ``(targets, has_presentation)``: the distinct binder rows over
    :data:`FACT_COLUMNS` present in the table, and whether any row has a
    presentation score (official models).
    """
    header = table_header(path)
    missing = [c for c in ("variant_id", "gene_name", "binder") if c not in header]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where=str(path),
                             fix="pass the candidates.tsv written by `neorank rank`")
    columns = [c for c in FACT_COLUMNS if c in header]
    read = columns + (["presentation_score"] if "presentation_score" in header else [])
    parts, has_presentation = [], False
    for block in table_blocks(path, read, chunk_rows,
                              dtype={c: t for c, t in _TEXT.items() if c in header}):
        if "presentation_score" in block.columns:
            has_presentation |= bool(block["presentation_score"].notna().any())
        binders = block.loc[binder_mask(block), columns]
        if len(binders):
            parts.append(binders.drop_duplicates())
    targets = (pd.concat(parts).drop_duplicates() if parts
               else pd.DataFrame(columns=columns))
    return targets, has_presentation


def judge(variants: pd.DataFrame, targets: pd.DataFrame, has_presentation: bool,
          alleles: list[dict[str, Any]], params: dict[str, Any], manifest: dict[str, Any], *,
          purity: float | None = None, expression: str | None = None,
          **presentation: Any) -> Eligibility:
    """The verdict from the facts of :func:`candidate_facts` and the run's manifest
    (the models' label decides the demo-grade and affinity-only notes);
    ``presentation``: the antigen-presentation keywords of :func:`assess`."""
    models_label = str((manifest.get("models") or {}).get("label") or "")
    affinity_only = models_label == "embedded" or not has_presentation
    return assess(variants, targets, alleles, params, purity=purity, expression=expression,
                  models_label=models_label, affinity_only=affinity_only, **presentation)


def read_eligibility(path: str | os.PathLike) -> Eligibility:
    """eligibility.json as an :class:`Eligibility`."""
    data = load_json(path, "eligibility.json")
    if not isinstance(data, dict):
        raise InputFileError("eligibility.json must be a JSON object", where=str(path),
                             fix="regenerate it with `neorank eligibility`")
    return Eligibility.from_dict(data, str(path))
