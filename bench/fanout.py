"""Benchmark 8: the Monday fan-out of subscriptions, every rep subscribed to their own weekly digest.

Every rep of the data set (2,000, or 100 with --quick) subscribes to the weekly digest of their own numbers, by
DM on Mondays at 08:00 UTC (rows written directly, as ``/kpi subscribe`` stores them; each rep a Slack user
matched by the bot before, none DMed yet: no IM channel kept). The worker's own job,
:func:`digests.subscriptions.run_due`, then runs at that minute with the worker's paced client
(digests/ratelimit.py) against the fake Slack, which enforces Slack's rates with 429s and Retry-After: one
chat.postMessage a second per channel and ten a second in all, conversations.open and .history at Tier 3 (50 a
minute), the two calls of a file upload at Tier 4 (100). The subscriptions and their deliveries of earlier runs
are cleared first.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import delete, insert

from bench.common import CONFIG_DIR, Report, Section, median, ms, percentile, stopwatch
from digests.ratelimit import WORKSPACE_PER_SECOND, paced_client
from digests.subscriptions import run_due
from kpi.schema import Delivery, SlackUser, Subscription
from kpi.service import Kpibot
from tests.fakes import FakeSlack

TARGET_SECONDS = 15 * 60.0  # issue 16: 2,000 subscribers' Monday digests within 15 minutes
FULL_SIZE = 2000
USER_PREFIX = "UBENCH"


def _subscribe_every_rep(kpibot: Kpibot, monday: dt.datetime) -> list[str]:
    """Each rep a Slack user subscribed to their own weekly digest at 08:00 UTC; their Slack ids."""
    people = [p for p in kpibot.directory.people.values() if p.team_id is not None]
    users = {f"{USER_PREFIX}{p.id}": p.id for p in people}
    checked = monday.replace(tzinfo=None)
    with kpibot.engine.begin() as connection:
        connection.execute(delete(Delivery).where(Delivery.key.like("digest:sub-%")))
        connection.execute(delete(Subscription))
        connection.execute(delete(SlackUser).where(SlackUser.slack_user_id.like(f"{USER_PREFIX}%")))
        connection.execute(
            insert(SlackUser),
            [{"slack_user_id": u, "email": None, "rep_id": r, "checked_at": checked} for u, r in users.items()],
        )
        row = {"digest": "weekly", "audience": "me", "cadence": "weekly", "time": "08:00", "day": "monday"}
        more = {"channel": None, "timezone": "UTC", "timezone_checked_at": checked, "enabled": True}
        connection.execute(
            insert(Subscription), [{**row, **more, "slack_user_id": u, "created_at": checked} for u in users]
        )
    return list(users)


def run(report: Report, kpibot: Kpibot, as_of: dt.date) -> None:
    monday = dt.datetime.combine(as_of - dt.timedelta(days=as_of.weekday()), dt.time(8), dt.UTC)
    users = _subscribe_every_rep(kpibot, monday)
    columns = ["subscribers", "posts", "digests posted (s)", "chart uploads", "charts done (s)"]
    section = Section("8. Monday fan-out: every rep's own weekly digest by DM", columns)
    with FakeSlack() as slack:
        for user in users:
            slack.add_user(user)
        slack.limit_rates(per_channel=1.0, workspace=WORKSPACE_PER_SECOND)  # and the tiers of conversations.open...
        client = paced_client(slack.token, slack.url, [])
        started = time.time()  # the clock of the fake's Call.at
        with stopwatch() as elapsed:
            outcomes = run_due(kpibot, client, CONFIG_DIR, monday, dt.timedelta(minutes=2))
        posts = [c for c in slack.calls if c.method == "chat.postMessage"]
        parents = sorted(c.at for c in posts if "thread_ts" not in c.params)
        uploads = [c.at for c in slack.calls_to("files.completeUploadExternal")]
        refused = slack.ratelimited
        opened = len(slack.calls_to("conversations.open"))
    errors = [outcome.error for outcome in outcomes if outcome.status != "sent"]
    failed = len(errors)
    each = [later - earlier for earlier, later in zip([started, *parents], parents, strict=False)]
    seconds = elapsed()
    posted = (parents[-1] - started) if parents else seconds
    section.add(f"{len(users):,}", f"{len(posts):,}", f"{posted:.0f}", f"{len(uploads):,}", f"{seconds:.0f}")
    projected = posted * FULL_SIZE / max(1, len(users))
    charts_projected = seconds * FULL_SIZE / max(1, len(users))
    section.notes.append(
        f"Sent on {monday:%Y-%m-%d} at 08:00 UTC for the week before; {len(outcomes):,} deliveries, {failed} failed; "
        f"{len(posts):,} chat.postMessage calls (each digest's parent and thread replies) and {len(uploads):,} chart "
        f"uploads (files.getUploadURLExternal and .completeUploadExternal, Tier 4), of which the fake Slack refused "
        f"{refused} calls past the rates; {opened} conversations.open calls (each DM is posted to the member's user "
        f"id). Between one digest's parent post and the next: p50 {ms(median(each))} ms, p95 "
        f"{ms(percentile(each, 95))} ms. At this pace {FULL_SIZE:,} subscribers' digests are posted in "
        f"{projected:.0f} s, their charts uploaded by {charts_projected:.0f} s."
        + (f" First failure: {errors[0]}" if errors else "")
    )
    report.add(section)
    met = projected <= TARGET_SECONDS and not failed and len(outcomes) == len(users)
    report.check(f"Monday fan-out, {FULL_SIZE:,} subscribers", f"<= {TARGET_SECONDS:.0f} s", f"{projected:.0f} s", met)
