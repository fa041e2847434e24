"""Weekly measures: statistics against hand-computed cases, planted shifts found, a steady corpus left quiet."""

from __future__ import annotations

import copy
import math
import random
import re
from collections import Counter

import duckdb
import pytest
from fixtures.planted import ingest_generated

from mediamon import reporting, runs
from mediamon.measures import (
    Shift,
    best_sentences,
    burst_z,
    jsd,
    log_odds_delta,
    log_odds_z,
    prop_z,
)
from mediamon.testing import project_config
from mediamon.testing.synth import DEFAULT_FRAME_RATES, WeekPlan, generate, iso_weeks
from mediamon.warehouse.connection import sql_text

# Hand-computed: ln((10+1)/(100+10-10-1)) - ln((5+1)/(200+10-5-1)) = ln(34/9); sd = sqrt(1/11 + 1/6).
LOG_ODDS = (10, 100, 5, 200, 1, 10)
LOG_ODDS_DELTA = math.log(34 / 9)                       # 1.329136
LOG_ODDS_Z = math.log(34 / 9) / math.sqrt(1 / 11 + 1 / 6)  # 2.618888
# 20/40 against 4/40: pooled 0.3, se = sqrt(0.3 * 0.7 * (1/40 + 1/40)) = sqrt(0.0105).
PROP_Z = 0.4 / math.sqrt(0.0105)                        # 3.903600
# History 2,4,3,5,1,3,4,2: mean 3, sd sqrt(1.5) < sqrt(3), so z = (12 - 3) / sqrt(3).
BURST_Z = 9 / math.sqrt(3)                              # 5.196152


def test_statistics_match_hand_computed_cases():
    """The Python mirrors of the SQL statistics give the hand-computed values."""
    assert log_odds_delta(*LOG_ODDS) == pytest.approx(1.329136, abs=1e-6) == pytest.approx(LOG_ODDS_DELTA)
    assert log_odds_z(*LOG_ODDS) == pytest.approx(2.618888, abs=1e-6) == pytest.approx(LOG_ODDS_Z)
    assert prop_z(20, 40, 4, 40) == pytest.approx(3.903600, abs=1e-6)
    assert prop_z(0, 10, 0, 10) is None and prop_z(3, 0, 1, 5) is None
    assert burst_z(12, [2, 4, 3, 5, 1, 3, 4, 2]) == pytest.approx(5.196152, abs=1e-6)
    assert burst_z(5, [5, 5, 5, 5]) == 0  # a flat history does not divide by zero
    # Disjoint halves: JSD 0.5; 3:1 against 1:3: 1 - H(0.25) = 0.188722 bits; identical: 0.
    assert jsd({"a": 1, "b": 1}, {"b": 1, "c": 1}) == pytest.approx(0.5)
    assert jsd({"a": 3, "b": 1}, {"a": 1, "b": 3}) == pytest.approx(1 - (0.25 * math.log2(4) + 0.75 * math.log2(4 / 3)))
    assert jsd({"a": 2, "b": 5}, {"a": 4, "b": 10}) == pytest.approx(0)


def test_sql_macros_match_hand_computed_cases():
    """The warehouse's SQL macros give the same hand-computed values."""
    con = duckdb.connect()
    con.execute(sql_text("views.sql").split("CREATE OR REPLACE VIEW")[0])  # the macros, before the views
    delta, z = con.execute("SELECT log_odds_delta(10, 100, 5, 200, 1, 10), log_odds_z(10, 100, 5, 200, 1, 10)").fetchone()
    assert delta == pytest.approx(LOG_ODDS_DELTA) and z == pytest.approx(LOG_ODDS_Z)
    assert con.execute("SELECT prop_z(20, 40, 4, 40)").fetchone()[0] == pytest.approx(PROP_Z)
    assert con.execute("SELECT prop_z(0, 10, 0, 10)").fetchone()[0] is None
    assert con.execute("SELECT burst_z(12, 3.0, sqrt(1.5))").fetchone()[0] == pytest.approx(BURST_Z)
    # JSD via shared terms only, as measures.sql computes it: {a,b} against {b,c}.
    shared = con.execute("SELECT jsd_shared_term(0.5, 0.5)").fetchone()[0]
    assert shared + (1 - 0.5) / 2 + (1 - 0.5) / 2 == pytest.approx(0.5)


def test_evidence_sentences_mention_their_narrative_carry_the_terms_one_per_story():
    """Evidence sentences match the narrative's (here the frame's) mention rule and carry the terms (any alias),
    one per story, in the article's own script; a sentence with the term but not the narrative is not evidence."""
    articles = [
        {"article_id": "a", "story_id": "s1", "title": "甲", "outlet": "甲报", "url": "https://a.example/1",
         "text": "無關的句子在這裡。調查人員發現晶片經新加坡轉口走私。", "text_simplified": "无关的句子在这里。调查人员发现晶片经新加坡转口走私。"},
        {"article_id": "b", "story_id": "s1", "title": "乙", "outlet": "乙报", "url": "https://b.example/1",
         "text": "调查人员发现芯片走私。", "text_simplified": "调查人员发现芯片走私。"},
        {"article_id": "c", "story_id": "s2", "title": "C", "outlet": "C Times", "url": "https://c.example/1",
         "text": "Nothing here. Officers charged chip smuggling cases in Singapore.", "text_simplified": "Nothing here. Officers charged chip smuggling cases in Singapore."},
        {"article_id": "d", "story_id": "s3", "title": "D", "outlet": "D Post", "url": "https://d.example/1",
         "text": "Police said cigarette smuggling rose in the port.", "text_simplified": "Police said cigarette smuggling rose in the port."},
    ]
    shift = Shift("frame", "chip_controls", "US chip export controls", "…", "+40 pts", 3.0,
                  frame="smuggling_enforcement", evidence_terms=("smuggling", "transshipment"))
    found = best_sentences(articles, shift, project_config().analysis, limit=3)
    assert [e.article_id for e in found] == ["a", "c"]
    assert found[0].sentence == "調查人員發現晶片經新加坡轉口走私。"  # shown as printed (traditional)


def _plans(planted: bool) -> list[WeekPlan]:
    """Ten weeks of about 30 articles per narrative (the same random volumes either way); the plants when asked."""
    rng = random.Random(3)
    plans = []
    for i, week in enumerate(iso_weeks("2025-W30", 10)):
        counts = {n: 30 + rng.randint(-3, 3) for n in DEFAULT_FRAME_RATES}
        rates = copy.deepcopy(DEFAULT_FRAME_RATES)
        extra = {}
        if planted:
            if i >= 7:  # week 8 on: the smuggling frame goes from 10% to 50% of chip-control coverage
                rates["chip_controls"]["smuggling_enforcement"] = 0.5
            if i == 8:  # week 9: a new term, in 40% of Chinese-AI articles
                extra["chinese_ai"] = (0.4, {"zh": "英伟达据报将为中国市场推出H30芯片。",
                                             "en": "Nvidia is said to be preparing an H30 chip for China."})
            if i == 9:  # week 10: valuation coverage triples
                counts["ai_valuations"] *= 3
        plans.append(WeekPlan(week, counts, rates, extra))
    return plans


@pytest.fixture(scope="module")
def planted_warehouse(tmp_path_factory):
    """The planted corpus, read by the pipeline."""
    return ingest_generated(generate(_plans(planted=True)), tmp_path_factory.mktemp("planted") / "planted.duckdb")


def test_planted_shifts_come_out_on_top(planted_warehouse):
    """Each planted shift is the first statement of its week, with the planted numbers measured back."""
    wh = planted_warehouse
    frame_week, new_week, burst_week = iso_weeks("2025-W37", 3)
    by_week = {w: reporting.week_shifts(wh, w, project_config()) for w in iso_weeks("2025-W30", 10)}
    print("\nplanted -> measured")
    for week, shifts in by_week.items():
        for s in shifts:
            print(f"  {week} [{s.kind}] {s.statement}")

    frame = by_week[frame_week][0]
    assert (frame.kind, frame.narrative, frame.frame) == ("frame", "chip_controls", "smuggling_enforcement")
    with wh.reader() as con:
        share, prev, z = con.execute(
            "SELECT share, prev_share, share_z FROM v_weekly_frames WHERE iso_week = ? AND frame = 'smuggling_enforcement'",
            [frame_week]).fetchone()
    print(f"frame: planted 10% -> 50%, measured {prev:.0%} -> {share:.0%} (z = {z:.1f})")
    assert prev == pytest.approx(0.10, abs=0.04) and share == pytest.approx(0.50, abs=0.05)
    assert frame.evidence and all("走私" in e.sentence or "smuggl" in e.sentence.lower() for e in frame.evidence)

    new = by_week[new_week][0]
    assert (new.kind, new.term) == ("new_term", "h30")
    assert new.evidence and all("H30" in e.sentence for e in new.evidence)
    print(f"new term: planted in 40% of Chinese-AI articles, measured: {new.statement}")

    burst = by_week[burst_week][0]
    assert (burst.kind, burst.narrative) == ("burst", "ai_valuations")
    with wh.reader() as con:
        articles, mean, bz = con.execute(
            "SELECT articles, prev_mean, burst_z FROM v_weekly_narratives WHERE iso_week = ? AND narrative = 'ai_valuations'",
            [burst_week]).fetchone()
    print(f"burst: planted 3x, measured {articles} articles against a mean of {mean:.1f} (z = {bz:.1f})")
    assert articles / mean == pytest.approx(3, rel=0.15)
    # Nothing fires before the plants.
    assert not any(by_week[w] for w in iso_weeks("2025-W30", 7))


def test_a_count_that_rose_because_collection_grew_is_no_burst(tmp_path):
    """Nine weeks heard from two outlets, then a week from six with valuation coverage tripled: the count rose with
    the sources (a new warehouse's first weeks, feeds added), so no burst is claimed."""
    from mediamon.testing.synth import OUTLETS

    plans = _plans(planted=False)
    plans[9].articles["ai_valuations"] *= 3
    stories = generate(plans[:9], outlets=OUTLETS[:2]) + generate(plans[9:], seed=8, outlets=OUTLETS)
    wh = ingest_generated(stories, tmp_path / "growing.duckdb")
    week = iso_weeks("2025-W30", 10)[9]
    with wh.reader() as con:
        articles, mean, bz, burst = con.execute(
            "SELECT articles, prev_mean, burst_z, is_burst FROM v_weekly_narratives WHERE iso_week = ? "
            "AND narrative = 'ai_valuations'", [week]).fetchone()
    print(f"\ncollection grew 2 -> 6 outlets: {articles} articles against a mean of {mean:.1f} (z = {bz:.1f}), burst: {burst}")
    assert bz >= project_config().analysis.rulebook.measures.burst_z  # the count alone would call it a burst
    assert not burst
    assert all(s.kind != "burst" for s in reporting.week_shifts(wh, week, project_config()))


def test_a_steady_corpus_raises_no_alarm(tmp_path):
    """The same volumes and frame mix every week, no plants: no burst, share, frame or term shift in any week."""
    wh = ingest_generated(generate(_plans(planted=False)), tmp_path / "steady.duckdb")
    with wh.reader() as con:
        flagged = con.execute(
            "SELECT (SELECT count(*) FROM v_weekly_narratives WHERE is_burst OR is_share_shift), "
            "(SELECT count(*) FROM v_weekly_frames WHERE is_shift), "
            "(SELECT count(*) FROM v_weekly_terms WHERE is_rising OR is_falling OR is_new_entrant)").fetchone()
        top = con.execute("SELECT max(abs(z_prev)) FROM v_weekly_terms WHERE narrative <> 'all'").fetchone()[0]
        frame_z = con.execute("SELECT max(abs(share_z)) FROM v_weekly_frames").fetchone()[0]
    print(f"\nsteady corpus: flagged (narratives, frames, terms) = {flagged}; largest |z| of a term {top:.1f}, of a frame {frame_z:.1f}")
    assert flagged == (0, 0, 0)
    assert all(not reporting.week_shifts(wh, w, project_config()) for w in iso_weeks("2025-W30", 10))


def test_jsd_in_sql_matches_python_on_stored_terms(planted_warehouse):
    """jsd_prev of v_weekly_narratives equals the JSD computed here from the stored per-article terms."""
    week, prev = "2025-W37", "2025-W36"
    with planted_warehouse.reader() as con:
        def dist(w):
            """Term -> documents (one per story and week) of chip-control coverage in week w."""
            rows = con.execute(
                "SELECT t.term, count(*) FROM article_terms t JOIN ("
                "  SELECT article_id FROM (SELECT a.article_id, row_number() OVER (PARTITION BY coalesce(a.story_id, a.article_id) "
                "  ORDER BY a.article_id) AS k FROM v_articles a WHERE a.iso_week = ? AND NOT a.is_baseline AND a.duplicate_of IS NULL) "
                "  WHERE k = 1) d USING (article_id) JOIN article_labels l USING (article_id) "
                "WHERE l.narrative = 'chip_controls' AND l.frame IS NULL GROUP BY t.term", [w]).fetchall()
            return Counter(dict(rows))
        measured = con.execute("SELECT jsd_prev FROM v_weekly_narratives WHERE iso_week = ? AND narrative = 'chip_controls'",
                               [week]).fetchone()[0]
        expected = jsd(dist(week), dist(prev))
    assert measured == pytest.approx(expected, abs=1e-9)


def test_every_label_names_its_rule_and_words_found_in_the_article(planted_warehouse):
    """Each stored label names a configured rule, and every word it says it matched is in the article's text; the
    generated articles carry the narrative they were written for and no other."""
    catalog = {(n.name, None): {r for r, _ in n.rules} for n in project_config().analysis.rulebook.narratives}
    catalog |= {(n.name, f.name): {r for r, _ in f.rules} for n in project_config().analysis.rulebook.narratives for f in n.frames}
    with planted_warehouse.reader() as con:
        rows = con.execute(
            "SELECT l.narrative, l.frame, l.rule, l.matched, lower(a.title || ' ' || a.text_simplified), a.url "
            "FROM article_labels l JOIN articles a USING (article_id) WHERE a.duplicate_of IS NULL "
            "AND NOT a.is_baseline").fetchall()
        generated = con.execute("SELECT count(*) FROM articles WHERE NOT is_baseline AND duplicate_of IS NULL").fetchone()[0]
    for narrative, frame, rule, matched, text, _ in rows:
        assert rule in catalog[(narrative, frame)]
        words = [w for m in matched for w in m.split(": ", 1)[1].split(" + ")]
        assert words and all(w.lower() in text for w in words), (narrative, frame, matched)
    written_for = {guid: re.search(r"(chinese_ai|chip_controls|ai_valuations)-\d+", guid).group(1) for *_, guid in rows}
    carried = {(guid, n) for n, f, *_, guid in rows if f is None}
    wrong = [(g, n) for g, n in carried if n != written_for[g]]
    print(f"\ngenerated articles labelled: {len({g for g, _ in carried})} of {generated}; wrong narrative: {len(wrong)}")
    assert not wrong
    assert len({g for g, _ in carried}) >= 0.85 * generated


def test_incremental_refreshes_equal_a_full_recount(planted_warehouse, tmp_path):
    """The planted warehouse was refreshed after every week (only new weeks recounted); a full recount of a
    copy gives the same weekly tables, row for row."""
    import shutil

    from mediamon.warehouse import Warehouse

    copy_path = tmp_path / "full.duckdb"
    shutil.copy(planted_warehouse.path, copy_path)
    full = Warehouse(copy_path)
    runs.refresh_measures(full, project_config(), full=True)
    for table in ("weekly_narratives", "weekly_frames", "weekly_terms", "weekly_outlets"):
        with planted_warehouse.reader() as con:
            incremental = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        with full.reader() as con:
            recounted = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        def rounded(rows):
            """Rows with floats rounded (sums may differ in the last bits)."""
            return [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]
        assert rounded(incremental) == rounded(recounted), table


def test_a_recount_beyond_the_memory_budget_finishes_without_it(planted_warehouse, tmp_path, caplog):
    """A writer budget too small for the measures (1 MB here) makes DuckDB run out of memory; the refresh
    says so and recounts without the limit instead of failing the run, with the same result."""
    import shutil

    from mediamon.warehouse import Warehouse

    copy_path = tmp_path / "tight.duckdb"
    shutil.copy(planted_warehouse.path, copy_path)
    tight = Warehouse(copy_path, memory_mb=1)
    with caplog.at_level("WARNING", logger="mediamon.warehouse"):
        runs.refresh_measures(tight, project_config(), full=True)
    assert "the measures need more than 1 MB" in caplog.text
    with planted_warehouse.reader() as con:
        expected = con.execute("SELECT iso_week, narrative, articles FROM weekly_narratives ORDER BY ALL").fetchall()
    with tight.reader() as con:
        assert con.execute("SELECT iso_week, narrative, articles FROM weekly_narratives ORDER BY ALL").fetchall() == expected
