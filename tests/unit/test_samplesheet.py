"""The sample sheet: sample ids (characters, length, reserved names, letter case) and cells
(quoted values kept verbatim). The bad-sheet corpus is in test_bad_inputs.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neorank import samplesheet
from neorank.errors import SampleSheetError

REPO = Path(__file__).resolve().parents[2]
HEADER = "sample\thla_alleles\tpaired_vcf\ttumor_sample\tnormal_sample\n"


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "samples.tsv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


@pytest.mark.parametrize(("sample", "problem"), [
    ("P" * 64, None),
    ("P" * 65, "has 65 characters; at most 64"),
    ("config", "is reserved: the results layout already uses results/config/"),
    ("CONFIG", "is reserved"),
    ("Preflight", "is reserved"),
    ("run_config.json", "results/run_config.json"),
    ("cohort.html", "results/cohort.html"),
    ("configs", None),
    ("summary2", None),
])
def test_sample_id_length_and_reserved_names(sample, problem):
    found = samplesheet.sample_id_problem(sample)
    assert (found is None) if problem is None else (problem in found)


def test_every_results_folder_of_the_rules_is_reserved():
    """A new results/<name>/ folder in a rule file must be added to RESERVED_SAMPLE_IDS."""
    text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    folders = set(re.findall(r"results/([A-Za-z_][\w.-]*)/", text)) - {"{sample}", "{{sample}}"}
    files = set(re.findall(r"results/([A-Za-z_][\w-]*\.\w+)\b", text))
    assert folders and files
    assert folders | files <= set(samplesheet.RESERVED_SAMPLE_IDS), \
        (folders | files) - set(samplesheet.RESERVED_SAMPLE_IDS)


def test_ids_differing_only_in_case_are_duplicates(tmp_path):
    path = write(tmp_path, ["Patient1\tHLA-A*02:01\tt.vcf\tT\tN",
                            "patient1\tHLA-A*02:01\tt.vcf\tT\tN",
                            "Patient1\tHLA-A*02:01\tt.vcf\tT\tN"])
    with pytest.raises(SampleSheetError) as err:
        samplesheet.read_sample_sheet(path)
    message = str(err.value)
    assert "2 problems" in message
    assert "line 3: sample id 'patient1' differs from 'Patient1' (line 2) only in letter case" \
        in message
    assert "line 4: duplicate sample id 'Patient1' (first on line 2)" in message


@pytest.mark.parametrize(("cell", "value"), [
    ("  TUMOR  ", "TUMOR"),
    ('"TUMOR "', "TUMOR "),
    ('  " TUMOR"  ', " TUMOR"),
    ('"say ""hi"""', 'say "hi"'),
    ('"', '"'),
    ('""', ""),
])
def test_cell_value(cell, value):
    assert samplesheet.cell_value(cell) == value


def test_quoted_cells_are_verbatim_unquoted_cells_stripped(tmp_path):
    path = write(tmp_path, ['P1\t"HLA-A*02:01,HLA-B*08:01"\tin.vcf\t"TUMOR "\tNORMAL ',
                            '"P2"\tHLA-A*02:01\tin.vcf\tTUMOR \t" NORMAL"'])
    sheet = samplesheet.read_sample_sheet(path)
    assert list(sheet["sample"]) == ["P1", "P2"]
    assert list(sheet["hla_alleles"]) == ["HLA-A*02:01,HLA-B*08:01", "HLA-A*02:01"]
    assert list(sheet["tumor_sample"]) == ["TUMOR ", "TUMOR"]
    assert list(sheet["normal_sample"]) == ["NORMAL", " NORMAL"]


def test_a_quoted_id_is_still_checked(tmp_path):
    path = write(tmp_path, ['"P 1"\tHLA-A*02:01\tin.vcf\tT\tN'])
    with pytest.raises(SampleSheetError, match=r"sample id 'P 1' contains ' '"):
        samplesheet.read_sample_sheet(path)
