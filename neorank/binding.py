"""MHC class I binding (and, with official models, presentation) with MHCflurry.

The predictor is loaded **once per process** and every job predicts all of its
peptides x alleles in batched calls (MHCflurry's cartesian pan-allele path when
the ensemble is merged, otherwise one batched call per allele).

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
works with :func:`predict_table` (tests use this).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from neorank.alleles import EXTRAPOLATED, NULL_SKIPPED, SUPPORTED, PatientAllele, parse_typing
from neorank.errors import AlleleError, ModelError
from neorank.io import NA, read_tsv, write_rows, write_tsv

LOG = logging.getLogger(__name__)

OFFICIAL_FETCH = "mhcflurry-downloads fetch models_class1_presentation"
#: Peptides per network call; inputs are padded to whole batches (determinism).
PREDICT_BATCH = 2048
#: Peptide rows of a shard predicted and written at a time (x alleles = rows in memory).
BLOCK_ROWS = 50_000
PAD_PEPTIDE = "AAAAAAAAA"
#: File in an embedded model folder listing training measurements per allele.
TRAINING_COUNTS = "allele_training_counts.csv"

PREDICTION_COLUMNS = [
    "allele", "allele_status", "mutant_affinity_nm", "mutant_percentile",
    "wildtype_affinity_nm", "wildtype_percentile", "presentation_score",
    "presentation_percentile", "processing_score", "predictor",
]


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
        result = self.presentation_predictor.predict(
            peptides=peptides, alleles=alleles, n_flanks=n_flanks, c_flanks=c_flanks,
            verbose=0)
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
    from mhcflurry.common import normalize_allele_name

    from neorank.io import sha256_file

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
    from neorank.io import sha256_file

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
    from neorank.manifest import models_sha256

    return models_sha256(models_dir)[0]


def resolve_models_dir(models: str, embedded_dir: str | os.PathLike,
                       official_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Map the ``mhcflurry.models`` config value to ``(folder, label)``."""
    if models == "embedded":
        folder = Path(embedded_dir)
        if not (folder / "manifest.csv").exists():
            raise ModelError("the embedded MHCflurry models are missing", where=str(folder),
                             fix="restore resources/mhcflurry/embedded from git, or rebuild "
                                 "them with `python scripts/build_models.py`")
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


def load_predictor(models: str, embedded_dir: str | os.PathLike,
                   official_dir: str | os.PathLike | None = None) -> MhcflurryPredictor:
    """Load (once per process) the predictor named by ``models``."""
    import torch

    # One intra-op thread: with more, the order of floating-point sums in the
    # network layers changes and the 6th significant digit of some predictions
    # with it, so tables would depend on the machine's core count (measured on
    # 20,000 peptides: 1 vs 2 threads differ). Parallelism comes from shards.
    torch.set_num_threads(1)
    folder, label = resolve_models_dir(models, embedded_dir, official_dir)
    key = (str(folder.resolve()), label)
    if key in _LOADED:
        return _LOADED[key]
    import mhcflurry
    from mhcflurry import Class1AffinityPredictor, Class1PresentationPredictor

    LOG.info("loading MHCflurry %s models from %s", label, folder)
    presentation = None
    try:
        with _precomputed_allele_names(folder):
            if (folder / "affinity_predictor").is_dir():
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
        resolved.append(PatientAllele(entry.input, entry.allele, status))
    if not any(a.status != NULL_SKIPPED for a in resolved):
        raise AlleleError("no expressed HLA class I allele left after skipping null alleles",
                          where=where, fix="give at least one expressed HLA-A/B/C allele")
    return resolved


# ------------------------------------------------------------------ prediction
def predict_table(peptides: pd.DataFrame, alleles: list[PatientAllele],
                  predictor: Predictor) -> pd.DataFrame:
    """Predict every peptide row x expressed allele (mutant and wildtype peptides).

    Unique peptide sequences are predicted once, in one batched call over all
    alleles; rows come back in peptides order, alleles in typing order.
    """
    expressed = [a for a in alleles if a.status != NULL_SKIPPED]
    allele_names = [a.allele for a in expressed]
    status = {a.allele: a.status for a in expressed}
    mutant = peptides["mutant_peptide"].astype(str)
    wildtype = peptides["wildtype_peptide"].dropna().astype(str)
    unique = sorted(set(mutant) | set(wildtype))
    LOG.info("predicting %d unique peptides x %d alleles", len(unique), len(allele_names))
    aff = predictor.affinity(unique, allele_names).set_index(["peptide", "allele"])

    out = peptides.loc[peptides.index.repeat(len(allele_names))].reset_index(drop=True)
    out["allele"] = allele_names * len(peptides)
    out["allele_status"] = out["allele"].map(status)
    mt_key = pd.MultiIndex.from_arrays([out["mutant_peptide"], out["allele"]])
    out["mutant_affinity_nm"] = aff["affinity_nm"].reindex(mt_key).to_numpy()
    out["mutant_percentile"] = aff["percentile"].reindex(mt_key).to_numpy()
    wt_key = pd.MultiIndex.from_arrays([out["wildtype_peptide"].fillna(""), out["allele"]])
    out["wildtype_affinity_nm"] = aff["affinity_nm"].reindex(wt_key).to_numpy()
    out["wildtype_percentile"] = aff["percentile"].reindex(wt_key).to_numpy()

    for column in ("presentation_score", "presentation_percentile", "processing_score"):
        out[column] = np.nan
    if not predictor.affinity_only and len(peptides):
        pres = predictor.presentation(
            list(peptides["mutant_peptide"]), list(peptides["n_flank"].fillna("")),
            list(peptides["c_flank"].fillna("")), allele_names)
        pres = pres.drop_duplicates(["peptide", "n_flank", "c_flank"]).set_index(
            ["peptide", "n_flank", "c_flank"])
        key = pd.MultiIndex.from_arrays([out["mutant_peptide"], out["n_flank"].fillna(""),
                                         out["c_flank"].fillna("")])
        for column in ("presentation_score", "presentation_percentile", "processing_score"):
            out[column] = pres[column].reindex(key).to_numpy()
    out["predictor"] = predictor.label
    return out


# ------------------------------------------------------------------ CLI
def add_subcommand(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="MHCflurry binding for all peptides x the patient's alleles",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--peptides", required=True, help="peptides.tsv from `neorank peptides`")
    parser.add_argument("--alleles", required=True,
                        help="inline list (HLA-A*02:01,B*08:01) or a typing file "
                             "(plain list, OptiType TSV, HLA-HD result)")
    parser.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    parser.add_argument("--embedded-dir", default="resources/mhcflurry/embedded")
    parser.add_argument("--official-dir", default=None,
                        help="folder of models_class1_presentation (default: MHCflurry's "
                             "download location)")
    parser.add_argument("--cache", default=None,
                        help="SQLite prediction cache shared across samples and reruns "
                             "(keyed on peptide, allele and model checksum)")
    parser.add_argument("--shard", default="1/1", type=parse_shard,
                        help="K/N: predict only the K-th of N contiguous blocks of peptide rows "
                             "(the workflow's scatter); default 1/1, all rows")
    parser.add_argument("--out", required=True, help="predictions.tsv")
    parser.add_argument("--block-rows", type=int, default=BLOCK_ROWS,
                        help="peptide rows predicted and written per block; memory grows with "
                        f"it, the table does not change (default {BLOCK_ROWS:,})")
    parser.add_argument("--out-alleles", default=None,
                        help="JSON list of the patient's alleles with their status")
    parser.set_defaults(run=run)

    gather = subparsers.add_parser(
        "gather", help="concatenate predict shards (in shard order) into predictions.tsv")
    gather.add_argument("--shards", nargs="+", required=True, help="shard TSVs, in order")
    gather.add_argument("--alleles", nargs="+", required=True,
                        help="the shards' alleles JSON files (must agree)")
    gather.add_argument("--out", required=True)
    gather.add_argument("--out-alleles", required=True)
    gather.set_defaults(run=run_gather)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 1 <= K <= N."""
    import argparse

    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 1 <= K <= N")
    return k, n


def shard_rows(n_rows: int, shard: tuple[int, int]) -> slice:
    """The K-th of N contiguous, near-equal blocks of ``n_rows`` rows."""
    k, n = shard
    return slice((k - 1) * n_rows // n, k * n_rows // n)


def count_data_rows(path: str | os.PathLike) -> int:
    """Data lines of a TSV (lines after the header), counted without parsing."""
    lines = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def read_shard(path: str | os.PathLike, shard: tuple[int, int],
               block_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The rows of peptides.tsv in ``shard`` (:func:`shard_rows`), in blocks of at
    most ``block_rows`` rows (None: one block), parsing only those rows: a
    prediction job holds one block of its shard, not the whole table. Yields at
    least one (possibly empty) frame."""
    rows = shard_rows(count_data_rows(path), shard)
    start, stop = rows.start, rows.stop
    kwargs = dict(dtype={"wildtype_peptide": "string"},
                  skiprows=(lambda i: 0 < i <= start) if start else None, nrows=stop - start)
    if block_rows is None or stop - start <= block_rows:
        yield read_tsv(path, **kwargs).reset_index(drop=True)
        return
    with pd.read_csv(path, sep="\t", na_values=[NA], keep_default_na=False,
                     chunksize=block_rows, **kwargs) as reader:
        for block in reader:
            yield block.reset_index(drop=True)


def run_gather(args) -> int:
    from neorank.errors import InputFileError

    texts = [Path(p).read_text() for p in args.alleles]
    if any(t != texts[0] for t in texts[1:]):
        raise InputFileError("shards disagree on the patient's alleles", where=args.alleles[0],
                             fix="re-run the predict shards of this sample")
    rows = _concatenate_shards(args.shards, args.out)
    Path(args.out_alleles).write_text(texts[0])
    LOG.info("gather: %d shards -> %d prediction rows", len(args.shards), rows)
    return 0


def _concatenate_shards(shards: list[str], out: str) -> int:
    """Concatenate shard TSVs as text (header once, rows in shard order), streaming;
    the rows are written exactly as predicted. Shards whose headers differ (only
    possible for an empty shard) are combined by column name through pandas."""
    headers = []
    for path in shards:
        with open(path, encoding="utf-8", newline="\n") as handle:
            headers.append(handle.readline())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if any(h != headers[0] for h in headers[1:]):
        frames = [read_tsv(p, dtype=str) for p in shards]
        table = pd.concat(frames, ignore_index=True)
        write_tsv(table, out)
        return len(table)
    rows = 0
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as sink:
        sink.write(headers[0])
        for path in shards:
            with open(path, encoding="utf-8", newline="\n") as handle:
                handle.readline()
                for line in handle:
                    sink.write(line)
                    rows += 1
    os.replace(tmp, out)
    return rows


def run(args) -> int:
    typing = parse_typing(args.alleles, where=f"--alleles {args.alleles}")
    predictor = load_predictor(args.models, args.embedded_dir, args.official_dir)
    alleles = resolve_alleles(typing, predictor, where=f"--alleles {args.alleles}")
    active: Predictor = predictor
    if args.cache:
        from neorank.cache import CachedPredictor, PredictionCache

        active = CachedPredictor(predictor, PredictionCache(args.cache,
                                                            models_checksum(predictor.models_dir)))
    block_rows = getattr(args, "block_rows", None) or BLOCK_ROWS
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n_peptides = n_rows = 0
    header: list[str] | None = None
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for block in read_shard(args.peptides, args.shard, block_rows):
            table = predict_table(block, alleles, active)
            if header is not None and list(table.columns) != header:
                from neorank.errors import InputFileError

                raise InputFileError("prediction blocks gave different columns",
                                     where=str(args.peptides),
                                     fix="regenerate peptides.tsv with `neorank peptides`")
            write_rows(handle, table, header=header is None)
            header = list(table.columns)
            n_peptides += len(block)
            n_rows += len(table)
            if n_peptides and len(block) == block_rows:
                LOG.info("predict (shard %d/%d): %d peptide rows done", *args.shard, n_peptides)
    os.replace(tmp, out)
    if args.out_alleles:
        Path(args.out_alleles).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_alleles).write_text(
            json.dumps([a.to_dict() for a in alleles], indent=2) + "\n")
    LOG.info("predict (shard %d/%d): %d peptides x %d alleles -> %d rows (%s%s)",
             *args.shard, n_peptides,
             sum(a.status != NULL_SKIPPED for a in alleles), n_rows, predictor.label,
             ", affinity-only" if predictor.affinity_only else "")
    return 0
