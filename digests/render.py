"""Rendering: a :class:`~digests.build.Digest` through a Jinja2 template into Slack messages.

Templates print Block Kit JSON (``{"text": ..., "blocks": [...]}``). The package ships ``daily.json.j2``,
``weekly.json.j2`` and ``monthly.json.j2``; a file of the same name in ``$KPIBOT_CONFIG_DIR/templates/``
replaces one. Whatever a template prints is then fitted to Slack's limits: headers are clipped to 150
characters, sections longer than 3,000 characters are cut at line ends (10 fields at most each), and a
digest of more than 50 blocks becomes a parent message plus thread replies.

A broken template raises :class:`DigestTemplateError` naming the file and the line; it only stops its own
digest.
"""

from __future__ import annotations

import functools
import json
import traceback
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
)

from digests.build import Digest
from digests.charts import Chart, charts_for
from digests.config import PACKAGE_TEMPLATES
from slackui.blocks import MAX_BLOCKS, MAX_HEADER, MAX_SECTION, clip, progress_bar
from slackui.text import escape

MAX_FIELDS, MAX_FIELD, MAX_ELEMENTS, MAX_TEXT = 10, 2000, 10, 40_000
BUILDER = "https://app.slack.com/block-kit-builder/#"
STATUS_ICONS = {
    "ahead": ":large_green_circle:",
    "on track": ":large_blue_circle:",
    "behind": ":large_orange_circle:",
    "at risk": ":red_circle:",
    "reached": ":trophy:",
    "missed": ":white_circle:",
}


class DigestTemplateError(Exception):
    """A template that cannot render, or renders something that is not Block Kit JSON."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path, self.line = path, line


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]

    @property
    def builder_url(self) -> str:
        """The message opened in Slack's Block Kit Builder."""
        return BUILDER + urllib.parse.quote(json.dumps({"blocks": self.blocks}, separators=(",", ":")))


@dataclass(frozen=True)
class RenderedDigest:
    """The parent message, the thread replies that follow it, and the charts for the thread."""

    parent: Message
    replies: list[Message] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    template: str = ""  # the file that rendered it

    @property
    def messages(self) -> list[Message]:
        return [self.parent, *self.replies]

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "messages": [
                {"text": m.text, "blocks": m.blocks, "block_kit_builder": m.builder_url} for m in self.messages
            ],
            "charts": [{"filename": c.filename, "title": c.title, "alt_text": c.alt_text} for c in self.charts],
        }


# ------------------------------------------------------------------------------------------------------
# Templates


@functools.lru_cache(maxsize=16)
def environment(config_dir: Path) -> Environment:
    """Templates from ``config_dir/templates`` first, then the package's."""
    loader = ChoiceLoader([FileSystemLoader(str(config_dir / "templates")), FileSystemLoader(str(PACKAGE_TEMPLATES))])
    env = Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters["mrkdwn"] = escape  # every name and label from the CRM or the config
    env.filters["bar"] = lambda share: progress_bar(float(share or 0))
    env.filters["status_icon"] = lambda status: STATUS_ICONS.get(status, ":white_circle:")
    return env


def render_digest(digest: Digest, config_dir: Path, *, charts: bool = True) -> RenderedDigest:
    """Render ``digest`` with its template (``config_dir/templates`` overrides the package's)."""
    env = environment(Path(config_dir).resolve())
    template = _template(env, digest.template, config_dir)
    data = _render_json(template, digest)
    path = template.filename or digest.template
    blocks = fit(data["blocks"])
    if not blocks:
        raise DigestTemplateError(f"{path}: the template printed no blocks.", path)
    text = str(data.get("text") or "").strip() or digest.summary
    pages = paginate(blocks)
    parent = Message(clip(text, MAX_TEXT), pages[0])
    replies = [
        Message(f"{digest.title} (continued, {n} of {len(pages) - 1})", page) for n, page in enumerate(pages[1:], 1)
    ]
    pictures = []
    if charts and digest.charts:
        pictures = charts_for(digest)
    return RenderedDigest(parent, replies, pictures, path)


def _template(env: Environment, name: str, config_dir: Path) -> Template:
    try:
        return env.get_template(name)
    except TemplateNotFound:
        where = f"{Path(config_dir) / 'templates'} or {PACKAGE_TEMPLATES}"
        raise DigestTemplateError(f"There is no template {name} in {where}.") from None
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None


def _syntax_error(exc: TemplateSyntaxError) -> DigestTemplateError:
    path = exc.filename or exc.name or "template"
    return DigestTemplateError(f"{path}, line {exc.lineno}: template syntax error: {exc.message}", path, exc.lineno)


def _render_json(template: Template, digest: Digest) -> dict[str, Any]:
    """Render, remembering which template line printed each piece, so that bad JSON can be traced back."""
    path = template.filename or template.name or "template"
    chunks: list[tuple[str, int]] = []
    try:
        try:
            generator = template.root_render_func(template.new_context({"digest": digest}))
            for chunk in generator:
                frame = generator.gi_frame
                chunks.append((chunk, template.get_corresponding_lineno(frame.f_lineno) if frame else 0))
        except Exception:
            template.environment.handle_exception()  # re-raises with the template's own line numbers
    except TemplateSyntaxError as exc:  # in an imported file
        raise _syntax_error(exc) from None
    except Exception as exc:
        file, line = _template_frame(exc, path)
        raise DigestTemplateError(f"{file}, line {line}: {type(exc).__name__}: {exc}", file, line) from exc
    output = "".join(chunk for chunk, _ in chunks)
    try:
        data = json.loads(output)
    except json.JSONDecodeError as exc:
        line = _source_line(template, chunks, exc.pos)
        bad = output.splitlines()[exc.lineno - 1].strip() if output.splitlines() else ""
        raise DigestTemplateError(
            f"{path}, line {line}: the template's output is not valid JSON: {exc.msg} "
            f"(output line {exc.lineno}, column {exc.colno}: {clip(bad, 160)!r}). "
            "Check the commas between blocks and write values with `| tojson`.",
            path,
            line,
        ) from None
    if isinstance(data, list):
        data = {"blocks": data}
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise DigestTemplateError(f"{path}: the template must print a JSON object with a 'blocks' list.", path)
    for index, block in enumerate(data["blocks"]):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise DigestTemplateError(f"{path}: block {index} is not a Block Kit block (an object with 'type').", path)
    return data


def _template_frame(exc: BaseException, path: str) -> tuple[str, int | None]:
    """The innermost template file and line in the (rewritten) traceback."""
    found: tuple[str, int | None] = (path, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2"):
            found = (frame.filename, frame.lineno)
    return found


def _source_line(template: Template, chunks: list[tuple[str, int]], position: int) -> int:
    """The template line that printed the character at ``position`` of the output."""
    offset = 0
    for chunk, line in chunks:
        if offset + len(chunk) > position:
            source = _source(template)
            found = source.find(chunk) if chunk.strip() else -1
            if found >= 0 and source.find(chunk, found + 1) < 0:  # literal text: its place in the file
                return source.count("\n", 0, found) + 1 + chunk.count("\n", 0, position - offset)
            return line
        offset += len(chunk)
    return chunks[-1][1] if chunks else 1


def _source(template: Template) -> str:
    try:
        return Path(template.filename or "").read_text(encoding="utf-8")
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------------
# Slack's limits


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
    text = block.get("text")
    pieces = _split_text(str(text.get("text") or "")) if isinstance(text, dict) else []
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


def _split_text(text: str, limit: int = MAX_SECTION) -> list[str]:
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


CONTINUED = {"type": "context", "elements": [{"type": "mrkdwn", "text": ":thread: Continued in the thread."}]}


def paginate(blocks: list[dict[str, Any]], limit: int = MAX_BLOCKS) -> list[list[dict[str, Any]]]:
    """The parent's blocks, then each thread reply's: at most ``limit`` each, cut before a header or divider
    when one is near, and the parent ends by pointing to the thread."""
    if len(blocks) <= limit:
        return [blocks]
    pages, rest = [], blocks
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
