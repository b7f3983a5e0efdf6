"""scripts/benchmark.py: the synthetic cohort generator.

A small cohort (40 genes, 200 variants) is generated once per module and
checked independently of the generator's own bookkeeping: transcripts are
re-spliced from the genome FASTA with pysam, the annotation is read back with
pyensembl (through neorank.reference), REF alleles are fetched from the
genome, effects come from varcode, and the VCF goes through ``neorank
somatic``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pysam
import pytest

from neorank import cli

ROOT = Path(__file__).resolve().parents[2]
N_GENES, N_VARIANTS = 40, 200
CODE = {a + b + c: aa for (a, b, c), aa in zip(
    ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
    "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG", strict=True)}


def _load_script():
    spec = importlib.util.spec_from_file_location("neorank_benchmark",
                                                  ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_script()


def _revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    paths = bench.generate_cohort(out, N_VARIANTS, n_genes=N_GENES, seed=5)
    return out, paths


@pytest.fixture(scope="module")
def genome(cohort, tmp_path_factory):
    from neorank.reference import load_local_genome

    _, paths = cohort
    return load_local_genome(paths["gtf"], paths["cdna"], paths["pep"],
                             cache_root=tmp_path_factory.mktemp("refcache"),
                             reference_name="SYNTH", release=87)


def test_same_seed_same_bytes(cohort, tmp_path):
    _, first = cohort
    second = bench.generate_cohort(tmp_path, N_VARIANTS, n_genes=N_GENES, seed=5)
    for key in ("genome", "gtf", "cdna", "pep", "vcf", "hla"):
        assert hashlib.sha256(first[key].read_bytes()).digest() == \
            hashlib.sha256(second[key].read_bytes()).digest(), key
    other = bench.generate_cohort(tmp_path / "other", N_VARIANTS, n_genes=N_GENES, seed=6)
    assert other["vcf"].read_bytes() != first["vcf"].read_bytes()


def test_annotation_reads_back_through_pyensembl(cohort, genome):
    _, paths = cohort
    fasta = pysam.FastaFile(str(paths["genome"]))
    transcripts = genome.transcripts()
    assert len(genome.genes()) == N_GENES
    assert len(transcripts) > N_GENES  # some genes have an exon-skipping second isoform
    strands, exon_counts = Counter(), []
    for tx in transcripts:
        assert tx.biotype == "protein_coding" and tx.complete, tx
        exons = sorted(tx.exon_intervals)
        spliced = "".join(fasta.fetch(tx.contig, start - 1, end) for start, end in exons)
        if tx.strand == "-":
            spliced = _revcomp(spliced)
        assert spliced == tx.sequence, tx  # cDNA FASTA == exons cut from the genome
        for (_, end), (start, _) in pairwise(exons):  # canonical splice sites
            intron = fasta.fetch(tx.contig, end, start - 1)
            if tx.strand == "-":
                intron = _revcomp(intron)
            assert intron[:2] == "GT" and intron[-2:] == "AG", tx
        cds = tx.coding_sequence
        assert len(cds) % 3 == 0 and cds[:3] == "ATG" and cds[-3:] in ("TAA", "TAG", "TGA")
        protein = "".join(CODE[cds[i:i + 3]] for i in range(0, len(cds) - 3, 3))
        assert "*" not in protein and protein == tx.protein_sequence, tx
        assert tx.five_prime_utr_sequence and tx.three_prime_utr_sequence, tx
        strands[tx.strand] += 1
        exon_counts.append(len(exons))
    assert strands["+"] > 5 and strands["-"] > 5
    assert min(exon_counts) >= 2 and sorted(exon_counts)[len(exon_counts) // 2] >= 4
    cds_lengths = sorted(len(tx.coding_sequence) for tx in transcripts)
    assert 600 <= cds_lengths[len(cds_lengths) // 2] <= 2500  # human median CDS ~1.2 kb


def test_variants_are_coding_and_match_the_genome(cohort, genome):
    import varcode

    _, paths = cohort
    fasta = pysam.FastaFile(str(paths["genome"]))
    with pysam.VariantFile(str(paths["vcf"])) as vcf:
        assert list(vcf.header.samples) == ["TUMOR", "NORMAL"]
        records = list(vcf)
    assert len(records) == N_VARIANTS
    kinds = Counter()
    for rec in records:
        contig = rec.chrom.removeprefix("chr")
        assert fasta.fetch(contig, rec.pos - 1, rec.pos - 1 + len(rec.ref)) == rec.ref
        kinds["snv" if len(rec.ref) == len(rec.alts[0]) == 1 else "indel"] += 1
        tumor = rec.samples["TUMOR"]
        assert sum(tumor["AD"]) == tumor["DP"] and tumor["AD"][1] >= 3
        assert rec.samples["NORMAL"]["AD"][1] == 0
    assert 0.8 * N_VARIANTS <= kinds["snv"] < N_VARIANTS and kinds["indel"] > 0
    coding = {"Substitution", "Silent", "PrematureStop", "FrameShift", "FrameShiftTruncation",
              "Insertion", "Deletion", "ComplexSubstitution", "SpliceOutcomeSet",
              "ExonicSpliceSite", "StopLoss", "AlternateStartCodon", "StartLoss"}
    variants = varcode.load_vcf(str(paths["vcf"]), genome=genome, only_passing=False)
    classes = Counter(type(v.effects().top_priority_effect()).__name__ for v in variants)
    assert set(classes) <= coding, classes
    assert classes["Substitution"] > classes["Silent"] > 0  # missense outnumber silent


def test_vcf_goes_through_neorank_somatic(cohort, tmp_path):
    _, paths = cohort
    with pysam.VariantFile(str(paths["vcf"])) as vcf:
        passing = sum(list(rec.filter) == ["PASS"] for rec in vcf)
    assert 0 < passing < N_VARIANTS
    accounting = tmp_path / "accounting.tsv"
    assert cli.main(["somatic", "--sample", "S", "--paired-vcf", str(paths["vcf"]),
                     "--tumor-sample", "TUMOR", "--normal-sample", "NORMAL",
                     "--min-tumor-vaf", "0", "--out-vcf", str(tmp_path / "s.vcf.gz"),
                     "--out-accounting", str(accounting)]) == 0
    table = pd.read_csv(accounting, sep="\t")
    assert len(table) == N_VARIANTS
    assert (table["status"] == "somatic").sum() == passing


def test_hla_alleles_are_calibrated():
    calibrated = set(pd.read_csv(ROOT / "resources" / "mhcflurry" / "embedded"
                                 / "calibrated_alleles.csv")["allele"])
    assert len(set(bench.ALLELES)) == 6 and set(bench.ALLELES) <= calibrated
    assert {a[4] for a in bench.ALLELES} == {"A", "B", "C"}


def test_gtf_is_gzip_with_fixed_header(cohort):
    _, paths = cohort
    raw = paths["gtf"].read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0: no timestamp in the bytes
    with gzip.open(paths["gtf"], "rt") as handle:
        features = Counter(line.split("\t")[2] for line in handle if not line.startswith("#"))
    for feature in ("gene", "transcript", "exon", "CDS", "start_codon", "stop_codon",
                    "five_prime_utr", "three_prime_utr"):
        assert features[feature] > 0, feature
