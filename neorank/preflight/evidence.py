"""Preflight of the per-sample evidence besides the VCFs: purity, the expression table,
the tumor RNA BAM and the copy-number table."""

from __future__ import annotations

import logging
import math
import zlib
from pathlib import Path
from typing import Any

import pandas as pd

from neorank.clonality import read_copy_number
from neorank.expression import detect_expression_format, strip_version
from neorank.preflight import vcf_text
from neorank.preflight.report import Report
from neorank.vcf import normalize_contig, quiet_htslib

LOG = logging.getLogger(__name__)


def check_purity(value: str | None, report: Report) -> None:
    if value is None or not str(value).strip():
        return
    try:
        number = float(value)
    except ValueError:
        report.error("purity", f"--purity {value!r} is not a number",
                     fix="give the tumor purity as a fraction between 0 and 1 (e.g. 0.6), or "
                         "leave it empty if unknown")
        return
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        hint = " (a percentage?)" if 2 <= number <= 100 else ""
        report.error("purity", f"--purity {value} is outside [0, 1]{hint}",
                     fix="give the tumor purity as a fraction between 0 and 1 (60% -> 0.6)")


def check_expression(path: str | None, report: Report, genome: Any) -> None:
    if not path:
        return
    file = Path(path)
    if not file.is_file():
        report.error("expression", "the expression table does not exist" if not file.exists()
                     else "the expression table is not a file", file=file,
                     fix="check the path in the sample sheet's expression column (or leave it "
                         "empty)")
        return
    try:
        with vcf_text.open_binary(file) as handle:
            head = handle.read(65536)
    except OSError as err:
        report.error("expression", f"the expression table cannot be read ({err.strerror or err})",
                     file=file, fix=f"make it readable: `chmod a+r {file}`")
        return
    if not head.strip():
        report.error("expression", "the expression table is empty", file=file,
                     fix="give Salmon quant.sf, Kallisto abundance.tsv, RSEM *.results or a "
                         "gene<TAB>value table")
        return
    compressed = head[:2] == b"\x1f\x8b"
    if not compressed and (b"\x00" in head or vcf_text.binary_fraction(head) > 0.1):
        report.error("expression", "the expression table is a binary file, not a text table "
                     "(a spreadsheet?)", file=file,
                     fix="export it as tab-separated text")
        return
    try:
        table = pd.read_csv(file, sep="\t", dtype=str, comment=None, nrows=2_000_000)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error) as err:
        report.error("expression", f"the expression table cannot be parsed as TSV ({err})",
                     file=file, fix="give a tab-separated table with a header line")
        return
    columns = [str(c) for c in table.columns]
    if len(columns) < 2:
        comma = "," in columns[0] if columns else False
        report.error("expression", "the expression table has one column"
                     + (" (comma-separated? it must be tab-separated)" if comma else ""),
                     file=file, fix="give ids and values in tab-separated columns")
        return
    detected = detect_expression_format(columns)
    if detected:
        name, id_column = detected
        report.info("expression", f"expression table format: {name} ({len(table)} rows)",
                    file=file)
    else:
        id_column = columns[0]
        numeric = [c for c in columns[1:]
                   if pd.to_numeric(table[c], errors="coerce").notna().mean() > 0.9]
        if not numeric:
            report.warning("expression", "unrecognised expression table: no numeric column "
                           f"(columns: {', '.join(columns[:8])})", file=file,
                           fix="give Salmon quant.sf, Kallisto abundance.tsv, RSEM *.results "
                               "or a gene<TAB>value table")
        else:
            report.info("expression", f"expression table format: plain table (ids in "
                        f"{id_column!r}, values in {', '.join(numeric[:3])}; {len(table)} rows)",
                        file=file)
    if genome is None or table.empty:
        if table.empty:
            report.warning("expression", "the expression table has no rows", file=file)
        return
    ids = {strip_version(str(v).split("|")[0]) for v in table[id_column].dropna()}
    known = set(genome.transcript_ids()) | set(genome.gene_ids()) | set(genome.gene_names())
    matched = ids & known
    if not matched:
        examples = ", ".join(sorted(ids)[:3])
        report.warning("expression", f"none of the {len(ids)} ids in column {id_column!r} "
                       f"(e.g. {examples}) matches a transcript id, gene id or gene name of the "
                       "reference: expression cannot be linked to the variants", file=file,
                       fix="quantify against the same Ensembl annotation as the reference "
                           "(RefSeq/UCSC ids do not match Ensembl ids)")
    else:
        report.info("expression", f"{len(matched)} of {len(ids)} ids match the reference",
                    file=file)


def _reference_contigs(genome: Any) -> set[str] | None:
    if genome is None:
        return None
    try:
        return {normalize_contig(str(c)) for c in genome.contigs()}
    except Exception:  # an annotation without contigs: nothing to compare
        LOG.debug("reference contigs unavailable", exc_info=True)
        return None


def check_rna_bam(path: str | None, report: Report, genome: Any) -> None:
    """The tumor RNA BAM: a readable, indexed BAM whose contigs match the reference."""
    if not path:
        return
    import pysam

    file = Path(path)
    if not file.is_file():
        report.error("rna_bam", "the RNA BAM does not exist" if not file.exists()
                     else "the RNA BAM is not a file", file=file,
                     fix="check the path in the sample sheet's rna_bam column (or leave it "
                         "empty: RNA support is then not assessed)")
        return
    try:
        with quiet_htslib():
            bam = pysam.AlignmentFile(str(file), "rb")
    except (OSError, ValueError) as err:
        report.error("rna_bam", f"the RNA BAM cannot be opened as BAM ({err})", file=file,
                     fix="give a coordinate-sorted BAM (`samtools sort -o out.bam in.sam`)")
        return
    with bam:
        if not bam.has_index():
            report.error("rna_bam", "the RNA BAM has no index (.bai or .csi beside it)",
                         file=file, fix=f"index it: `samtools index {file}`")
            return
        sort_order = (bam.header.to_dict().get("HD") or {}).get("SO")
        if sort_order not in (None, "coordinate"):
            report.error("rna_bam", f"the RNA BAM is sorted by {sort_order}, not coordinate",
                         file=file, fix="sort it: `samtools sort` then `samtools index`")
            return
        contigs = {normalize_contig(c) for c in bam.references}
        mapped = sum(s.mapped for s in bam.get_index_statistics())
    known = _reference_contigs(genome)
    if known is not None and not contigs & known:
        report.error("rna_bam", f"none of the RNA BAM's {len(contigs)} contigs (e.g. "
                     f"{', '.join(sorted(contigs)[:3])}) is a reference contig", file=file,
                     fix="align the RNA reads to the same genome build as the variants")
        return
    if mapped == 0:
        report.warning("rna_bam", "the RNA BAM has no mapped reads: every variant will show "
                       "0 RNA reads", file=file, fix="check that this is the sample's RNA BAM")
        return
    report.info("rna_bam", f"RNA BAM: {mapped} mapped reads on {len(contigs)} contigs", file=file)


def check_copy_number(path: str | None, report: Report, genome: Any) -> None:
    """The copy-number table parses (per-variant or segments) and covers reference contigs."""
    if not path:
        return
    table = read_copy_number(path)  # NeoRankError -> an error row (file, line, fix)
    if table.by_variant:
        report.info("copy_number", f"copy number given for {len(table.by_variant)} variant(s)",
                    file=path)
        return
    n_segments = sum(len(rows) for rows in table.segments.values())
    if not n_segments:
        report.warning("copy_number", "the copy-number table has no rows: CCF is not assessed",
                       file=path, fix="give the segments of the tumor (or leave the column empty)")
        return
    known = _reference_contigs(genome)
    if known is not None and not set(table.segments) & known:
        report.warning("copy_number", f"no segment is on a reference contig (segment contigs: "
                       f"{', '.join(sorted(table.segments)[:5])}): CCF is not assessed",
                       file=path, fix="give segments on the same genome build as the variants")
        return
    report.info("copy_number", f"{n_segments} copy-number segments on {len(table.segments)} "
                "contig(s)", file=path)
