# The reviewer's HTML report of a sample.


rule report:
    input:
        variants="results/{sample}/variants.tsv",
        peptides="results/{sample}/peptides.tsv",
        candidates="results/{sample}/candidates.parquet",
        manifest="results/{sample}/manifest.json",
        alleles="results/{sample}/alleles.json",
        params=stage_config("report"),
        vaccine_peptides="results/{sample}/vaccine_peptides.tsv",
        vaccine_mrna="results/{sample}/vaccine_mrna.tsv",
        vaccine_junctions="results/{sample}/vaccine_junctions.tsv",
        vaccine_long_peptides="results/vaccine/{sample}.long_peptides.tsv",
        eligibility="results/{sample}/eligibility.json",
        preflight="results/preflight/{sample}.tsv",
    output:
        html=report(
            "results/{sample}/report.html",
            caption="../report/report_html.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "HTML report"},
        ),
    log:
        "logs/report/{sample}.log",
    benchmark:
        "benchmarks/report/{sample}.tsv"
    priority: 1
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
        " --vaccine-long-peptides {input.vaccine_long_peptides:q}"
        " --eligibility-json {input.eligibility:q}"
        " --preflight {input.preflight:q}"
        " --out {output.html:q}"
        " > {log:q} 2>&1"
