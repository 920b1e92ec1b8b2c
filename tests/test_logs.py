"""Logs carry no secrets: whole Slack and Teams scenarios at debug level, through facetag's own log
setup, never write a token, the signing secret, the app password, the S3 secret key or a presigned
link's signature."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from bot import logs
from storage.settings import Settings
from tests.support.slack import face_photo, slack_scenario
from tests.test_teams_scenarios import APP_PASSWORD, teams_scenario

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restored() -> Iterator[None]:
    """The logging setup as it was, after a test that calls `logs.configure`."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        structlog.reset_defaults()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, restored: None) -> io.StringIO:
    """Every log line this process writes, as FACETAG_LOG_LEVEL=debug FACETAG_LOG_FORMAT=json writes them."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure(level="debug", fmt="json")
    return out


@pytest.mark.parametrize(
    ("stderr", "json_lines"), [(io.StringIO, True), (Terminal, False)], ids=["pipe", "tty"]
)
def test_auto_is_readable_on_a_terminal_and_json_elsewhere(
    monkeypatch: pytest.MonkeyPatch, restored: None, stderr: type[io.StringIO], json_lines: bool
) -> None:
    out = stderr()
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure(fmt="auto")
    logging.getLogger("facetag.test").info("hello", extra={"media_id": "m1"})
    [line] = out.getvalue().splitlines()
    if json_lines:
        assert json.loads(line) | {"timestamp": "t"} == {
            "event": "hello",
            "media_id": "m1",
            "level": "info",
            "logger": "facetag.test",
            "timestamp": "t",
        }
    else:
        assert "hello" in line and "media_id=m1" in line and not line.startswith("{")


async def test_a_whole_scenario_logs_no_secret(settings: Settings, captured: io.StringIO) -> None:
    async with slack_scenario(settings) as s:
        alice = s.slack.add_user("alice", is_admin=True)  # sees pending media
        channel = s.slack.add_channel("photos", members=[alice.id])
        first = await s.share(channel.id, alice.id, [("obama.jpg", face_photo(OBAMA))], text="#offsite")
        await s.app.idle()
        [reply] = s.replies(first)
        assert (
            await s.send(s.slack.payloads.block_actions(alice.id, "face_identify", message=reply))
        ).status == 200
        s.slack.bot_scopes.discard("files:read")  # and a failure on the way
        await s.share(channel.id, alice.id, [("again.jpg", face_photo(OBAMA)[::-1])])
        await s.app.idle()
        request = s.slack.payloads.slash_command(alice, channel, "#offsite is:pending")
        assert (await s.send(request)).status == 200
        answer = json.dumps(s.slack.response_url_posts(str(request.payload["response_url"]))[-1])
        secrets = {
            "the bot token": s.slack.bot_token,
            "the signing secret": s.slack.signing_secret,
        }
    assert "X-Amz-Signature=" in answer, "the search answered with presigned links"
    assert settings.aws_secret_access_key is not None
    secrets["the S3 secret key"] = settings.aws_secret_access_key.get_secret_value()
    written = captured.getvalue()
    assert written.count("\n") > 20, "the scenario was logged"
    for what, value in secrets.items():
        assert value not in written, f"{what} is in the logs"
    assert "X-Amz-Signature=" not in written, "a presigned link is in the logs"


async def test_a_teams_scenario_logs_no_token(settings: Settings, captured: io.StringIO) -> None:
    async with teams_scenario(settings) as s:
        attachment_id = s.connector.add_attachment(face_photo(OBAMA), "image/jpeg", "obama.jpg")
        inline = s.factory.inline_image_message(s.connector.attachment_url(attachment_id), text="#offsite")
        inbound = s.identity.mint(s.identity.app_id, service_url=s.connector.service_url)
        assert (await s.post(inline, token=inbound)).status == 202
        forged = inbound[:-4] + "AAAA"
        assert (await s.post(inline, token=forged)).status == 401
        await s.app.idle()
        assert s.cards(inline["id"])
        outbound = list(s.identity.issued_tokens)
    assert outbound, "the bot fetched tokens to reply"
    written = captured.getvalue()
    assert written.count("\n") > 5, "the scenario was logged"
    for what, value in {
        "the app password": APP_PASSWORD,
        "an inbound token": inbound,
        "a forged token": forged,
    }.items():
        assert value not in written, f"{what} is in the logs"
    for token in outbound:
        assert token not in written, "an outbound token is in the logs"
    for token in (inbound, *outbound):
        assert token.split(".")[2] not in written, "a token's signature is in the logs"
