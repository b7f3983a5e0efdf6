"""Stage ``somatic``: accounting, filters, germline subtraction, output VCF."""

from __future__ import annotations

import argparse
import gzip
import importlib
from pathlib import Path

import pysam
import pytest

from neorank import cli, somatic
from neorank.errors import InputFileError, NeoRankError
from neorank.io import read_tsv
from neorank.vcf import make_variant_id, normalize_allele, normalize_contig

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "data" / "real_callers"
MUTECT2 = REAL / "mutect2_example.vcf"
STRELKA2 = REAL / "strelka2_somatic_snvs.vcf"
DEMO = REPO / "resources" / "demo"
DEFAULTS = somatic.Thresholds()

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality">
##FILTER=<ID=germline_risk,Description="Germline risk">
##ALT=<ID=DEL,Description="Deletion">
##contig=<ID={c1},length=1000000>
##contig=<ID={c2},length=1000000>
##contig=<ID={cm},length=16569>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">
##FORMAT=<ID=TAR,Number=2,Type=Integer,Description="Strelka2 ref tier counts">
##FORMAT=<ID=TIR,Number=2,Type=Integer,Description="Strelka2 indel tier counts">
"""


def write_vcf(path: Path, samples: list[str], rows: list[str], chr_prefix: bool = True) -> Path:
    """Plain-text VCF; each row is whitespace-separated columns."""
    names = ("chr1", "chr2", "chrM") if chr_prefix else ("1", "2", "MT")
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if samples:
        columns += ["FORMAT", *samples]
    lines = [HEADER.format(c1=names[0], c2=names[1], cm=names[2]).rstrip("\n"),
             "\t".join(columns)]
    lines += ["\t".join(row.split()) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def n_alleles(path: Path) -> int:
    """Input records x ALT alleles, counted independently with pysam."""
    with pysam.VariantFile(str(path)) as vcf:
        return sum(len(record.alts or (None,)) for record in vcf)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    somatic.add_subcommand(parser.add_subparsers())
    return parser.parse_args(["somatic", *argv])


def run_stage(tmp_path: Path, *argv: str, name: str = "S"):
    out_vcf = tmp_path / "out" / name / "somatic.vcf.gz"
    out_tsv = tmp_path / "out" / "somatic" / f"{name}.accounting.tsv"
    args = parse(["--sample", name, *argv, "--out-vcf", str(out_vcf),
                  "--out-accounting", str(out_tsv)])
    assert somatic.run(args) == 0
    return read_tsv(out_tsv), out_vcf


def by_id(table) -> dict[str, dict]:
    return {row["variant_id"]: row for row in table.to_dict("records")}


# --------------------------------------------------------------------- real callers
@pytest.fixture()
def mutect2_normal(tmp_path: Path) -> Path:
    return write_vcf(tmp_path / "normal.vcf", ["N"], [
        "chrM 152 . T C . PASS . GT:AD:DP 0/1:10,10:20",
        "chrM 301 . A AC . PASS . GT:AD:DP 0/0:20,0:20",  # genotype without the allele
    ])


def test_mutect2_one_row_per_record_and_alt(tmp_path, mutect2_normal):
    table, _ = run_stage(tmp_path, "--tumor-vcf", str(MUTECT2), "--normal-vcf",
                         str(mutect2_normal))
    assert len(table) == n_alleles(MUTECT2) == 11
    assert list(table.columns) == somatic.ACCOUNTING_COLUMNS
    rows = by_id(table)
    # Quad-allelic record split into three alleles; no FORMAT DP -> sum(AD).
    split = [v for v in table.variant_id if v.startswith("chrM:302:")]
    assert split == ["chrM:302:A>AC", "chrM:302:A>C", "chrM:302:A>ACC"]
    assert rows["chrM:302:A>C"]["tumor_depth"] == 5 + 401 + 67 + 49
    assert rows["chrM:302:A>C"]["tumor_alt_reads"] == 67
    assert rows["chrM:302:A>C"]["tumor_vaf"] == pytest.approx(0.128)
    assert rows["chrM:152:T>C"]["filter"] == "."
    assert rows["chrM:152:T>C"]["status"] == "filtered"
    assert rows["chrM:152:T>C"]["reason"].startswith(somatic.GERMLINE_REASON)
    assert rows["chrM:301:A>AC"]["status"] == "somatic"  # normal GT 0/0
    assert (table.status == "somatic").sum() == 10


def test_strelka2_tier_counts_and_filter(tmp_path):
    table, out_vcf = run_stage(tmp_path, "--paired-vcf", str(STRELKA2),
                               "--tumor-sample", "TUMOR", "--normal-sample", "NORMAL")
    assert len(table) == n_alleles(STRELKA2)
    rows = by_id(table)
    first = rows["chr1:1234567:G>A"]
    assert (first["tumor_depth"], first["tumor_alt_reads"]) == (28, 11)
    assert first["tumor_vaf"] == pytest.approx(11 / 28, rel=1e-5)
    assert (first["normal_depth"], first["normal_vaf"]) == (30, 0)
    assert rows["chr1:2345678:C>T"]["reason"] == "FILTER=LowEVS"
    assert list(table.status) == ["somatic", "filtered", "somatic"]
    with pysam.VariantFile(str(out_vcf)) as vcf:
        assert list(vcf.header.samples) == ["TUMOR"]
        records = list(vcf)
    assert [r.pos for r in records] == [1234567, 5000000]
    assert records[0].samples["TUMOR"]["AD"] == (17, 11)
    # --no-require-pass keeps the LowEVS record.
    table, _ = run_stage(tmp_path, "--paired-vcf", str(STRELKA2), "--tumor-sample", "TUMOR",
                         "--normal-sample", "NORMAL", "--no-require-pass", name="nopass")
    assert (table.status == "somatic").all()


# ------------------------------------------------------------------- filter reasons
FILTER_ROWS = [
    # chrom pos id ref alt qual filter info format TUMOR NORMAL
    "chr2 50 . A G,T . PASS . GT:AD:DP 0/1/2:20,10,1:31 0/0:30,0,0:30",
    "chr1 100 . A G . LowQual . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 200 . C T . PASS . GT:AD:DP 0/1:3,3:6 0/0:30,0:30",
    "chr1 300 . G A . PASS . GT:AD:DP 0/1:48,2:50 0/0:30,0:30",
    "chr1 400 . T C . PASS . GT:AD:AF:DP 0/1:95,5:0.05:100 0/0:30,0:0:30",
    "chr1 500 . A C . PASS . GT:AD:DP 0/1:160,4:164 0/0:30,0:30",
    "chr1 600 . A T . PASS . GT:AD:DP 0/1:20,10:30 0/0:4,0:4",
    "chr1 700 . C G . PASS . GT:AD:AF:DP 0/1:20,10:0.333:30 0/0:49,1:0.02:50",
    "chr1 800 . A <DEL> . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 900 . A ]chr2:123]A . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 1000 . A * . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 1100 . A A . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 1200 . R A . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    "chr1 1300 . G C . . . GT 0/1 0/0",
    "chr1 1400 . G T . germline_risk . GT:AD:DP 0/1:8,2:10 0/0:40,10:50",
    "chr1 1500 . GT G . PASS . GT:TAR:TIR:DP 0/1:20,21:10,11:30 0/0:30,31:0,0:30",
]
EXPECTED_REASONS = {
    "chr2:50:A>G": "",
    "chr2:50:A>T": "tumor_alt_reads 1 < 3; tumor_vaf 0.03226 < 0.05",
    "chr1:100:A>G": "FILTER=LowQual",
    "chr1:200:C>T": "tumor_depth 6 < 10",
    "chr1:300:G>A": "tumor_alt_reads 2 < 3; tumor_vaf 0.04 < 0.05",
    "chr1:400:T>C": "",  # VAF exactly at the minimum passes
    "chr1:500:A>C": "tumor_vaf 0.02439 < 0.05",
    "chr1:600:A>T": "normal_depth 4 < 5",
    "chr1:700:C>G": "normal_vaf 0.02 >= 0.02",  # exactly the maximum fails
    "chr1:800:A><DEL>": "symbolic ALT <DEL>",
    # Alleles over 10 bases read short in the id (neorank.vcf.make_variant_id).
    make_variant_id("chr1", 900, "A", "]chr2:123]A"): "breakend ALT ]chr2:123]A",
    "chr1:1000:A>*": "spanning-deletion ALT *",
    "chr1:1100:A>A": "ALT identical to REF",
    "chr1:1200:R>A": "REF R contains characters other than A, C, G, T, N",
    "chr1:1300:G>C": "",  # no counts: not assessed, never a failure
    "chr1:1400:G>T": "FILTER=germline_risk; tumor_alt_reads 2 < 3; normal_vaf 0.2 >= 0.02",
    "chr1:1500:GT>G": "",
}


@pytest.fixture()
def filter_vcf(tmp_path: Path) -> Path:
    return write_vcf(tmp_path / "paired.vcf", ["TUMOR", "NORMAL"], FILTER_ROWS)


def test_each_filter_reason(tmp_path, filter_vcf):
    table, out_vcf = run_stage(tmp_path, "--paired-vcf", str(filter_vcf),
                               "--tumor-sample", "TUMOR", "--normal-sample", "NORMAL")
    assert len(table) == n_alleles(filter_vcf) == len(EXPECTED_REASONS)
    assert list(table.variant_id) == list(EXPECTED_REASONS)  # input order
    assert dict(zip(table.variant_id, table.reason, strict=True)) == EXPECTED_REASONS
    expected_status = ["filtered" if r else "somatic" for r in EXPECTED_REASONS.values()]
    assert list(table.status) == expected_status
    rows = by_id(table)
    assert rows["chr1:100:A>G"]["filter"] == "LowQual"
    assert rows["chr1:1300:G>C"]["filter"] == "."
    no_counts = rows["chr1:1300:G>C"]
    assert all(no_counts[c] is None or no_counts[c] != no_counts[c] for c in
               ("tumor_depth", "tumor_alt_reads", "tumor_vaf", "normal_depth", "normal_vaf"))
    strelka_indel = rows["chr1:1500:GT>G"]
    assert (strelka_indel["tumor_depth"], strelka_indel["tumor_alt_reads"]) == (30, 10)
    assert strelka_indel["tumor_vaf"] == pytest.approx(10 / 30, rel=1e-5)
    # The somatic VCF holds exactly the kept alleles, one ALT per record, sorted
    # by header contig order (chr1 before chr2) then position.
    with pysam.VariantFile(str(out_vcf)) as vcf:
        kept = [(r.chrom, r.pos, r.ref, r.alts) for r in vcf]
    assert kept == [("chr1", 400, "T", ("C",)), ("chr1", 1300, "G", ("C",)),
                    ("chr1", 1500, "GT", ("G",)), ("chr2", 50, "A", ("G",))]


def test_depth_and_vaf_fallbacks(tmp_path):
    vcf = write_vcf(tmp_path / "paired.vcf", ["TUMOR", "NORMAL"], [
        "chr1 100 . A G . PASS . GT:AD 0/1:30,10 0/0:20,0",  # no DP: sum(AD)
        "chr1 200 . A G . PASS . GT:AD:DP 0/1:30,10:50 0/0:20,0:25",  # no AF: alt / DP
        "chr1 300 . A G . PASS . GT:AD:AF:DP 0/1:30,10:0.3:50 0/0:20,0:0:25",  # AF wins
    ])
    table, _ = run_stage(tmp_path, "--paired-vcf", str(vcf), "--tumor-sample", "TUMOR",
                         "--normal-sample", "NORMAL")
    assert list(table.tumor_depth) == [40, 50, 50]
    assert list(table.tumor_vaf) == pytest.approx([0.25, 0.2, 0.3])
    assert list(table.normal_depth) == [20, 25, 25]


def test_thresholds_are_options(tmp_path, filter_vcf):
    table, _ = run_stage(tmp_path, "--paired-vcf", str(filter_vcf), "--tumor-sample", "TUMOR",
                         "--normal-sample", "NORMAL", "--min-tumor-depth", "5",
                         "--max-normal-vaf", "0.5", "--min-normal-depth", "0")
    rows = by_id(table)
    assert rows["chr1:200:C>T"]["status"] == "somatic"
    assert rows["chr1:600:A>T"]["status"] == "somatic"
    assert rows["chr1:700:C>G"]["status"] == "somatic"


# ------------------------------------------------------------------- separate mode
def test_separate_mode_subtracts_equivalent_germline_alleles(tmp_path):
    tumor = write_vcf(tmp_path / "tumor.vcf", ["T"], [
        "chr1 100 . A G . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 200 . C T . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 300 . C T . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 400 . A AT . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 500 . G A . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 600 . T C . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 700 . T C . PASS . GT:AD:DP 0/1:20,20:40",
        "chr1 800 . A C,G . PASS . GT:AD:DP 1/2:2,19,19:40",
        "chrM 50 . A G . PASS . GT:AD:DP 0/1:20,20:40",
    ])
    normal = write_vcf(tmp_path / "normal.vcf", ["N"], [
        "1 100 . A G . PASS . GT:AD:DP 0/1:15,15:30",  # same allele, no chr prefix
        "1 199 . GC GT . PASS . GT:AD:DP 0/1:15,15:30",  # extra shared anchor base
        "1 300 . CA TA . PASS . GT:AD:DP 0/1:15,15:30",  # extra shared suffix base
        "1 400 . AC ATC . PASS . GT:AD:DP 0/1:15,15:30",  # insertion, trailing context
        "1 500 . G C,A . PASS . GT:AD:DP 1/2:0,15,15:30",  # multi-allelic
        "1 600 . T C . PASS . GT:AD:DP 0/0:30,0:30",  # called, allele absent
        "1 700 . T G . PASS . GT:AD:DP 0/1:15,15:30",  # other ALT at the same site
        "1 800 . A G . PASS . GT:AD:DP 0/1:15,15:30",
        "MT 50 . A G . PASS . GT:AD:DP 1/1:0,30:30",  # chrM == MT
    ], chr_prefix=False)
    table, out_vcf = run_stage(tmp_path, "--tumor-vcf", str(tumor), "--normal-vcf", str(normal))
    assert len(table) == n_alleles(tumor) == 10
    status = dict(zip(table.variant_id, table.status, strict=True))
    germline = {"chr1:100:A>G", "chr1:200:C>T", "chr1:300:C>T", "chr1:400:A>AT",
                "chr1:500:G>A", "chr1:800:A>G", "chrM:50:A>G"}
    assert {v for v, s in status.items() if s == "filtered"} == germline
    rows = by_id(table)
    assert rows["chr1:500:G>A"]["normal_vaf"] == pytest.approx(0.5)
    assert rows["chrM:50:A>G"]["reason"] == f"{somatic.GERMLINE_REASON}; normal_vaf 1 >= 0.02"
    assert rows["chr1:600:T>C"]["normal_depth"] != rows["chr1:600:T>C"]["normal_depth"]  # NA
    with pysam.VariantFile(str(out_vcf)) as vcf:
        assert [(r.pos, r.alts[0]) for r in vcf] == [(600, "C"), (700, "C"), (800, "C")]


def test_normalize_allele():
    assert normalize_allele(199, "GC", "GT") == (200, "C", "T")
    assert normalize_allele(400, "AC", "ATC") == (400, "A", "AT")
    assert normalize_allele(10, "CAGT", "CT") == (10, "CAG", "C")
    assert normalize_contig("chrM") == normalize_contig("MT") == "MT"
    assert normalize_contig("chr17") == normalize_contig("17")


# -------------------------------------------------------------------------- errors
def test_wrong_tumor_sample_names_file_and_samples(tmp_path, filter_vcf):
    with pytest.raises(NeoRankError) as err:
        run_stage(tmp_path, "--paired-vcf", str(filter_vcf), "--tumor-sample", "TUMOUR",
                  "--normal-sample", "NORMAL")
    message = str(err.value)
    assert isinstance(err.value, InputFileError)
    assert str(filter_vcf) in message
    assert "'TUMOR', 'NORMAL'" in message
    assert "Did you mean 'TUMOR'?" in message
    assert "Fix:" in message


def test_wrong_sample_in_real_mutect2_file(tmp_path, mutect2_normal):
    with pytest.raises(InputFileError, match="NA12878") as err:
        run_stage(tmp_path, "--tumor-vcf", str(MUTECT2), "--tumor-sample", "tumor",
                  "--normal-vcf", str(mutect2_normal))
    assert str(MUTECT2) in str(err.value)


@pytest.mark.parametrize("case", ["ambiguous", "missing", "malformed", "no_normal_name",
                                  "both_modes", "no_input", "not_a_vcf"])
def test_bad_input_is_a_neorank_error(tmp_path, filter_vcf, case):
    single = write_vcf(tmp_path / "single.vcf", ["N"], ["chr1 1 . A G . PASS . GT 0/1"])
    bad = tmp_path / "bad.vcf"
    bad.write_text(filter_vcf.read_text() + "chr1\tnot_a_position\t.\tA\n")
    junk = tmp_path / "junk.vcf"
    junk.write_text("gene\tpeptide\nTP53\tAAAA\n")
    argv = {
        "ambiguous": ["--tumor-vcf", str(filter_vcf), "--normal-vcf", str(single)],
        "missing": ["--tumor-vcf", str(tmp_path / "absent.vcf"), "--normal-vcf", str(single)],
        "malformed": ["--paired-vcf", str(bad), "--tumor-sample", "TUMOR",
                      "--normal-sample", "NORMAL"],
        "no_normal_name": ["--paired-vcf", str(filter_vcf), "--tumor-sample", "TUMOR"],
        "both_modes": ["--paired-vcf", str(filter_vcf), "--tumor-vcf", str(filter_vcf),
                       "--tumor-sample", "TUMOR", "--normal-sample", "NORMAL"],
        "no_input": [],
        "not_a_vcf": ["--tumor-vcf", str(junk), "--normal-vcf", str(single)],
    }[case]
    with pytest.raises(NeoRankError) as err:
        run_stage(tmp_path, *argv)
    if case in ("ambiguous", "missing", "malformed", "not_a_vcf"):
        assert isinstance(err.value, InputFileError)
        assert err.value.where and err.value.fix
    if case == "ambiguous":
        assert "TUMOR, NORMAL" in str(err.value)
    if case == "malformed":
        assert "record 17" in str(err.value)


def test_sample_name_with_spaces_names_the_spaces_and_the_sheet_fix(tmp_path):
    vcf = write_vcf(tmp_path / "spaced.vcf", [" TUMOR ", "NORMAL"],
                    ["chr1 100 . A G . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30"])
    argv = ["--paired-vcf", str(vcf), "--normal-sample", "NORMAL"]
    with pytest.raises(InputFileError) as err:
        run_stage(tmp_path, *argv, "--tumor-sample", "TUMOR")
    assert "but ' TUMOR ' is: the VCF's sample name has leading and trailing space(s)" \
        in err.value.problem
    assert 'in the tumor_sample column (" TUMOR ")' in err.value.fix
    table, _ = run_stage(tmp_path, *argv, "--tumor-sample", " TUMOR ")  # exactly as written
    assert list(table["status"]) == ["somatic"]


@pytest.mark.parametrize(("content", "problem", "fix"), [
    (lambda text: b"\xef\xbb\xbf" + text, "starts with a UTF-8 byte-order mark",
     "sed -i '1s/^\\xEF\\xBB\\xBF//'"),
    (lambda text: text.replace(b"\n", b"\r"), "its lines end in CR only", "tr '\\r' '\\n'"),
])
def test_byte_order_mark_and_cr_line_endings_are_named(tmp_path, filter_vcf, content, problem,
                                                       fix):
    vcf = tmp_path / "windows.vcf"
    vcf.write_bytes(content(filter_vcf.read_bytes()))
    with pytest.raises(InputFileError) as err:
        run_stage(tmp_path, "--paired-vcf", str(vcf), "--tumor-sample", "TUMOR",
                  "--normal-sample", "NORMAL")
    assert err.value.where == str(vcf) and problem in err.value.problem
    assert f"{fix}" in err.value.fix


def test_undeclared_format_fields_are_parsed_or_reported(tmp_path):
    text = ("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\tNORMAL\n"
            "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT:AD\t0/1:20,10\t0/0:30,0\n")
    vcf = tmp_path / "undeclared.vcf"
    vcf.write_text(text)  # htslib types undeclared AD as a string: parsed here
    argv = ["--paired-vcf", str(vcf), "--tumor-sample", "TUMOR", "--normal-sample", "NORMAL"]
    table, _ = run_stage(tmp_path, *argv)
    assert (table.tumor_depth[0], table.tumor_alt_reads[0], table.normal_depth[0]) == (30, 10, 30)
    vcf.write_text(text.replace("0/1:20,10", "0/1:20,ten"))
    with pytest.raises(InputFileError, match="record 1") as err:
        run_stage(tmp_path, *argv, name="bad")
    assert str(vcf) in str(err.value)


# -------------------------------------------------------------------------- output
def test_output_vcf_is_bgzipped_indexed_and_deterministic(tmp_path, filter_vcf):
    argv = ["--paired-vcf", str(filter_vcf), "--tumor-sample", "TUMOR",
            "--normal-sample", "NORMAL"]
    table, out_vcf = run_stage(tmp_path / "a", *argv)
    _, again = run_stage(tmp_path / "b", *argv)
    tsv_a = tmp_path / "a" / "out" / "somatic" / "S.accounting.tsv"
    tsv_b = tmp_path / "b" / "out" / "somatic" / "S.accounting.tsv"
    assert tsv_a.read_bytes() == tsv_b.read_bytes()
    assert out_vcf.read_bytes() == again.read_bytes()
    index = Path(str(out_vcf) + ".tbi")
    assert index.exists() and index.read_bytes() == Path(str(again) + ".tbi").read_bytes()
    with open(out_vcf, "rb") as handle:  # BGZF: gzip with the 'BC' extra subfield
        magic = handle.read(16)
    assert magic[:2] == b"\x1f\x8b" and magic[12:14] == b"BC"
    with gzip.open(out_vcf, "rt") as handle:
        text = handle.read()
    assert "fileDate" not in text and str(tmp_path) not in text
    for field in ("NR_ID", "NR_TDP", "NR_TAD", "NR_TVAF", "NR_NDP", "NR_NVAF"):
        assert f"##INFO=<ID={field}," in text
    assert "##contig=<ID=chr1,length=1000000>" in text
    with pysam.VariantFile(str(out_vcf)) as vcf:
        fetched = list(vcf.fetch("chr1", 350, 450))  # uses the tabix index
        assert [r.info["NR_ID"] for r in fetched] == ["chr1:400:T>C"]
        record = fetched[0]
        assert (record.info["NR_TDP"], record.info["NR_TAD"]) == (100, 5)
        assert record.info["NR_TVAF"] == pytest.approx(0.05)
        assert record.info["NR_NDP"] == 30
    with pysam.VariantFile(str(out_vcf)) as vcf:
        assert len(list(vcf)) == (table.status == "somatic").sum()


def test_undeclared_contig_is_added_and_sorted_last(tmp_path):
    vcf = write_vcf(tmp_path / "paired.vcf", ["TUMOR", "NORMAL"], [
        "chr3 10 . A G . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
        "chr2 10 . A G . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
        "chr1 10 . A G . PASS . GT:AD:DP 0/1:20,10:30 0/0:30,0:30",
    ])
    _, out_vcf = run_stage(tmp_path, "--paired-vcf", str(vcf), "--tumor-sample", "TUMOR",
                           "--normal-sample", "NORMAL")
    with pysam.VariantFile(str(out_vcf)) as out:
        assert [r.chrom for r in out] == ["chr1", "chr2", "chr3"]
        assert "chr3" in out.header.contigs


# ----------------------------------------------------------------------------- CLI
@pytest.fixture()
def cli_stages(monkeypatch):
    """The full CLI if every stage module imports, else one with ``somatic`` only."""
    for name in cli.STAGES:
        try:
            importlib.import_module(f"neorank.{name}")
        except ImportError:
            monkeypatch.setattr(cli, "STAGES", ["somatic"])
            break


def test_cli_main(tmp_path, filter_vcf, cli_stages, capsys):
    out_vcf = tmp_path / "res" / "S" / "somatic.vcf.gz"
    out_tsv = tmp_path / "res" / "somatic" / "S.accounting.tsv"
    argv = ["somatic", "--sample", "S", "--paired-vcf", str(filter_vcf), "--tumor-sample",
            "TUMOR", "--normal-sample", "NORMAL", "--out-vcf", str(out_vcf),
            "--out-accounting", str(out_tsv)]
    assert cli.main(argv) == 0
    assert out_tsv.exists() and Path(str(out_vcf) + ".tbi").exists()
    bad = [a if a != "TUMOR" else "TUMR" for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(bad)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "Did you mean 'TUMOR'?" in stderr and "Traceback" not in stderr


# ---------------------------------------------------------------------------- demo
def _af(call, index: int) -> float:
    return round(float(call["AF"][index - 1]), 6)


def expected_paired(path: Path, limits: somatic.Thresholds) -> tuple[int, int]:
    """(somatic, filtered) recomputed from the VCF's own FILTER and counts."""
    kept = dropped = 0
    with pysam.VariantFile(str(path)) as vcf:
        for record in vcf:
            for index in range(1, len(record.alts) + 1):
                tumor, normal = record.samples["TUMOR"], record.samples["NORMAL"]
                ok = (list(record.filter.keys()) in ([], ["PASS"])
                      and tumor["DP"] >= limits.min_tumor_depth
                      and tumor["AD"][index] >= limits.min_tumor_alt_reads
                      and _af(tumor, index) >= limits.min_tumor_vaf
                      and normal["DP"] >= limits.min_normal_depth
                      and _af(normal, index) < limits.max_normal_vaf)
                kept, dropped = kept + ok, dropped + (not ok)
    return kept, dropped


def _key(chrom: str, pos: int, ref: str, alt: str) -> tuple:
    """Independent normalisation: trim shared suffix, then shared prefix."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return chrom.removeprefix("chr"), pos, ref, alt


def test_demo_paired(tmp_path):
    paired = DEMO / "osteosarc.paired.vcf"
    table, _ = run_stage(tmp_path, "--paired-vcf", str(paired), "--tumor-sample", "TUMOR",
                         "--normal-sample", "NORMAL", name="osteosarc-paired")
    kept, dropped = expected_paired(paired, DEFAULTS)
    assert len(table) == n_alleles(paired) == kept + dropped
    assert ((table.status == "somatic").sum(), (table.status == "filtered").sum()) == (
        kept, dropped)
    assert dropped > 0
    readme = (REPO / "resources" / "README.md").read_text()
    assert f"{kept} somatic, {dropped} filtered" in " ".join(readme.split())
    # Each deliberately filtered variant fails for a different reason.
    reasons = list(table.reason[table.status == "filtered"])
    assert len(set(reasons)) == len(reasons)


def test_demo_separate_subtracts_germline(tmp_path):
    tumor, normal = DEMO / "osteosarc.tumor.vcf", DEMO / "osteosarc.normal.vcf"
    table, out_vcf = run_stage(tmp_path, "--tumor-vcf", str(tumor), "--normal-vcf", str(normal),
                               name="osteosarc-separate")
    with pysam.VariantFile(str(normal)) as vcf:
        in_normal = {_key(r.chrom, r.pos, r.ref, alt) for r in vcf for alt in r.alts}
    germline, count_fail, other = set(), set(), set()
    with pysam.VariantFile(str(tumor)) as vcf:
        for record in vcf:
            call = record.samples["TUMOR"]
            for index, alt in enumerate(record.alts, start=1):
                variant_id = make_variant_id(record.chrom, record.pos, record.ref, alt)
                if _key(record.chrom, record.pos, record.ref, alt) in in_normal:
                    germline.add(variant_id)
                elif (call["DP"] < DEFAULTS.min_tumor_depth
                      or call["AD"][index] < DEFAULTS.min_tumor_alt_reads
                      or _af(call, index) < DEFAULTS.min_tumor_vaf):
                    count_fail.add(variant_id)
                else:
                    other.add(variant_id)
    assert len(table) == n_alleles(tumor)
    rows = by_id(table)
    assert germline and {v for v in germline if rows[v]["reason"].startswith(
        somatic.GERMLINE_REASON)} == germline
    assert {v for v, r in rows.items() if r["status"] == "filtered"} == germline | count_fail
    assert {v for v, r in rows.items() if r["status"] == "somatic"} == other
    # Every synthetic germline SNV of the tumor VCF is among the subtracted ones,
    # including the multi-allelic and the anchored normal representations.
    with pysam.VariantFile(str(tumor)) as vcf:
        synthetic = {f"{r.chrom}:{r.pos}:{r.ref}>{r.alts[0]}" for r in vcf
                     if r.id.startswith("germline")}
    assert synthetic and synthetic <= germline
    with pysam.VariantFile(str(out_vcf)) as vcf:
        assert not {r.info["NR_ID"] for r in vcf} & germline
