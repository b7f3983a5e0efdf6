"""Fixtures shared by the workflow tests.

``run``: one uninterrupted run of the demo (both samples) per test session, deployed
the way users deploy NeoRank: a project folder with its own config/ and a Snakefile
using NeoRank as a Snakemake module, in a temporary directory, the repository's
resources used in place, every prediction made anew (its own, empty prediction cache).
Right after the run, before other tests rerun parts of it, ``first_run.json`` keeps
what tests/workflow/test_deploy.py checks: ``scripts/demo_hashes.py --check`` on its
results, the prediction-cache lines of its logs and the cache's row count. The workflow
tests read its outputs; the resume and security tests compare against it. The helpers
to set up and run a directory (``write_run_dir``, ``write_module_project``,
``snakemake``) live in test_workflow.py and are imported from there.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_workflow import demo_hashes_check, snakemake, write_module_project


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("demo") / "my-project"
    write_module_project(workdir)
    snakemake(workdir, "--show-failed-logs")
    check = demo_hashes_check(workdir / "results")
    with sqlite3.connect(workdir / "cache" / "predictions.sqlite") as cache:
        (rows,) = cache.execute("SELECT COUNT(*) FROM affinity").fetchone()
    cache_lines = [f"{log.relative_to(workdir)}\t{line}"
                   for log in sorted((workdir / "logs").glob("**/*.log"))
                   for line in log.read_text().splitlines() if "prediction cache" in line]
    (workdir / "first_run.json").write_text(json.dumps({
        "demo_hashes_exit": check.returncode, "demo_hashes": check.stdout + check.stderr,
        "cache_rows": rows, "cache_lines": cache_lines}, indent=1))
    return workdir
