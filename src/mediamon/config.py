"""The one configuration object: a project folder's sources.yaml and config/, validated, loaded once, passed down.

A project folder holds the files a user edits: `sources.yaml`, `config/` (narrative rules, lexicon) and
`seeds/`, plus `warehouse/` and `reports/` that mediamon writes. It is $MEDIAMON_HOME, or the working
directory. A file the folder does not have comes from the defaults an installed wheel ships
(`mediamon/defaults`, the repository's own files); SQL and templates always come from the package.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dotenv
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

if TYPE_CHECKING:
    from .analysis import AnalysisConfig

HOME_ENV = "MEDIAMON_HOME"
DB_ENV = "MEDIAMON_DB"
SOURCES_ENV = "MEDIAMON_SOURCES"
DEFAULT_DB = Path("warehouse") / "mediamon.duckdb"  # relative to the project folder
LANGS = ("zh-Hans", "zh-Hant", "en")


class _Strict(BaseModel):
    """A config section that refuses unknown keys, so typos are caught at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FetcherSettings(_Strict):
    """How feeds and pages are fetched."""

    timeout_seconds: float = Field(20, gt=0, le=600)
    connect_timeout_seconds: float = Field(5, gt=0, le=120)
    max_bytes: int = Field(8_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = "mediamon/0.1 (media monitoring)"
    allow_private_addresses: bool = False
    per_host_concurrency: int = Field(2, ge=1, le=32)
    max_retry_after_seconds: float = Field(86400, ge=0)  # the longest a Retry-After may park a feed
    retry_wait_cap_seconds: float = Field(30, ge=0)
    retries: int = Field(2, ge=0, le=10)
    retry_backoff_seconds: float = Field(2, ge=0)


# DuckDB's memory for a warehouse writer (pipeline.warehouse_memory_mb), in MB.
WAREHOUSE_MEMORY_MB = 128

class PipelineSettings(_Strict):
    """How pages become articles."""

    extract_workers: int = Field(0, ge=0, le=64)  # 0: extract in-process; N: a pool of N processes
    min_text_chars: int = Field(200, ge=0)
    write_batch_articles: int = Field(500, ge=1)
    backoff_max_hours: float = Field(24, gt=0)
    run_lock_wait_seconds: float = Field(0, ge=0)  # a run that finds another in progress waits this long, then skips
    # DuckDB's memory while writing; beyond it, large aggregations spill to <warehouse>.tmp instead of growing.
    warehouse_memory_mb: int = Field(WAREHOUSE_MEMORY_MB, ge=64)
    # Where the poll and harvest tasks run: Prefect's threads in the flow's process (extraction in its
    # process pool), or a Dask cluster (prefect-dask), each Dask worker fetching and extracting in-process.
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = None  # a running scheduler, e.g. tcp://10.0.0.5:8786; none: a local cluster per run
    dask_workers: int = Field(2, ge=1, le=512)  # worker processes of that local cluster

    @property
    def on_dask(self) -> bool:
        """True when tasks go to a Dask cluster."""
        return self.task_runner == "dask"


class StorySettings(_Strict):
    """Near-duplicate detection: MinHash over character shingles, LSH bands, a similarity threshold."""

    shingle: int = Field(5, ge=2, le=12)        # characters per shingle (no segmentation needed)
    num_perm: int = Field(192, ge=16, le=1024)
    bands: int = Field(64, ge=1)                # bands x rows = num_perm; more bands catch lower similarity
    threshold: float = Field(0.35, gt=0, le=1)  # estimated Jaccard a candidate pair must reach
    window_days: float = Field(30, gt=0)        # compare only with articles this close in time
    seed: int = 1

    @model_validator(mode="after")
    def _bands_divide(self) -> StorySettings:
        """LSH needs num_perm to split evenly into bands."""
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        return self

    @property
    def rows(self) -> int:
        """Rows per LSH band."""
        return self.num_perm // self.bands

    def key(self) -> str:
        """Names the settings that determine a signature (stored with each one)."""
        return f"c{self.shingle}-p{self.num_perm}-s{self.seed}"


class Feed(_Strict):
    """One configured feed."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    name: str = Field(min_length=1)
    outlet: str = Field(min_length=1)
    url: str
    lang: Literal["zh-Hans", "zh-Hant", "en"]
    tags: tuple[str, ...] = ()
    enabled: bool = True
    full_text: bool = False
    keep_all: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Feeds are fetched over HTTP(S) only."""
        if not re.match(r"^https?://[^\s/]+", value, re.I):
            raise ValueError("must be an http:// or https:// URL")
        return value


class DigestSettings(_Strict):
    """The weekly digest: where it is archived, who gets it, and the SMTP server (credentials from the environment)."""

    reports_dir: str = "reports"                      # relative to the project, or absolute
    weeks_shown: int = Field(12, ge=2, le=52)         # trend length in the digest
    recipients: tuple[str, ...] = ()
    sender: str = "mediamon <mediamon@localhost>"
    subject_prefix: str = "mediamon 周报 weekly digest"
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(30, gt=0)
    # Credentials never live in a tracked file: environment variables, or a Prefect Secret block's name.
    smtp_username_env: str = "MEDIAMON_SMTP_USERNAME"
    smtp_password_env: str = "MEDIAMON_SMTP_PASSWORD"
    smtp_password_block: str | None = None
    send_attempts: int = Field(3, ge=1, le=10)
    send_backoff_seconds: float = Field(30, ge=0)
    lock_wait_seconds: float = Field(1800, ge=0)      # how long a digest waits for a running ingest to finish

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each recipient looks like an address."""
        for address in value:
            if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
                raise ValueError(f"not an email address: {address!r}")
        return value


class Sources(_Strict):
    """The whole of sources.yaml."""

    fetcher: FetcherSettings = FetcherSettings()
    pipeline: PipelineSettings = PipelineSettings()
    stories: StorySettings = StorySettings()
    digest: DigestSettings = DigestSettings()
    topics: dict[str, tuple[str, ...]] = Field(min_length=1)
    script_terms: dict[str, str] = {}
    tracking_params: tuple[str, ...] = ()
    feeds: tuple[Feed, ...]

    @field_validator("topics")
    @classmethod
    def _nonempty_terms(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Every topic needs at least one non-blank term."""
        for name, terms in value.items():
            if not terms or any(not t.strip() for t in terms):
                raise ValueError(f"topic {name!r} needs non-empty terms")
        return value

    @field_validator("feeds")
    @classmethod
    def _some_feeds(cls, value: tuple[Feed, ...]) -> tuple[Feed, ...]:
        """At least one feed (checked after the feeds themselves validate, so errors stay precise)."""
        if not value:
            raise ValueError("list at least one feed")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> Sources:
        """Feed ids are keys in the warehouse, so they must be unique."""
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.id in seen:
                raise ValueError(f"feed id {feed.id!r} is used twice")
            seen.add(feed.id)
        return self

    def enabled_feeds(self) -> list[Feed]:
        """The feeds to poll."""
        return [f for f in self.feeds if f.enabled]

    def with_overrides(self, **fetcher: Any) -> Sources:
        """A copy with some fetcher settings replaced (tests and the demo allow loopback this way)."""
        return self.model_copy(update={"fetcher": self.fetcher.model_copy(update=fetcher)})

    def with_pipeline(self, **pipeline: Any) -> Sources:
        """A copy with some pipeline settings replaced."""
        return self.model_copy(update={"pipeline": self.pipeline.model_copy(update=pipeline)})


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location, or of its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def load_sources(path: str | os.PathLike[str] | None = None) -> Sources:
    """Read and validate a sources file (default: the project's); raise ConfigError naming file, line, key, problem."""
    path = Path(path or os.environ.get(SOURCES_ENV) or project_file("sources.yaml"))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'feeds' and 'topics' at the top")
    try:
        return Sources.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top)"
            line = _node_line(root, loc)
            problems.append(f"{path}:{line}: {key}: {err['msg']}")
        raise ConfigError("invalid sources file:\n  " + "\n  ".join(problems)) from None


def project_root() -> Path:
    """The project folder: $MEDIAMON_HOME, else the working directory."""
    return Path(os.environ.get(HOME_ENV) or os.getcwd()).resolve()


def packaged_defaults() -> Path | None:
    """The defaults an installed wheel ships (sources.yaml, config/, seeds/); in an editable install, the checkout's
    own files (the same files the wheel packs)."""
    folder = resources.files("mediamon").joinpath("defaults")
    if folder.is_dir():
        return Path(str(folder))
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() and (checkout / "config").is_dir() else None


def project_file(relative: str | os.PathLike[str], root: Path | None = None) -> Path:
    """A project file: the project folder's own, else the packaged default; the project's path when neither exists
    (so an error names where the user should put it)."""
    root = root or project_root()
    own = root / relative
    defaults = packaged_defaults()
    if not own.exists() and defaults is not None and (defaults / relative).exists():
        return defaults / relative
    return own


def database_path(db: str | os.PathLike[str] | None = None, root: Path | None = None) -> Path:
    """The warehouse file: the argument, else $MEDIAMON_DB, else warehouse/mediamon.duckdb in the project folder."""
    return Path(db or os.environ.get(DB_ENV) or (root or project_root()) / DEFAULT_DB)


@dataclass(frozen=True)
class Config:
    """Everything a run is configured by, loaded once and passed down: the sources, the analysis (lexicon and
    narrative rules) and where the project's files are."""

    root: Path
    sources_path: Path
    sources: Sources
    analysis: AnalysisConfig
    db_path: Path
    seeds_dir: Path

    @property
    def reports_dir(self) -> Path:
        """Where digests are archived: digest.reports_dir, relative to the project folder unless absolute."""
        return self.root / self.sources.digest.reports_dir

    def with_sources(self, sources: Sources) -> Config:
        """The same configuration with other sources settings (overrides from the command line or a test)."""
        return replace(self, sources=sources)


def load_config(root: str | os.PathLike[str] | None = None, sources: str | os.PathLike[str] | None = None,
                db: str | os.PathLike[str] | None = None) -> Config:
    """Load and check the project's configuration once: sources.yaml, config/ and the paths of its files."""
    from .analysis import load_analysis  # analysis imports this module's settings

    folder = Path(root).resolve() if root else project_root()
    # The folder's .env (see .env.example) fills in variables the environment does not set; it never overrides.
    dotenv.load_dotenv(folder / ".env", override=False)
    sources_path = Path(sources or os.environ.get(SOURCES_ENV) or project_file("sources.yaml", folder))
    return Config(folder, sources_path, load_sources(sources_path), load_analysis(project_file("config", folder)),
                  database_path(db, folder), project_file("seeds", folder))
