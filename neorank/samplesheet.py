"""The sample sheet (``config/samples.tsv``): read it and check every row at once.

``workflow/rules/common.smk`` calls :func:`read_sample_sheet`; the tests call it
directly. Every problem of the sheet is collected and reported in one
:class:`~neorank.errors.SampleSheetError` that names the line, the column and
the fix (column meanings: ``config/README.md``).

Sample ids become folder and file names (``results/<sample>/``) and command-line
values, so they are restricted to ``[A-Za-z0-9._-]``, must start with a letter
or digit (no ``..``, no leading ``-`` that a program would read as an option),
are at most :data:`MAX_SAMPLE_ID_LENGTH` characters, must not be one of the
folders of the results layout (:data:`RESERVED_SAMPLE_IDS`, compared
case-insensitively) and must differ in more than letter case (on macOS and
Windows ``P1`` and ``p1`` are the same folder). Paths may contain any character
except control characters: the workflow shell-quotes every value it passes on.

Cells are read without their surrounding spaces. A cell written in double
quotes is taken verbatim, spaces included (``""`` inside stands for one
``"``): that is how a VCF sample name with a leading or trailing space is
given (``"TUMOR "`` in ``tumor_sample``), and how spreadsheet exports that
quote cells are read.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

from neorank.errors import SampleSheetError

#: Columns of the sample sheet, in documented order.
SAMPLE_COLUMNS = [
    "sample", "hla_alleles", "paired_vcf", "tumor_sample", "normal_sample",
    "tumor_vcf", "normal_vcf", "purity", "expression", "rna_bam", "copy_number", "hla_loh",
]
REQUIRED_COLUMNS = ["sample", "hla_alleles"]
PATH_COLUMNS = ["paired_vcf", "tumor_vcf", "normal_vcf", "expression", "rna_bam", "copy_number",
                "hla_loh"]
SAMPLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_SAMPLE_ID_LENGTH = 64
#: Names the results layout uses next to the per-sample folders (results/<name>/ folders
#: of workflow/rules/*.smk and results/<name>.<ext> files): a sample cannot be called so.
RESERVED_SAMPLE_IDS = {
    "summary": "results/summary", "preflight": "results/preflight/",
    "cohort": "results/cohort.html", "cohort.html": "results/cohort.html",
    "config": "results/config/", "somatic": "results/somatic/", "effects": "results/effects/",
    "vaccine": "results/vaccine/", "predictions": "results/predictions",
    "predict": "results/predict/", "run_config": "results/run_config.json",
    "run_config.json": "results/run_config.json",
}
#: Same rule as ``workflow/schemas/samples.schema.yaml`` (``purity``).
PURITY_TEXT = re.compile(r"0(\.[0-9]+)?|1(\.0+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def purity_problem(value: str) -> str | None:
    """Why ``value`` is not a tumor purity in [0, 1], or ``None`` (empty = unknown)."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return f"purity {value!r} is not a number"
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        hint = " (a percentage? give a fraction, e.g. 0.6 for 60%)" if 2 <= number <= 100 else ""
        return f"purity {value} is outside [0, 1]{hint}"
    if not PURITY_TEXT.fullmatch(value):
        return f"purity {value!r} must be written as a decimal fraction, e.g. 0.6"
    return None


def sample_id_problem(sample: str) -> str | None:
    """Why ``sample`` cannot be a sample id, or ``None``."""
    if not sample:
        return "the sample id is empty"
    if not SAMPLE_ID.fullmatch(sample):
        bad = sorted({c for c in sample if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            return (f"sample id {sample!r} contains {shown}; only letters, digits, '.', '_' "
                    "and '-' are allowed (ids become folder names and command arguments)")
        return (f"sample id {sample!r} must start with a letter or digit (a leading '.' or '-' "
                "would be a hidden/parent folder or a command-line option)")
    if len(sample) > MAX_SAMPLE_ID_LENGTH:
        return (f"sample id {sample[:20]!r}... has {len(sample)} characters; at most "
                f"{MAX_SAMPLE_ID_LENGTH} are allowed (ids become folder and file names)")
    reserved = RESERVED_SAMPLE_IDS.get(sample.lower())
    if reserved:
        return (f"sample id {sample!r} is reserved: the results layout already uses "
                f"{reserved} (reserved ids, any letter case: "
                + ", ".join(k for k in RESERVED_SAMPLE_IDS if "." not in k) + ")")
    return None


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty, non-comment lines with their 1-based line numbers."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise SampleSheetError("the sample sheet does not exist", where=str(path),
                               fix="check `samples:` in the config (relative paths are resolved "
                                   "from the directory Snakemake runs in)") from err
    except OSError as err:
        raise SampleSheetError(f"cannot read the sample sheet ({err.strerror or err})",
                               where=str(path), fix="check the path and its permissions") from err
    if b"\x00" in data:
        raise SampleSheetError("the sample sheet is a binary file (NUL bytes), not a TSV",
                               where=str(path),
                               fix="save it as tab-separated text (e.g. 'Text (Tab delimited)' "
                                   "from a spreadsheet), not .xlsx")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SampleSheetError(f"the sample sheet is not UTF-8 text ({err})", where=str(path),
                               fix="save it as UTF-8 tab-separated text") from err
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def cell_value(text: str) -> str:
    """A cell without its surrounding spaces; a double-quoted cell verbatim (``""`` = ``"``)."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def read_sample_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate the sample sheet.

    Returns
    -------
    pandas.DataFrame
        One row per sample, every column of :data:`SAMPLE_COLUMNS` as a
        stripped string (missing columns and cells are ``""``), in file order.

    Raises
    ------
    SampleSheetError
        Listing every problem: unreadable file, not tab-separated, unknown,
        duplicated or missing required columns, bad, too long, reserved or
        duplicate (also in letter case only) sample ids,
        empty HLA typing, a row with both or neither input mode, purity not in
        [0, 1], control characters in a path.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise SampleSheetError("the sample sheet is empty", where=str(path),
                               fix="add a header line and one row per sample (config/README.md)")
    header_line, header_text = lines[0]
    header = [cell_value(c) for c in header_text.split("\t")]
    problems: list[str] = []

    def problem(line: int | None, text: str, fix: str) -> None:
        problems.append(f"{'line ' + str(line) + ': ' if line else ''}{text}. Fix: {fix}")

    if len(header) == 1 and (len(header_text.split()) > 1 or "," in header_text):
        raise SampleSheetError(
            f"line {header_line}: the header has no tab characters: the sheet must be "
            "tab-separated", where=str(path),
            fix="separate columns with tabs, not spaces or commas (columns: "
                + ", ".join(SAMPLE_COLUMNS) + ")")
    unknown = [c for c in header if c not in SAMPLE_COLUMNS]
    if unknown:
        problem(header_line, f"unknown column(s) {', '.join(repr(c) for c in unknown)}",
                f"use only {', '.join(SAMPLE_COLUMNS)} (see config/README.md)")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        problem(header_line, f"duplicated column(s) {', '.join(duplicated)}",
                "keep each column once")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problem(header_line, f"required column(s) {', '.join(missing)} missing",
                "add them to the header (sample, hla_alleles and the input columns of one mode)")
    if missing or duplicated:
        raise SampleSheetError(_summary(problems), where=str(path),
                               fix="correct the lines above (columns: config/README.md)")

    rows = []
    for line, text in lines[1:]:
        cells = [cell_value(c) for c in text.split("\t")]
        if len(cells) > len(header):
            extra = [c for c in cells[len(header):] if c]
            if extra:
                problem(line, f"{len(cells)} tab-separated fields but the header has "
                        f"{len(header)} columns", "remove the extra fields or add the column")
            cells = cells[:len(header)]
        cells += [""] * (len(header) - len(cells))
        row = {c: "" for c in SAMPLE_COLUMNS}
        row.update(zip(header, cells, strict=True))
        row["line"] = line
        rows.append(row)
    if not rows:
        raise SampleSheetError("the sample sheet has a header but no sample rows",
                               where=str(path), fix="add one row per sample")

    first_line: dict[str, tuple[str, int]] = {}  # lower-case id -> (id, line)
    for row in rows:
        line = row["line"]
        sample = row["sample"]
        label = f"sample {sample!r}" if sample else "this row"
        bad_id = sample_id_problem(sample)
        if bad_id:
            problem(line, bad_id, "rename the sample (e.g. patient01_tumor)")
        elif sample.lower() in first_line:
            first, first_at = first_line[sample.lower()]
            if first == sample:
                problem(line, f"duplicate sample id {sample!r} (first on line {first_at})",
                        "give each row a unique sample id")
            else:
                problem(line, f"sample id {sample!r} differs from {first!r} (line {first_at}) "
                        "only in letter case: their results folders are the same on macOS "
                        "and Windows file systems", "give each row an id that differs in more "
                        "than letter case")
        else:
            first_line[sample.lower()] = (sample, line)
        if not row["hla_alleles"]:
            problem(line, f"{label} has an empty hla_alleles",
                    "give the HLA class I typing inline (HLA-A*02:01,HLA-B*07:02,...) or as "
                    "a typing file")
        paired = bool(row["paired_vcf"])
        separate = bool(row["tumor_vcf"] or row["normal_vcf"])
        if paired and separate:
            problem(line, f"{label} sets both paired_vcf and tumor_vcf/normal_vcf",
                    "use either paired mode (paired_vcf + tumor_sample + normal_sample) or "
                    "separate mode (tumor_vcf + normal_vcf), not both")
        elif not paired and not separate:
            problem(line, f"{label} has no input VCF",
                    "fill paired_vcf (with tumor_sample and normal_sample) or tumor_vcf and "
                    "normal_vcf")
        elif paired and not (row["tumor_sample"] and row["normal_sample"]):
            problem(line, f"{label}: paired_vcf needs tumor_sample and normal_sample",
                    "name the VCF's tumor and normal sample columns (as in its #CHROM line)")
        elif separate and not (row["tumor_vcf"] and row["normal_vcf"]):
            which = "normal_vcf" if row["tumor_vcf"] else "tumor_vcf"
            problem(line, f"{label}: separate mode needs both tumor_vcf and normal_vcf "
                    f"({which} is empty)",
                    "give the matched normal's VCF: a tumor-only run cannot remove germline "
                    "variants")
        bad_purity = purity_problem(row["purity"])
        if bad_purity:
            problem(line, f"{label}: {bad_purity}",
                    "give the tumor purity as a fraction between 0 and 1, or leave it empty")
        for column in [*PATH_COLUMNS, "hla_alleles", "tumor_sample", "normal_sample"]:
            if _CONTROL.search(row[column]):
                problem(line, f"{label}: {column} contains a control character "
                        f"({row[column]!r})", "remove it (copy-paste artefact?)")
    if problems:
        raise SampleSheetError(_summary(problems), where=str(path),
                               fix="correct the lines above (columns: config/README.md)")
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _summary(problems: list[str]) -> str:
    head = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"{head} in the sample sheet:\n" + "\n".join(f"  - {p}" for p in problems)
