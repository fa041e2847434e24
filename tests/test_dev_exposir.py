"""Development check: stories over real archived items from 49 feeds (exposir-rss). Prints for a person to read."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pytest

from conftest import require_shared
from mediamon.config import PipelineSettings, StorySettings
from mediamon.models import Article, FeedHarvest, FeedOutcome
from mediamon.normalize import article_id, canonical_url, clean_text, detect_script, text_fingerprint, to_simplified, word_count
from mediamon.parse import html_to_text
from mediamon.stories import sign_article
from mediamon.store import Warehouse

pytestmark = pytest.mark.shared


def _items(root):
    """Articles from every archived JSON Feed under root."""
    out = []
    for path in sorted(root.glob("*.json.gz")):
        feed = json.load(gzip.open(path))
        for item in feed.get("items", []):
            text = clean_text(item.get("content_text") or html_to_text(item.get("content_html") or ""))
            url = item.get("url") or item.get("id")
            if not url or not text:
                continue
            when = item.get("date_published")
            at = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else datetime(2026, 2, 1, tzinfo=timezone.utc)
            lang, script = detect_script(text)
            simplified = to_simplified(text)
            canonical = canonical_url(url)
            out.append(Article(article_id(canonical), path.name.split(".")[0], feed.get("title") or path.name, url, canonical,
                               clean_text(item.get("title") or "")[:200], None, at, at, lang, script, text, simplified,
                               text_fingerprint(simplified), word_count(text), "feed", guid=url))
    return out


def test_stories_over_the_exposir_archives(tmp_path):
    """Group ~5,500 real items and print the count and a sample of merged pairs."""
    root = require_shared("corpora/feed_archives/exposir-rss/head")
    params = StorySettings()
    articles = sorted((sign_article(a, params) for a in _items(root)), key=lambda a: (a.published_at, a.article_id))
    wh = Warehouse(tmp_path / "exposir.duckdb", stories=params)
    wh.migrate()
    for i in range(0, len(articles), 500):
        wh.commit("dev", [FeedHarvest(FeedOutcome("dev"), articles[i:i + 500])], PipelineSettings(), datetime.now(timezone.utc))
    with wh.reader() as con:
        n_articles, n_stories, multi, cross = con.execute(
            "SELECT (SELECT count(*) FROM articles), count(*), count(*) FILTER (WHERE n_articles > 1), "
            "count(*) FILTER (WHERE n_outlets > 1) FROM v_stories").fetchone()
        sample = con.execute(
            "SELECT l.similarity, l.kind, a.outlet, a.title, b.outlet, b.title FROM article_links l "
            "JOIN articles a ON a.article_id = l.article_id JOIN articles b ON b.article_id = l.linked_id "
            "WHERE a.outlet <> b.outlet ORDER BY hash(l.article_id) LIMIT 12").fetchall()
        weakest = con.execute(
            "SELECT l.similarity, a.outlet, a.title, b.outlet, b.title FROM article_links l "
            "JOIN articles a ON a.article_id = l.article_id JOIN articles b ON b.article_id = l.linked_id "
            "WHERE l.kind = 'near' ORDER BY l.similarity LIMIT 5").fetchall()
    print(f"\nexposir-rss: {n_articles} items -> {n_stories} stories; {multi} with more than one item, "
          f"{cross} carried by more than one feed")
    print("sample of merged pairs across feeds (similarity, kind, feed: title <- feed: title):")
    for sim, kind, oa, ta, ob, tb in sample:
        print(f"  {sim:.2f} {kind:5s} {oa}: {ta[:40]}  <-  {ob}: {tb[:40]}")
    print("weakest near-duplicate links:")
    for sim, oa, ta, ob, tb in weakest:
        print(f"  {sim:.2f} {oa}: {ta[:40]}  <-  {ob}: {tb[:40]}")
    assert n_stories < n_articles
