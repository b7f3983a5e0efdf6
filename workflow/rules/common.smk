# Helpers shared by the rules: config and sample-sheet validation, wildcard
# constraints and get_* input functions. No rules here.
import json
import re
import shlex
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

SAMPLE_COLUMNS = [
    "sample",
    "hla_alleles",
    "paired_vcf",
    "tumor_sample",
    "normal_sample",
    "tumor_vcf",
    "normal_vcf",
    "purity",
    "expression",
]


def load_samples(path):
    """Read the sample sheet as strings, validate it, and check each row's mode."""
    sheet = pd.read_csv(path, sep="\t", dtype=str, comment="#").fillna("")
    sheet.columns = [c.strip() for c in sheet.columns]
    unknown = [c for c in sheet.columns if c not in SAMPLE_COLUMNS]
    if unknown:
        raise ValueError(
            f"{path}: unknown column(s) {', '.join(unknown)}. "
            f"Fix: use only {', '.join(SAMPLE_COLUMNS)} (see config/README.md)."
        )
    for column in SAMPLE_COLUMNS:
        if column not in sheet.columns:
            sheet[column] = ""
    sheet = sheet.map(str.strip)
    duplicated = sheet["sample"][sheet["sample"].duplicated()].tolist()
    if duplicated:
        raise ValueError(
            f"{path}: duplicate sample id(s) {', '.join(duplicated)}. Fix: give each row a unique sample."
        )
    validate(sheet, schema="../schemas/samples.schema.yaml")
    for line, row in enumerate(sheet.itertuples(index=False), start=2):
        paired = bool(row.paired_vcf)
        separate = bool(row.tumor_vcf or row.normal_vcf)
        where = f"{path} line {line} (sample {row.sample})"
        if paired == separate:
            raise ValueError(
                f"{where}: give either paired_vcf (with tumor_sample and normal_sample) "
                "or tumor_vcf plus normal_vcf, not both and not neither."
            )
        if paired and not (row.tumor_sample and row.normal_sample):
            raise ValueError(
                f"{where}: paired_vcf needs tumor_sample and normal_sample. "
                "Fix: name the VCF's tumor and normal sample columns."
            )
        if separate and not (row.tumor_vcf and row.normal_vcf):
            raise ValueError(f"{where}: separate mode needs both tumor_vcf and normal_vcf.")
    return sheet.set_index("sample", drop=False)


samples = load_samples(config["samples"])


wildcard_constraints:
    sample="|".join(re.escape(s) for s in samples.index),


def cfg(path):
    """Look up a config value by a 'section/key' path (defaults filled by the schema)."""
    return lookup(dpath=path, within=config)


def get_final_outputs():
    outputs = []
    for sample in samples.index:
        for name in [
            "somatic.vcf.gz",
            "variants.tsv",
            "peptides.tsv",
            "predictions.tsv",
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
            cfg("reference/gtf"),
            "--cdna",
            cfg("reference/cdna"),
            "--pep",
            cfg("reference/pep"),
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
    return [cfg("reference/gtf"), cfg("reference/cdna"), cfg("reference/pep")]


def get_models_ready():
    if cfg("mhcflurry/models") == "official":
        return ["resources/mhcflurry/official.ready"]
    return []


def get_models_args():
    args = [
        "--models",
        cfg("mhcflurry/models"),
        "--embedded-dir",
        cfg("mhcflurry/embedded_dir"),
    ]
    if cfg("mhcflurry/official_dir"):
        args += ["--official-dir", cfg("mhcflurry/official_dir")]
    if cfg("mhcflurry/cache"):
        args += ["--cache", cfg("mhcflurry/cache")]
    return " ".join(shlex.quote(a) for a in args)


def get_models_dir():
    models = cfg("mhcflurry/models")
    if models == "embedded":
        return cfg("mhcflurry/embedded_dir")
    if models == "official":
        return cfg("mhcflurry/official_dir") or "official"
    return models


def get_lengths():
    return ",".join(str(n) for n in cfg("peptides/lengths"))


def get_run_config_json():
    return json.dumps(config, sort_keys=True)


def get_hla_arg(wildcards):
    return shlex.quote(get_hla(wildcards))


def mem_by_attempt(base_mb):
    """Memory that grows with each retry (MHCflurry and pyensembl indexing)."""

    def mem_mb(wildcards, attempt):
        return base_mb * attempt

    return mem_mb


def get_purity_arg(wildcards):
    purity = samples.loc[wildcards.sample, "purity"]
    return f"--purity {shlex.quote(purity)}" if purity else ""
