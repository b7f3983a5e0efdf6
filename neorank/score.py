"""``neorank score``: score candidates made elsewhere with NeoRank's model and ranking.

Like pVACbind: no VCF, no annotation, just peptides and alleles.

Input (TSV with a header; columns in any order; ``-`` reads standard input)
------------------------------------------------------------------------
``mutant`` (required)
    A peptide of 8-11 residues, or a longer mutant sequence: then its 8-11-mers
    are scored (ordered by length, then start, as in peptides.tsv), and the
    residues around each window are its N/C flanks for MHCflurry's processing
    model (official models).
``allele`` (required)
    One class I allele, or several separated by ``,`` ``;`` or spaces; one
    output row per peptide and allele. Any spelling mhcgnomes reads.
``wildtype`` (optional)
    The matching wildtype peptide/sequence. Mutant and wildtype are aligned
    (:func:`mutation_windows`) and only windows that contain the mutation are
    scored, each with its wildtype window where one exists:

    * same length (substitutions, merged SNVs): the residues that differ are the
      mutation; a window holding one of them is scored with the wildtype window
      at the same position;
    * different lengths (indels, frameshifts): ``difflib.SequenceMatcher``
      aligns the two; a window is scored when it holds an inserted or replaced
      residue or spans a deletion junction (both residues around it), with the
      wildtype window of the same length aligned at the window's left end (at
      the left of the change when the window starts inside it), or none when
      that runs past the wildtype's end or fewer than half of its residues equal
      the mutant's (the peptides.tsv convention);
    * a single mutant peptide (8-11 residues) keeps the given wildtype whatever
      its length.

    Without a wildtype every window of a longer sequence is scored (the
    mutation is unknown).
``vaf`` (optional), ``expression`` (optional, TPM)
    Tumor VAF and expression of the source; they feed the ``vaf`` and
    ``expression`` score components and the ``expression`` criterion.

Every other column is passed through unchanged, placed first (a column whose
name is also an output column is renamed ``input_<name>``). Empty cells and
``NA`` are "not assessed", never imputed.

Rows that cannot be scored
--------------------------
Every input row appears in the output. A row that cannot be scored (empty or
short mutant, a non-standard residue, a bad ``vaf``/``expression``, mutant equal
to the wildtype, no window holding the change, no allele) gets one output row
whose ``note`` says why; an allele that cannot be scored (unparseable, class
II, a serotype, a null allele, or unknown to the models) gets one note row for
that input row and allele, the row's other alleles are scored. The run exits 0
and logs how many rows were not scored. Only a file that cannot be read as a
table (missing, not TSV, no ``mutant``/``allele`` column) is an error, listing
every problem at once.

Output
------
The passed-through columns, then one row per (input row, peptide, allele), in
input order: ``input_line`` (the input's line number), ``mutant``, ``wildtype``
(the input sequences, upper case), ``start`` (0-based offset of the peptide in
``mutant``), ``mutant_peptide``, ``wildtype_peptide``, ``mutation_positions``
(1-based positions of the mutated residues in the peptide, ``;``-joined, as in
peptides.tsv; ``NA`` without a wildtype), ``allele``, ``allele_status``,
``affinity_nm``, ``percentile``, ``wildtype_affinity_nm``,
``wildtype_percentile``, ``agretopicity``, ``presentation_score``,
``presentation_percentile``, ``vaf``, ``expression_tpm``, ``binder``, the
``pass_<criterion>`` columns of :mod:`neorank.ranking` (clonality, RNA support,
self-match and splice support are ``not_assessed``: there is no variant),
``tier``, ``tier_reason``, ``score`` (higher is better; same formula and
``ranking`` weights as ``neorank rank``, docs/scoring.md), ``score_components``,
``predictor`` and ``note``.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from typing import Any

import numpy as np
import pandas as pd

from neorank.alleles import PatientAllele, normalize
from neorank.cache import CachedPredictor, PredictionCache
from neorank.config import load_params, ranking_params
from neorank.errors import InputFileError, NeoRankError
from neorank.io import tsv_text, write_tsv
from neorank.models import add_numerics_argument, load_predictor, prediction_key, resolve_alleles
from neorank.ranking import CRITERIA, assess_criteria, check_params, score_rows

LOG = logging.getLogger(__name__)

MIN_LENGTH, MAX_LENGTH = 8, 11
STANDARD = frozenset("ACDEFGHIKLMNPQRSTVWY")
#: Input columns NeoRank reads; every other input column is passed through.
INPUT_COLUMNS = ("mutant", "allele", "wildtype", "vaf", "expression")
OUTPUT_COLUMNS = [
    "input_line", "mutant", "wildtype", "start", "mutant_peptide", "wildtype_peptide",
    "mutation_positions", "allele", "allele_status", "affinity_nm", "percentile",
    "wildtype_affinity_nm", "wildtype_percentile", "agretopicity", "presentation_score",
    "presentation_percentile", "vaf", "expression_tpm", "binder",
    *[f"pass_{c}" for c in CRITERIA], "tier", "tier_reason", "score", "score_components",
    "predictor", "note",
]
#: Columns of :func:`expand_rows` (besides the passed-through ones).
ROW_COLUMNS = ["input_line", "mutant", "wildtype", "start", "mutant_peptide",
               "wildtype_peptide", "mutation_positions", "allele", "n_flank", "c_flank", "vaf",
               "expression_tpm", "note"]

__all__ = ["expand_rows", "mutation_windows", "read_input", "score_table"]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    return "" if text.upper() == "NA" else text


def read_input(path: str) -> pd.DataFrame:
    """Read the input TSV as text (``input_line`` added first); ``-`` reads standard input.

    Raises
    ------
    InputFileError
        The file is missing or is not a TSV table with ``mutant`` and ``allele``
        columns; one error lists every problem found.
    """
    source: Any = sys.stdin if path == "-" else path
    where = "standard input" if path == "-" else path
    try:
        table = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except FileNotFoundError as err:
        raise InputFileError("file not found", where=where, fix="check --input") from err
    except pd.errors.EmptyDataError as err:
        raise InputFileError("the file is empty (no header line)", where=where,
                             fix="give a tab-separated table with a header line: mutant, "
                                 "allele (optional: wildtype, vaf, expression)") from err
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise InputFileError(f"cannot parse as TSV ({err})", where=where,
                             fix="give a tab-separated table with a header line") from err
    columns = [str(c).strip() for c in table.columns]
    problems = []
    missing = [c for c in ("mutant", "allele") if c not in columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)} (columns: "
                        f"{', '.join(columns[:8])})")
    duplicated = sorted({re.sub(r"\.\d+$", "", c) for c in columns if re.search(r"\.\d+$", c)}
                        & set(columns))
    if duplicated:
        problems.append(f"repeated column name(s) {', '.join(duplicated)}")
    if problems:
        raise InputFileError("; ".join(problems), where=where,
                             fix="give columns mutant and allele (optional: wildtype, vaf, "
                                 "expression), tab-separated, each name once")
    table.columns = columns
    table.insert(0, "input_line", np.arange(2, len(table) + 2))
    return table


def _number(text: str, column: str, maximum: float | None = None) -> tuple[float, str | None]:
    """(value, problem) of an optional numeric cell (NaN when empty)."""
    if not text:
        return np.nan, None
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if np.isnan(value) or value < 0 or (maximum is not None and value > maximum):
        bound = f" in [0, {maximum:g}]" if maximum is not None else " >= 0"
        return np.nan, f"{column} {text!r} is not a number{bound}"
    return value, None


def _wildtype_window(wildtype: str, start: int, length: int, peptide: str) -> str | None:
    """``wildtype[start:start+length]`` unless it runs past the end or fewer than half of
    its residues equal the mutant peptide's (then ``None``)."""
    if start < 0 or start + length > len(wildtype):
        return None
    window = wildtype[start:start + length]
    matches = sum(a == b for a, b in zip(window, peptide, strict=True))
    return window if 2 * matches >= length else None


def mutation_windows(mutant: str, wildtype: str,
                     lengths: range = range(MIN_LENGTH, MAX_LENGTH + 1)
                     ) -> list[tuple[int, str, str | None, str | None]]:
    """The windows of ``mutant`` to score: ``(start, peptide, wildtype peptide,
    mutation_positions)`` (see the module docstring); empty when none holds a change.

    ``mutation_positions`` are 1-based within the peptide and ``;``-joined (``None``
    without a wildtype); for a deletion the two residues around the junction.
    """
    if not wildtype:
        if len(mutant) <= MAX_LENGTH:
            return [(0, mutant, None, None)]
        return [(start, mutant[start:start + k], None, None) for k in lengths
                for start in range(len(mutant) - k + 1)]
    same_length = len(mutant) == len(wildtype)
    changed: list[int] = []
    junctions: list[int] = []  # mutant offsets j: residues j - 1 and j flank a deletion
    offsets: list[int] = list(range(len(mutant)))  # wildtype offset aligned with each residue
    if same_length:
        changed = [i for i, (a, b) in enumerate(zip(mutant, wildtype, strict=True)) if a != b]
    else:
        opcodes = difflib.SequenceMatcher(None, wildtype, mutant, autojunk=False).get_opcodes()
        for tag, i1, _i2, j1, j2 in opcodes:
            if tag in ("replace", "insert"):
                changed.extend(range(j1, j2))
            elif tag == "delete" and 0 < j1 < len(mutant):
                junctions.append(j1)
            for j in range(j1, j2):  # inside a change: the wildtype offset at its left
                offsets[j] = i1 + (j - j1) if tag == "equal" else i1
    if not changed and not junctions:
        return []
    marked = sorted(set(changed) | {j for junction in junctions for j in (junction - 1, junction)})
    single = len(mutant) <= MAX_LENGTH
    windows = []
    for k in ([len(mutant)] if single else lengths):
        for start in range(len(mutant) - k + 1):
            stop = start + k
            holds = any(start <= i < stop for i in changed) or any(
                start <= junction - 1 and junction < stop for junction in junctions)
            if not holds:
                continue
            peptide = mutant[start:stop]
            positions = ";".join(str(i - start + 1) for i in marked if start <= i < stop)
            if single:
                wt: str | None = wildtype
            elif same_length:
                wt = wildtype[start:stop]
            else:
                wt = _wildtype_window(wildtype, offsets[start], k, peptide)
            windows.append((start, peptide, wt, positions))
    return windows


def _problems(mutant: str, wildtype: str) -> list[str]:
    """Sequence problems of an input row (empty list: none)."""
    problems = []
    if not mutant:
        problems.append("empty mutant")
    for name, sequence in (("mutant", mutant), ("wildtype", wildtype)):
        bad = "".join(sorted(set(sequence) - STANDARD))
        if bad:
            problems.append(f"{name} has non-standard residue(s) {bad!r} (use the 20 standard "
                            "amino acids; no '*', X or gaps)")
    if mutant and len(mutant) < MIN_LENGTH:
        problems.append(f"mutant {mutant!r} is shorter than {MIN_LENGTH}")
    return problems


def expand_rows(table: pd.DataFrame, where: str = "input") -> pd.DataFrame:
    """One row per (input row, window, allele), input order kept; rows and alleles that
    cannot be scored become one row each with a ``note`` (module docstring).

    Columns: the passed-through input columns first, then :data:`ROW_COLUMNS`.
    """
    known = set(ROW_COLUMNS) | set(OUTPUT_COLUMNS)
    extras = [c for c in table.columns if c not in ("input_line", *INPUT_COLUMNS)]
    renamed = {c: f"input_{c}" if c in known else c for c in extras}
    for old, new in renamed.items():
        if old != new:
            LOG.warning("%s: input column %s is also an output column; written as %s",
                        where, old, new)
    rows: list[dict[str, Any]] = []
    for record in table.to_dict("records"):
        line = int(record["input_line"])
        passed = {renamed[c]: record[c] for c in extras}
        mutant = _cell(record.get("mutant")).upper()
        wildtype = _cell(record.get("wildtype")).upper()
        base = {**passed, "input_line": line, "mutant": mutant or None,
                "wildtype": wildtype or None}

        def note(text: str, allele: Any = None, base: dict[str, Any] = base) -> None:
            rows.append({**base, "allele": allele, "note": text})

        problems = _problems(mutant, wildtype)
        vaf, problem = _number(_cell(record.get("vaf")), "vaf", maximum=1.0)
        problems += [problem] if problem else []
        expression, problem = _number(_cell(record.get("expression")), "expression")
        problems += [problem] if problem else []
        alleles_text = _cell(record.get("allele"))
        tokens = [t for t in re.split(r"[,;\s]+", alleles_text) if t]
        if not tokens:
            problems.append("empty allele (give one or more class I alleles, e.g. HLA-A*02:01)")
        if not problems and mutant == wildtype:
            problems.append("mutant equals wildtype: nothing to score")
        windows = [] if problems else mutation_windows(mutant, wildtype)
        if not problems and not windows:
            problems.append(f"no {MIN_LENGTH}-{MAX_LENGTH}-residue window of the mutant holds "
                            "a change from the wildtype")
        if problems:
            note("; ".join(problems), alleles_text or None)
            continue
        alleles: list[str] = []
        for token in tokens:
            try:
                allele, is_null = normalize(token, where=f"{where} line {line}")
            except NeoRankError as err:
                note(f"allele not scored: {err.problem}", token)
                continue
            if is_null:
                note(f"allele not scored: {token} is a null allele (not expressed)", allele)
            elif allele not in alleles:
                alleles.append(allele)
        for start, peptide, wt, positions in windows:
            for allele in alleles:
                rows.append({
                    **base, "start": start, "mutant_peptide": peptide,
                    "wildtype_peptide": wt, "mutation_positions": positions, "allele": allele,
                    "n_flank": mutant[max(0, start - 15):start],
                    "c_flank": mutant[start + len(peptide):start + len(peptide) + 15],
                    "vaf": vaf, "expression_tpm": expression, "note": None,
                })
    columns = [renamed[c] for c in extras] + ROW_COLUMNS
    out = pd.DataFrame(rows, columns=columns)
    out["start"] = out["start"].astype("Int64")
    return out


def _allele_status(alleles: list[str], predictor: Any, where: str
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """(status of each allele the models can predict, problem of each they cannot)."""
    status: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for allele in alleles:
        try:
            resolved = resolve_alleles([PatientAllele(allele, allele)], predictor, where=where)
        except NeoRankError as err:
            unknown[allele] = err.problem + (f" ({err.fix})" if err.fix else "")
            continue
        status[allele] = resolved[0].status
    return status, unknown


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

    Returns
    -------
    pandas.DataFrame
        The passed-through columns, then :data:`OUTPUT_COLUMNS`; rows with a
        ``note`` (not scored) have no prediction, criteria or score.
    """
    params = params or ranking_params({})
    check_params(params, where=where)
    binding = params["binding"]
    extras = [c for c in rows.columns if c not in ROW_COLUMNS]
    out = rows.copy().reset_index(drop=True)
    if "note" not in out.columns:
        out["note"] = None
    out["note"] = out["note"].astype(object)
    todo = out["note"].isna()
    status, unknown = _allele_status(list(dict.fromkeys(out.loc[todo, "allele"])), predictor,
                                     where)
    if unknown:
        # one note row per (input row, allele) the models cannot predict
        bad = todo & out["allele"].isin(list(unknown))
        first = bad & ~out.loc[:, ["input_line", "allele"]].duplicated()
        out.loc[first, "note"] = [f"allele not scored: {unknown[a]}"
                                  for a in out.loc[first, "allele"]]
        for column in ("start", "mutant_peptide", "wildtype_peptide", "mutation_positions"):
            out.loc[first, column] = None
        out = out.loc[~(bad & ~first)].reset_index(drop=True)
        todo = out["note"].isna()
    out["allele_status"] = out["allele"].map(status).where(todo)
    scored = out.loc[todo]
    alleles = list(dict.fromkeys(scored["allele"]))
    for column in ("affinity_nm", "percentile", "wildtype_affinity_nm", "wildtype_percentile",
                   "presentation_score", "presentation_percentile", "agretopicity"):
        out[column] = np.nan
    if len(scored):
        wildtypes = scored["wildtype_peptide"].dropna().astype(str)
        wildtypes = wildtypes[wildtypes.str.len().between(MIN_LENGTH, 15)]
        peptides = sorted(set(scored["mutant_peptide"]) | set(wildtypes))
        affinity = predictor.affinity(peptides, alleles).set_index(["peptide", "allele"])
        key = pd.MultiIndex.from_arrays([scored["mutant_peptide"], scored["allele"]])
        out.loc[todo, "affinity_nm"] = affinity["affinity_nm"].reindex(key).to_numpy(dtype=float)
        out.loc[todo, "percentile"] = affinity["percentile"].reindex(key).to_numpy(dtype=float)
        wt_key = pd.MultiIndex.from_arrays([scored["wildtype_peptide"].fillna(""),
                                            scored["allele"]])
        out.loc[todo, "wildtype_affinity_nm"] = affinity["affinity_nm"].reindex(
            wt_key).to_numpy(dtype=float)
        out.loc[todo, "wildtype_percentile"] = affinity["percentile"].reindex(
            wt_key).to_numpy(dtype=float)
        if not predictor.affinity_only:
            for allele in alleles:
                mask = (todo & (out["allele"] == allele)).to_numpy()
                part = out.loc[mask]
                result = predictor.presentation(list(part["mutant_peptide"]),
                                                list(part["n_flank"]), list(part["c_flank"]),
                                                [allele])
                for column in ("presentation_score", "presentation_percentile"):
                    out.loc[mask, column] = np.asarray(result[column], dtype=float)
    out["predictor"] = predictor.label

    affinity_values = out["affinity_nm"].to_numpy(dtype=float)
    binder = np.zeros(len(out), dtype=bool)
    with np.errstate(invalid="ignore"):
        if binding["max_affinity_nm"] is not None:
            binder |= affinity_values <= binding["max_affinity_nm"]
        if binding["max_percentile"] is not None:
            binder |= out["percentile"].to_numpy(dtype=float) <= binding["max_percentile"]
    wildtype = out["wildtype_affinity_nm"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["agretopicity"] = np.where(wildtype > 0, affinity_values / wildtype, np.nan)

    evidence = pd.DataFrame({
        "binder": binder, "mutant_affinity_nm": out["affinity_nm"],
        "mutant_percentile": out["percentile"],
        "wildtype_affinity_nm": out["wildtype_affinity_nm"],
        "agretopicity": out["agretopicity"],
        "presentation_score": out["presentation_score"],
        "presentation_percentile": out["presentation_percentile"],
        "tumor_vaf": out["vaf"], "gene_tpm": out["expression_tpm"],
        "mutant_peptide": out["mutant_peptide"], "wildtype_peptide": out["wildtype_peptide"],
        "allele": out["allele"], "mutation_positions": out["mutation_positions"],
    }).loc[todo]
    out["binder"] = pd.Series(binder, dtype="boolean").where(todo.to_numpy())
    criteria = assess_criteria(evidence, params)
    for column in criteria.columns:
        out[column] = None
        out.loc[todo, column] = criteria[column].to_numpy()
    out["score"] = np.nan
    out["score_components"] = None
    score, components = score_rows(evidence, params)
    out.loc[todo, "score"] = score
    out.loc[todo, "score_components"] = components
    return out.loc[:, extras + OUTPUT_COLUMNS]


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank score``."""
    parser = subparsers.add_parser(
        "score", help="score peptides or mutant sequences made elsewhere (like pVACbind)",
        description="Predict binding with NeoRank's models and score every peptide x allele "
        "with the ranking's criteria, tier and composite score; input order kept, every "
        "input row in the output (rows that cannot be scored carry a note).")
    parser.add_argument("--input", required=True,
                        help="TSV: mutant, allele (optional wildtype, vaf, expression; other "
                             "columns are passed through); '-' reads standard input")
    parser.add_argument("--out", "--output", dest="out", required=True,
                        help="scored TSV to write; '-' writes standard output")
    parser.add_argument("--params", help="params JSON with binding/ranking sections "
                        "(e.g. the workflow's results/run_config.json)")
    parser.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    parser.add_argument("--embedded-dir", default="",
                        help="embedded models folder (default: empty, the models shipped "
                             "with NeoRank)")
    parser.add_argument("--official-dir", default=None,
                        help="folder of models_class1_presentation (default: MHCflurry's "
                             "download location)")
    parser.add_argument("--cache", default=None,
                        help="SQLite prediction cache (keyed on peptide, allele and model "
                             "checksum)")
    add_numerics_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank score``; returns 0 (rows that cannot be scored carry a ``note``)."""
    where_params = str(args.params or "defaults")
    params = ranking_params(load_params(args.params), where=where_params)
    check_params(params, where=where_params)
    out_path = getattr(args, "out", None) or getattr(args, "output", None)
    if not out_path:
        raise InputFileError("no output given", fix="pass --out FILE (or '-' for stdout)")
    table = read_input(args.input)
    where = "standard input" if args.input == "-" else str(args.input)
    rows = expand_rows(table, where=where)
    predictor = load_predictor(args.models, getattr(args, "embedded_dir", "") or "",
                               args.official_dir, args.numerics)
    active: Any = predictor
    if args.cache:
        active = CachedPredictor(predictor, PredictionCache(
            args.cache, prediction_key(predictor)))
    scored = score_table(rows, active, params, where=where)
    if out_path == "-":
        sys.stdout.write(tsv_text(scored))
        sys.stdout.flush()
    else:
        write_tsv(scored, out_path)
    noted = scored["note"].notna()
    LOG.info("score: %d input row(s) -> %d peptide x allele rows (%d binders) -> %s",
             len(table), int((~noted).sum()), int(scored["binder"].fillna(False).sum()),
             "standard output" if out_path == "-" else out_path)
    if noted.any():
        lines = scored.loc[noted, "input_line"]
        LOG.warning("score: %d row(s) not scored (from %d input line(s)); their note column "
                    "says why (first: line %d: %s)", int(noted.sum()), lines.nunique(),
                    int(lines.iloc[0]), scored.loc[noted, "note"].iloc[0])
    return 0
