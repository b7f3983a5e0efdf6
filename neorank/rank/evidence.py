"""Evidence columns of ``neorank rank``: checked input cells, clonality, RNA reads,
``self_match`` and expression.

Evidence that is not given is **not assessed** (``NA``), never imputed: clonality
needs a purity (:mod:`neorank.clonality`), RNA support a tumor RNA BAM
(:mod:`neorank.rnaseq`), expression a TPM table (:mod:`neorank.expression`) and
``self_match`` the peptides stage's proteome check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from neorank.clonality import classify
from neorank.errors import InputFileError
from neorank.tables import require_columns


def numeric_column(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
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


def bool_column(values: pd.Series, column: str, where: str) -> pd.Series:
    """True/False/NA column (accepts bools and ``True``/``False`` text); other text is an error."""
    if pd.api.types.is_bool_dtype(values.dtype):  # bool, boolean, bool[pyarrow]: as they are
        return values.astype("boolean")

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


def clonality_columns(variants: pd.DataFrame, ranking: dict[str, Any], purity: float | None,
                      copy_number: Any) -> tuple[list, list]:
    """Clonality status and CCF of each row of ``variants`` (purity; copy number when
    covered); see :func:`neorank.clonality.classify`."""
    clonal_params = {"vaf_fraction_of_purity": ranking["clonal_vaf_fraction"],
                     "min_ccf": ranking["clonal_min_ccf"],
                     "normal_copy_number": ranking["normal_copy_number"]}
    clonality, ccf = [], []
    for row in variants.itertuples(index=False):
        cn = None
        if copy_number is not None:
            cn = copy_number.lookup(row.variant_id, getattr(row, "chrom", None),
                                    getattr(row, "pos", None))
        status, fraction = classify(row.tumor_vaf, purity, cn, clonal_params)
        clonality.append(status)
        ccf.append(fraction)
    return clonality, ccf


def join_rna_counts(variants: pd.DataFrame, rna_counts: pd.DataFrame) -> pd.DataFrame:
    """``variants`` with the RNA read counts of :func:`neorank.rnaseq.count_variant_reads`."""
    counts = rna_counts.loc[:, ["variant_id", "rna_depth", "rna_alt_reads", "rna_vaf"]].copy()
    counts["variant_id"] = counts["variant_id"].astype(str)
    return variants.merge(counts.drop_duplicates("variant_id"), on="variant_id", how="left",
                          validate="one_to_one", sort=False)


def join_self_match(frame: pd.DataFrame, peptides: pd.DataFrame | None,
                    predictions_where: str, peptides_where: str) -> pd.DataFrame:
    """``frame`` with ``self_match``: from predictions.tsv, else joined from peptides.tsv
    on ``(variant_id, mutant_peptide)``, else ``NA`` (not assessed)."""
    if "self_match" in frame.columns:
        frame["self_match"] = bool_column(frame["self_match"], "self_match", predictions_where)
    elif peptides is not None and "self_match" in peptides.columns:
        require_columns(peptides, ["variant_id", "mutant_peptide"], peptides_where,
                        "peptides stage")
        table = peptides.loc[:, ["variant_id", "mutant_peptide", "self_match"]].copy()
        table["variant_id"] = table["variant_id"].astype(str)
        table["mutant_peptide"] = table["mutant_peptide"].astype(str)
        table["self_match"] = bool_column(table["self_match"], "self_match", peptides_where)
        table = table.drop_duplicates(["variant_id", "mutant_peptide"])
        frame = frame.merge(table, on=["variant_id", "mutant_peptide"], how="left",
                            validate="many_to_one", sort=False)
    if "self_match" not in frame.columns:
        frame["self_match"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    return frame


def expression_columns(frame: pd.DataFrame, table: Any, genome: Any) -> tuple[list, list]:
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
