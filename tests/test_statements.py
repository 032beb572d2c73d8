"""kpi/statements.py: a question's statement is built once for every scope of its kind, and run with each one's."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from kpi import access
from kpi.grammar.periods import parse_period
from kpi.metrics import Metrics
from kpi.periods import Calendar
from tests.test_kpis import CATALOG, of_rep, of_team

AS_OF = dt.date(2018, 1, 15)


def test_every_rep_asking_the_same_question_runs_one_statement_with_their_own_id(engine, world):
    west, east = world.team("West"), world.team("East")
    alice, bob, erin = (
        world.rep("Alice Adams", team=west),
        world.rep("Bob Brown", team=west),
        world.rep("Erin Evans", team=east),
    )
    world.deal(alice, 1000, "won", closed="2017-05-05")
    world.deal(bob, 3000, "won", closed="2017-05-06")
    world.deal(erin, 500, "won", closed="2017-05-07")
    world.target("revenue", 2000, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()
    metrics = Metrics(engine)
    period = parse_period("2017-Q2", Calendar(zoneinfo.ZoneInfo("UTC")), AS_OF)

    def revenue(scope):
        result = metrics.result(CATALOG["revenue"], period, scope, AS_OF, target=True)
        return result.value, result.target

    reps = [revenue(of_rep(engine, rep)) for rep in (alice, bob, erin)]
    kept_for_reps = len(metrics.statements)
    teams = [revenue(of_team(engine, team)) for team in (west, east)]
    org = revenue(access.org_scope())

    assert reps == [(1000, 2000), (3000, None), (500, None)]
    assert teams == [(4000, 2000), (500, None)]  # West's target: the sum of its reps'
    assert org == (4500, 2000)
    assert (kept_for_reps, len(metrics.statements)) == (1, 3)  # one per kind of scope
