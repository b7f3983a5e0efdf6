"""final_order.tsv (``neorank final-order``): edit candidates.xlsx like a reviewer
(openpyxl) and re-import it; stale workbooks and ``--apply-by-candidate-id``."""

from __future__ import annotations

import argparse

import openpyxl
import pandas as pd
import pytest
from test_review_sheet import (
    EVIL,
    _candidates,
    _column,
    _fuller_candidates,
    _long_peptides,
    workbook_file,  # noqa: F401 (fixture)
)

from neorank import final_order, review_sheet, workbook
from neorank.errors import InputFileError, NeoRankError
from neorank.io import read_tsv, write_tsv


def _final_args(tmp_path, path, sample="PT1", **changes):
    return argparse.Namespace(sample=sample, review=str(path),
                              candidates=str(tmp_path / "candidates.tsv"),
                              long_peptides=str(tmp_path / "long.tsv"),
                              out=str(tmp_path / "final_order.tsv"), **changes)


def _edit(path, out, decisions: dict[str, str], **columns) -> None:
    """Fill the Review sheet of ``path`` by variant and save it at ``out``."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Review"]
    rows = {ws.cell(r, _column(ws, "variant_id")).value: r for r in range(2, ws.max_row + 1)}
    for variant, decision in decisions.items():
        ws.cell(rows[variant], _column(ws, "decision")).value = decision
    for name, values in columns.items():
        for variant, value in values.items():
            ws.cell(rows[variant], _column(ws, name)).value = value
    wb.save(out)


def test_unedited_sheet_is_not_accepted(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    with pytest.raises(InputFileError, match="no row of the Review sheet has a decision"):
        final_order.run(_final_args(tmp_path, args.out))
    assert not (tmp_path / "final_order.tsv").exists()


def test_round_trip_accepts_in_priority_order(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
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
    assert final_order.run(_final_args(tmp_path, edited)) == 0
    final = read_tsv(tmp_path / "final_order.tsv")
    assert list(final["variant_id"]) == ["v3", "v1"]
    assert list(final["order"]) == [1, 2]
    long = _long_peptides().set_index("variant_id")
    assert list(final["long_peptide"]) == [long.loc["v3", "long_peptide"],
                                          long.loc["v1", "long_peptide"]]
    assert final.loc[1, "comment"] == f"ok {EVIL}"
    assert list(final.columns) == final_order.FINAL_COLUMNS
    assert final["note"].isna().all()  # a workbook of this run: nothing to note


def test_pending_rows_are_left_out(workbook_file, caplog):  # noqa: F811
    tmp_path, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    ws.cell(2, _column(ws, "decision")).value = "Review"
    ws.cell(3, _column(ws, "decision")).value = "Accept"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    with caplog.at_level("WARNING"):
        final_order.run(_final_args(tmp_path, edited))
    assert len(read_tsv(tmp_path / "final_order.tsv")) == 1
    assert "2 candidate(s) still pending" in caplog.text


def test_bad_decision_names_the_cell(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    column = _column(ws, "decision")
    ws.cell(3, column).value = "Yes"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    cell = f"{openpyxl.utils.get_column_letter(column)}3"
    with pytest.raises(InputFileError, match=f"cell {cell}.*'Yes' is not one of"):
        final_order.run(_final_args(tmp_path, edited))


def test_sheet_from_another_sample_or_run_is_refused(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    ws.cell(2, _column(ws, "decision")).value = "Accept"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    with pytest.raises(InputFileError, match="for sample 'PT1', not 'PT2'"):
        final_order.run(_final_args(tmp_path, edited, sample="PT2"))
    ws.cell(2, _column(ws, "candidate_id")).value = "PT1-ffffffffffff"
    wb.save(edited)
    with pytest.raises(InputFileError, match="row 2: candidate PT1-ffffffffffff is not in the current"):
        final_order.run(_final_args(tmp_path, edited))


def test_not_an_xlsx(tmp_path):
    bad = tmp_path / "review.xlsx"
    bad.write_text("decision\nAccept\n")
    with pytest.raises(InputFileError, match="cannot read as an .xlsx"):
        workbook.read_review(bad)


def test_reviewer_may_reorder_columns(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    ws.move_range("E1:F4", cols=20)  # decision/comment moved to the far right
    column = _column(ws, "decision")
    assert column == 25
    ws.cell(4, column).value = "Accept"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    final_order.run(_final_args(tmp_path, edited))
    assert list(read_tsv(tmp_path / "final_order.tsv")["variant_id"]) == ["v3"]


def test_cli_reports_an_unedited_sheet_as_a_usage_error(workbook_file, capsys):  # noqa: F811
    from neorank import cli

    tmp_path, args = workbook_file
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["final-order", "--sample", "PT1", "--review", args.out,
                  "--candidates", str(tmp_path / "candidates.tsv"),
                  "--long-peptides", str(tmp_path / "long.tsv"),
                  "--out", str(tmp_path / "final_order.tsv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no row of the Review sheet has a decision" in err and "Fix:" in err


def test_small_blocks_give_the_same_order(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    write_tsv(_fuller_candidates(), tmp_path / "candidates.tsv")
    review_sheet.run(args)  # the workbook of this candidates.tsv
    edited = tmp_path / "edited.xlsx"
    _edit(args.out, edited, {"v1": "Accept", "v2": "Accept", "v3": "Accept"},
          priority={"v2": 0})
    outputs = []
    for chunk_rows in (1000, 3, 1):
        final = _final_args(tmp_path, edited)
        final.out = str(tmp_path / f"final{chunk_rows}.tsv")
        assert final_order.run(final, chunk_rows=chunk_rows) == 0
        outputs.append(open(final.out, "rb").read())
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    assert list(read_tsv(tmp_path / "final1.tsv")["variant_id"]) == ["v2", "v1", "v3"]


def test_known_candidate_ids_keeps_only_the_sheet_ids(workbook_file):  # noqa: F811
    tmp_path, _ = workbook_file
    path = tmp_path / "candidates.tsv"
    assert final_order.known_candidate_ids(path, {"PT-000000000002", "PT-9"}, chunk_rows=1) == {
        "PT-000000000002"}


# --------------------------------------------------------------------------- stale workbooks


def _rerun_without_v2(tmp_path) -> None:
    """A later run: v2 is gone, v4 is new (other candidates.tsv and long peptides)."""
    long = _long_peptides()
    new = long.iloc[[2]].assign(order=3, variant_id="v4", candidate_id="PT-000000000004",
                                gene_name="NRAS", long_peptide="MTEYKLVVVGAGGVGKSALTIQLIQ")
    long = pd.concat([long.iloc[[0, 2]], new], ignore_index=True).assign(order=[1, 2, 3])
    write_tsv(long, tmp_path / "long.tsv")
    candidates = _candidates(long)
    write_tsv(candidates, tmp_path / "candidates.tsv")


@pytest.fixture
def stale(workbook_file):  # noqa: F811
    """A workbook reviewed (v1 Accept, v2 Accept, v3 Reject), then the run changed."""
    tmp_path, args = workbook_file
    edited = tmp_path / "edited.xlsx"
    _edit(args.out, edited, {"v1": "Accept", "v2": "Accept", "v3": "Reject"},
          comment={"v1": "keep"})
    _rerun_without_v2(tmp_path)
    return tmp_path, edited


def test_stale_workbook_is_refused_with_how_to_re_export(stale):
    tmp_path, edited = stale
    with pytest.raises(NeoRankError) as err:
        final_order.run(_final_args(tmp_path, edited))
    assert isinstance(err.value, InputFileError)
    message = str(err.value)
    assert "made from another candidates.tsv" in message
    assert f"{edited} sheet About" in message
    assert "re-run the review_sheet rule" in message
    assert f"copy the new results/PT1/candidates.xlsx to {edited}" in message
    assert "re-enter the decisions" in message
    assert "--apply-by-candidate-id" in message
    assert not (tmp_path / "final_order.tsv").exists()


def test_cli_reports_a_stale_workbook_as_a_usage_error(stale, capsys):
    from neorank import cli

    tmp_path, edited = stale
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["final-order", "--sample", "PT1", "--review", str(edited),
                  "--candidates", str(tmp_path / "candidates.tsv"),
                  "--long-peptides", str(tmp_path / "long.tsv"),
                  "--out", str(tmp_path / "final_order.tsv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "made from another candidates.tsv" in err and "re-run the review_sheet rule" in err


def test_apply_by_candidate_id_applies_the_matching_decisions(stale, caplog):
    tmp_path, edited = stale
    with caplog.at_level("INFO"):
        assert final_order.run(_final_args(tmp_path, edited, apply_by_candidate_id=True)) == 0
    final = read_tsv(tmp_path / "final_order.tsv")
    assert list(final["variant_id"]) == ["v1"]  # v2 is gone, v3 rejected
    assert final.loc[0, "comment"] == "keep"
    assert final.loc[0, "long_peptide"] == _long_peptides().loc[0, "long_peptide"]
    # The unmatched row is listed in the log and in the note.
    assert "row 3: candidate PT-000000000002 (v2, Accept) is not a candidate of this run" \
        in caplog.text
    assert "1 candidate(s) of this run are not in the workbook" in caplog.text  # v4
    note = final.loc[0, "note"]
    assert "applied by candidate_id" in note and "row 3 PT-000000000002 Accept" in note


def test_apply_by_candidate_id_with_the_cli_option(stale):
    from neorank import cli

    tmp_path, edited = stale
    assert cli.main(["final-order", "--sample", "PT1", "--review", str(edited),
                     "--candidates", str(tmp_path / "candidates.tsv"),
                     "--long-peptides", str(tmp_path / "long.tsv"),
                     "--apply-by-candidate-id",
                     "--out", str(tmp_path / "final_order.tsv")]) == 0
    assert list(read_tsv(tmp_path / "final_order.tsv")["variant_id"]) == ["v1"]


def test_apply_by_candidate_id_still_refuses_another_sample(stale):
    tmp_path, edited = stale
    with pytest.raises(InputFileError, match="for sample 'PT1', not 'PT2'"):
        final_order.run(_final_args(tmp_path, edited, sample="PT2", apply_by_candidate_id=True))


def test_apply_by_candidate_id_needs_a_matching_decision(workbook_file):  # noqa: F811
    tmp_path, args = workbook_file
    edited = tmp_path / "edited.xlsx"
    _rerun_without_v2(tmp_path)
    with pytest.raises(InputFileError, match="no row of the Review sheet has a decision"):
        final_order.run(_final_args(tmp_path, args.out, apply_by_candidate_id=True))
    _edit(args.out, edited, {"v2": "Accept"})
    with pytest.raises(InputFileError, match="no decision of the workbook names a candidate"):
        final_order.run(_final_args(tmp_path, edited, apply_by_candidate_id=True))


def test_apply_by_candidate_id_note_is_bounded():
    review = pd.DataFrame({"sheet_row": range(2, 32), "candidate_id": [f"c{i}" for i in range(30)],
                           "variant_id": "v", "priority": 1.0, "decision": "Reject",
                           "comment": ""})
    note = final_order.unmatched_note(review)
    assert note.count("Reject") == final_order.NOTE_MAX_ROWS
    assert "and 10 more (see the log)" in note
