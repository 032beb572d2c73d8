"""Pacing the worker's Slack calls (digests/ratelimit.py): one message a second per channel under a workspace rate,
a DM's user id and its IM one channel, the methods of a Slack tier at their tier's rate, every call of a method
waiting out a 429's Retry-After; and the fake Slack that enforces the rates with 429s."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError

from digests.ratelimit import SlackPace, paced_client
from tests.fakes import FakeSlack


def test_a_post_waits_for_its_channel_and_for_the_workspace():
    slept: list[float] = []
    pace = SlackPace(per_channel=1.0, workspace=2.0, clock=lambda: 0.0, sleep=slept.append)

    waits = [pace.wait("C1"), pace.wait("C1"), pace.wait("C2")]

    # C1 at once; C1 again a second later (its channel); C2 after the workspace's two a second (0.5 s apart)
    assert (waits, slept) == ([0.0, 1.0, 1.5], [1.0, 1.5])


def test_a_retry_after_holds_every_post_not_only_the_one_refused():
    slept: list[float] = []
    now = [10.0]
    pace = SlackPace(per_channel=1.0, workspace=100.0, clock=lambda: now[0], sleep=slept.append)

    pace.hold(30)

    assert pace.wait("C9") == 30.0


def test_a_dm_addressed_to_a_member_and_the_replies_to_their_im_share_one_channels_pace():
    slept: list[float] = []
    pace = SlackPace(per_channel=1.0, workspace=100.0, clock=lambda: 0.0, sleep=slept.append)

    parent = pace.wait("U1")
    pace.same("U1", "D1")  # Slack answered the post to U1 with its IM, D1
    reply, next_dm = pace.wait("D1"), pace.wait("U1")

    assert (parent, reply, next_dm) == (0.0, 1.0, 2.0)


def test_a_tiered_method_waits_for_its_tier_apart_from_posts_and_its_429_holds_only_it():
    slept: list[float] = []
    pace = SlackPace(per_channel=1.0, workspace=100.0, clock=lambda: 0.0, sleep=slept.append)

    opens = [pace.wait_method("conversations.open") for _ in range(3)]  # Tier 3: 50 a minute
    uploads = [pace.wait_method("files.completeUploadExternal") for _ in range(2)]  # Tier 4: 100 a minute
    pace.hold(30, "conversations.open")
    after_429 = (pace.wait_method("conversations.open"), pace.wait("C1"), pace.wait_method("users.info"))

    assert opens == pytest.approx([0.0, 1.2, 2.4])
    assert uploads == pytest.approx([0.0, 0.6])
    assert after_429 == (30.0, 0.0, 0.0)


def test_the_fake_slack_answers_429_with_retry_after_past_the_post_rate():
    with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        slack.limit_rates(per_channel=1.0, workspace=10.0)
        client = slack.client()
        client.chat_postMessage(channel="C1", text="one")
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C1", text="two")

    response = refused.value.response
    assert (response.status_code, response.headers["Retry-After"], response["error"]) == (429, "1", "ratelimited")
    assert (slack.ratelimited, [m["text"] for m in slack.messages]) == (1, ["one"])


def test_a_paced_client_posts_within_the_rate_and_a_429_holds_its_other_posts():
    with FakeSlack() as slack:
        for channel in ("C1", "C2"):
            slack.add_channel(channel, channel.lower())
        slack.limit_rates(per_channel=1.0, workspace=10.0)
        client = paced_client(slack.token, slack.url, [])
        started = time.monotonic()
        for text in ("one", "two", "three"):
            client.chat_postMessage(channel="C1", text=text)
        took = time.monotonic() - started
        slack.rate_limit("chat.postMessage", retry_after=2)  # Slack refuses one anyway
        refused_at = time.monotonic()
        client.chat_postMessage(channel="C2", text="four")

    assert slack.ratelimited == 0  # the paced posts never went past the rate
    assert [m["text"] for m in slack.messages] == ["one", "two", "three", "four"]
    assert 2.0 <= took < 3.0  # a second between posts to one channel
    assert client.pace.held_until["chat.postMessage"] >= refused_at + 2  # every post waits out the Retry-After


def test_the_fake_slack_limits_conversations_open_to_tier_3_and_a_paced_client_keeps_under_it():
    with FakeSlack() as slack:
        for number in range(4):
            slack.add_user(f"U{number}")
        slack.limit_rates()
        paced = paced_client(slack.token, slack.url, [])
        started = time.monotonic()
        opened = [paced.conversations_open(users=user)["channel"]["id"] for user in ("U0", "U1", "U2")]
        took = time.monotonic() - started
        with pytest.raises(SlackApiError) as refused:  # an unpaced client at once after them
            slack.client().conversations_open(users="U3")

    response = refused.value.response
    assert (slack.ratelimited, len(set(opened))) == (1, 3)  # the paced ones were never refused
    assert 2.4 <= took < 3.0  # 1.2 s apart: 50 a minute
    assert (response.status_code, response.headers["Retry-After"], response["error"]) == (429, "2", "ratelimited")
