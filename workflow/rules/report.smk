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


rule rank:
    input:
        unpack(get_rank_evidence),
        predictions="results/{sample}/predictions.tsv",
        variants="results/{sample}/variants.tsv",
        peptides="results/{sample}/peptides.tsv",
        params="results/run_config.json",
    output:
        candidates=report(
            "results/{sample}/candidates.tsv",
            caption="../report/candidates.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "ranked candidates"},
        ),
    log:
        "logs/rank/{sample}.log",
    benchmark:
        "benchmarks/rank/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(2500),
        runtime=60,
    params:
        evidence=get_rank_evidence_args,
    shell:
        "neorank rank"
        " --sample {wildcards.sample:q}"
        " --predictions {input.predictions:q}"
        " --variants {input.variants:q}"
        " --peptides {input.peptides:q}"
        " --params {input.params:q}"
        " {params.evidence}"
        " --out {output.candidates:q}"
        " > {log:q} 2>&1"


rule manifest:
    input:
        config="results/run_config.json",
        predictions="results/{sample}/predictions.tsv",
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


rule report:
    input:
        variants="results/{sample}/variants.tsv",
        peptides="results/{sample}/peptides.tsv",
        candidates="results/{sample}/candidates.tsv",
        manifest="results/{sample}/manifest.json",
        alleles="results/{sample}/alleles.json",
        params="results/run_config.json",
        vaccine_peptides="results/{sample}/vaccine_peptides.tsv",
        vaccine_mrna="results/{sample}/vaccine_mrna.tsv",
        vaccine_junctions="results/{sample}/vaccine_junctions.tsv",
    output:
        html=report(
            "results/{sample}/report.html",
            caption="../report/report_html.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "HTML report"},
        ),
        eligibility="results/{sample}/eligibility.json",
    log:
        "logs/report/{sample}.log",
    benchmark:
        "benchmarks/report/{sample}.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        purity=get_purity_arg,
    shell:
        "neorank report"
        " --sample {wildcards.sample:q}"
        " --variants {input.variants:q}"
        " --peptides {input.peptides:q}"
        " --candidates {input.candidates:q}"
        " --manifest {input.manifest:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " {params.purity}"
        " --vaccine-peptides {input.vaccine_peptides:q}"
        " --vaccine-mrna {input.vaccine_mrna:q}"
        " --vaccine-junctions {input.vaccine_junctions:q}"
        " --eligibility-json {output.eligibility:q}"
        " --out {output.html:q}"
        " > {log:q} 2>&1"
