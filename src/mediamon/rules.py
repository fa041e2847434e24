"""Boolean rules over an article's sentences: the query language of config/narratives.yaml.

The syntax is the one media-monitoring analysts write in Factiva, LexisNexis, Meltwater or Brandwatch:

    DeepSeek OR "large model"           a term, or a quoted phrase; any case; traditional text matches too
    chip*                               a prefix (Latin script; Chinese terms always match inside words)
    CAPS(US)                            case-sensitive (so "US" is not "us")
    a AND b, a OR b, NOT a, a NOT b     Boolean logic; AND binds tighter than OR
    a NEAR/8 b                          at most 8 words apart in one paragraph (two Chinese characters count as a word)
    a NEAR/s b, a NEAR/p b              in the same sentence, in the same paragraph
    title:(q)  lead:(q)  hlp:(q)        in the headline, the lead (first three sentences), or either
    body:(q)                            in the text, not the headline
    ATLEAST3(q)                         q matches in at least 3 sentences (one sentence of a long text is a mention)
    ATLEAST10%(q)                       q matches in at least 10% of the sentences (and at least one)
    @name                               a named concept: a term list or a query defined once in `concepts:`

Adjacent terms without an operator are an error (quote a phrase, or join with AND / OR). Every match
records the words that made it, so a label can always say why it was given. No I/O here.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Iterable, TypeVar

import ahocorasick
import pyparsing as pp

from .normalize import HAN, HAN_CHARS

T = TypeVar("T")

pp.ParserElement.enable_packrat()

_WORDISH = re.compile(f"[a-z0-9]+|[{HAN_CHARS}]", re.I)
# Sentence ends: Chinese full stops, ! ? ; and Latin . ! ? before a space. Lines are paragraphs.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?])|(?<=[.!?][\"'”’)])\s+|(?<=[.!?])\s+(?=[\"“‘(A-Z0-9\u3400-\u9fff])")
LEAD_SENTENCES = 3    # the lead: the first three sentences of the text that read as sentences, not captions
LEAD_MIN_CHARS = 8
PARAGRAPH_GAP = 100_000.0  # word positions skipped between paragraphs, more than NEAR/n can span (n < 10,000)
FIELDS = ("title", "lead", "hlp", "body")


class RuleError(ValueError):
    """A rule that cannot be read or used; the message says where in the query and why."""


# --- the syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """Any of these terms (a term, a phrase, a prefix*, or a concept's list)."""

    terms: tuple[str, ...]
    case_sensitive: bool = False
    name: str | None = None  # the concept it came from, if any


@dataclass(frozen=True)
class Ref:
    """@name: a concept, resolved when the rules are compiled."""

    name: str


@dataclass(frozen=True)
class And:
    """Every part matches."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Some part matches."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The part does not match."""

    part: Node


@dataclass(frozen=True)
class Near:
    """Both sides match close together: within `within` words, or in one sentence ('s') or paragraph ('p')."""

    left: Node
    right: Node
    within: int | str


@dataclass(frozen=True)
class Field:
    """The part matches inside one field of the article (title, lead, hlp, body)."""

    name: str
    part: Node


@dataclass(frozen=True)
class AtLeast:
    """The part matches in at least n sentences, or in n percent of them."""

    n: int
    part: Node
    percent: bool = False


Node = Terms | Ref | And | Or | Not | Near | Field | AtLeast


# --- parsing ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _grammar() -> pp.ParserElement:
    """The query grammar (built once)."""
    AND, OR, NOT = (pp.Keyword(k) for k in ("AND", "OR", "NOT"))
    NEAR = pp.Regex(r"NEAR/(\d{1,4}|s|p)\b")  # n < 10,000: see PARAGRAPH_GAP
    operator = AND | OR | NOT | NEAR
    lpar, rpar = pp.Suppress("("), pp.Suppress(")")
    query = pp.Forward()
    quoted = pp.QuotedString('"', unquote_results=True) | pp.QuotedString("“", end_quote_char="”")
    word = ~operator + pp.Regex(r"[^\s()\"“”@]+")
    term = (quoted | word).set_parse_action(lambda t: Terms((t[0],)))
    caps = (pp.Suppress(pp.Keyword("CAPS") + "(") + (quoted | word) + pp.Suppress(")")).set_parse_action(
        lambda t: Terms((t[0],), case_sensitive=True))
    ref = pp.Regex(r"@[A-Za-z_][A-Za-z0-9_]*").set_parse_action(lambda t: Ref(t[0][1:]))
    field_ = (pp.one_of(" ".join(FIELDS)) + pp.Suppress(":") + (lpar + query + rpar | ref | caps | term)).set_parse_action(
        lambda t: Field(t[0], t[1]))
    atleast = (pp.Regex(r"ATLEAST(\d+)%?") + lpar + query + rpar).set_parse_action(
        lambda t: AtLeast(int(t[0][7:].rstrip("%")), t[1], t[0].endswith("%")))
    operand = atleast | field_ | caps | ref | term | (lpar + query + rpar)

    def binary(make):
        """Fold `a op b op c` left to right."""
        def action(t):
            items = t[0]
            node = items[0]
            for i in range(1, len(items), 2):
                node = make(items[i], node, items[i + 1])
            return node
        return action

    def near(op, a, b):
        """NEAR/8, NEAR/s, NEAR/p."""
        kind = op.split("/")[1]
        return Near(a, b, int(kind) if kind.isdigit() else kind)

    implicit_and = pp.FollowedBy(NOT).set_parse_action(lambda: "AND")  # a NOT b = a AND NOT b
    query <<= pp.infix_notation(operand, [
        (NEAR, 2, pp.OpAssoc.LEFT, binary(near)),
        (NOT, 1, pp.OpAssoc.RIGHT, lambda t: Not(t[0][1])),
        (AND | implicit_and, 2, pp.OpAssoc.LEFT, binary(lambda op, a, b: And(_flat(And, a, b)))),
        (OR, 2, pp.OpAssoc.LEFT, binary(lambda op, a, b: Or(_flat(Or, a, b)))),
    ], lpar=lpar, rpar=rpar)
    return query


def _flat(kind, a, b) -> tuple:
    """Parts of a AND b (or a OR b) with nested ANDs (ORs) flattened."""
    return (*(a.parts if isinstance(a, kind) else (a,)), *(b.parts if isinstance(b, kind) else (b,)))


def parse(text: str) -> Node:
    """Parse one query; RuleError names the column and what was expected there."""
    if not text or not text.strip():
        raise RuleError("the query is empty")
    try:
        result = _grammar().parse_string(text, parse_all=True)
    except pp.ParseException as exc:
        found = text[exc.loc:exc.loc + 20] or "the end"
        hint = ""
        if exc.loc < len(text) and re.match(r"[^\s()]", text[exc.loc]) and exc.loc > 0:
            hint = " (two terms in a row: quote a phrase, or join them with AND / OR)"
        raise RuleError(f"cannot read the query at column {exc.loc + 1}, near {found!r}{hint}") from None
    except RecursionError:
        raise RuleError("the query nests too deeply") from None
    return result[0]


# --- documents --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """One sentence: where it sits and its text as rules see it (simplified script)."""

    text: str
    paragraph: int          # -1 for the headline
    in_title: bool
    in_lead: bool


HEADING_CHARS = 40  # a line this short with no sentence end is a subheading: it opens the paragraph after it
_ENDS_SENTENCE = re.compile(r"[。！？；.!?;:：…”\"）)]\s*$")


def _paragraphs(text: str) -> list[str]:
    """The text's paragraphs (its lines), each subheading joined to the paragraph it heads."""
    out, heading = [], ""
    for line in (line.strip() for line in text.split("\n")):
        if not line:
            continue
        if len(line) <= HEADING_CHARS and not _ENDS_SENTENCE.search(line):
            heading = f"{heading}\n{line}" if heading else line
            continue
        out.append(f"{heading}\n{line}" if heading else line)
        heading = ""
    return out + ([heading] if heading else [])


@dataclass
class Document:
    """An article as rules see it: the headline, then the text's sentences, with word positions for NEAR/n."""

    sentences: list[Sentence]
    joined: str = ""
    lower: str = ""
    starts: list[int] = field(default_factory=list)
    _word_starts: list[int] = field(default_factory=list)
    _word_pos: list[float] = field(default_factory=list)
    _word_end: list[float] = field(default_factory=list)  # the position just after each word
    _hits: dict[int, tuple[Terms, dict[int, tuple[Hit, ...]]]] = field(default_factory=dict)  # by node id
    # by (id, scope), and by ("sentences", id) for a sentence-local query's hits in each sentence
    _results: dict[tuple, tuple[Node, Any]] = field(default_factory=dict)
    _scopes: dict[str, frozenset[int]] = field(default_factory=dict)
    _folded: str | None = None
    index: PieceIndex | None = None  # the rulebook's literal pieces, to find which occur in one pass
    _present: dict[bool, set[str]] = field(default_factory=dict)
    _scans: dict[int, dict[int, tuple[Hit, ...]]] = field(default_factory=dict)  # by term list (_TermList.key)

    @classmethod
    def from_text(cls, title: str, text: str, index: PieceIndex | None = None) -> Document:
        """Split a simplified-script headline and text into sentences and paragraphs."""
        sentences = [Sentence(title.strip(), -1, True, False)] if title.strip() else []
        lead_left = LEAD_SENTENCES
        for p, paragraph in enumerate(_paragraphs(text)):
            for part in (piece for line in paragraph.split("\n") for piece in _SENTENCE_END.split(line)):
                part = (part or "").strip()
                if not part:
                    continue
                lead = lead_left > 0 and len(part) >= LEAD_MIN_CHARS
                lead_left -= lead
                sentences.append(Sentence(part, p, False, lead))
        doc = cls(sentences, index=index)
        doc.joined = "\n".join(s.text for s in sentences)
        # Offsets in `lower` must be offsets in `joined`: str.lower() keeps them except for İ (two characters
        # lower) and Σ (final sigma depends on context), where the text is lowered character by character.
        if "\u0130" in doc.joined or "\u03a3" in doc.joined:
            doc.lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in doc.joined)
        else:
            doc.lower = doc.joined.lower()
        offset = 0
        for s in sentences:
            doc.starts.append(offset)
            offset += len(s.text) + 1
        # A Latin word is one word, a Chinese character half of one (every Han character is at or above U+3400,
        # every letter or digit _WORDISH matches otherwise below it). NEAR/n stays within a paragraph: the
        # headline's last word and the first of a text that repeats it are not neighbours.
        doc._word_starts = [match.start() for match in _WORDISH.finditer(doc.lower)]
        lower = doc.lower
        breaks = [doc.starts[i] for i in range(1, len(sentences)) if sentences[i].paragraph != sentences[i - 1].paragraph]
        position, next_break = 0.0, 0
        for i in doc._word_starts:
            while next_break < len(breaks) and breaks[next_break] <= i:
                position, next_break = position + PARAGRAPH_GAP, next_break + 1
            doc._word_pos.append(position)
            position += 0.5 if lower[i] >= "\u3400" else 1.0
            doc._word_end.append(position)
        return doc

    def folded(self) -> str:
        """The lower-cased text with the few letters that match an ASCII letter case-insensitively made that
        letter (for the quick test of which terms can occur)."""
        if self._folded is None:
            self._folded = self.lower.translate(_FOLD)
        return self._folded

    def has_piece(self, piece: str, case_sensitive: bool) -> bool:
        """Does the text (folded, unless case-sensitive) contain a term's literal piece? The rulebook's pieces are
        all found in one pass per document; any other is looked for directly."""
        if not piece:
            return True
        if self.index is None or piece not in self.index.pieces[case_sensitive]:
            return piece in (self.joined if case_sensitive else self.folded())
        return piece in self.present(case_sensitive)

    def present(self, case_sensitive: bool) -> set[str]:
        """The rulebook's pieces of this case mode that occur in the text (needs `index`)."""
        found = self._present.get(case_sensitive)
        if found is None:
            text = self.joined if case_sensitive else self.folded()
            found = self._present[case_sensitive] = self.index.occurring(text, case_sensitive)
        return found

    def sentence_at(self, offset: int) -> int:
        """The index of the sentence holding a character offset."""
        return bisect.bisect_right(self.starts, offset) - 1

    def word_at(self, offset: int) -> float:
        """The word position of a character offset."""
        i = bisect.bisect_right(self._word_starts, offset) - 1
        return self._word_pos[i] if i >= 0 else 0.0

    def word_after(self, offset: int) -> float:
        """The position just after the word holding a character offset."""
        i = bisect.bisect_right(self._word_starts, offset) - 1
        return self._word_end[i] if i >= 0 else 0.0

    def units(self, kind: str, scope: frozenset[int]) -> list[frozenset[int]]:
        """The sentences of the scope grouped by sentence ('s') or paragraph ('p')."""
        if kind == "s":
            return [frozenset((i,)) for i in sorted(scope)]
        groups: dict[int, set[int]] = {}
        for i in scope:
            groups.setdefault(self.sentences[i].paragraph, set()).add(i)
        return [frozenset(g) for _, g in sorted(groups.items())]

    def field_scope(self, name: str) -> frozenset[int]:
        """The sentences of a field (made once per document: the same set object keeps its hash)."""
        if name not in self._scopes:
            pick: Callable[[Sentence], bool] = {
                "title": lambda s: s.in_title, "lead": lambda s: s.in_lead,
                "hlp": lambda s: s.in_title or s.in_lead, "body": lambda s: not s.in_title}[name]
            self._scopes[name] = frozenset(i for i, s in enumerate(self.sentences) if pick(s))
        return self._scopes[name]

    @property
    def everything(self) -> frozenset[int]:
        """Every sentence."""
        if "" not in self._scopes:
            self._scopes[""] = frozenset(range(len(self.sentences)))
        return self._scopes[""]


@dataclass(frozen=True)
class Hit:
    """Where a term matched: its sentence, word position, character span and the words themselves."""

    sentence: int
    word: float
    text: str
    start: int = 0
    end: int = 0
    word_end: float = 0.0   # the position just after its last word

    def gap(self, other: Hit) -> float:
        """Words between two hits (0 when they touch or overlap)."""
        return max(0.0, other.word - self.word_end, self.word - other.word_end)

    def overlaps(self, other: Hit) -> bool:
        """Whether two hits share characters (国产芯片 and 芯片 in one place are one mention, not two)."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Match:
    """Whether a query matched within a scope, and the hits that made it (none for a NOT)."""

    matched: bool
    hits: tuple[Hit, ...] = ()

    def sentences(self) -> set[int]:
        """The sentences with hits."""
        return {h.sentence for h in self.hits}


NO = Match(False)


# --- compiled queries -------------------------------------------------------------------------------


def _script_change(before: str, after: str) -> bool:
    """Whether two characters are an ASCII letter or digit and a Han character, in either order."""
    return (before.isascii() and before.isalnum() and bool(HAN.match(after))) or \
        (after.isascii() and after.isalnum() and bool(HAN.match(before)))


def _spaced_script_change(word: str) -> str:
    """A word's regex that also matches one space where ASCII letters or digits meet Han characters: Chinese pages
    often set one there (AI 芯片 for AI芯片)."""
    parts = [re.escape(c).replace(r"\?", "[a-z0-9]") for c in word]
    out = parts[:1]
    for before, after, part in zip(word, word[1:], parts[1:]):
        if _script_change(before, after):
            out.append("[ \t]?")
        out.append(part)
    return "".join(out)


def _term_pattern(term: str) -> str:
    """The regex of one term: Chinese as a substring, Latin words whole (a trailing * makes a prefix, ? one letter)."""
    prefix = term.endswith("*") and len(term) > 1
    core = term[:-1] if prefix else term
    split = core.split()
    body = _spaced_script_change(split[0]) if split else re.escape(core)
    for before, word in zip(split, split[1:]):  # one space between Latin and Han may also be absent (AI 芯片, AI芯片)
        gap = r"[ \t]?" if _script_change(before[-1], word[0]) else r"[ \t\-]+"
        body += gap + _spaced_script_change(word)
    left = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", core, re.I) else ""
    if prefix and not HAN.search(core[-1]):
        right = r"[a-z0-9\-]*"
    else:
        right = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", core, re.I) else ""
    return left + body + right


@lru_cache(maxsize=16384)
def _pattern(terms: tuple[str, ...], case_sensitive: bool) -> re.Pattern[str]:
    """One alternation for a term list, longest first (so a phrase wins over its first word)."""
    ordered = sorted(terms, key=len, reverse=True)
    return re.compile("|".join(_term_pattern(t) for t in ordered), 0 if case_sensitive else re.I)


# Letters that case-insensitive matching equates with an ASCII letter although lower() keeps them apart.
_FOLD = str.maketrans({"ſ": "s", "\u212a": "k", "\u0130": "i", "\u0131": "i"})


# Where a term's literal pieces end: spaces, wildcards, and where ASCII letters or digits meet Han (a space may sit there).
_ANCHOR_SPLIT = re.compile(rf"[\s\-?*]+|(?<=[a-zA-Z0-9])(?=[{HAN_CHARS}])|(?<=[{HAN_CHARS}])(?=[a-zA-Z0-9])")


@lru_cache(maxsize=4096)
def _anchors(terms: tuple[str, ...], case_sensitive: bool) -> tuple[str, ...]:
    """For each term, the longest literal piece every match of it contains (so a text without any of them has
    no match)."""
    pieces = []
    for term in terms:
        folded = term if case_sensitive else term.lower().translate(_FOLD)
        # split where Latin meets Han too: the text may set a space there (AI 芯片)
        literal = max(_ANCHOR_SPLIT.split(folded), key=len)
        # Beyond ASCII and Han, case-insensitive matching knows more equivalences than lower() (Greek final
        # sigma, Turkish dotted I): such a term is always scanned for.
        pieces.append(literal if case_sensitive or all(c.isascii() or HAN.match(c) for c in literal) else "")
    return tuple(pieces)


def _recall(cache: dict, key: object, node: Node):
    """What `cache` keeps under `key` for this very node, or None. Entries are (node, value) and keyed by the
    node's id: hashing a frozen tree on every lookup is dear, and keeping the node means its id cannot be reused."""
    kept = cache.get(key)
    return kept[1] if kept is not None and kept[0] is node else None


def _by_identity(compute: Callable[[Node], T]) -> Callable[[Node], T]:
    """Memoise a property of a node by its identity: an lru_cache would hash the whole tree (frozen dataclasses
    do not keep their hash) on every call, which cost more than the property itself."""
    memo: dict[int, tuple[Node, T]] = {}

    def cached(node: Node) -> T:
        """The property, computed once per node object."""
        value = _recall(memo, id(node), node)
        if value is None:
            value = compute(node)
            memo[id(node)] = (node, value)
        return value

    return cached


@dataclass(frozen=True, slots=True)
class _TermList:
    """What scanning a term list needs, worked out once per node: a small key shared by equal lists (hashing the
    terms on every lookup was dear), each term's literal piece, and those pieces as a set."""

    key: int
    case_sensitive: bool
    anchors: tuple[str, ...]
    pieces: frozenset[str]
    always: bool  # a term without a literal piece: scanned for whatever the text holds


_TERM_LIST_KEYS: dict[tuple[tuple[str, ...], bool], int] = {}


@_by_identity
def _term_list(node: Terms) -> _TermList:
    """The scanning facts of a term list (see _TermList), once per node."""
    key = _TERM_LIST_KEYS.setdefault((node.terms, node.case_sensitive), len(_TERM_LIST_KEYS))
    anchors = _anchors(node.terms, node.case_sensitive)
    return _TermList(key, node.case_sensitive, anchors, frozenset(p for p in anchors if p), "" in anchors)


class PieceIndex:
    """The literal pieces of a rulebook's term lists (`_anchors`) in an Aho-Corasick automaton per case mode
    (pyahocorasick): one pass over a document tells which occur, where a substring test per term took a pass
    per term. Built where it is first used, and not pickled (each process builds its own)."""

    def __init__(self, roots: Iterable[Node]):
        """Collect the pieces of every term list under these query roots."""
        pieces: dict[bool, set[str]] = {False: set(), True: set()}
        stack, seen = list(roots), set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, Terms):
                pieces[node.case_sensitive].update(p for p in _anchors(node.terms, node.case_sensitive) if p)
            stack.extend(_children(node))
        self.pieces = {mode: frozenset(found) for mode, found in pieces.items()}
        self._automata: dict[bool, ahocorasick.Automaton | None] = {}
        self._covers: dict[int, bool] = {}

    def __getstate__(self) -> dict:
        """Pickle the pieces only: the automata (and the per-process term list keys) are rebuilt on first use."""
        return {"pieces": self.pieces, "_automata": {}, "_covers": {}}

    def covers(self, terms: _TermList) -> bool:
        """Are all of a term list's pieces in the index (so that none occurring is known from one set test)?"""
        covered = self._covers.get(terms.key)
        if covered is None:
            covered = self._covers[terms.key] = not terms.always and terms.pieces <= self.pieces[terms.case_sensitive]
        return covered

    def occurring(self, text: str, case_sensitive: bool) -> set[str]:
        """The pieces of this mode that occur in the text."""
        if case_sensitive not in self._automata:
            automaton = None
            if self.pieces[case_sensitive]:
                automaton = ahocorasick.Automaton()
                for piece in self.pieces[case_sensitive]:
                    automaton.add_word(piece, piece)
                automaton.make_automaton()
            self._automata[case_sensitive] = automaton
        automaton = self._automata[case_sensitive]
        return {piece for _, piece in automaton.iter(text)} if automaton is not None else set()


def _near_hits(left: tuple[Hit, ...], right: tuple[Hit, ...], within: int | str) -> tuple[Hit, ...]:
    """The hits of a NEAR whose sides have these hits in one scope (none when it does not match): NEAR/n pairs
    within n words; NEAR/s and NEAR/p, asked of one sentence or paragraph, any two hits that do not overlap."""
    if isinstance(within, int):
        return tuple({h: None for x in left for y in right if x.gap(y) <= within and not x.overlaps(y) for h in (x, y)})
    return left + right if any(not x.overlaps(y) for x in left for y in right) else ()


class Compiled:
    """A parsed query with its concepts resolved and its term lists compiled to regexes."""

    def __init__(self, root: Node, source: str):
        """Keep the tree and the query as written."""
        self.root = root
        self.source = source

    @staticmethod
    def _hits_by_sentence(node: Terms, doc: Document) -> dict[int, tuple[Hit, ...]]:
        """Every hit of a term list in the document, by sentence (cached per document and term list, so rules that
        share a concept scan the text for it once)."""
        cached = _recall(doc._hits, id(node), node)  # by node first, then by its terms (equal lists scan once)
        if cached is not None:
            return cached
        terms = _term_list(node)
        found = doc._scans.get(terms.key)
        if found is None:
            found = doc._scans[terms.key] = Compiled._scan(node, terms, doc)
        doc._hits[id(node)] = (node, found)
        return found

    @staticmethod
    def _scan(node: Terms, terms: _TermList, doc: Document) -> dict[int, tuple[Hit, ...]]:
        """Scan the text for a term list: its hits by sentence."""
        # A term whose literal piece is not in the text cannot match: the regex scans for the others only (the
        # same matches as the whole list's, as an absent term never wins), and none when none is left; most lists
        # have no piece in a given text, which one set test against the rulebook's index tells.
        if doc.index is not None and doc.index.covers(terms) and terms.pieces.isdisjoint(doc.present(terms.case_sensitive)):
            return {}
        present = tuple(t for t, piece in zip(node.terms, terms.anchors) if doc.has_piece(piece, terms.case_sensitive))
        if not present:
            return {}
        haystack = doc.joined if terms.case_sensitive else doc.lower
        found: dict[int, list[Hit]] = {}
        for m in _pattern(present, terms.case_sensitive).finditer(haystack):
            if m.end() > m.start():
                hit = Hit(doc.sentence_at(m.start()), doc.word_at(m.start()), doc.joined[m.start():m.end()],
                          m.start(), m.end(), doc.word_after(m.end() - 1))
                found.setdefault(hit.sentence, []).append(hit)
        return {i: tuple(h) for i, h in found.items()}

    def evaluate(self, doc: Document, scope: frozenset[int] | None = None) -> Match:
        """Does the query match the document (or the sentences of `scope`)?"""
        return self._eval(self.root, doc, doc.everything if scope is None else scope)

    def _eval(self, node: Node, doc: Document, scope: frozenset[int]) -> Match:
        """Evaluate one node within a set of sentences, once per document (interned nodes are shared by rules)."""
        if len(scope) == 1 and _sentence_local(node):  # one sentence: the sentence-local answer
            hits = self._per_sentence(node, doc).get(next(iter(scope)))
            return Match(True, hits) if hits else NO
        if _sentencewise(node) and not isinstance(node, Or):  # over any scope, its sentences' own matches (an
            # OR is walked, so its hits stay part by part, the order NEAR/n's pairing and matched words follow)
            per_sentence = self._per_sentence(node, doc)
            hits = tuple(h for i in sorted(per_sentence) if i in scope for h in per_sentence[i])
            return Match(True, hits) if hits else NO
        key = (id(node), scope)
        cached = _recall(doc._results, key, node)
        if cached is not None:
            return cached
        result = self._eval_node(node, doc, scope)
        doc._results[key] = (node, result)
        return result

    def _eval_node(self, node: Node, doc: Document, scope: frozenset[int]) -> Match:
        """Evaluate one node within a set of sentences."""
        if not scope:
            return NO if not isinstance(node, Not) else Match(True)
        if isinstance(node, Terms):
            by_sentence = self._hits_by_sentence(node, doc)
            if not by_sentence:
                return NO
            if len(scope) < len(by_sentence):
                hits = tuple(h for i in sorted(scope) if i in by_sentence for h in by_sentence[i])
            else:
                hits = tuple(h for i in sorted(by_sentence) if i in scope for h in by_sentence[i])
            return Match(bool(hits), hits)
        if isinstance(node, And):
            results = []
            for part in node.parts:
                r = self._eval(part, doc, scope)
                if not r.matched:
                    return NO
                results.append(r)
            return Match(True, tuple(h for r in results for h in r.hits))
        if isinstance(node, Or):
            results = [r for r in (self._eval(p, doc, scope) for p in node.parts) if r.matched]
            return Match(bool(results), tuple(h for r in results for h in r.hits))
        if isinstance(node, Not):
            return Match(not self._eval(node.part, doc, scope).matched)
        if isinstance(node, Field):
            return self._eval(node.part, doc, scope & doc.field_scope(node.name))
        if isinstance(node, AtLeast):
            needed = max(1, math.ceil(node.n * len(scope) / 100)) if node.percent else node.n
            if _sentence_local(node.part):  # each sentence's hits are known for the whole document at once
                per_sentence = self._per_sentence(node.part, doc)
                found = [per_sentence[i] for i in sorted(scope) if i in per_sentence]
                return Match(True, tuple(h for hits in found for h in hits)) if len(found) >= needed else NO
            candidates = doc.units("s", scope)
            if _monotone(node.part):  # only sentences with hits over the whole scope can match on their own
                whole = self._eval(node.part, doc, scope)
                candidates = [frozenset((i,)) for i in sorted(whole.sentences())] if whole.matched else []
            matched = [r for unit in candidates if (r := self._eval(node.part, doc, unit)).matched]
            if len(matched) < needed:
                return NO
            return Match(True, tuple(h for r in matched for h in r.hits))
        if isinstance(node, Near):
            return self._near(node, doc, scope)
        raise TypeError(f"unresolved node {node!r}")

    def _per_sentence(self, node: Node, doc: Document) -> dict[int, tuple[Hit, ...]]:
        """A sentence-local query's hits in each sentence it matches on its own, for the whole document at once
        (what _eval_node gives for each one-sentence scope, in the same order, without a walk per sentence)."""
        key = ("sentences", id(node))
        cached = _recall(doc._results, key, node)
        if cached is not None:
            return cached
        if isinstance(node, Terms):
            out = self._hits_by_sentence(node, doc)
        elif isinstance(node, AtLeast):  # ATLEAST1: on one sentence, its part
            out = self._per_sentence(node.part, doc)
        elif isinstance(node, Or):
            out = {}
            for part in node.parts:
                for i, hits in self._per_sentence(part, doc).items():
                    out[i] = out.get(i, ()) + hits
        elif isinstance(node, And):
            parts = [self._per_sentence(p, doc) for p in node.parts if not isinstance(p, Not)]
            excluded = [self._per_sentence(p.part, doc) for p in node.parts if isinstance(p, Not)]
            kept = set(parts[0]).intersection(*parts[1:]).difference(*excluded)
            out = {i: tuple(h for d in parts for h in d[i]) for i in sorted(kept)}
        else:  # Near: both sides in the sentence, as _near asks of a one-sentence scope
            left, right = self._per_sentence(node.left, doc), self._per_sentence(node.right, doc)
            out = {}
            for i in sorted(left.keys() & right.keys()):
                if hits := _near_hits(left[i], right[i], node.within):
                    out[i] = hits
        doc._results[key] = (node, out)
        return out

    def _near(self, node: Near, doc: Document, scope: frozenset[int]) -> Match:
        """NEAR/n by word distance; NEAR/s and NEAR/p within each sentence or paragraph."""
        left, right = self._eval(node.left, doc, scope), self._eval(node.right, doc, scope)
        if not (left.matched and right.matched):
            return NO
        if isinstance(node.within, int):
            hits = _near_hits(left.hits, right.hits, node.within)
            return Match(bool(hits), hits)
        # Only the units where both sides have hits can match (a side is never only a NOT: _validate).
        left_sentences, right_sentences = left.sentences() & scope, right.sentences() & scope
        if node.within == "s":
            units = [frozenset((i,)) for i in sorted(left_sentences & right_sentences)]
        else:
            units = [u for u in doc.units("p", scope) if u & left_sentences and u & right_sentences]
        found: list[Hit] = []
        for unit in units:
            a, b = self._eval(node.left, doc, unit), self._eval(node.right, doc, unit)
            if a.matched and b.matched:
                found.extend(_near_hits(a.hits, b.hits, node.within))
        return Match(bool(found), tuple(found))


def _children(node: Node) -> tuple[Node, ...]:
    """The nodes a node is made of (none for a term list)."""
    if isinstance(node, (And, Or)):
        return node.parts
    if isinstance(node, Near):
        return node.left, node.right
    if isinstance(node, (Not, Field, AtLeast)):
        return (node.part,)
    return ()


@_by_identity
def _sentence_local(node: Node) -> bool:
    """Terms joined by AND, OR and NEAR, AND NOT of such, and ATLEAST1 of such: on one sentence such a query
    matches exactly where it has hits (a negated part only removes sentences)."""
    if isinstance(node, AtLeast):
        return node.n == 1 and not node.percent and _sentence_local(node.part)
    if isinstance(node, And):
        return (any(not isinstance(p, Not) for p in node.parts)
                and all(_sentence_local(p.part if isinstance(p, Not) else p) for p in node.parts))
    return isinstance(node, (Terms, Or, Near)) and all(_sentence_local(p) for p in _children(node))


@_by_identity
def _sentencewise(node: Node) -> bool:
    """Terms, OR, same-sentence NEAR of such, and ATLEAST1 of a sentence-local query: over any scope such a query
    matches in the sentences where it matches alone (an AND, NOT or a wider NEAR can join or part sentences, so
    they are walked)."""
    if isinstance(node, AtLeast):  # ATLEAST1 asks each sentence alone, whatever its part
        return node.n == 1 and not node.percent and _sentence_local(node.part)
    if isinstance(node, Near):
        return node.within == "s" and _sentencewise(node.left) and _sentencewise(node.right)
    return isinstance(node, (Terms, Or)) and all(_sentencewise(p) for p in _children(node))


@_by_identity
def _monotone(node: Node) -> bool:
    """True when the query has no NOT: a match in a sentence is then also a hit over any scope holding it."""
    return not isinstance(node, Not) and all(_monotone(p) for p in _children(node))


def fields_in(node: Node) -> set[str]:
    """The field scopes (title, lead, hlp, body) a query uses anywhere in its tree."""
    return ({node.name} if isinstance(node, Field) else set()).union(*map(fields_in, _children(node)))


def _yields_words(node: Node) -> bool:
    """Whether every match of the query comes with words (a bare NOT, or an OR with one, can match on none)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_yields_words(p) for p in node.parts)
    if isinstance(node, Or):
        return all(_yields_words(p) for p in node.parts)
    if isinstance(node, (Field, AtLeast)):
        return _yields_words(node.part)
    return True


def _validate(node: Node) -> None:
    """Refuse queries that cannot mean anything: a NEAR side that can match without words, NEAR/0, ATLEAST0,
    empty terms."""
    if isinstance(node, Terms):
        if any(not t.strip(" *") for t in node.terms):
            raise RuleError("a term is empty")
    elif isinstance(node, (And, Or)):
        for part in node.parts:
            _validate(part)
    elif isinstance(node, Near):
        if isinstance(node.within, int) and node.within < 1:
            raise RuleError("NEAR/n needs n of at least 1")
        if not (_yields_words(node.left) and _yields_words(node.right)):
            raise RuleError("each side of NEAR needs words to be near: a side that is only NOT … cannot be "
                            "(write (a NOT b) NEAR/s c, or put the NOT outside the NEAR)")
        _validate(node.left)
        _validate(node.right)
    elif isinstance(node, (Not, Field, AtLeast)):
        if isinstance(node, AtLeast) and node.n < 1:
            raise RuleError("ATLEASTn needs n of at least 1")
        _validate(node.part)


def _resolve(node: Node, concepts: dict[str, Node], seen: tuple[str, ...] = ()) -> Node:
    """Replace every @name by its concept's tree; unknown or circular names are errors."""
    if isinstance(node, Ref):
        if node.name in seen:
            raise RuleError(f"@{node.name} refers to itself ({' -> '.join('@' + s for s in (*seen, node.name))})")
        if node.name not in concepts:
            raise RuleError(f"unknown concept @{node.name} (define it under `concepts:`)")
        return _resolve(concepts[node.name], concepts, (*seen, node.name))
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_resolve(p, concepts, seen) for p in node.parts))
    if isinstance(node, Not):
        return Not(_resolve(node.part, concepts, seen))
    if isinstance(node, Near):
        return Near(_resolve(node.left, concepts, seen), _resolve(node.right, concepts, seen), node.within)
    if isinstance(node, Field):
        return Field(node.name, _resolve(node.part, concepts, seen))
    if isinstance(node, AtLeast):
        return AtLeast(node.n, _resolve(node.part, concepts, seen), node.percent)
    return node


def _normalise_terms(node: Node, simplify: Callable[[str], str]) -> Node:
    """Terms as the documents hold them: simplified script and mainland words, and the term as written too (a
    traditional term in a rule still matches; 晶片 still matches copies stored before Taiwan's words were converted)."""
    if isinstance(node, Terms):
        both = dict.fromkeys(form for t in node.terms for form in (simplify(t), t))
        return Terms(tuple(both), node.case_sensitive, node.name)
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_normalise_terms(p, simplify) for p in node.parts))
    if isinstance(node, Not):
        return Not(_normalise_terms(node.part, simplify))
    if isinstance(node, Near):
        return Near(_normalise_terms(node.left, simplify), _normalise_terms(node.right, simplify), node.within)
    if isinstance(node, Field):
        return Field(node.name, _normalise_terms(node.part, simplify))
    if isinstance(node, AtLeast):
        return AtLeast(node.n, _normalise_terms(node.part, simplify), node.percent)
    return node


def concept_node(name: str, value: str | Iterable[str]) -> Node:
    """A concept from configuration: a list of terms (any of them; CAPS(x) for case-sensitive ones), or a query."""
    if isinstance(value, str):
        return parse(value)
    terms = [str(t).strip() for t in value]
    if not terms or any(not t for t in terms):
        raise RuleError("a term list needs at least one non-empty term")
    caps = tuple(t[5:-1] for t in terms if t.startswith("CAPS(") and t.endswith(")"))
    plain = Terms(tuple(t for t in terms if not (t.startswith("CAPS(") and t.endswith(")"))), name=name)
    if not caps:
        return plain
    return Or((plain, Terms(caps, case_sensitive=True, name=name))) if plain.terms else Terms(caps, True, name)


def _intern(node: Node, table: dict[Node, Node]) -> Node:
    """The tree with every subtree replaced by the one equal subtree in `table` (added if new): rules that share
    a concept then share its nodes, and a document evaluates each (node, scope) once."""
    if isinstance(node, (And, Or)):
        node = type(node)(tuple(_intern(p, table) for p in node.parts))
    elif isinstance(node, Not):
        node = Not(_intern(node.part, table))
    elif isinstance(node, Near):
        node = Near(_intern(node.left, table), _intern(node.right, table), node.within)
    elif isinstance(node, (Field, AtLeast)):
        node = replace(node, part=_intern(node.part, table))
    return table.setdefault(node, node)


def _sentence_not(node: Node) -> Node:
    """A mention's AND NOT made to drop the sentence, not the article: each such AND becomes ATLEAST1 of it, so
    a rare-earths sentence elsewhere no longer hides an export-control sentence (ATLEAST parts are already
    asked sentence by sentence). An AND NOT whose parts cannot match within one sentence is refused."""
    if isinstance(node, And):
        if any(isinstance(p, Not) for p in node.parts):
            if not _sentence_local(node):
                raise RuleError("a mention is one sentence's query: an AND NOT in it needs parts that can match "
                                "in one sentence (no ATLEAST2 or ATLEAST%); put the wider test in a rule")
            return AtLeast(1, node)
        return And(tuple(_sentence_not(p) for p in node.parts))
    if isinstance(node, Or):
        return Or(tuple(_sentence_not(p) for p in node.parts))
    if isinstance(node, Near):  # a side may be (a NOT b)
        return Near(_sentence_not(node.left), _sentence_not(node.right), node.within)
    return node  # terms, ATLEAST (asked sentence by sentence); a mention has no fields


def compile_query(text: str, concepts: dict[str, Node], simplify: Callable[[str], str] = lambda s: s,
                  interned: dict[Node, Node] | None = None, mention: bool = False) -> Compiled:
    """Parse, resolve and check one query; RuleError says what is wrong. Queries compiled with one `interned`
    table share their equal subtrees. A `mention` is one sentence's query: its NOT drops sentences."""
    root = _normalise_terms(_resolve(parse(text), concepts), simplify)
    if mention:
        root = _sentence_not(root)
    _validate(root)
    return Compiled(_intern(root, {} if interned is None else interned), text)


def matched_words(match: Match, doc: Document, limit: int = 8) -> tuple[str, ...]:
    """The words behind a match as 'where: words', e.g. 'title: DeepSeek', 's4: 出口管制 + 英伟达'."""
    by_sentence: dict[int, list[str]] = {}
    for h in match.hits:
        words = by_sentence.setdefault(h.sentence, [])
        if h.text not in words:
            words.append(h.text)
    out = []
    for i in sorted(by_sentence):
        s = doc.sentences[i]
        where = "title" if s.in_title else ("lead" if s.in_lead else f"s{i}")
        out.append(f"{where}: {' + '.join(by_sentence[i][:4])}")
    return tuple(out[:limit])
