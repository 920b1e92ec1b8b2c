"""Keep the fake Slack honest: real slack_sdk client, answers shaped like the recorded samples,
required arguments, scopes and documented errors as in slack-api-ref, Block Kit limits."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import SERVED_METHODS, FakeSlack
from tests.fakes.slack_payloads import SlackRequest, deliver, sign
from tests.fakes.slack_shape import shape_errors
from tests.fakes.slack_spec import SLACK_FIXTURES, api_sample, has_reference, load_json, method_spec
from tests.fakes.slack_workspace import Channel, User

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"
BUTTON = {"type": "button", "text": {"type": "plain_text", "text": "Yes"}, "action_id": "yes", "value": "1"}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Who is this?*"}, "accessory": BUTTON}
ACTIONS = {"type": "actions", "elements": [BUTTON]}  # the samples record buttons in actions blocks only
MODAL = {
    "type": "modal",
    "callback_id": "tag_media",
    "title": {"type": "plain_text", "text": "Tag this photo"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "who",
            "label": {"type": "plain_text", "text": "Who?"},
            "element": {"type": "plain_text_input", "action_id": "name"},
        }
    ],
}
HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your photos"}}]}
# Keys real Slack sends that the merged samples happen not to contain.
IM_USER = frozenset({"channel.user"})  # an im's other party (docs.slack.dev "conversation object")


class World:
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.alice: User = slack.add_user("alice", is_admin=True)
        self.bob: User = slack.add_user("bob")
        self.photos: Channel = slack.add_channel("photos", members=[self.alice.id, self.bob.id])
        self.secret: Channel = slack.add_channel("secret", members=[self.alice.id], private=True)
        self.outside: Channel = slack.add_channel("outside", members=[self.bob.id], bot_member=False)
        self.dm: Channel = slack.add_im(self.alice.id)
        self.client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeSlack() as slack:
        yield World(slack)
        assert slack.undocumented_errors == [], "the fake answered an error slack-api-ref does not list"


def assert_shape(method: str, data: dict[str, Any], allow: frozenset[str] = frozenset()) -> None:
    sample = api_sample(method)
    assert sample is not None, method
    assert shape_errors(data, sample, allow=allow) == []


async def post(world: World, **kwargs: Any) -> dict[str, Any]:
    response = await world.client.chat_postMessage(channel=world.photos.id, **kwargs)
    return response.data  # type: ignore[return-value]


# ---- every served method, through the real client, shaped like the recorded samples --------------


async def test_auth_test(world: World) -> None:
    data = (await world.client.auth_test()).data
    assert isinstance(data, dict)
    assert_shape("auth.test", data)
    assert data["user_id"] == world.slack.bot_user_id


async def test_post_update_delete_and_threads(world: World) -> None:
    slack = world.slack
    parent = await post(world, text="Who is this?", blocks=[SECTION])
    assert_shape("chat.postMessage", parent)
    reply = await post(world, text="in thread", thread_ts=parent["ts"])
    assert_shape("chat.postMessage", reply)
    updated = (
        await world.client.chat_update(channel=world.photos.id, ts=parent["ts"], text="Done", blocks=[])
    ).data
    assert isinstance(updated, dict)
    assert_shape("chat.update", updated)
    [top, in_thread] = slack.messages_in(world.photos.id)
    assert (top.text, top.blocks, top.edited is not None) == ("Done", [], True)
    assert top.history[0]["blocks"][0]["accessory"]["action_id"] == "yes"
    assert in_thread.thread_ts == parent["ts"]
    assert slack.replies(world.photos.id, parent["ts"]) == [in_thread]
    deleted = (await world.client.chat_delete(channel=world.photos.id, ts=reply["ts"])).data
    assert isinstance(deleted, dict)
    assert_shape("chat.delete", deleted)
    assert [m.ts for m in slack.messages_in(world.photos.id)] == [parent["ts"]]
    assert len(slack.calls("chat.postMessage")) == 2
    assert slack.calls("chat.update")[0].args["ts"] == parent["ts"]


async def test_post_ephemeral_and_dm_by_user_id(world: World) -> None:
    data = (
        await world.client.chat_postEphemeral(channel=world.photos.id, user=world.bob.id, text="psst")
    ).data
    assert isinstance(data, dict)
    assert_shape("chat.postEphemeral", data)
    assert world.slack.ephemerals_in(world.photos.id)[0]["user"] == world.bob.id
    dm = await world.client.chat_postMessage(channel=world.alice.id, text="hello")
    assert dm["channel"] == world.dm.id
    assert world.slack.messages_in(world.dm.id)[0].text == "hello"


async def test_reactions_add(world: World) -> None:
    message = await post(world, text="nice")
    data = (
        await world.client.reactions_add(channel=world.photos.id, timestamp=message["ts"], name="eyes")
    ).data
    assert isinstance(data, dict)
    assert_shape("reactions.add", data)
    with pytest.raises(SlackApiError) as err:
        await world.client.reactions_add(channel=world.photos.id, timestamp=message["ts"], name="eyes")
    assert err.value.response["error"] == "already_reacted"


async def test_user_and_conversation_info(world: World) -> None:
    client, slack = world.client, world.slack
    user = (await client.users_info(user=world.alice.id)).data
    assert isinstance(user, dict)
    assert_shape("users.info", user)
    assert user["user"]["is_admin"] is True
    for channel, allow in ((world.photos, frozenset()), (world.secret, frozenset()), (world.dm, IM_USER)):
        info = (await client.conversations_info(channel=channel.id)).data
        assert isinstance(info, dict)
        assert_shape("conversations.info", info, allow)
    members = (await client.conversations_members(channel=world.photos.id, limit=2)).data
    assert isinstance(members, dict)
    assert_shape("conversations.members", members)
    rest = await client.conversations_members(
        channel=world.photos.id, cursor=members["response_metadata"]["next_cursor"]
    )
    assert members["members"] + rest["members"] == [world.alice.id, world.bob.id, slack.bot_user_id]
    mine = await client.users_conversations(types="public_channel,private_channel,im")
    assert {c["id"] for c in mine["channels"]} == {world.photos.id, world.secret.id, world.dm.id}
    channel_sample = api_sample("conversations.info")
    assert channel_sample is not None
    for channel_obj in mine["channels"]:
        assert shape_errors({"channel": channel_obj}, channel_sample, allow=IM_USER) == []
    bobs = await client.users_conversations(user=world.bob.id)
    assert [c["id"] for c in bobs["channels"]] == [world.photos.id, world.outside.id]


async def test_user_file_info_and_download(world: World) -> None:
    slack = world.slack
    file = slack.add_file(world.alice.id, "kids.jpg", JPEG)
    slack.payloads.message(world.photos, world.alice, "look", files=[file])
    info = (await world.client.files_info(file=file.id)).data
    assert isinstance(info, dict)
    assert_shape("files.info", info)
    url = info["file"]["url_private_download"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"}) as resp:
            assert (resp.status, resp.content_type, await resp.read()) == (200, "image/jpeg", JPEG)
        async with session.get(url) as resp:  # no token: Slack's sign-in page, still HTTP 200
            assert (resp.status, resp.content_type) == (200, "text/html")
        slack.bot_scopes.discard("files:read")
        async with session.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"}) as resp:
            assert (resp.status, resp.content_type) == (200, "text/html")
    assert [d.authorized for d in slack.downloads] == [True, False, False]


async def test_upload_v2_into_a_thread(world: World) -> None:
    slack = world.slack
    parent = await post(world, text="album")
    done = await world.client.files_upload_v2(
        channel=world.photos.id, thread_ts=parent["ts"], content=JPEG, filename="face.jpg", title="A face"
    )
    for method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
        [call] = slack.calls(method)
        assert_shape(method, call.response)
    assert slack.upload_posts[0].size == len(JPEG)
    [reply] = slack.replies(world.photos.id, parent["ts"])
    assert reply.files == [done["file"]["id"]]
    assert slack.ws.files[reply.files[0]].data == JPEG


async def test_views_open_update_publish(world: World) -> None:
    slack = world.slack
    click = slack.payloads.slash_command(world.alice, world.photos, "tag")
    opened = (await world.client.views_open(trigger_id=click.payload["trigger_id"], view=MODAL)).data
    assert isinstance(opened, dict)
    assert_shape("views.open", opened)
    view = opened["view"]
    updated = (await world.client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)).data
    assert isinstance(updated, dict)
    assert_shape("views.open", updated)  # views.update answers the same view object; no own sample
    with pytest.raises(SlackApiError) as err:
        await world.client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
    assert err.value.response["error"] == "hash_conflict"
    published = (await world.client.views_publish(user_id=world.alice.id, view=HOME)).data
    assert isinstance(published, dict)
    assert_shape("views.publish", published)
    home = slack.home_view(world.alice.id)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "Your photos"


async def test_trigger_ids_work_once_and_expire(world: World) -> None:
    slack = world.slack
    trigger = slack.payloads.slash_command(world.alice, world.photos).payload["trigger_id"]
    await world.client.views_open(trigger_id=trigger, view=MODAL)
    slack.ws.trigger_ttl = 0.0
    late = slack.payloads.slash_command(world.alice, world.photos).payload["trigger_id"]
    for trigger_id, code in (
        (trigger, "exchanged_trigger_id"),
        (late, "expired_trigger_id"),
        ("1.2.x", "invalid_trigger_id"),
    ):
        with pytest.raises(SlackApiError) as err:
            await world.client.views_open(trigger_id=trigger_id, view=MODAL)
        assert err.value.response["error"] == code


# ---- enforcement: auth, required arguments, scopes, documented errors -------------------------------


def test_the_shape_check_catches_extra_keys_and_type_changes() -> None:
    sample = {"ok": False, "channel": {"id": "C0", "is_member": False}, "blocks": [{"type": "divider"}]}
    assert shape_errors({"ok": True, "channel": {"id": "C1"}}, sample) == []
    assert shape_errors({"channel": {"id": "C1", "extra": 1}}, sample) == ["channel.extra: not in the sample"]
    assert shape_errors({"channel": {"is_member": "yes"}}, sample) == [
        "channel.is_member: str where the sample has bool"
    ]
    assert shape_errors({"blocks": [{"type": "divider", "x": 1}]}, sample) == [
        "blocks[0].x: not in the sample"
    ]


def test_every_served_method_has_a_reference_or_a_local_spec() -> None:
    assert {m for m in SERVED_METHODS if not has_reference(m)} == {"views.update", "users.conversations"}
    for method in SERVED_METHODS:
        assert method_spec(method).errors


async def raw(world: World, method: str, args: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """Call a method without the client's own argument checks (form-encoded, like most SDKs)."""
    client = AsyncWebClient(
        token=token if token is not None else world.slack.bot_token, base_url=world.slack.api_url
    )
    try:
        response = await client.api_call(method, http_verb=method_spec(method).http_method, params=args)
    except SlackApiError as err:
        response = err.response
    data = response.data
    assert isinstance(data, dict)
    return data


async def valid_args(world: World, method: str) -> dict[str, Any]:
    """Arguments with which `method` succeeds in `world` (state it needs is created here)."""
    slack, photos = world.slack, world.photos.id
    if method in ("chat.update", "chat.delete"):
        return {"channel": photos, "ts": (await post(world, text="mine"))["ts"], "text": "new"}
    if method == "reactions.add":
        return {"channel": photos, "timestamp": (await post(world, text="react"))["ts"], "name": "tada"}
    if method == "files.info":
        file = slack.add_file(world.alice.id, "a.jpg", JPEG)
        slack.payloads.message(photos, world.alice, files=[file])
        return {"file": file.id}
    if method == "files.completeUploadExternal":
        ticket = await world.client.files_getUploadURLExternal(filename="a.jpg", length=len(JPEG))
        async with aiohttp.ClientSession() as session, session.post(ticket["upload_url"], data=JPEG) as resp:
            assert resp.status == 200
        return {"files": json.dumps([{"id": ticket["file_id"]}]), "channel_id": photos}
    if method == "views.open":
        trigger = slack.payloads.slash_command(world.alice, photos).payload["trigger_id"]
        return {"trigger_id": trigger, "view": json.dumps(MODAL)}
    if method == "views.update":
        trigger = slack.payloads.slash_command(world.alice, photos).payload["trigger_id"]
        opened = await world.client.views_open(trigger_id=trigger, view=MODAL)
        return {"view_id": opened["view"]["id"], "view": json.dumps(MODAL)}
    simple: dict[str, dict[str, Any]] = {
        "auth.test": {},
        "chat.postMessage": {"channel": photos, "text": "hi"},
        "chat.postEphemeral": {"channel": photos, "user": world.bob.id, "text": "hi"},
        "users.info": {"user": world.bob.id},
        "users.conversations": {},
        "conversations.members": {"channel": photos},
        "conversations.info": {"channel": photos},
        "files.getUploadURLExternal": {"filename": "a.jpg", "length": "12"},
        "views.publish": {"user_id": world.alice.id, "view": json.dumps(HOME)},
    }
    return simple[method]


@pytest.mark.parametrize("method", SERVED_METHODS)
async def test_valid_arguments_succeed(world: World, method: str) -> None:
    data = await raw(world, method, await valid_args(world, method))
    assert data["ok"] is True, data


@pytest.mark.parametrize("method", SERVED_METHODS)
async def test_missing_required_arguments_are_documented_errors(world: World, method: str) -> None:
    spec = method_spec(method)
    for arg in spec.required:
        args = await valid_args(world, method)
        del args[arg]
        data = await raw(world, method, args)
        assert data["ok"] is False, (arg, data)
        assert data["error"] in spec.errors, (arg, data)


@pytest.mark.parametrize("method", [m for m in SERVED_METHODS if method_spec(m).bot_scopes])
async def test_missing_scope_names_needed_and_provided(world: World, method: str) -> None:
    spec = method_spec(method)
    args = await valid_args(world, method)
    world.slack.bot_scopes.difference_update(spec.bot_scopes)
    data = await raw(world, method, args)
    assert data["error"] == "missing_scope"
    assert set(data["needed"].split(",")) == set(spec.bot_scopes)
    assert set(data["provided"].split(",")) == world.slack.bot_scopes
    sample = api_sample(method)
    if sample is not None:
        assert shape_errors(data, sample) == []


async def test_scope_is_per_conversation_type(world: World) -> None:
    world.slack.bot_scopes.discard("groups:read")
    assert (await raw(world, "conversations.info", {"channel": world.photos.id}))["ok"] is True
    denied = await raw(world, "conversations.info", {"channel": world.secret.id})
    assert (denied["error"], denied["needed"]) == ("missing_scope", "groups:read")


@pytest.mark.parametrize("method", SERVED_METHODS)
async def test_bad_tokens(world: World, method: str) -> None:
    assert (await raw(world, method, {}, token="xoxb-wrong"))["error"] == "invalid_auth"
    assert (await raw(world, method, {}, token=""))["error"] == "not_authed"


async def test_token_in_a_json_body_is_ignored(world: World) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"token": world.slack.bot_token, "channel": world.photos.id, "text": "x"}
        async with session.post(world.slack.api_url + "chat.postMessage", json=body) as resp:
            assert (resp.status, (await resp.json())["error"]) == (200, "not_authed")


async def test_methods_without_json_support_ignore_a_json_body(world: World) -> None:
    with pytest.raises(SlackApiError) as err:
        await world.client.api_call("conversations.members", json={"channel": world.photos.id})
    assert err.value.response["error"] == "channel_not_found"


async def test_channel_errors(world: World) -> None:
    cases = [
        ("chat.postMessage", {"channel": "C404", "text": "x"}, "channel_not_found"),
        ("chat.postMessage", {"channel": world.outside.id, "text": "x"}, "not_in_channel"),
        ("chat.postMessage", {"channel": world.photos.id}, "no_text"),
        ("conversations.members", {"channel": "C404"}, "channel_not_found"),
        (
            "chat.postEphemeral",
            {"channel": world.secret.id, "user": world.bob.id, "text": "x"},
            "user_not_in_channel",
        ),
        ("files.info", {"file": "F404"}, "file_not_found"),
        ("users.info", {"user": "U404"}, "user_not_found"),
        ("chat.update", {"channel": world.photos.id, "ts": "1.000001", "text": "x"}, "message_not_found"),
    ]
    for method, args, code in cases:
        assert (await raw(world, method, args))["error"] == code, (method, args)
    alice_says = world.slack.ws.post_message(world.photos.id, world.alice.id, "hi")
    denied = await raw(world, "chat.update", {"channel": world.photos.id, "ts": alice_says.ts, "text": "x"})
    assert denied["error"] == "cant_update_message"


def _many(n: int) -> list[dict[str, Any]]:
    return [{"type": "divider"} for _ in range(n)]


def _button(**changes: Any) -> list[dict[str, Any]]:
    button = {**BUTTON, **changes}
    return [{"type": "actions", "elements": [button]}]


@pytest.mark.parametrize(
    ("blocks", "ok"),
    [
        (_many(50), True),
        (_many(51), False),
        (_button(text={"type": "plain_text", "text": "x" * 75}), True),
        (_button(text={"type": "plain_text", "text": "x" * 76}), False),
        (_button(value="v" * 2000), True),
        (_button(value="v" * 2001), False),
        (_button(action_id="a" * 255), True),
        (_button(action_id="a" * 256), False),
        ([{"type": "divider", "block_id": "b" * 256}], False),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "t" * 3000}}], True),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "t" * 3001}}], False),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], False),
        ([{"type": "image", "image_url": "https://example.org/a.png", "alt_text": "a"}], True),
        ([{"type": "image", "slack_file": {"id": "F404"}, "alt_text": "a"}], False),
    ],
)
async def test_block_kit_limits_in_messages(world: World, blocks: list[dict[str, Any]], ok: bool) -> None:
    data = await raw(
        world, "chat.postMessage", {"channel": world.photos.id, "text": "t", "blocks": json.dumps(blocks)}
    )
    assert data["ok"] is ok, data
    if not ok:
        assert data["error"] == "invalid_blocks"
        assert data["response_metadata"]["messages"]


async def test_private_image_urls_are_not_public(world: World) -> None:
    file = world.slack.add_file(world.alice.id, "a.jpg", JPEG)
    world.slack.payloads.message(world.photos, world.alice, files=[file])
    url = world.slack.ws.file_urls(file)[0]
    for image, ok in (
        ({"image_url": url}, False),
        ({"slack_file": {"url": url}}, True),
        ({"slack_file": {"id": file.id}}, True),
    ):
        blocks = [{"type": "image", "alt_text": "a photo", **image}]
        assert (
            await raw(world, "chat.postMessage", {"channel": world.photos.id, "blocks": json.dumps(blocks)})
        )["ok"] is ok


@pytest.mark.parametrize(("count", "ok"), [(100, True), (101, False)])
async def test_block_kit_limits_in_views(world: World, count: int, ok: bool) -> None:
    data = await raw(
        world,
        "views.publish",
        {"user_id": world.alice.id, "view": json.dumps({"type": "home", "blocks": _many(count)})},
    )
    assert data["ok"] is ok
    if not ok:
        assert data["error"] == "invalid_arguments"
        assert "no more than 100" in data["response_metadata"]["messages"][0]


# ---- outages -----------------------------------------------------------------------------------------


async def test_rate_limited_then_retried(world: World) -> None:
    world.slack.fail_next("chat.postMessage", status=429, retry_after=0)
    with pytest.raises(SlackApiError) as err:
        await post(world, text="x")
    assert (err.value.response.status_code, err.value.response.headers["Retry-After"]) == (429, "0")
    world.slack.fail_next("chat.postMessage", status=429, retry_after=0)
    world.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    assert (await post(world, text="x"))["ok"] is True
    assert [c.status for c in world.slack.calls("chat.postMessage")] == [429, 429, 200]


async def test_server_errors_and_error_answers(world: World) -> None:
    world.slack.fail_next("users.info", status=500, times=2)
    world.slack.fail_next("users.info", error="fatal_error")
    for status in (500, 500, 200):
        with pytest.raises(SlackApiError) as err:
            await world.client.users_info(user=world.alice.id)
        assert err.value.response.status_code == status
    assert (await world.client.users_info(user=world.alice.id))["ok"] is True


# ---- response_url ------------------------------------------------------------------------------------


async def test_response_url_takes_five_posts(world: World) -> None:
    url = world.slack.payloads.slash_command(world.alice, world.photos, "bob").payload["response_url"]
    async with aiohttp.ClientSession() as session:
        statuses = []
        for i in range(6):
            async with session.post(url, json={"text": f"page {i}", "response_type": "ephemeral"}) as resp:
                statuses.append((resp.status, await resp.text()))
    assert statuses == [(200, "ok")] * 5 + [(404, "used_url")]
    assert [p["text"] for p in world.slack.response_url_posts(url)] == [f"page {i}" for i in range(5)]


# ---- what Slack sends the app: signatures and payload builders -----------------------------------------


def test_sign_is_what_slack_sdk_verifies() -> None:
    body = b'{"type":"event_callback"}'
    headers = sign("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    old = sign("s3cret", body, timestamp=1_000_000_000)
    assert not verifier.is_valid(body, old["X-Slack-Request-Timestamp"], old["X-Slack-Signature"])


def fixture(path: str) -> dict[str, Any]:
    return load_json(SLACK_FIXTURES / "java-slack-sdk" / path)


def decoded(request: SlackRequest) -> dict[str, Any]:
    """The payload as the app will read it from the body."""
    if request.content_type == "application/json":
        data: dict[str, Any] = json.loads(request.body)
        return data
    fields = dict(urllib.parse.parse_qsl(request.body.decode()))
    if "payload" in fields:
        payload: dict[str, Any] = json.loads(fields["payload"])
        return payload
    return fields


VIEW_BLOCKS = frozenset({"view.blocks", "event.view.blocks"})  # real views carry blocks; these samples do not
# Envelope keys recorded in FileSharedPayload / MemberJoinedChannelPayload, absent from the older samples.
CONTEXT = frozenset({"context_team_id", "context_enterprise_id"})


async def built_requests(world: World) -> list[tuple[SlackRequest, str, frozenset[str]]]:
    slack, alice = world.slack, world.alice
    photo = slack.add_file(alice.id, "team.jpg", JPEG)
    sent = await post(world, text="Who is this?", blocks=[ACTIONS])
    bot_message = slack.ws.message(world.photos.id, sent["ts"])
    upload = slack.payloads.message(world.photos, alice, "our team", files=[photo])
    await world.client.views_publish(user_id=alice.id, view=HOME)
    trigger = slack.payloads.slash_command(alice, world.photos).payload["trigger_id"]
    modal = await world.client.views_open(
        trigger_id=trigger, view={**MODAL, "blocks": [*MODAL["blocks"], ACTIONS]}
    )
    user_message = slack.ws.message(world.photos.id, upload.payload["event"]["ts"])
    return [
        (upload, "events/MessageFileSharePayload.json", frozenset()),
        (
            slack.payloads.message(world.photos, alice, "hello", thread_ts=sent["ts"]),
            "events/MessagePayload.json",
            frozenset(),
        ),
        (slack.payloads.file_shared(photo, world.photos), "events/FileSharedPayload.json", frozenset()),
        (slack.payloads.app_home_opened(alice), "events/AppHomeOpenedPayload.json", VIEW_BLOCKS),
        (
            slack.payloads.member_joined_channel(world.secret, world.bob, alice),
            "events/MemberJoinedChannelPayload.json",
            frozenset(),
        ),
        (
            slack.payloads.block_actions(alice, "yes", message=bot_message),
            "app-backend/BlockActionPayload.json",
            frozenset(),
        ),
        (
            slack.payloads.block_actions(alice, "yes", view=modal["view"]),
            "app-backend/BlockActionPayload.json",
            VIEW_BLOCKS,
        ),
        (
            slack.payloads.view_submission(alice, modal["view"], {"who": {"name": "Bob"}}),
            "app-backend/ViewSubmissionPayload.json",
            VIEW_BLOCKS,
        ),
        (
            slack.payloads.slash_command(alice, world.photos, "@bob"),
            "app-backend/SlashCommandPayload.json",
            frozenset(),
        ),
        (
            slack.payloads.message_shortcut(alice, user_message),
            "app-backend/MessageShortcutPayload.json",
            frozenset(),
        ),
    ]


async def test_payloads_are_shaped_like_the_recorded_ones(world: World) -> None:
    for request, path, allow in await built_requests(world):
        assert decoded(request) == request.payload
        sample = fixture(path)
        if "command" in request.payload:  # form fields: every value is a string ("false", not false)
            sample = {key: "" for key in sample}
        assert shape_errors(request.payload, sample, allow=allow | CONTEXT) == [], path


async def test_payload_details(world: World) -> None:
    slack = world.slack
    photo = slack.add_file(world.alice.id, "a.jpg", JPEG)
    share, shared = slack.payloads.file_upload(world.dm, world.alice, [photo])
    event = share.payload["event"]
    assert (event["subtype"], event["channel_type"], event["files"][0]["id"]) == (
        "file_share",
        "im",
        photo.id,
    )
    assert event["files"][0]["url_private_download"].startswith(slack.base_url + "/files-pri/")
    assert shared.payload["event"]["file_id"] == photo.id
    assert share.payload["event_id"] != shared.payload["event_id"]
    retried = share.retry(2, "http_timeout").headers()
    assert (retried["X-Slack-Retry-Num"], retried["X-Slack-Retry-Reason"]) == ("2", "http_timeout")
    assert "X-Slack-Retry-Num" not in share.headers()
    with pytest.raises(ValueError, match="no element"):
        slack.payloads.block_actions(world.alice, "nope", message=slack.messages_in(world.dm.id)[0])


def bolt_request(request: SlackRequest, **header_overrides: Any) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = dict(request.headers(**header_overrides))
    return AsyncBoltRequest(body=request.body.decode(), headers=headers)


async def test_bolt_accepts_the_built_requests(world: World) -> None:
    slack = world.slack
    app = AsyncApp(client=world.client, signing_secret=slack.signing_secret)
    seen: list[str] = []

    async def record(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        seen.append(str(body.get("type") or body.get("command")))

    async def on_event(body: dict[str, Any]) -> None:
        seen.append(body["event"]["type"])

    for event_type in ("message", "file_shared", "app_home_opened", "member_joined_channel"):
        app.event(event_type)(on_event)
    app.action("yes")(record)
    app.view("tag_media")(record)
    app.command("/photos")(record)
    app.shortcut("tag_media")(record)
    requests = [r for r, _, _ in await built_requests(world)]
    for request in requests:
        response = await app.async_dispatch(bolt_request(request))
        assert response.status == 200, (request.payload.get("type"), response.body)
    assert seen == [
        "message",
        "message",
        "file_shared",
        "app_home_opened",
        "member_joined_channel",
        "block_actions",
        "block_actions",
        "view_submission",
        "/photos",
        "message_action",
    ]
    response = await app.async_dispatch(bolt_request(requests[0], secret="wrong"))
    assert response.status == 401


async def test_deliver_posts_signed_requests_and_times_the_answer(world: World) -> None:
    verifier = SignatureVerifier(world.slack.signing_secret)
    got: list[dict[str, str]] = []

    async def endpoint(request: web.Request) -> web.Response:
        body = await request.read()
        got.append(dict(request.headers))
        return web.Response(status=200 if verifier.is_valid_request(body, dict(request.headers)) else 401)

    app = web.Application()
    app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        request = world.slack.payloads.app_home_opened(world.alice)
        delivered = await deliver(url, request.retry(1))
        assert (delivered.status, got[0]["X-Slack-Retry-Num"]) == (200, "1")
        assert delivered.elapsed < 3
        assert (await deliver(url, request, timestamp=1_000_000_000)).status == 401
    finally:
        await runner.cleanup()
