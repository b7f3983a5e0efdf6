"""neorank.ranking: the composite score keeps the binding signal (strictly monotone in
IC50, no ties at the printed precision), anchor tables, tier reasons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neorank import config, ranking
from neorank.errors import NeoRankError
from neorank.io import tsv_text


def _frame(ic50: np.ndarray, **fixed) -> pd.DataFrame:
    frame = pd.DataFrame({"mutant_affinity_nm": ic50})
    for column, value in fixed.items():
        frame[column] = value
    return frame


#: Other inputs fixed: every component assessed (the largest total weight, 2.5, so the
#: smallest binding share of the score), and binding alone.
ALL_COMPONENTS = {"tumor_vaf": 0.4, "wildtype_affinity_nm": 800.0, "presentation_score": 0.5,
                  "gene_tpm": 12.0}


def _printed(score: np.ndarray) -> np.ndarray:
    """The scores as candidates.tsv prints them (%.6g after rounding to 6 decimals)."""
    text = tsv_text(pd.DataFrame({"score": score}), header=False)
    return np.array([float(v) for v in text.split()])


def _strictly_decreasing(values: np.ndarray) -> bool:
    return bool(np.all(np.diff(values) < 0))


@pytest.mark.parametrize("fixed", [ALL_COMPONENTS, {}], ids=["all-components", "binding-only"])
def test_score_strictly_decreasing_in_ic50_without_ties(fixed):
    """IC50 swept from 1 to 50,000 nM (MHCflurry's whole output range) in steps of 0.02%,
    and in steps of 1 nM up to 5,000 nM: every printed score differs from the next."""
    params = config.ranking_params({})
    geometric = np.geomspace(1.0, 50000.0, int(math.log(50000.0) / math.log(1.0002)) + 1)
    assert geometric[0] == 1.0 and geometric[-1] == 50000.0 and len(geometric) > 54_000
    assert (geometric[1:] / geometric[:-1]).min() >= 1.0002
    for sweep in (geometric, np.arange(1.0, 5001.0)):
        score, components = ranking.score_rows(_frame(sweep, **fixed), params)
        expected = "binding;vaf;dissimilarity;presentation;expression" if fixed else "binding"
        assert set(components) == {expected}
        printed = _printed(score)
        assert _strictly_decreasing(printed), sweep[np.flatnonzero(np.diff(printed) >= 0)][:5]
        assert len(np.unique(printed)) == len(sweep)


def test_the_sweep_detects_the_old_ties():
    """The same sweep on Vaxrank's logistic alone (the score before) has ties from
    about 2,500 nM on: the test above would fail on it."""
    ranking_section = config.ranking_params({})["ranking"]
    sweep = np.arange(1.0, 5001.0)
    old = np.round(ranking.logistic_affinity(sweep, ranking_section["affinity_midpoint_nm"],
                                             ranking_section["affinity_width_nm"],
                                             ranking_section["affinity_cutoff_nm"]), 6)
    assert not _strictly_decreasing(_printed(old))
    assert sweep[np.flatnonzero(np.diff(old) == 0)[0]] < 3000


def test_score_strictly_increasing_in_the_other_components():
    params = config.ranking_params({})
    base = dict(ALL_COMPONENTS)
    for column, values in [("tumor_vaf", np.linspace(0.01, 1.0, 100)),
                           ("wildtype_affinity_nm", np.geomspace(1.0, 50000.0, 400)),
                           ("presentation_score", np.linspace(0.0, 1.0, 100)),
                           ("gene_tpm", np.geomspace(0.1, 1000.0, 100))]:
        fixed = {k: v for k, v in base.items() if k != column}
        frame = _frame(np.full(len(values), 300.0), **fixed)
        frame[column] = values
        score, _ = ranking.score_rows(frame, params)
        assert np.all(np.diff(score) > 0), column


@pytest.mark.parametrize("share", [0.05, 0.5, 1.0])
def test_every_log_share_is_strictly_monotone(share):
    params = config.ranking_params({"ranking": {"affinity_log_share": share}})
    sweep = np.geomspace(1.0, 50000.0, 20000)
    values = ranking.binding_score(sweep, params["ranking"])
    assert _strictly_decreasing(values)
    assert values[-1] == 0.0 and 0 < values[0] <= 1.0


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, "0.2", None, True])
def test_log_share_must_be_in_zero_one(bad):
    params = config.ranking_params({"ranking": {"affinity_log_share": bad}})
    with pytest.raises(NeoRankError, match="affinity_log_share"):
        ranking.check_params(params)


def test_binding_score_formula():
    params = config.ranking_params({})["ranking"]
    for ic50 in (1.0, 50.0, 350.0, 500.0, 4999.0, 5000.0, 49999.0):
        logistic = 0.0 if ic50 >= 5000 else 1 / (1 + math.exp((ic50 - 350) / 150))
        expected = 0.8 * logistic + 0.2 * (1 - math.log(ic50) / math.log(50000))
        assert ranking.binding_score([ic50], params)[0] == pytest.approx(expected, abs=1e-12)
    # the documented values (docs/scoring.md)
    assert np.round(ranking.binding_score([50.0, 350.0, 500.0, 5000.0], params), 6).tolist() \
        == [0.832325, 0.491718, 0.300278, 0.042563]
    assert np.isnan(ranking.binding_score([np.nan], params)[0])


def test_anchor_table_and_positions():
    ranking_section = config.ranking_params({})["ranking"]
    table = ranking.anchor_table(ranking_section)
    assert ranking.anchor_positions("HLA-A*02:01", 9, table) == {2, 9}
    assert ranking.anchor_positions("HLA-A*02:01", 11, table) == {2, 11}
    assert ranking.anchor_positions("HLA-B*08:01", 9, table) == {3, 5, 9}
    assert ranking.anchor_positions("HLA-A*01:01", 10, table) == {3, 10}
    override = dict(ranking_section, anchor_positions=["A*02:01 = 1, 2, -2, -1",
                                                       "default=2"])
    table = ranking.anchor_table(override)
    assert ranking.anchor_positions("HLA-A*02:01", 9, table) == {1, 2, 8, 9}
    assert ranking.anchor_positions("HLA-C*07:01", 9, table) == {2}
    assert ranking.anchor_positions("HLA-B*08:01", 8, table) == {3, 5, 8}


def _evidence(**columns) -> pd.DataFrame:
    base = {"binder": [True], "mutant_affinity_nm": [120.0], "mutant_percentile": [0.4],
            "wildtype_affinity_nm": [90.0], "mutant_peptide": ["SFMLRAVSF"],
            "wildtype_peptide": ["SFMLRAVSI"], "allele": ["HLA-B*08:01"],
            "mutation_positions": ["9"]}
    base.update(columns)
    return pd.DataFrame(base)


def test_anchor_criterion_cases():
    params = config.ranking_params({})
    assess = ranking.assess_criteria
    assert assess(_evidence(), params).loc[0, "tier"] == "Anchor"
    # the wildtype binds worse: the anchor change improves binding -> pass
    assert assess(_evidence(wildtype_affinity_nm=[121.0]), params).loc[0, "pass_anchor"] \
        == "pass"
    # P2 is not an anchor of B*08:01, but of A*02:01
    p2 = dict(mutant_peptide=["SLMLRAVSI"], mutation_positions=["2"])
    assert assess(_evidence(**p2), params).loc[0, "pass_anchor"] == "pass"
    assert assess(_evidence(**p2, allele=["HLA-A*02:01"]), params).loc[0, "pass_anchor"] \
        == "fail"
    # a second, non-anchor change -> pass; a wildtype of another length -> not assessed
    two = dict(mutant_peptide=["SFMLKAVSF"], mutation_positions=["5;9"], allele=["HLA-A*02:01"])
    assert assess(_evidence(**two), params).loc[0, "pass_anchor"] == "pass"
    assert assess(_evidence(wildtype_peptide=["SFMLRAVSIK"]), params).loc[0, "pass_anchor"] \
        == "not_assessed"
    assert assess(_evidence(wildtype_affinity_nm=[np.nan], wildtype_peptide=[None]),
                  params).loc[0, "pass_anchor"] == "not_assessed"
    # a non-binder failing the anchor rule fails two families
    assert assess(_evidence(binder=[False]), params).loc[0, "tier"] == "Poor"


def test_tier_reasons_name_each_failed_criterion():
    params = config.ranking_params({})
    frame = _evidence(binder=[False], mutant_affinity_nm=[812.4], mutant_percentile=[3.14],
                      evidence=["predicted_splice"], rna_alt_reads=[1.0], gene_tpm=[0.4],
                      clonality=["subclonal"], tumor_vaf=[0.12], self_match=[True])
    out = ranking.assess_criteria(frame, params)
    reason = out.loc[0, "tier_reason"]
    assert out.loc[0, "tier"] == "Poor"
    for text in ("several criterion families fail", "not a binder: IC50 812.4 nM > 500 nM, "
                 "percentile 3.14 > 2", "anchor position(s) 9 of HLA-B*08:01",
                 "predicted splice outcome without RNA support: 1 tumor RNA read(s)",
                 "occurs in the reference proteome", "expression 0.4 TPM < 1",
                 "subclonal (VAF 0.12)"):
        assert text in reason, text
    # Pass: which criteria were not assessed
    passing = ranking.assess_criteria(_evidence(wildtype_affinity_nm=[500.0],
                                                evidence=["dna"]), params)
    assert passing.loc[0, "tier"] == "Pass"
    assert passing.loc[0, "tier_reason"] == (
        "every assessed criterion passes (not assessed: presentation, agretopicity, "
        "clonality, expression, rna_support, self_match)")
    assert list(ranking.TIERS) == ["Pass", "Anchor", "SpliceUnconfirmed", "WeakBinder",
                                   "SelfSimilar", "LowExpression", "Subclonal", "Poor"]
