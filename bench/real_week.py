"""A real week through the pipeline: a real archive in ../shared stored and measured, the digest of one week
built, and every term the digest lists checked against general language.

    python bench/real_week.py [--source haoqi7|exposir] [--week 2025-W16] [--out /tmp/real-week]
    python bench/real_week.py --source haoqi7 --top-stories     # every week's top stories against the readers
    python bench/real_week.py --terms-for-readers /tmp/terms.jsonl     # every real week's candidate terms
    python bench/real_week.py --score-terms                         # the readers' verdicts on them (labels/terms/)
    python bench/real_week.py --score-list /tmp/terms.jsonl         # today's candidate list, by those verdicts

Prints each listed term (rising, falling, new, and those of "What shifted") with its jieba dictionary
frequency and whether it is a stopword, and writes the digest (HTML and text) for a reader to judge.
With --top-stories, it takes the digest's top stories of every week instead (three per narrative, what a
reader sees first) and, for each one our readers labelled (labels/, the same headline), whether they said
it covers that narrative: the share that does is the top stories' precision on real coverage.
With --terms-for-readers, it writes each week's rising terms (listed, and each narrative's ten strongest
candidates, or --depth N) from 2025-W20 on in both archives, with up to three headlines using each, for two
readers to judge under labels/terms/GUIDE.md; --score-terms prints the share each pair judged meaningful, and
--score-list FILE scores such a file (today's lists) with every pair's verdicts.
tests/test_real_week.py holds the first two checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from mediamon import reporting, runs

ROOT = Path(__file__).resolve().parents[1]
ARCHIVES = ROOT.parent / "shared" / "corpora" / "feed_archives"
NARRATIVES = ("chinese_ai", "chip_controls", "ai_valuations")


def store_archive(source: str, db: Path):
    """A fresh warehouse at `db` holding the seeds and the archive's on-topic items, measured: (warehouse, items)."""
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
    items = (haoqi7_articles(ARCHIVES / "haoqi7-news-archive") if source == "haoqi7"
             else exposir_articles(ARCHIVES / "exposir-rss" / "head"))
    on_topic = [replace(a, topics=t) for a in items if (t := matcher.match(a.title, a.text[:400]))]
    articles = sorted((sign_article(with_analysis(a, config), sources.stories) for a in on_topic),
                      key=lambda a: (a.published_at, a.article_id))
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    warehouse = Warehouse(db, stories=sources.stories)
    warehouse.migrate()
    warehouse.ingest.insert_baseline(load_seeds(datetime(2025, 3, 10, tzinfo=UTC), project_config().seeds_dir,
                                                project_config().analysis), "seeds")
    for i in range(0, len(articles), 500):
        warehouse.ingest.commit("real-week", [FeedHarvest(FeedOutcome("archive"), articles[i:i + 500])],
                                PipelineSettings(), datetime.now(UTC))
    runs.refresh_measures(warehouse, project_config())
    return warehouse, len(on_topic)


@dataclass(frozen=True)
class ListedTerm:
    """A term the week's digest lists (or would list first), with what general language says of it."""

    narrative: str
    kind: str
    term: str
    jieba_frequency: int
    stopword: bool

    @property
    def common(self) -> bool:
        """A word of general language: in jieba's dictionary 3,000 times or more, or a stopword."""
        return self.jieba_frequency >= 3000 or self.stopword


def listed_terms(warehouse, week: str, depth: int = 10) -> tuple[list[ListedTerm], list[ListedTerm]]:
    """(the terms the digest of `week` lists, each narrative's `depth` strongest rising candidates)."""
    import jieba

    from mediamon.testing import project_config

    jieba.initialize()
    lex = project_config().analysis.lexicon

    def judged(narrative: str, kind: str, term: str) -> ListedTerm:
        """One term with its jieba frequency (none for the project's own dictionary words) and stopword flag."""
        freq = jieba.dt.FREQ.get(term, 0) if term not in lex.user_words else 0
        return ListedTerm(narrative, kind, term, freq, term.lower() in lex.stop_zh or term.lower() in lex.stop_en)

    rows = warehouse.reports.digest_rows(week, ("terms", "new_terms"))
    shifts = reporting.week_shifts(warehouse, week, project_config())
    listed = [judged(r["narrative"], "rising" if r["z_prev"] > 0 else "falling", r["term"]) for r in rows["terms"]
              if abs(r["z_prev"]) >= 2.0]
    listed += [judged("all", "new", r["term"]) for r in rows["new_terms"]]
    listed += [judged(s.narrative, s.kind, s.term) for s in shifts if s.term]
    # What the digest would list with more history: each narrative's strongest rising terms this week.
    with warehouse.reader() as con:
        candidates = con.execute(
            "SELECT narrative, term FROM v_weekly_terms WHERE iso_week = ? "
            "AND narrative <> 'all' AND z_prev > 0 QUALIFY row_number() OVER (PARTITION BY narrative "
            "ORDER BY z_prev DESC, term) <= ? ORDER BY narrative, z_prev DESC, term", [week, depth]).fetchall()
    return listed, [judged(n, "candidate", t) for n, t in candidates]


def top_stories_against_readers(warehouse) -> tuple[Counter, list[tuple[str, str, str]]]:
    """Every week's top stories per narrative against the readers' labels of the same headline:
    ((narrative, verdict) -> count, the (week, narrative, headline) of each the readers said does not cover it)."""
    from mediamon.testing import labelsets

    gold: dict[str, tuple[set[str], set[str]]] = {}  # headline -> (narratives both readers gave, disputed ones)
    for record in labelsets.records("all"):
        gold.setdefault(record["title"].strip(), (set(record["narratives"]), set(record.get("disputed", []))))
    with warehouse.reader() as con:
        weeks = [w for (w,) in con.execute(
            "SELECT DISTINCT iso_week FROM v_articles WHERE NOT is_baseline ORDER BY 1").fetchall()]
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
    counts["weeks"] = len(weeks)
    return counts, wrong


def term_candidates(warehouse, source: str, since: str = "2025-W20", depth: int = 10) -> list[dict]:
    """Every week's listed and candidate terms (`depth` per narrative), each with up to three headlines of the
    narrative that use it."""
    with warehouse.reader() as con:
        weeks = [w for (w,) in con.execute("SELECT DISTINCT iso_week FROM v_articles WHERE NOT is_baseline "
                                           "AND iso_week >= ? ORDER BY 1", [since]).fetchall()]
    out, seen = [], set()
    for week in weeks:
        listed, candidates = listed_terms(warehouse, week, depth)
        for t in listed + candidates:
            if (week, t.narrative, t.term) in seen:
                continue
            seen.add((week, t.narrative, t.term))
            with warehouse.reader() as con:
                examples = [title for (title,) in con.execute(
                    "SELECT DISTINCT a.title FROM v_articles a JOIN article_labels l ON l.article_id = a.article_id "
                    "AND l.frame IS NULL AND (l.narrative = ? OR ? = 'all') JOIN article_terms t "
                    "ON t.article_id = a.article_id AND t.term = ? WHERE a.iso_week = ? AND NOT a.is_baseline "
                    "ORDER BY 1 LIMIT 3", [t.narrative, t.narrative, t.term, week]).fetchall()]
            out.append({"week": week, "source": source, "narrative": t.narrative, "kind": t.kind, "term": t.term,
                        "examples": examples})
    return out


def reader_pairs(labels: Path) -> list[tuple[Path, Path, list[dict], list[dict]]]:
    """Each pair of readers' files (R1-R2, R3-R4 …: one batch of terms each) with their verdicts, checked to judge
    the same terms in one order."""
    files = sorted(labels.glob("reader_R*.jsonl"), key=lambda path: int(path.stem[8:]))
    pairs = []
    for first_path, second_path in zip(files[::2], files[1::2]):
        first, second = ([json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
                         for path in (first_path, second_path))
        if [(a["id"], a["term"]) for a in first] != [(b["id"], b["term"]) for b in second]:
            raise SystemExit(f"{first_path.name} and {second_path.name} do not judge the same terms in one order")
        pairs.append((first_path, second_path, first, second))
    return pairs


def score_terms(labels: Path = ROOT / "labels" / "terms") -> None:
    """Print, for each pair of readers (R1-R2, R3-R4 …: one batch of terms each), the share of terms they judged
    meaningful, and which both judged not."""
    for first_path, second_path, first, second in reader_pairs(labels):
        agreed = [a for a, b in zip(first, second) if a["meaningful"] == b["meaningful"]]
        meaningful = sum(a["meaningful"] for a in agreed)
        print(f"{first_path.stem} and {second_path.stem}: {len(first)} terms, agreed on {len(agreed)}; of those, "
              f"{meaningful} meaningful ({meaningful / max(1, len(agreed)):.0%})")
        listed = [a for a in agreed if a["kind"] != "candidate"]
        if listed:
            print(f"  terms the digests listed (not candidates): {sum(a['meaningful'] for a in listed)} of {len(listed)} meaningful")
        print("  not meaningful by both:", ", ".join(f"{a['term']} ({a['narrative']})" for a in agreed if not a["meaningful"]))


def reader_verdicts(items: list[dict], labels: Path = ROOT / "labels" / "terms") -> tuple[list[bool], list[dict]]:
    """(the verdict of each item that two readers judged alike, the items no pair of readers judged), matching
    items to verdicts by week, source, narrative and term."""
    verdicts: dict[tuple, tuple[bool, bool]] = {}
    for _, _, first, second in reader_pairs(labels):
        for a, b in zip(first, second):
            verdicts[a["week"], a["source"], a["narrative"], a["term"]] = (a["meaningful"], b["meaningful"])
    keyed = [((i["week"], i["source"], i["narrative"], i["term"]), i) for i in items]
    agreed = [verdicts[key][0] for key, _ in keyed if key in verdicts and len(set(verdicts[key])) == 1]
    return agreed, [i for key, i in keyed if key not in verdicts]


def score_list(path: Path) -> None:
    """Print how many terms of a --terms-for-readers file two readers judged, and the share of those they agreed
    on that are meaningful; list the terms no reader judged."""
    items = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    agreed, unjudged = reader_verdicts(items)
    print(f"{len(items)} terms in {path}; {len(items) - len(unjudged)} judged by two readers, agreed on "
          f"{len(agreed)}; of those, {sum(agreed)} meaningful ({sum(agreed) / max(1, len(agreed)):.0%})")
    if unjudged:
        print("  not judged yet:", ", ".join(f"{i['term']} ({i['week']} {i['narrative']})" for i in unjudged))


def precision(counts: Counter, narrative: str) -> float | None:
    """The share of a narrative's read top stories that the readers said cover it."""
    yes, no = counts[narrative, "covers"], counts[narrative, "does not cover"]
    return yes / (yes + no) if yes + no else None


def main() -> None:
    """Store the archive, then build the week's digest and check its terms, or check every week's top stories."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("haoqi7", "exposir"), default="haoqi7",
                        help="haoqi7: 14 months of daily top headlines (a long history); exposir: two weeks of full items")
    parser.add_argument("--week", default="2025-W16")
    parser.add_argument("--out", type=Path, default=Path("/tmp/real-week"))
    parser.add_argument("--top-stories", action="store_true", help="every week's top stories against the readers")
    parser.add_argument("--terms-for-readers", type=Path, help="write every real week's candidate terms here")
    parser.add_argument("--depth", type=int, default=10, help="candidates per narrative and week (--terms-for-readers)")
    parser.add_argument("--score-terms", action="store_true", help="the readers' verdicts on the candidate terms")
    parser.add_argument("--score-list", type=Path, help="a --terms-for-readers file scored with every reader's verdicts")
    args = parser.parse_args()
    if args.score_terms:
        score_terms()
        return
    if args.score_list:
        score_list(args.score_list)
        return
    if not ARCHIVES.exists():
        sys.exit(f"{ARCHIVES} is absent: this check reads the shared archives")
    from mediamon.testing import project_config

    if args.terms_for_readers:
        items = []
        for source in ("exposir", "haoqi7"):
            warehouse, _ = store_archive(source, args.out / f"{source}.duckdb")
            items += term_candidates(warehouse, source, depth=args.depth)
        with args.terms_for_readers.open("w", encoding="utf-8") as out:
            for n, item in enumerate(items, 1):
                out.write(json.dumps({"id": n, **item}, ensure_ascii=False) + "\n")
        print(f"{len(items)} terms written to {args.terms_for_readers}")
        return
    warehouse, stored = store_archive(args.source, args.out / "real-week.duckdb")
    if args.top_stories:
        counts, wrong = top_stories_against_readers(warehouse)
        print(f"{stored} on-topic items stored, {counts['weeks']} weeks; top stories (three per narrative and week) "
              "that two readers labelled:")
        print(f"  {'narrative':15} {'covers':>7} {'not':>5} {'disputed':>9} {'unread':>7} {'precision':>10}")
        for n in NARRATIVES:
            p = precision(counts, n)
            print(f"  {n:15} {counts[n, 'covers']:7d} {counts[n, 'does not cover']:5d} {counts[n, 'disputed']:9d} "
                  f"{counts[n, 'unread']:7d} {'–' if p is None else f'{p:.2f}':>10}")
        print("top stories the readers said do not cover their narrative:")
        for week, narrative, title in wrong:
            print(f"  {week} {narrative:14} {title[:100]}")
        return
    digest = reporting.build_digest(warehouse, args.week, project_config(), datetime.now(UTC))
    (args.out / f"{args.week}.html").write_text(digest.html, "utf-8")
    (args.out / f"{args.week}.txt").write_text(digest.text, "utf-8")
    listed, candidates = listed_terms(warehouse, args.week)
    print(f"{stored} on-topic items stored; digest of {args.week}: {args.out}/{args.week}.txt")
    for heading, terms in (("listed terms", listed), ("strongest rising candidates", candidates)):
        print(f"{heading} (narrative, list, term, jieba dictionary frequency, stopword):")
        for t in terms:
            print(f"  {t.narrative:14s} {t.kind:13s} {t.term:20s} {t.jieba_frequency:7d} {'STOPWORD' if t.stopword else ''}")
        print(f"{len(terms)} {heading}; {sum(t.common for t in terms)} with a jieba frequency of 3,000 or more or a stopword")
    (args.out / "terms.json").write_text(json.dumps({"listed": [t.__dict__ for t in listed],
                                                     "candidates": [t.__dict__ for t in candidates]},
                                                    ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    main()
