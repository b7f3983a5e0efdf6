"""scripts/demo_hashes.py: the list of the demo's output bytes the workflow tests check."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo_hashes.py"
LIST = ROOT / "tests" / "data" / "demo_outputs.sha256"


def demo_hashes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def fake_results(root: Path) -> Path:
    results = root / "results"
    for name, text in {"S1/candidates.tsv": "a\n", "S1/pvacseq/S1.metrics.json": "{}\n",
                       "effects/S1.tsv": "b\n", "S1/manifest.json": "/tmp/run1\n",
                       "S1/report.html": "<html>1</html>\n", "run_config.json": "{}\n",
                       "preflight/S1.tsv": "/tmp/run1/in.vcf\n"}.items():
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(text)
    return results


def test_write_lists_every_file_but_the_run_specific_ones(tmp_path):
    results = fake_results(tmp_path)
    listed = tmp_path / "list.sha256"
    assert demo_hashes(str(results), "--write", "--list", str(listed)).returncode == 0
    lines = listed.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "S1/candidates.tsv", "S1/pvacseq/S1.metrics.json", "effects/S1.tsv"]
    # sha256sum's own format: `sha256sum -c` reads it from results/.
    digest = hashlib.sha256(b"a\n").hexdigest()
    assert lines[0] == f"{digest}  S1/candidates.tsv"
    checked = demo_hashes(str(results), "--check", "--list", str(listed))
    assert checked.returncode == 0 and "all 3 files as listed" in checked.stdout

    # Run-specific files may differ; a listed table may not, nor go missing or be new.
    (results / "S1" / "manifest.json").write_text("/tmp/run2\n")
    assert demo_hashes(str(results), "--check", "--list", str(listed)).returncode == 0
    (results / "S1" / "candidates.tsv").write_text("a changed\n")
    (results / "effects" / "S1.tsv").unlink()
    (results / "S1" / "extra.tsv").write_text("c\n")
    checked = demo_hashes(str(results), "--check", "--list", str(listed))
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        "differs: S1/candidates.tsv", "missing: effects/S1.tsv", "not in the list: S1/extra.tsv",
        f"3 difference(s) from {listed}"]


def test_the_committed_list_covers_both_demo_samples():
    names = [line.split("  ")[1] for line in LIST.read_text().splitlines()]
    assert names == sorted(names)
    for sample in ("osteosarc-paired", "osteosarc-separate"):
        for table in ("variants.tsv", "peptides.tsv", "predictions.parquet", "candidates.tsv",
                      "aggregated.tsv", "vaccine_peptides.tsv", "vaccine_mrna.tsv",
                      "vaccine_junctions.tsv", "eligibility.json", "summary.tsv",
                      "candidates.xlsx"):
            assert f"{sample}/{table}" in names, (sample, table)
        assert f"{sample}/manifest.json" not in names and f"{sample}/report.html" not in names


def test_a_missing_results_folder_is_a_clear_error(tmp_path):
    done = demo_hashes(str(tmp_path / "results"), "--check")
    assert done.returncode == 2 and "run `make demo` first" in done.stderr
