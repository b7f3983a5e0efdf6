#!/usr/bin/env python
"""Throughput of the embedded MHCflurry ensemble through neorank's binding module.

Predicts ``--pairs`` peptide-allele pairs (random 8-11-mers, seeded, x 6 HLA
alleles) and reports predictions per second for each ensemble size in
``--ensemble-sizes`` together with the held-out AUC (binder < 500 nM) of that
ensemble size, so the speed/accuracy trade-off is measured, not assumed::

    python scripts/benchmark_predict.py --pairs 240000 --ensemble-sizes 1,2,4

``--numerics portable`` (or ``native``) measures in the arithmetic of the workflow's
prediction jobs (``mhcflurry.numerics``: one torch thread; portable also pins MKL's
COMPATIBLE branch and ATen's baseline kernels); without it, torch's own defaults (all
cores, the CPU's kernels), as before.

The last line is ``predictions_per_second=<value for the full ensemble>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import neorank  # noqa: F401 - first: importing neorank pins numpy's CPU kernels

# isort: split
import numpy as np
import pandas as pd

ALLELES = ["HLA-A*01:01", "HLA-A*02:01", "HLA-B*08:01", "HLA-B*27:05", "HLA-C*07:01",
           "HLA-C*01:02"]
AMINO_ACIDS = list("ACDEFGHIKLMNPQRSTVWY")


def random_peptides(n: int, seed: int) -> list[str]:
    rng = np.random.RandomState(seed)
    lengths = rng.choice([8, 9, 10, 11], size=n)
    return ["".join(rng.choice(AMINO_ACIDS, size=length)) for length in lengths]


def heldout_auc(predictor, models_dir: Path) -> float:
    from sklearn.metrics import roc_auc_score

    held = pd.read_csv(models_dir / "heldout.csv.gz")
    decidable = (held.measurement_inequality == "=") | (
        (held.measurement_inequality == "<") & (held.measurement_value <= 500)) | (
        (held.measurement_inequality == ">") & (held.measurement_value >= 500))
    held = held[decidable]
    pred = predictor.predict(peptides=held.peptide.values, alleles=held.allele.values)
    return float(roc_auc_score(held.measurement_value < 500, -np.log(pred)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=Path("resources/mhcflurry/embedded"))
    parser.add_argument("--pairs", type=int, default=240_000)
    parser.add_argument("--ensemble-sizes", default="1,2,4")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-auc", action="store_true")
    from neorank.models import NUMERICS  # (torch is not imported with it)

    parser.add_argument("--numerics", choices=sorted(NUMERICS),
                        help="the workflow's arithmetic (mhcflurry.numerics); default: "
                             "torch's own (all cores)")
    args = parser.parse_args(argv)

    if args.numerics:
        from neorank.models import pin_numerics

        pin_numerics(args.numerics)  # before torch runs
    import torch
    from mhcflurry import Class1AffinityPredictor

    from neorank.models import MhcflurryPredictor

    print(f"cores={os.cpu_count()} torch_threads={torch.get_num_threads()} "
          f"numerics={args.numerics or 'torch default'}", flush=True)
    n_peptides = args.pairs // len(ALLELES)
    peptides = random_peptides(n_peptides, args.seed)
    rows = []
    for size in [int(x) for x in args.ensemble_sizes.split(",")]:
        started = time.perf_counter()
        affinity = Class1AffinityPredictor.load(str(args.models), max_models=size)
        load_s = time.perf_counter() - started
        predictor = MhcflurryPredictor(args.models, f"embedded[{size}]", affinity)
        predictor.affinity(peptides[:1000], ALLELES[:1])  # warm-up
        started = time.perf_counter()
        table = predictor.affinity(peptides, ALLELES)
        elapsed = time.perf_counter() - started
        rate = len(table) / elapsed
        auc = float("nan") if args.skip_auc else heldout_auc(affinity, args.models)
        rows.append({"ensemble_size": size, "pairs": len(table), "load_s": round(load_s, 2),
                     "predict_s": round(elapsed, 2), "pairs_per_s": round(rate),
                     "heldout_auc": round(auc, 4)})
        print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"predictions_per_second={rows[-1]['pairs_per_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
