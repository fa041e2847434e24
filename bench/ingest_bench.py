"""`make bench`: ingest throughput against the CPU ceiling of its own stages, and peak memory as N grows.

1. Stage costs: CPU time per article of each stage, on one core in this process (fetch, feed parsing,
   decode+extract+normalise+analyse+sign, store). The ceiling is cores / (sum of stage costs), measured
   right before and right after each end-to-end run (the shared machine's speed drifts).
2. End to end: for each N, a fresh process runs the real Prefect ingest flow against N generated on-topic
   articles (~110 KB pages) served from another process on loopback; it reports articles/s and peak RSS.
3. The marginal rate between the two largest sizes: what each further article costs once the fixed
   costs of a run (flow start, extraction processes, measures refresh) are paid.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from corpus import serve_corpus  # noqa: E402

from mediamon.config import FetcherSettings, PipelineSettings, StorySettings  # noqa: E402
from mediamon.testing import project_config


def start_server(n: int, feed_size: int):
    """Serve a generated corpus from a separate process; return (feed URLs, stopper)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    proc = ctx.Process(target=serve_corpus, args=(n, feed_size, child, stop), daemon=True)
    proc.start()
    feeds = parent.recv()

    def stopper() -> None:
        """Stop the server process."""
        stop.set()
        proc.join(5)

    stopper.pid = proc.pid  # type: ignore[attr-defined]
    return feeds, stopper


def process_cpu_ms(pid: int) -> float:
    """CPU milliseconds (user + system) a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def write_sources(feeds: dict[str, str], path: Path, workers: int) -> Path:
    """A sources file for the benchmark feeds with the shipped topics."""
    shipped = yaml.safe_load(project_config().sources_path.read_text("utf-8"))
    doc = {"fetcher": {"allow_private_addresses": True, "timeout_seconds": 30, "retries": 0},
           "pipeline": {"extract_workers": workers, "write_batch_articles": 500},
           "topics": shipped["topics"], "script_terms": shipped.get("script_terms", {}),
           "feeds": [{"id": k, "name": k, "outlet": "基准新闻网", "url": u, "lang": "zh-Hans"} for k, u in feeds.items()]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return path


def cpu_ms(fn, *args):
    """(result, CPU milliseconds of this process) for one call."""
    start = time.process_time()
    result = fn(*args)
    return result, (time.process_time() - start) * 1000


def stage_costs(sample: int = 60) -> dict[str, float]:
    """CPU ms per article of each stage, measured on one core."""
    from mediamon.extract import ArticleRules, page_to_article
    from mediamon.fetch import Fetcher
    from mediamon.models import FeedHarvest, FeedOutcome, Page
    from mediamon.parse import parse_feed
    from mediamon.warehouse import Warehouse

    feeds, stop = start_server(sample, sample)
    try:
        fetcher = Fetcher(FetcherSettings(allow_private_addresses=True))
        url = next(iter(feeds.values()))
        response, fetch_feed_ms = cpu_ms(fetcher.get, url)
        entries, parse_ms = cpu_ms(parse_feed, response, "bench")
        for _ in range(3):  # steady state, not first-call imports
            entries, parse_ms = cpu_ms(parse_feed, response, "bench")
        fetch_ms, pages = 0.0, []
        for e in entries:
            r, ms = cpu_ms(fetcher.get, e.url)
            fetch_ms += ms
            pages.append(Page(e, r.body, r.charset, r.url))
        # The same rules as the flow: analysed (terms, labels) and signed for near-duplicate detection.
        rules = ArticleRules("基准新闻网", False, datetime.now(UTC), PipelineSettings().min_text_chars,
                             {"昇騰": "昇腾"}, StorySettings())
        page_to_article(pages[0], rules)  # warm-up: trafilatura and OpenCC load lazily
        articles, extract_ms = [], 0.0
        for p in pages:
            a, ms = cpu_ms(page_to_article, p, rules)
            extract_ms += ms
            articles.append(a)
        # Store at the flow's batch size (write_batch_articles), with distinct URLs and texts.
        batch = PipelineSettings().write_batch_articles
        many = [replace(a, canonical_url=f"{a.canonical_url}?copy={i}", article_id=f"{i:06d}{a.article_id[6:]}",
                        text_hash=f"{i:06d}{a.text_hash[6:]}") for i in range(batch) for a in articles[i % len(articles):][:1]]
        with tempfile.TemporaryDirectory() as tmp:
            wh = Warehouse(Path(tmp) / "b.duckdb")
            wh.migrate()
            _, store_ms = cpu_ms(wh.commit, "bench", [FeedHarvest(FeedOutcome("bench"), many)], PipelineSettings(),
                                 datetime.now(UTC))
        store_ms *= len(pages) / len(many)
        fetcher.close()
    finally:
        stop()
    n = len(pages)
    return {"fetch_page": fetch_ms / n, "parse_feed": (parse_ms + fetch_feed_ms) / n,
            "extract_normalise": extract_ms / n, "store": store_ms / n}


def child(n: int, feed_size: int, workers: int) -> None:
    """Run the flow once on a fresh corpus of n articles and print JSON with time and peak memory."""
    from prefect import flow

    from flows.ingest import ingest as ingest_flow
    from mediamon import extract

    feeds, stop = start_server(n, feed_size)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sources = write_sources(feeds, Path(tmp) / "sources.yaml", workers)
            flow(name="warm-up")(lambda: None)()  # start Prefect's ephemeral server before timing
            ingest = ingest_flow
            server_cpu, main_cpu = process_cpu_ms(stop.pid), time.process_time()
            start = time.perf_counter()
            totals = ingest(sources_path=str(sources), db=str(Path(tmp) / "bench.duckdb"))
            seconds = time.perf_counter() - start
            server_cpu, main_cpu = process_cpu_ms(stop.pid) - server_cpu, (time.process_time() - main_cpu) * 1000
            worker_peaks, worker_cpu = [], 0.0
            if extract._pool is not None:  # the workers started during the run: all their CPU is the run's
                for pid in list(extract._pool._processes):
                    status = Path(f"/proc/{pid}/status").read_text()
                    worker_peaks.append(int(status.split("VmHWM:")[1].split()[0]) / 1024)
                    worker_cpu += process_cpu_ms(pid)
    finally:
        stop()
    main_peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    new = totals["new_articles"]
    print(json.dumps({"n": n, "feeds": len(feeds), "seconds": seconds, "new": new,
                      "main_peak_mb": main_peak, "worker_peak_mb": max(worker_peaks, default=0.0),
                      "cpu_ms_per_article": {"flow process": main_cpu / new, "extraction workers": worker_cpu / new,
                                             "feed server (not ingest)": server_cpu / new}}))


def main() -> None:
    """Measure the stages, run each size end to end, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1600, 3200, 6400])
    ap.add_argument("--feed-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.feed_size, args.workers)

    cores = os.cpu_count() or 1
    print(f"{'N':>6} {'feeds':>5} {'seconds':>8} {'articles/s':>10} {'stage ms':>8} {'ceiling/s':>9} {'% ceiling':>9} "
          f"{'main peak MB':>12} {'worker peak MB':>14}")
    results = []
    for n in args.sizes:
        # This machine is shared and its speed drifts by minutes: the ceiling of each run is measured
        # right before and right after it, and their mean is the run's reference.
        before = stage_costs()
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--feed-size", str(args.feed_size),
                              "--workers", str(args.workers)], capture_output=True, text=True, check=True)
        after = stage_costs()
        costs = {k: (before[k] + after[k]) / 2 for k in before}
        total = sum(costs.values())
        ceiling = cores * 1000 / total
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rate = r["new"] / r["seconds"]
        results.append({**r, "rate": rate, "ceiling": ceiling, "stage_ms": costs})
        print(f"{n:6d} {r['feeds']:5d} {r['seconds']:8.1f} {rate:10.1f} {total:8.1f} {ceiling:9.1f} {100 * rate / ceiling:8.0f}% "
              f"{r['main_peak_mb']:12.0f} {r['worker_peak_mb']:14.0f}", flush=True)
        assert r["new"] == n, f"expected {n} new articles, stored {r['new']}"
    print(f"\nstage CPU cost per article, one core, mean of all measurements ({cores} cores here):")
    for name in results[0]["stage_ms"]:
        print(f"  {name:18s} {sum(r['stage_ms'][name] for r in results) / len(results):7.2f} ms")
    print("\nwhere the CPU went in the end-to-end runs, ms per article:")
    print(f"  {'N':>6} " + " ".join(f"{k:>24}" for k in results[0]["cpu_ms_per_article"]))
    for r in results:
        print(f"  {r['n']:6d} " + " ".join(f"{v:24.1f}" for v in r["cpu_ms_per_article"].values()))
    if len(results) >= 2:
        # Fixed costs (the flow run, starting the extraction processes, the final measures) cancel out
        # between two sizes: the marginal rate is what each further article costs end to end.
        a, b = results[-2], results[-1]
        marginal = (b["new"] - a["new"]) / (b["seconds"] - a["seconds"])
        ceiling = (a["ceiling"] + b["ceiling"]) / 2
        fixed = a["seconds"] - a["new"] / marginal
        print(f"\nmarginal rate from N={a['n']} to N={b['n']}: {marginal:.1f} articles/s = {100 * marginal / ceiling:.0f}% "
              f"of the ceiling ({ceiling:.1f}/s); fixed cost per run {fixed:.1f} s")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "ingest.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
