"""Video processing benchmarks: speed as a multiple of real time, and peak RSS of a worker.

Helpers for `bench/video.py`; `main()` runs everything and prints `RESULT {json}`.

- `make_test_video` builds a ~3-minute 1080p H.264 video by looping the shared face clips
  (each clip letterboxed into 1920x1080, re-encoded with PyAV).
- `make_large_video` builds a ~2 GB high-bitrate 1080p video: one high-bitrate segment is encoded
  once, then its packets are remuxed many times with shifted timestamps (no re-encode).
- `measure_realtime` runs `processing.video.analyze_video` in this process and reports
  video duration / wall time.
- `measure_worker_rss` runs `analyze_video` in a child process and reports its peak RSS
  (`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, read in a fresh helper process so only that
  one worker is counted).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from processing.video import DEFAULT_FRAME_LONG_EDGE
from tests.support.shared import FACES

DATA_DIR = FACES
SOURCE_CLIPS = (
    "facenet-pytorch/examples/video.mp4",
    "face_recognition/examples/short_hamilton_clip.mp4",
    "sadtalker/examples/ref_video/WDA_AlexandriaOcasioCortez_000.mp4",
    "sadtalker/test/examples/source_image/RD_Radio2_000.mp4",
)
WIDTH, HEIGHT, FPS = 1920, 1080, 25


def default_cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "facetag-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _encoder_name() -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _letterboxed_frames(*, data_dir: Path) -> Iterator[np.ndarray]:
    """One pass over the shared clips, each frame fitted into a black 1920x1080 canvas (RGB)."""
    for rel in SOURCE_CLIPS:
        with av.open(str(data_dir / rel)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                scale = min(WIDTH / frame.width, HEIGHT / frame.height)
                w = int(frame.width * scale) // 2 * 2
                h = int(frame.height * scale) // 2 * 2
                rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
                top, left = (HEIGHT - h) // 2, (WIDTH - w) // 2
                canvas[top : top + h, left : left + w] = rgb
                yield canvas


def _encode(
    *, out: Path, seconds: float, data_dir: Path, options: dict[str, object], bit_rate: int = 0, gop: int = 0
) -> None:
    codec = _encoder_name()
    n_frames = round(seconds * FPS)
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.thread_type = "AUTO"
        if codec == "libx264":
            stream.options = options
        if gop:
            stream.codec_context.gop_size = gop
        if bit_rate:
            stream.bit_rate = bit_rate
        written = 0
        while written < n_frames:
            for rgb in _letterboxed_frames(data_dir=data_dir):
                if written >= n_frames:
                    break
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = written
                frame.time_base = Fraction(1, FPS)
                container.mux(stream.encode(frame))
                written += 1
        container.mux(stream.encode(None))
    tmp.replace(out)


def make_test_video(
    *, out_dir: Path | None = None, seconds: float = 180.0, data_dir: Path = DATA_DIR
) -> Path:
    """A ~3-minute 1080p video looping the shared clips (cached by file name)."""
    out = (out_dir or default_cache_dir()) / f"loop_{int(seconds)}s_1080p.mp4"
    if not out.exists():
        # x264 defaults (keyint 250, scene-cut keyframes, B-frames): what typical encoders produce.
        _encode(out=out, seconds=seconds, data_dir=data_dir, options={"preset": "veryfast", "crf": "20"})
    return out


def make_large_video(
    *, out_dir: Path | None = None, target_bytes: int = 2 * 1024**3, data_dir: Path = DATA_DIR
) -> Path:
    """A ~2 GB 1080p video: a 30 s segment at ~60 Mbit/s (keyframe every 2 s), its packets repeated until
    target_bytes (about 5 minutes)."""
    out_dir = out_dir or default_cache_dir()
    out = out_dir / f"large_{target_bytes // 1024**2}MB_1080p.mp4"
    if out.exists():
        return out
    segment = out_dir / "large_segment_30s.mp4"
    if not segment.exists():
        _encode(
            out=segment,
            seconds=30.0,
            data_dir=data_dir,
            options={"preset": "ultrafast", "qp": "4"},
            bit_rate=80_000_000,
            gop=2 * FPS,  # a keyframe every 2 s, like phone cameras
        )
    seg_bytes = segment.stat().st_size
    repeats = max(1, -(-target_bytes // seg_bytes))
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(segment)) as src, av.open(str(tmp), "w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        seg_duration = 0
        for i in range(repeats):
            src.seek(0)
            offset = i * seg_duration
            for packet in src.demux(in_stream):
                if packet.dts is None:
                    continue
                if i == 0 and packet.pts is not None and packet.duration:
                    seg_duration = max(seg_duration, packet.pts + packet.duration)
                packet.pts = None if packet.pts is None else packet.pts + offset
                packet.dts = packet.dts + offset
                packet.stream = out_stream
                dst.mux(packet)
    tmp.replace(out)
    return out


@dataclass(frozen=True, slots=True)
class RunFigures:
    path: str
    video_seconds: float
    file_mb: float
    wall_seconds: float
    realtime_x: float  # video seconds per wall-clock second
    cpu_seconds: float  # user + system CPU of this process (all threads) during the analysis
    cpu_realtime_x: float  # video seconds per CPU second (decode + detection added up)
    engine_cpu_seconds: float  # of those, the calling thread's (face engine + tracking); the rest is
    # decoding in the prefetch thread and FFmpeg's threads, which run alongside on the other core
    idle_realtime_x: float  # estimate for an otherwise idle 2-core machine: the busier side sets the pace
    sampled_frames: int
    appearances: int
    peak_rss_mb: float


def _run_analysis(path: Path, *, detect_long_edge: int | None = None) -> RunFigures:
    from processing.faces import DlibEngine
    from processing.video import analyze_video

    engine = DlibEngine() if detect_long_edge is None else DlibEngine(detect_long_edge=detect_long_edge)
    engine.warm_up()
    cpu_before, main_before = _cpu_seconds(), time.thread_time()
    started = time.perf_counter()
    result = analyze_video(path, engine, max_seconds=24 * 3600)
    wall = time.perf_counter() - started
    cpu, main = _cpu_seconds() - cpu_before, time.thread_time() - main_before
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return RunFigures(
        path=str(path),
        video_seconds=round(result.info.duration_s, 2),
        file_mb=round(path.stat().st_size / 1024**2, 1),
        wall_seconds=round(wall, 2),
        realtime_x=round(result.info.duration_s / wall, 2),
        cpu_seconds=round(cpu, 2),
        cpu_realtime_x=round(result.info.duration_s / cpu, 2),
        engine_cpu_seconds=round(main, 2),
        idle_realtime_x=round(result.info.duration_s / max(main, cpu - main), 2),
        sampled_frames=result.sampled_frames,
        appearances=len(result.appearances),
        peak_rss_mb=round(rss_kb / 1024, 1),
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_realtime(path: Path, *, detect_long_edge: int | None = DEFAULT_FRAME_LONG_EDGE) -> RunFigures:
    """Processing speed in this process: video duration / wall time. `detect_long_edge` configures the
    engine (None: the engine's default, which upscales 1280-px frames to 1600 px before HOG)."""
    return _run_analysis(path, detect_long_edge=detect_long_edge)


def measure_worker_rss(
    path: Path, *, detect_long_edge: int | None = DEFAULT_FRAME_LONG_EDGE
) -> tuple[RunFigures, float]:
    """Run one worker in a child process; return its figures and its peak RSS (MB) seen by the parent."""
    code = (
        "import json, resource, subprocess, sys\n"
        "proc = subprocess.run([sys.executable, '-m', 'bench.video_processing', '--worker', *sys.argv[1:]],"
        " capture_output=True, text=True, check=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'worker': proc.stdout.strip().splitlines()[-1], 'rss_mb': rss}))\n"
    )
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), "--detect-long-edge", str(detect_long_edge or 0)],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    figures = RunFigures(**json.loads(data["worker"]))
    return figures, round(float(data["rss_mb"]), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--worker", type=Path, help="internal: analyse one video and print figures as JSON")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--large-bytes", type=int, default=2 * 1024**3)
    parser.add_argument(
        "--detect-long-edge",
        type=int,
        default=DEFAULT_FRAME_LONG_EDGE,
        help="DlibEngine(detect_long_edge=...) for the run; 0 = the engine's default",
    )
    args = parser.parse_args(argv)
    edge = args.detect_long_edge or None
    if args.worker:
        print(json.dumps(asdict(_run_analysis(args.worker, detect_long_edge=edge))))
        return
    test_video = make_test_video(out_dir=args.cache_dir, seconds=args.seconds)
    load_before = os.getloadavg()[0]  # other work on the machine slows the wall-clock figures
    speed = measure_realtime(test_video, detect_long_edge=edge)
    print(f"speed: {speed}")
    large = make_large_video(out_dir=args.cache_dir, target_bytes=args.large_bytes)
    worker, worker_rss = measure_worker_rss(large, detect_long_edge=edge)
    print(f"large video worker: {worker}, peak RSS {worker_rss} MB")
    result = {
        "realtime_x": speed.realtime_x,
        "cpu_realtime_x": speed.cpu_realtime_x,
        "idle_realtime_x": speed.idle_realtime_x,
        "load_avg_1m_before": round(load_before, 2),
        "video_seconds": speed.video_seconds,
        "wall_seconds": speed.wall_seconds,
        "sampled_frames": speed.sampled_frames,
        "appearances": speed.appearances,
        "large_video_mb": worker.file_mb,
        "large_video_seconds": worker.video_seconds,
        "large_realtime_x": worker.realtime_x,
        "large_cpu_realtime_x": worker.cpu_realtime_x,
        "large_idle_realtime_x": worker.idle_realtime_x,
        "worker_peak_rss_mb": worker_rss,
        "detect_long_edge": edge,
    }
    print(f"RESULT {json.dumps(result)}")


if __name__ == "__main__":
    main()
