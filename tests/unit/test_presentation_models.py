"""The official-models path, on a small models_class1_presentation download.

The download is built by ``tests/presentation_models.py`` (MHCflurry's own API,
the exact on-disk layout of ``mhcflurry-downloads fetch
models_class1_presentation``), once per session; these tests load it the ways a
user's config does (``official`` with and without ``official_dir``, or the
folder) and check what NeoRank's predictor gives for it.
"""

from __future__ import annotations

from pathlib import Path

import mhcflurry.downloads as downloads
import numpy as np
import pandas as pd
import pytest
from presentation_models import (
    EMBEDDED,
    GENOTYPES,
    models_dir,
    processing_hit,
    reference_windows,
    session_download,
)

from neorank.alleles import SUPPORTED, PatientAllele, parse_typing
from neorank.cli import main as neorank_main
from neorank.io import read_tsv, write_tsv
from neorank.models import MhcflurryPredictor, load_predictor, resolve_alleles, resolve_models_dir
from neorank.predict import predict_table, read_shard

DEMO_TYPING = Path(__file__).resolve().parents[2] / "resources" / "demo" / "osteosarc.hla.txt"
PRESENTATION_COLUMNS = ["presentation_score", "presentation_percentile", "processing_score"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return session_download(tmp_path_factory)


@pytest.fixture(scope="session")
def folder(data_dir) -> Path:
    return models_dir(data_dir)


@pytest.fixture
def mhcflurry_data_dir(data_dir, monkeypatch):
    """MHCflurry's download location pointed at the built download (as a user's
    MHCFLURRY_DATA_DIR would), restored afterwards."""
    for variable in downloads.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MHCFLURRY_DATA_DIR", str(data_dir))
    downloads.configure()
    yield data_dir
    monkeypatch.undo()
    downloads.configure()


@pytest.fixture(scope="session")
def official(folder) -> MhcflurryPredictor:
    return load_predictor("official", "", official_dir=folder)


@pytest.fixture(scope="session")
def windows():
    """Reference windows (real flanks) not used to build the models."""
    return reference_windows(200, np.random.RandomState(7))


def test_layout_is_the_download_layout(data_dir, folder):
    release = downloads.get_downloads_metadata()["current-release"]
    assert folder == data_dir / release / "models_class1_presentation" / "models"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["DOWNLOAD_INFO.csv", "models"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "affinity_predictor", "info.txt", "percent_ranks.json",
        "processing_predictor_with_flanks", "processing_predictor_without_flanks",
        "weights.csv"]
    for name in ("processing_predictor_with_flanks", "processing_predictor_without_flanks"):
        files = sorted(p.name for p in (folder / name).iterdir())
        assert files[:2] == ["info.txt", "manifest.csv"] and files[2].startswith("weights_CLEAVAGE")
    affinity = {p.name for p in (folder / "affinity_predictor").iterdir()}
    assert {"manifest.csv", "allele_sequences.csv", "percent_ranks.json"} <= affinity
    # The affinity ensemble is NeoRank's embedded one, saved unmerged by MHCflurry.
    embedded_weights = {p.name for p in EMBEDDED.glob("weights_*.npz")}
    assert {n for n in affinity if n.startswith("weights_")} == embedded_weights
    # NeoRank's own extras of the embedded folder are not part of a download.
    assert not {"allele_names.json", "allele_training_counts.csv"} & affinity
    weights = pd.read_csv(folder / "weights.csv", index_col=0)
    assert set(weights.index) == {"with_flanks", "without_flanks"}
    assert list(weights.columns) == ["intercept", "affinity_score", "processing_score"]
    assert (weights[["affinity_score", "processing_score"]] > 0).all().all()


def test_mhcflurry_finds_it_as_its_download(mhcflurry_data_dir, folder):
    # Where Class1PresentationPredictor.load() with no folder looks.
    assert Path(downloads.get_default_class1_presentation_models_dir()) == folder
    info = downloads.get_current_release_downloads()["models_class1_presentation"]
    assert info["downloaded"] and info["up_to_date"]  # `fetch` would not download again
    assert Path(downloads.get_model_release_dir(None)) == folder


def test_official_resolves_to_the_download(mhcflurry_data_dir, folder, official):
    assert resolve_models_dir("official", "") == (folder, "official")
    # One load per process: the default location and official_dir are the same models.
    assert load_predictor("official", "") is official


def test_official_is_a_calibrated_presentation_predictor(official):
    predictor = official.presentation_predictor
    assert type(predictor).__name__ == "Class1PresentationPredictor"
    assert predictor.supports_presentation_prediction
    assert predictor.percent_rank_transform is not None
    assert predictor.processing_predictor_with_flanks.sequence_lengths["n_flank"] == 15
    assert predictor.processing_predictor_with_flanks.sequence_lengths["c_flank"] == 15
    assert predictor.processing_predictor_without_flanks.sequence_lengths["n_flank"] == 0


def test_official_loads_with_presentation(official, folder):
    assert not official.affinity_only
    assert official.presentation_predictor is not None
    assert official.label.endswith("/official")
    assert official.models_dir == folder
    assert official.trained_alleles() is None  # no NeoRank training counts in a download
    resolved = resolve_alleles(parse_typing(str(DEMO_TYPING)), official)
    assert {a.allele for a in resolved if a.status == SUPPORTED} == set(GENOTYPES["demo"])


def test_folder_loads_with_presentation(folder, official, windows):
    predictor = load_predictor(str(folder), "")
    assert not predictor.affinity_only
    assert predictor.label.endswith("/models")
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows[:20], strict=True))
    alleles = GENOTYPES["demo"]
    pd.testing.assert_frame_equal(predictor.presentation(peptides, n_flanks, c_flanks, alleles),
                                  official.presentation(peptides, n_flanks, c_flanks, alleles))


def test_presentation_rows_follow_the_input(official, windows):
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows, strict=True))
    # A repeated peptide with other flanks is its own row.
    peptides.append(peptides[0])
    n_flanks.append("")
    c_flanks.append("")
    table = official.presentation(peptides, n_flanks, c_flanks, GENOTYPES["demo"])
    assert list(table.columns) == ["peptide", "n_flank", "c_flank", *PRESENTATION_COLUMNS]
    assert list(table.peptide) == peptides
    assert list(table.n_flank) == n_flanks and list(table.c_flank) == c_flanks
    assert table[PRESENTATION_COLUMNS].notna().all().all()
    assert table.presentation_score.between(0, 1).all()
    assert table.processing_score.between(0, 1).all()
    assert table.presentation_percentile.between(0, 100).all()
    assert table.presentation_score.nunique() > len(table) // 2
    # The flanks reach the processing model.
    assert table.processing_score.iloc[0] != table.processing_score.iloc[-1]
    # Higher presentation, lower (better) percentile.
    order = table.sort_values("presentation_score")
    assert order.presentation_percentile.is_monotonic_decreasing


def test_processing_model_learned_the_fixture_rule(official, windows):
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows, strict=True))
    scores = official.presentation(peptides, n_flanks, c_flanks, GENOTYPES["demo"])
    hit = np.array([processing_hit(*w) for w in windows])
    assert hit.any() and not hit.all()
    assert scores.processing_score[hit].mean() > scores.processing_score[~hit].mean() + 0.3


def test_presentation_does_not_depend_on_the_other_peptides_in_the_job(official, windows):
    """Regression: MHCflurry's default batch sizes made a peptide's processing and
    presentation scores depend (6th digit) on the rest of its job, so predictions.tsv
    changed with mhcflurry.shards (5 demo cells at %.6g, 3 shards vs 1)."""
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows, strict=True))
    alleles = GENOTYPES["a2"]
    whole = official.presentation(peptides, n_flanks, c_flanks, alleles)
    for part in (slice(0, 7), slice(7, 120), slice(150, 151)):
        alone = official.presentation(peptides[part], n_flanks[part], c_flanks[part], alleles)
        expected = whole.iloc[part].reset_index(drop=True)
        for column in PRESENTATION_COLUMNS:
            assert np.array_equal(alone[column].to_numpy(), expected[column].to_numpy()), column


def test_presentation_takes_a_typing_of_more_than_six_alleles(official, windows):
    """Regression: the genotype went to MHCflurry as a plain list, which it caps at six
    alleles (ValueError), so a typing the affinity path takes crashed the predict job."""
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows[:40], strict=True))
    six = GENOTYPES["a2"]
    seven = [*six, "HLA-B*08:01"]
    table = official.presentation(peptides, n_flanks, c_flanks, seven)
    assert table[PRESENTATION_COLUMNS].notna().all().all()
    # Another allele can only improve the genotype's best affinity, so presentation.
    fewer = official.presentation(peptides, n_flanks, c_flanks, six)
    assert (table.presentation_score >= fewer.presentation_score).all()
    assert (table.presentation_score > fewer.presentation_score).any()
    assert np.array_equal(table.processing_score, fewer.processing_score)


def write_peptides(path: Path, windows) -> pd.DataFrame:
    frame = pd.DataFrame({
        "variant_id": [f"1:{i + 100}:A>C" for i in range(len(windows))],
        "mutant_peptide": [p for _, p, _ in windows],
        "wildtype_peptide": [None] * len(windows),
        "n_flank": [n for n, _, _ in windows],
        "c_flank": [c for _, _, c in windows],
    })
    write_tsv(frame, path)
    return frame


def test_predict_table_fills_presentation_from_the_flanks(official, windows, tmp_path):
    frame = write_peptides(tmp_path / "peptides.tsv", windows[:30])
    alleles = [PatientAllele(a, a, SUPPORTED) for a in GENOTYPES["demo"]]
    table = predict_table(frame, alleles, official)
    assert len(table) == 30 * len(alleles)
    assert table[PRESENTATION_COLUMNS].notna().all().all()
    assert (table.predictor == official.label).all()
    # Genotype-level scores: one value per peptide, the same on every allele row.
    assert (table.groupby("mutant_peptide")[PRESENTATION_COLUMNS].nunique() == 1).all().all()
    direct = official.presentation(list(frame.mutant_peptide), list(frame.n_flank),
                                   list(frame.c_flank), GENOTYPES["demo"])
    first = table.drop_duplicates("mutant_peptide").reset_index(drop=True)
    assert np.array_equal(first.processing_score, direct.processing_score)


class RecordingPresentation:
    """Affinity-free stand-in recording the flanks it is given."""

    label = "recording/test"
    affinity_only = False

    def __init__(self):
        self.flanks = []

    def affinity(self, peptides, alleles):
        rows = [(p, a, 100.0, 1.0) for a in alleles for p in peptides]
        return pd.DataFrame(rows, columns=["peptide", "allele", "affinity_nm", "percentile"])

    def presentation(self, peptides, n_flanks, c_flanks, alleles):
        self.flanks += list(zip(n_flanks, c_flanks, strict=True))
        return pd.DataFrame({"peptide": peptides, "n_flank": n_flanks, "c_flank": c_flanks,
                             "presentation_score": 0.5, "presentation_percentile": 1.0,
                             "processing_score": 0.5})


def test_flank_na_is_asparagine_alanine_not_missing(tmp_path):
    """Regression: peptides.tsv was read with NA = missing in every column, so a flank
    "NA" (Asn-Ala, cut at a protein end) reached the processing model as ""."""
    windows = [("NA", "SIINFEKLV", "NA"), ("MKNA", "SIINFEKLA", ""), ("", "SIINFEKLM", "KR")]
    write_peptides(tmp_path / "peptides.tsv", windows)
    assert read_tsv(tmp_path / "peptides.tsv").n_flank.isna().any()  # the generic reader
    for block_rows in (None, 1):
        blocks = list(read_shard(tmp_path / "peptides.tsv", (1, 1), block_rows))
        frame = pd.concat(blocks, ignore_index=True)
        assert list(frame.n_flank) == ["NA", "MKNA", ""]
        assert list(frame.c_flank) == ["NA", "", "KR"]
        assert frame.wildtype_peptide.isna().all()  # other columns: NA is still missing
    recorder = RecordingPresentation()
    predict_table(frame, [PatientAllele("HLA-A*02:01", "HLA-A*02:01", SUPPORTED)], recorder)
    assert recorder.flanks == [("NA", "NA"), ("MKNA", ""), ("", "KR")]


def test_predict_command_shards_give_the_unsharded_table(folder, windows, tmp_path):
    write_peptides(tmp_path / "peptides.tsv", windows)
    common = ["predict", "--peptides", str(tmp_path / "peptides.tsv"),
              "--alleles", ",".join(GENOTYPES["a2"]), "--models", "official",
              "--official-dir", str(folder)]
    assert neorank_main([*common, "--out", str(tmp_path / "all.tsv")]) == 0
    for k in (1, 2, 3):
        assert neorank_main([*common, "--shard", f"{k}/3", "--out", str(tmp_path / f"{k}.tsv")]) == 0
    whole = (tmp_path / "all.tsv").read_text().splitlines()
    parts = [(tmp_path / f"{k}.tsv").read_text().splitlines() for k in (1, 2, 3)]
    assert whole == parts[0][:1] + [line for part in parts for line in part[1:]]
    table = read_tsv(tmp_path / "all.tsv")
    assert table[PRESENTATION_COLUMNS].notna().all().all()
