"""Targets: who, which KPI, which period and how much; validated, stored, loaded from YAML and CSV, listed.

A target is one row of the ``targets`` table: a KPI of the catalog, a scope (a person, a team or the whole
organisation), a period ``[start, end)`` and a value, with who set it and when. Setting a target again for
the same KPI, scope and period changes its value; setting the same value again changes nothing.

Targets come from three places, which all go through :func:`~kpi.targets.parsing.validate` and
:func:`~kpi.targets.storage.save`:

* ``config/targets.yaml`` (:mod:`~kpi.targets.files`): applied whole or not at all, so a typo never half-applies;
* a CSV file (:mod:`~kpi.targets.files`): bad rows are reported with their line number, the others imported;
* Slack (bot/targets_modal.py), where the person setting it must be allowed to
  (:func:`kpi.access.check_may_set_target`): admins for anyone, managers for the people and teams they
  manage, never for themselves.

Periods are named as in questions, but must not depend on today: ``2026-Q4``, ``November 2026``,
``2026-11``, ``FY2026``, ``H1 2026``, ``2026-10-01 to 2026-12-31`` or ``{start, end}`` (inclusive dates).
No Slack here: the bot and the command line translate to and from these functions.

The package holds one module per step: :mod:`.parsing` (the fields people write, checked), :mod:`.storage`
(the targets table), :mod:`.files` (targets.yaml and CSV) and :mod:`.progress` (each target against its KPI).
"""
