"""The command line: every command documents itself with an example; errors are readable."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from simcrm.cli import main


def _commands():
    return sorted(main.commands.items())


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name, _ in _commands():
        assert name in result.output
    assert "Example:" in result.output


@pytest.mark.parametrize("name,command", _commands())
def test_every_command_has_an_example(name, command: click.Command):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"simcrm {name}" in result.output.split("Example:")[1]


def test_info_lists_stages_with_probabilities():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0
    assert "商务谈判: 80%" in result.output


def test_info_one_state_machine_shows_transitions():
    result = CliRunner().invoke(main, ["info", "--list", "complaint_status"])
    assert result.exit_code == 0
    assert "已记录 → 调查中" in result.output
    assert "已归档 → （终态）" in result.output


def test_unknown_list_is_a_clear_error():
    result = CliRunner().invoke(main, ["info", "--list", "colours"])
    assert result.exit_code != 0
    assert "colours" in result.output and "complaint_status" in result.output
