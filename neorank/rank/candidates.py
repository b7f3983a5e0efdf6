"""``neorank rank`` on one block of predictions.tsv: evidence joined, binders flagged,
criteria assessed, tiers, scores and candidate ids (:func:`rank_candidates`).

See :mod:`neorank.rank` for the binder and agretopicity rules and the order, and
:mod:`neorank.ranking` for the criteria, tiers and the composite score.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from neorank.config import ranking_params
from neorank.errors import InputFileError
from neorank.rank.evidence import (
    clonality_columns,
    expression_columns,
    join_rna_counts,
    join_self_match,
    numeric_column,
)
from neorank.ranking import (
    CRITERIA,
    EVIDENCE_DNA,
    EVIDENCE_SPLICE,
    assess_criteria,
    check_params,
    score_rows,
)
from neorank.tables import require_columns

LOG = logging.getLogger(__package__)  # the stage's logger: lines read "neorank.rank"

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
    "tier_reason",
    "score",
    "score_components",
]


def candidate_id(sample: str, variant_id: str, mutant_peptide: str, allele: str) -> str:
    """Stable candidate id: ``{sample}-`` + sha1(``variant_id|mutant_peptide|allele``)[:12]."""
    key = f"{variant_id}|{mutant_peptide}|{allele}".encode()
    return f"{sample}-{hashlib.sha1(key).hexdigest()[:12]}"


def _float_keys(values: np.ndarray, descending: bool = False) -> np.ndarray:
    """Unsigned 64-bit keys whose order is the numeric order of ``values`` (NaN last
    either way, as pandas sorts it)."""
    values = np.asarray(values, dtype=float) + 0.0  # -0.0 -> 0.0
    bits = values.astype(">f8").view(">u8").astype(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    bits = np.where(negative, ~bits, bits | np.uint64(1 << 63))
    if descending:
        bits = ~bits
    return np.where(np.isnan(values), np.uint64(2**64 - 1), bits)


#: One row's sort key (:func:`sort_keys`), compared field by field.
KEY_FIELDS = ("flags", "score", "affinity", "candidate")


def sort_keys(candidates: pd.DataFrame, exclude_self_matches: bool) -> np.ndarray:
    """Each ranked row's key in :func:`rank_candidates`' order, as a record array of
    :data:`KEY_FIELDS`: (self match excluded, not a binder) as two bits, score descending,
    mutant IC50, candidate_id. A table's candidate ids share the sample prefix and end
    in 12 hex digits (:func:`~neorank.rank.candidates.candidate_id`), so their text order
    is the order of that number. Blocks ranked separately are merged on these keys
    (:func:`merged_order`) into one ranking."""
    ids = candidates["candidate_id"]
    if len(ids) and ids.str.len().nunique() != 1:  # cannot happen: ids are made by rank
        raise ValueError("candidate ids of different lengths")
    keys = np.empty(len(candidates), dtype=[(KEY_FIELDS[0], np.uint8),
                                            *((f, np.uint64) for f in KEY_FIELDS[1:])])
    excluded = (candidates["self_match"].fillna(False).to_numpy(dtype=bool)
                if exclude_self_matches else np.zeros(len(candidates), dtype=bool))
    keys["flags"] = excluded.astype(np.uint8) * 2 + ~candidates["binder"].to_numpy(dtype=bool)
    keys["score"] = _float_keys(candidates["score"].to_numpy(dtype=float), descending=True)
    keys["affinity"] = _float_keys(
        pd.to_numeric(candidates["mutant_affinity_nm"]).to_numpy(dtype=float))
    keys["candidate"] = np.array([int(c[-12:], 16) for c in ids.tolist()], dtype=np.uint64)
    return keys


def merged_order(keys: np.ndarray) -> np.ndarray:
    """The positions of ``keys`` in key order; ties keep their order (stable). Arrow's
    multi-key sort of 17 M keys (100,000 variants): 2.3 s in 172 sorted runs, 5.0 s
    shuffled; numpy's lexsort 15.1 s and 10.9-16.7 s."""
    table = pa.table({f: np.ascontiguousarray(keys[f]) for f in KEY_FIELDS})
    return pc.sort_indices(table, sort_keys=[(f, "ascending") for f in KEY_FIELDS]
                           ).to_numpy()


def variant_evidence(variants: pd.DataFrame, ranking: dict[str, Any], *,
                     purity: float | None = None, copy_number: Any = None,
                     rna_counts: pd.DataFrame | None = None,
                     variants_where: str = "variants.tsv") -> pd.DataFrame:
    """The per-variant columns :func:`rank_candidates` joins to each prediction row:
    ``variant_id``, the read evidence (:data:`JOINED_COLUMNS`, numbers checked), clonality
    and CCF, and the RNA read counts when given; one row per variant_id (the first of
    repeats, with a warning).

    ``ranking`` is the ``ranking`` part of :func:`neorank.config.ranking_params`.
    """
    require_columns(variants, VARIANT_COLUMNS, variants_where, "annotate stage")
    var_columns = VARIANT_COLUMNS + [c for c in ("chrom", "pos") if c in variants.columns]
    var = variants.loc[:, var_columns].copy()
    var["variant_id"] = var["variant_id"].astype(str)
    if var["variant_id"].duplicated().any():
        LOG.warning("%s: duplicate variant_id(s); using the first row of each", variants_where)
        var = var.drop_duplicates("variant_id", keep="first")
    for column in JOINED_COLUMNS:
        var[column] = numeric_column(var.reset_index(drop=True), column,
                                      variants_where).to_numpy()
    depth = var["tumor_depth"]
    if depth.dropna().apply(float.is_integer).all():
        var["tumor_depth"] = depth.astype("Int64")

    # Clonality per variant (purity; copy number when covered).
    clonality, ccf = clonality_columns(var, ranking, purity, copy_number)
    var["clonality"] = pd.Series(clonality, index=var.index, dtype=object)
    var["ccf"] = pd.Series(ccf, index=var.index, dtype=float)
    var = var.drop(columns=[c for c in ("chrom", "pos") if c in var.columns])

    if rna_counts is not None:
        var = join_rna_counts(var, rna_counts)
    return var


def rank_candidates(predictions: pd.DataFrame, variants: pd.DataFrame, sample: str,
                    params: dict[str, Any] | None = None, *,
                    peptides: pd.DataFrame | None = None,
                    expression: Any = None, genome: Any = None,
                    rna_counts: pd.DataFrame | None = None,
                    purity: float | None = None, copy_number: Any = None,
                    predictions_where: str = "predictions.tsv",
                    variants_where: str = "variants.tsv",
                    peptides_where: str = "peptides.tsv", with_keys: bool = False,
                    variant_table: pd.DataFrame | None = None
                    ) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Flag binders, assess every criterion, tier, score and rank prediction rows.

    ``with_keys``: also return the rows' :func:`sort_keys` in the table's order (what
    ordered it; the block merge of ``neorank rank`` needs them), as ``(table, keys)``.
    ``variant_table``: :func:`variant_evidence` of ``variants`` (with the same
    ``params``, ``purity``, ``copy_number`` and ``rna_counts``), made once for all the
    blocks of a table; None: made here.

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
        Output of :func:`neorank.config.ranking_params` (defaults when None).
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
        candidates.tsv rows, best first (the order: :mod:`neorank.rank`).

    Raises
    ------
    InputFileError
        Missing columns, non-numeric or missing mutant affinities, variants
        absent from variants.tsv, or conflicting duplicate rows.
    """
    params = params or ranking_params({})
    check_params(params)
    binding, ranking = params["binding"], params["ranking"]
    require_columns(predictions, PREDICTION_COLUMNS, predictions_where, "predict stage")
    require_columns(variants, VARIANT_COLUMNS, variants_where, "annotate stage")
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

    key_dup = frame.duplicated(["variant_id", "mutant_peptide", "allele"])
    if key_dup.any():  # an exact duplicate row repeats its key too: checked only then
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

    mutant = numeric_column(frame, "mutant_affinity_nm", predictions_where)
    percentile = numeric_column(frame, "mutant_percentile", predictions_where)
    wildtype = numeric_column(frame, "wildtype_affinity_nm", predictions_where)
    for column in ("presentation_score", "presentation_percentile"):
        if column in frame.columns:
            frame[column] = numeric_column(frame, column, predictions_where)
    bad = mutant.isna() | (mutant <= 0)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputFileError(
            f"{int(bad.sum())} row(s) without a positive mutant_affinity_nm (first: data line {line})",
            where=predictions_where,
            fix="binding is mandatory for ranking; regenerate predictions.tsv")

    # Join read evidence from variants.tsv (one row per variant, made once per table
    # by neorank rank's block merge: made per block it cost O(variants) a block).
    var = (variant_evidence(variants, ranking, purity=purity, copy_number=copy_number,
                            rna_counts=rna_counts, variants_where=variants_where)
           if variant_table is None else variant_table)
    ids = frame["variant_id"].drop_duplicates()
    # (pyarrow's is_in: pandas' isin of a text column makes each value an Arrow scalar,
    # 0.8 s a block against 100,000 variants under cProfile, 1.4 s for one call alone)
    known = pc.is_in(pa.array(ids), value_set=pa.array(var["variant_id"]))
    unknown = sorted(ids[~known.to_numpy(zero_copy_only=False)].tolist())
    if unknown:
        raise InputFileError(
            f"{len(unknown)} variant_id(s) of the predictions are not in variants.tsv, "
            f"e.g. {unknown[0]}",
            where=predictions_where,
            fix=f"pass the variants.tsv of the same sample and run ({variants_where})")
    if "evidence" not in frame.columns and "variant_class" in variants.columns:
        # predictions.tsv from before the evidence column: splice-site variants (the
        # variants.tsv class) count as predicted splice outcomes
        first = variants.drop_duplicates("variant_id")
        classes = pd.Series(first["variant_class"].to_numpy(),
                            index=first["variant_id"].astype(str))
        evidence = classes.map(lambda c: None if pd.isna(c) else
                               EVIDENCE_SPLICE if c == "splice_site" else EVIDENCE_DNA)
        frame["evidence"] = frame["variant_id"].map(evidence).astype(object)
    frame = frame.merge(var, on="variant_id", how="left", validate="many_to_one", sort=False)

    # self_match: from predictions.tsv, else joined from peptides.tsv.
    frame = join_self_match(frame, peptides, predictions_where, peptides_where)

    if expression is not None:
        frame["gene_tpm"], frame["transcript_tpm"] = expression_columns(frame, expression,
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
        frame[column] = criteria[column].array
    frame["score"], frame["score_components"] = score_rows(frame, params)

    frame["candidate_id"] = [
        candidate_id(sample, v, p, a)
        for v, p, a in zip(frame["variant_id"].tolist(), frame["mutant_peptide"].tolist(),
                           frame["allele"].tolist(), strict=True)  # lists: fast for Arrow text
    ]
    # (self match excluded, binder first, score descending, IC50, candidate_id) as
    # numeric keys: the order a stable multi-column pandas sort gives, in a third of
    # the time (the text column made most of that sort)
    keys = sort_keys(frame, ranking["exclude_self_matches"])
    order = merged_order(keys)
    frame = frame.iloc[order].reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    middle = [c for c in frame.columns if c not in LEADING_COLUMNS + TRAILING_COLUMNS]
    frame = frame.loc[:, LEADING_COLUMNS + middle + TRAILING_COLUMNS]
    return (frame, keys[order]) if with_keys else frame
