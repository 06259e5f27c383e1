"""The command line around onboarding: every `--help` works, and the CLI stays light to import."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from paso_local.cli import build_parser, main


def subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def test_the_cli_declares_onboard_and_profile():
    assert {"onboard", "profile"} <= set(subcommands())


@pytest.mark.parametrize("argv", [["--help"], *([name, "--help"] for name in subcommands())], ids=" ".join)
def test_every_help_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: paso-local" in capsys.readouterr().out


def test_onboard_help_names_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["onboard", "--help"])
    out = capsys.readouterr().out
    for option in ("--profile", "--form", "--import", "--index", "--case"):
        assert option in out


def test_importing_the_cli_loads_neither_textual_nor_torch():
    code = (
        "import sys, paso_local.cli\n"
        "heavy = ('textual', 'torch', 'tui', 'llama_cpp')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""
