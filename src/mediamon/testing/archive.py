"""Real archived feed items (../shared's exposir JSON Feeds) as Articles, for development checks and benchmarks."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from mediamon.models import Article
from mediamon.normalize import (
    article_id,
    canonical_url,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)
from mediamon.parse import html_to_text


def exposir_articles(root: Path) -> list[Article]:
    """Articles from every archived JSON Feed under root (published and first seen at the item's date)."""
    out = []
    for path in sorted(root.glob("*.json.gz")):
        feed = json.load(gzip.open(path))
        for item in feed.get("items", []):
            text = clean_text(item.get("content_text") or html_to_text(item.get("content_html") or ""))
            url = item.get("url") or item.get("id")
            if not url or not text:
                continue
            when = item.get("date_published")
            at = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else datetime(2026, 2, 1, tzinfo=UTC)
            lang, script = detect_script(text)
            simplified = to_simplified(text)
            canonical = canonical_url(url)
            out.append(Article(article_id(canonical), path.name.split(".")[0], feed.get("title") or path.name, url,
                               canonical, clean_text(item.get("title") or "")[:200], None, at, at, lang, script, text,
                               simplified, text_fingerprint(simplified), word_count(text), "feed", guid=url))
    return out


def haoqi7_articles(archives: Path) -> list[Article]:
    """Headlines of the haoqi7 daily top-20 archives (ithome, sina, thepaper), each a title-only article first seen
    on its archive day; the same headline on later days is the same article."""
    import tarfile

    seen: dict[str, Article] = {}
    for path in sorted(archives.glob("*-daily-top20.tar.gz")):
        platform = path.name.split("-")[0]
        with tarfile.open(path) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                day = datetime.strptime(member.name.split("archive/")[1][:10], "%Y/%m/%d").replace(hour=8, tzinfo=UTC)
                for entry in json.load(tar.extractfile(member)).get("data") or []:
                    title = clean_text(entry.get("title") or "")
                    url = entry.get("url") or entry.get("mobileUrl")
                    if not title or not url or url in seen:
                        continue
                    canonical = canonical_url(url)
                    simplified = to_simplified(title)
                    lang, script = detect_script(title)
                    seen[url] = Article(article_id(canonical), f"haoqi7-{platform}", platform, url, canonical, title[:200],
                                        None, day, day, lang, script, title, simplified, text_fingerprint(simplified),
                                        word_count(title), "feed", guid=url)
    return list(seen.values())
