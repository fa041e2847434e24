"""Human ground truth for page extraction, kept as block numbers: a page's visible text cut into numbered blocks
(one per line after block elements), so readers mark which blocks are the article and the repository stores
only page paths and numbers. The pages stay in ../shared; this cut must stay stable for the stored numbers."""

from __future__ import annotations

import re

import lxml.html

from ..encoding import decode

BLOCK_TAGS = frozenset("p div br li h1 h2 h3 h4 h5 h6 tr td th dd dt blockquote pre section article figcaption "
                       "table ul ol header footer nav aside main figure form title".split())
_SPACE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


def page_blocks(body: bytes, charset: str | None = None) -> list[str]:
    """The visible text blocks of a page's raw bytes, in document order (empty blocks dropped)."""
    html, _ = decode(body, charset)
    root = lxml.html.fromstring(_XML_DECLARATION.sub("", html) or "<p></p>")
    for dropped in root.xpath("//script|//style|//noscript|//template|//head/*[not(self::title)]"):
        dropped.drop_tree()
    for element in root.iter():  # comments have no text() nodes of their own: text_content() skips them
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    lines = (_SPACE.sub(" ", line).strip() for line in root.text_content().split("\n"))
    return [line for line in lines if line]


def article_text(body: bytes, block_numbers: list[int], charset: str | None = None) -> str:
    """The ground-truth text of a page: its blocks with these numbers, one per line."""
    blocks = page_blocks(body, charset)
    return "\n".join(blocks[n] for n in block_numbers)
