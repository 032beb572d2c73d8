"""The states of a Slack delivery, and the one rule of which state may follow which.

After Apache Superset's report state machine (a report execution is WORKING, then SUCCESS or ERROR, and every
run is logged): a delivery is one row of the ``deliveries`` table, its state changes only along the arrows
below, and every post tried is a row of ``delivery_attempts``, never overwritten by the next one.

    (new) ──claim──▶ SENDING ──posted──▶ SENT
                        │ ├──Slack refused──▶ FAILED ──retried later (attempts left)──▶ SENDING
                        │ └──connection lost, or the worker died──▶ UNCONFIRMED
                        │                                            ├──found in the channel's history──▶ SENT
                        │                                            ├──not found: posted again──▶ SENDING
                        │                                            └──cannot post the same message again──▶ REVIEW

SENT and REVIEW are final: a sent post is never posted again, and a post kpibot can neither confirm nor
repeat faithfully is left for a person to look at (``kpibot deliveries``).
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    SENDING = "sending"  # claimed by a worker that is posting it now (or died doing so: stale)
    SENT = "sent"  # in Slack, with its ts
    FAILED = "failed"  # Slack refused the last attempt (the attempt holds Slack's error)
    UNCONFIRMED = "unconfirmed"  # perhaps in Slack: the channel's history says whether
    REVIEW = "review"  # neither confirmed nor repeatable: a person decides


#: The states an attempt ends in (``delivery_attempts.outcome``).
ATTEMPT_OUTCOMES = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNCONFIRMED)

_NEXT: dict[DeliveryState | None, frozenset[DeliveryState]] = {
    None: frozenset({DeliveryState.SENDING}),
    DeliveryState.SENDING: frozenset({DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNCONFIRMED}),
    DeliveryState.FAILED: frozenset({DeliveryState.SENDING}),
    DeliveryState.UNCONFIRMED: frozenset({DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.REVIEW}),
    DeliveryState.SENT: frozenset(),
    DeliveryState.REVIEW: frozenset(),
}


class IllegalTransition(Exception):
    """A change of state the machine does not allow: a bug in the caller, never a condition to handle."""


def check_transition(old: DeliveryState | None, new: DeliveryState) -> None:
    """Raise :class:`IllegalTransition` unless a delivery in state ``old`` (None: not recorded yet) may move
    to ``new``."""
    if new not in _NEXT[old]:
        raise IllegalTransition(f"a delivery cannot go from {old or 'nothing'} to {new}")
