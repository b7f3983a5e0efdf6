# Reference annotation and MHCflurry models.
#
# Offline demo path: the embedded Ensembl 87 subset (resources/reference) is
# indexed into reference/cache_dir once; the embedded models need no rule.
# Real-user path (online): `install_ensembl` runs `pyensembl install` for the
# configured release, and `fetch_mhcflurry_models` downloads MHCflurry's
# official models_class1_presentation. Both retry, and neither runs in tests.


if config["reference"]["source"] == "ensembl":

    rule install_ensembl:
        output:
            touch(f"{config['reference']['cache_dir']}/{config['reference']['name']}.ready"),
        log:
            "logs/reference/install_ensembl.log",
        benchmark:
            "benchmarks/reference/install_ensembl.tsv"
        retries: 3
        conda:
            "../envs/neorank.yaml"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            release=cfg("reference/release"),
            species=cfg("reference/species"),
            server=(
                f"--server {shlex.quote(cfg('reference/ensembl_server'))}"
                if cfg("reference/ensembl_server")
                else ""
            ),
            cache=cfg("reference/cache_dir"),
        shell:
            "PYENSEMBL_CACHE_DIR={params.cache:q} pyensembl install"
            " --release {params.release}"
            " --species {params.species:q}"
            " {params.server}"
            " > {log:q} 2>&1"

else:

    rule index_reference:
        input:
            get_reference_files(),
        output:
            touch(f"{config['reference']['cache_dir']}/{config['reference']['name']}.ready"),
        log:
            "logs/reference/index_reference.log",
        benchmark:
            "benchmarks/reference/index_reference.tsv"
        conda:
            "../envs/neorank.yaml"
        threads: 1
        resources:
            mem_mb=mem_by_attempt(2000),
            runtime=60,
        params:
            reference=get_reference_args(),
        shell:
            "neorank index-reference" " {params.reference}" " > {log:q} 2>&1"


rule fetch_mhcflurry_models:
    output:
        touch("resources/mhcflurry/official.ready"),
    log:
        "logs/reference/fetch_mhcflurry_models.log",
    benchmark:
        "benchmarks/reference/fetch_mhcflurry_models.tsv"
    retries: 3
    conda:
        "../envs/neorank.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "mhcflurry-downloads fetch models_class1_presentation > {log:q} 2>&1"
