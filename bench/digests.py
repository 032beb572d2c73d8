"""Benchmark 4: the weekly digest for every team and for the organisation, built, rendered and posted.

It runs the worker's own job, :func:`digests.jobs.run_digest`, for the shipped weekly digest sent to a
channel (so that no manager needs a Slack id), once for every team and once for the organisation, posting
to the fake Slack, which has no rate limit. The delivery log of earlier runs is cleared first: it would
rightly skip digests already posted. Per digest: the time between one digest's parent post and the next
(the first from the start of the run), which is what each digest costs in a run.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import delete

from bench.common import CONFIG_DIR, Report, Section, median, ms, percentile, stopwatch
from digests.config import EACH_TEAM, ORG, load_digests
from digests.jobs import run_digest
from kpi.schema import Delivery
from kpi.service import Kpibot
from tests.fakes import FakeSlack

#: The whole run's figure per size: issue 6's minute for 211 digests, issue 17's 5 minutes for 1,021.
GOALS = {"quick": 60.0, "1x": 60.0, "5x": 300.0}
CHANNEL = "C0DIGESTS"


def run(report: Report, kpibot: Kpibot, as_of: dt.date, goal: float) -> None:
    monday = as_of - dt.timedelta(days=as_of.weekday())
    fire_time = dt.datetime.combine(monday, dt.time(8), kpibot.org.tz)
    weekly = next(spec for spec in load_digests(CONFIG_DIR, kpibot.catalog).digests if spec.name == "weekly")
    specs = [
        weekly.model_copy(update={"audience": EACH_TEAM, "recipients": [CHANNEL]}),
        weekly.model_copy(update={"name": "weekly-org", "audience": ORG, "recipients": [CHANNEL]}),
    ]
    with kpibot.engine.begin() as connection:
        connection.execute(delete(Delivery).where(Delivery.key.like("digest:weekly%")))
    section = Section("4. Weekly digests: every team and the organisation", ["run", "digests", "seconds"])
    each: list[float] = []
    failed = 0
    with FakeSlack() as slack, stopwatch() as total:
        slack.add_channel(CHANNEL, "kpi-digests")
        for spec in specs:
            with stopwatch() as elapsed:
                start, started = len(slack.calls), time.time()  # the clock of the fake's Call.at
                outcomes = run_digest(kpibot, slack.client(), CONFIG_DIR, spec, fire_time)
            failed += sum(outcome.status != "sent" for outcome in outcomes)
            posts = [
                c.at for c in slack.calls[start:] if c.method == "chat.postMessage" and "thread_ts" not in c.params
            ]
            each += [later - earlier for earlier, later in zip([started, *posts], posts, strict=False)]
            section.add(spec.audience, len(outcomes), f"{elapsed():.1f}")
    section.add("all", len(each), f"{total():.1f}")
    section.notes.append(
        f"Sent on {monday} for the week before, with Block Kit, thread replies and both charts (built by worker "
        f"processes). Per digest: p50 {ms(median(each))} ms, p95 {ms(percentile(each, 95))} ms, max "
        f"{ms(max(each, default=float('nan')))} ms. Failed deliveries: {failed}."
    )
    report.add(section)
    met = total() <= goal and not failed
    report.check("weekly digests, all teams and the org", f"<= {goal:.0f} s", f"{total():.1f} s", met)
