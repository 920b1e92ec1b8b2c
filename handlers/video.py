"""Videos: probe, poster renditions, who appears when."""

from __future__ import annotations

import uuid
from typing import Any

from handlers.context import Context
from handlers.ports import UserFacingError


async def process_video(ctx: Context, *, media_id: uuid.UUID, bucket: str) -> None:
    raise UserFacingError("Videos are not supported yet.")


JOBS: dict[str, Any] = {}
