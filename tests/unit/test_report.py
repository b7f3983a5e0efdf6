"""Unit tests for ``neorank report`` (static, escaped, deterministic HTML) and ``neorank manifest``."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from neorank import config, eligibility, rank, report
from neorank import manifest as mf
from neorank import models as nm
from neorank.config import DEFAULT_MAX_VARIANT_ROWS, DEFAULT_TOP_N
from neorank.errors import InputFileError, ModelError
from neorank.io import read_tsv, write_tsv
from neorank.report.digest import (
    CANDIDATE_COLUMNS,
    REQUIRED_CANDIDATE_COLUMNS,
    digest_candidates,
    peptide_counts,
)
from neorank.report.render import _render, _require, _settings

EVIL = "<script>alert('x')</script>"
SAMPLE = f"PT{EVIL}"
PREDICTOR = "mhcflurry-2.3.16/embedded"

VARIANTS = [
    # variant_id, status, gene, effect, change, depth, vaf, reason
    ("2:209113112:C>T", "protein_changing", "IDH1", "Substitution", "p.R132H", 50, 0.4, ""),
    ("17:7675088:C>T", "protein_changing", EVIL, "Substitution", "p.R175H", None, None, ""),
    ("12:25245350:C>A", "protein_changing", "KRAS", "Substitution", "p.G12V", 80, 0.3, ""),
    ("7:140753336:A>T", "no_peptides", "BRAF", "StartLoss", "p.M1?", 30, 0.2,
     "protein-changing but no peptide could be made"),
    ("1:1000:G>A", "silent", "GENE1", "Silent", "p.L5L", 40, 0.3, "synonymous"),
    ("1:2000:G>T", "filtered", None, None, None, 6, 0.5, "tumor_depth 6 < 10"),
]
PEPTIDES = [
    ("2:209113112:C>T", "GWVKPIIIG", "GWVKPIIIR", "9"),
    ("17:7675088:C>T", "HMTEVVRHC", "RMTEVVRRC", "1;8"),
    ("12:25245350:C>A", "VVVGAVGVG", "VVVGAGGVG", "6"),
]
# (peptide, allele, mutant IC50, percentile, wildtype IC50)
PREDICTIONS = [
    ("GWVKPIIIG", "HLA-A*02:01", 45.0, 0.3, 20000.0),
    ("GWVKPIIIG", "HLA-B*07:02", 9000.0, 35.0, 9000.0),
    ("HMTEVVRHC", "HLA-A*02:01", 300.0, 1.1, 250.0),
    ("HMTEVVRHC", "HLA-B*07:02", 1500.0, 1.9, None),
    ("VVVGAVGVG", "HLA-A*02:01", 7000.0, 20.0, 6000.0),
    ("VVVGAVGVG", "HLA-B*07:02", 12000.0, 50.0, 15000.0),
]
ALLELES = [
    {"input": "A*02:01", "allele": "HLA-A*02:01", "status": "supported"},
    {"input": "B*07:02", "allele": "HLA-B*07:02", "status": "supported"},
    {"input": f"C*04:09N{EVIL}", "allele": None, "status": "null_skipped"},
]
PARAMS = {
    "binding": {"max_affinity_nm": 500, "max_percentile": 2.0},
    "ranking": {"weights": {"binding": 1.0, "vaf": 0.5, "dissimilarity": 0.25},
                "affinity_midpoint_nm": 350, "affinity_width_nm": 150},
    "eligibility": {"target_size_mb": 30},
    "report": {"top_n": 50},
}
FIXED_TIME = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    variants = []
    for vid, status, gene, effect, change, depth, vaf, reason in VARIANTS:
        chrom, pos, alleles = vid.split(":")
        ref, alt = alleles.split(">")
        variants.append({
            "variant_id": vid, "chrom": chrom, "pos": int(pos), "ref": ref, "alt": alt,
            "filter": "PASS", "tumor_depth": depth, "tumor_alt_reads": None,
            "tumor_vaf": vaf, "normal_depth": 30, "normal_vaf": 0.0, "gene_name": gene,
            "transcript_id": "ENST00000000001" if gene else None, "effect": effect,
            "protein_change": change, "status": status, "reason": reason})
    info = {v[0]: v for v in VARIANTS}
    peptides = []
    for vid, mt, wt, positions in PEPTIDES:
        peptides.append({
            "variant_id": vid, "gene_name": info[vid][2], "effect": info[vid][3],
            "protein_change": info[vid][4], "transcript_ids": "ENST00000000001",
            "length": len(mt), "mutant_peptide": mt, "wildtype_peptide": wt,
            "mutation_positions": positions, "n_flank": "MSKKI", "c_flank": "DEFGH"})
    by_peptide = {p["mutant_peptide"]: p for p in peptides}
    predictions = []
    for peptide, allele, mt, pct, wt in PREDICTIONS:
        predictions.append(dict(
            by_peptide[peptide], allele=allele, allele_status="supported",
            mutant_affinity_nm=mt, mutant_percentile=pct, wildtype_affinity_nm=wt,
            wildtype_percentile=None, presentation_score=None, processing_score=None,
            presentation_percentile=None, predictor=PREDICTOR))
    variants_df = pd.DataFrame(variants)
    candidates = rank.rank_candidates(pd.DataFrame(predictions), variants_df, "PT1",
                                      config.ranking_params(PARAMS))
    return variants_df, pd.DataFrame(peptides), candidates


def _models_dir(tmp_path, with_sums: bool = True):
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    (models / "weights.npz").write_bytes(b"\x00\x01weights")
    (models / "sub" / "manifest.csv").write_text("model_name\nm1\n")
    if with_sums:
        (models / "SHA256SUMS").write_text("abc  weights.npz\n")
    return models


def _write_inputs(tmp_path, label: str = "embedded", sample: str = SAMPLE) -> argparse.Namespace:
    variants, peptides, candidates = _tables()
    write_tsv(variants, tmp_path / "variants.tsv")
    write_tsv(peptides, tmp_path / "peptides.tsv")
    write_tsv(candidates, tmp_path / "candidates.tsv")
    (tmp_path / "alleles.json").write_text(json.dumps(ALLELES))
    (tmp_path / "params.json").write_text(json.dumps(PARAMS))
    manifest = mf.build_manifest(sample, {"samples": "config/samples.tsv", **PARAMS},
                                 str(_models_dir(tmp_path)), label, 87,
                                 f"GRCh38-{EVIL}", now=FIXED_TIME)
    mf.write_manifest(manifest, tmp_path / "manifest.json")
    args = argparse.Namespace(
        sample=sample, variants=str(tmp_path / "variants.tsv"),
        peptides=str(tmp_path / "peptides.tsv"), candidates=str(tmp_path / "candidates.tsv"),
        manifest=str(tmp_path / "manifest.json"), alleles_json=str(tmp_path / "alleles.json"),
        params=str(tmp_path / "params.json"), purity=None, expression=None, top_n=None,
        max_variant_rows=None, eligibility_json=str(tmp_path / "eligibility.json"),
        out=str(tmp_path / "report.html"))
    write_eligibility(args)
    return args


def write_eligibility(args: argparse.Namespace) -> None:
    """The eligibility stage's eligibility.json for the report's inputs (as the workflow runs it)."""
    assert eligibility.run(argparse.Namespace(
        sample=args.sample, variants=args.variants, candidates=args.candidates,
        alleles_json=args.alleles_json, manifest=args.manifest, params=[args.params],
        purity=args.purity, expression=args.expression, chunk_rows=2,
        out=args.eligibility_json)) == 0


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[str, argparse.Namespace]:
    tmp_path = tmp_path_factory.mktemp("report")
    args = _write_inputs(tmp_path)
    assert report.run(args) == 0
    return (tmp_path / "report.html").read_text(encoding="utf-8"), args


# --------------------------------------------------------------------------- report


def test_escapes_script_in_gene_sample_and_allele(rendered):
    page, _ = rendered
    assert EVIL not in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only NeoRank's own inline script
    assert "PT&lt;script&gt;" in page  # sample id in title and header


def test_no_external_resources(rendered):
    page, _ = rendered
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href|action|srcset)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"""src\s*=""", page, re.I)  # nothing loaded at all
    # Nothing linked outside the page: every href is the table of contents' #fragment of
    # an element of the page itself.
    hrefs = re.findall(r"""href\s*=\s*["']?([^"'\s>]*)""", page, re.I)
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    assert hrefs and all(h.startswith("#") and h[1:] in ids for h in hrefs), hrefs
    assert len(re.findall(r"href\s*=", page, re.I)) == len(hrefs)
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_csp_hash_matches_inline_script(rendered):
    page, _ = rendered
    # Exactly the text between the tags (newlines included): what browsers hash.
    script = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page


def test_contains_verdict_top_candidate_and_provenance(rendered):
    page, args = rendered
    verdict = json.loads(open(args.eligibility_json).read())["verdict"]
    assert verdict == "borderline"  # 2 binder variants, 2 genes
    assert f'class="verdict v-borderline">{verdict}<' in page
    top = pd.read_csv(args.candidates, sep="\t").iloc[0]
    assert top["mutant_peptide"] == "GWVKPIIIG" and top["allele"] == "HLA-A*02:01"
    assert top["candidate_id"] in page
    manifest = json.loads(open(args.manifest).read())
    for value in (manifest["models"]["sha256"], manifest["config_sha256"],
                  manifest["created"], manifest["versions"]["mhcflurry"],
                  manifest["versions"]["varcode"], manifest["versions"]["neorank"],
                  manifest["models"]["numerics"]):
        assert value in page
    assert "<dt>Prediction arithmetic</dt>" in page
    assert "<dt>Ensembl release</dt><dd>87</dd>" in page
    assert "GRCh38-&lt;script&gt;" in page


def test_demo_banner_and_affinity_only_note(rendered):
    page, _ = rendered
    assert "DEMO-GRADE" in page
    assert "Affinity-only (no presentation/processing)" in page
    assert "Research use only" in page


def test_top_table_lists_binders_only_in_rank_order(rendered):
    page, _ = rendered
    table = page.split('id="top-candidates">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[1], re.S)
    # Binders: GWVKPIIIG/A*02 (45 nM), HMTEVVRHC/A*02 (300 nM), HMTEVVRHC/B*07 (1.9 percentile).
    assert len(rows) == 3
    assert "GWVKPIII<mark>G</mark>" in rows[0]
    assert "<mark>H</mark>MTEVVR<mark>H</mark>C" in rows[1]
    assert 'data-v="45"' in rows[0]
    assert "Best 3 of 3 binder rows" in page


def test_funnel_and_variant_summary(rendered):
    page, _ = rendered
    funnel = page.split('id="funnel"', 1)[1].split("</section>", 1)[0]
    counts = re.findall(r'<td class="n">(\d+)</td>', funnel)
    assert counts == ["6", "5", "4", "3", "2"]
    summary = page.split('id="variant-summary"', 1)[1]
    assert summary.count("<tr>") == 1 + len(VARIANTS)
    assert "tumor_depth 6 &lt; 10" in summary
    # Each variant's best-ranked binder row; a variant without binders shows a dash.
    best = re.findall(r'<td data-v="[^"]*">.*?</td>', summary.split("</table>", 1)[0], re.S)
    assert best == [
        '<td data-v="1"><span class="mono">GWVKPIIIG</span> <span class="mono">HLA-A*02:01'
        '</span> 45.0 nM (rank 1)</td>',
        '<td data-v="2"><span class="mono">HMTEVVRHC</span> <span class="mono">HLA-A*02:01'
        '</span> 300.0 nM (rank 2)</td>']


def test_byte_identical_across_renders(tmp_path, rendered):
    page, args = rendered
    again = argparse.Namespace(**{**vars(args), "out": str(tmp_path / "again.html"),
                                  "eligibility_json": None})
    report.run(again)
    assert (tmp_path / "again.html").read_bytes() == page.encode("utf-8")


def test_well_formed_tags(rendered):
    page, _ = rendered
    void = {"meta", "input", "br", "hr", "img", "link"}

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
            self.stack.pop()

    checker = Checker()
    checker.feed(page)
    assert checker.stack == []


def test_official_models_without_presentation_no_demo_banner(tmp_path):
    args = _write_inputs(tmp_path, label="official")
    args.eligibility_json = None
    report.run(args)
    page = (tmp_path / "report.html").read_text()
    assert "DEMO-GRADE" not in page
    assert "Affinity-only (no presentation/processing)" in page  # presentation columns all NA


def test_no_binders_and_top_n(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    frame = pd.read_csv(args.candidates, sep="\t", keep_default_na=False, na_values=["NA"])
    args.top_n = 1
    report.run(args)
    assert "Best 1 of 3 binder rows" in (tmp_path / "report.html").read_text()
    frame["binder"] = False
    write_tsv(frame, args.candidates)
    write_eligibility(args)  # the workflow re-runs the eligibility stage on new candidates
    args.top_n = None
    report.run(args)
    page = (tmp_path / "report.html").read_text()
    assert "No predicted binders" in page
    assert 'v-not-supported">not supported<' in page


def test_manifest_for_another_sample_is_rejected(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    args.sample = "PT2"
    with pytest.raises(InputFileError, match="manifest is for sample"):
        report.run(args)


def test_bad_alleles_json(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    (tmp_path / "alleles.json").write_text(json.dumps([{"input": "A*02:01", "status": "maybe"}]))
    with pytest.raises(InputFileError, match="alleles.json|status"):
        report.run(args)


# --------------------------------------------------------------------------- manifest


def test_manifest_contents(tmp_path):
    models = _models_dir(tmp_path)
    config = {"b": [1, 2], "a": {"y": 1, "x": "é"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = argparse.Namespace(sample="PT1", config_json=str(tmp_path / "config.json"),
                              models_dir=str(models), models_label="embedded",
                              ensembl_release=87, reference_name="GRCh38-subset",
                              out=str(tmp_path / "out" / "manifest.json"))
    assert mf.run(args) == 0
    text = (tmp_path / "out" / "manifest.json").read_text()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert data["sample"] == "PT1" and data["research_use_only"] is True
    assert set(data["versions"]) == {"neorank", "mhcflurry", "varcode", "pyensembl",
                                     "snakemake", "pysam", "pandas"}
    assert data["versions"]["pandas"] == pd.__version__
    assert data["models"]["sha256"] == hashlib.sha256(b"abc  weights.npz\n").hexdigest()
    assert data["models"]["sha256_of"] == "SHA256SUMS"
    assert data["models"]["numerics"] == ("torch-1-thread/mkl-cbwr-compatible/aten-default/"
                                          "numpy-x86-64-v3")
    assert data["reference"] == {"ensembl_release": 87, "name": "GRCh38-subset"}
    canonical = json.dumps(config, sort_keys=True)
    assert data["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["created"])


def test_models_hash_without_sha256sums_is_sorted_file_listing(tmp_path):
    models = _models_dir(tmp_path, with_sums=False)
    lines = []
    for rel in ("sub/manifest.csv", "weights.npz"):
        lines.append(f"{hashlib.sha256((models / rel).read_bytes()).hexdigest()}  {rel}\n")
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert nm.models_sha256(models) == (expected, "file listing")


def test_missing_models_dir_and_version_fallback(tmp_path, monkeypatch):
    with pytest.raises(ModelError):
        nm.models_sha256(tmp_path / "absent")
    assert mf.package_versions(("surely-not-a-real-distribution-xyz",)) == {
        "surely-not-a-real-distribution-xyz": "not installed"}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert mf._created() == "1970-01-01T00:00:00Z"


# --------------------------------------------------------------------------- plots, drill-down, vaccine


def _write_vaccine(tmp_path, args: argparse.Namespace) -> argparse.Namespace:
    """Vaccine tables as `neorank vaccine` writes them (gene text is hostile)."""
    peptides = pd.DataFrame([
        {"order": 1, "variant_id": "2:209113112:C>T", "gene_name": "IDH1",
         "protein_change": "p.R132H", "tier": None, "long_peptide": "KKHDLGIIGWVKPIIIGHHAYGDQY",
         "mutation_in_long_peptide": "17-17", "best_peptide": "GWVKPIIIG",
         "best_allele": "HLA-A*02:01", "best_affinity_nm": 45.0, "n_binder_epitopes": 1,
         "manufacturable": True, "manufacturability_flags": "none"},
        {"order": 2, "variant_id": "17:7675088:C>T", "gene_name": EVIL,
         "protein_change": "p.R175H", "tier": None, "long_peptide": "CPHHERCSDSDGLAPPQHLIRVEGN",
         "mutation_in_long_peptide": "3-3", "best_peptide": "HMTEVVRHC",
         "best_allele": "HLA-A*02:01", "best_affinity_nm": 300.0, "n_binder_epitopes": 1,
         "manufacturable": False, "manufacturability_flags": "cysteines;nterm_qec"},
    ])
    mrna = pd.DataFrame([
        {"position": 1, "variant_id": "17:7675088:C>T", "gene_name": EVIL,
         "protein_change": "p.R175H", "candidate_id": "c2", "linker_before": "NA",
         "long_peptide": "CPHHERCSDSDGLAPPQHLIRVEGN", "junction_binders_after": 1},
        {"position": 2, "variant_id": "2:209113112:C>T", "gene_name": "IDH1",
         "protein_change": "p.R132H", "candidate_id": "c1", "linker_before": "GPGPG",
         "long_peptide": "KKHDLGIIGWVKPIIIGHHAYGDQY", "junction_binders_after": 0},
    ])
    junctions = pd.DataFrame([{"left_position": 1, "right_position": 2,
                               "left_variant_id": "17:7675088:C>T",
                               "right_variant_id": "2:209113112:C>T", "linker": "GPGPG",
                               "junction_peptide": "RVEGNGPGPGKK", "allele": "HLA-A*02:01",
                               "affinity_nm": 321.5, "percentile": 1.2}])
    for name, frame in (("p", peptides), ("m", mrna), ("j", junctions)):
        write_tsv(frame, tmp_path / f"vaccine_{name}.tsv")
    return argparse.Namespace(**{**vars(args), "vaccine_peptides": str(tmp_path / "vaccine_p.tsv"),
                                 "vaccine_mrna": str(tmp_path / "vaccine_m.tsv"),
                                 "vaccine_junctions": str(tmp_path / "vaccine_j.tsv")})


def _section(page: str, section_id: str) -> str:
    return page.split(f'<section id="{section_id}">', 1)[1].split("</section>", 1)[0]


def test_vaccine_section(tmp_path):
    args = _write_vaccine(tmp_path, _write_inputs(tmp_path))
    assert report.run(args) == 0
    page = (tmp_path / "report.html").read_text()
    assert EVIL not in page and page.count("<script") == 1
    section = _section(page, "vaccine")
    # Mutated residue 17 of the IDH1 long peptide is marked (H of R132H).
    assert "KKHDLGIIGWVKPIII<mark>G</mark>HHAYGDQY" in section
    assert "CP<mark>H</mark>HERCSDSDGLAPPQHLIRVEGN" in section
    assert "cysteines;nterm_qec" in section
    # Construct: segments in order, linker in lower case between them.
    assert "CPHHERCSDSDGLAPPQHLIRVEGNgpgpgKKHDLGIIGWVKPIIIGHHAYGDQY" in section
    assert "1 junctional (peptide, allele) binder(s) remain" in section
    assert "RVEGNGPGPGKK" in section and "321.5 nM" in section
    assert "&lt;script&gt;" in section


def test_vaccine_section_when_not_run_and_partial_args(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    report.run(args)
    assert "The vaccine design was not run" in (tmp_path / "report.html").read_text()
    partial = argparse.Namespace(**{**vars(_write_vaccine(tmp_path, args)), "vaccine_mrna": None})
    with pytest.raises(report.NeoRankError, match="all of --vaccine-peptides"):
        report.run(partial)


def test_drilldown_lists_peptides_by_allele(rendered):
    page, _ = rendered
    section = _section(page, "drilldown")
    # One <details> per variant with candidates (IDH1, TP53, KRAS).
    assert section.count("<details>") == 3
    idh1 = [b for b in section.split("<details>") if "2:209113112:C&gt;T" in b][0]
    # Columns: the expressed alleles only (the null allele is not predicted).
    assert "C*04:09N" not in section
    header = re.findall(r'<th class="n mono">(.*?)</th>', idh1)
    assert header == ["HLA-A*02:01", "HLA-B*07:02"]
    # GWVKPIIIG: 45 nM with A*02:01 is a binder (bold), 9000 nM with B*07:02 is not.
    assert '<td class="n hit">45</td><td class="n">9000</td>' in idh1
    assert "1 binder row(s)" in idh1
    # KRAS VVVGAVGVG: 7000 and 12000 nM, both >= 5000 nM: listed as omitted, no rows.
    kras = [b for b in section.split("<details>") if "KRAS" in b][0]
    assert "1 peptide(s) with IC50 &ge; 5000 nM" in kras and "<tbody>" not in kras


def test_plots(rendered):
    page, _ = rendered
    section = _section(page, "plots")
    # Scatter: best row per variant with a VAF (IDH1 0.4, KRAS 0.3; TP53 has none).
    assert section.count("<circle") == 2
    assert "1 variant(s) without a tumor VAF are not plotted" in section
    # Binder rows per allele: A*02:01 has GWVKPIIIG and HMTEVVRHC, B*07:02 HMTEVVRHC.
    assert "<title>HLA-A*02:01: 2</title>" in section
    assert "<title>HLA-B*07:02: 1</title>" in section
    assert "<title>IDH1 p.R132H: GWVKPIIIG HLA-A*02:01 45.0 nM, VAF 0.400</title>" in section
    assert "<svg" in section and "xlink" not in section


def test_info_derived_text_is_escaped(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    variants = pd.read_csv(args.variants, sep="\t", keep_default_na=False, na_values=["NA"])
    variants.loc[variants["status"] == "filtered", "reason"] = f"FILTER={EVIL}"
    variants["filter"] = EVIL
    write_tsv(variants, args.variants)
    candidates = pd.read_csv(args.candidates, sep="\t", keep_default_na=False, na_values=["NA"])
    candidates["protein_change"] = f"p.{EVIL}"
    write_tsv(candidates, args.candidates)
    report.run(args)
    page = (tmp_path / "report.html").read_text()
    assert EVIL not in page and page.count("<script") == 1
    assert "FILTER=&lt;script&gt;" in page


def test_top_table_shows_tier(rendered):
    page, args = rendered
    candidates = pd.read_csv(args.candidates, sep="\t", keep_default_na=False, na_values=["NA"])
    top = candidates.iloc[0]
    table = page.split('id="top-candidates">', 1)[1].split("</table>", 1)[0]
    first = re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[1], re.S)[0]
    assert ">Tier</button>" in table
    assert f"<td>{top['tier']}</td>" in first


def test_untiered_table_is_judged_on_binders_like_eligibility(tmp_path):
    """A candidates table without a tier column (ranked elsewhere) counts binders, as
    ``eligibility.assess`` does for it; the report's display placeholders must not
    turn it into a tiered table with no Pass rows."""
    from neorank.config import eligibility_params
    from neorank.verdict import assess

    args = _write_inputs(tmp_path, sample="PT1")
    frame = pd.read_csv(args.candidates, sep="\t", keep_default_na=False, na_values=["NA"])
    untiered = frame.drop(columns=["tier"])
    write_tsv(untiered, args.candidates)
    report.run(args)
    verdict = json.loads((tmp_path / "eligibility.json").read_text())
    variants = pd.read_csv(args.variants, sep="\t", keep_default_na=False, na_values=["NA"])
    direct = assess(variants, untiered, ALLELES, eligibility_params(PARAMS),
                    models_label="embedded", affinity_only=True)
    assert verdict["verdict"] == direct.verdict
    counts = {c["key"]: c["value"] for c in verdict["criteria"]}
    assert counts == {c.key: c.value for c in direct.criteria}
    # Two variants carry binders (GWVKPIIIG and HMTEVVRHC on A*02:01).
    assert any(value == 2 for value in counts.values())


# --------------------------------------------------------------------------- streaming


def render_report(sample, variants, peptides, candidates, manifest, alleles, params=None, *,
                  top_n=DEFAULT_TOP_N, purity=None, expression=None,
                  max_variant_rows=DEFAULT_MAX_VARIANT_ROWS, vaccine=None):
    """The report page of whole in-memory tables: the candidates table digested as one
    block and rendered by the page builder ``neorank report`` uses (the whole-table twin
    of :func:`neorank.report.render_report_from_files`); returns ``(html, eligibility)``."""
    params = params or {}
    settings = _settings(params)
    _require(variants, ["variant_id", "status"], "variants.tsv")
    _require(peptides, ["variant_id"], "peptides.tsv")
    _require(candidates, REQUIRED_CANDIDATE_COLUMNS, "candidates.tsv")
    used = candidates[[c for c in CANDIDATE_COLUMNS if c in candidates.columns]]
    digest = digest_candidates(lambda: [used], list(candidates.columns), top_n,
                               settings[1]["drilldown_max_variants"])
    return _render(sample, variants, peptide_counts([peptides[["variant_id"]]]), digest,
                   manifest, alleles, params, settings, top_n=top_n, purity=purity,
                   expression=expression, max_variant_rows=max_variant_rows, vaccine=vaccine)


def _run_page(args: argparse.Namespace, **changes) -> tuple[bytes, bytes]:
    args = argparse.Namespace(**{**vars(args), **changes})
    assert report.run(args) == 0
    with open(args.out, "rb") as page, open(args.eligibility_json, "rb") as verdict:
        return page.read(), verdict.read()


def test_chunk_rows_do_not_change_the_page(tmp_path):
    args = _write_vaccine(tmp_path, _write_inputs(tmp_path))
    one_block = _run_page(args)
    assert len(pd.read_csv(args.candidates, sep="\t")) == len(PREDICTIONS) < report.CHUNK_ROWS
    for chunk_rows in (1, 2, 4):
        assert _run_page(args, chunk_rows=chunk_rows) == one_block
    # The in-memory entry point gives the same page from the same tables.
    tables = [read_tsv(path) for path in (args.variants, args.peptides, args.candidates)]
    vaccine = {key: read_tsv(getattr(args, f"vaccine_{key}"))
               for key in ("peptides", "mrna", "junctions")}
    page, result = render_report(
        SAMPLE, *tables, json.loads(open(args.manifest).read()), ALLELES, PARAMS,
        top_n=PARAMS["report"]["top_n"], vaccine=vaccine)
    assert page.encode("utf-8") == one_block[0]
    assert json.dumps(result.to_dict(), sort_keys=True, indent=2) + "\n" == one_block[1].decode()


def test_chunk_rows_option_and_default(tmp_path):
    parser = argparse.ArgumentParser()
    report.add_subcommand(parser.add_subparsers())
    base = ["report", "--sample", "S", "--variants", "v", "--peptides", "p", "--candidates", "c",
            "--manifest", "m", "--alleles-json", "a", "--out", "o"]
    assert parser.parse_args(base).chunk_rows == report.CHUNK_ROWS
    assert parser.parse_args(base + ["--chunk-rows", "2"]).chunk_rows == 2


def test_unsorted_candidates_small_blocks_and_caps(tmp_path):
    """Rows in any order, read two at a time, with the drill-down and top table capped at
    one: the page of the ranked table (the best variant's rows that came before it was
    the best are read again, so its drill-down is complete)."""
    args = _write_inputs(tmp_path, sample="PT1")
    params = {**PARAMS, "report": {"top_n": 1, "drilldown_max_variants": 1}}
    (tmp_path / "params.json").write_text(json.dumps(params))
    ranked = _run_page(args)
    frame = read_tsv(args.candidates)
    for order in (frame.index[::-1], [5, 1, 3, 0, 4, 2]):
        write_tsv(frame.loc[order], args.candidates)
        assert _run_page(args, chunk_rows=2) == ranked
    page = ranked[0].decode()
    drill = _section(page, "drilldown")
    assert drill.count("<details>") == 1 and "2:209113112:C&gt;T" in drill
    assert '<td class="n hit">45</td><td class="n">9000</td>' in drill
    assert "First 1 of 3 variants shown." in drill
    assert "Best 1 of 3 binder rows" in page


def test_digest_keeps_only_what_the_report_shows():
    _, _, candidates = _tables()
    columns = list(candidates.columns)
    blocks = [candidates.iloc[i:i + 1] for i in range(len(candidates))][::-1]  # worst first
    digest = report.digest_candidates(lambda: blocks, columns, top_n=1, drill_variants=1)
    whole = report.digest_candidates(lambda: [candidates], columns, top_n=1, drill_variants=1)
    assert digest.rows == len(candidates) and digest.n_variants == 3
    assert digest.binder_rows == 3 and dict(digest.binder_variant_rows) == {
        "2:209113112:C>T": 1, "17:7675088:C>T": 2}
    assert digest.allele_rows == {"HLA-A*02:01": 3, "HLA-B*07:02": 3}
    # One top row, one best row per variant, and every row of the best variant only.
    assert list(digest.top["mutant_peptide"]) == ["GWVKPIIIG"]
    assert list(digest.best["variant_id"]) == list(dict.fromkeys(candidates["variant_id"]))
    assert sorted(digest.drill["allele"]) == ["HLA-A*02:01", "HLA-B*07:02"]
    assert set(digest.drill["variant_id"]) == {"2:209113112:C>T"}
    for name in ("top", "best", "best_binders", "drill"):  # blocks reversed: other _pos
        mine, theirs = (getattr(d, name).drop(columns="_pos").reset_index(drop=True)
                        for d in (digest, whole))
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False, obj=name)
    # The distinct binder facts the eligibility assessment counts (a set: any order).
    mine, theirs = (d.targets.sort_values(list(d.targets.columns)).reset_index(drop=True)
                    for d in (digest, whole))
    pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)


def test_missing_tables_and_columns_are_input_errors(tmp_path):
    args = _write_inputs(tmp_path, sample="PT1")
    for name in ("peptides", "candidates"):
        broken = argparse.Namespace(**{**vars(args), name: str(tmp_path / "absent.tsv")})
        with pytest.raises(InputFileError, match="file not found"):
            report.run(broken)
    frame = read_tsv(args.candidates)
    write_tsv(frame.drop(columns=["allele"]), args.candidates)
    with pytest.raises(InputFileError, match="missing column"):
        report.run(args)


def test_preflight_warnings_become_input_caveats(tmp_path):
    """The report lists the sample's preflight warnings (not its info rows), escaped."""
    args = _write_inputs(tmp_path, sample="PT1")
    preflight = tmp_path / "preflight.tsv"
    write_tsv(pd.DataFrame([
        {"severity": "info", "check": "variants", "file": "t.vcf", "record": "",
         "message": "12 input allele(s)", "fix": ""},
        {"severity": "warning", "check": "read_counts", "file": "t.vcf",
         "record": "line 16 (chr1:23362762)", "message": "AD 30,25 sums to 55, more than DP 40",
         "fix": "check the caller's <AD> definition"},
    ]), preflight)
    args.preflight = str(preflight)
    report.run(args)
    page = (tmp_path / "report.html").read_text()
    section = page[page.index('<section id="caveats">'):]
    section = section[:section.index("</section>")]
    assert "1 warning(s)" in section and "AD 30,25 sums to 55" in section
    assert "line 16 (chr1:23362762)" in section and "&lt;AD&gt;" in section
    assert "12 input allele(s)" not in section
    args.preflight = None
    report.run(args)
    assert 'id="caveats"' not in (tmp_path / "report.html").read_text()


# --------------------------------------------------------------------------- layout


LONG_DELETION = "2:209113112:C" + "G" * 755 + ">C"
SHORT_DELETION = "2:209113112:del755"


def long_deletion_inputs(args: argparse.Namespace) -> argparse.Namespace:
    """The inputs with IDH1's variant id replaced by a 755-base deletion's id (in
    variants, peptides and candidates), the eligibility stage run again."""
    for path in (args.variants, args.peptides, args.candidates):
        frame = read_tsv(path)
        frame["variant_id"] = frame["variant_id"].replace("2:209113112:C>T", LONG_DELETION)
        write_tsv(frame, path)
    write_eligibility(args)
    return args


def test_long_variant_ids_read_short_with_the_full_id_in_title(tmp_path):
    args = long_deletion_inputs(_write_inputs(tmp_path, sample="PT1"))
    assert report.run(args) == 0
    page = (tmp_path / "report.html").read_text()
    full = LONG_DELETION.replace(">", "&gt;")
    titled = f'<span class="mono" title="{full}">{SHORT_DELETION}</span>'
    # Every table and the drill-down show the short id, the full one on hover only.
    for section_id in ("candidates", "drilldown", "variants"):
        assert titled in _section(page, section_id), section_id
    # The full id is never text a reader sees: only title and data-v (sort key) hold it.
    assert page.count(full) == page.count(f'title="{full}"') + page.count(f'data-v="{full}"')
    assert page.count(f'title="{full}"') == 3
    # Short ids are unchanged and carry no title.
    assert '<span class="mono">17:7675088:C&gt;T</span>' in page


def test_display_variant_id():
    from neorank.html import display_variant_id

    deletion = "chr2:189010889:C" + "G" * 755 + ">C"
    assert display_variant_id(deletion) == "chr2:189010889:del755"
    assert display_variant_id("chr1:100:A>T") == "chr1:100:A>T"
    assert display_variant_id("chr1:100:ACGTACGTAC>A") == "chr1:100:ACGTACGTAC>A"  # 10 bases
    # Other long changes keep a few letters and a hash of the full id: two different
    # long alleles at one position never read the same.
    first = display_variant_id("chr2:189010889:CGG" + "T" * 20 + ">C" + "A" * 12)
    second = display_variant_id("chr2:189010889:CGG" + "T" * 20 + ">C" + "G" * 12)
    assert re.fullmatch(r"chr2:189010889:CGG\.\.>CAA\.\.#[0-9a-f]{6}", first)
    assert first != second
    insertion = display_variant_id("chr3:5:G>G" + "CAG" * 10)
    assert re.fullmatch(r"chr3:5:ins30#[0-9a-f]{6}", insertion)
    assert insertion != display_variant_id("chr3:5:G>G" + "CTG" * 10)
    # Stable: the same id always reads the same.
    assert display_variant_id(deletion) == display_variant_id(str(deletion))
    assert display_variant_id(None) == "NA"


def test_variant_ids_are_made_short_and_display_leaves_them_alone():
    from neorank.html import display_variant_id
    from neorank.vcf import make_variant_id

    # The id NeoRank writes is the short form (the full alleles live in ref/alt columns).
    deletion = make_variant_id("chr2", 189010889, "C" + "G" * 737, "C")
    assert deletion == "chr2:189010889:del737"
    assert make_variant_id("1", 5, "A", "T") == "1:5:A>T"
    assert make_variant_id("1", 5, "ACGTACGTAC", "A") == "1:5:ACGTACGTAC>A"
    insertion = make_variant_id("chr3", 198153259, "G", "G" + "GCG" * 14)
    assert re.fullmatch(r"chr3:198153259:ins42#[0-9a-f]{6}", insertion)
    assert insertion != make_variant_id("chr3", 198153259, "G", "G" + "GCA" * 14)
    complex_change = make_variant_id("chr4", 154323273, "GTT" + "A" * 60, "TTT" + "C" * 58)
    assert re.fullmatch(r"chr4:154323273:GTT\.\.>TTT\.\.#[0-9a-f]{6}", complex_change)
    # A deletion of another length at the same position is another id.
    assert make_variant_id("chr2", 189010889, "C" + "G" * 12, "C") == "chr2:189010889:del12"
    # Display is idempotent on NeoRank's ids and shortens a legacy full id the same way.
    for short in (deletion, insertion, complex_change, "1:5:A>T"):
        assert display_variant_id(short) == short
    assert display_variant_id("chr2:189010889:C" + "G" * 737 + ">C") == deletion


def test_table_of_contents_and_every_table_scrolls_in_place(rendered):
    page, _ = rendered
    nav = page.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="#([^"]+)">', nav)
    assert links == re.findall(r'<section id="([^"]+)">', page)
    assert links[:2] == ["eligibility", "presentation"] and links[-1] == "provenance"
    # The contents come before the first section.
    assert page.index('<nav class="toc"') < page.index("<section")
    # Every table sits in a scroll wrapper (it scrolls inside it, not the page).
    assert page.count("<table") == len(re.findall(r'<div class="scroll[^"]*"><table', page))
    assert "overflow-x: auto" in page and "svg { max-width: 100%; height: auto; }" in page
    # Long tables also scroll vertically under their sticky header row.
    assert '<div class="scroll tall"><table class="sortable" id="top-candidates">' in page
    assert "thead th { position: sticky; top: 0;" in page


def test_top_table_key_columns_come_first_and_stick(rendered):
    page, _ = rendered
    table = page.split('id="top-candidates">', 1)[1].split("</table>", 1)[0]
    labels = re.findall(r"<button type=\"button\">(.*?)</button>", table)
    assert labels[:5] == ["Rank", "Gene", "Peptide", "Allele", "Score"]
    assert "MT/WT IC50" in labels and "Agretopicity" not in labels
    first = re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[1], re.S)[0]
    cells = re.findall(r"<td([^>]*)>", first)
    assert 'key1' in cells[0] and 'key2' in cells[1] and 'key3' in cells[2]
    assert "pVACseq&#x27;s fold change is the inverse, WT/MT" in table  # header title


def test_informational_criterion_is_not_a_red_fail(rendered):
    page, args = rendered
    criteria = {c["key"]: c for c in json.loads(open(args.eligibility_json).read())["criteria"]}
    assert criteria["tmb"]["status"] == "fail" and criteria["tmb"]["cap"] is None
    section = _section(page, "eligibility")
    tmb = re.search(r'<tr data-key="tmb">.*?</tr>', section, re.S).group(0)
    assert '<td class="s-info">below threshold</td>' in tmb and "s-fail" not in tmb
    assert "informational (does not change the verdict)" in tmb
    # A gating criterion that fails is still shown as a failure.
    gating = [k for k, c in criteria.items() if c["status"] == "fail" and c["cap"]]
    for key in gating:
        row = re.search(rf'<tr data-key="{key}">.*?</tr>', section, re.S).group(0)
        assert '<td class="s-fail">fail</td>' in row


def test_plots_have_legends_and_axis_titles(rendered):
    page, _ = rendered
    section = _section(page, "plots")
    scatter = section.split("</svg>", 1)[0]
    # The scatter's colours and threshold line are explained inside the SVG.
    legend = scatter.split('<g class="legend"', 1)[1]
    assert "best candidate is a binder" in legend and "not a binder" in legend
    assert 'fill="#1e7b3c"' in legend and 'fill="#8a94a0"' in legend
    assert "binder threshold (IC50 500 nM)" in legend
    assert "tumor DNA VAF" in scatter and "best IC50 (nM, log scale)" in scatter
    # Both per-allele bar charts name their axes.
    charts = section.split("</svg>")[1:3]
    assert all("HLA allele</text>" in chart for chart in charts)
    assert "binder rows (peptide \u00d7 allele)</text>" in charts[0]
    assert "variants with a binder</text>" in charts[1]
    genes = _section(page, "genes")
    assert "gene</text>" in genes and "binder rows (peptide &#xd7; allele)</text>" in genes


def test_vaccine_section_lists_left_out_binder_variants_with_why(tmp_path):
    args = _write_vaccine(tmp_path, _write_inputs(tmp_path, sample="PT1"))
    long_peptides = read_tsv(args.vaccine_peptides)
    long_peptides["vaccine_note"] = [
        "in the long-peptide and mRNA designs",
        "not in the designs: priority 2 is beyond vaccine.peptide_count (1) and "
        "vaccine.mrna_count (1); gene <b>X</b> already has vaccine.max_per_gene (1) variant(s)"]
    write_tsv(long_peptides, tmp_path / "long_peptides.tsv")
    args.vaccine_long_peptides = str(tmp_path / "long_peptides.tsv")
    report.run(args)
    page = (tmp_path / "report.html").read_text()
    section = page[page.index('id="vaccine-left-out"'):]
    section = section[:section.index("</table>")]
    assert "priority 2 is beyond vaccine.peptide_count (1)" in section
    assert "gene &lt;b&gt;X&lt;/b&gt;" in section and "IDH1" not in section


@pytest.mark.parametrize("missing", [False, True])
def test_best_rows_fast_path_equals_the_sort(missing):
    """The best row per variant folded block by block with the set of kept ids (ranked
    blocks: rows of kept variants dropped by lookup) equals the fold that sorts and
    de-duplicates the kept rows again, row for row, index and types included; blocks out
    of rank order and missing variant ids take the sorting path."""
    import numpy as np

    from neorank.report.digest import _first_per_variant

    rng = np.random.default_rng(3)
    n = 3000
    variants = rng.integers(0, 400, n).astype(str).astype(object)
    if missing:
        variants[rng.integers(0, n, 20)] = None
    frame = pd.DataFrame({"variant_id": pd.array(variants, dtype="string[pyarrow]"),
                          "candidate_id": [f"c{i:05d}" for i in range(n)],
                          "mutant_affinity_nm": rng.uniform(1, 5e4, n),
                          "_rank": np.arange(1, n + 1, dtype=float),
                          "_pos": np.arange(n)})
    cuts = np.sort(rng.choice(np.arange(1, n), 40, replace=False))
    blocks = [frame.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    blocks[20], blocks[21] = blocks[21], blocks[20]  # two blocks out of rank order
    slow = fast = None
    ids: set = set()
    for block in blocks:
        slow = _first_per_variant(slow, block)
        fast = _first_per_variant(fast, block, ids)
        pd.testing.assert_frame_equal(fast, slow)
    assert ids == set(slow["variant_id"].tolist())
    assert len(slow) == slow["variant_id"].nunique(dropna=False)


def test_per_variant_lists_are_capped_best_ranked_first_and_say_so():
    from collections import Counter

    from neorank.report import plots, sections
    from neorank.report.vaccine import left_out

    ids = [f"var-{i:02d}" for i in range(10)]
    filtered = {0, 3, 5, 8}
    variants = pd.DataFrame({
        "variant_id": ids, "gene_name": [f"G{i}" for i in range(10)],
        "status": ["filtered" if i in filtered else "protein_changing" for i in range(10)],
        "effect": "Substitution", "protein_change": "p.X1Y", "tumor_vaf": 0.3, "reason": ""})
    ranks = {2: 9, 4: 1, 7: 5}  # the best binder of three unfiltered variants
    best = pd.DataFrame({"variant_id": [ids[i] for i in ranks], "mutant_peptide": "SIINFEKL",
                         "allele": "HLA-A*02:01", "mutant_affinity_nm": 50.0,
                         "rank": list(ranks.values())})

    def listed(max_rows):
        page = sections.variant_summary(variants, Counter(), Counter(), best, max_rows)
        rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
        return [vid for row in rows.split("</tr>") for vid in ids if vid in row], page

    assert listed(10)[0] == ids and "not listed" not in listed(10)[1]
    # Up to the cap every unfiltered variant is listed, then filtered ones in input order.
    shown, page = listed(8)
    assert shown == [vid for i, vid in enumerate(ids) if i not in (5, 8)]
    assert "2 filtered variant(s) not listed (more than 8 rows); see variants.tsv" in page
    # Fewer rows than unfiltered variants: binder variants by best rank, then the others,
    # listed in input order.
    shown, page = listed(4)
    assert shown == ["var-01", "var-02", "var-04", "var-07"]
    assert "6 variant(s) not listed (more than 4 rows)" in page
    assert "every variant, its status and reason are in variants.tsv" in page
    assert "The listed input variants in input order" in page
    assert "Every input variant in input order" in listed(10)[1]
    assert listed(2)[0] == ["var-04", "var-07"]

    long_peptides = pd.DataFrame({
        "order": [1, 2, 3, 4, 5], "gene_name": ["A", "B", "C", "D", "E"],
        "protein_change": "p.X1Y", "tier": "Pass", "best_peptide": "SIINFEKL",
        "best_allele": "HLA-A*02:01",
        "vaccine_note": ["in the long-peptide and mRNA designs"] + ["not in the designs"] * 4})
    section = left_out(long_peptides, 2)
    assert section.count("<td>not in the designs</td>") == 2
    assert "<td>B</td>" in section and "<td>C</td>" in section and "<td>D</td>" not in section
    assert "The first 2 of 4 are listed (more than 2 rows); long_peptides.tsv has every one" \
        in section
    assert "The first" not in left_out(long_peptides, 4)

    points = pd.DataFrame({
        "variant_id": ids[:5], "tumor_vaf": [0.5, None, 0.4, 0.3, 0.2],
        "mutant_affinity_nm": [20.0, 30.0, 40.0, 900.0, 60.0], "binder": "True",
        "gene_name": "G", "protein_change": "p.X1Y", "mutant_peptide": "SIINFEKL",
        "allele": "HLA-A*02:01"})
    scatter = plots._affinity_vaf_plot(points, 500.0, 2)
    assert scatter.count("<circle") == 2
    assert "40.0 nM" in scatter and "900.0 nM" not in scatter
    assert "the 2 best-ranked of 4 plotted" in scatter
    assert "1 variant(s) without a tumor VAF are not plotted" in scatter
    assert "(4 plotted;" in plots._affinity_vaf_plot(points, 500.0, 5)
