"""processing.faces on real photos (no mocks); one engine for the whole module."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from processing.faces import Box, DetectedFace, DlibEngine, FaceEngine, cosine_distance
from tests.support.shared import FACES as DATA

FACES = DATA / "dlib/examples/faces"


@pytest.fixture(scope="module")
def engine() -> DlibEngine:
    return DlibEngine()


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _largest(faces: list[DetectedFace]) -> DetectedFace:
    return max(faces, key=lambda f: f.box.area)


def test_engine_satisfies_protocol(engine: DlibEngine) -> None:
    as_protocol: FaceEngine = engine
    assert as_protocol.name == "dlib"
    assert 0 < as_protocol.match_threshold < 1


@pytest.mark.parametrize(
    ("relative", "count"),
    [
        ("dlib/examples/faces/2007_007763.jpg", 7),
        ("dlib/examples/faces/2008_002079.jpg", 6),
        ("face_recognition/examples/two_people.jpg", 2),
        ("dlib/examples/faces/dogs.jpg", 0),
    ],
)
def test_known_face_counts(engine: DlibEngine, relative: str, count: int) -> None:
    faces = engine.analyze(_rgb(DATA / relative))
    assert len(faces) == count
    for face in faces:
        assert face.embedding.shape == (128,)
        assert face.embedding.dtype == np.float32
        assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
        assert 0.0 <= face.quality <= 1.0
        assert face.score >= 0.0


def test_boxes_match_ground_truth(engine: DlibEngine) -> None:
    truth = [Box(104, 162, 180, 238), Box(232, 218, 295, 281), Box(344, 155, 434, 245)]  # training.xml
    boxes = [f.box for f in engine.analyze(_rgb(FACES / "2008_001322.jpg"))]
    for t in truth:
        assert max(t.iou(b) for b in boxes) >= 0.4


def test_boxes_are_in_the_given_image_pixels(engine: DlibEngine) -> None:
    small = _rgb(FACES / "2008_001322.jpg")
    big = small.resize((small.width * 8, small.height * 8), Image.Resampling.BICUBIC)  # 4000 x 3000
    small_faces = sorted(engine.analyze(small), key=lambda f: f.box.left)
    big_faces = sorted(engine.analyze(big), key=lambda f: f.box.left)
    assert len(big_faces) == len(small_faces) == 3
    for s, b in zip(small_faces, big_faces, strict=True):
        assert s.box.scaled(8).iou(b.box) > 0.5
        assert cosine_distance(s.embedding, b.embedding) < engine.match_threshold


def test_same_person_below_and_different_person_above_threshold(engine: DlibEngine) -> None:
    examples = DATA / "face_recognition/examples"
    obama_a = _largest(engine.analyze(_rgb(examples / "obama-1080p.jpg"))).embedding
    obama_b = _largest(engine.analyze(_rgb(examples / "knn_examples/train/obama/obama2.jpg"))).embedding
    biden = _largest(engine.analyze(_rgb(examples / "knn_examples/train/biden/biden2.jpg"))).embedding
    assert cosine_distance(obama_a, obama_b) < engine.match_threshold
    assert cosine_distance(obama_a, biden) > engine.match_threshold
    assert cosine_distance(obama_b, biden) > engine.match_threshold


def test_aligned_chip_without_detection(engine: DlibEngine) -> None:
    johns = DATA / "dlib/examples/johns"
    salley = sorted((johns / "John_Salley").glob("*.jpg"))
    simm = sorted((johns / "John_Simm").glob("*.jpg"))
    a, b, c = (engine.analyze_crop(_rgb(p)).embedding for p in (salley[0], salley[1], simm[0]))
    assert cosine_distance(a, b) < engine.match_threshold < cosine_distance(a, c)


def test_quality_prefers_big_sharp_faces(engine: DlibEngine) -> None:
    photo = _rgb(DATA / "face_recognition/examples/obama-1080p.jpg")
    sharp = _largest(engine.analyze(photo))
    blurred = photo.resize((photo.width // 6, photo.height // 6)).resize(photo.size)
    soft = _largest(engine.analyze(blurred))
    tiny = _largest(engine.analyze(photo.resize((photo.width // 5, photo.height // 5))))
    assert sharp.quality > soft.quality
    assert sharp.quality > tiny.quality


def test_concurrent_threads_get_the_same_results(engine: DlibEngine) -> None:
    photo = _rgb(FACES / "2008_001009.jpg")
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(engine.analyze, [photo] * 3))
    first = results[0]
    for other in results[1:]:
        assert [f.box for f in other] == [f.box for f in first]
        for a, b in zip(first, other, strict=True):
            assert np.allclose(a.embedding, b.embedding, atol=1e-6)


def test_non_rgb_input_is_accepted(engine: DlibEngine) -> None:
    grey = _rgb(FACES / "2008_001009.jpg").convert("L")
    assert len(engine.analyze(grey)) == 2


def _group_photos() -> list[tuple[str, int]]:
    import csv

    if not DATA.is_dir():
        return []
    with (DATA / "group_photos.csv").open() as rows:
        return [(row["path"], int(row["face_count"])) for row in csv.DictReader(rows)]


@pytest.mark.parametrize(("relative", "count"), _group_photos())
def test_group_photos_as_12_megapixel_shares_keep_every_face(
    engine: DlibEngine, tmp_path: Path, relative: str, count: int
) -> None:
    """The ingest pipeline (draft decode at ~2000 px, detection at 1400 px) on each shared group photo
    enlarged to a 4000 px JPEG: faces keep their size relative to the photo, as in a phone's 12 MP shot."""
    from processing.photo import analyze_photo

    photo = _rgb(DATA / relative)
    scale = 4000 / max(photo.size)
    path = tmp_path / "group.jpg"
    photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC).save(
        path, "JPEG", quality=90
    )
    assert len(analyze_photo(str(path), engine).faces) == count
