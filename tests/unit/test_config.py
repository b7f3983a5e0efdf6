"""The config layer: one set of defaults (dataclasses), mirrored by the schema and
config/config.yaml, and the checks that run before any job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from neorank import config as cfg
from neorank.errors import InputFileError, NeoRankError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
SHIPPED = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def schema_defaults(node: dict) -> dict:
    out = {}
    for key, prop in node["properties"].items():
        if prop.get("type") == "object" and "properties" in prop:
            out[key] = schema_defaults(prop)
        else:
            out[key] = prop["default"]
    return out


def test_schema_defaults_equal_the_dataclasses():
    assert schema_defaults(SCHEMA) == cfg.defaults()


def test_shipped_config_equals_the_defaults():
    """config/config.yaml is the defaults written out (the demo runs on defaults)."""
    assert SHIPPED == cfg.defaults()


def test_schema_is_strict_everywhere():
    def objects(node, path="config"):
        if node.get("type") == "object":
            yield path, node
            for key, prop in node.get("properties", {}).items():
                yield from objects(prop, f"{path}.{key}")

    found = list(objects(SCHEMA))
    assert len(found) == 1 + len(cfg.SECTIONS) + 1  # top level, sections, ranking.weights
    for path, node in found:
        assert node.get("additionalProperties") is False, path
        for key, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}.{key} has no description"


def test_unknown_keys_are_named_with_the_closest_key():
    config = json.loads(json.dumps(cfg.defaults()))
    config["somatic"]["min_tumour_vaf"] = 0.3
    config["bindng"] = {"max_affinity_nm": 500}
    config["ranking"]["weights"]["bindng"] = 1.0
    with pytest.raises(NeoRankError) as err:
        cfg.check_config(config, "my.yaml")
    text = str(err.value)
    assert text.startswith("my.yaml: invalid configuration")
    assert "unknown key 'somatic.min_tumour_vaf'; did you mean 'somatic.min_tumor_vaf'?" in text
    assert "unknown key 'bindng'; did you mean 'binding'?" in text
    assert "unknown key 'ranking.weights.bindng'; did you mean 'ranking.weights.binding'?" in text


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("ranking", "weights", {"binding": 0}, "ranking.weights.binding must be > 0"),
    ("eligibility", "min_genes_borderline", 9, "min_genes_borderline (9) is above"),
    ("binding", "max_affinity_nm", None, "are both null"),
    ("vaccine", "linkers", ["GPG1"], "vaccine.linkers"),
])
def test_cross_field_checks_fail_at_validation(section, key, value, expected):
    config = json.loads(json.dumps(cfg.defaults()))
    if section == "binding":
        config["binding"] = {"max_affinity_nm": None, "max_percentile": None}
    else:
        config[section][key] = value
    with pytest.raises(NeoRankError, match="invalid configuration") as err:
        cfg.check_config(config)
    assert expected in str(err.value)


def test_shipped_config_passes():
    cfg.check_config(SHIPPED, "config/config.yaml")


def test_params_from_yaml_config_and_several_json_files(tmp_path):
    assert cfg.load_params(ROOT / "config/config.yaml")["ranking"] == SHIPPED["ranking"]
    (tmp_path / "a.json").write_text(json.dumps({"binding": {"max_affinity_nm": 100}}))
    (tmp_path / "b.json").write_text(json.dumps({"ranking": {"affinity_width_nm": 10}}))
    merged = cfg.load_params([tmp_path / "a.json", tmp_path / "b.json"])
    assert merged == {"binding": {"max_affinity_nm": 100}, "ranking": {"affinity_width_nm": 10}}


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("samples: config/samples.tsv\nbinding:\n  max_affinity_nm: [500\n")
    with pytest.raises(InputFileError) as err:
        cfg.load_params(bad)
    text = str(err.value)
    assert str(bad) in text and "not valid YAML at line" in text
