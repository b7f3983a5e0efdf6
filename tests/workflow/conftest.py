"""Fixtures shared by the workflow tests.

``run``: one uninterrupted run of the demo (both samples) per test session,
in a temporary directory with the repository's resources used in place. The
workflow tests read its outputs; the resume and security tests compare against
it. The helpers to set up and run a directory (``write_run_dir``,
``snakemake``) live in test_workflow.py and are imported from there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_workflow import snakemake, write_run_dir


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    write_run_dir(workdir)
    snakemake(workdir, "--show-failed-logs")
    return workdir
