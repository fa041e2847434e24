"""Numbered migrations: in order, once, each in a transaction with its record; edits refused."""

from __future__ import annotations

import shutil
from importlib import resources

import duckdb
import pytest

from mediamon.errors import MigrationError
from mediamon.warehouse.connection import discover, migrate


@pytest.fixture
def mig_dir(tmp_path):
    """A private copy of the project's migrations."""
    target = tmp_path / "migrations"
    with resources.as_file(resources.files("mediamon.warehouse").joinpath("sql", "migrations")) as packaged:
        shutil.copytree(packaged, target)
    return target


def test_project_migrations_apply_once(tmp_path):
    """A new warehouse gets every migration; a second run applies nothing."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert migrate(con) == [f"{v:04d}_{n}" for v, n, _ in discover()]
    assert migrate(con) == []
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"v_articles", "v_feed_status", "v_feed_polls"} <= views


def test_edited_applied_migration_is_an_error(tmp_path, mig_dir):
    """Changing a migration after it ran is refused with the file named."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con, mig_dir, views=False)
    path = next(mig_dir.glob("0001_*.sql"))
    path.write_text(path.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="0001.*edited after it was applied"):
        migrate(con, mig_dir, views=False)


def test_failed_migration_rolls_back_entirely(tmp_path, mig_dir):
    """A migration that fails half-way leaves neither its tables nor its record."""
    last = len(discover(mig_dir))
    broken = f"{last + 1:04d}_broken.sql"
    (mig_dir / broken).write_text("CREATE TABLE half (x INT);\nSELECT * FROM no_such_table;\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(MigrationError, match=f"{broken}.*rolled back"):
        migrate(con, mig_dir, views=False)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "half" not in tables and "articles" in tables
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == last


def test_gaps_and_bad_names_are_refused(tmp_path, mig_dir):
    """Migrations are numbered without gaps and named NNNN_snake_case.sql."""
    last = len(discover(mig_dir))
    gap = mig_dir / f"{last + 2:04d}_skip.sql"
    gap.write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=f"expected migration {last + 1:04d}"):
        discover(mig_dir)
    gap.unlink()
    (mig_dir / "2-bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_snake_case"):
        discover(mig_dir)


def test_rebuilding_migration_keeps_the_data(tmp_path, mig_dir):
    """0003 rebuilds the growing tables without indexes and keeps every row."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    later = sorted(p for p in mig_dir.glob("*.sql") if p.name >= "0003")
    held = {p: p.read_text() for p in later}
    for p in later:
        p.unlink()
    migrate(con, mig_dir, views=False)
    con.execute("INSERT INTO articles (article_id, source_id, url, canonical_url, first_seen_at, lang, script, text_hash, "
                "word_count, extraction) VALUES ('a1', 'f', 'u', 'c', now(), 'zh', 'zh-Hans', 'h', 1, 'page')")
    con.execute("INSERT INTO article_stories VALUES ('a1', 'a1')")
    for p, text in held.items():
        p.write_text(text)
    assert [n for n in migrate(con, mig_dir) if n.startswith("0003")]
    assert con.execute("SELECT article_id, story_id, is_story_lead FROM v_articles").fetchall() == [("a1", "a1", True)]
    indexes = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'articles' "
                          "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')").fetchone()[0]
    assert indexes == 0
