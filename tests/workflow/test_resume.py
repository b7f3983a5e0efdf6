"""Resume: a run killed mid-way completes on rerun without redoing finished jobs.

One demo sample is run in a fresh directory; as soon as the first MHCflurry
prediction shard has finished (somatic, annotate and peptides are then done, and
the other shard is usually still running), the whole process group is killed
with SIGKILL, the harshest case (no cleanup: a crash, an OOM kill or a lost
node). Snakemake then refuses to start until ``--unlock`` (its documented
message), and the rerun must: finish, run no job whose outputs were complete,
leave those outputs untouched (same mtime), and give tables byte-identical to
the session's uninterrupted run (the ``run`` fixture).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_workflow import BIN, ROOT, snakemake, write_run_dir

pytestmark = pytest.mark.workflow

SAMPLE = "osteosarc-paired"
FINAL = ["somatic.vcf.gz", "variants.tsv", "peptides.tsv", "predictions.parquet", "alleles.json",
         "candidates.tsv"]
TARGETS = [f"results/{SAMPLE}/{name}" for name in (*FINAL, "report.html", "manifest.json")]
# A job block of Snakemake's log: "[local]rule NAME:" ... "output: a, b" ... "jobid: N".
JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", re.MULTILINE)


def jobs(log: str) -> dict[str, tuple[str, list[str]]]:
    """Jobs started in a Snakemake log: jobid -> (rule, outputs)."""
    found = {}
    for rule, body in JOB.findall(log):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, flags=re.MULTILINE))
        outputs = [o.strip() for o in fields.get("output", "").split(",") if o.strip()]
        found[fields["jobid"]] = (rule, outputs)
    return found


def finished(log: str) -> set[str]:
    return set(re.findall(r"^Finished jobid: (\d+) ", log, flags=re.MULTILINE))


def start_and_kill(workdir: Path, log_path: Path, timeout: float = 900) -> str:
    """Start Snakemake; SIGKILL its process group once a predict shard has finished."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *TARGETS]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + timeout  # a guard only: about 1 min on an idle machine
    killed = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            text = log_path.read_text()
            done = finished(text)
            if any(rule == "predict" for jid, (rule, _) in jobs(text).items() if jid in done):
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    text = log_path.read_text()
    assert killed, f"no prediction shard finished within {timeout:.0f} s:\n{text[-3000:]}"
    assert proc.returncode == -signal.SIGKILL, (
        f"the run was not killed mid-way (exit {proc.returncode}):\n{text[-3000:]}")
    return text


def test_killed_run_resumes_without_redoing_finished_jobs(run, tmp_path):
    workdir = tmp_path / "resume"
    write_run_dir(workdir)
    first = start_and_kill(workdir, tmp_path / "first.log")

    started, done = jobs(first), finished(first)
    complete = {out for jid, (_, outs) in started.items() if jid in done for out in outs}
    interrupted = {jid: job for jid, job in started.items() if jid not in done}
    done_rules = {started[jid][0] for jid in done}
    assert {"somatic", "annotate", "peptides", "predict"} <= done_rules
    assert "rank" not in done_rules and "report" not in done_rules
    # Finished outputs, except the temp() prediction shards (gather deletes them).
    kept = {out for out in complete if not out.startswith("results/predict/")}
    mtimes = {out: (workdir / out).stat().st_mtime_ns for out in kept}

    # The stale lock left by SIGKILL: a clear message that says what to do.
    locked = snakemake(workdir, *TARGETS, check=False)
    assert locked.returncode != 0
    assert "--unlock" in locked.stdout + locked.stderr
    snakemake(workdir, "--unlock")

    second = snakemake(workdir, *TARGETS, "--show-failed-logs")
    log = second.stdout + second.stderr
    rerun = jobs(log)
    redone = {out for _, outs in rerun.values() for out in outs} & complete
    assert not redone, f"finished jobs were run again: {sorted(redone)}"
    rerun_rules = [rule for rule, _ in rerun.values()]
    assert "somatic" not in rerun_rules and "annotate" not in rerun_rules
    assert rerun_rules.count("predict") == 2 - sum(
        1 for jid in done if started[jid][0] == "predict")
    # Jobs that were running when the run was killed are redone from scratch.
    interrupted_outputs = {out for _, outs in interrupted.values() for out in outs}
    assert interrupted_outputs <= {out for _, outs in rerun.values() for out in outs}
    for out, mtime in mtimes.items():
        assert (workdir / out).stat().st_mtime_ns == mtime, f"{out} was rewritten"
    assert not any((workdir / ".snakemake" / "incomplete").iterdir())

    for name in FINAL:
        resumed = (workdir / "results" / SAMPLE / name).read_bytes()
        assert resumed == (run / "results" / SAMPLE / name).read_bytes(), name
    assert (workdir / "results" / SAMPLE / "report.html").stat().st_size > 0
