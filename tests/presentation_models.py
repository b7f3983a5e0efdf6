"""A small MHCflurry ``models_class1_presentation`` download, built for the tests.

The official models cannot be downloaded here, so :func:`build_download` writes
a stand-in **in the exact on-disk layout** of ``mhcflurry-downloads fetch
models_class1_presentation``, saved with MHCflurry's own API::

    <data_dir>/                                  # MHCFLURRY_DATA_DIR
      <release>/                                 # downloads.yml current-release
        models_class1_presentation/
          DOWNLOAD_INFO.csv                      # written by the fetch command
          models/                                # Class1PresentationPredictor.save
            affinity_predictor/                  # Class1AffinityPredictor.save
            processing_predictor_with_flanks/    # Class1ProcessingPredictor.save
            processing_predictor_without_flanks/
            weights.csv                          # the logistic regression (fit)
            percent_ranks.json                   # presentation_score calibration
            info.txt

``mhcflurry.downloads.get_default_class1_presentation_models_dir()`` finds
``models/`` there when ``MHCFLURRY_DATA_DIR=<data_dir>`` (and
``Class1PresentationPredictor.load()`` with no argument loads it).

Contents, all deterministic (seeded) and built in seconds:

- the affinity predictor: NeoRank's embedded ensemble
  (``Class1AffinityPredictor.load(..., optimization_level=0)``, saved unmerged as
  the training command does);
- two processing predictors, with (15/15-residue flanks) and without flanks, one
  tiny ``Class1ProcessingNeuralNetwork`` each, trained a few epochs on peptides
  made here: hits are 8-11-mers cut from the embedded reference proteins
  (``resources/reference/reference.pep.fa.gz``) with their real flanks whose
  C-terminal residue is hydrophobic (:data:`HIT_C_TERMINI`) and whose next
  residue is not a proline; decoys are the same kind of windows with peptide and
  flanks shuffled (C-terminus then rotated off :data:`HIT_C_TERMINI`);
- the presentation logistic regression, fit by ``Class1PresentationPredictor.fit``
  on reference windows for two genotypes (a hit: processing rule and best
  predicted affinity <= 1000 nM), then calibrated like
  ``mhcflurry-calibrate-percentile-ranks --predictor-kind class1_presentation``
  (scores of reference windows without flanks,
  ``calibrate_percentile_ranks`` and a percent-ranks-only save).

These models are test fixtures, not a predictor of anything.
"""

from __future__ import annotations

import csv
import gzip
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "resources" / "mhcflurry" / "embedded"
REFERENCE_PEP = ROOT / "resources" / "reference" / "reference.pep.fa.gz"
DOWNLOAD = "models_class1_presentation"
SEED = 20260101
LENGTHS = (8, 9, 10, 11)
FLANK = 15
HIT_C_TERMINI = frozenset("LVIFMY")
#: Genotypes of the presentation fit: the demo's typing and a common A2 haplotype.
GENOTYPES = {
    "demo": ["HLA-A*01:01", "HLA-B*08:01", "HLA-B*27:05", "HLA-C*01:02", "HLA-C*07:01"],
    "a2": ["HLA-A*02:01", "HLA-A*03:01", "HLA-B*07:02", "HLA-B*44:02", "HLA-C*05:01",
           "HLA-C*07:02"],
}
STANDARD = frozenset("ACDEFGHIKLMNPQRSTVWY")

#: One tiny network per processing predictor (MHCflurry hyperparameter names).
NETWORK = dict(convolutional_filters=8, convolutional_kernel_size=5, dropout_rate=0.0,
               convolutional_kernel_l1_l2=[0.0, 0.0], max_epochs=6, early_stopping=False,
               minibatch_size=128, validation_split=0.1, learning_rate=0.01)


def reference_proteins() -> dict[str, str]:
    """``{transcript_id (unversioned): protein}`` of the embedded reference FASTA."""
    proteins: dict[str, list[str]] = {}
    transcript = None
    with gzip.open(REFERENCE_PEP, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                fields = dict(f.split(":", 1) for f in line[1:].split() if ":" in f)
                transcript = fields["transcript"].split(".")[0]
                proteins[transcript] = []
            elif transcript is not None:
                proteins[transcript].append(line.strip())
    return {t: "".join(parts) for t, parts in proteins.items()}


def reference_windows(n: int, rng: np.random.RandomState) -> list[tuple[str, str, str]]:
    """``n`` distinct ``(n_flank, peptide, c_flank)`` windows of the reference proteins,
    standard residues only, with up to :data:`FLANK` residues of real flank."""
    proteins = [p for _, p in sorted(reference_proteins().items()) if len(p) >= 30]
    seen: set[str] = set()
    windows = []
    while len(windows) < n:
        protein = proteins[rng.randint(len(proteins))]
        length = LENGTHS[rng.randint(len(LENGTHS))]
        start = rng.randint(len(protein) - length + 1)
        peptide = protein[start:start + length]
        if peptide in seen or not STANDARD.issuperset(peptide):
            continue
        seen.add(peptide)
        windows.append((protein[max(0, start - FLANK):start], peptide,
                        protein[start + length:start + length + FLANK]))
    return windows


def processing_hit(n_flank: str, peptide: str, c_flank: str) -> bool:
    """The deterministic rule defining a processed peptide in this fixture."""
    return peptide[-1] in HIT_C_TERMINI and not c_flank.startswith("P")


def _shuffled(text: str, rng: np.random.RandomState) -> str:
    return "".join(rng.permutation(list(text))) if text else text


def processing_data(rng: np.random.RandomState, n_each: int = 1500):
    """Hits (real windows passing :func:`processing_hit`) and as many shuffled decoys."""
    hits, decoys = [], []
    for n_flank, peptide, c_flank in reference_windows(8 * n_each, rng):
        if processing_hit(n_flank, peptide, c_flank) and len(hits) < n_each:
            hits.append((n_flank, peptide, c_flank))
        elif len(decoys) < n_each:
            shuffled = _shuffled(peptide, rng)
            for _ in range(len(shuffled)):  # rotate the C-terminus off the hit residues
                if shuffled[-1] not in HIT_C_TERMINI:
                    break
                shuffled = shuffled[1:] + shuffled[0]
            decoys.append((_shuffled(n_flank, rng), shuffled, _shuffled(c_flank, rng)))
        if len(hits) == n_each and len(decoys) == n_each:
            break
    rows = hits + decoys
    targets = np.array([1.0] * len(hits) + [0.0] * len(decoys))
    return rows, targets


def train_processing_predictor(rows, targets, flank_length: int, seed: int):
    """One tiny ``Class1ProcessingNeuralNetwork`` in a ``Class1ProcessingPredictor``."""
    from mhcflurry.class1_processing_neural_network import Class1ProcessingNeuralNetwork
    from mhcflurry.class1_processing_predictor import Class1ProcessingPredictor
    from mhcflurry.flanking_encoding import FlankingEncoding

    network = Class1ProcessingNeuralNetwork(
        peptide_max_length=15, n_flank_length=flank_length, c_flank_length=flank_length,
        **NETWORK)
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*rows, strict=True))
    network.fit(FlankingEncoding(peptides, n_flanks, c_flanks), targets, verbose=-1,
                progress_print_interval=None, seed=seed,
                shuffle_permutation=np.random.RandomState(seed).permutation(len(targets)))
    return Class1ProcessingPredictor(models=[network])


def build_download(data_dir: str | Path, seed: int = SEED) -> Path:
    """Write the download under ``data_dir``; return its ``models`` folder."""
    import mhcflurry.downloads as downloads
    import torch
    from mhcflurry import Class1AffinityPredictor, Class1PresentationPredictor

    from neorank.models import _precomputed_allele_names

    torch.set_num_threads(1)
    metadata = downloads.get_downloads_metadata()
    release = metadata["current-release"]
    entry = next(d for d in metadata["releases"][release]["downloads"] if d["name"] == DOWNLOAD)
    download_dir = Path(data_dir) / release / DOWNLOAD
    models_dir = download_dir / "models"
    download_dir.mkdir(parents=True)

    rng = np.random.RandomState(seed)
    rows, targets = processing_data(rng)
    with_flanks = train_processing_predictor(rows, targets, FLANK, seed)
    without_flanks = train_processing_predictor(rows, targets, 0, seed + 1)

    with _precomputed_allele_names(EMBEDDED):  # the embedded table of allele names
        affinity = Class1AffinityPredictor.load(str(EMBEDDED), optimization_level=0)
    predictor = Class1PresentationPredictor(
        affinity_predictor=affinity, processing_predictor_with_flanks=with_flanks,
        processing_predictor_without_flanks=without_flanks)
    # As mhcflurry's train-presentation command: the unmerged affinity ensemble and the
    # processing predictors first, then the fit and its weights.
    predictor.save(str(models_dir), write_weights=False, write_percent_ranks=False,
                   write_info=False, write_metadata=False)
    affinity.optimize()

    windows = reference_windows(3000, np.random.RandomState(seed + 2))
    n_flanks, peptides, c_flanks = (list(x) for x in zip(*windows, strict=True))
    fit_peptides, fit_samples, fit_n, fit_c = [], [], [], []
    for sample in GENOTYPES:
        fit_peptides += peptides
        fit_n += n_flanks
        fit_c += c_flanks
        fit_samples += [sample] * len(peptides)
    best = predictor.predict_affinity(
        fit_peptides, GENOTYPES, sample_names=fit_samples, include_affinity_percentile=False,
        verbose=0).affinity.to_numpy()
    hit = np.array([processing_hit(n, p, c) for n, p, c in zip(fit_n, fit_peptides, fit_c,
                                                                  strict=True)])
    fit_targets = (hit & (best <= 1000)).astype(float)
    predictor.fit(targets=fit_targets, peptides=fit_peptides, sample_names=fit_samples,
                  alleles=GENOTYPES, n_flanks=fit_n, c_flanks=fit_c, verbose=0)
    predictor.save(str(models_dir), write_affinity_predictor=False,
                   write_processing_predictor=False, write_weights=True,
                   write_percent_ranks=True, write_info=True, write_metadata=True)

    # As mhcflurry's calibrate-percentile-ranks (class1_presentation): score background
    # peptides without flanks for each genotype, calibrate, save only the ranks.
    background = [p for _, p, _ in reference_windows(2000, np.random.RandomState(seed + 3))]
    with warnings.catch_warnings():  # no percentiles before the calibration, as expected
        warnings.filterwarnings("ignore", "No presentation predictor percentile rank")
        scores = np.concatenate([
            predictor.predict(background, alleles=genotype, verbose=0)
            .presentation_score.to_numpy() for genotype in GENOTYPES.values()])
    predictor.calibrate_percentile_ranks(scores, groups=np.tile(background, len(GENOTYPES)))
    predictor.save(str(models_dir), write_affinity_predictor=False,
                   write_processing_predictor=False, write_weights=False,
                   write_percent_ranks=True, write_info=False, write_metadata=False)

    # As `mhcflurry-downloads fetch`: the URLs the download came from.
    with open(download_dir / "DOWNLOAD_INFO.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url"])
        writer.writerows([url] for url in downloads.get_download_urls(entry))
    return models_dir


_BUILT: dict[str, Path] = {}
#: Seconds the session's build took (printed by tests/workflow/test_presentation.py).
BUILD_SECONDS: list[float] = []


def session_download(tmp_path_factory) -> Path:
    """The download's data dir (``MHCFLURRY_DATA_DIR``), built once per test session.

    Test modules wrap this in a session fixture; it is built into the session's
    temporary directory the first time any of them asks.
    """
    if "data_dir" not in _BUILT:
        data_dir = tmp_path_factory.mktemp("mhcflurry-data")
        start = time.monotonic()
        build_download(data_dir)
        BUILD_SECONDS.append(time.monotonic() - start)
        _BUILT["data_dir"] = data_dir
    return _BUILT["data_dir"]


def models_dir(data_dir: Path) -> Path:
    """``<data_dir>/<release>/models_class1_presentation/models``."""
    import mhcflurry.downloads as downloads

    return Path(data_dir) / downloads.get_downloads_metadata()["current-release"] / DOWNLOAD / \
        "models"
