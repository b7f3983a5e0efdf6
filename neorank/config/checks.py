"""Each stage's sections with defaults filled and values that cannot work refused."""

from __future__ import annotations

import copy
import difflib
import logging
import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from neorank.config.sections import (
    COMPONENTS,
    DEFAULT_PARAMS,
    ROLES,
    VERDICTS,
    Hla,
    Report,
    section_defaults,
)
from neorank.errors import NeoRankError

LOG = logging.getLogger("neorank.config")


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


DEFAULT_ELIGIBILITY: dict[str, Any] = section_defaults("eligibility")


_INTEGER_KEYS = {
    "min_protein_changing_eligible", "min_protein_changing_borderline",
    "min_binder_variants_eligible", "min_binder_variants_borderline",
    "min_genes_eligible", "min_genes_borderline", "min_supported_alleles",
}


def _merged_section(raw: dict[str, Any] | None, name: str, where: str) -> dict[str, Any]:
    """Section ``name`` of ``raw`` over its defaults; not a mapping or an unknown key is an
    error (the values are checked by the section's ``*_params``)."""
    given = (raw or {}).get(name) or {}
    if not isinstance(given, dict):
        raise NeoRankError(f"section '{name}' must be an object", where=where,
                           fix=f"write {name} as a mapping of keys")
    params = section_defaults(name)
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise NeoRankError(f"unknown {name} key(s): {', '.join(unknown)}", where=where,
                           fix=f"use only {', '.join(sorted(params))}")
    params.update(copy.deepcopy(given))
    return params


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
    params = _merged_section(raw, "eligibility", where)
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


VACCINE_DEFAULTS: dict[str, Any] = section_defaults("vaccine")


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


DEFAULT_TOP_N = Report.top_n


DEFAULT_MAX_VARIANT_ROWS = 5000


#: Defaults of the ``report`` config section used here (same as the config schema).
REPORT_DEFAULTS: dict[str, Any] = {
    key: value for key, value in section_defaults("report").items()
    if key in ("drilldown_max_variants", "drilldown_max_peptides", "aggregate_inclusion_nm")}


DEFAULT_INCLUSION_NM = Report.aggregate_inclusion_nm


_GENE_KEYS = tuple(f"{role}_genes" for role in ROLES)


_VERDICT_KEYS = tuple(f"{role}_lof_verdict" for role in ROLES)


def presentation_params(raw: dict[str, Any] | None = None,
                        where: str = "params") -> dict[str, Any]:
    """The ``presentation`` section of the params over the :class:`Presentation` defaults.

    Raises
    ------
    NeoRankError
        Unknown key, a gene list that is not a list of names, a verdict not in
        :data:`VERDICTS`, a threshold that is not a number in range.
    """
    params = _merged_section(raw, "presentation", where)
    defaults = section_defaults("presentation")
    for key in _GENE_KEYS:
        genes = params[key]
        if not (isinstance(genes, (list, tuple))
                and all(isinstance(g, str) and g.strip() for g in genes)):
            raise NeoRankError(f"presentation.{key} = {genes!r} is not a list of gene names",
                               where=where, fix=f"write e.g. {key}: [{defaults[key][0]}]")
        params[key] = [g.strip() for g in genes]
    for key in _VERDICT_KEYS:
        if params[key] not in VERDICTS:
            raise NeoRankError(f"presentation.{key} = {params[key]!r} is not a verdict",
                               where=where, fix=f"use one of: {', '.join(VERDICTS)}")
    for key in ("loh_minor_copy_number_below", "lohhla_loss_copy_number_below",
                "lohhla_max_pvalue"):
        value = params[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and value > 0)
        if key == "lohhla_max_pvalue":
            ok = ok and value <= 1
        if not ok:
            kind = "a p-value in (0, 1]" if key == "lohhla_max_pvalue" else "a number > 0"
            raise NeoRankError(f"presentation.{key} = {value!r} is not {kind}", where=where,
                               fix=f"write {kind}")
    return params


def hla_params(raw: Mapping[str, Any] | None = None, where: str = "config") -> Hla:
    """The ``hla`` section of a config or params object, defaults filled and checked.

    Raises
    ------
    NeoRankError
        ``hla`` is not a mapping, has an unknown key, or a value is not true/false.
    """
    section = (raw or {}).get("hla")
    if section is None:
        return Hla()
    if not isinstance(section, Mapping):
        raise NeoRankError(f"'hla' must be a mapping of keys, not {section!r}", where=where,
                           fix="write e.g. hla: {allow_nonclassical: false, allow_nonhuman: false}")
    known = [f.name for f in fields(Hla)]
    for key, value in section.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean 'hla.{close[0]}'?" if close else ""
            raise NeoRankError(f"unknown key 'hla.{key}'{hint} (known: {', '.join(known)})",
                               where=where, fix="use only " + ", ".join(f"hla.{k}" for k in known))
        if not isinstance(value, bool):
            raise NeoRankError(f"hla.{key} = {value!r} is not true/false", where=where,
                               fix=f"set hla.{key} to true or false")
    return Hla(**dict(section))
