"""Every snippet of the README works: each Python block runs as written (in a scratch folder that sees
the project's assets), and each `sape-geo ...` command line of a bash block parses and passes the
settings' checks (without running: the README's long runs are the benchmarks' job)."""

from __future__ import annotations

import re
import shlex

import pytest

from sape_geo_apps.cli import build_parser

from conftest import ROOT  # noqa: E402
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every fenced block of ``language``."""
    found = []
    for match in re.finditer(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL):
        found.append((README[: match.start()].count("\n") + 1, match.group(1)))
    return found


def command_lines() -> list[tuple[int, str]]:
    """``sape-geo`` command lines of the bash blocks, continuation lines joined."""
    commands = []
    for line_number, text in blocks("bash"):
        joined = re.sub(r"\\\n\s*", " ", text)
        for offset, line in enumerate(joined.splitlines()):
            words = line.split("#")[0].strip()
            if words.startswith("sape-geo ") or words.startswith(".venv/bin/sape-geo "):
                commands.append((line_number + offset, words))
    return commands


def test_the_readme_has_snippets_to_test():
    assert len(blocks("python")) >= 2 and len(command_lines()) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("line, code", blocks("python"), ids=[f"README.md:{line}" for line, _ in blocks("python")])
def test_python_snippet_runs(line, code, tmp_path, monkeypatch):
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("line, command", command_lines(), ids=[f"README.md:{line}" for line, _ in command_lines()])
def test_command_line_parses(line, command):
    words = shlex.split(command)[1:]
    if "--help" in words:
        words.remove("--help")
    parser, plugins = build_parser(words)
    if words[0] == "ripple" and "ripple" not in plugins:
        pytest.skip("the example plugin's command exists once the README's pip line installed it (tests/test_example_plugin.py)")
    try:
        args = parser.parse_args(words)
    except SystemExit as error:  # a missing required option (e.g. --out in a --help line) is the only excuse
        pytest.fail(f"README.md:{line}: `{command}` does not parse (exit {error.code})")
    if args.command in plugins:
        plugins[args.command].check_args(args)
