"""Generate large benchmark corpora from the demo corpus's building blocks, served as heavy news pages."""

from __future__ import annotations

import gzip
import random
import re
from datetime import timedelta
from pathlib import Path

from mediamon.testing.devserver import FeedServer
from mediamon.testing.replay import FeedItem, ReplayItem, load_corpus, render_page, render_rss

ON_TOPIC_HINT = ("DeepSeek", "H20", "英伟达", "輝達", "Nvidia", "芯片", "晶片", "出口管制", "昇腾", "AI")


SYNDICATED_EVERY = 10  # every 10th article reprints an earlier one under a new headline (a story of two)
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")


def _sentences_by_outlet(stories: list[ReplayItem]) -> dict[str, list[str]]:
    """Every sentence of the demo stories, pooled per outlet (so each pool has one language and script)."""
    pools: dict[str, set[str]] = {}
    for s in stories:
        for paragraph in s.body:
            pools.setdefault(s.outlet, set()).update(x.strip() for x in _SENTENCE_END.split(paragraph) if len(x.strip()) > 8)
    return {outlet: sorted(sentences) for outlet, sentences in pools.items()}


def generate_stories(n: int, seed: int = 7) -> list[ReplayItem]:
    """n on-topic articles, distinct like a real news flow: each is new text, and one in ten is a syndicated copy.

    Each article has the shape of a demo story (its title, summary, paragraph count) but paragraphs drawn
    from random sentences of that outlet's stories, so two articles share little text and stories do not
    grow with n: the benchmark measures ingest, not an ever larger cluster of near-copies.
    """
    _, stories = load_corpus()
    base = [s for s in stories if any(h in s.title + s.summary for h in ON_TOPIC_HINT) and s.published]
    pools = _sentences_by_outlet(base)
    rng = random.Random(seed)
    out: list[ReplayItem] = []
    for i in range(n):
        a = base[i % len(base)]
        if i % SYNDICATED_EVERY == SYNDICATED_EVERY - 1:
            original = out[i - SYNDICATED_EVERY // 2]
            body = original.body[:-1] + (f"（来源：{original.outlet}）",)  # a credit line instead of the marker
            out.append(ReplayItem(f"bench-{i}", a.outlet, f"{a.title}（转载{i}）", body, original.summary,
                             original.published + timedelta(hours=2), a.author, a.week, copy_of=original.id))
            continue
        pool = pools[a.outlet]
        joiner = " " if pool[0].isascii() else ""
        paragraphs = [joiner.join(rng.sample(pool, 3)) for _ in range(len(a.body) + 2)]
        paragraphs.append(f"（基准稿件第{i}号）")
        out.append(ReplayItem(f"bench-{i}", a.outlet, f"{a.title}（{i}）", tuple(paragraphs), a.summary,
                         a.published + timedelta(minutes=i), a.author, a.week))
    return out


def heavy_page(story: ReplayItem, rng: random.Random) -> bytes:
    """A ~110 KB page like real news sites: long menus, scripts and sidebars around a short story."""
    page = render_page(story.title, story.body, site="基准新闻网", author=story.author, published=story.published)
    nav = "".join(f'<li><a href="/c/{k}">频道{k} 栏目导航</a></li>' for k in range(380))
    script = "<script>window.__STATE__=" + ",".join(str(rng.random()) for _ in range(1900)) + ";</script>"
    related = "".join(f'<li><a href="/r/{rng.randrange(10**6)}">相关阅读：市场动态第{k}期 今日要闻汇总</a></li>'
                      for k in range(220))
    page = page.replace("<body>", f"<body><ul class='menu'>{nav}</ul>{script}", 1)
    page = page.replace("</footer>", f"</footer><aside class='related'><ul>{related}</ul></aside>{script}", 1)
    return page.encode("utf-8")


def serve_corpus(n: int, feed_size: int, ready, stop) -> None:
    """Child process: serve n stories as heavy pages in feeds of feed_size; send feed URLs, serve until stopped."""
    rng = random.Random(11)
    stories = generate_stories(n)
    with FeedServer() as server:
        feeds = {}
        for f in range(0, n, feed_size):
            items = []
            for s in stories[f:f + feed_size]:
                link = server.add(f"/a/{s.id}.html", heavy_page(s, rng))
                items.append(FeedItem(s.title, link, s.summary or s.body[0], s.published, s.author))
            feeds[f"bench-{f // feed_size:04d}"] = server.add(f"/feeds/{f // feed_size}.xml", render_rss("bench", items),
                                                               "application/rss+xml; charset=utf-8")
        # A real site serves from its own machine: compress every page now, so the timed run does not also
        # pay this loopback server's gzip (about 5 ms of the shared CPU per page, measured).
        for route in server.routes.values():
            if len(route.body) > 512:
                route.gzipped = gzip.compress(route.body, compresslevel=6)
        ready.send(feeds)
        stop.wait()


if __name__ == "__main__":
    rng = random.Random(1)
    page = heavy_page(generate_stories(1)[0], rng)
    Path("/tmp/bench-page.html").write_bytes(page)
    print(f"one benchmark page: {len(page) / 1024:.0f} KB -> /tmp/bench-page.html")
