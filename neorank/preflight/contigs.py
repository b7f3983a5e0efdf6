"""Contig lengths in a VCF header: which human build a length belongs to, and contigs whose
##contig lines disagree (a header merged from files of different builds)."""

from __future__ import annotations

from pathlib import Path

from neorank.preflight.report import Report

#: Chromosome lengths of the two human builds, to name a ##contig length's build.
_GRCH37 = [249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663,
           146364022, 141213431, 135534747, 135006516, 133851895, 115169878, 107349540,
           102531392, 90354753, 81195210, 78077248, 59128983, 63025520, 48129895, 51304566]
_GRCH38 = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973,
           145138636, 138394717, 133797422, 135086622, 133275309, 114364328, 107043718,
           101991189, 90338345, 83257441, 80373285, 58617616, 64444167, 46709983, 50818468]
BUILD_LENGTHS: dict[tuple[str, int], str] = {
    **{(str(n), length): "GRCh37" for n, length in enumerate(_GRCH37, start=1)},
    **{(str(n), length): "GRCh38" for n, length in enumerate(_GRCH38, start=1)},
    ("X", 155270560): "GRCh37", ("X", 156040895): "GRCh38",
    ("Y", 59373566): "GRCh37", ("Y", 57227415): "GRCh38",
}


def build_of(contig: str, length: int) -> str | None:
    """``GRCh37``/``GRCh38`` when ``length`` is that build's length of ``contig``."""
    core = contig[3:] if contig.lower().startswith("chr") else contig
    return BUILD_LENGTHS.get((core, length))


def report_conflicting_contigs(path: Path, contigs: dict[str, list[tuple[int, int | None]]],
                               report: Report) -> set[str]:
    """Report each contig declared by several ##contig lines (``contigs``: name -> [(line,
    length)]) with different lengths; return their names."""
    conflicting: set[str] = set()
    for name, declarations in contigs.items():
        lengths = list(dict.fromkeys(n for _, n in declarations if n is not None))
        if len(lengths) < 2:
            continue
        conflicting.add(name)
        described = []
        for length in lengths:
            lines = [str(line) for line, n in declarations if n == length]
            build = build_of(name, length)
            described.append(f"{length} (line {', '.join(lines)}"
                             + (f", the {build} length" if build else "") + ")")
        second = next(line for line, n in declarations if n == lengths[1])
        report.error("header", f"##contig {name} is declared {len(declarations)} times with "
                     f"different lengths: {' and '.join(described)}; htslib uses the first, so "
                     "contig ends and the genome build cannot be judged from this header",
                     file=path, record=f"line {second}",
                     fix="keep one ##contig line per contig, with the length of the build the "
                         "variants were called on: the header was merged from files of different "
                         "builds (e.g. `bcftools concat`/`merge` of GRCh37 and GRCh38 calls) or "
                         "edited by hand; rewrite it with `bcftools reheader -h header.txt` (or "
                         "`bcftools reheader --fai reference.fa.fai`)")
    return conflicting
