"""The tables of ``neorank annotate``: the accounting table it reads, variants.tsv and
effects.tsv (written in blocks as variants are annotated).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.annotate.records import SomaticRecord, VariantAnnotation
from neorank.errors import InputFileError
from neorank.io import read_tsv
from neorank.tables import TableWriter

#: Columns of results/effects/{sample}.tsv (docs/tables.md).
EFFECT_COLUMNS = [
    "variant_id", "gene_id", "gene_name", "transcript_id", "effect", "protein_change",
    "context_start", "mutant_context", "wildtype_context", "mutation_start", "mutation_end",
    "merged_variant_ids", "in_cis", "germline_context", "evidence",
]
#: Columns added to the accounting table in results/{sample}/variants.tsv.
ANNOTATION_COLUMNS = ["gene_name", "transcript_id", "effect", "protein_change", "variant_class",
                      "merged_variant_ids", "in_cis"]
#: Final statuses of variants.tsv, in pipeline order.
STATUSES = ["filtered", "outside_reference", "non_coding", "silent", "no_peptides",
            "protein_changing"]

#: Effect rows written to the effects table at once by ``neorank annotate``.
EFFECT_BLOCK_ROWS = 10_000


def read_accounting(path: str | Path) -> pd.DataFrame:
    """Read the somatic accounting table as strings (cells are written back unchanged)."""
    path = Path(path)
    try:
        frame = read_tsv(path, dtype=str)
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot read the accounting table: {err}", where=str(path),
                             fix="pass results/somatic/{sample}.accounting.tsv") from err
    missing = [c for c in ("variant_id", "status", "reason") if c not in frame.columns]
    if missing:
        raise InputFileError(f"missing columns {', '.join(missing)}", where=str(path),
                             fix="pass the accounting table written by `neorank somatic`")
    return frame


def build_variants_table(accounting: pd.DataFrame, annotations: dict[str, VariantAnnotation],
                         *, accounting_path: str = "accounting", vcf_path: str = "VCF") -> pd.DataFrame:
    """variants.tsv: accounting rows in order with the annotation and final status.

    Raises
    ------
    InputFileError
        A kept (``somatic``) accounting row is absent from the VCF, or the VCF
        holds a variant the accounting does not keep.
    """
    kept_ids = set(accounting.loc[accounting["status"] == "somatic", "variant_id"])
    extra = [vid for vid in annotations if vid not in kept_ids]
    if extra:
        raise InputFileError(f"variant {extra[0]} is in the VCF but not kept in the accounting "
                             f"table ({len(extra)} such)", where=vcf_path,
                             fix="pass the VCF and accounting table of the same `neorank somatic` "
                                 "run")
    base = [c for c in accounting.columns if c not in ("status", "reason")]
    out = accounting[base].copy()
    values: dict[str, list[Any]] = {c: [] for c in ANNOTATION_COLUMNS + ["status", "reason"]}
    for line, (vid, status, reason) in enumerate(
            zip(accounting["variant_id"], accounting["status"], accounting["reason"],
                strict=True), start=2):
        if status == "somatic":
            annotation = annotations.get(vid)
            if annotation is None:
                raise InputFileError(f"kept variant {vid} is missing from the somatic VCF",
                                     where=f"{accounting_path}: line {line}",
                                     fix="pass the VCF and accounting table of the same "
                                         "`neorank somatic` run")
            for column in ANNOTATION_COLUMNS:
                values[column].append(getattr(annotation, column))
            values["status"].append(annotation.status)
            values["reason"].append(annotation.reason)
        else:
            for column in ANNOTATION_COLUMNS:
                values[column].append(None)
            values["status"].append(status)
            values["reason"].append(reason)
    for column, column_values in values.items():
        out[column] = column_values
    return out


def accounting_order(records: Sequence[SomaticRecord], accounting: pd.DataFrame) -> list[int]:
    """Indices of ``records`` in the order of their variant's first accounting row (records
    missing from the accounting last), so effect rows come out in effects.tsv order."""
    position: dict[str, int] = {}
    for line, vid in enumerate(accounting["variant_id"]):
        position.setdefault(vid, line)
    missing = len(accounting)
    return sorted(range(len(records)),
                  key=lambda i: (position.get(records[i].variant_id, missing), i))


class EffectRowsWriter:
    """``emit`` target of :func:`annotate_records`: appends each variant's effect rows to
    the effects table in blocks of ``block_rows`` rows and drops them from the annotation
    (variants.tsv needs only its status fields)."""

    def __init__(self, writer: TableWriter, block_rows: int = EFFECT_BLOCK_ROWS) -> None:
        self.writer = writer
        self.block_rows = max(1, block_rows)
        self.transcripts: set[str] = set()
        self._rows: list[dict[str, Any]] = []

    def __call__(self, annotation: VariantAnnotation) -> None:
        self._rows.extend(annotation.rows)
        self.transcripts.update(r["transcript_id"] for r in annotation.rows if r["transcript_id"])
        annotation.rows = []
        if len(self._rows) >= self.block_rows:
            self.flush()

    def flush(self) -> None:
        """Write the rows held so far."""
        if self._rows:
            self.writer.write(pd.DataFrame(self._rows, columns=EFFECT_COLUMNS))
            self._rows = []
