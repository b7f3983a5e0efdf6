#!/usr/bin/env python
"""End-to-end benchmark: the whole workflow against raw MHCflurry ``predict``.

Two parts:

* a **deterministic synthetic cohort generator**: a synthetic genome with
  realistic gene structures (multi-exon protein-coding transcripts on both
  strands, 5' and 3' UTRs, GT..AG introns, CDS lengths drawn around the human
  median, some genes with an exon-skipping second isoform), written as an
  Ensembl-style GTF, a genome FASTA (+ .fai), a cDNA FASTA and a peptide
  FASTA (the layout :func:`neorank.reference.load_local_genome` reads), and a
  Mutect2-style paired tumour/normal VCF (bgzipped + tabix, written with
  pysam) holding N coding variants (mostly SNVs, some 1-3 bp indels), typed
  with 6 HLA alleles the embedded models are calibrated for;
* a **runner**: Snakemake on a generated config and sample sheet in a work
  folder (prediction cache disabled, so every prediction is really made),
  then, in the same run, raw MHCflurry ``Class1AffinityPredictor.predict`` on
  the same unique peptide x allele set (every mutant and wildtype peptide of
  the produced peptides.tsv x the 6 alleles, the same model folder). It
  reports wall time and peak memory of both and the per-rule benchmark
  figures Snakemake wrote, and ends with a line holding
  ``ratio=<end-to-end / raw predict>``::

      python scripts/benchmark.py --variants 1000
      python scripts/benchmark.py --variants 1000,10000      # also the scaling
      python scripts/benchmark.py --variants 1000 --generate-only --workdir /tmp/c1k

The same ``--seed`` and ``--variants`` give byte-identical cohort files.
Measurements on a shared machine are noisy: run more than once.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import neorank  # noqa: F401 - first: importing neorank pins numpy's CPU kernels

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EMBEDDED_MODELS = ROOT / "resources" / "mhcflurry" / "embedded"

#: Six alleles with training data and percentile calibration in the embedded
#: models (resources/mhcflurry/embedded/calibrated_alleles.csv), two per locus.
ALLELES = ["HLA-A*01:01", "HLA-A*02:01", "HLA-B*07:02", "HLA-B*08:01", "HLA-C*07:01",
           "HLA-C*04:01"]
TUMOR, NORMAL = "TUMOR", "NORMAL"
BASES = "ACGT"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
STOP_CODONS = ("TAA", "TAG", "TGA")
SENSE_CODONS = [a + b + c for a in BASES for b in BASES for c in BASES
                if a + b + c not in STOP_CODONS]
CODON_TABLE = {
    a + b + c: aa for (a, b, c), aa in zip(
        ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG", strict=True)}
#: Mutect2 FILTER values given to the few records that do not pass.
FAIL_FILTERS = ("weak_evidence", "germline", "normal_artifact", "strand_bias")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def translate(cds: str) -> str:
    return "".join(CODON_TABLE[cds[i:i + 3]] for i in range(0, len(cds) - 2, 3))


# --------------------------------------------------------------------------- reference
@dataclass
class Transcript:
    """One protein-coding transcript of the synthetic reference.

    ``exons`` are 0-based half-open genomic intervals in transcript order
    (5' to 3'); ``cds_start``/``cds_end`` are 0-based half-open offsets in the
    spliced cDNA, from the A of ATG to the end of the stop codon.
    """

    transcript_id: str
    protein_id: str
    gene_id: str
    gene_name: str
    contig: str
    strand: str
    exons: list[tuple[int, int]]
    cdna: str
    cds_start: int
    cds_end: int

    @property
    def cds(self) -> str:
        return self.cdna[self.cds_start:self.cds_end]

    @property
    def protein(self) -> str:
        return translate(self.cds[:-3])

    def genomic(self, offset: int) -> int:
        """0-based genomic position of a 0-based cDNA offset."""
        for start, end in self.exons:
            size = end - start
            if offset < size:
                return start + offset if self.strand == "+" else end - 1 - offset
            offset -= size
        raise IndexError(offset)

    def pieces(self, first: int, last: int) -> list[tuple[int, int]]:
        """Genomic 0-based half-open pieces covering cDNA offsets [first, last)."""
        out = []
        offset = 0
        for start, end in self.exons:
            size = end - start
            lo, hi = max(first, offset), min(last, offset + size)
            if lo < hi:
                if self.strand == "+":
                    out.append((start + lo - offset, start + hi - offset))
                else:
                    out.append((end - (hi - offset), end - (lo - offset)))
            offset += size
        return out


@dataclass
class Reference:
    contigs: dict[str, str]
    transcripts: list[Transcript] = field(default_factory=list)


def _random_seq(rng: np.random.RandomState, n: int) -> str:
    return "".join(np.asarray(list(BASES))[rng.randint(0, 4, size=n)])


def _lognormal_int(rng, median: float, sigma: float, low: int, high: int) -> int:
    return int(np.clip(round(rng.lognormal(np.log(median), sigma)), low, high))


def _exon_cuts(rng, cdna_len: int, cds_start: int, cds_end: int, n_exons: int) -> list[int]:
    """Exon boundaries in cDNA offsets; start and stop codons are never split."""
    forbidden = {cds_start + 1, cds_start + 2, cds_end - 2, cds_end - 1}
    cuts: set[int] = set()
    tries = 0
    while len(cuts) < n_exons - 1 and tries < 50 * n_exons:
        tries += 1
        cut = int(rng.randint(30, cdna_len - 30))
        if cut in forbidden or any(abs(cut - c) < 30 for c in cuts):
            continue
        cuts.add(cut)
    return sorted(cuts)


def make_reference(n_genes: int = 2000, n_contigs: int = 4, seed: int = 1) -> Reference:
    """A synthetic genome and its protein-coding annotation.

    Gene structures follow human summary figures (scaled introns keep the
    genome small): CDS length lognormal around 1.2 kb (clipped 240 bp-9 kb),
    5' UTR ~150 bp, 3' UTR ~700 bp, about one exon per 250 bp of cDNA, introns
    lognormal around 1.2 kb with GT..AG ends, 2-10 kb between genes, strands
    50/50, and about a quarter of the genes with a second isoform that skips
    one internal coding exon (in frame).
    """
    rng = np.random.RandomState(seed)
    pieces: dict[str, list[str]] = {str(c + 1): [] for c in range(n_contigs)}
    lengths = dict.fromkeys(pieces, 0)
    transcripts = []
    for g in range(n_genes):
        contig = str(g % n_contigs + 1)
        strand = "+" if rng.rand() < 0.5 else "-"
        n_codons = _lognormal_int(rng, 400, 0.6, 80, 3000)
        body = "".join(SENSE_CODONS[i] for i in rng.randint(0, len(SENSE_CODONS), n_codons - 1))
        cds = "ATG" + body + STOP_CODONS[rng.randint(0, 3)]
        utr5 = _random_seq(rng, _lognormal_int(rng, 150, 0.6, 20, 800))
        utr3 = _random_seq(rng, _lognormal_int(rng, 700, 0.7, 60, 4000))
        cdna = utr5 + cds + utr3
        cds_start, cds_end = len(utr5), len(utr5) + len(cds)
        n_exons = max(2, int(rng.poisson(len(cdna) / 250)))
        cuts = _exon_cuts(rng, len(cdna), cds_start, cds_end, n_exons)
        bounds = [0, *cuts, len(cdna)]
        exon_seqs = [cdna[a:b] for a, b in pairwise(bounds)]
        introns = ["GT" + _random_seq(rng, _lognormal_int(rng, 1200, 0.9, 80, 15000) - 4) + "AG"
                   for _ in exon_seqs[1:]]
        pre_mrna_parts, exon_local = [], []
        cursor = 0
        for i, seq in enumerate(exon_seqs):
            exon_local.append((cursor, cursor + len(seq)))
            pre_mrna_parts.append(seq)
            cursor += len(seq)
            if i < len(introns):
                pre_mrna_parts.append(introns[i])
                cursor += len(introns[i])
        pre_mrna = "".join(pre_mrna_parts)
        spacer = _random_seq(rng, int(rng.randint(2000, 10000)))
        pieces[contig].append(spacer)
        gene_start = lengths[contig] + len(spacer)
        span = len(pre_mrna)
        pieces[contig].append(pre_mrna if strand == "+" else revcomp(pre_mrna))
        lengths[contig] = gene_start + span
        if strand == "+":
            exons = [(gene_start + a, gene_start + b) for a, b in exon_local]
        else:
            exons = [(gene_start + span - b, gene_start + span - a) for a, b in exon_local]
        gene_id, name = f"SYNG{g + 1:07d}", f"SYN{g + 1}"
        transcripts.append(Transcript(f"SYNT{g + 1:07d}1", f"SYNP{g + 1:07d}1", gene_id, name,
                                      contig, strand, exons, cdna, cds_start, cds_end))
        if rng.rand() < 0.3:
            iso = _skip_exon_isoform(rng, transcripts[-1], g)
            if iso is not None:
                transcripts.append(iso)
    for contig in pieces:
        pieces[contig].append(_random_seq(rng, 5000))
    return Reference({c: "".join(p) for c, p in pieces.items()}, transcripts)


def _skip_exon_isoform(rng, tx: Transcript, g: int) -> Transcript | None:
    """Isoform 2: skip one internal, fully coding exon whose length keeps the frame."""
    offsets, offset = [], 0
    for start, end in tx.exons:
        offsets.append((offset, offset + end - start))
        offset += end - start
    candidates = [i for i, (a, b) in enumerate(offsets)
                  if 0 < i < len(offsets) - 1 and a > tx.cds_start + 3 and b < tx.cds_end - 3
                  and (b - a) % 3 == 0]
    if not candidates:
        return None
    i = candidates[rng.randint(0, len(candidates))]
    a, b = offsets[i]
    cdna = tx.cdna[:a] + tx.cdna[b:]
    iso = Transcript(tx.transcript_id[:-1] + "2", tx.protein_id[:-1] + "2", tx.gene_id,
                     tx.gene_name, tx.contig, tx.strand, tx.exons[:i] + tx.exons[i + 1:], cdna,
                     tx.cds_start, tx.cds_end - (b - a))
    if "*" in iso.protein:  # a stop codon formed at the new junction
        return None
    return iso


def _gz_writer(path: Path):
    """gzip text writer with a fixed header (no file name, mtime 0): deterministic bytes."""
    raw = open(path, "wb")
    return raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)


def _write_gz(path: Path, lines) -> None:
    raw, gz = _gz_writer(path)
    with raw, gz:
        for line in lines:
            gz.write(line.encode("ascii"))


def _fasta(header: str, seq: str, width: int = 60):
    yield f">{header}\n"
    for i in range(0, len(seq), width):
        yield seq[i:i + width] + "\n"


def _gtf_attrs(tx: Transcript, level: str, exon_number: int | None = None) -> str:
    attrs = [("gene_id", tx.gene_id), ("gene_version", "1")]
    if level != "gene":
        attrs += [("transcript_id", tx.transcript_id), ("transcript_version", "1")]
    if exon_number is not None:
        attrs.append(("exon_number", str(exon_number)))
    attrs += [("gene_name", tx.gene_name), ("gene_source", "synthetic"),
              ("gene_biotype", "protein_coding")]
    if level != "gene":
        attrs += [("transcript_name", f"{tx.gene_name}-00{tx.transcript_id[-1]}"),
                  ("transcript_source", "synthetic"), ("transcript_biotype", "protein_coding")]
    if level == "exon":
        attrs.append(("exon_id", f"{tx.transcript_id.replace('SYNT', 'SYNE')}{exon_number:03d}"))
    if level == "cds":
        attrs += [("protein_id", tx.protein_id), ("protein_version", "1")]
    return " ".join(f'{k} "{v}";' for k, v in attrs)


def gtf_lines(ref: Reference):
    """Ensembl-style GTF rows (gene, transcript, exon, CDS, codons, UTRs), 1-based."""
    yield "#!genome-build SYNTH-1\n#!genome-version SYNTH\n"
    by_gene: dict[str, list[Transcript]] = {}
    for tx in ref.transcripts:
        by_gene.setdefault(tx.gene_id, []).append(tx)
    order = sorted(by_gene, key=lambda gid: (int(by_gene[gid][0].contig),
                                             min(s for s, _ in by_gene[gid][0].exons)))
    for gid in order:
        txs = by_gene[gid]
        first = txs[0]
        lo = min(s for tx in txs for s, _ in tx.exons)
        hi = max(e for tx in txs for _, e in tx.exons)

        def row(feature, start0, end0, tx, level, frame=".", exon_number=None):
            return (f"{tx.contig}\tsynthetic\t{feature}\t{start0 + 1}\t{end0}\t.\t{tx.strand}\t"
                    f"{frame}\t{_gtf_attrs(tx, level, exon_number)}\n")

        yield row("gene", lo, hi, first, "gene")
        for tx in txs:
            yield row("transcript", min(s for s, _ in tx.exons), max(e for _, e in tx.exons),
                      tx, "transcript")
            cds_pieces = tx.pieces(tx.cds_start, tx.cds_end - 3)
            coding_before = 0
            offset = 0
            for number, (start, end) in enumerate(tx.exons, 1):
                yield row("exon", start, end, tx, "exon", exon_number=number)
                size = end - start
                lo_c, hi_c = max(tx.cds_start, offset), min(tx.cds_end - 3, offset + size)
                if lo_c < hi_c:
                    piece = tx.pieces(lo_c, hi_c)[0]
                    yield row("CDS", *piece, tx, "cds", frame=str((3 - coding_before % 3) % 3),
                              exon_number=number)
                    coding_before += hi_c - lo_c
                if offset <= tx.cds_start < offset + size:
                    yield row("start_codon", *tx.pieces(tx.cds_start, tx.cds_start + 3)[0], tx,
                              "transcript", frame="0", exon_number=number)
                if offset <= tx.cds_end - 3 < offset + size:
                    yield row("stop_codon", *tx.pieces(tx.cds_end - 3, tx.cds_end)[0], tx,
                              "transcript", frame="0", exon_number=number)
                offset += size
            assert coding_before == sum(e - s for s, e in cds_pieces)
            for start, end in tx.pieces(0, tx.cds_start):
                yield row("five_prime_utr", start, end, tx, "transcript")
            for start, end in tx.pieces(tx.cds_end, len(tx.cdna)):
                yield row("three_prime_utr", start, end, tx, "transcript")


def _location(tx: Transcript) -> str:
    lo = min(s for s, _ in tx.exons) + 1
    hi = max(e for _, e in tx.exons)
    return f"chromosome:SYNTH:{tx.contig}:{lo}:{hi}:{1 if tx.strand == '+' else -1}"


def write_reference(ref: Reference, outdir: Path) -> dict[str, Path]:
    """Write genome FASTA (+ .fai), GTF, cDNA and peptide FASTA; returns their paths."""
    import pysam

    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"genome": outdir / "genome.fa", "gtf": outdir / "reference.gtf.gz",
             "cdna": outdir / "reference.cdna.fa.gz", "pep": outdir / "reference.pep.fa.gz"}
    with open(paths["genome"], "w") as handle:
        for contig, seq in ref.contigs.items():
            handle.writelines(_fasta(contig, seq))
    pysam.faidx(str(paths["genome"]))
    _write_gz(paths["gtf"], gtf_lines(ref))
    desc = "gene_biotype:protein_coding transcript_biotype:protein_coding"
    _write_gz(paths["cdna"], (
        line for tx in ref.transcripts for line in _fasta(
            f"{tx.transcript_id}.1 cdna {_location(tx)} gene:{tx.gene_id}.1 {desc} "
            f"gene_symbol:{tx.gene_name}", tx.cdna)))
    _write_gz(paths["pep"], (
        line for tx in ref.transcripts for line in _fasta(
            f"{tx.protein_id}.1 pep {_location(tx)} gene:{tx.gene_id}.1 "
            f"transcript:{tx.transcript_id}.1 {desc} gene_symbol:{tx.gene_name}", tx.protein)))
    return paths


# --------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class SyntheticVariant:
    contig: str          # genome (Ensembl-style) contig name, e.g. "1"
    pos: int             # 1-based VCF position
    ref: str
    alt: str
    transcript_id: str
    filter: str
    tumor_depth: int
    tumor_alt: int
    normal_depth: int


def make_variants(ref: Reference, n: int, seed: int = 2, snv_fraction: float = 0.9,
                  pass_fraction: float = 0.97) -> list[SyntheticVariant]:
    """``n`` coding variants on the first isoform of random genes (weighted by CDS length).

    SNVs (``snv_fraction``) and otherwise 1-3 bp deletions or insertions
    inside one coding exon (never the start or stop codon). Positions never
    repeat or overlap. Tumour depth 40-250 with VAF ~ Beta(2, 5) (at least 3
    alt reads), normal depth 30-150 with no alt reads; ``pass_fraction`` of
    the records carry FILTER PASS, the rest one Mutect2 filter.
    """
    rng = np.random.RandomState(seed)
    primary = [tx for tx in ref.transcripts if tx.transcript_id.endswith("1")]
    weights = np.array([tx.cds_end - tx.cds_start - 6 for tx in primary], dtype=float)
    weights /= weights.sum()
    used: set[tuple[str, int]] = set()
    out: list[SyntheticVariant] = []
    while len(out) < n:
        tx = primary[rng.choice(len(primary), p=weights)]
        genome = ref.contigs[tx.contig]
        offset = int(rng.randint(tx.cds_start + 3, tx.cds_end - 3))
        kind = "snv" if rng.rand() < snv_fraction else ("del" if rng.rand() < 0.5 else "ins")
        size = int(rng.choice([1, 2, 3], p=[0.6, 0.2, 0.2]))
        pieces = tx.pieces(tx.cds_start + 3, tx.cds_end - 3)
        g = tx.genomic(offset)
        piece = next(p for p in pieces if p[0] <= g < p[1])
        if kind == "snv":
            start, span = g, 1
            ref_allele = genome[g]
            alt = BASES[(BASES.index(ref_allele) + 1 + int(rng.randint(0, 3))) % 4]
        elif kind == "del":
            start, span = g - 1, size + 1  # anchor base then the deleted bases
            if start < piece[0] or start + span > piece[1]:
                continue
            ref_allele = genome[start:start + span]
            alt = ref_allele[0]
        else:
            start, span = g, 2  # insertion between g and g+1, both coding in one exon
            if start + span > piece[1]:
                continue
            ref_allele = genome[g]
            alt = ref_allele + _random_seq(rng, size)
        if any((tx.contig, p) in used for p in range(start - 1, start + span + 1)):
            continue
        used.update((tx.contig, p) for p in range(start, start + span))
        depth = int(rng.randint(40, 251))
        vaf = float(rng.beta(2, 5))
        alt_reads = max(3, int(round(depth * vaf)))
        filt = "PASS" if rng.rand() < pass_fraction else FAIL_FILTERS[rng.randint(0, 4)]
        out.append(SyntheticVariant(tx.contig, start + 1, ref_allele, alt, tx.transcript_id,
                                    filt, depth, alt_reads, int(rng.randint(30, 151))))
    out.sort(key=lambda v: (int(v.contig), v.pos))
    return out


def write_vcf(variants: list[SyntheticVariant], ref: Reference, path: Path,
              chr_prefix: str = "chr") -> Path:
    """Mutect2-style paired VCF (TUMOR, NORMAL; GT:AD:AF:DP), bgzipped and tabix-indexed."""
    import pysam

    header = pysam.VariantHeader()
    header.add_line("##source=NeoRank scripts/benchmark.py (synthetic cohort)")
    header.add_line("##neorank_synthetic=genome, genes, variants and read counts are synthetic")
    header.add_line("##reference=SYNTH")
    for contig, seq in ref.contigs.items():
        header.contigs.add(chr_prefix + contig, length=len(seq))
    for name, desc in [("weak_evidence", "Mutation does not meet likelihood threshold"),
                       ("germline", "Evidence indicates this site is germline, not somatic"),
                       ("normal_artifact", "artifact_in_normal"),
                       ("strand_bias", "Evidence for alt allele comes from one read direction "
                                       "only")]:
        header.filters.add(name, None, None, desc)
    header.info.add("DP", 1, "Integer", "Approximate read depth (synthetic)")
    header.info.add("TLOD", "A", "Float", "Log 10 likelihood ratio score of variant existing "
                                          "versus not existing (synthetic)")
    header.formats.add("GT", 1, "String", "Genotype")
    header.formats.add("AD", "R", "Integer", "Allelic depths for the ref and alt alleles in "
                                             "the order listed")
    header.formats.add("AF", "A", "Float", "Allele fractions of alternate alleles in the tumor")
    header.formats.add("DP", 1, "Integer", "Approximate read depth")
    header.add_line(f"##tumor_sample={TUMOR}")
    header.add_line(f"##normal_sample={NORMAL}")
    header.add_sample(TUMOR)
    header.add_sample(NORMAL)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pysam.VariantFile(str(path), "wz", header=header) as out:
        for v in variants:
            rec = out.new_record(contig=chr_prefix + v.contig, start=v.pos - 1,
                                 alleles=(v.ref, v.alt), filter=v.filter)
            rec.info["DP"] = v.tumor_depth + v.normal_depth
            rec.info["TLOD"] = (round(v.tumor_alt * 0.9, 2),)
            tumor, normal = rec.samples[TUMOR], rec.samples[NORMAL]
            tumor["GT"], normal["GT"] = (0, 1), (0, 0)
            tumor["AD"] = (v.tumor_depth - v.tumor_alt, v.tumor_alt)
            tumor["AF"] = (round(v.tumor_alt / v.tumor_depth, 3),)
            tumor["DP"] = v.tumor_depth
            normal["AD"] = (v.normal_depth, 0)
            normal["AF"] = (0.0,)
            normal["DP"] = v.normal_depth
            out.write(rec)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def generate_cohort(outdir: Path, n_variants: int, *, n_genes: int = 2000, seed: int = 1
                    ) -> dict[str, Path]:
    """Reference + VCF + HLA typing in ``outdir``; returns the file paths."""
    ref = make_reference(n_genes=n_genes, seed=seed)
    paths = write_reference(ref, outdir / "reference")
    variants = make_variants(ref, n_variants, seed=seed + 1)
    paths["vcf"] = write_vcf(variants, ref, outdir / f"synthetic{n_variants}.paired.vcf.gz")
    paths["hla"] = outdir / "hla.txt"
    paths["hla"].write_text("\n".join(ALLELES) + "\n")
    return paths


# --------------------------------------------------------------------------- runner
def write_run_dir(workdir: Path, sample: str, cohort: dict[str, Path], *, shards: int,
                  numerics: str = "portable") -> None:
    """config/config.yaml (project defaults, synthetic reference, no cache) + samples.tsv."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["samples"] = "config/samples.tsv"
    config["reference"].update(source="local", name="SYNTH-benchmark", release=87,
                               gtf=str(cohort["gtf"]), cdna=str(cohort["cdna"]),
                               pep=str(cohort["pep"]),
                               cache_dir=str(workdir / "cache" / "reference"))
    config["mhcflurry"].update(models="embedded", embedded_dir=str(EMBEDDED_MODELS),
                               shards=shards, numerics=numerics, cache="")
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    columns = ["sample", "hla_alleles", "paired_vcf", "tumor_sample", "normal_sample",
               "tumor_vcf", "normal_vcf", "purity", "expression"]
    row = [sample, str(cohort["hla"]), str(cohort["vcf"]), TUMOR, NORMAL, "", "", "0.7", ""]
    (workdir / "config" / "samples.tsv").write_text(
        "\t".join(columns) + "\n" + "\t".join(row) + "\n")


class TreeMemory:
    """Samples the summed RSS of a process and its descendants (needs psutil)."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.peak = 0
        self._stop = threading.Event()
        try:
            import psutil
        except ImportError:  # pragma: no cover
            self._thread = None
            return
        self._proc = psutil.Process(pid)
        self._psutil = psutil
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except self._psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except self._psutil.Error:
                break
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak


def timed(cmd: list[str], log_path: Path, env: dict | None = None,
          time_limit: float | None = None) -> dict:
    """Run ``cmd``; wall time, max RSS of the largest process (wait4) and of the tree.

    ``time_limit`` (seconds): the command is killed when it runs longer; the figures
    are then those at the limit and ``finished`` is False (otherwise True)."""
    with open(log_path, "w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=time_limit is not None)
        tree = TreeMemory(proc.pid)
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            os.killpg(proc.pid, 9)

        timer = threading.Timer(time_limit, stop) if time_limit else None
        if timer is not None:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if timer is not None:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    tree_peak = tree.stop()
    if proc.returncode != 0 and not stopped.is_set():
        tail = log_path.read_text()[-6000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mib": usage.ru_maxrss / 1024,
            "tree_peak_rss_mib": tree_peak / 2**20, "finished": not stopped.is_set()}


def rule_breakdown(workdir: Path) -> list[dict]:
    """Per-rule totals from the benchmark TSVs Snakemake wrote (s, max_rss)."""
    import pandas as pd

    rows = []
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(workdir / "benchmarks").parts[0]
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule, "s": float(table["s"].iloc[0]),
                     "cpu": float(pd.to_numeric(table["cpu_time"], errors="coerce").iloc[0]),
                     "max_rss": float(pd.to_numeric(table["max_rss"], errors="coerce").iloc[0])})
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["rule"], {"rule": row["rule"], "jobs": 0, "sum_s": 0.0,
                                             "max_s": 0.0, "cpu_s": 0.0, "max_rss_mib": 0.0})
        entry["jobs"] += 1
        entry["sum_s"] += row["s"]
        entry["max_s"] = max(entry["max_s"], row["s"])
        entry["cpu_s"] += row["cpu"] if row["cpu"] == row["cpu"] else 0.0
        entry["max_rss_mib"] = max(entry["max_rss_mib"], row["max_rss"] or 0.0)
    return sorted(out.values(), key=lambda r: -r["sum_s"])


def predict_ratios(breakdown: list[dict], raw: dict) -> dict:
    """The predict stage against the raw cartesian call in the same (portable) arithmetic.

    ``predict_vs_raw_one_thread``: the shards (one torch thread each), summed, against the
    call on one thread - the issue's "shards summed". ``predict_elapsed_vs_raw``: the
    longest shard against the call on the run's cores; the shards start together (both
    wait only for peptides.tsv), so the longest is the stage's elapsed time.
    """
    predict = next((r for r in breakdown if r["rule"] == "predict"), None)
    one, cores = raw.get("cartesian_portable_1thread_s"), raw.get("cartesian_portable_s")
    return {"predict_vs_raw_one_thread": predict["sum_s"] / one if predict and one else None,
            "predict_elapsed_vs_raw": predict["max_s"] / cores if predict and cores else None}


def raw_predict(args: argparse.Namespace) -> int:
    """Hidden subcommand: raw MHCflurry predict on every unique peptide x allele."""
    started = time.perf_counter()
    import pandas as pd
    from mhcflurry import Class1AffinityPredictor

    predictor = Class1AffinityPredictor.load(str(args.models))
    loaded = time.perf_counter()
    table = pd.read_csv(args.peptides, sep="\t", usecols=["mutant_peptide", "wildtype_peptide"],
                        dtype=str, keep_default_na=False, na_values=["NA"])
    unique = sorted(set(table["mutant_peptide"]) | set(table["wildtype_peptide"].dropna()))
    alleles = args.alleles.split(",")
    peptides = np.array(unique * len(alleles), dtype=object)
    allele_column = np.repeat(np.array(alleles, dtype=object), len(unique))
    read = time.perf_counter()
    result = {"unique_peptides": len(unique), "alleles": len(alleles),
              "pairs": len(unique) * len(alleles), "load_s": loaded - started,
              "read_s": read - loaded}
    if args.api in ("predict", "both"):
        cpu = time.process_time()
        values = predictor.predict(peptides=peptides, alleles=allele_column)
        result["predict_s"] = time.perf_counter() - read
        result["predict_cpu_s"] = time.process_time() - cpu
        result["binders_500nm"] = int((np.asarray(values) <= 500).sum())
    if args.api in ("cartesian", "both"):
        # MHCflurry's own fastest path for a merged pan-allele ensemble (what neorank uses).
        begin, cpu = time.perf_counter(), time.process_time()
        matrix = predictor.predict_cartesian_pan_allele(unique, alleles)
        result["cartesian_s"] = time.perf_counter() - begin
        result["cartesian_cpu_s"] = time.process_time() - cpu
        if matrix is not None and "binders_500nm" in result:
            flat = np.asarray(matrix).T.reshape(-1)
            result["max_rel_diff_vs_predict"] = float(
                np.max(np.abs(flat - np.asarray(values)) / np.asarray(values)))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _s(value, unit=" s") -> str:
    return "NA" if value is None else f"{value:.1f}{unit}"


def snakemake_start(env: dict) -> dict:
    """Seconds to import Snakemake's API (what every ``snakemake`` call pays before its
    first job) and whether a Slurm controller answers.

    Snakemake imports every installed executor plugin at start; the Slurm plugin (2.8)
    runs ``scontrol show config`` then, which waits about 9 s when Slurm's client tools
    are installed but no controller answers (measured on this machine after
    ``scripts/local_slurm.sh stop``; 0.9 s with the controller up).
    """
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "python"), "-c", "import snakemake.api"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result: dict = {"import_s": time.perf_counter() - t0, "slurm_controller": None}
    scontrol = shutil.which("scontrol", path=env.get("PATH"))
    if scontrol:
        try:
            ping = subprocess.run([scontrol, "ping"], env=env, capture_output=True,
                                  text=True, timeout=30)
            result["slurm_controller"] = ping.returncode == 0 and " is UP" in ping.stdout
        except subprocess.TimeoutExpired:
            result["slurm_controller"] = False
    return result


def run_one(n_variants: int, args: argparse.Namespace) -> dict:
    workdir = (args.workdir or Path(f"/tmp/neorank-benchmark-{n_variants}")).resolve()
    if (workdir / "results").exists() and not args.generate_only:
        raise SystemExit(f"{workdir} holds a previous run: remove it or pass another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    progress = print if not args.quiet else (lambda *a, **k: None)
    t0 = time.perf_counter()
    cohort = generate_cohort(workdir / "cohort", n_variants, n_genes=args.genes, seed=args.seed)
    progress(f"[{n_variants}] cohort generated in {time.perf_counter() - t0:.1f} s: "
             f"{cohort['vcf']}", flush=True)
    sample = f"synthetic{n_variants}"
    write_run_dir(workdir, sample, cohort, shards=args.shards, numerics=args.numerics)
    if args.generate_only:
        return {"variants": n_variants, "workdir": str(workdir)}
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    snake = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow" / "Snakefile"),
             "--directory", str(workdir), "--cores", str(args.cores)]
    start = snakemake_start(env)
    progress(f"[{n_variants}] Snakemake's import takes {start['import_s']:.1f} s"
             + ("" if start["slurm_controller"] is not False else
                " (Slurm's client tools are installed but no controller answers: the Slurm "
                "executor plugin waits for `scontrol show config` at every start)"),
             flush=True)
    progress(f"[{n_variants}] workflow: {' '.join(snake)}", flush=True)
    e2e = timed(snake, workdir / "snakemake.log", env)
    progress(f"[{n_variants}] workflow done in {e2e['wall_s']:.1f} s", flush=True)
    raw_json = workdir / "raw_predict.json"
    raw_cmd = [sys.executable, str(Path(__file__).resolve()), "raw-predict",
               "--peptides", str(workdir / "results" / sample / "peptides.tsv"),
               "--alleles", ",".join(ALLELES), "--models", str(EMBEDDED_MODELS),
               "--out", str(raw_json), "--api", args.raw_api]
    raw = timed(raw_cmd, workdir / "raw_predict.log", env)
    raw.update(json.loads(raw_json.read_text()))
    progress(f"[{n_variants}] raw MHCflurry done: predict {raw.get('predict_s', 'NA')}, "
             f"cartesian {raw.get('cartesian_s', 'NA')}, process {raw['wall_s']:.1f} s",
             flush=True)
    if args.numerics == "portable" and args.raw_api in ("cartesian", "both"):
        # The same call in the workflow's arithmetic (MKL COMPATIBLE, ATen baseline kernels),
        # on all cores and, as each predict shard runs it, on one thread.
        from neorank.models import PORTABLE_NUMERICS

        for key, threads in (("cartesian_portable", {}),
                             ("cartesian_portable_1thread",
                              {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})):
            same_json = workdir / f"raw_predict_{key}.json"
            same_cmd = raw_cmd[:raw_cmd.index("--out")] + ["--out", str(same_json), "--api",
                                                            "cartesian"]
            same = timed(same_cmd, workdir / f"raw_predict_{key}.log",
                         dict(env, **PORTABLE_NUMERICS, **threads))
            same.update(json.loads(same_json.read_text()))
            raw[f"{key}_s"] = same["cartesian_s"]
            raw[f"{key}_cpu_s"] = same["cartesian_cpu_s"]
            progress(f"[{n_variants}] raw cartesian call in the workflow's portable arithmetic"
                     f"{', one thread' if threads else ''}: {same['cartesian_s']:.1f} s",
                     flush=True)
    breakdown = rule_breakdown(workdir)
    result = {"variants": n_variants, "workdir": str(workdir), "cores": args.cores,
              "shards": args.shards, "numerics": args.numerics, "snakemake_start": start, "e2e": e2e, "raw": raw,
              "rules": breakdown,
              "ratio": e2e["wall_s"] / raw.get("predict_s", raw.get("cartesian_s")),
              "ratio_vs_cartesian": (e2e["wall_s"] / raw["cartesian_s"]
                                     if "cartesian_s" in raw else None),
              "ratio_vs_raw_process": e2e["wall_s"] / raw["wall_s"],
              **predict_ratios(breakdown, raw),
              "cpu_ratio": (e2e["cpu_s"] / raw["predict_cpu_s"]
                            if "predict_cpu_s" in raw else None),
              "loadavg_after": os.getloadavg()}
    (workdir / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n== {n_variants} variants ({workdir}) ==")
    print(f"end-to-end: {e2e['wall_s']:.1f} s wall, {e2e['cpu_s']:.1f} s CPU (all processes), "
          f"largest process {e2e['max_rss_mib']:.0f} MiB, "
          f"process tree peak {e2e['tree_peak_rss_mib']:.0f} MiB")
    print(f"raw MHCflurry: {raw['unique_peptides']} unique peptides x {raw['alleles']} alleles = "
          f"{raw['pairs']} pairs; load {raw['load_s']:.1f} s, "
          f"predict {_s(raw.get('predict_s'))}, predict_cartesian_pan_allele "
          f"{_s(raw.get('cartesian_s'))}, process {raw['wall_s']:.1f} s (both calls), "
          f"{raw['max_rss_mib']:.0f} MiB; predict_cartesian_pan_allele in the workflow's "
          f"portable arithmetic {_s(raw.get('cartesian_portable_s'))}, on one thread "
          f"{_s(raw.get('cartesian_portable_1thread_s'))}")
    if result["predict_vs_raw_one_thread"] is not None:
        print(f"predict shards summed / raw call on one thread, same arithmetic: "
              f"{result['predict_vs_raw_one_thread']:.2f}; longest shard (the stage's "
              f"elapsed time) / raw call on the same cores: "
              f"{result['predict_elapsed_vs_raw']:.2f}")
    print(f"Snakemake's import (before the first job): {start['import_s']:.1f} s; "
          "Slurm controller: " + {None: "no Slurm client tools", True: "answers",
                                   False: "not answering"}[start["slurm_controller"]])
    print("per rule (sum over jobs; Snakemake benchmark files):")
    for row in breakdown:
        print(f"  {row['rule']:<20} jobs={row['jobs']:<3} sum_s={row['sum_s']:8.1f} "
              f"cpu_s={row['cpu_s']:8.1f} "
              f"max_rss_mib={row['max_rss_mib']:7.0f}")
    return result


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["raw-predict"]:
        parser = argparse.ArgumentParser(prog="benchmark.py raw-predict")
        parser.add_argument("--peptides", required=True)
        parser.add_argument("--alleles", required=True)
        parser.add_argument("--models", required=True)
        parser.add_argument("--out", required=True)
        parser.add_argument("--api", choices=["predict", "cartesian", "both"], default="both")
        return raw_predict(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="1000",
                        help="comma-separated cohort sizes, e.g. 1000,10000 (default 1000)")
    parser.add_argument("--genes", type=int, default=2000, help="synthetic genes (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shards", type=int, default=2, help="mhcflurry.shards (default 2)")
    parser.add_argument("--numerics", choices=["portable", "native"], default="portable",
                        help="mhcflurry.numerics (default portable); with portable the raw "
                             "cartesian call is also timed in that arithmetic")
    parser.add_argument("--workdir", type=Path,
                        help="run folder (one size only; default /tmp/neorank-benchmark-N)")
    parser.add_argument("--generate-only", action="store_true",
                        help="write the cohort, config and sample sheet, run nothing")
    parser.add_argument("--raw-api", choices=["predict", "cartesian", "both"], default="both",
                        help="raw MHCflurry baseline: Class1AffinityPredictor.predict on "
                             "(peptide, allele) pairs, predict_cartesian_pan_allele, or both "
                             "(default); ratio= uses predict when it ran")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.variants.split(",")]
    if args.workdir and len(sizes) > 1:
        parser.error("--workdir takes one --variants size")
    results = [run_one(n, args) for n in sizes]
    if args.generate_only:
        for r in results:
            print(f"cohort ready: {r['workdir']}")
        return 0
    rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\nmax RSS of any child process (RUSAGE_CHILDREN): {rusage.ru_maxrss / 1024:.0f} MiB; "
          f"load average now {os.getloadavg()[0]:.2f} (2 shared cores: figures are noisy)")
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            print(f"scaling {base['variants']} -> {r['variants']} variants "
                  f"({r['variants'] / base['variants']:.0f}x): "
                  f"{r['e2e']['wall_s'] / base['e2e']['wall_s']:.2f}x time")
    for r in results:
        cartesian = r["ratio_vs_cartesian"]
        print(f"variants={r['variants']} e2e_s={r['e2e']['wall_s']:.1f} "
              f"raw_predict_s={_s(r['raw'].get('predict_s'), '')} "
              f"raw_cartesian_s={_s(r['raw'].get('cartesian_s'), '')} "
              f"raw_cartesian_portable_s={_s(r['raw'].get('cartesian_portable_s'), '')} "
              f"pairs={r['raw']['pairs']} peak_rss_mib={r['e2e']['max_rss_mib']:.0f} "
              f"tree_peak_rss_mib={r['e2e']['tree_peak_rss_mib']:.0f} "
              f"ratio_vs_cartesian={'NA' if cartesian is None else f'{cartesian:.2f}'} "
              f"ratio={r['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
