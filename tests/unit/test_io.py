"""Streaming reads of NeoRank tables (neorank.io)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neorank import io
from neorank.io import read_tsv, read_tsv_chunks, write_tsv


def _table(tmp_path):
    frame = pd.DataFrame({
        "variant_id": [f"1:{i}:A>T" for i in range(11)],
        "binder": [i % 3 == 0 for i in range(11)],
        "mutant_affinity_nm": [10.5 * (i + 1) for i in range(11)],
        "gene_name": ["TP53", None, "KRAS"] * 3 + ["NA", "BRAF"],
    })
    path = tmp_path / "candidates.tsv"
    write_tsv(frame, path)
    return path


def test_selected_columns_in_blocks_equal_a_full_read(tmp_path):
    path = _table(tmp_path)
    full = read_tsv(path)
    expected = full.loc[full["binder"], ["variant_id", "mutant_affinity_nm"]]
    for chunk_rows in (1, 4, 11, 1000):
        blocks = list(read_tsv_chunks(path, ["variant_id", "binder", "mutant_affinity_nm",
                                             "absent"], chunk_rows))
        assert all(list(b.columns) == ["variant_id", "binder", "mutant_affinity_nm"]
                   for b in blocks)
        got = pd.concat([b.loc[b["binder"].astype(bool)] for b in blocks])
        pd.testing.assert_frame_equal(got.loc[:, expected.columns], expected)
        assert list(got.index) == [0, 3, 6, 9]


def test_chunks_cover_every_row_in_order(tmp_path):
    path = _table(tmp_path)
    chunks = list(read_tsv_chunks(path, chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert pd.concat(chunks)["variant_id"].tolist() == read_tsv(path)["variant_id"].tolist()
    # "NA" is missing, as in read_tsv; an empty table keeps its header.
    assert pd.concat(chunks)["gene_name"].isna().sum() == 4
    empty = tmp_path / "empty.tsv"
    empty.write_text("variant_id\tbinder\n")
    assert [len(b) for b in read_tsv_chunks(empty)] in ([], [0])


def _pandas_tsv(frame: pd.DataFrame, header: bool = True) -> str:
    return frame.to_csv(sep="\t", index=False, header=header, float_format=io.FLOAT_FORMAT,
                        na_rep=io.NA, lineterminator="\n")


def test_write_rows_gives_the_bytes_pandas_gives(monkeypatch):
    rng = np.random.RandomState(7)
    n = 1_000
    floats = rng.lognormal(3, 4, n)
    floats[::7] = np.nan
    floats[1:4] = [np.inf, -0.0, 1e-20]
    texts = np.array(["KLVVVGAVG", "a\tb", 'say "hi"', "line\nbreak", "", "Ünïcode"] * 200,
                     dtype=object)[:n]
    texts[::5] = None
    mixed = np.array([1, 2.5, "x", None, True] * 200, dtype=object)[:n]
    frame = pd.DataFrame({
        "float": floats, "float32": floats.astype(np.float32), "int": np.arange(n) - 500,
        "bool": rng.rand(n) > 0.5, "text": texts, "str": pd.Series(texts, dtype="str"),
        "mixed": mixed, "nullable_int": pd.array([1, None] * (n // 2), dtype="Int64"),
        "all_na": np.nan,
    })
    # Small blocks: the row blocks must join up exactly.
    monkeypatch.setattr(io, "WRITE_ROWS", 97)
    for header in (True, False):
        assert io.tsv_text(frame, header) == _pandas_tsv(frame, header)
    assert io.tsv_text(frame.iloc[:0]) == _pandas_tsv(frame.iloc[:0])

    # Blocks without a tab, quote or line break are printed by Arrow's CSV writer, the
    # others (here the rows from 485 on) by csv.writer: the same bytes either way.
    clean = frame.assign(text=frame["text"].map(
        lambda t: t if not isinstance(t, str) else t.replace("\t", " ").replace(
            '"', "'").replace("\n", " ")))
    clean["str"] = pd.Series(clean["text"], dtype="str")
    clean.loc[clean.index >= 485, "text"] = 'late "quote"'
    printed = []
    arrow_text = io._arrow_text
    monkeypatch.setattr(io, "_arrow_text", lambda cells: printed.append(
        arrow_text(cells) is not None) or arrow_text(cells))
    for header in (True, False):
        assert io.tsv_text(clean, header) == _pandas_tsv(clean, header)
    assert True in printed and False in printed
    one_column = pd.DataFrame({"text": ["", "a", None]})
    assert io.tsv_text(one_column) == _pandas_tsv(one_column)  # csv.writer quotes ""



def test_json_indented_prints_what_json_dumps_prints():
    """The metrics.json writer's encoder gives json.dumps(indent=2)'s exact text: flat
    and nested containers, empty ones, non-ASCII and escaped strings, floats Python
    prints with exponents, non-string keys, continuation lines indented by ``level``."""
    import json

    import pytest

    entry = {"ic50s_MT": ["X", 13.2542, "X"], "hla_types": ["HLA-A*02:01", "HLA-C*07:01"],
             "mutation_position": "2,5", "calls": {"MT": {"HLA-A*02:01": [13.25]}, "WT": {}},
             "none": None, "flag": True, "tiny": 1e-05, "huge": 1e16, "neg": -0.0,
             "text": 'é "quoted" [x] {y}\n\ttab', "nested": [[[]], [1, [2, {}]], ()],
             "int_keys": {1: "a", 2: ["b"]}, "tuple": (1, "2")}
    for value in (entry, [entry, entry], {}, [], "scalar", 3, None, {"a": {"b": []}}):
        for level in (0, 1, 3):
            expected = json.dumps(value, indent=2, separators=(",", ": "), allow_nan=False)
            assert io.json_indented(value, level) == expected.replace("\n", "\n" + "  " * level)
    for bad in ([float("nan")], {"a": [1.0, {"b": float("inf")}]}):
        with pytest.raises(ValueError, match="JSON compliant"):
            io.json_indented(bad)
    with pytest.raises(TypeError, match="not JSON serializable"):
        io.json_indented({"a": [object()]})


def test_json_indented_matches_json_dumps_on_random_documents():
    """The numpy layout of the compact text (no backslash in it) against json.dumps on
    random nested documents whose strings and keys hold brackets, commas and colons,
    with empty containers at any depth."""
    import json
    import random

    rng = random.Random(7)
    scalars = [1, -2.5, 1e-07, 1e20, 10**20, 0, True, False, None, "x", "", "  ",
               "a[b]{c},d:e", "]}", "HLA-A*02:01", "Transcript Set 1"]

    def document(depth=0):
        pick = rng.random()
        if depth > 4 or pick < 0.4:
            return rng.choice(scalars)
        if pick < 0.7:
            return [document(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"{rng.choice(['a', '[', '}', ',', '', ' :'])}{i}": document(depth + 1)
                for i in range(rng.randint(0, 4))}

    fast = 0
    for _ in range(2000):
        value = document()
        for level in (0, 1, 2):
            expected = json.dumps(value, indent=2, separators=(",", ": "), allow_nan=False)
            assert io.json_indented(value, level) == expected.replace("\n", "\n" + "  " * level)
        fast += "\\" not in json.dumps(value) and isinstance(value, list | dict)
    assert fast > 500  # most went the numpy way


def test_tsv_rounded_array_is_float_of_the_printed_text_bit_for_bit():
    """The vectorised rounding Parquet tables are written with equals float("%.6g" % v)
    for every value: IC50-like, percentile-like and negative values, ties of the 6th
    digit, powers of ten, values whose exponent leaves the exact powers, zeros,
    infinities, NaN and subnormals."""
    rng = np.random.default_rng(3)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-300, 1e300, 1e22, 1e23, 1e-22,
               1e-23, 123456.5, 1234565.0, 0.1234565, 999999.5, 9999995.0, 0.5, 2.5,
               100000.0, 999999.0, 1e6, 50000.0, 0.01]
    values = np.concatenate([rng.lognormal(5, 3, 200_000), -rng.lognormal(0, 5, 50_000),
                             rng.random(50_000), np.array(special),
                             np.round(rng.random(20_000) * 1e6) / 1e6 + 5e-7,
                             rng.integers(1, 10**7, 20_000) / 10.0])
    expected = np.array([float(io.FLOAT_FORMAT % v) for v in values.tolist()])
    got = io.tsv_rounded_array(values)
    same = (expected.view(np.uint64) == got.view(np.uint64)) | (np.isnan(expected)
                                                                 & np.isnan(got))
    assert same.all(), values[~same][:5]
    assert io.tsv_rounded([1.23456789, 3e-7]) == [1.23457, 3e-07]


def test_float_texts_print_what_the_float_format_prints():
    """Floats printed in Arrow (what the TSV writer uses) give FLOAT_FORMAT's text for
    every value: the ranges a candidates table holds (IC50s, percentiles, fractions,
    negative scores), the edges of %g's plain-notation range (1e-4, 1e6 and values that
    round onto them), ties of the 6th digit, zeros, infinities, NaN and subnormals."""
    rng = np.random.default_rng(11)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-300, 1e300, 1e-4, 9.999995e-5,
               9.9999949e-5, 0.000100000, 999999.0, 999999.5, 999999.4999, 1e6, -1e6, 1e-5,
               123456.5, 0.1234565, 2.5, 0.5, 100000.0, 50000.0, 1e22, 1e23, 0.1 + 0.2, 1 / 3]
    values = np.concatenate([rng.lognormal(5, 3, 200_000), -rng.lognormal(0, 5, 50_000),
                             rng.random(50_000), np.array(special),
                             np.round(rng.random(20_000) * 1e6) / 1e6 + 5e-7,
                             rng.integers(1, 10**7, 20_000) / 10.0,
                             rng.integers(-10**6, 10**6, 20_000).astype(float)])
    expected = [io.NA if np.isnan(v) else io.FLOAT_FORMAT % v for v in values.tolist()]
    got = io.float_texts(values).to_pylist()
    wrong = [(v, e, g) for v, e, g in zip(values.tolist(), expected, got, strict=True) if e != g]
    assert not wrong, wrong[:5]


def test_parquet_form_of_a_tsv_reads_back_as_the_tsv(tmp_path):
    """ParquetFromTsv fed a TSV's lines in pieces holds what read_tsv reads: typed columns
    (an int with missing values reads as float, a bool with missing values as object with
    NaN), text as text; asked for text (dtype=str), the blocks are the TSV's text."""
    import pytest

    from neorank.tables import parquet_blocks

    frame = pd.DataFrame({
        "variant_id": [f"1:{i}:A>T" for i in range(9)],
        "depth": [10, None, 12, 13, 14, 15, 16, 17, 18],
        "self_match": [True, None, False] * 3,
        "vaf": [0.5, 1e-7, None, 2.0, 123456.7, 0.1 + 0.2, 1e6, -0.0, 3.0],
        "positions": ["5", "5;6", None, "7", "", "8", "9", "1;2", "3"],
    })
    write_tsv(frame, tmp_path / "t.tsv")
    lines = (tmp_path / "t.tsv").read_text().splitlines(keepends=True)
    kinds = {"variant_id": "text", "depth": "int", "self_match": "bool", "vaf": "float",
             "positions": "text"}
    with io.ParquetFromTsv(tmp_path / "t.parquet", frame.columns, kinds) as table:
        for start in range(1, len(lines), 4):
            table.write("".join(lines[start:start + 4]))
        table.close()
    assert table.rows == 9
    got = pd.concat(list(parquet_blocks(tmp_path / "t.parquet", chunk_rows=4)))
    expected = read_tsv(tmp_path / "t.tsv", dtype={"positions": str})
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    assert got["self_match"].isna().sum() == 3 and got["self_match"].dtype == object
    as_text = pd.concat(list(parquet_blocks(tmp_path / "t.parquet", chunk_rows=4, dtype=str)))
    pd.testing.assert_frame_equal(as_text.reset_index(drop=True),
                                  read_tsv(tmp_path / "t.tsv", dtype=str))

    # A line that does not fit the kinds fails, and no partial file is left.
    with pytest.raises(Exception, match="depth|int64"):  # noqa: PT011 - Arrow's error
        with io.ParquetFromTsv(tmp_path / "bad.parquet", frame.columns, kinds) as table:
            table.write("1:1:A>T\tdeep\tTrue\t0.5\t5\n")
            table.close()
    assert not list(tmp_path.glob("bad.parquet*"))
