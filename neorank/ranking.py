"""Ranking rules shared by ``neorank rank`` and ``neorank score``: per-criterion verdicts,
tiers and the composite score.

A layer below both stages (:mod:`neorank.rank` ranks predictions.tsv,
:mod:`neorank.score` scores peptides made elsewhere). Rows carry evidence
columns (``binder`` and ``agretopicity`` are defined in :mod:`neorank.rank`);
evidence that is missing is **not assessed** (``NA`` / ``not_assessed``), never
imputed.

Criteria (``pass_<criterion>``: ``pass`` / ``fail`` / ``not_assessed``)
-----------------------------------------------------------------------
``binding``
    pass when ``binder``. Always assessed.
``presentation``
    pass when ``presentation_percentile <= ranking.max_presentation_percentile``
    (2.0). Official MHCflurry models only; not assessed with the embedded
    (affinity-only) models.
``agretopicity``
    pass when the wildtype does not bind (``wildtype_affinity_nm >
    binding.max_affinity_nm``) or ``agretopicity <= ranking.max_agretopicity``
    (0.5: the mutant binds at least twice as well). Not assessed without a
    wildtype peptide. *Informational*: it does not change the tier.
``clonality``
    pass when the variant is clonal (:mod:`neorank.clonality`: VAF >= purity x
    ``ranking.clonal_vaf_fraction`` (0.5), or CCF >= ``ranking.clonal_min_ccf``
    (0.8) when a copy number is given). Not assessed without purity or VAF.
``expression``
    pass when the expression TPM >= ``ranking.min_expression_tpm`` (1.0). The
    TPM is ``transcript_tpm`` (best transcript producing the peptide) when the
    table is transcript-level and has it, else ``gene_tpm``. Not assessed
    without a table or when the table lacks the gene/transcript.
``rna_support``
    pass when the tumor RNA BAM has >= ``ranking.min_rna_alt_reads`` (2) reads
    with the variant allele (``rna_alt_reads``; zero coverage fails). Not
    assessed without a BAM or when the BAM lacks the contig.
``self_match``
    pass when ``self_match`` is False (the mutant peptide does not occur in the
    reference proteome), fail when True; not assessed when the peptides table
    has no ``self_match`` column.

Tier
----
Failed criteria are grouped into families, and the tier names the failing
family (pVACseq-style: one reason per tier, ``Poor`` for several):

=================  ==============================  ================
family             criteria                        tier when it alone fails
=================  ==============================  ================
binding            binding, presentation           ``WeakBinder``
self-similarity    self_match                      ``SelfSimilar``
expression         expression, rna_support         ``LowExpression``
clonality          clonality                       ``Subclonal``
=================  ==============================  ================

``Pass`` when no family fails (not-assessed criteria never fail a row), the
family's tier when exactly one fails, ``Poor`` when two or more fail.

Composite score
---------------
``score`` is in [0, 1], higher is better::

    score = sum(w_c * s_c) / sum(w_c)

summed over the components ``c`` that are *assessed* for the row and have a
weight ``w_c > 0`` (``ranking.weights``; defaults binding 1.0, vaf 0.5,
dissimilarity 0.25, presentation 0.5, expression 0.25). The components are:

``binding``
    ``s = L(mutant_affinity_nm)``. Mandatory: a row without a mutant affinity
    is an input error.
``vaf``
    ``s = tumor_vaf`` clipped to [0, 1] (from variants.tsv, joined on
    ``variant_id``). Clonal, well-supported variants score higher.
``dissimilarity``
    ``s = 1 - L(wildtype_affinity_nm)``. A wildtype peptide that also binds is
    likely presented in normal tissue and its T cells tolerised, so a
    non-binding wildtype scores higher.
``presentation``
    ``s = presentation_score`` (MHCflurry presentation, 0-1; official models).
``expression``
    ``s = TPM / (TPM + ranking.expression_half_tpm)`` (10 TPM scores 0.5),
    with the TPM of the ``expression`` criterion.

with Vaxrank's logistic epitope score (Sette et al. 1994 constants)::

    L(ic50) = 1 / (1 + exp((ic50 - midpoint) / width))   for ic50 <  cutoff
    L(ic50) = 0                                          for ic50 >= cutoff

``midpoint = ranking.affinity_midpoint_nm`` (350 nM), ``width =
ranking.affinity_width_nm`` (150 nM), ``cutoff = ranking.affinity_cutoff_nm``
(5000 nM). So L(50 nM) = 0.881, L(350 nM) = 0.5, L(500 nM) = 0.269,
L(1000 nM) = 0.013.

Missing evidence is **not imputed**. A component whose input is ``NA``
(no tumor VAF from the caller; no wildtype peptide, e.g. most frameshift
peptides) is "not assessed": it is dropped and the remaining weights are
renormalised. ``score_components`` lists the components used, in the fixed
order ``binding;vaf;dissimilarity;presentation;expression``. Because of the
renormalisation, scores are most comparable between rows with the same
``score_components``. Example: IC50 350 nM, VAF 0.4, wildtype IC50 >= 5000 nM
gives (1*0.5 + 0.5*0.4 + 0.25*1) / 1.75 = 0.542857; the same peptide without a
VAF gives (0.5 + 0.25) / 1.25 = 0.6. The score is rounded to 6 decimals
(:data:`SCORE_DECIMALS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from neorank.config import COMPONENTS

#: Criteria in their fixed column order (``pass_<criterion>``).
CRITERIA = ("binding", "presentation", "agretopicity", "clonality", "expression",
            "rna_support", "self_match")
PASS, FAIL, NOT_ASSESSED = "pass", "fail", "not_assessed"
#: Criterion families and the tier a row gets when only that family fails, in
#: the order they are checked; ``agretopicity`` is informational (no family).
TIER_FAMILIES = (
    ("WeakBinder", ("binding", "presentation")),
    ("SelfSimilar", ("self_match",)),
    ("LowExpression", ("expression", "rna_support")),
    ("Subclonal", ("clonality",)),
)
TIERS = ("Pass", "WeakBinder", "SelfSimilar", "LowExpression", "Subclonal", "Poor")
SCORE_DECIMALS = 6


def logistic_affinity(ic50: Any, midpoint: float = 350.0, width: float = 150.0,
                      cutoff: float = 5000.0) -> np.ndarray:
    """Vaxrank's logistic epitope score of IC50 values (vectorised).

    Parameters
    ----------
    ic50
        IC50 values in nM (array-like; NaN stays NaN).
    midpoint, width
        ``L = 1 / (1 + exp((ic50 - midpoint) / width))``.
    cutoff
        IC50 at or above which the score is exactly 0.

    Returns
    -------
    numpy.ndarray
        Scores in [0, 1] (NaN where the input is NaN).
    """
    values = np.asarray(ic50, dtype=float)
    with np.errstate(over="ignore"):
        scores = 1.0 / (1.0 + np.exp((values - midpoint) / width))
    return np.where(values >= cutoff, 0.0, scores)


def _status(assessed: np.ndarray, passed: np.ndarray) -> np.ndarray:
    """``pass``/``fail`` where assessed, ``not_assessed`` elsewhere."""
    return np.where(assessed, np.where(passed, PASS, FAIL), NOT_ASSESSED).astype(object)


def expression_tpm(frame: pd.DataFrame) -> np.ndarray:
    """TPM used by the expression criterion and score: transcript TPM, else gene TPM."""
    transcript = pd.to_numeric(frame.get("transcript_tpm", pd.Series(np.nan, index=frame.index)),
                               errors="coerce").to_numpy(dtype=float)
    gene = pd.to_numeric(frame.get("gene_tpm", pd.Series(np.nan, index=frame.index)),
                         errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(transcript), gene, transcript)


def _float_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def score_rows(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Composite score and ``score_components`` of rows that carry the evidence columns.

    ``frame`` needs ``mutant_affinity_nm`` and may have ``tumor_vaf``,
    ``wildtype_affinity_nm``, ``presentation_score``, ``gene_tpm`` and
    ``transcript_tpm`` (missing columns = not assessed).
    """
    ranking = params["ranking"]
    logistic = {"midpoint": ranking["affinity_midpoint_nm"], "width": ranking["affinity_width_nm"],
                "cutoff": ranking["affinity_cutoff_nm"]}
    tpm = expression_tpm(frame)
    values = {
        "binding": logistic_affinity(_float_column(frame, "mutant_affinity_nm"), **logistic),
        "vaf": np.clip(_float_column(frame, "tumor_vaf"), 0.0, 1.0),
        "dissimilarity": 1.0 - logistic_affinity(_float_column(frame, "wildtype_affinity_nm"),
                                                 **logistic),
        "presentation": np.clip(_float_column(frame, "presentation_score"), 0.0, 1.0),
        "expression": tpm / (tpm + ranking["expression_half_tpm"]),
    }
    weights = ranking["weights"]
    numerator = np.zeros(len(frame))
    denominator = np.zeros(len(frame))
    used: list[list[str]] = [[] for _ in range(len(frame))]
    for name in COMPONENTS:
        if weights[name] <= 0:
            continue
        assessed = ~np.isnan(values[name])
        numerator += np.where(assessed, weights[name] * np.nan_to_num(values[name]), 0.0)
        denominator += np.where(assessed, weights[name], 0.0)
        for index in np.flatnonzero(assessed):
            used[index].append(name)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.round(numerator / denominator, SCORE_DECIMALS)
    return score, [";".join(names) for names in used]


def assess_criteria(frame: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """``pass_<criterion>`` columns and ``tier`` (module docstring) for evidence rows.

    ``frame`` needs ``binder``; the other evidence columns (``presentation_percentile``,
    ``agretopicity``, ``wildtype_affinity_nm``, ``clonality``, ``gene_tpm``,
    ``transcript_tpm``, ``rna_alt_reads``, ``self_match``) are optional.
    """
    binding, ranking = params["binding"], params["ranking"]
    out = pd.DataFrame(index=frame.index)
    binder = frame["binder"].to_numpy(dtype=bool)
    out["pass_binding"] = _status(np.ones(len(frame), dtype=bool), binder)

    presentation = _float_column(frame, "presentation_percentile")
    out["pass_presentation"] = _status(~np.isnan(presentation),
                                       presentation <= ranking["max_presentation_percentile"])

    agretopicity = _float_column(frame, "agretopicity")
    wildtype = _float_column(frame, "wildtype_affinity_nm")
    wildtype_nonbinder = (wildtype > binding["max_affinity_nm"]
                          if binding["max_affinity_nm"] is not None
                          else np.zeros(len(frame), dtype=bool))
    with np.errstate(invalid="ignore"):
        agretopic = wildtype_nonbinder | (agretopicity <= ranking["max_agretopicity"])
    out["pass_agretopicity"] = _status(~np.isnan(agretopicity), agretopic)

    clonality = (frame["clonality"] if "clonality" in frame.columns
                 else pd.Series(pd.NA, index=frame.index, dtype=object))
    clonal_known = clonality.isin(["clonal", "subclonal"]).to_numpy()
    out["pass_clonality"] = _status(clonal_known, (clonality == "clonal").to_numpy())

    tpm = expression_tpm(frame)
    out["pass_expression"] = _status(~np.isnan(tpm), tpm >= ranking["min_expression_tpm"])

    alt_reads = _float_column(frame, "rna_alt_reads")
    out["pass_rna_support"] = _status(~np.isnan(alt_reads),
                                      alt_reads >= ranking["min_rna_alt_reads"])

    if "self_match" in frame.columns:
        self_match = frame["self_match"].astype("boolean")
        known = self_match.notna().to_numpy()
        out["pass_self_match"] = _status(known, ~self_match.fillna(False).to_numpy(dtype=bool))
    else:
        out["pass_self_match"] = NOT_ASSESSED

    failed_families = [
        (tier, np.any([out[f"pass_{c}"].to_numpy() == FAIL for c in criteria], axis=0))
        for tier, criteria in TIER_FAMILIES
    ]
    n_failed = np.sum([failed for _, failed in failed_families], axis=0) if len(frame) else []
    tiers = []
    for index in range(len(frame)):
        if n_failed[index] == 0:
            tiers.append("Pass")
        elif n_failed[index] > 1:
            tiers.append("Poor")
        else:
            tiers.append(next(tier for tier, failed in failed_families if failed[index]))
    out["tier"] = tiers
    return out
