"""Run configuration: every section's defaults and checks in one place.

A layer below the stages. The workflow's YAML config (validated against
``workflow/schemas/config.schema.yaml``) reaches a stage as a params file: the
JSON the workflow writes, or the YAML config itself (:func:`load_params`). Each
stage reads only its sections through the ``*_params`` functions here, which
fill defaults and reject values that cannot work.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neorank.errors import InputFileError, NeoRankError

LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------- sections
# One frozen dataclass per config section: the defaults live here and only here.
# workflow/schemas/config.schema.yaml mirrors them (a test checks the schema's
# defaults, config/config.yaml and these agree).


@dataclass(frozen=True)
class Reference:
    source: str = "local"
    name: str = "GRCh38-ensembl87-osteosarc-subset"
    release: int = 87
    species: str = "human"
    #: Empty: the embedded subset shipped with NeoRank (neorank.resources).
    gtf: str = ""
    cdna: str = ""
    pep: str = ""
    ensembl_server: str = ""
    cache_dir: str = "resources/cache/reference"


@dataclass(frozen=True)
class Somatic:
    require_pass: bool = True
    pass_filters: tuple[str, ...] = ("PASS",)
    min_tumor_depth: int = 10
    min_tumor_alt_reads: int = 3
    min_tumor_vaf: float = 0.05
    min_normal_depth: int = 5
    max_normal_vaf: float = 0.02


@dataclass(frozen=True)
class Annotate:
    transcripts: str = "all"
    context: int = 40
    germline_context: bool = True


@dataclass(frozen=True)
class Peptides:
    lengths: tuple[int, ...] = (8, 9, 10, 11)
    flank_length: int = 15
    self_max_mismatches: int = 2


@dataclass(frozen=True)
class Mhcflurry:
    models: str = "embedded"
    #: Empty: the embedded models shipped with NeoRank (neorank.resources).
    embedded_dir: str = ""
    official_dir: str = ""
    shards: int = 2
    cache: str = "resources/cache/predictions.sqlite"


@dataclass(frozen=True)
class Binding:
    max_affinity_nm: float | None = 500.0
    max_percentile: float | None = 2.0


@dataclass(frozen=True)
class Weights:
    binding: float = 1.0
    vaf: float = 0.5
    dissimilarity: float = 0.25
    presentation: float = 0.5
    expression: float = 0.25


@dataclass(frozen=True)
class Ranking:
    weights: Weights = field(default_factory=Weights)
    affinity_midpoint_nm: float = 350.0
    affinity_width_nm: float = 150.0
    affinity_cutoff_nm: float = 5000.0
    expression_half_tpm: float = 10.0
    min_expression_tpm: float = 1.0
    min_rna_alt_reads: int = 2
    max_presentation_percentile: float = 2.0
    max_agretopicity: float = 0.5
    clonal_vaf_fraction: float = 0.5
    clonal_min_ccf: float = 0.8
    normal_copy_number: float = 2.0
    exclude_self_matches: bool = True


@dataclass(frozen=True)
class Eligibility:
    min_protein_changing_eligible: int = 5
    min_protein_changing_borderline: int = 1
    min_binder_variants_eligible: int = 5
    min_binder_variants_borderline: int = 1
    min_genes_eligible: int = 3
    min_genes_borderline: int = 1
    min_supported_alleles: int = 1
    min_purity: float = 0.2
    target_size_mb: float = 30.0
    tmb_high_per_mb: float = 10.0


@dataclass(frozen=True)
class Report:
    top_n: int = 50
    drilldown_max_variants: int = 300
    drilldown_max_peptides: int = 25
    aggregate_inclusion_nm: float = 5000.0
    review_dir: str = "review"


@dataclass(frozen=True)
class Vaccine:
    peptide_count: int = 20
    mrna_count: int = 34
    max_per_gene: int = 1
    pass_only: bool = False
    review_max_binder_rows: int = 100_000
    long_peptide_length: int = 25
    linkers: tuple[str, ...] = ("", "GPGPG", "AAY")
    junction_lengths: tuple[int, ...] = (8, 9, 10, 11)
    junction_max_affinity_nm: float = 500.0


#: Config section name -> its dataclass, in config.yaml order.
SECTIONS: dict[str, type] = {
    "reference": Reference, "somatic": Somatic, "annotate": Annotate, "peptides": Peptides,
    "mhcflurry": Mhcflurry, "binding": Binding, "ranking": Ranking,
    "eligibility": Eligibility, "report": Report, "vaccine": Vaccine,
}
#: Top-level keys that are not sections.
TOP_LEVEL = {"samples": "config/samples.tsv"}


def section_defaults(name: str) -> dict[str, Any]:
    """A section's defaults as plain JSON-style values (tuples as lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(SECTIONS[name]()))


def defaults() -> dict[str, Any]:
    """The whole config's defaults (what an empty config file means)."""
    return {**TOP_LEVEL, **{name: section_defaults(name) for name in SECTIONS}}


#: Score components in their fixed order (also the order in ``score_components``).
COMPONENTS = ("binding", "vaf", "dissimilarity", "presentation", "expression")


#: Defaults of the params JSON sections used by ranking (same as the config schema).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "binding": section_defaults("binding"),
    "ranking": section_defaults("ranking"),
}


def load_params(path: str | Path | list[str | Path] | None) -> dict[str, Any]:
    """Read params: the workflow's per-section JSON files or a YAML config file.

    Parameters
    ----------
    path
        One file or several (merged in order, a later file's sections win):
        JSON objects such as ``results/config/ranking.json`` or
        ``results/run_config.json``, or a YAML config such as
        ``config/config.yaml`` (``.yaml``/``.yml``). ``None`` or ``[]``: ``{}``
        (every stage then uses the defaults of :data:`SECTIONS`).

    Returns
    -------
    dict
        Section name -> section object (sections not given are absent).

    Raises
    ------
    InputFileError
        A file is missing, is not JSON/YAML, or is not an object; the message
        names the file and, for syntax errors, the line.
    """
    if path is None:
        return {}
    if isinstance(path, (list, tuple)):
        merged: dict[str, Any] = {}
        for one in path:
            merged.update(load_params(one))
        return merged
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputFileError(f"cannot read the params file ({err.strerror})", where=str(path),
                             fix="pass a params JSON the workflow writes or a YAML config "
                             "(--params)") from err
    if path.suffix.lower() in (".yaml", ".yml"):
        data = load_yaml_text(text, str(path))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputFileError(
                f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
                where=str(path), fix="write the params as a JSON object, or pass the YAML "
                "config (a .yaml file)") from err
    if not isinstance(data, dict):
        raise InputFileError("the params file must hold an object (sections by name)",
                             where=str(path),
                             fix='write e.g. {"binding": {...}, "ranking": {...}}')
    return data


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML; a syntax error names the file, line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputFileError(f"not valid YAML{at}: {problem}", where=where,
                             fix="fix the YAML syntax there (indentation, a missing ':' "
                             "or an unclosed quote or bracket)") from err


def check_config(config: dict[str, Any], where: str = "config") -> None:
    """Reject what the JSON schema cannot say well, before any job runs.

    Unknown keys (at the top level, in any section and in ``ranking.weights``)
    are named with the closest known key; then every section that stages
    validate is checked as the stage would (cross-field checks included: both
    binder thresholds null, a zero binding weight, a borderline eligibility
    threshold above its eligible one, ...). All problems are reported at once.

    Raises
    ------
    NeoRankError
        One or more problems, each naming the key and the fix.
    """
    problems: list[str] = []

    def unknown(keys: Any, known: list[str], prefix: str) -> None:
        for key in sorted(str(k) for k in keys):
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            problems.append(f"unknown key '{prefix}{key}'{hint} (known: {', '.join(known)})")

    unknown(config, [*TOP_LEVEL, *SECTIONS], "")
    for name, cls in SECTIONS.items():
        section = config.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            problems.append(f"'{name}' must be a mapping of keys, not {section!r}")
            continue
        unknown(section, [f.name for f in dataclasses.fields(cls)], f"{name}.")
        if name == "ranking" and isinstance(section.get("weights"), dict):
            unknown(section["weights"], list(COMPONENTS), "ranking.weights.")
    for check in (ranking_params, eligibility_params, vaccine_params):
        try:
            check(config, where=where)
        except NeoRankError as err:
            problems.append(f"{err.problem} ({err.fix})" if err.fix else err.problem)
    if problems:
        raise NeoRankError("\n".join(["invalid configuration:", *(f"  - {p}" for p in problems)]),
                           where=where,
                           fix="correct the keys named above (config/README.md lists every key)")


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
