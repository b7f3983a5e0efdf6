"""Run configuration: every section's defaults and checks in one place.

A layer below the stages. The workflow's YAML config (validated against
``workflow/schemas/config.schema.yaml``) reaches a stage as a params file: the
JSON the workflow writes, or the YAML config itself (:func:`load_params`). Each
stage reads only its sections through the ``*_params`` functions here, which
fill defaults and reject values that cannot work.
"""

from __future__ import annotations

from neorank.config.checks import (  # noqa: F401
    _GENE_KEYS,
    _INTEGER_KEYS,
    _VERDICT_KEYS,
    DEFAULT_ELIGIBILITY,
    DEFAULT_INCLUSION_NM,
    DEFAULT_MAX_VARIANT_ROWS,
    DEFAULT_TOP_N,
    REPORT_DEFAULTS,
    STANDARD_AMINO_ACIDS,
    VACCINE_DEFAULTS,
    _number,
    eligibility_params,
    hla_params,
    presentation_params,
    ranking_params,
    vaccine_params,
)
from neorank.config.files import (  # noqa: F401
    _PROBLEM_KEY,
    _YAML_KEY_LINE,
    _default_schema,
    _line_of,
    _UniqueKeyLoader,
    _yaml_key_at,
    _yaml_key_lines,
    check_config,
    load_config_file,
    load_params,
    load_yaml_text,
)
from neorank.config.sections import (  # noqa: F401
    COMPONENTS,
    DEFAULT_PARAMS,
    ROLES,
    SECTIONS,
    TOP_LEVEL,
    VERDICTS,
    Annotate,
    Binding,
    Eligibility,
    Hla,
    Mhcflurry,
    Peptides,
    Presentation,
    Ranking,
    Reference,
    Report,
    Somatic,
    Vaccine,
    Weights,
    defaults,
    section_defaults,
)
