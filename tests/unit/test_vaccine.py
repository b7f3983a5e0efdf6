"""Unit tests for ``neorank vaccine``: selection, long peptides, junctions and the mRNA order.

Expectations are worked out by hand from the fixtures (comments give the
reasoning); the predictor is a small fake with a documented binding rule so the
junction counts can be derived independently.
"""

from __future__ import annotations

import argparse
import itertools
import json

import pandas as pd
import pytest

from neorank import config, tables, vaccine
from neorank.errors import NeoRankError
from neorank.io import read_tsv, write_tsv
from neorank.manufacturability import assess

# KRAS residues 1-40 with G12V: the mutated residue is at offset 11.
KRAS_G12V = "MTEYKLVVVGAVGVGKSALTIQLIQNHFVDEYDPTIEDSY"


def _candidate(rank, variant, gene, peptide, allele="HLA-A*02:01", binder=True, tier=None,
               transcripts="ENST1"):
    row = {"rank": rank, "candidate_id": f"PT-{rank:03d}", "variant_id": variant,
           "gene_name": gene, "effect": "Substitution", "protein_change": f"p.X{rank}Y",
           "transcript_ids": transcripts, "mutant_peptide": peptide, "allele": allele,
           "binder": binder, "mutant_affinity_nm": 10.0 * rank, "mutant_percentile": 0.1,
           "score": 1 - rank / 100}
    if tier is not None:
        row["tier"] = tier
    return row


# --------------------------------------------------------------------------- selection


def test_selection_spreads_across_genes_then_fills_in_rank_order():
    pool = vaccine.rank_pool(pd.DataFrame([
        _candidate(1, "v1", "A", "AAAAAAAAA"),
        _candidate(2, "v2", "A", "CCCCCCCCC"),
        _candidate(3, "v3", "B", "DDDDDDDDD"),
        _candidate(4, "v1", "A", "EEEEEEEEE"),  # second row of v1: not a new variant
        _candidate(5, "v4", "C", "FFFFFFFFF"),
        _candidate(6, "v5", "A", "GGGGGGGGG"),
        _candidate(7, "v6", "D", "HHHHHHHHH", binder=False),  # not a binder: never chosen
    ]))
    # One per gene first (v1 A, v3 B, v4 C), then the skipped A variants by rank.
    assert list(vaccine.select_variants(pool, 3, 1)["variant_id"]) == ["v1", "v3", "v4"]
    assert list(vaccine.select_variants(pool, 4, 1)["variant_id"]) == ["v1", "v3", "v4", "v2"]
    assert list(vaccine.select_variants(pool, 10, 1)["variant_id"]) == [
        "v1", "v3", "v4", "v2", "v5"]
    # Two per gene: v1, v2 (A), v3 (B), then v4 (C); v5 (third A) only after.
    assert list(vaccine.select_variants(pool, 4, 2)["variant_id"]) == ["v1", "v2", "v3", "v4"]
    # The best row of each variant is its candidate.
    chosen = vaccine.select_variants(pool, 1, 1)
    assert chosen.loc[0, "candidate_id"] == "PT-001"


def test_every_binder_variant_says_why_it_is_or_is_not_in_the_designs():
    pool = vaccine.rank_pool(pd.DataFrame([
        _candidate(1, "v1", "A", "AAAAAAAAA", tier="Pass"),
        _candidate(2, "v2", "A", "CCCCCCCCC", tier="Pass"),
        _candidate(3, "v3", "B", "DDDDDDDDD", tier="Pass"),
        _candidate(4, "v4", "C", "FFFFFFFFF", tier="Anchor"),
    ]))
    selected = vaccine.select_variants(pool, 4, 1)  # v1, v3, v4, then v2 (gene A capped)
    params = {**config.vaccine_params({}), "peptide_count": 2, "mrna_count": 3}
    rows = [{**row, "order": order, "manufacturable": order != 3,
             "manufacturability_flags": "n_cysteines" if order == 3 else ""}
            for order, row in enumerate(selected.to_dict("records"), start=1)]
    notes = {row["variant_id"]: vaccine.design_note(row, params, tiered=True) for row in rows}
    assert notes["v1"] == "in the long-peptide and mRNA designs"
    assert notes["v3"] == "in the long-peptide and mRNA designs"
    assert notes["v4"].startswith("in the mRNA design; beyond vaccine.peptide_count (2)")
    assert "tier Anchor" in notes["v4"] and "manufacturability: n_cysteines" in notes["v4"]
    assert notes["v2"].startswith("not in the designs: priority 4 is beyond")
    assert "gene A already has vaccine.max_per_gene (1)" in notes["v2"]


def test_pass_tier_first_and_pass_only():
    frame = pd.DataFrame([
        _candidate(1, "v1", "A", "AAAAAAAAA", tier="Subclonal"),
        _candidate(2, "v2", "B", "CCCCCCCCC", tier="Pass"),
        _candidate(3, "v3", "C", "DDDDDDDDD", tier="Pass"),
    ])
    pool = vaccine.rank_pool(frame)
    assert list(pool["variant_id"]) == ["v2", "v3", "v1"]
    assert list(vaccine.rank_pool(frame, pass_only=True)["variant_id"]) == ["v2", "v3"]
    # Without a tier column the rank order is used as is.
    assert list(vaccine.rank_pool(frame.drop(columns="tier"))["variant_id"]) == ["v1", "v2", "v3"]


# --------------------------------------------------------------------------- long peptides


def _effect(context=KRAS_G12V, start=11, end=12):
    return {"variant_id": "12:25245350:C>A", "transcript_id": "ENST1", "context_start": 1,
            "mutant_context": context, "mutation_start": start, "mutation_end": end}


def test_long_peptide_window_carries_best_peptide_and_most_binders():
    best = KRAS_G12V[4:13]      # KLVVVGAVG, offsets 4..12
    second = KRAS_G12V[12:20]   # GVGKSALT, offsets 12..19
    far = KRAS_G12V[25:34]      # cannot share a 16-mer with the best peptide
    binders = [(best, "HLA-A*02:01"), (second, "HLA-B*07:02"), (far, "HLA-A*02:01")]
    long = vaccine.design_long_peptide(_effect(), best, binders, 16)
    # Windows with the best peptide start at <= 4; holding `second` needs start >= 4.
    assert long.sequence == KRAS_G12V[4:20] == "KLVVVGAVGVGKSALT"
    assert long.start == 5  # 1-based protein position (context_start 1 + offset 4)
    assert long.mutation == (8, 8)  # offset 11 is residue 8 of the window
    assert long.sequence[7] == "V"
    assert long.epitopes == sorted([f"{best}|HLA-A*02:01", f"{second}|HLA-B*07:02"])
    assert long.manufacturability == assess(long.sequence)


def _reference_window(context, m_start, m_end, best, binders, length):
    """The window rule read literally: windows carrying the change; most-preferred has the
    best peptide, then the most binders wholly inside, then manufacturable, then the one
    closest to the change's centre, then the leftmost."""
    size = min(length, len(context))
    centre = (m_start + max(m_end, m_start + 1)) / 2
    ranked = []
    for s in range(len(context) - size + 1):
        e = s + size
        if not (s < m_end and e > m_start if m_end > m_start else s < m_start < e):
            continue
        def within(peptide, s=s, e=e):
            return any(s <= o and o + len(peptide) <= e for o in range(len(context))
                       if context.startswith(peptide, o))
        inside = sorted({f"{p}|{a}" for p, a in binders if within(p)})
        ranked.append((s, within(best), inside, abs((s + e) / 2 - centre)))
    top = max((has_best, len(inside)) for _, has_best, inside, _ in ranked)
    finalists = [w for w in ranked if (w[1], len(w[2])) == top]
    finalists.sort(key=lambda w: (not assess(context[w[0]:w[0] + size])["manufacturable"],
                                  w[3], w[0]))
    return context[finalists[0][0]:finalists[0][0] + size], finalists[0][2]


def test_long_peptide_matches_the_rule_on_repeats_and_overlaps():
    """Random contexts from a 4-letter alphabet (repeated, overlapping binder occurrences),
    substitutions, insertions and deletions: the chosen window and its epitopes equal a
    literal reading of the rule."""
    import random

    rng = random.Random(5)
    for case in range(300):
        context = "".join(rng.choice("AKLV") for _ in range(rng.randrange(12, 60)))
        m_start = rng.randrange(1, len(context) - 1)
        m_end = m_start if case % 5 == 0 else min(len(context), m_start + rng.randrange(1, 4))
        peptides = {context[o:o + n] for n in (8, 9) for o in range(len(context) - n + 1)}
        chosen = rng.sample(sorted(peptides), min(len(peptides), rng.randrange(1, 8)))
        binders = [(p, rng.choice(["HLA-A*02:01", "HLA-B*07:02"])) for p in chosen]
        best = chosen[0]
        length = rng.choice([10, 16, 25])
        long = vaccine.design_long_peptide(_effect(context, m_start, m_end), best, binders,
                                           length)
        assert (long.sequence, long.epitopes) == _reference_window(
            context, m_start, m_end, best, binders, length), case


def test_long_peptide_prefers_manufacturable_window():
    # Residue 10 (offset 9) mutated to K; only the best peptide is a binder.
    context = "ADKSGEPATKSLGDRNAQTE"
    best = context[8:15]  # 7 residues, fits in windows starting 5..8 (length 10)
    candidates = {s: context[s:s + 10] for s in range(5, 9)}
    expected = [s for s, seq in candidates.items() if assess(seq)["manufacturable"]]
    assert expected and expected != [5]  # the fixture must make the tie-break matter
    centre = 9.5
    expected.sort(key=lambda s: (abs(s + 5 - centre), s))
    long = vaccine.design_long_peptide(_effect(context, 9, 10), best, [(best, "A")], 10)
    assert long.start - 1 == expected[0]
    assert long.manufacturability["manufacturable"] is True


def test_long_peptide_of_deletion_spans_the_junction():
    # Pure deletion: junction before offset 20; the window keeps residues on both sides.
    context = KRAS_G12V
    long = vaccine.design_long_peptide(_effect(context, 20, 20), context[15:24], [], 10)
    first = long.start - 1
    assert first < 20 < first + 10
    assert context[15:24] in long.sequence
    assert long.mutation == (20 - first, 21 - first)


def test_short_context_gives_whole_context():
    long = vaccine.design_long_peptide(_effect("MTEYKLVVVGAVGVG", 11, 12), "VVGAVGVG", [], 25)
    assert long.sequence == "MTEYKLVVVGAVGVG"


# --------------------------------------------------------------------------- junctions


def _brute_junctions(left, linker, right, lengths):
    joined = left + linker + right
    out = []
    for k in lengths:
        for s in range(len(joined) - k + 1):
            inside_left = s + k <= len(left)
            inside_right = s >= len(left) + len(linker)
            if not inside_left and not inside_right:
                out.append(joined[s:s + k])
    return out


@pytest.mark.parametrize("linker", ["", "GPGPG", "AAY"])
def test_junction_peptides_span_the_joint(linker):
    left, right = "ACDEFGHIKLMN", "PQRSTVWYACDE"
    got = vaccine.junction_peptides(left, linker, right, [8, 9, 10, 11])
    assert got == _brute_junctions(left, linker, right, [8, 9, 10, 11])
    # k - 1 + len(linker) junction k-mers per length.
    assert len(got) == sum(k - 1 + len(linker) for k in (8, 9, 10, 11))


def test_best_order_finds_the_zero_cost_path_deterministically():
    n = 5
    cost = [[5] * n for _ in range(n)]
    for a, b in [(2, 0), (0, 4), (4, 3), (3, 1)]:
        cost[a][b] = 0
    order = vaccine.best_order(cost)
    assert order == [2, 0, 4, 3, 1]
    assert vaccine.best_order(cost) == order
    brute = min(vaccine.order_cost(list(p), cost) for p in itertools.permutations(range(n)))
    assert vaccine.order_cost(order, cost) == brute == 0


class MotifPredictor:
    """Fake predictor: 50 nM for a peptide containing ``motif``, 20000 nM otherwise."""

    def __init__(self, motif):
        self.motif = motif
        self.calls = []

    def affinity(self, peptides, alleles):
        self.calls.append(len(peptides))
        rows = [{"peptide": p, "allele": a,
                 "affinity_nm": 50.0 if self.motif and self.motif in p else 20000.0,
                 "percentile": 0.1 if self.motif and self.motif in p else 50.0}
                for a in alleles for p in peptides]
        return pd.DataFrame(rows, columns=["peptide", "allele", "affinity_nm", "percentile"])


def _segments(*sequences):
    return pd.DataFrame({"variant_id": [f"v{i}" for i in range(len(sequences))],
                         "gene_name": [f"G{i}" for i in range(len(sequences))],
                         "protein_change": "p.X1Y", "candidate_id": [f"c{i}" for i in
                                                                     range(len(sequences))],
                         "long_peptide": list(sequences)})


PARAMS = config.vaccine_params({})


def test_mrna_order_avoids_a_binding_junction():
    # seg0 ends in ...K and seg1 starts with W: only the 0->1 joint without linker makes "KW".
    seg0, seg1 = "ADEFGHILMNPQRSTK", "WYADEFGHILMNPQRS"
    order, junctions = vaccine.design_mrna(_segments(seg0, seg1), ["HLA-A*02:01"],
                                           MotifPredictor("KW"), PARAMS)
    assert list(order["variant_id"]) == ["v1", "v0"]
    assert list(order["linker_before"]) == ["NA", "none"]
    assert list(order["junction_binders_after"]) == [0, 0]
    assert junctions.empty


def test_mrna_uses_a_linker_when_both_orders_bind():
    # Both joints make "KW" without a linker; GPGPG (first linker tried) breaks it.
    seg0, seg1 = "WADEFGHILMNPQRSK", "WYADEFGHILMNPQRK"
    predictor = MotifPredictor("KW")
    order, junctions = vaccine.design_mrna(_segments(seg0, seg1), ["HLA-A*02:01"], predictor,
                                           PARAMS)
    assert list(order["variant_id"]) == ["v0", "v1"]  # tie: lower index first
    assert list(order["linker_before"]) == ["NA", "GPGPG"]
    assert junctions.empty
    # Later linkers are only tried for pairs that still bind: AAY was never needed.
    assert len(predictor.calls) == 2


def test_remaining_junction_binders_are_reported():
    seg0, seg1 = "ADEFGHILMNPQRSTV", "WYADEFGHILMNPQRS"
    alleles = ["HLA-A*02:01", "HLA-B*07:02"]
    # Every peptide binds: no linker helps (more k-mers), so none is used.
    order, junctions = vaccine.design_mrna(_segments(seg0, seg1), alleles, MotifPredictor("A"),
                                           {**PARAMS, "linkers": ["", "GPGPG"]})
    left, right = (seg0, seg1) if order.loc[0, "variant_id"] == "v0" else (seg1, seg0)
    expected = {p for p in _brute_junctions(left, "", right, [8, 9, 10, 11]) if "A" in p}
    assert set(junctions["junction_peptide"]) == expected
    assert len(junctions) == len(expected) * len(alleles)
    assert order.loc[0, "junction_binders_after"] == len(junctions)
    assert set(junctions["linker"]) == {"none"}


def test_params_validation():
    assert PARAMS["peptide_count"] == 20 and PARAMS["mrna_count"] == 34
    assert PARAMS["long_peptide_length"] == 25
    with pytest.raises(NeoRankError, match="linkers"):
        config.vaccine_params({"vaccine": {"linkers": ["GPG1"]}})
    with pytest.raises(NeoRankError, match="peptide_count"):
        config.vaccine_params({"vaccine": {"peptide_count": 0}})


# --------------------------------------------------------------------------- CLI


def _cli_inputs(tmp_path):
    """candidates.tsv, effects.tsv, alleles.json and params of a 3-variant design."""
    context2 = "MSDEKLRNGTPAYWHQVICFMSDEKLRNGTPAYWHQ"
    candidates = pd.DataFrame([
        _candidate(1, "v1", "KRAS", KRAS_G12V[4:13]),
        _candidate(2, "v1", "KRAS", KRAS_G12V[12:20], allele="HLA-B*07:02"),
        _candidate(3, "v2", "GENE2", context2[10:19]),
        _candidate(4, "v3", "KRAS", KRAS_G12V[8:17], transcripts="ENST3"),
    ])
    effects = pd.DataFrame([
        {**_effect(), "variant_id": "v1"},
        {"variant_id": "v2", "transcript_id": "ENST1", "context_start": 101,
         "mutant_context": context2, "mutation_start": 14, "mutation_end": 15},
        {**_effect(), "variant_id": "v3", "transcript_id": "ENST3"},
    ])
    write_tsv(candidates, tmp_path / "candidates.tsv")
    write_tsv(effects, tmp_path / "effects.tsv")
    (tmp_path / "alleles.json").write_text(json.dumps([
        {"input": "A*02:01", "allele": "HLA-A*02:01", "status": "supported"},
        {"input": "A*01:11N", "allele": None, "status": "null_skipped"}]))
    (tmp_path / "params.json").write_text(json.dumps(
        {"vaccine": {"peptide_count": 2, "mrna_count": 3, "long_peptide_length": 16}}))
    return argparse.Namespace(
        candidates=str(tmp_path / "candidates.tsv"), effects=str(tmp_path / "effects.tsv"),
        alleles_json=str(tmp_path / "alleles.json"), params=str(tmp_path / "params.json"),
        models="embedded", embedded_dir="unused", official_dir=None, cache=None, numerics="portable",
        out_peptides=str(tmp_path / "p.tsv"), out_mrna=str(tmp_path / "m.tsv"),
        out_junctions=str(tmp_path / "j.tsv"), out_long_peptides=str(tmp_path / "l.tsv"))


def test_cli_writes_designs(tmp_path):
    args = _cli_inputs(tmp_path)
    predictor = MotifPredictor("")
    assert vaccine.run(args, predictor=predictor) == 0
    peptides = read_tsv(tmp_path / "p.tsv")
    # Gene spread: v1 (KRAS), v2 (GENE2); v3 (second KRAS) only fills the mRNA slots.
    assert list(peptides["variant_id"]) == ["v1", "v2"]
    assert peptides.loc[0, "long_peptide"] == "KLVVVGAVGVGKSALT"
    assert peptides.loc[0, "n_binder_epitopes"] == 2
    assert peptides.loc[1, "long_peptide_start"] >= 101
    assert list(read_tsv(tmp_path / "l.tsv")["variant_id"]) == ["v1", "v2", "v3"]
    mrna = read_tsv(tmp_path / "m.tsv")
    assert sorted(mrna["variant_id"]) == ["v1", "v2", "v3"]
    assert read_tsv(tmp_path / "j.tsv").empty
    # Only expressed alleles are predicted (the null allele is skipped).
    assert predictor.calls and all(n > 0 for n in predictor.calls)
    first = (tmp_path / "m.tsv").read_bytes()
    vaccine.run(args, predictor=MotifPredictor(""))
    assert (tmp_path / "m.tsv").read_bytes() == first


def test_real_junction_binder_is_found_and_avoided_with_embedded_models():
    """GILGFVFTL (influenza M1) binds HLA-A*02:01 strongly; a joint that recreates it."""
    from pathlib import Path

    from neorank.models import load_predictor

    predictor = load_predictor("embedded", Path(__file__).resolve().parents[2] / "resources"
                               / "mhcflurry" / "embedded")
    assert predictor.affinity(["GILGFVFTL"], ["HLA-A*02:01"])["affinity_nm"].iloc[0] <= 500
    # Each segment starts with VFTL and ends with GILGF: either order recreates GILGFVFTL.
    segments = _segments("VFTLKDSEKRNQDEGGILGF", "VFTLRKESDNQKEDRGILGF")
    order, junctions = vaccine.design_mrna(segments, ["HLA-A*02:01"], predictor,
                                           {**PARAMS, "linkers": [""]})
    assert "GILGFVFTL" in set(junctions["junction_peptide"])
    assert order.loc[0, "junction_binders_after"] == len(junctions) > 0
    # Linkers make junctions of their own: with these segments GPGPG creates
    # ILGFGPGPGV and GGSGG ILGFGGSGGV (both predicted under 500 nM for A*02:01 by
    # the embedded models). Given the choice, the design takes the linker that leaves
    # the fewest junctional binders (KK here: one, ILGFKKVFTL, against 2-4 for the
    # others) and reports the ones it could not avoid.
    left = {}
    for linker in ("", "GPGPG", "GGSGG", "KK"):
        _, junctions = vaccine.design_mrna(segments, ["HLA-A*02:01"], predictor,
                                           {**PARAMS, "linkers": [linker]})
        left[linker] = set(junctions["junction_peptide"])
    assert "ILGFGPGPGV" in left["GPGPG"] and "ILGFGGSGGV" in left["GGSGG"]
    fewest = min(left, key=lambda linker: len(left[linker]))
    assert all(len(left[fewest]) < len(v) for k, v in left.items() if k != fewest)
    order, junctions = vaccine.design_mrna(segments, ["HLA-A*02:01"], predictor,
                                           {**PARAMS, "linkers": ["", "GPGPG", "GGSGG", "KK"]})
    assert order.loc[1, "linker_before"] == fewest == "KK"
    assert set(junctions["junction_peptide"]) == left["KK"]
    assert (junctions["affinity_nm"] <= 500).all()
    assert list(order["junction_binders_after"]) == [len(junctions), 0]


def test_effect_lookup_prefers_the_peptides_transcripts():
    effects = [
        {**_effect(), "variant_id": "v1", "transcript_id": "ENST2"},
        {**_effect(), "variant_id": "v1", "transcript_id": "ENST1"},
    ]
    assert vaccine._effect_for(effects, "v1", "ENST2", "KLVVVGAVG")["transcript_id"] == "ENST2"
    # No transcript listed (or none known): the first by transcript id that has the peptide.
    assert vaccine._effect_for(effects, "v1", "ENST9", "KLVVVGAVG")["transcript_id"] == "ENST1"
    with pytest.raises(vaccine.InputFileError, match="no effect of v1 has a mutant context"):
        vaccine._effect_for(effects, "v1", "ENST1", "WWWWWWWWW")


def test_small_blocks_give_the_same_design(tmp_path):
    args = _cli_inputs(tmp_path)
    candidates = read_tsv(args.candidates)
    # Non-binder rows between the binders and a tier column (v1's best row is not Pass).
    extra = pd.DataFrame([_candidate(r, v, g, p, binder=False) for r, v, g, p in [
        (5, "v1", "KRAS", "AAAAAAAAA"), (6, "v4", "GENE4", "CCCCCCCCC"),
        (7, "v2", "GENE2", "DDDDDDDDD")]])
    candidates = pd.concat([candidates, extra]).sort_values("rank", kind="mergesort")
    candidates["tier"] = ["Subclonal", "Pass", "Pass", "Pass", "Poor", "Poor", "Poor"]
    write_tsv(candidates, args.candidates)
    whole = vaccine.rank_pool(read_tsv(args.candidates))
    assert list(whole["candidate_id"]) == ["PT-002", "PT-003", "PT-004", "PT-001"]
    outputs = {}
    for chunk_rows in (100, 3, 1):
        pd.testing.assert_frame_equal(vaccine.read_pool(args.candidates, chunk_rows=chunk_rows),
                                      whole)
        folder = tmp_path / f"blocks{chunk_rows}"
        folder.mkdir()
        run_args = argparse.Namespace(**{**vars(args), **{
            name: str(folder / f"{name}.tsv") for name in
            ("out_peptides", "out_mrna", "out_junctions", "out_long_peptides")}})
        assert vaccine.run(run_args, predictor=MotifPredictor("KL"), chunk_rows=chunk_rows) == 0
        outputs[chunk_rows] = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(outputs[100]) == 4
    assert outputs[3] == outputs[100] and outputs[1] == outputs[100]


def test_table_blocks_keep_the_types_of_a_whole_read(tmp_path):
    # Per block, pandas would read mutation_positions "5" as a number, an all-NA
    # wildtype_peptide as float, tumor_depth without NA as int and binder as bool.
    path = tmp_path / "candidates.tsv"
    path.write_text(
        "candidate_id\tmutation_positions\twildtype_peptide\ttumor_depth\tbinder\tscore\n"
        "c1\t5\tNA\t30\tTrue\t0.5\n"
        "c2\t7\tNA\t1234567\tFalse\t0.25\n"
        "c3\t5;6\tKLVVVGAVG\tNA\tNA\t0.125\n"
        "c4\t2\tSIINFEKL\t40\tTrue\tNA\n"
        "c5\t3\tNA\t50\tTrue\t1e+06\n")
    whole = read_tsv(path)
    assert str(whole["mutation_positions"].dtype) == "str"
    for chunk_rows in (1, 2, 3, 10):
        blocks = tables.TableBlocks(path, chunk_rows=chunk_rows)
        parts = list(blocks)
        assert blocks.rows == 5 and len(parts) == -(-5 // chunk_rows)
        pd.testing.assert_frame_equal(blocks.concat(parts), whole)
        kept = blocks.concat([b.loc[b["score"] < 1] for b in parts])
        pd.testing.assert_frame_equal(kept, whole.loc[whole["score"] < 1])
        assert kept.loc[0, "mutation_positions"] == "5"
    columns = tables.TableBlocks(path, ["binder", "candidate_id", "absent"], chunk_rows=2)
    assert columns.columns == ["candidate_id", "binder"]
    pd.testing.assert_frame_equal(columns.concat(list(columns)),
                                  whole[["candidate_id", "binder"]])
    assert list(columns.concat([]).columns) == ["candidate_id", "binder"]
    with pytest.raises(vaccine.InputFileError, match="file not found"):
        tables.TableBlocks(tmp_path / "absent.tsv")
