"""Expression tables in the tools' own layouts -> TPM per gene and transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from neorank.errors import InputFileError
from neorank.expression import read_expression, strip_version

DATA = Path(__file__).resolve().parents[1] / "data" / "expression"
ZNF436 = "ENSG00000125945"
ZNF436_TX = ["ENST00000314011", "ENST00000374608"]
VPS72 = "ENSG00000163159"


@pytest.mark.parametrize("name,fmt", [
    ("quant.sf", "Salmon quant.sf"),
    ("abundance.tsv", "Kallisto abundance.tsv"),
    ("rsem.isoforms.results", "RSEM isoforms.results"),
])
def test_transcript_level_tables(name, fmt):
    table = read_expression(DATA / name)
    assert table.format == fmt and table.level == "transcript"
    # Versions are dropped; the best transcript of those given wins.
    assert table.transcript_tpm(["ENST00000374608.3"]) == pytest.approx(2.25)
    assert table.transcript_tpm(ZNF436_TX) == pytest.approx(12.5)
    # Gene = sum over the gene's transcripts as the reference lists them.
    assert table.gene_tpm(ZNF436, "ZNF436", gene_transcripts=ZNF436_TX) == pytest.approx(14.75)
    # A transcript absent from the table is not assessed, never 0.
    assert table.transcript_tpm(["ENST00000999999"]) is None
    assert table.gene_tpm("ENSG00000999999", gene_transcripts=["ENST00000999999"]) is None
    # A quantified zero stays zero (assessed).
    assert table.transcript_tpm(["ENST00000491094"]) == 0.0


@pytest.mark.parametrize("name", ["abundance.tsv", "rsem.isoforms.results"])
def test_transcript_tables_that_name_the_gene_sum_without_a_reference(name):
    table = read_expression(DATA / name)
    assert table.gene_tpm(ZNF436) == pytest.approx(12.5 + 2.25)
    assert table.gene_tpm(VPS72) == 0.0


def test_salmon_without_gene_links_needs_the_reference_for_gene_tpm():
    table = read_expression(DATA / "quant.sf")
    assert table.gene_tpm(ZNF436, "ZNF436") is None


def test_rsem_genes_and_plain_symbol_table():
    genes = read_expression(DATA / "rsem.genes.results")
    assert genes.format == "RSEM genes.results" and genes.level == "gene"
    assert genes.gene_tpm("ENSG00000125945.14") == pytest.approx(14.75)
    assert genes.transcript_tpm(ZNF436_TX) is None
    plain = read_expression(DATA / "genes.plain.tsv")
    assert plain.format == "plain table" and plain.level == "gene"
    assert plain.gene_tpm(ZNF436, "ZNF436") == pytest.approx(14.75)
    assert plain.gene_tpm(VPS72, "VPS72") == pytest.approx(0.4)
    assert plain.gene_tpm("ENSG00000999999", "NOPE") is None


def test_plain_transcript_table_value_column(tmp_path):
    path = tmp_path / "tx.tsv"
    # Two numeric columns and none named tpm: ambiguous, so an error (never a guess).
    path.write_text("transcript\tlength\tabundance\nENST00000314011.8\t3264\t7.5\n")
    with pytest.raises(InputFileError, match="which column holds TPM"):
        read_expression(path)
    path.write_text("transcript\tlength\tTPM\nENST00000314011.8\t3264\t7.5\n"
                    "ENST00000374608\t1801\t0.5\n")
    table = read_expression(path)
    assert table.level == "transcript"
    assert table.transcript_tpm(["ENST00000314011", "ENST00000374608"]) == 7.5
    path.write_text("gene\tvalue\nZNF436\t3.5\n")
    assert read_expression(path).gene_tpm(gene_name="ZNF436") == 3.5


def test_bad_values_name_the_line(tmp_path):
    path = tmp_path / "quant.sf"
    path.write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\n"
                    "ENST00000314011.8\t3264\t3089\t1.0\t4\n"
                    "ENST00000374608.3\t1801\t1626\tNaN-ish\t3\n")
    with pytest.raises(InputFileError, match="data line 3"):
        read_expression(path)
    path.write_text("Name\tLength\tEffectiveLength\tTPM\tNumReads\nENST1\t1\t1\t-2\t0\n")
    with pytest.raises(InputFileError, match="not a number >= 0"):
        read_expression(path)
    with pytest.raises(InputFileError, match="does not exist"):
        read_expression(tmp_path / "missing.sf")
    one = tmp_path / "one.tsv"
    one.write_text("gene,tpm\nTP53,3\n")
    with pytest.raises(InputFileError, match="two columns"):
        read_expression(one)


def test_strip_version():
    assert strip_version("ENST00000269305.8") == "ENST00000269305"
    assert strip_version("ENSG00000141510") == "ENSG00000141510"
    assert strip_version("TP53") == "TP53"
