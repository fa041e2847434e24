"""The stateful half of stories: signatures, band keys and links stored, and the stories they form, kept up to
date batch by batch (stories.py holds the pure half: shingles, MinHash, credits, grouping)."""

from __future__ import annotations

from datetime import timedelta
from typing import Sequence

import pyarrow as pa

from ..config import StorySettings
from ..stories import Member, band_keys, credited_origin, group_stories, signature, similarity
from ..weeks import effective_at
from .connection import Database, rows_as_dicts, statements


def _sql(name: str) -> str:
    """A named statement of sql/stories.sql."""
    return statements("stories.sql")[name]


def assign(con, rows: Sequence[dict], params: StorySettings) -> int:
    """Sign, link and group rows just inserted (and not yet in a story), touching only the stories they join.

    Returns the number of links made.
    """
    if not rows:
        return 0
    fresh = {r["article_id"] for r in rows}
    signed = [r for r in rows if r["duplicate_of"] is None and r.get("signature")]
    at = {r["article_id"]: effective_at(r["published_at"], r["first_seen_at"]) for r in rows}
    links: list[tuple[str, str, float, str]] = [(r["article_id"], r["duplicate_of"], 1.0, "exact")
                                                for r in rows if r["duplicate_of"]]
    if signed:
        links += _near_links(con, signed, at, params)
    if links:
        con.register("links", pa.table({"article_id": [l[0] for l in links], "linked_id": [l[1] for l in links],
                                        "similarity": [l[2] for l in links], "kind": [l[3] for l in links]}))
        con.execute(_sql("insert_links"))
        con.unregister("links")
    # Only the stories the new rows join are regrouped: cost depends on the batch, not the warehouse.
    touched = sorted({l[1] for l in links} - fresh)
    existing: list[tuple[str, str]] = []
    if touched:
        con.register("touched", pa.table({"article_id": touched}))
        existing = con.execute(_sql("touched_stories")).fetchall()
        con.unregister("touched")
    members = {r["article_id"]: Member(r["article_id"], at[r["article_id"]], r["word_count"]) for r in rows}
    if existing:
        con.register("old", pa.table({"article_id": [e[0] for e in existing]}))
        for aid, published, first_seen, words in con.execute(_sql("members")).fetchall():
            members[aid] = Member(aid, effective_at(published, first_seen), words)
        con.unregister("old")
    assignment = group_stories(members, [(l[0], l[1]) for l in links] + existing, members)
    previous = dict(existing)
    changed = {a: s for a, s in assignment.items() if a in previous and previous[a] != s}
    if changed:  # only stories that merged are rewritten; new articles are simply appended
        con.register("changed", pa.table({"article_id": list(changed), "story_id": list(changed.values())}))
        con.execute(_sql("update_stories"))
        con.unregister("changed")
    added = [a for a in assignment if a not in previous]
    con.register("assigned", pa.table({"article_id": added, "story_id": [assignment[a] for a in added]}))
    con.execute(_sql("insert_stories"))
    con.unregister("assigned")
    return len(links)


def _near_links(con, signed: list[dict], at: dict, params: StorySettings) -> list[tuple[str, str, float, str]]:
    """Store the signed rows' signatures and band keys; return their links to near-copies within the window."""
    utc = pa.timestamp("us", tz="UTC")
    con.register("sigs", pa.table({
        "article_id": [r["article_id"] for r in signed],
        "effective_at": pa.array([at[r["article_id"]] for r in signed], utc),
        "params": [params.key()] * len(signed),
        "signature": pa.array([r["signature"] for r in signed], pa.binary()),
    }))
    con.execute(_sql("insert_signatures"))
    con.unregister("sigs")
    bands = [(b, key, r["article_id"], at[r["article_id"]]) for r in signed for b, key in enumerate(band_keys(r["signature"], params))]
    con.register("new_bands", pa.table({
        "band": pa.array([x[0] for x in bands], pa.int16()), "band_key": pa.array([x[1] for x in bands], pa.int64()),
        "article_id": [x[2] for x in bands], "effective_at": pa.array([x[3] for x in bands], utc),
    }))
    con.execute(_sql("insert_bands"))
    window = timedelta(days=params.window_days)
    times = [at[r["article_id"]] for r in signed]
    low, high = min(times) - window, max(times) + window
    pairs = con.execute(_sql("candidate_pairs"), [low, high, window.total_seconds()]).fetchall()
    con.unregister("new_bands")
    new_sigs = {r["article_id"]: r["signature"] for r in signed}
    others = sorted({b for _, b in pairs} - new_sigs.keys())
    stored = {}
    if others:
        con.register("wanted", pa.table({"article_id": others}))
        stored = dict(con.execute(_sql("stored_signatures"), [low, high]).fetchall())
        con.unregister("wanted")
    links, seen = [], set()
    for a, b in pairs:
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        sim = similarity(new_sigs[a], new_sigs.get(b) or stored[b])
        if sim >= params.threshold:
            later, earlier = (a, b) if b not in new_sigs or (at[a], a) > (at[b], b) else (b, a)
            links.append((later, earlier, sim, "near"))
    return links


class StoryStore:
    """Regrouping every story from scratch, after the story settings change."""

    def __init__(self, db: Database, story_settings: StorySettings):
        """Write through `db`; group with `story_settings`."""
        self.db = db
        self.story_settings = story_settings

    def rebuild(self, batch: int = 2000) -> dict[str, int]:
        """Re-sign every article and regroup all stories, in one transaction; return counts."""
        with self.db.transaction() as con:
            for name in ("clear_links", "clear_bands", "clear_signatures", "clear_stories", "forget_measures"):
                con.execute(_sql(name))
            order = [r[0] for r in con.execute(_sql("articles_in_time_order")).fetchall()]
            links = 0
            for start in range(0, len(order), batch):
                con.register("chunk", pa.table({"article_id": order[start:start + batch]}))
                rows = rows_as_dicts(con.execute(_sql("chunk")))
                con.unregister("chunk")
                for r in rows:
                    r["signature"] = signature(r["text_simplified"] or "", self.story_settings) if not r["duplicate_of"] else None
                    r["credited_origin"] = credited_origin(r["text"])
                con.register("credits", pa.table({"article_id": [r["article_id"] for r in rows],
                                                  "credited_origin": [r["credited_origin"] for r in rows]}))
                con.execute(_sql("update_credits"))
                con.unregister("credits")
                links += assign(con, rows, self.story_settings)
            story_count = con.execute(_sql("story_count")).fetchone()[0]
        return {"articles": len(order), "links": links, "stories": story_count}
