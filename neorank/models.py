"""MHCflurry models: choosing, loading and checking them, and the predictor protocol.

A layer below the stages that predict (``predict``, ``score``, ``vaccine``) and
the one that checks inputs (``preflight``). The predictor is loaded **once per
process** and predicts all peptides x alleles in batched calls (MHCflurry's
cartesian pan-allele path when the ensemble is merged, otherwise one batched
call per allele).

``mhcflurry.models`` in the config selects the models:

``embedded``
    NeoRank's compact pan-allele affinity ensemble committed in
    ``resources/mhcflurry/embedded`` (demo-grade, affinity-only; see its
    ``MODEL_CARD.md``).
``official``
    The published ``models_class1_presentation`` release, downloaded by
    ``mhcflurry-downloads fetch models_class1_presentation`` (the workflow's
    ``fetch_mhcflurry_models`` rule does this online). Gives affinity,
    antigen-processing and genotype-level presentation scores computed with the
    peptide's real N/C flanks.
a folder
    Any saved ``Class1AffinityPredictor`` (affinity-only) or
    ``Class1PresentationPredictor`` (a folder with ``affinity_predictor/``).

The predictor is injectable: any object implementing :class:`Predictor`
works with :func:`neorank.predict.predict_table` (tests use this).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from neorank import NUMPY_DISABLED_KERNELS, OPENBLAS_CORETYPE
from neorank.alleles import (
    EXTRAPOLATED,
    NULL_SKIPPED,
    SUPPORTED,
    PatientAllele,
    import_mhcgnomes,
)
from neorank.errors import AlleleError, ModelError
from neorank.io import sha256_file
from neorank.resources import embedded_models_dir

LOG = logging.getLogger(__name__)

OFFICIAL_FETCH = "mhcflurry-downloads fetch models_class1_presentation"
#: Peptides per network call; inputs are padded to whole batches (determinism).
PREDICT_BATCH = 2048
PAD_PEPTIDE = "AAAAAAAAA"
#: File in an embedded model folder listing training measurements per allele.
TRAINING_COUNTS = "allele_training_counts.csv"

class Predictor(Protocol):
    """What the binding stage needs from a predictor."""

    label: str
    affinity_only: bool

    def known_alleles(self) -> set[str]: ...

    def trained_alleles(self) -> set[str] | None: ...

    def affinity(self, peptides: list[str], alleles: list[str]) -> pd.DataFrame:
        """Return ``peptide, allele, affinity_nm, percentile`` for every pair."""

    def presentation(self, peptides: list[str], n_flanks: list[str], c_flanks: list[str],
                     alleles: list[str]) -> pd.DataFrame:
        """Genotype-level presentation per peptide (official models only)."""


@dataclass
class MhcflurryPredictor:
    """A loaded MHCflurry affinity (and optional presentation) predictor."""

    models_dir: Path
    label: str
    affinity_predictor: object
    presentation_predictor: object | None = None
    training_counts: dict[str, int] | None = None
    _known: set[str] = field(default_factory=set)

    @property
    def affinity_only(self) -> bool:
        return self.presentation_predictor is None

    def known_alleles(self) -> set[str]:
        if not self._known:
            self._known = set(self.affinity_predictor.allele_to_sequence or {})
            self._known |= set(self.affinity_predictor.allele_to_allele_specific_models)
        return self._known

    def trained_alleles(self) -> set[str] | None:
        if self.training_counts is None:
            return None
        return {a for a, n in self.training_counts.items() if n > 0}

    def affinity(self, peptides: list[str], alleles: list[str]) -> pd.DataFrame:
        predictor = self.affinity_predictor
        frames = []
        matrix = None
        # Pad to whole batches: a partial last batch takes another BLAS code path
        # and changes the float32 results in the 6th digit, which would make a
        # peptide's value depend on which other peptides share its job.
        n = len(peptides)
        padded = list(peptides) + [PAD_PEPTIDE] * (-n % PREDICT_BATCH)
        kwargs = {"batch_size": PREDICT_BATCH}
        if peptides and alleles:
            matrix = predictor.predict_cartesian_pan_allele(padded, alleles, model_kwargs=kwargs)
        for j, allele in enumerate(alleles):
            if matrix is not None:
                values = np.asarray(matrix[:n, j], dtype=float)
            else:
                values = np.asarray(predictor.predict(padded, allele=allele, model_kwargs=kwargs),
                                    dtype=float)[:n]
            if allele in predictor.allele_to_percent_rank_transform:
                percentiles = np.asarray(predictor.percentile_ranks(values, allele=allele),
                                         dtype=float)
            else:
                percentiles = np.full(len(values), np.nan)
            frames.append(pd.DataFrame({"peptide": peptides, "allele": allele,
                                        "affinity_nm": values, "percentile": percentiles}))
        if not frames:
            return pd.DataFrame(columns=["peptide", "allele", "affinity_nm", "percentile"])
        return pd.concat(frames, ignore_index=True)

    def presentation(self, peptides: list[str], n_flanks: list[str], c_flanks: list[str],
                     alleles: list[str]) -> pd.DataFrame:
        if self.presentation_predictor is None or not peptides:
            return pd.DataFrame(columns=["peptide", "n_flank", "c_flank", "presentation_score",
                                         "presentation_percentile", "processing_score"])
        # Whole batches, as in affinity(): MHCflurry's default batch sizes would make a
        # peptide's scores depend (6th digit) on which other peptides share its job.
        # The genotype as a one-sample dict: a plain list is capped at 6 alleles.
        n = len(peptides)
        pad = -n % PREDICT_BATCH
        result = self.presentation_predictor.predict(
            peptides=list(peptides) + [PAD_PEPTIDE] * pad, alleles={"patient": list(alleles)},
            n_flanks=list(n_flanks) + [""] * pad, c_flanks=list(c_flanks) + [""] * pad,
            affinity_model_kwargs={"batch_size": PREDICT_BATCH},
            processing_batch_size=PREDICT_BATCH, verbose=0)
        result = result.sort_values("peptide_num", kind="stable")
        result = result.loc[result["peptide_num"] < n].reset_index(drop=True)
        result = result.rename(columns={"best_allele": "presentation_best_allele"})
        result["n_flank"] = n_flanks
        result["c_flank"] = c_flanks
        return result[["peptide", "n_flank", "c_flank", "presentation_score",
                       "presentation_percentile", "processing_score"]]


# ------------------------------------------------------------------ allele names
#: Precomputed mhcgnomes normalisations of a model folder's allele names.
ALLELE_NAMES = "allele_names.json"


def _name_table_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"mhcflurry": version("mhcflurry"), "mhcgnomes": version("mhcgnomes")}


def affinity_dir(folder: Path) -> Path:
    """The affinity predictor's folder: ``affinity_predictor/`` of a presentation folder."""
    return folder / "affinity_predictor" if (folder / "affinity_predictor").is_dir() else folder


def _allele_sequences_file(folder: Path) -> Path:
    return affinity_dir(folder) / "allele_sequences.csv"


def write_allele_name_table(folder: str | os.PathLike) -> Path:
    """Write ``allele_names.json``: every allele name of ``folder`` normalised both ways.

    Loading an MHCflurry model folder normalises each of its pseudosequence
    names with mhcgnomes (about 36,000 parser calls for 18,000 names: ~7 s of
    every prediction job, more than predicting a small shard). The table holds
    the answers ``mhcflurry.common.normalize_allele_name(name,
    raise_on_error=False, use_allele_aliases=...)`` gives for each name and each
    result, with and without aliases, for the mhcflurry and mhcgnomes versions
    that computed them; :func:`allele_name_table` ignores it under other versions
    or another ``allele_sequences.csv``.
    """
    import_mhcgnomes()  # before mhcflurry, which imports it
    from mhcflurry.common import normalize_allele_name

    folder = Path(folder)
    sequences = _allele_sequences_file(folder)
    names = set(pd.read_csv(sequences, index_col=0).index.astype(str))
    table: dict[str, dict[str, str | None]] = {"plain": {}, "aliases": {}}
    pending = sorted(names)
    while pending:  # the results are looked up too (MHCflurry re-normalises them)
        new: set[str] = set()
        for name in pending:
            for mode, aliases in (("plain", False), ("aliases", True)):
                if name not in table[mode]:
                    result = normalize_allele_name(name, raise_on_error=False,
                                                   use_allele_aliases=aliases)
                    table[mode][name] = result
                    if result is not None and result not in names:
                        new.add(result)
        names |= new
        pending = sorted(new)
    out = folder / ALLELE_NAMES
    document = {**_name_table_versions(), "allele_sequences_sha256": sha256_file(sequences),
                "plain": dict(sorted(table["plain"].items())),
                "aliases": dict(sorted(table["aliases"].items()))}
    out.write_text(json.dumps(document, indent=0, sort_keys=True) + "\n")
    return out


def allele_name_table(folder: str | os.PathLike) -> dict[str, dict[str, str | None]] | None:
    """The folder's ``allele_names.json`` if it is valid for this environment, else None."""
    folder = Path(folder)
    path = folder / ALLELE_NAMES
    sequences = _allele_sequences_file(folder)
    if not path.is_file() or not sequences.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    expected = {**_name_table_versions(), "allele_sequences_sha256": sha256_file(sequences)}
    if any(document.get(k) != v for k, v in expected.items()):
        LOG.info("%s was made with other versions or names; normalising names anew", path)
        return None
    return {"plain": document["plain"], "aliases": document["aliases"]}


def normalizer(table: dict[str, dict[str, str | None]] | None):
    """``normalize_allele_name`` answering from ``table`` where it can (same results)."""
    import_mhcgnomes()  # before mhcflurry, which imports it
    from mhcflurry.common import normalize_allele_name

    if not table:
        return normalize_allele_name

    def normalize(raw_name, forbidden_substrings=("MIC", "HFE"), raise_on_error=True,
                  default_value=None, use_allele_aliases=True):
        known = table["aliases" if use_allele_aliases else "plain"]
        if (not raise_on_error and default_value is None
                and tuple(forbidden_substrings) == ("MIC", "HFE") and raw_name in known):
            return known[raw_name]
        return normalize_allele_name(raw_name, forbidden_substrings=forbidden_substrings,
                                     raise_on_error=raise_on_error, default_value=default_value,
                                     use_allele_aliases=use_allele_aliases)

    return normalize


@contextmanager
def _precomputed_allele_names(folder: Path):
    """While loading ``folder``, MHCflurry's name normalisation reads the folder's table."""
    import_mhcgnomes()  # before mhcflurry, which imports it
    try:
        from mhcflurry.affinity import persistence
    except ImportError:  # another mhcflurry layout: load as usual
        yield
        return
    table = allele_name_table(folder)
    original = getattr(persistence, "normalize_allele_name", None)
    if table is None or original is None:
        yield
        return
    persistence.normalize_allele_name = normalizer(table)
    try:
        yield
    finally:
        persistence.normalize_allele_name = original


# ------------------------------------------------------------------ model loading
_LOADED: dict[tuple[str, str], MhcflurryPredictor] = {}


def models_checksum(models_dir: str | os.PathLike) -> str:
    """sha256 identifying a model folder (the same value manifest.json records)."""
    return models_sha256(models_dir)[0]


def prediction_key(predictor: Predictor) -> str:
    """The prediction cache's model key: the models' checksum and the process's arithmetic."""
    if not _PINNED:
        raise ModelError("no arithmetic set in this process", where="neorank.models",
                         fix="load the predictor with load_predictor() first")
    return f"{models_checksum(predictor.models_dir)}+{NUMERICS[_PINNED[0]]}"


def resolve_models_dir(models: str, embedded_dir: str | os.PathLike,
                       official_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Map the ``mhcflurry.models`` config value to ``(folder, label)``."""
    if models == "embedded":
        # Empty: the models shipped with NeoRank (found relative to the package).
        folder = Path(embedded_dir) if embedded_dir else embedded_models_dir()
        if not (folder / "manifest.csv").exists():
            raise ModelError("no MHCflurry models folder here (manifest.csv is missing)",
                             where=str(folder),
                             fix="leave mhcflurry.embedded_dir (--embedded-dir) empty to use the "
                                 "models shipped with NeoRank, or give a folder written by "
                                 "`python scripts/build_models.py`")
        return folder, "embedded"
    if models == "official":
        if official_dir:
            folder = Path(official_dir)
        else:
            from mhcflurry.downloads import get_default_class1_presentation_models_dir

            folder = Path(get_default_class1_presentation_models_dir(test_exists=False))
        if not (folder / "affinity_predictor" / "manifest.csv").exists():
            raise ModelError(
                "the official MHCflurry presentation models are not downloaded",
                where=str(folder),
                fix=f"run `{OFFICIAL_FETCH}` (online), or the workflow's fetch_mhcflurry_models "
                    "rule, or set mhcflurry.models: embedded for the offline demo models")
        return folder, "official"
    folder = Path(models)
    if not folder.is_dir():
        raise ModelError(f"mhcflurry.models is {models!r}: not 'embedded', 'official' or a folder",
                         where="config mhcflurry.models",
                         fix="use embedded, official, or the path of a saved MHCflurry model folder")
    return folder, folder.name


# ------------------------------------------------------------------ arithmetic
#: How torch's CPU arithmetic is pinned for prediction (``mhcflurry.numerics:
#: portable``): MKL's conditional numerical reproducibility in its COMPATIBLE branch
#: (the same GEMM code on every Intel or compatible x86-64 CPU) and ATen's baseline
#: kernels (no AVX2/AVX-512 dispatch). Without them the float32 network's outputs
#: depend on the CPU model: on one AMD EPYC machine, MKL's default vs COMPATIBLE
#: branch changed 20% of 40,000 outputs and the 6th significant digit of 7% of
#: affinities; at 10k variants 80,776 of 1.7 M candidate rows changed rank position.
PORTABLE_NUMERICS = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
#: ``mhcflurry.numerics`` values and what the manifest and the prediction cache record
#: (numpy's kernels are pinned in both: see :mod:`neorank`; the label changed with that
#: pin, so cached affinities computed with numpy's AVX-512 kernels are not reused).
NUMERICS = {"portable": "torch-1-thread/mkl-cbwr-compatible/aten-default/numpy-x86-64-v3",
            "native": "torch-1-thread/native/numpy-x86-64-v3"}
#: numpy's kernel group the portable arithmetic's affinities were computed with.
NUMPY_KERNELS = "X86_V3"
_MKL_CBWR_BRANCH = 1  # mkl_cbwr.h: the query for the current branch
_MKL_CBWR_COMPATIBLE = 3
_PINNED: list[str] = []  # the mode this process's arithmetic was set to


def _mkl_branch(torch) -> int | None:
    """MKL's current CNR branch in this torch build, or None without MKL's service symbols."""
    import ctypes

    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        get = ctypes.CDLL(str(library)).mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype = ctypes.c_int
    return int(get(_MKL_CBWR_BRANCH))


def numpy_kernels() -> set[str] | None:
    """numpy's SIMD kernel groups enabled in this process (an x86-64 machine with AVX2:
    ``{"X86_V3"}`` when pinned), or None where numpy does not say or is not x86-64."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return None
    if NUMPY_KERNELS not in __cpu_dispatch__:
        return None  # not an x86-64 build
    return {name for name in __cpu_dispatch__ if __cpu_features__.get(name)}


def openblas_coretype() -> str | None:
    """The kernels numpy's OpenBLAS runs in this process (threadpoolctl's
    ``architecture``, e.g. ``Haswell``), or None where that is not known."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return next((library.get("architecture") for library in threadpool_info()
                 if library.get("internal_api") == "openblas"), None)


def _check_numpy_kernels(first: bool) -> None:
    """The portable arithmetic's check of numpy's kernels: AVX-512 ones or, on a CPU
    with AVX2, OpenBLAS kernels other than :data:`~neorank.OPENBLAS_CORETYPE` are an
    error, none above the baseline (a CPU without AVX2) a warning."""
    kernels = numpy_kernels()
    if kernels is None:
        return
    extra = sorted(kernels & set(NUMPY_DISABLED_KERNELS))
    coretype = openblas_coretype() if NUMPY_KERNELS in kernels else None
    if coretype not in (None, OPENBLAS_CORETYPE):
        extra.append(f"OpenBLAS {coretype}")
    if extra:
        raise ModelError(
            f"numpy runs its {'/'.join(extra)} kernels in this process, so predictions "
            "would depend on the machine's CPU (numpy was imported before neorank, or the "
            "environment chooses them)", where="neorank.models.pin_numerics",
            fix="import neorank before numpy, or start Python with "
                f"NPY_DISABLE_CPU_FEATURES='{' '.join(NUMPY_DISABLED_KERNELS)}' "
                f"OPENBLAS_CORETYPE={OPENBLAS_CORETYPE}")
    if NUMPY_KERNELS not in kernels and first:
        LOG.warning("numpy runs without its %s kernels here (a CPU without AVX2/FMA, or "
                    "NPY_*_CPU_FEATURES set): affinities can differ in the last digits "
                    "from those of x86-64-v3 machines", NUMPY_KERNELS)


def pin_numerics(numerics: str = "portable") -> None:
    """Set this process's torch arithmetic for prediction.

    One intra-op thread in either mode (with more, the order of floating-point sums
    in the network layers changes with the core count: 1 vs 2 threads differ on
    20,000 peptides; parallelism comes from shards). ``portable`` also sets
    :data:`PORTABLE_NUMERICS` before torch first dispatches a kernel and checks that
    they took effect, and checks that numpy runs its x86-64-v3 kernels, not its AVX-512
    ones, and its OpenBLAS its Haswell ones (pinned when :mod:`neorank` is imported
    before numpy), so every x86-64 machine with AVX2 prints the same affinities; ``native`` leaves torch's choice of kernels to
    the CPU (faster, machine-dependent).

    Raises
    ------
    ModelError
        An unknown mode, a second mode in one process, torch already ran with other
        settings in this process, or numpy runs its AVX-512 or other OpenBLAS kernels
        (portable).
    """
    if numerics not in NUMERICS:
        raise ModelError(f"mhcflurry.numerics is {numerics!r}", where="config mhcflurry.numerics",
                         fix="use portable (the default) or native")
    if _PINNED and _PINNED[0] != numerics:
        raise ModelError(f"this process already predicts with {_PINNED[0]} arithmetic, "
                         f"not {numerics}", where="neorank.models.pin_numerics",
                         fix="use one mhcflurry.numerics value per process")
    if numerics == "portable":
        os.environ.update(PORTABLE_NUMERICS)
    import torch

    torch.set_num_threads(1)
    if numerics == "portable":
        torch.zeros(2, 2) @ torch.zeros(2, 2)  # initialises MKL under the settings above
        capability = torch.backends.cpu.get_cpu_capability()
        branch = _mkl_branch(torch)
        if capability != "DEFAULT" or branch not in (None, _MKL_CBWR_COMPATIBLE):
            raise ModelError(
                f"torch already ran in this process with CPU kernels {capability!r} and MKL "
                f"branch {branch}, so predictions would depend on the machine's CPU",
                where="neorank.models.pin_numerics",
                fix="load the predictor before any other torch use, or start Python with "
                    + " ".join(f"{k}={v}" for k, v in PORTABLE_NUMERICS.items()))
        if branch is None and not _PINNED:
            LOG.warning("this torch build has no MKL (not x86-64?): its matrix products may "
                        "still choose kernels by CPU, so affinities can differ in the last "
                        "digits between machines of other CPU models")
        _check_numpy_kernels(first=not _PINNED)
    _PINNED[:] = [numerics]


def add_numerics_argument(parser) -> None:
    """The ``--numerics`` flag of the stages that predict (config ``mhcflurry.numerics``)."""
    parser.add_argument("--numerics", choices=sorted(NUMERICS), default="portable",
                        help="portable: the same affinities on every x86-64 CPU with AVX2 (MKL "
                             "COMPATIBLE branch, ATen baseline kernels, numpy's AVX2 "
                             "kernels); native: the CPU's fastest "
                             "kernels, last digits machine-dependent")


def load_predictor(models: str, embedded_dir: str | os.PathLike,
                   official_dir: str | os.PathLike | None = None,
                   numerics: str = "portable") -> MhcflurryPredictor:
    """Load (once per process) the predictor named by ``models``.

    ``numerics`` sets the process's arithmetic (:func:`pin_numerics`).
    """
    pin_numerics(numerics)
    import_mhcgnomes()  # before mhcflurry, which imports it
    folder, label = resolve_models_dir(models, embedded_dir, official_dir)
    key = (str(folder.resolve()), label)
    if key in _LOADED:
        return _LOADED[key]
    import mhcflurry
    from mhcflurry import Class1AffinityPredictor

    LOG.info("loading MHCflurry %s models from %s", label, folder)
    presentation = None
    try:
        with _precomputed_allele_names(folder):
            if (folder / "affinity_predictor").is_dir():
                # Only here: its module imports scikit-learn and SciPy (about 1 s).
                from mhcflurry import Class1PresentationPredictor

                presentation = Class1PresentationPredictor.load(str(folder))
                affinity = presentation.affinity_predictor
            else:
                affinity = Class1AffinityPredictor.load(str(folder))
    except Exception as err:  # corrupt or incompatible model folder
        raise ModelError(f"cannot load MHCflurry models ({type(err).__name__}: {err})",
                         where=str(folder),
                         fix="check the folder against its SHA256SUMS, or re-fetch/rebuild it") from err
    counts = None
    if (folder / TRAINING_COUNTS).exists():
        table = pd.read_csv(folder / TRAINING_COUNTS)
        counts = dict(zip(table.allele, table.training_measurements.astype(int), strict=True))
    predictor = MhcflurryPredictor(folder, f"mhcflurry-{mhcflurry.__version__}/{label}",
                                   affinity, presentation, counts)
    _LOADED[key] = predictor
    return predictor


# ------------------------------------------------------------------ alleles
def resolve_alleles(typing: list[PatientAllele], predictor: Predictor,
                    where: str = "hla_alleles") -> list[PatientAllele]:
    """Check each allele against the predictor and set its status.

    Raises
    ------
    AlleleError
        For an allele without a pseudosequence, listing the closest known names.
    """
    known = predictor.known_alleles()
    trained = predictor.trained_alleles()
    resolved = []
    for entry in typing:
        if entry.status == NULL_SKIPPED:
            resolved.append(entry)
            continue
        if entry.allele not in known:
            gene = entry.allele.split("*")[0]
            same_gene = sorted(a for a in known if a.startswith(gene + "*"))
            close = difflib.get_close_matches(entry.allele, same_gene, n=5, cutoff=0.6)
            raise AlleleError(
                f"{entry.input!r} ({entry.allele}) has no MHC pseudosequence in the "
                f"{predictor.label} models, so it cannot be predicted",
                where=where,
                fix="check the typing for a typo" + (
                    f"; close matches: {', '.join(close)}" if close else ""))
        status = SUPPORTED if trained is None or entry.allele in trained else EXTRAPOLATED
        if status == EXTRAPOLATED:
            LOG.warning("%s: %s has no training measurements; predictions are extrapolated "
                        "from its pseudosequence", where, entry.allele)
        resolved.append(dataclasses.replace(entry, status=status))
    if not any(a.status != NULL_SKIPPED for a in resolved):
        raise AlleleError("no expressed HLA class I allele left after skipping null alleles",
                          where=where, fix="give at least one expressed HLA-A/B/C allele")
    return resolved


# ------------------------------------------------------------------ prediction


def models_sha256(models_dir: str | os.PathLike) -> tuple[str, str]:
    """Checksum of a models folder.

    Parameters
    ----------
    models_dir
        Folder of a saved MHCflurry predictor.

    Returns
    -------
    tuple of str
        ``(sha256, how)``: sha256 of ``SHA256SUMS`` (``how = "SHA256SUMS"``) if
        the folder has one, else sha256 of the sorted ``"<sha256>  <path>\\n"``
        listing of every file (``how = "file listing"``).

    Raises
    ------
    ModelError
        The folder is missing or has no files.
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise ModelError("models folder not found", where=str(root),
                         fix="pass the folder the predict stage loaded (--models-dir)")
    sums = root / "SHA256SUMS"
    if sums.is_file():
        return sha256_file(sums), "SHA256SUMS"
    files = sorted((p for p in root.rglob("*") if p.is_file()),
                   key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise ModelError("models folder is empty", where=str(root),
                         fix="install or build the models first")
    listing = "".join(f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest(), "file listing"
