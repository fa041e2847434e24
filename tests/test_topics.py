"""On-topic matching with the shipped bilingual terms."""

from __future__ import annotations

import pytest

from mediamon.config import load_sources
from mediamon.testing import project_config
from mediamon.topics import TopicMatcher


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    """The matcher built from the shipped sources.yaml."""
    sources = load_sources(project_config().sources_path)
    return TopicMatcher.from_terms(sources.topics, sources.script_terms)


@pytest.mark.parametrize(
    "text, topic",
    [
        ("深度求索发布新模型", "chinese_ai"),
        ("中国AI公司融资", "chinese_ai"),
        ("美国收紧H20出口", "chip_controls"),
        ("美國將中芯國際列入實體清單", "chip_controls"),
        ("輝達市值一日蒸發近六千億美元", "ai_valuations"),
        ("Nvidia loses $589bn in market value", "ai_valuations"),
        ("New export controls on chips to China", "chip_controls"),
        ("恆生科技指數創新高", "ai_valuations"),
    ],
)
def test_on_topic(matcher, text, topic):
    """Simplified, traditional and English phrasings hit their topic."""
    assert topic in matcher.match(text)


@pytest.mark.parametrize("text", [
    "She said the weather was fine", "北方本周末大范围降温", "The Chipotle menu changes", "Maintenance window",
])
def test_off_topic(matcher, text):
    """Latin terms match whole words only; unrelated news stays out."""
    assert matcher.match(text) == ()


def test_prefix_terms():
    """A trailing * matches word prefixes, and nothing inside other words."""
    m = TopicMatcher.from_terms({"chips": ("chip*",)})
    assert m.match("chipmakers rally") == ("chips",)
    assert m.match("microchip news") == ()
