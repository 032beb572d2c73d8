"""The Bolt app: listeners that turn Slack payloads into core calls and core results into Block Kit.

No KPI logic lives here: what people type is parsed by :meth:`kpi.service.Kpibot.parse`, what buttons carry
is a typed query, and every number comes from :meth:`kpi.service.Kpibot.run`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from enum import StrEnum
from functools import partial
from typing import Any

from slack_bolt import App
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy.exc import SQLAlchemyError

from bot import alerts as alert_ui
from bot import blocks, home, records_view
from bot import subscriptions as subs
from bot.identity import Identities, Unmatched
from bot.targets_modal import CALLBACK_ID as TARGETS_VIEW
from bot.targets_modal import open_targets_modal, save_submission
from crm.status import freshness
from digests import records_button
from digests.alerts import create_alert, delete_alert, snooze_alert
from digests.ratelimit import paced_client
from digests.subscriptions import set_enabled, slack_timezone, unsubscribe
from kpi.access import AccessDenied
from kpi.answers import Answer, Leaderboard
from kpi.catalog import UnknownKpi
from kpi.directory import Person, UnknownPerson
from kpi.gap import Gap
from kpi.grammar.alerts import AlertSyntaxError, is_alert
from kpi.grammar.lexicon import lexicon
from kpi.grammar.queries import GapQuery, LeaderboardQuery, Query, ScorecardQuery, ValueQuery, from_json, words
from kpi.periods import PeriodError
from kpi.records import RecordList
from kpi.scorecard import Scorecard
from kpi.service import Kpibot
from slackui.limits import MAX_TYPED

SLACK_API = "https://slack.com/api/"
#: Answer in the acknowledgement when ready by then, else "working on it" and the answer through response_url.
#: Slack gives up at 3 s counted from its side: its network, Bolt's work before the listener and a busy
#: server (16 organisation-wide questions at once on 2 cores added 0.65 s) come on top of the budget.
ACK_BUDGET_SECONDS = 1.5
FRESHNESS_SECONDS = 30.0  # "CRM synced 12 min ago" counts minutes: one look at sync_runs per half minute
log = logging.getLogger("kpibot.requests")


def web_client(token: str, base_url: str | None = None, *, paced: bool = False) -> WebClient:
    """A Web API client that retries 429s (honouring Retry-After), 5xx answers and dropped connections; ``paced``
    (the worker's, which fans digests out) also paces chat.postMessage to Slack's rate, every post waiting out a
    429's Retry-After (:mod:`digests.ratelimit`)."""
    base = (base_url or os.environ.get("SLACK_API_URL") or SLACK_API).rstrip("/") + "/"
    others = [ServerErrorRetryHandler(max_retry_count=2), ConnectionErrorRetryHandler(max_retry_count=2)]
    if paced:
        return paced_client(token, base, others)
    handlers = [RateLimitErrorRetryHandler(max_retry_count=3), *others]
    return WebClient(token=token, base_url=base, retry_handlers=handlers)


#: The longest question answered: what Slack lets a person type in its message box. A longer one is hand-made.
MAX_QUESTION = MAX_TYPED
TOO_LONG = f"That question is longer than the {MAX_QUESTION:,} characters Slack lets you type; ask a shorter one."

#: What a person is told while the database cannot be read: nothing they did, and nothing lost.
UNREACHABLE = "I can't reach the CRM copy right now, so I can't answer. Nothing is lost: try again in a few minutes."

#: What a share without a channel is told: Slack names the channel of every message a button is pressed in.
NO_CHANNEL = "I can't tell which channel this answer is in, so I can't share it there."


class ReplyKind(StrEnum):
    """What the request log's ``kpi`` holds for a reply that is not an answer (an answer logs its KPI's key)."""

    REFUSED = "-"  # unknown KPI, access denied, an unmatched Slack user...: the reason, for the asker alone
    FAILED = "error"  # a bug or an unreachable database: an apology, for the asker alone
    HELP = "help"  # help or the list of KPIs
    SCORECARD = "scorecard"  # a scorecard of several KPIs
    TARGETS = "targets"  # the targets form, opened or submitted
    SUBSCRIPTIONS = "subscriptions"  # the subscription form or list, opened, submitted or changed
    HOME = "home"  # the App Home, published
    RECORDS = "records"  # a list of deals a question asked for


class Replies:
    """Questions in, Slack messages out: the one translation every listener uses."""

    def __init__(self, kpibot: Kpibot, identities: Identities) -> None:
        self.kpibot = kpibot
        self.identities = identities
        self._freshness: tuple[float, str] | None = None  # (when read, text)

    def freshness(self) -> str:
        """The data freshness line, read at most every FRESHNESS_SECONDS (it was a query per answer)."""
        known, now = self._freshness, time.monotonic()
        if known is None or now - known[0] > FRESHNESS_SECONDS:
            known = self._freshness = (now, freshness(self.kpibot.engine))
        return known[1]

    def person(self, slack_user_id: str) -> Person:
        """The CRM person behind a Slack user, from the directory as of the data committed now; raises Unmatched."""
        self.kpibot.refresh_directory()
        return self.identities.person(self.kpibot.directory, slack_user_id)

    def message(self, slack_user_id: str, question: str) -> tuple[dict[str, Any], str]:
        """The message answering what the Slack user typed, and the KPI key (for logs)."""

        def parse() -> tuple[Query, str]:
            text = self.identities.expand_mentions(self.kpibot.directory, question)
            return self.kpibot.parse(text), question

        return self._reply(slack_user_id, parse)

    def pressed(self, slack_user_id: str, value: dict[str, Any], *, shared: bool = False) -> tuple[dict[str, Any], str]:
        """The message for a button of an earlier answer: the query it carries (see blocks.answer_actions)."""

        def decode() -> tuple[Query, str]:
            query = from_json(value, self.kpibot.catalog, self.kpibot.directory)
            return query, value.get("q") or words(query)

        return self._reply(slack_user_id, decode, shared=shared)

    def records(self, slack_user_id: str, value: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The message for a records button (see :mod:`bot.records_view`): a page of the records it names."""
        try:
            return records_view.reply(self.kpibot, self.person(slack_user_id), value), ReplyKind.RECORDS
        except Unmatched as exc:
            return blocks.problem_message(str(exc)), ReplyKind.REFUSED
        except (UnknownKpi, PeriodError, UnknownPerson, AccessDenied, LookupError) as exc:
            return blocks.problem_message(str(exc)), ReplyKind.REFUSED

    def _reply(
        self, slack_user_id: str, read: Callable[[], tuple[Query, str]], *, shared: bool = False
    ) -> tuple[dict[str, Any], str]:
        """Who asks (their Slack user matched first), then ``read()`` the query and the words to show."""
        kpibot = self.kpibot
        try:
            with kpibot.request() as directory:
                person = self.identities.person(directory, slack_user_id)
                query, question = read()
                answer = kpibot.run(query, person)
        except Unmatched as exc:
            return blocks.problem_message(str(exc)), ReplyKind.REFUSED
        except (UnknownKpi, PeriodError, UnknownPerson, AccessDenied, LookupError) as exc:
            return blocks.problem_message(str(exc), list(lexicon().examples[:3])), ReplyKind.REFUSED
        fresh = self.freshness()
        by = slack_user_id if shared else None
        if isinstance(answer, Answer):
            assert isinstance(query, ValueQuery)
            return blocks.answer_message(answer, query, question, fresh, shared_by=by), answer.kpi.key
        if isinstance(answer, Leaderboard):
            assert isinstance(query, LeaderboardQuery)
            return blocks.leaderboard_message(
                answer, query, question, fresh, shared_by=by, mentions=kpibot.directory.slack_ids
            ), answer.kpi.key
        if isinstance(answer, Scorecard):
            assert isinstance(query, ScorecardQuery)
            return blocks.scorecard_message(answer, query, question, fresh, shared_by=by), ReplyKind.SCORECARD
        if isinstance(answer, Gap):
            assert isinstance(query, GapQuery)
            return blocks.gap_message(answer, query, question, fresh, shared_by=by), answer.kpi.key
        if isinstance(answer, RecordList):
            return records_view.records_message(answer, {"q": question}, None, []), ReplyKind.RECORDS
        return blocks.help_message(answer), ReplyKind.HELP

    def safe(self, reply: Callable[[], tuple[dict[str, Any], str]], slack_user_id: str) -> tuple[dict[str, Any], str]:
        """``reply()``, but a bug becomes an apology with a reference, never a silent failure."""
        try:
            return reply()
        except SQLAlchemyError as error:
            log.warning("database unreachable", extra={"user": slack_user_id, "detail": type(error).__name__})
            return blocks.problem_message(UNREACHABLE), ReplyKind.FAILED
        except Exception:
            reference = f"{int(time.time() * 1000) % 10**8:08d}"
            log.exception("answer failed", extra={"reference": reference, "user": slack_user_id})
            text = f"Sorry, something went wrong on my side (reference {reference}). It has been logged."
            return blocks.problem_message(text), ReplyKind.FAILED


def create_app(kpibot: Kpibot, *, token: str, signing_secret: str, client: WebClient | None = None) -> App:
    """Build the Bolt app with its listeners (HTTP and Socket Mode share it).

    Bolt sends a listener's acknowledgement when the listener returns (``process_before_response``): each
    listener acknowledges, then hands anything slower than a lookup to :func:`later`. (Bolt's default runs the
    listener in a thread and polls for its ``ack()`` every 10 ms, which was most of a fast answer's time.)
    """
    client = client or web_client(token)  # Bolt takes the token from the client (given both, it warns on every start)
    # Bolt's loggers copy their level from this one (left alone, each copies the root's when created, and the
    # server's quieter setting for "slack_bolt" never reached them): its warnings quote request bodies.
    bolt_logger = logging.getLogger("slack_bolt")
    app = App(signing_secret=signing_secret, client=client, process_before_response=True, logger=bolt_logger)
    replies = Replies(kpibot, Identities(kpibot.engine, client))
    answers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="answer")  # /kpi answers, within the budget
    followups = ThreadPoolExecutor(max_workers=8, thread_name_prefix="followup")  # work after the acknowledgement

    def later(work: Callable[[], None]) -> None:
        """Run ``work`` after the acknowledgement has gone, logging what fails (a thread would swallow it)."""

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("work after the acknowledgement failed")

        followups.submit(run)

    @app.command("/kpi")
    def kpi_command(ack, command, respond, client) -> None:
        started = time.monotonic()
        user, question = command["user_id"], (command.get("text") or "").strip()
        if len(question) > MAX_QUESTION:
            ack(response_type="ephemeral", **blocks.problem_message(TOO_LONG))
            _log_request(user, "/kpi", question[:200], ReplyKind.REFUSED, started)
            return
        if question.lower() == "targets":
            ack()
            later(lambda: open_targets_form(user, command["trigger_id"], client, respond, started))
            return
        if question.lower() == "subscribe":
            ack()
            tell = partial(respond, response_type="ephemeral")
            later(lambda: open_subscribe_form(user, command["trigger_id"], client, tell, started))
            return
        if question.lower() in ("subscriptions", "unsubscribe"):
            ack(response_type="ephemeral", **subs.subscriptions_message(kpibot, user))
            _log_request(user, "/kpi", question, ReplyKind.SUBSCRIPTIONS, started)
            return
        if question.lower() == "alerts":
            ack(response_type="ephemeral", **alert_ui.alerts_message(kpibot, user))
            _log_request(user, "/kpi", question, ReplyKind.SUBSCRIPTIONS, started)
            return
        if is_alert(question):  # creating one asks its question once: as slow as an answer can be
            reply_within_budget(ack, respond, user, question, lambda: new_alert(user, question), started)
            return
        reply_within_budget(ack, respond, user, question, lambda: replies.message(user, question), started)

    def reply_within_budget(
        ack: Ack,
        respond: Respond,
        user: str,
        question: str,
        reply: Callable[[], tuple[dict[str, Any], str]],
        started: float,
    ) -> None:
        """The reply in the acknowledgement when ready within the budget; else "working on it" at once, and the
        reply through the response_url when it is ready."""
        pending = answers.submit(replies.safe, reply, user)
        try:
            message, kpi = pending.result(timeout=ACK_BUDGET_SECONDS)
        except Pending:
            ack(response_type="ephemeral", text=":hourglass_flowing_sand: Working on it…")
            later(lambda: respond_late(pending, user, question, respond, started))
            return
        ack(response_type="ephemeral", **message)
        _log_request(user, "/kpi", question, kpi, started)

    def new_alert(user: str, question: str) -> tuple[dict[str, Any], str]:
        """Store the alert ``question`` states, or say why not (its words, an unknown KPI, access)."""
        try:
            alert = create_alert(kpibot, replies.person(user), user, question)
            return alert_ui.created_message(alert), ReplyKind.SUBSCRIPTIONS
        except AlertSyntaxError as exc:
            return blocks.problem_message(str(exc)), ReplyKind.REFUSED
        except (UnknownKpi, PeriodError, UnknownPerson, AccessDenied, LookupError) as exc:
            return blocks.problem_message(str(exc)), ReplyKind.REFUSED

    def respond_late(pending: Future, user: str, question: str, respond: Respond, started: float) -> None:
        message, kpi = pending.result()
        respond(response_type="ephemeral", **message)
        _log_request(user, "/kpi", question, kpi, started)

    def open_targets_form(user: str, trigger_id: str, client: WebClient, respond: Respond, started: float) -> None:
        try:
            refusal = open_targets_modal(client, trigger_id, kpibot, replies.person(user))
        except Unmatched as exc:
            refusal = blocks.problem_message(str(exc))
        if refusal:
            respond(response_type="ephemeral", **refusal)
        _log_request(user, "/kpi", "targets", ReplyKind.TARGETS, started)

    def open_subscribe_form(
        user: str, trigger_id: str, client: WebClient, tell: Callable[..., Any], started: float
    ) -> None:
        """Open the subscription form, or ``tell(**message)`` the person why not."""
        try:
            zone = slack_timezone(client, user, kpibot.org.timezone)
            refusal = subs.open_subscribe_modal(client, trigger_id, kpibot, replies.person(user), zone)
        except Unmatched as exc:
            refusal = blocks.problem_message(str(exc))
        if refusal:
            tell(**refusal)
        _log_request(user, "/kpi", "subscribe", ReplyKind.SUBSCRIPTIONS, started)

    @app.view(subs.CALLBACK_ID)
    def subscribe_submitted(ack, body, view, client) -> None:
        """Validated and saved before the acknowledgement, which carries the form's errors."""
        started = time.monotonic()
        user = body["user"]["id"]
        try:
            zone = slack_timezone(client, user, kpibot.org.timezone)
            values = view["state"]["values"]
            errors = subs.save_submission(kpibot, client, replies.person(user), user, values, zone)
        except Unmatched as exc:
            errors = {"audience": str(exc)[:300]}
        except SQLAlchemyError:
            errors = {"digest": UNREACHABLE[:300]}
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()
            later(lambda: publish_home(user, client, started, how="subscribe"))
        _log_request(user, "subscribe", "", ReplyKind.SUBSCRIPTIONS, started)

    @app.action(subs.ADD_ACTION)
    def subscription_add(ack, body, client) -> None:
        """The App Home's button: a view has no response_url, so a refusal is a modal of its own (the form's
        submission answers in the form, ``response_action: errors``, wherever it was opened)."""
        started = time.monotonic()
        ack()
        trigger_id = body["trigger_id"]

        def tell(**message: Any) -> None:
            try:
                client.views_open(trigger_id=trigger_id, view=subs.refusal_modal(message))
            except SlackApiError as exc:  # the trigger was spent or expired: nothing left to answer with
                log.warning(
                    "subscription form refusal not shown", extra={"user": body["user"]["id"], "detail": str(exc)}
                )

        later(lambda: open_subscribe_form(body["user"]["id"], trigger_id, client, tell, started))

    @app.action(subs.TOGGLE_ACTION)
    @app.action(subs.DELETE_ACTION)
    def subscription_changed(ack, body, respond, client) -> None:
        """Pause, resume or delete one of the presser's own subscriptions, then show the list again where the
        button was: the App Home, or the `/kpi subscriptions` message."""
        started = time.monotonic()
        ack()
        user, action = body["user"]["id"], body["actions"][0]
        number, _, state = action["value"].partition(":")
        if action["action_id"] == subs.DELETE_ACTION:
            unsubscribe(kpibot.engine, user, int(number))
        else:
            set_enabled(kpibot.engine, user, int(number), state == "on")
        if (body.get("container") or {}).get("type") == "view":
            later(lambda: publish_home(user, client, started, how=action["action_id"]))
        else:
            respond(replace_original=True, response_type="ephemeral", **subs.subscriptions_message(kpibot, user))
            _log_request(user, action["action_id"], action["value"], ReplyKind.SUBSCRIPTIONS, started)

    @app.action(alert_ui.SNOOZE_ACTION)
    @app.action(alert_ui.DELETE_ACTION)
    def alert_changed(ack, body, respond, client) -> None:
        """Snooze or delete one of the presser's own alerts, then show them again where the button was."""
        started = time.monotonic()
        ack()
        user, action = body["user"]["id"], body["actions"][0]
        if action["action_id"] == alert_ui.DELETE_ACTION:
            delete_alert(kpibot.engine, user, int(action["value"]))
        else:
            snooze_alert(kpibot.engine, user, int(action["value"]))
        if (body.get("container") or {}).get("type") == "view":
            later(lambda: publish_home(user, client, started, how=action["action_id"]))
        else:
            respond(replace_original=True, response_type="ephemeral", **alert_ui.alerts_message(kpibot, user))
            _log_request(user, action["action_id"], action["value"], ReplyKind.SUBSCRIPTIONS, started)

    @app.action("kpi_share")
    def share_button(ack, body, respond, client) -> None:
        started = time.monotonic()
        ack()
        later(lambda: share(body, respond, client, started))

    def share(body: dict[str, Any], respond: Respond, client: WebClient, started: float) -> None:
        user, value = body["user"]["id"], json.loads(body["actions"][0]["value"])
        question = str(value.get("q", ""))
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if not channel:  # posting without one, Slack answered channel_not_found and the asker was told to invite kpibot
            respond(response_type="ephemeral", replace_original=False, text=NO_CHANNEL)
            _log_request(user, "share", question, ReplyKind.REFUSED, started)
            return
        message, kpi = replies.safe(lambda: replies.pressed(user, value, shared=True), user)
        if kpi in (ReplyKind.REFUSED, ReplyKind.FAILED):  # a refusal or an apology is for the asker alone
            respond(response_type="ephemeral", replace_original=False, **message)
            _log_request(user, "share", question, kpi, started)
            return
        try:
            client.chat_postMessage(channel=channel, **message)
            respond(delete_original=True)
        except SlackApiError as exc:
            error = exc.response.get("error")
            hint = "invite me with `/invite @kpibot`" if error in ("not_in_channel", "channel_not_found") else error
            respond(response_type="ephemeral", replace_original=False, text=f"I can't post in this channel: {hint}.")
        _log_request(user, "share", question, kpi, started)

    @app.action("kpi_period")
    def period_menu(ack, body, respond) -> None:
        started = time.monotonic()
        ack()
        later(lambda: change_period(body, respond, started))

    def change_period(body: dict[str, Any], respond: Respond, started: float) -> None:
        user, value = body["user"]["id"], json.loads(body["actions"][0]["selected_option"]["value"])
        message, kpi = replies.safe(lambda: replies.pressed(user, value), user)
        respond(replace_original=True, response_type="ephemeral", **message)
        _log_request(user, "period", str(value.get("p", "")), kpi, started)

    @app.action(records_button.OPEN)
    def records_opened(ack, body, respond) -> None:
        started = time.monotonic()
        ack()
        later(lambda: show_records(body, respond, started, replace=False))

    @app.action(re.compile(f"^{records_view.PAGE}_"))
    def records_paged(ack, body, respond) -> None:
        started = time.monotonic()
        ack()
        later(lambda: show_records(body, respond, started, replace=True))

    def show_records(body: dict[str, Any], respond: Respond, started: float, *, replace: bool) -> None:
        """The records a button names, to the presser alone: a new message under the answer, or in place of the
        page before (Previous, Next)."""
        user = body["user"]["id"]
        try:
            value = json.loads(body["actions"][0]["value"])
        except (KeyError, ValueError):
            value = None
        if not isinstance(value, dict):
            value = {}
        message, kind = replies.safe(lambda: replies.records(user, value), user)
        respond(response_type="ephemeral", replace_original=replace and kind == ReplyKind.RECORDS, **message)
        _log_request(user, "records", str(value.get("q", ""))[:200], kind, started)

    @app.view(TARGETS_VIEW)
    def targets_submitted(ack, body, view) -> None:
        """Validated and saved before the acknowledgement, which carries the form's errors."""
        started = time.monotonic()
        user = body["user"]["id"]
        try:
            errors = save_submission(kpibot, replies.person(user), view["state"]["values"])
        except Unmatched as exc:
            errors = {"who": str(exc)[:300]}
        except SQLAlchemyError:
            errors = {"value": UNREACHABLE[:300]}
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()
        _log_request(user, "targets", "", ReplyKind.TARGETS, started)

    @app.event("app_home_opened")
    def home_opened(ack, event, client) -> None:
        started = time.monotonic()
        ack()
        later(lambda: publish_home(event["user"], client, started))

    @app.action(home.PERIOD_ACTION)
    def home_period(ack, body, client) -> None:
        """A period menu of the App Home: the home again, its sections at the periods the option carries."""
        started = time.monotonic()
        ack()
        chosen = json.loads(body["actions"][0]["selected_option"]["value"])
        later(lambda: publish_home(body["user"]["id"], client, started, chosen, "home_period"))

    def publish_home(
        user: str, client: WebClient, started: float, chosen: dict[str, Any] | None = None, how: str = "app_home_opened"
    ) -> None:
        try:
            view = home.home_view(kpibot, replies.identities, user, chosen)
        except SQLAlchemyError:
            view = home.unavailable_view(UNREACHABLE)
        client.views_publish(user_id=user, view=view)
        _log_request(user, how, "", ReplyKind.HOME, started)

    return app


def _log_request(user: str, command: str, question: str, kpi: str, started: float) -> None:
    duration = round((time.monotonic() - started) * 1000)
    log.info(
        "request",
        extra={"user": user, "command": command, "question": question[:500], "kpi": kpi, "duration_ms": duration},
    )
