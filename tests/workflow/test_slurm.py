"""The workflow through SLURM with workflow/profiles/slurm (snakemake-executor-plugin-slurm).

Needs a reachable SLURM cluster with an idle node, e.g. the single-node one of
``sudo scripts/local_slurm.sh start``; without one every test here is skipped.
The run directory is a temporary copy of the config with absolute paths
(``write_run_dir`` from test_workflow.py); the repository's resources are used
in place and must sit on a file system the SLURM node sees (true on one node).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_workflow import BIN, ROOT, SAMPLES, demo_hashes_check, write_run_dir

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

PROFILE = ROOT / "workflow" / "profiles" / "slurm"
MODELS_MANIFEST = ROOT / "resources" / "mhcflurry" / "embedded" / "manifest.csv"
# The plugin's first status check comes 40 s after a submission; on a one-node
# test cluster 5 s keeps the run short without changing anything else.
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "5")


def idle_slurm_node() -> str | None:
    """Why SLURM cannot be used here, or None when a node is idle."""
    if shutil.which("sinfo") is None:
        return "sinfo not on PATH (start a cluster with: sudo scripts/local_slurm.sh start)"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no SLURM controller answering"
    if states.returncode != 0:
        return f"sinfo failed: {states.stderr.strip()[:200]}"
    if not {"idle", "mix"} & set(states.stdout.split()):
        return f"no idle SLURM node (sinfo states: {' '.join(states.stdout.split()) or 'none'})"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    reason = idle_slurm_node()
    if reason:
        pytest.skip(reason)


def snakemake_slurm(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(ROOT / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--workflow-profile",
        str(PROFILE),
        *args,
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def slurm_job_ids(log_text: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", log_text)


def assert_completed_in_slurm(job_ids: list[str]) -> None:
    """SLURM itself reports the jobs as finished (squeue keeps them for MinJobAge)."""
    for job_id in job_ids:
        shown = subprocess.run(
            ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=20
        )
        if shown.returncode == 0:  # older jobs may already have aged out of slurmctld
            assert "JobState=COMPLETED" in shown.stdout, shown.stdout


def slurm_logs(workdir: Path) -> dict[str, list[Path]]:
    """The SLURM job logs (sbatch --output) by job kind, e.g. rule_predict, group_per_sample_..."""
    root = workdir / ".snakemake" / "slurm_logs"
    logs: dict[str, list[Path]] = {}
    for path in root.rglob("*.log"):
        logs.setdefault(path.relative_to(root).parts[0], []).append(path)
    return logs


def job_outputs(log_text: str) -> set[str]:
    """The outputs of the jobs a Snakemake log shows (group members included)."""
    lines = re.findall(r"^ +output: (.*)$", log_text, flags=re.MULTILINE)
    return {path.strip() for line in lines for path in line.split(",")}


def rules_run_locally(log_text: str) -> set[str]:
    return set(re.findall(r"^localrule (\w+):", log_text, flags=re.MULTILINE))


def local_rules() -> set[str]:
    """Rules marked ``localrule: True`` in the workflow (they run in the Snakemake process)."""
    names = set()
    for path in [ROOT / "workflow" / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.split(r"(?m)^\s*rule (?=\w+:)", path.read_text())[1:]:
            if re.search(r"^\s+localrule: True$", block.split("\nrule ", 1)[0], flags=re.MULTILINE):
                names.add(block.split(":", 1)[0])
    return names


LOCAL_RULES = local_rules()


def planned_rules(plan_text: str) -> set[str]:
    """Rule names from the 'Job stats' table of a dry run."""
    table = plan_text.split("Job stats:", 1)[1].split("total", 1)[0]
    return set(re.findall(r"^(\w+)\s+\d+\s*$", table, flags=re.MULTILINE)) - {"job"}


@pytest.fixture(scope="module")
def first_stages(tmp_path_factory) -> tuple[Path, str, str]:
    """A dry run of the cohort, then one sample up to its peptides, all through sbatch:
    the run directory, the dry run's output and the run's log."""
    workdir = tmp_path_factory.mktemp("slurm")
    write_run_dir(workdir)
    plan = snakemake_slurm(workdir, "-n")
    run = snakemake_slurm(
        workdir, *FAST_POLL, "--slurm-keep-successful-logs", f"results/{SAMPLES[0]}/peptides.tsv"
    )
    return workdir, plan.stdout + plan.stderr, run.stdout + run.stderr


def test_dry_run_then_first_stages_run_on_slurm(first_stages):
    workdir, text, log = first_stages
    assert "Group job per_sample " in text and "Group job per_sample_tail " in text
    assert "mem_mb=4000" in text  # predict's set-resources (attempt 1)
    assert {"somatic", "predict", "rank"} <= planned_rules(text)

    assert (workdir / "results" / SAMPLES[0] / "peptides.tsv").stat().st_size > 0
    assert not (workdir / "results" / SAMPLES[1]).exists()
    assert rules_run_locally(log) == set()
    # index_reference, preflight, then somatic+annotate+peptides as one group job.
    logs = slurm_logs(workdir)
    assert set(logs) == {
        "rule_index_reference",
        "rule_preflight",
        "group_per_sample_annotate_peptides_somatic",
    }, sorted(logs)
    assert all(len(paths) == 1 for paths in logs.values())
    assert all("Finished" in path.read_text() for paths in logs.values() for path in paths)
    job_ids = slurm_job_ids(log)
    assert len(job_ids) == 3, log[-3000:]
    assert_completed_in_slurm(job_ids)


@pytest.mark.skipif(
    not MODELS_MANIFEST.exists(),
    reason=f"embedded MHCflurry models not built ({MODELS_MANIFEST} missing)",
)
def test_demo_cohort_through_slurm(first_stages):
    """The whole cohort, in the first stages' directory: the run goes on from there
    (their jobs are not submitted again) and every other job goes through sbatch."""
    workdir, plan, first_log = first_stages
    remote_rules = planned_rules(plan) - LOCAL_RULES
    run = snakemake_slurm(workdir, *FAST_POLL, "--slurm-keep-successful-logs")
    log = run.stdout + run.stderr
    for sample in SAMPLES:
        for name in (
            "somatic.vcf.gz",
            "variants.tsv",
            "peptides.tsv",
            "predictions.parquet",
            "candidates.tsv",
            "report.html",
            "manifest.json",
        ):
            assert (workdir / "results" / sample / name).stat().st_size > 0, (sample, name)
    # Only the rules marked `localrule` ran in the Snakemake process; every other
    # rule went through sbatch (alone, or inside a group job named after its rules),
    # and SLURM wrote a log for each job.
    assert rules_run_locally(log) <= LOCAL_RULES
    # The first stages' jobs (their outputs) are not run again.
    assert job_outputs(first_log) and not job_outputs(first_log) & job_outputs(log)
    logs = slurm_logs(workdir)
    for rule in remote_rules:
        assert any(re.search(rf"(^rule|_){rule}(_|$)", kind) for kind in logs), (rule, sorted(logs))
    assert len(logs["rule_predict"]) >= len(SAMPLES)
    for group in ("per_sample_annotate", "per_sample_tail"):
        paths = [p for kind, ps in logs.items() if kind.startswith(f"group_{group}") for p in ps]
        assert len(paths) == len(SAMPLES), (group, sorted(logs))
    assert all("Finished" in path.read_text() for paths in logs.values() for path in paths)
    job_ids = slurm_job_ids(first_log) + slurm_job_ids(log)
    assert len(job_ids) == sum(len(paths) for paths in logs.values()), log[-3000:]
    assert_completed_in_slurm(slurm_job_ids(log))
    # Through sbatch, with its own fresh prediction cache: the demo's listed bytes.
    check = demo_hashes_check(workdir / "results")
    assert check.returncode == 0, check.stdout + check.stderr
