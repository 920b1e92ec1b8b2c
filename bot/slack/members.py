"""What Slack says about a user: the conversations they are in, and whether they administer the workspace."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

CONVERSATION_TYPES = "public_channel,private_channel,mpim,im"


async def member_channels(client: AsyncWebClient, user_id: str) -> dict[str, str]:
    """Every conversation the user is in (that the bot can see): id → name. Raises SlackApiError."""
    channels: dict[str, str] = {}
    cursor: str | None = None
    while True:
        page = await client.users_conversations(
            user=user_id, types=CONVERSATION_TYPES, limit=200, cursor=cursor
        )
        conversations: list[dict[str, Any]] = page.get("channels", [])
        for conv in conversations:
            channels[str(conv["id"])] = str(conv.get("name") or conv.get("user") or conv["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return channels


async def is_workspace_admin(client: AsyncWebClient, user_id: str) -> bool:
    """Workspace admins and owners (users.info). Raises SlackApiError."""
    info = await client.users_info(user=user_id)
    user = info.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
