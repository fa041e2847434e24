"""Which text extractor gives the best token F1 on Chinese news pages, without making English worse.

    python bench/extraction_bench.py            # from /work/main; reads ../shared/corpora, writes nothing
    python bench/extraction_bench.py --en-all   # all 181 scrapinghub pages instead of a fixed 61

Sets (ground truth by people unless marked *): zh-human: the 64 Chinese news pages of gne and gerapy whose
article text two of our readers marked block by block and agreed on (labels/pages/, mediamon.testing.pagetruth);
zh-moz / en-moz: mozilla-readability expected.html, by the
language of its text (es, de, fr, pt, ja pages left out); en-aeb: scrapinghub ground-truth.json; zh-gne*:
GNE's own output (gne/result.txt), a machine reference, a proxy only; zh-snip / en-snip: share of the
trafilatura-eval must-include / must-exclude snippets right (not F1), plus goose3's bbc_chinese, whose
expected text is a 150-character prefix. fundus (us/uk/my) and newspaper4k (ja/ko/en, still scanned) have
no Chinese ground truth. Extractors whose packages are missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from html import unescape
from pathlib import Path

import lxml.html
from charset_normalizer.md import mess_ratio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from mediamon.extract import contained, tokens  # noqa: E402  (the cascade's own token comparison)
from mediamon.normalize import HAN_CHARS as HAN  # noqa: E402
from mediamon.testing.pagetruth import gold_text, load_gold, page_bytes, token_f1  # noqa: E402

PAGES = ROOT.parent / "shared" / "corpora" / "pages"
XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
BLOCKS = set("p div br li h1 h2 h3 h4 h5 h6 tr td blockquote pre section article figcaption table".split())
EN_WORDS = set("the and of to that with is".split())
OTHER_WORDS = set("der die und das ein le la les et de des est il el y que en em do não".split())
SETS = ("zh-human", "zh-moz", "zh-gne*", "zh-snip", "en-moz", "en-aeb", "en-snip")
Extractor = Callable[[str, "str | None"], str]


def html_text(markup: str) -> str:
    """Visible text of an HTML fragment or page, a line break after each block element."""
    root = lxml.html.fromstring(XML_DECL.sub("", markup) or "<p></p>")
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in BLOCKS:
            el.tail = "\n" + (el.tail or "")
    return root.text_content()


def lang_of(text: str) -> str:
    """'zh' when Han characters dominate (few kana), 'en' when English function words outnumber others'."""
    han, kana = len(re.findall(f"[{HAN}]", text)), len(re.findall("[\u3040-\u30ff]", text))
    words = re.findall(r"[^\W\d_]+", text.lower())
    if han > 50 and han > len(words) and kana < han / 20:
        return "zh"
    en, other = sum(w in EN_WORDS for w in words), sum(w in OTHER_WORDS for w in words)
    return "en" if en > 10 and en > 2 * other else "other"


def garbled(text: str) -> bool:
    """Whether visible text looks like mojibake: U+FFFD, UTF-8 read as Latin-1, or a high mess ratio."""
    bad = len(re.findall("\ufffd|Ã[\x80-\xbf]|â€", text))
    return (bad > 3 and bad > len(text) / 1000) or mess_ratio(text[:20_000], maximum_threshold=1.0) > 0.3


def meta_description(html: str) -> str:
    """The page's og:description or meta description, the publisher's own summary of the article."""
    m = re.search(r"""<meta[^>]+(?:property|name)\s*=\s*["'](?:og:)?description["'][^>]*>""", html, re.I)
    c = re.search(r"""content\s*=\s*(["'])(.*?)\1""", m.group(0), re.I | re.S) if m else None
    return unescape(c.group(2)) if c else ""


def snippets(got: str, page: dict) -> float:
    """Share of a page's snippets handled right: must-include ones present, must-exclude ones absent."""
    got = re.sub(r"\s+", "", got)
    ok = [re.sub(r"\s+", "", s) in got for s in page["with_"]]
    ok += [re.sub(r"\s+", "", s) not in got for s in page["without"]]
    return sum(ok) / len(ok)


def load_sets(en_all: bool) -> dict[str, list[dict]]:
    """Every set's pages, decoded by mediamon.encoding.decode: name, html, url, truth or with_/without."""
    from mediamon.encoding import decode

    sets: dict[str, list[dict]] = {k: [] for k in SETS}
    gz = lambda p: gzip.open(p).read()  # noqa: E731

    def add(lang: str | None, kind: str, name: str, raw: bytes, url: str | None, **truth) -> None:
        """Decode one page and file it under its language's set (told by its own text when lang is None)."""
        html, codec = decode(raw)
        key = f"{lang or lang_of(html_text(html))}-{kind}"
        sets.get(key, []).append(dict(name=name, html=html, codec=codec, url=url, **truth))

    for d in sorted((PAGES / "mozilla-readability" / "test-pages").iterdir()):
        truth = html_text((d / "expected.html").read_text("utf-8"))
        add(lang_of(truth), "moz", d.name, gz(d / "source.html.gz"), None, truth=truth)
    for txt in sorted((PAGES / "newspaper4k" / "txt").glob("*.txt")):
        if lang_of(truth := txt.read_text("utf-8")) == "zh":
            add("zh", "moz", f"n4k/{txt.stem}", gz(PAGES / "newspaper4k/html" / f"{txt.stem}.html.gz"), None,
                truth=truth)
    for gold in load_gold():
        if gold.article:
            add("zh", "human", gold.page, page_bytes(gold.page), None, truth=gold_text(gold))
    gne = (PAGES / "gne" / "result.txt").read_text("utf-8")
    for path, body in re.findall(r">{5,}(\S+?)>{5,}\n(.*?)\n<{5,}", gne, re.S):
        add("zh", "gne*", path[6:], gz(PAGES / "gne" / f"{path}.gz"), None, truth=json.loads(body)["content"])
    aeb = json.loads((PAGES / "scrapinghub-aeb" / "ground-truth.json").read_text("utf-8"))
    for k in sorted(aeb) if en_all else sorted(aeb)[::3]:
        add("en", "aeb", k[:12], gz(PAGES / "scrapinghub-aeb/html" / f"{k}.html.gz"), aeb[k]["url"],
            truth=aeb[k]["articleBody"])
    ev = json.loads((PAGES / "trafilatura-eval" / "evaldata.selected.json").read_text("utf-8"))
    for url, item in ev.items():
        raw = gz(PAGES / "trafilatura-eval" / "html" / f"{item['file']}.gz")
        add(None, "snip", item["file"], raw, url.split("::")[-1], with_=item["with"], without=item["without"])
    goose = json.loads((PAGES / "goose3" / "content" / "test_bbc_chinese.json").read_text("utf-8"))
    add("zh", "snip", "goose3/bbc_chinese", gz(PAGES / "goose3/content/test_bbc_chinese.html.gz"), goose["url"],
        with_=[p for p in goose["expected"]["cleaned_text"].split("\n") if p], without=[])
    return sets


def optional(module: str, notes: list[str]):
    """The module, or None (with a note) when it cannot be imported here."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        notes.append(f"{module} not importable ({e}): skipped, with the combinations that need it")
        return None


def justext_text(justext, html: str) -> str:
    """jusText; on a Chinese page (no stoplist exists) its language-free mode, lengths scaled for Han."""
    zh = lang_of(html_text(html)) == "zh"
    kw = dict(stopwords_low=0, stopwords_high=0, length_low=30, length_high=70) if zh else {}
    stop = frozenset() if zh else justext.get_stoplist("English")
    return "\n".join(p.text for p in justext.justext(XML_DECL.sub("", html), stop, **kw) if not p.is_boilerplate)


def extractors() -> tuple[dict[str, Extractor], list[str]]:
    """The extractors that can run here, by name, and a note for each package that is missing."""
    found: dict[str, Extractor] = {}
    notes: list[str] = []
    if (mm := optional("mediamon.extract", notes)) and (tr := optional("trafilatura", notes)):
        found["mediamon"] = lambda html, url: (e.text if (e := mm.extract_page(html, url)) else "")
        found["before"] = lambda html, url: (d.text or "" if (d := tr.bare_extraction(  # the extractor until now
            html, url=url, with_metadata=True, include_comments=False, include_tables=False, fast=True)) else "")
        variants = {"traf-default": {}, "traf-nocom": {"include_comments": False},  # default: fast=False
                    "traf-nocom-notab": {"include_comments": False, "include_tables": False},
                    "traf-prec": {"include_comments": False, "favor_precision": True},
                    "traf-rec": {"include_comments": False, "favor_recall": True}}
        for name, kw in variants.items():
            found[name] = lambda html, url, kw=kw: tr.extract(html, url=url, **kw) or ""
    if rd := optional("readability", notes):
        found["readability"] = lambda html, url: html_text(rd.Document(html).summary(html_partial=True))
    if jt := optional("justext", notes):
        found["justext"] = lambda html, url: justext_text(jt, html)
    if bp := optional("boilerpy3.extractors", notes):
        found["boilerpy3"] = lambda html, url: bp.ArticleExtractor(raise_on_failure=False).get_content(html)
    return found, notes


def prec_or_rec(out: dict[str, str], html: str) -> str:
    """trafilatura precision, unless under half the recall output and the recall one covers the summary better."""
    prec, rec = out["traf-prec"], out["traf-rec"]
    desc = meta_description(html)
    if len(prec) < len(rec) / 2 and (not desc or contained(desc, rec) > contained(desc, prec) + 0.2):
        return rec
    return prec if tokens(prec) else rec


COMBOS = {  # name: (function, extractors it needs)
    "prec-or-rec": (prec_or_rec, ("traf-prec", "traf-rec")),
}


def timed(fn: Extractor, page: dict) -> tuple[str, float]:
    """An extractor's output on a page (empty if it crashes) and the seconds it took."""
    t = time.perf_counter()
    try:
        text = fn(page["html"], page["url"]) or ""
    except Exception:  # a crash counts as an empty output
        text = ""
    return text, time.perf_counter() - t


def run(sets: dict[str, list[dict]], found: dict[str, Extractor]) -> dict[str, dict[str, list[tuple]]]:
    """Score every extractor and combination on every page: set -> name -> [(page, score, empty, seconds)]."""
    first = next(p for pages in sets.values() for p in pages)
    for fn in found.values():  # first calls load models and caches: keep them out of the timing
        timed(fn, first)
    results: dict[str, dict[str, list[tuple]]] = {s: {} for s in sets}
    for s, pages in sets.items():
        for page in pages:
            runs = {name: timed(fn, page) for name, fn in found.items()}
            for name, (fn, needs) in COMBOS.items():
                if all(n in runs for n in needs):
                    runs[name] = (fn({n: runs[n][0] for n in needs}, page["html"]), sum(runs[n][1] for n in needs))
            for name, (text, secs) in runs.items():
                score = snippets(text, page) if "with_" in page else token_f1(text, page["truth"])
                results[s].setdefault(name, []).append((page["name"], score, not tokens(text), secs))
    return results


def main() -> None:
    """Load the sets, run the extractors, print the table and the Chinese pages' per-extractor scores."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--en-all", action="store_true", help="all scrapinghub pages, not every third")
    en_all = ap.parse_args().en_all
    if not PAGES.is_dir():
        print(f"skipped: {PAGES} is absent (the shared corpora sit beside the repository only in development)")
        return
    found, notes = extractors()
    dists = ("trafilatura", "readability-lxml", "justext", "boilerpy3", "lxml", "charset-normalizer")
    installed = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()}
    print("python", sys.version.split()[0], "|", ", ".join(f"{d} {installed[d]}" for d in dists if d in installed))
    print("".join(f"note: {note}\n" for note in notes), end="")
    sets = {s: pages for s, pages in load_sets(en_all).items() if pages}
    results = run(sets, found)
    names = list(next(iter(results.values())))
    heads = {s: f"{s} n={len(p)} moji={sum(garbled(html_text(x['html'])) for x in p)}" for s, p in sets.items()}
    print("codecs:", {s: dict(Counter(x["codec"] for x in p)) for s, p in sets.items()})
    print("\ncell = mean  median  empty  s/page   (*-snip: share of snippets right; zh-gne*: machine reference)")
    print(f"{'':17}" + "".join(f"{heads[s]:>25}" for s in sets))
    for name in names:
        row = [(statistics.mean(sc := [x[1] for x in r]), statistics.median(sc), sum(x[2] for x in r),
                statistics.mean(x[3] for x in r)) for r in (results[s][name] for s in sets)]
        print(f"{name:17}" + "".join(f"{m:>9.3f} {md:.3f} {e:>2} {t:5.2f}" for m, md, e, t in row))
    legend = " ".join(f"{i}={n}" for i, n in enumerate(names, 1))
    print(f"\nChinese pages, worst first by mediamon's extractor; columns: {legend}")
    zh = [(s, i) for s in sets if s.startswith("zh") for i in range(len(sets[s]))]
    for s, i in sorted(zh, key=lambda si: results[si[0]][names[0]][si[1]][1]):
        scores = " ".join(f"{results[s][n][i][1]:5.2f}" for n in names)
        print(f"{s[3:]:5}{sets[s][i]['name'][:30]:31}{scores}")


if __name__ == "__main__":
    main()
