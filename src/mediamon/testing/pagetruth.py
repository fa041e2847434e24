"""Gold extraction text for real Chinese pages from two readers' block marks (labels/pages/GUIDE.md).

    python -m mediamon.testing.pagetruth     # merge labels/pages/readers/*.jsonl into zh_pages_gold.jsonl

A page is gold where both readers call it an article and agree on at least 90% of the characters either
marked (the gold blocks are those both marked), or where both call it not an article. Page text is read
from ../shared at run time; the repository keeps only paths and block numbers."""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ..extract import tokens
from .pageblocks import article_text, page_blocks

ROOT = Path(__file__).resolve().parents[3]
LABELS = ROOT / "labels" / "pages"
PAGES = ROOT.parent / "shared" / "corpora" / "pages"
AGREEMENT = 0.9


@dataclass(frozen=True)
class GoldPage:
    """One page's gold: its path under ../shared/corpora/pages, whether it is an article, its gold blocks."""

    page: str
    article: bool
    blocks: tuple[int, ...]
    agreement: float


def parse_blocks(spec: str) -> list[int]:
    """Block numbers from a reader's "12-30,33,35-36"."""
    numbers: list[int] = []
    for part in (p.strip() for p in (spec or "").split(",")):
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            numbers.extend(range(low, high + 1))
        elif part:
            numbers.append(int(part))
    return sorted(set(numbers))


def page_bytes(page: str) -> bytes:
    """A page's raw bytes from ../shared (gzip-compressed there, byte for byte)."""
    path = PAGES / page
    return gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()


def merge(first: list[dict], second: list[dict], blocks_of) -> tuple[list[GoldPage], list[str]]:
    """Gold pages where two readers agree, and a line for each page where they do not."""
    other = {row["page"]: row for row in second}
    gold, disputed = [], []
    read_by_first = {row["page"] for row in first}
    disputed += [f"{page}: read by one reader only" for page in other if page not in read_by_first]
    for a in first:
        b = other.get(a["page"])
        if b is None:
            disputed.append(f"{a['page']}: read by one reader only")
            continue
        if not a["article"] and not b["article"]:
            gold.append(GoldPage(a["page"], False, (), 1.0))
            continue
        if a["article"] != b["article"]:
            disputed.append(f"{a['page']}: article for one reader only")
            continue
        blocks = blocks_of(a["page"])
        mine, theirs = set(parse_blocks(a["blocks"])), set(parse_blocks(b["blocks"]))
        both, either = mine & theirs, mine | theirs
        agreement = sum(len(blocks[n]) for n in both) / max(1, sum(len(blocks[n]) for n in either))
        if agreement >= AGREEMENT:
            gold.append(GoldPage(a["page"], True, tuple(sorted(both)), round(agreement, 3)))
        else:
            disputed.append(f"{a['page']}: the readers agree on {agreement:.0%} of the characters")
    return gold, disputed


def load_gold(path: Path = LABELS / "zh_pages_gold.jsonl") -> list[GoldPage]:
    """The gold pages stored in the repository."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [GoldPage(r["page"], r["article"], tuple(r["blocks"]), r["agreement"]) for r in rows]


def gold_text(gold: GoldPage) -> str:
    """A gold page's article text, read from ../shared: its gold blocks, one per line."""
    return article_text(page_bytes(gold.page), list(gold.blocks))


def token_f1(got: str, truth: str) -> float:
    """Token F1 between an extraction and its ground truth (Han characters singly, other words whole)."""
    a, b = tokens(got), tokens(truth)
    return 2 * sum((a & b).values()) / max(1, a.total() + b.total())


def main() -> int:
    """Merge the two readers' files, write the gold file, print the agreement."""
    read = [[json.loads(line) for line in (LABELS / "readers" / f"reader_{r}.jsonl").read_text("utf-8").splitlines()
             if line.strip()] for r in "AB"]
    gold, disputed = merge(read[0], read[1], lambda page: page_blocks(page_bytes(page)))
    with open(LABELS / "zh_pages_gold.jsonl", "w", encoding="utf-8") as out:
        for g in gold:
            out.write(json.dumps({"page": g.page, "article": g.article, "blocks": list(g.blocks),
                                  "agreement": g.agreement}, ensure_ascii=False) + "\n")
    articles = [g for g in gold if g.article]
    mean = sum(g.agreement for g in articles) / max(1, len(articles))
    print(f"{len(read[0])} pages read by two readers: {len(gold)} gold ({len(articles)} articles, mean character "
          f"agreement {mean:.3f}), {len(disputed)} left out")
    for line in disputed:
        print("  left out:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
