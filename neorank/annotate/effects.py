"""varcode effects of one somatic variant: effect rows, classes and protein changes.

How multi-outcome effects and ``--transcripts canonical`` are handled: see
:mod:`neorank.annotate`.
:func:`annotate_variant` gives one variant's effect rows (one per transcript whose
mutant protein carries new residues) and its variants.tsv status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from neorank.annotate.records import VariantAnnotation
from neorank.errors import ReferenceError_
from neorank.ranking import EVIDENCE_DNA, EVIDENCE_SPLICE

if TYPE_CHECKING:  # pragma: no cover
    import varcode


class ReferenceMismatch(ReferenceError_):
    """A variant's REF disagrees with the annotation's transcript sequence."""


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


#: varcode effect classes that mean a splice signal is hit or a splicing outcome is
#: predicted (the signals of :data:`_SPLICE_SIGNALS`, the outcome set and its outcomes).
SPLICE_EFFECTS = frozenset({
    "SpliceDonor", "SpliceAcceptor", "IntronicSpliceSite", "ExonicSpliceSite", "SpliceSite",
    "SpliceOutcomeSet", "NormalSplicing", "ExonSkipping", "IntronRetention", "CrypticAcceptor",
    "CrypticDonor", "CrypticExonCandidate", "CrypticSpliceSiteEffect", "SpliceMechanismEffect",
})


def effect_layers(effect: Any) -> Iterator[Any]:
    """The effect and each layer below it, down to the plain effect :func:`unwrap_effect`
    returns: ``MultiOutcomeEffect`` -> its ``most_likely_effect`` (its
    ``alternate_effect`` when it lists itself first, e.g. ``ExonicSpliceSite``),
    ``NormalSplicing`` -> its ``coding_effect`` (when it has one)."""
    from varcode.effects.effect_classes import MultiOutcomeEffect, NormalSplicing

    for _ in range(10):  # wrappers nest at most a few levels
        yield effect
        if isinstance(effect, NormalSplicing) and effect.coding_effect is not None:
            inner = effect.coding_effect
        elif isinstance(effect, MultiOutcomeEffect):
            inner = effect.most_likely_effect
            if inner is effect:
                inner = getattr(effect, "alternate_effect", None) or effect
        else:
            return
        if inner is effect:
            return
        effect = inner
    yield effect


def splice_derived(effect: Any) -> bool:
    """Does the effect (or any layer :func:`unwrap_effect` goes through) hit a splice signal
    or predict a splicing outcome? Then its protein is a prediction, not a certainty: e.g.
    an exon skipping, or the coding change of an exonic splice-site variant under the
    assumption that splicing stays normal."""
    for layer in effect_layers(effect):
        signal = getattr(getattr(layer, "disrupted_signal_class", None), "__name__", "")
        if type(layer).__name__ in SPLICE_EFFECTS or signal in SPLICE_EFFECTS:
            return True
    return False


def unwrap_effect(effect: Any) -> Any:
    """Replace a multi-outcome effect by its most likely outcome (the last of
    :func:`effect_layers`), repeated until a plain effect remains."""
    for layer in effect_layers(effect):
        effect = layer
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
        ``evidence`` is :data:`EVIDENCE_SPLICE` for a splice-derived effect
        (:func:`splice_derived`), else :data:`EVIDENCE_DNA`.
    """
    evidence = EVIDENCE_SPLICE if splice_derived(effect) else EVIDENCE_DNA
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
        "evidence": evidence,
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
