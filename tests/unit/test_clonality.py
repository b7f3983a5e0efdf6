"""Clonality: VAF vs purity/2, CCF with copy number, copy-number tables of real callers."""

from __future__ import annotations

import pytest

from neorank.clonality import cancer_cell_fraction, classify, read_copy_number
from neorank.errors import InputFileError


@pytest.mark.parametrize("vaf,purity,expected", [
    (0.30, 0.6, "clonal"),      # exactly purity/2
    (0.2999, 0.6, "subclonal"),
    (0.45, 0.6, "clonal"),
    (0.05, 0.2, "subclonal"),
    (0.10, 0.2, "clonal"),
])
def test_vaf_rule_boundary(vaf, purity, expected):
    assert classify(vaf, purity) == (expected, None)


@pytest.mark.parametrize("vaf,purity", [(None, 0.6), (0.3, None), (float("nan"), 0.5),
                                        (0.3, 0.0)])
def test_missing_evidence_is_not_assessed(vaf, purity):
    assert classify(vaf, purity, copy_number=2) == (None, None)


def test_configurable_fraction():
    # pVACseq's looser purity/4 rule.
    assert classify(0.16, 0.6, params={"vaf_fraction_of_purity": 0.25})[0] == "clonal"
    assert classify(0.16, 0.6)[0] == "subclonal"


def test_ccf_hand_computed():
    # purity 0.5, CN 4: VAF 0.2 -> 0.2 * (0.5*4 + 2*0.5) / 0.5 = 0.2 * 3 / 0.5 = 1.2
    assert cancer_cell_fraction(0.2, 0.5, 4) == pytest.approx(1.2)
    status, ccf = classify(0.2, 0.5, copy_number=4)
    assert status == "clonal" and ccf == pytest.approx(1.2)
    # The VAF rule calls it subclonal (0.2 < 0.5/2); CN 4 explains the low VAF.
    assert classify(0.2, 0.5)[0] == "subclonal"
    # purity 0.5, CN 2: CCF = VAF * 2 / 0.5 = 4 VAF; 0.2 -> 0.8 (clonal at min_ccf 0.8)
    assert classify(0.2, 0.5, copy_number=2) == ("clonal", pytest.approx(0.8))
    assert classify(0.19, 0.5, copy_number=2)[0] == "subclonal"
    # Copy number without purity: not assessed.
    assert classify(0.2, None, copy_number=2) == (None, None)


def test_segment_tables_of_callers(tmp_path):
    ascat = tmp_path / "ascat.segments.txt"
    ascat.write_text("sample\tchr\tstartpos\tendpos\tnMajor\tnMinor\n"
                     "T\tchr17\t7000000\t8000000\t2\t1\n"
                     "T\t17\t8000001\t9000000\t1\t0\n")
    table = read_copy_number(ascat)
    assert table.lookup("17:7675088:C>T", "17", 7675088) == 3.0
    assert table.lookup("x", "chr17", 8000001) == 1.0
    assert table.lookup("x", "17", 9000001) is None  # not covered: not assessed
    assert table.lookup("x", "2", 100) is None
    facets = tmp_path / "facets.tsv"
    facets.write_text("chrom\tloc.start\tloc.end\ttcn.em\tlcn.em\n1\t100\t200\t4\t1\n")
    assert read_copy_number(facets).lookup("v", "chr1", 100) == 4.0
    assert read_copy_number(facets).lookup("v", "chr1", 200) == 4.0


def test_per_variant_table_and_errors(tmp_path):
    per_variant = tmp_path / "cn.tsv"
    per_variant.write_text("variant_id\tcopy_number\n2:209113112:C>T\t2\n")
    assert read_copy_number(per_variant).lookup("2:209113112:C>T") == 2.0
    assert read_copy_number(per_variant).lookup("1:1:A>C", "1", 1) is None
    bad = tmp_path / "bad.tsv"
    bad.write_text("chrom\tstart\tend\tcopy_number\n1\t100\t200\ttwo\n")
    with pytest.raises(InputFileError, match="data line 2"):
        read_copy_number(bad)
    bad.write_text("chrom\tstart\tend\tcopy_number\n1\t300\t200\t2\n")
    with pytest.raises(InputFileError, match="before it starts"):
        read_copy_number(bad)
    bad.write_text("chrom\tstart\tend\tvalue\n1\t100\t200\t2\n")
    with pytest.raises(InputFileError, match="no total copy-number column"):
        read_copy_number(bad)
