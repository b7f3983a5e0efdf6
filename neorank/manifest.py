"""``neorank manifest``: the run's provenance record (``manifest.json``).

Keys (JSON, ``sort_keys``, indent 2)::

    sample               the sample id
    versions             {neorank, mhcflurry, varcode, pyensembl, snakemake, pysam, pandas}
                         from importlib.metadata ("not installed" if absent)
    models               {label, path, sha256, sha256_of, numerics}
                         sha256 of the models folder's SHA256SUMS file when present
                         (sha256_of = "SHA256SUMS"), otherwise of the listing
                         "<sha256>  <relative/path>\\n" of every file sorted by path
                         (sha256_of = "file listing"); numerics: the prediction
                         jobs' arithmetic (config mhcflurry.numerics, as in
                         neorank.models.NUMERICS)
    reference            {ensembl_release, name}
    config_sha256        sha256 of json.dumps(config, sort_keys=True) (UTF-8)
    created              UTC time, ISO 8601 ("...Z"); SOURCE_DATE_EPOCH is honoured
    research_use_only    true

``created`` is the only time stamp NeoRank writes; the report copies it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from neorank.errors import InputFileError, ModelError, NeoRankError
from neorank.models import NUMERICS, models_sha256

LOG = logging.getLogger(__name__)

#: Distributions whose versions are recorded, in this order.
PACKAGES = ("neorank", "mhcflurry", "varcode", "pyensembl", "snakemake", "pysam", "pandas")
NOT_INSTALLED = "not installed"


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (``"not installed"`` when absent)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


def config_sha256(config: Any) -> str:
    """sha256 of the canonical JSON of ``config`` (``json.dumps(config, sort_keys=True)``)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode("utf-8")).hexdigest()


def _resolve_models_dir(models_dir: str, label: str) -> Path:
    """The models folder; for ``official`` without a folder, MHCflurry's download folder."""
    path = Path(models_dir)
    if path.is_dir() or label != "official":
        return path
    try:
        from mhcflurry import downloads  # light module; imported only in this case

        return Path(downloads.get_default_class1_presentation_models_dir(test_exists=True))
    except Exception as err:  # mhcflurry raises RuntimeError when not downloaded
        raise ModelError(f"official models not found ({err})", where=str(path),
                         fix="run `mhcflurry-downloads fetch models_class1_presentation` or "
                             "set mhcflurry.official_dir") from err


def _created(now: dt.datetime | None = None) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if now is None and epoch:
        try:
            now = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        except ValueError as err:
            raise NeoRankError(f"SOURCE_DATE_EPOCH={epoch!r} is not an integer",
                               where="environment", fix="unset it or give seconds") from err
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(sample: str, config: Any, models_dir: str, models_label: str,
                   ensembl_release: int, reference_name: str,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """Assemble the manifest dict (see the module docstring).

    Parameters
    ----------
    sample
        Sample id.
    config
        The workflow config (any JSON value).
    models_dir, models_label
        Models folder and label (``embedded``, ``official`` or a custom name).
    ensembl_release, reference_name
        The annotation used.
    now
        Fixed time for tests (default: now, or SOURCE_DATE_EPOCH).

    Returns
    -------
    dict
        The manifest.
    """
    if isinstance(ensembl_release, bool) or not isinstance(ensembl_release, int) \
            or ensembl_release <= 0:
        raise NeoRankError(f"Ensembl release {ensembl_release!r} is not a positive integer",
                           where="--ensembl-release", fix="pass e.g. 87")
    path = _resolve_models_dir(models_dir, models_label)
    digest, how = models_sha256(path)
    section = config.get("mhcflurry") if isinstance(config, dict) else None
    numerics = (section or {}).get("numerics", "portable")
    return {
        "sample": sample,
        "versions": package_versions(),
        "models": {"label": models_label, "path": str(path), "sha256": digest,
                   "sha256_of": how, "numerics": NUMERICS.get(numerics, numerics)},
        "reference": {"ensembl_release": ensembl_release, "name": reference_name},
        "config_sha256": config_sha256(config),
        "created": _created(now),
        "research_use_only": True,
    }


def write_manifest(manifest: dict[str, Any], out: str | os.PathLike) -> None:
    """Write ``manifest`` as JSON (sort_keys, indent 2, trailing newline), atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank manifest``."""
    parser = subparsers.add_parser(
        "manifest", help="write the run's provenance record (manifest.json)",
        description="Record package versions, the models checksum, the reference and the "
        "config hash of a run.")
    parser.add_argument("--sample", required=True, help="sample id (as in the sample sheet)")
    parser.add_argument("--config-json", required=True, help="the workflow config as JSON")
    parser.add_argument("--models-dir", required=True, help="folder of the MHCflurry models")
    parser.add_argument("--models-label", required=True,
                        help="embedded, official or a custom name")
    parser.add_argument("--ensembl-release", required=True, type=int,
                        help="Ensembl release of the annotation, e.g. 87")
    parser.add_argument("--reference-name", required=True,
                        help="name of the reference (config reference.name)")
    parser.add_argument("--out", required=True, help="manifest.json to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``neorank manifest``; returns 0."""
    path = Path(args.config_json)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"cannot read the config JSON ({err.strerror})", where=str(path),
                             fix="pass the config the workflow wrote (--config-json)") from err
    except json.JSONDecodeError as err:
        raise InputFileError(f"not valid JSON: {err.msg} at line {err.lineno}", where=str(path),
                             fix="write the config with json.dump") from err
    manifest = build_manifest(str(args.sample), config, str(args.models_dir),
                              str(args.models_label), int(args.ensembl_release),
                              str(args.reference_name))
    write_manifest(manifest, args.out)
    LOG.info("%s: manifest -> %s (models %s %s)", args.sample, args.out, args.models_label,
             manifest["models"]["sha256"][:12])
    return 0
