"""A small-world builder for tests: a few people, deals and activities written in one readable block.

    world = World(session)
    west = world.team("West")
    alice = world.rep("Alice", team=west)
    world.deal(alice, 1000, "won", closed="2017-05-31 23:59")
    world.commit()

Dates are strings ("2017-05-31" or "2017-05-31 23:59") in UTC unless the test's org says otherwise.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.orm import Session

from kpi import generation, rollups
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
    Team,
)


def when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    return dt.datetime.fromisoformat(text)


def day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


class World:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._ids = itertools.count(1)

    def _add(self, record):
        if hasattr(record, "crm_id") and record.crm_id is None:
            record.crm_id = f"t{next(self._ids)}"
        self.session.add(record)
        self.session.flush()
        return record

    def commit(self) -> None:
        """Commit what was added, advancing the data generation and refreshing the rollups (kpi/rollups.py) as
        every writer of the data does; people and teams may be among it (a directory reloads)."""
        self.session.flush()
        rollups.refill(self.session.connection())
        generation.advance(self.session.connection(), directory=True)
        self.session.commit()

    def team(self, name: str, parent: Team | None = None, manager: Rep | None = None) -> Team:
        return self._add(
            Team(name=name, parent_id=parent.id if parent else None, manager_id=manager.id if manager else None)
        )

    def manage(self, team: Team, manager: Rep) -> None:
        team.manager_id = manager.id
        self.session.flush()

    def rep(
        self,
        name: str,
        team: Team | None = None,
        role: str = "rep",
        email: str | None = None,
        hired: str | None = None,
        left: str | None = None,
    ) -> Rep:
        email = email or f"{name.lower().replace(' ', '.')}@example.com"
        return self._add(
            Rep(
                name=name,
                email=email,
                team_id=team.id if team else None,
                role=role,
                hired_at=day(hired),
                left_at=day(left),
                active=left is None,
            )
        )

    def two_teams(self) -> dict[str, Team]:
        """The org the target tests set targets in: West (managed by Morgan, with a sub-team West Enterprise)
        and East (managed by Evan), an admin, and reps Alice and Bob (West), Wendy (Enterprise), Erin (East)."""
        west, east = self.team("West"), self.team("East")
        enterprise = self.team("West Enterprise", parent=west)
        self.manage(west, self.rep("Morgan Manager", team=west, role="manager", email="manager@example.com"))
        self.manage(east, self.rep("Evan East", team=east, role="manager"))
        self.rep("Ada Admin", role="admin", email="admin@example.com")
        self.rep("Alice Adams", team=west, email="alice@example.com")
        self.rep("Bob Brown", team=west)
        self.rep("Wendy Wu", team=enterprise)
        self.rep("Erin Evans", team=east)
        return {"West": west, "East": east, "West Enterprise": enterprise}

    def account(
        self,
        name: str,
        owner: Rep | None = None,
        customer_since: str | None = None,
        churned: str | None = None,
    ) -> Account:
        return self._add(
            Account(
                name=name,
                owner_id=owner.id if owner else None,
                became_customer_at=when(customer_since),
                churned_at=when(churned),
            )
        )

    def deal(
        self,
        owner: Rep,
        amount: float | str | None,
        status: str = "open",
        *,
        closed: str | None = None,
        created: str | None = "2017-01-01",
        account: Account | None = None,
        cost: float | str | None = None,
        type: str = "new",
        probability: float | None = None,
        months: int | None = None,
        deleted: bool = False,
    ) -> Deal:
        return self._add(
            Deal(
                owner_id=owner.id,
                account_id=account.id if account else None,
                amount=None if amount is None else Decimal(str(amount)),
                cost=None if cost is None else Decimal(str(cost)),
                status=status,
                stage={"won": "Closed Won", "lost": "Closed Lost"}.get(status, "Proposal"),
                type=type,
                probability=None if probability is None else Decimal(str(probability)),
                contract_months=months,
                created_at=when(created),
                close_date=when(closed),
                deleted_at=dt.datetime(2020, 1, 1) if deleted else None,
            )
        )

    def activity(self, owner: Rep, type: str, occurred: str, created: str | None = None) -> Activity:
        return self._add(
            Activity(owner_id=owner.id, type=type, occurred_at=when(occurred), created_at=when(created or occurred))
        )

    def quote(self, owner: Rep, sent: str, amount: float = 100) -> Quote:
        return self._add(Quote(owner_id=owner.id, sent_at=when(sent), amount=Decimal(str(amount))))

    def lead(
        self,
        owner: Rep,
        created: str,
        *,
        source: str = "website",
        mql: str | None = None,
        sql: str | None = None,
        converted: str | None = None,
        deal: Deal | None = None,
        disqualified: str | None = None,
    ) -> Lead:
        return self._add(
            Lead(
                owner_id=owner.id,
                lead_source=source,
                created_at=when(created),
                mql_at=when(mql),
                sql_at=when(sql),
                converted_at=when(converted),
                converted_deal_id=deal.id if deal else None,
                disqualified_at=when(disqualified),
                status="converted" if converted else "disqualified" if disqualified else "open",
            )
        )

    def spend(self, amount: float, start: str, end: str, team: Team | None = None) -> MarketingSpend:
        return self._add(
            MarketingSpend(
                team_id=team.id if team else None,
                period_start=day(start),
                period_end=day(end),
                amount=Decimal(str(amount)),
            )
        )

    def nps(self, account: Account, score: int, answered: str) -> NpsResponse:
        return self._add(NpsResponse(account_id=account.id, score=score, answered_at=when(answered)))

    def forecast(self, owner: Rep, amount: float, start: str, end: str, submitted: str) -> Forecast:
        return self._add(
            Forecast(
                owner_id=owner.id,
                period_start=day(start),
                period_end=day(end),
                amount=Decimal(str(amount)),
                submitted_at=when(submitted),
            )
        )

    def target(
        self,
        kpi: str,
        value: float,
        start: str,
        end: str,
        *,
        rep: Rep | None = None,
        team: Team | None = None,
    ) -> Target:
        scope_type, scope_id = ("rep", rep.id) if rep else ("team", team.id) if team else ("org", None)
        return self._add(
            Target(
                kpi=kpi,
                scope_type=scope_type,
                scope_id=scope_id,
                period_start=day(start),
                period_end=day(end),
                value=Decimal(str(value)),
            )
        )
