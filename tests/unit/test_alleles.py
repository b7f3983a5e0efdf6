"""HLA typing input: spellings, typing files, null and class II alleles."""

import pytest

from neorank.alleles import NULL_SKIPPED, SUPPORTED, normalize, parse_typing, read_typing
from neorank.errors import AlleleError


@pytest.mark.parametrize("raw", ["HLA-A*02:01", "A*02:01", "HLA-A0201", "HLA-A*02:01:01:02L"])
def test_spellings_normalise_to_two_fields(raw):
    assert normalize(raw) == ("HLA-A*02:01", False)


def test_null_allele_is_flagged_and_skipped():
    alleles = parse_typing("HLA-A*01:01,A*01:11N,B*08:01")
    assert [(a.allele, a.status) for a in alleles] == [
        ("HLA-A*01:01", SUPPORTED), ("HLA-A*01:11N", NULL_SKIPPED), ("HLA-B*08:01", SUPPORTED)]


def test_homozygous_alleles_kept_once():
    alleles = parse_typing("HLA-A*02:01, HLA-A*02:01; HLA-B*07:02")
    assert [a.allele for a in alleles] == ["HLA-A*02:01", "HLA-B*07:02"]


def test_class_ii_allele_is_an_error_naming_the_input():
    with pytest.raises(AlleleError, match="class II") as err:
        parse_typing("HLA-A*02:01,HLA-DRB1*01:01", where="samples.tsv line 2")
    assert "samples.tsv line 2" in str(err.value)
    assert "Fix:" in str(err.value)


def test_unparseable_and_serotype_are_errors():
    with pytest.raises(AlleleError, match="cannot parse"):
        normalize("garbage")
    with pytest.raises(AlleleError, match="serotype"):
        normalize("A2")


def test_empty_typing_is_an_error():
    with pytest.raises(AlleleError, match="no HLA class I alleles"):
        parse_typing("  ")


def test_plain_list_file(tmp_path):
    path = tmp_path / "typing.txt"
    path.write_text("# patient 1\nHLA-A*01:01\nHLA-B*08:01\n\nC*07:01\n")
    assert [a.allele for a in parse_typing(str(path))] == [
        "HLA-A*01:01", "HLA-B*08:01", "HLA-C*07:01"]


def test_optitype_result(tmp_path):
    path = tmp_path / "sample_result.tsv"
    path.write_text("\tA1\tA2\tB1\tB2\tC1\tC2\tReads\tObjective\n"
                    "0\tA*01:01\tA*02:01\tB*08:01\tB*27:05\tC*01:02\tC*07:01\t1234\t1200.5\n")
    assert read_typing(str(path)) == ["A*01:01", "A*02:01", "B*08:01", "B*27:05", "C*01:02",
                                      "C*07:01"]


def test_hlahd_final_result(tmp_path):
    path = tmp_path / "sample_final.result.txt"
    path.write_text("A\tHLA-A*01:01:01\tHLA-A*02:01:01\nB\tHLA-B*08:01:01\t-\n"
                    "C\tHLA-C*07:01:01\tHLA-C*07:01:01\nDRB1\tNot typed\t-\n")
    assert [a.allele for a in parse_typing(str(path))] == [
        "HLA-A*01:01", "HLA-A*02:01", "HLA-B*08:01", "HLA-C*07:01"]


def test_missing_typing_file_is_an_error():
    with pytest.raises(AlleleError, match="not found"):
        parse_typing("resources/demo/does_not_exist.txt")
