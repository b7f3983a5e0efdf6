"""Somatic SNVs in one codon, or phased in cis within one peptide window, become one allele.

Alleles are built on NME1 (ENST00000013034, plus strand) from ``reference.cdna.fa.gz``; the
expected mutant protein applies *both* changes to the cDNA and translates it with a codon
table (nothing from neorank's output). Phasing is written as a caller would (GT/PS, Mutect2
PGT/PID), carried by ``neorank somatic`` into the somatic VCF and read back by ``annotate``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_annotate import Oracle, translate
from test_peptide_classes import LENGTHS, TID, expected_windows
from test_peptides import make_peptides

from neorank import annotate, somatic
from neorank.annotate.in_cis import in_cis_basis

CODON = 60  # 0-based codon index in NME1-001


@pytest.fixture(scope="module")
def oracle(mini_genome) -> Oracle:
    return Oracle(mini_genome)


@pytest.fixture(scope="module")
def nme1(mini_genome, oracle):
    transcript = mini_genome.transcript_by_id(TID)
    genomic = {transcript.spliced_offset(p): p
               for exon in transcript.exons for p in range(exon.start, exon.end + 1)}
    return oracle.cdna[TID], oracle.cds_start(TID), oracle.pep[TID], genomic


def snv(nme1, cds_offset: int, pick: int = 0) -> tuple[str, int, str, str]:
    """An SNV at a CDS offset of NME1-001 (``pick`` chooses among the 3 other bases)."""
    seq, cds, _, genomic = nme1
    ref = seq[cds + cds_offset]
    alt = [b for b in "ACGT" if b != ref][pick]
    return ("chr17", genomic[cds + cds_offset], ref, alt)


def mutant_protein(nme1, *variants) -> str:
    seq, cds, protein, genomic = nme1
    offsets = {pos: off for off, pos in genomic.items()}
    edited = list(seq)
    for _, pos, ref, alt in variants:
        assert edited[offsets[pos]] == ref
        edited[offsets[pos]] = alt
    return protein[0] + translate("".join(edited)[cds + 3:])


def record(variant, **phase) -> annotate.SomaticRecord:
    chrom, pos, ref, alt = variant
    return annotate.SomaticRecord(f"{chrom}:{pos}:{ref}>{alt}", chrom, pos, ref, alt, **phase)


def run(mini_genome, records):
    annotations = annotate.annotate_records(records, mini_genome)
    effects = pd.DataFrame([row for r in records for row in annotations[r.variant_id].rows],
                           columns=annotate.EFFECT_COLUMNS)
    return annotations, make_peptides(effects, LENGTHS)


def test_two_snvs_in_one_codon_are_one_mutant_sequence(mini_genome, nme1):
    _, _, protein, _ = nme1
    first, second = snv(nme1, 3 * CODON), snv(nme1, 3 * CODON + 1, pick=2)
    both = mutant_protein(nme1, first, second)
    alone = [mutant_protein(nme1, first), mutant_protein(nme1, second)]
    assert len({both[CODON], alone[0][CODON], alone[1][CODON], protein[CODON]}) == 4
    records = [record(first), record(second)]  # unphased: same codon is enough
    annotations, table = run(mini_genome, records)
    ids = [r.variant_id for r in records]
    assert set(table["variant_id"]) == {ids[0]}
    assert set(table["mutant_peptide"]) == expected_windows(protein, both, "in_frame")
    assert not any(expected_windows(protein, single, "in_frame") & set(table["mutant_peptide"])
                   for single in alone)
    assert set(table["merged_variant_ids"]) == {";".join(ids)}
    assert set(table["in_cis"]) == {"same_codon"}
    for vid in ids:  # one variants.tsv row per input record, both accounted
        annotation = annotations[vid]
        assert annotation.status == "protein_changing" and annotation.variant_class == "mnv"
        assert annotation.merged_variant_ids == ";".join(ids)
    assert annotations[ids[1]].rows == [] and ids[0] in annotations[ids[1]].reason
    row = table[table["length"] == 9].iloc[0]
    start = both.index(row["mutant_peptide"])
    assert row["mutation_positions"] == str(CODON - start + 1)


@pytest.mark.parametrize("phase, merged", [
    (({"haplotypes": (False, True), "phased": True, "ps": 100},) * 2, "phased_gt_ps"),
    (({"pgt": "0|1", "pid": "51155760_G_A"},) * 2, "phased_pgt_pid"),
    (({"haplotypes": (False, True), "phased": True, "ps": 100},
      {"haplotypes": (True, False), "phased": True, "ps": 100}), None),  # in trans
    (({"haplotypes": (False, True)},) * 2, None),  # unphased, different codons
])
def test_phased_snvs_in_one_window(mini_genome, nme1, phase, merged):
    _, _, protein, _ = nme1
    first, second = snv(nme1, 3 * CODON), snv(nme1, 3 * (CODON + 3) + 1)  # 10 nt apart
    records = [record(first, **phase[0]), record(second, **phase[1])]
    annotations, table = run(mini_genome, records)
    ids = [r.variant_id for r in records]
    if merged:
        both = mutant_protein(nme1, first, second)
        assert set(table["mutant_peptide"]) == expected_windows(protein, both, "in_frame")
        assert set(table["in_cis"]) == {merged} and set(table["variant_id"]) == {ids[0]}
        nine = table[table["length"] == 9]
        spanning = [r for r in nine.itertuples() if r.mutation_positions.count(";") == 1]
        assert spanning and all(int(r.mutation_positions.split(";")[1])
                                - int(r.mutation_positions.split(";")[0]) == 3 for r in spanning)
    else:
        assert set(table["variant_id"]) == set(ids)
        assert table["merged_variant_ids"].isna().all()
        for vid, variant in zip(ids, (first, second), strict=True):
            single = mutant_protein(nme1, variant)
            assert set(table.loc[table["variant_id"] == vid, "mutant_peptide"]) \
                == expected_windows(protein, single, "in_frame")


def test_phasing_is_carried_through_the_somatic_vcf(tmp_path, nme1):
    first, second = snv(nme1, 3 * CODON), snv(nme1, 3 * (CODON + 3) + 1)
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr17>",
             '##FILTER=<ID=PASS,Description="All filters passed">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
             '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
             '##FORMAT=<ID=PGT,Number=1,Type=String,Description="Physical phasing haplotype">',
             '##FORMAT=<ID=PID,Number=1,Type=String,Description="Physical phasing ID">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        "TUMOR", "NORMAL"])]
    for (chrom, pos, ref, alt), tumor in ((first, "0|1:30,20:7:0|1:x_1"),
                                          (second, "1|0:30,20:7:.:.")):
        lines.append("\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", ".",
                                "GT:AD:PS:PGT:PID", tumor, "0/0:40,0:.:.:."]))
    vcf = tmp_path / "paired.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    result = somatic.call_somatic(limits=somatic.Thresholds(), paired_vcf=vcf,
                                  tumor_sample="TUMOR", normal_sample="NORMAL")
    out = tmp_path / "somatic.vcf.gz"
    somatic.write_somatic_vcf(result, out, sample_id="S", source_name="paired.vcf",
                              limits=somatic.Thresholds())
    records = annotate.read_somatic_vcf(out)
    assert [(r.haplotypes, r.phased, r.ps, r.pgt, r.pid) for r in records] == [
        ((False, True), True, 7, "0|1", "x_1"), ((True, False), True, 7, None, None)]
    assert in_cis_basis(records[0], records[1], None, "17") is None  # in trans
