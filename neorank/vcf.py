"""VCF access: one way to open, read and interpret a VCF (through pysam, never by hand).

A layer below the stages that read VCFs (``somatic``, ``preflight``, the
germline context of ``annotate``):

* opening and iterating (:func:`open_vcf`, :func:`iter_records`): failures
  become :class:`~neorank.errors.InputFileError` naming the file and record;
  :func:`quiet_htslib` silences htslib's own stderr warnings;
* the sample column (:func:`choose_sample`) and the FILTER column
  (:func:`filter_value`, :func:`rejected_filters`);
* read counts of a sample for one ALT (:func:`sample_counts`,
  :func:`record_counts`): ``AD``/``DP``/``AF`` or Strelka2 tier-1 counts;
* phasing of a sample for one ALT (:func:`sample_phase`): ``GT``/``PS`` and
  Mutect2's ``PGT``/``PID``;
* names: contigs compared without a ``chr`` prefix and with ``chrM`` = ``MT``
  (:func:`normalize_contig`), alleles trimmed to their parsimonious form
  (:func:`normalize_allele`, :func:`allele_key`), which alleles are literal
  sequence variants (:func:`allele_problem`) and the NeoRank ``variant_id``,
  short for long alleles (:func:`make_variant_id`).

pysam is imported inside the functions that need it, so importing this module
stays cheap.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from neorank.errors import InputFileError, NeoRankError

LOG = logging.getLogger(__name__)

_BASES = re.compile(r"[ACGTN]+")


# ------------------------------------------------------------------ names
def normalize_contig(name: str) -> str:
    """Contig name for comparisons: no ``chr`` prefix, mitochondria as ``MT``.

    ``chr1`` -> ``1``, ``chrM``/``M``/``chrMT`` -> ``MT``; surrounding spaces
    are dropped (contig names read from table cells).
    """
    core = str(name).strip()
    if core.lower().startswith("chr"):
        core = core[3:]
    return "MT" if core.upper() in ("M", "MT") else core


def normalize_allele(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the shared suffix, then the shared prefix, keeping one base each.

    This is the VCF "parsimonious" representation without left-alignment (which
    would need the genome sequence), e.g. ``GA>GG`` at 10 is ``A>G`` at 11.
    Alleles are compared upper-case.
    """
    ref, alt = ref.upper(), alt.upper()
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def allele_key(chrom: str, pos: int, ref: str, alt: str) -> tuple[str, int, str, str]:
    """Key under which equivalent alleles of two VCFs compare equal."""
    return (normalize_contig(chrom), *normalize_allele(pos, ref, alt))


#: REF or ALT alleles longer than this are shortened in a ``variant_id``.
MAX_ID_ALLELE = 10
#: Hex digits of the sha256 of the full ``chrom:pos:REF>ALT`` appended to a shortened id.
ID_HASH_CHARS = 6


def make_variant_id(chrom: str, pos: int, ref: str, alt: str) -> str:
    """NeoRank's ``variant_id``: short, stable, the same in every table, report and workbook.

    ``chrom:pos:REF>ALT`` (contig name as in the input) when REF and ALT have at
    most :data:`MAX_ID_ALLELE` letters. Longer alleles are shortened so a person can
    read the id (the full REF and ALT stay in ``variants.tsv`` and
    ``aggregated.tsv``, columns ``ref`` and ``alt``):

    * a deletion (ALT is the one anchor base REF starts with) -> ``chrom:pos:del<n>``,
      n the deleted bases after ``pos`` (position and length determine it);
    * an insertion (ALT extends REF) -> ``chrom:pos:ins<n>#<hash>``;
    * anything else -> the first 3 letters of each long allele + ``..``, then
      ``#<hash>``, e.g. ``chr2:209694768:CCT..>CAGGG#f82668``;

    ``<hash>`` is the first :data:`ID_HASH_CHARS` hex digits of the sha256 of the full
    ``chrom:pos:REF>ALT``, so two different long alleles at one position never share
    an id.
    """
    full = f"{chrom}:{pos}:{ref}>{alt}"
    if len(ref) <= MAX_ID_ALLELE and len(alt) <= MAX_ID_ALLELE:
        return full
    if len(alt) == 1 and len(ref) > 1 and ref[0].upper() == alt.upper():
        return f"{chrom}:{pos}:del{len(ref) - 1}"
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:ID_HASH_CHARS]
    if len(ref) < len(alt) and alt.upper().startswith(ref.upper()):
        return f"{chrom}:{pos}:ins{len(alt) - len(ref)}#{digest}"

    def cut(allele: str) -> str:
        return allele if len(allele) <= MAX_ID_ALLELE else allele[:3] + ".."

    return f"{chrom}:{pos}:{cut(ref)}>{cut(alt)}#{digest}"


def allele_problem(ref: str, alt: str) -> str | None:
    """Why an allele cannot be a somatic sequence variant, or ``None``."""
    if alt in ("*", "."):
        return f"no ALT sequence ({alt})" if alt == "." else "spanning-deletion ALT *"
    if alt.startswith("<"):
        return f"symbolic ALT {alt}"
    if "[" in alt or "]" in alt:
        return f"breakend ALT {alt}"
    if not _BASES.fullmatch(ref.upper()):
        return f"REF {ref} contains characters other than A, C, G, T, N"
    if not _BASES.fullmatch(alt.upper()):
        return f"ALT {alt} contains characters other than A, C, G, T, N"
    if "N" in ref.upper() or "N" in alt.upper():
        # annotate (varcode) needs known bases; an N allele cannot get an effect.
        which = "REF" if "N" in ref.upper() else "ALT"
        return f"{which} {ref if which == 'REF' else alt} contains N (unknown base)"
    if alt.upper() == ref.upper():
        return "ALT identical to REF"
    return None


# ------------------------------------------------------------------ reading
def open_vcf(path: str | os.PathLike, role: str) -> Any:
    """Open a VCF/BCF with pysam (a ``pysam.VariantFile``), failures as :class:`InputFileError`.

    ``role`` names the file in messages (``tumor``, ``normal``, ``paired``, ...).
    """
    import pysam

    path = str(path)
    if not os.path.exists(path):
        raise InputFileError(f"the {role} VCF does not exist", where=path,
                             fix="check the path in the sample sheet (relative paths are "
                             "resolved from the working directory)")
    known = text_problem(path)  # content htslib would refuse with a misleading message
    if known is not None:
        raise known
    try:
        vcf = pysam.VariantFile(path)
    except NotImplementedError as err:  # htslib cannot seek in plain (non-BGZF) gzip
        raise InputFileError("is compressed with plain gzip, not bgzip (BGZF): htslib cannot "
                             f"read it ({err})", where=path,
                             fix=f"recompress with bgzip: `gzip -dc {path} | bgzip > fixed.vcf.gz` "
                             "(bgzip comes with htslib/tabix), or give the uncompressed VCF") from err
    except (OSError, ValueError) as err:
        raise InputFileError(f"cannot be read as a VCF/BCF ({err})", where=path,
                             causes=["the file is not a VCF (e.g. a MAF or TSV)",
                                     "the header is missing or malformed (#CHROM line)",
                                     "a .gz file that is truncated"],
                             fix="check the file with `bcftools view -h`") from err
    try:
        list(vcf.header.samples)  # decoded lazily: a non-UTF-8 name would fail later
    except UnicodeDecodeError as err:
        vcf.close()
        raise InputFileError(f"the sample names in the #CHROM line are not UTF-8 text ({err})",
                             where=path,
                             fix="re-save the VCF as UTF-8 (`iconv -f latin1 -t utf-8`) or rename "
                             "the samples (`bcftools reheader`)") from err
    return vcf


_BOM = b"\xef\xbb\xbf"


def text_problem(path: str | os.PathLike) -> InputFileError | None:
    """Name what keeps htslib from reading a text VCF whose content is fine: a UTF-8
    byte-order mark or old Mac OS (CR-only) line endings; ``None`` if neither."""
    import gzip

    path = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                head = handle.read(65536)
    except (OSError, EOFError):
        return None
    if head.startswith(b"BCF") or b"\x00" in head:  # binary: htslib's own message
        return None
    compressed = path.endswith((".gz", ".bgz"))
    if head.startswith(_BOM):
        command = (f"`bgzip -dc {path} | sed '1s/^\\xEF\\xBB\\xBF//' | bgzip > fixed.vcf.gz`"
                   if compressed else f"`sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`")
        return InputFileError(
            "starts with a UTF-8 byte-order mark (bytes EF BB BF, as some Windows editors save "
            "text): htslib does not recognise the ##fileformat line after it", where=path,
            fix=f"remove the mark: {command}, or save the file as UTF-8 without BOM")
    if b"\r" in head.rstrip(b"\r") and b"\n" not in head:
        command = (f"`bgzip -dc {path} | tr '\\r' '\\n' | bgzip > fixed.vcf.gz`"
                   if compressed else f"`tr '\\r' '\\n' < {path} > fixed.vcf`")
        return InputFileError(
            "its lines end in CR only (old Mac OS line endings, no LF): htslib reads the whole "
            "file as one line and finds no #CHROM header", where=path,
            fix=f"convert the line endings to LF: {command} (or `mac2unix`)")
    return None


def iter_records(vcf: Any, path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(record_number, record)``; parse errors name the record."""
    number = 0
    last = "the header"
    iterator = iter(vcf)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except (OSError, ValueError) as err:
            raise InputFileError(
                f"malformed VCF record ({err})",
                where=f"{path}: record {number + 1} (after {last})",
                fix="check the record with `bcftools view`; each data line needs at least 8 "
                "tab-separated columns and FORMAT values matching the header",
            ) from err
        number += 1
        last = f"{record.chrom}:{record.pos}"
        yield number, record


@contextlib.contextmanager
def quiet_htslib() -> Iterator[None]:
    """Silence htslib's own stderr warnings while the block runs."""
    import pysam

    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def choose_sample(vcf: Any, path: str | os.PathLike, requested: str | None, role: str,
                  option: str, required: bool = False, *,
                  preferred: str | None = None) -> str | None:
    """The sample column to use for ``role`` (``tumor``/``normal``).

    ``requested`` must be a sample of the VCF (the error names the closest
    one). Without it: an error when ``required``; else the only sample, or
    ``preferred`` when the VCF has it; ``None`` for a sites-only VCF (its read
    counts are not assessed). Several samples and none chosen is an error
    naming ``option``.
    """
    samples = list(vcf.header.samples)
    if requested is not None:
        if requested in samples:
            return requested
        column = f"{role}_sample" if role in ("tumor", "normal") else "tumor_sample/normal_sample"
        spaced = [s for s in samples if s != s.strip() and s.strip() == requested.strip()]
        if spaced:
            name = spaced[0]
            raise InputFileError(
                f"{role} sample {requested!r} is not in the VCF, but {name!r} is: the VCF's "
                "sample name has " + _spaces(name) + ", and names are matched exactly",
                where=str(path),
                fix=f'in the sample sheet, write the name in double quotes with its spaces in '
                    f'the {column} column ("{name}"); on the command line quote it '
                    f"({option} '{name}'); or remove the spaces from the VCF "
                    "(`bcftools reheader -s new_names.txt`)")
        close = difflib.get_close_matches(requested, samples, n=1, cutoff=0.0)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        available = ", ".join(repr(s) for s in samples) or "none (sites-only VCF)"
        raise InputFileError(
            f"{role} sample {requested!r} is not in the VCF; available samples: {available}.{hint}",
            where=str(path),
            fix=f"pass the sample column name exactly as in the #CHROM line with {option} "
            f"(or the {column} column of the sample sheet; a name with leading or trailing "
            'spaces goes in double quotes there: "TUMOR ")',
        )
    if required:
        raise NeoRankError(f"{option} is required with --paired-vcf",
                           where=str(path),
                           fix=f"name the {role} column; the VCF has: {', '.join(samples)}")
    if len(samples) == 1:
        return samples[0]
    if preferred is not None and preferred in samples:
        return preferred
    if not samples:
        LOG.warning("%s: sites-only VCF, %s read counts are not assessed", path, role)
        return None
    raise InputFileError(
        f"the {role} VCF has {len(samples)} samples ({', '.join(samples)}); which one is the {role}?",
        where=str(path), fix=f"name it with {option}")


def _spaces(name: str) -> str:
    where = [w for w, ok in (("leading", name != name.lstrip()), ("trailing", name != name.rstrip()))
             if ok]
    return " and ".join(where) + " space(s)"


def filter_value(record: Any) -> str:
    """The record's FILTER column as text (``.`` when missing)."""
    names = list(record.filter.keys())
    return ";".join(names) if names else "."


def rejected_filters(filter_text: str, pass_filters: tuple[str, ...]) -> list[str]:
    """FILTER values of a record that are not accepted (empty list = the record passes).

    A record passes when *every* value of its FILTER column is one of
    ``pass_filters``; a missing FILTER (``.``) passes. So ``PASS;HighConf`` (SEQC2
    truth-set style) passes only when both ``PASS`` and ``HighConf`` are accepted,
    and a failing value next to ``PASS`` is never overlooked.
    """
    if filter_text == ".":
        return []
    return [name for name in filter_text.split(";") if name not in pass_filters]


# -------------------------------------------------------------------- read counts
@dataclass(frozen=True)
class Counts:
    """Read evidence of one sample for one allele; ``None`` = not assessed."""

    depth: int | None = None
    ref_reads: int | None = None
    alt_reads: int | None = None
    vaf: float | None = None


NOT_ASSESSED = Counts()


def format_values(value: Any, kind: type = int) -> tuple:
    """FORMAT value as a tuple of numbers (``None`` = missing).

    A field the header does not declare comes back from htslib as a string
    (``"12,3"``); it is parsed here. Raises ``ValueError`` for non-numbers.
    """
    if value is None:
        return ()
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if any(isinstance(v, str) for v in values):
        parts = [p for v in values for p in (v.split(",") if isinstance(v, str) else [v])]
        values = tuple(None if p in (".", "", None) else kind(p) for p in parts)
    return values


def _get(values: tuple, index: int) -> Any:
    return values[index] if 0 <= index < len(values) else None


def _clean_float(value: Any) -> float | None:
    """pysam returns float32 values (0.02 -> 0.0199999995); keep 6 digits."""
    if value is None:
        return None
    return float(f"{float(value):.6g}")


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return _clean_float(numerator / denominator)


def sample_counts(record: Any, sample: str | None, allele_index: int) -> Counts:
    """Read depth, ref/alt reads and VAF of ``sample`` for ALT number ``allele_index``.

    Mutect2 style ``AD``/``DP``/``AF`` (``DP`` missing -> ``sum(AD)``, ``AF``
    missing -> ``alt reads / depth``) or Strelka2 tier-1 counts (SNVs:
    ``AU,CU,GU,TU``; indels: ``TAR,TIR``; VAF = alt / (ref + alt)).

    Parameters
    ----------
    record
        A ``pysam.VariantRecord``.
    sample
        Sample name, or ``None`` for a sites-only VCF (-> not assessed).
    allele_index
        1-based index of the ALT allele in ``record.alleles``.

    Returns
    -------
    Counts
        ``None`` fields where the caller does not report the value.
    """
    if sample is None:
        return NOT_ASSESSED
    call = record.samples[sample]
    keys = set(call.keys())
    alleles = record.alleles
    ref, alt = alleles[0], alleles[allele_index]
    depth = call.get("DP") if "DP" in keys else None
    depth = _get(format_values(depth), 0)
    if "AD" in keys:
        ad = format_values(call.get("AD"))
        ref_reads, alt_reads = _get(ad, 0), _get(ad, allele_index)
        if depth is None and ad and any(v is not None for v in ad):
            depth = sum(v for v in ad if v is not None)
        vaf = None
        if "AF" in keys:
            vaf = _clean_float(_get(format_values(call.get("AF"), float), allele_index - 1))
        if vaf is None:
            vaf = _ratio(alt_reads, depth)
        return Counts(depth, ref_reads, alt_reads, vaf)
    tier_ref = f"{ref.upper()}U"
    tier_alt = f"{alt.upper()}U"
    if len(ref) == 1 and len(alt) == 1 and tier_ref in keys and tier_alt in keys:
        # Strelka2 SNV: per-base counts, (tier1, tier2); tier1 is used.
        ref_reads = _get(format_values(call.get(tier_ref)), 0)
        alt_reads = _get(format_values(call.get(tier_alt)), 0)
    elif "TAR" in keys and "TIR" in keys and len(alleles) == 2:
        # Strelka2 indel: TAR/TIR = reads strongly supporting ref/indel, (tier1, tier2).
        ref_reads = _get(format_values(call.get("TAR")), 0)
        alt_reads = _get(format_values(call.get("TIR")), 0)
    else:
        vaf = None
        if "AF" in keys:
            vaf = _clean_float(_get(format_values(call.get("AF"), float), allele_index - 1))
        return Counts(depth=depth, vaf=vaf)
    if ref_reads is None or alt_reads is None:
        vaf = None
    else:
        vaf = _ratio(alt_reads, ref_reads + alt_reads)
    if depth is None and ref_reads is not None and alt_reads is not None:
        depth = ref_reads + alt_reads
    return Counts(depth, ref_reads, alt_reads, vaf)


def record_counts(record: Any, sample: str | None, allele_index: int,
                  path: str | os.PathLike, number: int) -> Counts:
    """:func:`sample_counts`, with unparseable values reported by file and record."""
    try:
        return sample_counts(record, sample, allele_index)
    except (ValueError, TypeError) as err:
        raise InputFileError(
            f"sample {sample!r} has a non-numeric read count ({err})",
            where=f"{path}: record {number} ({record.chrom}:{record.pos})",
            fix="AD/DP (and Strelka2 AU/CU/GU/TU/TAR/TIR) must be integers and AF a number; "
            "declare them in the header with ##FORMAT lines",
        ) from err


# ------------------------------------------------------------------------ phasing
@dataclass(frozen=True)
class Phase:
    """Phasing of one sample for one ALT allele.

    ``haplotypes``: for each GT slot, whether it carries this ALT (``None`` if GT
    is absent or partly missing); ``phased``: GT is phased (``|``); ``ps``: the
    phase set (FORMAT PS); ``pgt``/``pid``: Mutect2's physical phasing.
    """

    haplotypes: tuple[bool, ...] | None = None
    phased: bool = False
    ps: int | None = None
    pgt: str | None = None
    pid: str | None = None


NO_PHASE = Phase()


def sample_phase(record: Any, sample: str | None, allele_index: int) -> Phase:
    """GT (recoded for ALT number ``allele_index``), PS, PGT and PID of ``sample``.

    Raises ``ValueError`` for a non-numeric PS the header does not declare.
    """
    if sample is None:
        return NO_PHASE
    call = record.samples[sample]
    keys = set(call.keys())
    haplotypes, phased = None, False
    if "GT" in keys:
        genotype = call.get("GT")
        if isinstance(genotype, tuple) and genotype and all(g is not None for g in genotype):
            haplotypes = tuple(g == allele_index for g in genotype)
            phased = bool(call.phased) and len(genotype) > 1
    ps = _get(format_values(call.get("PS")), 0) if "PS" in keys else None
    pgt = call.get("PGT") if "PGT" in keys else None
    pid = call.get("PID") if "PID" in keys else None
    pgt = pgt[0] if isinstance(pgt, tuple) else pgt
    pid = pid[0] if isinstance(pid, tuple) else pid
    return Phase(haplotypes, phased, ps, pgt or None, pid or None)


def record_phase(record: Any, sample: str | None, allele_index: int,
                 path: str | os.PathLike, number: int) -> Phase:
    """:func:`sample_phase`, with an unparseable phase set reported by file and record."""
    try:
        return sample_phase(record, sample, allele_index)
    except (ValueError, TypeError) as err:
        raise InputFileError(
            f"sample {sample!r} has a non-numeric phase set PS ({err})",
            where=f"{path}: record {number} ({record.chrom}:{record.pos})",
            fix="PS must be an integer; declare it in the header with "
            "##FORMAT=<ID=PS,Number=1,Type=Integer,...>",
        ) from err


def carries_allele(record: Any, sample: str | None, allele_index: int) -> bool:
    """False only when the sample's genotype is fully called without this allele."""
    if sample is None:
        return True
    call = record.samples[sample]
    if "GT" not in call.keys():
        return True
    genotype = call.get("GT")
    if isinstance(genotype, str):  # GT not declared in the header
        try:
            genotype = tuple(None if g == "." else int(g) for g in re.split(r"[/|]", genotype))
        except ValueError:
            return True
    genotype = tuple(genotype or ())
    if not genotype or any(g is None for g in genotype):
        return True
    return allele_index in genotype
