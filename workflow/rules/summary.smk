# One-line run summary per sample (variant funnel, binders, verdict) in
# results/{sample}/summary.tsv; the Snakefile's onsuccess handler prints the
# lines at the end of the run.


rule summary:
    input:
        variants="results/{sample}/variants.tsv",
        peptides="results/{sample}/peptides.tsv",
        candidates="results/{sample}/candidates.parquet",
        eligibility="results/{sample}/eligibility.json",
    output:
        "results/{sample}/summary.tsv",
    log:
        "logs/summary/{sample}.log",
    benchmark:
        "benchmarks/summary/{sample}.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "neorank summary"
        " --sample {wildcards.sample:q}"
        " --variants {input.variants:q}"
        " --peptides {input.peptides:q}"
        " --candidates {input.candidates:q}"
        " --eligibility {input.eligibility:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"
