"""``neorank score``: score candidates made elsewhere with NeoRank's model and ranking.

Like pVACbind: no VCF, no annotation, just peptides and alleles.

Input (TSV with a header; columns in any order, other columns are ignored)
------------------------------------------------------------------------
``mutant`` (required)
    A peptide of 8-11 residues, or a longer mutant sequence: then every 8-11-mer
    in it is scored (ordered by length, then start, as in peptides.tsv), and
    the residues around each window are its N/C flanks for MHCflurry's
    processing model (official models).
``allele`` (required)
    One class I allele, or several separated by ``,`` ``;`` or spaces; one
    output row per peptide and allele. Any spelling mhcgnomes reads.
``wildtype`` (optional)
    The matching wildtype peptide/sequence. For a longer sequence of the same
    length as ``mutant`` the wildtype window at the same position is used, and
    windows identical to their wildtype (not carrying the mutation) are
    skipped (their number is logged); with a different length only
    single-peptide rows use it.
``vaf`` (optional), ``expression`` (optional, TPM)
    Tumor VAF and expression of the source; they feed the ``vaf`` and
    ``expression`` score components and the ``expression`` criterion.

Empty cells and ``NA`` are "not assessed", never imputed.

Output
------
One row per (input row, peptide, allele), in input order: ``input_line`` (the
input's line number), ``mutant``, ``start`` (0-based offset of the peptide in
``mutant``), ``mutant_peptide``, ``wildtype_peptide``, ``allele``,
``allele_status``, ``affinity_nm``, ``percentile``, ``wildtype_affinity_nm``,
``wildtype_percentile``, ``agretopicity``, ``presentation_score``,
``presentation_percentile``, ``vaf``, ``expression_tpm``, ``binder``, the
``pass_<criterion>`` columns of :mod:`neorank.ranking` (clonality, RNA support and
self-match are ``not_assessed``: there is no variant), ``tier``, ``score``
(higher is better; same formula and ``ranking`` weights as ``neorank rank``),
``score_components`` and ``predictor``.
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from neorank.alleles import PatientAllele, normalize
from neorank.cache import CachedPredictor, PredictionCache
from neorank.config import load_params, ranking_params
from neorank.errors import InputFileError
from neorank.io import write_tsv
from neorank.models import load_predictor, models_checksum, resolve_alleles
from neorank.ranking import assess_criteria, score_rows

LOG = logging.getLogger(__name__)

MIN_LENGTH, MAX_LENGTH = 8, 11
AMINO_ACIDS = re.compile(r"[ACDEFGHIKLMNPQRSTVWY]+")
OUTPUT_COLUMNS = [
    "input_line", "mutant", "start", "mutant_peptide", "wildtype_peptide", "allele",
    "allele_status", "affinity_nm", "percentile", "wildtype_affinity_nm",
    "wildtype_percentile", "agretopicity", "presentation_score", "presentation_percentile",
    "vaf", "expression_tpm", "binder", "pass_binding", "pass_presentation",
    "pass_agretopicity", "pass_clonality", "pass_expression", "pass_rna_support",
    "pass_self_match", "tier", "score", "score_components", "predictor",
]

__all__ = ["expand_rows", "read_input", "score_table"]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    return "" if text.upper() == "NA" else text


def read_input(path: str) -> pd.DataFrame:
    """Read the input TSV as text (``input_line`` added); checks the required columns."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except FileNotFoundError as err:
        raise InputFileError("file not found", where=path, fix="check --input") from err
    except (ValueError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot parse as TSV ({err})", where=path,
                             fix="give a tab-separated table with a header line") from err
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("mutant", "allele") if c not in table.columns]
    if missing:
        raise InputFileError(f"missing column(s) {', '.join(missing)} (columns: "
                             f"{', '.join(table.columns[:8])})", where=path,
                             fix="give columns mutant and allele (optional: wildtype, vaf, "
                                 "expression), tab-separated")
    table.insert(0, "input_line", np.arange(2, len(table) + 2))
    return table


def _number(text: str, column: str, line: int, where: str, maximum: float | None = None) -> float:
    if not text:
        return np.nan
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if np.isnan(value) or value < 0 or (maximum is not None and value > maximum):
        bound = f" in [0, {maximum:g}]" if maximum is not None else " >= 0"
        raise InputFileError(f"line {line}: {column} {text!r} is not a number{bound}",
                             where=where, fix=f"write a number{bound} or leave {column} empty")
    return value


def expand_rows(table: pd.DataFrame, where: str = "input") -> pd.DataFrame:
    """One row per (input row, peptide, allele spelling), input order kept."""
    rows = []
    skipped = 0
    for record in table.to_dict("records"):
        line = int(record["input_line"])
        mutant = _cell(record.get("mutant")).upper()
        wildtype = _cell(record.get("wildtype")).upper()
        for name, sequence in (("mutant", mutant), ("wildtype", wildtype)):
            if name == "mutant" and not sequence:
                raise InputFileError(f"line {line}: empty mutant", where=where,
                                     fix="give a peptide or mutant sequence")
            if sequence and not AMINO_ACIDS.fullmatch(sequence):
                bad = "".join(sorted(set(sequence) - set("ACDEFGHIKLMNPQRSTVWY")))
                raise InputFileError(f"line {line}: {name} {sequence!r} has non-standard "
                                     f"residue(s) {bad!r}", where=where,
                                     fix="use the 20 standard amino acids (no '*', X or gaps)")
        if len(mutant) < MIN_LENGTH:
            raise InputFileError(f"line {line}: mutant {mutant!r} is shorter than {MIN_LENGTH}",
                                 where=where, fix=f"give peptides of {MIN_LENGTH}-{MAX_LENGTH} "
                                 "residues or a longer sequence")
        alleles_text = _cell(record.get("allele"))
        tokens = [t for t in re.split(r"[,;\s]+", alleles_text) if t]
        if not tokens:
            raise InputFileError(f"line {line}: empty allele", where=where,
                                 fix="give one or more class I alleles, e.g. HLA-A*02:01")
        alleles = []
        for token in tokens:
            allele, is_null = normalize(token, where=f"{where} line {line}")
            if is_null:
                LOG.warning("%s line %d: %s is a null allele (not expressed); skipped", where,
                            line, token)
                continue
            if allele not in alleles:
                alleles.append(allele)
        vaf = _number(_cell(record.get("vaf")), "vaf", line, where, maximum=1.0)
        expression = _number(_cell(record.get("expression")), "expression", line, where)

        if len(mutant) <= MAX_LENGTH:
            windows = [(0, mutant, wildtype or None)]
        else:
            windows = []
            aligned = len(wildtype) == len(mutant)
            for length in range(MIN_LENGTH, MAX_LENGTH + 1):
                for start in range(len(mutant) - length + 1):
                    peptide = mutant[start:start + length]
                    wt = wildtype[start:start + length] if aligned else None
                    if wt is not None and wt == peptide:
                        skipped += 1
                        continue
                    windows.append((start, peptide, wt))
        for start, peptide, wt in windows:
            for allele in alleles:
                rows.append({
                    "input_line": line, "mutant": mutant, "start": start,
                    "mutant_peptide": peptide, "wildtype_peptide": wt, "allele": allele,
                    "n_flank": mutant[max(0, start - 15):start],
                    "c_flank": mutant[start + len(peptide):start + len(peptide) + 15],
                    "vaf": vaf, "expression_tpm": expression,
                })
    if skipped:
        LOG.info("%s: %d window(s) identical to their wildtype window skipped (no mutation)",
                 where, skipped)
    columns = ["input_line", "mutant", "start", "mutant_peptide", "wildtype_peptide", "allele",
               "n_flank", "c_flank", "vaf", "expression_tpm"]
    return pd.DataFrame(rows, columns=columns)


def score_table(rows: pd.DataFrame, predictor: Any, params: dict[str, Any] | None = None,
                where: str = "input") -> pd.DataFrame:
    """Predict and score expanded rows (:func:`expand_rows`) with ``predictor``.

    Parameters
    ----------
    rows
        Output of :func:`expand_rows`.
    predictor
        A :class:`neorank.models.Predictor` (e.g. from ``load_predictor``).
    params
        Output of :func:`neorank.config.ranking_params` (defaults when None).
    """
    params = params or ranking_params({})
    binding = params["binding"]
    out = rows.copy().reset_index(drop=True)
    alleles = list(dict.fromkeys(out["allele"]))
    status: dict[str, str] = {}
    if alleles:
        resolved = resolve_alleles([PatientAllele(a, a) for a in alleles], predictor,
                                   where=where)
        status = {a.allele: a.status for a in resolved}
    out["allele_status"] = out["allele"].map(status)
    wildtypes = out["wildtype_peptide"].dropna().astype(str)
    wildtypes = wildtypes[wildtypes.str.len().between(MIN_LENGTH, 15)]
    peptides = sorted(set(out["mutant_peptide"]) | set(wildtypes))
    affinity = predictor.affinity(peptides, alleles).set_index(["peptide", "allele"])
    key = pd.MultiIndex.from_arrays([out["mutant_peptide"], out["allele"]])
    out["affinity_nm"] = affinity["affinity_nm"].reindex(key).to_numpy(dtype=float)
    out["percentile"] = affinity["percentile"].reindex(key).to_numpy(dtype=float)
    wt_key = pd.MultiIndex.from_arrays([out["wildtype_peptide"].fillna(""), out["allele"]])
    out["wildtype_affinity_nm"] = affinity["affinity_nm"].reindex(wt_key).to_numpy(dtype=float)
    out["wildtype_percentile"] = affinity["percentile"].reindex(wt_key).to_numpy(dtype=float)
    out["presentation_score"] = np.nan
    out["presentation_percentile"] = np.nan
    if not predictor.affinity_only and len(out):
        for allele in alleles:
            mask = (out["allele"] == allele).to_numpy()
            part = out.loc[mask]
            result = predictor.presentation(list(part["mutant_peptide"]), list(part["n_flank"]),
                                            list(part["c_flank"]), [allele])
            for column in ("presentation_score", "presentation_percentile"):
                out.loc[mask, column] = np.asarray(result[column], dtype=float)
    out["predictor"] = predictor.label

    affinity_values = out["affinity_nm"].to_numpy(dtype=float)
    binder = np.zeros(len(out), dtype=bool)
    if binding["max_affinity_nm"] is not None:
        binder |= affinity_values <= binding["max_affinity_nm"]
    if binding["max_percentile"] is not None:
        with np.errstate(invalid="ignore"):
            binder |= out["percentile"].to_numpy(dtype=float) <= binding["max_percentile"]
    out["binder"] = binder
    wildtype = out["wildtype_affinity_nm"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["agretopicity"] = np.where(wildtype > 0, affinity_values / wildtype, np.nan)

    evidence = pd.DataFrame({
        "binder": out["binder"], "mutant_affinity_nm": out["affinity_nm"],
        "wildtype_affinity_nm": out["wildtype_affinity_nm"],
        "agretopicity": out["agretopicity"],
        "presentation_score": out["presentation_score"],
        "presentation_percentile": out["presentation_percentile"],
        "tumor_vaf": out["vaf"], "gene_tpm": out["expression_tpm"],
    })
    criteria = assess_criteria(evidence, params)
    for column in criteria.columns:
        out[column] = criteria[column].to_numpy()
    out["score"], out["score_components"] = score_rows(evidence, params)
    return out.loc[:, OUTPUT_COLUMNS]


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank score``."""
    parser = subparsers.add_parser(
        "score", help="score peptides or mutant sequences made elsewhere (like pVACbind)",
        description="Predict binding with NeoRank's models and score every peptide x allele "
        "with the ranking's criteria, tier and composite score; input order kept.")
    parser.add_argument("--input", required=True,
                        help="TSV: mutant, allele (optional wildtype, vaf, expression)")
    parser.add_argument("--output", required=True, help="scored TSV to write")
    parser.add_argument("--params", help="params JSON with binding/ranking sections "
                        "(e.g. the workflow's results/run_config.json)")
    parser.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    parser.add_argument("--embedded-dir", default="resources/mhcflurry/embedded")
    parser.add_argument("--official-dir", default=None,
                        help="folder of models_class1_presentation")
    parser.add_argument("--cache", default=None, help="SQLite prediction cache")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank score``; returns 0."""
    params = ranking_params(load_params(args.params), where=str(args.params or "defaults"))
    table = read_input(args.input)
    rows = expand_rows(table, where=str(args.input))
    predictor = load_predictor(args.models, args.embedded_dir, args.official_dir)
    active: Any = predictor
    if args.cache:
        active = CachedPredictor(predictor, PredictionCache(
            args.cache, models_checksum(predictor.models_dir)))
    scored = score_table(rows, active, params, where=str(args.input))
    write_tsv(scored, args.output)
    LOG.info("score: %d input row(s) -> %d peptide x allele rows (%d binders) -> %s",
             len(table), len(scored), int(scored["binder"].sum()), args.output)
    return 0
