"""Can this tumour still present class I peptides? Antigen-presentation integrity.

A layer below the eligibility verdict (:mod:`neorank.eligibility`). Research use
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

import gzip
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.config import ROLES, VERDICTS, Presentation, presentation_params  # noqa: F401
from neorank.errors import InputFileError
from neorank.tables import read_table
from neorank.vcf import normalize_contig

ROLE_LABELS = {"b2m": "beta-2-microglobulin", "hla": "HLA class I heavy chain",
               "processing": "peptide transport and loading / class I transcription",
               "ifng": "IFN-gamma signalling"}
ALLELE_STATUSES = ("kept", "lost", "LOH unknown", "not assessed")

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

#: GRCh38 gene spans (contig, start, end: 1-based inclusive) and their sources.
GENE_SPANS_GRCH38: dict[str, tuple[str, int, int, str]] = {
    "B2M": ("15", 44711487, 44718877,
            "Ensembl ENSG00000166710 gene span (as in bcbio-nextgen heterogeneity/loh.py "
            "hg38 coordinates and the Wikipedia/Ensembl gene infobox)"),
    "HLA-A": ("6", 29941260, 29949572,
              "GENCODE v48 gene span (ENSG00000206503; Ensembl shows 6:29941260-29945884 "
              "in older releases, cited in pyensembl's GRCh38 tests)"),
    "HLA-B": ("6", 31353872, 31367067, "GENCODE v48 gene span (ENSG00000234745)"),
    "HLA-C": ("6", 31268749, 31272130, "GENCODE v48 gene span (ENSG00000204525)"),
    "TAP1": ("6", 32845209, 32853816,
             "GENCODE v48 / Ensembl gene span (ENSG00000168394); NCBI RefSeq "
             "NC_000006.12:32845209..32853704"),
    "TAP2": ("6", 32821833, 32838739, "GENCODE v48 gene span (ENSG00000204267)"),
    "NLRC5": ("16", 56989485, 57083531,
              "Ensembl gene span (ENSG00000140853; Ensembl 89 as cited by the Wikipedia "
              "gene infobox)"),
    "JAK1": ("1", 64833223, 65067754, "Ensembl ENSG00000162434.14 gene span"),
    "JAK2": ("9", 4985033, 5128183,
             "Ensembl ENSG00000096968 gene span (one secondary source: a public hg38 "
             "JAK2 filter script; not cross-checked against a second one)"),
    "IFNGR1": ("6", 137197484, 137219449,
               "union of NCBI RefSeq NC_000006.12:137197484..137219385 (GRCh38.p14) and "
               "the Ensembl span 137197485-137219449 (ENSG00000027697)"),
    "STAT1": ("2", 190968989, 191014250,
              "NCBI RefSeq NC_000002.12:190968989..191014250 (GRCh38.p13, annotation "
              "109.20200228; ENSG00000115415)"),
}
#: The HLA class I loci used for copy-number LOH (same spans as above).
HLA_LOCI = {gene.split("-")[1]: GENE_SPANS_GRCH38[gene][:3]
            for gene in ("HLA-A", "HLA-B", "HLA-C")}


def genes_at(chrom: Any, pos: Any, genes: list[str]) -> list[str]:
    """Genes of ``genes`` whose GRCh38 span contains the position."""
    try:
        position = int(pos)
    except (TypeError, ValueError):
        return []
    contig = normalize_contig(chrom)
    return [g for g in genes if g in GENE_SPANS_GRCH38
            and GENE_SPANS_GRCH38[g][0] == contig
            and GENE_SPANS_GRCH38[g][1] <= position <= GENE_SPANS_GRCH38[g][2]]


def reference_gene_names(gtf: str | os.PathLike) -> set[str]:
    """``gene_name`` values of the ``gene`` records of a (gzipped) GTF."""
    opener = gzip.open if str(gtf).endswith(".gz") else open
    names: set[str] = set()
    pattern = re.compile(r'gene_name "([^"]+)"')
    try:
        with opener(gtf, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("#"):
                    continue
                fields = line.split("\t", 8)
                if len(fields) == 9 and fields[2] == "gene":
                    match = pattern.search(fields[8])
                    if match:
                        names.add(match.group(1))
    except OSError as err:
        raise InputFileError(f"cannot read the reference GTF ({err})", where=str(gtf),
                             fix="pass the GTF of the run's reference (--reference-gtf)") from err
    return names


# --------------------------------------------------------------------- alleles

_ALLELE = re.compile(r"^(?:hla[-_])?([a-z]+[0-9]?)[*_]([0-9]{2,3})[:_]([0-9]{2,3})",
                     re.IGNORECASE)


def allele_key(text: Any) -> str | None:
    """Two-field allele name ``HLA-A*02:01`` from NeoRank, LOHHLA/Polysolver
    (``hla_a_02_01_01_01``) or short (``A*02:01``) spellings; None if not an allele."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    match = _ALLELE.match(str(text).strip())
    if not match:
        return None
    locus, first, second = match.groups()
    return f"HLA-{locus.upper()}*{first}:{second}"


def locus_of(key: str | None) -> str | None:
    return key.split("*")[0].removeprefix("HLA-") if key else None


def typed_alleles(alleles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct typed alleles (two-field) with locus, zygosity and expression."""
    seen: dict[str, dict[str, Any]] = {}
    for entry in alleles:
        key = allele_key(entry.get("allele")) or allele_key(entry.get("input"))
        if key is None:
            continue
        name = str(entry.get("input") or entry.get("allele"))
        row = seen.setdefault(key, {"allele": key, "typed_as": name, "locus": locus_of(key),
                                    "typed": 0, "expressed": False})
        row["typed"] += 1
        row["expressed"] |= entry.get("status") != "null_skipped"
    per_locus: dict[str, int] = {}
    for row in seen.values():
        per_locus[row["locus"]] = per_locus.get(row["locus"], 0) + 1
    for row in seen.values():
        row["zygosity"] = "heterozygous" if per_locus[row["locus"]] > 1 else "homozygous"
    return list(seen.values())


# ------------------------------------------------------------------- APM genes


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return None if text in ("", "NA", "nan") else text


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
            "tumor_vaf": _number(row.get("tumor_vaf")), "evidence": evidence}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


# ------------------------------------------------------- allele-specific copy number

_CONTIG = ("chrom", "chr", "chromosome")
_START = ("start", "startpos", "start.pos", "loc.start")
_END = ("end", "endpos", "end.pos", "loc.end")
#: (caller, minor column, total column or None, major column or None)
_ALLELE_CN = (("PURPLE", "minorAlleleCopyNumber", "copyNumber", "majorAlleleCopyNumber"),
              ("ASCAT", "nMinor", None, "nMajor"),
              ("FACETS", "lcn.em", "tcn.em", None),
              ("FACETS", "lcn", "tcn", None),
              ("Sequenza", "B", "CNt", "A"),
              ("table", "minor_copy_number", "copy_number", None),
              ("table", "minor_cn", "total_cn", "major_cn"))


@dataclass(frozen=True)
class AlleleSegments:
    """Allele-specific copy-number segments (or why there are none)."""

    path: str
    caller: str | None = None
    segments: dict[str, list[tuple[int, int, float, float]]] = field(default_factory=dict)
    problem: str | None = None


def _pick(columns: list[str], names: tuple[str, ...] | str | None) -> str | None:
    if names is None:
        return None
    names = (names,) if isinstance(names, str) else names
    exact = {c: c for c in columns}
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in exact:
            return name
    for name in names:
        if len(name) > 1 and name.lower() in lower:
            return lower[name.lower()]
    return None


def read_allele_segments(path: str | os.PathLike) -> AlleleSegments:
    """Segments with total and minor copy number from an ASCAT, FACETS, Sequenza or
    PURPLE segment file (a table without a minor copy number: ``problem`` says why)."""
    where = str(path)
    if not Path(path).is_file():
        raise InputFileError("the copy-number table does not exist", where=where,
                             fix="check the sample sheet's copy_number column")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot parse the copy-number table as TSV ({err})", where=where,
                             fix="give a tab-separated table with a header line") from err
    columns = [str(c) for c in table.columns]
    if "variant_id" in columns:
        return AlleleSegments(where, problem="per-variant copy numbers have no minor allele "
                              "copy number (give ASCAT/FACETS/Sequenza/PURPLE segments)")
    contig, start, end = _pick(columns, _CONTIG), _pick(columns, _START), _pick(columns, _END)
    found = [(name, _pick(columns, minor), _pick(columns, total), _pick(columns, major))
             for name, minor, total, major in _ALLELE_CN]
    found = [f for f in found if f[1] and (f[2] or f[3])]
    if found:
        caller, minor, total, major = found[0]
    else:
        return AlleleSegments(where, problem="no minor (allele-specific) copy-number column "
                              "(ASCAT nMinor, FACETS lcn.em, Sequenza B, PURPLE "
                              "minorAlleleCopyNumber)")
    if not (contig and start and end):
        return AlleleSegments(where, caller=caller, problem="no segment columns "
                              "(chromosome, start, end)")
    segments: dict[str, list[tuple[int, int, float, float]]] = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        try:
            s, e = int(float(row[start])), int(float(row[end]))
        except ValueError as err:
            raise InputFileError(f"segment on data line {line} has start/end "
                                 f"{row[start]!r}/{row[end]!r}", where=where,
                                 fix="write whole-number 1-based positions") from err
        minor_cn = _number(row[minor])
        total_cn = _number(row[total]) if total else None
        if total_cn is None and major and minor_cn is not None and _number(row[major]) is not None:
            total_cn = _number(row[major]) + minor_cn
        segments.setdefault(normalize_contig(row[contig]), []).append(
            (s, e, math.nan if total_cn is None else total_cn,
             math.nan if minor_cn is None else minor_cn))
    return AlleleSegments(where, caller=caller, segments=segments)


def locus_copy_number(segments: AlleleSegments, locus: str
                      ) -> tuple[float, float, list[str]] | None:
    """(lowest total, lowest minor, segment texts) over the HLA locus; None if uncovered."""
    contig, start, end = HLA_LOCI[locus]
    rows = [r for r in segments.segments.get(contig, []) if r[0] <= end and r[1] >= start]
    if not rows:
        return None
    totals = [r[2] for r in rows if not math.isnan(r[2])]
    minors = [r[3] for r in rows if not math.isnan(r[3])]
    texts = [f"{contig}:{r[0]}-{r[1]} total {r[2]:g} minor {r[3]:g}" for r in rows]
    return (min(totals) if totals else math.nan, min(minors) if minors else math.nan, texts)


# ------------------------------------------------------------- allele-specific callers


@dataclass(frozen=True)
class CallerCalls:
    """Per-allele calls of an allele-specific HLA LOH caller."""

    path: str
    tool: str
    calls: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (status, why)
    plain_list: bool = False


def read_hla_loh(path: str | os.PathLike, params: dict[str, Any]) -> CallerCalls:
    """LOHHLA, DASH or a plain list of lost alleles (module docstring)."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputFileError(f"cannot read the HLA LOH file ({err.strerror})", where=where,
                             fix="check the sample sheet's hla_loh column") from err
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    header = numbered[0][1].split("\t") if numbered else []
    if {"HLA_A_type1", "HLA_A_type2", "LossAllele"} <= set(header):
        return _lohhla(path, params)
    if {"Alleles", "DASH_deletion"} <= set(header):
        return _dash(path)
    calls: dict[str, tuple[str, str]] = {}
    for number, line in numbered:
        key = allele_key(line.strip())
        if key is None:
            raise InputFileError(f"line {number} ({line.strip()[:40]!r}) is not an HLA allele",
                                 where=where,
                                 fix="give LOHHLA's HLAlossPrediction_CI table, DASH.output.txt "
                                     "or one lost allele per line (e.g. HLA-A*02:01)")
        calls[key] = ("lost", "listed as lost")
    return CallerCalls(where, "lost-allele list", calls, plain_list=True)


def _lohhla(path: str | os.PathLike, params: dict[str, Any]) -> CallerCalls:
    table = read_table(path)
    pcol = _pick(list(table.columns), "PVal_unique")
    if pcol is None:
        raise InputFileError("LOHHLA table without a PVal_unique column", where=str(path),
                             fix="pass LOHHLA's *.HLAlossPrediction_CI.* output")
    per_allele: dict[str, list[tuple[str, str, str]]] = {}
    for row in table.to_dict("records"):
        region = _text(row.get("region")) or "tumour"
        one, two = allele_key(row["HLA_A_type1"]), allele_key(row["HLA_A_type2"])
        loss = allele_key(row.get("LossAllele"))
        pvalue = _number(row.get(pcol))
        cns = {one: _number(row.get("HLA_type1copyNum_withBAFBin")),
               two: _number(row.get("HLA_type2copyNum_withBAFBin"))}
        for key in (one, two):
            if key is None:
                continue
            cn = cns.get(key)
            cn_text = "NA" if cn is None else f"{cn:.2f}"
            if pvalue is None:
                status, why = "not assessed", "LOHHLA gave no PVal_unique"
            elif pvalue >= params["lohhla_max_pvalue"]:
                status, why = "kept", f"no allelic imbalance (PVal_unique {pvalue:.2g})"
            elif key != loss:
                status, why = "kept", (f"kept allele (imbalance PVal_unique {pvalue:.2g}, "
                                       f"copy number {cn_text})")
            elif cn is None:
                status, why = "LOH unknown", (f"allelic imbalance (PVal_unique {pvalue:.2g}) "
                                              "but no copy number estimated")
            elif cn < params["lohhla_loss_copy_number_below"]:
                status, why = "lost", (f"LossAllele, copy number {cn_text} < "
                                       f"{params['lohhla_loss_copy_number_below']:g}, "
                                       f"PVal_unique {pvalue:.2g}")
            else:
                status, why = "kept", (f"imbalance without loss (copy number {cn_text}, "
                                       f"PVal_unique {pvalue:.2g})")
            per_allele.setdefault(key, []).append((region, status, why))
    calls = {}
    for key, rows in per_allele.items():
        statuses = {s for _, s, _ in rows}
        if len(statuses) == 1:
            status = rows[0][1]
        elif "lost" in statuses:
            status = "LOH unknown"  # lost in some regions only
        else:
            status = "LOH unknown" if "LOH unknown" in statuses else "kept"
        why = "; ".join(f"{r}: {w}" if len(rows) > 1 else w for r, _, w in rows)
        calls[key] = (status, why)
    return CallerCalls(str(path), "LOHHLA", calls)


def _dash(path: str | os.PathLike) -> CallerCalls:
    table = read_table(path)
    calls: dict[str, tuple[str, str]] = {}
    for row in table.to_dict("records"):
        key = allele_key(row.get("Alleles"))
        if key is None:
            continue
        deleted = str(row.get("DASH_deletion")).strip().lower() in ("true", "1")
        confidence = _number(row.get("Confidence"))
        if deleted:
            calls[key] = ("lost", f"DASH_deletion True (confidence {confidence:.2f})"
                          if confidence is not None else "DASH_deletion True")
        elif confidence is not None and confidence < 0:
            calls[key] = ("not assessed", "DASH skipped the locus (homozygous or too few "
                          "mismatch sites)")
        else:
            calls[key] = ("kept", "DASH_deletion False")
    return CallerCalls(str(path), "DASH", calls)


# ---------------------------------------------------------------- per-allele status


def hla_status(alleles: list[dict[str, Any]], params: dict[str, Any],
               segments: AlleleSegments | None = None,
               caller: CallerCalls | None = None) -> list[dict[str, Any]]:
    """One row per distinct typed allele: ``status`` in :data:`ALLELE_STATUSES`."""
    rows = []
    for row in typed_alleles(alleles):
        status, source, evidence = _allele_call(row, params, segments, caller)
        rows.append({**row, "status": status, "source": source, "evidence": evidence})
    return rows


def _allele_call(row: dict[str, Any], params: dict[str, Any], segments: AlleleSegments | None,
                 caller: CallerCalls | None) -> tuple[str, str | None, str]:
    """(status, source, evidence) of one typed allele; the caller wins over segments."""
    key, locus = row["allele"], row["locus"]
    homozygous = row["zygosity"] == "homozygous"
    if caller is not None and caller.calls.get(key, ("not assessed",))[0] != "not assessed":
        return caller.calls[key][0], caller.tool, caller.calls[key][1]
    if caller is not None and caller.plain_list and locus in HLA_LOCI:
        return "kept", caller.tool, "not in the lost-allele list"
    if locus not in HLA_LOCI:
        return "not assessed", None, f"HLA-{locus} is not a class I locus checked for LOH"
    problem = "no HLA LOH evidence given"
    if segments is not None and segments.problem is None:
        covered = locus_copy_number(segments, locus)
        if covered is not None:
            threshold = params["loh_minor_copy_number_below"]
            total, minor, texts = covered
            where = f"{segments.caller} segments " + "; ".join(texts)
            source = f"{segments.caller} segments"
            if not math.isnan(total) and total < threshold:
                return "lost", source, f"homozygous deletion ({where})"
            if math.isnan(minor):
                problem = f"no minor copy number ({where})"
            elif minor < threshold and homozygous:
                return "kept", source, ("homozygous locus: no LOH to call (a copy of the same "
                                        f"allele remains; {where})")
            elif minor < threshold:
                return "LOH unknown", source, f"HLA LOH, lost allele unknown ({where})"
            else:
                return "kept", source, f"no LOH ({where})"
        else:
            problem = f"no segment of {segments.path} covers HLA-{locus}"
    elif segments is not None:
        problem = segments.problem or problem
    if caller is not None and homozygous:
        return "kept", caller.tool, "homozygous locus: no LOH to call"
    if caller is not None and key in caller.calls:
        return "not assessed", caller.tool, caller.calls[key][1]
    if caller is not None:
        problem = f"{caller.tool} has no call for this allele"
    return "not assessed", None, problem


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
