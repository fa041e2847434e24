"""The ingest flow end to end, through Prefect, against the loopback fixture site."""

from __future__ import annotations

import pytest
from fixtures.site import ITEMS

from flows.ingest import ingest
from flows.stories import rebuild_stories as stories_flow
from mediamon.warehouse import Warehouse

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def ingest_flow():
    """The flow object from flows/ingest.py."""
    return ingest


def _articles(db_path):
    """title -> row of v_articles."""
    with Warehouse(db_path).reader() as con:
        cur = con.execute("SELECT * FROM v_articles")
        cols = [d[0] for d in cur.description]
        return {r[cols.index("title")]: dict(zip(cols, r)) for r in cur.fetchall()}


def test_ingest_twice(prefect_harness, ingest_flow, feed_site, sources_file, db_path):
    """First run stores every on-topic article once; the second adds nothing and fetches no page again."""
    server, _ = feed_site
    first = ingest_flow(sources_path=str(sources_file), db=str(db_path))
    rows = _articles(db_path)

    expected = {ITEMS[k].title for k in ("deepseek", "h20", "h20_copy", "kimi", "tw_nvidia", "hk_ascend", "smic",
                                         "qwen", "nvidia_en")}
    assert set(rows) == expected, "off-topic weather item must be dropped; everything else stored once"
    assert first["new_articles"] == 8 and first["duplicates"] == 1 and first["feeds_failed"] == 2

    # the syndicated copy is linked to the first copy, its text stored once
    copy, original = rows[ITEMS["h20_copy"].title], rows[ITEMS["h20"].title]
    assert copy["duplicate_of"] == original["article_id"] and copy["text"] is None

    # encodings, scripts and simplified copies
    hk = rows[ITEMS["hk_ascend"].title]
    assert hk["script"] == "zh-Hant" and "華為昇騰晶片" in hk["text"] and "華為昇騰晶片" not in hk["text_simplified"]
    assert "华为昇腾芯片" in hk["text_simplified"]  # 昇腾 protected, Taiwan's 晶片 in mainland words
    assert "𠮷祥资本" in rows[ITEMS["smic"].title]["text"]
    assert rows[ITEMS["nvidia_en"].title]["script"] == "en"
    assert rows[ITEMS["kimi"].title]["extraction"] == "feed_fallback"
    assert {r["iso_week"] for r in rows.values()} == {"2025-W06"}
    assert not any(r["is_baseline"] for r in rows.values())

    page_hits = {p: n for p, n in server.hits.items() if not p.startswith("/feeds/")}
    assert page_hits and all(n == 1 for n in page_hits.values()), f"each page fetched once: {page_hits}"
    assert ITEMS["weather"].path not in page_hits, "off-topic entries cost no page fetch"

    second = ingest_flow(sources_path=str(sources_file), db=str(db_path))
    assert second["new_articles"] == 0 and second["duplicates"] == 0
    assert len(_articles(db_path)) == len(rows)
    assert {p: n for p, n in server.hits.items() if not p.startswith("/feeds/")} == page_hits

    with Warehouse(db_path).reader() as con:
        polls = dict(con.execute(
            "SELECT feed_id, list(status ORDER BY polled_at) FROM feed_polls GROUP BY 1").fetchall())
        failing = con.execute("SELECT failures, next_poll_at > now(), last_error FROM feeds WHERE feed_id = 'broken'").fetchone()
    assert polls["xinwen"] == ["ok", "not_modified"], "second poll is a conditional GET answered 304"
    assert polls["not-a-feed"][0] == "error"
    assert polls["broken"] == ["error"], "a failing feed backs off instead of being polled every run"
    assert failing[0] == 1 and failing[1] and "HTTP 500" in failing[2]


def test_artifact_tabulates_every_feed(prefect_harness, ingest_flow, feed_site, sources_file, db_path):
    """The run leaves a table artifact with one row per feed."""
    import json

    from prefect.artifacts import Artifact

    totals = ingest_flow(sources_path=str(sources_file), db=str(db_path))
    artifact = Artifact.get("ingest-feeds")
    assert artifact is not None and totals["run_id"] in artifact.description
    table = artifact.data if isinstance(artifact.data, (list, dict)) else json.loads(artifact.data)
    feed_ids = {row["feed_id"] for row in table} if isinstance(table, list) else set(table["feed_id"])
    assert feed_ids == {"xinwen", "portal", "taiwan", "hongkong", "gb-undeclared", "gb-header", "english", "broken", "not-a-feed"}


def test_ingest_assigns_stories_and_rebuild_agrees(prefect_harness, ingest_flow, feed_site, sources_file, db_path):
    """Stored articles get stories in the same run; the rebuild flow regroups them identically."""
    ingest_flow(sources_path=str(sources_file), db=str(db_path))
    with Warehouse(db_path).reader() as con:
        before = dict(con.execute("SELECT article_id, story_id FROM article_stories").fetchall())
        rows = {t: (s, lead) for t, s, lead in con.execute("SELECT title, story_id, is_story_lead FROM v_articles").fetchall()}
    assert len(before) == len(rows), "every stored article belongs to a story"
    original, copy = rows[ITEMS["h20"].title], rows[ITEMS["h20_copy"].title]
    assert original[0] == copy[0] and original[1] and not copy[1], "the syndicated copy joins the original's story"
    assert rows[ITEMS["deepseek"].title][0] != original[0]

    counts = stories_flow(sources_path=str(sources_file), db=str(db_path))
    with Warehouse(db_path).reader() as con:
        after = dict(con.execute("SELECT article_id, story_id FROM article_stories").fetchall())
    assert after == before and counts["articles"] == len(before)
