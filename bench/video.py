"""Video benchmark, all in one run: processing speed, the worker's peak RSS, the web process's peak RSS.

    .venv/bin/python -m bench.video [--seconds 180] [--large-bytes 2147483648] [--uploads 8]
                                     [--upload-bytes 1073741824]

1. Speed: the worker path (`processing.clip.analyze_clip`: probe, poster, sampled frames, faces, tracks)
   on a ~3-minute 1080p H.264 loop of the shared clips, as a multiple of real time. Baseline: decoding
   every frame at full resolution (no seeking, no skipped frames) with the same detector on the same
   number of samples, over the first `--baseline-seconds`.
2. Worker peak RSS: `analyze_clip` on a ~2 GB 1080p video in a child process (the pixel process of a
   worker; its parent only streams the object from S3 to a temporary file, chunk by chunk). Baseline:
   the naive way, the whole file read into memory and opened from there (probe + poster only).
3. Web peak RSS: `facetag serve` (with its job worker, FACETAG_WORKER_CONCURRENCY=8) as a child process
   on an embedded Postgres + SeaweedFS in a fresh directory under /tmp, Slack pointed at a FakeSlack in
   this process whose files are 1 GB each (served from sparse files on disk). Eight signed file_share
   events arrive at once; the serve process's RSS (main process only; pixel work runs in its child
   processes, reported separately) is sampled until all eight originals are in the pending bucket.
   Baseline: one upload done the naive way (the whole download in memory, then one PUT), in a child.

The last line is `RESULT {json}` with `realtime_x`, `worker_peak_rss_mb`, `web_peak_rss_mb` (and more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
import psutil

from bench.video_processing import DATA_DIR, default_cache_dir, make_large_video, make_test_video

REPO = Path(__file__).resolve().parent.parent
CROWD = DATA_DIR / "facenet-pytorch/examples/video.mp4"
GOALS = {"realtime_x": 10.0, "worker_peak_rss_mb": 1024.0, "web_peak_rss_mb": 200.0}
MB = 1024 * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------- speed


@dataclass(frozen=True, slots=True)
class Speed:
    video_seconds: float
    wall_seconds: float
    cpu_seconds: float
    realtime_x: float
    cpu_realtime_x: float
    sampled_frames: int
    people: int


def _warm_up(face_engine: object) -> None:
    from processing.faces import DlibEngine

    if isinstance(face_engine, DlibEngine):
        face_engine.warm_up()


def _worker_threads() -> None:
    """One BLAS thread, as in the pool's pixel processes (`processing.pool`), set before a BLAS loads.
    (Measured when dlib was built on OpenBLAS: with OpenBLAS's default, a spinning thread per core,
    `analyze_clip` took 18.6-19.5 CPU-s on the 3-minute video against 17.4-17.8 s.)"""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def measure_speed(path: Path) -> Speed:
    _worker_threads()
    from processing.clip import analyze_clip, engine

    _warm_up(engine())  # models load once per pixel process, not per video
    cpu, started = _cpu_seconds(), time.perf_counter()
    result = analyze_clip(str(path), max_seconds=24 * 3600)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return Speed(
        video_seconds=result.duration_s,
        wall_seconds=round(wall, 2),
        cpu_seconds=round(cpu, 2),
        realtime_x=round(result.duration_s / wall, 2),
        cpu_realtime_x=round(result.duration_s / cpu, 2),
        sampled_frames=result.sampled_frames,
        people=len(result.appearances),
    )


def measure_speed_baseline(path: Path, *, seconds: float) -> Speed:
    """Every frame decoded at full resolution and converted to RGB; the detector on the same number of
    frames per second as the real path (one per sampling interval), over the first `seconds`."""
    _worker_threads()
    from processing.clip import VIDEO_DETECT_LONG_EDGE, engine
    from processing.video import SamplingPolicy, probe

    info = probe(path)
    interval = SamplingPolicy().interval_s(info.duration_s)
    face_engine = engine()
    _warm_up(face_engine)
    cpu, started = _cpu_seconds(), time.perf_counter()
    next_sample, samples, last = interval / 2, 0, 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            last = float(frame.time or 0.0)
            if last > seconds:
                break
            image = cast(Any, frame).to_image()  # full resolution RGB
            if last >= next_sample:
                face_engine.analyze(image.resize((VIDEO_DETECT_LONG_EDGE, VIDEO_DETECT_LONG_EDGE * 9 // 16)))
                samples += 1
                next_sample += interval
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return Speed(
        video_seconds=round(last, 2),
        wall_seconds=round(wall, 2),
        cpu_seconds=round(cpu, 2),
        realtime_x=round(last / wall, 2),
        cpu_realtime_x=round(last / cpu, 2),
        sampled_frames=samples,
        people=-1,
    )


# ---------------------------------------------------------------------------------------------- worker RSS


def _child_peak_rss(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run `python -m bench.video ARGS` in a fresh helper so RUSAGE_CHILDREN counts that child only."""
    code = (
        "import json, resource, subprocess, sys\n"
        "proc = subprocess.run([sys.executable, '-m', 'bench.video', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "if proc.returncode: sys.exit(proc.stderr[-3000:])\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'child': json.loads(proc.stdout.strip().splitlines()[-1]), 'rss_mb': rss}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=REPO
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["child"], round(float(data["rss_mb"]), 1)


def _worker_child(path: Path) -> dict[str, Any]:
    from processing.clip import analyze_clip

    started = time.perf_counter()
    result = analyze_clip(str(path), max_seconds=24 * 3600)
    wall = time.perf_counter() - started
    return {
        "video_seconds": result.duration_s,
        "file_mb": round(path.stat().st_size / MB, 1),
        "wall_seconds": round(wall, 2),
        "realtime_x": round(result.duration_s / wall, 2),
        "sampled_frames": result.sampled_frames,
        "people": len(result.appearances),
    }


def _naive_worker_child(path: Path) -> dict[str, Any]:
    import io

    from processing.video import poster

    data = path.read_bytes()  # the naive way: the whole object in memory
    container: Any
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / av.time_base
        frame = next(container.decode(stream))
        cast(Any, frame).to_image()
    del poster
    return {"video_seconds": round(duration, 2), "file_mb": round(len(data) / MB, 1)}


# ---------------------------------------------------------------------------------------------- web RSS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sparse_upload(path: Path, *, size: int, marker: int) -> None:
    """A real MP4 (so type sniffing accepts it), a distinct marker (distinct bytes: no deduplication),
    then a hole up to `size` bytes: no disk space, and read back as zeros without touching the disk."""
    with path.open("wb") as f:
        f.write(CROWD.read_bytes())
        f.write(f"facetag-bench-upload-{marker:04d}".encode())
        f.truncate(size)


@dataclass(frozen=True, slots=True)
class WebFigures:
    uploads: int
    upload_mb: float
    seconds: float
    main_peak_rss_mb: float
    main_rss_before_mb: float
    children_peak_rss_mb: float  # pixel processes (and anything else serve started), summed
    mb_per_s: float


async def measure_web(*, uploads: int, upload_bytes: int, work_dir: Path) -> WebFigures:
    from storage.embedded import EmbeddedPostgres, EmbeddedS3
    from storage.objects import ObjectStore
    from tests.fakes.slack import FakeSlack

    data_dir = Path(tempfile.mkdtemp(prefix="facetag-bench-web-", dir="/tmp"))
    files_dir = work_dir / "web-uploads"
    files_dir.mkdir(parents=True, exist_ok=True)
    postgres, s3 = EmbeddedPostgres(data_dir), EmbeddedS3(data_dir)
    serve: asyncio.subprocess.Process | None = None
    try:
        pg_url, endpoint = await asyncio.gather(postgres.start(), s3.start())
        async with FakeSlack() as slack:
            port = _free_port()
            env = {
                **os.environ,
                "FACETAG_DATA_DIR": str(data_dir),
                "FACETAG_HOST": "127.0.0.1",
                "FACETAG_PORT": str(port),
                "FACETAG_WORKER_CONCURRENCY": str(uploads),
                "FACETAG_LOG_LEVEL": "warning",
                "DATABASE_URL": pg_url,
                "S3_ENDPOINT_URL": endpoint.url,
                "S3_REGION": endpoint.region,
                "AWS_ACCESS_KEY_ID": endpoint.access_key,
                "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
                "SLACK_FILE_HOSTS": slack.file_host,
            }
            serve = await asyncio.create_subprocess_exec(
                str(REPO / ".venv/bin/facetag"),
                "serve",
                cwd=data_dir,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=(data_dir / "serve.log").open("wb"),
            )
            await _wait_ready(f"http://127.0.0.1:{port}/readyz", serve, log=data_dir / "serve.log")
            proc = psutil.Process(serve.pid)
            before = proc.memory_info().rss
            user = slack.add_user("uploader")
            channel = slack.add_channel("videos", members=[user.id])
            files = []
            for i in range(uploads):
                path = files_dir / f"upload-{i}.mp4"
                _sparse_upload(path, size=upload_bytes, marker=i)
                file = slack.add_file(user.id, f"upload-{i}.mp4", b"", mimetype="video/mp4")
                slack.side.disk_files[file.id] = path
                files.append(file)
            from tests.fakes.slack_payloads import deliver

            # one message per file (its file_share event), all delivered at once
            requests = [slack.payloads.file_upload(channel.id, user.id, [f])[0] for f in files]
            url = f"http://127.0.0.1:{port}/slack/events"
            started = time.perf_counter()
            peak_main, peak_children = before, 0
            delivered = asyncio.gather(*(deliver(url, r) for r in requests))
            async with ObjectStore.open(
                endpoint_url=endpoint.url,
                region=endpoint.region,
                access_key=endpoint.access_key,
                secret_key=endpoint.secret_key,
            ) as store:
                stored = 0
                next_check = 0.0
                while stored < uploads:
                    peak_main = max(peak_main, proc.memory_info().rss)
                    peak_children = max(peak_children, _children_rss(proc))
                    if serve.returncode is not None:
                        raise RuntimeError(f"facetag serve exited: {_tail(data_dir / 'serve.log')}")
                    if time.perf_counter() - started > 1800:
                        raise TimeoutError(f"only {stored} of {uploads} uploads stored after 30 minutes")
                    if time.perf_counter() >= next_check:
                        keys = await store.list_keys(bucket="facetag-pending")
                        stored = sum(1 for k in keys if k.endswith("/original"))
                        next_check = time.perf_counter() + 1.0
                    await asyncio.sleep(0.05)
                seconds = time.perf_counter() - started
                statuses = [d.status for d in await delivered]
                assert all(s == 200 for s in statuses), statuses
            return WebFigures(
                uploads=uploads,
                upload_mb=round(upload_bytes / MB, 1),
                seconds=round(seconds, 1),
                main_peak_rss_mb=round(peak_main / MB, 1),
                main_rss_before_mb=round(before / MB, 1),
                children_peak_rss_mb=round(peak_children / MB, 1),
                mb_per_s=round(uploads * upload_bytes / MB / seconds, 1),
            )
    finally:
        if serve is not None and serve.returncode is None:
            serve.terminate()
            try:
                await asyncio.wait_for(serve.wait(), 60)
            except TimeoutError:
                serve.kill()
                await serve.wait()
        await asyncio.gather(postgres.stop(), s3.stop(), return_exceptions=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(files_dir, ignore_errors=True)


def _children_rss(proc: psutil.Process) -> int:
    total = 0
    for child in proc.children(recursive=True):
        try:
            if child.name() in {"postgres", "weed"}:
                continue
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _wait_ready(
    url: str, serve: asyncio.subprocess.Process, *, log: Path, within: float = 180.0
) -> None:
    import aiohttp

    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if serve.returncode is not None:
                raise RuntimeError(f"facetag serve exited before it was ready: {_tail(log)}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("facetag serve was not ready in time")


async def _naive_web_child(upload_bytes: int, work_dir: Path) -> dict[str, Any]:
    """One upload the naive way: the whole download in memory, then one PUT (to a scratch SeaweedFS)."""
    import aiohttp

    from storage.embedded import EmbeddedS3
    from storage.objects import ObjectStore
    from tests.fakes.slack import FakeSlack

    data_dir = Path(tempfile.mkdtemp(prefix="facetag-bench-naive-", dir="/tmp"))
    path = work_dir / "naive-upload.mp4"
    _sparse_upload(path, size=upload_bytes, marker=9999)
    s3 = EmbeddedS3(data_dir)
    try:
        endpoint = await s3.start()
        async with (
            FakeSlack() as slack,
            ObjectStore.open(
                endpoint_url=endpoint.url,
                region=endpoint.region,
                access_key=endpoint.access_key,
                secret_key=endpoint.secret_key,
            ) as store,
        ):
            user = slack.add_user("uploader")
            file = slack.add_file(user.id, "naive.mp4", b"", mimetype="video/mp4")
            slack.side.disk_files[file.id] = path
            await store.ensure_buckets(["naive"])
            url = f"{slack.base_url}/files-pri/{slack.team_id}-{file.id}/naive.mp4"
            async with (
                aiohttp.ClientSession() as http,
                http.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"}) as resp,
            ):
                data = await resp.read()
            await store.put_bytes(bucket="naive", key="original", data=data, content_type="video/mp4")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process, not SeaweedFS
            return {"bytes": len(data), "peak_rss_mb": round(peak, 1)}
    finally:
        await s3.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- main


def _verdict(value: float, goal: float, *, higher_is_better: bool) -> str:
    ok = value >= goal if higher_is_better else value <= goal
    return f"{'meets' if ok else 'MISSES'} goal {'>=' if higher_is_better else '<='} {goal:g}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--naive-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--naive-web", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the 1080p speed video")
    parser.add_argument("--baseline-seconds", type=float, default=45.0)
    parser.add_argument("--large-bytes", type=int, default=2 * 1024**3)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--upload-bytes", type=int, default=1024**3)
    parser.add_argument("--only", default="", help="comma-separated subset of speed,worker,web")
    args = parser.parse_args(argv)
    cache = args.cache_dir or default_cache_dir()
    if args.worker:
        print(json.dumps(_worker_child(args.worker)))
        return
    if args.naive_worker:
        print(json.dumps(_naive_worker_child(args.naive_worker)))
        return
    if args.naive_web:
        print(json.dumps(asyncio.run(_naive_web_child(args.naive_web, cache))))
        return

    only = set(args.only.split(",")) if args.only else {"speed", "worker", "web"}
    load_before = os.getloadavg()[0]
    figures: dict[str, float] = {}
    result: dict[str, Any] = {}
    if "speed" in only:
        test_video = make_test_video(out_dir=cache, seconds=args.seconds)
        speed = measure_speed(test_video)
        print(f"speed, 1080p {speed.video_seconds:.0f} s loop: {speed}", flush=True)
        baseline = measure_speed_baseline(test_video, seconds=args.baseline_seconds)
        print(f"speed baseline (every frame decoded at full size): {baseline}", flush=True)
        figures["realtime_x"] = speed.realtime_x
        result |= {
            "cpu_realtime_x": speed.cpu_realtime_x,
            "video_seconds": speed.video_seconds,
            "sampled_frames": speed.sampled_frames,
            "baseline_realtime_x": baseline.realtime_x,
            "baseline_cpu_realtime_x": baseline.cpu_realtime_x,
        }
    if "worker" in only:
        large = make_large_video(out_dir=cache, target_bytes=args.large_bytes)
        worker, worker_rss = _child_peak_rss(["--worker", str(large)])
        print(f"worker on {worker['file_mb']} MB video: {worker}, peak RSS {worker_rss} MB", flush=True)
        _, naive_worker_rss = _child_peak_rss(["--naive-worker", str(large)])
        print(f"worker baseline (whole file in memory): peak RSS {naive_worker_rss} MB", flush=True)
        figures["worker_peak_rss_mb"] = worker_rss
        result |= {
            "large_video_mb": worker["file_mb"],
            "large_video_seconds": worker["video_seconds"],
            "large_realtime_x": worker["realtime_x"],
            "baseline_worker_peak_rss_mb": naive_worker_rss,
        }
    if "web" in only:
        web = asyncio.run(measure_web(uploads=args.uploads, upload_bytes=args.upload_bytes, work_dir=cache))
        print(f"web, {web.uploads} x {web.upload_mb} MB at once: {web}", flush=True)
        naive_web, _ = _child_peak_rss(["--naive-web", str(args.upload_bytes)])
        naive_web_rss = float(naive_web["peak_rss_mb"])
        print(
            f"web baseline (one upload read into memory, then PUT): peak RSS {naive_web_rss} MB", flush=True
        )
        figures["web_peak_rss_mb"] = web.main_peak_rss_mb
        result |= {
            "web_rss_before_uploads_mb": web.main_rss_before_mb,
            "web_children_peak_rss_mb": web.children_peak_rss_mb,
            "web_upload_seconds": web.seconds,
            "web_upload_mb_per_s": web.mb_per_s,
            "baseline_web_peak_rss_mb_one_upload": naive_web_rss,
        }
    for key, value in figures.items():
        print(f"{key} = {value}: {_verdict(value, GOALS[key], higher_is_better=key == 'realtime_x')}")
    result = {
        **figures,
        **result,
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    print(f"RESULT {json.dumps(result)}")


if __name__ == "__main__":
    main()
