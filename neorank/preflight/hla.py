"""Preflight of the HLA typing: every allele normalised and known to the MHCflurry models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neorank.alleles import (
    NULL_SKIPPED,
    SUPPORTED,
    Hla,
    PatientAllele,
    normalize_allele,
    read_typing_source,
    untyped_note,
)
from neorank.errors import AlleleError, NeoRankError
from neorank.models import (
    TRAINING_COUNTS,
    affinity_dir,
    allele_name_table,
    normalizer,
    resolve_alleles,
    resolve_models_dir,
)
from neorank.preflight.report import Report


@dataclass
class _ModelAlleles:
    """The allele names a saved MHCflurry model knows, read without loading it."""

    label: str
    known: set[str]
    trained: set[str] | None
    affinity_only: bool = True

    def known_alleles(self) -> set[str]:
        return self.known

    def trained_alleles(self) -> set[str] | None:
        return self.trained


def model_alleles(models: str, embedded_dir: str, official_dir: str | None) -> _ModelAlleles:
    """Known allele names of a model folder (``allele_sequences.csv`` and ``manifest.csv``).

    Raises
    ------
    neorank.errors.ModelError
        The folder is missing (see :func:`neorank.models.resolve_models_dir`).
    """
    folder, label = resolve_models_dir(models, embedded_dir, official_dir)
    affinity = affinity_dir(folder)
    raw: set[str] = set()
    for table in sorted(affinity.glob("pseudosequences*.csv")) + [affinity / "allele_sequences.csv"]:
        if table.exists():
            raw |= set(pd.read_csv(table).iloc[:, 0].astype(str))
    manifest = affinity / "manifest.csv"
    if manifest.exists():
        frame = pd.read_csv(manifest)
        if "allele" in frame:
            raw |= {a for a in frame["allele"].dropna().astype(str) if "*" in a}
    normalize_allele_name = normalizer(allele_name_table(folder))
    known = {normalize_allele_name(a, raise_on_error=False) or a for a in raw}
    trained = None
    counts = folder / TRAINING_COUNTS
    if counts.exists():
        frame = pd.read_csv(counts)
        trained = {normalize_allele_name(a, raise_on_error=False) or a
                   for a, n in zip(frame["allele"], frame["training_measurements"], strict=True)
                   if n > 0}
    return _ModelAlleles(f"mhcflurry/{label}", known, trained)


def check_hla(spec: str, report: Report, *, models: str | None, embedded_dir: str,
              official_dir: str | None, hla: Hla | None = None) -> None:
    """Every allele of the typing, all problems at once.

    Errors name the typing file and line (or the inline value) and list the
    candidates of a malformed or ambiguous name; reductions to two fields are
    info rows, untyped HLA-A/B/C loci and null alleles warnings.
    """
    hla = hla or Hla()
    where = f"--alleles {spec}"
    file = spec if Path(spec).is_file() else ""
    try:
        source = read_typing_source(spec, hla=hla)
    except AlleleError as err:
        report.error("hla", err.problem, file=err.where or file, fix=err.fix or "")
        return
    for note in source.notes:
        report.info("hla", note, file=file)
    for locus in source.untyped:
        report.warning("hla", untyped_note(locus, source), file=file, record=locus,
                       fix=f"check the typing of {locus} (too few reads over the locus?), or "
                           "add its alleles from another typing")
    if not source.entries:
        report.error("hla", "no HLA class I alleles given (empty typing)", file=file,
                     fix="list the patient's HLA-A/B/C alleles, e.g. HLA-A*02:01,HLA-A*01:01,"
                         "HLA-B*08:01 (or a typing file)")
        return
    typing: list[PatientAllele] = []
    seen: set[str] = set()
    for entry in source.entries:
        raw = entry.raw
        try:
            normal = normalize_allele(raw, where=source.where(entry, where), hla=hla)
        except AlleleError as err:
            record = f"{entry.where}: {raw}" if entry.where else raw
            report.error("hla", err.problem, file=file, record=record, fix=err.fix or "")
            continue
        if normal.is_null:
            report.warning("hla", f"{raw} is a null allele (not expressed): skipped",
                           file=file, record=raw,
                           fix="nothing to do if the typing is right")
        if normal.note:
            report.info("hla", normal.note, file=file, record=raw)
        if normal.allele not in seen:
            seen.add(normal.allele)
            typing.append(PatientAllele(raw, normal.allele,
                                        NULL_SKIPPED if normal.is_null else SUPPORTED,
                                        normal.note))
    expressed = [a for a in typing if a.status != NULL_SKIPPED]
    if typing and not expressed:
        report.error("hla", "no expressed HLA class I allele: every allele given is null",
                     file=file, fix="give at least one expressed HLA-A/B/C allele")
    if not expressed or models is None:
        return
    try:
        predictor = model_alleles(models, embedded_dir, official_dir)
    except NeoRankError as err:
        report.info("hla", f"allele names not checked against the MHCflurry models "
                    f"({err.problem}); the predict stage checks them", file=err.where or "")
        return
    except Exception as err:  # an unreadable model folder: predict reports it properly
        report.info("hla", f"allele names not checked against the MHCflurry models "
                    f"({type(err).__name__}: {err})")
        return
    statuses = []
    for allele in expressed:
        try:
            (resolved,) = resolve_alleles([allele], predictor, where=where)
        except AlleleError as err:
            report.error("hla", err.problem, file=file, record=allele.input, fix=err.fix or "")
            continue
        statuses.append(f"{resolved.allele} ({resolved.status})")
        if resolved.status != SUPPORTED:
            report.warning("hla", f"{resolved.allele} has no training data in the "
                           f"{predictor.label} models: predictions are extrapolated from its "
                           "pseudosequence", file=file, record=allele.input,
                           fix="nothing to do; such alleles limit the eligibility verdict")
    if statuses:
        report.info("hla", f"{len(statuses)} expressed allele(s): {', '.join(statuses)}",
                    file=file)
