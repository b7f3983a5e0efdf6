"""The config sections: one frozen dataclass each, holding the only copy of the defaults."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger("neorank.config")


# --------------------------------------------------------------------- sections
# One frozen dataclass per config section: the defaults live here and only here.
# workflow/schemas/config.schema.yaml mirrors them (a test checks the schema's
# defaults, config/config.yaml and these agree).


@dataclass(frozen=True)
class Reference:
    source: str = "local"
    name: str = "GRCh38-ensembl87-osteosarc-subset"
    release: int = 87
    species: str = "human"
    #: Empty: the embedded subset shipped with NeoRank (neorank.resources).
    gtf: str = ""
    cdna: str = ""
    pep: str = ""
    ensembl_server: str = ""
    cache_dir: str = "resources/cache/reference"


@dataclass(frozen=True)
class Somatic:
    require_pass: bool = True
    pass_filters: tuple[str, ...] = ("PASS",)
    min_tumor_depth: int = 10
    min_tumor_alt_reads: int = 3
    min_tumor_vaf: float = 0.05
    min_normal_depth: int = 5
    max_normal_vaf: float = 0.02


@dataclass(frozen=True)
class Annotate:
    transcripts: str = "all"
    context: int = 40
    germline_context: bool = True


@dataclass(frozen=True)
class Peptides:
    lengths: tuple[int, ...] = (8, 9, 10, 11)
    flank_length: int = 15
    self_max_mismatches: int = 2


@dataclass(frozen=True)
class Mhcflurry:
    models: str = "embedded"
    #: Empty: the embedded models shipped with NeoRank (neorank.resources).
    embedded_dir: str = ""
    official_dir: str = ""
    shards: int = 2
    #: portable | native: the prediction jobs' arithmetic (neorank.models.pin_numerics).
    numerics: str = "portable"
    cache: str = "resources/cache/predictions.sqlite"


@dataclass(frozen=True)
class Binding:
    max_affinity_nm: float | None = 500.0
    max_percentile: float | None = 2.0


@dataclass(frozen=True)
class Weights:
    binding: float = 1.0
    vaf: float = 0.5
    dissimilarity: float = 0.25
    presentation: float = 0.5
    expression: float = 0.25


@dataclass(frozen=True)
class Ranking:
    weights: Weights = field(default_factory=Weights)
    affinity_midpoint_nm: float = 350.0
    affinity_width_nm: float = 150.0
    affinity_cutoff_nm: float = 5000.0
    expression_half_tpm: float = 10.0
    min_expression_tpm: float = 1.0
    min_rna_alt_reads: int = 2
    max_presentation_percentile: float = 2.0
    max_agretopicity: float = 0.5
    clonal_vaf_fraction: float = 0.5
    clonal_min_ccf: float = 0.8
    normal_copy_number: float = 2.0
    exclude_self_matches: bool = True
    #: Share of the binding component taken by the log-IC50 term (docs/scoring.md).
    affinity_log_share: float = 0.2
    #: Anchor tier: mutated only at anchor positions, wildtype binds as well (neorank.ranking).
    anchor_tier: bool = True
    #: Anchor-position overrides, ``"ALLELE=2,-1"`` (``-1`` = C-terminus; ``default=``).
    anchor_positions: tuple[str, ...] = ()
    #: Predicted splice outcomes need RNA support to reach the Pass tier.
    require_rna_for_splice: bool = True


@dataclass(frozen=True)
class Eligibility:
    min_protein_changing_eligible: int = 5
    min_protein_changing_borderline: int = 1
    min_binder_variants_eligible: int = 5
    min_binder_variants_borderline: int = 1
    min_genes_eligible: int = 3
    min_genes_borderline: int = 1
    min_supported_alleles: int = 1
    min_purity: float = 0.2
    target_size_mb: float = 30.0
    tmb_high_per_mb: float = 10.0


@dataclass(frozen=True)
class Report:
    top_n: int = 50
    drilldown_max_variants: int = 300
    drilldown_max_peptides: int = 25
    aggregate_inclusion_nm: float = 5000.0
    review_dir: str = "review"
    review_max_binder_rows: int = 100_000


@dataclass(frozen=True)
class Vaccine:
    peptide_count: int = 20
    mrna_count: int = 34
    max_per_gene: int = 1
    pass_only: bool = False
    long_peptide_length: int = 25
    linkers: tuple[str, ...] = ("", "GPGPG", "AAY")
    junction_lengths: tuple[int, ...] = (8, 9, 10, 11)
    junction_max_affinity_nm: float = 500.0


#: Verdicts from worst to best (the same order as :data:`neorank.verdict.VERDICTS`).
VERDICTS = ("not supported", "borderline", "eligible")


ROLES = ("b2m", "hla", "processing", "ifng")


@dataclass(frozen=True)
class Presentation:
    """Config section ``presentation`` (defaults; to be moved into neorank.config)."""

    b2m_genes: tuple[str, ...] = ("B2M",)
    hla_genes: tuple[str, ...] = ("HLA-A", "HLA-B", "HLA-C")
    processing_genes: tuple[str, ...] = ("TAP1", "TAP2", "TAPBP", "NLRC5")
    ifng_genes: tuple[str, ...] = ("JAK1", "JAK2", "IFNGR1", "IFNGR2", "STAT1")
    b2m_lof_verdict: str = "not supported"
    hla_lof_verdict: str = "borderline"
    processing_lof_verdict: str = "borderline"
    ifng_lof_verdict: str = "borderline"
    loh_minor_copy_number_below: float = 0.5
    lohhla_max_pvalue: float = 0.01
    lohhla_loss_copy_number_below: float = 0.5


@dataclass(frozen=True)
class Hla:
    """The ``hla`` config section: which alleles besides human HLA-A/B/C are predicted.

    ``allow_nonclassical``: HLA-E, -F and -G (the models must know them);
    ``allow_nonhuman``: alleles of other species (SLA, Mamu, H-2, ...).
    """

    allow_nonclassical: bool = False
    allow_nonhuman: bool = False


#: Config section name -> its dataclass, in config.yaml order.
SECTIONS: dict[str, type] = {
    "reference": Reference, "somatic": Somatic, "annotate": Annotate, "peptides": Peptides,
    "hla": Hla, "mhcflurry": Mhcflurry, "binding": Binding, "ranking": Ranking,
    "eligibility": Eligibility, "presentation": Presentation, "report": Report,
    "vaccine": Vaccine,
}
#: Top-level keys that are not sections.
TOP_LEVEL = {"samples": "config/samples.tsv"}


def section_defaults(name: str) -> dict[str, Any]:
    """A section's defaults as plain JSON-style values (tuples as lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(SECTIONS[name]()))


def defaults() -> dict[str, Any]:
    """The whole config's defaults (what an empty config file means)."""
    return {**TOP_LEVEL, **{name: section_defaults(name) for name in SECTIONS}}


#: Score components in their fixed order (also the order in ``score_components``).
COMPONENTS = ("binding", "vaf", "dissimilarity", "presentation", "expression")


#: Defaults of the params JSON sections used by ranking (same as the config schema).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "binding": section_defaults("binding"),
    "ranking": section_defaults("ranking"),
}


