"""Binding module: the committed embedded models and the batched prediction table."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neorank.alleles import EXTRAPOLATED, NULL_SKIPPED, SUPPORTED, PatientAllele, parse_typing
from neorank.errors import AlleleError, ModelError
from neorank.models import load_predictor, resolve_alleles, resolve_models_dir
from neorank.predict import predict_table

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ROOT / "resources" / "mhcflurry" / "embedded"


@pytest.fixture(scope="session")
def embedded():
    return load_predictor("embedded", EMBEDDED)


def test_model_files_match_recorded_checksums():
    lines = (EMBEDDED / "SHA256SUMS").read_text().splitlines()
    assert len(lines) >= 5
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((EMBEDDED / name).read_bytes()).hexdigest() == digest, name


def test_model_folder_is_compact():
    size = sum(p.stat().st_size for p in EMBEDDED.rglob("*") if p.is_file())
    assert size <= 40 * 1024 * 1024


def test_known_epitopes_predict_the_known_direction(embedded):
    table = embedded.affinity(["GILGFVFTL", "NLVPMVATV", "SIINFEKL"], ["HLA-A*02:01"])
    affinity = dict(zip(table.peptide, table.affinity_nm, strict=True))
    assert affinity["GILGFVFTL"] < 500
    assert affinity["NLVPMVATV"] < 500
    # SIINFEKL (ovalbumin, an H-2Kb epitope) is no HLA-A*02:01 binder by either rule,
    # far weaker than the influenza epitope, and a binder of its own allele. (The
    # models' IC50 scale is compressed, MODEL_CARD.md: non-binders read stronger than
    # measured, so the bound is 5x the binder threshold, not 10x.)
    assert affinity["SIINFEKL"] > 2500
    assert affinity["SIINFEKL"] > 100 * affinity["GILGFVFTL"]
    percentile = dict(zip(table.peptide, table.percentile, strict=True))
    assert percentile["GILGFVFTL"] < 2
    assert percentile["SIINFEKL"] > 2
    kb = embedded.affinity(["SIINFEKL"], ["H-2-Kb"])
    assert kb["affinity_nm"].iloc[0] < 500


def test_predictor_is_loaded_once_per_process(embedded):
    assert load_predictor("embedded", EMBEDDED) is embedded


def test_embedded_is_affinity_only_and_labelled(embedded):
    assert embedded.affinity_only
    assert embedded.label.endswith("/embedded")


def test_allele_statuses(embedded):
    typing = parse_typing("HLA-A*01:01,HLA-A*01:11N,HLA-B*08:01,HLA-C*07:01")
    resolved = resolve_alleles(typing, embedded)
    status = {a.allele: a.status for a in resolved}
    assert status["HLA-A*01:01"] == SUPPORTED
    assert status["HLA-A*01:11N"] == NULL_SKIPPED
    trained = embedded.trained_alleles()
    # An allele with a pseudosequence but no training data is extrapolated.
    untrained = sorted(a for a in embedded.known_alleles()
                       if a.startswith("HLA-B*") and a not in trained)[0]
    (entry,) = resolve_alleles([PatientAllele(untrained, untrained)], embedded)
    assert entry.status == EXTRAPOLATED


def test_allele_without_pseudosequence_lists_close_matches(embedded):
    with pytest.raises(AlleleError, match="no MHC pseudosequence") as err:
        resolve_alleles(parse_typing("HLA-A*02:999"), embedded, where="samples.tsv line 3")
    assert "close matches: HLA-A*02:" in str(err.value)
    assert "samples.tsv line 3" in str(err.value)


def test_official_models_missing_names_the_fetch_command(tmp_path):
    with pytest.raises(ModelError, match="mhcflurry-downloads fetch models_class1_presentation"):
        resolve_models_dir("official", EMBEDDED, official_dir=tmp_path / "absent")


class FakePredictor:
    """Deterministic stand-in: affinity grows with the count of 'A' residues."""

    label = "fake/test"
    affinity_only = True

    def __init__(self):
        self.calls = []

    def known_alleles(self):
        return {"HLA-A*02:01", "HLA-B*08:01"}

    def trained_alleles(self):
        return {"HLA-A*02:01"}

    def affinity(self, peptides, alleles):
        self.calls.append((list(peptides), list(alleles)))
        rows = [(p, a, 100.0 * (1 + p.count("A")) * (2 if a.startswith("HLA-B") else 1),
                 float(p.count("A"))) for a in alleles for p in peptides]
        return pd.DataFrame(rows, columns=["peptide", "allele", "affinity_nm", "percentile"])


def test_predict_table_batches_unique_peptides_and_keeps_order():
    peptides = pd.DataFrame({
        "variant_id": ["1:10:A>T", "1:10:A>T", "2:5:C>G"],
        "mutant_peptide": ["AAYLLLLLL", "KLLLLLLLL", "AAYLLLLLL"],
        "wildtype_peptide": ["ALYLLLLLL", None, "ALYLLLLLL"],
        "n_flank": ["M", "M", "M"], "c_flank": ["", "", ""],
    })
    fake = FakePredictor()
    alleles = [PatientAllele("A*02:01", "HLA-A*02:01", SUPPORTED),
               PatientAllele("A*01:11N", "HLA-A*01:11N", NULL_SKIPPED),
               PatientAllele("B*08:01", "HLA-B*08:01", EXTRAPOLATED)]
    table = predict_table(peptides, alleles, fake)
    assert len(fake.calls) == 1  # one batched call for everything
    assert fake.calls[0][0] == sorted({"AAYLLLLLL", "KLLLLLLLL", "ALYLLLLLL"})
    assert list(table.allele) == ["HLA-A*02:01", "HLA-B*08:01"] * 3
    assert list(table.mutant_affinity_nm) == [300, 600, 100, 200, 300, 600]
    assert list(table.wildtype_affinity_nm[:2]) == [200, 400]
    assert np.isnan(table.wildtype_affinity_nm[2])
    assert list(table.allele_status[:2]) == [SUPPORTED, EXTRAPOLATED]
    assert table.presentation_score.isna().all()


def test_prediction_does_not_depend_on_the_other_peptides_in_the_job(embedded):
    """Regression: a partial last batch changed float32 results in the 6th digit,
    so a shared peptide's value depended on its job (shards, samples, cache)."""
    rng = np.random.RandomState(3)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    pool = sorted({"".join(rng.choice(aa, size=int(rng.choice([8, 9, 10, 11]))))
                   for _ in range(5000)})
    alleles = ["HLA-A*01:01", "HLA-C*07:01"]
    whole = embedded.affinity(pool, alleles).set_index(["peptide", "allele"]).affinity_nm
    part = embedded.affinity(pool[1234:3333], alleles).set_index(["peptide", "allele"]).affinity_nm
    assert (whole.reindex(part.index).to_numpy() == part.to_numpy()).all()


def test_sharded_predict_then_gather_equals_one_job(tmp_path, embedded):
    from neorank.cli import main
    from neorank.io import write_tsv

    rng = np.random.RandomState(5)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    mutants = ["".join(rng.choice(aa, size=9)) for _ in range(301)]
    peptides = pd.DataFrame({"variant_id": [f"1:{i}:A>T" for i in range(301)],
                             "mutant_peptide": mutants,
                             "wildtype_peptide": [m[:4] + "A" + m[5:] for m in mutants],
                             "n_flank": "M", "c_flank": "K"})
    write_tsv(peptides, tmp_path / "peptides.tsv")
    common = ["--peptides", str(tmp_path / "peptides.tsv"), "--alleles", "HLA-A*01:01,B*08:01",
              "--embedded-dir", str(EMBEDDED)]
    assert main(["predict", *common, "--out", str(tmp_path / "all.tsv")]) == 0
    for k in (1, 2, 3):
        assert main(["predict", *common, "--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}.tsv"),
                     "--out-alleles", str(tmp_path / f"s{k}.json")]) == 0
    assert main(["gather", "--shards", *[str(tmp_path / f"s{k}.tsv") for k in (1, 2, 3)],
                 "--alleles", *[str(tmp_path / f"s{k}.json") for k in (1, 2, 3)],
                 "--out", str(tmp_path / "gathered.tsv"),
                 "--out-alleles", str(tmp_path / "alleles.json")]) == 0
    assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()
    # Blocks inside a shard (bounded memory) write the same bytes; 301 rows in blocks
    # of 40 leave a short last block.
    assert main(["predict", *common, "--shard", "2/3", "--block-rows", "40",
                 "--out", str(tmp_path / "s2_blocks.tsv")]) == 0
    assert (tmp_path / "s2_blocks.tsv").read_bytes() == (tmp_path / "s2.tsv").read_bytes()
    assert main(["predict", *common, "--block-rows", "40",
                 "--out", str(tmp_path / "all_blocks.tsv")]) == 0
    assert (tmp_path / "all_blocks.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()


def test_parquet_shards_hold_the_values_of_the_tsv(tmp_path, embedded, capsys):
    """The workflow's form: Parquet shards (one of them empty) gathered into one
    table whose rows, written as TSV, are the bytes of the one-job TSV."""
    from neorank.cli import main
    from neorank.io import write_tsv
    from neorank.tables import read_table

    rng = np.random.RandomState(7)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    mutants = ["".join(rng.choice(aa, size=int(rng.choice([8, 9, 10])))) for _ in range(120)]
    peptides = pd.DataFrame({"variant_id": [f"1:{i}:A>T" for i in range(120)],
                             "mutant_peptide": mutants,
                             "wildtype_peptide": [None if i % 5 == 0 else "A" + m[1:]
                                                  for i, m in enumerate(mutants)],
                             "mutation_positions": ["1" if i % 2 else "1;2" for i in range(120)],
                             "n_flank": ["NA" if i % 7 == 0 else "M" for i in range(120)],
                             "c_flank": "K"})
    write_tsv(peptides, tmp_path / "peptides.tsv")
    common = ["--peptides", str(tmp_path / "peptides.tsv"), "--alleles", "HLA-A*01:01,C*07:01",
              "--embedded-dir", str(EMBEDDED)]
    assert main(["predict", *common, "--out", str(tmp_path / "all.tsv")]) == 0
    # 120 rows in 200 shards: shard 1 is empty.
    assert main(["predict", *common, "--shard", "1/200",
                 "--out", str(tmp_path / "s1.parquet")]) == 0
    assert main(["predict", *common, "--shard", "1/2", "--block-rows", "40",
                 "--out", str(tmp_path / "h1.parquet"),
                 "--out-alleles", str(tmp_path / "a.json")]) == 0
    assert main(["predict", *common, "--shard", "2/2",
                 "--out", str(tmp_path / "h2.parquet")]) == 0
    parts = [str(tmp_path / name) for name in ("s1.parquet", "h1.parquet", "h2.parquet")]
    assert main(["gather", "--shards", *parts, "--alleles", *[str(tmp_path / "a.json")] * 3,
                 "--out", str(tmp_path / "gathered.parquet"),
                 "--out-alleles", str(tmp_path / "alleles.json")]) == 0
    assert len(read_table(tmp_path / "s1.parquet")) == 0
    gathered = read_table(tmp_path / "gathered.parquet")
    write_tsv(gathered, tmp_path / "gathered.tsv")
    assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()
    # Flanks stay sequence: "NA" (Asn-Ala) is text, not missing.
    assert (gathered["n_flank"] == "NA").sum() == (peptides["n_flank"] == "NA").sum() * 2 > 0
    # Mixing formats is refused (exit 2, the error on stderr).
    with pytest.raises(SystemExit, match="2"):
        main(["gather", "--shards", str(tmp_path / "h1.parquet"), str(tmp_path / "all.tsv"),
              "--alleles", str(tmp_path / "a.json"), str(tmp_path / "a.json"),
              "--out", str(tmp_path / "mixed.parquet"),
              "--out-alleles", str(tmp_path / "x.json")])
    assert "all be Parquet or all TSV" in capsys.readouterr().err
    assert not (tmp_path / "mixed.parquet").exists()


def test_tables_do_not_depend_on_the_thread_count(tmp_path):
    """With 2 torch threads instead of 1, 32 of these 800 affinities print differently
    (%.6g); `neorank predict` pins one thread, so the bytes do not depend on the core
    count or OMP_NUM_THREADS of the machine (or the Snakemake job)."""
    import os
    import subprocess
    import sys

    from neorank.io import write_tsv

    rng = np.random.RandomState(5)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    mutants = ["".join(rng.choice(aa, size=9)) for _ in range(400)]
    write_tsv(pd.DataFrame({"variant_id": [f"1:{i}:A>T" for i in range(400)],
                            "mutant_peptide": mutants, "wildtype_peptide": pd.NA,
                            "n_flank": "M", "c_flank": "K"}), tmp_path / "peptides.tsv")
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}.tsv"
        subprocess.run([sys.executable, "-m", "neorank.cli", "predict", "--peptides",
                        str(tmp_path / "peptides.tsv"), "--alleles", "HLA-A*01:01,B*08:01",
                        "--embedded-dir", str(EMBEDDED), "--out", str(out)], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=threads), capture_output=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def _load_state(folder, precomputed: bool):
    import contextlib

    from mhcflurry import Class1AffinityPredictor

    from neorank.models import _precomputed_allele_names

    ctx = _precomputed_allele_names(folder) if precomputed else contextlib.nullcontext()
    with ctx:
        predictor = Class1AffinityPredictor.load(str(folder))
    return (predictor.allele_to_sequence, predictor.allele_to_canonical,
            sorted(predictor.allele_to_percent_rank_transform))


def test_committed_allele_name_table_is_valid_here():
    from neorank.models import allele_name_table

    # Without it every prediction job spends seconds re-normalising 18,000 names.
    assert allele_name_table(EMBEDDED) is not None


def test_precomputed_allele_names_load_the_same_predictor(tmp_path):
    import json
    import shutil

    from neorank.models import ALLELE_NAMES, allele_name_table, normalizer, write_allele_name_table

    folder = tmp_path / "models"
    shutil.copytree(EMBEDDED, folder)
    (folder / ALLELE_NAMES).unlink()
    assert allele_name_table(folder) is None
    write_allele_name_table(folder)
    table = allele_name_table(folder)
    assert table is not None and len(table["plain"]) >= 18000
    assert _load_state(folder, True) == _load_state(folder, False)

    from mhcflurry.common import normalize_allele_name

    fast = normalizer(table)
    for name in ["HLA-A0201", "A*02:01", "HLA-B*44:01", "Mamu-A1*007:01", "HLA-A*99:99",
                 "not an allele"]:
        for aliases in (False, True):
            assert fast(name, raise_on_error=False, use_allele_aliases=aliases) == \
                normalize_allele_name(name, raise_on_error=False, use_allele_aliases=aliases)
    with pytest.raises(Exception):  # noqa: B017 - the table never hides mhcflurry's own error
        fast("not an allele")

    # A table made by other mhcgnomes versions, or for other names, is ignored.
    document = json.loads((folder / ALLELE_NAMES).read_text())
    (folder / ALLELE_NAMES).write_text(json.dumps({**document, "mhcgnomes": "0.0.1"}))
    assert allele_name_table(folder) is None
    (folder / ALLELE_NAMES).write_text(json.dumps(document))
    assert allele_name_table(folder) is not None
    with open(folder / "allele_sequences.csv", "a") as handle:
        handle.write("HLA-A*02:01,YFAMYGEKVAHTHVDTLYVRYHYYTWAVLAYTWY\n")
    assert allele_name_table(folder) is None


# ------------------------------------------------------------------ pinned arithmetic
_PROBE = """
import hashlib, random, sys
from neorank.models import load_predictor  # first, as the CLI does: pins numpy's kernels
import numpy as np
numerics = sys.argv[1]
rng = random.Random(5)
peptides = ["".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(8, 11)))
            for _ in range(2048)]
alleles = ["HLA-A*02:01", "HLA-B*07:02"]
predictor = load_predictor("embedded", sys.argv[2], numerics=numerics)
values = predictor.affinity(peptides, alleles)["affinity_nm"]
print(hashlib.sha256(np.asarray(values, dtype=float).tobytes()).hexdigest())
if numerics == "native":  # MHCflurry alone, the call NeoRank makes (one whole batch)
    matrix = predictor.affinity_predictor.predict_cartesian_pan_allele(
        peptides, alleles, model_kwargs={"batch_size": 2048})
    alone = np.asarray(matrix, dtype=float).T.reshape(-1)
    print(hashlib.sha256(alone.tobytes()).hexdigest())
"""


def _unpinned_env(**env: str) -> dict[str, str]:
    """This process's environment without the arithmetic settings, plus ``env``."""
    import os

    kernels = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
               "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")
    return {**{k: v for k, v in os.environ.items() if k not in kernels}, **env}


def _probe(numerics: str, **env: str) -> list[str]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PROBE, numerics, str(EMBEDDED)], check=True,
                          capture_output=True, text=True, env=_unpinned_env(**env), cwd=ROOT)
    return done.stdout.split()


def test_predictions_do_not_depend_on_the_cpu_kernels_torch_would_pick():
    # Portable: the same bytes whatever the environment asks for (AVX2 kernels, MKL's
    # automatic branch, MKL capped at SSE4.2 as on an older CPU) and without it.
    portable = _probe("portable")
    assert _probe("portable", ATEN_CPU_CAPABILITY="avx2", MKL_CBWR="AUTO",
                  MKL_ENABLE_INSTRUCTIONS="SSE4_2") == portable
    # Native is MHCflurry's own call with the CPU's kernels, and the kernels change the
    # float32 network's outputs (so the check above can fail).
    native, alone = _probe("native")
    assert native == alone
    assert portable != [native]


def test_pinning_refuses_a_process_where_torch_already_ran_unpinned():
    import subprocess
    import sys

    code = ("import torch; torch.ones(4, 4) @ torch.ones(4, 4)\n"
            "from neorank.models import pin_numerics; pin_numerics()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_unpinned_env(), cwd=ROOT)
    assert done.returncode != 0
    assert "torch already ran in this process" in done.stderr
    assert "MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default" in done.stderr


_NUMPY_PROBE = """
import json, os
{first}
from neorank.models import numpy_kernels, openblas_coretype
error = None
if {pin}:
    from neorank.models import pin_numerics
    try:
        pin_numerics()
    except Exception as exc:
        error = str(exc)
print(json.dumps([os.environ.get("NPY_DISABLE_CPU_FEATURES"), sorted(numpy_kernels() or []),
                  os.environ.get("OPENBLAS_CORETYPE"), openblas_coretype(), error]))
"""


def _numpy_probe(first: str, pin: bool = False, **env: str) -> list:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _NUMPY_PROBE.format(first=first, pin=pin)],
                          check=True, capture_output=True, text=True,
                          env=_unpinned_env(**env), cwd=ROOT)
    return json.loads(done.stdout)


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="x86-64 kernels")
def test_importing_neorank_first_pins_numpys_kernels_below_avx512():
    from neorank import NUMPY_DISABLED_KERNELS, OPENBLAS_CORETYPE, cpu_flags

    # A fresh process that imports neorank before numpy (the CLI, the workflow's jobs):
    # numpy's AVX-512 kernels are off and, on a CPU with AVX2, OpenBLAS runs its Haswell
    # kernels, on a CPU with AVX-512 as on one without; the portable pin accepts it.
    setting, kernels, asked, coretype, error = _numpy_probe("import neorank", pin=True)
    assert setting == " ".join(NUMPY_DISABLED_KERNELS)
    assert not set(kernels) & set(NUMPY_DISABLED_KERNELS)
    if {"avx2", "fma"} <= cpu_flags():
        assert "X86_V3" in kernels and asked == coretype == OPENBLAS_CORETYPE
    assert error is None
    # numpy imported first: too late to pin (pin_numerics says so, test below); a setting
    # of the user's own is left as it is, and the portable pin refuses other OpenBLAS
    # kernels (Prescott: SSE3, runs on every x86-64 CPU).
    assert _numpy_probe("import numpy")[0] is None
    assert _numpy_probe("import neorank", NPY_DISABLE_CPU_FEATURES="AVX512_SPR")[0] == \
        "AVX512_SPR"
    if {"avx2", "fma"} <= cpu_flags():
        *_, coretype, error = _numpy_probe("import neorank", pin=True,
                                           OPENBLAS_CORETYPE="Prescott")
        assert coretype != OPENBLAS_CORETYPE
        assert f"OpenBLAS {coretype} kernels" in error
        assert f"OPENBLAS_CORETYPE={OPENBLAS_CORETYPE}" in error


def test_portable_pinning_refuses_numpys_avx512_kernels_and_warns_without_avx2(
        monkeypatch, caplog):
    from neorank import models

    monkeypatch.setattr(models, "numpy_kernels", lambda: {"X86_V3", "X86_V4", "AVX512_ICL"})
    with pytest.raises(ModelError, match="numpy runs its AVX512_ICL/X86_V4 kernels") as error:
        models._check_numpy_kernels(first=True)
    assert "NPY_DISABLE_CPU_FEATURES='X86_V4 AVX512_ICL AVX512_SPR'" in str(error.value)
    monkeypatch.setattr(models, "numpy_kernels", lambda: {"X86_V3"})
    monkeypatch.setattr(models, "openblas_coretype", lambda: "SkylakeX")
    with pytest.raises(ModelError, match="numpy runs its OpenBLAS SkylakeX kernels"):
        models._check_numpy_kernels(first=True)
    monkeypatch.setattr(models, "openblas_coretype", lambda: "Haswell")
    models._check_numpy_kernels(first=True)  # the pinned state: no error, no warning
    assert not caplog.records
    monkeypatch.setattr(models, "numpy_kernels", lambda: set())  # a CPU without AVX2
    models._check_numpy_kernels(first=True)
    assert "without its X86_V3 kernels" in caplog.text


def test_cache_key_names_the_models_and_the_arithmetic(embedded):
    from neorank.models import NUMERICS, models_checksum, prediction_key

    # Values cached before the arithmetic was pinned (machine-dependent) are not reused.
    assert prediction_key(embedded) == f"{models_checksum(EMBEDDED)}+{NUMERICS['portable']}"


def test_one_arithmetic_per_process(embedded):
    from neorank.models import pin_numerics

    with pytest.raises(ModelError, match="already predicts with portable arithmetic"):
        load_predictor("embedded", EMBEDDED, numerics="native")
    with pytest.raises(ModelError, match="use portable"):
        pin_numerics("fast")
