# Provenance of a sample's run (inputs, models, reference, config checksums).


rule manifest:
    input:
        config="results/run_config.json",
        predictions="results/{sample}/predictions.parquet",
    output:
        "results/{sample}/manifest.json",
    log:
        "logs/manifest/{sample}.log",
    benchmark:
        "benchmarks/manifest/{sample}.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    params:
        models_dir=get_models_dir(),
        models_label=cfg("mhcflurry/models"),
        release=cfg("reference/release"),
        reference_name=cfg("reference/name"),
    shell:
        "neorank manifest"
        " --sample {wildcards.sample:q}"
        " --config-json {input.config:q}"
        " --models-dir {params.models_dir:q}"
        " --models-label {params.models_label:q}"
        " --ensembl-release {params.release}"
        " --reference-name {params.reference_name:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"
