"""``neorank vaccine``: a vaccine design from the ranked candidates.

Three steps, each deterministic and documented in config/README.md (``vaccine``):

Selection
---------
The pool is every **binder** row of candidates.tsv. When candidates.tsv has a
``tier`` column, ``Pass``-tier rows come first (and, with
``vaccine.pass_only``, are the only ones used); otherwise, and within a tier,
rows keep candidates.tsv's rank order (binder, score, IC50, candidate_id). The
best row of each variant is that variant's candidate. Variants are then taken
in that order with **at most** ``vaccine.max_per_gene`` variants per gene; if
slots remain once every gene has been used, they are filled with the skipped
variants, again in rank order. Up to ``vaccine.peptide_count`` variants (default
20) go into the synthetic-long-peptide design and up to
``vaccine.mrna_count`` (default 34) into the mRNA polyepitope.

Long peptide
------------
For each chosen variant, a window of ``vaccine.long_peptide_length`` residues
(default 25; the whole context when shorter) is cut from the effect's
``mutant_context`` (effects.tsv; the transcript that carries the best peptide,
first by transcript id). Windows must contain a mutated residue (for a pure
deletion: residues on both sides of the junction). Among them the chosen window
maximises, in order: (1) it contains the best peptide, (2) the number of the
variant's binder rows (peptide x allele) whose peptide lies inside it, (3) it is
manufacturable (:func:`neorank.manufacturability.assess`), (4) the mutation is
central (distance between window centre and mutation centre), (5) the earliest
start. Manufacturability flags of the chosen window are reported, never used to
drop a variant.

mRNA polyepitope order
----------------------
Adjacent long peptides create junctional peptides that exist in no protein.
For every ordered pair (a, b) and every linker in ``vaccine.linkers`` (``""`` =
none), the junction 8-11-mers (``vaccine.junction_lengths``) that span the
joint (not wholly inside a or b) are predicted against every expressed patient
allele; a pair's cost is its number of (peptide, allele) predictions with IC50
<= ``vaccine.junction_max_affinity_nm`` (500 nM) using its best linker (fewest
binders; ties: the earlier linker in the list; later linkers are only tried
for pairs that still have binders). The order is an asymmetric TSP path that
minimises junctional binders first and the number of linkers used second:
greedy nearest-neighbour from every start, then first-improvement relocation
moves, ties broken by the lower selection index, so the result is
deterministic. Junctional binders that remain are listed in
vaccine_junctions.tsv.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from neorank.cache import CachedPredictor, PredictionCache
from neorank.config import STANDARD_AMINO_ACIDS, load_params, vaccine_params
from neorank.errors import InputFileError
from neorank.io import CHUNK_ROWS, read_tsv, write_tsv
from neorank.manufacturability import assess
from neorank.models import add_numerics_argument, load_predictor, prediction_key
from neorank.tables import TableBlocks, expressed_alleles

LOG = logging.getLogger(__name__)

MANUFACTURABILITY_COLUMNS = ["n_cysteines", "max_gravy_7mer", "nterm_qec", "cterm_cp",
                             "np_bonds", "manufacturability_flags", "manufacturable"]

PEPTIDE_COLUMNS = [
    "order", "variant_id", "gene_name", "effect", "protein_change", "transcript_id",
    "candidate_id", "tier", "best_peptide", "best_allele", "best_affinity_nm",
    "best_percentile", "score", "long_peptide", "long_peptide_start", "long_peptide_length",
    "mutation_in_long_peptide", "n_binder_epitopes", "binder_epitopes",
    *MANUFACTURABILITY_COLUMNS, "vaccine_note",
]
MRNA_COLUMNS = [
    "position", "variant_id", "gene_name", "protein_change", "candidate_id", "linker_before",
    "long_peptide", "junction_binders_after",
]
JUNCTION_COLUMNS = [
    "left_position", "right_position", "left_variant_id", "right_variant_id", "linker",
    "junction_peptide", "allele", "affinity_nm", "percentile",
]


# --------------------------------------------------------------------------- reading candidates.tsv


# --------------------------------------------------------------------------- params


# --------------------------------------------------------------------------- selection


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin({"true", "1", "yes"})


#: Columns of candidates.tsv :func:`rank_pool` needs.
POOL_REQUIRED = ["variant_id", "candidate_id", "binder", "rank", "mutant_peptide", "allele"]
#: Columns of candidates.tsv the design uses (read by :func:`read_pool`).
POOL_COLUMNS = [*POOL_REQUIRED, "tier", "gene_name", "effect", "protein_change",
                "transcript_ids", "mutant_affinity_nm", "mutant_percentile", "score"]


def _check_pool_columns(columns: Iterable[str]) -> None:
    for column in POOL_REQUIRED:
        if column not in columns:
            raise InputFileError(f"missing column {column}", where="candidates.tsv",
                                 fix="pass candidates.tsv written by `neorank rank`")


def rank_pool(candidates: pd.DataFrame, pass_only: bool = False) -> pd.DataFrame:
    """Binder rows in vaccine priority order (Pass tier first when tiers exist)."""
    _check_pool_columns(candidates.columns)
    pool = candidates.loc[_truthy(candidates["binder"])].copy()
    pool["_rank"] = pd.to_numeric(pool["rank"], errors="coerce")
    keys = ["_rank", "candidate_id"]
    if "tier" in pool.columns:
        pool["_not_pass"] = pool["tier"].astype(str) != "Pass"
        if pass_only:
            pool = pool.loc[~pool["_not_pass"]]
        keys = ["_not_pass", *keys]
    return pool.sort_values(keys, kind="mergesort").reset_index(drop=True)


def read_pool(path: str | os.PathLike, pass_only: bool = False,
              chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """:func:`rank_pool` of the candidates.tsv at ``path``, read in blocks that keep
    only binder rows and :data:`POOL_COLUMNS` (memory follows the binders, not the
    table); the same rows and values as ranking the whole table."""
    blocks = TableBlocks(path, POOL_COLUMNS, chunk_rows)
    _check_pool_columns(blocks.columns)
    binders = blocks.concat([block.loc[_truthy(block["binder"])] for block in blocks])
    return rank_pool(binders, pass_only)


def select_variants(pool: pd.DataFrame, count: int, max_per_gene: int) -> pd.DataFrame:
    """Best row per variant, spread across genes (see module docstring)."""
    best = pool.drop_duplicates("variant_id", keep="first").reset_index(drop=True)
    genes = best["gene_name"].astype(object).where(best["gene_name"].notna(), best["variant_id"])
    chosen: list[int] = []
    taken: set[int] = set()  # chosen, for constant-time look-ups (100k variants)
    per_gene: dict[str, int] = {}
    for index, gene in enumerate(genes):
        if len(chosen) == count:
            break
        if per_gene.get(gene, 0) < max_per_gene:
            chosen.append(index)
            taken.add(index)
            per_gene[gene] = per_gene.get(gene, 0) + 1
    for index in range(len(best)):
        if len(chosen) == count:
            break
        if index not in taken:
            chosen.append(index)
    # Keep the first-pass order, then the fill order; both follow rank. Rows of the
    # fill pass came after their gene had max_per_gene variants ahead of them.
    selected = best.iloc[chosen].reset_index(drop=True)
    selected["_gene_capped"] = [index not in taken for index in chosen]
    return selected


def design_note(row: dict[str, Any], params: dict[str, Any], tiered: bool) -> str:
    """Why a binder variant is, or is not, in the vaccine designs (vaccine_note)."""
    order = int(row["order"])
    in_peptides = order <= params["peptide_count"]
    in_mrna = order <= params["mrna_count"]
    if in_peptides and in_mrna:
        return "in the long-peptide and mRNA designs"
    reasons = []
    if in_mrna:
        reasons.append(f"in the mRNA design; beyond vaccine.peptide_count "
                       f"({params['peptide_count']}) for the long-peptide design")
    elif in_peptides:
        reasons.append(f"in the long-peptide design; beyond vaccine.mrna_count "
                       f"({params['mrna_count']}) for the mRNA design")
    else:
        reasons.append(f"not in the designs: priority {order} is beyond vaccine.peptide_count "
                       f"({params['peptide_count']}) and vaccine.mrna_count "
                       f"({params['mrna_count']})")
    if row.get("_gene_capped"):
        reasons.append(f"gene {row.get('gene_name')} already has vaccine.max_per_gene "
                       f"({params['max_per_gene']}) variant(s) ahead of it")
    if tiered and str(row.get("tier")) != "Pass":
        reasons.append(f"tier {row.get('tier')} (Pass-tier variants come first)")
    if row.get("manufacturable") is False:
        reasons.append(f"manufacturability: {row.get('manufacturability_flags')}")
    return "; ".join(reasons)


# --------------------------------------------------------------------------- long peptides


@dataclass
class LongPeptide:
    """A long peptide cut from one effect's mutant context."""

    sequence: str
    start: int  # 1-based protein position of the first residue
    transcript_id: str
    mutation: tuple[int, int]  # 1-based inclusive positions of the change within ``sequence``
    epitopes: list[str] = field(default_factory=list)  # "PEPTIDE|ALLELE" binder rows inside
    manufacturability: dict[str, Any] = field(default_factory=dict)


def _occurrences(text: str, peptide: str) -> list[int]:
    found, start = [], text.find(peptide)
    while start != -1:
        found.append(start)
        start = text.find(peptide, start + 1)
    return found


def _holding_windows(text: str, peptide: str, size: int) -> set[int]:
    """Starts of the ``size``-residue windows of ``text`` that hold an occurrence of
    ``peptide``: one at ``o`` lies in the windows starting from ``o + len - size`` to ``o``."""
    last = len(text) - size
    found: set[int] = set()
    for o in _occurrences(text, peptide):
        found.update(range(max(0, o + len(peptide) - size), min(o, last) + 1))
    return found


def _assess(sequence: str) -> dict[str, Any]:
    """:func:`neorank.manufacturability.assess`; a non-standard residue is a flag here."""
    if set(sequence.upper()) - STANDARD_AMINO_ACIDS:
        return {"flags": "nonstandard_residue", "manufacturable": False}
    return assess(sequence)


def _flags_text(flags: Any) -> str:
    if isinstance(flags, str):
        return flags or "none"
    return ";".join(flags or []) or "none"


def design_long_peptide(effect: dict[str, Any], best_peptide: str,
                        binder_rows: list[tuple[str, str]], length: int) -> LongPeptide:
    """Choose the window of ``mutant_context`` (see module docstring for the order)."""
    context = str(effect["mutant_context"])
    m_start, m_end = int(effect["mutation_start"]), int(effect["mutation_end"])
    size = min(length, len(context))
    # where each binder (and the best peptide) occurs in the context: (start, end) spans
    starts = len(context) - size + 1
    # the binders inside each window, in binder_rows order, each once
    inside_of: list[list[str]] = [[] for _ in range(starts)]
    for p, a in binder_rows:
        for s in sorted(_holding_windows(context, p, size)):
            inside_of[s].append(f"{p}|{a}")
    best_starts = _holding_windows(context, best_peptide, size)
    windows = []
    for s in range(0, starts):
        e = s + size
        if m_end > m_start:
            carries = s < m_end and e > m_start
        else:  # pure deletion: keep residues on both sides of the junction
            carries = s < m_start < e
        if not carries:
            continue
        inside = inside_of[s]
        has_best = s in best_starts
        centre = (m_start + max(m_end, m_start + 1)) / 2
        windows.append((s, e, has_best, inside, abs((s + e) / 2 - centre)))
    if not windows:
        raise InputFileError(
            f"no {size}-residue window of the mutant context carries the mutation",
            where=f"effects.tsv {effect.get('variant_id')} {effect.get('transcript_id')}",
            fix="re-run `neorank annotate` (mutation_start/mutation_end must lie in the context)")
    # Only windows that tie on the first two keys need the manufacturability call.
    scored = [[s, e, has_best, inside, distance, None]
              for s, e, has_best, inside, distance in windows]
    top = max((w[2], len(w[3])) for w in scored)
    finalists = [w for w in scored if (w[2], len(w[3])) == top]
    for w in finalists:
        w[5] = _assess(context[w[0]:w[1]])
    finalists.sort(key=lambda w: (not bool(w[5].get("manufacturable")), w[4], w[0]))
    s, e, _, inside, _, flags = finalists[0]
    if m_end > m_start:
        mutation = (max(m_start, s) - s + 1, min(m_end, e) - s)
    else:
        mutation = (m_start - s, m_start - s + 1)
    return LongPeptide(context[s:e], int(effect["context_start"]) + s,
                       str(effect["transcript_id"]), mutation, sorted(inside), flags)


def _effect_for(effects: list[dict[str, Any]], variant_id: str, transcripts: str,
                peptide: str) -> dict[str, Any]:
    """The effect row whose mutant context holds ``peptide``.

    ``effects`` are the variant's rows of effects.tsv (as records), in any order.
    """
    wanted = set(str(transcripts).split(";")) if isinstance(transcripts, str) else set()
    rows = sorted((r for r in effects if r["variant_id"] == variant_id),
                  key=lambda r: str(r["transcript_id"]))
    for restrict in (True, False):  # the peptide's own transcripts first, then any
        for row in rows:
            if restrict and wanted and row["transcript_id"] not in wanted:
                continue
            if peptide in str(row["mutant_context"]):
                return row
    raise InputFileError(
        f"no effect of {variant_id} has a mutant context containing {peptide}",
        where="effects.tsv", fix="pass the effects.tsv of the same run as candidates.tsv")


def _records_by_variant(table: pd.DataFrame, columns: list[str] | None = None
                        ) -> dict[str, list[dict[str, Any]]]:
    """Rows of ``table`` as records, grouped by variant_id, in table order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    frame = table if columns is None else table[columns]
    for record in frame.to_dict("records"):
        grouped.setdefault(record["variant_id"], []).append(record)
    return grouped


def design_peptides(selected: pd.DataFrame, pool: pd.DataFrame, effects: pd.DataFrame,
                    length: int) -> pd.DataFrame:
    """One long peptide per selected variant, in selection order."""
    rows = []
    # The pool and the effects grouped by variant once (a scan per variant is
    # quadratic at 100k variants; a pandas lookup per variant costs ~1 ms each).
    pool_rows = _records_by_variant(pool, ["variant_id", "mutant_peptide", "allele"])
    effect_rows = _records_by_variant(effects)
    for order, cand in enumerate(selected.to_dict("records"), start=1):
        vid = cand["variant_id"]
        effect = _effect_for(effect_rows.get(vid, []), vid,
                             cand.get("transcript_ids"), cand["mutant_peptide"])
        pairs = sorted({(str(r["mutant_peptide"]), str(r["allele"]))
                        for r in pool_rows.get(vid, [])})
        long = design_long_peptide(effect, str(cand["mutant_peptide"]), pairs, length)
        flags = long.manufacturability
        rows.append({
            "order": order, "variant_id": vid, "gene_name": cand.get("gene_name"),
            "effect": cand.get("effect"), "protein_change": cand.get("protein_change"),
            "transcript_id": long.transcript_id, "candidate_id": cand["candidate_id"],
            "tier": cand.get("tier"), "best_peptide": cand["mutant_peptide"],
            "best_allele": cand["allele"], "best_affinity_nm": cand.get("mutant_affinity_nm"),
            "best_percentile": cand.get("mutant_percentile"), "score": cand.get("score"),
            "long_peptide": long.sequence, "long_peptide_start": long.start,
            "long_peptide_length": len(long.sequence),
            "mutation_in_long_peptide": f"{long.mutation[0]}-{long.mutation[1]}",
            "n_binder_epitopes": len(long.epitopes), "binder_epitopes": ";".join(long.epitopes),
            "n_cysteines": flags.get("n_cysteines"), "max_gravy_7mer": flags.get("max_gravy_7mer"),
            "nterm_qec": flags.get("nterm_qec"), "cterm_cp": flags.get("cterm_cp"),
            "np_bonds": flags.get("np_bonds"),
            "manufacturability_flags": _flags_text(flags.get("flags")),
            "manufacturable": flags.get("manufacturable"),
            "_gene_capped": bool(cand.get("_gene_capped", False)),
        })
    return pd.DataFrame(rows, columns=[*PEPTIDE_COLUMNS, "_gene_capped"])


# --------------------------------------------------------------------------- mRNA order


def junction_peptides(left: str, linker: str, right: str, lengths: list[int]) -> list[str]:
    """Every k-mer of ``left + linker + right`` not wholly inside ``left`` or ``right``."""
    joined = left + linker + right
    out = []
    for k in lengths:
        for s in range(max(0, len(left) - k + 1), min(len(left) + len(linker), len(joined) - k + 1)):
            peptide = joined[s:s + k]
            if len(peptide) == k and s + k > len(left) and s < len(left) + len(linker):
                out.append(peptide)
    return out


def order_cost(order: list[int], cost: list[list[int]]) -> int:
    return sum(cost[a][b] for a, b in zip(order, order[1:], strict=False))


def best_order(cost: list[list[int]]) -> list[int]:
    """Deterministic ATSP path heuristic: greedy from every start, then relocation moves."""
    n = len(cost)
    if n <= 1:
        return list(range(n))
    best: list[int] | None = None
    for start in range(n):
        path, left = [start], set(range(n)) - {start}
        while left:
            nxt = min(left, key=lambda j: (cost[path[-1]][j], j))
            path.append(nxt)
            left.remove(nxt)
        if best is None or order_cost(path, cost) < order_cost(best, cost):
            best = path
    assert best is not None
    improved = True
    while improved:
        improved = False
        current = order_cost(best, cost)
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                trial = best[:i] + best[i + 1:]
                trial.insert(j, best[i])
                if order_cost(trial, cost) < current:
                    best, improved = trial, True
                    break
            if improved:
                break
    return best


def design_mrna(segments: pd.DataFrame, alleles: list[str], predictor: Any,
                params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order the long peptides to minimise junctional binders; returns (order, junctions)."""
    sequences = [str(s) for s in segments["long_peptide"]]
    n = len(sequences)
    linkers = list(params["linkers"])
    lengths = sorted(set(params["junction_lengths"]))
    threshold = params["junction_max_affinity_nm"]
    pair_peptides: dict[tuple[int, int, int], list[str]] = {}
    hits: dict[str, list[tuple[str, float, float]]] = {}
    predicted: set[str] = set()
    cost = [[0] * n for _ in range(n)]
    linker_of = [[0] * n for _ in range(n)]
    # Linkers are tried in list order, and a later one only for pairs that still
    # have junctional binders: the same result as trying all, with fewer predictions.
    open_pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    for li, linker in enumerate(linkers):
        if not open_pairs:
            break
        new: set[str] = set()
        for a, b in open_pairs:
            peptides = list(dict.fromkeys(
                p for p in junction_peptides(sequences[a], linker, sequences[b], lengths)
                if set(p) <= STANDARD_AMINO_ACIDS))
            pair_peptides[(a, b, li)] = peptides
            new.update(p for p in peptides if p not in predicted)
        if new and alleles:
            table = predictor.affinity(sorted(new), list(alleles))
            table = table.loc[table["affinity_nm"].astype(float) <= threshold]
            for row in table.itertuples(index=False):
                hits.setdefault(row.peptide, []).append(
                    (row.allele, float(row.affinity_nm), float(row.percentile)))
        predicted |= new
        LOG.info("vaccine: linker %r: %d pairs, %d new junction peptides x %d alleles",
                 linker, len(open_pairs), len(new), len(alleles))
        still_open = []
        for a, b in open_pairs:
            count = sum(len(hits.get(p, [])) for p in pair_peptides[(a, b, li)])
            if li == 0 or count < cost[a][b]:
                cost[a][b], linker_of[a][b] = count, li
            if cost[a][b] > 0:
                still_open.append((a, b))
        open_pairs = still_open
    # Fewest junctional binders first, then fewest linkers (a linker is < 1 binder).
    weight = [[cost[a][b] * n + (linker_of[a][b] > 0) for b in range(n)] for a in range(n)]
    order = best_order(weight)
    rows, junctions = [], []
    for position, index in enumerate(order, start=1):
        seg = segments.iloc[index]
        nxt = order[position] if position < n else None
        prev = order[position - 2] if position > 1 else None
        rows.append({
            "position": position, "variant_id": seg["variant_id"], "gene_name": seg["gene_name"],
            "protein_change": seg["protein_change"], "candidate_id": seg["candidate_id"],
            "linker_before": linkers[linker_of[prev][index]] if prev is not None else "",
            "long_peptide": seg["long_peptide"],
            "junction_binders_after": cost[index][nxt] if nxt is not None else 0,
        })
        if nxt is None:
            continue
        li = linker_of[index][nxt]
        for peptide in pair_peptides[(index, nxt, li)]:
            for allele, affinity, percentile in hits.get(peptide, []):
                junctions.append({
                    "left_position": position, "right_position": position + 1,
                    "left_variant_id": seg["variant_id"],
                    "right_variant_id": segments.iloc[nxt]["variant_id"],
                    "linker": linkers[li], "junction_peptide": peptide, "allele": allele,
                    "affinity_nm": affinity, "percentile": percentile})
    order_frame = pd.DataFrame(rows, columns=MRNA_COLUMNS)
    junction_frame = pd.DataFrame(junctions, columns=JUNCTION_COLUMNS)
    if len(junction_frame):
        junction_frame = junction_frame.sort_values(
            ["left_position", "junction_peptide", "allele"], kind="mergesort")
    # Linker "" is written as NA by write_tsv; make "none" explicit instead.
    order_frame["linker_before"] = order_frame["linker_before"].replace("", "none")
    order_frame.loc[order_frame["position"] == 1, "linker_before"] = "NA"
    junction_frame["linker"] = junction_frame["linker"].replace("", "none")
    return order_frame, junction_frame.reset_index(drop=True)


# --------------------------------------------------------------------------- CLI


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``neorank vaccine``."""
    parser = subparsers.add_parser(
        "vaccine", help="vaccine design: long peptides and an mRNA polyepitope order",
        description="Pick the best candidate per variant spread across genes, cut a long "
                    "peptide carrying the mutation and the most binders, and order an mRNA "
                    "polyepitope that minimises junctional binders.")
    parser.add_argument("--candidates", required=True, help="candidates.tsv")
    parser.add_argument("--effects", required=True, help="effects.tsv (mutant_context)")
    parser.add_argument("--alleles-json", required=True, help="alleles.json")
    parser.add_argument("--params", help="params JSON (vaccine section)")
    parser.add_argument("--models", default="embedded", help="embedded | official | <folder>")
    parser.add_argument("--embedded-dir", default="",
                        help="embedded models folder (default: the models shipped with NeoRank)")
    parser.add_argument("--official-dir", default=None,
                        help="folder of the official models_class1_presentation download")
    parser.add_argument("--cache", default=None,
                        help="SQLite prediction cache (as `neorank predict --cache`)")
    add_numerics_argument(parser)
    parser.add_argument("--out-peptides", required=True, help="vaccine_peptides.tsv")
    parser.add_argument("--out-mrna", required=True, help="vaccine_mrna.tsv")
    parser.add_argument("--out-junctions", required=True, help="vaccine_junctions.tsv")
    parser.add_argument("--out-long-peptides",
                        help="long peptides of every binder variant, in priority order")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, predictor: Any = None, chunk_rows: int = CHUNK_ROWS) -> int:
    """Run ``neorank vaccine``; ``predictor`` may be injected (tests); candidates.tsv
    is read in blocks of ``chunk_rows`` rows."""
    params = vaccine_params(load_params(getattr(args, "params", None)), where="vaccine params")
    pool = read_pool(args.candidates, params["pass_only"], chunk_rows)
    effects = read_tsv(args.effects, dtype={"mutant_context": str, "transcript_id": str})
    alleles = expressed_alleles(args.alleles_json)
    # Every binder variant gets a long peptide (the review sheet lists them all);
    # the designs are the first peptide_count / mrna_count of that order.
    selected = select_variants(pool, pool["variant_id"].nunique(), params["max_per_gene"])
    designed = design_peptides(selected, pool, effects, params["long_peptide_length"])
    tiered = "tier" in pool.columns
    designed["vaccine_note"] = [design_note(row, params, tiered)
                                for row in designed.to_dict("records")]
    designed = designed.drop(columns="_gene_capped")
    peptides = designed.head(params["peptide_count"])
    mrna_segments = designed.head(params["mrna_count"])
    if predictor is None and len(mrna_segments) > 1:
        predictor = load_predictor(args.models, args.embedded_dir, args.official_dir,
                                   args.numerics)
        if getattr(args, "cache", None):
            predictor = CachedPredictor(predictor, PredictionCache(
                args.cache, prediction_key(predictor)))
    order, junctions = design_mrna(mrna_segments, alleles, predictor, params)
    if getattr(args, "out_long_peptides", None):
        write_tsv(designed, args.out_long_peptides)
    write_tsv(peptides, args.out_peptides)
    write_tsv(order, args.out_mrna)
    write_tsv(junctions, args.out_junctions)
    LOG.info("vaccine: %d binder variants; %d long peptides, %d mRNA segments, %d junctional "
             "binders left", pool["variant_id"].nunique(), len(peptides), len(order),
             len(junctions))
    return 0
