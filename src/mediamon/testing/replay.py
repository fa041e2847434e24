"""Serve a corpus of articles as a news site with RSS/Atom feeds and article pages, on loopback.

Used by `make demo`, the tests and the benchmarks: the pipeline meets real HTTP, real feeds and real
encodings, without the internet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

import yaml

from ..config import project_root
from .devserver import FeedServer

_CONTENT_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


@dataclass(frozen=True)
class ReplayItem:
    """One article of a corpus."""

    id: str
    outlet: str
    title: str
    body: tuple[str, ...]
    summary: str = ""
    published: datetime | None = None
    author: str | None = None
    week: str = ""
    copy_of: str | None = None  # the corpus id of the story this one reprints (a labelled syndication)
    credit: str | None = None


@dataclass(frozen=True)
class Outlet:
    """A corpus outlet: how its site is served."""

    id: str
    name: str
    lang: str
    feed_format: str = "rss"
    encoding: str = "utf-8"
    declare_encoding: bool = True
    full_text: bool = False
    broken: bool = False


def render_page(title: str, paragraphs: tuple[str, ...], *, site: str, author: str | None = None,
                published: datetime | None = None, lang: str = "zh-CN", charset: str | None = "utf-8") -> str:
    """An article page with navigation, sidebar and footer around the story, as news sites have."""
    meta = f'<meta charset="{charset}">' if charset else ""
    date = f'<meta property="article:published_time" content="{published.isoformat()}">' if published else ""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    byline = f'<p class="byline">{escape(author)}</p>' if author else ""
    return f"""<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{escape(title)} - {escape(site)}</title>{date}
</head><body><nav><a href="/">{escape(site)}</a> <a href="/tech">Tech</a> <a href="/markets">Markets</a></nav>
<header><h1>{escape(title)}</h1>{byline}</header>
<article>{body}</article>
<aside><h3>More</h3><ul><li><a href="/latest">Latest</a></li><li><a href="/popular">Popular</a></li></ul></aside>
<footer>&copy; {escape(site)}</footer></body></html>"""


@dataclass(frozen=True)
class FeedItem:
    """What a feed says about one article."""

    title: str
    link: str
    summary: str
    published: datetime | None = None
    author: str | None = None
    content: str | None = None  # full text as HTML, for full-text feeds


def render_rss(title: str, items: list[FeedItem], encoding: str | None = "utf-8") -> str:
    """An RSS 2.0 document; encoding None leaves the XML declaration without one."""
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else '<?xml version="1.0"?>'
    parts = []
    for i in items:
        date = f"<pubDate>{format_datetime(i.published)}</pubDate>" if i.published else ""
        author = f"<author>{escape(i.author)}</author>" if i.author else ""
        content = f"<content:encoded>{escape(i.content)}</content:encoded>" if i.content else ""
        parts.append(f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link><guid>{escape(i.link)}</guid>"
                     f"<description>{escape(i.summary)}</description>{date}{author}{content}</item>")
    return (f'{prolog}<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{escape(title)}</title><link>http://localhost/</link><description>{escape(title)}</description>"
            + "".join(parts) + "</channel></rss>")


def render_atom(title: str, items: list[FeedItem]) -> str:
    """An Atom 1.0 document in UTF-8."""
    parts = []
    for i in items:
        # An undated story gets no <updated> (invalid Atom, but feeds do it) rather than a made-up date.
        updated = f"<updated>{i.published.isoformat()}</updated>" if i.published else ""
        author = f"<author><name>{escape(i.author)}</name></author>" if i.author else ""
        content = f'<content type="html">{escape(i.content)}</content>' if i.content else ""
        parts.append(f'<entry><title>{escape(i.title)}</title><link href="{escape(i.link)}"/><id>{escape(i.link)}</id>'
                     f"{updated}<summary>{escape(i.summary)}</summary>{author}{content}</entry>")
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(title)}</title>'
            f"<id>urn:mediamon:{escape(title)}</id><updated>2025-01-01T00:00:00Z</updated>" + "".join(parts) + "</feed>")


def load_corpus(directory: Path | None = None) -> tuple[dict[str, Outlet], list[ReplayItem]]:
    """The outlets and the items of a corpus folder (outlets.yaml + one YAML file per ISO week); by default the
    project's demo corpus, demo/corpus."""
    directory = directory or project_root() / "demo" / "corpus"
    outlets = {o["id"]: Outlet(**o) for o in yaml.safe_load((directory / "outlets.yaml").read_text("utf-8"))["outlets"]}
    stories = []
    for path in sorted(directory.glob("20??-W??.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        for a in doc["articles"]:
            published = a.get("published")
            if isinstance(published, str):
                published = datetime.fromisoformat(published)
            paragraphs = tuple(p.strip() for p in a["body"].split("\n\n") if p.strip())
            stories.append(ReplayItem(a["id"], a["outlet"], a["title"], paragraphs, a.get("summary", ""), published,
                                 a.get("author"), doc["week"], a.get("copy_of"), a.get("credit")))
    return outlets, stories


@dataclass
class ReplaySite:
    """A corpus served from loopback, one site path per outlet; `publish` decides what the feeds list."""

    outlets: dict[str, Outlet]
    server: FeedServer
    feed_size: int = 30
    feed_urls: dict[str, str] = field(default_factory=dict)

    def _path(self, outlet: str, story: ReplayItem) -> str:
        """Where a story's page lives."""
        return f"/{outlet}/{story.week.lower()}/{story.id}.html"

    def publish(self, stories: list[ReplayItem]) -> dict[str, str]:
        """Serve pages for the stories and feeds listing each outlet's newest; return outlet id -> feed URL."""
        for outlet in self.outlets.values():
            mine = [s for s in stories if s.outlet == outlet.id]
            mine.sort(key=lambda s: (s.published or datetime.max.replace(tzinfo=UTC), s.id), reverse=True)
            path = f"/{outlet.id}/feed.{'atom' if outlet.feed_format == 'atom' else 'xml'}"
            if outlet.broken:
                self.feed_urls[outlet.id] = self.server.add(path, "upstream error", "text/plain", status=500, validators=False)
                continue
            charset = outlet.encoding if outlet.declare_encoding else None
            items = []
            for s in mine[: self.feed_size]:
                page = render_page(s.title, s.body, site=outlet.name, author=s.author, published=s.published,
                                   lang=outlet.lang, charset=charset)
                ctype = f"text/html; charset={outlet.encoding}" if outlet.declare_encoding else "text/html"
                link = self.server.add(self._path(outlet.id, s), page.encode(outlet.encoding), ctype)
                content = "".join(f"<p>{escape(p)}</p>" for p in s.body) if outlet.full_text else None
                items.append(FeedItem(s.title, link, s.summary or s.body[0], s.published, s.author, content))
            if outlet.feed_format == "atom":
                doc, encoding = render_atom(outlet.name, items), "utf-8"
            else:
                doc, encoding = render_rss(outlet.name, items, charset), outlet.encoding
            ctype = _CONTENT_TYPES.get(outlet.feed_format, "application/xml")
            ctype += f"; charset={encoding}" if outlet.declare_encoding else ""
            self.feed_urls[outlet.id] = self.server.add(path, doc.encode(encoding), ctype)
        return dict(self.feed_urls)
