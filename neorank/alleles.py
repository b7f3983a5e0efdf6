"""HLA class I alleles: read a patient's typing and normalise it with mhcgnomes.

Accepted inputs (the sample sheet's ``hla_alleles`` column):

* an inline list: ``HLA-A*02:01,A*01:01;B0801`` (commas, semicolons or spaces);
* a file with one allele per line (``#`` comments allowed);
* an OptiType result TSV (``*_result.tsv``: an index column, then ``A1 A2 B1 B2
  C1 C2 Reads Objective``); the first result row is used (OptiType's best
  solution); a header without all six allele columns is an error naming them;
* an HLA-HD result file (``*_final.result.txt``: ``A\\tHLA-A*02:01:01\\tHLA-A*24:02:01``
  lines, one per locus). Its class II and non-classical rows (DRB1, DQA1, ...,
  E, F, G, H, ...) are skipped with a note; an A/B/C locus it did not type
  (``Not typed``) is reported as untyped; ``-`` (no second allele) is ignored.

Every name is parsed with mhcgnomes and must be an exact, complete HLA-A/B/C
class I allele of at least two fields:

* any spelling mhcgnomes understands is accepted (``HLA-A*02:01``,
  ``A*02:01``, ``HLA-A0201``, ``hla_a_02_01``), but the digits must be the ones
  written: a field with one digit (``HLA-A*02:1``), a compact name whose fields
  cannot be told apart (``HLA-A*0210101``) or characters after the name are
  errors that list the candidates, never silently read as another allele;
* three- and four-field names and G/P groups are reduced to two fields (the
  protein, which is what binds peptides) with a note; expression suffixes
  (``L``, ``S``, ``Q``, ...) are dropped with a note; null alleles (``N``) are
  kept with status ``null_skipped`` (not expressed, not predicted);
* an ambiguous typing (``HLA-A*02:01/02:02``), a serotype (``A2``) or a
  one-field group (``HLA-A*02``) is an error listing the candidates;
* class II alleles, HLA genes that do not present peptides to T cells
  (MICA, pseudogenes such as HLA-H) and unparseable names are errors;
* non-classical class I (HLA-E, -F, -G) and non-human alleles (SLA, Mamu,
  H-2, ...) are errors unless the ``hla`` config section allows them
  (:class:`Hla`, :func:`hla_params`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neorank.config import Hla, hla_params  # noqa: F401 (the hla section lives in config)
from neorank.errors import AlleleError

LOG = logging.getLogger(__name__)

#: ``status`` values of :class:`PatientAllele`.
SUPPORTED = "supported"  # the predictor has training data for this allele
EXTRAPOLATED = "extrapolated"  # pseudosequence only: pan-allele extrapolation
NULL_SKIPPED = "null_skipped"  # null allele (not expressed): not predicted

#: Classical class I genes (always predicted) and the non-classical ones that
#: ``hla.allow_nonclassical`` admits.
CLASSICAL_GENES = ("A", "B", "C")
NONCLASSICAL_GENES = ("E", "F", "G")
#: Columns of an OptiType result holding the alleles.
OPTITYPE_COLUMNS = ("A1", "A2", "B1", "B2", "C1", "C2")
_OPTITYPE_OTHER = ("Reads", "Objective")
#: What the expression suffixes of an allele name mean (the WHO nomenclature).
_SUFFIXES = {"L": "low cell-surface expression", "S": "secreted, not on the cell surface",
             "C": "cytoplasmic, not on the cell surface", "A": "aberrant expression",
             "Q": "questionable expression"}
_HUMAN = "Homo sapiens"


# ------------------------------------------------------------------ config
# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class PatientAllele:
    """One allele of a patient's typing: the input spelling and its normal form.

    ``note``: how the input was read when that is worth saying (a higher
    resolution or a G/P group reduced to two fields, an expression suffix
    dropped); empty otherwise (and then absent from :meth:`to_dict`).
    """

    input: str
    allele: str
    status: str = SUPPORTED
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        entry = asdict(self)
        if not entry["note"]:
            del entry["note"]
        return entry


@dataclass(frozen=True)
class Normalized:
    """One name read by :func:`normalize_allele`."""

    allele: str
    is_null: bool
    note: str = ""


@dataclass(frozen=True)
class TypingEntry:
    """One allele name of a typing and where it was written (``line 3``; empty inline)."""

    raw: str
    where: str = ""


@dataclass
class TypingSource:
    """What a typing spec holds before normalisation (:func:`read_typing_source`).

    ``notes`` are file-level remarks for the log and the report (rows skipped,
    the OptiType solution used); ``untyped`` the HLA-A/B/C loci the typing tool
    reported but could not type (e.g. ``HLA-C``).
    """

    spec: str
    path: Path | None = None
    format: str = "inline"  # inline | list | optitype | hlahd
    entries: list[TypingEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    untyped: list[str] = field(default_factory=list)

    def where(self, entry: TypingEntry, default: str) -> str:
        """Where an entry comes from, for messages: ``file: line N`` or ``default``."""
        if self.path is None:
            return default
        return f"{self.spec}: {entry.where}" if entry.where else self.spec


@dataclass
class Typing:
    """A normalised typing (:func:`load_typing`): the alleles and the file-level notes."""

    alleles: list[PatientAllele]
    notes: list[str] = field(default_factory=list)
    untyped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading
def _split_inline(text: str) -> list[str]:
    return [token for token in re.split(r"[,;\s]+", text.strip()) if token]


def _file_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise AlleleError(f"cannot read HLA typing file ({err})", where=str(path),
                          fix="give a readable UTF-8 text file or an inline list") from err
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def _is_optitype(header: list[str], path: Path) -> bool:
    cells = {c.strip() for c in header}
    known = cells & {*OPTITYPE_COLUMNS, *_OPTITYPE_OTHER}
    return len(known) >= 2 or (bool(known) and path.name.endswith("_result.tsv"))


def _read_optitype(path: Path, lines: list[tuple[int, str]], source: TypingSource) -> None:
    header_line, header_text = lines[0]
    header = [c.strip() for c in header_text.split("\t")]
    missing = [c for c in OPTITYPE_COLUMNS if c not in header]
    fix = ("give OptiType's complete *_result.tsv: a header line with an empty first cell, then "
           "A1 A2 B1 B2 C1 C2 Reads Objective (tab-separated), and one result row")
    if missing:
        raise AlleleError(
            f"OptiType result: the header (line {header_line}) lacks the column(s) "
            f"{', '.join(missing)} (found: {', '.join(repr(c) for c in header)}); the alleles "
            "cannot be read from it", where=str(path), fix=fix)
    rows = [(n, text.split("\t")) for n, text in lines[1:]]
    if not rows:
        raise AlleleError(f"OptiType result: a header (line {header_line}) but no result row",
                          where=str(path), fix=fix + " (did OptiType finish?)")
    line, cells = rows[0]
    if len(cells) != len(header):
        raise AlleleError(
            f"OptiType result: line {line} has {len(cells)} tab-separated cells but the header "
            f"(line {header_line}) has {len(header)}"
            + (": the header lacks the index column (OptiType writes an empty first header "
               "cell)" if len(cells) == len(header) + 1 else ""),
            where=str(path), fix=fix)
    if len(rows) > 1:
        source.notes.append(f"OptiType result has {len(rows)} solutions: the first (line {line}) "
                            "is used")
    row = dict(zip(header, (c.strip() for c in cells), strict=True))
    for locus in CLASSICAL_GENES:
        typed = False
        for column in (f"{locus}1", f"{locus}2"):
            value = row[column]
            if value and value.lower() not in ("-", "na", "nan", "none"):
                typed = True
                source.entries.append(TypingEntry(value, f"line {line}, column {column}"))
        if not typed:
            source.untyped.append(f"HLA-{locus}")


_HLAHD_LOCUS = re.compile(r"[A-Z][A-Z0-9]*")


def _hlahd_cell(cell: str) -> str:
    return cell.strip()


def _is_hlahd(lines: list[tuple[int, str]]) -> bool:
    rows = [text.split("\t") for _, text in lines]
    if not all(len(r) >= 2 and _HLAHD_LOCUS.fullmatch(r[0].strip()) for r in rows):
        return False
    cells = [_hlahd_cell(c) for r in rows for c in r[1:]]
    return all(c in ("", "-") or c.lower() == "not typed" or "*" in c for c in cells) and any(
        "*" in c or c.lower() == "not typed" for c in cells)


def _read_hlahd(lines: list[tuple[int, str]], source: TypingSource, hla: Hla) -> None:
    used = set(CLASSICAL_GENES) | (set(NONCLASSICAL_GENES) if hla.allow_nonclassical else set())
    skipped: list[str] = []
    seen: set[str] = set()
    for line, text in lines:
        cells = text.split("\t")
        locus = cells[0].strip()
        seen.add(locus)
        if locus not in used:
            skipped.append(locus)
            continue
        alleles = [_hlahd_cell(c) for c in cells[1:]]
        alleles = [c for c in alleles if c and c != "-" and c.lower() != "not typed"]
        if not alleles and locus in CLASSICAL_GENES:
            source.untyped.append(f"HLA-{locus}")
        source.entries += [TypingEntry(a, f"line {line}") for a in alleles]
    for locus in CLASSICAL_GENES:
        if locus not in seen:
            source.untyped.append(f"HLA-{locus}")
    if skipped:
        what = "class II and non-classical" if not hla.allow_nonclassical else "class II"
        source.notes.append(f"HLA-HD result: {len(skipped)} {what} locus row(s) skipped "
                            f"(NeoRank predicts HLA class I A/B/C): {', '.join(skipped)}")


def read_typing_source(spec: str, base_dir: str | os.PathLike | None = None,
                       hla: Hla | None = None) -> TypingSource:
    """Read the allele names of ``spec`` (an inline list or a typing file) with their lines.

    Raises
    ------
    AlleleError
        The file is missing or unreadable, or an OptiType result is incomplete.
    """
    hla = hla or Hla()
    spec = (spec or "").strip()
    source = TypingSource(spec)
    if not spec:
        return source
    candidate = Path(spec)
    if base_dir is not None and not candidate.is_absolute():
        candidate = Path(base_dir) / candidate
    looks_like_path = "/" in spec or spec.endswith((".txt", ".tsv", ".csv", ".hla"))
    if not candidate.is_file():
        if looks_like_path:
            raise AlleleError("HLA typing file not found", where=spec,
                              fix="check the path in the sample sheet's hla_alleles column "
                                  "(relative paths are resolved from the working directory)")
        source.entries = [TypingEntry(token) for token in _split_inline(spec)]
        return source
    source.path = candidate
    lines = _file_lines(candidate)
    if not lines:
        source.format = "list"
        return source
    if _is_optitype(lines[0][1].split("\t"), candidate):
        source.format = "optitype"
        _read_optitype(candidate, lines, source)
    elif _is_hlahd(lines):
        source.format = "hlahd"
        _read_hlahd(lines, source, hla)
    else:
        source.format = "list"
        source.entries = [TypingEntry(token, f"line {n}") for n, text in lines
                          for token in _split_inline(text)]
    return source


def read_typing(spec: str, base_dir: str | os.PathLike | None = None,
                hla: Hla | None = None) -> list[str]:
    """Return the raw allele strings of ``spec`` (an inline list or a file path)."""
    return [entry.raw for entry in read_typing_source(spec, base_dir, hla).entries]


# ------------------------------------------------------------------ one name
def _valid_splits(digits: str) -> list[tuple[str, ...]]:
    """Ways to cut a compact HLA field string into 2-4 fields (first field 2 digits,
    the others 2 digits or 3-4 digits without a leading zero)."""
    results: list[tuple[str, ...]] = []

    def cut(rest: str, parts: tuple[str, ...]) -> None:
        if not rest:
            if 2 <= len(parts) <= 4:
                results.append(parts)
            return
        if len(parts) == 4:
            return
        for width in (2, 3, 4):
            piece = rest[:width]
            if len(piece) < width or (width > 2 and piece[0] == "0"):
                continue
            cut(rest[width:], (*parts, piece))

    if len(digits) >= 2:
        cut(digits[2:], (digits[:2],))
    return results


def _name(prefix: str, fields_: tuple[str, ...] | list[str], suffix: str = "") -> str:
    return f"{prefix}*{':'.join(fields_)}{suffix}"


_HUMAN_NAME = re.compile(r"(?i)(?:hla[-_])?(?:cw|[a-z])(?:\*|[-_])?(?P<tail>.*)")
_TAIL = re.compile(r"(?P<fields>\d+(?:[:_]\d+)*)(?P<suffix>[A-Za-z]?)")


def _literal_problem(text: str, parsed: Any) -> tuple[str, list[str]] | None:
    """Why the written digits of ``text`` are not exactly the allele mhcgnomes read, with
    the candidates; ``None`` when they are."""
    human = parsed.species.name == _HUMAN
    prefix = f"{parsed.species.mhc_prefix}-{parsed.gene.name}" if human else \
        parsed.to_string().split("*")[0]
    if "*" in text:
        tail = text.split("*", 1)[1]
    elif human:
        match = _HUMAN_NAME.fullmatch(text.strip())
        tail = match.group("tail") if match else ""
    else:
        return None  # a non-human name without '*' (e.g. H2-Kb): as mhcgnomes reads it
    read_as = parsed.to_string()
    match = _TAIL.fullmatch(tail.strip())
    if match is None:
        return (f"is not a well-formed allele name (unexpected characters in {tail!r}; "
                f"mhcgnomes would read it as {read_as})", [read_as])
    written = re.split(r"[:_]", match.group("fields"))
    suffix = match.group("suffix").upper()
    if len(written) == 1 and human and len(written[0]) > 3:
        digits = written[0]
        splits = _valid_splits(digits)
        if len(splits) == 1 and splits[0] == tuple(parsed.allele_fields):
            return None
        if len(digits) in (4, 5) and splits and splits[0] == tuple(parsed.allele_fields):
            return None  # the classic compact spellings A*0201, A*02101
        candidates = [_name(prefix, s, suffix) for s in splits] or [read_as]
        return (f"writes its fields without ':' ({digits!r}) and they cannot be told apart",
                candidates)
    short = [i for i, f in enumerate(written) if len(f) < 2]
    if short:
        i = short[0]
        padded = list(written)
        padded[i] = written[i].zfill(2)
        lost = [list(written) for _ in range(10)]
        for digit, variant in enumerate(lost):
            variant[i] = f"{written[i]}{digit}"
        candidates = [_name(prefix, padded, suffix)]
        candidates.append(f"{_name(prefix, lost[0], suffix)} to {_name(prefix, lost[9], suffix)} "
                          "if a digit was lost")
        return (f"has a one-digit field {written[i]!r}: allele fields have at least two digits "
                f"(mhcgnomes would silently read it as {read_as})", candidates)
    if human:
        if len(written[0]) != 2:
            digits = "".join(written)
            candidates = [_name(prefix, s, suffix) for s in _valid_splits(digits)]
            return (f"has a first field {written[0]!r} of {len(written[0])} digits: HLA allele "
                    "groups have two", candidates)
        for f in written[1:]:
            if len(f) > 4 or (len(f) > 2 and f[0] == "0"):
                fixed = [x if len(x) <= 2 or x[0] != "0" else x.lstrip("0").zfill(2)
                         for x in written]
                return (f"has a field {f!r} that is not an HLA field (2 digits, or 3-4 without "
                        "a leading zero)", [_name(prefix, fixed, suffix)])
    if tuple(written) != tuple(parsed.allele_fields):
        return (f"is read by mhcgnomes as {read_as}, not as written", [read_as])
    return None


def import_mhcgnomes() -> Any:
    """``import mhcgnomes``, its data files parsed by libyaml's C parser.

    mhcgnomes reads about 30 YAML tables at import with ``yaml.safe_load``, PyYAML's
    pure-Python parser: 2-3 s of every job that reads an HLA typing (preflight and
    each prediction shard). While it imports, ``yaml.safe_load`` is PyYAML's C
    ``CSafeLoader`` (same constructor and resolvers, so the same data; tested), then
    restored. Without libyaml this is a plain import."""
    import sys

    if "mhcgnomes" in sys.modules:
        return sys.modules["mhcgnomes"]
    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        import mhcgnomes

        return mhcgnomes
    safe_load = yaml.safe_load
    yaml.safe_load = lambda stream: yaml.load(stream, Loader=yaml.CSafeLoader)
    try:
        import mhcgnomes
    finally:
        yaml.safe_load = safe_load
    return mhcgnomes


def _ambiguous(raw: str, parts: list[str], where: str) -> AlleleError:
    return AlleleError(
        f"{raw!r} is an ambiguous typing (one of {', '.join(parts)}), not one allele",
        where=where,
        fix="give the one allele the typing resolved (re-run the typing at a higher "
            "resolution or ask the lab); NeoRank does not choose between candidates")


def _unparseable(raw: str, err: Exception, where: str) -> AlleleError:
    mhcgnomes = import_mhcgnomes()
    text = raw.strip()
    pieces = [p.strip() for p in re.split(r"[/,\s]+", text) if p.strip()]
    if len(pieces) > 1:  # ambiguous: "HLA-A*02:01/02:02", "HLA-A*02:01,HLA-A*02:02"
        first = pieces[0]
        gene = first.split("*")[0] if "*" in first else ""
        names = []
        for piece in pieces:
            candidate = piece if "*" in piece or not gene else f"{gene}*{piece}"
            try:
                names.append(mhcgnomes.parse(candidate).to_string())
            except Exception:
                names.append(candidate)
        return _ambiguous(raw, names, where)
    candidates = []
    for attempt in (re.sub(r"(?<=\d)[.;\-](?=\d)", ":", text),
                    re.sub(r"^(.*?\*\d+(?::\d+){3}).*$", r"\1", text)):
        if attempt != text:
            try:
                candidates.append(mhcgnomes.parse(attempt).to_string())
            except Exception:
                pass
    hint = f"; did you mean {' or '.join(candidates)}?" if candidates else ""
    return AlleleError(f"cannot parse HLA allele {raw!r} ({err}){hint}", where=where,
                       fix="write alleles as HLA-A*02:01 (gene*field1:field2)")


def normalize_allele(raw: str, where: str = "hla_alleles", hla: Hla | None = None) -> Normalized:
    """Check one allele name and read it as a two-field allele (see the module docstring).

    Raises
    ------
    AlleleError
        Unparseable, ambiguous, malformed, a serotype or one-field group, class II,
        not a peptide-presenting class I gene, or (unless ``hla`` allows them)
        non-classical or non-human; the message lists the candidates where
        there are some.
    """
    mhcgnomes = import_mhcgnomes()
    hla = hla or Hla()
    text = raw.strip()
    try:
        parsed = mhcgnomes.parse(text)
    except Exception as err:  # mhcgnomes raises its own ParseError
        raise _unparseable(raw, err, where) from err
    kind = type(parsed).__name__
    if kind == "Pair":
        alpha, beta = parsed.alpha, parsed.beta
        if getattr(alpha, "is_class2", False) or getattr(beta, "is_class2", False):
            raise AlleleError(f"{raw!r} is an MHC class II allele pair; NeoRank predicts class I "
                              "(HLA-A, -B, -C) only", where=where,
                              fix="remove class II alleles from hla_alleles")
        raise _ambiguous(raw, [alpha.to_string(), beta.to_string()], where)
    if kind != "Allele":
        members = [a.to_string() for a in getattr(parsed, "alleles", ())]
        shown = ", ".join(members[:6]) + (f", ... ({len(members)} in all)"
                                          if len(members) > 6 else "")
        what = "a serotype" if kind == "Serotype" else f"a {kind.lower()}"
        raise AlleleError(
            f"{raw!r} is {what}, not a two-field allele"
            + (f" (it stands for {shown})" if members else ""),
            where=where, fix="give the typed allele, e.g. HLA-A*02:01, not a serotype or group")
    if parsed.is_class2:
        raise AlleleError(
            f"{raw!r} is an MHC class II allele; NeoRank predicts class I (HLA-A, -B, -C) only",
            where=where, fix="remove class II alleles from hla_alleles")
    human = parsed.species.name == _HUMAN
    gene = parsed.gene.name
    if not human and not hla.allow_nonhuman:
        raise AlleleError(
            f"{raw!r} is a non-human MHC allele ({parsed.species.name}: {parsed.to_string()}); "
            "NeoRank predicts human HLA class I", where=where,
            fix="give the patient's HLA-A/B/C typing; to predict for another species set "
                "hla.allow_nonhuman: true in the config (the models must know the allele)")
    if human and gene not in CLASSICAL_GENES:
        if gene in NONCLASSICAL_GENES:
            if not hla.allow_nonclassical:
                raise AlleleError(
                    f"{raw!r} is a non-classical class I allele (HLA-{gene}); NeoRank predicts "
                    "the classical HLA-A, -B and -C", where=where,
                    fix="remove it (HLA-HD and other typers report HLA-E/F/G too), or set "
                        "hla.allow_nonclassical: true in the config to predict it")
        else:
            raise AlleleError(
                f"{raw!r} (HLA-{gene}) is not a peptide-presenting class I gene NeoRank predicts "
                "(HLA-A, -B, -C; HLA-E, -F, -G with hla.allow_nonclassical)", where=where,
                fix="remove it from hla_alleles")
    if getattr(parsed, "mutations", ()):
        raise AlleleError(f"{raw!r} is an engineered mutant ({parsed.to_string()}), not a "
                          "patient allele", where=where, fix="give the patient's typed allele")
    problem = _literal_problem(text, parsed)
    if problem is not None:
        message, candidates = problem
        listed = f"; candidates: {', '.join(candidates)}" if candidates else ""
        raise AlleleError(f"{raw!r} {message}{listed}",
                          where=where,
                          fix="write the allele exactly as the typing reports it, with two "
                              "or more fields of two or more digits (e.g. HLA-A*02:01)")
    if human and parsed.num_allele_fields < 2:
        raise AlleleError(f"{raw!r} has only one field (an allele group, e.g. all of "
                          f"{parsed.to_string()}:xx)", where=where,
                          fix="give at least two fields, e.g. HLA-A*02:01")
    annotations = [a.upper() for a in parsed.annotations]
    is_null = bool(parsed.annotation_null)
    # Two fields, expression annotations (N, L, Q, ...) and groups (G, P) dropped, then N
    # put back for null alleles so the name still says why it is skipped.
    two = parsed.restrict_allele_fields(2) if parsed.num_allele_fields > 2 else parsed
    name = re.sub(r"[A-Za-z]+$", "", two.to_string()) if annotations else two.to_string()
    if is_null:
        name += "N"
    notes = []
    if "G" in annotations or "P" in annotations:
        group = "G" if "G" in annotations else "P"
        shared = ("identical exon 2 and 3 sequences" if group == "G"
                  else "an identical peptide-binding domain protein")
        notes.append(f"{group} group {parsed.to_string()} (alleles with {shared}) reduced to "
                     f"two fields: {name}")
    elif parsed.num_allele_fields > 2:
        notes.append(f"{parsed.num_allele_fields}-field name {parsed.to_string()} reduced to "
                     f"two fields: {name} (the protein; further fields do not change it)")
    for letter in annotations:
        if letter in _SUFFIXES:
            notes.append(f"expression suffix {letter} ({_SUFFIXES[letter]}) dropped: predicted "
                         f"as {name}")
    return Normalized(name, is_null, "; ".join(notes))


def normalize(raw: str, where: str = "hla_alleles", hla: Hla | None = None) -> tuple[str, bool]:
    """Normalise one allele name; return ``(name, is_null)`` (see :func:`normalize_allele`).

    Raises
    ------
    AlleleError
        If the name is not an exact, complete class I allele NeoRank predicts.
    """
    result = normalize_allele(raw, where=where, hla=hla)
    return result.allele, result.is_null


# ------------------------------------------------------------------ a typing
def untyped_note(locus: str, source: TypingSource) -> str:
    """The note for an HLA-A/B/C locus the typing tool did not type."""
    tool = {"hlahd": "HLA-HD", "optitype": "OptiType"}.get(source.format, "the typing")
    return (f"{locus} was not typed by {tool} (no allele reported): no {locus} allele is "
            "predicted, so peptides presented only by it are missed")


def load_typing(spec: str, where: str = "hla_alleles",
                base_dir: str | os.PathLike | None = None, hla: Hla | None = None) -> Typing:
    """Read and normalise a typing; duplicates (homozygous) are kept once.

    Null alleles come back with status :data:`NULL_SKIPPED`; the others with
    :data:`SUPPORTED` until :func:`neorank.models.resolve_alleles` checks them
    against the predictor. Reductions to two fields are in each allele's
    ``note``; skipped rows and untyped loci in :attr:`Typing.notes`.

    Raises
    ------
    AlleleError
        The first name that cannot be used (naming the file and line), or no
        allele at all.
    """
    source = read_typing_source(spec, base_dir=base_dir, hla=hla)
    notes = list(source.notes) + [untyped_note(locus, source) for locus in source.untyped]
    for note in notes:
        LOG.warning("%s: %s", source.spec or where, note)
    if not source.entries:
        raise AlleleError("no HLA class I alleles given", where=source.spec or where,
                          fix="list the patient's HLA-A/B/C alleles, e.g. "
                              "HLA-A*02:01,HLA-A*01:01,HLA-B*08:01")
    result: list[PatientAllele] = []
    seen: set[str] = set()
    for entry in source.entries:
        place = source.where(entry, where)
        normal = normalize_allele(entry.raw, where=place, hla=hla)
        if normal.allele in seen:
            continue
        seen.add(normal.allele)
        if normal.is_null:
            LOG.warning("%s: %s is a null allele (not expressed); skipped", place, entry.raw)
        if normal.note:
            LOG.info("%s: %s", place, normal.note)
        result.append(PatientAllele(entry.raw, normal.allele,
                                    NULL_SKIPPED if normal.is_null else SUPPORTED, normal.note))
    return Typing(result, notes, list(source.untyped))


def parse_typing(spec: str, where: str = "hla_alleles",
                 base_dir: str | os.PathLike | None = None,
                 hla: Hla | None = None) -> list[PatientAllele]:
    """The alleles of :func:`load_typing` (the notes are logged)."""
    return load_typing(spec, where=where, base_dir=base_dir, hla=hla).alleles
