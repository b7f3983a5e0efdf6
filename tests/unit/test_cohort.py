"""Unit tests for ``neorank cohort`` (cohort summary HTML)."""

from __future__ import annotations

import argparse
import json
import re

import pandas as pd
import pytest

from neorank import cohort
from neorank.errors import InputFileError, NeoRankError
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
