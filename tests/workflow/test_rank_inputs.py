"""The rank rule passes each sample's optional evidence (dry run, no jobs executed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DATA = ROOT / "tests" / "data"

pytestmark = pytest.mark.workflow


def test_rank_gets_expression_rna_bam_copy_number_and_purity(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key in ("gtf", "cdna", "pep"):
        config["reference"][key] = str(ROOT / config["reference"][key])
    config["reference"]["cache_dir"] = str(tmp_path / "cache")
    config["mhcflurry"]["embedded_dir"] = str(ROOT / config["mhcflurry"]["embedded_dir"])
    config["mhcflurry"]["cache"] = ""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    copy_number = tmp_path / "cn.tsv"
    copy_number.write_text("chrom\tstart\tend\tcopy_number\nchr1\t1\t1000000\t3\n")
    demo = ROOT / "resources" / "demo"
    (tmp_path / "config" / "samples.tsv").write_text(
        "sample\thla_alleles\tpaired_vcf\ttumor_sample\tnormal_sample\tpurity\texpression\t"
        "rna_bam\tcopy_number\n"
        f"with-rna\t{demo}/osteosarc.hla.txt\t{demo}/osteosarc.paired.vcf\tTUMOR\tNORMAL\t0.6\t"
        f"{DATA}/expression/quant.sf\t{DATA}/rna/tumor_rna.bam\t{copy_number}\n"
        f"dna-only\t{demo}/osteosarc.hla.txt\t{demo}/osteosarc.paired.vcf\tTUMOR\tNORMAL\t\t\t"
        "\t\n")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "workflow" / "Snakefile"),
         "--directory", str(tmp_path), "-n", "-p", "--cores", "1",
         "results/with-rna/candidates.tsv", "results/dna-only/candidates.tsv"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    commands = [line[line.index("neorank rank"):] for line in output.splitlines()
                if "neorank rank --sample" in line]
    assert len(commands) == 2
    with_rna = next(c for c in commands if "with-rna" in c)
    dna_only = next(c for c in commands if "dna-only" in c)
    for flag, value in (("--purity", "0.6"), ("--expression", f"{DATA}/expression/quant.sf"),
                        ("--rna-bam", f"{DATA}/rna/tumor_rna.bam"),
                        ("--copy-number", str(copy_number)), ("--gtf", config["reference"]["gtf"])):
        assert f"{flag} {value}" in with_rna, flag
        assert flag not in dna_only, flag
    assert "--peptides results/with-rna/peptides.tsv" in with_rna
