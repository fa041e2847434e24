"""Apply the warehouse's numbered SQL migrations in order, each in one transaction with its record."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from .config import PROJECT_ROOT
from .errors import MigrationError

MIGRATIONS_DIR = PROJECT_ROOT / "warehouse" / "migrations"
VIEWS_FILE = PROJECT_ROOT / "warehouse" / "views.sql"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """The migration files as (version, name, path), in order; a malformed name or gap is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_snake_case.sql")
        found.append((int(match.group(1)), match.group(2), path))
    for expected, (version, _, path) in enumerate(found, start=1):
        if version != expected:
            raise MigrationError(f"{path}: expected migration {expected:04d} next, found {version:04d}")
    return found


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = MIGRATIONS_DIR, views: Path | None = VIEWS_FILE) -> list[str]:
    """Bring the schema up to date and re-create the views; return the names of migrations applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
    )
    applied = {v: (n, h) for v, n, h in con.execute("SELECT version, name, sha256 FROM schema_migrations").fetchall()}
    done = []
    for version, name, path in discover(directory):
        sql = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        if version in applied:
            if applied[version][1] != digest:
                raise MigrationError(
                    f"{path}: migration {version:04d} was edited after it was applied "
                    f"(recorded sha256 {applied[version][1][:12]}…, file {digest[:12]}…); add a new migration instead"
                )
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name, sha256) VALUES (?, ?, ?)", [version, name, digest])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise MigrationError(f"{path}: migration {version:04d} failed and was rolled back: {exc}") from exc
        done.append(f"{version:04d}_{name}")
    if views is not None and views.exists():
        con.execute(views.read_text(encoding="utf-8"))
    return done
