# Vaccine design: synthetic long peptides, the mRNA polyepitope order and its
# junctional peptides.


rule vaccine:
    input:
        candidates="results/{sample}/candidates.parquet",
        effects="results/effects/{sample}.tsv",
        alleles="results/{sample}/alleles.json",
        params=stage_config("vaccine"),
        models=get_models_ready(),
    output:
        long_peptides="results/vaccine/{sample}.long_peptides.tsv",
        peptides=report(
            "results/{sample}/vaccine_peptides.tsv",
            caption="../report/vaccine_peptides.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "vaccine long peptides"},
        ),
        mrna=report(
            "results/{sample}/vaccine_mrna.tsv",
            caption="../report/vaccine_mrna.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "vaccine mRNA order"},
        ),
        junctions="results/{sample}/vaccine_junctions.tsv",
    log:
        "logs/vaccine/{sample}.log",
    benchmark:
        "benchmarks/vaccine/{sample}.tsv"
    priority: 5
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=60,
    params:
        models=get_models_args(),
    shell:
        "neorank vaccine"
        " --candidates {input.candidates:q}"
        " --effects {input.effects:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " {params.models}"
        " --out-long-peptides {output.long_peptides:q}"
        " --out-peptides {output.peptides:q}"
        " --out-mrna {output.mrna:q}"
        " --out-junctions {output.junctions:q}"
        " > {log:q} 2>&1"
