"""Preflight of one VCF as a whole (:func:`check_vcf`), the caller that wrote it, and a
dry run of the somatic classification (:func:`check_somatic_outcome`)."""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter
from pathlib import Path

from neorank import calling
from neorank.errors import NeoRankError
from neorank.preflight.report import INFO, WARNING, Report
from neorank.preflight.vcf_records import RefChecker, VcfSummary, scan_records
from neorank.preflight.vcf_text import VcfText, probe_file, scan_text
from neorank.vcf import quiet_htslib

LOG = logging.getLogger(__name__)


# ----------------------------------------------------------------------- callers
def detect_caller(meta: list[str], format_keys: set[str], info_keys: set[str]) -> str:
    """Name the variant caller that most likely wrote the VCF."""
    header = "\n".join(meta).lower()
    if "mutect" in header or {"TLOD"} <= info_keys and {"F1R2", "F2R1"} & format_keys:
        return "Mutect2"
    if "strelka" in header or {"AU", "CU", "GU", "TU"} <= format_keys or (
            {"TAR", "TIR"} <= format_keys and "GT" not in format_keys):
        return "Strelka2"
    if "varscan" in header or {"FREQ", "RD"} <= format_keys:
        return "VarScan2"
    if "freebayes" in header or {"RO", "AO"} <= format_keys:
        return "FreeBayes"
    if "deepvariant" in header or ("VAF" in format_keys and "GQ" in format_keys
                                    and "AF" not in format_keys):
        return "DeepVariant"
    return "generic"


_CALLER_NOTES = {
    "Mutect2": (INFO, "AD/AF/DP per sample are used as they are (DP missing -> sum of AD)"),
    "Strelka2": (INFO, "no GT; tier-1 counts (AU/CU/GU/TU for SNVs, TAR/TIR for indels) give "
                       "alt reads and VAF = alt / (ref + alt)"),
    "VarScan2": (WARNING, "VarScan2's AD holds the ALT reads only (RD the REF reads) and FREQ "
                          "is a percentage: NeoRank reads neither, so tumor alt reads and VAF "
                          "are not assessed (NA); depth comes from DP"),
    "FreeBayes": (WARNING, "FreeBayes' RO/AO counts are not read; only AD/DP (if present) are "
                           "used, otherwise read counts are not assessed (NA)"),
    "DeepVariant": (INFO, "VAF comes from AD and DP (DeepVariant's own VAF field is not read); "
                          "DeepVariant is a germline caller: use a somatic caller for tumors"),
    "generic": (INFO, "AD/AF/DP are used when present; anything missing is not assessed (NA)"),
}


#: How to get the read counts NeoRank reads from a caller whose own it does not read.
_CALLER_FIXES = {
    "VarScan2": "to use the tumor alt-read and VAF filters, give AD as REF,ALT counts (AD=RD,AD) "
                "and AF as a fraction (e.g. convert with vcf2maf/maf2vcf), or accept them as "
                "not assessed",
    "FreeBayes": "to use the read filters, give FORMAT AD (REF,ALT counts: FreeBayes >= 1.0 writes "
                 "it; else derive it from RO,AO), or accept them as not assessed",
}


def report_caller(summary: VcfSummary, text: VcfText | None, role: str, report: Report) -> None:
    if not summary.readable:
        return
    keys = set(summary.format_keys)
    summary.caller = detect_caller(text.meta if text else [], keys, summary.info_keys)
    provided = [k for k in ("GT", "AD", "AF", "DP") if k in keys]
    missing = [k for k in ("GT", "AD", "AF", "DP") if k not in keys]
    severity, note = _CALLER_NOTES[summary.caller]
    report.add(severity, "caller", f"{role} VCF looks like {summary.caller} output; FORMAT "
               f"provides {', '.join(provided) or 'none of GT/AD/AF/DP'}"
               + (f" (missing: {', '.join(missing)})" if missing else "") + f". {note}",
               file=summary.path,
               fix=_CALLER_FIXES.get(summary.caller, "") if severity == WARNING else "")
    if summary.records and summary.sample is not None:
        tiers = {"AU", "CU", "GU", "TU", "TAR", "TIR"} & keys
        if "DP" not in keys and "AD" not in keys and not tiers:
            report.warning("read_counts", f"{role} sample {summary.sample!r} has neither DP, AD "
                           "nor Strelka2 tier counts: depth and alt-read filters cannot be "
                           "applied (not assessed)", file=summary.path,
                           fix="give the caller's per-sample read counts (FORMAT AD/DP)")
        elif "DP" not in keys and "AD" in keys:
            report.info("read_counts", f"no FORMAT DP in the {role} VCF: depth = sum of AD",
                        file=summary.path)


# -------------------------------------------------------------------- the inputs
def check_vcf(path: str, role: str, report: Report, *, sample: str | None, sample_option: str,
              required: bool, other_sample: str | None = None, other_option: str | None = None,
              ref_checker: RefChecker | None = None) -> VcfSummary:
    """All checks of one VCF; returns what the record scan found."""
    file = Path(path)
    kind = probe_file(file, role, report)
    if kind is None:
        return VcfSummary(file)
    text = None
    if kind != "bcf":
        text = scan_text(file, kind, role, report)
    if kind == "bgzf-noeof":
        complete = text is None or text.complete
        report.error("compression", f"the {role} VCF's bgzip end-of-file marker is missing: "
                     + ("htslib refuses to read it (the data itself decompresses completely)"
                        if complete else "the file is truncated"), file=file,
                     fix="copy or download the file again (check it with `bgzip -t`)"
                         + ("" if not complete else "; or recompress it: "
                            f"`bgzip -dc {file} | bgzip > fixed.vcf.gz`"))
    if kind in ("gzip", "bgzf-noeof") or (text is not None and not text.complete):
        return VcfSummary(file)
    with quiet_htslib():
        summary = scan_records(file, role, text, report, sample=sample,
                               sample_option=sample_option, required=required,
                               other_sample=other_sample, other_option=other_option,
                               ref_checker=ref_checker, compressed=kind != "text")
    report_caller(summary, text, role, report)
    if summary.readable and summary.records == 0:
        report.warning("variants", f"the {role} VCF has no variant records (header only)",
                       file=file,
                       fix="nothing to rank: check that the caller ran on the right files"
                           if role != "normal" else
                           "an empty normal VCF removes no germline variant: is it the right "
                           "file?")
    return summary


def check_somatic_outcome(args: argparse.Namespace, report: Report) -> None:
    """Run the somatic classification (default thresholds, the given --pass-filter values).

    Flags inputs with zero variants or only germline ones.
    """
    try:
        with quiet_htslib():
            result = calling.call_somatic(
                limits=calling.Thresholds(pass_filters=tuple(
                    getattr(args, "pass_filters", None) or calling.Thresholds.pass_filters)),
                paired_vcf=args.paired_vcf,
                tumor_vcf=args.tumor_vcf, normal_vcf=args.normal_vcf,
                tumor_sample=args.tumor_sample, normal_sample=args.normal_sample)
    except NeoRankError as err:  # already reported by the file checks
        LOG.debug("somatic dry run failed: %s", err)
        return
    source = args.paired_vcf or args.tumor_vcf
    alleles = result.alleles
    if not alleles:
        return
    kept = len(result.kept)

    def germline(allele: calling.Allele) -> bool:
        return allele.in_normal_vcf or any(
            "germline" in r.lower() or r.startswith("normal_vaf") for r in allele.reasons)

    report.info("variants", f"{len(alleles)} input allele(s) (records x ALT), each with one "
                f"accounting row; {kept} pass the default somatic filters", file=source)
    if all(a.alt == "." for a in alleles):
        report.warning("variants", f"zero variants: all {len(alleles)} record(s) have no ALT "
                       "allele ('.': reference-only, e.g. gVCF blocks)", file=source,
                       fix="give the caller's variant calls, not a gVCF or a genotyped site list")
    elif kept == 0 and all(germline(a) for a in alleles):
        report.warning("variants", f"all {len(alleles)} tumor allele(s) are germline "
                       "(present in the normal" + (" VCF" if result.mode == "separate" else "")
                       + "): no somatic variant is left", file=source,
                       fix="check that the tumor and normal inputs are not swapped or the same "
                           "file, and that the tumor VCF holds somatic calls")
    elif kept == 0:
        reasons = Counter(re.split(r"\s[\d<>]", r)[0] for a in alleles for r in a.reasons)
        listed = ", ".join(f"{r} ({n})" for r, n in reasons.most_common(5))
        report.warning("variants", f"none of the {len(alleles)} allele(s) passes the default "
                       f"somatic filters (reasons: {listed})", file=source,
                       fix="check the thresholds in config `somatic` and the caller's FILTER "
                           "values")
