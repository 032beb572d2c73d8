"""A signed request handled once (bot/front.py :class:`Replays`): its signature is remembered for the five minutes
Slack's signature is valid, in Redis when a Redis server answers at ``KPIBOT_TEST_REDIS_URL`` (default
redis://127.0.0.1:6379/15) and in the database otherwise, or while Redis is out of reach."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from sqlalchemy import Engine, func, select

from bot.front import REPLAY_SECONDS, Replays
from kpi.schema import SeenRequest

REDIS_URL = os.environ.get("KPIBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOBODY = "redis://127.0.0.1:1/0"  # a port nothing listens on


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def signature() -> str:
    return f"v0={uuid.uuid4().hex}"


def remembered_in_database(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(SeenRequest)).scalar_one()


def test_a_signature_is_handled_once_and_then_a_replay_in_the_database(engine):
    replays, first = Replays(engine), signature()

    seen = [replays.seen(first), replays.seen(first), replays.seen(signature())]

    assert seen == [False, True, False]
    assert remembered_in_database(engine) == 2


@pytest.mark.skipif(not _redis_answers(), reason="no Redis server answers at KPIBOT_TEST_REDIS_URL")
def test_with_redis_a_signature_is_remembered_there_for_five_minutes_and_not_in_the_database(engine):
    replays, first = Replays(engine, REDIS_URL), signature()

    seen = [replays.seen(first), replays.seen(first), Replays(engine, REDIS_URL).seen(first)]

    assert seen == [False, True, True]  # a second process sees the replay too
    assert 0 < redis.Redis.from_url(REDIS_URL).ttl(f"kpibot:replay:{first}") <= REPLAY_SECONDS
    assert remembered_in_database(engine) == 0


def test_with_redis_out_of_reach_a_signature_is_remembered_in_the_database(engine):
    replays, first = Replays(engine, NOBODY), signature()

    seen = [replays.seen(first), replays.seen(first)]

    assert seen == [False, True]
    assert remembered_in_database(engine) == 1
