"""mediamon's demo and test kit: loopback servers, replayed corpora, generated corpora and reader-labelled sets.

Not used by the pipeline itself; the demo, the tests and the benchmarks import it.
"""

from __future__ import annotations

from functools import lru_cache

from ..config import Config, Sources, load_config


@lru_cache(maxsize=1)
def project_config() -> Config:
    """The project's own configuration (sources.yaml, config/, seeds/ of the working directory), loaded once."""
    return load_config()


def config_for(sources: Sources) -> Config:
    """The project's configuration with other sources settings (a test's feeds, loopback allowed)."""
    return project_config().with_sources(sources)
