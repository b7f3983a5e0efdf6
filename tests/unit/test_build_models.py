"""Smoke run of scripts/build_models.py: a few hundred rows, one epoch.

Keeps the model build script working; it reads committed fixture subsets of the
mhcnuggets measurements and mhcmatch pseudosequences (no download).
"""

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
    held = pd.read_csv(out / "heldout.csv.gz")
    train = pd.read_csv(work / "train.csv")
    # 10% of each allele's measurements, disjoint from training.
    for allele, frame in pd.concat([held, train]).groupby("allele"):
        n_held = (held.allele == allele).sum()
        assert abs(n_held - round(0.1 * len(frame))) <= 1
    assert not set(held.allele + held.peptide) & set(train.allele + train.peptide)
    assert (out / "MODEL_CARD.md").read_text().startswith("# NeoRank embedded MHCflurry")
    assert "HLA-A*02:01" in set(pd.read_csv(out / "calibrated_alleles.csv").allele)
    sums = (out / "SHA256SUMS").read_text()
    assert "manifest.csv" in sums and "heldout.csv.gz" in sums
