"""Can this tumour still present class I peptides? Antigen-presentation integrity.

A layer below the eligibility verdict (:mod:`neorank.verdict`). Research use
only: the calls below are predictions from sequence and copy number, not a
measurement of HLA expression on the tumour (immunohistochemistry or RNA would
be needed for that).

Antigen-presentation machinery (APM) genes
------------------------------------------
The sample's own somatic variants (variants.tsv rows not ``filtered``) are
checked against genes by role (config ``presentation``, lists editable):

========== =====================================  =====================================
role       genes (defaults)                       a likely loss of function caps at
========== =====================================  =====================================
b2m        B2M                                    ``b2m_lof_verdict`` (not supported)
hla        HLA-A, HLA-B, HLA-C                    ``hla_lof_verdict`` (borderline), only
                                                  when no other allele keeps a binder
processing TAP1, TAP2, TAPBP, NLRC5               ``processing_lof_verdict`` (borderline)
ifng       JAK1, JAK2, IFNGR1, IFNGR2, STAT1      ``ifng_lof_verdict`` (borderline)
========== =====================================  =====================================

Each hit is classified from the annotation: **likely loss of function**
(truncating: variants.tsv ``variant_class`` ``frameshift``, ``stop_gain``,
``splice_site``, ``start_loss``, ``exon_loss``, or an effects-table row of
varcode class ``FrameShift``, ``FrameShiftTruncation``, ``PrematureStop``,
``StartLoss``, ``ExonicSpliceSite``, ``SpliceDonor``, ``SpliceAcceptor``,
``ExonLoss``) or **uncertain effect** (missense, in-frame, stop-loss: listed,
never capping). A variant of the sample that lies inside a gene's GRCh38 span
(:data:`GENE_SPANS_GRCH38`) but that the annotation does not assign to that
gene (a partial reference such as the embedded demo subset, where it is
``outside_reference``) is reported **in gene, effect not assessed**: listed,
never capping, and worth checking against a full annotation. A gene with no
span in the table is checked only through the annotation, and reported as not
assessed unless the annotation is known to cover it (a variant of the sample
annotated to it, or ``--reference-gtf`` naming it).

GRCh38 gene spans
-----------------
1-based inclusive, the union of the sources named per row (gene start to gene
end of the Ensembl/GENCODE gene, or NCBI RefSeq annotation on GRCh38.p13/p14).
The coordinates assume the sample's VCF is on GRCh38 (as NeoRank's references
are); on another assembly the coordinate path is wrong and only the annotation
path applies. TAPBP and IFNGR2 have no span yet: no coordinates could be
verified against a second source, so they are checked through the annotation
only.

HLA loss of heterozygosity
--------------------------
Per typed allele: ``kept``, ``lost``, ``LOH unknown`` or ``not assessed``.

* **Allele-specific caller** (sample sheet column ``hla_loh``; the format is
  recognised from the header): LOHHLA's ``*.HLAlossPrediction_CI.*`` table
  (McGranahan et al., Cell 2017; columns ``region``, ``HLA_A_type1``,
  ``HLA_A_type2``, ..., ``HLA_type1copyNum_withBAFBin``,
  ``HLA_type2copyNum_withBAFBin``, ..., ``PVal_unique``, ``LossAllele``,
  ``KeptAllele``): the ``LossAllele`` is ``lost`` when ``PVal_unique <
  lohhla_max_pvalue`` (0.01) and its copy number ``< lohhla_loss_copy_number_below``
  (0.5), ``LOH unknown`` when the imbalance is significant but no copy number was
  estimated; otherwise both alleles are ``kept``. DASH's ``DASH.output.txt``
  (Pyke et al. 2022; columns ``Alleles``, ``DASH_deletion``, ``Confidence``,
  ...): ``DASH_deletion`` True is ``lost``; a ``Confidence`` of -1 (homozygous or
  too few mismatch sites) is not assessed. Or a plain list of lost alleles, one
  per line (any typed allele not listed is ``kept``).
* **Copy-number segments** (sample sheet column ``copy_number``, ASCAT
  ``nMajor``/``nMinor``, FACETS ``tcn.em``/``lcn.em``, Sequenza ``CNt``/``B``,
  PURPLE ``copyNumber``/``minorAlleleCopyNumber``): a minor copy number below
  ``loh_minor_copy_number_below`` (0.5) over a heterozygous HLA-A/B/C locus is
  ``LOH unknown`` for both alleles ("HLA LOH, lost allele unknown": segments do
  not say which haplotype is left); a total copy number below the same
  threshold is ``lost`` for every allele of the locus (homozygous deletion); a
  homozygous locus has no LOH to call (``kept``). A per-variant copy-number
  table has no minor copy number: not assessed.

The caller's call wins over the segments for the alleles it covers.

Effect on the verdict (:func:`judge_presentation`): candidates restricted to a
``lost`` allele are flagged and their variants no longer count as targets;
candidates on ``LOH unknown`` alleles and on the alleles of an HLA gene with a
somatic loss of function are flagged but still counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from neorank.config import ROLES, VERDICTS, Presentation, presentation_params  # noqa: F401
from neorank.errors import InputFileError
from neorank.gene_spans import GENE_SPANS_GRCH38, genes_at
from neorank.hla_loh import (
    ALLELE_STATUSES,
    _text,
    allele_key,
    hla_status,
    locus_of,
    read_allele_segments,
    read_hla_loh,
)
from neorank.tables import as_number

ROLE_LABELS = {"b2m": "beta-2-microglobulin", "hla": "HLA class I heavy chain",
               "processing": "peptide transport and loading / class I transcription",
               "ifng": "IFN-gamma signalling"}
LOF = "likely loss of function"
UNCERTAIN = "uncertain effect"
NOT_ASSESSED_EFFECT = "in gene, effect not assessed"

#: variants.tsv ``variant_class`` values that truncate the protein.
LOF_CLASSES = frozenset({"frameshift", "stop_gain", "splice_site", "start_loss", "exon_loss"})
#: varcode effect classes (effects table ``effect``) that truncate the protein.
LOF_EFFECTS = frozenset({"FrameShift", "FrameShiftTruncation", "PrematureStop", "StartLoss",
                         "ExonicSpliceSite", "SpliceDonor", "SpliceAcceptor", "ExonLoss"})
#: Protein-changing classes that are not truncating.
UNCERTAIN_CLASSES = frozenset({"missense", "mnv", "inframe_insertion", "inframe_deletion",
                               "inframe_delins", "stop_loss"})

# --------------------------------------------------------------------- config


def gene_roles(params: dict[str, Any]) -> dict[str, str]:
    """Gene name -> role (the first role listing it)."""
    roles: dict[str, str] = {}
    for role in ROLES:
        for gene in params[f"{role}_genes"]:
            roles.setdefault(gene, role)
    return roles


# ----------------------------------------------------------------- coordinates

# --------------------------------------------------------------------- alleles

# ------------------------------------------------------------------- APM genes


def apm_check(variants: pd.DataFrame, effects: pd.DataFrame | None, params: dict[str, Any],
              reference_genes: set[str] | None = None) -> dict[str, Any]:
    """APM hits of the sample's somatic variants and per-gene coverage.

    Returns ``{"assessed", "hits", "genes", "how"}``: ``hits`` one dict per
    (variant, gene); ``genes`` one per configured gene with its ``coverage``.
    """
    roles = gene_roles(params)
    genes = list(roles)
    has_genes = "gene_name" in variants.columns or effects is not None
    has_coords = {"chrom", "pos"} <= set(variants.columns)
    somatic = variants
    if "status" in variants.columns:
        somatic = variants.loc[variants["status"].astype(str) != "filtered"]
    by_variant: dict[str, list[dict[str, Any]]] = {}
    if effects is not None and len(effects):
        for row in effects.loc[effects["gene_name"].astype(str).isin(genes)].to_dict("records"):
            by_variant.setdefault(str(row["variant_id"]), []).append(row)
    annotated_genes: set[str] = set()
    if "gene_name" in variants.columns:
        annotated_genes |= set(variants["gene_name"].dropna().astype(str)) & set(genes)
    if effects is not None and len(effects):
        annotated_genes |= set(effects["gene_name"].dropna().astype(str)) & set(genes)
    hits: list[dict[str, Any]] = []
    for row in somatic.to_dict("records"):
        vid = str(row.get("variant_id"))
        top_gene = _text(row.get("gene_name"))
        status = _text(row.get("status")) or "NA"
        vclass = _text(row.get("variant_class"))
        rows = by_variant.get(vid, [])
        hit_genes = {r["gene_name"] for r in rows}
        if top_gene in roles:
            hit_genes.add(top_gene)
        for gene in sorted(hit_genes):
            gene_rows = [r for r in rows if r["gene_name"] == gene]
            classes = {str(r.get("effect")) for r in gene_rows}
            top_class = vclass if top_gene == gene else None
            if not gene_rows and top_class not in LOF_CLASSES | UNCERTAIN_CLASSES:
                continue  # annotated to the gene but not protein-changing
            lof_rows = [r for r in gene_rows if str(r.get("effect")) in LOF_EFFECTS]
            lof = bool(lof_rows) or top_class in LOF_CLASSES
            source = lof_rows or gene_rows
            change = _text(source[0].get("protein_change")) if source else None
            if change is None and top_gene == gene:
                change = _text(row.get("protein_change"))
            what = top_class or ", ".join(sorted(classes))
            hits.append(_hit(row, gene, roles[gene], LOF if lof else UNCERTAIN, change,
                             f"annotation: {what}"
                             + (f" ({', '.join(sorted(classes))} on "
                                f"{len(gene_rows)} transcript(s))" if gene_rows else "")))
        if has_coords and not hit_genes:
            for gene in genes_at(row.get("chrom"), row.get("pos"), genes):
                contig, start, end, _ = GENE_SPANS_GRCH38[gene]
                why = ("no gene of the reference annotation overlaps it"
                       if status == "outside_reference"
                       else f"the annotation assigns it to {top_gene or 'no gene'} "
                            f"({status}), not to {gene}")
                if gene in annotated_genes or (reference_genes and gene in reference_genes):
                    continue  # the annotation covers the gene and found no protein change
                hits.append(_hit(row, gene, roles[gene], NOT_ASSESSED_EFFECT, None,
                                 f"coordinates: inside the GRCh38 span of {gene} "
                                 f"({contig}:{start}-{end}); {why}"))
    gene_rows = []
    for gene in genes:
        in_reference = gene in annotated_genes or bool(reference_genes and
                                                       gene in reference_genes)
        has_span = gene in GENE_SPANS_GRCH38
        if in_reference and has_span:
            coverage = "annotation and GRCh38 span"
        elif in_reference:
            coverage = "annotation"
        elif has_span and has_coords:
            coverage = ("GRCh38 span (not in the reference annotation: effect not assessable)"
                        if reference_genes is not None else "GRCh38 span")
        elif reference_genes is None and has_genes:
            coverage = "annotation only, if the reference includes it (no GRCh38 span)"
        else:
            coverage = "not assessed"
        gene_hits = [h for h in hits if h["gene"] == gene]
        gene_rows.append({"gene": gene, "role": roles[gene], "coverage": coverage,
                          "hits": len(gene_hits),
                          "lof": sum(h["call"] == LOF for h in gene_hits)})
    how = [w for w, ok in (("annotation", has_genes), ("coordinates", has_coords)) if ok]
    return {"assessed": bool(how), "how": how, "hits": hits, "genes": gene_rows}


def _hit(row: dict[str, Any], gene: str, role: str, call: str, change: str | None,
         evidence: str) -> dict[str, Any]:
    pos = row.get("pos")
    return {"variant_id": str(row.get("variant_id")), "gene": gene, "role": role, "call": call,
            "protein_change": change, "variant_class": _text(row.get("variant_class")),
            "chrom": _text(row.get("chrom")),
            "pos": int(pos) if _text(pos) is not None and str(pos).isdigit() else None,
            "tumor_vaf": as_number(row.get("tumor_vaf")), "evidence": evidence}


# ------------------------------------------------------- allele-specific copy number

# ------------------------------------------------------------- allele-specific callers


# ---------------------------------------------------------------- per-allele status


# -------------------------------------------------------------------- the evidence


@dataclass(frozen=True)
class PresentationEvidence:
    """What :func:`assess_presentation` found (before it is weighed against candidates)."""

    params: dict[str, Any]
    apm: dict[str, Any]
    alleles: list[dict[str, Any]]
    loh_inputs: list[str] = field(default_factory=list)


def assess_presentation(variants: pd.DataFrame, alleles: list[dict[str, Any]],
                        params: dict[str, Any] | None = None, *,
                        effects: pd.DataFrame | None = None,
                        copy_number: str | os.PathLike | None = None,
                        hla_loh: str | os.PathLike | None = None,
                        reference_genes: set[str] | None = None) -> PresentationEvidence:
    """APM hits and the HLA status per typed allele of one sample."""
    params = params or presentation_params({})
    if effects is not None:
        missing = [c for c in ("variant_id", "gene_name", "effect") if c not in effects.columns]
        if missing:
            raise InputFileError(f"missing column(s) {', '.join(missing)}",
                                 where="effects table",
                                 fix="pass results/effects/<sample>.tsv (docs/tables.md)")
    segments = read_allele_segments(copy_number) if copy_number else None
    caller = read_hla_loh(hla_loh, params) if hla_loh else None
    inputs = []
    if caller is not None:
        inputs.append(f"{caller.tool} ({caller.path})")
    if segments is not None:
        inputs.append(f"{segments.caller or 'copy-number'} segments ({segments.path})"
                      + (f": {segments.problem}" if segments.problem else ""))
    return PresentationEvidence(
        params=params, apm=apm_check(variants, effects, params, reference_genes),
        alleles=hla_status(alleles, params, segments, caller), loh_inputs=inputs)


@dataclass(frozen=True)
class PresentationJudgement:
    """The evidence weighed against the candidates."""

    cap: str | None
    status: str
    display: str
    threshold: str
    note: str
    remaining: pd.DataFrame
    record: dict[str, Any]


def judge_presentation(evidence: PresentationEvidence | None,
                       targets: pd.DataFrame) -> PresentationJudgement:
    """Cap, remaining targets (variants restricted to lost alleles removed) and the
    eligibility.json record (docs/tables.md, ``presentation``)."""
    threshold = ("B2M LoF: b2m_lof_verdict; TAP/TAPBP/NLRC5 LoF: processing_lof_verdict; "
                 "IFN-gamma pathway LoF: ifng_lof_verdict; HLA gene LoF: hla_lof_verdict when "
                 "no other allele keeps a target; uncertain hits and HLA LOH of unknown allele "
                 "never cap; variants only on lost alleles are not counted")
    if evidence is None:
        return PresentationJudgement(
            cap=None, status="not assessed", display="not assessed", threshold=threshold,
            note="The presentation check was not run (no variants table with genes or "
                 "coordinates).", remaining=targets, record={})
    params = evidence.params
    hits = evidence.apm["hits"]
    lof = [h for h in hits if h["call"] == LOF]
    status_of = {a["allele"]: a["status"] for a in evidence.alleles}
    lost = {k for k, s in status_of.items() if s == "lost"}
    unknown = {k for k, s in status_of.items() if s == "LOH unknown"}
    lof_loci = {h["gene"].removeprefix("HLA-") for h in lof if h["role"] == "hla"}
    has_allele = "allele" in targets.columns
    keys = targets["allele"].map(allele_key) if has_allele else pd.Series(None,
                                                                           index=targets.index)
    on_lost = keys.isin(lost)
    remaining = targets.loc[~on_lost] if has_allele else targets
    dropped = sorted(set(targets.loc[on_lost, "variant_id"].astype(str))
                     - set(remaining["variant_id"].astype(str)))

    flagged = []
    if has_allele:
        view = targets.assign(_key=keys)
        for row in view.drop_duplicates(["variant_id", "_key"]).to_dict("records"):
            key = row["_key"]
            reasons = []
            if key in lost:
                reasons.append("allele lost (HLA LOH)")
            if key in unknown:
                reasons.append(f"HLA-{locus_of(key)} LOH, lost allele unknown")
            if locus_of(key) in lof_loci:
                reasons.append(f"HLA-{locus_of(key)} somatic loss of function (allele unknown)")
            if reasons:
                flagged.append({"variant_id": str(row["variant_id"]),
                                "gene_name": _text(row.get("gene_name")),
                                "allele": str(row["allele"]), "tier": _text(row.get("tier")),
                                "reason": "; ".join(reasons),
                                "counted": str(row["variant_id"]) not in dropped})

    caps: list[tuple[str, str]] = []
    for role in ("b2m", "processing", "ifng"):
        role_lof = [h for h in lof if h["role"] == role]
        if role_lof:
            names = ", ".join(f"{h['gene']} {h['protein_change'] or h['variant_id']}"
                              for h in role_lof)
            caps.append((params[f"{role}_lof_verdict"],
                         f"{ROLE_LABELS[role]} loss of function ({names})"))
    if lof_loci:
        impaired = lost | {a["allele"] for a in evidence.alleles if a["locus"] in lof_loci}
        other = (remaining.loc[~keys.loc[remaining.index].isin(impaired)] if has_allele
                 else remaining.iloc[0:0])
        if other["variant_id"].nunique() == 0:
            loci = ", ".join(f"HLA-{x}" for x in sorted(lof_loci))
            caps.append((params["hla_lof_verdict"],
                         f"{loci} loss of function and no other kept allele has a target"
                         + ("" if has_allele else " (candidates carry no allele column)")))
    cap = min((c for c, _ in caps), key=VERDICTS.index) if caps else "eligible"

    assessed_alleles = [a for a in evidence.alleles if a["status"] != "not assessed"]
    assessed = evidence.apm["assessed"] or bool(assessed_alleles)
    uncertain = [h for h in hits if h["call"] == UNCERTAIN]
    unassessed = [h for h in hits if h["call"] == NOT_ASSESSED_EFFECT]
    skipped = [g["gene"] for g in evidence.apm["genes"] if g["coverage"] == "not assessed"]
    partial = [g["gene"] for g in evidence.apm["genes"]
               if g["coverage"].startswith("annotation only")]
    n_genes = len(evidence.apm["genes"]) - len(skipped)
    parts = []
    if evidence.apm["assessed"]:
        if hits:
            parts.append(f"{len(lof)} likely LoF, {len(uncertain)} uncertain, "
                         f"{len(unassessed)} effect-not-assessed hit(s) in the {n_genes} APM "
                         "genes assessed")
        else:
            parts.append(f"no somatic hit in the {n_genes} APM genes assessed")
        if skipped:
            parts[-1] += f" ({', '.join(skipped)} not assessed)"
        if partial:
            parts[-1] += f" ({', '.join(partial)}: only if the reference annotation has them)"
    else:
        parts.append("APM genes not assessed")
    if assessed_alleles:
        counts = {s: sum(a["status"] == s for a in evidence.alleles) for s in ALLELE_STATUSES}
        parts.append("HLA: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    else:
        parts.append("HLA LOH not assessed")
    notes = [reason for _, reason in caps]
    if dropped:
        notes.append(f"{len(dropped)} variant(s) not counted: their targets are only on lost "
                     "allele(s)")
    if unknown:
        notes.append("HLA LOH of unknown allele at "
                     + ", ".join(sorted({f'HLA-{locus_of(k)}' for k in unknown}))
                     + ": half of those loci's candidates may be lost")
    if unassessed:
        notes.append("variant(s) inside " + ", ".join(sorted({h['gene'] for h in unassessed}))
                     + " whose effect the reference annotation could not assess: check them "
                       "against a full annotation")
    record = {
        "assessed": assessed,
        "apm_how": evidence.apm["how"],
        "apm_hits": hits,
        "apm_genes": evidence.apm["genes"],
        "hla_alleles": evidence.alleles,
        "hla_loh_inputs": evidence.loh_inputs,
        "lost_alleles": sorted(lost),
        "flagged_candidates": flagged,
        "uncounted_variants": dropped,
        "caps": [{"cap": c, "reason": r} for c, r in caps],
        "params": params,
    }
    note = ("A tumour that lost B2M, an HLA allele or the IFN-gamma response cannot present "
            "(all, or that allele's) class I peptides however well they bind. "
            + ("; ".join(notes) + "." if notes else "Nothing found that blocks presentation.")
            + " Sequence and copy-number evidence only; not a measurement of HLA expression.")
    return PresentationJudgement(
        cap=cap if assessed else None,
        status=("pass" if cap == "eligible" else "fail") if assessed else "not assessed",
        display="; ".join(parts), threshold=threshold, note=note, remaining=remaining,
        record=record)
