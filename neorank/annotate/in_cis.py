"""Alleles combined in cis: somatic SNVs merged into one allele, germline SNVs applied.

Somatic SNVs in one codon, or phased in cis within one peptide window
(:func:`in_cis_basis`), are annotated as one merged allele (:func:`in_cis_groups`,
:func:`merged_allele`). Nearby germline SNVs of the patient change mutant and
wildtype (:func:`apply_germline`; phasing rules in :func:`neorank.germline.relation`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from neorank.annotate.effects import effect_row, spans_exon_boundary, unwrap_effect
from neorank.annotate.records import SomaticRecord, VariantAnnotation
from neorank.germline import relation

#: Largest genomic distance (nt) between phased somatic SNVs merged in cis: two changes
#: 30 nt apart in the CDS can still share an 11-mer (33 nt).
IN_CIS_MAX_DISTANCE = 30
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _cds_codon(transcript: Any, pos: int) -> int | None:
    """0-based codon index of genomic ``pos`` in ``transcript``'s CDS, or ``None``."""
    try:
        if not transcript.complete:
            return None
        offset = transcript.spliced_offset(pos)
        start = transcript.first_start_codon_spliced_offset
        end = transcript.last_stop_codon_spliced_offset
    except (ValueError, KeyError):
        return None
    return (offset - start) // 3 if start <= offset <= end else None


def in_cis_basis(a: SomaticRecord, b: SomaticRecord, genome: Any, contig: str,
                 max_distance: int = IN_CIS_MAX_DISTANCE) -> str | None:
    """Why two somatic SNVs (``a.pos < b.pos``) are merged into one allele, or ``None``.

    ``same_codon``: both change the same codon of a coding transcript (adjacent
    changes a caller split into SNVs; read-backed phasing is assumed).
    ``phased_gt_ps``: phased GTs with the same phase set and haplotype.
    ``phased_pgt_pid``: Mutect2 physical phasing with the same PID and PGT.
    Phased pairs are merged only within ``max_distance`` nt (one peptide window).
    """
    if not (len(a.ref) == len(a.alt) == len(b.ref) == len(b.alt) == 1) or a.chrom != b.chrom \
            or b.pos <= a.pos:
        return None
    if b.pos - a.pos <= 2:
        for transcript in genome.transcripts_at_locus(contig, a.pos, b.pos):
            codon = _cds_codon(transcript, a.pos)
            if codon is not None and codon == _cds_codon(transcript, b.pos):
                return "same_codon"
    if b.pos - a.pos > max_distance:
        return None
    if a.phased and b.phased and a.ps is not None and a.ps == b.ps \
            and a.haplotypes == b.haplotypes and any(a.haplotypes or ()):
        return "phased_gt_ps"
    if a.pid and a.pid == b.pid and a.pgt and a.pgt == b.pgt:
        return "phased_pgt_pid"
    return None


def combine_edits(edits: list[tuple[int, str, str]], genome: Any,
                  contig: str) -> tuple[int, str, str] | None:
    """One allele (pos, REF, ALT) applying several non-overlapping VCF edits (pos, ref, alt).

    The bases between the edits come from a transcript exon covering the whole span
    (no genome sequence is used); ``None`` when no exon covers it or an edit's REF
    disagrees with the transcript.
    """
    edits = sorted(edits)
    start = edits[0][0]
    end = max(pos + len(ref) - 1 for pos, ref, _ in edits)
    for (pos, ref, _), (following, _, _) in zip(edits, edits[1:], strict=False):
        if pos + len(ref) > following:
            return None  # overlapping edits
    for transcript in genome.transcripts_at_locus(contig, start, end):
        if not any(e.start <= start and end <= e.end for e in transcript.exons):
            continue
        try:
            sequence = str(transcript.sequence)
        except (ValueError, KeyError):
            continue
        if not sequence:
            continue
        bases = []
        for pos in range(start, end + 1):
            base = sequence[transcript.spliced_offset(pos)]
            bases.append(base if transcript.strand == "+" else base.translate(_COMPLEMENT))
        reference_span = "".join(bases)
        alt = reference_span
        for pos, ref, allele in reversed(edits):  # right to left keeps offsets valid
            offset = pos - start
            if reference_span[offset:offset + len(ref)] != ref:
                return None
            alt = alt[:offset] + allele + alt[offset + len(ref):]
        return start, reference_span, alt
    return None


def merged_allele(group: list[SomaticRecord], genome: Any, contig: str) -> tuple[int, str, str] | None:
    """(pos, REF, ALT) of SNVs merged into one allele (see :func:`combine_edits`)."""
    return combine_edits([(r.pos, r.ref, r.alt) for r in group], genome, contig)


def germline_rows(record: SomaticRecord, germlines: list[Any], genome: Any, contig: str, *,
                  context: int, transcript_filter: Callable[[Any], bool] | None,
                  somatic_rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Effect rows of a somatic allele on the patient's haplotype with ``germlines`` applied.

    The mutant protein carries the somatic and the germline changes, the wildtype
    only the germline ones (the patient's own protein). ``None`` when the alleles
    cannot be combined (no exon covers them all).
    """
    import varcode

    somatic_edit = (record.pos, record.ref, record.alt)
    germline_edits = [(g.pos, g.ref, g.alt) for g in germlines]
    both = combine_edits([somatic_edit, *germline_edits], genome, contig)
    only = combine_edits(germline_edits, genome, contig)
    if both is None or only is None:
        return None
    span_start, span_ref = both[0], both[1]
    # the germline-only allele over the same span as the combined one
    own = list(span_ref)
    for pos, _, alt in germline_edits:
        own[pos - span_start] = alt
    mutant_variant = varcode.Variant(contig=contig, start=span_start, ref=span_ref, alt=both[2],
                                     genome=genome)
    own_variant = varcode.Variant(contig=contig, start=span_start, ref=span_ref,
                                  alt="".join(own), genome=genome)
    own_proteins: dict[str, str] = {}
    for effect in own_variant.effects(transcript_filter=transcript_filter):
        effect = unwrap_effect(effect)
        transcript = getattr(effect, "transcript", None)
        if transcript is None:
            continue
        protein = None
        if getattr(effect, "modifies_protein_sequence", False):
            protein = getattr(effect, "mutant_protein_sequence", None)
        if protein is None:
            protein = getattr(transcript, "protein_sequence", None)
        if protein:
            own_proteins[transcript.id] = str(protein).rstrip("*")
    changes = {row["transcript_id"]: row["protein_change"] for row in somatic_rows}
    rows: dict[str, dict[str, Any]] = {}
    for effect in mutant_variant.effects(transcript_filter=transcript_filter):
        transcript = getattr(effect, "transcript", None)
        if transcript is None or transcript.id not in own_proteins \
                or spans_exon_boundary(mutant_variant, transcript):
            continue
        row = effect_row(effect, record.variant_id, context, original=own_proteins[transcript.id])
        if row is not None and row["transcript_id"] not in rows:
            row["protein_change"] = changes.get(row["transcript_id"], row["protein_change"])
            rows[row["transcript_id"]] = row
    return [rows[key] for key in sorted(rows)]


def apply_germline(annotation: VariantAnnotation, record: SomaticRecord, germline: Any,
                   genome: Any, contig: str, *, context: int,
                   transcript_filter: Callable[[Any], bool] | None) -> None:
    """Replace a protein-changing annotation's rows by their germline-aware versions.

    Homozygous and in-cis heterozygous germline SNVs near the variant are applied
    to mutant and wildtype; unphased heterozygous ones give a second set of rows
    with them applied. Every row's ``germline_context`` says which version it is.
    """
    if not annotation.rows:
        return
    near = germline.near(record.chrom, record.pos, record.pos + len(record.ref) - 1)
    if not near:
        return
    relations = [(g, relation(g, record.haplotypes, record.phased, record.ps)) for g in near]
    applied = [g for g, how in relations if how in ("hom", "cis")]
    unphased = [g for g, how in relations if how == "unphased"]
    labels = [f"{how}:{g.variant_id}" for g, how in relations if how in ("hom", "cis")]
    skipped = [f"trans:{g.variant_id}" for g, how in relations if how == "trans"]
    base_rows = annotation.rows
    if applied:
        rows = germline_rows(record, applied, genome, contig, context=context,
                             transcript_filter=transcript_filter, somatic_rows=annotation.rows)
        if rows is None:
            labels = [f"not_applied:{g.variant_id}" for g in applied]
        else:
            base_rows = rows
    versions = [(base_rows, labels + skipped)]
    if unphased:
        rows = germline_rows(record, applied + unphased, genome, contig, context=context,
                             transcript_filter=transcript_filter, somatic_rows=annotation.rows)
        ids = ",".join(g.variant_id for g in unphased)
        if rows is None:
            versions = [(base_rows, labels + skipped + [f"not_applied:{ids}"])]
        else:
            versions = [(base_rows, labels + skipped + [f"unphased_het_absent:{ids}"]),
                        (rows, labels + skipped + [f"unphased_het_present:{ids}"])]
    annotation.rows = []
    for rows, context_labels in versions:
        for row in rows:
            annotation.rows.append(dict(row, germline_context=";".join(context_labels) or None))


def in_cis_groups(records: list[SomaticRecord], genome: Any,
                  contigs: dict[str, str | None]) -> list[tuple[list[SomaticRecord], str]]:
    """Chains of somatic SNVs to merge (see :func:`in_cis_basis`), with their bases."""
    snvs = sorted((r for r in records if len(r.ref) == len(r.alt) == 1 and contigs.get(r.chrom)),
                  key=lambda r: (r.chrom, r.pos, r.alt))
    groups: list[tuple[list[SomaticRecord], list[str]]] = []
    for previous, record in zip(snvs, snvs[1:], strict=False):
        basis = in_cis_basis(previous, record, genome, contigs[record.chrom])  # type: ignore[arg-type]
        if basis is None:
            continue
        if groups and groups[-1][0][-1] is previous:
            groups[-1][0].append(record)
            groups[-1][1].append(basis)
        else:
            groups.append(([previous, record], [basis]))
    return [(group, ";".join(sorted(set(bases)))) for group, bases in groups]
