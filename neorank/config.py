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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    #: Share of the binding component taken by the log-IC50 term (docs/scoring.md).
    affinity_log_share: float = 0.2
    #: Anchor tier: mutated only at anchor positions, wildtype binds as well (neorank.ranking).
    anchor_tier: bool = True
    #: Anchor-position overrides, ``"ALLELE=2,-1"`` (``-1`` = C-terminus; ``default=``).
    anchor_positions: tuple[str, ...] = ()
    #: Predicted splice outcomes need RNA support to reach the Pass tier.
    require_rna_for_splice: bool = True


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
    review_max_binder_rows: int = 100_000


@dataclass(frozen=True)
class Vaccine:
    peptide_count: int = 20
    mrna_count: int = 34
    max_per_gene: int = 1
    pass_only: bool = False
    long_peptide_length: int = 25
    linkers: tuple[str, ...] = ("", "GPGPG", "AAY")
    junction_lengths: tuple[int, ...] = (8, 9, 10, 11)
    junction_max_affinity_nm: float = 500.0


#: Verdicts from worst to best (the same order as :data:`neorank.verdict.VERDICTS`).
VERDICTS = ("not supported", "borderline", "eligible")


ROLES = ("b2m", "hla", "processing", "ifng")


@dataclass(frozen=True)
class Presentation:
    """Config section ``presentation`` (defaults; to be moved into neorank.config)."""

    b2m_genes: tuple[str, ...] = ("B2M",)
    hla_genes: tuple[str, ...] = ("HLA-A", "HLA-B", "HLA-C")
    processing_genes: tuple[str, ...] = ("TAP1", "TAP2", "TAPBP", "NLRC5")
    ifng_genes: tuple[str, ...] = ("JAK1", "JAK2", "IFNGR1", "IFNGR2", "STAT1")
    b2m_lof_verdict: str = "not supported"
    hla_lof_verdict: str = "borderline"
    processing_lof_verdict: str = "borderline"
    ifng_lof_verdict: str = "borderline"
    loh_minor_copy_number_below: float = 0.5
    lohhla_max_pvalue: float = 0.01
    lohhla_loss_copy_number_below: float = 0.5


@dataclass(frozen=True)
class Hla:
    """The ``hla`` config section: which alleles besides human HLA-A/B/C are predicted.

    ``allow_nonclassical``: HLA-E, -F and -G (the models must know them);
    ``allow_nonhuman``: alleles of other species (SLA, Mamu, H-2, ...).
    """

    allow_nonclassical: bool = False
    allow_nonhuman: bool = False


#: Config section name -> its dataclass, in config.yaml order.
SECTIONS: dict[str, type] = {
    "reference": Reference, "somatic": Somatic, "annotate": Annotate, "peptides": Peptides,
    "hla": Hla, "mhcflurry": Mhcflurry, "binding": Binding, "ranking": Ranking,
    "eligibility": Eligibility, "presentation": Presentation, "report": Report,
    "vaccine": Vaccine,
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML would keep
    the last one silently)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                try:
                    key = self.construct_object(key_node, deep=True)
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice (first on line {first}); "
                        "YAML would keep only the last value", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_YAML_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([^\s:#'\"][^:#]*?|'[^']*'|\"[^\"]*\")\s*:(?:\s|$)")


def _yaml_key_at(text: str, line: int) -> str:
    """The dotted key whose block holds ``line`` (1-based) of a block-style YAML text."""
    stack: list[tuple[int, str]] = []
    for number, content in enumerate(text.splitlines()[:line], start=1):
        if not content.strip() or content.lstrip().startswith("#"):
            continue
        match = _YAML_KEY_LINE.match(content.replace("\t", " " * 8))
        if match is None:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2).strip("'\"")))
        if number == line:
            break
    return ".".join(key for _, key in stack)


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML; an error names the file, the line and column, and the key.

    A syntax error says which key's block it is in and shows the line; a tab in
    the indentation and a key given twice in one mapping (PyYAML would keep the
    last silently) are named as such.

    Raises
    ------
    InputFileError
        The text is not valid YAML.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
        at = key = shown = ""
        if mark is not None:
            at = f" at line {mark.line + 1} column {mark.column + 1}"
            key = _yaml_key_at(text, (context_mark or mark).line + 1)
            lines = text.splitlines()
            if mark.line < len(lines):
                shown = f"; line {mark.line + 1} reads {lines[mark.line].strip()[:80]!r}"
        if context and context_mark is not None and (mark is None
                                                     or context_mark.line != mark.line):
            problem = f"{problem} ({context} started at line {context_mark.line + 1})"
        fix = ("fix the YAML syntax there (indentation, a missing ':' or an unclosed quote or "
               "bracket)")
        if problem.startswith("mapping values are not allowed"):
            fix = ("a ':' where YAML expects none: the line above may lack the ':' after its "
                   "key, or a value holds ': ' (quote the value)")
        if "\\t" in problem or "\t" in problem:
            problem = f"{problem} (a tab character: YAML indentation must use spaces)"
            fix = "indent with spaces, not tabs (replace the tabs on that line)"
        elif "given twice" in problem:
            fix = "keep one of the two (the later one is the value you meant?)"
        raise InputFileError(f"not valid YAML{at}" + (f" (in '{key}')" if key else "")
                             + f": {problem}{shown}", where=where, fix=fix) from err


def _yaml_key_lines(text: str) -> dict[str, int]:
    """Dotted key (list items by index) -> the 1-based line it is written on."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines.setdefault(name, key.start_mark.line + 1)
                walk(value, name)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                name = f"{prefix}.{index}" if prefix else str(index)
                lines.setdefault(name, item.start_mark.line + 1)
                walk(item, name)

    walk(root, "")
    return lines


def _line_of(key: str, lines: dict[str, int]) -> int | None:
    """The line of ``key`` or of its closest written parent."""
    parts = key.split(".") if key else []
    while parts:
        found = lines.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


_PROBLEM_KEY = re.compile(r"'([A-Za-z_][\w]*(?:\.[\w]+)*)'|^([A-Za-z_]\w*(?:\.\w+)+)\b")


def _default_schema() -> Path | None:
    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    return schema if schema.is_file() else None


def load_config_file(path: str | Path, schema: str | Path | None = None) -> dict[str, Any]:
    """Read and check a YAML config file before any job runs; every problem at once.

    Checks: the file is readable UTF-8 YAML (a syntax error, a tab in the
    indentation or a key given twice names the line and the key), a mapping
    of sections, then :func:`check_config` (unknown keys with the closest
    known one, values the stages would refuse) and the JSON schema
    (``schema``; default ``workflow/schemas/config.schema.yaml`` of this
    checkout when present). Each problem names its line and key.

    Returns
    -------
    dict
        The config as written (an empty file is ``{}``; defaults are not filled).

    Raises
    ------
    InputFileError
        Naming the file, and for each problem the line and the key.
    """
    path = Path(path)
    where = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as err:
        raise InputFileError("the config file does not exist", where=where,
                             fix="check --configfile (relative paths are resolved from the "
                                 "directory Snakemake runs in)") from err
    except OSError as err:
        raise InputFileError(f"cannot read the config file ({err.strerror or err})",
                             where=where, fix="check the path and its permissions") from err
    except UnicodeDecodeError as err:
        raise InputFileError(f"the config file is not UTF-8 text ({err})", where=where,
                             fix="save it as UTF-8 text") from err
    data = load_yaml_text(text, where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputFileError(f"line 1: the config must be a mapping of sections (key: value), "
                             f"not a {type(data).__name__}", where=where,
                             fix="write the sections as in config/config.yaml (samples:, "
                                 "reference:, somatic:, ...)")
    lines = _yaml_key_lines(text)
    problems: list[tuple[int, str, str]] = []  # (line, key, text)
    keys_with_problems: set[str] = set()
    try:
        check_config(data, where=where)
    except NeoRankError as err:
        for item in err.problem.splitlines()[1:]:
            item = item.strip().removeprefix("- ")
            match = _PROBLEM_KEY.search(item)
            key = (match.group(1) or match.group(2)) if match else ""
            keys_with_problems.add(key)
            problems.append((_line_of(key, lines) or 0, key, item))
    schema_path = Path(schema) if schema is not None else _default_schema()
    if schema_path is not None:
        import jsonschema

        definition = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
        validator = jsonschema.validators.validator_for(definition)(definition)
        for error in validator.iter_errors(data):
            key = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "additionalProperties" or any(
                    key == k or key.startswith(k + ".") for k in keys_with_problems if k):
                continue  # unknown keys and bad values: check_config named them already
            keys_with_problems.add(key)
            problems.append((_line_of(key, lines) or 0, key,
                             f"{key or 'the config'}: {error.message}"))
    if problems:
        problems.sort(key=lambda p: p[0])
        shown = [f"line {line}: {text_}" if line else text_ for line, _, text_ in problems]
        head = "1 problem" if len(shown) == 1 else f"{len(shown)} problems"
        raise InputFileError(f"{head} in the config:\n" + "\n".join(f"  - {p}" for p in shown),
                             where=where,
                             fix="correct the keys named above (config/README.md lists every "
                                 "key and its allowed values)")
    return data


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
    for check in (hla_params, ranking_params, eligibility_params, presentation_params,
                  vaccine_params):
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
    given = (raw or {}).get("presentation") or {}
    if not isinstance(given, dict):
        raise NeoRankError("section 'presentation' must be an object", where=where,
                           fix="write presentation as a mapping of keys")
    defaults = {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(Presentation()).items()}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise NeoRankError(f"unknown presentation key(s): {', '.join(unknown)}", where=where,
                           fix=f"use only {', '.join(sorted(defaults))}")
    params = copy.deepcopy(defaults)
    params.update(given)
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
