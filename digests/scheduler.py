"""`kpibot schedule`: the worker that fires digests, celebrations and the periodic sync.

Every worker runs the same APScheduler jobs; each job does its work only while this worker leads
(:mod:`digests.leader`), and every post goes through :mod:`digests.deliveries`, so two workers, a restart or a
job firing twice never post twice. A follower checks every few seconds and takes over when the leader dies.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient

from crm.interface import SyncReport
from digests.alerts import check_alerts
from digests.celebrations import celebrate, crossings, message
from digests.deliveries import STALE_SENDING, Outcome, Rebuilt, resolve_pending
from digests.schedule_config import ScheduleConfig
from digests.subscriptions import rebuilder as subscription_rebuilder
from digests.subscriptions import run_due
from kpi.locks import DatabaseLock
from kpi.service import Kpibot
from slackui.text import escape

log = logging.getLogger("kpibot.scheduler")
#: What the subscriptions job looks back over at least: a minute between wakes, and a late wake.
SUBSCRIPTION_WINDOW = dt.timedelta(minutes=2)


@dataclass
class Job:
    """A scheduled piece of work: ``run(fire_time)`` returns the deliveries it attempted."""

    name: str
    trigger: BaseTrigger
    run: Callable[[dt.datetime], list[Outcome]]
    catch_up: bool = False  # run a time missed while no worker led, if within the grace time

    def latest_fire_time(self, now: dt.datetime, lookback: dt.timedelta = dt.timedelta(days=32)) -> dt.datetime | None:
        fire, latest = self.trigger.get_next_fire_time(None, now - lookback), None
        while fire is not None and fire <= now:
            latest = fire
            fire = self.trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
        return latest


@dataclass
class Worker:
    kpibot: Kpibot
    client: WebClient
    config: ScheduleConfig
    config_dir: Path
    extra_jobs: list[Job] = field(default_factory=list)
    rebuilders: list[Callable[[str], Rebuilt | None]] = field(default_factory=list)
    leading: bool = False

    def __post_init__(self) -> None:
        self.leadership = DatabaseLock(self.kpibot.engine, "scheduler")

    # --- leadership --------------------------------------------------------------------------------------

    def check_leadership(self) -> None:
        was_leading, self.leading = self.leading, self.leadership.try_acquire()
        if self.leading and not was_leading:
            log.info("became the leader", extra={"worker": self.leadership.holder})
            self.on_leadership()
        elif was_leading and not self.leading:
            log.warning("lost the leadership", extra={"worker": self.leadership.holder})

    def on_leadership(self) -> None:
        """Settle posts a crashed leader left half-done, then catch up on what is due."""
        resolve_pending(self.kpibot.engine, self.client, self.rebuild)
        now = dt.datetime.now(self.kpibot.org.tz)
        grace = dt.timedelta(minutes=self.config.grace_minutes)
        for job in self.jobs():
            latest = job.latest_fire_time(now) if job.catch_up else None
            if latest is None:
                continue
            if now - latest <= grace:  # deliveries already made are recognised by their keys
                self.report_failures(job.name, job.run(latest))
            else:
                log.info("missed run skipped: older than the grace time", extra={"command": job.name})
        self.report_failures("subscriptions", self.run_subscriptions(now))  # its window is the grace time
        self.run_celebrations(now)

    def rebuild(self, key: str) -> Rebuilt | None:
        """Recreate the message of a key to settle or retry: a celebration here, a digest through ``rebuilders``."""
        cfg = self.config.celebrations
        as_of = self.kpibot.calendar.today()
        for crossing in crossings(self.kpibot, cfg.thresholds, as_of, cfg.kpis):
            if crossing.key == key:
                return message(crossing, self.kpibot.org.currency), None
        rebuilders = [*self.rebuilders, subscription_rebuilder(self.kpibot, self.config_dir)]
        return next((found for rebuild in rebuilders if (found := rebuild(key)) is not None), None)

    # --- jobs --------------------------------------------------------------------------------------------

    def only_when_leading(self, job: Job) -> Callable[[], None]:
        def fire() -> None:
            if not self.leading:
                return
            try:
                self.kpibot.refresh_directory()
                outcomes = job.run(dt.datetime.now(dt.UTC))
            except Exception:
                log.exception("job failed", extra={"command": job.name})
                return
            self.report_failures(job.name, outcomes)

        return fire

    def run_celebrations(self, _fire_time: dt.datetime) -> list[Outcome]:
        cfg = self.config.celebrations
        if not cfg.channel:
            return []
        return celebrate(
            self.kpibot,
            self.client,
            cfg.channel,
            self.kpibot.calendar.today(),
            cfg.thresholds,
            cfg.kpis,
            cfg.big_deal_amount,
        )

    def run_subscriptions(self, fire_time: dt.datetime) -> list[Outcome]:
        """The subscriptions due at ``fire_time``, each at its subscriber's local time (digests/subscriptions.py).

        The job wakes every minute, so what fell due since the last wake is always within the window."""
        grace = max(dt.timedelta(minutes=self.config.grace_minutes), SUBSCRIPTION_WINDOW)
        return run_due(self.kpibot, self.client, self.config_dir, fire_time, grace)

    def settle_deliveries(self, _fire_time: dt.datetime) -> list[Outcome]:
        """Settle the posts left unconfirmed and retry the failed ones that are due (digests/deliveries.py)."""
        return resolve_pending(self.kpibot.engine, self.client, self.rebuild)

    def run_sync(self, fire_time: dt.datetime) -> list[Outcome]:
        """Sync crm.yaml's source (incremental, or a due full reconcile), then celebrate what it crossed and check
        the goal alerts.

        A sync still running (started by hand, or by a worker that lost the lead) is left to finish.
        """
        from crm.sources import load_crm, sync_source
        from crm.sync import SyncBusy
        from kpi.config import load_people

        try:
            report = sync_source(
                self.kpibot.engine,
                load_crm(self.config_dir),
                directory=self.config_dir,
                people=load_people(self.config_dir),
            )
        except SyncBusy as busy:
            log.info("sync skipped", extra={"command": "sync", "detail": str(busy)})
            return []
        log.info("synced", extra={"command": "sync", "detail": " | ".join(report.lines())})
        if (report.status != "ok" or report.rejected) and self.config.failure_channel:
            self.client.chat_postMessage(channel=self.config.failure_channel, text=sync_notice(report))
        self.kpibot.reload_directory()
        alerts = check_alerts(self.kpibot, self.client, self.config.alerts.rearm_margin)
        return self.run_celebrations(fire_time) + alerts

    def report_failures(self, job: str, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if o.status == "failed"]
        for outcome in failed:
            log.warning("post failed", extra={"command": job, "kpi": outcome.key, "question": outcome.error})
        if failed and self.config.failure_channel:
            lines = "\n".join(f"• `{escape(o.key, formatting=False)}`: {escape(o.error or '')}" for o in failed)
            self.client.chat_postMessage(channel=self.config.failure_channel, text=f"kpibot could not post:\n{lines}")

    def jobs(self) -> list[Job]:
        cfg = self.config
        jobs = [
            Job("celebrations", IntervalTrigger(seconds=cfg.celebrations.every_seconds), self.run_celebrations),
            Job("deliveries", IntervalTrigger(seconds=STALE_SENDING.total_seconds()), self.settle_deliveries),
            Job("subscriptions", IntervalTrigger(minutes=1), self.run_subscriptions),
        ]
        if cfg.sync:
            jobs.append(Job("sync", IntervalTrigger(minutes=cfg.sync.every_minutes), self.run_sync))
        return jobs + self.extra_jobs

    def scheduler(self) -> BlockingScheduler:
        scheduler = BlockingScheduler(timezone=self.kpibot.org.timezone)
        now = dt.datetime.now(self.kpibot.org.tz)
        scheduler.add_job(
            self.check_leadership,
            IntervalTrigger(seconds=self.config.leader_check_seconds),
            id="leadership",
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )
        grace = self.config.grace_minutes * 60 or None
        for job in self.jobs():
            scheduler.add_job(
                self.only_when_leading(job),
                job.trigger,
                id=job.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=grace,
            )
        return scheduler

    def run_forever(self) -> None:
        try:
            self.scheduler().start()
        finally:
            self.leadership.release()


def sync_notice(report: SyncReport) -> str:
    """The failure channel's notice of a sync that was refused, failed or rejected rows: what happened and
    the rejects per file with their first reasons (CRM text, escaped)."""
    if report.status == "ok":
        head = f"kpibot's {report.source} sync completed, but rejected rows: the numbers miss them."
    else:
        head = f"kpibot's {report.source} sync {report.status}: {report.error}"
    lines = [escape(line) for line in (head, *report.reject_lines())]
    return "\n".join([*lines, "Run `kpibot sync status` for the runs, and the rejects table for every row."])
