"""The fake Slack Web API, driven through the real slack_sdk clients: it must answer as Slack does."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack

# A 1x1 PNG: its signature holds \r\n and \n, which an upload must keep byte for byte.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5f1e2b20000000049454e44ae426082"
)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U1", email="alice@example.com", name="alice", real_name="Alice Smith", tz="Europe/Paris")
        fake.add_channel("C1", "sales")
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.url)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


def test_url_is_a_local_base_url_ending_in_api(fake: FakeSlack):
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.url.endswith("/api/")
    with pytest.raises(RuntimeError):
        _ = FakeSlack().url


def test_auth_test(fake: FakeSlack, client: WebClient):
    response = client.auth_test()

    assert response["ok"] is True
    assert (response["team_id"], response["user_id"], response["bot_id"]) == ("T0TEST", "U0BOT", "B0BOT")
    assert response["url"].startswith("https://") and response["team"] and response["user"]
    [call] = fake.calls_to("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test-token"


def test_a_wrong_or_missing_token_is_refused(fake: FakeSlack):
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-wrong", base_url=fake.url).auth_test()
    assert api_error(excinfo) == "invalid_auth"
    assert excinfo.value.response.status_code == 200

    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=fake.url).auth_test()
    assert api_error(excinfo) == "not_authed"


def test_a_token_param_in_a_form_body_is_accepted(fake: FakeSlack):
    assert WebClient(base_url=fake.url).api_call("auth.test", params={"token": fake.token})["ok"]


def test_post_message_is_recorded_with_its_blocks(fake: FakeSlack, client: WebClient):
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Win rate"}}, section("*42%* this month")]

    response = client.chat_postMessage(channel="C1", text="Win rate: 42%", blocks=blocks)

    assert response["channel"] == "C1"
    assert response["message"]["blocks"] == blocks and response["message"]["text"] == "Win rate: 42%"
    assert "warning" not in response.data
    [message] = fake.messages
    assert message["method"] == "chat.postMessage"
    assert (message["channel"], message["ts"], message["text"]) == ("C1", response["ts"], "Win rate: 42%")
    assert message["blocks"] == blocks and message["thread_ts"] is None
    [call] = fake.calls_to("chat.postMessage")
    assert call.headers["content-type"].startswith("application/json")  # slack_sdk sends chat.postMessage as JSON
    assert call.params["blocks"] == blocks


def test_blocks_sent_as_a_json_string_in_a_form_are_decoded(fake: FakeSlack, client: WebClient):
    blocks = [section("hello")]

    client.api_call("chat.postMessage", params={"channel": "#sales", "text": "hi", "blocks": json.dumps(blocks)})

    assert fake.calls_to("chat.postMessage")[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert fake.messages[0]["blocks"] == blocks
    assert fake.messages[0]["channel"] == "C1"  # a channel name resolves to its id


def test_timestamps_are_unique_and_increasing_and_history_is_newest_first(fake: FakeSlack, client: WebClient):
    stamps = [client.chat_postMessage(channel="C1", text=f"post {i}")["ts"] for i in range(5)]

    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    history = client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in history["messages"]] == ["post 4", "post 3", "post 2"]
    assert history["has_more"] is True
    assert [m["ts"] for m in client.conversations_history(channel="C1", oldest=stamps[3])["messages"]] == [stamps[4]]


def test_thread_replies_stay_out_of_the_channel_history(fake: FakeSlack, client: WebClient):
    parent = client.chat_postMessage(channel="C1", text="digest")["ts"]
    client.chat_postMessage(channel="C1", text="details", thread_ts=parent)

    [top] = client.conversations_history(channel="C1")["messages"]
    assert top["ts"] == parent and top["reply_count"] == 1
    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["digest", "details"]
    assert fake.messages[1]["thread_ts"] == parent


def test_unknown_channel_is_channel_not_found(fake: FakeSlack, client: WebClient):
    for channel in ("C404", "#nowhere", "U404", "D404"):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=channel, text="hi")
        assert api_error(excinfo) == "channel_not_found", channel
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_history(channel="C404")
    assert api_error(excinfo) == "channel_not_found"
    assert fake.messages == []


def test_post_message_needs_text_or_blocks(client: WebClient):
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", params={"channel": "C1"})
    assert api_error(excinfo) == "no_text"


def test_blocks_without_text_are_posted_with_a_warning(fake: FakeSlack, client: WebClient):
    with pytest.warns(UserWarning):  # slack_sdk itself warns about the missing fallback text too
        response = client.chat_postMessage(channel="C1", blocks=[section("only blocks")])

    assert response["ok"] is True
    assert response["warning"] == "missing_text_or_fallback_or_attachments"
    assert fake.warnings == [{"method": "chat.postMessage", "warning": "missing_text_or_fallback_or_attachments"}]


@pytest.mark.parametrize(
    "blocks, pointer",
    [
        ([section(f"row {i}") for i in range(51)], "/blocks"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*bold*"}}], "/blocks/0/text/type"),
        ([{"type": "secton", "text": {"type": "mrkdwn", "text": "typo"}}], "/blocks/0/type"),
        ([section("")], "/blocks/0/text/text"),
    ],
    ids=["51-blocks", "section-3001", "header-151", "header-mrkdwn", "unknown-type", "empty-text"],
)
def test_block_kit_limits_are_enforced(fake: FakeSlack, client: WebClient, blocks: list, pointer: str):
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)

    assert api_error(excinfo) == "invalid_blocks"
    messages = excinfo.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages
    assert fake.messages == []


def test_block_kit_limits_are_inclusive(client: WebClient):
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}, section("x" * 3000)]
    blocks += [{"type": "divider"}] * 48

    assert client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)["ok"]


def test_conversations_open_then_post_to_the_im(fake: FakeSlack, client: WebClient):
    opened = client.conversations_open(users=["U1"])
    im = opened["channel"]["id"]
    assert im.startswith("D")
    again = client.conversations_open(users="U1")
    assert again["channel"]["id"] == im and again["already_open"] is True

    response = client.chat_postMessage(channel=im, text="Your weekly digest")

    assert response["channel"] == im
    assert fake.messages[0]["channel"] == im
    assert [m["text"] for m in client.conversations_history(channel=im)["messages"]] == ["Your weekly digest"]
    # Posting to the user id lands in the same IM, as on Slack.
    assert client.chat_postMessage(channel="U1", text="again")["channel"] == im == fake.im_for("U1")


def test_a_post_to_a_members_user_id_lands_in_their_im_and_answers_with_its_id_without_conversations_open(
    fake: FakeSlack, client: WebClient
):
    response = client.chat_postMessage(channel="U1", text="Your weekly digest")

    im = response["channel"]
    assert (im.startswith("D"), fake.messages[0]["channel"], fake.calls_to("conversations.open")) == (True, im, [])
    assert [m["text"] for m in client.conversations_history(channel=im)["messages"]] == ["Your weekly digest"]


def test_conversations_open_refuses_unknown_users_and_the_bot(client: WebClient):
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_open(users="U404")
    assert api_error(excinfo) == "user_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_open(users="U0BOT")
    assert api_error(excinfo) == "cannot_dm_bot"


def test_users_info_and_lookup_by_email_shapes(fake: FakeSlack, client: WebClient):
    user = client.users_info(user="U1")["user"]

    assert user["id"] == "U1" and user["team_id"] == "T0TEST"
    assert (user["name"], user["real_name"], user["deleted"], user["is_bot"]) == ("alice", "Alice Smith", False, False)
    assert user["tz"] == "Europe/Paris" and user["tz_offset"] in (3600, 7200)
    profile = user["profile"]
    assert profile["email"] == "alice@example.com" and profile["real_name"] == "Alice Smith"
    assert profile["display_name"] == "alice" and profile["image_72"].startswith("https://")

    assert client.users_lookupByEmail(email="Alice@Example.com")["user"] == user

    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U404")
    assert api_error(excinfo) == "user_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.users_lookupByEmail(email="nobody@example.com")
    assert api_error(excinfo) == "users_not_found"


def test_deleted_users_and_the_bot_user(fake: FakeSlack, client: WebClient):
    fake.add_user("U2", email="gone@example.com", deleted=True)

    assert client.users_lookupByEmail(email="gone@example.com")["user"]["deleted"] is True
    bot = client.users_info(user="U0BOT")["user"]
    assert bot["is_bot"] is True and bot["profile"]["bot_id"] == "B0BOT"


def test_views_publish(fake: FakeSlack, client: WebClient):
    view = {"type": "home", "blocks": [section("Your KPIs")]}

    first = client.views_publish(user_id="U1", view=view)["view"]
    second = client.views_publish(user_id="U1", view=json.dumps(view))["view"]  # a JSON string works too

    assert first["id"].startswith("V") and second["id"] == first["id"]
    assert first["type"] == "home" and first["blocks"] == view["blocks"]
    assert fake.home_views["U1"]["blocks"] == view["blocks"]
    assert fake.calls_to("views.publish")[0].params["user_id"] == "U1"


def test_views_publish_validates_the_view(client: WebClient):
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    for bad in (too_many, {"type": "modal", "blocks": []}, {"type": "home"}):
        with pytest.raises(SlackApiError) as excinfo:
            client.views_publish(user_id="U1", view=bad)
        assert api_error(excinfo) == "invalid_arguments"
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}] * 100})["ok"]
    with pytest.raises(SlackApiError) as excinfo:
        client.views_publish(user_id="U404", view={"type": "home", "blocks": []})
    assert api_error(excinfo) == "user_not_found"


def test_views_open_opens_a_modal_once_per_trigger_id(fake: FakeSlack, client: WebClient):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Set a target"}, "blocks": [section("Who?")]}

    opened = client.views_open(trigger_id="1.2.3", view=modal)["view"]

    assert opened["id"].startswith("V") and opened["title"]["text"] == "Set a target"
    assert fake.modals == [{"trigger_id": "1.2.3", "view": opened}]
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="1.2.3", view=modal)
    assert api_error(excinfo) == "exchanged_trigger_id"


def test_views_open_validates_the_modal(client: WebClient):
    long_title = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}
    for bad in (long_title, {"type": "modal", "blocks": []}, {"type": "home", "blocks": []}):
        with pytest.raises(SlackApiError) as excinfo:
            client.views_open(trigger_id="4.5.6", view=bad)
        assert api_error(excinfo) == "invalid_arguments"


def test_post_ephemeral_and_update(fake: FakeSlack, client: WebClient):
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    posted = client.chat_postMessage(channel="C1", text="loading...")
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="done", blocks=[section("done")])

    assert ephemeral["message_ts"]
    assert updated["ts"] == posted["ts"] and updated["message"]["text"] == "done"
    assert [(m["method"], m["text"]) for m in fake.messages] == [
        ("chat.postEphemeral", "only you"),
        ("chat.postMessage", "loading..."),
        ("chat.update", "done"),
    ]
    assert fake.messages[0]["user"] == "U1"
    [stored] = client.conversations_history(channel="C1")["messages"]  # ephemeral messages are not stored
    assert stored["text"] == "done" and stored["blocks"] == [section("done")] and "edited" in stored

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.000001", text="x")
    assert api_error(excinfo) == "message_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postEphemeral(channel="C1", user="U404", text="x")
    assert api_error(excinfo) == "user_not_found"


def test_files_upload_v2_stores_the_bytes_and_shares_the_file(fake: FakeSlack, client: WebClient):
    parent = client.chat_postMessage(channel="C1", text="Pipeline chart below")["ts"]

    response = client.files_upload_v2(
        content=PNG, filename="pipeline.png", title="Pipeline", channel="C1", thread_ts=parent, initial_comment="Q3"
    )

    file_id = response["file"]["id"]
    assert fake.uploads == {file_id: PNG}
    assert response["file"]["title"] == "Pipeline" and response["file"]["mimetype"] == "image/png"
    assert response["file"]["size"] == len(PNG)
    [get_url] = fake.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "pipeline.png" and get_url.params["length"] == str(len(PNG))
    [upload] = fake.calls_to(f"/upload/{file_id}")
    assert "authorization" not in upload.headers  # upload URLs are pre-signed: slack_sdk sends no token
    [complete] = fake.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C1" and complete.params["thread_ts"] == parent
    assert complete.params["initial_comment"] == "Q3"
    assert complete.params["files"] == [{"id": file_id, "title": "Pipeline"}]
    assert fake.files[file_id]["channels"] == ["C1"]
    [share] = client.conversations_replies(channel="C1", ts=parent)["messages"][1:]
    assert share["files"][0]["id"] == file_id and share["text"] == "Q3"


def test_an_upload_can_also_arrive_as_multipart(fake: FakeSlack, client: WebClient):
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=len(PNG))
    boundary = "fake-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="chart.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        ticket["upload_url"], data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )

    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200

    assert fake.uploads[ticket["file_id"]] == PNG


def test_completing_a_file_never_uploaded_is_an_error(fake: FakeSlack, client: WebClient):
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=10)

    for file_id in (ticket["file_id"], "F404"):
        with pytest.raises(SlackApiError) as excinfo:
            client.files_completeUploadExternal(files=[{"id": file_id, "title": "chart"}], channel_id="C1")
        assert api_error(excinfo) == "file_not_found"


def test_the_retired_files_upload_is_refused(client: WebClient):
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("files.upload", params={"channels": "C1", "content": "x"})
    assert api_error(excinfo) == "method_deprecated"


def test_a_429_is_retried_after_retry_after_by_slack_sdk(fake: FakeSlack):
    client = WebClient(token=fake.token, base_url=fake.url, retry_handlers=[RateLimitErrorRetryHandler()])
    fake.rate_limit("chat.postMessage", retry_after=1)

    started = time.monotonic()
    response = client.chat_postMessage(channel="C1", text="hello")
    elapsed = time.monotonic() - started

    assert response["ok"] is True
    first, second = fake.calls_to("chat.postMessage")
    assert elapsed >= 1.0 and second.at - first.at >= 1.0
    assert len(fake.messages) == 1


def test_a_429_without_a_retry_handler_surfaces_as_ratelimited(fake: FakeSlack, client: WebClient):
    fake.rate_limit("users.info", retry_after=30)

    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U1")

    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "30"
    assert api_error(excinfo) == "ratelimited"
    assert client.users_info(user="U1")["ok"]  # only the next call was limited


def test_a_500_is_retried_by_the_server_error_retry_handler(fake: FakeSlack):
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    client = WebClient(token=fake.token, base_url=fake.url, retry_handlers=[handler])
    fake.fail("auth.test", status=500, times=2)

    assert client.auth_test()["ok"] is True
    assert len(fake.calls_to("auth.test")) == 3


def test_a_500_without_a_retry_handler_is_an_api_error(fake: FakeSlack, client: WebClient):
    fake.fail("chat.postMessage", status=503)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")

    assert excinfo.value.response.status_code == 503
    assert fake.messages == []


def test_injected_errors_answer_200_ok_false_in_order(fake: FakeSlack, client: WebClient):
    fake.error("chat.postMessage", "not_in_channel")
    fake.error("chat.postMessage", "is_archived")

    errors = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C1", text="x")
        errors.append((excinfo.value.response.status_code, api_error(excinfo)))

    assert errors == [(200, "not_in_channel"), (200, "is_archived")]
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_unknown_method(client: WebClient):
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMesage")
    assert api_error(excinfo) == "unknown_method"


def test_response_url_posts_are_recorded(fake: FakeSlack):
    url = fake.response_url()
    assert url != fake.response_url() and url.startswith(fake.url.removesuffix("/api/"))

    answer = WebhookClient(url).send(text="Win rate: 42%", response_type="ephemeral", blocks=[section("42%")])

    assert answer.status_code == 200
    [response] = fake.responses
    assert response.method == url.removeprefix(fake.url.removesuffix("/api/"))
    assert response.params["text"] == "Win rate: 42%" and response.params["response_type"] == "ephemeral"
    assert response.params["blocks"] == [section("42%")]
    assert fake.calls[-1] == response


def test_response_url_refuses_unknown_urls_bad_payloads_and_overuse(fake: FakeSlack):
    url = fake.response_url()

    assert WebhookClient(url.rsplit("/", 1)[0] + "/999").send(text="x").status_code == 404
    assert WebhookClient(url).send(text="x", blocks=[section("y" * 3001)]).status_code == 400
    assert WebhookClient(url).send_dict({"response_type": "ephemeral"}).status_code == 400
    assert [WebhookClient(url).send(text="x").status_code for _ in range(6)] == [200] * 5 + [404]
    assert len(fake.responses) == 5


def test_concurrent_posts_all_land_with_unique_timestamps(fake: FakeSlack, client: WebClient):
    def post(n: int) -> None:
        for i in range(10):
            client.chat_postMessage(channel="C1", text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake.messages) == len(fake.calls_to("chat.postMessage")) == 80
    assert len({m["ts"] for m in fake.messages}) == 80
    assert fake.internal_errors == []


def test_start_and_stop_without_a_with_block():
    fake = FakeSlack(token="xoxb-other", team_id="T9", bot_user_id="U9").start()
    try:
        assert fake.client().auth_test()["user_id"] == "U9"
    finally:
        fake.stop()
