# One page over every sample of the run (results/cohort.html).


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
