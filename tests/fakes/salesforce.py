"""A fake Salesforce REST API on a local port: SOQL queries, getDeleted, describe and the OAuth token endpoint.

``with FakeSalesforce() as fake:`` serves ``fake.url`` from a thread, seeded with a few hundred records (see
:meth:`FakeSalesforce.seed`), or with :meth:`FakeSalesforce.load`'s translation of a
:class:`tests.fakes.business.Business`. What it does as Salesforce does, because the connector relies on it:

* ``Authorization: Bearer <TOKEN>`` on every ``/services/data`` request, else 401 ``INVALID_SESSION_ID``;
  ``POST /services/oauth2/token`` gives that token for the client-credentials grant (parameters in the
  query string or a form body, as Salesforce reads both);
* ``GET /services/data/v60.0/query?q=`` and ``/queryAll?q=`` run a real subset of SOQL: ``SELECT fields
  FROM Object [WHERE ...] [ORDER BY field [ASC|DESC], ...] [LIMIT n]``, conditions with ``= != < <= > >=``
  and ``IN (...)``, joined by ``AND`` or ``OR`` (mixing the two needs parentheses, as in SOQL), literals
  typed like the field (datetimes unquoted, text quoted, text compared case-insensitively). Anything else
  answers 400 ``MALFORMED_QUERY``; an unknown field ``INVALID_FIELD``, an unknown object ``INVALID_TYPE``;
* ``query`` leaves deleted records (``IsDeleted``) and archived activities (``IsArchived``) out,
  ``queryAll`` includes them; a record purged from the recycle bin is in neither;
* results are a snapshot taken when the query runs (a server-side cursor), paged by the ``batchSize`` of
  the ``Sforce-Query-Options`` header (200 to 2,000, default 2,000) through ``nextRecordsUrl``
  (``/services/data/v60.0/query/01g...-200``);
* ``GET /services/data/v60.0/sobjects/{Type}/deleted/?start=&end=`` answers from the delete log:
  ``{deletedRecords: [{id, deletedDate}], earliestDateAvailable, latestDateCovered}``; seconds are ignored,
  a window of a minute or less, or a start more than 15 days back, answers 400 ``INVALID_REPLICATION_DATE``;
* ``GET /services/data/v60.0/sobjects/{Type}/describe`` lists the fields (``CurrencyIsoCode`` on
  Opportunity only in a multi-currency org; ``LastStageChangeDate`` unless ``stage_dates=False``);
* an opportunity's ``LastStageChangeDate`` is empty until :meth:`FakeSalesforce.change_stage` moves it;
* every answer carries ``Sforce-Limit-Info: api-usage=N/M``; once ``api_used`` reaches ``api_limit``,
  requests answer 403 ``REQUEST_LIMIT_EXCEEDED``. Errors are Salesforce's ``[{"message", "errorCode"}]``.

Test controls (:mod:`tests.fakes.api`): ``rate_limit_once(path, status=429)`` (429, or 503, with
``Retry-After: 1`` or the ``headers`` given), ``fail_once(path)`` (500), ``fail_from(path, served)`` (503
once ``served`` more answers went out, until :meth:`mend`); a ``path`` ending in "/" matches every path
under it, so ``fail_from(f"{DATA}/query/", 0)`` breaks every next page. ``on_page(path, k, action)`` runs
``action`` right after the k-th answer to ``path`` (a change made *during* a sync).
Mutators: :meth:`add`, :meth:`update`, :meth:`change_stage`, :meth:`delete`, :meth:`undelete`,
:meth:`purge`; each stamps ``SystemModstamp`` with ``fake.clock`` and moves the clock one second on,
unless ``at`` is given. ``fake.requests`` lists every request, refused ones included.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from email.message import Message
from typing import Any

from tests.fakes import api
from tests.fakes.business import Business

API = "v60.0"
DATA = f"/services/data/{API}"
TOKEN_PATH = "/services/oauth2/token"
TOKEN = "00D5g0000000001!fake-access-token"
CLIENT_ID = "3MVG9fake.client.id"
CLIENT_SECRET = "fake-client-secret"

#: When the seeded records were last modified (spread over the next days) and when mutations begin.
SEEDED = dt.datetime(2026, 3, 25)
START = dt.datetime(2026, 4, 1, 9, 0)
#: The delete log of a fresh fake reaches back to this time (getDeleted's earliestDateAvailable).
DELETE_LOG_START = dt.datetime(2026, 3, 1)
#: How far back getDeleted answers, counted in days before the day of the call.
DELETE_LOG_DAYS = 15

#: The fields of each object served, with their Salesforce types.
SCHEMA: dict[str, dict[str, str]] = {
    "User": {
        "Id": "id",
        "Name": "string",
        "FirstName": "string",
        "LastName": "string",
        "Email": "email",
        "IsActive": "boolean",
        "UserType": "picklist",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "OpportunityStage": {
        "Id": "id",
        "ApiName": "string",
        "MasterLabel": "string",
        "IsActive": "boolean",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "DefaultProbability": "percent",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "Amount": "currency",
        "StageName": "picklist",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "Probability": "percent",
        "CloseDate": "date",
        "Type": "picklist",
        "OwnerId": "reference",
        "CurrencyIsoCode": "picklist",
        "LastStageChangeDate": "datetime",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "Lead": {
        "Id": "id",
        "FirstName": "string",
        "LastName": "string",
        "Name": "string",
        "OwnerId": "reference",
        "LeadSource": "picklist",
        "Status": "picklist",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "ConvertedOpportunityId": "reference",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "Task": {
        "Id": "id",
        "Subject": "string",
        "TaskSubtype": "picklist",
        "Status": "picklist",
        "IsClosed": "boolean",
        "OwnerId": "reference",
        "WhatId": "reference",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
    },
    "Event": {
        "Id": "id",
        "Subject": "string",
        "OwnerId": "reference",
        "WhatId": "reference",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
    },
}

#: The key prefix of each object's ids (Salesforce ids are globally unique: the prefix tells the object).
PREFIXES = {
    "User": "005",
    "OpportunityStage": "01J",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
}

#: Field types compared without regard to case (ids are compared as they are), and the numeric ones.
CASELESS = {"string", "email", "picklist"}
NUMBERS = {"currency", "percent"}


def sfid(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: the key prefix, then ``n``."""
    return f"{prefix}5g0000{n:06d}AAA"


#: The queue that owns some leads (a Group id: prefix 00G).
QUEUE = sfid("00G", 1)


def wire(value: Any) -> Any:
    """A stored value as Salesforce's JSON writes it: times as "2026-03-25T00:00:00.000+0000"."""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}+0000"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class Refused(api.Refused):
    """An answer other than 200, in Salesforce's error shape: ``[{"message", "errorCode"}]``."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, [{"message": message, "errorCode": code}], headers)


# -- SOQL ----------------------------------------------------------------------------------------------

_TOKENS = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<operator>>=|<=|!=|<>|=|<|>)
    | (?P<punctuation>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Soql:
    """A parsed query: what to select from which object, which records, in which order."""

    fields: list[str]
    sobject: str
    where: Predicate | None
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None

    def run(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [record for record in records if self.where is None or self.where(record)]
        for name, descending in reversed(self.order):  # stable sorts, last key first
            missing = [row for row in rows if row.get(name) is None]
            present = [row for row in rows if row.get(name) is not None]
            present.sort(key=operator.itemgetter(name), reverse=descending)
            rows = present + missing if descending else missing + present  # SOQL: nulls first when ASC
        return rows if self.limit is None else rows[: self.limit]


def parse_soql(text: str, schema: dict[str, dict[str, str]]) -> Soql:
    """Parse the SOQL subset the fake serves; :class:`Refused` with Salesforce's error codes otherwise."""
    return _Parser(text, schema).query()


class _Parser:
    def __init__(self, text: str, schema: dict[str, dict[str, str]]) -> None:
        self.text = text
        self.schema = schema
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while text[position:].strip():
            match = _TOKENS.match(text, position)
            if match is None or not match.lastgroup:
                raise self.malformed(text[position:].strip().split()[0])
            self.tokens.append((match.lastgroup, match[match.lastgroup]))
            position = match.end()
        self.position = 0
        self.sobject = ""
        self.fields: dict[str, str] = {}

    def query(self) -> Soql:
        self.keyword("SELECT")
        names = [self.word()]
        while self.accept(","):
            names.append(self.word())
        self.keyword("FROM")
        sobject = self.word()
        known = {name.lower(): name for name in self.schema}
        if sobject.lower() not in known:
            raise Refused(400, f"sObject type '{sobject}' is not supported.", "INVALID_TYPE")
        self.sobject = known[sobject.lower()]
        self.fields = self.schema[self.sobject]
        fields = [self.field(name) for name in names]
        where = self.expression() if self.accept_keyword("WHERE") else None
        order = []
        if self.accept_keyword("ORDER"):
            self.keyword("BY")
            while True:
                name = self.field(self.word())
                descending = self.accept_keyword("DESC")
                if not descending:
                    self.accept_keyword("ASC")
                order.append((name, descending))
                if not self.accept(","):
                    break
        limit = None
        if self.accept_keyword("LIMIT"):
            kind, value = self.next()
            if kind != "number" or not value.isdigit():
                raise self.malformed(value)
            limit = int(value)
        if self.position < len(self.tokens):
            raise self.malformed(self.tokens[self.position][1])
        return Soql(fields, self.sobject, where, order, limit)

    def expression(self) -> Predicate:
        """Conditions joined by AND or by OR: SOQL refuses both at one level without parentheses."""
        terms = [self.term()]
        joiner = None
        while self.peek_keyword() in ("AND", "OR"):
            word = self.next()[1].upper()
            if joiner not in (None, word):
                raise self.malformed(word)
            joiner = word
            terms.append(self.term())
        if joiner == "OR":
            return lambda record: any(term(record) for term in terms)
        return lambda record: all(term(record) for term in terms)

    def term(self) -> Predicate:
        if self.accept("("):
            inner = self.expression()
            self.expect(")")
            return inner
        name = self.field(self.word())
        kind = self.fields[name]
        if self.accept_keyword("IN"):
            self.expect("(")
            values = [self.literal(name)]
            while self.accept(","):
                values.append(self.literal(name))
            self.expect(")")
            wanted = {_comparable(value, kind) for value in values}
            return lambda record: _comparable(record.get(name), kind) in wanted
        token_kind, comparison = self.next()
        if token_kind != "operator":
            raise self.malformed(comparison)
        value = _comparable(self.literal(name), kind)
        return lambda record: _compare(_comparable(record.get(name), kind), comparison, value)

    def literal(self, name: str) -> Any:
        """A literal for field ``name``, typed as the field is (SOQL checks it against the field's type)."""
        kind = self.fields[name]
        token_kind, text = self.next()
        if token_kind == "word" and text.lower() == "null":
            return None
        expected = {"datetime": "datetime", "date": "date", "boolean": "word"}.get(kind)
        expected = expected or ("number" if kind in NUMBERS else "string")
        if token_kind != expected or (kind == "boolean" and text.lower() not in ("true", "false")):
            quoting = "be enclosed" if expected == "string" else "not be enclosed"
            message = (
                f"value of filter criterion for field '{name}' must be of type {kind} and should {quoting} in quotes"
            )
            raise Refused(400, message, "INVALID_FIELD")
        if kind == "datetime":
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment.astimezone(dt.UTC).replace(tzinfo=None)
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "boolean":
            return text.lower() == "true"
        if kind in NUMBERS:
            return Decimal(text)
        return re.sub(r"\\(.)", r"\1", text[1:-1])

    def field(self, name: str) -> str:
        """A field of the queried object, as the schema spells it (SOQL ignores case)."""
        known = {field.lower(): field for field in self.fields}
        if name.lower() not in known:
            raise Refused(400, f"No such column '{name}' on entity '{self.sobject}'.", "INVALID_FIELD")
        return known[name.lower()]

    # -- tokens --------------------------------------------------------------------------------------

    def next(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise Refused(400, "unexpected end of query", "MALFORMED_QUERY")
        self.position += 1
        return self.tokens[self.position - 1]

    def word(self) -> str:
        kind, text = self.next()
        if kind != "word":
            raise self.malformed(text)
        return text

    def peek_keyword(self) -> str | None:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "word":
            return self.tokens[self.position][1].upper()
        return None

    def keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            found = self.tokens[self.position][1] if self.position < len(self.tokens) else "end of query"
            raise self.malformed(found)

    def accept_keyword(self, word: str) -> bool:
        if self.peek_keyword() == word:
            self.position += 1
            return True
        return False

    def accept(self, punctuation: str) -> bool:
        if self.position < len(self.tokens) and self.tokens[self.position] == ("punctuation", punctuation):
            self.position += 1
            return True
        return False

    def expect(self, punctuation: str) -> None:
        if not self.accept(punctuation):
            raise self.malformed(self.tokens[self.position][1] if self.position < len(self.tokens) else "end")

    def malformed(self, token: str) -> Refused:
        return Refused(400, f"\n{self.text}\n^\nERROR at Row:1\nunexpected token: '{token}'", "MALFORMED_QUERY")


def _comparable(value: Any, kind: str) -> Any:
    """Text compares case-insensitively in SOQL; ids and everything else as they are."""
    return value.casefold() if isinstance(value, str) and kind in CASELESS else value


_ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _compare(left: Any, comparison: str, right: Any) -> bool:
    """SOQL's comparisons: null equals only null, and is neither smaller nor larger than anything."""
    if comparison in ("=", "!=", "<>"):
        return (left == right) == (comparison == "=")
    if left is None or right is None:
        return False
    return _ORDERINGS[comparison](left, right)


# -- the fake --------------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    """A query's snapshot, served page by page through its locator."""

    records: list[dict[str, Any]]
    batch: int


class FakeSalesforce(api.FakeApi):
    content_type = "application/json;charset=UTF-8"

    def __init__(self, *, seed: bool = True, multi_currency: bool = True, stage_dates: bool = True) -> None:
        super().__init__()
        self.schema = {name: dict(fields) for name, fields in SCHEMA.items()}
        if not multi_currency:
            del self.schema["Opportunity"]["CurrencyIsoCode"]
        if not stage_dates:
            del self.schema["Opportunity"]["LastStageChangeDate"]
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema}
        self.deletions: list[tuple[str, str, dt.datetime]] = []  # the delete log: (object, id, when)
        self.deletions_since = DELETE_LOG_START
        self.ids: dict[str, str] = {}  # business id -> Salesforce id, after load()
        self.clock = SEEDED
        self.api_used, self.api_limit = 0, 100_000
        self._numbers: dict[str, Iterator[int]] = collections.defaultdict(lambda: itertools.count(1))
        self._cursors: dict[str, _Cursor] = {}
        if seed:
            self.seed()
        self.clock = START

    # -- seeding -------------------------------------------------------------------------------------

    def seed(self) -> None:
        """The default org, about 480 records, modified between 25 and 29 March 2026 (ties included).

        * 7 users: 6 standard ones with non-ASCII names (Grace Hopper inactive), and the "Automated Process"
          user, which is not a person (``UserType`` AutomatedProcess);
        * 6 stages: Prospecting 10 %, Qualification 20 %, Proposal (labelled "Proposal/Price Quote") 60 %,
          Negotiation (labelled "Négociation/Review") 90 %, Closed Won, Closed Lost;
        * 250 opportunities, ``n`` = 1..250 (id ``sfid("006", n)``), owned by the first five users in turn,
          stage ``n % 6``, amount ``1000 + 10 n`` except n=1 (null), 2 (0), 3 (1200.5), 4 (12,345,678,901.23);
          n=6 is in a stage no longer in the stage list ("Legacy", closed and not won); n=100 and n=200 are
          deleted (in the recycle bin). Two by two they share a SystemModstamp, half an hour apart;
        * 120 tasks: calls unless n % 4 == 0 (emails), completed unless n % 5 == 0; the calls of n=1..3
          are archived, n=101 deleted; 60 events, n=1 archived, n=60 in May;
        * 40 leads, every tenth owned by a queue, every fourth converted into opportunity n; n=40 deleted.
        """
        users = [
            ("Zoë Ångström", "Zoë", "Ångström", "zoe@example.com", True),
            ("Björn Müller", "Björn", "Müller", "bjorn@example.com", True),
            ("José Núñez", "José", "Núñez", "jose@example.com", True),
            ("Ada Lovelace", "Ada", "Lovelace", "ada@example.com", True),
            ("Grace Hopper", "Grace", "Hopper", "grace@example.com", False),
            ("李 雷", "雷", "李", "li@example.com", True),  # family name first
        ]
        people = []
        for n, (name, first, last, email, active) in enumerate(users, 1):
            people.append(
                self.add(
                    "User",
                    at=SEEDED + dt.timedelta(minutes=10 * n),
                    Name=name,
                    FirstName=first,
                    LastName=last,
                    Email=email,
                    IsActive=active,
                    UserType="Standard",
                )
            )
        robot = dict(Name="Automated Process", LastName="Automated Process", IsActive=True, UserType="AutomatedProcess")
        self.add("User", at=SEEDED + dt.timedelta(minutes=70), **robot)
        stages = [
            ("Prospecting", "Prospecting", False, False, 10),
            ("Qualification", "Qualification", False, False, 20),
            ("Proposal", "Proposal/Price Quote", False, False, 60),
            ("Negotiation", "Négociation/Review", False, False, 90),
            ("Closed Won", "Closed Won", True, True, 100),
            ("Closed Lost", "Closed Lost", True, False, 0),
        ]
        for api_name, label, closed, won, probability in stages:
            self.add_stage(api_name, label, closed, won, Decimal(probability), at=SEEDED)
        amounts = {1: None, 2: Decimal(0), 3: Decimal("1200.5"), 4: Decimal("12345678901.23")}
        types = ["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement", None]
        opportunities = []
        for n in range(1, 251):
            api_name, _, closed, won, probability = stages[n % 6]
            day = 1 + n % 28
            fields = dict(
                Name="Contrat café — Zürich" if n == 1 else f"Opportunity {n}",
                Amount=amounts.get(n, Decimal(1000 + 10 * n)),
                StageName=api_name,
                IsClosed=closed,
                IsWon=won,
                Probability=Decimal(probability),
                CloseDate=dt.date(2026, 2 + n % 3, day),
                Type=types[n % 4],
                OwnerId=people[n % 5],
                CreatedDate=dt.datetime(2026, 1, day, 9, 30),
            )
            if n == 6:
                fields |= dict(StageName="Legacy", IsClosed=True, IsWon=False, Probability=Decimal(0))
            if "CurrencyIsoCode" in self.schema["Opportunity"]:
                fields["CurrencyIsoCode"] = "EUR" if n % 2 else "USD"
            at = SEEDED + dt.timedelta(minutes=30 * (n // 2))
            opportunities.append(self.add("Opportunity", at=at, **fields))
        for n in (100, 200):
            self.delete(opportunities[n - 1], at=SEEDED + dt.timedelta(minutes=30 * (n // 2)))
        for n in range(1, 121):
            day = 1 + n % 28
            done = n % 5 != 0
            task = self.add(
                "Task",
                at=SEEDED + dt.timedelta(days=1, minutes=20 * n),
                Subject=f"Appel {n}",
                TaskSubtype="Email" if n % 4 == 0 else "Call",
                Status="Completed" if done else "Not Started",
                IsClosed=done,
                OwnerId=people[n % 4],
                WhatId=opportunities[n - 1] if n % 3 else (sfid("001", n) if n % 2 else None),
                ActivityDate=dt.date(2026, 2, day),
                CompletedDateTime=dt.datetime(2026, 2, day, 14, 30) if done and n % 7 else None,
                CreatedDate=dt.datetime(2026, 2, day, 8, 0),
                IsArchived=n <= 3,
            )
            if n == 101:
                self.delete(task, at=SEEDED + dt.timedelta(days=1, minutes=20 * n))
        for n in range(1, 61):
            day = 1 + n % 28
            start = dt.datetime(2026, 5, 4, 10, 0) if n == 60 else dt.datetime(2026, 2, day, 10, 0)
            self.add(
                "Event",
                at=SEEDED + dt.timedelta(days=3, minutes=15 * n),
                Subject=f"Rendez-vous {n}",
                OwnerId=people[n % 4],
                WhatId=opportunities[2 * n - 1] if n % 2 else None,
                StartDateTime=start,
                EndDateTime=start + dt.timedelta(hours=1),
                CreatedDate=dt.datetime(2026, 1, day, 12, 0),
                IsArchived=n == 1,
            )
        sources = ["Web", "Partner Referral", "Employee Referral", "Phone Inquiry", None]
        for n in range(1, 41):
            converted = n % 4 == 0
            first, last = ("Léa" if n % 2 else "Sam"), f"Prospect {n}"
            lead = self.add(
                "Lead",
                at=SEEDED + dt.timedelta(days=4, minutes=10 * n),
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}",
                OwnerId=QUEUE if n % 10 == 0 else people[n % 4],
                LeadSource=sources[n % 5],
                Status="Closed - Converted" if converted else "Open - Not Contacted",
                IsConverted=converted,
                ConvertedDate=dt.date(2026, 2, n % 28 + 1) if converted else None,
                ConvertedOpportunityId=opportunities[n - 1] if converted else None,
                CreatedDate=dt.datetime(2026, 1, 1 + n % 28, 11, 0),
            )
            if n == 40:
                self.delete(lead, at=SEEDED + dt.timedelta(days=4, minutes=10 * n))

    def load(self, business: Business) -> None:
        """Replace every record with ``business``, in Salesforce's shapes: a user per person, a stage per
        business stage, an opportunity per sale, a call task (completed when done) or an event per touch,
        with ``WhatId`` its opportunity, and a lead per prospect (converted: ``IsConverted``,
        ``ConvertedDate``, ``ConvertedOpportunityId``). ``fake.ids`` maps business ids to Salesforce ids.
        Salesforce keeps close and conversion *dates*: times of day are lost.
        """
        with self.lock:
            self.tables = {name: {} for name in self.schema}
            self.deletions = []
            self._numbers.clear()
            self.clock = SEEDED
            ids = self.ids = {}
            for person in business.people:
                ids[person.id] = self.add(
                    "User",
                    Name=person.name,
                    FirstName=person.first_name,
                    LastName=person.last_name,
                    Email=person.email,
                    IsActive=person.active,
                    UserType="Standard",
                )
            for stage in business.stages:
                closed, won = stage.status != "open", stage.status == "won"
                self.add_stage(stage.label, stage.label, closed, won, stage.probability * 100)
            for sale in business.sales:
                fields = dict(
                    Name=sale.name,
                    Amount=sale.amount,
                    StageName=sale.stage,
                    IsClosed=sale.status != "open",
                    IsWon=sale.status == "won",
                    Probability=sale.probability * 100,
                    CloseDate=sale.closed.date() if sale.closed else None,
                    Type="New Customer",
                    OwnerId=ids[sale.owner],
                    CreatedDate=sale.created,
                )
                if "CurrencyIsoCode" in self.schema["Opportunity"]:
                    fields["CurrencyIsoCode"] = "USD"
                ids[sale.id] = self.add("Opportunity", **fields)
            for touch in business.touches:
                common = dict(OwnerId=ids[touch.owner], WhatId=ids.get(touch.sale), CreatedDate=touch.at)
                if touch.kind == "call":
                    ids[touch.id] = self.add(
                        "Task",
                        **common,
                        TaskSubtype="Call",
                        Status="Completed" if touch.done else "Not Started",
                        IsClosed=touch.done,
                        ActivityDate=touch.at.date(),
                        CompletedDateTime=touch.at if touch.done else None,
                    )
                else:
                    end = touch.at + dt.timedelta(hours=1)
                    ids[touch.id] = self.add("Event", **common, StartDateTime=touch.at, EndDateTime=end)
            for prospect in business.prospects:
                ids[prospect.id] = self.add(
                    "Lead",
                    FirstName=prospect.first_name,
                    LastName=prospect.last_name,
                    Name=f"{prospect.first_name} {prospect.last_name}",
                    OwnerId=ids[prospect.owner],
                    LeadSource=prospect.source,
                    Status="Closed - Converted" if prospect.converted else "Open - Not Contacted",
                    IsConverted=prospect.converted is not None,
                    ConvertedDate=prospect.converted.date() if prospect.converted else None,
                    ConvertedOpportunityId=ids.get(prospect.converted_sale) if prospect.converted_sale else None,
                    CreatedDate=prospect.created,
                )
            self.clock = START

    def add_stage(
        self, api_name: str, label: str, closed: bool, won: bool, probability: Decimal, *, at: dt.datetime | None = None
    ) -> str:
        return self.add(
            "OpportunityStage",
            at=at,
            ApiName=api_name,
            MasterLabel=label,
            IsActive=True,
            IsClosed=closed,
            IsWon=won,
            DefaultProbability=probability,
        )

    # -- changes between (or during) syncs ---------------------------------------------------------

    def add(self, sobject: str, *, at: dt.datetime | None = None, **fields: Any) -> str:
        """Create a record of ``sobject`` modified ``at`` (or now); returns its id."""
        with self.lock:
            stamp = self._stamp(at)
            record: dict[str, Any] = dict.fromkeys(self.schema[sobject])
            record |= {name: False for name in ("IsDeleted", "IsArchived") if name in record}
            prefix = PREFIXES[sobject]
            record |= {"Id": sfid(prefix, next(self._numbers[prefix])), "CreatedDate": stamp}
            for name in fields:
                if name not in record:
                    raise KeyError(f"{sobject} has no field {name!r}")
            record |= fields
            record["SystemModstamp"] = stamp
            self.tables[sobject][record["Id"]] = record
            return record["Id"]

    def record(self, record_id: str) -> dict[str, Any]:
        return self.tables[self._sobject(record_id)][record_id]

    def update(self, record_id: str, *, at: dt.datetime | None = None, **fields: Any) -> None:
        """Change some fields of a record (an owner, an amount...), as a user would."""
        with self.lock:
            record = self.record(record_id)
            for name in fields:
                if name not in record:
                    raise KeyError(f"{record_id} has no field {name!r}")
            record |= fields
            record["SystemModstamp"] = self._stamp(at)

    def change_stage(self, record_id: str, stage: str, *, at: dt.datetime | None = None) -> None:
        """Move an opportunity to ``stage`` (an ApiName): Salesforce sets IsClosed, IsWon and Probability."""
        with self.lock:
            row = next(row for row in self.tables["OpportunityStage"].values() if row["ApiName"] == stage)
            closed, won, probability = row["IsClosed"], row["IsWon"], row["DefaultProbability"]
            changes = dict(StageName=stage, IsClosed=closed, IsWon=won, Probability=probability)
            self.update(record_id, at=at, **changes)
            record = self.record(record_id)
            if "LastStageChangeDate" in record:
                record["LastStageChangeDate"] = record["SystemModstamp"]

    def delete(self, record_id: str, *, at: dt.datetime | None = None) -> None:
        """Move a record to the recycle bin: ``queryAll`` still lists it (IsDeleted), getDeleted too."""
        with self.lock:
            record = self.record(record_id)
            record["IsDeleted"] = True
            record["SystemModstamp"] = self._stamp(at)
            self.deletions.append((self._sobject(record_id), record_id, record["SystemModstamp"]))

    def undelete(self, record_id: str, *, at: dt.datetime | None = None) -> None:
        """Restore a record from the recycle bin (its old entry stays in the delete log)."""
        with self.lock:
            record = self.record(record_id)
            record["IsDeleted"] = False
            record["SystemModstamp"] = self._stamp(at)

    def purge(self, record_id: str, *, at: dt.datetime | None = None) -> None:
        """Delete a record for good (a hard delete, or an emptied recycle bin): only getDeleted lists it."""
        with self.lock:
            if not self.record(record_id)["IsDeleted"]:
                self.delete(record_id, at=at)
            del self.tables[self._sobject(record_id)][record_id]

    def forget_deletions(self, before: dt.datetime) -> None:
        """Salesforce purged its delete log up to ``before``: getDeleted's earliestDateAvailable moves there."""
        with self.lock:
            self.deletions = [entry for entry in self.deletions if entry[2] >= before]
            self.deletions_since = before

    def _stamp(self, at: dt.datetime | None) -> dt.datetime:
        if at is not None:
            return at
        stamp, self.clock = self.clock, self.clock + dt.timedelta(seconds=1)
        return stamp

    def _sobject(self, record_id: str) -> str:
        return next(name for name, prefix in PREFIXES.items() if record_id.startswith(prefix))

    # -- answering -----------------------------------------------------------------------------------

    def admit(self, request: api.Request) -> dict[str, str]:
        """The token endpoint asks for nothing; every other request for the token, and a request left for
        the day: each one counted in the ``Sforce-Limit-Info`` header every answer carries."""
        if request.path == TOKEN_PATH:
            return {}
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise Refused(401, "Session expired or invalid", "INVALID_SESSION_ID")
        if self.api_used >= self.api_limit:
            raise Refused(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED", self._usage())
        self.api_used += 1
        return self._usage()

    def _usage(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_limit}"}

    def refusal(self, status: int, limited: bool) -> api.Refused:
        if limited:
            code = "TOO_MANY_REQUESTS" if status == 429 else "SERVER_UNAVAILABLE"
            return Refused(status, "Too many requests, try again later", code, {"Retry-After": "1"})
        if status == 500:
            return Refused(500, "An unexpected error occurred.", "UNKNOWN_EXCEPTION")
        return Refused(status, "Service unavailable", "SERVER_UNAVAILABLE")

    def route(self, request: api.Request) -> api.Answer:
        if request.path == TOKEN_PATH:
            return self._token(request.method, request.params)
        return 200, {}, self._route(request.path, request.params, request.headers)

    def _route(self, path: str, params: dict[str, str], headers: Message) -> Any:
        match path.strip("/").split("/"):
            case ["services", "data", version, *_] if version != API:
                raise Refused(404, "The requested resource does not exist", "NOT_FOUND")
            case ["services", "data", _, "query" | "queryAll" as resource]:
                return self._query(resource, params.get("q", ""), headers.get("Sforce-Query-Options") or "")
            case ["services", "data", _, "query" | "queryAll", locator]:
                return self._more(locator)
            case ["services", "data", _, "sobjects", sobject, "describe"] if sobject in self.schema:
                fields = [{"name": name, "type": kind} for name, kind in self.schema[sobject].items()]
                return {"name": sobject, "fields": fields}
            case ["services", "data", _, "sobjects", sobject, "deleted"] if sobject in self.schema:
                return self._deleted(sobject, params)
        raise Refused(404, "The requested resource does not exist", "NOT_FOUND")

    def _query(self, resource: str, soql: str, options: str) -> dict[str, Any]:
        query = parse_soql(soql, self.schema)
        records = list(self.tables[query.sobject].values())
        if resource == "query":
            records = [record for record in records if not record.get("IsDeleted") and not record.get("IsArchived")]
        snapshot = [self._json(query.sobject, record, query.fields) for record in query.run(records)]
        match = re.search(r"batchSize=(\d+)", options)
        batch = min(max(int(match[1]), 200), 2000) if match else 2000
        locator = sfid("01g", next(self._numbers["01g"]))
        self._cursors[locator] = _Cursor(snapshot, batch)
        return self._page(locator, 0)

    def _more(self, locator_offset: str) -> dict[str, Any]:
        locator, _, offset = locator_offset.rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            raise Refused(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
        return self._page(locator, int(offset))

    def _page(self, locator: str, offset: int) -> dict[str, Any]:
        cursor = self._cursors[locator]
        following = offset + cursor.batch
        done = following >= len(cursor.records)
        answer: dict[str, Any] = {
            "totalSize": len(cursor.records),
            "done": done,
            "records": cursor.records[offset:following],
        }
        if not done:
            answer["nextRecordsUrl"] = f"{DATA}/query/{locator}-{following}"
        return answer

    def _json(self, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        attributes = {"type": sobject, "url": f"{DATA}/sobjects/{sobject}/{record['Id']}"}
        return {"attributes": attributes, **{name: wire(record[name]) for name in fields}}

    def _deleted(self, sobject: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            start, end = (_minute(dt.datetime.fromisoformat(params[name])) for name in ("start", "end"))
        except (KeyError, ValueError):
            raise Refused(400, "start and end must be ISO 8601 dates and times", "INVALID_PARAMETER_VALUE") from None
        if end - start <= dt.timedelta(minutes=1):
            message = "startDate must chronologically precede endDate by more than one minute"
            raise Refused(400, message, "INVALID_REPLICATION_DATE")
        oldest = dt.datetime.combine(self.clock.date() - dt.timedelta(days=DELETE_LOG_DAYS), dt.time())
        if start < oldest:
            raise Refused(400, f"startDate cannot be before {wire(oldest)}", "INVALID_REPLICATION_DATE")
        covered = min(end, _minute(self.clock))
        return {
            "deletedRecords": [
                {"id": record_id, "deletedDate": wire(at)}
                for name, record_id, at in self.deletions
                if name == sobject and start <= at < covered
            ],
            "earliestDateAvailable": wire(self.deletions_since),
            "latestDateCovered": wire(covered),
        }

    def _token(self, method: str, params: dict[str, str]) -> api.Answer:
        """The OAuth 2.0 token endpoint: the client-credentials grant only."""
        if method != "POST":
            raise api.Refused(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        if params.get("grant_type") != "client_credentials":
            raise api.Refused(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            raise api.Refused(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        return (
            200,
            {},
            {
                "access_token": TOKEN,
                "signature": "fake-signature",
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.url}/id/00D5g0000000001AAA/{sfid('005', 1)}",
                "token_type": "Bearer",
                "issued_at": "1775034000000",
            },
        )


def _minute(moment: dt.datetime) -> dt.datetime:
    """A time as naive UTC, without its seconds (getDeleted ignores them)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(second=0, microsecond=0)
