"""`kpibot deliveries`: what the worker posted lately, from the delivery ledger (digests/deliveries.py).

One line per delivery: its key (what was posted, to whom, for which period), its state, how many attempts it
took and the last attempt's error, so an admin sees a post Slack refused, or one left for review, without SQL.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.terminal import console
from kpi.delivery_state import DeliveryState


def deliveries(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many deliveries, latest change first.")] = 50,
    state: Annotated[DeliveryState | None, typer.Option("--state", help="Only deliveries in this state.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The worker's recent posts: state, attempts and the last error of each."""
    from digests.deliveries import recent
    from kpi.db import get_engine

    entries = recent(get_engine(create=False), limit, state)
    if as_json:
        rows = [
            {
                "key": entry.key,
                "state": str(entry.state),
                "attempts": entry.attempts,
                "channel": entry.channel,
                "ts": entry.ts,
                "created_at": entry.created_at.isoformat(),
                "updated_at": entry.updated_at.isoformat(),
                "last_error": entry.last_error,
            }
            for entry in entries
        ]
        print(json.dumps({"deliveries": rows}, indent=2))
        return
    if not entries:
        console.print("No deliveries yet: the worker (`kpibot schedule`) records every post it makes.")
        return
    table = Table("delivery", "state", "attempts", "changed (UTC)", "channel", "last error")
    for entry in entries:
        table.add_row(
            Text(entry.key),
            Text(entry.state, style=_STYLE[entry.state]),
            str(entry.attempts),
            f"{entry.updated_at:%Y-%m-%d %H:%M}",
            Text(entry.channel or ""),
            Text(entry.last_error or ""),
        )
    console.print(table)


_STYLE = {
    DeliveryState.SENT: "green",
    DeliveryState.SENDING: "",
    DeliveryState.UNCONFIRMED: "yellow",
    DeliveryState.FAILED: "red",
    DeliveryState.REVIEW: "bold red",
}
