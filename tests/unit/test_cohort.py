"""Unit tests for ``neorank cohort`` (cohort summary HTML)."""

from __future__ import annotations

import argparse
import json
import re

import pandas as pd
import pytest

from neorank import cohort
from neorank.errors import InputFileError, NeoRankError
from neorank.html import escape
from neorank.io import write_tsv

EVIL = "<script>alert('x')</script>"


def _aggregated(rows):
    return pd.DataFrame([{"variant_id": v, "gene_name": g, "protein_change": "p.A1B",
                          "best_peptide": "SIINFEKL", "best_allele": "HLA-A*02:01",
                          "mutant_affinity_nm": ic50, "num_binder_peptides": n}
                         for v, g, ic50, n in rows])


def _write(tmp_path):
    samples = ["PT1", f"PT2{EVIL}"]
    tables = {
        "PT1": _aggregated([("1:10:A>T", "KRAS", 40.0, 2), ("2:20:C>G", "TP53", 90.0, 1),
                            ("3:30:G>A", "NOBIND", 9000.0, 0)]),
        samples[1]: _aggregated([("1:10:A>T", "KRAS", 45.0, 1), ("5:50:T>C", EVIL, 300.0, 1)]),
    }
    verdicts = {"PT1": "eligible", samples[1]: "not supported"}
    args = argparse.Namespace(samples=samples, eligibility=[], aggregated=[],
                              vaccine_peptides=[], out=str(tmp_path / "cohort.html"))
    for i, sample in enumerate(samples):
        elig = tmp_path / f"e{i}.json"
        elig.write_text(json.dumps({"verdict": verdicts[sample], "summary": "s", "criteria": [
            {"label": "HLA coverage", "display": EVIL, "status": "fail", "cap": "borderline"}]
            if i else []}))
        write_tsv(tables[sample], tmp_path / f"a{i}.tsv")
        write_tsv(pd.DataFrame({"variant_id": tables[sample]["variant_id"][:1],
                                "manufacturable": [True]}), tmp_path / f"v{i}.tsv")
        args.eligibility.append(str(elig))
        args.aggregated.append(str(tmp_path / f"a{i}.tsv"))
        args.vaccine_peptides.append(str(tmp_path / f"v{i}.tsv"))
    return args


def test_cohort_page(tmp_path):
    args = _write(tmp_path)
    assert cohort.run(args) == 0
    page = (tmp_path / "cohort.html").read_text()
    assert EVIL not in page and "<script" not in page
    assert "PT2&lt;script&gt;" in page
    assert "default-src 'none'" in page and "https://" not in page
    rows = re.findall(r"<tr><td class=\"mono\">(.*?)</tr>", page.split('id="samples"')[1]
                      .split("</table>")[0], re.S)
    assert len(rows) == 2
    # PT1: 3 variants with candidates, 2 binder variants in 2 genes, best KRAS.
    numbers = re.findall(r'<td class="n">(\d+)</td>', rows[0])
    assert numbers == ["3", "2", "2"]
    assert 'v-eligible' in rows[0] and 'v-not-supported' in rows[1]
    assert "HLA coverage: &lt;script&gt;" in rows[1]
    shared = page.split('id="shared"')[1]
    genes = shared.split("<h3>Variants</h3>")[0]
    assert "KRAS" in genes and "TP53" not in genes  # only KRAS is in both samples
    assert "1:10:A&gt;T" in shared.split("<h3>Variants</h3>")[1]
    again = tmp_path / "again.html"
    cohort.run(argparse.Namespace(**{**vars(args), "out": str(again)}))
    assert again.read_bytes() == (tmp_path / "cohort.html").read_bytes()


def test_cohort_input_errors(tmp_path):
    args = _write(tmp_path)
    args.aggregated = args.aggregated[:1]
    with pytest.raises(NeoRankError, match="1 --aggregated file"):
        cohort.run(args)
    args = _write(tmp_path)
    (tmp_path / "e0.json").write_text("[]")
    with pytest.raises(InputFileError, match="not an eligibility verdict"):
        cohort.run(args)


LONG_DELETION = "chr2:189010889:C" + "G" * 755 + ">C"


def test_links_labels_and_verdict_counts(tmp_path):
    """Each sample links to its report; the counts say what they count, the verdict's
    own (Pass-tier) counts are copied from eligibility.json with their label."""
    args = _write(tmp_path)
    criteria = [{"key": "binder_variants", "label": "Variants with a Pass-tier candidate",
                 "value": 1, "display": "1 variant(s)", "status": "pass", "cap": "borderline"},
                {"key": "binder_genes", "label": "Genes with a Pass-tier candidate",
                 "value": 1, "display": "1 gene(s)", "status": "pass", "cap": "borderline"}]
    (tmp_path / "e0.json").write_text(json.dumps({"verdict": "eligible", "criteria": criteria}))
    assert cohort.run(args) == 0
    page = (tmp_path / "cohort.html").read_text()
    samples = page.split('id="samples"')[1].split("</table>")[0]
    # Relative links next to cohort.html; the hostile sample name is URL-encoded.
    assert '<a href="PT1/report.html">PT1</a>' in samples
    assert 'href="PT2%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E/report.html"' in samples
    headers = re.findall(r"<th[^>]*>(.*?)</th>", samples)
    assert headers[4:9] == ["Variants with a candidate row", "Variants with a predicted binder",
                            "Genes with a predicted binder",
                            "Variants with a Pass-tier candidate",
                            "Genes with a Pass-tier candidate"]
    rows = re.findall(r"<tr><td class=\"mono\">(.*?)</tr>", samples, re.S)
    # PT1: 3 variants with candidates, 2 with a binder in 2 genes; the verdict counted 1
    # variant and 1 gene with a Pass-tier candidate. PT2's verdict has no such count.
    assert re.findall(r'<td class="n">(\d+)</td>', rows[0]) == ["3", "2", "2", "1", "1"]
    assert rows[1].count('<td class="n s-not-assessed">NA</td>') == 2
    assert "Variants with a predicted binder per sample" in page
    # The page's table of contents links its sections.
    assert re.findall(r'<a href="(#[^"]+)">', page) == ["#samples", "#cohort-chart", "#shared"]


def test_shared_variants_in_chromosome_order_with_gene_and_change(tmp_path):
    args = _write(tmp_path)
    variants = [("chr10:5:A>T", "G10", 50.0, 1), ("chrX:7:C>A", "GX", 60.0, 1),
                ("chr2:9:G>C", "G2", 70.0, 1), (LONG_DELETION, "COL3A1", 80.0, 1),
                ("chr1:3:T>G", "G1", 90.0, 1), ("chrM:1:A>G", "MT-CO1", 95.0, 1),
                ("chr2:100:A>C", "NOT_SHARED", 99.0, 1)]
    for index, path in enumerate(args.aggregated):
        rows = variants if index == 0 else variants[:-1]
        write_tsv(_aggregated(rows), path)
    assert cohort.run(args) == 0
    page = (tmp_path / "cohort.html").read_text()
    shared = page.split("<h3>Variants</h3>")[1].split("</table>")[0]
    order = re.findall(r'<td class="mono" data-v="([^"]+)">', shared)
    # Natural order: chr1, chr2, chr10, chrX, chrM (text order would put chr10 before chr2).
    assert order == ["chr1:3:T&gt;G", "chr2:9:G&gt;C", escape(LONG_DELETION),
                     "chr10:5:A&gt;T", "chrX:7:C&gt;A", "chrM:1:A&gt;G"]
    # Gene and protein change of each shared variant; the unshared one is not listed.
    assert "<td>COL3A1</td><td>p.A1B</td>" in shared and "NOT_SHARED" not in shared
    # The 755-base deletion reads short; the full id stays in the title.
    assert f'<span class="mono" title="{escape(LONG_DELETION)}">chr2:189010889:del755</span>' \
        in shared
    assert page.count(escape(LONG_DELETION)) == 2  # data-v and title, never as cell text
