"""``neorank rank``: metrics, per-criterion verdicts, tiers and a composite score.

Reads ``predictions.tsv`` (peptides x alleles) and ``variants.tsv`` and writes
``candidates.tsv``: every prediction row (binders and non-binders) with the
evidence columns, one ``pass_<criterion>`` column per criterion, a ``tier``
and the composite ``score`` (columns: docs/tables.md). Optional evidence:
``--peptides`` (``self_match``), ``--expression`` (:mod:`neorank.expression`),
``--rna-bam`` (:mod:`neorank.rnaseq`), ``--purity`` and ``--copy-number``
(:mod:`neorank.clonality`). Evidence that is not given is **not assessed**
(``NA`` / ``not_assessed``), never imputed.

Binder
------
``binder`` is True when ``mutant_affinity_nm <= binding.max_affinity_nm``
(default 500 nM) **or** ``mutant_percentile <= binding.max_percentile``
(default 2.0). A missing percentile (allele without calibration) never makes a
binder: only the affinity counts for that row.

Agretopicity
------------
``agretopicity = mutant_affinity_nm / wildtype_affinity_nm``; ``NA`` when
there is no wildtype peptide or no wildtype prediction. Values below 1 mean the
mutant binds better than the wildtype.

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
VAF gives (0.5 + 0.25) / 1.25 = 0.6.

Order
-----
The score is rounded to 6 decimals. Rows are sorted by ``binder`` (True
first), ``score`` (descending), ``mutant_affinity_nm`` (ascending) and
``candidate_id`` (ascending), and ``rank`` numbers them 1..n. With
``ranking.exclude_self_matches`` (default true) rows whose ``self_match`` is
True are excluded from ranking: they keep their row, score and tier
(``SelfSimilar`` or ``Poor``) but are placed after every other row.

``candidate_id`` is ``{sample}-`` plus the first 12 hex digits of
``sha1("{variant_id}|{mutant_peptide}|{allele}")``, stable across runs and
versions.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neorank.config import COMPONENTS, DEFAULT_PARAMS, load_params, ranking_params
from neorank.errors import InputFileError, NeoRankError
from neorank.io import (
    CHUNK_ROWS,
    read_tsv_chunks,
    tsv_columns,
    tsv_text,
    write_tsv,
)
from neorank.tables import read_table, table_errors

LOG = logging.getLogger(__name__)

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

PREDICTION_COLUMNS = [
    "variant_id",
    "mutant_peptide",
    "allele",
    "mutant_affinity_nm",
    "mutant_percentile",
    "wildtype_affinity_nm",
]
VARIANT_COLUMNS = ["variant_id", "tumor_vaf", "tumor_depth", "normal_vaf"]
JOINED_COLUMNS = ["tumor_vaf", "tumor_depth", "normal_vaf"]
LEADING_COLUMNS = ["rank", "candidate_id"]
#: Evidence columns added after the read evidence (``NA`` = not assessed).
EVIDENCE_COLUMNS = ["clonality", "ccf", "gene_tpm", "transcript_tpm", "rna_depth",
                    "rna_alt_reads", "rna_vaf", "self_match"]
TRAILING_COLUMNS = [
    "binder",
    "agretopicity",
    "tumor_vaf",
    "tumor_depth",
    "normal_vaf",
    *EVIDENCE_COLUMNS,
    *[f"pass_{c}" for c in CRITERIA],
    "tier",
    "score",
    "score_components",
]
SCORE_DECIMALS = 6


# --------------------------------------------------------------------------- params


# --------------------------------------------------------------------------- scoring


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


def candidate_id(sample: str, variant_id: str, mutant_peptide: str, allele: str) -> str:
    """Stable candidate id: ``{sample}-`` + sha1(``variant_id|mutant_peptide|allele``)[:12]."""
    key = f"{variant_id}|{mutant_peptide}|{allele}".encode()
    return f"{sample}-{hashlib.sha1(key).hexdigest()[:12]}"


def _numeric_column(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    """Column as float; a non-numeric, non-NA cell is an input error naming its line."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFileError(
            f"column {column} has a non-numeric value {frame[column].iloc[first]!r} "
            f"(data line {first + 2})",
            where=where, fix=f"write numbers or NA in {column}")
    return values.astype(float)


def _require(frame: pd.DataFrame, columns: list[str], where: str, produced_by: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)}", where=where,
                             fix=f"pass the {produced_by} output (see docs/tables.md)")


def _bool_column(values: pd.Series, column: str, where: str) -> pd.Series:
    """True/False/NA column (accepts bools and ``True``/``False`` text); other text is an error."""
    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return pd.NA
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        if text in {"", "na"}:
            return pd.NA
        raise InputFileError(f"column {column} has {value!r}, not True/False", where=where,
                             fix=f"write True, False or NA in {column}")
    return values.map(convert).astype("boolean")


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


def _expression_columns(frame: pd.DataFrame, table: Any, genome: Any) -> tuple[list, list]:
    """gene_tpm and transcript_tpm per row (None = not assessed)."""
    cache: dict[tuple[str, str], tuple[Any, Any]] = {}
    gene_tpm, transcript_tpm = [], []
    has_transcripts = "transcript_ids" in frame.columns
    has_gene = "gene_name" in frame.columns
    for index in range(len(frame)):
        transcripts = (str(frame["transcript_ids"].iloc[index]) if has_transcripts
                       and not pd.isna(frame["transcript_ids"].iloc[index]) else "")
        gene_name = (str(frame["gene_name"].iloc[index]) if has_gene
                     and not pd.isna(frame["gene_name"].iloc[index]) else "")
        key = (transcripts, gene_name)
        if key not in cache:
            ids = [t for t in transcripts.split(";") if t]
            gene_id = None
            gene_transcripts = None
            if genome is not None:
                for transcript_id in ids:
                    try:
                        transcript = genome.transcript_by_id(transcript_id.split(".")[0])
                    except ValueError:
                        continue
                    gene_id = transcript.gene_id
                    gene_transcripts = genome.transcript_ids_of_gene_id(gene_id)
                    break
            elif ids:
                gene_id = table.transcript_gene.get(ids[0].split(".")[0])
            cache[key] = (table.gene_tpm(gene_id, gene_name or None, gene_transcripts),
                          table.transcript_tpm(ids))
        gene, transcript = cache[key]
        gene_tpm.append(gene)
        transcript_tpm.append(transcript)
    return gene_tpm, transcript_tpm


def rank_candidates(predictions: pd.DataFrame, variants: pd.DataFrame, sample: str,
                    params: dict[str, Any] | None = None, *,
                    peptides: pd.DataFrame | None = None,
                    expression: Any = None, genome: Any = None,
                    rna_counts: pd.DataFrame | None = None,
                    purity: float | None = None, copy_number: Any = None,
                    predictions_where: str = "predictions.tsv",
                    variants_where: str = "variants.tsv",
                    peptides_where: str = "peptides.tsv") -> pd.DataFrame:
    """Flag binders, assess every criterion, tier, score and rank prediction rows.

    Parameters
    ----------
    predictions
        predictions.tsv as read by :func:`neorank.io.read_tsv`.
    variants
        variants.tsv (needs ``variant_id, tumor_vaf, tumor_depth, normal_vaf``;
        ``chrom, pos`` for copy-number segments).
    sample
        Sample id, the prefix of ``candidate_id``.
    params
        Output of :func:`ranking_params` (defaults when None).
    peptides
        peptides.tsv; its ``self_match`` column is joined on
        ``(variant_id, mutant_peptide)`` when predictions.tsv lacks it.
    expression
        A :class:`neorank.expression.ExpressionTable` (None: not assessed).
    genome
        pyensembl Genome used to link transcripts to genes for expression.
    rna_counts
        Output of :func:`neorank.rnaseq.count_variant_reads` (None: not assessed).
    purity
        Tumor purity in [0, 1] (None: clonality not assessed).
    copy_number
        A :class:`neorank.clonality.CopyNumberTable` (None: VAF rule only).
    predictions_where, variants_where, peptides_where
        File names for error messages.

    Returns
    -------
    pandas.DataFrame
        candidates.tsv rows, best first (see the module docstring).

    Raises
    ------
    InputFileError
        Missing columns, non-numeric or missing mutant affinities, variants
        absent from variants.tsv, or conflicting duplicate rows.
    """
    from neorank.clonality import classify

    params = params or ranking_params({})
    binding, ranking = params["binding"], params["ranking"]
    _require(predictions, PREDICTION_COLUMNS, predictions_where, "predict stage")
    _require(variants, VARIANT_COLUMNS, variants_where, "annotate stage")
    frame = predictions.drop(columns=[c for c in LEADING_COLUMNS + TRAILING_COLUMNS
                                      if c in predictions.columns and c != "self_match"]
                             ).reset_index(drop=True)
    for column in ("variant_id", "mutant_peptide", "allele"):
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if empty.any():
            line = int(np.flatnonzero(empty.to_numpy())[0]) + 2
            raise InputFileError(f"empty {column} on data line {line}", where=predictions_where,
                                 fix="regenerate predictions.tsv with the predict stage")
    for column in ("variant_id", "mutant_peptide", "allele"):
        frame[column] = frame[column].astype(str)

    duplicated = frame.duplicated()
    if duplicated.any():
        LOG.warning("%s: dropping %d exact duplicate row(s)", predictions_where,
                    int(duplicated.sum()))
        frame = frame.loc[~duplicated].reset_index(drop=True)
    key_dup = frame.duplicated(["variant_id", "mutant_peptide", "allele"])
    if key_dup.any():
        row = frame.loc[key_dup].iloc[0]
        raise InputFileError(
            f"{int(key_dup.sum())} conflicting duplicate row(s), e.g. {row['variant_id']} "
            f"{row['mutant_peptide']} {row['allele']}",
            where=predictions_where,
            fix="each (variant_id, mutant_peptide, allele) must appear once; "
                "regenerate predictions.tsv")

    mutant = _numeric_column(frame, "mutant_affinity_nm", predictions_where)
    percentile = _numeric_column(frame, "mutant_percentile", predictions_where)
    wildtype = _numeric_column(frame, "wildtype_affinity_nm", predictions_where)
    for column in ("presentation_score", "presentation_percentile"):
        if column in frame.columns:
            frame[column] = _numeric_column(frame, column, predictions_where)
    bad = mutant.isna() | (mutant <= 0)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputFileError(
            f"{int(bad.sum())} row(s) without a positive mutant_affinity_nm (first: data line {line})",
            where=predictions_where,
            fix="binding is mandatory for ranking; regenerate predictions.tsv")

    # Join read evidence from variants.tsv.
    var_columns = VARIANT_COLUMNS + [c for c in ("chrom", "pos") if c in variants.columns]
    var = variants.loc[:, var_columns].copy()
    var["variant_id"] = var["variant_id"].astype(str)
    if var["variant_id"].duplicated().any():
        LOG.warning("%s: duplicate variant_id(s); using the first row of each", variants_where)
        var = var.drop_duplicates("variant_id", keep="first")
    unknown = sorted(set(frame["variant_id"]) - set(var["variant_id"]))
    if unknown:
        raise InputFileError(
            f"{len(unknown)} variant_id(s) of the predictions are not in variants.tsv, "
            f"e.g. {unknown[0]}",
            where=predictions_where,
            fix=f"pass the variants.tsv of the same sample and run ({variants_where})")
    for column in JOINED_COLUMNS:
        var[column] = _numeric_column(var.reset_index(drop=True), column,
                                      variants_where).to_numpy()
    depth = var["tumor_depth"]
    if depth.dropna().apply(float.is_integer).all():
        var["tumor_depth"] = depth.astype("Int64")

    # Clonality per variant (purity; copy number when covered).
    clonal_params = {"vaf_fraction_of_purity": ranking["clonal_vaf_fraction"],
                     "min_ccf": ranking["clonal_min_ccf"],
                     "normal_copy_number": ranking["normal_copy_number"]}
    clonality, ccf = [], []
    for row in var.itertuples(index=False):
        cn = None
        if copy_number is not None:
            cn = copy_number.lookup(row.variant_id, getattr(row, "chrom", None),
                                    getattr(row, "pos", None))
        status, fraction = classify(row.tumor_vaf, purity, cn, clonal_params)
        clonality.append(status)
        ccf.append(fraction)
    var["clonality"] = pd.Series(clonality, index=var.index, dtype=object)
    var["ccf"] = pd.Series(ccf, index=var.index, dtype=float)
    var = var.drop(columns=[c for c in ("chrom", "pos") if c in var.columns])

    if rna_counts is not None:
        counts = rna_counts.loc[:, ["variant_id", "rna_depth", "rna_alt_reads", "rna_vaf"]].copy()
        counts["variant_id"] = counts["variant_id"].astype(str)
        var = var.merge(counts.drop_duplicates("variant_id"), on="variant_id", how="left",
                        validate="one_to_one", sort=False)
    frame = frame.merge(var, on="variant_id", how="left", validate="many_to_one", sort=False)

    # self_match: from predictions.tsv, else joined from peptides.tsv.
    if "self_match" in frame.columns:
        frame["self_match"] = _bool_column(frame["self_match"], "self_match", predictions_where)
    elif peptides is not None and "self_match" in peptides.columns:
        _require(peptides, ["variant_id", "mutant_peptide"], peptides_where, "peptides stage")
        table = peptides.loc[:, ["variant_id", "mutant_peptide", "self_match"]].copy()
        table["variant_id"] = table["variant_id"].astype(str)
        table["mutant_peptide"] = table["mutant_peptide"].astype(str)
        table["self_match"] = _bool_column(table["self_match"], "self_match", peptides_where)
        table = table.drop_duplicates(["variant_id", "mutant_peptide"])
        frame = frame.merge(table, on=["variant_id", "mutant_peptide"], how="left",
                            validate="many_to_one", sort=False)
    if "self_match" not in frame.columns:
        frame["self_match"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")

    if expression is not None:
        frame["gene_tpm"], frame["transcript_tpm"] = _expression_columns(frame, expression,
                                                                         genome)
    for column in EVIDENCE_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    for column in ("gene_tpm", "transcript_tpm", "rna_vaf", "ccf"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("rna_depth", "rna_alt_reads"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")

    # Binder flag.
    binder = np.zeros(len(frame), dtype=bool)
    if binding["max_affinity_nm"] is not None:
        binder |= (mutant <= binding["max_affinity_nm"]).to_numpy()
    if binding["max_percentile"] is not None:
        binder |= (percentile <= binding["max_percentile"]).fillna(False).to_numpy(dtype=bool)
    frame["binder"] = binder

    frame["agretopicity"] = (mutant / wildtype.where(wildtype > 0)).to_numpy()

    criteria = assess_criteria(frame, params)
    for column in criteria.columns:
        frame[column] = criteria[column].to_numpy()
    frame["score"], frame["score_components"] = score_rows(frame, params)

    frame["candidate_id"] = [
        candidate_id(sample, v, p, a)
        for v, p, a in zip(frame["variant_id"], frame["mutant_peptide"], frame["allele"],
                           strict=True)
    ]
    frame["_affinity"] = mutant.to_numpy()
    frame["_excluded"] = (frame["self_match"].fillna(False).to_numpy(dtype=bool)
                          if ranking["exclude_self_matches"] else False)
    frame = frame.sort_values(["_excluded", "binder", "score", "_affinity", "candidate_id"],
                              ascending=[True, False, False, True, True], kind="mergesort")
    frame = frame.drop(columns=["_affinity", "_excluded"]).reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    middle = [c for c in frame.columns if c not in LEADING_COLUMNS + TRAILING_COLUMNS]
    return frame.loc[:, LEADING_COLUMNS + middle + TRAILING_COLUMNS]


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank rank``."""
    from neorank.reference import add_reference_arguments

    parser = subparsers.add_parser(
        "rank", help="assess criteria, tier and rank candidates with the composite score",
        description="Join read, expression, RNA and clonality evidence, flag binders, assess "
        "every criterion (pass/fail/not_assessed), assign tiers, compute the composite score "
        "and write candidates.tsv (best first).")
    parser.add_argument("--sample", required=True, help="sample id (candidate_id prefix)")
    parser.add_argument("--predictions", required=True, help="predictions.tsv")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--params", help="params JSON with binding/ranking sections")
    parser.add_argument("--out", required=True, help="candidates.tsv to write")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help="prediction rows ranked per block; memory grows with it, the "
                        f"output does not change (default {CHUNK_ROWS:,})")
    evidence = parser.add_argument_group("optional evidence (missing: not assessed)")
    evidence.add_argument("--peptides", help="peptides.tsv (self_match column)")
    evidence.add_argument("--expression", help="Salmon quant.sf, Kallisto abundance.tsv, RSEM "
                          "*.results or a gene/transcript TPM table")
    evidence.add_argument("--rna-bam", help="tumor RNA-seq BAM (indexed)")
    evidence.add_argument("--purity", type=float, help="tumor purity in [0, 1]")
    evidence.add_argument("--copy-number", help="copy-number table (per variant or segments)")
    # Optional reference: links transcripts to genes for --expression.
    add_reference_arguments(parser)
    group = parser.add_argument_group("overrides (win over --params)")
    group.add_argument("--max-affinity-nm", type=float, help="binding.max_affinity_nm (500)")
    group.add_argument("--max-percentile", type=float, help="binding.max_percentile (2.0)")
    group.add_argument("--affinity-midpoint-nm", type=float,
                       help="ranking.affinity_midpoint_nm (350)")
    group.add_argument("--affinity-width-nm", type=float, help="ranking.affinity_width_nm (150)")
    for name in COMPONENTS:
        default = DEFAULT_PARAMS["ranking"]["weights"][name]
        group.add_argument(f"--weight-{name}", type=float, dest=f"weight_{name}",
                           help=f"ranking.weights.{name} ({default:g})")
    parser.set_defaults(run=run)


def _params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    raw = copy.deepcopy(load_params(getattr(args, "params", None)))
    binding = dict(raw.get("binding") or {})
    ranking = dict(raw.get("ranking") or {})
    weights = dict(ranking.get("weights") or {})
    for attr, section, key in [
        ("max_affinity_nm", binding, "max_affinity_nm"),
        ("max_percentile", binding, "max_percentile"),
        ("affinity_midpoint_nm", ranking, "affinity_midpoint_nm"),
        ("affinity_width_nm", ranking, "affinity_width_nm"),
    ] + [(f"weight_{n}", weights, n) for n in COMPONENTS]:
        value = getattr(args, attr, None)
        if value is not None:
            section[key] = value
    ranking["weights"] = weights
    raw["binding"], raw["ranking"] = binding, ranking
    return ranking_params(raw, where=str(getattr(args, "params", None) or "command line"))


def _genome_if_given(args: argparse.Namespace) -> Any:
    """The reference when annotation options were passed (for expression), else None."""
    if getattr(args, "gtf", None) is None and getattr(args, "ensembl_release", None) is None:
        return None
    from neorank.reference import genome_from_args

    return genome_from_args(args)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank rank``; returns 0."""
    sample = str(args.sample)
    if not sample.strip() or any(ch in sample for ch in "\t\r\n"):
        raise NeoRankError(f"bad sample id {sample!r}", where="--sample",
                           fix="use the sample id of the sample sheet")
    params = _params_from_args(args)
    variants = read_table(args.variants)
    purity = getattr(args, "purity", None)
    if purity is not None and not (0.0 <= purity <= 1.0):
        raise NeoRankError(f"purity {purity!r} is not a fraction in [0, 1]", where="--purity",
                           fix="give purity as a fraction, e.g. 0.6")
    header = _header(args.predictions)
    peptides = None
    if getattr(args, "peptides", None) and "self_match" not in header:
        # Only the self_match join needs peptides.tsv (predictions.tsv usually has it).
        peptides = read_table(args.peptides, columns=["variant_id", "mutant_peptide",
                                                      "self_match"])
    expression = genome = rna_counts = copy_number = None
    if getattr(args, "expression", None):
        from neorank.expression import read_expression

        expression = read_expression(args.expression)
        genome = _genome_if_given(args)
    if getattr(args, "rna_bam", None):
        from neorank.rnaseq import count_variant_reads

        _require(variants, ["variant_id", "chrom", "pos", "ref", "alt"], str(args.variants),
                 "annotate stage")
        # Only variants with predictions need counting (not filtered or silent ones).
        wanted: set[str] = set()
        for chunk in read_tsv_chunks(args.predictions, ["variant_id"], dtype=str):
            wanted.update(chunk["variant_id"])
        rna_counts = count_variant_reads(
            args.rna_bam, variants[variants["variant_id"].astype(str).isin(wanted)])
    if getattr(args, "copy_number", None):
        from neorank.clonality import read_copy_number

        copy_number = read_copy_number(args.copy_number)
    counts = rank_file(args.predictions, variants, sample, params, args.out,
                       chunk_rows=getattr(args, "chunk_rows", None) or CHUNK_ROWS,
                       peptides=peptides, expression=expression, genome=genome,
                       rna_counts=rna_counts, purity=purity, copy_number=copy_number,
                       variants_where=str(args.variants),
                       peptides_where=str(getattr(args, "peptides", None)))
    LOG.info("%s: %d candidate rows in %d block(s), %d binders, tiers: %s -> %s", sample,
             counts["rows"], counts["blocks"], counts["binders"],
             ", ".join(f"{t} {counts['tiers'].get(t, 0)}" for t in TIERS), args.out)
    return 0


def _header(path: str | Path) -> list[str]:
    with table_errors(path):
        return tsv_columns(path)


def _float_keys(values: np.ndarray, descending: bool = False) -> list[str]:
    """Fixed-width hex strings whose text order is the numeric order of ``values``
    (NaN last either way, as pandas sorts it)."""
    values = np.asarray(values, dtype=float) + 0.0  # -0.0 -> 0.0
    bits = values.astype(">f8").view(">u8").astype(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    bits = np.where(negative, ~bits, bits | np.uint64(1 << 63))
    if descending:
        bits = ~bits
    bits = np.where(np.isnan(values), np.uint64(2**64 - 1), bits)
    return [f"{b:016x}" for b in bits.tolist()]


def sort_keys(candidates: pd.DataFrame, exclude_self_matches: bool) -> list[str]:
    """One text key per ranked row whose string order is :func:`rank_candidates`' order:
    (self match excluded, binder first, score descending, mutant IC50, candidate_id).
    Blocks ranked separately are merged on these keys into one ranking."""
    excluded = (candidates["self_match"].fillna(False).to_numpy(dtype=bool)
                if exclude_self_matches else np.zeros(len(candidates), dtype=bool))
    binder = candidates["binder"].to_numpy(dtype=bool)
    flags = (excluded.astype(int) * 2 + (~binder).astype(int)).tolist()
    score = _float_keys(candidates["score"].to_numpy(dtype=float), descending=True)
    affinity = _float_keys(pd.to_numeric(candidates["mutant_affinity_nm"]).to_numpy(dtype=float))
    return [f"{f}{s}{a}{c}" for f, s, a, c in
            zip(flags, score, affinity, candidates["candidate_id"].tolist(), strict=True)]


def rank_file(predictions_path: str | Path, variants: pd.DataFrame, sample: str,
              params: dict[str, Any], out: str | Path, *, chunk_rows: int = CHUNK_ROWS,
              **evidence: Any) -> dict[str, Any]:
    """Rank predictions.tsv into candidates.tsv in bounded memory.

    Blocks of ``chunk_rows`` prediction rows are ranked by :func:`rank_candidates`
    (every criterion and the score are per row), each block is written sorted by
    :func:`sort_keys` to a temporary file, and the blocks are merged on those keys
    with ranks assigned in one streaming pass. The file is byte-identical to
    ranking the whole table at once (tested); memory is one block, not the table.
    A (variant, peptide, allele) repeated across blocks is handled as the
    in-memory path handles it (exact duplicates dropped, conflicts an error).

    Returns ``{"rows", "binders", "tiers", "blocks"}``.
    """
    import heapq
    import shutil
    import tempfile

    where = str(predictions_path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ranking = params["ranking"]
    if "variant_id" in variants.columns and variants["variant_id"].astype(str).duplicated().any():
        LOG.warning("%s: duplicate variant_id(s); using the first row of each",
                    evidence.get("variants_where", "variants.tsv"))
        variants = variants.loc[~variants["variant_id"].astype(str).duplicated()]
    counts: dict[str, Any] = {"rows": 0, "binders": 0, "tiers": {}, "blocks": 0}

    def count(ranked: pd.DataFrame) -> None:
        counts["rows"] += len(ranked)
        counts["binders"] += int(ranked["binder"].sum())
        for tier, n in ranked["tier"].value_counts().items():
            counts["tiers"][tier] = counts["tiers"].get(tier, 0) + int(n)

    def rank_whole() -> dict[str, Any]:
        """The whole table at once (empty tables, repeats across blocks)."""
        frame = rank_candidates(read_table(predictions_path), variants, sample, params,
                                predictions_where=where, **evidence)
        write_tsv(frame, out)
        counts.update(rows=0, binders=0, tiers={}, blocks=1 if len(frame) else 0)
        count(frame)
        return counts

    hashes = []
    columns: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix=".rank-", dir=out.parent) as tmp:
        blocks = []
        for chunk in _prediction_chunks(predictions_path, chunk_rows):
            ranked = rank_candidates(chunk, variants, sample, params, predictions_where=where,
                                     **evidence)
            if columns is None:
                columns = list(ranked.columns)
            elif list(ranked.columns) != columns:  # cannot happen for one file; be safe
                raise InputFileError("prediction blocks gave different columns",
                                     where=where, fix="regenerate predictions.tsv")
            hashes.append(pd.util.hash_pandas_object(
                ranked[["variant_id", "mutant_peptide", "allele"]], index=False).to_numpy())
            keys = sort_keys(ranked, ranking["exclude_self_matches"])
            order = sorted(range(len(keys)), key=keys.__getitem__)
            body = tsv_text(ranked.iloc[order].drop(columns="rank"), header=False)
            path = Path(tmp) / f"block{len(blocks):05d}.tsv"
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                for key_index, line in zip(order, body.splitlines(keepends=True), strict=True):
                    handle.write(f"{keys[key_index]}\t{line}")
            blocks.append(path)
            count(ranked)
        counts["blocks"] = len(blocks)
        if len(blocks) > 1:
            keys_all = np.concatenate(hashes)
            if len(np.unique(keys_all)) != len(keys_all):
                # Repeats across blocks: rank the whole table at once (drops exact
                # duplicates, reports conflicts) - rare, and only for damaged inputs.
                LOG.warning("%s: repeated (variant, peptide, allele) rows across blocks; "
                            "ranking the whole table in memory", where)
                return rank_whole()
        if columns is None:  # empty predictions.tsv: header only
            return rank_whole()
        partial = out.with_name(out.name + ".tmp")
        with open(partial, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("\t".join(columns) + "\n")
            files = [open(p, encoding="utf-8", newline="\n") for p in blocks]
            try:
                for rank, line in enumerate(heapq.merge(*files), start=1):
                    handle.write(f"{rank}\t{line.split(chr(9), 1)[1]}")
            finally:
                for file in files:
                    file.close()
        shutil.move(partial, out)
    return counts


#: Text columns of predictions.tsv, read as text in every block (pandas would
#: otherwise guess per piece and warn about mixed types; the written text is the same).
PREDICTION_TEXT_COLUMNS = (
    "variant_id", "gene_name", "effect", "protein_change", "transcript_ids", "mutant_peptide",
    "wildtype_peptide", "mutation_positions", "n_flank", "c_flank", "gene_names",
    "nearest_self_peptide", "merged_variant_ids", "in_cis", "germline_context", "allele",
    "allele_status", "predictor")


def _prediction_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    with table_errors(path):
        header = set(tsv_columns(path))
        text = {c: "str" for c in PREDICTION_TEXT_COLUMNS if c in header}
        yield from read_tsv_chunks(path, chunk_rows=chunk_rows, dtype=text)


