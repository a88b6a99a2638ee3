"""`twin --help` lists every command with its help line without importing the lazily loaded ones."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from services.cli import LAZY_COMMANDS, cli


def _command(name: str) -> click.Command:
    module, attr = LAZY_COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_the_listed_help_line_is_the_commands_own(name):
    # the stand-in line must shorten exactly as the real command's docstring does, at any width
    real = _command(name)
    for limit in (30, 45, 60, 200):
        listed = click.Command(name, help=LAZY_COMMANDS[name][1]).get_short_help_str(limit)
        assert listed == real.get_short_help_str(limit)


def test_help_lists_what_the_loaded_commands_would_say():
    unloaded = CliRunner().invoke(cli, ["--help"], terminal_width=100).output
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        cli.get_command(ctx, name)  # now every command is loaded: click's own listing
    loaded = CliRunner().invoke(cli, ["--help"], terminal_width=100).output
    assert unloaded == loaded
    assert all(f"  {name} " in loaded for name in LAZY_COMMANDS)


def test_help_imports_no_command_module():
    probe = ("import sys, json\nfrom services.cli import cli\n"
             "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    modules = set(json.loads(out.splitlines()[-1]))
    lazy = {spec.split(":")[0] for spec, _ in LAZY_COMMANDS.values()}
    assert not lazy & modules
    assert not {"numpy", "sqlalchemy", "grpc"} & modules
