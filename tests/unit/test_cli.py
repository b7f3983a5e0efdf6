"""The `neorank` command line: every subcommand's every option says what it is for."""

from __future__ import annotations

import argparse
import errno

import pytest

from neorank import summary
from neorank.cli import STAGES, build_parser, main


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
