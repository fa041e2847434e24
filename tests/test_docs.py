"""The documentation stays true: every command and option, every view and macro, every link and cited file."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer

from mediamon import analysis, cli
from mediamon.warehouse.connection import sql_text

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    """Every leaf command of the CLI with its full name."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((" ".join((*prefix, name)), command))
    return found


COMMANDS = _commands(typer.main.get_command(cli.app))


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_and_option_is_in_the_command_table(name, command):
    """docs/operations.md has a row for each command, naming each of its options."""
    table = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith(f"| `mediamon {name} ") or
            line.startswith(f"| `mediamon {name}`")]
    assert rows, f"`mediamon {name}` is not in docs/operations.md's command table"
    options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts if opt.startswith("--")}
    missing = {o for o in options if o not in rows[0] and o != "--help"}
    assert not missing, f"`mediamon {name}`: options {sorted(missing)} are not in its row of docs/operations.md"


def test_every_view_and_macro_is_documented():
    """Each view and macro of views.sql has its name in docs/warehouse.md."""
    views_sql = sql_text("views.sql")
    names = set(re.findall(r"CREATE OR REPLACE (?:VIEW|MACRO) (\w+)", views_sql))
    assert {"v_articles", "v_weekly_terms", "shanghai_iso_week"} <= names
    doc = (ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")
    assert not {n for n in names if f"`{n}" not in doc}, "undocumented in docs/warehouse.md"


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_links_and_cited_paths_exist(path):
    """Relative links resolve, and every repository path written in backquotes exists."""
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (path.parent / target).exists(), f"{path.name}: link to {target} is broken"
    for cited in re.findall(r"`((?:src|tests|bench|flows|config|labels|docs|demo|seeds)/[\w./-]+)`", text):
        if "*" in cited or "NNNN" in cited:
            continue
        assert (ROOT / cited).exists(), f"{path.name} cites {cited}, which does not exist"


def test_figures_owned_by_constants_are_not_restated():
    """The number of terms stored per article lives in analysis.TOP_TERMS; prose names the constant instead."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        claim = re.search(r"top (\d+) terms", text)
        assert claim is None or int(claim.group(1)) == analysis.TOP_TERMS, f"{path.name}: {claim.group(0)}"
