"""``neorank preflight`` building blocks: report, callers, reference bases, alleles, sheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from neorank import preflight, samplesheet
from neorank.alleles import SUPPORTED, Hla, PatientAllele
from neorank.errors import AlleleError, SampleSheetError
from neorank.expression import detect_expression_format
from neorank.models import resolve_alleles
from neorank.preflight.report import read_caveats

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "bad_inputs"
REAL = REPO / "tests" / "data" / "real_callers"


# ------------------------------------------------------------------------ report
def test_report_caps_rows_per_check_and_summarises_the_rest():
    report = preflight.Report()
    for i in range(preflight.MAX_ROWS_PER_CHECK + 7):
        report.warning("alleles", f"problem {i}", file="x.vcf", record=f"line {i}")
    report.error("hla", "bad allele")
    report.finish()
    rows = [f for f in report.findings if f.check == "alleles"]
    assert len(rows) == preflight.MAX_ROWS_PER_CHECK + 1
    assert "... and 7 more 'alleles' warnings" in rows[-1].message
    assert report.count("warning") == preflight.MAX_ROWS_PER_CHECK + 7
    assert report.count("error") == 1 and report.has_error() and not report.has_error("x.vcf")
    assert list(report.frame().columns) == preflight.REPORT_COLUMNS


# ----------------------------------------------------------------------- callers
@pytest.mark.parametrize(("meta", "keys", "info", "caller"), [
    (["##GATKCommandLine=<ID=Mutect2,Version=4.1>"], {"GT", "AD", "AF"}, set(), "Mutect2"),
    ([], {"GT", "AD", "AF", "F1R2", "F2R1"}, {"TLOD"}, "Mutect2"),
    (["##source=strelka"], {"DP"}, set(), "Strelka2"),
    ([], {"DP", "AU", "CU", "GU", "TU"}, set(), "Strelka2"),
    ([], {"DP", "TAR", "TIR"}, set(), "Strelka2"),
    (["##source=VarScan2"], {"GT"}, set(), "VarScan2"),
    ([], {"GT", "RD", "AD", "FREQ"}, set(), "VarScan2"),
    (["##source=freeBayes v1.3.6"], {"GT"}, set(), "FreeBayes"),
    ([], {"GT", "RO", "AO"}, set(), "FreeBayes"),
    (["##DeepVariant_version=1.5.0"], {"GT"}, set(), "DeepVariant"),
    ([], {"GT", "GQ", "AD", "DP", "VAF"}, set(), "DeepVariant"),
    (["##source=SomeCaller"], {"GT", "AD", "DP"}, set(), "generic"),
])
def test_detect_caller(meta, keys, info, caller):
    assert preflight.detect_caller(meta, keys, info) == caller


@pytest.mark.parametrize(("path", "sample", "caller", "fields"), [
    (REAL / "mutect2_example.vcf", None, "Mutect2", "GT, AD, AF (missing: DP)"),
    (REAL / "strelka2_somatic_snvs.vcf", "TUMOR", "Strelka2", "DP (missing: GT, AD, AF)"),
])
def test_real_caller_files_are_recognised(path, sample, caller, fields):
    report = preflight.Report()
    preflight.check_vcf(str(path), "tumor", report, sample=sample,
                        sample_option="--tumor-sample", required=False)
    (row,) = [f for f in report.findings if f.check == "caller"]
    assert row.severity == "info"
    assert f"looks like {caller} output; FORMAT provides {fields}" in row.message
    assert not report.has_error()


@pytest.mark.parametrize(("columns", "name"), [
    (["Name", "Length", "EffectiveLength", "TPM", "NumReads"], "Salmon quant.sf"),
    (["target_id", "length", "eff_length", "est_counts", "tpm"], "Kallisto abundance.tsv"),
    (["gene_id", "transcript_id(s)", "length", "effective_length", "expected_count", "TPM",
      "FPKM"], "RSEM genes.results"),
    (["transcript_id", "gene_id", "length", "effective_length", "expected_count", "TPM",
      "FPKM", "IsoPct"], "RSEM isoforms.results"),
])
def test_detect_expression_format(columns, name):
    assert detect_expression_format(columns)[0] == name
    assert detect_expression_format(["gene", "TPM"]) is None


# --------------------------------------------------------------- reference bases
def test_ref_checker_reads_the_plus_strand_base_on_both_strands(mini_genome):
    checker = preflight.RefChecker(mini_genome)
    assert checker.contig("chr1") == "1" and checker.contig("chrM") == "MT"
    assert checker.contig("chrUn_KI270742v1") is None
    # ZNF436 is on the minus strand: its cDNA has C where the genome (+) has G.
    (transcript,) = [t for t in mini_genome.transcripts_at_locus("1", 23362762)
                     if t.transcript_id == "ENST00000314011"]
    assert transcript.strand == "-"
    assert transcript.sequence[transcript.spliced_offset(23362762)] == "C"
    assert checker.base("1", 23362762) == "G"
    assert checker.base("3", 15645183) == "T"  # BTD, plus strand
    assert checker.base("1", 1) is None  # no transcript


# ------------------------------------------------------------------- HLA alleles
class FakePredictor:
    """Stands in for the MHCflurry models (which may not be built yet)."""

    label = "fake"
    affinity_only = True

    def known_alleles(self):
        return {"HLA-A*02:01", "HLA-A*02:02", "HLA-A*02:03", "HLA-A*02:06", "HLA-B*08:01"}

    def trained_alleles(self):
        return {"HLA-A*02:01", "HLA-B*08:01"}


def test_resolve_alleles_names_close_matches_for_a_typo():
    typo = PatientAllele("HLA-A*02:999", "HLA-A*02:999", SUPPORTED)
    with pytest.raises(AlleleError) as err:
        resolve_alleles([typo], FakePredictor())
    text = str(err.value)
    assert "no MHC pseudosequence" in text and "close matches: HLA-A*02:0" in text
    assert "HLA-B" not in text.split("close matches:")[1]
    resolved = resolve_alleles([PatientAllele("A*02:02", "HLA-A*02:02")], FakePredictor())
    assert resolved[0].status == "extrapolated"


def test_model_alleles_reads_the_allele_list_without_loading_the_model(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "manifest.csv").write_text("model_name,allele,config_json\n")
    (folder / "allele_sequences.csv").write_text("allele,sequence\nHLA-A*02:01,YY\nHLA-B0801,YY\n")
    (folder / "allele_training_counts.csv").write_text(
        "allele,training_measurements\nHLA-A*02:01,120\nHLA-B*08:01,0\n")
    alleles = preflight.model_alleles("embedded", str(folder), None)
    assert alleles.known_alleles() == {"HLA-A*02:01", "HLA-B*08:01"}
    assert alleles.trained_alleles() == {"HLA-A*02:01"}
    report = preflight.Report()
    preflight.check_hla("HLA-A*02:01,B*08:01,HLA-A*02:99", report, models="embedded",
                        embedded_dir=str(folder), official_dir=None)
    by_severity = {(f.severity, f.record) for f in report.findings}
    assert ("error", "HLA-A*02:99") in by_severity
    assert ("warning", "B*08:01") in by_severity  # extrapolated: no training data


def test_missing_models_are_reported_as_not_checked(tmp_path):
    report = preflight.Report()
    preflight.check_hla("HLA-A*02:01", report, models="embedded",
                        embedded_dir=str(tmp_path / "none"), official_dir=None)
    (row,) = report.findings
    assert row.severity == "info" and "not checked against the MHCflurry models" in row.message


# ------------------------------------------------------------------- sample sheet
def test_the_shipped_sample_sheets_are_valid():
    for path in (REPO / "config" / "samples.tsv", REPO / "resources" / "demo" / "samples.tsv"):
        sheet = samplesheet.read_sample_sheet(path)
        assert list(sheet.columns) == samplesheet.SAMPLE_COLUMNS
        assert list(sheet["sample"]) == ["osteosarc-paired", "osteosarc-separate"]


def test_sheet_paths_with_shell_metacharacters_are_accepted_verbatim(tmp_path):
    path = tmp_path / "samples.tsv"
    vcf = "in/a;rm -rf x $(id) `whoami`.vcf"
    path.write_text("sample\thla_alleles\tpaired_vcf\ttumor_sample\tnormal_sample\n"
                    f"P1\tHLA-A*02:01\t{vcf}\tTUMOR\tNORMAL\n")
    sheet = samplesheet.read_sample_sheet(path)
    assert sheet.loc[0, "paired_vcf"] == vcf  # quoted by the workflow (test_bad_inputs)


def test_sheet_tolerates_crlf_bom_comments_and_short_rows(tmp_path):
    path = tmp_path / "samples.tsv"
    text = ("\ufeff# comment\r\nsample\thla_alleles\ttumor_vcf\tnormal_vcf\tpurity\r\n"
            "P1\tHLA-A*02:01\tt.vcf\tn.vcf\r\n\r\nP2\tHLA-A*02:01\tt.vcf\tn.vcf\t0.35\r\n")
    path.write_bytes(text.encode("utf-8"))
    sheet = samplesheet.read_sample_sheet(path)
    assert list(sheet["sample"]) == ["P1", "P2"]
    assert list(sheet["purity"]) == ["", "0.35"]
    assert (sheet["paired_vcf"] == "").all()


@pytest.mark.parametrize(("value", "problem"), [
    ("", None), ("0", None), ("0.6", None), ("1", None), ("1.0", None),
    ("1.5", "outside [0, 1]"), ("-0.1", "outside [0, 1]"), ("abc", "not a number"),
    ("60", "a percentage?"), ("nan", "outside [0, 1]"), (".5", "decimal fraction"),
])
def test_purity_problem(value, problem):
    found = samplesheet.purity_problem(value)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(("sample", "ok"), [
    ("osteosarc-paired", True), ("P1.tumor_2", True), ("", False), ("..", False), (".hidden", False),
    ("-rf", False), ("a/b", False), ("a b", False), ("Ö1", False),
])
def test_sample_id_problem(sample, ok):
    assert (samplesheet.sample_id_problem(sample) is None) is ok


def test_sheet_errors_are_sample_sheet_errors():
    with pytest.raises(SampleSheetError) as err:
        samplesheet.read_sample_sheet(BAD / "sheet_duplicate_ids.tsv")
    assert isinstance(err.value, ValueError)  # common.smk / Snakemake see a ValueError
    assert pd.api.types.is_string_dtype(
        samplesheet.read_sample_sheet(REPO / "config" / "samples.tsv")["purity"])


# ------------------------------------------------------------ RNA BAM and copy number
RNA_BAM = Path(__file__).parents[1] / "data" / "rna" / "tumor_rna.bam"


def _findings(report: preflight.Report, check: str) -> list[preflight.Finding]:
    return [f for f in report.findings if f.check == check]


def test_rna_bam_is_checked_before_ranking_opens_it(tmp_path, mini_genome):
    report = preflight.Report()
    preflight.check_rna_bam(str(RNA_BAM), report, mini_genome)
    (ok,) = _findings(report, "rna_bam")
    assert ok.severity == "info" and "mapped reads" in ok.message

    unindexed = tmp_path / "unindexed.bam"
    unindexed.write_bytes(RNA_BAM.read_bytes())
    text = tmp_path / "reads.sam.bam"
    text.write_text("@HD\tVN:1.6\n")
    for path, expected, fix in [
        (unindexed, "no index", f"samtools index {unindexed}"),
        (text, "cannot be opened as BAM", "samtools sort"),
        (tmp_path / "absent.bam", "does not exist", "rna_bam column"),
    ]:
        report = preflight.Report()
        preflight.check_rna_bam(str(path), report, mini_genome)
        (finding,) = _findings(report, "rna_bam")
        assert finding.severity == "error" and expected in finding.message, finding
        assert fix in finding.fix and finding.file == str(path)


def test_copy_number_table_is_parsed_as_ranking_parses_it(tmp_path, mini_genome):
    segments = tmp_path / "segments.tsv"
    segments.write_text("chrom\tstart\tend\tcopy_number\nchr17\t1\t83000000\t3\n"
                        "12\t1\t133000000\t2\n")
    report = preflight.Report()
    preflight._guarded(report, "copy_number", preflight.check_copy_number, str(segments),
                       report, mini_genome, about=str(segments))
    (ok,) = _findings(report, "copy_number")
    assert ok.severity == "info" and ok.message.startswith("2 copy-number segments")

    broken = tmp_path / "broken.tsv"
    broken.write_text("chrom\tstart\tend\tcopy_number\n17\t100\t50\t2\n")
    report = preflight.Report()
    preflight._guarded(report, "copy_number", preflight.check_copy_number, str(broken),
                       report, mini_genome, about=str(broken))
    (error,) = _findings(report, "copy_number")
    assert error.severity == "error" and "data line 2 ends (50) before it starts (100)" \
        in error.message and error.file == str(broken)

    elsewhere = tmp_path / "mouse.tsv"
    elsewhere.write_text("chrom\tstart\tend\tcopy_number\nchrUn_KI270302v1\t1\t100\t2\n")
    report = preflight.Report()
    preflight.check_copy_number(str(elsewhere), report, mini_genome)
    (warning,) = _findings(report, "copy_number")
    assert warning.severity == "warning" and "no segment is on a reference contig" \
        in warning.message


# ------------------------------------------------ inputs as real pipelines write them
def _vcf_findings(path: Path, genome=None) -> list[preflight.Finding]:
    report = preflight.Report()
    preflight.check_vcf(str(path), "paired", report, sample="TUMOR", sample_option="--tumor-sample",
                        required=True, other_sample="NORMAL", other_option="--normal-sample",
                        ref_checker=preflight.RefChecker(genome) if genome is not None else None)
    return report.findings


@pytest.mark.parametrize(("transform", "check", "message", "fix"), [
    (lambda b: b"\xef\xbb\xbf" + b, "encoding", "UTF-8 byte-order mark",
     "bgzip -dc {path} | sed '1s/^\\xEF\\xBB\\xBF//' | bgzip > fixed.vcf.gz"),
    (lambda b: b.replace(b"\n", b"\r"), "line_endings", "CR only",
     "bgzip -dc {path} | tr '\\r' '\\n' | bgzip > fixed.vcf.gz"),
])
def test_bom_and_cr_line_endings_inside_bgzip(tmp_path, transform, check, message, fix):
    import pysam

    from neorank.errors import InputFileError
    from neorank.vcf import open_vcf

    plain = tmp_path / "calls.vcf"
    plain.write_bytes(transform((BAD / "baseline.vcf").read_bytes()))
    path = tmp_path / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(path))
    findings = _vcf_findings(path)
    (error,) = [f for f in findings if f.severity == "error"]  # one error, not a cascade
    assert (error.check, error.record) == (check, "line 1") and message in error.message
    assert fix.format(path=path) in error.fix
    with pytest.raises(InputFileError) as err:  # what `neorank somatic` says
        open_vcf(path, "paired")
    assert message in err.value.problem and fix.format(path=path) in err.value.fix


def test_conflicting_contig_lengths_are_not_blamed_on_the_build(tmp_path, mini_genome):
    text = (BAD / "wrong_build.vcf").read_text().replace(
        "##contig=<ID=chr2,", "##contig=<ID=chr1,length=249250621>\n##contig=<ID=chr2,", 1)
    path = tmp_path / "merged_header.vcf"
    path.write_text(text)
    findings = _vcf_findings(path, mini_genome)
    header = [f for f in findings if f.check == "header" and f.severity == "error"]
    assert len(header) == 1 and "different lengths" in header[0].message
    (build,) = [f for f in findings if f.check == "reference_bases"]
    assert "chr1 length" not in build.message  # the REF bases name the build, not the header


def test_a_minority_of_ref_mismatches_is_a_warning_per_line(tmp_path, mini_genome):
    lines = (BAD / "baseline.vcf").read_text().splitlines()
    wrong = (BAD / "wrong_build.vcf").read_text().splitlines()
    records = [i for i, line in enumerate(lines) if not line.startswith("#")]
    for i in records[:3]:  # 3 of 8 (37%): not a build mismatch
        lines[i] = wrong[i]
    path = tmp_path / "three_wrong.vcf"
    path.write_text("\n".join(lines) + "\n")
    findings = [f for f in _vcf_findings(path, mini_genome) if f.check == "reference_bases"]
    assert [f.severity for f in findings] == ["warning"] * 3 + ["info"]
    assert [f.record for f in findings[:3]] == ["line 16 (chr1:23362762)",
                                               "line 17 (chr1:151185547)",
                                               "line 18 (chr1:173811223)"]
    assert "ref_mismatch" in findings[0].message and "3 mismatch(es)" in findings[3].message


def test_read_caveats_lists_the_warnings_of_a_written_report(tmp_path):
    report = preflight.Report()
    report.info("variants", "8 input allele(s)")
    report.warning("samples", "normal sample 'NORMAL' is '.' ...", file="x.vcf",
                   record="line 16 (chr1:1) and every later record", fix="give the normal")
    report.error("hla", "bad")
    report.warning("read_counts", "AD 30,25 sums to 55, more than DP 40", file="x.vcf",
                   record="line 17 (chr1:2)", fix="check")
    path = tmp_path / "S.tsv"
    report.frame().to_csv(path, sep="\t", index=False)
    caveats = read_caveats(path)
    assert [(c.check, c.record) for c in caveats] == [
        ("samples", "line 16 (chr1:1) and every later record"),
        ("read_counts", "line 17 (chr1:2)")]
    assert read_caveats(tmp_path / "absent.tsv") == []


def test_hla_options_reach_the_preflight_hla_check(tmp_path):
    typing = tmp_path / "typing.txt"
    typing.write_text("HLA-A*02:01\nHLA-E*01:03\n")
    for hla, expected in ((None, "non-classical class I allele"), (Hla(allow_nonclassical=True),
                                                                  None)):
        report = preflight.Report()
        preflight.check_hla(str(typing), report, models=None, embedded_dir="",
                            official_dir=None, hla=hla)
        errors = [f for f in report.findings if f.severity == "error"]
        if expected is None:
            assert not errors
        else:
            (error,) = errors
            assert expected in error.message and error.record == "line 2: HLA-E*01:03"
            assert error.file == str(typing)
