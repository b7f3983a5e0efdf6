"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neorank.models import PORTABLE_NUMERICS

# Every test process predicts with the workflow's arithmetic, whatever touches torch first.
os.environ.update(PORTABLE_NUMERICS)

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "resources" / "reference"


@pytest.fixture(scope="session")
def mini_genome(tmp_path_factory):
    """The embedded Ensembl 87 subset as an indexed ``pyensembl.Genome``.

    Built once per session into a temporary cache root; that root is
    ``Path(mini_genome.download_cache.cache_directory_path).parent``, so a
    ``neorank annotate --cache-dir`` pointing there reuses the index.
    """
    from neorank.reference import load_local_genome

    cache_root = tmp_path_factory.mktemp("reference-cache")
    return load_local_genome(
        REFERENCE_DIR / "reference.gtf.gz",
        REFERENCE_DIR / "reference.cdna.fa.gz",
        REFERENCE_DIR / "reference.pep.fa.gz",
        cache_root=cache_root,
        reference_name="GRCh38",
        release=87,
    )


#: Test files that share one expensive set-up run whole on one pytest-xdist worker
#: (``make test`` runs two): the demo run (the ``run`` fixture), the presentation
#: download, the SLURM cluster. Listed in the order they start; every other test is
#: scheduled on its own. The SLURM group comes first: it mostly waits on sbatch and the
#: plugin's status checks, so the other worker's work fills that time.
GROUPS = {
    "slurm": ["tests/workflow/test_slurm.py"],
    "demo": ["tests/workflow/test_deploy.py", "tests/workflow/test_resume.py",
             "tests/workflow/test_vaccine_workflow.py", "tests/workflow/test_workflow.py"],
    "presentation": ["tests/unit/test_presentation_models.py",
                     "tests/workflow/test_presentation.py"],
}
#: The session fixture behind each group: a test using it must be in one of its files.
GROUP_FIXTURES = {"run": "demo", "download": "presentation", "data_dir": "presentation",
                  "slurm_cluster": "slurm"}
FILE_GROUP = {path: group for group, paths in GROUPS.items() for path in paths}


def group_of(nodeid: str) -> str | None:
    return FILE_GROUP.get(nodeid.split("::", 1)[0])


def pytest_collection_modifyitems(config, items):
    """Put the groups first (in ``GROUPS``' order); refuse a test whose shared fixture's group
    is not its file's (it would set the fixture up a second time on another worker)."""
    for item in items:
        for fixture, group in GROUP_FIXTURES.items():
            if fixture in item.fixturenames and group_of(item.nodeid) != group:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the {fixture!r} fixture: add its file to "
                    f"GROUPS[{group!r}] in tests/conftest.py")
    rank = {group: i for i, group in enumerate(GROUPS)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(GROUPS)))  # stable


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` by the file table above. (pytest-xdist's own loadgroup
    reads ``xdist_group`` marks from a suffix it writes into the test id, which
    pytest 9.2 no longer lets it change: every test would be scheduled alone.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return FileGroupScheduling(config, log)
