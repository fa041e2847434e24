"""Reader batches, drawn and merged by command: which unread items of ../shared two readers get next, and the gold.

    python -m mediamon.testing.batches draw --batch 13 --out /tmp/b13      # items.jsonl (part1.jsonl … when split)
    python -m mediamon.testing.batches merge --batch 13 --items /tmp/b13/items.jsonl A.jsonl B.jsonl
    python -m mediamon.testing.batches check                               # re-draws every batch, compares
    python -m mediamon.testing.batches heldout                             # each batch against its rules, pooled
    python -m mediamon.testing.batches unread                              # what a next batch could be drawn from

A batch is drawn from the items not read before it (the readers' files record each item's batch), with a
fixed seed, so any draw can be re-run and checked against what the readers were given. Batches 1-8 were
drawn by scratch scripts before this module; labels/README.md describes them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mediamon.normalize import detect_script, to_simplified
from mediamon.testing import labelsets

NARRATIVES = ["chinese_ai", "chip_controls", "ai_valuations"]

_EXPOSIR_WORDS = (r"DeepSeek|深度求索|Qwen|通义|Kimi|月之暗面|Manus|豆包|文心|智谱|MiniMax|阶跃|百川|大模型|人工智能|\bAI\b|"
                  r"Nvidia|英伟达|輝達|芯片|晶片|chip|semiconductor|半导体|SMIC|中芯|华为|Huawei|昇腾|H20|出口管制|"
                  r"export control|估值|泡沫|bubble|valuation|市值|capex|资本开支")
_HEADLINE_AI_WORDS = (r"DeepSeek|深度求索|Qwen|千问|通义|Kimi|月之暗面|Manus|豆包|文心|智谱|MiniMax|阶跃|大模型|人工智能|\bAI\b|"
                      r"智能体|英伟达|芯片|半导体|中芯|华为|昇腾|H20|H200|出口管制|管制|估值|泡沫|市值|资本开支|算力|寒武纪|OpenAI")
_HEADLINE_CHIP_WORDS = (r"英伟达|Nvidia|芯片|半导体|中芯|昇腾|H20|H200|出口管制|管制|实体清单|光刻|ASML|阿斯麦|估值|泡沫|市值|股价|"
                        r"美股|港股|资本开支|算力|寒武纪|摩尔线程|OpenAI|DeepSeek|大模型")


@dataclass(frozen=True)
class Spec:
    """How one batch was drawn: its source, the words that make an item a candidate, how many of each, the seed."""

    source: str  # "exposir", "exposir-full" (long items, whole), "haoqi7", "aeb" (scrapinghub's English pages) or
    # "fired" (unread exposir and haoqi7 items; candidates are those the rules at `scored_at` label)
    words: str = ""
    candidates: int | None = None  # None: every candidate
    others: int = 0
    seed: int = 0
    mixed: bool = False  # draw from candidates and others together (an everyday-news check)
    parts: int = 1  # how many parts, each read by its own two readers
    scored_at: str = ""  # the commit whose rules had not seen the batch: its held-out score is taken there


SPECS = {
    9: Spec("exposir", _EXPOSIR_WORDS, None, 60, 9, parts=2, scored_at="bda6ef6"),
    10: Spec("haoqi7", _HEADLINE_AI_WORDS, 220, 40, 10, scored_at="ef7bc22"),
    11: Spec("haoqi7", _HEADLINE_CHIP_WORDS, 230, 20, 11, scored_at="d2cb868"),
    12: Spec("exposir", _EXPOSIR_WORDS, 220, 0, 12, mixed=True, scored_at="7ca15d8"),
    13: Spec("haoqi7", _HEADLINE_AI_WORDS + "|" + _HEADLINE_CHIP_WORDS, 250, 30, 13, scored_at="0e8f24f"),
    14: Spec("aeb", "", None, 0, 14, scored_at="0e8f24f"),
    15: Spec("haoqi7", _HEADLINE_AI_WORDS + "|" + _HEADLINE_CHIP_WORDS, 220, 30, 15, scored_at="89f4e84"),
    16: Spec("haoqi7", _HEADLINE_AI_WORDS + "|" + _HEADLINE_CHIP_WORDS, None, 30, 16, scored_at="4998fda"),
    # \bAI\b above never matched "AI" written against Chinese characters (发布AI功能): batches 10-16 left such
    # headlines out, and this batch reads them.
    17: Spec("haoqi7", r"(?<![A-Za-z])AI(?![A-Za-z])", None, 20, 17, scored_at="e2ed4e4"),
    # The pipeline labels whole articles, but readers had read 1,500 characters: this batch re-reads every long
    # exposir item (read before or not) whole, to check the rules' salience where a mention can sit deep in a text.
    18: Spec("exposir-full", _EXPOSIR_WORDS, None, 24, 18, parts=4, scored_at="270d497"),
    # No unread item names the words above any more (`unread`), and few that name none are coverage. This
    # batch checks precision on fresh text instead: every unread item the rules label, mixed with others.
    19: Spec("fired", "", None, 64, 19, scored_at="a7afbe9"),
}


def read_before(batch: int, labels: Path = labelsets.LABELS) -> set[str]:
    """References our readers had read before a batch was drawn (dev items are excluded by URL and title instead)."""
    return {r["ref"] for r in labelsets._jsonl(labels / "readers/reader_A.jsonl")
            if r.get("batch", 0) < batch and not r["ref"].startswith("dev:")}


def _exposir_pool(read: set[str], shared: Path) -> list[dict]:
    """Unread exposir items with text, whose headline no reader has seen (dev items included)."""
    items = labelsets._feed_items(shared)
    dev = labelsets._jsonl(shared / "labels/dev_sample.jsonl")
    dev_urls, dev_titles = {d.get("url") for d in dev}, {d.get("title") for d in dev}
    read_titles = {items[r[8:]].get("title") for r in read if r.startswith("exposir:") and r[8:] in items}
    pool = []
    for key in sorted(items):
        item = items[key]
        title = item.get("title") or ""
        if "exposir:" + key in read or item.get("url") in dev_urls or title in dev_titles or title in read_titles:
            continue
        text = labelsets.feed_item_text(item)
        if len(title) + len(text) >= 30:
            pool.append({"ref": "exposir:" + key, "title": title, "text": text,
                         "lang": detect_script(title + "\n" + text)[1]})
    return pool


def _exposir_full_pool(read: set[str], shared: Path) -> list[dict]:
    """Exposir items longer than what readers saw (TEXT_CHARS), whole, each headline once, not yet read whole."""
    pool, seen = [], set()
    for key, item in sorted(labelsets._feed_items(shared).items()):
        title = (item.get("title") or "").strip()
        text = labelsets.feed_item_text(item, labelsets.WHOLE_TEXT_CHARS)
        if "exposir-full:" + key in read or title in seen or len(text) <= labelsets.TEXT_CHARS:
            continue
        seen.add(title)
        pool.append({"ref": "exposir-full:" + key, "title": title, "text": text,
                     "lang": detect_script(title + "\n" + text)[1]})
    return pool


def _headline_pool(read: set[str], shared: Path) -> list[dict]:
    """Unread haoqi7 headlines, each headline once, none a reader has already seen under another id."""
    read_titles = set()
    for ref in read:
        try:
            read_titles.add(labelsets.resolve(ref, shared)[0])
        except (KeyError, ValueError, OSError):
            pass
    pool, seen = [], set()
    for platform in ("ithome", "thepaper", "sina"):
        for item_id, title in sorted(labelsets._headlines(shared, platform).items()):
            ref = f"haoqi7:{platform}:{item_id}"
            if ref in read or not title or title in read_titles or title in seen:
                continue
            seen.add(title)
            pool.append({"ref": ref, "title": title, "text": "", "lang": "zh-Hans"})
    return pool


def _aeb_pool(read: set[str], shared: Path) -> list[dict]:
    """The English news pages of scrapinghub's extraction benchmark, as readers see them (title, first characters)."""
    out = []
    for path in sorted((shared / "corpora/pages/scrapinghub-aeb/html").glob("*.html.gz")):
        ref = "page:" + str(path.relative_to(shared / "corpora"))
        if ref not in read:
            title, text = labelsets.resolve(ref, shared)
            out.append({"ref": ref, "title": title, "text": text, "lang": "en"})
    return out


def _fired_pool(read: set[str], shared: Path) -> list[dict]:
    """Unread exposir items and haoqi7 headlines together (a headline in both is kept once, as the exposir item)."""
    pool = _exposir_pool(read, shared)
    titles = {r["title"] for r in pool}
    return pool + [r for r in _headline_pool(read, shared) if r["title"] not in titles]


def draw(batch: int, shared: Path = labelsets.SHARED) -> list[list[dict]]:
    """The items of a batch, in the order readers got them (its parts, when it is split)."""
    spec = SPECS[batch]
    read = read_before(batch)
    pools = {"exposir": _exposir_pool, "exposir-full": _exposir_full_pool, "haoqi7": _headline_pool, "aeb": _aeb_pool,
             "fired": _fired_pool}
    pool = pools[spec.source](read, shared)
    if spec.source == "fired":
        fired = labelled_at(pool, spec.scored_at)
        named = [r["ref"] in fired for r in pool]
    else:
        words = re.compile(spec.words, re.I) if spec.words else None
        named = [not words or bool(words.search(r["title"] + " " + r["text"])) for r in pool]
    hits = [r for r, hit in zip(pool, named) if hit]
    rest = [r for r, hit in zip(pool, named) if not hit]
    rng = random.Random(spec.seed)
    if spec.mixed:
        sample = rng.sample(hits + rest, min(spec.candidates, len(hits) + len(rest)))
    else:
        chosen = hits if spec.candidates is None else rng.sample(hits, min(spec.candidates, len(hits)))
        sample = chosen + rng.sample(rest, min(spec.others, len(rest)))
        rng.shuffle(sample)
    size = max(1, -(-len(sample) // spec.parts))  # parts of equal size, the last one smaller
    return [sample[i:i + size] for i in range(0, len(sample), size)] or [[]]


def merge(batch: int, items: list[dict], first: list[dict], second: list[dict], labels: Path = labelsets.LABELS) -> dict:
    """Append two readers' labels of a batch (or of one part) to the readers' files and the agreed labels to
    extra_gold.jsonl; nothing is written when an item was merged before or a reader's file is incomplete."""
    merged = {r["ref"] for r in labelsets._jsonl(labels / "readers/reader_A.jsonl")}
    again = [item["ref"] for item in items if item["ref"] in merged]
    if again:
        raise ValueError(f"batch {batch}: {len(again)} items were merged before, e.g. {again[0]}")
    by_id = [{r["id"]: r for r in reader} for reader in (first, second)]
    for name, reader in zip("AB", (first, second)):
        unknown = {n for r in reader for n in r["narratives"]} - set(NARRATIVES)
        if unknown:
            raise ValueError(f"batch {batch}: reader {name} used unknown narratives {sorted(unknown)}")
        stray = {r["id"] for r in reader} - {item["id"] for item in items}
        if stray:
            raise ValueError(f"batch {batch}: reader {name} labelled ids that are not in the items: {sorted(stray)[:5]}")
    agree: collections.Counter = collections.Counter()
    rows_a, rows_b, gold = [], [], []
    for item in items:
        missing = [n for n, reader in zip("AB", by_id) if item["id"] not in reader]
        if missing:
            raise ValueError(f"batch {batch}: reader {' and '.join(missing)} gave no label for item {item['id']}")
        x, y = by_id[0][item["id"]], by_id[1][item["id"]]
        if not x["ref"] == y["ref"] == item["ref"]:
            raise ValueError(f"batch {batch}: item {item['id']} has refs {x['ref']!r}, {y['ref']!r}, {item['ref']!r}")
        for name in NARRATIVES:
            agree[name] += (name in x["narratives"]) == (name in y["narratives"])
        for reader, rows in ((x, rows_a), (y, rows_b)):
            rows.append({"ref": item["ref"], "batch": batch,
                         "narratives": sorted(reader["narratives"], key=NARRATIVES.index),
                         "main": reader.get("main", "none"), "note": reader.get("note", "")})
        gold.append({"ref": item["ref"], "lang": item["lang"],
                     "narratives": [n for n in NARRATIVES if n in x["narratives"] and n in y["narratives"]],
                     "disputed": [n for n in NARRATIVES if (n in x["narratives"]) != (n in y["narratives"])]})
    targets = (("readers/reader_A.jsonl", rows_a), ("readers/reader_B.jsonl", rows_b), ("extra_gold.jsonl", gold))
    for name, rows in targets:
        path = labels / name
        with path.open("a", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return {"items": len(items), "agreement": dict(agree),
            "positives": dict(collections.Counter(n for g in gold for n in g["narratives"])),
            "disputed": dict(collections.Counter(n for g in gold for n in g["disputed"]))}


def check(shared: Path = labelsets.SHARED) -> dict[int, bool]:
    """Whether each batch's draw, re-run now, gives the items its readers read."""
    recorded = collections.defaultdict(set)
    for r in labelsets._jsonl(labelsets.LABELS / "readers/reader_A.jsonl"):
        recorded[r.get("batch")].add(r["ref"])
    return {batch: {r["ref"] for part in draw(batch, shared) for r in part} == recorded[batch]
            for batch in SPECS if recorded[batch]}


_SCORE_LINE = re.compile(r"^(chinese_ai|chip_controls|ai_valuations)\s.*?\s(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def _run_at(commit: str, records: list[dict], command: str) -> str:
    """What a Python command prints under the code and rules of a commit (git archive, a fresh process)."""
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise ValueError(f"not a commit id: {commit!r}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        archive = subprocess.run(["git", "-C", str(labelsets.ROOT), "archive", commit, "src", "config"],
                                 capture_output=True)
        if archive.returncode:
            raise RuntimeError(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        labels = folder / "labels.jsonl"
        labels.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        # Run from the scratch folder: `python -c` puts the working directory first on sys.path, where a checkout's
        # own src/ would shadow the commit's.
        done = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, cwd=folder,
                              env={**os.environ, "PYTHONPATH": str(folder / "src"), "RECORDS": str(labels),
                                   "CONFIG": str(folder / "config")})
        if done.returncode:
            raise RuntimeError(f"the rules at {commit} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def score_at(records: list[dict], commit: str) -> dict[str, tuple[int, int, int]]:
    """(true positives, false labels, misses) per narrative of labelled records under the rules of a commit."""
    command = ("import os, sys; from mediamon.cli import app; sys.argv = ['mediamon', 'narratives', 'evaluate', "
               "'--labels', os.environ['RECORDS'], '--config', os.environ['CONFIG'], '--no-errors']; app()")
    return {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in _SCORE_LINE.finditer(_run_at(commit, records, command))}


def labelled_at(records: list[dict], commit: str) -> set[str]:
    """The references of records that the rules of a commit give any narrative."""
    command = ("import json, os; from pathlib import Path; from mediamon.analysis import load_analysis; "
               "from mediamon.normalize import to_simplified\n"
               "rules = load_analysis(Path(os.environ['CONFIG'])).rulebook\n"
               "for line in open(os.environ['RECORDS'], encoding='utf-8'):\n"
               "    r = json.loads(line)\n"
               "    if rules.label(rules.document(to_simplified(r['title']), to_simplified(r['text']))):\n"
               "        print(r['ref'])")
    return set(_run_at(commit, records, command).splitlines())


def heldout(shared: Path = labelsets.SHARED) -> str:
    """Each batch scored by the rules that had not seen it, and the batches pooled, as a table."""
    rows, pooled, items = [], {n: [0, 0, 0] for n in NARRATIVES}, 0
    labelled = labelsets.dev_records(shared) + labelsets.extra_records(shared)  # texts read once for all batches

    def cell(tp: int, fp: int, fn: int) -> str:
        """P / R (positives), or what is missing."""
        p = f"{tp / (tp + fp):.2f}" if tp + fp else "–"
        r = f"{tp / (tp + fn):.2f}" if tp + fn else "–"
        return f"{p} / {r} ({tp + fn})"

    for batch, spec in SPECS.items():
        if not spec.scored_at:
            continue
        refs = labelsets.batch_refs(batch)
        counts = score_at([r for r in labelled if r["id"] in refs], spec.scored_at)
        for name in NARRATIVES:
            pooled[name] = [a + b for a, b in zip(pooled[name], counts.get(name, (0, 0, 0)))]
        items += len(refs)
        rows.append(f"| {batch} @{spec.scored_at} | {len(refs)} | "
                    + " | ".join(cell(*counts.get(n, (0, 0, 0))) for n in NARRATIVES) + " |")
    header = "| batch @rules | items | " + " | ".join(NARRATIVES) + " |\n|---|---:|---|---|---|"
    total = f"| pooled | {items} | " + " | ".join(cell(*pooled[n]) for n in NARRATIVES) + " |"
    return "\n".join([header, *rows, total])


def _labels_any(rules, record: dict) -> bool:
    """Whether the rules give a record (title and text in any script) any narrative."""
    return bool(rules.label(rules.document(to_simplified(record["title"]), to_simplified(record["text"]))))


def unread(shared: Path = labelsets.SHARED, config: Path = labelsets.ROOT / "config") -> dict[str, tuple[int, int, list]]:
    """Per archive: unread items, those naming the words its batches were drawn by, the refs the rules label."""
    from mediamon.analysis import load_analysis

    read = read_before(max(SPECS) + 1)
    rules = load_analysis(config).rulebook
    out = {}
    for name, pool in (("exposir", _exposir_pool(read, shared)), ("haoqi7", _headline_pool(read, shared))):
        words = re.compile("|".join(sorted({s.words for s in SPECS.values() if s.source == name and s.words})), re.I)
        named = sum(bool(words.search(r["title"] + " " + r["text"])) for r in pool)
        out[name] = (len(pool), named, [r["ref"] for r in pool if _labels_any(rules, r)])
    return out


def main(argv: list[str] | None = None) -> None:
    """Draw a batch, merge its two readers, or check that every recorded batch re-draws the same."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("draw")
    d.add_argument("--batch", type=int, required=True, choices=sorted(SPECS))
    d.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("merge")
    m.add_argument("--batch", type=int, required=True)
    m.add_argument("--items", type=Path, required=True, help="the items both readers read (one part of a split batch)")
    m.add_argument("readers", type=Path, nargs=2, help="the first and the second reader's JSON lines")
    sub.add_parser("check")
    sub.add_parser("heldout", help="score each batch at the commit named in SPECS (needs git and ../shared)")
    sub.add_parser("unread", help="what is left to draw: unread items, those naming the batches' words, those the rules label")
    args = parser.parse_args(argv)
    if args.command == "draw":
        args.out.mkdir(parents=True, exist_ok=True)
        parts = draw(args.batch)
        names = ["items.jsonl"] if len(parts) == 1 else [f"part{i}.jsonl" for i in range(1, len(parts) + 1)]
        for name, part in zip(names, parts):
            (args.out / name).write_text("".join(json.dumps({"id": i, **r}, ensure_ascii=False) + "\n"
                                                 for i, r in enumerate(part, 1)), encoding="utf-8")
            print(f"{len(part)} items written to {args.out / name}")
    elif args.command == "merge":
        first, second = (labelsets._jsonl(path) for path in args.readers)
        print(json.dumps(merge(args.batch, labelsets._jsonl(args.items), first, second)))
    elif args.command == "heldout":
        print(heldout())
    elif args.command == "unread":
        for name, (items, named, labelled) in unread().items():
            print(f"{name}: {items:,} unread items, {named} naming its batches' words, {len(labelled)} labelled by "
                  f"the rules in config/" + "".join(f"\n  {ref}" for ref in labelled))
    else:
        for batch, same in check().items():
            print(f"batch {batch}: {'re-draws the same items' if same else 'DIFFERS from what its readers read'}")


if __name__ == "__main__":
    main()
