"""``neorank annotate``: varcode effects of the somatic variants.

Reads ``results/{sample}/somatic.vcf.gz`` (through pysam) and the somatic
accounting table, annotates every kept variant with varcode on a pyensembl
annotation (see :mod:`neorank.reference`) and writes

* ``results/effects/{sample}.tsv``: one row per (variant, transcript) whose
  mutant protein carries new residues, with ``--context`` residues of protein
  context on either side of the change;
* ``results/{sample}/variants.tsv``: every accounting row, in order, with the
  top-priority effect and the final ``status``/``reason``.

Column meanings are in ``docs/tables.md``.

Effects that list several outcomes (varcode's
:class:`~varcode.MultiOutcomeEffect`, e.g. the ``SpliceOutcomeSet`` of a splice
site variant) are replaced by their most likely outcome; a "normal splicing"
outcome is replaced by the coding change it carries.

With ``--transcripts canonical`` one transcript per gene is annotated: among
the gene's complete protein-coding transcripts, the one with the longest CDS
(ties go to the smallest transcript id). Genes without such a transcript keep
all their transcripts.

Memory: ``neorank annotate`` annotates the variants in accounting order and
appends their effect rows to the effects table in blocks of
:data:`EFFECT_BLOCK_ROWS` as it goes (the file is renamed into place once every
check has passed); only the variants.tsv fields of each variant are kept.

Progress: the variant loop logs ``annotate: 5,000 of 100,000 variants (5%)``
every :func:`progress_step` variants (about 20 lines a run; a count, not a
timer, so logs are reproducible).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from neorank import reference
from neorank.errors import InputFileError, ReferenceError_
from neorank.io import read_tsv, write_tsv
from neorank.tables import TableWriter

if TYPE_CHECKING:  # pragma: no cover
    import pyensembl
    import varcode

log = logging.getLogger(__name__)

#: Columns of results/effects/{sample}.tsv (docs/tables.md).
EFFECT_COLUMNS = [
    "variant_id", "gene_id", "gene_name", "transcript_id", "effect", "protein_change",
    "context_start", "mutant_context", "wildtype_context", "mutation_start", "mutation_end",
    "merged_variant_ids", "in_cis", "germline_context",
]
#: Columns added to the accounting table in results/{sample}/variants.tsv.
ANNOTATION_COLUMNS = ["gene_name", "transcript_id", "effect", "protein_change", "variant_class",
                      "merged_variant_ids", "in_cis"]
#: Final statuses of variants.tsv, in pipeline order.
STATUSES = ["filtered", "outside_reference", "non_coding", "silent", "no_peptides",
            "protein_changing"]

_ALLELE = re.compile(r"[ACGT]+")
#: Effect rows written to the effects table at once by ``neorank annotate``.
EFFECT_BLOCK_ROWS = 10_000
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


class ReferenceMismatch(ReferenceError_):
    """A variant's REF disagrees with the annotation's transcript sequence."""


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


# --------------------------------------------------------------------------- VCF input
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


# --------------------------------------------------------------------------- effects
def protein_change(effect) -> str:
    """HGVS-style protein change with 1-based positions.

    varcode's text for in-frame deletions and insertions uses the 0-based
    offset (``p.L1119del`` for the leucine at residue 1120); here deletions read
    ``p.L1120del`` / ``p.A196_K200del``, insertions ``p.K10_L11insQQ`` and
    in-frame deletion-insertions ``p.A5_B6delinsW``. Other effects keep
    varcode's description.
    """
    from varcode.effects.effect_classes import (
        ComplexSubstitution,
        Deletion,
        Insertion,
        Substitution,
    )

    if type(effect) not in (ComplexSubstitution, Deletion, Insertion, Substitution):
        return effect.short_description
    ref, alt = effect.aa_ref or "", effect.aa_alt or ""
    start = effect.aa_mutation_start_offset  # 0-based
    protein = str(getattr(effect.transcript, "protein_sequence", "") or "")
    if not ref and alt:  # insertion between residues start and start + 1 (1-based)
        if 0 < start < len(protein):
            return f"p.{protein[start - 1]}{start}_{protein[start]}{start + 1}ins{alt}"
        return effect.short_description
    first, last = f"{ref[0]}{start + 1}", f"{ref[-1]}{start + len(ref)}" if ref else ""
    span = first if len(ref) == 1 else f"{first}_{last}"
    if ref and not alt:
        return f"p.{span}del"
    if len(ref) == 1 and len(alt) == 1:
        return f"p.{ref}{start + 1}{alt}"
    return f"p.{span}delins{alt}"


def unwrap_effect(effect: Any) -> Any:
    """Replace a multi-outcome effect by its most likely outcome.

    ``MultiOutcomeEffect`` -> ``most_likely_effect``; ``NormalSplicing`` -> its
    ``coding_effect`` (when it has one). Repeated until a plain effect remains.
    """
    from varcode.effects.effect_classes import MultiOutcomeEffect, NormalSplicing

    for _ in range(10):  # wrappers nest at most a few levels
        if isinstance(effect, NormalSplicing) and effect.coding_effect is not None:
            effect = effect.coding_effect
        elif isinstance(effect, MultiOutcomeEffect):
            inner = effect.most_likely_effect
            if inner is effect:  # e.g. ExonicSpliceSite lists itself first
                inner = getattr(effect, "alternate_effect", None) or effect
            if inner is effect:
                return effect
            effect = inner
        else:
            return effect
    return effect


def _changed_region(ref: str, mut: str, start: int | None, end: int | None) -> tuple[int, int]:
    """0-based half-open changed residues of ``mut``; varcode's offsets when consistent."""
    if start is not None and end is not None and 0 <= start <= end <= len(mut) \
            and mut[:start] == ref[:start]:
        return start, end
    prefix = 0
    limit = min(len(ref), len(mut))
    while prefix < limit and ref[prefix] == mut[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and ref[-1 - suffix] == mut[-1 - suffix]:
        suffix += 1
    return prefix, len(mut) - suffix


def effect_row(effect: Any, variant_id: str, context: int = 40,
               original: str | None = None) -> dict[str, Any] | None:
    """The effects.tsv row of one transcript effect, or ``None`` if it yields no new residues.

    Parameters
    ----------
    effect
        A varcode effect (multi-outcome effects are unwrapped first).
    variant_id
        The variant's NR_ID.
    context
        Residues of context kept on each side of the change. Frameshifts and
        stop-loss extensions keep the whole new sequence, through the new stop.
    original
        The wildtype protein to compare with (default: the reference protein);
        with germline context, the protein with the germline variants only.

    Returns
    -------
    dict or None
        ``None`` when the protein is unchanged or unknown (silent, start loss,
        a plain stop gain, a deletion at a protein end, unresolved splicing).
    """
    effect = unwrap_effect(effect)
    if not getattr(effect, "modifies_protein_sequence", False):
        return None
    transcript = getattr(effect, "transcript", None)
    if transcript is None:
        return None
    mutant = getattr(effect, "mutant_protein_sequence", None)
    own = original is not None
    if original is None:  # the patient's own protein when germline variants are applied
        original = getattr(effect, "original_protein_sequence", None)
    if not mutant or not original:
        return None
    mutant, original = str(mutant).rstrip("*"), str(original).rstrip("*")
    if mutant == original:
        return None
    # varcode's offsets describe the change from the reference; against the patient's
    # own protein the changed region is found by comparison
    start, end = _changed_region(original, mutant,
                                 None if own else getattr(effect, "aa_mutation_start_offset", None),
                                 None if own else getattr(effect, "aa_mutation_end_offset", None))
    if end == start and not 0 < start < len(mutant):
        return None  # pure deletion at a protein end: no junction to span
    if end < start:
        return None
    # Reference residues aligned with the change: in-frame changes keep an
    # unchanged suffix; changes running to the mutant's end (frameshift,
    # stop-loss, stop-gain with new residues) align position by position.
    ref_end = min(len(original), end)
    if end < len(mutant):
        candidate = len(original) - (len(mutant) - end)
        if candidate >= start and original[candidate:] == mutant[end:]:
            ref_end = candidate
    context_start = max(0, start - context)
    mutant_context = mutant[context_start:end + context]
    wildtype_context = original[context_start:ref_end + context]
    return {
        "variant_id": variant_id,
        "gene_id": effect.gene_id,
        "gene_name": effect.gene_name or None,
        "transcript_id": effect.transcript_id,
        "effect": type(effect).__name__,
        "protein_change": protein_change(effect),
        "context_start": context_start + 1,
        "mutant_context": mutant_context,
        "wildtype_context": wildtype_context,
        "mutation_start": start - context_start,
        "mutation_end": end - context_start,
    }


def effect_name(top: Any, shown: Any) -> str:
    """Class name reported for a top effect: the unwrapped one, except for a splice-site
    set whose most likely outcome is unchanged splicing of a non-coding base, which is
    named by the disrupted signal (e.g. ``IntronicSpliceSite``)."""
    from varcode.effects.effect_classes import NormalSplicing

    signal = getattr(top, "disrupted_signal_class", None)
    if isinstance(shown, NormalSplicing) and signal is not None:
        return signal.__name__
    return type(shown).__name__


#: variant_class of varcode effect classes (the unwrapped top effect); see :func:`variant_class`.
EFFECT_CLASSES = {
    "Substitution": "missense", "ComplexSubstitution": "inframe_delins",
    "Insertion": "inframe_insertion", "Deletion": "inframe_deletion",
    "FrameShift": "frameshift", "FrameShiftTruncation": "frameshift",
    "PrematureStop": "stop_gain", "StopLoss": "stop_loss", "StartLoss": "start_loss",
    "Silent": "synonymous", "AlternateStartCodon": "synonymous",
    "FivePrimeUTR": "utr_5", "ThreePrimeUTR": "utr_3", "Intronic": "intronic",
    "NoncodingTranscript": "non_coding_transcript", "IncompleteTranscript": "incomplete_transcript",
    "Intergenic": "intergenic", "ExonLoss": "exon_loss",
    "Failure": "unresolved", "Unresolved": "unresolved", "HypothesisLimit": "unresolved",
}
_SPLICE_SIGNALS = ("SpliceDonor", "SpliceAcceptor", "IntronicSpliceSite", "ExonicSpliceSite")


def variant_class(top: Any, shown: Any, ref: str = "", alt: str = "") -> str:
    """The variant class of variants.tsv (``missense``, ``frameshift``, ``splice_site``, ...).

    A variant whose top effect is at a splice site (donor, acceptor, intronic
    or exonic splice region) is ``splice_site`` whatever its most likely
    outcome; a same-length multi-base allele changing one or more residues is
    ``mnv``; otherwise the class follows the unwrapped effect
    (:data:`EFFECT_CLASSES`).
    """
    names = {type(top).__name__, getattr(getattr(top, "disrupted_signal_class", None),
                                         "__name__", "")}
    if names & set(_SPLICE_SIGNALS):
        return "splice_site"
    name = type(shown).__name__
    if name in ("ExonSkipping", "IntronRetention", "CrypticAcceptor", "CrypticDonor"):
        return "splice_site"
    if name in ("Substitution", "ComplexSubstitution") and len(ref) == len(alt) > 1:
        return "mnv"
    return EFFECT_CLASSES.get(name, re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())


def _classify(top: Any, shown: Any) -> tuple[str, str]:
    """(status, reason) of a variant without effect rows, from its top effect.

    ``top`` is varcode's top-priority effect, ``shown`` its most likely outcome
    (:func:`unwrap_effect`).
    """
    from varcode.effects.effect_classes import (
        Failure,
        Intergenic,
        NormalSplicing,
        Silent,
        Unresolved,
    )

    name = effect_name(top, shown)
    described = f"{name} ({shown.short_description})"
    if isinstance(shown, Intergenic):
        return "outside_reference", "no gene of the reference annotation overlaps"
    if isinstance(shown, Silent):
        return "silent", f"synonymous: {shown.short_description}"
    if isinstance(shown, NormalSplicing):  # splice region outside the CDS, splicing kept
        return "non_coding", (f"{name}: normal splicing is the most likely outcome "
                              f"({top.short_description})")
    if isinstance(shown, (Failure, Unresolved)):
        return "no_peptides", f"effect not resolved: {described}"
    if type(shown).__name__ == "StartLoss":
        return "no_peptides", (f"start-loss ({shown.short_description}): the translation start "
                               "is lost and the downstream start is not predicted; no peptides")
    if type(shown).__name__ in ("FrameShiftTruncation", "PrematureStop"):
        return "no_peptides", (f"{name} ({shown.short_description}): the change creates a stop "
                               "at once, so the protein is truncated without new residues; "
                               "no peptides")
    if getattr(shown, "modifies_protein_sequence", False):
        return "no_peptides", f"protein changes but no new residues: {described}"
    return "non_coding", described


def spans_exon_boundary(variant: Any, transcript: Any) -> bool:
    """Does the variant's reference span overlap an exon without lying inside one exon?

    varcode translates such an allele (e.g. a deletion of the last exon bases and the
    splice donor) as if the intronic bases were exonic, giving a frameshift or in-frame
    deletion that ignores the lost splice signal. Those effects are not used.
    """
    start, end = int(variant.start), int(variant.end)
    if end <= start:  # SNV, or insertion between two bases
        return False
    exons = [(exon.start, exon.end) for exon in transcript.exons]
    overlapping = [(a, b) for a, b in exons if a <= end and b >= start]
    return bool(overlapping) and not any(a <= start and end <= b for a, b in overlapping)


def canonical_transcript_filter() -> Callable[[Any], bool]:
    """A varcode ``transcript_filter`` keeping one transcript per gene.

    The kept transcript is the gene's complete protein-coding transcript with
    the longest CDS; ties go to the smallest transcript id. Genes without a
    complete coding transcript keep all their transcripts. Choices are made
    lazily, once per gene.
    """
    chosen: dict[str, str | None] = {}

    def cds_length(transcript: Any) -> int:
        try:
            if transcript.complete and transcript.protein_sequence:
                return len(transcript.coding_sequence)
        except (ValueError, KeyError):
            pass
        return -1

    def keep(transcript: Any) -> bool:
        gene_id = transcript.gene_id
        if gene_id not in chosen:
            lengths = [(-cds_length(t), t.id) for t in transcript.gene.transcripts]
            lengths = [item for item in lengths if item[0] < 0]
            chosen[gene_id] = min(lengths)[1] if lengths else None
        best = chosen[gene_id]
        return best is None or transcript.id == best

    return keep


def annotate_variant(variant: varcode.Variant, variant_id: str, *, context: int = 40,
                     transcript_filter: Callable[[Any], bool] | None = None,
                     where: str | None = None) -> VariantAnnotation:
    """Annotate one variant: its effect rows and its variants.tsv status.

    Parameters
    ----------
    variant
        A varcode Variant on the annotation's contig names.
    variant_id
        Its NR_ID.
    context
        See :func:`effect_row`.
    transcript_filter
        Passed to ``Variant.effects`` (see :func:`canonical_transcript_filter`).
    where
        File and record for error messages.

    Raises
    ------
    ReferenceError_
        The REF allele disagrees with the annotation's transcript sequence, or
        varcode cannot annotate the variant.
    """
    from varcode.errors import ReferenceMismatchError

    where = where or variant_id
    try:
        effects = variant.effects(raise_on_error=True, transcript_filter=transcript_filter)
        top = effects.top_priority_effect() if len(effects) else None
    except ReferenceMismatchError as err:
        raise ReferenceMismatch(
            str(err), where=where,
            causes=["the variants were called on another genome build than the annotation "
                    "(e.g. GRCh37 calls with a GRCh38 annotation)",
                    "the VCF was not normalised against the reference (REF is not the reference "
                    "base)"],
            fix="annotate with the Ensembl release of the build the VCF was called on "
                "(see the VCF's ##reference and ##contig header lines)") from err
    except ValueError as err:
        raise ReferenceError_(f"varcode could not annotate the variant: {err}", where=where,
                              fix="check the allele against the reference; report a bug if it "
                                  "is valid") from err

    rows: dict[str, dict[str, Any]] = {}
    boundary: set[str] = set()
    for effect in effects:
        transcript = getattr(effect, "transcript", None)
        if transcript is not None and spans_exon_boundary(variant, transcript):
            boundary.add(transcript.id)
            continue
        row = effect_row(effect, variant_id, context)
        if row is not None and row["transcript_id"] not in rows:
            rows[row["transcript_id"]] = row
    ordered = [rows[key] for key in sorted(rows)]

    if top is None:
        annotation = VariantAnnotation(variant_id, "non_coding",
                                       "no selected transcript overlaps (--transcripts canonical)",
                                       variant_class="no_selected_transcript")
    else:
        shown = unwrap_effect(top)
        if ordered:
            status, reason = "protein_changing", ""
        elif getattr(top, "transcript_id", None) in boundary:
            status, reason = "no_peptides", (
                f"the allele spans an exon-intron boundary of {', '.join(sorted(boundary))}: "
                "it removes a splice signal, the splicing outcome is not predicted; no peptides")
        else:
            status, reason = _classify(top, shown)
        annotation = VariantAnnotation(
            variant_id, status, reason,
            gene_name=shown.gene_name or None, transcript_id=shown.transcript_id,
            effect=effect_name(top, shown) if status != "outside_reference" else None,
            protein_change=protein_change(shown) if status != "outside_reference" else None,
            variant_class="splice_site" if getattr(top, "transcript_id", None) in boundary
            else variant_class(top, shown, str(variant.ref), str(variant.alt)))
    annotation.rows = ordered
    return annotation


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
    from neorank.germline import relation

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
    mismatches: list[ReferenceMismatch] = []
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
            except ReferenceMismatch as err:
                mismatches.append(err)
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
    if mismatches:
        raise reference_mismatch_error(mismatches, len(result) + len(mismatches), source)
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


# --------------------------------------------------------------------------- tables
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


def build_effects_table(accounting: pd.DataFrame,
                        annotations: dict[str, VariantAnnotation]) -> pd.DataFrame:
    """effects.tsv rows in accounting (input) order, then transcript_id."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for vid in accounting["variant_id"]:
        if vid in seen or vid not in annotations:
            continue
        seen.add(vid)
        rows.extend(annotations[vid].rows)
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


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


# --------------------------------------------------------------------------- CLI
def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``neorank annotate``."""
    parser = subparsers.add_parser(
        "annotate", help="varcode effects of the somatic variants",
        description="Annotate the somatic variants with varcode: per-transcript protein changes "
                    "(effects table) and every variant's final status (variants table).")
    parser.add_argument("--vcf", help="somatic VCF from `neorank somatic` (INFO NR_ID)")
    parser.add_argument("--accounting", help="accounting TSV from `neorank somatic`")
    reference.add_reference_arguments(parser)
    parser.add_argument("--context", type=int, default=40,
                        help="protein residues kept on each side of a change (default 40)")
    parser.add_argument("--transcripts", choices=["all", "canonical"], default="all",
                        help="all overlapping transcripts, or one per gene (longest CDS)")
    parser.add_argument("--germline-vcf",
                        help="VCF with the patient's germline calls (the normal VCF, or the "
                             "paired VCF): nearby germline SNVs change mutant and wildtype")
    parser.add_argument("--germline-sample",
                        help="normal sample column of --germline-vcf (default: the only one, "
                             "or NORMAL)")
    parser.add_argument("--out-effects", help="effects TSV to write")
    parser.add_argument("--out-variants", help="variants TSV to write")
    parser.add_argument("--index-only", action="store_true",
                        help="only build the annotation cache, then exit")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``neorank annotate``; returns the exit code."""
    if getattr(args, "index_only", False):
        return reference.index_reference(args)
    missing = [flag for flag, value in (("--vcf", args.vcf), ("--accounting", args.accounting),
                                        ("--out-effects", args.out_effects),
                                        ("--out-variants", args.out_variants)) if not value]
    if missing:
        raise InputFileError(f"missing required option(s) {', '.join(missing)}",
                             fix="pass them, or --index-only to only build the annotation cache")
    if args.context < 0:
        raise InputFileError("--context must be >= 0", fix="pass e.g. --context 40")
    accounting = read_accounting(args.accounting)
    records = read_somatic_vcf(args.vcf)
    genome = reference.genome_from_args(args)
    germline = None
    if getattr(args, "germline_vcf", None):
        from neorank.germline import GermlineIndex, SomaticWindows, read_germline_vcf

        near = SomaticWindows((r.chrom, r.pos, r.pos + len(r.ref) - 1) for r in records)
        germline = GermlineIndex(read_germline_vcf(args.germline_vcf, args.germline_sample,
                                                   near=near))
        log.info("germline context: %d germline SNVs near the somatic variants from %s",
                 len(germline), args.germline_vcf)
    # effects.tsv is in accounting order: annotating in that order lets its rows be
    # written as they come (build_effects_table gives the same table from the annotations)
    with TableWriter(args.out_effects, EFFECT_COLUMNS) as effects:
        rows = EffectRowsWriter(effects, EFFECT_BLOCK_ROWS)
        annotations = annotate_records(records, genome, context=args.context,
                                       transcripts=args.transcripts, source=str(args.vcf),
                                       germline=germline,
                                       order=accounting_order(records, accounting), emit=rows)
        rows.flush()
        variants = build_variants_table(accounting, annotations,
                                        accounting_path=str(args.accounting),
                                        vcf_path=str(args.vcf))
        effects.commit()
    write_tsv(variants, args.out_variants)
    counts = Counter(variants["status"])
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))
    others = sorted(set(counts) - set(STATUSES))
    if others:
        summary += ", " + ", ".join(f"{counts[s]} {s}" for s in others)
    log.info("annotate: %d variants (%s); %d effect rows on %d transcripts",
             len(variants), summary, effects.rows, len(rows.transcripts))
    return 0
