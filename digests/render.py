"""Rendering: a :class:`~digests.model.Digest` through a Jinja2 template into Slack messages.

Templates print Block Kit JSON (``{"text": ..., "blocks": [...]}``). The package ships ``daily.json.j2``,
``weekly.json.j2`` and ``monthly.json.j2``; a file of the same name in ``$KPIBOT_CONFIG_DIR/templates/``
replaces one. Whatever a template prints is then fitted to Slack's limits (:mod:`slackui.fitting`): headers are
clipped, long sections are cut at line ends (their fields ten at a time), and a digest of more blocks than a message
holds becomes a parent message plus thread replies.

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

from digests.config import PACKAGE_TEMPLATES
from digests.model import Chart, Digest
from slackui.fitting import fit, paginate
from slackui.limits import MAX_TEXT
from slackui.text import clip, escape, progress_bar

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
        # Imported here: matplotlib and numpy are some 40 MB in every process that imports them, and the web
        # server reaches this module (alerts, subscriptions) without ever drawing a chart.
        from digests.charts import charts_for

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
                frame = getattr(generator, "gi_frame", None)  # Jinja renders with a generator: its frame's line
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
