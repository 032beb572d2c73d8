"""Serving the Bolt app: in each HTTP worker under uvicorn (``POST /slack/events``, ``GET /healthz``; see
bot/front.py, and bot/supervisor.py for the process that starts the workers) or in Socket Mode."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sys
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from bot.app import create_app
from bot.front import Replays, SlackFront
from kpi.db import get_engine
from kpi.schema import Rep
from kpi.service import Kpibot

REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
#: Allocations between two collections of the youngest generation in a server process (CPython's default: 700). At
#: the default, the objects of the questions in flight (16 threads) were collected young so often that they outlived
#: two collections and went to the oldest generation, filling it until a full collection ran: 9 in each worker over
#: a benchmark's passes, the later ones 120-180 ms with the interpreter held, every question in flight waiting. At
#: 50,000, none ran during the passes (their p95 at 16 clients: 240-373 -> 216-217 ms for the slowest kind).
YOUNG_COLLECTION = 50_000
LOG_FIELDS = ("user", "command", "question", "kpi", "duration_ms", "reference", "worker", "detail")


class JsonLines(logging.Formatter):
    """One JSON object per line: easy to grep, easy to ship. Only whitelisted fields: never a token."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry |= {field: getattr(record, field) for field in LOG_FIELDS if hasattr(record, field)}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("slack_sdk", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)  # its warnings quote request bodies


def missing_settings(socket: bool) -> list[str]:
    names = [*REQUIRED, "SLACK_APP_TOKEN"] if socket else list(REQUIRED)
    return [name for name in names if not os.environ.get(name)]


def build_bolt_app(kpibot: Kpibot):
    return create_app(kpibot, token=os.environ["SLACK_BOT_TOKEN"], signing_secret=os.environ["SLACK_SIGNING_SECRET"])


def health(engine: Engine) -> tuple[int, dict[str, Any]]:
    """``/healthz``: a real read of a canonical table, so that a database that answers but has lost the schema or
    refuses this user is reported too. The body names the class of problem, never the URL or a password."""
    try:
        with engine.connect() as connection:
            connection.execute(select(Rep.id).limit(1)).all()
    except SQLAlchemyError as error:  # a health check reports, it does not raise
        return 503, {"ok": False, "database": database_problem(error)}
    return 200, {"ok": True, "database": "reachable"}


def database_problem(error: SQLAlchemyError) -> str:
    """ "unreachable", "permission denied" or "schema missing": what an operator checks first."""
    text = str(getattr(error, "orig", error)).lower()
    if "permission denied" in text or "insufficient privilege" in text:
        return "permission denied"
    if "does not exist" in text or "no such table" in text or "undefinedtable" in text:
        return "schema missing"
    return "unreachable"


def asgi_app() -> SlackFront:
    """Runs in each server process: its own engine and Bolt app behind the HTTP front."""
    configure_logging()
    kpibot = Kpibot(get_engine(create=False, migrated=True))  # `kpibot serve` migrated it before starting this process
    front = SlackFront(
        build_bolt_app(kpibot),
        os.environ["SLACK_SIGNING_SECRET"],
        Replays(kpibot.engine, os.environ.get("REDIS_URL")),
        functools.partial(health, kpibot.engine),
    )
    # What the process loaded to serve (code, catalog, a directory of 10,000 people: some 140,000 objects) lives as
    # long as it does: out of the collector's sight, a full collection during a question takes 40 ms, not 175.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])
    return front


def serve_socket_mode() -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    configure_logging()
    SocketModeHandler(build_bolt_app(Kpibot()), os.environ["SLACK_APP_TOKEN"]).start()
