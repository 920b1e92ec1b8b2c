"""Faces: the `FaceEngine` protocol and the dlib engine (HOG detection, 5-point alignment, ResNet 128-d
embeddings).

Speed: the naive recipe (what the face_recognition library does) runs HOG with one 2x upsampling on
the full-resolution photo, which on a 12 MP photo scans a 48 MP pyramid (about 5 s on one core).
`DlibEngine` instead detects on a copy whose long edge is `detect_long_edge` (downscaled for big
photos, upscaled at most 2x for small ones, so small photos get exactly the naive 2x upsampling), maps
the boxes back, and takes landmarks and aligned 150 x 150 chips from the image it was given. The
embeddings of all faces of a photo are computed in one batch, by dlib's ResNet weights run in ONNX
Runtime (`processing.resnet`: 8-10 ms per face against dlib's own ~98, same numbers).

Detection is dlib's HOG detector. dlib's CNN (MMOD) detector is not offered: the dlib-bin wheel runs it
on the CPU only, at 7.7 s per 12 MP photo against 0.22 s for HOG at 1400 px, and it found 4 of the 6
faces of the shared group photo `dlib/examples/faces/2008_002079.jpg` where HOG found all 6.

Threads: dlib's detector is not thread-safe (it loads each image into its scanner), so `DlibEngine`
guards detection and description with one lock each. dlib releases the GIL during HOG detection and
ONNX Runtime while embedding, so threads sharing one engine overlap; still, for full use of the cores
run one engine per worker *process* (models load lazily on first use: ~0.8 s, ~250 MB per process).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from processing.calibration import DEFAULT_MATCH_THRESHOLD
from processing.errors import ModelsMissing
from processing.resnet import CHIP_SIZE, ResNet

Embedding = npt.NDArray[np.float32]

DEFAULT_DETECT_LONG_EDGE = 1400
CHIP_PADDING = 0.25
_MAX_UPSCALE = 2.0
_GOOD_FACE_PX = 100.0  # box width from which size no longer limits recognition quality
_SHARP_SCALE = 60.0  # Laplacian variance of a chip at which sharpness counts as 0.5


@dataclass(frozen=True, slots=True)
class Box:
    """Pixel coordinates in the (EXIF-rotated) image the engine was given; right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float) -> Box:
        """The same box in an image resized by `factor`."""
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )

    def iou(self, other: Box) -> float:
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        return inter.area / (self.area + other.area - inter.area)


@dataclass(frozen=True, slots=True)
class DetectedFace:
    box: Box
    score: float  # detector confidence: HOG SVM margin (>= 0, ~0-3)
    embedding: Embedding  # shape (128,), float32, L2-normalised
    quality: float  # how good a face is for recognition (size x sharpness x frontal), 0..1


class FaceEngine(Protocol):
    name: str  # "dlib"
    match_threshold: float  # max cosine distance for "same person", calibrated

    def analyze(self, image: Image.Image) -> list[DetectedFace]: ...  # blocking


def cosine_distance(a: Embedding, b: Embedding) -> float:
    """1 - cosine similarity of two L2-normalised embeddings (0 = identical, 2 = opposite)."""
    return float(1.0 - np.dot(a, b))


def default_models_dir() -> Path:
    """Where face-recognition-models keeps the dlib weights (found without importing the package,
    whose `__init__` needs the removed `pkg_resources`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing("The face-recognition-models package is not installed.")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True, slots=True)
class _DlibModels:
    detector: Any  # dlib.fhog_object_detector (frontal faces)
    landmarks: Any  # dlib.shape_predictor (5 points)
    resnet: ResNet  # dlib's face ResNet weights, run in ONNX Runtime

    @classmethod
    def load(cls, models_dir: Path) -> _DlibModels:
        import dlib

        def path(name: str) -> str:
            file = models_dir / name
            if not file.is_file():
                raise ModelsMissing(f"dlib model file {file} is missing.")
            return str(file)

        return cls(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(path("shape_predictor_5_face_landmarks.dat")),
            resnet=ResNet(Path(path("dlib_face_recognition_resnet_model_v1.dat"))),
        )


class DlibEngine:
    """`FaceEngine` on dlib. Models load lazily on first use; instances may be shared between threads
    (each model is used by one thread at a time), but use one instance per process for parallelism.

    - `match_threshold`: max cosine distance for "same person" (see `DEFAULT_MATCH_THRESHOLD`).
    - `detect_long_edge`: size of the detection copy. HOG finds faces from ~80 px in that copy, so the
      smallest face found is about 80 / `detect_long_edge` of the photo's long edge (1400: 5.7 %, i.e.
      230 px on a 4000 px photo); photos up to half this size are scanned 2x upsampled (faces from
      ~40 px), as the naive recipe does. Detection cost grows with the square of this value: HOG takes
      104 ms at 1400 against 137 ms at 1600, with the same recall (all 85 faces of the bench's 12 MP
      photos, 18/18 on training.xml at 1x and 8x); at 1024 the bench loses a face.
    - `detect_grey`: run HOG on the grey copy (~25 % faster, same recall on the shared photos); small
      photos that get upsampled are scanned in colour.
    """

    name = "dlib"

    def __init__(
        self,
        *,
        match_threshold: float = DEFAULT_MATCH_THRESHOLD,
        detect_long_edge: int = DEFAULT_DETECT_LONG_EDGE,
        detect_grey: bool = True,
        models_dir: Path | None = None,
    ) -> None:
        self.match_threshold = match_threshold
        self.detect_long_edge = detect_long_edge
        self.detect_grey = detect_grey
        self._models_dir = models_dir
        self._models: _DlibModels | None = None
        self._load_lock = threading.Lock()
        self._detect_lock = threading.Lock()
        self._describe_lock = threading.Lock()

    def _loaded(self) -> _DlibModels:
        with self._load_lock:
            if self._models is None:
                self._models = _DlibModels.load(self._models_dir or default_models_dir())
            return self._models

    def warm_up(self) -> None:
        """Load the models now (otherwise the first `analyze` does)."""
        self._loaded()

    def analyze(self, image: Image.Image) -> list[DetectedFace]:
        models = self._loaded()
        pixels = _rgb_array(image)
        with self._detect_lock:
            found = self._detect(models, image, pixels)
        with self._describe_lock:
            return self._describe(models, pixels, found)

    def analyze_crop(self, image: Image.Image, *, padding: float = CHIP_PADDING) -> DetectedFace:
        """Treat the whole `image` as one face crop (e.g. an already aligned chip with `padding` around
        the face, as `dlib.get_face_chip` makes): landmarks, alignment and embedding without detection."""
        pixels = _rgb_array(image)
        h, w = pixels.shape[:2]
        inset_x, inset_y = w * padding / (1 + 2 * padding), h * padding / (1 + 2 * padding)
        box = Box(round(inset_x), round(inset_y), round(w - inset_x), round(h - inset_y))
        models = self._loaded()
        with self._describe_lock:
            return self._describe(models, pixels, [(box, 0.0)])[0]

    def detect(self, image: Image.Image) -> list[tuple[Box, float]]:
        """Face boxes and detector scores only (no embeddings)."""
        models = self._loaded()
        pixels = _rgb_array(image)
        with self._detect_lock:
            return self._detect(models, image, pixels)

    def describe(self, image: Image.Image, found: Sequence[tuple[Box, float]]) -> list[DetectedFace]:
        """Landmarks, aligned chips and embeddings for boxes that `detect` found in the same `image`."""
        models = self._loaded()
        pixels = _rgb_array(image)
        with self._describe_lock:
            return self._describe(models, pixels, found)

    # ------------------------------------------------------------------------------------------ internals

    def _detect(
        self, models: _DlibModels, image: Image.Image, pixels: npt.NDArray[np.uint8]
    ) -> list[tuple[Box, float]]:
        h, w = pixels.shape[:2]
        scale = min(self.detect_long_edge / max(w, h), _MAX_UPSCALE)
        grey = self.detect_grey
        if scale >= _MAX_UPSCALE:  # small photo: dlib's own 2x pyramid-up on RGB, exactly the naive recipe
            work, upsample, scale, grey = pixels, 1, 1.0, False
        elif abs(scale - 1.0) < 0.02:
            work, upsample, scale = pixels, 0, 1.0
        else:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            source = image.convert("L") if grey else _as_rgb(image)
            # Area averaging to shrink (11 ms for 2000 -> 1400 px grey, bilinear 16 ms; same recall).
            resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
            work, upsample = np.asarray(source.resize(size, resample)), 0
        if grey and work.ndim == 3:
            work = np.asarray(Image.fromarray(work).convert("L"))
        rects, scores, _ = models.detector.run(work, upsample, 0.0)
        found = [
            (_box_from_rect(rect, 1.0 / scale, w, h), float(score))
            for rect, score in zip(rects, scores, strict=True)
        ]
        return [(box, score) for box, score in found if box.width > 1 and box.height > 1]

    def _describe(
        self, models: _DlibModels, pixels: npt.NDArray[np.uint8], found: Sequence[tuple[Box, float]]
    ) -> list[DetectedFace]:
        if not found:
            return []
        import dlib

        shapes = dlib.full_object_detections()
        for box, _ in found:
            shapes.append(
                models.landmarks(pixels, dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1))
            )
        chips = dlib.get_face_chips(pixels, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
        vectors = models.resnet.embed([np.asarray(chip) for chip in chips])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        faces = []
        for (box, score), shape, chip, vector in zip(found, shapes, chips, vectors, strict=True):
            quality = _quality(box=box, shape=shape, chip=np.asarray(chip))
            faces.append(DetectedFace(box=box, score=score, embedding=vector, quality=quality))
        return faces


def _as_rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _rgb_array(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(np.asarray(_as_rgb(image), dtype=np.uint8))


def _box_from_rect(rect: Any, factor: float, width: int, height: int) -> Box:
    left = min(max(round(rect.left() * factor), 0), width)
    top = min(max(round(rect.top() * factor), 0), height)
    right = min(max(round((rect.right() + 1) * factor), 0), width)
    bottom = min(max(round((rect.bottom() + 1) * factor), 0), height)
    return Box(left, top, right, bottom)


def _quality(*, box: Box, shape: Any, chip: npt.NDArray[np.uint8]) -> float:
    """Size x sharpness x frontal, each 0..1.

    size: box width relative to `_GOOD_FACE_PX`; sharpness: variance of the Laplacian of the aligned
    grey chip, squashed v / (v + `_SHARP_SCALE`); frontal: from the 5 landmarks, how far the nose tip
    sits from the middle between the eyes, relative to the eye distance (yaw), 1 = frontal.
    """
    size = min(1.0, max(box.width, 0) / _GOOD_FACE_PX)
    grey = chip.astype(np.float32).mean(axis=2)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    variance = float(lap.var())
    sharpness = variance / (variance + _SHARP_SCALE)
    pts = np.asarray([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
    eye_a, eye_b, nose = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0), pts[4]
    eye_dist = float(np.linalg.norm(eye_a - eye_b))
    if eye_dist < 1.0:
        return 0.0
    axis = (eye_b - eye_a) / eye_dist
    offset = abs(float(np.dot(nose - (eye_a + eye_b) / 2, axis))) / eye_dist
    frontal = max(0.0, 1.0 - 2.0 * offset)
    return round(size * sharpness * frontal, 4)
