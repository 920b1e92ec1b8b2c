"""Which doors open, from the settings, as the start-up log line lists them."""

from __future__ import annotations

import pytest

from bot.doors import Doors
from storage.settings import load_settings

SLACK_HTTP = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}
SLACK_SOCKET = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A1-2-abc"}
TEAMS = {
    "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
    "MICROSOFT_APP_PASSWORD": "a-real-client-secret",
    "MICROSOFT_APP_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
}


@pytest.mark.parametrize(
    ("values", "summary", "chats"),
    [
        ({}, ["rest api: /api/v1"], []),
        (SLACK_HTTP, ["slack: POST /slack/events", "rest api: /api/v1"], ["slack"]),
        (SLACK_SOCKET, ["slack: Socket Mode", "rest api: /api/v1"], ["slack"]),
        (
            {**SLACK_HTTP, **SLACK_SOCKET, **TEAMS},
            [
                "slack: POST /slack/events",
                "slack: Socket Mode",
                "teams: POST /api/messages",
                "rest api: /api/v1",
            ],
            ["slack", "teams"],
        ),
    ],
    ids=["nothing", "slack-http", "slack-socket-mode", "everything"],
)
async def test_the_summary_names_every_open_door(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], summary: list[str], chats: list[str]
) -> None:
    for name in (*SLACK_HTTP, *SLACK_SOCKET, *TEAMS):
        monkeypatch.delenv(name, raising=False)
    doors = Doors(load_settings(_env_file=None, **values))
    try:
        assert doors.summary == summary
        assert sorted(doors.chats) == chats
    finally:
        await doors.close()
