"""The Snakemake workflow end to end on the embedded demo (both input modes).

One run per test session in a temporary directory (the repository's resources
are used in place); the tests then check real content of the outputs, with
expectations computed here from the inputs rather than copied from a run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pysam
import pytest
import yaml

from neorank.resources import embedded_models_dir
from neorank.vcf import make_variant_id

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
SAMPLES = ["osteosarc-paired", "osteosarc-separate"]
BIN = Path(sys.executable).parent
PROFILE = ROOT / "workflow" / "profiles" / "default"

pytestmark = pytest.mark.workflow


#: A project folder's Snakefile using NeoRank as a Snakemake module (what
#: ``snakedeploy deploy-workflow`` writes); the project's own config/ is NeoRank's config.
MODULE_SNAKEFILE = """configfile: "config/config.yaml"


module neorank:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from neorank
"""


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir``: with the project's own Snakefile if it has one (NeoRank
    deployed as a module, run from the project folder), else NeoRank's."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    own = workdir / "Snakefile"
    # A project's Snakefile does not find NeoRank's workflow profile by itself.
    snakefile = ["--snakefile", str(own), "--workflow-profile", str(PROFILE)] if own.is_file() \
        else ["--snakefile", str(ROOT / "workflow" / "Snakefile")]
    cmd = [str(BIN / "snakemake"), *snakefile, "--directory", str(workdir), "--cores", "2",
           *args]
    result = subprocess.run(cmd, env=env, cwd=workdir if own.is_file() else None,
                            capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-8000:]}")
    return result


def write_run_dir(workdir: Path) -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    # The shipped config's empty reference and model paths mean the copies shipped with
    # NeoRank (found from the package, whatever the working directory).
    config["reference"]["cache_dir"] = str(workdir / "cache" / "reference")
    # NEORANK_TEST_MODELS points the run at another model folder (development only).
    config["mhcflurry"]["embedded_dir"] = os.environ.get(
        "NEORANK_TEST_MODELS", config["mhcflurry"]["embedded_dir"])
    config["mhcflurry"]["cache"] = str(workdir / "cache" / "predictions.sqlite")
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sheet = pd.read_csv(ROOT / "config" / "samples.tsv", sep="\t", dtype=str).fillna("")
    for column in ("hla_alleles", "paired_vcf", "tumor_vcf", "normal_vcf"):
        sheet[column] = [str(ROOT / v) if v.startswith("resources/") else v
                         for v in sheet[column]]
    sheet.to_csv(workdir / "config" / "samples.tsv", sep="\t", index=False)


def demo_hashes_check(results: Path) -> subprocess.CompletedProcess:
    """``scripts/demo_hashes.py --check`` on a run's results/ (exit 0: the demo's listed bytes)."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_hashes.py"),
                           str(results), "--check"], capture_output=True, text=True, timeout=300)


def write_module_project(project: Path) -> None:
    """A project folder deploying NeoRank as a Snakemake module: its own config/
    (``write_run_dir``) and a Snakefile that uses every rule of NeoRank's."""
    write_run_dir(project)
    (project / "Snakefile").write_text(
        MODULE_SNAKEFILE.format(snakefile=ROOT / "workflow" / "Snakefile"))


def table(run: Path, sample: str, name: str) -> pd.DataFrame:
    if name.endswith(".parquet"):
        return pd.read_parquet(run / "results" / sample / name)
    return pd.read_csv(run / "results" / sample / name, sep="\t", na_values=["NA"],
                       keep_default_na=False)


def count_input_alleles(path: Path) -> int:
    with pysam.VariantFile(str(path)) as vcf:
        return sum(len(record.alts or ()) for record in vcf)


def test_dry_run_and_lint_pass(tmp_path):
    write_run_dir(tmp_path)
    assert "somatic" in snakemake(tmp_path, "-n").stdout
    lint = snakemake(tmp_path, "--lint", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("sample", SAMPLES)
def test_all_outputs_exist(run, sample):
    for name in ("somatic.vcf.gz", "somatic.vcf.gz.tbi", "variants.tsv", "peptides.tsv",
                 "predictions.parquet", "candidates.tsv", "report.html", "manifest.json"):
        assert (run / "results" / sample / name).stat().st_size > 0, name


def test_every_input_variant_accounted_for(run):
    paired = table(run, "osteosarc-paired", "variants.tsv")
    assert len(paired) == count_input_alleles(DEMO / "osteosarc.paired.vcf")
    separate = table(run, "osteosarc-separate", "variants.tsv")
    assert len(separate) == count_input_alleles(DEMO / "osteosarc.tumor.vcf")
    for frame in (paired, separate):
        assert frame.variant_id.is_unique
        assert frame.status.notna().all()
        assert (frame.reason.notna() | (frame.status == "protein_changing")).all()


def test_paired_somatic_count_matches_filters(run):
    """Recompute the paired-mode filter from the VCF's own FORMAT fields."""
    kept = 0
    with pysam.VariantFile(str(DEMO / "osteosarc.paired.vcf")) as vcf:
        for record in vcf:
            tumor, normal = record.samples["TUMOR"], record.samples["NORMAL"]
            t_depth, t_alt = tumor["DP"], tumor["AD"][1]
            n_depth, n_alt = normal["DP"], normal["AD"][1]
            ok = (set(record.filter.keys()) <= {"PASS"} and t_depth >= 10 and t_alt >= 3
                  and t_alt / t_depth >= 0.05 and n_depth >= 5 and n_alt / n_depth < 0.02)
            kept += ok
    with pysam.VariantFile(str(run / "results" / "osteosarc-paired" / "somatic.vcf.gz")) as out:
        assert sum(1 for _ in out) == kept
    variants = table(run, "osteosarc-paired", "variants.tsv")
    assert (variants.status != "filtered").sum() == kept


def test_separate_mode_subtracts_germline(run):
    variants = table(run, "osteosarc-separate", "variants.tsv")
    germline = variants[variants.reason.fillna("").str.contains("germline")]
    assert len(germline) >= 5
    assert (germline.status == "filtered").all()
    # The somatic calls of both modes agree on the protein changes they produce.
    paired = table(run, "osteosarc-paired", "variants.tsv")
    changes = set(paired.loc[paired.status == "protein_changing", "protein_change"])
    changes_sep = set(variants.loc[variants.status == "protein_changing", "protein_change"])
    assert changes and changes <= changes_sep


@pytest.mark.parametrize("sample", SAMPLES)
def test_variant_ids_are_short_and_the_same_everywhere(run, sample):
    variants = table(run, sample, "variants.tsv")
    # Each id is the short form of its full alleles, which stay in their own columns.
    for row in variants.itertuples():
        assert row.variant_id == make_variant_id(row.chrom, row.pos, row.ref, row.alt)
    long_alleles = variants[(variants["ref"].str.len() > 10) | (variants["alt"].str.len() > 10)]
    assert len(long_alleles) >= 5  # the demo's long indels, e.g. a 737-base deletion
    assert variants["variant_id"].str.len().max() <= 40
    deletion = "chr2:189010889:del737"
    assert deletion in set(variants["variant_id"])
    ids = set(variants["variant_id"])
    aggregated = table(run, sample, "aggregated.tsv")
    candidates = table(run, sample, "candidates.tsv")
    assert set(candidates["variant_id"]) <= ids and set(aggregated["variant_id"]) <= ids
    # aggregated.tsv carries the full alleles of each id, as variants.tsv has them.
    joined = aggregated.merge(variants[["variant_id", "chrom", "pos", "ref", "alt"]],
                              on="variant_id", suffixes=("", "_v"))
    assert len(joined) == len(aggregated)
    for column in ("chrom", "pos", "ref", "alt"):
        assert (joined[column] == joined[f"{column}_v"]).all(), column
    # The workbook's sheets and the report use the same ids, never the full alleles.
    workbook = openpyxl.load_workbook(run / "results" / sample / "candidates.xlsx",
                                      read_only=True)
    for sheet in ("Review", "Aggregated", "Binders"):
        rows = workbook[sheet].iter_rows(values_only=True)
        header = next(rows)
        column = header.index("variant_id")
        assert {r[column] for r in rows if r[column]} <= ids, sheet
    page = (run / "results" / sample / "report.html").read_text()
    assert deletion in page
    for ref in long_alleles["ref"]:
        if len(ref) > 10:
            assert ref not in page


def test_funnel_has_every_stage(run):
    variants = table(run, "osteosarc-paired", "variants.tsv")
    statuses = set(variants.status)
    assert {"filtered", "outside_reference", "protein_changing"} <= statuses
    peptides = table(run, "osteosarc-paired", "peptides.tsv")
    assert set(peptides.variant_id) <= set(variants.loc[variants.status == "protein_changing",
                                                        "variant_id"])
    assert set(peptides.length) == {8, 9, 10, 11}


def test_predictions_cover_peptides_times_expressed_alleles(run):
    peptides = table(run, "osteosarc-paired", "peptides.tsv")
    predictions = table(run, "osteosarc-paired", "predictions.parquet")
    alleles = json.loads((run / "results" / "osteosarc-paired" / "alleles.json").read_text())
    expressed = [a["allele"] for a in alleles if a["status"] != "null_skipped"]
    assert "HLA-A*01:11N" not in expressed and len(expressed) == 5
    assert len(predictions) == len(peptides) * len(expressed)
    assert predictions.mutant_affinity_nm.between(0, 100_000).all()
    assert predictions.presentation_score.isna().all()  # embedded: affinity-only


def test_candidates_ranked_by_binder_then_score(run):
    candidates = table(run, "osteosarc-paired", "candidates.tsv")
    assert list(candidates["rank"]) == list(range(1, len(candidates) + 1))
    binder = candidates.binder.astype(str) == "True"
    # Self-matching peptides (ranking.exclude_self_matches) are ranked after all others.
    self_match = candidates.self_match.astype(str) == "True"
    assert list(self_match) == sorted(self_match)
    ranked = binder.loc[~self_match]
    # Binders come first, and within binders the score never increases.
    assert not (ranked.iloc[ranked.values.argmin():]).any() or ranked.all()
    scores = candidates.loc[binder & ~self_match, "score"].to_numpy()
    assert (scores[:-1] >= scores[1:] - 1e-12).all()
    expected = (candidates.mutant_affinity_nm <= 500) | (candidates.mutant_percentile <= 2)
    assert (binder == expected).all()
    assert binder.sum() >= 1
    assert candidates.candidate_id.is_unique


def test_report_content(run):
    html = (run / "results" / "osteosarc-paired" / "report.html").read_text()
    candidates = table(run, "osteosarc-paired", "candidates.tsv")
    top = candidates.iloc[0]
    assert top.mutant_peptide in html and top.candidate_id in html
    assert "research use" in html.lower()
    assert "demo" in html.lower()
    assert "https://" not in html and "http://" not in html


def test_manifest_provenance(run):
    manifest = json.loads((run / "results" / "osteosarc-paired" / "manifest.json").read_text())
    text = json.dumps(manifest)
    for key in ("mhcflurry", "varcode", "pyensembl", "snakemake", "neorank"):
        assert key in text
    assert "87" in text
    config = yaml.safe_load((run / "config" / "config.yaml").read_text())
    sums = Path(config["mhcflurry"]["embedded_dir"] or embedded_models_dir()) / "SHA256SUMS"

    assert hashlib.sha256(sums.read_bytes()).hexdigest() in text


def test_snakemake_report(run):
    snakemake(run, "--report", str(run / "report.zip"))
    assert (run / "report.zip").stat().st_size > 1000


def test_rerun_is_a_no_op_and_ranking_reruns_alone(run):
    dry = snakemake(run, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    config_path = run / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        config = yaml.safe_load(original)
        config["ranking"]["weights"]["vaf"] = 0.1
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        plan = snakemake(run, "-n", "--quiet", "rules").stdout
        assert "rank" in plan and "predict" not in plan.replace("predictions", "")
    finally:
        config_path.write_text(original)


def planned_rules(run: Path) -> set[str]:
    """Rules a dry run would execute (from the job-stats table)."""
    out = snakemake(run, "-n", "--quiet", "rules").stdout
    rules = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            rules.add(parts[0])
    return rules


@pytest.mark.parametrize(("section", "key", "value", "expected", "untouched"), [
    # aggregated.tsv carries each variant's vaccine_note, so aggregate follows vaccine.
    ("vaccine", "peptide_count", 3, {"stage_config", "vaccine", "aggregate", "review_sheet",
                                     "report"},
     {"rank", "predict", "annotate", "peptides", "eligibility"}),
    ("report", "top_n", 7, {"stage_config", "report"},
     {"rank", "predict", "vaccine", "eligibility", "summary"}),
    ("eligibility", "min_genes_eligible", 4, {"stage_config", "eligibility", "report",
                                              "summary", "cohort"},
     {"rank", "predict", "vaccine", "aggregate"}),
])
def test_config_change_reruns_only_the_stages_that_read_it(run, section, key, value, expected,
                                                           untouched):
    """Each stage gets only its config sections (results/config/<stage>.json)."""
    config_path = run / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        config = yaml.safe_load(original)
        config[section][key] = value
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        plan = planned_rules(run)
        assert expected <= plan, plan
        assert not untouched & plan, plan
    finally:
        config_path.write_text(original)


def test_gzip_vcf_is_bgzipped(run):
    path = run / "results" / "osteosarc-paired" / "somatic.vcf.gz"
    with gzip.open(path, "rt") as handle:
        assert handle.readline().startswith("##fileformat=VCF")
    with open(path, "rb") as raw:
        assert raw.read(4) == b"\x1f\x8b\x08\x04"  # BGZF: gzip with the extra field


#: The stages after rank, which read candidates.parquet in the workflow.
PARQUET_READERS = ("vaccine", "pvacseq-metrics", "aggregate", "eligibility", "review-sheet",
                   "report", "summary")


def test_stages_after_rank_give_the_same_bytes_from_candidates_tsv(run, tmp_path, monkeypatch):
    """The stages after rank read the Parquet form of the candidates; each of them run again
    on candidates.tsv (as before the Parquet form) rewrites its outputs with the same bytes."""
    import shlex
    import shutil

    from neorank import cli

    log = sorted((run / ".snakemake" / "log").glob("*.snakemake.log"))[0]
    commands = [shlex.split(line.split(":", 1)[1]) for line in log.read_text().splitlines()
                if line.startswith("Shell command: neorank ")]
    commands = [c for c in commands if c[1] in PARQUET_READERS]
    assert sorted({c[1] for c in commands}) == sorted(PARQUET_READERS)
    assert len(commands) == len(PARQUET_READERS) * len(SAMPLES)
    shutil.copytree(run / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*") if p.is_file()}
    for command in commands:
        args = command[1:command.index(">")]
        table = args.index("--candidates") + 1
        assert args[table].endswith("candidates.parquet") or args[0] == "review-sheet", args
        if args[0] == "review-sheet":
            at = args.index("--candidates-table")
            del args[at:at + 2]
        args[table] = args[table].replace("candidates.parquet", "candidates.tsv")
        assert cli.main(args) == 0, args
    rewritten = sorted(str(p.relative_to(tmp_path)) for p, mtime in before.items()
                       if p.stat().st_mtime_ns != mtime)
    for sample in SAMPLES:
        for name in ("aggregated.tsv", "candidates.xlsx", "vaccine_peptides.tsv", "report.html",
                     "summary.tsv", "eligibility.json",
                     f"pvacseq/{sample}.MHC_I.all_epitopes.aggregated.metrics.json"):
            assert f"results/{sample}/{name}" in rewritten
    different = [name for name in rewritten
                 if (tmp_path / name).read_bytes() != (run / name).read_bytes()]
    assert not different
