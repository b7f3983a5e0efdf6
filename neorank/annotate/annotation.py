"""Every somatic record annotated (:func:`annotate_records`): in-cis SNVs merged,
germline context applied, REF mismatches reported together, progress logged.

Progress: the variant loop logs ``annotate: 5,000 of 100,000 variants (5%)``
every :func:`progress_step` variants (about 20 lines a run; a count, not a
timer, so logs are reproducible).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from neorank import reference
from neorank.annotate.effects import (
    ReferenceMismatch,
    annotate_variant,
    canonical_transcript_filter,
)
from neorank.annotate.in_cis import apply_germline, in_cis_groups, merged_allele
from neorank.annotate.records import SomaticRecord, VariantAnnotation
from neorank.errors import ReferenceError_

if TYPE_CHECKING:  # pragma: no cover
    import pyensembl

log = logging.getLogger(__package__)  # the stage's logger: lines read "neorank.annotate"

#: A genome-build mismatch stops the stage: more than this fraction of at least
#: MIN_REF_CHECKED annotated variants disagree with the reference (as preflight judges it);
#: fewer mismatching variants are dropped one by one: status ``filtered``, reason
#: ``ref_mismatch: ...`` in variants.tsv.
MAX_REF_MISMATCH_FRACTION = 0.5
MIN_REF_CHECKED = 5
REF_MISMATCH = "ref_mismatch"

#: Progress lines of a long loop (see :func:`progress_step`) and the fewest items between two.
PROGRESS_LINES = 20
PROGRESS_MIN_STEP = 1000


def progress_step(total: int, lines: int = PROGRESS_LINES, minimum: int = PROGRESS_MIN_STEP) -> int:
    """Items between two progress lines: ``total / lines`` rounded up to a multiple of
    ``minimum`` (100,000 variants: every 5,000; up to 20,000: every 1,000)."""
    per_line = -(-total // max(lines, 1))
    return max(minimum, -(-per_line // minimum) * minimum) if minimum > 0 else max(per_line, 1)


def progress(items: Sequence[Any], label: str, unit: str, step: int | None = None,
             logger: logging.Logger | None = None) -> Iterator[Any]:
    """Yield ``items``, logging ``label: done of total unit (pct%)`` after every ``step``
    items have been processed and after the last one (``step``: :func:`progress_step`)."""
    logger = logger or log
    total = len(items)
    step = step or progress_step(total)
    for done, item in enumerate(items, start=1):
        yield item  # resumed once the caller has finished with the item
        if done % step == 0 or done == total:
            logger.info("%s: %s of %s %s (%d%%)", label, f"{done:,}", f"{total:,}", unit,
                        100 * done // total)


def annotate_records(records: Iterable[SomaticRecord], genome: pyensembl.Genome, *,
                     context: int = 40, transcripts: str = "all", source: str = "VCF",
                     merge_in_cis: bool = True, germline: Any = None,
                     order: Sequence[int] | None = None,
                     emit: Callable[[VariantAnnotation], None] | None = None,
                     ) -> dict[str, VariantAnnotation]:
    """Annotate somatic records, keyed by variant_id (duplicates annotated once).

    ``order``: the indices of ``records`` in the order to annotate them (default: as
    given); record numbers in messages stay those of ``records``. ``emit`` is called
    with each variant's final annotation, once per variant id, in that order (so a
    caller can write the effect rows as they come).

    With ``merge_in_cis``, somatic SNVs in one codon, or phased in cis within one
    peptide window (:func:`in_cis_basis`), are annotated as one merged allele; every
    component keeps its own variants.tsv row, the effect rows (and so the peptides)
    are listed under the first component with ``merged_variant_ids`` naming all.

    ``germline``: a :class:`neorank.germline.GermlineIndex` of the patient's germline
    SNVs, applied by :func:`apply_germline` (merged in-cis alleles are not combined
    with germline variants).
    """
    import varcode

    records = list(records)
    contigs = set(genome.contigs())
    contig_map: dict[str, str | None] = {}
    for record in records:
        if record.chrom not in contig_map:
            contig_map[record.chrom] = reference.contig_for(genome, record.chrom, contigs)
    transcript_filter = canonical_transcript_filter() if transcripts == "canonical" else None
    result: dict[str, VariantAnnotation] = {}
    mismatches: list[ReferenceMismatch] = []  # of single records (by_number), in record order
    if merge_in_cis:
        for group, basis in in_cis_groups(records, genome, contig_map):
            contig = contig_map[group[0].chrom]
            allele = merged_allele(group, genome, contig)  # type: ignore[arg-type]
            if allele is None:
                log.warning("in-cis SNVs %s not merged: no exon covers the span",
                            ", ".join(r.variant_id for r in group))
                continue
            pos, ref, alt = allele
            ids = [r.variant_id for r in group]
            merged_id = f"{group[0].chrom}:{pos}:{ref}>{alt}"
            variant = varcode.Variant(contig=contig, start=pos, ref=ref, alt=alt, genome=genome)
            try:
                annotation = annotate_variant(variant, ids[0], context=context,
                                              transcript_filter=transcript_filter,
                                              where=f"{source}: in-cis SNVs {', '.join(ids)}")
            except ReferenceMismatch as err:  # its records are annotated one by one below
                log.warning("%s: %s; annotated one by one", err.where, err.problem)
                continue
            annotation.merged_variant_ids = ";".join(ids)
            annotation.in_cis = basis
            for row in annotation.rows:
                row["merged_variant_ids"] = annotation.merged_variant_ids
                row["in_cis"] = basis
            note = f"merged in cis ({basis}) into {merged_id}"
            result[ids[0]] = annotation
            annotation.reason = "; ".join(x for x in (annotation.reason, note) if x)
            for other in ids[1:]:
                result[other] = replace(annotation, variant_id=other, rows=[], reason="; ".join(
                    x for x in (annotation.reason, f"peptides listed under {ids[0]}") if x))
    by_number: list[tuple[int, ReferenceMismatch]] = []  # reported in record order

    def annotate_record(record: SomaticRecord, number: int) -> None:
        contig = contig_map[record.chrom]
        if contig is None:
            result[record.variant_id] = VariantAnnotation(
                record.variant_id, "outside_reference",
                f"contig {record.chrom} is not in the reference annotation",
                variant_class="intergenic")
            return
        variant = varcode.Variant(contig=contig, start=record.pos, ref=record.ref,
                                  alt=record.alt, genome=genome)
        try:
            result[record.variant_id] = annotate_variant(
                variant, record.variant_id, context=context, transcript_filter=transcript_filter,
                where=f"{source}: record {number} ({record.variant_id})")
        except ReferenceMismatch as err:
            by_number.append((number, err))
            result[record.variant_id] = VariantAnnotation(
                record.variant_id, "filtered", f"{REF_MISMATCH}: {err.problem}")
            return
        if germline is not None:
            apply_germline(result[record.variant_id], record, germline, genome, contig,
                           context=context, transcript_filter=transcript_filter)

    emitted: set[str] = set()
    indices = range(len(records)) if order is None else order
    for index in progress(indices, "annotate", "variants"):
        record = records[index]
        if record.variant_id not in result:
            annotate_record(record, index + 1)
        if emit is not None and record.variant_id in result \
                and record.variant_id not in emitted:
            emitted.add(record.variant_id)
            emit(result[record.variant_id])
    mismatches += [err for _, err in sorted(by_number, key=lambda item: item[0])]
    annotated = len(result)  # the mismatching records included
    if (mismatches and annotated >= MIN_REF_CHECKED
            and len(mismatches) > MAX_REF_MISMATCH_FRACTION * annotated):
        raise reference_mismatch_error(mismatches, annotated, source)
    for err in mismatches:
        log.warning("%s: %s; dropped (%s, accounted in variants.tsv)", err.where, err.problem,
                    REF_MISMATCH)
    return result


def reference_mismatch_error(mismatches: list[ReferenceMismatch], annotated: int,
                             source: str) -> ReferenceError_:
    """One error for every REF that disagrees with the reference, naming the variants.

    Many disagreeing variants (at least 3 and 10% of those annotated) point to a
    genome-build mismatch, which is then given as the first likely cause.
    """
    many = len(mismatches) >= 3 and len(mismatches) >= 0.1 * annotated
    shown = "\n".join(f"  {err.where}: {err.problem}" for err in mismatches[:5])
    more = f"\n  ... and {len(mismatches) - 5} more" if len(mismatches) > 5 else ""
    build = ("the variants were called on another genome build than the annotation "
             "(e.g. GRCh37 calls with a GRCh38 annotation)")
    normalised = ("the VCF was not normalised against the reference (REF is not the reference "
                  "base)")
    causes = [build, normalised] if many else [normalised, build]
    problem = (f"{len(mismatches)} of {annotated} annotated variants have a REF allele that "
               f"disagrees with the reference transcript sequence"
               + (" - so many that a genome-build mismatch is likely" if many else "")
               + f":\n{shown}{more}")
    return ReferenceError_(problem, where=source, causes=causes,
                           fix="annotate with the Ensembl release of the build the VCF was "
                               "called on (see the VCF's ##reference and ##contig header lines), "
                               "or normalise the VCF against that reference (bcftools norm -f)")
