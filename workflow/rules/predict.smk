# MHCflurry prediction, sharded: each sample's peptide rows are split into
# `mhcflurry/shards` contiguous blocks, one job each (scatter), then
# concatenated in shard order (gather), which gives the same table as one job.
# The predictions table is Apache Parquet (typed columns, about 15x smaller than
# the TSV); rank reads it with column projection. candidates.tsv has every row.


rule predict:
    input:
        peptides="results/{sample}/peptides.tsv",
        hla=get_hla_file,
        models=get_models_ready(),
    output:
        predictions=temp("results/predict/{sample}/{scatteritem}.parquet"),
        alleles=temp("results/predict/{sample}/{scatteritem}.alleles.json"),
    log:
        "logs/predict/{sample}/{scatteritem}.log",
    benchmark:
        "benchmarks/predict/{sample}/{scatteritem}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=120,
    params:
        alleles=get_hla_arg,
        models=get_models_args(),
        shard=get_shard_arg,
        hla_options=get_hla_option_args(),
    shell:
        "neorank predict"
        " --peptides {input.peptides:q}"
        " --alleles {params.alleles}"
        " {params.models}"
        " --shard {params.shard:q}"
        " --out {output.predictions:q}"
        " --out-alleles {output.alleles:q}"
        " {params.hla_options}"
        " > {log:q} 2>&1"


rule gather_predictions:
    input:
        shards=gather.predict("results/predict/{{sample}}/{scatteritem}.parquet"),
        alleles=gather.predict("results/predict/{{sample}}/{scatteritem}.alleles.json"),
    output:
        predictions="results/{sample}/predictions.parquet",
        alleles="results/{sample}/alleles.json",
    log:
        "logs/gather_predictions/{sample}.log",
    benchmark:
        "benchmarks/gather_predictions/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "neorank gather"
        " --shards {input.shards:q}"
        " --alleles {input.alleles:q}"
        " --out {output.predictions:q}"
        " --out-alleles {output.alleles:q}"
        " > {log:q} 2>&1"
