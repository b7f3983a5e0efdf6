"""candidates.xlsx (``neorank review-sheet``): layout, formats, bounded Binders sheet,
deterministic bytes; read back with openpyxl."""

from __future__ import annotations

import argparse
import time

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from neorank import review_sheet, workbook
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


def _fuller_candidates() -> pd.DataFrame:
    """candidates.tsv with non-binder rows (also before a variant's binder row) and NA
    cells, so blocks of a few rows differ in their inferred column types."""
    candidates = _candidates(_long_peptides())
    extra = pd.DataFrame({"rank": [4, 5, 6, 7], "candidate_id": [f"PT-x{i}" for i in range(4)],
                          "variant_id": ["v3", "v1", "v4", "v2"],
                          "mutant_peptide": ["AAAAAAAAA", None, "CCCCCCCCC", "DDDDDDDDD"],
                          "allele": "HLA-B*07:02", "binder": False,
                          "tumor_vaf": [None, 0.4, 0.2, 0.3]})
    candidates = pd.concat([extra.iloc[:1], candidates, extra.iloc[1:]], ignore_index=True)
    candidates["mutation_positions"] = ["5;6", "3", "4", "5", "2;3", "1", "9"]
    return candidates


def _write_inputs(tmp_path, long: pd.DataFrame, candidates: pd.DataFrame) -> None:
    write_tsv(long, tmp_path / "long.tsv")
    write_tsv(long.head(2), tmp_path / "peptides.tsv")
    write_tsv(pd.DataFrame({"position": [1, 2], "variant_id": ["v2", "v1"]}), tmp_path / "mrna.tsv")
    write_tsv(candidates, tmp_path / "candidates.tsv")
    write_tsv(pd.DataFrame({"variant_id": long["variant_id"], "evaluation": "Pending"}),
              tmp_path / "aggregated.tsv")


def _sheet_args(tmp_path, **changes) -> argparse.Namespace:
    args = argparse.Namespace(
        sample="PT1", candidates=str(tmp_path / "candidates.tsv"),
        aggregated=str(tmp_path / "aggregated.tsv"), long_peptides=str(tmp_path / "long.tsv"),
        vaccine_peptides=str(tmp_path / "peptides.tsv"), vaccine_mrna=str(tmp_path / "mrna.tsv"),
        max_binder_rows=review_sheet.DEFAULT_MAX_BINDER_ROWS,
        out=str(tmp_path / "candidates.xlsx"))
    return argparse.Namespace(**{**vars(args), **changes})


@pytest.fixture
def workbook_file(tmp_path):
    long = _long_peptides()
    _write_inputs(tmp_path, long, _candidates(long))
    args = _sheet_args(tmp_path)
    assert review_sheet.run(args) == 0
    return tmp_path, args


def _column(ws, name):
    header = [c.value for c in ws[1]]
    return header.index(name) + 1


def _about(wb) -> dict:
    return {r[0]: r[1] for r in wb["About"].iter_rows(min_row=2, values_only=True)}


def test_workbook_layout_and_decision_dropdown(workbook_file):
    tmp_path, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    assert wb.sheetnames == ["Review", "Aggregated", "Binders", "About"]
    ws = wb["Review"]
    assert [c.value for c in ws[1]] == workbook.REVIEW_COLUMNS
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
    about = _about(wb)
    assert about["sample"] == "PT1"


def test_reviewer_columns_follow_the_identifying_ones_and_stay_in_view(workbook_file):
    _, args = workbook_file
    ws = openpyxl.load_workbook(args.out)["Review"]
    assert [c.value for c in ws[1]][:6] == ["priority", "variant_id", "gene_name",
                                             "protein_change", "decision", "comment"]
    # Frozen: the header row and columns A-F (identifying + decision/comment).
    assert ws.freeze_panes == "G2"
    assert ws.sheet_view.pane.xSplit == 6 and ws.sheet_view.pane.ySplit == 1
    # The reviewer's cells are highlighted as editable, also while empty.
    for name in ("decision", "comment"):
        assert ws.cell(2, _column(ws, name)).fill.fgColor.rgb.endswith(workbook.EDIT_FILL)


def test_every_sheet_has_a_filter_bold_header_widths_and_number_formats(workbook_file):
    _, args = workbook_file
    wb = openpyxl.load_workbook(args.out)
    for ws in wb:
        assert ws.auto_filter.ref == ws.dimensions, ws.title  # whole table, header included
        assert all(c.font.b for c in ws[1]), ws.title
        assert ws.freeze_panes is not None, ws.title
        for i in range(1, ws.max_column + 1):
            width = ws.column_dimensions[get_column_letter(i)].width
            assert len(str(ws.cell(1, i).value)) < width <= workbook.MAX_WIDTH, (ws.title, i)
    assert wb["Aggregated"].freeze_panes == "B2"  # header + variant_id
    assert wb["Binders"].freeze_panes == "C2"  # header + rank, candidate_id
    assert wb["About"].freeze_panes == "A2"
    ws = wb["Review"]
    width = {name: ws.column_dimensions[get_column_letter(_column(ws, name))].width
             for name in ("long_peptide", "gene_name", "comment", "decision")}
    assert width["long_peptide"] >= 25 + 1  # from the content: a 25-mer
    assert width["gene_name"] >= len(EVIL) + 1
    assert width["comment"] >= 30 and width["decision"] >= 12  # room to type
    formats = {name: ws.cell(2, _column(ws, name)).number_format
               for name in ("best_affinity_nm", "best_percentile", "tumor_vaf", "score",
                            "priority")}
    assert formats == {"best_affinity_nm": "0.0", "best_percentile": "0.00",
                       "tumor_vaf": "0.000", "score": "0.000000", "priority": "General"}
    assert ws.cell(2, _column(ws, "score")).value == pytest.approx(0.8)  # the value is kept


def test_long_text_width_is_capped_and_tiers_are_coloured(tmp_path):
    long = _long_peptides()
    long["gene_name"] = ["G" * 200, "KRAS", "TP53"]
    long["tier"] = ["Pass", "WeakBinder", "Poor"]
    candidates = _candidates(long)
    candidates["tier"] = ["Pass", "Subclonal", "Poor"]
    candidates["mutant_affinity_nm"] = [12.345, 99.0, 1000.0]
    candidates["mutant_percentile"] = [0.123, 1.5, 2.0]
    _write_inputs(tmp_path, long, candidates)
    args = _sheet_args(tmp_path)
    review_sheet.run(args)
    wb = openpyxl.load_workbook(args.out)
    ws = wb["Review"]
    assert ws.column_dimensions[get_column_letter(_column(ws, "gene_name"))].width == \
        workbook.MAX_WIDTH
    assert ws.cell(2, _column(ws, "gene_name")).value == "G" * 200  # only the width is capped
    binders = wb["Binders"]
    assert binders.cell(2, _column(binders, "mutant_affinity_nm")).number_format == "0.0"
    assert binders.cell(2, _column(binders, "mutant_percentile")).number_format == "0.00"
    assert binders.cell(2, _column(binders, "tumor_vaf")).number_format == "0.000"
    for sheet in (ws, binders):
        letter = get_column_letter(_column(sheet, "tier"))
        ranges = {str(cf.sqref): cf.rules for cf in sheet.conditional_formatting}
        rules = ranges[f"{letter}2:{letter}4"]
        assert [r.type for r in rules] == ["cellIs", "cellIs", "expression"]
        assert rules[0].formula == ['"Pass"'] and rules[0].stopIfTrue
        assert rules[0].dxf.fill.fgColor.rgb.endswith(workbook.TIER_COLOURS["Pass"][0])
        assert rules[1].formula == ['"Poor"']
        assert rules[1].dxf.fill.fgColor.rgb.endswith(workbook.TIER_COLOURS["Poor"][0])
        assert rules[2].formula == [f"LEN({letter}2)>0"]
        assert rules[2].dxf.fill.fgColor.rgb.endswith(workbook.TIER_COLOURS["other"][0])
    assert not wb["Aggregated"].conditional_formatting  # no tier column there


def test_formula_like_text_stays_text(tmp_path):
    long = _long_peptides()
    long["gene_name"] = ["=HYPERLINK(\"http://x\",\"y\")", "KRAS", "TP53"]
    _write_inputs(tmp_path, long, _candidates(long))
    args = _sheet_args(tmp_path)
    review_sheet.run(args)
    ws = openpyxl.load_workbook(args.out)["Review"]
    cell = ws.cell(2, _column(ws, "gene_name"))
    assert cell.data_type == "s" and cell.value == long.loc[0, "gene_name"]


def test_workbook_bytes_are_deterministic(workbook_file, tmp_path):
    _, args = workbook_file
    first = open(args.out, "rb").read()
    time.sleep(1.1)  # a later second: no save time may leak into the bytes
    again = argparse.Namespace(**{**vars(args), "out": str(tmp_path / "again.xlsx")})
    review_sheet.run(again)
    assert open(again.out, "rb").read() == first


def test_binder_sheet_is_capped_best_first(tmp_path, caplog):
    long = _long_peptides()
    # 12 binder rows between non-binder rows, in candidates.tsv (rank) order.
    n = 16
    candidates = pd.DataFrame({
        "rank": range(1, n + 1), "candidate_id": [f"PT-c{i:02d}" for i in range(1, n + 1)],
        "variant_id": [f"v{1 + i % 3}" for i in range(n)],
        "mutant_peptide": [f"PEPTIDE{i:02d}" for i in range(1, n + 1)],
        "allele": "HLA-A*02:01", "binder": [i % 4 != 3 for i in range(n)],
        "tumor_vaf": 0.5})
    assert candidates["binder"].sum() == 12
    _write_inputs(tmp_path, long, candidates)
    args = _sheet_args(tmp_path, max_binder_rows=5)
    with caplog.at_level("WARNING"):
        assert review_sheet.run(args, chunk_rows=2) == 0
    assert "first 5 of 12 binder rows" in caplog.text
    wb = openpyxl.load_workbook(args.out)
    binders = wb["Binders"]
    assert binders.max_row == 6  # header + the cap
    expected = candidates.loc[candidates["binder"], "candidate_id"].head(5).tolist()
    assert [r[1] for r in binders.iter_rows(min_row=2, values_only=True)] == expected
    assert binders.auto_filter.ref == "A1:G6"
    about = _about(wb)
    assert about["binder_rows"] == 12 and about["binder_rows_in_sheet"] == 5
    text = about["binders sheet"]
    assert "first 5 of the 12 binder rows" in text and "capped at 5 rows" in text
    assert f"The full table is {args.candidates}." in text
    # Under the cap: every binder row, and the About sheet says so.
    review_sheet.run(_sheet_args(tmp_path, max_binder_rows=100, out=str(tmp_path / "all.xlsx")),
                     chunk_rows=2)
    wb = openpyxl.load_workbook(tmp_path / "all.xlsx")
    assert wb["Binders"].max_row == 13
    assert "all 12 binder rows" in _about(wb)["binders sheet"]
    # A cap of 0: the header only.
    review_sheet.run(_sheet_args(tmp_path, max_binder_rows=0, out=str(tmp_path / "none.xlsx")))
    assert openpyxl.load_workbook(tmp_path / "none.xlsx")["Binders"].max_row == 1


def test_write_workbook_caps_the_binders_it_is_given(tmp_path):
    long = _long_peptides()
    review_table = review_sheet.review_rows(long, long.head(2), pd.DataFrame(
        {"position": [1], "variant_id": ["v1"]}), _candidates(long))
    binders = pd.DataFrame({"rank": range(1, 13), "binder": True})
    out = tmp_path / "capped.xlsx"
    review_sheet.write_workbook(out, "PT1", review_table, workbook.Rows.of(long[["variant_id"]]),
                                workbook.Rows.of(binders), "0" * 64, max_binder_rows=5)
    wb = openpyxl.load_workbook(out)
    assert [r[0] for r in wb["Binders"].iter_rows(min_row=2, values_only=True)] == [1, 2, 3, 4, 5]
    assert _about(wb)["binder_rows"] == 5  # only those given are known


def test_binder_blocks_stop_at_the_limit(tmp_path):
    write_tsv(_fuller_candidates(), tmp_path / "candidates.tsv")
    whole = read_tsv(tmp_path / "candidates.tsv")
    scan = review_sheet.scan_candidates(tmp_path / "candidates.tsv", chunk_rows=2)
    assert scan.binder_rows == 3
    pd.testing.assert_frame_equal(pd.concat(list(review_sheet.binder_blocks(scan, 2))),
                                  whole.loc[whole["binder"]].head(2))
    assert list(review_sheet.binder_blocks(scan, 0)) == []


def test_max_binder_rows_option():
    parser = argparse.ArgumentParser()
    review_sheet.add_subcommand(parser.add_subparsers())
    base = ["review-sheet", "--sample", "S", "--candidates", "c", "--aggregated", "a",
            "--long-peptides", "l", "--vaccine-peptides", "p", "--vaccine-mrna", "m",
            "--out", "o"]
    assert parser.parse_args(base).max_binder_rows == 100_000
    assert parser.parse_args([*base, "--max-binder-rows", "5"]).max_binder_rows == 5
    for bad in ("-1", "1048576", "many"):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, "--max-binder-rows", bad])


def test_small_blocks_give_the_same_workbook(workbook_file):
    tmp_path, args = workbook_file
    write_tsv(_fuller_candidates(), tmp_path / "candidates.tsv")
    whole = read_tsv(tmp_path / "candidates.tsv")
    outputs = []
    for chunk_rows in (1000, 3, 1):
        scan = review_sheet.scan_candidates(tmp_path / "candidates.tsv", chunk_rows)
        binders = pd.concat(list(review_sheet.binder_blocks(scan)))
        pd.testing.assert_frame_equal(binders, whole.loc[whole["binder"]])
        pd.testing.assert_frame_equal(scan.firsts, whole.drop_duplicates("variant_id")[
            ["variant_id", "tumor_vaf"]])
        sheet = argparse.Namespace(**{**vars(args), "out": str(tmp_path / f"c{chunk_rows}.xlsx")})
        assert review_sheet.run(sheet, chunk_rows=chunk_rows) == 0
        outputs.append(open(sheet.out, "rb").read())
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    binders_sheet = openpyxl.load_workbook(tmp_path / "c1.xlsx")["Binders"]
    assert binders_sheet.max_row == 4  # header + the 3 binder rows
    assert [c.value for c in binders_sheet[2]][-1] == "3"  # text, as in a whole read
    tumor_vaf = workbook.REVIEW_COLUMNS.index("tumor_vaf")
    assert [r[tumor_vaf] for r in openpyxl.load_workbook(tmp_path / "c1.xlsx")["Review"]
            .iter_rows(min_row=2, values_only=True)] == [0.4, 0.3, None]


@pytest.mark.parametrize("n_binders", [0, 1, 5])
def test_blocks_give_the_bytes_of_a_whole_table(tmp_path, n_binders):
    long = _long_peptides()
    review_table = review_sheet.review_rows(long, long.head(2), pd.DataFrame(
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
    for blocked in (False, True):
        out = tmp_path / f"blocked{blocked}.xlsx"
        if blocked:  # one row per block
            tables = [workbook.Rows(list(t.columns), [t.iloc[i:i + 1] for i in range(len(t))])
                      for t in (aggregated, binders)]
        else:
            tables = [workbook.Rows.of(aggregated), workbook.Rows.of(binders)]
        review_sheet.write_workbook(out, "PT1", review_table, *tables, "0" * 64)
        written.append(out.read_bytes())
    assert written[1] == written[0]
    sheet = openpyxl.load_workbook(tmp_path / "blockedTrue.xlsx")["Binders"]
    assert sheet.max_row == n_binders + 1 and sheet.dimensions.endswith(str(n_binders + 1))
