# Per-variant table (results/{sample}/aggregated.tsv) and its pVACseq/pVACview-compatible
# export (results/{sample}/pvacseq/: the table here, its metrics.json in pvacseq_metrics).


rule aggregate:
    input:
        candidates="results/{sample}/candidates.parquet",
        variants="results/{sample}/variants.tsv",
        alleles="results/{sample}/alleles.json",
        long_peptides="results/vaccine/{sample}.long_peptides.tsv",
        params=stage_config("aggregate"),
    output:
        tsv=report(
            "results/{sample}/aggregated.tsv",
            caption="../report/aggregated.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "aggregated (one row per variant)"},
        ),
        pvacseq="results/{sample}/pvacseq/{sample}.MHC_I.all_epitopes.aggregated.tsv",
    log:
        "logs/aggregate/{sample}.log",
    benchmark:
        "benchmarks/aggregate/{sample}.tsv"
    priority: 3
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(1500),
        runtime=30,
    shell:
        "neorank aggregate"
        " --candidates {input.candidates:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " --long-peptides {input.long_peptides:q}"
        " --variants {input.variants:q}"
        " --out {output.tsv:q}"
        " --pvacseq-out {output.pvacseq:q}"
        " > {log:q} 2>&1"


# pVACseq's metrics.json (3 GB at 100,000 variants) needs only the candidates: a job of
# its own that starts with the vaccine design as soon as rank ends, beside the chain
# vaccine -> aggregate -> review workbook (it holds 1.8 GB at 100,000 variants, the
# vaccine design 1.2 GB). Priorities after rank follow the longest chain of work left
# behind each job (100,000 variants: vaccine -> aggregate -> review 225 s, this job 197 s,
# eligibility -> report 97 s): vaccine 5, pvacseq_metrics 4, aggregate 3, eligibility 2,
# review_sheet and report 1, the rest 0. (With aggregate and eligibility level, a 10k run
# took eligibility, 4 s, before aggregate, holding up the aggregate -> review chain.)
rule pvacseq_metrics:
    input:
        candidates="results/{sample}/candidates.parquet",
        alleles="results/{sample}/alleles.json",
        params=stage_config("aggregate"),
    output:
        "results/{sample}/pvacseq/{sample}.MHC_I.all_epitopes.aggregated.metrics.json",
    log:
        "logs/pvacseq_metrics/{sample}.log",
    benchmark:
        "benchmarks/pvacseq_metrics/{sample}.tsv"
    priority: 4
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(2000),
        runtime=30,
    shell:
        "neorank pvacseq-metrics"
        " --candidates {input.candidates:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"
