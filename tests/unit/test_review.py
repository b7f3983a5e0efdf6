"""candidates.xlsx round trip: write the review workbook, edit it like a reviewer, re-import."""

from __future__ import annotations

import argparse
import time

import openpyxl
import pandas as pd
import pytest

from neorank import review
from neorank.errors import InputFileError
from neorank.io import read_tsv, write_tsv

EVIL = "<script>alert('x')</script>"


def _long_peptides() -> pd.DataFrame:
    rows = []
    for i, (gene, seq) in enumerate([("KRAS", "KLVVVGAVGVGKSALTIQLIQNHFV"),
                                     (EVIL, "MSDEKLRNGTPAYWHQVICFMSDEK"),
                                     ("TP53", "SSCMGGMNRRPILTIITLEDSSGNL")], start=1):
        rows.append({"order": i, "variant_id": f"v{i}", "gene_name": gene, "effect": "Substitution",
                     "protein_change": f"p.A{i}B", "transcript_id": f"ENST{i}",
                     "candidate_id": f"PT-{i:012d}", "tier": None, "best_peptide": seq[:9],
                     "best_allele": "HLA-A*02:01", "best_affinity_nm": 10.0 * i,
                     "best_percentile": 0.1 * i, "score": 0.9 - 0.1 * i, "long_peptide": seq,
                     "long_peptide_start": 100 * i, "long_peptide_length": len(seq),
                     "mutation_in_long_peptide": "8-8", "n_binder_epitopes": 1,
                     "binder_epitopes": f"{seq[:9]}|HLA-A*02:01", "n_cysteines": seq.count("C"),
                     "max_gravy_7mer": 1.0, "nterm_qec": False, "cterm_cp": False, "np_bonds": 0,
                     "manufacturability_flags": "none", "manufacturable": True})
    return pd.DataFrame(rows)


def _candidates(long: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"rank": range(1, len(long) + 1), "candidate_id": long["candidate_id"],
                         "variant_id": long["variant_id"], "mutant_peptide": long["best_peptide"],
                         "allele": "HLA-A*02:01", "binder": True, "tumor_vaf": [0.4, 0.3, None]})


@pytest.fixture
def workbook(tmp_path):
    long = _long_peptides()
    candidates = _candidates(long)
    write_tsv(long, tmp_path / "long.tsv")
    write_tsv(long.head(2), tmp_path / "peptides.tsv")
    write_tsv(pd.DataFrame({"position": [1, 2], "variant_id": ["v2", "v1"]}), tmp_path / "mrna.tsv")
    write_tsv(candidates, tmp_path / "candidates.tsv")
    write_tsv(pd.DataFrame({"variant_id": long["variant_id"], "evaluation": "Pending"}),
              tmp_path / "aggregated.tsv")
    args = argparse.Namespace(
        sample="PT1", candidates=str(tmp_path / "candidates.tsv"),
        aggregated=str(tmp_path / "aggregated.tsv"), long_peptides=str(tmp_path / "long.tsv"),
        vaccine_peptides=str(tmp_path / "peptides.tsv"), vaccine_mrna=str(tmp_path / "mrna.tsv"),
        out=str(tmp_path / "candidates.xlsx"))
    assert review.run_sheet(args) == 0
    return tmp_path, args


def _final_args(tmp_path, path, sample="PT1"):
    return argparse.Namespace(sample=sample, review=str(path),
                              candidates=str(tmp_path / "candidates.tsv"),
                              long_peptides=str(tmp_path / "long.tsv"),
                              out=str(tmp_path / "final_order.tsv"))


def _column(ws, name):
    header = [c.value for c in ws[1]]
    return header.index(name) + 1


def test_workbook_layout_and_decision_dropdown(workbook):
    tmp_path, args = workbook
    wb = openpyxl.load_workbook(args.out)
    assert wb.sheetnames == ["Review", "Aggregated", "Binders", "About"]
    ws = wb["Review"]
    assert [c.value for c in ws[1]] == review.REVIEW_COLUMNS
    assert ws.max_row == 4  # header + 3 binder variants
    rows = {ws.cell(r, _column(ws, "variant_id")).value: r for r in range(2, 5)}
    assert ws.cell(rows["v1"], _column(ws, "in_peptide_design")).value == "yes"
    assert ws.cell(rows["v3"], _column(ws, "in_peptide_design")).value == "no"
    assert ws.cell(rows["v1"], _column(ws, "mrna_position")).value == 2
    # Text is stored as text (no HTML escaping in a spreadsheet) and decisions start empty.
    assert ws.cell(rows["v2"], _column(ws, "gene_name")).value == EVIL
    assert all(ws.cell(r, _column(ws, "decision")).value is None for r in range(2, 5))
    validations = ws.data_validations.dataValidation
    assert len(validations) == 1
    assert validations[0].type == "list"
    assert validations[0].formula1 == '"Accept,Reject,Review"'
    letter = openpyxl.utils.get_column_letter(_column(ws, "decision"))
    assert str(validations[0].sqref) == f"{letter}2:{letter}4"
    about = {r[0]: r[1] for r in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert about["sample"] == "PT1"


def test_workbook_bytes_are_deterministic(workbook, tmp_path):
    _, args = workbook
    first = open(args.out, "rb").read()
    time.sleep(1.1)  # a later second: no save time may leak into the bytes
    again = argparse.Namespace(**{**vars(args), "out": str(tmp_path / "again.xlsx")})
    review.run_sheet(again)
    assert open(again.out, "rb").read() == first


def test_unedited_sheet_is_not_accepted(workbook):
    tmp_path, args = workbook
    with pytest.raises(InputFileError, match="no row of the Review sheet has a decision"):
        review.run_final(_final_args(tmp_path, args.out))
    assert not (tmp_path / "final_order.tsv").exists()


def test_round_trip_accepts_in_priority_order(workbook):
    tmp_path, args = workbook
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    col = {name: _column(ws, name) for name in ("variant_id", "decision", "comment", "priority",
                                                 "long_peptide")}
    rows = {ws.cell(r, col["variant_id"]).value: r for r in range(2, 5)}
    ws.cell(rows["v1"], col["decision"]).value = "Accept"
    ws.cell(rows["v1"], col["comment"]).value = f"ok {EVIL}"
    ws.cell(rows["v2"], col["decision"]).value = "reject"  # case-insensitive
    ws.cell(rows["v3"], col["decision"]).value = "accept"
    ws.cell(rows["v3"], col["priority"]).value = 0  # reviewer moves v3 first
    ws.cell(rows["v3"], col["long_peptide"]).value = "TAMPERED"  # never read back
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    assert review.run_final(_final_args(tmp_path, edited)) == 0
    final = read_tsv(tmp_path / "final_order.tsv")
    assert list(final["variant_id"]) == ["v3", "v1"]
    assert list(final["order"]) == [1, 2]
    long = _long_peptides().set_index("variant_id")
    assert list(final["long_peptide"]) == [long.loc["v3", "long_peptide"],
                                          long.loc["v1", "long_peptide"]]
    assert final.loc[1, "comment"] == f"ok {EVIL}"
    assert list(final.columns) == review.FINAL_COLUMNS


def test_pending_rows_are_left_out(workbook, caplog):
    tmp_path, args = workbook
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    ws.cell(2, _column(ws, "decision")).value = "Review"
    ws.cell(3, _column(ws, "decision")).value = "Accept"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    with caplog.at_level("WARNING"):
        review.run_final(_final_args(tmp_path, edited))
    assert len(read_tsv(tmp_path / "final_order.tsv")) == 1
    assert "2 candidate(s) still pending" in caplog.text


def test_bad_decision_names_the_cell(workbook):
    tmp_path, args = workbook
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    column = _column(ws, "decision")
    ws.cell(3, column).value = "Yes"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    cell = f"{openpyxl.utils.get_column_letter(column)}3"
    with pytest.raises(InputFileError, match=f"cell {cell}.*'Yes' is not one of"):
        review.run_final(_final_args(tmp_path, edited))


def test_sheet_from_another_sample_or_run_is_refused(workbook):
    tmp_path, args = workbook
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    ws.cell(2, _column(ws, "decision")).value = "Accept"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    with pytest.raises(InputFileError, match="for sample 'PT1', not 'PT2'"):
        review.run_final(_final_args(tmp_path, edited, sample="PT2"))
    ws.cell(2, _column(ws, "candidate_id")).value = "PT1-ffffffffffff"
    wb.save(edited)
    with pytest.raises(InputFileError, match="row 2: candidate PT1-ffffffffffff is not in the current"):
        review.run_final(_final_args(tmp_path, edited))


def test_not_an_xlsx(tmp_path):
    bad = tmp_path / "review.xlsx"
    bad.write_text("decision\nAccept\n")
    with pytest.raises(InputFileError, match="cannot read as an .xlsx"):
        review.read_review(bad)


def test_cli_reports_an_unedited_sheet_as_a_usage_error(workbook, capsys):
    from neorank import cli

    tmp_path, args = workbook
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["final-order", "--sample", "PT1", "--review", args.out,
                  "--candidates", str(tmp_path / "candidates.tsv"),
                  "--long-peptides", str(tmp_path / "long.tsv"),
                  "--out", str(tmp_path / "final_order.tsv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no row of the Review sheet has a decision" in err and "Fix:" in err


def test_small_blocks_give_the_same_workbook_and_order(workbook):
    tmp_path, args = workbook
    # A fuller candidates.tsv: non-binder rows (also before a variant's binder row)
    # and NA cells, so blocks of a few rows differ in their inferred column types.
    candidates = _candidates(_long_peptides())
    extra = pd.DataFrame({"rank": [4, 5, 6, 7], "candidate_id": [f"PT-x{i}" for i in range(4)],
                          "variant_id": ["v3", "v1", "v4", "v2"],
                          "mutant_peptide": ["AAAAAAAAA", None, "CCCCCCCCC", "DDDDDDDDD"],
                          "allele": "HLA-B*07:02", "binder": False,
                          "tumor_vaf": [None, 0.4, 0.2, 0.3]})
    candidates = pd.concat([extra.iloc[:1], candidates, extra.iloc[1:]], ignore_index=True)
    candidates["mutation_positions"] = ["5;6", "3", "4", "5", "2;3", "1", "9"]
    write_tsv(candidates, tmp_path / "candidates.tsv")
    whole = read_tsv(tmp_path / "candidates.tsv")
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    for r in range(2, 5):
        ws.cell(r, _column(ws, "decision")).value = "Accept"
    ws.cell(3, _column(ws, "priority")).value = 0
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    outputs = []
    for chunk_rows in (1000, 3, 1):
        binders, firsts = review.read_candidates(tmp_path / "candidates.tsv", chunk_rows)
        pd.testing.assert_frame_equal(binders, whole.loc[whole["binder"]])
        pd.testing.assert_frame_equal(firsts, whole.drop_duplicates("variant_id")[
            ["variant_id", "tumor_vaf"]])
        sheet = argparse.Namespace(**{**vars(args), "out": str(tmp_path / f"c{chunk_rows}.xlsx")})
        assert review.run_sheet(sheet, chunk_rows=chunk_rows) == 0
        final = _final_args(tmp_path, edited)
        final.out = str(tmp_path / f"final{chunk_rows}.tsv")
        assert review.run_final(final, chunk_rows=chunk_rows) == 0
        outputs.append((open(sheet.out, "rb").read(), open(final.out, "rb").read()))
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    binders_sheet = openpyxl.load_workbook(tmp_path / "c1.xlsx")["Binders"]
    assert binders_sheet.max_row == 4  # header + the 3 binder rows
    assert [c.value for c in binders_sheet[2]][-1] == "3"  # text, as in a whole read
    tumor_vaf = review.REVIEW_COLUMNS.index("tumor_vaf")
    assert [r[tumor_vaf] for r in openpyxl.load_workbook(tmp_path / "c1.xlsx")["Review"]
            .iter_rows(min_row=2, values_only=True)] == [0.4, 0.3, None]
    assert list(read_tsv(tmp_path / "final1.tsv")["variant_id"]) == ["v2", "v1", "v3"]


def test_known_candidate_ids_keeps_only_the_sheet_ids(workbook):
    tmp_path, _ = workbook
    path = tmp_path / "candidates.tsv"
    assert review.known_candidate_ids(path, {"PT-000000000002", "PT-9"}, chunk_rows=1) == {
        "PT-000000000002"}


@pytest.mark.parametrize("n_binders", [0, 1, 5])
def test_streamed_sheets_are_the_bytes_of_a_whole_workbook(tmp_path, n_binders):
    long = _long_peptides()
    review_table = review.review_rows(long, long.head(2), pd.DataFrame(
        {"position": [1], "variant_id": ["v1"]}), _candidates(long))
    binders = pd.DataFrame({"rank": range(1, n_binders + 1),
                            "candidate_id": [f"PT-{i}" for i in range(n_binders)],
                            "mutation_positions": ["5;6", "3", "4", None, "2"][:n_binders],
                            "binder": True, "score": [0.5, None, 1e6, 0.25, -1.0][:n_binders],
                            "anchor_mutated": [True, False, None, True, False][:n_binders],
                            "gene_name": [EVIL, "KRAS", "", "TP53", "X"][:n_binders]})
    aggregated = pd.DataFrame({"variant_id": ["v1", "v2"], "tumor_depth": [30, None],
                               "evaluation": "Pending"})
    written = []
    for stream in (False, True):
        out = tmp_path / f"stream{stream}.xlsx"
        review.write_workbook(out, "PT1", review_table, aggregated, binders, "0" * 64,
                              stream=stream)
        written.append(out.read_bytes())
    assert written[1] == written[0]
    sheet = openpyxl.load_workbook(tmp_path / "streamTrue.xlsx")["Binders"]
    assert sheet.max_row == n_binders + 1 and sheet.dimensions.endswith(str(n_binders + 1))
