"""HLA typing input: spellings, exact names, typing tools' files, null, class II,
non-classical and non-human alleles."""

import dataclasses

import pytest

from neorank.alleles import (
    NULL_SKIPPED,
    SUPPORTED,
    Hla,
    PatientAllele,
    hla_params,
    load_typing,
    normalize,
    normalize_allele,
    parse_typing,
    read_typing,
    read_typing_source,
)
from neorank.errors import AlleleError, NeoRankError


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


# --------------------------------------------- exact names, reductions, candidates
@pytest.mark.parametrize(("raw", "allele", "note"), [
    ("HLA-A*02:01:01", "HLA-A*02:01", "3-field name HLA-A*02:01:01 reduced to two fields"),
    ("A*24:02:01:02L", "HLA-A*24:02", "expression suffix L (low cell-surface expression)"),
    ("HLA-A*02:01:01G", "HLA-A*02:01", "G group HLA-A*02:01:01G"),
    ("HLA-B*07:02P", "HLA-B*07:02", "P group HLA-B*07:02P"),
    ("hla_a_02_01_01", "HLA-A*02:01", "3-field name"),  # Polysolver's spelling
    ("HLA-A*020101", "HLA-A*02:01", "3-field name"),  # compact, but only one way to cut it
    ("HLA-Cw*0701", "HLA-C*07:01", ""),
    ("B*15:220", "HLA-B*15:220", ""),
])
def test_higher_resolution_and_groups_are_reduced_with_a_note(raw, allele, note):
    result = normalize_allele(raw)
    assert (result.allele, result.is_null) == (allele, False)
    assert note in result.note and (bool(note) == bool(result.note))


@pytest.mark.parametrize(("raw", "texts"), [
    ("HLA-A*02:1", ["one-digit field '1'", "silently read it as HLA-A*02:01",
                    "candidates: HLA-A*02:01, HLA-A*02:10 to HLA-A*02:19"]),
    ("HLA-A*2:01", ["one-digit field '2'", "candidates: HLA-A*02:01"]),
    ("HLA-A*0210101", ["cannot be told apart", "HLA-A*02:10:101", "HLA-A*02:101:01"]),
    ("HLA-A*0201:01", ["first field '0201' of 4 digits", "candidates: HLA-A*02:01:01"]),
    ("HLA-A*02:001", ["'001' that is not an HLA field", "candidates: HLA-A*02:01"]),
    ("HLA-A*02:01-", ["unexpected characters", "candidates: HLA-A*02:01"]),
    ("HLA-A*02.01", ["cannot parse HLA allele", "did you mean HLA-A*02:01?"]),
    ("HLA-A*02:01/02:02", ["ambiguous typing (one of HLA-A*02:01, HLA-A*02:02)"]),
    ("HLA-A*02:01/HLA-A*02:02", ["ambiguous typing (one of HLA-A*02:01, HLA-A*02:02)"]),
    ("A2", ["is a serotype", "it stands for HLA-A*02:01, HLA-A*02:02"]),
    ("HLA-A*02", ["has only one field"]),
    ("MICA*001:01", ["not a peptide-presenting class I gene"]),
    ("HLA-H*01:01", ["(HLA-H) is not a peptide-presenting class I gene"]),
])
def test_malformed_or_ambiguous_names_are_errors_listing_candidates(raw, texts):
    with pytest.raises(AlleleError) as err:
        normalize_allele(raw, where="typing.txt: line 3")
    message = str(err.value)
    assert message.startswith("typing.txt: line 3: ") and "Fix:" in message
    for text in texts:
        assert text in message


@pytest.mark.parametrize(("raw", "kind", "key", "allowed"), [
    ("HLA-E*01:03", "non-classical", "hla.allow_nonclassical", Hla(allow_nonclassical=True)),
    ("HLA-G*01:01:01", "non-classical", "hla.allow_nonclassical", Hla(allow_nonclassical=True)),
    ("SLA-1*04:01", "non-human", "hla.allow_nonhuman", Hla(allow_nonhuman=True)),
    ("Mamu-A1*001:01", "non-human", "hla.allow_nonhuman", Hla(allow_nonhuman=True)),
    ("H-2-Kb", "non-human", "hla.allow_nonhuman", Hla(allow_nonhuman=True)),
])
def test_nonclassical_and_nonhuman_need_the_config_option(raw, kind, key, allowed):
    with pytest.raises(AlleleError) as err:
        normalize_allele(raw)
    assert kind in err.value.problem and f"{key}: true" in err.value.fix
    assert normalize_allele(raw, hla=allowed).allele  # allowed: read as mhcgnomes reads it
    with pytest.raises(AlleleError, match="one-digit field"):
        normalize_allele("SLA-1*04:1", hla=Hla(allow_nonhuman=True))  # still exact


def test_hla_params():
    assert hla_params({}) == Hla() == hla_params({"hla": None})
    assert hla_params({"hla": {"allow_nonhuman": True}}) == Hla(allow_nonhuman=True)
    with pytest.raises(NeoRankError, match="did you mean 'hla.allow_nonclassical'"):
        hla_params({"hla": {"allow_nonclassic": True}}, where="config.yaml")
    with pytest.raises(NeoRankError, match="hla.allow_nonhuman = 'yes' is not true/false"):
        hla_params({"hla": {"allow_nonhuman": "yes"}})
    with pytest.raises(NeoRankError, match="must be a mapping"):
        hla_params({"hla": True})
    with pytest.raises(dataclasses.FrozenInstanceError):
        Hla().allow_nonhuman = True  # type: ignore[misc]


def test_note_is_in_the_alleles_json_entry_only_when_there_is_one():
    assert PatientAllele("A*02:01", "HLA-A*02:01").to_dict() == {
        "input": "A*02:01", "allele": "HLA-A*02:01", "status": SUPPORTED}
    (allele,) = parse_typing("HLA-A*02:01:01G")
    assert allele.to_dict()["note"].startswith("G group HLA-A*02:01:01G")


def test_errors_in_a_typing_file_name_the_file_and_line(tmp_path):
    path = tmp_path / "typing.txt"
    path.write_text("# typed by the lab\nHLA-A*01:01\n\nHLA-B*08:1\n")
    with pytest.raises(AlleleError) as err:
        parse_typing(str(path))
    assert str(err.value).startswith(f"{path}: line 4: 'HLA-B*08:1' has a one-digit field")


# ------------------------------------------------------- typing tools' own files
OPTITYPE_HEADER = "\tA1\tA2\tB1\tB2\tC1\tC2\tReads\tObjective\n"


def test_optitype_best_solution_and_untyped_locus(tmp_path):
    path = tmp_path / "patient_result.tsv"
    path.write_text(OPTITYPE_HEADER + "0\tA*01:01\tA*02:01\tB*08:01\tB*08:01\t\t\t980.0\t950.1\n"
                    "1\tA*01:01\tA*02:06\tB*08:01\tB*08:01\t\t\t970.0\t940.0\n")
    typing = load_typing(str(path))
    assert [a.allele for a in typing.alleles] == ["HLA-A*01:01", "HLA-A*02:01", "HLA-B*08:01"]
    assert typing.untyped == ["HLA-C"]
    assert "OptiType result has 2 solutions: the first (line 2) is used" in typing.notes
    assert any("HLA-C was not typed by OptiType" in note for note in typing.notes)


@pytest.mark.parametrize(("text", "message"), [
    ("\tA1\tA2\tB1\tB2\tReads\tObjective\n0\tA*01:01\tA*02:01\tB*08:01\tB*27:05\t1\t1\n",
     "the header (line 1) lacks the column(s) C1, C2"),
    ("A1\tA2\tB1\tB2\tC1\tC2\tReads\tObjective\n"
     "0\tA*01:01\tA*02:01\tB*08:01\tB*27:05\tC*01:02\tC*07:01\t1\t1\n",
     "line 2 has 9 tab-separated cells but the header (line 1) has 8: the header lacks the "
     "index column"),
    (OPTITYPE_HEADER, "a header (line 1) but no result row"),
])
def test_incomplete_optitype_result_is_an_error_not_alleles(tmp_path, text, message):
    path = tmp_path / "patient_result.tsv"
    path.write_text(text)
    with pytest.raises(AlleleError) as err:
        read_typing(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "OptiType's complete *_result.tsv" in err.value.fix


HLAHD = ("A\tHLA-A*02:01:01\tHLA-A*24:02:01\nB\tHLA-B*07:02:01\t-\nC\tNot typed\tNot typed\n"
         "DRB1\tHLA-DRB1*15:01:01\tHLA-DRB1*04:05:01\nDQB1\tHLA-DQB1*06:02:01\t-\n"
         "E\tHLA-E*01:01:01\tHLA-E*01:03:02\nG\tHLA-G*01:01:01\t-\nH\tHLA-H*02:04\t-\n"
         "DRB3\tNot typed\tNot typed\n")


def test_hlahd_result_skips_class_ii_and_nonclassical_rows_and_names_untyped_loci(tmp_path):
    path = tmp_path / "patient_final.result.txt"
    path.write_text(HLAHD)
    typing = load_typing(str(path))
    assert [(a.allele, bool(a.note)) for a in typing.alleles] == [
        ("HLA-A*02:01", True), ("HLA-A*24:02", True), ("HLA-B*07:02", True)]
    assert typing.untyped == ["HLA-C"]
    assert typing.notes[0] == ("HLA-HD result: 6 class II and non-classical locus row(s) "
                               "skipped (NeoRank predicts HLA class I A/B/C): DRB1, DQB1, E, G, "
                               "H, DRB3")
    assert "HLA-C was not typed by HLA-HD" in typing.notes[1]
    source = read_typing_source(str(path), hla=Hla(allow_nonclassical=True))
    assert [e.raw for e in source.entries][-3:] == ["HLA-E*01:01:01", "HLA-E*01:03:02",
                                                    "HLA-G*01:01:01"]
    assert source.entries[0].where == "line 1"


def test_hlahd_result_with_every_class_i_locus_untyped(tmp_path):
    path = tmp_path / "patient_final.result.txt"
    path.write_text("A\tNot typed\tNot typed\nB\tNot typed\tNot typed\nC\tNot typed\tNot typed\n"
                    "DRB1\tHLA-DRB1*15:01:01\t-\n")
    with pytest.raises(AlleleError, match="no HLA class I alleles given"):
        load_typing(str(path))
    assert read_typing_source(str(path)).untyped == ["HLA-A", "HLA-B", "HLA-C"]


def test_mhcgnomes_data_read_by_the_c_parser_is_the_same():
    """import_mhcgnomes parses mhcgnomes' YAML tables with libyaml; every table must
    come out equal to PyYAML's pure-Python parse (what mhcgnomes itself would do)."""
    import importlib.resources

    import yaml

    from neorank.alleles import import_mhcgnomes

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml: import_mhcgnomes is a plain import")
    folder = importlib.resources.files(import_mhcgnomes()) / "data"
    tables = sorted(p for p in folder.iterdir() if p.name.endswith(".yaml"))
    assert len(tables) >= 10
    for table in tables:
        text = table.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.safe_load(text), table.name
    # The patch is undone: yaml.safe_load is PyYAML's own again.
    assert yaml.safe_load.__module__ == "yaml"
