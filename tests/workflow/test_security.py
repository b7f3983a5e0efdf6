"""Security through the workflow: no shell injection, no HTML injection.

1. Static audit of every ``shell:`` of workflow/rules/*.smk: each placeholder is
   shell-quoted with ``:q``, or is a ``params`` value that is safe by
   construction: CLI flags built with ``shlex.quote`` (helpers in common.smk),
   a constant, or a config value whose schema allows only numbers, booleans or
   an enum.
2. A run of one sample whose input paths, VCF sample columns, INFO field, ID
   and FILTER carry shell metacharacters and ``<script>`` markup: the commands
   Snakemake runs keep each path one argument, no injected command runs, the
   strings reach the tables verbatim and the HTML report only escaped.
3. Sample ids with markup or shell metacharacters are rejected by the sample
   sheet validation before any job (neorank/samplesheet.py).

Gene names cannot be changed in the embedded reference; their escaping is
tested at the rendering level (tests/unit/test_report.py).
"""

from __future__ import annotations

import ast
import html
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import DEMO, ROOT, snakemake, write_run_dir

RULES = ROOT / "workflow" / "rules"
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")


# ------------------------------------------------------------------- static audit
def _blocks(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """Lines after ``start`` indented deeper than ``indent`` (blank lines kept)."""
    body = []
    i = start + 1
    while i < len(lines) and (not lines[i].strip()
                              or len(lines[i]) - len(lines[i].lstrip()) > indent):
        body.append(lines[i])
        i += 1
    return body, i


def parse_rules(path: Path) -> dict[str, dict[str, str]]:
    """rule name -> {directive: source text} for the directives of each rule."""
    lines = path.read_text().splitlines()
    rules: dict[str, dict[str, str]] = {}
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)rule (\w+):\s*$", line)
        if not match:
            continue
        indent = len(match.group(1))
        body, _ = _blocks(lines, number, indent)
        directives: dict[str, str] = {}
        j = 0
        while j < len(body):
            head = re.match(r"^(\s*)(\w+):\s*(.*)$", body[j])
            if head and len(head.group(1)) > indent:
                inner, end = _blocks(body, j, len(head.group(1)))
                directives[head.group(2)] = "\n".join([head.group(3), *inner])
                j = end
            else:
                j += 1
        rules[match.group(2)] = directives
    return rules


def common_helpers() -> dict[str, str]:
    """Source of every top-level function of common.smk."""
    text = (RULES / "common.smk").read_text()
    return {m.group(1): m.group(0) for m in
            re.finditer(r"^def (\w+)\(.*?(?=^\S|\Z)", text, flags=re.MULTILINE | re.DOTALL)}


def schema_entry(dpath: str) -> dict:
    node = SCHEMA
    for key in dpath.split("/"):
        node = node["properties"][key]
    return node


def _calls_shlex_quote(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "quote"
               and isinstance(n.value, ast.Name) and n.value.id == "shlex"
               for n in ast.walk(node))


def param_is_safe_unquoted(expr: ast.expr, helpers: dict[str, str]) -> str | None:
    """Why a params value may appear unquoted in a shell string, or None."""
    if isinstance(expr, ast.Constant):
        return "constant"
    if isinstance(expr, ast.IfExp) and all(isinstance(e, ast.Constant)
                                           for e in (expr.body, expr.orelse)):
        return "constant"
    if _calls_shlex_quote(expr):
        return "shlex.quote inline"
    name = expr.func if isinstance(expr, ast.Call) else expr
    if isinstance(name, ast.Name) and name.id == "cfg" and isinstance(expr, ast.Call):
        entry = schema_entry(expr.args[0].value)
        if entry.get("type") in ("integer", "number", "boolean") or "enum" in entry:
            return f"schema {entry.get('type')}{' enum' if 'enum' in entry else ''}"
        return None
    if isinstance(name, ast.Name) and name.id in helpers:
        if "shlex.quote" in helpers[name.id]:
            return f"{name.id} shell-quotes"
    return None


def shell_audit() -> list[str]:
    """Every unquoted placeholder that is not safe by construction."""
    helpers = common_helpers()
    problems = []
    n_shells = 0
    for path in sorted(RULES.glob("*.smk")):
        for rule, directives in parse_rules(path).items():
            if "shell" not in directives:
                continue
            n_shells += 1
            command = ast.literal_eval("(" + directives["shell"] + "\n)")
            params: dict[str, ast.expr] = {}
            if "params" in directives:
                call = ast.parse("dict(" + directives["params"] + "\n)", mode="eval").body
                params = {kw.arg: kw.value for kw in call.keywords}
            for placeholder in PLACEHOLDER.findall(command):
                field, _, spec = placeholder.partition(":")
                if spec == "q":
                    continue
                where = f"{path.name}: rule {rule}: {{{placeholder}}}"
                kind, _, name = field.partition(".")
                if kind == "params" and name in params:
                    if param_is_safe_unquoted(params[name], helpers) is None:
                        problems.append(f"{where} is not shell-quoted and not built with "
                                        "shlex.quote or constrained by the schema")
                elif kind == "threads":
                    continue
                else:
                    problems.append(f"{where} needs :q")
    assert n_shells >= 10, "the rule parser found too few shell commands"
    return problems


def test_every_shell_placeholder_is_quoted_or_safe_by_construction():
    problems = shell_audit()
    assert not problems, "\n".join(problems)


def test_audit_catches_unquoted_values():
    """The audit itself flags unquoted wildcards, paths and free-text config values."""
    helpers = common_helpers()
    assert param_is_safe_unquoted(ast.parse('cfg("reference/species")', mode="eval").body,
                                  helpers) is None
    assert param_is_safe_unquoted(ast.parse('cfg("somatic/min_tumor_depth")', mode="eval").body,
                                  helpers)
    assert param_is_safe_unquoted(ast.parse("get_hla_arg", mode="eval").body, helpers)
    assert param_is_safe_unquoted(ast.parse("get_hla", mode="eval").body, helpers) is None
    text = 'rule x:\n    input:\n        "a",\n    shell:\n        "cat {input}"\n' \
           '        " > {wildcards.sample}.txt"\n'
    rules = parse_rules(_write(text))
    assert ast.literal_eval("(" + rules["x"]["shell"] + "\n)") == \
        "cat {input} > {wildcards.sample}.txt"


def _write(text: str) -> Path:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".smk", delete=False)
    handle.write(text)
    handle.close()
    return Path(handle.name)


# ------------------------------------------------------------- hostile inputs
SCRIPT_INFO = "<script>alert('info')</script>"
SCRIPT_ID = "<script>alert('id')</script>"
SCRIPT_FILTER = "<script>alert('filter')</script>"
TUMOR = "TUMOR <script>alert('tumor')</script>"
NORMAL = "NORMAL $(touch pwned_sample);`touch pwned_tick`"
HOSTILE_DIR = "in put;$(touch pwned_dir)&'q' \"dq\" `touch pwned_tick2`"
SAMPLE = "evil-sample"


def hostile_vcf(path: Path, n_records: int = 40) -> None:
    """The demo paired VCF's first records with markup in INFO, ID, FILTER, sample names."""
    lines = (DEMO / "osteosarc.paired.vcf").read_text().splitlines()
    header = [line for line in lines if line.startswith("##")]
    records = [line.split("\t") for line in lines if not line.startswith("#")][:n_records]
    header.append('##INFO=<ID=NOTE,Number=1,Type=String,Description="free text">')
    out = [*header, "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                               "FORMAT", TUMOR, NORMAL])]
    for index, fields in enumerate(records):
        fields[7] = f"{fields[7]};NOTE={SCRIPT_INFO}"
        if index == 1:
            fields[2] = SCRIPT_ID
        if index == 2:
            fields[6] = SCRIPT_FILTER
        out.append("\t".join(fields))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("hostile")
    write_run_dir(workdir)
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["mhcflurry"]["shards"] = 1
    config["reference"]["cache_dir"] = str(workdir / "ref cache;$(touch pwned_cache)")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    vcf = workdir / HOSTILE_DIR / "tumor normal.vcf"
    hostile_vcf(vcf)
    # Written as plain tab-separated text: the sheet has no CSV quoting.
    sheet = {"sample": SAMPLE, "hla_alleles": "HLA-A*02:01,HLA-B*08:01", "paired_vcf": str(vcf),
             "tumor_sample": TUMOR, "normal_sample": NORMAL, "purity": "0.6"}
    (workdir / "config" / "samples.tsv").write_text(
        "\t".join(sheet) + "\n" + "\t".join(sheet.values()) + "\n")
    result = snakemake(workdir, "--show-failed-logs", "--printshellcmds",
                       f"results/{SAMPLE}/report.html")
    (workdir / "snakemake.log").write_text(result.stdout + result.stderr)
    return workdir


@pytest.mark.workflow
def test_hostile_paths_and_names_stay_single_arguments(hostile_run):
    log = (hostile_run / "snakemake.log").read_text()
    commands = re.findall(r"^Shell command: (neorank .*)$", log, flags=re.MULTILINE)
    assert len(commands) >= 6
    vcf = str(hostile_run / HOSTILE_DIR / "tumor normal.vcf")
    for command in commands:
        argv = shlex.split(command)
        if "preflight" in argv[:2] or "somatic" in argv[:2]:
            assert argv[argv.index("--paired-vcf") + 1] == vcf
            assert argv[argv.index("--tumor-sample") + 1] == TUMOR
            assert argv[argv.index("--normal-sample") + 1] == NORMAL
    assert not [p for p in hostile_run.rglob("pwned*")], "an injected command ran"
    assert not list(Path.cwd().glob("pwned*"))


@pytest.mark.workflow
def test_markup_reaches_tables_verbatim_and_report_escaped(hostile_run):
    results = hostile_run / "results" / SAMPLE
    variants = pd.read_csv(results / "variants.tsv", sep="\t", dtype=str,
                           keep_default_na=False)
    # Nothing lost: the FILTER markup is in the table, as the record's reason.
    filtered = variants[variants["filter"] == SCRIPT_FILTER]
    assert len(filtered) == 1 and filtered.reason.iloc[0] == f"FILTER={SCRIPT_FILTER}"
    assert (variants.status == "protein_changing").any()
    page = (results / "report.html").read_text()
    assert html.escape(f"FILTER={SCRIPT_FILTER}", quote=True) in page
    assert page.count("<script") == 1  # NeoRank's own inline script only
    for text in (SCRIPT_INFO, SCRIPT_ID, SCRIPT_FILTER, TUMOR, NORMAL):
        assert text not in page
    assert "alert(" not in page.replace(html.escape("alert('filter')", quote=True), "")


BAD_IDS = ["<script>alert(1)</script>", "a;touch pwned", "$(touch pwned)", "../escape", "-rf"]


@pytest.mark.workflow
def test_sample_ids_with_markup_or_metacharacters_are_rejected(tmp_path):
    """One sheet with every bad id: all reported at once, by line, before any job runs."""
    write_run_dir(tmp_path)
    sheet_path = tmp_path / "config" / "samples.tsv"
    lines = sheet_path.read_text().splitlines()
    header, row = lines[0], lines[1].split("\t")
    rows = [header] + ["\t".join([bad, *row[1:]]) for bad in BAD_IDS]
    sheet_path.write_text("\n".join(rows) + "\n")
    result = snakemake(tmp_path, "-n", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{len(BAD_IDS)} problems in the sample sheet" in output
    for line, bad in enumerate(BAD_IDS, start=2):
        assert f"line {line}: sample id {bad!r}" in output
    assert "rename the sample" in output
    assert not (tmp_path / "results").exists()
    assert not list(tmp_path.rglob("pwned*"))
