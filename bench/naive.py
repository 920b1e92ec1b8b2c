"""Naive baseline vs `DlibEngine`: face recall on training.xml and per-photo time on 12 MP photos.

    .venv/bin/python -m bench.naive [--photos 16] [--naive-photos 4] [--workers 2] [--out /tmp/facetag-12mp]
    .venv/bin/python -m bench.naive --micro      # kernels only: HOG ms/MP, embedding ms/face (dlib vs ONNX)

The naive recipe is `bench.common.NaiveEngine` (full-resolution HOG with one upsampling, one ResNet pass
per face). "pipeline" is what ingest does per photo (`processing.photo.analyze_photo`): decode at about
2000 px, `analyze` on that, both renditions, one crop per face and the numbered picture; "analyze-full"
runs the engine on the full 12 MP image instead.
Throughput runs the pipeline in `--workers` processes (one engine each). Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import (
    DATA_DIR,
    NaiveEngine,
    expected_face_count,
    face_recall_detail,
    ground_truth,
    load_rgb,
    make_12mp_photos,
    time_each,
)
from processing import images
from processing.faces import DlibEngine, FaceEngine, default_models_dir
from processing.photo import analyze_photo


def pipeline(engine: FaceEngine, path: Path) -> int:
    """Ingest work for one photo (no storage): returns the number of faces."""
    return len(analyze_photo(str(path), engine).faces)


def analyze_full(engine: FaceEngine, path: Path) -> int:
    return len(engine.analyze(images.decode(path).image))


_WORKER_ENGINE: list[DlibEngine] = []  # one engine per worker process (set by the pool initializer)


def _init_worker() -> None:
    _WORKER_ENGINE.append(DlibEngine())
    _WORKER_ENGINE[0].warm_up()


def _pipeline_in_worker(path: Path) -> int:
    return pipeline(_WORKER_ENGINE[0], path)


def throughput(paths: list[Path], *, workers: int) -> float:
    """Photos per second through `pipeline` with `workers` processes (models loaded before timing)."""
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        pool.map(_pipeline_in_worker, paths[:workers])  # warm-up
        start = time.perf_counter()
        pool.map(_pipeline_in_worker, paths, chunksize=1)
        return len(paths) / (time.perf_counter() - start)


def micro(*, repeats: int = 5) -> dict[str, float]:
    """Kernels: dlib's HOG ms per megapixel (1600 x 1200) and the face ResNet's ms per face (single and
    batch of 8), run by dlib itself (the baseline) and by ONNX Runtime (what `DlibEngine` uses)."""
    import dlib

    engine = DlibEngine()
    engine.warm_up()
    photo = load_rgb(sorted(ground_truth())[0]).resize((1600, 1200), Image.Resampling.BICUBIC)
    pixels = np.asarray(photo)
    detector = dlib.get_frontal_face_detector()

    def best(fn: object, n: int = repeats) -> float:
        times = []
        for _ in range(n):
            start = time.thread_time()  # CPU time of this thread: robust when other jobs share the cores
            fn()  # type: ignore[operator]
            times.append(time.thread_time() - start)
        return min(times) * 1000

    hog = best(lambda: detector.run(pixels, 0, 0.0)) / (pixels.shape[0] * pixels.shape[1] / 1e6)
    grey = np.asarray(photo.convert("L"))
    hog_grey = best(lambda: detector.run(grey, 0, 0.0)) / (grey.size / 1e6)
    faces = engine.analyze(photo)
    chip = np.asarray(
        dlib.get_face_chip(
            pixels,
            engine._loaded().landmarks(pixels, dlib.rectangle(*_rect(faces[0].box))),
            size=150,
            padding=0.25,
        )
    )
    recognizer = dlib.face_recognition_model_v1(
        str(default_models_dir() / "dlib_face_recognition_resnet_model_v1.dat")
    )
    single = best(lambda: recognizer.compute_face_descriptor(chip, 1))
    batch = best(lambda: recognizer.compute_face_descriptor([chip] * 8, 1), 3) / 8
    resnet = engine._loaded().resnet
    onnx_single = best(lambda: resnet.embed([chip]))
    onnx_batch = best(lambda: resnet.embed([chip] * 8), 3) / 8
    print(
        f"embedding ms/face: dlib {single:.1f} (batch of 8: {batch:.1f}),"
        f" ONNX Runtime {onnx_single:.1f} ({onnx_batch:.1f})"
    )
    return {
        "hog_ms_per_mp_rgb": round(hog, 1),
        "hog_ms_per_mp_grey": round(hog_grey, 1),
        "embed_ms_per_face": round(single, 1),
        "embed_ms_per_face_batch8": round(batch, 1),
        "onnx_embed_ms_per_face": round(onnx_single, 1),
        "onnx_embed_ms_per_face_batch8": round(onnx_batch, 1),
        "dlib_blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
        "openblas_threads": float(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0),
    }


def micro_flags() -> bool:
    """Whether the imported dlib was built with BLAS."""
    import dlib

    return bool(getattr(dlib, "DLIB_USE_BLAS", False))


def _rect(box: object) -> tuple[int, int, int, int]:
    from processing.faces import Box

    assert isinstance(box, Box)
    return box.left, box.top, box.right - 1, box.bottom - 1


def main() -> None:
    parser = argparse.ArgumentParser(description="naive baseline vs DlibEngine")
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--naive-photos", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/facetag-12mp"))
    parser.add_argument("--micro", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker process
    if args.micro:
        result = micro()
        print("RESULT " + json.dumps(result))
        return

    engine, naive = DlibEngine(), NaiveEngine()
    engine.warm_up()
    recall = {
        "naive": face_recall_detail(naive, data_dir=DATA_DIR),
        "engine": face_recall_detail(engine, data_dir=DATA_DIR),
        "engine_12mp": face_recall_detail(engine, upscale=8, data_dir=DATA_DIR),
    }
    for name, r in recall.items():
        print(
            f"recall {name:12s} {r.found}/{r.total} = {r.recall:.3f} (extra detections {r.false_positives})"
        )

    paths = make_12mp_photos(args.out, args.photos)
    expected = [expected_face_count(p) for p in paths]
    t_pipe = time_each(paths, lambda p: pipeline(engine, p))
    t_full = time_each(paths, lambda p: analyze_full(engine, p))
    t_naive = time_each(paths[: args.naive_photos], lambda p: analyze_full(naive, p))
    k = len(t_naive.seconds)
    speedup = sum(t_naive.seconds) / sum(t_pipe.seconds[:k])
    speedup_cpu = sum(t_naive.cpu_seconds) / sum(t_pipe.cpu_seconds[:k])
    per_second = throughput(paths, workers=args.workers)
    header = ("photo", "faces exp/found", "pipeline ms", "cpu ms", "full ms", "naive ms")
    print("{:24s} {:>15s} {:>11s} {:>7s} {:>8s} {:>9s}".format(*header))
    for i, path in enumerate(paths):
        naive_ms = f"{1000 * t_naive.seconds[i]:9.0f}" if i < k else f"{'-':>9s}"
        faces = f"{expected[i]}/{t_pipe.faces[i]}"
        pipe_ms, cpu_ms = 1000 * t_pipe.seconds[i], 1000 * t_pipe.cpu_seconds[i]
        full_ms = 1000 * t_full.seconds[i]
        print(f"{path.name:24s} {faces:>15s} {pipe_ms:11.0f} {cpu_ms:7.0f} {full_ms:8.0f} {naive_ms}")
    print(f"mean pipeline {t_pipe.mean_ms:.0f} ms (CPU {t_pipe.mean_cpu_ms:.0f} ms)", end=", ")
    print(f"analyze-full {t_full.mean_ms:.0f} ms", end=", ")
    print(f"naive {t_naive.mean_ms:.0f} ms (CPU {t_naive.mean_cpu_ms:.0f} ms)")
    print(f"speed-up vs naive on the same {k} photos: {speedup:.1f}x wall, {speedup_cpu:.1f}x CPU")
    cpu_bound = args.workers * 1000 / t_pipe.mean_cpu_ms
    print(f"throughput with {args.workers} worker processes: {per_second:.2f} photos/s measured", end=", ")
    print(f"{cpu_bound:.2f} photos/s from CPU time if the {args.workers} cores were idle")
    result = {
        "dlib_blas": micro_flags(),
        "recall_naive": round(recall["naive"].recall, 4),
        "recall_engine": round(recall["engine"].recall, 4),
        "recall_engine_12mp": round(recall["engine_12mp"].recall, 4),
        "pipeline_ms": round(t_pipe.mean_ms),
        "pipeline_cpu_ms": round(t_pipe.mean_cpu_ms),
        "analyze_full_ms": round(t_full.mean_ms),
        "naive_ms": round(t_naive.mean_ms),
        "naive_cpu_ms": round(t_naive.mean_cpu_ms),
        "speedup": round(speedup, 1),
        "speedup_cpu": round(speedup_cpu, 1),
        "photos_per_s": round(per_second, 2),
        "photos_per_s_cpu_bound": round(cpu_bound, 2),
        "workers": args.workers,
        "faces_expected": sum(expected),
        "faces_found": sum(t_pipe.faces),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
