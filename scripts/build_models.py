#!/usr/bin/env python
"""Build NeoRank's embedded, compact pan-allele MHCflurry affinity predictor.

One command, fixed seeds, resumable::

    python scripts/build_models.py --out resources/mhcflurry/embedded

Stages (each skipped when its output already exists, so a killed run resumes):

1. fetch     ``pip download --no-deps`` the ``mhcnuggets`` and ``mhcmatch`` wheels
             into a cache folder (the only network access; never at workflow or
             test time).
2. prepare   read the binding measurements (mhcnuggets curated class I set) and
             the pseudosequences (mhcmatch ``mhci_pseudo.fa``), normalise allele
             names with mhcgnomes, convert qualitative measurements into
             inequalities, and hold out 10% of each allele's measurements
             (seeded). The held-out rows are written into the model folder and
             are never used for training, early stopping or model selection.
3. train     fit ``--n-models`` pan-allele ``Class1NeuralNetwork`` members with
             MHCflurry's own training code, one at a time; each finished member
             is saved in the work folder, so an interrupted run resumes at the
             next member.
4. assemble  merge the members into one ``Class1AffinityPredictor``, calibrate
             percentile ranks for the documented allele list, save it.
   ``--recalibrate`` redoes only the percentile calibration of an assembled
             folder (same weights), e.g. after the allele list changed.
5. evaluate  held-out AUC (binder < 500 nM) and Spearman correlation, overall
             and per allele, written to ``heldout_metrics.csv`` and
             ``MODEL_CARD.md``; sha256 checksums to ``SHA256SUMS``.

Progress goes to stderr and to ``<work>/build.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from neorank.binding import write_allele_name_table
from neorank.io import sha256_file

LOG = logging.getLogger("build_models")

SOURCES = {
    "mhcnuggets": {
        "version": "2.4.1",
        "wheel": "mhcnuggets-2.4.1-py2.py3-none-any.whl",
        "member": "mhcnuggets/data/production/mhcI/curated_training_data.csv",
    },
    "mhcmatch": {
        "version": "1.20.2",
        "wheel": "mhcmatch-1.20.2-py3-none-any.whl",
        "member": "mhcmatch/data/mhci_pseudo.fa",
    },
    # HLA allele frequencies of four US populations (transplant-registry
    # frequencies supplemented with 1000 Genomes alleles; the package's README),
    # used only to choose which alleles get percentile ranks. Source archive: the
    # package ships no wheel.
    "hla-genotyper": {
        "version": "0.4.2b1",
        "wheel": "hla-genotyper-0.4.2b1.tar.gz",
        "member": "hla-genotyper-0.4.2b1/hla/data/ethnic_priors.txt",
        "sdist": True,
        "sha256": "e743094364eaf9e35ed3869cc3e7f39a1a2f998db3d4a2fa473a4bd451a7fcea",
    },
}

# Alleles the demo and tests use (the osteosarcoma case's typing, the classic
# test epitopes' restriction), plus the issue's headline alleles.
REQUIRED_ALLELES = [
    "HLA-A*01:01", "HLA-A*02:01", "HLA-A*03:01", "HLA-A*24:02",
    "HLA-B*07:02", "HLA-B*08:01", "HLA-B*27:05", "HLA-B*44:02",
    "HLA-C*01:02", "HLA-C*07:01",
]
# Percentile calibration covers REQUIRED_ALLELES, the N_FREQUENT_CALIBRATED
# HLA-A/B/C alleles with the highest mean population frequency in hla-genotyper's
# ethnic_priors.txt (four US populations), and the N_MEASURED_CALIBRATED alleles
# with the most training measurements (the best-characterised ones). The list
# actually calibrated is written to calibrated_alleles.csv with each allele's
# frequency, measurement count and reason.
N_FREQUENT_CALIBRATED = 100
N_MEASURED_CALIBRATED = 60
#: Populations of ethnic_priors.txt averaged for the frequency ranking (its UNK
#: rows are a uniform prior, not a frequency). African American, Asian/Pacific
#: Islander, European, Hispanic.
FREQUENCY_POPULATIONS = ("AFA", "API", "EUR", "HIS")
#: Held-out AUC each headline allele should reach (issue target).
HEADLINE_TARGET = 0.88

ARCHITECTURE = {
    "activation": "tanh",
    "allele_amino_acid_encoding": "BLOSUM62",
    "allele_dense_layer_sizes": [],
    "peptide_encoding": {
        "vector_encoding_name": "BLOSUM62",
        "alignment_method": "left_pad_centered_right_pad",
        "max_length": 15,
    },
    "peptide_dense_layer_sizes": [],
    "peptide_allele_merge_method": "concatenate",
    "peptide_allele_merge_activation": "",
    "layer_sizes": [256, 128],
    "topology": "with-skip-connections",
    "locally_connected_layers": [],
    "dense_layer_l1_regularization": 0.0,
    "dense_layer_l2_regularization": 0.0,
    "dropout_probability": 0.0,
    "batch_normalization": False,
    "output_activation": "sigmoid",
    "loss": "custom:mse_with_inequalities",
    "optimizer": "rmsprop",
    "learning_rate": 0.001,
    "minibatch_size": 128,
    "max_epochs": 40,
    "patience": 5,
    "validation_split": 0.1,
    "early_stopping": True,
    "restore_best_weights": True,
    "random_negative_method": "by_allele",
    "random_negative_rate": 0.1,
    "random_negative_constant": 25,
    "random_negative_affinity_min": 20000.0,
    "random_negative_affinity_max": 50000.0,
    "random_negative_lengths": [8, 9, 10, 11, 12, 13, 14, 15],
    "random_negative_match_distribution": True,
}


#: Per-member changes to ARCHITECTURE: the ensemble mixes two random-negative
#: rates. Members trained with many random negatives (rate 1.0: as many random
#: peptides as measurements) push predictions for non-binding sequences up;
#: the low-rate members keep more resolution among measured binders.
MEMBER_VARIANTS: list[dict] = [{}, {}, {}, {}, {"random_negative_rate": 1.0},
                               {"random_negative_rate": 1.0}]


#: Second stage: every member is trained on further, from its weights, with a
#: smaller learning rate and larger minibatches (same training rows, same
#: early-stopping split of them). Measured on member 1: held-out AUC 0.891 -> 0.910,
#: validation loss 0.030 -> 0.025; the first stage's rmsprop at lr 1e-3 with
#: minibatch 128 stops on a noisy validation loss before converging.
FINETUNE = {"learning_rate": 0.0002, "minibatch_size": 512, "max_epochs": 40, "patience": 5}


def member_architecture(base: dict, i: int) -> dict:
    variant = MEMBER_VARIANTS[i] if i < len(MEMBER_VARIANTS) else {}
    return {**base, **variant}


# --------------------------------------------------------------------------- fetch
#: hla-genotyper's setup.py is Python 2 (``execfile``); pip runs it to read the
#: archive's metadata before saving it. This shim, put on PYTHONPATH for that
#: one ``pip download`` (without build isolation, which would drop it), gives
#: setup.py the builtin it needs. Nothing of the package is built or installed.
EXECFILE_SHIM = """import builtins, sys
def execfile(path, globals=None, locals=None):
    frame_globals = sys._getframe(1).f_globals if globals is None else globals
    with open(path) as handle:
        code = compile(handle.read(), path, "exec")
    exec(code, frame_globals, frame_globals if locals is None else locals)
builtins.execfile = execfile
"""


def fetch(cache: Path, names: list[str] | None = None) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names or list(SOURCES):
        source = SOURCES[name]
        archive = cache / source["wheel"]
        if not archive.exists():
            LOG.info("downloading %s==%s into %s", name, source["version"], cache)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "-d", str(cache), f"{name}=={source['version']}"]
            env = None
            if source.get("sdist"):
                shim = cache / "py2-setup-shim"
                shim.mkdir(exist_ok=True)
                (shim / "sitecustomize.py").write_text(EXECFILE_SHIM)
                cmd[5:5] = ["--no-binary", ":all:", "--no-build-isolation"]
                env = {**os.environ, "PYTHONPATH": str(shim.resolve())}
            subprocess.run(cmd, check=True, env=env)
        expected = source.get("sha256")
        if expected and (actual := sha256_file(archive)) != expected:
            raise SystemExit(f"{archive}: sha256 {actual} differs from the recorded "
                             f"{expected}; delete it and run again")
        paths[name] = archive
    return paths


def read_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tar:
            return tar.extractfile(member).read()
    with zipfile.ZipFile(archive) as wheel:
        return wheel.read(member)


# ------------------------------------------------------------------------- prepare
def parse_pseudosequences(text: str) -> dict[str, str]:
    """Map every alias in ``mhci_pseudo.fa`` headers, normalised, to its sequence."""
    from mhcflurry.common import normalize_allele_name

    allele_to_sequence: dict[str, str] = {}
    header = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(">"):
            header = line[1:]
        elif line and header is not None:
            names = header.split("|")[0].split()
            for raw in names:
                name = normalize_allele_name(raw, raise_on_error=False)
                # The first record to claim a name wins (headers list the
                # primary allele first; later records repeat rare aliases).
                if name and name not in allele_to_sequence:
                    allele_to_sequence[name] = line
            header = None
    return allele_to_sequence


def prepare_measurements(csv_bytes: bytes, allele_to_sequence: dict[str, str]) -> pd.DataFrame:
    from io import BytesIO

    from mhcflurry.common import normalize_allele_name

    raw = pd.read_csv(BytesIO(csv_bytes))
    raw = raw.rename(columns={"mhc": "raw_allele", "IC50(nM)": "measurement_value"})
    names = {a: normalize_allele_name(a, raise_on_error=False) for a in raw.raw_allele.unique()}
    raw["allele"] = raw.raw_allele.map(names)
    lengths = raw.peptide.str.len()
    keep = (
        raw.allele.notna()
        & raw.allele.isin(allele_to_sequence.keys())
        & lengths.between(8, 15)
        & raw.peptide.str.fullmatch(r"[ACDEFGHIKLMNPQRSTVWY]+")
        & (raw.measurement_value > 0)
    )
    LOG.info("measurements: %d read, %d kept (allele with pseudosequence, 8-15mer, standard aa)",
             len(raw), int(keep.sum()))
    data = raw.loc[keep, ["allele", "peptide", "measurement_value", "measurement_type"]].copy()
    # Qualitative assays only bound the affinity: positives are "< value",
    # negatives "> 5000 nM" style lower bounds (MHCflurry's convention).
    data["measurement_inequality"] = "="
    qualitative = data.measurement_type == "qualitative"
    data.loc[qualitative & (data.measurement_value <= 500), "measurement_inequality"] = "<"
    data.loc[qualitative & (data.measurement_value > 500), "measurement_inequality"] = ">"
    data.loc[qualitative & (data.measurement_value > 500), "measurement_value"] = 5000.0
    data["measurement_value"] = data.measurement_value.clip(upper=50000.0)
    # One row per (allele, peptide, inequality): geometric mean of repeats.
    data = (
        data.groupby(["allele", "peptide", "measurement_inequality", "measurement_type"], sort=True)
        .measurement_value.apply(lambda v: float(np.exp(np.log(v).mean())))
        .reset_index()
    )
    return data


def resolve_conflicts(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop qualitative labels that a better measurement of the same pair overrules.

    Returns ``(kept, dropped)``; ``dropped`` has a ``reason`` column:

    - ``superseded_by_quantitative``: a qualitative row of an (allele, peptide)
      pair that also has a quantitative IC50. The IC50 measures the same thing
      more precisely; where the two disagree, keeping both puts opposite labels on
      one pair (in this data 4,189 of the 16,200 raw qualitative rows with an IC50
      disagree with it at 500 nM, 2,468 of them from one IEDB submission).
    - ``contradictory_qualitative``: a pair with only qualitative rows that say
      both "binds" (``<``) and "does not bind" (``>``).
    """
    key = data.allele + ":" + data.peptide
    qualitative = data.measurement_inequality != "="
    superseded = qualitative & key.isin(set(key[~qualitative]))
    remaining = data.measurement_inequality.where(qualitative & ~superseded)
    kinds = remaining.groupby(key).agg(lambda s: frozenset(s.dropna()))
    contradictory_pairs = set(kinds[kinds.apply(lambda k: k == {"<", ">"})].index)
    contradictory = qualitative & ~superseded & key.isin(contradictory_pairs)
    dropped = data[superseded | contradictory].copy()
    dropped["reason"] = np.where(superseded[superseded | contradictory],
                                 "superseded_by_quantitative", "contradictory_qualitative")
    return data[~(superseded | contradictory)], dropped


def split_heldout(data: pd.DataFrame, fraction: float, seed: int) -> pd.Series:
    """Boolean mask: ``fraction`` of each allele's (allele, peptide) pairs, seeded."""
    rng = np.random.RandomState(seed)
    pairs = data[["allele", "peptide"]].drop_duplicates().sort_values(["allele", "peptide"])
    chosen = []
    for _, group in pairs.groupby("allele", sort=True):
        n = int(round(len(group) * fraction))
        if n:
            chosen.append(group.iloc[rng.permutation(len(group))[:n]])
    held = pd.concat(chosen) if chosen else pairs.iloc[:0]
    key = data.allele + ":" + data.peptide
    return key.isin(set(held.allele + ":" + held.peptide))


def is_archive(path: Path) -> bool:
    return path.name.endswith((".whl", ".tar.gz"))


def source_bytes(name: str, wheels: dict[str, Path]) -> bytes:
    """A source file's bytes: from its package archive, or from a local file given instead."""
    path = wheels[name]
    if is_archive(path):
        return read_member(path, SOURCES[name]["member"])
    return path.read_bytes()


def prepare(work: Path, out: Path, wheels: dict[str, Path], seed: int, max_rows: int | None) -> None:
    if (work / "train.csv").exists():
        return
    allele_to_sequence = parse_pseudosequences(source_bytes("mhcmatch", wheels).decode())
    LOG.info("pseudosequences: %d normalised allele names", len(allele_to_sequence))
    data = prepare_measurements(source_bytes("mhcnuggets", wheels), allele_to_sequence)
    if max_rows:
        data = data.sample(n=min(max_rows, len(data)), random_state=seed).sort_index()
    # The split is drawn over every (allele, peptide) pair before conflicting
    # labels are resolved, so resolving them never moves a pair between the
    # training and the held-out side.
    held = split_heldout(data, 0.10, seed)
    kept, dropped = resolve_conflicts(data)
    for reason, count in dropped.reason.value_counts().sort_index().items():
        LOG.info("conflicting labels: %d rows dropped (%s)", count, reason)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    kept[held.loc[kept.index]].to_csv(work / "heldout.csv.gz", index=False)
    kept[~held.loc[kept.index]].to_csv(work / "train.csv", index=False)
    # Held-out rows whose label was dropped: the model card reports the AUC with
    # them too, so the effect of the rule is visible.
    dropped[held.loc[dropped.index]].to_csv(work / "heldout_dropped.csv.gz", index=False)
    dropped[~held.loc[dropped.index]].to_csv(work / "train_dropped.csv.gz", index=False)
    dropped.reason.value_counts().sort_index().rename_axis("reason").rename(
        "rows").to_csv(work / "dropped_counts.csv")
    pd.Series(allele_to_sequence, name="sequence").rename_axis("allele").to_csv(
        work / "allele_sequences.csv")
    LOG.info("split: %d training rows, %d held-out rows",
             int((~held.loc[kept.index]).sum()), int(held.loc[kept.index].sum()))


# --------------------------------------------------------------------------- train
#: A member whose training-set AUC stays below this has collapsed (sigmoid
#: saturated at "non-binder" for everything, seen with some seeds); it is
#: retrained with the next seed. Uses training rows only, never held-out ones.
COLLAPSE_AUC = 0.75
MAX_ATTEMPTS = 4


def training_auc(predictor, train_df: pd.DataFrame, seed: int) -> float:
    quant = train_df[train_df.measurement_inequality == "="]
    sample = quant.sample(n=min(5000, len(quant)), random_state=seed)
    pred = predictor.predict(peptides=sample.peptide.values, alleles=sample.allele.values)
    return auc((sample.measurement_value < 500).values, -np.log(pred))


def train(work: Path, n_models: int, seed: int, architecture: dict) -> None:
    from mhcflurry import Class1AffinityPredictor
    from mhcflurry.common import derive_seed

    train_df = pd.read_csv(work / "train.csv")
    allele_to_sequence = pd.read_csv(work / "allele_sequences.csv", index_col=0).sequence.to_dict()
    for i in range(n_models):
        member_dir = work / f"member_{i}"
        if (member_dir / "manifest.csv").exists():
            LOG.info("member %d/%d already trained, skipping", i + 1, n_models)
            continue
        started = time.time()
        for attempt in range(MAX_ATTEMPTS):
            LOG.info("training member %d/%d on %d rows (attempt %d)", i + 1, n_models,
                     len(train_df), attempt + 1)
            predictor = Class1AffinityPredictor(allele_to_sequence=allele_to_sequence)
            predictor.fit_class1_pan_allele_models(
                n_models=1,
                architecture_hyperparameters=member_architecture(architecture, i),
                alleles=train_df.allele.values,
                peptides=train_df.peptide.values,
                affinities=train_df.measurement_value.values,
                inequalities=train_df.measurement_inequality.values,
                verbose=0,
                progress_preamble=f"[member {i + 1}/{n_models}] ",
                progress_print_interval=60.0,
                seed=derive_seed(seed, "member", i, attempt),
            )
            fit_auc = training_auc(predictor, train_df, seed)
            LOG.info("member %d/%d training-set AUC %.3f", i + 1, n_models, fit_auc)
            if not fit_auc < COLLAPSE_AUC or len(train_df) < 5000:
                break
            LOG.warning("member %d/%d collapsed (training AUC %.3f); retrying with a new seed",
                        i + 1, n_models, fit_auc)
        tmp = work / f"member_{i}.tmp"
        predictor.save(str(tmp))
        tmp.rename(member_dir)
        elapsed = time.time() - started
        (member_dir / "train_seconds.txt").write_text(f"{elapsed:.1f}\n")
        LOG.info("member %d/%d done in %.1f min", i + 1, n_models, elapsed / 60)


def member_dir(work: Path, i: int, finetune: bool) -> Path:
    return work / (f"member_{i}_ft" if finetune else f"member_{i}")


def finetune(work: Path, n_models: int, seed: int, params: dict) -> None:
    """Continue training each member from its weights (resumable per member)."""
    from mhcflurry import Class1AffinityPredictor
    from mhcflurry.allele_encoding import AlleleEncoding
    from mhcflurry.common import derive_seed
    from mhcflurry.encodable_sequences import EncodableSequences

    train_df = pd.read_csv(work / "train.csv")
    peptides = EncodableSequences.create(train_df.peptide.values)
    for i in range(n_models):
        done = member_dir(work, i, True)
        if (done / "manifest.csv").exists():
            LOG.info("member %d/%d already fine-tuned, skipping", i + 1, n_models)
            continue
        started = time.time()
        predictor = Class1AffinityPredictor.load(str(work / f"member_{i}"), optimization_level=0)
        network = predictor.class1_pan_allele_models[0]
        network.hyperparameters.update(params)
        LOG.info("fine-tuning member %d/%d: %s", i + 1, n_models, json.dumps(params))
        network.fit(
            peptides, train_df.measurement_value.values,
            inequalities=train_df.measurement_inequality.values,
            allele_encoding=AlleleEncoding(train_df.allele.values,
                                           borrow_from=predictor.master_allele_encoding),
            verbose=0, progress_preamble=f"[fine-tune {i + 1}/{n_models}] ",
            progress_print_interval=60.0, seed=derive_seed(seed, "finetune", i))
        predictor.clear_cache()
        epochs = len(network.fit_info[-1]["loss"])
        LOG.info("member %d/%d fine-tuned for %d epochs, training-set AUC %.3f", i + 1, n_models,
                 epochs, training_auc(predictor, train_df, seed))
        tmp = work / f"member_{i}_ft.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        predictor.save(str(tmp))
        tmp.rename(done)
        elapsed = time.time() - started
        (done / "train_seconds.txt").write_text(f"{elapsed:.1f}\n")
        LOG.info("member %d/%d fine-tuned in %.1f min", i + 1, n_models, elapsed / 60)


# ------------------------------------------------------------------------ assemble
def population_frequencies(text: str) -> pd.Series:
    """Mean HLA-A/B/C allele frequency over FREQUENCY_POPULATIONS, highest first.

    ``text`` is hla-genotyper's ``ethnic_priors.txt``: tab-separated population,
    locus, allele, frequency (and sometimes a note). An allele absent from a
    population counts as frequency 0 there. Ties are broken by allele name.
    """
    from mhcflurry.common import normalize_allele_name

    rows = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0] in FREQUENCY_POPULATIONS and fields[1] in ("A", "B", "C"):
            name = normalize_allele_name(fields[2], raise_on_error=False)
            if name:
                rows.append((fields[0], name, float(fields[3])))
    table = pd.DataFrame(rows, columns=["population", "allele", "frequency"])
    wide = table.pivot_table(index="allele", columns="population", values="frequency",
                             aggfunc="sum", fill_value=0.0)
    mean = wide.reindex(columns=list(FREQUENCY_POPULATIONS), fill_value=0.0).mean(axis=1)
    order = sorted(mean.index, key=lambda a: (-mean[a], a))
    return mean[order].rename("population_frequency")


def calibration_alleles(counts: pd.Series, frequencies: pd.Series, known: set[str],
                        n_frequent: int, n_measured: int) -> pd.DataFrame:
    """Alleles to calibrate: demo/tests, the most frequent, the most measured.

    ``counts``: training measurements per allele; ``frequencies``: mean population
    frequency per allele, highest first; ``known``: alleles with a pseudosequence.
    """
    counts = counts.sort_values(ascending=False, kind="stable")
    frequent = [a for a in frequencies.index if a in known][:n_frequent]
    measured = [a for a in counts.index if a in known and a[:6] in
                ("HLA-A*", "HLA-B*", "HLA-C*")][:n_measured]
    alleles = [a for a in dict.fromkeys(REQUIRED_ALLELES + frequent + measured) if a in known]

    def reason(allele: str) -> str:
        tags = [tag for tag, group in (("demo/tests", REQUIRED_ALLELES), ("frequent", frequent),
                                       ("most_measured", measured)) if allele in group]
        return "+".join(tags)

    return pd.DataFrame({
        "allele": alleles,
        "population_frequency": [round(float(frequencies.get(a, 0.0)), 5) for a in alleles],
        "training_measurements": [int(counts.get(a, 0)) for a in alleles],
        "reason": [reason(a) for a in alleles],
    })


def calibrate(predictor, calib: pd.DataFrame, calib_peptides: int, seed: int) -> None:
    """Percentile ranks for ``calib.allele`` on seeded uniform random 8-15-mers.

    The peptides depend only on the seed and the count, and each allele's ranks
    only on its own predictions, so adding alleles leaves the others' unchanged.
    """
    from mhcflurry.common import random_peptides

    np.random.seed(seed)
    peptides = []
    for length in range(8, 16):
        peptides.extend(random_peptides(calib_peptides, length=length))
    LOG.info("calibrating percentile ranks for %d alleles on %d random peptides",
             len(calib), len(peptides))
    started = time.time()
    predictor.calibrate_percentile_ranks(peptides=peptides, alleles=list(calib.allele))
    LOG.info("calibration took %.1f min", (time.time() - started) / 60)


def recalibrate(out: Path, calib: pd.DataFrame, calib_peptides: int, seed: int) -> None:
    """Redo the percentile calibration of an assembled folder; weights untouched."""
    from mhcflurry import Class1AffinityPredictor

    predictor = Class1AffinityPredictor.load(str(out))
    predictor.allele_to_percent_rank_transform = {}
    calibrate(predictor, calib, calib_peptides, seed)
    # Metadata only (manifest, percent ranks, allele sequences): the weight files
    # are left as they are, byte for byte.
    predictor.save(str(out), model_names_to_write=[])
    calib.to_csv(out / "calibrated_alleles.csv", index=False)
    info = json.loads((out / "build_info.json").read_text())
    info["calibration_peptides_per_length"] = calib_peptides
    (out / "build_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def assemble(work: Path, out: Path, n_models: int, calib: pd.DataFrame, calib_peptides: int,
             seed: int, finetune_params: dict | None) -> None:
    from mhcflurry import Class1AffinityPredictor

    if (out / "manifest.csv").exists():
        return
    tuned = finetune_params is not None
    members = [Class1AffinityPredictor.load(str(member_dir(work, i, tuned)), optimization_level=0)
               for i in range(n_models)]
    predictor = Class1AffinityPredictor.merge(members)
    calibrate(predictor, calib, calib_peptides, seed)
    # The allele embedding (every pseudosequence, BLOSUM-encoded) is rebuilt from
    # allele_sequences.csv at load time; storing it in each member's weights and
    # config JSON would make the folder ~450 MB instead of ~13 MB.
    for network in predictor.class1_pan_allele_models:
        network.clear_allele_representations()
    predictor.save(str(out))
    # Every prediction job would otherwise re-normalise ~18,000 allele names at load.
    write_allele_name_table(out)
    for name in ("heldout.csv.gz", "heldout_dropped.csv.gz", "dropped_counts.csv"):
        shutil.copyfile(work / name, out / name)
    calib.to_csv(out / "calibrated_alleles.csv", index=False)
    write_training_counts(work, out)
    stages = [False, True] if tuned else [False]
    train_seconds = sum(float((member_dir(work, i, ft) / "train_seconds.txt").read_text())
                        for i in range(n_models) for ft in stages)
    (out / "build_info.json").write_text(json.dumps({
        "seed": seed,
        "n_models": n_models,
        "architecture": ARCHITECTURE,
        "training_seconds_total": round(train_seconds, 1),
        "finetune": finetune_params,
        "calibration_peptides_per_length": calib_peptides,
        "sources": {name: {"version": s["version"], "wheel": s["wheel"], "member": s["member"]}
                    for name, s in SOURCES.items()},
    }, indent=2, sort_keys=True) + "\n")


def write_training_counts(work: Path, out: Path) -> None:
    """Training measurements per allele: alleles absent here are 'extrapolated'."""
    counts = pd.read_csv(work / "train.csv").allele.value_counts()
    table = pd.DataFrame({"allele": counts.index, "training_measurements": counts.values})
    table.sort_values(["allele"]).to_csv(out / "allele_training_counts.csv", index=False)


# ------------------------------------------------------------------------ evaluate
def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def evaluate(out: Path, wheels: dict[str, Path], min_heldout: int) -> pd.DataFrame:
    from mhcflurry import Class1AffinityPredictor
    from scipy.stats import spearmanr

    predictor = Class1AffinityPredictor.load(str(out))
    held = pd.read_csv(out / "heldout.csv.gz")
    dropped_path = out / "heldout_dropped.csv.gz"
    dropped = pd.read_csv(dropped_path) if dropped_path.exists() else held.iloc[:0]
    held["dropped"] = False
    dropped = dropped.drop(columns=["reason"], errors="ignore").assign(dropped=True)
    held = pd.concat([held, dropped], ignore_index=True)
    held["prediction"] = predictor.predict(peptides=held.peptide.values,
                                           alleles=held.allele.values)
    # AUC on every held-out row whose binder status is known: quantitative rows
    # and qualitative bounds that decide the 500 nM question.
    decidable = (held.measurement_inequality == "=") | (
        (held.measurement_inequality == "<") & (held.measurement_value <= 500)) | (
        (held.measurement_inequality == ">") & (held.measurement_value >= 500))
    held["binder"] = held.measurement_value < 500

    def decidable_auc(frame: pd.DataFrame) -> float:
        dec = frame[decidable.loc[frame.index]]
        return auc(dec.binder.values, -np.log(dec.prediction.values))

    def metrics(every: pd.DataFrame) -> dict:
        frame = every[~every.dropped]
        dec = frame[decidable.loc[frame.index]]
        quant = frame[frame.measurement_inequality == "="]
        rho = (spearmanr(quant.measurement_value, quant.prediction).statistic
               if len(quant) > 2 else float("nan"))
        return {
            "n_heldout": len(frame),
            "n_quantitative": len(quant),
            "n_binders": int(dec.binder.sum()),
            "auc_500nM": decidable_auc(frame),
            # The same AUC with the held-out labels resolve_conflicts dropped
            # put back (the rule's effect on the evaluation, shown openly).
            "auc_with_dropped_labels": decidable_auc(every),
            # Diagnostic: the same AUC on quantitative rows only (qualitative
            # positives are the noisiest labels; see the model card).
            "auc_quantitative": (auc(quant.binder.values, -np.log(quant.prediction.values))
                                 if 0 < quant.binder.sum() < len(quant) else float("nan")),
            "spearman": float(rho),
        }

    rows = [{"allele": "ALL", **metrics(held)}]
    for allele, frame in held.groupby("allele", sort=True):
        if (~frame.dropped).sum() >= min_heldout:
            rows.append({"allele": allele, **metrics(frame)})
    table = pd.DataFrame(rows)
    table.to_csv(out / "heldout_metrics.csv", index=False, float_format="%.4f")
    write_model_card(out, table, wheels)
    write_checksums(out)
    return table


def write_checksums(out: Path) -> None:
    lines = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name not in {"SHA256SUMS", "MODEL_CARD.md"}:
            lines.append(f"{sha256_file(path)}  {path.relative_to(out).as_posix()}")
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def finetune_text(params: dict | None) -> str:
    if not params:
        return ""
    return (f"\nSecond stage: each member trained on further from its weights with lr "
            f"{params['learning_rate']}, minibatch {params['minibatch_size']}, at most "
            f"{params['max_epochs']} epochs, patience {params['patience']} (same training rows, "
            "same early-stopping rule); the first stage stops on a noisy validation loss.\n")


def frequency_coverage(calib: pd.DataFrame) -> str:
    """How much of each locus' allele frequency the calibrated alleles hold."""
    shares = [f"HLA-{locus} {calib.population_frequency[calib.allele.str.startswith(f'HLA-{locus}*')].sum():.0%}"
              for locus in "ABC"]
    return ("Together the calibrated alleles hold " + ", ".join(shares)
            + " of each locus' mean allele frequency")


def write_model_card(out: Path, table: pd.DataFrame, wheels: dict[str, Path]) -> None:
    import mhcflurry
    import torch

    info = json.loads((out / "build_info.json").read_text())
    calib = pd.read_csv(out / "calibrated_alleles.csv")
    overall = table.iloc[0]
    headline = table[table.allele.isin(REQUIRED_ALLELES)]
    hla_c = table[table.allele.str.startswith("HLA-C")]
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6

    below = headline[headline.auc_500nM < HEADLINE_TARGET]
    shortfall = ("All headline alleles meet the target." if below.empty else
                 "Below the target: " + ", ".join(
                     f"{r.allele} ({r.auc_500nM:.3f})" for r in below.itertuples())
                 + ". This compact ensemble is demo-grade; the published MHCflurry models "
                 "are better on these alleles.")

    def fmt(frame: pd.DataFrame) -> str:
        lines = ["| allele | held-out | quantitative | binders | AUC (< 500 nM) "
                 "| AUC, dropped labels put back | AUC, quantitative rows only | Spearman |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in frame.itertuples():
            lines.append(f"| {row.allele} | {row.n_heldout} | {row.n_quantitative} | "
                         f"{row.n_binders} | {row.auc_500nM:.3f} | "
                         f"{row.auc_with_dropped_labels:.3f} | {row.auc_quantitative:.3f} "
                         f"| {row.spearman:.3f} |")
        return "\n".join(lines)

    dropped = (pd.read_csv(out / "dropped_counts.csv").set_index("reason").rows.to_dict()
               if (out / "dropped_counts.csv").exists() else {})

    sources = "\n".join(
        f"| `{name}=={s['version']}` | `{s['member'] if is_archive(wheels[name]) else wheels[name]}` "
        f"| `{sha256_file(wheels[name])}` |"
        for name, s in SOURCES.items())
    card = f"""# NeoRank embedded MHCflurry models (DEMO-GRADE)

A compact pan-allele MHCflurry `Class1AffinityPredictor`, trained by
`scripts/build_models.py` with MHCflurry's own training code on public binding
data from registry packages. It exists so the demo and the tests run offline.
It is **not** the published MHCflurry 2.0 predictor: it predicts binding
affinity only (no antigen processing or presentation scores), it was trained on
a smaller data set with a smaller ensemble, and its percentile ranks cover only
the alleles listed in `calibrated_alleles.csv`. For real patients use
`mhcflurry.models: official` (see `config/README.md`).

## Provenance

| package (archive) | path inside it | archive sha256 |
|---|---|---|
{sources}

- Allele names normalised with mhcgnomes through `mhcflurry.common.normalize_allele_name`.
- Qualitative measurements become inequalities: positives `< value` (value <= 500 nM),
  negatives `> 5000 nM`. Repeats of one (allele, peptide, inequality) are merged
  by geometric mean. Peptides 8-15 aa, standard amino acids, alleles with a
  pseudosequence in `mhci_pseudo.fa`.
- Conflicting labels resolved (`resolve_conflicts`, counts in `dropped_counts.csv`):
  a qualitative row of an (allele, peptide) pair that also has a quantitative IC50 is
  dropped ({dropped.get('superseded_by_quantitative', 0)} rows: the IC50 measures the
  same thing more precisely), and so are qualitative-only pairs labelled both binder
  and non-binder ({dropped.get('contradictory_qualitative', 0)} rows). See "Conflicting
  labels" below.
- Held-out split: 10% of each allele's (allele, peptide) pairs, seed {info['seed']},
  drawn before conflicting labels are resolved (so the rule moves no pair between the
  sides), stored in `heldout.csv.gz` (the held-out rows whose label was dropped:
  `heldout_dropped.csv.gz`); never used for training, early stopping or model selection.
- Built with mhcflurry {mhcflurry.__version__}, torch {torch.__version__}.

## Architecture

Ensemble of {info['n_models']} pan-allele networks (geometric mean of member
predictions). Each member: BLOSUM62 peptide encoding (left-pad/centre/right-pad,
max 15) concatenated with the BLOSUM62-encoded 34-residue allele pseudosequence,
dense layers {ARCHITECTURE['layer_sizes']} with skip connections, tanh,
dropout {ARCHITECTURE['dropout_probability']}, sigmoid output on MHCflurry's
log-IC50 scale, MSE-with-inequalities loss, {ARCHITECTURE['optimizer']} (lr {ARCHITECTURE['learning_rate']}),
minibatch {ARCHITECTURE['minibatch_size']}, at most {ARCHITECTURE['max_epochs']} epochs
with early stopping (patience {ARCHITECTURE['patience']}) on a random 10% of the
*training* rows, random negatives by allele (rate {ARCHITECTURE['random_negative_rate']},
constant {ARCHITECTURE['random_negative_constant']}, 20-50 uM). Per-member changes
(`MEMBER_VARIANTS` in the build script): {json.dumps(MEMBER_VARIANTS[:info['n_models']])}.
{finetune_text(info.get('finetune'))}
Total training time: {info['training_seconds_total'] / 60:.1f} min on 2 CPU cores.
Folder size: {size_mb:.1f} MB.

## Held-out metrics

Overall: **AUC {overall.auc_500nM:.3f}** (binder < 500 nM) on {overall.n_heldout}
held-out measurements, **Spearman {overall.spearman:.3f}** on the
{overall.n_quantitative} quantitative ones.

Headline alleles (target: AUC >= {HEADLINE_TARGET}):

{fmt(headline)}

{shortfall}

## Conflicting labels

The measurements hold {sum(dropped.values())} qualitative labels (after repeats are merged)
that a quantitative IC50 of the same (allele, peptide) pair overrules or that contradict
each other. Before merging, 16,200 raw qualitative rows have an IC50 for their pair and
4,189 of them disagree with it on the 500 nM question; 2,468 of those come from one IEDB
submission (`K.Nair - purified MHC/direct/fluorescence`, 9-mers on eight alleles) that
often lists a peptide both as positive (`< 100 nM`) and as negative while its own
competitive IC50 for the pair is far above 5,000 nM. That submission's HLA-A*24:02
positives carry the allele's P2 anchor (Y/F) in 19% of cases, against 66% of the
allele's quantitative binders (HLA-A*02:01: 49% vs 89% with L/M/I/V/A). Trained on
these rows, an earlier ensemble (same architecture and seeds) reached held-out AUC 0.862
(HLA-A*02:01) and 0.808 (HLA-A*24:02) with every held-out row, and 0.910 / 0.930 on the
same held-out pairs once the conflicting held-out labels were left out; its other six
headline alleles were 0.896-0.959. The rule is decided on the measurements alone (which
label a pair keeps never depends on a prediction) and applies to training and held-out
rows alike. The column "dropped labels put back" shows this model's AUC with the dropped
held-out rows included, so the rule's effect on the figures stays visible: there this
ensemble is no better than the earlier one on HLA-A*02:01 and A*24:02; the rule changes
which labels are scored, not how well a model separates the disputed rows.

HLA-C has little public data (the largest training sets have a few hundred
measurements), so its predictions are weaker and mostly extrapolated from HLA-A/B:

{fmt(hla_c) if len(hla_c) else "No HLA-C allele has 50 or more held-out measurements."}

## Every allele with >= 50 held-out measurements

The same columns for all {len(table) - 1} alleles (also in `heldout_metrics.csv`);
{int((table.iloc[1:].auc_500nM >= HEADLINE_TARGET).sum())} of them reach AUC {HEADLINE_TARGET}.
An AUC of `nan` means the allele's held-out rows are all binders or all non-binders.

{fmt(table.iloc[1:])}

## Percentile ranks

Calibrated with `calibrate_percentile_ranks` on
{info['calibration_peptides_per_length']} uniform random peptides per length (8-15)
for the {len(calib)} alleles in `calibrated_alleles.csv` (each with its reason):
the alleles the demo and tests use ({int(calib.reason.str.contains('demo').sum())}), the
{N_FREQUENT_CALIBRATED} HLA-A/B/C alleles with the highest mean population
frequency ({', '.join(FREQUENCY_POPULATIONS)}: US African American, Asian/Pacific
Islander, European and Hispanic populations, from `{SOURCES['hla-genotyper']['member'].split('/', 1)[1]}`
of `hla-genotyper=={SOURCES['hla-genotyper']['version']}`, transplant-registry
frequencies supplemented with 1000 Genomes alleles; each allele's mean is in the
`population_frequency` column) and the {N_MEASURED_CALIBRATED} HLA-A/B/C alleles with
the most training measurements. {frequency_coverage(calib)}. Many frequent HLA-C
alleles have few or no training measurements (`training_measurements` column): their
affinities and percentiles are extrapolated from related alleles. Other alleles get
affinities but no percentile.

## Checksums

`SHA256SUMS` lists every file in this folder; the tests verify it.
"""
    (out / "MODEL_CARD.md").write_text(card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("resources/mhcflurry/embedded"))
    parser.add_argument("--work", type=Path, default=Path(".cache/build_models"),
                        help="resumable work folder (members, split)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/packages"),
                        help="where the source wheels are downloaded")
    parser.add_argument("--n-models", type=int, default=len(MEMBER_VARIANTS))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--max-rows", type=int, default=None,
                        help="subsample the measurements (smoke tests)")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--layer-sizes", type=str, default=None, help="e.g. 64,32")
    parser.add_argument("--finetune-epochs", type=int, default=0,
                        help="second-stage epochs per member (default 0: no second stage, "
                        "which rebuilds the committed models; "
                        f"{FINETUNE['max_epochs']} is the measured experiment: member 0's "
                        "held-out AUC 0.891 -> 0.910, about 10 min more per member)")
    parser.add_argument("--calibration-peptides", type=int, default=10000,
                        help="random peptides per length for percentile calibration")
    parser.add_argument("--n-frequent", type=int, default=N_FREQUENT_CALIBRATED,
                        help="calibrate the N HLA-A/B/C alleles of highest population frequency")
    parser.add_argument("--n-measured", type=int, default=N_MEASURED_CALIBRATED,
                        help="... and the N HLA-A/B/C alleles with the most training measurements")
    parser.add_argument("--recalibrate", action="store_true",
                        help="redo only the percentile calibration (and the card and checksums) "
                        "of the assembled --out folder, with the current allele list")
    parser.add_argument("--min-heldout", type=int, default=50)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--measurements", type=Path, default=None,
                        help="use this curated_training_data.csv instead of the mhcnuggets wheel")
    parser.add_argument("--pseudosequences", type=Path, default=None,
                        help="use this mhci_pseudo.fa instead of the mhcmatch wheel")
    parser.add_argument("--frequencies", type=Path, default=None,
                        help="use this ethnic_priors.txt instead of the hla-genotyper archive")
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.work / "build.log")])
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    architecture = dict(ARCHITECTURE)
    if args.max_epochs is not None:
        architecture["max_epochs"] = args.max_epochs
        ARCHITECTURE["max_epochs"] = args.max_epochs
    if args.layer_sizes:
        architecture["layer_sizes"] = [int(x) for x in args.layer_sizes.split(",")]
        ARCHITECTURE["layer_sizes"] = architecture["layer_sizes"]

    if args.measurements and args.pseudosequences:
        wheels = {"mhcnuggets": args.measurements, "mhcmatch": args.pseudosequences}
    else:
        wheels = fetch(args.cache, ["mhcnuggets", "mhcmatch"])
    wheels["hla-genotyper"] = args.frequencies or fetch(args.cache, ["hla-genotyper"])["hla-genotyper"]
    frequencies = population_frequencies(source_bytes("hla-genotyper", wheels).decode())

    def planned_calibration(counts: pd.Series, folder: Path) -> pd.DataFrame:
        known = set(pd.read_csv(folder / "allele_sequences.csv").allele)
        return calibration_alleles(counts, frequencies, known, args.n_frequent, args.n_measured)

    if args.recalibrate:
        calib = planned_calibration(pd.read_csv(args.out / "allele_training_counts.csv",
                                                index_col=0).training_measurements, args.out)
        recalibrate(args.out, calib, args.calibration_peptides, args.seed)
        table = evaluate(args.out, wheels, args.min_heldout)
        LOG.info("held-out overall: %s", table.iloc[0].to_dict())
        return 0
    prepare(args.work, args.out, wheels, args.seed, args.max_rows)
    train(args.work, args.n_models, args.seed, architecture)
    finetune_params = None
    if args.finetune_epochs > 0:
        finetune_params = dict(FINETUNE, max_epochs=min(
            args.finetune_epochs, args.max_epochs or args.finetune_epochs))
        finetune(args.work, args.n_models, args.seed, finetune_params)
    if (args.out / "manifest.csv").exists():  # finish a folder assembled by an older run
        if not (args.out / "allele_training_counts.csv").exists():
            write_training_counts(args.work, args.out)
        for name in ("heldout.csv.gz", "heldout_dropped.csv.gz", "dropped_counts.csv"):
            if not (args.out / name).exists() and (args.work / name).exists():
                shutil.copyfile(args.work / name, args.out / name)
        if not (args.out / "allele_names.json").exists():
            write_allele_name_table(args.out)
    calib = planned_calibration(pd.read_csv(args.work / "train.csv").allele.value_counts(),
                                args.work)
    assemble(args.work, args.out, args.n_models, calib, args.calibration_peptides,
             args.seed, finetune_params)
    table = evaluate(args.out, wheels, args.min_heldout)
    LOG.info("held-out overall: %s", table.iloc[0].to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
