"""GRCh38 spans of the antigen-presentation genes and the HLA class I loci.

A layer used by the antigen-presentation check (:mod:`neorank.presentation_integrity`)
and the HLA loss-of-heterozygosity readers (:mod:`neorank.hla_loh`), so both work on a
variant's coordinates when the annotation reference lacks the gene.
"""

from __future__ import annotations

import gzip
import os
import re
from typing import Any

from neorank.errors import InputFileError
from neorank.vcf import normalize_contig

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
