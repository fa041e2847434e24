"""Extraction and the fallbacks to the feed's own text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fixtures.site import ITEMS, THIN_PAGE_FEED_TEXT, page_html

from mediamon.extract import build_article, choose_text, extract_page
from mediamon.models import Entry, Page
from mediamon.testing import config_for, project_config
from mediamon.workers import FeedRules, pages_to_articles

NOW = datetime(2025, 2, 5, tzinfo=UTC)


def _entry(summary: str = "摘要", content: str = "", title: str = "标题") -> Entry:
    """An entry as the parser would give it."""
    return Entry("f", "g1", "http://a.example.com/x", "http://a.example.com/x", title, summary, content, None, None)


def _build(entry, extracted, full=False):
    """build_article with test settings."""
    return build_article(entry, extracted, outlet="测试", feed_text_is_full=full, first_seen_at=NOW, min_text_chars=80)


def test_page_text_without_boilerplate():
    """The article body is kept; navigation, aside and footer are not."""
    item = ITEMS["h20"]
    extracted = extract_page(page_html(item))
    assert item.paragraphs[0] in extracted.text and item.paragraphs[-1] in extracted.text
    assert "Popular" not in extracted.text and "测试新闻网" not in extracted.text


def test_article_from_page_is_marked_and_simplified():
    """A traditional page keeps its original text and gains a simplified copy."""
    item = ITEMS["tw_nvidia"]
    article = _build(_entry(), extract_page(page_html(item, lang="zh-TW")))
    assert article.extraction == "page" and article.script == "zh-Hant" and article.lang == "zh"
    assert "輝達" in article.text and "英伟达" in article.text_simplified  # Taiwan's name, in mainland words


def test_thin_page_falls_back_to_feed_content():
    """A page with too little text gives way to the feed's content."""
    extracted = extract_page(page_html(ITEMS["kimi"]))
    article = _build(_entry(content=THIN_PAGE_FEED_TEXT), extracted)
    assert article.extraction == "feed_fallback" and article.text == THIN_PAGE_FEED_TEXT


def test_failed_extraction_falls_back_to_summary():
    """No article on the page: the summary is better than nothing."""
    assert extract_page("<html><body></body></html>") is None
    article = _build(_entry(summary="英伟达H20芯片出口受限的消息传出后，相关股票下跌。"), None)
    assert article.extraction == "feed_fallback"


def test_no_text_anywhere_gives_no_article():
    """Nothing on the page and nothing in the feed: no article."""
    assert _build(_entry(summary="", title=""), None) is None


def test_full_text_feed_skips_the_page():
    """Feeds marked full_text use their own content."""
    article = _build(_entry(content=THIN_PAGE_FEED_TEXT), None, full=True)
    assert article.extraction == "feed"


def test_pages_to_articles_in_a_process_pool_matches_in_process():
    """Extraction in worker processes gives the same articles as in-process, in order."""
    pages = [Page(_entry(summary=""), page_html(ITEMS[k], None).encode("gb18030")) for k in ("deepseek", "h20", "smic")]
    pages.append(Page(_entry(summary=""), None))
    rules = FeedRules("测试", False, NOW)
    sources = project_config().sources.with_pipeline(min_text_chars=80)
    in_pool = pages_to_articles(pages, rules, config_for(sources.with_pipeline(extract_workers=2)))
    assert in_pool == pages_to_articles(pages, rules, config_for(sources.with_pipeline(extract_workers=0)))
    assert [a.text.split("\n")[0] if a else None for a in in_pool] == [
        ITEMS["deepseek"].paragraphs[0], ITEMS["h20"].paragraphs[0], ITEMS["smic"].paragraphs[0], None]


@pytest.mark.reliability("the extraction workers exit within seconds; nothing is left running")
def test_killing_the_owner_leaves_no_extraction_workers(tmp_path):
    """kill -9 of a process that owns the extraction pool."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = ("import os, sys, time\n"
              "from mediamon import workers\n"
              "from mediamon.testing import config_for, project_config\n"
              "config = config_for(project_config().sources.with_pipeline(extract_workers=2))\n"
              "pool = workers.shared_pool(config)\n"
              "pids = {f.result() for f in [pool.submit(workers._ready) for _ in range(2)]}\n"
              "print(' '.join(map(str, pids)), flush=True)\n"
              "time.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in owner.stdout.readline().split()]
    assert workers
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()

    def alive(pid: int) -> bool:
        """Whether the pid runs (a zombie counts as gone)."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), f"workers {workers} outlived their owner"


# --- the extraction cascade: trafilatura, checked against readability ---------------------------------------------

ARTICLE = "美国商务部周二公布出口管制新规，英伟达H20芯片对华出口今后需要申请许可证。" * 6
NOISE = "网友评论仅供其表达个人看法，并不表明网易立场。热点新闻：某地天气晴好，某队赢得比赛，某公司发布新品。" * 3


def test_the_cascade_drops_blocks_trafilatura_kept_around_the_article():
    """Readability's text is trafilatura's minus a comment notice and a hot-news list: readability wins."""
    from mediamon.extract import choose_text

    assert choose_text(ARTICLE + "\n" + NOISE, ARTICLE, None) == (ARTICLE, "readability")


def test_the_cascade_restores_text_trafilatura_cut_when_the_page_summary_has_it():
    """Trafilatura kept only the start; the og:description quotes the rest, which readability kept."""
    from mediamon.extract import choose_text

    rest = "业内人士表示，新规短期内将加剧国内算力紧张，但也可能加快本土供应链的替代进程。" * 4
    assert choose_text(ARTICLE, ARTICLE + rest, rest[:60]) == (ARTICLE + rest, "readability")
    assert choose_text(ARTICLE, ARTICLE + rest, None) == (ARTICLE, "trafilatura"), "without a summary: no evidence"


def test_the_cascade_keeps_trafilatura_when_they_disagree_or_one_is_empty():
    """Two different texts: trafilatura's stays; an empty one defers to the other."""
    from mediamon.extract import choose_text

    assert choose_text(ARTICLE, NOISE, None) == (ARTICLE, "trafilatura")
    assert choose_text("", ARTICLE, None) == (ARTICLE, "readability")
    assert choose_text(ARTICLE, "", None) == (ARTICLE, "trafilatura")


def test_a_page_with_a_comment_notice_and_hot_news_yields_the_article():
    """A NetEase-style page end to end: the stored text is the article, without the notice or the list."""
    from mediamon.extract import extract_page

    html = (f"<html><head><title>t</title></head><body><div class='post_body'><p>{ARTICLE}</p></div>"
            f"<div class='post_comment'><p>{NOISE[:50]}</p></div><div class='hot'><ul>"
            + "".join(f"<li><a href='/n{i}'>热点新闻第{i}条：某地天气晴好某队赢得比赛</a></li>" for i in range(12))
            + "</ul></div></body></html>")
    extracted = extract_page(html)
    assert extracted is not None and "网友评论" not in extracted.text and "热点新闻" not in extracted.text
    assert "英伟达H20芯片" in extracted.text


def test_a_photo_page_keeps_its_caption_not_the_list_of_other_items():
    """When the two extractors disagree wholesale, the text that reads as sentences wins over a headline list."""
    headlines = "\n".join(f"老照片：1933年的中国各地鸟瞰图第{i}组" for i in range(10))
    caption = "当全世界绝大部分国家都在为吸引中国游客而绞尽脑汁的时候，只有这个国家一脸淡定。"
    assert choose_text(headlines, caption, None) == (caption, "readability")
    assert choose_text(caption, headlines, None) == (caption, "trafilatura")


def test_a_dated_feed_entry_skips_the_written_out_date_search():
    """The page's written-out date is looked for only when the feed gave no date."""
    html = ("<html><body><article><p>Published on Monday, January 27th, 2025 by the desk.</p><p>"
            + "Nvidia lost a record amount of market value after DeepSeek. " * 20 + "</p></article></body></html>")
    assert extract_page(html, need_date=True).date == "2025-01-27"
    assert extract_page(html, need_date=False).date is None


def test_a_long_paragraph_without_a_final_full_stop_still_reads_as_prose():
    """A paragraph whose line ends without a full stop is prose when it holds finished sentences."""
    paragraph = "Viver uma experiência amorosa é um prazer. Gostar é sentir com a alma. Queremos ser amados e não"
    sidebar = "\n".join(["Whatsapp Facebook Pint", "Baixar", "Leia também"]) + "\n" + "Outra história. " * 30
    assert choose_text(paragraph, sidebar, None)[1] == "trafilatura"
