"""The DuckDB warehouse, one module per concern:

- `connection`: the file, writer and reader connections, `in_transaction()`, the run lock, migrations, named SQL;
- `ingest`: feeds, articles (with their stories and analysis, in one transaction), polls, runs, the seeds;
- `stories`: signatures, band keys, links and stories, kept up to date batch by batch, or rebuilt;
- `analysis`: terms and labels, relabelling, the weekly measures;
- `reports`: the digest's and the operator's reads, and the digests' delivery records.

Every statement is SQL in `sql/*.sql` (named `-- name:` sections), read with importlib.resources.
"""

from __future__ import annotations

from pathlib import Path

from ..config import WAREHOUSE_MEMORY_MB, Config, StorySettings
from .analysis import AnalysisStore
from .connection import Database
from .ingest import IngestStore
from .reports import ReportStore, digest_queries
from .stories import StoryStore

__all__ = ["Warehouse", "digest_queries"]


class Warehouse(Database):
    """A warehouse file and its concerns: `ingest`, `stories`, `analysis` and `reports` (see the module)."""

    def __init__(self, path: str | Path, lock_timeout: float = 300.0, stories: StorySettings | None = None,
                 memory_mb: int = WAREHOUSE_MEMORY_MB):
        """Point at a warehouse file; writers wait up to lock_timeout seconds and use memory_mb; stories are grouped
        with the given settings."""
        super().__init__(path, lock_timeout, memory_mb)
        settings = stories or StorySettings()
        self.ingest = IngestStore(self, settings)
        self.stories = StoryStore(self, settings)
        self.analysis = AnalysisStore(self)
        self.reports = ReportStore(self)

    @classmethod
    def configured(cls, config: Config, path: str | Path | None = None) -> Warehouse:
        """The project's warehouse (or the one at path) with the configured story settings and writer memory."""
        return cls(path or config.db_path, stories=config.sources.stories,
                   memory_mb=config.sources.pipeline.warehouse_memory_mb)
