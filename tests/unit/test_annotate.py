"""neorank annotate on the embedded Ensembl 87 subset with real osteosarcoma variants.

Variants (chrom, pos, ref, alt) are copied from varcode 10.21.1
``tests/data/osteosarc_variants.json`` (public osteosarcoma case, GRCh38).
Expected protein changes are derived here from ``reference.cdna.fa.gz`` and
``reference.pep.fa.gz`` (apply the allele to the cDNA, translate), not from
neorank's output.
"""

from __future__ import annotations

import argparse
import gzip
import logging
from pathlib import Path

import pandas as pd
import pytest

from neorank import annotate, reference
from neorank.annotate.annotation import progress, progress_step
from neorank.errors import InputFileError, ReferenceError_
from neorank.io import read_tsv, write_tsv

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "resources" / "reference"

# Real somatic variants (varcode osteosarc_variants.json), chr-prefixed as called.
MISSENSE = ("chr7", 151218156, "G", "T")            # ABCF2, minus strand, 2 transcripts
MISSENSE_MT = ("chrM", 12994, "G", "A")             # MT-ND5: chrM must map to MT
FRAMESHIFT = ("chr7", 98241127, "TG", "T")          # TECPR1
DELETION = ("chr17", 80327830, "ATAC", "A")         # RNF213, in-frame, 2 transcripts
OFF_CONTIG = ("chr4", 154322488, "G", "A")          # DCHS2 locus: contig not in the subset
NO_GENE = ("chr1", 215560752, "A", "G")             # USH2A locus: contig present, gene absent

# --------------------------------------------------------------------------- oracle
_BASES = "TCAG"
_STANDARD = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODONS = {a + b + c: _STANDARD[16 * i + 4 * j + k]
          for i, a in enumerate(_BASES) for j, b in enumerate(_BASES) for k, c in enumerate(_BASES)}
MITO_CODONS = dict(CODONS, TGA="W", ATA="M", AGA="*", AGG="*")
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def translate(seq: str, table: dict[str, str] = CODONS, *, to_stop: bool = True) -> str:
    protein = []
    for i in range(0, len(seq) - 2, 3):
        residue = table[seq[i:i + 3]]
        if residue == "*" and to_stop:
            break
        protein.append(residue)
    return "".join(protein)


def read_fasta(path: Path, key: str) -> dict[str, str]:
    """Sequences by unversioned transcript id (``key``: 'first' token or 'transcript:' field)."""
    sequences: dict[str, list[str]] = {}
    current = None
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                fields = line[1:].split()
                if key == "first":
                    current = fields[0].split(".")[0]
                else:
                    current = next(f for f in fields if f.startswith("transcript:"))
                    current = current.split(":")[1].split(".")[0]
                sequences[current] = []
            else:
                sequences[current].append(line.strip())
    return {k: "".join(v) for k, v in sequences.items()}


class Oracle:
    """Reference and mutant proteins computed from the FASTA files (independent of neorank)."""

    def __init__(self, genome) -> None:
        self.genome = genome
        self.cdna = read_fasta(REFERENCE_DIR / "reference.cdna.fa.gz", "first")
        self.pep = read_fasta(REFERENCE_DIR / "reference.pep.fa.gz", "transcript")

    def cds_start(self, tid: str, table: dict[str, str] = CODONS) -> int:
        """cDNA offset of the start codon: where the peptide FASTA's protein is encoded."""
        protein, seq = self.pep[tid], self.cdna[tid]
        for frame in range(3):
            translated = translate(seq[frame:], table, to_stop=False)
            if protein[1:] in translated:
                return frame + 3 * (translated.index(protein[1:]) - 1)
        raise AssertionError(f"{tid}: protein not encoded by its cDNA")

    def transcript_offset(self, tid: str, variant: tuple) -> tuple[int, str, str]:
        """(cDNA offset, ref, alt) of a VCF allele in transcript orientation."""
        _, pos, ref, alt = variant
        transcript = self.genome.transcript_by_id(tid)
        if transcript.strand == "+":
            return transcript.spliced_offset(pos), ref, alt
        return transcript.spliced_offset(pos + len(ref) - 1), revcomp(ref), revcomp(alt)

    def __call__(self, variant: tuple) -> dict[str, tuple[str, str]]:
        """{transcript_id: (reference protein, mutant protein)} of protein-coding transcripts."""
        chrom, pos, ref, _ = variant
        contig = "MT" if chrom == "chrM" else chrom[3:]
        table = MITO_CODONS if contig == "MT" else CODONS
        result = {}
        for transcript in self.genome.transcripts_at_locus(contig, pos, pos + len(ref) - 1):
            tid = transcript.id
            if tid not in self.pep or tid not in self.cdna:
                continue
            protein, seq = self.pep[tid], self.cdna[tid]
            start = self.cds_start(tid, table)
            offset, ref_t, alt_t = self.transcript_offset(tid, variant)
            assert seq[offset:offset + len(ref_t)] == ref_t
            mutant_seq = seq[:offset] + alt_t + seq[offset + len(ref_t):]
            result[tid] = (protein, protein[0] + translate(mutant_seq[start + 3:], table))
        return result


@pytest.fixture(scope="module")
def oracle(mini_genome) -> Oracle:
    return Oracle(mini_genome)


def first_difference(a: str, b: str) -> int:
    return next(i for i in range(min(len(a), len(b)) + 1) if i == min(len(a), len(b)) or a[i] != b[i])


# --------------------------------------------------------------------------- inputs
ACCOUNTING_COLUMNS = ["variant_id", "chrom", "pos", "ref", "alt", "filter", "tumor_depth",
                      "tumor_alt_reads", "tumor_vaf", "normal_depth", "normal_vaf", "status", "reason"]


def vid(variant: tuple) -> str:
    chrom, pos, ref, alt = variant
    return f"{chrom}:{pos}:{ref}>{alt}"


def write_inputs(directory: Path, kept: list[tuple], filtered: list[tuple] = ()) -> tuple[Path, Path]:
    """A somatic VCF (as `neorank somatic` writes it: INFO NR_ID) and its accounting TSV."""
    contigs = list(dict.fromkeys(v[0] for v in kept))
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c}>" for c in contigs]
    lines += ['##INFO=<ID=NR_ID,Number=1,Type=String,Description="NeoRank variant id">',
              '##INFO=<ID=NR_TVAF,Number=1,Type=Float,Description="tumor VAF">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p}\t.\t{r}\t{a}\t.\tPASS\tNR_ID={vid((c, p, r, a))};NR_TVAF=0.25"
              for c, p, r, a in kept]
    vcf = directory / "somatic.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    rows = []
    for variant in filtered:
        rows.append([vid(variant), *map(str, variant), "PASS", "8", "1", "0.125", "30", "0",
                     "filtered", "tumor_depth 8 < 10"])
    for variant in kept:
        rows.append([vid(variant), *map(str, variant), "PASS", "40", "10", "0.25", "30", "0",
                     "somatic", ""])
    accounting = directory / "accounting.tsv"
    accounting.write_text("\n".join("\t".join(r) for r in [ACCOUNTING_COLUMNS] + rows) + "\n")
    return vcf, accounting


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="neorank")
    annotate.add_subcommand(parser.add_subparsers(dest="step"))
    return parser.parse_args(argv)


def cache_root(genome) -> Path:
    return Path(genome.download_cache.cache_directory_path).parent


def run_annotate(genome, directory: Path, kept: list[tuple], filtered: list[tuple] = (),
                 extra: list[str] = (), tag: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    vcf, accounting = write_inputs(directory, kept, filtered)
    out_effects, out_variants = directory / f"effects{tag}.tsv", directory / f"variants{tag}.tsv"
    args = parse(["annotate", "--vcf", str(vcf), "--accounting", str(accounting),
                  "--gtf", str(REFERENCE_DIR / "reference.gtf.gz"),
                  "--cdna", str(REFERENCE_DIR / "reference.cdna.fa.gz"),
                  "--pep", str(REFERENCE_DIR / "reference.pep.fa.gz"),
                  "--reference-name", "GRCh38", "--release", "87",
                  "--cache-dir", str(cache_root(genome)),
                  "--out-effects", str(out_effects), "--out-variants", str(out_variants),
                  *extra])
    assert args.run(args) == 0
    return read_tsv(out_effects, dtype={"gene_name": str}), read_tsv(out_variants, dtype=str)


# --------------------------------------------------------------------------- tests
def test_contig_names_are_reconciled(mini_genome):
    assert reference.contig_for(mini_genome, "chr7") == "7"
    assert reference.contig_for(mini_genome, "7") == "7"
    assert reference.contig_for(mini_genome, "chrX") == "X"
    assert reference.contig_for(mini_genome, "chrM") == "MT"
    assert reference.contig_for(mini_genome, "chrMT") == "MT"
    assert reference.contig_for(mini_genome, "M") == "MT"
    assert reference.contig_for(mini_genome, "chr4") is None


def test_exons_are_read_once_per_transcript_and_equal_pyensembls(mini_genome, monkeypatch):
    """The exon memo (reference._remember_exons, installed by loading a genome): on every
    transcript of the embedded reference the exons equal pyensembl's own query, in order;
    a second read runs no query; each read is a separate list (a caller may change it)."""
    from pyensembl.transcript import Transcript

    exons = Transcript.__dict__["exons"]
    assert getattr(exons.fget, "_neorank", False)
    read = exons.fget.__closure__[0].cell_contents  # pyensembl's own property function
    assert read is not exons.fget and not getattr(read, "_neorank", False)
    transcripts = mini_genome.transcripts()
    assert len(transcripts) > 50
    for transcript in transcripts:
        fresh = mini_genome.transcript_by_id(transcript.transcript_id)
        expected = [(e.exon_id, e.contig, e.start, e.end, e.strand) for e in read(fresh)]
        first = transcript.exons
        assert [(e.exon_id, e.contig, e.start, e.end, e.strand) for e in first] == expected
        first.clear()
        assert len(transcript.exons) == len(expected)
    queries = []
    query = mini_genome.db.query

    def counted(*args, **kwargs):
        queries.append(args)
        return query(*args, **kwargs)

    monkeypatch.setattr(mini_genome.db, "query", counted)
    assert transcripts[0].exons
    assert not queries
    assert read(transcripts[0]) and queries  # pyensembl's own read queries each time


def test_missense_on_every_transcript(mini_genome, oracle, tmp_path):
    effects, variants = run_annotate(mini_genome, tmp_path, [MISSENSE, MISSENSE_MT])
    expected = oracle(MISSENSE)
    assert len(expected) == 2
    rows = effects[effects["variant_id"] == vid(MISSENSE)]
    assert list(rows["transcript_id"]) == sorted(expected)
    for row in rows.itertuples():
        protein, mutant = expected[row.transcript_id]
        i = first_difference(protein, mutant)
        assert len(mutant) == len(protein) and protein[i + 1:] == mutant[i + 1:]
        assert row.effect == "Substitution"
        assert row.protein_change == f"p.{protein[i]}{i + 1}{mutant[i]}"
        assert row.gene_name == "ABCF2"
        start = max(0, i - 40)
        assert row.context_start == start + 1
        assert row.mutant_context == mutant[start:i + 41]
        assert row.wildtype_context == protein[start:i + 41]
        assert (row.mutation_start, row.mutation_end) == (i - start, i - start + 1)
    # chrM is annotated on MT (vertebrate mitochondrial code)
    (mt_tid, (protein, mutant)), = oracle(MISSENSE_MT).items()
    i = first_difference(protein, mutant)
    mt = variants.set_index("variant_id").loc[vid(MISSENSE_MT)]
    assert mt["status"] == "protein_changing"
    assert mt["transcript_id"] == mt_tid
    assert mt["protein_change"] == f"p.{protein[i]}{i + 1}{mutant[i]}"


def test_frameshift_context_runs_through_new_stop(mini_genome, oracle, tmp_path):
    effects, variants = run_annotate(mini_genome, tmp_path, [FRAMESHIFT])
    (tid, (protein, mutant)), = oracle(FRAMESHIFT).items()
    i = first_difference(protein, mutant)
    row = effects.iloc[0]
    assert len(effects) == 1 and row["transcript_id"] == tid
    assert row["effect"] == "FrameShift"
    assert row["protein_change"] == f"p.{protein[i]}{i + 1}fs"
    start = i - 40
    assert row["context_start"] == start + 1
    assert row["mutant_context"] == mutant[start:]  # through the first new stop
    assert (row["mutation_start"], row["mutation_end"]) == (40, len(mutant) - start)
    assert row["wildtype_context"] == protein[start:len(mutant) + 40]
    assert variants.iloc[0]["status"] == "protein_changing"
    assert variants.iloc[0]["reason"] == ""


def test_inframe_deletion(mini_genome, oracle, tmp_path):
    effects, _ = run_annotate(mini_genome, tmp_path, [DELETION])
    expected = oracle(DELETION)
    assert list(effects["transcript_id"]) == sorted(expected)
    for row in effects.itertuples():
        protein, mutant = expected[row.transcript_id]
        i = first_difference(protein, mutant)
        deleted = len(protein) - len(mutant)
        assert deleted == 1 and protein[i + deleted:] == mutant[i:]
        assert row.effect == "Deletion"
        # HGVS 1-based position (regression: varcode's own text says i, 0-based)
        assert row.protein_change == f"p.{protein[i]}{i + 1}del"
        assert row.mutation_start == row.mutation_end == 40  # junction before mutant_context[40]
        assert row.mutant_context == mutant[i - 40:i + 40]
        assert row.wildtype_context == protein[i - 40:i + deleted + 40]


def test_statuses_and_row_accounting(mini_genome, oracle, tmp_path):
    # synonymous: the other base of the ABCF2 codon that keeps the amino acid
    chrom, pos, ref, _ = MISSENSE
    tid = sorted(oracle(MISSENSE))[0]
    offset, ref_t, _ = oracle.transcript_offset(tid, MISSENSE)
    residue = (offset - oracle.cds_start(tid)) // 3
    codon_start = oracle.cds_start(tid) + 3 * residue
    codon = oracle.cdna[tid][codon_start:codon_start + 3]
    within = offset - codon_start
    synonymous = [b for b in "ACGT" if b != ref_t
                  and translate(codon[:within] + b + codon[within + 1:]) == translate(codon)]
    silent = (chrom, pos, ref, revcomp(synonymous[0]))
    # intronic: between ABCF2 exons 1 and 2, no exon of any transcript there
    intronic = ("chr7", 151226800, "A", "G")
    assert mini_genome.transcripts_at_locus("7", 151226800)
    assert not mini_genome.exons_at_locus("7", 151226800)

    kept = [MISSENSE, silent, intronic, OFF_CONTIG, NO_GENE, FRAMESHIFT]
    filtered = [("chr7", 151218200, "C", "T")]
    effects, variants = run_annotate(mini_genome, tmp_path, kept, filtered)
    accounting = read_tsv(tmp_path / "accounting.tsv", dtype=str)
    assert len(variants) == len(accounting) == 7
    assert list(variants["variant_id"]) == list(accounting["variant_id"])
    assert list(variants.columns) == [c for c in ACCOUNTING_COLUMNS if c not in ("status", "reason")] \
        + ["gene_name", "transcript_id", "effect", "protein_change", "variant_class",
           "merged_variant_ids", "in_cis", "status", "reason"]
    by_id = variants.set_index("variant_id")
    assert by_id.loc[vid(filtered[0]), "status"] == "filtered"
    assert by_id.loc[vid(filtered[0]), "reason"] == "tumor_depth 8 < 10"
    assert pd.isna(by_id.loc[vid(filtered[0]), "effect"])
    assert by_id.loc[vid(MISSENSE), "status"] == "protein_changing"
    assert by_id.loc[vid(silent), "status"] == "silent"
    assert by_id.loc[vid(silent), "effect"] == "Silent"
    protein = oracle.pep[tid]
    assert by_id.loc[vid(silent), "protein_change"] == f"p.{protein[residue]}{residue + 1}="
    assert by_id.loc[vid(intronic), "status"] == "non_coding"
    assert by_id.loc[vid(intronic), "effect"] == "Intronic"
    assert [by_id.loc[vid(v), "variant_class"] for v in (MISSENSE, silent, intronic, OFF_CONTIG,
                                                        NO_GENE, FRAMESHIFT)] \
        == ["missense", "synonymous", "intronic", "intergenic", "intergenic", "frameshift"]
    assert pd.isna(by_id.loc[vid(filtered[0]), "variant_class"])
    assert by_id.loc[vid(OFF_CONTIG), "status"] == "outside_reference"
    assert "chr4" in by_id.loc[vid(OFF_CONTIG), "reason"]
    assert by_id.loc[vid(NO_GENE), "status"] == "outside_reference"
    assert by_id.loc[vid(FRAMESHIFT), "status"] == "protein_changing"
    # effects: input order, then transcript id; only protein-changing variants
    assert list(dict.fromkeys(effects["variant_id"])) == [vid(MISSENSE), vid(FRAMESHIFT)]
    assert list(effects.columns) == annotate.EFFECT_COLUMNS
    # the accounting's own cells are written back unchanged
    assert list(variants["tumor_vaf"]) == list(accounting["tumor_vaf"])


def test_splice_sites_use_the_most_likely_outcome(mini_genome, oracle, tmp_path):
    """Synthetic alleles at a real ABCF2 exon boundary (minus strand: intron +1 is exon.start - 1).

    The canonical donor (+1, reference C on the + strand) is most likely skipped (varcode's
    ExonSkipping); the expected protein lacks the exon's residues. Intron +4 most likely splices
    normally: non-coding.
    """
    tid = "ENST00000222388"
    exon = mini_genome.transcript_by_id(tid).exons[3]
    donor = ("chr7", exon.start - 1, "C", "A")
    near = ("chr7", exon.start - 4, "A", "C")
    effects, variants = run_annotate(mini_genome, tmp_path, [donor, near])
    transcript = mini_genome.transcript_by_id(tid)
    first, last = transcript.spliced_offset(exon.end), transcript.spliced_offset(exon.start)
    assert (last - first + 1) % 3 == 0  # in-frame exon
    seq, protein = oracle.cdna[tid], oracle.pep[tid]
    skipped = seq[:first] + seq[last + 1:]
    mutant = protein[0] + translate(skipped[oracle.cds_start(tid) + 3:])
    i = first_difference(protein, mutant)
    row = effects[(effects["variant_id"] == vid(donor)) & (effects["transcript_id"] == tid)].iloc[0]
    assert row["effect"] == "ExonSkipping"
    assert row["mutation_start"] == row["mutation_end"] == 40
    assert row["mutant_context"] == mutant[i - 40:i + 40]
    by_id = variants.set_index("variant_id")
    assert by_id.loc[vid(donor), "status"] == "protein_changing"
    assert by_id.loc[vid(near), "status"] == "non_coding"
    assert by_id.loc[vid(near), "effect"] == "IntronicSpliceSite"
    assert by_id.loc[vid(donor), "variant_class"] == by_id.loc[vid(near), "variant_class"] \
        == "splice_site"


CUL9_MISSENSE = ("chr6", 43186384, "G", "T")  # demo osteosarc VCFs (p.D394Y), plus strand


def test_evidence_marks_predicted_splice_outcomes(mini_genome, oracle, tmp_path):
    """CUL9 (ENST00000252050, plus strand): the demo's missense variant is DNA-certain; a
    donor +1 allele (after the exon ending at 43187096 - 1) and an allele of the first base
    of the demo variant's exon are splice-derived, whatever their most likely outcome
    (exon skipping; the coding change with normal splicing)."""
    tid = "ENST00000252050"
    transcript = mini_genome.transcript_by_id(tid)
    assert transcript.strand == "+"
    donor_exon = next(e for e in transcript.exons if e.end == 43187095)
    demo_exon = next(e for e in transcript.exons if e.start <= CUL9_MISSENSE[1] <= e.end)
    donor = ("chr6", donor_exon.end + 1, "G", "T")  # canonical GT: intron +1 is G
    first = oracle.cdna[tid][transcript.spliced_offset(demo_exon.start)]
    exonic = ("chr6", demo_exon.start, first, "C" if first != "C" else "A")
    effects, variants = run_annotate(mini_genome, tmp_path, [CUL9_MISSENSE, donor, exonic])
    assert list(effects.columns) == annotate.EFFECT_COLUMNS
    evidence = effects.groupby("variant_id")["evidence"].agg(set)
    assert evidence[vid(CUL9_MISSENSE)] == {"dna"}
    assert evidence[vid(donor)] == {"predicted_splice"}
    assert evidence[vid(exonic)] == {"predicted_splice"}
    by_id = variants.set_index("variant_id")
    assert by_id.loc[vid(donor), "variant_class"] == by_id.loc[vid(exonic), "variant_class"] \
        == "splice_site"
    assert by_id.loc[vid(CUL9_MISSENSE), "variant_class"] == "missense"
    # the exonic allele's peptides are its coding change, assuming normal splicing
    row = effects[(effects["variant_id"] == vid(exonic)) & (effects["transcript_id"] == tid)]
    assert row["effect"].tolist() == ["Substitution"]


def test_one_reference_mismatch_is_dropped_and_the_sample_runs(mini_genome, tmp_path):
    """A single record whose REF disagrees with the reference is accounted for as
    filtered with reason ref_mismatch (naming the site and the bases); the other
    variants are annotated (only a majority of mismatches stops the sample)."""
    chrom, pos, _, alt = MISSENSE
    wrong = (chrom, pos, "A", alt)  # the reference (transcript) base is G
    _, variants = run_annotate(mini_genome, tmp_path, [wrong])
    row = variants.set_index("variant_id").loc[vid(wrong)]
    assert row["status"] == "filtered"
    assert row["reason"].startswith("ref_mismatch: ") and "'A'" in row["reason"]


def wrong_refs(mini_genome, oracle) -> list[tuple]:
    """Alleles of a real missense site whose REF disagrees with the transcript."""
    chrom, pos, ref, _ = MISSENSE
    wrongs = [(chrom, pos + shift, base, "T" if base != "T" else "C")
              for shift in (0, 3, 6, 9) for base in "ACGT"]
    tid = sorted(oracle(MISSENSE))[0]
    transcript = mini_genome.transcript_by_id(tid)
    seq = oracle.cdna[tid]
    # keep the alleles whose REF (plus strand) differs from the transcript base (minus strand)
    return [w for w in wrongs if revcomp(seq[transcript.spliced_offset(w[1])]) != w[2]]


def test_many_reference_mismatches_suggest_a_build_mismatch(mini_genome, oracle, tmp_path):
    """Every allele of a real missense site with a wrong REF: all named, build suspected."""
    wrongs = wrong_refs(mini_genome, oracle)[::3]
    assert len(wrongs) >= 4
    with pytest.raises(ReferenceError_) as caught:
        run_annotate(mini_genome, tmp_path, [MISSENSE, *wrongs])
    message = str(caught.value)
    assert f"{len(wrongs)} of {len(wrongs) + 1} annotated variants" in message
    assert "genome-build mismatch is likely" in message
    assert message.index("another genome build") < message.index("not normalised")
    assert all(vid(w) in message for w in wrongs[:5])


def test_mismatches_are_reported_in_record_order_whatever_the_annotation_order(mini_genome,
                                                                              oracle):
    wrongs = wrong_refs(mini_genome, oracle)
    assert len(wrongs) > 5  # more than the message shows
    records = [annotate.SomaticRecord(vid(v), *v) for v in [MISSENSE, *wrongs]]
    messages = []
    for order in (None, list(reversed(range(len(records))))):
        with pytest.raises(ReferenceError_) as caught:
            annotate.annotate_records(records, mini_genome, order=order)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    # the first five in record order are shown (record 1 is the valid MISSENSE)
    assert all(f"record {n} ({vid(w)})" in messages[0] for n, w in enumerate(wrongs[:5], start=2))
    assert vid(wrongs[-1]) not in messages[0]
    assert f"... and {len(wrongs) - 5} more" in messages[0]


def annotate_args(genome, vcf: Path, accounting: Path, directory: Path,
                  tag: str = "") -> argparse.Namespace:
    return parse(["annotate", "--vcf", str(vcf), "--accounting", str(accounting),
                  "--gtf", str(REFERENCE_DIR / "reference.gtf.gz"),
                  "--cdna", str(REFERENCE_DIR / "reference.cdna.fa.gz"),
                  "--pep", str(REFERENCE_DIR / "reference.pep.fa.gz"),
                  "--reference-name", "GRCh38", "--release", "87",
                  "--cache-dir", str(cache_root(genome)),
                  "--out-effects", str(directory / f"effects{tag}.tsv"),
                  "--out-variants", str(directory / f"variants{tag}.tsv")])


def effects_table(accounting: pd.DataFrame, annotations: dict) -> pd.DataFrame:
    """effects.tsv built at once from every annotation: rows in accounting (input) order,
    then transcript_id (``neorank annotate`` writes them block by block)."""
    rows: list[dict] = []
    seen: set[str] = set()
    for vid in accounting["variant_id"]:
        if vid in seen or vid not in annotations:
            continue
        seen.add(vid)
        rows.extend(annotations[vid].rows)
    return pd.DataFrame(rows, columns=annotate.EFFECT_COLUMNS)


def test_effects_are_written_in_blocks_in_accounting_order(mini_genome, tmp_path, monkeypatch,
                                                           caplog):
    """The streamed effects table is the one built from all annotations at once, in
    accounting order (here the reverse of the VCF's), for any block size."""
    kept = [MISSENSE, DELETION, OFF_CONTIG, FRAMESHIFT, MISSENSE_MT]
    vcf, accounting = write_inputs(tmp_path, kept, filtered=[NO_GENE])
    header, *rows = accounting.read_text().splitlines()
    accounting.write_text("\n".join([header, *reversed(rows)]) + "\n")
    frame = annotate.read_accounting(accounting)
    annotations = annotate.annotate_records(annotate.read_somatic_vcf(vcf), mini_genome)
    expected = effects_table(frame, annotations)
    write_tsv(expected, tmp_path / "expected.tsv", columns=annotate.EFFECT_COLUMNS)
    assert list(dict.fromkeys(expected["variant_id"])) \
        == [vid(v) for v in reversed(kept) if v != OFF_CONTIG]
    assert len(expected) > len(kept)  # several transcripts per variant
    for tag, block_rows in (("1", 1), ("3", 3), ("big", 10_000)):
        monkeypatch.setattr(annotate, "EFFECT_BLOCK_ROWS", block_rows)
        args = annotate_args(mini_genome, vcf, accounting, tmp_path, tag)
        with caplog.at_level(logging.INFO, logger="neorank.annotate"):
            assert args.run(args) == 0
        assert (tmp_path / f"effects{tag}.tsv").read_bytes() \
            == (tmp_path / "expected.tsv").read_bytes()
        assert (tmp_path / f"variants{tag}.tsv").read_bytes() \
            == (tmp_path / "variants1.tsv").read_bytes()
    assert not list(tmp_path.glob("*.tmp"))
    assert "annotate: 5 of 5 variants (100%)" in caplog.messages
    variants = read_tsv(tmp_path / "variants1.tsv", dtype=str)
    assert list(variants["variant_id"]) == list(frame["variant_id"])


def test_progress_lines_are_counted_not_timed(caplog):
    assert progress_step(100_000) == 5_000
    assert progress_step(9_386) == 1_000
    assert progress_step(250_001) == 13_000
    done = []
    with caplog.at_level(logging.INFO, logger="neorank.annotate"):
        for item in progress(range(2_500), "annotate", "variants"):
            done.append(item)
            if item == 999:  # the line for an item comes after its processing
                assert not caplog.messages
    assert done == list(range(2_500))
    assert caplog.messages == ["annotate: 1,000 of 2,500 variants (40%)",
                               "annotate: 2,000 of 2,500 variants (80%)",
                               "annotate: 2,500 of 2,500 variants (100%)"]


def test_outputs_are_byte_identical(mini_genome, tmp_path):
    kept = [MISSENSE, DELETION, FRAMESHIFT, OFF_CONTIG]
    run_annotate(mini_genome, tmp_path, kept, tag="1")
    run_annotate(mini_genome, tmp_path, kept, tag="2")
    for name in ("effects", "variants"):
        assert (tmp_path / f"{name}1.tsv").read_bytes() == (tmp_path / f"{name}2.tsv").read_bytes()


def test_canonical_keeps_longest_cds_per_gene(mini_genome, oracle, tmp_path):
    effects, _ = run_annotate(mini_genome, tmp_path, [MISSENSE, DELETION],
                              extra=["--transcripts", "canonical"])
    for variant in (MISSENSE, DELETION):
        proteins = oracle(variant)
        longest = min(proteins, key=lambda t: (-len(proteins[t][0]), t))
        assert list(effects.loc[effects["variant_id"] == vid(variant), "transcript_id"]) == [longest]


def test_vcf_and_accounting_must_match(mini_genome, tmp_path):
    vcf, accounting = write_inputs(tmp_path, [MISSENSE, FRAMESHIFT])
    lines = accounting.read_text().splitlines()
    accounting.write_text("\n".join(lines[:-1]) + "\n")  # drop the frameshift's row
    args = parse(["annotate", "--vcf", str(vcf), "--accounting", str(accounting),
                  "--gtf", str(REFERENCE_DIR / "reference.gtf.gz"),
                  "--cdna", str(REFERENCE_DIR / "reference.cdna.fa.gz"),
                  "--pep", str(REFERENCE_DIR / "reference.pep.fa.gz"), "--release", "87",
                  "--cache-dir", str(cache_root(mini_genome)),
                  "--out-effects", str(tmp_path / "e.tsv"), "--out-variants", str(tmp_path / "v.tsv")])
    with pytest.raises(InputFileError, match="not kept in the accounting"):
        args.run(args)


def test_index_reference_and_cache_key(mini_genome, tmp_path):
    gtf, cdna, pep = (REFERENCE_DIR / f"reference.{n}" for n in ("gtf.gz", "cdna.fa.gz", "pep.fa.gz"))
    parser = argparse.ArgumentParser(prog="neorank")
    reference.add_reference_arguments(parser)
    args = parser.parse_args(["--gtf", str(gtf), "--cdna", str(cdna), "--pep", str(pep),
                              "--release", "87", "--cache-dir", str(cache_root(mini_genome))])
    assert reference.index_reference(args) == 0
    folder = reference.local_cache_dir(cache_root(mini_genome), "GRCh38", 87, gtf, cdna, pep)
    assert str(folder) == mini_genome.download_cache.cache_directory_path
    assert folder.name == "GRCh38-local87-" + reference.reference_key(gtf, cdna, pep)
    assert len(reference.reference_key(gtf, cdna, pep)) == 12


def test_missing_ensembl_release_names_install_command(tmp_path):
    with pytest.raises(ReferenceError_) as caught:
        reference.load_ensembl_release(87, "human", cache_root=tmp_path,
                                       server="http://127.0.0.1:9/ensembl")
    message = str(caught.value)
    assert "pyensembl install --release 87 --species human" in message
    assert "--server http://127.0.0.1:9/ensembl" in message


@pytest.mark.slow
def test_installed_ensembl_release_from_a_mirror(tmp_path):
    """The real-user path: `pyensembl install --server MIRROR`, then annotate on that release.

    The mirror serves the embedded subset under Ensembl's file names from a loopback HTTP server.
    """
    import functools
    import http.server
    import os
    import shutil
    import subprocess
    import sys
    import threading

    mirror = tmp_path / "mirror" / "pub" / "release-87"
    names = {"gtf/homo_sapiens/Homo_sapiens.GRCh38.87.gtf.gz": "reference.gtf.gz",
             "gtf/homo_sapiens/Homo_sapiens.GRCh38.87.chr_patch_hapl_scaff.gtf.gz": "reference.gtf.gz",
             "fasta/homo_sapiens/cdna/Homo_sapiens.GRCh38.cdna.all.fa.gz": "reference.cdna.fa.gz",
             "fasta/homo_sapiens/pep/Homo_sapiens.GRCh38.pep.all.fa.gz": "reference.pep.fa.gz"}
    for target, source in names.items():
        (mirror / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REFERENCE_DIR / source, mirror / target)
    ncrna = mirror / "fasta/homo_sapiens/ncrna/Homo_sapiens.GRCh38.ncrna.fa.gz"
    ncrna.parent.mkdir(parents=True)
    with gzip.open(ncrna, "wt") as handle:
        handle.write(">ENST00000000001.1 ncrna\nACGT\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    cache = tmp_path / "pyensembl-cache"
    try:
        with pytest.raises(ReferenceError_, match="pyensembl install --release 87"):
            reference.load_ensembl_release(87, cache_root=cache, server=url)
        subprocess.run([sys.executable, "-c", "import sys; from pyensembl.shell import run; "
                        "sys.exit(run())", "install", "--release", "87", "--species", "human",
                        "--server", url], check=True, capture_output=True, timeout=300,
                       env=dict(os.environ, PYENSEMBL_CACHE_DIR=str(cache)))
        genome = reference.load_genome(ensembl_release=87, cache_dir=cache, server=url)
        annotations = annotate.annotate_records([annotate.SomaticRecord(vid(MISSENSE), *MISSENSE)],
                                                genome)
        assert annotations[vid(MISSENSE)].status == "protein_changing"
    finally:
        server.shutdown()
        server.server_close()


def test_protein_change_text_is_hgvs_one_based():
    """Regression: in-frame indel descriptions use 1-based residue numbers."""
    from types import SimpleNamespace

    from varcode.effects.effect_classes import Deletion, Insertion

    from neorank.annotate.effects import protein_change

    protein = "MAKLQQW"
    deletion = Deletion.__new__(Deletion)
    deletion.__dict__.update(aa_ref="KL", aa_alt="", aa_mutation_start_offset=2,
                             original_protein_sequence=protein)
    assert protein_change(deletion) == "p.K3_L4del"
    single = Deletion.__new__(Deletion)
    single.__dict__.update(aa_ref="L", aa_alt="", aa_mutation_start_offset=3,
                           original_protein_sequence=protein)
    assert protein_change(single) == "p.L4del"
    insertion = Insertion.__new__(Insertion)
    insertion.__dict__.update(aa_ref="", aa_alt="GG", aa_mutation_start_offset=3,
                              transcript=SimpleNamespace(protein_sequence=protein))
    assert protein_change(insertion) == "p.K3_L4insGG"
    other = SimpleNamespace(short_description="p.R5fs")
    assert protein_change(other) == "p.R5fs"
