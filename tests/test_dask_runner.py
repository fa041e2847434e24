"""Fetching and extraction on a Dask cluster (prefect-dask) give the same warehouse as the default runner."""

from __future__ import annotations

import pytest
from fixtures.site import sources_yaml

from flows.ingest import ingest as ingest_flow
from mediamon.warehouse import Warehouse

pytestmark = pytest.mark.prefect

# What a run stores, without the columns that name the run or its clock. An article that two feeds carry
# in the same run goes to the feed whose poll finished first, on either runner: the feed (source_id,
# outlet, url) and per-feed counts are therefore compared as totals, not feed by feed.
SNAPSHOT = {
    "articles": """SELECT a.canonical_url, a.title, a.author, a.published_at, a.iso_week,
                          a.lang, a.script, a.text, a.text_simplified, a.word_count, a.is_baseline, d.canonical_url
                   FROM v_articles a LEFT JOIN v_articles d ON d.article_id = a.duplicate_of ORDER BY ALL""",
    "stories": """SELECT a.canonical_url, l.canonical_url FROM v_articles a
                  JOIN v_articles l ON l.article_id = a.story_id ORDER BY ALL""",
    "labels": """SELECT a.canonical_url, l.narrative, l.frame, l.score, l.matched FROM v_article_labels l
                 JOIN v_articles a USING (article_id) ORDER BY ALL""",
    "terms": """SELECT a.canonical_url, t.term, t.n FROM article_terms t JOIN v_articles a USING (article_id)
                ORDER BY ALL""",
    "polls": "SELECT feed_id, status, error_class, entries_seen, on_topic FROM feed_polls ORDER BY ALL",
    "totals": """SELECT (SELECT sum(new_articles) FROM feed_polls), (SELECT sum(duplicates) FROM feed_polls),
                        (SELECT count(DISTINCT source_id) FROM v_articles)""",
    # `outlets` counts the outlets of the feeds that won those shared articles, so it is left out too.
    "weekly": "SELECT * EXCLUDE (outlets) FROM weekly_narratives ORDER BY ALL",
}


def _snapshot(db) -> dict[str, list]:
    """Every stored fact of a warehouse that does not depend on when or by which run it was written."""
    with Warehouse(db).reader() as con:
        return {name: [_hashable(row) for row in con.execute(sql).fetchall()] for name, sql in SNAPSHOT.items()}


def _hashable(value):
    """A row with its list columns (matched terms) as tuples, so rows can be compared as sets."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def test_ingest_on_a_local_dask_cluster_matches_the_default_runner(prefect_harness, feed_site, tmp_path):
    """Two Dask workers on loopback poll, fetch and extract; the warehouse equals the threads runner's."""
    pytest.importorskip("prefect_dask", reason="prefect-dask is in the dask dependency group")
    from prefect import get_client

    ingest = ingest_flow
    feeds = feed_site[1]
    threads_src, dask_src = tmp_path / "threads.yaml", tmp_path / "dask.yaml"
    threads_src.write_text(sources_yaml(feeds, extract_workers=2), "utf-8")
    dask_src.write_text(sources_yaml(feeds, task_runner="dask", dask_workers=2), "utf-8")

    reference = ingest(sources_path=str(threads_src), db=str(tmp_path / "threads.duckdb"))
    on_dask = ingest(sources_path=str(dask_src), db=str(tmp_path / "dask.duckdb"))

    assert on_dask["new_articles"] == reference["new_articles"] == 8
    assert on_dask["feeds_failed"] == reference["feeds_failed"]
    expected, got = _snapshot(tmp_path / "threads.duckdb"), _snapshot(tmp_path / "dask.duckdb")
    for table in SNAPSHOT:
        only_dask = sorted(set(got[table]) - set(expected[table]), key=str)
        only_threads = sorted(set(expected[table]) - set(got[table]), key=str)
        assert got[table] == expected[table], f"{table} differs: Dask only {only_dask}, threads only {only_threads}"
    assert expected["articles"] and expected["terms"] and expected["labels"]

    async def subflows():
        """Names and states of the flow runs the Dask run started under it."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[on_dask["run_id"]])))
            return [(r.name, r.state_type.value, (await client.read_flow(r.flow_id)).name) for r in runs]

    import asyncio

    runs = asyncio.run(subflows())
    assert [(flow, state) for _, state, flow in runs] == [("ingest-feeds-on-dask", "COMPLETED")]
