rule annotate:
    input:
        vcf="results/{sample}/somatic.vcf.gz",
        tbi="results/{sample}/somatic.vcf.gz.tbi",
        accounting="results/somatic/{sample}.accounting.tsv",
        reference=reference_ready(),
        germline=get_germline_vcf,
    output:
        effects="results/effects/{sample}.tsv",
        variants="results/{sample}/variants.tsv",
    log:
        "logs/annotate/{sample}.log",
    benchmark:
        "benchmarks/annotate/{sample}.tsv"
    group:
        "per_sample"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(2000),
        runtime=60,
    params:
        reference=get_reference_args(),
        transcripts=cfg("annotate/transcripts"),
        context=cfg("annotate/context"),
        germline=get_germline_args,
    shell:
        "neorank annotate"
        " --vcf {input.vcf:q}"
        " --accounting {input.accounting:q}"
        " {params.reference}"
        " --transcripts {params.transcripts}"
        " --context {params.context}"
        " {params.germline}"
        " --out-effects {output.effects:q}"
        " --out-variants {output.variants:q}"
        " > {log:q} 2>&1"
