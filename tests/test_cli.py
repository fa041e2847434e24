"""The command line: init, sql (read-only, three formats), sources check."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mediamon.cli import app

runner = CliRunner()


@pytest.fixture
def initialised(db_path):
    """A warehouse created by `mediamon init`."""
    result = runner.invoke(app, ["init", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    return db_path


def test_init_is_idempotent(initialised):
    """A second init applies nothing and adds no baseline articles."""
    result = runner.invoke(app, ["init", "--db", str(initialised)])
    assert result.exit_code == 0 and "migrations applied now: none" in result.output
    assert "baseline articles added: 0" in result.output


def test_sql_formats(initialised):
    """table, csv and json give the same rows."""
    query = "SELECT script, count(*) AS n FROM v_articles WHERE is_baseline GROUP BY 1 ORDER BY 1"
    as_json = runner.invoke(app, ["sql", "--db", str(initialised), "--format", "json", query])
    assert json.loads(as_json.output) == [{"script": "zh-Hans", "n": 3}, {"script": "zh-Hant", "n": 1}]
    as_csv = runner.invoke(app, ["sql", "--db", str(initialised), "--format", "csv", query])
    assert as_csv.output.splitlines() == ["script,n", "zh-Hans,3", "zh-Hant,1"]
    as_table = runner.invoke(app, ["sql", "--db", str(initialised), query])
    assert "zh-Hant" in as_table.output


def test_sql_is_read_only(initialised):
    """Writes through `mediamon sql` are refused and change nothing."""
    result = runner.invoke(app, ["sql", "--db", str(initialised), "DELETE FROM articles"])
    assert result.exit_code == 2 and "read-only" in result.output.lower()
    count = runner.invoke(app, ["sql", "--db", str(initialised), "--format", "csv", "SELECT count(*) FROM articles"])
    assert count.output.splitlines()[1] == "4"


def test_sql_honours_mediamon_db(initialised, monkeypatch):
    """$MEDIAMON_DB names the warehouse when --db is not given."""
    monkeypatch.setenv("MEDIAMON_DB", str(initialised))
    result = runner.invoke(app, ["sql", "--format", "csv", "SELECT count(*) FROM v_articles"])
    assert result.exit_code == 0 and result.output.splitlines()[1] == "4"


def test_sql_without_a_warehouse(tmp_path):
    """A missing warehouse is a clear error, not a new empty file."""
    result = runner.invoke(app, ["sql", "--db", str(tmp_path / "none.duckdb"), "SELECT 1"])
    assert result.exit_code == 2 and "mediamon init" in result.output
    assert not (tmp_path / "none.duckdb").exists()


def test_sources_check(tmp_path):
    """The shipped file passes; a bad one fails with exit code 2 and the file and key named."""
    ok = runner.invoke(app, ["sources", "check"])
    assert ok.exit_code == 0 and "ok:" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: {a: [x]}\nfeeds:\n  - {id: a, name: A, outlet: A, url: 'gopher://x', lang: en}\n")
    result = runner.invoke(app, ["sources", "check", "--sources", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:3: feeds.0.url" in result.output.replace("\n", "")


@pytest.mark.prefect
def test_ingest_command(prefect_harness, sources_file, db_path):
    """`mediamon ingest` runs the flow and prints the run's totals as JSON."""
    result = runner.invoke(app, ["ingest", "--sources", str(sources_file), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output.strip().splitlines()[-1])
    assert totals["new_articles"] == 8 and totals["feeds"] == 9


def test_status_and_narrative_commands(initialised):
    """status lists the warehouse; narratives refresh/shifts/rebuild run on the seeds-only warehouse."""
    status = runner.invoke(app, ["status", "--db", str(initialised)])
    assert status.exit_code == 0, status.output
    assert "Feeds" in status.output and "Warehouse" in status.output and "megabytes" in status.output
    refresh = runner.invoke(app, ["narratives", "refresh", "--db", str(initialised), "--full"])
    assert refresh.exit_code == 0 and "refreshed in" in refresh.output
    shifts = runner.invoke(app, ["narratives", "shifts", "--db", str(initialised)])
    assert shifts.exit_code == 0 and "no weeks yet" in shifts.output  # only the baseline is stored
    rebuilt = runner.invoke(app, ["narratives", "rebuild", "--db", str(initialised), "--workers", "0"])
    assert rebuilt.exit_code == 0, rebuilt.output
    summary = next(line for line in rebuilt.output.splitlines() if line.startswith("{"))  # log lines may precede it
    assert json.loads(summary)["articles"] == 4
    labels = runner.invoke(app, ["sql", "--db", str(initialised), "--format", "json",
                                 "SELECT count(DISTINCT article_id) AS n FROM v_article_labels WHERE is_baseline"])
    assert json.loads(labels.output[labels.output.index("["):]) == [{"n": 4}]
