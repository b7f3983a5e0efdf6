"""Manufacturability of a (long) peptide by solid-phase synthesis.

The checks are the ones Vaxrank and pVACseq report for vaccine peptides
(Vaxrank ``manufacturability.py``, after hammerlab/vaxrank#2; pVACseq's
manufacturability columns). Each check that fails adds its name to ``flags``;
a peptide is ``manufacturable`` when no check fails. Thresholds are module
constants, documented in ``config/README.md`` (section "Manufacturability").

Checks
------
``cysteines``
    More than :data:`MAX_CYSTEINES` cysteines. Two or more Cys can form
    disulfide bonds between distant parts of the peptide (or between
    peptides), which complicates synthesis, purification and solubility.
``hydrophobic_7mer``
    The most hydrophobic 7-residue window has a Kyte-Doolittle GRAVY (mean
    hydropathy) above :data:`MAX_GRAVY_7MER` (2.5, Vaxrank's threshold for
    any 7-mer): such stretches aggregate and are hard to synthesise and
    dissolve. Peptides shorter than 7 residues use their whole-length GRAVY.
``nterm_qec``
    The first residue is Q, E or C: N-terminal Gln/Glu cyclise to
    pyroglutamate and N-terminal Cys is reactive (Vaxrank "difficult
    N-terminal residue").
``cterm_cp``
    The last residue is C or P: C-terminal Cys and Pro couple poorly to the
    synthesis resin.
``np_bonds``
    More than :data:`MAX_NP_BONDS` asparagine-proline (``NP``) dipeptides.
    The issue's "N-P bonds" is read literally as Asn-Pro, the bond
    pVACseq's ``asparagine_proline_bond_count`` column is named after.
    Vaxrank's equivalent counts the acid-labile Asp-Pro (``DP``) bond instead;
    :func:`assess` reports that count as ``dp_bonds`` for information, and it
    does not set a flag.

Residues outside the 20 standard amino acids are an error (a vaccine peptide
must be synthesisable from standard residues).
"""

from __future__ import annotations

from neorank.errors import NeoRankError

#: Kyte & Doolittle (1982) hydropathy index, Table 2.
HYDROPATHY: dict[str, float] = {
    "A": 1.8, "C": 2.5, "D": -3.5, "E": -3.5, "F": 2.8, "G": -0.4, "H": -3.2,
    "I": 4.5, "K": -3.9, "L": 3.8, "M": 1.9, "N": -3.5, "P": -1.6, "Q": -3.5,
    "R": -4.5, "S": -0.8, "T": -0.7, "V": 4.2, "W": -0.9, "Y": -1.3,
}

#: Most cysteines a manufacturable peptide may carry (one cannot pair with itself).
MAX_CYSTEINES = 1
#: Highest allowed GRAVY of any 7-residue window (Vaxrank's max 7-mer GRAVY < 2.5).
MAX_GRAVY_7MER = 2.5
#: GRAVY window length.
GRAVY_WINDOW = 7
#: Most Asn-Pro (``NP``) dipeptides allowed.
MAX_NP_BONDS = 0
#: Residues that make a difficult N-terminus / C-terminus.
NTERM_DIFFICULT = frozenset("QEC")
CTERM_DIFFICULT = frozenset("CP")

#: Flag names, in the fixed order they appear in ``flags``.
FLAGS = ("cysteines", "hydrophobic_7mer", "nterm_qec", "cterm_cp", "np_bonds")

__all__ = ["FLAGS", "HYDROPATHY", "MAX_CYSTEINES", "MAX_GRAVY_7MER", "MAX_NP_BONDS",
           "assess", "gravy", "max_gravy"]


def _check(sequence: str) -> str:
    if not isinstance(sequence, str) or not sequence:
        raise NeoRankError(f"empty or missing peptide sequence {sequence!r}",
                           fix="give a protein sequence of standard amino acids")
    sequence = sequence.strip().upper()
    bad = sorted({aa for aa in sequence if aa not in HYDROPATHY})
    if bad:
        raise NeoRankError(f"peptide {sequence!r} has non-standard residue(s) {''.join(bad)}",
                           fix="use only the 20 standard amino acids (no stop '*', X or gaps)")
    return sequence


def gravy(sequence: str) -> float:
    """Grand average of hydropathy (mean Kyte-Doolittle value) of ``sequence``."""
    sequence = _check(sequence)
    return sum(HYDROPATHY[aa] for aa in sequence) / len(sequence)


def max_gravy(sequence: str, window: int = GRAVY_WINDOW) -> float:
    """Highest GRAVY over all ``window``-residue windows (whole sequence if shorter)."""
    sequence = _check(sequence)
    if len(sequence) <= window:
        return gravy(sequence)
    values = [HYDROPATHY[aa] for aa in sequence]
    total = sum(values[:window])
    best = total
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        best = max(best, total)
    return best / window


def assess(sequence: str) -> dict[str, object]:
    """Manufacturability checks of one peptide.

    Parameters
    ----------
    sequence
        Protein sequence (standard amino acids; case-insensitive).

    Returns
    -------
    dict
        ``n_cysteines`` (int), ``max_gravy_7mer`` (float, rounded to 4
        decimals), ``nterm_qec`` (bool), ``cterm_cp`` (bool), ``np_bonds``
        (int, Asn-Pro dipeptides), ``dp_bonds`` (int, Asp-Pro dipeptides,
        informational), ``flags`` (``;``-joined failed checks in
        :data:`FLAGS` order, ``""`` when none) and ``manufacturable``
        (bool, no flag).

    Raises
    ------
    NeoRankError
        Empty sequence or a non-standard residue.
    """
    sequence = _check(sequence)
    n_cysteines = sequence.count("C")
    gravy_7mer = round(max_gravy(sequence), 4)
    pairs = [sequence[i:i + 2] for i in range(len(sequence) - 1)]
    np_bonds = pairs.count("NP")
    failed = {
        "cysteines": n_cysteines > MAX_CYSTEINES,
        "hydrophobic_7mer": gravy_7mer > MAX_GRAVY_7MER,
        "nterm_qec": sequence[0] in NTERM_DIFFICULT,
        "cterm_cp": sequence[-1] in CTERM_DIFFICULT,
        "np_bonds": np_bonds > MAX_NP_BONDS,
    }
    flags = ";".join(name for name in FLAGS if failed[name])
    return {
        "n_cysteines": n_cysteines,
        "max_gravy_7mer": gravy_7mer,
        "nterm_qec": failed["nterm_qec"],
        "cterm_cp": failed["cterm_cp"],
        "np_bonds": np_bonds,
        "dp_bonds": pairs.count("DP"),
        "flags": flags,
        "manufacturable": not flags,
    }
