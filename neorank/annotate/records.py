"""The somatic records ``neorank annotate`` reads and the annotation it keeps per variant.

:func:`read_somatic_vcf` reads the somatic VCF written by ``neorank somatic`` (one
ALT allele per record, ``NR_ID`` and the tumor's phasing);
:class:`VariantAnnotation` holds a variant's variants.tsv fields and effect rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neorank.errors import InputFileError

_ALLELE = re.compile(r"[ACGT]+")


@dataclass(frozen=True)
class SomaticRecord:
    """One ALT allele of the somatic VCF.

    Attributes
    ----------
    variant_id
        ``NR_ID`` INFO value, ``{chrom}:{pos}:{ref}>{alt}`` (input contig name).
    chrom, pos, ref, alt
        The allele as written in the VCF (1-based ``pos``).
    """

    variant_id: str
    chrom: str
    pos: int
    ref: str
    alt: str
    #: Tumor phasing from the somatic VCF: the GT haplotypes carrying the ALT (``None``:
    #: no GT), whether GT is phased, the phase set (PS) and Mutect2's PGT/PID.
    haplotypes: tuple[bool, ...] | None = None
    phased: bool = False
    ps: int | None = None
    pgt: str | None = None
    pid: str | None = None


@dataclass
class VariantAnnotation:
    """Annotation of one somatic variant: the variants.tsv fields and its effect rows."""

    variant_id: str
    status: str
    reason: str
    gene_name: str | None = None
    transcript_id: str | None = None
    effect: str | None = None
    protein_change: str | None = None
    variant_class: str | None = None
    merged_variant_ids: str | None = None
    in_cis: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


def read_somatic_vcf(path: str | Path) -> list[SomaticRecord]:
    """Read the somatic VCF written by ``neorank somatic`` (one ALT per record).

    Raises
    ------
    InputFileError
        The file cannot be opened, lacks the ``NR_ID`` INFO field, or has a
        record with several or non-nucleotide ALT alleles.
    """
    import pysam

    path = Path(path)
    try:
        vcf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot read the VCF: {err}", where=str(path),
                             fix="pass the somatic.vcf.gz written by `neorank somatic`") from err
    records: list[SomaticRecord] = []
    with vcf:
        if "NR_ID" not in vcf.header.info:
            raise InputFileError("the VCF has no NR_ID INFO field", where=str(path),
                                 fix="annotate the somatic.vcf.gz written by `neorank somatic`, "
                                     "not the caller's VCF")
        for number, rec in enumerate(vcf, start=1):
            where = f"{path}: record {number} ({rec.chrom}:{rec.pos})"
            alts = rec.alts or ()
            if len(alts) != 1:
                raise InputFileError(f"expected exactly one ALT allele, found {len(alts)}",
                                     where=where,
                                     fix="re-run `neorank somatic`, which splits multi-allelic "
                                         "records")
            ref, alt = rec.ref.upper(), alts[0].upper()
            if not _ALLELE.fullmatch(ref) or not _ALLELE.fullmatch(alt):
                raise InputFileError(f"cannot annotate allele {rec.ref}>{alts[0]} (only A/C/G/T)",
                                     where=where,
                                     fix="re-run `neorank somatic`, which drops symbolic and "
                                         "non-nucleotide alleles")
            variant_id = rec.info.get("NR_ID")
            if isinstance(variant_id, tuple):
                variant_id = variant_id[0] if variant_id else None
            if not variant_id:
                raise InputFileError("record has no NR_ID", where=where,
                                     fix="annotate the somatic.vcf.gz written by `neorank somatic`")
            records.append(SomaticRecord(str(variant_id), rec.chrom, rec.pos, ref, alt,
                                         **_record_phase(rec)))
    return records


def _record_phase(rec: Any) -> dict[str, Any]:
    """The SomaticRecord phasing fields of the first sample of a pysam record."""
    if not rec.samples:
        return {}
    call = rec.samples[0]
    keys = set(call.keys())
    fields: dict[str, Any] = {}
    genotype = call.get("GT") if "GT" in keys else None
    if isinstance(genotype, tuple) and genotype and all(g is not None for g in genotype):
        fields["haplotypes"] = tuple(g == 1 for g in genotype)
        fields["phased"] = bool(call.phased) and len(genotype) > 1
    for key in ("PS", "PGT", "PID"):
        value = call.get(key) if key in keys else None
        value = value[0] if isinstance(value, tuple) else value
        if value is not None and value != ".":
            fields[key.lower()] = value
    return fields
