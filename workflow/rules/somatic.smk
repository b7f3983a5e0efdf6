rule somatic:
    input:
        unpack(get_somatic_vcfs),
        preflight="results/preflight/{sample}.tsv",
    output:
        vcf="results/{sample}/somatic.vcf.gz",
        tbi="results/{sample}/somatic.vcf.gz.tbi",
        accounting="results/somatic/{sample}.accounting.tsv",
    log:
        "logs/somatic/{sample}.log",
    benchmark:
        "benchmarks/somatic/{sample}.tsv"
    group:
        "per_sample"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        mode=get_somatic_mode_args,
        require_pass="--require-pass" if cfg("somatic/require_pass") else "--no-require-pass",
        pass_filters=get_pass_filter_args(),
        min_tumor_depth=cfg("somatic/min_tumor_depth"),
        min_tumor_alt_reads=cfg("somatic/min_tumor_alt_reads"),
        min_tumor_vaf=cfg("somatic/min_tumor_vaf"),
        min_normal_depth=cfg("somatic/min_normal_depth"),
        max_normal_vaf=cfg("somatic/max_normal_vaf"),
    shell:
        "neorank somatic"
        " --sample {wildcards.sample:q}"
        " {params.mode}"
        " {params.require_pass}"
        " {params.pass_filters}"
        " --min-tumor-depth {params.min_tumor_depth}"
        " --min-tumor-alt-reads {params.min_tumor_alt_reads}"
        " --min-tumor-vaf {params.min_tumor_vaf}"
        " --min-normal-depth {params.min_normal_depth}"
        " --max-normal-vaf {params.max_normal_vaf}"
        " --out-vcf {output.vcf:q}"
        " --out-accounting {output.accounting:q}"
        " > {log:q} 2>&1"
