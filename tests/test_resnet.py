"""processing.resnet: dlib's face ResNet weights in ONNX Runtime give dlib's own embeddings."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from PIL import Image

from processing.errors import ModelsMissing
from processing.faces import CHIP_PADDING, DlibEngine, default_models_dir
from processing.resnet import CHIP_SIZE, ModelFormatError, ResNet, read_layers, read_network, to_onnx
from tests.support.shared import FACES as DATA

WEIGHTS = default_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"


@pytest.fixture(scope="module")
def chips() -> list[npt.NDArray[np.uint8]]:
    """Aligned chips of every face in a few real photos, made the way `DlibEngine` makes them."""
    engine = DlibEngine()
    landmarks = dlib.shape_predictor(str(default_models_dir() / "shape_predictor_5_face_landmarks.dat"))
    found: list[npt.NDArray[np.uint8]] = []
    for path in sorted((DATA / "dlib/examples/faces").glob("*.jpg"))[:6]:
        with Image.open(path) as im:
            image = im.convert("RGB")
        pixels = np.ascontiguousarray(np.asarray(image))
        shapes = dlib.full_object_detections()
        for box, _ in engine.detect(image):
            shapes.append(landmarks(pixels, dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)))
        found.extend(np.asarray(c) for c in dlib.get_face_chips(pixels, shapes, CHIP_SIZE, CHIP_PADDING))
    assert len(found) >= 10
    return found


def test_embeddings_equal_dlibs_own(chips: list[npt.NDArray[np.uint8]]) -> None:
    recognizer = dlib.face_recognition_model_v1(str(WEIGHTS))
    theirs = np.asarray([np.asarray(v) for v in recognizer.compute_face_descriptor(chips)], dtype=np.float32)
    ours = ResNet(WEIGHTS).embed(chips)
    assert ours.shape == (len(chips), 128)
    assert np.abs(ours - theirs).max() < 1e-5
    # one chip alone gives the same numbers as in a batch
    assert np.abs(ResNet(WEIGHTS).embed(chips[:1])[0] - ours[0]).max() < 1e-5


def test_the_network_is_dlibs_face_resnet() -> None:
    network = read_network(WEIGHTS)
    kinds = [layer.kind for layer in network.layers]
    assert network.chip_size == CHIP_SIZE
    assert network.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert (kinds.count("conv"), kinds.count("affine"), kinds.count("add_prev")) == (29, 29, 14)
    assert kinds[-1] == "fc"
    model = onnx.load_model_from_string(to_onnx(network))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["embeddings"]


def test_no_chips_no_embeddings() -> None:
    assert ResNet(WEIGHTS).embed([]).shape == (0, 128)


def test_wrong_chip_size_is_refused() -> None:
    with pytest.raises(ValueError, match="150 x 150"):
        ResNet(WEIGHTS).embed([np.zeros((100, 100, 3), dtype=np.uint8)])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ends early"),
        (b"\x01\x01\x01\x05hello", "not a dlib metric-learning network"),
        (WEIGHTS.read_bytes()[:5_000_000], "ends"),
        (Path(default_models_dir() / "shape_predictor_5_face_landmarks.dat").read_bytes(), "Unexpected"),
    ],
)
def test_other_files_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_layers(data)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelsMissing, match="missing"):
        read_network(tmp_path / "nothing.dat")
