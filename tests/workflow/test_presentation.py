"""The workflow on MHCflurry presentation models (a models_class1_presentation download).

The download is the small one built by ``tests/presentation_models.py`` in the
exact layout of ``mhcflurry-downloads fetch models_class1_presentation``. The demo
runs on it twice, one sample each, to ``candidates.tsv`` and ``report.html``:

``folder``
    ``mhcflurry.models: <the download's models folder>``, MHCflurry's download
    variables unset.
``official``
    ``mhcflurry.models: official`` with ``official_dir`` empty and
    ``MHCFLURRY_DATA_DIR`` pointing at the download, as a user who ran the fetch
    has it; the workflow's ``fetch_mhcflurry_models`` rule runs and finds the
    download already there (nothing is downloaded).

Both runs share one reference cache (the index is built once, first) and run at
the same time; the folder mode predicts in one job, the official mode in the
config's two shards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import mhcflurry.downloads as downloads
import numpy as np
import pandas as pd
import pytest
import yaml
from presentation_models import (
    BUILD_SECONDS,
    models_dir,
    reference_proteins,
    session_download,
)
from test_workflow import BIN, ROOT, snakemake, write_run_dir

from neorank.models import load_predictor, models_checksum

pytestmark = pytest.mark.workflow

SAMPLE = "osteosarc-paired"
TARGETS = [f"results/{SAMPLE}/candidates.tsv", f"results/{SAMPLE}/report.html"]
MODES = ["folder", "official"]
PRESENTATION_COLUMNS = ["presentation_score", "presentation_percentile", "processing_score"]
#: Wall-clock seconds of each mode's run (printed with -s / in the report line).
SECONDS: dict[str, float] = {}


def table(run: Path, sample: str, name: str) -> pd.DataFrame:
    """A results table; ``NA`` is missing except in the flanks (sequence: Asn-Ala)."""
    path = run / "results" / sample / name
    if name.endswith(".parquet"):  # typed columns: flanks are text, never missing
        return pd.read_parquet(path)
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    return pd.read_csv(path, sep="\t", keep_default_na=False,
                       na_values={c: ["NA"] for c in header if c not in ("n_flank", "c_flank")})


@pytest.fixture(scope="module")
def download(tmp_path_factory) -> Path:
    return session_download(tmp_path_factory)


def configure(workdir: Path, models: str, reference_cache: Path, shards: int) -> dict:
    """The demo's run directory (``write_run_dir``) on these models, one reference cache."""
    write_run_dir(workdir)
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["mhcflurry"]["models"] = models
    config["mhcflurry"]["official_dir"] = ""
    config["mhcflurry"]["shards"] = shards
    config["reference"]["cache_dir"] = str(reference_cache)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def start_snakemake(workdir: Path, environment: dict[str, str], *args: str) -> subprocess.Popen:
    """``test_workflow.snakemake`` started in the background, in its own environment
    (MHCflurry's download variables only as given) and process group; its output goes
    to ``<workdir>/snakemake.out``."""
    env = {k: v for k, v in os.environ.items() if k not in downloads.ENVIRONMENT_VARIABLES}
    env.update(environment, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *args]
    with open(workdir / "snakemake.out", "w") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)


@pytest.fixture(scope="module")
def runs(download, tmp_path_factory) -> dict[str, Path]:
    """Both modes, run at the same time (the demo DAG is mostly a chain of one-core jobs).

    The folder mode predicts in one job and the official mode in the config's two
    shards, so equal tables from both also show that the scatter changes nothing.
    """
    folder = models_dir(download)
    reference_cache = tmp_path_factory.mktemp("reference-cache")
    workdirs = {mode: tmp_path_factory.mktemp(f"presentation-{mode}") for mode in MODES}
    config = configure(workdirs["folder"], str(folder), reference_cache, shards=1)
    configure(workdirs["official"], "official", reference_cache, shards=2)
    environments = {"folder": {}, "official": {"MHCFLURRY_DATA_DIR": str(download)}}
    # The shared reference index first, once; then both runs only read it.
    snakemake(workdirs["folder"], f"{reference_cache}/{config['reference']['name']}.ready")
    start = time.monotonic()
    jobs = {mode: start_snakemake(workdirs[mode], environments[mode], "--show-failed-logs",
                                  *TARGETS) for mode in MODES}
    try:
        while len(SECONDS) < len(jobs) and time.monotonic() - start < 900:
            for mode, job in jobs.items():
                if mode not in SECONDS and job.poll() is not None:
                    SECONDS[mode] = time.monotonic() - start
            time.sleep(0.5)
    finally:
        for job in jobs.values():
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGTERM)
                job.wait()
    failures = [f"{mode}: snakemake exited {job.returncode}:\n"
                f"{(workdirs[mode] / 'snakemake.out').read_text()[-8000:]}"
                for mode, job in jobs.items() if job.returncode != 0]
    assert not failures, "\n".join(failures)
    print("models built in (s):", [round(v, 1) for v in BUILD_SECONDS],
          "presentation workflow runs (s, concurrent):",
          {k: round(v, 1) for k, v in SECONDS.items()})
    return workdirs


@pytest.fixture(scope="module")
def predictor(download):
    return load_predictor(str(models_dir(download)), "")


@pytest.mark.parametrize("mode", MODES)
def test_presentation_and_processing_in_predictions_and_candidates(runs, mode):
    predictions = table(runs[mode], SAMPLE, "predictions.parquet")
    candidates = table(runs[mode], SAMPLE, "candidates.tsv")
    label = "official" if mode == "official" else "models"
    for frame in (predictions, candidates):
        assert len(frame) > 1000
        assert frame[PRESENTATION_COLUMNS].notna().all().all()
        assert frame.presentation_score.between(0, 1).all()
        assert frame.processing_score.between(0, 1).all()
        assert frame.presentation_percentile.between(0, 100).all()
        assert frame.presentation_score.nunique() > 100
        assert (frame.predictor == f"mhcflurry-2.3.16/{label}").all()
    assert len(candidates) == len(predictions)


def test_both_modes_give_the_same_predictions(runs):
    """The same models, reached as a folder or as MHCflurry's download."""
    folder = table(runs["folder"], SAMPLE, "predictions.parquet").drop(columns="predictor")
    official = table(runs["official"], SAMPLE, "predictions.parquet").drop(columns="predictor")
    pd.testing.assert_frame_equal(folder, official)


@pytest.mark.parametrize("mode", MODES)
def test_flanks_are_the_peptides_table_flanks_from_the_transcript(runs, mode, predictor):
    run = runs[mode]
    peptides = table(run, SAMPLE, "peptides.tsv")
    predictions = table(run, SAMPLE, "predictions.parquet")
    candidates = table(run, SAMPLE, "candidates.tsv")
    key = ["variant_id", "mutant_peptide"]
    flanks = peptides.set_index(key)[["n_flank", "c_flank"]]
    for frame in (predictions, candidates):
        used = frame.set_index(key)[["n_flank", "c_flank"]]
        assert used.equals(flanks.reindex(used.index))

    # Flanks come from the transcript's protein: for substitutions the wildtype
    # window with its flanks is a stretch of one of the peptide's transcripts.
    proteins = reference_proteins()
    substitutions = candidates[(candidates.effect == "Substitution")
                               & candidates.wildtype_peptide.notna()]
    assert len(substitutions) > 100
    for row in substitutions.drop_duplicates(key).itertuples():
        window = f"{row.n_flank}{row.wildtype_peptide}{row.c_flank}"
        assert any(window in proteins[t] for t in row.transcript_ids.split(";")), row
    # The best-ranked one with whole flanks, residue by residue.
    top = substitutions[(substitutions.n_flank.str.len() == 15)
                        & (substitutions.c_flank.str.len() == 15)].iloc[0]
    protein = next(proteins[t] for t in top.transcript_ids.split(";")
                   if top.n_flank + top.wildtype_peptide + top.c_flank in proteins[t])
    start = protein.index(top.n_flank + top.wildtype_peptide) + 15
    assert protein[start - 15:start] == top.n_flank
    assert protein[start + len(top.mutant_peptide):][:15] == top.c_flank

    # The processing scores are those of these flanks (and the flanks matter).
    best = candidates.drop_duplicates(key).head(40)
    alleles = sorted(set(candidates.allele))
    scores = predictor.presentation(list(best.mutant_peptide), list(best.n_flank),
                                    list(best.c_flank), alleles)
    written = best.processing_score.to_numpy()
    assert np.allclose(scores.processing_score, written, rtol=1e-5, atol=0)
    flankless = predictor.presentation(list(best.mutant_peptide), [""] * len(best),
                                       [""] * len(best), alleles)
    assert not np.allclose(flankless.processing_score, written, rtol=1e-3, atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_ranking_uses_presentation(runs, mode):
    candidates = table(runs[mode], SAMPLE, "candidates.tsv")
    assert set(candidates.pass_presentation) == {"pass", "fail"}
    assert ((candidates.pass_presentation == "pass")
            == (candidates.presentation_percentile <= 2.0)).all()
    assert candidates.score_components.str.split(";").map(lambda c: "presentation" in c).all()
    # A binder failing only presentation is a WeakBinder, never Pass.
    assert not ((candidates.tier == "Pass") & (candidates.pass_presentation == "fail")).any()
    assert (candidates.tier == "Pass").any()


@pytest.mark.parametrize("mode", MODES)
def test_report_and_eligibility_are_not_affinity_only(runs, mode):
    html = (runs[mode] / "results" / SAMPLE / "report.html").read_text()
    candidates = table(runs[mode], SAMPLE, "candidates.tsv")
    assert candidates.iloc[0].candidate_id in html
    for text in ("Affinity-only", "affinity-only", "DEMO-GRADE"):
        assert text not in html
    eligibility = (runs[mode] / "results" / SAMPLE / "eligibility.json").read_text()
    assert "affinity-only" not in eligibility.lower()


def test_official_mode_found_the_download_without_fetching(runs, download):
    run = runs["official"]
    log = (run / "logs" / "reference" / "fetch_mhcflurry_models.log").read_text()
    assert "has already been downloaded" in log
    assert "Fetching 0/" in log
    manifest = json.loads((run / "results" / SAMPLE / "manifest.json").read_text())
    assert models_checksum(models_dir(download)) in json.dumps(manifest)
    predict_logs = "".join(p.read_text() for p in (run / "logs" / "predict" / SAMPLE).iterdir())
    assert str(models_dir(download)) in predict_logs
