"""Demo data: a believable B2B sales organisation, generated fast and the same way every time.

Why it exists: ``kpibot demo``, the README walkthrough, the tests and the benchmarks all need a CRM copy that
exercises every KPI of KPIS.md (won, lost and open deals, funnels, activities, customers who churn, forecasts,
targets) without a CRM account. Why it looks like this:

* **Deterministic.** Everything comes from ``numpy.random.default_rng(seed)`` and is placed relative to
  ``as_of``; the wall clock is never read, so a seed and an as-of date always give the same rows.
* **Fast.** Every column is a numpy array built in one vectorised step (never a Python loop per deal or per
  activity) and rows get their ids here, so they can be bulk-written without round trips: chunked
  ``INSERT`` executemany in general, ``COPY`` on PostgreSQL. 2,000 reps over 24 months (about 1M deals, 5M
  activities) takes a few minutes on PostgreSQL.
* **Causal.** Records are simulated in the order real life makes them: reps are hired (and ramp up, and some
  leave); leads arrive and move through MQL, SQL and conversion; deals are opened by reps or by converted leads,
  and close won or lost after a cycle that depends on the segment; an account becomes a customer when its first
  deal is won, later deals on a customer are upsells, cross-sells or renewals, and some customers churn. Each
  outcome is drawn for the deal's whole life; what has not happened by the end of ``as_of`` is simply not
  visible yet (the deal is open, the lead has not converted). So nothing exists after ``as_of`` except the
  expected close dates of open deals (and targets/budgets for the current period, which are plans).

Time: the history runs from the first day of the month ``months`` months before as_of's month to the end of
``as_of``. The CRM starts empty then, so the first two or three months ramp up while the first deals close;
later periods are in a steady state. Moments are generated as *local* wall-clock seconds (office hours in
``timezone``, whole int64 seconds since 1970) and converted to naive UTC only when written, as kpi/schema.py
requires; calendar facts (hire dates, target and spend periods) are local dates with exclusive period ends.

The package, one module per thing it makes: ``assumptions`` (the rates, shares and names), ``calendar`` (day
numbers, moments, workdays), ``org`` (people and teams), ``pipeline`` (leads, deals, accounts, churn),
``activities`` (activities, quotes, NPS), ``plans`` (quotas, targets, forecasts, spend), ``world`` (all of it,
in order), ``rows`` (the table rows) and ``load`` (writing them through kpi/bulk.py, the CRM sync's bulk
loader too). Nothing in kpi/ imports it: the demo sits above the core, as a CRM connector does.
"""

from demo.load import DemoSummary, NotDemoData, generate

__all__ = ["DemoSummary", "NotDemoData", "generate"]
