# The review workbook (results/{sample}/candidates.xlsx): Review, Aggregated, Binders
# (at most report.review_max_binder_rows binder rows, best first) and About sheets.
# The review round trip: copy results/<sample>/candidates.xlsx to
# <report.review_dir>/<sample>.xlsx (default review/), fill in the decisions and
# re-run; final_order.tsv is requested only for samples whose file exists
# (get_vaccine_outputs in common.smk).


rule review_sheet:
    input:
        candidates="results/{sample}/candidates.tsv",
        table="results/{sample}/candidates.parquet",
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
    priority: 1
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=mem_by_attempt(3000),
        runtime=60,
    params:
        max_binder_rows=cfg("report/review_max_binder_rows"),
    shell:
        "neorank review-sheet"
        " --sample {wildcards.sample:q}"
        " --candidates {input.candidates:q}"
        " --candidates-table {input.table:q}"
        " --aggregated {input.aggregated:q}"
        " --long-peptides {input.long_peptides:q}"
        " --vaccine-peptides {input.peptides:q}"
        " --vaccine-mrna {input.mrna:q}"
        " --max-binder-rows {params.max_binder_rows}"
        " --out {output:q}"
        " > {log:q} 2>&1"
