"""Smoke run of scripts/build_models.py: a few hundred rows, one epoch.

Keeps the model build script working; it reads committed fixture subsets of the
mhcnuggets measurements and mhcmatch pseudosequences (no download).
"""

import importlib.util
import re
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
           "--ms-hits", str(DATA / "ms_hits_subset.csv"),
           "--frequencies", str(DATA / "ethnic_priors_subset.txt"),
           "--n-models", "1", "--n-evaluation-models", "1", "--max-epochs", "1",
           "--layer-sizes", "8", "--calibration-peptides", "30", "--n-frequent", "1",
           "--min-heldout", "5", "--threads", "1"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)

    from mhcflurry import Class1AffinityPredictor

    predictor = Class1AffinityPredictor.load(str(out))
    assert len(predictor.class1_pan_allele_models) == 1
    train = pd.read_csv(work / "train.csv")
    final = pd.read_csv(work / "train_final.csv")
    random_held = pd.read_csv(out / "heldout.csv.gz")
    disjoint = pd.read_csv(out / "heldout_disjoint.csv.gz")
    # Mass-spec hits are qualitative binders < 100 nM, in training and held out.
    hits = final[final.measurement_type == "mass_spec"]
    assert len(hits) > 150 and set(hits.measurement_inequality) == {"<"}
    assert set(hits.measurement_value) == {100.0}
    assert (disjoint.measurement_type == "mass_spec").any()
    # Peptide-disjoint: no evaluation-training peptide shares 8 residues with a held-out one.
    kmers = {p[i:i + 8] for p in train.peptide for i in range(len(p) - 7)}
    assert not any(p[i:i + 8] in kmers for p in disjoint.peptide for i in range(len(p) - 7))
    # Random split: pairs never in the evaluation training set; every label kept
    # (conflicting ones are marked, not dropped).
    assert not set(random_held.allele + random_held.peptide) & set(train.allele + train.peptide)
    assert "conflicting" in random_held.columns
    # The final ensemble trains on everything (held-out rows included).
    assert set(disjoint.peptide) <= set(final.peptide) | set(
        pd.read_csv(work / "heldout_disjoint.csv.gz").query("conflicting").peptide)
    metrics = pd.read_csv(out / "heldout_metrics.csv")
    assert {"split", "group", "auc_500nM", "ms_auc", "ms_ppv", "median_ic50_ratio"} <= set(
        metrics.columns)
    assert set(metrics.split) == {"random", "peptide_disjoint"}
    assert {"all", "HLA-A", "HLA-B", "HLA-C", "length 9"} <= set(metrics.group)
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("# NeoRank embedded MHCflurry")
    assert "## Peptide-disjoint held-out set" in card and "## Targets" in card
    # The binder-rate table: one row per demo allele the reduced data have, with rates.
    rates = card.split("## Binder calls per allele")[1].split("\n## ")[0]
    assert re.search(r"\| HLA-A\*02:01 \| \d+\.\d% \| \d+\.\d\d% \| \d+ \|", rates)
    assert "HLA-A*03:01" not in rates  # no pseudosequence in the test subset
    calibrated = pd.read_csv(out / "calibrated_alleles.csv").set_index("allele")
    assert "HLA-A*02:01" in calibrated.index
    # --n-frequent 1: the fixture's most frequent allele with a pseudosequence
    # (A*02:01, mean of the four populations' frequencies) is the frequent one.
    assert calibrated.loc["HLA-A*02:01", "reason"] == "demo/tests+frequent+most_measured"
    assert calibrated.loc["HLA-A*02:01", "population_frequency"] == pytest.approx(0.17731, abs=1e-5)
    sums = (out / "SHA256SUMS").read_text()
    assert "manifest.csv" in sums and "heldout_disjoint.csv.gz" in sums


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


def test_peptide_clusters_join_peptides_sharing_eight_residues():
    bm = _build_models_module()
    clusters = bm.peptide_clusters(["SIINFEKL", "ASIINFEKLV", "GILGFVFTL", "ILGFVFTLA",
                                    "KKKKKKKKK", "NLVPMVATV"])
    assert clusters["SIINFEKL"] == clusters["ASIINFEKLV"]  # an 8-mer inside a 10-mer
    assert clusters["GILGFVFTL"] == clusters["ILGFVFTLA"]  # overlap of 8 residues
    assert len({clusters[p] for p in ("SIINFEKL", "GILGFVFTL", "KKKKKKKKK", "NLVPMVATV")}) == 4


def test_ms_metrics_auc_and_ppv_at_the_hit_count():
    bm = _build_models_module()
    hits = pd.DataFrame({"prediction": [10.0, 50.0, 20000.0]})
    decoys = pd.DataFrame({"prediction": [100.0, 30000.0, 40000.0, 45000.0, 60.0, 5000.0]})
    result = bm._ms_metrics(hits, decoys)
    # Top 3 by affinity: 10 (hit), 50 (hit), 60 (decoy) -> PPV 2/3.
    assert result["ms_ppv"] == pytest.approx(2 / 3)
    assert 0.5 < result["ms_auc"] < 1.0 and result["ms_hits"] == 3


def test_decoys_match_allele_and_length_of_the_hits():
    import numpy as np

    bm = _build_models_module()
    windows = {9: np.array([f"AAAAAAAA{c}" for c in "CDEFGHIKLMNPQRSTVWY"]),
               10: np.array([f"AAAAAAAAA{c}" for c in "CDEFGHIKLM"])}
    hits = pd.DataFrame({"allele": ["HLA-A*02:01", "HLA-B*07:02"],
                         "peptide": ["GILGFVFTL", "GILGFVFTLA"]})
    decoys = bm.decoys_for(hits, windows, seed=1)
    assert sorted(decoys.groupby("allele").peptide.apply(lambda s: set(s.str.len())).map(
        lambda s: s.pop())) == [9, 10]
    assert (decoys.allele == "HLA-A*02:01").sum() == bm.DECOYS_PER_HIT
