"""NeoRank deployed the ways users deploy it: as a Snakemake module in their own
project folder (what ``snakedeploy deploy-workflow`` writes), and as an installed
wheel run from an empty folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from test_workflow import MODULE_SNAKEFILE, SAMPLES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow


def test_workflow_as_a_snakemake_module_gives_the_demo_bytes(run):
    """The session's demo run is a project folder with its own config/ and a Snakefile
    that uses NeoRank as a module (as snakedeploy lays it out), run from that folder.
    It predicts everything anew (its own, empty prediction cache), and its tables are
    the demo's listed bytes (tests/data/demo_outputs.sha256, which `make demo` in the
    repository also gives): the same inputs give the same tables wherever they run and
    whether predictions are made or read from a cache."""
    assert (run / "Snakefile").read_text() == MODULE_SNAKEFILE.format(
        snakefile=ROOT / "workflow" / "Snakefile")
    first = json.loads((run / "first_run.json").read_text())
    # Every pair in its cache was predicted by this run's jobs (none came from elsewhere).
    predicted = [int(re.search(r", (\d+) predicted$", line).group(1))
                 for line in first["cache_lines"]]
    logs = {line.split("\t")[0] for line in first["cache_lines"]}
    assert logs == {f"logs/{job}" for sample in SAMPLES for job in (
        f"predict/{sample}/1-of-2.log", f"predict/{sample}/2-of-2.log", f"vaccine/{sample}.log")}
    assert first["cache_rows"] > 100_000
    assert sum(predicted) == first["cache_rows"]
    for sample in SAMPLES:
        assert (run / "results" / sample / "report.html").stat().st_size > 10_000
    assert first["demo_hashes_exit"] == 0, first["demo_hashes"]
    assert re.search(r"all \d+ files as listed", first["demo_hashes"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(dist), str(ROOT)], check=True, timeout=600,
                   capture_output=True)
    (found,) = dist.glob("neorank-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with only the wheel installed; its dependencies are made
    visible from the test environment through a path file (nothing else of the
    checkout: the editable install's finder is not loaded there)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--quiet", str(wheel)], check=True, timeout=300,
                   capture_output=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    (Path(site.stdout.strip()) / "neorank-test-deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_holds_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("neorank/cli.py", "neorank/report/__init__.py", "neorank/tables.py",
                   "neorank/resources.py", "neorank/eligibility.py"):
        assert module in names, module
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "neorank = neorank.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def _neorank(venv: Path, cwd: Path, *args: str, resources: str | None):
    env = {k: v for k, v in os.environ.items() if k != "NEORANK_RESOURCES"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if resources is not None:
        env["NEORANK_RESOURCES"] = resources
    return subprocess.run([str(venv / "bin" / "neorank"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_installed_wheel_runs_from_an_empty_folder(installed, tmp_path):
    empty = tmp_path / "anywhere"
    empty.mkdir()
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import neorank; print(neorank.__file__)"],
                           cwd=empty, capture_output=True, text=True, check=True)
    assert str(installed) in where.stdout  # the wheel's copy, not the checkout
    help_text = _neorank(installed, empty, "preflight", "--help", resources=None)
    assert help_text.returncode == 0 and "--paired-vcf" in help_text.stdout

    (empty / "in.tsv").write_text("mutant\tallele\nSIINFEKL\tHLA-A*02:01\n"
                                  "GILGFVFTL\tHLA-A*02:01\n")
    # Without the resources the error names the setting and how to fix it.
    missing = _neorank(installed, empty, "score", "--input", "in.tsv", "--out", "out.tsv",
                       resources=None)
    assert missing.returncode == 2, missing.stderr
    assert "NEORANK_RESOURCES" in missing.stderr and "Traceback" not in missing.stderr
    scored = _neorank(installed, empty, "score", "--input", "in.tsv", "--out", "out.tsv",
                      resources=str(ROOT / "resources"))
    assert scored.returncode == 0, scored.stderr[-3000:]
    lines = (empty / "out.tsv").read_text().splitlines()
    assert len(lines) == 3 and "affinity_nm" in lines[0].split("\t")
    assert sorted(p.name for p in empty.iterdir()) == ["in.tsv", "out.tsv"]
