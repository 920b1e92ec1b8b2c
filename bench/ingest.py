"""End-to-end ingest throughput on the embedded stack vs the naive face_recognition recipe.

    .venv/bin/python -m bench.ingest [--photos 32] [--naive-photos 6] [--out /tmp/facetag-12mp]

facetag: 12-megapixel photos with 1-7 faces are shared in a (fake) Slack channel over signed HTTP;
the clock runs from the first event to the last thread reply, through the real app: Slack events →
ingest (download, S3 multipart) → process (decode, renditions, faces, recognition) → reply. The worker
uses this machine's cores (one pixel process per core).

Baseline, in the same run: the naive recipe (full-resolution HOG upsampled once + a dlib embedding
for every face, as the face_recognition library does) on the same photos, in one process per core,
with no storage or network at all.

Also prints face recall on the ground-truth boxes in dlib/examples/faces/training.xml for both.
Last line: `RESULT {json}` with photos_per_s, naive_photos_per_s, speedup_vs_naive, face_recall,
naive_face_recall.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import NaiveEngine, face_recall, make_12mp_photos
from processing.faces import DlibEngine
from processing.images import decode
from storage.settings import load_settings
from tests.support.slack import SlackScenario, slack_scenario
from tests.support.stack import embedded_stack


async def facetag_throughput(photos: list[Path], *, workers: int) -> tuple[float, int]:
    """Photos per second from the first Slack event to the last reply; and faces found."""
    data = Path(tempfile.mkdtemp(prefix="facetag-bench-ingest-", dir="/tmp"))
    try:
        async with embedded_stack(data) as stack:
            settings = load_settings(
                _env_file=None,
                FACETAG_DATA_DIR=str(data),
                DATABASE_URL=stack.pg_url,
                S3_ENDPOINT_URL=stack.endpoint.url,
                AWS_ACCESS_KEY_ID=stack.endpoint.access_key,
                AWS_SECRET_ACCESS_KEY=stack.endpoint.secret_key,
            )
            async with slack_scenario(settings, pixel_processes=workers, worker_concurrency=2 * workers) as s:
                return await _run(s, photos)
    finally:
        shutil.rmtree(data, ignore_errors=True)


async def _run(s: SlackScenario, photos: list[Path]) -> tuple[float, int]:
    alice = s.slack.add_user("alice")
    channel = s.slack.add_channel("photos", members=[alice.id])
    warm = await s.share(channel.id, alice.id, [("warm-up.jpg", photos[0].read_bytes())])
    await s.app.idle(within=600)  # models loaded in every pixel process before timing
    assert s.replies(warm)
    files = [s.slack.add_file(alice.id, p.name, p.read_bytes()) for p in photos[1:]]
    requests = [r for f in files for r in s.slack.payloads.file_upload(channel.id, alice.id, [f])]
    started = time.perf_counter()
    for request in requests:
        delivery = await s.send(request)
        assert delivery.status == 200, delivery.text
    await s.app.idle(within=3600)
    elapsed = time.perf_counter() - started
    replies = [m for m in s.slack.messages_in(channel.id) if m.user == s.slack.bot_user_id]
    assert len(replies) >= len(files), f"only {len(replies)} replies for {len(files)} photos"
    from sqlalchemy import func, select

    from storage.models import Face

    async with s.app.ctx.db.session() as session:
        faces = int((await session.execute(select(func.count()).select_from(Face))).scalar_one())
    return len(files) / elapsed, faces


_NAIVE: list[NaiveEngine] = []


def _naive_init() -> None:
    _NAIVE.append(NaiveEngine())


def _naive_photo(path: Path) -> int:
    """The naive recipe on one photo: full-resolution decode, HOG upsampled once, embed every face."""
    return len(_NAIVE[0].analyze(decode(path).image))


def naive_throughput(paths: list[Path], *, workers: int) -> float:
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_naive_init) as pool:
        pool.map(_naive_photo, paths[:1])  # load the models
        started = time.perf_counter()
        pool.map(_naive_photo, paths, chunksize=1)
        return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--naive-photos", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("/tmp/facetag-12mp"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    photos = make_12mp_photos(args.out, args.photos + 1)
    print(f"{len(photos)} photos of 12 MP in {args.out}; {args.workers} pixel processes")

    naive_rate = naive_throughput(photos[1 : args.naive_photos + 1], workers=args.workers)
    print(f"naive (full-res HOG upsample 1 + embed every face): {naive_rate:.2f} photos/s")

    rate, faces = asyncio.run(facetag_throughput(photos, workers=args.workers))
    print(f"facetag end to end (Slack event → S3 → faces → thread reply): {rate:.2f} photos/s, {faces} faces")

    recall = face_recall(DlibEngine())
    naive_recall = face_recall(NaiveEngine())
    print(f"face recall on training.xml: facetag {recall:.3f}, naive {naive_recall:.3f}")
    speedup = rate / naive_rate if naive_rate else 0.0
    print(f"speed-up vs naive: {speedup:.1f}x (goal ≥ 5x and ≥ 4 photos/s)")
    result = {
        "photos_per_s": round(rate, 3),
        "naive_photos_per_s": round(naive_rate, 3),
        "speedup_vs_naive": round(speedup, 2),
        "face_recall": round(recall, 4),
        "naive_face_recall": round(naive_recall, 4),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
