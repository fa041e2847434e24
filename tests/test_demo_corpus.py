"""The demo corpus tells the story its README plants, and the digests say it (issue 6: "something true to say")."""

from __future__ import annotations

import pytest
from fixtures.planted import ingest_generated

from mediamon import pipeline
from mediamon.replay import load_corpus


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    """The bundled demo corpus, ingested week by week through loopback feeds and pages (no Prefect)."""
    outlets, stories = load_corpus()
    return ingest_generated(stories, tmp_path_factory.mktemp("demo") / "demo.duckdb", outlets=outlets)


def _shifts(warehouse) -> dict[str, list]:
    """Every week's flagged shifts."""
    with warehouse.reader() as con:
        weeks = [w for (w,) in con.execute("SELECT DISTINCT iso_week FROM v_weekly_narratives ORDER BY 1").fetchall()]
    return {w: pipeline.week_shifts(warehouse, w) for w in weeks}


def test_the_planted_turns_are_the_weeks_headlines(demo_warehouse):
    """W18 distillation, W19 backfire, W20 smuggling, W23 security: each leads its week, as demo/corpus/README.md plants."""
    shifts = _shifts(demo_warehouse)
    for week, found in shifts.items():
        print(week, [s.statement for s in found])
    lead = {w: (s[0].kind, s[0].narrative, s[0].frame) for w, s in shifts.items() if s}
    assert lead["2025-W18"] == ("frame", "chinese_ai", "imitation_distillation")
    assert lead["2025-W19"] == ("frame", "chip_controls", "backfire_self_reliance")
    assert lead["2025-W20"] == ("frame", "chip_controls", "smuggling_enforcement")
    assert lead["2025-W23"] == ("frame", "chinese_ai", "security_censorship")
    assert any(s.kind == "new_term" and s.term == "distillation" for s in shifts["2025-W18"])
    # Nothing is called a shift before there is history to judge it, and nothing contradicts the plants.
    assert not any(shifts[w] for w in ("2025-W14", "2025-W15", "2025-W16", "2025-W17"))
    flagged = {(s.narrative, s.frame) for found in shifts.values() for s in found if s.kind == "frame"}
    assert flagged == {("chinese_ai", "imitation_distillation"), ("chip_controls", "backfire_self_reliance"),
                       ("chip_controls", "smuggling_enforcement"), ("chinese_ai", "security_censorship")}


def test_the_frame_arcs_follow_the_plants(demo_warehouse):
    """Export controls: bottleneck leads W14-W17, backfire W19, smuggling W21-W23; valuations turn to growth in W21."""
    with demo_warehouse.reader() as con:
        share = {(w, f): s for w, f, s in con.execute("SELECT iso_week, frame, share FROM v_weekly_frames").fetchall()}
    for week in ("2025-W14", "2025-W15", "2025-W17"):
        assert share[(week, "effective_bottleneck")] > share[(week, "backfire_self_reliance")], week
    assert share[("2025-W19", "backfire_self_reliance")] > share[("2025-W19", "effective_bottleneck")]
    for week in ("2025-W21", "2025-W22", "2025-W23"):
        assert share[(week, "smuggling_enforcement")] >= 0.8, week
    assert share[("2025-W21", "growth_opportunity")] > share[("2025-W21", "bubble_correction")]
    assert share[("2025-W14", "bubble_correction")] > share[("2025-W14", "growth_opportunity")]


def test_the_broken_feed_is_recorded_every_week(demo_warehouse):
    """dongfang-kuaibao answers HTTP 500: logged with its reason on every poll, the other outlets go on."""
    with demo_warehouse.reader() as con:
        errors = con.execute("SELECT count(*), any_value(error_class) FROM feed_polls WHERE feed_id = 'dongfang-kuaibao' "
                             "AND status = 'error'").fetchone()
        outlets = con.execute("SELECT count(DISTINCT outlet) FROM v_articles WHERE NOT is_baseline").fetchone()[0]
    assert errors[0] >= 1 and errors[1] == "http_status"
    assert outlets == 7
