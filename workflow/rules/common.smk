# Helpers shared by the rules: config and sample-sheet validation, wildcard
# constraints and get_* input functions. No rules here.
import json
import re
import shlex
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from neorank.config import check_config, load_config_file
from neorank.resources import shipped

# Every config file is checked with line numbers first (YAML, unknown keys, values,
# schema), then the merged config (--config overrides included), before any job.
for configfile_path in workflow.configfiles:
    load_config_file(configfile_path)
check_config(config, where=", ".join(map(str, workflow.configfiles)) or "config")
validate(config, schema="../schemas/config.schema.yaml")


def load_samples(path):
    """Read the sample sheet and check every row (neorank.samplesheet; all problems at once)."""
    from neorank.samplesheet import read_sample_sheet

    sheet = read_sample_sheet(path)
    validate(sheet, schema="../schemas/samples.schema.yaml")
    return sheet.set_index("sample", drop=False)


samples = load_samples(config["samples"])

#: The config sections each stage reads (results/config/<stage>.json).
STAGE_SECTIONS = {
    "rank": ["binding", "ranking"],
    "eligibility": ["eligibility", "presentation"],
    "report": ["binding", "ranking", "report", "vaccine"],
    "vaccine": ["vaccine"],
    "aggregate": ["report", "binding"],
}


wildcard_constraints:
    sample="|".join(re.escape(s) for s in samples.index),
    stage="|".join(STAGE_SECTIONS),


def cfg(path):
    """Look up a config value by a 'section/key' path (defaults filled by the schema)."""
    return lookup(dpath=path, within=config)


#: Config paths that, left empty, mean the copy shipped with NeoRank (found relative
#: to the package, never the working directory; neorank/resources.py).
SHIPPED = {
    "reference/gtf": "reference/reference.gtf.gz",
    "reference/cdna": "reference/reference.cdna.fa.gz",
    "reference/pep": "reference/reference.pep.fa.gz",
    "mhcflurry/embedded_dir": "mhcflurry/embedded",
}


def cfg_path(path):
    """A config path value; empty: NeoRank's shipped copy (SHIPPED)."""
    return cfg(path) or str(shipped(SHIPPED[path]))


def get_final_outputs():
    outputs = []
    for sample in samples.index:
        for name in [
            "somatic.vcf.gz",
            "variants.tsv",
            "peptides.tsv",
            "predictions.parquet",
            "candidates.tsv",
            "report.html",
            "manifest.json",
        ]:
            outputs.append(f"results/{sample}/{name}")
    return outputs


def get_somatic_vcfs(wildcards):
    row = samples.loc[wildcards.sample]
    if row.paired_vcf:
        return {"paired": row.paired_vcf}
    return {"tumor": row.tumor_vcf, "normal": row.normal_vcf}


def get_somatic_mode_args(wildcards):
    """CLI flags selecting the input mode; every user value is shell-quoted."""
    row = samples.loc[wildcards.sample]
    if row.paired_vcf:
        args = [
            "--paired-vcf",
            row.paired_vcf,
            "--tumor-sample",
            row.tumor_sample,
            "--normal-sample",
            row.normal_sample,
        ]
    else:
        args = ["--tumor-vcf", row.tumor_vcf, "--normal-vcf", row.normal_vcf]
        if row.tumor_sample:
            args += ["--tumor-sample", row.tumor_sample]
        if row.normal_sample:
            args += ["--normal-sample", row.normal_sample]
    return " ".join(shlex.quote(a) for a in args)


def get_pass_filter_args():
    """--pass-filter flags for somatic.pass_filters (shell-quoted)."""
    return " ".join(f"--pass-filter {shlex.quote(f)}" for f in cfg("somatic/pass_filters"))


def get_hla(wildcards):
    return samples.loc[wildcards.sample, "hla_alleles"]


def get_hla_file(wildcards):
    """The typing file as an input (so edits re-run prediction), or nothing if inline."""
    spec = get_hla(wildcards)
    return [spec] if Path(spec).is_file() else []


def reference_ready():
    return f"{cfg('reference/cache_dir')}/{cfg('reference/name')}.ready"


def get_reference_args():
    if cfg("reference/source") == "ensembl":
        args = [
            "--ensembl-release",
            str(cfg("reference/release")),
            "--species",
            cfg("reference/species"),
        ]
        if cfg("reference/ensembl_server"):
            args += ["--ensembl-server", cfg("reference/ensembl_server")]
    else:
        args = [
            "--gtf",
            cfg_path("reference/gtf"),
            "--cdna",
            cfg_path("reference/cdna"),
            "--pep",
            cfg_path("reference/pep"),
            "--reference-name",
            cfg("reference/name"),
            "--release",
            str(cfg("reference/release")),
        ]
    args += ["--cache-dir", cfg("reference/cache_dir")]
    return " ".join(shlex.quote(a) for a in args)


def get_reference_files():
    if cfg("reference/source") == "ensembl":
        return []
    return [cfg_path("reference/gtf"), cfg_path("reference/cdna"), cfg_path("reference/pep")]


def get_models_ready():
    if cfg("mhcflurry/models") == "official":
        return ["resources/mhcflurry/official.ready"]
    return []


def get_models_args(predicting=True):
    """MHCflurry model flags; the arithmetic and the cache only where predictions are made."""
    args = [
        "--models",
        cfg("mhcflurry/models"),
        "--embedded-dir",
        cfg_path("mhcflurry/embedded_dir"),
    ]
    if cfg("mhcflurry/official_dir"):
        args += ["--official-dir", cfg("mhcflurry/official_dir")]
    if predicting:
        args += ["--numerics", cfg("mhcflurry/numerics")]
    if predicting and cfg("mhcflurry/cache"):
        args += ["--cache", cfg("mhcflurry/cache")]
    return " ".join(shlex.quote(a) for a in args)


def get_models_dir():
    models = cfg("mhcflurry/models")
    if models == "embedded":
        return cfg_path("mhcflurry/embedded_dir")
    if models == "official":
        return cfg("mhcflurry/official_dir") or "official"
    return models


def get_lengths():
    return ",".join(str(n) for n in cfg("peptides/lengths"))


def get_run_config_json():
    return json.dumps(config, sort_keys=True)


def get_stage_config_json(wildcards):
    """JSON of only the sections a stage reads (defaults filled by the schema)."""
    sections = STAGE_SECTIONS[wildcards.stage]
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


def stage_config(stage):
    return f"results/config/{stage}.json"


def get_hla_arg(wildcards):
    return shlex.quote(get_hla(wildcards))


def mem_by_attempt(base_mb):
    """Memory that grows with each retry (MHCflurry and pyensembl indexing)."""

    def mem_mb(wildcards, attempt):
        return base_mb * attempt

    return mem_mb


def peptides_mem_mb(wildcards, attempt, threads):
    """The peptides job: 4 GB; with an Ensembl release, each worker holds a whole-proteome
    index (2.3 GB for 8-11-mers on a synthetic proteome of a human release's size,
    scripts/benchmark_proteome.py), so 1 GB + 2.5 GB a worker. Grows with each retry."""
    if cfg("reference/source") == "ensembl":
        return (1000 + 2500 * max(1, threads)) * attempt
    return 4000 * attempt


def get_hla_option_args():
    """`--hla-allow-*` flags from the config's hla section (preflight and predict)."""
    flags = []
    if cfg("hla/allow_nonclassical"):
        flags.append("--hla-allow-nonclassical")
    if cfg("hla/allow_nonhuman"):
        flags.append("--hla-allow-nonhuman")
    return " ".join(shlex.quote(f) for f in flags)


def get_purity_arg(wildcards):
    purity = samples.loc[wildcards.sample, "purity"]
    return f"--purity {shlex.quote(purity)}" if purity else ""


def get_preflight_inputs(wildcards):
    inputs = dict(get_somatic_vcfs(wildcards))
    hla = get_hla_file(wildcards)
    if hla:
        inputs["hla"] = hla
    row = samples.loc[wildcards.sample]
    for column in ("expression", "rna_bam", "copy_number"):
        if row[column]:
            inputs[column] = row[column]
    inputs["reference"] = reference_ready()
    return inputs


def get_rank_evidence(wildcards):
    """Optional evidence files of a sample for ranking (expression, RNA BAM, copy number)."""
    row = samples.loc[wildcards.sample]
    inputs = {}
    if row.expression:
        inputs["expression"] = row.expression
        inputs["reference"] = reference_ready()
    if row.rna_bam:
        inputs["rna_bam"] = row.rna_bam
    if row.copy_number:
        inputs["copy_number"] = row.copy_number
    return inputs


def get_rank_evidence_args(wildcards):
    """`neorank rank` flags for the optional evidence (shell-quoted); absent: not assessed."""
    row = samples.loc[wildcards.sample]
    args = []
    if row.purity:
        args += ["--purity", row.purity]
    if row.rna_bam:
        args += ["--rna-bam", row.rna_bam]
    if row.copy_number:
        args += ["--copy-number", row.copy_number]
    if row.expression:
        args += ["--expression", row.expression]
    flags = " ".join(shlex.quote(a) for a in args)
    if row.expression:
        # The reference links transcripts to genes for gene-level TPM.
        flags = f"{flags} {get_reference_args()}"
    return flags


def get_eligibility_evidence(wildcards):
    """Optional antigen-presentation inputs of the eligibility rule."""
    row = samples.loc[wildcards.sample]
    inputs = {}
    if row.copy_number:
        inputs["copy_number"] = row.copy_number
    if row.hla_loh:
        inputs["hla_loh"] = row.hla_loh
    return inputs


def get_eligibility_evidence_args(wildcards):
    """`neorank eligibility` flags for the copy-number and HLA LOH files and the reference GTF."""
    row = samples.loc[wildcards.sample]
    args = []
    if row.copy_number:
        args += ["--copy-number", row.copy_number]
    if row.hla_loh:
        args += ["--hla-loh", row.hla_loh]
    if cfg("reference/source") != "ensembl":
        args += ["--reference-gtf", cfg_path("reference/gtf")]
    return " ".join(shlex.quote(a) for a in args)


def get_expression_arg(wildcards):
    expression = samples.loc[wildcards.sample, "expression"]
    return f"--expression {shlex.quote(expression)}" if expression else ""


def get_preflight_evidence_args(wildcards):
    """`neorank preflight` flags for the optional RNA BAM and copy-number table."""
    row = samples.loc[wildcards.sample]
    args = []
    if row.rna_bam:
        args += ["--rna-bam", row.rna_bam]
    if row.copy_number:
        args += ["--copy-number", row.copy_number]
    return " ".join(shlex.quote(a) for a in args)


def get_shard_arg(wildcards):
    """scatteritem 'K-of-N' -> 'K/N' for `neorank predict --shard`."""
    return wildcards.scatteritem.replace("-of-", "/")


def review_xlsx(sample):
    """The reviewer's edited workbook of a sample (None when the re-import is disabled)."""
    folder = cfg("report/review_dir")
    return str(Path(folder) / f"{sample}.xlsx") if folder else None


def get_review_xlsx(wildcards):
    return review_xlsx(wildcards.sample)


def get_vaccine_outputs():
    outputs = []
    for sample in samples.index:
        for name in [
            "vaccine_peptides.tsv",
            "vaccine_mrna.tsv",
            "vaccine_junctions.tsv",
            "aggregated.tsv",
            "candidates.xlsx",
            f"pvacseq/{sample}.MHC_I.all_epitopes.aggregated.metrics.json",
        ]:
            outputs.append(f"results/{sample}/{name}")
        review = review_xlsx(sample)
        if review and Path(review).is_file():
            outputs.append(f"results/{sample}/final_order.tsv")
    outputs.append("results/cohort.html")
    return outputs


def get_germline_vcf(wildcards):
    """The VCF holding the patient's germline calls: the normal VCF or the paired VCF."""
    if not cfg("annotate/germline_context"):
        return []
    row = samples.loc[wildcards.sample]
    return [row.paired_vcf or row.normal_vcf]


def get_germline_args(wildcards):
    """--germline-vcf/--germline-sample flags (shell-quoted), or nothing when disabled."""
    files = get_germline_vcf(wildcards)
    if not files:
        return ""
    args = ["--germline-vcf", files[0]]
    normal = samples.loc[wildcards.sample, "normal_sample"]
    if normal:
        args += ["--germline-sample", normal]
    return " ".join(shlex.quote(a) for a in args)
