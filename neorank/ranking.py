"""Ranking rules shared by ``neorank rank`` and ``neorank score``: per-criterion verdicts,
tiers, their reasons and the composite score.

A layer below both stages (:mod:`neorank.rank` ranks predictions.tsv,
:mod:`neorank.score` scores peptides made elsewhere). Rows carry evidence
columns (``binder`` and ``agretopicity`` are defined in :mod:`neorank.rank`);
evidence that is missing is **not assessed** (``NA`` / ``not_assessed``), never
imputed. The formula, the weights and why are in ``docs/scoring.md``.

Criteria (``pass_<criterion>``: ``pass`` / ``fail`` / ``not_assessed``)
-----------------------------------------------------------------------
``binding``
    pass when ``binder``. Always assessed.
``presentation``
    pass when ``presentation_percentile <= ranking.max_presentation_percentile``
    (2.0). Official MHCflurry models only; not assessed with the embedded
    (affinity-only) models.
``agretopicity``
    pass when the wildtype does not bind (``wildtype_affinity_nm >
    binding.max_affinity_nm``) or ``agretopicity <= ranking.max_agretopicity``
    (0.5: the mutant binds at least twice as well). Not assessed without a
    wildtype peptide. *Informational*: it does not change the tier.
``clonality``
    pass when the variant is clonal (:mod:`neorank.clonality`: VAF >= purity x
    ``ranking.clonal_vaf_fraction`` (0.5), or CCF >= ``ranking.clonal_min_ccf``
    (0.8) when a copy number is given). Not assessed without purity or VAF.
``expression``
    pass when the expression TPM >= ``ranking.min_expression_tpm`` (1.0). The
    TPM is ``transcript_tpm`` (best transcript producing the peptide) when the
    table is transcript-level and has it, else ``gene_tpm``. Not assessed
    without a table or when the table lacks the gene/transcript.
``rna_support``
    pass when the tumor RNA BAM has >= ``ranking.min_rna_alt_reads`` (2) reads
    with the variant allele (``rna_alt_reads``; zero coverage fails). Not
    assessed without a BAM or when the BAM lacks the contig.
``self_match``
    pass when ``self_match`` is False (the mutant peptide does not occur in the
    reference proteome), fail when True; not assessed when the peptides table
    has no ``self_match`` column.
``anchor``
    fail when every mutated position (``mutation_positions``) is an anchor
    position of the allele (:data:`ALLELE_ANCHORS`, else :data:`DEFAULT_ANCHORS`;
    ``ranking.anchor_positions`` overrides) **and** the wildtype binds at least
    as well (``wildtype_affinity_nm <= mutant_affinity_nm``): the T-cell-facing
    residues are the wildtype's and the wildtype is presented as well, so T cells
    are likely tolerant (the idea of pVACseq's ``Anchor`` tier, which asks the
    wildtype to be a binder). Pass otherwise. Not assessed
    without a wildtype prediction, without ``mutation_positions``, when the
    wildtype peptide is not aligned residue by residue (indels), or with
    ``ranking.anchor_tier: false``.
``splice_support``
    for peptides of a predicted splice outcome (``evidence`` ``predicted_splice``,
    :mod:`neorank.annotate.effects`): pass when ``rna_support`` passes, fail
    otherwise (no RNA BAM, or too few RNA reads). Pass for DNA-certain peptides
    (``evidence`` ``dna``). Not assessed without an ``evidence`` value or with
    ``ranking.require_rna_for_splice: false``.

Tier
----
Failed criteria are grouped into families, and the tier names the failing
family (pVACseq-style: one reason per tier, ``Poor`` for several). Tiers in
order (:data:`TIERS`, best first): ``Pass``, ``Anchor``, ``SpliceUnconfirmed``,
``WeakBinder``, ``SelfSimilar``, ``LowExpression``, ``Subclonal``, ``Poor``.

=================  ==============================  =====================
family             criteria                        tier when it alone fails
=================  ==============================  =====================
anchor             anchor                          ``Anchor``
splice             splice_support                  ``SpliceUnconfirmed``
binding            binding, presentation           ``WeakBinder``
self-similarity    self_match                      ``SelfSimilar``
expression         expression, rna_support         ``LowExpression``
clonality          clonality                       ``Subclonal``
=================  ==============================  =====================

``Pass`` when no family fails (not-assessed criteria never fail a row), the
family's tier when exactly one fails, ``Poor`` when two or more fail.
``tier_reason`` says why, naming each failed criterion with its values (or, for
``Pass``, which criteria were not assessed). The tier does not change the order
of candidates.tsv (:mod:`neorank.rank`); it is what the aggregate report and
``vaccine.pass_only`` read.

Composite score
---------------
``score`` is in [0, 1], higher is better::

    score = sum(w_c * s_c) / sum(w_c)

summed over the components ``c`` that are *assessed* for the row and have a
weight ``w_c > 0`` (``ranking.weights``; defaults binding 1.0, vaf 0.5,
dissimilarity 0.25, presentation 0.5, expression 0.25). The components are:

``binding``
    ``s = B(mutant_affinity_nm)``. Mandatory: a row without a mutant affinity
    is an input error.
``vaf``
    ``s = tumor_vaf`` clipped to [0, 1] (from variants.tsv, joined on
    ``variant_id``). Clonal, well-supported variants score higher.
``dissimilarity``
    ``s = 1 - B(wildtype_affinity_nm)``. A wildtype peptide that also binds is
    likely presented in normal tissue and its T cells tolerised, so a
    non-binding wildtype scores higher.
``presentation``
    ``s = presentation_score`` (MHCflurry presentation, 0-1; official models).
``expression``
    ``s = TPM / (TPM + ranking.expression_half_tpm)`` (10 TPM scores 0.5),
    with the TPM of the ``expression`` criterion.

with the binding score (:func:`binding_score`)::

    B(ic50) = (1 - a) * L(ic50) + a * G(ic50)
    L(ic50) = 1 / (1 + exp((ic50 - midpoint) / width))  for ic50 < cutoff, else 0
    G(ic50) = 1 - ln(ic50) / ln(50000)                  clipped to [0, 1]

``L`` is Vaxrank's logistic epitope score (``midpoint`` 350 nM, ``width`` 150 nM,
``cutoff`` 5000 nM: ``ranking.affinity_*``), which separates binders sharply but
is flat (0 at 6 decimals) above about 2,500 nM; ``G`` is MHCflurry's own
regression target (log IC50, proportional to binding free energy), strictly
decreasing over MHCflurry's whole output range (1 to 50,000 nM), with the share
``a = ranking.affinity_log_share`` (0.2). So B(50 nM) = 0.832325,
B(350 nM) = 0.491718, B(500 nM) = 0.300278, B(5000 nM) = 0.042563 and
B(50000 nM) = 0: the score is strictly monotone in IC50, and two IC50s more than
0.014% apart never get the same printed score (docs/scoring.md).

Missing evidence is **not imputed**. A component whose input is ``NA``
(no tumor VAF from the caller; no wildtype peptide, e.g. most frameshift
peptides) is "not assessed": it is dropped and the remaining weights are
renormalised. ``score_components`` lists the components used, in the fixed
order ``binding;vaf;dissimilarity;presentation;expression``. Because of the
renormalisation, scores are most comparable between rows with the same
``score_components``. The score is rounded to 6 decimals
(:data:`SCORE_DECIMALS`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from neorank.alleles import normalize
from neorank.config import COMPONENTS
from neorank.errors import NeoRankError
from neorank.io import float_texts

#: Criteria in their fixed column order (``pass_<criterion>``); ``anchor`` and
#: ``splice_support`` were added last so older columns keep their places.
CRITERIA = ("binding", "presentation", "agretopicity", "clonality", "expression",
            "rna_support", "self_match", "anchor", "splice_support")
PASS, FAIL, NOT_ASSESSED = "pass", "fail", "not_assessed"
#: Criterion families and the tier a row gets when only that family fails, in
#: tier order; ``agretopicity`` is informational (no family).
TIER_FAMILIES = (
    ("Anchor", ("anchor",)),
    ("SpliceUnconfirmed", ("splice_support",)),
    ("WeakBinder", ("binding", "presentation")),
    ("SelfSimilar", ("self_match",)),
    ("LowExpression", ("expression", "rna_support")),
    ("Subclonal", ("clonality",)),
)
#: Tiers, best first. ``Anchor`` right after ``Pass`` (a binder that only fails the
#: anchor rule, pVACseq's ``Anchor`` tier), then ``SpliceUnconfirmed`` (a binder whose
#: protein is a prediction), then the families of the earlier tiers.
TIERS = ("Pass", "Anchor", "SpliceUnconfirmed", "WeakBinder", "SelfSimilar", "LowExpression",
         "Subclonal", "Poor")
SCORE_DECIMALS = 6

#: MHCflurry's affinity cap (nM): its predictions lie in (1, 50000), and
#: ``1 - ln(ic50) / ln(50000)`` is its regression target (mhcflurry.regression_target).
MAX_IC50 = 50000.0

#: ``evidence`` values of peptides.tsv (written by :mod:`neorank.annotate.effects`).
EVIDENCE_DNA, EVIDENCE_SPLICE = "dna", "predicted_splice"

#: Anchor positions used when an allele has no entry in :data:`ALLELE_ANCHORS`:
#: P2 and the C-terminal residue (PΩ), 1-based, negative = from the C-terminus.
#: Source: Falk K, Rötzschke O, Stevanović S, Jung G, Rammensee H-G. Allele-specific
#: motifs revealed by sequencing of self-peptides eluted from MHC molecules. Nature
#: 1991;351:290-296 (the B and F pockets hold P2 and PΩ for most class I alleles).
DEFAULT_ANCHORS: tuple[int, ...] = (2, -1)
#: Allele-specific exceptions (kept small; each cited):
#:
#: * HLA-A*01:01: P3 (D/E) and PΩ (Y). "A comprehensive analysis of peptides presented
#:   by HLA-A1", Tissue Antigens 2015;85(6):492-496, doi:10.1111/tan.12565 (4,735
#:   eluted ligands: the canonical motif is an acidic P3 and a C-terminal Y).
#: * HLA-B*08:01: P3 and P5 (K/R) and PΩ (L). Arnett KL, Huang W, Valiante NM,
#:   Barber LD, Parham P. Immunogenetics 1998;48(1):56-61, doi:10.1007/s002510050400
#:   ("HLA-B*0801 is unique among HLA-B allotypes in having dominant amino acid
#:   anchors at positions 3 and 5"; the C-terminus binds the F pocket).
ALLELE_ANCHORS: dict[str, tuple[int, ...]] = {
    "HLA-A*01:01": (3, -1),
    "HLA-B*08:01": (3, 5, -1),
}


# --------------------------------------------------------------------------- parameters


def check_params(params: dict[str, Any], where: str = "params") -> None:
    """Check the ranking keys this module reads beyond :func:`neorank.config.ranking_params`
    (``affinity_log_share``, ``anchor_tier``, ``anchor_positions``,
    ``require_rna_for_splice``); all problems in one :class:`NeoRankError`."""
    ranking = params["ranking"]
    problems = []
    share = ranking.get("affinity_log_share")
    if isinstance(share, bool) or not isinstance(share, (int, float)) \
            or not (math.isfinite(share) and 0 < share <= 1):
        problems.append(f"ranking.affinity_log_share = {share!r} is not a number in (0, 1] "
                        "(0 would make every IC50 above ~2,500 nM tie)")
    for key in ("anchor_tier", "require_rna_for_splice"):
        if not isinstance(ranking.get(key), bool):
            problems.append(f"ranking.{key} = {ranking.get(key)!r} is not true/false")
    try:
        anchor_table(ranking)
    except NeoRankError as err:
        problems.append(err.problem)
    if problems:
        raise NeoRankError("; ".join(problems), where=where,
                           fix="see config/README.md (ranking) and docs/scoring.md")


def anchor_table(ranking: dict[str, Any]) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]]]:
    """``(default, {allele: positions})``: :data:`DEFAULT_ANCHORS` and
    :data:`ALLELE_ANCHORS` with ``ranking.anchor_positions`` applied.

    Each override is ``"ALLELE=P,P,..."`` (positions 1-based from the N-terminus,
    negative from the C-terminus: ``-1`` is PΩ); ``"default=..."`` replaces the
    default. Alleles are normalised (``B*08:01`` = ``HLA-B*08:01``).
    """
    entries = ranking.get("anchor_positions") or []
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        raise NeoRankError(f"ranking.anchor_positions = {entries!r} is not a list",
                           fix='write e.g. ["HLA-B*08:01=3,5,-1"]')
    default, table = DEFAULT_ANCHORS, dict(ALLELE_ANCHORS)
    for entry in entries:
        name, _, spec = str(entry).partition("=")
        name = name.strip()
        try:
            positions = tuple(sorted({int(p) for p in spec.split(",")}))
        except ValueError:
            positions = ()
        if not name or not positions or 0 in positions:
            raise NeoRankError(f"ranking.anchor_positions entry {entry!r} is not "
                               "ALLELE=POSITIONS (e.g. HLA-B*08:01=3,5,-1; no position 0)",
                               fix='write e.g. ["HLA-B*08:01=3,5,-1", "default=2,-1"]')
        if name.lower() == "default":
            default = positions
            continue
        try:
            allele, _ = normalize(name, where="ranking.anchor_positions")
        except NeoRankError as err:
            raise NeoRankError(f"ranking.anchor_positions entry {entry!r}: {err.problem}",
                               fix="give a class I allele, e.g. HLA-B*08:01") from err
        table[allele] = positions
    return default, table


def anchor_positions(allele: str, length: int,
                     table: tuple[tuple[int, ...], dict[str, tuple[int, ...]]] | None = None
                     ) -> frozenset[int]:
    """1-based anchor positions of a peptide of ``length`` residues on ``allele``."""
    default, alleles = table or (DEFAULT_ANCHORS, ALLELE_ANCHORS)
    positions = alleles.get(allele, default)
    return frozenset(p if p > 0 else length + 1 + p for p in positions
                     if 1 <= (p if p > 0 else length + 1 + p) <= length)


# --------------------------------------------------------------------------- score


def logistic_affinity(ic50: Any, midpoint: float = 350.0, width: float = 150.0,
                      cutoff: float = 5000.0) -> np.ndarray:
    """Vaxrank's logistic epitope score of IC50 values (vectorised).

    Parameters
    ----------
    ic50
        IC50 values in nM (array-like; NaN stays NaN).
    midpoint, width
        ``L = 1 / (1 + exp((ic50 - midpoint) / width))``.
    cutoff
        IC50 at or above which the score is exactly 0.

    Returns
    -------
    numpy.ndarray
        Scores in [0, 1] (NaN where the input is NaN).
    """
    values = np.asarray(ic50, dtype=float)
    with np.errstate(over="ignore"):
        scores = 1.0 / (1.0 + np.exp((values - midpoint) / width))
    return np.where(values >= cutoff, 0.0, scores)


def log_affinity(ic50: Any, max_ic50: float = MAX_IC50) -> np.ndarray:
    """``1 - ln(ic50) / ln(max_ic50)`` clipped to [0, 1] (MHCflurry's regression target).

    Strictly decreasing from 1 nM (1.0) to ``max_ic50`` (0.0); NaN stays NaN.
    """
    values = np.asarray(ic50, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1.0 - np.log(np.maximum(values, 1.0)) / math.log(max_ic50)
    return np.where(np.isnan(values), np.nan, np.clip(scores, 0.0, 1.0))


def binding_score(ic50: Any, ranking: dict[str, Any]) -> np.ndarray:
    """The binding score ``B`` of the module docstring:
    ``(1 - a) * logistic_affinity + a * log_affinity`` with ``a = affinity_log_share``."""
    share = float(ranking["affinity_log_share"])
    logistic = logistic_affinity(ic50, ranking["affinity_midpoint_nm"],
                                 ranking["affinity_width_nm"], ranking["affinity_cutoff_nm"])
    return (1.0 - share) * logistic + share * log_affinity(ic50)


def _status(assessed: np.ndarray, passed: np.ndarray) -> np.ndarray:
    """``pass``/``fail`` where assessed, ``not_assessed`` elsewhere."""
    return np.where(assessed, np.where(passed, PASS, FAIL), NOT_ASSESSED).astype(object)


def expression_tpm(frame: pd.DataFrame) -> np.ndarray:
    """TPM used by the expression criterion and score: transcript TPM, else gene TPM."""
    transcript = pd.to_numeric(frame.get("transcript_tpm", pd.Series(np.nan, index=frame.index)),
                               errors="coerce").to_numpy(dtype=float)
    gene = pd.to_numeric(frame.get("gene_tpm", pd.Series(np.nan, index=frame.index)),
                         errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(transcript), gene, transcript)


def _float_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def score_rows(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Composite score and ``score_components`` of rows that carry the evidence columns.

    ``frame`` needs ``mutant_affinity_nm`` and may have ``tumor_vaf``,
    ``wildtype_affinity_nm``, ``presentation_score``, ``gene_tpm`` and
    ``transcript_tpm`` (missing columns = not assessed).
    """
    ranking = params["ranking"]
    tpm = expression_tpm(frame)
    values = {
        "binding": binding_score(_float_column(frame, "mutant_affinity_nm"), ranking),
        "vaf": np.clip(_float_column(frame, "tumor_vaf"), 0.0, 1.0),
        "dissimilarity": 1.0 - binding_score(_float_column(frame, "wildtype_affinity_nm"),
                                             ranking),
        "presentation": np.clip(_float_column(frame, "presentation_score"), 0.0, 1.0),
        "expression": tpm / (tpm + ranking["expression_half_tpm"]),
    }
    weights = ranking["weights"]
    numerator = np.zeros(len(frame))
    denominator = np.zeros(len(frame))
    names = [name for name in COMPONENTS if weights[name] > 0]
    used = np.zeros((len(frame), len(names)), dtype=bool)
    for column, name in enumerate(names):
        assessed = ~np.isnan(values[name])
        numerator += np.where(assessed, weights[name] * np.nan_to_num(values[name]), 0.0)
        denominator += np.where(assessed, weights[name], 0.0)
        used[:, column] = assessed
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.round(numerator / denominator, SCORE_DECIMALS)
    # the components' names per pattern of assessed components (a bit per component)
    patterns = _bit_patterns(used)
    texts = np.empty(1 << len(names), dtype=object)
    for pattern in np.unique(patterns).tolist():
        texts[pattern] = ";".join(n for i, n in enumerate(names) if pattern >> i & 1)
    return score, texts[patterns].tolist()


def _bit_patterns(flags: np.ndarray) -> np.ndarray:
    """Each row of a boolean matrix as an integer, column ``i`` as bit ``i``."""
    return flags.astype(np.int64) @ (np.int64(1) << np.arange(flags.shape[1], dtype=np.int64))


# --------------------------------------------------------------------------- criteria


def parse_positions(value: Any) -> tuple[int, ...] | None:
    """``"2;5"`` -> ``(2, 5)``; ``None`` for a missing or unreadable value."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        positions = tuple(int(float(p)) for p in str(value).split(";") if p.strip())
    except ValueError:
        return None
    return positions or None


def _text_list(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as a Python list, missing cells as ``None`` (fast for Arrow strings)."""
    if column not in frame.columns:
        return [None] * len(frame)
    values = frame[column]
    return values.astype(object).where(values.notna(), None).tolist()


def _codes(columns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, the first row of each code) of a frame's rows, codes in order of
    first appearance; a missing value is a value of its own."""
    if not len(columns):
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    codes = columns.groupby(list(columns.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = np.empty(codes.max() + 1, dtype=np.intp)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def _anchor_rows(frame: pd.DataFrame, ranking: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, ...] | None], np.ndarray]:
    """(assessed, anchor-only with a wildtype binding as well, the distinct mutated
    positions, the index into them per row).

    The alignment check is made once per distinct (peptide, wildtype, positions), on
    all of them at once (residues as code points), and the anchor check once per
    distinct (positions, allele, length): a peptide comes back once per allele, and
    positions repeat across peptides.
    """
    n = len(frame)
    assessed = np.zeros(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    needed = ("mutation_positions", "mutant_peptide", "allele")
    if not ranking["anchor_tier"] or any(c not in frame.columns for c in needed):
        return assessed, failed, [None], np.zeros(n, dtype=np.int64)
    table = anchor_table(ranking)
    mutant_nm = _float_column(frame, "mutant_affinity_nm")
    wildtype_nm = _float_column(frame, "wildtype_affinity_nm")
    has_wildtype_column = "wildtype_peptide" in frame.columns
    with np.errstate(invalid="ignore"):
        wildtype_binds = wildtype_nm <= mutant_nm  # False where either is NaN
    known = ~np.isnan(wildtype_nm) & ~np.isnan(mutant_nm)
    keys = ["mutant_peptide", "wildtype_peptide", "mutation_positions"]
    codes, first = _codes(frame[[k for k in keys if k in frame.columns]].reset_index(drop=True))
    distinct = frame[[k for k in keys if k in frame.columns]].iloc[first]
    peptides, wildtypes, values = (_text_list(distinct, k) for k in keys)
    # the distinct position lists: an id each (the same id for the same positions)
    positions: list[tuple[int, ...] | None] = []
    seen: dict[tuple[int, ...] | None, int] = {}
    parsed: dict[Any, int] = {}
    position_ids = np.zeros(len(first), dtype=np.int64)
    for index, value in enumerate(values):
        key = value if isinstance(value, str) else repr(value)
        if key not in parsed:
            mutated = parse_positions(value)
            if mutated not in seen:
                seen[mutated] = len(positions)
                positions.append(mutated)
            parsed[key] = seen[mutated]
        position_ids[index] = parsed[key]
    peptide_texts = np.array([str(p) for p in peptides], dtype=str)
    lengths = np.char.str_len(peptide_texts).astype(np.int64)
    has_positions = np.array([p is not None for p in positions], dtype=bool)[position_ids]
    with_wildtype = np.array([isinstance(w, str) and w != "" for w in wildtypes], dtype=bool)
    if has_wildtype_column:
        # aligned residue by residue: same length, differing only at mutated positions
        aligned = has_positions & with_wildtype
        wildtype_texts = np.array([w if isinstance(w, str) else "" for w in wildtypes],
                                  dtype=str)
        width = max(peptide_texts.dtype.itemsize, wildtype_texts.dtype.itemsize) // 4
        aligned &= np.char.str_len(wildtype_texts) == lengths
        if aligned.any() and width:
            residues = peptide_texts.astype(f"U{width}").view(np.uint32).reshape(-1, width)
            wildtype_residues = wildtype_texts.astype(f"U{width}").view(np.uint32).reshape(
                -1, width)
            mutated_at = np.zeros((len(positions), width), dtype=bool)
            for pid, mutated in enumerate(positions):
                for position in mutated or ():
                    if 1 <= position <= width:
                        mutated_at[pid, position - 1] = True
            elsewhere = (residues != wildtype_residues) & ~mutated_at[position_ids]
            aligned &= ~elsewhere.any(axis=1)
    else:
        aligned = has_positions
    assessed = aligned[codes] & known
    rows = np.flatnonzero(assessed)
    if len(rows):
        # the anchor rule per distinct (positions, allele, length)
        anchor_codes, anchor_first = _codes(pd.DataFrame({
            "positions": position_ids[codes[rows]], "length": lengths[codes[rows]],
            "allele": frame["allele"].iloc[rows].reset_index(drop=True)}))
        anchor_only = np.array([
            set(positions[position_ids[key]]) <= anchor_positions(  # type: ignore[arg-type]
                str(allele), int(lengths[key]), table)
            for key, allele in zip(codes[rows[anchor_first]].tolist(), _text_list(
                frame[["allele"]].iloc[rows[anchor_first]], "allele"), strict=True)],
            dtype=bool)
        failed[rows] = anchor_only[anchor_codes] & wildtype_binds[rows]
    return assessed, failed, positions, position_ids[codes]


def _splice_rows(frame: pd.DataFrame, ranking: dict[str, Any],
                 rna_status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(assessed, passed) of the ``splice_support`` criterion."""
    n = len(frame)
    if not ranking["require_rna_for_splice"] or "evidence" not in frame.columns:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    evidence = frame["evidence"].astype(object).where(frame["evidence"].notna(), None)
    evidence = evidence.to_numpy()
    splice = evidence == EVIDENCE_SPLICE
    assessed = splice | (evidence == EVIDENCE_DNA)
    passed = ~splice | (rna_status == PASS)
    return assessed, passed


#: Whole numbers printed with one thousands separator in Arrow (1,000 to 999,999);
#: larger and negative ones by Python.
_GROUPED_LOW, _GROUPED_HIGH = 1000.0, 1e6


def _numbers(values: np.ndarray, digits: int = 3):
    """Values for ``tier_reason`` as an Arrow string array: ``NA``, whole numbers from
    1,000 on, else ``digits`` significant digits (IC50 ``12,345`` and ``345.2``,
    percentile ``1.46``) - the texts of ``f"{v:,.0f}"`` and ``f"{v:.{digits}g}"``,
    printed in Arrow (:func:`neorank.io.float_texts`; whole numbers as thousands and a
    zero-padded remainder)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        large = np.abs(values) >= 1000
    texts = float_texts(np.where(large, np.nan, values), digits)
    if not large.any():
        return texts
    whole = np.rint(values[large])  # round half to even, as format() rounds ties
    grouped = (whole >= _GROUPED_LOW) & (whole < _GROUPED_HIGH)
    ints = np.where(grouped, whole, 0).astype(np.int64)
    printed = pc.binary_join_element_wise(
        pa.array(ints // 1000).cast(pa.string()),
        pc.utf8_lpad(pa.array(ints % 1000).cast(pa.string()), width=3, padding="0"), ",")
    if not grouped.all():
        printed = pc.replace_with_mask(printed, pa.array(~grouped), pa.array(
            [f"{v:,.0f}" for v in values[large][~grouped].tolist()], type=pa.string()))
    return pc.replace_with_mask(texts, pa.array(large), printed)


def _join(*parts: Any):
    """Texts and Arrow string arrays joined element by element (a missing element
    makes the result missing)."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, "")


def _reasons(frame: pd.DataFrame, out: pd.DataFrame, params: dict[str, Any],
             positions: list[tuple[int, ...] | None], position_codes: np.ndarray):
    """``tier_reason`` per row (an Arrow string array): each failed criterion with its
    values; for ``Pass`` the criteria that were not assessed. Texts are built per
    criterion for the rows failing it, in Arrow, and joined per row in family order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    binding, ranking = params["binding"], params["ranking"]
    n = len(frame)
    status = {c: out[f"pass_{c}"].to_numpy() for c in CRITERIA}
    min_reads = ranking["min_rna_alt_reads"]

    def rna_texts(rows: np.ndarray):
        missing = status["rna_support"][rows] == NOT_ASSESSED
        reads = _numbers(_float_column(frame, "rna_alt_reads")[rows])
        return pc.if_else(pa.array(missing),
                          "no RNA evidence (no tumor RNA BAM, or it lacks the contig)",
                          _join(reads, f" tumor RNA read(s) carry the variant (< {min_reads})"))

    def binding_texts(rows: np.ndarray):
        limits = []
        if binding["max_affinity_nm"] is not None:
            ic50 = _numbers(_float_column(frame, "mutant_affinity_nm")[rows], 4)
            limits.append(_join("IC50 ", ic50, f" nM > {binding['max_affinity_nm']:g} nM"))
        if binding["max_percentile"] is not None:
            pct = _numbers(_float_column(frame, "mutant_percentile")[rows])
            limits.append(pc.if_else(pc.equal(pct, "NA"), "no percentile", _join(
                "percentile ", pct, f" > {binding['max_percentile']:g}")))
        if not limits:
            return pa.array(["not a binder: "] * len(rows), type=pa.string())
        return _join("not a binder: ", pc.binary_join_element_wise(*limits, ", "))

    def anchor_texts(rows: np.ndarray):
        alleles = _text_list(frame[["allele"]].iloc[rows], "allele")
        wildtype = _numbers(_float_column(frame, "wildtype_affinity_nm")[rows], 4).to_pylist()
        mutant = _numbers(_float_column(frame, "mutant_affinity_nm")[rows], 4).to_pylist()
        return pa.array([
            f"mutated only at anchor position(s) "
            f"{';'.join(str(p) for p in positions[code] or ())} of {allele or 'the allele'} "
            f"and the wildtype binds as well ({w} <= {m} nM): T cells see the wildtype's "
            "residues" for code, allele, w, m in zip(
                position_codes[rows].tolist(), alleles, wildtype, mutant, strict=True)],
            type=pa.string())

    def clonality_texts(rows: np.ndarray):
        ccf = _numbers(_float_column(frame, "ccf")[rows])
        vaf = _numbers(_float_column(frame, "tumor_vaf")[rows])
        return _join("subclonal (VAF ", vaf,
                     pc.if_else(pc.equal(ccf, "NA"), "", _join(", CCF ", ccf)), ")")

    texts = {
        "anchor": anchor_texts,
        "splice_support": lambda rows: _join(
            "peptide of a predicted splice outcome without RNA support: ", rna_texts(rows)),
        "binding": binding_texts,
        "presentation": lambda rows: _join(
            "presentation percentile ",
            _numbers(_float_column(frame, "presentation_percentile")[rows]),
            f" > {ranking['max_presentation_percentile']:g}"),
        "self_match": lambda rows: pa.array(
            ["the mutant peptide occurs in the reference proteome"] * len(rows),
            type=pa.string()),
        "expression": lambda rows: _join(
            "expression ", _numbers(expression_tpm(frame)[rows]),
            f" TPM < {ranking['min_expression_tpm']:g}"),
        "rna_support": rna_texts,
        "clonality": clonality_texts,
    }
    # each row's failed criteria joined by "; " (pyarrow 26's null_handling="skip" drops
    # the rows where every part is missing, so the parts are joined one at a time)
    joined = pa.nulls(n, pa.string())
    for _, criteria in TIER_FAMILIES:
        for criterion in criteria:
            failed = status[criterion] == FAIL
            if failed.any():
                part = pc.replace_with_mask(pa.nulls(n, pa.string()), pa.array(failed),
                                            texts[criterion](np.flatnonzero(failed)))
                joined = pc.coalesce(_join(joined, "; ", part), joined, part)
    joined = pc.fill_null(joined, "")
    tiers = out["tier"].to_numpy()
    reasons = pc.if_else(pa.array(tiers == "Poor"),
                         _join("several criterion families fail: ", joined), joined)
    passing = np.flatnonzero(tiers == "Pass")
    if len(passing):
        patterns = _bit_patterns(np.stack(
            [status[c][passing] == NOT_ASSESSED for c in CRITERIA], axis=1))
        texts_by_pattern = np.empty(1 << len(CRITERIA), dtype=object)
        for pattern in np.unique(patterns).tolist():
            found = [c for i, c in enumerate(CRITERIA) if pattern >> i & 1]
            texts_by_pattern[pattern] = "every assessed criterion passes" + (
                f" (not assessed: {', '.join(found)})" if found else "")
        reasons = pc.replace_with_mask(reasons, pa.array(tiers == "Pass"), pa.array(
            texts_by_pattern[patterns].tolist(), type=pa.string()))
    return reasons


def assess_criteria(frame: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """``pass_<criterion>`` columns, ``tier`` and ``tier_reason`` (module docstring) for
    evidence rows.

    ``frame`` needs ``binder``; the other evidence columns (``mutant_affinity_nm``,
    ``mutant_percentile``, ``presentation_percentile``, ``agretopicity``,
    ``wildtype_affinity_nm``, ``wildtype_peptide``, ``mutant_peptide``, ``allele``,
    ``mutation_positions``, ``clonality``, ``gene_tpm``, ``transcript_tpm``,
    ``rna_alt_reads``, ``self_match``, ``evidence``) are optional.
    """
    binding, ranking = params["binding"], params["ranking"]
    out = pd.DataFrame(index=frame.index)
    binder = frame["binder"].to_numpy(dtype=bool)
    out["pass_binding"] = _status(np.ones(len(frame), dtype=bool), binder)

    presentation = _float_column(frame, "presentation_percentile")
    out["pass_presentation"] = _status(~np.isnan(presentation),
                                       presentation <= ranking["max_presentation_percentile"])

    agretopicity = _float_column(frame, "agretopicity")
    wildtype = _float_column(frame, "wildtype_affinity_nm")
    wildtype_nonbinder = (wildtype > binding["max_affinity_nm"]
                          if binding["max_affinity_nm"] is not None
                          else np.zeros(len(frame), dtype=bool))
    with np.errstate(invalid="ignore"):
        agretopic = wildtype_nonbinder | (agretopicity <= ranking["max_agretopicity"])
    out["pass_agretopicity"] = _status(~np.isnan(agretopicity), agretopic)

    clonality = (frame["clonality"] if "clonality" in frame.columns
                 else pd.Series(pd.NA, index=frame.index, dtype=object))
    clonal_known = clonality.isin(["clonal", "subclonal"]).to_numpy()
    out["pass_clonality"] = _status(clonal_known, (clonality == "clonal").to_numpy())

    tpm = expression_tpm(frame)
    out["pass_expression"] = _status(~np.isnan(tpm), tpm >= ranking["min_expression_tpm"])

    alt_reads = _float_column(frame, "rna_alt_reads")
    out["pass_rna_support"] = _status(~np.isnan(alt_reads),
                                      alt_reads >= ranking["min_rna_alt_reads"])

    if "self_match" in frame.columns:
        self_match = frame["self_match"].astype("boolean")
        known = self_match.notna().to_numpy()
        out["pass_self_match"] = _status(known, ~self_match.fillna(False).to_numpy(dtype=bool))
    else:
        out["pass_self_match"] = NOT_ASSESSED

    assessed, anchor_only, positions, position_codes = _anchor_rows(frame, ranking)
    out["pass_anchor"] = _status(assessed, ~anchor_only)
    assessed, supported = _splice_rows(frame, ranking, out["pass_rna_support"].to_numpy())
    out["pass_splice_support"] = _status(assessed, supported)

    failed_families = [
        (tier, np.any([out[f"pass_{c}"].to_numpy() == FAIL for c in criteria], axis=0))
        for tier, criteria in TIER_FAMILIES
    ]
    n_failed = (np.sum([failed for _, failed in failed_families], axis=0) if len(frame)
                else np.zeros(0, dtype=int))
    # one failing family: the first (the only one) that fails
    single = np.select([failed for _, failed in failed_families],
                       [tier for tier, _ in failed_families], default="Pass")
    out["tier"] = np.where(n_failed == 0, "Pass", np.where(n_failed > 1, "Poor", single)
                           ).astype(object)
    out["tier_reason"] = pd.arrays.ArrowStringArray(
        _reasons(frame, out, params, positions, position_codes))
    return out
