"""processing.video on the shared real videos with the real dlib engine."""

from __future__ import annotations

import csv
import shutil
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from processing.errors import CorruptMedia, MediaError, UnsupportedMedia
from processing.faces import DetectedFace, DlibEngine
from processing.tracks import _segments
from processing.video import (
    SamplingPolicy,
    TooLong,
    VideoInfo,
    analyze_video,
    iter_frames,
    plan_samples,
    poster,
    probe,
)
from tests.support.shared import FACES

TALKING_HEAD = FACES / "sadtalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4"
CROWD = FACES / "facenet-pytorch/examples/video.mp4"
HAMILTON = FACES / "face_recognition/examples/short_hamilton_clip.mp4"
PORTRAIT = FACES / "face_recognition/examples/obama-480p.jpg"


@pytest.fixture(scope="module")
def engine() -> DlibEngine:
    eng = DlibEngine()
    eng.warm_up()
    return eng


def _videos_csv() -> list[dict[str, str]]:
    with (FACES / "videos.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _videos_csv(), ids=lambda r: Path(r["path"]).name)
def test_probe_matches_videos_csv(row: dict[str, str]) -> None:
    info = probe(FACES / row["path"])
    assert (info.width, info.height) == (int(row["width"]), int(row["height"]))
    assert info.fps == pytest.approx(float(row["fps"]), abs=0.01)
    assert info.duration_s == pytest.approx(float(row["duration_s"]), abs=0.05)
    assert info.codec == row["codec"]
    assert info.has_audio is (row["has_audio"] == "1")
    assert info.frames == int(row["frames"])
    assert info.rotation == 0


def test_probe_refuses_long_video() -> None:
    with pytest.raises(TooLong) as err:
        probe(HAMILTON, max_seconds=5)
    assert err.value.user_message == "This video is too long to process (more than 5 seconds)."


def test_truncated_video_is_a_clear_error(tmp_path: Path) -> None:
    data = TALKING_HEAD.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 10])  # index (moov) at the end: cannot even open
    with pytest.raises(CorruptMedia) as err:
        probe(cut)
    assert err.value.user_message.endswith(".")
    assert "video" in err.value.user_message


def test_truncated_faststart_video_is_a_clear_error(tmp_path: Path) -> None:
    """Index at the front (faststart): opens fine, but the index points past the end of the file."""
    fast = tmp_path / "fast.mp4"
    with av.open(str(CROWD)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    assert probe(fast).duration_s > 4
    cut = tmp_path / "fast_cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size * 3 // 10])
    with pytest.raises(CorruptMedia, match="incomplete"):
        probe(cut)


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"hello, this is not a video at all\n" * 100)
    with pytest.raises(MediaError):
        probe(text)
    still = tmp_path / "still.mp4"
    shutil.copy(PORTRAIT, still)  # a JPEG opens as a one-frame "video" in FFmpeg: fine either way
    try:
        info = probe(still)
    except (CorruptMedia, UnsupportedMedia):
        return
    assert info.width > 0


def test_sampling_plan() -> None:
    policy = SamplingPolicy()
    assert policy.interval_s(8.0) == pytest.approx(0.25)
    assert 1.5 < policy.interval_s(180.0) < 2.5
    assert 3600 / policy.interval_s(3600.0) <= policy.max_samples + 1e-6
    times = plan_samples(duration_s=8.0, interval_s=0.25)
    assert len(times) == 32
    assert times[0] == pytest.approx(0.0)  # slot starts
    assert times[-1] == pytest.approx(7.75)
    assert _segments([(0.5, 1.0), (2.0, 3.0), (9.0, 9.5)], pad_s=0.1, merge_gap_s=2.0, duration_s=9.6) == (
        (0.4, 3.1),
        (8.9, 9.6),
    )


def test_sampled_frames_are_spread_and_downscaled() -> None:
    info = probe(CROWD)
    frames = list(iter_frames(CROWD, info, interval_s=1.0, frame_long_edge=640))
    times = [t for t, _ in frames]
    assert len(frames) == 4
    assert times == sorted(times)
    # one sample per 1 s slot: its keyframe, else the first decoded I/P frame from the slot start on
    assert all(i <= t < i + 1 for i, t in enumerate(times))
    assert times[1:] == pytest.approx([1.0, 2.0, 3.0], abs=0.2)
    assert all(image.size == (640, 360) and image.mode == "RGB" for _, image in frames)


def test_poster_is_full_resolution() -> None:
    info = probe(CROWD)
    still = poster(CROWD, info)
    assert still.size == (1920, 1080)
    assert still.mode == "RGB"
    assert np.asarray(still).std() > 10  # a real picture, not a blank frame


def test_talking_head_is_one_person_for_the_whole_clip(engine: DlibEngine) -> None:
    result = analyze_video(TALKING_HEAD, engine, max_seconds=60)
    assert len(result.appearances) == 1
    person = result.appearances[0]
    assert len(person.segments) == 1
    start, end = person.segments[0]
    assert start <= 0.3
    assert end >= result.info.duration_s - 0.3
    assert person.detections >= 0.9 * result.sampled_frames
    assert person.embedding.shape == (128,)
    assert person.embedding.dtype == np.float32
    assert abs(float(np.linalg.norm(person.mean_embedding)) - 1) < 1e-4
    assert person.crop.width > 100
    assert 0 <= person.box.left < person.box.right <= 512
    assert result.poster.size == (512, 512)


@pytest.mark.parametrize("clip", [CROWD, HAMILTON], ids=["pedestrians", "hamilton"])
def test_crowd_clip_gives_few_tracks(engine: DlibEngine, clip: Path) -> None:
    result = analyze_video(clip, engine, max_seconds=60)
    n = len(result.appearances)
    assert result.detections >= 15
    assert 2 <= result.tracks <= result.detections / 3  # faces are followed, not one track per frame
    assert 2 <= n <= result.tracks
    for person in result.appearances:
        assert all(0 <= a < b <= result.info.duration_s + 1e-6 for a, b in person.segments)
        assert 0 <= person.box.left < person.box.right <= result.info.width
        assert 0 <= person.box.top < person.box.bottom <= result.info.height


def _rotated_clip(path: Path, *, rotation: int) -> Image.Image:
    """A 2 s clip whose stored frames are the portrait turned so that the display matrix
    (`rotation` degrees counter-clockwise) makes it upright again."""
    with Image.open(PORTRAIT) as im:
        upright = im.convert("RGB")
    upright = upright.resize((upright.width // 4 * 2, upright.height // 4 * 2))
    stored = upright.rotate(-rotation, expand=True)  # clockwise: the display turns it back
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = stored.width, stored.height, "yuv420p"
        stream.set_display_rotation(rotation)
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.asarray(stored), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return upright


def test_rotated_video_is_turned_upright(tmp_path: Path, engine: DlibEngine) -> None:
    clip = tmp_path / "rotated.mp4"
    upright = _rotated_clip(clip, rotation=90)
    info = probe(clip)
    assert info.rotation == 90
    assert (info.width, info.height) == upright.size
    still = poster(clip, info)
    assert still.size == upright.size
    diff = np.abs(np.asarray(still, dtype=np.int16) - np.asarray(upright, dtype=np.int16)).mean()
    assert diff < 12  # the same picture, up to compression
    result = analyze_video(clip, engine, max_seconds=60, info=info)
    assert len(result.appearances) == 1  # HOG only finds upright faces
    assert result.appearances[0].box.right <= upright.width


def test_video_info_is_frozen() -> None:
    info = VideoInfo(
        duration_s=1.0, width=2, height=2, fps=1.0, codec="h264", rotation=0, has_audio=False, frames=None
    )
    with pytest.raises(AttributeError):
        info.width = 3  # type: ignore[misc]


class _FailingEngine:
    name = "failing"
    match_threshold = 0.07

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, image: Image.Image) -> list[DetectedFace]:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("engine broke")
        return []


def test_engine_error_stops_decoding_cleanly() -> None:
    engine = _FailingEngine()
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="engine broke"):
        analyze_video(TALKING_HEAD, engine, max_seconds=60, with_poster=False)
    assert 3 <= engine.calls <= 4  # the frame after the failing one may be in the engine already
    assert threading.active_count() == before  # the decoding and analysing threads have ended


def test_no_faces_gives_no_appearances() -> None:
    engine = _FailingEngine()
    engine.calls = 100  # never raises again
    result = analyze_video(CROWD, engine, max_seconds=60)
    assert result.appearances == []
    assert result.sampled_frames == 17
    assert result.poster.size == (1920, 1080)


def _reencode(src: Path, dst: Path, *, codec: str, seconds: float, options: dict[str, object]) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=25)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.options = options
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= seconds * 25:
                break
            small = frame.reformat(width=256, height=256, format="yuv420p")
            small.pts, small.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))


@pytest.mark.parametrize(
    ("codec", "suffix", "options"),
    [
        ("libx265", ".mp4", {"preset": "ultrafast", "x265-params": "keyint=40:bframes=4:log-level=error"}),
        ("libvpx-vp9", ".webm", {"deadline": "realtime", "cpu-used": "8", "g": "40"}),
        ("libx264", ".mkv", {"preset": "veryfast", "g": "60"}),
    ],
    ids=["hevc", "vp9", "h264-mkv"],
)
def test_sampled_frames_match_a_full_decode(
    tmp_path: Path, codec: str, suffix: str, options: dict[str, object]
) -> None:
    """Skipping frames (keyframe seeks, NONKEY/NONREF/BIDIR) never hands out a damaged picture."""
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this FFmpeg build")
    clip = tmp_path / f"clip{suffix}"
    _reencode(TALKING_HEAD, clip, codec=codec, seconds=4, options=options)
    info = probe(clip)
    assert info.width == 256
    full: dict[float, np.ndarray] = {}
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        for frame in container.decode(stream):
            assert frame.pts is not None
            assert stream.time_base is not None
            full[round(float((frame.pts - start) * stream.time_base), 3)] = frame.to_ndarray(format="rgb24")
    sampled = list(iter_frames(clip, info, interval_s=0.3, frame_long_edge=None))
    assert len(sampled) >= 10
    errors = {
        t: float(((np.asarray(image, dtype=np.float64) - full[round(t, 3)]) ** 2).mean())
        for t, image in sampled
    }
    # Only the skipped deblocking differs (PSNR > 33 dB); a frame decoded without its references is far off.
    assert max(errors.values()) < 30, errors
