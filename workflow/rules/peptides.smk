rule peptides:
    input:
        effects="results/effects/{sample}.tsv",
        reference=reference_ready(),
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
    threads: 2
    resources:
        mem_mb=peptides_mem_mb,
        runtime=30,
    params:
        lengths=get_lengths(),
        flank_length=cfg("peptides/flank_length"),
        self_max_mismatches=cfg("peptides/self_max_mismatches"),
        reference=get_reference_args(),
    shell:
        "neorank peptides"
        " --effects {input.effects:q}"
        " --lengths {params.lengths:q}"
        " --flank-length {params.flank_length}"
        " --self-max-mismatches {params.self_max_mismatches}"
        " --workers {threads}"
        " {params.reference}"
        " --out {output.peptides:q}"
        " > {log:q} 2>&1"
