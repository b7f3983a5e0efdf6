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
