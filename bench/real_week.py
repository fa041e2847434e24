"""A real week through the pipeline: a real archive in ../shared stored and measured, the digest of one week
built, and every term the digest lists checked against general language.

    python bench/real_week.py [--source haoqi7|exposir] [--week 2025-W16] [--out /tmp/real-week]
    python bench/real_week.py --source haoqi7 --top-stories     # every week's top stories against the readers

Prints each listed term (rising, falling, new, and those of "What shifted") with its jieba dictionary
frequency and whether it is a stopword, and writes the digest (HTML and text) for a reader to judge.
With --top-stories, it takes the digest's top stories of every week instead (three per narrative, what a
reader sees first) and, for each one our readers labelled (labels/, the same headline), whether they said
it covers that narrative: the share that does is the top stories' precision on real coverage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from mediamon import reporting, runs

ROOT = Path(__file__).resolve().parents[1]
ARCHIVES = ROOT.parent / "shared" / "corpora" / "feed_archives"


def main() -> None:
    """Store the archive, build the week's digest, check its terms."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("haoqi7", "exposir"), default="haoqi7",
                        help="haoqi7: 14 months of daily top headlines (a long history); exposir: two weeks of full items")
    parser.add_argument("--week", default="2025-W16")
    parser.add_argument("--out", type=Path, default=Path("/tmp/real-week"))
    parser.add_argument("--top-stories", action="store_true", help="every week's top stories against the readers")
    args = parser.parse_args()
    if not ARCHIVES.exists():
        sys.exit(f"{ARCHIVES} is absent: this check reads the shared archives")
    import jieba

    from mediamon import pipeline
    from mediamon.analysis import with_analysis
    from mediamon.config import PipelineSettings, load_sources
    from mediamon.models import FeedHarvest, FeedOutcome
    from mediamon.seeds import load_seeds
    from mediamon.stories import sign_article
    from mediamon.testing import project_config
    from mediamon.testing.archive import exposir_articles, haoqi7_articles
    from mediamon.warehouse import Warehouse

    config = project_config().analysis
    sources = load_sources(project_config().sources_path)
    matcher = pipeline.topic_matcher(sources)
    items = (haoqi7_articles(ARCHIVES / "haoqi7-news-archive") if args.source == "haoqi7"
             else exposir_articles(ARCHIVES / "exposir-rss" / "head"))
    on_topic = [replace(a, topics=t) for a in items if (t := matcher.match(a.title, a.text[:400]))]
    articles = sorted((sign_article(with_analysis(a, config), sources.stories) for a in on_topic),
                      key=lambda a: (a.published_at, a.article_id))
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.out / "real-week.duckdb"
    db.unlink(missing_ok=True)
    warehouse = Warehouse(db, stories=sources.stories)
    warehouse.migrate()
    warehouse.ingest.insert_baseline(load_seeds(datetime(2025, 3, 10, tzinfo=UTC), project_config().seeds_dir, project_config().analysis), "seeds")
    for i in range(0, len(articles), 500):
        warehouse.ingest.commit("real-week", [FeedHarvest(FeedOutcome("archive"), articles[i:i + 500])], PipelineSettings(),
                         datetime.now(UTC))
    runs.refresh_measures(warehouse, project_config())
    if args.top_stories:
        top_stories_against_readers(warehouse, len(on_topic))
        return
    digest = reporting.build_digest(warehouse, args.week, project_config(), datetime.now(UTC))
    (args.out / f"{args.week}.html").write_text(digest.html, "utf-8")
    (args.out / f"{args.week}.txt").write_text(digest.text, "utf-8")

    rows = warehouse.reports.digest_rows(args.week, ("terms", "new_terms"))
    shifts = reporting.week_shifts(warehouse, args.week, project_config())
    listed = [(r["narrative"], "rising" if r["z_prev"] > 0 else "falling", r["term"]) for r in rows["terms"]
              if abs(r["z_prev"]) >= 2.0]
    listed += [("all", "new", r["term"]) for r in rows["new_terms"]]
    listed += [(s.narrative, s.kind, s.term) for s in shifts if s.term]
    jieba.initialize()
    lex = config.lexicon
    flagged = 0
    print(f"{len(on_topic)} on-topic items stored; digest of {args.week}: {args.out}/{args.week}.txt")
    print("listed terms (narrative, list, term, jieba dictionary frequency, stopword):")
    for narrative, kind, term in listed:
        freq = jieba.dt.FREQ.get(term, 0) if term not in lex.user_words else 0
        stop = term.lower() in lex.stop_zh or term.lower() in lex.stop_en
        flagged += freq >= 3000 or stop
        print(f"  {narrative:14s} {kind:13s} {term:20s} {freq:7d} {'STOPWORD' if stop else ''}")
    print(f"{len(listed)} listed terms; {flagged} with a jieba frequency of 3,000 or more or a stopword")
    # What the digest would list with more history: each narrative's ten strongest rising terms this week.
    with warehouse.reader() as con:
        candidates = con.execute(
            "SELECT narrative, term, docs, prev_docs, round(z_prev, 1) FROM v_weekly_terms WHERE iso_week = ? "
            "AND narrative <> 'all' AND z_prev > 0 QUALIFY row_number() OVER (PARTITION BY narrative "
            "ORDER BY z_prev DESC, term) <= 10 ORDER BY narrative, z_prev DESC", [args.week]).fetchall()
    print("strongest rising candidates (narrative, term, docs, previous docs, z, jieba frequency, stopword):")
    common = 0
    for narrative, term, docs, prev, z in candidates:
        freq = jieba.dt.FREQ.get(term, 0) if term not in lex.user_words else 0
        stop = term.lower() in lex.stop_zh or term.lower() in lex.stop_en
        common += freq >= 3000 or stop
        print(f"  {narrative:14s} {term:20s} {docs:4d} {prev:4d} {z:5.1f} {freq:7d} {'STOPWORD' if stop else ''}")
    print(f"{len(candidates)} candidates; {common} with a jieba frequency of 3,000 or more or a stopword")
    (args.out / "terms.json").write_text(json.dumps({"listed": listed, "candidates": candidates}, ensure_ascii=False,
                                                    indent=1), "utf-8")


def top_stories_against_readers(warehouse, stored: int) -> None:
    """Every week's top stories per narrative, and the readers' verdict on those they labelled (by headline)."""
    from collections import Counter

    from mediamon.testing import labelsets

    gold: dict[str, tuple[set[str], set[str]]] = {}  # headline -> (narratives both readers gave, disputed ones)
    for record in labelsets.records("all"):
        gold.setdefault(record["title"].strip(), (set(record["narratives"]), set(record.get("disputed", []))))
    with warehouse.reader() as con:
        weeks = [w for (w,) in con.execute("SELECT DISTINCT iso_week FROM v_articles WHERE NOT is_baseline ORDER BY 1").fetchall()]
    counts: Counter = Counter()
    wrong = []
    for week in weeks:
        for story in warehouse.reports.digest_rows(week, ("stories",))["stories"]:
            narrative, title = story["narrative"], (story["title"] or "").strip()
            if title not in gold:
                counts[narrative, "unread"] += 1
                continue
            agreed, disputed = gold[title]
            verdict = "covers" if narrative in agreed else "disputed" if narrative in disputed else "does not cover"
            counts[narrative, verdict] += 1
            if verdict == "does not cover":
                wrong.append((week, narrative, title))
    print(f"{stored} on-topic items stored, {len(weeks)} weeks; top stories (three per narrative and week) that "
          "two readers labelled:")
    print(f"  {'narrative':15} {'covers':>7} {'not':>5} {'disputed':>9} {'unread':>7} {'precision':>10}")
    for narrative in ("chinese_ai", "chip_controls", "ai_valuations"):
        yes, no = counts[narrative, "covers"], counts[narrative, "does not cover"]
        print(f"  {narrative:15} {yes:7d} {no:5d} {counts[narrative, 'disputed']:9d} {counts[narrative, 'unread']:7d} "
              f"{yes / (yes + no) if yes + no else float('nan'):10.2f}")
    print("top stories the readers said do not cover their narrative:")
    for week, narrative, title in wrong:
        print(f"  {week} {narrative:14} {title[:100]}")


if __name__ == "__main__":
    main()
