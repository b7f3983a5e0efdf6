"""Full accounting on a public call set: the SEQC2 HCC1395 SNV truth set (39,560 records).

The file (tests/data/public/README.md) goes through ``neorank preflight``,
``somatic`` and ``annotate`` as separate CLI processes (scripts/benchmark_load.py,
the same harness that measures the load in docs/benchmarks.md), on the embedded
Ensembl 87 subset. Expectations come from the VCF text and from pyensembl
directly, never from NeoRank's own output: one variants.tsv row per record x
ALT in input order; ``outside_reference`` exactly where pyensembl finds no gene;
protein changes re-derived by translating the transcript's coding sequence.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

from neorank import cli
from neorank.vcf import rejected_filters

REPO = Path(__file__).resolve().parents[2]
PUBLIC = REPO / "tests" / "data" / "public"
HCC1395 = PUBLIC / "hcc1395-seqc2-snv.vcf.gz"
#: varcode 10.21.1 tests/data/SHA256SUMS and public_somatic/manifest.json.
HCC1395_SHA256 = "1d2749679ece7e81022cc52d4c20ad7744c2e3590bed84ba6baaa01217756af6"
HCC1395_RECORDS = 39_560
STATUSES = {"filtered", "outside_reference", "non_coding", "silent", "no_peptides",
            "protein_changing"}

# NCBI translation table 1, codons ordered TCAG x TCAG x TCAG.
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODONS = {a + b + c: _AMINO[16 * i + 4 * j + k] for i, a in enumerate(_BASES)
          for j, b in enumerate(_BASES) for k, c in enumerate(_BASES)}
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _load_harness():
    spec = importlib.util.spec_from_file_location("benchmark_load",
                                                  REPO / "scripts" / "benchmark_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def vcf_rows(path: Path) -> list[dict[str, str]]:
    """One dict per record x ALT from the VCF text (independent of pysam)."""
    rows = []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            chrom, pos, _id, ref, alts, _qual, filt = line.rstrip("\n").split("\t")[:7]
            for alt in alts.split(","):
                rows.append({"variant_id": f"{chrom}:{pos}:{ref}>{alt}", "chrom": chrom,
                             "pos": int(pos), "ref": ref, "alt": alt, "filter": filt})
    return rows


@pytest.fixture(scope="module")
def hcc1395_rows() -> list[dict[str, str]]:
    return vcf_rows(HCC1395)


def test_fixture_is_the_pinned_public_file(hcc1395_rows):
    assert hashlib.sha256(HCC1395.read_bytes()).hexdigest() == HCC1395_SHA256
    assert len(hcc1395_rows) == HCC1395_RECORDS
    readme = (PUBLIC / "README.md").read_text()
    assert HCC1395_SHA256 in readme and "varcode" in readme and "CC BY 4.0" in readme


def test_verbatim_plain_gzip_file_gets_the_bgzip_fix(tmp_path, capsys):
    """The file as published is plain gzip: preflight and somatic say how to fix it."""
    code = cli.main(["preflight", "--sample", "hcc1395", "--tumor-vcf", str(HCC1395),
                     "--normal-vcf", str(HCC1395), "--alleles", "HLA-A*02:01",
                     "--out", str(tmp_path / "preflight.tsv")])
    assert code == 1
    report = pd.read_csv(tmp_path / "preflight.tsv", sep="\t", dtype=str, keep_default_na=False)
    compression = report[(report.severity == "error") & (report.check == "compression")]
    assert str(HCC1395) in set(compression.file)
    assert compression.fix.str.contains("bgzip").all()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["somatic", "--sample", "hcc1395", "--tumor-vcf", str(HCC1395),
                  "--normal-vcf", str(HCC1395), "--out-vcf", str(tmp_path / "s.vcf.gz"),
                  "--out-accounting", str(tmp_path / "a.tsv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "plain gzip" in err and str(HCC1395) in err and "Traceback" not in err


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    """preflight + somatic + annotate on the bgzipped copy, SEQC2 labels accepted."""
    workdir = tmp_path_factory.mktemp("hcc1395")
    runs = harness.run_load(HCC1395, workdir, harness.SEQC2_FILTERS)
    return workdir, runs


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.mark.slow
def test_every_record_and_alt_has_one_row_with_a_status(load, hcc1395_rows):
    workdir, runs = load
    assert {name: run.returncode for name, run in runs.items()} == dict.fromkeys(runs, 0)
    expected_ids = [row["variant_id"] for row in hcc1395_rows]
    for table in ("accounting.tsv", "variants.tsv"):
        frame = read(workdir / table)
        assert len(frame) == len(hcc1395_rows), table
        assert list(frame.variant_id) == expected_ids, table  # input order, nothing merged
    variants = read(workdir / "variants.tsv")
    assert set(variants.status) <= STATUSES
    assert (variants.status != "").all()
    unexplained = variants[(variants.status != "protein_changing") & (variants.reason == "")]
    assert unexplained.empty
    # Every SEQC2 label is accepted here, and the input is sites-only with an
    # empty normal: no record may be filtered.
    accepted = set(harness.SEQC2_FILTERS)
    assert all(set(row["filter"].split(";")) <= accepted for row in hcc1395_rows)
    assert (read(workdir / "accounting.tsv").status == "somatic").all()
    preflight = read(workdir / "preflight.tsv")
    assert not (preflight.severity == "error").any(), preflight[preflight.severity == "error"]


@pytest.mark.slow
def test_outside_reference_exactly_where_no_gene_overlaps(load, hcc1395_rows, mini_genome):
    workdir, _ = load
    variants = read(workdir / "variants.tsv").set_index("variant_id")
    contigs = set(mini_genome.contigs())
    expected_outside = set()
    for row in hcc1395_rows:
        contig = row["chrom"].removeprefix("chr")
        if contig not in contigs or not mini_genome.genes_at_locus(contig, row["pos"]):
            expected_outside.add(row["variant_id"])
    outside = set(variants.index[variants.status == "outside_reference"])
    assert outside == expected_outside
    # Most of the genome is not in the 47-gene subset, but some variants are.
    assert len(outside) > 39_000 and len(variants) - len(outside) > 20


@pytest.mark.slow
def test_protein_changes_match_an_independent_translation(load, mini_genome):
    workdir, _ = load
    effects = read(workdir / "effects.tsv")
    variants = read(workdir / "variants.tsv")
    changing = set(variants.variant_id[variants.status == "protein_changing"])
    assert changing and set(effects.variant_id) == changing
    checked = 0
    for row in effects.itertuples(index=False):
        chrom, pos, change = row.variant_id.split(":")
        ref, alt = change.split(">")
        transcript = mini_genome.transcript_by_id(row.transcript_id)
        offset = transcript.spliced_offset(int(pos)) - transcript.first_start_codon_spliced_offset
        codon_start = offset - offset % 3
        cds = transcript.coding_sequence
        codon = cds[codon_start:codon_start + 3]
        base_ref, base_alt = (ref, alt) if transcript.strand == "+" else (
            ref.translate(COMPLEMENT), alt.translate(COMPLEMENT))
        assert cds[offset] == base_ref, row.variant_id  # the truth set agrees with Ensembl 87
        mutant = codon[:offset % 3] + base_alt + codon[offset % 3 + 1:]
        wild_aa, mutant_aa = CODONS[codon], CODONS[mutant]
        assert row.protein_change == f"p.{wild_aa}{codon_start // 3 + 1}{mutant_aa}"
        checked += 1
    assert checked == len(effects) >= 4


def test_default_pass_filters_account_for_every_multi_value_filter(tmp_path, hcc1395_rows):
    """Default [PASS]: 'PASS;AllPASS;HighConf' is filtered, with the rejected labels named."""
    tumor = harness.bgzip_copy(HCC1395, tmp_path / "tumor.vcf.gz")
    normal = tmp_path / "normal.vcf"
    normal.write_text(harness.NORMAL_HEADER)
    code = cli.main(["somatic", "--sample", "hcc1395", "--tumor-vcf", str(tumor),
                     "--normal-vcf", str(normal), "--out-vcf", str(tmp_path / "s.vcf.gz"),
                     "--out-accounting", str(tmp_path / "accounting.tsv")])
    assert code == 0
    accounting = read(tmp_path / "accounting.tsv")
    assert len(accounting) == len(hcc1395_rows)
    expected = []
    for row in hcc1395_rows:
        labels = row["filter"].split(";")
        rejected = [label for label in labels if label != "PASS"]
        expected.append(f"FILTER={row['filter']} ({', '.join(rejected)} not accepted)"
                        if rejected else "")
    assert list(accounting.reason) == expected
    assert (accounting.status == "filtered").sum() == sum(1 for e in expected if e)


@pytest.mark.parametrize(("filter_text", "accepted", "rejected"), [
    (".", ("PASS",), []),
    ("PASS", ("PASS",), []),
    ("PASS;HighConf", ("PASS",), ["HighConf"]),
    ("PASS;HighConf", ("PASS", "HighConf"), []),
    ("PASS;germline_risk", ("PASS", "HighConf"), ["germline_risk"]),  # all, not any
    ("LowQual;germline_risk", ("PASS",), ["LowQual", "germline_risk"]),
])
def test_rejected_filters(filter_text, accepted, rejected):
    assert rejected_filters(filter_text, accepted) == rejected


def test_pass_filter_values_are_validated(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["somatic", "--sample", "s", "--tumor-vcf", "t.vcf", "--normal-vcf", "n.vcf",
                  "--pass-filter", "PASS;HighConf", "--out-vcf", str(tmp_path / "s.vcf.gz"),
                  "--out-accounting", str(tmp_path / "a.tsv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'PASS;HighConf' is not a FILTER value" in err and "--pass-filter HighConf" in err


REAL_CALLERS = REPO / "tests" / "data" / "real_callers"


@pytest.mark.parametrize(("name", "mode"), [
    ("mutect2_example.vcf", ["--normal-vcf", "{normal}", "--tumor-sample", "NA12878"]),
    ("strelka2_somatic_snvs.vcf", ["--tumor-sample", "TUMOR", "--normal-sample", "NORMAL"]),
])
def test_real_caller_vcfs_keep_every_allele_in_variants_tsv(name, mode, tmp_path, capsys,
                                                            mini_genome):
    """Real Mutect2 / Strelka2 layouts (tests/data/README.md) through somatic and annotate."""
    source = REAL_CALLERS / name
    normal = tmp_path / "normal.vcf"
    normal.write_text(harness.NORMAL_HEADER)
    flag = "--tumor-vcf" if "--normal-vcf" in mode else "--paired-vcf"
    mode = [str(normal) if arg == "{normal}" else arg for arg in mode]
    assert cli.main(["somatic", "--sample", "S", flag, str(source), *mode,
                     "--out-vcf", str(tmp_path / "s.vcf.gz"),
                     "--out-accounting", str(tmp_path / "a.tsv")]) == 0
    cache_root = Path(mini_genome.download_cache.cache_directory_path).parent
    assert cli.main(["annotate", "--vcf", str(tmp_path / "s.vcf.gz"),
                     "--accounting", str(tmp_path / "a.tsv"),
                     *harness.reference_args(cache_root),
                     "--out-effects", str(tmp_path / "e.tsv"),
                     "--out-variants", str(tmp_path / "v.tsv")]) == 0, capsys.readouterr().err
    expected = []
    for line in source.read_text().splitlines():
        if not line.startswith("#"):
            chrom, pos, _, ref, alts = line.split("\t")[:5]
            expected += [f"{chrom}:{pos}:{ref}>{alt}" for alt in alts.split(",")]
    variants = read(tmp_path / "v.tsv")
    assert list(variants.variant_id) == expected
    assert set(variants.status) <= STATUSES
    assert (variants.reason[variants.status != "protein_changing"] != "").all()
