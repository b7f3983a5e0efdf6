# Vaccine design, pVACseq-style aggregated table, review workbook and its
# re-import, and the cohort page. Every rule calls the `neorank` package.
# The review round trip: copy results/<sample>/candidates.xlsx to
# <report.review_dir>/<sample>.xlsx (default review/), fill in the decisions and
# re-run; final_order.tsv is requested only for samples whose file exists
# (get_vaccine_outputs in common.smk).


rule vaccine:
    input:
        candidates="results/{sample}/candidates.tsv",
        effects="results/effects/{sample}.tsv",
        alleles="results/{sample}/alleles.json",
        params="results/run_config.json",
        models=get_models_ready(),
    output:
        long_peptides="results/vaccine/{sample}.long_peptides.tsv",
        peptides=report(
            "results/{sample}/vaccine_peptides.tsv",
            caption="../report/vaccine_peptides.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "vaccine long peptides"},
        ),
        mrna=report(
            "results/{sample}/vaccine_mrna.tsv",
            caption="../report/vaccine_mrna.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "vaccine mRNA order"},
        ),
        junctions="results/{sample}/vaccine_junctions.tsv",
    log:
        "logs/vaccine/{sample}.log",
    benchmark:
        "benchmarks/vaccine/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=60,
    params:
        models=get_models_args(),
    shell:
        "neorank vaccine"
        " --candidates {input.candidates:q}"
        " --effects {input.effects:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " {params.models}"
        " --out-long-peptides {output.long_peptides:q}"
        " --out-peptides {output.peptides:q}"
        " --out-mrna {output.mrna:q}"
        " --out-junctions {output.junctions:q}"
        " > {log:q} 2>&1"


rule aggregate:
    input:
        candidates="results/{sample}/candidates.tsv",
        alleles="results/{sample}/alleles.json",
        params="results/run_config.json",
    output:
        report(
            "results/{sample}/aggregated.tsv",
            caption="../report/aggregated.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "aggregated (one row per variant)"},
        ),
    log:
        "logs/aggregate/{sample}.log",
    benchmark:
        "benchmarks/aggregate/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(1500),
        runtime=30,
    shell:
        "neorank aggregate"
        " --candidates {input.candidates:q}"
        " --alleles-json {input.alleles:q}"
        " --params {input.params:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"


rule review_sheet:
    input:
        candidates="results/{sample}/candidates.tsv",
        aggregated="results/{sample}/aggregated.tsv",
        long_peptides="results/vaccine/{sample}.long_peptides.tsv",
        peptides="results/{sample}/vaccine_peptides.tsv",
        mrna="results/{sample}/vaccine_mrna.tsv",
    output:
        report(
            "results/{sample}/candidates.xlsx",
            caption="../report/candidates_xlsx.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "review workbook (xlsx)"},
        ),
    log:
        "logs/review_sheet/{sample}.log",
    benchmark:
        "benchmarks/review_sheet/{sample}.tsv"
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=60,
    shell:
        "neorank review-sheet"
        " --sample {wildcards.sample:q}"
        " --candidates {input.candidates:q}"
        " --aggregated {input.aggregated:q}"
        " --long-peptides {input.long_peptides:q}"
        " --vaccine-peptides {input.peptides:q}"
        " --vaccine-mrna {input.mrna:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"


rule final_order:
    input:
        review=get_review_xlsx,
        candidates="results/{sample}/candidates.tsv",
        long_peptides="results/vaccine/{sample}.long_peptides.tsv",
    output:
        report(
            "results/{sample}/final_order.tsv",
            caption="../report/final_order.rst",
            category="Neoantigens",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "final order (reviewed)"},
        ),
    log:
        "logs/final_order/{sample}.log",
    benchmark:
        "benchmarks/final_order/{sample}.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "neorank final-order"
        " --sample {wildcards.sample:q}"
        " --review {input.review:q}"
        " --candidates {input.candidates:q}"
        " --long-peptides {input.long_peptides:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"


rule cohort:
    input:
        eligibility=expand("results/{sample}/eligibility.json", sample=samples.index),
        aggregated=expand("results/{sample}/aggregated.tsv", sample=samples.index),
        vaccine=expand("results/{sample}/vaccine_peptides.tsv", sample=samples.index),
    output:
        report(
            "results/cohort.html",
            caption="../report/cohort.rst",
            category="Cohort",
            labels={"table": "cohort summary (HTML)"},
        ),
    log:
        "logs/cohort.log",
    benchmark:
        "benchmarks/cohort.tsv"
    localrule: True
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        samples=" ".join(shlex.quote(s) for s in samples.index),
    shell:
        "neorank cohort"
        " --samples {params.samples}"
        " --eligibility {input.eligibility:q}"
        " --aggregated {input.aggregated:q}"
        " --vaccine-peptides {input.vaccine:q}"
        " --out {output:q}"
        " > {log:q} 2>&1"
