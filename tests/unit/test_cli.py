"""The `neorank` command line: every subcommand's every option says what it is for."""

from __future__ import annotations

import argparse

from neorank.cli import STAGES, build_parser


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
