"""A product description's HTML (Shopify's `Body (HTML)`, a Merchant feed's `description`)
as the plain text the writer trains on.

Block elements (paragraphs, headings, divs, table rows) end a line, `<br>` breaks one, and each
list item becomes its own line starting "- ", the way the demo catalog writes bullet lists.
Scripts, styles and other parts a browser never shows are dropped, entities are decoded and
runs of spaces collapse as a browser would. Parsing is Beautiful Soup over the standard
library's HTML parser: forgiving of the broken markup shop editors produce, and walked without
recursion, so nesting of any depth is only a long loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag
from bs4.element import PageElement, PreformattedString

# Never shown as text; their content is dropped with them.
HIDDEN = ("script", "style", "template", "noscript", "head", "iframe", "object", "svg", "title")
# Elements whose start and end break the line.
BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot",
    "tr", "ul",
})  # fmt: skip
CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


def looks_like_html(text: str) -> bool:
    """Whether `text` holds at least one element (a Merchant description may be either)."""
    return "<" in text and BeautifulSoup(text, "html.parser").find() is not None


def html_to_text(html: str) -> str:
    """Clean text of an HTML fragment: one line per block or list item, no markup."""
    lines: list[str] = []
    line: list[str] = []

    def end_line() -> None:
        text = _SPACES.sub(" ", "".join(line)).strip()
        if text and text != "-":
            lines.append(text)
        line.clear()

    # Depth-first with an explicit stack, seeing each element's start and end once: tree
    # edits (decompose, insert_after) walk descendants per call, quadratic on deep nesting.
    soup = BeautifulSoup(html, "html.parser")
    stack: list[tuple[str, Iterator[PageElement]]] = [("", iter(soup.contents))]
    while stack:
        node = next(stack[-1][1], None)
        if node is None:
            if stack.pop()[0] in BLOCKS:
                end_line()
        elif isinstance(node, Tag):
            if node.name == "br":
                end_line()
            elif node.name not in HIDDEN:
                if node.name in BLOCKS:
                    end_line()
                    if node.name == "li":
                        line.append("- ")
                elif node.name in CELLS and line:
                    line.append(" ")
                stack.append((node.name, iter(node.contents)))
        elif not isinstance(node, PreformattedString):  # comments, doctypes, CDATA markers
            line.append(str(node))
    end_line()
    return "\n".join(lines)
