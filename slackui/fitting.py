"""Fitting content under Slack's limits (:mod:`slackui.limits`): long text split into sections at line ends,
blocks fitted one by one, and a message of too many blocks paginated into a parent and thread replies.

The bot fits its long answers (a leaderboard, the help) with :func:`sections`; the digests fit whatever a
template printed with :func:`fit` and :func:`paginate`.
"""

from __future__ import annotations

from typing import Any

from slackui.blocks import context, section
from slackui.limits import MAX_BLOCKS, MAX_ELEMENTS, MAX_FIELD, MAX_FIELDS, MAX_HEADER, MAX_SECTION
from slackui.text import clip

#: The block that ends a parent message whose other pages follow in its thread.
CONTINUED = context(":thread: Continued in the thread.")


def sections(text: str) -> list[dict[str, Any]]:
    """Long text as sections, each within Slack's section limit, cut at line ends."""
    return [section(piece) for piece in split_text(text)]


def split_text(text: str, limit: int = MAX_SECTION) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line ends (a longer line is cut where it must)."""
    if not text.strip():
        return []
    pieces, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            candidate = line
        current = candidate
    if current.strip():
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def fit(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks within Slack's per-block limits: long sections split at line ends, headers clipped."""
    fitted: list[dict[str, Any]] = []
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            text = dict(block["text"], text=clip(str(block["text"].get("text") or " "), MAX_HEADER))
            fitted.append(dict(block, text=text))
        elif kind == "section":
            fitted.extend(_fit_section(block))
        elif kind == "context" and len(block.get("elements") or []) > MAX_ELEMENTS:
            elements = block["elements"]
            for i in range(0, len(elements), MAX_ELEMENTS):
                fitted.append(dict(block, elements=elements[i : i + MAX_ELEMENTS]))
        else:
            fitted.append(block)
    return fitted


def _fit_section(block: dict[str, Any]) -> list[dict[str, Any]]:
    """One section, or several: its text cut at line ends, its fields ten at a time."""
    text: dict[str, Any] = block["text"] if isinstance(block.get("text"), dict) else {}
    pieces = split_text(str(text.get("text") or ""))
    fields = [dict(f, text=clip(str(f.get("text") or " "), MAX_FIELD)) for f in block.get("fields") or []]
    groups = [fields[i : i + MAX_FIELDS] for i in range(0, len(fields), MAX_FIELDS)]
    first = {key: value for key, value in block.items() if key not in ("text", "fields")}
    out = [dict(first if i == 0 else {"type": "section"}, text=dict(text, text=p)) for i, p in enumerate(pieces)]
    if groups:
        if out:
            out[-1]["fields"] = groups[0]
        else:
            out.append(dict(first, fields=groups[0]))
        out.extend({"type": "section", "fields": group} for group in groups[1:])
    return out


def paginate(blocks: list[dict[str, Any]], limit: int = MAX_BLOCKS) -> list[list[dict[str, Any]]]:
    """The parent's blocks, then each thread reply's: at most ``limit`` each, cut before a header or divider
    when one is near, and the parent ends by pointing to the thread."""
    if len(blocks) <= limit:
        return [blocks]
    pages: list[list[dict[str, Any]]] = []
    rest = blocks
    while rest:
        room = limit - 1 if not pages else limit
        if pages and len(rest) <= room:
            pages.append(rest)
            break
        cut = _cut(rest, room)
        pages.append(rest[:cut])
        rest = rest[cut:]
    pages[0] = [*pages[0], CONTINUED]
    return pages


def _cut(blocks: list[dict[str, Any]], room: int) -> int:
    for index in range(min(room, len(blocks) - 1), room // 2, -1):
        if blocks[index]["type"] in ("header", "divider"):
            return index
    return min(room, len(blocks))
