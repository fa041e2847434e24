"""sources.yaml validation: the shipped file loads; bad files are refused with file, line, key and reason."""

from __future__ import annotations

import pytest

from mediamon.config import load_sources
from mediamon.errors import ConfigError
from mediamon.testing import project_config

GOOD_FEED = """
topics:
  chips: [H20]
feeds:
  - id: a
    name: A
    outlet: A
    url: https://example.com/feed
    lang: en
"""


def test_shipped_sources_are_valid_and_cover_three_scripts():
    """The shipped file lists at least 12 real feeds across simplified, traditional and English."""
    sources = load_sources(project_config().sources_path)
    assert len(sources.feeds) >= 12
    assert {f.lang for f in sources.enabled_feeds()} == {"zh-Hans", "zh-Hant", "en"}
    assert set(sources.topics) == {"chinese_ai", "chip_controls", "ai_valuations"}
    assert not sources.fetcher.allow_private_addresses, "loopback must be refused by default"
    assert all(f.url.startswith("https://") for f in sources.feeds)


def test_minimal_file_loads_with_defaults(tmp_path):
    """Only topics and feeds are required; fetcher settings have safe defaults."""
    path = tmp_path / "s.yaml"
    path.write_text(GOOD_FEED)
    sources = load_sources(path)
    assert sources.feeds[0].enabled and not sources.feeds[0].full_text
    assert sources.fetcher.max_redirects == 5


@pytest.mark.parametrize(
    "mutation, line, key, reason",
    [
        (("lang: en", "lang: fr"), 9, "feeds.0.lang", "Input should be"),
        (("url: https://example.com/feed", "url: ftp://example.com/feed"), 8, "feeds.0.url", "http"),
        (("    lang: en", "    lang: en\n    colour: red"), 10, "feeds.0.colour", "Extra inputs"),
        (("id: a", "id: Bad Id"), 5, "feeds.0.id", "pattern"),
    ],
)
def test_invalid_values_name_file_line_and_key(tmp_path, mutation, line, key, reason):
    """Each error names the file, the line, the key path and what is wrong."""
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD_FEED.replace(*mutation))
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    message = str(err.value)
    assert f"{path}:{line}: {key}:" in message
    assert reason in message
    assert message.count("\n") == 1, "one problem, one line: no follow-on errors"


def test_duplicate_feed_ids_are_refused(tmp_path):
    """Feed ids key the warehouse, so a repeated id is an error."""
    path = tmp_path / "dup.yaml"
    path.write_text(GOOD_FEED + GOOD_FEED.split("feeds:\n")[1])
    with pytest.raises(ConfigError, match="feed id 'a' is used twice"):
        load_sources(path)


def test_yaml_syntax_error_names_the_line(tmp_path):
    """Broken YAML is reported with its line."""
    path = tmp_path / "broken.yaml"
    path.write_text("topics:\n  chips: [H20\nfeeds: []\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:line \d+: not valid YAML"):
        load_sources(path)


def test_missing_file_is_a_config_error(tmp_path):
    """A missing file is reported, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "nope.yaml")
