"""Tumor expression tables -> TPM per gene and per transcript.

Formats (recognised from the header with :func:`detect_expression_format`,
which ``neorank preflight`` uses too, so preflight and ranking agree):

=========================  ===============  ==========  =====================
format                     id column        level       TPM column
=========================  ===============  ==========  =====================
Salmon ``quant.sf``        ``Name``         transcript  ``TPM``
Kallisto ``abundance.tsv`` ``target_id``    transcript  ``tpm``
RSEM ``genes.results``     ``gene_id``      gene        ``TPM``
RSEM ``isoforms.results``  ``transcript_id``transcript  ``TPM`` (+ ``gene_id``)
plain table                first column     see below   the ``tpm`` column (any
                                                        case), else the only
                                                        numeric column
=========================  ===============  ==========  =====================

A plain table is transcript-level when most of its ids are Ensembl transcript
ids (``ENST...``), otherwise gene-level (Ensembl gene ids or gene symbols).

Ids are matched without their version (``ENST00000269305.8`` ->
``ENST00000269305``). GENCODE-style transcript names
(``ENST...|ENSG...|...|TP53-201|TP53|...``) give the transcript id and its gene.

Gene TPM from a transcript-level table is the sum over the gene's transcripts
(as listed by the reference when the caller passes them, otherwise as the table
itself links them). An id that the table does not contain is *not assessed*
(``None``), never 0: the table may have been quantified against another
annotation.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neorank.errors import InputFileError

LOG = logging.getLogger(__name__)

#: Known expression table formats: (name, required header columns, id column).
_EXPRESSION_FORMATS = [
    ("Salmon quant.sf", ["Name", "Length", "EffectiveLength", "TPM", "NumReads"], "Name"),
    ("Kallisto abundance.tsv", ["target_id", "length", "eff_length", "est_counts", "tpm"],
     "target_id"),
    ("RSEM genes.results", ["gene_id", "transcript_id(s)", "length", "effective_length",
                            "expected_count", "TPM"], "gene_id"),
    ("RSEM isoforms.results", ["transcript_id", "gene_id", "length", "effective_length",
                               "expected_count", "TPM"], "transcript_id"),
]
#: TPM column and level of each known format.
TPM_COLUMNS = {"Salmon quant.sf": "TPM", "Kallisto abundance.tsv": "tpm",
               "RSEM genes.results": "TPM", "RSEM isoforms.results": "TPM"}
LEVELS = {"Salmon quant.sf": "transcript", "Kallisto abundance.tsv": "transcript",
          "RSEM genes.results": "gene", "RSEM isoforms.results": "transcript"}
_VERSION = re.compile(r"^(ENS[A-Z]*[GT]\d+)\.\d+$")

__all__ = ["ExpressionTable", "detect_expression_format", "read_expression", "strip_version"]


def detect_expression_format(columns: list[str]) -> tuple[str, str] | None:
    """``(format name, id column)`` for a known expression table header."""
    for name, required, id_column in _EXPRESSION_FORMATS:
        if all(c in columns for c in required):
            return name, id_column
    return None


def strip_version(identifier: str) -> str:
    """``ENST00000269305.8`` -> ``ENST00000269305``; other ids unchanged (trimmed)."""
    identifier = str(identifier).strip()
    return _VERSION.sub(r"\1", identifier)


@dataclass(frozen=True)
class ExpressionTable:
    """TPM values of one expression table.

    Attributes
    ----------
    path, format
        Source file and detected format name.
    level
        ``transcript`` or ``gene``.
    tpm
        Versionless id (or gene symbol for symbol-keyed tables) -> TPM.
    transcript_gene
        Transcript id -> gene id, where the table itself says (RSEM isoforms,
        GENCODE-style names).
    """

    path: str
    format: str
    level: str
    tpm: dict[str, float]
    transcript_gene: dict[str, str] = field(default_factory=dict)

    def transcript_tpm(self, transcript_ids: Iterable[str]) -> float | None:
        """Highest TPM among ``transcript_ids`` (None: gene-level table or none found)."""
        if self.level != "transcript":
            return None
        found = [self.tpm[t] for t in (strip_version(t) for t in transcript_ids) if t in self.tpm]
        return max(found) if found else None

    def gene_tpm(self, gene_id: str | None = None, gene_name: str | None = None,
                 gene_transcripts: Iterable[str] | None = None) -> float | None:
        """TPM of a gene (None when the table does not contain it).

        Parameters
        ----------
        gene_id, gene_name
            Ensembl gene id and symbol; a gene-level table is looked up by id,
            then by symbol.
        gene_transcripts
            All transcripts of the gene from the reference (transcript-level
            tables: their TPMs are summed). Without them, the transcripts the
            table links to ``gene_id`` are used.
        """
        if self.level == "gene":
            for key in (gene_id, gene_name):
                if key and strip_version(key) in self.tpm:
                    return self.tpm[strip_version(key)]
            return None
        if gene_transcripts is None:
            if not gene_id:
                return None
            wanted = strip_version(gene_id)
            gene_transcripts = [t for t, g in self.transcript_gene.items() if g == wanted]
        found = [self.tpm[t] for t in {strip_version(t) for t in gene_transcripts}
                 if t in self.tpm]
        return float(sum(found)) if found else None


def _plain_value_column(table: pd.DataFrame, columns: list[str], where: str) -> str:
    """The ``tpm`` column (any case), else the only numeric column."""
    for column in columns[1:]:
        if column.lower() == "tpm":
            return column
    numeric = [c for c in columns[1:]
               if len(table) and pd.to_numeric(table[c], errors="coerce").notna().mean() > 0.9]
    if len(numeric) == 1:
        return numeric[0]
    found = f"numeric columns {', '.join(numeric)}" if numeric else "no numeric column"
    raise InputFileError(
        f"cannot tell which column holds TPM ({found}; columns: {', '.join(columns[:8])})",
        where=where,
        fix="name the TPM column 'tpm', or give Salmon quant.sf, Kallisto abundance.tsv or "
            "RSEM *.results as written by the tool")


def read_expression(path: str | os.PathLike) -> ExpressionTable:
    """Read an expression table (formats in the module docstring).

    Raises
    ------
    InputFileError
        Missing/unreadable file, no recognisable TPM column, or a TPM value that
        is not a number >= 0 (the message names the data line).
    """
    where = str(path)
    if not Path(path).is_file():
        raise InputFileError("the expression table does not exist", where=where,
                             fix="check the sample sheet's expression column")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        raise InputFileError(f"cannot parse the expression table as TSV ({err})", where=where,
                             fix="give a tab-separated table with a header line") from err
    columns = [str(c) for c in table.columns]
    if len(columns) < 2:
        raise InputFileError("the expression table has fewer than two columns", where=where,
                             fix="give ids and TPM values in tab-separated columns")
    detected = detect_expression_format(columns)
    if detected:
        name, id_column = detected
        value_column = TPM_COLUMNS[name]
        level = LEVELS[name]
    else:
        name, id_column = "plain table", columns[0]
        value_column = _plain_value_column(table, columns, where)
        ids = table[id_column].astype(str).str.strip()
        transcript_like = ids.str.startswith("ENST").mean() if len(ids) else 0.0
        level = "transcript" if transcript_like > 0.5 else "gene"

    values = pd.to_numeric(table[value_column].str.strip(), errors="coerce")
    bad = values.isna() | (values < 0) | np.isinf(values)
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        raise InputFileError(
            f"{value_column} on data line {index + 2} is {table[value_column].iloc[index]!r}, "
            "not a number >= 0", where=where,
            fix=f"write a TPM value in {value_column} for every row")

    tpm: dict[str, float] = {}
    transcript_gene: dict[str, str] = {}
    gene_column = "gene_id" if name == "RSEM isoforms.results" else None
    duplicates = 0
    for row, value in enumerate(values.to_numpy(dtype=float)):
        raw = str(table[id_column].iloc[row]).strip()
        fields = raw.split("|")
        identifier = strip_version(fields[0])
        if not identifier:
            continue
        if level == "transcript":
            gene = None
            if gene_column:
                gene = strip_version(table[gene_column].iloc[row])
            elif len(fields) > 1 and fields[1].startswith("ENSG"):
                gene = strip_version(fields[1])
            if gene:
                transcript_gene[identifier] = gene
        if identifier in tpm:
            duplicates += 1
            tpm[identifier] += float(value)
        else:
            tpm[identifier] = float(value)
    if duplicates:
        LOG.warning("%s: %d id(s) repeated after removing versions; their TPMs were summed",
                    where, duplicates)
    LOG.info("%s: %s, %s-level, %d ids", where, name, level, len(tpm))
    return ExpressionTable(path=where, format=name, level=level, tpm=tpm,
                           transcript_gene=transcript_gene)
