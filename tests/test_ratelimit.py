"""Pacing chat.postMessage (digests/ratelimit.py): one message a second per channel under a workspace rate, every
post waiting out a 429's Retry-After; and the fake Slack that enforces the rate with 429s."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError

from digests.ratelimit import PostingPace, paced_client
from tests.fakes import FakeSlack


def test_a_post_waits_for_its_channel_and_for_the_workspace():
    slept: list[float] = []
    pace = PostingPace(per_channel=1.0, workspace=2.0, clock=lambda: 0.0, sleep=slept.append)

    waits = [pace.wait("C1"), pace.wait("C1"), pace.wait("C2")]

    # C1 at once; C1 again a second later (its channel); C2 after the workspace's two a second (0.5 s apart)
    assert (waits, slept) == ([0.0, 1.0, 1.5], [1.0, 1.5])


def test_a_retry_after_holds_every_post_not_only_the_one_refused():
    slept: list[float] = []
    now = [10.0]
    pace = PostingPace(per_channel=1.0, workspace=100.0, clock=lambda: now[0], sleep=slept.append)

    pace.hold(30)

    assert pace.wait("C9") == 30.0


def test_the_fake_slack_answers_429_with_retry_after_past_the_post_rate():
    with FakeSlack() as slack:
        slack.add_channel("C1", "general")
        slack.limit_posts(per_channel=1.0, workspace=10.0)
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
        slack.limit_posts(per_channel=1.0, workspace=10.0)
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
    assert client.pace.held_until >= refused_at + 2  # every post of the client waits out the Retry-After
