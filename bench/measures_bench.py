"""`make bench`: how long the weekly measures take to compute over N stored articles (default 100k and 1M).

A warehouse is filled in SQL with N synthetic articles over 52 weeks (6 outlets, 3 scripts, stories of
1-3 copies), their narrative and frame labels (about 1.4 narratives and 1.2 frames an article) and
`--terms` stored terms per article drawn from a Zipf-like (density 1/rank) 200,000-term vocabulary, then the real
refresh (warehouse/measures.sql) is timed twice: a full recount of every week, and the refresh after
one more week of articles arrives (what each ingest run does: only that week is recounted); then
reading one week's measures the way the digest does. The seed baseline is loaded as in production.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mediamon import runs
from mediamon.seeds import load_seeds
from mediamon.testing import project_config
from mediamon.warehouse import Warehouse

FILL = """
INSERT INTO articles BY NAME
SELECT printf('%016x', i) AS article_id, 'bench-' || (i % 6) AS source_id, 'Outlet ' || (i % 6) AS outlet,
       'https://bench.example/' || i AS url, 'https://bench.example/' || i AS canonical_url,
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(CAST(i * (52 * 7 * 86400.0 / $n) AS BIGINT)) AS published_at,
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(CAST(i * (52 * 7 * 86400.0 / $n) AS BIGINT) + 3600) AS first_seen_at,
       CASE WHEN i % 6 < 4 THEN 'zh' ELSE 'en' END AS lang,
       CASE i % 6 WHEN 0 THEN 'zh-Hans' WHEN 1 THEN 'zh-Hans' WHEN 2 THEN 'zh-Hant' WHEN 3 THEN 'zh-Hant' ELSE 'en' END AS script,
       'text ' || i AS text, 'text ' || i AS text_simplified, printf('%016x', i) AS text_hash, 800 AS word_count,
       'page' AS extraction, ['chip'] AS topics, false AS is_baseline, 'bench' AS run_id
FROM range($start, $end) t(i);

INSERT INTO article_stories
SELECT printf('%016x', i), printf('%016x', i - i % 3 * (CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END)) FROM range($start, $end) t(i);

INSERT INTO article_labels (article_id, narrative, frame, score, matched)
SELECT printf('%016x', i), n.narrative, NULL, 10.0, ['x×1']
FROM range($start, $end) t(i), (VALUES ('chinese_ai', 0), ('chip_controls', 1), ('ai_valuations', 2)) n(narrative, k)
WHERE (i + k) % 5 < 2 OR k = i % 3;

INSERT INTO article_labels (article_id, narrative, frame, score, matched)
SELECT l.article_id, l.narrative, f.frame, 5.0, ['y×1']
FROM article_labels l JOIN (SELECT narrative, frame, row_number() OVER (PARTITION BY narrative ORDER BY frame) AS k
                            FROM narrative_catalog WHERE frame IS NOT NULL) f USING (narrative)
WHERE l.frame IS NULL AND hash(l.article_id || f.frame) % 5 < 2 AND l.article_id >= printf('%016x', $start);

INSERT INTO article_terms
SELECT printf('%016x', i), 't' || CAST(floor(exp(random() * ln(200000))) AS INTEGER), 1 + CAST(floor(4 * pow(random(), 4)) AS INTEGER)
FROM range($start, $end) t(i), range($terms) r(j);
"""


def rss_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill_rows(wh: Warehouse, start: int, end: int, n: int, terms: int) -> None:
    """Articles start..end-1 of a warehouse whose first n articles span 52 weeks."""
    sql = FILL.replace("$start", str(start)).replace("$end", str(end)).replace("$n", str(n)).replace("$terms", str(terms))
    with wh.writer() as con:
        con.execute(sql)


def run(n: int, terms: int, directory: Path) -> dict:
    """Fill a warehouse with n articles and time the weekly measures over it."""
    wh = Warehouse(directory / f"measures-{n}.duckdb")
    wh.migrate()
    wh.ingest.insert_baseline(load_seeds(datetime(2025, 3, 10, tzinfo=UTC), project_config().seeds_dir, project_config().analysis), "seeds")
    runs.refresh_measures(wh, project_config())  # writes the narrative catalog the fill reads
    start = time.monotonic()
    fill_rows(wh, 0, n, n, terms)
    with wh.reader() as con:
        rows = con.execute("SELECT count(*) FROM article_terms").fetchone()[0]
    fill = time.monotonic() - start
    refresh = runs.refresh_measures(wh, project_config(), full=True)
    fill_rows(wh, n, n + n // 52, n, terms)  # one more week arrives, as after a weekly run
    incremental = runs.refresh_measures(wh, project_config())
    start = time.monotonic()
    week = wh.reports.latest_week()
    measures = wh.reports.week_measures(week)
    read = time.monotonic() - start
    with wh.reader() as con:
        weekly_terms = con.execute("SELECT count(*) FROM weekly_terms").fetchone()[0]
    size = wh.path.stat().st_size / 2**20
    return {"articles": n, "term_rows": rows, "fill_s": fill, "refresh_s": refresh, "incremental_s": incremental, "read_week_s": read,
            "weekly_terms": weekly_terms, "flagged": len(measures["terms"]), "db_mb": size, "peak_rss_mb": rss_mb()}


def main() -> int:
    """Run the benchmark for each size and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--terms", type=int, default=50, help="stored terms per article (the pipeline keeps the top 50)")
    parser.add_argument("--keep", type=Path, help="keep the warehouses in this folder (to profile the SQL)")
    args = parser.parse_args()
    print("articles  term rows     fill s  full refresh s  +1 week refresh s  read one week s  weekly_terms rows  db MB  peak RSS MB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.articles:
            Path(folder, f"measures-{n}.duckdb").unlink(missing_ok=True)
            r = run(n, args.terms, folder)
            print(f"{r['articles']:>8}  {r['term_rows']:>11,}  {r['fill_s']:>7.1f}  {r['refresh_s']:>14.1f}  "
                  f"{r['incremental_s']:>17.1f}  {r['read_week_s']:>15.2f}  {r['weekly_terms']:>17,}  {r['db_mb']:>5.0f}  {r['peak_rss_mb']:>11.0f}", flush=True)
            if not args.keep:
                Path(folder, f"measures-{n}.duckdb").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
