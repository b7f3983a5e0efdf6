# The patient-level verdict (results/{sample}/eligibility.json), judged once and
# read by the report, the summary line and the cohort page.


rule eligibility:
    input:
        unpack(get_eligibility_evidence),
        variants="results/{sample}/variants.tsv",
        effects="results/effects/{sample}.tsv",
        candidates="results/{sample}/candidates.parquet",
        alleles="results/{sample}/alleles.json",
        params=stage_config("eligibility"),
    output:
        "results/{sample}/eligibility.json",
    log:
        "logs/eligibility/{sample}.log",
    benchmark:
        "benchmarks/eligibility/{sample}.tsv"
    priority: 2
    localrule: True
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models_label=cfg("mhcflurry/models"),
        evidence=get_eligibility_evidence_args,
        purity=get_purity_arg,
        expression=get_expression_arg,
    shell:
        "neorank eligibility"
        " --sample {wildcards.sample:q}"
        " --variants {input.variants:q}"
        " --candidates {input.candidates:q}"
        " --alleles-json {input.alleles:q}"
        " --effects {input.effects:q}"
        " {params.evidence}"
        " --models-label {params.models_label:q}"
        " --params {input.params:q}"
        " {params.purity}"
        " {params.expression}"
        " --out {output:q}"
        " > {log:q} 2>&1"
