"""Semantic models: what a KPI definition can count or sum, and how each record is attributed.

A model turns canonical tables into rows with an ``owner_id`` (the rep a record counts for) or a
``team_id`` (for team-level facts such as marketing spend) and named columns, some of them derived for
the window being measured: ``open`` means "open at the end of the window", ``active_at_start`` means
"active when the window began", and so on. KPI definitions in kpis.yaml refer to these names only, so
the attribution and state rules of KPIS.md live here, once.

Models:

=========  ===========================================================================================
deals      every column of ``deals``; ``open`` (open at the window's end), ``won`` (won as of now),
           ``closes_in_period`` (close date inside the whole period), ``age_days`` (days open at the end)
leads      every column of ``leads``; ``open``, ``converted`` (as of now), ``deal_won`` (its converted
           deal has been won as of now), ``age_days``
activities every column of ``activities``
quotes     every column of ``quotes``
customers  accounts that became customers: ``customer_since`` (first won deal, unless the CRM says),
           ``churned_at``, ``active_at_start``, ``active_at_end``, ``active_during``; owned by the account
           owner, else by the owner of the deal that made them a customer
nps        ``nps_responses`` attributed like their account: ``score``, ``answered_at``
reps       people: ``role``, ``hired_at``, ``left_at``, ``active_at_start``, ``active_at_end``,
           ``active_during`` (a person is active from ``hired_at`` until the day before ``left_at``)
spend      ``marketing_spend``, owned by a team (or the organisation when ``team_id`` is empty)
forecasts  the latest forecast per rep for exactly this period, submitted before the period began
ramps      reps hired in the 24 months before the window's end: ``ramped``, ``ramp_days``
=========  ===========================================================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    Date,
    DateTime,
    FromClause,
    Integer,
    Join,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from kpi.periods import Period, utc_midnight
from kpi.schema import (
    Account,
    Activity,
    Deal,
    Forecast,
    Lead,
    MarketingSpend,
    NpsResponse,
    Quote,
    Rep,
    Target,
)
from kpi.sqlfuncs import days_between
from kpi.types import Role


@dataclass(frozen=True)
class Window:
    """The instants a measure needs, in the forms the database stores (naive UTC and local dates)."""

    period: Period
    start: dt.datetime
    end: dt.datetime
    full_end: dt.datetime
    now: dt.datetime
    ramp_threshold: float = 0.8

    @classmethod
    def of(cls, period: Period, now: dt.datetime, ramp_threshold: float = 0.8) -> Window:
        start, end = period.utc_bounds()
        full_end = utc_midnight(period.full_end, period.calendar.tz)
        return cls(period, start, end, full_end, now, ramp_threshold)

    @property
    def start_date(self) -> dt.date:
        return self.period.start

    @property
    def end_date(self) -> dt.date:
        return self.period.end

    def at(self, value: dt.datetime | dt.date) -> ColumnElement:
        """A bound parameter typed like the column it is compared with."""
        return literal(value, DateTime() if isinstance(value, dt.datetime) else Date())


#: One case of a derived column (:attr:`Model.cases`): the rows it covers, and its condition over them.
Case = tuple[ColumnElement, Callable[[], ColumnElement]]


@dataclass(frozen=True)
class Model:
    """One model built for one window.

    ``key`` is the column that attributes a row: a rep id when ``owned_by`` is "rep", a team id (NULL for
    the whole organisation) when it is "team".
    """

    source: FromClause
    key: ColumnElement
    columns: Mapping[str, ColumnElement]
    where: ColumnElement | None = None
    owned_by: Literal["rep", "team"] = "rep"
    #: A state at the window's end as two instants of each row: ``{state: (entered, left)}``, where the row is in
    #: the state at T when it entered before T and did not leave before T (left NULL: it has not). Both instants
    #: are columns of the model that depend on the row alone, so a stock becomes two additive flows that the
    #: organisation's daily rollups can hold (kpi/measures.py :func:`~kpi.measures.flows`).
    stocks: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    #: For each state of ``stocks``, the rows whose entering or leaving instant may be at or after T (and before
    #: a bound U, when given), as disjoint conditions that an index each reads as one range (the instants are
    #: expressions no index holds; as one OR, the planner read a whole index for it): each owner's stock at T is
    #: their totals of the flows, ever, less these rows' share (when T is now, the few rows dated ahead; else those
    #: up to the next month's start, U, and the owners' months from then on: kpi/compiler.py).
    later: Mapping[str, Callable[[ColumnElement, ColumnElement | None], tuple[ColumnElement, ...]]] = dataclasses.field(
        default_factory=dict
    )
    #: A derived boolean column as disjoint cases: ``{column: ((rows, holds), ...)}``, where the column holds for a
    #: row when, in the one case whose ``rows`` (a condition of the row alone) it is, ``holds()`` (of the window)
    #: does. "Open at T" is an OR (open, or won or lost on or after T) that no index range reads; each of its cases
    #: is one, so a scan of every owner's rows that all need the column reads each case on its own
    #: (:meth:`in_case`, kpi/compiler.py).
    cases: Mapping[str, tuple[Case, ...]] = dataclasses.field(default_factory=dict)

    def in_case(self, column: str, k: int) -> Model:
        """The model of the rows of ``column``'s ``k``-th case, where the column reads as that case's condition."""
        rows, holds = self.cases[column][k]
        plain = self.columns if isinstance(self.columns, Columns) else Columns(self.columns, {})
        where = rows if self.where is None else and_(self.where, rows)
        return dataclasses.replace(self, columns=plain.replaced(column, holds), where=where, cases={})


class Columns(Mapping[str, ColumnElement]):
    """A model's columns: its source's, and derived ones built on first use. A question reads one or two
    derived columns, and building all of them for every window was a tenth of a question's cost."""

    def __init__(self, plain: Mapping[str, ColumnElement], derived: Mapping[str, Callable[[], ColumnElement]]):
        self._built = dict(plain)
        self._derived = derived

    def __getitem__(self, name: str) -> ColumnElement:
        if name not in self._built:
            self._built[name] = self._derived[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._built, *self._derived]))

    def __len__(self) -> int:
        return len(set(self._built) | set(self._derived))

    def replaced(self, name: str, build: Callable[[], ColumnElement]) -> Columns:
        """These columns with ``name`` built by ``build`` instead."""
        return Columns({k: v for k, v in self._built.items() if k != name}, {**self._derived, name: build})


#: When a deal with no creation time entered the pipeline: before any period anyone asks about.
LONG_AGO = dt.datetime(1900, 1, 1)


def _either(cases: tuple[Case, ...]) -> ColumnElement:
    """The column the cases make up (:attr:`Model.cases`): a row in any case's rows for which it holds."""
    return or_(*(and_(rows, holds()) for rows, holds in cases))


def _columns(table: FromClause) -> dict[str, ColumnElement]:
    return {column.name: column for column in table.c}


def _rep_owned(table: FromClause, columns: Mapping[str, ColumnElement], where=None) -> Model:
    return Model(table, table.c.owner_id, columns, where)


def deals_model(w: Window) -> Model:
    d = Deal.__table__

    def entered() -> ColumnElement:
        return or_(d.c.created_at.is_(None), d.c.created_at < w.at(w.end))

    open_cases = (  # open at the window's end: the open deals, and those won or lost on or after it
        (d.c.status == "open", entered),
        (d.c.status.in_(("won", "lost")), lambda: and_(d.c.close_date >= w.at(w.end), entered())),
    )

    closed = and_(d.c.status.in_(("won", "lost")), d.c.close_date.is_not(None))
    derived = {
        "open": lambda: _either(open_cases),
        "won": lambda: and_(d.c.status == "won", d.c.close_date < w.at(w.now)),
        "closes_in_period": lambda: and_(d.c.close_date >= w.at(w.start), d.c.close_date < w.at(w.full_end)),
        "age_days": lambda: days_between(d.c.created_at, w.at(w.end)),
        # ``open`` as two instants of the deal, whatever the window: open at T <=> entered before T and not left
        # before T (a deal with no creation time has been open since before any period; it leaves when it closes,
        # or when it was created if its close date came first).
        "pipeline_entered": lambda: case(
            (or_(d.c.status == "open", closed), func.coalesce(d.c.created_at, literal(LONG_AGO, DateTime())))
        ),
        "pipeline_left": lambda: case(
            (closed, case((d.c.created_at > d.c.close_date, d.c.created_at), else_=d.c.close_date))
        ),
    }
    stocks = {"open": ("pipeline_entered", "pipeline_left")}

    # Entered at or after T (and before U): created then. Left then: won or lost, and created or closed then (either
    # instant may be the later one). The deals created then, and the others won or lost then.
    def later(t: ColumnElement, until: ColumnElement | None) -> tuple[ColumnElement, ...]:
        before = or_(d.c.created_at < t, d.c.created_at.is_(None))
        created, closed = (
            c >= t if until is None else and_(c >= t, c < until) for c in (d.c.created_at, d.c.close_date)
        )
        return created, and_(d.c.status.in_(("won", "lost")), closed, before)

    columns = Columns(_columns(d), derived)
    where = d.c.deleted_at.is_(None)
    return Model(d, d.c.owner_id, columns, where, stocks=stocks, later={"open": later}, cases={"open": open_cases})


@functools.cache
def _leads_with_deals() -> tuple[Join, FromClause]:
    """Leads joined to the deal they converted into. Built once, so that every window's model reads the same
    source and the compiler can measure several windows in one scan."""
    deal = Deal.__table__.alias("converted_deal")
    lead = Lead.__table__
    return lead.outerjoin(deal, and_(deal.c.id == lead.c.converted_deal_id, deal.c.deleted_at.is_(None))), deal


def leads_model(w: Window) -> Model:
    lead = Lead.__table__
    source, deal = _leads_with_deals()
    at, now = w.at(w.end), w.at(w.now)
    columns = _columns(lead)
    columns |= {
        "open": and_(
            lead.c.created_at < at,
            or_(lead.c.converted_at.is_(None), lead.c.converted_at >= at),
            or_(lead.c.disqualified_at.is_(None), lead.c.disqualified_at >= at),
        ),
        "converted": and_(lead.c.converted_at.is_not(None), lead.c.converted_at < now),
        "deal_won": and_(lead.c.converted_at < now, deal.c.status == "won", deal.c.close_date < now),
        "age_days": days_between(lead.c.created_at, at),
    }
    return Model(source, lead.c.owner_id, columns, lead.c.deleted_at.is_(None))


def activities_model(w: Window) -> Model:
    a = Activity.__table__
    return _rep_owned(a, _columns(a), a.c.deleted_at.is_(None))


def quotes_model(w: Window) -> Model:
    q = Quote.__table__
    return _rep_owned(q, _columns(q), q.c.deleted_at.is_(None))


@functools.cache
def _customers() -> FromClause:
    """Accounts that became customers, with the date and the owner that made them one (built once: one source
    for every window, see :func:`_leads_with_deals`)."""
    d = Deal.__table__
    ranked = (
        select(
            d.c.account_id,
            d.c.owner_id,
            d.c.close_date,
            func.row_number().over(partition_by=d.c.account_id, order_by=(d.c.close_date, d.c.id)).label("rank"),
        )
        .where(d.c.status == "won", d.c.deleted_at.is_(None), d.c.account_id.is_not(None))
        .subquery("won_deals")
    )
    a = Account.__table__
    first = select(ranked).where(ranked.c.rank == 1).subquery("first_win")
    since = func.coalesce(a.c.became_customer_at, first.c.close_date)
    return (
        select(
            a.c.id.label("account_id"),
            func.coalesce(a.c.owner_id, first.c.owner_id).label("owner_id"),
            since.label("customer_since"),
            a.c.churned_at,
            a.c.segment,
            a.c.name,  # the rest: for a list of the customers behind a number (kpi/records.py)
            a.c.crm,
            a.c.crm_id,
        )
        .select_from(a.outerjoin(first, first.c.account_id == a.c.id))
        .where(a.c.deleted_at.is_(None), since.is_not(None))
        .subquery("customers")
    )


def _active(since: ColumnElement, until: ColumnElement, w: Window, dates: bool) -> dict[str, ColumnElement]:
    """Active-at-start / at-end / during for records alive over ``[since, until)``."""
    if dates:  # a person hired on the first day is there at the start; one leaving that day is not
        start, end = w.at(w.start_date), w.at(w.end_date)
        began, lasted = since <= start, until > start
    else:  # a customer lost at the very instant the period starts is lost *in* the period
        start, end = w.at(w.start), w.at(w.end)
        began, lasted = since < start, until >= start
    return {
        "active_at_start": and_(or_(since.is_(None), began), or_(until.is_(None), lasted)),
        "active_at_end": and_(or_(since.is_(None), since < end), or_(until.is_(None), until >= end)),
        "active_during": and_(or_(since.is_(None), since < end), or_(until.is_(None), lasted)),
    }


def customers_model(w: Window) -> Model:
    c = _customers()
    columns = _columns(c) | _active(c.c.customer_since, c.c.churned_at, w, dates=False)
    return Model(c, c.c.owner_id, columns)


@functools.cache
def _nps_with_accounts() -> Join:
    """NPS answers with their account and its customer record (built once, see :func:`_leads_with_deals`)."""
    n, a, c = NpsResponse.__table__, Account.__table__, _customers()
    return n.outerjoin(a, a.c.id == n.c.account_id).outerjoin(c, c.c.account_id == n.c.account_id)


def nps_model(w: Window) -> Model:
    n, a, c = NpsResponse.__table__, Account.__table__, _customers()
    owner = func.coalesce(a.c.owner_id, c.c.owner_id)
    return Model(_nps_with_accounts(), owner, _columns(n), n.c.deleted_at.is_(None))


def reps_model(w: Window) -> Model:
    r = Rep.__table__
    columns = _columns(r) | _active(r.c.hired_at, r.c.left_at, w, dates=True)
    return Model(r, r.c.id, columns, r.c.deleted_at.is_(None))


def spend_model(w: Window) -> Model:
    s = MarketingSpend.__table__
    return Model(s, s.c.team_id, _columns(s), s.c.deleted_at.is_(None), owned_by="team")


def forecasts_model(w: Window) -> Model:
    f = Forecast.__table__
    ranked = (
        select(
            f,
            func.row_number()
            .over(partition_by=f.c.owner_id, order_by=(f.c.submitted_at.desc(), f.c.id.desc()))
            .label("rank"),
        )
        .where(
            f.c.deleted_at.is_(None),
            f.c.period_start == w.at(w.period.start),
            f.c.period_end == w.at(w.period.full_end),
            f.c.submitted_at < w.at(w.start),
        )
        .subquery("forecasts_before")
    )
    latest = select(ranked).where(ranked.c.rank == 1).subquery("latest_forecasts")
    return _rep_owned(latest, _columns(latest))


RAMP_LOOKBACK_MONTHS = 24


def ramps_model(w: Window) -> Model:
    """Each rep hired in the 24 months before the window's end, with the month they ramped (if any).

    Monthly revenue is bucketed with a calendar of month bounds computed in Python (in the org's time
    zone) and joined in SQL, so the query is the same on SQLite and PostgreSQL. A rep has ramped in the
    first month whose revenue reaches ``ramp_threshold`` x their monthly revenue target, or x the median
    monthly revenue of their team's active reps that month when they have no target.
    """
    r, d, t = Rep.__table__, Deal.__table__, Target.__table__
    earliest = w.end_date - relativedelta(months=RAMP_LOOKBACK_MONTHS)
    tz = w.period.calendar.tz
    rows = [
        select(
            literal(n, Integer).label("n"),
            w.at(first).label("first_day"),
            w.at(following).label("next_first_day"),
            w.at(utc_midnight(first, tz)).label("starts"),
            w.at(utc_midnight(following, tz)).label("ends"),
        )
        for n, (first, following) in enumerate(_month_calendar(w, earliest))
    ]
    calendar = rows[0].union_all(*rows[1:]).subquery("months")
    hired = (
        select(r.c.id, r.c.team_id, r.c.hired_at)
        .where(
            r.c.deleted_at.is_(None),
            r.c.role == Role.REP,
            r.c.hired_at >= w.at(earliest),
            r.c.hired_at < w.at(w.end_date),
        )
        .subquery("hired")
    )
    # Revenue of every active rep (hired or not within the window) per month: the team medians need all.
    rep_months = (
        select(
            r.c.id.label("rep_id"),
            r.c.team_id,
            calendar.c.n,
            calendar.c.first_day,
            calendar.c.next_first_day,
            func.coalesce(func.sum(d.c.amount), 0).label("revenue"),
        )
        .select_from(
            r.join(
                calendar,
                and_(
                    or_(r.c.hired_at.is_(None), r.c.hired_at < calendar.c.next_first_day),
                    or_(r.c.left_at.is_(None), r.c.left_at > calendar.c.first_day),
                ),
            ).outerjoin(
                d,
                and_(
                    d.c.owner_id == r.c.id,
                    d.c.status == "won",
                    d.c.deleted_at.is_(None),
                    d.c.close_date >= calendar.c.starts,
                    d.c.close_date < calendar.c.ends,
                    d.c.close_date < w.at(w.end),
                ),
            )
        )
        .where(r.c.deleted_at.is_(None), r.c.role == Role.REP)
        .group_by(r.c.id, r.c.team_id, calendar.c.n, calendar.c.first_day, calendar.c.next_first_day)
        .subquery("rep_months")
    )
    ordered = select(
        rep_months.c.team_id,
        rep_months.c.n,
        rep_months.c.revenue,
        func.row_number()
        .over(partition_by=(rep_months.c.team_id, rep_months.c.n), order_by=rep_months.c.revenue)
        .label("position"),
        func.count().over(partition_by=(rep_months.c.team_id, rep_months.c.n)).label("size"),
    ).subquery("ordered")
    middle = ordered.c.position.in_(((ordered.c.size + 1) // 2, (ordered.c.size + 2) // 2))
    medians = (
        select(ordered.c.team_id, ordered.c.n, func.avg(ordered.c.revenue).label("median"))
        .where(middle)
        .group_by(ordered.c.team_id, ordered.c.n)
        .subquery("team_medians")
    )
    target_length = days_between(t.c.period_start, t.c.period_end)
    month_length = days_between(rep_months.c.first_day, rep_months.c.next_first_day)
    monthly_target = (
        select(t.c.value * month_length / target_length)
        .where(
            t.c.kpi == "revenue",
            t.c.scope_type == "rep",
            t.c.scope_id == rep_months.c.rep_id,
            t.c.period_start <= rep_months.c.first_day,
            t.c.period_end >= rep_months.c.next_first_day,
        )
        .order_by(target_length)
        .limit(1)
        .scalar_subquery()
    )
    bar = w.ramp_threshold * func.coalesce(monthly_target, medians.c.median)
    ramp_months = (
        select(rep_months.c.rep_id, func.min(rep_months.c.next_first_day).label("ramped_on"))
        .select_from(
            rep_months.join(hired, hired.c.id == rep_months.c.rep_id).outerjoin(
                medians, and_(medians.c.team_id == rep_months.c.team_id, medians.c.n == rep_months.c.n)
            )
        )
        .where(rep_months.c.next_first_day > hired.c.hired_at, bar > 0, rep_months.c.revenue >= bar)
        .group_by(rep_months.c.rep_id)
        .subquery("ramp_months")
    )
    ramps = (
        select(
            hired.c.id.label("owner_id"),
            hired.c.hired_at,
            ramp_months.c.ramped_on,
            days_between(hired.c.hired_at, ramp_months.c.ramped_on).label("ramp_days"),
        )
        .select_from(hired.outerjoin(ramp_months, ramp_months.c.rep_id == hired.c.id))
        .subquery("ramps")
    )
    columns = _columns(ramps) | {"ramped": ramps.c.ramped_on.is_not(None)}
    return _rep_owned(ramps, columns)


def _month_calendar(w: Window, earliest: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Calendar months ``[first day, next first day)`` from the month of ``earliest`` to the window's end."""
    months, day = [], earliest.replace(day=1)
    while day < w.end_date:
        following = day + relativedelta(months=1)
        months.append((day, following))
        day = following
    return months


#: What each model is read from, for "has this CRM supplied any at all?" (a KPI over records never synced has
#: no value rather than 0), and how to name those records. People are always there; they are not checked.
SUPPLIED_BY: dict[str, tuple[FromClause, str]] = {
    "deals": (Deal.__table__, "deals"),
    "leads": (Lead.__table__, "leads"),
    "activities": (Activity.__table__, "activities"),
    "quotes": (Quote.__table__, "quotes"),
    "customers": (Account.__table__, "accounts"),
    "nps": (NpsResponse.__table__, "NPS answers"),
    "spend": (MarketingSpend.__table__, "marketing spend records"),
    "forecasts": (Forecast.__table__, "forecasts"),
}


def supplied(model: str) -> ColumnElement[bool]:
    """Whether any record of ``model`` (a key of :data:`SUPPLIED_BY`) was ever supplied, deleted ones included:
    they were synced. ``EXISTS`` stops at the first row: it costs an index probe."""
    return exists(select(literal(1)).select_from(SUPPLIED_BY[model][0])).label(f"supplied_{model}")


MODELS: dict[str, Callable[[Window], Model]] = {
    "deals": deals_model,
    "leads": leads_model,
    "activities": activities_model,
    "quotes": quotes_model,
    "customers": customers_model,
    "nps": nps_model,
    "reps": reps_model,
    "spend": spend_model,
    "forecasts": forecasts_model,
    "ramps": ramps_model,
}
