rule peptides:
    input:
        effects="results/effects/{sample}.tsv",
    output:
        peptides="results/{sample}/peptides.tsv",
    log:
        "logs/peptides/{sample}.log",
    benchmark:
        "benchmarks/peptides/{sample}.tsv"
    group:
        "per_sample"
    conda:
        "../envs/neorank.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        lengths=get_lengths(),
        flank_length=cfg("peptides/flank_length"),
    shell:
        "neorank peptides"
        " --effects {input.effects:q}"
        " --lengths {params.lengths}"
        " --flank-length {params.flank_length}"
        " --out {output.peptides:q}"
        " > {log} 2>&1"
