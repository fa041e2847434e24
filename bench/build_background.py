"""Build the English general-news background (word -> documents) shipped in src/mediamon/data/background_en.tsv.

    python bench/build_background.py        # reads ../shared/corpora, writes the counts file

The background is what "common" means for English terms: a word in at least 2% of ~2,300 real English news
texts (the exposir feed items, the scrapinghub and newspaper4k articles) is general language, not a
content term that can rise. Only counts are shipped, never text. Chinese uses jieba's own dictionary.
"""

from __future__ import annotations

import glob
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
OUT = ROOT / "src" / "mediamon" / "data" / "background_en.tsv"
MIN_SHARE = 0.005  # words in fewer documents than this are left out (rare: the prior's floor covers them)


def english_texts() -> list[str]:
    """Real English news texts from ../shared: feed items, benchmark article bodies."""
    sys.path.insert(0, str(ROOT / "src"))
    from mediamon.normalize import detect_script

    texts = []
    for path in sorted(glob.glob(str(SHARED / "feed_archives/exposir-rss/head/*.json.gz"))):
        for item in json.load(gzip.open(path))["items"]:
            text = f"{item.get('title') or ''}\n{item.get('content_text') or ''}"
            if len(text) > 80 and detect_script(text)[1] == "en":
                texts.append(text)
    truth = json.loads((SHARED / "pages/scrapinghub-aeb/ground-truth.json").read_text("utf-8"))
    texts += [v.get("articleBody") or "" for v in truth.values()]
    texts += [Path(p).read_text("utf-8", "replace") for p in sorted(glob.glob(str(SHARED / "pages/newspaper4k/txt/*.txt")))]
    return [t for t in texts if t.strip()]


def main() -> None:
    """Count each word's documents and write the common ones with the total."""
    sys.path.insert(0, str(ROOT / "src"))
    from mediamon.terms import english_words

    texts = english_texts()
    docs = Counter()
    for text in texts:
        docs.update(set(english_words(text.lower())))
    keep = sorted((w, n) for w, n in docs.items() if n >= MIN_SHARE * len(texts))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        out.write(f"# English news background: documents per word among {len(texts)} real news texts "
                  f"(bench/build_background.py; words in under {MIN_SHARE:.1%} of them are left out)\n")
        out.write(f"__documents__\t{len(texts)}\n")
        out.writelines(f"{w}\t{n}\n" for w, n in keep)
    print(f"{len(texts)} texts, {len(keep)} words written to {OUT}")


if __name__ == "__main__":
    main()
