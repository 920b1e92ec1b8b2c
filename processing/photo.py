"""One photo, start to finish in pixels: decode, renditions, faces with crops. Runs in a pool process."""

from __future__ import annotations

import functools

from processing.faces import Box, DlibEngine, FaceEngine
from processing.images import (
    DESKTOP_LONG_EDGE,
    annotate,
    decode,
    face_crop_jpeg,
    fit_within,
    renditions,
)
from processing.results import FACES_NAME, FaceResult, PhotoResult


@functools.cache
def engine() -> DlibEngine:
    """This process's face engine (models load once per process)."""
    return DlibEngine()


def warm_up() -> None:
    """Load this process's face models now (a pool process's `warm` job)."""
    engine().warm_up()


def analyze_photo(path: str, face_engine: FaceEngine | None = None) -> PhotoResult:
    """Decode once, at the smallest JPEG scale that (nearly) covers the desktop size, and fit that
    within the desktop size; that image then serves the renditions, detection, embeddings and crops.
    Boxes are reported in full-size coordinates."""
    photo = decode(path, min_long_edge=DESKTOP_LONG_EDGE)
    info = photo.info
    working = fit_within(photo.image, long_edge=DESKTOP_LONG_EDGE)
    faces = (face_engine or engine()).analyze(working)
    ordered = sorted(faces, key=lambda f: (f.box.left, f.box.top))
    factor = info.width / working.width
    results = []
    for face in ordered:
        box = face.box.scaled(factor) if factor != 1.0 else face.box
        results.append(
            FaceResult(
                box=(box.left, box.top, box.right, box.bottom),
                score=face.score,
                quality=face.quality,
                embedding=tuple(float(x) for x in face.embedding),
                crop_jpeg=face_crop_jpeg(image=working, box=face.box),
            )
        )
    pictures = renditions(image=working, full_size=(info.width, info.height))
    if ordered:
        pictures[FACES_NAME] = annotate(
            image=working, boxes_with_labels=[(f.box, str(i)) for i, f in enumerate(ordered, start=1)]
        )
    camera = " ".join(part for part in (info.camera_make, info.camera_model) if part) or None
    return PhotoResult(
        mime=info.media_type.mime,
        width=info.width,
        height=info.height,
        taken_at=info.taken_at,
        camera=camera,
        renditions=pictures,
        faces=tuple(results),
    )


def scaled_box(box: tuple[int, int, int, int], factor: float) -> Box:
    left, top, right, bottom = box
    return Box(left, top, right, bottom).scaled(factor)
