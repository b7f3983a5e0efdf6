# Run configuration for the stages: results/run_config.json (the whole config,
# for the manifest's provenance) and one results/config/<stage>.json per stage
# holding only the sections that stage reads, so a config change re-runs only
# the stages that read the changed section.


rule run_config:
    output:
        "results/run_config.json",
    log:
        "logs/run_config.log",
    benchmark:
        "benchmarks/run_config.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    params:
        config=get_run_config_json(),
    shell:
        "printf '%s\\n' {params.config:q} > {output:q} 2> {log:q}"


rule stage_config:
    output:
        "results/config/{stage}.json",
    log:
        "logs/stage_config/{stage}.log",
    benchmark:
        "benchmarks/stage_config/{stage}.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    params:
        sections=get_stage_config_json,
    shell:
        "printf '%s\\n' {params.sections:q} > {output:q} 2> {log:q}"
