#!/usr/bin/env python
"""Write the bad-input corpus (this folder). Deterministic; run from anywhere::

    python tests/data/bad_inputs/build_corpus.py

Records sit at real GRCh38 positions of somatic SNVs of the demo case
(``resources/demo/osteosarc.paired.vcf``) whose REF base equals the reference
subset's cDNA, so only the defect each file is about shows up. Read counts are
synthetic. ``README.md`` lists every case and its expected handling;
``tests/unit/test_bad_inputs.py`` asserts it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam

HERE = Path(__file__).resolve().parent

#: (chrom, pos, ref, alt): real coding SNVs, REF = reference cDNA base.
GOOD = [
    ("chr1", 23362762, "G", "C"),  # ZNF436
    ("chr1", 151185547, "T", "C"),  # VPS72
    ("chr1", 173811223, "G", "T"),  # CENPL
    ("chr2", 171813470, "A", "G"),  # SLC25A12
    ("chr3", 15645183, "T", "G"),  # BTD
    ("chr3", 46898732, "A", "T"),  # PTH1R
    ("chr5", 138391529, "C", "T"),  # KDM3B
    ("chr6", 43186384, "G", "T"),  # CUL9
]
CONTIGS = {"chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr5": 181538259,
           "chr6": 170805979}
TUMOR = "0/1:30,20:0.4:50"
NORMAL = "0/0:40,0:0:40"
FORMAT = "GT:AD:AF:DP"

META = [
    "##fileformat=VCFv4.2",
    "##source=NeoRank bad-input corpus (synthetic read counts at real GRCh38 SNV positions)",
    '##FILTER=<ID=PASS,Description="All filters passed">',
    '##FILTER=<ID=germline,Description="Evidence indicates this site is germline">',
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths (REF, ALTs)">',
    '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
]


def header(samples=("TUMOR", "NORMAL"), contigs=CONTIGS, meta=META) -> list[str]:
    lines = list(meta)
    lines += [f"##contig=<ID={c},length={n},assembly=GRCh38>" for c, n in contigs.items()]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if samples:
        columns += ["FORMAT", *samples]
    return lines + ["\t".join(columns)]


def row(chrom, pos, ref, alt, *, filt="PASS", info="DP=90", fmt=FORMAT, calls=(TUMOR, NORMAL),
        ident=".") -> str:
    fields = [chrom, str(pos), ident, ref, alt, ".", filt, info]
    if fmt is not None:
        fields += [fmt, *calls]
    return "\t".join(fields)


def good_rows(n: int | None = None, **kwargs) -> list[str]:
    return [row(*g, **kwargs) for g in GOOD[:n]]


def text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def write(name: str, content: str | bytes) -> None:
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))


def bgzip(data: bytes) -> bytes:
    tmp = HERE / "_tmp.vcf"
    tmp.write_bytes(data)
    pysam.tabix_compress(str(tmp), str(tmp) + ".gz", force=True)
    out = Path(str(tmp) + ".gz").read_bytes()
    tmp.unlink()
    Path(str(tmp) + ".gz").unlink()
    return out


def build() -> None:
    baseline = text(header() + good_rows())
    write("baseline.vcf", baseline)

    # --- compression and file-level problems
    eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    first = bgzip(text(header() + good_rows(4)).encode())
    second = bgzip(text(good_rows()[4:]).encode())
    assert first.endswith(eof) and second.endswith(eof)
    write("truncated_gzip.vcf.gz", first[:-len(eof)] + second[: len(second) // 2])
    write("bgzip_missing_eof.vcf.gz", bgzip(baseline.encode())[:-len(eof)])
    write("plain_gzip.vcf.gz", gzip.compress(baseline.encode(), mtime=0))
    write("empty.vcf", b"")
    write("binary.vcf", b"BAM\x01" + bytes(range(256)) * 2)

    # --- header and line structure
    write("missing_chrom_header.vcf", text(header()[:-1] + good_rows(3)))
    write("missing_fileformat.vcf", text(header()[1:] + good_rows(3)))
    write("crlf.vcf", baseline.replace("\n", "\r\n"))
    rows = good_rows(4)
    rows[1] = rows[1].replace("\t", " ")
    rows[3] = rows[3].replace("\t", "  ")
    write("spaces_not_tabs.vcf", text(header() + rows))
    rows = good_rows(4)
    write("blank_line.vcf", text(header() + rows[:2] + [""] + rows[2:]))
    rows = good_rows(3)
    rows[1] = rows[1].rsplit("\t", 1)[0]  # the NORMAL column is missing on this record
    write("record_missing_column.vcf", text(header() + rows))
    write("header_only.vcf", text(header()))
    write("zero_variants.vcf", text(header() + [row(c, p, r, ".", fmt="GT:DP", calls=("0/0:50", "0/0:40"))
                                                for c, p, r, _ in GOOD[:3]]))
    write("duplicate_sample_names.vcf", text(header(samples=("TUMOR", "TUMOR")) + good_rows(2)))
    write("missing_sample_column.vcf", text(header(samples=("TUMOR",))
                                            + good_rows(3, calls=(TUMOR,))))
    write("non_ascii_samples.vcf", text(header(samples=("TUMÖR_患者", "NORMÄL")) + good_rows(3)))
    write("latin1_sample_names.vcf", text(header() + good_rows(2)).encode("utf-8").replace(
        b"\tTUMOR\tNORMAL\n", "\tTUMÖR\tNORMAL\n".encode("latin-1"), 1))
    no_dp_meta = [m for m in META if "ID=DP," not in m or "INFO" in m]

    # --- records
    rows = good_rows(3)
    write("duplicate_records.vcf", text(header() + rows + [rows[0]]))
    write("multiallelic.vcf", text(header() + [
        row("chr1", 23362762, "G", "C,T", calls=("0/1/2:30,20,10:0.33,0.17:60", "0/0:40,0,0:0,0:40")),
        *good_rows()[1:3]]))
    write("symbolic_alt.vcf", text(header() + good_rows(2) + [
        row("chr3", 46898732, "A", "<DEL>", info="DP=90;SVTYPE=DEL;END=46899732")]
        ).replace("##FORMAT=<ID=GT", '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">\n'
                  '##INFO=<ID=END,Number=1,Type=Integer,Description="End position">\n'
                  '##ALT=<ID=DEL,Description="Deletion">\n##FORMAT=<ID=GT', 1))
    write("breakend.vcf", text(header() + good_rows(2) + [
        row("chr1", 173811223, "G", "G[chr2:171813470[")]))
    write("star_allele.vcf", text(header() + [
        row("chr1", 151185547, "T", "C,*", calls=("0/1:30,20,5:0.36,0.09:55", "0/0:40,0,0:0,0:40")),
        *good_rows(2)]))
    write("lowercase_bases.vcf", text(header() + [row("chr1", 23362762, "g", "c"),
                                                  *good_rows()[1:3]]))
    write("n_in_ref.vcf", text(header() + good_rows(2) + [row("chr2", 171813470, "N", "G")]))
    write("undeclared_filter.vcf", text(header() + [
        row(*GOOD[0], filt="MyCustomFilter"), row(*GOOD[1], filt="LowQual;MyCustomFilter"),
        *good_rows()[2:4]]))
    write("undeclared_info_format.vcf", text(header() + [
        row(*g, info="DP=90;SOMATIC_SCORE=12", fmt="GT:AD:AF:DP:XQ",
            calls=(TUMOR + ":7", NORMAL + ":3")) for g in GOOD[:3]]))
    write("ad_one_value.vcf", text(header() + [
        row(*GOOD[0], calls=("0/1:30:0.4:50", NORMAL)), *good_rows()[1:3]]))
    write("dp_missing.vcf", text(header(meta=no_dp_meta) + [
        row(*g, fmt="GT:AD:AF", calls=("0/1:30,20:0.4", "0/0:40,0:0")) for g in GOOD[:3]]))
    write("no_read_counts.vcf", text(header() + [
        row(*g, fmt="GT", calls=("0/1", "0/0")) for g in GOOD[:3]]))
    write("af_above_one.vcf", text(header() + [
        row(*GOOD[0], calls=("0/1:30,20:40:50", NORMAL)),  # AF as a percentage
        row(*GOOD[1], calls=("0/1:30,20:1.5:50", NORMAL)), *good_rows()[2:4]]))
    write("non_numeric_ad.vcf", text(header() + [
        row(*GOOD[0]), row(*GOOD[1], calls=("0/1:thirty,20:0.4:50", NORMAL)), row(*GOOD[2])]))
    write("pos_zero.vcf", text(header() + good_rows(2) + [row("chr3", 0, "T", "G")]))
    write("pos_negative.vcf", text(header() + good_rows(2) + [row("chr3", -5, "T", "G")]))
    write("ref_past_contig_end.vcf", text(header() + good_rows(2) + [
        row("chr6", 170805975, "ACGTACGTAC", "A")]))
    write("wrong_build.vcf", text(header() + [
        # The same positions with a REF that is not the GRCh38 base (as a GRCh37 call set
        # read against GRCh38 coordinates would look).
        row(c, p, {"A": "C", "C": "G", "G": "T", "T": "A"}[r],
            {"A": "G", "C": "T", "G": "A", "T": "C"}[r]) for c, p, r, _ in GOOD]))
    unknown = {**CONTIGS, "chrUn_KI270742v1": 186739, "NC_000001.11": 248956422}
    write("unknown_contig.vcf", text(header(contigs=unknown) + good_rows(2) + [
        row("chrUn_KI270742v1", 1000, "A", "G"), row("chrUn_KI270742v1", 2000, "C", "T"),
        row("NC_000001.11", 23362762, "G", "C")]))
    write("sites_only.tumor.vcf", text(header(samples=()) + [row(*g, fmt=None) for g in GOOD[:3]]))
    write("germline.normal.vcf", text(header(samples=("NORMAL",)) + [
        row("chr5", 138391529, "C", "T", fmt="GT:AD:DP", calls=("0/1:20,22:42",))]))
    write("only_germline.tumor.vcf", text(header(samples=("TUMOR",))
                                          + good_rows(3, calls=(TUMOR,))))
    write("only_germline.normal.vcf", text(header(samples=("NORMAL",)) + [
        row(*g, fmt="GT:AD:DP", calls=("0/1:20,22:42",)) for g in GOOD[:3]]))

    # --- callers whose counts NeoRank reads differently
    varscan_meta = [m for m in META if not m.startswith("##FORMAT")] + [
        "##source=VarScan2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=RD,Number=1,Type=Integer,Description="Depth of reference-supporting bases">',
        '##FORMAT=<ID=AD,Number=1,Type=Integer,Description="Depth of variant-supporting bases">',
        '##FORMAT=<ID=FREQ,Number=1,Type=String,Description="Variant allele frequency">',
    ]
    write("varscan2.vcf", text(header(meta=varscan_meta) + [
        row(*g, fmt="GT:DP:RD:AD:FREQ", calls=("0/1:50:30:20:40%", "0/0:40:40:0:0%"))
        for g in GOOD[:3]]))
    freebayes_meta = [m for m in META if not m.startswith("##FORMAT")] + [
        "##source=freeBayes v1.3.6",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=RO,Number=1,Type=Integer,Description="Reference allele observations">',
        '##FORMAT=<ID=AO,Number=A,Type=Integer,Description="Alternate allele observations">',
    ]
    write("freebayes.vcf", text(header(meta=freebayes_meta) + [
        row(*g, fmt="GT:DP:RO:AO", calls=("0/1:50:30:20", "0/0:40:40:0")) for g in GOOD[:3]]))

    # --- inputs as real pipelines produce them
    write("bom.vcf", b"\xef\xbb\xbf" + baseline.encode())  # Windows editors' UTF-8 BOM
    write("cr_line_endings.vcf", baseline.replace("\n", "\r"))  # classic Mac OS line ends
    lines = header()
    at = next(i for i, line in enumerate(lines) if line.startswith("##contig=<ID=chr1,"))
    lines.insert(at + 2, "##contig=<ID=chr1,length=249250621,assembly=GRCh37>")  # merged headers
    write("duplicate_contig.vcf", text(lines + good_rows()))
    write("normal_all_missing.vcf", text(header() + good_rows(calls=(TUMOR, "."))))
    write("ad_above_dp.vcf", text(header() + [
        row(*GOOD[0], calls=("0/1:30,25:0.45:40", NORMAL)), *good_rows()[1:4]]))
    def wrong_ref(chrom, pos, ref, _alt):  # a REF that is not the GRCh38 base (as wrong_build)
        return row(chrom, pos, {"A": "C", "C": "G", "G": "T", "T": "A"}[ref],
                   {"A": "G", "C": "T", "G": "A", "T": "C"}[ref])

    rows = good_rows()
    rows[2] = wrong_ref(*GOOD[2])  # one record whose REF is not the reference base
    write("ref_mismatch.vcf", text(header() + rows))
    write("ref_mismatch_majority.vcf", text(header() + [  # 5 of 8: most records disagree
        wrong_ref(*g) if i < 5 else row(*g) for i, g in enumerate(GOOD)]))
    write("sample_name_trailing_space.vcf", text(header(samples=("TUMOR ", "NORMAL"))
                                                 + good_rows(3)))

    # --- HLA typings
    write("hla_null_only.txt", "HLA-A*01:11N\n")
    write("hla_empty.txt", "# HLA typing: nothing typed\n")
    write("hla_many_errors.txt", "HLA-A*02:01\nHLA-A*02\nA2\nHLA-Z*01:01\nHLA-DQB1*06:02\n")
    write("hla_malformed_field.txt", "HLA-A*02:1\nHLA-B*08:01\n")
    write("hla_ambiguous.txt", "HLA-A*02:01/02:02\nHLA-B*08:01\n")
    write("hla_nonclassical_nonhuman.txt", "HLA-A*02:01\nHLA-E*01:03\nSLA-1*04:01\nH-2-Kb\n")
    write("hla_groups.txt", "HLA-A*02:01:01G\nHLA-B*07:02P\nHLA-C*07:01:01:01\n")
    # OptiType's <prefix>_result.tsv: an unnamed index column, the six alleles, Reads, Objective.
    optitype = ["", "A1", "A2", "B1", "B2", "C1", "C2", "Reads", "Objective"]
    write("hla_optitype_result.tsv", text(["\t".join(optitype), "\t".join(
        ["0", "A*02:01", "A*24:02", "B*07:02", "B*08:01", "C*07:01", "C*07:01", "1523.0",
         "1489.74"])]))
    write("hla_optitype_incomplete_result.tsv", text(["\t".join(optitype[:5] + optitype[7:]),
                                                       "\t".join(["0", "A*02:01", "A*24:02",
                                                                  "B*07:02", "B*08:01",
                                                                  "1523.0", "1489.74"])]))
    # HLA-HD's <sample>_final.result.txt: every locus of its dictionary, class II and
    # non-classical included; '-' = no second allele, 'Not typed' = no reads to type it.
    hlahd = [("A", "HLA-A*02:01:01", "HLA-A*24:02:01"), ("B", "HLA-B*07:02:01", "HLA-B*08:01:01"),
             ("C", "Not typed", "Not typed"), ("DRB1", "HLA-DRB1*15:01:01", "HLA-DRB1*04:05:01"),
             ("DQA1", "HLA-DQA1*01:02:01", "HLA-DQA1*03:03:01"),
             ("DQB1", "HLA-DQB1*06:02:01", "HLA-DQB1*04:01:01"),
             ("DPA1", "HLA-DPA1*01:03:01", "-"), ("DPB1", "HLA-DPB1*04:01:01", "HLA-DPB1*05:01:01"),
             ("E", "HLA-E*01:01:01", "HLA-E*01:03:02"), ("F", "HLA-F*01:01:01", "-"),
             ("G", "HLA-G*01:01:01", "-"), ("H", "HLA-H*02:04", "-"), ("J", "Not typed", "Not typed"),
             ("DRB3", "Not typed", "Not typed"), ("DRB4", "HLA-DRB4*01:03:01", "-")]
    write("hla_hlahd_final.result.txt", text(["\t".join(r) for r in hlahd]))
    # A stand-in for a saved MHCflurry model: only the allele list is read by preflight.
    alleles = ["HLA-A*01:01", "HLA-A*02:01", "HLA-A*02:02", "HLA-A*02:03", "HLA-A*02:05",
               "HLA-A*02:06", "HLA-A*24:02", "HLA-B*07:02", "HLA-B*08:01", "HLA-C*07:01"]
    write("fake_model_alleles/allele_sequences.csv", text(
        ["allele,sequence"] + [f"{a},{'Y' * 34}" for a in alleles]))
    write("fake_model_alleles/manifest.csv", text(["model_name,allele,config_json"]))

    # --- expression tables
    write("expression_refseq_ids.tsv", text(["gene_id\tTPM", "NM_000546.6\t12.5",
                                             "NM_004333.6\t3.1", "NR_024540.1\t0.4"]))
    write("expression_salmon.quant.sf", text([
        "Name\tLength\tEffectiveLength\tTPM\tNumReads",
        "ENST00000314011.9\t3021\t2850.1\t15.2\t812", "ENST00000374608.3\t2980\t2800.0\t2.0\t99"]))
    write("expression_kallisto.abundance.tsv", text([
        "target_id\tlength\teff_length\test_counts\ttpm",
        "ENST00000356198.6\t1200\t1050.3\t120\t8.4"]))
    write("expression_rsem.genes.results", text([
        "gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM",
        "ENSG00000125945.13\tENST00000314011.9,ENST00000374608.3\t3000\t2850\t900\t17.2\t9.1"]))
    write("expression_plain_genes.tsv", text(["gene\tTPM", "ZNF436\t17.2", "VPS72\t30.0",
                                              "CENPL\t4.4"]))
    write("expression_empty.tsv", "")
    write("expression_comma.csv", text(["gene,TPM", "ZNF436,17.2"]))

    # --- sample sheets
    cols = ["sample", "hla_alleles", "paired_vcf", "tumor_sample", "normal_sample", "tumor_vcf",
            "normal_vcf", "purity", "expression"]

    def sheet(name: str, rows: list[list[str]], columns=cols) -> None:
        write(name, text(["\t".join(columns)] + ["\t".join(r) for r in rows]))

    hla = "HLA-A*02:01,HLA-B*08:01"
    paired = [hla, "baseline.vcf", "TUMOR", "NORMAL", "", "", "", ""]
    sheet("sheet_duplicate_ids.tsv", [["P1", *paired], ["P2", *paired], ["P1", *paired]])
    sheet("sheet_path_traversal.tsv", [["../../etc/passwd", *paired], ["..", *paired],
                                       ["-rf", *paired]])
    sheet("sheet_shell_metachar_ids.tsv", [["a;rm -rf x", *paired], ["$(id)", *paired],
                                           ["P1`whoami`", *paired]])
    sheet("sheet_missing_columns.tsv", [["P1", "baseline.vcf", "TUMOR", "NORMAL"]],
          columns=["sample", "paired_vcf", "tumor_sample", "normal_sample"])
    sheet("sheet_both_modes.tsv", [
        ["both", hla, "baseline.vcf", "TUMOR", "NORMAL", "t.vcf", "n.vcf", "", ""],
        ["neither", hla, "", "", "", "", "", "", ""],
        ["no_normal_name", hla, "baseline.vcf", "TUMOR", "", "", "", "", ""],
        ["no_normal_vcf", hla, "", "", "", "t.vcf", "", "", ""]])
    sheet("sheet_purity.tsv", [["p150", hla, "baseline.vcf", "TUMOR", "NORMAL", "", "", "1.5", ""],
                               ["pneg", hla, "baseline.vcf", "TUMOR", "NORMAL", "", "", "-0.1", ""],
                               ["pabc", hla, "baseline.vcf", "TUMOR", "NORMAL", "", "", "abc", ""]])
    sheet("sheet_empty_hla.tsv", [["P1", "", "baseline.vcf", "TUMOR", "NORMAL", "", "", "", ""]])
    write("sheet_spaces.tsv", text(["sample hla_alleles paired_vcf tumor_sample normal_sample",
                                    "P1 HLA-A*02:01 baseline.vcf TUMOR NORMAL"]))
    sheet("sheet_reserved_ids.tsv", [["config", *paired], ["Cohort", *paired],
                                     ["run_config", *paired], ["predictions", *paired]])
    sheet("sheet_long_id.tsv", [["patient_" + "0123456789" * 6 + "_tumor", *paired]])
    sheet("sheet_case_duplicate_ids.tsv", [["P1", *paired], ["p1", *paired]])
    # A VCF sample name with a trailing space, given verbatim in double quotes.
    sheet("sheet_quoted_sample_name.tsv", [
        ["P1", hla, "sample_name_trailing_space.vcf", '"TUMOR "', "NORMAL", "", "", "", ""]])

    # --- config files (neorank.config.load_config_file)
    config = "samples: config/samples.tsv\nsomatic:\n  min_tumor_depth: 10\n"
    write("config_tab_indent.yaml", config.replace("  min_tumor_depth", "\tmin_tumor_depth"))
    write("config_duplicate_key.yaml", config + "  min_tumor_depth: 12\n")
    write("config_missing_colon.yaml", "samples: config/samples.tsv\nsomatic:\n"
          "  min_tumor_depth 10\n  max_normal_vaf: 0.02\n")
    write("config_bad_values.yaml", "samples: config/samples.tsv\nsomatic:\n"
          "  min_tumor_dept: 10\n  max_normal_vaf: 2\nreference:\n  release: \"87\"\n"
          "  source: web\n")


if __name__ == "__main__":
    build()
