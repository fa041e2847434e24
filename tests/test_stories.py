"""Stories: near-duplicate detection, grouping, attribution, and the evaluation on a labelled set."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fixtures.site import H20_RULE, SMIC_GB
from fixtures.syndication import labelled_set, pair_scores

from mediamon.config import PipelineSettings, StorySettings
from mediamon.models import FeedHarvest, FeedOutcome
from mediamon.stories import (
    Member,
    UnionFind,
    band_keys,
    credited_origin,
    group_stories,
    lead_of,
    shingles,
    signature,
    similarity,
)
from mediamon.warehouse import Warehouse

PARAMS = StorySettings()
NOW = datetime(2025, 5, 1, tzinfo=UTC)


def test_shingles_ignore_case_space_and_punctuation():
    """Shingles are character k-grams of the bare text."""
    assert shingles("AB, c d!", 3) == {"abc", "bcd"}
    assert shingles("英伟达 H20", 4) == {"英伟达h", "伟达h2", "达h20"}


def test_signature_similarity_tracks_jaccard():
    """The MinHash estimate is close to the exact Jaccard of the shingle sets."""
    a = "".join(H20_RULE)
    b = a + "".join(SMIC_GB)
    sa, sb = shingles(a, 5), shingles(b, 5)
    exact = len(sa & sb) / len(sa | sb)
    assert abs(similarity(signature(a, PARAMS), signature(b, PARAMS)) - exact) < 0.12
    assert signature("太短", PARAMS) is None
    assert signature("责任编辑：李明\n点击关注我们\n" + H20_RULE[0], PARAMS) is None, "boilerplate does not count"
    assert len(band_keys(signature(a, PARAMS), PARAMS)) == PARAMS.bands


def test_signatures_stay_those_stored_by_earlier_versions():
    """A signature is the one datasketch's MinHash (xxh32, the configured seed) gave this text when it made
    them: a change here would split every stored story from its new copies, so it needs a migration that
    re-signs."""
    import hashlib

    text = ("英伟达股价暴跌17%，市值蒸发近6000亿美元，创美股历史上最大单日跌幅。DeepSeek发布的R1模型以极低成本实现了"
            "与OpenAI o1相当的性能，引发市场对AI算力需求的担忧。") * 2
    sig = signature(text, PARAMS)
    assert len(sig) == 4 * PARAMS.num_perm
    assert hashlib.sha256(sig).hexdigest() == "f799c57eb1bb4c7e9bbb88af2fbe385623a7ae47dd2aef66913d7b3fd47d7388"


@pytest.mark.parametrize("text, origin", [
    ("（来源：新华社）美国商务部宣布……", "新华社"),
    ("本文转载自财联社，仅供参考。", "财联社"),
    ("據路透社報道，輝達將……", "路透社"),
    ("WASHINGTON (Reuters) - The U.S. Commerce Department", "Reuters"),
    ("Bloomberg — Nvidia Corp. shares fell", "Bloomberg"),
    ("（本文轉載自中國大陸媒體華夏科技日報）", "华夏科技日报"),
    ("Republished from Meridian Wire Service.", "Meridian Wire Service"),
    ("英伟达股价周一下跌，市场担忧需求放缓。", None),
])
def test_credited_origin(text, origin):
    """Credit lines in either script and in English name the origin, in simplified script, without descriptors."""
    assert credited_origin(text) == origin


def test_lead_is_earliest_then_longest_then_smallest_id():
    """Ties on time go to the more complete copy, then the smaller id."""
    t = NOW
    assert lead_of([Member("b", t, 10), Member("a", t + timedelta(hours=1), 99)]) == "b"
    assert lead_of([Member("b", t, 10), Member("a", t, 5)]) == "b"
    assert lead_of([Member("b", t, 10), Member("a", t, 10)]) == "a"


def test_union_of_pairs():
    """Stories are connected components; a story's id is its lead."""
    uf = UnionFind()
    uf.union("x", "y")
    uf.union("y", "z")
    assert uf.find("z") == uf.find("x") != uf.find("w")
    members = {k: Member(k, NOW + timedelta(hours=i), 1) for i, k in enumerate("cbad")}
    assert group_stories(members, [("a", "b"), ("b", "c")], members) == {"c": "c", "b": "c", "a": "c", "d": "d"}


def _group(wh: Warehouse, articles, batch: int) -> dict[str, str]:
    """Commit articles in batches through the warehouse and read back article -> story."""
    for i in range(0, len(articles), batch):
        wh.ingest.commit("t", [FeedHarvest(FeedOutcome("eval"), articles[i:i + batch])], PipelineSettings(), NOW)
    with wh.reader() as con:
        return dict(con.execute("SELECT article_id, story_id FROM article_stories").fetchall())


@pytest.fixture(scope="module")
def labelled():
    """The labelled syndication set, signed with the shipped settings."""
    return labelled_set(PARAMS)


def test_precision_and_recall_on_the_labelled_set(tmp_path, labelled):
    """Pairs of copies are grouped (recall >= 0.90) and nothing else is (precision >= 0.95)."""
    articles, truth = labelled
    wh = Warehouse(tmp_path / "eval.duckdb", stories=PARAMS)
    wh.migrate()
    scores = pair_scores(_group(wh, articles, 40), truth)
    print(f"\nstories on the labelled set ({scores['articles']} articles, {scores['true_pairs']} true pairs): "
          f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f}")
    assert scores["precision"] >= 0.95 and scores["recall"] >= 0.90


def test_same_event_different_stories_stay_apart(tmp_path, labelled):
    """The corpus's different stories on one event (for example the W16 Nvidia charge) are not merged."""
    articles, truth = labelled
    wh = Warehouse(tmp_path / "e.duckdb", stories=PARAMS)
    wh.migrate()
    grouping = _group(wh, articles, 500)
    by_guid = {a.guid: a.article_id for a in articles}
    for a, b in [("w16-ledger-nvidia-charge", "w16-circuit-chip-stocks-sink"),
                 ("w18-huaxia-qwen3-release", "w18-xinzhou-qwen3-developers")]:
        assert grouping[by_guid[a]] != grouping[by_guid[b]], (a, b)


def test_incremental_batches_and_rebuild_give_the_same_stories(tmp_path, labelled):
    """One batch, many small batches (restarting each time) and a rebuild from scratch group identically."""
    articles, _ = labelled
    one = Warehouse(tmp_path / "one.duckdb", stories=PARAMS)
    one.migrate()
    many = Warehouse(tmp_path / "many.duckdb", stories=PARAMS)
    many.migrate()
    g_one = _group(one, articles, len(articles))
    g_many = _group(many, articles, 7)
    assert g_one == g_many
    counts = many.stories.rebuild(batch=25)
    with many.reader() as con:
        rebuilt = dict(con.execute("SELECT article_id, story_id FROM article_stories").fetchall())
    assert rebuilt == g_many and counts["stories"] == len(set(g_many.values()))


def test_window_limits_comparison(tmp_path):
    """Copies further apart than the window are separate stories; within it they merge."""
    articles, _ = labelled_set(PARAMS, max_originals=1)
    original = next(a for a in articles if "~" not in a.guid and a.word_count > 300)
    near = replace(original, article_id="near0000", canonical_url="https://x.example.com/near", url="https://x.example.com/near",
                   published_at=original.published_at + timedelta(days=10),
                   first_seen_at=original.published_at + timedelta(days=10), text_hash="n")
    far = replace(original, article_id="far00000", canonical_url="https://x.example.com/far", url="https://x.example.com/far",
                  published_at=original.published_at + timedelta(days=45),
                  first_seen_at=original.published_at + timedelta(days=45), text_hash="f")
    wh = Warehouse(tmp_path / "w.duckdb", stories=StorySettings(window_days=30))
    wh.migrate()
    grouping = _group(wh, [original, near, far], 1)
    assert grouping["near0000"] == grouping[original.article_id] != grouping["far00000"]


def test_views_expose_stories(tmp_path, labelled):
    """v_stories has one row per story with its lead, outlets, scripts and credit; v_articles marks leads."""
    articles, truth = labelled
    wh = Warehouse(tmp_path / "v.duckdb", stories=PARAMS)
    wh.migrate()
    _group(wh, articles, 100)
    with wh.reader() as con:
        cols = [d[0] for d in con.execute("SELECT * FROM v_stories LIMIT 0").description]
        assert cols[:10] == ["story_id", "lead_article_id", "title", "first_seen_at", "iso_week", "n_articles",
                             "n_outlets", "outlets", "langs", "credited_origin"]
        n_stories, n_leads = con.execute(
            "SELECT (SELECT count(*) FROM v_stories), (SELECT count(*) FROM v_articles WHERE is_story_lead)").fetchone()
        biggest = con.execute("SELECT n_articles, n_outlets, langs FROM v_stories ORDER BY n_articles DESC LIMIT 1").fetchone()
    assert n_stories == n_leads == len(set(truth.values()))
    assert biggest[0] >= 6 and "zh-Hant" in biggest[2]
