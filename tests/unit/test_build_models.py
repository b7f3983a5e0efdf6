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
    assert "HLA-A*02:01" in set(pd.read_csv(out / "calibrated_alleles.csv").allele)
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
