"""The `neorank` command line: every subcommand's every option says what it is for."""

from __future__ import annotations

import argparse
import errno
import importlib
import subprocess
import sys

import pytest

from neorank import summary
from neorank.cli import COMMANDS, STAGES, build_parser, main, requested_step


def test_every_option_of_every_command_has_help_text():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(sub.choices) >= len(STAGES)
    missing = [(name, action.option_strings[-1])
               for name, command in sub.choices.items() for action in command._actions
               if action.option_strings and not action.help and "-h" not in action.option_strings]
    assert missing == []


def test_every_stage_module_registers_a_command_of_its_name():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for stage in STAGES:
        assert stage.replace("_", "-") in sub.choices, stage


def test_a_full_disk_is_an_error_naming_the_file_and_the_fix(monkeypatch, capsys):
    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "results/S1/summary.tsv")

    monkeypatch.setattr(summary, "run", full)
    with pytest.raises(SystemExit) as exit_:
        main(["summary", "--sample", "S1", "--variants", "v.tsv", "--peptides", "p.tsv",
              "--candidates", "c.tsv", "--eligibility", "e.json",
              "--out", "results/S1/summary.tsv"])
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert "neorank summary: error: no space left on the device writing " \
        "results/S1/summary.tsv; fix: free space" in message


def test_other_os_errors_are_not_hidden(monkeypatch):
    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "results/S1/summary.tsv")

    monkeypatch.setattr(summary, "run", denied)
    with pytest.raises(PermissionError):
        main(["summary", "--sample", "S1", "--variants", "v.tsv", "--peptides", "p.tsv",
              "--candidates", "c.tsv", "--eligibility", "e.json",
              "--out", "results/S1/summary.tsv"])


def test_commands_table_is_what_the_stage_modules_register():
    """``COMMANDS`` (which lets a job import only its own stage) names every subcommand
    with the module that registers it."""
    for stage in STAGES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"neorank.{stage}").add_subcommand(sub)
        assert {c for c, m in COMMANDS.items() if m == stage} == set(sub.choices), stage


@pytest.mark.parametrize("argv, step", [(["somatic", "--help"], "somatic"),
                                        (["-v", "gather", "--shards", "a"], "gather"),
                                        (["--verbose", "-v", "pvacseq-metrics"], "pvacseq-metrics"),
                                        (["--help"], None), (["somatc"], None), ([], None),
                                        (["--version", "somatic"], None)])
def test_requested_step(argv, step):
    assert requested_step(argv) == step


def test_a_job_imports_only_its_own_stage():
    code = ("import sys; from neorank.cli import build_parser, STAGES; "
            "parser = build_parser(['somatic', '--vcf', 'x']); "
            "print(' '.join(s for s in STAGES if 'neorank.' + s in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.split()
    assert imported == ["somatic"]
    # Help or an unknown step still lists every command.
    (sub,) = [a for a in build_parser(["somatc"])._actions
              if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(COMMANDS)


def test_an_unknown_step_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["somatc"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'somatc'" in err and "final-order" in err and "gather" in err
