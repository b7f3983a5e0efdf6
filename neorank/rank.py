"""``neorank rank``: flag binders and rank every prediction row with a composite score.

Reads ``predictions.tsv`` (peptides x alleles) and ``variants.tsv`` and writes
``candidates.tsv``: every prediction row (binders and non-binders) plus the
columns ``rank, candidate_id, binder, agretopicity, tumor_vaf, tumor_depth,
normal_vaf, score, score_components`` (see docs/tables.md).

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

Composite score
---------------
``score`` is in [0, 1], higher is better::

    score = sum(w_c * s_c) / sum(w_c)

summed over the components ``c`` that are *assessed* for the row and have a
weight ``w_c > 0`` (``ranking.weights``; defaults binding 1.0, vaf 0.5,
dissimilarity 0.25). The components are:

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
order ``binding;vaf;dissimilarity``. Because of the renormalisation, scores are
most comparable between rows with the same ``score_components``. Example: IC50
350 nM, VAF 0.4, wildtype IC50 >= 5000 nM gives (1*0.5 + 0.5*0.4 + 0.25*1) /
1.75 = 0.542857; the same peptide without a VAF gives (0.5 + 0.25) / 1.25 = 0.6.

The score is rounded to 6 decimals. Rows are sorted by ``binder`` (True
first), ``score`` (descending), ``mutant_affinity_nm`` (ascending) and
``candidate_id`` (ascending), and ``rank`` numbers them 1..n.

``candidate_id`` is ``{sample}-`` plus the first 12 hex digits of
``sha1("{variant_id}|{mutant_peptide}|{allele}")``, stable across runs and
versions.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neorank.errors import InputFileError, NeoRankError
from neorank.io import read_tsv, write_tsv

LOG = logging.getLogger(__name__)

#: Score components in their fixed order (also the order in ``score_components``).
COMPONENTS = ("binding", "vaf", "dissimilarity")

#: Defaults of the params JSON sections used by ranking (same as the config schema).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "binding": {"max_affinity_nm": 500.0, "max_percentile": 2.0},
    "ranking": {
        "weights": {"binding": 1.0, "vaf": 0.5, "dissimilarity": 0.25},
        "affinity_midpoint_nm": 350.0,
        "affinity_width_nm": 150.0,
        "affinity_cutoff_nm": 5000.0,
    },
}

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
TRAILING_COLUMNS = [
    "binder",
    "agretopicity",
    "tumor_vaf",
    "tumor_depth",
    "normal_vaf",
    "score",
    "score_components",
]
SCORE_DECIMALS = 6


# --------------------------------------------------------------------------- params


def load_params(path: str | Path | None) -> dict[str, Any]:
    """Read the params JSON written by the workflow (``{}`` when ``path`` is None).

    Parameters
    ----------
    path
        JSON file with config sections (``binding``, ``ranking``,
        ``eligibility``, ``report`` ...). Unknown sections are ignored.

    Returns
    -------
    dict
        The parsed JSON object.

    Raises
    ------
    InputFileError
        The file is missing, is not JSON, or is not a JSON object.
    """
    if path is None:
        return {}
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputFileError(f"cannot read the params file ({err.strerror})", where=str(path),
                             fix="pass the JSON file the workflow writes (--params)") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
                             where=str(path), fix="write the params as a JSON object") from err
    if not isinstance(data, dict):
        raise InputFileError("the params JSON must be an object", where=str(path),
                             fix='write e.g. {"binding": {...}, "ranking": {...}}')
    return data


def _number(value: Any, key: str, where: str, *, minimum: float | None = None,
            exclusive: bool = False, maximum: float | None = None,
            allow_none: bool = False) -> float | None:
    """Validate one numeric parameter."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if exclusive else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        bound = []
        if minimum is not None:
            bound.append(f"{'>' if exclusive else '>='} {minimum:g}")
        if maximum is not None:
            bound.append(f"<= {maximum:g}")
        raise NeoRankError(f"{key} = {value!r} is not a number {' and '.join(bound)}".rstrip(),
                           where=where, fix=f"set {key} to a number {' and '.join(bound)}".rstrip())
    return float(value)


def ranking_params(raw: dict[str, Any] | None = None, where: str = "params") -> dict[str, Any]:
    """Merge the ``binding`` and ``ranking`` sections over the defaults and validate them.

    Parameters
    ----------
    raw
        The params JSON object (other sections are ignored).
    where
        Name of the source, for error messages.

    Returns
    -------
    dict
        ``{"binding": {...}, "ranking": {...}}`` with every key filled.

    Raises
    ------
    NeoRankError
        A value is out of range, a weight is unknown, or the binding weight is 0.
    """
    raw = raw or {}
    params = copy.deepcopy(DEFAULT_PARAMS)
    for section in ("binding", "ranking"):
        given = raw.get(section) or {}
        if not isinstance(given, dict):
            raise NeoRankError(f"section {section!r} must be an object", where=where,
                               fix=f"write {section} as a JSON object")
        for key, value in given.items():
            if key not in params[section]:
                LOG.debug("ignoring %s.%s (not a ranking parameter)", section, key)
                continue
            if key == "weights":
                if not isinstance(value, dict):
                    raise NeoRankError("ranking.weights must be an object", where=where,
                                       fix="e.g. {\"binding\": 1.0, \"vaf\": 0.5, \"dissimilarity\": 0.25}")
                unknown = sorted(set(value) - set(COMPONENTS))
                if unknown:
                    raise NeoRankError(f"unknown score component(s) in ranking.weights: {', '.join(unknown)}",
                                       where=where, fix=f"use only {', '.join(COMPONENTS)}")
                params[section]["weights"].update(value)
            else:
                params[section][key] = value
    binding, ranking = params["binding"], params["ranking"]
    binding["max_affinity_nm"] = _number(binding["max_affinity_nm"], "binding.max_affinity_nm",
                                         where, minimum=0, exclusive=True, allow_none=True)
    binding["max_percentile"] = _number(binding["max_percentile"], "binding.max_percentile",
                                        where, minimum=0, maximum=100, allow_none=True)
    if binding["max_affinity_nm"] is None and binding["max_percentile"] is None:
        raise NeoRankError("binding.max_affinity_nm and binding.max_percentile are both null",
                           where=where, fix="set at least one binder threshold")
    ranking["affinity_midpoint_nm"] = _number(ranking["affinity_midpoint_nm"],
                                              "ranking.affinity_midpoint_nm", where, minimum=0)
    ranking["affinity_width_nm"] = _number(ranking["affinity_width_nm"],
                                           "ranking.affinity_width_nm", where, minimum=0,
                                           exclusive=True)
    ranking["affinity_cutoff_nm"] = _number(ranking["affinity_cutoff_nm"],
                                            "ranking.affinity_cutoff_nm", where, minimum=0,
                                            exclusive=True)
    for name in COMPONENTS:
        ranking["weights"][name] = _number(ranking["weights"][name], f"ranking.weights.{name}",
                                           where, minimum=0)
    if ranking["weights"]["binding"] <= 0:
        raise NeoRankError("ranking.weights.binding must be > 0 (binding is the mandatory component)",
                           where=where, fix="give binding a positive weight, e.g. 1.0")
    return params


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


def rank_candidates(predictions: pd.DataFrame, variants: pd.DataFrame, sample: str,
                    params: dict[str, Any] | None = None, *,
                    predictions_where: str = "predictions.tsv",
                    variants_where: str = "variants.tsv") -> pd.DataFrame:
    """Flag binders, score and rank prediction rows.

    Parameters
    ----------
    predictions
        predictions.tsv as read by :func:`neorank.io.read_tsv`.
    variants
        variants.tsv (needs ``variant_id, tumor_vaf, tumor_depth, normal_vaf``).
    sample
        Sample id, the prefix of ``candidate_id``.
    params
        Output of :func:`ranking_params` (defaults when None).
    predictions_where, variants_where
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
    params = params or ranking_params({})
    binding, ranking = params["binding"], params["ranking"]
    _require(predictions, PREDICTION_COLUMNS, predictions_where, "predict stage")
    _require(variants, VARIANT_COLUMNS, variants_where, "annotate stage")
    frame = predictions.drop(columns=[c for c in LEADING_COLUMNS + TRAILING_COLUMNS
                                      if c in predictions.columns]).reset_index(drop=True)
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
    bad = mutant.isna() | (mutant <= 0)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputFileError(
            f"{int(bad.sum())} row(s) without a positive mutant_affinity_nm (first: data line {line})",
            where=predictions_where,
            fix="binding is mandatory for ranking; regenerate predictions.tsv")

    # Join read evidence from variants.tsv.
    var = variants.loc[:, VARIANT_COLUMNS].copy()
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
    frame = frame.merge(var, on="variant_id", how="left", validate="many_to_one", sort=False)

    # Binder flag.
    binder = np.zeros(len(frame), dtype=bool)
    if binding["max_affinity_nm"] is not None:
        binder |= (mutant <= binding["max_affinity_nm"]).to_numpy()
    if binding["max_percentile"] is not None:
        binder |= (percentile <= binding["max_percentile"]).fillna(False).to_numpy(dtype=bool)
    frame["binder"] = binder

    frame["agretopicity"] = (mutant / wildtype.where(wildtype > 0)).to_numpy()

    # Composite score.
    logistic = {
        "midpoint": ranking["affinity_midpoint_nm"],
        "width": ranking["affinity_width_nm"],
        "cutoff": ranking["affinity_cutoff_nm"],
    }
    vaf = frame["tumor_vaf"].astype(float)
    values = {
        "binding": logistic_affinity(mutant, **logistic),
        "vaf": np.clip(vaf.to_numpy(), 0.0, 1.0),
        "dissimilarity": 1.0 - logistic_affinity(wildtype, **logistic),
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
    frame["score"] = np.round(numerator / denominator, SCORE_DECIMALS)
    frame["score_components"] = [";".join(names) for names in used]

    frame["candidate_id"] = [
        candidate_id(sample, v, p, a)
        for v, p, a in zip(frame["variant_id"], frame["mutant_peptide"], frame["allele"],
                           strict=True)
    ]
    frame["_affinity"] = mutant.to_numpy()
    frame = frame.sort_values(["binder", "score", "_affinity", "candidate_id"],
                              ascending=[False, False, True, True], kind="mergesort")
    frame = frame.drop(columns="_affinity").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    middle = [c for c in frame.columns if c not in LEADING_COLUMNS + TRAILING_COLUMNS]
    return frame.loc[:, LEADING_COLUMNS + middle + TRAILING_COLUMNS]


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank rank``."""
    parser = subparsers.add_parser(
        "rank", help="flag binders and rank candidates with the composite score",
        description="Join read evidence, flag binders, compute agretopicity and the "
        "composite score, and write candidates.tsv (best first).")
    parser.add_argument("--sample", required=True, help="sample id (candidate_id prefix)")
    parser.add_argument("--predictions", required=True, help="predictions.tsv")
    parser.add_argument("--variants", required=True, help="variants.tsv")
    parser.add_argument("--params", help="params JSON with binding/ranking sections")
    parser.add_argument("--out", required=True, help="candidates.tsv to write")
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


def run(args: argparse.Namespace) -> int:
    """Run ``neorank rank``; returns 0."""
    sample = str(args.sample)
    if not sample.strip() or any(ch in sample for ch in "\t\r\n"):
        raise NeoRankError(f"bad sample id {sample!r}", where="--sample",
                           fix="use the sample id of the sample sheet")
    params = _params_from_args(args)
    predictions = read_table(args.predictions)
    variants = read_table(args.variants)
    candidates = rank_candidates(predictions, variants, sample, params,
                                 predictions_where=str(args.predictions),
                                 variants_where=str(args.variants))
    write_tsv(candidates, args.out)
    LOG.info("%s: %d candidate rows, %d binders -> %s", sample, len(candidates),
             int(candidates["binder"].sum()), args.out)
    return 0


def read_table(path: str | Path) -> pd.DataFrame:
    """:func:`neorank.io.read_tsv` with missing/unparsable files as :class:`InputFileError`."""
    try:
        return read_tsv(path)
    except FileNotFoundError as err:
        raise InputFileError("file not found", where=str(path),
                             fix="run the upstream stage first or fix the path") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot parse as a NeoRank TSV ({err})", where=str(path),
                             fix="pass the tab-separated table written by NeoRank") from err
