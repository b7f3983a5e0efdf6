"""Load the transcript annotation that ``neorank annotate`` works on.

Two sources are supported:

* **Local files** (the embedded demo subset, or any Ensembl-style GTF with
  matching cDNA and peptide FASTAs): wrapped in a :class:`pyensembl.Genome`
  and indexed once into a deterministic cache folder,
  ``<cache_root>/<name>-<first 12 hex of sha256(gtf, cdna, pep)>``. Indexing
  holds an exclusive file lock next to that folder, so concurrent jobs (two
  Snakemake rules, two samples) never build the same index at the same time.
* **An installed Ensembl release** (real users): a
  :class:`pyensembl.EnsemblRelease` read from the pyensembl cache. It is never
  downloaded here; a separate workflow rule runs ``pyensembl install``.

:func:`contig_for` reconciles VCF contig names (``chr1``, ``chrM``) with the
annotation's (``1``, ``MT``).

pyensembl is imported inside the functions so that importing this module stays
cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from neorank.errors import ReferenceError_
from neorank.io import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import pyensembl

log = logging.getLogger(__name__)

#: Annotation name given to genomes built from local files.
LOCAL_ANNOTATION_NAME = "local"


def reference_key(gtf: str | os.PathLike, cdna: str | os.PathLike, pep: str | os.PathLike) -> str:
    """First 12 hex digits of the sha256 over the three files' sha256 digests.

    Parameters
    ----------
    gtf, cdna, pep
        The annotation files.

    Returns
    -------
    str
        A content key: the same files give the same key wherever they live.
    """
    digest = hashlib.sha256()
    for path in (gtf, cdna, pep):
        digest.update(sha256_file(path).encode("ascii"))
    return digest.hexdigest()[:12]


def local_cache_dir(cache_root: str | os.PathLike, reference_name: str, release: int | str | None,
                    gtf: str | os.PathLike, cdna: str | os.PathLike, pep: str | os.PathLike) -> Path:
    """The deterministic cache folder for a local annotation.

    Returns
    -------
    pathlib.Path
        ``<cache_root>/<reference_name>-<local><release>-<key>``, e.g.
        ``.cache/reference/GRCh38-local87-1a2b3c4d5e6f``.
    """
    label = f"{reference_name}-{LOCAL_ANNOTATION_NAME}{release if release is not None else ''}"
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
    return Path(cache_root) / f"{label}-{reference_key(gtf, cdna, pep)}"


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (POSIX ``flock``)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no locking available
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _require_file(path: str | os.PathLike | None, flag: str) -> Path:
    if path is None:
        raise ReferenceError_(f"{flag} is required with a local annotation",
                              fix="pass --gtf, --cdna and --pep together, or --ensembl-release N")
    path = Path(path)
    if not path.is_file():
        raise ReferenceError_("annotation file not found", where=str(path),
                              fix=f"check the {flag} path (the embedded subset lives in "
                                  "resources/reference/)")
    return path


#: NCBI taxon of the species a local annotation belongs to: pyensembl needs it
#: to pick the genetic code (mitochondrial transcripts use table 2 in vertebrates).
SPECIES_TAXON = {"human": 9606, "homo_sapiens": 9606, "mouse": 10090, "mus_musculus": 10090}


def load_local_genome(gtf: str | os.PathLike, cdna: str | os.PathLike, pep: str | os.PathLike, *,
                      cache_root: str | os.PathLike, reference_name: str = "GRCh38",
                      release: int | str | None = None,
                      species: str = "human") -> pyensembl.Genome:
    """Build (once) and return a :class:`pyensembl.Genome` from local files.

    Parameters
    ----------
    gtf, cdna, pep
        Ensembl-style GTF, transcript cDNA FASTA and peptide FASTA (gzip allowed).
    cache_root
        Folder holding one sub-folder per distinct annotation (see
        :func:`local_cache_dir`).
    reference_name
        Genome assembly name, e.g. ``GRCh38``.
    release
        Annotation version (the Ensembl release the files come from), if known.
    species
        ``human`` or ``mouse`` (selects the genetic codes, e.g. for MT genes).

    Returns
    -------
    pyensembl.Genome
        Indexed and ready to query offline.

    Raises
    ------
    ReferenceError_
        A file is missing or pyensembl cannot index it.
    """
    import pyensembl

    _remember_exons()
    gtf = _require_file(gtf, "--gtf")
    cdna = _require_file(cdna, "--cdna")
    pep = _require_file(pep, "--pep")
    cache_dir = local_cache_dir(cache_root, reference_name, release, gtf, cdna, pep)
    taxon = SPECIES_TAXON.get(species.lower())
    metadata = {"taxon_id": taxon} if taxon else None

    def make() -> pyensembl.Genome:
        return pyensembl.Genome(
            reference_name=reference_name,
            annotation_name=LOCAL_ANNOTATION_NAME,
            annotation_version=release,
            gtf_path_or_url=str(gtf.resolve()),
            transcript_fasta_paths_or_urls=[str(cdna.resolve())],
            protein_fasta_paths_or_urls=[str(pep.resolve())],
            cache_directory_path=str(cache_dir),
            reference_metadata=metadata,
        )

    genome = make()
    if genome.installed():
        log.debug("reference index found in %s", cache_dir)
        return genome
    with _exclusive_lock(cache_dir.with_name(cache_dir.name + ".lock")):
        genome = make()  # another process may have finished while we waited
        if not genome.installed():
            log.info("indexing reference annotation %s into %s", gtf, cache_dir)
            cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                genome.index(overwrite=True)
            except Exception as err:  # pyensembl raises many types for bad input
                raise ReferenceError_(
                    f"pyensembl could not index the annotation: {err}",
                    where=str(gtf),
                    causes=["the GTF, cDNA and peptide FASTA do not belong together",
                            "a file is truncated or not gzip/plain text"],
                    fix="check the files, or remove the cache folder "
                        f"{cache_dir} and retry") from err
    return make()


def ensembl_cache_dir(cache_root: str | os.PathLike, reference_name: str, release: int) -> Path:
    """Where ``PYENSEMBL_CACHE_DIR=<cache_root> pyensembl install`` puts a release."""
    from pyensembl.download_cache import cache_subdirectory

    return Path(cache_root) / cache_subdirectory(reference_name, "ensembl", release)


def install_command(release: int, species: str, server: str | None = None,
                    cache_root: str | os.PathLike | None = None) -> str:
    """The shell command that installs an Ensembl release for pyensembl."""
    prefix = f"PYENSEMBL_CACHE_DIR={cache_root} " if cache_root is not None else ""
    suffix = f" --server {server}" if server else ""
    return f"{prefix}pyensembl install --release {release} --species {species}{suffix}"


def load_ensembl_release(release: int, species: str = "human", *,
                         cache_root: str | os.PathLike | None = None,
                         server: str | None = None) -> pyensembl.EnsemblRelease:
    """Return an already installed :class:`pyensembl.EnsemblRelease`.

    Parameters
    ----------
    release
        Ensembl release number, e.g. 87.
    species
        pyensembl species name or alias (``human``, ``mouse``, ...).
    cache_root
        The folder used as ``PYENSEMBL_CACHE_DIR`` when the release was
        installed; ``None`` uses pyensembl's default (``$PYENSEMBL_CACHE_DIR``
        or the platform cache folder).
    server
        Mirror URL the release was installed from. It is passed through so that
        pyensembl never contacts the default Ensembl host.

    Raises
    ------
    ReferenceError_
        The release is not installed (the message names the install command),
        or release/species are not known to pyensembl.
    """
    import pyensembl

    _remember_exons()
    kwargs = {} if server is None else {"server": server}
    try:
        genome = pyensembl.EnsemblRelease(release, species, **kwargs)
        if cache_root is not None:
            genome = pyensembl.EnsemblRelease(
                release, species, cache_directory_path=str(
                    ensembl_cache_dir(cache_root, genome.reference_name, genome.release)),
                **kwargs)
    except ValueError as err:
        raise ReferenceError_(f"pyensembl does not know Ensembl release {release} for {species!r}: "
                              f"{err}", fix="check --ensembl-release and --species") from err
    if not genome.installed():
        raise ReferenceError_(
            f"Ensembl release {release} ({species}) is not installed in the pyensembl cache "
            f"{genome.download_cache.cache_directory_path}",
            fix="run `" + install_command(release, species, server, cache_root) + "` "
                "(the workflow's reference rule does this) and retry")
    return genome


def _remember_exons() -> None:
    """Make ``pyensembl.Transcript.exons`` read the database once per transcript object.

    In pyensembl 2.32 ``exons`` is a plain property: every read runs an SQL query (and
    pyensembl's check that the GTF has not changed), and varcode reads it about 12 times
    per transcript it annotates (``spliced_offset``, ``len``, the start/stop codons).
    The annotation database is read-only here, so the first read's exons are kept on
    the object and each later read returns a copy of that list: the same exons, in the
    same order. Idempotent; a pyensembl whose ``exons`` is not a plain property (a
    memoised one) is left as it is."""
    from pyensembl.transcript import Transcript

    current = Transcript.__dict__.get("exons")
    if not isinstance(current, property) or getattr(current.fget, "_neorank", False):
        return
    read = current.fget

    def exons(transcript: Transcript) -> list:
        kept = transcript.__dict__.get("_neorank_exons")
        if kept is None:
            kept = transcript.__dict__["_neorank_exons"] = read(transcript)
        return list(kept)

    exons._neorank = True  # type: ignore[attr-defined]
    exons.__doc__ = read.__doc__
    Transcript.exons = property(exons)  # type: ignore[method-assign,assignment]


def load_genome(*, gtf: str | os.PathLike | None = None, cdna: str | os.PathLike | None = None,
                pep: str | os.PathLike | None = None, reference_name: str = "GRCh38",
                release: int | str | None = None, ensembl_release: int | None = None,
                species: str = "human", server: str | None = None,
                cache_dir: str | os.PathLike | None = None) -> pyensembl.Genome:
    """Load the annotation from local files or an installed Ensembl release.

    Exactly one of ``gtf`` (with ``cdna`` and ``pep``) or ``ensembl_release``
    must be given. See :func:`load_local_genome` and :func:`load_ensembl_release`.
    """
    if (gtf is None) == (ensembl_release is None):
        raise ReferenceError_("choose one annotation source",
                              fix="pass either --gtf/--cdna/--pep or --ensembl-release")
    if ensembl_release is not None:
        return load_ensembl_release(ensembl_release, species, cache_root=cache_dir, server=server)
    if cache_dir is None:
        raise ReferenceError_("--cache-dir is required with a local annotation",
                              fix="pass --cache-dir, e.g. .cache/reference")
    return load_local_genome(gtf, cdna, pep, cache_root=cache_dir,  # type: ignore[arg-type]
                             reference_name=reference_name, release=release, species=species)


def genome_from_args(args: argparse.Namespace) -> pyensembl.Genome:
    """:func:`load_genome` with the annotation options of ``neorank annotate``."""
    return load_genome(gtf=args.gtf, cdna=args.cdna, pep=args.pep,
                       reference_name=args.reference_name, release=args.release,
                       ensembl_release=args.ensembl_release, species=args.species,
                       server=args.ensembl_server, cache_dir=args.cache_dir)


def index_reference(args: argparse.Namespace) -> int:
    """Build the annotation cache and return 0 (``neorank index-reference``)."""
    genome = genome_from_args(args)
    log.info("reference ready: %s (%d genes)", genome, len(genome.gene_ids()))
    return 0


def _strip_chr(name: str) -> str:
    return name[3:] if name.lower().startswith("chr") else name


def contig_for(genome: pyensembl.Genome, vcf_contig: str,
               contigs: set[str] | None = None) -> str | None:
    """The genome's name for a VCF contig, or ``None`` if the genome lacks it.

    ``chr1`` and ``1`` are the same contig; so are ``chrM``, ``chrMT``, ``M``
    and ``MT``.

    Parameters
    ----------
    genome
        The annotation.
    vcf_contig
        The contig as written in the VCF.
    contigs
        ``genome.contigs()`` when the caller already has it (saves a query).
    """
    names = set(genome.contigs()) if contigs is None else contigs
    if vcf_contig in names:
        return vcf_contig
    base = _strip_chr(vcf_contig)
    candidates = [base, "chr" + base]
    if base.upper() in ("M", "MT"):
        candidates = ["MT", "M", "chrM", "chrMT"]
    for candidate in candidates:
        if candidate in names:
            return candidate
    lowered = {name.lower(): name for name in names}
    for candidate in candidates:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def add_reference_arguments(parser) -> None:
    """The annotation-source options shared by ``neorank annotate`` and ``preflight``."""
    local = parser.add_argument_group("local annotation files (e.g. the embedded subset)")
    local.add_argument("--gtf", help="Ensembl-style GTF (gzip allowed)")
    local.add_argument("--cdna", help="transcript cDNA FASTA")
    local.add_argument("--pep", help="protein FASTA")
    local.add_argument("--reference-name", default="GRCh38", help="genome assembly (default GRCh38)")
    local.add_argument("--release", help="annotation version of the files, e.g. 87")
    ensembl = parser.add_argument_group("installed Ensembl release (`pyensembl install`)")
    ensembl.add_argument("--ensembl-release", type=int, help="Ensembl release, e.g. 87")
    ensembl.add_argument("--species", default="human", help="pyensembl species (default human)")
    ensembl.add_argument("--ensembl-server", help="Ensembl mirror URL the release was installed from")
    parser.add_argument("--cache-dir",
                        help="index cache for local files; PYENSEMBL_CACHE_DIR for --ensembl-release")
