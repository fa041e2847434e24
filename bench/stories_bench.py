"""Stories benchmark: the cost of grouping a new article with 10k and with 100k articles already stored.

Articles arrive at a constant rate (150 a day), so the 30-day window holds the same number of articles
whatever the size of the history; the per-article cost should then not depend on the history. Texts
are eight sentences drawn from the demo corpus; one in ten is a reprint of one of the previous 50.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mediamon.config import PipelineSettings, StorySettings
from mediamon.models import Article, FeedHarvest, FeedOutcome
from mediamon.normalize import article_id, text_fingerprint, word_count
from mediamon.stories import sign_article
from mediamon.testing.replay import load_corpus
from mediamon.warehouse import Warehouse
from mediamon.warehouse import stories as story_store

PER_DAY = 150
START = datetime(2023, 1, 1, tzinfo=UTC)


def _paragraph_pool() -> list[str]:
    """Distinct Chinese sentences from the demo corpus, the building blocks of generated texts."""
    _, stories = load_corpus()
    sentences = {s for story in stories for p in story.body for s in re.split(r"[。！？]", p) if 15 < len(s) < 90}
    return sorted(s for s in sentences if re.search(r"[\u4e00-\u9fff]{8}", s))


COPY_SHARE = 0.1  # one article in ten reprints one of the previous 50, with portal boilerplate


def _text(i: int, pool: list[str]) -> str:
    """Article i's own text: eight sentences drawn with a seed of its own."""
    return "。".join(random.Random(i).sample(pool, 8)) + f"。（第{i}号）"


def make_articles(start: int, n: int, pool: list[str], params: StorySettings, rng: random.Random) -> list[Article]:
    """n signed articles numbered from start, published at PER_DAY a day; a tenth are copies of recent ones."""
    out = []
    for i in range(start, start + n):
        source = i - rng.randint(1, 50) if i > 50 and rng.random() < COPY_SHARE else i
        text = _text(source, pool) + ("\n责任编辑：王明" if source != i else "")
        at = START + timedelta(days=i / PER_DAY)
        url = f"https://bench.example.com/{i}"
        out.append(sign_article(Article(article_id(url), "bench", "基准", url, url, f"稿件{i}", None, at, at, "zh", "zh-Hans",
                                        text, text, text_fingerprint(text), word_count(text), "page", guid=url), params))
    return out


def rss_mb() -> float:
    """Current resident memory of this process, MB."""
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def measure(stored: int, probe: int = 1000, batch: int = 100) -> dict:
    """Fill a warehouse with `stored` articles, then time grouping `probe` new ones in batches."""
    params = StorySettings()
    pool = _paragraph_pool()
    rng = random.Random(5)
    timings = []
    original = story_store.assign

    def timed(con, rows, p):
        """assign_stories with a stopwatch."""
        t = time.perf_counter()
        result = original(con, rows, p)
        timings.append(time.perf_counter() - t)
        return result

    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "s.duckdb", stories=params)
        wh.migrate()
        for i in range(0, stored, 5000):
            wh.ingest.commit("fill", [FeedHarvest(FeedOutcome("bench"), make_articles(i, min(5000, stored - i), pool, params, rng))],
                      PipelineSettings(), datetime.now(UTC))
        new = make_articles(stored, probe, pool, params, rng)
        story_store.assign = timed
        try:
            start, base = time.perf_counter(), rss_mb()
            for i in range(0, probe, batch):
                wh.ingest.commit("probe", [FeedHarvest(FeedOutcome("bench"), new[i:i + batch])], PipelineSettings(),
                          datetime.now(UTC))
            commit_s = time.perf_counter() - start
        finally:
            story_store.assign = original
        size_mb = (Path(tmp) / "s.duckdb").stat().st_size / 1e6
    return {"stored": stored, "stories_ms": 1000 * sum(timings) / probe, "commit_ms": 1000 * commit_s / probe,
            "rss_mb": rss_mb(), "rss_growth_mb": rss_mb() - base, "db_mb": size_mb}


def main() -> None:
    """Print per-article costs for each history size."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    print(f"{'stored':>8} {'stories ms/article':>18} {'commit ms/article':>17} {'RSS MB':>7} {'DB MB':>6}")
    for n in args.sizes:
        r = measure(n)
        print(f"{r['stored']:8d} {r['stories_ms']:18.2f} {r['commit_ms']:17.2f} {r['rss_mb']:7.0f} {r['db_mb']:6.0f}", flush=True)
    print(f"(grouping {1000} new articles in batches of 100; {PER_DAY} articles a day, 30-day window)")


if __name__ == "__main__":
    sys.exit(main())
