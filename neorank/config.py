"""Run configuration: every section's defaults and checks in one place.

A layer below the stages. The workflow's YAML config (validated against
``workflow/schemas/config.schema.yaml``) reaches a stage as a params file: the
JSON the workflow writes, or the YAML config itself (:func:`load_params`). Each
stage reads only its sections through the ``*_params`` functions here, which
fill defaults and reject values that cannot work.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path
from typing import Any

from neorank.errors import InputFileError, NeoRankError

LOG = logging.getLogger(__name__)


#: Score components in their fixed order (also the order in ``score_components``).
COMPONENTS = ("binding", "vaf", "dissimilarity", "presentation", "expression")


#: Defaults of the params JSON sections used by ranking (same as the config schema).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "binding": {"max_affinity_nm": 500.0, "max_percentile": 2.0},
    "ranking": {
        "weights": {"binding": 1.0, "vaf": 0.5, "dissimilarity": 0.25, "presentation": 0.5,
                    "expression": 0.25},
        "affinity_midpoint_nm": 350.0,
        "affinity_width_nm": 150.0,
        "affinity_cutoff_nm": 5000.0,
        "expression_half_tpm": 10.0,
        "min_expression_tpm": 1.0,
        "min_rna_alt_reads": 2,
        "max_presentation_percentile": 2.0,
        "max_agretopicity": 0.5,
        "clonal_vaf_fraction": 0.5,
        "clonal_min_ccf": 0.8,
        "normal_copy_number": 2.0,
        "exclude_self_matches": True,
    },
}


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
    for key in ("affinity_width_nm", "affinity_cutoff_nm", "expression_half_tpm",
                "normal_copy_number"):
        ranking[key] = _number(ranking[key], f"ranking.{key}", where, minimum=0, exclusive=True)
    for key in ("min_expression_tpm", "max_agretopicity", "clonal_min_ccf"):
        ranking[key] = _number(ranking[key], f"ranking.{key}", where, minimum=0)
    for key in ("max_presentation_percentile", "clonal_vaf_fraction"):
        ranking[key] = _number(ranking[key], f"ranking.{key}", where, minimum=0,
                               maximum=100 if key.startswith("max") else 1)
    reads = ranking["min_rna_alt_reads"]
    if not (isinstance(reads, int) and not isinstance(reads, bool) and reads >= 0) and not (
            isinstance(reads, float) and reads.is_integer() and reads >= 0):
        raise NeoRankError(f"ranking.min_rna_alt_reads = {reads!r} is not a whole number >= 0",
                           where=where, fix="set ranking.min_rna_alt_reads to e.g. 2")
    ranking["min_rna_alt_reads"] = int(reads)
    if not isinstance(ranking["exclude_self_matches"], bool):
        raise NeoRankError(f"ranking.exclude_self_matches = {ranking['exclude_self_matches']!r} "
                           "is not true/false", where=where,
                           fix="set ranking.exclude_self_matches to true or false")
    for name in COMPONENTS:
        ranking["weights"][name] = _number(ranking["weights"][name], f"ranking.weights.{name}",
                                           where, minimum=0)
    if ranking["weights"]["binding"] <= 0:
        raise NeoRankError("ranking.weights.binding must be > 0 (binding is the mandatory component)",
                           where=where, fix="give binding a positive weight, e.g. 1.0")
    return params


DEFAULT_ELIGIBILITY: dict[str, float] = {
    "min_protein_changing_eligible": 5,
    "min_protein_changing_borderline": 1,
    "min_binder_variants_eligible": 5,
    "min_binder_variants_borderline": 1,
    "min_genes_eligible": 3,
    "min_genes_borderline": 1,
    "min_supported_alleles": 1,
    "min_purity": 0.2,
    "target_size_mb": 30.0,
    "tmb_high_per_mb": 10.0,
}


_INTEGER_KEYS = {
    "min_protein_changing_eligible", "min_protein_changing_borderline",
    "min_binder_variants_eligible", "min_binder_variants_borderline",
    "min_genes_eligible", "min_genes_borderline", "min_supported_alleles",
}


def eligibility_params(raw: dict[str, Any] | None = None, where: str = "params") -> dict[str, Any]:
    """Merge the ``eligibility`` section of the params JSON over the defaults.

    Parameters
    ----------
    raw
        The whole params JSON object (only ``eligibility`` is read).
    where
        Name of the source, for error messages.

    Returns
    -------
    dict
        Every key of :data:`DEFAULT_ELIGIBILITY`, validated.

    Raises
    ------
    NeoRankError
        Unknown key, wrong type, or a borderline threshold above its eligible one.
    """
    given = (raw or {}).get("eligibility") or {}
    if not isinstance(given, dict):
        raise NeoRankError("section 'eligibility' must be an object", where=where,
                           fix="write eligibility as a JSON object")
    unknown = sorted(set(given) - set(DEFAULT_ELIGIBILITY))
    if unknown:
        raise NeoRankError(f"unknown eligibility key(s): {', '.join(unknown)}", where=where,
                           fix=f"use only {', '.join(sorted(DEFAULT_ELIGIBILITY))}")
    params = copy.deepcopy(DEFAULT_ELIGIBILITY)
    params.update(given)
    for key, value in params.items():
        numeric = (isinstance(value, (int, float)) and not isinstance(value, bool)
                   and math.isfinite(value) and value >= 0)
        if key in _INTEGER_KEYS:
            numeric = numeric and float(value).is_integer()
        if key == "target_size_mb":
            numeric = numeric and value > 0
        if key == "min_purity":
            numeric = numeric and value <= 1
        if not numeric:
            kind = "a whole number >= 0" if key in _INTEGER_KEYS else "a number >= 0"
            if key == "target_size_mb":
                kind = "a number > 0 (megabases)"
            if key == "min_purity":
                kind = "a fraction between 0 and 1"
            raise NeoRankError(f"eligibility.{key} = {value!r} is not {kind}", where=where,
                               fix=f"set eligibility.{key} to {kind}")
        params[key] = int(value) if key in _INTEGER_KEYS else float(value)
    for stem in ("min_protein_changing", "min_binder_variants", "min_genes"):
        if params[f"{stem}_borderline"] > params[f"{stem}_eligible"]:
            raise NeoRankError(
                f"eligibility.{stem}_borderline ({params[f'{stem}_borderline']}) is above "
                f"{stem}_eligible ({params[f'{stem}_eligible']})",
                where=where, fix="the borderline threshold must not exceed the eligible one")
    return params


STANDARD_AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")


VACCINE_DEFAULTS: dict[str, Any] = {
    "peptide_count": 20,
    "mrna_count": 34,
    "max_per_gene": 1,
    "pass_only": False,
    "long_peptide_length": 25,
    "linkers": ["", "GPGPG", "AAY"],
    "junction_lengths": [8, 9, 10, 11],
    "junction_max_affinity_nm": 500.0,
}


def vaccine_params(raw: dict[str, Any] | None = None, where: str = "params") -> dict[str, Any]:
    """The ``vaccine`` section of the params JSON with defaults filled and values checked."""
    section = dict(VACCINE_DEFAULTS)
    section.update((raw or {}).get("vaccine") or {})
    for key in ("peptide_count", "mrna_count", "max_per_gene", "long_peptide_length"):
        value = section[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NeoRankError(f"vaccine.{key} is {value!r}, not a whole number >= 1",
                               where=where, fix=f"set vaccine.{key} to e.g. {VACCINE_DEFAULTS[key]}")
    lengths = section["junction_lengths"]
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or not 8 <= n <= 15
                          for n in lengths):
        raise NeoRankError(f"vaccine.junction_lengths is {lengths!r}", where=where,
                           fix="give peptide lengths between 8 and 15, e.g. [8, 9, 10, 11]")
    linkers = section["linkers"]
    if not linkers or any(not isinstance(x, str) or set(x) - STANDARD_AMINO_ACIDS
                          for x in linkers):
        raise NeoRankError(f"vaccine.linkers is {linkers!r}", where=where,
                           fix='give amino-acid strings, "" for no linker, e.g. ["", "GPGPG"]')
    threshold = section["junction_max_affinity_nm"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
        raise NeoRankError(f"vaccine.junction_max_affinity_nm is {threshold!r}", where=where,
                           fix="use a positive IC50 in nM, e.g. 500")
    section["junction_max_affinity_nm"] = float(threshold)
    section["pass_only"] = bool(section["pass_only"])
    return section


DEFAULT_TOP_N = 50


DEFAULT_MAX_VARIANT_ROWS = 5000


#: Defaults of the ``report`` config section used here (same as the config schema).
REPORT_DEFAULTS: dict[str, Any] = {
    "drilldown_max_variants": 300,
    "drilldown_max_peptides": 25,
    "aggregate_inclusion_nm": 5000.0,
}


DEFAULT_INCLUSION_NM = 5000.0
