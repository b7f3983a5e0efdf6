#!/usr/bin/env python
"""Build NeoRank's embedded reference subset and demo tumor/normal case.

One command, deterministic (fixed seed), output committed::

    python scripts/build_demo.py

Steps:

1. fetch      ``pip download --no-deps`` the ``varcode`` source archive and the
              ``vaxrank`` wheel into ``.cache/packages/`` (skipped when present;
              the only network access, never at workflow or test time).
2. reference  copy the Ensembl 87 GRCh38 subset (GTF, cDNA, peptide FASTA,
              manifest) byte-identical from the vaxrank wheel into
              ``resources/reference/``.
3. demo       from varcode's ``osteosarc_variants.json`` (the real somatic
              variants of a public osteosarcoma case) write a Mutect2-style
              paired VCF, a tumor VCF and a normal VCF with **synthetic** read
              counts, the case's HLA class I typing and a demo sample sheet into
              ``resources/demo/``. Eight variants of the paired VCF get counts or
              FILTER values that must make the ``somatic`` stage drop them, one
              reason each (``SPECIAL_CASES``). The normal VCF holds synthetic
              germline SNVs placed inside coding exons of the reference subset,
              their REF base derived from the cDNA through the exon structure
              (checked against the case's real somatic SNVs first); they are also
              in the tumor VCF so that separate-mode subtraction is exercised,
              including a multi-allelic normal record and one written with an
              extra shared anchor base.
4. readme     ``resources/README.md``: provenance and sha256 of every file. The
              ``## resources/mhcflurry/embedded`` section is preserved on rebuild.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neorank.io import sha256_file

LOG = logging.getLogger("build_demo")
REPO = Path(__file__).resolve().parents[1]
SEED = 20240917

PACKAGES = {
    "varcode": {"version": "10.21.1", "file": "varcode-10.21.1.tar.gz",
                "pip": ["--no-binary", ":all:"]},
    "vaxrank": {"version": "3.46.17", "file": "vaxrank-3.46.17-py3-none-any.whl", "pip": []},
}
VARIANTS_MEMBER = "varcode-10.21.1/tests/data/osteosarc_variants.json"
REFERENCE_PREFIX = "vaxrank/data/sid-recipe/support/osteosarc/selection_validation/isovar/reference/"
REFERENCE_FILES = ["reference.gtf.gz", "reference.cdna.fa.gz", "reference.pep.fa.gz",
                   "manifest.json"]

HLA_ALLELES = ["HLA-A*01:01", "HLA-A*01:11N", "HLA-B*08:01", "HLA-B*27:05",
               "HLA-C*01:02", "HLA-C*07:01"]

#: GRCh38 primary assembly lengths (UCSC names).
GRCH38_LENGTHS = {
    "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555,
    "chr5": 181538259, "chr6": 170805979, "chr7": 159345973, "chr8": 145138636,
    "chr9": 138394717, "chr10": 133797422, "chr11": 135086622, "chr12": 133275309,
    "chr13": 114364328, "chr14": 107043718, "chr15": 101991189, "chr16": 90338345,
    "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
    "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415,
    "chrM": 16569,
}
CONTIG_ORDER = {name: i for i, name in enumerate(GRCH38_LENGTHS)}

#: Variants (0-based index in sorted order) given values the somatic stage must
#: filter in the paired VCF, one reason each. Keys of the dict: what is changed.
SPECIAL_CASES = {
    10: {"why": "low tumor depth (tumor_depth 7 < 10)", "tumor": (7, 4)},
    30: {"why": "low tumor alt reads (tumor_alt_reads 2 < 3)", "tumor": (30, 2)},
    50: {"why": "low tumor VAF (tumor_vaf 0.033 < 0.05)", "tumor": (120, 4)},
    70: {"why": "germline-like normal VAF (normal_vaf 0.458 >= 0.02); also in the normal VCF",
         "normal": (48, 22)},
    90: {"why": "FILTER=germline_risk;normal_artifact", "filter": "germline_risk;normal_artifact"},
    110: {"why": "low normal depth (normal_depth 3 < 5)", "normal": (3, 0)},
    130: {"why": "FILTER=weak_evidence", "filter": "weak_evidence"},
    150: {"why": "low tumor depth and alt reads (tumor_depth 8 < 10; tumor_alt_reads 2 < 3)",
          "tumor": (8, 2)},
}
N_GERMLINE_SHARED = 10  # plain germline SNVs in both tumor and normal VCF
N_GERMLINE_NORMAL_ONLY = 2  # germline SNVs only in the normal VCF

TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
TRANSVERSION = {"A": "C", "C": "A", "G": "T", "T": "G"}
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


# --------------------------------------------------------------------------- fetch
def fetch(cache: Path) -> dict[str, Path]:
    """Download the source packages unless already cached."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, source in PACKAGES.items():
        target = cache / source["file"]
        if not target.exists():
            LOG.info("downloading %s==%s into %s", name, source["version"], cache)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "-d", str(cache), f"{name}=={source['version']}", *source["pip"]],
                           check=True)
        if not target.exists():
            raise SystemExit(f"pip download did not produce {target}")
        paths[name] = target
    return paths


# ----------------------------------------------------------------------- reference
def copy_reference(wheel: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in REFERENCE_FILES:
            data = archive.read(REFERENCE_PREFIX + name)
            target = out / name
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
            LOG.info("reference: %s (%d bytes)", target.relative_to(REPO), len(data))


@dataclass
class Transcript:
    transcript_id: str
    gene_name: str
    contig: str  # Ensembl style
    strand: str
    exons: list[tuple[int, int]]  # transcript order, 1-based inclusive
    cds: list[tuple[int, int]]
    sequence: str

    def base_at(self, pos: int) -> str | None:
        """Genomic (+ strand) base at ``pos`` if it lies in an exon."""
        offset = 0
        for start, end in self.exons:
            if start <= pos <= end:
                if self.strand == "+":
                    return self.sequence[offset + pos - start]
                return self.sequence[offset + end - pos].translate(COMPLEMENT)
            offset += end - start + 1
        return None


def load_transcripts(reference: Path) -> list[Transcript]:
    """Protein-coding transcripts whose cDNA length equals their exon length."""
    gtf = pd.read_csv(reference / "reference.gtf.gz", sep="\t", header=None, comment="#",
                      dtype=str, names=["contig", "source", "feature", "start", "end", "score",
                                        "strand", "frame", "attributes"])
    gtf = gtf[gtf.feature.isin(["exon", "CDS"])].copy()
    for key in ("transcript_id", "gene_name", "transcript_biotype", "exon_number"):
        gtf[key] = gtf.attributes.str.extract(rf'{key} "([^"]+)"', expand=False)
    gtf["start"] = gtf.start.astype(int)
    gtf["end"] = gtf.end.astype(int)
    gtf["exon_number"] = gtf.exon_number.astype(int)
    sequences: dict[str, str] = {}
    with gzip.open(reference / "reference.cdna.fa.gz", "rt") as handle:
        name = None
        chunks: list[str] = []
        for line in handle:
            if line.startswith(">"):
                if name:
                    sequences[name] = "".join(chunks).upper()
                name, chunks = line[1:].split()[0].split(".")[0], []
            else:
                chunks.append(line.strip())
        if name:
            sequences[name] = "".join(chunks).upper()
    transcripts = []
    coding = gtf[gtf.transcript_biotype == "protein_coding"]
    for tid, rows in coding.groupby("transcript_id", sort=True):
        exons = rows[rows.feature == "exon"].sort_values("exon_number")
        cds = rows[rows.feature == "CDS"].sort_values("exon_number")
        if tid not in sequences or exons.empty or cds.empty:
            continue
        spans = list(zip(exons.start, exons.end, strict=True))
        if sum(e - s + 1 for s, e in spans) != len(sequences[tid]):
            continue
        transcripts.append(Transcript(tid, rows.gene_name.iloc[0], rows.contig.iloc[0],
                                      rows.strand.iloc[0], spans,
                                      list(zip(cds.start, cds.end, strict=True)), sequences[tid]))
    LOG.info("reference: %d protein-coding transcripts with consistent exon/cDNA length",
             len(transcripts))
    return transcripts


def ensembl_contig(chrom: str) -> str:
    core = chrom[3:] if chrom.startswith("chr") else chrom
    return "MT" if core == "M" else core


def ucsc_contig(contig: str) -> str:
    return "chrM" if contig == "MT" else f"chr{contig}"


def reference_base(transcripts: list[Transcript], chrom: str, pos: int) -> str | None:
    """The base all reference transcripts covering ``pos`` agree on (or None)."""
    contig = ensembl_contig(chrom)
    bases = {t.base_at(pos) for t in transcripts if t.contig == contig} - {None}
    return bases.pop() if len(bases) == 1 else None


# ---------------------------------------------------------------------- variants
@dataclass
class Record:
    chrom: str
    pos: int
    ref: str
    alts: list[str]
    ident: str
    filter: str
    samples: dict[str, tuple[str, list[int], int]]  # name -> (GT, AD, DP)

    def sort_key(self) -> tuple:
        return (CONTIG_ORDER[self.chrom], self.pos, self.ref, tuple(self.alts))


def read_variants(archive: Path) -> list[dict]:
    with tarfile.open(archive) as tar:
        data = json.load(tar.extractfile(VARIANTS_MEMBER))
    literal, skipped, empty = [], [], 0
    for entry in data["entries"]:
        if not entry["alleles"]:
            empty += 1
        for chrom, pos, ref, alt in entry["alleles"]:
            if (isinstance(pos, int) and chrom in GRCH38_LENGTHS
                    and re.fullmatch("[ACGT]+", ref) and re.fullmatch("[ACGT]+", alt)):
                literal.append({"chrom": chrom, "pos": pos, "ref": ref, "alt": alt,
                                "id": entry["id"], "gene": entry["gene"]})
            else:
                skipped.append(f"{entry['id']} ({ref}>{alt})")
    literal.sort(key=lambda v: (CONTIG_ORDER[v["chrom"]], v["pos"], v["ref"], v["alt"]))
    LOG.info("osteosarc_variants.json: %d entries, %d literal alleles used, %d non-literal "
             "skipped (%s), %d entries without alleles skipped", len(data["entries"]),
             len(literal), len(skipped), ", ".join(skipped), empty)
    return literal


def check_reference_bases(variants: list[dict], transcripts: list[Transcript]) -> None:
    """The cDNA-derived base must equal REF of every real SNV inside an exon."""
    checked = 0
    for v in variants:
        if len(v["ref"]) == 1 and len(v["alt"]) == 1:
            base = reference_base(transcripts, v["chrom"], v["pos"])
            if base is None:
                continue
            checked += 1
            if base != v["ref"]:
                raise SystemExit(f"cDNA-derived base {base} != REF of {v['id']}: the exon "
                                 "mapping is wrong; refusing to place germline variants")
    if checked < 10:
        raise SystemExit(f"only {checked} real SNVs could check the cDNA-derived bases")
    LOG.info("reference check: %d real SNVs inside reference exons, all REF bases agree "
             "with the cDNA-derived base", checked)


def pick_germline_sites(transcripts: list[Transcript], variants: list[dict],
                        rng: random.Random, n: int) -> list[dict]:
    """One coding position per gene in ``n`` genes, away from the somatic variants."""
    somatic = {(v["chrom"], v["pos"]) for v in variants}
    by_gene: dict[str, Transcript] = {}
    for t in transcripts:
        if t.contig != "MT":
            by_gene.setdefault(t.gene_name, t)
    candidates = []
    for gene in sorted(by_gene):
        t = by_gene[gene]
        chrom = ucsc_contig(t.contig)
        start, end = t.cds[len(t.cds) // 2]
        pos = (start + end) // 2
        if end - start < 4:
            continue
        bases = [reference_base(transcripts, chrom, p) for p in (pos - 1, pos, pos + 1)]
        if None in bases or "N" in bases:
            continue
        if any(c == chrom and abs(p - pos) <= 50 for c, p in somatic):
            continue
        candidates.append({"chrom": chrom, "pos": pos, "ref": bases[1], "prev": bases[0],
                           "gene": gene})
    if len(candidates) < n:
        raise SystemExit(f"only {len(candidates)} genes offer a germline site, need {n}")
    chosen = rng.sample(candidates, n)
    chosen.sort(key=lambda v: (CONTIG_ORDER[v["chrom"]], v["pos"]))
    LOG.info("germline sites in genes: %s", ", ".join(c["gene"] for c in chosen))
    return chosen


def af(alt: int, depth: int) -> str:
    return format(round(alt / depth, 3), "g") if depth else "."


def het(rng: random.Random, low: int, high: int, vaf: tuple[float, float]) -> tuple[int, int]:
    depth = rng.randint(low, high)
    return depth, max(3, round(depth * rng.uniform(*vaf)))


def build_records(variants: list[dict], germline: list[dict], rng: random.Random
                  ) -> tuple[list[Record], list[Record], list[Record], dict]:
    """Paired, tumor and normal records, and the expected counts."""
    paired, tumor, normal = [], [], []
    for index, v in enumerate(variants):
        t_depth, t_alt = het(rng, 40, 120, (0.1, 0.6))
        n_depth, n_alt = rng.randint(30, 80), 0
        special = SPECIAL_CASES.get(index, {})
        t_depth, t_alt = special.get("tumor", (t_depth, t_alt))
        n_depth, n_alt = special.get("normal", (n_depth, n_alt))
        ident = v["id"]
        paired.append(Record(v["chrom"], v["pos"], v["ref"], [v["alt"]], ident,
                             special.get("filter", "PASS"), {
                                 "TUMOR": ("0/1", [t_depth - t_alt, t_alt], t_depth),
                                 "NORMAL": ("0/0" if n_alt == 0 else "0/1",
                                            [n_depth - n_alt, n_alt], n_depth)}))
        tumor.append(Record(v["chrom"], v["pos"], v["ref"], [v["alt"]], ident, "PASS",
                            {"TUMOR": ("0/1", [t_depth - t_alt, t_alt], t_depth)}))
        if n_alt and n_alt / n_depth >= 0.2:  # a germline caller would call it
            normal.append(Record(v["chrom"], v["pos"], v["ref"], [v["alt"]], ident, "PASS",
                                 {"NORMAL": ("0/1", [n_depth - n_alt, n_alt], n_depth)}))
    # Germline SNVs: shared plain ones, one multi-allelic normal record, one in an
    # equivalent representation with an extra anchor base, then normal-only ones.
    kinds = (["shared"] * N_GERMLINE_SHARED + ["multiallelic", "anchored"]
             + ["normal_only"] * N_GERMLINE_NORMAL_ONLY)
    for number, (site, kind) in enumerate(zip(germline, kinds, strict=True), start=1):
        chrom, pos, ref = site["chrom"], site["pos"], site["ref"]
        alt = TRANSITION[ref]
        ident = f"germline{number:02d}-{site['gene']}"
        n_depth, n_alt = het(rng, 30, 80, (0.4, 0.6))
        t_depth, t_alt = het(rng, 40, 120, (0.35, 0.65))
        if kind == "multiallelic":
            alt2 = TRANSVERSION[ref]
            second = n_alt // 2
            normal.append(Record(chrom, pos, ref, [alt, alt2], ident, "PASS", {
                "NORMAL": ("1/2", [n_depth - n_alt - second, n_alt, second], n_depth)}))
        elif kind == "anchored":
            prev = site["prev"]
            normal.append(Record(chrom, pos - 1, prev + ref, [prev + alt], ident, "PASS", {
                "NORMAL": ("0/1", [n_depth - n_alt, n_alt], n_depth)}))
        else:
            genotype = "1/1" if number == 2 else "0/1"
            if genotype == "1/1":
                n_alt = n_depth - 1
            normal.append(Record(chrom, pos, ref, [alt], ident, "PASS", {
                "NORMAL": (genotype, [n_depth - n_alt, n_alt], n_depth)}))
        if kind != "normal_only":
            tumor.append(Record(chrom, pos, ref, [alt], ident, "PASS", {
                "TUMOR": ("0/1", [t_depth - t_alt, t_alt], t_depth)}))
    for records in (paired, tumor, normal):
        records.sort(key=Record.sort_key)
    return paired, tumor, normal, {"germline_in_tumor": N_GERMLINE_SHARED + 2}


HEADER_COMMON = """##fileformat=VCFv4.2
##source=NeoRank demo
##neorank_demo=read counts are synthetic demo values, not measured
##reference=GRCh38
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=germline_risk,Description="Evidence indicates this site is germline, not somatic">
##FILTER=<ID=normal_artifact,Description="artifact_in_normal">
##FILTER=<ID=weak_evidence,Description="Mutation does not meet likelihood threshold">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (synthetic demo value)">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles in the order listed (synthetic demo values)">
##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions of alternate alleles (synthetic demo values)">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (synthetic demo value)">
"""


def write_vcf(path: Path, records: list[Record], samples: list[str], extra: str = "") -> None:
    lines = [HEADER_COMMON.rstrip("\n")]
    lines += [f"##contig=<ID={name},length={length},assembly=GRCh38>"
              for name, length in GRCH38_LENGTHS.items()]
    if extra:
        lines.append(extra)
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *samples]))
    for r in records:
        calls = []
        for name in samples:
            genotype, depths, depth = r.samples[name]
            fractions = ",".join(af(a, depth) for a in depths[1:])
            calls.append(f"{genotype}:{','.join(map(str, depths))}:{fractions}:{depth}")
        total = sum(r.samples[name][2] for name in samples)
        lines.append("\t".join([r.chrom, str(r.pos), r.ident, r.ref, ",".join(r.alts), ".",
                                r.filter, f"DP={total}", "GT:AD:AF:DP", *calls]))
    path.write_text("\n".join(lines) + "\n")


def validate_vcf(path: Path) -> int:
    """Read the file back with pysam (the pipeline's reader); return #records."""
    import pysam

    with pysam.VariantFile(str(path)) as vcf:
        return sum(1 for _ in vcf)


def build_demo(variants_archive: Path, reference: Path, out: Path) -> dict:
    rng = random.Random(SEED)
    variants = read_variants(variants_archive)
    transcripts = load_transcripts(reference)
    check_reference_bases(variants, transcripts)
    germline = pick_germline_sites(transcripts, variants, rng,
                                   N_GERMLINE_SHARED + 2 + N_GERMLINE_NORMAL_ONLY)
    paired, tumor, normal, _ = build_records(variants, germline, rng)
    out.mkdir(parents=True, exist_ok=True)
    write_vcf(out / "osteosarc.paired.vcf", paired, ["TUMOR", "NORMAL"],
              "##tumor_sample=TUMOR\n##normal_sample=NORMAL")
    write_vcf(out / "osteosarc.tumor.vcf", tumor, ["TUMOR"], "##tumor_sample=TUMOR")
    write_vcf(out / "osteosarc.normal.vcf", normal, ["NORMAL"], "##normal_sample=NORMAL")
    for name in ("osteosarc.paired.vcf", "osteosarc.tumor.vcf", "osteosarc.normal.vcf"):
        LOG.info("demo: %s, %d records (read back with pysam)", name, validate_vcf(out / name))
    (out / "osteosarc.hla.txt").write_text("\n".join(HLA_ALLELES) + "\n")
    sheet = pd.DataFrame([
        {"sample": "osteosarc-paired", "hla_alleles": "resources/demo/osteosarc.hla.txt",
         "paired_vcf": "resources/demo/osteosarc.paired.vcf", "tumor_sample": "TUMOR",
         "normal_sample": "NORMAL", "tumor_vcf": "", "normal_vcf": "", "purity": "0.6",
         "expression": ""},
        {"sample": "osteosarc-separate", "hla_alleles": ",".join(HLA_ALLELES),
         "paired_vcf": "", "tumor_sample": "", "normal_sample": "",
         "tumor_vcf": "resources/demo/osteosarc.tumor.vcf",
         "normal_vcf": "resources/demo/osteosarc.normal.vcf", "purity": "", "expression": ""},
    ])
    sheet.to_csv(out / "samples.tsv", sep="\t", index=False, lineterminator="\n")
    n_germline_tumor = N_GERMLINE_SHARED + 2
    n_count_filtered = sum(1 for case in SPECIAL_CASES.values() if "tumor" in case)
    n_normal_vcf_somatic = sum(1 for r in normal if not r.ident.startswith("germline"))
    counts = {
        "variants": len(variants), "germline_sites": [g["gene"] for g in germline],
        "paired_alleles": len(paired), "paired_filtered": len(SPECIAL_CASES),
        "tumor_alleles": len(tumor), "normal_records": len(normal),
        "separate_filtered": n_germline_tumor + n_normal_vcf_somatic + n_count_filtered,
    }
    counts["paired_somatic"] = counts["paired_alleles"] - counts["paired_filtered"]
    counts["separate_somatic"] = counts["tumor_alleles"] - counts["separate_filtered"]
    counts["separate_germline"] = n_germline_tumor + n_normal_vcf_somatic
    counts["separate_count_filtered"] = n_count_filtered
    LOG.info("expected: paired %d alleles -> %d somatic, %d filtered; separate %d alleles -> "
             "%d somatic, %d filtered (%d germline, %d read counts)", counts["paired_alleles"],
             counts["paired_somatic"], counts["paired_filtered"], counts["tumor_alleles"],
             counts["separate_somatic"], counts["separate_filtered"],
             counts["separate_germline"], n_count_filtered)
    return counts


# -------------------------------------------------------------------------- readme
MHCFLURRY_SECTION = "## resources/mhcflurry/embedded"


def write_readme(path: Path, archives: dict[str, Path], counts: dict) -> None:
    previous = path.read_text() if path.exists() else ""
    mhcflurry = (previous[previous.index(MHCFLURRY_SECTION):].rstrip("\n")
                 if MHCFLURRY_SECTION in previous else
                 f"{MHCFLURRY_SECTION}\n\nFilled in by the lead (the models are built by "
                 "`scripts/build_models.py`).")
    varcode, vaxrank = PACKAGES["varcode"], PACKAGES["vaxrank"]
    rows = []
    for name in REFERENCE_FILES:
        rows.append((f"reference/{name}", f"vaxrank {vaxrank['version']} wheel",
                     f"`{REFERENCE_PREFIX}{name}`", "copied byte-identical"))
    member = f"`{VARIANTS_MEMBER.split('/', 1)[1]}`"
    rows += [
        ("demo/osteosarc.paired.vcf", f"varcode {varcode['version']} sdist", member,
         "real somatic alleles; synthetic Mutect2-style TUMOR/NORMAL counts"),
        ("demo/osteosarc.tumor.vcf", f"varcode {varcode['version']} sdist", member,
         "same alleles and tumor counts + synthetic germline SNVs (REF from reference cDNA)"),
        ("demo/osteosarc.normal.vcf", f"vaxrank {vaxrank['version']} wheel (reference subset)",
         f"`{REFERENCE_PREFIX}reference.gtf.gz`, `reference.cdna.fa.gz`",
         "synthetic germline SNVs at real coding positions (REF from cDNA) + the germline-like "
         "demo variant #4 (varcode sdist)"),
        ("demo/osteosarc.hla.txt", "DATA_SOURCES.md (case's clinical typing)", "-",
         "real HLA class I typing of the case"),
        ("demo/samples.tsv", "written by scripts/build_demo.py", "-", "demo sample sheet"),
    ]
    table = ["| file | source | path inside the package | what | sha256 |",
             "|---|---|---|---|---|"]
    for file, source, where, what in rows:
        table.append(f"| `resources/{file}` | {source} | {where} | {what} | "
                     f"`{sha256_file(REPO / 'resources' / file)}` |")
    special = "\n".join(f"| {i + 1} | {case['why']} |"
                        for i, case in enumerate(SPECIAL_CASES.values()))
    text = f"""# resources/: provenance

Every file here is derived from a registry package by a committed script; nothing is
downloaded at workflow or test time. Rebuild with `python scripts/build_demo.py`
(deterministic: fixed seed {SEED}; output byte-identical).

Package archives (`pip download --no-deps`, cached in `.cache/packages/`):

| package | version | archive | sha256 |
|---|---|---|---|
| varcode | {varcode['version']} | `{varcode['file']}` (source) | `{sha256_file(archives['varcode'])}` |
| vaxrank | {vaxrank['version']} | `{vaxrank['file']}` (wheel) | `{sha256_file(archives['vaxrank'])}` |

{chr(10).join(table)}

## resources/reference

Ensembl release 87 (GRCh38) subset: the genes around the case's somatic variants
(`manifest.json` lists the upstream Ensembl files, their checksums and excluded
transcripts). Contigs are Ensembl style (`1`, `X`, `MT`). Real annotation, but only a
subset: variants outside it are reported as `outside_reference`.

## resources/demo: DEMO-GRADE

- **Real**: the somatic alleles ({counts['variants']} literal GRCh38 alleles of the public
  osteosarcoma case in varcode's `osteosarc_variants.json`; entries without a literal allele
  are skipped) and the HLA class I typing ({', '.join(HLA_ALLELES)}).
- **Synthetic**: every read count (AD/AF/DP) - seeded demo values, not measured; the
  FILTER values of two records; the germline variants (their positions are real coding
  positions of the reference subset and their REF base is the reference base derived from
  the cDNA through the exon structure, checked against the case's real SNVs; the ALT bases
  and genotypes are invented).

Not for any clinical or biological conclusion.

### Expected `somatic` stage result (default thresholds)

`osteosarc-paired` (`osteosarc.paired.vcf`): {counts['paired_alleles']} input alleles,
**{counts['paired_somatic']} somatic, {counts['paired_filtered']} filtered**. All other
records have tumor depth 40-120, VAF 0.1-0.6 (at least 4 alt reads), normal depth 30-80 with
0 alt reads and FILTER PASS. The filtered ones are the variants at 0-based positions
{", ".join(str(i) for i in SPECIAL_CASES)} in sorted order, one reason each:

| # | reason |
|---|---|
{special}

`osteosarc-separate` (`osteosarc.tumor.vcf` + `osteosarc.normal.vcf`): {counts['tumor_alleles']}
input alleles (the {counts['variants']} somatic ones with the same tumor counts, all FILTER PASS,
plus {counts['separate_germline'] - 1} synthetic germline SNVs), **{counts['separate_somatic']}
somatic, {counts['separate_filtered']} filtered**: {counts['separate_germline']} present in the
normal VCF (the {counts['separate_germline'] - 1} germline SNVs - one of them matched through a
multi-allelic normal record, one through a normal record with an extra shared anchor base - and
the germline-like variant #4 above, which the normal VCF also calls) and
{counts['separate_count_filtered']} for tumor read counts (#1, #2, #3, #8 above). The normal VCF
({counts['normal_records']} records) also holds {N_GERMLINE_NORMAL_ONLY} germline SNVs absent
from the tumor.

{mhcflurry}
"""
    path.write_text(text)
    LOG.info("wrote %s", path.relative_to(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "packages",
                        help="package download folder (default: .cache/packages)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    archives = fetch(args.cache)
    resources = REPO / "resources"
    copy_reference(archives["vaxrank"], resources / "reference")
    counts = build_demo(archives["varcode"], resources / "reference", resources / "demo")
    write_readme(resources / "README.md", archives, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
