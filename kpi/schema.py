"""The canonical CRM schema: every connector writes these tables and every KPI reads them.

Conventions that the metrics compiler relies on:

* Timestamps (``*_at``, ``close_date``) are naive UTC ``DateTime`` values. Periods are computed in the
  organisation's time zone and converted to UTC bounds before they reach SQL, so SQLite and PostgreSQL
  compare the same values the same way.
* Calendar facts (hire dates, spend and target periods) are ``Date`` values in the organisation's time
  zone. Period ends stored in the database are *exclusive* (``[period_start, period_end)``), like the
  periods themselves.
* Money is ``Numeric(18, 2)``: exact to the cent.
* Every record that comes from a CRM keeps ``crm`` (the source name) and ``crm_id`` (the id in that
  source), unique together, so re-reading a record updates it. Deleted CRM records get ``deleted_at``
  and stop counting in every KPI.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kpi.delivery_state import ATTEMPT_OUTCOMES, DeliveryState

Money = Numeric(18, 2)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    __table__: ClassVar[Table]  # every model maps one table (SQLAlchemy types it as any FromClause)


#: The ``crm`` value of the teams and people that only people.yaml knows (crm/people.py writes them).
CONFIG_CRM = "config"


class FromCrm:
    """Columns shared by every record that a connector imports."""

    crm: Mapped[str] = mapped_column(String(32), default="local")
    crm_id: Mapped[str] = mapped_column(String(128))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Team(FromCrm, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id", use_alter=True))


class Rep(FromCrm, Base):
    """A person: a rep who owns records, a manager, or an admin (``role``)."""

    __tablename__ = "reps"
    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="rep")
    hired_at: Mapped[dt.date | None] = mapped_column(Date)
    left_at: Mapped[dt.date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Account(FromCrm, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"), index=True)
    segment: Mapped[str | None] = mapped_column(String(64))
    became_customer_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    churned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attributes: Mapped[dict | None] = mapped_column(JSON)


class Lead(FromCrm, Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        Index("ix_leads_owner_created", "owner_id", "created_at"),
        Index("ix_leads_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    name: Mapped[str | None] = mapped_column(String(300))
    lead_source: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    mql_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sql_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    converted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    disqualified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    converted_deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", use_alter=True))


class Deal(FromCrm, Base):
    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        # An owner's deals of a status by close date (migration 0018): a statement by owner and close date names
        # the status too.
        Index("ix_deals_owner_status_close", "owner_id", "status", "close_date"),
        # Every close-date KPI filters the status; the columns its KPIs aggregate are in the index (PostgreSQL's
        # INCLUDE), so that a period's edge days read no table page (migration 0011), and so is the creation time,
        # so that every rep's open pipeline reads none either (migration 0012).
        Index(
            "ix_deals_status_close",
            "status",
            "close_date",
            postgresql_include=["owner_id", "amount", "deleted_at", "created_at"],
        ),
        Index("ix_deals_owner_created", "owner_id", "created_at"),
        Index("ix_deals_created", "created_at"),
        Index("ix_deals_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str | None] = mapped_column(String(300))
    product: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    stage: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="open")
    type: Mapped[str] = mapped_column(String(16), default="new")
    probability: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    contract_months: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    close_date: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: When the deal entered its current stage: from the CRM when it says, else when a sync saw the change;
    #: None while unknown (a deal first seen in its stage, from a source that does not say since when).
    stage_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class DealStage(Base):
    """One stay of a deal in a stage, ``[entered_at, left_at)``; ``left_at`` None for the stage it is in now.

    ``origin`` says where the fact comes from: "crm" (the CRM's own stage history, or the time it gives for
    the current stage) or "sync" (a change the sync saw between two reads: its time is the sync's). An
    ``entered_at`` of None: the deal was in that stage when the sync first saw it, since a time nobody said.
    """

    __tablename__ = "deal_stage_history"
    __table_args__ = (Index("ix_deal_stage_history_deal", "deal_id", "entered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"))
    stage: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    origin: Mapped[str] = mapped_column(String(8))


class RecordLink(Base):
    """Where a source's records of one object open in its CRM: a URL template with ``{id}`` (the record's
    ``crm_id``) and, from a CSV mapping, other fields of the record (:mod:`kpi.links`). Learned by each sync
    (HubSpot's portal, Salesforce's instance, Pipedrive's company domain); no row, no link."""

    __tablename__ = "record_links"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    object: Mapped[str] = mapped_column(String(32), primary_key=True)
    template: Mapped[str] = mapped_column(String(1000))
    learned_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Activity(FromCrm, Base):
    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        Index("ix_activities_owner_type_occurred", "owner_id", "type", "occurred_at"),
        Index("ix_activities_type_occurred", "type", "occurred_at", postgresql_include=["owner_id", "deleted_at"]),
        Index("ix_activities_type_created", "type", "created_at", postgresql_include=["owner_id", "deleted_at"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    type: Mapped[str] = mapped_column(String(16))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Quote(FromCrm, Base):
    __tablename__ = "quotes"
    __table_args__ = (UniqueConstraint("crm", "crm_id"), Index("ix_quotes_owner_sent", "owner_id", "sent_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class MarketingSpend(FromCrm, Base):
    """Sales and marketing spend for a team (``team_id``) or the whole organisation (``NULL``)."""

    __tablename__ = "marketing_spend"
    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    period_start: Mapped[dt.date] = mapped_column(Date, index=True)
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)


class NpsResponse(FromCrm, Base):
    __tablename__ = "nps_responses"
    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class Forecast(FromCrm, Base):
    __tablename__ = "forecasts"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        Index("ix_forecasts_period", "period_start", "period_end", "owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Target(Base):
    """A target for one KPI, one scope (``rep``, ``team`` or ``org``) and one period ``[start, end)``."""

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("kpi", "scope_type", "scope_id", "period_start", "period_end"),
        Index("ix_targets_lookup", "kpi", "period_start", "period_end"),
        # The targets containing a period end after it: few, where those starting before it are every past one (a
        # year of weekly call targets for 10,000 reps, read whole to find none containing a month: 100 ms).
        Index("ix_targets_ends", "kpi", "period_end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kpi: Mapped[str] = mapped_column(String(64))
    scope_type: Mapped[str] = mapped_column(String(8))
    scope_id: Mapped[int | None] = mapped_column(Integer)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    set_by: Mapped[str | None] = mapped_column(String(320))
    set_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SyncState(Base):
    """The incremental-sync cursor of one object of one source."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("source", "object"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(String(64))
    cursor: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    full: Mapped[bool] = mapped_column(Boolean, default=False)  # a full reconcile (deletes what the source lacks)
    status: Mapped[str] = mapped_column(String(16), default="running")
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(2000))


class Reject(Base):
    """A source record that failed validation, kept with the reason so nothing is silently lost."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(1000))
    record: Mapped[dict | None] = mapped_column(JSON)


class SlackUser(Base):
    """A Slack member matched to a person by the email Slack gave, cached so users.info runs once per member."""

    __tablename__ = "slack_users"

    slack_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # the bot's IM channel with this member (D...), as Slack returned it for a post addressed to the member:
    # where the delivery ledger looks for a DM it could not confirm, without a conversations.open per member
    im_channel_id: Mapped[str | None] = mapped_column(String(32))


class SeenRequest(Base):
    """A signed Slack request already handled, by its signature, kept for the 5 minutes Slack's signature is
    valid: a replay of it (same body, same timestamp) is answered with no effect. A table, so that every
    server process sees what the others handled."""

    __tablename__ = "seen_requests"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


def _states(name: str, constraint: bool = True) -> Enum:
    """A column of :class:`DeliveryState` values stored as their strings, checked by the database (a CHECK
    constraint named ``ck_<table>_<name>``) unless the table checks it itself."""
    return Enum(
        DeliveryState,
        name=name,
        native_enum=False,
        create_constraint=constraint,
        length=16,
        values_callable=lambda states: [state.value for state in states],
    )


class Delivery(Base):
    """One Slack post, keyed for idempotency: the key is recorded before the post, so this row is what makes a
    celebration or a digest post once. Its ``status`` changes only as kpi/delivery_state.py allows; each post
    tried is a :class:`DeliveryAttempt`."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[DeliveryState] = mapped_column(_states("status"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # when the status last changed
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    channel: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))


class DeliveryAttempt(Base):
    """One post tried for a delivery: when it started and ended, and how (sent, failed with Slack's error, or
    unconfirmed), kept when the delivery is tried again."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_key", "number"),  # of two workers starting the same attempt, one fails
        CheckConstraint(f"outcome IN ({', '.join(repr(str(s)) for s in ATTEMPT_OUTCOMES)})", name="outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_key: Mapped[str] = mapped_column(ForeignKey("deliveries.key", ondelete="CASCADE"))  # part of it
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... in the order they were tried
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # None while it runs, or if its worker died
    outcome: Mapped[DeliveryState | None] = mapped_column(_states("outcome", constraint=False))
    error: Mapped[str | None] = mapped_column(String(1000))


class Lease(Base):
    """A named lease (the scheduler's leadership on SQLite, where there are no advisory locks)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class DataGeneration(Base):
    """The one row saying which state of the data answers are of (kpi/generation.py): ``number`` goes up with every
    committed change of the CRM copy, the targets or the people; ``epoch`` names this life of the database, so that
    a cache shared by two databases (or by one emptied and filled again) never mixes their answers."""

    __tablename__ = "data_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    number: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: The ``number`` of the last change to the people, the teams or the rollups built: what each process reloads.
    directory_number: Mapped[int] = mapped_column(Integer, server_default="0")
    #: The ``number`` of the last change whose owners are not all noted in :class:`ChangedOwner`.
    unknown_number: Mapped[int] = mapped_column(Integer, server_default="0")
    #: The ``number`` of the last change that may have changed the targets (the organisation's sums are kept until it).
    targets_number: Mapped[int] = mapped_column(Integer, server_default="0")


class ChangedOwner(Base):
    """An owner whose rows of one table a change of the data (``number``, as in :class:`DataGeneration`) wrote, before
    or after the write (``owner_id`` 0: rows of no owner): what a kept ranking measures again (kpi/kept_rankings.py)."""

    __tablename__ = "changed_owners"

    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class Subscription(Base):
    """A person's own digest, chosen in Slack (``/kpi subscribe``): which YAML digest's content, for whom
    (``me``, ``team:<id>``, ``person:<id>`` or ``org``, within what the subscriber may see), how often and
    at what local time in the subscriber's Slack time zone (refreshed from users.info daily), sent by DM or
    to a channel."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(32))
    cadence: Mapped[str] = mapped_column(String(8))
    time: Mapped[str] = mapped_column(String(5))  # HH:MM, local
    day: Mapped[str | None] = mapped_column(String(16))  # a weekday (weekly) or a day of the month (monthly)
    channel: Mapped[str | None] = mapped_column(String(64))  # None: by DM
    timezone: Mapped[str] = mapped_column(String(64))
    timezone_checked_at: Mapped[dt.datetime] = mapped_column(DateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Alert(Base):
    """A goal alert (``/kpi alert me when my pipeline drops below 50k``): the question it watches as its
    subscriber, which way and the threshold. It fires once per period when its condition becomes true, then
    stays disarmed until the condition is false again by the re-arm margin (``armed``); ``fired_period`` is the
    period it last fired in, and ``snoozed_until`` keeps it quiet until then."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), index=True)
    text: Mapped[str] = mapped_column(String(500))  # as typed
    query: Mapped[dict] = mapped_column(JSON)  # the watched question (kpi.grammar.queries.to_json)
    direction: Mapped[str] = mapped_column(String(8))  # below | above
    threshold: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    measure: Mapped[str] = mapped_column(String(16))  # value | attainment
    armed: Mapped[bool] = mapped_column(Boolean, default=True)
    fired_period: Mapped[str | None] = mapped_column(String(32))
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Rollup(Base):
    """A monthly partial aggregate of one additive measure for one owner (kpi/rollups.py): ``measure`` is the
    digest of the measure's definition (a changed kpis.yaml never reads another definition's partials),
    ``owner_id`` a rep id, or a team id for a team-owned model (NULL: the organisation, or no owner), ``month``
    the first local day of an org-calendar month. The compiler reads whole months here instead of the rows."""

    __tablename__ = "rollups"
    # The value too: an answer reads a measure's months from the index alone, whatever order the rows were written
    # in (by month and owner, for the sync's refresh; see kpi/rollups.py). Not also by owner: a sync's refresh then
    # rewrote pages all over a second index (10,000 changed deals: 7 -> 16 s); see compiler._rolled for teams.
    __table_args__ = (Index("ix_rollups_measure_month", "measure", "month", "owner_id", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measure: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    month: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[Decimal | None] = mapped_column(Numeric)


class RollupDay(Base):
    """The organisation's daily total of one additive measure (kpi/rollups.py): every owner's rows, and those of
    no owner, of one local day of the org calendar. An organisation-wide answer reads its period's days here,
    whatever the period (to date or whole, edges included), rather than the rows or every owner's months.
    ``rows`` counts what the total adds up (a sum's rows with a value, a count's rows), so that a sync can keep
    the day by adding and taking away the rows it changes, and a day nothing counts in has no row (its sum is
    NULL, as over the rows)."""

    __tablename__ = "rollup_days"

    measure: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal | None] = mapped_column(Numeric)
    rows: Mapped[int] = mapped_column(Integer)


class RollupOwner(Base):
    """Each owner's total, over all time, of a stock's flow (kpi/rollups.py): what ever entered a state (a deal into
    the pipeline) or left it, by owner (NULL: rows of no owner). An owner's stock at T is what entered less what
    left, less the few rows whose instants are at or after T: every rep's pipeline now is 10,000 of these rows
    rather than 260,000 open deals at 5M deals. ``rows`` counts what the total adds up, as in ``rollup_days``, so
    that a sync keeps it by adding and taking away the rows it changes, and an owner nothing counts for has no
    row."""

    __tablename__ = "rollup_owners"
    # Every owner's totals of a measure are one range of the index, read without the table.
    __table_args__ = (Index("ix_rollup_owners_measure", "measure", "owner_id", "value", "rows"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measure: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[Decimal | None] = mapped_column(Numeric)
    rows: Mapped[int] = mapped_column(Integer)


class RollupMeasure(Base):
    """A measure the rollups hold, and for which time zone's months: the compiler reads ``rollups`` for a measure
    only when its digest is here with the org's current time zone; otherwise it reads the rows. ``definition``
    is the measure itself, so that a sync maintains the rollups without the catalog."""

    __tablename__ = "rollup_measures"

    measure: Mapped[str] = mapped_column(String(32), primary_key=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSON)
    built_at: Mapped[dt.datetime] = mapped_column(DateTime)
