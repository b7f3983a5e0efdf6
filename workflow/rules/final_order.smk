# Re-import of a reviewer's edited workbook into results/{sample}/final_order.tsv
# (only for samples whose <report.review_dir>/<sample>.xlsx exists). A workbook made
# from another candidates.tsv (sha256 in its About sheet) fails this rule with how to
# re-export it; `neorank final-order --apply-by-candidate-id` (by hand, as the error
# message spells out) applies its decisions by candidate_id instead.


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
