rule predict:
    input:
        peptides="results/{sample}/peptides.tsv",
        hla=get_hla_file,
        models=get_models_ready(),
    output:
        predictions="results/{sample}/predictions.tsv",
        alleles="results/{sample}/alleles.json",
    log:
        "logs/predict/{sample}.log",
    benchmark:
        "benchmarks/predict/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 2
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=120,
    params:
        alleles=get_hla_arg,
        models=get_models_args(),
    shell:
        "neorank predict"
        " --peptides {input.peptides:q}"
        " --alleles {params.alleles}"
        " {params.models}"
        " --out {output.predictions:q}"
        " --out-alleles {output.alleles:q}"
        " > {log} 2>&1"
