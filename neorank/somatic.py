"""Stage ``somatic``: keep the tumor's somatic alleles, account for every other one.

Two input layouts are supported:

paired
    One VCF with a tumor and a normal sample column (GATK Mutect2, Strelka2,
    ...). Read counts of both samples come from FORMAT: ``AD``/``DP``/``AF``
    (Mutect2 style; ``DP`` missing -> ``sum(AD)``, ``AF`` missing ->
    ``alt reads / depth``) or Strelka2 tier-1 counts (SNVs: ``AU,CU,GU,TU`` and
    ``DP``; indels: ``TAR,TIR`` and ``DP``; VAF = alt / (ref + alt) as Strelka2
    documents). When a sample carries none of these, its values are ``NA``
    ("not assessed"): they are never imputed and never fail a filter.
separate
    A tumor VCF and a normal (germline) VCF. Alleles of both are split and
    normalised (shared suffix then shared prefix trimmed, one anchor base kept;
    contigs compared without a ``chr`` prefix, ``chrM`` = ``MT``). A tumor
    allele also called in the normal VCF is germline and filtered. A normal
    record whose genotype is fully called and does not carry the allele (e.g.
    ``0/0`` in a joint-called VCF) does not count; the normal record's FILTER is
    not consulted.

Every tumor allele (one per record and ALT) gets one row in the accounting
table (``docs/tables.md``); the kept ones are written, one ALT per record, to a
bgzipped, tabix-indexed VCF. Both outputs are deterministic.

Reading the VCFs (samples, read counts, phasing, allele normalisation) is the
VCF layer's, :mod:`neorank.vcf`; this module applies the somatic filters.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from neorank import __version__
from neorank.calling import (  # noqa: F401 (the stage's names, as tests and users know them)
    _INFO_FIELDS,
    ACCOUNTING_COLUMNS,
    GERMLINE_REASON,
    Allele,
    SomaticResult,
    Thresholds,
    accounting_frame,
    call_somatic,
    filter_reasons,
)
from neorank.errors import NeoRankError
from neorank.io import write_tsv

LOG = logging.getLogger(__name__)

# INFO fields of the somatic VCF: (id, type, description).
# ----------------------------------------------------------------------- data types
# ------------------------------------------------------------------------ reading
# ------------------------------------------------------------------------ filters
# ------------------------------------------------------------------------ writing
def write_somatic_vcf(result: SomaticResult, path: str | os.PathLike, *, sample_id: str,
                      source_name: str, limits: Thresholds) -> None:
    """Write the kept alleles as a sorted, bgzipped, tabix-indexed VCF (atomic)."""
    import pysam

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = pysam.VariantHeader()
    header.add_line(f"##source=neorank {__version__} somatic")
    header.add_line(f"##neorank_sample={sample_id}")
    header.add_line(f"##neorank_somatic_input={source_name} ({result.mode} mode)")
    settings = ",".join(f"{k}={'|'.join(v) if isinstance(v, tuple) else v}"
                        for k, v in vars(limits).items())
    header.add_line(f"##neorank_somatic_filters={settings}")
    for name in result.contigs:
        line = result.contig_lines.get(name)
        if line:
            header.add_line(line)
        else:
            header.contigs.add(name)
    for ident, kind, text in _INFO_FIELDS:
        header.add_line(f'##INFO=<ID={ident},Number=1,Type={kind},Description="{text}">')
    sample = result.tumor_sample
    if sample is not None:
        header.add_line('##FORMAT=<ID=AD,Number=R,Type=Integer,'
                        'Description="Tumor reads supporting REF and ALT">')
        header.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Tumor read depth">')
        header.add_line('##FORMAT=<ID=AF,Number=A,Type=Float,'
                        'Description="Tumor variant allele fraction">')
        header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,'
                        'Description="Tumor genotype, recoded for this ALT (1 = carries it)">')
        header.add_line('##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">')
        header.add_line('##FORMAT=<ID=PGT,Number=1,Type=String,'
                        'Description="Physical phasing haplotype (Mutect2)">')
        header.add_line('##FORMAT=<ID=PID,Number=1,Type=String,'
                        'Description="Physical phasing ID (Mutect2)">')
        header.add_sample(sample)

    order = {name: i for i, name in enumerate(result.contigs)}
    kept = sorted(enumerate(result.kept), key=lambda t: (order[t[1].chrom], t[1].pos, t[0]))
    tmp = path.with_name(path.name + ".tmp.gz")
    with pysam.VariantFile(str(tmp), "wz", header=header) as out:
        for _, allele in kept:
            info: dict[str, Any] = {"NR_ID": allele.variant_id}
            for key, value in (("NR_TDP", allele.tumor.depth), ("NR_TAD", allele.tumor.alt_reads),
                               ("NR_TVAF", allele.tumor.vaf), ("NR_NDP", allele.normal.depth),
                               ("NR_NVAF", allele.normal.vaf)):
                if value is not None:
                    info[key] = value
            record = out.new_record(contig=allele.chrom, start=allele.pos - 1,
                                    alleles=(allele.ref, allele.alt), id=allele.record_id,
                                    filter="PASS", info=info)
            if sample is not None:
                call = record.samples[sample]
                t = allele.tumor
                if t.ref_reads is not None and t.alt_reads is not None:
                    call["AD"] = (t.ref_reads, t.alt_reads)
                if t.depth is not None:
                    call["DP"] = t.depth
                if t.vaf is not None:
                    call["AF"] = t.vaf
                phase = allele.phase
                if phase.haplotypes is not None:
                    call["GT"] = tuple(int(h) for h in phase.haplotypes)
                    call.phased = phase.phased
                if phase.ps is not None:
                    call["PS"] = phase.ps
                if phase.pgt is not None:
                    call["PGT"] = phase.pgt
                if phase.pid is not None:
                    call["PID"] = phase.pid
            out.write(record)
    pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp) + ".tbi")
    os.replace(str(tmp) + ".tbi", str(path) + ".tbi")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- CLI
def add_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``neorank somatic``."""
    defaults = Thresholds()
    parser = subparsers.add_parser(
        "somatic",
        help="keep somatic alleles of a tumor/normal pair; account for every filtered one",
        description="Split the tumor alleles, filter them on FILTER, read depth, VAF and the "
        "normal, and write the kept ones (somatic.vcf.gz + .tbi) and an accounting table with "
        "one row per input allele. Input: one paired VCF (tumor and normal columns) or a tumor "
        "VCF and a normal VCF.",
    )
    parser.add_argument("--sample", required=True, help="sample id (sample sheet)")
    parser.add_argument("--paired-vcf", metavar="FILE",
                        help="VCF with tumor and normal sample columns (e.g. Mutect2, Strelka2)")
    parser.add_argument("--tumor-vcf", metavar="FILE", help="tumor VCF (separate mode)")
    parser.add_argument("--normal-vcf", metavar="FILE",
                        help="normal/germline VCF; tumor alleles found in it are germline")
    parser.add_argument("--tumor-sample", metavar="NAME",
                        help="tumor column (required with --paired-vcf; default: the only sample)")
    parser.add_argument("--normal-sample", metavar="NAME",
                        help="normal column (required with --paired-vcf; default: the only sample)")
    parser.add_argument("--require-pass", action=argparse.BooleanOptionalAction,
                        default=defaults.require_pass,
                        help="filter records whose FILTER has a value not accepted by "
                        "--pass-filter ('.' always passes; default: on)")
    parser.add_argument("--pass-filter", dest="pass_filters", action="append", metavar="ID",
                        help="a FILTER value a kept record may carry; repeat for several "
                        "(default: PASS). A record passes when all its FILTER values are given")
    parser.add_argument("--min-tumor-depth", type=int, default=defaults.min_tumor_depth,
                        help="tumor read depth (DP) a kept allele needs (config somatic.min_tumor_depth)")
    parser.add_argument("--min-tumor-alt-reads", type=int, default=defaults.min_tumor_alt_reads,
                        help="tumor reads carrying the ALT a kept allele needs (config somatic.min_tumor_alt_reads)")
    parser.add_argument("--min-tumor-vaf", type=float, default=defaults.min_tumor_vaf,
                        help="tumor VAF a kept allele needs (config somatic.min_tumor_vaf)")
    parser.add_argument("--min-normal-depth", type=int, default=defaults.min_normal_depth,
                        help="applied only where the normal depth is known")
    parser.add_argument("--max-normal-vaf", type=float, default=defaults.max_normal_vaf,
                        help="filter when normal VAF >= this (only where known)")
    parser.add_argument("--out-vcf", required=True, metavar="FILE",
                        help="kept somatic alleles, bgzipped (.vcf.gz) with a .tbi index")
    parser.add_argument("--out-accounting", required=True, metavar="FILE",
                        help="accounting TSV, one row per input allele")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the somatic stage from parsed arguments; return 0 on success."""
    if not str(args.out_vcf).endswith(".gz"):
        raise NeoRankError(f"--out-vcf {args.out_vcf} must end in .vcf.gz (it is bgzipped)",
                           fix="e.g. --out-vcf results/SAMPLE/somatic.vcf.gz")
    limits = Thresholds(
        require_pass=args.require_pass,
        pass_filters=tuple(args.pass_filters or Thresholds.pass_filters),
        min_tumor_depth=args.min_tumor_depth,
        min_tumor_alt_reads=args.min_tumor_alt_reads, min_tumor_vaf=args.min_tumor_vaf,
        min_normal_depth=args.min_normal_depth, max_normal_vaf=args.max_normal_vaf)
    result = call_somatic(limits=limits, paired_vcf=args.paired_vcf, tumor_vcf=args.tumor_vcf,
                          normal_vcf=args.normal_vcf, tumor_sample=args.tumor_sample,
                          normal_sample=args.normal_sample)
    source = Path(args.paired_vcf or args.tumor_vcf).name
    write_tsv(accounting_frame(result), args.out_accounting, columns=ACCOUNTING_COLUMNS)
    write_somatic_vcf(result, args.out_vcf, sample_id=args.sample, source_name=source,
                      limits=limits)
    n_kept = len(result.kept)
    n_all = len(result.alleles)
    LOG.info("somatic: %d input alleles, %d somatic, %d filtered", n_all, n_kept, n_all - n_kept)
    return 0
