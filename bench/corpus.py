"""Generate large benchmark corpora from the demo corpus's building blocks, served as heavy news pages."""

from __future__ import annotations

import gzip
import random
from datetime import timedelta
from pathlib import Path

from mediamon.devserver import FeedServer
from mediamon.replay import FeedItem, Story, load_corpus, render_page, render_rss

ON_TOPIC_HINT = ("DeepSeek", "H20", "英伟达", "輝達", "Nvidia", "芯片", "晶片", "出口管制", "昇腾", "AI")


def generate_stories(n: int, seed: int = 7) -> list[Story]:
    """n distinct on-topic stories: each mixes paragraphs of two demo stories of the same language."""
    _, stories = load_corpus()
    base = [s for s in stories if any(h in s.title + s.summary for h in ON_TOPIC_HINT) and s.published]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = base[i % len(base)]
        b = rng.choice([s for s in base if s.outlet == a.outlet] or base)
        paragraphs = list(a.body) + [p for p in b.body if p not in a.body][:2] + [f"（基准稿件第{i}号）"]
        rng.shuffle(paragraphs)
        out.append(Story(f"bench-{i}", a.outlet, f"{a.title}（{i}）", tuple(paragraphs), a.summary,
                         a.published + timedelta(minutes=i), a.author, a.week))
    return out


def heavy_page(story: Story, rng: random.Random) -> bytes:
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
