"""What pixel work hands back from a pool process: plain data (no numpy, no Pillow).

A pool process pickles its result and the web process unpickles it, importing this module only.
`renditions` map these file names to JPEG bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

THUMB_NAME = "thumb_h200.jpg"
DESKTOP_NAME = "desktop.jpg"
FACES_NAME = "faces.jpg"  # the picture with a number on each face, as the chat replies show it


@dataclass(frozen=True, slots=True)
class FaceResult:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright full-size photo
    score: float
    quality: float
    embedding: tuple[float, ...]
    crop_jpeg: bytes


@dataclass(frozen=True, slots=True)
class PhotoResult:
    mime: str
    width: int
    height: int
    taken_at: datetime | None
    camera: str | None
    renditions: dict[str, bytes]  # file name → JPEG bytes
    faces: tuple[FaceResult, ...]


@dataclass(frozen=True, slots=True)
class AppearanceResult:
    segments: tuple[tuple[float, float], ...]
    box: tuple[int, int, int, int]
    quality: float
    embedding: tuple[float, ...]  # mean of the person's best faces in this video
    crop_jpeg: bytes
    frame_time_s: float


@dataclass(frozen=True, slots=True)
class VideoResult:
    width: int
    height: int
    duration_s: float
    codec: str
    fps: float
    rotation: int
    has_audio: bool
    renditions: dict[str, bytes]
    appearances: tuple[AppearanceResult, ...]
    sampled_frames: int
    detections: int = 0  # faces found over all sampled frames
    tracks: int = 0  # face tracks kept before clustering them into people
