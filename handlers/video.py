"""Videos: probe, poster renditions, and who appears when (one face row per person, with time ranges)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from handlers.context import Context
from handlers.media import store_analysis
from processing.pool import PixelJob
from processing.results import VideoResult
from storage.models import Face

ANALYZE_CLIP: PixelJob[VideoResult] = PixelJob("processing.clip", "analyze_clip")


async def process_video(ctx: Context, *, media_id: uuid.UUID, bucket: str, source: Path) -> None:
    result = await ctx.pixels.run(ANALYZE_CLIP, str(source), max_seconds=ctx.settings.max_video_seconds)
    await store_video_result(ctx, media_id=media_id, bucket=bucket, result=result)


async def store_video_result(ctx: Context, *, media_id: uuid.UUID, bucket: str, result: VideoResult) -> None:
    await store_analysis(
        ctx,
        media_id=media_id,
        bucket=bucket,
        renditions=result.renditions,
        faces=[
            (
                Face(
                    media_id=media_id,
                    ordinal=ordinal,
                    box=list(appearance.box),
                    score=1.0,
                    quality=appearance.quality,
                    embedding=list(appearance.embedding),
                    segments=[[a, b] for a, b in appearance.segments],
                ),
                appearance.crop_jpeg,
            )
            for ordinal, appearance in enumerate(result.appearances, start=1)
        ],
        media={
            "width": result.width,
            "height": result.height,
            "duration_s": result.duration_s,
            "info": {
                "codec": result.codec,
                "fps": result.fps,
                "rotation": result.rotation,
                "has_audio": result.has_audio,
                "sampled_frames": result.sampled_frames,
                "detections": result.detections,
                "tracks": result.tracks,
            },
        },
    )


JOBS: dict[str, Any] = {}
