# Per-variant table (results/{sample}/aggregated.tsv) and its pVACseq/pVACview-compatible
# export (results/{sample}/pvacseq/).


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
        pvacseq_metrics="results/{sample}/pvacseq/{sample}.MHC_I.all_epitopes.aggregated.metrics.json",
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
        " --pvacseq-metrics-out {output.pvacseq_metrics:q}"
        " > {log:q} 2>&1"
