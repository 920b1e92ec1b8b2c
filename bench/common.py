"""Shared helpers for the face benchmarks: the shared data set, ground truth, face recall, synthetic
12-megapixel photos and the naive face_recognition-style baseline.

Data comes from `../shared/data/faces` (`tests.support.shared`); it is read in place, never copied into
the repository.

Recall matching rule (`match_count`): a ground-truth box counts as found when a detection, not already
used, overlaps it with IoU >= 0.4, or when each box's centre lies inside the other (dlib's HOG boxes are
tighter than the PASCAL-style ground truth, so small faces can have IoU < 0.4 while clearly being the
same face). Matching is greedy, best IoU first, one detection per ground-truth box.
"""

from __future__ import annotations

import csv
import io
import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from processing.faces import Box, DetectedFace, FaceEngine, default_models_dir
from tests.support.shared import FACES

DATA_DIR = FACES
TRAINING_XML = Path("dlib/examples/faces/training.xml")
IOU_MIN = 0.4
SIZE_12MP = (4000, 3000)


# ---------------------------------------------------------------------------------------------- data set


@dataclass(frozen=True, slots=True)
class GroupPhoto:
    path: Path
    face_count: int


@dataclass(frozen=True, slots=True)
class IdentityImage:
    path: Path
    identity: str  # source-prefixed, e.g. "fr:obama"; never merged across prefixes
    kind: str  # "single-face" or "aligned-chip"


def group_photos(*, data_dir: Path = DATA_DIR) -> list[GroupPhoto]:
    with (data_dir / "group_photos.csv").open(newline="") as fh:
        return [GroupPhoto(data_dir / row["path"], int(row["face_count"])) for row in csv.DictReader(fh)]


def identity_images(*, data_dir: Path = DATA_DIR) -> list[IdentityImage]:
    with (data_dir / "identities.csv").open(newline="") as fh:
        return [IdentityImage(data_dir / r["path"], r["identity"], r["kind"]) for r in csv.DictReader(fh)]


def ground_truth(*, data_dir: Path = DATA_DIR) -> dict[Path, list[Box]]:
    """Face boxes from dlib's training.xml, by photo path (right/bottom exclusive)."""
    xml_path = data_dir / TRAINING_XML
    root = ET.parse(xml_path).getroot()  # noqa: S314 - trusted local ground-truth file
    truth: dict[Path, list[Box]] = {}
    for image in root.iter("image"):
        boxes = []
        for b in image.iter("box"):
            left, top = int(b.attrib["left"]), int(b.attrib["top"])
            boxes.append(Box(left, top, left + int(b.attrib["width"]), top + int(b.attrib["height"])))
        truth[xml_path.parent / image.attrib["file"]] = boxes
    return truth


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


# ---------------------------------------------------------------------------------------------- recall


def _centre_inside(a: Box, b: Box) -> bool:
    cx, cy = (a.left + a.right) / 2, (a.top + a.bottom) / 2
    return b.left <= cx < b.right and b.top <= cy < b.bottom


def match_count(*, truth: Sequence[Box], found: Sequence[Box], iou_min: float = IOU_MIN) -> int:
    """How many ground-truth boxes are matched one-to-one by `found` (rule in the module docstring)."""
    pairs = []
    for ti, t in enumerate(truth):
        for fi, f in enumerate(found):
            iou = t.iou(f)
            if iou >= iou_min or (_centre_inside(t, f) and _centre_inside(f, t)):
                pairs.append((iou, ti, fi))
    used_t: set[int] = set()
    used_f: set[int] = set()
    for _, ti, fi in sorted(pairs, reverse=True):
        if ti not in used_t and fi not in used_f:
            used_t.add(ti)
            used_f.add(fi)
    return len(used_t)


@dataclass(frozen=True, slots=True)
class Recall:
    found: int
    total: int
    false_positives: int

    @property
    def recall(self) -> float:
        return self.found / self.total if self.total else 1.0


def face_recall_detail(engine: FaceEngine, *, upscale: int = 1, data_dir: Path = DATA_DIR) -> Recall:
    """Recall of `engine.analyze` on the training.xml photos; `upscale` > 1 first enlarges each photo
    (and its boxes) by that factor, e.g. 8 turns the 500 x 375 photos into 4000 x 3000."""
    found = total = false_pos = 0
    for path, truth in sorted(ground_truth(data_dir=data_dir).items()):
        image = load_rgb(path)
        if upscale != 1:
            image = image.resize((image.width * upscale, image.height * upscale), Image.Resampling.BICUBIC)
            truth = [b.scaled(upscale) for b in truth]
        boxes = [f.box for f in engine.analyze(image)]
        hits = match_count(truth=truth, found=boxes)
        found += hits
        total += len(truth)
        false_pos += len(boxes) - hits
    return Recall(found, total, false_pos)


def face_recall(engine: FaceEngine, *, upscale: int = 1, data_dir: Path = DATA_DIR) -> float:
    """Share of training.xml ground-truth faces that `engine` finds."""
    return face_recall_detail(engine, upscale=upscale, data_dir=data_dir).recall


# ---------------------------------------------------------------------------------------------- 12 MP photos


@dataclass(frozen=True, slots=True)
class _Recipe:
    sources: tuple[Path, ...]  # 1 = cover the whole frame, 2 = side by side, 4 = 2 x 2 grid
    faces: int


def _recipes(data_dir: Path) -> list[_Recipe]:
    groups = [g for g in group_photos(data_dir=data_dir) if 1 <= g.face_count <= 7]
    singles = [i.path for i in identity_images(data_dir=data_dir) if i.kind == "single-face"]
    recipes = [_Recipe((g.path,), g.face_count) for g in groups]
    recipes += [_Recipe((p,), 1) for p in singles[::3]]
    recipes += [_Recipe(tuple(singles[i : i + 2]), 2) for i in range(1, len(singles) - 1, 5)]
    recipes += [_Recipe(tuple(singles[i : i + 4]), 4) for i in range(2, len(singles) - 3, 6)]
    return recipes


def _contain(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to fit inside `size`, centred on a grey background (no face is ever cropped away)."""
    ratio = min(size[0] / image.width, size[1] / image.height)
    scaled = image.resize(
        (min(size[0], round(image.width * ratio)), min(size[1], round(image.height * ratio))),
        Image.Resampling.BICUBIC,
    )
    canvas = Image.new("RGB", size, (118, 118, 118))
    canvas.paste(scaled, ((size[0] - scaled.width) // 2, (size[1] - scaled.height) // 2))
    return canvas


def _compose(recipe: _Recipe, rng: np.random.Generator) -> Image.Image:
    w, h = SIZE_12MP
    sources = [load_rgb(p) for p in recipe.sources]
    if len(sources) == 1:
        first = sources[0]
        size = (h, w) if first.height > first.width * 1.1 else (w, h)  # keep portrait photos portrait
        canvas = _contain(first, size)
    else:
        canvas = Image.new("RGB", (w, h))
        cols = 2
        rows = (len(sources) + 1) // cols
        cell = (w // cols, h // rows)
        for i, src in enumerate(sources):
            canvas.paste(_contain(src, cell), ((i % cols) * cell[0], (i // cols) * cell[1]))
    # mild sensor-like noise so the JPEG has realistic entropy (and decode cost) after upscaling
    pixels = np.asarray(canvas, dtype=np.int16) + rng.normal(0, 3.0, (canvas.height, canvas.width, 1)).astype(
        np.int16
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def synthetic_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "FacetagBench"
    exif[0x0110] = "Synthetic 12MP"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:17 14:03:22"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    return exif


def expected_face_count(path: Path) -> int:
    """The face count encoded in a `make_12mp_photos` file name (`12mp_003_6f.jpg` -> 6)."""
    return int(path.stem.rsplit("_", 1)[1].rstrip("f"))


def make_12mp_photos(out_dir: Path, n: int, *, data_dir: Path = DATA_DIR, seed: int = 0) -> list[Path]:
    """Write `n` 12-megapixel JPEGs (4000 x 3000, portrait sources 3000 x 4000) with 1-7 faces each, built
    from the shared photos (group photos upscaled, single portraits upscaled or tiled 1x2 / 2x2, each scaled
    to fit its frame, never cropped).
    Files are reused when already there. The expected face count is in the name (`expected_face_count`);
    for single-face sources it is the labelled person (a few sources also show bystanders)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    recipes = _recipes(data_dir)
    random.Random(seed).shuffle(recipes)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        recipe = recipes[i % len(recipes)]
        path = out_dir / f"12mp_{i:03d}_{recipe.faces}f.jpg"
        if not path.exists():
            _compose(recipe, rng).save(path, "JPEG", quality=92, exif=synthetic_exif())
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------ naive baseline


class NaiveEngine:
    """What the face_recognition library does (`face_locations(img)` + `face_encodings(img)`): HOG with
    one 2x upsampling on the full-resolution image, then 5-point landmarks and one ResNet pass per face
    (num_jitters=1), each face separately."""

    name = "naive"

    def __init__(self, *, match_threshold: float = 0.07) -> None:
        import dlib

        models = default_models_dir()
        self.match_threshold = match_threshold
        self._dlib: Any = dlib
        self._detector: Any = dlib.get_frontal_face_detector()
        self._landmarks: Any = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._recognizer: Any = dlib.face_recognition_model_v1(
            str(models / "dlib_face_recognition_resnet_model_v1.dat")
        )

    def analyze(self, image: Image.Image) -> list[DetectedFace]:
        pixels = np.asarray(image.convert("RGB"))
        rects, scores, _ = self._detector.run(pixels, 1, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            shape = self._landmarks(pixels, rect)
            vector = np.asarray(self._recognizer.compute_face_descriptor(pixels, shape, 1), dtype=np.float32)
            vector /= np.linalg.norm(vector)
            box = Box(
                max(rect.left(), 0),
                max(rect.top(), 0),
                min(rect.right() + 1, image.width),
                min(rect.bottom() + 1, image.height),
            )
            faces.append(DetectedFace(box, float(score), vector, 1.0))
        return faces


# ---------------------------------------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: list[float]  # wall time per photo
    cpu_seconds: list[float]  # CPU time of this process per photo (robust when other jobs share the cores)
    faces: list[int]

    @property
    def mean_cpu_ms(self) -> float:
        return 1000 * sum(self.cpu_seconds) / len(self.cpu_seconds) if self.cpu_seconds else 0.0

    @property
    def mean_ms(self) -> float:
        return 1000 * sum(self.seconds) / len(self.seconds) if self.seconds else 0.0

    @property
    def per_second(self) -> float:
        return len(self.seconds) / sum(self.seconds) if self.seconds else 0.0


def time_each(paths: Sequence[Path], work: Callable[[Path], int]) -> Timing:
    """Wall time of `work(path)` (which returns a face count) for each photo, one after another."""
    seconds, cpu, faces = [], [], []
    for path in paths:
        start, start_cpu = time.perf_counter(), time.process_time()
        faces.append(work(path))
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Timing(seconds, cpu, faces)


def jpeg_bytes(image: Image.Image, *, quality: int = 92, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return buf.getvalue()


def chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
