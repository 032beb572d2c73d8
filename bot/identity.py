"""Who is this Slack user in the CRM?

1. people.yaml's ``slack_user_id`` (applied to the person at every sync) wins;
2. else the email Slack gives (users.info, scope users:read.email) is matched to a person's email, and the
   match is cached in the ``slack_users`` table so Slack is asked once per member (a miss is re-checked
   after ten minutes, so an admin's fix takes effect without a restart).
"""

from __future__ import annotations

import datetime as dt
import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kpi.directory import Directory, Person
from kpi.periods import utc_now
from kpi.schema import SlackUser

RECHECK_MISSES_AFTER = dt.timedelta(minutes=10)
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


class Unmatched(LookupError):
    """A Slack user kpibot cannot tie to a person; the message tells the user what an admin must add."""


class Identities:
    def __init__(self, engine: Engine, client: WebClient) -> None:
        self.engine = engine
        self.client = client
        # Matches found by email, kept in memory with the email the person had (the slack_users row was otherwise a
        # query on every request). One still holds in a directory read again after a sync while the person of that
        # id has that email, so a sync or a demo that renumbers people is seen; the first question of each asker
        # after every sync was a query, a read of the row, before.
        self._matched: dict[str, tuple[int, str]] = {}

    def person(self, directory: Directory, slack_user_id: str) -> Person:
        person = directory.with_slack_id(slack_user_id)
        if person is not None:
            return person
        matched = self._matched.get(slack_user_id)
        if matched is not None:
            person = directory.people.get(matched[0])
            if person is not None and _email_of(person) == matched[1]:
                return person
        cached = self._cached(slack_user_id)
        if cached is not None and cached.rep_id in directory.people:
            return self._match(slack_user_id, directory.people[cached.rep_id])
        if cached is not None and utc_now() - cached.checked_at < RECHECK_MISSES_AFTER:
            raise Unmatched(_instructions(slack_user_id, cached.email))
        email = self._email(slack_user_id)
        matches = [p for p in directory.people.values() if email and _email_of(p) == email]
        if len(matches) > 1:  # answering as either one would show someone else's numbers
            raise Unmatched(_ambiguous(slack_user_id, email or "", matches))
        match = matches[0] if matches else None
        self._remember(slack_user_id, email, match.id if match else None)
        if match is None:
            raise Unmatched(_instructions(slack_user_id, email))
        return self._match(slack_user_id, match)

    def _match(self, slack_user_id: str, person: Person) -> Person:
        self._matched[slack_user_id] = (person.id, _email_of(person))
        return person

    def expand_mentions(self, directory: Directory, text: str) -> str:
        """Replace ``<@U123|alice>`` by the person's email, so the question grammar can find them."""

        def replace(match: re.Match[str]) -> str:
            try:
                person = self.person(directory, match.group(1))
            except Unmatched:
                return match.group(2) or match.group(1)
            return person.email or person.name

        return MENTION.sub(replace, text)

    def _email(self, slack_user_id: str) -> str | None:
        try:
            user = self.client.users_info(user=slack_user_id)["user"]
        except SlackApiError:
            return None
        email = (user.get("profile") or {}).get("email")
        return email.lower() if email else None

    def _cached(self, slack_user_id: str) -> SlackUser | None:
        """What was remembered about this Slack user (their person, or a miss and when it was checked), if any."""
        with Session(self.engine) as session:
            return session.get(SlackUser, slack_user_id)

    def _remember(self, slack_user_id: str, email: str | None, rep_id: int | None) -> None:
        values = {"slack_user_id": slack_user_id, "email": email, "rep_id": rep_id, "checked_at": utc_now()}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(SlackUser).values(values)
        statement = statement.on_conflict_do_update(index_elements=["slack_user_id"], set_=values)
        with self.engine.begin() as connection:
            connection.execute(statement)


def _email_of(person: Person) -> str:
    return (person.email or "").lower()


def _ambiguous(slack_user_id: str, email: str, people: list[Person]) -> str:
    names = sorted(person.name for person in people)
    return (
        f"Slack gives your email as {email}, and {len(people)} people in the CRM have it ({' and '.join(names)}), "
        "so I can't tell which one you are. Ask an admin to give each person their own email in the CRM, or to "
        f"pin you in config/people.yaml:\n```- name: {names[0]}\n  email: {email}\n  slack_user_id: {slack_user_id}```"
    )


def _instructions(slack_user_id: str, email: str | None) -> str:
    seen = (
        f"Slack gives your email as {email}, and nobody in the CRM has it."
        if email
        else ("Slack did not give me your email (the app needs the users:read.email scope).")
    )
    return (
        f"I don't know who you are in the CRM yet. {seen} Ask an admin to add you to config/people.yaml:\n"
        f"```- name: Your Name\n  email: {email or 'you@company.com'}\n  slack_user_id: {slack_user_id}```"
    )
