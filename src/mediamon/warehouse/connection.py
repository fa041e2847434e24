"""The warehouse file: short-lived writer connections, read-only readers, one transaction helper, the run lock,
the analysts' read copy, the migrations, and the named SQL statements every concern runs (sql/*.sql, `-- name:`)."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Iterator

import duckdb

from ..config import WAREHOUSE_MEMORY_MB
from ..errors import MigrationError, PublishFailed, WarehouseBusy, WarehouseUnwritable

log = logging.getLogger("mediamon.warehouse")
# Rows per row group for new data: small groups keep each checkpoint's rewrite small (DuckDB's minimum).
WRITER_ROW_GROUP_SIZE = 2048
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
# How the operating system's storage errors read in DuckDB's and Python's messages, and what to tell the operator.
_STORAGE_PROBLEMS = {
    "No space left on device": "no space left on device",
    "Disk quota exceeded": "disk quota exceeded",
    "File too large": "file size limit reached",
    "Read-only file system": "the file system is read-only",
    "Permission denied": "permission denied",
}
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# How long a maintenance command (init, rebuilds) waits for a running ingest or digest to finish.
MAINTENANCE_WAIT_SECONDS = 1800.0


def read_copy_path(path: str | Path) -> Path:
    """Where the analysts' read copy of a warehouse file is published: beside it, mediamon.duckdb ->
    mediamon.read.duckdb."""
    path = Path(path)
    return path.with_name(f"{path.stem}.read{path.suffix or '.duckdb'}")


def sql_text(name: str) -> str:
    """A packaged SQL file (warehouse/sql/<name>)."""
    return resources.files("mediamon.warehouse").joinpath("sql", name).read_text("utf-8")


@lru_cache(maxsize=16)
def statements(name: str) -> dict[str, str]:
    """The named statements of a packaged SQL file: each starts at a '-- name: x' line."""
    found: dict[str, str] = {}
    current = None
    for line in sql_text(name).splitlines():
        if line.startswith("-- name:"):
            current = line.split(":", 1)[1].strip()
            found[current] = ""
        elif current and not line.startswith("--"):
            found[current] += line + "\n"
    return {k: v.strip().rstrip(";") for k, v in found.items()}


@contextmanager
def in_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on a connection: committed when the block ends, rolled back if it raises (the only
    BEGIN/COMMIT/ROLLBACK in mediamon)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:  # the connection may be gone with the failure; the error on its way says why
            pass
        raise
    con.execute("COMMIT")


def storage_problem(exc: BaseException) -> str | None:
    """What a storage error means for the operator (None if exc, and what caused it, is no storage error)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        for marker, meaning in _STORAGE_PROBLEMS.items():
            if marker in text:
                return meaning
        seen = seen.__cause__ or seen.__context__
    return None


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """The rows of an executed statement as dicts by column name."""
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


class Database:
    """A DuckDB file that is held only while a batch is written, so analysts can read between runs."""

    def __init__(self, path: str | Path, lock_timeout: float = 300.0, memory_mb: int = WAREHOUSE_MEMORY_MB):
        """Point at a warehouse file; writers wait up to lock_timeout seconds for another process, use memory_mb."""
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.memory_mb = memory_mb

    @contextmanager
    def writer(self, unlimited: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection (DuckDB within memory_mb unless unlimited), waiting with a log line while
        another process holds the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay, warned = 0.2, False
        while True:
            try:
                con = self._connect_writer(None if unlimited else self.memory_mb)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc) for m in _LOCK_MARKERS):
                    raise self.unwritable(exc) from exc
                if time.monotonic() + delay > deadline:
                    raise WarehouseBusy(f"{self.path}: still locked by another process after {self.lock_timeout:g} s: {exc}") from None
                if not warned:
                    log.warning("warehouse %s is held by another process (a reader or another run); waiting", self.path)
                    warned = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            yield con
        except (duckdb.Error, OSError, WarehouseBusy, WarehouseUnwritable) as exc:
            raise self.unwritable(exc) from exc
        finally:
            try:
                con.close()  # closing checkpoints, which writes too
            except (duckdb.Error, OSError) as exc:
                if sys.exc_info()[0] is None:  # do not hide the error already on its way out
                    raise self.unwritable(exc) from exc

    @contextmanager
    def transaction(self, unlimited: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writer connection inside one transaction: committed when the block ends, rolled back if it raises."""
        with self.writer(unlimited) as con, in_transaction(con):
            yield con

    def unwritable(self, exc: BaseException) -> BaseException:
        """A storage error as WarehouseUnwritable naming the file and what to do; any other error unchanged."""
        problem = storage_problem(exc)
        if problem is None or isinstance(exc, WarehouseUnwritable):
            return exc
        log.error("warehouse %s: a write failed: %s", self.path, exc)
        return WarehouseUnwritable(
            f"{self.path}: cannot write the warehouse: {problem}. Nothing of this step was committed and what "
            f"earlier runs stored is intact; make room or fix the file system, then run again. ({exc})")

    def _connect_writer(self, memory_mb: int | None) -> duckdb.DuckDBPyConnection:
        """A read-write connection whose appends fill row groups of WRITER_ROW_GROUP_SIZE rows.

        Every checkpoint rewrites the last row group; with DuckDB's default size (122,880 rows) that group
        held every article stored so far, so a commit's memory and time grew with the warehouse. The memory
        limit bounds the rest: DuckDB's default (80% of RAM) let the measures refresh grow with the run.
        """
        config = {"temp_directory": f"{self.path}.tmp"} | ({"memory_limit": f"{memory_mb}MB"} if memory_mb else {})
        con = duckdb.connect(config=config)
        try:
            path = str(self.path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS warehouse (ROW_GROUP_SIZE {WRITER_ROW_GROUP_SIZE})")
            con.execute("USE warehouse")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (fails clearly if the warehouse does not exist yet)."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no warehouse here yet; run `mediamon init`")
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            yield con
        finally:
            con.close()

    def query(self, file: str, name: str, params=None) -> list[dict]:
        """Run one named read statement and return its rows as dicts."""
        with self.reader() as con:
            return rows_as_dicts(con.execute(statements(file)[name], params or []))

    @contextmanager
    def run_lock(self, flow: str, wait_seconds: float = 0.0) -> Iterator[bool]:
        """Hold the warehouse's run lock for a whole flow run; yields False if another run still held it after
        wait_seconds. An OS lock (flock): a crashed or killed run releases it with its process."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        path = self.path.with_name(self.path.name + ".run.lock")
        log.debug("%s: a %s run asks for the run lock", self.path, flow)
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise self.unwritable(exc) from exc
        deadline = time.monotonic() + wait_seconds
        announced = False
        try:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    if time.monotonic() >= deadline:
                        log.warning("%s: a run is in progress (%s); this %s run gives up", self.path, holder, flow)
                        yield False
                        return
                    if not announced:
                        log.warning("%s: a run is in progress (%s); this %s run waits up to %.0f s", self.path, holder,
                                    flow, wait_seconds)
                        announced = True
                    time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            handle.seek(0)
            handle.truncate()
            handle.write(f"{flow} run, pid {os.getpid()}, since {datetime.now().astimezone().isoformat(timespec='seconds')}")
            handle.flush()
            yield True
            self.publish()  # still under the lock: no writer changes the file while it is copied
        finally:
            handle.close()  # closing releases the lock

    @contextmanager
    def maintenance(self, what: str, wait_seconds: float = MAINTENANCE_WAIT_SECONDS) -> Iterator[None]:
        """Hold the run lock for a maintenance command (init, a rebuild), waiting for a running ingest or digest;
        the read copy is published when it ends."""
        with self.run_lock(what, wait_seconds) as held:
            if not held:
                raise WarehouseBusy(f"{self.path}: another run held the warehouse for {wait_seconds:.0f} s; "
                                    f"{what} did not run (try again when it has finished)")
            yield

    @property
    def read_copy(self) -> Path:
        """The analysts' read copy of this warehouse."""
        return read_copy_path(self.path)

    def publish(self) -> float | None:
        """Publish the analysts' read copy: checkpoint, copy the file beside it, flush it to disk, mark it
        read-only, and rename it over the old copy in one step. Returns the seconds it took (None: no warehouse).

        A reader that has the old copy open keeps reading the old file until it reconnects (a rename does not
        touch open files); a new reader gets the whole new file, never a partial one. Call it under the run lock.
        """
        if not self.path.exists():
            return None
        start = time.monotonic()
        target = self.read_copy
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a publish that was killed
            stale.unlink(missing_ok=True)
        with self.writer() as con:
            con.execute("CHECKPOINT")  # everything in the main file, nothing left in a WAL beside it
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(self.path, partial)  # sendfile on Linux: a kernel-side copy
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(partial, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 0444: opening it to write fails
            os.replace(partial, target)
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a power cut
            finally:
                os.close(directory)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            problem = storage_problem(exc) or exc.strerror or str(exc)
            log.error("%s: the analysts' copy was not published: %s", target, exc)
            raise PublishFailed(
                f"{target}: cannot publish the analysts' read copy: {problem}. The warehouse {self.path} is intact and "
                f"the previous copy is still readable; the next run publishes again. ({exc})") from exc
        seconds = time.monotonic() - start
        log.info("published the analysts' read copy %s in %.2f s", target, seconds)
        return seconds

    def migrate(self) -> list[str]:
        """Create or upgrade the schema and views."""
        with self.writer() as con:
            return migrate(con)


def discover(folder: Traversable | None = None) -> list[tuple[int, str, str]]:
    """The migrations (packaged, or in `folder`) as (version, name, sql), in order; a malformed name or a gap is
    an error."""
    folder = folder or resources.files("mediamon.warehouse").joinpath("sql", "migrations")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION.match(entry.name)
        if not match:
            raise MigrationError(f"{entry.name}: migration files are named NNNN_snake_case.sql")
        found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise MigrationError(f"{version:04d}_{name}.sql: expected migration {expected:04d} next, found {version:04d}")
    return found


def latest_migration() -> str:
    """The name of the newest migration (the measures recount everything after a schema change)."""
    version, name, _ = discover()[-1]
    return f"{version:04d}_{name}"


def migrate(con: duckdb.DuckDBPyConnection, folder: Traversable | None = None, views: bool = True) -> list[str]:
    """Bring the schema up to date (each migration in a transaction with its record) and re-create the views;
    return the names of migrations applied now."""
    run = statements("migrate.sql")
    con.execute(run["create_schema_migrations"])
    applied = {v: (n, h) for v, n, h in con.execute(run["applied"]).fetchall()}
    done = []
    for version, name, sql in discover(folder):
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        label = f"{version:04d}_{name}.sql"
        if version in applied:
            if applied[version][1] != digest:
                raise MigrationError(
                    f"{label}: migration {version:04d} was edited after it was applied "
                    f"(recorded sha256 {applied[version][1][:12]}…, file {digest[:12]}…); add a new migration instead")
            continue
        try:
            with in_transaction(con):
                con.execute(sql)
                con.execute(run["record"], [version, name, digest])
        except duckdb.Error as exc:
            raise MigrationError(f"{label}: migration {version:04d} failed and was rolled back: {exc}") from exc
        done.append(f"{version:04d}_{name}")
    if views:
        con.execute(sql_text("views.sql"))
    return done
