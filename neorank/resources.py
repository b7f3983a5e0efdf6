"""Where NeoRank's shipped resources are: the embedded models, reference subset, demo.

A layer below every stage. Shipped resources are found relative to the
package, never the working directory, so ``neorank`` commands and the
workflow work from any folder:

1. the folder named by the ``NEORANK_RESOURCES`` environment variable, if set;
2. ``neorank/_resources`` inside an installed wheel (package data);
3. ``resources/`` beside the package in a source checkout (``pip install -e``).

User paths (sample sheets, VCFs, config files, caches) stay relative to the
working directory, as Snakemake resolves them.
"""

from __future__ import annotations

import os
from pathlib import Path

from neorank.errors import ModelError

ENV = "NEORANK_RESOURCES"
#: The marker file every resources folder holds (checked to tell one from any folder).
MARKER = Path("mhcflurry") / "embedded" / "manifest.csv"


def candidates() -> list[tuple[Path, str]]:
    """The folders searched, in order, each with how it was found."""
    package = Path(__file__).resolve().parent
    found = []
    if os.environ.get(ENV):
        found.append((Path(os.environ[ENV]).expanduser(), f"${ENV}"))
    found.append((package / "_resources", "installed package data"))
    found.append((package.parent / "resources", "source checkout"))
    return found


def resources_dir() -> Path:
    """The shipped resources folder (see the module docstring for the search order).

    Raises
    ------
    ModelError
        No candidate holds the embedded models; the message lists where it looked.
    """
    tried = candidates()
    if os.environ.get(ENV):
        folder, how = tried[0]
        if (folder / MARKER).is_file():
            return folder
        raise ModelError(f"{ENV} does not point at NeoRank's resources folder "
                         f"({MARKER} is missing)", where=str(folder),
                         fix=f"set {ENV} to the resources/ folder of a NeoRank checkout or "
                             "release (it holds mhcflurry/embedded and reference/), or unset it")
    for folder, _how in tried:
        if (folder / MARKER).is_file():
            return folder
    raise ModelError(
        "NeoRank's shipped resources (embedded models, reference subset) were not found; "
        "looked in " + ", ".join(f"{folder} ({how})" for folder, how in tried),
        where=ENV,
        fix=f"set {ENV} to the resources/ folder of a NeoRank checkout or release, or "
            "reinstall the package")


def shipped(relative: str | os.PathLike) -> Path:
    """A path inside the shipped resources folder, e.g. ``shipped("mhcflurry/embedded")``."""
    return resources_dir() / relative


def embedded_models_dir() -> Path:
    return shipped("mhcflurry/embedded")


def embedded_reference() -> dict[str, Path]:
    """The embedded Ensembl 87 subset: ``{"gtf", "cdna", "pep"}`` paths."""
    folder = shipped("reference")
    return {"gtf": folder / "reference.gtf.gz", "cdna": folder / "reference.cdna.fa.gz",
            "pep": folder / "reference.pep.fa.gz"}
