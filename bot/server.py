"""Serving the Bolt app: HTTP under gunicorn (``POST /slack/events``, ``GET /healthz``) or Socket Mode."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text

from bot.app import create_app
from kpi.db import get_engine
from kpi.service import Kpibot

REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
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
    for noisy in ("slack_bolt", "slack_sdk", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def missing_settings(socket: bool) -> list[str]:
    names = [*REQUIRED, "SLACK_APP_TOKEN"] if socket else list(REQUIRED)
    return [name for name in names if not os.environ.get(name)]


def build_bolt_app(kpibot: Kpibot):
    return create_app(kpibot, token=os.environ["SLACK_BOT_TOKEN"], signing_secret=os.environ["SLACK_SIGNING_SECRET"])


def wsgi_app(bolt_app, engine) -> Callable:
    """Route ``/healthz`` here and everything else to Bolt's WSGI adapter."""
    slack = SlackRequestHandler(bolt_app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                status, body = "200 OK", {"ok": True, "database": "reachable"}
            except Exception as exc:  # a health check reports, it does not raise
                status, body = "503 Service Unavailable", {"ok": False, "database": type(exc).__name__}
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        return slack(environ, start_response)

    return application


class Gunicorn(BaseApplication):
    """gunicorn, configured in code: threaded workers so a slow answer never blocks an ack."""

    def __init__(self, port: int, workers: int) -> None:
        self.options = {
            "bind": f"0.0.0.0:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 8,
            "timeout": 60,
            "accesslog": None,
            "loglevel": "warning",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable:
        """Runs in each worker after the fork. The engine (cached per URL) came from the master with the
        connections `kpibot serve` opened to check the database: two workers writing on one inherited
        socket corrupt each other's results, so the worker drops them (without closing the master's) and
        opens its own."""
        configure_logging()
        engine = get_engine()
        engine.dispose(close=False)
        kpibot = Kpibot(engine)
        return wsgi_app(build_bolt_app(kpibot), kpibot.engine)


def serve_http(port: int, workers: int) -> None:
    Gunicorn(port, workers).run()


def serve_socket_mode() -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    configure_logging()
    SocketModeHandler(build_bolt_app(Kpibot()), os.environ["SLACK_APP_TOKEN"]).start()
