# Preflight: check each sample's inputs (VCFs, HLA typing, purity, expression,
# RNA BAM, copy number)
# and report every problem at once in results/preflight/{sample}.tsv before any
# heavy work; the somatic stage waits for this report. On failure the log lists
# each error with its file, line and fix.


rule preflight:
    input:
        unpack(get_preflight_inputs),
    output:
        "results/preflight/{sample}.tsv",
    log:
        "logs/preflight/{sample}.log",
    benchmark:
        "benchmarks/preflight/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        mode=get_somatic_mode_args,
        pass_filters=get_pass_filter_args(),
        hla=get_hla_arg,
        purity=get_purity_arg,
        expression=get_expression_arg,
        evidence=get_preflight_evidence_args,
        reference=get_reference_args(),
        models=get_models_args(predicting=False),
        hla_options=get_hla_option_args(),
    shell:
        "neorank preflight"
        " --sample {wildcards.sample:q}"
        " {params.mode}"
        " {params.pass_filters}"
        " --alleles {params.hla}"
        " {params.purity}"
        " {params.expression}"
        " {params.evidence}"
        " {params.reference}"
        " {params.models}"
        " {params.hla_options}"
        " --out {output:q}"
        " > {log:q} 2>&1"
