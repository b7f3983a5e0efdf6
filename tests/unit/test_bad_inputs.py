"""The bad-input corpus (tests/data/bad_inputs/README.md): each case's documented handling.

Every case runs ``neorank preflight`` through ``neorank.cli.main`` and checks
the exit code, its specific message (report TSV and stderr) and that no Python
traceback reaches the user. Where the somatic stage can read the file, it
also runs ``neorank somatic`` and checks the accounting rule: one row per input
record x ALT allele, in input order (counted here from the text, not with
pysam); where it cannot, it must fail with a usage error naming the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from neorank import cli, preflight, samplesheet
from neorank.config import load_config_file
from neorank.errors import InputFileError, SampleSheetError
from neorank.io import read_tsv
from neorank.preflight import vcf_text
from neorank.somatic import GERMLINE_REASON
from neorank.vcf import make_variant_id

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "bad_inputs"
REFERENCE = REPO / "resources" / "reference"
FAKE_MODELS = BAD / "fake_model_alleles"
BIN = Path(sys.executable).parent


def paired(name: str, tumor: str = "TUMOR", normal: str = "NORMAL") -> list[str]:
    return ["--paired-vcf", str(BAD / name), "--tumor-sample", tumor, "--normal-sample", normal]


def separate(tumor: str, normal: str = "germline.normal.vcf") -> list[str]:
    return ["--tumor-vcf", str(BAD / tumor), "--normal-vcf", str(BAD / normal)]


@dataclass
class Case:
    """One corpus case: preflight arguments and what must come out."""

    id: str
    mode: list[str]
    rc: int  # preflight exit code: 1 = errors found
    expect: list[tuple[str, str, str]]  # (severity, check, text in message/record/fix)
    somatic: str | None = "rows"  # "rows": accounting rule holds; "error": usage error
    # after somatic: "rows" (variants.tsv keeps every row), "error", or "ref_mismatch" (rows;
    # the variant ids of `dropped` filtered with reason ref_mismatch)
    annotate: str = "rows"
    reasons: dict[str, str] = field(default_factory=dict)  # variant_id -> reason text
    extra: list[str] = field(default_factory=list)  # more preflight arguments
    alleles: str = "HLA-A*02:01,HLA-B*08:01"
    record: str = ""  # text in the record column (file line) of the first expected row
    errors: int | None = None  # exact number of error rows (one clear error, not a cascade)
    dropped: list[str] = field(default_factory=list)  # variant ids annotate drops (ref_mismatch)


CASES = [
    Case("baseline", paired("baseline.vcf"), 0,
         [("info", "reference_bases", "8 SNV REF base(s)"), ("info", "variants", "8 input allele")]),
    # --- files and compression
    Case("truncated_gzip", paired("truncated_gzip.vcf.gz"), 1,
         [("error", "compression", "end-of-file marker is missing: the file is truncated"),
          ("error", "compression", "truncated or corrupt after line 19")], somatic="error"),
    Case("bgzip_missing_eof", paired("bgzip_missing_eof.vcf.gz"), 1,
         [("error", "compression", "end-of-file marker is missing: htslib refuses to read it"),
          ("error", "compression", "recompress it")], somatic="error"),
    Case("plain_gzip", paired("plain_gzip.vcf.gz"), 1,
         [("error", "compression", "plain gzip, not bgzip"),
          ("error", "compression", "recompress with bgzip")], somatic="error"),
    Case("empty_file", paired("empty.vcf"), 1, [("error", "file", "is empty (0 bytes)")],
         somatic="error"),
    Case("binary_file", paired("binary.vcf"), 1, [("error", "file", "binary file, not a text VCF")],
         somatic="error"),
    Case("missing_file", paired("does_not_exist.vcf"), 1, [("error", "file", "does not exist")],
         somatic="error"),
    # --- header and line structure
    Case("missing_chrom_header", paired("missing_chrom_header.vcf"), 1,
         [("error", "header", "no #CHROM header line before the first record")], somatic="error"),
    Case("missing_fileformat", paired("missing_fileformat.vcf"), 1,
         [("error", "header", "first line is not ##fileformat=VCF")], somatic="error"),
    Case("crlf", paired("crlf.vcf"), 0, [("warning", "line_endings", "end in CRLF"),
                                         ("warning", "line_endings", "dos2unix")]),
    Case("spaces_not_tabs", paired("spaces_not_tabs.vcf"), 1,
         [("error", "columns", "line 17"), ("error", "columns", "line 19"),
          ("error", "columns", "separated by spaces, not tabs")], somatic="error"),
    Case("blank_line", paired("blank_line.vcf"), 1,
         [("error", "columns", "an empty line among the records"), ("error", "columns", "line 18")],
         somatic="error"),
    Case("record_missing_column", paired("record_missing_column.vcf"), 1,
         [("error", "columns", "10 columns, but the #CHROM line declares 2 sample(s)")],
         somatic="error"),
    Case("header_only", paired("header_only.vcf"), 0,
         [("warning", "variants", "no variant records (header only)")]),
    Case("zero_variants", paired("zero_variants.vcf"), 0,
         [("warning", "variants", "zero variants: all 3 record(s) have no ALT"),
          ("info", "alleles", "no ALT sequence (.)")],
         reasons={"chr1:23362762:G>.": "no ALT sequence (.)"}),
    Case("duplicate_sample_names", paired("duplicate_sample_names.vcf"), 1,
         [("error", "samples", "duplicate sample name(s) TUMOR")], somatic="error"),
    Case("missing_sample_column", paired("missing_sample_column.vcf"), 1,
         [("error", "samples", "normal sample 'NORMAL' is not in the VCF; available samples: "
                               "'TUMOR'")], somatic="error"),
    Case("sample_name_typo", paired("baseline.vcf", tumor="TUMOUR"), 1,
         [("error", "samples", "tumor sample 'TUMOUR' is not in the VCF"),
          ("error", "samples", "Did you mean 'TUMOR'?")], somatic="error"),
    Case("tumor_equals_normal", paired("baseline.vcf", normal="TUMOR"), 1,
         [("error", "samples", "tumor and normal are the same column")], somatic="error"),
    Case("non_ascii_samples_wrong_names", paired("non_ascii_samples.vcf"), 1,
         [("info", "samples", "non-ASCII"), ("error", "samples", "Did you mean 'TUMÖR_患者'?"),
          ("error", "samples", "Did you mean 'NORMÄL'?")], somatic="error"),
    Case("non_ascii_samples", paired("non_ascii_samples.vcf", "TUMÖR_患者", "NORMÄL"), 0,
         [("info", "samples", "sample name 'TUMÖR_患者' has non-ASCII characters")]),
    Case("latin1_sample_names", paired("latin1_sample_names.vcf"), 1,
         [("warning", "encoding", "not UTF-8"),
          ("error", "parse", "sample names in the #CHROM line are not UTF-8")], somatic="error"),
    Case("sites_only", separate("sites_only.tumor.vcf"), 0,
         [("warning", "samples", "sites-only tumor VCF (no sample column)")]),
    # --- records and alleles
    Case("duplicate_records", paired("duplicate_records.vcf"), 0,
         [("warning", "duplicates", "chr1:23362762 G>C repeats line 16"),
          ("warning", "duplicates", "bcftools norm -d exact")]),
    Case("multiallelic", paired("multiallelic.vcf"), 0,
         [("info", "alleles", "1 multi-allelic record(s): split into one allele each")]),
    Case("symbolic_alt", paired("symbolic_alt.vcf"), 0,
         [("warning", "alleles", "symbolic ALT <DEL>")],
         reasons={"chr3:46898732:A><DEL>": "symbolic ALT <DEL>"}),
    Case("breakend", paired("breakend.vcf"), 0, [("warning", "alleles", "breakend ALT")],
         reasons={make_variant_id("chr1", 173811223, "G", "G[chr2:171813470["): "breakend ALT"}),
    Case("star_allele", paired("star_allele.vcf"), 0,
         [("warning", "alleles", "spanning-deletion ALT *")],
         reasons={"chr1:151185547:T>*": "spanning-deletion ALT *"}),
    Case("lowercase_bases", paired("lowercase_bases.vcf"), 0,
         [("info", "alleles", "lowercase bases"), ("info", "reference_bases", "0 mismatch")]),
    Case("n_in_ref", paired("n_in_ref.vcf"), 0, [("warning", "alleles", "REF N contains N")],
         reasons={"chr2:171813470:N>G": "contains N (unknown base)"}),
    Case("pos_zero", paired("pos_zero.vcf"), 1,
         [("error", "position", "POS 0 at chr3: VCF positions start at 1")],
         reasons={"chr3:0:T>G": "invalid POS 0"}),
    Case("pos_negative", paired("pos_negative.vcf"), 1,
         [("error", "position", "POS -5 at chr3")], somatic="error"),
    Case("ref_past_contig_end", paired("ref_past_contig_end.vcf"), 1,
         [("error", "contigs", "extends past the end of chr6 (length 170805979")]),
    Case("undeclared_filter", paired("undeclared_filter.vcf"), 0,
         [("warning", "header_declarations", "FILTER value 'MyCustomFilter' is used on 2 record(s)"),
          ("warning", "header_declarations", "FILTER value 'LowQual'")],
         reasons={"chr1:23362762:G>C": "FILTER=MyCustomFilter"}),
    Case("undeclared_info_format", paired("undeclared_info_format.vcf"), 0,
         [("warning", "header_declarations", "INFO field 'SOMATIC_SCORE'"),
          ("warning", "header_declarations", "FORMAT field 'XQ'")]),
    Case("non_numeric_ad", paired("non_numeric_ad.vcf"), 1,
         [("error", "parse", "FORMAT AD of sample 'TUMOR' is 'thirty,20'"),
          ("error", "parse", "line 17")], somatic="error"),
    # --- read counts and callers
    Case("ad_one_value", paired("ad_one_value.vcf"), 0,
         [("warning", "read_counts", "AD has 1 value(s) but the record has 2 alleles")]),
    Case("dp_missing", paired("dp_missing.vcf"), 0,
         [("info", "read_counts", "no FORMAT DP in the paired VCF: depth = sum of AD")]),
    Case("no_read_counts", paired("no_read_counts.vcf"), 0,
         [("warning", "read_counts", "has neither DP, AD nor Strelka2 tier counts")]),
    Case("af_above_one", paired("af_above_one.vcf"), 1,
         [("error", "read_counts", "VAF 40 (AF) is outside [0, 1]"),
          ("error", "read_counts", "VAF 1.5 (AF) is outside [0, 1]")]),
    Case("varscan2", paired("varscan2.vcf"), 0,
         [("warning", "caller", "looks like VarScan2"),
          ("warning", "read_counts", "AD is declared Number=1")]),
    Case("freebayes", paired("freebayes.vcf"), 0,
         [("warning", "caller", "looks like FreeBayes"),
          ("warning", "caller", "RO/AO counts are not read")]),
    # --- reference
    Case("wrong_build", paired("wrong_build.vcf"), 1,
         [("error", "reference_bases", "8 of 8 SNV REF bases (100%)"),
          ("error", "reference_bases", "GRCh37/hg19 vs GRCh38"),
          ("error", "reference_bases", "lift the VCF over")],
         annotate="error"),
    Case("unknown_contig", paired("unknown_contig.vcf"), 0,
         [("warning", "contigs", "chrUn_KI270742v1 (2), NC_000001.11 (1)")]),
    # --- inputs as real pipelines produce them
    Case("bom", paired("bom.vcf"), 1,
         [("error", "encoding", "starts with a UTF-8 byte-order mark (bytes EF BB BF"),
          ("error", "encoding", "sed -i '1s/^\\xEF\\xBB\\xBF//'")], somatic="error",
         record="line 1", errors=1),
    Case("cr_line_endings", paired("cr_line_endings.vcf"), 1,
         [("error", "line_endings", "the lines end in CR only (old Mac OS line endings"),
          ("error", "line_endings", "tr '\\r' '\\n'")], somatic="error", record="line 1",
         errors=1),
    Case("duplicate_contig", paired("duplicate_contig.vcf"), 1,
         [("error", "header", "##contig chr1 is declared 2 times with different lengths: "
                              "248956422 (line 10, the GRCh38 length) and 249250621 (line 12, "
                              "the GRCh37 length)"),
          ("error", "header", "keep one ##contig line per contig")], record="line 12",
         errors=1),
    Case("normal_all_missing", paired("normal_all_missing.vcf"), 0,
         [("warning", "samples", "normal sample 'NORMAL' is '.' (no call, no counts) on every "
                                 "one of the 8 record(s)"),
          ("warning", "samples", "somatic.min_normal_depth, somatic.max_normal_vaf) cannot work")],
         record="line 16 (chr1:23362762) and every later record"),
    Case("ad_above_dp", paired("ad_above_dp.vcf"), 0,
         [("warning", "read_counts", "tumor sample 'TUMOR': AD 30,25 sums to 55, more than DP "
                                     "40")], record="line 16 (chr1:23362762)"),
    Case("ref_mismatch", paired("ref_mismatch.vcf"), 0,
         [("warning", "reference_bases", "REF T but the reference transcript has G here"),
          ("info", "reference_bases", "8 SNV REF base(s) in transcribed exons checked against "
                                      "the reference cDNA: 1 mismatch(es)")],
         record="line 18 (chr1:173811223)", annotate="ref_mismatch",
         dropped=["chr1:173811223:T>A"]),
    Case("ref_mismatch_majority", paired("ref_mismatch_majority.vcf"), 1,
         [("error", "reference_bases", "5 of 8 SNV REF bases"),
          ("error", "reference_bases", "another genome build (GRCh37/hg19 vs GRCh38)"),
          ("error", "reference_bases", "line 16 (chr1:23362762): VCF REF T, reference G")],
         annotate="error", errors=1),
    Case("sample_name_trailing_space", paired("sample_name_trailing_space.vcf"), 1,
         [("error", "samples", "tumor sample 'TUMOR' is not in the VCF, but 'TUMOR ' is: the "
                               "VCF's sample name has trailing space(s)"),
          ("error", "samples", 'write the name in double quotes with its spaces in the '
                               'tumor_sample column ("TUMOR ")')], somatic="error"),
    Case("sample_name_trailing_space_exact",
         paired("sample_name_trailing_space.vcf", tumor="TUMOR "), 0,
         [("info", "samples", "sample name 'TUMOR ' has leading or trailing spaces")]),
    # --- somatic outcome
    Case("only_germline", separate("only_germline.tumor.vcf", "only_germline.normal.vcf"), 0,
         [("warning", "variants", "all 3 tumor allele(s) are germline")],
         reasons={"chr1:23362762:G>C": GERMLINE_REASON}),
    # --- HLA typing
    Case("hla_typo", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-A*02:999' (HLA-A*02:999) has no MHC pseudosequence"),
          ("error", "hla", "close matches: HLA-A*02:0")],
         alleles="HLA-A*02:999,HLA-B*08:01", somatic=None),
    Case("hla_class2", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-DRB1*01:01' is an MHC class II allele")],
         alleles="HLA-A*02:01,HLA-DRB1*01:01", somatic=None),
    Case("hla_null_only", paired("baseline.vcf"), 1,
         [("warning", "hla", "HLA-A*01:11N is a null allele"),
          ("error", "hla", "every allele given is null")],
         alleles=str(BAD / "hla_null_only.txt"), somatic=None),
    Case("hla_empty_file", paired("baseline.vcf"), 1,
         [("error", "hla", "no HLA class I alleles given")], alleles=str(BAD / "hla_empty.txt"),
         somatic=None),
    Case("hla_empty_inline", paired("baseline.vcf"), 1,
         [("error", "hla", "no HLA class I alleles given")], alleles="", somatic=None),
    Case("hla_many_errors", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-A*02' has only one field"), ("error", "hla", "'A2' is a serotype"),
          ("error", "hla", "cannot parse HLA allele 'HLA-Z*01:01'"),
          ("error", "hla", "'HLA-DQB1*06:02' is an MHC class II allele")],
         alleles=str(BAD / "hla_many_errors.txt"), somatic=None),
    Case("hla_missing_file", paired("baseline.vcf"), 1,
         [("error", "hla", "HLA typing file not found")], alleles="typing/missing.txt",
         somatic=None),
    Case("hla_malformed_field", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-A*02:1' has a one-digit field '1': allele fields have at least "
                           "two digits (mhcgnomes would silently read it as HLA-A*02:01)"),
          ("error", "hla", "candidates: HLA-A*02:01, HLA-A*02:10 to HLA-A*02:19 if a digit was "
                           "lost")],
         alleles=str(BAD / "hla_malformed_field.txt"), somatic=None, record="line 1: HLA-A*02:1",
         errors=1),
    Case("hla_malformed_inline", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-C*7:01' has a one-digit field '7'"),
          ("error", "hla", "candidates: HLA-C*07:01")],
         alleles="HLA-A*02:01,HLA-C*7:01", somatic=None, record="HLA-C*7:01", errors=1),
    Case("hla_ambiguous", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-A*02:01/02:02' is an ambiguous typing (one of HLA-A*02:01, "
                           "HLA-A*02:02), not one allele")],
         alleles=str(BAD / "hla_ambiguous.txt"), somatic=None, record="line 1", errors=1),
    Case("hla_nonclassical_nonhuman", paired("baseline.vcf"), 1,
         [("error", "hla", "'HLA-E*01:03' is a non-classical class I allele (HLA-E)"),
          ("error", "hla", "hla.allow_nonclassical: true"),
          ("error", "hla", "'SLA-1*04:01' is a non-human MHC allele (Sus sp.: SLA-1*04:01)"),
          ("error", "hla", "'H-2-Kb' is a non-human MHC allele (Mus musculus: H2-K*b)"),
          ("error", "hla", "hla.allow_nonhuman: true")],
         alleles=str(BAD / "hla_nonclassical_nonhuman.txt"), somatic=None,
         record="line 2: HLA-E*01:03", errors=3),
    Case("hla_nonclassical_nonhuman_allowed", paired("baseline.vcf"), 1,  # the models decide
         [("error", "hla", "'HLA-E*01:03' (HLA-E*01:03) has no MHC pseudosequence"),
          ("error", "hla", "'SLA-1*04:01' (SLA-1*04:01) has no MHC pseudosequence")],
         alleles=str(BAD / "hla_nonclassical_nonhuman.txt"), somatic=None,
         extra=["--hla-allow-nonclassical", "--hla-allow-nonhuman"], errors=3),
    Case("hla_groups", paired("baseline.vcf"), 0,
         [("info", "hla", "G group HLA-A*02:01:01G (alleles with identical exon 2 and 3 "
                          "sequences) reduced to two fields: HLA-A*02:01"),
          ("info", "hla", "P group HLA-B*07:02P"),
          ("info", "hla", "4-field name HLA-C*07:01:01:01 reduced to two fields: HLA-C*07:01"),
          ("info", "hla", "3 expressed allele(s): HLA-A*02:01 (supported), HLA-B*07:02 "
                          "(supported), HLA-C*07:01 (supported)")],
         alleles=str(BAD / "hla_groups.txt"), somatic=None),
    Case("hla_optitype", paired("baseline.vcf"), 0,
         [("info", "hla", "5 expressed allele(s): HLA-A*02:01 (supported), HLA-A*24:02 "
                          "(supported), HLA-B*07:02 (supported), HLA-B*08:01 (supported), "
                          "HLA-C*07:01 (supported)")],
         alleles=str(BAD / "hla_optitype_result.tsv"), somatic=None),
    Case("hla_optitype_incomplete", paired("baseline.vcf"), 1,
         [("error", "hla", "OptiType result: the header (line 1) lacks the column(s) C1, C2"),
          ("error", "hla", "give OptiType's complete *_result.tsv")],
         alleles=str(BAD / "hla_optitype_incomplete_result.tsv"), somatic=None, errors=1),
    Case("hla_hlahd", paired("baseline.vcf"), 0,
         [("warning", "hla", "HLA-C was not typed by HLA-HD (no allele reported): no HLA-C "
                             "allele is predicted"),
          ("info", "hla", "HLA-HD result: 12 class II and non-classical locus row(s) skipped "
                          "(NeoRank predicts HLA class I A/B/C): DRB1, DQA1, DQB1, DPA1, DPB1, "
                          "E, F, G, H, J, DRB3, DRB4"),
          ("info", "hla", "3-field name HLA-A*02:01:01 reduced to two fields: HLA-A*02:01"),
          ("info", "hla", "4 expressed allele(s): HLA-A*02:01 (supported), HLA-A*24:02 "
                          "(supported), HLA-B*07:02 (supported), HLA-B*08:01 (supported)")],
         alleles=str(BAD / "hla_hlahd_final.result.txt"), somatic=None, record="HLA-C"),
    # --- purity
    *[Case(f"purity_{label}", paired("baseline.vcf"), 1, [("error", "purity", text)],
           extra=["--purity", value], somatic=None)
      for label, value, text in [("1.5", "1.5", "--purity 1.5 is outside [0, 1]"),
                                 ("negative", "-0.1", "--purity -0.1 is outside [0, 1]"),
                                 ("abc", "abc", "--purity 'abc' is not a number"),
                                 ("percent", "60", "(a percentage?)")]],
    # --- expression
    Case("expression_ids_match_nothing", paired("baseline.vcf"), 0,
         [("warning", "expression", "none of the 3 ids in column 'gene_id'")],
         extra=["--expression", str(BAD / "expression_refseq_ids.tsv")], somatic=None),
    *[Case(f"expression_{name.split('.')[0].split('_')[1]}", paired("baseline.vcf"), 0,
           [("info", "expression", f"format: {fmt}"), ("info", "expression", "ids match")],
           extra=["--expression", str(BAD / name)], somatic=None)
      for name, fmt in [("expression_salmon.quant.sf", "Salmon quant.sf"),
                        ("expression_kallisto.abundance.tsv", "Kallisto abundance.tsv"),
                        ("expression_rsem.genes.results", "RSEM genes.results"),
                        ("expression_plain_genes.tsv", "plain table")]],
    Case("expression_empty", paired("baseline.vcf"), 1,
         [("error", "expression", "the expression table is empty")],
         extra=["--expression", str(BAD / "expression_empty.tsv")], somatic=None),
    Case("expression_comma", paired("baseline.vcf"), 1,
         [("error", "expression", "comma-separated? it must be tab-separated")],
         extra=["--expression", str(BAD / "expression_comma.csv")], somatic=None),
    Case("expression_missing", paired("baseline.vcf"), 1,
         [("error", "expression", "does not exist")],
         extra=["--expression", str(BAD / "nope.tsv")], somatic=None),
    # --- command line
    Case("both_modes", [*paired("baseline.vcf"), "--tumor-vcf", str(BAD / "baseline.vcf")], 1,
         [("error", "inputs", "--paired-vcf cannot be combined with --tumor-vcf")], somatic=None),
    Case("no_normal", ["--tumor-vcf", str(BAD / "baseline.vcf"), "--tumor-sample", "TUMOR"], 1,
         [("error", "inputs", "separate mode needs both --tumor-vcf and --normal-vcf")],
         somatic=None),
]


@pytest.fixture(scope="module")
def reference_args(mini_genome) -> list[str]:
    cache_root = Path(mini_genome.download_cache.cache_directory_path).parent
    return ["--gtf", str(REFERENCE / "reference.gtf.gz"),
            "--cdna", str(REFERENCE / "reference.cdna.fa.gz"),
            "--pep", str(REFERENCE / "reference.pep.fa.gz"),
            "--reference-name", "GRCh38", "--release", "87", "--cache-dir", str(cache_root)]


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    """``neorank.cli.main``; returns (exit code, stdout + stderr). No exception may escape."""
    try:
        rc = cli.main(argv)
    except SystemExit as exit_:
        rc = exit_.code
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    return rc, output


def run_preflight(capsys, tmp_path: Path, reference_args: list[str], mode: list[str], *,
                  alleles: str = "HLA-A*02:01", extra: list[str] = ()):
    out = tmp_path / "preflight" / "S.tsv"
    rc, output = run_cli(capsys, ["preflight", "--sample", "S", *mode, "--alleles", alleles,
                                  *reference_args, "--models", "embedded",
                                  "--embedded-dir", str(FAKE_MODELS), *extra,
                                  "--out", str(out)])
    table = read_tsv(out, dtype=str).fillna("")
    assert list(table.columns) == preflight.REPORT_COLUMNS
    return rc, output, table


def text_alleles(path: Path) -> list[tuple[str, int, str, str]]:
    """(chrom, pos, ref, alt) per record x ALT, read from the text (not with pysam)."""
    alleles = []
    for line in path.read_bytes().decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        chrom, pos, _, ref, alts = line.split("\t")[:5]
        alleles += [(chrom, int(pos), ref, alt) for alt in alts.split(",")]
    return alleles


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_preflight_case(case: Case, capsys, tmp_path, reference_args):
    rc, output, table = run_preflight(capsys, tmp_path, reference_args, case.mode,
                                      alleles=case.alleles, extra=case.extra)
    assert rc == case.rc, output
    rows = table.to_dict("records")
    for number, (severity, check, text) in enumerate(case.expect):
        hits = [r for r in rows if r["severity"] == severity and r["check"] == check
                and text in " ".join((r["record"], r["message"], r["fix"]))]
        assert hits, f"no {severity} {check} row with {text!r}:\n{table.to_string()}"
        if severity != "info":  # errors and warnings are also printed for the log
            assert text in output or text in hits[0]["record"]
            assert hits[0]["fix"], hits[0]  # ... each with its fix
        if number == 0 and case.record:  # named by the line or record of the file
            assert case.record in hits[0]["record"], hits[0]
            if severity != "info":
                assert case.record in output
    if case.errors is not None:
        assert (table["severity"] == "error").sum() == case.errors, table.to_string()
    if case.rc == 0:
        assert not (table["severity"] == "error").any(), table.to_string()
    else:
        assert "error(s) in the inputs of sample S" in output


SOMATIC_CASES = [c for c in CASES if c.somatic is not None]
#: variants.tsv statuses (docs/tables.md).
ANNOTATE_STATUSES = {"filtered", "outside_reference", "non_coding", "silent", "no_peptides",
                     "protein_changing"}


@pytest.mark.parametrize("case", SOMATIC_CASES, ids=[c.id for c in SOMATIC_CASES])
def test_somatic_accounting_or_clean_error(case: Case, capsys, tmp_path, reference_args):
    out_vcf = tmp_path / "S" / "somatic.vcf.gz"
    out_tsv = tmp_path / "somatic" / "S.accounting.tsv"
    rc, output = run_cli(capsys, ["somatic", "--sample", "S", *case.mode, "--out-vcf",
                                  str(out_vcf), "--out-accounting", str(out_tsv)])
    if case.somatic == "error":
        assert rc == 2, output
        assert "neorank somatic: error:" in output and "Fix:" in output
        return
    assert rc == 0, output
    source = Path(case.mode[1])
    expected = text_alleles(source)
    table = read_tsv(out_tsv, dtype={"alt": str, "ref": str, "chrom": str})
    got = list(zip(table["chrom"], table["pos"], table["ref"], table["alt"], strict=True))
    assert got == expected  # one row per record x ALT, input order
    assert table["status"].isin(["somatic", "filtered"]).all()
    assert (table["reason"].fillna("") != "").eq(table["status"] == "filtered").all()
    reasons = dict(zip(table["variant_id"], table["reason"].fillna(""), strict=False))
    for variant_id, text in case.reasons.items():
        assert text in reasons[variant_id], (variant_id, reasons)
    # ... and annotate keeps every one of them in variants.tsv, each with a final status.
    variants_tsv = tmp_path / "S" / "variants.tsv"
    rc, output = run_cli(capsys, ["annotate", "--vcf", str(out_vcf), "--accounting", str(out_tsv),
                                  *reference_args, "--out-effects", str(tmp_path / "effects.tsv"),
                                  "--out-variants", str(variants_tsv)])
    if case.annotate == "error":  # stopped with the cause and fix, never a silent drop
        assert rc == 2, output
        assert "neorank annotate: error:" in output and "Fix:" in output
        assert not variants_tsv.exists()
        return
    assert rc == 0, output
    variants = read_tsv(variants_tsv, dtype=str).fillna("")
    assert list(variants["variant_id"]) == list(table["variant_id"])
    assert variants["status"].isin(ANNOTATE_STATUSES).all(), set(variants["status"])
    unexplained = variants[(variants["status"] != "protein_changing") & (variants["reason"] == "")]
    assert unexplained.empty, unexplained.to_string()
    dropped = variants[variants["reason"].str.startswith("ref_mismatch")]
    assert list(dropped["variant_id"]) == case.dropped, variants.to_string()
    assert (dropped["status"] == "filtered").all()


def test_unreadable_file(capsys, tmp_path, reference_args, monkeypatch):
    vcf = tmp_path / "unreadable.vcf"
    shutil.copy(BAD / "baseline.vcf", vcf)
    vcf.chmod(0)
    try:
        if os.access(vcf, os.R_OK):  # root reads anything: simulate the permission error
            def denied(path):
                raise PermissionError(13, "Permission denied", str(path))
            monkeypatch.setattr(vcf_text, "open_binary", denied)
        rc, output, table = run_preflight(capsys, tmp_path, reference_args,
                                          ["--paired-vcf", str(vcf), "--tumor-sample", "TUMOR",
                                           "--normal-sample", "NORMAL"])
    finally:
        vcf.chmod(0o644)
    assert rc == 1
    (row,) = table[table["check"] == "file"].to_dict("records")
    assert row["severity"] == "error" and "not readable (permission denied)" in row["message"]
    assert "chmod a+r" in row["fix"] and "not readable" in output


def test_every_corpus_file_is_documented_and_used():
    readme = (BAD / "README.md").read_text()
    used = {Path(a).name for c in CASES for a in [*c.mode, *c.extra, c.alleles]}
    used |= {name for name, _ in SHEETS} | {name for name, _, _ in CONFIGS}
    used |= {FAKE_MODELS.name, QUOTED_SHEET.name}
    for path in sorted(BAD.iterdir()):
        if path.name in ("README.md", "build_corpus.py", "__pycache__"):
            continue
        assert f"`{path.name}" in readme, f"{path.name} is not documented in README.md"
        assert path.name in used, f"{path.name} is not used by a test"
    rows = [line for line in readme.splitlines() if line.startswith("| ")
            and not line.startswith(("| case", "|---"))]
    assert len(rows) >= 40


# ------------------------------------------------------------------ sample sheets
SHEETS = [
    ("sheet_duplicate_ids.tsv", ["line 4: duplicate sample id 'P1' (first on line 2)"]),
    ("sheet_path_traversal.tsv", ["line 2: sample id '../../etc/passwd' contains '/'",
                                  "line 3: sample id '..' must start with a letter or digit",
                                  "line 4: sample id '-rf' must start"]),
    ("sheet_shell_metachar_ids.tsv", ["sample id 'a;rm -rf x' contains ' ' ';'",
                                      "sample id '$(id)' contains '$' '(' ')'",
                                      "sample id 'P1`whoami`' contains '`'"]),
    ("sheet_missing_columns.tsv", ["required column(s) hla_alleles missing"]),
    ("sheet_both_modes.tsv", ["4 problems", "sample 'both' sets both paired_vcf and tumor_vcf",
                              "sample 'neither' has no input VCF",
                              "paired_vcf needs tumor_sample and normal_sample",
                              "(normal_vcf is empty)"]),
    ("sheet_purity.tsv", ["purity 1.5 is outside [0, 1]", "purity -0.1 is outside [0, 1]",
                          "purity 'abc' is not a number"]),
    ("sheet_empty_hla.tsv", ["sample 'P1' has an empty hla_alleles"]),
    ("sheet_spaces.tsv", ["the sheet must be tab-separated"]),
    ("sheet_reserved_ids.tsv", ["4 problems",
                                "line 2: sample id 'config' is reserved: the results layout "
                                "already uses results/config/",
                                "line 3: sample id 'Cohort' is reserved",
                                "line 4: sample id 'run_config' is reserved",
                                "line 5: sample id 'predictions' is reserved",
                                "rename the sample"]),
    ("sheet_long_id.tsv", ["line 2: sample id 'patient_012345678901'... has 74 characters; at "
                           "most 64 are allowed"]),
    ("sheet_case_duplicate_ids.tsv", ["line 3: sample id 'p1' differs from 'P1' (line 2) only "
                                      "in letter case", "differs in more than letter case"]),
]


@pytest.mark.parametrize(("name", "texts"), SHEETS, ids=[s[0] for s in SHEETS])
def test_sample_sheet_case(name, texts):
    with pytest.raises(SampleSheetError) as err:
        samplesheet.read_sample_sheet(BAD / name)
    message = str(err.value)
    assert message.startswith(str(BAD / name))
    for text in texts:
        assert text in message
    assert "Fix:" in message


QUOTED_SHEET = BAD / "sheet_quoted_sample_name.tsv"


def test_quoted_sheet_cell_gives_a_vcf_sample_name_with_its_spaces(capsys, tmp_path,
                                                                  reference_args):
    """A double-quoted tumor_sample keeps its trailing space and matches the VCF exactly."""
    (row,) = samplesheet.read_sample_sheet(QUOTED_SHEET).to_dict("records")
    assert row["tumor_sample"] == "TUMOR " and row["normal_sample"] == "NORMAL"
    rc, output, table = run_preflight(
        capsys, tmp_path, reference_args,
        paired(row["paired_vcf"], tumor=row["tumor_sample"], normal=row["normal_sample"]))
    assert rc == 0, output
    assert not (table["severity"] == "error").any(), table.to_string()


def test_missing_sample_sheet(tmp_path):
    with pytest.raises(SampleSheetError, match="the sample sheet does not exist"):
        samplesheet.read_sample_sheet(tmp_path / "nope.tsv")


def _workflow_dir(tmp_path: Path, sheet_text: str) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key in ("gtf", "cdna", "pep"):
        config["reference"][key] = str(REPO / config["reference"][key])
    config["reference"]["cache_dir"] = str(tmp_path / "cache")
    config["mhcflurry"]["embedded_dir"] = str(FAKE_MODELS)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "config" / "samples.tsv").write_text(sheet_text)
    return tmp_path


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(workdir), "--cores", "1", "-n", "-p", *args],
        env=env, capture_output=True, text=True, timeout=300)


def test_workflow_quotes_paths_with_shell_metacharacters(tmp_path):
    """Dry run: the preflight and somatic commands carry the path as one quoted word."""
    vcf = "in/a;rm -rf x $(id).vcf"
    (tmp_path / "in").mkdir()
    shutil.copy(BAD / "baseline.vcf", tmp_path / vcf)
    workdir = _workflow_dir(tmp_path, "sample\thla_alleles\tpaired_vcf\ttumor_sample\t"
                            f"normal_sample\tpurity\nP1\tHLA-A*02:01\t{vcf}\tTUMOR\tNORMAL\t0.5\n")
    result = _snakemake(workdir, "results/P1/somatic.vcf.gz")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line.removeprefix("Shell command:").strip() for line in result.stdout.splitlines()]
    commands = [line for line in lines if line.startswith(("neorank preflight", "neorank somatic"))]
    assert len(commands) == 2, result.stdout[-3000:]
    for command in commands:
        assert "--paired-vcf 'in/a;rm -rf x $(id).vcf'" in command
    assert "--alleles 'HLA-A*02:01' --purity 0.5" in commands[0]
    assert "rule preflight:" in result.stdout and "results/preflight/P1.tsv" in result.stdout
    assert not (tmp_path / "x").exists()


def test_workflow_passes_a_quoted_sample_name_verbatim(tmp_path):
    """Dry run: "TUMOR " from the sheet reaches preflight and somatic as one quoted word."""
    shutil.copy(BAD / "sample_name_trailing_space.vcf", tmp_path / "in.vcf")
    text = QUOTED_SHEET.read_text().replace("sample_name_trailing_space.vcf", "in.vcf")
    result = _snakemake(_workflow_dir(tmp_path, text), "results/P1/somatic.vcf.gz")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if "neorank " in line
                and ("preflight" in line or "somatic" in line)]
    assert commands and all("--tumor-sample 'TUMOR '" in c for c in commands), commands


def test_workflow_refuses_reserved_sample_ids_before_the_dag(tmp_path):
    workdir = _workflow_dir(tmp_path, (BAD / "sheet_reserved_ids.tsv").read_text())
    result = _snakemake(workdir)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "4 problems in the sample sheet" in output
    assert "sample id 'config' is reserved" in output and "Traceback" not in output


def test_workflow_reports_every_sheet_problem(tmp_path):
    workdir = _workflow_dir(tmp_path, (BAD / "sheet_path_traversal.tsv").read_text())
    result = _snakemake(workdir)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "3 problems in the sample sheet" in output
    assert "sample id '../../etc/passwd' contains '/'" in output


# ------------------------------------------------------------------ config files
#: (file, texts in the message: line and key, text in the fix)
CONFIGS = [
    ("config_tab_indent.yaml",
     ["not valid YAML at line 3 column 1 (in 'somatic.min_tumor_depth')",
      "a tab character: YAML indentation must use spaces"], "indent with spaces, not tabs"),
    ("config_duplicate_key.yaml",
     ["not valid YAML at line 4 column 3 (in 'somatic.min_tumor_depth')",
      "the key 'min_tumor_depth' is given twice (first on line 3)"], "keep one of the two"),
    ("config_missing_colon.yaml",
     ["not valid YAML at line 4", "(in 'somatic.", "mapping values are not allowed here"],
     "the line above may lack the ':' after its key"),
    ("config_bad_values.yaml",
     ["4 problems in the config",
      "line 3: unknown key 'somatic.min_tumor_dept'; did you mean 'somatic.min_tumor_depth'?",
      "line 4: somatic.max_normal_vaf: 2 is greater than the maximum of 1",
      "line 6: reference.release: '87' is not of type 'integer'",
      "line 7: reference.source: 'web' is not one of ['local', 'ensembl']"],
     "correct the keys named above"),
]


@pytest.mark.parametrize(("name", "texts", "fix"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_config_file_case(name, texts, fix):
    with pytest.raises(InputFileError) as err:
        load_config_file(BAD / name)
    message = str(err.value)
    assert message.startswith(f"{BAD / name}: ")
    for text in texts:
        assert text in message
    assert fix in err.value.fix


def test_shipped_config_file_loads():
    config = load_config_file(REPO / "config" / "config.yaml")
    assert config["samples"] == "config/samples.tsv"
