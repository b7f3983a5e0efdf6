# Ranking: every peptide x allele prediction of a sample joined with its read
# evidence, criteria, tier and score -> results/{sample}/candidates.tsv, and the same
# table in Parquet form (candidates.parquet), which the stages after rank read with
# column projection (at 100,000 variants candidates.tsv is 9.7 GB).


rule rank:
    input:
        unpack(get_rank_evidence),
        predictions="results/{sample}/predictions.parquet",
        variants="results/{sample}/variants.tsv",
        peptides="results/{sample}/peptides.tsv",
        params=stage_config("rank"),
    output:
        candidates=report(
            "results/{sample}/candidates.tsv",
            caption="../report/candidates.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "ranked candidates"},
        ),
        table="results/{sample}/candidates.parquet",
    log:
        "logs/rank/{sample}.log",
    benchmark:
        "benchmarks/rank/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 2
    resources:
        mem_mb=mem_by_attempt(3500),
        runtime=60,
    params:
        evidence=get_rank_evidence_args,
    shell:
        "neorank rank"
        " --sample {wildcards.sample:q}"
        " --predictions {input.predictions:q}"
        " --variants {input.variants:q}"
        " --peptides {input.peptides:q}"
        " --params {input.params:q}"
        " {params.evidence}"
        " --workers {threads}"
        " --out {output.candidates:q}"
        " --out-parquet {output.table:q}"
        " > {log:q} 2>&1"
