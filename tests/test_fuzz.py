"""Fuzzing the running server with what Slack sends, broken: every request gets 200, 400, 401 or 413, never 500, and
nothing reaches a channel that the sender could not have caused by pressing Share in channel themselves.

Payloads are built from the real shapes (a slash command, a Share press, a period choice, a targets form, an App Home
event), then a field is dropped, retyped or oversized, and the result is signed as Slack signs it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_server_hardening import raw, served, signed, slack  # noqa: F401  (fixtures)

USER = "U0ALICE"
SHARE = {"k": "value", "kpi": "revenue", "s": "me", "p": "2017-Q2", "q": "my revenue 2017-Q2"}


def shapes(response_url: str) -> dict[str, dict[str, Any]]:
    """The payloads of every kind kpibot listens to, as Slack sends them."""
    action = {"type": "block_actions", "user": {"id": USER}, "team": {"id": "T0"}, "channel": {"id": "C0SALES"},
              "container": {"type": "message", "channel_id": "C0SALES"}, "response_url": response_url,
              "trigger_id": "4.5.6"}  # fmt: skip
    return {
        "command": {
            "token": "legacy",
            "team_id": "T0",
            "channel_id": "C0SALES",
            "user_id": USER,
            "command": "/kpi",
            "text": "my revenue 2017-Q2",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        },  # fmt: skip
        "share": {
            **action,
            "actions": [{"action_id": "kpi_share", "block_id": "kpi_answer_actions", "value": json.dumps(SHARE)}],
        },  # fmt: skip
        "period": {
            **action,
            "actions": [
                {
                    "action_id": "kpi_period",
                    "block_id": "kpi_answer_actions",
                    "selected_option": {"value": json.dumps({**SHARE, "p": "this month"})},
                }
            ],
        },  # fmt: skip
        "targets": {
            "type": "view_submission",
            "user": {"id": USER},
            "team": {"id": "T0"},
            "view": {
                "type": "modal",
                "callback_id": "kpi_targets",
                "state": {
                    "values": {
                        "who": {"who": {"type": "external_select", "selected_option": {"value": "org"}}},
                        "period": {
                            "period": {"type": "static_select", "selected_option": {"value": "2026-02-30/2026-04-01"}}
                        },
                    }
                },
            },
        },  # fmt: skip
        "home": {
            "type": "event_callback",
            "team_id": "T0",
            "event": {"type": "app_home_opened", "user": USER, "tab": "home"},
        },
    }


ODD_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.text(max_size=30),
    st.text(alphabet="x<>!@&*", min_size=1000, max_size=70_000),
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside a payload."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((*prefix, key))
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutate(payload: dict[str, Any], path: tuple, how: str, value: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(payload))
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if how == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return payload


def encode(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    if kind == "command":
        return urlencode(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
        ), "application/x-www-form-urlencoded"
    if kind == "home":
        return json.dumps(payload), "application/json"
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


#: The suite runs a fixed, bounded set of examples (derandomized: the same on every run, so CI is stable);
#: ``KPIBOT_FUZZ_EXAMPLES=2000`` searches afresh and longer.
LONGER = int(os.environ.get("KPIBOT_FUZZ_EXAMPLES", "0"))


@settings(max_examples=LONGER or 80, derandomize=not LONGER, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_broken_slack_payloads_never_get_a_500_or_post_to_a_channel(served, slack, data):  # noqa: F811
    base = served[0]
    kind = data.draw(st.sampled_from(["command", "share", "period", "targets", "home"]))
    payload = shapes(slack.response_url())[kind]
    path = data.draw(st.sampled_from(paths(payload)))
    how = data.draw(st.sampled_from(["drop", "retype"]))
    broken = mutate(payload, path, how, data.draw(ODD_VALUES) if how == "retype" else None)
    body, content_type = encode(kind, broken)
    before = len(slack.messages)

    status, _ = raw(base, body.encode(), signed(body, content_type))
    if status == 200:  # what runs after the acknowledgement gets a moment to post (a refused request never ran)
        time.sleep(0.05)  # a pause, not a wait: no event marks the end of a payload no listener takes

    assert status in (200, 400, 401, 413), (kind, path, how)
    for message in slack.messages[before:]:  # only a Share, as the sender, to the channel it was pressed in
        assert (kind, message["channel"]) == ("share", "C0SALES") and "<!" not in json.dumps(message)
