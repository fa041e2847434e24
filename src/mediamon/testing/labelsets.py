"""Reader-labelled sets for `mediamon narratives evaluate`, built from ../shared at run time (text never tracked).

    python -m mediamon.testing.labelsets --set dev --part check --out /tmp/dev-check.jsonl
    python -m mediamon.testing.labelsets --batch 12 --out /tmp/batch12.jsonl

Sets: `dev` is ../shared/labels (208 items, two readers) with the frames our two readers gave its
chip-control and valuation items (labels/dev_frames.jsonl); `extra` is the items our readers labelled
(labels/extra_gold.jsonl: a reference into ../shared and the agreed labels); `all` is both; `seeds` is the
project's four seed articles, read whole by two readers (labels/seeds_gold.jsonl; no ../shared needed). Parts: `tune`
and `check` halves (a stable hash of each item's reference), or `all`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import tarfile
from functools import lru_cache
from pathlib import Path

import lxml.html

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"
LABELS = ROOT / "labels"
TEXT_CHARS = 1500  # what the readers saw: the title and the first 1,500 characters of the item's own text
WHOLE_TEXT_CHARS = 8000  # a whole article as batch 18's readers read it ('exposir-full:'); 9 in 10 long items fit
FRAMED = ["chip_controls", "ai_valuations"]  # the narratives whose frames our readers labelled (labels/FRAMES_GUIDE.md)


def part_of(ref: str) -> str:
    """'tune' or 'check': a stable half of the items, by a hash of their reference (an item read whole falls in
    the half of its first 1,500 characters, so one article is never on both sides)."""
    ref = ref.replace("exposir-full:", "exposir:", 1)
    return "tune" if int(hashlib.sha1(ref.encode()).hexdigest(), 16) % 2 == 0 else "check"


def feed_item_text(item: dict, limit: int = TEXT_CHARS) -> str:
    """A JSON Feed item's own text as readers saw it: its HTML as lines of text, at most `limit` characters."""
    html = item.get("content_html") or ""
    text = item.get("content_text") or ""
    if html.strip():
        try:
            doc = lxml.html.fromstring(f"<div>{html}</div>")
            for br in doc.iter("br"):
                br.tail = "\n" + (br.tail or "")
            for el in doc.iter("p", "div", "li", "h1", "h2", "h3", "h4", "tr", "section", "blockquote"):
                el.tail = "\n" + (el.tail or "")
            text = doc.text_content()
        except (ValueError, lxml.etree.ParserError):
            pass
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())[:limit]


@lru_cache(maxsize=1)
def _feed_items(shared: Path) -> dict[str, dict]:
    """Every exposir archive item by 'feed:url'."""
    items = {}
    for path in sorted((shared / "corpora/feed_archives/exposir-rss/head").glob("*.json.gz")):
        feed = path.name.removesuffix(".json.gz")
        for item in json.load(gzip.open(path))["items"]:
            url = item.get("url") or item.get("id")
            if url:
                items[f"{feed}:{url}"] = item
    return items


@lru_cache(maxsize=4)
def _headlines(shared: Path, platform: str) -> dict[str, str]:
    """haoqi7's daily top-20 headlines of one platform, by item id."""
    out = {}
    with tarfile.open(shared / f"corpora/feed_archives/haoqi7-news-archive/{platform}-daily-top20.tar.gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".json"):
                for entry in json.load(tar.extractfile(member)).get("data") or []:
                    out.setdefault(str(entry.get("id")), (entry.get("title") or "").strip())
    return out


def _page_text(shared: Path, relative: str) -> tuple[str, str]:
    """(title, text) of a Chinese news page as readers saw it: trafilatura's fast extraction, first characters."""
    import trafilatura

    from mediamon.encoding import decode

    path = shared / "corpora" / relative
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    doc = trafilatura.bare_extraction(decode(raw, None)[0], with_metadata=True, fast=True)
    text = "\n".join(line.strip() for line in (doc.text or "").splitlines() if line.strip()) if doc else ""
    return ((doc.title or "").strip() if doc else ""), text[:TEXT_CHARS]


def _seed_text(name: str) -> tuple[str, str]:
    """(title, text) of one of the project's seed articles, whole, as the pipeline loads it."""
    from mediamon.seeds import read_manifest, seed_text

    seed = next(s for s in read_manifest(ROOT / "seeds") if s.file == name)
    return seed_text(seed, (ROOT / "seeds" / name).read_bytes())


def resolve(ref: str, shared: Path = SHARED) -> tuple[str, str]:
    """(title, text) of a reference: 'exposir:<feed>:<url>' (the first 1,500 characters), 'exposir-full:<feed>:<url>'
    (the whole article, up to WHOLE_TEXT_CHARS), 'page:<path under corpora>', 'haoqi7:<platform>:<id>',
    'seed:<file in seeds/>'."""
    kind, _, rest = ref.partition(":")
    if kind == "seed":
        return _seed_text(rest)
    if kind in ("exposir", "exposir-full"):
        item = _feed_items(shared)[rest]
        return (item.get("title") or "").strip(), feed_item_text(item, WHOLE_TEXT_CHARS if kind == "exposir-full" else TEXT_CHARS)
    if kind == "page":
        return _page_text(shared, rest)
    if kind == "haoqi7":
        platform, _, item_id = rest.partition(":")
        return _headlines(shared, platform)[item_id], ""
    raise ValueError(f"unknown reference kind in {ref!r}")


def _jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def dev_records(shared: Path = SHARED) -> list[dict]:
    """../shared/labels as evaluate records, with our readers' frames where they agreed."""
    gold = {g["id"]: g for g in _jsonl(shared / "labels/dev_gold.jsonl")}
    frames = {f["id"]: f for f in _jsonl(LABELS / "dev_frames.jsonl")} if (LABELS / "dev_frames.jsonl").exists() else {}
    out = []
    for item in _jsonl(shared / "labels/dev_sample.jsonl"):
        g, f = gold[item["id"]], frames.get(item["id"])
        ref = f"dev:{item['id']}"
        out.append({"id": ref, "title": item["title"], "text": item["text"], "lang": item["lang"],
                    "narratives": g["narratives"], "disputed": g["disputed"],
                    **({"frames": f["frames"], "frames_disputed": f.get("frames_disputed", []),
                        "frame_narratives": FRAMED} if f else {}),
                    "part": "tune" if item["id"] % 2 == 0 else "check"})
    return out


def extra_records(shared: Path = SHARED) -> list[dict]:
    """Our readers' agreed labels (labels/extra_gold.jsonl) with the texts read from ../shared."""
    out = []
    for g in _jsonl(LABELS / "extra_gold.jsonl"):
        title, text = resolve(g["ref"], shared)
        record = {"id": g["ref"], "title": title, "text": text, "lang": g["lang"], "narratives": g["narratives"],
                  "disputed": g.get("disputed", []), "part": part_of(g["ref"])}
        if "frames" in g:  # batch 6 was read for the narratives only: its items are left out of frame scores
            record.update(frames=g["frames"], frames_disputed=g.get("frames_disputed", []), frame_narratives=FRAMED)
        out.append(record)
    return out


def seed_records() -> list[dict]:
    """The four seed articles with two readers' agreed labels and frames (labels/seeds_gold.jsonl); no ../shared
    needed, the seeds are the project's own."""
    out = []
    for g in _jsonl(LABELS / "seeds_gold.jsonl"):
        title, text = resolve(g["ref"])
        out.append({"id": g["ref"], "title": title, "text": text, "lang": g["lang"], "narratives": g["narratives"],
                    "disputed": g["disputed"], "frames": g["frames"], "frames_disputed": g["frames_disputed"],
                    "frame_narratives": FRAMED, "part": part_of(g["ref"])})
    return out


def batch_refs(batch: int) -> set[str]:
    """The references our readers read in one batch (labels/readers/reader_A.jsonl records each item's batch)."""
    return {r["ref"] for r in _jsonl(LABELS / "readers/reader_A.jsonl") if r.get("batch") == batch}


def records(which: str = "all", part: str = "all", shared: Path = SHARED, batch: int | None = None) -> list[dict]:
    """The records of a set ('dev', 'extra', 'all' = both, 'seeds') and part ('tune', 'check', 'all'), or of one
    reader batch (a held-out check of the rules as they stood before it)."""
    if batch is not None:
        refs = batch_refs(batch)
        if not refs:
            raise ValueError(f"no items of batch {batch} in {LABELS / 'readers/reader_A.jsonl'}")
        found = [r for r in dev_records(shared) + extra_records(shared) if r["id"] in refs]
        if len(found) != len(refs):
            raise ValueError(f"batch {batch}: {len(refs) - len(found)} of its {len(refs)} items are in no label set")
        return [r for r in found if part in ("all", r["part"])]
    if which == "seeds":
        return [r for r in seed_records() if part in ("all", r["part"])]
    chosen = (dev_records(shared) if which in ("dev", "all") else []) + (extra_records(shared) if which in ("extra", "all") else [])
    return [r for r in chosen if part in ("all", r["part"])]


def main(argv: list[str] | None = None) -> None:
    """Write a set as a JSON-lines file for `mediamon narratives evaluate --labels`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--set", dest="which", choices=("dev", "extra", "all", "seeds"), default="all")
    which.add_argument("--batch", type=int, help="only the items of one reader batch (labels/README.md lists them)")
    parser.add_argument("--part", choices=("tune", "check", "all"), default="all")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = records(args.which, args.part, batch=args.batch)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} items written to {args.out}")


if __name__ == "__main__":
    main()
