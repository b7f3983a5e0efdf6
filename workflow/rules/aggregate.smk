# pVACseq-style per-variant table (results/{sample}/aggregated.tsv).


rule aggregate:
    input:
        candidates="results/{sample}/candidates.tsv",
        alleles="results/{sample}/alleles.json",
        params=stage_config("aggregate"),
    output:
        report(
            "results/{sample}/aggregated.tsv",
            caption="../report/aggregated.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "aggregated (one row per variant)"},
        ),
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
        " --out {output:q}"
        " > {log:q} 2>&1"
