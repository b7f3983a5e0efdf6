"""Smoke run of scripts/build_models.py: a few hundred rows, one epoch.

Keeps the model build script working; it reads committed fixture subsets of the
mhcnuggets measurements and mhcmatch pseudosequences (no download).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "models"


@pytest.mark.slow
def test_build_models_smoke(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [sys.executable, str(ROOT / "scripts" / "build_models.py"),
           "--out", str(out), "--work", str(work),
           "--measurements", str(DATA / "measurements_subset.csv"),
           "--pseudosequences", str(DATA / "pseudo_subset.fa"),
           "--frequencies", str(DATA / "ethnic_priors_subset.txt"),
           "--n-models", "1", "--max-epochs", "1", "--layer-sizes", "8",
           "--calibration-peptides", "30", "--n-frequent", "1", "--min-heldout", "5",
           "--threads", "1"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)

    from mhcflurry import Class1AffinityPredictor

    predictor = Class1AffinityPredictor.load(str(out))
    assert len(predictor.class1_pan_allele_models) == 1
    held = pd.concat([pd.read_csv(out / "heldout.csv.gz"),
                      pd.read_csv(out / "heldout_dropped.csv.gz")])
    train = pd.concat([pd.read_csv(work / "train.csv"),
                       pd.read_csv(work / "train_dropped.csv.gz")])
    # 10% of each allele's (allele, peptide) pairs, drawn before conflicting
    # labels are dropped, disjoint from training.
    held_pairs = held[["allele", "peptide"]].drop_duplicates()
    for allele, frame in pd.concat([held, train])[["allele", "peptide"]].drop_duplicates(
            ).groupby("allele"):
        n_held = (held_pairs.allele == allele).sum()
        assert abs(n_held - round(0.1 * len(frame))) <= 1
    assert not set(held.allele + held.peptide) & set(train.allele + train.peptide)
    # The fixture has pairs measured both ways; their qualitative rows are dropped.
    assert len(pd.read_csv(work / "train_dropped.csv.gz")) > 0
    metrics = pd.read_csv(out / "heldout_metrics.csv")
    assert {"auc_500nM", "auc_with_dropped_labels", "auc_quantitative"} <= set(metrics.columns)
    assert (out / "MODEL_CARD.md").read_text().startswith("# NeoRank embedded MHCflurry")
    calibrated = pd.read_csv(out / "calibrated_alleles.csv").set_index("allele")
    assert "HLA-A*02:01" in calibrated.index
    # --n-frequent 1: the fixture's most frequent allele with a pseudosequence
    # (A*02:01, mean of the four populations' frequencies) is the frequent one.
    assert calibrated.loc["HLA-A*02:01", "reason"] == "demo/tests+frequent+most_measured"
    assert calibrated.loc["HLA-A*02:01", "population_frequency"] == pytest.approx(0.17731, abs=1e-5)
    sums = (out / "SHA256SUMS").read_text()
    assert "manifest.csv" in sums and "heldout.csv.gz" in sums


def _build_models_module():
    spec = importlib.util.spec_from_file_location("build_models",
                                                  ROOT / "scripts" / "build_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resolve_conflicts_keeps_the_better_measurement():
    rows = [
        # quantitative IC50 and a contradicting qualitative positive: IC50 wins
        ("HLA-A*24:02", "AAIGLAWIP", "=", "quantitative", 131401.0),
        ("HLA-A*24:02", "AAIGLAWIP", "<", "qualitative", 100.0),
        ("HLA-A*24:02", "AAIGLAWIP", ">", "qualitative", 5000.0),
        # qualitative only, both ways: dropped as contradictory
        ("HLA-A*24:02", "ADIGEWAFW", "<", "qualitative", 100.0),
        ("HLA-A*24:02", "ADIGEWAFW", ">", "qualitative", 5000.0),
        # qualitative only, one way: kept
        ("HLA-A*24:02", "VYGFVRACL", "<", "qualitative", 100.0),
        # the same peptide on another allele is another pair: kept
        ("HLA-A*02:01", "ADIGEWAFW", ">", "qualitative", 5000.0),
        ("HLA-A*02:01", "NLVPMVATV", "=", "quantitative", 12.0),
    ]
    data = pd.DataFrame(rows, columns=["allele", "peptide", "measurement_inequality",
                                       "measurement_type", "measurement_value"])
    kept, dropped = _build_models_module().resolve_conflicts(data)
    assert list(zip(kept.allele, kept.peptide, kept.measurement_inequality, strict=True)) == [
        ("HLA-A*24:02", "AAIGLAWIP", "="), ("HLA-A*24:02", "VYGFVRACL", "<"),
        ("HLA-A*02:01", "ADIGEWAFW", ">"), ("HLA-A*02:01", "NLVPMVATV", "=")]
    assert list(zip(dropped.peptide, dropped.reason, strict=True)) == [
        ("AAIGLAWIP", "superseded_by_quantitative"), ("AAIGLAWIP", "superseded_by_quantitative"),
        ("ADIGEWAFW", "contradictory_qualitative"), ("ADIGEWAFW", "contradictory_qualitative")]


def test_population_frequencies_rank_by_mean_over_four_populations():
    module = _build_models_module()
    text = (DATA / "ethnic_priors_subset.txt").read_text()
    freq = module.population_frequencies(text)
    # Only HLA-A/B/C rows of AFA, API, EUR and HIS count; DRB1 and the uniform
    # UNK prior do not. An allele missing from a population counts 0 there
    # (B*39:24 appears in AFA only, with a note column).
    assert list(freq.index) == ["HLA-A*02:01", "HLA-C*07:01", "HLA-A*01:01", "HLA-B*08:01",
                                "HLA-B*39:24"]
    assert freq["HLA-A*02:01"] == pytest.approx((0.29604 + 0.12458 + 0.09458 + 0.19403) / 4)
    assert freq["HLA-B*39:24"] == pytest.approx(0.001 / 4)


def test_calibration_alleles_union_with_reasons():
    module = _build_models_module()
    freq = pd.Series({"HLA-C*07:02": 0.12, "HLA-A*02:01": 0.10, "HLA-A*99:99": 0.05,
                      "HLA-B*35:01": 0.04})
    counts = pd.Series({"HLA-A*02:01": 900, "HLA-A*02:19": 500, "H-2-Kb": 5000,
                        "HLA-B*35:01": 10})
    known = set(module.REQUIRED_ALLELES) | {"HLA-C*07:02", "HLA-A*02:19", "HLA-B*35:01", "H-2-Kb"}
    table = module.calibration_alleles(counts, freq, known, n_frequent=2, n_measured=2)
    reasons = dict(zip(table.allele, table.reason, strict=True))
    # demo/tests first, then frequent (A*99:99 has no pseudosequence and is
    # skipped, so the two frequent ones are C*07:02 and A*02:01), then the two
    # most-measured HLA alleles (the mouse allele is not HLA).
    assert list(table.allele) == module.REQUIRED_ALLELES + ["HLA-C*07:02", "HLA-A*02:19"]
    assert reasons["HLA-A*02:01"] == "demo/tests+frequent+most_measured"
    assert reasons["HLA-C*07:02"] == "frequent"
    assert reasons["HLA-A*02:19"] == "most_measured"
    assert "HLA-B*35:01" not in reasons
    assert table.set_index("allele").loc["HLA-C*07:02", "training_measurements"] == 0


def test_committed_calibration_covers_frequent_alleles():
    """The committed folder calibrates at least the 50 most frequent HLA-A/B/C alleles."""
    calibrated = pd.read_csv(ROOT / "resources" / "mhcflurry" / "embedded"
                             / "calibrated_alleles.csv")
    frequent = calibrated[calibrated.reason.str.contains("frequent")]
    assert len(frequent) >= 50
    assert {"HLA-C*07:02", "HLA-C*04:01", "HLA-A*02:01", "HLA-B*35:01"} <= set(frequent.allele)
    import json
    ranks = json.loads((ROOT / "resources" / "mhcflurry" / "embedded"
                        / "percent_ranks.json").read_text())
    assert set(calibrated.allele) <= set(ranks["transforms"])
