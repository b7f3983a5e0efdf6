"""Peptides and statuses of every variant class on the embedded Ensembl 87 subset.

The alleles are built here on NME1 (chr17, plus strand; ENST00000013034 and the other NME1 /
NME1-NME2 transcripts sharing its exons) from the transcript sequences in
``reference.cdna.fa.gz``. Expected mutant proteins come from applying the allele to each
transcript's cDNA and translating it with a codon table (``test_annotate.Oracle`` helpers);
expected peptides are every window over the changed residues. Nothing is taken from neorank's
own output.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_annotate import CODONS, Oracle, first_difference, translate
from test_peptides import make_peptides

from neorank import annotate

TID = "ENST00000013034"  # NME1-001, 177 aa, 6 exons, plus strand
LENGTHS = (8, 9, 10, 11)
STANDARD = set("ACDEFGHIKLMNPQRSTVWY")


@pytest.fixture(scope="module")
def oracle(mini_genome) -> Oracle:
    return Oracle(mini_genome)


@pytest.fixture(scope="module")
def nme1(mini_genome, oracle):
    """cDNA sequence, CDS start, protein and a cDNA offset -> genomic position map."""
    transcript = mini_genome.transcript_by_id(TID)
    assert transcript.strand == "+"
    genomic = {transcript.spliced_offset(p): p
               for exon in transcript.exons for p in range(exon.start, exon.end + 1)}
    return oracle.cdna[TID], oracle.cds_start(TID), oracle.pep[TID], genomic, transcript


def proteins_after(mini_genome, oracle, variant):
    """{transcript: (protein, mutant protein)} for complete coding transcripts with the allele in
    an exon (others see an intronic/UTR change); the mutant is translated to its first stop or
    the end of the cDNA."""
    _, pos, ref, alt = variant
    result = {}
    for transcript in mini_genome.transcripts_at_locus("17", pos, pos + len(ref) - 1):
        tid = transcript.id
        if tid not in oracle.pep or not transcript.complete:
            continue
        try:
            offset = transcript.spliced_offset(pos)
            transcript.spliced_offset(pos + len(ref) - 1)
        except ValueError:
            continue
        seq, protein = oracle.cdna[tid], oracle.pep[tid]
        assert seq[offset:offset + len(ref)] == ref
        start = oracle.cds_start(tid)
        if not start <= offset < start + 3 * len(protein) + 3:
            continue  # UTR in this transcript
        mutant = seq[:offset] + alt + seq[offset + len(ref):]
        result[tid] = (protein, protein[0] + translate(mutant[start + 3:]))
    return result


def expected_windows(protein: str, mutant: str, kind: str) -> set[str]:
    start = first_difference(protein, mutant)
    if kind == "to_end":  # frameshift, stop-loss: everything from the first new residue is new
        end = len(mutant)
    else:
        suffix = 0
        while suffix < min(len(protein), len(mutant)) - start \
                and protein[-1 - suffix] == mutant[-1 - suffix]:
            suffix += 1
        end = len(mutant) - suffix
    found = set()
    for length in LENGTHS:
        for i in range(len(mutant) - length + 1):
            hit = (i <= start - 1 and i + length >= start + 1) if end == start \
                else (i < end and i + length > start)
            if hit and set(mutant[i:i + length]) <= STANDARD:
                found.add(mutant[i:i + length])
    return found


def run(mini_genome, variants):
    records = [annotate.SomaticRecord(f"v{i}", "chr17", pos, ref, alt)
               for i, (_, pos, ref, alt) in enumerate(variants)]
    annotations = annotate.annotate_records(records, mini_genome)
    effects = pd.DataFrame([row for r in records for row in annotations[r.variant_id].rows],
                           columns=annotate.EFFECT_COLUMNS)
    table = make_peptides(effects, LENGTHS)
    return annotations, table


def check_peptides(mini_genome, oracle, variant, kind):
    annotations, table = run(mini_genome, [variant])
    expected = set()
    proteins = proteins_after(mini_genome, oracle, variant)
    assert proteins
    for protein, mutant in proteins.values():
        expected |= expected_windows(protein, mutant, kind)
    assert expected
    assert set(table["mutant_peptide"]) == expected
    return annotations["v0"], table, proteins


def test_frameshift_creating_an_immediate_stop(mini_genome, oracle, nme1):
    seq, cds, protein, genomic, _ = nme1
    # the first codon k where deleting its first base puts a stop codon in frame at once
    k = next(k for k in range(10, len(protein))
             if CODONS[(seq[:cds + 3 * k] + seq[cds + 3 * k + 1:])[cds + 3 * k:cds + 3 * k + 3]]
             == "*")
    off = cds + 3 * k
    variant = ("chr17", genomic[off - 1], seq[off - 1:off + 1], seq[off - 1])
    for reference, mutant in proteins_after(mini_genome, oracle, variant).values():
        assert reference.startswith(mutant) and len(mutant) < len(reference)  # truncation only
    annotations, table = run(mini_genome, [variant])
    annotation = annotations["v0"]
    assert table.empty and annotation.rows == []
    assert (annotation.status, annotation.variant_class) == ("no_peptides", "frameshift")
    assert "stop" in annotation.reason and "no peptides" in annotation.reason


def test_frameshift_near_the_transcript_end_reads_into_the_utr(mini_genome, oracle, nme1):
    seq, cds, protein, genomic, _ = nme1
    off = cds + 3 * (len(protein) - 2) + 1  # second base of the second-to-last codon
    variant = ("chr17", genomic[off - 1], seq[off - 1:off + 1], seq[off - 1])
    annotation, table, proteins = check_peptides(mini_genome, oracle, variant, "to_end")
    assert annotation.variant_class == "frameshift"
    # in NME1-001 the new frame has no stop before the end of the cDNA: the novel sequence runs
    # to the transcript end, and the peptides cover all of it
    reference, mutant = proteins[TID]
    new_frame = seq[cds:off] + seq[off + 1:]
    assert "*" not in translate(new_frame, to_stop=False)[len(protein) - 2:]
    assert len(mutant) == len(new_frame) // 3
    assert any(mutant.endswith(p) for p in table["mutant_peptide"])


def test_insertion_at_a_codon_boundary(mini_genome, oracle, nme1):
    seq, cds, _, genomic, _ = nme1
    off = cds + 3 * 50  # between codons 50 and 51
    variant = ("chr17", genomic[off - 1], seq[off - 1], seq[off - 1] + "GGC")  # + Gly
    annotation, table, proteins = check_peptides(mini_genome, oracle, variant, "in_frame")
    reference, mutant = proteins[TID]
    assert mutant == reference[:50] + "G" + reference[50:]
    assert annotation.variant_class == "inframe_insertion"
    assert all("G" in p[int(pos) - 1] for p, pos in
               zip(table["mutant_peptide"], table["mutation_positions"], strict=True))


def test_stop_loss_translates_the_utr_to_the_next_stop(mini_genome, oracle, nme1):
    seq, cds, protein, genomic, _ = nme1
    stop = cds + 3 * len(protein)
    assert seq[stop:stop + 3] == "TGA"
    variant = ("chr17", genomic[stop], "T", "C")  # TGA > CGA (Arg)
    annotation, table, proteins = check_peptides(mini_genome, oracle, variant, "to_end")
    assert annotation.variant_class == "stop_loss" and annotation.status == "protein_changing"
    for reference, mutant in proteins.values():
        assert mutant.startswith(reference + "R") and len(mutant) > len(reference) + 8


def test_start_loss_synonymous_utr_intronic_are_accounted_without_peptides(mini_genome, nme1):
    seq, cds, protein, genomic, transcript = nme1
    assert seq[cds:cds + 3] == "ATG"
    codon = seq[cds + 30:cds + 33]
    synonymous = next(b for b in "ACGT" if b != codon[2] and CODONS[codon[:2] + b] == CODONS[codon])
    exon, following = transcript.exons[2], transcript.exons[3]
    intron = next(p for p in range(exon.end + 20, following.start - 20)
                  if not mini_genome.exons_at_locus("17", p))  # no exon of any transcript
    cases = {
        "start_loss": ("chr17", genomic[cds], "A", "G"),
        "synonymous": ("chr17", genomic[cds + 32], codon[2], synonymous),
        "utr_5": ("chr17", genomic[100], seq[100], "A" if seq[100] != "A" else "C"),
        "utr_3": ("chr17", genomic[760], seq[760], "A" if seq[760] != "A" else "C"),
        "intronic": ("chr17", intron, "A", "G"),
    }
    annotations, table = run(mini_genome, list(cases.values()))
    assert table.empty
    statuses = {"start_loss": "no_peptides", "synonymous": "silent", "utr_5": "non_coding",
                "utr_3": "non_coding", "intronic": "non_coding"}
    for i, name in enumerate(cases):
        annotation = annotations[f"v{i}"]
        assert annotation.variant_class == name
        assert annotation.status == statuses[name]
        assert annotation.reason


@pytest.mark.parametrize("side", ["donor", "acceptor"])
def test_deletion_spanning_an_exon_boundary_makes_no_peptides(mini_genome, nme1, side):
    """A deletion of exon bases together with the splice site is not translated as if the
    intronic bases were coding (varcode alone calls these p.Q67fs and p.T25del)."""
    seq, _, _, genomic, transcript = nme1
    exon = transcript.exons[2]
    if side == "donor":  # last 4 exon bases + GTAAG (intron bases are not in the cDNA)
        first = transcript.spliced_offset(exon.end - 4)
        variant = ("chr17", exon.end - 4, seq[first:first + 5] + "GTAAG", seq[first])
    else:  # intron -4..-1 (CAGG as written) + first 3 exon bases
        first = transcript.spliced_offset(exon.start)
        variant = ("chr17", exon.start - 4, "CAGG" + seq[first:first + 3], "C")
    annotations, table = run(mini_genome, [variant])
    annotation = annotations["v0"]
    crossing = sorted(t.id for t in mini_genome.transcripts_at_locus("17", variant[1] + 1,
                                                                     variant[1] + len(variant[2]) - 1)
                      if any(e.start <= variant[1] + len(variant[2]) - 1 and e.end >= variant[1] + 1
                             for e in t.exons)
                      and not any(e.start <= variant[1] + 1 and variant[1] + len(variant[2]) - 1
                                  <= e.end for e in t.exons))
    assert TID in crossing
    assert not set(table["transcript_ids"].str.split(";").explode()) & set(crossing)
    assert (annotation.status, annotation.variant_class) == ("no_peptides", "splice_site")
    assert "exon-intron boundary" in annotation.reason
