"""The whole `streamflow` parser: every subcommand and every argument says what it is for."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from streamflow_cli import build_parser, main, version


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action | None, str]]:
    """(command path, argument or None for the subcommand itself, its help) for the whole tree."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", None, helps.get(name) or ""
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action, action.help or ""


def test_every_subcommand_and_argument_has_help() -> None:
    entries = list(_walk(build_parser(), "streamflow"))
    commands = {path for path, action, _ in entries if action is None}
    # The walk reaches every area (the dev tools are installed here, as by `make setup`).
    for expected in (
        "render",
        "operator",
        "db migrate",
        "generate",
        "replay",
        "job run",
        "model train",
        "dev build",
    ):
        assert f"streamflow {expected}" in commands
    missing = [
        f"{path}: " + ("the subcommand" if action is None else "/".join(action.option_strings) or action.dest)
        for path, action, text in entries
        if not text.strip() or text == argparse.SUPPRESS
    ]
    assert not missing, "no help text:\n" + "\n".join(missing)
    assert len(entries) > 100  # the walk really went through the tree


def test_long_running_commands_share_the_progress_switch() -> None:
    entries = list(_walk(build_parser(), "streamflow"))
    with_switch = {path for path, action, _ in entries if action and "--no-progress" in action.option_strings}
    for command in (
        "replay",
        "generate",
        "model train",
        "model evaluate",
        "model select",
        "dev build",
        "dev up",
    ):
        assert f"streamflow {command}" in with_switch


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"streamflow {version()}"
    assert version() != "unknown"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
