# Per-variant table (results/{sample}/aggregated.tsv) and its pVACseq/pVACview-compatible
# export (results/{sample}/pvacseq/: the table here, its metrics.json in pvacseq_metrics).


rule aggregate:
    input:
        candidates="results/{sample}/candidates.tsv",
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


# pVACseq's metrics.json (hundreds of MB at 10,000 variants) needs only candidates.tsv:
# a job of its own, beside the review workbook instead of before it. It waits for
# aggregated.tsv (the table it describes) so that it never runs beside aggregate, the
# vaccine design or rank: at 100,000 variants it holds 2.9 GB.
rule pvacseq_metrics:
    input:
        candidates="results/{sample}/candidates.tsv",
        aggregated="results/{sample}/aggregated.tsv",
        alleles="results/{sample}/alleles.json",
        params=stage_config("aggregate"),
    output:
        "results/{sample}/pvacseq/{sample}.MHC_I.all_epitopes.aggregated.metrics.json",
    log:
        "logs/pvacseq_metrics/{sample}.log",
    benchmark:
        "benchmarks/pvacseq_metrics/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(1500),
        runtime=30,
    shell:
        "neorank pvacseq-metrics"
        " --candidates {input.candidates:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"
