"""One video in pixels: probe, poster renditions, who appears when. Runs in a pool process."""

from __future__ import annotations

import functools

from PIL import Image

from processing.faces import DlibEngine, FaceEngine
from processing.images import encode_jpeg, fit_within, renditions
from processing.results import FACES_NAME, AppearanceResult, VideoResult
from processing.sheet import contact_sheet
from processing.video import analyze_video

# Frames are sampled and scanned at 1600 px (no resize between decoder and detector). HOG finds faces
# from ~80 px in the scanned frame: at 1280 px the ~100 px faces of a 1080p crowd shot shrink to ~67 px
# and are lost (the shared crowd clip: 2 people instead of 5), for ~20 % less CPU per sample.
VIDEO_DETECT_LONG_EDGE = 1600
CROP_LONG_EDGE = 256


@functools.cache
def engine() -> FaceEngine:
    """This process's engine for video frames (models load once per process)."""
    return DlibEngine(detect_long_edge=VIDEO_DETECT_LONG_EDGE)


def analyze_clip(path: str, *, max_seconds: float, face_engine: FaceEngine | None = None) -> VideoResult:
    analysis = analyze_video(
        path, face_engine or engine(), max_seconds=max_seconds, frame_long_edge=VIDEO_DETECT_LONG_EDGE
    )
    info = analysis.info
    appearances = tuple(
        AppearanceResult(
            segments=tuple((round(a, 2), round(b, 2)) for a, b in appearance.segments),
            box=(appearance.box.left, appearance.box.top, appearance.box.right, appearance.box.bottom),
            quality=appearance.quality,
            embedding=tuple(float(x) for x in appearance.mean_embedding),
            crop_jpeg=encode_jpeg(fit_within(appearance.crop, long_edge=CROP_LONG_EDGE)),
            frame_time_s=appearance.frame_time_s,
        )
        for appearance in sorted(analysis.appearances, key=lambda a: a.segments[0][0] if a.segments else 0.0)
    )
    return VideoResult(
        width=info.width,
        height=info.height,
        duration_s=info.duration_s,
        codec=info.codec,
        fps=info.fps,
        rotation=info.rotation,
        has_audio=info.has_audio,
        renditions=_pictures(analysis.poster, appearances),
        appearances=appearances,
        sampled_frames=analysis.sampled_frames,
        detections=analysis.detections,
        tracks=analysis.tracks,
    )


def _pictures(poster: Image.Image, appearances: tuple[AppearanceResult, ...]) -> dict[str, bytes]:
    """Poster renditions, and the numbered crops side by side as the chat replies show them."""
    pictures = renditions(image=poster)
    if appearances:
        pictures[FACES_NAME] = contact_sheet(
            crops=[a.crop_jpeg for a in appearances], labels=[str(i) for i in range(1, len(appearances) + 1)]
        )
    return pictures
