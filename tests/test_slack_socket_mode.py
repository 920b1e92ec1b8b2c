"""Socket Mode (SLACK_APP_TOKEN): the real app connects to the fake Slack's WebSocket and takes events,
clicks and slash commands from it, with no HTTP endpoint to forge requests at."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from storage.models import Sighting
from storage.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.support.app import run_app
from tests.support.slack import SlackScenario, face_photo, slack_scenario, slack_settings

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden.jpg"


async def test_socket_mode_takes_shares_and_commands_and_reconnects(settings: Settings) -> None:
    async with slack_scenario(settings, socket_mode=True) as s:
        carol = s.slack.add_user("carol")
        channel = s.slack.add_channel("photos", members=[carol.id])
        assert s.slack.calls("apps.connections.open")[0].response["ok"] is True
        assert s.slack.socket.connects == 1

        # No signing secret, so no HTTP endpoint: a request there cannot be verified and is not taken.
        file = s.slack.add_file(carol.id, "obama.jpg", face_photo(OBAMA))
        request = s.slack.payloads.message(channel.id, carol.id, "hi", files=[file])
        async with (
            aiohttp.ClientSession() as http,
            http.post(s.events_url, data=request.body, headers=request.headers()) as forged,
        ):
            assert forged.status == 404

        message = await s.share(channel.id, carol.id, [("obama.jpg", face_photo(OBAMA))])
        await s.app.idle()
        [reply] = s.replies(message)
        assert s.face_blocks(reply)

        command = s.slack.payloads.slash_command(carol, channel, "")
        delivered = await s.send(command)
        assert delivered.status == 200 and delivered.elapsed < 3  # acked on the socket in time
        assert s.slack.response_url_posts(str(command.payload["response_url"]))

        # Slack rotates connections: the app opens a new one and goes on.
        await s.slack.socket.disconnect()
        await s.app.until(lambda: _connected_twice(s.slack), within=30)
        again = await s.share(channel.id, carol.id, [("biden.jpg", face_photo(BIDEN))])
        await s.app.idle()
        assert len(s.replies(again)) == 1
        async with s.app.ctx.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Sighting))).scalar_one() == 2


async def _connected_twice(slack: FakeSlack) -> bool:
    return slack.socket.connects >= 2 and bool(slack.calls("apps.connections.open")[1:])


async def test_slack_unreachable_at_start_delays_socket_mode_not_the_server(settings: Settings) -> None:
    async with FakeSlack() as slack:
        slack.fail_next("apps.connections.open", status=503, times=2)
        async with run_app(slack_settings(settings, slack, socket_mode=True)) as app:
            async with aiohttp.ClientSession() as http, http.get(f"{app.url}/healthz") as health:
                assert health.status == 200  # the server is up while Socket Mode retries
            await app.until(lambda: _connected_once(slack), within=30)  # after 1 s and 2 s of backoff
            assert [c.status for c in slack.calls("apps.connections.open")] == [503, 503, 200]
            s = SlackScenario(slack=slack, app=app, socket_mode=True)
            carol = slack.add_user("carol")
            channel = slack.add_channel("photos", members=[carol.id])
            message = await s.share(channel.id, carol.id, [("obama.jpg", face_photo(OBAMA))])
            await app.idle()
            assert len(s.replies(message)) == 1


async def _connected_once(slack: FakeSlack) -> bool:
    return slack.socket.connects >= 1


async def test_fake_socket_mode_takes_only_the_app_level_token() -> None:
    async with FakeSlack() as slack:
        bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        app = AsyncWebClient(token=slack.app_token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as refused:
            await bot.apps_connections_open(app_token=slack.bot_token)
        assert refused.value.response["error"] == "not_allowed_token_type"
        with pytest.raises(SlackApiError) as wrong_type:
            await app.chat_postMessage(channel="C1", text="x")
        assert wrong_type.value.response["error"] == "not_allowed_token_type"

        opened = await app.apps_connections_open(app_token=slack.app_token)
        url = str(opened["url"])
        assert url.startswith(f"ws://127.0.0.1:{slack.port}/link/?ticket=")
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url) as socket:
                hello = await socket.receive_json()
                assert hello["type"] == "hello"
                assert hello["connection_info"] == {"app_id": slack.app_id}
            with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
                await http.ws_connect(url)  # tickets are single-use
            assert reused.value.status == 401
