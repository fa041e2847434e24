"""`make bench`: `mediamon ingest` against the loop a user would write instead, on real pages, in one run.

The exposir items of ../shared that carry their article's HTML (zh-Hans, zh-Hant, en) are served from a loopback
server as real pages behind one RSS feed per archived feed (the text never leaves ../shared). Then, alternated,
in fresh processes and into fresh warehouses:

- the naive loop: sequential httpx + feedparser + trafilatura.extract, then a DuckDB insert per feed;
- `mediamon ingest` from the command line, as a user runs it (Prefect's local server started by the command,
  every feed kept whole with `keep_all`, so both do every page).

Printed: each round's wall seconds and the ratios: from the command line (the command starts Prefect's local
server), the same without that start-up (measured from the command's own log), and against a Prefect server
that is already running (as `make server` and deployments have it), alternated with the loop again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import NamedTuple

import yaml

from mediamon.orchestration import LocalServer
from mediamon.testing.devserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
ARCHIVES = ROOT.parent / "shared" / "corpora" / "feed_archives" / "exposir-rss" / "head"

NAIVE = r"""
import sys, time, duckdb, feedparser, httpx, trafilatura
feeds, db = sys.argv[1].split(","), sys.argv[2]
con = duckdb.connect(db)
con.execute("CREATE TABLE articles (url VARCHAR, title VARCHAR, text VARCHAR)")
with httpx.Client(timeout=30) as client:
    for feed in feeds:
        parsed = feedparser.parse(client.get(feed).content)
        rows = []
        for entry in parsed.entries:
            html = client.get(entry.link).text
            text = trafilatura.extract(html, url=entry.link)
            if text:
                rows.append((entry.link, entry.get("title", ""), text))
        con.executemany("INSERT INTO articles VALUES (?, ?, ?)", rows)
print(con.execute("SELECT count(*) FROM articles").fetchone()[0])
"""


def load_items(limit: int) -> dict[str, list[dict]]:
    """feed name -> its archived items that carry article HTML (at most `limit` in all)."""
    feeds: dict[str, list[dict]] = {}
    total = 0
    for path in sorted(ARCHIVES.glob("*.json.gz")):
        for item in json.load(gzip.open(path)).get("items", []):
            if len(item.get("content_html") or "") > 500 and total < limit:
                feeds.setdefault(path.name.split(".")[0], []).append(item)
                total += 1
    return feeds


def publish(server: FeedServer, feeds: dict[str, list[dict]]) -> dict[str, str]:
    """Serve each item as a page and each feed as RSS; return feed id -> feed URL."""
    urls = {}
    for n, (name, items) in enumerate(feeds.items()):
        entries = []
        for i, item in enumerate(items):
            title = escape(item.get("title") or "")
            page = server.add(f"/{n}/{i}.html", f"<html><head><meta charset='utf-8'><title>{title}</title></head>"
                                                f"<body><article><h1>{title}</h1>{item['content_html']}</article></body></html>")
            # Each item keeps its archived date, as its feed carried it.
            published = format_datetime(datetime.fromisoformat(item["date_published"].replace("Z", "+00:00")))
            entries.append(f"<item><title>{title}</title><link>{page}</link><guid>{page}</guid>"
                           f"<pubDate>{published}</pubDate></item>")
        urls[f"feed{n}"] = server.add(f"/{n}/feed.xml", f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'>"
                                                        f"<channel><title>{escape(name)}</title>{''.join(entries)}"
                                                        "</channel></rss>", "application/rss+xml; charset=utf-8")
    return urls


def sources_yaml(urls: dict[str, str]) -> str:
    """The project's sources.yaml with these feeds instead, each kept whole."""
    doc = yaml.safe_load((ROOT / "sources.yaml").read_text(encoding="utf-8"))
    doc["fetcher"] = {**doc.get("fetcher", {}), "allow_private_addresses": True}
    doc["feeds"] = [{"id": fid, "name": fid, "outlet": fid, "url": url, "lang": "zh-Hans", "keep_all": True}
                    for fid, url in urls.items()]
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every process, from /proc."""
    table = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return table


class TreeCPU:
    """The CPU seconds of a process and all its descendants (the forkserver's workers too, which no one waits
    for), sampled from /proc five times a second until it ends: a lower bound, short of each process's last
    fifth of a second."""

    def __init__(self, pid: int):
        """Start sampling the tree under pid."""
        self.pid, self.seen, self.done = pid, {}, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        """Keep each descendant's latest CPU total."""
        while not self.done.is_set():
            table = _proc_table()
            tree, grew = {self.pid}, True
            while grew:
                before = len(tree)
                tree |= {pid for pid, (parent, _) in table.items() if parent in tree}
                grew = len(tree) > before
            for pid in tree & table.keys():
                self.seen[pid] = table[pid][1]
            self.done.wait(0.2)

    def stop(self) -> TreeSeconds:
        """Stop sampling; the tree's CPU seconds, and the root process's own."""
        self.done.set()
        self.thread.join()
        return TreeSeconds(sum(self.seen.values()), self.seen.get(self.pid, 0.0))


class TreeSeconds(NamedTuple):
    """CPU seconds of a process tree, and of its root process alone (the command's own: for mediamon, the
    flow's process with its fetching, feed parsing, Prefect task runs and DuckDB)."""

    total: float
    own: float


def run_tree(command: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, TreeSeconds]:
    """Run a command; (its result, wall seconds, CPU seconds of it and every process under it)."""
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    cpu = TreeCPU(process.pid)
    out, err = process.communicate()
    seconds = time.monotonic() - start
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, out, err)
    return subprocess.CompletedProcess(command, 0, out, err), seconds, cpu.stop()


def busy(cpu: TreeSeconds, seconds: float) -> str:
    """CPU seconds (all, and the command's own process) and how busy the machine's cores were on average."""
    return (f"CPU {cpu.total:5.1f} s, {cpu.own:4.1f} s in the command's own process, "
            f"{cpu.total / seconds / (os.cpu_count() or 1):4.0%} of {os.cpu_count()} cores")


def run_naive(urls: dict[str, str], folder: Path) -> tuple[float, int, TreeSeconds]:
    """The naive loop in a fresh process: (seconds, articles stored, CPU seconds)."""
    db = folder / f"naive-{time.monotonic_ns()}.duckdb"
    done, seconds, cpu = run_tree([sys.executable, "-c", NAIVE, ",".join(urls.values()), str(db)])
    return seconds, int(done.stdout.strip().splitlines()[-1]), cpu


def run_mediamon(sources: Path, folder: Path, api_url: str | None = None) -> tuple[float, int, float, TreeSeconds]:
    """`mediamon ingest` in a fresh process: (seconds, articles stored, seconds until Prefect answered, CPU
    seconds of it, its workers and the server it started). With
    api_url, against that running server (as deployments run); else the command starts its own."""
    db = folder / f"mediamon-{time.monotonic_ns()}.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    done, seconds, cpu = run_tree([str(Path(sys.executable).with_name("mediamon")), "ingest", "--sources",
                                   str(sources), "--db", str(db), "--allow-private"], env)
    ready = next((float(line.split("ready in ")[1].split()[0]) for line in done.stderr.splitlines()
                  if "Prefect API ready in" in line), 0.0)
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])["new_articles"], ready, cpu


def main() -> int:
    """Serve the pages, alternate the two, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=900, help="pages at most (../shared has about 900)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not ARCHIVES.exists():
        print(f"skipped: {ARCHIVES} is absent (the shared corpora are beside the repository in development)")
        return 0
    feeds = load_items(args.items)
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        urls = publish(server, feeds)
        sources = folder / "sources.yaml"
        sources.write_text(sources_yaml(urls), encoding="utf-8")
        print(f"{sum(len(v) for v in feeds.values())} real pages behind {len(urls)} feeds")
        naive, ours, start_up, served = [], [], [], []
        for r in range(args.rounds):
            seconds, stored, cpu = run_naive(urls, folder)
            naive.append(seconds)
            print(f"round {r + 1}: naive loop {seconds:6.1f} s ({stored} articles; {busy(cpu, seconds)})", flush=True)
            seconds, stored, ready, cpu = run_mediamon(sources, folder)
            ours.append(seconds)
            start_up.append(ready)
            print(f"round {r + 1}: mediamon   {seconds:6.1f} s ({stored} articles; Prefect ready after {ready:.0f} s; "
                  f"{busy(cpu, seconds)})", flush=True)
        # Steady state: a Prefect server already running, as `make server` and deployments have it.
        server_log = folder / "prefect-server.log"
        prefect_server = LocalServer(server_log)
        prefect_server.start(300.0)
        try:
            for r in range(args.rounds):
                seconds, stored, cpu = run_naive(urls, folder)
                naive.append(seconds)
                print(f"round {r + 1}: naive loop {seconds:6.1f} s ({stored} articles; {busy(cpu, seconds)})",
                      flush=True)
                seconds, stored, _, cpu = run_mediamon(sources, folder, prefect_server.api_url)
                served.append(seconds)
                print(f"round {r + 1}: mediamon   {seconds:6.1f} s ({stored} articles; Prefect server running; "
                      f"{busy(cpu, seconds)}, the server's own not counted)", flush=True)
        finally:
            prefect_server.stop()
        loop = statistics.median(naive)
        print(f"mediamon / naive loop, from the command line: {statistics.median(ours) / loop:.2f}; without "
              f"Prefect's start-up: {(statistics.median(ours) - statistics.median(start_up)) / loop:.2f}; "
              f"with a running Prefect server: {statistics.median(served) / loop:.2f} "
              f"(medians; naive loop {loop:.1f} s over {len(naive)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
