"""The bot's IM channel with each member, learnt from the posts themselves rather than asked for.

Slack's chat.postMessage takes a member's user id as its channel: it posts into the bot's DM with them and answers
with the IM's id (``D...``). So a DM needs no conversations.open first, a Tier 3 method (some 50 calls a minute:
40 minutes for 2,000 first DMs on a Monday). The delivery ledger (digests/deliveries.py) addresses a DM to the user
id until Slack has named the IM, then keeps the IM's id here (``slack_users.im_channel_id``) and on the delivery:
it is where a post left unconfirmed is looked for. Only a DM lost before Slack ever answered one to that member
asks conversations.open, rarely, at the worker's pace for that tier (digests/ratelimit.py).
"""

from __future__ import annotations

import datetime as dt

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from kpi.schema import SlackUser

#: ``checked_at`` of a member kpibot has only DMed: never matched by email, so bot/identity.py, reading the row,
#: finds no person and a check long expired, and asks Slack for their email as for a member it never saw.
NEVER_CHECKED = dt.datetime(1970, 1, 1)


def is_member(address: str) -> bool:
    """Whether a post's address is a member's user id (``U...``, or ``W...`` on Enterprise Grid), not a channel."""
    return address[:1] in ("U", "W")


def address(engine: Engine, channel: str) -> str:
    """Where to post a message for ``channel``: a member's IM once Slack has named it, else ``channel`` itself."""
    return (known_im(engine, channel) if is_member(channel) else None) or channel


def known_im(engine: Engine, member: str) -> str | None:
    with engine.connect() as connection:
        query = select(SlackUser.im_channel_id).where(SlackUser.slack_user_id == member)
        return connection.execute(query).scalar_one_or_none()


def remember_im(engine: Engine, member: str, channel: str) -> None:
    """Keep the IM Slack posted ``member``'s DM in, on their slack_users row (added for a member the bot has never
    matched, e.g. one people.yaml names)."""
    keep = update(SlackUser).where(SlackUser.slack_user_id == member).values(im_channel_id=channel)
    with engine.begin() as connection:
        if connection.execute(keep).rowcount == 1:
            return
    try:
        with engine.begin() as connection:
            row = {"slack_user_id": member, "checked_at": NEVER_CHECKED, "im_channel_id": channel}
            connection.execute(insert(SlackUser).values(**row))
    except IntegrityError:  # matched by the bot meanwhile: its row now exists
        with engine.begin() as connection:
            connection.execute(keep)


def im_of(engine: Engine, client: WebClient, member: str) -> str | None:
    """The member's IM: the one kept, else conversations.open's (kept from then on); None when Slack refuses it
    (a deactivated member)."""
    found = known_im(engine, member)
    if found is not None:
        return found
    try:
        channel: str = client.conversations_open(users=member)["channel"]["id"]
    except SlackApiError:
        return None
    remember_im(engine, member, channel)
    return channel
