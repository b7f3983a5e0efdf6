"""Germline context: a germline SNP in a peptide's window changes mutant and wildtype peptides.

Alleles on NME1 (ENST00000013034, plus strand) built from ``reference.cdna.fa.gz``; expected
proteins apply the germline and/or somatic change to the cDNA and translate it here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_in_cis import CODON, mutant_protein, nme1, oracle, record, snv  # noqa: F401
from test_peptide_classes import LENGTHS, expected_windows
from test_peptides import make_peptides

from neorank import annotate
from neorank.germline import GermlineIndex, GermlineVariant, read_germline_vcf, relation

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def germline(variant, **fields) -> GermlineVariant:
    chrom, pos, ref, alt = variant
    defaults = {"homozygous": False, "haplotypes": (False, True)}
    defaults.update(fields)
    return GermlineVariant(f"{chrom}:{pos}:{ref}>{alt}", chrom, pos, ref, alt, **defaults)


def run(mini_genome, somatic, germlines, **phase):
    records = [record(somatic, **phase)]
    annotations = annotate.annotate_records(records, mini_genome, germline=GermlineIndex(germlines))
    effects = pd.DataFrame(annotations[records[0].variant_id].rows, columns=annotate.EFFECT_COLUMNS)
    return effects, make_peptides(effects, LENGTHS)


@pytest.fixture(scope="module")
def alleles(nme1):  # noqa: F811
    somatic = snv(nme1, 3 * CODON)                     # residue 61
    germ = snv(nme1, 3 * (CODON + 3) + 1, pick=1)      # residue 64, 10 nt away
    _, _, protein, _ = nme1
    own = mutant_protein(nme1, germ)
    assert own[CODON + 3] != protein[CODON + 3]        # the germline SNP changes residue 64
    return somatic, germ


def test_homozygous_germline_snp_changes_mutant_and_wildtype(mini_genome, nme1, alleles):  # noqa: F811
    somatic, germ = alleles
    own, both = mutant_protein(nme1, germ), mutant_protein(nme1, somatic, germ)
    effects, table = run(mini_genome, somatic, [germline(germ, homozygous=True,
                                                         haplotypes=(True, True))])
    assert set(table["mutant_peptide"]) == expected_windows(own, both, "in_frame")
    for row in table.itertuples():  # the wildtype is the patient's own sequence
        start = both.index(row.mutant_peptide)
        assert row.wildtype_peptide == own[start:start + row.length]
        assert row.germline_context == f"hom:{germline(germ).variant_id}"
    covering = table[[own.index(w) <= CODON + 3 < own.index(w) + len(w)
                      for w in table["wildtype_peptide"]]]
    assert len(covering) > 0  # some peptides carry the germline residue in both


def test_unphased_heterozygous_germline_snp_gives_both_versions(mini_genome, nme1, alleles):  # noqa: F811
    somatic, germ = alleles
    _, _, protein, _ = nme1
    own, both = mutant_protein(nme1, germ), mutant_protein(nme1, somatic, germ)
    alone = mutant_protein(nme1, somatic)
    effects, table = run(mini_genome, somatic, [germline(germ)])
    with_germline = expected_windows(own, both, "in_frame")
    without = expected_windows(protein, alone, "in_frame")
    assert set(table["mutant_peptide"]) == with_germline | without
    gid = germline(germ).variant_id
    for row in table.itertuples():
        labels = set(row.germline_context.split(" | "))
        expected = set()
        if row.mutant_peptide in with_germline:
            expected.add(f"unphased_het_present:{gid}")
        if row.mutant_peptide in without:
            expected.add(f"unphased_het_absent:{gid}")
        assert labels == expected, row


@pytest.mark.parametrize("somatic_haplotypes, applied", [((False, True), True),
                                                         ((True, False), False)])
def test_phased_heterozygous_germline_snp_in_cis_or_trans(mini_genome, nme1, alleles,  # noqa: F811
                                                          somatic_haplotypes, applied):
    somatic, germ = alleles
    _, _, protein, _ = nme1
    phase = {"haplotypes": somatic_haplotypes, "phased": True, "ps": 5}
    het = germline(germ, phased=True, ps=5)
    effects, table = run(mini_genome, somatic, [het], **phase)
    if applied:
        expected = expected_windows(mutant_protein(nme1, germ), mutant_protein(nme1, somatic, germ),
                                    "in_frame")
        assert set(table["germline_context"]) == {f"cis:{het.variant_id}"}
    else:
        expected = expected_windows(protein, mutant_protein(nme1, somatic), "in_frame")
        assert set(table["germline_context"]) == {f"trans:{het.variant_id}"}
    assert set(table["mutant_peptide"]) == expected


def test_relation_rules():
    het = GermlineVariant("g", "chr1", 10, "A", "G", False, (False, True), True, 3)
    assert relation(het, (False, True), True, 3) == "cis"
    assert relation(het, (True, False), True, 3) == "trans"
    assert relation(het, (False, True), True, 4) == "unphased"  # another phase set
    assert relation(het, (False, True), False, 3) == "unphased"
    hom = GermlineVariant("g", "chr1", 10, "A", "G", True, (True, True))
    assert relation(hom, None, False, None) == "hom"
    index = GermlineIndex([het])
    assert index.near("1", 15, 15) == [het] and index.near("chr1", 41, 41) == []
    assert index.near("chr1", 10, 12) == []  # overlapping the somatic allele: not context


def test_read_germline_vcf_on_the_demo_normal():
    """Every carried ALT of a PASS record, as an SNV (GA>GG is G at +1), in file order."""
    text = (DEMO / "osteosarc.normal.vcf").read_text().splitlines()
    expected = []
    for line in text:
        if line.startswith("#"):
            continue
        chrom, pos, _, ref, alts, _, filt, _, _, call = line.split("\t")[:10]
        genotype = call.split(":")[0].replace("|", "/").split("/")
        for index, alt in enumerate(alts.split(","), start=1):
            if filt not in ("PASS", ".") or str(index) not in genotype:
                continue
            shift = 0
            while len(ref) > 1 and ref[shift] == alt[shift]:
                shift += 1
            expected.append((chrom, int(pos) + shift, ref[shift:], alt[shift:],
                             genotype == [str(index)] * 2))
    variants = read_germline_vcf(DEMO / "osteosarc.normal.vcf")
    assert [(v.chrom, v.pos, v.ref, v.alt, v.homozygous) for v in variants] == expected
    assert ("chr1", 151236660, "G", "A", True) in expected  # germline02 1/1
    assert ("chr17", 5004927, "A", "G", False) in expected  # GA>GG


def test_annotate_cli_reads_the_germline_vcf(mini_genome, nme1, alleles, tmp_path):  # noqa: F811
    from test_annotate import run_annotate, vid

    somatic, germ = alleles
    chrom, pos, ref, alt = germ
    normal = tmp_path / "normal.vcf"
    normal.write_text("\n".join([
        "##fileformat=VCFv4.2", f"##contig=<ID={chrom}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                   "TUMOR", "NORMAL"]),
        "\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", ".", "GT", "1/1", "1/1"]),
    ]) + "\n")
    effects, _ = run_annotate(mini_genome, tmp_path, [somatic],
                              extra=["--germline-vcf", str(normal), "--germline-sample", "NORMAL"])
    assert set(effects["germline_context"]) == {f"hom:{vid(germ)}"}
    own, both = mutant_protein(nme1, germ), mutant_protein(nme1, somatic, germ)
    row = effects[effects["transcript_id"] == "ENST00000013034"].iloc[0]
    start = row["context_start"] - 1
    assert row["wildtype_context"] == own[start:start + len(row["wildtype_context"])]
    assert row["mutant_context"] == both[start:start + len(row["mutant_context"])]


def test_only_germline_snvs_near_a_somatic_variant_are_kept():
    """Reading with the somatic windows keeps exactly the SNVs GermlineIndex.near can return."""
    from neorank.germline import GERMLINE_MAX_DISTANCE, SomaticWindows

    everything = read_germline_vcf(DEMO / "osteosarc.normal.vcf")
    assert len(everything) > 3
    first, last = everything[0], everything[-1]
    # somatic alleles 25 nt after the first SNV (contig without "chr") and over the last one
    spans = [(first.chrom.removeprefix("chr"), first.pos + 25, first.pos + 27),
             (last.chrom, last.pos, last.pos), ("chr22", 1, 1)]
    kept = read_germline_vcf(DEMO / "osteosarc.normal.vcf", near=SomaticWindows(spans))

    def within(v, chrom, start, end):
        return v.chrom.removeprefix("chr") == chrom.removeprefix("chr") \
            and start - GERMLINE_MAX_DISTANCE <= v.pos <= end + GERMLINE_MAX_DISTANCE

    expected = [v for v in everything if any(within(v, *span) for span in spans)]
    assert kept == expected and first in kept and last in kept and len(kept) < len(everything)
    full, filtered = GermlineIndex(everything), GermlineIndex(kept)
    for chrom, start, end in spans:
        assert filtered.near(chrom, start, end) == full.near(chrom, start, end)
    assert ("chr1", 10) not in SomaticWindows([])
    windows = SomaticWindows([("chr1", 150, 152), ("1", 100, 100), ("chr1", 115, 115)],
                             distance=10)  # 90-110 and 105-125 overlap: one window
    assert [p for p in range(80, 175) if ("1", p) in windows] == list(range(90, 126)) \
        + list(range(140, 163))
    assert ("chr2", 100) not in windows
