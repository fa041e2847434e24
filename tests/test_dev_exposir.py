"""Development check: stories over real archived items from 49 feeds (exposir-rss). Prints for a person to read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import require_shared

from mediamon import runs
from mediamon.config import PipelineSettings, StorySettings
from mediamon.models import FeedHarvest, FeedOutcome
from mediamon.stories import sign_article
from mediamon.testing.archive import exposir_articles
from mediamon.warehouse import Warehouse

pytestmark = pytest.mark.shared


def test_stories_over_the_exposir_archives(tmp_path):
    """Group ~5,500 real items and print the count and a sample of merged pairs."""
    root = require_shared("corpora/feed_archives/exposir-rss/head")
    params = StorySettings()
    articles = sorted((sign_article(a, params) for a in exposir_articles(root)), key=lambda a: (a.published_at, a.article_id))
    wh = Warehouse(tmp_path / "exposir.duckdb", stories=params)
    wh.migrate()
    for i in range(0, len(articles), 500):
        wh.ingest.commit("dev", [FeedHarvest(FeedOutcome("dev"), articles[i:i + 500])], PipelineSettings(), datetime.now(UTC))
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


def test_weekly_narratives_over_the_exposir_archives(tmp_path):
    """Label the on-topic archived items, store them with the seeds, and print the weekly table and the
    top rising terms for a person to judge (nothing is asserted about what the press said)."""
    from dataclasses import replace

    from mediamon import pipeline
    from mediamon.analysis import with_analysis
    from mediamon.config import load_sources
    from mediamon.seeds import load_seeds
    from mediamon.testing import project_config

    root = require_shared("corpora/feed_archives/exposir-rss/head")
    sources = load_sources()
    matcher = pipeline.topic_matcher(sources)
    on_topic = [replace(a, topics=t) for a in exposir_articles(root) if (t := matcher.match(a.title, a.text[:400]))]
    articles = sorted((sign_article(with_analysis(a, project_config().analysis), sources.stories) for a in on_topic),
                      key=lambda a: (a.published_at, a.article_id))
    wh = Warehouse(tmp_path / "exposir.duckdb", stories=sources.stories)
    wh.migrate()
    wh.ingest.insert_baseline(load_seeds(datetime(2025, 3, 10, tzinfo=UTC), project_config().seeds_dir, project_config().analysis), "seeds")
    for i in range(0, len(articles), 500):
        wh.ingest.commit("dev", [FeedHarvest(FeedOutcome("dev"), articles[i:i + 500])], PipelineSettings(), datetime.now(UTC))
    seconds = runs.refresh_measures(wh, project_config())
    with wh.reader() as con:
        weekly = con.execute(
            "SELECT iso_week, narrative, articles, stories, round(share, 2), round(share_zh, 2), round(share_en, 2), "
            "round(jsd_baseline, 2), round(jsd_prev, 2) FROM v_weekly_narratives WHERE on_topic_articles >= 20 "
            "ORDER BY iso_week, narrative").fetchall()
        rising = con.execute(
            "SELECT iso_week, narrative, term, docs, prev_docs, round(z_prev, 1), round(z_base, 1) FROM v_weekly_terms "
            "WHERE narrative <> 'all' AND docs >= 3 AND z_prev IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY iso_week, narrative ORDER BY z_prev DESC) <= 5 "
            "ORDER BY iso_week, narrative, z_prev DESC").fetchall()
        frames = con.execute(
            "SELECT narrative, frame, sum(articles), round(sum(articles) / sum(narrative_articles), 2) FROM v_weekly_frames "
            "GROUP BY ALL ORDER BY narrative, frame").fetchall()
    print(f"\nexposir-rss: {len(on_topic)} on-topic items of the archive; measures refreshed in {seconds:.2f} s")
    print("week      narrative      articles stories share share_zh share_en jsd_base jsd_prev")
    for row in weekly:
        print("  " + "  ".join("" if v is None else str(v) for v in row))
    print("top rising terms against the previous weeks (week, narrative, term, docs, prev_docs, z_prev, z_base):")
    for row in rising:
        print("  " + "  ".join(str(v) for v in row))
    print("frame mix over the whole archive (narrative, frame, articles, share):")
    for row in frames:
        print("  " + "  ".join(str(v) for v in row))
    assert weekly and frames
