"""Videos: probe, poster frame, frame sampling and face appearances (who is seen, when).

Blocking code (PyAV + the face engine); callers run it in a worker thread or process.

Typical ingest of one video::

    info = probe(path, max_seconds=settings.video_max_seconds)   # CorruptMedia / UnsupportedMedia / TooLong
    still = poster(path, info)                                     # upright RGB, full resolution
    result = analyze_video(path, engine, max_seconds=..., info=info)
    for person in result.appearances: ...                          # one per clustered person

Sampling never holds more than a few frames: frames are decoded as needed (one per sampling slot,
the cheapest to decode, see `iter_frames`), downscaled in C (`VideoFrame.reformat`) to at most
`frame_long_edge`, and handed to the face engine while a helper thread decodes the next ones. PyAV
releases the GIL while decoding and dlib while scanning with HOG, but not while computing embeddings,
so two frames are in the engine at once: one in HOG while the other gets its embeddings.

Measured on the 3-minute 1080p benchmark video (`python -m bench.video --only speed`, 83 samples at
1600 px), CPU seconds by stage before -> after this arrangement: decode 7.9 -> 4.4 (FFmpeg frame
threads, slot middles and seeks landing one keyframe early -> one thread, slot starts, seeks that
land), RGB conversion 1.3 -> 1.0, HOG ~9.5 and embeddings ~2.7 unchanged (the engine's); 24.8 ->
17.4-19.2 in all (load-dependent), i.e. 7.3 -> 9.4-10.3 video seconds per CPU second, with decoding,
HOG and embeddings overlapping on two cores. Same result: 10 people, 47 person-loop sightings.
"""

from __future__ import annotations

import bisect
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from PIL import Image

from processing.errors import CorruptMedia, TooLong, UnsupportedMedia
from processing.faces import DetectedFace, FaceEngine
from processing.tracks import Appearance, TrackerSettings, build_appearances

__all__ = [
    "Appearance",
    "CorruptMedia",
    "SamplingPolicy",
    "TooLong",
    "UnsupportedMedia",
    "VideoAnalysis",
    "VideoInfo",
    "analyze_video",
    "iter_frames",
    "plan_samples",
    "poster",
    "probe",
]

DEFAULT_FRAME_LONG_EDGE = 1280
"""Frames go to the face engine with their long edge at most this (720p for landscape 1080p/4K)."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_s: float
    width: int  # as displayed, i.e. after `rotation`
    height: int
    fps: float
    codec: str  # decoder name, e.g. "h264", "hevc", "mpeg4"
    rotation: int  # 0, 90, 180 or 270: degrees counter-clockwise the decoded frames are turned for display
    has_audio: bool
    frames: int | None  # from the container header when it says so


# ---------------------------------------------------------------------------------------------- probe


def _open(path: Path | str) -> Any:
    try:
        return av.open(str(path))
    except FileNotFoundError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise CorruptMedia("This video is damaged, incomplete or in a format we cannot read.") from e


def _rotation_from_matrix(matrix: bytes) -> int:
    """Counter-clockwise degrees from a 3x3 int32 display matrix (as av_display_rotation_get)."""
    m = np.frombuffer(matrix[:36], dtype="<i4").astype(np.float64) / 65536.0
    scale_x, scale_y = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale_x == 0 or scale_y == 0:
        return 0
    degrees = -math.degrees(math.atan2(m[1] / scale_y, m[0] / scale_x))
    return round(degrees / 90) * 90 % 360


def _stream_rotation(stream: Any) -> int:
    side = stream.codec_context.coded_side_data or {}
    matrix = side.get("display_matrix")
    if isinstance(matrix, bytes | bytearray) and len(matrix) >= 36:
        return _rotation_from_matrix(bytes(matrix))
    rotate = (stream.metadata or {}).get("rotate")  # old muxers: clockwise degrees
    if rotate:
        try:
            return round(-float(rotate) / 90) * 90 % 360
        except ValueError:
            return 0
    return 0


def _truncated(path: Path | str, stream: Any) -> bool:
    """True when the container index points past the end of the file (an MP4/MOV cut short)."""
    try:
        size = Path(path).stat().st_size
        entries = stream.index_entries
        if len(entries) == 0:
            return False
        last = entries[len(entries) - 1]
        return bool(last.pos >= 0 and last.pos + last.size > size)
    except (OSError, AttributeError, IndexError):
        return False


def probe(path: Path | str, *, max_seconds: float | None = None) -> VideoInfo:
    """Read the container header (no frame decoding). Raises `CorruptMedia` (damaged, truncated),
    `UnsupportedMedia` (no video stream, unknown codec) or `TooLong` (longer than `max_seconds`)."""
    with _open(path) as container:
        if not container.streams.video:
            raise UnsupportedMedia("This file has no video track.")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.name or ctx.width <= 0 or ctx.height <= 0:
            raise UnsupportedMedia("This video uses a format we cannot decode.")
        duration = _duration_s(container, stream)
        if duration <= 0:
            raise CorruptMedia("This video is damaged or empty: it has no playable length.")
        if _truncated(path, stream):
            raise CorruptMedia("This video is incomplete (the upload was cut short); please send it again.")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        rotation = _stream_rotation(stream)
        width, height = (ctx.height, ctx.width) if rotation in (90, 270) else (ctx.width, ctx.height)
        info = VideoInfo(
            duration_s=round(duration, 3),
            width=width,
            height=height,
            fps=round(float(rate), 3) if rate else 0.0,
            codec=str(ctx.name),
            rotation=rotation,
            has_audio=bool(container.streams.audio),
            frames=int(stream.frames) if stream.frames else None,
        )
    if max_seconds is not None and info.duration_s > max_seconds:
        raise TooLong(f"This video is too long to process (more than {_human_duration(max_seconds)}).")
    return info


def _duration_s(container: Any, stream: Any) -> float:
    """The container's duration (what players show; audio may outlast the video track), else the stream's."""
    if container.duration:
        return float(container.duration) / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _human_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours > 1 else ''}"
    if seconds >= 60:
        minutes = round(seconds / 60)
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{seconds:g} seconds"


# ---------------------------------------------------------------------------------------------- frames

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _to_image(frame: Any, *, rotation: int, long_edge: int | None) -> Image.Image:
    """RGB Pillow image of a decoded frame, downscaled in C to `long_edge`, turned upright.

    Scaled in the decoder's pixel format, then converted to RGB: 10.5 ms for 1080p YUV 4:2:0 to
    1600 x 900, against 19 ms converting first (half the bytes to scale)."""
    w, h = frame.width, frame.height
    scale = 1.0 if long_edge is None else min(1.0, long_edge / max(w, h))
    tw, th = max(2, round(w * scale)), max(2, round(h * scale))
    small = frame.reformat(width=tw, height=th, interpolation="AREA") if scale < 1 else frame
    image = Image.fromarray(small.to_ndarray(format="rgb24"), "RGB")
    transpose = _TRANSPOSE.get(rotation)
    return image.transpose(transpose) if transpose is not None else image


def _configure_decoder(stream: Any, *, sampling: bool = False) -> None:
    # One decoding thread: FFmpeg's frame threads cost ~25 % more CPU per sampled frame (7.2 s against
    # 10.0 s for the 3-minute benchmark video: every seek throws away the frames in flight), and the
    # other core is busy with face detection anyway.
    stream.thread_type = "SLICE"
    stream.thread_count = 1
    if sampling:
        # No deblocking: ~20% faster; the drift it causes until the next keyframe stays small
        # (PSNR >= 38 dB against a full decode on x264 output), irrelevant for face detection.
        stream.codec_context.options = {"skip_loop_filter": "all"}


def _skip_between_samples(codec: str) -> Literal["BIDIR", "NONREF"]:
    """Frames to skip while decoding forward to a sample time. H.264 P-frames in practice only refer
    to I/P frames, so all B-frames (also those used as references by other B-frames) can go: about
    half the decoding of NONREF, and bit-exact on x264 output. In HEVC/AV1 "B" slices often carry the
    references (generalised P/B), so there only frames nothing refers to are skipped."""
    return "BIDIR" if codec == "h264" else "NONREF"


def poster(path: Path | str, info: VideoInfo, *, at: float = 0.1) -> Image.Image:
    """A representative upright RGB frame at full resolution: the keyframe at or before `at` x duration
    (the first frame if seeking fails)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        _configure_decoder(stream)
        target = info.duration_s * at
        if target > 0:
            try:
                container.seek(_to_pts(stream, target), stream=stream, backward=True, any_frame=False)
            except av.FFmpegError:
                container.seek(0)
        try:
            for frame in container.decode(stream):
                return _to_image(frame, rotation=info.rotation, long_edge=None)
        except av.FFmpegError as e:
            raise CorruptMedia("This video is damaged and its frames cannot be decoded.") from e
    raise CorruptMedia("This video has no decodable frames.")


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    """How many frames to look at: `dense_fps` for clips up to `dense_seconds`, then `extra_per_second`
    samples per further second, never more than `max_samples`, spread evenly over the whole video
    (8 s: 32 samples; 180 s: 83, one per 2.2 s; 1 h: 938). A frame is never handed out twice."""

    dense_fps: float = 4.0
    dense_seconds: float = 10.0
    extra_per_second: float = 0.25
    max_samples: int = 1200

    def interval_s(self, duration_s: float) -> float:
        if duration_s <= 0:
            return 1.0
        dense = min(duration_s, self.dense_seconds) * self.dense_fps
        extra = max(0.0, duration_s - self.dense_seconds) * self.extra_per_second
        count = max(1, min(self.max_samples, math.ceil(dense + extra)))
        return duration_s / count


@dataclass(frozen=True, slots=True)
class _Target:
    start_s: float  # the start of the sample's slot
    keyframe_s: float | None  # the first keyframe in the slot: decoded instead, without references


def plan_samples(*, duration_s: float, interval_s: float) -> list[float]:
    """Start times of the `interval_s` slots; each slot gets one sample."""
    count = max(1, math.floor(duration_s / interval_s + 1e-9))
    return [round(i * interval_s, 4) for i in range(count)]


def _keyframe_times(stream: Any, *, start: int, tb: float) -> list[float]:
    try:
        entries = stream.index_entries
        times = [(e.timestamp - start) * tb for e in entries if e.is_keyframe]
    except (AttributeError, TypeError):
        return []
    return sorted(max(0.0, t) for t in times)


def _targets(starts: Sequence[float], keyframes: Sequence[float], *, interval_s: float) -> list[_Target]:
    """Pair each slot with the first keyframe in it, when there is one."""
    out: list[_Target] = []
    for start in starts:
        k = bisect.bisect_left(keyframes, start - 1e-6)
        inside = k < len(keyframes) and keyframes[k] < start + interval_s - 1e-6
        out.append(_Target(start, keyframes[k] if inside else None))
    return out


def _to_pts(stream: Any, seconds: float) -> int:
    start = stream.start_time or 0
    return round(start + seconds / float(stream.time_base))


def iter_frames(
    path: Path | str,
    info: VideoInfo,
    *,
    interval_s: float,
    frame_long_edge: int | None = DEFAULT_FRAME_LONG_EDGE,
) -> Iterator[tuple[float, Image.Image]]:
    """Yield (time in seconds from the start, upright RGB frame), one per `interval_s` slot.

    Each slot gets its cheapest frame to decode. A slot with a keyframe takes that keyframe (seek +
    `skip_frame="NONKEY"`: one frame decoded). Otherwise any frame of the slot needs the reference
    frames since the keyframe before it, so the earliest one is the cheapest: the first decoded frame
    at or after the slot start (but at least half an interval after the previous sample), decoding
    forward from the keyframe before it, or on from the previous sample when no keyframe lies in
    between, and skipping frames no I/P frame refers to (`skip_frame="BIDIR"` for H.264, else
    `"NONREF"`). A keyframe whose slot is followed by one without keyframe is decoded that way too, so
    the next sample continues from it.
    On the 3-minute benchmark video (x264 defaults, a keyframe every 2.6-8.8 s, 83 samples) this
    decodes 553 frames where samples in the middle of their slots needed 714 (1239 I/P frames in all).
    Without a seek index (some MKV/TS files) it decodes forward only.
    """
    starts = plan_samples(duration_s=info.duration_s, interval_s=interval_s)
    with _open(path) as container:
        stream = container.streams.video[0]
        _configure_decoder(stream, sampling=True)
        tb = float(stream.time_base)
        start = stream.start_time or 0
        keyframes = _keyframe_times(stream, start=start, tb=tb)
        targets = _targets(starts, keyframes, interval_s=interval_s)
        try:
            yield from _sample(
                container,
                stream,
                targets,
                keyframes,
                info=info,
                interval_s=interval_s,
                long_edge=frame_long_edge,
            )
        except av.FFmpegError as e:
            raise CorruptMedia("This video is damaged and its frames cannot be decoded.") from e


def _sample(
    container: Any,
    stream: Any,
    targets: Sequence[_Target],
    keyframes: Sequence[float],
    *,
    info: VideoInfo,
    interval_s: float,
    long_edge: int | None,
) -> Iterator[tuple[float, Image.Image]]:
    tb = float(stream.time_base)
    start = stream.start_time or 0
    ctx = stream.codec_context
    frames: Iterator[Any] | None = None  # the current forward decode
    position = -math.inf  # time of the last frame decoded by `frames`
    skip_between = _skip_between_samples(info.codec)
    mode: Literal["NONKEY", "BIDIR", "NONREF", "DEFAULT"] = "DEFAULT"
    last_yield = -math.inf
    for i, target in enumerate(targets):
        following = targets[i + 1] if i + 1 < len(targets) else None
        if target.keyframe_s is not None and target.keyframe_s > last_yield:
            wanted = target.keyframe_s
            continued = (  # the next sample is decoded on from this keyframe
                following is not None
                and following.keyframe_s is None
                and _keyframes_between(keyframes, wanted, following.start_s) == 0
            )
            if continued:
                frames = _decode_from_keyframe(container, stream, keyframes, wanted)
                mode = ctx.skip_frame = skip_between
            else:
                # Decoding on only pays while at most one other keyframe lies in between.
                if frames is None or mode != "NONKEY" or _keyframes_between(keyframes, position, wanted) > 1:
                    frames = _decode_from_keyframe(container, stream, keyframes, wanted)
                mode = ctx.skip_frame = "NONKEY"
            wanted -= 1e-3
        else:
            wanted = max(target.start_s, last_yield + interval_s / 2)
            must_move = (
                frames is None or mode == "NONKEY" or _keyframes_between(keyframes, position, wanted) > 0
            )
            if must_move and (keyframes or frames is None):  # without an index: decode forward only
                container.seek(_to_pts(stream, wanted), stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
            mode = ctx.skip_frame = skip_between
        assert frames is not None
        for frame in frames:
            if frame.pts is None:
                continue
            position = (frame.pts - start) * tb
            if position >= wanted - 0.5 / max(info.fps, 1.0) and position > last_yield:
                last_yield = position
                yield position, _to_image(frame, rotation=info.rotation, long_edge=long_edge)
                break
        else:
            return  # end of the stream


def _decode_from_keyframe(container: Any, stream: Any, keyframes: Sequence[float], keyframe_s: float) -> Any:
    """Seek to this keyframe and decode from it. The index gives decode times, seeking goes by
    presentation times (later by the B-frame delay, 0.08 s on x264 output): seeking to the index time
    lands on the keyframe before, so aim halfway to the next keyframe."""
    k = bisect.bisect_right(keyframes, keyframe_s)
    aim = (keyframe_s + keyframes[k]) / 2 if k < len(keyframes) else keyframe_s + 1.0
    container.seek(_to_pts(stream, aim), stream=stream, backward=True, any_frame=False)
    return container.decode(stream)


def _keyframes_between(keyframes: Sequence[float], position: float, wanted: float) -> float:
    """How many keyframes a forward decode from `position` passes before `wanted` (inf when it cannot
    go there: backwards, or nothing decoded yet). Zero means decoding on beats seeking."""
    if position == -math.inf or position > wanted:
        return math.inf
    return bisect.bisect_right(keyframes, wanted) - bisect.bisect_right(keyframes, position)


# ---------------------------------------------------------------------------------------------- analysis


@dataclass(frozen=True, slots=True)
class VideoAnalysis:
    info: VideoInfo
    poster: Image.Image
    appearances: list[Appearance]
    sampled_frames: int
    detections: int
    tracks: int
    interval_s: float
    processing_seconds: float  # wall clock, probe to appearances


_DONE = object()


def _prefetch(
    frames: Iterator[tuple[float, Image.Image]], *, depth: int
) -> Iterator[tuple[float, Image.Image]]:
    """Run `frames` in a helper thread, at most `depth` frames ahead (decoding overlaps detection)."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as e:  # handed to the consumer, re-raised there
            buffer.put(e)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="video-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _analyze_ahead(
    frames: Iterator[tuple[float, Image.Image]], engine: FaceEngine, *, workers: int
) -> Iterator[tuple[float, Image.Image, list[DetectedFace]]]:
    """`engine.analyze` on up to `workers` frames at once, results in order. With `DlibEngine` (which
    locks detection and embedding separately) the HOG scan of one frame, which releases the GIL, runs
    alongside the embeddings of the previous one."""
    if workers <= 1:
        yield from ((t, image, engine.analyze(image)) for t, image in frames)
        return
    pending: deque[tuple[float, Image.Image, Future[list[DetectedFace]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="video-faces") as pool:
        try:
            for t, image in frames:
                pending.append((t, image, pool.submit(engine.analyze, image)))
                if len(pending) >= workers:
                    t, image, faces = pending.popleft()
                    yield t, image, faces.result()
            while pending:
                t, image, faces = pending.popleft()
                yield t, image, faces.result()
        finally:
            for _, _, faces in pending:
                faces.cancel()


def analyze_video(
    path: Path | str,
    engine: FaceEngine,
    *,
    max_seconds: float,
    info: VideoInfo | None = None,
    policy: SamplingPolicy | None = None,
    frame_long_edge: int | None = DEFAULT_FRAME_LONG_EDGE,
    tracker: TrackerSettings | None = None,
    with_poster: bool = True,
    analyze_workers: int = 2,
) -> VideoAnalysis:
    """Probe, poster, sample frames, detect faces, track and cluster them into appearances.

    `analyze_workers` frames are handed to the engine at once (it must be thread-safe, as `DlibEngine`
    is); 1 analyses them one after the other.

    Boxes in the result are in displayed full-resolution video pixels. Raises like `probe`.
    """
    started = time.perf_counter()
    info = info or probe(path, max_seconds=max_seconds)
    if info.duration_s > max_seconds:
        raise TooLong(f"This video is too long to process (more than {_human_duration(max_seconds)}).")
    still = poster(path, info) if with_poster else Image.new("RGB", (1, 1))
    interval = (policy or SamplingPolicy()).interval_s(info.duration_s)
    settings = tracker or TrackerSettings(match_threshold=engine.match_threshold)
    samples = 0
    detections = 0

    def detected() -> Iterator[tuple[float, Image.Image, list[DetectedFace]]]:
        nonlocal samples, detections
        frames = _prefetch(
            iter_frames(path, info, interval_s=interval, frame_long_edge=frame_long_edge),
            depth=3,
        )
        for t, image, faces in _analyze_ahead(frames, engine, workers=analyze_workers):
            samples += 1
            detections += len(faces)
            yield t, image, faces

    built = build_appearances(
        detected(),
        settings=settings,
        interval_s=interval,
        duration_s=info.duration_s,
        full_size=(info.width, info.height),
    )
    return VideoAnalysis(
        info=info,
        poster=still,
        appearances=built.appearances,
        sampled_frames=samples,
        detections=detections,
        tracks=built.tracks,
        interval_s=round(interval, 4),
        processing_seconds=round(time.perf_counter() - started, 3),
    )
