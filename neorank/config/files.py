"""Reading config and params files (YAML or JSON) and checking a whole config before any job."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from neorank.config.checks import (
    eligibility_params,
    hla_params,
    presentation_params,
    ranking_params,
    vaccine_params,
)
from neorank.config.sections import (
    COMPONENTS,
    SECTIONS,
    TOP_LEVEL,
)
from neorank.errors import InputFileError, NeoRankError

LOG = logging.getLogger("neorank.config")


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
    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
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


