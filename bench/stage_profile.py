"""`make bench`: where the time of `mediamon ingest` goes, per article and per run, on the real pages of
bench/real_pages_bench.py (the exposir items of ../shared that carry article HTML; text never copied here).

Per article: each stage of the chain a page goes through in an extraction process (workers.page_to_article),
timed alone, in this process, in milliseconds (mean over the pages), next to the naive loop's own extraction
(`trafilatura.extract` with its defaults). Per run: the fixed costs, each timed in a fresh process. How busy the
two cores are through a real run, and the run's wall time, are in bench/real_pages_bench.py's output.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from real_pages_bench import ARCHIVES, load_items  # noqa: E402

FIXED = {  # per-run cost: what it is -> the code a fresh process runs
    "python start-up": "pass",
    "import mediamon.cli (before Prefect's server starts)": "import mediamon.cli",
    "import prefect": "import prefect",
    "import flows.ingest (all of mediamon, Prefect, DuckDB)": "import flows.ingest",
    "load the libraries in the forkserver (trafilatura, readability, OpenCC, jieba, jieba-rs)":
        "import mediamon._preload",
    "load config/ (rules, lexicon, user dictionary)": "from mediamon.config import load_config; load_config()",
}


def pages(limit: int) -> list[tuple[dict, str]]:
    """The real pages as bench/real_pages_bench.py serves them: (archived item, HTML)."""
    out = []
    for items in load_items(limit).values():
        for item in items:
            title = escape(item.get("title") or "")
            out.append((item, f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
                              f"<h1>{title}</h1>{item['content_html']}</article></body></html>"))
    return out


def per_article(limit: int) -> None:
    """Time every stage of the page → article chain on each page, and print the means."""
    import trafilatura

    from mediamon import workers
    from mediamon.analysis import analyse_stored
    from mediamon.config import load_config
    from mediamon.encoding import decode
    from mediamon.extract import (
        _readability_text,
        build_article,
        choose_text,
        clean_text,
        extract_page,
    )
    from mediamon.models import Entry
    from mediamon.normalize import to_simplified
    from mediamon.stories import sign_article
    from mediamon.terms import tokens

    config = load_config(ROOT)
    workers.configure(config)
    workers._warm_libraries()
    analyse_stored("预热", "zh-Hans", "预热文本", "zh", config.analysis)
    spent: dict[str, list[float]] = defaultdict(list)

    def timed(stage: str, fn, *args, **kwargs):
        """Run one stage and keep its milliseconds."""
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        spent[stage].append((time.perf_counter() - start) * 1000)
        return result

    rulebook, lexicon = config.analysis.rulebook, config.analysis.lexicon
    for n, (item, html) in enumerate(pages(limit)):
        body = html.encode()
        text_html, _ = timed("decode (charset checks, mojibake check)", decode, body, "utf-8")
        timed("naive loop's extraction: trafilatura.extract, defaults", trafilatura.extract, text_html)
        doc = timed("trafilatura: text and metadata (quick date search)", trafilatura.bare_extraction, text_html,
                    with_metadata=True, include_comments=False, include_tables=False, fast=True,
                    date_extraction_params={"original_date": True, "extensive_search": False})
        second = timed("readability-lxml: the second opinion", _readability_text, text_html)
        primary = clean_text(doc.text) if doc is not None and doc.text else ""
        timed("cascade: compare the two texts", choose_text, primary, second, doc.description if doc else None)
        extracted = extract_page(text_html, None, need_date=False)
        url = f"http://bench.example/{n}"
        published = datetime.fromisoformat(item["date_published"].replace("Z", "+00:00"))
        entry = Entry("f", url, url, url, item.get("title") or "", "", "", None, published, ())
        article = timed("build the article (clean, OpenCC to simplified, script)", build_article, entry, extracted,
                        outlet="o", feed_text_is_full=False, first_seen_at=datetime.now(UTC), min_text_chars=200,
                        protected_terms=dict(config.sources.script_terms))
        if article is None:
            continue
        timed("  of which OpenCC alone", to_simplified, article.text, dict(config.sources.script_terms))
        document = timed("rules: sentences, lead, skip lines", rulebook.document, article.title, article.text_simplified)
        timed("rules: narrative and frame labels", rulebook.label, document)
        timed("terms: jieba and the content filter", tokens, document.joined, article.lang, lexicon)
        analysis = analyse_stored(article.title, article.script, article.text_simplified, article.lang,
                                  config.analysis)
        timed("MinHash signature and credit line", sign_article, replace(article, analysis=analysis),
              config.sources.stories)
    count = len(spent["decode (charset checks, mojibake check)"])
    per_page = {stage: sum(values) / count for stage, values in spent.items()}  # a page that yields no article
    total = sum(v for k, v in per_page.items() if not k.startswith(("naive", "  ")))  # costs only what it ran
    print(f"\nper page, {count} real pages, {len(spent['MinHash signature and credit line'])} of them articles "
          "(ms, mean over the pages):")
    for stage, ms in per_page.items():
        print(f"  {stage:60} {ms:6.2f}")
    print(f"  {'all of mediamon’s stages above (one core)':60} {total:6.2f}")


def per_run() -> None:
    """Time each fixed cost of a run in a fresh process (median of three)."""
    print("\nper run, each in a fresh process (s, median of 3):")
    for what, code in FIXED.items():
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
            runs.append(time.perf_counter() - start)
        print(f"  {what:70} {statistics.median(runs):5.2f}")
    print("  Prefect's local server start-up, and the whole run's wall time: see bench/real_pages_bench.py")


def main() -> int:
    """Print the per-article and per-run tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=900)
    args = parser.parse_args()
    if not ARCHIVES.exists():
        print(f"skipped: {ARCHIVES} is absent (the shared corpora are beside the repository in development)")
        return 0
    per_article(args.items)
    per_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
