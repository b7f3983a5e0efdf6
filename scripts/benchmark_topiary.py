#!/usr/bin/env python
"""Head to head: Topiary (openvax) against NeoRank on the same cohort.

Takes a finished ``scripts/benchmark.py`` run folder (synthetic reference,
paired VCF, 6 alleles, NeoRank results and timing in benchmark.json) and runs
Topiary in its own virtualenv on the same VCF with the same MHCflurry model
folder, alleles and peptide lengths (8-11), then compares::

    python3 -m venv /work/topiary-venv
    /work/topiary-venv/bin/pip install torch==2.13.0 topiary   # CPU torch first
    .venv/bin/python scripts/benchmark.py --variants 1000 --workdir /tmp/nb1k
    .venv/bin/python scripts/benchmark_topiary.py --workdir /tmp/nb1k

Topiary is driven through its Python API (the CLI only knows named Ensembl
releases): a :class:`pyensembl.Genome` over the synthetic GTF/cDNA/peptide
FASTA (indexed in Topiary's own cache folder, timed), ``varcode.load_vcf``
(PASS records only, Topiary's default), ``mhctools.MHCflurry_Affinity`` on the
embedded model folder, ``TopiaryPredictor(only_novel_epitopes=True,
predict_wt=True)`` so that, like NeoRank, it scores mutant and wildtype
peptides and keeps only peptides overlapping the mutation.

Reports both wall times (``speed_ratio=<topiary / neorank>``) and the overlap
of the unique mutant peptide sets (Jaccard), with the differences explained
by category.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_MODELS = ROOT / "resources" / "mhcflurry" / "embedded"
LENGTHS = [8, 9, 10, 11]


def inner(args: argparse.Namespace) -> int:
    """Runs inside the Topiary virtualenv: index, annotate, predict, write CSV."""
    started = time.perf_counter()
    import pyensembl
    import varcode
    from mhctools import MHCflurry_Affinity
    from topiary import TopiaryPredictor

    ref = Path(args.reference)
    genome = pyensembl.Genome(
        reference_name="SYNTH", annotation_name="topiary", annotation_version=87,
        gtf_path_or_url=str(ref / "reference.gtf.gz"),
        transcript_fasta_paths_or_urls=[str(ref / "reference.cdna.fa.gz")],
        protein_fasta_paths_or_urls=[str(ref / "reference.pep.fa.gz")],
        cache_directory_path=args.cache)
    genome.index()
    indexed = time.perf_counter()
    variants = varcode.load_vcf(args.vcf, genome=genome)  # only_passing=True by default
    model = MHCflurry_Affinity(alleles=args.alleles.split(","), default_peptide_lengths=LENGTHS,
                               models_path=str(args.models), predictor_version="neorank-embedded")
    predictor = TopiaryPredictor(models=model, padding_around_mutation=max(LENGTHS) - 1,
                                 only_novel_epitopes=True, predict_wt=True,
                                 raise_on_error=False)
    loaded = time.perf_counter()
    table = predictor.predict_from_variants(variants)
    done = time.perf_counter()
    table.to_csv(args.out, index=False)
    timing = {"index_s": indexed - started, "load_s": loaded - indexed,
              "predict_from_variants_s": done - loaded, "variants_passing": len(variants),
              "rows": len(table), "columns": list(table.columns)}
    Path(args.out + ".json").write_text(json.dumps(timing, indent=2) + "\n")
    return 0


def compare(workdir: Path, topiary_csv: Path) -> dict:
    """Unique mutant peptides of NeoRank and Topiary, and why they differ."""
    import pandas as pd

    result = json.loads((workdir / "benchmark.json").read_text())
    sample = f"synthetic{result['variants']}"
    ours = pd.read_csv(workdir / "results" / sample / "peptides.tsv", sep="\t", dtype=str,
                       keep_default_na=False, na_values=["NA"])
    variants = pd.read_csv(workdir / "results" / sample / "variants.tsv", sep="\t", dtype=str,
                           keep_default_na=False, na_values=["NA"])
    theirs = pd.read_csv(topiary_csv, dtype=str, keep_default_na=False)
    peptide_col = "peptide" if "peptide" in theirs.columns else "mutant_peptide"
    a, b = set(ours["mutant_peptide"]), set(theirs[peptide_col])
    union = a | b
    out = {"neorank_unique_mutant_peptides": len(a), "topiary_unique_peptides": len(b),
           "shared": len(a & b), "only_neorank": len(a - b), "only_topiary": len(b - a),
           "jaccard": len(a & b) / len(union) if union else 1.0}

    # Why: peptides of variants NeoRank filtered (VAF/depth; Topiary keeps every PASS
    # record), of non-top-priority transcripts (Topiary keeps one effect per variant),
    # and per effect class.
    filtered = variants[variants["status"] == "filtered"]
    filtered_sites = {(str(c).removeprefix("chr"), int(p))
                      for c, p in zip(filtered["chrom"], filtered["pos"], strict=True)}
    if "variant" in theirs.columns:
        theirs_by_peptide = theirs.groupby(peptide_col)["variant"].first()
    else:
        theirs_by_peptide = pd.Series(dtype=str)
    only_t = b - a
    reasons_t = {True: 0, False: 0}
    for pep in only_t:
        site = _variant_site(str(theirs_by_peptide.get(pep, "")))
        # varcode trims the VCF anchor base of indels: its start is POS or POS + 1
        hit = site is not None and ({site, (site[0], site[1] - 1)} & filtered_sites)
        reasons_t[bool(hit)] += 1
    out["only_topiary_from_variants_neorank_filtered"] = reasons_t.get(True, 0)
    out["only_topiary_other"] = reasons_t.get(False, 0)
    only_n = ours[ours["mutant_peptide"].isin(a - b)].drop_duplicates("mutant_peptide")
    out["only_neorank_by_effect"] = only_n["effect"].value_counts().to_dict()
    top_tx = variants.set_index("variant_id")["transcript_id"].to_dict()
    on_top = only_n.apply(lambda r: top_tx.get(r["variant_id"], "") in
                          str(r["transcript_ids"]).split(";"), axis=1)
    out["only_neorank_not_on_top_transcript"] = int((~on_top).sum()) if len(only_n) else 0
    if "variant_class" in variants.columns:  # e.g. splice_site: varcode's top effect there is
        # a splice outcome, which Topiary skips; NeoRank keeps the coding change
        vclass = variants.set_index("variant_id")["variant_class"].fillna("NA")
        out["only_neorank_on_top_transcript_by_variant_class"] = (
            only_n[on_top.to_numpy(dtype=bool)]["variant_id"].map(vclass)
            .value_counts().to_dict() if len(only_n) else {})
    out["examples_only_neorank"] = only_n.head(5)[["variant_id", "effect", "protein_change",
                                                   "mutant_peptide"]].to_dict("records")
    out["examples_only_topiary"] = sorted(only_t)[:5]
    if "effect_type" in theirs.columns:
        sub = theirs[theirs[peptide_col].isin(only_t)].drop_duplicates(peptide_col)
        out["only_topiary_by_effect"] = sub["effect_type"].value_counts().to_dict()
    return out


def _variant_site(text: str) -> tuple[str, int] | None:
    """(contig without chr, start) of a variant as Topiary writes it."""
    import re

    m = re.search(r"contig='?([^',]+)'?, start=(\d+)", text) or re.search(
        r"^(\S+) g\.(\d+)", text)  # or Topiary's "chr1 g.7726439T>A"
    return (m.group(1).removeprefix("chr"), int(m.group(2))) if m else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inner"]:
        parser = argparse.ArgumentParser(prog="benchmark_topiary.py inner")
        for name in ("--reference", "--vcf", "--alleles", "--models", "--cache", "--out"):
            parser.add_argument(name, required=True)
        return inner(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="a finished scripts/benchmark.py run folder")
    parser.add_argument("--topiary-python", default="/work/topiary-venv/bin/python")
    parser.add_argument("--compare-only", action="store_true",
                        help="do not run Topiary again: re-compare its earlier output")
    parser.add_argument("--time-limit", type=float,
                        help="stop Topiary after this many seconds and report the time and "
                        "peak memory at the limit (a lower bound of the speed ratio)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "scripts"))
    from benchmark import ALLELES, timed

    workdir = args.workdir.resolve()
    result = json.loads((workdir / "benchmark.json").read_text())
    n = result["variants"]
    cohort = workdir / "cohort"
    out_dir = workdir / "topiary"
    out_dir.mkdir(exist_ok=True)
    out_csv = out_dir / "topiary.csv"
    cmd = [args.topiary_python, str(Path(__file__).resolve()), "inner",
           "--reference", str(cohort / "reference"),
           "--vcf", str(cohort / f"synthetic{n}.paired.vcf.gz"),
           "--alleles", ",".join(ALLELES), "--models", str(EMBEDDED_MODELS),
           "--cache", str(out_dir / f"cache-{time.time_ns()}"), "--out", str(out_csv)]
    env = dict(os.environ, PATH=f"{Path(args.topiary_python).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}")
    if args.compare_only:
        run = json.loads((out_dir / "comparison.json").read_text())["topiary"]
    else:
        print(f"topiary: {' '.join(cmd)}", flush=True)
        run = timed(cmd, out_dir / "topiary.log", env, time_limit=args.time_limit)
    neorank_s = result["e2e"]["wall_s"]
    if not run.get("finished", True):
        report = {"variants": n, "neorank_e2e_s": neorank_s, "topiary": run,
                  "time_limit_s": args.time_limit, "finished": False,
                  "speed_ratio_at_least": run["wall_s"] / neorank_s,
                  "loadavg_after": os.getloadavg()}
        (out_dir / "comparison.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        print(f"variants={n} neorank_s={neorank_s:.1f} topiary_stopped_at_s={run['wall_s']:.1f} "
              f"topiary_peak_rss_mib={run['tree_peak_rss_mib']:.0f} "
              f"speed_ratio>={run['wall_s'] / neorank_s:.2f}")
        return 0
    inner_timing = json.loads(Path(str(out_csv) + ".json").read_text())
    overlap = compare(workdir, out_csv)
    report = {"variants": n, "neorank_e2e_s": neorank_s, "topiary": run,
              "topiary_inner": inner_timing, "overlap": overlap,
              "speed_ratio": run["wall_s"] / neorank_s, "loadavg_after": os.getloadavg()}
    (out_dir / "comparison.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    print(f"variants={n} neorank_s={neorank_s:.1f} topiary_s={run['wall_s']:.1f} "
          f"topiary_peak_rss_mib={run['max_rss_mib']:.0f} jaccard={overlap['jaccard']:.3f} "
          f"speed_ratio={run['wall_s'] / neorank_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
